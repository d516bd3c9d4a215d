//! Renders the dataplane's counters as Prometheus text (format 0.0.4).
use dataplane::runtime::Dataplane;
use dataplane::stats::{DropReason, PortDropReason, VnetTotals};
use std::fmt::Write;

/// One metric family: HELP and TYPE once, then its samples.
pub(super) struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    pub(super) fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

type PortField = fn(&dataplane::dpdk::PortStats) -> u64;
type VnetField = fn(&VnetTotals) -> u64;

/// `firewall_rules`: also the per-rule counters (`[metrics] firewall_rules`).
pub fn render(dp: &Dataplane, firewall_rules: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let ports = dp.port_stats();
    let port_families: [(&str, &str, PortField); 8] = [
        (
            "vnetd_port_rx_packets_total",
            "Frames received on the port (DPDK ipackets).",
            |s| s.rx_packets,
        ),
        (
            "vnetd_port_tx_packets_total",
            "Frames sent on the port (DPDK opackets).",
            |s| s.tx_packets,
        ),
        (
            "vnetd_port_rx_bytes_total",
            "Bytes received on the port (DPDK ibytes).",
            |s| s.rx_bytes,
        ),
        (
            "vnetd_port_tx_bytes_total",
            "Bytes sent on the port (DPDK obytes).",
            |s| s.tx_bytes,
        ),
        (
            "vnetd_port_rx_errors_total",
            "Erroneous frames received (DPDK ierrors).",
            |s| s.rx_errors,
        ),
        (
            "vnetd_port_tx_errors_total",
            "Failed transmissions (DPDK oerrors).",
            |s| s.tx_errors,
        ),
        (
            "vnetd_port_rx_missed_total",
            "Frames the NIC dropped for lack of RX descriptors (DPDK imissed).",
            |s| s.rx_missed,
        ),
        (
            "vnetd_port_rx_nombuf_total",
            "RX mbuf allocation failures (DPDK rx_nombuf).",
            |s| s.rx_nombuf,
        ),
    ];
    for (name, help, get) in port_families {
        let mut f = Family::new(&mut out, name, "counter", help);
        for (pname, st, _) in &ports {
            f.sample(name, &[("port", pname)], get(st));
        }
    }
    {
        let name = "vnetd_port_rx_dropped_total";
        let mut f = Family::new(
            &mut out,
            name,
            "counter",
            "Frames dropped before reaching a vnet, by reason.",
        );
        for (pname, _, c) in &ports {
            for r in PortDropReason::ALL {
                f.sample(
                    name,
                    &[("port", pname), ("reason", r.label())],
                    c.dropped(r),
                );
            }
        }
    }
    {
        let name = "vnetd_port_tx_refused_total";
        let mut f = Family::new(
            &mut out,
            name,
            "counter",
            "Frames the port's TX queues refused (freed and counted).",
        );
        for (pname, _, c) in &ports {
            f.sample(name, &[("port", pname)], c.tx_refused());
        }
    }

    let tables = dp.tables();
    let totals: Vec<(&str, VnetTotals)> = tables
        .vnets
        .iter()
        .map(|v| (v.fwd.name.as_str(), v.fwd.counters.totals()))
        .collect();
    let vnet_families: [(&str, &str, VnetField); 8] = [
        (
            "vnetd_vnet_rx_packets_total",
            "Frames received by the vnet.",
            |t| t.rx_packets,
        ),
        (
            "vnetd_vnet_rx_bytes_total",
            "Bytes received by the vnet.",
            |t| t.rx_bytes,
        ),
        (
            "vnetd_vnet_tx_packets_total",
            "Frames sent by the vnet.",
            |t| t.tx_packets,
        ),
        (
            "vnetd_vnet_tx_bytes_total",
            "Bytes sent by the vnet.",
            |t| t.tx_bytes,
        ),
        (
            "vnetd_vnet_forwarded_packets_total",
            "Packets routed through the vnet.",
            |t| t.forwarded,
        ),
        (
            "vnetd_vnet_local_packets_total",
            "Packets addressed to the vnet's own addresses (ARP, ND, echo).",
            |t| t.local,
        ),
        (
            "vnetd_vnet_icmp_errors_sent_total",
            "ICMP/ICMPv6 errors sent (time exceeded, unreachable).",
            |t| t.icmp_errors_sent,
        ),
        (
            "vnetd_vnet_icmp_errors_suppressed_total",
            "ICMP errors not sent because of the rate limit.",
            |t| t.icmp_errors_suppressed,
        ),
    ];
    for (name, help, get) in vnet_families {
        let mut f = Family::new(&mut out, name, "counter", help);
        for (vname, t) in &totals {
            f.sample(name, &[("vnet", vname)], get(t));
        }
    }
    {
        let name = "vnetd_vnet_dropped_packets_total";
        let mut f = Family::new(
            &mut out,
            name,
            "counter",
            "Frames the vnet dropped, by reason.",
        );
        for (vname, t) in &totals {
            for r in DropReason::ALL {
                f.sample(
                    name,
                    &[("vnet", vname), ("reason", r.label())],
                    t.dropped[r as usize],
                );
            }
        }
    }
    {
        let name = "vnetd_vnet_routes";
        let mut f = Family::new(
            &mut out,
            name,
            "gauge",
            "Routes in the vnet's FIB (connected, local and static), by family.",
        );
        for v in &tables.vnets {
            f.sample(
                name,
                &[("vnet", &v.fwd.name), ("family", "ipv4")],
                v.fwd.fib4.len() as u64,
            );
            f.sample(
                name,
                &[("vnet", &v.fwd.name), ("family", "ipv6")],
                v.fwd.fib6.len() as u64,
            );
        }
    }
    {
        let name = "vnetd_vnet_neighbors";
        let mut f = Family::new(
            &mut out,
            name,
            "gauge",
            "Neighbor (ARP/ND) entries in the vnet.",
        );
        for v in &tables.vnets {
            f.sample(name, &[("vnet", &v.fwd.name)], v.neighbors.len() as u64);
        }
    }
    super::pipes::render(&mut out, &tables);
    super::firewall::render(&mut out, &tables, firewall_rules);
    Family::new(
        &mut out,
        "vnetd_workers",
        "gauge",
        "Worker lcores polling ports.",
    )
    .sample("vnetd_workers", &[], dp.workers() as u64);
    Family::new(
        &mut out,
        "vnetd_mbufs_in_use",
        "gauge",
        "Packet buffers currently held (RX rings, TX queues, pending).",
    )
    .sample("vnetd_mbufs_in_use", &[], dp.mbufs_in_use() as u64);
    Family::new(
        &mut out,
        "vnetd_tables_generation",
        "gauge",
        "Version of the published forwarding tables.",
    )
    .sample("vnetd_tables_generation", &[], tables.generation);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }

    #[test]
    fn family_writes_help_type_and_labelled_samples() {
        let mut s = String::new();
        let mut f = Family::new(&mut s, "vnetd_x_total", "counter", "An example.");
        f.sample(
            "vnetd_x_total",
            &[("vnet", "red"), ("reason", "no_route")],
            7,
        );
        f.sample("vnetd_x_total", &[], 1);
        assert_eq!(
            s,
            "# HELP vnetd_x_total An example.\n# TYPE vnetd_x_total counter\nvnetd_x_total{vnet=\"red\",reason=\"no_route\"} 7\nvnetd_x_total 1\n"
        );
    }
}
