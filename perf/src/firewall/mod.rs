//! Firewall benchmark helpers: realistic ACLs (prefix pairs from the real
//! routing table, protocols, port ranges) written as ipfw rules, packets that
//! hit them, and a thin owner of DPDK's rte_acl over the same 5-tuple rules.

pub mod acl;

use crate::lpm::tables::{Rng, Route};

/// One ACL rule in 5-tuple form (host byte order), `proto` 0 = any.
#[derive(Debug, Clone, Copy)]
pub struct Acl {
    pub allow: bool,
    pub proto: u8,
    pub src: (u32, u8),
    pub dst: (u32, u8),
    pub sport: (u16, u16),
    pub dport: (u16, u16),
}

impl Acl {
    /// The rule in ipfw syntax, numbered `n`.
    pub fn ipfw(&self, n: u32) -> String {
        let a = |(ip, len): (u32, u8)| format!("{}/{len}", std::net::Ipv4Addr::from(ip));
        let ports = |(lo, hi): (u16, u16)| match (lo, hi) {
            (0, 65535) => String::new(),
            (l, h) if l == h => format!(" {l}"),
            (l, h) => format!(" {l}-{h}"),
        };
        let proto = match self.proto {
            0 => "ip",
            6 => "tcp",
            _ => "udp",
        };
        format!(
            "add {n} {} {proto} from {}{} to {}{}",
            if self.allow { "allow" } else { "deny" },
            a(self.src),
            ports(self.sport),
            a(self.dst),
            ports(self.dport)
        )
    }
}

const SERVICES: [u16; 12] = [22, 25, 53, 80, 110, 123, 143, 443, 993, 3306, 5432, 8080];

/// `n` rules over prefixes of `routes` (IPv4, `(prefix << 96 >> 96, len)` as the
/// LPM tables store them).
pub fn rules(routes: &[Route], n: usize, rng: &mut Rng) -> Vec<Acl> {
    let pfx = |rng: &mut Rng| {
        let (p, len, _) = routes[rng.below(routes.len())];
        (p as u32, len)
    };
    (0..n)
        .map(|_| {
            let proto = [6, 6, 6, 17, 17, 0][rng.below(6)];
            let (sport, dport) = if proto == 0 {
                ((0, 65535), (0, 65535))
            } else {
                let d = match rng.below(10) {
                    0..=5 => {
                        let s = SERVICES[rng.below(SERVICES.len())];
                        (s, s)
                    }
                    6 | 7 => {
                        let lo = 1024 + rng.below(30_000) as u16;
                        (lo, lo + rng.below(5_000) as u16)
                    }
                    _ => (0, 65535),
                };
                let s = if rng.below(10) == 0 {
                    (1024, 65535)
                } else {
                    (0, 65535)
                };
                (s, d)
            };
            Acl {
                allow: rng.below(3) != 0,
                proto,
                src: pfx(rng),
                dst: pfx(rng),
                sport,
                dport,
            }
        })
        .collect()
}

/// perf/fwd scenario 2's rule pattern (`perf/fwd/gen.py`), `n` rules: in
/// turn `deny tcp from any to any 1000+i`, `deny udp from 203.0.113.i/32 to
/// any`, `deny ip from 100.(64+i).0.0/16 to any`, `deny udp from any to any
/// 2000+i` (at 100 rules, gen.py's set rule for rule; beyond, the addresses
/// and ports go on counting). Rules wildcard in different fields: the case
/// a single cutting tree cannot separate.
pub fn fwd_rules(n: usize) -> Vec<Acl> {
    let any = (0, 0);
    let all = (0, 65535);
    (0..n)
        .map(|i| {
            let k = i as u32;
            let port = |base: u32| ((base + k) % 65536) as u16;
            let deny = |proto, src, dport| Acl {
                allow: false,
                proto,
                src,
                dst: any,
                sport: all,
                dport,
            };
            match i % 4 {
                0 => deny(6, any, (port(1000), port(1000))),
                1 => deny(
                    17,
                    (u32::from_be_bytes([203, 0, 113, 0]).wrapping_add(k), 32),
                    all,
                ),
                2 => deny(
                    0,
                    (
                        u32::from_be_bytes([100, 64, 0, 0]).wrapping_add(k << 16),
                        16,
                    ),
                    all,
                ),
                _ => deny(17, any, (port(2000), port(2000))),
            }
        })
        .collect()
}

/// perf/fwd's benchmark frames: UDP from 198.51.100.2 (a random source
/// port) to a random address of the table, port 9; no rule of
/// [`fwd_rules`] holds them, so the default decides. 1 in 5 packets are
/// aimed inside a random rule instead (see [`packets`]).
pub fn fwd_packets(routes: &[Route], acls: &[Acl], n: usize, rng: &mut Rng) -> Vec<Tuple> {
    let aimed = packets(routes, acls, n, rng);
    aimed
        .into_iter()
        .map(|t| {
            if rng.below(5) == 0 {
                return t;
            }
            let (p, len, _) = routes[rng.below(routes.len())];
            Tuple {
                proto: 17,
                src: u32::from_be_bytes([198, 51, 100, 2]),
                dst: inside(rng, (p as u32, len)),
                sport: 1024 + rng.below(60_000) as u16,
                dport: 9,
            }
        })
        .collect()
}

/// A packet's 5-tuple (host order).
#[derive(Debug, Clone, Copy)]
pub struct Tuple {
    pub proto: u8,
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
}

fn inside(rng: &mut Rng, (p, len): (u32, u8)) -> u32 {
    let host = if len >= 32 {
        0
    } else {
        (rng.next_u64() as u32) & (u32::MAX >> len)
    };
    p | host
}

/// `n` packets: 4 in 5 aimed at a random rule (inside its prefixes and
/// ports), the rest random addresses of the table (mostly the default rule).
pub fn packets(routes: &[Route], acls: &[Acl], n: usize, rng: &mut Rng) -> Vec<Tuple> {
    (0..n)
        .map(|_| {
            let proto = [6u8, 6, 6, 17, 17, 1][rng.below(6)];
            let ports = |rng: &mut Rng, (lo, hi): (u16, u16)| {
                lo + (rng.next_u64() % (hi as u64 - lo as u64 + 1)) as u16
            };
            if rng.below(5) != 0 {
                let r = acls[rng.below(acls.len())];
                let proto = if r.proto == 0 { proto } else { r.proto };
                let (sport, dport) = if proto == 1 {
                    (0, 0)
                } else {
                    (ports(rng, r.sport), ports(rng, r.dport))
                };
                Tuple {
                    proto,
                    src: inside(rng, r.src),
                    dst: inside(rng, r.dst),
                    sport,
                    dport,
                }
            } else {
                let a = routes[rng.below(routes.len())];
                let b = routes[rng.below(routes.len())];
                let (sport, dport) = if proto == 1 {
                    (0, 0)
                } else {
                    (1024 + rng.below(60_000) as u16, SERVICES[rng.below(12)])
                };
                Tuple {
                    proto,
                    src: inside(rng, (a.0 as u32, a.1)),
                    dst: inside(rng, (b.0 as u32, b.1)),
                    sport,
                    dport,
                }
            }
        })
        .collect()
}
