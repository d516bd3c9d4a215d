//! Packet slots and flow queues: what the schedulers see.
//!
//! Packets are not moved around: each one sits in a preallocated slot of the set's
//! pool (the handle itself lives in a parallel typed array the schedulers never
//! see), and queues, the delay lines and the dropped list are intrusive singly linked
//! lists of slot indices. A flow queue is a FIFO of slots plus a few words of
//! scheduler state ([`SchedFields`], dummynet's per-queue `q_datalen` idea).

use crate::counters::DropReason;
use crate::flow::FlowKey;

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
}

impl Default for SlotMeta {
    fn default() -> Self {
        SlotMeta {
            next: NIL,
            len: 0,
            queue: NIL,
            time: 0,
            reason: DropReason::QueueFull,
        }
    }
}

/// Per-queue state a scheduler may use as it likes (each documents its use).
#[derive(Debug, Clone, Copy, Default)]
pub struct SchedFields {
    pub start: u128,
    pub finish: u128,
    pub a: u64,
    pub b: u64,
    pub c: u64,
    pub deficit: i64,
    pub next: u32,
    pub flags: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct FlowQueue {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) pkts: u32,
    pub(crate) bytes: u64,
    pub(crate) weight: u32,
    pub(crate) prio: u8,
    /// Dynamic (masked) queues are freed when they empty.
    pub(crate) dynamic: bool,
    pub(crate) in_use: bool,
    pub(crate) flowset: u32,
    pub(crate) instance: u32,
    /// Chain in the instance's hash table / free list.
    pub(crate) hash_next: u32,
    pub(crate) key: FlowKey,
    pub(crate) red_avg: f64,
    pub(crate) red_count: i64,
    pub(crate) idle_since: u64,
    pub(crate) sched: SchedFields,
}

impl Default for FlowQueue {
    fn default() -> Self {
        FlowQueue {
            head: NIL,
            tail: NIL,
            pkts: 0,
            bytes: 0,
            weight: 1,
            prio: 0,
            dynamic: false,
            in_use: false,
            flowset: 0,
            instance: 0,
            hash_next: NIL,
            key: FlowKey::default(),
            red_avg: 0.0,
            red_count: -1,
            idle_since: 0,
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
        let h = self.q[q as usize].head;
        (h != NIL).then(|| self.slots[h as usize].len)
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

    #[inline]
    pub fn fields(&self, q: QueueId) -> &SchedFields {
        &self.q[q as usize].sched
    }

    #[inline]
    pub fn fields_mut(&mut self, q: QueueId) -> &mut SchedFields {
        &mut self.q[q as usize].sched
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
        fq.head = meta.next;
        if fq.head == NIL {
            fq.tail = NIL;
        }
        meta.next = NIL;
        fq.pkts -= 1;
        fq.bytes -= u64::from(meta.len);
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
        } else {
            self.slots[tail as usize].next = s;
        }
        fq.pkts += 1;
        fq.bytes += u64::from(len);
    }
}
