//! FIFO: packets leave in arrival order whatever queue they sit in.
//!
//! Each queue is itself FIFO, so remembering the queue of each arrival is enough: a
//! ring of queue ids, one entry per queued packet. The ring grows to its high-water
//! mark (at most the pool size) and then never allocates again.

use super::ring::IdRing;
use super::Scheduler;
use crate::queue::{QueueId, Queues, SlotId};

#[derive(Debug, Default)]
pub struct Fifo {
    order: IdRing,
}

impl Fifo {
    pub fn new() -> Self {
        Fifo {
            order: IdRing::with_capacity(64),
        }
    }
}

impl Scheduler for Fifo {
    fn reset(&mut self) {
        self.order.clear();
    }

    fn enqueue(&mut self, _qs: &mut Queues, q: QueueId, _now: u64) {
        self.order.push_back(q);
    }

    fn dequeue(&mut self, qs: &mut Queues, _now: u64) -> Option<SlotId> {
        let q = self.order.pop_front()?;
        super::prefetch_ahead_lists(qs, &self.order);
        qs.pop(q)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::Bench;
    use super::*;

    #[test]
    fn arrival_order_across_queues() {
        let mut s = Fifo::new();
        let mut b = Bench::new(&[1, 5, 9]);
        let order = [2u32, 0, 1, 1, 2, 0];
        for (i, &q) in order.iter().enumerate() {
            b.add(&mut s, q, 100 + i as u32, 0);
        }
        for (i, &q) in order.iter().enumerate() {
            assert_eq!(b.serve(&mut s, 0), Some((q, 100 + i as u32)));
        }
        assert_eq!(b.serve(&mut s, 0), None);
    }
}
