//! Per-pipe counters the control plane reads (Prometheus, API): the owner worker
//! copies its set's plain counters here on its service tick (every 10 ms) with
//! relaxed stores; nothing on the packet path touches them.
use shaper::{DropReason, PipeCounters};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct PipeStats {
    pub id: u32,
    pub in_pkts: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_pkts: AtomicU64,
    pub out_bytes: AtomicU64,
    pub marked_pkts: AtomicU64,
    pub dropped_pkts: [AtomicU64; DropReason::COUNT],
    pub dropped_bytes: [AtomicU64; DropReason::COUNT],
    pub backlog_pkts: AtomicU64,
    pub backlog_bytes: AtomicU64,
    /// Dynamic pipe instances and flow queues alive.
    pub instances: AtomicU64,
    pub queues: AtomicU64,
}

impl PipeStats {
    pub fn store(&self, c: &PipeCounters) {
        let r = Ordering::Relaxed;
        self.in_pkts.store(c.in_pkts, r);
        self.in_bytes.store(c.in_bytes, r);
        self.out_pkts.store(c.out_pkts, r);
        self.out_bytes.store(c.out_bytes, r);
        self.marked_pkts.store(c.marked_pkts, r);
        for i in 0..DropReason::COUNT {
            self.dropped_pkts[i].store(c.dropped_pkts[i], r);
            self.dropped_bytes[i].store(c.dropped_bytes[i], r);
        }
        self.backlog_pkts.store(c.backlog_pkts, r);
        self.backlog_bytes.store(c.backlog_bytes, r);
        self.instances.store(c.instances, r);
        self.queues.store(c.queues, r);
    }

    pub fn load(&self) -> PipeCounters {
        let r = Ordering::Relaxed;
        let mut c = PipeCounters {
            in_pkts: self.in_pkts.load(r),
            in_bytes: self.in_bytes.load(r),
            out_pkts: self.out_pkts.load(r),
            out_bytes: self.out_bytes.load(r),
            marked_pkts: self.marked_pkts.load(r),
            backlog_pkts: self.backlog_pkts.load(r),
            backlog_bytes: self.backlog_bytes.load(r),
            instances: self.instances.load(r),
            queues: self.queues.load(r),
            ..PipeCounters::default()
        };
        for i in 0..DropReason::COUNT {
            c.dropped_pkts[i] = self.dropped_pkts[i].load(r);
            c.dropped_bytes[i] = self.dropped_bytes[i].load(r);
        }
        c
    }
}

/// One vnet's pipes, in id order.
#[derive(Debug, Default)]
pub struct ShaperStats {
    pub pipes: Vec<PipeStats>,
}

impl ShaperStats {
    pub fn new(pipe_ids: impl Iterator<Item = u32>) -> Self {
        let mut pipes: Vec<PipeStats> = pipe_ids
            .map(|id| PipeStats {
                id,
                ..PipeStats::default()
            })
            .collect();
        pipes.sort_by_key(|p| p.id);
        ShaperStats { pipes }
    }

    pub fn pipe(&self, id: u32) -> Option<&PipeStats> {
        self.pipes
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.pipes[i])
    }
}
