//! Drop reasons and per-pipe counters.

use std::fmt;

/// Why the shaper dropped a packet. A small `Copy` enum, counted per pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// The flow queue was at its `queue` limit (tail drop).
    QueueFull,
    /// RED / GRED early drop.
    Red,
    /// Random loss (`plr`).
    Loss,
    /// CoDel dropped the head of a flow queue whose delay stayed above target.
    CoDel,
    /// FQ-CoDel's total `limit` was reached: dropped from the fattest flow.
    Overlimit,
    /// The set's preallocated packet slots are all in use.
    PoolExhausted,
    /// Too many dynamic queues or pipes (the `max_flows` bound) for this mask.
    FlowLimit,
    /// The target pipe or queue does not exist in this set.
    NoSuchPipe,
    /// The cross-core hand-off ring to the pipe's owner worker was full.
    HandoffFull,
    /// Longer than the scheduler supports (QFQ's `lmax`).
    Oversize,
}

impl DropReason {
    pub const COUNT: usize = 10;
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::QueueFull,
        DropReason::Red,
        DropReason::Loss,
        DropReason::CoDel,
        DropReason::Overlimit,
        DropReason::PoolExhausted,
        DropReason::FlowLimit,
        DropReason::NoSuchPipe,
        DropReason::HandoffFull,
        DropReason::Oversize,
    ];

    /// Stable snake_case name, for metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Red => "red",
            DropReason::Loss => "loss",
            DropReason::CoDel => "codel",
            DropReason::Overlimit => "overlimit",
            DropReason::PoolExhausted => "pool_exhausted",
            DropReason::FlowLimit => "flow_limit",
            DropReason::NoSuchPipe => "no_such_pipe",
            DropReason::HandoffFull => "handoff_full",
            DropReason::Oversize => "oversize",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One pipe's counters, plain integers owned by the worker that owns the pipe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipeCounters {
    /// Packets/bytes offered to the pipe (including those dropped on entry).
    pub in_pkts: u64,
    pub in_bytes: u64,
    /// Packets/bytes released (left the delay line).
    pub out_pkts: u64,
    pub out_bytes: u64,
    /// Of the packets out, those marked CE instead of dropped (FQ-CoDel `ecn`).
    pub marked_pkts: u64,
    pub dropped_pkts: [u64; DropReason::COUNT],
    pub dropped_bytes: [u64; DropReason::COUNT],
    /// Packets/bytes held now: waiting in queues plus in the delay line.
    pub backlog_pkts: u64,
    pub backlog_bytes: u64,
    /// Dynamic pipe instances alive now (1 for a pipe without mask).
    pub instances: u64,
    /// Flow queues alive now.
    pub queues: u64,
}

impl PipeCounters {
    pub fn dropped(&self, why: DropReason) -> u64 {
        self.dropped_pkts[why.index()]
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped_pkts.iter().sum()
    }

    #[inline]
    pub(crate) fn drop(&mut self, why: DropReason, len: u32) {
        self.dropped_pkts[why.index()] += 1;
        self.dropped_bytes[why.index()] += u64::from(len);
    }
}
