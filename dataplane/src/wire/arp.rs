//! ARP for IPv4 over Ethernet (RFC 826), the only kind a router on Ethernet needs.

use std::net::Ipv4Addr;

use super::ethernet::{EtherType, MacAddr};
use super::{get_u16, put_u16, Error, Result};

mod field {
    use core::ops::Range;
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
const HTYPE_ETHERNET: u16 = 1;

/// The ARP operations we accept; RARP and InARP are refused by `new_checked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Request,
    Reply,
}

impl Operation {
    const fn code(self) -> u16 {
        match self {
            Operation::Request => 1,
            Operation::Reply => 2,
        }
    }
}

/// A view of an Ethernet/IPv4 ARP packet (the Ethernet payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps without checking; accessors panic on a buffer under 28 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Checks the length (trailing Ethernet padding is allowed), that the hardware and
    /// protocol are Ethernet and IPv4 with their lengths, and that the operation is a
    /// request or a reply.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        if get_u16(b, field::HTYPE) != HTYPE_ETHERNET
            || get_u16(b, field::PTYPE) != EtherType::IPV4
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(Error::Unsupported);
        }
        if !matches!(get_u16(b, field::OPER), 1 | 2) {
            return Err(Error::Unsupported);
        }
        Ok(ArpPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn operation(&self) -> Operation {
        match get_u16(self.buffer.as_ref(), field::OPER) {
            1 => Operation::Request,
            _ => Operation::Reply,
        }
    }

    pub fn sender_mac(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        ipv4_at(&self.buffer.as_ref()[field::SPA])
    }

    pub fn target_mac(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        ipv4_at(&self.buffer.as_ref()[field::TPA])
    }

    /// Gratuitous ARP (RFC 5227 announcements): sender and target IP are the same.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip() == self.target_ip()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    pub fn set_operation(&mut self, op: Operation) {
        put_u16(self.buffer.as_mut(), field::OPER, op.code());
    }

    pub fn set_sender(&mut self, mac: MacAddr, ip: Ipv4Addr) {
        let b = self.buffer.as_mut();
        b[field::SHA].copy_from_slice(&mac.0);
        b[field::SPA].copy_from_slice(&ip.octets());
    }

    pub fn set_target(&mut self, mac: MacAddr, ip: Ipv4Addr) {
        let b = self.buffer.as_mut();
        b[field::THA].copy_from_slice(&mac.0);
        b[field::TPA].copy_from_slice(&ip.octets());
    }
}

fn ipv4_at(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

fn emit(
    buf: &mut [u8],
    op: Operation,
    sender: (MacAddr, Ipv4Addr),
    target: (MacAddr, Ipv4Addr),
) -> usize {
    let b = &mut buf[..PACKET_LEN];
    put_u16(b, field::HTYPE, HTYPE_ETHERNET);
    put_u16(b, field::PTYPE, EtherType::IPV4);
    b[field::HLEN] = 6;
    b[field::PLEN] = 4;
    let mut arp = ArpPacket::new_unchecked(b);
    arp.set_operation(op);
    arp.set_sender(sender.0, sender.1);
    arp.set_target(target.0, target.1);
    PACKET_LEN
}

/// Writes a request "who has `target_ip`? tell `sender_ip`" (target MAC zero; the
/// caller broadcasts it) and returns its length, 28.
///
/// # Panics
/// If `buf` is shorter than 28 bytes.
pub fn emit_request(
    buf: &mut [u8],
    sender_mac: MacAddr,
    sender_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> usize {
    emit(
        buf,
        Operation::Request,
        (sender_mac, sender_ip),
        (MacAddr::ZERO, target_ip),
    )
}

/// Writes a reply "`sender_ip` is at `sender_mac`" and returns its length, 28.
///
/// # Panics
/// If `buf` is shorter than 28 bytes.
pub fn emit_reply(
    buf: &mut [u8],
    sender_mac: MacAddr,
    sender_ip: Ipv4Addr,
    target_mac: MacAddr,
    target_ip: Ipv4Addr,
) -> usize {
    emit(
        buf,
        Operation::Reply,
        (sender_mac, sender_ip),
        (target_mac, target_ip),
    )
}

/// Turns a request in `arp` into our reply in place: the requester becomes the
/// target, and the address it asked for is answered with `our_mac`. The caller has
/// checked that the requested address is ours; Ethernet addresses are its job too.
///
/// Errors as [`ArpPacket::new_checked`], and `Unsupported` if `arp` is not a request.
pub fn reply_in_place(arp: &mut [u8], our_mac: MacAddr) -> Result<()> {
    let mut pkt = ArpPacket::new_checked(arp)?;
    if pkt.operation() != Operation::Request {
        return Err(Error::Unsupported);
    }
    let (asker_mac, asker_ip, asked_ip) = (pkt.sender_mac(), pkt.sender_ip(), pkt.target_ip());
    pkt.set_operation(Operation::Reply);
    pkt.set_sender(our_mac, asked_ip);
    pkt.set_target(asker_mac, asker_ip);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
    const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
    const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);

    /// "Who has 10.0.1.1? Tell 10.0.1.2", a broadcast frame padded to 60 bytes.
    const ARP_REQUEST_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x00,
        0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    /// Our answer: "10.0.1.1 is at 02:00:00:00:00:01", to 10.0.1.2.
    const ARP_REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a,
        0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x01, 0x02,
    ];

    #[test]
    fn parse_request_with_padding() {
        let arp = ArpPacket::new_checked(&ARP_REQUEST_FRAME[14..]).unwrap();
        assert_eq!(arp.operation(), Operation::Request);
        assert_eq!(arp.sender_mac(), HOST_MAC);
        assert_eq!(arp.sender_ip(), HOST_IP);
        assert_eq!(arp.target_mac(), MacAddr::ZERO);
        assert_eq!(arp.target_ip(), OUR_IP);
        assert!(!arp.is_gratuitous());
    }

    #[test]
    fn emit_request_matches_fixture() {
        let mut buf = [0xaa; 28];
        assert_eq!(emit_request(&mut buf, HOST_MAC, HOST_IP, OUR_IP), 28);
        assert_eq!(buf, ARP_REQUEST_FRAME[14..42]);
    }

    #[test]
    fn reply_in_place_matches_fixture() {
        let mut frame = ARP_REQUEST_FRAME;
        reply_in_place(&mut frame[14..], OUR_MAC).unwrap();
        assert_eq!(frame[14..42], ARP_REPLY);
        // Padding is left alone.
        assert!(frame[42..].iter().all(|&b| b == 0));
        // A reply is not a request: no reply to it.
        assert_eq!(
            reply_in_place(&mut frame[14..], OUR_MAC),
            Err(Error::Unsupported)
        );
    }

    #[test]
    fn emit_reply_matches_fixture() {
        let mut buf = [0u8; 28];
        assert_eq!(emit_reply(&mut buf, OUR_MAC, OUR_IP, HOST_MAC, HOST_IP), 28);
        assert_eq!(buf, ARP_REPLY);
        let arp = ArpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(arp.operation(), Operation::Reply);
        assert_eq!((arp.sender_mac(), arp.sender_ip()), (OUR_MAC, OUR_IP));
        assert_eq!((arp.target_mac(), arp.target_ip()), (HOST_MAC, HOST_IP));
    }

    #[test]
    fn rejects_truncated() {
        for n in 0..28 {
            assert_eq!(
                ArpPacket::new_checked(&ARP_REPLY[..n]),
                Err(Error::Truncated)
            );
            let mut short = ARP_REPLY;
            assert_eq!(
                reply_in_place(&mut short[..n], OUR_MAC),
                Err(Error::Truncated)
            );
        }
    }

    #[test]
    fn rejects_other_hardware_protocols_and_operations() {
        // (byte index, bad value): htype 6 (IEEE 802), ptype IPv6, hlen 8, plen 16, RARP op 3.
        for (at, v) in [(1, 6), (2, 0x86), (4, 8), (5, 16), (7, 3)] {
            let mut p = ARP_REPLY;
            p[at] = v;
            assert_eq!(
                ArpPacket::new_checked(&p[..]),
                Err(Error::Unsupported),
                "{at}"
            );
        }
    }

    #[test]
    fn gratuitous() {
        let mut buf = [0u8; 28];
        emit_request(&mut buf, OUR_MAC, OUR_IP, OUR_IP);
        assert!(ArpPacket::new_checked(&buf[..]).unwrap().is_gratuitous());
    }
}
