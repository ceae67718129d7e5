//! Host runner of the kernel: boots it under QEMU (`-kernel`, multiboot1, or GRUB from a CD
//! image, multiboot2), streams its serial console (log lines and JSON records), maps how QEMU
//! ended to one outcome, and writes a results folder (console.log, records.jsonl, host.json).
//! Also the in-QEMU test matrix and the KVM probe. Benchmark code reuses [`run::run`] and the
//! modules below.

pub mod args;
pub mod bochs;
pub mod cases;
pub mod disasm;
pub mod grub;
pub mod host;
pub mod icount;
pub mod kvm;
pub mod linux;
pub mod out;
pub mod outcome;
pub mod percpu_lines;
pub mod process;
pub mod progress;
pub mod records;
pub mod results;
pub mod run;
pub mod screen;
pub mod signals;
pub mod symbols;
pub mod usb;
pub mod vm;

use std::path::{Path, PathBuf};

/// Where `runner test` writes per-case results by default: `<target dir>/test-runs`.
pub fn default_test_runs_dir() -> PathBuf {
    target_dir().join("test-runs")
}

/// The cargo target dir: $CARGO_TARGET_DIR, else the one holding this executable
/// (`target/debug/runner`), else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        return std::path::absolute(&t).unwrap_or(t);
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        // target/<profile>/runner or target/<profile>/deps/runner-<hash>: cargo marks the
        // target dir with CACHEDIR.TAG.
        exe.ancestors()
            .skip(1)
            .take(3)
            .find(|d| d.join("CACHEDIR.TAG").is_file())
            .map(PathBuf::from)
    });
    from_exe.unwrap_or_else(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        manifest
            .parent()
            .and_then(Path::parent)
            .unwrap_or(manifest)
            .join("target")
    })
}
