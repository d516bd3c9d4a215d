//! Small IPv4 tables laid out for lookups that cross many tables at once: a burst
//! whose frames belong to thousands of tenants, each with its own ~100 routes.
//!
//! Why another layout: through the DXR structure (`dxr/`) such a lookup is a chain
//! of four or five cold reads (the `Dxr` handle, the top-level slot, the range
//! descriptor, the starts, the next hop) and a binary search whose step count
//! differs from table to table; measured in the dataplane with 10,000 tenants, it
//! was half of a worker's time, and prefetching its levels across the burst did not
//! help. A [`Compact4`] is one allocation of 64-byte lines:
//!
//! - line 0, the *root*: word 0 is the index of the last leaf, words 1..16 the first
//!   interval start of leaves 1..15 (`u32::MAX` past the last leaf);
//! - then per leaf two lines: 16 interval starts (ascending; `u32::MAX` past the
//!   table's last interval), then their 16 next hops (past the last interval: the
//!   last interval's hop, so that a key of `u32::MAX` counting the padding still
//!   gets its own answer).
//!
//! A lookup compares the key with a whole line at once and counts (one SIMD compare
//! and a POPCNT with AVX-512, a few vector instructions otherwise): leaf `j` =
//! separators `<=` key (at most the last leaf), then interval `i` = starts `<=` key
//! minus one, hop = `hops[i]`. No branch depends on the key, the step count is the
//! same for every table, and there are two dependent cache misses (root, then the
//! leaf's two adjacent lines). [`lookup_each4`] runs a batch of (table, key) pairs
//! level by level so that the misses of different tables overlap.
//!
//! Up to 16 leaves: 256 intervals, which any table of 127 routes or fewer fits
//! (`n` routes make at most `2n + 1` intervals). A table of 100 routes takes
//! ~1.2–1.7 KiB.

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use crate::{Fib4, NextHop};

/// Words of a line.
const W: usize = 16;
/// Leaves a table may have: the root holds 15 separators.
const MAX_LEAVES: usize = W;
/// Intervals a compact table holds at most.
pub const COMPACT_MAX_INTERVALS: usize = MAX_LEAVES * W;
/// Keys a group of `lookup_each4` takes through each level together.
const GROUP: usize = 32;

/// One cache line of the table. `align(64)`: a line never straddles two cache
/// lines, in an `Arc` too (its data then starts 64 bytes into the allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub(crate) struct Line([u32; W]);

/// A small IPv4 table for lookups across many tables ([`lookup_each4`]); built by
/// [`Fib4::compact`]. Immutable; cloning shares it (an `Arc`).
#[derive(Clone)]
pub struct Compact4 {
    lines: Arc<[Line]>,
}

impl fmt::Debug for Compact4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compact4")
            .field("leaves", &self.leaves())
            .field("bytes", &self.memory_bytes())
            .finish()
    }
}

impl Fib4 {
    /// The table as a [`Compact4`], or `None` when its intervals (maximal address
    /// ranges with one answer) do not fit one: more than
    /// [`COMPACT_MAX_INTERVALS`], or more than 4096 routes (not even looked at).
    /// O(routes); the result does not follow later edits of `self`.
    pub fn compact(&self) -> Option<Compact4> {
        let iv = self.table.all_intervals(4096)?;
        Compact4::build(&iv)
    }
}

impl Compact4 {
    /// From the intervals of the whole IPv4 space, left-aligned in `u128`s
    /// (`iv[0].0 == 0`, ascending, as `Table::all_intervals` gives them).
    fn build(iv: &[(u128, NextHop)]) -> Option<Self> {
        debug_assert!(iv.first().is_some_and(|&(s, _)| s == 0));
        if iv.is_empty() || iv.len() > COMPACT_MAX_INTERVALS {
            return None;
        }
        let leaves = iv.len().div_ceil(W);
        let mut lines = vec![Line([u32::MAX; W]); 1 + 2 * leaves];
        lines[0].0[0] = (leaves - 1) as u32;
        let last_hop = iv[iv.len() - 1].1;
        for (j, chunk) in iv.chunks(W).enumerate() {
            if j > 0 {
                lines[0].0[j] = (chunk[0].0 >> 96) as u32;
            }
            let (starts, hops) = (1 + 2 * j, 2 + 2 * j);
            lines[hops].0 = [last_hop; W];
            for (k, &(start, nh)) in chunk.iter().enumerate() {
                lines[starts].0[k] = (start >> 96) as u32;
                lines[hops].0[k] = nh;
            }
        }
        Some(Compact4 {
            lines: lines.into(),
        })
    }

    fn leaves(&self) -> usize {
        self.lines[0].0[0] as usize + 1
    }

    /// Heap bytes (the lines; the `Arc`'s counts take one more line).
    pub fn memory_bytes(&self) -> usize {
        (self.lines.len() + 1) * size_of::<Line>()
    }

    /// Next hop of `key` (host order), `NO_ROUTE` on a miss: what the table it was
    /// built from answers.
    #[inline]
    pub fn lookup_u32(&self, key: u32) -> NextHop {
        let leaf = leaf_of(&self.lines[0], key);
        hop_in(&self.lines[leaf], &self.lines[leaf + 1], key)
    }

    /// The first level of `lookup_u32(key)` alone: the leaf holding `key`, whose
    /// two lines it prefetches. A caller that knows the key well before it needs
    /// the answer (the dataplane, at header checks) starts here, and
    /// [`Self::lookup_leaf`] later finds the leaf in cache.
    #[inline(always)]
    pub fn leaf(&self, key: u32) -> CompactLeaf {
        let leaf = leaf_of(&self.lines[0], key);
        prefetch(&self.lines[leaf]);
        prefetch(&self.lines[leaf + 1]);
        CompactLeaf(leaf as u8)
    }

    /// The second level: `lookup_u32(key)` given `self.leaf(key)`. (A leaf of
    /// another key or table gives some next hop of that leaf, or panics when this
    /// table has no such leaf.)
    #[inline(always)]
    pub fn lookup_leaf(&self, leaf: CompactLeaf, key: u32) -> NextHop {
        let leaf = usize::from(leaf.0);
        hop_in(&self.lines[leaf], &self.lines[leaf + 1], key)
    }

    /// Where the root is: prefetch it early (when the table is first known) and
    /// the batch lookup's first level finds it in cache.
    #[inline(always)]
    pub fn root_ptr(&self) -> *const u8 {
        self.lines.as_ptr().cast()
    }
}

/// Where a key's lookup goes on after the root ([`Compact4::leaf`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactLeaf(u8);

/// Index in `lines` of the starts line of the leaf holding `key`: separators
/// (words 1..) `<= key`, capped at the last leaf (word 0); padding separators are
/// `u32::MAX`, which a key of `u32::MAX` counts too.
#[inline(always)]
fn leaf_of(root: &Line, key: u32) -> usize {
    let n = root.0[1..]
        .iter()
        .map(|&s| u32::from(s <= key))
        .sum::<u32>();
    1 + 2 * n.min(root.0[0]) as usize
}

/// The hop of the last start `<= key` in a leaf (its first start always is).
#[inline(always)]
fn hop_in(starts: &Line, hops: &Line, key: u32) -> NextHop {
    let n = starts.0.iter().map(|&s| u32::from(s <= key)).sum::<u32>();
    hops.0[(n as usize).wrapping_sub(1) & (W - 1)]
}

/// A hint to load the cache line at `p`; never faults, whatever `p` is.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCH reads nothing architecturally and cannot fault.
    #[allow(unused_unsafe, unsafe_code)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `out[i] = tables[i].lookup_u32(keys[i])`: each key in its own table, e.g. the
/// frames of a burst spread over many tenants. Groups of 32 go level by level
/// (all roots, then all leaves), each level's cache misses in flight together.
///
/// # Panics
/// When `tables` and `keys` differ in length or `out` is shorter.
#[allow(unsafe_code)]
pub fn lookup_each4(tables: &[&Compact4], keys: &[u32], out: &mut [NextHop]) {
    assert!(
        tables.len() == keys.len() && out.len() >= keys.len(),
        "lpm: lookup_each4 takes one table per key and an output as long"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the CPU has the features, checked just above.
        unsafe { avx512::lookup_each(tables, keys, out) };
        return;
    }
    lookup_each_portable(tables, keys, out);
}

/// `lookup_each4` without AVX-512 (and what the tests compare it with).
fn lookup_each_portable(tables: &[&Compact4], keys: &[u32], out: &mut [NextHop]) {
    for ((ts, ks), os) in tables
        .chunks(GROUP)
        .zip(keys.chunks(GROUP))
        .zip(out.chunks_mut(GROUP))
    {
        let mut leaf = [0usize; GROUP];
        for l in 0..ks.len() {
            let lines = &ts[l].lines;
            leaf[l] = leaf_of(&lines[0], ks[l]);
            prefetch(&lines[leaf[l]]);
            prefetch(&lines[leaf[l] + 1]);
        }
        for l in 0..ks.len() {
            let lines = &ts[l].lines;
            os[l] = hop_in(&lines[leaf[l]], &lines[leaf[l] + 1], ks[l]);
        }
    }
}
