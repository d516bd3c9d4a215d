//! Shared helpers for vnetd's benchmarks (binaries under src/bin). Benchmarks
//! never run as timed assertions in CI; they print medians and ratios against a
//! baseline measured in the same run.
pub mod firewall;
pub mod latency;
pub mod lpm;
pub mod shaper;
