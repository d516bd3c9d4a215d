//! FQ-CoDel (RFC 8290): flows hashed into `flows` queues served by deficit round
//! robin, new flows ahead of old ones (so sparse flows skip the bulk queues), and
//! CoDel on each queue dropping at the head while a queue's sojourn time stays above
//! `target` for an `interval`. When the instance holds `limit` packets, the fattest
//! queue loses its head.
//!
//! With `ecn`, CoDel marks an ECN-capable packet (ECT or CE on arrival) instead of
//! dropping it, and the packet is sent (RFC 8290 §4.1.1; dummynet's `ecn`): the set
//! hands it out as `Fate::Marked` and the dataplane sets CE on its header. Packets
//! that are not ECN-capable are still dropped, and so are those over `limit`.
//!
//! Fields: `deficit`; `flags` bit 0 = listed (new or old). The CoDel state of
//! each hashed queue is in the scheduler's own table (`FqCodel::codel`): the
//! queues' fields are kept to what every scheduler needs in the queue's first
//! line (`queue::SchedFields`).

use super::ring::IdRing;
use super::Scheduler;
use crate::clock::nanos_to_ticks;
use crate::config::FqCodelConfig;
use crate::counters::DropReason;
use crate::queue::{QueueId, Queues, SlotId};

const LISTED: u32 = 1;

/// One hashed queue's CoDel state (RFC 8289's names).
#[derive(Debug, Clone, Copy, Default)]
struct Codel {
    /// When the sojourn time may count as persistently high; 0 = not above target.
    first_above: u64,
    drop_next: u64,
    count: u64,
    lastcount: u64,
    dropping: bool,
}

#[derive(Debug)]
pub struct FqCodel {
    target: u64,
    interval: u64,
    quantum: i64,
    limit: u32,
    flows: u32,
    mtu: u64,
    ecn: bool,
    base: QueueId,
    total_pkts: u32,
    total_bytes: u64,
    new_flows: IdRing,
    old_flows: IdRing,
    /// CoDel state of hashed queue `base + i` at `i`.
    codel: Vec<Codel>,
}

impl FqCodel {
    pub fn new(c: FqCodelConfig, hz: u64) -> Self {
        FqCodel {
            target: nanos_to_ticks(c.target.nanos(), hz),
            interval: nanos_to_ticks(c.interval.nanos(), hz).max(1),
            quantum: i64::from(c.quantum.max(1)),
            limit: c.limit.max(1),
            flows: c.flows.max(1),
            mtu: u64::from(c.quantum.max(1)),
            ecn: c.ecn,
            base: 0,
            total_pkts: 0,
            total_bytes: 0,
            new_flows: IdRing::with_capacity(64),
            old_flows: IdRing::with_capacity(64),
            codel: vec![Codel::default(); c.flows.max(1) as usize],
        }
    }

    fn control_law(&self, t: u64, count: u64) -> u64 {
        t + (self.interval as f64 / (count.max(1) as f64).sqrt()) as u64
    }

    fn take(&mut self, qs: &mut Queues, q: QueueId) -> Option<SlotId> {
        let s = qs.pop_hinting_next(q)?;
        self.total_pkts -= 1;
        self.total_bytes -= u64::from(qs.slot_len(s));
        Some(s)
    }

    fn state(&mut self, q: QueueId) -> &mut Codel {
        &mut self.codel[(q - self.base) as usize]
    }

    fn should_drop(&mut self, qs: &Queues, q: QueueId, s: Option<SlotId>, now: u64) -> bool {
        let Some(s) = s else {
            self.state(q).first_above = 0;
            return false;
        };
        let sojourn = now.saturating_sub(qs.slot_arrival(s));
        if sojourn < self.target || self.total_bytes <= self.mtu {
            self.state(q).first_above = 0;
            return false;
        }
        let interval = self.interval;
        let c = self.state(q);
        if c.first_above == 0 {
            c.first_above = now + interval;
            false
        } else {
            now >= c.first_above
        }
    }

    /// CoDel's congestion signal for packet `s`: with `ecn` an ECN-capable packet is
    /// marked and kept (true), otherwise it is dropped (false).
    fn signal(&self, qs: &mut Queues, s: SlotId) -> bool {
        if self.ecn && qs.ecn_capable(s) {
            qs.mark(s);
            true
        } else {
            qs.discard(s, DropReason::CoDel);
            false
        }
    }

    /// CoDel's dequeue for one queue (the Linux `codel_dequeue` state machine).
    fn codel_dequeue(&mut self, qs: &mut Queues, q: QueueId, now: u64) -> Option<SlotId> {
        let mut s = self.take(qs, q);
        if s.is_none() {
            self.state(q).dropping = false;
            return None;
        }
        let drop = self.should_drop(qs, q, s, now);
        let c = *self.state(q);
        if c.dropping {
            if !drop {
                self.state(q).dropping = false;
            } else {
                while self.state(q).dropping && now >= self.state(q).drop_next {
                    self.state(q).count += 1;
                    let head = s.take().expect("have a packet");
                    if self.signal(qs, head) {
                        // Marked: it is sent; the next signal is due at the
                        // control law's next time.
                        let c = *self.state(q);
                        self.state(q).drop_next = self.control_law(c.drop_next, c.count);
                        return Some(head);
                    }
                    s = self.take(qs, q);
                    if !self.should_drop(qs, q, s, now) {
                        self.state(q).dropping = false;
                    } else {
                        let c = *self.state(q);
                        self.state(q).drop_next = self.control_law(c.drop_next, c.count);
                    }
                    if s.is_none() {
                        break;
                    }
                }
            }
        } else if drop {
            let head = s.take().expect("have a packet");
            if self.signal(qs, head) {
                s = Some(head);
            } else {
                s = self.take(qs, q);
                self.should_drop(qs, q, s, now);
            }
            let delta = c.count.wrapping_sub(c.lastcount);
            let since = now as i128 - c.drop_next as i128;
            let count = if delta > 1 && delta < u64::MAX / 2 && since < 16 * self.interval as i128 {
                delta
            } else {
                1
            };
            let next = self.control_law(now, count);
            let m = self.state(q);
            m.dropping = true;
            m.count = count;
            m.lastcount = count;
            m.drop_next = next;
        }
        s
    }
}

impl Scheduler for FqCodel {
    fn reset(&mut self) {
        self.total_pkts = 0;
        self.total_bytes = 0;
        self.codel.fill(Codel::default());
        self.new_flows.clear();
        self.old_flows.clear();
    }

    fn hashed_queues(&self) -> Option<u32> {
        Some(self.flows)
    }

    fn set_hashed_base(&mut self, base: QueueId) {
        self.base = base;
    }

    fn enqueue(&mut self, qs: &mut Queues, q: QueueId, _now: u64) {
        self.total_pkts += 1;
        self.total_bytes += u64::from(tail_len(qs, q));
        if qs.fields(q).flags & LISTED == 0 {
            let quantum = self.quantum;
            let f = qs.fields_mut(q);
            f.flags |= LISTED;
            f.deficit = quantum;
            self.new_flows.push_back(q);
        }
        if self.total_pkts > self.limit {
            let fattest = (self.base..self.base + self.flows)
                .max_by_key(|&i| qs.bytes(i))
                .unwrap_or(q);
            if let Some(s) = self.take(qs, fattest) {
                qs.discard(s, DropReason::Overlimit);
            }
        }
    }

    fn dequeue(&mut self, qs: &mut Queues, now: u64) -> Option<SlotId> {
        loop {
            let (q, from_new) = if let Some(q) = self.new_flows.front() {
                (q, true)
            } else {
                (self.old_flows.front()?, false)
            };
            let list = if from_new {
                &mut self.new_flows
            } else {
                &mut self.old_flows
            };
            if qs.fields(q).deficit <= 0 {
                qs.fields_mut(q).deficit += self.quantum;
                list.pop_front();
                // The list moved: hint the queues (and head packets) a few places
                // down it, as DRR does; with many flows per hashed queue each
                // visit starts on packets that arrived a round ago.
                super::prefetch_ahead(qs, list, true);
                self.old_flows.push_back(q);
                continue;
            }
            match self.codel_dequeue(qs, q, now) {
                Some(s) => {
                    qs.fields_mut(q).deficit -= i64::from(qs.slot_len(s));
                    return Some(s);
                }
                None => {
                    if from_new {
                        self.new_flows.pop_front();
                        super::prefetch_ahead(qs, &self.new_flows, true);
                        if !self.old_flows.is_empty() {
                            self.old_flows.push_back(q);
                            continue;
                        }
                    } else {
                        self.old_flows.pop_front();
                        super::prefetch_ahead(qs, &self.old_flows, true);
                    }
                    qs.fields_mut(q).flags &= !LISTED;
                }
            }
        }
    }
}

/// Length of the packet just appended to `q`.
fn tail_len(qs: &Queues, q: QueueId) -> u32 {
    let t = qs.q[q as usize].tail;
    qs.slots[t as usize].len
}

#[cfg(test)]
mod tests {
    use super::super::testkit::Bench;
    use super::*;

    fn cfg() -> FqCodelConfig {
        FqCodelConfig {
            flows: 4,
            ..FqCodelConfig::default()
        }
    }

    #[test]
    fn new_flow_goes_first() {
        let mut s = FqCodel::new(cfg(), 1_000_000_000);
        let mut b = Bench::new(&[1, 1, 1, 1]);
        s.set_hashed_base(0);
        for _ in 0..20 {
            b.add(&mut s, 0, 1500, 0);
        }
        // Serve a few bulk packets so queue 0 becomes an old flow.
        for _ in 0..3 {
            assert_eq!(b.serve(&mut s, 1000).unwrap().0, 0);
        }
        b.add(&mut s, 2, 100, 2000);
        assert_eq!(
            b.serve(&mut s, 2000).unwrap().0,
            2,
            "sparse flow jumps ahead"
        );
    }

    #[test]
    fn codel_drops_a_standing_queue() {
        let hz = 1_000_000_000;
        let mut s = FqCodel::new(cfg(), hz);
        let mut b = Bench::new(&[1, 1, 1, 1]);
        s.set_hashed_base(0);
        // 1000 packets arrive at t=0, one leaves per ms: delay grows far above 5 ms.
        for _ in 0..1000 {
            b.add(&mut s, 1, 1500, 0);
        }
        let mut served = 0;
        let mut t = 0;
        while b.serve(&mut s, t).is_some() {
            served += 1;
            t += 1_000_000;
        }
        let dropped: u32 = b.qs.call_drops.iter().sum();
        assert!(dropped > 0, "CoDel dropped nothing");
        assert_eq!(served + dropped, 1000);
    }

    /// A standing queue of 1000 packets, one served per ms: what CoDel does to
    /// them. Returns (served, marked, dropped).
    fn standing_queue(ecn: bool, capable: impl Fn(usize) -> bool) -> (u32, u32, u32) {
        let hz = 1_000_000_000;
        let mut s = FqCodel::new(FqCodelConfig { ecn, ..cfg() }, hz);
        let mut b = Bench::new(&[1, 1, 1, 1]);
        s.set_hashed_base(0);
        for i in 0..1000 {
            b.add(&mut s, 1, 1500, 0);
            if capable(i) {
                let t = b.qs.q[1].tail;
                b.qs.slots[t as usize].ecn = crate::queue::ECN_CAPABLE;
            }
        }
        let (mut served, mut marked) = (0, 0);
        let mut t = 0;
        while let Some(slot) = s.dequeue(&mut b.qs, t) {
            served += 1;
            if b.qs.slots[slot as usize].ecn & crate::queue::ECN_MARKED != 0 {
                marked += 1;
            }
            t += 1_000_000;
        }
        let dropped: u32 = b.qs.call_drops.iter().sum();
        assert_eq!(served + dropped, 1000);
        (served, marked, dropped)
    }

    #[test]
    fn ecn_marks_instead_of_dropping_capable_packets() {
        let (served, marked, dropped) = standing_queue(true, |_| true);
        assert_eq!(dropped, 0, "ECN-capable packets are never CoDel-dropped");
        assert!(marked > 10, "CoDel marked only {marked}");
        assert_eq!(served, 1000);
        // Marking follows the control law: far fewer marks than packets.
        assert!(marked < 500, "marked {marked}");
    }

    #[test]
    fn ecn_still_drops_packets_that_are_not_capable() {
        let (_, marked, dropped) = standing_queue(true, |_| false);
        assert_eq!(marked, 0);
        assert!(dropped > 0);
        // Mixed: even packets capable. Odd ones get dropped, even ones marked.
        let (_, marked, dropped) = standing_queue(true, |i| i % 2 == 0);
        assert!(
            marked > 0 && dropped > 0,
            "marked {marked} dropped {dropped}"
        );
    }

    #[test]
    fn without_ecn_capable_packets_are_dropped() {
        let (_, marked, dropped) = standing_queue(false, |_| true);
        assert_eq!(marked, 0, "no marking unless configured");
        assert!(dropped > 0);
    }

    #[test]
    fn overlimit_drops_from_fattest() {
        let mut s = FqCodel::new(FqCodelConfig { limit: 10, ..cfg() }, 1_000_000_000);
        let mut b = Bench::new(&[1, 1, 1, 1]);
        for _ in 0..10 {
            b.add(&mut s, 0, 1500, 0);
        }
        b.add(&mut s, 3, 64, 0);
        assert_eq!(b.qs.pkts(0), 9);
        assert_eq!(b.qs.pkts(3), 1);
        assert_eq!(b.qs.call_drops[DropReason::Overlimit.index()], 1);
    }
}
