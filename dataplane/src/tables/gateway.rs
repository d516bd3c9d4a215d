//! A resolved gateway's L2 rewrite in one 16-byte entry per next hop, made at
//! publication: what a frame routed to it writes (destination and source MAC,
//! VLAN tag) and where it goes (port), in one load from one cache line. Without
//! it a forwarded frame read the gateway's MAC, then its egress interface (a line
//! of its own per vnet: a miss per frame with many tenants in a burst).
use super::{Interface, NeighborTable, NextHop};
use crate::dpdk::PortId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct GatewayEgress {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub port: PortId,
    /// The egress interface's VID; 0 = untagged (VID 0 is never an interface's:
    /// the config takes 1..=4094).
    vlan: u16,
}

impl GatewayEgress {
    /// Not a gateway, or a gateway whose MAC is not known yet.
    pub const NONE: GatewayEgress = GatewayEgress {
        dst_mac: [0; 6],
        src_mac: [0; 6],
        port: PortId(u16::MAX),
        vlan: 0,
    };

    /// The entry of next hop `nh`: `NONE` unless it is a gateway on an interface
    /// of `interfaces` whose MAC `neighbors` knows.
    pub fn of(nh: &NextHop, interfaces: &[Interface], neighbors: &NeighborTable) -> Self {
        let NextHop::Gateway { iface, via } = *nh else {
            return Self::NONE;
        };
        match (interfaces.get(usize::from(iface)), neighbors.get(via)) {
            (Some(i), Some(n)) => GatewayEgress {
                dst_mac: n.mac,
                src_mac: i.mac,
                port: i.port,
                vlan: i.vlan.unwrap_or(0),
            },
            _ => Self::NONE,
        }
    }

    #[inline(always)]
    pub fn is_some(&self) -> bool {
        self.port.0 != u16::MAX
    }

    /// The destination and source MAC as an Ethernet header starts.
    #[inline(always)]
    pub fn macs(&self) -> [u8; 12] {
        let (d, s) = (self.dst_mac, self.src_mac);
        [
            d[0], d[1], d[2], d[3], d[4], d[5], s[0], s[1], s[2], s[3], s[4], s[5],
        ]
    }

    #[inline(always)]
    pub fn vlan(&self) -> Option<u16> {
        (self.vlan != 0).then_some(self.vlan)
    }
}

const _: () = assert!(std::mem::size_of::<GatewayEgress>() == 16);

/// The entries of four consecutive next hops, one cache line (`align(64)`): the
/// entries of a vnet's first next hops (its own addresses, connected subnets and
/// first gateways, in the order `build_vnet` numbers them) share the first line,
/// which a burst over many tenants prefetches before it knows any frame's next
/// hop. (An `Arc<[GatewayEgress]>` started at any 16-byte boundary, so a vnet's
/// fourth entry was in the first line one time in four.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct GatewayLine(pub [GatewayEgress; GatewayLine::ENTRIES]);

impl GatewayLine {
    pub const ENTRIES: usize = 4;

    /// `entries` in lines, the last one padded with `NONE`.
    pub fn lines(entries: &[GatewayEgress]) -> Vec<GatewayLine> {
        entries
            .chunks(Self::ENTRIES)
            .map(|c| {
                let mut l = GatewayLine([GatewayEgress::NONE; Self::ENTRIES]);
                l.0[..c.len()].copy_from_slice(c);
                l
            })
            .collect()
    }
}

const _: () = assert!(std::mem::size_of::<GatewayLine>() == 64);
