//! The Linux baseline (`just bench-linux`): Debian's stock kernel, fetched with apt's download
//! command (never installed), checked against a pinned sha256 and unpacked into the build
//! folder; a tiny initramfs the project builds (`cpio -H newc` format, written here) whose
//! `/init` is the static `linux-bench` program; both booted on the VM the kernel runs on.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The pinned package: Debian 12's stock kernel image.
pub const PACKAGE: &str = "linux-image-6.1.0-56-amd64";
pub const VERSION: &str = "6.1.192-2";
pub const SHA256: &str = "a86e2049672f52354c4536a089203b6c82639420424d31c91cf31a181fd4d8f1";

/// Whether this host's apt reaches Debian's archive (/etc/os-release says Debian): the pinned
/// package is a Debian one.
pub fn debian_host() -> bool {
    fs::read_to_string("/etc/os-release")
        .map(|t| t.lines().any(|l| l.trim() == "ID=debian"))
        .unwrap_or(false)
}

/// How to pin another version when this one has left the mirror.
pub const PIN_HINT: &str = "pin the current one: `apt-cache show 'linux-image-6.1.0-*-amd64'` \
    lists the versions the mirror has; put a package's name, Version and SHA256 into PACKAGE, \
    VERSION and SHA256 in bench/runner/src/linux.rs (or give a downloaded package with \
    --linux-deb PATH)";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The kernel package a Linux baseline boots, as host.json records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Of the .deb file.
    pub sha256: String,
    pub file: PathBuf,
    /// How it was chosen: `pinned`, `newest` (the pin left the mirror) or `--linux-deb`.
    pub how: &'static str,
}

/// The package to boot: `deb` when given (any Debian kernel image package, its sha256
/// recorded); else the pinned one ([`PACKAGE`]=[`VERSION`], checked against [`SHA256`]),
/// downloaded into `target/linux/VERSION/` when missing; and when the mirror no longer has the
/// pin, the newest `linux-image-6.1.0-N-amd64` apt offers (apt checks it against the signed
/// archive; its sha256 is recorded, and a notice says so).
pub fn resolve_package(target: &Path, deb: Option<&Path>) -> Result<Package, String> {
    if let Some(d) = deb {
        let name = deb_field(d, "Package")?;
        if !name.starts_with("linux-image-") {
            return Err(format!(
                "--linux-deb {}: package {name} is not a kernel image (linux-image-*)",
                d.display()
            ));
        }
        return Ok(Package {
            version: deb_field(d, "Version")?,
            name,
            sha256: file_sha256(d)?,
            file: d.to_path_buf(),
            how: "--linux-deb",
        });
    }
    let pinned_err = match fetch(
        &target.join("linux").join(VERSION),
        PACKAGE,
        VERSION,
        SHA256,
    ) {
        Ok(file) => {
            return Ok(Package {
                name: PACKAGE.into(),
                version: VERSION.into(),
                sha256: SHA256.into(),
                file,
                how: "pinned",
            });
        }
        // A file that is there but broken is an error to fix, not a reason to switch.
        Err(e) if !e.starts_with("cannot download") => return Err(e),
        Err(e) => e,
    };
    let names = apt_output(&["apt-cache", "pkgnames", "linux-image-6.1.0-"]).unwrap_or_default();
    let Some(name) = newest_abi(names.lines()) else {
        return Err(format!(
            "{pinned_err}; and apt offers no other linux-image-6.1.0-N-amd64"
        ));
    };
    let policy = apt_output(&["apt-cache", "policy", name])?;
    let version = candidate(&policy)
        .ok_or_else(|| format!("apt-cache policy {name}: no candidate version"))?;
    let cache = target.join("linux").join(&version);
    let file = download(&cache, name, &version)?;
    Ok(Package {
        name: name.to_string(),
        sha256: file_sha256(&file)?,
        version,
        file,
        how: "newest",
    })
}

/// The newest Debian 12 kernel ABI among apt's package names: `linux-image-6.1.0-N-amd64`
/// with the largest N (not the -rt or -cloud flavours, not the unsigned or dbg packages).
pub fn newest_abi<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names
        .map(str::trim)
        .filter_map(|n| {
            let abi = n
                .strip_prefix("linux-image-6.1.0-")?
                .strip_suffix("-amd64")?;
            Some((abi.parse::<u32>().ok()?, n))
        })
        .max()
        .map(|(_, n)| n)
}

/// The `Candidate:` version of `apt-cache policy` output.
pub fn candidate(policy: &str) -> Option<String> {
    policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "(none)")
        .map(str::to_string)
}

fn apt_output(cmd: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("cannot run {} (Debian needed): {e}", cmd[0]))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A control field of a .deb (`dpkg-deb -f`).
fn deb_field(deb: &Path, field: &str) -> Result<String, String> {
    let out = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .arg(field)
        .output()
        .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || v.is_empty() {
        return Err(format!(
            "{}: not a Debian package with a {field} ({})",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(v)
}

fn file_sha256(file: &Path) -> Result<String, String> {
    let data = fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(hex(&Sha256::digest(&data)))
}

/// `package` at `version` in `cache`, downloaded when missing, checked against `sha256`.
pub fn fetch(cache: &Path, package: &str, version: &str, sha256: &str) -> Result<PathBuf, String> {
    let file = download(cache, package, version)?;
    check_package(&file, sha256)?;
    Ok(file)
}

/// `package` at `version` in `cache`, downloaded with `apt-get download` when missing (apt
/// checks it against the signed archive's hashes).
fn download(cache: &Path, package: &str, version: &str) -> Result<PathBuf, String> {
    fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    // apt names the file with the version's epoch colon escaped.
    let file = cache.join(format!(
        "{package}_{}_amd64.deb",
        version.replace(':', "%3a")
    ));
    if !file.is_file() {
        let spec = format!("{package}={version}");
        let out = Command::new("apt-get")
            .args(["download", &spec])
            .current_dir(cache)
            .output()
            .map_err(|e| format!("cannot run apt-get (Debian or Ubuntu needed): {e}"))?;
        if !out.status.success() || !file.is_file() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(format!(
                "cannot download {spec}: the mirror does not have it ({}); {PIN_HINT}",
                last.trim()
            ));
        }
    }
    Ok(file)
}

/// The package's sha256 must be the pinned one.
pub fn check_package(file: &Path, want: &str) -> Result<(), String> {
    let data = fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let got = hex(&Sha256::digest(&data));
    if got != want {
        return Err(format!(
            "{}: sha256 {got}, the pin says {want}: a broken or different package; delete it \
             to download it again, or {PIN_HINT}",
            file.display()
        ));
    }
    Ok(())
}

/// Unpack the package with `dpkg-deb -x` into `dir` and return its kernel (boot/vmlinuz-*).
pub fn unpack_kernel(deb: &Path, dir: &Path) -> Result<PathBuf, String> {
    let find = |dir: &Path| -> Option<PathBuf> {
        fs::read_dir(dir.join("boot"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
            })
    };
    if let Some(k) = find(dir) {
        return Ok(k);
    }
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "dpkg-deb -x {} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    find(dir).ok_or_else(|| format!("{} holds no boot/vmlinuz-*", deb.display()))
}

/// One entry of a `newc` cpio archive.
pub enum CpioEntry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    CharDev(&'a str, u32, u32),
}

/// A `newc` (SVR4, "070701") cpio archive, as the Linux kernel unpacks an initramfs.
pub fn cpio_newc(entries: &[CpioEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |ino: u32, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)| {
        let fields = [
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        out.extend(b"070701");
        for f in fields {
            out.extend(format!("{f:08x}").as_bytes());
        }
        out.extend(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for (i, e) in entries.iter().enumerate() {
        let ino = i as u32 + 1;
        match *e {
            CpioEntry::Dir(n) => put(ino, n, 0o040755, &[], (0, 0)),
            CpioEntry::File(n, d, perm) => put(ino, n, 0o100000 | perm, d, (0, 0)),
            CpioEntry::CharDev(n, maj, min) => put(ino, n, 0o020600, &[], (maj, min)),
        }
    }
    put(0, "TRAILER!!!", 0, &[], (0, 0));
    out
}

/// The initramfs: `/init` (the benchmark program), `/dev/console` (so init's output reaches
/// the console), `/proc`.
pub fn initramfs(init: &[u8]) -> Vec<u8> {
    cpio_newc(&[
        CpioEntry::Dir("dev"),
        CpioEntry::CharDev("dev/console", 5, 1),
        CpioEntry::Dir("proc"),
        CpioEntry::File("init", init, 0o755),
    ])
}

/// The Linux command line: the serial console, fixed randomness and halting idle CPUs where
/// the deterministic mode needs them, the mitigations choice, then the benchmark's own words.
pub fn cmdline(mitigations_off: bool, deterministic: bool, bench_args: &[String]) -> Vec<String> {
    let mut v: Vec<String> = [
        "console=ttyS0",
        "quiet",
        "panic=-1",
        "transparent_hugepage=never",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if deterministic {
        v.push("nokaslr".into());
        v.push("random.trust_cpu=off".into());
        // Idle CPUs halt, as ours do: with MWAIT idle (QEMU's `max` CPU offers MONITOR/MWAIT)
        // an idle vCPU hands QEMU's round robin on like PAUSE instead of halting, and every
        // round of a cross-CPU measurement would run every idle CPU's idle loop.
        v.push("idle=halt".into());
    }
    if mitigations_off {
        v.push("mitigations=off".into());
    }
    v.extend(bench_args.iter().cloned());
    v
}

/// Where the Linux pieces of `pkg` live in the build folder (the unpacked kernel, the
/// initramfs): `target/linux/VERSION/`, or `target/linux/deb-SHA/` for a `--linux-deb` file.
pub fn cache_dir(target: &Path, pkg: &Package) -> PathBuf {
    let leaf = match pkg.how {
        "--linux-deb" => format!("deb-{}", &pkg.sha256[..16]),
        _ => pkg.version.clone(),
    };
    target.join("linux").join(leaf)
}

/// Write the initramfs from the program at `init` into `dir`.
pub fn write_initramfs(init: &Path, dir: &Path) -> io::Result<PathBuf> {
    let data = fs::read(init)?;
    let path = dir.join("initramfs.cpio");
    fs::create_dir_all(dir)?;
    fs::write(&path, initramfs(&data))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_newc_and_aligned() {
        let a = initramfs(b"\x7fELFabc");
        assert!(a.starts_with(b"070701"));
        assert_eq!(a.len() % 4, 0);
        // Each header: 6 + 13 × 8 bytes, then the name with its NUL, padded to 4.
        let names: Vec<&str> = ["dev", "dev/console", "proc", "init", "TRAILER!!!"].to_vec();
        let mut at = 0;
        for n in names {
            assert_eq!(&a[at..at + 6], b"070701");
            let field = |i: usize| {
                u32::from_str_radix(
                    std::str::from_utf8(&a[at + 6 + i * 8..at + 14 + i * 8]).unwrap(),
                    16,
                )
                .unwrap()
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            assert_eq!(namesize, n.len() + 1);
            let name_at = at + 110;
            assert_eq!(&a[name_at..name_at + n.len()], n.as_bytes());
            if n == "dev/console" {
                assert_eq!(mode, 0o020600);
                assert_eq!((field(9), field(10)), (5, 1));
            }
            if n == "init" {
                assert_eq!(mode, 0o100755);
                assert_eq!(size, 7);
            }
            let data_at = (name_at + namesize).next_multiple_of(4);
            at = (data_at + size).next_multiple_of(4);
        }
        assert_eq!(at, a.len());
    }

    #[test]
    fn a_version_the_mirror_lacks_is_named_with_the_way_to_pin_another() {
        let dir = std::env::temp_dir().join(format!("linux-fetch-{}", std::process::id()));
        let e = fetch(&dir, PACKAGE, "0.0-not-a-version", SHA256).unwrap_err();
        assert!(
            e.contains("0.0-not-a-version")
                && (e.contains("apt-cache show") || e.contains("apt-get")),
            "{e}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_newest_abi_is_chosen_when_the_pin_is_gone() {
        let names = "linux-image-6.1.0-49-amd64\nlinux-image-6.1.0-57-rt-amd64\n\
                     linux-image-6.1.0-57-amd64\nlinux-image-6.1.0-57-amd64-unsigned\n\
                     linux-image-6.1.0-9-amd64\nlinux-image-6.1.0-57-cloud-amd64\n\
                     linux-image-6.1.0-58-amd64-dbg\n";
        assert_eq!(
            newest_abi(names.lines()),
            Some("linux-image-6.1.0-57-amd64")
        );
        assert_eq!(newest_abi("linux-image-amd64\n".lines()), None);
        let policy = "linux-image-6.1.0-57-amd64:\n  Installed: (none)\n  Candidate: 6.1.192-3\n  Version table:\n";
        assert_eq!(candidate(policy).as_deref(), Some("6.1.192-3"));
        assert_eq!(candidate("x:\n  Candidate: (none)\n"), None);
    }

    #[test]
    fn a_file_that_is_no_kernel_package_is_refused() {
        let dir = std::env::temp_dir().join(format!("linux-deb-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.deb");
        fs::write(&f, b"not a package").unwrap();
        let e = resolve_package(&dir, Some(&f)).unwrap_err();
        assert!(e.contains("not a Debian package"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn command_line() {
        let c = cmdline(true, true, &["bench_quick".to_string()]);
        assert_eq!(c[0], "console=ttyS0");
        assert!(c.contains(&"nokaslr".to_string()));
        assert!(c.contains(&"idle=halt".to_string()));
        assert!(c.contains(&"mitigations=off".to_string()));
        assert_eq!(c.last().unwrap(), "bench_quick");
        assert!(
            !cmdline(false, false, &[])
                .iter()
                .any(|w| w == "nokaslr" || w == "idle=halt" || w.starts_with("mitig"))
        );
    }

    #[test]
    fn a_broken_package_is_named() {
        let dir = std::env::temp_dir().join(format!("linux-pkg-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.deb");
        fs::write(&f, b"not a package").unwrap();
        let e = check_package(&f, SHA256).unwrap_err();
        assert!(
            e.contains("broken or different package") && e.contains("apt-cache show"),
            "{e}"
        );
        let e = unpack_kernel(&f, &dir.join("out")).unwrap_err();
        assert!(e.contains("dpkg-deb"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }
}
