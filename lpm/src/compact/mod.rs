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
//! - line 0, the *root*: the first interval start of leaves 1..=16 (`u32::MAX`
//!   past the last leaf; how many leaves there are is the allocation's length,
//!   known from the table's handle without reading a line);
//! - then one line per leaf of up to 13 intervals: words 0..12 the starts of its
//!   intervals 1..=12 (ascending; `u32::MAX` past the table's last interval; the
//!   start of interval 0 is the leaf's separator in the root), then, from word 12,
//!   the next hops of intervals 0..=12, one byte each (`u8::MAX` for `NO_ROUTE`;
//!   past the last interval the last interval's hop, so that a key of `u32::MAX`
//!   counting the padding still gets its own answer).
//!
//! A lookup compares the key with a whole line at once and counts (one SIMD compare
//! and a POPCNT with AVX-512, a few vector instructions otherwise): leaf `j` =
//! separators `<=` key (at most the last leaf), then interval `i` = the leaf's
//! starts `<=` key, hop = byte `i`. No branch depends on the key, the step count is
//! the same for every table, and there are two dependent cache misses of one line
//! each (root, then leaf). [`lookup_each4`] runs a batch of (table, key) pairs
//! level by level so that the misses of different tables overlap.
//!
//! Why one line a leaf: with 10,000 tenants in the dataplane every frame's leaf is
//! a miss, and a leaf of 16 starts and 16 four-byte hops took two lines (of the
//! seven cold lines a frame read). The next hops of a tenant's table are indices
//! into its few next hops, which a byte holds; a table with a next hop above 254
//! has no compact form (its lookups take the DXR path).
//!
//! Up to 17 leaves: 221 intervals, which any table of 110 routes or fewer fits
//! (`n` routes make at most `2n + 1` intervals). A table of 100 routes takes
//! ~1.0–1.2 KiB.

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use crate::{Fib4, NextHop};

/// Words of a line.
const W: usize = 16;
/// Interval starts a leaf line holds (words 0..STARTS); its first interval's start
/// is its separator in the root.
const STARTS: usize = 12;
/// Intervals a leaf holds.
const PER_LEAF: usize = STARTS + 1;
/// Leaves a table may have: the root holds 16 separators.
const MAX_LEAVES: usize = W + 1;
/// Intervals a compact table holds at most.
pub const COMPACT_MAX_INTERVALS: usize = MAX_LEAVES * PER_LEAF;
/// A leaf's hop byte for `NO_ROUTE`.
const MISS: u8 = u8::MAX;
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
    /// [`COMPACT_MAX_INTERVALS`], a next hop above 254 (other than `NO_ROUTE`), or
    /// more than 4096 routes (not even looked at).
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
        let byte = |nh: NextHop| match nh {
            crate::NO_ROUTE => Some(MISS),
            nh => u8::try_from(nh).ok().filter(|&b| b != MISS),
        };
        let leaves = iv.len().div_ceil(PER_LEAF);
        let mut lines = vec![Line([u32::MAX; W]); 1 + leaves];
        for (j, chunk) in iv.chunks(PER_LEAF).enumerate() {
            if j > 0 {
                lines[0].0[j - 1] = (chunk[0].0 >> 96) as u32;
            }
            let leaf = &mut lines[1 + j].0;
            // Past the last interval: its hop (see the module's comment).
            let mut hops = [byte(chunk[chunk.len() - 1].1)?; 4 * (W - STARTS)];
            for (k, &(start, nh)) in chunk.iter().enumerate() {
                if k > 0 {
                    leaf[k - 1] = (start >> 96) as u32;
                }
                hops[k] = byte(nh)?;
            }
            for (w, b) in leaf[STARTS..].iter_mut().zip(hops.chunks_exact(4)) {
                *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Some(Compact4 {
            lines: lines.into(),
        })
    }

    fn leaves(&self) -> usize {
        self.lines.len() - 1
    }

    /// Heap bytes (the lines; the `Arc`'s counts take one more line).
    pub fn memory_bytes(&self) -> usize {
        (self.lines.len() + 1) * size_of::<Line>()
    }

    /// Next hop of `key` (host order), `NO_ROUTE` on a miss: what the table it was
    /// built from answers.
    #[inline]
    pub fn lookup_u32(&self, key: u32) -> NextHop {
        let leaf = leaf_of(&self.lines, key);
        hop_in(&self.lines[leaf], key)
    }

    /// The first level of `lookup_u32(key)` alone: the leaf holding `key`, whose
    /// line it prefetches. A caller that knows the key well before it needs
    /// the answer (the dataplane, at header checks) starts here, and
    /// [`Self::lookup_leaf`] later finds the leaf in cache.
    #[inline(always)]
    pub fn leaf(&self, key: u32) -> CompactLeaf {
        let leaf = leaf_of(&self.lines, key);
        prefetch(&self.lines[leaf]);
        CompactLeaf(leaf as u8)
    }

    /// The second level: `lookup_u32(key)` given `self.leaf(key)`. (A leaf of
    /// another key or table gives some next hop of that leaf, or panics when this
    /// table has no such leaf.)
    #[inline(always)]
    pub fn lookup_leaf(&self, leaf: CompactLeaf, key: u32) -> NextHop {
        hop_in(&self.lines[usize::from(leaf.0)], key)
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

/// Index in `lines` (a table's) of the line of the leaf holding `key`:
/// separators `<= key`, capped at the last leaf (`lines.len() - 2` of them);
/// padding separators are `u32::MAX`, which a key of `u32::MAX` counts too.
#[inline(always)]
fn leaf_of(lines: &[Line], key: u32) -> usize {
    let n = count_le::<W>(&lines[0], key);
    1 + (n as usize).min(lines.len() - 2)
}

/// How many of the first `N` words of `line` are `<= key` (`N` a multiple of 4).
///
/// With SSE2 (every x86_64): four words per compare, the lanes' -1s summed into a
/// vector and added across once, ~5 instructions per four words. The iterator
/// below compiles (for the baseline x86_64 the dataplane is built for) to packs, a
/// byte mask and a population count emulated without POPCNT, ~40 instructions per
/// line: with 10,000 tenants, ~100 of the ~820 instructions a frame took in
/// `burst::run` were this compact lookup's two counts (callgrind, scenario 4).
#[inline(always)]
fn count_le<const N: usize>(line: &Line, key: u32) -> u32 {
    const { assert!(N.is_multiple_of(4) && N <= W) };
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: SSE2 is part of x86_64; each load reads 16 bytes at a 16-byte
    // boundary of the 64-aligned line, inside it (`N <= W`).
    unsafe {
        use std::arch::x86_64::*;
        // No unsigned compare in SSE2: both sides biased into signed order.
        let bias = _mm_set1_epi32(i32::MIN);
        let k = _mm_xor_si128(_mm_set1_epi32(key as i32), bias);
        let mut above = _mm_setzero_si128();
        for i in (0..N).step_by(4) {
            let v = _mm_load_si128(line.0.as_ptr().add(i).cast());
            // -1 in each lane whose word is > key.
            above = _mm_sub_epi32(above, _mm_cmpgt_epi32(_mm_xor_si128(v, bias), k));
        }
        let sum = _mm_add_epi32(above, _mm_shuffle_epi32::<0b01_00_11_10>(above));
        let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b10_11_00_01>(sum));
        N as u32 - _mm_cvtsi128_si32(sum) as u32
    }
    #[cfg(not(target_arch = "x86_64"))]
    line.0[..N]
        .iter()
        .map(|&s| u32::from(s <= key))
        .sum::<u32>()
}

/// The hop of interval `i` of a leaf.
#[inline(always)]
fn hop_at(leaf: &Line, i: usize) -> NextHop {
    let b = (leaf.0[STARTS + i / 4] >> (8 * (i % 4))) as u8;
    if b == MISS {
        crate::NO_ROUTE
    } else {
        NextHop::from(b)
    }
}

/// The hop of the leaf's interval holding `key` (its separator is `<= key`):
/// interval `i` = the leaf's starts `<= key`.
#[inline(always)]
fn hop_in(leaf: &Line, key: u32) -> NextHop {
    hop_at(leaf, count_le::<STARTS>(leaf, key) as usize)
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
            leaf[l] = leaf_of(lines, ks[l]);
            prefetch(&lines[leaf[l]]);
        }
        for l in 0..ks.len() {
            os[l] = hop_in(&ts[l].lines[leaf[l]], ks[l]);
        }
    }
}
