//! RED and gentle RED (Floyd & Jacobson), as dummynet applies them per flow queue.

use crate::config::{QueueLimit, RedConfig};
use crate::queue::FlowQueue;
use crate::rng::Rng;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Red {
    w_q: f64,
    min_th: f64,
    max_th: f64,
    max_p: f64,
    gentle: bool,
    /// Thresholds count bytes (queue limit in bytes) rather than packets.
    bytes: bool,
}

impl Red {
    pub(crate) fn new(c: &RedConfig, limit: QueueLimit) -> Self {
        Red {
            w_q: c.w_q,
            min_th: c.min_th as f64,
            max_th: c.max_th as f64,
            max_p: c.max_p,
            gentle: c.gentle,
            bytes: matches!(limit, QueueLimit::Bytes(_)),
        }
    }

    /// Updates the queue's average and decides whether to drop the arriving packet.
    /// `pkt_ticks` is the time to send a typical packet, for decaying the average
    /// over idle time (0 = unlimited link: an idle queue's average resets).
    pub(crate) fn should_drop(
        &self,
        q: &mut FlowQueue,
        now: u64,
        pkt_ticks: u64,
        rng: &mut Rng,
    ) -> bool {
        if q.pkts > 0 {
            let size = if self.bytes {
                q.bytes as f64
            } else {
                f64::from(q.pkts)
            };
            q.red_avg += self.w_q * (size - q.red_avg);
        } else if let Some(m) = now.saturating_sub(q.idle_since).checked_div(pkt_ticks) {
            // Idle: decay as if m small packets had gone by (Floyd & Jacobson).
            q.red_avg *= (1.0 - self.w_q).powi(m.min(1 << 20) as i32);
        } else {
            q.red_avg = 0.0;
        }
        let avg = q.red_avg;
        if avg < self.min_th {
            q.red_count = -1;
            return false;
        }
        let p_b = if avg >= self.max_th {
            if self.gentle && avg < 2.0 * self.max_th {
                self.max_p + (1.0 - self.max_p) * (avg - self.max_th) / self.max_th
            } else {
                q.red_count = 0;
                return true;
            }
        } else {
            self.max_p * (avg - self.min_th) / (self.max_th - self.min_th)
        };
        q.red_count += 1;
        let denom = 1.0 - q.red_count as f64 * p_b;
        let p_a = if denom <= 0.0 { 1.0 } else { p_b / denom };
        if rng.next_f64() < p_a {
            q.red_count = 0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_regions() {
        let red = Red::new(
            &RedConfig {
                w_q: 1.0,
                min_th: 5,
                max_th: 15,
                max_p: 0.1,
                gentle: false,
            },
            QueueLimit::Slots(50),
        );
        let mut rng = Rng::new(1);
        let mut q = FlowQueue {
            pkts: 3,
            ..FlowQueue::default()
        };
        assert!(!red.should_drop(&mut q, 0, 1, &mut rng));
        q.pkts = 20;
        assert!(
            red.should_drop(&mut q, 0, 1, &mut rng),
            "above max_th: forced drop"
        );
        q.pkts = 10;
        let drops = (0..10_000)
            .filter(|_| red.should_drop(&mut q, 0, 1, &mut rng))
            .count();
        // p_b = 0.05; with the count correction drops are evenly spaced, ~1 in 10.
        assert!((500..2000).contains(&drops), "{drops}");
        let gentle = Red::new(
            &RedConfig {
                gentle: true,
                w_q: 1.0,
                min_th: 5,
                max_th: 15,
                max_p: 0.1,
            },
            QueueLimit::Slots(50),
        );
        q.pkts = 20;
        let drops = (0..1000)
            .filter(|_| gentle.should_drop(&mut q, 0, 1, &mut rng))
            .count();
        assert!(
            drops > 300 && drops < 1000,
            "gentle region drops some: {drops}"
        );
    }
}
