//! Edge cases, and structural invariants under random edits (node recycling, next-hop
//! refcounts). Behaviour against a naive reference lives in `tests/reference.rs`.

use super::*;
use proptest::prelude::*;

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn fib4(routes: &[(&str, u8, NextHop)]) -> Fib4 {
    let mut fib = Fib4::new();
    for &(p, l, nh) in routes {
        fib.insert(v4(p), l, nh).unwrap();
    }
    fib.table.check_invariants();
    fib
}

/// A random edit of `(p, l)` for the batched-update tests, mirrored in the
/// reference `routes`: removed or (re)inserted with even odds, the next hop
/// drawn by `hop` from the next random word.
fn edit6(
    routes: &mut std::collections::HashMap<(u128, u8), NextHop>,
    (p, l): (u128, u8),
    next: &mut dyn FnMut() -> u64,
    hop: impl Fn(u64) -> NextHop,
) -> Update6 {
    if next().is_multiple_of(2) {
        routes.remove(&(p, l));
        Update6::Remove(Ipv6Addr::from(p), l)
    } else {
        let nh = hop(next());
        routes.insert((p, l), nh);
        Update6::Insert(Ipv6Addr::from(p), l, nh)
    }
}

/// A xorshift64 generator from `seed` (nonzero): the random tests' keys and tables.
pub(crate) fn xorshift(mut rng: u64) -> impl FnMut() -> u64 {
    move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    }
}

#[test]
fn types_are_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + Default + 'static>() {}
    assert_traits::<Fib4>();
    assert_traits::<Fib6>();
    fn assert_error<T: std::error::Error + Send + Sync + Copy + 'static>() {}
    assert_error::<LpmError>();
}

#[test]
fn empty_table() {
    let fib = Fib4::new();
    assert!(fib.is_empty());
    assert_eq!(fib.len(), 0);
    assert_eq!(fib.memory_bytes(), 0);
    assert_eq!(fib.lookup(v4("1.2.3.4")), None);
    assert_eq!(fib.lookup_u32(0), NO_ROUTE);
    let mut out = [0; 20];
    fib.lookup_batch(&[1; 19], &mut out);
    assert!(out[..19].iter().all(|&x| x == NO_ROUTE));
    assert_eq!(out[19], 0, "batch writes only addrs.len() outputs");
    assert_eq!(fib.iter().count(), 0);
    let fib6 = Fib6::new();
    assert_eq!(fib6.memory_bytes(), 0);
    assert_eq!(fib6.lookup_u128(u128::MAX), NO_ROUTE);
    // A handle, not the table: cheap to keep per tenant.
    assert!(std::mem::size_of::<Fib4>() <= 400 && std::mem::size_of::<Fib6>() <= 400);
}

#[test]
fn default_route_v4() {
    let mut fib = fib4(&[("0.0.0.0", 0, 7)]);
    assert_eq!(fib.lookup(v4("0.0.0.0")), Some(7));
    assert_eq!(fib.lookup(v4("255.255.255.255")), Some(7));
    assert_eq!(fib.lookup_u32(0x0a00_0001), 7);
    fib.insert(v4("10.0.0.0"), 8, 8).unwrap();
    fib.insert(v4("10.1.2.3"), 32, 9).unwrap();
    assert_eq!(fib.lookup(v4("10.200.0.1")), Some(8));
    assert_eq!(fib.lookup(v4("10.1.2.3")), Some(9));
    assert_eq!(fib.lookup(v4("11.0.0.0")), Some(7));
    // Replacing the default reaches the leaf-pushed copies under 10/8.
    assert_eq!(fib.insert(v4("0.0.0.0"), 0, 70), Ok(Some(7)));
    assert_eq!(fib.lookup(v4("10.1.2.4")), Some(8));
    assert_eq!(fib.lookup(v4("9.255.255.255")), Some(70));
    fib.remove(v4("10.0.0.0"), 8).unwrap();
    assert_eq!(fib.lookup(v4("10.1.2.4")), Some(70));
    assert_eq!(fib.remove(v4("0.0.0.0"), 0), Ok(Some(70)));
    assert_eq!(fib.lookup(v4("10.1.2.4")), None);
    assert_eq!(fib.lookup(v4("10.1.2.3")), Some(9));
    fib.table.check_invariants();
}

#[test]
fn default_route_v6() {
    let mut fib = Fib6::new();
    fib.insert(Ipv6Addr::UNSPECIFIED, 0, 1).unwrap();
    fib.insert(v6("2001:db8::"), 32, 2).unwrap();
    assert_eq!(fib.lookup(v6("::1")), Some(1));
    assert_eq!(
        fib.lookup(v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
        Some(1)
    );
    assert_eq!(fib.lookup(v6("2001:db8:ffff::1")), Some(2));
    assert_eq!(fib.remove(Ipv6Addr::UNSPECIFIED, 0), Ok(Some(1)));
    assert_eq!(fib.lookup(v6("::1")), None);
    assert_eq!(fib.lookup(v6("2001:db8::1")), Some(2));
    fib.table.check_invariants();
}

#[test]
fn host_routes() {
    let mut fib = fib4(&[
        ("192.0.2.1", 32, 1),
        ("255.255.255.255", 32, 2),
        ("0.0.0.0", 32, 3),
    ]);
    assert_eq!(fib.lookup(v4("192.0.2.1")), Some(1));
    assert_eq!(fib.lookup(v4("192.0.2.0")), None);
    assert_eq!(fib.lookup(v4("192.0.2.2")), None);
    assert_eq!(fib.lookup_u32(u32::MAX), 2);
    assert_eq!(fib.lookup_u32(u32::MAX - 1), NO_ROUTE);
    assert_eq!(fib.lookup_u32(0), 3);
    assert_eq!(fib.lookup_u32(1), NO_ROUTE);
    fib.insert(v4("192.0.2.0"), 24, 4).unwrap();
    assert_eq!(fib.lookup(v4("192.0.2.2")), Some(4));
    assert_eq!(fib.lookup(v4("192.0.2.1")), Some(1));

    let mut fib6 = Fib6::new();
    let host = v6("2001:db8::1");
    fib6.insert(host, 128, 5).unwrap();
    fib6.insert(Ipv6Addr::from(u128::MAX), 128, 6).unwrap();
    assert_eq!(fib6.lookup(host), Some(5));
    assert_eq!(fib6.lookup_u128(u128::from(host) + 1), NO_ROUTE);
    assert_eq!(fib6.lookup_u128(u128::from(host) - 1), NO_ROUTE);
    assert_eq!(fib6.lookup_u128(u128::MAX), 6);
    assert_eq!(fib6.lookup_u128(u128::MAX - 1), NO_ROUTE);
    fib6.table.check_invariants();
}

#[test]
fn overlapping_prefixes() {
    let fib = fib4(&[
        ("10.0.0.0", 8, 1),
        ("10.1.0.0", 16, 2),
        ("10.1.2.0", 24, 3),
        ("10.1.2.128", 25, 4),
        ("10.1.2.192", 26, 5),
        ("10.0.0.0", 7, 6),
        ("10.1.0.0", 17, 7),
        ("10.1.2.200", 31, 8),
    ]);
    let cases = [
        ("10.255.0.0", Some(1)),
        ("11.0.0.1", Some(6)),
        ("12.0.0.0", None),
        ("10.1.200.1", Some(2)),
        ("10.1.127.255", Some(7)),
        ("10.1.128.0", Some(2)),
        ("10.1.2.0", Some(3)),
        ("10.1.2.127", Some(3)),
        ("10.1.2.128", Some(4)),
        ("10.1.2.191", Some(4)),
        ("10.1.2.192", Some(5)),
        ("10.1.2.199", Some(5)),
        ("10.1.2.200", Some(8)),
        ("10.1.2.201", Some(8)),
        ("10.1.2.202", Some(5)),
        ("10.1.3.0", Some(7)),
    ];
    for (a, want) in cases {
        assert_eq!(fib.lookup(v4(a)), want, "{a}");
    }
    let keys: Vec<u32> = cases.iter().map(|(a, _)| u32::from(v4(a))).collect();
    let mut out = vec![0; keys.len()];
    fib.lookup_batch(&keys, &mut out);
    let want: Vec<u32> = cases.iter().map(|(_, w)| w.unwrap_or(NO_ROUTE)).collect();
    assert_eq!(out, want);
    assert_eq!(fib.len(), 8);
}

#[test]
fn replace_returns_old_next_hop() {
    let mut fib = fib4(&[("10.0.0.0", 8, 1), ("10.1.0.0", 16, 2)]);
    assert_eq!(fib.insert(v4("10.0.0.0"), 8, 1), Ok(Some(1)));
    assert_eq!(fib.insert(v4("10.0.0.0"), 8, 3), Ok(Some(1)));
    assert_eq!(fib.lookup(v4("10.2.0.0")), Some(3));
    assert_eq!(fib.lookup(v4("10.1.0.0")), Some(2));
    assert_eq!(fib.len(), 2);
    // Next hop 1 is no longer used: its slot is free again.
    fib.table.check_invariants();
    let mut routes: Vec<_> = fib.iter().collect();
    routes.sort();
    assert_eq!(
        routes,
        vec![(v4("10.0.0.0"), 8, 3), (v4("10.1.0.0"), 16, 2)]
    );
}

#[test]
fn remove_restores_covering_route() {
    let mut fib = fib4(&[
        ("10.0.0.0", 8, 1),
        ("10.1.0.0", 16, 2),
        ("10.1.2.0", 24, 3),
        ("10.1.2.0", 23, 4),
        ("10.1.2.64", 26, 5),
    ]);
    assert_eq!(fib.remove(v4("10.1.2.0"), 24), Ok(Some(3)));
    assert_eq!(fib.lookup(v4("10.1.2.1")), Some(4), "the /23 takes over");
    assert_eq!(fib.lookup(v4("10.1.2.65")), Some(5), "the /26 stays");
    assert_eq!(fib.remove(v4("10.1.2.0"), 23), Ok(Some(4)));
    assert_eq!(fib.lookup(v4("10.1.2.1")), Some(2), "then the /16");
    assert_eq!(fib.lookup(v4("10.1.3.1")), Some(2));
    assert_eq!(fib.remove(v4("10.1.0.0"), 16), Ok(Some(2)));
    assert_eq!(fib.lookup(v4("10.1.2.1")), Some(1), "then the /8");
    assert_eq!(fib.lookup(v4("10.1.2.64")), Some(5));
    fib.table.check_invariants();
    assert_eq!(fib.remove(v4("10.1.2.64"), 26), Ok(Some(5)));
    assert_eq!(fib.lookup(v4("10.1.2.64")), Some(1));
    fib.table.check_invariants();
    assert_eq!(
        fib.table.dxr.top_bits(),
        1,
        "a one-route table is two slots"
    );
    assert_eq!(fib.remove(v4("10.0.0.0"), 8), Ok(Some(1)));
    assert!(fib.is_empty());
    assert_eq!(fib.memory_bytes(), 0);
}

#[test]
fn remove_absent_route() {
    let mut fib = fib4(&[("10.0.0.0", 8, 1)]);
    assert_eq!(fib.remove(v4("10.1.0.0"), 16), Ok(None));
    assert_eq!(fib.remove(v4("10.0.0.0"), 9), Ok(None));
    assert_eq!(fib.remove(v4("0.0.0.0"), 0), Ok(None));
    assert_eq!(fib.lookup(v4("10.1.0.0")), Some(1));
    assert_eq!(fib.len(), 1);
    let mut empty = Fib6::new();
    assert_eq!(empty.remove(v6("2001:db8::"), 32), Ok(None));
    fib.table.check_invariants();
}

#[test]
fn bad_prefixes_are_refused() {
    let mut fib = Fib4::new();
    assert_eq!(fib.insert(v4("10.0.0.1"), 8, 1), Err(LpmError::HostBitsSet));
    assert_eq!(
        fib.insert(v4("10.0.0.0"), 33, 1),
        Err(LpmError::PrefixTooLong)
    );
    assert_eq!(fib.insert(v4("0.0.0.1"), 0, 1), Err(LpmError::HostBitsSet));
    assert_eq!(fib.remove(v4("10.0.0.1"), 31), Err(LpmError::HostBitsSet));
    assert_eq!(
        fib.remove(v4("10.0.0.0"), 200),
        Err(LpmError::PrefixTooLong)
    );
    assert!(fib.is_empty());
    assert_eq!(fib.memory_bytes(), 0);
    let mut fib6 = Fib6::new();
    assert_eq!(
        fib6.insert(v6("2001:db8::1"), 64, 1),
        Err(LpmError::HostBitsSet)
    );
    assert_eq!(
        fib6.insert(v6("2001:db8::"), 129, 1),
        Err(LpmError::PrefixTooLong)
    );
    assert_eq!(fib6.insert(v6("2001:db8::1"), 128, 1), Ok(None));
    assert_eq!(
        LpmError::HostBitsSet.to_string(),
        "address has bits set beyond the prefix length"
    );
    assert_eq!(
        LpmError::PrefixTooLong.to_string(),
        "prefix length exceeds the address width"
    );
}

#[test]
fn no_route_as_next_hop() {
    // Allowed; only `lookup` can tell it from a miss.
    let fib = fib4(&[("10.0.0.0", 8, NO_ROUTE), ("10.1.0.0", 16, 0)]);
    assert_eq!(fib.lookup(v4("10.2.0.0")), Some(NO_ROUTE));
    assert_eq!(fib.lookup_u32(u32::from(v4("10.2.0.0"))), NO_ROUTE);
    assert_eq!(fib.lookup(v4("10.1.0.0")), Some(0));
    assert_eq!(fib.lookup(v4("11.0.0.0")), None);
}

#[test]
fn clone_is_independent() {
    let mut a = fib4(&[("10.0.0.0", 8, 1), ("10.1.2.0", 24, 2)]);
    let b = a.clone();
    a.insert(v4("10.1.0.0"), 16, 3).unwrap();
    a.remove(v4("10.1.2.0"), 24).unwrap();
    assert_eq!(b.lookup(v4("10.1.2.1")), Some(2));
    assert_eq!(b.lookup(v4("10.1.3.1")), Some(1));
    assert_eq!(a.lookup(v4("10.1.2.1")), Some(3));
    assert_eq!(b.len(), 2);
    b.table.check_invariants();
}

#[test]
fn small_tables_are_small() {
    // A tenant-like table: 100 routes inside a few private ranges.
    let mut fib = Fib4::new();
    for i in 0..100u32 {
        let prefix = 0x0a00_0000 | (i % 4) << 16 | (i / 4) << 8;
        fib.insert(Ipv4Addr::from(prefix), 24, i % 8).unwrap();
    }
    fib.insert(Ipv4Addr::UNSPECIFIED, 0, 99).unwrap();
    assert!(
        fib.memory_bytes() < 32 * 1024,
        "{} bytes",
        fib.memory_bytes()
    );
    let mut one = Fib6::new();
    one.insert(v6("2001:db8::"), 32, 1).unwrap();
    assert!(
        one.memory_bytes() < 8 * 1024,
        "{} bytes",
        one.memory_bytes()
    );
}

#[test]
fn nodes_are_recycled() {
    let mut fib = Fib4::new();
    let routes: Vec<u32> = (0..64u32)
        .map(|i| i.wrapping_mul(0x9e37_79b9) & 0xffff_ff00)
        .collect();
    for round in 0..3 {
        for (i, &p) in routes.iter().enumerate() {
            fib.insert(Ipv4Addr::from(p), 24, i as u32).unwrap();
        }
        fib.insert(v4("1.0.0.0"), 8, 1).unwrap();
        let full = fib.lookup_bytes();
        for &p in &routes {
            fib.remove(Ipv4Addr::from(p), 24).unwrap();
        }
        fib.table.check_invariants();
        assert!(
            fib.lookup_bytes() <= 2 * full,
            "round {round}: {} bytes after removal, {full} before",
            fib.lookup_bytes()
        );
        assert_eq!(fib.len(), 1);
    }
}

fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}
/// The batch answers `out` for `keys`, the portable batch and the scalar lookup
/// all equal the naive reference; `label` says which table or round failed.
fn check_batch4(
    fib: &Fib4,
    routes: &std::collections::HashMap<(u32, u8), NextHop>,
    keys: &[u32],
    out: &[NextHop],
    label: &str,
) {
    let mut portable = vec![0; keys.len()];
    fib.table.dxr.lookup_batch_portable(keys, &mut portable);
    for ((&k, &o), &p) in keys.iter().zip(out).zip(&portable) {
        let (want, at) = (naive4(routes, k), Ipv4Addr::from(k));
        assert_eq!(o, want, "{label}: batch lookup of {at}");
        assert_eq!(p, want, "{label}: portable batch of {at}");
        assert_eq!(fib.lookup_u32(k), want, "{label}: lookup of {at}");
    }
}

/// `check_batch4` for IPv6.
fn check_batch6(
    fib: &Fib6,
    routes: &std::collections::HashMap<(u128, u8), NextHop>,
    keys: &[u128],
    out: &[NextHop],
    label: &str,
) {
    let mut portable = vec![0; keys.len()];
    fib.table.dxr.lookup_batch_portable(keys, &mut portable);
    for ((&k, &o), &p) in keys.iter().zip(out).zip(&portable) {
        let (want, at) = (naive6(routes, k), Ipv6Addr::from(k));
        assert_eq!(o, want, "{label}: batch lookup of {at}");
        assert_eq!(p, want, "{label}: portable batch of {at}");
        assert_eq!(fib.lookup_u128(k), want, "{label}: lookup of {at}");
    }
}

/// The longest match of `k` in `routes` by trying every length: the IPv6
/// reference of the tests that build sub-direct tables and line chunks.
fn naive6(routes: &std::collections::HashMap<(u128, u8), NextHop>, k: u128) -> NextHop {
    (0..=128u8)
        .rev()
        .find_map(|l| routes.get(&(k & mask6(l), l)).copied())
        .unwrap_or(NO_ROUTE)
}

/// Each route's first and last address and the addresses just outside them.
fn edge_keys6(routes: &std::collections::HashMap<(u128, u8), NextHop>) -> Vec<u128> {
    let mut keys = Vec::new();
    for &(p, l) in routes.keys() {
        let last = p | !mask6(l);
        keys.extend([p, last, p.wrapping_sub(1), last.wrapping_add(1)]);
    }
    keys
}

fn arb_v4() -> impl Strategy<Value = (u32, u8)> {
    // Keys clustered around a few bases so that prefixes overlap often.
    (0usize..4, any::<u32>(), 0u32..=32, 0u8..=32).prop_map(|(b, noise, s, len)| {
        const BASES: [u32; 4] = [0x0a00_0000, 0x0a01_0200, 0xffff_ffff, 0];
        let a = BASES[b] ^ noise.checked_shr(s).unwrap_or(0);
        (a & mask4(len), len)
    })
}

fn arb_v6() -> impl Strategy<Value = (u128, u8)> {
    (0usize..3, any::<u128>(), 0u32..=128, 0u8..=128).prop_map(|(b, noise, s, len)| {
        const BASES: [u128; 3] = [0x2001_0db8 << 96, u128::MAX, 0];
        let a = BASES[b] ^ noise.checked_shr(s).unwrap_or(0);
        (a & mask6(len), len)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn invariants_hold_v4(ops in prop::collection::vec((any::<bool>(), arb_v4(), 0u32..4), 1..80)) {
        let mut fib = Fib4::new();
        for (add, (p, l), nh) in ops {
            if add { fib.insert(Ipv4Addr::from(p), l, nh).unwrap(); } else { fib.remove(Ipv4Addr::from(p), l).unwrap(); }
            fib.table.check_invariants();
        }
        let routes: Vec<_> = fib.iter().collect();
        for (p, l, _) in routes {
            fib.remove(p, l).unwrap();
            fib.table.check_invariants();
        }
        prop_assert_eq!(fib.memory_bytes(), 0);
    }

    #[test]
    fn invariants_hold_v6(ops in prop::collection::vec((any::<bool>(), arb_v6(), 0u32..4), 1..60)) {
        let mut fib = Fib6::new();
        for (add, (p, l), nh) in ops {
            if add { fib.insert(Ipv6Addr::from(p), l, nh).unwrap(); } else { fib.remove(Ipv6Addr::from(p), l).unwrap(); }
            fib.table.check_invariants();
        }
    }
}

/// Batches through `apply` on a table big enough for the 2^16 top level and its
/// bitmaps: in-place rewrites, relocated next hops, compaction. After each batch the
/// structure must equal a rebuild, and the batch lookup (AVX-512 where the CPU has
/// it) must agree with the scalar one and with the route set.
#[test]
fn batches_rewrite_and_compact() {
    let mut next = xorshift(0x1234_5678_u64);
    // 6,000 /24s in 300 /16s, under their /16s and a default route.
    let mut routes = Vec::new();
    for b in 0..300u32 {
        let base = 0x0a00_0000 + (b << 16);
        routes.push((base, 16u8));
        for _ in 0..20 {
            routes.push((base | ((next() as u32 & 0xff) << 8), 24));
        }
    }
    routes.sort_unstable();
    routes.dedup();
    let mut fib = Fib4::new();
    let mut load = vec![Update4::Insert(v4("0.0.0.0"), 0, 7)];
    load.extend(
        routes
            .iter()
            .map(|&(p, l)| Update4::Insert(Ipv4Addr::from(p), l, p >> 8)),
    );
    fib.apply(&load).unwrap();
    fib.table.check_invariants();
    let keys: Vec<u32> = (0..20_000)
        .map(|_| 0x0a00_0000 + (next() as u32 % (301 << 16)))
        .collect();
    let before = fib.lookup_bytes();
    let mut shrank = false;
    for round in 0..60u32 {
        let mut batch = Vec::new();
        for _ in 0..400 {
            let (p, l) = routes[next() as usize % routes.len()];
            batch.push(match next() % 3 {
                0 => Update4::Remove(Ipv4Addr::from(p), l),
                _ => Update4::Insert(Ipv4Addr::from(p), l, round * 1000 + (next() as u32 % 1000)),
            });
        }
        let grown = fib.lookup_bytes();
        fib.apply(&batch).unwrap();
        shrank |= fib.lookup_bytes() < grown;
        if round % 10 == 9 {
            fib.table.check_invariants();
        }
        let mut out = vec![0u32; keys.len()];
        fib.lookup_batch(&keys, &mut out);
        for (&k, &o) in keys.iter().zip(&out) {
            assert_eq!(
                o,
                fib.lookup_u32(k),
                "round {round}: batch vs scalar for {}",
                Ipv4Addr::from(k)
            );
            assert_eq!(
                Some(o).filter(|&o| o != NO_ROUTE),
                fib.lookup(Ipv4Addr::from(k))
            );
        }
    }
    fib.table.check_invariants();
    assert!(
        shrank,
        "no compaction in 60 batches ({before} bytes at first)"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random batches on random tables, checked after each batch.
    #[test]
    fn batches_hold_v4(
        init in prop::collection::vec((arb_v4(), 0u32..6), 0..200),
        batches in prop::collection::vec(prop::collection::vec((any::<bool>(), arb_v4(), 0u32..6), 1..40), 1..6),
    ) {
        let mut fib = Fib4::new();
        let load: Vec<_> = init.iter().map(|&((p, l), nh)| Update4::Insert(Ipv4Addr::from(p), l, nh)).collect();
        fib.apply(&load).unwrap();
        fib.table.check_invariants();
        for b in batches {
            let edits: Vec<_> = b
                .iter()
                .map(|&(add, (p, l), nh)| {
                    if add { Update4::Insert(Ipv4Addr::from(p), l, nh) } else { Update4::Remove(Ipv4Addr::from(p), l) }
                })
                .collect();
            fib.apply(&edits).unwrap();
            fib.table.check_invariants();
        }
    }
}

/// Longest match by probing every length: the reference for the deep-map test.
fn naive4(routes: &std::collections::HashMap<(u32, u8), NextHop>, k: u32) -> NextHop {
    (0..=32u8)
        .rev()
        .find_map(|l| routes.get(&(k & mask4(l), l)).copied())
        .unwrap_or(NO_ROUTE)
}

/// Deep maps (a /16 slot of the 2^16 top level holding prefixes longer than /24,
/// and next hops with the top bit set) through random batches: after each, the
/// structure equals a rebuild, its garbage accounting holds, and the batch and
/// scalar lookups agree with a naive reference on every route's edges.
#[test]
fn deep_maps_match_reference() {
    let mut next = xorshift(0x9e37_79b9_u64);
    let hops = [
        1,
        2,
        0x7fff_fffe,
        0x7fff_ffff,
        0x8000_0000,
        NO_ROUTE - 1,
        NO_ROUTE,
    ];
    let pick = |next: &mut dyn FnMut() -> u64| -> (u32, u8) {
        let slot = 0x0a00_0000 + ((next() as u32 % 64) << 16);
        match next() % 8 {
            0 => (slot, 16),
            1..=4 => (slot | ((next() as u32 & 0xff) << 8), 24),
            _ => {
                let l = 25 + (next() % 8) as u8;
                (slot | (next() as u32 & 0xffff) & mask4(l), l)
            }
        }
    };
    let mut routes = std::collections::HashMap::new();
    let mut fib = Fib4::new();
    let mut load = Vec::new();
    while routes.len() < 6000 {
        let (p, l) = pick(&mut next);
        let nh = hops[next() as usize % hops.len()];
        routes.insert((p, l), nh);
        load.push(Update4::Insert(Ipv4Addr::from(p), l, nh));
    }
    fib.apply(&load).unwrap();
    assert!(fib.table.dxr.deep_maps() > 10, "the test needs deep maps");
    for round in 0..12 {
        fib.table.check_invariants();
        let mut keys = Vec::new();
        for &(p, l) in routes.keys() {
            let last = p | !mask4(l);
            keys.extend([p, last, p.wrapping_sub(1), last.wrapping_add(1)]);
        }
        keys.extend((0..4000).map(|_| 0x0a00_0000 + (next() as u32 % (65 << 16))));
        let mut out = vec![0; keys.len()];
        fib.lookup_batch(&keys, &mut out);
        check_batch4(&fib, &routes, &keys, &out, &format!("round {round}"));
        let mut batch = Vec::new();
        for _ in 0..(50 << (round % 5)) {
            let (p, l) = pick(&mut next);
            if next().is_multiple_of(2) {
                routes.remove(&(p, l));
                batch.push(Update4::Remove(Ipv4Addr::from(p), l));
            } else {
                let nh = hops[next() as usize % hops.len()];
                routes.insert((p, l), nh);
                batch.push(Update4::Insert(Ipv4Addr::from(p), l, nh));
            }
        }
        fib.apply(&batch).unwrap();
    }
    fib.table.check_invariants();
}

/// IPv6 tables of 4096+ routes (a 2^16 top level, deep maps, sub-direct and range
/// chunks below) through random batches, against a naive reference: the vector
/// batch lookup, the portable one and the scalar one on every route's edges.
#[test]
fn deep_maps_match_reference_v6() {
    let mut next = xorshift(0x51_7cc1_b727_220a_u64);
    let hops = [3, 4, 0x7fff_ffff, 0x8000_0000, NO_ROUTE];
    let pick = |next: &mut dyn FnMut() -> u64| -> (u128, u8) {
        // Crowded /16s (2001::, 2a00::) and a sparse spread, lengths mostly /32
        // and /48 with a tail to /128.
        let top: u128 = [0x2001, 0x2a00, 0x2400 + (next() % 512) as u128][next() as usize % 3];
        let l = match next() % 10 {
            0..=2 => 32,
            3..=6 => 48,
            7 => 16 + (next() % 49) as u8,
            8 => 64,
            _ => 65 + (next() % 64) as u8,
        };
        let a = (top << 112) | (u128::from(next()) << 64 | u128::from(next())) >> 16;
        (a & mask6(l), l)
    };
    let mut routes = std::collections::HashMap::new();
    let mut load = Vec::new();
    while routes.len() < 5000 {
        let (p, l) = pick(&mut next);
        let nh = hops[next() as usize % hops.len()];
        routes.insert((p, l), nh);
        load.push(Update6::Insert(Ipv6Addr::from(p), l, nh));
    }
    let mut fib = Fib6::new();
    fib.apply(&load).unwrap();
    assert!(fib.table.dxr.line_count() > 0, "the test needs line chunks");
    for round in 0..4 {
        fib.table.check_invariants();
        let keys = edge_keys6(&routes);
        let mut out = vec![0; keys.len()];
        fib.lookup_batch(&keys, &mut out);
        // Batches of every length up to past a full group (vector tails).
        for n in 1..=40 {
            let mut part = vec![0; n];
            fib.lookup_batch(&keys[7..7 + n], &mut part);
            assert_eq!(part, out[7..7 + n], "round {round}: batch of {n}");
        }
        check_batch6(&fib, &routes, &keys, &out, &format!("round {round}"));
        let mut batch = Vec::new();
        for _ in 0..(40 << round) {
            let (p, l) = pick(&mut next);
            batch.push(edit6(&mut routes, (p, l), &mut next, |r| {
                hops[r as usize % hops.len()]
            }));
        }
        fib.apply(&batch).unwrap();
    }
    fib.table.check_invariants();
}

/// Sub-direct tables past the key's first 64 bits (a crowd of prefixes longer than
/// /64 under one /64, as the real table's under one at bit 60), reached by more
/// sub-direct steps than the AVX-512 batch lookup takes in vectors: those lanes
/// leave for the scalar walk. Batch, portable and scalar lookups
/// against the naive reference on every route's edges, before and after updates
/// inside the crowd.
#[test]
fn sub_tables_past_64_match_reference() {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let crowd: u128 = 0x2001_0db8_0000_ab00 << 64;
    let pick = |next: &mut dyn FnMut() -> u64, crowded: bool| -> (u128, u8) {
        if crowded {
            let l = 65 + (next() % 64) as u8;
            let a = crowd | u128::from(next());
            (a & mask6(l), l)
        } else {
            let l = [32, 48][next() as usize % 2];
            let a = (0x2a00u128 << 112) | (u128::from(next()) << 64) >> 16;
            (a & mask6(l), l)
        }
    };
    let mut routes = std::collections::HashMap::new();
    let mut load = Vec::new();
    while routes.len() < 6000 {
        let (p, l) = pick(&mut next, routes.len() % 10 == 0);
        let nh = (next() % 1000) as NextHop;
        routes.insert((p, l), nh);
        load.push(Update6::Insert(Ipv6Addr::from(p), l, nh));
    }
    let mut fib = Fib6::new();
    fib.apply(&load).unwrap();
    assert!(
        fib.table.dxr.deepest_sub() > 64,
        "the test needs sub-direct tables past /64 (deepest ends at {})",
        fib.table.dxr.deepest_sub()
    );
    for round in 0..3 {
        fib.table.check_invariants();
        let keys = edge_keys6(&routes);
        let mut out = vec![0; keys.len()];
        fib.lookup_batch(&keys, &mut out);
        check_batch6(&fib, &routes, &keys, &out, &format!("round {round}"));
        let mut batch = Vec::new();
        for _ in 0..200 {
            let (p, l) = pick(&mut next, true);
            batch.push(edit6(&mut routes, (p, l), &mut next, |r| {
                (r % 1000) as NextHop
            }));
        }
        fib.apply(&batch).unwrap();
    }
    fib.table.check_invariants();
}

/// A skip (`Dxr::emit_skip`): a crowd of /124../128 prefixes in one /96 under a
/// /32's sub-direct table, with /64s and /48s beside it in the same slot and
/// around the block's ends, as the real table's 2001:590::/96. Batch, portable
/// and scalar lookups against the naive reference on every route's edges and on
/// random keys in and around the block, before and after updates inside and
/// outside it.
#[test]
fn skips_match_reference_v6() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let block: u128 = 0x2001_0db8_0000_0000_0000_0000 << 32;
    // A second crowd at the very end of the /32 (the block ends where its span does).
    let end_block: u128 = 0x2001_0db8_ffff_ffff_ffff_ffff << 32;
    let pick = |next: &mut dyn FnMut() -> u64, kind: u64| -> (u128, u8) {
        match kind % 8 {
            // The crowds.
            0..=3 => {
                let l = 124 + (next() % 5) as u8;
                let b = if kind == 3 { end_block } else { block };
                ((b | u128::from(next() as u32)) & mask6(l), l)
            }
            // Beside it: /64s in the same /46, one covering the block's first
            // and one right after its last address.
            4 => {
                let a = (0x2001_0db8_0000u128 << 80) | (u128::from(next() % 4) << 64);
                (a & mask6(64), 64)
            }
            5 => {
                let l = [48, 56, 96][next() as usize % 3];
                let a = block
                    .wrapping_add(u128::from(next() % 3) << 32)
                    .wrapping_sub(1 << 32);
                (a & mask6(l), l)
            }
            // /48s over the /32 (its sub-direct table) and elsewhere.
            6 => {
                let a = (0x2001_0db8u128 << 96) | (u128::from(next() as u16) << 80);
                (a & mask6(48), 48)
            }
            _ => {
                let l = [32, 48][next() as usize % 2];
                let a = (0x2a00u128 << 112) | (u128::from(next()) << 64) >> 16;
                (a & mask6(l), l)
            }
        }
    };
    let mut routes = std::collections::HashMap::new();
    let mut load = Vec::new();
    // The covering /32 and /64, and the block's first address in a prefix of its
    // own: after the block, the rest's structure must go on with the hop that
    // covers the block's end (the /64's), not the one at its start; the end
    // block's last addresses in one too (nothing goes on after that block).
    for (p, l, nh) in [
        (0x2001_0db8u128 << 96, 32, 7),
        (block & mask6(64), 64, 9),
        (block, 126, 8),
        (end_block | 0xffff_fff0, 124, 11),
    ] {
        routes.insert((p, l), nh);
        load.push(Update6::Insert(Ipv6Addr::from(p), l, nh));
    }
    while routes.len() < 6000 {
        let kind = if routes.len() < 1200 { next() % 7 } else { 7 };
        let (p, l) = pick(&mut next, kind);
        let nh = (next() % 1000) as NextHop;
        routes.insert((p, l), nh);
        load.push(Update6::Insert(Ipv6Addr::from(p), l, nh));
    }
    let mut fib = Fib6::new();
    fib.apply(&load).unwrap();
    for round in 0..4 {
        let skips = fib.table.dxr.skips();
        assert!(
            skips >= 2,
            "round {round}: the test needs two skips ({skips})"
        );
        fib.table.check_invariants();
        let mut keys = edge_keys6(&routes);
        for _ in 0..2_500 {
            for b in [block, end_block] {
                let k = b | u128::from(next() as u32);
                keys.extend([
                    k,
                    k ^ (u128::from(next() % 8) << 32),
                    k.wrapping_add(1 << 32),
                ]);
            }
        }
        let mut out = vec![0; keys.len()];
        fib.lookup_batch(&keys, &mut out);
        check_batch6(&fib, &routes, &keys, &out, &format!("round {round}"));
        let mut batch = Vec::new();
        for _ in 0..150 {
            let kind = next() % 7;
            let (p, l) = pick(&mut next, kind);
            batch.push(edit6(&mut routes, (p, l), &mut next, |r| {
                (r % 1000) as NextHop
            }));
        }
        fib.apply(&batch).unwrap();
        if round == 1 {
            // A compacted copy (what a rebuild after many updates publishes) holds
            // the same skips and answers the same.
            let before = fib.table.dxr.skips();
            fib.table.dxr = fib.table.dxr.compacted();
            assert_eq!(fib.table.dxr.skips(), before, "skips lost in compaction");
        }
    }
    fib.table.check_invariants();
}

/// Tables under 4096 routes (range chunks under a small top level, searched 16
/// lanes at a time by the AVX-512 batch lookup) against the naive reference on
/// every route's edges, next hops with the top bit set included.
#[test]
fn small_tables_match_reference() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d_u64);
    let hops = [5, 6, 7, 0x8000_0001, NO_ROUTE];
    for n in [1, 10, 100, 1000, 3000] {
        let mut routes = std::collections::HashMap::new();
        while routes.len() < n {
            let l = [8, 16, 20, 22, 24, 24, 24, 28, 32][next() as usize % 9];
            let p = next() as u32 & mask4(l);
            routes.insert((p, l), hops[next() as usize % hops.len()]);
        }
        let mut fib = Fib4::new();
        let load: Vec<_> = routes
            .iter()
            .map(|(&(p, l), &nh)| Update4::Insert(Ipv4Addr::from(p), l, nh))
            .collect();
        fib.apply(&load).unwrap();
        fib.table.check_invariants();
        let mut keys = Vec::new();
        for &(p, l) in routes.keys() {
            let last = p | !mask4(l);
            keys.extend([
                p,
                last,
                p.wrapping_sub(1),
                last.wrapping_add(1),
                p | ((last - p) / 3),
            ]);
        }
        let mut out = vec![0; keys.len()];
        fib.lookup_batch(&keys, &mut out);
        check_batch4(&fib, &routes, &keys, &out, &format!("{n} routes"));
    }
}

/// IPv6 tables under 4096 routes (a top level of fewer than 16 bits, whose slots
/// hold leaves, bitmaps, range chunks and sub-direct tables) through the batch
/// lookup's rounds, which stop early when no lane stands on a sub-direct table:
/// batch (AVX-512 where the CPU has it), portable and scalar lookups against the
/// naive reference on every route's edges and middle, in batches of every length
/// up to past a full group.
#[test]
fn small_tables_match_reference_v6() {
    let mut next = xorshift(0x6a09_e667_f3bc_c908_u64);
    let hops = [5, 6, 7, 0x8000_0001, NO_ROUTE];
    for n in [1, 10, 100, 1000, 3000] {
        let mut routes = std::collections::HashMap::new();
        while routes.len() < n {
            let l = [0, 3, 16, 29, 32, 40, 48, 48, 56, 64, 96, 128][next() as usize % 12];
            // Mostly under two /16s, so that some slots get crowded.
            let top = [0x2001u128, 0x2a00, next() as u128 & 0xffff][next() as usize % 3];
            let a = (top << 112) | (u128::from(next()) << 64 | u128::from(next())) >> 16;
            routes.insert((a & mask6(l), l), hops[next() as usize % hops.len()]);
        }
        let mut fib = Fib6::new();
        let load: Vec<_> = routes
            .iter()
            .map(|(&(p, l), &nh)| Update6::Insert(Ipv6Addr::from(p), l, nh))
            .collect();
        fib.apply(&load).unwrap();
        fib.table.check_invariants();
        assert!(
            fib.table.dxr.top_bits() < 16,
            "{n} routes: a small top level"
        );
        let mut keys = edge_keys6(&routes);
        keys.extend(routes.keys().map(|&(p, l)| p | (!mask6(l) / 3)));
        let mut out = vec![0; keys.len()];
        fib.lookup_batch(&keys, &mut out);
        for len in 1..=40.min(keys.len()) {
            let mut part = vec![0; len];
            fib.lookup_batch(&keys[..len], &mut part);
            assert_eq!(part, out[..len], "{n} routes: batch of {len}");
        }
        check_batch6(&fib, &routes, &keys, &out, &format!("{n} routes"));
    }
}
