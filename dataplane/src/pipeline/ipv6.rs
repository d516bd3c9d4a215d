//! IPv6 in two halves around the batched route lookup (see `burst`): `prepare`
//! answers neighbor discovery and echo for the router's own addresses and drops
//! what is not routed; `route::finish` forwards with a hop-limit decrement (no
//! header checksum in IPv6), from `Prepared6`'s `Family`.
use super::filter::{self, Pass};
use super::{icmp_error, nd, route, Ingress, Output, PathCtx};
use crate::frame::Frame;
use crate::stats::DropReason;
use crate::tables::is_link_local6;
use crate::wire::{icmpv6, EtherType, IpProtocol, Ipv6Packet};
use ::firewall::Tags;
use std::net::{IpAddr, Ipv6Addr};

/// What `finish` needs from the header, read once in `prepare`.
#[derive(Clone, Copy, Default)]
pub(super) struct Prepared6 {
    /// Destination, host order: the lookup key.
    pub dst: u128,
    pub hop_limit: u8,
    pub next_header: u8,
}

/// Header checks and the router's own traffic (ND, echo); the frame comes back for
/// the route lookup when it is to be routed.
#[inline(always)]
pub(super) fn prepare<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    tags: &mut Tags,
) -> Option<(F, Prepared6)> {
    let c = ing.counters;
    let l3 = ing.l3_off;
    let (src, dst, hop_limit, next_header, total) =
        match Ipv6Packet::new_checked(&frame.data()[l3..]) {
            Ok(p) => (
                p.src_addr(),
                p.dst_addr(),
                p.hop_limit(),
                p.next_header(),
                40 + p.payload_len() as usize,
            ),
            Err(_) => {
                c.drop(DropReason::Malformed);
                return None;
            }
        };
    frame.set_len(l3 + total);
    if next_header == IpProtocol::ICMPV6 {
        if let Some(t) = frame.data().get(l3 + 40).copied() {
            if (icmpv6::NS..=icmpv6::NA).contains(&t)
                || t == icmpv6::ROUTER_SOLICIT
                || t == icmpv6::ROUTER_ADVERT
            {
                nd::handle(ctx, out, ing, frame, t);
                return None;
            }
        }
    }
    if dst.is_multicast() {
        // MLD reports, all-nodes traffic, …: nothing we route or answer.
        c.drop(DropReason::NotRoutable);
        return None;
    }
    // `tags` comes back with the "in" pass's tags (for a vnet with a firewall).
    let frame = filter::pass(ctx, out, ing, frame, true, || Pass::In, tags)?;
    if ing.iface().owns6(dst) {
        let p = Prepared6 {
            dst: u128::from(dst),
            hop_limit,
            next_header,
        };
        route::local(ctx, out, ing, frame, p);
        return None;
    }
    if is_link_local6(src) || is_link_local6(dst) {
        c.drop(DropReason::NotRoutable);
        return None;
    }
    Some((
        frame,
        Prepared6 {
            dst: u128::from(dst),
            hop_limit,
            next_header,
        },
    ))
}

impl route::Family for Prepared6 {
    const V6: bool = true;
    const ETHERTYPE: u16 = EtherType::IPV6;
    #[inline(always)]
    fn hops_left(&self) -> u8 {
        self.hop_limit
    }
    #[inline(always)]
    fn dst(&self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self.dst))
    }
    #[inline(always)]
    fn proto(&self) -> u8 {
        self.next_header
    }
    #[inline(always)]
    fn decrement(l3: &mut [u8]) {
        Ipv6Packet::new_unchecked(l3).decrement_hop_limit();
    }
    fn echo_to_reply(l3: &mut [u8], proto: u8) -> bool {
        proto == IpProtocol::ICMPV6 && icmpv6::echo_request_to_reply(l3).is_ok()
    }
    fn no_route<F: Frame, O: Output<F>>(ctx: &PathCtx<'_>, out: &mut O, ing: &Ingress<'_>, f: F) {
        let (t, code) = (icmpv6::DEST_UNREACHABLE, icmpv6::unreachable::NO_ROUTE);
        icmp_error::send6(ctx, out, ing, f, t, code);
    }
    fn hops_exceeded<F: Frame, O: Output<F>>(
        ctx: &PathCtx<'_>,
        out: &mut O,
        ing: &Ingress<'_>,
        f: F,
    ) {
        let (t, code) = (icmpv6::TIME_EXCEEDED, icmpv6::time_exceeded::HOP_LIMIT);
        icmp_error::send6(ctx, out, ing, f, t, code);
    }
}
