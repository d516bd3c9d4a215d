//! The lookup structure: DXR-style range tables under direct-pointing tables.
//!
//! The address space is cut into the *intervals* of the routing table (maximal runs
//! of addresses with the same longest-prefix-match answer; neighbours differ). A
//! direct table indexed by the first `s` address bits (`s` grows with the table:
//! 2 entries for a tiny table, 65,536 for a full IPv4 one) holds one `u32` entry per
//! slot:
//! - **inline leaf**: the slot lies inside one interval; the entry is its next hop
//!   plus one (`NO_ROUTE` wraps to 0), so a miss or a whole-slot route costs one read;
//! - **narrow range chunk** (the common IPv4 case): a sorted run of 8-bit interval
//!   starts (relative to the slot) in `r8.starts`, the next hops beside them in
//!   `r8.hops`; offset and count live in the entry itself, so a lookup is the
//!   entry, a binary search in at most 256 bytes, and one next-hop read;
//! - **descriptor**: an index into `descs` for everything else: a range chunk with
//!   16-, 32- or 128-bit starts, or a *sub-direct table* of `2^t` entries for the
//!   next `t` bits when a slot holds too many intervals for a quick binary search
//!   (IPv6's 2001::/16, a tiny table's only slot). Sub-entries use the same encoding.
//!
//! Intervals that straddle a slot boundary are cut there, so every slot is
//! self-contained: an update rebuilds only the slots its prefix overlaps, appending
//! the new chunk and counting the old one as garbage; the owner compacts (rebuilds
//! from scratch) when garbage outweighs live data.

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
/// From here: bitmap chunks (index in bits 0..29).
const BITMAP: u32 = 0xA000_0000;
/// From here: sub-direct tables (index bits - 1 in bits 25..29, offset in 0..25).
const SUB: u32 = 0xC000_0000;
const SUB_OFF_BITS: u32 = 25;
const SUB_OFF_MASK: u32 = (1 << SUB_OFF_BITS) - 1;
/// From here: descriptor indices (bits 0..29).
const DESC: u32 = 0xE000_0000;
const INDEX_MASK: u32 = (1 << 29) - 1;

/// A range chunk with more intervals than this becomes a sub-direct table (unless
/// its starts fit 8 bits: then there are at most 256 of them, a few cache lines).
const SPLIT: usize = 48;

const K_DIRECT: u8 = 0;
const K_R8: u8 = 1;
const K_R16: u8 = 2;
const K_R32: u8 = 3;
const K_R128: u8 = 4;

#[derive(Clone, Copy, Debug, Default)]
struct Desc {
    kind: u8,
    /// Index bits of a sub-direct table.
    bits: u8,
    count: u32,
    off: u32,
}

/// The interval starts of a slot whose starts all fit 8 bits, as a 256-bit map:
/// bit `i` is set when an interval starts at `i`. One aligned half cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(32))]
struct Bits([u64; 4]);

#[derive(Clone, Debug, Default)]
struct Bitmaps {
    bits: Vec<Bits>,
    /// Per map: where its next hops start in `hops`, and the number of set bits
    /// before words 1, 2 and 3 (bytes 1..4 of the second word; byte 0 is 0).
    base: Vec<[u32; 2]>,
    hops: Vec<NextHop>,
}

impl Bitmaps {
    #[inline(always)]
    fn index(&self, i: usize, x: u8) -> usize {
        let [base, before] = self.base[i];
        let w = usize::from(x >> 6);
        let word = self.bits[i].0[w];
        let upto = word & (u64::MAX >> (63 - (x & 63)));
        let before = (before >> (8 * w)) & 0xff;
        (base + before + upto.count_ones() - 1) as usize
    }

    fn push(&mut self, iv: &[(u128, NextHop)], o: u32) -> usize {
        let mut b = Bits::default();
        for (i, &(start, _)) in iv.iter().enumerate() {
            let x = if i == 0 { 0 } else { ((start << o) >> 120) as usize };
            b.0[x >> 6] |= 1 << (x & 63);
        }
        let c1 = b.0[0].count_ones();
        let c2 = c1 + b.0[1].count_ones();
        let c3 = c2 + b.0[2].count_ones();
        let base = u32::try_from(self.hops.len()).expect("lpm: too many next hops");
        self.hops.extend(iv.iter().map(|&(_, nh)| nh));
        self.bits.push(b);
        self.base.push([base, c1 << 8 | c2 << 16 | c3 << 24]);
        self.bits.len() - 1
    }

    fn bytes(&self) -> usize {
        self.bits.capacity() * 32 + self.base.capacity() * 8 + self.hops.capacity() * 4
    }

    fn len_bytes(&self) -> usize {
        self.bits.len() * 32 + self.base.len() * 8 + self.hops.len() * 4
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
        self.maps.bits.shrink_to_fit();
        self.maps.base.shrink_to_fit();
        self.maps.hops.shrink_to_fit();
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
        let (kind, off) = if used <= 8 && iv.len() > NARROW_MAX {
            let i = self.maps.push(iv, o);
            assert!(i <= INDEX_MASK as usize, "lpm: too many bitmap chunks");
            return BITMAP | i as u32;
        } else if used <= 8 {
            (K_R8, self.r8.push(iv, o, |r| (r >> 120) as u8))
        } else if used <= 16 {
            (K_R16, self.r16.push(iv, o, |r| (r >> 112) as u16))
        } else if used <= 32 {
            (K_R32, self.r32.push(iv, o, |r| (r >> 96) as u32))
        } else {
            (K_R128, self.r128.push(iv, o, |r| r))
        };
        self.range_entry(kind, off, iv.len())
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
            let b = self.maps.bits[(e & INDEX_MASK) as usize];
            let count: u32 = b.0.iter().map(|w| w.count_ones()).sum();
            self.garbage += 32 + 8 + 4 * count as usize;
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
                let i = self.maps.index((e & INDEX_MASK) as usize, key.tail(o).top8());
                return self.maps.hops[i];
            }
            if e < DESC {
                let t = ((e >> SUB_OFF_BITS) & 0xf) + 1;
                e = self.direct[(e & SUB_OFF_MASK) as usize + key.bits(o, t)];
                o += t;
                continue;
            }
            let d = self.descs[(e & INDEX_MASK) as usize];
            let (off, n) = (d.off as usize, d.count as usize);
            match d.kind {
                K_DIRECT => {
                    let t = u32::from(d.bits);
                    e = self.direct[off + key.bits(o, t)];
                    o += t;
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
        for (ks, os) in keys.chunks(LANES).zip(out.chunks_mut(LANES)) {
            self.lookup_lanes(ks, os);
        }
    }

    /// One group: all top-level reads first, then the narrow chunks' binary
    /// searches one step per lane per round (so the lanes' cache misses overlap),
    /// then their next-hop reads; anything else takes the scalar path.
    #[inline(always)]
    fn lookup_lanes(&self, keys: &[K], out: &mut [NextHop]) {
        let s = self.s;
        let mut ent = [0u32; LANES];
        for (e, &k) in ent.iter_mut().zip(keys) {
            *e = self.direct[k.bits(0, s)];
        }
        for l in 0..keys.len() {
            out[l] = self.resolve(ent[l], keys[l], s);
        }
    }
}

#[cfg(test)]
impl<K: Key> Dxr<K> {
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
