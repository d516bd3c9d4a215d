//! The firewall on the packet path, on byte fixtures: the "in" and "out"
//! passes, deny/reject/reset, keep-state letting replies in, counters and drop
//! reasons, and a rule set in red never touching blue.
use super::*;
use crate::firewall::FirewallSpec;
use crate::tables::NextHop;
use ::firewall::DefaultPolicy;

const RED1_SRV: &str = "10.0.2.20";

fn red_with(rules: &str, default: DefaultPolicy) -> Router {
    red_with_spec(rules, default, None)
}

/// Red with these rules and pipes (see `tests/shaper.rs`).
pub(super) fn red_with_pipes(
    rules: &str,
    default: DefaultPolicy,
    pipes: ::shaper::ShaperConfig,
) -> Router {
    red_with_spec(
        rules,
        default,
        Some(Arc::new(crate::shaping::ShaperSpec(pipes))),
    )
}

fn red_with_spec(
    rules: &str,
    default: DefaultPolicy,
    shaper: Option<Arc<crate::shaping::ShaperSpec>>,
) -> Router {
    let mut red = tenant(1, "red", 10, RED2, RED2_MAC);
    red.shaper = shaper;
    red.static_neighbors = vec![
        (v4(RED1_SRV).into(), RED2_HOST),
        (v4("10.0.1.10").into(), RED1_HOST),
    ];
    red.firewall = FirewallSpec {
        default,
        rules: rules.into(),
        max_states: None,
    };
    let mut blue = tenant(2, "blue", 20, BLUE2, BLUE2_MAC);
    blue.static_neighbors = red.static_neighbors.clone();
    Router::with(&[red, blue])
}

pub(super) fn l4_packet(
    src: &str,
    dst: &str,
    proto: u8,
    sport: u16,
    dport: u16,
    tcp_flags: u8,
) -> Vec<u8> {
    let l4len = if proto == IpProtocol::TCP { 20 } else { 8 };
    let mut b = vec![0u8; 20 + l4len];
    ipv4::emit_header(&mut b, v4(src), v4(dst), proto, 64, l4len);
    b[20..22].copy_from_slice(&sport.to_be_bytes());
    b[22..24].copy_from_slice(&dport.to_be_bytes());
    if proto == IpProtocol::TCP {
        b[24..28].copy_from_slice(&7000u32.to_be_bytes());
        b[32] = 5 << 4;
        b[33] = tcp_flags;
    } else {
        b[24..26].copy_from_slice(&8u16.to_be_bytes());
    }
    b
}

fn from_lan2(port_mac: [u8; 6], host: [u8; 6], l3: &[u8]) -> VecFrame {
    eth(port_mac, host, None, EtherType::IPV4, l3)
}

#[test]
fn deny_telnet_passes_ssh_and_counts_the_rule() {
    let mut r = red_with("add 100 deny tcp from any to any 23", DefaultPolicy::Allow);
    let telnet = l4_packet("10.0.1.10", RED1_SRV, IpProtocol::TCP, 40000, 23, 0x02);
    assert!(r.rx(TRUNK, from_lan1(10, RED1_HOST, &telnet)).is_empty());
    assert_eq!(r.dropped("red", DropReason::FirewallDeny), 1);
    let ssh = l4_packet("10.0.1.10", RED1_SRV, IpProtocol::TCP, 40000, 22, 0x02);
    let out = r.rx(TRUNK, from_lan1(10, RED1_HOST, &ssh));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, parse(&out[0].1).1), (RED2, RED2_HOST));
    let fw = r.vnet("red").fwd.firewall.clone().unwrap();
    let stats: Vec<(u16, u64)> = fw
        .rules
        .stats()
        .map(|s| (s.number, s.counters.packets))
        .collect();
    // The ssh packet is counted by the default rule twice: "in" and "out".
    assert_eq!(stats, [(100, 1), (65535, 2)]);
    // Blue has the same addresses and no firewall: its telnet goes through.
    assert!(r.vnet("blue").fwd.firewall.is_none());
    let out = r.rx(TRUNK, from_lan1(20, BLUE1_HOST, &telnet));
    assert_eq!(out.len(), 1, "red's rule touched blue");
    assert_eq!(r.dropped("blue", DropReason::FirewallDeny), 0);
}

/// A frame routed to a resolved gateway takes the fast path (`route::finish`
/// reads the gateway's egress entry, not the next hop); its "out" pass must
/// still see the interface it leaves by.
#[test]
fn the_out_pass_of_a_resolved_gateway_sees_its_egress_interface() {
    let routed = l4_packet("10.0.1.10", "192.168.7.7", IpProtocol::UDP, 5353, 53, 0);
    for (rules, passes) in [
        ("add 100 deny ip from any to any out xmit lan2", false),
        ("add 100 deny ip from any to any out xmit lan1", true),
        ("add 100 deny ip from any to any in recv lan2", true),
    ] {
        let mut red = tenant(1, "red", 10, RED2, RED2_MAC);
        // The route 192.168.0.0/16 goes via 10.0.2.10 on lan2, known here.
        red.static_neighbors = vec![(v4("10.0.2.10").into(), RED2_HOST)];
        red.firewall = FirewallSpec {
            default: DefaultPolicy::Allow,
            rules: rules.into(),
            max_states: None,
        };
        let mut r = Router::with(&[red]);
        let red = r.vnet("red");
        let gw = (red.fwd.nexthops.iter())
            .position(|n| matches!(n, NextHop::Gateway { .. }))
            .unwrap();
        assert_eq!(red.gateway_mac(gw as u32), Some(RED2_HOST), "resolved");
        let out = r.rx(TRUNK, from_lan1(10, RED1_HOST, &routed));
        assert_eq!(out.len(), usize::from(passes), "{rules}");
        if passes {
            assert_eq!((out[0].0, parse(&out[0].1).1), (RED2, RED2_HOST), "{rules}");
        } else {
            assert_eq!(r.dropped("red", DropReason::FirewallDeny), 1, "{rules}");
        }
    }
}

/// A rule set that decides alike on both passes (no rule reads the
/// direction, interfaces, TTL or tags; every rule ends the walk) skips the
/// "out" walk: the "in" pass's rule counts the packet again, as the walk
/// would. One whose rules read the direction walks both passes.
#[test]
fn the_out_pass_replays_the_in_pass_only_when_it_must_agree() {
    let ssh = l4_packet("10.0.1.10", RED1_SRV, IpProtocol::TCP, 40000, 22, 0x02);
    let mut r = red_with(
        "add 100 allow tcp from any to any 22\nadd 200 deny tcp from 10.0.1.0/24 to any",
        DefaultPolicy::Deny,
    );
    assert!(replays_out_pass(&r));
    for _ in 0..3 {
        assert_eq!(r.rx(TRUNK, from_lan1(10, RED1_HOST, &ssh)).len(), 1);
    }
    let n = ssh.len() as u64;
    assert_eq!(
        fw_figures(&r).0,
        [(100, 6, 6 * n), (200, 0, 0), (65535, 0, 0)]
    );
    let mut r = red_with(
        "add 50 deny tcp from any to any 22 out\nadd 100 allow tcp from any to any 22",
        DefaultPolicy::Deny,
    );
    assert!(!replays_out_pass(&r));
    assert!(r.rx(TRUNK, from_lan1(10, RED1_HOST, &ssh)).is_empty());
    assert_eq!(fw_figures(&r).0, [(50, 1, n), (100, 1, n), (65535, 0, 0)]);
    assert_eq!(fw_figures(&r).1, [1, 0]);
}

#[test]
fn reject_answers_with_icmp_and_reset_with_rst() {
    let mut r = red_with(
        "add 100 reject tcp from any to any 23\nadd 200 reset tcp from any to any 25",
        DefaultPolicy::Allow,
    );
    let telnet = l4_packet("10.0.1.10", RED1_SRV, IpProtocol::TCP, 40000, 23, 0x02);
    let out = r.rx(TRUNK, from_lan1(10, RED1_HOST, &telnet));
    assert_eq!(out.len(), 1);
    let (vlan, dst, _, et, l3) = parse(&out[0].1);
    assert_eq!(
        (out[0].0, vlan, dst, et),
        (TRUNK, Some(10), RED1_HOST, EtherType::IPV4)
    );
    let ip = Ipv4Packet::new_checked(&l3[..]).unwrap();
    assert_eq!(
        (ip.protocol(), ip.dst_addr()),
        (IpProtocol::ICMP, v4("10.0.1.10"))
    );
    assert_eq!(
        (ip.payload()[0], ip.payload()[1]),
        (icmpv4::DEST_UNREACHABLE, 1)
    );

    let smtp = l4_packet("10.0.1.10", RED1_SRV, IpProtocol::TCP, 40001, 25, 0x02);
    let out = r.rx(TRUNK, from_lan1(10, RED1_HOST, &smtp));
    assert_eq!(out.len(), 1);
    let (_, dst, _, _, l3) = parse(&out[0].1);
    assert_eq!(dst, RED1_HOST);
    let ip = Ipv4Packet::new_checked(&l3[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.protocol(), ip.src_addr(), ip.dst_addr()),
        (IpProtocol::TCP, v4(RED1_SRV), v4("10.0.1.10"))
    );
    let tcp = ip.payload();
    assert_eq!(u16::from_be_bytes([tcp[0], tcp[1]]), 25);
    assert_eq!(u16::from_be_bytes([tcp[2], tcp[3]]), 40001);
    assert_eq!(tcp[13], 0x04 | 0x10, "RST+ACK");
    assert_eq!(
        u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]),
        7001,
        "acknowledges the SYN"
    );
    assert_eq!(r.dropped("red", DropReason::FirewallReject), 2);
}

#[test]
fn keep_state_lets_replies_in_and_unsolicited_traffic_not() {
    let mut r = red_with(
        "add 100 check-state\nadd 200 allow udp from 10.0.1.0/24 to any keep-state\nadd 300 allow icmp from any to me",
        DefaultPolicy::Deny,
    );
    // Unsolicited from the server side: default deny.
    let unsolicited = l4_packet(RED1_SRV, "10.0.1.10", IpProtocol::UDP, 53, 5353, 0);
    assert!(r
        .rx(RED2, from_lan2(RED2_MAC, RED2_HOST, &unsolicited))
        .is_empty());
    assert_eq!(r.dropped("red", DropReason::FirewallDeny), 1);
    // A query from the LAN goes out (in and out passes) and creates a state...
    let q = l4_packet("10.0.1.10", RED1_SRV, IpProtocol::UDP, 5353, 53, 0);
    assert_eq!(r.rx(TRUNK, from_lan1(10, RED1_HOST, &q)).len(), 1);
    // ... which lets the reply back.
    let out = r.rx(RED2, from_lan2(RED2_MAC, RED2_HOST, &unsolicited));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, parse(&out[0].1).0), (TRUNK, Some(10)));
    // After the UDP lifetime (5 s) and the sweep, the reply is unsolicited again.
    r.advance(7);
    let fw = r.vnet("red").fwd.firewall.clone().unwrap();
    fw.states.expire(crate::firewall::now_ms(r.now, HZ));
    assert!(r
        .rx(RED2, from_lan2(RED2_MAC, RED2_HOST, &unsolicited))
        .is_empty());
    // Local traffic: ping the router (allowed in by rule 300; the reply's out
    // pass finds the state the request made? no: icmp has no keep-state here,
    // so the reply needs a rule too and the default denies it).
    let ping = echo4("10.0.1.10", "10.0.1.1", 64, b"x");
    assert!(
        r.rx(TRUNK, from_lan1(10, RED1_HOST, &ping)).is_empty(),
        "reply denied on the way out"
    );
}

#[test]
fn local_traffic_is_filtered_both_ways() {
    let mut r = red_with(
        "add 100 allow icmp from any to me in\nadd 200 allow icmp from me to any out",
        DefaultPolicy::Deny,
    );
    let ping = echo4("10.0.1.10", "10.0.1.1", 64, b"x");
    assert_eq!(r.rx(TRUNK, from_lan1(10, RED1_HOST, &ping)).len(), 1);
    let mut r = red_with("add 100 deny icmp from any to me", DefaultPolicy::Allow);
    assert!(r.rx(TRUNK, from_lan1(10, RED1_HOST, &ping)).is_empty());
    assert_eq!(
        r.rx(TRUNK, from_lan1(20, BLUE1_HOST, &ping)).len(),
        1,
        "blue answers"
    );
}

#[test]
fn rules_name_interfaces_and_unknown_ones_are_refused() {
    let mut r = red_with(
        "add 100 deny ip from any to any in recv lan2",
        DefaultPolicy::Allow,
    );
    let q = l4_packet("10.0.1.10", RED1_SRV, IpProtocol::UDP, 5353, 53, 0);
    assert_eq!(
        r.rx(TRUNK, from_lan1(10, RED1_HOST, &q)).len(),
        1,
        "in on lan1: allowed"
    );
    let back = l4_packet(RED1_SRV, "10.0.1.10", IpProtocol::UDP, 53, 5353, 0);
    assert!(
        r.rx(RED2, from_lan2(RED2_MAC, RED2_HOST, &back)).is_empty(),
        "in on lan2: denied"
    );
    let mut bad = tenant(1, "red", 10, RED2, RED2_MAC);
    bad.firewall.rules = "add 100 deny ip from any to any via em0".into();
    let e = build_vnet(&bad, 1, None, None).err().unwrap();
    assert!(
        e.0.contains("1:37: unknown interface \"em0\" (this vnet has: lan1, lan2)"),
        "{e}"
    );
    // pipe/queue actions reach the shaper (see tests/shaper.rs).
    bad.firewall.rules = "add 100 pipe 1 ip from any to any".into();
    assert!(build_vnet(&bad, 1, None, None).is_ok());
}

#[test]
fn an_edit_keeps_the_states_and_counters_of_unchanged_rules() {
    use crate::firewall::build;
    let r = red_with(
        "add 100 check-state\nadd 200 allow udp from 10.0.1.0/24 to any keep-state",
        DefaultPolicy::Deny,
    );
    let red = r.vnet("red");
    let old = red.fwd.firewall.clone().unwrap();
    let mut p = ::firewall::PacketMeta::v4(v4("10.0.1.10"), v4(RED1_SRV), 17).with_ports(5353, 53);
    let ctx = ::firewall::Ctx {
        states: &old.states,
        now_ms: 1000,
        worker: 0,
    };
    assert_eq!(old.rules.evaluate(&mut p, &ctx).rule, 200);
    assert_eq!(old.states.len(), 1);
    let edited = FirewallSpec {
        default: DefaultPolicy::Deny,
        rules: format!("{}\nadd 300 deny tcp from any to any 23", old.spec.rules),
        max_states: None,
    };
    let new = build(&edited, &red.fwd.interfaces, 1, Some(&old))
        .unwrap()
        .unwrap();
    assert!(Arc::ptr_eq(&new.states, &old.states));
    assert_eq!(new.states.len(), 1, "rule 200's state kept");
    let counted: Vec<(u16, u64)> = new
        .rules
        .stats()
        .map(|s| (s.number, s.counters.packets))
        .collect();
    assert_eq!(counted, [(100, 0), (200, 1), (300, 0), (65535, 0)]);
    // Deleting rule 200 deletes its states.
    let without = FirewallSpec {
        default: DefaultPolicy::Deny,
        rules: "add 100 check-state\nadd 300 deny tcp from any to any 23".into(),
        max_states: None,
    };
    let newer = build(&without, &red.fwd.interfaces, 1, Some(&new))
        .unwrap()
        .unwrap();
    assert_eq!(newer.states.len(), 0);
}

#[test]
fn stateless_rule_sets_get_a_token_state_table() {
    use crate::firewall::build;
    let r = red_with("add 100 deny tcp from any to any 23", DefaultPolicy::Allow);
    let red = r.vnet("red");
    let fw = red.fwd.firewall.clone().unwrap();
    assert!(
        fw.states.memory_bytes() < 4096,
        "{} bytes",
        fw.states.memory_bytes()
    );
    // Adding a keep-state rule brings a full table.
    let spec = FirewallSpec {
        default: DefaultPolicy::Allow,
        rules: "add 100 deny tcp from any to any 23\nadd 200 allow udp from any to any keep-state"
            .into(),
        max_states: None,
    };
    let new = build(&spec, &red.fwd.interfaces, 1, Some(&fw))
        .unwrap()
        .unwrap();
    assert_eq!(
        new.states.capacity(),
        ::firewall::StateConfig::default().max_states
    );
    // max_states sizes it; changing it takes a fresh table.
    let bigger = FirewallSpec {
        max_states: Some(65_536),
        ..spec.clone()
    };
    let big = build(&bigger, &red.fwd.interfaces, 1, Some(&new))
        .unwrap()
        .unwrap();
    assert_eq!(big.states.capacity(), 65_536);
    let smaller = FirewallSpec {
        max_states: Some(16),
        ..spec
    };
    let small = build(&smaller, &red.fwd.interfaces, 1, Some(&big))
        .unwrap()
        .unwrap();
    assert_eq!(small.states.capacity(), 16);
}

/// The batched passes of a burst (`classify_batch` over the frames of a vnet,
/// "in" then "out") give what the same frames one at a time give: the same
/// frames out (in any order: a reject's answer may leave before an earlier
/// frame), the same rule counters and drops, states made by one frame found by
/// a later one of the same burst, and "in" tags seen by the "out" pass.
#[test]
fn a_burst_is_filtered_as_its_frames_one_by_one() {
    let rules = "add 10 count ip from any to any\n\
        add 20 check-state\n\
        add 30 skipto 100 udp from any to any 1000-2000\n\
        add 40 deny tcp from any to any 23\n\
        add 50 reject tcp from any to any 24\n\
        add 55 reset tcp from any to any 25\n\
        add 60 allow tcp from any to any 22 keep-state\n\
        add 70 count tag 5 tcp from any to any 80 in\n\
        add 80 allow tcp from any to any tagged 5 out\n\
        add 90 allow tcp from any to any in\n\
        add 95 allow icmp from any to any\n\
        add 100 setdscp 10 udp from any to any\n\
        add 110 deny udp from any to any 1500 in\n\
        add 120 count tag 7 udp from any to any in\n\
        add 130 allow udp from any to any in\n\
        add 140 allow udp from any to any tagged 7 out\n\
        add 150 deny ip from any to any";
    let mut frames = Vec::new();
    for k in 0..40u16 {
        let (proto, dport) = match k % 10 {
            0 => (IpProtocol::TCP, 22),
            1 => (IpProtocol::TCP, 23),
            2 => (IpProtocol::TCP, 24),
            3 => (IpProtocol::TCP, 25),
            4 => (IpProtocol::TCP, 80),
            5 => (IpProtocol::TCP, 443),
            6 => (IpProtocol::UDP, 1500),
            7 => (IpProtocol::UDP, 1200),
            8 => (IpProtocol::UDP, 53),
            _ => (IpProtocol::TCP, 22),
        };
        // Few source ports: later frames of a flow find the state an earlier made.
        let p = l4_packet("10.0.1.10", RED1_SRV, proto, 40000 + k % 3, dport, 0x02);
        frames.push(from_lan1(10, RED1_HOST, &p));
    }
    frames.push(from_lan1(
        10,
        RED1_HOST,
        &echo4("10.0.1.10", "10.0.1.1", 64, b"x"),
    ));
    let one_by_one = {
        let mut r = red_with(rules, DefaultPolicy::Deny);
        let mut sent: Vec<_> = frames.iter().flat_map(|f| r.rx(TRUNK, f.clone())).collect();
        sent.sort();
        (sent, fw_figures(&r))
    };
    let mut r = red_with(rules, DefaultPolicy::Deny);
    let mut sent = r.rx_burst(TRUNK, frames);
    sent.sort();
    assert!(!sent.is_empty());
    assert_eq!(sent, one_by_one.0);
    assert_eq!(fw_figures(&r), one_by_one.1);
    // And what ipfw says, worked out by hand: 29 frames out (8 ssh, 4 tagged
    // http, 8 udp; the echo reply; 4 ICMP errors and 4 resets); the tags of
    // the "in" pass decide rules 80 and 140 on the way out; 3 ssh flows, each a
    // state that its later frames (and their "out" passes) match, counted on 60.
    assert_eq!(sent.len(), 29);
    let counts: Vec<(u16, u64)> = fw_figures(&r).0.iter().map(|&(n, p, _)| (n, p)).collect();
    assert_eq!(
        counts,
        [
            (10, 66),
            (20, 0),
            (30, 12),
            (40, 4),
            (50, 4),
            (55, 4),
            (60, 16),
            (70, 4),
            (80, 4),
            (90, 8),
            (95, 2),
            (100, 20),
            (110, 4),
            (120, 8),
            (130, 8),
            (140, 8),
            (150, 4),
            (65535, 0)
        ]
    );
    assert_eq!((fw_figures(&r).1, fw_figures(&r).2), ([12, 8], 3));
}

/// Red's rule counters (number, packets, bytes) and firewall drops.
/// Whether red's rule set lets the "out" pass replay the "in" pass's rule.
fn replays_out_pass(r: &Router) -> bool {
    let red = r.vnet("red");
    let fw = red.fwd.firewall.as_ref().unwrap();
    fw.rules.same_both_passes()
}

fn fw_figures(r: &Router) -> (Vec<(u16, u64, u64)>, [u64; 2], usize) {
    let fw = r.vnet("red").fwd.firewall.clone().unwrap();
    let rules = fw
        .rules
        .stats()
        .map(|s| (s.number, s.counters.packets, s.counters.bytes))
        .collect();
    let drops = [
        r.dropped("red", DropReason::FirewallDeny),
        r.dropped("red", DropReason::FirewallReject),
    ];
    (rules, drops, fw.states.len())
}
