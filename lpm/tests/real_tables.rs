//! The RouteViews tables in ../shared/data (synthetic ones with the same prefix-length
//! mix when absent) against a sorted per-length reference: 100k random lookups after
//! loading, then more after removing a random part of the table.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use common::{mask, span, Rng, Sorted};
use lpm::{Fib4, Fib6, LpmError, NextHop, NO_ROUTE};

const LOOKUPS: usize = 100_000;

trait Table {
    const BITS: u8;
    fn insert(&mut self, p: u128, len: u8, nh: NextHop) -> Result<Option<NextHop>, LpmError>;
    fn remove(&mut self, p: u128, len: u8) -> Result<Option<NextHop>, LpmError>;
    fn lookup(&self, a: u128) -> Option<NextHop>;
    fn lookup_batch(&self, keys: &[u128]) -> Vec<NextHop>;
    fn len(&self) -> usize;
    fn memory_bytes(&self) -> usize;
}

impl Table for Fib4 {
    const BITS: u8 = 32;
    fn insert(&mut self, p: u128, len: u8, nh: NextHop) -> Result<Option<NextHop>, LpmError> {
        Fib4::insert(self, Ipv4Addr::from(p as u32), len, nh)
    }
    fn remove(&mut self, p: u128, len: u8) -> Result<Option<NextHop>, LpmError> {
        Fib4::remove(self, Ipv4Addr::from(p as u32), len)
    }
    fn lookup(&self, a: u128) -> Option<NextHop> {
        let hot = self.lookup_u32(a as u32);
        let checked = Fib4::lookup(self, Ipv4Addr::from(a as u32));
        assert_eq!(hot, checked.unwrap_or(NO_ROUTE));
        checked
    }
    fn lookup_batch(&self, keys: &[u128]) -> Vec<NextHop> {
        let keys: Vec<u32> = keys.iter().map(|&k| k as u32).collect();
        let mut out = vec![0; keys.len()];
        Fib4::lookup_batch(self, &keys, &mut out);
        out
    }
    fn len(&self) -> usize {
        Fib4::len(self)
    }
    fn memory_bytes(&self) -> usize {
        Fib4::memory_bytes(self)
    }
}

impl Table for Fib6 {
    const BITS: u8 = 128;
    fn insert(&mut self, p: u128, len: u8, nh: NextHop) -> Result<Option<NextHop>, LpmError> {
        Fib6::insert(self, Ipv6Addr::from(p), len, nh)
    }
    fn remove(&mut self, p: u128, len: u8) -> Result<Option<NextHop>, LpmError> {
        Fib6::remove(self, Ipv6Addr::from(p), len)
    }
    fn lookup(&self, a: u128) -> Option<NextHop> {
        let hot = self.lookup_u128(a);
        let checked = Fib6::lookup(self, Ipv6Addr::from(a));
        assert_eq!(hot, checked.unwrap_or(NO_ROUTE));
        checked
    }
    fn lookup_batch(&self, keys: &[u128]) -> Vec<NextHop> {
        let mut out = vec![0; keys.len()];
        Fib6::lookup_batch(self, keys, &mut out);
        out
    }
    fn len(&self) -> usize {
        Fib6::len(self)
    }
    fn memory_bytes(&self) -> usize {
        Fib6::memory_bytes(self)
    }
}

/// Random keys: half inside a random route, a quarter on a route's edges (first,
/// last, one either side), a quarter uniform.
fn keys(routes: &[(u128, u8, u32)], bits: u8, rng: &mut Rng) -> Vec<u128> {
    let top = mask(u128::MAX, bits, bits);
    (0..LOOKUPS)
        .map(|i| {
            let (p, l, _) = routes[rng.below(routes.len())];
            let (first, last) = span(p, l, bits);
            match i % 8 {
                0..=3 => p | (rng.next_u128() & (last - first)),
                4 => first.wrapping_sub(1) & top,
                5 => last.wrapping_add(1) & top,
                6 => [first, last][i / 8 % 2],
                _ => rng.next_u128() & top,
            }
        })
        .collect()
}

fn check_lookups<T: Table>(fib: &T, reference: &Sorted, keys: &[u128]) {
    let batch = fib.lookup_batch(keys);
    let mut hits = 0;
    for (&k, &b) in keys.iter().zip(&batch) {
        let want = reference.lookup(k);
        assert_eq!(fib.lookup(k), want, "lookup({k:#x})");
        assert_eq!(b, want.unwrap_or(NO_ROUTE), "batch lookup({k:#x})");
        hits += usize::from(want.is_some());
    }
    assert!(
        hits > keys.len() / 3,
        "too few keys hit ({hits} of {})",
        keys.len()
    );
}

fn run<T: Table + Default>(routes: &[(u128, u8, u32)]) {
    assert!(!routes.is_empty());

    let start = Instant::now();
    let mut fib = T::default();
    for &(p, l, nh) in routes {
        fib.insert(p, l, nh)
            .unwrap_or_else(|e| panic!("{p:#x}/{l}: {e}"));
    }
    let inserted = start.elapsed();
    let reference = Sorted::new(T::BITS, routes);
    assert_eq!(fib.len(), reference.len());
    println!(
        "{} routes ({} distinct): inserted in {inserted:?} (debug build), {} bytes",
        routes.len(),
        fib.len(),
        fib.memory_bytes()
    );

    let mut rng = Rng(u64::from(T::BITS));
    check_lookups(&fib, &reference, &keys(routes, T::BITS, &mut rng));

    // Remove a random quarter of the distinct routes, then compare again.
    let distinct = reference.routes();
    let (mut kept, mut removed) = (Vec::new(), Vec::new());
    for &r in &distinct {
        if rng.below(4) == 0 {
            removed.push(r);
        } else {
            kept.push(r);
        }
    }
    for &(p, l, nh) in &removed {
        assert_eq!(fib.remove(p, l), Ok(Some(nh)), "remove {p:#x}/{l}");
        assert_eq!(fib.remove(p, l), Ok(None), "remove {p:#x}/{l} again");
    }
    let kept_ref = Sorted::new(T::BITS, &kept);
    assert_eq!(fib.len(), kept.len());
    check_lookups(&fib, &kept_ref, &keys(routes, T::BITS, &mut rng));
}

#[test]
fn real_v4_table_matches_reference() {
    run::<Fib4>(&common::table(false));
}

#[test]
fn real_v6_table_matches_reference() {
    run::<Fib6>(&common::table(true));
}

/// The fallback tables, so that they stay usable where the real ones are absent.
#[test]
fn synthetic_tables_match_reference() {
    let mut rng = Rng(7);
    let v4 = common::synthetic_routes(false, &mut rng);
    // A quarter of the IPv4 one keeps the debug build quick.
    run::<Fib4>(&v4[..v4.len() / 4]);
    run::<Fib6>(&common::synthetic_routes(true, &mut rng));
}
