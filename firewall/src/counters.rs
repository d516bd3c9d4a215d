//! Per-rule counters, one slot per worker.
//!
//! Each worker writes only its own slot, with a plain load and store (no
//! read-modify-write, no lock); readers sum the slots. Slots are cache-line
//! aligned so two workers counting the same hot rule do not share a line.
//! `zero` never writes a worker's slot (that would race with the worker's
//! load+store): it records the current sums as a baseline that reads subtract.
//!
//! A rule's counters are shared (one allocation, reference-counted) by the
//! [`crate::Chain`] and every compiled [`crate::RuleSet`] that contains the
//! rule, so counts survive a recompile and a publication of a new rule set.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Clock value (ms) of the last match; 0 = never.
    last: AtomicU64,
}

/// Packet/byte counters and last-match time of one rule: a cheap handle
/// (clones share the counts). One allocation: the workers' slots, then one
/// more slot holding the `zero` baselines (packets, bytes, last-match time),
/// so that counting a match touches one cache line past the handle.
#[derive(Debug, Clone)]
pub struct RuleCounters {
    slots: Arc<[Slot]>,
}

/// What `show` prints for a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    pub packets: u64,
    pub bytes: u64,
    /// Clock value (ms) of the last match, 0 if none since the last zero.
    pub last_match_ms: u64,
}

impl RuleCounters {
    pub fn new(workers: usize) -> Self {
        RuleCounters {
            slots: (0..workers.max(1) + 1).map(|_| Slot::default()).collect(),
        }
    }

    fn base(&self) -> &Slot {
        &self.slots[self.slots.len() - 1]
    }

    /// Counts one packet of `bytes` for `worker` at `now_ms`. Only worker
    /// `worker` may call this for its index (an index beyond the workers uses
    /// slot 0, which would then race: size the chain for every worker).
    #[inline]
    pub fn add(&self, worker: usize, bytes: u64, now_ms: u64) {
        let s = if worker + 1 < self.slots.len() {
            &self.slots[worker]
        } else {
            &self.slots[0]
        };
        s.packets
            .store(s.packets.load(Relaxed).wrapping_add(1), Relaxed);
        s.bytes
            .store(s.bytes.load(Relaxed).wrapping_add(bytes), Relaxed);
        s.last.store(now_ms.max(1), Relaxed);
    }

    fn sums(&self) -> (u64, u64, u64) {
        self.slots[..self.slots.len() - 1]
            .iter()
            .fold((0u64, 0u64, 0u64), |(p, b, l), s| {
                (
                    p.wrapping_add(s.packets.load(Relaxed)),
                    b.wrapping_add(s.bytes.load(Relaxed)),
                    l.max(s.last.load(Relaxed)),
                )
            })
    }

    pub fn read(&self) -> CounterSnapshot {
        let (p, b, l) = self.sums();
        let base = self.base();
        let zl = base.last.load(Relaxed);
        CounterSnapshot {
            packets: p.wrapping_sub(base.packets.load(Relaxed)),
            bytes: b.wrapping_sub(base.bytes.load(Relaxed)),
            last_match_ms: if l > zl { l } else { 0 },
        }
    }

    /// `ipfw zero`: from now on reads count from zero. Control plane only.
    pub fn zero(&self) {
        let (p, b, l) = self.sums();
        let base = self.base();
        base.packets.store(p, Relaxed);
        base.bytes.store(b, Relaxed);
        base.last.store(l, Relaxed);
    }

    pub fn workers(&self) -> usize {
        self.slots.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_and_zero() {
        let c = RuleCounters::new(2);
        c.add(0, 100, 5);
        c.add(1, 50, 7);
        c.add(1, 50, 9);
        assert_eq!(
            c.read(),
            CounterSnapshot {
                packets: 3,
                bytes: 200,
                last_match_ms: 9
            }
        );
        c.zero();
        assert_eq!(c.read(), CounterSnapshot::default());
        c.add(0, 10, 11);
        assert_eq!(
            c.read(),
            CounterSnapshot {
                packets: 1,
                bytes: 10,
                last_match_ms: 11
            }
        );
    }

    #[test]
    fn workers_count_without_locks() {
        let c = RuleCounters::new(4);
        let hs: Vec<_> = (0..4)
            .map(|w| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        c.add(w, 2, i + 1);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let s = c.read();
        assert_eq!((s.packets, s.bytes), (40_000, 80_000));
    }
}
