//! Changing a live vnet's routes without rebuilding its tables. When only the
//! static routes of a spec changed (everything else equal), the next version starts
//! from a copy of the current FIBs and applies the route diff as one `lpm` batch,
//! which rebuilds only the parts of the lookup structure the changed prefixes
//! touch. A vnet holding a full Internet table (half a million routes from its
//! `routes_file`) then takes an API route change in milliseconds instead of a
//! rebuild of every route. Checks are those of `build_vnet`, with the same errors.
use super::build::{BuildError, VnetSpec};
use super::interface::{same_subnet4, same_subnet6};
use super::nexthop::NextHop;
use super::VnetFwd;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// A route of a spec: (prefix, length, gateway).
type Route<A> = (A, u8, A);

/// What changed between two route lists.
struct Diff<A> {
    /// New routes, and routes whose gateway changed (`true`: the prefix stays in
    /// the table with a new next hop).
    added: Vec<(A, u8, A, bool)>,
    /// Prefixes that are gone.
    removed: Vec<(A, u8)>,
}

impl<A> Diff<A> {
    fn len(&self) -> usize {
        self.added.len() + self.removed.len()
    }
}

/// The routes of `new` that `old` lacks (or has with another gateway), and the
/// prefixes of `old` that `new` lacks. An API edit appends, removes or changes a
/// few routes: the lists share a long head and tail, compared in place, and only
/// what lies between is hashed.
fn diff<A: Copy + Eq + Hash>(old: &[Route<A>], new: &[Route<A>]) -> Diff<A> {
    let head = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let (old, new) = (&old[head..], &new[head..]);
    let tail = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old, new) = (&old[..old.len() - tail], &new[..new.len() - tail]);
    let mut gone: HashMap<(A, u8), A> = old.iter().map(|&(p, l, via)| ((p, l), via)).collect();
    let mut added = Vec::new();
    for &(p, l, via) in new {
        match gone.remove(&(p, l)) {
            Some(was) if was == via => {}
            Some(_) => added.push((p, l, via, true)),
            None => added.push((p, l, via, false)),
        }
    }
    Diff {
        added,
        removed: gone.into_keys().collect(),
    }
}

/// Next-hop ids of the new version: the current ones keep their index (the
/// current FIBs hold them), new gateways are appended.
struct NextHopIds {
    list: Vec<NextHop>,
    index: HashMap<NextHop, u32>,
}

impl NextHopIds {
    fn new(list: &[NextHop]) -> Self {
        let index = list
            .iter()
            .enumerate()
            .map(|(i, &nh)| (nh, i as u32))
            .collect();
        NextHopIds {
            list: list.to_vec(),
            index,
        }
    }

    fn id(&mut self, nh: NextHop) -> u32 {
        *self.index.entry(nh).or_insert_with(|| {
            self.list.push(nh);
            (self.list.len() - 1) as u32
        })
    }
}

/// The edits of one family as an `lpm` batch, checked as `build_vnet` checks
/// routes: the gateway on a connected subnet, no prefix twice (a connected subnet,
/// a local address or another route).
macro_rules! family_batch {
    ($name:ident, $addr:ty, $fib:ty, $field:ident, $same_subnet:ident, $addrs:ident, $ip:ident) => {
        fn $name(
            cur: &VnetFwd,
            d: &Diff<$addr>,
            ids: &mut NextHopIds,
            err: &impl Fn(String) -> BuildError,
        ) -> Result<Option<Arc<$fib>>, BuildError> {
            if d.len() == 0 {
                return Ok(None);
            }
            let removed: HashSet<($addr, u8)> = d.removed.iter().copied().collect();
            let mut batch: Vec<lpm::Update<$addr>> = d
                .removed
                .iter()
                .map(|&(p, l)| lpm::Update::Remove(p, l))
                .collect();
            let mut seen = HashSet::with_capacity(d.added.len());
            for &(p, len, via, replaces) in &d.added {
                let iface = cur
                    .interfaces
                    .iter()
                    .position(|i| i.$addrs.iter().any(|(a, l)| $same_subnet(*a, via, *l)))
                    .ok_or_else(|| {
                        err(format!(
                            "route {p}/{len}: gateway {via} is not on a connected subnet"
                        ))
                    })?;
                let nh = ids.id(NextHop::Gateway {
                    iface: iface as u16,
                    via: IpAddr::$ip(via),
                });
                let taken =
                    !replaces && !removed.contains(&(p, len)) && cur.$field.get(p, len).is_some();
                if !seen.insert((p, len)) || taken {
                    return Err(err(format!(
                        "route {p}/{len} duplicates a connected subnet or another route"
                    )));
                }
                batch.push(lpm::Update::Insert(p, len, nh));
            }
            let mut fib = <$fib>::clone(&cur.$field);
            if let Err(e) = fib.apply(&batch) {
                // Name the route: the first one an empty table refuses alone.
                let bad = d
                    .added
                    .iter()
                    .find(|&&(p, l, _, _)| <$fib>::new().insert(p, l, 0).is_err());
                return Err(err(match bad {
                    Some((p, l, _, _)) => format!("route {p}/{l}: {e}"),
                    None => format!("routes: {e}"),
                }));
            }
            Ok(Some(Arc::new(fib)))
        }
    };
}

family_batch!(batch4, Ipv4Addr, lpm::Fib4, fib4, same_subnet4, addrs4, V4);
family_batch!(batch6, Ipv6Addr, lpm::Fib6, fib6, same_subnet6, addrs6, V6);

/// The next version of `cur` for `spec` when only static routes differ, made by
/// applying the route diff to a copy of `cur`'s FIBs; `None` when something else
/// changed or the diff is so large that `build_vnet` costs no more.
pub fn update_routes(cur: &VnetFwd, spec: &VnetSpec) -> Option<Result<VnetFwd, BuildError>> {
    // Every field but the routes must be equal: naming them all here makes a new
    // field a compile error until someone decides how it is updated.
    let VnetSpec {
        id,
        name,
        interfaces,
        routes4: _,
        routes6: _,
        static_neighbors,
        shaper,
        firewall,
    } = &*cur.spec;
    if *id != spec.id
        || *name != spec.name
        || *interfaces != spec.interfaces
        || *static_neighbors != spec.static_neighbors
        || *shaper != spec.shaper
        || *firewall != spec.firewall
    {
        return None;
    }
    let d4 = diff(&cur.spec.routes4, &spec.routes4);
    let d6 = diff(&cur.spec.routes6, &spec.routes6);
    let edits = d4.len() + d6.len();
    let total = spec.routes4.len() + spec.routes6.len();
    if edits > 256 && edits * 4 > total {
        return None;
    }
    let err = |m: String| BuildError(format!("vnet {:?}: {m}", spec.name));
    let mut ids = NextHopIds::new(&cur.nexthops);
    let result = (|| {
        let fib4 = batch4(cur, &d4, &mut ids, &err)?;
        let fib6 = batch6(cur, &d6, &mut ids, &err)?;
        Ok(VnetFwd {
            id: cur.id,
            name: cur.name.clone(),
            interfaces: cur.interfaces.clone(),
            // A family without edits is shared with the current version as is.
            fib4_compact: match &fib4 {
                Some(f) => f.compact(),
                None => cur.fib4_compact.clone(),
            },
            fib4: fib4.unwrap_or_else(|| cur.fib4.clone()),
            fib6: fib6.unwrap_or_else(|| cur.fib6.clone()),
            nexthops: ids.list,
            // Same rules, same interfaces: the same firewall (states, counters).
            firewall: cur.firewall.clone(),
            counters: cur.counters.clone(),
            shaper_stats: cur.shaper_stats.clone(),
            spec: Arc::new(spec.clone()),
        })
    })();
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpdk::PortId;
    use crate::tables::{build_vnet, InterfaceSpec};

    fn spec(routes4: Vec<Route<Ipv4Addr>>, routes6: Vec<Route<Ipv6Addr>>) -> VnetSpec {
        VnetSpec {
            id: 7,
            name: "t".into(),
            interfaces: vec![
                InterfaceSpec {
                    name: "a".into(),
                    port: PortId(0),
                    vlan: None,
                    mac: [2, 0, 0, 0, 0, 1],
                    addrs4: vec![(Ipv4Addr::new(10, 0, 1, 1), 24)],
                    addrs6: vec![("fd00:1::1".parse().unwrap(), 64)],
                },
                InterfaceSpec {
                    name: "b".into(),
                    port: PortId(1),
                    vlan: None,
                    mac: [2, 0, 0, 0, 0, 2],
                    addrs4: vec![(Ipv4Addr::new(10, 0, 2, 1), 24)],
                    addrs6: vec![],
                },
            ],
            routes4,
            routes6,
            static_neighbors: vec![],
            shaper: None,
            firewall: Default::default(),
        }
    }

    const GW1: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 254);
    const GW2: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 254);

    fn r4(i: u32, len: u8, via: Ipv4Addr) -> Route<Ipv4Addr> {
        let p = (0x0b00_0000 + (i << 8)) & (u32::MAX << (32 - u32::from(len)));
        (Ipv4Addr::from(p), len, via)
    }

    /// Every route of both families with what its next hop means.
    fn routes(f: &VnetFwd) -> HashSet<(IpAddr, u8, NextHop)> {
        let v4 = f
            .fib4
            .iter()
            .map(|(p, l, nh)| (IpAddr::V4(p), l, f.nexthops[nh as usize]));
        let v6 = f
            .fib6
            .iter()
            .map(|(p, l, nh)| (IpAddr::V6(p), l, f.nexthops[nh as usize]));
        v4.chain(v6).collect()
    }

    #[test]
    fn diff_finds_appended_removed_and_changed_routes() {
        let old: Vec<_> = (0..100).map(|i| r4(i, 24, GW1)).collect();
        let mut new = old.clone();
        new.push(r4(500, 24, GW1));
        let d = diff(&old, &new);
        assert_eq!(
            (d.added, d.removed.len()),
            (vec![(r4(500, 24, GW1).0, 24, GW1, false)], 0)
        );
        new.remove(10);
        new[20].2 = GW2;
        let d = diff(&old, &new);
        assert_eq!(d.removed, vec![(r4(10, 24, GW1).0, 24)]);
        let mut added = d.added.clone();
        added.sort();
        assert_eq!(added, {
            let mut a = vec![
                (new[20].0, 24, GW2, true),
                (r4(500, 24, GW1).0, 24, GW1, false),
            ];
            a.sort();
            a
        });
        // The same routes in another order: nothing to do.
        let mut shuffled = old.clone();
        shuffled.reverse();
        assert_eq!(diff(&old, &shuffled).len(), 0);
    }

    /// A chain of route edits through `update_routes` ends with the routes (and
    /// their meaning) that `build_vnet` gives for the final spec.
    #[test]
    fn updates_match_a_rebuild() {
        let mut routes4: Vec<_> = (0..3000).map(|i| r4(i * 7, 24, GW1)).collect();
        routes4.push(r4(0, 8, GW2));
        routes4.push(r4(1, 16, GW2));
        let routes6 = vec![(
            "2001:db8::".parse().unwrap(),
            32,
            "fd00:1::fe".parse().unwrap(),
        )];
        let first = spec(routes4.clone(), routes6.clone());
        let (mut cur, _) = build_vnet(&first, 1, None, None).unwrap();
        let mut rng = 0x9e37_79b9_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for step in 0..20 {
            for _ in 0..(1 + next() % 30) {
                match next() % 4 {
                    0 if !routes4.is_empty() => {
                        routes4.remove(next() as usize % routes4.len());
                    }
                    1 if !routes4.is_empty() => {
                        let i = next() as usize % routes4.len();
                        routes4[i].2 = if routes4[i].2 == GW1 { GW2 } else { GW1 };
                    }
                    _ => {
                        let r = r4(next() as u32 % 100_000, 20 + (next() % 13) as u8, GW1);
                        if !routes4.iter().any(|&(p, l, _)| (p, l) == (r.0, r.1)) {
                            routes4.push(r);
                        }
                    }
                }
            }
            let s = spec(routes4.clone(), routes6.clone());
            let next_fwd = update_routes(&cur, &s)
                .expect("only routes changed")
                .unwrap();
            assert!(
                Arc::ptr_eq(&next_fwd.fib6, &cur.fib6),
                "step {step}: untouched family copied"
            );
            let (rebuilt, _) = build_vnet(&s, 1, None, None).unwrap();
            assert_eq!(routes(&next_fwd), routes(&rebuilt), "step {step}");
            for k in 0..2000u32 {
                let a = Ipv4Addr::from(0x0b00_0000 + k * 613);
                let got = next_fwd
                    .fib4
                    .lookup(a)
                    .map(|nh| next_fwd.nexthops[nh as usize]);
                let want = rebuilt
                    .fib4
                    .lookup(a)
                    .map(|nh| rebuilt.nexthops[nh as usize]);
                assert_eq!(got, want, "step {step}: lookup {a}");
            }
            cur = next_fwd;
        }
    }

    #[test]
    fn bad_edits_are_refused_like_build_vnet_refuses_them() {
        let base = spec(vec![r4(1, 24, GW1)], vec![]);
        let (cur, _) = build_vnet(&base, 1, None, None).unwrap();
        let cases = [
            (
                vec![r4(1, 24, GW1), r4(2, 24, Ipv4Addr::new(192, 0, 2, 1))],
                "not on a connected subnet",
            ),
            (
                vec![r4(1, 24, GW1), (Ipv4Addr::new(10, 0, 1, 0), 24, GW2)],
                "duplicates a connected subnet",
            ),
            (
                vec![r4(1, 24, GW1), r4(2, 24, GW1), r4(2, 24, GW2)],
                "duplicates",
            ),
            (
                vec![r4(1, 24, GW1), (Ipv4Addr::new(11, 0, 0, 1), 24, GW1)],
                "bits set beyond",
            ),
        ];
        for (routes4, want) in cases {
            let s = spec(routes4, vec![]);
            let e = update_routes(&cur, &s)
                .expect("only routes changed")
                .err()
                .expect("refused");
            assert!(e.0.contains(want), "{e}");
            let r = build_vnet(&s, 1, None, None).map(|_| ()).unwrap_err();
            assert!(r.0.contains(want), "build_vnet: {r}");
        }
        // Anything but routes changed: not an update.
        let mut other = base.clone();
        other.interfaces[1].vlan = Some(5);
        assert!(update_routes(&cur, &other).is_none());
    }
}
