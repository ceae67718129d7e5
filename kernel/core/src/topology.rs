//! CPU topology from CPUID register values: which CPUs share a core (SMT siblings), a
//! last-level cache, a package, from their x2APIC ids.
//!
//! The extended topology leaf (0x1F, else 0x0B; Intel SDM vol. 2A "CPUID", AMD APM vol. 3
//! appendix E) lists levels: sub-leaf i gives in ECX[15:8] the level type (1 SMT, 2 core,
//! 3 module, 4 tile, 5 die) and in EAX[4:0] how far to shift an x2APIC id right to get the
//! id of the next level up. The SMT level's shift separates cores; the last level's separates
//! packages. The last-level cache comes from the deterministic cache leaf (Intel 4, AMD
//! 0x8000_001D): EAX[25:14] + 1 bounds the logical ids sharing the cache, rounded up to a
//! power of two as the APIC id space is. Where a machine gives no cache leaf, the last-level
//! cache is taken to be the package, and [`Shifts::llc_source`] says so.

/// Where the last-level cache's extent came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LlcSource {
    /// A deterministic cache parameters leaf.
    CacheLeaf,
    /// None: assumed to be the package.
    AssumedPackage,
}

/// Right shifts of an x2APIC id that give its core, last-level-cache and package ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shifts {
    /// Ids equal after this shift are SMT siblings (one core).
    pub smt: u32,
    /// Ids equal after this shift share the last-level cache.
    pub llc: u32,
    /// Ids equal after this shift are in one package.
    pub package: u32,
    /// Where the last-level cache's extent came from.
    pub llc_source: LlcSource,
}

/// How one CPU relates to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// The CPU itself.
    Same,
    /// Another thread of the same core.
    SmtSibling,
    /// Another core sharing the last-level cache.
    SameLlc,
    /// The same package, another last-level cache.
    SamePackage,
    /// Another package.
    OtherPackage,
}

/// The target classes of a topology sweep, by name, nearest first.
pub const CLASSES: &[&str] = &[
    "smt_sibling",
    "same_llc",
    "same_package",
    "other_package",
    "all",
];

impl Relation {
    /// Whether a CPU of this relation belongs to target class `class` (a name of
    /// [`CLASSES`]): each class but `all` holds exactly one relation.
    pub fn in_class(self, class: &str) -> bool {
        match class {
            "smt_sibling" => self == Relation::SmtSibling,
            "same_llc" => self == Relation::SameLlc,
            "same_package" => self == Relation::SamePackage,
            "other_package" => self == Relation::OtherPackage,
            "all" => self != Relation::Same,
            _ => false,
        }
    }
}

/// Level type of the SMT level in the extended topology leaf.
const LEVEL_SMT: u32 = 1;

/// The SMT and package shifts from the extended topology leaf's sub-leaves, given as
/// (EAX, ECX) from sub-leaf 0 on; None when sub-leaf 0 is invalid (level type 0).
pub fn extended_leaf_shifts(subleaves: &[(u32, u32)]) -> Option<(u32, u32)> {
    let mut smt = None;
    let mut package = None;
    for &(eax, ecx) in subleaves {
        let level = (ecx >> 8) & 0xFF;
        if level == 0 {
            break;
        }
        let shift = eax & 0x1F;
        if level == LEVEL_SMT {
            smt = Some(shift);
        }
        package = Some(shift);
    }
    let package = package?;
    Some((smt.unwrap_or(0), package))
}

/// The shift that separates CPUs sharing a cache whose leaf reports `eax` (EAX[25:14] + 1
/// logical ids share it), rounded up to a power of two.
pub fn cache_sharing_shift(eax: u32) -> u32 {
    let sharing = ((eax >> 14) & 0xFFF) + 1;
    sharing.next_power_of_two().trailing_zeros()
}

impl Shifts {
    /// From the extended topology leaf's shifts and, if the machine has one, the last-level
    /// cache leaf's EAX. The LLC never spans more than the package nor less than a core.
    pub fn new(smt: u32, package: u32, llc_eax: Option<u32>) -> Shifts {
        let (llc, llc_source) = match llc_eax {
            Some(eax) => (
                cache_sharing_shift(eax).clamp(smt, package),
                LlcSource::CacheLeaf,
            ),
            None => (package, LlcSource::AssumedPackage),
        };
        Shifts {
            smt,
            llc,
            package,
            llc_source,
        }
    }

    /// How the CPU with x2APIC id `b` relates to the one with id `a`.
    pub fn relation(&self, a: u32, b: u32) -> Relation {
        if a == b {
            Relation::Same
        } else if a >> self.smt == b >> self.smt {
            Relation::SmtSibling
        } else if a >> self.llc == b >> self.llc {
            Relation::SameLlc
        } else if a >> self.package == b >> self.package {
            Relation::SamePackage
        } else {
            Relation::OtherPackage
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two packages × 2 cores × 2 threads (QEMU `-smp 8,sockets=2,cores=2,threads=2`):
    /// SMT shift 1, package shift 2.
    fn two_by_two_by_two() -> Shifts {
        let (smt, package) = extended_leaf_shifts(&[(1, 1 << 8), (2, 2 << 8 | 1), (0, 0)]).unwrap();
        assert_eq!((smt, package), (1, 2));
        Shifts::new(smt, package, Some(3 << 14)) // 4 ids share the L3
    }

    #[test]
    fn relations_follow_the_apic_id_bits() {
        let t = two_by_two_by_two();
        assert_eq!(t.llc, 2);
        assert_eq!(t.relation(0, 0), Relation::Same);
        assert_eq!(t.relation(0, 1), Relation::SmtSibling);
        assert_eq!(t.relation(0, 2), Relation::SameLlc);
        assert_eq!(t.relation(0, 3), Relation::SameLlc);
        assert_eq!(t.relation(0, 4), Relation::OtherPackage);
        assert_eq!(t.relation(5, 4), Relation::SmtSibling);
        assert!(Relation::OtherPackage.in_class("all"));
        assert!(!Relation::Same.in_class("all"));
        assert!(Relation::SameLlc.in_class("same_llc"));
        assert!(!Relation::SameLlc.in_class("same_package"));
    }

    #[test]
    fn llc_smaller_than_the_package() {
        // 16 ids per package, 8 sharing an LLC (two CCXs): the other CCX is same_package.
        let t = Shifts::new(1, 4, Some(7 << 14));
        assert_eq!(t.llc, 3);
        assert_eq!(t.relation(0, 8), Relation::SamePackage);
        assert_eq!(t.relation(0, 16), Relation::OtherPackage);
    }

    #[test]
    fn no_cache_leaf_means_the_package() {
        let t = Shifts::new(0, 3, None);
        assert_eq!(t.llc_source, LlcSource::AssumedPackage);
        assert_eq!(t.relation(0, 1), Relation::SameLlc);
    }

    #[test]
    fn bad_leaves() {
        assert_eq!(extended_leaf_shifts(&[(0, 0)]), None);
        assert_eq!(extended_leaf_shifts(&[]), None);
        // A core level only (no SMT): SMT shift 0, every other CPU a different core.
        assert_eq!(extended_leaf_shifts(&[(3, 2 << 8), (0, 0)]), Some((0, 3)));
        // An absurd sharing count is clamped to the package.
        assert_eq!(Shifts::new(1, 2, Some(0xFFF << 14)).llc, 2);
        assert_eq!(cache_sharing_shift(0), 0);
    }
}
