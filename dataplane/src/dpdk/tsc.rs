//! The time stamp counter: the packet path's clock (pipes, firewall state ages,
//! rate limits, captures), and how many ticks make a second.
//!
//! `rte_get_tsc_hz` is not exact: where the CPU does not report its TSC rate
//! (AMD, most VMs), EAL measures it briefly and rounds to the nearest 10 MHz. Here
//! that turned 2,596.14 MHz into 2,600 MHz, and every pipe ran 0.15% slow (a
//! 1 Gbit/s pipe delivered 998.3 Mbit/s). vnetd measures the rate itself once,
//! against the monotonic clock over 100 ms (error ~10 ppm), and keeps EAL's value
//! only when its own measurement fails or disagrees with it by more than 2%.
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// TSC cycles since an arbitrary origin (cheap, monotonic on invariant-TSC CPUs).
#[inline]
pub fn tsc() -> u64 {
    // SAFETY: reads the time stamp counter; no memory is touched.
    unsafe { dpdk_sys::rte_rdtsc() }
}

/// TSC ticks per second, measured once (the first call takes ~100 ms: `Eal::init`
/// makes it, so the packet path never does).
pub fn tsc_hz() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    *HZ.get_or_init(|| {
        // SAFETY: plain getter; EAL falls back to a measured value before init.
        let eal = unsafe { dpdk_sys::rte_get_tsc_hz() };
        choose(eal, measure(eal, Duration::from_millis(100)))
    })
}

/// Our measurement unless it is missing or more than 2% away from EAL's.
fn choose(eal: u64, measured: Option<u64>) -> u64 {
    match measured {
        Some(m) if eal == 0 || m.abs_diff(eal) <= eal / 50 => m,
        _ => eal,
    }
}

/// TSC ticks per second of the monotonic clock over `window`; `None` when no
/// clean reading could be had (the thread kept being preempted between the
/// counter and the clock).
fn measure(eal_hz: u64, window: Duration) -> Option<u64> {
    let start = paired(eal_hz)?;
    std::thread::sleep(window);
    let end = paired(eal_hz)?;
    let secs = end.1.checked_duration_since(start.1)?.as_secs_f64();
    let ticks = end.0.checked_sub(start.0)?;
    (secs > 0.0).then(|| (ticks as f64 / secs).round() as u64)
}

/// A (TSC, clock) pair read back to back: the counter on both sides of the clock
/// read, retried until the two are within ~20 µs (a preemption in between would
/// pair a clock reading with the wrong tick count).
fn paired(eal_hz: u64) -> Option<(u64, Instant)> {
    let limit = (eal_hz / 50_000).max(1_000);
    for _ in 0..100 {
        let a = tsc();
        let t = Instant::now();
        let b = tsc();
        if b >= a && b - a <= limit {
            return Some((a + (b - a) / 2, t));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eal_value_is_kept_when_the_measurement_fails_or_disagrees() {
        assert_eq!(choose(2_600_000_000, Some(2_596_140_000)), 2_596_140_000);
        assert_eq!(choose(2_600_000_000, None), 2_600_000_000);
        // 10% away: something went wrong with the measurement, not with EAL.
        assert_eq!(choose(2_600_000_000, Some(2_340_000_000)), 2_600_000_000);
        assert_eq!(choose(0, Some(2_596_140_000)), 2_596_140_000);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn measured_rate_agrees_with_the_clock() {
        // No EAL here: the unit for "back to back" is a 1 GHz guess.
        let hz = measure(1_000_000_000, Duration::from_millis(50)).expect("a clean reading");
        // Then 50 ms of the clock must be about 50 ms of counted ticks.
        let (t0, c0) = (Instant::now(), tsc());
        std::thread::sleep(Duration::from_millis(50));
        let (t1, c1) = (Instant::now(), tsc());
        let secs = (c1 - c0) as f64 / hz as f64;
        let clock = (t1 - t0).as_secs_f64();
        // Loose: a loaded CI machine may preempt between the two reads.
        assert!(
            (secs / clock - 1.0).abs() < 0.05,
            "{secs} s by the TSC vs {clock} s"
        );
    }
}
