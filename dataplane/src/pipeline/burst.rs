//! A received burst, stage by stage (DESIGN.md, "Process the burst stage by
//! stage"): demux and header checks for every frame, then the route lookups of the
//! whole burst in one batched call per vnet (so the table's cache misses overlap),
//! then the per-frame rest (TTL, neighbor, L2 rewrite, TX). Frames the router
//! answers itself (ARP, ND, echo) or drops are finished in the first stage.
use super::{arp, ingress, ipv4, ipv6, Ingress, NeighborMemo, Output, PathCtx, Pending};
use crate::dpdk::{PortId, BURST_MAX};
use crate::frame::Frame;
use crate::stats::stage_cycles::{Stage, StageClock};
use crate::tables::NextHop;
use crate::tables::Vnet;
use crate::wire::EtherType;
use std::net::IpAddr;

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
    /// (one call for the whole burst when a single tenant sent it), `one` for a
    /// run of one frame (a batch's set-up costs more than it saves there).
    /// Returns the number of runs.
    #[inline(always)]
    fn lookup(
        &mut self,
        lookup: impl Fn(&Vnet, &[K], &mut [lpm::NextHop]),
        one: impl Fn(&Vnet, K) -> lpm::NextHop,
    ) -> usize {
        let mut runs = 0;
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
            if end == start + 1 {
                self.hops[start] = one(vnet, self.keys[start]);
            } else {
                lookup(vnet, &self.keys[start..end], &mut self.hops[start..end]);
            }
            runs += 1;
            start = end;
        }
        runs
    }

    /// Touches the neighbor entry each frame will ask for, in a pass of its own
    /// whose iterations do not depend on each other, so the hash-table misses of a
    /// burst spread over many tenants overlap (the frame-by-frame stage is too long
    /// per frame for the CPU to look ahead into the next frame's lookup).
    #[inline(always)]
    fn warm_neighbors(&self, neighbor: impl Fn(&Ingress<'t>, &P, lpm::NextHop) -> Option<IpAddr>) {
        for (w, &nh) in self.waiting[..self.len].iter().zip(&self.hops) {
            if let Some((_, ing, p)) = w {
                if let Some(addr) = neighbor(ing, p, nh) {
                    std::hint::black_box(ing.vnet.neighbors.get(addr));
                }
            }
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

    // Stage 1: L2 and demux for all, the tenants' state fetched for all, then
    // the rest of the demux and the header checks frame by frame.
    let mut classified: [Option<ingress::Classified>; BURST_MAX] = [None; BURST_MAX];
    for (slot, c) in frames.iter_mut().zip(classified.iter_mut()) {
        if let Some(frame) = slot {
            *c = ingress::classify(ctx, port, frame);
            if c.is_none() {
                slot.take();
            }
        }
    }
    ingress::warm(ctx, &classified[..frames.len()]);
    for (slot, c) in frames.iter_mut().zip(classified) {
        let (Some(frame), Some(c)) = (slot.take(), c) else {
            continue;
        };
        let Some((ing, ethertype)) = ingress::demux(ctx, port, &frame, c) else {
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
    let runs4 = v4.lookup(
        |vnet, keys, hops| vnet.fwd.fib4.lookup_batch(keys, hops),
        |vnet, key| vnet.fwd.fib4.lookup_u32(key),
    );
    let runs6 = v6.lookup(
        |vnet, keys, hops| vnet.fwd.fib6.lookup_batch(keys, hops),
        |vnet, key| vnet.fwd.fib6.lookup_u128(key),
    );
    // Many tenants in one burst: their neighbor tables are cold (one tenant's
    // gateway is remembered in `NeighborMemo` instead).
    if runs4 > 2 {
        v4.warm_neighbors(|ing, p, nh| neighbor_of(ing, nh, || IpAddr::V4(p.dst.into())));
    }
    if runs6 > 2 {
        v6.warm_neighbors(|ing, p, nh| neighbor_of(ing, nh, || IpAddr::V6(p.dst.into())));
    }
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

/// The address whose MAC a frame routed by `nh` needs (as `finish` decides it).
#[inline(always)]
fn neighbor_of(ing: &Ingress<'_>, nh: lpm::NextHop, dst: impl Fn() -> IpAddr) -> Option<IpAddr> {
    match ing.vnet.fwd.nexthops.get(nh as usize)? {
        NextHop::Local => None,
        NextHop::Connected { .. } => Some(dst()),
        NextHop::Gateway { via, .. } => Some(*via),
    }
}
