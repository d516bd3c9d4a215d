//! A received burst, stage by stage (DESIGN.md, "Process the burst stage by
//! stage"): demux and header checks for every frame, then the route lookups of the
//! whole burst in one batched call per vnet (so the table's cache misses overlap),
//! then the per-frame rest (TTL, neighbor, L2 rewrite, TX). Frames the router
//! answers itself (ARP, ND, echo) or drops are finished in the first stage.
use super::{arp, ingress, ipv4, ipv6, Ingress, NeighborMemo, Output, PathCtx, Pending};
use crate::dpdk::{PortId, BURST_MAX};
use crate::frame::Frame;
use crate::stats::stage_cycles::{Stage, StageClock};
use crate::tables::Vnet;
use crate::wire::EtherType;

/// Frames waiting for their route lookup, with the lookup keys kept apart in one
/// array so a vnet's run of keys is a slice for `lookup_batch`.
struct Lanes<'t, F, P, K> {
    waiting: [Option<(F, Ingress<'t>, P)>; BURST_MAX],
    keys: [K; BURST_MAX],
    hops: [lpm::NextHop; BURST_MAX],
    len: usize,
}

impl<'t, F, P, K: Copy + Default> Lanes<'t, F, P, K> {
    fn new() -> Self {
        Lanes {
            waiting: [const { None }; BURST_MAX],
            keys: [K::default(); BURST_MAX],
            hops: [lpm::NO_ROUTE; BURST_MAX],
            len: 0,
        }
    }

    /// Room is guaranteed: a burst holds at most BURST_MAX frames.
    #[inline(always)]
    fn push(&mut self, frame: F, ing: Ingress<'t>, p: P, key: K) {
        let i = self.len;
        self.waiting[i] = Some((frame, ing, p));
        self.keys[i] = key;
        self.len = i + 1;
    }

    /// Looks every key up, one `lookup` call per run of frames of the same vnet
    /// (one call for the whole burst when a single tenant sent it).
    #[inline(always)]
    fn lookup(&mut self, lookup: impl Fn(&Vnet, &[K], &mut [lpm::NextHop])) {
        let mut start = 0;
        while start < self.len {
            let Some((_, first, _)) = &self.waiting[start] else {
                break;
            };
            let vnet = first.vnet;
            let mut end = start + 1;
            while end < self.len
                && matches!(&self.waiting[end], Some((_, i, _)) if std::ptr::eq(i.vnet, vnet))
            {
                end += 1;
            }
            lookup(vnet, &self.keys[start..end], &mut self.hops[start..end]);
            start = end;
        }
    }
}

/// Processes `frames` to completion, BURST_MAX at a time; every slot is empty afterwards.
#[inline]
pub(super) fn run<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    port: PortId,
    frames: &mut [Option<F>],
) {
    for chunk in frames.chunks_mut(BURST_MAX) {
        run_one(ctx, pending, out, port, chunk);
    }
}

#[inline(always)]
fn run_one<F: Frame, O: Output<F>>(
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
    port: PortId,
    frames: &mut [Option<F>],
) {
    let mut clock = StageClock::start();
    let mut v4: Lanes<'_, F, ipv4::Prepared4, u32> = Lanes::new();
    let mut v6: Lanes<'_, F, ipv6::Prepared6, u128> = Lanes::new();

    // Stage 1: demux and header checks.
    for slot in frames.iter_mut() {
        let Some(frame) = slot.take() else { continue };
        let Some((ing, ethertype)) = ingress::demux(ctx, port, &frame) else {
            continue;
        };
        match ethertype {
            EtherType::IPV4 => {
                if let Some((frame, p)) = ipv4::prepare(ctx, out, &ing, frame) {
                    v4.push(frame, ing, p, p.dst);
                }
            }
            EtherType::IPV6 => {
                if let Some((frame, p)) = ipv6::prepare(ctx, out, &ing, frame) {
                    v6.push(frame, ing, p, p.dst);
                }
            }
            EtherType::ARP => arp::handle(ctx, out, &ing, frame),
            _ => ingress::unsupported(ctx, &ing),
        }
    }
    clock.lap(Stage::Demux);

    // Stage 2: route lookups, batched.
    v4.lookup(|vnet, keys, hops| vnet.fwd.fib4.lookup_batch(keys, hops));
    v6.lookup(|vnet, keys, hops| vnet.fwd.fib6.lookup_batch(keys, hops));
    clock.lap(Stage::Lookup);

    // Stage 3: the rest, frame by frame.
    let mut memo = NeighborMemo::default();
    for (w, &nh) in v4.waiting[..v4.len].iter_mut().zip(&v4.hops) {
        if let Some((frame, ing, p)) = w.take() {
            ipv4::finish(ctx, pending, out, &mut memo, &ing, frame, p, nh);
        }
    }
    for (w, &nh) in v6.waiting[..v6.len].iter_mut().zip(&v6.hops) {
        if let Some((frame, ing, p)) = w.take() {
            ipv6::finish(ctx, pending, out, &mut memo, &ing, frame, p, nh);
        }
    }
    clock.lap(Stage::Finish);
}
