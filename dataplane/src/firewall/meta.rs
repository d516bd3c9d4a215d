//! Header fields of an IPv4/IPv6 packet as the classifier wants them
//! (`firewall::PacketMeta`), read from the bytes once per pass. The caller has
//! checked the IP header (the pipeline's `prepare`); L4 fields are read only
//! when present, so a truncated packet just has none.
use ::firewall::packet::{frag, proto};
use ::firewall::{Family, PacketMeta, NO_IFACE};

// Inlined into the firewall pass: built in place there, the struct is not
// assembled with narrow stores and copied out with wide loads (a store-
// forwarding stall per packet that was most of a pass's cost).
#[inline(always)]
fn l4(m: &mut PacketMeta, l4: &[u8]) {
    match m.proto {
        proto::TCP if l4.len() >= 14 => {
            m.sport = u16::from_be_bytes([l4[0], l4[1]]);
            m.dport = u16::from_be_bytes([l4[2], l4[3]]);
            m.tcp_flags = l4[13];
        }
        proto::UDP | proto::SCTP if l4.len() >= 4 => {
            m.sport = u16::from_be_bytes([l4[0], l4[1]]);
            m.dport = u16::from_be_bytes([l4[2], l4[3]]);
        }
        proto::ICMP | proto::ICMP6 if l4.len() >= 2 => {
            m.icmp_type = l4[0];
            m.icmp_code = l4[1];
        }
        _ => {}
    }
}

#[inline(always)]
fn base(family: Family) -> PacketMeta {
    PacketMeta {
        family,
        rx_iface: NO_IFACE,
        tx_iface: NO_IFACE,
        ..PacketMeta::default()
    }
}

/// An IPv4 packet (from its header on, header length and total length valid).
#[inline(always)]
pub fn meta4(ip: &[u8]) -> PacketMeta {
    let mut m = base(Family::V4);
    if ip.len() < 20 {
        return m;
    }
    let ihl = (ip[0] & 0x0f) as usize * 4;
    let total = (u16::from_be_bytes([ip[2], ip[3]]) as usize).min(ip.len());
    let fo = u16::from_be_bytes([ip[6], ip[7]]);
    m.tos = ip[1];
    m.ip_len = total as u16;
    m.ttl = ip[8];
    m.proto = ip[9];
    m.src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]) as u128;
    m.dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]) as u128;
    m.frag = if fo & 0x1fff != 0 { frag::OFFSET } else { 0 }
        | if fo & 0x2000 != 0 { frag::MF } else { 0 }
        | if fo & 0x4000 != 0 { frag::DF } else { 0 }
        | if fo & 0x8000 != 0 { frag::RF } else { 0 };
    if m.frag & frag::OFFSET == 0 && ihl <= total {
        l4(&mut m, &ip[ihl..total]);
    }
    m
}

/// An IPv6 packet: the upper-layer protocol is found past the extension headers
/// (hop-by-hop, routing, destination options, fragment, AH).
pub fn meta6(ip: &[u8]) -> PacketMeta {
    meta6_at(ip).0
}

/// `meta6` and where the upper-layer header starts.
#[inline(always)]
pub fn meta6_at(ip: &[u8]) -> (PacketMeta, usize) {
    let mut m = base(Family::V6);
    if ip.len() < 40 {
        return (m, ip.len());
    }
    let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
    let end = (40 + plen).min(ip.len());
    m.tos = (ip[0] << 4) | (ip[1] >> 4);
    m.ip_len = end as u16;
    m.ttl = ip[7];
    m.src = u128::from_be_bytes(ip[8..24].try_into().unwrap_or([0; 16]));
    m.dst = u128::from_be_bytes(ip[24..40].try_into().unwrap_or([0; 16]));
    let mut nh = ip[6];
    let mut off = 40usize;
    // A bounded walk: a packet cannot make us loop.
    for _ in 0..8 {
        match nh {
            0 | 43 | 60 if off + 2 <= end => {
                nh = ip[off];
                off += (ip[off + 1] as usize + 1) * 8;
            }
            51 if off + 2 <= end => {
                nh = ip[off];
                off += (ip[off + 1] as usize + 2) * 4;
            }
            44 if off + 8 <= end => {
                let fo = u16::from_be_bytes([ip[off + 2], ip[off + 3]]);
                if fo >> 3 != 0 {
                    m.frag |= frag::OFFSET;
                }
                if fo & 1 != 0 {
                    m.frag |= frag::MF;
                }
                nh = ip[off];
                off += 8;
            }
            _ => break,
        }
    }
    m.proto = nh;
    if m.frag & frag::OFFSET == 0 && off <= end {
        l4(&mut m, &ip[off..end]);
    }
    (m, off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::firewall::packet::tcp;

    #[test]
    fn ipv4_tcp_and_fragments() {
        let mut p = [0u8; 40];
        p[0] = 0x45;
        p[1] = 0xb8;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 1, 2]);
        p[20..22].copy_from_slice(&1234u16.to_be_bytes());
        p[22..24].copy_from_slice(&23u16.to_be_bytes());
        p[33] = tcp::SYN;
        let m = meta4(&p);
        assert_eq!((m.src, m.dst), (0x0a00_0001, 0x0a00_0102));
        assert_eq!(
            (m.proto, m.sport, m.dport, m.tcp_flags),
            (6, 1234, 23, tcp::SYN)
        );
        assert_eq!((m.ttl, m.tos, m.ip_len, m.frag), (64, 0xb8, 40, 0));
        p[6] = 0x20; // MF, offset 8 bytes: a later fragment has no ports
        p[7] = 1;
        let m = meta4(&p);
        assert_eq!((m.frag, m.sport, m.dport), (frag::OFFSET | frag::MF, 0, 0));
    }

    #[test]
    fn ipv6_past_extension_headers() {
        let mut p = [0u8; 40 + 8 + 8];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&16u16.to_be_bytes());
        p[6] = 0; // hop-by-hop
        p[7] = 5;
        p[23] = 1;
        p[39] = 2;
        p[40] = 17; // next: UDP
        p[41] = 0; // 8 bytes
        p[48..50].copy_from_slice(&53u16.to_be_bytes());
        p[50..52].copy_from_slice(&5353u16.to_be_bytes());
        let m = meta6(&p);
        assert_eq!(
            (m.proto, m.sport, m.dport, m.ttl, m.ip_len),
            (17, 53, 5353, 5, 56)
        );
        assert_eq!((m.src, m.dst), (1, 2));
    }
}
