//! WF2Q+ (Bennett & Zhang; dummynet's default): serve, among the queues whose
//! virtual start time S <= V, the one with the smallest virtual finish time F. V
//! advances by L / (sum of weights) per packet sent, and jumps to the smallest S when
//! nothing is eligible. A backlogged queue gets within one maximum packet of its
//! weighted share at any time (B-WFI of about one packet).
//!
//! Three ordered sets of (virtual time, queue) pairs: eligible queues by F, queues
//! not yet eligible by S, and idle queues still ahead of V by F (below). Each is a
//! calendar queue (`calendar.rs`): the same order as a 4-ary heap (`heap4.rs`, what
//! they were), but a pair costs a few sequential accesses instead of a pop down
//! eight mostly cold levels when a set holds tens of thousands (100,000 flows).
//! A test runs this scheduler and the same algorithm over heaps side by side and
//! requires the same packets in the same order. Virtual times are u64 fixed point
//! (40 fraction bits) that
//! wrap, compared as signed differences: every live S and F lies within two packet
//! costs of V (a packet's cost is at most 2^20 bytes << 40 = 2^60), far inside the
//! 2^62 that the sets' wrapping comparisons need; a queue neither backlogged nor idle has
//! F <= V by construction, so its stale F is never compared (it restarts at V).
//! A queue that empties while ahead of V (F > V) keeps its weight in the sum until V
//! reaches F (dummynet's idle heap), so V does not run ahead of the fluid system.
//!
//! Fields: `start` = S, `finish` = F, `flags` (BACKLOGGED, IDLE).

use super::calendar::Calendar;
use super::heap4::{after, Heap4};
use super::Scheduler;
use crate::queue::{QueueId, Queues, SlotId};

/// An ordered set of (virtual time, queue) pairs, smallest first, ties by queue.
pub(crate) trait Order: Default + std::fmt::Debug + Send {
    fn push(&mut self, key: u64, q: QueueId);
    fn peek(&mut self) -> Option<(u64, QueueId)>;
    fn pop(&mut self) -> Option<(u64, QueueId)>;
    fn is_empty(&self) -> bool;
    fn clear(&mut self);
    /// Queues likely smallest after the next pop (hinted for the next call).
    fn runners_up(&self, f: impl FnMut(QueueId));
    /// The queue `k` pops away, where the order knows it without work (a
    /// calendar's sorted run), to hint its lines as DRR hints its list.
    fn ahead(&self, _k: usize) -> Option<QueueId> {
        None
    }
}

impl Order for Calendar {
    #[inline(always)]
    fn push(&mut self, key: u64, q: QueueId) {
        Calendar::push(self, key, q);
    }
    #[inline(always)]
    fn peek(&mut self) -> Option<(u64, QueueId)> {
        Calendar::peek(self)
    }
    #[inline(always)]
    fn pop(&mut self) -> Option<(u64, QueueId)> {
        Calendar::pop(self)
    }
    #[inline(always)]
    fn is_empty(&self) -> bool {
        Calendar::is_empty(self)
    }
    fn clear(&mut self) {
        Calendar::clear(self);
    }
    #[inline(always)]
    fn runners_up(&self, f: impl FnMut(QueueId)) {
        Calendar::runners_up(self, f);
    }
    #[inline(always)]
    fn ahead(&self, k: usize) -> Option<QueueId> {
        Calendar::ahead(self, k)
    }
}

impl Order for Heap4 {
    #[inline]
    fn push(&mut self, key: u64, q: QueueId) {
        Heap4::push(self, key, q);
    }
    #[inline]
    fn peek(&mut self) -> Option<(u64, QueueId)> {
        Heap4::peek(self)
    }
    #[inline]
    fn pop(&mut self) -> Option<(u64, QueueId)> {
        Heap4::pop(self)
    }
    #[inline]
    fn is_empty(&self) -> bool {
        Heap4::is_empty(self)
    }
    fn clear(&mut self) {
        Heap4::clear(self);
    }
    #[inline]
    fn runners_up(&self, f: impl FnMut(QueueId)) {
        Heap4::runners_up(self).for_each(f);
    }
}

const FRAC: u32 = 40;
const BACKLOGGED: u32 = 1;
const IDLE: u32 = 2;

#[derive(Debug, Default)]
pub struct Wf2q(Core<Calendar>);

/// The algorithm over any `Order` (the tests run it over heaps too).
#[derive(Debug, Default)]
pub(crate) struct Core<O> {
    v: u64,
    wsum: u64,
    eligible: O,
    waiting: O,
    idle: O,
}

/// How far down a sorted run the release loops (waiting -> eligible, idle ->
/// gone) hint queues: V passes whole groups of tied times at once, and a few
/// nanoseconds per pair would consume a shorter look-ahead before its lines came.
const RELEASE_AHEAD: usize = 32;

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
}

impl Scheduler for Wf2q {
    fn reset(&mut self) {
        self.0.reset();
    }

    #[inline]
    fn enqueue(&mut self, qs: &mut Queues, q: QueueId, now: u64) {
        self.0.enqueue(qs, q, now);
    }

    #[inline]
    fn dequeue(&mut self, qs: &mut Queues, now: u64) -> Option<SlotId> {
        self.0.dequeue(qs, now)
    }

    fn forget(&mut self, qs: &Queues, q: QueueId) {
        self.0.forget(qs, q);
    }
}

impl<O: Order> Core<O> {
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
            // The queues to leave the idle set next are read in this loop or
            // later calls: one hint per pop, so none is skipped when V passes
            // many at once.
            match self.idle.ahead(RELEASE_AHEAD) {
                Some(a) => qs.prefetch(a),
                None => {
                    if let Some((_, next)) = self.idle.peek() {
                        qs.prefetch(next);
                    }
                }
            }
            let fl = qs.fields(q);
            if fl.flags & IDLE != 0 && fl.finish == f {
                qs.fields_mut(q).flags &= !IDLE;
                self.wsum -= u64::from(qs.weight(q));
            }
        }
    }
}

impl<O: Order> Scheduler for Core<O> {
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
        let finish = fl.finish;
        let s = if fl.flags & IDLE != 0 && after(finish, self.v) {
            finish
        } else {
            self.v
        };
        let f = s.wrapping_add(cost(len, w));
        let m = qs.fields_mut(q);
        m.flags = BACKLOGGED;
        m.start = s;
        m.finish = f;
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
            self.eligible.push(qs.fields(q).finish, q);
            // Its F is read when it leaves: hinted some pops ahead where known
            // (far ahead: ties make V pass many at once, each a short step).
            match self.waiting.ahead(RELEASE_AHEAD) {
                Some(a) => qs.prefetch(a),
                None => {
                    if let Some((_, next)) = self.waiting.peek() {
                        qs.prefetch(next);
                    }
                }
            }
        }
        let (f, q) = self.eligible.pop()?;
        // With many queues every line of the next ones served is cold. Where the
        // order is a sorted run, the queues `AHEAD` pops down and the head
        // packets of those half as far are hinted, as DRR does. Otherwise the
        // new smallest finish time is most likely served next: its lines were
        // hinted a call ago (as a runner-up), so its head packet can be hinted
        // now; the runners-up (the root's children) are hinted for the call after.
        // The next one's head packets are hinted either way: from a run its
        // lines were hinted calls ago, from the heap it was pushed (its lines
        // read) lately.
        if let Some((_, next)) = self.eligible.peek() {
            qs.prefetch_head(next);
        }
        match self.eligible.ahead(super::AHEAD) {
            Some(a) => {
                qs.prefetch(a);
                if let Some(h) = self.eligible.ahead(super::AHEAD / 2) {
                    qs.prefetch_head(h);
                }
            }
            None => self.eligible.runners_up(|r| qs.prefetch(r)),
        }
        let slot = qs.pop(q)?;
        let len = qs.slot_len(slot);
        self.v = self.v.wrapping_add(cost(len, self.wsum));
        let w = u64::from(qs.weight(q));
        if let Some(next) = qs.head_len(q) {
            let s = f;
            let nf = s.wrapping_add(cost(next, w));
            let m = qs.fields_mut(q);
            m.start = s;
            m.finish = nf;
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
    use super::super::testkit::{assert_ratio, backlogged_lags, backlogged_shares, Bench};
    use super::*;
    use crate::rng::Rng;

    /// The calendar queues against the heaps they replaced: the same algorithm over
    /// both, fed the same arrivals, must send the same packets in the same order.
    /// Thousands of queues (so the calendars leave their small-heap mode and
    /// rebuild as the load changes), weights 1..=9, sizes 40..9000, phases where
    /// queues empty and go idle ahead of V and phases where all are backlogged,
    /// and V started just below 2^64 so the virtual times wrap.
    #[test]
    fn same_service_order_as_over_heaps() {
        for (seed, flows, v0) in [(1u64, 3000usize, 0u64), (2, 20_000, u64::MAX - (1 << 50))] {
            let w: Vec<u32> = (0..flows).map(|i| 1 + (i as u32 * 7) % 9).collect();
            let mut cal = Wf2q::new();
            let mut heap = Core::<Heap4>::default();
            cal.0.v = v0;
            heap.v = v0;
            let mut bc = Bench::new(&w);
            let mut bh = Bench::new(&w);
            let mut rng = Rng::new(seed);
            let mut held = 0usize;
            for step in 0..400_000usize {
                // Arrival-heavy and departure-heavy phases of 50,000 steps.
                let arrive = if (step / 50_000) % 2 == 0 { 60 } else { 40 };
                if held < 150_000 && (held == 0 || rng.next_u64() % 100 < arrive) {
                    let q = (rng.next_u64() % flows as u64) as QueueId;
                    let len = [40, 64, 576, 1500, 9000][(rng.next_u64() % 5) as usize];
                    bc.add(&mut cal, q, len, 0);
                    bh.add(&mut heap, q, len, 0);
                    held += 1;
                } else {
                    let a = bc.serve(&mut cal, 0);
                    let b = bh.serve(&mut heap, 0);
                    assert_eq!(a, b, "seed {seed} step {step}");
                    assert!(a.is_some(), "work conserving");
                    held -= 1;
                }
                if step == 100_000 {
                    let c = &cal.0;
                    assert!(
                        c.eligible.ring_on() && c.waiting.ring_on() && c.idle.ring_on(),
                        "seed {seed}: every calendar past its small-heap mode"
                    );
                }
            }
            while held > 0 {
                assert_eq!(bc.serve(&mut cal, 0), bh.serve(&mut heap, 0));
                held -= 1;
            }
            assert_eq!(cal.0.v, heap.v);
            assert!(bc.serve(&mut cal, 0).is_none());
        }
    }

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
