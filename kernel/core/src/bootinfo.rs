//! What the boot loader tells the kernel, in one normalised form.
//!
//! [`parse`] reads the Multiboot1 (spec 0.6.96) or Multiboot2 (spec 2.0) information structure
//! through a [`PhysRead`] and returns a [`BootInfo`]: the command line, the loader's name, the
//! RSDP address and a [`MemoryMap`] that also marks the kernel image and every loader structure
//! the kernel read, normalised so that each byte has exactly one, most restrictive, kind.

use crate::le::{u32_at, u64_at};
use core::fmt;

use crate::{LOW_MEMORY_END, PAGE_SIZE};

/// Value in EAX when a Multiboot1 loader enters the kernel (Multiboot 0.6.96, 3.2).
pub const MULTIBOOT1_BOOTLOADER_MAGIC: u32 = 0x2BADB002;
/// Value in EAX when a Multiboot2 loader enters the kernel (Multiboot 2.0, 3.3).
pub const MULTIBOOT2_BOOTLOADER_MAGIC: u32 = 0x36d76289;

/// Access to physical memory while the loader's structures are still reachable.
pub trait PhysRead {
    /// Copy physical memory at `phys` into `buf`; false if unreadable.
    fn read(&self, phys: u64, buf: &mut [u8]) -> bool;
}

/// What a range of physical memory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionKind {
    /// RAM free for the kernel to use.
    Usable,
    /// Reserved by the firmware or hardware (also every type the kernel does not know).
    Reserved,
    /// ACPI tables; RAM again once the tables are no longer needed.
    AcpiReclaimable,
    /// ACPI non-volatile storage: must be preserved across sleep states.
    AcpiNvs,
    /// RAM reported defective.
    BadMemory,
    /// The loaded kernel image.
    Kernel,
    /// Loader structures the kernel reads (the information block, memory map, strings).
    Loader,
}

impl RegionKind {
    /// Where two kinds overlap, the one with the higher priority wins: the more restrictive.
    fn priority(self) -> u8 {
        match self {
            RegionKind::BadMemory => 6,
            RegionKind::AcpiNvs => 5,
            RegionKind::Reserved => 4,
            RegionKind::AcpiReclaimable => 3,
            RegionKind::Kernel => 2,
            RegionKind::Loader => 1,
            RegionKind::Usable => 0,
        }
    }

    /// The kind of a memory map entry of `type` (Multiboot1 and Multiboot2 share the values,
    /// which are those of the BIOS E820 call).
    fn from_multiboot(kind: u32) -> Self {
        match kind {
            MULTIBOOT_MEMORY_AVAILABLE => RegionKind::Usable,
            MULTIBOOT_MEMORY_ACPI_RECLAIMABLE => RegionKind::AcpiReclaimable,
            MULTIBOOT_MEMORY_NVS => RegionKind::AcpiNvs,
            MULTIBOOT_MEMORY_BADRAM => RegionKind::BadMemory,
            _ => RegionKind::Reserved,
        }
    }
}

/// A range of physical memory `[start, end)` of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: u64,
    /// One past the last byte; `u64::MAX` stands for 2^64.
    pub end: u64,
    /// What the range holds.
    pub kind: RegionKind,
}

impl Region {
    /// The region of `len` bytes at `base`, its end saturated at `u64::MAX`.
    pub fn from_base_len(base: u64, len: u64, kind: RegionKind) -> Self {
        Region {
            start: base,
            end: base.saturating_add(len),
            kind,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the region holds no byte.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The part of the region below or above `[start, end)`: the lower part if there is one.
    fn outside(self, (start, end): (u64, u64)) -> Self {
        if self.end <= start || end <= self.start {
            self
        } else if self.start < start {
            Region { end: start, ..self }
        } else {
            Region { start: end, ..self }
        }
    }

    /// The region on page boundaries: usable memory shrinks inward to whole pages (a page
    /// partly something else is not usable); every other kind grows outward.
    fn page_aligned(self) -> Self {
        let (start, end) = if self.kind == RegionKind::Usable {
            (align_up(self.start), align_down(self.end))
        } else {
            (align_down(self.start), align_up(self.end))
        };
        Region { start, end, ..self }
    }
}

/// Rounds down to a page boundary.
fn align_down(address: u64) -> u64 {
    address & !(PAGE_SIZE - 1)
}

/// Rounds up to a page boundary, saturating at `u64::MAX` (which stands for 2^64).
fn align_up(address: u64) -> u64 {
    address
        .checked_next_multiple_of(PAGE_SIZE)
        .unwrap_or(u64::MAX)
}

/// Capacity of a [`MemoryMap`].
pub const MAX_REGIONS: usize = 128;

/// The map had no room: some region information was dropped (see [`MemoryMap::add`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapFull;

impl fmt::Display for MapFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory map full ({MAX_REGIONS} regions): some regions were dropped"
        )
    }
}

/// A physical memory map of at most [`MAX_REGIONS`] regions, without allocation.
///
/// Regions are added as the loader reports them (in any order, overlapping, unaligned);
/// [`MemoryMap::normalize`] turns them into sorted, disjoint, page-aligned regions where each
/// byte has the most restrictive kind any input gave it. Memory the map does not list is not
/// usable, which is what keeps every loss of information (a full map) on the safe side.
#[derive(Clone, PartialEq, Eq)]
pub struct MemoryMap {
    regions: [Region; MAX_REGIONS],
    len: usize,
    /// `[start, end)` covering every restrictive region the map had no room for: usable
    /// memory is not accepted there any more, as it might belong to a lost region.
    excluded: Option<(u64, u64)>,
}

impl fmt::Debug for MemoryMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.regions()).finish()
    }
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryMap {
    /// An empty map.
    pub const fn new() -> Self {
        const EMPTY: Region = Region {
            start: 0,
            end: 0,
            kind: RegionKind::Reserved,
        };
        MemoryMap {
            regions: [EMPTY; MAX_REGIONS],
            len: 0,
            excluded: None,
        }
    }

    /// The regions, in the order added, or sorted and disjoint after [`MemoryMap::normalize`].
    pub fn regions(&self) -> &[Region] {
        &self.regions[..self.len]
    }

    /// Appends a region; an empty one is ignored.
    ///
    /// When the map is full it is normalised to make room. If it is still full, information is
    /// lost, always on the safe side, and `MapFull` is returned: a usable region is dropped; any
    /// other region takes its range out of every usable region and out of all usable memory
    /// added later, and is itself kept only if that made room.
    pub fn add(&mut self, region: Region) -> Result<(), MapFull> {
        if region.is_empty() {
            return Ok(());
        }
        if self.len == MAX_REGIONS {
            // Merging makes room; what normalising a full map drops is excluded, as below.
            let _ = self.normalize();
        }
        let accepted = match (region.kind, self.excluded) {
            (RegionKind::Usable, Some(excluded)) => region.outside(excluded),
            _ => region,
        };
        if accepted.is_empty() {
            return Err(MapFull);
        }
        if self.push(accepted).is_ok() {
            return if accepted == region {
                Ok(())
            } else {
                Err(MapFull)
            };
        }
        if region.kind != RegionKind::Usable {
            self.exclude(region.start, region.end);
            // Taking out usable memory may have made room; the range stays excluded either way.
            let _ = self.push(region);
        }
        Err(MapFull)
    }

    /// Takes `[start, end)` out of all usable memory, present and future.
    fn exclude(&mut self, start: u64, end: u64) {
        let excluded = match self.excluded {
            Some((old_start, old_end)) => (old_start.min(start), old_end.max(end)),
            None => (start, end),
        };
        self.excluded = Some(excluded);
        for region in &mut self.regions[..self.len] {
            if region.kind == RegionKind::Usable {
                *region = region.outside(excluded);
            }
        }
        self.retain(|region| !region.is_empty());
    }

    fn push(&mut self, region: Region) -> Result<(), MapFull> {
        let slot = self.regions.get_mut(self.len).ok_or(MapFull)?;
        *slot = region;
        self.len += 1;
        Ok(())
    }

    fn retain(&mut self, keep: impl Fn(&Region) -> bool) {
        let mut kept = 0;
        for i in 0..self.len {
            if keep(&self.regions[i]) {
                self.regions[kept] = self.regions[i];
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Sorts the regions and makes them disjoint and page-aligned: at every address the most
    /// restrictive kind wins (bad memory, ACPI NVS, reserved, ACPI reclaimable, kernel, loader,
    /// usable, from most to least restrictive); usable ranges shrink inward to page boundaries,
    /// all others grow outward; adjacent regions of one kind merge; empty ones go. Every
    /// boundary is then a multiple of [`PAGE_SIZE`], except an end of `u64::MAX` (2^64).
    ///
    /// If the result has more than [`MAX_REGIONS`] regions, the lowest ones are kept, no
    /// usable memory is accepted above them any more, and `MapFull` is returned.
    pub fn normalize(&mut self) -> Result<(), MapFull> {
        // First resolve the overlaps of the raw input, so that adjacent pieces of one kind
        // merge before they are aligned, then align and resolve the overlaps that growing the
        // restrictive kinds onto their neighbours' pages creates.
        let mut runs = MemoryMap::new();
        let raw_cut = sweep(self.regions(), &mut runs).map(align_down);
        for region in &mut runs.regions[..runs.len] {
            *region = region.page_aligned();
        }
        runs.retain(|region| !region.is_empty());
        let aligned_cut = sweep(runs.regions(), self);
        match (raw_cut, aligned_cut) {
            (None, None) => Ok(()),
            (Some(cut), None) | (None, Some(cut)) => {
                self.exclude(cut, u64::MAX);
                Err(MapFull)
            }
            (Some(raw), Some(aligned)) => {
                self.exclude(raw.min(aligned), u64::MAX);
                Err(MapFull)
            }
        }
    }

    /// Total bytes of `kind`.
    pub fn total(&self, kind: RegionKind) -> u64 {
        self.regions()
            .iter()
            .filter(|region| region.kind == kind)
            .map(Region::len)
            .sum()
    }

    /// End of the highest region holding RAM the kernel may use now or later (usable, kernel,
    /// loader, ACPI reclaimable); 0 if there is none.
    pub fn ram_top(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|region| {
                matches!(
                    region.kind,
                    RegionKind::Usable
                        | RegionKind::Kernel
                        | RegionKind::Loader
                        | RegionKind::AcpiReclaimable
                )
            })
            .map(|region| region.end)
            .max()
            .unwrap_or(0)
    }

    /// The lowest address at or above 1 MiB, aligned to `align` (a power of two), where `bytes`
    /// of usable memory lie entirely below `below`. The map must be normalised. Nothing is
    /// marked: the caller records what it places there.
    pub fn find_free(&self, bytes: u64, align: u64, below: u64) -> Option<u64> {
        assert!(
            align.is_power_of_two(),
            "find_free: alignment {align:#x} is not a power of two"
        );
        self.regions()
            .iter()
            .filter(|region| region.kind == RegionKind::Usable)
            .find_map(|region| {
                let start = region
                    .start
                    .max(LOW_MEMORY_END)
                    .checked_next_multiple_of(align)?;
                let end = start.checked_add(bytes)?;
                (end <= region.end && end <= below).then_some(start)
            })
    }
}

/// Writes to `out` the sorted, disjoint, merged runs of `input`, each elementary interval
/// taking the most restrictive kind among the input regions covering it. If `out` fills up,
/// keeps the lowest runs and returns the start of the first one dropped.
fn sweep(input: &[Region], out: &mut MemoryMap) -> Option<u64> {
    let mut bounds = [0u64; 2 * MAX_REGIONS];
    for (i, region) in input.iter().enumerate() {
        bounds[2 * i] = region.start;
        bounds[2 * i + 1] = region.end;
    }
    let bounds = &mut bounds[..2 * input.len()];
    bounds.sort_unstable();
    out.len = 0;
    // Between two consecutive distinct bounds, each input region covers all or nothing.
    for pair in bounds.windows(2).filter(|pair| pair[0] < pair[1]) {
        let (start, end) = (pair[0], pair[1]);
        let Some(kind) = input
            .iter()
            .filter(|region| region.start <= start && end <= region.end)
            .map(|region| region.kind)
            .max_by_key(|kind| kind.priority())
        else {
            continue;
        };
        match out.regions[..out.len].last_mut() {
            Some(last) if last.end == start && last.kind == kind => last.end = end,
            _ => {
                if out.push(Region { start, end, kind }).is_err() {
                    return Some(start);
                }
            }
        }
    }
    None
}

/// The boot protocol the kernel was entered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Multiboot 0.6.96 (QEMU `-kernel`, GRUB `multiboot`).
    Multiboot1,
    /// Multiboot 2.0 (GRUB `multiboot2`).
    Multiboot2,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Multiboot1 => "multiboot1",
            Protocol::Multiboot2 => "multiboot2",
        })
    }
}

/// Capacity of the command line, in bytes.
pub const CMDLINE_MAX: usize = 1024;
/// Capacity of the loader's name, in bytes (a longer name is truncated).
pub const LOADER_NAME_MAX: usize = 64;

/// At most `N` bytes of text.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    const EMPTY: Self = Text {
        bytes: [0; N],
        len: 0,
    };

    /// Appends a byte; false if full.
    fn push(&mut self, byte: u8) -> bool {
        match self.bytes.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The longest valid UTF-8 prefix.
    fn as_str(&self) -> &str {
        let bytes = &self.bytes[..self.len];
        match core::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default(),
        }
    }
}

/// The screen the loader left (Multiboot2 framebuffer tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framebuffer {
    /// Physical address.
    pub addr: u64,
    /// Bytes per line (text mode: per row of characters).
    pub pitch: u32,
    /// Pixels (text mode: characters) per line.
    pub width: u32,
    /// Lines (text mode: rows).
    pub height: u32,
    /// Bits per pixel (text mode: 16 per character cell).
    pub bpp: u8,
    /// What the memory holds.
    pub kind: FramebufferKind,
}

/// The layout of a framebuffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramebufferKind {
    /// Direct colour: each colour's lowest bit position and width in bits.
    Rgb {
        /// Red field position.
        red_pos: u8,
        /// Red field width.
        red_size: u8,
        /// Green field position.
        green_pos: u8,
        /// Green field width.
        green_size: u8,
        /// Blue field position.
        blue_pos: u8,
        /// Blue field width.
        blue_size: u8,
    },
    /// VGA text mode: character and attribute bytes.
    EgaText,
    /// Indexed colour or anything else this kernel does not draw on.
    Other(u8),
}

/// Everything the kernel uses from the boot loader.
#[derive(Clone)]
pub struct BootInfo {
    /// How the kernel was entered.
    pub protocol: Protocol,
    /// The loader's framebuffer (Multiboot2 only; under Multiboot1 the screen, if any, is the
    /// VGA text buffer the BIOS left).
    pub framebuffer: Option<Framebuffer>,
    /// The normalised memory map, with the kernel image and the loader structures marked.
    pub memory: MemoryMap,
    /// The loader's map had more regions than [`MAX_REGIONS`]: some were dropped, safely (see
    /// [`MemoryMap::add`]).
    pub memory_map_truncated: bool,
    /// Physical address of the RSDP (a copy inside the loader's structure); Multiboot1 has none.
    pub rsdp: Option<u64>,
    cmdline: Text<CMDLINE_MAX>,
    loader_name: Text<LOADER_NAME_MAX>,
}

impl fmt::Debug for BootInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootInfo")
            .field("protocol", &self.protocol)
            .field("cmdline", &self.cmdline())
            .field("loader_name", &self.loader_name())
            .field("rsdp", &self.rsdp)
            .field("memory_map_truncated", &self.memory_map_truncated)
            .field("memory", &self.memory)
            .finish()
    }
}

impl BootInfo {
    fn new(protocol: Protocol) -> Self {
        BootInfo {
            protocol,
            framebuffer: None,
            memory: MemoryMap::new(),
            memory_map_truncated: false,
            rsdp: None,
            cmdline: Text::EMPTY,
            loader_name: Text::EMPTY,
        }
    }

    /// The kernel's command line (under Multiboot1 without the kernel path the loader puts
    /// first). Valid UTF-8 of at most [`CMDLINE_MAX`] bytes: [`parse`] rejects anything else.
    pub fn cmdline(&self) -> &str {
        self.cmdline.as_str()
    }

    /// The loader's name, as far as it is valid UTF-8, cut at [`LOADER_NAME_MAX`] bytes; empty
    /// if the loader gave none.
    pub fn loader_name(&self) -> &str {
        self.loader_name.as_str()
    }

    fn add_region(&mut self, region: Region) {
        if self.memory.add(region).is_err() {
            self.memory_map_truncated = true;
        }
    }

    /// Marks a loader structure of `len` bytes at `phys` the kernel read.
    fn add_loader(&mut self, phys: u64, len: u64) {
        self.add_region(Region::from_base_len(phys, len, RegionKind::Loader));
    }
}

/// Why the loader's information could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootInfoError {
    /// EAX held neither Multiboot magic.
    UnknownMagic(u32),
    /// A structure could not be read.
    Unreadable {
        /// Which structure.
        what: &'static str,
        /// Its physical address.
        phys: u64,
    },
    /// The loader reported neither a memory map nor the basic memory sizes.
    NoMemoryMap,
    /// A structure is inconsistent (for example a tag runs past the end).
    Malformed(&'static str),
    /// The command line is longer than [`CMDLINE_MAX`] bytes.
    CmdlineTooLong,
    /// The command line is not valid UTF-8.
    CmdlineNotUtf8,
}

impl fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BootInfoError::UnknownMagic(magic) => write!(
                f,
                "unknown boot loader magic {magic:#010x} (expected multiboot1 \
                 {MULTIBOOT1_BOOTLOADER_MAGIC:#010x} or multiboot2 \
                 {MULTIBOOT2_BOOTLOADER_MAGIC:#010x})"
            ),
            BootInfoError::Unreadable { what, phys } => {
                write!(f, "cannot read the {what} at {phys:#x}")
            }
            BootInfoError::NoMemoryMap => f.write_str("the boot loader gave no memory map"),
            BootInfoError::Malformed(what) => write!(f, "malformed boot information: {what}"),
            BootInfoError::CmdlineTooLong => {
                write!(f, "the command line is longer than {CMDLINE_MAX} bytes")
            }
            BootInfoError::CmdlineNotUtf8 => f.write_str("the command line is not valid UTF-8"),
        }
    }
}

/// Reads the loader's information, given the magic from EAX and the address from EBX, and the
/// physical range `[kernel.0, kernel.1)` of the kernel image.
pub fn parse(
    magic: u32,
    info_phys: u64,
    mem: &impl PhysRead,
    kernel: (u64, u64),
) -> Result<BootInfo, BootInfoError> {
    let mut info = match magic {
        MULTIBOOT1_BOOTLOADER_MAGIC => parse_multiboot1(info_phys, mem)?,
        MULTIBOOT2_BOOTLOADER_MAGIC => parse_multiboot2(info_phys, mem)?,
        _ => return Err(BootInfoError::UnknownMagic(magic)),
    };
    info.add_region(Region {
        start: kernel.0,
        end: kernel.1,
        kind: RegionKind::Kernel,
    });
    if info.memory.normalize().is_err() {
        info.memory_map_truncated = true;
    }
    Ok(info)
}

// Memory map entry types, shared by both protocols (Multiboot 0.6.96 3.3, Multiboot 2.0 3.6.8).
/// `MULTIBOOT_MEMORY_AVAILABLE`: usable RAM.
const MULTIBOOT_MEMORY_AVAILABLE: u32 = 1;
/// `MULTIBOOT_MEMORY_ACPI_RECLAIMABLE`: ACPI tables.
const MULTIBOOT_MEMORY_ACPI_RECLAIMABLE: u32 = 3;
/// `MULTIBOOT_MEMORY_NVS`: ACPI non-volatile storage.
const MULTIBOOT_MEMORY_NVS: u32 = 4;
/// `MULTIBOOT_MEMORY_BADRAM`: defective RAM.
const MULTIBOOT_MEMORY_BADRAM: u32 = 5;

/// Bytes of a memory map entry after its size field (MB1) or before its reserved field (MB2):
/// `base_addr: u64, length: u64, type: u32`.
const MMAP_ENTRY_LEN: usize = 20;

/// Longest string the kernel scans for its NUL under Multiboot1, which gives no length.
const MB1_STRING_SCAN_LIMIT: u64 = 64 * 1024;
/// Longest Multiboot1 memory map the kernel accepts (a real one has a few dozen entries).
const MB1_MMAP_MAX_LEN: u32 = 64 * 1024;
/// Largest Multiboot2 information structure the kernel accepts.
const MB2_MAX_TOTAL_SIZE: u32 = 1024 * 1024;

// Multiboot1 information structure (Multiboot 0.6.96, 3.3): `flags` bits and field offsets.
/// `MULTIBOOT_INFO_MEMORY`: `mem_lower` and `mem_upper` are valid.
const MB1_INFO_MEMORY: u32 = 1 << 0;
/// `MULTIBOOT_INFO_CMDLINE`: `cmdline` is valid.
const MB1_INFO_CMDLINE: u32 = 1 << 2;
/// `MULTIBOOT_INFO_MEM_MAP`: `mmap_length` and `mmap_addr` are valid.
const MB1_INFO_MEM_MAP: u32 = 1 << 6;
/// `MULTIBOOT_INFO_BOOT_LOADER_NAME`: `boot_loader_name` is valid.
const MB1_INFO_BOOT_LOADER_NAME: u32 = 1 << 9;
const MB1_FLAGS: usize = 0;
const MB1_MEM_LOWER: usize = 4;
const MB1_MEM_UPPER: usize = 8;
const MB1_CMDLINE: usize = 16;
const MB1_MMAP_LENGTH: usize = 44;
const MB1_MMAP_ADDR: usize = 48;
const MB1_BOOT_LOADER_NAME: usize = 64;
/// Bytes of the structure the kernel reads: `flags` through `boot_loader_name`.
const MB1_INFO_LEN: usize = 68;

// Multiboot2 tags (Multiboot 2.0, 3.6).
/// Tags start on 8-byte boundaries.
const MB2_TAG_ALIGN: u64 = 8;
/// `total_size: u32, reserved: u32` before the first tag; also the size of a tag header.
const MB2_HEADER_LEN: u64 = 8;
const MB2_TAG_TYPE_END: u32 = 0;
const MB2_TAG_TYPE_CMDLINE: u32 = 1;
const MB2_TAG_TYPE_BOOT_LOADER_NAME: u32 = 2;
const MB2_TAG_TYPE_BASIC_MEMINFO: u32 = 4;
const MB2_TAG_TYPE_MMAP: u32 = 6;
const MB2_TAG_TYPE_ACPI_OLD: u32 = 14;
const MB2_TAG_TYPE_ACPI_NEW: u32 = 15;
const MB2_TAG_TYPE_FRAMEBUFFER: u32 = 8;
/// Bytes of the framebuffer tag up to its colour information: header, `addr: u64`,
/// `pitch, width, height: u32`, `bpp: u8`, `type: u8`, reserved u16 (Multiboot2 3.6.12).
const MB2_FRAMEBUFFER_LEN: u64 = 8 + 8 + 12 + 4;
/// Framebuffer types of that tag.
const MB2_FB_TYPE_RGB: u8 = 1;
const MB2_FB_TYPE_EGA_TEXT: u8 = 2;
/// Bytes of the memory map tag before its entries: header, `entry_size`, `entry_version`.
const MB2_MMAP_ENTRIES: u64 = 16;
/// Bytes of the basic memory information tag: header, `mem_lower`, `mem_upper`.
const MB2_BASIC_MEMINFO_LEN: u64 = 16;
/// Bytes of an ACPI 1.0 RSDP (ACPI 6.5, 5.2.5.3), as copied into the old-RSDP tag.
const RSDP_V1_LEN: u64 = 20;
/// Bytes of an ACPI 2.0+ RSDP, as copied into the new-RSDP tag.
const RSDP_V2_LEN: u64 = 36;

fn read(
    mem: &impl PhysRead,
    phys: u64,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), BootInfoError> {
    let readable = phys.checked_add(buf.len() as u64).is_some() && mem.read(phys, buf);
    readable
        .then_some(())
        .ok_or(BootInfoError::Unreadable { what, phys })
}

/// A memory map entry's region: `base_addr: u64, length: u64, type: u32` at `entry[0..20]`.
fn mmap_region(entry: &[u8]) -> Region {
    Region::from_base_len(
        u64_at(entry, 0),
        u64_at(entry, 8),
        RegionKind::from_multiboot(u32_at(entry, 16)),
    )
}

/// Reads a NUL-terminated string byte by byte, never past `end`.
struct StringReader<'m, M: PhysRead> {
    mem: &'m M,
    next: u64,
    end: u64,
    what: &'static str,
}

impl<M: PhysRead> StringReader<'_, M> {
    /// The next byte, or `None` at the NUL or at `end`.
    fn next_byte(&mut self) -> Result<Option<u8>, BootInfoError> {
        if self.next >= self.end {
            return Ok(None);
        }
        let mut byte = [0];
        read(self.mem, self.next, &mut byte, self.what)?;
        self.next += 1;
        Ok((byte[0] != 0).then_some(byte[0]))
    }
}

/// Reads a command line; with `drop_first_word`, the first word (the kernel's path, which
/// Multiboot1 loaders put first) and the whitespace after it are skipped. Returns the command
/// line and the number of bytes read.
fn read_cmdline(
    mut reader: StringReader<'_, impl PhysRead>,
    drop_first_word: bool,
) -> Result<(Text<CMDLINE_MAX>, u64), BootInfoError> {
    let start = reader.next;
    let mut byte = reader.next_byte()?;
    if drop_first_word {
        while byte.is_some_and(|b| b.is_ascii_whitespace()) {
            byte = reader.next_byte()?;
        }
        while byte.is_some_and(|b| !b.is_ascii_whitespace()) {
            byte = reader.next_byte()?;
        }
        while byte.is_some_and(|b| b.is_ascii_whitespace()) {
            byte = reader.next_byte()?;
        }
    }
    let mut cmdline = Text::EMPTY;
    while let Some(b) = byte {
        if !cmdline.push(b) {
            return Err(BootInfoError::CmdlineTooLong);
        }
        byte = reader.next_byte()?;
    }
    if core::str::from_utf8(&cmdline.bytes[..cmdline.len]).is_err() {
        return Err(BootInfoError::CmdlineNotUtf8);
    }
    Ok((cmdline, reader.next - start))
}

/// Reads the loader's name, cut at [`LOADER_NAME_MAX`] bytes. Returns the name and the number
/// of bytes read.
fn read_loader_name(
    mut reader: StringReader<'_, impl PhysRead>,
) -> Result<(Text<LOADER_NAME_MAX>, u64), BootInfoError> {
    let start = reader.next;
    let mut name = Text::EMPTY;
    while name.len < LOADER_NAME_MAX {
        match reader.next_byte()? {
            Some(byte) => name.push(byte),
            None => break,
        };
    }
    Ok((name, reader.next - start))
}

fn parse_multiboot1(info_phys: u64, mem: &impl PhysRead) -> Result<BootInfo, BootInfoError> {
    let mut info = BootInfo::new(Protocol::Multiboot1);
    let mut block = [0u8; MB1_INFO_LEN];
    read(mem, info_phys, &mut block, "multiboot1 information")?;
    info.add_loader(info_phys, MB1_INFO_LEN as u64);
    let flags = u32_at(&block, MB1_FLAGS);

    let mmap_length = u32_at(&block, MB1_MMAP_LENGTH);
    if flags & MB1_INFO_MEM_MAP != 0 && mmap_length != 0 {
        if mmap_length > MB1_MMAP_MAX_LEN {
            return Err(BootInfoError::Malformed(
                "multiboot1 memory map longer than 64 KiB",
            ));
        }
        let mmap_addr = u64::from(u32_at(&block, MB1_MMAP_ADDR));
        info.add_loader(mmap_addr, mmap_length.into());
        // Each entry: `size: u32` (not counting itself), then at least the 20 bytes we read.
        let mut offset = 0;
        while offset < u64::from(mmap_length) {
            let remaining = u64::from(mmap_length) - offset;
            let mut size = [0u8; 4];
            if remaining < 4 {
                return Err(BootInfoError::Malformed(
                    "multiboot1 memory map ends inside an entry",
                ));
            }
            read(mem, mmap_addr + offset, &mut size, "multiboot1 memory map")?;
            let size = u64::from(u32::from_le_bytes(size));
            if size < MMAP_ENTRY_LEN as u64 {
                return Err(BootInfoError::Malformed(
                    "multiboot1 memory map entry shorter than 20 bytes",
                ));
            }
            if 4 + size > remaining {
                return Err(BootInfoError::Malformed(
                    "multiboot1 memory map ends inside an entry",
                ));
            }
            let mut entry = [0u8; MMAP_ENTRY_LEN];
            read(
                mem,
                mmap_addr + offset + 4,
                &mut entry,
                "multiboot1 memory map",
            )?;
            info.add_region(mmap_region(&entry));
            offset += 4 + size;
        }
    } else if flags & MB1_INFO_MEMORY != 0 {
        // Sizes in KiB of the RAM from 0 and from 1 MiB (Multiboot 0.6.96, 3.3).
        let lower = u64::from(u32_at(&block, MB1_MEM_LOWER)) * 1024;
        let upper = u64::from(u32_at(&block, MB1_MEM_UPPER)) * 1024;
        info.add_region(Region::from_base_len(0, lower, RegionKind::Usable));
        info.add_region(Region::from_base_len(
            LOW_MEMORY_END,
            upper,
            RegionKind::Usable,
        ));
    } else {
        return Err(BootInfoError::NoMemoryMap);
    }

    let mb1_string = |at: usize, what| {
        let phys = u64::from(u32_at(&block, at));
        StringReader {
            mem,
            next: phys,
            end: phys + MB1_STRING_SCAN_LIMIT,
            what,
        }
    };
    if flags & MB1_INFO_CMDLINE != 0 {
        let reader = mb1_string(MB1_CMDLINE, "multiboot1 command line");
        let phys = reader.next;
        let (cmdline, read) = read_cmdline(reader, true)?;
        info.cmdline = cmdline;
        info.add_loader(phys, read);
    }
    if flags & MB1_INFO_BOOT_LOADER_NAME != 0 {
        let reader = mb1_string(MB1_BOOT_LOADER_NAME, "multiboot1 boot loader name");
        let phys = reader.next;
        let (name, read) = read_loader_name(reader)?;
        info.loader_name = name;
        info.add_loader(phys, read);
    }
    Ok(info)
}

fn parse_multiboot2(info_phys: u64, mem: &impl PhysRead) -> Result<BootInfo, BootInfoError> {
    let mut info = BootInfo::new(Protocol::Multiboot2);
    let mut header = [0u8; MB2_HEADER_LEN as usize];
    read(mem, info_phys, &mut header, "multiboot2 information")?;
    let total_size = u32_at(&header, 0);
    if u64::from(total_size) < 2 * MB2_HEADER_LEN || total_size > MB2_MAX_TOTAL_SIZE {
        return Err(BootInfoError::Malformed(
            "multiboot2 total_size out of range",
        ));
    }
    let total_size = u64::from(total_size);
    // Every tag, the strings and the memory map included, lies inside the structure.
    info.add_loader(info_phys, total_size);

    let mut has_memory_map = false;
    let mut basic_meminfo = None;
    let (mut rsdp_old, mut rsdp_new) = (None, None);
    let mut offset = MB2_HEADER_LEN;
    loop {
        if offset + MB2_HEADER_LEN > total_size {
            return Err(BootInfoError::Malformed(
                "multiboot2 information has no end tag",
            ));
        }
        let tag = info_phys + offset;
        read(mem, tag, &mut header, "multiboot2 tag")?;
        let (kind, size) = (u32_at(&header, 0), u64::from(u32_at(&header, 4)));
        if size < MB2_HEADER_LEN {
            return Err(BootInfoError::Malformed(
                "multiboot2 tag shorter than its header",
            ));
        }
        if offset + size > total_size {
            return Err(BootInfoError::Malformed("multiboot2 tag runs past the end"));
        }
        let string = |what| StringReader {
            mem,
            next: tag + MB2_HEADER_LEN,
            end: tag + size,
            what,
        };
        match kind {
            MB2_TAG_TYPE_END => break,
            MB2_TAG_TYPE_CMDLINE => {
                info.cmdline = read_cmdline(string("multiboot2 command line"), false)?.0;
            }
            MB2_TAG_TYPE_BOOT_LOADER_NAME => {
                info.loader_name = read_loader_name(string("multiboot2 boot loader name"))?.0;
            }
            MB2_TAG_TYPE_BASIC_MEMINFO => {
                if size < MB2_BASIC_MEMINFO_LEN {
                    return Err(BootInfoError::Malformed(
                        "multiboot2 basic memory tag too short",
                    ));
                }
                let mut tag_bytes = [0u8; MB2_BASIC_MEMINFO_LEN as usize];
                read(
                    mem,
                    tag,
                    &mut tag_bytes,
                    "multiboot2 basic memory information",
                )?;
                basic_meminfo = Some((u32_at(&tag_bytes, 8), u32_at(&tag_bytes, 12)));
            }
            MB2_TAG_TYPE_MMAP => {
                if size < MB2_MMAP_ENTRIES {
                    return Err(BootInfoError::Malformed(
                        "multiboot2 memory map tag too short",
                    ));
                }
                let mut fields = [0u8; 8];
                read(
                    mem,
                    tag + MB2_HEADER_LEN,
                    &mut fields,
                    "multiboot2 memory map",
                )?;
                let entry_size = u64::from(u32_at(&fields, 0));
                if entry_size < MMAP_ENTRY_LEN as u64 {
                    return Err(BootInfoError::Malformed(
                        "multiboot2 memory map entry_size too small",
                    ));
                }
                let mut entry_offset = MB2_MMAP_ENTRIES;
                while entry_offset + entry_size <= size {
                    let mut entry = [0u8; MMAP_ENTRY_LEN];
                    read(mem, tag + entry_offset, &mut entry, "multiboot2 memory map")?;
                    info.add_region(mmap_region(&entry));
                    entry_offset += entry_size;
                }
                has_memory_map = true;
            }
            MB2_TAG_TYPE_ACPI_OLD => {
                if size < MB2_HEADER_LEN + RSDP_V1_LEN {
                    return Err(BootInfoError::Malformed(
                        "multiboot2 old RSDP tag too short",
                    ));
                }
                rsdp_old = Some(tag + MB2_HEADER_LEN);
            }
            MB2_TAG_TYPE_FRAMEBUFFER => {
                if size < MB2_FRAMEBUFFER_LEN {
                    return Err(BootInfoError::Malformed(
                        "multiboot2 framebuffer tag too short",
                    ));
                }
                let mut b = [0u8; MB2_FRAMEBUFFER_LEN as usize + 6];
                let n = (size.min(b.len() as u64)) as usize;
                read(mem, tag, &mut b[..n], "multiboot2 framebuffer tag")?;
                let kind = match b[29] {
                    MB2_FB_TYPE_RGB if n >= b.len() => FramebufferKind::Rgb {
                        red_pos: b[32],
                        red_size: b[33],
                        green_pos: b[34],
                        green_size: b[35],
                        blue_pos: b[36],
                        blue_size: b[37],
                    },
                    MB2_FB_TYPE_EGA_TEXT => FramebufferKind::EgaText,
                    t => FramebufferKind::Other(t),
                };
                info.framebuffer = Some(Framebuffer {
                    addr: u64::from_le_bytes(b[8..16].try_into().unwrap()),
                    pitch: u32_at(&b, 16),
                    width: u32_at(&b, 20),
                    height: u32_at(&b, 24),
                    bpp: b[28],
                    kind,
                });
            }
            MB2_TAG_TYPE_ACPI_NEW => {
                if size < MB2_HEADER_LEN + RSDP_V2_LEN {
                    return Err(BootInfoError::Malformed(
                        "multiboot2 new RSDP tag too short",
                    ));
                }
                rsdp_new = Some(tag + MB2_HEADER_LEN);
            }
            _ => {}
        }
        offset = (offset + size).next_multiple_of(MB2_TAG_ALIGN);
    }
    info.rsdp = rsdp_new.or(rsdp_old);

    if !has_memory_map {
        let (lower, upper) = basic_meminfo.ok_or(BootInfoError::NoMemoryMap)?;
        info.add_region(Region::from_base_len(
            0,
            u64::from(lower) * 1024,
            RegionKind::Usable,
        ));
        info.add_region(Region::from_base_len(
            LOW_MEMORY_END,
            u64::from(upper) * 1024,
            RegionKind::Usable,
        ));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;
    use RegionKind::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn region(start: u64, end: u64, kind: RegionKind) -> Region {
        Region { start, end, kind }
    }

    fn overlaps(a: &Region, b: &Region) -> bool {
        a.start < b.end && b.start < a.end
    }

    fn normalized(input: &[Region]) -> Vec<Region> {
        let mut map = MemoryMap::new();
        for &r in input {
            map.add(r).unwrap();
        }
        map.normalize().unwrap();
        map.regions().to_vec()
    }

    #[test]
    fn reserved_inside_usable_splits_it() {
        assert_eq!(
            normalized(&[
                region(MIB, 4 * MIB, Usable),
                region(2 * MIB, 3 * MIB, Reserved)
            ]),
            [
                region(MIB, 2 * MIB, Usable),
                region(2 * MIB, 3 * MIB, Reserved),
                region(3 * MIB, 4 * MIB, Usable)
            ]
        );
    }

    #[test]
    fn unaligned_reserved_takes_whole_pages_from_usable() {
        assert_eq!(
            normalized(&[
                region(MIB, 4 * MIB, Usable),
                region(0x20_0800, 0x20_0900, AcpiNvs)
            ]),
            [
                region(MIB, 0x20_0000, Usable),
                region(0x20_0000, 0x20_1000, AcpiNvs),
                region(0x20_1000, 4 * MIB, Usable)
            ]
        );
    }

    #[test]
    fn unaligned_edges() {
        assert_eq!(
            normalized(&[
                region(0x10_0123, 0x20_0fff, Usable),
                region(0x30_0010, 0x30_0020, Reserved)
            ]),
            [
                region(0x10_1000, 0x20_0000, Usable),
                region(0x30_0000, 0x30_1000, Reserved)
            ]
        );
        // Less than a page of usable memory disappears.
        assert_eq!(normalized(&[region(0x10_0001, 0x10_1001, Usable)]), []);
    }

    #[test]
    fn unsorted_input_is_sorted() {
        assert_eq!(
            normalized(&[
                region(8 * MIB, 9 * MIB, Usable),
                region(0, 0x1000, Reserved),
                region(2 * MIB, 3 * MIB, Kernel)
            ]),
            [
                region(0, 0x1000, Reserved),
                region(2 * MIB, 3 * MIB, Kernel),
                region(8 * MIB, 9 * MIB, Usable)
            ]
        );
    }

    #[test]
    fn adjacent_regions_of_one_kind_merge_others_do_not() {
        assert_eq!(
            normalized(&[
                region(MIB, 2 * MIB, Usable),
                region(2 * MIB, 3 * MIB, Usable),
                region(3 * MIB, 4 * MIB, Kernel),
                region(4 * MIB, 5 * MIB, Reserved),
                region(5 * MIB, 6 * MIB, Reserved),
            ]),
            [
                region(MIB, 3 * MIB, Usable),
                region(3 * MIB, 4 * MIB, Kernel),
                region(4 * MIB, 6 * MIB, Reserved)
            ]
        );
        // Usable pieces split at an unaligned address merge before they are aligned.
        assert_eq!(
            normalized(&[
                region(MIB, 0x10_1800, Usable),
                region(0x10_1800, 0x10_3000, Usable)
            ]),
            [region(MIB, 0x10_3000, Usable)]
        );
    }

    #[test]
    fn most_restrictive_kind_wins() {
        let by_priority = [
            BadMemory,
            AcpiNvs,
            Reserved,
            AcpiReclaimable,
            Kernel,
            Loader,
            Usable,
        ];
        for (i, &strong) in by_priority.iter().enumerate() {
            for &weak in &by_priority[i + 1..] {
                for input in [
                    [region(0, 0x4000, weak), region(0x1000, 0x2000, strong)],
                    [region(0x1000, 0x2000, strong), region(0, 0x4000, weak)],
                ] {
                    assert_eq!(
                        normalized(&input),
                        [
                            region(0, 0x1000, weak),
                            region(0x1000, 0x2000, strong),
                            region(0x2000, 0x4000, weak)
                        ],
                        "{strong:?} over {weak:?}"
                    );
                }
                // Partly overlapping, unaligned: the shared page goes to the stronger kind.
                let result =
                    normalized(&[region(0x800, 0x2800, strong), region(0x1800, 0x4800, weak)]);
                assert_eq!(
                    result[0],
                    region(0, 0x3000, strong),
                    "{strong:?} over {weak:?}"
                );
            }
        }
    }

    #[test]
    fn empty_and_inverted_regions_are_ignored() {
        let mut map = MemoryMap::new();
        map.add(region(0x5000, 0x5000, Reserved)).unwrap();
        map.add(region(0x9000, 0x5000, Usable)).unwrap();
        assert!(map.regions().is_empty());
        map.normalize().unwrap();
        assert!(map.regions().is_empty());
        assert_eq!(map.ram_top(), 0);
    }

    #[test]
    fn regions_ending_at_the_top_of_the_address_space_saturate() {
        let top = Region::from_base_len(0xffff_ffff_ffff_0000, 0x10_0000, Reserved);
        assert_eq!(top.end, u64::MAX);
        assert_eq!(
            normalized(&[top]),
            [region(0xffff_ffff_ffff_0000, u64::MAX, Reserved)]
        );
        let usable = Region::from_base_len(0xffff_ffff_ffff_0000, u64::MAX, Usable);
        assert_eq!(
            normalized(&[usable]),
            [region(0xffff_ffff_ffff_0000, 0xffff_ffff_ffff_f000, Usable)]
        );
        assert_eq!(
            normalized(&[usable, region(0xffff_ffff_ffff_f800, u64::MAX, BadMemory)]),
            [
                region(0xffff_ffff_ffff_0000, 0xffff_ffff_ffff_f000, Usable),
                region(0xffff_ffff_ffff_f000, u64::MAX, BadMemory)
            ]
        );
    }

    /// The map QEMU's q35 machine reports with 5 GiB of RAM, in the order SeaBIOS gives it.
    fn q35_5gib() -> [Region; 6] {
        [
            region(0, 0x9_fc00, Usable),
            region(0x9_fc00, 0xa_0000, Reserved),
            region(0xf_0000, 0x10_0000, Reserved),
            region(0x10_0000, 0x7ffd_f000, Usable),
            region(0x7ffd_f000, 0x8000_0000, Reserved),
            Region::from_base_len(0x1_0000_0000, 0x8000_0000 + 0x2000_0000 + 0x40_0000, Usable),
        ]
    }

    #[test]
    fn q35_with_memory_above_the_4_gib_hole() {
        let mut input = q35_5gib().to_vec();
        input.push(region(0xb000_0000, 0xc000_0000, Reserved)); // PCIe ECAM
        input.push(region(0xfed1_c000, 0xfed2_0000, Reserved));
        input.push(region(0xfeff_c000, 0xff00_0000, Reserved));
        input.push(region(0xfffc_0000, 0x1_0000_0000, Reserved));
        input.push(region(0x20_0000, 0x40_0000, Kernel));
        let map = {
            let mut map = MemoryMap::new();
            for r in input {
                map.add(r).unwrap();
            }
            map.normalize().unwrap();
            map
        };
        assert_eq!(
            map.regions(),
            [
                region(0, 0x9_f000, Usable),
                region(0x9_f000, 0xa_0000, Reserved),
                region(0xf_0000, 0x10_0000, Reserved),
                region(0x10_0000, 0x20_0000, Usable),
                region(0x20_0000, 0x40_0000, Kernel),
                region(0x40_0000, 0x7ffd_f000, Usable),
                region(0x7ffd_f000, 0x8000_0000, Reserved),
                region(0xb000_0000, 0xc000_0000, Reserved),
                region(0xfed1_c000, 0xfed2_0000, Reserved),
                region(0xfeff_c000, 0xff00_0000, Reserved),
                region(0xfffc_0000, 0x1_0000_0000, Reserved),
                region(0x1_0000_0000, 0x1_a040_0000, Usable),
            ]
        );
        assert_eq!(map.ram_top(), 0x1_a040_0000);
        assert_eq!(map.total(Kernel), 2 * MIB);
        assert_eq!(
            map.total(Usable),
            0x9_f000 + MIB + (0x7ffd_f000 - 0x40_0000) + 0xa040_0000
        );
        // Placement: above 1 MiB, aligned, below the limit, in usable memory only.
        assert_eq!(map.find_free(0x1000, 0x1000, u64::MAX), Some(0x10_0000));
        assert_eq!(map.find_free(2 * MIB, 2 * MIB, u64::MAX), Some(0x40_0000));
        assert_eq!(map.find_free(GIB / 2, GIB, u64::MAX), Some(GIB));
        assert_eq!(map.find_free(GIB, GIB, u64::MAX), Some(4 * GIB));
        assert_eq!(map.find_free(2 * GIB, 0x1000, u64::MAX), Some(4 * GIB));
        assert_eq!(map.find_free(2 * GIB, 0x1000, 4 * GIB), None);
        assert_eq!(map.find_free(0x10_0000, 0x1000, 0x20_0000), Some(0x10_0000));
        assert_eq!(map.find_free(0x10_0001, 0x1000, 0x20_0000), None);
        assert_eq!(map.find_free(3 * GIB, 0x1000, u64::MAX), None);
    }

    #[test]
    fn full_map_drops_safely_and_reports() {
        // Disjoint, non-adjacent regions: normalising cannot make room.
        let mut map = MemoryMap::new();
        for i in 0..MAX_REGIONS as u64 {
            map.add(region(i * 2 * MIB, i * 2 * MIB + MIB, Usable))
                .unwrap();
        }
        let before = map.clone();
        assert_eq!(
            map.add(region(1000 * MIB, 1001 * MIB, Usable)),
            Err(MapFull)
        );
        assert_eq!(map.regions(), before.regions());
        // A reserved region that does not fit takes its range out of the usable memory, which
        // here makes room for it.
        let reserved = region(3 * MIB + MIB / 2, 7 * MIB, Reserved);
        assert_eq!(map.add(reserved), Err(MapFull));
        assert!(map.regions().contains(&reserved));
        assert_eq!(map.regions().len(), MAX_REGIONS - 1);
        // Usable memory in that range is refused from now on.
        assert_eq!(map.add(region(4 * MIB, 5 * MIB, Usable)), Err(MapFull));
        assert_eq!(map.add(region(3 * MIB, 4 * MIB, Usable)), Err(MapFull));
        assert_eq!(
            map.regions().last(),
            Some(&region(3 * MIB, 3 * MIB + MIB / 2, Usable))
        );
        map.normalize().unwrap();
        assert!(
            map.regions()
                .iter()
                .all(|r| r.kind != Usable || !overlaps(r, &reserved))
        );
    }

    #[test]
    fn full_map_makes_room_by_normalising() {
        let mut map = MemoryMap::new();
        for i in 0..MAX_REGIONS as u64 * 2 {
            map.add(region(i * MIB, (i + 1) * MIB, Usable)).unwrap();
        }
        map.normalize().unwrap();
        assert_eq!(map.regions(), [region(0, 256 * MIB, Usable)]);
    }

    #[test]
    fn normalize_overflow_keeps_the_lowest_regions() {
        let mut map = MemoryMap::new();
        map.add(region(0, 1024 * MIB, Usable)).unwrap();
        for i in 0..100 {
            map.add(region(i * 4 * MIB, i * 4 * MIB + 0x1000, Reserved))
                .unwrap();
        }
        assert_eq!(map.normalize(), Err(MapFull));
        let regions = map.regions();
        assert_eq!(regions.len(), MAX_REGIONS);
        assert_eq!(regions[0], region(0, 0x1000, Reserved));
        assert!(regions.windows(2).all(|w| w[0].end <= w[1].start));
        assert_eq!(regions.last().unwrap().end, 256 * MIB);
        // Nothing is known above the kept regions any more: usable memory there is refused.
        let before = map.clone();
        assert_eq!(map.add(region(512 * MIB, 600 * MIB, Usable)), Err(MapFull));
        assert_eq!(map.regions(), before.regions());
    }

    /// The kind the raw input gives `address`: the most restrictive region covering it.
    fn reference_kind(input: &[Region], address: u64) -> Option<RegionKind> {
        input
            .iter()
            .filter(|r| r.start <= address && address < r.end)
            .map(|r| r.kind)
            .max_by_key(|k| k.priority())
    }

    const KINDS: [RegionKind; 9] = [
        Usable,
        Usable,
        Usable,
        Reserved,
        AcpiReclaimable,
        AcpiNvs,
        BadMemory,
        Kernel,
        Loader,
    ];

    /// `count` random regions starting below `span`, half of them shorter than `max_len`, the
    /// others shorter than three pages; many unaligned, many overlapping.
    fn random_regions(rng: &mut XorShift, count: usize, span: u64, max_len: u64) -> Vec<Region> {
        (0..count)
            .map(|_| {
                let start = rng.below(span) & !0xff;
                let len = if rng.coin() {
                    rng.below(0x3000)
                } else {
                    rng.below(max_len)
                };
                let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
                region(start, start + len, kind)
            })
            .collect()
    }

    /// The kinds `input` gives the page at `page`: at its start and at every input boundary
    /// inside it (the kind only changes there).
    fn reference_kinds_of_page(input: &[Region], page: u64) -> Vec<(u64, Option<RegionKind>)> {
        core::iter::once(page)
            .chain(
                input
                    .iter()
                    .flat_map(|r| [r.start, r.end])
                    .filter(|&b| b > page && b < page + PAGE_SIZE),
            )
            .map(|address| (address, reference_kind(input, address)))
            .collect()
    }

    #[test]
    fn random_overflowing_input_stays_safe() {
        for seed in 1..=20 {
            let mut rng = XorShift::new(seed);
            let count = 150 + rng.below(250) as usize;
            let input = random_regions(&mut rng, count, 4 * GIB, 8 * MIB);
            let mut map = MemoryMap::new();
            let mut lost = false;
            for &r in &input {
                lost |= map.add(r).is_err();
            }
            lost |= map.normalize().is_err();
            assert!(lost, "seed {seed}: the input should overflow the map");
            let result = map.regions();
            assert!(
                result.windows(2).all(|w| w[0].end <= w[1].start),
                "seed {seed}"
            );
            // Usable result memory must be usable in the input at its start and wherever the
            // input's kind can change inside it.
            for r in result.iter().filter(|r| r.kind == Usable) {
                let bounds = input.iter().flat_map(|i| [i.start, i.end]);
                for address in bounds
                    .filter(|&b| r.start < b && b < r.end)
                    .chain([r.start])
                {
                    let raw = reference_kind(&input, address);
                    assert_eq!(raw, Some(Usable), "seed {seed}: {address:#x} in {r:?}");
                }
            }
        }
    }

    #[test]
    fn random_garbage_normalises_safely() {
        for seed in 1..=200 {
            let mut rng = XorShift::new(seed);
            let count = 1 + rng.below(40) as usize;
            let input = random_regions(&mut rng, count, 64 * MIB, 16 * MIB);
            let result = normalized(&input);
            for w in result.windows(2) {
                assert!(
                    w[0].end <= w[1].start,
                    "seed {seed}: overlap or unsorted {w:?}"
                );
                assert!(
                    w[0].end < w[1].start || w[0].kind != w[1].kind,
                    "seed {seed}: unmerged {w:?}"
                );
            }
            for r in &result {
                assert!(
                    r.start.is_multiple_of(PAGE_SIZE)
                        && r.end.is_multiple_of(PAGE_SIZE)
                        && r.start < r.end,
                    "seed {seed}: {r:?}"
                );
            }
            let result_kind = |address: u64| {
                result
                    .iter()
                    .find(|r| r.start <= address && address < r.end)
                    .map(|r| r.kind)
            };
            for _ in 0..300 {
                let page = rng.below(81 * MIB) & !(PAGE_SIZE - 1);
                // The raw kind only changes at input boundaries: probe the page there.
                let raw = reference_kinds_of_page(&input, page);
                let all_usable = raw.iter().all(|(_, kind)| *kind == Some(Usable));
                // A page is usable exactly when every byte of it was usable.
                assert_eq!(
                    result_kind(page) == Some(Usable),
                    all_usable,
                    "seed {seed}: page {page:#x}"
                );
                // Nothing restrictive is lost or weakened (usable bytes of partial pages are).
                for &(address, kind) in &raw {
                    if let Some(kind) = kind.filter(|&kind| kind != Usable) {
                        let got = result_kind(address)
                            .unwrap_or_else(|| panic!("seed {seed}: {address:#x} lost"));
                        assert!(
                            got.priority() >= kind.priority(),
                            "seed {seed}: {address:#x} {kind:?} -> {got:?}"
                        );
                    }
                }
            }
        }
    }

    /// Physical memory for tests: `bytes` at `base`, everything else unreadable.
    struct FakeMem {
        base: u64,
        bytes: Vec<u8>,
    }

    impl FakeMem {
        fn new(base: u64, len: usize) -> Self {
            FakeMem {
                base,
                bytes: vec![0; len],
            }
        }

        fn put(&mut self, phys: u64, data: &[u8]) {
            let at = (phys - self.base) as usize;
            self.bytes[at..at + data.len()].copy_from_slice(data);
        }

        fn put_u32(&mut self, phys: u64, value: u32) {
            self.put(phys, &value.to_le_bytes());
        }
    }

    impl PhysRead for FakeMem {
        fn read(&self, phys: u64, buf: &mut [u8]) -> bool {
            let Some(at) = phys.checked_sub(self.base) else {
                return false;
            };
            let Some(src) = self.bytes.get(at as usize..at as usize + buf.len()) else {
                return false;
            };
            buf.copy_from_slice(src);
            true
        }
    }

    fn mb1_entry(base: u64, len: u64, kind: u32) -> Vec<u8> {
        let mut entry = 20u32.to_le_bytes().to_vec();
        entry.extend(base.to_le_bytes());
        entry.extend(len.to_le_bytes());
        entry.extend(kind.to_le_bytes());
        entry
    }

    const MB1_INFO: u64 = 0x9500;
    const MB1_CMDLINE_AT: u64 = 0xa000;
    const MB1_MMAP_AT: u64 = 0x9700;
    const MB1_NAME_AT: u64 = 0x9900;
    const KERNEL: (u64, u64) = (0x20_0000, 0x34_5000);

    /// What QEMU's `-kernel` builds: memory map, the kernel path first on the command line.
    fn qemu_multiboot1(cmdline: &[u8]) -> FakeMem {
        let mut mem = FakeMem::new(0x9000, 0x2000);
        let mut mmap = Vec::new();
        for (base, len, kind) in [
            (0, 0x9_fc00, 1),
            (0x9_fc00, 0x400, 2),
            (0xf_0000, 0x1_0000, 2),
            (0x10_0000, 0x7fe_0000 - 0x10_0000, 1),
            (0x7fe_0000, 0x2_0000, 2),
            (0xfffc_0000, 0x4_0000, 2),
        ] {
            mmap.extend(mb1_entry(base, len, kind));
        }
        mem.put(MB1_MMAP_AT, &mmap);
        mem.put_u32(
            MB1_INFO,
            MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MEM_MAP | MB1_INFO_BOOT_LOADER_NAME,
        );
        mem.put_u32(MB1_INFO + 4, 639);
        mem.put_u32(MB1_INFO + 8, 130_048);
        mem.put_u32(MB1_INFO + 16, MB1_CMDLINE_AT as u32);
        mem.put_u32(MB1_INFO + 44, mmap.len() as u32);
        mem.put_u32(MB1_INFO + 48, MB1_MMAP_AT as u32);
        mem.put_u32(MB1_INFO + 64, MB1_NAME_AT as u32);
        mem.put(MB1_CMDLINE_AT, cmdline);
        mem.put(MB1_NAME_AT, b"qemu\0");
        mem
    }

    #[test]
    fn multiboot1_from_qemu() {
        let mem = qemu_multiboot1(b"/tmp/kernel.elf  exit=halt test=all\0");
        let info = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &mem, KERNEL).unwrap();
        assert_eq!(info.protocol, Protocol::Multiboot1);
        assert_eq!(info.cmdline(), "exit=halt test=all");
        assert_eq!(info.loader_name(), "qemu");
        assert_eq!(info.rsdp, None);
        assert!(!info.memory_map_truncated);
        assert_eq!(
            info.memory.regions(),
            [
                region(0, 0x9000, Usable),
                region(0x9000, 0xb000, Loader),
                region(0xb000, 0x9_f000, Usable),
                region(0x9_f000, 0xa_0000, Reserved),
                region(0xf_0000, 0x10_0000, Reserved),
                region(0x10_0000, 0x20_0000, Usable),
                region(0x20_0000, 0x34_5000, Kernel),
                region(0x34_5000, 0x7fe_0000, Usable),
                region(0x7fe_0000, 0x800_0000, Reserved),
                region(0xfffc_0000, 0x1_0000_0000, Reserved),
            ]
        );
    }

    #[test]
    fn multiboot1_command_line_variants() {
        let cmdline_of = |raw: &[u8]| {
            let mem = qemu_multiboot1(raw);
            parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &mem, KERNEL)
                .map(|info| info.cmdline().to_string())
        };
        assert_eq!(cmdline_of(b"/boot/kernel\0"), Ok(String::new()));
        assert_eq!(cmdline_of(b"/boot/kernel \0"), Ok(String::new()));
        assert_eq!(cmdline_of(b"\0"), Ok(String::new()));
        assert_eq!(cmdline_of(b" kernel\thelp\0"), Ok("help".into()));
        let exact = [b"k ".as_slice(), &[b'x'; CMDLINE_MAX], b"\0"].concat();
        assert_eq!(cmdline_of(&exact).unwrap().len(), CMDLINE_MAX);
        let long = [b"k ".as_slice(), &[b'x'; CMDLINE_MAX + 1], b"\0"].concat();
        assert_eq!(cmdline_of(&long), Err(BootInfoError::CmdlineTooLong));
        assert_eq!(
            cmdline_of(b"k exit=\xff\0"),
            Err(BootInfoError::CmdlineNotUtf8)
        );
    }

    #[test]
    fn multiboot1_without_memory_map_uses_mem_lower_upper() {
        let mut mem = FakeMem::new(0x9000, 0x1000);
        mem.put_u32(MB1_INFO, MB1_INFO_MEMORY);
        mem.put_u32(MB1_INFO + 4, 639);
        mem.put_u32(MB1_INFO + 8, 127 * 1024);
        let info = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &mem, KERNEL).unwrap();
        assert_eq!(info.cmdline(), "");
        assert_eq!(info.loader_name(), "");
        assert_eq!(
            info.memory.regions(),
            [
                region(0, 0x9000, Usable),
                region(0x9000, 0xa000, Loader),
                region(0xa000, 0x9_f000, Usable),
                region(0x10_0000, 0x20_0000, Usable),
                region(0x20_0000, 0x34_5000, Kernel),
                region(0x34_5000, 0x800_0000, Usable),
            ]
        );
    }

    #[test]
    fn multiboot1_errors() {
        let mut mem = FakeMem::new(0x9000, 0x1000);
        mem.put_u32(MB1_INFO, MB1_INFO_CMDLINE);
        assert_eq!(
            parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &mem, KERNEL).unwrap_err(),
            BootInfoError::NoMemoryMap
        );
        assert_eq!(
            parse(MULTIBOOT1_BOOTLOADER_MAGIC, 0x20_0000, &mem, KERNEL).unwrap_err(),
            BootInfoError::Unreadable {
                what: "multiboot1 information",
                phys: 0x20_0000
            }
        );
        // A memory map whose last entry runs past mmap_length.
        let mut mem = qemu_multiboot1(b"k\0");
        mem.put_u32(MB1_INFO + 44, 6 * 24 - 1);
        assert!(matches!(
            parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &mem, KERNEL),
            Err(BootInfoError::Malformed(_))
        ));
        // A command line pointer into unreadable memory.
        let mut mem = qemu_multiboot1(b"k\0");
        mem.put_u32(MB1_INFO + 16, 0x5000);
        assert_eq!(
            parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &mem, KERNEL)
                .unwrap_err()
                .to_string(),
            "cannot read the multiboot1 command line at 0x5000"
        );
    }

    #[test]
    fn loader_name_is_cut_on_a_character_boundary() {
        let mut mem = qemu_multiboot1(b"k\0");
        let mut name = vec![b'a'; LOADER_NAME_MAX - 1];
        name.extend("é and more\0".as_bytes());
        mem.put(MB1_NAME_AT, &name);
        let info = parse(MULTIBOOT1_BOOTLOADER_MAGIC, MB1_INFO, &mem, KERNEL).unwrap();
        assert_eq!(info.loader_name(), "a".repeat(LOADER_NAME_MAX - 1));
    }

    /// Builds a Multiboot2 information structure from `(type, payload)` tags, at `base`.
    fn multiboot2(base: u64, tags: &[(u32, Vec<u8>)]) -> (FakeMem, Vec<u64>) {
        let mut bytes = vec![0u8; 8];
        let mut addresses = Vec::new();
        for (kind, payload) in tags {
            addresses.push(base + bytes.len() as u64);
            bytes.extend(kind.to_le_bytes());
            bytes.extend((8 + payload.len() as u32).to_le_bytes());
            bytes.extend(payload);
            bytes.resize(bytes.len().next_multiple_of(8), 0);
        }
        bytes.extend(MB2_TAG_TYPE_END.to_le_bytes());
        bytes.extend(8u32.to_le_bytes());
        let total_size = bytes.len() as u32;
        bytes[0..4].copy_from_slice(&total_size.to_le_bytes());
        let mut mem = FakeMem::new(base, bytes.len() + 64);
        mem.put(base, &bytes);
        (mem, addresses)
    }

    fn mb2_mmap(entries: &[Region]) -> Vec<u8> {
        let mut payload = 24u32.to_le_bytes().to_vec();
        payload.extend(0u32.to_le_bytes());
        for r in entries {
            let kind: u32 = match r.kind {
                Usable => 1,
                AcpiReclaimable => 3,
                AcpiNvs => 4,
                BadMemory => 5,
                _ => 2,
            };
            payload.extend(r.start.to_le_bytes());
            payload.extend((r.end - r.start).to_le_bytes());
            payload.extend(kind.to_le_bytes());
            payload.extend(0u32.to_le_bytes());
        }
        payload
    }

    const MB2_INFO: u64 = 0x1_0000;

    #[test]
    fn multiboot2_with_both_rsdp_copies_prefers_the_new_one() {
        let mut acpi_new = b"RSD PTR ".to_vec();
        acpi_new.resize(36, 2);
        let (mem, addresses) = multiboot2(
            MB2_INFO,
            &[
                (
                    MB2_TAG_TYPE_CMDLINE,
                    b"exit=qemu test=alloc_unique\0".to_vec(),
                ),
                (MB2_TAG_TYPE_BOOT_LOADER_NAME, b"GRUB 2.06\0".to_vec()),
                (MB2_TAG_TYPE_ACPI_OLD, b"RSD PTR old-20-bytes".to_vec()),
                (MB2_TAG_TYPE_MMAP, mb2_mmap(&q35_5gib())),
                (99, vec![1, 2, 3]),
                (MB2_TAG_TYPE_ACPI_NEW, acpi_new),
            ],
        );
        let info = parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL).unwrap();
        assert_eq!(info.protocol, Protocol::Multiboot2);
        assert_eq!(info.cmdline(), "exit=qemu test=alloc_unique");
        assert_eq!(info.loader_name(), "GRUB 2.06");
        assert_eq!(info.rsdp, Some(addresses[5] + 8));
        assert_eq!(
            info.memory.regions(),
            [
                region(0, MB2_INFO, Usable),
                region(MB2_INFO, MB2_INFO + 0x1000, Loader),
                region(MB2_INFO + 0x1000, 0x9_f000, Usable),
                region(0x9_f000, 0xa_0000, Reserved),
                region(0xf_0000, 0x10_0000, Reserved),
                region(0x10_0000, 0x20_0000, Usable),
                region(0x20_0000, 0x34_5000, Kernel),
                region(0x34_5000, 0x7ffd_f000, Usable),
                region(0x7ffd_f000, 0x8000_0000, Reserved),
                region(0x1_0000_0000, 0x1_a040_0000, Usable),
            ]
        );
    }

    #[test]
    fn multiboot2_framebuffer_tags() {
        // addr, pitch, width, height, bpp, type, reserved, then RGB field positions/sizes.
        let fb = |kind: u8, tail: &[u8]| {
            let mut p = 0xfd00_0000u64.to_le_bytes().to_vec();
            for v in [4096u32, 1024, 768] {
                p.extend(v.to_le_bytes());
            }
            p.extend([32, kind, 0, 0]);
            p.extend(tail);
            p
        };
        let (mem, _) = multiboot2(
            MB2_INFO,
            &[
                (MB2_TAG_TYPE_MMAP, mb2_mmap(&q35_5gib())),
                (MB2_TAG_TYPE_FRAMEBUFFER, fb(1, &[16, 8, 8, 8, 0, 8])),
            ],
        );
        let info = parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL).unwrap();
        assert_eq!(
            info.framebuffer,
            Some(Framebuffer {
                addr: 0xfd00_0000,
                pitch: 4096,
                width: 1024,
                height: 768,
                bpp: 32,
                kind: FramebufferKind::Rgb {
                    red_pos: 16,
                    red_size: 8,
                    green_pos: 8,
                    green_size: 8,
                    blue_pos: 0,
                    blue_size: 8
                },
            })
        );
        let (mem, _) = multiboot2(
            MB2_INFO,
            &[
                (MB2_TAG_TYPE_MMAP, mb2_mmap(&q35_5gib())),
                (MB2_TAG_TYPE_FRAMEBUFFER, fb(2, &[])),
            ],
        );
        let info = parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL).unwrap();
        assert_eq!(info.framebuffer.unwrap().kind, FramebufferKind::EgaText);
        let (mem, _) = multiboot2(
            MB2_INFO,
            &[
                (MB2_TAG_TYPE_MMAP, mb2_mmap(&q35_5gib())),
                (MB2_TAG_TYPE_FRAMEBUFFER, vec![0; 8]),
            ],
        );
        assert!(parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL).is_err());
    }

    #[test]
    fn multiboot2_old_rsdp_only_and_no_cmdline() {
        let (mem, addresses) = multiboot2(
            MB2_INFO,
            &[
                (MB2_TAG_TYPE_MMAP, mb2_mmap(&q35_5gib())),
                (MB2_TAG_TYPE_ACPI_OLD, vec![0; 20]),
            ],
        );
        let info = parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL).unwrap();
        assert_eq!(info.rsdp, Some(addresses[1] + 8));
        assert_eq!(info.cmdline(), "");
        assert_eq!(info.loader_name(), "");
    }

    #[test]
    fn multiboot2_basic_meminfo_without_memory_map() {
        let mut meminfo = 639u32.to_le_bytes().to_vec();
        meminfo.extend((127 * 1024u32).to_le_bytes());
        let (mem, _) = multiboot2(MB2_INFO, &[(MB2_TAG_TYPE_BASIC_MEMINFO, meminfo)]);
        let info = parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL).unwrap();
        assert_eq!(info.memory.ram_top(), 128 * MIB);
        let (mem, _) = multiboot2(MB2_INFO, &[(MB2_TAG_TYPE_CMDLINE, b"help\0".to_vec())]);
        assert_eq!(
            parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL).unwrap_err(),
            BootInfoError::NoMemoryMap
        );
    }

    #[test]
    fn multiboot2_malformed_structures() {
        let tags = [
            (MB2_TAG_TYPE_CMDLINE, b"help\0".to_vec()),
            (MB2_TAG_TYPE_MMAP, mb2_mmap(&q35_5gib())),
        ];
        let parse_with = |patch: &dyn Fn(&mut FakeMem, &[u64])| {
            let (mut mem, addresses) = multiboot2(MB2_INFO, &tags);
            patch(&mut mem, &addresses);
            parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL)
        };
        assert!(parse_with(&|_, _| {}).is_ok());
        let malformed = |what: &'static str| Err(BootInfoError::Malformed(what));
        // The memory map tag claims more bytes than the structure holds.
        assert_eq!(
            parse_with(&|mem, at| mem.put_u32(at[1] + 4, 4096)).map(|_| ()),
            malformed("multiboot2 tag runs past the end")
        );
        // The structure is cut short inside the memory map tag.
        assert_eq!(
            parse_with(&|mem, at| mem.put_u32(MB2_INFO, (at[1] - MB2_INFO) as u32 + 40))
                .map(|_| ()),
            malformed("multiboot2 tag runs past the end")
        );
        // Cut right after the memory map: the end tag is missing.
        let end_of_mmap = 16 + 24 * 6;
        assert_eq!(
            parse_with(&|mem, at| mem.put_u32(MB2_INFO, (at[1] - MB2_INFO) as u32 + end_of_mmap))
                .map(|_| ()),
            malformed("multiboot2 information has no end tag")
        );
        assert_eq!(
            parse_with(&|mem, at| mem.put_u32(at[0] + 4, 4)).map(|_| ()),
            malformed("multiboot2 tag shorter than its header")
        );
        assert_eq!(
            parse_with(&|mem, at| mem.put_u32(at[1] + 8, 16)).map(|_| ()),
            malformed("multiboot2 memory map entry_size too small")
        );
        assert_eq!(
            parse_with(&|mem, at| mem.put_u32(at[0], MB2_TAG_TYPE_ACPI_NEW)).map(|_| ()),
            malformed("multiboot2 new RSDP tag too short")
        );
        assert_eq!(
            parse_with(&|mem, _| mem.put_u32(MB2_INFO, 8)).map(|_| ()),
            malformed("multiboot2 total_size out of range")
        );
        assert_eq!(
            parse_with(&|mem, _| mem.put_u32(MB2_INFO, u32::MAX)).map(|_| ()),
            malformed("multiboot2 total_size out of range")
        );
    }

    #[test]
    fn multiboot2_command_line_errors() {
        let long = [vec![b'x'; CMDLINE_MAX + 1], vec![0]].concat();
        let (mem, _) = multiboot2(
            MB2_INFO,
            &[
                (MB2_TAG_TYPE_CMDLINE, long),
                (MB2_TAG_TYPE_MMAP, mb2_mmap(&q35_5gib())),
            ],
        );
        assert_eq!(
            parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL).unwrap_err(),
            BootInfoError::CmdlineTooLong
        );
        // Multiboot2 does not put the kernel path first: nothing is dropped, and a string that
        // fills its tag without a NUL ends with the tag.
        let (mem, _) = multiboot2(
            MB2_INFO,
            &[
                (MB2_TAG_TYPE_CMDLINE, b"exit=halt help".to_vec()),
                (MB2_TAG_TYPE_MMAP, mb2_mmap(&q35_5gib())),
            ],
        );
        assert_eq!(
            parse(MULTIBOOT2_BOOTLOADER_MAGIC, MB2_INFO, &mem, KERNEL)
                .unwrap()
                .cmdline(),
            "exit=halt help"
        );
    }

    #[test]
    fn unknown_magic() {
        let mem = FakeMem::new(0, 0);
        let err = parse(0x1234_5678, 0, &mem, KERNEL).unwrap_err();
        assert_eq!(err, BootInfoError::UnknownMagic(0x1234_5678));
        assert_eq!(
            err.to_string(),
            "unknown boot loader magic 0x12345678 (expected multiboot1 0x2badb002 or multiboot2 0x36d76289)"
        );
    }
}
