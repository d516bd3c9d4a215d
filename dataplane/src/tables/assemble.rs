//! Turning a list of vnet specs into the next `Tables`, as one transaction,
//! reusing what did not change.
use super::build::{build_vnet, BuildError, VnetSpec};
use super::demux::{Demux, DemuxEntry};
use super::update::update_routes;
use super::{Tables, Vnet, VnetFwd};
use crate::neighbor_manager::NeighborManager;
use std::collections::HashMap;
use std::sync::Arc;

/// What a publication changed, for logs and API answers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AssembleSummary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
    pub removed: Vec<String>,
}

/// Builds the version that follows `cur` with exactly the vnets of `specs`
/// (matched to `cur`'s by id). Everything is built before anything changes:
/// on error, `cur` and `neighbors` are untouched.
///
/// - An unchanged spec keeps its `VnetFwd` as is: no rebuild, no packet
///   sees a difference.
/// - A spec whose static routes alone changed gets the route diff applied to a
///   copy of its FIBs (`update_routes`): milliseconds for a full table.
/// - Any other changed spec is rebuilt, keeping its counters and learned neighbors.
/// - A vnet missing from `specs` is gone from the result; workers free the
///   frames it still held when they next look for it.
pub fn assemble(
    specs: &[VnetSpec],
    cur: &Tables,
    workers: usize,
    neighbors: &mut NeighborManager,
) -> Result<(Tables, AssembleSummary), BuildError> {
    let old: HashMap<u64, &Vnet> = cur.vnets.iter().map(|v| (v.fwd.id, v)).collect();
    let mut summary = AssembleSummary::default();
    let mut fwds: Vec<(Arc<VnetFwd>, Option<super::NeighborTable>)> =
        Vec::with_capacity(specs.len());
    for spec in specs {
        match old.get(&spec.id) {
            Some(v) if *v.fwd.spec == *spec => {
                summary.unchanged += 1;
                fwds.push((v.fwd.clone(), None));
            }
            Some(v) => {
                summary.changed.push(spec.name.clone());
                // Only routes changed: edit a copy of the FIBs (neighbors stay).
                if let Some(fwd) = update_routes(&v.fwd, spec) {
                    fwds.push((Arc::new(fwd?), None));
                    continue;
                }
                let (fwd, statics) = build_vnet(
                    spec,
                    workers,
                    Some(v.fwd.counters.clone()),
                    v.fwd.firewall.as_ref(),
                )?;
                fwds.push((Arc::new(fwd), Some(statics)));
            }
            None => {
                let (fwd, statics) = build_vnet(spec, workers, None, None)?;
                summary.added.push(spec.name.clone());
                fwds.push((Arc::new(fwd), Some(statics)));
            }
        }
    }
    let mut demux = Demux::default();
    for (vi, (fwd, _)) in fwds.iter().enumerate() {
        for (ii, ifc) in fwd.interfaces.iter().enumerate() {
            demux
                .insert(
                    ifc.port,
                    ifc.vlan,
                    DemuxEntry::new(vi, ii),
                    ifc.mac,
                    &fwd.counters,
                )
                .map_err(|owner| {
                    BuildError(format!(
                    "vnet {:?} interface {:?}: (port {}, vlan {:?}) already belongs to vnet {:?}",
                    fwd.name,
                    ifc.name,
                    ifc.port.0,
                    ifc.vlan,
                    fwds[owner.vnet()].0.name
                ))
                })?;
        }
    }

    // Nothing can fail from here on: commit to the neighbor manager.
    let keep: std::collections::HashSet<u64> = specs.iter().map(|s| s.id).collect();
    for v in &cur.vnets {
        if !keep.contains(&v.fwd.id) {
            summary.removed.push(v.fwd.name.clone());
            neighbors.set_vnet(v.fwd.id, None);
        }
    }
    let vnets = fwds
        .into_iter()
        .map(|(fwd, statics)| {
            let neighbors = match statics {
                None => old[&fwd.id].neighbors.clone(),
                Some(statics) => Arc::new(neighbors.replace_statics(fwd.id, statics).clone()),
            };
            Vnet::new(fwd, neighbors)
        })
        .collect();
    let next = Tables {
        generation: cur.generation,
        demux: Arc::new(demux),
        vnets,
        ports: cur.ports.clone(),
    };
    Ok((next, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpdk::PortId;
    use crate::tables::{InterfaceSpec, NeighborEvent, TablePublisher};
    use std::net::{IpAddr, Ipv4Addr};

    fn spec(id: u64, name: &str, vlan: u16, routes: usize) -> VnetSpec {
        VnetSpec {
            id,
            name: name.into(),
            interfaces: vec![InterfaceSpec {
                name: "lan".into(),
                port: PortId(0),
                vlan: Some(vlan),
                mac: [2, 0, 0, 0, 0, 1],
                addrs4: vec![(Ipv4Addr::new(10, 0, 1, 1), 24)],
                addrs6: vec![],
            }],
            routes4: (0..routes)
                .map(|i| {
                    (
                        Ipv4Addr::new(192, 168, i as u8, 0),
                        24,
                        Ipv4Addr::new(10, 0, 1, 254),
                    )
                })
                .collect(),
            routes6: vec![],
            static_neighbors: vec![(
                IpAddr::V4(Ipv4Addr::new(10, 0, 1, 254)),
                [2, 0, 0, 0, 0, 0xfe],
            )],
            shaper: None,
            firewall: Default::default(),
        }
    }

    fn apply(
        p: &TablePublisher,
        m: &mut NeighborManager,
        specs: &[VnetSpec],
    ) -> Result<AssembleSummary, BuildError> {
        let mut out = None;
        p.try_update(|cur| match assemble(specs, cur, 1, m) {
            Ok((t, s)) => {
                out = Some(Ok(s));
                Some(t)
            }
            Err(e) => {
                out = Some(Err(e));
                None
            }
        });
        out.unwrap()
    }

    #[test]
    fn unchanged_vnets_are_reused_changed_ones_keep_counters_and_neighbors() {
        let p = TablePublisher::new(Tables::empty());
        let mut m = NeighborManager::empty();
        let s = apply(&p, &mut m, &[spec(1, "red", 10, 1), spec(2, "blue", 20, 1)]).unwrap();
        assert_eq!(s.added, ["red", "blue"]);
        let v1 = p.load();
        let red_fwd = v1.vnets[0].fwd.clone();
        crate::stats::bump(&v1.vnets[1].fwd.counters.worker(0).rx_packets, 5);
        // blue learns a neighbor.
        let q = crossbeam_queue::ArrayQueue::new(4);
        q.push(NeighborEvent {
            vnet_id: 2,
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 9)),
            mac: [2, 9, 9, 9, 9, 9],
            tsc: 1,
        })
        .unwrap();
        m.drain(&q);
        m.publish(&p);

        // blue gets a second route; red is untouched.
        let s = apply(&p, &mut m, &[spec(1, "red", 10, 1), spec(2, "blue", 20, 2)]).unwrap();
        assert_eq!(
            (s.unchanged, s.changed.clone()),
            (1, vec!["blue".to_string()])
        );
        let v2 = p.load();
        assert!(
            Arc::ptr_eq(&v2.vnets[0].fwd, &red_fwd),
            "unchanged vnet must not be rebuilt"
        );
        let blue = &v2.vnets[1];
        assert_eq!(blue.fwd.fib4.len(), 4); // connected + local + 2 routes
        assert_eq!(
            blue.fwd.counters.totals().rx_packets,
            5,
            "counters survive a change"
        );
        assert!(
            blue.neighbors
                .get(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 9)))
                .is_some(),
            "learned neighbors survive"
        );
        assert!(
            blue.neighbors
                .get(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 254)))
                .unwrap()
                .is_static
        );

        // Removing red frees its (port, VLAN) for a new vnet in the same publication.
        let s = apply(
            &p,
            &mut m,
            &[spec(2, "blue", 20, 2), spec(3, "green", 10, 0)],
        )
        .unwrap();
        assert_eq!(
            (s.removed.clone(), s.added.clone()),
            (vec!["red".to_string()], vec!["green".to_string()])
        );
        let v3 = p.load();
        assert_eq!(v3.demux.lookup(PortId(0), Some(10)).vnet(), 1);
        assert!(m.table(1).is_none());
    }

    #[test]
    fn a_failing_publication_changes_nothing() {
        let p = TablePublisher::new(Tables::empty());
        let mut m = NeighborManager::empty();
        apply(&p, &mut m, &[spec(1, "red", 10, 1)]).unwrap();
        let before = p.load();
        // Two vnets on the same (port, VLAN), and a gateway on no connected subnet.
        assert!(
            apply(&p, &mut m, &[spec(1, "red", 10, 2), spec(2, "blue", 10, 0)])
                .unwrap_err()
                .0
                .contains("already belongs")
        );
        let mut bad = spec(1, "red", 10, 0);
        bad.routes4.push((
            Ipv4Addr::new(172, 16, 0, 0),
            12,
            Ipv4Addr::new(192, 0, 2, 1),
        ));
        assert!(apply(&p, &mut m, &[bad])
            .unwrap_err()
            .0
            .contains("not on a connected subnet"));
        let after = p.load();
        assert_eq!(after.generation, before.generation);
        assert!(Arc::ptr_eq(&after.vnets[0].fwd, &before.vnets[0].fwd));
        assert!(m.table(1).is_some() && m.table(2).is_none());
    }

    /// Every next hop's resolved MAC, checked against the neighbor table itself,
    /// and a resolved gateway's whole L2 rewrite against its egress interface.
    fn gateway_macs_agree(v: &Vnet) -> usize {
        let mut gateways = 0;
        for (nh, hop) in v.fwd.nexthops.iter().enumerate() {
            let want = match *hop {
                crate::tables::NextHop::Gateway { via, iface } => {
                    gateways += 1;
                    let mac = v.neighbors.get(via).map(|e| e.mac);
                    if let (Some(_), Some(g)) = (mac, v.gateway(nh as u32)) {
                        let i = &v.fwd.interfaces[usize::from(iface)];
                        assert_eq!(
                            (g.src_mac, g.port, g.vlan()),
                            (i.mac, i.port, i.vlan),
                            "next hop {nh}: {hop:?}"
                        );
                    }
                    mac
                }
                _ => None,
            };
            assert_eq!(v.gateway_mac(nh as u32), want, "next hop {nh}: {hop:?}");
            assert_eq!(v.gateway(nh as u32).is_some(), want.is_some());
        }
        assert_eq!(v.gateway_mac(lpm::NO_ROUTE), None);
        gateways
    }

    #[test]
    fn gateway_macs_follow_neighbors_and_routes() {
        let p = TablePublisher::new(Tables::empty());
        let mut m = NeighborManager::empty();
        let mut red = spec(1, "red", 10, 1);
        // A second gateway nobody knows yet.
        red.routes4.push((
            Ipv4Addr::new(172, 16, 0, 0),
            12,
            Ipv4Addr::new(10, 0, 1, 253),
        ));
        // Three more unknown gateways: entries past the first `GatewayLine`.
        for k in 0..3 {
            red.routes4.push((
                Ipv4Addr::new(172, 32 + k, 0, 0),
                16,
                Ipv4Addr::new(10, 0, 1, 250 + k),
            ));
        }
        apply(&p, &mut m, std::slice::from_ref(&red)).unwrap();
        let v = p.load().vnets[0].clone();
        assert!(v.fwd.nexthops.len() > crate::tables::GatewayLine::ENTRIES);
        assert_eq!(gateway_macs_agree(&v), 5);
        // The one resolved gateway's entry is in the `Vnet`'s first line, and no
        // IPv4 frame needs another.
        let first = nh_of(&v, Ipv4Addr::new(10, 0, 1, 254));
        assert!(in_first_line(&v, v.gateway(first).unwrap()));
        assert_eq!(v.gateway_slot(first), v.gateway(first).unwrap() as *const _);
        assert!(!v.cold_gateways4());
        let unknown = v
            .fwd
            .nexthops
            .iter()
            .position(|h| matches!(h, crate::tables::NextHop::Gateway { via, .. } if *via == IpAddr::V4(Ipv4Addr::new(10, 0, 1, 253))))
            .unwrap() as u32;
        assert_eq!(v.gateway_mac(unknown), None);

        // Learned: the next publication resolves it.
        let q = crossbeam_queue::ArrayQueue::new(4);
        let learn = |mac: [u8; 6], tsc: u64| NeighborEvent {
            vnet_id: 1,
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 253)),
            mac,
            tsc,
        };
        q.push(learn([2, 5, 5, 5, 5, 5], 1)).unwrap();
        m.drain(&q);
        m.publish(&p);
        let v = p.load().vnets[0].clone();
        gateway_macs_agree(&v);
        assert_eq!(v.gateway_mac(unknown), Some([2, 5, 5, 5, 5, 5]));
        // A second resolved gateway: its entry is in the gateway lines (the first
        // keeps the first line), and IPv4 frames may need them.
        assert!(in_first_line(&v, v.gateway(first).unwrap()));
        assert!(!in_first_line(&v, v.gateway(unknown).unwrap()));
        assert_eq!(
            v.gateway_slot(unknown),
            v.gateway(unknown).unwrap() as *const _
        );
        assert!(v.cold_gateways4());

        // A new MAC for it, then a route edit (FIB copied, neighbors kept).
        q.push(learn([2, 6, 6, 6, 6, 6], 2)).unwrap();
        m.drain(&q);
        m.publish(&p);
        red.routes4.push((
            Ipv4Addr::new(198, 18, 0, 0),
            15,
            Ipv4Addr::new(10, 0, 1, 253),
        ));
        apply(&p, &mut m, std::slice::from_ref(&red)).unwrap();
        let v = p.load().vnets[0].clone();
        assert_eq!(gateway_macs_agree(&v), 5);
        assert_eq!(v.gateway_mac(unknown), Some([2, 6, 6, 6, 6, 6]));

        // Expired: unresolved again.
        m.expire(3);
        m.publish(&p);
        let v = p.load().vnets[0].clone();
        gateway_macs_agree(&v);
        assert_eq!(v.gateway_mac(unknown), None);
        assert!(!v.cold_gateways4());
    }

    fn nh_of(v: &Vnet, via: Ipv4Addr) -> u32 {
        v.fwd
            .nexthops
            .iter()
            .position(|h| matches!(h, crate::tables::NextHop::Gateway { via: a, .. } if *a == IpAddr::V4(via)))
            .unwrap() as u32
    }

    fn in_first_line(v: &Vnet, g: &crate::tables::GatewayEgress) -> bool {
        let (base, g) = (v as *const Vnet as usize, g as *const _ as usize);
        base % 64 == 0 && g >= base && g + 16 <= base + 64
    }

    /// The first line's entry is the first resolved IPv4 gateway's, else the
    /// first resolved IPv6 one's; none resolved: no entry, and `NO_ROUTE` (the
    /// index the first line's entry would match) has no gateway.
    #[test]
    fn the_first_line_holds_the_first_resolved_gateway() {
        let p = TablePublisher::new(Tables::empty());
        let mut m = NeighborManager::empty();
        let mut red = spec(1, "red", 10, 1);
        // No neighbor known: nothing resolved.
        red.static_neighbors.clear();
        red.interfaces[0]
            .addrs6
            .push(("2001:db8::1".parse().unwrap(), 64));
        red.routes6.push((
            "2001:db8:9::".parse().unwrap(),
            48,
            "2001:db8::2".parse().unwrap(),
        ));
        apply(&p, &mut m, std::slice::from_ref(&red)).unwrap();
        let v = p.load().vnets[0].clone();
        assert_eq!(gateway_macs_agree(&v), 2);
        assert!(v.gateway(lpm::NO_ROUTE).is_none());
        assert!(!v.cold_gateways4());
        // The IPv6 gateway resolved alone takes the first line.
        red.static_neighbors.push((
            IpAddr::V6("2001:db8::2".parse().unwrap()),
            [2, 0, 0, 0, 0, 6],
        ));
        apply(&p, &mut m, std::slice::from_ref(&red)).unwrap();
        let v = p.load().vnets[0].clone();
        assert_eq!(gateway_macs_agree(&v), 2);
        let v6 = (v.fwd.nexthops.iter())
            .position(|h| {
                matches!(
                    h,
                    crate::tables::NextHop::Gateway {
                        via: IpAddr::V6(_),
                        ..
                    }
                )
            })
            .unwrap() as u32;
        assert!(in_first_line(&v, v.gateway(v6).unwrap()));
        // Both resolved: the IPv4 one has it.
        red.static_neighbors
            .push((IpAddr::V4(Ipv4Addr::new(10, 0, 1, 254)), [2, 0, 0, 0, 0, 4]));
        apply(&p, &mut m, std::slice::from_ref(&red)).unwrap();
        let v = p.load().vnets[0].clone();
        assert_eq!(gateway_macs_agree(&v), 2);
        let v4 = nh_of(&v, Ipv4Addr::new(10, 0, 1, 254));
        assert!(in_first_line(&v, v.gateway(v4).unwrap()));
        assert!(!in_first_line(&v, v.gateway(v6).unwrap()));
        assert_eq!(v.gateway_mac(v6), Some([2, 0, 0, 0, 0, 6]));
        assert!(!v.cold_gateways4(), "the other resolved gateway is IPv6");
        assert!(v.gateway(lpm::NO_ROUTE).is_none());
    }
}
