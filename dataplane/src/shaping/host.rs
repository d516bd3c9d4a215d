//! The shapers one worker owns: one `ShaperSet` per vnet whose owner it is,
//! adopted, rebuilt or dropped at the worker's quiescent point when the tables
//! change.
use super::{owner, ShapeRequest, Shaped, ShaperSpec};
use crate::tables::Tables;
use shaper::{DropReason, Fate, Hint, ShaperSet};
use std::sync::Arc;

struct Owned<F> {
    vnet_id: u64,
    /// Index of the vnet in the tables of the last `sync`.
    index: usize,
    spec: Arc<ShaperSpec>,
    set: ShaperSet<Shaped<F>>,
}

pub struct ShaperHost<F> {
    worker: usize,
    workers: usize,
    hz: u64,
    sets: Vec<Owned<F>>,
}

impl<F> ShaperHost<F> {
    pub fn new(worker: usize, workers: usize, hz: u64) -> Self {
        ShaperHost {
            worker,
            workers: workers.max(1),
            hz,
            sets: Vec::new(),
        }
    }

    /// True if this worker owns vnet `vnet_id`'s shaper.
    #[inline]
    pub fn owns(&self, vnet_id: u64) -> bool {
        owner(vnet_id, self.workers) == self.worker
    }

    /// After a publication (quiescent point): builds shapers for owned vnets that
    /// got pipes, rebuilds those whose pipes changed, drops those whose vnet or
    /// pipes are gone. Returns the frames that were held by dropped or rebuilt sets
    /// (with the vnet index they belonged to, if the vnet still exists), for the
    /// caller to free and count.
    pub fn sync(&mut self, tables: &Tables, now: u64, mut flushed: impl FnMut(Option<usize>, F)) {
        let mut old = std::mem::take(&mut self.sets);
        for (index, v) in tables.vnets.iter().enumerate() {
            let Some(spec) = &v.fwd.spec.shaper else {
                continue;
            };
            if !self.owns(v.fwd.id) {
                continue;
            }
            if let Some(pos) = old.iter().position(|o| o.vnet_id == v.fwd.id) {
                let mut o = old.swap_remove(pos);
                if *o.spec == **spec {
                    o.index = index;
                    self.sets.push(o);
                    continue;
                }
                o.set.drain(|p| flushed(Some(index), p.frame));
            }
            // Validated by the control plane; a failure here would be a bug there,
            // and the vnet then runs without its shaper (packets to it are dropped
            // as no_such_pipe) rather than the worker stopping.
            if let Ok(set) = ShaperSet::new(&spec.0, self.hz, now) {
                self.sets.push(Owned {
                    vnet_id: v.fwd.id,
                    index,
                    spec: spec.clone(),
                    set,
                });
            }
        }
        for mut o in old {
            let index = tables.vnet_by_id(o.vnet_id).map(|(i, _)| i);
            o.set.drain(|p| flushed(index, p.frame));
        }
    }

    /// Enqueues a packet into its vnet's set (this worker must own it). On `Err` the
    /// caller frees the frame and counts the reason.
    /// The error carries the vnet's index in the tables when it has a set here.
    #[allow(clippy::type_complexity)]
    pub fn enqueue(
        &mut self,
        req: ShapeRequest<F>,
        now: u64,
    ) -> Result<(), (F, DropReason, Option<usize>)> {
        let Some(o) = self.sets.iter_mut().find(|o| o.vnet_id == req.vnet_id) else {
            return Err((req.pkt.frame, DropReason::NoSuchPipe, None));
        };
        let index = o.index;
        o.set
            .enqueue(req.target, &req.key, req.len, req.pkt, now)
            .map_err(|(p, why)| (p.frame, why, Some(index)))
    }

    /// Resolves a request's flow in its vnet's set ahead of `enqueue_hinted` (see
    /// `ShaperSet::hint`): `None` when this worker has no set for it, or when its
    /// queue is known without a lookup (nothing to prefetch).
    #[inline]
    pub fn hint(&self, req: &ShapeRequest<F>) -> Option<(usize, Hint)> {
        let k = self.sets.iter().position(|o| o.vnet_id == req.vnet_id)?;
        if !self.sets[k].set.has_lookups() {
            return None;
        }
        let h = self.sets[k].set.hint(req.target, &req.key);
        h.worth_prefetching().then_some((k, h))
    }

    /// Second pass over a burst's hints: the flows' queues.
    #[inline]
    pub fn prefetch(&self, (k, h): &(usize, Hint)) {
        self.sets[*k].set.prefetch(h);
    }

    /// Third pass over a burst's hints: the queues' last packets.
    #[inline]
    pub fn prefetch_tail(&self, (k, h): &(usize, Hint)) {
        self.sets[*k].set.prefetch_tail(h);
    }

    /// `enqueue` with a hint from `hint(&req)` (the same request, and no `sync`
    /// since).
    #[allow(clippy::type_complexity)]
    pub fn enqueue_hinted(
        &mut self,
        (k, h): &(usize, Hint),
        req: ShapeRequest<F>,
        now: u64,
    ) -> Result<(), (F, DropReason, Option<usize>)> {
        let o = &mut self.sets[*k];
        debug_assert_eq!(o.vnet_id, req.vnet_id, "a hint for another vnet");
        let index = o.index;
        o.set
            .enqueue_hinted(h, &req.key, req.len, req.pkt, now)
            .map_err(|(p, why)| (p.frame, why, Some(index)))
    }

    /// True if some set has work due by `now`.
    #[inline]
    pub fn due(&self, now: u64) -> bool {
        self.sets
            .iter()
            .any(|o| o.set.next_deadline().is_some_and(|d| d <= now))
    }

    /// Runs every owned set up to `now`: `f(vnet index, packet, pipe id, fate)` for
    /// each packet that left a pipe or was dropped inside one.
    pub fn poll(&mut self, now: u64, mut f: impl FnMut(usize, Shaped<F>, u32, Fate)) {
        for o in &mut self.sets {
            if o.set.next_deadline().is_some_and(|d| d <= now) {
                let index = o.index;
                o.set.poll(now, |p, pipe, fate| f(index, p, pipe, fate));
            }
        }
    }

    /// Copies every owned set's counters into its vnet's published stats.
    pub fn publish_stats(&self, tables: &Tables) {
        for o in &self.sets {
            let Some(stats) = tables
                .vnets
                .get(o.index)
                .and_then(|v| v.fwd.shaper_stats.as_ref())
            else {
                continue;
            };
            for p in &stats.pipes {
                if let Some(c) = o.set.counters(p.id) {
                    p.store(&c);
                }
            }
        }
    }

    /// Frames held in all owned pipes.
    pub fn held(&self) -> usize {
        self.sets.iter().map(|o| o.set.held()).sum()
    }

    /// Number of vnets whose shaper this worker runs.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}
