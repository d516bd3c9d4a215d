//! IPv4: the router's own addresses (echo), then routing: LPM, TTL with an
//! incremental checksum update, next-hop resolution, L2 rewrite.
use super::{egress, icmp_error, solicit, Ingress, Output, PathCtx, Pending};
use crate::frame::Frame;
use crate::stats::{bump, DropReason};
use crate::tables::NextHop;
use crate::wire::{self, icmpv4, EtherType, IpProtocol, Ipv4Packet};
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
    let (dst, ttl, total_len, proto) = match Ipv4Packet::new_checked(&frame.data()[l3..]) {
        Ok(p) if !p.verify_checksum() => return c.drop(DropReason::BadChecksum),
        Ok(p) => (p.dst_addr(), p.ttl(), p.total_len() as usize, p.protocol()),
        Err(wire::Error::BadChecksum) => return c.drop(DropReason::BadChecksum),
        Err(_) => return c.drop(DropReason::Malformed),
    };
    // Ethernet pads short frames: forward the IP packet, not the padding.
    frame.set_len(l3 + total_len);
    if dst.is_broadcast() || dst.is_multicast() {
        return c.drop(DropReason::NotRoutable);
    }
    let nh_index = fwd.fib4.lookup_u32(u32::from(dst));
    if nh_index == lpm::NO_ROUTE {
        c.drop(DropReason::NoRoute);
        return icmp_error::send4(
            ctx,
            out,
            ing,
            frame,
            icmpv4::DEST_UNREACHABLE,
            icmpv4::unreachable::NET,
        );
    }
    let nh = fwd.nexthops[nh_index as usize];
    let (iface_index, neighbor) = match nh {
        NextHop::Local => return local(ctx, out, ing, frame, proto),
        NextHop::Connected { iface } => (iface, IpAddr::V4(dst)),
        NextHop::Gateway { iface, via } => (iface, via),
    };
    if ttl <= 1 {
        c.drop(DropReason::TtlExpired);
        return icmp_error::send4(
            ctx,
            out,
            ing,
            frame,
            icmpv4::TIME_EXCEEDED,
            icmpv4::time_exceeded::TTL,
        );
    }
    if let Ok(mut p) = Ipv4Packet::new_checked(&mut frame.data_mut()[l3..]) {
        p.decrement_ttl();
    }
    bump(&c.forwarded, 1);
    let egress_iface = &fwd.interfaces[iface_index as usize];
    match ing.vnet.neighbors.get(neighbor) {
        Some(n) => egress::send(out, c, frame, l3, egress_iface, n.mac, EtherType::IPV4),
        None => solicit::hold(
            ctx,
            pending,
            out,
            ing.vnet,
            iface_index,
            neighbor,
            frame,
            l3,
            EtherType::IPV4,
        ),
    }
}

/// A packet for one of the router's own addresses.
fn local<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    proto: u8,
) {
    let c = ing.vnet.fwd.counters.worker(ctx.worker);
    bump(&c.local, 1);
    let l3 = ing.l3_off;
    if proto == IpProtocol::ICMP
        && icmpv4::echo_request_to_reply(&mut frame.data_mut()[l3..]).is_ok()
    {
        // Back to the previous hop it came from, on the interface it came in on.
        return egress::send(out, c, frame, l3, ing.iface, ing.src_mac, EtherType::IPV4);
    }
    c.drop(DropReason::LocalUnhandled);
}
