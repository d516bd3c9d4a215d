//! IPv4 in two halves around the batched route lookup (see `burst`): `prepare`
//! checks the header and keeps what the lookup and the rest need; `finish` acts on
//! the next hop: the router's own addresses (echo), TTL with an incremental
//! checksum update, next-hop resolution, L2 rewrite.
use super::filter::{self, Pass};
use super::{
    egress, icmp_error, sender_mac, solicit, Ingress, NeighborMemo, Output, PathCtx, Pending,
};
use crate::frame::Frame;
use crate::stats::{bump, DropReason};
use crate::tables::NextHop;
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
        Ok(p) if !p.verify_checksum() => {
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
    p: Prepared4,
    tags: &mut Tags,
    nh_index: lpm::NextHop,
) {
    let fwd = &ing.vnet.fwd;
    let c = ing.counters;
    let l3 = ing.l3_off;
    let dst = Ipv4Addr::from(p.dst);
    // A resolved gateway and TTL to spare, nearly every forwarded frame: the
    // gateway's entry holds all the rewrite needs, so the next hop itself is
    // read only if the firewall's "out" pass walks its rules.
    if let Some(g) = ing.vnet.gateway(nh_index).filter(|_| p.ttl > 1) {
        Ipv4Packet::new_unchecked(&mut frame.data_mut()[l3..]).decrement_ttl();
        let out_pass = || filter::out_pass(ing, nh_index, IpAddr::V4(dst));
        let Some(frame) = filter::pass_forwarded(ctx, out, ing, frame, false, out_pass, tags)
        else {
            return;
        };
        bump(&c.forwarded, 1);
        return egress::send_via(out, c, frame, l3, g, EtherType::IPV4);
    }
    let Some(&nh) = fwd.nexthops.get(nh_index as usize) else {
        // NO_ROUTE (u32::MAX) is never an index.
        c.drop(DropReason::NoRoute);
        return icmp_error::send4(
            ctx,
            out,
            ing,
            frame,
            icmpv4::DEST_UNREACHABLE,
            icmpv4::unreachable::NET,
        );
    };
    let (iface_index, neighbor) = match nh {
        NextHop::Local => return local(ctx, out, ing, frame, p.proto),
        NextHop::Connected { iface } => (iface, IpAddr::V4(dst)),
        NextHop::Gateway { iface, via } => (iface, via),
    };
    if p.ttl <= 1 {
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
    // `prepare` checked the header: the TTL and checksum fields are there.
    Ipv4Packet::new_unchecked(&mut frame.data_mut()[l3..]).decrement_ttl();
    let Some(frame) = filter::pass_forwarded(
        ctx,
        out,
        ing,
        frame,
        false,
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
        Some(mac) => egress::send(out, c, frame, l3, egress_iface, mac, EtherType::IPV4),
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
    let c = ing.counters;
    bump(&c.local, 1);
    let l3 = ing.l3_off;
    if proto == IpProtocol::ICMP
        && icmpv4::echo_request_to_reply(&mut frame.data_mut()[l3..]).is_ok()
    {
        // Back to the previous hop it came from, on the interface it came in on.
        let mut tags = Tags::EMPTY;
        let out_pass = Pass::LocalOut {
            tx: ing.iface_index,
        };
        if let Some(frame) = filter::pass(ctx, out, ing, frame, false, || out_pass, &mut tags) {
            let mac = sender_mac(frame.data());
            egress::send(out, c, frame, l3, ing.iface(), mac, EtherType::IPV4);
        }
        return;
    }
    c.drop(DropReason::LocalUnhandled);
}
