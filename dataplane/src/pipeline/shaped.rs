//! Into and out of the shaper: a firewall `pipe N` / `queue N` verdict diverts the
//! packet (`divert`); when it leaves its pipe it continues exactly where it was
//! diverted (`release`), without being checked by the same rules again (ipfw's
//! `one_pass`).
use super::{egress, ipv4, ipv6, route, solicit, Ingress, NeighborMemo, Output, PathCtx, Pending};
use crate::frame::Frame;
use crate::shaping::{flow_key, Resume, ShapeRequest, Shaped, Target};
use crate::stats::DropReason;
use crate::tables::Vnet;
use crate::wire::{self, EtherType};
use ::firewall::Tags;

/// Sends `frame` to pipe or queue `target` of `vnet`; `resume` says where it
/// continues afterwards. The IP header at the resume point's `l3_off` must be valid.
pub fn divert<F: Frame, O: Output<F>>(
    out: &mut O,
    vnet: &Vnet,
    target: Target,
    frame: F,
    resume: Resume,
) {
    let (l3_off, ethertype) = match resume {
        Resume::Route { l3_off, .. } => {
            let et = wire::parse_l2(frame.data()).map_or(0, |l2| l2.ethertype);
            (usize::from(l3_off), et)
        }
        Resume::Transmit {
            l3_off, ethertype, ..
        }
        | Resume::Reply {
            l3_off, ethertype, ..
        } => (usize::from(l3_off), ethertype),
    };
    let data = frame.data();
    let key = flow_key(data, l3_off, ethertype);
    let len = data.len().saturating_sub(l3_off) as u32;
    out.shape(ShapeRequest {
        vnet_id: vnet.fwd.id,
        target,
        key,
        len,
        pkt: Shaped { frame, resume },
    });
}

/// A packet left its pipe: route it (diverted on input) or resolve its next hop and
/// transmit it (diverted on output). `memo` is the caller's for all it releases
/// under one tables snapshot: a pipe's packets mostly go to one gateway, whose
/// MAC was a hash lookup per packet (~5% of the worker in perf/fwd scenario 5).
pub(crate) fn release<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    memo: &mut NeighborMemo,
    vnet: &Vnet,
    pkt: Shaped<F>,
) {
    let fwd = &vnet.fwd;
    let c = fwd.counters.worker(ctx.worker);
    match pkt.resume {
        Resume::Transmit {
            iface,
            neighbor,
            l3_off,
            ethertype,
        } => {
            let Some(egress_iface) = fwd.interfaces.get(usize::from(iface)) else {
                // The vnet lost that interface while the packet waited.
                return c.drop(DropReason::NoRoute);
            };
            match memo.get(vnet, neighbor) {
                Some(mac) => egress::send(
                    out,
                    c,
                    pkt.frame,
                    usize::from(l3_off),
                    egress_iface,
                    mac,
                    ethertype,
                ),
                None => solicit::hold(
                    ctx,
                    pending,
                    out,
                    vnet,
                    iface,
                    neighbor,
                    pkt.frame,
                    usize::from(l3_off),
                    ethertype,
                ),
            }
        }
        Resume::Reply {
            iface,
            mac,
            l3_off,
            ethertype,
        } => match fwd.interfaces.get(usize::from(iface)) {
            Some(i) => egress::send(out, c, pkt.frame, usize::from(l3_off), i, mac, ethertype),
            None => c.drop(DropReason::NoRoute),
        },
        Resume::Route { iface, l3_off } => {
            // `Ingress::iface` indexes the interfaces: the pipe's may be gone.
            if fwd.interfaces.get(usize::from(iface)).is_none() {
                return c.drop(DropReason::NoRoute);
            }
            let ing = Ingress {
                vnet,
                counters: c,
                iface_index: iface,
                l3_off: usize::from(l3_off),
                from_pipe: true,
            };
            // The routing half of the path for one frame: header checks, lookup,
            // then TTL, neighbor and TX (released packets are few per poll: no batch).
            let mut tags = Tags::EMPTY;
            match wire::parse_l2(pkt.frame.data()).map(|l2| l2.ethertype) {
                Ok(EtherType::IPV4) => {
                    if let Some((frame, p)) = ipv4::prepare(ctx, out, &ing, pkt.frame, &mut tags) {
                        let mut nh = [lpm::NO_ROUTE];
                        fwd.fib4.lookup_batch(&[p.dst], &mut nh);
                        route::finish(ctx, pending, out, memo, &ing, frame, p, &mut tags, nh[0]);
                    }
                }
                Ok(EtherType::IPV6) => {
                    if let Some((frame, p)) = ipv6::prepare(ctx, out, &ing, pkt.frame, &mut tags) {
                        let mut nh = [lpm::NO_ROUTE];
                        fwd.fib6.lookup_batch(&[p.dst], &mut nh);
                        route::finish(ctx, pending, out, memo, &ing, frame, p, &mut tags, nh[0]);
                    }
                }
                _ => c.drop(DropReason::Malformed),
            }
        }
    }
}
