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

/// A packet's slot, 32 bytes aligned to 32 so that it never straddles two cache
/// lines: schedulers that serve flows in another order than their packets
/// arrived (DRR, QFQ, WF2Q+ at 100,000 flows) find every slot they pop cold, and
/// a hint fetches one line (24-byte slots packed, a quarter of them began 48 or 56
/// bytes into a line and needed the next line too, a miss no hint covered).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
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

/// Per-queue state a scheduler may use as it likes (each documents its use), in
/// the queue's first cache line beside the packet list: serving a queue reads and
/// writes both, so a packet's dequeue costs one line of the queue, not two or
/// three (at 100,000 flows every queue line a packet needs is a miss unless it
/// was prefetched, and the prefetches compete for the same memory bandwidth).
/// Virtual times are 64-bit wrapping values (WF2Q+, QFQ compare them as signed
/// differences). A scheduler needing more per queue keeps it in its own table
/// (FQ-CoDel's CoDel state).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct SchedFields {
    pub start: u64,
    pub finish: u64,
    pub deficit: i64,
    /// A small word (QFQ: the inverse weight).
    pub a: u32,
    pub flags: u32,
}

/// `FlowQueue::idle_prev` of a queue that is not parked (queue ids never get
/// near it: the table is bounded by `max_flows`).
pub(crate) const UNPARKED: u32 = u32::MAX - 1;

/// A flow queue, laid out by use (three aligned cache lines):
/// 1. what serving it touches: the packet list, the head's length, the weight
///    and the scheduler's fields — a dequeue that leaves packets behind reads
///    nothing else;
/// 2. what an arrival's lookup and parking touch: the key, owner and idle-list
///    links (whether it is parked is `idle_prev`, so an arrival needs lines 1
///    and 2 only);
/// 3. the rest: RED state, the idle time (written when it empties), flags
///    read when it empties or is created.
///
/// With 100,000 queues the table is far larger than the caches, so every line a
/// packet needs is a miss unless it was prefetched (`set::prefetch`); a
/// scheduler serving in another order than arrivals (DRR, QFQ, WF2Q+) finds the
/// queue cold again at dequeue, so what a dequeue reads is kept to one line.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct FlowQueue {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) pkts: u32,
    /// Length of the head packet (0 when empty), so schedulers that look at it
    /// before choosing (DRR, WF2Q+, QFQ) read no packet.
    pub(crate) head_len: u32,
    /// The packet behind the head (NIL when fewer than two). It lets a
    /// look-ahead hint the head's slot and the next one's at once, from the
    /// queue's own line: a scheduler that serves a queue several packets in a
    /// row (DRR's quantum, QFQ and WF2Q+ with small packets) would otherwise pop
    /// a slot nobody hinted, written a round of all flows ago.
    pub(crate) second: u32,
    pub(crate) weight: u32,
    pub(crate) bytes: u64,
    pub(crate) sched: SchedFields,
    // Line 2.
    pub(crate) key: FlowKey,
    pub(crate) flowset: u32,
    pub(crate) instance: u32,
    /// An empty dynamic queue kept for its flow's return (`set::park`) is on the
    /// set's idle list through `idle_prev` / `idle_next`; `UNPARKED` otherwise.
    pub(crate) idle_prev: u32,
    pub(crate) idle_next: u32,
    // Line 3.
    pub(crate) idle_since: u64,
    pub(crate) red_avg: f64,
    pub(crate) red_count: i64,
    pub(crate) prio: u8,
    /// Dynamic (masked) queues are freed when they empty.
    pub(crate) dynamic: bool,
    pub(crate) in_use: bool,
}

impl FlowQueue {
    /// On the set's idle list (`set::park`).
    #[inline]
    pub(crate) fn parked(&self) -> bool {
        self.idle_prev != UNPARKED
    }
}

impl Default for FlowQueue {
    fn default() -> Self {
        FlowQueue {
            head: NIL,
            tail: NIL,
            pkts: 0,
            head_len: 0,
            second: NIL,
            weight: 1,
            bytes: 0,
            sched: SchedFields::default(),
            key: FlowKey::default(),
            flowset: 0,
            instance: 0,
            idle_prev: UNPARKED,
            idle_next: NIL,
            idle_since: 0,
            red_avg: 0.0,
            red_count: -1,
            prio: 0,
            dynamic: false,
            in_use: false,
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

    /// Hints that queue `q` will be served soon: its first cache line, all that
    /// serving it reads (the list, the head's length, the weight and the
    /// scheduler's fields). Schedulers call it for the queues a few places ahead
    /// in their order.
    #[inline]
    pub fn prefetch(&self, q: QueueId) {
        if let Some(fq) = self.q.get(q as usize) {
            prefetch(fq);
        }
    }

    /// `prefetch` and the two other lines, which parking the queue reads and
    /// writes once the visit empties it (`set::park`): for round-robin
    /// schedulers, whose short queues drain every visit (DRR with 100,000 flows
    /// of one or two packets). Issued with the first line, they arrive as early
    /// as it does (hinted only when the head is, `prefetch_head`, DRR was 3-10%
    /// slower, in-process A/B).
    #[inline]
    pub fn prefetch_whole(&self, q: QueueId) {
        if let Some(fq) = self.q.get(q as usize) {
            prefetch(fq);
            prefetch(&fq.key);
            prefetch(&fq.idle_since);
        }
    }

    /// Hints the slots of the head packet of `q` and of the one behind it (reads
    /// `q`'s first line: call `prefetch(q)` some time before). Popping the
    /// head reads the next packet's slot too (`pop`), and a scheduler may serve
    /// that one right after.
    ///
    /// A queue this short may well empty in the visit (DRR and QFQ drain their
    /// small-packet queues every round): the set then parks it, which reads its
    /// second line and writes its third, so those are hinted too.
    #[inline]
    pub fn prefetch_head(&self, q: QueueId) {
        if let Some(fq) = self.q.get(q as usize) {
            prefetch_at(&self.slots, fq.head as usize);
            prefetch_at(&self.slots, fq.second as usize);
            if fq.pkts <= 2 {
                prefetch(&fq.key);
                prefetch(&fq.idle_since);
            }
        }
    }

    /// The slots of the head packet of `q` and the one behind it only (after
    /// `prefetch_whole`, which hinted the rest).
    #[inline]
    pub fn prefetch_slots(&self, q: QueueId) {
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
        }
        Some(h)
    }

    /// `pop`, and hints the slot of the packet that becomes second (what `pop`
    /// hinted itself before 2026-11-22), which the next pop of `q` reads: for a
    /// scheduler that serves a queue many packets in a row (FQ-CoDel's quantum
    /// over a few hashed queues), whose walk down the queue's list is otherwise
    /// one dependent miss per packet. Not in `pop` itself: the others serve a
    /// queue one or two packets a visit, and without the hint DRR, QFQ and
    /// WF2Q+ were 3-7% faster at 100,000 flows (in-process A/B, 2026-11-22;
    /// FQ-CoDel 6-10% slower). Hinting the packet behind that one instead
    /// (reading the new second's slot) cost FQ-CoDel ~3 ns: that slot was often
    /// still on its way.
    #[inline]
    pub fn pop_hinting_next(&mut self, q: QueueId) -> Option<SlotId> {
        let h = self.pop(q)?;
        // The new second's id is in the queue's line (`pop` read it from the
        // new head's slot): no slot is read here, only hinted.
        prefetch_at(&self.slots, self.q[q as usize].second as usize);
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

    /// Every slot lies within one cache line (`SlotMeta`'s docs).
    #[test]
    fn a_slot_never_straddles_two_cache_lines() {
        assert_eq!(std::mem::size_of::<SlotMeta>(), 32);
        let q = Queues::new(1000);
        for s in &q.slots {
            let a = s as *const SlotMeta as usize;
            assert_eq!(a / 64, (a + 31) / 64, "slot at {a:#x}");
        }
    }

    /// What a dequeue reads (list, head length, weight, scheduler fields) sits
    /// in the first line, what an arrival's lookup and parking read in the
    /// second (`Queues::prefetch` hints one line, `ShaperSet::prefetch` two).
    #[test]
    fn a_flow_queue_is_three_aligned_cache_lines_by_use() {
        use std::mem::{offset_of, size_of};
        assert_eq!(size_of::<SchedFields>(), 32);
        assert_eq!(std::mem::align_of::<FlowQueue>(), 64);
        assert_eq!(size_of::<FlowQueue>(), 192);
        let end = |off: usize, size: usize| off + size;
        let line1 = [
            end(offset_of!(FlowQueue, head), 4),
            end(offset_of!(FlowQueue, tail), 4),
            end(offset_of!(FlowQueue, pkts), 4),
            end(offset_of!(FlowQueue, head_len), 4),
            end(offset_of!(FlowQueue, second), 4),
            end(offset_of!(FlowQueue, weight), 4),
            end(offset_of!(FlowQueue, bytes), 8),
            end(offset_of!(FlowQueue, sched), size_of::<SchedFields>()),
        ];
        assert!(line1.iter().all(|&e| e <= 64), "{line1:?}");
        for off in [
            offset_of!(FlowQueue, key),
            offset_of!(FlowQueue, flowset),
            offset_of!(FlowQueue, instance),
            offset_of!(FlowQueue, idle_prev),
            offset_of!(FlowQueue, idle_next),
        ] {
            assert!((64..128).contains(&off), "{off}");
        }
        assert_eq!(offset_of!(FlowQueue, key), 64);
        assert!(end(offset_of!(FlowQueue, idle_next), 4) <= 128);
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
