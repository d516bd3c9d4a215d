//! Per-pipe metrics of every vnet with pipes: packets and bytes in and out, drops
//! by reason, backlog, dynamic queues. Read from the stats the owner worker
//! publishes every 10 ms.
use super::render::Family;
use dataplane::tables::Tables;
use shaper::{DropReason, PipeCounters};

type Field = fn(&PipeCounters) -> u64;

pub(super) fn render(out: &mut String, tables: &Tables) {
    let mut pipes: Vec<(&str, String, PipeCounters)> = Vec::new();
    for v in &tables.vnets {
        if let Some(stats) = &v.fwd.shaper_stats {
            for p in &stats.pipes {
                pipes.push((&v.fwd.name, p.id.to_string(), p.load()));
            }
        }
    }
    if pipes.is_empty() {
        return;
    }
    let families: [(&str, &str, &str, Field); 8] = [
        (
            "vnetd_pipe_in_packets_total",
            "counter",
            "Packets sent into the pipe (dropped ones included).",
            |c| c.in_pkts,
        ),
        (
            "vnetd_pipe_in_bytes_total",
            "counter",
            "Bytes (IP length) sent into the pipe.",
            |c| c.in_bytes,
        ),
        (
            "vnetd_pipe_out_packets_total",
            "counter",
            "Packets that left the pipe after its delay.",
            |c| c.out_pkts,
        ),
        (
            "vnetd_pipe_out_bytes_total",
            "counter",
            "Bytes (IP length) that left the pipe.",
            |c| c.out_bytes,
        ),
        (
            "vnetd_pipe_ecn_marked_packets_total",
            "counter",
            "Packets that left the pipe marked CE instead of dropped (fq_codel ecn).",
            |c| c.marked_pkts,
        ),
        (
            "vnetd_pipe_backlog_packets",
            "gauge",
            "Packets held in the pipe now (queued or in its delay line).",
            |c| c.backlog_pkts,
        ),
        (
            "vnetd_pipe_backlog_bytes",
            "gauge",
            "Bytes held in the pipe now.",
            |c| c.backlog_bytes,
        ),
        (
            "vnetd_pipe_dynamic_queues",
            "gauge",
            "Flow queues alive in the pipe (masks create them).",
            |c| c.queues,
        ),
    ];
    for (name, kind, help, get) in families {
        let mut f = Family::new(out, name, kind, help);
        for (vnet, pipe, c) in &pipes {
            f.sample(name, &[("vnet", vnet), ("pipe", pipe)], get(c));
        }
    }
    for (name, help, bytes) in [
        (
            "vnetd_pipe_dropped_packets_total",
            "Packets the pipe dropped, by reason.",
            false,
        ),
        (
            "vnetd_pipe_dropped_bytes_total",
            "Bytes the pipe dropped, by reason.",
            true,
        ),
    ] {
        let mut f = Family::new(out, name, "counter", help);
        for (vnet, pipe, c) in &pipes {
            for r in DropReason::ALL {
                let v = if bytes {
                    c.dropped_bytes[r.index()]
                } else {
                    c.dropped_pkts[r.index()]
                };
                f.sample(
                    name,
                    &[("vnet", vnet), ("pipe", pipe), ("reason", r.as_str())],
                    v,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::shaping::ShaperSpec;
    use dataplane::tables::{build_vnet, Vnet, VnetSpec};
    use std::sync::Arc;

    #[test]
    fn pipes_are_labelled_by_vnet_and_pipe() {
        let spec = VnetSpec {
            id: 1,
            name: "red".into(),
            shaper: Some(Arc::new(ShaperSpec(shaper::ShaperConfig {
                pipes: vec![shaper::PipeConfig::new(3)],
                ..shaper::ShaperConfig::default()
            }))),
            ..VnetSpec::default()
        };
        let (fwd, neigh) = build_vnet(&spec, 1, None, None).unwrap();
        let stats = fwd.shaper_stats.clone().unwrap();
        let mut c = PipeCounters {
            in_pkts: 9,
            out_pkts: 5,
            backlog_pkts: 2,
            ..PipeCounters::default()
        };
        c.dropped_pkts[DropReason::QueueFull.index()] = 2;
        stats.pipe(3).unwrap().store(&c);
        let mut t = Tables::empty();
        t.vnets.push(Vnet::new(Arc::new(fwd), Arc::new(neigh)));
        let mut out = String::new();
        render(&mut out, &t);
        for line in [
            "vnetd_pipe_in_packets_total{vnet=\"red\",pipe=\"3\"} 9",
            "vnetd_pipe_out_packets_total{vnet=\"red\",pipe=\"3\"} 5",
            "vnetd_pipe_backlog_packets{vnet=\"red\",pipe=\"3\"} 2",
            "vnetd_pipe_dropped_packets_total{vnet=\"red\",pipe=\"3\",reason=\"queue_full\"} 2",
            "# TYPE vnetd_pipe_backlog_packets gauge",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        // A router without pipes shows no pipe families at all.
        let mut none = String::new();
        render(&mut none, &Tables::empty());
        assert!(none.is_empty());
    }
}
