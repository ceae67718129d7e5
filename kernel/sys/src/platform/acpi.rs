//! The kernel's side of ACPI: reading firmware tables through the direct map (mapped read-only
//! on demand) and turning the MADT into the list of CPUs to bring up.

use kernel_core::acpi::{self, MadtCpus};
use kernel_core::bootinfo::{BootInfo, PhysRead};
use percpu::MAX_CPUS;

use crate::mm::{self, FRAMES, PAGE_SIZE};
use crate::println;

/// Physical memory reached through the direct map; firmware pages not yet mapped are mapped
/// read-only first (RAM is mapped already).
struct Firmware;

impl PhysRead for Firmware {
    fn read(&self, phys: u64, buf: &mut [u8]) -> bool {
        let Some(end) = phys.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > mm::layout::DIRECT_MAP_SIZE {
            return false;
        }
        let virt = mm::map_firmware(phys, buf.len() as u64);
        // SAFETY: [virt, virt + len) is mapped (just now, or as RAM) and only read.
        unsafe { core::ptr::copy_nonoverlapping(virt as *const u8, buf.as_mut_ptr(), buf.len()) };
        true
    }
}

/// Failure injection (`acpi_corrupt_madt`): firmware memory read with the byte at `flip`
/// inverted, the way a corrupted table would read.
struct Corrupted {
    flip: u64,
}

impl PhysRead for Corrupted {
    fn read(&self, phys: u64, buf: &mut [u8]) -> bool {
        if !Firmware.read(phys, buf) {
            return false;
        }
        if let Some(i) = self.flip.checked_sub(phys)
            && let Some(b) = buf.get_mut(i as usize)
        {
            *b = !*b;
        }
        true
    }
}

/// Keep every ACPI table's frames out of the frame allocator, whatever the memory map says
/// (some firmware leaves tables in memory it calls usable). Runs before anything allocates
/// after paging is up; again (harmlessly) when the CPUs are discovered.
pub fn reserve_tables(rsdp: &acpi::Rsdp) {
    let mem = Firmware;
    // (Collected first: reading a table may map it, which takes the allocator's lock.)
    if let Ok(tables) = acpi::tables(&mem, rsdp) {
        let mut ranges = [(0u64, 0u64); 64];
        let root = tables.root();
        ranges[0] = (root.phys, root.phys + root.len as u64);
        let mut n = 1;
        for t in tables.flatten().take(ranges.len() - 1) {
            ranges[n] = (t.phys, t.phys + t.len as u64);
            n += 1;
        }
        let mut frames = FRAMES.lock();
        let alloc = frames.as_mut().expect("allocator");
        for (start, end) in &ranges[..n] {
            alloc.reserve(start & !(PAGE_SIZE - 1), *end);
        }
    }
}

/// The RSDP: the loader's copy, else the one in the BIOS areas; None if neither reads.
fn rsdp(info: &BootInfo) -> Option<acpi::Rsdp> {
    let mem = Firmware;
    info.rsdp
        .or_else(|| acpi::find_rsdp_in_bios(&mem))
        .and_then(|p| acpi::read_rsdp(&mem, p).ok())
}

/// `reserve_tables` from the boot information (nothing to do without an RSDP).
pub fn reserve_tables_early(info: &BootInfo) {
    if let Some(rsdp) = rsdp(info) {
        reserve_tables(&rsdp);
    }
}

/// The fixed-rate timers ACPI describes: the PM timer (FADT) and the HPET (its own table).
/// Either may be absent (a hardware-reduced platform has no PM timer); a missing RSDP or a
/// table that fails its checksum gives none.
pub fn fixed_timers(info: &BootInfo) -> (Option<acpi::PmTimer>, Option<u64>) {
    let mem = Firmware;
    let Some(rsdp) = rsdp(info) else {
        return (None, None);
    };
    let pm = acpi::find_table(&mem, &rsdp, &acpi::FADT_SIGNATURE)
        .ok()
        .flatten()
        .and_then(|t| acpi::fadt_pm_timer(&mem, t));
    let hpet = acpi::find_table(&mem, &rsdp, &acpi::HPET_SIGNATURE)
        .ok()
        .flatten()
        .and_then(|t| acpi::hpet_base(&mem, t));
    (pm, hpet)
}

pub struct Discovered {
    /// CPUs numbered into `ids` (the BSP first).
    pub count: usize,
    /// Enabled CPUs the MADT lists (with the BSP).
    pub found: usize,
    /// Enabled CPUs left parked because there are more than MAX_CPUS windows.
    pub beyond_max: usize,
}

static MADT: spin::Once<MadtCpus> = spin::Once::new();
/// The SRAT's affinities and the SLIT's distances, when the firmware has them and they parse.
static SRAT: spin::Once<Option<acpi::Srat>> = spin::Once::new();
static SLIT: spin::Once<Option<acpi::Slit>> = spin::Once::new();

/// Read the SRAT and the SLIT (NUMA affinities and distances); a table that is missing leaves
/// none, one that is malformed leaves none with an `error` record.
fn read_numa(mem: &Firmware, rsdp: &acpi::Rsdp) {
    let found = |sig: &[u8; 4], name: &str| match acpi::find_table(mem, rsdp, sig) {
        Ok(t) => t,
        Err(e) => {
            println!("acpi: error: {name} unusable: {e}");
            crate::record!("error", |r| r.str("kind", "acpi").str("message", name));
            None
        }
    };
    let srat = found(&acpi::SRAT_SIGNATURE, "SRAT").and_then(|t| {
        acpi::parse_srat(mem, t)
            .map_err(|e| {
                println!("acpi: error: SRAT unusable: {e}");
                crate::record!("error", |r| r
                    .str("kind", "acpi")
                    .str("message", "SRAT unusable"));
            })
            .ok()
    });
    let slit = found(&acpi::SLIT_SIGNATURE, "SLIT").and_then(|t| {
        acpi::parse_slit(mem, t)
            .map_err(|e| {
                println!("acpi: error: SLIT unusable: {e}");
                crate::record!("error", |r| r
                    .str("kind", "acpi")
                    .str("message", "SLIT unusable"));
            })
            .ok()
    });
    if let Some(s) = &srat {
        println!(
            "acpi: SRAT: {} processor and {} memory affinities",
            s.cpus().len(),
            s.memory().len()
        );
    }
    SRAT.call_once(|| srat);
    SLIT.call_once(|| slit);
}

/// The NUMA proximity domain of the CPU with APIC id `apic` (None: no SRAT, or not listed).
pub fn node_of_apic(apic: u32) -> Option<u32> {
    SRAT.get()?.as_ref()?.domain_of(apic)
}

/// The SLIT's distance between two proximity domains (10: local; None: no SLIT).
pub fn node_distance(from: u32, to: u32) -> Option<u8> {
    SLIT.get()?.as_ref()?.distance(from, to)
}

/// Distinct proximity domains of the SRAT's processors (0: no SRAT).
pub fn numa_nodes() -> usize {
    let Some(Some(srat)) = SRAT.get() else {
        return 0;
    };
    let cpus = srat.cpus();
    cpus.iter()
        .enumerate()
        .filter(|(i, c)| !cpus[..*i].iter().any(|d| d.1 == c.1))
        .count()
}

/// Find the RSDP (the loader's copy, else the BIOS areas), the MADT, and number the CPUs
/// into `ids` (logical 0 = the BSP). Err: no usable table (the message is printed).
// The error is reported (printed and recorded) where it is found; the caller only needs to
// know that discovery failed, to go on with the BSP alone.
#[allow(clippy::result_unit_err)]
pub fn discover_cpus(
    info: &BootInfo,
    bsp_apic: u32,
    ids: &mut [u32; MAX_CPUS],
    corrupt_madt: bool,
) -> Result<Discovered, ()> {
    let mem = Firmware;
    let Some(rsdp_phys) = info.rsdp.or_else(|| acpi::find_rsdp_in_bios(&mem)) else {
        println!("acpi: error: no RSDP (the loader gave none and the BIOS areas hold none)");
        crate::record!("error", |r| r.str("kind", "acpi").str("message", "no RSDP"));
        return Err(());
    };
    let fail = |what: &str, e: &dyn core::fmt::Display| {
        println!("acpi: error: {what}: {e}");
        crate::record!("error", |r| r.str("kind", "acpi").str("message", what));
    };
    let rsdp = acpi::read_rsdp(&mem, rsdp_phys).map_err(|e| fail("bad RSDP", &e))?;
    reserve_tables(&rsdp);
    let madt_ref = match acpi::find_table(&mem, &rsdp, &acpi::MADT_SIGNATURE) {
        Ok(Some(t)) => t,
        Ok(None) => {
            println!("acpi: error: no MADT (APIC table)");
            crate::record!("error", |r| r.str("kind", "acpi").str("message", "no MADT"));
            return Err(());
        }
        Err(e) => {
            fail("MADT unusable", &e);
            return Err(());
        }
    };
    if corrupt_madt {
        // The last byte of the MADT, inverted: its checksum no longer adds up, so the table
        // walk must reject it exactly as it would a corrupted one.
        let bad = Corrupted {
            flip: madt_ref.phys + madt_ref.len as u64 - 1,
        };
        println!("acpi: failure injection: reading the MADT with its last byte flipped");
        match acpi::find_table(&bad, &rsdp, &acpi::MADT_SIGNATURE) {
            Ok(_) => {
                println!("acpi: error: the corrupted MADT was accepted");
                crate::record!("error", |r| r
                    .str("kind", "acpi")
                    .str("message", "corrupted MADT accepted"));
            }
            Err(e) => fail("MADT unusable", &e),
        }
        return Err(());
    }
    let parsed = acpi::parse_madt(&mem, madt_ref).map_err(|e| fail("MADT unusable", &e))?;
    let madt = MADT.call_once(|| parsed);
    read_numa(&mem, &rsdp);
    if madt.cpus().is_empty() {
        println!("acpi: error: the MADT lists no enabled CPU");
        return Err(());
    }
    let numbering = acpi::number_cpus(madt, bsp_apic, MAX_CPUS, ids);
    println!(
        "acpi: MADT at {:#x}: {} enabled CPUs, {} online-capable (not woken), {} disabled, \
              {} duplicates, {} with the invalid APIC id, {} enabled and {} online-capable \
              beyond the table's {} entries{}",
        madt_ref.phys,
        madt.cpus().len(),
        madt.online_capable().len(),
        madt.disabled_count,
        madt.duplicate_count,
        madt.invalid_id_count,
        madt.overflow,
        madt.online_capable_overflow,
        acpi::MAX_MADT_CPUS,
        if numbering.bsp_missing_from_madt {
            "; the BSP is not in the MADT"
        } else {
            ""
        }
    );
    Ok(Discovered {
        count: numbering.len,
        // Every enabled CPU the firmware lists, those past the table's capacity included.
        found: madt.cpus().len() + madt.overflow,
        beyond_max: numbering.beyond_max,
    })
}
