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
