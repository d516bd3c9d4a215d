//! `RuleSet::decide`, the shortcuts the dataplane tries before it
//! builds a packet's `PacketMeta`: a pass whose outcome the rules fix for a
//! family and direction, and (IPv4) a first candidate that decides. Whatever
//! they answer must be what the linear walk gives, with the same counts, and
//! where they do not answer, `evaluate` must still give it.
//!
//! The random rule sets here are short and made of patterns on the
//! direction and the family (which the fixed outcomes read) mixed with the
//! rules that must stop them: state lookups, `prob`, `count`, `skipto`,
//! tags, rejects, `not`, or-blocks and patterns on anything else.

mod common;
use common::{compile, Rng};
use std::net::{Ipv4Addr, Ipv6Addr};

use firewall::packet::{proto, tcp};
use firewall::{
    Ctx, DefaultPolicy, Direction, Family, Outcome, PacketMeta, RuleSet, StateConfig, StateTable,
    Verdict,
};

/// Patterns: most read only the direction and the family; the rest read
/// the packet.
const PATTERNS: &[&str] = &[
    "ip from any to any",
    "ip from any to any",
    "ip from any to any in",
    "ip from any to any out",
    "ip from any to any in",
    "ip from any to any out",
    "ip4 from any to any",
    "ip6 from any to any",
    "ip4 from any to any out",
    "ip6 from any to any in",
    "ip from any to any not in",
    "ip from any to any not out",
    "ip from any to any { in or out }",
    "ip from any to any { in or ipversion 6 }",
    "ip from any to any in out",
    "not ip4 from any to any",
    "tcp from any to any",
    "ip from 10.0.0.0/8 to any out",
    "udp from any to any 53 in",
    "ip from any to any via lan",
    "ip from any to any tagged 3",
    "ip from any to any iplen 100-700",
    "ip from any to any ipttl 1-30 in",
    "ip from any to any tcpflags syn",
];

const ACTIONS: &[&str] = &[
    "allow",
    "allow",
    "deny",
    "deny",
    "pipe 1",
    "pipe 7",
    "queue 2",
    "pipe tablearg",
    "count",
    "skipto 30000",
    "reject",
    "reset",
    "prob 0.5 allow",
    "allow tag 3",
    "setdscp 4",
];

fn rule(r: &mut Rng, number: u32) -> String {
    let pattern = r.pick(PATTERNS);
    match r.below(14) {
        0 => format!("add {number} check-state"),
        1 => format!("add {number} allow {pattern} keep-state"),
        _ => format!("add {number} {} {pattern}", r.pick(ACTIONS)),
    }
}

fn packet(r: &mut Rng) -> PacketMeta {
    let p = [proto::TCP, proto::UDP, proto::ICMP, 47][r.below(4) as usize];
    let mut m = if r.below(4) != 0 {
        PacketMeta::v4(
            Ipv4Addr::new(10 + 150 * r.below(2) as u8, 0, 0, r.below(4) as u8),
            Ipv4Addr::new(192, 168, 0, r.below(4) as u8),
            p,
        )
    } else {
        PacketMeta::v6(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, r.below(4) as u16),
            Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, r.below(4) as u16),
            p,
        )
    };
    if proto::has_ports(p) {
        m = m.with_ports(1024 + r.below(3) as u16, [53, 80][r.below(2) as usize]);
    }
    if p == proto::TCP {
        m.tcp_flags = [tcp::SYN, tcp::ACK][r.below(2) as usize];
    }
    m.ip_len = 20 + r.below(1400) as u16;
    m.ttl = r.below(64) as u8;
    m.entropy = r.next() as u32;
    if r.below(2) == 0 {
        m.inbound(r.below(2) as u16)
    } else {
        m.outbound(r.below(2) as u16, r.below(2) as u16)
    }
}

fn counters(rs: &RuleSet) -> Vec<(u16, u64, u64)> {
    rs.stats()
        .map(|s| (s.number, s.counters.packets, s.counters.bytes))
        .collect()
}

/// What the dataplane does: the shortcut, else the full evaluation.
fn pass(rs: &RuleSet, p: &mut PacketMeta, ctx: &Ctx) -> (Outcome, bool) {
    match rs.decide(p.family, p.direction, p.ip_len, || p.head4(), ctx) {
        Some(o) => (o, true),
        None => (rs.evaluate(p, ctx), false),
    }
}

/// Random short rule sets: the shortcut-or-evaluate answers, the packets'
/// tags and DSCP and every counter equal the linear walk's; and the fixed
/// outcomes are really taken (this test would not see them otherwise).
#[test]
fn shortcuts_equal_the_linear_walk() {
    let mut r = Rng(0x5eed_f1ed);
    let (mut fixed_sets, mut fixed_packets, mut shortcut_packets) = (0, 0, 0);
    let mut fixed_pipes = 0;
    for set in 0..3000 {
        let mut text = String::new();
        let mut number = 0;
        for _ in 0..1 + r.below(4) {
            number += 1 + r.below(200) as u32;
            text.push_str(&rule(&mut r, number));
            text.push('\n');
        }
        let default = if r.below(2) == 0 {
            DefaultPolicy::Allow
        } else {
            DefaultPolicy::Deny
        };
        let (compiled, linear) = (compile(&text, default), compile(&text, default));
        let fixed = [Family::V4, Family::V6]
            .iter()
            .flat_map(|&f| [Direction::In, Direction::Out].map(|d| compiled.fixed_outcome(f, d)))
            .flatten()
            .collect::<Vec<_>>();
        fixed_sets += !fixed.is_empty() as u32;
        fixed_pipes += fixed
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::Pipe(_) | Verdict::Queue(_)))
            .count();
        // One hash seed: both tables fill alike.
        let cfg = StateConfig {
            max_states: 16,
            hash_seed: 7,
            ..StateConfig::default()
        };
        let (sa, sb) = (StateTable::new(cfg), StateTable::new(cfg));
        for i in 0..64u64 {
            let p = packet(&mut r);
            let ctx = |s| Ctx {
                states: s,
                now_ms: 1000 + i,
                worker: 0,
            };
            let (mut pa, mut pb) = (p, p);
            let (oa, short) = pass(&compiled, &mut pa, &ctx(&sa));
            let ob = linear.evaluate_linear(&mut pb, &ctx(&sb));
            assert_eq!(
                oa, ob,
                "set {set}, packet {i} (shortcut {short}): {p:?}\n{text}"
            );
            assert_eq!(pa, pb, "set {set}, packet {i}: tags/DSCP\n{text}");
            shortcut_packets += short as u32;
            let f = compiled.fixed_outcome(p.family, p.direction);
            if let Some(f) = f {
                assert!(short, "set {set}: a fixed pass must take the shortcut");
                assert_eq!(f, oa, "set {set}, packet {i}\n{text}");
                fixed_packets += 1;
            }
        }
        assert_eq!(
            counters(&compiled),
            counters(&linear),
            "set {set}: counters\n{text}"
        );
    }
    assert!(
        fixed_sets > 500 && fixed_pipes > 100 && fixed_packets > 20_000,
        "{fixed_sets} sets, {fixed_pipes} pipe/queue passes, {fixed_packets} packets fixed"
    );
    assert!(shortcut_packets > fixed_packets);
}

/// The fixed outcomes of a few sets, spelled out: perf/fwd's scenario 5,
/// and what stops a shortcut.
#[test]
fn fixed_outcomes_by_hand() {
    let fixed = |text: &str, f: Family, d: Direction| {
        compile(text, DefaultPolicy::Allow)
            .fixed_outcome(f, d)
            .map(|o| (o.verdict, o.rule))
    };
    let (v4, v6, i, o) = (Family::V4, Family::V6, Direction::In, Direction::Out);
    // Every frame through pipe 1 on the way out; in, the default rule.
    let s5 = "add 100 pipe 1 ip from any to any out";
    assert_eq!(fixed(s5, v4, o), Some((Verdict::Pipe(1), 100)));
    assert_eq!(fixed(s5, v6, o), Some((Verdict::Pipe(1), 100)));
    assert_eq!(fixed(s5, v4, i), Some((Verdict::Allow, 65535)));
    let two = "add 10 deny ip6 from any to any in\nadd 20 queue 3 ip from any to any";
    assert_eq!(fixed(two, v6, i), Some((Verdict::Deny, 10)));
    assert_eq!(fixed(two, v4, i), Some((Verdict::Queue(3), 20)));
    assert_eq!(fixed(two, v6, o), Some((Verdict::Queue(3), 20)));
    // Each of these can match or act depending on the packet or a state.
    for first in [
        "add 10 deny tcp from any to any",
        "add 10 deny ip from any to any via lan",
        "add 10 deny ip from 10.0.0.0/8 to any",
        "add 10 deny ip from any to any { out or proto tcp }",
        "add 10 check-state",
        "add 10 deny ip from any to any out keep-state",
        "add 10 prob 0.5 deny ip from any to any",
        "add 10 count ip from any to any",
        "add 10 reject ip from any to any",
        "add 10 skipto 30 ip from any to any",
        "add 10 setdscp 4 ip from any to any",
        "add 10 deny tag 5 ip from any to any",
    ] {
        let text = format!("{first}\nadd 20 allow ip from any to any");
        assert_eq!(fixed(&text, v4, i), None, "{first}");
    }
    // A rule the pass never matches does not stop it (unless it looks states up).
    let text = "add 10 deny tcp from any to any out\nadd 20 prob 0.5 deny ip4 from any to any\nadd 30 allow ip from any to any";
    assert_eq!(fixed(text, v6, i), Some((Verdict::Allow, 30)));
    assert_eq!(fixed(text, v4, i), None);
    let text = "add 10 allow ip from any to any out keep-state\nadd 20 deny ip from any to any";
    assert_eq!(fixed(text, v4, i), None);
}
