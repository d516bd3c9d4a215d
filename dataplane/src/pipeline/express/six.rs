//! IPv6 in the express lane, for a burst of one tenant (IPv6 over many tenants
//! goes the general path): the frames `check6` takes, one batched lookup,
//! those routed to a resolved gateway forwarded and counted once.
use super::check::check6;
use super::{forward, Tally};
use crate::dpdk::BURST_MAX;
use crate::frame::Frame;
use crate::pipeline::{Output, PathCtx};
use crate::tables::{DemuxSlot, PortDemux};

/// Forwards what it can of the burst's IPv6 frames; returns how many it took.
#[inline(never)]
pub(super) fn run<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    out: &mut O,
    owners: PortDemux<'_>,
    frames: &mut [Option<F>],
) -> u64 {
    let mut slot = [0u8; BURST_MAX];
    let mut keys = [0u128; BURST_MAX];
    let mut l3 = [0u8; BURST_MAX];
    let mut end = [0u16; BURST_MAX];
    let mut n = 0;
    let mut owner: Option<&DemuxSlot> = None;
    for (i, f) in frames.iter().enumerate() {
        let Some((s, dst, o3, e)) = f.as_ref().and_then(|f| check6(f, owners)) else {
            continue;
        };
        match owner {
            None => owner = Some(s),
            Some(o) if o.owner == s.owner => {}
            // Another tenant's: the general path's, all of them.
            Some(_) => return 0,
        }
        // At most BURST_MAX slots (`burst` hands over one chunk).
        (slot[n], keys[n], l3[n], end[n]) = (i as u8, dst, o3, e);
        n += 1;
    }
    let Some(s) = owner else {
        return 0;
    };
    let (Some(vnet), Some(c)) = (
        ctx.tables.vnets.get(s.owner.vnet()),
        owners.counters(s, ctx.worker),
    ) else {
        return 0;
    };
    if vnet.has_firewall() || c.tap.is_recording() {
        return 0;
    }
    let mut hops = [lpm::NO_ROUTE; BURST_MAX];
    let fib = &vnet.fwd.fib6;
    if n == 1 {
        hops[0] = fib.lookup_u128(keys[0]);
    } else {
        fib.lookup_batch(&keys[..n], &mut hops[..n]);
    }
    let mut tally = Tally::default();
    for k in 0..n {
        // A connected destination, an unresolved gateway, the router's own
        // address, no route: the general path's.
        let Some(g) = vnet.gateway(hops[k]) else {
            continue;
        };
        let Some(frame) = frames[usize::from(slot[k])].take() else {
            continue;
        };
        let s = forward::<true, _, _>(out, frame, l3[k], end[k], g);
        tally.add(s, c);
    }
    tally.count(c)
}
