//! Booting through GRUB with Multiboot2 (`--boot grub`): the grub.cfg that loads the kernel, the
//! bootable ISO built from it with grub-mkrescue, and the temporary folder holding both.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The program that builds the ISO (Debian: grub-common, with xorriso and mtools).
pub const MKRESCUE: &str = "grub-mkrescue";

/// Known locations of GRUB's BIOS (i386-pc) modules, first match wins. SeaBIOS boots the ISO
/// through them; an image built without them (EFI only) does not boot.
pub const BIOS_MODULE_DIRS: &[&str] = &[
    "/usr/lib/grub/i386-pc",
    "/usr/local/lib/grub/i386-pc",
    "/usr/share/grub2/i386-pc",
];

/// Where grub.cfg loads the kernel from, inside the ISO.
pub const KERNEL_IN_ISO: &str = "/boot/kernel";

/// Characters that mean something to GRUB's configuration language (quoting, variables, command
/// separators, redirections, blocks, comments, wildcards): a kernel argument holding one would not
/// reach the kernel as written.
pub const SPECIAL_CHARS: &[char] = &[
    '"', '\'', '\\', '$', ';', '|', '&', '<', '>', '(', ')', '{', '}', '#', '*', '?', '[', ']', '`',
];

const SETUP_HINT: &str = "scripts/setup.sh installs it (Debian: grub-pc-bin, grub-common, \
                          xorriso, mtools)";

/// Checks that the kernel arguments can go into grub.cfg's `multiboot2` line as plain words:
/// no control characters (newline, tab, ...) and none of [`SPECIAL_CHARS`].
pub fn check_cmdline(kernel_args: &[String]) -> Result<(), String> {
    for arg in kernel_args {
        let Some(c) = arg
            .chars()
            .find(|c| c.is_control() || SPECIAL_CHARS.contains(c))
        else {
            continue;
        };
        let shown = if c.is_control() {
            format!("control character {c:?}")
        } else {
            format!("'{c}'")
        };
        let specials: Vec<String> = SPECIAL_CHARS.iter().map(char::to_string).collect();
        let specials = specials.join(" ");
        return Err(format!(
            "kernel argument {arg:?} contains {shown}, which would break GRUB's configuration \
             file; with --boot grub the kernel arguments must be plain words without control \
             characters or any of: {specials}"
        ));
    }
    Ok(())
}

/// The grub.cfg that boots the kernel at once with Multiboot2, `kernel_args` joined by spaces on
/// the `multiboot2` line (checked with [`check_cmdline`]).
pub fn grub_cfg(kernel_args: &[String]) -> Result<String, String> {
    check_cmdline(kernel_args)?;
    let mut line = format!("multiboot2 {KERNEL_IN_ISO}");
    for arg in kernel_args {
        line.push(' ');
        line.push_str(arg);
    }
    Ok(format!(
        "# Written by the runner (--boot grub).\n\
         set timeout=0\n\
         menuentry \"kernel\" {{\n  {line}\n  boot\n}}\n"
    ))
}

/// The first existing directory of GRUB's BIOS modules.
pub fn bios_module_dir() -> Result<PathBuf, String> {
    BIOS_MODULE_DIRS
        .iter()
        .map(Path::new)
        .find(|p| p.is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "GRUB's BIOS modules not found (looked in {}); {SETUP_HINT}",
                BIOS_MODULE_DIRS.join(", ")
            )
        })
}

/// Known locations of GRUB's UEFI (x86_64-efi) modules; the bootable image needs them as well
/// as the BIOS ones.
pub const EFI_MODULE_DIRS: &[&str] = &[
    "/usr/lib/grub/x86_64-efi",
    "/usr/local/lib/grub/x86_64-efi",
    "/usr/share/grub2/x86_64-efi",
];

/// The menu entries of the bootable image (`just image`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The default job: the whole benchmark suite.
    Suite,
    /// `bench_quick`: every kind of workload, fewer samples.
    Quick,
    /// `test=all`.
    Selftests,
    /// Asks for a command line on the console.
    Custom,
}

impl Entry {
    pub const ALL: [Entry; 4] = [Entry::Suite, Entry::Quick, Entry::Selftests, Entry::Custom];
    pub fn parse(s: &str) -> Option<Entry> {
        Entry::ALL.into_iter().find(|e| e.name() == s)
    }
    pub fn name(self) -> &'static str {
        match self {
            Entry::Suite => "suite",
            Entry::Quick => "quick",
            Entry::Selftests => "selftests",
            Entry::Custom => "custom",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Entry::Suite => "Benchmark suite (the default job)",
            Entry::Quick => "Quick benchmark suite (fewer samples)",
            Entry::Selftests => "Self-tests",
            Entry::Custom => "Type a kernel command line",
        }
    }
    /// The words on the entry's multiboot2 line (Custom: what was typed, in `$args`).
    fn args(self) -> &'static str {
        match self {
            Entry::Suite => "",
            Entry::Quick => " bench_quick",
            Entry::Selftests => " test=all",
            Entry::Custom => " $args",
        }
    }
}

/// The bootable image's grub.cfg: the four entries, `default` chosen after `timeout` seconds.
/// GRUB's menu is shown on the screen and on the first serial port. Under BIOS the kernel copy
/// without a framebuffer request is booted, so the machine stays in VGA text mode; under UEFI
/// the kernel itself, and GRUB hands over the GOP framebuffer its header asks for.
pub fn image_cfg(default: Entry, timeout: u32) -> String {
    let index = Entry::ALL.iter().position(|e| *e == default).unwrap_or(0);
    let mut s = format!(
        "# Written by `runner image` (just image).\n\
         set timeout={timeout}\n\
         set default={index}\n\
         serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         if [ \"$grub_platform\" = \"efi\" ]; then insmod all_video; fi\n"
    );
    for e in Entry::ALL {
        s.push_str(&format!("menuentry \"{}\" {{\n", e.title()));
        // BIOS: the copy without a framebuffer request, left in VGA text mode; UEFI: the
        // kernel itself, which asks GRUB for the GOP framebuffer.
        s.push_str(&format!(
            "  if [ \"$grub_platform\" = \"pc\" ]; then set k={TEXT_KERNEL_IN_ISO}; \
             else set k={KERNEL_IN_ISO}; fi\n"
        ));
        if e == Entry::Custom {
            s.push_str("  echo \"Kernel command line (key=value words; help lists them):\"\n");
            s.push_str("  read args\n");
        }
        s.push_str(&format!("  multiboot2 $k{}\n  boot\n}}\n", e.args()));
    }
    s
}

fn first_dir(dirs: &[&str], what: &str) -> Result<PathBuf, String> {
    dirs.iter()
        .map(Path::new)
        .find(|p| p.is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "GRUB's {what} modules not found (looked in {}); scripts/setup.sh installs \
                 them (Debian: grub-pc-bin, grub-efi-amd64-bin)",
                dirs.join(", ")
            )
        })
}

/// Where the image's grub.cfg loads the BIOS copy of the kernel from.
pub const TEXT_KERNEL_IN_ISO: &str = "/boot/kernel-text";
/// Multiboot2 header magic and the framebuffer-request tag type (Multiboot2 3.1.3, 3.1.10).
const MB2_HEADER_MAGIC: u32 = 0xE852_50D6;
const MB2_TAG_FRAMEBUFFER: u16 = 5;
/// A tag type no loader knows; with the optional flag set a loader skips it.
const MB2_TAG_IGNORED: u16 = 0x7FFF;
/// A multiboot2 header lies in the first 32 KiB of the image, 8-byte aligned.
const MB2_SEARCH: usize = 32 * 1024;

/// The kernel image with its multiboot2 framebuffer request turned into a tag every loader
/// skips. GRUB switches a BIOS machine to a graphics mode whenever the kernel asks for a
/// framebuffer (even with `gfxpayload=text`), while UEFI has no text mode at all: so the image
/// boots this copy under BIOS (VGA text mode) and the original under UEFI (GOP framebuffer).
/// The header checksum covers only the fixed fields, so it stays valid.
pub fn without_framebuffer_request(elf: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = elf.to_vec();
    let limit = elf.len().min(MB2_SEARCH);
    let header = (0..limit.saturating_sub(16))
        .step_by(8)
        .find(|&i| elf[i..i + 4] == MB2_HEADER_MAGIC.to_le_bytes())
        .ok_or("the kernel has no multiboot2 header in its first 32 KiB")?;
    let len = u32::from_le_bytes(elf[header + 8..header + 12].try_into().unwrap()) as usize;
    let end = (header + len).min(elf.len());
    let mut tag = header + 16;
    while tag + 8 <= end {
        let kind = u16::from_le_bytes([elf[tag], elf[tag + 1]]);
        let size = u32::from_le_bytes(elf[tag + 4..tag + 8].try_into().unwrap()) as usize;
        if kind == 0 {
            break;
        }
        if kind == MB2_TAG_FRAMEBUFFER {
            out[tag..tag + 2].copy_from_slice(&MB2_TAG_IGNORED.to_le_bytes());
            out[tag + 2..tag + 4].copy_from_slice(&1u16.to_le_bytes());
            return Ok(out);
        }
        tag += size.max(8).next_multiple_of(8);
    }
    Err("the kernel's multiboot2 header has no framebuffer request".into())
}

/// Builds the bootable image at `out`: a hybrid ISO (CD and USB stick) with GRUB for legacy
/// BIOS and for UEFI, the kernel, and [`image_cfg`].
pub fn build_image(elf: &Path, default: Entry, timeout: u32, out: &Path) -> Result<(), String> {
    first_dir(BIOS_MODULE_DIRS, "BIOS (i386-pc)")?;
    first_dir(EFI_MODULE_DIRS, "UEFI (x86_64-efi)")?;
    let parent = out.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let work = TempDir::new_in(parent)?;
    let bytes = fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let text =
        without_framebuffer_request(&bytes).map_err(|e| format!("{}: {e}", elf.display()))?;
    let dst = work
        .path()
        .join("iso")
        .join(TEXT_KERNEL_IN_ISO.trim_start_matches('/'));
    fs::create_dir_all(dst.parent().unwrap())
        .map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
    fs::write(&dst, text).map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
    mkrescue(elf, &image_cfg(default, timeout), work.path(), out, None)
}

/// A folder that is removed, with everything in it, when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `parent/grub-iso-<pid>-<n>` (`n` counts within this process).
    pub fn new_in(parent: &Path) -> Result<TempDir, String> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("grub-iso-{}-{n}", std::process::id()));
        // A leftover from a killed runner with the same pid is stale.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create the ISO folder {}: {e}", path.display()))?;
        Ok(TempDir { path })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Builds `work/kernel.iso`: a BIOS-bootable GRUB image holding the kernel ELF and a grub.cfg
/// that boots it with `kernel_args`. Returns the ISO's path.
pub fn build_iso(elf: &Path, kernel_args: &[String], work: &Path) -> Result<PathBuf, String> {
    let cfg = grub_cfg(kernel_args)?;
    let modules = bios_module_dir()?;
    let iso = work.join("kernel.iso");
    mkrescue(elf, &cfg, work, &iso, Some(&modules))?;
    Ok(iso)
}

/// Builds `work/kernel.iso`: a BIOS-only GRUB image holding the kernel, its copy without a
/// framebuffer request at [`TEXT_KERNEL_IN_ISO`] (the machine stays in VGA text mode) and the
/// given grub.cfg (which boots that copy). Returns the ISO's path. Used by the Bochs runner.
pub fn build_text_iso(elf: &Path, cfg: &str, work: &Path) -> Result<PathBuf, String> {
    let modules = bios_module_dir()?;
    let bytes = fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let text =
        without_framebuffer_request(&bytes).map_err(|e| format!("{}: {e}", elf.display()))?;
    let dst = work
        .join("iso")
        .join(TEXT_KERNEL_IN_ISO.trim_start_matches('/'));
    fs::create_dir_all(dst.parent().unwrap())
        .map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
    fs::write(&dst, text).map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
    let iso = work.join("kernel.iso");
    mkrescue(elf, cfg, work, &iso, Some(&modules))?;
    Ok(iso)
}

/// grub-mkrescue of a tree holding the kernel and `cfg` (built under `work`) into `iso`;
/// `modules`: one platform's modules only (else every platform installed).
fn mkrescue(
    elf: &Path,
    cfg: &str,
    work: &Path,
    iso: &Path,
    modules: Option<&Path>,
) -> Result<(), String> {
    let root = work.join("iso");
    let grub_dir = root.join("boot/grub");
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    fs::create_dir_all(&grub_dir).map_err(|e| io("cannot create", &grub_dir, e))?;
    let kernel = root.join(KERNEL_IN_ISO.trim_start_matches('/'));
    fs::copy(elf, &kernel).map_err(|e| io("cannot copy the kernel to", &kernel, e))?;
    let cfg_path = grub_dir.join("grub.cfg");
    fs::write(&cfg_path, cfg).map_err(|e| io("cannot write", &cfg_path, e))?;

    let mut cmd = Command::new(MKRESCUE);
    if let Some(m) = modules {
        cmd.arg("-d").arg(m);
    }
    let out = cmd
        .arg("-o")
        .arg(iso)
        .arg(&root)
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                format!(
                    "building a GRUB image needs {MKRESCUE}, which is not on PATH; {SETUP_HINT}"
                )
            }
            _ => format!("cannot start {MKRESCUE}: {e}"),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.trim_end().lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{MKRESCUE} failed ({}): {}; its tools (xorriso, mtools) come with scripts/setup.sh",
            out.status,
            tail.join(" | ")
        ));
    }
    if !iso.is_file() {
        return Err(format!(
            "{MKRESCUE} succeeded but wrote no {}",
            iso.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn config_boots_the_kernel_with_its_arguments() {
        let cfg = grub_cfg(&words(&["test=all", "exit=qemu"])).unwrap();
        assert!(cfg.contains("set timeout=0\n"), "{cfg}");
        assert!(
            cfg.contains(
                "menuentry \"kernel\" {\n  multiboot2 /boot/kernel test=all exit=qemu\n  boot\n}\n"
            ),
            "{cfg}"
        );
        let bare = grub_cfg(&[]).unwrap();
        assert!(bare.contains("  multiboot2 /boot/kernel\n"), "{bare}");
        // Every line but the menu entry's braces is a plain command or a comment.
        assert_eq!(cfg.matches('{').count(), 1);
        assert_eq!(cfg.matches('}').count(), 1);
    }

    #[test]
    fn image_menu() {
        let cfg = image_cfg(Entry::Quick, 0);
        assert!(cfg.contains("set timeout=0\n"), "{cfg}");
        assert!(cfg.contains("set default=1\n"), "{cfg}");
        assert!(cfg.contains("multiboot2 $k\n"), "the default job: {cfg}");
        assert!(cfg.contains("multiboot2 $k bench_quick\n"), "{cfg}");
        assert!(cfg.contains("multiboot2 $k test=all\n"), "{cfg}");
        assert!(cfg.contains("read args\n  multiboot2 $k $args\n"), "{cfg}");
        assert!(
            cfg.contains("then set k=/boot/kernel-text; else set k=/boot/kernel; fi"),
            "BIOS boots the text-mode copy: {cfg}"
        );
        assert!(cfg.contains("terminal_output console serial"), "{cfg}");
        assert_eq!(cfg.matches("menuentry").count(), 4);
        assert_eq!(
            image_cfg(Entry::Suite, 10).matches("set default=0").count(),
            1
        );
        for e in Entry::ALL {
            assert_eq!(Entry::parse(e.name()), Some(e));
        }
        assert_eq!(Entry::parse("bogus"), None);
    }

    #[test]
    fn the_text_mode_copy_skips_the_framebuffer_request() {
        // A header: magic, arch, length, checksum; an info request; the framebuffer tag; end.
        let mut img = vec![0xAAu8; 64];
        let hdr = img.len();
        let words: [u32; 4] = [MB2_HEADER_MAGIC, 0, 16 + 16 + 24 + 8, 0];
        for w in words {
            img.extend(w.to_le_bytes());
        }
        img.extend([1, 0, 0, 0, 12, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]); // info request, padded
        let fb = img.len();
        img.extend([5, 0, 1, 0, 20, 0, 0, 0]);
        img.extend([0u8; 12]);
        img.extend([0u8; 4]); // padding to 8
        img.extend([0, 0, 0, 0, 8, 0, 0, 0]);
        let out = without_framebuffer_request(&img).unwrap();
        assert_eq!(&out[fb..fb + 4], &[0xFF, 0x7F, 1, 0]);
        // Nothing else changed (the checksum covers only the first four words).
        assert_eq!(out[..fb], img[..fb]);
        assert_eq!(out[fb + 4..], img[fb + 4..]);
        assert_eq!(out[hdr..hdr + 16], img[hdr..hdr + 16]);
        assert!(
            without_framebuffer_request(&out).is_err(),
            "already patched"
        );
        assert!(without_framebuffer_request(&[0u8; 100]).is_err());
    }

    #[test]
    fn plain_words_pass() {
        let ok = words(&[
            "test=higher_half,rodata_nx",
            "crash=stack_overflow",
            "help",
            "a.b-c/d:e+f@g%h~",
        ]);
        assert_eq!(check_cmdline(&ok), Ok(()));
        assert_eq!(check_cmdline(&[]), Ok(()));
    }

    #[test]
    fn grub_syntax_is_refused() {
        for bad in [
            "test=all\nboot",
            "a\tb",
            "x=\"y\"",
            "x='y'",
            "a;reboot",
            "v=$root",
            "a\\b",
            "a|b",
            "a&b",
            "a>b",
            "}",
            "#c",
            "t=*",
        ] {
            let e = check_cmdline(&words(&["exit=qemu", bad])).unwrap_err();
            assert!(e.contains("--boot grub"), "{bad:?}: {e}");
            assert!(e.contains(&format!("{bad:?}")), "names the argument: {e}");
            assert!(grub_cfg(&words(&[bad])).is_err(), "{bad:?}");
        }
        let e = check_cmdline(&words(&["a;b"])).unwrap_err();
        assert!(e.contains("contains ';'"), "{e}");
        let e = check_cmdline(&words(&["a\nb"])).unwrap_err();
        assert!(e.contains("control character '\\n'"), "{e}");
    }

    #[test]
    fn temp_dir_is_removed() {
        let parent = std::env::temp_dir();
        let (a, b) = (
            TempDir::new_in(&parent).unwrap(),
            TempDir::new_in(&parent).unwrap(),
        );
        assert_ne!(a.path(), b.path());
        let p = a.path().to_path_buf();
        fs::write(p.join("f"), "x").unwrap();
        drop(a);
        assert!(!p.exists());
        assert!(b.path().is_dir());
    }
}
