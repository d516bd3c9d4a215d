//! What the firewall sees of a packet: a small `Copy` struct of header fields that
//! the dataplane fills once per packet. The firewall never sees an mbuf.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A small integer naming one interface of the vnet. Rules name interfaces; the
/// compiler resolves names to ids (see [`crate::Interfaces`]).
pub type IfaceId = u16;
/// "No interface": the receive interface of a locally generated packet, the
/// transmit interface of an "in" pass.
pub const NO_IFACE: IfaceId = u16::MAX;

/// IP protocol numbers the rule language knows by name.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMP6: u8 = 58;
    pub const OSPF: u8 = 89;
    pub const PIM: u8 = 103;
    pub const VRRP: u8 = 112;
    pub const SCTP: u8 = 132;

    /// Protocols whose header carries 16-bit ports that `ports` rules look at.
    pub const fn has_ports(p: u8) -> bool {
        matches!(p, TCP | UDP | SCTP)
    }
}

/// TCP header flag bits, as on the wire.
pub mod tcp {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Fragmentation bits of [`PacketMeta::frag`].
pub mod frag {
    /// Non-zero fragment offset: not the first fragment (IPv4 or IPv6). Such a
    /// packet carries no L4 header, so no port, TCP flag or ICMP type matches it.
    pub const OFFSET: u8 = 0x01;
    /// IPv4 "more fragments" (or the IPv6 fragment header's M bit).
    pub const MF: u8 = 0x02;
    /// IPv4 "don't fragment".
    pub const DF: u8 = 0x04;
    /// IPv4 reserved bit.
    pub const RF: u8 = 0x08;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Family {
    #[default]
    V4,
    V6,
}

/// Which pass of the firewall this is: `In` on the receiving interface, `Out` on
/// the transmitting one. A forwarded packet is checked twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    In,
    Out,
}

/// How many tags ([`crate::Rule`] `tag N`) one packet can carry at once. A `tag`
/// beyond this is ignored (ipfw would allocate another mbuf tag; we do not
/// allocate per packet).
pub const MAX_TAGS: usize = 6;

/// The set of ipfw tags (1..=65534) attached to a packet. Tags are sticky: the
/// dataplane carries the set from the "in" pass to the "out" pass. With it
/// goes what the "in" pass decided when the rule set's "out" pass is bound
/// to decide the same (see `RuleSet::remember`): no rule reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Tags {
    len: u8,
    tags: [u16; MAX_TAGS],
    /// Bytes the allowing rule counted on the "in" pass.
    in_bytes: u16,
    /// Index + 1 of the rule that allowed the packet on the "in" pass; 0:
    /// nothing remembered.
    in_rule: u32,
}

impl Tags {
    pub const EMPTY: Tags = Tags {
        len: 0,
        tags: [0; MAX_TAGS],
        in_bytes: 0,
        in_rule: 0,
    };

    /// Remembers that the "in" pass allowed the packet by rule `index`
    /// counting `bytes` (`RuleSet::remember` decides when that may be
    /// replayed).
    pub(crate) fn set_in_verdict(&mut self, index: u32, bytes: u16) {
        self.in_rule = index.wrapping_add(1);
        self.in_bytes = bytes;
    }

    /// (rule index, bytes) of [`Self::set_in_verdict`], if any.
    #[inline]
    pub(crate) fn in_verdict(&self) -> Option<(u32, u16)> {
        (self.in_rule != 0).then(|| (self.in_rule - 1, self.in_bytes))
    }

    pub fn as_slice(&self) -> &[u16] {
        &self.tags[..self.len as usize]
    }

    pub fn contains(&self, tag: u16) -> bool {
        self.as_slice().contains(&tag)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `tag`; false when the set is full (the tag is then not added).
    pub fn insert(&mut self, tag: u16) -> bool {
        if self.contains(tag) {
            return true;
        }
        if self.len as usize == MAX_TAGS {
            return false;
        }
        self.tags[self.len as usize] = tag;
        self.len += 1;
        true
    }

    pub fn remove(&mut self, tag: u16) {
        let n = self.len as usize;
        if let Some(i) = self.tags[..n].iter().position(|&t| t == tag) {
            self.tags[i] = self.tags[n - 1];
            self.tags[n - 1] = 0;
            self.len -= 1;
        }
    }
}

/// The fields of an IPv4 packet that the classifier's packed regions test,
/// which is all the rule set's IPv4 shortcut reads besides the pass and
/// the length (`RuleSet::decide`). The dataplane reads it from the header
/// in a few loads, without the rest of [`PacketMeta`], and builds that only
/// when no shortcut decides. Each field is what the packet's `PacketMeta`
/// holds ([`PacketMeta::head4`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Head4 {
    /// Source and destination (host order).
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    /// Fragment bits ([`frag`]).
    pub frag: u8,
}

/// The header fields of one packet, as the firewall needs them. Built by the
/// dataplane from its parsed views; `Copy` and 64 bytes, so a burst of them
/// lives in a caller-owned array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PacketMeta {
    pub family: Family,
    /// Source address; an IPv4 address sits in the low 32 bits (host order).
    pub src: u128,
    /// Destination address; an IPv4 address sits in the low 32 bits (host order).
    pub dst: u128,
    /// The upper-layer protocol (for IPv6: after the extension headers).
    pub proto: u8,
    /// Ports of TCP/UDP/SCTP first fragments; 0 otherwise.
    pub sport: u16,
    pub dport: u16,
    /// TCP flags ([`tcp`]); 0 for other protocols.
    pub tcp_flags: u8,
    /// ICMP or ICMPv6 type and code; 0 for other protocols.
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// IPv4 total length, or IPv6 payload length + 40: what byte counters add.
    pub ip_len: u16,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 TOS byte or IPv6 traffic class (DSCP in the upper 6 bits).
    pub tos: u8,
    /// Fragment bits ([`frag`]).
    pub frag: u8,
    pub direction: Direction,
    /// Interface the packet was received on ([`NO_IFACE`] if locally generated).
    pub rx_iface: IfaceId,
    /// Interface the packet leaves by: only known on the "out" pass.
    pub tx_iface: IfaceId,
    /// Tags attached by earlier passes.
    pub tags: Tags,
    /// Per-packet random bits (e.g. the RSS hash or a PRNG draw) that `prob`
    /// rules compare with their probability, so that a verdict is a pure
    /// function of the PacketMeta.
    pub entropy: u32,
}

impl PacketMeta {
    /// A packet between two addresses of the same family (IPv4 mapped into the
    /// low 32 bits), received on no interface, direction `in`.
    pub fn new(src: IpAddr, dst: IpAddr, proto: u8) -> Self {
        let (family, s, d) = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                (Family::V4, u32::from(s) as u128, u32::from(d) as u128)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => (Family::V6, u128::from(s), u128::from(d)),
            (IpAddr::V4(s), IpAddr::V6(d)) => {
                (Family::V6, u128::from(s.to_ipv6_mapped()), u128::from(d))
            }
            (IpAddr::V6(s), IpAddr::V4(d)) => {
                (Family::V6, u128::from(s), u128::from(d.to_ipv6_mapped()))
            }
        };
        PacketMeta {
            family,
            src: s,
            dst: d,
            proto,
            ip_len: 64,
            ttl: 64,
            rx_iface: NO_IFACE,
            tx_iface: NO_IFACE,
            ..PacketMeta::default()
        }
    }

    pub fn v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8) -> Self {
        Self::new(src.into(), dst.into(), proto)
    }

    pub fn v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8) -> Self {
        Self::new(src.into(), dst.into(), proto)
    }

    pub fn with_ports(mut self, sport: u16, dport: u16) -> Self {
        self.sport = sport;
        self.dport = dport;
        self
    }

    pub fn with_tcp_flags(mut self, flags: u8) -> Self {
        self.tcp_flags = flags;
        self
    }

    pub fn with_len(mut self, ip_len: u16) -> Self {
        self.ip_len = ip_len;
        self
    }

    /// The "in" pass on interface `rx`.
    #[inline]
    pub fn inbound(mut self, rx: IfaceId) -> Self {
        self.set_inbound(rx);
        self
    }

    /// The "out" pass, leaving by `tx`, having been received on `rx`
    /// ([`NO_IFACE`] when locally generated).
    #[inline]
    pub fn outbound(mut self, rx: IfaceId, tx: IfaceId) -> Self {
        self.set_outbound(rx, tx);
        self
    }

    /// [`Self::inbound`] in place (the packet path: no copy of the struct).
    #[inline]
    pub fn set_inbound(&mut self, rx: IfaceId) {
        self.direction = Direction::In;
        self.rx_iface = rx;
        self.tx_iface = NO_IFACE;
    }

    /// [`Self::outbound`] in place.
    #[inline]
    pub fn set_outbound(&mut self, rx: IfaceId, tx: IfaceId) {
        self.direction = Direction::Out;
        self.rx_iface = rx;
        self.tx_iface = tx;
    }

    /// The fields [`Head4`] carries (of an IPv4 packet).
    #[inline]
    pub fn head4(&self) -> Head4 {
        Head4 {
            src: self.src as u32,
            dst: self.dst as u32,
            sport: self.sport,
            dport: self.dport,
            proto: self.proto,
            frag: self.frag,
        }
    }

    pub fn src_ip(&self) -> IpAddr {
        addr_of(self.family, self.src)
    }

    pub fn dst_ip(&self) -> IpAddr {
        addr_of(self.family, self.dst)
    }

    /// Ports as rules see them: only TCP/UDP/SCTP first fragments have ports.
    pub(crate) fn has_ports(&self) -> bool {
        proto::has_ports(self.proto) && self.frag & frag::OFFSET == 0
    }

    /// Whether the L4 header is there (not a later fragment).
    pub(crate) fn has_l4(&self) -> bool {
        self.frag & frag::OFFSET == 0
    }
}

pub(crate) fn addr_of(family: Family, a: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(a as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_insert_remove() {
        let mut t = Tags::EMPTY;
        for i in 1..=MAX_TAGS as u16 {
            assert!(t.insert(i));
        }
        assert!(!t.insert(100));
        assert!(t.insert(3), "already there");
        t.remove(2);
        assert!(!t.contains(2) && t.contains(MAX_TAGS as u16));
        assert!(t.insert(100));
    }

    #[test]
    fn meta_is_small() {
        assert!(std::mem::size_of::<PacketMeta>() <= 80);
    }
}
