//! IPv4 headers (RFC 791).

use std::net::Ipv4Addr;

use super::checksum;
use super::{get_u16, put_u16, Error, Result};

/// IP protocol numbers (IPv4 protocol / IPv6 next header), as `u8` for matching.
pub enum IpProtocol {}

impl IpProtocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    /// TTL and protocol share one 16-bit word, which is what the checksum sees.
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// TTL of packets we originate (RFC 1700's default; Linux uses it too).
pub const DEFAULT_TTL: u8 = 64;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps without checking; accessors panic on a short or inconsistent buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Checks version 4, IHL >= 5, header within the buffer, and header length <=
    /// total length <= buffer length. The buffer may be longer than the total length
    /// (Ethernet padding); [`payload`](Self::payload) excludes the excess. The header
    /// checksum is not verified here: see [`verify_checksum`](Self::verify_checksum).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Error::BadVersion);
        }
        let header_len = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        let total_len = usize::from(get_u16(b, field::LENGTH));
        if header_len < HEADER_LEN || total_len < header_len {
            return Err(Error::Malformed);
        }
        // header_len <= total_len, so this also puts the options within the buffer.
        if b.len() < total_len {
            return Err(Error::Truncated);
        }
        Ok(Ipv4Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The whole TOS byte (DSCP << 2 | ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// Any fragment, first or not: MF set or a non-zero offset.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The header, options included.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload up to the total length: trailing link-layer padding is excluded.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// The packet (header and payload) up to the total length.
    pub fn packet(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.total_len())]
    }

    /// Whether the header checksum verifies.
    #[inline(always)]
    pub fn verify_checksum(&self) -> bool {
        let h = self.header();
        match <&[u8; HEADER_LEN]>::try_from(h) {
            Ok(h) => checksum::verifies_ipv4_header(h),
            Err(_) => checksum::sum(h) == 0xffff,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    // Setters below do not touch the checksum: make all edits, then call
    // `fill_checksum` once (or use `decrement_ttl`, which updates it itself).

    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }

    pub fn set_total_len(&mut self, len: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    pub fn set_ident(&mut self, ident: u16) {
        put_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    /// Sets DF and MF and the offset in bytes (rounded down to 8).
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut v = (offset >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        put_u16(self.buffer.as_mut(), field::FLAGS_FRAG, v);
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol;
    }

    pub fn set_checksum(&mut self, csum: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, csum);
    }

    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.octets());
    }

    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.octets());
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let csum = checksum::checksum(self.header());
        self.set_checksum(csum);
    }

    /// Decrements the TTL and patches the checksum incrementally (RFC 1624), so
    /// forwarding costs two words of arithmetic instead of a pass over the header.
    /// The caller has sent "time exceeded" for TTL <= 1 before forwarding; a TTL of
    /// 0 is left as is rather than wrapping to 255.
    ///
    /// The new TTL/protocol word is computed from the old one, not read back
    /// after the TTL byte is written: a 2-byte load over a 1-byte store just made
    /// cannot be forwarded from the store buffer and waited for it to retire (4%
    /// of scenario 1's worker, and the function was not inlined).
    #[inline(always)]
    pub fn decrement_ttl(&mut self) {
        // Within a fixed-size header the field offsets need no bounds checks.
        let Some(b) = self.buffer.as_mut().first_chunk_mut::<HEADER_LEN>() else {
            return;
        };
        let old = get_u16(b, field::TTL);
        // TTL is the word's high byte (network order: TTL, then protocol).
        if old < 0x0100 {
            return;
        }
        put_u16(b, field::TTL, old - 0x0100);
        let csum = checksum::update_ttl_decrement(get_u16(b, field::CHECKSUM));
        put_u16(b, field::CHECKSUM, csum);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[start..end]
    }
}

/// Writes a 20-byte header (no options, DF set, ident 0, TOS 0, checksum filled) for
/// a packet we originate, and returns its length.
///
/// DF makes the datagram atomic, which is what lets ident be 0 (RFC 6864 4.1); what
/// we originate (ICMP, at most 576 bytes) never needs fragmenting.
///
/// # Panics
/// If `buf` is shorter than 20 bytes or `payload_len` exceeds 65515.
pub fn emit_header(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ttl: u8,
    payload_len: usize,
) -> usize {
    let total = u16::try_from(HEADER_LEN + payload_len).expect("IPv4 total length over 65535");
    let b = &mut buf[..HEADER_LEN];
    b[field::VER_IHL] = 0x45;
    let mut ip = Ipv4Packet::new_unchecked(b);
    ip.set_tos(0);
    ip.set_total_len(total);
    ip.set_ident(0);
    ip.set_frag(true, false, 0);
    ip.set_ttl(ttl);
    ip.set_protocol(protocol);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    ip.fill_checksum();
    HEADER_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UDP 10.0.1.2:40000 -> 192.0.2.10:33434, TTL 1, ident 0x0102, 12 bytes of data.
    const UDP_TTL1: [u8; 40] = [
        0x45, 0x00, 0x00, 0x28, 0x01, 0x02, 0x00, 0x00, 0x01, 0x11, 0xeb, 0xb7, 0x0a, 0x00, 0x01,
        0x02, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40, 0x82, 0x9a, 0x00, 0x14, 0xd3, 0xb1, 0x74, 0x72,
        0x61, 0x63, 0x65, 0x72, 0x6f, 0x75, 0x74, 0x65, 0x21, 0x0a,
    ];

    /// A header with 4 bytes of options (router alert, RFC 2113), TTL 1, IGMP.
    const WITH_OPTIONS: [u8; 24] = [
        0x46, 0xc0, 0x00, 0x18, 0x00, 0x00, 0x40, 0x00, 0x01, 0x02, 0x00, 0x00, 0x0a, 0x00, 0x01,
        0x02, 0xe0, 0x00, 0x00, 0x16, 0x94, 0x04, 0x00, 0x00,
    ];

    #[test]
    fn parse_fields() {
        let ip = Ipv4Packet::new_checked(&UDP_TTL1[..]).unwrap();
        assert_eq!(ip.version(), 4);
        assert_eq!(ip.header_len(), 20);
        assert_eq!((ip.tos(), ip.dscp(), ip.ecn()), (0, 0, 0));
        assert_eq!(ip.total_len(), 40);
        assert_eq!(ip.ident(), 0x0102);
        assert!(!ip.dont_frag() && !ip.more_frags() && !ip.is_fragment());
        assert_eq!(ip.frag_offset(), 0);
        assert_eq!(ip.ttl(), 1);
        assert_eq!(ip.protocol(), IpProtocol::UDP);
        assert_eq!(ip.checksum(), 0xebb7);
        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 0, 1, 2));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(192, 0, 2, 10));
        assert!(ip.verify_checksum());
        assert_eq!(ip.payload(), &UDP_TTL1[20..]);
        assert!(ip.options().is_empty());
    }

    #[test]
    fn payload_excludes_ethernet_padding() {
        let mut padded = [0u8; 46];
        padded[..40].copy_from_slice(&UDP_TTL1);
        let ip = Ipv4Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(ip.payload().len(), 20);
        assert_eq!(ip.packet(), &UDP_TTL1[..]);
    }

    #[test]
    fn options() {
        let mut h = WITH_OPTIONS;
        Ipv4Packet::new_unchecked(&mut h[..]).fill_checksum();
        let ip = Ipv4Packet::new_checked(&h[..]).unwrap();
        assert_eq!(ip.header_len(), 24);
        assert_eq!(ip.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert!(ip.payload().is_empty());
        assert!(ip.dont_frag());
        assert_eq!(ip.dscp(), 48);
        assert!(ip.verify_checksum());
    }

    #[test]
    fn rejects() {
        for n in 0..40 {
            assert_eq!(
                Ipv4Packet::new_checked(&UDP_TTL1[..n]),
                Err(Error::Truncated),
                "len {n}"
            );
        }
        let with = |at: usize, v: u8| {
            let mut p = UDP_TTL1;
            p[at] = v;
            Ipv4Packet::new_checked(p).map(|_| ())
        };
        assert_eq!(with(0, 0x65), Err(Error::BadVersion));
        assert_eq!(with(0, 0x44), Err(Error::Malformed));
        // IHL 15 (60 bytes) is more than the 40-byte total length.
        assert_eq!(with(0, 0x4f), Err(Error::Malformed));
        assert_eq!(with(3, 19), Err(Error::Malformed));
        assert_eq!(with(3, 41), Err(Error::Truncated));
        // The options header cut inside its options.
        assert_eq!(
            Ipv4Packet::new_checked(&WITH_OPTIONS[..22]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn bad_checksum_detected() {
        let mut p = UDP_TTL1;
        p[11] ^= 1;
        assert!(!Ipv4Packet::new_checked(&p[..]).unwrap().verify_checksum());
    }

    #[test]
    fn fragments() {
        let mut p = UDP_TTL1;
        let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
        ip.set_frag(false, true, 0);
        assert!(ip.is_fragment() && ip.more_frags() && ip.frag_offset() == 0);
        ip.set_frag(false, false, 1480);
        assert!(ip.is_fragment() && !ip.more_frags());
        assert_eq!(ip.frag_offset(), 1480);
        assert_eq!(&p[6..8], &[0x00, 0xb9]);
    }

    #[test]
    fn decrement_ttl_equals_full_recompute() {
        // Sweep TTLs and protocols so the checksum passes through its corner values.
        for ttl in 1..=255u8 {
            for proto in [1u8, 6, 17, 58, 0xff] {
                let mut p = UDP_TTL1;
                let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
                ip.set_ttl(ttl);
                ip.set_protocol(proto);
                ip.fill_checksum();
                ip.decrement_ttl();
                assert_eq!(ip.ttl(), ttl - 1);
                assert!(ip.verify_checksum());
                let incremental = ip.checksum();
                ip.fill_checksum();
                assert_eq!(incremental, ip.checksum(), "ttl {ttl} proto {proto}");
            }
        }
    }

    #[test]
    fn decrement_ttl_at_zero_is_a_no_op() {
        let mut p = UDP_TTL1;
        let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
        ip.set_ttl(0);
        ip.fill_checksum();
        let before = ip.into_inner().to_vec();
        Ipv4Packet::new_unchecked(&mut p[..]).decrement_ttl();
        assert_eq!(&p[..], &before[..]);
    }

    #[test]
    fn emit_header_parses_back() {
        // 10.0.1.1 -> 10.0.1.2, ICMP, 48 bytes of payload (a time-exceeded message).
        const WANT: [u8; 20] = [
            0x45, 0x00, 0x00, 0x44, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01, 0x24, 0xb7, 0x0a, 0x00,
            0x01, 0x01, 0x0a, 0x00, 0x01, 0x02,
        ];
        let mut buf = [0xee; 20];
        let (src, dst) = (Ipv4Addr::new(10, 0, 1, 1), Ipv4Addr::new(10, 0, 1, 2));
        assert_eq!(
            emit_header(&mut buf, src, dst, IpProtocol::ICMP, 64, 48),
            20
        );
        assert_eq!(buf, WANT);
        let mut whole = [0u8; 68];
        whole[..20].copy_from_slice(&buf);
        let ip = Ipv4Packet::new_checked(&whole[..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr(), ip.ttl()), (src, dst, 64));
        assert_eq!(ip.payload().len(), 48);
    }

    #[test]
    fn setters() {
        let mut p = UDP_TTL1;
        let mut ip = Ipv4Packet::new_checked(&mut p[..]).unwrap();
        ip.set_src_addr(Ipv4Addr::new(192, 0, 2, 10));
        ip.set_dst_addr(Ipv4Addr::new(10, 0, 1, 2));
        ip.set_tos(0xb8);
        ip.set_ident(7);
        ip.fill_checksum();
        ip.payload_mut()[0] = 0xff;
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.dscp(), 46);
        assert_eq!(ip.ident(), 7);
        assert_eq!(ip.src_addr(), Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(p[20], 0xff);
    }
}
