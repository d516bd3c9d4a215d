//! ICMPv6 (RFC 4443): echo, the errors a router sends, and neighbor discovery
//! (RFC 4861) solicitations and advertisements.

use std::net::Ipv6Addr;

use super::checksum;
use super::ethernet::MacAddr;
use super::ipv4::IpProtocol;
use super::ipv6::{self, Ipv6Packet};
use super::{get_u16, put_u16, Error, Result};

pub const DEST_UNREACHABLE: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAM_PROBLEM: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const ROUTER_SOLICIT: u8 = 133;
pub const ROUTER_ADVERT: u8 = 134;
/// Neighbor solicitation.
pub const NS: u8 = 135;
/// Neighbor advertisement.
pub const NA: u8 = 136;

/// Codes of [`DEST_UNREACHABLE`].
pub mod unreachable {
    pub const NO_ROUTE: u8 = 0;
    pub const ADMIN: u8 = 1;
    pub const ADDR_UNREACHABLE: u8 = 3;
    pub const PORT: u8 = 4;
}

/// Codes of [`TIME_EXCEEDED`].
pub mod time_exceeded {
    pub const HOP_LIMIT: u8 = 0;
    pub const FRAGMENT_REASSEMBLY: u8 = 1;
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQ: usize = 6;
    pub const REST: Range<usize> = 4..8;
    pub const DATA: usize = 8;
    // Neighbor discovery (NS and NA share this layout).
    pub const NA_FLAGS: usize = 4;
    pub const ND_TARGET: Range<usize> = 8..24;
    pub const ND_OPTIONS: usize = 24;
}

/// Length of the ICMPv6 header (type, code, checksum, one 32-bit word).
pub const HEADER_LEN: usize = field::DATA;
/// Largest error we send, IPv6 header included: the IPv6 minimum MTU (RFC 4443 2.4(c)).
pub const MAX_ERROR_LEN: usize = 1280;
/// Neighbor discovery packets carry hop limit 255, so a receiver knows they were not
/// forwarded: they come from the link (RFC 4861 7.1).
pub const ND_HOP_LIMIT: u8 = 255;
/// Length of an NS or NA body without options.
const ND_BODY_LEN: usize = field::ND_OPTIONS;
/// Link-layer address options for Ethernet: type, length 1 (8 bytes), MAC.
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
const LL_OPTION_LEN: usize = 8;
/// Length of what [`emit_ns`] and [`emit_na`] write: IPv6 header, body, one option.
pub const ND_PACKET_LEN: usize = ipv6::HEADER_LEN + ND_BODY_LEN + LL_OPTION_LEN;

const NA_ROUTER: u8 = 0x80;
const NA_SOLICITED: u8 = 0x40;
const NA_OVERRIDE: u8 = 0x20;

/// Whether `icmp_type` is an error message: errors are types 0-127 (RFC 4443 2.1).
pub const fn is_error(icmp_type: u8) -> bool {
    icmp_type < 128
}

/// A view of an ICMPv6 message: the IPv6 payload (after any extension headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps without checking; accessors panic on a buffer under 8 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// Checks that the 8-byte header is there; every message we handle has one. The
    /// checksum covers the whole buffer: pass exactly the ICMPv6 message.
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Icmpv6Packet { buffer })
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

    /// The second 32-bit word (MTU of "packet too big", pointer of "parameter problem").
    pub fn rest_of_header(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::REST];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Echo data, the quoted packet of an error, or the ND body after the first word.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// Verifies the checksum, which covers the IPv6 pseudo-header (RFC 4443 2.3).
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let Ok(len) = u32::try_from(b.len()) else {
            return false;
        };
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::ICMPV6, len);
        checksum::add(pseudo, checksum::sum(b)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
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
        self.buffer.as_mut()[field::REST].copy_from_slice(&rest.to_be_bytes());
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Recomputes the checksum over the pseudo-header and the whole message.
    ///
    /// # Panics
    /// If the message is over 4 GiB, which no packet buffer is.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let len = u32::try_from(b.len()).expect("ICMPv6 message over 4 GiB");
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::ICMPV6, len);
        let csum = checksum::finish(checksum::add(pseudo, checksum::sum(b)));
        self.set_checksum(csum);
    }
}

/// Turns the echo request in `ipv6_packet` (a whole IPv6 packet, ICMPv6 directly
/// after the fixed header) into its reply, in place: addresses swapped, hop limit 64,
/// type 129.
///
/// Only the type word changes in the checksummed data (swapping source and
/// destination leaves the pseudo-header sum alone), so the checksum is patched
/// incrementally; a corrupted request stays corrupted and its sender catches it.
///
/// Errors: those of [`Ipv6Packet::new_checked`]; `Unsupported` if this is not an
/// echo request (code 0) right after the fixed header, or if it was sent to a
/// multicast group, which cannot be a reply's source.
pub fn echo_request_to_reply(ipv6_packet: &mut [u8]) -> Result<()> {
    let mut ip = Ipv6Packet::new_checked(ipv6_packet)?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if ip.next_header() != IpProtocol::ICMPV6 || dst.is_multicast() {
        return Err(Error::Unsupported);
    }
    let mut icmp = Icmpv6Packet::new_checked(ip.payload_mut())?;
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
    ip.set_hop_limit(ipv6::DEFAULT_HOP_LIMIT);
    Ok(())
}

// Extension headers that may sit between the fixed header and ICMPv6.
const EXT_HOP_BY_HOP: u8 = 0;
const EXT_ROUTING: u8 = 43;
const EXT_FRAGMENT: u8 = 44;
const EXT_DEST_OPTS: u8 = 60;
/// More extension headers than this and we stop looking (and send no error).
const MAX_EXT_HEADERS: usize = 8;

/// Whether an ICMPv6 error about `original_ipv6_packet` is allowed (RFC 4443 2.4(e)):
/// not about an ICMPv6 error message, nor to a multicast or unspecified source, nor
/// about a packet sent to a multicast group (RFC 4443 lets "packet too big" and some
/// "parameter problem" through there; we route no multicast, so we send none), nor
/// about a non-initial fragment, whose upper-layer type cannot be seen. Extension
/// headers are walked to find the upper layer; a packet that does not parse gets no
/// error.
pub fn may_send_error_about(original_ipv6_packet: &[u8]) -> bool {
    let Ok(ip) = Ipv6Packet::new_checked(original_ipv6_packet) else {
        return false;
    };
    let src = ip.src_addr();
    if src.is_multicast() || src.is_unspecified() || ip.dst_addr().is_multicast() {
        return false;
    }
    let (mut next, mut rest) = (ip.next_header(), ip.payload());
    for _ in 0..MAX_EXT_HEADERS {
        match next {
            EXT_HOP_BY_HOP | EXT_ROUTING | EXT_DEST_OPTS => {
                // Length in 8-byte units, not counting the first 8 bytes.
                let Some(&len) = rest.get(1) else {
                    return false;
                };
                let len = (usize::from(len) + 1) * 8;
                if rest.len() < len {
                    return false;
                }
                (next, rest) = (rest[0], &rest[len..]);
            }
            EXT_FRAGMENT => {
                if rest.len() < 8 || get_u16(rest, 2) & 0xfff8 != 0 {
                    return false;
                }
                (next, rest) = (rest[0], &rest[8..]);
            }
            IpProtocol::ICMPV6 => return rest.first().is_some_and(|&t| !is_error(t)),
            _ => return true,
        }
    }
    false
}

/// Builds an ICMPv6 error about `original_ipv6_packet` into `out`: an IPv6 packet
/// from `src` to the original's source, quoting as much of the original as fits both
/// in 1280 bytes (RFC 4443 2.4(c)) and in `out`. Returns its length.
///
/// The caller decides whether to send at all ([`may_send_error_about`], rate limits).
/// Errors: those of [`Ipv6Packet::new_checked`] on the original; `BufferTooSmall` if
/// `out` cannot hold the original's fixed header and 8 bytes more.
pub fn emit_error(
    out: &mut [u8],
    src: Ipv6Addr,
    original_ipv6_packet: &[u8],
    icmp_type: u8,
    code: u8,
) -> Result<usize> {
    emit_error_with(out, src, original_ipv6_packet, icmp_type, code, 0)
}

/// [`emit_error`] with the second word set: the MTU for [`PACKET_TOO_BIG`], the
/// pointer for [`PARAM_PROBLEM`].
pub fn emit_error_with(
    out: &mut [u8],
    src: Ipv6Addr,
    original_ipv6_packet: &[u8],
    icmp_type: u8,
    code: u8,
    rest_of_header: u32,
) -> Result<usize> {
    let orig = Ipv6Packet::new_checked(original_ipv6_packet)?;
    let to = orig.src_addr();
    let orig = orig.packet();
    let room = out
        .len()
        .min(MAX_ERROR_LEN)
        .checked_sub(ipv6::HEADER_LEN + HEADER_LEN)
        .ok_or(Error::BufferTooSmall)?;
    if room < orig.len().min(ipv6::HEADER_LEN + 8) {
        return Err(Error::BufferTooSmall);
    }
    let quote = orig.len().min(room);
    let icmp_len = HEADER_LEN + quote;

    let hl = ipv6::emit_header(
        out,
        src,
        to,
        IpProtocol::ICMPV6,
        ipv6::DEFAULT_HOP_LIMIT,
        icmp_len,
    );
    let mut icmp = Icmpv6Packet::new_unchecked(&mut out[hl..hl + icmp_len]);
    icmp.set_msg_type(icmp_type);
    icmp.set_code(code);
    icmp.set_rest_of_header(rest_of_header);
    icmp.data_mut().copy_from_slice(&orig[..quote]);
    icmp.fill_checksum(src, to);
    Ok(hl + icmp_len)
}

/// A parsed neighbor solicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborSolicit {
    /// The IPv6 source: the solicitor, or unspecified for duplicate address detection.
    pub src: Ipv6Addr,
    /// The address being resolved (or checked for duplicates).
    pub target: Ipv6Addr,
    /// The solicitor's MAC, from the source link-layer address option.
    pub source_mac: Option<MacAddr>,
}

impl NeighborSolicit {
    /// Same as [`parse_ns`].
    pub fn parse(ipv6_packet: &[u8]) -> Result<NeighborSolicit> {
        parse_ns(ipv6_packet)
    }
}

/// A parsed neighbor advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborAdvert {
    /// The IPv6 source: the advertiser.
    pub src: Ipv6Addr,
    /// R: the sender is a router.
    pub router: bool,
    /// S: an answer to a solicitation.
    pub solicited: bool,
    /// O: replace a cached link-layer address.
    pub override_flag: bool,
    pub target: Ipv6Addr,
    /// From the target link-layer address option.
    pub target_mac: Option<MacAddr>,
}

impl NeighborAdvert {
    /// Same as [`parse_na`].
    pub fn parse(ipv6_packet: &[u8]) -> Result<NeighborAdvert> {
        parse_na(ipv6_packet)
    }
}

/// What the ND parsers share: addresses, the ICMPv6 body, the link-layer option.
struct NdMessage<'a> {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    body: &'a [u8],
    link_layer: Option<MacAddr>,
}

/// The validity checks shared by NS and NA (RFC 4861 7.1.1, 7.1.2): ICMPv6 right
/// after the fixed header, of type `expected`, a good checksum, hop limit 255, code
/// 0, at least 24 bytes, a unicast target, and well-formed options; picks out the
/// link-layer option of type `ll_option`.
fn parse_nd(ipv6_packet: &[u8], expected: u8, ll_option: u8) -> Result<NdMessage<'_>> {
    let ip = Ipv6Packet::new_checked(ipv6_packet)?;
    if ip.next_header() != IpProtocol::ICMPV6 {
        return Err(Error::Unsupported);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let body = &ipv6_packet[ipv6::HEADER_LEN..ip.total_len()];
    let icmp = Icmpv6Packet::new_checked(body)?;
    if icmp.msg_type() != expected {
        return Err(Error::Unsupported);
    }
    if !icmp.verify_checksum(src, dst) {
        return Err(Error::BadChecksum);
    }
    if ip.hop_limit() != ND_HOP_LIMIT || icmp.code() != 0 {
        return Err(Error::Malformed);
    }
    if body.len() < ND_BODY_LEN {
        return Err(Error::Truncated);
    }
    if nd_target(body).is_multicast() {
        return Err(Error::Malformed);
    }
    let link_layer = link_layer_option(&body[field::ND_OPTIONS..], ll_option)?;
    Ok(NdMessage {
        src,
        dst,
        body,
        link_layer,
    })
}

fn nd_target(body: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&body[field::ND_TARGET]);
    Ipv6Addr::from(a)
}

/// Walks ND options (type, length in 8-byte units, data) and returns the MAC of the
/// first option of type `wanted`. A zero length would loop forever and makes the
/// whole packet invalid (RFC 4861 4.6); so does an option running past the end.
fn link_layer_option(mut options: &[u8], wanted: u8) -> Result<Option<MacAddr>> {
    let mut found = None;
    while !options.is_empty() {
        let len = usize::from(*options.get(1).ok_or(Error::Malformed)?) * 8;
        if len == 0 || len > options.len() {
            return Err(Error::Malformed);
        }
        if options[0] == wanted && found.is_none() {
            found = Some(MacAddr::from_bytes(&options[2..]));
        }
        options = &options[len..];
    }
    Ok(found)
}

/// Parses and validates a neighbor solicitation (a whole IPv6 packet).
///
/// Besides the common ND checks, a solicitation from the unspecified address
/// (duplicate address detection) must go to a solicited-node group and carry no
/// source link-layer address (RFC 4861 7.1.1). Errors: `Unsupported` if it is not an
/// NS right after the fixed header, `BadChecksum`, `Truncated`, `Malformed`.
pub fn parse_ns(ipv6_packet: &[u8]) -> Result<NeighborSolicit> {
    let m = parse_nd(ipv6_packet, NS, OPT_SOURCE_LL)?;
    if m.src.is_unspecified()
        && (!ipv6::is_solicited_node_multicast(m.dst) || m.link_layer.is_some())
    {
        return Err(Error::Malformed);
    }
    Ok(NeighborSolicit {
        src: m.src,
        target: nd_target(m.body),
        source_mac: m.link_layer,
    })
}

/// Parses and validates a neighbor advertisement (a whole IPv6 packet).
///
/// Besides the common ND checks, an advertisement to a multicast group cannot be
/// solicited (RFC 4861 7.1.2). Errors as [`parse_ns`].
pub fn parse_na(ipv6_packet: &[u8]) -> Result<NeighborAdvert> {
    let m = parse_nd(ipv6_packet, NA, OPT_TARGET_LL)?;
    let flags = m.body[field::NA_FLAGS];
    let solicited = flags & NA_SOLICITED != 0;
    if solicited && m.dst.is_multicast() {
        return Err(Error::Malformed);
    }
    Ok(NeighborAdvert {
        src: m.src,
        router: flags & NA_ROUTER != 0,
        solicited,
        override_flag: flags & NA_OVERRIDE != 0,
        target: nd_target(m.body),
        target_mac: m.link_layer,
    })
}

/// Writes an ND packet: IPv6 header, type, flags word, target, and a link-layer
/// option unless `option` is `None`. Returns the length.
fn emit_nd(
    out: &mut [u8],
    (src, dst): (Ipv6Addr, Ipv6Addr),
    icmp_type: u8,
    flags: u8,
    target: Ipv6Addr,
    option: Option<(u8, MacAddr)>,
) -> usize {
    let icmp_len = ND_BODY_LEN + if option.is_some() { LL_OPTION_LEN } else { 0 };
    let hl = ipv6::emit_header(out, src, dst, IpProtocol::ICMPV6, ND_HOP_LIMIT, icmp_len);
    let body = &mut out[hl..hl + icmp_len];
    body[field::TYPE] = icmp_type;
    body[field::CODE] = 0;
    body[field::REST].copy_from_slice(&[flags, 0, 0, 0]);
    body[field::ND_TARGET].copy_from_slice(&target.octets());
    if let Some((kind, mac)) = option {
        let opt = &mut body[field::ND_OPTIONS..];
        opt[0] = kind;
        opt[1] = 1;
        opt[2..8].copy_from_slice(&mac.0);
    }
    Icmpv6Packet::new_unchecked(body).fill_checksum(src, dst);
    hl + icmp_len
}

/// Writes a whole IPv6 neighbor solicitation for `target`, from `src_ip`, to
/// `target`'s solicited-node group, with our MAC in a source link-layer address
/// option, and returns its length (72). The Ethernet destination is
/// `ipv6::multicast_mac` of the IPv6 destination.
///
/// With an unspecified `src_ip` (duplicate address detection) the option must be
/// left out (RFC 4861 4.3), and the packet is 64 bytes.
///
/// # Panics
/// If `out` is shorter than [`ND_PACKET_LEN`] (72); size the buffer with it.
pub fn emit_ns(out: &mut [u8], src_mac: MacAddr, src_ip: Ipv6Addr, target: Ipv6Addr) -> usize {
    let dst = ipv6::solicited_node_multicast(target);
    let option = (!src_ip.is_unspecified()).then_some((OPT_SOURCE_LL, src_mac));
    emit_nd(out, (src_ip, dst), NS, 0, target, option)
}

/// Writes a whole IPv6 neighbor advertisement: `target` is at `our_mac` (target
/// link-layer address option), from `src_ip` to `dst_ip`, with the router and
/// override flags set and the solicited flag as given. Returns its length (72).
///
/// Answering a solicitation from the unspecified address, `dst_ip` is ff02::1 and
/// `solicited` is false (RFC 4861 7.2.4).
///
/// # Panics
/// If `out` is shorter than [`ND_PACKET_LEN`] (72); size the buffer with it.
pub fn emit_na(
    out: &mut [u8],
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    target: Ipv6Addr,
    our_mac: MacAddr,
    solicited: bool,
) -> usize {
    let mut flags = NA_ROUTER | NA_OVERRIDE;
    if solicited {
        flags |= NA_SOLICITED;
    }
    let option = Some((OPT_TARGET_LL, our_mac));
    emit_nd(out, (src_ip, dst_ip), NA, flags, target, option)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
    const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// NS_PKT from fd00:1::2 to ff02::1:ff00:1 for fd00:1::1, SLLA 02:00:00:00:00:02.
    const NS_PKT: [u8; 72] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x01, 0x87, 0x00, 0x7d, 0x95, 0x00,
        0x00, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
    ];
    /// Our NA: fd00:1::1 -> fd00:1::2, R S O, target fd00:1::1, TLLA 02:00:00:00:00:01.
    const NA_PKT: [u8; 72] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x88, 0x00, 0x9c, 0x98, 0xe0,
        0x00, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];
    /// Echo request fd00:1::2 -> fd00:1::1, hop limit 63, id 0x42 seq 7, "pingdata".
    const ECHO6_REQUEST: [u8; 56] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x3a, 0x3f, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0xcd, 0xd1, 0x00,
        0x42, 0x00, 0x07, 0x70, 0x69, 0x6e, 0x67, 0x64, 0x61, 0x74, 0x61,
    ];
    /// Our reply: fd00:1::1 -> fd00:1::2, hop limit 64.
    const ECHO6_REPLY: [u8; 56] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x3a, 0x40, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x81, 0x00, 0xcc, 0xd1, 0x00,
        0x42, 0x00, 0x07, 0x70, 0x69, 0x6e, 0x67, 0x64, 0x61, 0x74, 0x61,
    ];
    /// UDP fd00:1::2 -> 2001:db8::10, hop limit 1.
    const UDP6_HOP1: [u8; 52] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11, 0x01, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x9c, 0x40, 0x82, 0x9a, 0x00,
        0x0c, 0x12, 0x34, 0x61, 0x62, 0x63, 0x64,
    ];
    /// Our time exceeded about it, from fd00:1::1, quoting all 52 bytes.
    const TIME_EXCEEDED6: [u8; 100] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x3c, 0x3a, 0x40, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x00, 0x70, 0xc6, 0x00,
        0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11, 0x01, 0xfd, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x20, 0x01, 0x0d,
        0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x9c, 0x40,
        0x82, 0x9a, 0x00, 0x0c, 0x12, 0x34, 0x61, 0x62, 0x63, 0x64,
    ];

    /// Recomputes the ICMPv6 checksum of a whole packet after a test edits it.
    fn refit(p: &mut [u8]) {
        let ip = Ipv6Packet::new_checked(&*p).unwrap();
        let (s, d, end) = (ip.src_addr(), ip.dst_addr(), ip.total_len());
        Icmpv6Packet::new_unchecked(&mut p[40..end]).fill_checksum(s, d);
    }

    #[test]
    fn parse_ns_fixture() {
        let ns = NeighborSolicit::parse(&NS_PKT).unwrap();
        assert_eq!(ns.src, a("fd00:1::2"));
        assert_eq!(ns.target, a("fd00:1::1"));
        assert_eq!(ns.source_mac, Some(HOST_MAC));
        let ip = Ipv6Packet::new_checked(&NS_PKT[..]).unwrap();
        assert_eq!(ip.dst_addr(), ipv6::solicited_node_multicast(ns.target));
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        // An NS is not an NA.
        assert_eq!(parse_na(&NS_PKT), Err(Error::Unsupported));
    }

    #[test]
    fn emit_ns_matches_fixture() {
        let mut out = [0u8; ND_PACKET_LEN];
        let n = emit_ns(&mut out, HOST_MAC, a("fd00:1::2"), a("fd00:1::1"));
        assert_eq!(n, 72);
        assert_eq!(out, NS_PKT);
    }

    #[test]
    fn answer_ns_with_na_fixture() {
        let ns = parse_ns(&NS_PKT).unwrap();
        let asker = Ipv6Packet::new_checked(&NS_PKT[..]).unwrap().src_addr();
        let mut out = [0u8; 80];
        let n = emit_na(&mut out, ns.target, asker, ns.target, OUR_MAC, true);
        assert_eq!(n, 72);
        assert_eq!(out[..n], NA_PKT);

        let na = parse_na(&out[..n]).unwrap();
        assert_eq!(
            na,
            NeighborAdvert {
                src: a("fd00:1::1"),
                router: true,
                solicited: true,
                override_flag: true,
                target: a("fd00:1::1"),
                target_mac: Some(OUR_MAC),
            }
        );
        assert_eq!(NeighborAdvert::parse(&NA_PKT), Ok(na));
        assert_eq!(parse_ns(&NA_PKT), Err(Error::Unsupported));
    }

    #[test]
    fn nd_emit_into_exact_buffers() {
        let (ip, mac) = (a("fd00:1::1"), OUR_MAC);
        let mut out = [0u8; ND_PACKET_LEN];
        assert_eq!(emit_ns(&mut out, mac, ip, ip), ND_PACKET_LEN);
        assert_eq!(emit_na(&mut out, ip, ip, ip, mac, true), ND_PACKET_LEN);
        // A DAD probe has no option: 64 bytes are enough.
        assert_eq!(emit_ns(&mut out[..64], mac, Ipv6Addr::UNSPECIFIED, ip), 64);
    }

    #[test]
    #[should_panic]
    fn nd_emit_panics_on_short_buffer() {
        let ip = a("fd00:1::1");
        emit_ns(&mut [0u8; ND_PACKET_LEN - 1], OUR_MAC, ip, ip);
    }

    #[test]
    fn unsolicited_na_to_all_nodes() {
        let mut out = [0u8; 72];
        let all_nodes = a("ff02::1");
        let n = emit_na(
            &mut out,
            a("fe80::1"),
            all_nodes,
            a("fe80::1"),
            OUR_MAC,
            false,
        );
        let na = parse_na(&out[..n]).unwrap();
        assert!(na.router && na.override_flag && !na.solicited);
        // Solicited to a multicast group is invalid.
        out[44] |= NA_SOLICITED;
        refit(&mut out);
        assert_eq!(parse_na(&out), Err(Error::Malformed));
    }

    #[test]
    fn dad_ns() {
        let mut out = [0u8; 72];
        let n = emit_ns(&mut out, OUR_MAC, Ipv6Addr::UNSPECIFIED, a("fd00:1::1"));
        assert_eq!(n, 64);
        let ns = parse_ns(&out[..n]).unwrap();
        assert_eq!((ns.target, ns.source_mac), (a("fd00:1::1"), None));
        assert!(ns.src.is_unspecified());
        // From :: with an SLLA option is invalid.
        let mut bad = NS_PKT;
        bad[8..24].copy_from_slice(&[0; 16]);
        refit(&mut bad);
        assert_eq!(parse_ns(&bad), Err(Error::Malformed));
    }

    #[test]
    fn nd_validation() {
        let mut hop = NS_PKT;
        hop[7] = 254; // forwarded: not from the link
        assert_eq!(parse_ns(&hop), Err(Error::Malformed));

        let mut code = NS_PKT;
        code[41] = 1;
        refit(&mut code);
        assert_eq!(parse_ns(&code), Err(Error::Malformed));

        let mut sum = NS_PKT;
        sum[42] ^= 1;
        assert_eq!(parse_ns(&sum), Err(Error::BadChecksum));

        let mut mcast_target = NS_PKT;
        mcast_target[48] = 0xff;
        refit(&mut mcast_target);
        assert_eq!(parse_ns(&mcast_target), Err(Error::Malformed));

        let mut zero_opt = NS_PKT;
        zero_opt[65] = 0;
        refit(&mut zero_opt);
        assert_eq!(parse_ns(&zero_opt), Err(Error::Malformed));

        let mut long_opt = NS_PKT;
        long_opt[65] = 2;
        refit(&mut long_opt);
        assert_eq!(parse_ns(&long_opt), Err(Error::Malformed));

        // A body cut to 16 bytes (payload length fixed up to match).
        let mut short = NS_PKT;
        short[5] = 16;
        refit(&mut short);
        assert_eq!(parse_ns(&short[..56]), Err(Error::Truncated));

        let mut not_icmp = NS_PKT;
        not_icmp[6] = 17;
        assert_eq!(parse_ns(&not_icmp), Err(Error::Unsupported));

        for n in 0..72 {
            assert_eq!(parse_ns(&NS_PKT[..n]), Err(Error::Truncated), "len {n}");
            assert_eq!(parse_na(&NA_PKT[..n]), Err(Error::Truncated), "len {n}");
        }
    }

    #[test]
    fn nd_options_other_types_are_skipped() {
        // NS with a nonce option (type 14, RFC 3971) before the SLLA.
        let mut out = [0u8; 80];
        out[..72].copy_from_slice(&NS_PKT);
        out[64..72].copy_from_slice(&[14, 1, 1, 2, 3, 4, 5, 6]);
        out[72..80].copy_from_slice(&NS_PKT[64..72]);
        out[5] = 40;
        refit(&mut out);
        assert_eq!(parse_ns(&out).unwrap().source_mac, Some(HOST_MAC));
    }

    #[test]
    fn echo_request_to_reply_matches_fixture() {
        let ip = Ipv6Packet::new_checked(&ECHO6_REQUEST[..]).unwrap();
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (0x42, 7));
        assert_eq!(icmp.data(), b"pingdata");

        let mut p = ECHO6_REQUEST;
        echo_request_to_reply(&mut p).unwrap();
        assert_eq!(p, ECHO6_REPLY);
        assert_eq!(echo_request_to_reply(&mut p), Err(Error::Unsupported));
    }

    #[test]
    fn echo_refusals() {
        let mut to_group = ECHO6_REQUEST;
        to_group[24..40].copy_from_slice(&a("ff02::1").octets());
        refit(&mut to_group);
        assert_eq!(
            echo_request_to_reply(&mut to_group),
            Err(Error::Unsupported)
        );
        let mut udp = UDP6_HOP1;
        assert_eq!(echo_request_to_reply(&mut udp), Err(Error::Unsupported));
        for n in [0, 39, 47, 55] {
            let mut short = ECHO6_REQUEST;
            assert_eq!(
                echo_request_to_reply(&mut short[..n]),
                Err(Error::Truncated)
            );
        }
    }

    #[test]
    fn icmp_view_rejects_truncated() {
        for n in 0..8 {
            assert_eq!(
                Icmpv6Packet::new_checked(&ECHO6_REQUEST[40..40 + n]),
                Err(Error::Truncated)
            );
        }
    }

    #[test]
    fn time_exceeded_matches_fixture() {
        assert!(may_send_error_about(&UDP6_HOP1));
        let mut out = [0u8; 1500];
        let n = emit_error(
            &mut out,
            a("fd00:1::1"),
            &UDP6_HOP1,
            TIME_EXCEEDED,
            time_exceeded::HOP_LIMIT,
        )
        .unwrap();
        assert_eq!(out[..n], TIME_EXCEEDED6);
        let ip = Ipv6Packet::new_checked(&out[..n]).unwrap();
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!(icmp.data(), &UDP6_HOP1[..]);
        assert!(!may_send_error_about(&out[..n]));
    }

    #[test]
    fn large_original_is_cut_to_1280() {
        let mut big = [0x5au8; 1500];
        big[..40].copy_from_slice(&UDP6_HOP1[..40]);
        Ipv6Packet::new_unchecked(&mut big[..]).set_payload_len(1460);
        let mut out = [0u8; 2000];
        let n = emit_error_with(&mut out, a("fd00:1::1"), &big, PACKET_TOO_BIG, 0, 1280).unwrap();
        assert_eq!(n, 1280);
        let ip = Ipv6Packet::new_checked(&out[..n]).unwrap();
        assert_eq!(ip.payload_len(), 1240);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!(icmp.rest_of_header(), 1280);
        assert_eq!(icmp.data(), &big[..1232]);

        let src = a("fd00:1::1");
        assert_eq!(
            emit_error(&mut out[..95], src, &UDP6_HOP1, 3, 0),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(emit_error(&mut out[..96], src, &UDP6_HOP1, 3, 0), Ok(96));
        assert_eq!(
            emit_error(&mut out, src, &UDP6_HOP1[..51], 3, 0),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn error_rules() {
        let with = |f: &dyn Fn(&mut [u8; 52])| {
            let mut p = UDP6_HOP1;
            f(&mut p);
            may_send_error_about(&p)
        };
        assert!(with(&|_| {}));
        assert!(!with(&|p| p[8..24].copy_from_slice(&[0; 16])));
        assert!(!with(&|p| p[8..24].copy_from_slice(&a("ff02::1").octets())));
        assert!(!with(
            &|p| p[24..40].copy_from_slice(&a("ff02::1:ff00:1").octets())
        ));
        // Queries may get errors; errors, and empty ICMPv6, may not.
        assert!(may_send_error_about(&ECHO6_REQUEST));
        assert!(!may_send_error_about(&TIME_EXCEEDED6));
        assert!(!with(&|p| {
            p[5] = 0;
            p[6] = 58;
        }));
        assert!(!may_send_error_about(&UDP6_HOP1[..40]));
    }

    #[test]
    fn error_rules_walk_extension_headers() {
        // Fixed header + one 8-byte extension header + 8 bytes of upper layer.
        let build = |ext: u8, ext_bytes: [u8; 8], upper: u8, first: u8| {
            let mut p = [0u8; 56];
            ipv6::emit_header(&mut p, a("fd00:1::2"), a("2001:db8::10"), ext, 1, 16);
            p[40..48].copy_from_slice(&ext_bytes);
            p[40] = upper;
            p[48] = first;
            p
        };
        let dest_opts = [0, 0, 1, 4, 0, 0, 0, 0]; // PadN
        assert!(!may_send_error_about(&build(
            60,
            dest_opts,
            58,
            TIME_EXCEEDED
        )));
        assert!(may_send_error_about(&build(
            60,
            dest_opts,
            58,
            ECHO_REQUEST
        )));
        assert!(may_send_error_about(&build(0, dest_opts, 17, 0)));
        let first_frag = [0, 0, 0x00, 0x01, 0, 0, 0, 1]; // offset 0, M
        assert!(!may_send_error_about(&build(
            44,
            first_frag,
            58,
            DEST_UNREACHABLE
        )));
        assert!(may_send_error_about(&build(44, first_frag, 17, 0)));
        let later_frag = [0, 0, 0x05, 0xa8, 0, 0, 0, 1]; // offset 1448
        assert!(!may_send_error_about(&build(44, later_frag, 17, 0)));
        // An extension header claiming more than there is.
        let too_long = [0, 4, 0, 0, 0, 0, 0, 0];
        assert!(!may_send_error_about(&build(43, too_long, 17, 0)));
    }

    #[test]
    fn error_types() {
        assert!(is_error(DEST_UNREACHABLE) && is_error(TIME_EXCEEDED) && is_error(127));
        assert!(!is_error(ECHO_REQUEST) && !is_error(super::NS) && !is_error(super::NA));
    }
}
