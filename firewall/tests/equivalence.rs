//! Property: for random rule sets (1..2,000 rules, with skipto, call/return,
//! count, `not`, or-blocks, tables, interfaces, TCP flags, states) and random
//! packets, the compiled classifier and the linear evaluator agree on the
//! verdict, the deciding rule, the packet's tags/DSCP and every rule counter.
//! The two sides are built from the same text but share nothing (own chain,
//! counters and state table), so a divergence anywhere shows.

use std::net::{Ipv4Addr, Ipv6Addr};

use firewall::packet::{proto, tcp};
use firewall::{Chain, Ctx, DefaultPolicy, Env, PacketMeta, RuleSet, StateConfig, StateTable};
use proptest::prelude::*;

/// xorshift64*: the generator is seeded by proptest, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

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

fn check(seed: u64, n_rules: usize, n_packets: usize) {
    let mut r = Rng(seed | 1);
    let text = rules_text(&mut r, n_rules);
    let default = if r.chance(50) {
        DefaultPolicy::Allow
    } else {
        DefaultPolicy::Deny
    };
    let a = Chain::from_text(&text, default, 1).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let b = Chain::from_text(&text, default, 1).unwrap();
    let compiled = RuleSet::compile(&a, &env()).unwrap();
    let linear = RuleSet::compile(&b, &env()).unwrap();
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
        let oa = compiled.evaluate(
            &mut pa,
            &Ctx {
                states: &sa,
                now_ms,
                worker: 0,
            },
        );
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
    }
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
