//! Packet slots and flow queues: what the schedulers see.
//!
//! Packets are not moved around: each one sits in a preallocated slot of the set's
//! pool (the handle itself lives in a parallel typed array the schedulers never
//! see), and queues, the delay lines and the dropped list are intrusive singly linked
//! lists of slot indices. A flow queue is a FIFO of slots plus a few words of
//! scheduler state ([`SchedFields`], dummynet's per-queue `q_datalen` idea).

use crate::counters::DropReason;
use crate::flow::FlowKey;
use crate::prefetch::{prefetch, prefetch_at};

pub(crate) const NIL: u32 = u32::MAX;

/// Index of a packet slot in the set's pool.
pub type SlotId = u32;
/// Index of a flow queue in the set's queue table.
pub type QueueId = u32;

#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotMeta {
    pub(crate) next: u32,
    pub(crate) len: u32,
    pub(crate) queue: QueueId,
    /// Arrival time while queued; release time in the delay line.
    pub(crate) time: u64,
    pub(crate) reason: DropReason,
    /// `ECN_CAPABLE` | `ECN_MARKED`.
    pub(crate) ecn: u8,
}

/// The packet carries ECT(0), ECT(1) or CE: a scheduler may mark it instead of
/// dropping it.
pub(crate) const ECN_CAPABLE: u8 = 1;
/// A scheduler marked it: CE is set on its header when it leaves the pipe.
pub(crate) const ECN_MARKED: u8 = 2;

impl Default for SlotMeta {
    fn default() -> Self {
        SlotMeta {
            next: NIL,
            len: 0,
            queue: NIL,
            time: 0,
            reason: DropReason::QueueFull,
            ecn: 0,
        }
    }
}

/// Per-queue state a scheduler may use as it likes (each documents its use). One
/// cache line of its own (aligned, so it never straddles two): the wide virtual
/// times first, so nothing inside is padded.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
pub struct SchedFields {
    pub start: u128,
    pub finish: u128,
    pub a: u64,
    pub b: u64,
    pub deficit: i64,
    pub next: u32,
    pub flags: u32,
}

/// A flow queue, laid out by use: the first cache line holds what a lookup and a
/// push or pop touch (key, list, count), the second the rest of the core's
/// fields, the third the scheduler's. With 100,000 queues the table is far larger than the caches, so
/// every line a packet needs is a miss unless it was prefetched (`set::prefetch`).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct FlowQueue {
    pub(crate) key: FlowKey,
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) pkts: u32,
    /// Length of the head packet (0 when empty), beside `head` in the first line.
    pub(crate) head_len: u32,
    pub(crate) bytes: u64,
    pub(crate) flowset: u32,
    pub(crate) instance: u32,
    pub(crate) weight: u32,
    pub(crate) prio: u8,
    /// Dynamic (masked) queues are freed when they empty.
    pub(crate) dynamic: bool,
    pub(crate) in_use: bool,
    /// An empty dynamic queue kept for its flow's return (`set::park`), on the
    /// set's idle list through `idle_prev` / `idle_next`.
    pub(crate) parked: bool,
    pub(crate) idle_prev: u32,
    pub(crate) idle_next: u32,
    pub(crate) red_avg: f64,
    pub(crate) red_count: i64,
    pub(crate) idle_since: u64,
    /// The packet behind the head (NIL when fewer than two), in the second line's
    /// last bytes, which push and pop touch anyway. It lets a look-ahead hint the
    /// head's slot and the next one's at once, from the queue's own lines: a
    /// scheduler that serves a queue several packets in a row (DRR's quantum, QFQ
    /// and WF2Q+ with small packets) would otherwise pop a slot nobody hinted,
    /// written a round of all flows ago (the profile's DRR stall at 100,000 flows).
    pub(crate) second: u32,
    pub(crate) sched: SchedFields,
}

impl Default for FlowQueue {
    fn default() -> Self {
        FlowQueue {
            head: NIL,
            tail: NIL,
            pkts: 0,
            head_len: 0,
            bytes: 0,
            weight: 1,
            prio: 0,
            dynamic: false,
            in_use: false,
            parked: false,
            idle_prev: NIL,
            idle_next: NIL,
            flowset: 0,
            instance: 0,
            key: FlowKey::default(),
            red_avg: 0.0,
            red_count: -1,
            idle_since: 0,
            second: NIL,
            sched: SchedFields::default(),
        }
    }
}

/// Flow queues and slot metadata: the scheduler's view of the world. A scheduler
/// pops packets (and may drop them, CoDel) only through these methods, which keep
/// the queue's counters right.
#[derive(Debug)]
pub struct Queues {
    pub(crate) slots: Vec<SlotMeta>,
    pub(crate) q: Vec<FlowQueue>,
    /// Packets dropped inside a scheduler call, handed out at the next poll.
    pub(crate) dropped_head: u32,
    pub(crate) dropped_tail: u32,
    /// Dropped inside the current scheduler call (folded into the pipe counters).
    pub(crate) call_drops: [u32; DropReason::COUNT],
    pub(crate) call_drops_bytes: [u64; DropReason::COUNT],
    pub(crate) call_drop_bytes: u64,
    pub(crate) call_drop_pkts: u32,
}

impl Queues {
    pub(crate) fn new(pool_slots: u32) -> Self {
        Queues {
            slots: vec![SlotMeta::default(); pool_slots as usize],
            q: Vec::new(),
            dropped_head: NIL,
            dropped_tail: NIL,
            call_drops: [0; DropReason::COUNT],
            call_drops_bytes: [0; DropReason::COUNT],
            call_drop_bytes: 0,
            call_drop_pkts: 0,
        }
    }

    /// How many queues the table holds (the largest queue id + 1).
    #[inline]
    pub fn queue_count(&self) -> usize {
        self.q.len()
    }

    /// Packets waiting in `q`.
    #[inline]
    pub fn pkts(&self, q: QueueId) -> u32 {
        self.q[q as usize].pkts
    }

    /// Bytes waiting in `q`.
    #[inline]
    pub fn bytes(&self, q: QueueId) -> u64 {
        self.q[q as usize].bytes
    }

    #[inline]
    pub fn weight(&self, q: QueueId) -> u32 {
        self.q[q as usize].weight
    }

    #[inline]
    pub fn prio(&self, q: QueueId) -> u8 {
        self.q[q as usize].prio
    }

    /// Length of the head packet of `q`, if any.
    #[inline]
    pub fn head_len(&self, q: QueueId) -> Option<u32> {
        let fq = &self.q[q as usize];
        (fq.head != NIL).then_some(fq.head_len)
    }

    /// Arrival time of the head packet of `q`, if any.
    #[inline]
    pub fn head_arrival(&self, q: QueueId) -> Option<u64> {
        let h = self.q[q as usize].head;
        (h != NIL).then(|| self.slots[h as usize].time)
    }

    #[inline]
    pub fn slot_len(&self, s: SlotId) -> u32 {
        self.slots[s as usize].len
    }

    #[inline]
    pub fn slot_arrival(&self, s: SlotId) -> u64 {
        self.slots[s as usize].time
    }

    /// True if packet `s` is ECN-capable (it was enqueued with an ECT or CE code
    /// point).
    #[inline]
    pub fn ecn_capable(&self, s: SlotId) -> bool {
        self.slots[s as usize].ecn & ECN_CAPABLE != 0
    }

    /// Marks an ECN-capable packet Congestion Experienced instead of dropping it
    /// (RFC 3168): the set hands it out as `Fate::Marked`, the dataplane sets CE.
    #[inline]
    pub fn mark(&mut self, s: SlotId) {
        debug_assert!(self.ecn_capable(s), "slot {s} is not ECN-capable");
        self.slots[s as usize].ecn |= ECN_MARKED;
    }

    #[inline]
    pub fn fields(&self, q: QueueId) -> &SchedFields {
        &self.q[q as usize].sched
    }

    #[inline]
    pub fn fields_mut(&mut self, q: QueueId) -> &mut SchedFields {
        &mut self.q[q as usize].sched
    }

    /// Hints that queue `q` will be served soon: its three cache lines (the list,
    /// the counts, and the scheduler's fields, which every scheduler but FIFO
    /// reads and writes when it serves a queue: DRR's deficit was a miss on
    /// every packet at 100,000 flows while only the first two were hinted).
    /// Schedulers call it for the queues a few places ahead in their order.
    #[inline]
    pub fn prefetch(&self, q: QueueId) {
        if let Some(fq) = self.q.get(q as usize) {
            prefetch(fq);
            prefetch(&fq.bytes);
            prefetch(&fq.sched);
        }
    }

    /// `prefetch` without the scheduler's line (FIFO never reads it).
    #[inline]
    pub fn prefetch_lists(&self, q: QueueId) {
        if let Some(fq) = self.q.get(q as usize) {
            prefetch(fq);
            prefetch(&fq.bytes);
        }
    }

    /// Hints the slots of the head packet of `q` and of the one behind it (reads
    /// `q`'s first two lines: call `prefetch(q)` some time before). Popping the
    /// head reads the next packet's slot too (`pop`), and a scheduler may serve
    /// that one right after.
    #[inline]
    pub fn prefetch_head(&self, q: QueueId) {
        if let Some(fq) = self.q.get(q as usize) {
            prefetch_at(&self.slots, fq.head as usize);
            prefetch_at(&self.slots, fq.second as usize);
        }
    }

    /// Hints the slot of the third packet of `q` (reads the second's slot: call
    /// `prefetch_head(q)` some time before). A scheduler serving a queue several
    /// packets a visit (DRR's quantum, FQ-CoDel) pops it in that visit; `pop` hints
    /// the packets after it, a pop ahead each.
    #[inline]
    pub fn prefetch_third(&self, q: QueueId) {
        if let Some(fq) = self.q.get(q as usize) {
            if let Some(second) = self.slots.get(fq.second as usize) {
                prefetch_at(&self.slots, second.next as usize);
            }
        }
    }

    /// Removes and returns the head packet of `q`.
    #[inline]
    pub fn pop(&mut self, q: QueueId) -> Option<SlotId> {
        let fq = &mut self.q[q as usize];
        let h = fq.head;
        if h == NIL {
            return None;
        }
        let meta = &mut self.slots[h as usize];
        let next = meta.next;
        meta.next = NIL;
        fq.pkts -= 1;
        fq.bytes -= u64::from(meta.len);
        debug_assert_eq!(next, fq.second, "queue {q}: second out of step");
        fq.head = next;
        if next == NIL {
            fq.tail = NIL;
            fq.head_len = 0;
        } else {
            // The new head's slot was hinted with the old one (`prefetch_head`):
            // its length stays in the queue's first line, so the schedulers that
            // look at it before choosing (DRR, WF2Q+, QFQ) read no packet.
            let n = &self.slots[next as usize];
            fq.second = n.next;
            fq.head_len = n.len;
            // And the one after it, which the next pop of this queue reads: a
            // scheduler that serves a queue many packets in a row (FQ-CoDel's
            // quantum over a few hashed queues) walks the queue's list, one
            // dependent miss per packet unless each is asked for a pop ahead.
            prefetch_at(&self.slots, n.next as usize);
        }
        Some(h)
    }

    /// Drops a packet already popped from its queue; the set returns its handle to
    /// the caller at the next poll and counts it against the pipe.
    pub fn discard(&mut self, s: SlotId, why: DropReason) {
        let meta = &mut self.slots[s as usize];
        meta.reason = why;
        meta.next = NIL;
        self.call_drops[why.index()] += 1;
        self.call_drops_bytes[why.index()] += u64::from(meta.len);
        self.call_drop_bytes += u64::from(meta.len);
        self.call_drop_pkts += 1;
        if self.dropped_tail == NIL {
            self.dropped_head = s;
        } else {
            self.slots[self.dropped_tail as usize].next = s;
        }
        self.dropped_tail = s;
    }

    /// Pops and drops the head of `q`.
    pub fn drop_head(&mut self, q: QueueId, why: DropReason) -> bool {
        match self.pop(q) {
            Some(s) => {
                self.discard(s, why);
                true
            }
            None => false,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, q: QueueId, s: SlotId) {
        let len = self.slots[s as usize].len;
        self.slots[s as usize].next = NIL;
        let fq = &mut self.q[q as usize];
        let tail = fq.tail;
        fq.tail = s;
        if tail == NIL {
            fq.head = s;
            fq.head_len = len;
            fq.second = NIL;
        } else {
            if tail == fq.head {
                fq.second = s;
            }
            self.slots[tail as usize].next = s;
        }
        fq.pkts += 1;
        fq.bytes += u64::from(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_queue_is_three_aligned_cache_lines() {
        assert_eq!(std::mem::size_of::<SchedFields>(), 64);
        assert_eq!(std::mem::align_of::<FlowQueue>(), 64);
        assert_eq!(std::mem::size_of::<FlowQueue>(), 192);
        assert_eq!(std::mem::offset_of!(FlowQueue, bytes), 64);
        assert_eq!(std::mem::offset_of!(FlowQueue, sched), 128);
        assert!(std::mem::offset_of!(FlowQueue, second) < 128);
    }

    /// Random pushes and pops over a few queues against a model: every queue
    /// keeps FIFO order, its `second` is always the packet behind its head, and
    /// `head_len` its head's length (the fields `prefetch_head` and the
    /// schedulers read instead of the slots).
    #[test]
    fn push_pop_keep_head_second_and_order() {
        use crate::rng::Rng;
        use std::collections::VecDeque;
        let mut qs = Queues::new(256);
        for _ in 0..4 {
            qs.q.push(FlowQueue::default());
        }
        let mut model: Vec<VecDeque<u32>> = vec![VecDeque::new(); 4];
        let mut free: Vec<u32> = (0..256).collect();
        let mut rng = Rng::new(5);
        for step in 0..100_000u32 {
            let q = (rng.next_u64() % 4) as u32;
            if rng.next_u64().is_multiple_of(2) && !free.is_empty() {
                let s = free.pop().unwrap();
                qs.slots[s as usize].len = 40 + step % 1460;
                qs.push(q, s);
                model[q as usize].push_back(s);
            } else {
                let got = qs.pop(q);
                assert_eq!(got, model[q as usize].pop_front(), "step {step}");
                if let Some(s) = got {
                    free.push(s);
                }
            }
            let m = &model[q as usize];
            let fq = &qs.q[q as usize];
            assert_eq!(fq.pkts as usize, m.len());
            assert_eq!(fq.head, m.front().copied().unwrap_or(NIL));
            assert_eq!(fq.second, m.get(1).copied().unwrap_or(NIL), "step {step}");
            assert_eq!(fq.tail, m.back().copied().unwrap_or(NIL));
            assert_eq!(qs.head_len(q), m.front().map(|&s| qs.slots[s as usize].len));
        }
    }
}
