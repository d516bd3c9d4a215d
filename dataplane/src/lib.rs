//! The vnetd dataplane: safe DPDK wrappers (`dpdk`), zero-copy packet views
//! (`wire`), the per-vnet tables the control plane publishes (`tables`), the
//! packet path (`pipeline`), the per-vnet shaper stage (`shaping`), the poll-mode workers (`worker`) and the running
//! whole (`runtime`); `capture` copies a vnet's frames for `vnetctl capture`.
pub mod capture;
pub mod dpdk;
pub mod firewall;
pub mod frame;
pub mod neighbor_manager;
pub mod pipeline;
pub mod runtime;
pub mod shaping;
pub mod stats;
pub mod tables;
pub mod wire;
pub mod worker;
