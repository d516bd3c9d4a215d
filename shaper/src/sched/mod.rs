//! Schedulers: how a pipe instance shares its link among its flow queues. Each one
//! is a file implementing [`Scheduler`]; the pipe core knows them only through the
//! trait (dummynet's `dn_alg`) and [`new_scheduler`].
//!
//! The contract: the core appends a packet to a flow queue, then calls `enqueue`;
//! when the link is free it calls `dequeue`, and the scheduler pops the packet it
//! chooses through [`Queues::pop`]. A scheduler may drop packets (CoDel) with
//! [`Queues::discard`] / [`Queues::drop_head`]. Before a dynamic queue is freed (it
//! is empty and the scheduler no longer refers to it), `forget` is called.

use crate::config::SchedulerConfig;
use crate::queue::{QueueId, Queues, SlotId};

mod calendar;
mod drr;
mod fifo;
mod fq_codel;
mod heap4;
mod prio;
mod qfq;
mod ring;
mod wf2q;

pub use drr::Drr;
pub use fifo::Fifo;
pub use fq_codel::FqCodel;
pub use prio::Prio;
pub use qfq::Qfq;
pub use wf2q::Wf2q;

/// How far ahead in its order a scheduler hints queues (`Queues::prefetch`), and
/// half of it for their head packets (`Queues::prefetch_head`): far enough that
/// the lines arrive before they are needed, near enough that they are still there.
pub(crate) const AHEAD: usize = 8;

/// Hints the queues `AHEAD` places down `order` (a scheduler's round-robin
/// list) whole (`Queues::prefetch_whole`: round-robin schedulers drain and
/// park their short queues every round, which reads all three lines), their
/// first two packets `AHEAD / 2` places down and, with `third` (FQ-CoDel,
/// which serves a hashed queue many packets a visit), their third packet
/// `AHEAD / 4` places down: each step reads only lines an earlier step asked
/// for. DRR and PRIO without the third packet: 3-4% faster at 100,000 flows
/// (in-process A/B, 2026-11-22), a visit there pops one or two.
#[inline]
pub(crate) fn prefetch_ahead(qs: &Queues, order: &ring::IdRing, third: bool) {
    if let Some(q) = order.get(AHEAD) {
        qs.prefetch_whole(q);
    }
    if let Some(q) = order.get(AHEAD / 2) {
        qs.prefetch_slots(q);
    }
    if third {
        if let Some(q) = order.get(AHEAD / 4) {
            qs.prefetch_third(q);
        }
    }
}

/// `prefetch_ahead` without the third packets (FIFO serves a queue one packet a
/// visit).
#[inline]
pub(crate) fn prefetch_ahead_lists(qs: &Queues, order: &ring::IdRing) {
    if let Some(q) = order.get(AHEAD) {
        qs.prefetch(q);
    }
    if let Some(q) = order.get(AHEAD / 2) {
        qs.prefetch_head(q);
    }
}

/// One scheduler instance (one per pipe instance).
pub trait Scheduler: Send {
    /// A packet was appended to `q` (`qs.pkts(q) == 1` means `q` just became
    /// backlogged). `now` is the arrival time.
    fn enqueue(&mut self, qs: &mut Queues, q: QueueId, now: u64);

    /// Chooses and pops the next packet to send; `now` is the time the link starts
    /// sending it. `None` when nothing is left (possibly after dropping).
    fn dequeue(&mut self, qs: &mut Queues, now: u64) -> Option<SlotId>;

    /// `q` is about to be freed (it is empty).
    fn forget(&mut self, _qs: &Queues, _q: QueueId) {}

    /// Back to the state of a new instance, keeping allocated capacity (a dynamic
    /// pipe instance is recycled for a new flow, or the set was drained). Every
    /// queue is empty and its fields are reset by the caller.
    fn reset(&mut self);

    /// `Some(n)`: this scheduler classifies flows itself into `n` hashed queues that
    /// live as long as the instance (FQ-CoDel); masks and flowsets are then ignored.
    fn hashed_queues(&self) -> Option<u32> {
        None
    }

    /// Largest packet accepted (QFQ's `lmax`).
    fn max_len(&self) -> u32 {
        u32::MAX
    }

    /// Called once after the instance's hashed queues were created, with the first
    /// queue id (they are consecutive).
    fn set_hashed_base(&mut self, _base: QueueId) {}
}

/// Builds a scheduler instance from its configuration; `hz` is the tick rate of the
/// `now` values it will be given.
pub fn new_scheduler(cfg: &SchedulerConfig, hz: u64) -> AnyScheduler {
    match *cfg {
        SchedulerConfig::Fifo => AnyScheduler::Fifo(Fifo::new()),
        SchedulerConfig::Wf2q => AnyScheduler::Wf2q(Wf2q::new()),
        SchedulerConfig::Drr { quantum } => AnyScheduler::Drr(Drr::new(quantum)),
        SchedulerConfig::Prio => AnyScheduler::Prio(Box::default()),
        SchedulerConfig::Qfq { lmax } => AnyScheduler::Qfq(Box::new(Qfq::new(lmax))),
        SchedulerConfig::FqCodel(c) => AnyScheduler::FqCodel(Box::new(FqCodel::new(c, hz))),
    }
}

/// One of the schedulers, chosen by configuration: a `match` instead of a
/// `Box<dyn Scheduler>`, so the core's two or three scheduler calls per packet
/// are direct calls the compiler can inline (a virtual call each cost a few
/// percent of a packet's ~100 ns at one flow). The large ones stay boxed so a
/// pipe instance stays small (a masked pipe may have 100,000 of them).
#[derive(Debug)]
pub enum AnyScheduler {
    Fifo(Fifo),
    Wf2q(Wf2q),
    Drr(Drr),
    Prio(Box<Prio>),
    Qfq(Box<Qfq>),
    FqCodel(Box<FqCodel>),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            AnyScheduler::Fifo($s) => $e,
            AnyScheduler::Wf2q($s) => $e,
            AnyScheduler::Drr($s) => $e,
            AnyScheduler::Prio($s) => $e,
            AnyScheduler::Qfq($s) => $e,
            AnyScheduler::FqCodel($s) => $e,
        }
    };
}

impl Scheduler for AnyScheduler {
    #[inline]
    fn enqueue(&mut self, qs: &mut Queues, q: QueueId, now: u64) {
        each!(self, s => s.enqueue(qs, q, now))
    }

    #[inline]
    fn dequeue(&mut self, qs: &mut Queues, now: u64) -> Option<SlotId> {
        each!(self, s => s.dequeue(qs, now))
    }

    fn forget(&mut self, qs: &Queues, q: QueueId) {
        each!(self, s => s.forget(qs, q))
    }

    fn reset(&mut self) {
        each!(self, s => s.reset())
    }

    fn hashed_queues(&self) -> Option<u32> {
        each!(self, s => s.hashed_queues())
    }

    #[inline]
    fn max_len(&self) -> u32 {
        each!(self, s => s.max_len())
    }

    fn set_hashed_base(&mut self, base: QueueId) {
        each!(self, s => s.set_hashed_base(base))
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Drives a scheduler alone over hand-made queues: every queue backlogged, equal
    //! packets, count who gets served.
    use super::*;
    use crate::queue::{FlowQueue, SlotMeta, NIL};

    pub(crate) struct Bench {
        pub qs: Queues,
        free: Vec<u32>,
    }

    impl Bench {
        pub(crate) fn new(weights: &[u32]) -> Self {
            let mut qs = Queues::new(200_000);
            for &w in weights {
                qs.q.push(FlowQueue {
                    weight: w,
                    in_use: true,
                    ..FlowQueue::default()
                });
            }
            Bench {
                qs,
                free: (0..200_000).rev().collect(),
            }
        }

        pub(crate) fn add(&mut self, s: &mut dyn Scheduler, q: QueueId, len: u32, now: u64) {
            let slot = self.free.pop().expect("bench pool");
            self.qs.slots[slot as usize] = SlotMeta {
                next: NIL,
                len,
                queue: q,
                time: now,
                ..SlotMeta::default()
            };
            self.qs.push(q, slot);
            s.enqueue(&mut self.qs, q, now);
        }

        pub(crate) fn serve(&mut self, s: &mut dyn Scheduler, now: u64) -> Option<(QueueId, u32)> {
            let slot = s.dequeue(&mut self.qs, now)?;
            self.free.push(slot);
            let m = self.qs.slots[slot as usize];
            Some((m.queue, m.len))
        }
    }

    /// Keeps every queue backlogged with `len`-byte packets, serves `n` packets, and
    /// returns bytes served per queue plus the largest lag (bytes) of any queue
    /// behind or ahead of its exact fluid share at any point.
    pub(crate) fn backlogged_shares(
        s: &mut dyn Scheduler,
        weights: &[u32],
        lens: &[u32],
        n: usize,
    ) -> (Vec<u64>, f64) {
        let mut b = Bench::new(weights);
        for (q, _) in weights.iter().enumerate() {
            for _ in 0..4 {
                b.add(s, q as QueueId, lens[q % lens.len()], 0);
            }
        }
        let wsum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut served = vec![0u64; weights.len()];
        let mut total = 0u64;
        let mut worst: f64 = 0.0;
        for _ in 0..n {
            let (q, len) = s.dequeue_checked(&mut b);
            served[q as usize] += u64::from(len);
            total += u64::from(len);
            for (i, &w) in weights.iter().enumerate() {
                let fluid = total as f64 * f64::from(w) / wsum as f64;
                worst = worst.max((served[i] as f64 - fluid).abs());
            }
            b.add(s, q, lens[q as usize % lens.len()], 0);
        }
        (served, worst)
    }

    /// Like `backlogged_shares`, but the worst lag of each queue separately.
    pub(crate) fn backlogged_lags(
        s: &mut dyn Scheduler,
        weights: &[u32],
        lens: &[u32],
        n: usize,
    ) -> (Vec<u64>, Vec<f64>) {
        let mut b = Bench::new(weights);
        for (q, _) in weights.iter().enumerate() {
            for _ in 0..4 {
                b.add(s, q as QueueId, lens[q % lens.len()], 0);
            }
        }
        let wsum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut served = vec![0u64; weights.len()];
        let mut lags = vec![0f64; weights.len()];
        let mut total = 0u64;
        for _ in 0..n {
            let (q, len) = s.dequeue_checked(&mut b);
            served[q as usize] += u64::from(len);
            total += u64::from(len);
            for (i, &w) in weights.iter().enumerate() {
                let fluid = total as f64 * f64::from(w) / wsum as f64;
                lags[i] = lags[i].max((served[i] as f64 - fluid).abs());
            }
            b.add(s, q, lens[q as usize % lens.len()], 0);
        }
        (served, lags)
    }

    pub(crate) trait Checked {
        fn dequeue_checked(&mut self, b: &mut Bench) -> (QueueId, u32);
    }

    impl<S: Scheduler + ?Sized> Checked for S {
        fn dequeue_checked(&mut self, b: &mut Bench) -> (QueueId, u32) {
            let slot = self.dequeue(&mut b.qs, 0).expect("backlogged");
            b.free.push(slot);
            let m = b.qs.slots[slot as usize];
            (m.queue, m.len)
        }
    }

    pub(crate) fn assert_ratio(served: &[u64], weights: &[u32], tol: f64) {
        let total: u64 = served.iter().sum();
        let wsum: u32 = weights.iter().sum();
        for (i, &w) in weights.iter().enumerate() {
            let want = f64::from(w) / f64::from(wsum);
            let got = served[i] as f64 / total as f64;
            assert!(
                (got - want).abs() <= want * tol,
                "queue {i}: share {got:.4}, want {want:.4} ± {tol}: {served:?}"
            );
        }
    }
}
