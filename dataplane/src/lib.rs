//! Safe DPDK wrappers, packet views, forwarding pipeline, workers.
pub mod wire;
