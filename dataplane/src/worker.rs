//! A poll-mode worker: owns its RX queues, one TX queue on every port, a
//! pending queue and its counter slots; runs the packet path to completion.
use crate::dpdk::{tsc, tsc_hz, Mbuf, Mempool, PortId, QueueId, RxBurst, TxBuffer};
use crate::pipeline::{self, Output, PathCtx, Pending};
use crate::shaping::{stage, ShapeRequest, ShaperHost};
use crate::stats::stage_cycles::{self, Stage, StageClock};
use crate::stats::{bump, DropReason};
use crate::tables::{NeighborEvent, TablePublisher, TableReader, Tables};
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;

/// What a worker polls and where it transmits.
#[derive(Debug, Clone)]
pub struct WorkerPlan {
    pub index: usize,
    pub rx: Vec<(PortId, QueueId)>,
    /// Every port, each with this worker's own TX queue.
    pub tx: Vec<(PortId, QueueId)>,
}

/// What all workers and the control plane share (none of it locks on the packet path).
pub struct Shared {
    pub publisher: Arc<TablePublisher>,
    pub events: Arc<ArrayQueue<NeighborEvent>>,
    pub pool: Arc<Mempool>,
    pub stop: Arc<AtomicBool>,
    /// One ring per worker: packets for the vnets whose shaper it owns, handed over
    /// by the other workers (see `shaping`).
    pub shaper_rings: Arc<Vec<ArrayQueue<Handoff>>>,
    /// The control thread (set once it runs), woken when a worker queues a
    /// neighbor event: idle, it sleeps up to `runtime::CONTROL_IDLE_MAX`.
    pub control: OnceLock<Thread>,
}

/// A packet on its way to the worker that owns its vnet's shaper.
pub struct Handoff(pub ShapeRequest<Mbuf>);

// SAFETY: an mbuf is plain DPDK memory any lcore may use or free; `Mbuf` is !Send
// so that frames stay on their worker by default. Here ownership moves explicitly
// through a lock-free ring: the sender gives the frame up and never touches it
// again, the owner worker takes it over.
unsafe impl Send for Handoff {}

/// Frames one worker may have in flight towards another's shaper.
pub const HANDOFF_RING: usize = 4096;

struct WorkerOutput<'a> {
    tx: &'a mut [Option<TxBuffer>],
    pool: &'a Mempool,
    events: &'a ArrayQueue<NeighborEvent>,
    control: &'a OnceLock<Thread>,
    tables: &'a Tables,
    worker: usize,
    staged: &'a mut Vec<ShapeRequest<Mbuf>>,
}

impl Output<Mbuf> for WorkerOutput<'_> {
    /// Every forwarded frame's last step: inlined (as a call it was ~3% of
    /// scenario 1's worker).
    #[inline(always)]
    fn tx(&mut self, port: PortId, frame: Mbuf) {
        if let Some(Some(buf)) = self.tx.get_mut(port.0 as usize) {
            let refused = buf.push(frame);
            if refused > 0 {
                count_refused(self.tables, self.worker, port, refused);
            }
        }
    }
    #[inline]
    fn alloc(&mut self) -> Option<Mbuf> {
        Mbuf::alloc(self.pool)
    }
    #[inline]
    fn shape(&mut self, req: ShapeRequest<Mbuf>) {
        // Sized for a whole burst; cannot overflow while one frame stages at most
        // one request, but a full stage drops rather than allocates.
        if self.staged.len() < self.staged.capacity() {
            self.staged.push(req);
        } else if let Some((_, v)) = self.tables.vnet_by_id(req.vnet_id) {
            v.fwd
                .counters
                .worker(self.worker)
                .drop(DropReason::PipeHandoffFull);
        }
    }
    #[inline]
    fn learned(&mut self, ev: NeighborEvent) {
        // Full queue: the control thread is behind; the neighbor will be learned on its next packet.
        let _ = self.events.push(ev);
        // Frames may be waiting for this MAC. No system call unless the thread
        // is asleep, and events are few (ARP and ND packets, not forwarded ones).
        if let Some(t) = self.control.get() {
            t.unpark();
        }
    }
}

#[cold]
fn count_refused(t: &Tables, worker: usize, port: PortId, n: u32) {
    if let Some(p) = t.port(port) {
        bump(&p.counters.worker(worker).tx_refused, n as u64);
    }
}

/// The worker's loop; returns when `shared.stop` is set, after freeing every frame it held.
pub fn run(plan: WorkerPlan, shared: Arc<Shared>) -> i32 {
    let mut reader = TableReader::new(&shared.publisher);
    let max_port = plan.tx.iter().map(|(p, _)| p.0 as usize).max().unwrap_or(0);
    let mut tx: Vec<Option<TxBuffer>> = (0..=max_port).map(|_| None).collect();
    for &(p, q) in &plan.tx {
        tx[p.0 as usize] = Some(TxBuffer::new(p, q));
    }
    let mut pending: Pending<Mbuf> = Pending::new(Pending::<Mbuf>::DEFAULT_SLOTS);
    let mut rx = RxBurst::default();
    let hz = tsc_hz();
    let service_every = hz / 100; // 10 ms
    let mut next_service = 0u64;
    let workers = shared.shaper_rings.len().max(1);
    let mut shaper: ShaperHost<Mbuf> = ShaperHost::new(plan.index, workers, hz);
    let mut staged: Vec<ShapeRequest<Mbuf>> = Vec::with_capacity(stage::STAGED);
    let my_ring = shared.shaper_rings.get(plan.index);
    let mut next_sweep = 0u64;
    let mut clock = StageClock::start();
    // The tables the worker starts with may already have shaped vnets.
    stage::sync(&mut shaper, reader.tables(), plan.index, tsc());

    while !shared.stop.load(Ordering::Relaxed) {
        // Quiescent point: no reference into the tables survives past here.
        let changed = reader.refresh(&shared.publisher);
        let now = tsc();
        let tables = reader.tables();
        if changed {
            stage::sync(&mut shaper, tables, plan.index, now);
        }
        let ctx = PathCtx {
            tables,
            worker: plan.index,
            now,
            hz,
            now_ms: crate::firewall::now_ms(now, hz),
        };
        let mut out = WorkerOutput {
            tx: &mut tx,
            pool: &shared.pool,
            events: &shared.events,
            control: &shared.control,
            tables,
            worker: plan.index,
            staged: &mut staged,
        };
        if changed || now >= next_service {
            pipeline::service_pending(&ctx, &mut pending, &mut out);
            shaper.publish_stats(tables);
            next_service = now + service_every;
        }
        // Packets other workers handed over for the shapers this one owns.
        if let Some(ring) = my_ring {
            for _ in 0..HANDOFF_RING {
                let Some(Handoff(req)) = ring.pop() else {
                    break;
                };
                stage::accept(&mut shaper, tables, plan.index, req, tsc());
            }
        }
        // Once a second, worker 0 retires expired firewall states (ipfw's
        // dyn_tick); the tables are shared, one sweeper is enough.
        if plan.index == 0 && now >= next_sweep {
            sweep_states(tables, now, hz);
            next_sweep = now + hz;
        }
        clock.lap(Stage::Loop);
        for &(port, queue) in &plan.rx {
            let n = rx.poll(port, queue);
            clock.lap(Stage::Rx);
            if n == 0 {
                continue;
            }
            stage_cycles::count_packets(n);
            let frames = rx.frames();
            for slot in frames.iter_mut() {
                if let Some(m) = slot.take_if(|m| m.is_chained()) {
                    drop_chained(tables, plan.index, port, &m);
                }
            }
            pipeline::handle_burst(&ctx, &mut pending, &mut out, port, frames);
            // The burst charged its own stages.
            clock = StageClock::start();
            dispatch(&mut shaper, out.staged, tables, plan.index, &shared);
        }
        // Pipes whose time has come: what leaves them continues down the path
        // (and may meet another pipe rule on the way out: in it goes, now).
        let shaper_now = tsc();
        let sctx = PathCtx {
            tables,
            worker: plan.index,
            now: shaper_now,
            hz,
            now_ms: crate::firewall::now_ms(shaper_now, hz),
        };
        stage::service(&mut shaper, &sctx, &mut pending, &mut out);
        dispatch(&mut shaper, out.staged, tables, plan.index, &shared);
        for buf in tx.iter_mut().flatten() {
            let refused = buf.flush();
            if refused > 0 {
                count_refused(tables, plan.index, buf.port(), refused);
            }
        }
        clock.lap(Stage::Tx);
    }
    if let Some(r) = stage_cycles::report() {
        eprintln!("vnetd: worker {}: {r}", plan.index);
    }
    pending.clear();
    // Frames held in pipes, or handed to this worker, are freed here.
    drop(shaper);
    if let Some(ring) = my_ring {
        while ring.pop().is_some() {}
    }
    0
}

#[cold]
fn sweep_states(t: &Tables, now: u64, hz: u64) {
    let now_ms = crate::firewall::now_ms(now, hz);
    for v in &t.vnets {
        // Empty tables (most: stateless rule sets) cost nothing to skip.
        if let Some(fw) = v.fwd.firewall.as_ref().filter(|f| !f.states.is_empty()) {
            fw.states.expire(now_ms);
        }
    }
}

/// Staged packets into this worker's pipes, or onto their owner's ring.
#[inline]
fn dispatch(
    shaper: &mut ShaperHost<Mbuf>,
    staged: &mut Vec<ShapeRequest<Mbuf>>,
    tables: &Tables,
    worker: usize,
    shared: &Shared,
) {
    if staged.is_empty() {
        return;
    }
    // A fresh TSC, not the loop's: the worker may have been preempted between
    // reading it and polling RX, and a pipe must never count time during which
    // it had not seen the packet yet (a 40 ms pipe would release it early).
    let now = tsc();
    let workers = shared.shaper_rings.len().max(1);
    stage::dispatch(shaper, staged, tables, worker, workers, now, |o, req| {
        shared.shaper_rings[o]
            .push(Handoff(req))
            .err()
            .map(|Handoff(r)| r)
    });
}

#[cold]
fn drop_chained(t: &Tables, worker: usize, port: PortId, m: &Mbuf) {
    use crate::frame::Frame;
    if let Ok(l2) = crate::wire::parse_l2(m.data()) {
        let e = t
            .demux
            .lookup(port, l2.vlan.or(m.stripped_vlan()).filter(|v| *v != 0));
        if !e.is_none() {
            t.vnets[e.vnet()]
                .fwd
                .counters
                .worker(worker)
                .drop(DropReason::MultiSegment);
        }
    }
}
