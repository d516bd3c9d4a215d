//! The running dataplane: EAL, mempool, ports, workers and the control thread
//! that owns neighbor learning. Started and stopped by the vnetd binary.
use crate::dpdk::{self, tsc, tsc_hz, Eal, Mempool, Port, PortId, PortStats, QueueId};
use crate::neighbor_manager::NeighborManager;
use crate::stats::PortCounters;
use crate::tables::{
    assemble, AssembleSummary, BuildError, PortEntry, TablePublisher, Tables, VnetSpec,
};
use crate::worker::{self, Shared, WorkerPlan};
use crossbeam_queue::ArrayQueue;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct PortSpec {
    pub name: String,
    pub devargs: String,
}

pub struct DataplaneOptions {
    /// Full EAL argv (argv[0] first), including `--vdev`/`-a` for every port.
    pub eal_args: Vec<String>,
    pub ports: Vec<PortSpec>,
    pub workers: usize,
    pub mbufs: u32,
}

#[derive(Debug)]
pub enum StartError {
    Dpdk(dpdk::DpdkError),
    Build(BuildError),
    Other(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Dpdk(e) => write!(f, "{e}"),
            StartError::Build(e) => write!(f, "{e}"),
            StartError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StartError {}

impl From<dpdk::DpdkError> for StartError {
    fn from(e: dpdk::DpdkError) -> Self {
        StartError::Dpdk(e)
    }
}

/// Dynamic neighbor entries not confirmed for this long are forgotten.
const NEIGHBOR_MAX_AGE: Duration = Duration::from_secs(300);

/// How often the control thread looks for work while there is some (neighbor
/// events to drain, tables to publish or free)...
const CONTROL_BUSY: Duration = Duration::from_micros(500);
/// ...and at most, idle. Workers wake it for neighbor events (`Shared::control`),
/// so the back-off delays only the freeing of retired tables. Why back off at
/// all: with a worker on every CPU each wake preempts one, and 2,000 a second
/// were ~2% of a CPU on this 2-CPU machine.
pub(crate) const CONTROL_IDLE_MAX: Duration = Duration::from_millis(20);

pub struct Dataplane {
    // Field order is drop order: workers stop (in `stop`) before ports close,
    // ports close before the pool goes, the pool before EAL.
    shared: Arc<Shared>,
    control: Option<JoinHandle<()>>,
    control_stop: Arc<AtomicBool>,
    /// The neighbor tables' single writer, shared by the control thread and `apply`.
    neighbors: Arc<Mutex<NeighborManager>>,
    ports: Vec<(String, Port, Arc<PortCounters>)>,
    workers: usize,
    stopped: bool,
    _eal: Eal,
}

impl Dataplane {
    /// Initialises EAL, creates the mbuf pool and starts every port.
    /// Workers are not running yet: publish tables with `install`, then `launch`.
    pub fn start(opts: DataplaneOptions) -> Result<Dataplane, StartError> {
        let eal = Eal::init(&opts.eal_args)?;
        let lcores = dpdk::worker_lcores();
        if lcores.len() < opts.workers {
            return Err(StartError::Other(format!(
                "{} workers configured but EAL started {} worker lcores (check -l/--lcores in eal_args)",
                opts.workers,
                lcores.len()
            )));
        }
        let pool = Arc::new(Mempool::new("vnetd_mbufs", opts.mbufs, 256, -1)?);
        let mut ports = Vec::new();
        for p in &opts.ports {
            let port = Port::start(&p.devargs, opts.workers as u16, opts.workers as u16, &pool)
                .map_err(|e| {
                    StartError::Other(format!("port {:?} ({}): {e}", p.name, p.devargs))
                })?;
            if port.ipv4_checksum_offload() {
                eprintln!(
                    "vnetd: port {}: IPv4 header checksums verified by the NIC",
                    p.name
                );
            }
            ports.push((
                p.name.clone(),
                port,
                Arc::new(PortCounters::new(opts.workers)),
            ));
        }
        let mut initial = Tables::empty();
        let max_id = ports
            .iter()
            .map(|(_, p, _)| p.id().0 as usize + 1)
            .max()
            .unwrap_or(0);
        let mut entries: Vec<Option<PortEntry>> = (0..max_id).map(|_| None).collect();
        for (name, p, c) in &ports {
            entries[p.id().0 as usize] = Some(PortEntry {
                name: name.clone(),
                id: p.id(),
                mac: p.mac(),
                counters: c.clone(),
            });
        }
        initial.ports = Arc::new(entries);
        let shared = Arc::new(Shared {
            publisher: Arc::new(TablePublisher::new(initial)),
            events: Arc::new(ArrayQueue::new(4096)),
            pool,
            stop: Arc::new(AtomicBool::new(false)),
            shaper_rings: Arc::new(
                (0..opts.workers.max(1))
                    .map(|_| ArrayQueue::new(crate::worker::HANDOFF_RING))
                    .collect(),
            ),
            control: OnceLock::new(),
        });
        Ok(Dataplane {
            shared,
            control: None,
            control_stop: Arc::new(AtomicBool::new(false)),
            neighbors: Arc::new(Mutex::new(NeighborManager::empty())),
            ports,
            workers: opts.workers,
            stopped: false,
            _eal: eal,
        })
    }

    /// MAC of a started port, by its config name.
    pub fn port_mac(&self, name: &str) -> Option<[u8; 6]> {
        self.ports
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, p, _)| p.mac())
    }

    pub fn port_id(&self, name: &str) -> Option<PortId> {
        self.ports
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, p, _)| p.id())
    }

    /// Publishes exactly these vnets as one new version (see `tables::assemble`):
    /// all are built first, and on any error nothing changes. Unchanged vnets
    /// keep their tables untouched; changed ones keep counters and neighbors.
    pub fn apply(&self, specs: &[VnetSpec]) -> Result<AssembleSummary, StartError> {
        let mut neighbors = self.neighbors.lock().unwrap_or_else(|e| e.into_inner());
        let mut result = Ok(AssembleSummary::default());
        self.shared.publisher.try_update(|cur| {
            match assemble(specs, cur, self.workers, &mut neighbors) {
                Ok((next, summary)) => {
                    result = Ok(summary);
                    Some(next)
                }
                Err(e) => {
                    result = Err(StartError::Build(e));
                    None
                }
            }
        });
        result
    }

    /// Starts the workers and the control thread.
    pub fn launch(&mut self) -> Result<(), StartError> {
        let lcores = dpdk::worker_lcores();
        // Every (port, RX queue) pair is polled by exactly one worker, dealt round-robin.
        let rx_pairs: Vec<(PortId, QueueId)> = self
            .ports
            .iter()
            .flat_map(|(_, p, _)| (0..p.rx_queues()).map(move |q| (p.id(), QueueId(q))))
            .collect();
        for (w, &lcore) in lcores.iter().enumerate().take(self.workers) {
            let plan = WorkerPlan {
                index: w,
                rx: rx_pairs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % self.workers == w)
                    .map(|(_, p)| *p)
                    .collect(),
                tx: self
                    .ports
                    .iter()
                    .map(|(_, p, _)| (p.id(), QueueId(w as u16)))
                    .collect(),
            };
            let shared = self.shared.clone();
            dpdk::launch_worker(lcore, move || worker::run(plan, shared))?;
        }
        let shared = self.shared.clone();
        let stop = self.control_stop.clone();
        let neighbors = self.neighbors.clone();
        let handle = std::thread::Builder::new()
            .name("vnetd-neigh".into())
            .spawn(move || control_loop(shared, neighbors, stop))
            .map_err(|e| StartError::Other(format!("spawning the neighbor thread: {e}")))?;
        // Started once per dataplane: the cell is empty.
        let _ = self.shared.control.set(handle.thread().clone());
        self.control = Some(handle);
        Ok(())
    }

    pub fn tables(&self) -> Arc<Tables> {
        self.shared.publisher.load()
    }

    /// (config name, DPDK stats, software counters) per port.
    pub fn port_stats(&self) -> Vec<(String, PortStats, Arc<PortCounters>)> {
        self.ports
            .iter()
            .map(|(n, p, c)| (n.clone(), p.stats().unwrap_or_default(), c.clone()))
            .collect()
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    pub fn mbufs_in_use(&self) -> u32 {
        self.shared.pool.in_use()
    }

    /// Stops workers and the control thread; every held frame is freed.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.shared.stop.store(true, Ordering::SeqCst);
        dpdk::wait_all_workers();
        self.control_stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.control.take() {
            h.thread().unpark();
            let _ = h.join();
        }
        // Let the tables go (and with them nothing that holds mbufs).
        self.shared.publisher.update(|_| Tables::empty());
        self.shared.publisher.free_retired();
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop();
        self.ports.clear();
    }
}

/// The control thread: neighbor learning and aging, freeing retired tables.
fn control_loop(
    shared: Arc<Shared>,
    neighbors: Arc<Mutex<NeighborManager>>,
    stop: Arc<AtomicBool>,
) {
    let hz = tsc_hz();
    let mut next_expiry = 0;
    let mut idle = CONTROL_BUSY;
    while !stop.load(Ordering::Relaxed) {
        let busy = !shared.events.is_empty();
        {
            let mut mgr = neighbors.lock().unwrap_or_else(|e| e.into_inner());
            mgr.drain(&shared.events);
            let now = tsc();
            if now >= next_expiry {
                mgr.expire(now.saturating_sub(NEIGHBOR_MAX_AGE.as_secs() * hz));
                next_expiry = now + hz;
            }
            mgr.publish(&shared.publisher);
        }
        shared.publisher.free_retired();
        idle = if busy {
            CONTROL_BUSY
        } else {
            (idle * 2).min(CONTROL_IDLE_MAX)
        };
        // Woken early by a worker's neighbor event or by `stop`.
        std::thread::park_timeout(idle);
    }
}
