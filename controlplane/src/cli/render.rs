//! Human-readable tables of the API's JSON.
use serde_json::Value;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn iface_list(v: &Value) -> String {
    let ifs: Vec<String> = v["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| match i["vlan"].as_u64() {
            Some(vlan) => format!("{}@{}.{}", s(&i["name"]), s(&i["port"]), vlan),
            None => format!("{}@{}", s(&i["name"]), s(&i["port"])),
        })
        .collect();
    ifs.join(",")
}

pub fn vnets(list: &Value) {
    println!(
        "{:<12} {:<34} {:>7} {:>7} {:>6} {:>10} {:>10} {:>8}",
        "VNET", "INTERFACES", "ROUTES4", "ROUTES6", "NEIGH", "FORWARDED", "LOCAL", "DROPPED"
    );
    for v in list.as_array().into_iter().flatten() {
        println!(
            "{:<12} {:<34} {:>7} {:>7} {:>6} {:>10} {:>10} {:>8}",
            s(&v["name"]),
            iface_list(v),
            n(&v["routes4"]),
            n(&v["routes6"]),
            n(&v["neighbors"]),
            n(&v["forwarded"]),
            n(&v["local"]),
            n(&v["dropped"])
        );
    }
}

pub fn status(v: &Value) {
    println!(
        "vnetd {}  workers {}  tables generation {}  mbufs in use {}",
        s(&v["version"]),
        v["workers"],
        v["tables_generation"],
        v["mbufs_in_use"]
    );
    println!();
    println!(
        "{:<12} {:<40} {:<18} {:>12} {:>12} {:>8}",
        "PORT", "DEVICE", "MAC", "RX", "TX", "MISSED"
    );
    for p in v["ports"].as_array().into_iter().flatten() {
        println!(
            "{:<12} {:<40} {:<18} {:>12} {:>12} {:>8}",
            s(&p["name"]),
            s(&p["device"]),
            s(&p["mac"]),
            n(&p["rx_packets"]),
            n(&p["tx_packets"]),
            n(&p["rx_missed"])
        );
    }
    println!();
    vnets(&v["vnets"]);
}

pub fn interfaces(list: &Value) {
    for i in list.as_array().into_iter().flatten() {
        let vlan = i["vlan"]
            .as_u64()
            .map(|v| format!(" vlan {v}"))
            .unwrap_or_default();
        println!(
            "{}: port {}{} ether {}",
            s(&i["name"]),
            s(&i["port"]),
            vlan,
            s(&i["mac"])
        );
        for a in i["addresses"].as_array().into_iter().flatten() {
            let a = s(a);
            println!("\t{} {a}", if a.contains(':') { "inet6" } else { "inet" });
        }
    }
}

fn next_hop(r: &Value) -> (String, String) {
    match s(&r["type"]) {
        "gateway" => (s(&r["via"]).to_string(), s(&r["interface"]).to_string()),
        "connected" => (
            "link#".to_string() + s(&r["interface"]),
            s(&r["interface"]).to_string(),
        ),
        "local" => ("local".to_string(), "-".to_string()),
        other => (other.to_string(), "-".to_string()),
    }
}

pub fn routes(v: &Value) {
    println!("{:<44} {:<40} Netif", "Destination", "Gateway");
    for r in v["routes"].as_array().into_iter().flatten() {
        let (gw, netif) = next_hop(r);
        println!("{:<44} {:<40} {}", s(&r["prefix"]), gw, netif);
    }
    if v["truncated"].as_bool() == Some(true) {
        println!(
            "... {} routes in all (use --json and the API's limit parameter for more)",
            n(&v["total"])
        );
    }
}

pub fn route_get(r: &Value) {
    let (gw, netif) = next_hop(r);
    println!(
        "   route to: {}\n    gateway: {gw}\n  interface: {netif}",
        s(&r["address"])
    );
}

pub fn neighbors(list: &Value) {
    for e in list.as_array().into_iter().flatten() {
        let kind = if e["static"].as_bool() == Some(true) {
            " permanent"
        } else {
            ""
        };
        println!("? ({}) at {}{kind}", s(&e["address"]), s(&e["mac"]));
    }
}

pub fn counters(v: &Value) {
    println!(
        "{:<12} {:>12} {:>14} {:>12} {:>14} {:>10} {:>10} {:>8}",
        "VNET", "IPKTS", "IBYTES", "OPKTS", "OBYTES", "FORWARDED", "LOCAL", "DROPPED"
    );
    println!(
        "{:<12} {:>12} {:>14} {:>12} {:>14} {:>10} {:>10} {:>8}",
        s(&v["name"]),
        n(&v["rx_packets"]),
        n(&v["rx_bytes"]),
        n(&v["tx_packets"]),
        n(&v["tx_bytes"]),
        n(&v["forwarded"]),
        n(&v["local"]),
        n(&v["dropped"])
    );
    if let Some(m) = v["dropped_by_reason"].as_object() {
        for (reason, count) in m {
            println!("  dropped {reason}: {}", n(count));
        }
    }
}

pub fn applied(v: &Value) {
    let list = |k: &str| {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .map(|x| s(x).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let mut parts = Vec::new();
    for (k, label) in [
        ("added", "added"),
        ("changed", "changed"),
        ("removed", "removed"),
    ] {
        let l = list(k);
        if !l.is_empty() {
            parts.push(format!("{label} {l}"));
        }
    }
    let took = match (v["validate_ms"].as_f64(), v["publish_ms"].as_f64()) {
        (Some(a), Some(b)) => format!(" in {:.1} ms", a + b),
        _ => String::new(),
    };
    if parts.is_empty() {
        println!("ok (nothing changed{took})");
    } else {
        println!("ok: {}{took}", parts.join("; "));
    }
}

/// Pipes or queues: `ID: key value ...` in the config's terms.
pub fn shaping(list: &Value) {
    for p in list.as_array().into_iter().flatten() {
        let Some(obj) = p.as_object() else { continue };
        let rest: Vec<String> = obj
            .iter()
            .filter(|(k, _)| *k != "id")
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k} {s}"),
                other => format!("{k} {other}"),
            })
            .collect();
        println!(
            "{}: {}",
            obj.get("id").map(|v| v.to_string()).unwrap_or_default(),
            rest.join(" ")
        );
    }
}
