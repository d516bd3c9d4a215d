//! LPM benchmark helpers: the RouteViews tables (or a synthetic stand-in), key sets,
//! timing, and thin owners of DPDK's rte_lpm / rte_fib / rte_lpm6 / rte_fib6.

pub mod dpdk;
pub mod heap;
pub mod rivals;
pub mod tables;

use std::time::{Duration, Instant};

/// Median of `runs` timings of `f`, in million operations per second for `ops`.
pub fn median_rate(runs: usize, ops: usize, mut f: impl FnMut() -> u64) -> f64 {
    let mut rates: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            ops as f64 / t.elapsed().as_secs_f64() / 1e6
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Median of `runs` timings of `f`.
pub fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
