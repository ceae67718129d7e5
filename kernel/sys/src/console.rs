//! The console: COM1 (16550 UART), shared by every CPU, and a mirror the layer above attaches
//! (the screen, `crate::screen`, with [`set_mirror`]): the console sits just above `arch` so
//! every layer can log, and calls nothing above it.
//!
//! One lock serialises whole lines, so lines from different CPUs never interleave. The lock
//! remembers its owner, so a CPU that faults or panics while printing can still report
//! (it takes the lock over from itself instead of deadlocking).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::arch::{self, port};

/// COM1 base I/O port (PC/AT standard).
const COM1: u16 = 0x3F8;
/// 16550 registers, as offsets from the base (DLAB = 0 unless noted).
const UART_THR: u16 = 0; // transmit holding
const UART_DLL: u16 = 0; // divisor latch low (DLAB = 1)
const UART_IER: u16 = 1; // interrupt enable
const UART_DLM: u16 = 1; // divisor latch high (DLAB = 1)
const UART_FCR: u16 = 2; // FIFO control
const UART_LCR: u16 = 3; // line control
const UART_MCR: u16 = 4; // modem control
const UART_LSR: u16 = 5; // line status
const UART_LCR_DLAB: u8 = 1 << 7;
const UART_LCR_8N1: u8 = 0x03;
const UART_FCR_ENABLE_CLEAR_14: u8 = 0xC7;
const UART_MCR_DTR_RTS_OUT2: u8 = 0x0B;
const UART_LSR_THRE: u8 = 1 << 5;
/// 115200 baud = 115200 / divisor 1.
const UART_DIVISOR_115200: u8 = 1;
/// Bounded wait for the transmitter: a machine without a UART reads 0xFF and never blocks,
/// one that is wedged loses characters instead of hanging the kernel.
const UART_SPIN_LIMIT: u32 = 1_000_000;

/// 0 = free, otherwise the owner's logical CPU id + 1.
static OWNER: AtomicU32 = AtomicU32::new(0);
/// Nesting depth for the owner (a report printed while the same CPU holds the lock).
static DEPTH: AtomicU32 = AtomicU32::new(0);

pub fn init() {
    for (reg, val) in [
        (UART_IER, 0),
        (UART_LCR, UART_LCR_DLAB),
        (UART_DLL, UART_DIVISOR_115200),
        (UART_DLM, 0),
        (UART_LCR, UART_LCR_8N1),
        (UART_FCR, UART_FCR_ENABLE_CLEAR_14),
        (UART_MCR, UART_MCR_DTR_RTS_OUT2),
    ] {
        port::outb(COM1 + reg, val);
    }
}

fn put_byte(b: u8) {
    let mut spins = 0;
    while port::inb(COM1 + UART_LSR) & UART_LSR_THRE == 0 && spins < UART_SPIN_LIMIT {
        core::hint::spin_loop();
        spins += 1;
    }
    port::outb(COM1 + UART_THR, b);
}

/// Exclusive use of the console until dropped; interrupts are off meanwhile.
pub struct ConsoleGuard {
    irq_were_on: bool,
}

impl ConsoleGuard {
    pub fn lock() -> Self {
        let irq_were_on = arch::interrupts_disable();
        let me = arch::cpu_id() + 1;
        if OWNER.load(Ordering::Relaxed) == me {
            DEPTH.fetch_add(1, Ordering::Relaxed);
        } else {
            while OWNER
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                core::hint::spin_loop();
            }
            DEPTH.store(1, Ordering::Relaxed);
        }
        ConsoleGuard { irq_were_on }
    }
}

impl Drop for ConsoleGuard {
    fn drop(&mut self) {
        if DEPTH.fetch_sub(1, Ordering::Relaxed) == 1 {
            OWNER.store(0, Ordering::Release);
        }
        if self.irq_were_on {
            arch::interrupts_enable();
        }
    }
}

/// Where every console byte is copied too (0: nowhere): a `fn(u8)` stored by [`set_mirror`].
static MIRROR: AtomicUsize = AtomicUsize::new(0);

/// Copy every console byte to `f` from now on (the screen, once it has a surface).
pub fn set_mirror(f: fn(u8)) {
    MIRROR.store(f as usize, Ordering::Release);
}

fn mirror(b: u8) {
    let f = MIRROR.load(Ordering::Acquire);
    if f != 0 {
        // SAFETY: only `set_mirror` stores here, always a `fn(u8)`.
        let f: fn(u8) = unsafe { core::mem::transmute(f) };
        f(b);
    }
}

impl Write for ConsoleGuard {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put_byte(b'\r');
            }
            put_byte(b);
            mirror(b);
        }
        Ok(())
    }
}

/// Print one formatted line atomically with respect to other CPUs.
pub fn print_line(args: fmt::Arguments) {
    let mut g = ConsoleGuard::lock();
    let _ = g.write_fmt(args);
    let _ = g.write_str("\n");
}

/// Print a log line. Log lines never start with `{` (that marks a record).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::console::print_line(format_args!($($arg)*)) };
}

/// Print one record line that `write` builds whole (it writes the JSON object).
pub fn record_with(write: impl FnOnce(&mut ConsoleGuard) -> fmt::Result) {
    let mut g = ConsoleGuard::lock();
    let _ = write(&mut g);
    let _ = g.write_str("\n");
}

/// Build and print one JSON record line: `record!("context", |r| r.u64("n", 1).str("k", "v"))`.
#[macro_export]
macro_rules! record {
    ($kind:expr, |$r:ident| $body:expr) => {{
        let mut g = $crate::console::ConsoleGuard::lock();
        {
            let mut rec = $crate::kernel_core::json::Record::begin(&mut g, $kind);
            let $r = &mut rec;
            let _ = $body;
            let _ = rec.finish();
        }
        let _ = core::fmt::Write::write_str(&mut g, "\n");
    }};
}
