//! Assembles the first boot stage (boot/entry.asm) with NASM and links it into the kernel with
//! linker.ld. The font, the AP trampoline and the git revision are built by kernel/sys.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let entry_src = root.join("boot/entry.asm");
    let linker_script = root.join("linker.ld");
    println!("cargo:rerun-if-changed={}", entry_src.display());
    println!("cargo:rerun-if-changed={}", linker_script.display());
    if env::var("TARGET").unwrap() != "x86_64-unknown-none" {
        return;
    }
    let entry_obj = out.join("entry.o");
    let status = Command::new("nasm")
        .args(["-f", "elf64", "-w+all", "-o"])
        .arg(&entry_obj)
        .arg(&entry_src)
        .status()
        .unwrap_or_else(|e| panic!("cannot run nasm ({e}): install it with scripts/setup.sh"));
    assert!(status.success(), "nasm failed on {}", entry_src.display());
    println!("cargo:rustc-link-arg-bins={}", entry_obj.display());
    println!("cargo:rustc-link-arg-bins=-T{}", linker_script.display());
    println!("cargo:rustc-link-arg-bins=--no-pie");
}
