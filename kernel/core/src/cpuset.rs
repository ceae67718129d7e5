//! Sets of logical CPUs, and the x2APIC cluster destinations that reach a set.
//!
//! Hardware-independent so the host tests reach it: the benchmarks pick their targets from
//! the set of CPUs that are online (never "logical ids 1..n": a missing AP leaves a hole),
//! and the cluster-multicast delivery sends one IPI per x2APIC cluster, its list computed
//! once per target set, outside any timed region.

/// Largest number of logical CPUs a set holds (the per-CPU region's 512 windows).
pub const CAPACITY: usize = 512;
const WORDS: usize = CAPACITY / 64;

/// A set of logical CPU ids below [`CAPACITY`]. It keeps its member count: the shootdown path
/// needs the count (acknowledgements to wait for) and walks the members, and neither should
/// cost a scan of all [`CAPACITY`] / 64 words (the kernel is built for any x86-64, so a
/// population count is a dozen instructions without POPCNT).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CpuSet {
    words: [u64; WORDS],
    /// Members: always the population count of `words`.
    count: u16,
}

impl Default for CpuSet {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl CpuSet {
    /// The empty set.
    pub const fn new() -> Self {
        CpuSet {
            words: [0; WORDS],
            count: 0,
        }
    }
    /// Add `cpu` (ids at or beyond [`CAPACITY`] are a caller bug and panic).
    pub fn insert(&mut self, cpu: usize) {
        let w = &mut self.words[cpu / 64];
        let bit = 1 << (cpu % 64);
        self.count += u16::from(*w & bit == 0);
        *w |= bit;
    }
    /// Remove `cpu` (absent: no change).
    pub fn remove(&mut self, cpu: usize) {
        if cpu < CAPACITY {
            let w = &mut self.words[cpu / 64];
            let bit = 1 << (cpu % 64);
            self.count -= u16::from(*w & bit != 0);
            *w &= !bit;
        }
    }
    /// Whether `cpu` is a member.
    pub fn contains(&self, cpu: usize) -> bool {
        cpu < CAPACITY && self.words[cpu / 64] & (1 << (cpu % 64)) != 0
    }
    /// Number of members.
    pub fn len(&self) -> usize {
        self.count as usize
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The first `n` members in increasing order (all of them if there are fewer).
    pub fn first(&self, n: usize) -> CpuSet {
        let mut out = CpuSet::new();
        for cpu in self.iter().take(n) {
            out.insert(cpu);
        }
        out
    }
    /// The smallest member.
    pub fn min(&self) -> Option<usize> {
        self.iter().next()
    }
    /// The largest member.
    pub fn max(&self) -> Option<usize> {
        self.words
            .iter()
            .enumerate()
            .rev()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i * 64 + 63 - w.leading_zeros() as usize)
    }
    /// Members in increasing order (skips empty words, one step per member, and stops at the
    /// last member instead of scanning the empty words after it).
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mut left = self.count;
        let mut word = 0;
        let mut bits = self.words[0];
        core::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            while bits == 0 {
                word += 1;
                bits = self.words[word];
            }
            left -= 1;
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(word * 64 + b)
        })
    }
}

impl FromIterator<usize> for CpuSet {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let mut s = CpuSet::new();
        for cpu in iter {
            s.insert(cpu);
        }
        s
    }
}

/// The x2APIC logical destinations that reach a set of CPUs: one `cluster << 16 | mask` per
/// cluster that holds a member (Intel SDM vol. 3A, 11.12.10.2: the logical x2APIC id of APIC
/// id `a` is cluster `a >> 4`, bit `1 << (a & 0xF)`). Built once per target set; holds one
/// entry per member at most, so it never overflows.
#[derive(Clone)]
pub struct ClusterList {
    dest: [u32; CAPACITY],
    len: usize,
}

impl core::fmt::Debug for ClusterList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.destinations()).finish()
    }
}

impl ClusterList {
    /// The destinations for the CPUs of `set`, whose APIC ids `apic_id_of` gives; clusters
    /// in order of first appearance.
    pub fn build(set: &CpuSet, apic_id_of: impl Fn(usize) -> u32) -> ClusterList {
        let mut list = ClusterList {
            dest: [0; CAPACITY],
            len: 0,
        };
        for cpu in set.iter() {
            let id = apic_id_of(cpu);
            let cluster = id >> 4;
            let bit = 1u32 << (id & 0xF);
            match list.dest[..list.len]
                .iter_mut()
                .find(|d| **d >> 16 == cluster)
            {
                Some(d) => *d |= bit,
                None => {
                    list.dest[list.len] = cluster << 16 | bit;
                    list.len += 1;
                }
            }
        }
        list
    }
    /// The destinations, one IPI each.
    pub fn destinations(&self) -> &[u32] {
        &self.dest[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let mut s = CpuSet::new();
        assert!(s.is_empty());
        for c in [0, 3, 63, 64, 200, 511] {
            s.insert(c);
        }
        assert_eq!(s.len(), 6);
        assert!(s.contains(63) && s.contains(64) && !s.contains(2) && !s.contains(600));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 3, 63, 64, 200, 511]);
        assert_eq!(s.min(), Some(0));
        assert_eq!(s.max(), Some(511));
        s.remove(511);
        s.remove(700);
        assert_eq!(s.max(), Some(200));
        assert_eq!(s.first(3).iter().collect::<Vec<_>>(), vec![0, 3, 63]);
        assert_eq!(s.first(100), s);
        assert_eq!(CpuSet::new().max(), None);
    }

    #[test]
    fn the_count_follows_inserts_and_removes() {
        let mut s = CpuSet::new();
        s.insert(5);
        s.insert(5);
        s.insert(400);
        assert_eq!(s.len(), 2);
        s.remove(6);
        s.remove(5);
        s.remove(5);
        assert_eq!(s.len(), 1);
        s.remove(400);
        assert!(s.is_empty());
        assert_eq!(s, CpuSet::new());
        // Equal sets built in different orders compare equal.
        let a: CpuSet = [3, 70, 9].into_iter().collect();
        let b: CpuSet = [9, 3, 70, 3].into_iter().collect();
        assert_eq!(a, b);
    }

    #[test]
    fn iteration_and_count_stop_at_the_last_member_and_see_every_word() {
        assert_eq!(CpuSet::new().iter().next(), None);
        assert_eq!(CpuSet::new().len(), 0);
        // A member in each word, the last word only, a gap of empty words in the middle.
        let every: CpuSet = (0..WORDS).map(|w| w * 64 + w).collect();
        assert_eq!(every.len(), WORDS);
        assert_eq!(every.iter().count(), WORDS);
        let last: CpuSet = [CAPACITY - 1].into_iter().collect();
        assert_eq!(
            (last.len(), last.iter().collect::<Vec<_>>()),
            (1, vec![CAPACITY - 1])
        );
        let gap: CpuSet = [1, 2, 300].into_iter().collect();
        assert_eq!(gap.iter().collect::<Vec<_>>(), vec![1, 2, 300]);
        let full: CpuSet = (0..CAPACITY).collect();
        assert_eq!((full.len(), full.iter().count()), (CAPACITY, CAPACITY));
    }

    #[test]
    fn first_of_a_set_with_a_hole_skips_the_hole() {
        // Online CPUs 0, 2, 3 (CPU 1 never came up): two targets other than 0 are 2 and 3.
        let mut online: CpuSet = [0, 2, 3].into_iter().collect();
        online.remove(0);
        assert_eq!(online.first(2).iter().collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn clusters_group_by_apic_id_and_never_repeat() {
        // Sparse ids: 3 cores per package, packages 8 ids apart (ids 0-2, 8-10, ...).
        let ids: Vec<u32> = (0..CAPACITY as u32).map(|c| (c / 3) * 8 + c % 3).collect();
        let all: CpuSet = (1..CAPACITY).collect();
        let l = ClusterList::build(&all, |c| ids[c]);
        // Every cluster once, and the union of masks is exactly the set.
        let mut clusters: Vec<u32> = l.destinations().iter().map(|d| d >> 16).collect();
        let n = clusters.len();
        clusters.dedup();
        assert_eq!(clusters.len(), n, "a cluster appears twice");
        assert!(n > 64, "the case must exceed the old 64-cluster cap ({n})");
        let mut reached = 0;
        for d in l.destinations() {
            for b in 0..16 {
                if d & (1 << b) != 0 {
                    let id = (d >> 16) << 4 | b;
                    assert!(ids[1..].contains(&id));
                    reached += 1;
                }
            }
        }
        assert_eq!(reached, CAPACITY - 1);
    }

    #[test]
    fn one_cluster_for_sixteen_dense_ids() {
        let s: CpuSet = (0..16).collect();
        let l = ClusterList::build(&s, |c| c as u32 + 16);
        assert_eq!(l.destinations(), &[1 << 16 | 0xFFFF]);
    }
}
