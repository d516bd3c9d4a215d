//! The per-vnet shaper stage: packets a firewall rule sends to `pipe N` / `queue N`
//! are held by the vnet's `shaper::ShaperSet` and continue down the packet path
//! when they leave it (`one_pass`: they are not checked by the same rules again).
//!
//! Ownership across cores: a vnet's shaper lives on one worker, its *owner*
//! (`vnet id % workers`, stable while the vnet lives). A packet diverted on another
//! worker is handed to the owner through that worker's lock-free ring and enqueued
//! at its next poll; the owner transmits what leaves the pipe on its own TX queues.
//! So a pipe's bandwidth, delay line and schedulers have one serialization point and
//! mean exactly what they say whatever the RX worker. Cost: a ring push and pop and
//! the mbuf's cache lines moving, for packets not already on the owner; a full ring
//! drops (`pipe_handoff_full`). See `shaper/README.md`.
//!
//! Memory: each owned vnet's set preallocates its packet slots when it is built
//! (at a quiescent point after a publication, never per packet). When a vnet is
//! removed or its shaper reconfigured, the frames its pipes held are freed there and
//! then (counted `pipe_flushed`): nothing leaks.
mod host;
mod key;
pub mod stage;
mod stats;

pub use host::ShaperHost;
pub use key::flow_key;
pub use shaper::{FlowKey, Target};
pub use stats::{PipeStats, ShaperStats};

use std::net::IpAddr;

/// Where a packet continues when it leaves its pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Sent by a rule checked on input (`in`): route it, then the output side.
    Route {
        /// Interface it arrived on, in its vnet.
        iface: u16,
        l3_off: u16,
    },
    /// Sent by a rule checked on output (`out`): resolve the next hop, transmit.
    Transmit {
        iface: u16,
        neighbor: IpAddr,
        l3_off: u16,
        ethertype: u16,
    },
    /// The router's own answer (echo reply), sent by an `out` rule: back to the
    /// station it answers, whose MAC is known.
    Reply {
        iface: u16,
        mac: [u8; 6],
        l3_off: u16,
        ethertype: u16,
    },
}

/// The packet handle the shaper holds: the frame and where it goes next.
#[derive(Debug)]
pub struct Shaped<F> {
    pub frame: F,
    pub resume: Resume,
}

/// A packet on its way into a pipe, as the packet path hands it to the worker.
#[derive(Debug)]
pub struct ShapeRequest<F> {
    pub vnet_id: u64,
    pub target: Target,
    pub key: FlowKey,
    /// Length of the IP packet (what dummynet charges).
    pub len: u32,
    pub pkt: Shaped<F>,
}

/// A vnet's pipes and queues as the dataplane gets them: the shaper's validated
/// configuration. `Eq` because it was validated (no NaN anywhere).
#[derive(Debug, Clone, PartialEq)]
pub struct ShaperSpec(pub shaper::ShaperConfig);

impl Eq for ShaperSpec {}

/// The worker that owns vnet `vnet_id`'s shaper.
#[inline]
pub fn owner(vnet_id: u64, workers: usize) -> usize {
    (vnet_id % workers.max(1) as u64) as usize
}

#[cfg(test)]
mod tests;
