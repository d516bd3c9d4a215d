//! Informational: lookups spread over many small tables, as in a burst of frames from
//! 10,000 tenants (perf/fwd scenario 4): each tenant gets 100 routes drawn from the
//! real IPv4 table (a synthetic one when absent), each key a random tenant and an
//! address inside one of its routes. Compares, in batches of 32 (table, key) pairs:
//! the DXR lookup per key (`Fib4::lookup_u32`, what the dataplane ran per frame),
//! `lookup_each4` on the tables' `Compact4` forms, and the same two levels apart
//! (`Compact4::leaf` for the batch, then `lookup_leaf`). Best of 3 rounds, million
//! lookups per second (wall clock: run it on a quiet core, or compare within a run).
//!
//! `cargo run --release -p lpm --example many [tenants] [routes]`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{span, Rng};
use lpm::{lookup_each4, Compact4, CompactLeaf, Fib4, NextHop, Update4};

const KEYS: usize = 1 << 21;
const BURST: usize = 32;
const ROUNDS: usize = 3;

fn rate(mut f: impl FnMut() -> u64) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        black_box(f());
        best = best.min(t.elapsed());
    }
    KEYS as f64 / best.as_secs_f64() / 1e6
}

fn main() {
    let mut args = std::env::args().skip(1);
    let tenants: usize = args.next().map_or(10_000, |a| a.parse().expect("tenants"));
    let per: usize = args.next().map_or(100, |a| a.parse().expect("routes"));
    let all = common::table(false);
    let mut rng = Rng(0x007e_4a47);
    let mut fibs = Vec::with_capacity(tenants);
    let mut routes = Vec::with_capacity(tenants);
    for _ in 0..tenants {
        let mine: Vec<(u128, u8, u32)> = (0..per)
            .map(|_| {
                let (p, l, _) = all[rng.below(all.len())];
                (p, l, 1 + rng.below(4) as u32)
            })
            .collect();
        let batch: Vec<_> = mine
            .iter()
            .map(|&(p, l, nh)| Update4::Insert(Ipv4Addr::from(p as u32), l, nh))
            .collect();
        let mut fib = Fib4::new();
        fib.apply(&batch).expect("routes from the table are valid");
        fibs.push(fib);
        routes.push(mine);
    }
    let compacts: Vec<Compact4> = fibs
        .iter()
        .map(|f| f.compact().expect("100 routes fit a compact table"))
        .collect();
    let bytes: usize = compacts.iter().map(Compact4::memory_bytes).sum();
    let dxr: usize = fibs.iter().map(Fib4::lookup_bytes).sum();
    println!(
        "{tenants} tenants x {per} routes: compact {:.0} B/table, DXR lookup structure {:.0} B/table",
        bytes as f64 / tenants as f64,
        dxr as f64 / tenants as f64
    );
    let mut ts = Vec::with_capacity(KEYS);
    let mut keys = Vec::with_capacity(KEYS);
    for _ in 0..KEYS {
        let t = rng.below(tenants);
        let (p, l, _) = routes[t][rng.below(per)];
        let (first, last) = span(p, l, 32);
        ts.push(t);
        keys.push((p | (rng.next_u128() & (last - first))) as u32);
    }

    let mut want = vec![0; KEYS];
    let dxr = rate(|| {
        for (i, (&t, &k)) in ts.iter().zip(&keys).enumerate() {
            want[i] = fibs[t].lookup_u32(k);
        }
        u64::from(want[KEYS - 1])
    });
    let refs: Vec<&Compact4> = ts.iter().map(|&t| &compacts[t]).collect();
    let mut out = vec![0; KEYS];
    let each = rate(|| {
        for ((r, k), o) in refs
            .chunks(BURST)
            .zip(keys.chunks(BURST))
            .zip(out.chunks_mut(BURST))
        {
            lookup_each4(r, k, o);
        }
        u64::from(out[KEYS - 1])
    });
    assert_eq!(out, want, "lookup_each4 disagrees with the DXR lookup");
    let mut two = vec![0; KEYS];
    let split = rate(|| {
        let mut leaves = [CompactLeaf::default(); BURST];
        for ((r, k), o) in refs
            .chunks(BURST)
            .zip(keys.chunks(BURST))
            .zip(two.chunks_mut(BURST))
        {
            for l in 0..r.len() {
                leaves[l] = r[l].leaf(k[l]);
            }
            for l in 0..r.len() {
                o[l] = r[l].lookup_leaf(leaves[l], k[l]);
            }
        }
        u64::from(two[KEYS - 1])
    });
    assert_eq!(
        two, want,
        "leaf + lookup_leaf disagrees with the DXR lookup"
    );
    let hits = want
        .iter()
        .filter(|&&h: &&NextHop| h != lpm::NO_ROUTE)
        .count();
    println!("{KEYS} keys ({hits} with a route), M lookups/s (best of {ROUNDS}):");
    println!("  DXR lookup_u32 per key       {dxr:7.1}");
    println!(
        "  lookup_each4, batches of 32  {each:7.1}  ({:.2}x)",
        each / dxr
    );
    println!(
        "  leaf, then lookup_leaf       {split:7.1}  ({:.2}x)",
        split / dxr
    );
}
