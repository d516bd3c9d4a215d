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
use crate::stats::{PortCounters, VnetCounters, VnetWorkerCounters};
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
/// the first miss of a frame, and it answers everything an IPv4 frame of a vnet
/// with a compact table and no firewall asks of the tenant (the compact IPv4
/// table and its root, whether there is a firewall, and the egress entry of its
/// first resolved gateway, `hot`) without a further load: such a frame's lookup
/// reads one line of its table, the leaf. (The express lane counts it in this
/// worker's dense array of sent frames, by the index in the demux slot,
/// `DemuxSlot::sent`; other paths find the counters beside the slot,
/// `PortDemux::counters`.) The second line holds what frames of
/// other kinds read (the forwarding part, the other gateways' entries, the
/// firewall) and the neighbor table: the packet path prefetches it only for
/// them (`ingress::warm`).
#[derive(Clone)]
#[repr(C, align(64))]
pub struct Vnet {
    /// `compact4`'s root with 16-bit separators (`Compact4::root16`), when
    /// `root16` says it has one: a frame finds its leaf from this line, and the
    /// table's root line is not read.
    root: lpm::Root16,
    /// `gateways`' entry of `hot_nh`, in this line: a tenant's traffic mostly
    /// leaves by one gateway, and a frame routed there reads no line of
    /// `gateways` (a miss per frame with many tenants in a burst).
    hot: GatewayEgress,
    /// `fwd.fib4_compact`, here in the vnets array itself: a burst spread over
    /// many tenants finds the table one load from the `Vnet` it already read for
    /// the demux (not through `fwd` and the `Fib4`). A thin pointer.
    pub compact4: Option<lpm::Compact4>,
    /// The next hop whose entry `hot` is: the first gateway next hop (IPv4 ones
    /// first) whose MAC is known; `lpm::NO_ROUTE` when there is none (`hot` is
    /// then `GatewayEgress::NONE`).
    hot_nh: lpm::NextHop,
    /// Whether `root` is `compact4`'s.
    root16: bool,
    /// Whether `firewall` is set: every frame asks (twice), and with the answer
    /// here a vnet without one reads nothing of the second line on the way of a
    /// forwarded frame.
    has_firewall: bool,
    /// Whether `gateways` holds resolved IPv4 gateways' entries besides
    /// `hot_nh`'s: IPv4 frames may then read the second line for them. (Frames of
    /// other families read the second line anyway.)
    cold_gateways4: bool,
    // The second line.
    pub fwd: Arc<VnetFwd>,
    /// The L2 rewrite of each gateway next hop, indexed like `fwd.nexthops`:
    /// `NONE` for other kinds and for gateways not resolved yet. The packet path
    /// reads a gateway's MAC, source MAC, VLAN and port with one load instead of a
    /// hash lookup and the egress interface per frame (with many tenants, a few
    /// cache misses per frame). In lines of four (`GatewayLine`).
    gateways: Arc<[GatewayLine]>,
    pub neighbors: Arc<NeighborTable>,
    /// `fwd.firewall` (read only when `has_firewall`).
    firewall: Option<Arc<crate::firewall::VnetFirewall>>,
}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(Vnet, root) == 0);
    assert!(offset_of!(Vnet, hot) + size_of::<GatewayEgress>() <= 64);
    assert!(offset_of!(Vnet, compact4) + size_of::<Option<lpm::Compact4>>() <= 64);
    assert!(offset_of!(Vnet, hot_nh) < 64 && offset_of!(Vnet, cold_gateways4) < 64);
    assert!(offset_of!(Vnet, root16) < 64 && offset_of!(Vnet, has_firewall) < 64);
    assert!(offset_of!(Vnet, fwd) >= 64 && offset_of!(Vnet, firewall) >= 64);
    assert!(size_of::<Vnet>() == 128);
};

impl Vnet {
    pub fn new(fwd: Arc<VnetFwd>, neighbors: Arc<NeighborTable>) -> Self {
        let entries: Vec<_> = fwd
            .nexthops
            .iter()
            .map(|nh| GatewayEgress::of(nh, &fwd.interfaces, &neighbors))
            .collect();
        // Indices of the resolved gateways of a family.
        let resolved = |v4: bool| {
            (fwd.nexthops.iter().zip(&entries).enumerate())
                .filter(move |(_, (nh, g))| {
                    g.is_some() && matches!(nh, NextHop::Gateway { via, .. } if via.is_ipv4() == v4)
                })
                .map(|(i, _)| i)
        };
        let hot = resolved(true).next().or_else(|| resolved(false).next());
        let cold_gateways4 = resolved(true).any(|i| Some(i) != hot);
        let gateways = GatewayLine::lines(&entries).into();
        let root = fwd.fib4_compact.as_ref().and_then(|c| c.root16());
        Vnet {
            root: root.unwrap_or(lpm::Root16::NONE),
            root16: root.is_some(),
            compact4: fwd.fib4_compact.clone(),
            has_firewall: fwd.firewall.is_some(),
            firewall: fwd.firewall.clone(),
            // Next hop indices are u32s in the FIBs.
            hot_nh: hot.map_or(lpm::NO_ROUTE, |i| i as lpm::NextHop),
            cold_gateways4,
            hot: hot.map_or(GatewayEgress::NONE, |i| entries[i]),
            fwd,
            neighbors,
            gateways,
        }
    }

    /// The first level of `key`'s lookup in the compact IPv4 table, when the
    /// vnet has one: its leaf, whose line this prefetches (`compact4`'s
    /// `lookup_leaf` finishes it). From the root in this line, or from the
    /// table's root line for a table whose leaves are not cut at /16s.
    #[inline(always)]
    pub fn compact_leaf(&self, key: u32) -> Option<lpm::CompactLeaf> {
        let c = self.compact4.as_ref()?;
        Some(if self.root16 {
            c.leaf_by(&self.root, key)
        } else {
            c.leaf(key)
        })
    }

    /// The compact table's root line, to prefetch it, when `compact_leaf` reads
    /// it (a compact table without a root in this line).
    #[inline(always)]
    pub fn compact_root_line(&self) -> Option<*const u8> {
        self.compact4
            .as_ref()
            .filter(|_| !self.root16)
            .map(|c| c.root_ptr())
    }

    /// Next hop `nh`'s L2 rewrite when it is a gateway whose MAC `neighbors`
    /// knows; `None` otherwise.
    #[inline(always)]
    pub fn gateway(&self, nh: lpm::NextHop) -> Option<&GatewayEgress> {
        let g = if nh == self.hot_nh {
            &self.hot
        } else {
            let i = nh as usize;
            (self.gateways.get(i / GatewayLine::ENTRIES)).map(|l| &l.0[i % GatewayLine::ENTRIES])?
        };
        Some(g).filter(|g| g.is_some())
    }

    /// What `neighbors` says about the gateway of next hop `nh`; `None` when it is
    /// unknown there or `nh` is no gateway.
    #[inline(always)]
    pub fn gateway_mac(&self, nh: lpm::NextHop) -> Option<[u8; 6]> {
        self.gateway(nh).map(|g| g.dst_mac)
    }

    /// Whether an IPv4 frame may read a gateway entry outside the first line (in
    /// one of `gateways`' own lines, through the second).
    #[inline(always)]
    pub fn cold_gateways4(&self) -> bool {
        self.cold_gateways4
    }

    /// The firewall (`fwd.firewall`); `None`: no rules and default allow. Reads
    /// the second line only when there is one.
    #[inline(always)]
    pub fn firewall(&self) -> Option<&crate::firewall::VnetFirewall> {
        if self.has_firewall {
            self.firewall.as_deref()
        } else {
            None
        }
    }

    /// Worker `w`'s counters of this vnet, through the forwarding part (the
    /// second line). The packet path finds them beside the frame's demux slot
    /// instead (`PortDemux::counters`), one load from the slot, which saves
    /// the `Vnet`'s first line the room.
    #[inline(always)]
    pub fn counters(&self, w: usize) -> &VnetWorkerCounters {
        self.fwd.counters.worker(w)
    }

    /// Whether there is a firewall, from the first line alone.
    #[inline(always)]
    pub fn has_firewall(&self) -> bool {
        self.has_firewall
    }

    /// The entry `gateway(nh)` reads, to prefetch it (any pointer is fine); for
    /// another next hop than the first line's, it reads the second line.
    #[inline(always)]
    pub fn gateway_slot(&self, nh: lpm::NextHop) -> *const GatewayEgress {
        if nh == self.hot_nh {
            return &self.hot;
        }
        self.gateways
            .as_ptr()
            .cast::<GatewayEgress>()
            .wrapping_add(nh as usize)
    }

    /// The second line of the `Vnet` at `v` (the forwarding part, the other
    /// gateways, the neighbor table), to prefetch it (any pointer is fine).
    #[inline(always)]
    pub fn second_line(v: *const Vnet) -> *const u8 {
        v.cast::<u8>().wrapping_add(64)
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
