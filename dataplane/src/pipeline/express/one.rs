//! A burst of one tenant: its state is hot after the first frame, so no passes
//! to warm it; one batched lookup; the counters updated once for the burst.
use super::{filtered, forward, Candidates, Tally};
use crate::frame::Frame;
use crate::pipeline::{Output, PathCtx};

/// Forwards the candidates (all of one owner) whose route is a resolved
/// gateway (through the firewall's passes when the tenant has one), unless
/// the tenant's capture runs; returns how many it took.
#[inline(always)]
pub(super) fn run<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    cand: &Candidates<'_>,
    frames: &mut [Option<F>],
) -> u64 {
    let n = cand.n;
    let Some(vnet) = ctx.tables.vnets.get(cand.owner[0].vnet()) else {
        return 0;
    };
    // This worker's counters from beside the (port, VLAN) slot, as `six`
    // takes them (`Vnet::counters` would reach them through the forwarding
    // part). Once a burst: they are hot after the first.
    let Some(c) = cand.owners.counters(cand.first, ctx.worker) else {
        return 0;
    };
    if c.tap.is_recording() {
        return 0;
    }
    let keys = &cand.dst;
    let mut hops = [lpm::NO_ROUTE; crate::dpdk::BURST_MAX];
    let fib = &vnet.fwd.fib4;
    if n == 1 {
        // A batch's set-up costs more than it saves for one key.
        hops[0] = fib.lookup_u32(keys[0]);
    } else {
        fib.lookup_batch(&keys[..n], &mut hops[..n]);
    }

    if vnet.has_firewall() {
        return filtered::finish(ctx, out, vnet, c, cand, &hops, frames);
    }
    let mut tally = Tally::default();
    for k in 0..n {
        let Some(g) = vnet.gateway(hops[k]) else {
            // A connected destination, an unresolved gateway, the router's own
            // address, no route: the general path's.
            continue;
        };
        let Some(frame) = frames[usize::from(cand.slot[k])].take() else {
            continue;
        };
        let s = forward::<false, _, _>(out, frame, cand.l3[k], cand.end[k], g);
        tally.add(s, c);
    }
    tally.count(c)
}
