//! The RouteViews tables in ../shared/data (synthetic ones with the same prefix-length
//! mix when absent, said on stdout) against a sorted per-length reference: 100k random
//! lookups after loading, then more after removing a random part of the table; and
//! the first, last and middle address of every route, after a bulk load and after a
//! batch of withdrawals and re-announcements.

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use common::{mask, span, Rng, Sorted};
use lpm::{Fib4, Fib6, LpmError, NextHop, Update, NO_ROUTE};

const LOOKUPS: usize = 100_000;

trait Table {
    const BITS: u8;
    fn insert(&mut self, p: u128, len: u8, nh: NextHop) -> Result<Option<NextHop>, LpmError>;
    fn remove(&mut self, p: u128, len: u8) -> Result<Option<NextHop>, LpmError>;
    fn lookup(&self, a: u128) -> Option<NextHop>;
    fn lookup_batch(&self, keys: &[u128]) -> Vec<NextHop>;
    /// One batch: `Some(nh)` inserts or replaces, `None` removes.
    fn apply(&mut self, edits: &[(u128, u8, Option<NextHop>)]);
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
    fn apply(&mut self, edits: &[(u128, u8, Option<NextHop>)]) {
        let edits: Vec<_> = edits
            .iter()
            .map(|&(p, l, nh)| match nh {
                Some(nh) => Update::Insert(Ipv4Addr::from(p as u32), l, nh),
                None => Update::Remove(Ipv4Addr::from(p as u32), l),
            })
            .collect();
        Fib4::apply(self, &edits).expect("valid prefixes");
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
    fn apply(&mut self, edits: &[(u128, u8, Option<NextHop>)]) {
        let edits: Vec<_> = edits
            .iter()
            .map(|&(p, l, nh)| match nh {
                Some(nh) => Update::Insert(Ipv6Addr::from(p), l, nh),
                None => Update::Remove(Ipv6Addr::from(p), l),
            })
            .collect();
        Fib6::apply(self, &edits).expect("valid prefixes");
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

/// The first, last and middle address of every route in `routes` give what the
/// reference gives: that route's next hop, or a more specific route's. All through
/// the batch lookup (the packet path), a sample through the scalar ones.
fn check_every_route<T: Table>(fib: &T, reference: &Sorted, routes: &[(u128, u8, u32)]) {
    let mut keys = Vec::with_capacity(routes.len() * 3);
    for &(p, l, _) in routes {
        let (first, last) = span(p, l, T::BITS);
        keys.extend([first, last, first + (last - first) / 2]);
    }
    let got = fib.lookup_batch(&keys);
    for (i, (&k, &g)) in keys.iter().zip(&got).enumerate() {
        let want = reference.lookup(k);
        let (p, l, _) = routes[i / 3];
        assert_eq!(
            g,
            want.unwrap_or(NO_ROUTE),
            "{} address {k:#x} of route {p:#x}/{l}",
            ["first", "last", "middle"][i % 3]
        );
        if i % 16 == 0 {
            assert_eq!(fib.lookup(k), want, "scalar lookup of {k:#x}");
        }
    }
}

/// Bulk load in one batch, every route checked; then one batch withdraws a quarter of
/// the routes and gives an eighth new next hops, and every original route's addresses
/// are checked again (a withdrawn route's addresses must show its cover).
fn every_route<T: Table + Default>(routes: &[(u128, u8, u32)]) {
    let mut fib = T::default();
    let load: Vec<_> = routes.iter().map(|&(p, l, nh)| (p, l, Some(nh))).collect();
    let start = Instant::now();
    fib.apply(&load);
    println!(
        "{} routes loaded in one batch in {:?}",
        routes.len(),
        start.elapsed()
    );
    let reference = Sorted::new(T::BITS, routes);
    let distinct = reference.routes();
    assert_eq!(fib.len(), distinct.len());
    check_every_route(&fib, &reference, &distinct);

    let mut rng = Rng(11);
    let mut after: BTreeMap<(u128, u8), u32> =
        distinct.iter().map(|&(p, l, nh)| ((p, l), nh)).collect();
    let mut edits = Vec::new();
    for &(p, l, nh) in &distinct {
        match rng.below(8) {
            0 | 1 => {
                edits.push((p, l, None));
                after.remove(&(p, l));
            }
            2 => {
                edits.push((p, l, Some(nh ^ 0x5a5a)));
                after.insert((p, l), nh ^ 0x5a5a);
            }
            _ => {}
        }
    }
    fib.apply(&edits);
    let after: Vec<_> = after.into_iter().map(|((p, l), nh)| (p, l, nh)).collect();
    assert_eq!(fib.len(), after.len());
    check_every_route(&fib, &Sorted::new(T::BITS, &after), &distinct);
}

#[test]
fn every_route_of_the_v4_table() {
    every_route::<Fib4>(&common::table(false));
}

#[test]
fn every_route_of_the_v6_table() {
    every_route::<Fib6>(&common::table(true));
}

/// The synthetic tables as well, so that CI exercises them whether or not the real
/// ones are there.
#[test]
fn every_route_of_the_synthetic_tables() {
    let mut rng = Rng(13);
    every_route::<Fib4>(&common::synthetic_routes(false, &mut rng));
    every_route::<Fib6>(&common::synthetic_routes(true, &mut rng));
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
