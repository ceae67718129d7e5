//! Assembles the first boot stage (boot/entry.asm) with NASM, links it into the kernel with
//! linker.ld, and records the git revision for the `context` record.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap();

    let entry_src = root.join("boot/entry.asm");
    let linker_script = root.join("linker.ld");
    println!("cargo:rerun-if-changed={}", entry_src.display());
    println!("cargo:rerun-if-changed={}", linker_script.display());

    // The AP trampoline: its header offsets come from the Rust definition, never by hand.
    let tramp_src = root.join("trampoline/ap_trampoline.asm");
    println!("cargo:rerun-if-changed={}", tramp_src.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("trampoline/src/lib.rs").display()
    );
    std::fs::write(
        out.join("trampoline_header.inc"),
        trampoline::nasm_include(),
    )
    .unwrap();
    let tramp_bin = out.join("ap_trampoline.bin");
    let include_dir = format!("-I{}/", out.display());
    nasm(
        &["-f", "bin", "-w+all", &include_dir, "-o"],
        &tramp_bin,
        &tramp_src,
    );
    let blob = std::fs::read(&tramp_bin).unwrap();
    if let Err(e) = trampoline::check_blob(&blob) {
        panic!("{}: {e}", tramp_bin.display());
    }

    if target == "x86_64-unknown-none" {
        let entry_obj = out.join("entry.o");
        nasm(&["-f", "elf64", "-w+all", "-o"], &entry_obj, &entry_src);
        println!("cargo:rustc-link-arg-bins={}", entry_obj.display());
        println!("cargo:rustc-link-arg-bins=-T{}", linker_script.display());
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }

    println!("cargo:rustc-env=KERNEL_GIT_REV={}", git_rev(&root));
    for p in [".git/HEAD", ".git/index"] {
        if root.join(p).exists() {
            println!("cargo:rerun-if-changed={}", root.join(p).display());
        }
    }
}

fn nasm(args: &[&str], out: &std::path::Path, src: &std::path::Path) {
    let status = Command::new("nasm")
        .args(args)
        .arg(out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("cannot run nasm ({e}): install it with scripts/setup.sh"));
    assert!(status.success(), "nasm failed on {}", src.display());
}

/// `git rev-parse --short=12 HEAD`, with `-dirty` when the work tree has changes; `unknown`
/// outside a git checkout.
fn git_rev(root: &std::path::Path) -> String {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(rev) = rev else {
        return "unknown".into();
    };
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(root)
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty { format!("{rev}-dirty") } else { rev }
}
