//! Firewall `pipe` / `queue` verdicts through the shaper, on byte fixtures: a packet
//! diverted on output leaves after the pipe's delay, rewritten for its next hop; one
//! diverted on input is routed when it leaves and then sees the output rules
//! (one_pass: not the input ones again); a pipe in red never holds blue's traffic.
use super::firewall::{l4_packet, red_with_pipes};
use super::*;
use ::firewall::DefaultPolicy;
use ::shaper::{Bandwidth, Delay, PipeConfig, QueueConfig, ShaperConfig};

const SRV: &str = "10.0.2.20";

fn pipes() -> ShaperConfig {
    let mut p1 = PipeConfig::new(1);
    p1.delay = Delay::from_millis(10);
    let mut p2 = PipeConfig::new(2);
    p2.delay = Delay::from_millis(5);
    // 1 Mbit/s: a 28-byte IP packet (UDP, no payload) takes 224 µs.
    let mut p3 = PipeConfig::new(3);
    p3.bw = Bandwidth::from_bits_per_sec(1_000_000);
    ShaperConfig {
        pipes: vec![p1, p2, p3],
        queues: vec![QueueConfig::new(30, 3)],
        pool_slots: 64,
        ..ShaperConfig::default()
    }
}

fn udp(dport: u16) -> VecFrame {
    from_lan1(
        10,
        RED1_HOST,
        &l4_packet("10.0.1.10", SRV, IpProtocol::UDP, 5000, dport, 0),
    )
}

#[test]
fn out_pipe_delays_then_transmits_to_the_next_hop() {
    let mut r = red_with_pipes(
        "add 100 pipe 1 udp from any to any 53 out",
        DefaultPolicy::Allow,
        pipes(),
    );
    assert!(r.rx(TRUNK, udp(53)).is_empty(), "held by pipe 1");
    assert!(r.advance_us(9_999).is_empty());
    let out = r.advance_us(1);
    assert_eq!(out.len(), 1, "released after exactly 10 ms");
    let (port, bytes) = &out[0];
    assert_eq!((*port, parse(bytes).1), (RED2, RED2_HOST));
    // TTL decremented once, by the routing before the out pass.
    assert_eq!(bytes[14 + 8], 63);
    // Other traffic is not held.
    assert_eq!(r.rx(TRUNK, udp(54)).len(), 1);
    let c = r.vnet("red").fwd.counters.totals();
    assert_eq!(c.dropped.iter().sum::<u64>(), 0);
}

#[test]
fn in_pipe_then_routing_then_the_output_rules_only() {
    // The in rule would catch the packet again if it were re-checked on input;
    // the out rule then sends it to pipe 1 as well.
    let mut r = red_with_pipes(
        "add 100 pipe 2 udp from any to any 53 in\nadd 200 pipe 1 udp from any to any 53 out",
        DefaultPolicy::Allow,
        pipes(),
    );
    assert!(r.rx(TRUNK, udp(53)).is_empty());
    assert!(
        r.advance_us(5_000).is_empty(),
        "left pipe 2, routed, now in pipe 1"
    );
    assert!(r.advance_us(9_999).is_empty());
    let out = r.advance_us(1);
    assert_eq!(out.len(), 1, "5 ms + 10 ms");
    assert_eq!(out[0].0, RED2);
    let fw = r.vnet("red").fwd.firewall.clone().unwrap();
    let hits: Vec<(u16, u64)> = fw
        .rules
        .stats()
        .map(|s| (s.number, s.counters.packets))
        .collect();
    assert_eq!(hits, [(100, 1), (200, 1), (65535, 0)], "each pass once");
}

#[test]
fn queue_verdicts_share_the_pipe_and_a_missing_pipe_is_counted() {
    let mut r = red_with_pipes(
        "add 100 queue 30 udp from any to any 53 out\nadd 200 pipe 9 udp from any to any 54 out",
        DefaultPolicy::Allow,
        pipes(),
    );
    for _ in 0..3 {
        assert!(r.rx(TRUNK, udp(53)).is_empty());
    }
    // 28-byte IP packets at 1 Mbit/s: 224 µs apart.
    assert_eq!(r.advance_us(224).len(), 1);
    assert_eq!(r.advance_us(223).len(), 0);
    assert_eq!(r.advance_us(1).len(), 1);
    assert_eq!(r.advance_us(224).len(), 1);
    assert!(r.rx(TRUNK, udp(54)).is_empty());
    assert_eq!(r.dropped("red", DropReason::NoSuchPipe), 1);
}

#[test]
fn a_pipe_in_red_does_not_hold_blue() {
    let mut r = red_with_pipes(
        "add 100 pipe 1 udp from any to any 53 out",
        DefaultPolicy::Allow,
        pipes(),
    );
    let blue = from_lan1(
        20,
        BLUE1_HOST,
        &l4_packet("10.0.1.10", SRV, IpProtocol::UDP, 5000, 53, 0),
    );
    assert_eq!(r.rx(TRUNK, blue).len(), 1, "blue has no pipes");
}
