//! Informational: load the real IPv4 table (and the IPv6 one) and print insert rate,
//! memory, and single/batch lookup rates over keys drawn uniformly from the table's
//! prefixes. Run with `cargo run --release -p lpm --example load_bench`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::{span, Rng};
use lpm::{Fib4, Fib6, NextHop};

const KEYS: usize = 1 << 23;
const BURST: usize = 32;
const ROUNDS: usize = 3;

/// Uniform over the prefixes, then uniform inside the chosen prefix.
fn keys(routes: &[(u128, u8, u32)], bits: u8, rng: &mut Rng) -> Vec<u128> {
    (0..KEYS)
        .map(|_| {
            let (p, l, _) = routes[rng.below(routes.len())];
            let (first, last) = span(p, l, bits);
            p | (rng.next_u128() & (last - first))
        })
        .collect()
}

/// Best of `ROUNDS`, in million lookups per second.
fn rate(n: usize, mut f: impl FnMut() -> u64) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        black_box(f());
        best = best.min(t.elapsed());
    }
    n as f64 / best.as_secs_f64() / 1e6
}

fn report(
    family: &str,
    routes: usize,
    fib_len: usize,
    insert: Duration,
    bytes: usize,
    clone: Duration,
) {
    println!("{family}: {routes} routes ({fib_len} distinct)");
    println!(
        "  insert: {:.3} s, {:.2} M routes/s",
        insert.as_secs_f64(),
        routes as f64 / insert.as_secs_f64() / 1e6
    );
    println!(
        "  memory: {:.1} MiB, {:.1} bytes/prefix; clone {:.1} ms",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / fib_len as f64,
        clone.as_secs_f64() * 1e3
    );
}

fn bench_v4() {
    let routes = common::table(false);
    let prefixes: Vec<(Ipv4Addr, u8, NextHop)> = routes
        .iter()
        .map(|&(p, l, nh)| (Ipv4Addr::from(p as u32), l, nh))
        .collect();
    let t = Instant::now();
    let mut fib = Fib4::new();
    for &(p, l, nh) in &prefixes {
        fib.insert(p, l, nh).expect("valid prefix");
    }
    let insert = t.elapsed();
    let t = Instant::now();
    let copy = black_box(fib.clone());
    let clone = t.elapsed();
    drop(copy);
    report(
        "IPv4",
        routes.len(),
        fib.len(),
        insert,
        fib.memory_bytes(),
        clone,
    );

    let updates: Vec<lpm::Update4> = prefixes
        .iter()
        .map(|&(p, l, nh)| lpm::Update4::Insert(p, l, nh))
        .collect();
    let t = Instant::now();
    let mut bulk = Fib4::new();
    bulk.apply(&updates).expect("valid prefixes");
    println!(
        "  bulk load: {:.3} s; lookup structure {} bytes ({:.2} bytes/prefix) after one-by-one inserts, {} bytes ({:.2} bytes/prefix) after a bulk load; route set {} bytes",
        t.elapsed().as_secs_f64(),
        fib.lookup_bytes(),
        fib.lookup_bytes() as f64 / fib.len() as f64,
        bulk.lookup_bytes(),
        bulk.lookup_bytes() as f64 / fib.len() as f64,
        bulk.route_set_bytes()
    );
    let fib = &mut bulk;
    let keys: Vec<u32> = keys(&routes, 32, &mut Rng(1))
        .into_iter()
        .map(|k| k as u32)
        .collect();
    let single = rate(keys.len(), || {
        keys.iter().fold(0u64, |acc, &k| {
            acc.wrapping_add(u64::from(fib.lookup_u32(k)))
        })
    });
    let mut out = [0; BURST];
    let batch = rate(keys.len(), || {
        let mut acc = 0u64;
        for chunk in keys.chunks(BURST) {
            fib.lookup_batch(chunk, &mut out);
            acc = acc.wrapping_add(u64::from(out[0]));
        }
        acc
    });
    println!("  lookup over {} keys: single {single:.1} Mlookups/s, batch of {BURST} {batch:.1} Mlookups/s", keys.len());

    let mut rng = Rng(3);
    let mut small = Fib4::new();
    while small.len() < 100 {
        let (p, l, nh) = prefixes[rng.below(prefixes.len())];
        small.insert(p, l, nh).expect("valid prefix");
    }
    println!(
        "  100 routes drawn from the table: {} bytes",
        small.memory_bytes()
    );

    let t = Instant::now();
    for &(p, l, _) in &prefixes {
        fib.remove(p, l).expect("valid prefix");
    }
    println!(
        "  remove all: {:.3} s, left {} bytes",
        t.elapsed().as_secs_f64(),
        fib.memory_bytes()
    );
}

fn bench_v6() {
    let routes = common::table(true);
    let prefixes: Vec<(Ipv6Addr, u8, NextHop)> = routes
        .iter()
        .map(|&(p, l, nh)| (Ipv6Addr::from(p), l, nh))
        .collect();
    let t = Instant::now();
    let mut fib = Fib6::new();
    for &(p, l, nh) in &prefixes {
        fib.insert(p, l, nh).expect("valid prefix");
    }
    let insert = t.elapsed();
    let t = Instant::now();
    let copy = black_box(fib.clone());
    let clone = t.elapsed();
    drop(copy);
    report(
        "IPv6",
        routes.len(),
        fib.len(),
        insert,
        fib.memory_bytes(),
        clone,
    );

    let updates: Vec<lpm::Update6> = prefixes
        .iter()
        .map(|&(p, l, nh)| lpm::Update6::Insert(p, l, nh))
        .collect();
    let t = Instant::now();
    let mut bulk = Fib6::new();
    bulk.apply(&updates).expect("valid prefixes");
    println!(
        "  bulk load: {:.3} s; lookup structure {} bytes ({:.2} bytes/prefix) after one-by-one inserts, {} bytes ({:.2} bytes/prefix) after a bulk load; route set {} bytes",
        t.elapsed().as_secs_f64(),
        fib.lookup_bytes(),
        fib.lookup_bytes() as f64 / fib.len() as f64,
        bulk.lookup_bytes(),
        bulk.lookup_bytes() as f64 / fib.len() as f64,
        bulk.route_set_bytes()
    );
    let fib = &bulk;
    let keys = keys(&routes, 128, &mut Rng(2));
    let single = rate(keys.len(), || {
        keys.iter().fold(0u64, |acc, &k| {
            acc.wrapping_add(u64::from(fib.lookup_u128(k)))
        })
    });
    let mut out = [0; BURST];
    let batch = rate(keys.len(), || {
        let mut acc = 0u64;
        for chunk in keys.chunks(BURST) {
            fib.lookup_batch(chunk, &mut out);
            acc = acc.wrapping_add(u64::from(out[0]));
        }
        acc
    });
    println!("  lookup over {} keys: single {single:.1} Mlookups/s, batch of {BURST} {batch:.1} Mlookups/s", keys.len());
}

fn main() {
    bench_v4();
    bench_v6();
}
