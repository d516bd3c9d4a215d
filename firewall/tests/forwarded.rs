//! `RuleSet::allow_forwarded4` and `BurstCounts`: both passes of a burst of
//! forwarded IPv4 packets decided from their heads, counted per burst.
//! Every packet it allows must be allowed by the linear walk on the "in"
//! pass and on the "out" pass (after the TTL decrement, with the "in"
//! pass's tags) by the same rules; the counts it adds must be the walk's;
//! and wherever `decide` would allow both passes it must allow the packet
//! (else the dataplane's fast path would silently never be taken).

mod common;
use common::{compile, Rng};
use std::net::Ipv4Addr;

use firewall::packet::proto;
use firewall::{
    Allowed4, Ctx, DefaultPolicy, Direction, Family, Outcome, PacketMeta, RuleSet, StateConfig,
    StateTable, Verdict,
};

/// Patterns the head decides (prefixes, protocols, port ranges) and ones
/// that stop it (the direction, interfaces, TTL, tags, flags, `not`).
const PATTERNS: &[&str] = &[
    "ip from any to any",
    "ip from 10.0.0.0/8 to any",
    "ip from 10.0.0.0/30 to 192.168.0.0/31",
    "tcp from any to 192.168.0.2/32",
    "udp from 10.0.0.1/32 to any 53",
    "udp from any to any 50-60",
    "tcp from any 1024-1025 to any",
    "ip from 160.0.0.0/8 to any",
    "ip4 from any to any",
    "ip from any to any in",
    "ip from any to any out",
    "ip from any to any via wan",
    "ip from any to any ipttl 1-30",
    "ip from any to any tagged 3",
    "tcp from any to any tcpflags syn",
    "ip from not 10.0.0.0/8 to any",
    "ip from { 10.0.0.1 or 10.0.0.2 } to any",
];

const ACTIONS: &[&str] = &[
    "allow",
    "allow",
    "allow",
    "deny",
    "deny",
    "pipe 1",
    "count",
    "skipto 30000",
    "reject",
    "prob 0.5 allow",
    "allow tag 3",
    "setdscp 4",
];

fn rule(r: &mut Rng, number: u32) -> String {
    let pattern = r.pick(PATTERNS);
    match r.below(20) {
        0 => format!("add {number} check-state"),
        1 => format!("add {number} allow {pattern} keep-state"),
        _ => format!("add {number} {} {pattern}", r.pick(ACTIONS)),
    }
}

/// A forwarded packet as its "in" pass sees it (received on interface 0).
fn packet(r: &mut Rng) -> PacketMeta {
    let p = [proto::TCP, proto::UDP, proto::UDP, proto::ICMP][r.below(4) as usize];
    let mut m = PacketMeta::v4(
        Ipv4Addr::new(10 + 150 * r.below(2) as u8, 0, 0, r.below(4) as u8),
        Ipv4Addr::new(192, 168, 0, r.below(4) as u8),
        p,
    );
    if proto::has_ports(p) {
        m = m.with_ports(1023 + r.below(3) as u16, [53, 55, 80][r.below(3) as usize]);
    }
    m.ip_len = 20 + r.below(1400) as u16;
    m.ttl = 2 + r.below(60) as u8;
    m.entropy = r.next() as u32;
    m.inbound(0)
}

/// The same packet's "out" pass: one hop less, leaving by interface 1.
fn out_of(p: &PacketMeta, tags_in: &PacketMeta) -> PacketMeta {
    let mut o = *p;
    o.ttl -= 1;
    o.tags = tags_in.tags;
    o.outbound(0, 1)
}

/// The dataplane's pass without the burst path: a shortcut, else the walk.
fn pass(rs: &RuleSet, p: &mut PacketMeta, ctx: &Ctx) -> Outcome {
    match rs.decide(p.family, p.direction, p.ip_len, || p.head4(), ctx) {
        Some(o) => o,
        None => rs.evaluate(p, ctx),
    }
}

fn counters(rs: &RuleSet) -> Vec<(u16, u64, u64)> {
    rs.stats()
        .map(|s| (s.number, s.counters.packets, s.counters.bytes))
        .collect()
}

#[test]
fn burst_allows_what_both_passes_allow_and_counts_alike() {
    let mut r = Rng(0xf04a_4ded);
    let (mut allowed, mut fixed_sets, mut several_rules) = (0u32, 0u32, 0u32);
    let (mut forests, mut forest_allowed) = (0u32, 0u32);
    for set in 0..2000 {
        let mut text = String::new();
        let mut number = 0;
        // Up to 8 rules make one tree; more may make several.
        let len = if r.below(3) == 0 {
            9 + r.below(16)
        } else {
            1 + r.below(6)
        };
        for _ in 0..len {
            number += 1 + r.below(200) as u32;
            text.push_str(&rule(&mut r, number));
            text.push('\n');
        }
        let default = if r.below(3) == 0 {
            DefaultPolicy::Deny
        } else {
            DefaultPolicy::Allow
        };
        let (fast, linear, probe) = (
            compile(&text, default),
            compile(&text, default),
            compile(&text, default),
        );
        fixed_sets += fast.fixed_outcome(Family::V4, Direction::In).is_some() as u32;
        let cfg = StateConfig {
            max_states: 16,
            hash_seed: 7,
            ..StateConfig::default()
        };
        let (sa, sb, sc) = (
            StateTable::new(cfg),
            StateTable::new(cfg),
            StateTable::new(cfg),
        );
        let ctx = |s| Ctx {
            states: s,
            now_ms: 5000,
            worker: 0,
        };
        // A burst longer than the 32 packets decided together.
        let burst: Vec<PacketMeta> = (0..1 + r.below(70)).map(|_| packet(&mut r)).collect();
        let heads: Vec<_> = burst.iter().map(PacketMeta::head4).collect();
        let mut dec = vec![None; heads.len()];
        fast.allow_forwarded4(&heads, &mut dec);
        let mut rules_seen = std::collections::HashSet::new();
        {
            let mut counts = fast.burst_counts(&ctx(&sa));
            for (i, (p, d)) in burst.iter().zip(&dec).enumerate() {
                let (mut li, mut lo) = (*p, PacketMeta::default());
                let oi = linear.evaluate_linear(&mut li, &ctx(&sb));
                let oo = (oi.verdict == Verdict::Allow).then(|| {
                    lo = out_of(p, &li);
                    linear.evaluate_linear(&mut lo, &ctx(&sb))
                });
                // What `decide` says of both passes (a third copy: it counts).
                let (pi, po) = (*p, out_of(p, p));
                let di = probe.decide(
                    Family::V4,
                    Direction::In,
                    p.ip_len,
                    || pi.head4(),
                    &ctx(&sc),
                );
                let d_o = probe.decide(
                    Family::V4,
                    Direction::Out,
                    p.ip_len,
                    || po.head4(),
                    &ctx(&sc),
                );
                let both = matches!(
                    (di, d_o),
                    (Some(a), Some(b)) if a.verdict == Verdict::Allow && b.verdict == Verdict::Allow
                );
                assert_eq!(d.is_some(), both, "set {set}, packet {i}: {p:?}\n{text}");
                match d {
                    Some(a) => {
                        allowed += 1;
                        rules_seen.insert(a.rules());
                        assert_eq!(
                            (oi.verdict, oi.index),
                            (Verdict::Allow, a.rules().0),
                            "set {set}, packet {i}, in: {p:?}\n{text}"
                        );
                        let oo = oo.expect("allowed in");
                        assert_eq!(
                            (oo.verdict, oo.index),
                            (Verdict::Allow, a.rules().1),
                            "set {set}, packet {i}, out: {p:?}\n{text}"
                        );
                        counts.add(*a, p.ip_len);
                    }
                    None => {
                        // The full passes, as the dataplane's general path.
                        let mut fi = *p;
                        let o = pass(&fast, &mut fi, &ctx(&sa));
                        assert_eq!(o, oi, "set {set}, packet {i}\n{text}");
                        if o.verdict == Verdict::Allow {
                            let mut fo = out_of(p, &fi);
                            assert_eq!(Some(pass(&fast, &mut fo, &ctx(&sa))), oo);
                        }
                    }
                }
            }
        }
        several_rules += (rules_seen.len() > 1) as u32;
        if fast.classifier_trees()[0] > 1 {
            forests += 1;
            forest_allowed += dec.iter().flatten().count() as u32;
        }
        assert_eq!(
            counters(&fast),
            counters(&linear),
            "set {set}: counters\n{text}"
        );
    }
    assert!(
        allowed > 5_000 && fixed_sets > 100 && several_rules > 30,
        "{allowed} packets allowed, {fixed_sets} fixed sets, {several_rules} bursts of several rules"
    );
    assert!(
        forests > 50 && forest_allowed > 500,
        "{forests} sets of several trees, {forest_allowed} of their packets allowed"
    );
}

/// A few sets spelled out: an ACL whose rules and default decide from the
/// head; fixed passes; a rule on the direction (it decides nothing, and a
/// packet it holds gets no burst shortcut on either pass).
#[test]
fn by_hand() {
    let decide = |text: &str, heads: &[firewall::Head4]| {
        let rs = compile(text, DefaultPolicy::Allow);
        let mut out = vec![None; heads.len()];
        rs.allow_forwarded4(heads, &mut out);
        out.iter()
            .map(|a: &Option<Allowed4>| a.map(|a| a.rules()))
            .collect::<Vec<_>>()
    };
    let heads = [
        packet_to(53, proto::UDP),
        packet_to(80, proto::UDP),
        packet_to(80, proto::TCP),
    ];
    let acl = "add 10 deny udp from any to any 53\nadd 20 allow tcp from 10.0.0.0/8 to any 80";
    // The default rule is index 2.
    assert_eq!(decide(acl, &heads), [None, Some((2, 2)), Some((1, 1))]);
    let fixed = "add 10 allow ip from any to any";
    assert_eq!(decide(fixed, &heads), [Some((0, 0)); 3]);
    let pipe = "add 10 allow ip from any to any in\nadd 20 pipe 1 ip from any to any out";
    assert_eq!(decide(pipe, &heads), [None; 3]);
    let dir = "add 10 deny tcp from any to any in\nadd 20 allow ip from any to any";
    assert_eq!(decide(dir, &heads), [Some((1, 1)), Some((1, 1)), None]);
}

fn packet_to(port: u16, p: u8) -> firewall::Head4 {
    PacketMeta::v4(Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(192, 168, 1, 1), p)
        .with_ports(4000, port)
        .head4()
}
