//! A FIFO of queue ids on a power-of-two buffer: the round-robin lists of FIFO,
//! DRR, PRIO and FQ-CoDel. What they do per packet (look at the front, pop it,
//! push it back, read the entries 2, 4 and 8 places down to hint their lines) is
//! a mask and an index here; `VecDeque` wraps its indices with a compare and
//! subtract each, and rotates through an out-of-line call (~80 instructions a
//! round-robin turn, DRR at 100,000 flows: 1,193 instructions a packet, ~110
//! of them in its list).
//!
//! Grows (doubling) to its high-water mark and never allocates after.

use crate::queue::QueueId;

#[derive(Debug, Clone)]
pub(crate) struct IdRing {
    /// Its length is zero or a power of two.
    buf: Vec<QueueId>,
    head: usize,
    len: usize,
}

impl Default for IdRing {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl IdRing {
    /// Room for `n` ids (rounded up to a power of two) before it first grows.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let cap = if n == 0 { 0 } else { n.next_power_of_two() };
        IdRing {
            buf: vec![0; cap],
            head: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.buf.len().wrapping_sub(1)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    #[inline(always)]
    pub(crate) fn front(&self) -> Option<QueueId> {
        self.get(0)
    }

    /// The id `k` places from the front.
    #[inline(always)]
    pub(crate) fn get(&self, k: usize) -> Option<QueueId> {
        (k < self.len).then(|| self.buf[(self.head + k) & self.mask()])
    }

    #[inline(always)]
    pub(crate) fn push_back(&mut self, q: QueueId) {
        if self.len == self.buf.len() {
            self.grow();
        }
        let at = (self.head + self.len) & self.mask();
        self.buf[at] = q;
        self.len += 1;
    }

    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<QueueId> {
        let q = self.front()?;
        self.head = (self.head + 1) & self.mask();
        self.len -= 1;
        Some(q)
    }

    /// Moves the front id to the back (a round-robin turn); nothing when empty.
    #[inline(always)]
    pub(crate) fn rotate(&mut self) {
        if let Some(q) = self.front() {
            let mask = self.mask();
            // A full ring's back is its front's place: only the head moves.
            self.buf[(self.head + self.len) & mask] = q;
            self.head = (self.head + 1) & mask;
        }
    }

    /// Doubles the buffer, the ids laid out from its start in order.
    #[cold]
    fn grow(&mut self) {
        let cap = (self.buf.len() * 2).max(16);
        let mut buf = Vec::with_capacity(cap);
        buf.extend((0..self.len).map(|k| self.buf[(self.head + k) & self.mask()]));
        buf.resize(cap, 0);
        self.buf = buf;
        self.head = 0;
    }

    /// The ids front to back (tests).
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<QueueId> {
        (0..self.len).filter_map(|k| self.get(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::collections::VecDeque;

    /// Random pushes, pops and turns against `VecDeque`, growing while the
    /// contents wrap around the buffer's end, rotating a full ring and an empty
    /// one: the same ids in the same order, `get` at every distance.
    #[test]
    fn same_as_a_vecdeque() {
        for start in [0usize, 1, 16] {
            let mut ours = IdRing::with_capacity(start);
            let mut theirs: VecDeque<QueueId> = VecDeque::new();
            let mut rng = Rng::new(7 + start as u64);
            for step in 0..200_000u32 {
                // Phases that grow, shrink and churn at a steady size.
                let phase = (step / 5_000) % 3;
                let r = rng.next_u64() % 100;
                let push = match phase {
                    0 => r < 60,
                    1 => r < 40,
                    _ => r < 50,
                };
                if r.is_multiple_of(7) {
                    ours.rotate();
                    theirs.rotate_left(usize::from(!theirs.is_empty()));
                } else if push {
                    ours.push_back(step);
                    theirs.push_back(step);
                } else {
                    assert_eq!(ours.pop_front(), theirs.pop_front(), "step {step}");
                }
                assert_eq!(ours.len(), theirs.len());
                assert_eq!(ours.is_empty(), theirs.is_empty());
                assert_eq!(ours.front(), theirs.front().copied());
                for k in [1, 2, 4, 8, theirs.len().saturating_sub(1), theirs.len()] {
                    assert_eq!(ours.get(k), theirs.get(k).copied(), "step {step} k {k}");
                }
            }
            assert_eq!(ours.to_vec(), theirs.iter().copied().collect::<Vec<_>>());
        }
    }

    /// A full ring rotates in place; one that wraps grows in order.
    #[test]
    fn full_ring_rotates_and_wrapped_ring_grows_in_order() {
        let mut r = IdRing::with_capacity(4);
        for q in 0..4 {
            r.push_back(q);
        }
        r.rotate();
        r.rotate();
        assert_eq!(r.to_vec(), vec![2, 3, 0, 1]);
        assert_eq!(r.buf.len(), 4, "no growth for a turn of a full ring");
        r.push_back(9);
        assert_eq!(r.to_vec(), vec![2, 3, 0, 1, 9]);
        assert_eq!(r.buf.len(), 16, "doubled, to at least 16");
        let mut e = IdRing::default();
        e.rotate();
        assert_eq!(e.pop_front(), None);
        assert_eq!(e.front(), None);
        e.push_back(5);
        e.clear();
        assert!(e.is_empty() && e.get(0).is_none());
    }
}
