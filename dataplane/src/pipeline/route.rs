//! After the route lookup, the same for both families: the router's own
//! addresses (echo), the hop count with its ICMP error, the firewall's "out"
//! pass, next-hop resolution and the L2 rewrite. What differs between IPv4 and
//! IPv6 (the header's hop field and checksum, the ICMP types, the EtherType) is
//! the `Family` of the `prepare` half's result (`ipv4::Prepared4`,
//! `ipv6::Prepared6`).
use super::filter::{self, Pass};
use super::{egress, sender_mac, solicit, Ingress, NeighborMemo, Output, PathCtx, Pending};
use crate::frame::Frame;
use crate::stats::{bump, DropReason};
use crate::tables::NextHop;
use ::firewall::Tags;
use std::net::IpAddr;

/// What `finish` needs to know of a family, and the header facts `prepare` read.
pub(super) trait Family: Copy {
    const V6: bool;
    const ETHERTYPE: u16;
    /// TTL or hop limit as received.
    fn hops_left(&self) -> u8;
    /// The lookup key as an address (the neighbor of a connected route).
    fn dst(&self) -> IpAddr;
    /// Protocol or next header: what a packet for the router itself carries.
    fn proto(&self) -> u8;
    /// One hop less in the header at `l3` (and its checksum, for IPv4); `prepare`
    /// checked that the header is there.
    fn decrement(l3: &mut [u8]);
    /// An echo request turned into its reply in place; false for anything else.
    fn echo_to_reply(l3: &mut [u8], proto: u8) -> bool;
    /// The ICMP errors the router sends from here.
    fn no_route<F: Frame, O: Output<F>>(ctx: &PathCtx<'_>, out: &mut O, ing: &Ingress<'_>, f: F);
    fn hops_exceeded<F: Frame, O: Output<F>>(
        ctx: &PathCtx<'_>,
        out: &mut O,
        ing: &Ingress<'_>,
        f: F,
    );
}

/// Everything after the lookup: `nh_index` is the FIB's answer for `p.dst()`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn finish<P: Family, F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    memo: &mut NeighborMemo,
    ing: &Ingress<'_>,
    frame: F,
    p: P,
    tags: &mut Tags,
    nh_index: lpm::NextHop,
) {
    let c = ing.counters;
    let l3 = ing.l3_off;
    // A resolved gateway and hops to spare, nearly every forwarded frame: the
    // gateway's entry holds all the rewrite needs, so the next hop itself is
    // read only if the firewall's "out" pass walks its rules.
    if let Some(g) = ing.vnet.gateway(nh_index).filter(|_| p.hops_left() > 1) {
        let out_pass = || filter::out_pass(ing, nh_index, p.dst());
        if let Some(frame) = forward::<P, _, _>(ctx, out, ing, frame, out_pass, tags) {
            egress::send_via(out, c, frame, l3, g, P::ETHERTYPE);
        }
        return;
    }
    // Past the fast path: the forwarding part is in the `Vnet`'s second line,
    // which a frame of many tenants routed to its first gateway never reads.
    let fwd = &ing.vnet.fwd;
    let Some(&nh) = fwd.nexthops.get(nh_index as usize) else {
        // NO_ROUTE (u32::MAX) is never an index.
        c.drop(DropReason::NoRoute);
        return P::no_route(ctx, out, ing, frame);
    };
    let (tx, neighbor) = match nh {
        NextHop::Local => return local(ctx, out, ing, frame, p),
        NextHop::Connected { iface } => (iface, p.dst()),
        NextHop::Gateway { iface, via } => (iface, via),
    };
    if p.hops_left() <= 1 {
        c.drop(DropReason::TtlExpired);
        return P::hops_exceeded(ctx, out, ing, frame);
    }
    let out_pass = || Pass::Out { tx, neighbor };
    let Some(frame) = forward::<P, _, _>(ctx, out, ing, frame, out_pass, tags) else {
        return;
    };
    // A connected destination, or a gateway not resolved yet (which the
    // neighbor table does not know either: the frame is held).
    match memo.get(ing.vnet, neighbor) {
        Some(mac) => {
            let egress_iface = &fwd.interfaces[tx as usize];
            egress::send(out, c, frame, l3, egress_iface, mac, P::ETHERTYPE)
        }
        None => solicit::hold(
            ctx,
            pending,
            out,
            ing.vnet,
            tx,
            neighbor,
            frame,
            l3,
            P::ETHERTYPE,
        ),
    }
}

/// One hop less, then the firewall's "out" pass; the frame comes back, counted
/// as forwarded, unless the firewall kept it.
#[inline(always)]
fn forward<P: Family, F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    out_pass: impl FnOnce() -> Pass,
    tags: &mut Tags,
) -> Option<F> {
    P::decrement(&mut frame.data_mut()[ing.l3_off..]);
    let frame = filter::pass_forwarded(ctx, out, ing, frame, P::V6, out_pass, tags)?;
    bump(&ing.counters.forwarded, 1);
    Some(frame)
}

/// A packet for one of the router's own addresses: echo requests are answered,
/// back to the previous hop on the interface they came in on.
pub(super) fn local<P: Family, F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    ing: &Ingress<'_>,
    mut frame: F,
    p: P,
) {
    let c = ing.counters;
    bump(&c.local, 1);
    let l3 = ing.l3_off;
    if !P::echo_to_reply(&mut frame.data_mut()[l3..], p.proto()) {
        c.drop(DropReason::LocalUnhandled);
        return;
    }
    let mut tags = Tags::EMPTY;
    let out_pass = Pass::LocalOut {
        tx: ing.iface_index,
    };
    if let Some(frame) = filter::pass(ctx, out, ing, frame, P::V6, || out_pass, &mut tags) {
        let mac = sender_mac(frame.data());
        egress::send(out, c, frame, l3, ing.iface(), mac, P::ETHERTYPE);
    }
}
