//! A burst over many tenants: each frame's tenant state (its `Vnet` line,
//! counter slot, table, gateway entry) is likely cold, so it is fetched in
//! passes over the burst, one level each, and the misses of all frames overlap
//! instead of queueing one behind the other (as the general path's `warm`,
//! `locate_compact` and `warm_gateways` do).
use super::{forward, Candidates, Tally};
use crate::capture;
use crate::dpdk::BURST_MAX;
use crate::frame::Frame;
use crate::pipeline::ingress::prefetch;
use crate::pipeline::{Output, PathCtx};
use crate::tables::Vnet;

/// Forwards the candidates whose tenant has no firewall and whose route is a
/// resolved gateway, while no capture runs anywhere; returns how many it took.
#[inline(always)]
pub(super) fn run<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    cand: &Candidates<'_>,
    frames: &mut [Option<F>],
) -> u64 {
    // Each tenant's tap would be one more cold line per frame.
    if capture::any_running() {
        return 0;
    }
    let n = cand.n;
    // Level 1, the `Vnet` lines (prefetched with the counters by the caller as
    // it checked the frames): whether there is a firewall, the compact table's
    // root (in the line itself for most tables).
    let mut vnet: [Option<&Vnet>; BURST_MAX] = [None; BURST_MAX];
    for (v, o) in vnet.iter_mut().zip(&cand.owner[..n]) {
        *v = ctx.tables.vnets.get(o.vnet()).filter(|v| !v.has_firewall());
        if let Some(v) = v {
            match (&v.compact4, v.compact_root_line()) {
                (Some(_), None) => {}
                (Some(_), Some(root)) => prefetch(root),
                // A table too big for the compact form: the lookup goes
                // through the forwarding part, in the second line.
                (None, _) => prefetch(Vnet::second_line(*v)),
            }
        }
    }
    // Level 2, the roots: the leaf each key goes to, whose line `compact_leaf`
    // prefetches.
    let mut leaf = [lpm::CompactLeaf::default(); BURST_MAX];
    for k in 0..n {
        if let Some(l) = vnet[k].and_then(|v| v.compact_leaf(cand.dst[k])) {
            leaf[k] = l;
        }
    }
    // Level 3, the leaves: the next hops, and their gateway entries fetched.
    let mut hops = [lpm::NO_ROUTE; BURST_MAX];
    for k in 0..n {
        let Some(v) = vnet[k] else {
            continue;
        };
        let dst = cand.dst[k];
        hops[k] = match &v.compact4 {
            Some(c) => c.lookup_leaf(leaf[k], dst),
            None => v.fwd.fib4.lookup_u32(dst),
        };
        prefetch(v.gateway_slot(hops[k]));
    }
    // The frames, one by one, each counted in its own tenant's slot.
    let mut taken = 0;
    for k in 0..n {
        let Some(v) = vnet[k] else {
            continue;
        };
        // Not a resolved gateway: the general path's. (A slot that let a
        // frame through has counters for every worker.)
        let (Some(g), Some(c)) = (v.gateway(hops[k]), cand.counters[k]) else {
            continue;
        };
        let Some(frame) = frames[usize::from(cand.slot[k])].take() else {
            continue;
        };
        let s = forward::<false, _, _>(out, frame, cand.l3[k], cand.end[k], g);
        let mut tally = Tally::default();
        tally.add(s, c);
        taken += tally.count(c);
    }
    taken
}
