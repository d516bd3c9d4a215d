//! Validated config → the dataplane's plain-data vnet specs.
use crate::config::Config;
use dataplane::firewall::FirewallSpec;
use dataplane::runtime::Dataplane;
use dataplane::shaping::ShaperSpec;
use dataplane::tables::{InterfaceSpec, VnetSpec};
use std::net::IpAddr;
use std::sync::Arc;

/// `id_of` gives each vnet its dataplane id (stable while the vnet lives).
pub fn vnet_specs(
    cfg: &Config,
    dp: &Dataplane,
    mut id_of: impl FnMut(&str) -> u64,
) -> Result<Vec<VnetSpec>, String> {
    let mut out = Vec::with_capacity(cfg.vnets.len());
    for v in &cfg.vnets {
        let mut interfaces = Vec::with_capacity(v.interfaces.len());
        for ifc in &v.interfaces {
            let port = &cfg.ports[ifc.port];
            let id = dp
                .port_id(&port.name)
                .ok_or_else(|| format!("port {:?} did not start", port.name))?;
            let mac = match ifc.mac {
                Some(m) => m,
                None => dp
                    .port_mac(&port.name)
                    .ok_or_else(|| format!("port {:?} has no MAC", port.name))?,
            };
            interfaces.push(InterfaceSpec {
                name: ifc.name.clone(),
                port: id,
                vlan: ifc.vlan,
                mac,
                addrs4: ifc.addrs4.iter().map(|a| (a.addr, a.len)).collect(),
                addrs6: ifc.addrs6.iter().map(|a| (a.addr, a.len)).collect(),
            });
        }
        out.push(VnetSpec {
            id: id_of(&v.name),
            name: v.name.clone(),
            interfaces,
            routes4: v.routes4.iter().map(|r| (r.prefix, r.len, r.via)).collect(),
            routes6: v.routes6.iter().map(|r| (r.prefix, r.len, r.via)).collect(),
            static_neighbors: v
                .neighbors
                .iter()
                .map(|n| (n.addr, n.mac))
                .collect::<Vec<(IpAddr, [u8; 6])>>(),
            shaper: (!v.pipes.is_empty()).then(|| {
                let mut c = shaper::ShaperConfig {
                    pipes: v.pipes.clone(),
                    queues: v.queues.clone(),
                    ..shaper::ShaperConfig::default()
                };
                c.pool_slots = c.suggested_pool();
                Arc::new(ShaperSpec(c))
            }),
            firewall: FirewallSpec {
                default: v.firewall.default,
                rules: v.firewall.rules.clone(),
                max_states: v.firewall.max_states,
            },
        });
    }
    Ok(out)
}
