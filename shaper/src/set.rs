//! `ShaperSet`: one vnet's pipes, queues and schedulers, generic over the packet
//! handle `P` (an mbuf on the dataplane, anything in tests).
//!
//! Model (dummynet's): a pipe is a link (bandwidth, delay, loss) with a scheduler.
//! A pipe with a `mask` is a template: each masked flow gets its own *instance*
//! (own link, own scheduler). Packets enter a *flowset*: the pipe's own (target
//! `pipe N`) or a configured queue (`queue N`); a flowset with a mask gives each
//! masked flow its own *flow queue* inside the instance, all sharing its link by
//! the scheduler's rules.
//!
//! Memory: everything is sized when the set is built. Packets sit in a fixed pool
//! of slots (full → `PoolExhausted`); flow queues and instances are recycled
//! through free lists and hash chains, so the tables grow only up to their
//! high-water mark (bounded by `max_flows`, full → `FlowLimit`) and steady state
//! never allocates. Time is the caller's: every call takes `now` in ticks.

use crate::config::{ConfigError, QueueLimit, ShaperConfig};
use crate::counters::{DropReason, PipeCounters};
use crate::flow::{FlowKey, FlowMask};
use crate::index::FlowIndex;
use crate::link::Link;
use crate::prefetch::{prefetch, prefetch_at};
use crate::queue::{FlowQueue, QueueId, Queues, SlotMeta, ECN_CAPABLE, ECN_MARKED, NIL, UNPARKED};
use crate::red::Red;
use crate::rng::Rng;
use crate::sched::{new_scheduler, AnyScheduler, Scheduler};
use crate::wheel::TimerWheel;

/// Where a firewall rule sends a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// `pipe N`: the pipe's own queue.
    Pipe(u32),
    /// `queue N`: a flowset sharing its pipe by weight.
    Queue(u32),
}

/// What became of a packet handed back by [`ShaperSet::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It left the pipe (after its delay): continue down the packet path.
    Sent,
    /// It left the pipe, and the scheduler marked it instead of dropping it
    /// (FQ-CoDel with `ecn`): set CE on its IP header (`crate::ecn::set_ce`), then
    /// continue like `Sent`.
    Marked,
    /// Dropped inside a scheduler after it was queued (CoDel, FQ-CoDel overlimit).
    Dropped(DropReason),
}

/// A packet's flow resolved ahead of its enqueue ([`ShaperSet::hint`]): the
/// flowset and the hash that places it, so a burst can be looked up in passes
/// whose cache misses overlap. Valid for the set and the (target, key) it was
/// made from, as long as the set lives.
#[derive(Debug, Clone, Copy)]
pub struct Hint {
    /// Flowset index; NIL: no such pipe or queue.
    fs: u32,
    /// The flow's hash in the set's queue index (or, for FQ-CoDel, among the
    /// scheduler's queues) when `exact`; unused otherwise (masked pipes, whose
    /// instance must be found first).
    hash: u64,
    exact: bool,
}

impl Hint {
    /// False where the flow's queue is known without a lookup (a pipe or queue
    /// without mask): the prefetch passes would only cost time.
    #[inline]
    pub fn worth_prefetching(&self) -> bool {
        self.exact
    }
}

struct PipeState {
    id: u32,
    mask: FlowMask,
    max_flows: u32,
    plr: f64,
    bw: u64,
    delay: u64,
    burst: u64,
    /// The pipe's own flowset (`pipe N` in a rule).
    own_flowset: u32,
    /// The instance of an unmasked pipe; NIL when masked.
    single: u32,
    counters: PipeCounters,
    sched: crate::config::SchedulerConfig,
    /// Forgotten instances of this (masked) pipe, reused before any new one.
    free: Vec<u32>,
    /// A pipe without `bw`, `delay`, `plr` or mask holds nothing: packets up to
    /// this length skip its scheduler, link and timer (`ShaperSet::pass`); 0 for
    /// every other pipe.
    pass_len: u32,
}

struct Flowset {
    pipe: u32,
    weight: u32,
    prio: u8,
    limit: QueueLimit,
    plr: f64,
    red: Option<Red>,
    mask: FlowMask,
    /// `mask` is not `FlowMask::NONE`: its queues are dynamic, one per flow.
    /// Kept apart because comparing a whole mask with `NONE` (48 bytes) was
    /// asked four times a packet.
    masked: bool,
    max_flows: u32,
    live: u32,
    /// The one queue of an unmasked flowset in an unmasked pipe, once created:
    /// the common case skips the hash.
    static_q: u32,
    /// Neither `plr` nor RED: nothing here can refuse a packet its pipe passes
    /// through (a byte limit is checked per packet).
    pass: bool,
}

impl Flowset {
    /// The flow `key` belongs to here (`FlowMask::apply`).
    #[inline]
    fn flow_of(&self, key: &FlowKey) -> FlowKey {
        if self.masked {
            self.mask.apply_some(key)
        } else {
            FlowKey::default()
        }
    }
}

struct Instance {
    pipe: u32,
    key: FlowKey,
    hash_next: u32,
    in_use: bool,
    sched: AnyScheduler,
    /// First of the scheduler's own hashed queues (FQ-CoDel), NIL otherwise.
    hashed_base: u32,
    hashed_n: u32,
    link: Link,
    /// Packets waiting in this instance's flow queues.
    queued: u32,
    /// Flow queues (not hashed ones) alive in this instance.
    queues: u32,
    /// The delay line: slots in release order.
    dl_head: u32,
    dl_tail: u32,
    dl_pkts: u32,
}

/// One vnet's shaper. Owned by one worker (see the crate docs for cross-core use).
pub struct ShaperSet<P> {
    hz: u64,
    seed: u64,
    pipes: Vec<PipeState>,
    /// (pipe id, index) sorted by id.
    pipe_index: Vec<(u32, u32)>,
    flowsets: Vec<Flowset>,
    /// (queue id, flowset index) sorted by id.
    queue_index: Vec<(u32, u32)>,
    inst: Vec<Instance>,
    inst_hash: Vec<u32>,
    qs: Queues,
    q_free: Vec<u32>,
    q_index: FlowIndex,
    handles: Vec<Option<P>>,
    slot_free: Vec<u32>,
    wheel: TimerWheel,
    fired: Vec<u32>,
    rng: Rng,
    /// Packets that passed through unlimited pipes, in arrival order, to be
    /// handed out by the next `poll` (their slot's `queue` is their pipe index).
    ready_head: u32,
    ready_tail: u32,
    /// See `has_lookups`.
    lookups: bool,
    /// Parked queues (empty dynamic queues kept for their flow), oldest first.
    idle_head: u32,
    idle_tail: u32,
    /// Packets put on a link so far (wrapping): tells `enqueue_hinted` whether
    /// its `admit` moved anything (see there).
    sent: u32,
    /// `expire_parked` has nothing to do before this time.
    expire_after: u64,
}

impl<P> std::fmt::Debug for ShaperSet<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShaperSet")
            .field("pipes", &self.pipes.len())
            .field("flowsets", &self.flowsets.len())
            .field("held", &self.held())
            .finish()
    }
}

/// Which of `n` hashed queues (FQ-CoDel's) a flow hash picks: the high bits of
/// `hash * n` (a multiply where `hash % n` was a 64-bit division, asked three
/// times per packet: the hint passes and the enqueue). Uniform for a uniform
/// hash, whatever `n`.
#[inline]
fn hashed_index(hash: u64, n: u32) -> u32 {
    ((u128::from(hash) * u128::from(n)) >> 64) as u32
}

fn bucket_count(n: u64) -> usize {
    (n.clamp(1, 1 << 24) as usize).next_power_of_two()
}

fn lookup(index: &[(u32, u32)], id: u32) -> Option<u32> {
    index
        .binary_search_by_key(&id, |e| e.0)
        .ok()
        .map(|i| index[i].1)
}

impl<P> ShaperSet<P> {
    /// Builds a set from a valid configuration; `hz` is the tick rate of every `now`
    /// it will be given. All large allocations happen here.
    pub fn new(cfg: &ShaperConfig, hz: u64, now: u64) -> Result<Self, ConfigError> {
        cfg.validate()?;
        assert!(
            hz > 0 && hz < 1 << 40,
            "a clock rate between 1 Hz and 1 THz"
        );
        let mut pipes = Vec::with_capacity(cfg.pipes.len());
        let mut flowsets = Vec::with_capacity(cfg.pipes.len() + cfg.queues.len());
        let mut pipe_index = Vec::with_capacity(cfg.pipes.len());
        let mut inst_buckets = 0u64;
        let mut q_buckets = 0u64;
        for (i, p) in cfg.pipes.iter().enumerate() {
            pipe_index.push((p.id, i as u32));
            flowsets.push(Flowset {
                pipe: i as u32,
                weight: 1,
                prio: 0,
                limit: p.queue,
                plr: 0.0,
                red: p.red.as_ref().map(|r| Red::new(r, p.queue)),
                // A masked pipe's flows are told apart by instance already.
                mask: FlowMask::NONE,
                masked: false,
                max_flows: p.max_flows,
                live: 0,
                static_q: NIL,
                pass: p.red.is_none(),
            });
            if !p.mask.is_none() {
                inst_buckets += u64::from(p.buckets.max(p.max_flows.min(cfg.pool_slots)));
            }
            pipes.push(PipeState {
                id: p.id,
                mask: p.mask,
                max_flows: p.max_flows,
                plr: p.plr,
                bw: p.bw.bits_per_sec(),
                delay: crate::clock::nanos_to_ticks(p.delay.nanos(), hz),
                burst: p.burst,
                own_flowset: i as u32,
                single: NIL,
                counters: PipeCounters::default(),
                sched: p.scheduler,
                free: Vec::new(),
                pass_len: if p.bw.bits_per_sec() == 0
                    && p.delay.nanos() == 0
                    && p.plr == 0.0
                    && p.mask.is_none()
                {
                    new_scheduler(&p.scheduler, hz).max_len()
                } else {
                    0
                },
            });
        }
        pipe_index.sort_unstable();
        let mut queue_index = Vec::with_capacity(cfg.queues.len());
        for q in &cfg.queues {
            let pipe = lookup(&pipe_index, q.pipe).ok_or(ConfigError::UnknownPipe(q.id, q.pipe))?;
            queue_index.push((q.id, flowsets.len() as u32));
            if !q.mask.is_none() {
                q_buckets += u64::from(q.buckets.max(q.max_flows.min(cfg.pool_slots)));
            }
            flowsets.push(Flowset {
                pipe,
                weight: q.weight,
                prio: q.prio,
                limit: q.queue,
                plr: q.plr,
                red: q.red.as_ref().map(|r| Red::new(r, q.queue)),
                mask: q.mask,
                masked: !q.mask.is_none(),
                max_flows: q.max_flows,
                live: 0,
                static_q: NIL,
                pass: q.plr == 0.0 && q.red.is_none(),
            });
        }
        queue_index.sort_unstable();
        let pool = cfg.pool_slots;
        let mut set = ShaperSet {
            hz,
            seed: cfg.seed,
            pipes,
            pipe_index,
            flowsets,
            queue_index,
            inst: Vec::new(),
            inst_hash: vec![NIL; bucket_count(inst_buckets)],
            qs: Queues::new(pool),
            q_free: Vec::new(),
            // Unmasked queues (one per flowset and instance) plus masked ones.
            q_index: FlowIndex::new(bucket_count(q_buckets + cfg.queues.len() as u64 + 64)),
            handles: (0..pool).map(|_| None).collect(),
            slot_free: (0..pool).rev().collect(),
            wheel: TimerWheel::new(now, cfg.pipes.len().max(16)),
            fired: Vec::with_capacity(64),
            rng: Rng::new(cfg.seed),
            ready_head: NIL,
            ready_tail: NIL,
            lookups: cfg.pipes.iter().any(|p| {
                !p.mask.is_none()
                    || matches!(p.scheduler, crate::config::SchedulerConfig::FqCodel(_))
            }) || cfg.queues.iter().any(|q| !q.mask.is_none()),
            idle_head: NIL,
            idle_tail: NIL,
            sent: 0,
            expire_after: 0,
        };
        for p in 0..set.pipes.len() {
            if set.pipes[p].mask.is_none() {
                let i = set.new_instance(p as u32, FlowKey::default(), now);
                set.pipes[p].single = i;
            }
        }
        Ok(set)
    }

    /// True if some packet's queue is found by a lookup (a mask on a pipe or a
    /// queue, or FQ-CoDel's hashed queues): only then do the `hint` passes pay.
    pub fn has_lookups(&self) -> bool {
        self.lookups
    }

    /// Ticks per second of the clock this set runs on.
    pub fn hz(&self) -> u64 {
        self.hz
    }

    /// Packets held now (queued, in delay lines, or dropped awaiting `poll`).
    pub fn held(&self) -> usize {
        self.handles.len() - self.slot_free.len()
    }

    /// Ids of the configured pipes, in id order.
    pub fn pipe_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.pipe_index.iter().map(|e| e.0)
    }

    /// A pipe's counters (its dynamic instances and queues summed).
    pub fn counters(&self, pipe_id: u32) -> Option<PipeCounters> {
        lookup(&self.pipe_index, pipe_id).map(|i| self.pipes[i as usize].counters)
    }

    /// The earliest time `poll` has work (a lower bound; `None` when idle).
    pub fn next_deadline(&self) -> Option<u64> {
        if self.qs.dropped_head != NIL || self.ready_head != NIL {
            return Some(self.wheel.elapsed());
        }
        self.wheel.next_expiration()
    }

    /// Resolves a packet's flow for `enqueue_hinted`, and hints the first cache
    /// line its enqueue will need (the flow's slot in the queue index). With many
    /// flows every step of a lookup is a cache miss; a burst goes fastest as
    /// `hint` for every packet, then `prefetch`, then `prefetch_tail`, then
    /// `enqueue_hinted`: each pass's misses overlap, and are done by the next.
    /// Nothing changes in the set until `enqueue_hinted`.
    #[inline]
    pub fn hint(&self, target: Target, key: &FlowKey) -> Hint {
        let fs = match target {
            Target::Pipe(id) => {
                lookup(&self.pipe_index, id).map(|p| self.pipes[p as usize].own_flowset)
            }
            Target::Queue(id) => lookup(&self.queue_index, id),
        };
        let Some(fs) = fs else {
            return Hint {
                fs: NIL,
                hash: 0,
                exact: false,
            };
        };
        let f = &self.flowsets[fs as usize];
        let i = self.pipes[f.pipe as usize].single;
        let mut h = Hint {
            fs,
            hash: 0,
            exact: false,
        };
        if i == NIL {
            return h;
        }
        let e = &self.inst[i as usize];
        if e.hashed_base != NIL {
            h.hash = key.hash_with(self.seed);
            h.exact = true;
        } else if f.static_q == NIL {
            h.hash = self.queue_hash(fs, i, &f.flow_of(key));
            h.exact = true;
            self.q_index.prefetch(h.hash);
        }
        h
    }

    /// The queue a hint most likely leads to (when it exists already).
    #[inline]
    fn hinted_queue(&self, h: &Hint) -> Option<u32> {
        let f = self.flowsets.get(h.fs as usize)?;
        let i = self.pipes[f.pipe as usize].single;
        if i == NIL {
            return None;
        }
        let e = &self.inst[i as usize];
        if e.hashed_base != NIL {
            Some(e.hashed_base + hashed_index(h.hash, e.hashed_n))
        } else if f.static_q != NIL {
            Some(f.static_q)
        } else {
            self.q_index.candidate(h.hash)
        }
    }

    /// Second pass over a burst (see `hint`): hints the flow's queue (it reads
    /// the index line the first pass fetched): its first line (the list, the
    /// scheduler's fields) and its second (the key the lookup compares, the
    /// parking links).
    #[inline]
    pub fn prefetch(&self, h: &Hint) {
        if let Some(fq) = self.hinted_queue(h).and_then(|q| self.qs.q.get(q as usize)) {
            prefetch(fq);
            prefetch(&fq.key);
        }
    }

    /// Third pass over a burst (see `hint`): hints the queue's last packet, which
    /// the new one is linked behind (it reads the queue the second pass fetched).
    #[inline]
    pub fn prefetch_tail(&self, h: &Hint) {
        if let Some(fq) = self.hinted_queue(h).and_then(|q| self.qs.q.get(q as usize)) {
            prefetch_at(&self.qs.slots, fq.tail as usize);
            // A parked queue comes off the idle list: its neighbours there were
            // parked about when it was, a round of all flows ago, so they are
            // cold (a miss per returning flow with fair schedulers, which drain
            // and refill most flows every round).
            if fq.parked() {
                for n in [fq.idle_prev, fq.idle_next] {
                    if let Some(nq) = self.qs.q.get(n as usize) {
                        prefetch(&nq.key);
                    }
                }
            }
        }
    }

    /// Where flow `masked` of flowset `fs` in instance `i` sits in the queue index.
    #[inline]
    fn queue_hash(&self, fs: u32, i: u32, masked: &FlowKey) -> u64 {
        let tag = u64::from(fs) << 32 | u64::from(i);
        masked.hash_with(self.seed ^ tag.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// Sends a packet of `len` bytes into `target`. `key` is its header fields (for
    /// masks and FQ-CoDel). On `Err` the packet was not taken: the caller frees it
    /// (the drop is counted against the pipe, except `NoSuchPipe`).
    #[inline]
    pub fn enqueue(
        &mut self,
        target: Target,
        key: &FlowKey,
        len: u32,
        pkt: P,
        now: u64,
    ) -> Result<(), (P, DropReason)> {
        let h = self.hint(target, key);
        self.enqueue_hinted(&h, key, len, pkt, now)
    }

    /// `enqueue` with the flow resolved beforehand by `hint(target, key)` (same
    /// target and key: another key's hint would file the packet under the wrong
    /// flow).
    pub fn enqueue_hinted(
        &mut self,
        h: &Hint,
        key: &FlowKey,
        len: u32,
        pkt: P,
        now: u64,
    ) -> Result<(), (P, DropReason)> {
        let fs = h.fs;
        if fs == NIL {
            return Err((pkt, DropReason::NoSuchPipe));
        }
        let p = self.flowsets[fs as usize].pipe as usize;
        {
            let c = &mut self.pipes[p].counters;
            c.in_pkts += 1;
            c.in_bytes += u64::from(len);
        }
        if len <= self.pipes[p].pass_len && self.flowsets[fs as usize].pass {
            let e = &self.inst[self.pipes[p].single as usize];
            let fits = match self.flowsets[fs as usize].limit {
                QueueLimit::Slots(_) => true,
                QueueLimit::Bytes(b) => u64::from(len) <= b,
            };
            // Nothing of this pipe waits anywhere (so order is kept) and the
            // packet would go straight through: skip the machinery.
            if fits && e.queued == 0 && e.dl_pkts == 0 && !self.slot_free.is_empty() {
                self.pass(p, len, pkt, now);
                return Ok(());
            }
        }
        let sent = self.sent;
        match self.admit(fs, p, key, h, len, now) {
            Ok((i, q)) => {
                let slot = self.slot_free.pop().expect("admit checked the pool");
                self.handles[slot as usize] = Some(pkt);
                self.qs.slots[slot as usize] = SlotMeta {
                    next: NIL,
                    len,
                    queue: q,
                    time: now,
                    reason: DropReason::QueueFull,
                    ecn: if key.ecn != crate::ecn::NOT_ECT {
                        ECN_CAPABLE
                    } else {
                        0
                    },
                };
                let was_backlogged = self.inst[i as usize].queued > 0;
                if !was_backlogged {
                    self.inst[i as usize].link.wake(now);
                }
                self.qs.push(q, slot);
                self.inst[i as usize].queued += 1;
                let c = &mut self.pipes[p].counters;
                c.backlog_pkts += 1;
                c.backlog_bytes += u64::from(len);
                self.inst[i as usize].sched.enqueue(&mut self.qs, q, now);
                // Into a backlogged instance whose link is busy, with nothing sent
                // by `admit`'s serialize and nothing dropped: neither the link,
                // the delay line nor the instance's next event changed since they
                // were last armed (an arrival only adds to the backlog), so the
                // serialize and re-arm below would find nothing to do. They cost
                // ~10% of a packet at 100,000 flows (in-process A/B: DRR 143 ->
                // 133 ns, FIFO 92 -> 86, 2026-11-22).
                if was_backlogged
                    && self.sent == sent
                    && self.qs.call_drop_pkts == 0
                    && !self.inst[i as usize].link.free_by(now)
                {
                    return Ok(());
                }
                self.fold_drops(i);
                self.serialize(i, now);
                self.arm(i, now);
                Ok(())
            }
            Err(why) => {
                self.pipes[p].counters.drop(why, len);
                Err((pkt, why))
            }
        }
    }

    /// A packet through a pipe that holds nothing (no `bw`, `delay`, `plr`, mask or
    /// RED): what the full path would do — take a slot, release it at the next
    /// poll, count it — without the scheduler, the link arithmetic and the timer
    /// wheel. Such pipes are common (accounting, `perf/fwd` scenario 5) and sit on
    /// the forwarding path of every packet they match.
    fn pass(&mut self, p: usize, len: u32, pkt: P, now: u64) {
        let slot = self.slot_free.pop().expect("checked by the caller");
        self.handles[slot as usize] = Some(pkt);
        self.qs.slots[slot as usize] = SlotMeta {
            next: NIL,
            len,
            queue: p as u32,
            time: now,
            reason: DropReason::QueueFull,
            ecn: 0,
        };
        if self.ready_tail == NIL {
            self.ready_head = slot;
        } else {
            self.qs.slots[self.ready_tail as usize].next = slot;
        }
        self.ready_tail = slot;
        let c = &mut self.pipes[p].counters;
        c.backlog_pkts += 1;
        c.backlog_bytes += u64::from(len);
    }

    /// Hands out what passed through unlimited pipes since the last poll.
    fn hand_out_ready(&mut self, f: &mut impl FnMut(P, u32, Fate)) {
        while self.ready_head != NIL {
            let s = self.ready_head;
            let meta = self.qs.slots[s as usize];
            self.ready_head = meta.next;
            if self.ready_head == NIL {
                self.ready_tail = NIL;
            }
            let pipe = &mut self.pipes[meta.queue as usize];
            let c = &mut pipe.counters;
            c.out_pkts += 1;
            c.out_bytes += u64::from(meta.len);
            c.backlog_pkts -= 1;
            c.backlog_bytes -= u64::from(meta.len);
            let pipe_id = pipe.id;
            let pkt = self.handles[s as usize].take().expect("a held slot");
            self.slot_free.push(s);
            f(pkt, pipe_id, Fate::Sent);
        }
    }

    /// Checks loss, instance, queue, limits and RED; returns (instance, queue).
    fn admit(
        &mut self,
        fs: u32,
        p: usize,
        key: &FlowKey,
        h: &Hint,
        len: u32,
        now: u64,
    ) -> Result<(u32, QueueId), DropReason> {
        let pipe_plr = self.pipes[p].plr;
        let fs_plr = self.flowsets[fs as usize].plr;
        if pipe_plr > 0.0 && self.rng.next_f64() < pipe_plr {
            return Err(DropReason::Loss);
        }
        if fs_plr > 0.0 && self.rng.next_f64() < fs_plr {
            return Err(DropReason::Loss);
        }
        if self.slot_free.is_empty() {
            return Err(DropReason::PoolExhausted);
        }
        let i = self.instance_for(p, key, now)?;
        // Serialize what was due before this arrival, so the scheduler chooses among
        // the packets that really were there. Before the queue lookup: it may free
        // a queue that just emptied.
        self.serialize(i, now);
        if len > self.inst[i as usize].sched.max_len() {
            self.maybe_free_instance(i, now);
            return Err(DropReason::Oversize);
        }
        let hashed = self.inst[i as usize].hashed_base;
        let q = if hashed != NIL {
            let n = self.inst[i as usize].hashed_n;
            let hash = if h.exact {
                h.hash
            } else {
                key.hash_with(self.seed)
            };
            debug_assert_eq!(hash, key.hash_with(self.seed), "a hint of another key");
            hashed + hashed_index(hash, n)
        } else {
            match self.queue_for(fs, i, key, h) {
                Some(q) => q,
                None => {
                    self.maybe_free_instance(i, now);
                    return Err(DropReason::FlowLimit);
                }
            }
        };
        if hashed == NIL {
            let fq = &self.qs.q[q as usize];
            let full = match self.flowsets[fs as usize].limit {
                QueueLimit::Slots(n) => fq.pkts >= n,
                QueueLimit::Bytes(b) => fq.bytes + u64::from(len) > b,
            };
            let why = if full {
                Some(DropReason::QueueFull)
            } else if let Some(red) = self.flowsets[fs as usize].red {
                let pkt_ticks = self.inst[i as usize].link.ticks_for(len);
                let fq = &mut self.qs.q[q as usize];
                red.should_drop(fq, now, pkt_ticks, &mut self.rng)
                    .then_some(DropReason::Red)
            } else {
                None
            };
            if let Some(why) = why {
                self.maybe_free_queue(i, q, now);
                return Err(why);
            }
        }
        Ok((i, q))
    }

    /// The instance of pipe `p` for this packet, created if needed.
    fn instance_for(&mut self, p: usize, key: &FlowKey, now: u64) -> Result<u32, DropReason> {
        let single = self.pipes[p].single;
        if single != NIL {
            return Ok(single);
        }
        let masked = self.pipes[p].mask.apply(key);
        let h = self.bucket(&self.inst_hash, p as u64, &masked);
        let mut i = self.inst_hash[h];
        while i != NIL {
            let e = &self.inst[i as usize];
            if e.pipe == p as u32 && e.key == masked {
                return Ok(i);
            }
            i = e.hash_next;
        }
        if self.pipes[p].counters.instances >= u64::from(self.pipes[p].max_flows) {
            return Err(DropReason::FlowLimit);
        }
        let i = self.new_instance(p as u32, masked, now);
        self.inst[i as usize].hash_next = self.inst_hash[h];
        self.inst_hash[h] = i;
        Ok(i)
    }

    fn bucket(&self, table: &[u32], tag: u64, key: &FlowKey) -> usize {
        (key.hash_with(self.seed ^ tag.wrapping_mul(0x9e37_79b9_7f4a_7c15)) as usize)
            & (table.len() - 1)
    }

    fn new_instance(&mut self, p: u32, key: FlowKey, now: u64) -> u32 {
        let ps = &self.pipes[p as usize];
        let link = Link::new(ps.bw, ps.delay, ps.burst, self.hz, now);
        let (sched_cfg, own_flowset) = (ps.sched, ps.own_flowset);
        let i = match self.pipes[p as usize].free.pop() {
            Some(i) => {
                // A recycled instance of the same pipe keeps its scheduler (reset)
                // and its hashed queues: no allocation for a returning flow.
                let e = &mut self.inst[i as usize];
                e.sched.reset();
                let (base, n) = (e.hashed_base, e.hashed_n);
                if base != NIL {
                    for q in &mut self.qs.q[base as usize..(base + n) as usize] {
                        q.sched = Default::default();
                    }
                }
                let e = &mut self.inst[i as usize];
                e.link = link;
                e.key = key;
                e.in_use = true;
                e.hash_next = NIL;
                i
            }
            None => {
                let mut sched = new_scheduler(&sched_cfg, self.hz);
                let (base, n) = match sched.hashed_queues() {
                    Some(n) => {
                        let base = self.qs.q.len() as u32;
                        for _ in 0..n {
                            self.qs.q.push(FlowQueue {
                                in_use: true,
                                instance: self.inst.len() as u32,
                                flowset: own_flowset,
                                ..FlowQueue::default()
                            });
                        }
                        sched.set_hashed_base(base);
                        (base, n)
                    }
                    None => (NIL, 0),
                };
                self.inst.push(Instance {
                    pipe: p,
                    key,
                    hash_next: NIL,
                    in_use: true,
                    sched,
                    hashed_base: base,
                    hashed_n: n,
                    link,
                    queued: 0,
                    queues: 0,
                    dl_head: NIL,
                    dl_tail: NIL,
                    dl_pkts: 0,
                });
                self.wheel.ensure(self.inst.len());
                let n = self.inst.len();
                let free = &mut self.pipes[p as usize].free;
                if free.capacity() < n {
                    free.reserve(n - free.len());
                }
                (self.inst.len() - 1) as u32
            }
        };
        self.pipes[p as usize].counters.instances += 1;
        i
    }

    /// The flow queue of flowset `fs` in instance `i` for this packet, created if
    /// needed; `None` when the flowset's `max_flows` is reached.
    fn queue_for(&mut self, fs: u32, i: u32, key: &FlowKey, h: &Hint) -> Option<QueueId> {
        let f = &self.flowsets[fs as usize];
        if f.static_q != NIL {
            return Some(f.static_q);
        }
        let cacheable = !f.masked && self.pipes[f.pipe as usize].single != NIL;
        let masked = f.flow_of(key);
        let dynamic = f.masked;
        // The hint's hash is for the pipe's single instance; a masked pipe's
        // instance was only found now.
        let hash = if h.exact {
            h.hash
        } else {
            self.queue_hash(fs, i, &masked)
        };
        debug_assert_eq!(
            hash,
            self.queue_hash(fs, i, &masked),
            "a hint of another key"
        );
        let qs = &self.qs.q;
        if let Some(q) = self.q_index.find(hash, |q| {
            let e = &qs[q as usize];
            e.key == masked && e.flowset == fs && e.instance == i
        }) {
            if self.qs.q[q as usize].parked() {
                if f.live >= f.max_flows {
                    return None;
                }
                self.unpark(q);
            }
            return Some(q);
        }
        if dynamic && f.live >= f.max_flows {
            return None;
        }
        if !self.q_index.has_room() {
            // Parked queues give way to new flows, oldest first.
            let oldest = self.idle_head;
            if oldest == NIL {
                return None;
            }
            self.free_queue(self.qs.q[oldest as usize].instance, oldest);
        }
        let f = &self.flowsets[fs as usize];
        let fresh = FlowQueue {
            weight: f.weight,
            prio: f.prio,
            dynamic,
            in_use: true,
            flowset: fs,
            instance: i,
            key: masked,
            ..FlowQueue::default()
        };
        let q = match self.q_free.pop() {
            Some(q) => {
                self.qs.q[q as usize] = fresh;
                q
            }
            None => {
                // A new high-water mark of flows: grow the free list with the table
                // so freeing a queue later never allocates.
                self.qs.q.push(fresh);
                let n = self.qs.q.len();
                if self.q_free.capacity() < n {
                    self.q_free.reserve(n - self.q_free.len());
                }
                (n - 1) as u32
            }
        };
        self.q_index.insert(hash, q);
        if cacheable {
            self.flowsets[fs as usize].static_q = q;
        }
        self.inst[i as usize].queues += 1;
        self.flowsets[fs as usize].live += 1;
        self.pipes[self.flowsets[fs as usize].pipe as usize]
            .counters
            .queues += 1;
        Some(q)
    }

    /// An empty queue of a masked flowset: parked (kept, with its scheduler state,
    /// for its flow's next packet) in an unmasked pipe, freed in a dynamic pipe
    /// instance (with the instance once it holds nothing). Any empty queue of a
    /// dynamic instance is freed too.
    fn maybe_free_queue(&mut self, i: u32, q: QueueId, now: u64) {
        let e = &self.qs.q[q as usize];
        if e.pkts != 0 || self.inst[i as usize].hashed_base != NIL {
            return;
        }
        let p = self.inst[i as usize].pipe as usize;
        let dynamic_inst = self.pipes[p].single == NIL;
        if !e.dynamic && !dynamic_inst {
            return;
        }
        if !dynamic_inst {
            self.park(q);
            return;
        }
        self.free_queue(i, q);
        self.maybe_free_instance(i, now);
    }

    /// Parks an empty dynamic queue: it no longer counts as alive (`live`, the
    /// `queues` gauge, `max_flows`), but stays indexed, so a flow that pauses and
    /// comes back (most do, within a round of the scheduler) finds it again
    /// instead of unlinking and re-inserting a queue each time. Parked queues are
    /// freed oldest first when a new flow needs the room, or after a second idle
    /// (`expire_parked`, from `poll`).
    /// Its `idle_since` (when its last packet went onto the link, RED's idle
    /// time too) dates it.
    fn park(&mut self, q: QueueId) {
        let e = &mut self.qs.q[q as usize];
        if e.parked() {
            return;
        }
        debug_assert!(e.in_use, "queue {q} parked after it was freed");
        e.idle_prev = self.idle_tail;
        e.idle_next = NIL;
        let (fs, i) = (e.flowset, e.instance);
        if self.idle_tail == NIL {
            self.idle_head = q;
        } else {
            self.qs.q[self.idle_tail as usize].idle_next = q;
        }
        self.idle_tail = q;
        self.alive(fs, i, false);
    }

    /// A parked queue's flow is back.
    fn unpark(&mut self, q: QueueId) {
        self.unlink_idle(q);
        let e = &self.qs.q[q as usize];
        let (fs, i) = (e.flowset, e.instance);
        self.alive(fs, i, true);
    }

    /// Takes a parked queue off the idle list (it is no longer parked).
    fn unlink_idle(&mut self, q: QueueId) {
        let (prev, next) = {
            let e = &mut self.qs.q[q as usize];
            let links = (e.idle_prev, e.idle_next);
            e.idle_prev = UNPARKED;
            e.idle_next = NIL;
            links
        };
        if prev == NIL {
            self.idle_head = next;
        } else {
            self.qs.q[prev as usize].idle_next = next;
        }
        if next == NIL {
            self.idle_tail = prev;
        } else {
            self.qs.q[next as usize].idle_prev = prev;
        }
    }

    /// Counts queue of flowset `fs` in instance `i` as alive (or no longer).
    fn alive(&mut self, fs: u32, i: u32, up: bool) {
        let f = &mut self.flowsets[fs as usize];
        let e = &mut self.inst[i as usize];
        let c = &mut self.pipes[f.pipe as usize].counters;
        if up {
            f.live += 1;
            e.queues += 1;
            c.queues += 1;
        } else {
            f.live -= 1;
            e.queues -= 1;
            c.queues -= 1;
        }
    }

    /// Frees an empty queue (parked or not) once the scheduler has forgotten it.
    fn free_queue(&mut self, i: u32, q: QueueId) {
        let e = &self.qs.q[q as usize];
        debug_assert!(
            e.in_use && e.pkts == 0,
            "queue {q} freed twice or while holding packets (instance {i}, flowset {})",
            e.flowset
        );
        self.inst[i as usize].sched.forget(&self.qs, q);
        let fs = e.flowset;
        let hash = self.queue_hash(fs, i, &e.key);
        self.q_index.remove(hash, q);
        if self.qs.q[q as usize].parked() {
            self.unlink_idle(q);
        } else {
            self.alive(fs, i, false);
        }
        // A scheduler may still hold stale references (WF2Q+'s idle heap): cleared
        // fields make them harmless.
        let e = &mut self.qs.q[q as usize];
        e.in_use = false;
        e.sched = Default::default();
        self.q_free.push(q);
    }

    /// Frees parked queues idle for more than a second, a few per poll. Once the
    /// oldest is found younger than that, nothing is looked at before it could
    /// expire (`expire_after`): its idle time is in its third line, a miss every
    /// poll with many flows (2-3 ns a packet at 100,000). A queue parked later
    /// with an older idle time (a drop on arrival parks without sending) may then
    /// wait up to a second longer.
    fn expire_parked(&mut self, now: u64) {
        if now < self.expire_after {
            return;
        }
        for _ in 0..8 {
            let q = self.idle_head;
            if q == NIL {
                return;
            }
            let since = self.qs.q[q as usize].idle_since;
            if now.saturating_sub(since) < self.hz {
                self.expire_after = since.saturating_add(self.hz);
                return;
            }
            self.free_queue(self.qs.q[q as usize].instance, q);
        }
    }

    /// Forgets an instance of a masked pipe once it holds nothing and its link is
    /// idle.
    fn maybe_free_instance(&mut self, i: u32, now: u64) {
        let e = &self.inst[i as usize];
        let p = e.pipe as usize;
        if self.pipes[p].single != NIL
            || !e.in_use
            || e.queued != 0
            || e.dl_pkts != 0
            || !e.link.idle(now)
        {
            return;
        }
        if e.queues != 0 {
            return;
        }
        let masked = e.key;
        let h = self.bucket(&self.inst_hash, p as u64, &masked);
        let mut cur = self.inst_hash[h];
        let mut prev = NIL;
        while cur != NIL && cur != i {
            prev = cur;
            cur = self.inst[cur as usize].hash_next;
        }
        let next = self.inst[i as usize].hash_next;
        if prev == NIL {
            self.inst_hash[h] = next;
        } else {
            self.inst[prev as usize].hash_next = next;
        }
        self.wheel.cancel(i);
        let e = &mut self.inst[i as usize];
        e.in_use = false;
        e.hash_next = NIL;
        e.link.reset(now);
        self.pipes[p].free.push(i);
        self.pipes[p].counters.instances -= 1;
    }

    /// Moves packets from the scheduler onto the link while the link is free by
    /// `now`; each lands in the delay line with its release time. Every arrival
    /// asks (`admit`), and into a backlogged pipe the link is mostly busy: that
    /// answer is inlined, the call (~30 instructions of saved registers) is
    /// made only when there is work.
    #[inline]
    fn serialize(&mut self, i: u32, now: u64) {
        let e = &self.inst[i as usize];
        if e.queued > 0 && e.link.free_by(now) {
            self.serialize_some(i, now);
        }
    }

    #[inline(never)]
    fn serialize_some(&mut self, i: u32, now: u64) {
        let iu = i as usize;
        while self.inst[iu].queued > 0 && self.inst[iu].link.free_by(now) {
            let start = self.inst[iu].link.start(now);
            let got = self.inst[iu].sched.dequeue(&mut self.qs, start);
            self.fold_drops(i);
            let Some(slot) = got else { break };
            let meta = self.qs.slots[slot as usize];
            debug_assert_eq!(
                self.qs.q[meta.queue as usize].instance, i,
                "slot {slot} of queue {} pipe {}",
                meta.queue, self.inst[iu].pipe
            );
            self.inst[iu].queued -= 1;
            self.sent = self.sent.wrapping_add(1);
            let release = self.inst[iu].link.send(meta.len, start);
            let m = &mut self.qs.slots[slot as usize];
            m.time = release;
            m.next = NIL;
            let e = &mut self.inst[iu];
            if e.dl_tail == NIL {
                e.dl_head = slot;
            } else {
                self.qs.slots[e.dl_tail as usize].next = slot;
            }
            e.dl_tail = slot;
            e.dl_pkts += 1;
            // Its handle was written when it arrived, long ago with many flows:
            // fetch it now, it is handed out when the delay line releases it.
            prefetch(&self.handles[slot as usize]);
            let q = meta.queue;
            if self.qs.q[q as usize].pkts == 0 {
                self.qs.q[q as usize].idle_since = start;
                self.maybe_free_queue(i, q, now);
            }
        }
    }

    /// Folds drops a scheduler made during its last call into the pipe counters
    /// (the handles are handed out by `poll`).
    fn fold_drops(&mut self, i: u32) {
        if self.qs.call_drop_pkts == 0 {
            return;
        }
        let n = self.qs.call_drop_pkts;
        let p = self.inst[i as usize].pipe as usize;
        let c = &mut self.pipes[p].counters;
        for k in 0..DropReason::COUNT {
            c.dropped_pkts[k] += u64::from(self.qs.call_drops[k]);
            c.dropped_bytes[k] += self.qs.call_drops_bytes[k];
            self.qs.call_drops[k] = 0;
            self.qs.call_drops_bytes[k] = 0;
        }
        c.backlog_pkts -= u64::from(n);
        c.backlog_bytes -= self.qs.call_drop_bytes;
        self.inst[i as usize].queued -= n;
        self.qs.call_drop_pkts = 0;
        self.qs.call_drop_bytes = 0;
    }

    /// Arms the instance's timer for its next event.
    fn arm(&mut self, i: u32, now: u64) {
        let e = &self.inst[i as usize];
        let mut next = u64::MAX;
        if e.dl_head != NIL {
            next = self.qs.slots[e.dl_head as usize].time;
        }
        if e.queued > 0 {
            next = next.min(e.link.start(now));
        }
        if next == u64::MAX {
            self.wheel.cancel(i);
        } else {
            self.wheel.schedule(i, next.max(self.wheel.elapsed()));
        }
    }

    /// Does everything due by `now`: packets whose time has come leave their pipe
    /// (`Fate::Sent`, in release order per instance) and packets a scheduler
    /// dropped are handed back (`Fate::Dropped`). `f` gets each handle with its
    /// pipe id.
    pub fn poll(&mut self, now: u64, mut f: impl FnMut(P, u32, Fate)) {
        self.hand_out_ready(&mut f);
        self.expire_parked(now);
        let mut fired = std::mem::take(&mut self.fired);
        fired.clear();
        self.wheel.advance(now, &mut fired);
        for &i in &fired {
            self.service(i, now, &mut f);
        }
        self.fired = fired;
        self.hand_out_drops(&mut f);
    }

    fn service(&mut self, i: u32, now: u64, f: &mut impl FnMut(P, u32, Fate)) {
        self.serialize(i, now);
        let iu = i as usize;
        let p = self.inst[iu].pipe as usize;
        let pipe_id = self.pipes[p].id;
        loop {
            let s = self.inst[iu].dl_head;
            if s == NIL || self.qs.slots[s as usize].time > now {
                break;
            }
            let meta = self.qs.slots[s as usize];
            let e = &mut self.inst[iu];
            e.dl_head = meta.next;
            if e.dl_head == NIL {
                e.dl_tail = NIL;
            }
            e.dl_pkts -= 1;
            let c = &mut self.pipes[p].counters;
            c.out_pkts += 1;
            c.out_bytes += u64::from(meta.len);
            c.backlog_pkts -= 1;
            c.backlog_bytes -= u64::from(meta.len);
            let fate = if meta.ecn & ECN_MARKED != 0 {
                c.marked_pkts += 1;
                Fate::Marked
            } else {
                Fate::Sent
            };
            let pkt = self.handles[s as usize].take().expect("a held slot");
            self.slot_free.push(s);
            f(pkt, pipe_id, fate);
            // Releasing may let the link take the next packet (unlimited pipes).
            self.serialize(i, now);
        }
        self.arm(i, now);
        self.maybe_free_instance(i, now);
    }

    fn hand_out_drops(&mut self, f: &mut impl FnMut(P, u32, Fate)) {
        while self.qs.dropped_head != NIL {
            let s = self.qs.dropped_head;
            let meta = self.qs.slots[s as usize];
            self.qs.dropped_head = meta.next;
            if self.qs.dropped_head == NIL {
                self.qs.dropped_tail = NIL;
            }
            let q = meta.queue as usize;
            let inst = self.qs.q[q].instance as usize;
            let pipe_id = self.pipes[self.inst[inst].pipe as usize].id;
            let pkt = self.handles[s as usize].take().expect("a held slot");
            self.slot_free.push(s);
            f(pkt, pipe_id, Fate::Dropped(meta.reason));
        }
    }

    /// Takes every packet out (the vnet is being destroyed or reconfigured); the set
    /// is empty and idle afterwards.
    pub fn drain(&mut self, mut f: impl FnMut(P)) {
        for (s, h) in self.handles.iter_mut().enumerate() {
            if let Some(pkt) = h.take() {
                self.slot_free.push(s as u32);
                f(pkt);
            }
        }
        for q in &mut self.qs.q {
            q.head = NIL;
            q.tail = NIL;
            q.head_len = 0;
            q.second = NIL;
            q.pkts = 0;
            q.bytes = 0;
            q.sched = Default::default();
        }
        self.qs.dropped_head = NIL;
        self.qs.dropped_tail = NIL;
        self.ready_head = NIL;
        self.ready_tail = NIL;
        for (i, e) in self.inst.iter_mut().enumerate() {
            e.queued = 0;
            e.dl_head = NIL;
            e.dl_tail = NIL;
            e.dl_pkts = 0;
            e.sched.reset();
            self.wheel.cancel(i as u32);
        }
        for p in &mut self.pipes {
            p.counters.backlog_pkts = 0;
            p.counters.backlog_bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PipeConfig, QueueConfig};
    use crate::units::Bandwidth;
    use std::net::Ipv4Addr;

    fn key(n: u32) -> FlowKey {
        FlowKey::v4(
            Ipv4Addr::from(0x0a00_0000 + n),
            Ipv4Addr::new(10, 9, 9, 9),
            17,
            1,
            2,
        )
    }

    /// Flow hashes spread over FQ-CoDel's `n` queues: every index in range, each
    /// queue within 5 standard deviations of its share.
    #[test]
    fn hashed_index_is_in_range_and_uniform() {
        for n in [1u32, 3, 1000, 1024] {
            let mut hits = vec![0u32; n as usize];
            let draws = 200 * n.max(50);
            for f in 0..draws {
                let i = hashed_index(key(f).hash_with(7), n);
                assert!(i < n, "{i} of {n}");
                hits[i as usize] += 1;
            }
            let mean = f64::from(draws) / f64::from(n);
            let sd = mean.sqrt();
            for (i, &h) in hits.iter().enumerate() {
                assert!(
                    (f64::from(h) - mean).abs() <= 5.0 * sd.max(1.0),
                    "n {n}: queue {i} got {h}, mean {mean}"
                );
            }
        }
    }

    fn parked<P>(set: &ShaperSet<P>) -> usize {
        let (mut n, mut q) = (0, set.idle_head);
        while q != NIL {
            assert!(set.qs.q[q as usize].parked() && set.qs.q[q as usize].pkts == 0);
            n += 1;
            q = set.qs.q[q as usize].idle_next;
        }
        n
    }

    /// Flows that send a packet and pause: their empty queues are parked (not
    /// alive, still indexed), a returning flow takes its queue back, new flows
    /// reclaim the oldest parked queues when the index is full (no flow refused),
    /// and parked queues idle for a second are freed a few per poll.
    #[test]
    fn empty_dynamic_queues_are_parked_reused_and_reclaimed() {
        let hz = 1_000_000_000;
        let mut p = PipeConfig::new(1);
        p.bw = Bandwidth::from_bits_per_sec(1_000_000_000);
        let mut q = QueueConfig::new(1, 1);
        q.mask = FlowMask::ALL;
        q.buckets = 8;
        q.max_flows = 1_000_000;
        let cfg = ShaperConfig {
            pipes: vec![p],
            queues: vec![q],
            pool_slots: 64,
            ..ShaperConfig::default()
        };
        let mut set: ShaperSet<u32> = ShaperSet::new(&cfg, hz, 0).unwrap();
        let room = set.q_index.capacity() as u32;
        // Each packet leaves (0.8 µs on the link) before the next flow arrives.
        let mut t = 0;
        let mut out = 0u64;
        for n in 0..3 * room {
            set.enqueue(Target::Queue(1), &key(n), 100, n, t).unwrap();
            t += 10_000;
            set.poll(t, |_, _, _| out += 1);
        }
        let c = set.counters(1).unwrap();
        assert_eq!(
            (c.queues, c.dropped_total(), out),
            (0, 0, u64::from(3 * room))
        );
        assert_eq!(
            parked(&set),
            room as usize,
            "the index full of parked queues"
        );
        assert!(
            set.qs.q.len() <= room as usize + 1,
            "queues reused, table bounded"
        );
        // The last flow comes back: the same queue, unparked, then parked again.
        let last = key(3 * room - 1);
        let q = set.queue_hash(set.queue_index[0].1, 0, &last);
        let before = set.q_index.find(q, |_| true);
        let table = set.qs.q.len();
        // Two packets: the first goes onto the link, the second waits in it.
        set.enqueue(Target::Queue(1), &last, 100, 0, t).unwrap();
        set.enqueue(Target::Queue(1), &last, 100, 1, t).unwrap();
        assert_eq!(parked(&set), room as usize - 1);
        assert_eq!(set.qs.q.len(), table);
        assert_eq!(set.counters(1).unwrap().queues, 1);
        assert_eq!(set.q_index.find(q, |_| true), before, "its own queue");
        set.poll(t + 10_000, |_, _, _| {});
        assert_eq!(parked(&set), room as usize);
        // A second later they go, a few per poll.
        let mut polls = 0;
        while parked(&set) > 0 {
            set.poll(t + 2 * hz + polls, |_, _, _| {});
            polls += 1;
            assert!(polls <= u64::from(room), "expiry stalled");
        }
        assert_eq!(set.q_index.find(q, |_| true), None, "freed, unindexed");
        assert_eq!(
            set.q_free.len(),
            set.qs.q.len(),
            "every queue back on the free list"
        );
    }
}
