//! A burst over many tenants: each frame's tenant state (its `Vnet` line,
//! table, gateway entry) is likely cold, so it is fetched in passes over the
//! burst, one level each, and the misses of all frames overlap instead of
//! queueing one behind the other (as the general path's `warm`,
//! `locate_compact` and `warm_gateways` do). The frames are counted in this
//! worker's dense array of sent frames (`stats::sent`), not in each tenant's
//! counter slot: with 10,000 tenants that slot was a line from L3 a frame, the
//! dense entries (32 bytes a tenant) stay in L2.
use super::{forward, Candidates, Fate};
use crate::capture;
use crate::dpdk::BURST_MAX;
use crate::frame::Frame;
use crate::pipeline::ingress::prefetch;
use crate::pipeline::{Output, PathCtx};
use crate::stats::bump;
use crate::stats::sent::{SentArray, SENT_SLOTS};
use crate::tables::Vnet;

/// Forwards the candidates whose tenant has no firewall and whose route is a
/// resolved gateway, while no capture runs anywhere; returns how many it took.
#[inline(always)]
pub(super) fn run<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    cand: &Candidates<'_>,
    sent: &SentArray,
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
    // The frames, one by one, each counted in its own tenant's entry.
    let mut taken = 0;
    for k in 0..n {
        let Some(v) = vnet[k] else {
            continue;
        };
        // Not a resolved gateway, or a vnet without an entry (none was left):
        // the general path's.
        let i = cand.sent[k] as usize;
        let (Some(g), true) = (v.gateway(hops[k]), i != 0) else {
            continue;
        };
        let Some(frame) = frames[usize::from(cand.slot[k])].take() else {
            continue;
        };
        let s = forward::<false, _, _>(out, frame, cand.l3[k], cand.end[k], g);
        let e = &sent[i & (SENT_SLOTS - 1)];
        bump(&e.rx_bytes, s.rx);
        match s.fate {
            Fate::Sent(tx) => {
                bump(&e.packets, 1);
                bump(&e.tx_bytes, tx);
            }
            // `forward` keeps nothing (only a firewall does, and this lane
            // takes no tenant with one).
            Fate::NoBuffer | Fate::Kept => bump(&e.no_buffer, 1),
        }
        taken += 1;
    }
    taken
}
