//! Many tenants in one burst: what a frame reads of its tenant comes from the
//! `Vnet`'s first line (the compact table's 16-bit root, the first gateway's
//! egress entry) and its demux slot (the counters), and every frame is routed and
//! counted as it is alone.
use super::*;

/// Red with 100 more routes, one /24 in each of 100 /16s over the whole space
/// (both halves), like a tenant of the benchmark's scenario 4 (~210 intervals
/// with its interfaces' connected and local routes): a compact table of many
/// leaves whose root is in the `Vnet`.
fn spread_red() -> VnetSpec {
    let mut red = tenant(1, "red", 10, RED2, RED2_MAC);
    red.routes4.extend((0..100u32).map(|i| {
        (
            Ipv4Addr::from((i * 0x028f_0000) ^ 0x0017_4200),
            24,
            v4("10.0.2.10"),
        )
    }));
    red
}

/// A frame of each spread route's /24 (and one just past it, which has no
/// route), alternating red and blue so that the burst takes the many-tenant
/// path: the burst's answers and counters are those of the frames one by one.
#[test]
fn a_spread_burst_finds_leaves_from_the_root_in_the_vnet_line() {
    let (red, blue) = (spread_red(), tenant(2, "blue", 20, BLUE2, BLUE2_MAC));
    let router = || {
        let mut r = Router::with(&[red.clone(), blue.clone()]);
        for (port2, mac2, h2) in [(RED2, RED2_MAC, RED2_HOST), (BLUE2, BLUE2_MAC, BLUE2_HOST)] {
            let reply = arp_reply(h2, "10.0.2.10", mac2, "10.0.2.1");
            r.rx(port2, eth(mac2, h2, None, EtherType::ARP, &reply));
        }
        r
    };
    let one = router();
    let v = one.vnet("red");
    let c = v.compact4.as_ref().expect("a compact table");
    assert!(c.root16().is_some(), "leaves cut at /16s");
    assert!(
        v.compact_root_line().is_none(),
        "the root is read from the Vnet line, not the table's"
    );
    // Every key's leaf through the Vnet answers as the table does.
    for &(p, _, _) in &red.routes4 {
        for k in [
            u32::from(p),
            u32::from(p) + 0x1ff,
            u32::from(p).wrapping_sub(1),
        ] {
            let leaf = v.compact_leaf(k).unwrap();
            assert_eq!(c.lookup_leaf(leaf, k), v.fwd.fib4.lookup_u32(k), "{k:#x}");
        }
    }
    assert!(one.vnet("blue").compact_root_line().is_none());

    // (Not the ones in 224/3: multicast and reserved destinations are dropped.)
    let routes: Vec<u32> = (red.routes4[1..].iter().map(|r| u32::from(r.0)))
        .filter(|&r| r < 0xe000_0000)
        .collect();
    assert!(routes.len() > 70 && routes.iter().any(|&r| r > 0x8000_0000));
    let frames: Vec<_> = (0..routes.len() as u32 * 2)
        .flat_map(|i| {
            let r = routes[(i / 2) as usize];
            // Inside the route, or in the /24 after it (no route).
            let dst = Ipv4Addr::from(if i % 2 == 0 { r | 0x42 } else { r + 0x142 });
            let ping = echo4("10.0.1.10", &dst.to_string(), 64, &i.to_be_bytes());
            let to_blue = echo4("10.0.1.10", "192.168.7.7", 64, &i.to_be_bytes());
            [
                eth(TRUNK_MAC, RED1_HOST, Some(10), EtherType::IPV4, &ping),
                eth(TRUNK_MAC, BLUE1_HOST, Some(20), EtherType::IPV4, &to_blue),
            ]
        })
        .collect();
    let mut each = router();
    let mut alone: Vec<_> = frames
        .iter()
        .flat_map(|f| each.rx(TRUNK, f.clone()))
        .collect();
    let mut burst = router();
    let mut all: Vec<_> = frames
        .chunks(crate::dpdk::BURST_MAX)
        .flat_map(|b| burst.rx_burst(TRUNK, b.to_vec()))
        .collect();
    assert_eq!(
        alone.iter().filter(|(p, _)| *p == RED2).count(),
        routes.len()
    );
    alone.sort();
    all.sort();
    assert_eq!(all, alone);
    for r in [&each, &burst] {
        let (red, blue) = (
            r.vnet("red").fwd.counters.totals(),
            r.vnet("blue").fwd.counters.totals(),
        );
        // (And the gateway's ARP reply, in each vnet.)
        assert_eq!(red.rx_packets, 2 * routes.len() as u64 + 1);
        assert_eq!(red.forwarded, routes.len() as u64);
        assert_eq!(
            red.dropped[DropReason::NoRoute as usize],
            routes.len() as u64
        );
        assert_eq!(blue.rx_packets, 2 * routes.len() as u64 + 1);
        assert_eq!(blue.forwarded, 2 * routes.len() as u64);
        assert_eq!(blue.tx_packets, 2 * routes.len() as u64);
    }
}

/// The firewall is named in the `Vnet`'s second line, behind a flag in the
/// first: a vnet without one answers `None` from the first line alone, one with
/// rules finds them.
#[test]
fn the_firewall_is_behind_a_flag_in_the_first_line() {
    let r = Router::new();
    let v = r.vnet("red");
    assert!(!v.has_firewall() && v.firewall().is_none());
    let mut spec = tenant(1, "red", 10, RED2, RED2_MAC);
    spec.firewall.rules = "add 100 deny ip from any to any".into();
    let r = Router::with(&[spec]);
    let v = r.vnet("red");
    assert!(v.has_firewall());
    assert!(std::ptr::eq(
        v.firewall().unwrap(),
        &**v.fwd.firewall.as_ref().unwrap()
    ));
}
