//! A TCP RST answering a TCP segment (ipfw's `reset`, RFC 793's reset
//! generation): addresses and ports swapped; if the segment had ACK, the
//! reset's sequence number is that acknowledgment, else the reset
//! acknowledges the segment (sequence + data length + SYN + FIN).
use crate::wire::checksum;
use std::net::{Ipv4Addr, Ipv6Addr};

const TCP_HDR: usize = 20;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// The TCP header of the reset for segment `seg` (its TCP header and data).
fn tcp_reset(seg: &[u8]) -> Option<[u8; TCP_HDR]> {
    if seg.len() < TCP_HDR {
        return None;
    }
    let flags = seg[13];
    if flags & RST != 0 {
        return None; // never answer a reset
    }
    let data_off = ((seg[12] >> 4) as usize * 4).clamp(TCP_HDR, seg.len());
    let seq = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
    let ack = u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]);
    let mut h = [0u8; TCP_HDR];
    h[0..2].copy_from_slice(&seg[2..4]);
    h[2..4].copy_from_slice(&seg[0..2]);
    h[12] = 5 << 4;
    if flags & ACK != 0 {
        h[4..8].copy_from_slice(&ack.to_be_bytes());
        h[13] = RST;
    } else {
        let len =
            (seg.len() - data_off) as u32 + (flags & SYN != 0) as u32 + (flags & FIN != 0) as u32;
        h[8..12].copy_from_slice(&seq.wrapping_add(len).to_be_bytes());
        h[13] = RST | ACK;
    }
    Some(h)
}

/// Writes into `buf` the IPv4 packet of the reset answering the IPv4 TCP
/// packet `ip`; returns its length.
pub fn reset4(ip: &[u8], buf: &mut [u8; 40]) -> Option<usize> {
    let ihl = (*ip.first()? & 0x0f) as usize * 4;
    let total = (u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]) as usize).min(ip.len());
    let mut tcp = tcp_reset(ip.get(ihl..total)?)?;
    let src = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let dst = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let ps = checksum::pseudo_header_v4(src, dst, 6, TCP_HDR as u16);
    let c = checksum::finish(checksum::combine(&[ps, checksum::sum(&tcp)]));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    buf.fill(0);
    buf[0] = 0x45;
    buf[2..4].copy_from_slice(&40u16.to_be_bytes());
    buf[6] = 0x40; // DF
    buf[8] = 64;
    buf[9] = 6;
    buf[12..16].copy_from_slice(&src.octets());
    buf[16..20].copy_from_slice(&dst.octets());
    let hc = checksum::checksum(&buf[..20]);
    buf[10..12].copy_from_slice(&hc.to_be_bytes());
    buf[20..40].copy_from_slice(&tcp);
    Some(40)
}

/// The IPv6 counterpart; `l4_off` is where the TCP header starts in `ip`.
pub fn reset6(ip: &[u8], l4_off: usize, buf: &mut [u8; 60]) -> Option<usize> {
    let plen = u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]) as usize;
    let end = (40 + plen).min(ip.len());
    let mut tcp = tcp_reset(ip.get(l4_off..end)?)?;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
    let ps = checksum::pseudo_header_v6(src, dst, 6, TCP_HDR as u32);
    let c = checksum::finish(checksum::combine(&[ps, checksum::sum(&tcp)]));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    buf.fill(0);
    buf[0] = 0x60;
    buf[4..6].copy_from_slice(&(TCP_HDR as u16).to_be_bytes());
    buf[6] = 6;
    buf[7] = 64;
    buf[8..24].copy_from_slice(&src.octets());
    buf[24..40].copy_from_slice(&dst.octets());
    buf[40..60].copy_from_slice(&tcp);
    Some(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_for_a_syn_acknowledges_it() {
        let mut p = [0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 1, 2]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&23u16.to_be_bytes());
        p[24..28].copy_from_slice(&1000u32.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = SYN;
        let mut b = [0u8; 40];
        assert_eq!(reset4(&p, &mut b), Some(40));
        assert_eq!(&b[12..16], &[10, 0, 1, 2]);
        assert_eq!(&b[16..20], &[10, 0, 0, 1]);
        assert_eq!(u16::from_be_bytes([b[20], b[21]]), 23);
        assert_eq!(u16::from_be_bytes([b[22], b[23]]), 40000);
        assert_eq!(u32::from_be_bytes([b[28], b[29], b[30], b[31]]), 1001);
        assert_eq!(b[33], RST | ACK);
        assert_eq!(checksum::checksum(&b[..20]), 0, "IP checksum");
        let ps = checksum::pseudo_header_v4(
            Ipv4Addr::new(10, 0, 1, 2),
            Ipv4Addr::new(10, 0, 0, 1),
            6,
            20,
        );
        assert_eq!(
            checksum::finish(checksum::combine(&[ps, checksum::sum(&b[20..])])),
            0,
            "TCP checksum"
        );
        p[33] = RST;
        assert_eq!(reset4(&p, &mut b), None, "no reset for a reset");
    }
}
