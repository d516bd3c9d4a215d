//! Helpers for the shaper benchmark (`src/bin/shaper_bench.rs`).
pub mod rte_sched;
pub mod thp;
