//! The flow index: which queue holds a flow, by hash. Open addressing with linear
//! probing in a power-of-two table kept at most half full (sized once, when the
//! set is built). Each entry keeps the low 32 bits of the hash beside the queue id
//! (its home slot is those bits masked, so deletion can find it again), and a
//! probe that meets another flow is rejected without touching that flow's queue:
//! a lookup reads one index line (eight entries) and then only the queue it wants.
//! With 100,000 flows that is the difference between one cache miss per packet
//! and one per probe of a chain. Deletion shifts later entries back (no
//! tombstones), so probe lengths never degrade.

use crate::prefetch::prefetch;
use crate::queue::NIL;

#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    q: u32,
}

const EMPTY: Entry = Entry { tag: 0, q: NIL };

#[derive(Debug)]
pub(crate) struct FlowIndex {
    e: Vec<Entry>,
    mask: usize,
    len: usize,
    /// Entries allowed: a full table could not end a probe.
    max: usize,
}

#[inline]
fn tag(hash: u64) -> u32 {
    hash as u32
}

impl FlowIndex {
    /// Room for `n` flows at most half full.
    pub(crate) fn new(n: usize) -> Self {
        // At most 2^31 entries: a home slot must fit in the 32-bit tag.
        let size = (2 * n.clamp(8, 1 << 30)).next_power_of_two();
        FlowIndex {
            e: vec![EMPTY; size],
            mask: size - 1,
            len: 0,
            max: size / 2,
        }
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        tag(hash) as usize & self.mask
    }

    /// The queue of the flow with `hash` for which `is(q)` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut is: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mut i = self.home(hash);
        loop {
            let e = self.e[i];
            if e.q == NIL {
                return None;
            }
            if e.tag == t && is(e.q) {
                return Some(e.q);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The first queue whose tag matches `hash` (the likely one), for prefetching.
    #[inline]
    pub(crate) fn candidate(&self, hash: u64) -> Option<u32> {
        let t = tag(hash);
        let mut i = self.home(hash);
        loop {
            let e = self.e[i];
            if e.q == NIL {
                return None;
            }
            if e.tag == t {
                return Some(e.q);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Hints the index line where the flow with `hash` starts its probe.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        prefetch(&self.e[self.home(hash)]);
    }

    /// Flows it holds at most.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.max
    }

    /// True if one more flow fits.
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.len < self.max
    }

    /// Adds queue `q` for a flow with `hash` (not already present; `has_room`).
    pub(crate) fn insert(&mut self, hash: u64, q: u32) {
        debug_assert!(self.has_room(), "flow index full");
        let mut i = self.home(hash);
        while self.e[i].q != NIL {
            i = (i + 1) & self.mask;
        }
        self.e[i] = Entry { tag: tag(hash), q };
        self.len += 1;
    }

    /// Removes queue `q`, indexed under `hash`.
    pub(crate) fn remove(&mut self, hash: u64, q: u32) {
        let mut i = self.home(hash);
        while self.e[i].q != q {
            debug_assert!(self.e[i].q != NIL, "queue {q} is not in the index");
            if self.e[i].q == NIL {
                return;
            }
            i = (i + 1) & self.mask;
        }
        // Backward shift: move up every later entry of the run that may live in
        // the hole (its home is not cyclically in (hole, its position]).
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        while self.e[j].q != NIL {
            let home = self.e[j].tag as usize & self.mask;
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.e[hole] = self.e[j];
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.e[hole] = EMPTY;
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Random inserts and removes against a `HashMap`, with hashes crowded into a
    /// few home slots so that runs wrap around the table end and removal must
    /// shift entries back across it.
    #[test]
    fn matches_a_map_under_churn() {
        let mut idx = FlowIndex::new(40);
        let mut map: HashMap<u32, u64> = HashMap::new();
        let mut rng = crate::rng::Rng::new(7);
        let size = idx.mask as u64 + 1;
        for step in 0..200_000u32 {
            let q = (rng.next_u64() % 60) as u32;
            if let Some(h) = map.remove(&q) {
                assert_eq!(idx.find(h, |x| x == q), Some(q));
                idx.remove(h, q);
                assert_eq!(idx.find(h, |x| x == q), None, "step {step}");
            } else if idx.has_room() {
                // Homes in the last 4 slots and the first 4: runs wrap.
                let home = (size - 4 + rng.next_u64() % 8) % size;
                let h = (rng.next_u64() << 32)
                    | (rng.next_u64() & !idx.mask as u64 & 0xffff_ffff)
                    | home;
                idx.insert(h, q);
                map.insert(q, h);
            }
            if step % 1000 == 0 {
                for (&q, &h) in &map {
                    assert_eq!(idx.find(h, |x| x == q), Some(q), "step {step}");
                    assert!(idx.candidate(h).is_some());
                }
                assert_eq!(idx.len, map.len());
            }
        }
    }

    #[test]
    fn stays_at_most_half_full() {
        let mut idx = FlowIndex::new(100);
        let mut n = 0u32;
        while idx.has_room() {
            idx.insert(u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15), n);
            n += 1;
        }
        assert_eq!(n as usize, idx.max);
        assert_eq!(idx.max, (idx.mask + 1) >> 1, "half the table");
        assert!(n >= 100);
        for q in 0..n {
            let h = u64::from(q).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            assert_eq!(idx.find(h, |x| x == q), Some(q));
        }
    }
}
