//! Assembles the first boot stage (boot/entry.asm) with NASM and links it into the kernel with
//! linker.ld, giving both the constants they share with Rust (`hw.inc`, `--defsym`). The font, the AP trampoline and the git revision are built by kernel/sys.

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
    // The architectural names and the image's addresses (hw.inc), generated once from
    // kernel/core by the sys crate's build script (never typed twice).
    let include = env::var("DEP_KERNEL_SYS_INCLUDE")
        .expect("the sys crate's build script gives its include folder (links = kernel_sys)");
    println!("cargo:rerun-if-changed={include}/hw.inc");
    let entry_obj = out.join("entry.o");
    let include_dir = format!("-I{include}/");
    let status = Command::new("nasm")
        .args(["-f", "elf64", "-w+all", &include_dir, "-o"])
        .arg(&entry_obj)
        .arg(&entry_src)
        .status()
        .unwrap_or_else(|e| panic!("cannot run nasm ({e}): install it with scripts/setup.sh"));
    assert!(status.success(), "nasm failed on {}", entry_src.display());
    println!("cargo:rustc-link-arg-bins={}", entry_obj.display());
    println!("cargo:rustc-link-arg-bins=-T{}", linker_script.display());
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!(
        "cargo:rustc-link-arg-bins=--defsym=KERNEL_VIRT_OFFSET={:#x}",
        kernel_core::KERNEL_VIRT_OFFSET
    );
    println!(
        "cargo:rustc-link-arg-bins=--defsym=KERNEL_PHYS_BASE={:#x}",
        kernel_core::KERNEL_PHYS_BASE
    );
}
