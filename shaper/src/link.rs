//! A pipe instance's link: serialization at `bw` and a constant propagation `delay`.
//!
//! Exact integer time. The link keeps the moment it becomes free multiplied by the
//! bandwidth (`free_at = t * bw`, in tick·bit/s), so sending L bytes adds exactly
//! `8 L hz` and no rounding error ever accumulates: over any run the link delivers
//! `bw` to the tick, whatever the packet sizes or the rate (64 kbit/s or 100 Gbit/s).
//! Only a release time is rounded (up, to the next tick). u128 holds 2^60 ticks (a
//! 3 GHz TSC for a decade) times 2^64 bit/s.
//!
//! dummynet's tick-driven original rounds to the kernel's `HZ`; here a late poll
//! costs nothing either: while a backlog exists, the next packet starts exactly when
//! the previous one finished, not when the worker noticed.

#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// bit/s; 0 = unlimited (no serialization time).
    bw: u64,
    /// 8 * hz: tick·bit/s per byte.
    byte_cost: u128,
    delay: u64,
    /// Credit an idle link may accumulate (`burst` bytes), in tick·bit/s.
    burst: u128,
    free_at: u128,
}

#[inline]
fn ceil_div(a: u128, b: u128) -> u128 {
    a.div_ceil(b)
}

impl Link {
    /// `bw` bit/s, `delay` and `now` in ticks of a `hz` clock, `burst` in bytes.
    pub(crate) fn new(bw: u64, delay: u64, burst: u64, hz: u64, now: u64) -> Self {
        let byte_cost = 8 * u128::from(hz);
        Link {
            bw,
            byte_cost,
            delay,
            burst: u128::from(burst) * byte_cost,
            free_at: u128::from(now) * u128::from(bw),
        }
    }

    /// The link was idle (nothing queued): it restarts now, with up to `burst` bytes
    /// of credit for the time it sat unused.
    #[inline]
    pub(crate) fn wake(&mut self, now: u64) {
        if self.bw == 0 {
            return;
        }
        let now_b = u128::from(now) * u128::from(self.bw);
        if self.free_at < now_b {
            self.free_at = self.free_at.max(now_b.saturating_sub(self.burst));
        }
    }

    /// True if a packet may start by `now`.
    #[inline]
    pub(crate) fn free_by(&self, now: u64) -> bool {
        self.bw == 0 || self.free_at <= u128::from(now) * u128::from(self.bw)
    }

    /// When the next packet starts (at or before `now` when `free_by(now)`).
    #[inline]
    pub(crate) fn start(&self, now: u64) -> u64 {
        if self.bw == 0 {
            now
        } else {
            ceil_div(self.free_at, u128::from(self.bw)) as u64
        }
    }

    /// Sends `len` bytes starting at `start()`: returns the release time (end of
    /// serialization plus the delay).
    #[inline]
    pub(crate) fn send(&mut self, len: u32, now: u64) -> u64 {
        if self.bw == 0 {
            return now + self.delay;
        }
        self.free_at += u128::from(len) * self.byte_cost;
        ceil_div(self.free_at, u128::from(self.bw)) as u64 + self.delay
    }

    /// True when nothing is being serialized at `now` (a dynamic instance may then
    /// be forgotten without giving a new flow more than its share).
    #[inline]
    pub(crate) fn idle(&self, now: u64) -> bool {
        self.free_by(now)
    }

    /// Transmission time of `len` bytes in ticks (rounded up; 0 when unlimited).
    pub(crate) fn ticks_for(&self, len: u32) -> u64 {
        if self.bw == 0 {
            0
        } else {
            ceil_div(u128::from(len) * self.byte_cost, u128::from(self.bw)) as u64
        }
    }

    /// Back to an idle link at `now` (instance reuse).
    pub(crate) fn reset(&mut self, now: u64) {
        self.free_at = u128::from(now) * u128::from(self.bw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_to_back_packets_accumulate_no_rounding() {
        // 3 bytes at 7 bit/s on a 1 kHz clock: 24/7 s each, never a whole tick.
        let mut l = Link::new(7, 0, 0, 1000, 0);
        let mut last = 0;
        for i in 1..=7_000u64 {
            assert!(l.free_by(l.start(u64::MAX)));
            last = l.send(3, 0);
            // Exact: i * 24000 / 7 ticks, rounded up.
            assert_eq!(last, (i * 24_000).div_ceil(7));
        }
        assert_eq!(last, 24_000_000);
    }

    #[test]
    fn idle_link_restarts_now_with_burst_credit() {
        let mut l = Link::new(8_000, 5, 1000, 1000, 0); // 1 byte per ms
        assert_eq!(l.send(10, 0), 10 + 5);
        assert!(!l.free_by(9));
        assert!(l.free_by(10));
        // Idle from 10 to 5000: 1000 bytes of credit at most.
        l.wake(5000);
        assert_eq!(l.start(5000), 4000);
        assert_eq!(l.send(1500, 5000), 5500 + 5);
        // Unlimited: release = now + delay.
        let mut u = Link::new(0, 7, 0, 1000, 0);
        assert!(u.free_by(0));
        assert_eq!(u.send(1500, 42), 49);
        assert_eq!(u.ticks_for(1500), 0);
        assert_eq!(l.ticks_for(3), 3);
    }
}
