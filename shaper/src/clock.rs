//! Time for the shaper: ticks of a monotonic counter with a known rate.
//!
//! The shaper itself never reads a clock: every call takes `now` in ticks, and the set
//! is built with the tick rate. The dataplane passes `rte_rdtsc()` with the TSC rate
//! it measured itself at start-up (`dataplane::dpdk::tsc_hz`: EAL's own figure is
//! rounded to 10 MHz); tests drive a [`SimClock`]. All rate and delay arithmetic is
//! exact integer math in ticks (see `pipe.rs`), so the rate is as exact as the tick
//! source and its stated rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A monotonic tick source.
pub trait Clock {
    /// Ticks since an arbitrary origin; never decreases.
    fn now(&self) -> u64;
    /// Ticks per second.
    fn hz(&self) -> u64;
}

/// A simulated clock for deterministic tests: time moves only when told to. `Sync`,
/// so threads of a test can share one.
#[derive(Debug)]
pub struct SimClock {
    now: AtomicU64,
    hz: u64,
}

impl SimClock {
    pub fn new(hz: u64) -> Self {
        assert!(hz > 0, "a clock needs a positive rate");
        SimClock {
            now: AtomicU64::new(0),
            hz,
        }
    }

    /// Moves to `t` (never backwards).
    pub fn set(&self, t: u64) {
        self.now.fetch_max(t, Ordering::AcqRel);
    }

    pub fn advance(&self, ticks: u64) -> u64 {
        self.now.fetch_add(ticks, Ordering::AcqRel) + ticks
    }
}

impl Clock for SimClock {
    fn now(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }
    fn hz(&self) -> u64 {
        self.hz
    }
}

/// Nanoseconds from `std::time::Instant` (for tools and tests without DPDK; the
/// dataplane uses the TSC).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
    fn hz(&self) -> u64 {
        1_000_000_000
    }
}

/// `nanos` in ticks at `hz`, rounded to the nearest tick.
pub const fn nanos_to_ticks(nanos: u64, hz: u64) -> u64 {
    ((nanos as u128 * hz as u128 + 500_000_000) / 1_000_000_000) as u64
}

/// `ticks` at `hz` in nanoseconds, rounded to the nearest nanosecond.
pub const fn ticks_to_nanos(ticks: u64, hz: u64) -> u64 {
    ((ticks as u128 * 1_000_000_000 + hz as u128 / 2) / hz as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(nanos_to_ticks(1_000, 2_500_000_000), 2_500);
        assert_eq!(ticks_to_nanos(2_500, 2_500_000_000), 1_000);
        assert_eq!(nanos_to_ticks(20_000_000, 1_000_000_000), 20_000_000);
        let c = SimClock::new(1000);
        c.set(5);
        c.set(3);
        assert_eq!(c.now(), 5);
        assert_eq!(c.advance(10), 15);
        let m = MonotonicClock::new();
        assert!(m.now() <= m.now());
    }
}
