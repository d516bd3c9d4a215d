//! A received burst, stage by stage (DESIGN.md, "Process the burst stage by
//! stage"): demux and header checks for every frame, then the route lookups of the
//! whole burst in one batched call per vnet (so the table's cache misses overlap),
//! then the per-frame rest (TTL, neighbor, L2 rewrite, TX). Frames the router
//! answers itself (ARP, ND, echo) or drops are finished in the first stage.
use super::{
    arp, express, filter, ingress, ipv4, ipv6, route, Ingress, NeighborMemo, Output, PathCtx,
    Pending,
};
use crate::dpdk::{PortId, BURST_MAX};
use crate::frame::Frame;
use crate::stats::stage_cycles::{Stage, StageClock};
use crate::stats::VnetWorkerCounters;
use crate::tables::Vnet;
use crate::wire::EtherType;
use ::firewall::Tags;

/// Frames waiting for their route lookup, one array per field (the frame, where it
/// came in, its prepared header facts, the lookup key, the answer) rather than one
/// array of tuples.
///
/// Why: a tuple built field by field and then moved into a slot is copied with wide
/// loads that span several of the narrow stores that just wrote it, and each such
/// load stalls until those stores retire (store-forwarding failures: ~20% of
/// `worker::run` in scenario 1 when the lanes held `(F, Ingress, P)`). Here every
/// field is written and read back at its own width; the `Ingress` is rebuilt in
/// registers for `finish`. Empty slots are zero bits, so a fresh set of lanes is a
/// plain memset instead of writing `None` tags through 5 KB.
struct Lanes<'t, F, P, K> {
    frames: [Option<F>; BURST_MAX],
    vnet: [Option<&'t Vnet>; BURST_MAX],
    counters: [Option<&'t VnetWorkerCounters>; BURST_MAX],
    iface_index: [u16; BURST_MAX],
    l3_off: [u16; BURST_MAX],
    prepared: [P; BURST_MAX],
    /// ipfw tags from the firewall's "in" pass for its "out" pass: written and read
    /// only for vnets that have a firewall.
    tags: [Tags; BURST_MAX],
    keys: [K; BURST_MAX],
    /// IPv4, a burst over many tenants: where each frame's lookup in its vnet's
    /// compact table goes on after the root (`locate_compact`).
    leaves: [lpm::CompactLeaf; BURST_MAX],
    hops: [lpm::NextHop; BURST_MAX],
    len: usize,
}

impl<'t, F, P: Copy + Default, K: Copy + Default> Lanes<'t, F, P, K> {
    fn new() -> Self {
        Lanes {
            frames: [const { None }; BURST_MAX],
            vnet: [None; BURST_MAX],
            counters: [None; BURST_MAX],
            iface_index: [0; BURST_MAX],
            l3_off: [0; BURST_MAX],
            prepared: [P::default(); BURST_MAX],
            tags: [Tags::EMPTY; BURST_MAX],
            keys: [K::default(); BURST_MAX],
            leaves: [lpm::CompactLeaf::default(); BURST_MAX],
            hops: [lpm::NO_ROUTE; BURST_MAX],
            len: 0,
        }
    }

    /// The tags slot the next `push` will own (`prepare` writes it, for a vnet with
    /// a firewall, before the frame is pushed).
    #[inline(always)]
    fn next_tags(&mut self) -> &mut Tags {
        // Room is guaranteed: a burst holds at most BURST_MAX frames.
        &mut self.tags[self.len]
    }

    /// Room is guaranteed: a burst holds at most BURST_MAX frames.
    #[inline(always)]
    fn push(&mut self, frame: F, ing: &Ingress<'t>, p: P, key: K) {
        let i = self.len;
        self.frames[i] = Some(frame);
        self.vnet[i] = Some(ing.vnet);
        self.counters[i] = Some(ing.counters);
        self.iface_index[i] = ing.iface_index;
        // Frames are at most a few KB: an L3 offset always fits.
        self.l3_off[i] = ing.l3_off as u16;
        self.prepared[i] = p;
        self.keys[i] = key;
        self.len = i + 1;
    }

    /// Takes frame `i` out with what `finish` needs for it.
    #[inline(always)]
    fn take(&mut self, i: usize) -> Option<(F, Ingress<'t>, P, &mut Tags, lpm::NextHop)> {
        let frame = self.frames[i].take()?;
        let (vnet, counters) = (self.vnet[i]?, self.counters[i]?);
        let ing = Ingress {
            vnet,
            counters,
            iface_index: self.iface_index[i],
            l3_off: usize::from(self.l3_off[i]),
            from_pipe: false,
        };
        Some((
            frame,
            ing,
            self.prepared[i],
            &mut self.tags[i],
            self.hops[i],
        ))
    }

    /// Looks every key up but the frames in `done` (a bit per lane), one `lookup`
    /// call per run of frames of the same vnet (one call for the whole burst when
    /// a single tenant sent it), `one` for a run of one frame (a batch's set-up
    /// costs more than it saves there).
    #[inline(always)]
    fn lookup(
        &mut self,
        done: u32,
        lookup: impl Fn(&Vnet, &[K], &mut [lpm::NextHop]),
        one: impl Fn(&Vnet, K) -> lpm::NextHop,
    ) {
        let mut start = 0;
        while start < self.len {
            if done & (1 << start) != 0 {
                start += 1;
                continue;
            }
            let Some(vnet) = self.vnet[start] else {
                break;
            };
            let mut end = start + 1;
            while end < self.len
                && done & (1 << end) == 0
                && matches!(self.vnet[end], Some(v) if std::ptr::eq(v, vnet))
            {
                end += 1;
            }
            if end == start + 1 {
                self.hops[start] = one(vnet, self.keys[start]);
            } else {
                lookup(vnet, &self.keys[start..end], &mut self.hops[start..end]);
            }
            start = end;
        }
    }

    /// Prefetches the egress entry of each frame's next hop (for a resolved
    /// gateway, all `finish` reads after the lookup; see `route::finish`) in a
    /// pass of its own, so that the misses of a burst spread over many tenants
    /// overlap (the frame-by-frame stage is too long per frame for the CPU to
    /// look ahead into the next frame's). The next hop itself is not read here:
    /// reading it waited on a miss per frame, for what only frames to connected
    /// destinations and unresolved gateways need (they read it in `finish`).
    #[inline(always)]
    fn warm_gateways(&self) {
        for (vnet, &nh) in self.vnet[..self.len].iter().zip(&self.hops) {
            if let Some(vnet) = vnet {
                ingress::prefetch(vnet.gateway_slot(nh));
            }
        }
    }
}

impl<F, P> Lanes<'_, F, P, u32> {
    /// The first level of the last pushed frame's lookup, when its vnet has a
    /// compact table (a small one, `VnetFwd::fib4_compact`): which leaf, whose
    /// lines are then prefetched. Called as each frame passes the header checks
    /// in a burst over many tenants: the root came in with the tenant state
    /// (`ingress::warm`), and the leaf has the rest of the demux stage to arrive.
    #[inline(always)]
    fn locate_compact(&mut self) {
        let i = self.len - 1;
        if let Some(leaf) = self.vnet[i].and_then(|v| v.compact_leaf(self.keys[i])) {
            self.leaves[i] = leaf;
        }
    }

    /// The IPv4 lookups of frames whose vnet has a compact table, from the leaf
    /// `locate_compact` found: one compare of a cached line per frame, no branch
    /// on the key, whatever vnet each frame belongs to (the per-vnet path did one
    /// scalar, branchy walk per frame through cold tables there). Returns the
    /// frames done, a bit per lane.
    #[inline(always)]
    fn lookup_compact(&mut self) -> u32 {
        const _: () = assert!(BURST_MAX <= 32, "a lane mask is a u32");
        let mut done = 0u32;
        for i in 0..self.len {
            if let Some(c) = self.vnet[i].and_then(|v| v.compact4.as_ref()) {
                self.hops[i] = c.lookup_leaf(self.leaves[i], self.keys[i]);
                done |= 1 << i;
            }
        }
        done
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
    let owners = ctx.tables.demux.port(port);
    // A burst of one tenant without a firewall goes the express lane, and only
    // what it left (if anything) goes on here.
    let left = express::run(ctx, out, owners, frames);
    clock.lap(Stage::Express);
    if left == 0 {
        return;
    }

    // Stage 1: L2 and demux for all, the tenants' state fetched for all, then
    // the rest of the demux and the header checks frame by frame.
    let mut classified: [Option<ingress::Classified<'_>>; BURST_MAX] = [None; BURST_MAX];
    // Runs of frames of one vnet: 1 for a burst of one tenant, about the
    // burst's size when frames come from many.
    let (mut runs, mut last) = (0usize, usize::MAX);
    for (slot, c) in frames.iter_mut().zip(classified.iter_mut()) {
        if let Some(frame) = slot {
            *c = ingress::classify(ctx, port, owners, frame);
            match c {
                Some(c) if c.owner().vnet() != last => {
                    last = c.owner().vnet();
                    runs += 1;
                    // The owner's `Vnet` line, the first of `warm`'s levels, and
                    // this worker's counters (written by `demux`), on their way
                    // while the other frames are classified; the `Vnet`'s second
                    // line for a frame that will read it (all but IPv4).
                    let v = ctx.tables.vnets.as_ptr().wrapping_add(last);
                    ingress::prefetch(v);
                    if let Some(counters) = c.counters {
                        ingress::prefetch(counters);
                    }
                    if c.l2.ethertype != EtherType::IPV4 {
                        ingress::prefetch(Vnet::second_line(v));
                    }
                }
                Some(_) => {}
                None => drop(slot.take()),
            }
        }
    }
    // A burst of one tenant finds its state hot after the first frame.
    if runs > 1 {
        ingress::warm(ctx, &classified[..frames.len()]);
    } else if let Some(vnet) = ctx.tables.vnets.get(last) {
        filter::prefetch_states(vnet, frames, &classified);
    }
    // Frames of many tenants: each IPv4 lookup in a small table starts as its
    // frame passes the header checks (`locate_compact`).
    let spread = runs > 2;
    // Each family's lanes are ~3 KB to zero: only the families the burst holds
    // get theirs (zeroing both was 2.5% of scenario 1's worker).
    let holds = |t: u16| classified.iter().flatten().any(|c| c.l2.ethertype == t);
    let mut v4: Option<Lanes<'_, F, ipv4::Prepared4, u32>> =
        holds(EtherType::IPV4).then(Lanes::new);
    let mut v6: Option<Lanes<'_, F, ipv6::Prepared6, u128>> =
        holds(EtherType::IPV6).then(Lanes::new);
    let mut tenant = None;
    // By reference: iterating the array by value copied all of it first.
    for (slot, c) in frames.iter_mut().zip(&classified) {
        let (Some(frame), Some(c)) = (slot.take(), *c) else {
            continue;
        };
        let Some((ing, ethertype)) = ingress::demux(ctx, &mut tenant, port, &frame, c) else {
            continue;
        };
        match (ethertype, &mut v4, &mut v6) {
            (EtherType::IPV4, Some(v4), _) => {
                if let Some((frame, p)) = ipv4::prepare(ctx, out, &ing, frame, v4.next_tags()) {
                    v4.push(frame, &ing, p, p.dst);
                    if spread {
                        v4.locate_compact();
                    }
                }
            }
            (EtherType::IPV6, _, Some(v6)) => {
                if let Some((frame, p)) = ipv6::prepare(ctx, out, &ing, frame, v6.next_tags()) {
                    v6.push(frame, &ing, p, p.dst);
                }
            }
            (EtherType::ARP, _, _) => arp::handle(ctx, out, &ing, frame),
            _ => ingress::unsupported(ctx, &ing),
        }
    }
    clock.lap(Stage::Demux);

    // Stage 2: route lookups, batched.
    // Many tenants in one burst: their small tables' second level. (A burst of
    // one or two tenants finds its table hot after the first frame; the per-vnet
    // batch serves it as before.)
    if let Some(v4) = &mut v4 {
        let compact4 = if spread { v4.lookup_compact() } else { 0 };
        v4.lookup(
            compact4,
            |vnet, keys, hops| vnet.fwd.fib4.lookup_batch(keys, hops),
            |vnet, key| vnet.fwd.fib4.lookup_u32(key),
        );
        // Many tenants in one burst: their gateways' egress entries are cold (a
        // burst of one tenant finds them hot after its first frame). A family's
        // lanes have at most as many vnet runs as the burst.
        if spread {
            v4.warm_gateways();
        }
    }
    if let Some(v6) = &mut v6 {
        v6.lookup(
            0,
            |vnet, keys, hops| vnet.fwd.fib6.lookup_batch(keys, hops),
            |vnet, key| vnet.fwd.fib6.lookup_u128(key),
        );
        if spread {
            v6.warm_gateways();
        }
    }
    clock.lap(Stage::Lookup);

    // Stage 3: the rest, frame by frame.
    let mut memo = NeighborMemo::default();
    if let Some(v4) = &mut v4 {
        for i in 0..v4.len {
            if let Some((frame, ing, p, tags, nh)) = v4.take(i) {
                route::finish(ctx, pending, out, &mut memo, &ing, frame, p, tags, nh);
            }
        }
    }
    if let Some(v6) = &mut v6 {
        for i in 0..v6.len {
            if let Some((frame, ing, p, tags, nh)) = v6.take(i) {
                route::finish(ctx, pending, out, &mut memo, &ing, frame, p, tags, nh);
            }
        }
    }
    clock.lap(Stage::Finish);
}
