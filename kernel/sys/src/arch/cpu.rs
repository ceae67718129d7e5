//! CPU identification and the control-register and MSR bits the kernel sets.

use core::arch::asm;
use raw_cpuid::CpuId;
use spin::Once;

pub use super::regs::{
    CR0_WP, CR4_FSGSBASE, CR4_PCIDE, CR4_PGE, CR4_SMAP, CR4_SMEP, EFER_LME, EFER_NXE, IA32_EFER,
};

/// What this CPU offers that the kernel uses.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    pub vendor: [u8; 12],
    pub brand: [u8; 48],
    pub hypervisor: Option<[u8; 12]>,
    pub hypervisor_max_leaf: u32,
    pub nx: bool,
    pub pages_1g: bool,
    pub pge: bool,
    pub pat: bool,
    pub smep: bool,
    pub smap: bool,
    pub fsgsbase: bool,
    pub pcid: bool,
    pub invpcid: bool,
    pub x2apic: bool,
    pub invariant_tsc: bool,
    /// AMD INVLPGB and TLBSYNC (CPUID 0x8000_0008 EBX bit 3), and the most extra pages one
    /// INVLPGB takes (EDX bits 15:0).
    pub invlpgb: bool,
    pub invlpgb_count_max: u16,
    /// AMD CLZERO (CPUID 0x8000_0008 EBX bit 0): zero one cache line without reading it.
    pub clzero: bool,
    /// CPUID 0x15: (denominator, numerator, crystal Hz), any of them may be 0.
    pub tsc_leaf_15: (u32, u32, u32),
}

static FEATURES: Once<Features> = Once::new();

pub fn features() -> &'static Features {
    FEATURES.call_once(detect)
}

/// CPUID 0x8000_0008 EBX bit 3: INVLPGB and TLBSYNC (AMD APM vol. 3, appendix E).
const CPUID_80000008_EBX_INVLPGB: u32 = 1 << 3;
/// AMD APM vol. 3, CPUID Fn8000_0008 EBX bit 0: CLZERO.
const CPUID_80000008_EBX_CLZERO: u32 = 1 << 0;

fn detect() -> Features {
    let id = CpuId::new();
    let mut vendor = [0u8; 12];
    if let Some(v) = id.get_vendor_info() {
        vendor.copy_from_slice(&v.as_str().as_bytes()[..12]);
    }
    let mut brand = [b' '; 48];
    if let Some(b) = id.get_processor_brand_string() {
        let s = b.as_str().trim().as_bytes();
        let n = s.len().min(48);
        brand[..n].copy_from_slice(&s[..n]);
    }
    let f1 = id.get_feature_info();
    let ext = id.get_extended_processor_and_feature_identifiers();
    let f7 = id.get_extended_feature_info();
    let apm = id.get_advanced_power_mgmt_info();
    let hv_present = f1.as_ref().is_some_and(|f| f.has_hypervisor());
    let (hypervisor, hypervisor_max_leaf) = if hv_present {
        let r = raw_cpuid::cpuid!(0x4000_0000);
        let mut sig = [0u8; 12];
        sig[0..4].copy_from_slice(&r.ebx.to_le_bytes());
        sig[4..8].copy_from_slice(&r.ecx.to_le_bytes());
        sig[8..12].copy_from_slice(&r.edx.to_le_bytes());
        (Some(sig), r.eax)
    } else {
        (None, 0)
    };
    let max_leaf = raw_cpuid::cpuid!(0).eax;
    let tsc_leaf_15 = if max_leaf >= 0x15 {
        let r = raw_cpuid::cpuid!(0x15);
        (r.eax, r.ebx, r.ecx)
    } else {
        (0, 0, 0)
    };
    let max_ext = raw_cpuid::cpuid!(0x8000_0000).eax;
    let (invlpgb, invlpgb_count_max, clzero) = if max_ext >= 0x8000_0008 {
        let r = raw_cpuid::cpuid!(0x8000_0008);
        (
            r.ebx & CPUID_80000008_EBX_INVLPGB != 0,
            (r.edx & 0xFFFF) as u16,
            r.ebx & CPUID_80000008_EBX_CLZERO != 0,
        )
    } else {
        (false, 0, false)
    };
    Features {
        invlpgb,
        clzero,
        invlpgb_count_max,
        vendor,
        brand,
        hypervisor,
        hypervisor_max_leaf,
        nx: ext.as_ref().is_some_and(|e| e.has_execute_disable()),
        pages_1g: ext.as_ref().is_some_and(|e| e.has_1gib_pages()),
        pge: f1.as_ref().is_some_and(|f| f.has_pge()),
        pat: f1.as_ref().is_some_and(|f| f.has_pat()),
        smep: f7.as_ref().is_some_and(|f| f.has_smep()),
        smap: f7.as_ref().is_some_and(|f| f.has_smap()),
        fsgsbase: f7.as_ref().is_some_and(|f| f.has_fsgsbase()),
        pcid: f1.as_ref().is_some_and(|f| f.has_pcid()),
        invpcid: f7.as_ref().is_some_and(|f| f.has_invpcid()),
        x2apic: f1.as_ref().is_some_and(|f| f.has_x2apic()),
        invariant_tsc: apm.as_ref().is_some_and(|a| a.has_invariant_tsc()),
        tsc_leaf_15,
    }
}

impl Features {
    pub fn vendor_str(&self) -> &str {
        core::str::from_utf8(&self.vendor)
            .unwrap_or("?")
            .trim_end_matches('\0')
    }
    pub fn brand_str(&self) -> &str {
        core::str::from_utf8(&self.brand)
            .unwrap_or("?")
            .trim_matches(|c| c == ' ' || c == '\0')
    }
    /// The hypervisor signature ("KVMKVMKVM", "TCGTCGTCGTCG", ...) or "bare metal".
    pub fn hypervisor_str(&self) -> &str {
        match &self.hypervisor {
            Some(sig) => core::str::from_utf8(sig)
                .unwrap_or("?")
                .trim_end_matches('\0'),
            None => "bare metal",
        }
    }
}

/// CR4.PCIDE on this CPU where the CPU has PCIDs (long mode only, with CR3's PCID 0: the
/// kernel's tables run as PCID 0, user address spaces get their own). Returns whether it is on.
pub fn enable_pcid() -> bool {
    if !features().pcid {
        return false;
    }
    let cr3 = super::read_cr3();
    assert!(
        cr3 & 0xFFF == 0,
        "CR3 {cr3:#x} has low bits set; cannot enable PCIDs"
    );
    // SAFETY: the CPU has PCIDs, runs in long mode and CR3[11:0] = 0 (SDM vol. 3A, 4.10.1).
    unsafe { write_cr4(read_cr4() | CR4_PCIDE) };
    true
}

pub fn pcid_enabled() -> bool {
    read_cr4() & CR4_PCIDE != 0
}

pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: only called for MSRs this CPU architecturally has (EFER, PAT, GS base...).
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (hi as u64) << 32 | lo as u64
}

/// # Safety
/// Writing an MSR changes how the CPU behaves; the caller names an architectural MSR and a
/// value that keeps the running code valid.
pub unsafe fn wrmsr(msr: u32, val: u64) {
    // SAFETY: see the function's contract.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") val as u32, in("edx") (val >> 32) as u32,
             options(nostack, preserves_flags))
    };
}

pub fn read_cr0() -> u64 {
    let v: u64;
    // SAFETY: reads a control register.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

pub fn read_cr4() -> u64 {
    let v: u64;
    // SAFETY: reads a control register.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// # Safety
/// The new CR0 must keep protection and paging on and the running code valid.
pub unsafe fn write_cr0(v: u64) {
    // SAFETY: see the function's contract.
    unsafe { asm!("mov cr0, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// # Safety
/// The new CR4 must keep PAE on and only enable features the CPU has.
pub unsafe fn write_cr4(v: u64) {
    // SAFETY: see the function's contract.
    unsafe { asm!("mov cr4, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// CPUID 0x8000_0001 ECX bit 22: TOPOEXT, the AMD cache topology leaf 0x8000_001D exists.
const CPUID_80000001_ECX_TOPOEXT: u32 = 1 << 22;

/// The topology shifts of this machine from this CPU's CPUID (extended topology leaf 0x1F or
/// 0x0B, else the legacy logical-processor count of leaf 1; the last-level cache from leaf 4
/// or AMD's 0x8000_001D): see `kernel_core::topology`.
pub fn topology() -> kernel_core::topology::Shifts {
    use kernel_core::topology::{Shifts, extended_leaf_shifts};
    let max = raw_cpuid::cpuid!(0).eax;
    let read_leaf = |leaf: u32| {
        let mut sub = [(0u32, 0u32); 8];
        for (i, s) in sub.iter_mut().enumerate() {
            let r = raw_cpuid::cpuid!(leaf, i as u32);
            *s = (r.eax, r.ecx);
            if (r.ecx >> 8) & 0xFF == 0 {
                break;
            }
        }
        extended_leaf_shifts(&sub)
    };
    let ext = [0x1F, 0x0B]
        .into_iter()
        .filter(|&l| max >= l)
        .find_map(read_leaf);
    let (smt, package) = ext.unwrap_or_else(|| {
        // Leaf 1 EBX[23:16]: addressable logical processors per package.
        let count = (raw_cpuid::cpuid!(1).ebx >> 16) & 0xFF;
        (0, count.max(1).next_power_of_two().trailing_zeros())
    });
    // The highest-level cache of a deterministic cache leaf (sub-leaves until type 0).
    let last_level = |leaf: u32| {
        let mut best: Option<(u32, u32)> = None;
        for i in 0..16 {
            let eax = raw_cpuid::cpuid!(leaf, i).eax;
            if eax & 0x1F == 0 {
                break;
            }
            let level = (eax >> 5) & 0x7;
            if best.is_none_or(|(l, _)| level > l) {
                best = Some((level, eax));
            }
        }
        best.map(|(_, eax)| eax)
    };
    let max_ext = raw_cpuid::cpuid!(0x8000_0000).eax;
    let amd_topoext = max_ext >= 0x8000_001D
        && raw_cpuid::cpuid!(0x8000_0001).ecx & CPUID_80000001_ECX_TOPOEXT != 0;
    let llc = if features().vendor_str() == "GenuineIntel" && max >= 4 {
        last_level(4)
    } else if amd_topoext {
        last_level(0x8000_001D)
    } else {
        None
    };
    Shifts::new(smt, package, llc)
}
