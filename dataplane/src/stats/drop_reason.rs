//! Why a frame was dropped: small `Copy` enums indexing counter arrays.

/// Drops counted per vnet (the frame was already demultiplexed to one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Frame or header shorter than it claims, bad version/IHL, …
    Malformed,
    /// IPv4 header checksum or ICMPv6/ND checksum wrong.
    BadChecksum,
    /// Unicast frame for another MAC (ports run promiscuous).
    NotForUs,
    /// EtherType vnetd does not route (LLDP, …).
    UnsupportedEthertype,
    /// TTL / hop limit would reach zero (an ICMP time exceeded was sent if allowed).
    TtlExpired,
    /// No route to the destination (an ICMP unreachable was sent if allowed).
    NoRoute,
    /// Next hop did not answer ARP/ND in time, or the pending queue was full.
    NeighborUnresolved,
    /// Addressed to the router itself but no local service handles it.
    LocalUnhandled,
    /// Link-local or multicast traffic that must not be routed.
    NotRoutable,
    /// A frame chained over several mbufs (jumbo): not handled yet.
    MultiSegment,
    /// The NIC's TX queue refused the frame.
    TxFull,
    /// No mbuf to build an ARP/ND request or ICMP error.
    NoBuffer,
    /// Dropped by a pipe (queue full, RED, loss, CoDel, …): the reason is in the
    /// pipe's own counters.
    Pipe,
    /// A rule sent the packet to a pipe or queue this vnet does not define.
    NoSuchPipe,
    /// The ring to the worker that owns the vnet's shaper was full.
    PipeHandoffFull,
    /// Held in a pipe when the vnet was removed or its pipes reconfigured.
    PipeFlushed,
    /// A firewall rule denied it (deny, or a reject that must stay silent).
    FirewallDeny,
    /// A firewall reject/unreach/reset rule: dropped and answered.
    FirewallReject,
    /// A new flow while the vnet's state table was full.
    FirewallStatesFull,
    /// A new flow over a `limit` rule's connection limit.
    FirewallLimit,
}

impl DropReason {
    pub const COUNT: usize = 20;
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Malformed,
        DropReason::BadChecksum,
        DropReason::NotForUs,
        DropReason::UnsupportedEthertype,
        DropReason::TtlExpired,
        DropReason::NoRoute,
        DropReason::NeighborUnresolved,
        DropReason::LocalUnhandled,
        DropReason::NotRoutable,
        DropReason::MultiSegment,
        DropReason::TxFull,
        DropReason::NoBuffer,
        DropReason::Pipe,
        DropReason::NoSuchPipe,
        DropReason::PipeHandoffFull,
        DropReason::PipeFlushed,
        DropReason::FirewallDeny,
        DropReason::FirewallReject,
        DropReason::FirewallStatesFull,
        DropReason::FirewallLimit,
    ];

    /// The `reason` label in metrics.
    pub const fn label(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::NotForUs => "not_for_us",
            DropReason::UnsupportedEthertype => "unsupported_ethertype",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::NoRoute => "no_route",
            DropReason::NeighborUnresolved => "neighbor_unresolved",
            DropReason::LocalUnhandled => "local_unhandled",
            DropReason::NotRoutable => "not_routable",
            DropReason::MultiSegment => "multi_segment",
            DropReason::TxFull => "tx_full",
            DropReason::NoBuffer => "no_buffer",
            DropReason::Pipe => "pipe",
            DropReason::NoSuchPipe => "no_such_pipe",
            DropReason::PipeHandoffFull => "pipe_handoff_full",
            DropReason::PipeFlushed => "pipe_flushed",
            DropReason::FirewallDeny => "firewall_deny",
            DropReason::FirewallReject => "firewall_reject",
            DropReason::FirewallStatesFull => "firewall_states_full",
            DropReason::FirewallLimit => "firewall_limit",
        }
    }
}

/// Drops counted per port (before any vnet is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PortDropReason {
    /// No vnet interface owns this (port, VLAN).
    UnknownVlan,
    /// Not even an Ethernet header, or a stacked (QinQ) tag.
    BadL2,
}

impl PortDropReason {
    pub const COUNT: usize = 2;
    pub const ALL: [PortDropReason; Self::COUNT] =
        [PortDropReason::UnknownVlan, PortDropReason::BadL2];

    pub const fn label(self) -> &'static str {
        match self {
            PortDropReason::UnknownVlan => "unknown_vlan",
            PortDropReason::BadL2 => "bad_l2",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_once_in_discriminant_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
        for (i, r) in PortDropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
        let labels: std::collections::HashSet<_> =
            DropReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), DropReason::COUNT);
    }
}
