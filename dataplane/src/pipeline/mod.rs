//! The packet path of one worker: L2 parse and demux to a vnet, the router's
//! own protocols (ARP, ND, echo), IPv4/IPv6 forwarding, ICMP errors, neighbor
//! resolution with a pending queue, and the L2 rewrite for the egress interface.
//!
//! Generic over `Frame` so the whole path runs on byte fixtures in tests.
mod arp;
mod burst;
mod egress;
mod express;
mod filter;
mod icmp_error;
mod ingress;
mod ipv4;
mod ipv6;
mod nd;
mod neighbor_memo;
mod pending;
mod route;
mod shaped;
mod solicit;

#[cfg(test)]
mod tests;

pub(crate) use neighbor_memo::NeighborMemo;
pub use pending::Pending;
pub use shaped::divert;
pub(crate) use shaped::release;
pub use solicit::service_pending;

use crate::dpdk::PortId;
use crate::frame::Frame;
use crate::stats::VnetWorkerCounters;
use crate::tables::{Interface, NeighborEvent, Tables, Vnet};

/// Where the packet path sends its results; the worker implements it with TX
/// buffers, its mempool and its neighbor-event queue.
pub trait Output<F: Frame> {
    fn tx(&mut self, port: PortId, frame: F);
    /// A fresh frame for a packet the router originates (ARP/ND requests).
    fn alloc(&mut self) -> Option<F>;
    fn learned(&mut self, ev: NeighborEvent);
    /// A packet for a pipe or queue: the worker enqueues it into the vnet's shaper
    /// (or hands it to the worker that owns that shaper) after the burst.
    fn shape(&mut self, req: crate::shaping::ShapeRequest<F>);
}

/// What stays constant over one burst.
pub struct PathCtx<'a> {
    pub tables: &'a Tables,
    pub worker: usize,
    /// TSC at the start of the burst, and its rate.
    pub now: u64,
    pub hz: u64,
    /// `now` in milliseconds (`firewall::now_ms`): what the firewall's
    /// counters and states read, worked out once per burst (per pass, its
    /// thread-local scale was a call to `__tls_get_addr`).
    pub now_ms: u64,
}

/// A frame after demux: which vnet and interface it arrived on.
pub(crate) struct Ingress<'a> {
    pub vnet: &'a Vnet,
    /// This worker's counter slot of `vnet`, found once per frame in the demux:
    /// every later stage counts into it, and reaching it through the vnet is four
    /// dependent loads (vnet → forwarding part → counters → slot) each time.
    pub counters: &'a VnetWorkerCounters,
    /// The interface's index in its vnet (the firewall's interface id); a valid
    /// index into `vnet.fwd.interfaces`.
    pub iface_index: u16,
    pub l3_off: usize,
    /// Came out of a pipe: `one_pass`, the input rules must not be checked again
    /// (they would send it straight back). Read by the firewall's input hook.
    pub from_pipe: bool,
}

impl<'a> Ingress<'a> {
    /// The receiving interface. Found when asked (ARP, ND, the router's own
    /// replies and errors), not in the demux: forwarding reads nothing of it but
    /// its MAC, which the demux slot carries, and with many tenants in a burst its
    /// line and the forwarding part's were two misses per frame.
    #[inline]
    pub fn iface(&self) -> &'a Interface {
        &self.vnet.fwd.interfaces[usize::from(self.iface_index)]
    }
}

/// The MAC of the station that sent `frame` (its Ethernet source), for answers
/// sent back to it: ICMP errors, echo replies, resets, neighbor advertisements.
///
/// Read from the frame when needed rather than carried with it: nothing before
/// the L2 rewrite at TX edits the Ethernet header (answers are built from the
/// L3 offset on, packets wait in pipes as received), and copying six bytes into
/// and out of the burst's lanes for every frame cost ~17 instructions per
/// forwarded packet for the few that are answered.
#[inline]
pub(super) fn sender_mac(data: &[u8]) -> [u8; 6] {
    let mut mac = [0u8; 6];
    // The demux dropped frames shorter than an Ethernet header.
    if let Some(src) = data.get(6..12) {
        mac.copy_from_slice(src);
    }
    mac
}

/// Processes received frames to completion, stage by stage (see `burst`); every
/// slot is empty afterwards.
#[inline]
pub fn handle_burst<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    port: PortId,
    frames: &mut [Option<F>],
) {
    burst::run(ctx, pending, out, port, frames)
}

/// Processes one received frame to completion (a burst of one).
pub fn handle<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    port: PortId,
    frame: F,
) {
    burst::run(ctx, pending, out, port, &mut [Some(frame)])
}
