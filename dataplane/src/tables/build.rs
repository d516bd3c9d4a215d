//! Building a vnet's forwarding tables from plain data (the control plane maps
//! its validated config into `VnetSpec`).
use super::interface::{same_subnet4, same_subnet6, Interface};
use super::neighbor::NeighborTable;
use super::nexthop::NextHop;
use super::VnetFwd;
use crate::dpdk::PortId;
use crate::firewall::{FirewallSpec, VnetFirewall};
use crate::stats::VnetCounters;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSpec {
    pub name: String,
    pub port: PortId,
    pub vlan: Option<u16>,
    pub mac: [u8; 6],
    pub addrs4: Vec<(Ipv4Addr, u8)>,
    pub addrs6: Vec<(Ipv6Addr, u8)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VnetSpec {
    pub id: u64,
    pub name: String,
    pub interfaces: Vec<InterfaceSpec>,
    /// (prefix, length, gateway)
    pub routes4: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
    pub routes6: Vec<(Ipv6Addr, u8, Ipv6Addr)>,
    pub static_neighbors: Vec<(IpAddr, [u8; 6])>,
    /// Pipes and queues (`None`: the vnet shapes nothing and pays nothing).
    pub shaper: Option<Arc<crate::shaping::ShaperSpec>>,
    /// `[vnet.firewall]`; the default (no rules, allow) means no firewall.
    pub firewall: FirewallSpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(pub String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

struct NextHops {
    list: Vec<NextHop>,
    index: HashMap<NextHop, u32>,
}

impl NextHops {
    fn id(&mut self, nh: NextHop) -> u32 {
        *self.index.entry(nh).or_insert_with(|| {
            self.list.push(nh);
            (self.list.len() - 1) as u32
        })
    }
}

fn mask4(a: Ipv4Addr, len: u8) -> Ipv4Addr {
    let m = if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    };
    Ipv4Addr::from(u32::from(a) & m)
}

fn mask6(a: Ipv6Addr, len: u8) -> Ipv6Addr {
    let m = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    };
    Ipv6Addr::from(u128::from(a) & m)
}

/// Builds the forwarding part of a vnet: connected and local routes from the
/// interface addresses, then the static routes, then the firewall. `counters`
/// carries a live vnet's counters over to its new version, `old_fw` its
/// firewall (rule counters and states, kept when the rules did not change).
pub fn build_vnet(
    spec: &VnetSpec,
    workers: usize,
    counters: Option<Arc<VnetCounters>>,
    old_fw: Option<&Arc<VnetFirewall>>,
) -> Result<(VnetFwd, NeighborTable), BuildError> {
    let err = |m: String| BuildError(format!("vnet {:?}: {m}", spec.name));
    let mut nhs = NextHops {
        list: Vec::new(),
        index: HashMap::new(),
    };
    let local = nhs.id(NextHop::Local);
    let mut fib4 = lpm::Fib4::new();
    let mut fib6 = lpm::Fib6::new();
    let mut interfaces = Vec::with_capacity(spec.interfaces.len());

    for (i, s) in spec.interfaces.iter().enumerate() {
        let connected = nhs.id(NextHop::Connected { iface: i as u16 });
        for &(a, len) in &s.addrs4 {
            if len < 32 {
                fib4.insert(mask4(a, len), len, connected)
                    .map_err(|e| err(format!("{a}/{len}: {e}")))?;
            }
            fib4.insert(a, 32, local)
                .map_err(|e| err(format!("{a}: {e}")))?;
        }
        for &(a, len) in &s.addrs6 {
            if len < 128 {
                fib6.insert(mask6(a, len), len, connected)
                    .map_err(|e| err(format!("{a}/{len}: {e}")))?;
            }
            fib6.insert(a, 128, local)
                .map_err(|e| err(format!("{a}: {e}")))?;
        }
        interfaces.push(Interface {
            name: s.name.clone(),
            port: s.port,
            vlan: s.vlan,
            mac: s.mac,
            addrs4: s.addrs4.clone(),
            addrs6: s.addrs6.clone(),
            link_local6: Interface::eui64_link_local(s.mac),
        });
    }

    let find4 = |via: Ipv4Addr| {
        interfaces
            .iter()
            .position(|i| i.addrs4.iter().any(|(a, l)| same_subnet4(*a, via, *l)))
    };
    let find6 = |via: Ipv6Addr| {
        interfaces
            .iter()
            .position(|i| i.addrs6.iter().any(|(a, l)| same_subnet6(*a, via, *l)))
    };
    // Static routes go in as one batch per family (a routes_file may hold half a
    // million: one insert each would refresh the lookup structure as many times),
    // each checked first so that an error names its route.
    let mut batch4 = Vec::with_capacity(spec.routes4.len());
    let mut seen4 = HashSet::with_capacity(spec.routes4.len());
    for &(p, len, via) in &spec.routes4 {
        let iface = find4(via).ok_or_else(|| {
            err(format!(
                "route {p}/{len}: gateway {via} is not on a connected subnet"
            ))
        })?;
        let nh = nhs.id(NextHop::Gateway {
            iface: iface as u16,
            via: IpAddr::V4(via),
        });
        if !seen4.insert((p, len)) || fib4.get(p, len).is_some() {
            return Err(err(format!(
                "route {p}/{len} duplicates a connected subnet or another route"
            )));
        }
        batch4.push(lpm::Update4::Insert(p, len, nh));
    }
    fib4.apply(&batch4).map_err(|e| {
        let bad = spec
            .routes4
            .iter()
            .find(|&&(p, l, _)| lpm::Fib4::new().insert(p, l, 0).is_err());
        err(match bad {
            Some((p, l, _)) => format!("route {p}/{l}: {e}"),
            None => format!("routes: {e}"),
        })
    })?;
    let mut batch6 = Vec::with_capacity(spec.routes6.len());
    let mut seen6 = HashSet::with_capacity(spec.routes6.len());
    for &(p, len, via) in &spec.routes6 {
        let iface = find6(via).ok_or_else(|| {
            err(format!(
                "route {p}/{len}: gateway {via} is not on a connected subnet"
            ))
        })?;
        let nh = nhs.id(NextHop::Gateway {
            iface: iface as u16,
            via: IpAddr::V6(via),
        });
        if !seen6.insert((p, len)) || fib6.get(p, len).is_some() {
            return Err(err(format!(
                "route {p}/{len} duplicates a connected subnet or another route"
            )));
        }
        batch6.push(lpm::Update6::Insert(p, len, nh));
    }
    fib6.apply(&batch6).map_err(|e| {
        let bad = spec
            .routes6
            .iter()
            .find(|&&(p, l, _)| lpm::Fib6::new().insert(p, l, 0).is_err());
        err(match bad {
            Some((p, l, _)) => format!("route {p}/{l}: {e}"),
            None => format!("routes: {e}"),
        })
    })?;

    let mut neighbors = NeighborTable::default();
    for &(a, mac) in &spec.static_neighbors {
        neighbors.insert_static(a, mac);
    }
    let firewall =
        crate::firewall::build(&spec.firewall, &interfaces, workers, old_fw).map_err(err)?;
    let fwd = VnetFwd {
        id: spec.id,
        name: spec.name.clone(),
        interfaces,
        fib4_compact: fib4.compact(),
        fib4: Arc::new(fib4),
        fib6: Arc::new(fib6),
        nexthops: nhs.list,
        firewall,
        counters: counters.unwrap_or_else(|| Arc::new(VnetCounters::new(workers))),
        shaper_stats: spec.shaper.as_ref().map(|s| {
            Arc::new(crate::shaping::ShaperStats::new(
                s.0.pipes.iter().map(|p| p.id),
            ))
        }),
        spec: Arc::new(spec.clone()),
    };
    Ok((fwd, neighbors))
}
