//! Per-worker counter slots, cache-line padded so two workers never share a line.
use super::drop_reason::{DropReason, PortDropReason};
use super::sent::SentIndex;
use crate::capture::Tap;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Adds `n` to a counter only this thread writes (a plain add on x86: no lock prefix).
#[inline(always)]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// `repr(C)` with what every forwarded frame touches first (the tap, the worker,
/// the five traffic counters): one cache line of the slot, so with many tenants a
/// frame costs one miss on its counters instead of three (the tap used to sit
/// after the drop reasons, 248 bytes in).
#[derive(Default)]
#[repr(C)]
pub struct VnetWorkerCounters {
    /// The vnet's capture point (one, shared by every worker's slot) and this
    /// slot's worker, so that whatever holds the counters can also record.
    pub tap: Arc<Tap>,
    pub worker: usize,
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// Routed through the vnet (not addressed to the router).
    pub forwarded: AtomicU64,
    /// Addressed to the router: ARP, ND, echo.
    pub local: AtomicU64,
    pub icmp_errors_sent: AtomicU64,
    /// ICMP errors not sent because of the rate limit.
    pub icmp_errors_suppressed: AtomicU64,
    pub dropped: [AtomicU64; DropReason::COUNT],
    /// Token-bucket state of this worker's ICMP error limiter for the vnet
    /// (here because it is per vnet and per worker, like the counters).
    pub icmp_tokens: AtomicU64,
    pub icmp_refill_tsc: AtomicU64,
    /// The vnet's entry in the express lane's per-worker arrays (`sent`), held
    /// by worker 0's slot (the others' is none): it is freed with the slots,
    /// when neither the vnet nor a demux slot that names it is left.
    sent: SentIndex,
}

impl VnetWorkerCounters {
    #[inline(always)]
    pub fn drop(&self, r: DropReason) {
        bump(&self.dropped[r as usize], 1);
    }
}

/// A vnet's counters: one padded slot per worker. Lives as long as the vnet
/// (carried over when its tables are republished).
pub struct VnetCounters {
    slots: VnetSlots,
}

/// A vnet's per-worker counter slots. Shared (an `Arc`) so that the packet path
/// can hold them one load from its `Vnet` (`Vnet::counters`), not through the
/// forwarding part and this struct.
pub type VnetSlots = Arc<[CachePadded<VnetWorkerCounters>]>;

/// Sums of a vnet's counters over all workers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VnetTotals {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub forwarded: u64,
    pub local: u64,
    pub icmp_errors_sent: u64,
    pub icmp_errors_suppressed: u64,
    pub dropped: [u64; DropReason::COUNT],
}

impl VnetCounters {
    pub fn new(workers: usize) -> Self {
        let tap = Arc::new(Tap::default());
        VnetCounters {
            slots: (0..workers.max(1))
                .map(|worker| {
                    CachePadded::new(VnetWorkerCounters {
                        tap: tap.clone(),
                        worker,
                        sent: if worker == 0 {
                            SentIndex::new(workers.max(1))
                        } else {
                            SentIndex::default()
                        },
                        ..VnetWorkerCounters::default()
                    })
                })
                .collect(),
        }
    }

    /// The vnet's capture point.
    pub fn tap(&self) -> &Arc<Tap> {
        &self.slots[0].tap
    }

    #[inline(always)]
    pub fn worker(&self, w: usize) -> &VnetWorkerCounters {
        &self.slots[w]
    }

    /// The slots themselves, shared.
    pub fn slots(&self) -> VnetSlots {
        self.slots.clone()
    }

    /// The vnet's index in the express lane's arrays of sent frames (0: none).
    pub fn sent_index(&self) -> u32 {
        sent_index(&self.slots)
    }

    pub fn totals(&self) -> VnetTotals {
        let mut t = VnetTotals::default();
        for s in self.slots.iter() {
            t.rx_packets += s.rx_packets.load(Relaxed);
            t.rx_bytes += s.rx_bytes.load(Relaxed);
            t.tx_packets += s.tx_packets.load(Relaxed);
            t.tx_bytes += s.tx_bytes.load(Relaxed);
            t.forwarded += s.forwarded.load(Relaxed);
            t.local += s.local.load(Relaxed);
            t.icmp_errors_sent += s.icmp_errors_sent.load(Relaxed);
            t.icmp_errors_suppressed += s.icmp_errors_suppressed.load(Relaxed);
            for (acc, d) in t.dropped.iter_mut().zip(s.dropped.iter()) {
                *acc += d.load(Relaxed);
            }
        }
        // What the express lane counted of frames it sent, apart.
        let s = self.slots[0].sent.totals(self.slots.len());
        t.rx_packets += s.packets + s.no_buffer;
        t.forwarded += s.packets + s.no_buffer;
        t.tx_packets += s.packets;
        t.rx_bytes += s.rx_bytes;
        t.tx_bytes += s.tx_bytes;
        t.dropped[DropReason::NoBuffer as usize] += s.no_buffer;
        t
    }
}

/// The express lane's index (`SentIndex`) of the vnet whose slots these are.
pub fn sent_index(slots: &VnetSlots) -> u32 {
    slots.first().map_or(0, |s| s.sent.get())
}

#[derive(Default)]
pub struct PortWorkerCounters {
    pub dropped: [AtomicU64; PortDropReason::COUNT],
    /// Frames the TX queue refused (freed by the worker).
    pub tx_refused: AtomicU64,
}

pub struct PortCounters {
    slots: Box<[CachePadded<PortWorkerCounters>]>,
}

impl PortCounters {
    pub fn new(workers: usize) -> Self {
        PortCounters {
            slots: (0..workers.max(1))
                .map(|_| CachePadded::new(PortWorkerCounters::default()))
                .collect(),
        }
    }

    #[inline(always)]
    pub fn worker(&self, w: usize) -> &PortWorkerCounters {
        &self.slots[w]
    }

    pub fn dropped(&self, r: PortDropReason) -> u64 {
        self.slots
            .iter()
            .map(|s| s.dropped[r as usize].load(Relaxed))
            .sum()
    }

    pub fn tx_refused(&self) -> u64 {
        self.slots.iter().map(|s| s.tx_refused.load(Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_every_worker_slot() {
        let c = VnetCounters::new(3);
        bump(&c.worker(0).rx_packets, 2);
        bump(&c.worker(2).rx_packets, 5);
        c.worker(1).drop(DropReason::NoRoute);
        c.worker(2).drop(DropReason::NoRoute);
        let t = c.totals();
        assert_eq!(t.rx_packets, 7);
        assert_eq!(t.dropped[DropReason::NoRoute as usize], 2);
        assert_eq!(t.dropped[DropReason::Malformed as usize], 0);
    }

    #[test]
    fn totals_add_the_express_lanes_counts_of_sent_frames() {
        let c = VnetCounters::new(2);
        let i = c.sent_index() as usize;
        assert_ne!(i, 0);
        let w1 = &crate::stats::sent::worker(1).unwrap()[i];
        bump(&w1.packets, 3);
        bump(&w1.rx_bytes, 192);
        bump(&w1.tx_bytes, 180);
        bump(&w1.no_buffer, 1);
        bump(&c.worker(0).rx_packets, 1);
        let t = c.totals();
        assert_eq!((t.rx_packets, t.forwarded, t.tx_packets), (5, 4, 3));
        assert_eq!((t.rx_bytes, t.tx_bytes), (192, 180));
        assert_eq!(t.dropped[DropReason::NoBuffer as usize], 1);
        // Another vnet's index is another entry.
        assert_ne!(VnetCounters::new(2).sent_index() as usize, i);
    }

    #[test]
    fn what_each_frame_touches_is_one_cache_line() {
        let c = VnetCounters::new(1);
        let s = c.worker(0);
        let base = s as *const _ as usize;
        assert_eq!(base % 64, 0);
        let end = &s.local as *const _ as usize + 8;
        for f in [
            &s.tap as *const _ as usize,
            &s.rx_packets as *const _ as usize,
            &s.tx_bytes as *const _ as usize,
            &s.forwarded as *const _ as usize,
        ] {
            assert!(f >= base && f < base + 64);
        }
        assert!(end <= base + 64);
    }

    #[test]
    fn slots_do_not_share_cache_lines() {
        let c = VnetCounters::new(2);
        let a = c.worker(0) as *const _ as usize;
        let b = c.worker(1) as *const _ as usize;
        assert!(b.abs_diff(a) >= 64);
    }
}
