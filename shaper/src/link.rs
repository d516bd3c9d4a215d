//! A pipe instance's link: serialization at `bw` and a constant propagation `delay`.
//!
//! Exact integer time. The link keeps the moment it becomes free multiplied by the
//! bandwidth (`free_at × bw`, in tick·bit/s) as whole ticks plus a remainder below
//! `bw`, so sending L bytes adds exactly `8 L hz` and no rounding error ever
//! accumulates: over any run the link delivers `bw` to the tick, whatever the packet
//! sizes or the rate (64 kbit/s or 100 Gbit/s). Only a release time is rounded (up,
//! to the next tick). One u64 division per packet, no u128 arithmetic on the path.
//!
//! dummynet's tick-driven original rounds to the kernel's `HZ`; here a late poll
//! costs nothing either: while a backlog exists, the next packet starts exactly when
//! the previous one finished, not when the worker noticed.

#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// bit/s; 0 = unlimited (no serialization time).
    bw: u64,
    /// 8 * hz: tick·bit/s per byte.
    byte_cost: u64,
    delay: u64,
    /// `burst` bytes of credit as (whole ticks, remainder in tick·bit/s).
    burst_ticks: u64,
    burst_rem: u64,
    /// The link is free at `free_ticks + free_rem / bw` (free_rem < bw): the exact
    /// `free_at × bw` without a u128 division per packet.
    free_ticks: u64,
    free_rem: u64,
}

/// Bandwidths up to 2^56 bit/s (72 Pbit/s) keep `free_rem + 8·len·hz` in u64.
pub(crate) const MAX_BW: u64 = 1 << 56;

impl Link {
    /// `bw` bit/s, `delay` and `now` in ticks of a `hz` clock, `burst` in bytes.
    pub(crate) fn new(bw: u64, delay: u64, burst: u64, hz: u64, now: u64) -> Self {
        let bw = bw.min(MAX_BW);
        let byte_cost = 8 * hz;
        let burst_cost = u128::from(burst) * u128::from(byte_cost);
        let (burst_ticks, burst_rem) = if bw == 0 {
            (0, 0)
        } else {
            (
                (burst_cost / u128::from(bw)).min(u128::from(u64::MAX)) as u64,
                (burst_cost % u128::from(bw)) as u64,
            )
        };
        Link {
            bw,
            byte_cost,
            delay,
            burst_ticks,
            burst_rem,
            free_ticks: now,
            free_rem: 0,
        }
    }

    /// The link was idle (nothing queued): it restarts now, with up to `burst` bytes
    /// of credit for the time it sat unused.
    #[inline]
    pub(crate) fn wake(&mut self, now: u64) {
        if self.bw == 0 || !self.before(now, 0) {
            return;
        }
        // now - burst, as (ticks, rem).
        let (mut t, mut r) = (now.saturating_sub(self.burst_ticks), 0u64);
        if self.burst_rem > 0 && t > 0 {
            t -= 1;
            r = self.bw - self.burst_rem;
        }
        if self.before(t, r) {
            self.free_ticks = t;
            self.free_rem = r;
        }
    }

    /// True if the link frees strictly before (t, r).
    #[inline]
    fn before(&self, t: u64, r: u64) -> bool {
        (self.free_ticks, self.free_rem) < (t, r)
    }

    /// True if a packet may start by `now`.
    #[inline]
    pub(crate) fn free_by(&self, now: u64) -> bool {
        self.start(now) <= now
    }

    /// When the next packet starts (at or before `now` when `free_by(now)`).
    #[inline]
    pub(crate) fn start(&self, now: u64) -> u64 {
        if self.bw == 0 {
            now
        } else {
            self.free_ticks + u64::from(self.free_rem > 0)
        }
    }

    /// Sends `len` bytes starting at `start()`: returns the release time (end of
    /// serialization plus the delay).
    #[inline]
    pub(crate) fn send(&mut self, len: u32, now: u64) -> u64 {
        if self.bw == 0 {
            return now + self.delay;
        }
        let r = self.free_rem + u64::from(len) * self.byte_cost;
        if r >= self.bw {
            self.free_ticks += r / self.bw;
            self.free_rem = r % self.bw;
        } else {
            self.free_rem = r;
        }
        self.free_ticks + u64::from(self.free_rem > 0) + self.delay
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
            (u64::from(len) * self.byte_cost).div_ceil(self.bw)
        }
    }

    /// Back to an idle link at `now` (instance reuse).
    pub(crate) fn reset(&mut self, now: u64) {
        self.free_ticks = now;
        self.free_rem = 0;
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
