//! IPv6: neighbor discovery and echo for the router's own addresses, then
//! routing with hop-limit decrement (no header checksum in IPv6).
use super::{egress, icmp_error, nd, solicit, Ingress, Output, PathCtx, Pending};
use crate::frame::Frame;
use crate::stats::{bump, DropReason};
use crate::tables::is_link_local6;
use crate::tables::NextHop;
use crate::wire::{icmpv6, EtherType, IpProtocol, Ipv6Packet};
use std::net::IpAddr;

pub(super) fn handle<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
) {
    let fwd = &ing.vnet.fwd;
    let c = fwd.counters.worker(ctx.worker);
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
            Err(_) => return c.drop(DropReason::Malformed),
        };
    frame.set_len(l3 + total);
    if next_header == IpProtocol::ICMPV6 {
        if let Some(t) = frame.data().get(l3 + 40).copied() {
            if (icmpv6::NS..=icmpv6::NA).contains(&t)
                || t == icmpv6::ROUTER_SOLICIT
                || t == icmpv6::ROUTER_ADVERT
            {
                return nd::handle(ctx, out, ing, frame, t);
            }
        }
    }
    if dst.is_multicast() {
        // MLD reports, all-nodes traffic, …: nothing we route or answer.
        return c.drop(DropReason::NotRoutable);
    }
    if ing.iface.owns6(dst) {
        return local(ctx, out, ing, frame, next_header);
    }
    if is_link_local6(src) || is_link_local6(dst) {
        return c.drop(DropReason::NotRoutable);
    }
    let nh_index = fwd.fib6.lookup_u128(u128::from(dst));
    if nh_index == lpm::NO_ROUTE {
        c.drop(DropReason::NoRoute);
        return icmp_error::send6(
            ctx,
            out,
            ing,
            frame,
            icmpv6::DEST_UNREACHABLE,
            icmpv6::unreachable::NO_ROUTE,
        );
    }
    let (iface_index, neighbor) = match fwd.nexthops[nh_index as usize] {
        NextHop::Local => return local(ctx, out, ing, frame, next_header),
        NextHop::Connected { iface } => (iface, IpAddr::V6(dst)),
        NextHop::Gateway { iface, via } => (iface, via),
    };
    if hop_limit <= 1 {
        c.drop(DropReason::TtlExpired);
        return icmp_error::send6(
            ctx,
            out,
            ing,
            frame,
            icmpv6::TIME_EXCEEDED,
            icmpv6::time_exceeded::HOP_LIMIT,
        );
    }
    if let Ok(mut p) = Ipv6Packet::new_checked(&mut frame.data_mut()[l3..]) {
        p.decrement_hop_limit();
    }
    bump(&c.forwarded, 1);
    let egress_iface = &fwd.interfaces[iface_index as usize];
    match ing.vnet.neighbors.get(neighbor) {
        Some(n) => egress::send(out, c, frame, l3, egress_iface, n.mac, EtherType::IPV6),
        None => solicit::hold(
            ctx,
            pending,
            out,
            ing.vnet,
            iface_index,
            neighbor,
            frame,
            l3,
            EtherType::IPV6,
        ),
    }
}

fn local<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    next_header: u8,
) {
    let c = ing.vnet.fwd.counters.worker(ctx.worker);
    bump(&c.local, 1);
    let l3 = ing.l3_off;
    if next_header == IpProtocol::ICMPV6
        && icmpv6::echo_request_to_reply(&mut frame.data_mut()[l3..]).is_ok()
    {
        return egress::send(out, c, frame, l3, ing.iface, ing.src_mac, EtherType::IPV6);
    }
    c.drop(DropReason::LocalUnhandled);
}
