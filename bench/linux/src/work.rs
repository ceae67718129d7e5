//! The workloads, named and parametrised as our kernel's where the workload is the same.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use kernel_core::result::{Kind, P};

use crate::sys::{self, PROT_READ, PROT_WRITE};
use crate::{Opts, emit, record};

const PAGE: usize = 4096;
const MAGIC: u64 = 0x5eed_0000_0000_0000;

fn skip(bench: &str, reason: &str) {
    record("skip", |r| {
        r.str("bench", bench).str("reason", reason);
    });
    println!("linux-bench: {bench} skipped: {reason}");
}

/// Time `f` `warmup + samples` times; the last `samples` values.
fn measure(o: &Opts, mut f: impl FnMut() -> u64) -> Vec<u64> {
    for _ in 0..o.warmup {
        f();
    }
    (0..o.samples).map(|_| f()).collect()
}

/// Pages a reader thread checks between two PAUSEs (as the kernel's `READS_PER_PAUSE`).
const READS_PER_PAUSE: usize = 8;

/// A thread pinned to `cpu` that spins (reading `stop`, PAUSE each time) until told to stop.
/// Every wait here executes PAUSE, as every wait in our kernel: in the deterministic mode a
/// spinning vCPU then hands QEMU's round robin on each iteration instead of a time slice.
fn spinner(
    cpu: usize,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        sys::pin(cpu);
        ready.fetch_add(1, Ordering::AcqRel);
        while !stop.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
    })
}

/// Floors: a system call round trip (getppid) and an IPI round trip (membarrier's private
/// expedited command interrupts every CPU running this process: one spinning thread).
pub fn floors(o: &Opts, hz: u64, cpus: usize) -> bool {
    sys::pin(0);
    let mut s = measure(o, || {
        let t0 = sys::start();
        std::hint::black_box(sys::getppid());
        sys::stop() - t0
    });
    emit(
        hz,
        "syscall_roundtrip",
        Kind::Floor,
        &[("call", P::S("getppid"))],
        "cycles",
        o.warmup,
        &mut s,
    );
    if cpus < 2 {
        skip("ipi_roundtrip", "needs 2 CPUs");
        return true;
    }
    if sys::membarrier(sys::MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0 {
        skip(
            "ipi_roundtrip",
            "membarrier private expedited is not available",
        );
        return true;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let t = spinner(1, stop.clone(), ready.clone());
    while ready.load(Ordering::Acquire) < 1 {
        std::hint::spin_loop();
    }
    let mut s = measure(o, || {
        let t0 = sys::start();
        sys::membarrier(sys::MEMBARRIER_CMD_PRIVATE_EXPEDITED);
        sys::stop() - t0
    });
    stop.store(true, Ordering::Release);
    let _ = t.join();
    emit(
        hz,
        "ipi_roundtrip",
        Kind::Floor,
        &[("ack", P::S("membarrier"))],
        "cycles",
        o.warmup,
        &mut s,
    );
    true
}

/// Demand-zero write faults and zero-page read faults on fresh anonymous memory (huge pages
/// off for the region), each access timed; every written page is checked afterwards.
pub fn page_faults(o: &Opts, hz: u64) -> bool {
    sys::pin(0);
    let mut ok = true;
    // The same result as the kernel's `pf_user` (whole access), with the variant Linux's path
    // is: a write maps a private zeroed frame, a read of anonymous memory the zero page.
    for (access, variant, read) in [("write", "demand_zero", false), ("read", "zero_page", true)] {
        let n = o.warmup + o.samples;
        let len = n * PAGE;
        let p = sys::map_anon(len, false);
        sys::madvise(p, len, sys::MADV_NOHUGEPAGE);
        let mut s = Vec::with_capacity(o.samples);
        for i in 0..n {
            // SAFETY: page i of our fresh mapping.
            let a = unsafe { p.add(i * PAGE) } as *mut u64;
            let t0 = sys::start();
            // SAFETY: as above; the access faults and Linux maps the page.
            unsafe {
                if read {
                    std::hint::black_box(a.read_volatile());
                } else {
                    a.write_volatile(MAGIC + i as u64);
                }
            }
            let t1 = sys::stop();
            if i >= o.warmup {
                s.push(t1 - t0);
            }
        }
        if !read {
            // SAFETY: every page was written above.
            let bad = (0..n)
                .filter(|&i| unsafe { (p.add(i * PAGE) as *const u64).read_volatile() } != MAGIC + i as u64)
                .count();
            ok &= bad == 0;
        }
        sys::unmap(p, len);
        emit(
            hz,
            "pf_user",
            Kind::Workload,
            &[
                ("mode", P::S("user")),
                ("page", P::U(4096)),
                ("access", P::S(access)),
                ("variant", P::S(variant)),
                ("part", P::S("total")),
            ],
            "cycles",
            o.warmup,
            &mut s,
        );
    }
    ok
}

/// All CPUs faulting at once, each in its own region: faults per second versus CPU count.
pub fn throughput(o: &Opts, hz: u64, cpus: usize) -> bool {
    let pages: usize = if o.quick { 256 } else { 2048 };
    let rounds = if o.quick { 5 } else { 20 };
    let mut counts = vec![];
    let mut n = 1;
    while n < cpus {
        counts.push(n);
        n *= 2;
    }
    counts.push(cpus);
    for &k in &counts {
        let mut rates = Vec::new();
        for round in 0..=rounds {
            let go = Arc::new(AtomicBool::new(false));
            let ready = Arc::new(AtomicUsize::new(0));
            let first = Arc::new(AtomicU64::new(u64::MAX));
            let last = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (0..k)
                .map(|cpu| {
                    let (go, ready, first, last) =
                        (go.clone(), ready.clone(), first.clone(), last.clone());
                    std::thread::spawn(move || {
                        sys::pin(cpu);
                        let len = pages * PAGE;
                        let p = sys::map_anon(len, false);
                        sys::madvise(p, len, sys::MADV_NOHUGEPAGE);
                        ready.fetch_add(1, Ordering::AcqRel);
                        while !go.load(Ordering::Acquire) {
                            std::hint::spin_loop();
                        }
                        let t0 = sys::rdtsc();
                        for i in 0..pages {
                            // SAFETY: page i of this thread's fresh mapping.
                            unsafe { (p.add(i * PAGE) as *mut u64).write_volatile(i as u64) };
                        }
                        let t1 = sys::rdtsc();
                        first.fetch_min(t0, Ordering::AcqRel);
                        last.fetch_max(t1, Ordering::AcqRel);
                        sys::unmap(p, len);
                    })
                })
                .collect();
            while ready.load(Ordering::Acquire) < k {
                std::hint::spin_loop();
            }
            go.store(true, Ordering::Release);
            for t in threads {
                let _ = t.join();
            }
            let wall = last
                .load(Ordering::Acquire)
                .saturating_sub(first.load(Ordering::Acquire));
            if round > 0 {
                rates.push((k as u128 * pages as u128 * hz as u128 / wall.max(1) as u128) as u64);
            }
        }
        emit(
            hz,
            "pf_throughput",
            Kind::Workload,
            &[
                ("mode", P::S("user")),
                ("cpus", P::U(k as u64)),
                ("pages_per_cpu", P::U(pages as u64)),
            ],
            "faults_per_s",
            1,
            &mut rates,
        );
    }
    true
}

/// TLB shootdowns Linux makes for a user: threads pinned one per CPU keep reading the region
/// while CPU 0 times `madvise(MADV_DONTNEED)` (then touches the pages again, untimed) or an
/// `mprotect` that takes write permission away (given back untimed), on 1 … 512 pages; with no
/// reader (`targets=0`) the same call sends no IPI: the control.
pub fn shootdown(o: &Opts, hz: u64, cpus: usize) -> bool {
    sys::pin(0);
    const REGION: usize = 512;
    let p = sys::map_anon(REGION * PAGE, false);
    sys::madvise(p, REGION * PAGE, sys::MADV_NOHUGEPAGE);
    let page_counts: &[usize] = if o.quick {
        &[1, 8, 64, 512]
    } else {
        &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    };
    let mut target_counts = vec![0, 1];
    if cpus > 2 {
        target_counts.push(cpus - 1);
    }
    let target_counts: Vec<usize> = target_counts.into_iter().filter(|&t| t < cpus).collect();
    let touch = |pages: usize| {
        for i in 0..pages {
            // SAFETY: page i of the region, mapped read-write here.
            unsafe { (p.add(i * PAGE) as *mut u64).write_volatile(i as u64) };
        }
    };
    let base = p as usize;
    for &targets in &target_counts {
        for &pages in page_counts {
            let stop = Arc::new(AtomicBool::new(false));
            let ready = Arc::new(AtomicUsize::new(0));
            let readers: Vec<_> = (1..=targets)
                .map(|cpu| {
                    let (stop, ready) = (stop.clone(), ready.clone());
                    std::thread::spawn(move || {
                        sys::pin(cpu);
                        ready.fetch_add(1, Ordering::AcqRel);
                        while !stop.load(Ordering::Acquire) {
                            for i in 0..pages {
                                // SAFETY: the region stays mapped; a page dropped by madvise
                                // reads back as zero.
                                std::hint::black_box(unsafe {
                                    ((base + i * PAGE) as *const u64).read_volatile()
                                });
                                // As our kernel's readers: a PAUSE every READS_PER_PAUSE
                                // pages and at the end of a pass (bounded work per round of
                                // QEMU's round robin in the deterministic mode).
                                if i % READS_PER_PAUSE == READS_PER_PAUSE - 1 || i + 1 == pages {
                                    std::hint::spin_loop();
                                }
                            }
                        }
                    })
                })
                .collect();
            while ready.load(Ordering::Acquire) < targets {
                std::hint::spin_loop();
            }
            touch(pages);
            let mut s = measure(o, || {
                touch(pages);
                let t0 = sys::start();
                sys::madvise(p, pages * PAGE, sys::MADV_DONTNEED);
                sys::stop() - t0
            });
            let params = |proto: &'static str| {
                [
                    ("protocol", P::S(proto)),
                    ("delivery", P::S("linux")),
                    ("space", P::S("user")),
                    ("targets", P::U(targets as u64)),
                    ("pages", P::U(pages as u64)),
                ]
            };
            emit(
                hz,
                "shootdown",
                Kind::Workload,
                &params("linux_madvise_dontneed"),
                "cycles",
                o.warmup,
                &mut s,
            );
            touch(pages);
            let mut s = measure(o, || {
                let t0 = sys::start();
                sys::mprotect(p, pages * PAGE, PROT_READ);
                let t1 = sys::stop();
                sys::mprotect(p, pages * PAGE, PROT_READ | PROT_WRITE);
                t1 - t0
            });
            emit(
                hz,
                "shootdown",
                Kind::Workload,
                &params("linux_mprotect"),
                "cycles",
                o.warmup,
                &mut s,
            );
            stop.store(true, Ordering::Release);
            for r in readers {
                let _ = r.join();
            }
        }
    }
    sys::unmap(p, REGION * PAGE);
    true
}
