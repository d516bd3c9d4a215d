//! What the packet path reads: an immutable snapshot of every vnet's
//! interfaces, routes and neighbors, built by the control plane and published
//! read-copy-update style (see `publish`).
mod assemble;
mod build;
mod demux;
mod gateway;
mod interface;
mod neighbor;
mod nexthop;
mod publish;
mod update;

pub use assemble::{assemble, AssembleSummary};
pub use build::{build_vnet, BuildError, InterfaceSpec, VnetSpec};
pub use demux::{Demux, DemuxEntry, DemuxSlot, PortDemux};
pub use gateway::{GatewayEgress, GatewayLine};
pub use interface::{is_link_local6, same_subnet4, same_subnet6, Interface};
pub use neighbor::{FastHash, NeighborEntry, NeighborEvent, NeighborTable};
pub use nexthop::NextHop;
pub use publish::{TablePublisher, TableReader};
pub use update::update_routes;

use crate::dpdk::PortId;
use crate::stats::{PortCounters, VnetCounters, VnetSlots, VnetWorkerCounters};
use std::sync::Arc;

/// One published version of the whole dataplane state.
pub struct Tables {
    /// Increases with every publication; workers compare it at the top of their loop.
    pub generation: u64,
    pub demux: Arc<Demux>,
    /// Indexed by the vnet index stored in `DemuxEntry`.
    pub vnets: Vec<Vnet>,
    /// Indexed by DPDK port id.
    pub ports: Arc<Vec<Option<PortEntry>>>,
}

impl Tables {
    pub fn empty() -> Self {
        Tables {
            generation: 0,
            demux: Arc::default(),
            vnets: Vec::new(),
            ports: Arc::default(),
        }
    }

    #[inline]
    pub fn port(&self, id: PortId) -> Option<&PortEntry> {
        self.ports.get(id.0 as usize).and_then(|p| p.as_ref())
    }

    pub fn vnet_by_id(&self, id: u64) -> Option<(usize, &Vnet)> {
        self.vnets.iter().enumerate().find(|(_, v)| v.fwd.id == id)
    }
}

pub struct PortEntry {
    pub name: String,
    pub id: PortId,
    pub mac: [u8; 6],
    pub counters: Arc<PortCounters>,
}

/// A vnet as the packet path sees it: the forwarding part (changes with
/// config) and the neighbor part (changes with ARP/ND) are published apart,
/// so learning a MAC does not copy a routing table.
///
/// Built by `Vnet::new` only: a new `fwd` or `neighbors` means a new `Vnet`, so
/// that the gateway MACs derived from both stay true.
///
/// What a forwarded frame reads is in the first cache line (`repr(C,
/// align(64))`): with many tenants in a burst, this line in the vnets array is
/// the first miss of a frame, and it answers everything the forwarding path asks
/// of the tenant (firewall or not, gateways' egress entries, compact IPv4 table,
/// this worker's counter slot) without a further load. The second line holds
/// what only the slow paths read.
#[derive(Clone)]
#[repr(C, align(64))]
pub struct Vnet {
    pub fwd: Arc<VnetFwd>,
    /// The L2 rewrite of each gateway next hop, indexed like `fwd.nexthops`:
    /// `NONE` for other kinds and for gateways not resolved yet. The packet path
    /// reads a gateway's MAC, source MAC, VLAN and port with one load instead of a
    /// hash lookup and the egress interface per frame (with many tenants, a few
    /// cache misses per frame). In lines of four (`GatewayLine`).
    gateways: Arc<[GatewayLine]>,
    /// `fwd.fib4_compact`, here in the vnets array itself: a burst spread over
    /// many tenants finds the table's root one load from the `Vnet` it already
    /// read for the demux (not through `fwd` and the `Fib4`).
    pub compact4: Option<lpm::Compact4>,
    /// `fwd.counters`' slots, for the same reason.
    slots: VnetSlots,
    /// `fwd.firewall`, for the same reason: every frame asks whether there is one
    /// (twice), and with the answer here a vnet without one needs nothing of its
    /// forwarding part's line on the way of a forwarded frame.
    firewall: Option<Arc<crate::firewall::VnetFirewall>>,
    // The second line.
    pub neighbors: Arc<NeighborTable>,
}

const _: () = {
    assert!(std::mem::offset_of!(Vnet, firewall) < 64);
    assert!(std::mem::offset_of!(Vnet, neighbors) >= 64);
};

impl Vnet {
    pub fn new(fwd: Arc<VnetFwd>, neighbors: Arc<NeighborTable>) -> Self {
        let entries: Vec<_> = fwd
            .nexthops
            .iter()
            .map(|nh| GatewayEgress::of(nh, &fwd.interfaces, &neighbors))
            .collect();
        let gateways = GatewayLine::lines(&entries).into();
        Vnet {
            compact4: fwd.fib4_compact.clone(),
            slots: fwd.counters.slots(),
            firewall: fwd.firewall.clone(),
            fwd,
            neighbors,
            gateways,
        }
    }

    /// Next hop `nh`'s L2 rewrite when it is a gateway whose MAC `neighbors`
    /// knows; `None` otherwise.
    #[inline(always)]
    pub fn gateway(&self, nh: lpm::NextHop) -> Option<&GatewayEgress> {
        let i = nh as usize;
        (self.gateways.get(i / GatewayLine::ENTRIES))
            .map(|l| &l.0[i % GatewayLine::ENTRIES])
            .filter(|g| g.is_some())
    }

    /// What `neighbors` says about the gateway of next hop `nh`; `None` when it is
    /// unknown there or `nh` is no gateway.
    #[inline(always)]
    pub fn gateway_mac(&self, nh: lpm::NextHop) -> Option<[u8; 6]> {
        self.gateway(nh).map(|g| g.dst_mac)
    }

    /// The firewall (`fwd.firewall`); `None`: no rules and default allow.
    #[inline(always)]
    pub fn firewall(&self) -> Option<&crate::firewall::VnetFirewall> {
        self.firewall.as_deref()
    }

    /// Worker `w`'s counters of this vnet (`fwd.counters.worker(w)`, one load nearer).
    #[inline(always)]
    pub fn counters(&self, w: usize) -> &VnetWorkerCounters {
        &self.slots[w]
    }

    /// The entry `gateway(nh)` reads, to prefetch it (any pointer is fine).
    #[inline(always)]
    pub fn gateway_slot(&self, nh: lpm::NextHop) -> *const GatewayEgress {
        self.gateways
            .as_ptr()
            .cast::<GatewayEgress>()
            .wrapping_add(nh as usize)
    }
}

/// `repr(C, align(64))`: what a frame reads here (interfaces, next hops, firewall,
/// counters) comes first and fills the first cache line, so that a burst over many
/// tenants prefetches one line per vnet, not fields spread over three.
#[repr(C, align(64))]
pub struct VnetFwd {
    pub interfaces: Vec<Interface>,
    /// Indexed by the next-hop values stored in the FIBs.
    pub nexthops: Vec<NextHop>,
    /// `None`: no rules and default allow (the packet path skips it).
    pub firewall: Option<Arc<crate::firewall::VnetFirewall>>,
    pub counters: Arc<VnetCounters>,
    /// Unique for the process lifetime (a recreated vnet gets a new id).
    pub id: u64,
    pub name: String,
    /// Shared between versions while unchanged (a route edit of one family copies
    /// only that family's table; see `update`).
    pub fib4: Arc<lpm::Fib4>,
    pub fib6: Arc<lpm::Fib6>,
    /// `fib4` laid out for lookups across many tenants in one burst
    /// (`lpm::lookup_each4`), when it is small enough (`Fib4::compact`); built
    /// with `fib4`, shared while `fib4` is.
    pub fib4_compact: Option<lpm::Compact4>,
    /// Per-pipe counters, written by the worker that owns the vnet's shaper.
    pub shaper_stats: Option<Arc<crate::shaping::ShaperStats>>,
    /// What it was built from: a later publication with an equal spec reuses
    /// this whole `VnetFwd` (tables, counters, and the frames waiting on it).
    pub spec: Arc<VnetSpec>,
}
