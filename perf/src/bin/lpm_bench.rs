//! LPM benchmark: vnetd's `lpm` against DPDK's rte_lpm / rte_fib (IPv4) and
//! rte_fib6 / rte_lpm6 (IPv6) on the same tables and the same keys, one core.
//! Prints a markdown report (medians of several runs, ratios vnetd/baseline) and
//! writes it to perf/results/lpm.md. Run:
//! `cargo run --release -p perf --bin lpm_bench` (as root for hugepages).

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use perf::lpm::dpdk;
use perf::lpm::tables::{self, Rng, Route};
use perf::lpm::{median_rate, median_time};

const KEYS: usize = 1 << 22;
const BURST: usize = 32;
const RUNS: usize = 5;
const HOT: usize = 64;
const DEPENDENT: usize = 1 << 20;

struct Row {
    name: &'static str,
    random: f64,
    hot: f64,
    dependent: f64,
    bytes: usize,
    build: Duration,
}

fn mib(b: usize) -> String {
    format!("{:.2} MiB", b as f64 / (1 << 20) as f64)
}

fn table(out: &mut String, title: &str, prefixes: usize, rows: &[Row]) {
    let v = &rows[0];
    writeln!(out, "\n### {title}\n").unwrap();
    writeln!(out, "| structure | random keys, batch 32 (Mlookups/s) | hot keys, batch 32 | dependent lookups | memory | bytes/prefix | build |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
    for r in rows {
        writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.3} s |",
            r.name, r.random, r.hot, r.dependent, mib(r.bytes), r.bytes as f64 / prefixes as f64, r.build.as_secs_f64()
        )
        .unwrap();
    }
    for r in &rows[1..] {
        writeln!(
            out,
            "| **vnetd / {}** | **{:.2}x** | **{:.2}x** | **{:.2}x** | **{:.4}x** | | **{:.2}x faster** |",
            r.name,
            v.random / r.random,
            v.hot / r.hot,
            v.dependent / r.dependent,
            v.bytes as f64 / r.bytes as f64,
            r.build.as_secs_f64() / v.build.as_secs_f64()
        )
        .unwrap();
    }
}

/// Lookup rates for one structure: `batch(keys, out)` looks up one burst.
fn rates(keys: &[u32], hot: &[u32], mut batch: impl FnMut(&[u32], &mut [u32])) -> (f64, f64) {
    let mut out = [0u32; BURST];
    let random = median_rate(RUNS, keys.len(), || {
        let mut acc = 0u64;
        for c in keys.chunks(BURST) {
            batch(c, &mut out);
            acc = acc.wrapping_add(u64::from(out[7]));
        }
        acc
    });
    let hot_rate = median_rate(RUNS, keys.len(), || {
        let mut acc = 0u64;
        for _ in 0..keys.len() / HOT {
            for c in hot.chunks(BURST) {
                batch(c, &mut out);
                acc = acc.wrapping_add(u64::from(out[7]));
            }
        }
        acc
    });
    (random, hot_rate)
}

/// Dependent lookups: each key is flipped in its last bit by the previous answer.
fn dependent<K: Copy + std::ops::BitXor<Output = K> + From<bool>>(keys: &[K], mut one: impl FnMut(K) -> u32) -> f64 {
    median_rate(RUNS, DEPENDENT, || {
        let mut prev = 0u32;
        for &k in &keys[..DEPENDENT] {
            prev = one(k ^ K::from(prev & 1 == 1));
        }
        u64::from(prev)
    })
}

fn bench_v4(report: &mut String, routes: &[Route]) {
    let keys: Vec<u32> = tables::keys(routes, 32, KEYS, &mut Rng(1)).into_iter().map(|k| k as u32).collect();
    let hot: Vec<u32> = keys[..HOT].to_vec();
    let updates: Vec<lpm::Update4> =
        routes.iter().map(|&(p, l, nh)| lpm::Update4::Insert(Ipv4Addr::from(p as u32), l, nh)).collect();

    let mut fib = lpm::Fib4::new();
    let build = median_time(3, || {
        fib = lpm::Fib4::new();
        fib.apply(&updates).expect("valid prefixes");
    });
    let (random, hot_rate) = rates(&keys, &hot, |k, o| fib.lookup_batch(k, o));
    let dep = dependent(&keys, |k| fib.lookup_u32(k));
    let vnetd = Row { name: "vnetd lpm", random, hot: hot_rate, dependent: dep, bytes: fib.lookup_bytes(), build };
    let route_set = fib.route_set_bytes();
    // Correctness spot check against the baselines below.
    let mut want = vec![0u32; keys.len()];
    fib.lookup_batch(&keys, &mut want);
    drop(fib);

    let before = dpdk::heap_allocated();
    let t = Instant::now();
    let mut lpm = dpdk::Lpm4::new(routes.len() as u32 + 1024, 1 << 13).expect("rte_lpm_create");
    for &(p, l, nh) in routes {
        lpm.add(p as u32, l, nh & 0xff_ffff).expect("rte_lpm_add");
    }
    let build = t.elapsed();
    let bytes = dpdk::heap_allocated() - before;
    let mut o = [0u32; BURST];
    for (c, w) in keys.chunks(BURST).zip(want.chunks(BURST)).take(1000) {
        lpm.lookup_bulk(c, &mut o);
        for (&g, &w) in o.iter().zip(w) {
            let g = if g & dpdk_sys::RTE_LPM_LOOKUP_SUCCESS != 0 { g & 0xff_ffff } else { u32::MAX };
            assert_eq!(g, if w == u32::MAX { w } else { w & 0xff_ffff }, "rte_lpm disagrees");
        }
    }
    let (random, hot_rate) = rates(&keys, &hot, |k, o| lpm.lookup_bulk(k, o));
    let dep = dependent(&keys, |k| {
        let mut o = [0u32; 1];
        lpm.lookup_bulk(&[k], &mut o);
        o[0]
    });
    let rte_lpm = Row { name: "rte_lpm", random, hot: hot_rate, dependent: dep, bytes, build };
    drop(lpm);

    let before = dpdk::heap_allocated();
    let t = Instant::now();
    let mut fib = dpdk::Fib4::new(routes.len() as i32 + 1024, 1 << 13).expect("rte_fib_create");
    for &(p, l, nh) in routes {
        fib.add(p as u32, l, nh).expect("rte_fib_add");
    }
    let build = t.elapsed();
    let bytes = dpdk::heap_allocated() - before;
    let mut ks = [0u32; BURST];
    let mut o64 = [0u64; BURST];
    let mut fib_batch = |k: &[u32], o: &mut [u32]| {
        ks[..k.len()].copy_from_slice(k);
        fib.lookup_bulk(&mut ks[..k.len()], &mut o64);
        for (o, &v) in o.iter_mut().zip(&o64) {
            *o = v as u32;
        }
    };
    let mut o = [0u32; BURST];
    for (c, w) in keys.chunks(BURST).zip(want.chunks(BURST)).take(1000) {
        fib_batch(c, &mut o);
        assert_eq!(&o[..], w, "rte_fib disagrees");
    }
    let (random, hot_rate) = rates(&keys, &hot, &mut fib_batch);
    let dep = dependent(&keys, |k| {
        let mut o = [0u32; 1];
        fib_batch(&[k], &mut o);
        o[0]
    });
    let rte_fib = Row { name: "rte_fib (dir24_8)", random, hot: hot_rate, dependent: dep, bytes, build };
    drop(fib);

    table(report, &format!("IPv4, {} prefixes", routes.len()), routes.len(), &[vnetd, rte_lpm, rte_fib]);
    writeln!(
        report,
        "\nvnetd's memory is the lookup structure (what workers read); the writer's route set adds an estimated {} ({:.1} bytes/prefix). DPDK's is its heap growth (tables + rule store).",
        mib(route_set),
        route_set as f64 / routes.len() as f64
    )
    .unwrap();
}

fn bench_v6(report: &mut String, routes: &[Route]) {
    let keys: Vec<u128> = tables::keys(routes, 128, KEYS, &mut Rng(2));
    let hot: Vec<u128> = keys[..HOT].to_vec();
    let updates: Vec<lpm::Update6> =
        routes.iter().map(|&(p, l, nh)| lpm::Update6::Insert(Ipv6Addr::from(p), l, nh)).collect();
    let rates6 = |mut batch: Box<dyn FnMut(&[u128], &mut [u32]) + '_>| -> (f64, f64) {
        let mut out = [0u32; BURST];
        let random = median_rate(RUNS, keys.len(), || {
            let mut acc = 0u64;
            for c in keys.chunks(BURST) {
                batch(c, &mut out);
                acc = acc.wrapping_add(u64::from(out[7]));
            }
            acc
        });
        let hot_rate = median_rate(RUNS, keys.len(), || {
            let mut acc = 0u64;
            for _ in 0..keys.len() / HOT {
                for c in hot.chunks(BURST) {
                    batch(c, &mut out);
                    acc = acc.wrapping_add(u64::from(out[7]));
                }
            }
            acc
        });
        (random, hot_rate)
    };

    let mut fib = lpm::Fib6::new();
    let build = median_time(3, || {
        fib = lpm::Fib6::new();
        fib.apply(&updates).expect("valid prefixes");
    });
    let (random, hot_rate) = rates6(Box::new(|k, o| fib.lookup_batch(k, o)));
    let dep = dependent(&keys, |k| fib.lookup_u128(k));
    let vnetd = Row { name: "vnetd lpm", random, hot: hot_rate, dependent: dep, bytes: fib.lookup_bytes(), build };
    let mut want = vec![0u32; keys.len()];
    fib.lookup_batch(&keys, &mut want);
    drop(fib);

    let to_bytes = |k: &[u128], b: &mut [[u8; 16]]| {
        for (b, k) in b.iter_mut().zip(k) {
            *b = k.to_be_bytes();
        }
    };

    let before = dpdk::heap_allocated();
    let t = Instant::now();
    let mut fib6 = dpdk::Fib6::new(routes.len() as i32 + 1024, 1 << 17).expect("rte_fib6_create");
    for &(p, l, nh) in routes {
        fib6.add(p, l, nh).expect("rte_fib6_add");
    }
    let build = t.elapsed();
    let bytes = dpdk::heap_allocated() - before;
    let mut kb = [[0u8; 16]; BURST];
    let mut o64 = [0u64; BURST];
    let mut fib6_batch = |k: &[u128], o: &mut [u32]| {
        to_bytes(k, &mut kb);
        fib6.lookup_bulk(&mut kb[..k.len()], &mut o64);
        for (o, &v) in o.iter_mut().zip(&o64) {
            *o = v as u32;
        }
    };
    let mut o = [0u32; BURST];
    for (c, w) in keys.chunks(BURST).zip(want.chunks(BURST)).take(1000) {
        fib6_batch(c, &mut o);
        assert_eq!(&o[..], w, "rte_fib6 disagrees");
    }
    let (random, hot_rate) = rates6(Box::new(&mut fib6_batch));
    let dep = dependent(&keys, |k| {
        let mut o = [0u32; 1];
        fib6_batch(&[k], &mut o);
        o[0]
    });
    let rte_fib6 = Row { name: "rte_fib6 (trie)", random, hot: hot_rate, dependent: dep, bytes, build };
    drop(fib6);

    let before = dpdk::heap_allocated();
    let t = Instant::now();
    let mut lpm6 = dpdk::Lpm6::new(routes.len() as u32 + 1024, 1 << 17).expect("rte_lpm6_create");
    for &(p, l, nh) in routes {
        lpm6.add(p, l, nh & 0xff_ffff).expect("rte_lpm6_add");
    }
    let build = t.elapsed();
    let bytes = dpdk::heap_allocated() - before;
    let mut oi = [0i32; BURST];
    let mut lpm6_batch = |k: &[u128], o: &mut [u32]| {
        to_bytes(k, &mut kb);
        lpm6.lookup_bulk(&mut kb[..k.len()], &mut oi);
        for (o, &v) in o.iter_mut().zip(&oi) {
            *o = v as u32;
        }
    };
    let (random, hot_rate) = rates6(Box::new(&mut lpm6_batch));
    let dep = dependent(&keys, |k| {
        let mut o = [0u32; 1];
        lpm6_batch(&[k], &mut o);
        o[0]
    });
    let rte_lpm6 = Row { name: "rte_lpm6", random, hot: hot_rate, dependent: dep, bytes, build };
    drop(lpm6);

    table(report, &format!("IPv6, {} prefixes", routes.len()), routes.len(), &[vnetd, rte_fib6, rte_lpm6]);
}

/// Tenant-sized tables, and 10,000 of them next to one full table.
fn bench_small(report: &mut String, routes: &[Route]) {
    let mut rng = Rng(3);
    let tenant = |rng: &mut Rng| {
        let mut f = lpm::Fib4::new();
        while f.len() < 100 {
            let (p, l, nh) = routes[rng.below(routes.len())];
            f.insert(Ipv4Addr::from(p as u32), l, nh).expect("valid prefix");
        }
        f
    };
    let empty = lpm::Fib4::new();
    let mut one = lpm::Fib4::new();
    one.insert(Ipv4Addr::UNSPECIFIED, 0, 1).unwrap();
    let hundred = tenant(&mut rng);
    let t = Instant::now();
    let tenants: Vec<lpm::Fib4> = (0..10_000).map(|_| tenant(&mut rng)).collect();
    let tenants_time = t.elapsed();
    let mut full = lpm::Fib4::new();
    let updates: Vec<lpm::Update4> =
        routes.iter().map(|&(p, l, nh)| lpm::Update4::Insert(Ipv4Addr::from(p as u32), l, nh)).collect();
    full.apply(&updates).unwrap();
    let total: usize = tenants.iter().map(|f| f.memory_bytes() + std::mem::size_of::<lpm::Fib4>()).sum::<usize>()
        + full.memory_bytes();
    writeln!(report, "\n### Small tables (IPv4, everything counted: lookup structure + route set + handle)\n").unwrap();
    writeln!(report, "| table | bytes |").unwrap();
    writeln!(report, "|---|---:|").unwrap();
    writeln!(report, "| empty | {} (+{} handle) |", empty.memory_bytes(), std::mem::size_of::<lpm::Fib4>()).unwrap();
    writeln!(report, "| default route only | {} |", one.memory_bytes()).unwrap();
    writeln!(
        report,
        "| 100 routes drawn from the real table | {} (lookup {} + route set {}) |",
        hundred.memory_bytes(),
        hundred.lookup_bytes(),
        hundred.route_set_bytes()
    )
    .unwrap();
    writeln!(report, "| 10,000 tenants x 100 routes + one full table | {} (built one insert at a time in {:.2} s) |", mib(total), tenants_time.as_secs_f64()).unwrap();
    writeln!(report, "| rte_lpm / rte_fib, any size | ≥ 64 MiB each (the tbl24 alone) |").unwrap();
}

/// Batched updates on the full table through the live-update API while a reader
/// thread keeps looking up.
fn bench_updates(report: &mut String, routes: &[Route]) {
    let keys: Vec<u32> = tables::keys(routes, 32, 1 << 20, &mut Rng(4)).into_iter().map(|k| k as u32).collect();
    let updates: Vec<lpm::Update4> =
        routes.iter().map(|&(p, l, nh)| lpm::Update4::Insert(Ipv4Addr::from(p as u32), l, nh)).collect();
    let mut fib = lpm::Fib4::new();
    fib.apply(&updates).unwrap();
    let mut writer = lpm::Fib4Writer::new(fib);
    let reader = writer.reader();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let handle = {
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut out = [0u32; BURST];
            let mut acc = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for c in keys.chunks(BURST * 64) {
                    reader.with(|l| {
                        for b in c.chunks(BURST) {
                            l.lookup_batch(b, &mut out);
                            acc = acc.wrapping_add(out[3]);
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
    let idle = rate_over(Duration::from_millis(500));
    // Batches of 20,000 edits: withdraw 10,000 random routes, re-announce another
    // 10,000 withdrawn earlier with a new next hop (a BGP session flapping).
    let mut rng = Rng(5);
    let batch = 20_000;
    let mut withdrawn: Vec<(Ipv4Addr, u8)> = Vec::new();
    let mut edits = 0usize;
    let mut batches = 0usize;
    let r0 = done.load(Ordering::Relaxed);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
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
        writer.apply(&b).unwrap();
        edits += b.len();
        batches += 1;
    }
    let el = t.elapsed();
    let during = (done.load(Ordering::Relaxed) - r0) as f64 / el.as_secs_f64() / 1e6;
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    let rate = edits as f64 / el.as_secs_f64() / 1e6;
    writeln!(report, "\n### Live updates (IPv4 full table, `Fib4Writer::apply` + publish, one reader thread)\n").unwrap();
    writeln!(report, "| batches of {batch} edits | update rate | reader before | reader during updates |").unwrap();
    writeln!(report, "|---|---:|---:|---:|").unwrap();
    writeln!(
        report,
        "| {batches} batches, {edits} edits in {:.2} s | **{:.2} M routes/s** | {:.1} Mlookups/s | {:.1} Mlookups/s |",
        el.as_secs_f64(),
        rate,
        idle,
        during
    )
    .unwrap();
    writeln!(report, "\n(The machine has 2 cores: writer and reader each have one; the reader's rate includes its per-burst snapshot load.)").unwrap();
}

fn main() {
    let mut report = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let eal = match dpdk::init_eal(true) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let date = std::process::Command::new("date").arg("-u").arg("+%Y-%m-%d %H:%M UTC").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    writeln!(report, "## LPM benchmark ({date})\n").unwrap();
    writeln!(report, "- machine: {cpu}, {cores} cores (shared; numbers are medians of {RUNS} runs and still noisy)").unwrap();
    writeln!(report, "- {eal}").unwrap();
    writeln!(report, "- keys: {KEYS} random destinations drawn uniformly over the table's prefixes, looked up in batches of {BURST}; hot: the same {HOT} keys over and over; dependent: one key at a time, each key depending on the previous answer (DPDK: bulk call with n = 1)").unwrap();
    let (v4, what4) = tables::table(false);
    let (v6, what6) = tables::table(true);
    writeln!(report, "- IPv4 table: {what4}\n- IPv6 table: {what6}").unwrap();
    eprintln!("IPv4...");
    bench_v4(&mut report, &v4);
    eprintln!("IPv6...");
    bench_v6(&mut report, &v6);
    eprintln!("small tables...");
    bench_small(&mut report, &v4);
    eprintln!("updates...");
    bench_updates(&mut report, &v4);
    println!("{report}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/lpm.md");
    std::fs::write(&path, &report).expect("write results");
    eprintln!("written to {}", path.display());
}
