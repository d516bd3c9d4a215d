//! The packet path end to end on byte fixtures: two tenants with the same
//! address plan, a VLAN trunk and untagged ports, exactly as the e2e demo.
use super::*;
use crate::dpdk::PortId;
use crate::frame::{RxChecksum, VecFrame};
use crate::neighbor_manager::NeighborManager;
use crate::stats::{DropReason, PortCounters, PortDropReason};
use crate::tables::{
    build_vnet, Demux, DemuxEntry, InterfaceSpec, PortEntry, TablePublisher, Tables, Vnet, VnetSpec,
};
use crate::wire::{
    self, checksum, icmpv4, icmpv6, ipv4, ipv6, EtherType, IpProtocol, Ipv4Packet, Ipv6Packet,
    MacAddr,
};
use crossbeam_queue::ArrayQueue;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

const HZ: u64 = 1_000_000;
const TRUNK: PortId = PortId(0);
const RED2: PortId = PortId(1);
const BLUE2: PortId = PortId(2);
const TRUNK_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const RED2_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const BLUE2_MAC: [u8; 6] = [2, 0, 0, 0, 0, 3];
const RED1_HOST: [u8; 6] = [2, 0xaa, 0, 0, 0, 1];
const RED2_HOST: [u8; 6] = [2, 0xaa, 0, 0, 0, 2];
const BLUE1_HOST: [u8; 6] = [2, 0xbb, 0, 0, 0, 1];
const BLUE2_HOST: [u8; 6] = [2, 0xbb, 0, 0, 0, 2];

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn tenant(id: u64, name: &str, vlan: u16, port2: PortId, mac2: [u8; 6]) -> VnetSpec {
    VnetSpec {
        id,
        name: name.into(),
        interfaces: vec![
            InterfaceSpec {
                name: "lan1".into(),
                port: TRUNK,
                vlan: Some(vlan),
                mac: TRUNK_MAC,
                addrs4: vec![(v4("10.0.1.1"), 24)],
                addrs6: vec![(v6("fd00:1::1"), 64)],
            },
            InterfaceSpec {
                name: "lan2".into(),
                port: port2,
                vlan: None,
                mac: mac2,
                addrs4: vec![(v4("10.0.2.1"), 24)],
                addrs6: vec![(v6("fd00:2::1"), 64)],
            },
        ],
        routes4: vec![(v4("192.168.0.0"), 16, v4("10.0.2.10"))],
        routes6: vec![],
        static_neighbors: vec![],
        shaper: None,
        firewall: Default::default(),
    }
}

mod express;
mod firewall;
mod shaper;
mod tenants;

struct Out {
    sent: Vec<(PortId, Vec<u8>)>,
    events: Arc<ArrayQueue<crate::tables::NeighborEvent>>,
    /// Packets the firewall sent to a pipe, for the Router's shaper.
    staged: Vec<crate::shaping::ShapeRequest<VecFrame>>,
}

impl Output<VecFrame> for Out {
    fn tx(&mut self, port: PortId, frame: VecFrame) {
        self.sent.push((port, frame.data().to_vec()));
    }
    fn alloc(&mut self) -> Option<VecFrame> {
        Some(VecFrame::empty())
    }
    fn learned(&mut self, ev: crate::tables::NeighborEvent) {
        self.events.push(ev).unwrap();
    }
    fn shape(&mut self, req: crate::shaping::ShapeRequest<VecFrame>) {
        self.staged.push(req);
    }
}

/// The router with tenants red (VLAN 10 + port RED2) and blue (VLAN 20 + port BLUE2),
/// driven by hand: frames in, frames out, the control thread's work done in between.
struct Router {
    publisher: TablePublisher,
    mgr: NeighborManager,
    out: Out,
    pending: Pending<VecFrame>,
    now: u64,
    shaper: crate::shaping::ShaperHost<VecFrame>,
}

impl Router {
    fn new() -> Self {
        Self::with(&[
            tenant(1, "red", 10, RED2, RED2_MAC),
            tenant(2, "blue", 20, BLUE2, BLUE2_MAC),
        ])
    }

    fn with(specs: &[VnetSpec]) -> Self {
        let mut demux = Demux::default();
        let mut vnets = Vec::new();
        for (vi, s) in specs.iter().enumerate() {
            let (fwd, neigh) = build_vnet(s, 1, None, None).unwrap();
            for (ii, i) in fwd.interfaces.iter().enumerate() {
                demux
                    .insert(
                        i.port,
                        i.vlan,
                        DemuxEntry::new(vi, ii),
                        i.mac,
                        &fwd.counters,
                    )
                    .unwrap();
            }
            vnets.push(Vnet::new(Arc::new(fwd), Arc::new(neigh)));
        }
        let ports = [
            (TRUNK, TRUNK_MAC, "trunk0"),
            (RED2, RED2_MAC, "red2"),
            (BLUE2, BLUE2_MAC, "blue2"),
        ]
        .into_iter()
        .map(|(id, mac, name)| {
            Some(PortEntry {
                name: name.into(),
                id,
                mac,
                counters: Arc::new(PortCounters::new(1)),
            })
        })
        .collect();
        let t = Tables {
            generation: 0,
            demux: Arc::new(demux),
            vnets,
            ports: Arc::new(ports),
        };
        let mgr = NeighborManager::new(&t);
        Router {
            publisher: TablePublisher::new(t),
            mgr,
            out: Out {
                sent: Vec::new(),
                events: Arc::new(ArrayQueue::new(64)),
                staged: Vec::new(),
            },
            pending: Pending::new(8),
            now: HZ,
            shaper: crate::shaping::ShaperHost::new(0, 1, HZ),
        }
    }

    /// One frame in; what left the router (after the control thread folded in what was learned).
    fn rx(&mut self, port: PortId, frame: VecFrame) -> Vec<(PortId, Vec<u8>)> {
        let t = self.publisher.load();
        let ctx = PathCtx {
            tables: &t,
            worker: 0,
            now: self.now,
            hz: HZ,
            now_ms: crate::firewall::now_ms(self.now, HZ),
        };
        handle(&ctx, &mut self.pending, &mut self.out, port, frame);
        self.control();
        std::mem::take(&mut self.out.sent)
    }

    /// Frames in as one burst (stage by stage); what left the router.
    fn rx_burst(&mut self, port: PortId, frames: Vec<VecFrame>) -> Vec<(PortId, Vec<u8>)> {
        let t = self.publisher.load();
        let ctx = PathCtx {
            tables: &t,
            worker: 0,
            now: self.now,
            hz: HZ,
            now_ms: crate::firewall::now_ms(self.now, HZ),
        };
        let mut slots: Vec<Option<VecFrame>> = frames.into_iter().map(Some).collect();
        handle_burst(&ctx, &mut self.pending, &mut self.out, port, &mut slots);
        assert!(
            slots.iter().all(Option::is_none),
            "a frame was left in the burst"
        );
        self.control();
        std::mem::take(&mut self.out.sent)
    }

    fn control(&mut self) {
        self.mgr.drain(&self.out.events);
        self.mgr.publish(&self.publisher);
        let t = self.publisher.load();
        let ctx = PathCtx {
            tables: &t,
            worker: 0,
            now: self.now,
            hz: HZ,
            now_ms: crate::firewall::now_ms(self.now, HZ),
        };
        service_pending(&ctx, &mut self.pending, &mut self.out);
        // The worker's shaper stage: adopt the vnets' pipes, enqueue what the
        // firewall diverted, release what is due.
        use crate::shaping::stage;
        stage::sync(&mut self.shaper, &t, 0, self.now);
        let mut staged = std::mem::take(&mut self.out.staged);
        stage::dispatch(&mut self.shaper, &mut staged, &t, 0, 1, self.now, |_, r| {
            Some(r)
        });
        stage::service(&mut self.shaper, &ctx, &mut self.pending, &mut self.out);
        // What left a pipe and met another pipe rule goes in now, as in the worker.
        let mut staged = std::mem::take(&mut self.out.staged);
        stage::dispatch(&mut self.shaper, &mut staged, &t, 0, 1, self.now, |_, r| {
            Some(r)
        });
    }

    /// Moves the clock by `us` microseconds (HZ is 1 MHz) and runs what is due.
    fn advance_us(&mut self, us: u64) -> Vec<(PortId, Vec<u8>)> {
        self.now += us;
        self.control();
        std::mem::take(&mut self.out.sent)
    }

    fn advance(&mut self, secs: u64) -> Vec<(PortId, Vec<u8>)> {
        self.now += secs * HZ;
        self.control();
        std::mem::take(&mut self.out.sent)
    }

    fn vnet(&self, name: &str) -> Vnet {
        self.publisher
            .load()
            .vnets
            .iter()
            .find(|v| v.fwd.name == name)
            .unwrap()
            .clone()
    }

    fn dropped(&self, vnet: &str, r: DropReason) -> u64 {
        self.vnet(vnet).fwd.counters.totals().dropped[r as usize]
    }
}

fn eth(dst: [u8; 6], src: [u8; 6], vlan: Option<u16>, ethertype: u16, payload: &[u8]) -> VecFrame {
    let mut b = vec![0u8; 18 + payload.len()];
    let hl = wire::emit_ethernet(&mut b, MacAddr(dst), MacAddr(src), vlan, ethertype);
    b[hl..hl + payload.len()].copy_from_slice(payload);
    b.truncate(hl + payload.len());
    VecFrame::new(&b)
}

fn arp_request(sender_mac: [u8; 6], sender: &str, target: &str) -> Vec<u8> {
    let mut b = vec![0u8; 28];
    wire::arp::emit_request(&mut b, MacAddr(sender_mac), v4(sender), v4(target));
    b
}

fn arp_reply(sender_mac: [u8; 6], sender: &str, target_mac: [u8; 6], target: &str) -> Vec<u8> {
    let mut b = vec![0u8; 28];
    wire::arp::emit_reply(
        &mut b,
        MacAddr(sender_mac),
        v4(sender),
        MacAddr(target_mac),
        v4(target),
    );
    b
}

fn echo4(src: &str, dst: &str, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut icmp = vec![icmpv4::ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend_from_slice(payload);
    let c = checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut b = vec![0u8; 20 + icmp.len()];
    ipv4::emit_header(&mut b, v4(src), v4(dst), IpProtocol::ICMP, ttl, icmp.len());
    b[20..].copy_from_slice(&icmp);
    b
}

fn echo6(src: &str, dst: &str, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 40 + 8 + payload.len()];
    ipv6::emit_header(
        &mut b,
        v6(src),
        v6(dst),
        IpProtocol::ICMPV6,
        hop_limit,
        8 + payload.len(),
    );
    b[40] = icmpv6::ECHO_REQUEST;
    b[44..48].copy_from_slice(&[0x12, 0x34, 0, 1]);
    b[48..].copy_from_slice(payload);
    let mut icmp = wire::Icmpv6Packet::new_checked(&mut b[40..]).unwrap();
    icmp.fill_checksum(v6(src), v6(dst));
    b
}

/// An IPv4 packet from `host` on the trunk's VLAN `vlan` (red's lan1 is 10,
/// blue's 20), to the trunk port's MAC.
fn from_lan1(vlan: u16, host: [u8; 6], l3: &[u8]) -> VecFrame {
    eth(TRUNK_MAC, host, Some(vlan), EtherType::IPV4, l3)
}

fn ns(src: &str, src_mac: [u8; 6], target: &str) -> Vec<u8> {
    let mut b = vec![0u8; icmpv6::ND_PACKET_LEN];
    let n = icmpv6::emit_ns(&mut b, MacAddr(src_mac), v6(src), v6(target));
    b.truncate(n);
    b
}

fn na(src: &str, mac: [u8; 6], dst: &str) -> Vec<u8> {
    let mut b = vec![0u8; icmpv6::ND_PACKET_LEN];
    let n = icmpv6::emit_na(&mut b, v6(src), v6(dst), v6(src), MacAddr(mac), true);
    b.truncate(n);
    b
}

/// Parses a frame the router sent: (VLAN, dst MAC, src MAC, ethertype, L3 bytes).
fn parse(frame: &[u8]) -> (Option<u16>, [u8; 6], [u8; 6], u16, Vec<u8>) {
    let l2 = wire::parse_l2(frame).unwrap();
    let mut d = [0; 6];
    d.copy_from_slice(&frame[0..6]);
    let mut s = [0; 6];
    s.copy_from_slice(&frame[6..12]);
    (l2.vlan, d, s, l2.ethertype, frame[l2.l3_offset..].to_vec())
}

#[test]
fn arp_request_on_each_tenants_vlan_is_answered_in_that_vlan_and_learned_in_that_vnet() {
    let mut r = Router::new();
    for (vlan, host, vnet) in [(10, RED1_HOST, "red"), (20, BLUE1_HOST, "blue")] {
        let out = r.rx(
            TRUNK,
            eth(
                [0xff; 6],
                host,
                Some(vlan),
                EtherType::ARP,
                &arp_request(host, "10.0.1.10", "10.0.1.1"),
            ),
        );
        assert_eq!(out.len(), 1);
        let (tag, dst, src, et, l3) = parse(&out[0].1);
        assert_eq!(
            (out[0].0, tag, dst, src, et),
            (TRUNK, Some(vlan), host, TRUNK_MAC, EtherType::ARP)
        );
        let a = wire::ArpPacket::new_checked(&l3[..]).unwrap();
        assert_eq!(a.operation(), wire::ArpOperation::Reply);
        assert_eq!(
            (a.sender_mac().0, a.sender_ip(), a.target_mac().0),
            (TRUNK_MAC, v4("10.0.1.1"), host)
        );
        assert_eq!(
            r.vnet(vnet).neighbors.get4(v4("10.0.1.10")).unwrap().mac,
            host
        );
    }
    // Same address, two tenants, two different MACs: nothing was shared.
    assert_ne!(
        r.vnet("red").neighbors.get4(v4("10.0.1.10")).unwrap().mac,
        r.vnet("blue").neighbors.get4(v4("10.0.1.10")).unwrap().mac
    );
}

#[test]
fn a_tag_stripped_into_metadata_demuxes_like_a_tag_in_the_frame() {
    let mut r = Router::new();
    let mut f = eth(
        [0xff; 6],
        BLUE1_HOST,
        None,
        EtherType::ARP,
        &arp_request(BLUE1_HOST, "10.0.1.10", "10.0.1.1"),
    );
    f.vlan_meta = Some(20);
    let out = r.rx(TRUNK, f);
    assert_eq!(out.len(), 1);
    assert_eq!(parse(&out[0].1).0, Some(20));
    assert!(r.vnet("blue").neighbors.get4(v4("10.0.1.10")).is_some());
    assert!(r.vnet("red").neighbors.get4(v4("10.0.1.10")).is_none());
}

#[test]
fn unknown_vlan_and_runt_frames_are_dropped_and_counted_per_port() {
    let mut r = Router::new();
    assert!(r
        .rx(
            TRUNK,
            eth(
                [0xff; 6],
                RED1_HOST,
                Some(30),
                EtherType::ARP,
                &arp_request(RED1_HOST, "10.0.1.10", "10.0.1.1")
            )
        )
        .is_empty());
    assert!(r.rx(TRUNK, VecFrame::new(&[1, 2, 3])).is_empty());
    let t = r.publisher.load();
    let c = &t.port(TRUNK).unwrap().counters;
    assert_eq!(c.dropped(PortDropReason::UnknownVlan), 1);
    assert_eq!(c.dropped(PortDropReason::BadL2), 1);
}

#[test]
fn overlapping_tenants_forward_to_their_own_host_after_resolving_it() {
    let mut r = Router::new();
    for (vlan, h1, port2, mac2, h2, vnet) in [
        (10, RED1_HOST, RED2, RED2_MAC, RED2_HOST, "red"),
        (20, BLUE1_HOST, BLUE2, BLUE2_MAC, BLUE2_HOST, "blue"),
    ] {
        let ping = echo4("10.0.1.10", "10.0.2.10", 64, vnet.as_bytes());
        // 1. Unknown next hop: the frame is held and an ARP request goes out of the tenant's own port.
        let out = r.rx(
            TRUNK,
            eth(TRUNK_MAC, h1, Some(vlan), EtherType::IPV4, &ping),
        );
        assert_eq!(out.len(), 1, "{vnet}: expected only the ARP request");
        let (tag, dst, src, et, l3) = parse(&out[0].1);
        assert_eq!(
            (out[0].0, tag, dst, src, et),
            (port2, None, [0xff; 6], mac2, EtherType::ARP)
        );
        let a = wire::ArpPacket::new_checked(&l3[..]).unwrap();
        assert_eq!(
            (a.sender_ip(), a.target_ip()),
            (v4("10.0.2.1"), v4("10.0.2.10"))
        );
        // 2. The reply releases the held frame, TTL decremented, checksum still right.
        let out = r.rx(
            port2,
            eth(
                mac2,
                h2,
                None,
                EtherType::ARP,
                &arp_reply(h2, "10.0.2.10", mac2, "10.0.2.1"),
            ),
        );
        assert_eq!(out.len(), 1, "{vnet}: expected the released frame");
        let (tag, dst, src, et, l3) = parse(&out[0].1);
        assert_eq!(
            (out[0].0, tag, dst, src, et),
            (port2, None, h2, mac2, EtherType::IPV4)
        );
        let ip = Ipv4Packet::new_checked(&l3[..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
        assert_eq!(ip.payload()[8..], *vnet.as_bytes());
        // 3. Now resolved: the next packet goes straight through.
        let out = r.rx(
            TRUNK,
            eth(TRUNK_MAC, h1, Some(vlan), EtherType::IPV4, &ping),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, port2);
        assert_eq!(r.vnet(vnet).fwd.counters.totals().forwarded, 2);
    }
}

#[test]
fn replies_route_back_onto_the_tenants_vlan() {
    let mut r = Router::new();
    r.rx(
        TRUNK,
        eth(
            [0xff; 6],
            BLUE1_HOST,
            Some(20),
            EtherType::ARP,
            &arp_request(BLUE1_HOST, "10.0.1.10", "10.0.1.1"),
        ),
    );
    let out = r.rx(
        BLUE2,
        eth(
            BLUE2_MAC,
            BLUE2_HOST,
            None,
            EtherType::IPV4,
            &echo4("10.0.2.10", "10.0.1.10", 64, b"x"),
        ),
    );
    assert_eq!(out.len(), 1);
    let (tag, dst, src, _, _) = parse(&out[0].1);
    assert_eq!(
        (out[0].0, tag, dst, src),
        (TRUNK, Some(20), BLUE1_HOST, TRUNK_MAC)
    );
}

#[test]
fn static_route_goes_to_its_gateway() {
    let mut r = Router::new();
    r.rx(
        RED2,
        eth(
            [0xff; 6],
            RED2_HOST,
            None,
            EtherType::ARP,
            &arp_request(RED2_HOST, "10.0.2.10", "10.0.2.1"),
        ),
    );
    let out = r.rx(
        TRUNK,
        from_lan1(10, RED1_HOST, &echo4("10.0.1.10", "192.168.7.7", 64, b"gw")),
    );
    assert_eq!(out.len(), 1);
    let (_, dst, _, _, l3) = parse(&out[0].1);
    assert_eq!((out[0].0, dst), (RED2, RED2_HOST));
    let ip = Ipv4Packet::new_checked(&l3[..]).unwrap();
    assert_eq!((ip.dst_addr(), ip.ttl()), (v4("192.168.7.7"), 63));
    // TTL 1 towards the resolved gateway (`finish` reads only its egress entry
    // there): Time Exceeded back to the sender, counted.
    let out = r.rx(
        TRUNK,
        from_lan1(10, RED1_HOST, &echo4("10.0.1.10", "192.168.7.7", 1, b"gw")),
    );
    assert_eq!(out.len(), 1);
    let (tag, dst, _, _, l3) = parse(&out[0].1);
    assert_eq!((out[0].0, tag, dst), (TRUNK, Some(10), RED1_HOST));
    let ip = Ipv4Packet::new_checked(&l3[..]).unwrap();
    assert_eq!(ip.payload()[0], icmpv4::TIME_EXCEEDED);
    assert_eq!(r.dropped("red", DropReason::TtlExpired), 1);
}

#[test]
fn echo_to_the_routers_own_address_is_answered() {
    let mut r = Router::new();
    // Even to the address of another interface of the same vnet.
    for dst in ["10.0.1.1", "10.0.2.1"] {
        let out = r.rx(
            TRUNK,
            from_lan1(10, RED1_HOST, &echo4("10.0.1.10", dst, 64, b"ping")),
        );
        assert_eq!(out.len(), 1);
        let (tag, d, _, _, l3) = parse(&out[0].1);
        assert_eq!((tag, d), (Some(10), RED1_HOST));
        let ip = Ipv4Packet::new_checked(&l3[..]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (v4(dst), v4("10.0.1.10")));
        assert_eq!(ip.payload()[0], icmpv4::ECHO_REPLY);
        assert_eq!(checksum::checksum(ip.payload()), 0);
    }
}

#[test]
fn ttl_one_gets_time_exceeded_and_no_route_gets_unreachable() {
    let mut r = Router::new();
    let cases = [
        (
            "10.0.2.10",
            1,
            icmpv4::TIME_EXCEEDED,
            0,
            DropReason::TtlExpired,
        ),
        (
            "10.99.0.1",
            64,
            icmpv4::DEST_UNREACHABLE,
            0,
            DropReason::NoRoute,
        ),
    ];
    for (dst, ttl, want_type, want_code, reason) in cases {
        let orig = echo4("10.0.1.10", dst, ttl, b"probe");
        let out = r.rx(TRUNK, from_lan1(10, RED1_HOST, &orig));
        assert_eq!(out.len(), 1, "{dst}");
        let (tag, d, _, _, l3) = parse(&out[0].1);
        assert_eq!((out[0].0, tag, d), (TRUNK, Some(10), RED1_HOST));
        let ip = Ipv4Packet::new_checked(&l3[..]).unwrap();
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.protocol()),
            (v4("10.0.1.1"), v4("10.0.1.10"), IpProtocol::ICMP)
        );
        assert_eq!((ip.payload()[0], ip.payload()[1]), (want_type, want_code));
        // The error quotes the original header.
        assert_eq!(&ip.payload()[8..28], &orig[..20]);
        assert_eq!(r.dropped("red", reason), 1);
    }
}

#[test]
fn icmp_errors_are_rate_limited_per_vnet() {
    let mut r = Router::new();
    let mut sent = 0;
    for _ in 0..100 {
        sent += r
            .rx(
                TRUNK,
                from_lan1(10, RED1_HOST, &echo4("10.0.1.10", "10.99.0.1", 64, b"")),
            )
            .len();
    }
    assert!(sent > 0 && sent < 100, "sent {sent}");
    assert_eq!(r.dropped("red", DropReason::NoRoute), 100);
    // Blue's budget is its own.
    assert_eq!(
        r.rx(
            TRUNK,
            eth(
                TRUNK_MAC,
                BLUE1_HOST,
                Some(20),
                EtherType::IPV4,
                &echo4("10.0.1.10", "10.99.0.1", 64, b"")
            )
        )
        .len(),
        1
    );
    // And it refills with time.
    r.advance(1);
    assert_eq!(
        r.rx(
            TRUNK,
            from_lan1(10, RED1_HOST, &echo4("10.0.1.10", "10.99.0.1", 64, b""))
        )
        .len(),
        1
    );
}
#[test]
fn frames_for_other_macs_and_bad_checksums_are_dropped_by_reason() {
    let mut r = Router::new();
    assert!(r
        .rx(
            TRUNK,
            eth(
                [2, 9, 9, 9, 9, 9],
                RED1_HOST,
                Some(10),
                EtherType::IPV4,
                &echo4("10.0.1.10", "10.0.2.10", 64, b"")
            )
        )
        .is_empty());
    assert_eq!(r.dropped("red", DropReason::NotForUs), 1);
    let mut bad = echo4("10.0.1.10", "10.0.2.10", 64, b"");
    bad[10] ^= 0xff;
    assert!(r
        .rx(
            TRUNK,
            eth(TRUNK_MAC, RED1_HOST, Some(10), EtherType::IPV4, &bad)
        )
        .is_empty());
    assert_eq!(r.dropped("red", DropReason::BadChecksum), 1);
    assert!(r
        .rx(
            TRUNK,
            eth(TRUNK_MAC, RED1_HOST, Some(10), EtherType::IPV4, &bad[..12])
        )
        .is_empty());
    assert_eq!(r.dropped("red", DropReason::Malformed), 1);
    assert!(r
        .rx(TRUNK, eth(TRUNK_MAC, RED1_HOST, Some(10), 0x88cc, &[0; 46]))
        .is_empty());
    assert_eq!(r.dropped("red", DropReason::UnsupportedEthertype), 1);
}
/// A NIC that verifies IPv4 header checksums (`Frame::rx_ipv4_checksum`) is
/// believed: its "bad" drops a frame software would pass, its "good" spares the
/// software sum (shown by a corrupted header getting through), and "unknown"
/// leaves the check to software.
#[test]
fn the_nics_ipv4_checksum_verdict_replaces_the_software_check() {
    let mut r = Router::new();
    let good = echo4("10.0.1.10", "10.0.2.10", 64, b"");
    let mut marked_bad = eth(TRUNK_MAC, RED1_HOST, Some(10), EtherType::IPV4, &good);
    marked_bad.ipv4_checksum = RxChecksum::Bad;
    assert!(r.rx(TRUNK, marked_bad).is_empty());
    assert_eq!(r.dropped("red", DropReason::BadChecksum), 1);
    let mut corrupt = good.clone();
    corrupt[10] ^= 0xff;
    let mut trusted = eth(TRUNK_MAC, RED1_HOST, Some(10), EtherType::IPV4, &corrupt);
    trusted.ipv4_checksum = RxChecksum::Good;
    assert_eq!(r.rx(TRUNK, trusted).len(), 1);
    assert_eq!(r.dropped("red", DropReason::BadChecksum), 1);
    let unknown = eth(TRUNK_MAC, RED1_HOST, Some(10), EtherType::IPV4, &corrupt);
    assert!(r.rx(TRUNK, unknown).is_empty());
    assert_eq!(r.dropped("red", DropReason::BadChecksum), 2);
}
#[test]
fn unresolved_next_hop_is_retried_then_dropped() {
    let mut r = Router::new();
    let out = r.rx(
        TRUNK,
        eth(
            TRUNK_MAC,
            RED1_HOST,
            Some(10),
            EtherType::IPV4,
            &echo4("10.0.1.10", "10.0.2.99", 64, b""),
        ),
    );
    assert_eq!(out.len(), 1); // first ARP request
    assert_eq!(r.pending.len(), 1);
    let out = r.advance(1);
    assert_eq!(out.len(), 1, "one retry a second");
    assert_eq!(parse(&out[0].1).3, EtherType::ARP);
    r.advance(1);
    assert!(r.advance(1).is_empty());
    assert_eq!(r.pending.len(), 0);
    assert_eq!(r.dropped("red", DropReason::NeighborUnresolved), 1);
}

#[test]
fn ipv6_nd_echo_forwarding_and_hop_limit() {
    let mut r = Router::new();
    // NS for our address from red1 → NA, and red1 is learned.
    let out = r.rx(
        TRUNK,
        eth(
            [0x33, 0x33, 0xff, 0, 0, 1],
            RED1_HOST,
            Some(10),
            EtherType::IPV6,
            &ns("fd00:1::10", RED1_HOST, "fd00:1::1"),
        ),
    );
    assert_eq!(out.len(), 1);
    let (tag, d, _, et, l3) = parse(&out[0].1);
    assert_eq!((tag, d, et), (Some(10), RED1_HOST, EtherType::IPV6));
    let adv = icmpv6::parse_na(&l3).unwrap();
    assert_eq!(
        (adv.target, adv.target_mac.map(|m| m.0), adv.solicited),
        (v6("fd00:1::1"), Some(TRUNK_MAC), true)
    );
    assert!(r.vnet("red").neighbors.get6(v6("fd00:1::10")).is_some());
    assert!(r.vnet("blue").neighbors.get6(v6("fd00:1::10")).is_none());

    // Echo to the router.
    let out = r.rx(
        TRUNK,
        eth(
            TRUNK_MAC,
            RED1_HOST,
            Some(10),
            EtherType::IPV6,
            &echo6("fd00:1::10", "fd00:1::1", 64, b"six"),
        ),
    );
    assert_eq!(out.len(), 1);
    let l3 = parse(&out[0].1).4;
    let ip = Ipv6Packet::new_checked(&l3[..]).unwrap();
    assert_eq!(
        (ip.src_addr(), ip.payload()[0]),
        (v6("fd00:1::1"), icmpv6::ECHO_REPLY)
    );

    // Forwarding: NS out of lan2, NA back, held packet released with hop limit 63.
    let out = r.rx(
        TRUNK,
        eth(
            TRUNK_MAC,
            RED1_HOST,
            Some(10),
            EtherType::IPV6,
            &echo6("fd00:1::10", "fd00:2::10", 64, b"fwd"),
        ),
    );
    assert_eq!(out.len(), 1);
    let (_, d, _, _, l3) = parse(&out[0].1);
    assert_eq!((out[0].0, d), (RED2, [0x33, 0x33, 0xff, 0, 0, 0x10]));
    assert_eq!(icmpv6::parse_ns(&l3).unwrap().target, v6("fd00:2::10"));
    let out = r.rx(
        RED2,
        eth(
            RED2_MAC,
            RED2_HOST,
            None,
            EtherType::IPV6,
            &na("fd00:2::10", RED2_HOST, "fd00:2::1"),
        ),
    );
    assert_eq!(out.len(), 1);
    let (_, d, _, _, l3) = parse(&out[0].1);
    assert_eq!((out[0].0, d), (RED2, RED2_HOST));
    assert_eq!(Ipv6Packet::new_checked(&l3[..]).unwrap().hop_limit(), 63);

    // Hop limit 1 → time exceeded; no route → unreachable.
    for (dst, hl, want) in [
        ("fd00:2::10", 1, icmpv6::TIME_EXCEEDED),
        ("fd00:99::1", 64, icmpv6::DEST_UNREACHABLE),
    ] {
        let out = r.rx(
            TRUNK,
            eth(
                TRUNK_MAC,
                RED1_HOST,
                Some(10),
                EtherType::IPV6,
                &echo6("fd00:1::10", dst, hl, b""),
            ),
        );
        assert_eq!(out.len(), 1, "{dst}");
        let l3 = parse(&out[0].1).4;
        let ip = Ipv6Packet::new_checked(&l3[..]).unwrap();
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.payload()[0]),
            (v6("fd00:1::1"), v6("fd00:1::10"), want)
        );
    }
}

#[test]
fn frames_held_for_a_destroyed_vnet_are_freed() {
    let mut r = Router::new();
    r.rx(
        TRUNK,
        from_lan1(10, RED1_HOST, &echo4("10.0.1.10", "10.0.2.99", 64, b"")),
    );
    assert_eq!(r.pending.len(), 1);
    // Publish a version without red (as destroying it through the API does).
    r.publisher.update(|cur| Tables {
        generation: 0,
        demux: Arc::new(Demux::default()),
        vnets: cur
            .vnets
            .iter()
            .filter(|v| v.fwd.name != "red")
            .cloned()
            .collect(),
        ports: cur.ports.clone(),
    });
    assert!(r.advance(0).is_empty());
    assert_eq!(r.pending.len(), 0);
}

/// A router whose red and blue hosts on lan2 (10.0.2.10, fd00:2::10) are resolved.
fn resolved_router() -> Router {
    resolved(Router::new())
}

/// `r` after both tenants' hosts on their untagged ports (10.0.2.10, fd00:2::10)
/// answered ARP and ND.
fn resolved(mut r: Router) -> Router {
    for (port2, mac2, h2) in [(RED2, RED2_MAC, RED2_HOST), (BLUE2, BLUE2_MAC, BLUE2_HOST)] {
        r.rx(
            port2,
            eth(
                mac2,
                h2,
                None,
                EtherType::ARP,
                &arp_reply(h2, "10.0.2.10", mac2, "10.0.2.1"),
            ),
        );
        r.rx(
            port2,
            eth(
                mac2,
                h2,
                None,
                EtherType::IPV6,
                &na("fd00:2::10", h2, "fd00:2::1"),
            ),
        );
    }
    r
}

/// Every kind of frame the trunk sees, both tenants interleaved.
fn mixed_trunk_frames() -> Vec<VecFrame> {
    let mut v = Vec::new();
    for i in 0..3u8 {
        for (vlan, host) in [(10, RED1_HOST), (20, BLUE1_HOST)] {
            let ping = echo4("10.0.1.10", "10.0.2.10", 64 - i, &[i; 4]);
            v.push(eth(TRUNK_MAC, host, Some(vlan), EtherType::IPV4, &ping));
            let ping6 = echo6("fd00:1::10", "fd00:2::10", 64, &[i; 4]);
            v.push(eth(TRUNK_MAC, host, Some(vlan), EtherType::IPV6, &ping6));
        }
    }
    let ttl1 = echo4("10.0.1.10", "10.0.2.10", 1, b"ttl");
    v.push(from_lan1(10, RED1_HOST, &ttl1));
    let unroutable = echo4("10.0.1.10", "172.16.0.1", 64, b"none");
    v.push(eth(
        TRUNK_MAC,
        BLUE1_HOST,
        Some(20),
        EtherType::IPV4,
        &unroutable,
    ));
    let ours = echo4("10.0.1.10", "10.0.1.1", 64, b"us");
    v.push(eth(TRUNK_MAC, BLUE1_HOST, Some(20), EtherType::IPV4, &ours));
    let who = arp_request(RED1_HOST, "10.0.1.10", "10.0.1.1");
    v.push(eth([0xff; 6], RED1_HOST, Some(10), EtherType::ARP, &who));
    v.push(eth(TRUNK_MAC, RED1_HOST, Some(30), EtherType::IPV4, &ttl1)); // unknown VLAN
    v.push(eth(TRUNK_MAC, RED1_HOST, Some(10), 0x88b5, &[0; 46])); // unsupported
    v.push(VecFrame::new(&[1, 2, 3])); // runt
    v
}

#[test]
fn a_burst_gives_what_the_same_frames_give_one_at_a_time() {
    let frames = mixed_trunk_frames();
    assert!(frames.len() < crate::dpdk::BURST_MAX);
    let mut one = resolved_router();
    let mut each: Vec<_> = frames
        .iter()
        .flat_map(|f| one.rx(TRUNK, f.clone()))
        .collect();
    let mut burst = resolved_router();
    let mut all = burst.rx_burst(TRUNK, frames);
    // 12 forwarded, time exceeded, unreachable, echo reply, ARP reply.
    assert_eq!(each.len(), 16);
    // Within a burst IPv4 and IPv6 are finished apart: compare as sets, and the
    // order within each family and tenant as sent.
    each.sort();
    all.sort();
    assert_eq!(all, each);
    for r in [&one, &burst] {
        for vnet in ["red", "blue"] {
            let t = r.vnet(vnet).fwd.counters.totals();
            assert_eq!(t.forwarded, 6, "{vnet}");
        }
        assert_eq!(r.dropped("red", DropReason::TtlExpired), 1);
        assert_eq!(r.dropped("blue", DropReason::NoRoute), 1);
        assert_eq!(r.dropped("red", DropReason::UnsupportedEthertype), 1);
    }
}

#[test]
fn a_burst_larger_than_burst_max_is_processed_in_chunks_and_keeps_per_flow_order() {
    let mut r = resolved_router();
    let n = crate::dpdk::BURST_MAX * 2 + 5;
    let frames: Vec<_> = (0..n)
        .map(|i| {
            let (vlan, host) = if i % 3 == 0 {
                (20, BLUE1_HOST)
            } else {
                (10, RED1_HOST)
            };
            let ping = echo4("10.0.1.10", "10.0.2.10", 64, &(i as u32).to_be_bytes());
            eth(TRUNK_MAC, host, Some(vlan), EtherType::IPV4, &ping)
        })
        .collect();
    let out = r.rx_burst(TRUNK, frames);
    assert_eq!(out.len(), n);
    // Each tenant's frames leave on its own port, in the order they came.
    for (port, first) in [(RED2, 1u32), (BLUE2, 0)] {
        let seq: Vec<u32> = out
            .iter()
            .filter(|(p, _)| *p == port)
            .map(|(_, f)| {
                let l3 = parse(f).4;
                u32::from_be_bytes(l3[l3.len() - 4..].try_into().unwrap())
            })
            .collect();
        assert_eq!(seq[0], first);
        assert!(seq.windows(2).all(|w| w[0] < w[1]), "{port:?} reordered");
    }
}

/// A burst spread over a tenant with a small table (looked up through its compact
/// form, `lpm::lookup_each4`) and one too big for that (its own batch lookup),
/// interleaved frame by frame: every frame gets its own tenant's route, as it does
/// alone.
#[test]
fn a_burst_over_small_and_big_tables_routes_each_frame_by_its_own_tenant() {
    let red = tenant(1, "red", 10, RED2, RED2_MAC);
    let mut blue = tenant(2, "blue", 20, BLUE2, BLUE2_MAC);
    // 300 more routes, every other /24 from 172.16.0.0: more intervals than a
    // compact table holds. They lead to blue's gateway; red has no route there.
    blue.routes4
        .extend((0..300u32).map(|i| (Ipv4Addr::from(0xac10_0000 + (i << 9)), 24, v4("10.0.2.10"))));
    let router = || {
        let mut r = Router::with(&[red.clone(), blue.clone()]);
        for (port2, mac2, h2) in [(RED2, RED2_MAC, RED2_HOST), (BLUE2, BLUE2_MAC, BLUE2_HOST)] {
            let reply = arp_reply(h2, "10.0.2.10", mac2, "10.0.2.1");
            r.rx(port2, eth(mac2, h2, None, EtherType::ARP, &reply));
        }
        r
    };
    let mut one = router();
    assert!(one.vnet("red").compact4.is_some());
    assert!(one.vnet("blue").compact4.is_none());
    let frames: Vec<_> = (0..28u32)
        .map(|i| {
            let (vlan, host) = if i % 2 == 0 {
                (10, RED1_HOST)
            } else {
                (20, BLUE1_HOST)
            };
            let dst = match i % 4 {
                0 | 1 => format!("192.168.{i}.1"),
                _ => format!("172.16.{}.9", (i * 14) % 256),
            };
            let ping = echo4("10.0.1.10", &dst, 64, &i.to_be_bytes());
            eth(TRUNK_MAC, host, Some(vlan), EtherType::IPV4, &ping)
        })
        .collect();
    let mut each: Vec<_> = frames
        .iter()
        .flat_map(|f| one.rx(TRUNK, f.clone()))
        .collect();
    let mut burst = router();
    let mut all = burst.rx_burst(TRUNK, frames);
    // Red: 7 to 192.168/16 forwarded, 7 to 172.16/12 unreachable (an ICMP error
    // back on the trunk); blue: all 14 forwarded.
    assert_eq!(each.iter().filter(|(p, _)| *p == RED2).count(), 7);
    assert_eq!(each.iter().filter(|(p, _)| *p == BLUE2).count(), 14);
    each.sort();
    all.sort();
    assert_eq!(all, each);
    for r in [&one, &burst] {
        assert_eq!(r.dropped("red", DropReason::NoRoute), 7);
        assert_eq!(r.vnet("blue").fwd.counters.totals().forwarded, 14);
    }
}
