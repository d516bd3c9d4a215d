//! IPv6 headers (RFC 8200) and the address helpers neighbor discovery needs.

use std::net::Ipv6Addr;

use super::ethernet::MacAddr;
use super::{get_u16, put_u16, Error, Result};

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Hop limit of packets we originate, ND excepted (ND requires 255).
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// A view of an IPv6 packet (fixed header; extension headers are in the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps without checking; accessors panic on a short or inconsistent buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Checks version 6 and that the payload length fits the buffer. The buffer may
    /// be longer (Ethernet padding); [`payload`](Self::payload) excludes the excess.
    /// Jumbograms (payload length 0 with a hop-by-hop option) are not supported: they
    /// read as an empty payload.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_TC_FLOW] >> 4 != 6 {
            return Err(Error::BadVersion);
        }
        if b.len() < HEADER_LEN + usize::from(get_u16(b, field::PAYLOAD_LEN)) {
            return Err(Error::Truncated);
        }
        Ok(Ipv6Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_word(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// Header plus payload length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(&self.buffer.as_ref()[field::SRC])
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(&self.buffer.as_ref()[field::DST])
    }

    /// The payload up to the payload length: trailing padding is excluded.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }

    /// The packet (header and payload) up to its length.
    pub fn packet(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    pub fn set_traffic_class(&mut self, tc: u8) {
        let b = self.buffer.as_mut();
        b[0] = (b[0] & 0xf0) | (tc >> 4);
        b[1] = (b[1] & 0x0f) | (tc << 4);
    }

    pub fn set_payload_len(&mut self, len: u16) {
        put_u16(self.buffer.as_mut(), field::PAYLOAD_LEN, len);
    }

    pub fn set_next_header(&mut self, next_header: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = next_header;
    }

    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hop_limit;
    }

    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.octets());
    }

    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.octets());
    }

    /// Decrements the hop limit; there is no header checksum to fix. The caller has
    /// sent "time exceeded" for hop limit <= 1 before forwarding; 0 stays 0.
    pub fn decrement_hop_limit(&mut self) {
        let b = self.buffer.as_mut();
        b[field::HOP_LIMIT] = b[field::HOP_LIMIT].saturating_sub(1);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

fn addr_at(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

/// Writes a 40-byte header (traffic class and flow label 0) and returns its length.
///
/// # Panics
/// If `buf` is shorter than 40 bytes or `payload_len` exceeds 65535.
pub fn emit_header(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload_len: usize,
) -> usize {
    let len = u16::try_from(payload_len).expect("IPv6 payload length over 65535");
    let b = &mut buf[..HEADER_LEN];
    b[..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
    let mut ip = Ipv6Packet::new_unchecked(b);
    ip.set_payload_len(len);
    ip.set_next_header(next_header);
    ip.set_hop_limit(hop_limit);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    HEADER_LEN
}

/// The solicited-node multicast group of `addr`, ff02::1:ffXX:XXXX (RFC 4291 2.7.1),
/// where neighbor solicitations for it are sent.
pub fn solicited_node_multicast(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// Whether `addr` is a solicited-node multicast address (ff02::1:ff00:0/104).
pub fn is_solicited_node_multicast(addr: Ipv6Addr) -> bool {
    addr.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// The Ethernet address for an IPv6 multicast group: 33:33 and the group's last 32
/// bits (RFC 2464 7).
pub fn multicast_mac(addr: Ipv6Addr) -> MacAddr {
    let o = addr.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// Link-local unicast, fe80::/10.
pub fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UDP fd00:1::2:40000 -> 2001:db8::10:33434, hop limit 1, "abcd".
    const UDP6_HOP1: [u8; 52] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11, 0x01, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x9c, 0x40, 0x82, 0x9a, 0x00,
        0x0c, 0x12, 0x34, 0x61, 0x62, 0x63, 0x64,
    ];

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_fields() {
        let ip = Ipv6Packet::new_checked(&UDP6_HOP1[..]).unwrap();
        assert_eq!(ip.version(), 6);
        assert_eq!((ip.traffic_class(), ip.flow_label()), (0, 0));
        assert_eq!(ip.payload_len(), 12);
        assert_eq!(ip.total_len(), 52);
        assert_eq!(ip.next_header(), 17);
        assert_eq!(ip.hop_limit(), 1);
        assert_eq!(ip.src_addr(), a("fd00:1::2"));
        assert_eq!(ip.dst_addr(), a("2001:db8::10"));
        assert_eq!(ip.payload(), &UDP6_HOP1[40..]);
    }

    #[test]
    fn payload_excludes_padding() {
        let mut padded = [0u8; 64];
        padded[..52].copy_from_slice(&UDP6_HOP1);
        let ip = Ipv6Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(ip.payload().len(), 12);
        assert_eq!(ip.packet(), &UDP6_HOP1[..]);
    }

    #[test]
    fn rejects() {
        for n in 0..52 {
            assert_eq!(
                Ipv6Packet::new_checked(&UDP6_HOP1[..n]),
                Err(Error::Truncated),
                "len {n}"
            );
        }
        let mut v4 = UDP6_HOP1;
        v4[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&v4[..]), Err(Error::BadVersion));
    }

    #[test]
    fn emit_header_matches_fixture() {
        let mut buf = [0xee; 52];
        let n = emit_header(&mut buf, a("fd00:1::2"), a("2001:db8::10"), 17, 1, 12);
        assert_eq!(n, 40);
        assert_eq!(buf[..40], UDP6_HOP1[..40]);
    }

    #[test]
    fn setters_and_hop_limit() {
        let mut p = UDP6_HOP1;
        let mut ip = Ipv6Packet::new_checked(&mut p[..]).unwrap();
        ip.set_traffic_class(0xb8);
        assert_eq!(ip.traffic_class(), 0xb8);
        assert_eq!(ip.version(), 6);
        assert_eq!(ip.flow_label(), 0);
        ip.set_hop_limit(2);
        ip.decrement_hop_limit();
        assert_eq!(ip.hop_limit(), 1);
        ip.decrement_hop_limit();
        ip.decrement_hop_limit();
        assert_eq!(ip.hop_limit(), 0);
        ip.payload_mut()[0] = 0x12;
        ip.set_next_header(58);
        ip.set_src_addr(a("::1"));
        ip.set_dst_addr(a("::2"));
        assert_eq!((ip.src_addr(), ip.dst_addr()), (a("::1"), a("::2")));
        assert_eq!(p[40], 0x12);
        assert_eq!(p[6], 58);
    }

    #[test]
    fn address_helpers() {
        let sn = solicited_node_multicast(a("fd00:1::1234:5678"));
        assert_eq!(sn, a("ff02::1:ff34:5678"));
        assert!(is_solicited_node_multicast(sn));
        assert!(!is_solicited_node_multicast(a("ff02::1")));
        assert_eq!(
            multicast_mac(sn),
            MacAddr([0x33, 0x33, 0xff, 0x34, 0x56, 0x78])
        );
        assert_eq!(multicast_mac(a("ff02::1")).to_string(), "33:33:00:00:00:01");
        assert!(is_link_local(a("fe80::1")));
        assert!(is_link_local(a("febf::1")));
        assert!(!is_link_local(a("fec0::1")));
        assert!(!is_link_local(a("fd00::1")));
    }
}
