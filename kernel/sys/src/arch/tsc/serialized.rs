//! Serialised TSC reads for timed regions.
//!
//! A region is timed as `let t0 = start(); <work>; let t1 = stop();`:
//! - `start`: a fence, RDTSC, a fence: earlier instructions have finished before the read and
//!   the work does not start before it;
//! - `stop`: RDTSCP (waits for earlier instructions), then a fence so later ones wait for it.
//!
//! The fence is LFENCE on Intel (dispatch-serialising, SDM vol. 2A "LFENCE"). On AMD, LFENCE
//! serialises dispatch only with DE_CFG (MSR 0xC001_1029) bit 1 set: the kernel reads it, sets
//! it when clear and re-reads it; if the bit cannot be set (the MSR faults under a hypervisor),
//! MFENCE is used, which AMD documents as ordering RDTSC. The method used is recorded in the
//! `context` record (`tsc_fence`).

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::arch::cpu::features;
use crate::arch::extable;

/// AMD DE_CFG MSR and its "LFENCE is dispatch serialising" bit (AMD APM vol. 2; AMD's
/// "Software techniques for managing speculation", 2018).
use crate::arch::regs::MSR_AMD64_DE_CFG;
const DE_CFG_LFENCE_SERIALIZE: u64 = 1 << 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fence {
    /// Intel: LFENCE is dispatch-serialising.
    Lfence = 0,
    /// AMD with DE_CFG[1] found set.
    LfenceDeCfg = 1,
    /// AMD, DE_CFG[1] set by this kernel.
    LfenceDeCfgSet = 2,
    /// AMD (or other) without a usable DE_CFG: MFENCE.
    Mfence = 3,
}

impl Fence {
    pub fn name(self) -> &'static str {
        match self {
            Fence::Lfence => "lfence",
            Fence::LfenceDeCfg => "lfence (amd de_cfg[1] already set)",
            Fence::LfenceDeCfgSet => "lfence (amd de_cfg[1] set by the kernel)",
            Fence::Mfence => "mfence (de_cfg[1] unavailable)",
        }
    }
}

static FENCE: AtomicU8 = AtomicU8::new(Fence::Mfence as u8);
/// CPUID 0x8000_0001 EDX bit 27: RDTSCP.
static HAS_RDTSCP: AtomicBool = AtomicBool::new(false);

#[inline(always)]
pub fn has_rdtscp() -> bool {
    HAS_RDTSCP.load(Ordering::Relaxed)
}

/// Choose the fence on this CPU (the BSP; APs use the same choice; DE_CFG is set per CPU by
/// `init_this_cpu`).
pub fn init_fence() -> Fence {
    let ext = core::arch::x86_64::__cpuid(0x8000_0000).eax;
    if ext >= 0x8000_0001 {
        let edx = core::arch::x86_64::__cpuid(0x8000_0001).edx;
        HAS_RDTSCP.store(edx & (1 << 27) != 0, Ordering::Relaxed);
    }
    let f = init_this_cpu();
    FENCE.store(f as u8, Ordering::Relaxed);
    f
}

/// Per-CPU part: set AMD's DE_CFG[1] where possible. Returns what this CPU can use.
pub fn init_this_cpu() -> Fence {
    let vendor = &features().vendor;
    if vendor == b"GenuineIntel" {
        return Fence::Lfence;
    }
    if vendor != b"AuthenticAMD" && vendor != b"HygonGenuine" {
        return Fence::Mfence;
    }
    match extable::rdmsr(MSR_AMD64_DE_CFG) {
        Ok(v) if v & DE_CFG_LFENCE_SERIALIZE != 0 => Fence::LfenceDeCfg,
        Ok(v) => {
            // SAFETY: bit 1 only makes LFENCE dispatch-serialising; a #GP is caught.
            let wrote = unsafe { extable::wrmsr(MSR_AMD64_DE_CFG, v | DE_CFG_LFENCE_SERIALIZE) };
            match (wrote, extable::rdmsr(MSR_AMD64_DE_CFG)) {
                (Ok(()), Ok(v)) if v & DE_CFG_LFENCE_SERIALIZE != 0 => Fence::LfenceDeCfgSet,
                _ => Fence::Mfence,
            }
        }
        Err(_) => Fence::Mfence,
    }
}

pub fn fence() -> Fence {
    match FENCE.load(Ordering::Relaxed) {
        0 => Fence::Lfence,
        1 => Fence::LfenceDeCfg,
        2 => Fence::LfenceDeCfgSet,
        _ => Fence::Mfence,
    }
}

#[inline(always)]
fn use_mfence() -> bool {
    FENCE.load(Ordering::Relaxed) == Fence::Mfence as u8
}

/// `v`, computed here: an empty asm that takes `v` in a register, so the compiler cannot sink
/// its computation past this point (into a timed region that starts after it). No
/// instruction is emitted.
#[inline(always)]
pub fn computed(mut v: u64) -> u64 {
    // SAFETY: an empty asm; it only pins `v` to a register at this point.
    unsafe {
        core::arch::asm!("/* {0} */", inout(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// TSC at the start of a timed region.
#[inline(always)]
pub fn start() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: fences and RDTSC only; no memory is written.
    unsafe {
        if use_mfence() {
            core::arch::asm!("mfence", "rdtsc", "mfence", out("eax") lo, out("edx") hi, options(nostack, preserves_flags));
        } else {
            core::arch::asm!("lfence", "rdtsc", "lfence", out("eax") lo, out("edx") hi, options(nostack, preserves_flags));
        }
    }
    (hi as u64) << 32 | lo as u64
}

/// TSC at the end of a timed region.
#[inline(always)]
pub fn stop() -> u64 {
    if !has_rdtscp() {
        return start();
    }
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSCP (writes ECX with TSC_AUX) and a fence; no memory is written.
    unsafe {
        if use_mfence() {
            core::arch::asm!("rdtscp", "mfence", out("eax") lo, out("edx") hi, out("ecx") _, options(nostack, preserves_flags));
        } else {
            core::arch::asm!("rdtscp", "lfence", out("eax") lo, out("edx") hi, out("ecx") _, options(nostack, preserves_flags));
        }
    }
    (hi as u64) << 32 | lo as u64
}
