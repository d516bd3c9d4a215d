//! WF2Q+ (Bennett & Zhang; dummynet's default): serve, among the queues whose
//! virtual start time S <= V, the one with the smallest virtual finish time F. V
//! advances by L / (sum of weights) per packet sent, and jumps to the smallest S when
//! nothing is eligible. A backlogged queue gets within one maximum packet of its
//! weighted share at any time (B-WFI of about one packet).
//!
//! Two 4-ary heaps (`heap4.rs`) keyed by F (eligible) and S (not yet eligible):
//! O(log n) per packet. Virtual times are u64 fixed point (40 fraction bits) that
//! wrap, compared as signed differences: every live S and F lies within two packet
//! costs of V (a packet's cost is at most 2^20 bytes << 40 = 2^60), far inside the
//! 2^63 that wrapping comparison needs; a queue neither backlogged nor idle has
//! F <= V by construction, so its stale F is never compared (it restarts at V).
//! 64-bit times make a heap entry 16 bytes (see `heap4.rs` for why that matters).
//! A queue that empties while ahead of V (F > V) keeps its weight in the sum until V
//! reaches F (dummynet's idle heap), so V does not run ahead of the fluid system.
//!
//! Fields: `start` = S, `finish` = F, `flags` (BACKLOGGED, IDLE).

use super::heap4::{after, Heap4};
use super::Scheduler;
use crate::queue::{QueueId, Queues, SlotId};

const FRAC: u32 = 40;
const BACKLOGGED: u32 = 1;
const IDLE: u32 = 2;

type Heap = Heap4;

#[derive(Debug, Default)]
pub struct Wf2q {
    v: u64,
    wsum: u64,
    eligible: Heap,
    waiting: Heap,
    idle: Heap,
}

/// Bytes a cost is computed for at most (keeps every cost below 2^60; no packet
/// is near it).
const MAX_COST_LEN: u64 = 1 << 20;

#[inline]
fn cost(len: u32, w: u64) -> u64 {
    (u64::from(len).min(MAX_COST_LEN) << FRAC) / w.max(1)
}

impl Wf2q {
    pub fn new() -> Self {
        Self::default()
    }

    fn place(&mut self, q: QueueId, s: u64, f: u64) {
        if !after(s, self.v) {
            self.eligible.push(f, q);
        } else {
            self.waiting.push(s, q);
        }
    }

    fn release_idle(&mut self, qs: &mut Queues) {
        while let Some((f, q)) = self.idle.peek() {
            if after(f, self.v) {
                break;
            }
            self.idle.pop();
            let fl = qs.fields(q);
            if fl.flags & IDLE != 0 && fl.finish as u64 == f {
                qs.fields_mut(q).flags &= !IDLE;
                self.wsum -= u64::from(qs.weight(q));
            }
        }
        // The next queue to leave the idle heap is read in a later call.
        if let Some((_, next)) = self.idle.peek() {
            qs.prefetch(next);
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
        // Only an idle queue can be ahead of V (see the module docs).
        let finish = fl.finish as u64;
        let s = if fl.flags & IDLE != 0 && after(finish, self.v) {
            finish
        } else {
            self.v
        };
        let f = s.wrapping_add(cost(len, w));
        let m = qs.fields_mut(q);
        m.flags = BACKLOGGED;
        m.start = u128::from(s);
        m.finish = u128::from(f);
        self.place(q, s, f);
    }

    fn dequeue(&mut self, qs: &mut Queues, _now: u64) -> Option<SlotId> {
        if self.eligible.is_empty() {
            let (s, _) = self.waiting.peek()?;
            if after(s, self.v) {
                self.v = s;
            }
        }
        while let Some((s, q)) = self.waiting.peek() {
            if after(s, self.v) {
                break;
            }
            self.waiting.pop();
            self.eligible.push(qs.fields(q).finish as u64, q);
            if let Some((_, next)) = self.waiting.peek() {
                qs.prefetch(next);
            }
        }
        let (f, q) = self.eligible.pop()?;
        // With many queues every line of the next ones served is cold. The new
        // smallest finish time is most likely served next: its lines were hinted
        // a call ago (as a runner-up), so its head packet can be hinted now; the
        // runners-up (the root's children) are hinted for the call after.
        if let Some((_, next)) = self.eligible.peek() {
            qs.prefetch_head(next);
        }
        for r in self.eligible.runners_up() {
            qs.prefetch(r);
        }
        let slot = qs.pop(q)?;
        let len = qs.slot_len(slot);
        self.v = self.v.wrapping_add(cost(len, self.wsum));
        let w = u64::from(qs.weight(q));
        if let Some(next) = qs.head_len(q) {
            let s = f;
            let nf = s.wrapping_add(cost(next, w));
            let m = qs.fields_mut(q);
            m.start = u128::from(s);
            m.finish = u128::from(nf);
            self.place(q, s, nf);
        } else if after(f, self.v) {
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
