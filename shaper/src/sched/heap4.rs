//! A 4-ary min-heap of (virtual time, queue) pairs for WF2Q+, laid out for the
//! cache. With 100,000 backlogged flows every level of a pop below the top few is
//! a dependent cache miss, so:
//! - four children per node: half the depth of a binary heap;
//! - 16-byte entries (a 64-bit wrapping virtual time and the queue id), stored
//!   three places in so that the four children of node `i` (entries `4i+1..4i+4`)
//!   fill exactly one aligned cache line, line `i + 1`: one miss per level, and a
//!   100,000-entry heap is 1.6 MB instead of 3.2 MB of 32-byte `u128` pairs;
//! - a pop hints the four lines of a node's grandchildren (`4i+2..4i+5`, adjacent)
//!   before it reads its children, so the next level's line is already on its way
//!   when the choice is made: the chain of misses is half as long.
//!
//! Keys wrap: `a` is before `b` when `a - b` is negative as an i64, which is a
//! total order as long as every key in the heap lies within 2^63 of the others
//! (WF2Q+'s virtual times of live queues stay within a few maximum packet costs of
//! V). Ties go by queue id, as `BinaryHeap<Reverse<(K, QueueId)>>` would order them.

use crate::prefetch::prefetch_at;
use crate::queue::QueueId;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
struct Entry {
    key: u64,
    q: QueueId,
}

/// `a` strictly before `b`.
#[inline(always)]
fn less(a: Entry, b: Entry) -> bool {
    let d = a.key.wrapping_sub(b.key) as i64;
    d < 0 || (d == 0 && a.q < b.q)
}

/// True if wrapping time `a` is after `b`.
#[inline(always)]
pub(crate) fn after(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) > 0
}

#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([Entry; 4]);

/// Entry `k` of the heap lives at position `k + PAD`.
const PAD: usize = 3;

#[derive(Debug, Clone, Default)]
pub(crate) struct Heap4 {
    lines: Vec<Line>,
    len: usize,
}

impl Heap4 {
    #[inline(always)]
    fn get(&self, k: usize) -> Entry {
        let p = k + PAD;
        self.lines[p / 4].0[p % 4]
    }

    #[inline(always)]
    fn set(&mut self, k: usize, e: Entry) {
        let p = k + PAD;
        self.lines[p / 4].0[p % 4] = e;
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Moves every pair into `out` (in no particular order) and empties the heap.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<(u64, QueueId)>) {
        for k in 0..self.len {
            let e = self.get(k);
            out.push((e.key, e.q));
        }
        self.len = 0;
    }

    /// The smallest pair.
    #[inline]
    pub(crate) fn peek(&self) -> Option<(u64, QueueId)> {
        (self.len > 0).then(|| {
            let e = self.get(0);
            (e.key, e.q)
        })
    }

    /// The queues of the root's children: the likely smallest after the next pop.
    #[inline]
    pub(crate) fn runners_up(&self) -> impl Iterator<Item = QueueId> + '_ {
        (1..self.len.min(5)).map(|k| self.get(k).q)
    }

    /// Grows only to its high-water mark (no allocation once there).
    pub(crate) fn push(&mut self, key: u64, q: QueueId) {
        let x = Entry { key, q };
        let mut i = self.len;
        if (i + PAD) / 4 >= self.lines.len() {
            self.lines.push(Line::default());
        }
        self.len += 1;
        while i > 0 {
            let parent = (i - 1) / 4;
            let pe = self.get(parent);
            if !less(x, pe) {
                break;
            }
            self.set(i, pe);
            i = parent;
        }
        self.set(i, x);
    }

    /// Removes and returns the smallest pair.
    pub(crate) fn pop(&mut self) -> Option<(u64, QueueId)> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let n = self.len;
        let last = self.get(n);
        let top = self.get(0);
        if n == 0 {
            return Some((top.key, top.q));
        }
        let mut i = 0;
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            // The grandchildren's lines, while this level's line is read.
            for l in 4 * i + 2..4 * i + 6 {
                prefetch_at(&self.lines, l);
            }
            let end = (first + 4).min(n);
            let mut c = first;
            let mut ce = self.get(first);
            for k in first + 1..end {
                let e = self.get(k);
                if less(e, ce) {
                    c = k;
                    ce = e;
                }
            }
            if !less(ce, last) {
                break;
            }
            self.set(i, ce);
            i = c;
        }
        self.set(i, last);
        Some((top.key, top.q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn children_share_one_aligned_line() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
        assert_eq!(std::mem::size_of::<Line>(), 64);
        for i in 0..100 {
            let lines: Vec<usize> = (4 * i + 1..=4 * i + 4).map(|k| (k + PAD) / 4).collect();
            assert!(lines.iter().all(|&l| l == i + 1), "node {i}: {lines:?}");
        }
    }

    /// Random pushes and pops (duplicate keys included) against `BinaryHeap`:
    /// the same pairs come out in the same order, also with keys that wrap past
    /// 2^64 (the heap compares them as wrapping differences).
    #[test]
    fn same_order_as_a_binary_heap() {
        for base in [0u64, u64::MAX - 400] {
            let mut ours = Heap4::default();
            let mut theirs: BinaryHeap<Reverse<(u64, QueueId)>> = BinaryHeap::new();
            let mut rng = crate::rng::Rng::new(3);
            // BinaryHeap sees keys shifted back to 0.., ours sees them from `base`.
            for _ in 0..200_000 {
                let r = rng.next_u64();
                if !r.is_multiple_of(3) || theirs.is_empty() {
                    let key = (rng.next_u64() % 1000) << 20 | (r % 7);
                    let q = (rng.next_u64() % 50) as QueueId;
                    ours.push(base.wrapping_add(key), q);
                    theirs.push(Reverse((key, q)));
                } else {
                    let want = theirs
                        .pop()
                        .map(|Reverse((k, q))| (base.wrapping_add(k), q));
                    assert_eq!(ours.pop(), want);
                }
                assert_eq!(ours.len(), theirs.len());
                let want = theirs
                    .peek()
                    .map(|&Reverse((k, q))| (base.wrapping_add(k), q));
                assert_eq!(ours.peek(), want);
            }
            while let Some(Reverse((k, q))) = theirs.pop() {
                assert_eq!(ours.pop(), Some((base.wrapping_add(k), q)));
            }
            assert!(ours.is_empty() && ours.pop().is_none());
        }
    }
}
