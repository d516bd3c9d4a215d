//! Firewall metrics: per vnet with rules, the dynamic states in use (always);
//! per rule, packets and bytes (only with `[metrics] firewall_rules = true`:
//! 10,000 rules on 1,000 vnets would be ten million series).
use super::render::Family;
use dataplane::tables::Tables;

pub(super) fn render(out: &mut String, tables: &Tables, per_rule: bool) {
    let fws: Vec<(&str, &dataplane::firewall::VnetFirewall)> = tables
        .vnets
        .iter()
        .filter_map(|v| v.fwd.firewall.as_deref().map(|f| (v.fwd.name.as_str(), f)))
        .collect();
    if fws.is_empty() {
        return;
    }
    let name = "vnetd_firewall_states";
    let mut f = Family::new(
        out,
        name,
        "gauge",
        "Dynamic firewall states held (keep-state, limit).",
    );
    for (v, fw) in &fws {
        f.sample(name, &[("vnet", v)], fw.states.len() as u64);
    }
    if !per_rule {
        return;
    }
    // Rules sharing a number are told apart as 100, 100#2, ... (ipfw order).
    let labelled = |fw: &dataplane::firewall::VnetFirewall| {
        let mut seen: Vec<u16> = Vec::new();
        fw.rules
            .stats()
            .map(|s| {
                let n = seen.iter().filter(|&&x| x == s.number).count();
                seen.push(s.number);
                let label = if n == 0 {
                    s.number.to_string()
                } else {
                    format!("{}#{}", s.number, n + 1)
                };
                (label, s.counters)
            })
            .collect::<Vec<_>>()
    };
    let rows: Vec<(&str, Vec<(String, firewall::counters::CounterSnapshot)>)> =
        fws.iter().map(|(v, fw)| (*v, labelled(fw))).collect();
    for (name, help, bytes) in [
        (
            "vnetd_firewall_rule_packets_total",
            "Packets that matched the rule (both passes).",
            false,
        ),
        (
            "vnetd_firewall_rule_bytes_total",
            "Bytes (IP length) that matched the rule.",
            true,
        ),
    ] {
        let mut f = Family::new(out, name, "counter", help);
        for (v, rules) in &rows {
            for (rule, c) in rules {
                f.sample(
                    name,
                    &[("vnet", v), ("rule", rule)],
                    if bytes { c.bytes } else { c.packets },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::firewall::FirewallSpec;
    use dataplane::tables::{build_vnet, Vnet, VnetSpec};
    use std::sync::Arc;

    #[test]
    fn rule_counters_only_when_asked() {
        let spec = VnetSpec {
            id: 1,
            name: "red".into(),
            firewall: FirewallSpec {
                default: firewall::DefaultPolicy::Deny,
                rules: "add 100 count ip from any to any\nadd 100 deny tcp from any to any 23"
                    .into(),
                max_states: None,
            },
            ..VnetSpec::default()
        };
        let (fwd, neigh) = build_vnet(&spec, 1, None, None).unwrap();
        let fw = fwd.firewall.clone().unwrap();
        let mut p = firewall::PacketMeta::v4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 6)
            .with_ports(1, 23)
            .with_len(60);
        let ctx = firewall::Ctx {
            states: &fw.states,
            now_ms: 1,
            worker: 0,
        };
        fw.rules.evaluate(&mut p, &ctx);
        let mut t = dataplane::tables::Tables::empty();
        t.vnets.push(Vnet::new(Arc::new(fwd), Arc::new(neigh)));
        let mut out = String::new();
        render(&mut out, &t, true);
        for line in [
            "vnetd_firewall_states{vnet=\"red\"} 0",
            "vnetd_firewall_rule_packets_total{vnet=\"red\",rule=\"100\"} 1",
            "vnetd_firewall_rule_packets_total{vnet=\"red\",rule=\"100#2\"} 1",
            "vnetd_firewall_rule_bytes_total{vnet=\"red\",rule=\"100#2\"} 60",
            "vnetd_firewall_rule_packets_total{vnet=\"red\",rule=\"65535\"} 0",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        let mut off = String::new();
        render(&mut off, &t, false);
        assert!(
            off.contains("vnetd_firewall_states") && !off.contains("rule_packets"),
            "{off}"
        );
    }
}
