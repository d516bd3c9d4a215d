//! The worker's side of the stage: requests the packet path staged during a burst
//! go into the owned sets (or to the owner's ring), due pipes are serviced and what
//! leaves them continues down the path, and drops are counted per vnet.
use super::{owner, Resume, ShapeRequest, Shaped, ShaperHost};
use crate::frame::Frame;
use crate::pipeline::{self, Output, PathCtx, Pending};
use crate::stats::DropReason;
use crate::tables::Tables;
use shaper::Fate;

/// Requests one burst can stage: at most one per received frame.
pub const STAGED: usize = 64;

/// Counts a drop by the shaper stage against vnet `index` (or the vnet with
/// `vnet_id` when the index is unknown: cold).
fn count(tables: &Tables, worker: usize, index: Option<usize>, vnet_id: u64, r: DropReason) {
    let v = match index {
        Some(i) => tables.vnets.get(i),
        None => tables.vnet_by_id(vnet_id).map(|(_, v)| v),
    };
    if let Some(v) = v {
        v.fwd.counters.worker(worker).drop(r);
    }
}

fn reason(why: shaper::DropReason) -> DropReason {
    match why {
        shaper::DropReason::NoSuchPipe => DropReason::NoSuchPipe,
        _ => DropReason::Pipe,
    }
}

/// Enqueues a request into an owned set; drops (freeing the frame) and counts on refusal.
pub fn accept<F>(
    host: &mut ShaperHost<F>,
    tables: &Tables,
    worker: usize,
    req: ShapeRequest<F>,
    now: u64,
) {
    let id = req.vnet_id;
    if let Err((frame, why, index)) = host.enqueue(req, now) {
        drop(frame);
        count(tables, worker, index, id, reason(why));
    }
}

/// After a burst: every staged request goes into this worker's sets or, for a
/// vnet another worker owns, to `hand(owner, req)`, which gives it back (`Some`)
/// when that ring is full.
pub fn dispatch<F>(
    host: &mut ShaperHost<F>,
    staged: &mut Vec<ShapeRequest<F>>,
    tables: &Tables,
    worker: usize,
    workers: usize,
    now: u64,
    mut hand: impl FnMut(usize, ShapeRequest<F>) -> Option<ShapeRequest<F>>,
) {
    // With many flows in a pipe (masks), each lookup is a chain of cache misses:
    // resolve the burst's flows first, in passes whose misses overlap (index,
    // queue, last packet), then enqueue. Unmasked pipes skip the passes.
    let mut hints: [Option<(usize, shaper::Hint)>; STAGED] = [None; STAGED];
    let mut any = false;
    for (h, req) in hints.iter_mut().zip(staged.iter()) {
        if owner(req.vnet_id, workers) == worker {
            *h = host.hint(req);
            any |= h.is_some();
        }
    }
    if any {
        for h in hints.iter().flatten() {
            host.prefetch(h);
        }
        for h in hints.iter().flatten() {
            host.prefetch_tail(h);
        }
    }
    for (k, req) in staged.drain(..).enumerate() {
        let o = owner(req.vnet_id, workers);
        if let Some(h) = hints.get(k).copied().flatten() {
            let id = req.vnet_id;
            if let Err((frame, why, index)) = host.enqueue_hinted(&h, req, now) {
                drop(frame);
                count(tables, worker, index, id, reason(why));
            }
        } else if o == worker {
            accept(host, tables, worker, req, now);
        } else if let Some(req) = hand(o, req) {
            let id = req.vnet_id;
            drop(req);
            count(tables, worker, None, id, DropReason::PipeHandoffFull);
        }
    }
}

/// Releases what is due: packets that left a pipe continue down the path, those
/// dropped inside one are freed and counted.
pub fn service<F: Frame, O: Output<F>>(
    host: &mut ShaperHost<F>,
    ctx: &PathCtx<'_>,
    pending: &mut Pending<F>,
    out: &mut O,
) {
    if !host.due(ctx.now) {
        return;
    }
    // One tables snapshot for the whole pass: neighbor answers stay true.
    let mut memo = pipeline::NeighborMemo::default();
    host.poll(ctx.now, |index, mut pkt, _pipe, fate| match fate {
        Fate::Sent | Fate::Marked => {
            if fate == Fate::Marked {
                mark_ce(&mut pkt);
            }
            if let Some(v) = ctx.tables.vnets.get(index) {
                pipeline::release(ctx, pending, out, &mut memo, v, pkt);
            }
        }
        Fate::Dropped(_) => {
            drop(pkt);
            count(ctx.tables, ctx.worker, Some(index), 0, DropReason::Pipe);
        }
    });
}

/// FQ-CoDel marked the packet instead of dropping it: set CE on the IP header at
/// its resume point (the header checksum kept right). It was ECN-capable when it
/// was enqueued, and nothing rewrites the IP header while a pipe holds it.
fn mark_ce<F: Frame>(pkt: &mut Shaped<F>) {
    let l3_off = match pkt.resume {
        Resume::Route { l3_off, .. }
        | Resume::Transmit { l3_off, .. }
        | Resume::Reply { l3_off, .. } => usize::from(l3_off),
    };
    if let Some(ip) = pkt.frame.data_mut().get_mut(l3_off..) {
        shaper::ecn::set_ce(ip);
    }
}

/// At the quiescent point after a publication: adopt, rebuild or drop sets; frames
/// held by dropped or rebuilt sets are freed and counted.
pub fn sync<F>(host: &mut ShaperHost<F>, tables: &Tables, worker: usize, now: u64) {
    host.sync(tables, now, |index, frame| {
        drop(frame);
        if let Some(v) = index.and_then(|i| tables.vnets.get(i)) {
            v.fwd.counters.worker(worker).drop(DropReason::PipeFlushed);
        }
    });
}
