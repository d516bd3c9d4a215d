//! Property tests: `Fib4`/`Fib6` against a naive reference that scans every route.

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use common::{mask, span, Naive};
use lpm::{Fib4, Fib6, LpmError, NextHop, NO_ROUTE};
use proptest::prelude::*;

/// One family behind a common face, keys right-aligned in a `u128`.
trait Table: Clone {
    const BITS: u8;
    fn new() -> Self;
    fn insert(&mut self, p: u128, len: u8, nh: NextHop) -> Result<Option<NextHop>, LpmError>;
    fn remove(&mut self, p: u128, len: u8) -> Result<Option<NextHop>, LpmError>;
    fn lookup(&self, a: u128) -> Option<NextHop>;
    fn lookup_hot(&self, a: u128) -> NextHop;
    fn lookup_batch(&self, keys: &[u128]) -> Vec<NextHop>;
    fn routes(&self) -> BTreeSet<(u128, u8, NextHop)>;
    fn len(&self) -> usize;
}

impl Table for Fib4 {
    const BITS: u8 = 32;
    fn new() -> Self {
        Fib4::new()
    }
    fn insert(&mut self, p: u128, len: u8, nh: NextHop) -> Result<Option<NextHop>, LpmError> {
        Fib4::insert(self, Ipv4Addr::from(p as u32), len, nh)
    }
    fn remove(&mut self, p: u128, len: u8) -> Result<Option<NextHop>, LpmError> {
        Fib4::remove(self, Ipv4Addr::from(p as u32), len)
    }
    fn lookup(&self, a: u128) -> Option<NextHop> {
        Fib4::lookup(self, Ipv4Addr::from(a as u32))
    }
    fn lookup_hot(&self, a: u128) -> NextHop {
        self.lookup_u32(a as u32)
    }
    fn lookup_batch(&self, keys: &[u128]) -> Vec<NextHop> {
        let keys: Vec<u32> = keys.iter().map(|&k| k as u32).collect();
        let mut out = vec![0; keys.len()];
        Fib4::lookup_batch(self, &keys, &mut out);
        out
    }
    fn routes(&self) -> BTreeSet<(u128, u8, NextHop)> {
        self.iter()
            .map(|(p, l, nh)| (u128::from(u32::from(p)), l, nh))
            .collect()
    }
    fn len(&self) -> usize {
        Fib4::len(self)
    }
}

impl Table for Fib6 {
    const BITS: u8 = 128;
    fn new() -> Self {
        Fib6::new()
    }
    fn insert(&mut self, p: u128, len: u8, nh: NextHop) -> Result<Option<NextHop>, LpmError> {
        Fib6::insert(self, Ipv6Addr::from(p), len, nh)
    }
    fn remove(&mut self, p: u128, len: u8) -> Result<Option<NextHop>, LpmError> {
        Fib6::remove(self, Ipv6Addr::from(p), len)
    }
    fn lookup(&self, a: u128) -> Option<NextHop> {
        Fib6::lookup(self, Ipv6Addr::from(a))
    }
    fn lookup_hot(&self, a: u128) -> NextHop {
        self.lookup_u128(a)
    }
    fn lookup_batch(&self, keys: &[u128]) -> Vec<NextHop> {
        let mut out = vec![0; keys.len()];
        Fib6::lookup_batch(self, keys, &mut out);
        out
    }
    fn routes(&self) -> BTreeSet<(u128, u8, NextHop)> {
        self.iter()
            .map(|(p, l, nh)| (u128::from(p), l, nh))
            .collect()
    }
    fn len(&self) -> usize {
        Fib6::len(self)
    }
}

/// Keys on and around the edges of `prefix/len`: first, last, and one either side.
fn edge_keys<T: Table>(prefix: u128, len: u8, out: &mut Vec<u128>) {
    let (first, last) = span(prefix, len, T::BITS);
    let top = mask(u128::MAX, T::BITS, T::BITS);
    out.extend([
        first,
        last,
        first.wrapping_sub(1) & top,
        last.wrapping_add(1) & top,
    ]);
}

fn check_key<T: Table>(fib: &T, reference: &Naive, key: u128) -> Result<(), TestCaseError> {
    let want = reference.lookup(key);
    prop_assert_eq!(fib.lookup(key), want, "lookup({:#x})", key);
    prop_assert_eq!(
        fib.lookup_hot(key),
        want.unwrap_or(NO_ROUTE),
        "hot lookup({:#x})",
        key
    );
    Ok(())
}

/// Full comparison: route set, every probe key, batch equal to single lookups.
fn check_table<T: Table>(fib: &T, reference: &Naive, extra: &[u128]) -> Result<(), TestCaseError> {
    prop_assert_eq!(fib.len(), reference.routes.len());
    let want: BTreeSet<_> = reference
        .routes
        .iter()
        .map(|(&(p, l), &nh)| (p, l, nh))
        .collect();
    prop_assert_eq!(fib.routes(), want);
    let mut keys = extra.to_vec();
    for &(p, l) in reference.routes.keys() {
        edge_keys::<T>(p, l, &mut keys);
    }
    for &k in &keys {
        check_key(fib, reference, k)?;
    }
    let singles: Vec<NextHop> = keys.iter().map(|&k| fib.lookup_hot(k)).collect();
    prop_assert_eq!(fib.lookup_batch(&keys), singles);
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u128, u8, NextHop),
    /// Remove a random prefix.
    Remove(u128, u8),
    /// Remove the i-th (mod count) route currently in the table.
    RemoveExisting(usize),
}

fn arb_prefix(bits: u8) -> impl Strategy<Value = (u128, u8)> {
    // Mostly keys clustered around a few bases so prefixes nest and overlap; the
    // lengths favour stride boundaries and their neighbours.
    let bases: Vec<u128> = if bits == 32 {
        vec![0x0a00_0000, 0x0a01_0280, 0xc0a8_0000, 0xffff_ffff, 0]
    } else {
        vec![
            0x2001_0db8 << 96,
            (0x2001_0db8 << 96) | (0xab << 64),
            u128::MAX,
            0,
            0xfe80 << 112,
        ]
    };
    let stride_lens = (0..=bits / 8).flat_map(|s| [8 * s, (8 * s).saturating_sub(1), 8 * s + 1]);
    let lens: Vec<u8> = stride_lens.filter(|&l| l <= bits).collect();
    (
        prop::sample::select(bases),
        any::<u128>(),
        0..=u32::from(bits),
        prop_oneof![0..=bits, prop::sample::select(lens)],
    )
        .prop_map(move |(base, noise, shift, len)| {
            let addr = (base
                ^ noise
                    .checked_shr(shift + 128 - u32::from(bits))
                    .unwrap_or(0))
                & mask(u128::MAX, bits, bits);
            (mask(addr, len, bits), len)
        })
}

fn arb_nh() -> impl Strategy<Value = NextHop> {
    prop_oneof![4 => 0u32..6, 1 => any::<u32>()]
}

fn arb_ops(bits: u8, max: usize) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        5 => (arb_prefix(bits), arb_nh()).prop_map(|((p, l), nh)| Op::Insert(p, l, nh)),
        1 => arb_prefix(bits).prop_map(|(p, l)| Op::Remove(p, l)),
        3 => any::<usize>().prop_map(Op::RemoveExisting),
    ];
    prop::collection::vec(op, 1..max)
}

/// Applies `ops` to both tables, checking every return value and the lookups around
/// each edited prefix as it goes, a clone taken halfway, and everything at the end.
fn run_ops<T: Table>(ops: &[Op], random_keys: &[u128]) -> Result<(), TestCaseError> {
    let mut fib = T::new();
    let mut reference = Naive::new(T::BITS);
    let mut snapshot = None;
    for (step, op) in ops.iter().enumerate() {
        if step == ops.len() / 2 {
            snapshot = Some((fib.clone(), reference.clone()));
        }
        let (p, l) = match *op {
            Op::Insert(p, l, nh) => {
                prop_assert_eq!(fib.insert(p, l, nh), Ok(reference.insert(p, l, nh)));
                (p, l)
            }
            Op::Remove(p, l) => {
                prop_assert_eq!(fib.remove(p, l), Ok(reference.remove(p, l)));
                (p, l)
            }
            Op::RemoveExisting(i) => {
                if reference.routes.is_empty() {
                    continue;
                }
                let &(p, l) = reference
                    .routes
                    .keys()
                    .nth(i % reference.routes.len())
                    .unwrap();
                prop_assert_eq!(fib.remove(p, l), Ok(reference.remove(p, l)));
                (p, l)
            }
        };
        let mut keys = Vec::new();
        edge_keys::<T>(p, l, &mut keys);
        if l > 0 {
            // The parent prefix's edges: where a removed route's cover shows again.
            edge_keys::<T>(mask(p, l - 1, T::BITS), l - 1, &mut keys);
        }
        for k in keys {
            check_key(&fib, &reference, k)?;
        }
    }
    check_table(&fib, &reference, random_keys)?;
    if let Some((fib, reference)) = snapshot {
        check_table(&fib, &reference, random_keys)?;
    }
    Ok(())
}

fn random_keys(bits: u8) -> impl Strategy<Value = Vec<u128>> {
    prop::collection::vec(
        any::<u128>().prop_map(move |k| k & mask(u128::MAX, bits, bits)),
        0..64,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v4_random_tables(routes in prop::collection::vec((arb_prefix(32), arb_nh()), 0..150), keys in random_keys(32)) {
        let ops: Vec<Op> = routes.into_iter().map(|((p, l), nh)| Op::Insert(p, l, nh)).collect();
        run_ops::<Fib4>(&ops, &keys)?;
    }

    #[test]
    fn v4_insert_remove_sequences(ops in arb_ops(32, 120), keys in random_keys(32)) {
        run_ops::<Fib4>(&ops, &keys)?;
    }

    #[test]
    fn v6_random_tables(routes in prop::collection::vec((arb_prefix(128), arb_nh()), 0..100), keys in random_keys(128)) {
        let ops: Vec<Op> = routes.into_iter().map(|((p, l), nh)| Op::Insert(p, l, nh)).collect();
        run_ops::<Fib6>(&ops, &keys)?;
    }

    #[test]
    fn v6_insert_remove_sequences(ops in arb_ops(128, 100), keys in random_keys(128)) {
        run_ops::<Fib6>(&ops, &keys)?;
    }

    #[test]
    fn invalid_prefixes_match_validation(addr in any::<u128>(), len in 0u8..=140) {
        let a4 = addr as u32;
        let want4 = if len > 32 { Err(LpmError::PrefixTooLong) }
            else if mask(u128::from(a4), len, 32) != u128::from(a4) { Err(LpmError::HostBitsSet) }
            else { Ok(None) };
        prop_assert_eq!(Fib4::new().insert(Ipv4Addr::from(a4), len, 1), want4);
        let want6 = if len > 128 { Err(LpmError::PrefixTooLong) }
            else if mask(addr, len, 128) != addr { Err(LpmError::HostBitsSet) }
            else { Ok(None) };
        prop_assert_eq!(Fib6::new().insert(Ipv6Addr::from(addr), len, 1), want6);
    }
}
