//! Shaper benchmark: enqueue + dequeue cost per packet through one shaped pipe,
//! for each of vnetd's schedulers, at 1 flow and at 100,000 backlogged flows
//! (dynamic queues from `mask all`), against vnetd's own FIFO and DPDK's
//! `rte_sched` (one pipe per flow) on the same packet stream, in the same run.
//! Prints a markdown report (medians) and writes perf/results/shaper.md. Run:
//! `cargo run --release -p perf --bin shaper_bench` (as root for hugepages).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Instant;

use perf::shaper::rte_sched::{MbufPool, Sched};
use shaper::{
    Bandwidth, FlowKey, FlowMask, FqCodelConfig, Hint, PipeConfig, QueueConfig, QueueLimit,
    SchedulerConfig, ShaperConfig, ShaperSet, Target,
};

const BURST: usize = 32;
const RUNS: usize = 5;
/// Packet sizes of the stream (bytes), cycled.
const LENS: [u16; 8] = [64, 1500, 64, 576, 64, 1500, 1024, 64];
/// Packets per timed run (`SHAPER_BENCH_OPS` overrides it, for a run under
/// callgrind).
const OPS: usize = 2_000_000;

fn ops() -> usize {
    std::env::var("SHAPER_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OPS)
}

/// `SHAPER_BENCH_ALONE=1`: only the cases `SHAPER_BENCH_ONLY` names, without
/// vnetd's FIFO and rte_sched (and without DPDK): to count one scheduler's
/// instructions and cache misses under callgrind (`--toggle-collect` on
/// `Ours::run`), where the baselines would be counted with it.
fn alone() -> bool {
    std::env::var_os("SHAPER_BENCH_ALONE").is_some()
}
/// Backlog kept per flow while measuring.
const PER_FLOW: usize = 2;
/// The pipe's rate; vnetd's shaper runs on a virtual clock advanced by exactly
/// the serialization time of what was enqueued, so the link math runs for every
/// packet and the backlog stays constant.
const BW: u64 = 100_000_000_000;

fn keys(flows: usize) -> Vec<FlowKey> {
    (0..flows)
        .map(|f| {
            FlowKey::v4(
                Ipv4Addr::from(0x0a00_0000 + f as u32),
                Ipv4Addr::new(192, 0, 2, 1),
                17,
                (f % 65_536) as u16,
                4789,
            )
        })
        .collect()
}

/// A run's clock: CPU time of this thread when the system has it, so the time
/// this process waits for a core on a shared machine (load averages of 6-8 on 2
/// CPUs here) is not counted as shaper work; wall time otherwise.
struct Timer {
    wall: Instant,
    cpu: Option<u64>,
}

impl Timer {
    fn start() -> Self {
        Timer {
            wall: Instant::now(),
            cpu: perf::lpm::thread_cpu_ns(),
        }
    }

    fn ns(&self) -> f64 {
        match (self.cpu, perf::lpm::thread_cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64,
            _ => self.wall.elapsed().as_nanos() as f64,
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One benchmark case, built and warmed up once, then timed run after run (the
/// rounds interleave the cases, so a load change on this shared machine hits them
/// all alike).
trait Case {
    fn name(&self) -> &str;
    /// ns per enqueue+dequeue pair over one run of `OPS` packets.
    fn run(&mut self) -> std::result::Result<f64, String>;
    fn drops(&self) -> u64;
}

/// vnetd's shaper: one pipe, its full path on a virtual clock.
struct Ours {
    name: String,
    set: ShaperSet<u32>,
    keys: Vec<FlowKey>,
    flows: usize,
    target: Target,
    hints: [Hint; BURST],
    free: Vec<u32>,
    now: u64,
    carry: u128,
    n: usize,
    next_flow: usize,
    drops: u64,
}

const HZ: u64 = 1_000_000_000;

impl Ours {
    fn new(name: &str, sched: SchedulerConfig, flows: usize, bw: u64) -> Self {
        let mut pipe = PipeConfig::new(1);
        pipe.bw = Bandwidth::from_bits_per_sec(bw);
        pipe.scheduler = sched;
        pipe.queue = QueueLimit::Slots(64);
        let backlog = flows * PER_FLOW;
        let mut cfg = ShaperConfig {
            pipes: vec![pipe],
            pool_slots: (backlog + 8 * BURST) as u32,
            ..ShaperConfig::default()
        };
        let hashed = matches!(sched, SchedulerConfig::FqCodel(_));
        let target = if flows == 1 || hashed {
            Target::Pipe(1)
        } else {
            let mut q = QueueConfig::new(1, 1);
            q.mask = FlowMask::ALL;
            q.max_flows = flows as u32 + 16;
            q.buckets = flows as u32;
            q.queue = QueueLimit::Slots(64);
            cfg.queues.push(q);
            Target::Queue(1)
        };
        let set: ShaperSet<u32> = ShaperSet::new(&cfg, HZ, 0).unwrap();
        let keys = keys(flows);
        let hints = [set.hint(target, &keys[0]); BURST];
        let mut c = Ours {
            name: name.to_string(),
            set,
            keys,
            flows,
            target,
            hints,
            free: (0..cfg.pool_slots).collect(),
            now: 0,
            carry: 0,
            n: 0,
            next_flow: 0,
            drops: 0,
        };
        // Prefill: every flow backlogged.
        for _ in 0..backlog {
            let h = c.free.pop().unwrap();
            let len = u32::from(LENS[c.n % LENS.len()]);
            if let Err((h, _)) = c.set.enqueue(target, &c.keys[c.next_flow], len, h, 0) {
                c.free.push(h);
            }
            c.n += 1;
            c.next_flow = (c.next_flow + 1) % flows;
        }
        c
    }
}

impl Case for Ours {
    fn name(&self) -> &str {
        &self.name
    }

    fn drops(&self) -> u64 {
        self.drops
    }

    fn run(&mut self) -> std::result::Result<f64, String> {
        let ops = ops();
        let t = Timer::start();
        let mut done = 0usize;
        while done < ops {
            let mut bytes = 0u64;
            // As the dataplane does: resolve every packet's flow first, in passes
            // whose cache misses overlap (index, queue, last packet), then enqueue.
            let mut f = self.next_flow;
            for h in self.hints.iter_mut() {
                *h = self.set.hint(self.target, &self.keys[f]);
                f += 1;
                if f == self.flows {
                    f = 0;
                }
            }
            for h in &self.hints {
                self.set.prefetch(h);
            }
            for h in &self.hints {
                self.set.prefetch_tail(h);
            }
            for h in &self.hints {
                let Some(pkt) = self.free.pop() else { break };
                let len = u32::from(LENS[self.n % LENS.len()]);
                bytes += u64::from(len);
                let key = &self.keys[self.next_flow];
                if let Err((pkt, _)) = self.set.enqueue_hinted(h, key, len, pkt, self.now) {
                    self.free.push(pkt);
                    self.drops += 1;
                }
                self.n += 1;
                self.next_flow += 1;
                if self.next_flow == self.flows {
                    self.next_flow = 0;
                }
            }
            // Virtual time for the burst at BW, the remainder kept so it never drifts.
            self.carry += u128::from(bytes) * 8 * u128::from(HZ);
            self.now += (self.carry / u128::from(BW)) as u64;
            self.carry %= u128::from(BW);
            let free = &mut self.free;
            self.set.poll(self.now, |h, _, _| free.push(h));
            done += BURST;
        }
        Ok(t.ns() / done as f64)
    }
}

/// DPDK's rte_sched on the same stream: one subport, one pipe per flow.
struct Theirs<'p> {
    pool: &'p MbufPool,
    s: Sched,
    flows: usize,
    free: Vec<*mut dpdk_sys::rte_mbuf>,
    burst: Vec<*mut dpdk_sys::rte_mbuf>,
    next_flow: u32,
    drops: u64,
}

impl<'p> Theirs<'p> {
    fn new(pool: &'p MbufPool, flows: usize) -> std::result::Result<Self, String> {
        let qsize = if flows == 1 { 64 } else { 16 };
        // Rates far above what one core can push: this measures its per-packet
        // cost, not its shaping (vnetd's runs its link math on a virtual clock).
        let s = Sched::new(flows as u32, 50_000_000_000, qsize)?;
        let backlog = flows * PER_FLOW;
        let mut c = Theirs {
            pool,
            s,
            flows,
            free: pool.take(backlog + 8 * BURST, &LENS)?,
            burst: Vec::with_capacity(BURST),
            next_flow: 0,
            drops: 0,
        };
        for chunk in c.free.split_off(8 * BURST).chunks(BURST) {
            c.burst.clear();
            for &m in chunk {
                // SAFETY: m came from the pool and is ours until enqueued.
                unsafe { c.s.classify(m, c.next_flow) };
                c.next_flow = (c.next_flow + 1) % flows as u32;
                c.burst.push(m);
            }
            let took = c.s.enqueue(&mut c.burst);
            c.drops += (c.burst.len() - took) as u64;
        }
        Ok(c)
    }
}

impl Case for Theirs<'_> {
    fn name(&self) -> &str {
        "DPDK rte_sched"
    }

    fn drops(&self) -> u64 {
        self.drops
    }

    fn run(&mut self) -> std::result::Result<f64, String> {
        let mut out = [std::ptr::null_mut(); BURST];
        let ops = ops();
        let t = Timer::start();
        let mut done = 0usize;
        while done < ops {
            self.burst.clear();
            while self.burst.len() < BURST {
                let Some(m) = self.free.pop() else { break };
                // SAFETY: m came back from rte_sched or the pool: ours until enqueued.
                unsafe { self.s.classify(m, self.next_flow) };
                self.next_flow += 1;
                if self.next_flow == self.flows as u32 {
                    self.next_flow = 0;
                }
                self.burst.push(m);
            }
            let took = self.s.enqueue(&mut self.burst);
            if took < self.burst.len() {
                // rte_sched freed what it dropped: take replacements.
                self.drops += (self.burst.len() - took) as u64;
                self.free
                    .extend(self.pool.take(self.burst.len() - took, &LENS)?);
            }
            let got = self.s.dequeue(&mut out);
            self.free.extend_from_slice(&out[..got]);
            done += BURST;
        }
        Ok(t.ns() / done as f64)
    }
}

/// Real clock: a pipe at `rate` offered 2x its rate of 1500-byte packets for
/// `secs` seconds of wall time, polled in a tight loop as a worker would; returns
/// the delivered rate (bit/s).
fn real_clock_rate(rate: u64, secs: u64) -> f64 {
    let mut pipe = PipeConfig::new(1);
    pipe.bw = Bandwidth::from_bits_per_sec(rate);
    pipe.scheduler = SchedulerConfig::Fifo;
    let cfg = ShaperConfig {
        pipes: vec![pipe],
        pool_slots: 4096,
        ..ShaperConfig::default()
    };
    let hz = 1_000_000_000u64;
    let t0 = Instant::now();
    let mut set: ShaperSet<u32> = ShaperSet::new(&cfg, hz, 0).unwrap();
    let key = keys(1)[0];
    let len = 1500u32;
    // Arrival k at k * len * 8 * hz / (2 * rate) ns.
    let gap = |k: u64| {
        (u128::from(k) * u128::from(len) * 8 * u128::from(hz) / (2 * u128::from(rate))) as u64
    };
    let end = secs * hz;
    let (mut k, mut bytes) = (0u64, 0u64);
    loop {
        let now = t0.elapsed().as_nanos() as u64;
        if now >= end {
            break;
        }
        while gap(k) <= now {
            let _ = set.enqueue(Target::Pipe(1), &key, len, 0, gap(k));
            k += 1;
        }
        set.poll(now, |_, _, _| bytes += u64::from(len));
    }
    bytes as f64 * 8.0 / secs as f64
}

fn main() {
    perf::shaper::thp::reexec_with_huge_heap();
    let (eal, pool) = if alone() {
        ("DPDK not started (SHAPER_BENCH_ALONE)".to_string(), None)
    } else {
        let eal = perf::lpm::dpdk::init_eal(true).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
        eprintln!("{eal}");
        let pool = MbufPool::new(220_000).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
        (eal, Some(pool))
    };
    let scheds: [(&str, SchedulerConfig); 6] = [
        ("vnetd FIFO", SchedulerConfig::Fifo),
        ("vnetd WF2Q+", SchedulerConfig::Wf2q),
        ("vnetd DRR", SchedulerConfig::Drr { quantum: 1514 }),
        ("vnetd PRIO", SchedulerConfig::Prio),
        ("vnetd QFQ", SchedulerConfig::Qfq { lmax: 1514 }),
        (
            "vnetd FQ-CoDel (1024 hashed queues)",
            SchedulerConfig::FqCodel(FqCodelConfig {
                limit: 1 << 20,
                ..FqCodelConfig::default()
            }),
        ),
    ];
    let mut report = String::new();
    writeln!(report, "# Shaper benchmark\n").unwrap();
    writeln!(
        report,
        "`cargo run --release -p perf --bin shaper_bench`: nanoseconds per packet for one \
         enqueue plus one dequeue through a pipe at 100 Gbit/s, bursts of {BURST}, packet \
         sizes cycling {LENS:?}, every flow kept backlogged ({PER_FLOW} packets each), median \
         of {RUNS} runs of {} packets after a warm-up, timed in CPU time of the \
         measuring thread (time spent waiting for a core on this shared machine is \
         not counted); the runs are interleaved (each \
         round runs every case once), so a change of load on this shared machine hits all \
         cases alike. vnetd's shaper runs its full path (flow/queue lookup, limits, \
         scheduler, exact link arithmetic, delay line, timer wheel) on a virtual clock \
         advanced by the serialization time of each burst, a burst's flows resolved in \
         prefetch passes first as the dataplane does (`ShaperSet::hint`); DPDK's rte_sched \
         (one subport, one pipe per flow, traffic class 0) runs at a rate no core reaches, \
         so both measure per-packet cost, not waiting. vnetd's heap is on transparent \
         huge pages as the daemon runs it (`glibc.malloc.hugetlb=1`; \
         `SHAPER_BENCH_NO_THP=1` keeps 4 KiB pages), rte_sched's memory on DPDK's \
         hugepages. Ratios are from the same run. {eal}.\n",
        ops()
    )
    .unwrap();
    // For profiling one case: SHAPER_BENCH_ONLY="DRR 100000" (a scheduler name
    // and/or a flow count); the report then holds only that.
    let only = std::env::var("SHAPER_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str, flows: usize| {
        only.split_whitespace()
            .all(|w| name.contains(w) || w == flows.to_string())
    };
    let mut huge_kb = 0u64;
    for flows in [1usize, 100_000] {
        if !only.is_empty() && !only.split_whitespace().any(|w| w == flows.to_string()) {
            continue;
        }
        let mut cases: Vec<Box<dyn Case>> = Vec::new();
        for (name, sched) in scheds
            .iter()
            .filter(|(name, _)| (name.contains("FIFO") && !alone()) || wanted(name, flows))
        {
            eprintln!("building {name}, {flows} flows…");
            cases.push(Box::new(Ours::new(name, *sched, flows, BW)));
        }
        // What a pipe without `bw` or `delay` costs on the forwarding path
        // (perf/fwd scenario 5): the default scheduler, nothing ever waits.
        let unlimited = "vnetd pipe at unlimited bandwidth (WF2Q+, no delay)";
        if flows == 1 && wanted(unlimited, flows) {
            cases.push(Box::new(Ours::new(
                unlimited,
                SchedulerConfig::Wf2q,
                flows,
                0,
            )));
        }
        let ours = cases.len();
        let huge = perf::shaper::thp::anon_huge_kb();
        eprintln!("heap on huge pages: {huge:?} kB");
        huge_kb = huge_kb.max(huge.unwrap_or(0));
        match pool.as_ref().map(|pool| Theirs::new(pool, flows)) {
            Some(Ok(t)) => cases.push(Box::new(t)),
            Some(Err(e)) => eprintln!("rte_sched: {e}"),
            None => {}
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(RUNS); cases.len()];
        let mut failed = vec![false; cases.len()];
        for round in 0..=RUNS {
            eprintln!("{flows} flows: round {round} of {RUNS} (0 = warm-up)…");
            for (k, c) in cases.iter_mut().enumerate() {
                match c.run() {
                    Ok(ns) if round > 0 => times[k].push(ns),
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("{}: {e}", c.name());
                        failed[k] = true;
                    }
                }
            }
        }
        let ns: Vec<Option<f64>> = times
            .into_iter()
            .zip(&failed)
            .map(|(t, &f)| (!f && !t.is_empty()).then(|| median(t)))
            .collect();
        // vnetd's FIFO, or with SHAPER_BENCH_ALONE the first case.
        let fifo = ns[0].expect("vnetd FIFO ran");
        let base = ns.get(ours).copied().flatten();
        writeln!(
            report,
            "\n## {flows} flow{}\n",
            if flows == 1 { "" } else { "s (dynamic queues)" }
        )
        .unwrap();
        writeln!(
            report,
            "| scheduler | ns / packet | vs vnetd FIFO | vs rte_sched | drops |"
        )
        .unwrap();
        writeln!(report, "|---|---:|---:|---:|---:|").unwrap();
        for (c, ns) in cases.iter().zip(&ns) {
            let Some(ns) = ns else { continue };
            let vs_base = base.map_or("n/a".to_string(), |b| format!("{:.2}x", ns / b));
            writeln!(
                report,
                "| {} | {:.1} | {:.2}x | {} | {} |",
                c.name(),
                ns,
                ns / fifo,
                vs_base,
                c.drops()
            )
            .unwrap();
        }
    }
    writeln!(
        report,
        "\nHeap on huge pages (AnonHugePages, largest seen): {} MiB.",
        huge_kb / 1024
    )
    .unwrap();
    writeln!(
        report,
        "\n## Rate on the real clock\n\nA FIFO pipe offered twice its rate of \
         1500-byte packets for 10 s of wall time, polled in a tight loop on this \
         (shared) core: delivered rate.\n\n| pipe | delivered | error |\n|---|---:|---:|"
    )
    .unwrap();
    for rate in [10_000_000u64, 1_000_000_000]
        .into_iter()
        .filter(|_| only.is_empty())
    {
        eprintln!("real clock, {rate} bit/s, 10 s…");
        let got = real_clock_rate(rate, 10);
        writeln!(
            report,
            "| {} Mbit/s | {:.3} Mbit/s | {:+.3}% |",
            rate / 1_000_000,
            got / 1e6,
            (got - rate as f64) / rate as f64 * 100.0
        )
        .unwrap();
    }
    print!("{report}");
    if !only.is_empty() {
        eprintln!("SHAPER_BENCH_ONLY set: perf/results/shaper.md left as it was");
        return;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/results/shaper.md");
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/results")).unwrap();
    std::fs::write(path, &report).unwrap();
    eprintln!("wrote {path}");
}
