//! What only the host knows: the kernel ELF (checked, hashed, its symbols), QEMU's version, the
//! host CPU and kernel, the KVM backend, rustc's version, the wall-clock time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::symbols::SymbolTable;

/// The kernel image, checked to be an ELF64 x86-64 file.
pub struct Elf {
    pub path: PathBuf,
    pub sha256: String,
    /// None when the ELF has no usable symbol table (then `symbol_warning` says why).
    pub symbols: Option<SymbolTable>,
    pub symbol_warning: Option<String>,
}

/// Checks the ELF header: magic, 64-bit class, little-endian, machine x86-64.
pub fn check_elf_header(data: &[u8]) -> Result<(), String> {
    if data.len() < 20 || &data[..4] != b"\x7fELF" {
        return Err("not an ELF file (bad magic)".into());
    }
    if data[4] != 2 {
        return Err(format!(
            "ELF class {}: expected ELF64 (class 2); a 32-bit image is not the kernel",
            data[4]
        ));
    }
    if data[5] != 1 {
        return Err("big-endian ELF: expected little-endian x86-64".into());
    }
    let machine = u16::from_le_bytes([data[18], data[19]]);
    if machine != 62 {
        return Err(format!("ELF machine {machine}: expected x86-64 (62)"));
    }
    Ok(())
}

/// Checks what the multiboot1 a.out kludge needs (linker.ld): QEMU copies the image as one
/// linear run of file bytes, so every loaded segment with file contents must sit at the same
/// distance between its file offset and its physical address.
pub fn check_multiboot1_layout(data: &[u8]) -> Result<(), String> {
    let u16_at = |o: usize| {
        data.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as u64)
    };
    let u64_at = |o: usize| {
        data.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    let bad = || "truncated ELF program headers".to_string();
    let (phoff, phentsize, phnum) = (
        u64_at(0x20).ok_or_else(bad)?,
        u16_at(0x36).ok_or_else(bad)?,
        u16_at(0x38).ok_or_else(bad)?,
    );
    const PT_LOAD: u64 = 1;
    let mut delta: Option<u64> = None;
    for i in 0..phnum {
        let ph = (phoff + i * phentsize) as usize;
        let p_type = data
            .get(ph..ph + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as u64)
            .ok_or_else(bad)?;
        let (offset, paddr, filesz) = (
            u64_at(ph + 8).ok_or_else(bad)?,
            u64_at(ph + 0x18).ok_or_else(bad)?,
            u64_at(ph + 0x20).ok_or_else(bad)?,
        );
        if p_type != PT_LOAD || filesz == 0 {
            continue;
        }
        let d = paddr.wrapping_sub(offset);
        match delta {
            None => delta = Some(d),
            Some(prev) if prev != d => {
                return Err(format!(
                    "loaded segment {i} (file offset {offset:#x}, physical {paddr:#x}) is not where the \
                     multiboot1 a.out kludge will put it: file and physical layout differ (see linker.ld)"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

pub fn load_elf(path: &Path) -> Result<Elf, String> {
    let data = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "kernel ELF '{}' does not exist (build it with `just kernel`, which prints its path)",
            path.display()
        ),
        _ => format!("cannot read kernel ELF '{}': {e}", path.display()),
    })?;
    check_elf_header(&data)
        .and_then(|()| check_multiboot1_layout(&data))
        .map_err(|e| format!("'{}' is not a kernel ELF: {e}", path.display()))?;
    let sha256 = hex(&Sha256::digest(&data));
    let (symbols, symbol_warning) = match SymbolTable::from_elf(&data) {
        Ok(t) => (Some(t), None),
        Err(e) => (
            None,
            Some(format!("backtraces will not be symbolised: {e}")),
        ),
    };
    Ok(Elf {
        path: path.to_path_buf(),
        sha256,
        symbols,
        symbol_warning,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a program and returns the first line of its stdout.
fn first_line_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// `QEMU emulator version 10.0.2 (Debian ...)` → `10.0.2 (Debian ...)`.
pub fn qemu_version(qemu: &str) -> Option<String> {
    let line = first_line_of(qemu, &["--version"])?;
    Some(
        line.strip_prefix("QEMU emulator version ")
            .unwrap_or(&line)
            .to_string(),
    )
}

/// The loaded kvm* modules: /proc/modules, or /sys/module where /proc/modules is missing
/// (containers). Sorted, e.g. `["kvm", "kvm_pvm"]`.
pub fn kvm_modules() -> Vec<String> {
    let mut mods: Vec<String> = match std::fs::read_to_string("/proc/modules") {
        Ok(s) => s
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|m| m.starts_with("kvm"))
            .map(str::to_string)
            .collect(),
        Err(_) => std::fs::read_dir("/sys/module")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|m| m.starts_with("kvm"))
                    .collect()
            })
            .unwrap_or_default(),
    };
    mods.sort();
    mods
}

/// The backend in one word: the vendor module if any (kvm_intel, kvm_amd, kvm_pvm, ...), else
/// the modules found, else None.
pub fn kvm_backend(modules: &[String]) -> Option<String> {
    modules
        .iter()
        .find(|m| m.as_str() != "kvm")
        .or_else(|| modules.first())
        .cloned()
}

fn cpuinfo() -> String {
    std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()
}

pub fn host_cpu() -> Option<String> {
    cpuinfo()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// Whether the host CPU advertises hardware virtualisation (vmx or svm).
pub fn host_has_hw_virt() -> bool {
    cpuinfo()
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

pub fn host_kernel() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
        .or_else(|| first_line_of("uname", &["-r"]))
}

pub fn rustc_version() -> Option<String> {
    first_line_of("rustc", &["--version"])
}

/// Everything about the host gathered once per runner invocation.
#[derive(Clone, Debug)]
pub struct HostInfo {
    pub qemu_version: Option<String>,
    pub host_cpu: Option<String>,
    pub host_kernel: Option<String>,
    pub kvm_backend: Option<String>,
    pub rustc_version: Option<String>,
}

impl HostInfo {
    pub fn gather(qemu: &str) -> HostInfo {
        HostInfo {
            qemu_version: qemu_version(qemu),
            host_cpu: host_cpu(),
            host_kernel: host_kernel(),
            kvm_backend: kvm_backend(&kvm_modules()),
            rustc_version: rustc_version(),
        }
    }
}

/// UTC ISO 8601 with second precision: `2025-11-22T04:35:12Z`.
/// The runner's own arguments, for host.json (checked to be UTF-8 by main; lossy only for a
/// library caller's odd argument).
pub fn runner_args() -> Vec<String> {
    std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// A run's id (results.csv and samples.csv.gz's `run` column): its start in UTC to the
/// millisecond, compact, e.g. `20261202T161303.123Z`.
pub fn run_id(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    let iso = iso8601_utc(t).replace(['-', ':'], "");
    format!("{}.{ms:03}Z", iso.trim_end_matches('Z'))
}

pub fn iso8601_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn elf_header_checks() {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[18] = 62;
        assert_eq!(check_elf_header(&h), Ok(()));
        let mut h32 = h.clone();
        h32[4] = 1;
        assert!(check_elf_header(&h32).unwrap_err().contains("ELF64"));
        let mut arm = h.clone();
        arm[18] = 183;
        assert!(check_elf_header(&arm).unwrap_err().contains("x86-64"));
        assert!(
            check_elf_header(b"#!/bin/sh\n")
                .unwrap_err()
                .contains("not an ELF")
        );
        assert!(check_elf_header(b"").is_err());
    }

    #[test]
    fn multiboot1_layout_must_be_linear() {
        // An ELF64 header with two PT_LOAD program headers at 0x40.
        let mut elf = vec![0u8; 0x40 + 2 * 56];
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        let mut ph = |i: usize, offset: u64, paddr: u64| {
            let o = 0x40 + i * 56;
            elf[o..o + 4].copy_from_slice(&1u32.to_le_bytes());
            elf[o + 8..o + 16].copy_from_slice(&offset.to_le_bytes());
            elf[o + 0x18..o + 0x20].copy_from_slice(&paddr.to_le_bytes());
            elf[o + 0x20..o + 0x28].copy_from_slice(&0x100u64.to_le_bytes());
        };
        ph(0, 0x1000, 0x200000);
        ph(1, 0x2000, 0x201000);
        assert!(check_multiboot1_layout(&elf).is_ok());
        let o = 0x40 + 56 + 0x18;
        elf[o..o + 8].copy_from_slice(&0x209000u64.to_le_bytes());
        assert!(
            check_multiboot1_layout(&elf)
                .unwrap_err()
                .contains("a.out kludge")
        );
    }

    #[test]
    fn missing_elf() {
        let e = load_elf(Path::new("/nonexistent/kernel.elf"))
            .err()
            .unwrap();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn backend() {
        let m = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            kvm_backend(&m(&["kvm", "kvm_pvm"])).as_deref(),
            Some("kvm_pvm")
        );
        assert_eq!(kvm_backend(&m(&["kvm"])).as_deref(), Some("kvm"));
        assert_eq!(kvm_backend(&[]), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso8601_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_763_786_112);
        assert_eq!(iso8601_utc(t), "2025-11-22T04:35:12Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(iso8601_utc(leap), "2000-02-29T00:00:00Z");
    }
}
