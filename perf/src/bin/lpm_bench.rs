//! LPM benchmark: vnetd's `lpm` against DPDK's rte_lpm / rte_fib (IPv4) and
//! rte_fib6 / rte_lpm6 (IPv6), and against the Rust crates people would otherwise
//! pick, on the same tables and the same keys, one core. Structures take turns
//! within each run (a busy shared machine slows them alike); the report holds
//! medians over runs and vnetd's ratio to each. Writes perf/results/lpm.md and
//! lpm.csv (the plot's data). Run through `perf/lpm/run.sh` (as root: hugepages).
//!
//! Env: LPM_RUNS (5), LPM_KEYS (4194304), LPM_QUICK=1 (no table-size sweep),
//! LPM_PARTS (v4,v6,small,updates), RESULTS (where lpm.md and lpm.csv go).

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use perf::lpm::rivals::{self, Built};
use perf::lpm::tables::{self, Rng, Route};
use perf::lpm::{dpdk, heap, median_time, thread_cpu_ns};

#[global_allocator]
static ALLOC: heap::Counting = heap::Counting;

const BURST: usize = 32;
const HOT: usize = 64;
const DEPENDENT: usize = 1 << 20;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A batch lookup: keys in, next hops out (a miss is `u32::MAX`).
type BatchFn<'a, K> = Box<dyn FnMut(&[K], &mut [u32]) + 'a>;

/// One structure under test: a batch lookup and a single lookup on host-order keys
/// (a miss is `u32::MAX`), with what building it cost.
struct Subject<'a, K> {
    name: String,
    build: Duration,
    bytes: usize,
    batch: BatchFn<'a, K>,
    one: Box<dyn FnMut(K) -> u32 + 'a>,
}

impl<K: Copy + 'static> Subject<'static, K> {
    /// A crate with single lookups only: its batch is a loop.
    fn rival(b: Built<K>) -> Self {
        let lookup: std::rc::Rc<dyn Fn(K) -> u32> = std::rc::Rc::from(b.lookup);
        let l2 = std::rc::Rc::clone(&lookup);
        Subject {
            name: b.name.to_string(),
            build: b.build,
            bytes: b.bytes,
            batch: Box::new(move |k: &[K], o: &mut [u32]| {
                for (o, &k) in o.iter_mut().zip(k) {
                    *o = lookup(k);
                }
            }),
            one: Box::new(move |k| l2(k)),
        }
    }
}

/// Medians over runs, in million lookups per second.
struct Rates {
    random: f64,
    hot: f64,
    dependent: f64,
}

/// Million operations per second of the thread's CPU time (wall time where the
/// kernel does not say).
fn rate(ops: usize, f: impl FnOnce() -> u64) -> f64 {
    let (t, c) = (Instant::now(), thread_cpu_ns());
    black_box(f());
    let secs = match (c, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => t.elapsed().as_secs_f64(),
    };
    ops as f64 / secs / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Random, hot and dependent rates of every subject, taking turns within each run.
/// Dependent: one key at a time, each flipped in its last bit by the previous answer.
fn measure<K>(
    subjects: &mut [Subject<'_, K>],
    keys: &[K],
    runs: usize,
    flip: fn(K, u32) -> K,
) -> Vec<Rates>
where
    K: Copy,
{
    let hot = &keys[..HOT];
    let dep = &keys[..DEPENDENT.min(keys.len())];
    let mut all: Vec<[Vec<f64>; 3]> = subjects.iter().map(|_| Default::default()).collect();
    let mut out = [0u32; BURST];
    for run in 0..runs {
        for (i, s) in subjects.iter_mut().enumerate() {
            // Slow crates get a slice of the keys: the rate is per key all the same.
            let n = if s.name.contains("vnetd") || s.name.starts_with("rte_") {
                keys.len()
            } else {
                keys.len() / 8
            };
            let r = rate(n, || {
                let mut acc = 0u64;
                for c in keys[..n].chunks(BURST) {
                    (s.batch)(c, &mut out);
                    acc = acc.wrapping_add(u64::from(out[7]));
                }
                acc
            });
            all[i][0].push(r);
            let h = rate(n, || {
                let mut acc = 0u64;
                for _ in 0..n / HOT {
                    for c in hot.chunks(BURST) {
                        (s.batch)(c, &mut out);
                        acc = acc.wrapping_add(u64::from(out[7]));
                    }
                }
                acc
            });
            all[i][1].push(h);
            let d = rate(dep.len() / 4, || {
                let mut prev = 0u32;
                for &k in &dep[..dep.len() / 4] {
                    prev = (s.one)(flip(k, prev));
                }
                u64::from(prev)
            });
            all[i][2].push(d);
        }
        eprint!(" run {}/{runs}", run + 1);
    }
    eprintln!();
    all.into_iter()
        .map(|[r, h, d]| Rates {
            random: median(r),
            hot: median(h),
            dependent: median(d),
        })
        .collect()
}

/// Every subject must give vnetd's answers (DPDK's next hops are narrower: compare
/// what both can hold).
fn agree<K: Copy + std::fmt::Debug>(
    subjects: &mut [Subject<'_, K>],
    keys: &[K],
    width_mask: &[u32],
) {
    let n = keys.len().min(1 << 16);
    let mut want = vec![0u32; n];
    (subjects[0].batch)(&keys[..n], &mut want);
    for (s, &mask) in subjects.iter_mut().zip(width_mask).skip(1) {
        let mut got = vec![0u32; n];
        for (k, o) in keys[..n].chunks(BURST).zip(got.chunks_mut(BURST)) {
            (s.batch)(k, o);
        }
        for i in 0..n {
            let w = if want[i] == u32::MAX {
                u32::MAX
            } else {
                want[i] & mask
            };
            assert_eq!(
                got[i], w,
                "{} disagrees with vnetd on {:?}",
                s.name, keys[i]
            );
        }
    }
}

fn mib(b: usize) -> String {
    format!("{:.2} MiB", b as f64 / (1 << 20) as f64)
}

fn report(
    out: &mut String,
    title: &str,
    prefixes: usize,
    subjects: &[Subject<'_, impl Copy>],
    rates: &[Rates],
) {
    let v = &rates[0];
    writeln!(out, "\n### {title}\n").unwrap();
    writeln!(out, "| structure | random keys, batch 32 (Mlookups/s) | hot keys, batch 32 | dependent lookups | memory | bytes/prefix | build |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
    for (s, r) in subjects.iter().zip(rates) {
        writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} | {} | {:.2} | {:.3} s |",
            s.name,
            r.random,
            r.hot,
            r.dependent,
            mib(s.bytes),
            s.bytes as f64 / prefixes as f64,
            s.build.as_secs_f64()
        )
        .unwrap();
    }
    writeln!(out, "\n| vnetd lpm vs | random | hot | dependent | memory (vnetd / other) | build (other / vnetd) |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|---:|").unwrap();
    for (s, r) in subjects.iter().zip(rates).skip(1) {
        writeln!(
            out,
            "| {} | **{:.2}x** | {:.2}x | {:.2}x | {:.4}x | {:.2}x |",
            s.name,
            v.random / r.random,
            v.hot / r.hot,
            v.dependent / r.dependent,
            subjects[0].bytes as f64 / s.bytes as f64,
            s.build.as_secs_f64() / subjects[0].build.as_secs_f64()
        )
        .unwrap();
    }
}

fn to_u32s(keys: &[u128]) -> Vec<u32> {
    keys.iter().map(|&k| k as u32).collect()
}

/// IPv4 subjects on `routes`: vnetd, rte_lpm, rte_fib, then the crates.
fn subjects_v4(routes: &[Route], with_dpdk: bool, with_rivals: bool) -> Vec<Subject<'static, u32>> {
    let updates: Vec<lpm::Update4> = routes
        .iter()
        .map(|&(p, l, nh)| lpm::Update4::Insert(Ipv4Addr::from(p as u32), l, nh))
        .collect();
    let mut fib = lpm::Fib4::new();
    let build = median_time(3, || {
        fib = lpm::Fib4::new();
        fib.apply(&updates).expect("valid prefixes");
    });
    // What workers hold: the published snapshot (the writer's route set is counted
    // in the tenants section).
    let (snap, bytes) = heap::measure(|| fib.snapshot());
    drop(fib);
    let snap = std::rc::Rc::new(snap);
    let s2 = std::rc::Rc::clone(&snap);
    let mut v = vec![Subject {
        name: "vnetd lpm".into(),
        build,
        bytes,
        batch: Box::new(move |k, o| snap.lookup_batch(k, o)),
        one: Box::new(move |k| s2.lookup_u32(k)),
    }];
    if with_dpdk {
        let before = dpdk::heap_allocated();
        let t = Instant::now();
        let mut lpm = dpdk::Lpm4::new(routes.len() as u32 + 1024, 1 << 14).expect("rte_lpm_create");
        for &(p, l, nh) in routes {
            lpm.add(p as u32, l, nh & 0xff_ffff).expect("rte_lpm_add");
        }
        let build = t.elapsed();
        let bytes = dpdk::heap_allocated() - before;
        let lpm = std::rc::Rc::new(lpm);
        let l2 = std::rc::Rc::clone(&lpm);
        let fix = |g: u32| {
            if g & dpdk_sys::RTE_LPM_LOOKUP_SUCCESS != 0 {
                g & 0xff_ffff
            } else {
                u32::MAX
            }
        };
        v.push(Subject {
            name: "rte_lpm".into(),
            build,
            bytes,
            batch: Box::new(move |k, o| {
                lpm.lookup_bulk(k, o);
                for g in o[..k.len()].iter_mut() {
                    *g = fix(*g);
                }
            }),
            one: Box::new(move |k| {
                let mut o = [0u32; 1];
                l2.lookup_bulk(&[k], &mut o);
                fix(o[0])
            }),
        });
        let before = dpdk::heap_allocated();
        let t = Instant::now();
        let mut fib = dpdk::Fib4::new(routes.len() as i32 + 1024, 1 << 14).expect("rte_fib_create");
        for &(p, l, nh) in routes {
            fib.add(p as u32, l, nh).expect("rte_fib_add");
        }
        let build = t.elapsed();
        let bytes = dpdk::heap_allocated() - before;
        let fib = std::rc::Rc::new(fib);
        let f2 = std::rc::Rc::clone(&fib);
        let mut ks = [0u32; BURST];
        let mut o64 = [0u64; BURST];
        v.push(Subject {
            name: "rte_fib (dir24_8)".into(),
            build,
            bytes,
            batch: Box::new(move |k, o| {
                ks[..k.len()].copy_from_slice(k);
                fib.lookup_bulk(&mut ks[..k.len()], &mut o64);
                for (o, &g) in o.iter_mut().zip(&o64[..k.len()]) {
                    *o = if g == dpdk::FIB_MISS {
                        u32::MAX
                    } else {
                        g as u32
                    };
                }
            }),
            one: Box::new(move |k| {
                let (mut ks, mut o) = ([k], [0u64]);
                f2.lookup_bulk(&mut ks, &mut o);
                if o[0] == dpdk::FIB_MISS {
                    u32::MAX
                } else {
                    o[0] as u32
                }
            }),
        });
    }
    if with_rivals {
        v.extend(rivals::v4(routes).into_iter().map(Subject::rival));
    }
    v
}

/// IPv6 subjects: vnetd, rte_fib6, rte_lpm6, then the crates.
fn subjects_v6(
    routes: &[Route],
    with_dpdk: bool,
    with_rivals: bool,
) -> Vec<Subject<'static, u128>> {
    let updates: Vec<lpm::Update6> = routes
        .iter()
        .map(|&(p, l, nh)| lpm::Update6::Insert(Ipv6Addr::from(p), l, nh))
        .collect();
    let mut fib = lpm::Fib6::new();
    let build = median_time(3, || {
        fib = lpm::Fib6::new();
        fib.apply(&updates).expect("valid prefixes");
    });
    let (snap, bytes) = heap::measure(|| fib.snapshot());
    drop(fib);
    let snap = std::rc::Rc::new(snap);
    let s2 = std::rc::Rc::clone(&snap);
    let mut v = vec![Subject {
        name: "vnetd lpm".into(),
        build,
        bytes,
        batch: Box::new(move |k, o| snap.lookup_batch(k, o)),
        one: Box::new(move |k| s2.lookup_u128(k)),
    }];
    if with_dpdk {
        let to_bytes = |k: &[u128], b: &mut [[u8; 16]]| {
            for (b, k) in b.iter_mut().zip(k) {
                *b = k.to_be_bytes();
            }
        };
        let before = dpdk::heap_allocated();
        let t = Instant::now();
        let mut fib6 =
            dpdk::Fib6::new(routes.len() as i32 + 1024, 1 << 17).expect("rte_fib6_create");
        for &(p, l, nh) in routes {
            fib6.add(p, l, nh).expect("rte_fib6_add");
        }
        let build = t.elapsed();
        let bytes = dpdk::heap_allocated() - before;
        let fib6 = std::rc::Rc::new(fib6);
        let f2 = std::rc::Rc::clone(&fib6);
        let mut kb = [[0u8; 16]; BURST];
        let mut o64 = [0u64; BURST];
        let fix = |g: u64| {
            if g == dpdk::FIB_MISS {
                u32::MAX
            } else {
                g as u32
            }
        };
        v.push(Subject {
            name: "rte_fib6 (trie)".into(),
            build,
            bytes,
            batch: Box::new(move |k, o| {
                to_bytes(k, &mut kb);
                fib6.lookup_bulk(&mut kb[..k.len()], &mut o64);
                for (o, &g) in o.iter_mut().zip(&o64[..k.len()]) {
                    *o = fix(g);
                }
            }),
            one: Box::new(move |k| {
                let (mut kb, mut o) = ([k.to_be_bytes()], [0u64]);
                f2.lookup_bulk(&mut kb, &mut o);
                fix(o[0])
            }),
        });
        let before = dpdk::heap_allocated();
        let t = Instant::now();
        let mut lpm6 =
            dpdk::Lpm6::new(routes.len() as u32 + 1024, 1 << 17).expect("rte_lpm6_create");
        for &(p, l, nh) in routes {
            lpm6.add(p, l, nh & 0xff_ffff).expect("rte_lpm6_add");
        }
        let build = t.elapsed();
        let bytes = dpdk::heap_allocated() - before;
        let lpm6 = std::rc::Rc::new(lpm6);
        let l2 = std::rc::Rc::clone(&lpm6);
        let mut kb = [[0u8; 16]; BURST];
        let mut oi = [0i32; BURST];
        let fix = |g: i32| if g < 0 { u32::MAX } else { g as u32 };
        v.push(Subject {
            name: "rte_lpm6".into(),
            build,
            bytes,
            batch: Box::new(move |k, o| {
                to_bytes(k, &mut kb);
                lpm6.lookup_bulk(&mut kb[..k.len()], &mut oi);
                for (o, &g) in o.iter_mut().zip(&oi[..k.len()]) {
                    *o = fix(g);
                }
            }),
            one: Box::new(move |k| {
                let (mut kb, mut o) = ([k.to_be_bytes()], [0i32]);
                l2.lookup_bulk(&mut kb, &mut o);
                fix(o[0])
            }),
        });
    }
    if with_rivals {
        v.extend(rivals::v6(routes).into_iter().map(Subject::rival));
    }
    v
}

/// Next-hop widths each subject keeps (rte_lpm and rte_lpm6: 24 bits).
fn masks<K>(s: &[Subject<'_, K>]) -> Vec<u32> {
    s.iter()
        .map(|s| {
            if s.name == "rte_lpm" || s.name == "rte_lpm6" {
                0xff_ffff
            } else {
                u32::MAX
            }
        })
        .collect()
}

/// CSV rows for the plot: family, structure, prefixes, random Mlookups/s, bytes/prefix.
fn csv_rows<K>(csv: &mut String, family: &str, prefixes: usize, s: &[Subject<'_, K>], r: &[Rates]) {
    for (s, r) in s.iter().zip(r) {
        writeln!(
            csv,
            "{family},{},{prefixes},{:.2},{:.3}",
            s.name,
            r.random,
            s.bytes as f64 / prefixes as f64
        )
        .unwrap();
    }
}

/// A deterministic sample of `n` routes.
fn sample(routes: &[Route], n: usize, seed: u64) -> Vec<Route> {
    let mut r = routes.to_vec();
    let mut rng = Rng(seed);
    for i in 0..n.min(r.len()) {
        let j = i + rng.below(r.len() - i);
        r.swap(i, j);
    }
    r.truncate(n);
    r
}

fn bench_v4(
    report_md: &mut String,
    csv: &mut String,
    routes: &[Route],
    keys_n: usize,
    runs: usize,
    sweep: bool,
) {
    let keys = to_u32s(&tables::keys(routes, 32, keys_n, &mut Rng(1)));
    let mut s = subjects_v4(routes, true, true);
    let m = masks(&s);
    agree(&mut s, &keys, &m);
    let r = measure(&mut s, &keys, runs, |k, p| k ^ (p & 1));
    report(
        report_md,
        &format!("IPv4, {} prefixes", routes.len()),
        routes.len(),
        &s,
        &r,
    );
    csv_rows(csv, "ipv4", routes.len(), &s, &r);
    drop(s);
    if sweep {
        for n in [1_000, 10_000, 100_000] {
            eprintln!("IPv4, {n} prefixes...");
            let sub = sample(routes, n, n as u64);
            let keys = to_u32s(&tables::keys(&sub, 32, keys_n / 4, &mut Rng(1)));
            let mut s = subjects_v4(&sub, true, true);
            let r = measure(&mut s, &keys, runs.min(3), |k, p| k ^ (p & 1));
            csv_rows(csv, "ipv4", n, &s, &r);
        }
    }
}

fn bench_v6(
    report_md: &mut String,
    csv: &mut String,
    routes: &[Route],
    keys_n: usize,
    runs: usize,
    sweep: bool,
) {
    let keys = tables::keys(routes, 128, keys_n, &mut Rng(2));
    let mut s = subjects_v6(routes, true, true);
    let m = masks(&s);
    agree(&mut s, &keys, &m);
    let r = measure(&mut s, &keys, runs, |k, p| k ^ u128::from(p & 1));
    report(
        report_md,
        &format!("IPv6, {} prefixes", routes.len()),
        routes.len(),
        &s,
        &r,
    );
    csv_rows(csv, "ipv6", routes.len(), &s, &r);
    drop(s);
    if sweep {
        for n in [1_000, 10_000] {
            eprintln!("IPv6, {n} prefixes...");
            let sub = sample(routes, n, n as u64);
            let keys = tables::keys(&sub, 128, keys_n / 4, &mut Rng(2));
            let mut s = subjects_v6(&sub, true, true);
            let r = measure(&mut s, &keys, runs.min(3), |k, p| k ^ u128::from(p & 1));
            csv_rows(csv, "ipv6", n, &s, &r);
        }
    }
}

/// Tenant-sized tables, and 10,000 of them next to one full table, measured on the
/// heap (lookup structures, route sets, handles: everything a tenant's FIB holds).
fn bench_small(out: &mut String, routes: &[Route]) {
    let mut rng = Rng(3);
    let tenant = |rng: &mut Rng| {
        let mut f = lpm::Fib4::new();
        while f.len() < 100 {
            let (p, l, nh) = routes[rng.below(routes.len())];
            f.insert(Ipv4Addr::from(p as u32), l, nh)
                .expect("valid prefix");
        }
        f
    };
    let (empty, empty_b) = heap::measure(|| Box::new(lpm::Fib4::new()));
    let (one, one_b) = heap::measure(|| {
        let mut f = Box::new(lpm::Fib4::new());
        f.insert(Ipv4Addr::UNSPECIFIED, 0, 1).unwrap();
        f
    });
    let (hundred, hundred_b) = heap::measure(|| Box::new(tenant(&mut rng)));
    let (hundred_snap, hundred_snap_b) = heap::measure(|| hundred.snapshot());
    let updates: Vec<lpm::Update4> = routes
        .iter()
        .map(|&(p, l, nh)| lpm::Update4::Insert(Ipv4Addr::from(p as u32), l, nh))
        .collect();
    let t = Instant::now();
    let ((tenants, full), total) = heap::measure(|| {
        let tenants: Vec<lpm::Fib4> = (0..10_000).map(|_| tenant(&mut rng)).collect();
        let mut full = lpm::Fib4::new();
        full.apply(&updates).unwrap();
        (tenants, full)
    });
    let took = t.elapsed();
    writeln!(out, "\n### Memory of small tables (IPv4, measured on the heap: lookup structure + route set + handle)\n").unwrap();
    writeln!(out, "| table | bytes | goal |").unwrap();
    writeln!(out, "|---|---:|---|").unwrap();
    writeln!(out, "| empty | {empty_b} | |").unwrap();
    writeln!(out, "| default route only | {one_b} | |").unwrap();
    writeln!(
        out,
        "| 100 routes drawn from the real table | {hundred_b} (its published lookup snapshot alone: {hundred_snap_b}) | ≤ 16,384 |"
    )
    .unwrap();
    writeln!(
        out,
        "| 10,000 tenants x 100 routes + one full table | **{}** (built in {:.2} s) | < 512 MiB |",
        mib(total),
        took.as_secs_f64()
    )
    .unwrap();
    writeln!(out, "| rte_lpm / rte_fib, any size | ≥ 64 MiB each (the tbl24 alone): 10,000 tenants ≥ 640 GiB | |").unwrap();
    black_box((empty, one, hundred, hundred_snap, tenants, full));
}

/// CPU seconds this thread has run (user + system), from /proc.
fn thread_cpu() -> f64 {
    let st = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let f: Vec<&str> = st
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// Full-table build from scratch, then batched updates through the live-update API
/// while a reader thread keeps looking up.
fn bench_updates(out: &mut String, routes: &[Route]) {
    let updates: Vec<lpm::Update4> = routes
        .iter()
        .map(|&(p, l, nh)| lpm::Update4::Insert(Ipv4Addr::from(p as u32), l, nh))
        .collect();
    let mut fib = lpm::Fib4::new();
    let build = median_time(5, || {
        fib = lpm::Fib4::new();
        fib.apply(&updates).expect("valid prefixes");
    });
    writeln!(out, "\n### Build and live updates (IPv4 full table)\n").unwrap();
    writeln!(out, "- build from scratch (`Fib4::apply` of {} inserts on an empty table): **{:.3} s** (median of 5; goal ≤ 0.5 s)", routes.len(), build.as_secs_f64()).unwrap();

    let keys = to_u32s(&tables::keys(routes, 32, 1 << 20, &mut Rng(4)));
    let mut writer = lpm::Fib4Writer::new(fib);
    let reader = writer.reader();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let handle = {
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut o = [0u32; BURST];
            let mut acc = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for c in keys.chunks(BURST * 64) {
                    // One snapshot load per 64 bursts, as a worker per poll loop.
                    reader.with(|l| {
                        for b in c.chunks(BURST) {
                            l.lookup_batch(b, &mut o);
                            acc = acc.wrapping_add(o[3]);
                        }
                    });
                    done.fetch_add(c.len() as u64, Ordering::Relaxed);
                }
            }
            black_box(acc);
        })
    };
    let rate_over = |d: Duration| {
        let a = done.load(Ordering::Relaxed);
        std::thread::sleep(d);
        (done.load(Ordering::Relaxed) - a) as f64 / d.as_secs_f64() / 1e6
    };
    let idle = rate_over(Duration::from_millis(1000));
    // Batches of 20,000 edits: withdraw 10,000 random routes, re-announce 10,000
    // withdrawn earlier with a new next hop (a flapping BGP session).
    let mut rng = Rng(5);
    let batch = 20_000;
    let mut withdrawn: Vec<(Ipv4Addr, u8)> = Vec::new();
    let (mut edits, mut batches) = (0usize, 0usize);
    let mut per_batch = Vec::new();
    let r0 = done.load(Ordering::Relaxed);
    let cpu0 = thread_cpu();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        let mut b = Vec::with_capacity(batch);
        for _ in 0..batch / 2 {
            let (p, l, _) = routes[rng.below(routes.len())];
            b.push(lpm::Update4::Remove(Ipv4Addr::from(p as u32), l));
            withdrawn.push((Ipv4Addr::from(p as u32), l));
        }
        for _ in 0..batch / 2 {
            let i = rng.below(withdrawn.len());
            let (p, l) = withdrawn.swap_remove(i);
            b.push(lpm::Update4::Insert(p, l, rng.next_u64() as u32 & 0xffff));
        }
        let tb = Instant::now();
        writer.apply(&b).unwrap();
        per_batch.push(tb.elapsed().as_secs_f64());
        edits += b.len();
        batches += 1;
    }
    let el = t.elapsed();
    let cpu = thread_cpu() - cpu0;
    let during = (done.load(Ordering::Relaxed) - r0) as f64 / el.as_secs_f64() / 1e6;
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    let wall_rate = edits as f64 / el.as_secs_f64() / 1e6;
    let cpu_rate = edits as f64 / cpu.max(1e-9) / 1e6;
    let med_batch = median(per_batch);
    writeln!(out, "\n| `Fib4Writer::apply` + publish, batches of {batch} edits | update rate (wall) | per writer CPU-second | median batch | reader before | reader during updates |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|---:|").unwrap();
    writeln!(
        out,
        "| {batches} batches, {edits} edits in {:.2} s | **{:.2} M routes/s** | {:.2} M routes/s | {:.1} ms | {:.1} Mlookups/s | {:.1} Mlookups/s |",
        el.as_secs_f64(),
        wall_rate,
        cpu_rate,
        med_batch * 1e3,
        idle,
        during
    )
    .unwrap();
    writeln!(out, "\nThe writer's CPU time is read from /proc: on this shared 2-core machine the writer does not get a whole core, so the wall rate understates the structure (goal ≥ 1 M routes/s).").unwrap();
}

fn main() {
    let runs = env("LPM_RUNS", 5);
    let keys_n = env("LPM_KEYS", 1 << 22);
    let sweep = env("LPM_QUICK", 0) == 0;
    let mut md = String::new();
    let mut csv = String::from("family,structure,prefixes,random_mlookups,bytes_per_prefix\n");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let eal = match dpdk::init_eal(true) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let avx512 = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vpopcntdq");
    writeln!(md, "## LPM benchmark ({date})\n").unwrap();
    writeln!(md, "- machine: {cpu}, {cores} cores shared with other work (load average at start: {}); medians of {runs} runs, structures taking turns within each run", load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap();
    writeln!(
        md,
        "- vnetd's IPv4 batch lookup: {}",
        if avx512 {
            "AVX-512 gathers (CPU has AVX-512F, BW and VPOPCNTDQ)"
        } else {
            "scalar path (no AVX-512 here)"
        }
    )
    .unwrap();
    writeln!(md, "- {eal}").unwrap();
    writeln!(md, "- rates are per second of the measuring thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), so that time spent waiting for a core on this shared machine does not count against whichever structure was running
- keys: {keys_n} random destinations drawn uniformly over the table's prefixes (then uniformly inside the prefix), looked up in batches of {BURST}; hot: the same {HOT} keys over and over; dependent: one key at a time, each flipped by the previous answer (DPDK: bulk call with n = 1). The Rust crates have no batch lookup: their batch is a loop, on an eighth of the keys").unwrap();
    writeln!(md, "- memory: vnetd = its published lookup snapshot, the crates = heap growth (counting allocator), DPDK = its heap growth (rte_malloc stats)").unwrap();
    let (v4, what4) = tables::table(false);
    let (v6, what6) = tables::table(true);
    writeln!(md, "- IPv4 table: {what4}\n- IPv6 table: {what6}").unwrap();
    // LPM_PARTS (a comma list of v4, v6, small, updates; all by default) runs a
    // subset, for working on one part (run.sh always runs all).
    let parts = std::env::var("LPM_PARTS").unwrap_or_else(|_| "v4,v6,small,updates".into());
    let part = |p: &str| parts.split(',').any(|x| x.trim() == p);
    if part("v4") {
        eprintln!("IPv4...");
        bench_v4(&mut md, &mut csv, &v4, keys_n, runs, sweep);
    }
    if part("v6") {
        eprintln!("IPv6...");
        bench_v6(&mut md, &mut csv, &v6, keys_n, runs, sweep);
    }
    if part("small") {
        eprintln!("small tables...");
        bench_small(&mut md, &v4);
    }
    if part("updates") {
        eprintln!("updates...");
        bench_updates(&mut md, &v4);
    }
    println!("{md}");
    let dir = std::env::var("RESULTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results"));
    std::fs::create_dir_all(&dir).expect("results directory");
    std::fs::write(dir.join("lpm.md"), &md).expect("write lpm.md");
    std::fs::write(dir.join("lpm.csv"), &csv).expect("write lpm.csv");
    eprintln!("written to {}/lpm.md and lpm.csv", dir.display());
}
