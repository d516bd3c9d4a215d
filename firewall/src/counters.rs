//! Per-rule counters, one slot per worker, packed densely per worker.
//!
//! Each worker writes only its own slot, with a plain load and store (no
//! read-modify-write, no lock); readers sum the slots. `zero` never writes a
//! worker's slot (that would race with the worker's load+store): it records
//! the current sums as a baseline that reads subtract.
//!
//! Layout: a chain's counters live in [`Bank`]s. A bank holds, for each
//! worker, one 24-byte cell per rule side by side (rules of a big set are
//! then 24 bytes apart, not a cache line or more: with 10,000 rules a
//! worker's cells fit in its L2 instead of spilling to L3), the workers'
//! parts at least a cache line apart (two workers never write one line).
//! A rule's [`RuleCounters`] is a handle on its slot in a bank; handles are
//! shared (reference-counted) by the [`crate::Chain`] and every compiled
//! [`crate::RuleSet`] that contains the rule, so counts survive a recompile
//! and a publication of a new rule set. When the last handle goes, the slot
//! returns to its bank and is cleared when handed out again (nobody can be
//! writing it then: no rule set refers to it any more).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Cell {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Clock value (ms) of the last match; 0 = never.
    last: AtomicU64,
}

impl Cell {
    fn clear(&self) {
        self.packets.store(0, Relaxed);
        self.bytes.store(0, Relaxed);
        self.last.store(0, Relaxed);
    }
}

/// Cells between two workers' parts: 72 bytes, more than a cache line.
const GAP: usize = 3;

/// The counters of up to `cap` rules for `workers` workers.
pub(crate) struct Bank {
    cap: usize,
    workers: usize,
    /// Worker w's cell of slot s: `cells[w * (cap + GAP) + s]`.
    cells: Box<[Cell]>,
    /// The `zero` baselines, one per slot (control plane only).
    base: Box<[Cell]>,
    /// Slots handed out so far (a slot below this is used or in `free`).
    used: Mutex<(usize, Vec<u32>)>,
}

// Short: a chain's `{:?}` would otherwise print every cell of its banks.
impl std::fmt::Debug for Bank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bank")
            .field("cap", &self.cap)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Bank {
    fn new(cap: usize, workers: usize) -> Arc<Bank> {
        let workers = workers.max(1);
        Arc::new(Bank {
            cap,
            workers,
            cells: (0..workers * (cap + GAP))
                .map(|_| Cell::default())
                .collect(),
            base: (0..cap).map(|_| Cell::default()).collect(),
            used: Mutex::new((0, Vec::new())),
        })
    }

    /// A free slot, cleared; `None` when the bank is full.
    fn take(self: &Arc<Self>) -> Option<RuleCounters> {
        let slot = {
            let mut u = self.used.lock().unwrap_or_else(|e| e.into_inner());
            match u.1.pop() {
                Some(s) => s as usize,
                None if u.0 < self.cap => {
                    u.0 += 1;
                    u.0 - 1
                }
                None => return None,
            }
        };
        for w in 0..self.workers {
            self.cells[w * (self.cap + GAP) + slot].clear();
        }
        self.base[slot].clear();
        Some(RuleCounters {
            h: Arc::new(Handle {
                bank: self.clone(),
                slot: slot as u32,
            }),
        })
    }

    #[inline]
    fn cell(&self, worker: usize, slot: usize) -> &Cell {
        // An index beyond the workers uses worker 0's cell, which would then
        // race: size the chain for every worker.
        let w = if worker < self.workers { worker } else { 0 };
        &self.cells[w * (self.cap + GAP) + slot]
    }

    /// Counts one packet of `bytes` in `slot` for `worker` at `now_ms`.
    #[inline]
    pub(crate) fn add(&self, worker: usize, slot: u32, bytes: u64, now_ms: u64) {
        let c = self.cell(worker, slot as usize);
        c.packets
            .store(c.packets.load(Relaxed).wrapping_add(1), Relaxed);
        c.bytes
            .store(c.bytes.load(Relaxed).wrapping_add(bytes), Relaxed);
        c.last.store(now_ms.max(1), Relaxed);
    }

    /// Counts `packets` packets of `bytes` bytes in all in `slot` for
    /// `worker` at `now_ms` (a burst's matches of one rule).
    #[inline]
    pub(crate) fn add_n(&self, worker: usize, slot: u32, packets: u64, bytes: u64, now_ms: u64) {
        let c = self.cell(worker, slot as usize);
        c.packets
            .store(c.packets.load(Relaxed).wrapping_add(packets), Relaxed);
        c.bytes
            .store(c.bytes.load(Relaxed).wrapping_add(bytes), Relaxed);
        c.last.store(now_ms.max(1), Relaxed);
    }

    /// Worker `worker`'s cells, for counting many packets: the bank's
    /// fields are read once instead of per packet.
    #[inline]
    pub(crate) fn worker_cells(&self, worker: usize) -> WorkerCells<'_> {
        let w = if worker < self.workers { worker } else { 0 };
        let start = w * (self.cap + GAP);
        WorkerCells(&self.cells[start..start + self.cap])
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        (self.cells.len() + self.base.len()) * std::mem::size_of::<Cell>()
    }
}

/// One worker's cells of a bank ([`Bank::worker_cells`]); the same plain
/// load and store per count as [`Bank::add`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WorkerCells<'a>(&'a [Cell]);

impl WorkerCells<'_> {
    /// Counts one packet of `bytes` in `slot` at `now_ms`.
    #[inline]
    pub(crate) fn add(&self, slot: u32, bytes: u64, now_ms: u64) {
        let c = &self.0[slot as usize];
        c.packets
            .store(c.packets.load(Relaxed).wrapping_add(1), Relaxed);
        c.bytes
            .store(c.bytes.load(Relaxed).wrapping_add(bytes), Relaxed);
        c.last.store(now_ms.max(1), Relaxed);
    }
}

#[derive(Debug)]
struct Handle {
    bank: Arc<Bank>,
    slot: u32,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut u = self.bank.used.lock().unwrap_or_else(|e| e.into_inner());
        u.1.push(self.slot);
    }
}

/// Where a chain's new rules get their counters: banks of growing size (a
/// new bank when the last is full, twice as big), shared by clones of the
/// chain.
#[derive(Debug, Clone)]
pub(crate) struct CounterPool {
    workers: usize,
    banks: Arc<Mutex<Vec<Arc<Bank>>>>,
}

/// The first bank's size; each next bank doubles it.
const FIRST_BANK: usize = 64;

impl CounterPool {
    pub fn new(workers: usize) -> Self {
        CounterPool {
            workers,
            banks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Counters for a new rule, at zero.
    pub fn alloc(&self) -> RuleCounters {
        let mut banks = self.banks.lock().unwrap_or_else(|e| e.into_inner());
        // Slots freed by deleted rules first, oldest bank first.
        for b in banks.iter() {
            if let Some(c) = b.take() {
                return c;
            }
        }
        let cap = banks.last().map_or(FIRST_BANK, |b| b.cap * 2);
        let b = Bank::new(cap, self.workers);
        let c = b.take().expect("a new bank has room");
        banks.push(b);
        c
    }
}

/// Packet/byte counters and last-match time of one rule: a cheap handle
/// (clones share the counts).
#[derive(Debug, Clone)]
pub struct RuleCounters {
    h: Arc<Handle>,
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
    /// Counters of their own (a bank of one rule). Chains allocate theirs
    /// from a [`CounterPool`] instead, densely.
    pub fn new(workers: usize) -> Self {
        Bank::new(1, workers).take().expect("one free slot")
    }

    /// The bank and slot, for rule sets to count without the handle.
    pub(crate) fn place(&self) -> (&Arc<Bank>, u32) {
        (&self.h.bank, self.h.slot)
    }

    /// Counts one packet of `bytes` for `worker` at `now_ms`. Only worker
    /// `worker` may call this for its index.
    #[inline]
    pub fn add(&self, worker: usize, bytes: u64, now_ms: u64) {
        self.h.bank.add(worker, self.h.slot, bytes, now_ms);
    }

    fn sums(&self) -> (u64, u64, u64) {
        let b = &self.h.bank;
        (0..b.workers)
            .map(|w| b.cell(w, self.h.slot as usize))
            .fold((0u64, 0u64, 0u64), |(p, by, l), s| {
                (
                    p.wrapping_add(s.packets.load(Relaxed)),
                    by.wrapping_add(s.bytes.load(Relaxed)),
                    l.max(s.last.load(Relaxed)),
                )
            })
    }

    fn base(&self) -> &Cell {
        &self.h.bank.base[self.h.slot as usize]
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
        self.h.bank.workers
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
        let pool = CounterPool::new(4);
        let others: Vec<_> = (0..10).map(|_| pool.alloc()).collect();
        let c = pool.alloc();
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
        assert!(others
            .iter()
            .all(|o| o.read() == CounterSnapshot::default()));
    }

    #[test]
    fn pool_packs_grows_and_reuses_cleared_slots() {
        let pool = CounterPool::new(2);
        let cs: Vec<_> = (0..FIRST_BANK + 1).map(|_| pool.alloc()).collect();
        // Dense: the first bank's slots in order, then a second, bigger bank.
        assert_eq!(cs[1].place().1, 1);
        assert!(Arc::ptr_eq(cs[0].place().0, cs[FIRST_BANK - 1].place().0));
        assert!(!Arc::ptr_eq(cs[0].place().0, cs[FIRST_BANK].place().0));
        assert_eq!(cs[FIRST_BANK].place().0.cap, 2 * FIRST_BANK);
        // Neighbors do not mix: each slot counts alone, per worker.
        cs[3].add(1, 7, 1);
        assert_eq!(cs[3].read().packets, 1);
        assert_eq!(cs[2].read(), CounterSnapshot::default());
        assert_eq!(cs[4].read(), CounterSnapshot::default());
        // A dropped rule's slot comes back, at zero, only when the last handle goes.
        let keep = cs[3].clone();
        let slot = cs[3].place().1;
        drop(cs);
        let again = pool.alloc();
        assert_ne!(again.place().1, slot, "still held by `keep`");
        drop(keep);
        let reused: Vec<_> = (0..FIRST_BANK).map(|_| pool.alloc()).collect();
        let r = reused.iter().find(|c| c.place().1 == slot).expect("reused");
        assert_eq!(r.read(), CounterSnapshot::default());
    }
}
