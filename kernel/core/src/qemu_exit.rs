//! QEMU's isa-debug-exit device as the runner configures it (DESIGN.md, "Exit codes under
//! QEMU"): a byte v written to the port ends QEMU with status (v << 1) | 1. Used by the kernel
//! and by the Linux baseline's program alike.

/// The device's I/O port (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const PORT: u16 = 0xF4;
/// Pass: status 33.
pub const PASS: u8 = 0x10;
/// A test or a benchmark check failed: status 35.
pub const FAIL: u8 = 0x11;
/// Panic: status 37.
pub const PANIC: u8 = 0x12;
/// Unexpected CPU exception: status 39.
pub const EXCEPTION: u8 = 0x13;
/// Bad command line: status 41.
pub const BAD_CMDLINE: u8 = 0x14;
