//! Route tables for the LPM benchmark: ../shared/data's RouteViews dumps when present,
//! else synthetic tables with the same prefix-length mix (and the run says so).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

/// A route, the address right-aligned (`u32` value in the low bits for IPv4).
pub type Route = (u128, u8, u32);

pub const V4_FILE: &str = "routeviews-2014-05-13-v4.dat.gz";
pub const V6_FILE: &str = "routeviews-2015-11-01-v6.dat.gz";

/// splitmix64: reproducible keys without a dependency.
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

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

fn mask(addr: u128, len: u8, bits: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    let full = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    addr & (full << (bits - len)) & full
}

/// Host bits of a `/len` in a `bits`-wide family.
pub fn host_mask(len: u8, bits: u8) -> u128 {
    if bits - len == 128 {
        u128::MAX
    } else {
        (1u128 << (bits - len)) - 1
    }
}

/// Reads one family from a `PREFIX<TAB>AS` dump; `None` when the file is absent.
pub fn load(name: &str, v6: bool) -> Option<Vec<Route>> {
    let file = std::fs::File::open(data_dir().join(name)).ok()?;
    let mut routes = Vec::new();
    for line in BufReader::new(flate2::read::GzDecoder::new(file)).lines() {
        let line = line.expect("read route file");
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') || line.contains(':') != v6 {
            continue;
        }
        let (prefix, asn) = line.split_once(char::is_whitespace).expect("PREFIX<TAB>AS");
        let (addr, len) = prefix.split_once('/').expect("ADDR/LEN");
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

const V4_MIX: &[(u8, u32)] = &[
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

const V6_MIX: &[(u8, u32)] = &[
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

/// Synthetic table with the real length mix; long prefixes cluster in blocks as
/// real allocations do.
pub fn synthetic(v6: bool, rng: &mut Rng) -> Vec<Route> {
    let (bits, mix, block_len, blocks) = if v6 {
        (128u8, V6_MIX, 32u8, 3_000)
    } else {
        (32u8, V4_MIX, 16u8, 20_000)
    };
    let random_addr = |rng: &mut Rng| {
        if v6 {
            (rng.next_u128() >> 3) | (1 << 125)
        } else {
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
                pool[rng.below(pool.len())] | (rng.next_u128() & host_mask(block_len, bits))
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
    routes
}

/// The real table of a family, or a synthetic one; the second value says which.
pub fn table(v6: bool) -> (Vec<Route>, String) {
    let name = if v6 { V6_FILE } else { V4_FILE };
    match load(name, v6) {
        Some(mut routes) => {
            // Later duplicates replace earlier ones in every structure: keep the last.
            let mut seen = std::collections::HashSet::new();
            routes.reverse();
            routes.retain(|&(p, l, _)| seen.insert((p, l)));
            routes.reverse();
            let what = format!("{} ({} prefixes)", name, routes.len());
            (routes, what)
        }
        None => {
            let routes = synthetic(v6, &mut Rng(0x5eed));
            let what = format!(
                "SYNTHETIC table of {} prefixes with the real length mix ({} not found in {})",
                routes.len(),
                name,
                data_dir().display()
            );
            (routes, what)
        }
    }
}

/// Keys drawn uniformly over the prefixes, then uniformly inside the prefix.
pub fn keys(routes: &[Route], bits: u8, n: usize, rng: &mut Rng) -> Vec<u128> {
    (0..n)
        .map(|_| {
            let (p, l, _) = routes[rng.below(routes.len())];
            p | (rng.next_u128() & host_mask(l, bits))
        })
        .collect()
}
