//! The express lane (`pipeline::express`) against the general path: the same
//! bursts through two routers, one with the lane turned off, give the same
//! frames out and the same counters, over random bursts of every kind of frame
//! the lane must decline or take.
use super::*;
use crate::pipeline::express::{OFF, TAKEN, TAKEN_MANY, TAKEN_SIX};

/// splitmix64: the test's own deterministic stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Where a frame of a burst comes from: its port, and on the trunk its VLAN.
#[derive(Clone, Copy)]
enum From {
    Trunk(u16),
    TrunkUntagged,
    /// On the trunk, the tag stripped into metadata by the NIC.
    TrunkStripped(u16),
    /// An 802.1Q tag with VID 0: untagged, by 802.1Q.
    TrunkPriority,
    /// A priority tag in the frame, the VLAN's tag stripped by the NIC.
    TrunkPriorityStripped(u16),
    Red2,
    /// On red's untagged port, with a priority tag.
    Red2Priority,
    Blue2,
}

impl From {
    fn port(self) -> PortId {
        match self {
            From::Red2 | From::Red2Priority => RED2,
            From::Blue2 => BLUE2,
            _ => TRUNK,
        }
    }
}

/// One random frame from `from`: mostly IPv4 forwarded to a gateway, the rest
/// everything the lane declines (other MACs, TTL 0/1, options, bad or
/// NIC-judged checksums, padding, truncation, multicast, the router's own and
/// connected or unrouted destinations, ARP, IPv6).
fn random_frame(rng: &mut Rng, from: From) -> VecFrame {
    let (port_mac, host) = match from {
        From::Red2 | From::Red2Priority => (RED2_MAC, RED2_HOST),
        From::Blue2 => (BLUE2_MAC, BLUE2_HOST),
        _ => (TRUNK_MAC, RED1_HOST),
    };
    let dst_mac = match rng.below(10) {
        0 => [0xff; 6],
        1 => [2, 0, 0, 0, 0, 9],
        _ => port_mac,
    };
    let l3 = match rng.below(20) {
        0 => arp_request(host, "10.0.1.10", "10.0.1.1"),
        1 => echo6("fd00:1::10", "fd00:2::10", 64, b"six"),
        2..=4 => udp6(rng),
        _ => {
            let dst = match rng.below(12) {
                0 => "10.0.2.10".to_string(),
                1 => "10.0.1.1".to_string(),
                2 => "172.16.0.1".to_string(),
                3 => "224.0.0.5".to_string(),
                4 => "255.255.255.255".to_string(),
                5 | 6 => format!("172.31.{}.{}", rng.below(256), rng.below(256)),
                _ => format!("192.168.{}.{}", rng.below(256), rng.below(256)),
            };
            let ttl = rng.pick(&[0, 1, 2, 64, 64, 64]);
            let payload = vec![rng.below(256) as u8; rng.below(40) as usize];
            let mut b = echo4("10.0.1.10", &dst, ttl, &payload);
            match rng.below(16) {
                0 => b[10] ^= 0x40, // bad checksum
                1 => b[0] = 0x65,   // version 6 in an IPv4 frame
                2 => {
                    // A header with options (a 4-byte NOP option), checksum fixed.
                    b.splice(20..20, [1, 1, 1, 1]);
                    b[0] = 0x46;
                    let total = (b.len() as u16).to_be_bytes();
                    b[2..4].copy_from_slice(&total);
                    b[10..12].copy_from_slice(&[0, 0]);
                    let c = checksum::checksum(&b[..24]);
                    b[10..12].copy_from_slice(&c.to_be_bytes());
                }
                3 => b.extend_from_slice(&[0xee; 7]), // Ethernet padding
                4 => b.truncate(b.len() - 2),         // shorter than its total length
                _ => {}
            }
            b
        }
    };
    let ethertype = match l3.first() {
        Some(0x60) if l3.len() >= 40 => EtherType::IPV6,
        _ if l3.len() == 28 && l3[7] == 1 => EtherType::ARP,
        _ => EtherType::IPV4,
    };
    let mut f = match from {
        From::Trunk(vlan) => eth(dst_mac, host, Some(vlan), ethertype, &l3),
        From::TrunkPriority | From::Red2Priority => {
            let mut f = eth(dst_mac, host, Some(1), ethertype, &l3);
            f.data_mut()[14..16].copy_from_slice(&[0, 0]);
            f
        }
        From::TrunkPriorityStripped(vlan) => {
            let mut f = eth(dst_mac, host, Some(1), ethertype, &l3);
            f.data_mut()[14..16].copy_from_slice(&[0, 0]);
            f.vlan_meta = Some(vlan);
            f
        }
        From::TrunkStripped(vlan) => {
            let mut f = eth(dst_mac, host, None, ethertype, &l3);
            f.vlan_meta = Some(vlan);
            f
        }
        _ => eth(dst_mac, host, None, ethertype, &l3),
    };
    f.ipv4_checksum = match rng.below(8) {
        0 => RxChecksum::Good,
        1 => RxChecksum::Bad,
        _ => RxChecksum::Unknown,
    };
    f
}

/// A random UDP/IPv6 packet: mostly to the gateway route (2001:db8::/32), the
/// rest to what the lane declines (connected, the router's own, multicast,
/// link-local, unrouted addresses; a link-local source; hop limits 0 and 1; a
/// truncated payload; version 4 in the header).
fn udp6(rng: &mut Rng) -> Vec<u8> {
    let dst = match rng.below(12) {
        0 => "fd00:2::10".to_string(),
        1 => "fd00:1::1".to_string(),
        2 => "ff02::1".to_string(),
        3 => "fe80::1".to_string(),
        4 => "2002::1".to_string(),
        _ => format!(
            "2001:db8:{:x}::{:x}",
            rng.below(0x10000),
            rng.below(0x10000)
        ),
    };
    let src = if rng.below(16) == 0 {
        "fe80::10"
    } else {
        "fd00:1::10"
    };
    let hop_limit = rng.pick(&[0, 1, 2, 64, 64, 64]);
    let payload = 8 + rng.below(40) as usize;
    let mut b = vec![0u8; 40 + payload];
    ipv6::emit_header(
        &mut b,
        v6(src),
        v6(&dst),
        IpProtocol::UDP,
        hop_limit,
        payload,
    );
    match rng.below(16) {
        0 => b.truncate(b.len() - 3),
        1 => b[0] = 0x45,
        2 => b.extend_from_slice(&[0xee; 5]), // Ethernet padding
        _ => {}
    }
    b
}

/// A random burst of up to 40 frames (a burst over BURST_MAX goes in chunks):
/// mostly one tenant's, now and then another source slipped in.
fn random_burst(rng: &mut Rng) -> (PortId, Vec<VecFrame>) {
    let sources = [
        From::Trunk(10),
        From::Trunk(20),
        From::Trunk(30),
        From::TrunkUntagged,
        From::TrunkStripped(10),
        From::TrunkStripped(20),
        From::TrunkPriority,
        From::TrunkPriorityStripped(10),
    ];
    let main = match rng.below(7) {
        0 => From::Red2,
        1 => From::Blue2,
        2 => From::TrunkStripped(20),
        3 => From::Trunk(20),
        4 => From::TrunkPriorityStripped(10),
        _ => From::Trunk(10),
    };
    let n = 1 + rng.below(40) as usize;
    let frames = (0..n)
        .map(|_| {
            let from = match main.port() {
                TRUNK if rng.below(8) == 0 => rng.pick(&sources),
                RED2 if rng.below(4) == 0 => From::Red2Priority,
                _ => main,
            };
            random_frame(rng, from)
        })
        .collect();
    (main.port(), frames)
}

fn with_lane(on: bool, f: impl FnOnce()) {
    OFF.with(|o| o.set(!on));
    f();
    OFF.with(|o| o.set(false));
}

/// Runs 400 random bursts through two routers made by `router`, one with the
/// lane off, and compares what leaves them and their counters (and that the
/// IPv6 lane took its share); returns the frames the lane took (all, over
/// several tenants).
fn compare_with_general_path(seed: u64, router: impl Fn() -> Router) -> (u64, u64) {
    let mut rng = Rng(seed);
    // Both tenants also route 172.31/16 to a gateway on the trunk (tagged in,
    // tagged out; untagged in, tagged out), resolved here.
    let router = || {
        let mut r = router();
        for (vlan, host) in [(10, RED1_HOST), (20, BLUE1_HOST)] {
            let reply = arp_reply(host, "10.0.1.10", TRUNK_MAC, "10.0.1.1");
            r.rx(
                TRUNK,
                eth(TRUNK_MAC, host, Some(vlan), EtherType::ARP, &reply),
            );
        }
        r
    };
    let (mut fast, mut general) = (router(), router());
    TAKEN.with(|t| t.set(0));
    TAKEN_MANY.with(|t| t.set(0));
    TAKEN_SIX.with(|t| t.set(0));
    for round in 0..400 {
        let (port, frames) = random_burst(&mut rng);
        let mut a = Vec::new();
        let mut b = Vec::new();
        with_lane(true, || a = fast.rx_burst(port, frames.clone()));
        with_lane(false, || b = general.rx_burst(port, frames));
        // Both paths order frames by family and flow alike, but the lane
        // finishes its frames before the general path's: compare as sets.
        a.sort();
        b.sort();
        assert_eq!(a, b, "round {round}");
    }
    for vnet in ["red", "blue"] {
        assert_eq!(
            fast.vnet(vnet).fwd.counters.totals(),
            general.vnet(vnet).fwd.counters.totals(),
            "{vnet}"
        );
        if fast.vnet(vnet).firewall().is_some() {
            assert_eq!(
                rule_counts(&fast, vnet),
                rule_counts(&general, vnet),
                "{vnet}: firewall rule counters"
            );
        }
    }
    for port in [TRUNK, RED2, BLUE2] {
        let t = |r: &Router| {
            let tables = r.publisher.load();
            let p = tables.port(port).unwrap();
            (0..PortDropReason::COUNT)
                .map(|i| p.counters.worker(0).dropped[i].load(std::sync::atomic::Ordering::Relaxed))
                .collect::<Vec<_>>()
        };
        assert_eq!(t(&fast), t(&general), "{port:?}");
    }
    // The IPv6 lane takes tenants without a firewall.
    let six = TAKEN_SIX.with(|t| t.get());
    if ["red", "blue"].iter().any(|v| !fast.vnet(v).has_firewall()) {
        assert!(six > 100, "the lane took {six} IPv6 frames");
    }
    (TAKEN.with(|t| t.get()), TAKEN_MANY.with(|t| t.get()))
}

/// The router of the differential tests: `red` and `blue` with, besides
/// their own, a route to 2001:db8::/32 by the IPv6 gateway of their lan2 and
/// one to 172.31/16 by a gateway on the trunk (resolved by
/// `compare_with_general_path`).
fn lane_router(mut red: VnetSpec, mut blue: VnetSpec) -> Router {
    for t in [&mut red, &mut blue] {
        t.routes6.push((v6("2001:db8::"), 32, v6("fd00:2::10")));
        t.routes4.push((v4("172.31.0.0"), 16, v4("10.0.1.10")));
    }
    resolved(Router::with(&[red, blue]))
}

#[test]
fn the_express_lane_gives_what_the_general_path_gives() {
    // Red also has default routes, so that broadcast, multicast and the
    // unrouted destinations meet a gateway route there: the lane must decline
    // them by their address, not by their lookup.
    let (taken, many) = compare_with_general_path(7, || {
        let mut red = tenant(1, "red", 10, RED2, RED2_MAC);
        red.routes4.push((v4("0.0.0.0"), 0, v4("10.0.2.10")));
        red.routes6.push((v6("::"), 0, v6("fd00:2::10")));
        let blue = tenant(2, "blue", 20, BLUE2, BLUE2_MAC);
        lane_router(red, blue)
    });
    // The lane took a good share of the frames (most bursts are one tenant's,
    // mostly forwarded to a gateway), some in bursts over both tenants: the
    // comparison is not vacuous.
    assert!(taken > 800, "the lane took {taken} frames");
    assert!(
        many > 100,
        "the lane took {many} frames of bursts over several tenants"
    );
}

#[test]
fn the_express_lane_gives_what_the_general_path_gives_with_a_big_table() {
    // Blue's table is too big for the compact form (every /24 of 192.168/16,
    // alternately by the resolved gateway and by one that never answers):
    // bursts over both tenants look blue's frames up in its full table. Red's
    // is compact, but with several leaves (100 of those /24s).
    let alternate = |n: u32| {
        (0..n).map(|i| {
            let via = if i % 2 == 0 { "10.0.2.10" } else { "10.0.2.11" };
            (Ipv4Addr::from(0xc0a8_0000 + (i << 8)), 24, v4(via))
        })
    };
    let (taken, many) = compare_with_general_path(11, || {
        let mut red = tenant(1, "red", 10, RED2, RED2_MAC);
        red.routes4.extend(alternate(100));
        let mut blue = tenant(2, "blue", 20, BLUE2, BLUE2_MAC);
        blue.routes4.extend(alternate(256));
        let r = lane_router(red, blue);
        assert!(r.vnet("blue").compact4.is_none());
        let red = r.vnet("red");
        let c = red.compact4.as_ref().unwrap();
        assert_ne!(c.leaf(0xc0a8_0000), c.leaf(0xc0a8_6300), "one leaf");
        r
    });
    assert!(taken > 800, "the lane took {taken} frames");
    assert!(
        many > 100,
        "the lane took {many} frames of bursts over several tenants"
    );
}

#[test]
fn the_express_lane_gives_what_the_general_path_gives_through_a_firewall() {
    // Red has a firewall: counts, denies and rejects on the way in, denies on
    // the way out, a skipto, keep-state; blue has none.
    let rules = "\
        add 100 count ip from any to any\n\
        add 200 deny ip from any to 192.168.0.0/20 in\n\
        add 300 reject ip from any to 192.168.16.0/20 in\n\
        add 400 deny ip from any to 172.31.0.0/17 out\n\
        add 500 skipto 700 ip from any to 192.168.32.0/20\n\
        add 600 deny ip from any to 192.168.32.0/19\n\
        add 700 allow ip from any to 192.168.64.0/18 keep-state\n\
        add 800 allow ip from any to any\n";
    let (taken, _) = compare_with_general_path(13, || {
        let mut red = tenant(1, "red", 10, RED2, RED2_MAC);
        red.firewall = crate::firewall::FirewallSpec {
            default: ::firewall::DefaultPolicy::Deny,
            rules: rules.into(),
            max_states: None,
        };
        let blue = tenant(2, "blue", 20, BLUE2, BLUE2_MAC);
        lane_router(red, blue)
    });
    assert!(taken > 400, "the lane took {taken} frames");
}

fn firewall(rules: &str, default: ::firewall::DefaultPolicy) -> crate::firewall::FirewallSpec {
    crate::firewall::FirewallSpec {
        default,
        rules: rules.into(),
        max_states: None,
    }
}

/// Rule counters (number, packets, bytes) of a vnet's firewall.
fn rule_counts(r: &Router, vnet: &str) -> Vec<(u16, u64, u64)> {
    let v = r.vnet(vnet);
    let fw = v.firewall().expect("a firewall");
    fw.rules
        .stats()
        .map(|s| (s.number, s.counters.packets, s.counters.bytes))
        .collect()
}

/// Firewalls whose rule sets decide most frames from the head: the lane
/// forwards those without the passes (`filter::head4_express`, `Forwarded4::allow_each`) and counts their
/// rules per burst; the others take the passes. Frames, vnet counters and
/// rule counters as the general path's.
#[test]
fn the_express_lane_gives_what_the_general_path_gives_with_head_decided_firewalls() {
    use ::firewall::DefaultPolicy::{Allow, Deny};
    let acl = "add 100 deny ip from any to 192.168.7.0/24\n\
               add 200 count ip from any to 192.168.9.0/24\n\
               add 300 allow icmp from 10.0.1.0/24 to 192.168.0.0/17\n\
               add 400 deny icmp from any to 192.168.200.0/21\n\
               add 500 allow ip from 10.0.1.8/29 to 192.168.128.0/18";
    let sets = [
        // An ACL; every frame allowed (both passes fixed) under a default deny.
        (
            firewall(acl, Deny),
            firewall("add 100 allow ip from any to any", Deny),
        ),
        // States (no head decides); a rule on the direction before an ACL.
        (
            firewall("add 100 allow ip from any to any keep-state", Deny),
            firewall(
                &format!("add 50 deny icmp from any to 192.168.3.0/24 in\n{acl}"),
                Allow,
            ),
        ),
    ];
    for (set, (red_fw, blue_fw)) in sets.iter().enumerate() {
        let (taken, _) = compare_with_general_path(17 + set as u64, || {
            let mut red = tenant(1, "red", 10, RED2, RED2_MAC);
            red.routes4.push((v4("0.0.0.0"), 0, v4("10.0.2.10")));
            red.firewall = red_fw.clone();
            let mut blue = tenant(2, "blue", 20, BLUE2, BLUE2_MAC);
            blue.routes4.push((v4("0.0.0.0"), 0, v4("10.0.2.10")));
            blue.firewall = blue_fw.clone();
            resolved(Router::with(&[red, blue]))
        });
        assert!(taken > 300, "set {set}: the lane took {taken} frames");
    }
}

/// Eight pings to 192.168.0.x on the trunk: all red's, or red's and blue's
/// alternately.
fn pings(mixed: bool) -> Vec<VecFrame> {
    (0..8u8)
        .map(|i| {
            let ping = echo4("10.0.1.10", &format!("192.168.0.{i}"), 64, b"x");
            let (vlan, host) = if mixed && i % 2 == 1 {
                (20, BLUE1_HOST)
            } else {
                (10, RED1_HOST)
            };
            eth(TRUNK_MAC, host, Some(vlan), EtherType::IPV4, &ping)
        })
        .collect()
}

fn taken_since_reset() -> u64 {
    TAKEN.with(|t| t.replace(0))
}

#[test]
fn a_tenant_with_a_running_capture_is_not_expressed() {
    let mut r = resolved_router();
    taken_since_reset();
    for mixed in [false, true] {
        assert_eq!(r.rx_burst(TRUNK, pings(mixed)).len(), 8);
        assert_eq!(taken_since_reset(), 8);
    }
    // A capture on red: each of its frames is recorded, in and out.
    let tap = r.vnet("red").counters(0).tap.clone();
    let session = crate::capture::Session::new(1, 64, 128, None);
    tap.start(session.clone()).unwrap();
    for (mixed, red_frames) in [(false, 8), (true, 4)] {
        assert_eq!(r.rx_burst(TRUNK, pings(mixed)).len(), 8);
        assert_eq!(session.drain(|_| {}), 2 * red_frames, "mixed {mixed}");
    }
    tap.stop(&session);
}

#[test]
fn a_tenant_with_a_firewall_gets_its_passes_in_the_lane() {
    // Red denies what the lane would forward; blue has no firewall.
    let mut red = tenant(1, "red", 10, RED2, RED2_MAC);
    red.firewall = crate::firewall::FirewallSpec {
        default: ::firewall::DefaultPolicy::Allow,
        rules: "add 100 deny ip from any to 192.168.0.0/16 in".into(),
        max_states: None,
    };
    let mut r = resolved(Router::with(&[
        red,
        tenant(2, "blue", 20, BLUE2, BLUE2_MAC),
    ]));
    taken_since_reset();
    // A burst of red alone: taken by the lane, denied by the "in" pass,
    // counted as received and dropped by the firewall.
    let before = r.vnet("red").fwd.counters.totals();
    assert!(r.rx_burst(TRUNK, pings(false)).is_empty());
    assert_eq!(taken_since_reset(), 8);
    let t = r.vnet("red").fwd.counters.totals();
    assert_eq!(t.rx_packets - before.rx_packets, 8);
    assert_eq!(t.forwarded, before.forwarded);
    let dropped = |t: &crate::stats::VnetTotals| t.dropped.iter().sum::<u64>();
    assert_eq!(dropped(&t) - dropped(&before), 8);
    // Over both tenants: blue's frames go the lane, red's the general path
    // (a burst over many tenants takes no firewall's), and are denied.
    let out = r.rx_burst(TRUNK, pings(true));
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|(p, _)| *p == BLUE2));
    assert_eq!(taken_since_reset(), 4);
    assert_eq!(
        r.vnet("red").fwd.counters.totals().rx_packets - before.rx_packets,
        12
    );
}
