//! The Rust LPM crates people would otherwise pick, behind one shape: build from
//! the benchmark's routes, then look up one host-order address at a time (none of
//! them has a batch lookup). A miss is `u32::MAX`, as in vnetd's `lpm`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::heap;
use super::tables::Route;

/// A built structure: its name, build time, heap bytes, and its lookup.
pub struct Built<K> {
    pub name: &'static str,
    pub build: Duration,
    pub bytes: usize,
    pub lookup: Box<dyn Fn(K) -> u32>,
}

fn timed<K, T: 'static>(
    name: &'static str,
    build: impl FnOnce() -> T,
    lookup: impl Fn(&T, K) -> u32 + 'static,
) -> Built<K> {
    let t = Instant::now();
    let (table, bytes) = heap::measure(build);
    let build = t.elapsed();
    Built {
        name,
        build,
        bytes,
        lookup: Box::new(move |k| lookup(&table, k)),
    }
}

/// IPv4: poptrie, prefix-trie, ip_network_table (treebitmap), iptrie (LC-trie).
pub fn v4(routes: &[Route]) -> Vec<Built<u32>> {
    let v4 = |p: u128| Ipv4Addr::from(p as u32);
    vec![
        timed(
            "poptrie (crate)",
            || {
                // Its bulk constructor: inserting one by one takes minutes.
                routes
                    .iter()
                    .map(|&(p, l, nh)| ((p as u32, l), nh))
                    .collect::<poptrie::Poptrie<(u32, u8), u32>>()
            },
            |t, k| t.lookup(k).copied().unwrap_or(u32::MAX),
        ),
        timed(
            "prefix-trie",
            || {
                let mut t = prefix_trie::PrefixMap::<ipnet::Ipv4Net, u32>::new();
                for &(p, l, nh) in routes {
                    t.insert(ipnet::Ipv4Net::new(v4(p), l).expect("prefix"), nh);
                }
                t
            },
            |t, k| {
                let host = ipnet::Ipv4Net::new(Ipv4Addr::from(k), 32).expect("host");
                t.get_lpm(&host).map_or(u32::MAX, |(_, &v)| v)
            },
        ),
        timed(
            "ip_network_table",
            || {
                let mut t = ip_network_table::IpNetworkTable::<u32>::new();
                for &(p, l, nh) in routes {
                    t.insert(ip_network::Ipv4Network::new(v4(p), l).expect("prefix"), nh);
                }
                t
            },
            |t, k| {
                t.longest_match_ipv4(Ipv4Addr::from(k))
                    .map_or(u32::MAX, |(_, &v)| v)
            },
        ),
        timed(
            "iptrie (LC-trie)",
            || {
                let mut t = iptrie::Ipv4RTrieMap::<u32>::with_root(u32::MAX);
                for &(p, l, nh) in routes {
                    t.insert(iptrie::Ipv4Prefix::new(v4(p), l).expect("prefix"), nh);
                }
                t.compress()
            },
            |t, k| *t.lookup(&Ipv4Addr::from(k)).1,
        ),
    ]
}

/// IPv6: the same crates.
pub fn v6(routes: &[Route]) -> Vec<Built<u128>> {
    vec![
        timed(
            "poptrie (crate)",
            || {
                routes
                    .iter()
                    .map(|&(p, l, nh)| ((p, l), nh))
                    .collect::<poptrie::Poptrie<(u128, u8), u32>>()
            },
            |t, k| t.lookup(k).copied().unwrap_or(u32::MAX),
        ),
        timed(
            "prefix-trie",
            || {
                let mut t = prefix_trie::PrefixMap::<ipnet::Ipv6Net, u32>::new();
                for &(p, l, nh) in routes {
                    t.insert(
                        ipnet::Ipv6Net::new(Ipv6Addr::from(p), l).expect("prefix"),
                        nh,
                    );
                }
                t
            },
            |t, k| {
                let host = ipnet::Ipv6Net::new(Ipv6Addr::from(k), 128).expect("host");
                t.get_lpm(&host).map_or(u32::MAX, |(_, &v)| v)
            },
        ),
        timed(
            "ip_network_table",
            || {
                let mut t = ip_network_table::IpNetworkTable::<u32>::new();
                for &(p, l, nh) in routes {
                    t.insert(
                        ip_network::Ipv6Network::new(Ipv6Addr::from(p), l).expect("prefix"),
                        nh,
                    );
                }
                t
            },
            |t, k| {
                t.longest_match_ipv6(Ipv6Addr::from(k))
                    .map_or(u32::MAX, |(_, &v)| v)
            },
        ),
        timed(
            "iptrie (LC-trie)",
            || {
                let mut t = iptrie::Ipv6RTrieMap::<u32>::with_root(u32::MAX);
                for &(p, l, nh) in routes {
                    t.insert(
                        iptrie::Ipv6Prefix::new(Ipv6Addr::from(p), l).expect("prefix"),
                        nh,
                    );
                }
                t.compress()
            },
            |t, k| *t.lookup(&Ipv6Addr::from(k)).1,
        ),
    ]
}
