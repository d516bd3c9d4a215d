//! Property: for random rule sets (1..2,000 rules, with skipto, call/return,
//! count, `not`, or-blocks, tables, interfaces, TCP flags, states) and random
//! packets, the compiled classifier and the linear evaluator agree on the
//! verdict, the deciding rule, the packet's tags/DSCP and every rule counter.
//! The two sides are built from the same text but share nothing (own chain,
//! counters and state table), so a divergence anywhere shows.

mod common;
use common::Rng;
use std::net::{Ipv4Addr, Ipv6Addr};

use firewall::packet::{proto, tcp};
use firewall::{Chain, Ctx, DefaultPolicy, Env, PacketMeta, RuleSet, StateConfig, StateTable};
use proptest::prelude::*;

/// Addresses come from a small pool of networks so that rules and packets meet.
const NETS4: [[u8; 2]; 4] = [[10, 0], [10, 1], [172, 16], [192, 168]];

fn addr4(r: &mut Rng) -> Ipv4Addr {
    let n = NETS4[r.below(4) as usize];
    Ipv4Addr::new(n[0], n[1], r.below(4) as u8, r.below(8) as u8)
}

fn addr6(r: &mut Rng) -> Ipv6Addr {
    Ipv6Addr::new(
        0x2001,
        0xdb8,
        r.below(3) as u16,
        0,
        0,
        0,
        0,
        r.below(8) as u16,
    )
}

fn prefix(r: &mut Rng) -> String {
    if r.chance(20) {
        let a = addr6(r);
        let len = [32, 48, 64, 128][r.below(4) as usize];
        return format!("{a}/{len}");
    }
    let a = addr4(r);
    let len = [8, 16, 24, 30, 32][r.below(5) as usize];
    format!("{a}/{len}")
}

fn addr_spec(r: &mut Rng) -> String {
    let base = match r.below(10) {
        0..=2 => "any".to_string(),
        3..=5 => prefix(r),
        6 => format!("{},{}", prefix(r), prefix(r)),
        7 => "table(T1)".to_string(),
        8 => "me".to_string(),
        _ => format!("{{ {} or {} }}", prefix(r), prefix(r)),
    };
    if base != "any" && !base.starts_with('{') && r.chance(15) {
        format!("not {base}")
    } else {
        base
    }
}

fn ports(r: &mut Rng) -> String {
    let one = |r: &mut Rng| [22, 23, 53, 80, 443, 1024][r.below(6) as usize];
    match r.below(8) {
        0 => format!(" {}", one(r)),
        1 => {
            let a = one(r);
            format!(" {a}-{}", a + 100)
        }
        2 => format!(" {},{}", one(r), one(r)),
        3 => format!(" not {}", one(r)),
        _ => String::new(),
    }
}

fn rule(r: &mut Rng, number: u32) -> String {
    let target = number + 1 + r.below(3000) as u32;
    let action = match r.below(20) {
        0..=4 => "allow".to_string(),
        5..=7 => "deny".to_string(),
        8 | 9 => "count".to_string(),
        10 => format!("skipto {target}"),
        11 => format!("call {target}"),
        12 => "return".to_string(),
        13 => r
            .pick(&["reject", "unreach port", "reset", "unreach6 admin-prohib"])
            .to_string(),
        14 => format!("pipe {}", 1 + r.below(3)),
        15 => format!("setdscp {}", r.below(64)),
        16 => "check-state".to_string(),
        17 => format!("count tag {}", 1 + r.below(3)),
        18 => "skipto tablearg".to_string(),
        _ => "queue tablearg".to_string(),
    };
    if action == "check-state" {
        return format!("add {number} check-state");
    }
    let proto = r.pick(&[
        "ip",
        "ip",
        "tcp",
        "tcp",
        "udp",
        "icmp",
        "ipv6-icmp",
        "{ tcp or udp }",
        "not tcp",
        "ip4",
        "ip6",
    ]);
    let mut s = format!("add {number} {action} {proto} from {}", addr_spec(r));
    if proto.contains("tcp") || proto.contains("udp") {
        s.push_str(&ports(r));
    }
    s.push_str(&format!(" to {}", addr_spec(r)));
    if proto.contains("tcp") || proto.contains("udp") {
        s.push_str(&ports(r));
    }
    for _ in 0..r.below(3) {
        let o = match r.below(16) {
            0 => "in".to_string(),
            1 => "out".to_string(),
            2 => format!("via {}", r.pick(&["lan", "wan", "any"])),
            3 => format!("recv {}", r.pick(&["lan", "wan"])),
            4 => "xmit wan".to_string(),
            5 => "established".to_string(),
            6 => "setup".to_string(),
            7 => "tcpflags syn,!ack".to_string(),
            8 => "icmptypes 0,8".to_string(),
            9 => format!("iplen {}-{}", r.below(100), 100 + r.below(1400)),
            10 => "ipttl 1-64".to_string(),
            11 => "frag".to_string(),
            12 => format!("tagged {}", 1 + r.below(3)),
            13 => "dscp ef,af11".to_string(),
            14 => format!("src-ip {}", prefix(r)),
            _ => format!("{{ dst-port 80 or not src-ip {} }}", prefix(r)),
        };
        s.push(' ');
        s.push_str(&o);
    }
    if r.chance(6) && !matches!(action.as_str(), "check-state") {
        s.push_str(r.pick(&[" keep-state", " keep-state :web", " limit src-addr 3"]));
    }
    s
}

fn rules_text(r: &mut Rng, n: usize) -> String {
    let mut t = String::from("table T1 add 10.0.0.0/16 2000\ntable T1 add 192.168.1.0/24 7\ntable T1 add 2001:db8:1::/48 30000\n");
    let mut number = 0u32;
    for _ in 0..n {
        number += 1 + r.below(30) as u32;
        if number >= 65535 {
            break;
        }
        t.push_str(&rule(r, number));
        t.push('\n');
    }
    t
}

fn packet(r: &mut Rng) -> PacketMeta {
    let p = [
        proto::TCP,
        proto::TCP,
        proto::UDP,
        proto::ICMP,
        proto::ICMP6,
        47,
    ][r.below(6) as usize];
    let mut m = if r.chance(75) {
        PacketMeta::v4(addr4(r), addr4(r), p)
    } else {
        PacketMeta::v6(addr6(r), addr6(r), p)
    };
    if proto::has_ports(p) {
        let port = |r: &mut Rng| [22, 23, 53, 80, 443, 1024, 5000, 60000][r.below(8) as usize];
        m = m.with_ports(port(r), port(r));
    }
    if p == proto::TCP {
        m.tcp_flags = [
            tcp::SYN,
            tcp::SYN | tcp::ACK,
            tcp::ACK,
            tcp::FIN | tcp::ACK,
            tcp::RST,
        ][r.below(5) as usize];
    }
    if p == proto::ICMP || p == proto::ICMP6 {
        m.icmp_type = [0, 3, 8, 128][r.below(4) as usize];
    }
    m.ip_len = 20 + r.below(1500) as u16;
    m.ttl = r.below(255) as u8;
    m.tos = (r.below(64) as u8) << 2;
    m.frag = if r.chance(5) {
        firewall::packet::frag::OFFSET
    } else {
        0
    };
    m.entropy = r.next() as u32;
    if r.chance(50) {
        m.inbound(r.below(2) as u16)
    } else {
        m.outbound(
            [0, 1, firewall::NO_IFACE][r.below(3) as usize],
            r.below(2) as u16,
        )
    }
}

fn env() -> Env {
    Env {
        interfaces: vec![("lan".into(), 0), ("wan".into(), 1)],
        addrs: vec![
            Ipv4Addr::new(10, 0, 0, 1).into(),
            "2001:db8::1".parse().unwrap(),
        ],
    }
}

/// The default rule's policy: allow when `allow`.
fn policy(allow: bool) -> DefaultPolicy {
    if allow {
        DefaultPolicy::Allow
    } else {
        DefaultPolicy::Deny
    }
}

/// `text` compiled twice: one set for the compiled classifier, one walked by the
/// linear evaluator (each keeps its own counters). A parse error names the text.
fn compile_twice(text: &str, default: DefaultPolicy) -> (RuleSet, RuleSet) {
    let chain = || Chain::from_text(text, default, 1).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let compile = |c: Chain| RuleSet::compile(&c, &env()).unwrap();
    (compile(chain()), compile(chain()))
}

fn check(seed: u64, n_rules: usize, n_packets: usize) {
    let mut r = Rng(seed | 1);
    let text = rules_text(&mut r, n_rules);
    let default = policy(r.chance(50));
    let (compiled, linear) = compile_twice(&text, default);
    let cfg = StateConfig {
        max_states: 64,
        hash_seed: seed | 1,
        ..StateConfig::default()
    };
    if n_rules >= 2000 {
        // The classifier really classifies: more than one leaf, and the
        // average leaf far shorter than the rule set.
        let [(nodes, entries), _] = compiled.classifier_size();
        assert!(nodes > 1, "{nodes} nodes");
        eprintln!(
            "{} rules: {nodes} nodes, {entries} leaf entries",
            compiled.len()
        );
    }
    let (sa, sb) = (StateTable::new(cfg), StateTable::new(cfg));
    let mut batch = Vec::new();
    for i in 0..n_packets {
        let now_ms = 1000 + i as u64 * 37;
        let p = packet(&mut r);
        let (mut pa, mut pb) = (p, p);
        let ctx_a = Ctx {
            states: &sa,
            now_ms,
            worker: 0,
        };
        // Every other packet as the dataplane asks: the shortcuts, then
        // (when they do not decide) the evaluation.
        let oa = match i % 2 {
            0 => compiled.evaluate(&mut pa, &ctx_a),
            _ => compiled
                .decide(p.family, p.direction, p.ip_len, || p.head4(), &ctx_a)
                .unwrap_or_else(|| compiled.evaluate(&mut pa, &ctx_a)),
        };
        let ob = linear.evaluate_linear(
            &mut pb,
            &Ctx {
                states: &sb,
                now_ms,
                worker: 0,
            },
        );
        assert_eq!(oa, ob, "seed {seed}, packet {i}: {p:?}\n{text}");
        assert_eq!(pa, pb, "seed {seed}, packet {i}");
        batch.push(p);
    }
    let ca: Vec<_> = compiled
        .stats()
        .map(|s| (s.number, s.counters.packets, s.counters.bytes))
        .collect();
    let cb: Vec<_> = linear
        .stats()
        .map(|s| (s.number, s.counters.packets, s.counters.bytes))
        .collect();
    assert_eq!(ca, cb, "seed {seed}: counters");
    // The batch path gives what one-by-one gives (fresh states on both sides).
    let (sc, sd) = (StateTable::new(cfg), StateTable::new(cfg));
    let ctx_c = Ctx {
        states: &sc,
        now_ms: 5,
        worker: 0,
    };
    let ctx_d = Ctx {
        states: &sd,
        now_ms: 5,
        worker: 0,
    };
    let mut pk = batch.clone();
    let mut out = vec![firewall::Outcome::ALLOW_ALL; pk.len()];
    compiled.classify_batch(&mut pk, &mut out, &ctx_c);
    for (i, p) in batch.iter().enumerate() {
        let mut q = *p;
        assert_eq!(
            out[i],
            linear.evaluate_linear(&mut q, &ctx_d),
            "seed {seed}: batch packet {i}"
        );
        assert_eq!(pk[i], q, "seed {seed}: batch packet {i} tags/dscp");
    }
    // The batch path counts per burst: the counts are the same once done.
    assert_eq!(
        counters(&compiled),
        counters(&linear),
        "seed {seed}: batch counters"
    );
    // The first match alone (what rte_acl computes) agrees with a plain scan.
    let mut first = vec![0u32; batch.len()];
    compiled.first_match_batch(&batch, &mut first);
    for (i, p) in batch.iter().enumerate() {
        assert_eq!(
            first[i],
            linear.first_match_linear(p),
            "seed {seed}: first match {i}"
        );
    }
}

fn counters(rs: &RuleSet) -> Vec<(u16, u64, u64)> {
    rs.stats()
        .map(|s| (s.number, s.counters.packets, s.counters.bytes))
        .collect()
}

/// Rules over the whole IPv4 space, as a big ACL has them: random prefixes
/// of every length, service ports and port ranges, mostly plain allow/deny
/// (the classifier's shortcut) mixed with count, skipto, `not`, or-blocks,
/// tables and states (the walk). The tree gets deep and wide here, unlike
/// with the small address pool above.
fn wide_rule(r: &mut Rng, number: u32) -> String {
    let pfx = |r: &mut Rng| {
        let len = if r.chance(2) {
            0
        } else {
            [8, 12, 16, 16, 20, 24, 24, 24, 28, 32][r.below(10) as usize]
        };
        let a = Ipv4Addr::from(r.next() as u32 & !((1u64 << (32 - len)) - 1) as u32);
        format!("{a}/{len}")
    };
    let port = |r: &mut Rng| match r.below(5) {
        0 => String::new(),
        1 => format!(" {}", [22, 53, 80, 443][r.below(4) as usize]),
        2 => {
            let lo = r.below(60000);
            format!(" {lo}-{}", lo + r.below(5000))
        }
        // From port 0: a packet without ports (later fragments, ICMP) has
        // 0 there, and still must not match.
        3 => format!(" 0-{}", r.below(2000)),
        _ => format!(" {},{}", r.below(1024), r.below(1024)),
    };
    let action = match r.below(20) {
        0..=9 => "allow".to_string(),
        10..=14 => "deny".to_string(),
        15 => "count".to_string(),
        16 => format!("skipto {}", number + 1 + r.below(500) as u32),
        17 => "reject".to_string(),
        18 => format!("pipe {}", 1 + r.below(3)),
        _ => "allow".to_string(),
    };
    let proto = r.pick(&["tcp", "tcp", "udp", "ip", "icmp"]);
    let ports = proto == "tcp" || proto == "udp";
    let mut src = pfx(r);
    if r.chance(2) {
        src = format!("not {src}");
    } else if r.chance(5) {
        src = format!("{{ {src} or {} }}", pfx(r));
    } else if r.chance(3) {
        src = "table(T1)".to_string();
    }
    let (sp, dp) = if ports {
        (if r.chance(10) { port(r) } else { String::new() }, port(r))
    } else {
        (String::new(), String::new())
    };
    let mut s = format!(
        "add {number} {action} {proto} from {src}{sp} to {}{dp}",
        pfx(r)
    );
    if r.chance(3) {
        s.push_str(" in");
    }
    if r.chance(1) && action == "allow" {
        s.push_str(" keep-state");
    }
    s
}

fn wide_packet(r: &mut Rng, rules: &[(u32, u8, u32, u8)]) -> PacketMeta {
    let inside = |r: &mut Rng, a: u32, len: u8| {
        if len == 0 {
            r.next() as u32
        } else {
            a | (r.next() as u32 & (u32::MAX >> len.min(31)) & if len == 32 { 0 } else { u32::MAX })
        }
    };
    let (s, d) = if r.chance(80) && !rules.is_empty() {
        let (a, la, b, lb) = rules[r.below(rules.len() as u64) as usize];
        (inside(r, a, la), inside(r, b, lb))
    } else {
        (r.next() as u32, r.next() as u32)
    };
    let p = [proto::TCP, proto::TCP, proto::UDP, proto::ICMP, 47][r.below(5) as usize];
    let mut m = PacketMeta::v4(s.into(), d.into(), p);
    if proto::has_ports(p) {
        let port = |r: &mut Rng| match r.below(3) {
            0 => [22, 53, 80, 443][r.below(4) as usize],
            1 => r.below(1024) as u16,
            _ => r.below(65536) as u16,
        };
        m = m.with_ports(port(r), port(r));
        m.tcp_flags = if r.chance(50) { tcp::SYN } else { tcp::ACK };
    }
    if r.chance(5) {
        // A later fragment: no L4 header, so no ports.
        m.frag = firewall::packet::frag::OFFSET;
        m = m.with_ports(0, 0);
    }
    m.ip_len = 40 + r.below(1460) as u16;
    m.entropy = r.next() as u32;
    if r.chance(70) {
        m.inbound(0)
    } else {
        m.outbound(0, 1)
    }
}

fn check_wide(seed: u64, n_rules: usize, n_packets: usize) {
    let mut r = Rng(seed | 1);
    let mut text = String::from("table T1 add 10.0.0.0/8 3\ntable T1 add 192.168.0.0/16 9\n");
    let mut boxes = Vec::new();
    for k in 0..n_rules {
        let line = wide_rule(&mut r, 10 + k as u32 * 5);
        // Where the packets aim: the rule's first source and destination prefix.
        let pf: Vec<(u32, u8)> = line
            .split([' ', '{', '}'])
            .filter_map(|w| {
                let (a, l) = w.split_once('/')?;
                Some((a.parse::<Ipv4Addr>().ok()?.into(), l.parse().ok()?))
            })
            .collect();
        if pf.len() >= 2 {
            boxes.push((pf[0].0, pf[0].1, pf[pf.len() - 1].0, pf[pf.len() - 1].1));
        }
        text.push_str(&line);
        text.push('\n');
    }
    let default = policy(r.chance(50));
    let (compiled, linear) = compile_twice(&text, default);
    let cfg = StateConfig {
        max_states: 4096,
        hash_seed: seed | 1,
        ..StateConfig::default()
    };
    let (sa, sb) = (StateTable::new(cfg), StateTable::new(cfg));
    let pkts: Vec<PacketMeta> = (0..n_packets)
        .map(|_| wide_packet(&mut r, &boxes))
        .collect();
    // Bursts of odd sizes, through the batch path, against one by one.
    let mut at = 0;
    while at < pkts.len() {
        let n = (1 + r.below(70) as usize).min(pkts.len() - at);
        let now_ms = 1000 + at as u64;
        let ca = Ctx {
            states: &sa,
            now_ms,
            worker: 0,
        };
        let cb = Ctx {
            states: &sb,
            now_ms,
            worker: 0,
        };
        let mut pa = pkts[at..at + n].to_vec();
        let mut out = vec![firewall::Outcome::ALLOW_ALL; n];
        compiled.classify_batch(&mut pa, &mut out, &ca);
        for k in 0..n {
            let mut q = pkts[at + k];
            let want = linear.evaluate_linear(&mut q, &cb);
            assert_eq!(
                out[k],
                want,
                "seed {seed}, packet {}: {:?}",
                at + k,
                pkts[at + k]
            );
            assert_eq!(pa[k], q, "seed {seed}, packet {}", at + k);
        }
        at += n;
    }
    assert_eq!(
        counters(&compiled),
        counters(&linear),
        "seed {seed}: counters"
    );
    let mut first = vec![0u32; pkts.len()];
    compiled.first_match_batch(&pkts, &mut first);
    for (i, p) in pkts.iter().enumerate() {
        assert_eq!(
            first[i],
            linear.first_match_linear(p),
            "seed {seed}: first match {i}"
        );
    }
    // Per packet (the dataplane's call) as well, on fresh states.
    let (sc, sd) = (StateTable::new(cfg), StateTable::new(cfg));
    for (i, p) in pkts.iter().enumerate().take(1000) {
        let (mut pa, mut pb) = (*p, *p);
        let ctx = |s| Ctx {
            states: s,
            now_ms: 7,
            worker: 0,
        };
        assert_eq!(
            compiled.evaluate(&mut pa, &ctx(&sc)),
            linear.evaluate_linear(&mut pb, &ctx(&sd)),
            "seed {seed}, packet {i} one by one"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn wide_compiled_equals_linear(seed in any::<u64>(), n in 1usize..=3000) {
        check_wide(seed, n, 1500);
    }
}

#[test]
fn wide_large_rule_sets() {
    check_wide(104_729, 10_000, 2500);
    check_wide(209_458, 4_000, 2500);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn compiled_equals_linear(seed in any::<u64>(), n in 1usize..=2000) {
        check(seed, n, 400);
    }
}

#[test]
fn large_rule_sets() {
    for seed in 1..=3 {
        check(seed * 7919, 2000, 2000);
    }
}

/// perf/fwd scenario 2's rule set (perf/fwd/gen.py), `n` rules: rules that
/// are wildcards in different fields (ports only, source prefix only).
fn fwd_text(n: usize) -> String {
    (0..n)
        .map(|i| {
            let num = 100 + 10 * i;
            match i % 4 {
                0 => format!("add {num} deny tcp from any to any {}\n", 1000 + i),
                1 => format!("add {num} deny udp from 203.0.113.{}/32 to any\n", i % 256),
                2 => format!(
                    "add {num} deny ip from 100.{}.0.0/16 to any\n",
                    64 + i % 192
                ),
                _ => format!("add {num} deny udp from any to any {}\n", 2000 + i),
            }
        })
        .collect()
}

/// Rules wildcard in different fields go to different trees, so that the
/// benchmark's frames (UDP from 198.51.100.2 to port 9: no rule holds them)
/// get a short candidate list, not every port and prefix rule; and the
/// verdicts stay the linear evaluator's, mixed with random rules too.
#[test]
fn wildcards_in_different_fields() {
    for n in [100, 1000] {
        let text = fwd_text(n);
        let chain = Chain::from_text(&text, DefaultPolicy::Allow, 1).unwrap();
        let rs = RuleSet::compile(&chain, &Env::default()).unwrap();
        assert!(rs.classifier_trees()[0] >= 2, "{:?}", rs.classifier_trees());
        let mut r = Rng(n as u64 * 31 + 1);
        for _ in 0..200 {
            let dst = Ipv4Addr::from(r.next() as u32);
            let p = PacketMeta::v4(Ipv4Addr::new(198, 51, 100, 2), dst, proto::UDP)
                .with_ports(1024 + r.below(60000) as u16, 9)
                .inbound(0);
            let c = rs.candidate_count(&p);
            assert!(c <= 4, "{n} rules: {c} candidates for {p:?}");
        }
    }
    // The same pattern with the property test's random rules in between.
    for seed in 1..=4u64 {
        let mut r = Rng(seed * 104_729);
        let mut text = String::from("table T1 add 10.0.0.0/16 2000\n");
        for (k, line) in fwd_text(400).lines().enumerate() {
            text.push_str(line);
            text.push('\n');
            if k % 3 == 0 {
                text.push_str(&rule(&mut r, 100 + 10 * k as u32 + 5));
                text.push('\n');
            }
        }
        let default = policy(seed % 2 == 0);
        let (compiled, linear) = compile_twice(&text, default);
        let cfg = StateConfig {
            max_states: 64,
            hash_seed: seed,
            ..StateConfig::default()
        };
        let (sa, sb) = (StateTable::new(cfg), StateTable::new(cfg));
        for i in 0..1500 {
            let mut p = packet(&mut r);
            if r.chance(50) && p.family == firewall::Family::V4 {
                // Into the pattern's prefixes and ports.
                let src = if r.chance(50) {
                    Ipv4Addr::new(100, 64 + r.below(120) as u8, 1, 1)
                } else {
                    Ipv4Addr::new(203, 0, 113, r.below(120) as u8)
                };
                p.src = u32::from(src) as u128;
                if firewall::packet::proto::has_ports(p.proto) {
                    p.dport =
                        [1000, 2000, 1001, 2003, 9][r.below(5) as usize] + r.below(400) as u16;
                }
            }
            let ctx = |s| Ctx {
                states: s,
                now_ms: 1000 + i,
                worker: 0,
            };
            let (mut pa, mut pb) = (p, p);
            assert_eq!(
                compiled.evaluate(&mut pa, &ctx(&sa)),
                linear.evaluate_linear(&mut pb, &ctx(&sb)),
                "seed {seed}, packet {i}: {p:?}"
            );
            assert_eq!(pa, pb, "seed {seed}, packet {i}");
        }
        assert_eq!(counters(&compiled), counters(&linear), "seed {seed}");
    }
}

/// A rule that ends the walk when it matches and reads nothing that differs
/// between a forwarded packet's "in" and "out" pass (the property test's
/// addresses, tables, `not`, or-blocks, ports, flags, lengths).
fn alike_rule(r: &mut Rng, number: u32) -> String {
    let (src, dst) = (addr_spec(r), addr_spec(r));
    // Broad rules allow, so that most packets get through to an "out" pass.
    let action = if src.contains("any") || dst.contains("any") {
        "allow"
    } else {
        r.pick(&["allow", "allow", "deny", "reject", "unreach port", "pipe 2"])
    };
    let proto = r.pick(&["ip", "tcp", "udp", "icmp", "{ tcp or udp }", "not tcp"]);
    let mut s = format!("add {number} {action} {proto} from {src}");
    if proto.contains("tcp") || proto.contains("udp") {
        s.push_str(&ports(r));
    }
    s.push_str(&format!(" to {dst}"));
    if proto.contains("tcp") || proto.contains("udp") {
        s.push_str(&ports(r));
    }
    if r.chance(30) {
        s.push(' ');
        s.push_str(r.pick(&[
            "established",
            "setup",
            "tcpflags syn,!ack",
            "iplen 100-900",
            "frag",
            "dscp ef,af11",
            "icmptypes 0,8",
        ]));
    }
    s
}

/// Where a rule set decides alike on both passes, `RuleSet::replay` of the
/// "in" pass gives the "out" pass's outcome and counts, as the linear walk
/// of the "out" pass (direction, interfaces, TTL and draw changed) does; a
/// set with a rule that reads any of those, or that goes on after a match,
/// is not such a set.
#[test]
fn out_pass_replay_equals_the_out_walk() {
    for seed in 1..=6u64 {
        let mut r = Rng(seed * 7_777_777);
        let mut text = String::from("table T1 add 10.0.0.0/16 2000\n");
        for k in 0..(50 + 150 * seed as u32) {
            text.push_str(&alike_rule(&mut r, 10 + 10 * k));
            text.push('\n');
        }
        let default = policy(seed % 2 == 0);
        let (compiled, linear) = compile_twice(&text, default);
        assert!(compiled.same_both_passes(), "seed {seed}");
        let cfg = StateConfig::default();
        let (sa, sb) = (StateTable::new(cfg), StateTable::new(cfg));
        let mut replayed = 0;
        for i in 0..1500 {
            let p = packet(&mut r).inbound(0);
            let mut out = p.outbound(0, 1);
            out.ttl = p.ttl.wrapping_sub(1);
            out.entropy = p.entropy ^ 0x5555;
            let ctx = |s| Ctx {
                states: s,
                now_ms: 1000 + i,
                worker: 0,
            };
            let (mut pa, mut pb) = (p, p);
            let oa = compiled.evaluate(&mut pa, &ctx(&sa));
            let ob = linear.evaluate_linear(&mut pb, &ctx(&sb));
            assert_eq!(oa, ob, "seed {seed}, packet {i}");
            let mut tags = pa.tags;
            compiled.remember(&oa, pa.ip_len, &mut tags);
            if oa.verdict != firewall::Verdict::Allow {
                continue;
            }
            let mut qb = out;
            qb.tags = pb.tags;
            let want = linear.evaluate_linear(&mut qb, &ctx(&sb));
            let got = compiled
                .replay(&tags, &ctx(&sa))
                .expect("an allowed packet is remembered");
            replayed += 1;
            assert_eq!(got, want, "seed {seed}, packet {i}: {p:?}");
        }
        assert!(replayed > 50, "seed {seed}: {replayed} replays");
        assert_eq!(counters(&compiled), counters(&linear), "seed {seed}");
    }
    for other in [
        "add 10 allow tcp from any to any in",
        "add 10 allow tcp from any to any via lan",
        "add 10 allow tcp from any to any ipttl 1-64",
        "add 10 allow tcp from any to any tagged 3",
        "add 10 count tcp from any to any",
        "add 10 skipto 20 tcp from any to any",
        "add 10 allow tcp from any to any keep-state",
        "add 10 prob 0.5 allow tcp from any to any",
        "add 10 allow tag 3 tcp from any to any",
        "add 10 setdscp 4 tcp from any to any",
    ] {
        let text = format!("add 5 deny udp from any to any 53\n{other}\n");
        let chain = Chain::from_text(&text, DefaultPolicy::Deny, 1).unwrap();
        let rs = RuleSet::compile(&chain, &env()).unwrap();
        assert!(!rs.same_both_passes(), "{other}");
        let mut p = PacketMeta::v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            proto::TCP,
        );
        let s = StateTable::new(StateConfig::default());
        let ctx = Ctx {
            states: &s,
            now_ms: 1,
            worker: 0,
        };
        let o = rs.evaluate(&mut p, &ctx);
        let mut tags = p.tags;
        rs.remember(&o, p.ip_len, &mut tags);
        assert_eq!(rs.replay(&tags, &ctx), None, "{other}");
    }
}
