//! A routing table of one family: the authoritative route set (an ordered map, which
//! answers `iter`, replacements, and "which routes lie inside this slot") and the
//! lookup structure (`Dxr`) derived from it. Every edit rebuilds only the slots of
//! the lookup structure that the edited prefixes overlap, from the route set.

use std::collections::BTreeMap;
use std::mem::size_of;

use crate::dxr::{Dxr, Slot};
use crate::key::{wide_mask, Key};
use crate::{LpmError, NextHop, NO_ROUTE};

/// One edit of a batch, keys left-aligned.
pub(crate) type Edit = (u128, u32);

/// A slot's intervals and `sweep`'s stack, allocated once per batch.
type Scratch = (Vec<(u128, NextHop)>, Vec<(u128, NextHop)>);

#[derive(Clone, Default)]
pub(crate) struct Table<K: Key> {
    pub(crate) dxr: Dxr<K>,
    routes: BTreeMap<(K, u8), NextHop>,
    /// Routes per prefix length (`BITS + 1` counters; empty while the table is).
    lens: Vec<u32>,
    /// Per top-level slot of `dxr`, the next hop of the longest route no longer
    /// than the slot's prefix that covers it (`NO_ROUTE` if none). Writer-side
    /// only: refreshing a slot would otherwise probe the route set once per
    /// shorter length, which dominated batched updates.
    cover: Vec<NextHop>,
}

/// Intervals of `[lo, hi]` from the routes inside it (sorted by start, then length)
/// and the next hop covering the whole span. Neighbours get different next hops.
/// `stack`: scratch space, reused across calls (a batch sweeps every slot it touches).
fn sweep(
    lo: u128,
    hi: u128,
    cover: NextHop,
    routes: impl Iterator<Item = (u128, u128, NextHop)>,
    out: &mut Vec<(u128, NextHop)>,
    stack: &mut Vec<(u128, NextHop)>,
) {
    out.clear();
    let piece = |out: &mut Vec<(u128, NextHop)>, start: u128, nh: NextHop| {
        if out.last().map(|&(_, last)| last) != Some(nh) {
            out.push((start, nh));
        }
    };
    stack.clear();
    stack.push((hi, cover));
    let mut pos = lo;
    for (p, last, nh) in routes {
        while let Some(&(tl, tnh)) = stack.last() {
            if tl >= p {
                break;
            }
            stack.pop();
            if pos <= tl {
                piece(out, pos, tnh);
                pos = tl + 1;
            }
        }
        let top = stack
            .last()
            .expect("the span's cover stays at the bottom")
            .1;
        if pos < p {
            piece(out, pos, top);
            pos = p;
        }
        stack.push((last, nh));
    }
    while let Some((tl, tnh)) = stack.pop() {
        if pos <= tl {
            piece(out, pos, tnh);
            if tl == u128::MAX {
                break;
            }
            pos = tl + 1;
        }
    }
}

impl<K: Key> Table<K> {
    pub(crate) fn check(prefix: K, len: u8) -> Result<(), LpmError> {
        if u32::from(len) > K::BITS {
            Err(LpmError::PrefixTooLong)
        } else if prefix.to_wide() & !wide_mask(u32::from(len)) != 0 {
            Err(LpmError::HostBitsSet)
        } else {
            Ok(())
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }

    /// The next hop of exactly `prefix/len`, if that route is in the table.
    pub(crate) fn get(&self, prefix: K, len: u8) -> Option<NextHop> {
        self.routes.get(&(prefix, len)).copied()
    }

    pub(crate) fn routes(&self) -> impl Iterator<Item = (K, u8, NextHop)> + '_ {
        self.routes.iter().map(|(&(k, l), &nh)| (k, l, nh))
    }

    /// Estimated heap bytes of the route set: B-tree nodes of 11 entries, about
    /// 3/4 full, plus the per-length counters.
    pub(crate) fn route_set_bytes(&self) -> usize {
        let entry = size_of::<(K, u8)>() + size_of::<NextHop>();
        let nodes = (self.routes.len() * 4).div_ceil(11 * 3);
        nodes * (11 * entry + 2 * size_of::<usize>())
            + self.lens.capacity() * 4
            + self.cover.capacity() * 4
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.dxr.memory_bytes() + self.route_set_bytes()
    }

    /// Top-level index bits for a table of `n` routes: about 8 routes per slot
    /// (IPv4; IPv6 tables fill only 2000::/3, so theirs stay smaller). A table of
    /// 4096 routes or more takes all 2^16 slots at once (at most 64 bytes a
    /// route): an IPv4 table's /24s then sit in bitmaps right under the top level,
    /// an IPv6 table's prefixes at the end of chains of deep maps (`Dxr::emit`),
    /// the batch lookups' fast paths.
    fn wanted_bits(n: usize) -> u32 {
        let log = usize::BITS - n.max(1).leading_zeros();
        if K::BITS == 32 {
            if n >= 4096 {
                return 16;
            }
            log.saturating_sub(3).clamp(1, 16)
        } else if n >= 4096 {
            // A full IPv6 table: every /16 of 2000::/3 its own slot (256 KiB), deep
            // maps under them (see `Dxr::emit`).
            16
        } else {
            log.saturating_sub(6).clamp(1, 12)
        }
    }

    #[inline]
    pub(crate) fn lookup_nh(&self, key: K) -> NextHop {
        self.dxr.lookup(key)
    }

    /// `None` on a miss; a route whose next hop is `NO_ROUTE` is told apart from a
    /// miss through the route set.
    pub(crate) fn lookup(&self, key: K) -> Option<NextHop> {
        match self.dxr.lookup(key) {
            NO_ROUTE => self.longest_match(key.to_wide(), K::BITS),
            nh => Some(nh),
        }
    }

    /// Next hop of the longest route of length `<= max_len` containing `addr`.
    fn longest_match(&self, addr: u128, max_len: u32) -> Option<NextHop> {
        (0..=max_len as usize)
            .rev()
            .filter(|&l| self.lens.get(l).is_some_and(|&c| c > 0))
            .find_map(|l| {
                let p = K::from_wide(addr & wide_mask(l as u32));
                self.routes.get(&(p, l as u8)).copied()
            })
    }

    pub(crate) fn insert(
        &mut self,
        prefix: K,
        len: u8,
        nh: NextHop,
    ) -> Result<Option<NextHop>, LpmError> {
        Self::check(prefix, len)?;
        let old = self.set(prefix, len, Some(nh));
        if old != Some(nh) {
            self.refresh(&[(prefix.to_wide(), u32::from(len))]);
        }
        Ok(old)
    }

    pub(crate) fn remove(&mut self, prefix: K, len: u8) -> Result<Option<NextHop>, LpmError> {
        Self::check(prefix, len)?;
        let old = self.set(prefix, len, None);
        if old.is_some() {
            self.refresh(&[(prefix.to_wide(), u32::from(len))]);
        }
        Ok(old)
    }

    /// Applies validated edits (`Some(nh)`: insert or replace, `None`: remove) and
    /// rebuilds the lookup structure once for all of them.
    pub(crate) fn apply(&mut self, edits: impl Iterator<Item = (K, u8, Option<NextHop>)>) {
        // In address order (stable: edits of one prefix keep their order, the last
        // wins as before): the route set's tree is then walked front to back, its
        // nodes still cached from the previous edit, instead of at random.
        let mut edits: Vec<_> = edits.collect();
        edits.sort_by_key(|&(p, l, _)| (p, l));
        let mut changed = Vec::new();
        for (p, l, nh) in edits {
            if self.set(p, l, nh) != nh {
                changed.push((p.to_wide(), u32::from(l)));
            }
        }
        if !changed.is_empty() {
            self.refresh(&changed);
        }
    }

    /// Updates the route set only; returns the previous next hop.
    fn set(&mut self, prefix: K, len: u8, nh: Option<NextHop>) -> Option<NextHop> {
        let old = match nh {
            Some(nh) => self.routes.insert((prefix, len), nh),
            None => self.routes.remove(&(prefix, len)),
        };
        if old.is_none() && nh.is_none() {
            return None;
        }
        if self.lens.is_empty() {
            self.lens = vec![0; K::BITS as usize + 1];
        }
        let c = &mut self.lens[usize::from(len)];
        match (old.is_some(), nh.is_some()) {
            (false, true) => *c += 1,
            (true, false) => *c -= 1,
            _ => {}
        }
        old
    }

    /// Brings the lookup structure up to date after the route set changed at the
    /// prefixes `edits`.
    fn refresh(&mut self, edits: &[Edit]) {
        let n = self.routes.len();
        if n == 0 {
            // Give all memory back: an empty table holds no heap.
            *self = Self::default();
            return;
        }
        let want = Self::wanted_bits(n);
        let s = self.dxr.top_bits();
        // Shrink only once the table is a quarter of what would keep this size, so
        // that a table hovering at a boundary is not rebuilt on every edit.
        let shrink = Self::wanted_bits(n.saturating_mul(4)) < s;
        if self.dxr.is_empty() || want > s || shrink || edits.len() * 4 > n {
            self.rebuild();
            return;
        }
        // Every (top-level slot, edit) pair, grouped by slot.
        let mut pairs: Vec<(usize, Edit)> = Vec::with_capacity(edits.len());
        for &(p, l) in edits.iter() {
            let first = (p >> (128 - s)) as usize;
            let count = if l >= s { 1 } else { 1usize << (s - l) };
            pairs.extend((first..first + count).map(|j| (j, (p, l))));
        }
        pairs.sort_unstable_by_key(|&(j, (p, l))| (j, p, l));
        pairs.dedup();
        // Short edits change the cover of every slot they span.
        for &(j, (_, l)) in &pairs {
            if l <= s {
                let lo = (j as u128) << (128 - s);
                self.cover[j] = self.longest_match(lo, s).unwrap_or(NO_ROUTE);
            }
        }
        let mut buf = Scratch::default();
        let mut group = Vec::new();
        let mut i = 0;
        while i < pairs.len() {
            let j = pairs[i].0;
            group.clear();
            while i < pairs.len() && pairs[i].0 == j {
                group.push(pairs[i].1);
                i += 1;
            }
            let lo = (j as u128) << (128 - s);
            self.refresh_slot(j, lo, s, &group, &mut buf);
        }
        if self.dxr.needs_compaction() {
            self.dxr = self.dxr.compacted();
        }
    }

    /// Rebuilds what the edits (all overlapping the span `lo/o`) change in the slot
    /// at `direct[loc]`: recurses into a sub-direct table when every edit is
    /// longer than the span, else rebuilds the whole slot.
    fn refresh_slot(&mut self, loc: usize, lo: u128, o: u32, edits: &[Edit], buf: &mut Scratch) {
        let e = self.dxr.entry(loc);
        if let Slot::Sub { bits: t, off } = self.dxr.slot_kind(e) {
            if edits.iter().all(|&(_, l)| l > o) {
                let sub_o = o + t;
                let mut pairs: Vec<(usize, Edit)> = Vec::new();
                for &(p, l) in edits {
                    let first = ((p << o) >> (128 - t)) as usize;
                    let count = if l >= sub_o { 1 } else { 1usize << (sub_o - l) };
                    pairs.extend((first..first + count).map(|j| (j, (p, l))));
                }
                pairs.sort_unstable_by_key(|&(j, (p, l))| (j, p, l));
                let mut group = Vec::new();
                let mut i = 0;
                while i < pairs.len() {
                    let j = pairs[i].0;
                    group.clear();
                    while i < pairs.len() && pairs[i].0 == j {
                        group.push(pairs[i].1);
                        i += 1;
                    }
                    let slo = lo | ((j as u128) << (128 - sub_o));
                    self.refresh_slot(off + j, slo, sub_o, &group, buf);
                }
                return;
            }
        }
        let cover = if loc < self.cover.len() && o == self.dxr.top_bits() {
            self.cover[loc]
        } else {
            self.longest_match(lo, o).unwrap_or(NO_ROUTE)
        };
        self.intervals(lo, o, cover, buf);
        let e = self.dxr.replace(e, &buf.0, o);
        self.dxr.set_entry(loc, e);
    }

    /// The intervals of the span `lo/o`, whose covering next hop is `cover`.
    fn intervals(&self, lo: u128, o: u32, cover: NextHop, buf: &mut Scratch) {
        let hi = lo | !wide_mask(o);
        let from = (K::from_wide(lo), (o + 1) as u8);
        let to = (K::from_wide(hi), u8::MAX);
        let inside = self.routes.range(from..=to).map(|(&(p, l), &nh)| {
            let p = p.to_wide();
            (p, p | !wide_mask(u32::from(l)), nh)
        });
        sweep(lo, hi, cover, inside, &mut buf.0, &mut buf.1);
    }

    /// The intervals of the whole address space (as `Dxr::build` takes them), or
    /// `None` when the table has more than `max_routes` routes (a cheap bound
    /// checked before sweeping).
    pub(crate) fn all_intervals(&self, max_routes: usize) -> Option<Vec<(u128, NextHop)>> {
        if self.routes.len() > max_routes {
            return None;
        }
        let all = self.routes.iter().map(|(&(p, l), &nh)| {
            let p = p.to_wide();
            (p, p | !wide_mask(u32::from(l)), nh)
        });
        let mut iv = Vec::with_capacity(2 * self.routes.len() + 1);
        sweep(0, u128::MAX, NO_ROUTE, all, &mut iv, &mut Vec::new());
        Some(iv)
    }

    /// Rebuilds the lookup structure from scratch, sized for the current table.
    pub(crate) fn rebuild(&mut self) {
        let mut iv = Vec::new();
        let all = self.routes.iter().map(|(&(p, l), &nh)| {
            let p = p.to_wide();
            (p, p | !wide_mask(u32::from(l)), nh)
        });
        let mut stack = Vec::new();
        sweep(0, u128::MAX, NO_ROUTE, all, &mut iv, &mut stack);
        let s = Self::wanted_bits(self.routes.len());
        self.dxr = Dxr::build(&iv, s);
        // Covers: the intervals of the routes no longer than `s`, read at each
        // slot's first address.
        let short = self
            .routes
            .iter()
            .filter(|&(&(_, l), _)| u32::from(l) <= s)
            .map(|(&(p, l), &nh)| {
                let p = p.to_wide();
                (p, p | !wide_mask(u32::from(l)), nh)
            });
        sweep(0, u128::MAX, NO_ROUTE, short, &mut iv, &mut stack);
        self.cover = Vec::with_capacity(1 << s);
        let mut i = 0;
        for j in 0..1u128 << s {
            let lo = j << (128 - s);
            while i + 1 < iv.len() && iv[i + 1].0 <= lo {
                i += 1;
            }
            self.cover.push(iv[i].1);
        }
    }
}

#[cfg(test)]
impl<K: Key> Table<K> {
    /// Panics unless the lookup structure answers like one rebuilt from scratch at
    /// every interval boundary (and either side of it), and its accounting holds.
    pub(crate) fn check_invariants(&self) {
        if self.routes.is_empty() {
            assert!(
                self.dxr.is_empty() && self.lens.is_empty(),
                "empty table holds memory"
            );
            return;
        }
        self.dxr.check_accounting();
        let s = self.dxr.top_bits();
        assert_eq!(self.cover.len(), 1 << s, "one cover per top-level slot");
        for (j, &c) in self.cover.iter().enumerate() {
            let lo = (j as u128) << (128 - s);
            assert_eq!(
                c,
                self.longest_match(lo, s).unwrap_or(NO_ROUTE),
                "cover of slot {j}"
            );
        }
        let counted: u32 = self.lens.iter().sum();
        assert_eq!(counted as usize, self.routes.len(), "length counters");
        let mut iv = Vec::new();
        let all = self.routes.iter().map(|(&(p, l), &nh)| {
            let p = p.to_wide();
            (p, p | !wide_mask(u32::from(l)), nh)
        });
        sweep(0, u128::MAX, NO_ROUTE, all, &mut iv, &mut Vec::new());
        for w in iv.windows(2) {
            assert_ne!(w[0].1, w[1].1, "neighbour intervals not merged");
        }
        let step = 1u128 << (128 - K::BITS);
        for (i, &(start, nh)) in iv.iter().enumerate() {
            let key = K::from_wide(start);
            assert_eq!(self.dxr.lookup(key), nh, "interval start {key:?}");
            if i > 0 {
                let prev = K::from_wide(start - step);
                assert_eq!(self.dxr.lookup(prev), iv[i - 1].1, "before {key:?}");
            }
        }
    }
}
