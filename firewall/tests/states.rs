//! Dynamic states through a rule set under a simulated clock: replies pass
//! while the state lives (ipfw's lifetimes), not after; a full table refuses
//! new flows (denied and counted) and recovers once states expire.

use std::net::Ipv4Addr;

use firewall::packet::{proto, tcp};
use firewall::{
    Chain, Ctx, DefaultPolicy, DenyCause, Env, PacketMeta, RuleSet, StateConfig, StateTable,
    Verdict,
};

const RULES: &str = "add 100 check-state\nadd 200 allow ip from 10.0.0.0/8 to any out keep-state\nadd 300 deny ip from any to any";

fn setup(max_states: usize) -> (RuleSet, StateTable) {
    let chain = Chain::from_text(RULES, DefaultPolicy::Deny, 1).unwrap();
    let rs = RuleSet::compile(&chain, &Env::default()).unwrap();
    (
        rs,
        StateTable::new(StateConfig {
            max_states,
            ..StateConfig::default()
        }),
    )
}

fn run(rs: &RuleSet, st: &StateTable, now_ms: u64, p: PacketMeta) -> (Verdict, u16, DenyCause) {
    let mut q = p;
    let o = rs.evaluate(
        &mut q,
        &Ctx {
            states: st,
            now_ms,
            worker: 0,
        },
    );
    (o.verdict, o.rule, o.cause)
}

fn out(sp: u16, proto_: u8, flags: u8) -> PacketMeta {
    PacketMeta::v4(
        Ipv4Addr::new(10, 0, 0, 2),
        Ipv4Addr::new(8, 8, 8, 8),
        proto_,
    )
    .with_ports(sp, 53)
    .with_tcp_flags(flags)
    .outbound(0, 1)
}

fn reply(p: PacketMeta, flags: u8) -> PacketMeta {
    PacketMeta {
        src: p.dst,
        dst: p.src,
        sport: p.dport,
        dport: p.sport,
        tcp_flags: flags,
        ..p
    }
    .inbound(1)
}

#[test]
fn udp_reply_within_lifetime_only() {
    let (rs, st) = setup(100);
    let q = out(5000, proto::UDP, 0);
    assert_eq!(run(&rs, &st, 0, q).0, Verdict::Allow);
    assert_eq!(
        run(&rs, &st, 4_900, reply(q, 0)).0,
        Verdict::Allow,
        "within 5 s"
    );
    // Each packet refreshes the state for another 5 s.
    assert_eq!(
        run(&rs, &st, 8_500, reply(q, 0)).0,
        Verdict::Allow,
        "refreshed at 4 s (whole seconds, as ipfw)"
    );
    assert_eq!(
        run(&rs, &st, 15_000, reply(q, 0)).1,
        300,
        "expired after 5 s of silence"
    );
}

#[test]
fn tcp_lifetimes_syn_ack_fin() {
    let (rs, st) = setup(100);
    let syn = out(4000, proto::TCP, tcp::SYN);
    assert_eq!(run(&rs, &st, 0, syn).0, Verdict::Allow);
    // Only a SYN seen: 20 s.
    assert_eq!(
        run(&rs, &st, 25_000, reply(syn, tcp::SYN | tcp::ACK)).1,
        300
    );
    let syn = out(4001, proto::TCP, tcp::SYN);
    assert_eq!(run(&rs, &st, 30_000, syn).0, Verdict::Allow);
    assert_eq!(
        run(&rs, &st, 31_000, reply(syn, tcp::SYN | tcp::ACK)).0,
        Verdict::Allow
    );
    // Established: 300 s.
    assert_eq!(
        run(&rs, &st, 31_000 + 299_000, reply(syn, tcp::ACK)).0,
        Verdict::Allow
    );
    // Both FINs: 1 s.
    let t = 31_000 + 299_000;
    assert_eq!(
        run(&rs, &st, t, syn.with_tcp_flags(tcp::FIN | tcp::ACK)).0,
        Verdict::Allow
    );
    assert_eq!(
        run(&rs, &st, t, reply(syn, tcp::FIN | tcp::ACK)).0,
        Verdict::Allow
    );
    assert_eq!(run(&rs, &st, t + 2_000, reply(syn, tcp::ACK)).1, 300);
}

#[test]
fn full_table_refuses_new_flows_then_recovers() {
    let (rs, st) = setup(4);
    for port in 0..4 {
        assert_eq!(
            run(&rs, &st, 0, out(6000 + port, proto::UDP, 0)).0,
            Verdict::Allow
        );
    }
    assert_eq!(
        run(&rs, &st, 0, out(7000, proto::UDP, 0)),
        (Verdict::Deny, 200, DenyCause::StatesFull)
    );
    assert_eq!(st.stats().full_drops, 1);
    // After the lifetime, the sweep frees the table.
    assert_eq!(st.expire(6_000), 4);
    assert_eq!(
        run(&rs, &st, 6_000, out(7000, proto::UDP, 0)).0,
        Verdict::Allow
    );
}
