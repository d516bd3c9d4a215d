//! IPv4 in two halves around the batched route lookup (see `burst`): `prepare`
//! checks the header and keeps what the lookup and the rest need; `route::finish`
//! acts on the next hop, with what is IPv4's own (TTL with an incremental
//! checksum update, ICMPv4 errors, echo) from `Prepared4`'s `Family`.
use super::filter::{self, Pass};
use super::{icmp_error, route, Ingress, Output, PathCtx};
use crate::frame::{Frame, RxChecksum};
use crate::stats::DropReason;
use crate::wire::{self, icmpv4, EtherType, IpProtocol, Ipv4Packet};
use ::firewall::Tags;
use std::net::{IpAddr, Ipv4Addr};

/// What `finish` needs from the header, read once in `prepare`.
#[derive(Clone, Copy, Default)]
pub(super) struct Prepared4 {
    /// Destination, host order: the lookup key.
    pub dst: u32,
    pub ttl: u8,
    pub proto: u8,
}

/// Header checks and the firewall's "in" pass; the frame comes back for the
/// route lookup unless it was dropped.
#[inline(always)]
pub(super) fn prepare<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    tags: &mut Tags,
) -> Option<(F, Prepared4)> {
    let c = ing.counters;
    let l3 = ing.l3_off;
    let p = match Ipv4Packet::new_checked(&frame.data()[l3..]) {
        // A NIC that checked the header checksum saves the software its sum.
        Ok(p)
            if !match frame.rx_ipv4_checksum() {
                RxChecksum::Unknown => p.verify_checksum(),
                nic => nic == RxChecksum::Good,
            } =>
        {
            c.drop(DropReason::BadChecksum);
            return None;
        }
        Ok(p) => p,
        Err(wire::Error::BadChecksum) => {
            c.drop(DropReason::BadChecksum);
            return None;
        }
        Err(_) => {
            c.drop(DropReason::Malformed);
            return None;
        }
    };
    let (dst, ttl, total_len, proto) = (p.dst_addr(), p.ttl(), p.total_len(), p.protocol());
    // Ethernet pads short frames: forward the IP packet, not the padding.
    frame.set_len(l3 + total_len as usize);
    if dst.is_broadcast() || dst.is_multicast() {
        c.drop(DropReason::NotRoutable);
        return None;
    }
    // `tags` comes back with the "in" pass's tags (for a vnet with a firewall).
    let frame = filter::pass(ctx, out, ing, frame, false, || Pass::In, tags)?;
    Some((
        frame,
        Prepared4 {
            dst: u32::from(dst),
            ttl,
            proto,
        },
    ))
}

impl route::Family for Prepared4 {
    const V6: bool = false;
    const ETHERTYPE: u16 = EtherType::IPV4;
    #[inline(always)]
    fn hops_left(&self) -> u8 {
        self.ttl
    }
    #[inline(always)]
    fn dst(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self.dst))
    }
    #[inline(always)]
    fn proto(&self) -> u8 {
        self.proto
    }
    #[inline(always)]
    fn decrement(l3: &mut [u8]) {
        Ipv4Packet::new_unchecked(l3).decrement_ttl();
    }
    fn echo_to_reply(l3: &mut [u8], proto: u8) -> bool {
        proto == IpProtocol::ICMP && icmpv4::echo_request_to_reply(l3).is_ok()
    }
    fn no_route<F: Frame, O: Output<F>>(ctx: &PathCtx<'_>, out: &mut O, ing: &Ingress<'_>, f: F) {
        let (t, code) = (icmpv4::DEST_UNREACHABLE, icmpv4::unreachable::NET);
        icmp_error::send4(ctx, out, ing, f, t, code);
    }
    fn hops_exceeded<F: Frame, O: Output<F>>(
        ctx: &PathCtx<'_>,
        out: &mut O,
        ing: &Ingress<'_>,
        f: F,
    ) {
        let (t, code) = (icmpv4::TIME_EXCEEDED, icmpv4::time_exceeded::TTL);
        icmp_error::send4(ctx, out, ing, f, t, code);
    }
}
