//! `Compact4` and `lookup_each4` against the DXR lookup of the table they were
//! built from, on random small tables and at every interval boundary.

use super::*;
use crate::{Update4, NO_ROUTE};
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// Prefixes clustered around a few bases (so that they nest and overlap), the
/// top and bottom of the space included.
fn arb_route() -> impl Strategy<Value = (u32, u8, NextHop)> {
    (0usize..4, any::<u32>(), 0u32..=32, 0u8..=32, 0u32..8).prop_map(|(b, noise, s, len, nh)| {
        const BASES: [u32; 4] = [0x0a00_0000, 0xc0a8_0100, 0xffff_ffff, 0];
        let a = BASES[b] ^ noise.checked_shr(s).unwrap_or(0);
        // Next hop 7 stands for `NO_ROUTE` (a route may point there too), 6 for
        // the highest hop a leaf's nibble holds.
        let nh = match nh {
            7 => NO_ROUTE,
            6 => 14,
            nh => nh,
        };
        (a & mask(len), len, nh)
    })
}

fn fib_of(routes: &[(u32, u8, NextHop)]) -> Fib4 {
    let mut fib = Fib4::new();
    let batch: Vec<_> = routes
        .iter()
        .map(|&(p, l, nh)| Update4::Insert(Ipv4Addr::from(p), l, nh))
        .collect();
    fib.apply(&batch).unwrap();
    fib
}

/// Keys worth checking in `fib`: both sides of every interval boundary, the ends
/// of the space, and `extra`.
fn probe_keys(fib: &Fib4, extra: &[u32]) -> Vec<u32> {
    let mut keys = vec![0, 1, u32::MAX - 1, u32::MAX];
    for (p, l, _) in fib.iter() {
        let p = u32::from(p);
        let last = p | !mask(l);
        keys.extend([p, p.wrapping_sub(1), last, last.wrapping_add(1)]);
    }
    keys.extend_from_slice(extra);
    keys
}

/// `lookup_u32`, and the same in two steps (`leaf`, then `lookup_leaf`), with
/// the 16-bit root too where the table has one.
fn check_single(fib: &Fib4, c: &Compact4, keys: &[u32]) -> Result<(), TestCaseError> {
    let root16 = c.root16();
    for &k in keys {
        let want = fib.lookup_u32(k);
        prop_assert_eq!(c.lookup_u32(k), want, "key {:#010x}", k);
        prop_assert_eq!(
            c.lookup_leaf(c.leaf(k), k),
            want,
            "key {:#010x} in two steps",
            k
        );
        if let Some(r) = &root16 {
            // (Its leaf may be a copy of the last where the root line's is the
            // last itself.)
            prop_assert_eq!(
                c.lookup_leaf(c.leaf_by(r, k), k),
                want,
                "key {:#010x} by Root16",
                k
            );
        }
    }
    Ok(())
}

/// Routes like a tenant's of the benchmark: prefixes of /8 to /24 anywhere in
/// the space (the top and bottom halves alike), one of four hops.
fn arb_spread_route() -> impl Strategy<Value = (u32, u8, NextHop)> {
    (any::<u32>(), 8u8..=24, 0u32..4).prop_map(|(a, len, nh)| (a & mask(len), len, nh))
}

#[test]
fn empty_and_default_tables() {
    let empty = Fib4::new().compact().unwrap();
    assert_eq!(empty.leaves(), 1);
    for k in [0, 0x0a00_0001, u32::MAX] {
        assert_eq!(empty.lookup_u32(k), NO_ROUTE);
    }
    let all = fib_of(&[(0, 0, 9)]).compact().unwrap();
    for k in [0, 0x0a00_0001, u32::MAX] {
        assert_eq!(all.lookup_u32(k), 9);
    }
}

/// `n` /32s spaced apart: `2n + 1` intervals (`n` when they are adjacent).
fn spaced(n: u32, nh: impl Fn(u32) -> NextHop) -> Fib4 {
    let routes: Vec<_> = (0..n).map(|i| (0x0100_0000 + 16 * i, 32, nh(i))).collect();
    fib_of(&routes)
}

#[test]
fn capacity_is_255_intervals() {
    // 127 routes: 255 intervals, 17 leaves of 15; 128: 257.
    let fits = spaced(127, |i| i % 15);
    let c = fits.compact().expect("255 intervals fit");
    assert_eq!(c.leaves(), 17);
    let keys = probe_keys(&fits, &[]);
    for &k in &keys {
        assert_eq!(c.lookup_u32(k), fits.lookup_u32(k), "key {k:#x}");
    }
    assert!(spaced(128, |i| i % 15).compact().is_none());
    // A route at the very top: the last interval ends at u32::MAX inside a leaf
    // with padding (n = 5, 11, 13: 12, 24, 28 intervals), and in a full last
    // leaf (n = 14: 30).
    for n in [5u32, 11, 13, 14] {
        let mut routes: Vec<_> = (0..n).map(|i| (0x0100_0000 + 16 * i, 32, i)).collect();
        routes.push((u32::MAX, 32, 9));
        let fib = fib_of(&routes);
        let c = fib.compact().unwrap();
        assert_eq!(c.lookup_u32(u32::MAX), 9, "{n} routes");
        assert_eq!(c.lookup_u32(u32::MAX - 1), NO_ROUTE, "{n} routes");
        check_single(&fib, &c, &probe_keys(&fib, &[])).unwrap();
    }
    // Big tables are refused without a sweep.
    let big: Vec<_> = (0..5000u32).map(|i| (i << 8, 24, 1)).collect();
    assert!(fib_of(&big).compact().is_none());
}

/// A leaf is one cache line: the root and 14 leaves for 100 spaced routes (201
/// intervals); every table has room for 17, plus the line of the `Arc`'s counts.
#[test]
fn a_leaf_is_one_line() {
    let c = spaced(100, |i| i % 4).compact().unwrap();
    assert_eq!(c.leaves(), 14);
    assert_eq!(c.memory_bytes(), (1 + 17 + 1) * 64);
    assert_eq!(size_of::<Line>(), 64);
    assert_eq!(size_of::<Root16>(), 32);
}

/// Leaves are cut at /16 boundaries when the table allows: 100 routes in 100
/// /16s of both halves of the space (201 intervals, 17 leaves at /16 cuts), so
/// that the root's separators are their top 16 bits. Unsigned compares: a
/// signed one gets every key above 0x8000_0000 wrong here.
#[test]
fn root16_when_leaves_cut_at_16_bits() {
    let routes: Vec<_> = (0..100u32)
        .map(|i| ((i * 0x028f_0000) ^ 0x0012_3400, 24, i % 3))
        .collect();
    let fib = fib_of(&routes);
    let c = fib.compact().unwrap();
    let r = c.root16().expect("one route per /16: cut at /16s");
    assert_ne!(r, Root16::NONE);
    assert!(c.leaves() <= 17);
    let mut keys = probe_keys(&fib, &[0xffff_0000, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff]);
    keys.extend((0..=0xffffu32).map(|b| (b << 16) | 0x1234));
    check_single(&fib, &c, &keys).unwrap();
    // More than 14 starts inside one /16: no cut there, no Root16, the same
    // answers through the root line.
    let mut dense = routes.clone();
    dense.extend((0..8u32).map(|i| (0x0a0a_0000 + (i << 9), 24, 1)));
    let fib = fib_of(&dense);
    let c = fib.compact().unwrap();
    assert!(c.root16().is_none());
    check_single(&fib, &c, &probe_keys(&fib, &[])).unwrap();
}

/// Next hops are nibbles in a leaf: 14 is the highest that fits, `NO_ROUTE` has
/// its own, and a table with any hop above 14 has no compact form.
#[test]
fn next_hops_must_fit_a_nibble() {
    let fib = spaced(20, |i| if i % 2 == 0 { 14 } else { NO_ROUTE });
    let c = fib.compact().expect("14 and NO_ROUTE fit");
    check_single(&fib, &c, &probe_keys(&fib, &[])).unwrap();
    assert_eq!(c.lookup_u32(0x0100_0000), 14);
    assert_eq!(c.lookup_u32(0x0100_0010), NO_ROUTE);
    // Every hop in every place of a leaf (15 intervals).
    let fib = spaced(40, |i| (i * 7) % 15);
    check_single(&fib, &fib.compact().unwrap(), &probe_keys(&fib, &[])).unwrap();
    assert!(spaced(20, |i| if i == 19 { 15 } else { 1 })
        .compact()
        .is_none());
    assert!(spaced(20, |i| 1000 + i).compact().is_none());
    // The default route's hop too (interval 0 of leaf 0, a start the leaf does
    // not store).
    let fib = fib_of(&[(0, 0, 12), (0x0a00_0000, 8, 3)]);
    let c = fib.compact().unwrap();
    assert_eq!(c.lookup_u32(0), 12);
    assert_eq!(c.lookup_u32(0x0a01_0203), 3);
    assert_eq!(c.lookup_u32(u32::MAX), 12);
    assert!(fib_of(&[(0, 0, 15)]).compact().is_none());
}

#[test]
#[should_panic(expected = "one table per key")]
fn lookup_each_checks_lengths() {
    let c = Fib4::new().compact().unwrap();
    lookup_each4(&[&c], &[1, 2], &mut [0; 2]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Tables like the benchmark's tenants': the 16-bit root (where there is
    /// one) answers like the root line.
    #[test]
    fn root16_answers_as_the_table(
        routes in prop::collection::vec(arb_spread_route(), 0..=100),
        extra in prop::collection::vec(any::<u32>(), 0..64),
    ) {
        let fib = fib_of(&routes);
        let c = fib.compact().unwrap();
        check_single(&fib, &c, &probe_keys(&fib, &extra))?;
    }

    #[test]
    fn compact_answers_as_the_table(
        routes in prop::collection::vec(arb_route(), 0..=127),
        extra in prop::collection::vec(any::<u32>(), 0..64),
    ) {
        let fib = fib_of(&routes);
        let c = fib.compact();
        // At most 127 routes: at most 255 intervals, always a compact table.
        prop_assert!(c.is_some());
        let c = c.unwrap();
        check_single(&fib, &c, &probe_keys(&fib, &extra))?;
    }

    /// Each key in its own table: the batch (AVX-512 where the CPU has it, and the
    /// portable path) against every table's own lookup, batches longer than a group
    /// and with a partial last group included.
    #[test]
    fn lookup_each_answers_as_each_table(
        tables in prop::collection::vec(prop::collection::vec(arb_route(), 0..110), 1..8),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u32>()), 0..100),
    ) {
        let fibs: Vec<Fib4> = tables.iter().map(|r| fib_of(r)).collect();
        let compacts: Vec<Compact4> = fibs.iter().map(|f| f.compact().unwrap()).collect();
        let keys_of: Vec<Vec<u32>> = fibs.iter().map(|f| probe_keys(f, &[])).collect();
        let mut ts = Vec::new();
        let mut keys = Vec::new();
        let mut want = Vec::new();
        for (t, k, r) in picks {
            let t = t.index(fibs.len());
            // Half the keys at boundaries, half anywhere.
            let key = if r & 1 == 0 { keys_of[t][k.index(keys_of[t].len())] } else { r };
            ts.push(&compacts[t]);
            keys.push(key);
            want.push(fibs[t].lookup_u32(key));
        }
        let mut out = vec![0xdead; keys.len() + 1];
        lookup_each4(&ts, &keys, &mut out);
        prop_assert_eq!(&out[..keys.len()], &want[..]);
        prop_assert_eq!(out[keys.len()], 0xdead, "writes only keys.len() outputs");
        let mut portable = vec![0; keys.len()];
        lookup_each_portable(&ts, &keys, &mut portable);
        prop_assert_eq!(portable, want);
    }
}
