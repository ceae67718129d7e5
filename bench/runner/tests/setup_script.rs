//! The set-up script's decisions (`scripts/setup.sh` in its dry run), in fake machines: a
//! PATH of stub commands (dpkg, apt-cache, id, sudo, qemu, rustup, just, an externally
//! managed python3) and a fake os-release. Nothing is installed; the test reads what the
//! script says it would run.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One fake machine.
struct Machine<'a> {
    os: &'a str,
    uid: u32,
    sudo: bool,
    /// dpkg-installed packages.
    installed: &'a [&'a str],
    /// Packages apt offers.
    apt: &'a [&'a str],
    qemu: Option<&'a str>,
    rustup: bool,
    just: bool,
    backports_listed: bool,
}

const DEBIAN12: &str = "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
const UBUNTU2404: &str =
    "ID=ubuntu\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble\nPRETTY_NAME=\"Ubuntu 24.04 LTS\"\n";
const FEDORA: &str = "ID=fedora\nVERSION_ID=\"41\"\n";

/// Every package the script asks for, present.
const ALL_PKGS: &[&str] = &[
    "nasm",
    "xorriso",
    "grub-pc-bin",
    "grub-efi-amd64-bin",
    "grub-common",
    "mtools",
    "ovmf",
    "seabios",
    "curl",
    "ca-certificates",
    "build-essential",
    "binutils",
    "cpio",
    "git",
    "bochs",
    "bochsbios",
    "vgabios",
];

fn stub(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    fs::write(&p, format!("#!/bin/bash\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

fn which(name: &str) -> PathBuf {
    for d in ["/usr/bin", "/bin", "/usr/local/bin"] {
        let p = Path::new(d).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found in /usr/bin or /bin");
}

/// Runs the dry run in `m`; returns (exit success, stdout + stderr).
fn dry_run(name: &str, m: &Machine) -> (bool, String) {
    let root = std::env::temp_dir().join(format!("setup-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let bin = root.join("bin");
    let home = root.join("home");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(home.join(".cargo/bin")).unwrap();
    // Real tools the script itself uses; nothing else of this machine is visible.
    for t in [
        "bash",
        "sed",
        "grep",
        "head",
        "mktemp",
        "rm",
        "cat",
        "dirname",
        "sha256sum",
        "chmod",
        "tee",
    ] {
        std::os::unix::fs::symlink(which(t), bin.join(t)).unwrap();
    }
    stub(&bin, "id", &format!("echo {}", m.uid));
    if m.sudo {
        stub(&bin, "sudo", "exec \"$@\"");
    }
    let list = |v: &[&str]| v.join(" ");
    stub(
        &bin,
        "dpkg",
        &format!(
            "for p in {}; do [ \"$2\" = \"$p\" ] && exit 0; done; exit 1",
            list(m.installed)
        ),
    );
    stub(
        &bin,
        "apt-cache",
        &format!(
            "for p in {}; do [ \"$2\" = \"$p\" ] && {{ echo \"$2:\"; echo '  Candidate: 1.0-1'; exit 0; }}; done\n\
             echo \"$2:\"; echo '  Candidate: (none)'",
            list(m.apt)
        ),
    );
    stub(
        &bin,
        "python3",
        "echo 'error: externally-managed-environment' >&2; exit 1",
    );
    if let Some(v) = m.qemu {
        stub(
            &bin,
            "qemu-system-x86_64",
            &format!("echo 'QEMU emulator version {v}'"),
        );
    }
    if m.rustup {
        stub(&home.join(".cargo/bin"), "rustup", "exit 0");
    }
    if m.just {
        stub(&bin, "just", "echo just 1.40.0");
    }
    let os = root.join("os-release");
    fs::write(&os, m.os).unwrap();
    let sources = root.join("sources.list");
    fs::write(
        &sources,
        if m.backports_listed {
            "deb http://deb.debian.org/debian bookworm-backports main\n"
        } else {
            "deb http://deb.debian.org/debian bookworm main\n"
        },
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/setup.sh");
    let out = Command::new(bin.join("bash"))
        .arg(&script)
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", &home)
        .env("SETUP_DRY_RUN", "1")
        .env("SETUP_OS_RELEASE", &os)
        .env("SETUP_APT_SOURCES", &sources)
        .output()
        .unwrap();
    let _ = fs::remove_dir_all(&root);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn would(out: &str, needle: &str) -> bool {
    out.lines()
        .any(|l| l.starts_with("[setup] would run:") && l.contains(needle))
}

#[test]
fn a_fresh_debian_12_as_root() {
    let (ok, out) = dry_run(
        "deb12",
        &Machine {
            os: DEBIAN12,
            uid: 0,
            sudo: false,
            installed: &[],
            apt: &["nasm", "linux-image-amd64"],
            qemu: None,
            rustup: false,
            just: false,
            backports_listed: false,
        },
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("write /etc/apt/sources.list.d/bookworm-backports.list"),
        "{out}"
    );
    assert!(
        would(
            &out,
            "apt-get install -y -qq --no-install-recommends nasm xorriso"
        ),
        "{out}"
    );
    assert!(
        would(&out, "-t bookworm-backports qemu-system-x86"),
        "{out}"
    );
    // No rustup and no package: the pinned rustup-init, checksummed.
    assert!(
        out.contains("installing rustup-init 1.28.2 (sha256 checked)"),
        "{out}"
    );
    assert!(
        would(&out, "curl --proto =https --tlsv1.2 -sSfL -o"),
        "{out}"
    );
    assert!(
        would(
            &out,
            "rustup-init -y --profile minimal --default-toolchain none"
        ),
        "{out}"
    );
    assert!(would(&out, "rustup toolchain install 1."), "{out}");
    // No just package on Debian 12: a pinned build, installed where PATH already looks.
    assert!(
        would(&out, "cargo install just --version 1.43.0 --locked"),
        "{out}"
    );
    assert!(would(&out, "install -m 0755"), "{out}");
    assert!(would(&out, "/usr/local/bin/just"), "{out}");
    assert!(!out.contains("pip"), "never pip (PEP 668): {out}");
    assert!(!out.contains("sudo"), "root needs no sudo: {out}");
}

#[test]
fn a_fresh_ubuntu_24_04_with_sudo_prefers_the_distributions_packages() {
    let (ok, out) = dry_run(
        "noble",
        &Machine {
            os: UBUNTU2404,
            uid: 1000,
            sudo: true,
            installed: &[],
            apt: &["just", "rustup", "qemu-system-x86"],
            qemu: None,
            rustup: false,
            just: false,
            backports_listed: false,
        },
    );
    assert!(ok, "{out}");
    assert!(would(&out, "sudo apt-get update -qq"), "{out}");
    assert!(would(&out, "qemu-system-x86 qemu-system-data"), "{out}");
    assert!(!out.contains("backports"), "{out}");
    assert!(
        would(
            &out,
            "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rustup"
        ),
        "{out}"
    );
    assert!(would(&out, "--no-install-recommends just"), "{out}");
    assert!(!out.contains("rustup-init"), "{out}");
    assert!(!out.contains("cargo install"), "{out}");
    assert!(!out.contains("pip"), "{out}");
}

#[test]
fn ubuntu_with_the_distributions_cargo_keeps_it_and_uses_rustup_init() {
    let (ok, out) = dry_run(
        "noble-cargo",
        &Machine {
            os: UBUNTU2404,
            uid: 0,
            sudo: false,
            installed: &["cargo", "rustc"],
            apt: &["just", "rustup"],
            qemu: Some("8.2.2"),
            rustup: false,
            just: false,
            backports_listed: false,
        },
    );
    assert!(ok, "{out}");
    assert!(!would(&out, "no-install-recommends rustup"), "{out}");
    assert!(out.contains("installing rustup-init 1.28.2"), "{out}");
}

#[test]
fn a_machine_that_has_everything_changes_nothing() {
    let (ok, out) = dry_run(
        "ready",
        &Machine {
            os: DEBIAN12,
            uid: 0,
            sudo: false,
            installed: ALL_PKGS,
            apt: &["linux-image-amd64"],
            qemu: Some("10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)"),
            rustup: true,
            just: true,
            backports_listed: true,
        },
    );
    assert!(ok, "{out}");
    assert!(out.contains("apt packages present"), "{out}");
    assert!(out.contains("rustup present"), "{out}");
    assert!(out.contains("just present"), "{out}");
    let changes: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("[setup] would run:"))
        .collect();
    // Only the toolchain (rustup makes that a no-op when it is there).
    assert_eq!(changes.len(), 1, "{out}");
    assert!(changes[0].contains("rustup toolchain install"), "{out}");
}

#[test]
fn an_unsupported_system_is_refused_with_its_name() {
    let base = Machine {
        os: FEDORA,
        uid: 0,
        sudo: false,
        installed: &[],
        apt: &[],
        qemu: None,
        rustup: false,
        just: false,
        backports_listed: false,
    };
    let (ok, out) = dry_run("fedora", &base);
    assert!(!ok);
    assert!(out.contains("unsupported distribution 'fedora'"), "{out}");
    let (ok, out) = dry_run(
        "nosudo",
        &Machine {
            os: DEBIAN12,
            uid: 1000,
            ..base
        },
    );
    assert!(!ok);
    assert!(out.contains("not root and no sudo"), "{out}");
}
