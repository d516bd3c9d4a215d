//! The header fields dummynet masks and FQ-CoDel look at (and the ECN code point
//! FQ-CoDel's `ecn` needs), read once per diverted
//! packet from its (already validated) IP header.
use crate::wire::{EtherType, IpProtocol, Ipv4Packet, Ipv6Packet};
use shaper::FlowKey;

/// The flow key of the IP packet at `l3_off`; ports only for the first fragment of
/// TCP/UDP/SCTP. Not IP or truncated: the empty key (every mask sees zeros).
pub fn flow_key(data: &[u8], l3_off: usize, ethertype: u16) -> FlowKey {
    let Some(l3) = data.get(l3_off..) else {
        return FlowKey::default();
    };
    let ports = |l4: Option<&[u8]>| match l4 {
        Some(b) if b.len() >= 4 => (
            u16::from_be_bytes([b[0], b[1]]),
            u16::from_be_bytes([b[2], b[3]]),
        ),
        _ => (0, 0),
    };
    let has_ports = |p: u8| p == IpProtocol::TCP || p == IpProtocol::UDP || p == 132;
    match ethertype {
        EtherType::IPV4 => match Ipv4Packet::new_checked(l3) {
            Ok(p) => {
                let proto = p.protocol();
                let (sp, dp) = if has_ports(proto) && p.frag_offset() == 0 {
                    ports(l3.get(p.header_len()..))
                } else {
                    (0, 0)
                };
                FlowKey::v4(p.src_addr(), p.dst_addr(), proto, sp, dp)
                    .with_ecn(shaper::ecn::codepoint(l3))
            }
            Err(_) => FlowKey::default(),
        },
        EtherType::IPV6 => match Ipv6Packet::new_checked(l3) {
            Ok(p) => {
                let proto = p.next_header();
                let (sp, dp) = if has_ports(proto) {
                    ports(l3.get(40..))
                } else {
                    (0, 0)
                };
                FlowKey::v6(p.src_addr(), p.dst_addr(), proto, sp, dp)
                    .with_ecn(shaper::ecn::codepoint(l3))
            }
            Err(_) => FlowKey::default(),
        },
        _ => FlowKey::default(),
    }
}
