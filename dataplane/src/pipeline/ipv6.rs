//! IPv6 in two halves around the batched route lookup (see `burst`): `prepare`
//! answers neighbor discovery and echo for the router's own addresses and drops
//! what is not routed; `finish` forwards with a hop-limit decrement (no header
//! checksum in IPv6).
use super::filter::{self, Pass};
use super::{
    egress, icmp_error, nd, sender_mac, solicit, Ingress, NeighborMemo, Output, PathCtx, Pending,
};
use crate::frame::Frame;
use crate::stats::{bump, DropReason};
use crate::tables::is_link_local6;
use crate::tables::NextHop;
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
        local(ctx, out, ing, frame, next_header);
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

/// Everything after the lookup: `nh_index` is the FIB's answer for `p.dst`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn finish<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    memo: &mut NeighborMemo,
    ing: &Ingress<'_>,
    mut frame: F,
    p: Prepared6,
    tags: &mut Tags,
    nh_index: lpm::NextHop,
) {
    let fwd = &ing.vnet.fwd;
    let c = ing.counters;
    let l3 = ing.l3_off;
    // A resolved gateway and hops to spare: as for IPv4 (`ipv4::finish`).
    if let Some(g) = ing.vnet.gateway(nh_index).filter(|_| p.hop_limit > 1) {
        Ipv6Packet::new_unchecked(&mut frame.data_mut()[l3..]).decrement_hop_limit();
        let dst = IpAddr::V6(Ipv6Addr::from(p.dst));
        let out_pass = || filter::out_pass(ing, nh_index, dst);
        let Some(frame) = filter::pass_forwarded(ctx, out, ing, frame, true, out_pass, tags) else {
            return;
        };
        bump(&c.forwarded, 1);
        return egress::send_via(out, c, frame, l3, g, EtherType::IPV6);
    }
    let Some(&nh) = fwd.nexthops.get(nh_index as usize) else {
        // NO_ROUTE (u32::MAX) is never an index.
        c.drop(DropReason::NoRoute);
        return icmp_error::send6(
            ctx,
            out,
            ing,
            frame,
            icmpv6::DEST_UNREACHABLE,
            icmpv6::unreachable::NO_ROUTE,
        );
    };
    let (iface_index, neighbor) = match nh {
        NextHop::Local => return local(ctx, out, ing, frame, p.next_header),
        NextHop::Connected { iface } => (iface, IpAddr::V6(Ipv6Addr::from(p.dst))),
        NextHop::Gateway { iface, via } => (iface, via),
    };
    if p.hop_limit <= 1 {
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
    // `prepare` checked the header: the hop-limit field is there.
    Ipv6Packet::new_unchecked(&mut frame.data_mut()[l3..]).decrement_hop_limit();
    let Some(frame) = filter::pass_forwarded(
        ctx,
        out,
        ing,
        frame,
        true,
        || Pass::Out {
            tx: iface_index,
            neighbor,
        },
        tags,
    ) else {
        return;
    };
    bump(&c.forwarded, 1);
    // A connected destination, or a gateway not resolved yet (which the
    // neighbor table does not know either: the frame is held).
    let egress_iface = &fwd.interfaces[iface_index as usize];
    match memo.get(ing.vnet, neighbor) {
        Some(mac) => egress::send(out, c, frame, l3, egress_iface, mac, EtherType::IPV6),
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
    let c = ing.counters;
    bump(&c.local, 1);
    let l3 = ing.l3_off;
    if next_header == IpProtocol::ICMPV6
        && icmpv6::echo_request_to_reply(&mut frame.data_mut()[l3..]).is_ok()
    {
        let mut tags = Tags::EMPTY;
        let out_pass = Pass::LocalOut {
            tx: ing.iface_index,
        };
        if let Some(frame) = filter::pass(ctx, out, ing, frame, true, || out_pass, &mut tags) {
            let mac = sender_mac(frame.data());
            egress::send(out, c, frame, l3, ing.iface(), mac, EtherType::IPV6);
        }
        return;
    }
    c.drop(DropReason::LocalUnhandled);
}
