//! The `context` record: what a reader of a result needs to know about the machine and run.

use kernel_core::bootinfo::{BootInfo, RegionKind};

use crate::arch::{cpu, tsc};

pub fn print(info: &BootInfo) {
    let f = cpu::features();
    let sync = crate::cpu::tsc_sync::result().unwrap_or_default();
    let topo = cpu::topology();
    let m = &info.memory;
    let memory_bytes = m.total(RegionKind::Usable)
        + m.total(RegionKind::Kernel)
        + m.total(RegionKind::Loader)
        + m.total(RegionKind::AcpiReclaimable);
    crate::record!("context", |r| r
        .str("git_rev", env!("KERNEL_GIT_REV"))
        .str("cpu_vendor", f.vendor_str())
        .str("cpu_model", f.brand_str())
        .u64("tsc_hz", tsc::hz())
        .str("tsc_source", tsc::source().name())
        .str("tsc_fence", crate::arch::tsc::fence().name())
        .bool("rdtscp", crate::arch::tsc::has_rdtscp())
        .bool("invariant_tsc", f.invariant_tsc)
        .str(
            "tsc_sync",
            if sync.cpus_checked == 0 {
                "unchecked"
            } else if sync.synchronised() {
                "synchronised"
            } else {
                "not_synchronised"
            }
        )
        .u64("tsc_sync_cpus_checked", sync.cpus_checked)
        .u64("tsc_sync_warps", sync.warps)
        .u64("tsc_sync_max_warp", sync.max_warp)
        .str(
            "tsc_adjust",
            match sync.adjust {
                None => "absent",
                Some((true, _)) => "equal",
                Some((false, _)) => "differs",
            }
        )
        .str("hypervisor", f.hypervisor_str())
        .u64("cpus_found", crate::cpu::smp::found_count() as u64)
        .u64("cpus_possible", crate::cpu::smp::cpu_count() as u64)
        .u64("cpus_online", crate::cpu::smp::online_count() as u64)
        .u64("numa_nodes", crate::platform::acpi::numa_nodes() as u64)
        .u64("topology_smt_shift", topo.smt as u64)
        .u64("topology_llc_shift", topo.llc as u64)
        .u64("topology_package_shift", topo.package as u64)
        .str(
            "topology_llc_from",
            match topo.llc_source {
                kernel_core::topology::LlcSource::CacheLeaf => "cache_leaf",
                kernel_core::topology::LlcSource::AssumedPackage => "assumed_package",
            }
        )
        .str(
            "apic_mode",
            if crate::arch::apic::x2apic() {
                "x2apic"
            } else {
                "xapic"
            }
        )
        .u64("memory_bytes", memory_bytes)
        .str("cmdline", info.cmdline())
        .str(
            "boot_protocol",
            match info.protocol {
                kernel_core::bootinfo::Protocol::Multiboot1 => "multiboot1",
                kernel_core::bootinfo::Protocol::Multiboot2 => "multiboot2",
            }
        )
        .str("loader", info.loader_name())
        .bool("nx", f.nx)
        .bool("pages_1g", f.pages_1g)
        .bool("smep", f.smep)
        .bool("smap", f.smap)
        .bool("smep_on", cpu::read_cr4() & cpu::CR4_SMEP != 0)
        .bool("smap_on", cpu::read_cr4() & cpu::CR4_SMAP != 0)
        .bool("pcid", f.pcid)
        .bool("pcid_on", cpu::pcid_enabled())
        .bool("invpcid", f.invpcid)
        .bool("x2apic", f.x2apic));
}
