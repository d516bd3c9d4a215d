//! Informational: lookup rates of the lpm crate alone on the real tables, in lookups
//! per CPU-second of the measuring thread (`CLOCK_THREAD_CPUTIME_ID`, so that
//! other work on a shared machine does not count), for the full IPv4 and IPv6 tables
//! and samples of 100, 1,000 and 10,000 IPv4 routes. Random keys over the prefixes,
//! batches of 32, and hot keys (the same 64). Run with
//! `cargo run --release -p lpm --example probe [v4|v6|small]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use common::{span, Rng};

const BURST: usize = 32;

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CPU time of this thread in ns (`CLOCK_THREAD_CPUTIME_ID`: exact, where /proc's
/// figures move in scheduler ticks).
fn cpu_ns() -> u64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let rc = unsafe { clock_gettime(3, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
}

fn keys(routes: &[(u128, u8, u32)], bits: u8, n: usize, rng: &mut Rng) -> Vec<u128> {
    (0..n)
        .map(|_| {
            let (p, l, _) = routes[rng.below(routes.len())];
            let (first, last) = span(p, l, bits);
            p | (rng.next_u128() & (last - first))
        })
        .collect()
}

/// Median of 5, million lookups per CPU-second.
fn rate(n: usize, mut f: impl FnMut() -> u64) -> f64 {
    let mut v: Vec<f64> = (0..5)
        .map(|_| {
            let t = cpu_ns();
            black_box(f());
            n as f64 / ((cpu_ns() - t) as f64 / 1e9) / 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[2]
}

fn run<K: Copy>(name: &str, keys: &[K], batch: impl Fn(&[K], &mut [u32])) {
    let mut out = [0u32; BURST];
    let r = rate(keys.len(), || {
        let mut acc = 0u64;
        for c in keys.chunks(BURST) {
            batch(c, &mut out);
            acc = acc.wrapping_add(u64::from(out[7]));
        }
        acc
    });
    let hot = &keys[..64];
    let h = rate(keys.len(), || {
        let mut acc = 0u64;
        for _ in 0..keys.len() / 64 {
            for c in hot.chunks(BURST) {
                batch(c, &mut out);
                acc = acc.wrapping_add(u64::from(out[7]));
            }
        }
        acc
    });
    println!("{name}: random {r:.1} M/s, hot {h:.1} M/s (per CPU-second)");
}

fn v4(routes: &[(u128, u8, u32)], name: &str, n: usize) {
    let mut fib = lpm::Fib4::new();
    let up: Vec<_> = routes
        .iter()
        .map(|&(p, l, nh)| lpm::Update4::Insert(Ipv4Addr::from(p as u32), l, nh))
        .collect();
    fib.apply(&up).unwrap();
    let snap = fib.snapshot();
    let ks: Vec<u32> = keys(routes, 32, n, &mut Rng(1))
        .into_iter()
        .map(|k| k as u32)
        .collect();
    println!(
        "{name}: {} routes, snapshot {} bytes",
        fib.len(),
        snap.memory_bytes()
    );
    run(name, &ks, |k, o| snap.lookup_batch(k, o));
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let v4r = common::table(false);
    if what.is_empty() || what == "v4" {
        v4(&v4r, "v4 full", 1 << 22);
    }
    if what.is_empty() || what == "small" {
        for n in [100, 1000, 10_000] {
            let mut r = v4r.clone();
            let mut rng = Rng(n as u64);
            for i in 0..n {
                let j = i + rng.below(r.len() - i);
                r.swap(i, j);
            }
            r.truncate(n);
            v4(&r, &format!("v4 {n}"), 1 << 20);
        }
    }
    if what.is_empty() || what == "upd" {
        // The benchmark's flapping BGP session: batches of 10,000 withdrawals and
        // 10,000 re-announcements through the live-update API, no reader.
        let mut fib = lpm::Fib4::new();
        let up: Vec<_> = v4r
            .iter()
            .map(|&(p, l, nh)| lpm::Update4::Insert(Ipv4Addr::from(p as u32), l, nh))
            .collect();
        fib.apply(&up).unwrap();
        let mut w = lpm::Fib4Writer::new(fib);
        let mut rng = Rng(5);
        let mut withdrawn = Vec::new();
        let (t, mut edits) = (cpu_ns(), 0);
        for _ in 0..30 {
            let mut b = Vec::new();
            for _ in 0..10_000 {
                let (p, l, _) = v4r[rng.below(v4r.len())];
                b.push(lpm::Update4::Remove(Ipv4Addr::from(p as u32), l));
                withdrawn.push((Ipv4Addr::from(p as u32), l));
            }
            for _ in 0..10_000 {
                let i = rng.below(withdrawn.len());
                let (p, l) = withdrawn.swap_remove(i);
                b.push(lpm::Update4::Insert(p, l, rng.next_u64() as u32 & 0xffff));
            }
            w.apply(&b).unwrap();
            edits += b.len();
        }
        let secs = (cpu_ns() - t) as f64 / 1e9;
        println!(
            "updates: {edits} in {secs:.3} CPU-s: {:.2} M routes/s",
            edits as f64 / secs / 1e6
        );
    }
    if what.is_empty() || what == "v6" {
        let v6r = common::table(true);
        let mut fib = lpm::Fib6::new();
        let up: Vec<_> = v6r
            .iter()
            .map(|&(p, l, nh)| lpm::Update6::Insert(Ipv6Addr::from(p), l, nh))
            .collect();
        fib.apply(&up).unwrap();
        let snap = fib.snapshot();
        let ks = keys(&v6r, 128, 1 << 21, &mut Rng(2));
        println!(
            "v6: {} routes, snapshot {} bytes",
            fib.len(),
            snap.memory_bytes()
        );
        run("v6 full", &ks, |k, o| snap.lookup_batch(k, o));
    }
}
