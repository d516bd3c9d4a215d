//! A frame of a tenant with a firewall, in the express lane: the firewall's
//! "in" pass, one hop less, its "out" pass (or the "in" pass's replay), then
//! the L2 rewrite and TX, in the general path's order. Its route was looked up
//! first: the rule set cannot change a packet's destination (vnetd refuses
//! `fwd`), so the answer is the one the general path would find after the
//! "in" pass, and a frame not routed to a resolved gateway goes back to it
//! before any pass has seen it.
use super::{send, Candidates, Fate, Sizes, Tally};
use crate::dpdk::BURST_MAX;
use crate::firewall::meta;
use crate::frame::Frame;
use crate::pipeline::filter::{self, Pass};
use crate::pipeline::{Ingress, Output, PathCtx};
use crate::stats::VnetWorkerCounters;
use crate::tables::{DemuxEntry, GatewayEgress, Vnet};
use crate::wire::Ipv4Packet;
use ::firewall::{FlowKey, Tags};
use std::net::{IpAddr, Ipv4Addr};

/// Where a frame of `owner` goes: its IPv4 packet from `l3` to `end`, to
/// `dst`, routed by next hop `nh` to gateway `g`.
pub(super) struct Route<'a> {
    pub owner: DemuxEntry,
    pub l3: u8,
    pub end: u16,
    pub dst: u32,
    pub nh: lpm::NextHop,
    pub g: &'a GatewayEgress,
}

/// Forwards `frame` through `vnet`'s firewall passes (`counters`: this
/// worker's of `vnet`).
#[inline(always)]
pub(super) fn forward<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    vnet: &Vnet,
    counters: &VnetWorkerCounters,
    mut frame: F,
    r: Route<'_>,
) -> Sizes {
    let rx = frame.data().len() as u64;
    // Shrinking to what `check` measured: cannot fail.
    frame.set_len(usize::from(r.end));
    let ing = Ingress {
        vnet,
        counters,
        // An interface index fits (the demux entry's field is narrower).
        iface_index: r.owner.iface() as u16,
        l3_off: usize::from(r.l3),
        from_pipe: false,
    };
    let mut tags = Tags::EMPTY;
    let Some(mut frame) = filter::pass(ctx, out, &ing, frame, false, || Pass::In, &mut tags) else {
        return Sizes {
            rx,
            fate: Fate::Kept,
        };
    };
    Ipv4Packet::new_unchecked(&mut frame.data_mut()[ing.l3_off..]).decrement_ttl();
    let dst = IpAddr::V4(Ipv4Addr::from(r.dst));
    let out_pass = || filter::out_pass(&ing, r.nh, dst);
    let Some(frame) = filter::pass_forwarded(ctx, out, &ing, frame, false, out_pass, &mut tags)
    else {
        // Kept by the "out" pass: not counted as forwarded (as in the general
        // path).
        return Sizes {
            rx,
            fate: Fate::Kept,
        };
    };
    let fate = send::<false, false, _, _>(out, frame, r.l3, r.g);
    Sizes { rx, fate }
}

/// `one`'s last step for a tenant with a firewall: the candidates routed to a
/// resolved gateway (`hops`, by candidate) through its passes. Out of line:
/// the lane's code for tenants without one stays as short as it was.
#[inline(never)]
pub(super) fn finish<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    vnet: &Vnet,
    c: &VnetWorkerCounters,
    cand: &Candidates<'_>,
    hops: &[lpm::NextHop; BURST_MAX],
    frames: &mut [Option<F>],
) -> u64 {
    // With live states, each frame's state bucket is likely a miss to memory:
    // fetch them all before the "in" passes look them up (as the general
    // path's `filter::prefetch_states`).
    if let Some(fw) = vnet.firewall().filter(|f| !f.states.is_empty()) {
        for k in 0..cand.n {
            if let Some(f) = &frames[usize::from(cand.slot[k])] {
                if let Some(ip) = f.data().get(usize::from(cand.l3[k])..) {
                    fw.states.prefetch(&FlowKey::of_head4(&meta::head4(ip)));
                }
            }
        }
    }
    // A frame both of whose passes the rule set allows from its 20-byte
    // header (fixed passes, or the first candidate holding the head a plain
    // allow matched exactly: `RuleSet::forwarded4`) goes without them, its
    // rules counted once per run of equal rules (`BurstCounts`).
    //
    // First every frame's answer, in a loop of its own compiled for the
    // burst's way of deciding (`Forwarded4::dispatch`: fixed, one tree,
    // several; the head read in place, its destination from `check`), then
    // the frames forwarded. One loop doing both tested the way per frame
    // and kept the classification's values live across the TX hand-off
    // (router.py's ACL: 317 instructions a frame in this function, 283
    // now). The answers read nothing the second loop changes, and count
    // nothing: a frame that turns out not routed to a resolved gateway only
    // wasted its classification.
    let fw = vnet.firewall();
    let f4 = fw.map(|fw| fw.rules.forwarded4()).filter(|f| f.may_allow());
    let mut allowed = [::firewall::Allowed4::NONE; BURST_MAX];
    if let Some(f4) = &f4 {
        f4.dispatch(Heads {
            cand,
            frames,
            out: &mut allowed,
        });
    }
    let mut counts = f4.and(fw).map(|fw| {
        fw.rules.burst_counts(&::firewall::Ctx {
            states: &fw.states,
            now_ms: ctx.now_ms,
            worker: ctx.worker,
        })
    });
    let mut tally = Tally::default();
    for k in 0..cand.n {
        let Some(g) = vnet.gateway(hops[k]) else {
            continue;
        };
        let Some(frame) = frames[usize::from(cand.slot[k])].take() else {
            continue;
        };
        let (l3, end) = (cand.l3[k], cand.end[k]);
        if let (false, Some(counts)) = (allowed[k].is_none(), &mut counts) {
            counts.add(allowed[k], end - u16::from(l3));
            tally.add(super::forward::<false, _, _>(out, frame, l3, end, g), c);
            continue;
        }
        let r = Route {
            owner: cand.owner[k],
            l3,
            end,
            dst: cand.dst[k],
            nh: hops[k],
            g,
        };
        tally.add(forward(ctx, out, vnet, c, frame, r), c);
    }
    tally.count(c)
}

/// The express lane's loop over a burst's candidates for
/// `Forwarded4::dispatch`: each frame's head read where it lies and decided
/// at once (`out`, by candidate; `NONE` for a frame not there or too short
/// for a head).
struct Heads<'c, 'f, F> {
    cand: &'c Candidates<'c>,
    frames: &'f [Option<F>],
    out: &'f mut [::firewall::Allowed4; BURST_MAX],
}

impl<F: Frame> ::firewall::Burst4 for Heads<'_, '_, F> {
    #[inline(always)]
    fn run<D: ::firewall::Decide4>(self, d: &D) {
        let c = self.cand;
        for k in 0..c.n {
            let Some(f) = &self.frames[usize::from(c.slot[k])] else {
                continue;
            };
            if let Some(h) = filter::head4_express(f, c.l3[k], c.end[k], c.dst[k]) {
                self.out[k] = d.allow(&h);
            }
        }
    }
}
