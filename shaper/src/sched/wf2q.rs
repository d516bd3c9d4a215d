//! WF2Q+ (Bennett & Zhang; dummynet's default): serve, among the queues whose
//! virtual start time S <= V, the one with the smallest virtual finish time F. V
//! advances by L / (sum of weights) per packet sent, and jumps to the smallest S when
//! nothing is eligible. A backlogged queue gets within one maximum packet of its
//! weighted share at any time (B-WFI of about one packet).
//!
//! Two 4-ary heaps (`heap4.rs`) keyed by F (eligible) and S (not yet eligible):
//! O(log n) per packet. Virtual times are u128 fixed point (40 fraction bits), so they never wrap.
//! A queue that empties while ahead of V (F > V) keeps its weight in the sum until V
//! reaches F (dummynet's idle heap), so V does not run ahead of the fluid system.
//!
//! Fields: `start` = S, `finish` = F, `flags` (BACKLOGGED, IDLE).

use super::heap4::Heap4;
use super::Scheduler;
use crate::queue::{QueueId, Queues, SlotId};

const FRAC: u32 = 40;
const BACKLOGGED: u32 = 1;
const IDLE: u32 = 2;

type Heap = Heap4<u128>;

#[derive(Debug, Default)]
pub struct Wf2q {
    v: u128,
    wsum: u64,
    eligible: Heap,
    waiting: Heap,
    idle: Heap,
}

#[inline]
fn cost(len: u32, w: u64) -> u128 {
    (u128::from(len) << FRAC) / u128::from(w.max(1))
}

impl Wf2q {
    pub fn new() -> Self {
        Self::default()
    }

    fn place(&mut self, q: QueueId, s: u128, f: u128) {
        if s <= self.v {
            self.eligible.push(f, q);
        } else {
            self.waiting.push(s, q);
        }
    }

    fn release_idle(&mut self, qs: &mut Queues) {
        while let Some((f, q)) = self.idle.peek() {
            if f > self.v {
                break;
            }
            self.idle.pop();
            let fl = qs.fields(q);
            if fl.flags & IDLE != 0 && fl.finish == f {
                qs.fields_mut(q).flags &= !IDLE;
                self.wsum -= u64::from(qs.weight(q));
            }
        }
    }
}

impl Scheduler for Wf2q {
    fn reset(&mut self) {
        self.v = 0;
        self.wsum = 0;
        self.eligible.clear();
        self.waiting.clear();
        self.idle.clear();
    }

    fn enqueue(&mut self, qs: &mut Queues, q: QueueId, _now: u64) {
        let w = u64::from(qs.weight(q));
        let fl = *qs.fields(q);
        if fl.flags & BACKLOGGED != 0 {
            return;
        }
        if fl.flags & IDLE == 0 {
            self.wsum += w;
        }
        let len = qs.head_len(q).unwrap_or(0);
        let s = fl.finish.max(self.v);
        let f = s + cost(len, w);
        let m = qs.fields_mut(q);
        m.flags = BACKLOGGED;
        m.start = s;
        m.finish = f;
        self.place(q, s, f);
    }

    fn dequeue(&mut self, qs: &mut Queues, _now: u64) -> Option<SlotId> {
        if self.eligible.is_empty() {
            let (s, _) = self.waiting.peek()?;
            self.v = self.v.max(s);
        }
        while let Some((s, q)) = self.waiting.peek() {
            if s > self.v {
                break;
            }
            self.waiting.pop();
            self.eligible.push(qs.fields(q).finish, q);
        }
        let (f, q) = self.eligible.pop()?;
        let slot = qs.pop(q)?;
        let len = qs.slot_len(slot);
        self.v += cost(len, self.wsum);
        let w = u64::from(qs.weight(q));
        if let Some(next) = qs.head_len(q) {
            let s = f;
            let nf = s + cost(next, w);
            let m = qs.fields_mut(q);
            m.start = s;
            m.finish = nf;
            self.place(q, s, nf);
        } else if f > self.v {
            qs.fields_mut(q).flags = IDLE;
            self.idle.push(f, q);
        } else {
            qs.fields_mut(q).flags = 0;
            self.wsum -= w;
        }
        self.release_idle(qs);
        Some(slot)
    }

    fn forget(&mut self, qs: &Queues, q: QueueId) {
        if qs.fields(q).flags & IDLE != 0 {
            self.wsum -= u64::from(qs.weight(q));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_ratio, backlogged_lags, backlogged_shares};
    use super::*;

    #[test]
    fn weights_1_2_7_within_one_packet() {
        let w = [1, 2, 7];
        let mut s = Wf2q::new();
        let (served, lag) = backlogged_shares(&mut s, &w, &[1500], 30_000);
        assert_ratio(&served, &w, 0.02);
        // WF2Q+: no queue is ever more than one maximum packet from its fluid share.
        assert!(lag <= 1500.0 * 1.01, "lag {lag} bytes");
    }

    /// WF2Q+'s worst-case fairness: every continuously backlogged flow is within
    /// one maximum packet of its fluid share at all times (Bennett & Zhang).
    #[test]
    fn mixed_sizes_and_many_queues_within_one_max_packet() {
        let w: Vec<u32> = (1..=50).collect();
        let mut s = Wf2q::new();
        let (_, lags) = backlogged_lags(&mut s, &w, &[64, 1500, 576, 9000], 100_000);
        for (k, &lag) in lags.iter().enumerate() {
            assert!(lag <= 9000.0 * 1.01, "flow {k}: lag {lag:.0} bytes");
        }
    }
}
