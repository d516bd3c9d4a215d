//! A calendar queue of (virtual time, queue) pairs for WF2Q+: the same pairs in
//! the same order as one big 4-ary heap (`heap4.rs`), for a fraction of its
//! cache misses when it holds thousands of them.
//!
//! With 100,000 flows WF2Q+ keeps tens of thousands of pairs in each of its three
//! sets, and every pop of a heap that size walks eight levels of lines that are
//! mostly cold (the flows' own lines push them out): the heap pops were a quarter
//! of WF2Q+'s profile at ~410 ns a packet. Here time is cut into buckets of
//! 2^shift: a ring of `NB` buckets covers the near future, the cursor's bucket
//! (and anything before it) is `cur`, and anything beyond the ring waits in a
//! heap (`far`). A push appends to a bucket (one line, found through a bitmap);
//! when `cur` runs dry the cursor moves to the next full bucket and pours it into
//! `cur`, sorted. Only `cur`, a bucket's worth of pairs, is ever ordered, so the
//! order is exact (ties by queue id, as the heap) while a pair costs a few
//! sequential accesses.
//!
//! The bucket width follows the pairs: it is chosen so that the spread of the
//! keys held covers half the ring when the calendar is (re)built, and rebuilt
//! (O(n), at most once per 4n operations) when too many pairs pile up in `cur`'s
//! heap (buckets too wide) or in `far` (too narrow). Up to `SMALL` pairs it is
//! just a heap, and nothing else is allocated: a pipe instance per flow with a few
//! packets each stays small, and WF2Q+ with its three sets stays small enough to
//! sit in a pipe instance unboxed. Its calls are inlined: at one flow they run on
//! every packet against empty sets (not inlined, `peek` alone cost ~6 ns a packet).
//!
//! Keys wrap like the heap's: every key must lie within 2^62 of the others.

use super::heap4::Heap4;
use crate::queue::QueueId;

const NB_BITS: u32 = 10;
/// Buckets in the ring.
const NB: usize = 1 << NB_BITS;
const WORDS: usize = NB / 64;
/// Pairs held before the ring is turned on (and the least that a pile-up in
/// `cur`'s heap or in `far` must reach to rebuild).
const SMALL: usize = 128;
/// Pushes between two looks at whether the ring needs a rebuild (after the
/// cooldown of the last one).
const RECHECK: usize = 32;
/// Pairs a push out of the run's order may shift to take its place in the run
/// (below, it goes into the cursor's heap).
const SHIFT_MAX: usize = 16;
/// Widest bucket: the ring then spans 2^62, within the wrapping comparisons' 2^63.
const MAX_SHIFT: u32 = 62 - NB_BITS;

type Pair = (u64, QueueId);

/// `a` strictly before `b` (wrapping keys, ties by queue: the heap's order).
#[inline(always)]
fn before(a: Pair, b: Pair) -> bool {
    let d = a.0.wrapping_sub(b.0) as i64;
    d < 0 || (d == 0 && a.1 < b.1)
}

/// The cursor's bucket is a sorted run (a poured bucket, consumed from the
/// front, plus pairs that sort after its last or land near either end, see
/// `Run::push`) and a heap (`Calendar::heap`) for the other pairs that arrive
/// out of its order. WF2Q+'s keys tie a lot (flows of one
/// weight and packet size share their virtual times exactly), so a bucket can
/// hold thousands of pairs no width separates; sorted once (and they mostly come
/// in order already), they cost a sequential read each, where a heap of them
/// costs a pop each.
#[derive(Debug, Clone, Default)]
struct Run {
    pairs: Vec<Pair>,
    head: usize,
}

impl Run {
    #[inline]
    fn left(&self) -> usize {
        self.pairs.len() - self.head
    }

    /// A pair before the run's last takes its place in the run when few pairs
    /// have to move for it: those after it (moved back), or those before it
    /// into the room the consumed front left (moved forward). WF2Q+'s eligible
    /// set gets such pairs all the time (a flow of short packets released
    /// lands ahead of the long ones' finish times); in the cursor's heap each
    /// cost a push and a pop down its levels (~0.6 of each a packet at
    /// 100,000 flows). Only when both sides are long does it go to the heap.
    #[inline]
    fn push(&mut self, heap: &mut Heap4, p: Pair) {
        match self.pairs.last() {
            Some(&last) if self.head < self.pairs.len() && before(p, last) => {
                // Most land a few places from the front (measured: ~8 pairs
                // in, WF2Q+ at 100,000 flows): looked for from there first.
                let live = self.pairs.len() - self.head;
                let near = live.min(SHIFT_MAX);
                let front = self.pairs[self.head..self.head + near]
                    .iter()
                    .position(|&x| before(p, x));
                if let (Some(k), true) = (front, self.head > 0) {
                    let at = self.head + k;
                    self.pairs.copy_within(self.head..at, self.head - 1);
                    self.head -= 1;
                    self.pairs[at - 1] = p;
                } else if live <= SHIFT_MAX
                    || before(self.pairs[self.pairs.len() - SHIFT_MAX - 1], p)
                {
                    let at = self.pairs.len()
                        - self.pairs[self.pairs.len() - near..]
                            .iter()
                            .rev()
                            .take_while(|&&x| before(p, x))
                            .count();
                    self.pairs.insert(at, p);
                } else {
                    heap.push(p.0, p.1);
                }
            }
            _ => {
                if self.head == self.pairs.len() {
                    self.pairs.clear();
                    self.head = 0;
                }
                self.pairs.push(p);
            }
        }
    }

    /// Whether the run's front comes before the heap's top (None: both empty).
    #[inline]
    fn first(&self, heap: &Heap4) -> Option<bool> {
        let r = self.pairs.get(self.head).copied();
        match (r, heap.peek()) {
            (None, None) => None,
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some(r), Some(h)) => Some(before(r, h)),
        }
    }

    #[inline]
    fn peek(&self, heap: &Heap4) -> Option<Pair> {
        match self.first(heap)? {
            true => Some(self.pairs[self.head]),
            false => heap.peek(),
        }
    }

    #[inline]
    fn pop(&mut self, heap: &mut Heap4) -> Option<Pair> {
        match self.first(heap)? {
            true => {
                self.head += 1;
                Some(self.pairs[self.head - 1])
            }
            false => heap.pop(),
        }
    }

    fn drain_into(&mut self, out: &mut Vec<Pair>) {
        out.extend_from_slice(&self.pairs[self.head..]);
        self.pairs.clear();
        self.head = 0;
    }

    /// Takes `b` (any order) as the run, which must be used up. Hands back the
    /// old run's storage in `b`, so no capacity is lost.
    fn pour(&mut self, b: &mut Vec<Pair>) {
        debug_assert_eq!(self.left(), 0);
        std::mem::swap(&mut self.pairs, b);
        b.clear();
        self.head = 0;
        self.pairs
            .sort_unstable_by(|&x, &y| (x.0.wrapping_sub(y.0) as i64).cmp(&0).then(x.1.cmp(&y.1)));
    }
}

#[derive(Debug, Clone)]
struct Ring {
    /// Start of the cursor's bucket (a multiple of 2^shift, wrapping): `cur`
    /// holds the keys before `base + 2^shift`, bucket `slot(k)` those up to
    /// `base + NB * 2^shift`, `far` the rest.
    base: u64,
    shift: u32,
    /// `cur`'s sorted part (its heap is `Calendar::heap`).
    run: Run,
    buckets: Vec<Vec<Pair>>,
    /// Bit `s` set: bucket `s` is not empty; `summary` bit `w`: `bits[w] != 0`.
    bits: [u64; WORDS],
    summary: u64,
    in_ring: usize,
    far: Heap4,
    /// The full bucket after the cursor's when the cursor last moved (maybe no
    /// longer the next, or empty: only hints are taken from it), or `NB`.
    upcoming: usize,
    /// Operations before another rebuild is allowed (keeps rebuilds O(1)
    /// amortized, also when ties defeat them).
    cooldown: usize,
    /// The pairs of a rebuild (kept for its capacity).
    scratch: Vec<Pair>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Calendar {
    /// Every pair while the ring is off; then `cur`'s pairs out of the run's order.
    heap: Heap4,
    /// Allocated the first time more than `SMALL` pairs are held, kept after
    /// (`clear` only turns it off).
    ring: Option<Box<Ring>>,
    on: bool,
}

impl Ring {
    #[inline]
    fn slot(&self, key: u64) -> usize {
        (key >> self.shift) as usize & (NB - 1)
    }

    #[inline]
    fn set_bit(&mut self, s: usize) {
        self.bits[s / 64] |= 1 << (s % 64);
        self.summary |= 1 << (s / 64);
    }

    /// Files a pair by its key: into `cur`, a bucket, or `far`.
    #[inline]
    fn place(&mut self, heap: &mut Heap4, key: u64, q: QueueId) {
        let d = key.wrapping_sub(self.base) as i64;
        if d < 1i64 << self.shift {
            self.run.push(heap, (key, q));
        } else if (d as u64) >> self.shift < NB as u64 {
            let s = self.slot(key);
            self.buckets[s].push((key, q));
            self.set_bit(s);
            self.in_ring += 1;
        } else {
            self.far.push(key, q);
        }
    }

    /// The first full bucket after the cursor's, as a distance 1..NB (the
    /// cursor's own bucket is always empty: poured into `cur`).
    fn next_full(&self) -> usize {
        let c = self.slot(self.base);
        let start = (c + 1) & (NB - 1);
        let w = start / 64;
        let m = self.bits[w] & (!0u64 << (start % 64));
        let s = if m != 0 {
            w * 64 + m.trailing_zeros() as usize
        } else {
            let later = self.summary & (!1u64).checked_shl(w as u32).unwrap_or(0);
            let w2 = if later != 0 {
                later.trailing_zeros()
            } else {
                self.summary.trailing_zeros()
            } as usize;
            w2 * 64 + self.bits[w2].trailing_zeros() as usize
        };
        (s.wrapping_sub(c) & (NB - 1)).max(1)
    }

    /// `cur` ran dry: moves the cursor to the next pairs and pours their bucket
    /// into `cur`.
    fn advance(&mut self, heap: &mut Heap4) {
        if self.in_ring > 0 {
            let k = self.next_full() as u64;
            self.base = self.base.wrapping_add(k << self.shift);
        } else if let Some((key, _)) = self.far.peek() {
            self.base = key & !((1u64 << self.shift) - 1);
        } else {
            return;
        }
        let s = self.slot(self.base);
        if self.bits[s / 64] & (1 << (s % 64)) != 0 {
            self.in_ring -= self.buckets[s].len();
            self.run.pour(&mut self.buckets[s]);
            self.bits[s / 64] &= !(1 << (s % 64));
            if self.bits[s / 64] == 0 {
                self.summary &= !(1 << (s / 64));
            }
        }
        // The ring's window moved on: what it now covers comes out of `far`.
        while let Some((key, q)) = self.far.peek() {
            if key.wrapping_sub(self.base) >> self.shift >= NB as u64 {
                break;
            }
            self.far.pop();
            self.place(heap, key, q);
        }
        self.upcoming = if self.in_ring > 0 {
            (s + self.next_full()) & (NB - 1)
        } else {
            NB
        };
    }

    /// Takes every pair out of the run, the ring and `far` into `scratch`.
    fn gather(&mut self) {
        self.run.drain_into(&mut self.scratch);
        for w in 0..WORDS {
            let mut m = self.bits[w];
            while m != 0 {
                let s = w * 64 + m.trailing_zeros() as usize;
                m &= m - 1;
                self.scratch.append(&mut self.buckets[s]);
            }
            self.bits[w] = 0;
        }
        self.summary = 0;
        self.in_ring = 0;
        self.far.drain_into(&mut self.scratch);
    }
}

impl Calendar {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
            + self
                .ring
                .as_ref()
                .filter(|_| self.on)
                .map_or(0, |r| r.run.left() + r.in_ring + r.far.len())
    }

    /// True once the ring is in use (tests check that they reached it).
    #[cfg(test)]
    pub(crate) fn ring_on(&self) -> bool {
        self.on
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
            && !(self.on
                && self
                    .ring
                    .as_ref()
                    .is_some_and(|r| r.run.left() + r.in_ring + r.far.len() > 0))
    }

    /// Empties it (and goes back to a plain heap), keeping what it allocated.
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        if let Some(r) = self.ring.as_mut() {
            r.gather();
            r.scratch.clear();
            r.cooldown = 0;
        }
        self.on = false;
    }

    /// Grows only to its high-water mark (no allocation once there).
    #[inline(always)]
    pub(crate) fn push(&mut self, key: u64, q: QueueId) {
        if !self.on {
            self.heap.push(key, q);
            if self.heap.len() > SMALL {
                self.maybe_rebuild();
            }
            return;
        }
        let r = self.ring.as_mut().expect("on");
        r.place(&mut self.heap, key, q);
        r.cooldown = r.cooldown.saturating_sub(1);
        if r.cooldown == 0 {
            self.maybe_rebuild();
        }
    }

    /// The smallest pair (moves the cursor if `cur` ran dry).
    #[inline(always)]
    pub(crate) fn peek(&mut self) -> Option<(u64, QueueId)> {
        // With few flows the ring is off: a plain heap, most often empty.
        if !self.on {
            return self.heap.peek();
        }
        let r = self.ring.as_mut().expect("on");
        if r.run.left() == 0 && self.heap.is_empty() {
            r.advance(&mut self.heap);
        }
        r.run.peek(&self.heap)
    }

    /// Removes and returns the smallest pair.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<(u64, QueueId)> {
        if !self.on {
            return self.heap.pop();
        }
        let r = self.ring.as_mut().expect("on");
        if r.run.left() == 0 && self.heap.is_empty() {
            r.advance(&mut self.heap);
        }
        r.cooldown = r.cooldown.saturating_sub(1);
        r.run.pop(&mut self.heap)
    }

    /// A queue likely popped `k` pops from now, to prefetch: `k` places down the
    /// sorted run, or past its end into the next full bucket (unsorted, but
    /// all of it comes next; buckets are often shorter than a look-ahead).
    #[inline]
    pub(crate) fn ahead(&self, k: usize) -> Option<QueueId> {
        let r = self.ring.as_ref().filter(|_| self.on)?;
        let left = r.run.left();
        if k < left {
            return Some(r.run.pairs[r.run.head + k].1);
        }
        r.buckets.get(r.upcoming)?.get(k - left).map(|&(_, q)| q)
    }

    /// The queues of the heap's top's children (for prefetching).
    #[inline]
    pub(crate) fn runners_up(&self, f: impl FnMut(QueueId)) {
        self.heap.runners_up().for_each(f);
    }

    /// Rebuilds the ring with a bucket width fitted to the keys held, if pairs
    /// pile up in the heap (buckets too wide, or the ring still off) or in
    /// `far` (too narrow).
    fn maybe_rebuild(&mut self) {
        let c = self.heap.len();
        let (far, n) = match (&self.ring, self.on) {
            (Some(r), true) => {
                if r.cooldown > 0 {
                    return;
                }
                (r.far.len(), c + r.run.left() + r.in_ring + r.far.len())
            }
            _ => (0, c),
        };
        if !((c > SMALL && c * 4 > n) || (far > SMALL && far * 8 > n)) {
            // Looked at again `RECHECK` pushes later, not at every push once
            // the cooldown ran out (that was ~70 instructions a packet for
            // WF2Q+ at 100,000 flows); a pile-up grows by `RECHECK` at most.
            if let Some(r) = self.ring.as_mut().filter(|_| self.on) {
                r.cooldown = RECHECK;
            }
            return;
        }
        let r = self.ring.get_or_insert_with(|| {
            Box::new(Ring {
                base: 0,
                shift: 0,
                run: Run::default(),
                buckets: vec![Vec::new(); NB],
                bits: [0; WORDS],
                summary: 0,
                in_ring: 0,
                far: Heap4::default(),
                upcoming: NB,
                cooldown: 0,
                scratch: Vec::new(),
            })
        });
        r.scratch.clear();
        if self.on {
            r.gather();
        }
        self.heap.drain_into(&mut r.scratch);
        let Some(&(r0, _)) = r.scratch.first() else {
            return;
        };
        let (mut lo, mut hi) = (0i64, 0i64);
        for &(key, _) in &r.scratch {
            let d = key.wrapping_sub(r0) as i64;
            lo = lo.min(d);
            hi = hi.max(d);
        }
        // Buckets of 2^shift > span / (NB / 2): the keys held fill half the ring.
        let per = (hi.wrapping_sub(lo) as u64) >> (NB_BITS - 1);
        r.shift = (64 - per.leading_zeros()).min(MAX_SHIFT);
        r.base = r0.wrapping_add(lo as u64) & !((1u64 << r.shift) - 1);
        // The cursor's bucket is poured like any other (sorted into the run).
        let s = r.slot(r.base);
        let mut scratch = std::mem::take(&mut r.scratch);
        for &(key, q) in &scratch {
            if (key.wrapping_sub(r.base) as i64) < 1i64 << r.shift {
                r.buckets[s].push((key, q));
            } else {
                r.place(&mut self.heap, key, q);
            }
        }
        let mut b = std::mem::take(&mut r.buckets[s]);
        r.run.pour(&mut b);
        r.buckets[s] = b;
        r.upcoming = if r.in_ring > 0 {
            (s + r.next_full()) & (NB - 1)
        } else {
            NB
        };
        // Ties no width separates can leave the heap as full as before: waiting
        // 4n operations caps the cost of a futile rebuild at a quarter of a
        // move per operation.
        r.cooldown = 4 * scratch.len();
        scratch.clear();
        r.scratch = scratch;
        self.on = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// Drives a calendar and a `BinaryHeap` with the same random pushes and pops
    /// and checks that the same pairs come out in the same order. `spread` is the
    /// range of most keys pushed ahead of the last one popped, `behind` how far before
    /// it a push may land (WF2Q+'s eligible set receives such keys).
    fn against_binary_heap(
        seed: u64,
        base: u64,
        spread: u64,
        behind: u64,
        grow: u64,
        steps: usize,
    ) {
        let mut ours = Calendar::default();
        let mut theirs: BinaryHeap<Reverse<(u64, QueueId)>> = BinaryHeap::new();
        let mut rng = Rng::new(seed);
        // Keys are handed to the calendar from `base` (wrapping), to BinaryHeap from 0.
        let mut now = 1u64 << 62;
        for step in 0..steps {
            let r = rng.next_u64();
            // Phases of growth and of draining (`grow` percent pushes, then as
            // many pops), so the ring is built, rebuilt and emptied.
            let grow = if (step / 20_000) % 2 == 0 {
                grow
            } else {
                100 - grow
            };
            let push = theirs.is_empty() || (r % 100) < grow;
            if push {
                // Now and then one push in 50 lands far beyond the others: into
                // `far` when the ring was fitted to the others, to come back into
                // the ring's window as time moves on while near pushes keep
                // landing there.
                let reach = if r % 50 == 1 && (step / 5000) % 4 == 3 {
                    spread * 8
                } else {
                    spread
                };
                let ahead = rng.next_u64() % reach.max(1);
                let back = if behind > 0 && r.is_multiple_of(7) {
                    rng.next_u64() % behind
                } else {
                    0
                };
                let key = now + ahead - back;
                let q = (rng.next_u64() % 1000) as QueueId;
                ours.push(base.wrapping_add(key), q);
                theirs.push(Reverse((key, q)));
            } else {
                let want = theirs
                    .pop()
                    .map(|Reverse((k, q))| (base.wrapping_add(k), q));
                assert_eq!(ours.pop(), want, "step {step}");
                if let Some((k, _)) = want {
                    now = now.max(k.wrapping_sub(base));
                }
            }
            assert_eq!(ours.len(), theirs.len(), "step {step}");
            let want = theirs
                .peek()
                .map(|&Reverse((k, q))| (base.wrapping_add(k), q));
            assert_eq!(ours.peek(), want, "step {step}");
        }
        while let Some(Reverse((k, q))) = theirs.pop() {
            assert_eq!(ours.pop(), Some((base.wrapping_add(k), q)));
        }
        assert!(ours.is_empty() && ours.pop().is_none());
    }

    #[test]
    fn same_order_as_a_binary_heap() {
        for (seed, base) in [(1, 0u64), (2, u64::MAX - (1 << 61)), (3, u64::MAX - 5000)] {
            // Thousands of pairs (the ring on), keys a few units apart: duplicates.
            against_binary_heap(seed, base, 3000, 0, 55, 200_000);
            // Wide keys, some behind the cursor (pushed into `cur`).
            against_binary_heap(seed, base, 1 << 40, 1 << 30, 52, 200_000);
        }
    }

    /// The spread of the keys changes by orders of magnitude while thousands are
    /// held: `far` fills (buckets too narrow) or `cur` does (too wide), and the
    /// rebuilds must keep every pair and the order.
    #[test]
    fn same_order_when_the_key_spread_changes() {
        let mut ours = Calendar::default();
        let mut theirs: BinaryHeap<Reverse<(u64, QueueId)>> = BinaryHeap::new();
        let mut rng = Rng::new(9);
        let mut now = 0u64;
        for phase in 0..12u32 {
            let spread = 1u64 << (4 + 4 * (phase % 6) + (phase / 6) * 13);
            for step in 0..30_000 {
                if rng.next_u64() % 100 < 51 || theirs.is_empty() {
                    let key = now + rng.next_u64() % spread;
                    let q = (rng.next_u64() % 64) as QueueId;
                    ours.push(key, q);
                    theirs.push(Reverse((key, q)));
                } else {
                    let want = theirs.pop().map(|Reverse(p)| p);
                    assert_eq!(ours.pop(), want, "phase {phase} step {step}");
                    now = now.max(want.unwrap().0);
                }
            }
            assert!(
                ours.on,
                "phase {phase}: the ring is on with {} pairs",
                theirs.len()
            );
        }
        while let Some(Reverse(p)) = theirs.pop() {
            assert_eq!(ours.pop(), Some(p));
        }
    }

    /// A push out of the run's order, at every place in runs of every length
    /// around `SHIFT_MAX`, with and without room in front: into the run
    /// (moving the front forward or the back backward) or, when both sides
    /// are long, into the heap; popping gives the sorted order either way.
    #[test]
    fn run_takes_pushes_out_of_order_near_either_end() {
        let mut into = [0usize; 3];
        for len in [
            1usize,
            2,
            5,
            SHIFT_MAX - 1,
            SHIFT_MAX,
            SHIFT_MAX + 1,
            3 * SHIFT_MAX,
        ] {
            for consumed in [0usize, 1, 3] {
                for at in 0..=len {
                    let mut run = Run::default();
                    let mut heap = Heap4::default();
                    // Keys 10, 20, ... after `consumed` popped ones; the new
                    // pair goes just before the `at`-th remaining one.
                    for k in 0..(consumed + len) as u64 {
                        run.push(&mut heap, (10 * (k + 1), 1));
                    }
                    for _ in 0..consumed {
                        run.pop(&mut heap);
                    }
                    let key = 10 * (consumed + at) as u64 + 5;
                    let (h0, l0) = (heap.len(), run.left());
                    run.push(&mut heap, (key, 2));
                    // The heap only when more than `SHIFT_MAX` pairs lie
                    // behind it and the front has no room or as many before it.
                    let far_in = len - at > SHIFT_MAX && (consumed == 0 || at >= SHIFT_MAX);
                    assert_eq!(
                        heap.len() > h0,
                        far_in,
                        "len {len} consumed {consumed} at {at}"
                    );
                    if heap.len() > h0 {
                        into[2] += 1;
                    } else {
                        assert_eq!(run.left(), l0 + 1);
                        into[usize::from(consumed == 0 || at >= SHIFT_MAX)] += 1;
                    }
                    let mut want: Vec<u64> = (consumed..consumed + len)
                        .map(|k| 10 * (k as u64 + 1))
                        .chain([key])
                        .collect();
                    want.sort_unstable();
                    let got: Vec<u64> = std::iter::from_fn(|| run.pop(&mut heap))
                        .map(|p| p.0)
                        .collect();
                    assert_eq!(got, want, "len {len} consumed {consumed} at {at}");
                }
            }
        }
        assert!(into.iter().all(|&n| n > 0), "every way taken: {into:?}");
    }

    #[test]
    fn small_stays_a_heap_and_clear_empties() {
        let mut c = Calendar::default();
        for k in 0..SMALL as u64 {
            c.push(k * 1000, k as QueueId);
        }
        assert!(!c.on && c.ring.is_none(), "no ring below SMALL pairs");
        for k in 0..10_000u64 {
            c.push(k * 7, 1);
        }
        assert!(c.on);
        c.clear();
        assert!(c.is_empty() && c.peek().is_none());
        assert_eq!(c.len(), 0);
        c.push(5, 2);
        assert_eq!(c.pop(), Some((5, 2)));
    }
}
