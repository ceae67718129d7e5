//! ACPI tables: the RSDP, the RSDT / XSDT, and what the kernel takes from the MADT, FADT and
//! HPET table (ACPI 6.5, chapter 5.2).
//!
//! Everything is read through a [`PhysRead`], a few bytes at a time, into fixed buffers: no
//! allocation, no pointer into firmware memory. The flow at boot:
//!
//! 1. The RSDP comes from the loader (Multiboot2 copies it into a tag) or
//!    [`find_rsdp_in_bios`]; [`read_rsdp`] checks it.
//! 2. [`tables`] walks the XSDT (or the RSDT on ACPI 1.0), checking the root table's checksum,
//!    and yields every listed table with its length and checksum checked; [`find_table`] picks
//!    one by signature.
//! 3. [`parse_madt`] lists the CPUs; [`number_cpus`] gives them logical numbers, the BSP first.
//! 4. [`fadt_pm_timer`] and [`hpet_base`] locate the fixed timers used to calibrate the TSC.
//!
//! Every failure is an [`AcpiError`] whose message names the structure and its address, so the
//! kernel can print it and go on without ACPI (on the BSP alone).

use crate::le::{u32_at, u64_at};
use core::fmt;

use crate::LOW_MEMORY_END;
use crate::bootinfo::PhysRead;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The ACPI structure an [`AcpiError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// The Root System Description Pointer.
    Rsdp,
    /// A table with this signature ("APIC" is shown as MADT, "FACP" as FADT).
    Table([u8; 4]),
    /// A table listed by the RSDT / XSDT whose header could not be read, so whose signature is
    /// unknown.
    Listed,
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Rsdp => f.write_str("RSDP"),
            What::Table(signature) => match table_name(signature) {
                Some(name) => f.write_str(name),
                None => write_signature(f, signature),
            },
            What::Listed => f.write_str("table listed in the RSDT/XSDT"),
        }
    }
}

/// The usual name of a table whose signature differs from it.
fn table_name(signature: &[u8; 4]) -> Option<&'static str> {
    match *signature {
        MADT_SIGNATURE => Some("MADT"),
        FADT_SIGNATURE => Some("FADT"),
        SRAT_SIGNATURE => Some("SRAT"),
        SLIT_SIGNATURE => Some("SLIT"),
        _ => None,
    }
}

/// Writes a signature as text, a non-printable byte as `?`.
fn write_signature(f: &mut fmt::Formatter<'_>, signature: &[u8]) -> fmt::Result {
    for &byte in signature {
        let c = if byte.is_ascii_graphic() || byte == b' ' {
            byte as char
        } else {
            '?'
        };
        fmt::Write::write_char(f, c)?;
    }
    Ok(())
}

/// Why ACPI information could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP: the loader gave none and none is in the BIOS areas.
    NoRsdp,
    /// Physical memory at `phys` could not be read.
    Unreadable {
        /// The structure being read.
        what: What,
        /// Its physical address.
        phys: u64,
    },
    /// The structure at `phys` does not start with the expected signature.
    BadSignature {
        /// The structure expected there.
        what: What,
        /// Its physical address.
        phys: u64,
        /// The first bytes found (four for a table, all eight for the RSDP).
        found: [u8; 8],
    },
    /// The bytes of the structure do not add up to 0 (mod 256).
    BadChecksum {
        /// The structure.
        what: What,
        /// Its physical address.
        phys: u64,
    },
    /// The header's length is shorter than the header or longer than [`MAX_TABLE_LEN`].
    BadLength {
        /// The table.
        what: What,
        /// Its physical address.
        phys: u64,
        /// The length the header gives.
        len: u32,
    },
    /// An entry of the table is cut short or runs past the table's end.
    Truncated {
        /// The table.
        what: What,
        /// Its physical address.
        phys: u64,
        /// Offset of the bad entry from the table's start.
        offset: u32,
    },
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AcpiError::NoRsdp => write!(
                f,
                "no ACPI RSDP: the boot loader gave none and none was found in the EBDA or in \
                 the BIOS area {BIOS_AREA_START:#x}..{BIOS_AREA_END:#x}"
            ),
            AcpiError::Unreadable { what, phys } => {
                write!(f, "{what} at {phys:#x}: cannot be read")
            }
            AcpiError::BadSignature { what, phys, found } => {
                let shown = if what == What::Rsdp { 8 } else { 4 };
                write!(f, "{what} at {phys:#x}: wrong signature \"")?;
                write_signature(f, &found[..shown])?;
                f.write_str("\"")
            }
            AcpiError::BadChecksum { what, phys } => {
                write!(f, "{what} at {phys:#x}: checksum does not add up to 0")
            }
            AcpiError::BadLength { what, phys, len } => write!(
                f,
                "{what} at {phys:#x}: length {len} is outside \
                 {SDT_HEADER_LEN}..={MAX_TABLE_LEN} bytes"
            ),
            AcpiError::Truncated { what, phys, offset } => write!(
                f,
                "{what} at {phys:#x}: the entry at offset {offset:#x} is cut short or runs \
                 past the end of the table"
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading helpers
// ---------------------------------------------------------------------------------------------

/// Reads `buf.len()` bytes at `phys`, refusing a range that wraps around the address space.
fn read(mem: &impl PhysRead, phys: u64, buf: &mut [u8], what: What) -> Result<(), AcpiError> {
    let readable = phys.checked_add(buf.len() as u64).is_some() && mem.read(phys, buf);
    readable
        .then_some(())
        .ok_or(AcpiError::Unreadable { what, phys })
}

/// The sum of `bytes`, mod 256.
fn byte_sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

// ---------------------------------------------------------------------------------------------
// RSDP (ACPI 6.5, 5.2.5)
// ---------------------------------------------------------------------------------------------

/// The RSDP signature, "RSD PTR " (ACPI 6.5, 5.2.5.3).
pub const RSDP_SIGNATURE: [u8; 8] = *b"RSD PTR ";
/// Bytes covered by the ACPI 1.0 checksum: signature through `RsdtAddress`.
const RSDP_V1_LEN: usize = 20;
/// Bytes covered by the extended checksum of an ACPI 2.0+ RSDP (revision >= 2).
const RSDP_V2_LEN: usize = 36;
/// First RSDP revision with `Length`, `XsdtAddress` and the extended checksum.
const RSDP_REVISION_2: u8 = 2;
const RSDP_OEMID: usize = 9;
const RSDP_REVISION: usize = 15;
const RSDP_RSDT_ADDRESS: usize = 16;
const RSDP_XSDT_ADDRESS: usize = 24;
/// The RSDP lies on a 16-byte boundary in the BIOS areas (ACPI 6.5, 5.2.5.1).
const RSDP_ALIGN: usize = 16;

/// BIOS data area word holding the EBDA's real-mode segment (ACPI 6.5, 5.2.5.1).
const BDA_EBDA_SEGMENT: u64 = 0x40E;
/// The RSDP, if in the EBDA, is within its first KiB.
const EBDA_SEARCH_LEN: usize = 1024;
/// An EBDA segment pointing at or below the BIOS data area is not an EBDA (as in ACPICA).
const EBDA_MIN_ADDRESS: u64 = 0x400;
/// Start of the BIOS read-only area searched for the RSDP.
const BIOS_AREA_START: u64 = 0xE_0000;
/// End (exclusive) of the BIOS read-only area searched for the RSDP.
const BIOS_AREA_END: u64 = LOW_MEMORY_END;
/// Bytes read at once while scanning the BIOS area.
const SCAN_CHUNK: usize = 1024;

/// A checked RSDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rsdp {
    /// 0 for ACPI 1.0, 2 for ACPI 2.0 and later.
    pub revision: u8,
    /// Physical address of the RSDT.
    pub rsdt: u32,
    /// Physical address of the XSDT (revision >= 2 and non-zero only); preferred over the RSDT.
    pub xsdt: Option<u64>,
    /// The firmware vendor.
    pub oem_id: [u8; 6],
}

/// Reads and checks the RSDP at `phys`: signature, the 20-byte checksum and, for revision 2 or
/// later, the 36-byte extended checksum.
pub fn read_rsdp(mem: &impl PhysRead, phys: u64) -> Result<Rsdp, AcpiError> {
    let mut bytes = [0; RSDP_V2_LEN];
    read(mem, phys, &mut bytes[..RSDP_V1_LEN], What::Rsdp)?;
    if bytes[..8] != RSDP_SIGNATURE {
        let mut found = [0; 8];
        found.copy_from_slice(&bytes[..8]);
        return Err(AcpiError::BadSignature {
            what: What::Rsdp,
            phys,
            found,
        });
    }
    if byte_sum(&bytes[..RSDP_V1_LEN]) != 0 {
        return Err(AcpiError::BadChecksum {
            what: What::Rsdp,
            phys,
        });
    }
    let revision = bytes[RSDP_REVISION];
    let mut xsdt = None;
    if revision >= RSDP_REVISION_2 {
        read(mem, phys, &mut bytes, What::Rsdp)?;
        if byte_sum(&bytes) != 0 {
            return Err(AcpiError::BadChecksum {
                what: What::Rsdp,
                phys,
            });
        }
        xsdt = Some(u64_at(&bytes, RSDP_XSDT_ADDRESS)).filter(|&a| a != 0);
    }
    let mut oem_id = [0; 6];
    oem_id.copy_from_slice(&bytes[RSDP_OEMID..RSDP_OEMID + 6]);
    Ok(Rsdp {
        revision,
        rsdt: u32_at(&bytes, RSDP_RSDT_ADDRESS),
        xsdt,
        oem_id,
    })
}

/// Searches the BIOS areas for a valid RSDP (ACPI 6.5, 5.2.5.1): the first KiB of the EBDA
/// (whose segment is at 0x40E in the BIOS data area), then 0xE0000..0x100000, on 16-byte
/// boundaries. A candidate with a bad checksum is skipped. Returns the RSDP's address.
pub fn find_rsdp_in_bios(mem: &impl PhysRead) -> Option<u64> {
    let mut segment = [0; 2];
    if mem.read(BDA_EBDA_SEGMENT, &mut segment) {
        let ebda = u64::from(u16::from_le_bytes(segment)) << 4;
        if ebda > EBDA_MIN_ADDRESS
            && let Some(found) = scan_for_rsdp(mem, ebda, ebda + EBDA_SEARCH_LEN as u64)
        {
            return Some(found);
        }
    }
    scan_for_rsdp(mem, BIOS_AREA_START, BIOS_AREA_END)
}

/// Scans `[start, end)` (16-byte aligned) for a valid RSDP; unreadable chunks are skipped.
fn scan_for_rsdp(mem: &impl PhysRead, start: u64, end: u64) -> Option<u64> {
    let mut chunk = [0; SCAN_CHUNK];
    let mut at = start;
    while at < end {
        let len = (end - at).min(SCAN_CHUNK as u64) as usize;
        if mem.read(at, &mut chunk[..len]) {
            for offset in (0..len).step_by(RSDP_ALIGN) {
                let candidate = at + offset as u64;
                if chunk[offset..].starts_with(&RSDP_SIGNATURE) && read_rsdp(mem, candidate).is_ok()
                {
                    return Some(candidate);
                }
            }
        }
        at += len as u64;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// RSDT / XSDT (ACPI 6.5, 5.2.6 - 5.2.8)
// ---------------------------------------------------------------------------------------------

/// Signature of the RSDT (32-bit entries).
pub const RSDT_SIGNATURE: [u8; 4] = *b"RSDT";
/// Signature of the XSDT (64-bit entries).
pub const XSDT_SIGNATURE: [u8; 4] = *b"XSDT";
/// Signature of the MADT, "Multiple APIC Description Table".
pub const MADT_SIGNATURE: [u8; 4] = *b"APIC";
/// Signature of the FADT, "Fixed ACPI Description Table".
pub const FADT_SIGNATURE: [u8; 4] = *b"FACP";
/// Signature of the HPET description table (IA-PC HPET specification 1.0a, 3.2.4).
pub const HPET_SIGNATURE: [u8; 4] = *b"HPET";

/// Bytes of the System Description Table header every table starts with (ACPI 6.5, 5.2.6).
pub const SDT_HEADER_LEN: u32 = 36;
/// Longest table the kernel accepts: a sanity bound that stops a corrupt length from making it
/// read (and map) gigabytes. Real tables listed by the RSDT / XSDT are far smaller.
pub const MAX_TABLE_LEN: u32 = 4 << 20;
const SDT_LENGTH: usize = 4;
const SDT_REVISION: usize = 8;
/// Bytes summed at once while verifying a checksum.
const CHECKSUM_CHUNK: usize = 256;

/// A table whose header length and checksum have been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRef {
    /// The table's signature.
    pub signature: [u8; 4],
    /// Physical address of its header.
    pub phys: u64,
    /// Length in bytes, header included (`SDT_HEADER_LEN..=MAX_TABLE_LEN`).
    pub len: u32,
    /// The header's revision field.
    pub revision: u8,
}

impl TableRef {
    /// Reads `buf.len()` bytes at `offset` in the table; false if they run past its length or
    /// cannot be read.
    fn read_at(&self, mem: &impl PhysRead, offset: u32, buf: &mut [u8]) -> bool {
        let fits = u64::from(offset) + buf.len() as u64 <= u64::from(self.len);
        let phys = self.phys.checked_add(offset.into());
        fits && phys.is_some_and(|phys| read(mem, phys, buf, What::Table(self.signature)).is_ok())
    }
}

/// Reads the header of the table at `phys` and checks its signature (if `expected` is given),
/// its length and its checksum.
fn check_table(
    mem: &impl PhysRead,
    phys: u64,
    expected: Option<[u8; 4]>,
) -> Result<TableRef, AcpiError> {
    let mut header = [0; SDT_HEADER_LEN as usize];
    read(
        mem,
        phys,
        &mut header,
        expected.map_or(What::Listed, What::Table),
    )?;
    let mut signature = [0; 4];
    signature.copy_from_slice(&header[..4]);
    let what = What::Table(expected.unwrap_or(signature));
    if let Some(expected) = expected
        && signature != expected
    {
        let mut found = [0; 8];
        found[..4].copy_from_slice(&signature);
        return Err(AcpiError::BadSignature { what, phys, found });
    }
    let len = u32_at(&header, SDT_LENGTH);
    if !(SDT_HEADER_LEN..=MAX_TABLE_LEN).contains(&len) || phys.checked_add(len.into()).is_none() {
        return Err(AcpiError::BadLength { what, phys, len });
    }
    let mut sum = 0u8;
    let mut chunk = [0; CHECKSUM_CHUNK];
    let mut done = 0u64;
    while done < u64::from(len) {
        let n = (u64::from(len) - done).min(CHECKSUM_CHUNK as u64) as usize;
        read(mem, phys + done, &mut chunk[..n], what)?;
        sum = sum.wrapping_add(byte_sum(&chunk[..n]));
        done += n as u64;
    }
    if sum != 0 {
        return Err(AcpiError::BadChecksum { what, phys });
    }
    Ok(TableRef {
        signature,
        phys,
        len,
        revision: header[SDT_REVISION],
    })
}

/// The tables listed by the root table (see [`tables`]).
pub struct Tables<'m, M: PhysRead> {
    mem: &'m M,
    root: TableRef,
    /// 8 for the XSDT, 4 for the RSDT.
    entry_size: u32,
    /// Offset of the next entry in the root table.
    offset: u32,
}

impl<M: PhysRead> Tables<'_, M> {
    /// The root table itself (the XSDT, or the RSDT on ACPI 1.0).
    pub fn root(&self) -> TableRef {
        self.root
    }
}

impl<M: PhysRead> Iterator for Tables<'_, M> {
    type Item = Result<TableRef, AcpiError>;

    /// The next listed table, checked; an error for one that fails its checks (the iteration
    /// goes on after it). Null entries are skipped.
    fn next(&mut self) -> Option<Self::Item> {
        while self.offset + self.entry_size <= self.root.len {
            let mut entry = [0; 8];
            let entry = &mut entry[..self.entry_size as usize];
            let at = self.offset;
            self.offset += self.entry_size;
            if !self.root.read_at(self.mem, at, entry) {
                return Some(Err(AcpiError::Unreadable {
                    what: What::Table(self.root.signature),
                    phys: self.root.phys + u64::from(at),
                }));
            }
            let phys = match self.entry_size {
                8 => u64_at(entry, 0),
                _ => u64::from(u32_at(entry, 0)),
            };
            if phys != 0 {
                return Some(check_table(self.mem, phys, None));
            }
        }
        None
    }
}

/// The tables listed by the XSDT (8-byte entries) when the RSDP gives one, else by the RSDT
/// (4-byte entries). The root table's signature, length and checksum are checked here (an error
/// if they fail); each listed table is checked as the iterator reaches it. Bytes after the last
/// whole entry are ignored.
pub fn tables<'m, M: PhysRead>(mem: &'m M, rsdp: &Rsdp) -> Result<Tables<'m, M>, AcpiError> {
    let (phys, signature, entry_size) = match rsdp.xsdt {
        Some(xsdt) => (xsdt, XSDT_SIGNATURE, 8),
        None => (u64::from(rsdp.rsdt), RSDT_SIGNATURE, 4),
    };
    let root = check_table(mem, phys, Some(signature))?;
    Ok(Tables {
        mem,
        root,
        entry_size,
        offset: SDT_HEADER_LEN,
    })
}

/// The first listed table with `signature` that passes its checks.
///
/// A table with that signature which fails its length or checksum check is skipped; if no other
/// copy passes, the first such failure is returned, so that a corrupt MADT is reported as
/// corrupt rather than missing. A listed table whose header cannot be read is skipped (its
/// signature is unknown; [`tables`] reports it). `Ok(None)`: no table has that signature.
pub fn find_table(
    mem: &impl PhysRead,
    rsdp: &Rsdp,
    signature: &[u8; 4],
) -> Result<Option<TableRef>, AcpiError> {
    let mut failure = None;
    for table in tables(mem, rsdp)? {
        match table {
            Ok(table) if table.signature == *signature => return Ok(Some(table)),
            Err(
                error @ (AcpiError::BadChecksum { what, .. }
                | AcpiError::BadLength { what, .. }
                | AcpiError::Unreadable { what, .. }),
            ) if what == What::Table(*signature) => {
                failure.get_or_insert(error);
            }
            _ => {}
        }
    }
    failure.map_or(Ok(None), Err)
}

// ---------------------------------------------------------------------------------------------
// MADT (ACPI 6.5, 5.2.12)
// ---------------------------------------------------------------------------------------------

/// Capacity of [`MadtCpus`]: enabled and online-capable entries together.
pub const MAX_MADT_CPUS: usize = 1024;

const MADT_LOCAL_APIC_ADDRESS: usize = 36;
const MADT_FLAGS: usize = 40;
/// Offset of the first Interrupt Controller Structure.
const MADT_ENTRIES: u32 = 44;
/// MADT flags bit 0, `PCAT_COMPAT`: the system also has dual 8259 PICs.
const MADT_PCAT_COMPAT: u32 = 1 << 0;

/// Interrupt Controller Structure type 0: Processor Local APIC (ACPI 6.5, 5.2.12.2).
const MADT_TYPE_LOCAL_APIC: u8 = 0;
/// Type 5: Local APIC Address Override (ACPI 6.5, 5.2.12.8).
const MADT_TYPE_LOCAL_APIC_ADDRESS_OVERRIDE: u8 = 5;
/// Type 9: Processor Local x2APIC (ACPI 6.5, 5.2.12.12).
const MADT_TYPE_LOCAL_X2APIC: u8 = 9;
/// Bytes of a type 0 entry: type, length, ACPI Processor UID, APIC ID, flags (u32).
const LOCAL_APIC_LEN: usize = 8;
/// Bytes of a type 5 entry: type, length, reserved (2), address (u64).
const LOCAL_APIC_ADDRESS_OVERRIDE_LEN: usize = 12;
/// Bytes of a type 9 entry: type, length, reserved (2), x2APIC ID, flags, ACPI Processor UID.
const LOCAL_X2APIC_LEN: usize = 16;
/// Longest entry the parser reads (the known types' fixed parts).
const MADT_ENTRY_MAX: usize = LOCAL_X2APIC_LEN;
/// Local APIC flags bit 0, `Enabled`: the processor is ready for use.
const LAPIC_FLAG_ENABLED: u32 = 1 << 0;
/// Local APIC flags bit 1, `Online Capable`: a disabled processor that can be enabled at run
/// time (hot plug); meaningful only when `Enabled` is clear.
const LAPIC_FLAG_ONLINE_CAPABLE: u32 = 1 << 1;
/// A type 0 entry with this APIC ID describes no processor.
const INVALID_XAPIC_ID: u8 = 0xFF;
/// A type 9 entry with this x2APIC ID describes no processor.
const INVALID_X2APIC_ID: u32 = 0xFFFF_FFFF;

/// One processor the MADT lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MadtCpu {
    /// Its local APIC ID (x2APIC ID for a type 9 entry).
    pub apic_id: u32,
    /// Its ACPI Processor UID (matches the `_UID` of its processor device in the namespace).
    pub acpi_uid: u32,
    /// Listed by a Processor Local x2APIC (type 9) entry rather than a Local APIC (type 0) one.
    pub x2apic_entry: bool,
}

/// The processors the MADT lists, and its interrupt-controller facts the kernel uses.
///
/// About 12 KiB: keep it in a static or on a large stack.
#[derive(Clone)]
pub struct MadtCpus {
    /// Physical address of the local APIC registers: the MADT header's 32-bit field, or the
    /// 64-bit one of a Local APIC Address Override (type 5) entry when there is one.
    pub local_apic_address: u64,
    /// `PCAT_COMPAT`: legacy 8259 PICs are present (and must be masked).
    pub pcat_compat: bool,
    /// Enabled entries, then (from the end, backwards) online-capable ones.
    entries: [MadtCpu; MAX_MADT_CPUS],
    /// Enabled entries at `entries[..enabled]`.
    enabled: usize,
    /// Online-capable entries at `entries[MAX_MADT_CPUS - online_capable..]`, MADT order
    /// reversed.
    online_capable: usize,
    /// Entries neither enabled nor online capable (absent processors).
    pub disabled_count: usize,
    /// Enabled or online-capable entries with the invalid APIC ID (0xFF in type 0, 0xFFFFFFFF
    /// in type 9).
    pub invalid_id_count: usize,
    /// Entries whose APIC ID an earlier entry already gave (the first wins).
    pub duplicate_count: usize,
    /// Enabled entries that did not fit in [`MAX_MADT_CPUS`]: never numbered nor woken.
    pub overflow: usize,
    /// Online-capable entries that did not fit in [`MAX_MADT_CPUS`].
    pub online_capable_overflow: usize,
}

impl fmt::Debug for MadtCpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MadtCpus")
            .field("local_apic_address", &self.local_apic_address)
            .field("pcat_compat", &self.pcat_compat)
            .field("cpus", &self.cpus())
            .field("online_capable", &self.online_capable().len())
            .field("disabled_count", &self.disabled_count)
            .field("invalid_id_count", &self.invalid_id_count)
            .field("duplicate_count", &self.duplicate_count)
            .field("overflow", &self.overflow)
            .field("online_capable_overflow", &self.online_capable_overflow)
            .finish()
    }
}

impl MadtCpus {
    const EMPTY: MadtCpu = MadtCpu {
        apic_id: 0,
        acpi_uid: 0,
        x2apic_entry: false,
    };

    fn new(local_apic_address: u64, pcat_compat: bool) -> Self {
        MadtCpus {
            local_apic_address,
            pcat_compat,
            entries: [Self::EMPTY; MAX_MADT_CPUS],
            enabled: 0,
            online_capable: 0,
            disabled_count: 0,
            invalid_id_count: 0,
            duplicate_count: 0,
            overflow: 0,
            online_capable_overflow: 0,
        }
    }

    /// The enabled processors, in MADT order, without duplicates.
    pub fn cpus(&self) -> &[MadtCpu] {
        &self.entries[..self.enabled]
    }

    /// The online-capable processors (hot-plug slots, not to be woken), in MADT order, without
    /// duplicates.
    pub fn online_capable(&self) -> impl ExactSizeIterator<Item = &MadtCpu> {
        self.entries[MAX_MADT_CPUS - self.online_capable..]
            .iter()
            .rev()
    }

    /// Whether an earlier entry gave `apic_id`.
    fn seen(&self, apic_id: u32) -> bool {
        self.cpus().iter().any(|c| c.apic_id == apic_id)
            || self.online_capable().any(|c| c.apic_id == apic_id)
    }

    /// Records one processor entry.
    fn add(&mut self, cpu: MadtCpu, flags: u32, id_valid: bool) {
        let enabled = flags & LAPIC_FLAG_ENABLED != 0;
        if !enabled && flags & LAPIC_FLAG_ONLINE_CAPABLE == 0 {
            self.disabled_count += 1;
        } else if !id_valid {
            self.invalid_id_count += 1;
        } else if self.seen(cpu.apic_id) {
            self.duplicate_count += 1;
        } else if self.enabled + self.online_capable == MAX_MADT_CPUS {
            if enabled {
                self.overflow += 1;
            } else {
                self.online_capable_overflow += 1;
            }
        } else if enabled {
            self.entries[self.enabled] = cpu;
            self.enabled += 1;
        } else {
            self.online_capable += 1;
            self.entries[MAX_MADT_CPUS - self.online_capable] = cpu;
        }
    }
}

/// Lists the processors of the MADT `table` (from [`find_table`] with [`MADT_SIGNATURE`]).
///
/// Processor Local APIC (type 0) and Processor Local x2APIC (type 9) entries are kept when
/// enabled (in [`MadtCpus::cpus`]) or online capable (in [`MadtCpus::online_capable`]); others
/// are counted. A Local APIC Address Override (type 5) replaces the header's local APIC
/// address. Other entry types are skipped by their length. An entry with a length below 2, or
/// shorter than its type's structure, or running past the table's end, is
/// [`AcpiError::Truncated`].
pub fn parse_madt(mem: &impl PhysRead, table: TableRef) -> Result<MadtCpus, AcpiError> {
    let what = What::Table(MADT_SIGNATURE);
    let phys = table.phys;
    if table.signature != MADT_SIGNATURE {
        let mut found = [0; 8];
        found[..4].copy_from_slice(&table.signature);
        return Err(AcpiError::BadSignature { what, phys, found });
    }
    let mut fixed = [0; MADT_ENTRIES as usize];
    if !table.read_at(mem, 0, &mut fixed) {
        return Err(AcpiError::Truncated {
            what,
            phys,
            offset: SDT_HEADER_LEN,
        });
    }
    let mut madt = MadtCpus::new(
        u64::from(u32_at(&fixed, MADT_LOCAL_APIC_ADDRESS)),
        u32_at(&fixed, MADT_FLAGS) & MADT_PCAT_COMPAT != 0,
    );
    let needed = |kind| match kind {
        MADT_TYPE_LOCAL_APIC => LOCAL_APIC_LEN,
        MADT_TYPE_LOCAL_APIC_ADDRESS_OVERRIDE => LOCAL_APIC_ADDRESS_OVERRIDE_LEN,
        MADT_TYPE_LOCAL_X2APIC => LOCAL_X2APIC_LEN,
        _ => 0,
    };
    for_each_entry::<MADT_ENTRY_MAX>(mem, table, MADT_ENTRIES, needed, |kind, entry| match kind {
        MADT_TYPE_LOCAL_APIC => {
            let apic_id = entry[3];
            let cpu = MadtCpu {
                apic_id: apic_id.into(),
                acpi_uid: entry[2].into(),
                x2apic_entry: false,
            };
            madt.add(cpu, u32_at(&entry, 4), apic_id != INVALID_XAPIC_ID);
        }
        MADT_TYPE_LOCAL_APIC_ADDRESS_OVERRIDE => {
            madt.local_apic_address = u64_at(&entry, 4);
        }
        MADT_TYPE_LOCAL_X2APIC => {
            let apic_id = u32_at(&entry, 4);
            let cpu = MadtCpu {
                apic_id,
                acpi_uid: u32_at(&entry, 12),
                x2apic_entry: true,
            };
            madt.add(cpu, u32_at(&entry, 8), apic_id != INVALID_X2APIC_ID);
        }
        _ => {}
    })?;
    Ok(madt)
}

/// Walks the entries of `table` from offset `first`: each is (type, length, ...), and `visit`
/// gets its type and its first `needed(type)` bytes (at most `N`; 0: a type the caller skips).
/// An entry with a length below 2, shorter than `needed`, or running past the table's end is
/// [`AcpiError::Truncated`]: a bad length never loops and never reads past the table.
fn for_each_entry<const N: usize>(
    mem: &impl PhysRead,
    table: TableRef,
    first: u32,
    needed: impl Fn(u8) -> usize,
    mut visit: impl FnMut(u8, [u8; N]),
) -> Result<(), AcpiError> {
    let what = What::Table(table.signature);
    let phys = table.phys;
    let mut offset = first;
    while offset < table.len {
        let truncated = AcpiError::Truncated { what, phys, offset };
        let mut entry = [0; N];
        if !table.read_at(mem, offset, &mut entry[..2]) {
            return Err(truncated);
        }
        let (kind, len) = (entry[0], usize::from(entry[1]));
        if len < 2 || u64::from(offset) + len as u64 > u64::from(table.len) {
            return Err(truncated);
        }
        let needed = needed(kind).min(N);
        if len < needed {
            return Err(truncated);
        }
        if needed > 0 && !table.read_at(mem, offset, &mut entry[..needed]) {
            return Err(AcpiError::Unreadable {
                what,
                phys: phys + u64::from(offset),
            });
        }
        visit(kind, entry);
        offset += len as u32;
    }
    Ok(())
}

/// How [`number_cpus`] numbered the processors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbering {
    /// CPUs numbered: `out[..len]` holds the APIC ID of logical CPU 0, 1, ...
    pub len: usize,
    /// The BSP's APIC ID is not among the MADT's enabled processors (it was numbered 0 anyway).
    pub bsp_missing_from_madt: bool,
    /// Enabled processors left unnumbered (so never woken): those past `max`, plus the MADT's
    /// [`MadtCpus::overflow`] (which may include the BSP itself, counted twice then).
    pub beyond_max: usize,
}

/// Gives logical numbers to the processors before any AP is woken: logical 0 is the BSP (whether
/// or not the MADT lists it), then the other enabled processors in MADT order, at most `max`
/// (and at most `out.len()`) in all. `out[n]` receives the APIC ID of logical CPU `n`.
pub fn number_cpus(madt: &MadtCpus, bsp_apic_id: u32, max: usize, out: &mut [u32]) -> Numbering {
    let limit = max.min(out.len());
    let mut numbering = Numbering {
        len: 0,
        bsp_missing_from_madt: !madt.cpus().iter().any(|c| c.apic_id == bsp_apic_id),
        beyond_max: madt.overflow,
    };
    let others = madt.cpus().iter().map(|c| c.apic_id);
    for apic_id in core::iter::once(bsp_apic_id).chain(others.filter(|&id| id != bsp_apic_id)) {
        if numbering.len < limit {
            out[numbering.len] = apic_id;
            numbering.len += 1;
        } else {
            numbering.beyond_max += 1;
        }
    }
    numbering
}

// ---------------------------------------------------------------------------------------------
// FADT (ACPI 6.5, 5.2.9) and HPET (IA-PC HPET 1.0a, 3.2.4)
// ---------------------------------------------------------------------------------------------

/// FADT `PM_TMR_BLK`: I/O port of the ACPI PM timer (u32).
const FADT_PM_TMR_BLK: u32 = 76;
/// FADT `PM_TMR_LEN`: 4 when the PM timer is supported, 0 otherwise (u8).
const FADT_PM_TMR_LEN: u32 = 91;
/// FADT `Flags` (u32).
const FADT_FLAGS: u32 = 112;
/// FADT `X_PM_TMR_BLK`: Generic Address Structure of the PM timer (ACPI 2.0+).
const FADT_X_PM_TMR_BLK: u32 = 208;
/// FADT flags bit 8, `TMR_VAL_EXT`: the PM timer counts on 32 bits (else 24).
const FADT_TMR_VAL_EXT: u32 = 1 << 8;
/// FADT flags bit 20, `HW_REDUCED_ACPI`: no fixed hardware, hence no PM timer.
const FADT_HW_REDUCED_ACPI: u32 = 1 << 20;
/// `PM_TMR_LEN` of a supported PM timer.
const PM_TMR_LEN: u8 = 4;
/// HPET table: the `BASE_ADDRESS` Generic Address Structure.
const HPET_BASE_ADDRESS: u32 = 40;

/// Bytes of a Generic Address Structure (ACPI 6.5, 5.2.3.2).
const GAS_LEN: usize = 12;
const GAS_ADDRESS: usize = 4;
/// GAS `Address Space ID` 0: system memory.
const GAS_SYSTEM_MEMORY: u8 = 0;
/// GAS `Address Space ID` 1: system I/O.
const GAS_SYSTEM_IO: u8 = 1;

/// Where the ACPI PM timer's counter is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmTimerAddress {
    /// An I/O port (the usual case).
    Io(u16),
    /// A memory-mapped register at this physical address.
    Memory(u64),
}

/// The ACPI PM timer: a 3.579545 MHz counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmTimer {
    /// Where its counter is read.
    pub address: PmTimerAddress,
    /// The counter has 32 bits (`TMR_VAL_EXT`); else 24, so it wraps every 4.7 s.
    pub is_32bit: bool,
}

/// The PM timer of the FADT `table`, if it has one: `X_PM_TMR_BLK` when the table is long
/// enough and it gives a system memory or system I/O address, else `PM_TMR_BLK` if
/// `PM_TMR_LEN` is 4. None on a hardware-reduced ACPI system.
pub fn fadt_pm_timer(mem: &impl PhysRead, table: TableRef) -> Option<PmTimer> {
    if table.signature != FADT_SIGNATURE {
        return None;
    }
    let mut flags = [0; 4];
    if !table.read_at(mem, FADT_FLAGS, &mut flags) {
        return None;
    }
    let flags = u32::from_le_bytes(flags);
    if flags & FADT_HW_REDUCED_ACPI != 0 {
        return None;
    }
    let is_32bit = flags & FADT_TMR_VAL_EXT != 0;
    let mut gas = [0; GAS_LEN];
    if table.read_at(mem, FADT_X_PM_TMR_BLK, &mut gas) {
        let address = u64_at(&gas, GAS_ADDRESS);
        let address = match gas[0] {
            _ if address == 0 => None,
            GAS_SYSTEM_IO => u16::try_from(address).ok().map(PmTimerAddress::Io),
            GAS_SYSTEM_MEMORY => Some(PmTimerAddress::Memory(address)),
            _ => None,
        };
        if let Some(address) = address {
            return Some(PmTimer { address, is_32bit });
        }
    }
    let (mut port, mut len) = ([0; 4], [0; 1]);
    if !table.read_at(mem, FADT_PM_TMR_BLK, &mut port)
        || !table.read_at(mem, FADT_PM_TMR_LEN, &mut len)
        || len[0] != PM_TMR_LEN
    {
        return None;
    }
    let port = u16::try_from(u32::from_le_bytes(port))
        .ok()
        .filter(|&p| p != 0)?;
    Some(PmTimer {
        address: PmTimerAddress::Io(port),
        is_32bit,
    })
}

/// Physical address of the HPET registers from the HPET `table`: its base address, if in
/// system memory and non-zero.
pub fn hpet_base(mem: &impl PhysRead, table: TableRef) -> Option<u64> {
    let mut gas = [0; GAS_LEN];
    if table.signature != HPET_SIGNATURE
        || !table.read_at(mem, HPET_BASE_ADDRESS, &mut gas)
        || gas[0] != GAS_SYSTEM_MEMORY
    {
        return None;
    }
    Some(u64_at(&gas, GAS_ADDRESS)).filter(|&a| a != 0)
}

// ---------------------------------------------------------------------------------------------
// SRAT and SLIT (ACPI 6.5, 5.2.16 and 5.2.17): NUMA proximity domains and their distances
// ---------------------------------------------------------------------------------------------

/// Signature of the SRAT, "System Resource Affinity Table".
pub const SRAT_SIGNATURE: [u8; 4] = *b"SRAT";
/// Signature of the SLIT, "System Locality Information Table".
pub const SLIT_SIGNATURE: [u8; 4] = *b"SLIT";
/// The SRAT's entries start after the header, 4 reserved bytes (value 1) and 8 reserved.
const SRAT_ENTRIES: u32 = 48;
/// Type 0: Processor Local APIC/SAPIC Affinity, 16 bytes: domain bits 7:0 at 2, APIC ID at 3,
/// flags at 4, domain bits 31:8 at 9..12.
const SRAT_TYPE_LAPIC: u8 = 0;
const SRAT_LAPIC_LEN: usize = 16;
/// Type 1: Memory Affinity, 40 bytes: domain at 2, base at 8, length at 16, flags at 28.
const SRAT_TYPE_MEMORY: u8 = 1;
const SRAT_MEMORY_LEN: usize = 40;
/// Type 2: Processor Local x2APIC Affinity, 24 bytes: domain at 4, x2APIC ID at 8, flags at 12.
const SRAT_TYPE_X2APIC: u8 = 2;
const SRAT_X2APIC_LEN: usize = 24;
/// Flags bit 0 of every affinity structure: `Enabled` (ignore the entry when clear).
const SRAT_FLAG_ENABLED: u32 = 1 << 0;
/// Processors and memory ranges [`Srat`] keeps.
pub const MAX_SRAT_CPUS: usize = 1024;
/// Memory ranges [`Srat`] keeps.
pub const MAX_SRAT_MEMORY: usize = 64;

/// One memory range of a proximity domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SratMemory {
    /// Physical base and length in bytes.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// Its proximity domain.
    pub domain: u32,
}

/// The enabled processor and memory affinities of the SRAT.
///
/// About 9 KiB: keep it in a static or on a large stack.
#[derive(Clone)]
pub struct Srat {
    cpus: [(u32, u32); MAX_SRAT_CPUS],
    ncpus: usize,
    memory: [SratMemory; MAX_SRAT_MEMORY],
    nmemory: usize,
    /// Entries beyond the capacities (left out).
    pub dropped: usize,
}

impl Srat {
    /// (APIC id, proximity domain) of every enabled processor, in table order.
    pub fn cpus(&self) -> &[(u32, u32)] {
        &self.cpus[..self.ncpus]
    }

    /// The enabled memory ranges, in table order.
    pub fn memory(&self) -> &[SratMemory] {
        &self.memory[..self.nmemory]
    }

    /// The proximity domain of the processor with APIC id `apic_id`.
    pub fn domain_of(&self, apic_id: u32) -> Option<u32> {
        self.cpus().iter().find(|c| c.0 == apic_id).map(|c| c.1)
    }
}

/// Parses the SRAT `table` (from [`find_table`] with [`SRAT_SIGNATURE`]): Processor Local
/// APIC (type 0), Memory (type 1) and Processor Local x2APIC (type 2) affinities, kept when
/// enabled; other types are skipped by their length. An entry with a length below 2, shorter
/// than its type's structure, or running past the table's end is [`AcpiError::Truncated`]:
/// a bad length never loops and never reads past the table.
pub fn parse_srat(mem: &impl PhysRead, table: TableRef) -> Result<Srat, AcpiError> {
    let what = What::Table(SRAT_SIGNATURE);
    let phys = table.phys;
    if table.signature != SRAT_SIGNATURE {
        let mut found = [0; 8];
        found[..4].copy_from_slice(&table.signature);
        return Err(AcpiError::BadSignature { what, phys, found });
    }
    let mut srat = Srat {
        cpus: [(0, 0); MAX_SRAT_CPUS],
        ncpus: 0,
        memory: [SratMemory::default(); MAX_SRAT_MEMORY],
        nmemory: 0,
        dropped: 0,
    };
    if table.len < SRAT_ENTRIES {
        return Err(AcpiError::Truncated {
            what,
            phys,
            offset: SRAT_ENTRIES,
        });
    }
    let needed = |kind| match kind {
        SRAT_TYPE_LAPIC => SRAT_LAPIC_LEN,
        SRAT_TYPE_MEMORY => SRAT_MEMORY_LEN,
        SRAT_TYPE_X2APIC => SRAT_X2APIC_LEN,
        _ => 0,
    };
    for_each_entry::<SRAT_MEMORY_LEN>(mem, table, SRAT_ENTRIES, needed, |kind, entry| {
        let cpu = match kind {
            SRAT_TYPE_LAPIC => {
                let domain = u32::from(entry[2])
                    | u32::from(entry[9]) << 8
                    | u32::from(entry[10]) << 16
                    | u32::from(entry[11]) << 24;
                (u32_at(&entry, 4) & SRAT_FLAG_ENABLED != 0)
                    .then_some((u32::from(entry[3]), domain))
            }
            SRAT_TYPE_X2APIC => (u32_at(&entry, 12) & SRAT_FLAG_ENABLED != 0)
                .then(|| (u32_at(&entry, 8), u32_at(&entry, 4))),
            _ => None,
        };
        if let Some(c) = cpu {
            if srat.ncpus < MAX_SRAT_CPUS {
                srat.cpus[srat.ncpus] = c;
                srat.ncpus += 1;
            } else {
                srat.dropped += 1;
            }
        }
        if kind == SRAT_TYPE_MEMORY && u32_at(&entry, 28) & SRAT_FLAG_ENABLED != 0 {
            let m = SratMemory {
                base: u64_at(&entry, 8),
                len: u64_at(&entry, 16),
                domain: u32_at(&entry, 2),
            };
            if srat.nmemory < MAX_SRAT_MEMORY {
                srat.memory[srat.nmemory] = m;
                srat.nmemory += 1;
            } else {
                srat.dropped += 1;
            }
        }
    })?;
    Ok(srat)
}

/// Localities [`Slit`] keeps (a matrix of this many squared bytes).
pub const MAX_SLIT_LOCALITIES: usize = 64;

/// The SLIT's relative distances between proximity domains (10: local).
#[derive(Clone)]
pub struct Slit {
    n: usize,
    matrix: [u8; MAX_SLIT_LOCALITIES * MAX_SLIT_LOCALITIES],
}

impl Slit {
    /// Number of localities.
    pub fn localities(&self) -> usize {
        self.n
    }

    /// The distance from domain `from` to domain `to` (None outside the matrix).
    pub fn distance(&self, from: u32, to: u32) -> Option<u8> {
        let (f, t) = (from as usize, to as usize);
        (f < self.n && t < self.n).then(|| self.matrix[f * self.n + t])
    }
}

/// Parses the SLIT `table`: the locality count (u64 at 36) and the count² distance bytes after
/// it, which must fit the table; more than [`MAX_SLIT_LOCALITIES`] localities is
/// [`AcpiError::BadLength`].
pub fn parse_slit(mem: &impl PhysRead, table: TableRef) -> Result<Slit, AcpiError> {
    let what = What::Table(SLIT_SIGNATURE);
    let phys = table.phys;
    if table.signature != SLIT_SIGNATURE {
        let mut found = [0; 8];
        found[..4].copy_from_slice(&table.signature);
        return Err(AcpiError::BadSignature { what, phys, found });
    }
    let mut count = [0u8; 8];
    if !table.read_at(mem, SDT_HEADER_LEN, &mut count) {
        return Err(AcpiError::Truncated {
            what,
            phys,
            offset: SDT_HEADER_LEN,
        });
    }
    let n = u64_at(&count, 0);
    let cells = n.checked_mul(n);
    let fits = cells.is_some_and(|c| u64::from(SDT_HEADER_LEN) + 8 + c <= u64::from(table.len));
    if n as usize > MAX_SLIT_LOCALITIES || !fits {
        return Err(AcpiError::BadLength {
            what,
            phys,
            len: table.len,
        });
    }
    let n = n as usize;
    let mut slit = Slit {
        n,
        matrix: [0; MAX_SLIT_LOCALITIES * MAX_SLIT_LOCALITIES],
    };
    if !table.read_at(mem, SDT_HEADER_LEN + 8, &mut slit.matrix[..n * n]) {
        return Err(AcpiError::Unreadable { what, phys });
    }
    Ok(slit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Physical memory for tests: a few byte ranges, everything else unreadable.
    struct FakeMem {
        ranges: Vec<(u64, Vec<u8>)>,
    }

    /// Where the builder lays out tables.
    const TABLES: u64 = 0x7FE0_0000;
    /// Low memory: the BIOS data area, the EBDA, the BIOS area.
    const LOW: (u64, usize) = (0, 0x10_0000);
    /// EBDA of the tests (segment 0x9FC0).
    const EBDA: u64 = 0x9_FC00;

    impl FakeMem {
        fn new() -> Self {
            FakeMem {
                ranges: vec![(LOW.0, vec![0; LOW.1]), (TABLES, vec![0; 0x4_0000])],
            }
        }

        fn add_range(&mut self, base: u64, len: usize) {
            self.ranges.push((base, vec![0; len]));
        }

        fn put(&mut self, phys: u64, data: &[u8]) {
            let (base, bytes) = self
                .ranges
                .iter_mut()
                .find(|(base, bytes)| phys >= *base && phys - *base < bytes.len() as u64)
                .expect("no range there");
            let at = (phys - *base) as usize;
            bytes[at..at + data.len()].copy_from_slice(data);
        }
    }

    impl PhysRead for FakeMem {
        fn read(&self, phys: u64, buf: &mut [u8]) -> bool {
            for (base, bytes) in &self.ranges {
                if let Some(at) = phys.checked_sub(*base)
                    && let Some(src) = bytes.get(at as usize..at as usize + buf.len())
                {
                    buf.copy_from_slice(src);
                    return true;
                }
            }
            false
        }
    }

    /// Sets `bytes[at]` so that the sum of `bytes[..len]` is 0.
    fn fix_checksum(bytes: &mut [u8], at: usize, len: usize) {
        bytes[at] = 0;
        bytes[at] = 0u8.wrapping_sub(byte_sum(&bytes[..len]));
    }

    /// A table: header (length and checksum filled in) followed by `body`.
    fn table(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(signature);
        t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
        t.push(revision);
        t.push(0); // checksum
        t.extend_from_slice(b"TESTOE"); // OEMID
        t.extend_from_slice(b"TESTTABL"); // OEM Table ID
        t.extend_from_slice(&1u32.to_le_bytes()); // OEM Revision
        t.extend_from_slice(b"TEST"); // Creator ID
        t.extend_from_slice(&1u32.to_le_bytes()); // Creator Revision
        assert_eq!(t.len(), 36);
        t.extend_from_slice(body);
        let len = t.len();
        fix_checksum(&mut t, 9, len);
        t
    }

    fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(b"RSD PTR ");
        r.push(0);
        r.extend_from_slice(b"BOCHS ");
        r.push(revision);
        r.extend_from_slice(&rsdt.to_le_bytes());
        r.extend_from_slice(&36u32.to_le_bytes());
        r.extend_from_slice(&xsdt.to_le_bytes());
        r.extend_from_slice(&[0; 4]);
        fix_checksum(&mut r, 8, 20);
        if revision >= 2 {
            fix_checksum(&mut r, 32, 36);
            r
        } else {
            r.truncate(20);
            r
        }
    }

    fn lapic(uid: u8, id: u8, flags: u32) -> Vec<u8> {
        let mut e = vec![0, 8, uid, id];
        e.extend_from_slice(&flags.to_le_bytes());
        e
    }

    fn x2apic(id: u32, flags: u32, uid: u32) -> Vec<u8> {
        let mut e = vec![9, 16, 0, 0];
        e.extend_from_slice(&id.to_le_bytes());
        e.extend_from_slice(&flags.to_le_bytes());
        e.extend_from_slice(&uid.to_le_bytes());
        e
    }

    fn lapic_override(address: u64) -> Vec<u8> {
        let mut e = vec![5, 12, 0, 0];
        e.extend_from_slice(&address.to_le_bytes());
        e
    }

    /// An I/O APIC entry (type 1), which the parser skips.
    fn ioapic() -> Vec<u8> {
        let mut e = vec![1, 12, 0, 0];
        e.extend_from_slice(&0xFEC0_0000u32.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes());
        e
    }

    fn madt(flags: u32, entries: &[Vec<u8>]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&0xFEE0_0000u32.to_le_bytes());
        body.extend_from_slice(&flags.to_le_bytes());
        for e in entries {
            body.extend_from_slice(e);
        }
        table(b"APIC", 5, &body)
    }

    /// A Generic Address Structure.
    fn gas(space: u8, width: u8, address: u64) -> [u8; 12] {
        let mut g = [0; 12];
        g[0] = space;
        g[1] = width;
        g[3] = 3;
        g[4..].copy_from_slice(&address.to_le_bytes());
        g
    }

    /// A FADT of `len` bytes (116 for ACPI 1.0, 276 for ACPI 6).
    fn fadt(
        len: usize,
        pm_tmr_blk: u32,
        pm_tmr_len: u8,
        flags: u32,
        x_pm_tmr: [u8; 12],
    ) -> Vec<u8> {
        let mut body = vec![0; len - 36];
        body[76 - 36..80 - 36].copy_from_slice(&pm_tmr_blk.to_le_bytes());
        body[91 - 36] = pm_tmr_len;
        body[112 - 36..116 - 36].copy_from_slice(&flags.to_le_bytes());
        if len >= 220 {
            body[208 - 36..220 - 36].copy_from_slice(&x_pm_tmr);
        }
        table(b"FACP", if len > 116 { 6 } else { 1 }, &body)
    }

    fn hpet(space: u8, base: u64) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&0x8086_A201u32.to_le_bytes()); // Event Timer Block ID
        body.extend_from_slice(&gas(space, 64, base));
        body.extend_from_slice(&[0, 0x80, 0, 0]); // HPET number, minimum tick, attributes
        table(b"HPET", 1, &body)
    }

    /// A machine under construction: tables laid out one after another from [`TABLES`].
    struct Builder {
        mem: FakeMem,
        next: u64,
    }

    impl Builder {
        fn new() -> Self {
            Builder {
                mem: FakeMem::new(),
                next: TABLES,
            }
        }

        /// Places `bytes` at the next free 16-byte boundary; returns their address.
        fn place(&mut self, bytes: &[u8]) -> u64 {
            let at = self.next;
            self.mem.put(at, bytes);
            self.next = (at + bytes.len() as u64).next_multiple_of(16);
            at
        }

        /// Lays out `tables`, an RSDT and (if `with_xsdt`) an XSDT listing them, and an RSDP
        /// (revision 2 if `with_xsdt`, else 0) in the BIOS area; returns the RSDP address and
        /// the tables' addresses.
        fn machine(mut self, tables: &[Vec<u8>], with_xsdt: bool) -> (FakeMem, u64, Vec<u64>) {
            let addresses: Vec<u64> = tables.iter().map(|t| self.place(t)).collect();
            let rsdt_body: Vec<u8> = addresses
                .iter()
                .flat_map(|&a| (a as u32).to_le_bytes())
                .collect();
            let rsdt = self.place(&table(b"RSDT", 1, &rsdt_body)) as u32;
            let rsdp_bytes = if with_xsdt {
                let xsdt_body: Vec<u8> = addresses.iter().flat_map(|&a| a.to_le_bytes()).collect();
                let xsdt = self.place(&table(b"XSDT", 1, &xsdt_body));
                rsdp(2, rsdt, xsdt)
            } else {
                rsdp(0, rsdt, 0)
            };
            let rsdp_at = 0xF_5A40;
            self.mem.put(rsdp_at, &rsdp_bytes);
            (self.mem, rsdp_at, addresses)
        }
    }

    /// The MADT of a machine with that one table, parsed.
    fn parsed(entries: &[Vec<u8>]) -> Result<MadtCpus, AcpiError> {
        let (mem, rsdp_at, _) = Builder::new().machine(&[madt(1, entries)], true);
        let rsdp = read_rsdp(&mem, rsdp_at).unwrap();
        let table = find_table(&mem, &rsdp, &MADT_SIGNATURE).unwrap().unwrap();
        parse_madt(&mem, table)
    }

    fn ids(cpus: &[MadtCpu]) -> Vec<u32> {
        cpus.iter().map(|c| c.apic_id).collect()
    }

    const ENABLED: u32 = 1;
    const ONLINE_CAPABLE: u32 = 2;

    // --- RSDP ---------------------------------------------------------------------------------

    #[test]
    fn rsdp_v1_in_the_ebda() {
        let mut mem = FakeMem::new();
        mem.put(BDA_EBDA_SEGMENT, &((EBDA >> 4) as u16).to_le_bytes());
        mem.put(EBDA + 0x30, &rsdp(0, 0x7FE1_0000, 0));
        assert_eq!(find_rsdp_in_bios(&mem), Some(EBDA + 0x30));
        let r = read_rsdp(&mem, EBDA + 0x30).unwrap();
        assert_eq!(
            r,
            Rsdp {
                revision: 0,
                rsdt: 0x7FE1_0000,
                xsdt: None,
                oem_id: *b"BOCHS "
            }
        );
    }

    #[test]
    fn rsdp_v2_in_the_ebda_and_in_the_bios_area() {
        let mut mem = FakeMem::new();
        mem.put(0xF_5A40, &rsdp(2, 0x7FE1_0000, 0x1_2345_6780));
        assert_eq!(find_rsdp_in_bios(&mem), Some(0xF_5A40));
        let r = read_rsdp(&mem, 0xF_5A40).unwrap();
        assert_eq!((r.revision, r.xsdt), (2, Some(0x1_2345_6780)));

        // The EBDA is searched first.
        mem.put(BDA_EBDA_SEGMENT, &((EBDA >> 4) as u16).to_le_bytes());
        mem.put(EBDA + 0x3F0, &rsdp(2, 1, 2));
        assert_eq!(find_rsdp_in_bios(&mem), Some(EBDA + 0x3F0));
    }

    #[test]
    fn rsdp_at_the_last_bios_area_slot() {
        let mut mem = FakeMem::new();
        mem.put(0xF_FFE0, &rsdp(0, 0x1000, 0));
        assert_eq!(find_rsdp_in_bios(&mem), Some(0xF_FFE0));
    }

    #[test]
    fn rsdp_with_a_bad_checksum_is_skipped() {
        let mut mem = FakeMem::new();
        let mut bad = rsdp(0, 0x1000, 0);
        bad[8] ^= 1;
        mem.put(0xE_0000, &bad);
        // Good 20-byte checksum, bad extended one.
        let mut bad_ext = rsdp(2, 0x1000, 0x2000);
        bad_ext[32] ^= 1;
        mem.put(0xE_8000, &bad_ext);
        assert_eq!(find_rsdp_in_bios(&mem), None);
        mem.put(0xF_0010, &rsdp(2, 0x1000, 0x2000));
        assert_eq!(find_rsdp_in_bios(&mem), Some(0xF_0010));
        assert_eq!(
            read_rsdp(&mem, 0xE_0000),
            Err(AcpiError::BadChecksum {
                what: What::Rsdp,
                phys: 0xE_0000
            })
        );
        assert_eq!(
            read_rsdp(&mem, 0xE_8000),
            Err(AcpiError::BadChecksum {
                what: What::Rsdp,
                phys: 0xE_8000
            })
        );
    }

    #[test]
    fn rsdp_off_a_16_byte_boundary_or_with_a_bogus_ebda_is_not_found() {
        let mut mem = FakeMem::new();
        mem.put(0xE_0008, &rsdp(0, 0x1000, 0));
        // An EBDA segment of 0 would point at the interrupt vector table.
        mem.put(0x10, &rsdp(0, 0x1000, 0));
        assert_eq!(find_rsdp_in_bios(&mem), None);
    }

    #[test]
    fn no_low_memory_means_no_rsdp() {
        let mem = FakeMem { ranges: Vec::new() };
        assert_eq!(find_rsdp_in_bios(&mem), None);
    }

    #[test]
    fn read_rsdp_errors() {
        let mut mem = FakeMem::new();
        mem.put(0x1000, b"RSD PTX ");
        assert_eq!(
            read_rsdp(&mem, 0x1000),
            Err(AcpiError::BadSignature {
                what: What::Rsdp,
                phys: 0x1000,
                found: *b"RSD PTX "
            })
        );
        assert_eq!(
            read_rsdp(&mem, 0x2000_0000),
            Err(AcpiError::Unreadable {
                what: What::Rsdp,
                phys: 0x2000_0000
            })
        );
        assert_eq!(
            read_rsdp(&mem, u64::MAX - 4),
            Err(AcpiError::Unreadable {
                what: What::Rsdp,
                phys: u64::MAX - 4
            })
        );
    }

    // --- RSDT / XSDT --------------------------------------------------------------------------

    #[test]
    fn xsdt_is_preferred_over_rsdt() {
        let mut b = Builder::new();
        let old_madt = b.place(&madt(0, &[lapic(0, 7, ENABLED)]));
        let old_rsdt = table(b"RSDT", 1, &(old_madt as u32).to_le_bytes());
        let rsdt = b.place(&old_rsdt) as u32;
        let new_madt = madt(0, &[lapic(0, 9, ENABLED)]);
        let (mut mem, _, addresses) = b.machine(&[new_madt], true);
        let rsdp_at = 0xF_6000;
        let xsdt = {
            let r = read_rsdp(&mem, 0xF_5A40).unwrap();
            r.xsdt.unwrap()
        };
        mem.put(rsdp_at, &rsdp(2, rsdt, xsdt));
        let r = read_rsdp(&mem, rsdp_at).unwrap();
        let t = find_table(&mem, &r, &MADT_SIGNATURE).unwrap().unwrap();
        assert_eq!(t.phys, addresses[0]);
        assert_eq!(ids(parse_madt(&mem, t).unwrap().cpus()), [9]);

        // Revision 2 with a null XSDT address, or revision 0: the RSDT.
        for r in [rsdp(2, rsdt, 0), rsdp(0, rsdt, xsdt)] {
            mem.put(rsdp_at, &r);
            let r = read_rsdp(&mem, rsdp_at).unwrap();
            assert_eq!(r.xsdt, None);
            let t = find_table(&mem, &r, &MADT_SIGNATURE).unwrap().unwrap();
            assert_eq!(t.phys, old_madt);
        }
    }

    #[test]
    fn tables_lists_every_table_with_its_root() {
        let tables_in = [
            fadt(276, 0x608, 4, 0, [0; 12]),
            madt(1, &[lapic(0, 0, ENABLED)]),
            hpet(0, 0xFED0_0000),
        ];
        for with_xsdt in [false, true] {
            let (mem, rsdp_at, addresses) = Builder::new().machine(&tables_in, with_xsdt);
            let r = read_rsdp(&mem, rsdp_at).unwrap();
            let it = tables(&mem, &r).unwrap();
            let root = it.root();
            assert_eq!(root.signature, if with_xsdt { *b"XSDT" } else { *b"RSDT" });
            assert_eq!(root.len, 36 + 3 * if with_xsdt { 8 } else { 4 });
            let listed: Vec<TableRef> = it.map(Result::unwrap).collect();
            assert_eq!(listed.len(), 3);
            for ((t, bytes), phys) in listed.iter().zip(&tables_in).zip(&addresses) {
                assert_eq!(t.phys, *phys);
                assert_eq!(t.len as usize, bytes.len());
                assert_eq!(&t.signature[..], &bytes[..4]);
                assert_eq!(t.revision, bytes[8]);
            }
            assert_eq!(find_table(&mem, &r, b"SRAT"), Ok(None));
        }
    }

    #[test]
    fn xsdt_entries_above_4_gib_and_null_entries() {
        let mut mem = FakeMem::new();
        mem.add_range(0x1_0000_0000, 0x1000);
        let m = madt(0, &[x2apic(300, ENABLED, 1)]);
        mem.put(0x1_0000_0000, &m);
        let mut body = Vec::new();
        body.extend_from_slice(&0u64.to_le_bytes());
        body.extend_from_slice(&0x1_0000_0000u64.to_le_bytes());
        body.extend_from_slice(&[0xAA; 3]); // a partial trailing entry, ignored
        mem.put(TABLES, &table(b"XSDT", 1, &body));
        mem.put(0xE_0000, &rsdp(2, 0, TABLES));
        let r = read_rsdp(&mem, find_rsdp_in_bios(&mem).unwrap()).unwrap();
        let listed: Vec<_> = tables(&mem, &r).unwrap().collect();
        assert_eq!(listed.len(), 1);
        let t = find_table(&mem, &r, &MADT_SIGNATURE).unwrap().unwrap();
        assert_eq!(t.phys, 0x1_0000_0000);
        assert_eq!(ids(parse_madt(&mem, t).unwrap().cpus()), [300]);
    }

    #[test]
    fn root_table_with_a_bad_checksum_is_an_error() {
        for with_xsdt in [false, true] {
            let (mut mem, rsdp_at, _) = Builder::new().machine(&[madt(0, &[])], with_xsdt);
            let r = read_rsdp(&mem, rsdp_at).unwrap();
            let root = r.xsdt.unwrap_or(r.rsdt.into());
            let mut last = [0];
            mem.read(root + 10, &mut last);
            mem.put(root + 10, &[last[0] ^ 0x10]);
            let what = What::Table(if with_xsdt { *b"XSDT" } else { *b"RSDT" });
            let expected = AcpiError::BadChecksum { what, phys: root };
            assert_eq!(tables(&mem, &r).err(), Some(expected));
            assert_eq!(find_table(&mem, &r, &MADT_SIGNATURE), Err(expected));
        }
    }

    #[test]
    fn root_table_with_a_wrong_signature_or_length_is_an_error() {
        let (mut mem, rsdp_at, _) = Builder::new().machine(&[madt(0, &[])], true);
        let r = read_rsdp(&mem, rsdp_at).unwrap();
        let xsdt = r.xsdt.unwrap();
        mem.put(xsdt, b"RSDT");
        assert_eq!(
            tables(&mem, &r).err(),
            Some(AcpiError::BadSignature {
                what: What::Table(*b"XSDT"),
                phys: xsdt,
                found: *b"RSDT\0\0\0\0"
            })
        );
        let mut short = table(b"XSDT", 1, &[]);
        short[4] = 35;
        mem.put(xsdt, &short);
        assert_eq!(
            tables(&mem, &r).err(),
            Some(AcpiError::BadLength {
                what: What::Table(*b"XSDT"),
                phys: xsdt,
                len: 35
            })
        );
        let unreadable = Rsdp {
            xsdt: Some(0x4000_0000),
            ..r
        };
        assert_eq!(
            tables(&mem, &unreadable).err(),
            Some(AcpiError::Unreadable {
                what: What::Table(*b"XSDT"),
                phys: 0x4000_0000
            })
        );
    }

    #[test]
    fn table_with_a_bad_checksum_is_reported_unless_a_good_copy_follows() {
        let mut bad = madt(0, &[lapic(0, 1, ENABLED)]);
        bad[44 + 3] = 2; // APIC ID changed after the checksum was computed
        let good = madt(0, &[lapic(0, 3, ENABLED)]);
        let hpet_table = hpet(0, 0xFED0_0000);

        let (mem, rsdp_at, addresses) =
            Builder::new().machine(&[bad.clone(), hpet_table.clone()], true);
        let r = read_rsdp(&mem, rsdp_at).unwrap();
        let expected = AcpiError::BadChecksum {
            what: What::Table(*b"APIC"),
            phys: addresses[0],
        };
        assert_eq!(find_table(&mem, &r, &MADT_SIGNATURE), Err(expected));
        // Other tables are still found; the iterator reports the bad one and goes on.
        assert!(find_table(&mem, &r, &HPET_SIGNATURE).unwrap().is_some());
        let listed: Vec<_> = tables(&mem, &r).unwrap().collect();
        assert_eq!(listed[0], Err(expected));
        assert!(listed[1].is_ok());
        assert_eq!(
            expected.to_string(),
            format!("MADT at {:#x}: checksum does not add up to 0", addresses[0])
        );

        let (mem, rsdp_at, addresses) = Builder::new().machine(&[bad, hpet_table, good], true);
        let r = read_rsdp(&mem, rsdp_at).unwrap();
        let t = find_table(&mem, &r, &MADT_SIGNATURE).unwrap().unwrap();
        assert_eq!(t.phys, addresses[2]);
    }

    #[test]
    fn listed_tables_with_bad_lengths_or_unreadable_headers() {
        let mut b = Builder::new();
        let mut short = table(b"APIC", 1, &[]);
        short[4] = 20;
        let short_at = b.place(&short);
        let mut huge = table(b"APIC", 1, &[]);
        huge[4..8].copy_from_slice(&(MAX_TABLE_LEN + 1).to_le_bytes());
        let huge_at = b.place(&huge);
        // Claims more bytes than memory holds: the checksum cannot be read.
        let mut long = table(b"APIC", 1, &[]);
        long[4..8].copy_from_slice(&0x10_0000u32.to_le_bytes());
        let long_at = b.place(&long);
        let mut body = Vec::new();
        for a in [short_at, 0x5000_0000, huge_at, long_at] {
            body.extend_from_slice(&(a as u32).to_le_bytes());
        }
        let rsdt = b.place(&table(b"RSDT", 1, &body));
        let mut mem = b.mem;
        mem.put(0xE_0000, &rsdp(0, rsdt as u32, 0));
        let r = read_rsdp(&mem, 0xE_0000).unwrap();
        let listed: Vec<_> = tables(&mem, &r).unwrap().collect();
        let madt_what = What::Table(*b"APIC");
        assert_eq!(
            listed[..3],
            [
                Err(AcpiError::BadLength {
                    what: madt_what,
                    phys: short_at,
                    len: 20
                }),
                Err(AcpiError::Unreadable {
                    what: What::Listed,
                    phys: 0x5000_0000
                }),
                Err(AcpiError::BadLength {
                    what: madt_what,
                    phys: huge_at,
                    len: MAX_TABLE_LEN + 1
                }),
            ]
        );
        // The chunk of the checksum that runs off the end of memory.
        let chunk = long_at + (TABLES + 0x4_0000 - long_at) / 256 * 256;
        assert_eq!(
            listed[3],
            Err(AcpiError::Unreadable {
                what: madt_what,
                phys: chunk
            })
        );
        // The first failure of the wanted signature is returned.
        assert_eq!(
            find_table(&mem, &r, &MADT_SIGNATURE),
            Err(listed[0].unwrap_err())
        );
    }

    // --- MADT ---------------------------------------------------------------------------------

    #[test]
    fn madt_with_type_0_and_type_9_entries_mixed() {
        let m = parsed(&[
            lapic(0, 0, ENABLED),
            ioapic(),
            x2apic(0x100, ENABLED, 1),
            lapic(2, 2, ENABLED | ONLINE_CAPABLE), // Online Capable is ignored when Enabled
            vec![2, 10, 0, 9, 2, 0, 0, 0, 0, 0],   // an interrupt source override: skipped
            x2apic(0x101, ENABLED, 3),
            lapic(4, 4, 0),   // absent
            vec![0x7F, 3, 0], // an unknown type: skipped by its length
        ])
        .unwrap();
        assert_eq!(
            m.cpus(),
            [
                MadtCpu {
                    apic_id: 0,
                    acpi_uid: 0,
                    x2apic_entry: false
                },
                MadtCpu {
                    apic_id: 0x100,
                    acpi_uid: 1,
                    x2apic_entry: true
                },
                MadtCpu {
                    apic_id: 2,
                    acpi_uid: 2,
                    x2apic_entry: false
                },
                MadtCpu {
                    apic_id: 0x101,
                    acpi_uid: 3,
                    x2apic_entry: true
                },
            ]
        );
        assert_eq!(m.online_capable().len(), 0);
        assert_eq!(m.disabled_count, 1);
        assert_eq!(m.local_apic_address, 0xFEE0_0000);
        assert!(m.pcat_compat);
        assert_eq!(
            (m.duplicate_count, m.invalid_id_count, m.overflow),
            (0, 0, 0)
        );
    }

    #[test]
    fn madt_disabled_and_online_capable_entries() {
        let m = parsed(&[
            lapic(0, 0, ENABLED),
            lapic(1, 1, ONLINE_CAPABLE),
            x2apic(0x200, ONLINE_CAPABLE, 2),
            lapic(3, 3, 0),
            x2apic(0x201, 0, 4),
            lapic(5, 5, ENABLED),
            lapic(6, 6, ONLINE_CAPABLE | 0xFFFF_FFF0), // reserved bits are ignored
        ])
        .unwrap();
        assert_eq!(ids(m.cpus()), [0, 5]);
        let hot: Vec<_> = m
            .online_capable()
            .map(|c| (c.apic_id, c.acpi_uid))
            .collect();
        assert_eq!(hot, [(1, 1), (0x200, 2), (6, 6)]);
        assert_eq!(m.disabled_count, 2);
    }

    #[test]
    fn madt_duplicates_first_entry_wins() {
        let m = parsed(&[
            lapic(10, 1, ENABLED),
            x2apic(1, ENABLED, 11), // same id as a type 0 entry
            lapic(12, 2, ENABLED),
            lapic(13, 2, ENABLED), // same type twice
            x2apic(0x300, ENABLED, 14),
            x2apic(0x300, ENABLED, 15),
            x2apic(0x301, ONLINE_CAPABLE, 16),
            x2apic(0x301, ENABLED, 17), // already a hot-plug slot: that entry wins
            lapic(18, 3, ONLINE_CAPABLE),
            lapic(19, 3, ONLINE_CAPABLE),
            lapic(20, 1, 0), // disabled duplicates are only counted as disabled
        ])
        .unwrap();
        assert_eq!(ids(m.cpus()), [1, 2, 0x300]);
        let uids: Vec<_> = m.cpus().iter().map(|c| c.acpi_uid).collect();
        assert_eq!(uids, [10, 12, 14]);
        assert!(!m.cpus()[0].x2apic_entry);
        let hot: Vec<_> = m.online_capable().map(|c| c.apic_id).collect();
        assert_eq!(hot, [0x301, 3]);
        assert_eq!(m.duplicate_count, 5);
        assert_eq!(m.disabled_count, 1);
    }

    #[test]
    fn madt_invalid_apic_ids() {
        let m = parsed(&[
            lapic(0, 0xFF, ENABLED),
            lapic(1, 0xFF, ONLINE_CAPABLE),
            lapic(2, 0xFF, 0), // a placeholder: just disabled
            x2apic(0xFFFF_FFFF, ENABLED, 3),
            x2apic(0xFF, ENABLED, 4), // 0xFF is a valid x2APIC ID
            lapic(5, 0xFE, ENABLED),
        ])
        .unwrap();
        assert_eq!(ids(m.cpus()), [0xFF, 0xFE]);
        assert_eq!((m.invalid_id_count, m.disabled_count), (3, 1));
    }

    #[test]
    fn madt_local_apic_address_override_and_flags() {
        let m = parsed(&[lapic(0, 0, ENABLED), lapic_override(0x1_FEE0_0000)]).unwrap();
        assert_eq!(m.local_apic_address, 0x1_FEE0_0000);
        let (mem, rsdp_at, _) = Builder::new().machine(&[madt(0, &[])], false);
        let r = read_rsdp(&mem, rsdp_at).unwrap();
        let m = parse_madt(
            &mem,
            find_table(&mem, &r, &MADT_SIGNATURE).unwrap().unwrap(),
        )
        .unwrap();
        assert!(!m.pcat_compat);
        assert_eq!(m.local_apic_address, 0xFEE0_0000);
        assert!(m.cpus().is_empty());
    }

    #[test]
    fn madt_truncated_entries() {
        let cases: [(Vec<Vec<u8>>, u32); 6] = [
            (vec![lapic(0, 0, ENABLED), vec![0x7F, 0]], 52), // length 0
            (vec![vec![0x7F, 1, 0]], 44),                    // length 1
            (vec![lapic(0, 0, ENABLED), vec![0x7F, 9, 0, 0]], 52), // runs past the end
            (vec![vec![0, 6, 0, 1, 1, 0]], 44),              // type 0 shorter than 8
            (vec![vec![9, 12, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]], 44), // type 9 shorter than 16
            (vec![lapic(0, 0, ENABLED), vec![5, 8, 0, 0, 0, 0, 0, 0]], 52), // type 5 short
        ];
        for (entries, offset) in cases {
            let (mem, rsdp_at, addresses) = Builder::new().machine(&[madt(0, &entries)], true);
            let r = read_rsdp(&mem, rsdp_at).unwrap();
            let t = find_table(&mem, &r, &MADT_SIGNATURE).unwrap().unwrap();
            let expected = AcpiError::Truncated {
                what: What::Table(*b"APIC"),
                phys: addresses[0],
                offset,
            };
            assert_eq!(parse_madt(&mem, t).err(), Some(expected), "{entries:?}");
        }
        // A lone trailing byte: an entry whose header does not fit.
        let (mem, rsdp_at, addresses) =
            Builder::new().machine(&[madt(0, &[lapic(0, 0, ENABLED), vec![0]])], true);
        let r = read_rsdp(&mem, rsdp_at).unwrap();
        let t = find_table(&mem, &r, &MADT_SIGNATURE).unwrap().unwrap();
        assert_eq!(
            parse_madt(&mem, t).err(),
            Some(AcpiError::Truncated {
                what: What::Table(*b"APIC"),
                phys: addresses[0],
                offset: 52
            })
        );
    }

    #[test]
    fn madt_shorter_than_its_fixed_fields_or_with_the_wrong_signature() {
        let (mem, rsdp_at, addresses) =
            Builder::new().machine(&[table(b"APIC", 1, &[0; 4]), hpet(0, 1)], true);
        let r = read_rsdp(&mem, rsdp_at).unwrap();
        let t = find_table(&mem, &r, &MADT_SIGNATURE).unwrap().unwrap();
        assert_eq!(
            parse_madt(&mem, t).err(),
            Some(AcpiError::Truncated {
                what: What::Table(*b"APIC"),
                phys: addresses[0],
                offset: 36
            })
        );
        let h = find_table(&mem, &r, &HPET_SIGNATURE).unwrap().unwrap();
        assert!(matches!(
            parse_madt(&mem, h),
            Err(AcpiError::BadSignature { found, .. }) if found == *b"HPET\0\0\0\0"
        ));
    }

    #[test]
    fn madt_with_more_entries_than_fit() {
        let mut entries: Vec<Vec<u8>> = (0..MAX_MADT_CPUS as u32 + 6)
            .map(|id| x2apic(id, ENABLED, id))
            .collect();
        entries.insert(3, x2apic(5000, ONLINE_CAPABLE, 0));
        entries.push(x2apic(5001, ONLINE_CAPABLE, 0));
        entries.push(x2apic(7, ENABLED, 0)); // a duplicate is still seen as one
        let m = parsed(&entries).unwrap();
        // The hot-plug slot took one place: 1023 enabled fit, 7 do not.
        assert_eq!(m.cpus().len(), MAX_MADT_CPUS - 1);
        assert_eq!(m.cpus().last().unwrap().apic_id, MAX_MADT_CPUS as u32 - 2);
        assert_eq!(m.overflow, 7);
        assert_eq!(m.online_capable().len(), 1);
        assert_eq!(m.online_capable_overflow, 1);
        assert_eq!(m.duplicate_count, 1);
    }

    // --- Numbering ----------------------------------------------------------------------------

    #[test]
    fn numbering_puts_the_bsp_first() {
        let m = parsed(&[
            lapic(0, 4, ENABLED),
            lapic(1, 0, ENABLED),
            lapic(2, 2, ENABLED),
            lapic(3, 6, ONLINE_CAPABLE),
        ])
        .unwrap();
        let mut out = [0; 8];
        let n = number_cpus(&m, 2, 512, &mut out);
        assert_eq!(
            n,
            Numbering {
                len: 3,
                bsp_missing_from_madt: false,
                beyond_max: 0
            }
        );
        assert_eq!(out[..3], [2, 4, 0]);

        // The BSP not listed at all: still logical 0.
        let n = number_cpus(&m, 9, 512, &mut out);
        assert_eq!(
            n,
            Numbering {
                len: 4,
                bsp_missing_from_madt: true,
                beyond_max: 0
            }
        );
        assert_eq!(out[..4], [9, 4, 0, 2]);

        // An empty MADT: the BSP alone.
        let empty = parsed(&[]).unwrap();
        let n = number_cpus(&empty, 0, 512, &mut out);
        assert_eq!((n.len, n.bsp_missing_from_madt, out[0]), (1, true, 0));
    }

    #[test]
    fn numbering_past_max() {
        let entries: Vec<Vec<u8>> = (0..600).map(|id| x2apic(id, ENABLED, id)).collect();
        let m = parsed(&entries).unwrap();
        let mut out = [0; 1024];
        let n = number_cpus(&m, 599, 512, &mut out);
        assert_eq!(
            n,
            Numbering {
                len: 512,
                bsp_missing_from_madt: false,
                beyond_max: 88
            }
        );
        assert_eq!(out[0], 599);
        assert_eq!(out[1..512], (0..511).collect::<Vec<u32>>()[..]);

        // `out` shorter than `max` also limits.
        let mut small = [0; 4];
        let n = number_cpus(&m, 0, 512, &mut small);
        assert_eq!((n.len, n.beyond_max), (4, 596));
        assert_eq!(small, [0, 1, 2, 3]);

        // max 0: nothing numbered, every CPU counted.
        let n = number_cpus(&m, 0, 0, &mut out);
        assert_eq!((n.len, n.beyond_max), (0, 600));
    }

    #[test]
    fn numbering_counts_madt_overflow_as_beyond_max() {
        let entries: Vec<Vec<u8>> = (0..MAX_MADT_CPUS as u32 + 3)
            .map(|id| x2apic(id, ENABLED, id))
            .collect();
        let m = parsed(&entries).unwrap();
        let mut out = [0; 2048];
        let n = number_cpus(&m, 0, 2048, &mut out);
        assert_eq!((n.len, n.beyond_max), (MAX_MADT_CPUS, 3));
    }

    // --- FADT and HPET ------------------------------------------------------------------------

    /// The table of the one-table machine with `bytes`.
    fn only_table(bytes: Vec<u8>) -> (FakeMem, TableRef) {
        let signature: [u8; 4] = bytes[..4].try_into().unwrap();
        let (mem, rsdp_at, _) = Builder::new().machine(&[bytes], true);
        let r = read_rsdp(&mem, rsdp_at).unwrap();
        let t = find_table(&mem, &r, &signature).unwrap().unwrap();
        (mem, t)
    }

    #[test]
    fn pm_timer_from_an_acpi_1_fadt() {
        let (mem, t) = only_table(fadt(116, 0x608, 4, FADT_TMR_VAL_EXT, [0; 12]));
        assert_eq!(
            fadt_pm_timer(&mem, t),
            Some(PmTimer {
                address: PmTimerAddress::Io(0x608),
                is_32bit: true
            })
        );
        let (mem, t) = only_table(fadt(116, 0xB008, 4, 0, [0; 12]));
        assert_eq!(
            fadt_pm_timer(&mem, t),
            Some(PmTimer {
                address: PmTimerAddress::Io(0xB008),
                is_32bit: false
            })
        );
    }

    #[test]
    fn pm_timer_from_x_pm_tmr_blk() {
        let io = gas(GAS_SYSTEM_IO, 32, 0x1808);
        let (mem, t) = only_table(fadt(276, 0x608, 4, FADT_TMR_VAL_EXT, io));
        assert_eq!(
            fadt_pm_timer(&mem, t).unwrap().address,
            PmTimerAddress::Io(0x1808)
        );
        let memory = gas(GAS_SYSTEM_MEMORY, 32, 0xFED0_3008);
        let (mem, t) = only_table(fadt(276, 0, 4, 0, memory));
        assert_eq!(
            fadt_pm_timer(&mem, t),
            Some(PmTimer {
                address: PmTimerAddress::Memory(0xFED0_3008),
                is_32bit: false
            })
        );
        // A null X_PM_TMR_BLK, an unusable address space or an I/O address past 0xFFFF: the
        // 32-bit PM_TMR_BLK.
        for x in [
            [0; 12],
            gas(2, 32, 0x1808),
            gas(GAS_SYSTEM_IO, 32, 0x1_0000),
        ] {
            let (mem, t) = only_table(fadt(276, 0x608, 4, 0, x));
            assert_eq!(
                fadt_pm_timer(&mem, t).unwrap().address,
                PmTimerAddress::Io(0x608)
            );
        }
    }

    #[test]
    fn no_pm_timer() {
        for (len, blk, blk_len, flags) in [
            (116, 0x608, 0, 0),                    // PM_TMR_LEN 0: not supported
            (116, 0, 4, 0),                        // no port
            (116, 0x1_0608, 4, 0),                 // not an I/O port
            (276, 0x608, 4, FADT_HW_REDUCED_ACPI), // hardware-reduced ACPI
            (100, 0x608, 4, 0),                    // too short for Flags
        ] {
            let mut f = fadt(276, blk, blk_len, flags, [0; 12]);
            f.truncate(len);
            f[4..8].copy_from_slice(&(len as u32).to_le_bytes());
            fix_checksum(&mut f, 9, len);
            let (mem, t) = only_table(f);
            assert_eq!(
                fadt_pm_timer(&mem, t),
                None,
                "{len} {blk:#x} {blk_len} {flags:#x}"
            );
        }
        let (mem, t) = only_table(hpet(0, 0xFED0_0000));
        assert_eq!(fadt_pm_timer(&mem, t), None);
    }

    #[test]
    fn hpet_base_address() {
        let (mem, t) = only_table(hpet(GAS_SYSTEM_MEMORY, 0xFED0_0000));
        assert_eq!(hpet_base(&mem, t), Some(0xFED0_0000));
        let (mem, t) = only_table(hpet(GAS_SYSTEM_IO, 0xFED0_0000));
        assert_eq!(hpet_base(&mem, t), None);
        let (mem, t) = only_table(hpet(GAS_SYSTEM_MEMORY, 0));
        assert_eq!(hpet_base(&mem, t), None);
        let (mem, t) = only_table(table(b"HPET", 1, &[0; 12]));
        assert_eq!(hpet_base(&mem, t), None);
        let (mem, t) = only_table(madt(0, &[]));
        assert_eq!(hpet_base(&mem, t), None);
    }

    // --- Messages -----------------------------------------------------------------------------

    #[test]
    fn error_messages() {
        let cases = [
            (
                AcpiError::NoRsdp,
                "no ACPI RSDP: the boot loader gave none and none was found in the EBDA or in \
                 the BIOS area 0xe0000..0x100000",
            ),
            (
                AcpiError::Unreadable {
                    what: What::Listed,
                    phys: 0x1000,
                },
                "table listed in the RSDT/XSDT at 0x1000: cannot be read",
            ),
            (
                AcpiError::BadSignature {
                    what: What::Rsdp,
                    phys: 0xf5a40,
                    found: *b"RSD\x00PTR ",
                },
                "RSDP at 0xf5a40: wrong signature \"RSD?PTR \"",
            ),
            (
                AcpiError::BadSignature {
                    what: What::Table(*b"XSDT"),
                    phys: 0x7ffe0000,
                    found: *b"RSDTxxxx",
                },
                "XSDT at 0x7ffe0000: wrong signature \"RSDT\"",
            ),
            (
                AcpiError::BadChecksum {
                    what: What::Table(*b"APIC"),
                    phys: 0x7ffe1234,
                },
                "MADT at 0x7ffe1234: checksum does not add up to 0",
            ),
            (
                AcpiError::BadLength {
                    what: What::Table(*b"FACP"),
                    phys: 0x7ffe0000,
                    len: 12,
                },
                "FADT at 0x7ffe0000: length 12 is outside 36..=4194304 bytes",
            ),
            (
                AcpiError::Truncated {
                    what: What::Table(*b"APIC"),
                    phys: 0x7ffe1234,
                    offset: 0x34,
                },
                "MADT at 0x7ffe1234: the entry at offset 0x34 is cut short or runs past the \
                 end of the table",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    // ----- SRAT and SLIT -----

    fn srat_lapic(apic: u8, domain: u32, enabled: bool) -> Vec<u8> {
        let d = domain.to_le_bytes();
        let mut e = vec![0, 16, d[0], apic];
        e.extend_from_slice(&u32::from(enabled).to_le_bytes());
        e.extend_from_slice(&[0, d[1], d[2], d[3]]);
        e.extend_from_slice(&0u32.to_le_bytes());
        e
    }

    fn srat_x2apic(apic: u32, domain: u32) -> Vec<u8> {
        let mut e = vec![2, 24, 0, 0];
        e.extend_from_slice(&domain.to_le_bytes());
        e.extend_from_slice(&apic.to_le_bytes());
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&[0; 8]);
        e
    }

    fn srat_memory(base: u64, len: u64, domain: u32) -> Vec<u8> {
        let mut e = vec![1, 40];
        e.extend_from_slice(&domain.to_le_bytes());
        e.extend_from_slice(&[0; 2]);
        e.extend_from_slice(&base.to_le_bytes());
        e.extend_from_slice(&len.to_le_bytes());
        e.extend_from_slice(&[0; 4]);
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&[0; 8]);
        e
    }

    fn srat_parsed(entries: &[Vec<u8>]) -> Result<Srat, AcpiError> {
        let mut body = vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for e in entries {
            body.extend_from_slice(e);
        }
        let (mem, rsdp_at, _) = Builder::new().machine(&[table(b"SRAT", 3, &body)], true);
        let rsdp = read_rsdp(&mem, rsdp_at).unwrap();
        let t = find_table(&mem, &rsdp, &SRAT_SIGNATURE).unwrap().unwrap();
        parse_srat(&mem, t)
    }

    #[test]
    fn srat_processors_and_memory() {
        let srat = srat_parsed(&[
            srat_lapic(0, 0, true),
            srat_lapic(1, 0x0102_0301, true),
            srat_lapic(2, 1, false),
            srat_x2apic(300, 1),
            srat_memory(0, 1 << 30, 0),
            vec![3, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // another type: skipped
        ])
        .unwrap();
        assert_eq!(srat.cpus(), &[(0, 0), (1, 0x0102_0301), (300, 1)]);
        assert_eq!(srat.domain_of(300), Some(1));
        assert_eq!(srat.domain_of(2), None, "disabled");
        assert_eq!(srat.memory().len(), 1);
        assert_eq!(srat.memory()[0].len, 1 << 30);
    }

    #[test]
    fn srat_bad_lengths_never_loop_or_overread() {
        let zero = vec![0u8, 0, 0, 0];
        assert!(matches!(
            srat_parsed(&[srat_lapic(0, 0, true), zero]),
            Err(AcpiError::Truncated { offset: 64, .. })
        ));
        let mut long = srat_lapic(0, 0, true);
        long[1] = 200; // runs past the table
        assert!(matches!(
            srat_parsed(&[long]),
            Err(AcpiError::Truncated { .. })
        ));
        let mut short = srat_x2apic(1, 0);
        short[1] = 8; // shorter than its type's structure
        assert!(matches!(
            srat_parsed(&[short]),
            Err(AcpiError::Truncated { .. })
        ));
        assert_eq!(srat_parsed(&[]).unwrap().cpus().len(), 0);
    }

    fn slit_table(n: u64, cells: &[u8]) -> Vec<u8> {
        let mut body = n.to_le_bytes().to_vec();
        body.extend_from_slice(cells);
        table(b"SLIT", 1, &body)
    }

    fn slit_parsed(t: Vec<u8>) -> Result<Slit, AcpiError> {
        let (mem, rsdp_at, _) = Builder::new().machine(&[t], true);
        let rsdp = read_rsdp(&mem, rsdp_at).unwrap();
        let t = find_table(&mem, &rsdp, &SLIT_SIGNATURE).unwrap().unwrap();
        parse_slit(&mem, t)
    }

    #[test]
    fn slit_distances() {
        let slit = slit_parsed(slit_table(2, &[10, 21, 21, 10])).unwrap();
        assert_eq!(slit.localities(), 2);
        assert_eq!(slit.distance(0, 1), Some(21));
        assert_eq!(slit.distance(1, 1), Some(10));
        assert_eq!(slit.distance(2, 0), None);
        // A count whose matrix does not fit the table, or an absurd count.
        assert!(matches!(
            slit_parsed(slit_table(3, &[10; 4])),
            Err(AcpiError::BadLength { .. })
        ));
        assert!(matches!(
            slit_parsed(slit_table(u64::MAX, &[])),
            Err(AcpiError::BadLength { .. })
        ));
        assert!(matches!(
            slit_parsed(slit_table(65, &[10; 65 * 65])),
            Err(AcpiError::BadLength { .. })
        ));
    }
}
