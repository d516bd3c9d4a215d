//! Header fields of an IPv4/IPv6 packet as the classifier wants them
//! (`firewall::PacketMeta`), read from the bytes once per pass. The caller has
//! checked the IP header (the pipeline's `prepare`); L4 fields are read only
//! when present, so a truncated packet just has none.
use ::firewall::packet::{frag, proto};
use ::firewall::{Family, Head4, PacketMeta, NO_IFACE};

/// The ports of a TCP, UDP or SCTP header (0 when too short to hold what
/// `l4` reads of it).
#[inline(always)]
fn ports(proto: u8, l4: &[u8]) -> (u16, u16) {
    let has = match proto {
        proto::TCP => l4.len() >= 14,
        proto::UDP | proto::SCTP => l4.len() >= 4,
        _ => false,
    };
    if has {
        (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        )
    } else {
        (0, 0)
    }
}

// Inlined into the firewall pass: built in place there, the struct is not
// assembled with narrow stores and copied out with wide loads (a store-
// forwarding stall per packet that was most of a pass's cost).
#[inline(always)]
fn l4(m: &mut PacketMeta, l4: &[u8]) {
    (m.sport, m.dport) = ports(m.proto, l4);
    match m.proto {
        proto::TCP if l4.len() >= 14 => m.tcp_flags = l4[13],
        proto::ICMP | proto::ICMP6 if l4.len() >= 2 => {
            m.icmp_type = l4[0];
            m.icmp_code = l4[1];
        }
        _ => {}
    }
}

/// IPv4 fragment bits as `PacketMeta::frag` holds them: the header's three
/// flags (RF, DF, MF: bits 15..13) are `frag`'s RF, DF and MF in the same
/// order (bits 3..1), so one shift moves them; OFFSET is bit 0.
#[inline(always)]
fn frag4(ip: &[u8]) -> u8 {
    const _: () = assert!(
        frag::OFFSET == 1 && frag::MF == 2 && frag::DF == 4 && frag::RF == 8,
        "frag4's shift"
    );
    let fo = u16::from_be_bytes([ip[6], ip[7]]);
    (fo >> 12) as u8 & 0x0e | u8::from(fo & 0x1fff != 0)
}

/// For each protocol, the IP length its ports need with a 20-byte header
/// (as `ports` asks: 14 bytes of TCP, through its flags, 4 of UDP or
/// SCTP); u32::MAX for protocols without ports. A table: the protocol
/// varies from packet to packet, and a branch on it would mispredict.
static PORTS_NEED: [u32; 256] = {
    let mut t = [u32::MAX; 256];
    t[proto::TCP as usize] = 20 + 14;
    t[proto::UDP as usize] = 20 + 4;
    t[proto::SCTP as usize] = 20 + 4;
    t
};

/// `PacketMeta::ip_len` of an IPv4 packet: its total length, as far as the
/// frame holds it (0 without a whole header).
#[inline(always)]
pub fn len4(ip: &[u8]) -> u16 {
    if ip.len() < 20 {
        return 0;
    }
    (u16::from_be_bytes([ip[2], ip[3]]) as usize).min(ip.len()) as u16
}

/// The [`Head4`] of an IPv4 packet (as [`meta4`]'s): what the rule set's
/// IPv4 shortcut reads, in a few loads.
#[inline(always)]
pub fn head4(ip: &[u8]) -> Head4 {
    let mut h = Head4::default();
    if ip.len() < 20 {
        return h;
    }
    let ihl = (ip[0] & 0x0f) as usize * 4;
    let total = len4(ip) as usize;
    h.proto = ip[9];
    h.src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
    h.dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
    h.frag = frag4(ip);
    if h.frag & frag::OFFSET == 0 && ihl <= total {
        (h.sport, h.dport) = ports(h.proto, &ip[ihl..total]);
    }
    h
}

/// [`head4`] of a packet whose header is 20 bytes (version and IHL byte
/// 0x45) and `total` bytes long, `20 <= total <= ip.len()` (the express
/// lane's checks), and whose destination (bytes 16..20, host order) the
/// caller read already: `dst`. Fixed offsets, one test for the ports
/// instead of the general bounds, the ports in one load.
#[inline(always)]
pub fn head4_plain(h: &[u8; 24], total: usize, dst: u32) -> Head4 {
    let proto = h[9];
    let frag = frag4(h);
    let ports = u32::from_be_bytes([h[20], h[21], h[22], h[23]]);
    let has = frag & frag::OFFSET == 0 && total as u32 >= PORTS_NEED[usize::from(proto)];
    let ports = if has { ports } else { 0 };
    Head4 {
        src: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        dst,
        sport: (ports >> 16) as u16,
        dport: ports as u16,
        proto,
        frag,
    }
}

/// `PacketMeta::ip_len` of an IPv6 packet: the header and its payload, as
/// far as the frame holds them (0 without a whole header).
#[inline(always)]
pub fn len6(ip: &[u8]) -> usize {
    if ip.len() < 40 {
        return 0;
    }
    (40 + u16::from_be_bytes([ip[4], ip[5]]) as usize).min(ip.len())
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
    let total = len4(ip) as usize;
    m.tos = ip[1];
    m.ip_len = total as u16;
    m.ttl = ip[8];
    m.proto = ip[9];
    m.src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]) as u128;
    m.dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]) as u128;
    m.frag = frag4(ip);
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
    let end = len6(ip);
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

    /// `frag4`'s shift against the flags one by one, for every value of the
    /// header's flags and offset field (`head4` and `meta4` both read it, so
    /// their comparison cannot see it wrong).
    #[test]
    fn fragment_bits_flag_by_flag() {
        let mut ip = [0u8; 20];
        for fo in 0..=u16::MAX {
            ip[6..8].copy_from_slice(&fo.to_be_bytes());
            let want = [
                (fo & 0x1fff != 0, frag::OFFSET),
                (fo & 0x2000 != 0, frag::MF),
                (fo & 0x4000 != 0, frag::DF),
                (fo & 0x8000 != 0, frag::RF),
            ]
            .iter()
            .filter(|(set, _)| *set)
            .fold(0, |a, (_, bit)| a | bit);
            assert_eq!(frag4(&ip), want, "{fo:#06x}");
        }
    }

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

    /// The head the shortcuts read is the metadata's, for any bytes: every
    /// protocol, header length, fragment offset and truncation; and the
    /// express lane's for a 20-byte header.
    #[test]
    fn heads_are_the_metas_heads() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut plain = 0;
        for _ in 0..100_000 {
            let mut p = [0u8; 64];
            for b in p.iter_mut() {
                *b = next() as u8;
            }
            p[0] = 0x40 | (5 + next() % 3) as u8;
            p[9] = [6, 17, 132, 1, 58, 47, 6, 17][(next() % 8) as usize];
            if next() % 2 == 0 {
                p[6] &= 0xe0; // first fragment or none
                p[7] = 0;
            }
            let total = (next() % 70) as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            let len = (next() % 65) as usize;
            let ip = &p[..len];
            let m = meta4(ip);
            assert_eq!((head4(ip), len4(ip)), (m.head4(), m.ip_len), "{ip:02x?}");
            // The state table's prefetch keys the flow from the head alone; its
            // lookup keys it from the metadata: the same bucket only if equal.
            let key = ::firewall::FlowKey::of_head4(&head4(ip));
            assert_eq!(key, ::firewall::FlowKey::of(&m), "{ip:02x?}");
            // A 20-byte header the frame holds (and 4 bytes past it).
            if p[0] == 0x45 && (20..=len).contains(&(total as usize)) {
                let h: &[u8; 24] = p.first_chunk().expect("64 bytes");
                let dst = u32::from_be_bytes([p[16], p[17], p[18], p[19]]);
                assert_eq!(head4_plain(h, total as usize, dst), head4(ip), "{ip:02x?}");
                plain += 1;
            }
            p[0] = 0x60;
            p[4..6].copy_from_slice(&(total / 2).to_be_bytes());
            let ip = &p[..len];
            assert_eq!(len6(ip), meta6(ip).ip_len as usize, "{ip:02x?}");
        }
        assert!(plain > 5_000, "{plain} plain headers");
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
