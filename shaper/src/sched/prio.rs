//! Strict priority: the lowest `prio` level with a backlog is served first; queues of
//! one level take turns a packet at a time. Starves lower levels by design.
//!
//! Fields: `flags` bit 0 = in its level's list.

use super::ring::IdRing;
use super::Scheduler;
use crate::queue::{QueueId, Queues, SlotId};

pub const LEVELS: usize = 16;
const ACTIVE: u32 = 1;

#[derive(Debug)]
pub struct Prio {
    levels: [IdRing; LEVELS],
    nonempty: u32,
}

impl Prio {
    pub fn new() -> Self {
        Prio {
            levels: std::array::from_fn(|_| IdRing::default()),
            nonempty: 0,
        }
    }
}

impl Default for Prio {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler for Prio {
    fn reset(&mut self) {
        self.levels.iter_mut().for_each(IdRing::clear);
        self.nonempty = 0;
    }

    fn enqueue(&mut self, qs: &mut Queues, q: QueueId, _now: u64) {
        if qs.fields(q).flags & ACTIVE == 0 {
            qs.fields_mut(q).flags |= ACTIVE;
            let level = usize::from(qs.prio(q)).min(LEVELS - 1);
            self.levels[level].push_back(q);
            self.nonempty |= 1 << level;
        }
    }

    fn dequeue(&mut self, qs: &mut Queues, _now: u64) -> Option<SlotId> {
        while self.nonempty != 0 {
            let level = self.nonempty.trailing_zeros() as usize;
            let list = &mut self.levels[level];
            super::prefetch_ahead(qs, list, false);
            let Some(q) = list.pop_front() else {
                self.nonempty &= !(1 << level);
                continue;
            };
            let slot = qs.pop(q);
            if qs.pkts(q) > 0 {
                list.push_back(q);
            } else {
                qs.fields_mut(q).flags &= !ACTIVE;
                if list.is_empty() {
                    self.nonempty &= !(1 << level);
                }
            }
            if slot.is_some() {
                return slot;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::Bench;
    use super::*;

    #[test]
    fn lower_prio_first_round_robin_within() {
        let mut s = Prio::new();
        let mut b = Bench::new(&[1, 1, 1]);
        b.qs.q[0].prio = 3;
        b.qs.q[1].prio = 0;
        b.qs.q[2].prio = 0;
        for _ in 0..2 {
            for q in 0..3 {
                b.add(&mut s, q, 100, 0);
            }
        }
        let got: Vec<u32> = (0..6).map(|_| b.serve(&mut s, 0).unwrap().0).collect();
        assert_eq!(got, vec![1, 2, 1, 2, 0, 0]);
        assert_eq!(b.serve(&mut s, 0), None);
    }
}
