//! Shared by the integration tests: a naive LPM reference, a tiny PRNG, and loaders
//! for the RouteViews tables in ../shared/data (with a synthetic fallback).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

/// Prefixes of a `bits`-wide family stored right-aligned in a `u128`.
pub fn mask(addr: u128, len: u8, bits: u8) -> u128 {
    if len == 0 {
        0
    } else {
        let full = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        addr & (full << (bits - len)) & full
    }
}

/// First and last address of `prefix/len`.
pub fn span(prefix: u128, len: u8, bits: u8) -> (u128, u128) {
    let host = if bits - len == 128 {
        u128::MAX
    } else {
        (1u128 << (bits - len)) - 1
    };
    (prefix, prefix | host)
}

/// The obviously-correct reference: every route scanned for the longest match.
#[derive(Clone, Default)]
pub struct Naive {
    pub bits: u8,
    pub routes: BTreeMap<(u128, u8), u32>,
}

impl Naive {
    pub fn new(bits: u8) -> Self {
        Naive {
            bits,
            routes: BTreeMap::new(),
        }
    }

    pub fn insert(&mut self, prefix: u128, len: u8, nh: u32) -> Option<u32> {
        self.routes.insert((prefix, len), nh)
    }

    pub fn remove(&mut self, prefix: u128, len: u8) -> Option<u32> {
        self.routes.remove(&(prefix, len))
    }

    pub fn lookup(&self, addr: u128) -> Option<u32> {
        self.routes
            .iter()
            .filter(|(&(p, l), _)| mask(addr, l, self.bits) == p)
            .max_by_key(|(&(_, l), _)| l)
            .map(|(_, &nh)| nh)
    }
}

/// A faster reference for big tables: per length, a sorted vector searched longest
/// length first.
pub struct Sorted {
    bits: u8,
    by_len: Vec<Vec<(u128, u32)>>,
}

impl Sorted {
    /// `routes` in insertion order; a later duplicate replaces an earlier one.
    pub fn new(bits: u8, routes: &[(u128, u8, u32)]) -> Self {
        let mut map = BTreeMap::new();
        for &(p, l, nh) in routes {
            map.insert((l, p), nh);
        }
        let mut by_len = vec![Vec::new(); usize::from(bits) + 1];
        for ((l, p), nh) in map {
            by_len[usize::from(l)].push((p, nh));
        }
        Sorted { bits, by_len }
    }

    pub fn lookup(&self, addr: u128) -> Option<u32> {
        (0..=self.bits).rev().find_map(|l| {
            let v = &self.by_len[usize::from(l)];
            let key = mask(addr, l, self.bits);
            v.binary_search_by_key(&key, |&(p, _)| p)
                .ok()
                .map(|i| v[i].1)
        })
    }

    pub fn len(&self) -> usize {
        self.by_len.iter().map(Vec::len).sum()
    }

    /// The distinct routes, shortest first.
    pub fn routes(&self) -> Vec<(u128, u8, u32)> {
        let by_len = self.by_len.iter().enumerate();
        by_len
            .flat_map(|(l, v)| v.iter().map(move |&(p, nh)| (p, l as u8, nh)))
            .collect()
    }
}

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(name)
}

pub const V4_FILE: &str = "routeviews-2014-05-13-v4.dat.gz";
pub const V6_FILE: &str = "routeviews-2015-11-01-v6.dat.gz";

/// Reads `PREFIX<TAB>AS` lines of one family (`;` starts a comment) as right-aligned
/// keys; `None` when the file is absent.
pub fn load_routes(name: &str, v6: bool) -> Option<Vec<(u128, u8, u32)>> {
    let file = std::fs::File::open(data_path(name)).ok()?;
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    let mut routes = Vec::new();
    for line in reader.lines() {
        let line = line.expect("read route file");
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') || line.contains(':') != v6 {
            continue;
        }
        let (prefix, asn) = line.split_once(char::is_whitespace).expect("PREFIX<TAB>AS");
        let (addr, len) = prefix.split_once('/').expect("PREFIX is ADDR/LEN");
        let len: u8 = len.parse().expect("prefix length");
        let addr = if v6 {
            u128::from(addr.parse::<std::net::Ipv6Addr>().expect("IPv6 address"))
        } else {
            u128::from(u32::from(
                addr.parse::<std::net::Ipv4Addr>().expect("IPv4 address"),
            ))
        };
        routes.push((addr, len, asn.trim().parse().expect("origin AS")));
    }
    Some(routes)
}

/// Prefix-length histograms of the real tables, `(len, count)`.
pub const V4_MIX: &[(u8, u32)] = &[
    (8, 16),
    (9, 12),
    (10, 30),
    (11, 90),
    (12, 259),
    (13, 487),
    (14, 974),
    (15, 1726),
    (16, 13017),
    (17, 7050),
    (18, 11917),
    (19, 24936),
    (20, 35828),
    (21, 37624),
    (22, 57782),
    (23, 47385),
    (24, 270023),
    (25, 918),
    (26, 1060),
    (27, 537),
    (28, 138),
    (29, 292),
    (30, 331),
    (31, 20),
    (32, 169),
];

pub const V6_MIX: &[(u8, u32)] = &[
    (16, 1),
    (19, 2),
    (20, 9),
    (24, 19),
    (28, 70),
    (29, 859),
    (30, 100),
    (32, 7262),
    (33, 313),
    (34, 213),
    (35, 251),
    (36, 1004),
    (38, 203),
    (40, 1221),
    (42, 200),
    (44, 1125),
    (46, 379),
    (48, 12142),
    (52, 17),
    (56, 180),
    (64, 772),
    (126, 269),
    (128, 42),
];

/// A synthetic table with the real prefix-length mix. Like real allocations, the
/// long prefixes cluster: those longer than /16 (IPv4) or /32 (IPv6) fall inside a
/// pool of blocks as many as the real tables have. Next hops look like AS numbers.
pub fn synthetic_routes(v6: bool, rng: &mut Rng) -> Vec<(u128, u8, u32)> {
    let (bits, mix, block_len, blocks) = if v6 {
        (128u8, V6_MIX, 32, 3_000)
    } else {
        (32u8, V4_MIX, 16, 20_000)
    };
    let random_addr = |rng: &mut Rng| {
        if v6 {
            // Global unicast 2000::/3.
            (rng.next_u128() >> 3) | (1 << 125)
        } else {
            // Skip 0/8 and the multicast/reserved space.
            u128::from((rng.next_u64() as u32 % 0xdf00_0000) + 0x0100_0000)
        }
    };
    let pool: Vec<u128> = (0..blocks)
        .map(|_| mask(random_addr(rng), block_len, bits))
        .collect();
    let mut routes = Vec::new();
    for &(len, count) in mix {
        for _ in 0..count {
            let addr = if len > block_len {
                let low = rng.next_u128() & ((1u128 << (bits - block_len)) - 1);
                pool[rng.below(pool.len())] | low
            } else {
                random_addr(rng)
            };
            routes.push((
                mask(addr, len, bits),
                len,
                (rng.next_u64() % 60_000) as u32 + 1,
            ));
        }
    }
    // Shuffle so that insertion order is not by length.
    for i in (1..routes.len()).rev() {
        routes.swap(i, rng.below(i + 1));
    }
    routes
}

/// The real table when present, else a synthetic one; says which on stdout.
pub fn table(v6: bool) -> Vec<(u128, u8, u32)> {
    let name = if v6 { V6_FILE } else { V4_FILE };
    match load_routes(name, v6) {
        Some(routes) => {
            println!(
                "loaded {} routes from {}",
                routes.len(),
                data_path(name).display()
            );
            routes
        }
        None => {
            let routes = synthetic_routes(v6, &mut Rng(0x5eed));
            println!(
                "{} not found: using a synthetic table of {} routes with the same prefix-length mix",
                data_path(name).display(),
                routes.len()
            );
            routes
        }
    }
}
