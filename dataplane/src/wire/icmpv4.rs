//! ICMP for IPv4 (RFC 792): echo, and the errors a router sends (RFC 1812 4.3).

use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::{self, IpProtocol, Ipv4Packet};
use super::{get_u16, put_u16, Error, Result};

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACHABLE: u8 = 3;
pub const SOURCE_QUENCH: u8 = 4;
pub const REDIRECT: u8 = 5;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;
pub const PARAM_PROBLEM: u8 = 12;

/// Codes of [`DEST_UNREACHABLE`].
pub mod unreachable {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTO: u8 = 2;
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; the next-hop MTU goes in the low 16 bits of
    /// the rest-of-header word (RFC 1191), see [`super::emit_error_with`].
    pub const FRAG_NEEDED: u8 = 4;
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Codes of [`TIME_EXCEEDED`].
pub mod time_exceeded {
    pub const TTL: u8 = 0;
    pub const FRAGMENT_REASSEMBLY: u8 = 1;
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQ: usize = 6;
    /// The second word: echo id/seq, unused in errors, MTU or pointer in some.
    pub const REST: usize = 4;
    pub const DATA: usize = 8;
}

/// Length of the ICMP header (type, code, checksum, rest-of-header word).
pub const HEADER_LEN: usize = field::DATA;
/// Largest ICMP error we send, IP header included (RFC 1812 4.3.2.3).
pub const MAX_ERROR_LEN: usize = 576;
/// TOS of the errors we send: precedence 6, internetwork control (RFC 1812 4.3.2.5).
const ERROR_TOS: u8 = 0xc0;

/// Whether `icmp_type` is an error message (as opposed to a query).
pub const fn is_error(icmp_type: u8) -> bool {
    matches!(
        icmp_type,
        DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM
    )
}

/// A view of an ICMP message: the IPv4 payload, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps without checking; accessors panic on a buffer under 8 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Checks that the 8-byte header is there. The checksum covers the whole buffer,
    /// so pass exactly the IP payload (`Ipv4Packet::payload`).
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Icmpv4Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQ)
    }

    /// The second 32-bit word (MTU for "fragmentation needed", pointer, ...).
    pub fn rest_of_header(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::REST..field::DATA];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Echo data, or the quoted packet of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    pub fn set_checksum(&mut self, csum: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, csum);
    }

    pub fn set_rest_of_header(&mut self, rest: u32) {
        self.buffer.as_mut()[field::REST..field::DATA].copy_from_slice(&rest.to_be_bytes());
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let csum = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(csum);
    }
}

/// Turns the echo request in `ip_packet` (a whole IPv4 packet) into its reply, in
/// place: addresses swapped, TTL 64, type 0.
///
/// The ICMP checksum is patched incrementally (one word changed), so the cost does
/// not grow with the ping size; a request that arrived corrupted stays corrupted and
/// its sender's check catches it. The IP header checksum is verified first and then
/// recomputed, so a damaged header is refused rather than laundered.
///
/// Errors: those of [`Ipv4Packet::new_checked`]; `BadChecksum` for the IP header;
/// `Unsupported` if it is not an unfragmented ICMP echo request (code 0) to a
/// unicast address: a reply to a broadcast or multicast ping would carry that group
/// as its source, so the caller must build those differently or drop them.
pub fn echo_request_to_reply(ip_packet: &mut [u8]) -> Result<()> {
    let mut ip = Ipv4Packet::new_checked(ip_packet)?;
    if !ip.verify_checksum() {
        return Err(Error::BadChecksum);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if ip.protocol() != IpProtocol::ICMP
        || ip.is_fragment()
        || dst.is_multicast()
        || dst.is_broadcast()
    {
        return Err(Error::Unsupported);
    }
    let mut icmp = Icmpv4Packet::new_checked(ip.payload_mut())?;
    if icmp.msg_type() != ECHO_REQUEST || icmp.code() != 0 {
        return Err(Error::Unsupported);
    }
    let old = u16::from_be_bytes([ECHO_REQUEST, 0]);
    let new = u16::from_be_bytes([ECHO_REPLY, 0]);
    icmp.set_msg_type(ECHO_REPLY);
    let csum = checksum::update16(icmp.checksum(), old, new);
    icmp.set_checksum(csum);

    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_ttl(ipv4::DEFAULT_TTL);
    ip.fill_checksum();
    Ok(())
}

/// Whether RFC 1812 4.3.2.7 allows an ICMP error about `original_ip_packet`: not
/// about an ICMP error, nor a non-initial fragment (its ICMP type, if any, is unknown
/// and the sender cannot match it), nor one sent to a multicast or limited-broadcast
/// address, nor one whose source is not a single host (unspecified, loopback,
/// multicast, broadcast, class E). A packet that does not parse gets no error.
///
/// Subnet-directed broadcasts and link-layer broadcasts are the caller's to check:
/// they depend on the interface, not on the packet.
pub fn may_send_error_about(original_ip_packet: &[u8]) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(original_ip_packet) else {
        return false;
    };
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let single_host = !(src.is_unspecified()
        || src.is_loopback()
        || src.is_multicast()
        || src.is_broadcast()
        || src.octets()[0] >= 240);
    if !single_host || dst.is_multicast() || dst.is_broadcast() || ip.frag_offset() != 0 {
        return false;
    }
    if ip.protocol() == IpProtocol::ICMP {
        // No type byte to look at: do not risk answering an error.
        return ip.payload().first().is_some_and(|&t| !is_error(t));
    }
    true
}

/// Builds an ICMP error about `original_ip_packet` into `out`: an IPv4 packet from
/// `src` to the original's source, quoting as much of the original as fits both in
/// 576 bytes (RFC 1812 4.3.2.3) and in `out`. Returns its length.
///
/// The caller decides whether to send at all ([`may_send_error_about`], rate limits).
/// Errors: those of [`Ipv4Packet::new_checked`] on the original; `BufferTooSmall` if
/// `out` cannot hold at least the original's header and 8 bytes of its data (RFC 792).
pub fn emit_error(
    out: &mut [u8],
    src: Ipv4Addr,
    original_ip_packet: &[u8],
    icmp_type: u8,
    code: u8,
) -> Result<usize> {
    emit_error_with(out, src, original_ip_packet, icmp_type, code, 0)
}

/// [`emit_error`] with the rest-of-header word set: the next-hop MTU for
/// "fragmentation needed" (in its low 16 bits), the pointer for "parameter problem"
/// (in its high 8 bits), the gateway for a redirect.
pub fn emit_error_with(
    out: &mut [u8],
    src: Ipv4Addr,
    original_ip_packet: &[u8],
    icmp_type: u8,
    code: u8,
    rest_of_header: u32,
) -> Result<usize> {
    let orig = Ipv4Packet::new_checked(original_ip_packet)?;
    let orig = orig.packet();
    let overhead = ipv4::HEADER_LEN + HEADER_LEN;
    let room = out
        .len()
        .min(MAX_ERROR_LEN)
        .checked_sub(overhead)
        .ok_or(Error::BufferTooSmall)?;
    let must_quote = orig
        .len()
        .min(Ipv4Packet::new_unchecked(orig).header_len() + 8);
    if room < must_quote {
        return Err(Error::BufferTooSmall);
    }
    let quote = orig.len().min(room);
    let icmp_len = HEADER_LEN + quote;
    let to = Ipv4Packet::new_unchecked(orig).src_addr();

    let hl = ipv4::emit_header(out, src, to, IpProtocol::ICMP, ipv4::DEFAULT_TTL, icmp_len);
    let mut ip = Ipv4Packet::new_unchecked(&mut out[..hl + icmp_len]);
    ip.set_tos(ERROR_TOS);
    ip.fill_checksum();

    let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(icmp_type);
    icmp.set_code(code);
    icmp.set_rest_of_header(rest_of_header);
    icmp.data_mut().copy_from_slice(&orig[..quote]);
    icmp.fill_checksum();
    Ok(hl + icmp_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);

    /// Echo request 10.0.1.2 -> 10.0.1.1, TTL 63, id 0x1234 seq 1, 24 bytes of data.
    const PING: [u8; 52] = [
        0x45, 0x00, 0x00, 0x34, 0x4d, 0x2c, 0x40, 0x00, 0x3f, 0x01, 0xd8, 0x9a, 0x0a, 0x00, 0x01,
        0x02, 0x0a, 0x00, 0x01, 0x01, 0x08, 0x00, 0xa0, 0x79, 0x12, 0x34, 0x00, 0x01, 0x10, 0x11,
        0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
        0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
    ];
    /// Our reply: 10.0.1.1 -> 10.0.1.2, TTL 64, same id, seq and data.
    const PONG: [u8; 52] = [
        0x45, 0x00, 0x00, 0x34, 0x4d, 0x2c, 0x40, 0x00, 0x40, 0x01, 0xd7, 0x9a, 0x0a, 0x00, 0x01,
        0x01, 0x0a, 0x00, 0x01, 0x02, 0x00, 0x00, 0xa8, 0x79, 0x12, 0x34, 0x00, 0x01, 0x10, 0x11,
        0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
        0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
    ];
    /// UDP 10.0.1.2:40000 -> 192.0.2.10:33434 with TTL 1 (a traceroute probe).
    const UDP_TTL1: [u8; 40] = [
        0x45, 0x00, 0x00, 0x28, 0x01, 0x02, 0x00, 0x00, 0x01, 0x11, 0xeb, 0xb7, 0x0a, 0x00, 0x01,
        0x02, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40, 0x82, 0x9a, 0x00, 0x14, 0xd3, 0xb1, 0x74, 0x72,
        0x61, 0x63, 0x65, 0x72, 0x6f, 0x75, 0x74, 0x65, 0x21, 0x0a,
    ];
    /// Our time exceeded about it, from 10.0.1.1, TOS 0xc0, quoting all 40 bytes.
    const TTL_EXCEEDED: [u8; 68] = [
        0x45, 0xc0, 0x00, 0x44, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01, 0x23, 0xf7, 0x0a, 0x00, 0x01,
        0x01, 0x0a, 0x00, 0x01, 0x02, 0x0b, 0x00, 0xc2, 0x31, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00,
        0x00, 0x28, 0x01, 0x02, 0x00, 0x00, 0x01, 0x11, 0xeb, 0xb7, 0x0a, 0x00, 0x01, 0x02, 0xc0,
        0x00, 0x02, 0x0a, 0x9c, 0x40, 0x82, 0x9a, 0x00, 0x14, 0xd3, 0xb1, 0x74, 0x72, 0x61, 0x63,
        0x65, 0x72, 0x6f, 0x75, 0x74, 0x65, 0x21, 0x0a,
    ];

    #[test]
    fn parse_echo_request() {
        let ip = Ipv4Packet::new_checked(&PING[..]).unwrap();
        assert!(ip.verify_checksum());
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!((icmp.msg_type(), icmp.code()), (super::ECHO_REQUEST, 0));
        assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (0x1234, 1));
        assert_eq!(icmp.data().len(), 24);
        assert!(icmp.verify_checksum());
        assert!(!is_error(icmp.msg_type()));
    }

    #[test]
    fn echo_request_to_reply_matches_fixture() {
        let mut p = PING;
        echo_request_to_reply(&mut p).unwrap();
        assert_eq!(p, PONG);
        // The reply is not a request any more.
        assert_eq!(echo_request_to_reply(&mut p), Err(Error::Unsupported));
    }

    #[test]
    fn echo_reply_with_ethernet_padding() {
        let mut frame = [0u8; 60];
        frame[..52].copy_from_slice(&PING);
        echo_request_to_reply(&mut frame).unwrap();
        assert_eq!(frame[..52], PONG);
    }

    #[test]
    fn echo_request_to_reply_refusals() {
        let mut bad_ip = PING;
        bad_ip[10] ^= 0xff;
        assert_eq!(echo_request_to_reply(&mut bad_ip), Err(Error::BadChecksum));

        let refit = |p: &mut [u8]| Ipv4Packet::new_unchecked(p).fill_checksum();
        let mut to_bcast = PING;
        to_bcast[16..20].copy_from_slice(&[255; 4]);
        refit(&mut to_bcast);
        assert_eq!(
            echo_request_to_reply(&mut to_bcast),
            Err(Error::Unsupported)
        );

        let mut frag = PING;
        frag[6] = 0x20; // MF
        refit(&mut frag);
        assert_eq!(echo_request_to_reply(&mut frag), Err(Error::Unsupported));

        let mut udp = UDP_TTL1;
        assert_eq!(echo_request_to_reply(&mut udp), Err(Error::Unsupported));

        for n in [0, 19, 27, 51] {
            let mut short = PING;
            assert_eq!(
                echo_request_to_reply(&mut short[..n]),
                Err(Error::Truncated),
                "{n}"
            );
        }
        // Total length 27: the ICMP header inside is cut short.
        let mut tiny = PING;
        tiny[3] = 27;
        refit(&mut tiny);
        assert_eq!(echo_request_to_reply(&mut tiny), Err(Error::Truncated));
    }

    #[test]
    fn icmp_view_rejects_truncated() {
        for n in 0..8 {
            assert_eq!(
                Icmpv4Packet::new_checked(&PING[20..20 + n]),
                Err(Error::Truncated)
            );
        }
    }

    #[test]
    fn time_exceeded_matches_fixture() {
        assert!(may_send_error_about(&UDP_TTL1));
        let mut out = [0u8; 1500];
        let n = emit_error(
            &mut out,
            ROUTER,
            &UDP_TTL1,
            TIME_EXCEEDED,
            time_exceeded::TTL,
        )
        .unwrap();
        assert_eq!(out[..n], TTL_EXCEEDED);

        let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
        assert!(ip.verify_checksum());
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert!(is_error(icmp.msg_type()));
        assert_eq!(icmp.data(), &UDP_TTL1[..]);
        // Never an error about this error.
        assert!(!may_send_error_about(&out[..n]));
    }

    #[test]
    fn port_unreachable_with_mtu_word() {
        let mut out = [0u8; 576];
        let n = emit_error_with(
            &mut out,
            ROUTER,
            &UDP_TTL1,
            DEST_UNREACHABLE,
            unreachable::FRAG_NEEDED,
            1400,
        )
        .unwrap();
        let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!((icmp.msg_type(), icmp.code()), (3, 4));
        assert_eq!(icmp.rest_of_header(), 1400);
        assert!(icmp.verify_checksum());
    }

    #[test]
    fn large_original_is_cut_to_576() {
        let mut big = [0x5au8; 1500];
        big[..20].copy_from_slice(&UDP_TTL1[..20]);
        let mut ip = Ipv4Packet::new_unchecked(&mut big[..]);
        ip.set_total_len(1500);
        ip.fill_checksum();

        let mut out = [0u8; 2048];
        let n = emit_error(&mut out, ROUTER, &big, DEST_UNREACHABLE, unreachable::HOST).unwrap();
        assert_eq!(n, 576);
        let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
        assert_eq!(ip.total_len(), 576);
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 1, 2));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.data(), &big[..576 - 28]);

        // A smaller output buffer quotes less.
        let n = emit_error(&mut out[..100], ROUTER, &big, DEST_UNREACHABLE, 1).unwrap();
        assert_eq!(n, 100);
        let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
        assert!(ip.verify_checksum());
        assert!(Icmpv4Packet::new_checked(ip.payload())
            .unwrap()
            .verify_checksum());
    }

    #[test]
    fn error_needs_room_for_header_and_8_bytes() {
        let mut out = [0u8; 64];
        assert_eq!(
            emit_error(&mut out[..28 + 27], ROUTER, &UDP_TTL1, TIME_EXCEEDED, 0),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(
            emit_error(&mut out[..28 + 28], ROUTER, &UDP_TTL1, TIME_EXCEEDED, 0),
            Ok(56)
        );
        assert_eq!(
            emit_error(&mut out[..10], ROUTER, &UDP_TTL1, TIME_EXCEEDED, 0),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(
            emit_error(&mut out, ROUTER, &UDP_TTL1[..30], TIME_EXCEEDED, 0),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn error_rules() {
        let with = |f: &dyn Fn(&mut Ipv4Packet<&mut [u8]>)| {
            let mut p = UDP_TTL1;
            let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
            f(&mut ip);
            ip.fill_checksum();
            may_send_error_about(&p)
        };
        assert!(with(&|_| {}));
        assert!(
            with(&|ip| ip.set_frag(false, true, 0)),
            "first fragment is fine"
        );
        assert!(!with(&|ip| ip.set_frag(false, false, 8)));
        for bad_src in [
            [0, 0, 0, 0],
            [127, 0, 0, 1],
            [224, 0, 0, 5],
            [255; 4],
            [240, 0, 0, 1],
        ] {
            assert!(!with(&|ip| ip.set_src_addr(bad_src.into())), "{bad_src:?}");
        }
        for bad_dst in [[224, 0, 0, 5], [255; 4]] {
            assert!(!with(&|ip| ip.set_dst_addr(bad_dst.into())), "{bad_dst:?}");
        }
        // ICMP queries may get errors; errors and empty ICMP payloads may not.
        assert!(may_send_error_about(&PING));
        assert!(!may_send_error_about(&TTL_EXCEEDED));
        let mut empty_icmp = UDP_TTL1;
        let mut ip = Ipv4Packet::new_unchecked(&mut empty_icmp[..]);
        ip.set_protocol(IpProtocol::ICMP);
        ip.set_total_len(20);
        ip.fill_checksum();
        assert!(!may_send_error_about(&empty_icmp));
        assert!(!may_send_error_about(&UDP_TTL1[..19]));
    }

    #[test]
    fn error_types() {
        for t in [3, 4, 5, 11, 12] {
            assert!(is_error(t));
        }
        for t in [0, 8, 13, 14, 17, 18] {
            assert!(!is_error(t));
        }
    }
}
