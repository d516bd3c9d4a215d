//! `GET /v1/status`: ports and vnets with their counters.
use dataplane::runtime::Dataplane;
use dataplane::tables::{Tables, Vnet};
use serde_json::{json, Value};

pub(crate) fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn status_json(dp: &Dataplane, devices: &[(String, String)]) -> Value {
    let tables = dp.tables();
    let ports: Vec<Value> = dp
        .port_stats()
        .into_iter()
        .map(|(name, st, _)| {
            let device = devices
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, d)| d.clone())
                .unwrap_or_default();
            let mac = tables
                .ports
                .iter()
                .flatten()
                .find(|p| p.name == name)
                .map(|p| mac(p.mac))
                .unwrap_or_default();
            json!({
                "name": name, "device": device, "mac": mac,
                "rx_packets": st.rx_packets, "tx_packets": st.tx_packets,
                "rx_bytes": st.rx_bytes, "tx_bytes": st.tx_bytes,
                "rx_errors": st.rx_errors, "rx_missed": st.rx_missed,
            })
        })
        .collect();
    let vnets: Vec<Value> = tables.vnets.iter().map(|v| vnet_json(v, &tables)).collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "workers": dp.workers(),
        "tables_generation": tables.generation,
        "mbufs_in_use": dp.mbufs_in_use(),
        "ports": ports,
        "vnets": vnets,
    })
}

/// One vnet: interfaces, table sizes, counters (drops by reason).
pub(crate) fn vnet_json(v: &Vnet, tables: &Tables) -> Value {
    let port_name = |id: u16| {
        tables
            .ports
            .iter()
            .flatten()
            .find(|p| p.id.0 == id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    };
    let t = v.fwd.counters.totals();
    let interfaces: Vec<Value> = v
        .fwd
        .interfaces
        .iter()
        .map(|i| {
            let mut addrs: Vec<String> = i.addrs4.iter().map(|(a, l)| format!("{a}/{l}")).collect();
            addrs.extend(i.addrs6.iter().map(|(a, l)| format!("{a}/{l}")));
            json!({ "name": i.name, "port": port_name(i.port.0), "vlan": i.vlan, "mac": mac(i.mac), "addresses": addrs })
        })
        .collect();
    let drops: serde_json::Map<String, Value> = dataplane::stats::DropReason::ALL
        .iter()
        .filter(|r| t.dropped[**r as usize] > 0)
        .map(|r| (r.label().to_string(), json!(t.dropped[*r as usize])))
        .collect();
    json!({
        "name": v.fwd.name,
        "interfaces": interfaces,
        "routes4": v.fwd.fib4.len(), "routes6": v.fwd.fib6.len(),
        "neighbors": v.neighbors.len(),
        "rx_packets": t.rx_packets, "tx_packets": t.tx_packets,
        "rx_bytes": t.rx_bytes, "tx_bytes": t.tx_bytes,
        "forwarded": t.forwarded, "local": t.local,
        "icmp_errors_sent": t.icmp_errors_sent,
        "dropped": t.dropped.iter().sum::<u64>(),
        "dropped_by_reason": drops,
    })
}
