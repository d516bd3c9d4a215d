//! A 4-ary min-heap of (key, queue) pairs for WF2Q+. With 100,000 backlogged
//! flows a binary heap is 17 levels deep and every level of a pop is a dependent
//! cache miss; four children per node halve the depth, and the four sit next to
//! each other (one or two cache lines read per level instead of one per level of
//! twice as many). Same order as `BinaryHeap<Reverse<(K, QueueId)>>`: by key, ties
//! by queue id, so the scheduler's decisions do not change.

use crate::queue::QueueId;

#[derive(Debug, Clone, Default)]
pub(crate) struct Heap4<K> {
    v: Vec<(K, QueueId)>,
}

impl<K: Ord + Copy> Heap4<K> {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.v.len()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.v.clear();
    }

    /// The smallest pair.
    #[inline]
    pub(crate) fn peek(&self) -> Option<(K, QueueId)> {
        self.v.first().copied()
    }

    /// Grows only to its high-water mark (no allocation once there).
    pub(crate) fn push(&mut self, key: K, q: QueueId) {
        let x = (key, q);
        let mut i = self.v.len();
        self.v.push(x);
        while i > 0 {
            let parent = (i - 1) / 4;
            if self.v[parent] <= x {
                break;
            }
            self.v[i] = self.v[parent];
            i = parent;
        }
        self.v[i] = x;
    }

    /// Removes and returns the smallest pair.
    pub(crate) fn pop(&mut self) -> Option<(K, QueueId)> {
        let last = self.v.pop()?;
        let n = self.v.len();
        if n == 0 {
            return Some(last);
        }
        let top = self.v[0];
        let mut i = 0;
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let end = (first + 4).min(n);
            let mut c = first;
            for k in first + 1..end {
                if self.v[k] < self.v[c] {
                    c = k;
                }
            }
            if self.v[c] >= last {
                break;
            }
            self.v[i] = self.v[c];
            i = c;
        }
        self.v[i] = last;
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// Random pushes and pops (duplicate keys included) against `BinaryHeap`:
    /// the same pairs come out in the same order.
    #[test]
    fn same_order_as_a_binary_heap() {
        let mut ours: Heap4<u128> = Heap4::default();
        let mut theirs: BinaryHeap<Reverse<(u128, QueueId)>> = BinaryHeap::new();
        let mut rng = crate::rng::Rng::new(3);
        for _ in 0..200_000 {
            let r = rng.next_u64();
            if !r.is_multiple_of(3) || theirs.is_empty() {
                let key = u128::from(rng.next_u64() % 1000) << 64 | u128::from(r % 7);
                let q = (rng.next_u64() % 50) as QueueId;
                ours.push(key, q);
                theirs.push(Reverse((key, q)));
            } else {
                assert_eq!(ours.pop(), theirs.pop().map(|Reverse(x)| x));
            }
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(ours.peek(), theirs.peek().map(|&Reverse(x)| x));
        }
        while let Some(Reverse(x)) = theirs.pop() {
            assert_eq!(ours.pop(), Some(x));
        }
        assert!(ours.is_empty() && ours.pop().is_none());
    }
}
