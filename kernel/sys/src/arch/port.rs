//! Port I/O.

use core::arch::asm;

#[inline]
pub fn outb(port: u16, val: u8) {
    // SAFETY: the kernel owns every I/O port it names (UART, PIT, PIC, QEMU's exit device);
    // port writes have no effect on memory Rust knows about.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") val, options(nomem, nostack, preserves_flags))
    };
}

#[inline]
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: as for `outb`; reads do not touch memory.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags))
    };
    v
}

#[inline]
pub fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: as for `inb`.
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") v, options(nomem, nostack, preserves_flags))
    };
    v
}
