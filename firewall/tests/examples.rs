//! The ipfw(8) manual's EXAMPLES section, for the features vnetd supports:
//! each example parses and behaves as the manual says. Host names of the
//! manual (cracker.evil.org, wolf.tambov.su, my.host.org, my-net) are replaced
//! by addresses; ipfw resolves names, vnetd does not.

use std::net::Ipv4Addr;

use firewall::packet::{proto, tcp};
use firewall::{
    Chain, Ctx, DefaultPolicy, Env, Outcome, PacketMeta, Reject, RuleSet, StateConfig, StateTable,
    Verdict,
};

const EVIL: [u8; 4] = [198, 51, 100, 7];
const WOLF: [u8; 4] = [203, 0, 113, 9];
const MY_HOST: [u8; 4] = [192, 0, 2, 1];

fn ip(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

fn tcp_pkt(s: [u8; 4], sp: u16, d: [u8; 4], dp: u16, flags: u8) -> PacketMeta {
    PacketMeta::v4(ip(s), ip(d), proto::TCP)
        .with_ports(sp, dp)
        .with_tcp_flags(flags)
}

/// The compiled rule set and, beside it, the linear reference built from the
/// same text with its own counters and states.
struct Fw {
    chain: Chain,
    rs: RuleSet,
    states: StateTable,
    lin: RuleSet,
    lin_states: StateTable,
    now_ms: u64,
}

fn env() -> Env {
    Env {
        interfaces: vec![("em0".into(), 0), ("em1".into(), 1)],
        addrs: vec![ip(MY_HOST).into()],
    }
}

impl Fw {
    fn new(text: &str, default: DefaultPolicy) -> Fw {
        let chain = Chain::from_text(text, default, 1).unwrap_or_else(|e| panic!("{e}"));
        let twin = Chain::from_text(text, default, 1).unwrap();
        Fw {
            rs: RuleSet::compile(&chain, &env()).unwrap(),
            lin: RuleSet::compile(&twin, &env()).unwrap(),
            chain,
            states: StateTable::new(StateConfig::default()),
            lin_states: StateTable::new(StateConfig::default()),
            now_ms: 1_000,
        }
    }

    /// After editing `chain`: both sides from it (counters then shared).
    fn recompile(&mut self) {
        self.rs = RuleSet::compile(&self.chain, &env()).unwrap();
        self.lin = RuleSet::compile(&self.chain, &env()).unwrap();
    }

    /// Both evaluators, which must agree.
    fn check(&self, p: PacketMeta) -> Outcome {
        let ctx = Ctx {
            states: &self.states,
            now_ms: self.now_ms,
            worker: 0,
        };
        let lin_ctx = Ctx {
            states: &self.lin_states,
            ..ctx
        };
        let mut a = p;
        let got = self.rs.evaluate(&mut a, &ctx);
        let mut b = p;
        let lin = self.lin.evaluate_linear(&mut b, &lin_ctx);
        assert_eq!(got, lin, "{p:?}");
        assert_eq!(a, b);
        let counters = |rs: &RuleSet| rs.stats().map(|s| s.counters.packets).collect::<Vec<_>>();
        assert_eq!(counters(&self.rs), counters(&self.lin));
        got
    }

    fn verdict(&self, p: PacketMeta) -> (Verdict, u16) {
        let o = self.check(p);
        (o.verdict, o.rule)
    }
}

#[test]
fn deny_telnet_from_cracker() {
    let fw = Fw::new(
        &format!("ipfw add deny tcp from {} to {} telnet", ip(EVIL), ip(WOLF)),
        DefaultPolicy::Allow,
    );
    assert_eq!(
        fw.verdict(tcp_pkt(EVIL, 40000, WOLF, 23, tcp::SYN)),
        (Verdict::Deny, 100)
    );
    assert_eq!(
        fw.verdict(tcp_pkt(EVIL, 40000, WOLF, 22, tcp::SYN)).0,
        Verdict::Allow
    );
    assert_eq!(
        fw.verdict(tcp_pkt(MY_HOST, 40000, WOLF, 23, tcp::SYN)).0,
        Verdict::Allow
    );
}

#[test]
fn deny_crackers_network_to_my_host() {
    let fw = Fw::new(
        "ipfw add deny ip from 123.45.67.0/24 to 192.0.2.1",
        DefaultPolicy::Allow,
    );
    let udp =
        PacketMeta::v4(Ipv4Addr::new(123, 45, 67, 200), ip(MY_HOST), proto::UDP).with_ports(1, 53);
    assert_eq!(fw.verdict(udp).0, Verdict::Deny);
    let other =
        PacketMeta::v4(Ipv4Addr::new(123, 45, 68, 1), ip(MY_HOST), proto::UDP).with_ports(1, 53);
    assert_eq!(fw.verdict(other).0, Verdict::Allow);
}

#[test]
fn established_and_setup_without_dynamic_rules() {
    let fw = Fw::new(
        "ipfw add allow tcp from any to any established\n\
         ipfw add allow tcp from 10.1.0.0/16 1024-65535 to 10.2.0.0/16 http,https setup\n\
         ipfw add allow tcp from 10.3.0.0/16 to 10.3.0.0/16 ssh setup\n\
         ipfw add deny tcp from any to any",
        DefaultPolicy::Allow,
    );
    // A normal packet of any connection passes by the first rule.
    assert_eq!(
        fw.verdict(tcp_pkt([10, 9, 9, 9], 5, [10, 8, 8, 8], 6, tcp::ACK)),
        (Verdict::Allow, 100)
    );
    // A SYN only for the selected pairs.
    assert_eq!(
        fw.verdict(tcp_pkt([10, 1, 0, 5], 2000, [10, 2, 3, 4], 443, tcp::SYN)),
        (Verdict::Allow, 200)
    );
    assert_eq!(
        fw.verdict(tcp_pkt([10, 3, 0, 5], 2000, [10, 3, 3, 4], 22, tcp::SYN)),
        (Verdict::Allow, 300)
    );
    // Every other SYN hits the final deny.
    assert_eq!(
        fw.verdict(tcp_pkt([10, 1, 0, 5], 80, [10, 2, 3, 4], 443, tcp::SYN)),
        (Verdict::Deny, 400)
    );
    assert_eq!(
        fw.verdict(tcp_pkt([10, 4, 0, 5], 2000, [10, 3, 3, 4], 22, tcp::SYN)),
        (Verdict::Deny, 400)
    );
}

#[test]
fn address_sets_and_or_blocks() {
    let fw = Fw::new(
        "ipfw add allow ip from { 10.1.2.0/24{20,35,66,18} or 10.2.3.0/28{6,3,11} } to any\n\
         ipfw add deny ip from 10.1.2.0/24{8,38,60} to any\n\
         ipfw add count ip from any to any",
        DefaultPolicy::Deny,
    );
    let from = |a: [u8; 4]| PacketMeta::v4(ip(a), ip(WOLF), proto::UDP).with_ports(1, 2);
    assert_eq!(fw.verdict(from([10, 1, 2, 35])), (Verdict::Allow, 100));
    assert_eq!(fw.verdict(from([10, 2, 3, 11])), (Verdict::Allow, 100));
    assert_eq!(fw.verdict(from([10, 1, 2, 38])), (Verdict::Deny, 200));
    // Neither: the count rule counts, the default rule decides.
    assert_eq!(fw.verdict(from([10, 1, 2, 36])), (Verdict::Deny, 65535));
    assert_eq!(
        fw.verdict(from([10, 2, 3, 20])),
        (Verdict::Deny, 65535),
        "10.2.3.20 is outside the /28"
    );
    let counted: Vec<(u16, u64)> = fw
        .rs
        .stats()
        .map(|s| (s.number, s.counters.packets))
        .collect();
    assert_eq!(counted, [(100, 2), (200, 1), (300, 2), (65535, 2)]);
}

#[test]
fn setdscp_remarks_and_goes_on() {
    let fw = Fw::new("ipfw add setdscp be ip from any to any dscp af11,af21\nipfw add deny ip from any to any dscp be", DefaultPolicy::Allow);
    let mut p = tcp_pkt(EVIL, 1, WOLF, 2, tcp::ACK);
    p.tos = 18 << 2; // af21
    assert_eq!(fw.verdict(p), (Verdict::Deny, 200));
    p.tos = 46 << 2; // ef: not remarked
    assert_eq!(fw.verdict(p).0, Verdict::Allow);
}

#[test]
fn dynamic_rules_against_fake_tcp_floods() {
    let mut fw = Fw::new(
        "ipfw add check-state\n\
         ipfw add deny tcp from any to any established\n\
         ipfw add allow tcp from 10.0.0.0/8 to any setup keep-state",
        DefaultPolicy::Deny,
    );
    let inside = [10, 0, 0, 5];
    // A fake established packet from outside: denied.
    assert_eq!(
        fw.verdict(tcp_pkt(WOLF, 80, inside, 3000, tcp::ACK)),
        (Verdict::Deny, 200)
    );
    // A SYN from our network installs a state...
    assert_eq!(
        fw.verdict(tcp_pkt(inside, 3000, WOLF, 80, tcp::SYN)),
        (Verdict::Allow, 300)
    );
    // ... that lets the reply and the rest of the connection through via check-state.
    fw.now_ms += 100;
    assert_eq!(
        fw.verdict(tcp_pkt(WOLF, 80, inside, 3000, tcp::SYN | tcp::ACK)),
        (Verdict::Allow, 300)
    );
    assert_eq!(
        fw.verdict(tcp_pkt(inside, 3000, WOLF, 80, tcp::ACK)),
        (Verdict::Allow, 300)
    );
    // Another port of the same hosts has no state.
    assert_eq!(
        fw.verdict(tcp_pkt(WOLF, 80, inside, 3001, tcp::ACK)),
        (Verdict::Deny, 200)
    );
    // A SYN from outside matches no rule: default deny.
    assert_eq!(
        fw.verdict(tcp_pkt(WOLF, 5000, inside, 22, tcp::SYN)),
        (Verdict::Deny, 65535)
    );
    let out = fw.chain.show(
        None,
        &[],
        firewall::ast::ShowOpts {
            dynamic: true,
            ..Default::default()
        },
        Some(&fw.states),
        fw.now_ms,
    );
    assert!(out.contains("## Dynamic rules (1):"), "{out}");
}

#[test]
fn limit_connections_per_source() {
    let fw = Fw::new(
        "ipfw add allow tcp from 10.0.0.0/24 to any setup limit src-addr 10",
        DefaultPolicy::Deny,
    );
    for port in 0..10 {
        assert_eq!(
            fw.verdict(tcp_pkt([10, 0, 0, 1], 1000 + port, WOLF, 80, tcp::SYN))
                .0,
            Verdict::Allow
        );
    }
    let o = fw.check(tcp_pkt([10, 0, 0, 1], 2000, WOLF, 80, tcp::SYN));
    assert_eq!(
        (o.verdict, o.cause),
        (Verdict::Deny, firewall::DenyCause::Limit)
    );
    // Another host has its own 10.
    assert_eq!(
        fw.verdict(tcp_pkt([10, 0, 0, 2], 2000, WOLF, 80, tcp::SYN))
            .0,
        Verdict::Allow
    );
    // The server-side variant.
    let fw = Fw::new(
        "ipfw add allow tcp from any to me setup limit src-addr 4",
        DefaultPolicy::Deny,
    );
    for port in 0..4 {
        assert_eq!(
            fw.verdict(tcp_pkt(EVIL, 1000 + port, MY_HOST, 22, tcp::SYN))
                .0,
            Verdict::Allow
        );
    }
    assert_eq!(
        fw.verdict(tcp_pkt(EVIL, 2000, MY_HOST, 22, tcp::SYN)).0,
        Verdict::Deny
    );
}

#[test]
fn accounting_listings() {
    let mut fw = Fw::new("add 100 allow ip from any to any", DefaultPolicy::Deny);
    fw.verdict(tcp_pkt(EVIL, 1, WOLF, 2, 0).with_len(60));
    let show = fw.chain.apply_text("ipfw show").unwrap();
    assert_eq!(show, fw.chain.apply_text("ipfw -a list").unwrap());
    assert!(
        show.starts_with("00100          1           60 allow ip from any to any"),
        "{show}"
    );
    let at = fw.chain.apply_text("ipfw -at list").unwrap();
    assert!(
        at.starts_with("00100          1           60          1 allow"),
        "{at}"
    );
}

#[test]
fn probability_drops_some() {
    let fw = Fw::new(
        "ipfw add prob 0.05 deny ip from any to any in",
        DefaultPolicy::Allow,
    );
    let mut dropped = 0;
    for e in 0..10_000u32 {
        let mut p = tcp_pkt(EVIL, 1, WOLF, 2, 0);
        p.entropy = e;
        if fw.verdict(p).0 == Verdict::Deny {
            dropped += 1;
        }
    }
    assert!((300..700).contains(&dropped), "{dropped} of 10000");
}

#[test]
fn pipes_by_direction_and_table() {
    let fw = Fw::new(
        "ipfw add pipe 1 ip from 192.168.2.0/24 to any out\nipfw add pipe 2 ip from any to 192.168.2.0/24 in",
        DefaultPolicy::Allow,
    );
    let out = PacketMeta::v4(Ipv4Addr::new(192, 168, 2, 5), ip(WOLF), proto::UDP).outbound(0, 1);
    let inn = PacketMeta::v4(ip(WOLF), Ipv4Addr::new(192, 168, 2, 5), proto::UDP).inbound(1);
    assert_eq!(fw.verdict(out).0, Verdict::Pipe(1));
    assert_eq!(fw.verdict(inn).0, Verdict::Pipe(2));
    assert_eq!(
        fw.verdict(out.inbound(1)).0,
        Verdict::Allow,
        "the out rule is not used twice"
    );
    let fw = Fw::new(
        "ipfw table T1 create type addr\n\
         ipfw table T1 add 192.168.2.0/24 1\n\
         ipfw table T1 add 192.168.0.0/27 4\n\
         ipfw table T1 add 192.168.0.2 1\n\
         ipfw add pipe tablearg ip from 'table(T1)' to any",
        DefaultPolicy::Allow,
    );
    let from = |a: [u8; 4]| PacketMeta::v4(ip(a), ip(WOLF), proto::UDP);
    assert_eq!(fw.verdict(from([192, 168, 2, 9])).0, Verdict::Pipe(1));
    assert_eq!(fw.verdict(from([192, 168, 0, 9])).0, Verdict::Pipe(4));
    assert_eq!(
        fw.verdict(from([192, 168, 0, 2])).0,
        Verdict::Pipe(1),
        "longest prefix"
    );
    assert_eq!(fw.verdict(from([192, 168, 1, 2])).0, Verdict::Allow);
}

#[test]
fn rule_sets_atomically() {
    let mut fw = Fw::new("add 100 allow ip from any to any", DefaultPolicy::Deny);
    fw.chain
        .apply_text("ipfw set disable 18\nipfw add 50 set 18 deny tcp from any to any 23\nipfw add 60 set 18 count ip from any to any")
        .unwrap();
    let telnet = tcp_pkt(EVIL, 1, WOLF, 23, tcp::SYN);
    fw.recompile();
    assert_eq!(
        fw.verdict(telnet),
        (Verdict::Allow, 100),
        "set 18 is disabled"
    );
    fw.chain.apply_text("ipfw set enable 18").unwrap();
    fw.recompile();
    assert_eq!(fw.verdict(telnet), (Verdict::Deny, 50));
    assert_eq!(
        fw.chain
            .apply_text("ipfw set 18 show")
            .unwrap()
            .lines()
            .count(),
        2
    );
    fw.chain.apply_text("ipfw set disable 18").unwrap();
    assert_eq!(fw.chain.apply_text("ipfw set 18 show").unwrap(), "");
    assert_eq!(
        fw.chain
            .apply_text("ipfw -S set 18 show")
            .unwrap()
            .lines()
            .count(),
        2
    );
    fw.chain
        .apply_text("ipfw set enable 18\nipfw set 18 zero 50\nipfw set 18 delete 50")
        .unwrap();
    assert_eq!(
        fw.chain
            .apply_text("ipfw set 18 show")
            .unwrap()
            .lines()
            .count(),
        1
    );
    fw.chain.apply_text("ipfw delete set 18").unwrap();
    assert_eq!(fw.chain.rules().count(), 2);
}

#[test]
fn reject_and_reset_answer() {
    let fw = Fw::new(
        "add 100 reject tcp from any to any 23\nadd 200 reset tcp from any to any 25\nadd 300 unreach port udp from any to any 53\nadd 400 reset udp from any to any 54",
        DefaultPolicy::Allow,
    );
    assert_eq!(
        fw.verdict(tcp_pkt(EVIL, 1, WOLF, 23, tcp::SYN)).0,
        Verdict::Reject(Reject::Icmp4(1))
    );
    assert_eq!(
        fw.verdict(tcp_pkt(EVIL, 1, WOLF, 25, tcp::SYN)).0,
        Verdict::Reject(Reject::TcpReset)
    );
    let udp = |dp| PacketMeta::v4(ip(EVIL), ip(WOLF), proto::UDP).with_ports(1, dp);
    assert_eq!(fw.verdict(udp(53)).0, Verdict::Reject(Reject::Icmp4(3)));
    assert_eq!(
        fw.verdict(udp(54)).0,
        Verdict::Deny,
        "reset only answers TCP"
    );
}

#[test]
fn unsupported_actions_are_refused_with_a_place() {
    for (text, col) in [
        ("ipfw divert 5000 ip from 192.168.2.0/24 to any in", 6),
        ("ipfw add nat 123 all from any to any", 10),
        ("ipfw add deny ip from any to any not verrevpath in", 38),
    ] {
        let e = Chain::from_text(text, DefaultPolicy::Allow, 1).unwrap_err();
        assert_eq!((e.line, e.column), (1, col), "{text}: {e}");
    }
}

/// ipfw(8) "call"/"return": a subroutine of rules, and the walk going on after
/// the calling rule when it returns (nested calls too; a return without a call
/// goes on to the next rule).
#[test]
fn call_and_return_walk_a_subroutine() {
    let fw = Fw::new(
        "add 100 call 1000\n\
         add 200 deny tcp from any to any\n\
         add 300 allow ip from any to any\n\
         add 1000 allow udp from any to any 53\n\
         add 1100 call 2000\n\
         add 1200 return\n\
         add 2000 deny udp from any to any 9\n\
         add 2100 return",
        DefaultPolicy::Deny,
    );
    let udp = |dp| PacketMeta::v4(ip(EVIL), ip(WOLF), proto::UDP).with_ports(40000, dp);
    // Decided inside the first subroutine, and inside the nested one.
    assert_eq!(fw.verdict(udp(53)), (Verdict::Allow, 1000));
    assert_eq!(fw.verdict(udp(9)), (Verdict::Deny, 2000));
    // Both subroutines return: the walk goes on after rule 100.
    assert_eq!(fw.verdict(udp(123)), (Verdict::Allow, 300));
    assert_eq!(
        fw.verdict(tcp_pkt(EVIL, 40000, WOLF, 22, tcp::SYN)),
        (Verdict::Deny, 200)
    );
    // A return without a call is a no-op.
    let lone = Fw::new(
        "add 100 return\nadd 200 deny udp from any to any",
        DefaultPolicy::Allow,
    );
    assert_eq!(lone.verdict(udp(53)), (Verdict::Deny, 200));
}
