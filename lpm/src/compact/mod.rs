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
//! - then one line per leaf of up to 15 intervals: words 0..14 the starts of its
//!   intervals 1..=14 (ascending; `u32::MAX` past the table's last interval; the
//!   start of interval 0 is the leaf's separator in the root), then, from word 14,
//!   the next hops of intervals 0..=14, four bits each (15 for `NO_ROUTE`;
//!   past the last interval the last interval's hop, so that a key of `u32::MAX`
//!   counting the padding still gets its own answer).
//!
//! A lookup compares the key with a whole line at once and counts (one SIMD compare
//! and a POPCNT with AVX-512, a few vector instructions otherwise): leaf `j` =
//! separators `<=` key, then interval `i` = the leaf's starts `<=` key, hop =
//! nibble `i`. The allocation always has 17 leaf lines: past the table's last leaf,
//! copies of it, so that a key counting the root's padding (`u32::MAX`) lands on
//! a line that answers like the last leaf, without a cap on the count or a leaf
//! count to read.
//!
//! The root in 32 bytes ([`Root16`]): the builder cuts leaves at /16 boundaries
//! when the table allows it (at most 14 interval starts inside any /16, 17
//! leaves in all: every one of the benchmark's tenant tables, 100 real routes
//! and the connected and local routes of two interfaces, ~209 intervals), so that each
//! separator is its top 16 bits. A caller that has 32 bytes in a line it reads
//! anyway (the dataplane's `Vnet`) keeps the root there, and a lookup reads one
//! line of the table, its leaf. No branch depends on the key, the step count is
//! the same for every table, and there are two dependent cache misses of one line
//! each (root, then leaf). [`lookup_each4`] runs a batch of (table, key) pairs
//! level by level so that the misses of different tables overlap.
//!
//! Why one line a leaf: with 10,000 tenants in the dataplane every frame's leaf is
//! a miss, and a leaf of 16 starts and 16 four-byte hops took two lines (of the
//! seven cold lines a frame read). The next hops of a tenant's table are indices
//! into its few next hops (its own addresses, its interfaces' subnets, its
//! gateways), which four bits hold; a table with a next hop above 14 has no
//! compact form (its lookups take the DXR path). Why four bits and not a byte:
//! 14 starts a leaf instead of 12, so that a table of ~209 intervals fits 17
//! leaves cut at /16s (with 12, 997 of 1,000 benchmark tables needed 18).
//!
//! Up to 17 leaves: 255 intervals, which any table of 127 routes or fewer fits
//! (`n` routes make at most `2n + 1` intervals). Every table takes 1,216 bytes
//! (18 lines and the `Arc`'s counts); the handle is one thin pointer.

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
const STARTS: usize = 14;
/// Intervals a leaf holds.
const PER_LEAF: usize = STARTS + 1;
/// Leaves a table may have: the root holds 16 separators.
const MAX_LEAVES: usize = W + 1;
/// Intervals a compact table holds at most.
pub const COMPACT_MAX_INTERVALS: usize = MAX_LEAVES * PER_LEAF;
/// A leaf's hop nibble for `NO_ROUTE`.
const MISS: u8 = 0xf;
/// Keys a group of `lookup_each4` takes through each level together.
const GROUP: usize = 32;

/// One cache line of the table. `align(64)`: a line never straddles two cache
/// lines, in an `Arc` too (its data then starts 64 bytes into the allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub(crate) struct Line([u32; W]);

/// The root line and 17 leaf lines (see the module's comment). A fixed size, so
/// that the handle is a thin pointer (8 bytes in the line that holds it).
#[repr(C, align(64))]
struct Lines([Line; 1 + MAX_LEAVES]);

/// A small IPv4 table for lookups across many tables ([`lookup_each4`]); built by
/// [`Fib4::compact`]. Immutable; cloning shares it (an `Arc`).
#[derive(Clone)]
pub struct Compact4 {
    lines: Arc<Lines>,
}

const _: () = assert!(size_of::<Option<Compact4>>() == 8);

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
    /// [`COMPACT_MAX_INTERVALS`], a next hop above 14 (other than `NO_ROUTE`), or
    /// more than 4096 routes (not even looked at).
    /// O(routes); the result does not follow later edits of `self`.
    pub fn compact(&self) -> Option<Compact4> {
        let iv = self.table.all_intervals(4096)?;
        Compact4::build(&iv)
    }
}

impl Compact4 {
    /// From the intervals of the whole IPv4 space, left-aligned in `u128`s
    /// (`iv[0].0 == 0`, ascending, as `Table::all_intervals` gives them): leaves
    /// cut at /16 boundaries when they fit (`cuts16`), else every 15 intervals.
    fn build(iv: &[(u128, NextHop)]) -> Option<Self> {
        debug_assert!(iv.first().is_some_and(|&(s, _)| s == 0));
        if iv.is_empty() || iv.len() > COMPACT_MAX_INTERVALS {
            return None;
        }
        let nibble = |nh: NextHop| match nh {
            crate::NO_ROUTE => Some(MISS),
            nh => u8::try_from(nh).ok().filter(|&b| b < MISS),
        };
        let starts: Vec<(u32, u8)> = iv
            .iter()
            .map(|&(s, nh)| Some(((s >> 96) as u32, nibble(nh)?)))
            .collect::<Option<_>>()?;
        let seps = cuts16(&starts).unwrap_or_else(|| {
            (starts.iter().step_by(PER_LEAF).skip(1))
                .map(|&(s, _)| s)
                .collect()
        });
        let mut lines = Lines([Line([u32::MAX; W]); 1 + MAX_LEAVES]);
        let mut next = 0;
        for j in 0..=seps.len() {
            let sep = if j == 0 { 0 } else { seps[j - 1] };
            let end = seps.get(j).copied();
            if j > 0 {
                lines.0[0].0[j - 1] = sep;
            }
            // Interval 0 is the one holding the separator (the last start `<=`
            // it); then the starts inside the leaf.
            while next + 1 < starts.len() && starts[next + 1].0 <= sep {
                next += 1;
            }
            let mut ivs = vec![(sep, starts[next].1)];
            while next + 1 < starts.len() && end.is_none_or(|e| starts[next + 1].0 < e) {
                next += 1;
                ivs.push(starts[next]);
            }
            debug_assert!(ivs.len() <= PER_LEAF);
            let leaf = &mut lines.0[1 + j].0;
            // Past the last interval: its hop (see the module's comment).
            let mut hops = [ivs[ivs.len() - 1].1; 8 * (W - STARTS)];
            for (k, &(start, hop)) in ivs.iter().enumerate() {
                if k > 0 {
                    leaf[k - 1] = start;
                }
                hops[k] = hop;
            }
            for (w, h) in leaf[STARTS..].iter_mut().zip(hops.chunks_exact(8)) {
                *w = (h.iter().enumerate()).fold(0, |w, (i, &h)| w | u32::from(h) << (4 * i));
            }
        }
        // Past the last leaf: copies of it (see the module's comment).
        for j in seps.len() + 2..=MAX_LEAVES {
            lines.0[j] = lines.0[j - 1];
        }
        Some(Compact4 {
            lines: Arc::new(lines),
        })
    }

    /// The root as 16-bit separators, when every separator is a multiple of
    /// 2^16 (the builder cuts there when it can): [`Root16::leaf`] then answers
    /// what the root line does, from 32 bytes the caller may keep anywhere.
    pub fn root16(&self) -> Option<Root16> {
        let root = &self.lines.0[0].0;
        let real = self.leaves() - 1;
        if root[..real].iter().any(|&s| s & 0xffff != 0) {
            return None;
        }
        // Padding separators (u32::MAX) become 0xffff: a key of 0xffff_xxxx
        // counts them and lands on a copy of the last leaf, which answers alike.
        Some(Root16(std::array::from_fn(|i| (root[i] >> 16) as u16)))
    }

    /// Leaves the table uses (the lines past them copy the last).
    fn leaves(&self) -> usize {
        let l = &self.lines.0;
        1 + (2..=MAX_LEAVES).filter(|&j| l[j] != l[j - 1]).count()
    }

    /// Heap bytes (the lines; the `Arc`'s counts take one more line).
    pub fn memory_bytes(&self) -> usize {
        size_of::<Lines>() + size_of::<Line>()
    }

    /// Next hop of `key` (host order), `NO_ROUTE` on a miss: what the table it was
    /// built from answers.
    #[inline]
    pub fn lookup_u32(&self, key: u32) -> NextHop {
        let leaf = leaf_of(&self.lines.0, key);
        hop_in(&self.lines.0[leaf], key)
    }

    /// The first level of `lookup_u32(key)` alone: the leaf holding `key`, whose
    /// line it prefetches. A caller that knows the key well before it needs
    /// the answer (the dataplane, at header checks) starts here, and
    /// [`Self::lookup_leaf`] later finds the leaf in cache.
    #[inline(always)]
    pub fn leaf(&self, key: u32) -> CompactLeaf {
        let leaf = leaf_of(&self.lines.0, key);
        prefetch(&self.lines.0[leaf]);
        CompactLeaf(leaf as u8)
    }

    /// [`Self::leaf`] with the root's count taken from `root`, this table's
    /// [`Self::root16`] kept by the caller: no line of the table is read, the
    /// leaf's is prefetched. (Another table's root gives some leaf of this
    /// table: a wrong answer, never a read outside it.)
    #[inline(always)]
    pub fn leaf_by(&self, root: &Root16, key: u32) -> CompactLeaf {
        let leaf = root.line(key);
        prefetch(&self.lines.0[leaf]);
        CompactLeaf(leaf as u8)
    }

    /// The second level: `lookup_u32(key)` given `self.leaf(key)`. (A leaf of
    /// another key or table gives some next hop of that leaf, or panics when this
    /// table has no such leaf.)
    #[inline(always)]
    pub fn lookup_leaf(&self, leaf: CompactLeaf, key: u32) -> NextHop {
        hop_in(&self.lines.0[usize::from(leaf.0)], key)
    }

    /// Where the root is: prefetch it early (when the table is first known) and
    /// the batch lookup's first level finds it in cache.
    #[inline(always)]
    pub fn root_ptr(&self) -> *const u8 {
        (&raw const self.lines.0).cast()
    }
}

/// A table's root with 16-bit separators ([`Compact4::root16`]), 32 bytes
/// (`align(16)`: two SSE2 loads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct Root16([u16; W]);

impl Root16 {
    /// A placeholder for a table without one: its answers mean nothing (a leaf
    /// of whichever table it is used with, never a line outside it).
    pub const NONE: Root16 = Root16([u16::MAX; W]);

    /// The line of the leaf holding `key`: 1 + separators `<=` its top 16 bits.
    #[inline(always)]
    fn line(&self, key: u32) -> usize {
        1 + count_le16(&self.0, (key >> 16) as u16) as usize
    }
}

/// How many of the 16 words are `<= k`.
#[inline(always)]
fn count_le16(seps: &[u16; W], k: u16) -> u32 {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: SSE2 is part of x86_64; the two loads read the 32 bytes of `seps`,
    // 16-aligned (`Root16` is `align(16)`).
    unsafe {
        use std::arch::x86_64::*;
        let k = _mm_set1_epi16(k as i16);
        let zero = _mm_setzero_si128();
        let p = seps.as_ptr().cast::<__m128i>();
        // Unsigned: a separator is `<= k` when subtracting k saturates to 0.
        let le0 = _mm_cmpeq_epi16(_mm_subs_epu16(_mm_load_si128(p), k), zero);
        let le1 = _mm_cmpeq_epi16(_mm_subs_epu16(_mm_load_si128(p.add(1)), k), zero);
        // -1 per lane `<= k`, summed: 8 lanes of 0..=-2, then 4, 2, 1.
        let sum = _mm_madd_epi16(_mm_add_epi16(le0, le1), _mm_set1_epi16(1));
        let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b01_00_11_10>(sum));
        let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b10_11_00_01>(sum));
        _mm_cvtsi128_si32(sum).unsigned_abs()
    }
    #[cfg(not(target_arch = "x86_64"))]
    seps.iter().map(|&s| u32::from(s <= k)).sum::<u32>()
}

/// Where a key's lookup goes on after the root ([`Compact4::leaf`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactLeaf(u8);

/// Index in `lines` (a table's) of the line of the leaf holding `key`:
/// 1 + separators `<= key`; padding separators are `u32::MAX`, which a key of
/// `u32::MAX` counts too (its line is then a copy of the last leaf).
#[inline(always)]
fn leaf_of(lines: &[Line; 1 + MAX_LEAVES], key: u32) -> usize {
    1 + count_le::<W>(&lines[0], key) as usize
}

/// Leaf separators at /16 boundaries for `starts` (each interval's start and
/// hop, ascending from 0), when at most 14 starts fall inside any leaf and 17
/// leaves do: greedily, each leaf takes whole /16 blocks while its starts fit.
/// A start at a leaf's boundary is its separator, not stored in it.
fn cuts16(starts: &[(u32, u8)]) -> Option<Vec<u32>> {
    let mut seps = Vec::new();
    let mut held = 0;
    let mut i = 1;
    while i < starts.len() {
        let block = starts[i].0 >> 16;
        let n = starts[i..]
            .iter()
            .take_while(|&&(s, _)| s >> 16 == block)
            .count();
        if held + n > STARTS {
            // A new leaf from this block's boundary (block 0 is leaf 0's).
            let at_edge = usize::from(starts[i].0 & 0xffff == 0);
            if block == 0 || n - at_edge > STARTS || seps.len() == MAX_LEAVES - 1 {
                return None;
            }
            seps.push(block << 16);
            held = n - at_edge;
        } else {
            held += n;
        }
        i += n;
    }
    Some(seps)
}

/// How many of the first `N` words of `line` are `<= key`.
///
/// With SSE2 (every x86_64): four words per compare, the lanes' -1s summed into a
/// vector and added across once, ~5 instructions per four words. The iterator
/// below compiles (for the baseline x86_64 the dataplane is built for) to packs, a
/// byte mask and a population count emulated without POPCNT, ~40 instructions per
/// line: with 10,000 tenants, ~100 of the ~820 instructions a frame took in
/// `burst::run` were this compact lookup's two counts (callgrind, scenario 4).
#[inline(always)]
fn count_le<const N: usize>(line: &Line, key: u32) -> u32 {
    const { assert!(N <= W) };
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: SSE2 is part of x86_64; each load reads 16 bytes at a 16-byte
    // boundary of the 64-aligned line, inside it (`N <= W`, `W` a multiple of 4).
    unsafe {
        use std::arch::x86_64::*;
        // No unsigned compare in SSE2: both sides biased into signed order.
        let bias = _mm_set1_epi32(i32::MIN);
        let k = _mm_xor_si128(_mm_set1_epi32(key as i32), bias);
        let mut above = _mm_setzero_si128();
        for i in (0..N).step_by(4) {
            let v = _mm_load_si128(line.0.as_ptr().add(i).cast());
            // -1 in each lane whose word is > key; lanes at N and past it (a
            // leaf's hops) masked out.
            let gt = _mm_cmpgt_epi32(_mm_xor_si128(v, bias), k);
            let live = |l: usize| if i + l < N { -1 } else { 0 };
            let gt = _mm_and_si128(gt, _mm_setr_epi32(live(0), live(1), live(2), live(3)));
            above = _mm_sub_epi32(above, gt);
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
    let b = (leaf.0[STARTS + i / 8] >> (4 * (i % 8))) as u8 & 0xf;
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
            let lines = &ts[l].lines.0;
            leaf[l] = leaf_of(lines, ks[l]);
            prefetch(&lines[leaf[l]]);
        }
        for l in 0..ks.len() {
            os[l] = hop_in(&ts[l].lines.0[leaf[l]], ks[l]);
        }
    }
}
