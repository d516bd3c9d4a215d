//! A burst over many tenants: each frame's tenant state (its `Vnet` line,
//! counter slot, table, gateway entry) is likely cold, so it is fetched in
//! passes over the burst, one level each, and the misses of all frames overlap
//! instead of queueing one behind the other (as the general path's `warm`,
//! `locate_compact` and `warm_gateways` do).
use super::{forward, Candidates};
use crate::capture;
use crate::dpdk::BURST_MAX;
use crate::frame::Frame;
use crate::pipeline::ingress::prefetch;
use crate::pipeline::{Output, PathCtx};
use crate::stats::{bump, DropReason};
use crate::tables::Vnet;

/// Forwards the candidates whose tenant has no firewall and whose route is a
/// resolved gateway, while no capture runs anywhere; returns how many it took.
#[inline(always)]
pub(super) fn run<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    cand: &Candidates,
    frames: &mut [Option<F>],
) -> u64 {
    // Each tenant's tap would be one more cold line per frame.
    if capture::any_running() {
        return 0;
    }
    let (n, w) = (cand.n, ctx.worker);
    // Level 1, the `Vnet` lines (prefetched by the caller as it checked the
    // frames): whether there is a firewall, where the counter slot and the
    // table's root are.
    let mut vnet: [Option<&Vnet>; BURST_MAX] = [None; BURST_MAX];
    for (v, o) in vnet.iter_mut().zip(&cand.owner[..n]) {
        *v = ctx
            .tables
            .vnets
            .get(o.vnet())
            .filter(|v| v.firewall().is_none());
        if let Some(v) = v {
            prefetch(v.counters(w));
            match &v.compact4 {
                Some(c) => prefetch(c.root_ptr()),
                // A table too big for the compact form: the lookup goes
                // through the forwarding part, in the second line.
                None => prefetch(Vnet::second_line(*v)),
            }
        }
    }
    // Level 2, the small tables' roots: the leaf each key goes to, whose line
    // `leaf` prefetches.
    let mut leaf = [lpm::CompactLeaf::default(); BURST_MAX];
    for k in 0..n {
        if let Some(c) = vnet[k].and_then(|v| v.compact4.as_ref()) {
            leaf[k] = c.leaf(cand.dst[k]);
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
        let Some(g) = v.gateway(hops[k]) else {
            // Not a resolved gateway: the general path's.
            continue;
        };
        let Some(frame) = frames[usize::from(cand.slot[k])].take() else {
            continue;
        };
        let s = forward(out, frame, cand, k, g);
        taken += 1;
        let c = v.counters(w);
        bump(&c.rx_packets, 1);
        bump(&c.rx_bytes, s.rx);
        bump(&c.forwarded, 1);
        match s.tx {
            Some(tx) => {
                bump(&c.tx_packets, 1);
                bump(&c.tx_bytes, tx);
            }
            None => c.drop(DropReason::NoBuffer),
        }
    }
    taken
}
