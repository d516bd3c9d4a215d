//! The lookup structure: DXR-style range tables under direct-pointing tables.
//!
//! The address space is cut into the *intervals* of the routing table (maximal runs
//! of addresses with the same longest-prefix-match answer; neighbours differ). A
//! direct table indexed by the first `s` address bits (`s` grows with the table:
//! 2 entries for a tiny table, 65,536 for one of 4096 routes or more) holds one
//! `u32` entry per slot:
//! - **inline leaf**: the slot lies inside one interval; the entry is its next hop
//!   plus one (`NO_ROUTE` wraps to 0), so a miss or a whole-slot route costs one read;
//! - **bitmap chunk** (the common IPv4 case: the /24s under a /16): the slot's
//!   interval starts fit the next 8 bits; a 256-bit map marks them and the rank of
//!   the key's byte (POPCNT) indexes the next hops, stored right after the map. No
//!   search, no branch: the batch lookup runs leaves and bitmaps together, with
//!   AVX-512 gathers where the CPU has them (`avx512.rs`);
//! - **deep map** (under the 16-bit top level of a big table): a bitmap chunk over
//!   the next 8 bits whose buckets holding finer starts (an IPv4 /24 with longer
//!   prefixes in it, most of IPv6) are intervals of their own, their hop an entry
//!   for the following bits in this same encoding;
//! - **narrow range chunk**: a short sorted run of 8-bit starts, for a leaf whose
//!   next hop does not fit the inline encoding;
//! - **line chunk** (IPv6 under a big table's top level, `lines.rs`): up to 32
//!   16-bit or 16 32-bit starts in one aligned cache line, the next hops after
//!   them; ranked by one vector compare. IPv6 spans with many intervals get
//!   sub-direct tables instead (`emit_v6`), so a lookup is a few direct reads and
//!   at most one line (`v6.rs`);
//! - **descriptor**: an index into `descs` for everything else: a range chunk with
//!   16-, 32- or 128-bit starts (binary search; the IPv4 batch lookup searches
//!   32-bit ones 16 lanes at a time, the slots of tables under 4096 routes), or a
//!   *sub-direct table* of `2^t` entries for the next `t` bits when a slot holds
//!   too many intervals for a quick binary search (a tiny table's only slot).
//!   Sub-entries use the same encoding.
//!
//! Intervals that straddle a slot boundary are cut there, so every slot is
//! self-contained: an update rebuilds only the slots its prefix overlaps. A bitmap
//! is rewritten in place (its next hops too when they still fit; not a deep map);
//! anything else is
//! appended and the old one counted as garbage; the owner compacts (copies what is
//! reachable into fresh vectors) when garbage outweighs live data.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod lines;
mod v6;

use std::marker::PhantomData;
use std::mem::size_of;

use crate::key::{wide_mask, Key};
use crate::{NextHop, NO_ROUTE};

/// Entries below this are inline leaves (next hop + 1).
const CHUNK: u32 = 0x8000_0000;
/// From `CHUNK`: narrow chunks (count - 1 in bits 24..29, offset in bits 0..24).
const NARROW_OFF_BITS: u32 = 24;
const NARROW_OFF_MASK: u32 = (1 << NARROW_OFF_BITS) - 1;
/// At most this many 8-bit starts are searched (one cache line); more become a
/// bitmap chunk.
const NARROW_MAX: usize = 32;
/// From here: bitmap chunks (index in bits 0..28; bit 28 marks a deep map).
const BITMAP: u32 = 0xA000_0000;
/// A bitmap chunk whose next hops may point deeper: a hop with its top bit set is
/// not a next hop but an entry (never an inline leaf: those are below `CHUNK`) for
/// the key's next bits: a bucket of the map holding interval starts finer than the
/// map's 8 bits, or a leaf too large for a hop. Plain maps' hops are next hops.
const DEEP_MAP: u32 = 1 << 28;
const MAP_MASK: u32 = DEEP_MAP - 1;
const DEEP_HOP: u32 = CHUNK;
/// From here: sub-direct tables (index bits - 1 in bits 25..29, offset in 0..25).
const SUB: u32 = 0xC000_0000;
const SUB_OFF_BITS: u32 = 25;
const SUB_OFF_MASK: u32 = (1 << SUB_OFF_BITS) - 1;
/// From here: descriptor indices (bits 0..28).
const DESC: u32 = 0xE000_0000;
const INDEX_MASK: u32 = (1 << 28) - 1;
/// From here: line chunks (`lines.rs`; IPv6 only): bit 27 set for 32-bit starts,
/// interval count - 1 in bits 22..27, first line in bits 0..22.
const LINE: u32 = 0xF000_0000;
const LINE_WIDE: u32 = 1 << 27;
const LINE_N_SHIFT: u32 = 22;
const LINE_OFF_MASK: u32 = (1 << LINE_N_SHIFT) - 1;

/// A range chunk with more intervals than this becomes a sub-direct table (unless
/// its starts fit 8 bits: then there are at most 256 of them, a few cache lines).
const SPLIT: usize = 48;

const K_DIRECT: u8 = 0;
const K_R8: u8 = 1;
const K_R16: u8 = 2;
const K_R32: u8 = 3;
const K_R128: u8 = 4;
/// A skip (IPv6, `emit_skip`): four words of `direct` from `off`, the block's
/// `bits` key bits (high word, low word), the block's entry, the rest's entry.
const K_SKIP: u8 = 5;
/// Fewest bits a skip jumps over (below that, sub-direct tables do as well).
const SKIP_MIN: u32 = 16;

/// `repr(C)`: the IPv4 batch lookup reads it as three `u32`s (see `avx512.rs`).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct Desc {
    kind: u8,
    /// Index bits of a sub-direct table.
    bits: u8,
    count: u32,
    off: u32,
}

/// Words of a bitmap node before its next hops: the 256-bit map of interval starts
/// (bit `i` set when an interval starts at `i`) in 24-bit pieces, word `j` holding
/// bits `24j..24j + 24` in its low 24 bits and the number of set bits before them
/// (at most 240) in its top byte. So one 32-bit read gives a lookup both the piece
/// its key's byte falls in and the rank of that piece's first bit: the batch lookup
/// takes them with one 16-lane gather (a 256-bit map as 64-bit words needed two
/// 8-lane gathers and a third for the counts; measured on the full IPv4 table:
/// skipping that third gather alone ran hot keys 14% faster). The price is two
/// words a node (3.48 -> ~3.8 bytes per prefix on the full table).
const HEAD: usize = 11;
/// Map bits per head word.
const PIECE: u32 = 24;
const PIECE_MASK: u32 = (1 << PIECE) - 1;

/// Head word of `x` (0..=255): `x / 24` by a multiply and a shift (2731 =
/// ceil(2^16 / 24); exact up to x = 8206, see the test), as the batch lookup does.
#[inline(always)]
fn piece(x: u32) -> u32 {
    (x * 2731) >> 16
}

/// Words of a node with `count` next hops: padded to an even number, so that every
/// node starts on an 8-byte boundary (entries name nodes in `u64`s).
fn node_words(count: usize) -> usize {
    (HEAD + count + 1) & !1
}

/// The bitmap chunks, each a node in one vector of `u32`s: the head (the map in
/// 24-bit pieces, each with the rank before it), then the chunk's next hops, right after the map so that a
/// lookup's hop read mostly falls in the cache lines the map read brought in. A
/// node is named by its offset in `u64`s (what entries hold).
#[derive(Clone, Debug, Default)]
struct Bitmaps {
    nodes: Vec<u32>,
}

impl Bitmaps {
    /// Index in `nodes` of the next hop of the interval holding `x` in node `i`.
    /// Branch-free, a dozen instructions with POPCNT.
    #[inline(always)]
    fn index(&self, i: usize, x: u8) -> usize {
        let off = 2 * i;
        let j = piece(u32::from(x));
        let pos = u32::from(x) - PIECE * j;
        let word = self.nodes[off..off + HEAD][j as usize];
        // The piece's bits 0..=pos shifted to the top (those above `pos` out).
        // The rank counts the key's own interval: hop `rank - 1`, at
        // `off + HEAD + rank - 1`.
        let upto = (word & PIECE_MASK) << (31 - pos);
        off + HEAD - 1 + ((word >> PIECE) + upto.count_ones()) as usize
    }

    #[inline(always)]
    fn hop(&self, index: usize) -> NextHop {
        self.nodes[index]
    }

    /// Appends a node for `iv` (starts relative to a span of `o` fixed bits).
    fn push(&mut self, iv: &[(u128, NextHop)], o: u32) -> usize {
        let off = self.nodes.len();
        debug_assert!(off.is_multiple_of(2));
        self.nodes.resize(off + node_words(iv.len()), 0);
        self.write(off, iv, o);
        assert!(off / 2 <= MAP_MASK as usize, "lpm: too many bitmap chunks");
        off / 2
    }

    fn write(&mut self, off: usize, iv: &[(u128, NextHop)], o: u32) {
        let head = Self::layout(iv, o);
        self.nodes[off..off + HEAD].copy_from_slice(&head);
        for (h, &(_, nh)) in self.nodes[off + HEAD..off + HEAD + iv.len()]
            .iter_mut()
            .zip(iv)
        {
            *h = nh;
        }
    }

    /// Intervals (next hops) of node `i`.
    fn count(&self, i: usize) -> usize {
        self.nodes[2 * i..2 * i + HEAD]
            .iter()
            .map(|w| (w & PIECE_MASK).count_ones() as usize)
            .sum()
    }

    /// The next hops of node `i`.
    fn hops(&self, i: usize) -> &[NextHop] {
        let off = 2 * i + HEAD;
        &self.nodes[off..off + self.count(i)]
    }

    /// Rewrites node `i` for `iv` in place when `iv` has at most `had` intervals
    /// (what the node has room for), else appends a new node; returns the node.
    fn rewrite(&mut self, i: usize, iv: &[(u128, NextHop)], o: u32, had: usize) -> usize {
        if iv.len() <= had {
            self.write(2 * i, iv, o);
            i
        } else {
            self.push(iv, o)
        }
    }

    /// The head words of `iv`'s map (starts relative to a span of `o` fixed bits).
    fn layout(iv: &[(u128, NextHop)], o: u32) -> [u32; HEAD] {
        let mut head = [0u32; HEAD];
        for (i, &(start, _)) in iv.iter().enumerate() {
            let x = if i == 0 {
                0
            } else {
                ((start << o) >> 120) as u32
            };
            head[piece(x) as usize] |= 1 << (x % PIECE);
        }
        let mut before = 0;
        for w in &mut head {
            let here = w.count_ones();
            *w |= before << PIECE;
            before += here;
        }
        head
    }

    fn bytes(&self) -> usize {
        self.nodes.capacity() * 4
    }

    fn len_bytes(&self) -> usize {
        self.nodes.len() * 4
    }
}

#[derive(Clone, Debug, Default)]
struct Ranges<S> {
    starts: Vec<S>,
    hops: Vec<NextHop>,
}

impl<S: Copy + Ord> Ranges<S> {
    #[inline(always)]
    fn find(&self, off: usize, count: usize, x: S) -> NextHop {
        let starts = &self.starts[off..off + count];
        self.hops[off + search(starts, x)]
    }

    fn push(&mut self, iv: &[(u128, NextHop)], o: u32, conv: impl Fn(u128) -> S) -> usize {
        let off = self.starts.len();
        for (i, &(start, nh)) in iv.iter().enumerate() {
            let rel = if i == 0 { 0 } else { start << o };
            self.starts.push(conv(rel));
            self.hops.push(nh);
        }
        off
    }

    fn bytes(&self) -> usize {
        self.starts.capacity() * size_of::<S>() + self.hops.capacity() * size_of::<NextHop>()
    }

    fn len_bytes(&self) -> usize {
        self.starts.len() * (size_of::<S>() + size_of::<NextHop>())
    }
}

/// Index of the last start `<= x` (`starts[0]` is 0, so there is one).
#[inline(always)]
fn search<S: Copy + Ord>(starts: &[S], x: S) -> usize {
    let mut base = 0;
    let mut n = starts.len();
    while n > 1 {
        let half = n / 2;
        // Branch-free: the comparison is a coin toss the predictor cannot learn.
        base += half * usize::from(starts[base + half] <= x);
        n -= half;
    }
    base
}

/// The block of a skip for span `iv` (`o` bits fixed), as `(l, lo)`: the bits
/// past `o` that at least 3 of 4 interval starts share with the middle one (at
/// most 64, the rest of the key at most), `SKIP_MIN` or more, and the block's
/// first address.
fn skip_block(iv: &[(u128, NextHop)], o: u32) -> Option<(u32, u128)> {
    let starts = &iv[1..];
    let m = starts[starts.len() / 2].0;
    let mut common: Vec<u32> = starts
        .iter()
        .map(|&(s, _)| ((s ^ m) << o).leading_zeros().min(128 - o))
        .collect();
    let (_, &mut l, _) = common.select_nth_unstable_by(starts.len() * 3 / 4, |a, b| b.cmp(a));
    let l = l.min(64).min(127 - o);
    (l >= SKIP_MIN).then(|| (l, m & !(u128::MAX >> (o + l))))
}

/// Keys looked up together by `lookup_batch`.
const LANES: usize = 32;

#[derive(Clone, Debug)]
pub(crate) struct Dxr<K> {
    /// Index bits of the top-level direct table (`direct[..1 << s]`).
    s: u32,
    /// Top-level table, then sub-direct tables; empty while the table is empty.
    direct: Vec<u32>,
    descs: Vec<Desc>,
    r8: Ranges<u8>,
    maps: Bitmaps,
    r16: Ranges<u16>,
    r32: Ranges<u32>,
    r128: Ranges<u128>,
    lines: lines::Lines,
    /// Bytes of `len` (not capacity) no longer reachable from the top level.
    garbage: usize,
    _key: PhantomData<K>,
}

impl<K> Default for Dxr<K> {
    fn default() -> Self {
        Dxr {
            s: 1,
            direct: Vec::new(),
            descs: Vec::new(),
            r8: Ranges::default(),
            maps: Bitmaps::default(),
            r16: Ranges::default(),
            r32: Ranges::default(),
            r128: Ranges::default(),
            lines: lines::Lines::default(),
            garbage: 0,
            _key: PhantomData,
        }
    }
}

/// Where a slot's content lives, decoded from its entry.
pub(crate) enum Slot {
    Leaf,
    Sub { bits: u32, off: usize },
    Chunk,
}

impl<K: Key> Dxr<K> {
    /// Builds from the intervals of the whole address space (`iv[0].0 == 0`).
    pub(crate) fn build(iv: &[(u128, NextHop)], s: u32) -> Self {
        assert!(s >= 1 && s < K::BITS);
        let mut dxr = Dxr {
            s,
            ..Dxr::default()
        };
        dxr.direct = vec![0; 1 << s];
        dxr.fill(0, iv, 0, 0, s);
        dxr.shrink();
        dxr
    }

    pub(crate) fn top_bits(&self) -> u32 {
        self.s
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.direct.is_empty()
    }

    /// Heap bytes, by capacity.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.direct.capacity() * 4
            + self.descs.capacity() * size_of::<Desc>()
            + self.r8.bytes()
            + self.maps.bytes()
            + self.r16.bytes()
            + self.r32.bytes()
            + self.r128.bytes()
            + self.lines.v.capacity() * size_of::<lines::Line>()
    }

    /// Bytes in use (by length), reachable or not.
    fn len_bytes(&self) -> usize {
        self.direct.len() * 4
            + self.descs.len() * size_of::<Desc>()
            + self.r8.len_bytes()
            + self.maps.len_bytes()
            + self.r16.len_bytes()
            + self.r32.len_bytes()
            + self.r128.len_bytes()
            + self.lines.v.len() * size_of::<lines::Line>()
    }

    /// Whether dead chunks outweigh live ones (time to rebuild from scratch).
    pub(crate) fn needs_compaction(&self) -> bool {
        self.garbage > 64 * 1024 && self.garbage * 2 > self.len_bytes()
    }

    /// A copy without dead chunks' capacity slack (what a publisher hands readers).
    pub(crate) fn shrunk_clone(&self) -> Self {
        let mut c = self.clone();
        c.shrink();
        c
    }

    fn shrink(&mut self) {
        self.direct.shrink_to_fit();
        self.descs.shrink_to_fit();
        self.r8.starts.shrink_to_fit();
        self.r8.hops.shrink_to_fit();
        self.maps.nodes.shrink_to_fit();
        self.r16.starts.shrink_to_fit();
        self.r16.hops.shrink_to_fit();
        self.r32.starts.shrink_to_fit();
        self.r32.hops.shrink_to_fit();
        self.r128.starts.shrink_to_fit();
        self.r128.hops.shrink_to_fit();
        self.lines.v.shrink_to_fit();
    }

    pub(crate) fn entry(&self, loc: usize) -> u32 {
        self.direct[loc]
    }

    pub(crate) fn set_entry(&mut self, loc: usize, e: u32) {
        self.direct[loc] = e;
    }

    pub(crate) fn slot_kind(&self, e: u32) -> Slot {
        if e < CHUNK {
            Slot::Leaf
        } else if e < SUB {
            Slot::Chunk
        } else if e < DESC {
            Slot::Sub {
                bits: ((e >> SUB_OFF_BITS) & 0xf) + 1,
                off: (e & SUB_OFF_MASK) as usize,
            }
        } else if e >= LINE {
            Slot::Chunk
        } else {
            let d = self.descs[(e & INDEX_MASK) as usize];
            if d.kind == K_DIRECT {
                Slot::Sub {
                    bits: u32::from(d.bits),
                    off: d.off as usize,
                }
            } else {
                Slot::Chunk
            }
        }
    }

    /// Fills `direct[d..d + 2^t]` with the slots of span `lo/o` (`iv` covers it).
    fn fill(&mut self, d: usize, iv: &[(u128, NextHop)], lo: u128, o: u32, t: u32) {
        let sub_o = o + t;
        let shift = 128 - sub_o;
        let host = !wide_mask(sub_o);
        let mut i = 0;
        for j in 0..1usize << t {
            let slo = lo | ((j as u128) << shift);
            while i + 1 < iv.len() && iv[i + 1].0 <= slo {
                i += 1;
            }
            let shi = slo | host;
            let mut k = i + 1;
            while k < iv.len() && iv[k].0 <= shi {
                k += 1;
            }
            let e = self.emit(&iv[i..k], o + t);
            self.direct[d + j] = e;
        }
    }

    fn leaf(&mut self, nh: NextHop) -> u32 {
        let e = nh.wrapping_add(1);
        if e < CHUNK {
            e
        } else {
            let off = self.r8.push(&[(0, nh)], 0, |_| 0);
            self.range_entry(K_R8, off, 1)
        }
    }

    fn range_entry(&mut self, kind: u8, off: usize, count: usize) -> u32 {
        if kind == K_R8 && off <= NARROW_OFF_MASK as usize {
            debug_assert!((1..=NARROW_MAX).contains(&count));
            return CHUNK | ((count as u32 - 1) << NARROW_OFF_BITS) | off as u32;
        }
        self.desc(Desc {
            kind,
            bits: 0,
            count: u32::try_from(count).expect("lpm: chunk too large"),
            off: u32::try_from(off).expect("lpm: range table too large"),
        })
    }

    fn desc(&mut self, d: Desc) -> u32 {
        let i = self.descs.len() as u32;
        assert!(i <= INDEX_MASK, "lpm: too many descriptors");
        self.descs.push(d);
        DESC | i
    }

    /// Appends the structure of one span (`o` bits fixed) and returns its entry.
    /// `iv`: the intervals meeting the span, in order, neighbours with different
    /// next hops; `iv[0]` may start before the span, the others start inside it.
    pub(crate) fn emit(&mut self, iv: &[(u128, NextHop)], o: u32) -> u32 {
        debug_assert!(o <= K::BITS);
        if iv.len() == 1 {
            return self.leaf(iv[0].1);
        }
        debug_assert!(o < K::BITS);
        let or = iv[1..].iter().fold(0u128, |a, &(s, _)| a | (s << o));
        let used = 128 - or.trailing_zeros();
        let left = K::BITS - o;
        if K::BITS == 128 && o >= 16 {
            if let Some(e) = self.emit_v6(iv, o, used) {
                return e;
            }
        }
        // Under the 16-bit top level of a big table (4096+ routes): a deep map.
        // IPv4: the /24s of a /16 with a few longer prefixes among them stay on
        // the bitmap path. IPv6: a lookup becomes a chain of the same step (a map
        // per 8 bits) that the batch lookup takes 8 lanes per vector, measured
        // faster than sub-direct tables and binary-searched ranges (fewer kinds
        // of step, no mispredicted branches). Smaller tables keep their compact
        // range chunks.
        if used > 8 && left > 8 && o >= 16 {
            return self.emit_deep(iv, o);
        }
        if iv.len() > SPLIT && used > 8 && left >= 2 {
            // Enough bits for roughly 4 intervals a slot, at most 2^16 slots.
            let want = usize::BITS - (iv.len() / 4).leading_zeros();
            let t = want.clamp(4, 16).min(left);
            let d = self.direct.len();
            self.direct.resize(d + (1 << t), 0);
            let lo = iv[1].0 & wide_mask(o);
            self.fill(d, iv, lo, o, t);
            if d <= SUB_OFF_MASK as usize {
                return SUB | ((t - 1) << SUB_OFF_BITS) | d as u32;
            }
            return self.desc(Desc {
                kind: K_DIRECT,
                bits: t as u8,
                count: 0,
                off: u32::try_from(d).expect("lpm: direct table too large"),
            });
        }
        // Every chunk whose starts fit 8 bits is a bitmap, however few its
        // intervals: the batch lookup resolves leaves and bitmaps without a branch
        // (see `lookup_lanes`), which is worth their 36 bytes (a full IPv4 table
        // stays under 4 bytes per prefix).
        if used <= 8 {
            let i = self.maps.push(iv, o);
            return BITMAP | i as u32;
        }
        let (kind, off) = if used <= 16 {
            (K_R16, self.r16.push(iv, o, |r| (r >> 112) as u16))
        } else if used <= 32 {
            (K_R32, self.r32.push(iv, o, |r| (r >> 96) as u32))
        } else {
            (K_R128, self.r128.push(iv, o, |r| r))
        };
        self.range_entry(kind, off, iv.len())
    }

    /// IPv6 under the top level: sub-direct tables while a span holds many
    /// intervals, then a line chunk (one aligned load and one compare for the batch
    /// lookup; `lines.rs`). The real table's prefixes are mostly /32 and /48: a
    /// crowded /16 gets a 2^16 table down to its /32s, a /32 with more-specifics a
    /// line chunk for the bits to /48, so most keys take 2 or 3 reads. `None`: the
    /// span is left to the generic choice (few intervals with starts beyond the
    /// next 32 bits, or the line vector full).
    fn emit_v6(&mut self, iv: &[(u128, NextHop)], o: u32, used: u32) -> Option<u32> {
        let n = iv.len();
        if used <= 16 && n <= lines::MAX16 && self.lines.has_room(n, false) {
            return Some(self.lines.push(iv, o, false));
        }
        if used <= 32 && n <= lines::MAX32 && self.lines.has_room(n, true) {
            return Some(self.lines.push(iv, o, true));
        }
        if used > 32 && n <= lines::MAX32 {
            // Rare (a /64 or longer alone in a /32): a range chunk, for the scalar walk.
            let off = self.r128.push(iv, o, |r| r);
            return Some(self.range_entry(K_R128, off, n));
        }
        // Not for a /32's own span (o = 32): its keys outside the block would
        // leave the vector steps for the scalar walk.
        if o > 32 {
            if let Some(e) = self.emit_skip(iv, o) {
                return Some(e);
            }
        }
        // A sub-direct table of at most 2^10 entries per interval right under a
        // big table's 16-bit top level (a crowded /16 gets all 16 bits: its /32s
        // in one step), 2^6 elsewhere (2^16 at most): its slots then hold a few
        // intervals each, mostly leaves or one line chunk. Measured on the real
        // table: 2^6 under the top level too gives 6 MiB instead of 9.5 and
        // somewhat fewer lookups per second (within this machine's noise).
        let per = if o < 32 && self.s >= 16 { 10 } else { 6 };
        let t = (usize::BITS - 1 - (n << per).leading_zeros())
            .min(16)
            .min(used)
            .min(K::BITS - o);
        let d = self.direct.len();
        self.direct.resize(d + (1 << t), 0);
        let lo = iv[1].0 & wide_mask(o);
        self.fill(d, iv, lo, o, t);
        if d <= SUB_OFF_MASK as usize {
            return Some(SUB | ((t - 1) << SUB_OFF_BITS) | d as u32);
        }
        Some(self.desc(Desc {
            kind: K_DIRECT,
            bits: t as u8,
            count: 0,
            off: u32::try_from(d).expect("lpm: direct table too large"),
        }))
    }

    /// A skip for a span most of whose interval starts lie in one small block at
    /// least `SKIP_MIN` bits deeper (the real table's crowd of /126s in
    /// 2001:590::/96, with a few /64s beside it in 2001:590::/46): the key's bits
    /// from `o` to the block's depth either name the block, whose structure goes
    /// on from there, or not, and the rest of the span (the block's intervals
    /// folded into the one before it) has a structure of its own at depth `o`.
    /// Without it the walk to the crowd took a sub-direct table of 2^14 entries
    /// for every 14 bits, each with one slot in use: six steps from /46 to /126.
    /// `None`: no such block (fewer than 3 of 4 starts share 16 more bits).
    fn emit_skip(&mut self, iv: &[(u128, NextHop)], o: u32) -> Option<u32> {
        let (l, lo) = skip_block(iv, o)?;
        let so = o + l;
        let hi = lo | (u128::MAX >> so);
        // The block: the interval covering its start, then those starting inside.
        let a = iv.partition_point(|&(s, _)| s <= lo);
        let b = iv.partition_point(|&(s, _)| s <= hi);
        if b - a < 2 {
            return None;
        }
        // The rest: the block's intervals folded into the one covering its start,
        // then the interval covering its end resumes after it (where the span
        // goes on and no interval starts there anyway).
        let mut rest = iv[..a].to_vec();
        let after = iv[b - 1].1;
        let span_hi = lo | (u128::MAX >> o);
        if hi != span_hi && iv.get(b).is_none_or(|&(s, _)| s > hi + 1) && after != rest[a - 1].1 {
            rest.push((hi + 1, after));
        }
        for &(s, nh) in &iv[b..] {
            if rest.last().is_some_and(|&(_, h)| h != nh) {
                rest.push((s, nh));
            }
        }
        let d = self.direct.len();
        self.direct.resize(d + 4, 0);
        let block = self.emit(&iv[a - 1..b], so);
        let others = self.emit(&rest, o);
        let v = ((lo << o) >> (128 - l)) as u64;
        self.direct[d..d + 4].copy_from_slice(&[(v >> 32) as u32, v as u32, block, others]);
        Some(self.desc(Desc {
            kind: K_SKIP,
            bits: l as u8,
            count: 0,
            off: u32::try_from(d).expect("lpm: direct table too large"),
        }))
    }

    /// A deep map for a span whose interval starts need more than the next 8 bits:
    /// a bitmap over those 8 bits in which every bucket holding finer starts is an
    /// interval of its own whose hop points to the bucket's structure (`emit` one
    /// level down). IPv4 lookups then stay on the bitmap path (the batch lookup's
    /// vector stages) for all but the keys inside such a bucket.
    fn emit_deep(&mut self, iv: &[(u128, NextHop)], o: u32) -> u32 {
        let lo = iv[1].0 & wide_mask(o);
        let shift = 120 - o;
        let bucket = |a: u128| ((a << o) >> 120) as u32;
        let start = |b: u32| lo | (u128::from(b) << shift);
        let fine = !wide_mask(o + 8);
        let mut out: Vec<(u128, u32)> = Vec::with_capacity(iv.len().min(256));
        if bucket(iv[1].0) != 0 {
            let h = self.deep_hop_of(iv[0].1);
            out.push((lo, h));
        }
        let mut j = 1;
        while j < iv.len() {
            let b = bucket(iv[j].0);
            let m = j + iv[j..].iter().take_while(|&&(a, _)| bucket(a) == b).count();
            let h = if m - j == 1 && iv[j].0 & fine == 0 {
                self.deep_hop_of(iv[j].1)
            } else {
                // The bucket's own intervals: the one covering its start, then the
                // starts inside it.
                let mut sub = Vec::with_capacity(m - j + 1);
                if iv[j].0 & fine != 0 {
                    sub.push(iv[j - 1]);
                }
                sub.extend_from_slice(&iv[j..m]);
                self.emit(&sub, o + 8)
            };
            out.push((start(b), h));
            // What follows the bucket, unless the next start opens the next bucket.
            let fine_bucket = h & DEEP_HOP != 0 && !(m - j == 1 && iv[j].0 & fine == 0);
            if fine_bucket && b < 255 && iv.get(m).is_none_or(|&(a, _)| bucket(a) != b + 1) {
                let h = self.deep_hop_of(iv[m - 1].1);
                out.push((start(b + 1), h));
            }
            j = m;
        }
        let i = self.maps.push(&out, o);
        BITMAP | DEEP_MAP | i as u32
    }

    /// A deep map's hop for next hop `nh`: itself, or (when its top bit is set) a
    /// one-interval narrow chunk holding it (never an inline leaf: `NO_ROUTE`'s
    /// would be 0, a next hop like any other in a hop).
    fn deep_hop_of(&mut self, nh: NextHop) -> u32 {
        if nh & DEEP_HOP == 0 {
            nh
        } else {
            let off = self.r8.push(&[(0, nh)], 0, |_| 0);
            self.range_entry(K_R8, off, 1)
        }
    }

    /// Replaces the slot whose entry is `old` by the intervals `iv` (as `emit`)
    /// and returns the new entry. A bitmap that stays a bitmap keeps its place,
    /// and its next hops too when they still fit: a burst of updates then leaves
    /// little garbage behind (and compaction stays rare).
    pub(crate) fn replace(&mut self, old: u32, iv: &[(u128, NextHop)], o: u32) -> u32 {
        if (BITMAP..SUB).contains(&old) && old & DEEP_MAP == 0 && iv.len() > 1 {
            let or = iv[1..].iter().fold(0u128, |a, &(s, _)| a | (s << o));
            if 128 - or.trailing_zeros() <= 8 {
                let i = (old & MAP_MASK) as usize;
                let had = self.maps.count(i);
                let n = self.maps.rewrite(i, iv, o, had);
                if n != i {
                    self.garbage += 4 * node_words(had);
                } else {
                    self.garbage += 4 * (node_words(had) - node_words(iv.len()));
                }
                return BITMAP | n as u32;
            }
        }
        self.release(old);
        self.emit(iv, o)
    }

    /// A copy holding only what the top level reaches, laid out afresh: cheaper
    /// than rebuilding from the route set (no sweep, no search for covers).
    pub(crate) fn compacted(&self) -> Self {
        let mut c = Dxr {
            s: self.s,
            ..Dxr::default()
        };
        let top = 1usize << self.s;
        c.direct = self.direct[..top].to_vec();
        for loc in 0..top {
            let e = c.copy_entry(self, self.direct[loc]);
            c.direct[loc] = e;
        }
        c.shrink();
        c
    }

    /// Copies what `e` (an entry of `src`) reaches into `self`; returns its entry here.
    fn copy_entry(&mut self, src: &Self, e: u32) -> u32 {
        if e < CHUNK {
            return e;
        }
        if e < BITMAP {
            let off = (e & NARROW_OFF_MASK) as usize;
            let count = ((e >> NARROW_OFF_BITS) & 0x1f) as usize + 1;
            let new = self.r8.starts.len();
            self.r8
                .starts
                .extend_from_slice(&src.r8.starts[off..off + count]);
            self.r8
                .hops
                .extend_from_slice(&src.r8.hops[off..off + count]);
            return self.range_entry(K_R8, new, count);
        }
        if e < SUB {
            let i = (e & MAP_MASK) as usize;
            let mut hops = src.maps.hops(i).to_vec();
            if e & DEEP_MAP != 0 {
                for h in hops.iter_mut().filter(|h| **h & DEEP_HOP != 0) {
                    *h = self.copy_entry(src, *h);
                }
            }
            let off = self.maps.nodes.len();
            self.maps
                .nodes
                .extend_from_slice(&src.maps.nodes[2 * i..2 * i + HEAD]);
            self.maps.nodes.extend_from_slice(&hops);
            self.maps.nodes.resize(off + node_words(hops.len()), 0);
            assert!(off / 2 <= MAP_MASK as usize, "lpm: too many bitmap chunks");
            return BITMAP | (e & DEEP_MAP) | (off / 2) as u32;
        }
        if e >= LINE {
            let new = self.lines.v.len() as u32;
            self.lines.v.extend_from_slice(src.lines.node(e));
            return (e & !LINE_OFF_MASK) | new;
        }
        let (t, off) = if e < DESC {
            (((e >> SUB_OFF_BITS) & 0xf) + 1, (e & SUB_OFF_MASK) as usize)
        } else {
            let d = src.descs[(e & INDEX_MASK) as usize];
            let (off, n) = (d.off as usize, d.count as usize);
            match d.kind {
                K_DIRECT => (u32::from(d.bits), off),
                K_SKIP => {
                    let new = self.direct.len();
                    self.direct.extend_from_slice(&src.direct[off..off + 4]);
                    for w in 2..4 {
                        let sub = self.copy_entry(src, src.direct[off + w]);
                        self.direct[new + w] = sub;
                    }
                    return self.desc(Desc {
                        off: u32::try_from(new).expect("lpm: direct table too large"),
                        ..d
                    });
                }
                K_R8 => {
                    let new = self.r8.starts.len();
                    self.r8
                        .starts
                        .extend_from_slice(&src.r8.starts[off..off + n]);
                    self.r8.hops.extend_from_slice(&src.r8.hops[off..off + n]);
                    return self.range_entry(K_R8, new, n);
                }
                K_R16 => {
                    let new = self.r16.starts.len();
                    self.r16
                        .starts
                        .extend_from_slice(&src.r16.starts[off..off + n]);
                    self.r16.hops.extend_from_slice(&src.r16.hops[off..off + n]);
                    return self.range_entry(K_R16, new, n);
                }
                K_R32 => {
                    let new = self.r32.starts.len();
                    self.r32
                        .starts
                        .extend_from_slice(&src.r32.starts[off..off + n]);
                    self.r32.hops.extend_from_slice(&src.r32.hops[off..off + n]);
                    return self.range_entry(K_R32, new, n);
                }
                _ => {
                    let new = self.r128.starts.len();
                    self.r128
                        .starts
                        .extend_from_slice(&src.r128.starts[off..off + n]);
                    self.r128
                        .hops
                        .extend_from_slice(&src.r128.hops[off..off + n]);
                    return self.range_entry(K_R128, new, n);
                }
            }
        };
        // A sub-direct table: copy its entries, then what each reaches.
        let d = self.direct.len();
        self.direct
            .extend_from_slice(&src.direct[off..off + (1 << t)]);
        for j in 0..1usize << t {
            let sub = self.copy_entry(src, src.direct[off + j]);
            self.direct[d + j] = sub;
        }
        if d <= SUB_OFF_MASK as usize {
            return SUB | ((t - 1) << SUB_OFF_BITS) | d as u32;
        }
        self.desc(Desc {
            kind: K_DIRECT,
            bits: t as u8,
            count: 0,
            off: u32::try_from(d).expect("lpm: direct table too large"),
        })
    }

    /// Counts the storage under `e` as garbage (its slot is being rebuilt).
    pub(crate) fn release(&mut self, e: u32) {
        if e < CHUNK {
            return;
        }
        if e < BITMAP {
            let count = ((e >> NARROW_OFF_BITS) & 0x1f) as usize + 1;
            self.garbage += count * 5;
            return;
        }
        if e < SUB {
            let i = (e & MAP_MASK) as usize;
            self.garbage += 4 * node_words(self.maps.count(i));
            if e & DEEP_MAP != 0 {
                let off = 2 * i + HEAD;
                for k in off..off + self.maps.count(i) {
                    let h = self.maps.nodes[k];
                    if h & DEEP_HOP != 0 {
                        self.release(h);
                    }
                }
            }
            return;
        }
        if e < DESC {
            let t = ((e >> SUB_OFF_BITS) & 0xf) + 1;
            let off = (e & SUB_OFF_MASK) as usize;
            self.garbage += 4 << t;
            for i in 0..1usize << t {
                let sub = self.direct[off + i];
                self.release(sub);
            }
            return;
        }
        if e >= LINE {
            self.garbage += size_of_val(self.lines.node(e));
            return;
        }
        let d = self.descs[(e & INDEX_MASK) as usize];
        self.garbage += size_of::<Desc>();
        let n = d.count as usize;
        match d.kind {
            K_DIRECT => {
                let len = 1usize << d.bits;
                self.garbage += 4 * len;
                for i in 0..len {
                    let sub = self.direct[d.off as usize + i];
                    self.release(sub);
                }
            }
            K_SKIP => {
                self.garbage += 16;
                for w in 2..4 {
                    let sub = self.direct[d.off as usize + w];
                    self.release(sub);
                }
            }
            K_R8 => self.garbage += n * 5,
            K_R16 => self.garbage += n * 6,
            K_R32 => self.garbage += n * 8,
            _ => self.garbage += n * 20,
        }
    }

    #[inline(always)]
    fn narrow(&self, e: u32, key: K, o: u32) -> NextHop {
        let off = (e & NARROW_OFF_MASK) as usize;
        let count = ((e >> NARROW_OFF_BITS) & 0x1f) as usize + 1;
        self.r8.find(off, count, key.tail(o).top8())
    }

    /// Follows `e` (an entry at depth `o` bits) to the next hop of `key`.
    #[inline(always)]
    fn resolve(&self, mut e: u32, key: K, mut o: u32) -> NextHop {
        loop {
            if e < CHUNK {
                return e.wrapping_sub(1);
            }
            if e < BITMAP {
                return self.narrow(e, key, o);
            }
            if e < SUB {
                let i = self.maps.index((e & MAP_MASK) as usize, key.tail(o).top8());
                let h = self.maps.hop(i);
                if e & DEEP_MAP != 0 && h & DEEP_HOP != 0 {
                    e = h;
                    o += 8;
                    continue;
                }
                return h;
            }
            if e < DESC {
                let t = ((e >> SUB_OFF_BITS) & 0xf) + 1;
                e = self.direct[(e & SUB_OFF_MASK) as usize + key.bits(o, t)];
                o += t;
                continue;
            }
            if e >= LINE {
                let x = if e & LINE_WIDE != 0 {
                    key.tail(o).top32()
                } else {
                    u32::from(key.tail(o).top16())
                };
                return self.lines.find(e, x);
            }
            let d = self.descs[(e & INDEX_MASK) as usize];
            let (off, n) = (d.off as usize, d.count as usize);
            match d.kind {
                K_DIRECT => {
                    let t = u32::from(d.bits);
                    e = self.direct[off + key.bits(o, t)];
                    o += t;
                }
                K_SKIP => {
                    let l = u32::from(d.bits);
                    let v = u64::from(self.direct[off]) << 32 | u64::from(self.direct[off + 1]);
                    if key.bits(o, l) as u64 == v {
                        e = self.direct[off + 2];
                        o += l;
                    } else {
                        e = self.direct[off + 3];
                    }
                }
                K_R8 => return self.r8.find(off, n, key.tail(o).top8()),
                K_R16 => return self.r16.find(off, n, key.tail(o).top16()),
                K_R32 => return self.r32.find(off, n, key.tail(o).top32()),
                _ => return self.r128.find(off, n, key.tail(o).top128()),
            }
        }
    }

    /// Next hop of `key`, `NO_ROUTE` on a miss.
    #[inline(always)]
    pub(crate) fn lookup(&self, key: K) -> NextHop {
        match self.direct.get(key.bits(0, self.s)) {
            Some(&e) => self.resolve(e, key, self.s),
            None => NO_ROUTE,
        }
    }

    /// `out[i] = lookup(keys[i])`, `LANES` keys interleaved stage by stage.
    #[allow(unsafe_code)]
    pub(crate) fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        assert!(
            out.len() >= keys.len(),
            "lpm: lookup_batch output shorter than input"
        );
        let out = &mut out[..keys.len()];
        if self.direct.is_empty() {
            out.fill(NO_ROUTE);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx512_usable() {
            match K::as_u32s(keys) {
                // SAFETY: the CPU has the features (checked by `avx512_usable`).
                Some(keys) => unsafe { self.lookup_v4_avx512(keys, out) },
                // SAFETY: as above (`K` is `u128`, the only other family).
                None => unsafe { self.lookup_v6_avx512(keys, out) },
            }
            return;
        }
        if K::BITS == 128 {
            self.lookup_v6_rounds(keys, out);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has POPCNT, checked just above.
            unsafe { self.lookup_groups_popcnt(keys, out) };
            return;
        }
        self.lookup_groups(keys, out);
    }

    /// `lookup_groups` compiled with the POPCNT instruction: the bitmap rank is
    /// most of a lookup's work, and the baseline x86-64 target has no POPCNT (it
    /// would count bits with a dozen shifts and masks per word).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    #[allow(unsafe_code)]
    unsafe fn lookup_groups_popcnt(&self, keys: &[K], out: &mut [NextHop]) {
        self.lookup_groups(keys, out);
    }

    #[inline(always)]
    fn lookup_groups(&self, keys: &[K], out: &mut [NextHop]) {
        for (ks, os) in keys.chunks(LANES).zip(out.chunks_mut(LANES)) {
            self.lookup_lanes(ks, os);
        }
    }

    /// One group, stage by stage so that the lanes' cache misses overlap: all
    /// top-level reads, then every lane through the bitmap path without a branch
    /// (a leaf lane reads map 0 and ignores the answer), then the rare lanes whose
    /// slot is something else (sub-tables, wide ranges) through `resolve`.
    #[inline(always)]
    fn lookup_lanes(&self, keys: &[K], out: &mut [NextHop]) {
        let s = self.s;
        let mut ent = [0u32; LANES];
        for (e, &k) in ent.iter_mut().zip(keys) {
            *e = self.direct[k.bits(0, s)];
        }
        if self.maps.nodes.is_empty() {
            for l in 0..keys.len() {
                out[l] = self.resolve(ent[l], keys[l], s);
            }
            return;
        }
        // Where each lane's next hop is, through map 0 for lanes that are not
        // bitmaps (their answer is ignored): all lanes' map reads in flight together.
        let n = keys.len();
        let mut hop = [0u32; LANES];
        let mut slow = 0u32;
        for l in 0..n {
            let e = ent[l];
            let is_map = (BITMAP..SUB).contains(&e);
            let m = (e & MAP_MASK) * u32::from(is_map);
            hop[l] = self.maps.index(m as usize, keys[l].tail(s).top8()) as u32;
            slow |= u32::from(!is_map && e >= CHUNK) << l;
        }
        // Lanes in a deep map's fine bucket finish on the slow path.
        // Then all next-hop reads; leaf or not is a coin toss per lane, so select
        // without a branch.
        for l in 0..n {
            let e = ent[l];
            let h = self.maps.hop(hop[l] as usize);
            out[l] = std::hint::select_unpredictable(e < CHUNK, e.wrapping_sub(1), h);
            let deep = e & 0xF000_0000 == BITMAP | DEEP_MAP;
            slow |= u32::from(deep && h & DEEP_HOP != 0) << l;
        }
        while slow != 0 {
            let l = slow.trailing_zeros() as usize;
            slow &= slow - 1;
            out[l] = self.resolve(ent[l], keys[l], s);
        }
    }
}

#[cfg(test)]
impl<K: Key> Dxr<K> {
    /// The batch lookup without AVX-512 (what CPUs without it run).
    pub(crate) fn lookup_batch_portable(&self, keys: &[K], out: &mut [NextHop]) {
        if self.direct.is_empty() {
            out[..keys.len()].fill(NO_ROUTE);
        } else if K::BITS == 128 {
            self.lookup_v6_rounds(keys, &mut out[..keys.len()]);
        } else {
            self.lookup_groups(keys, &mut out[..keys.len()]);
        }
    }

    /// A skip entry's block bits, block entry and rest entry.
    pub(crate) fn skip(&self, e: u32) -> Option<(u32, u32, u32)> {
        if !(DESC..LINE).contains(&e) {
            return None;
        }
        let d = self.descs[(e & INDEX_MASK) as usize];
        let off = d.off as usize;
        (d.kind == K_SKIP).then(|| {
            (
                u32::from(d.bits),
                self.direct[off + 2],
                self.direct[off + 3],
            )
        })
    }

    /// Skips reachable from the top level.
    pub(crate) fn skips(&self) -> usize {
        fn walk<K: Key>(d: &Dxr<K>, e: u32) -> usize {
            if let Some((_, block, others)) = d.skip(e) {
                return 1 + walk(d, block) + walk(d, others);
            }
            match d.slot_kind(e) {
                Slot::Sub { bits, off } => (0..1usize << bits)
                    .map(|j| walk(d, d.direct[off + j]))
                    .sum(),
                _ => 0,
            }
        }
        let top = &self.direct[..(1usize << self.s).min(self.direct.len())];
        top.iter().map(|&e| walk(self, e)).sum()
    }

    /// Lines of line chunks (garbage included).
    pub(crate) fn line_count(&self) -> usize {
        self.lines.v.len()
    }

    /// Top-level slots holding a deep map.
    pub(crate) fn deep_maps(&self) -> usize {
        let top = &self.direct[..(1usize << self.s).min(self.direct.len())];
        top.iter()
            .filter(|&&e| e & 0xF000_0000 == BITMAP | DEEP_MAP)
            .count()
    }

    /// Deepest end (`o + t` bits) of a sub-direct table reachable from the top level.
    pub(crate) fn deepest_sub(&self) -> u32 {
        fn walk<K: Key>(d: &Dxr<K>, e: u32, o: u32) -> u32 {
            if let Some((l, block, others)) = d.skip(e) {
                return walk(d, block, o + l).max(walk(d, others, o));
            }
            match d.slot_kind(e) {
                Slot::Sub { bits, off } => (0..1usize << bits)
                    .map(|j| walk(d, d.direct[off + j], o + bits))
                    .max()
                    .unwrap_or(0)
                    .max(o + bits),
                _ => 0,
            }
        }
        let top = &self.direct[..(1usize << self.s).min(self.direct.len())];
        top.iter()
            .map(|&e| walk(self, e, self.s))
            .max()
            .unwrap_or(0)
    }

    /// Bytes reachable from the top level (by the same accounting as `release`).
    fn live_bytes(&self) -> usize {
        let mut c = self.clone();
        c.garbage = 0;
        for i in 0..1usize << self.s {
            c.release(self.direct[i]);
        }
        c.garbage + (4 << self.s)
    }

    /// Panics unless garbage accounting matches what is reachable.
    pub(crate) fn check_accounting(&self) {
        if self.direct.is_empty() {
            return;
        }
        assert_eq!(
            self.live_bytes() + self.garbage,
            self.len_bytes(),
            "garbage accounting"
        );
    }
}

#[cfg(test)]
mod bitmap_tests {
    use super::{piece, Bitmaps, HEAD, PIECE};

    #[test]
    fn piece_is_x_over_24() {
        for x in 0..=255u32 {
            assert_eq!(piece(x), x / PIECE, "x = {x}");
        }
        assert!(piece(255) < HEAD as u32);
    }

    /// Every byte of nodes with starts drawn at random (and the extremes: only 0,
    /// every byte a start) finds the interval holding it, as a linear scan does.
    #[test]
    fn index_ranks_every_byte() {
        let mut rng = crate::tests::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut layouts: Vec<Vec<u32>> = vec![vec![0], (0..256).collect()];
        for _ in 0..200 {
            let mut starts = vec![0u32];
            starts.extend((1..256).filter(|_| rng().is_multiple_of(7)));
            layouts.push(starts);
        }
        let mut maps = Bitmaps::default();
        let mut nodes = Vec::new();
        for starts in &layouts {
            // Starts relative to a span of 0 fixed bits: the byte in the top 8 bits.
            let iv: Vec<(u128, u32)> = starts
                .iter()
                .enumerate()
                .map(|(i, &x)| (u128::from(x) << 120, 1000 + i as u32))
                .collect();
            nodes.push(maps.push(&iv, 0));
        }
        for (starts, &i) in layouts.iter().zip(&nodes) {
            assert_eq!(maps.count(i), starts.len());
            for x in 0..=255u8 {
                let want = starts.iter().filter(|&&s| s <= u32::from(x)).count() - 1;
                assert_eq!(maps.hop(maps.index(i, x)), 1000 + want as u32, "x = {x}");
            }
        }
    }
}
