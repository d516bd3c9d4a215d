//! The shaper stage on byte fixtures: packets diverted into a pipe leave it after
//! the pipe's delay and at its rate, continue down the path (L2 rewrite, TX or
//! routing), are counted per pipe, and are freed when their vnet goes away.
use super::stage;
use super::*;
use crate::dpdk::PortId;
use crate::frame::{Frame, VecFrame};
use crate::pipeline::{divert, Output, PathCtx, Pending};
use crate::stats::DropReason;
use crate::tables::{build_vnet, InterfaceSpec, NeighborEvent, Tables, Vnet, VnetSpec};
use crate::wire::{self, EtherType};
use shaper::{Bandwidth, Delay, PipeConfig, QueueConfig, ShaperConfig};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// 1 tick = 1 µs.
const HZ: u64 = 1_000_000;
const LAN: PortId = PortId(0);
const WAN: PortId = PortId(1);
const GW_MAC: [u8; 6] = [2, 0xee, 0, 0, 0, 1];

fn spec(id: u64, shaper: Option<ShaperConfig>) -> VnetSpec {
    VnetSpec {
        id,
        name: format!("v{id}"),
        interfaces: vec![
            InterfaceSpec {
                name: "lan".into(),
                port: LAN,
                vlan: None,
                mac: [2, 0, 0, 0, 0, 1],
                addrs4: vec![(Ipv4Addr::new(10, 0, 1, 1), 24)],
                addrs6: vec![],
            },
            InterfaceSpec {
                name: "wan".into(),
                port: WAN,
                vlan: None,
                mac: [2, 0, 0, 0, 0, 2],
                addrs4: vec![(Ipv4Addr::new(10, 0, 2, 1), 24)],
                addrs6: vec![],
            },
        ],
        routes4: vec![],
        routes6: vec![],
        static_neighbors: vec![(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 9)), GW_MAC)],
        shaper: shaper.map(|c| Arc::new(ShaperSpec(c))),
        firewall: Default::default(),
    }
}

fn tables(specs: &[VnetSpec]) -> Tables {
    let mut t = Tables::empty();
    for s in specs {
        let (fwd, neigh) = build_vnet(s, 1, None, None).unwrap();
        t.vnets.push(Vnet::new(Arc::new(fwd), Arc::new(neigh)));
    }
    t
}

fn pipe_cfg(bw: u64, delay_ms: u64) -> ShaperConfig {
    let mut p = PipeConfig::new(1);
    p.bw = Bandwidth::from_bits_per_sec(bw);
    p.delay = Delay::from_millis(delay_ms);
    let mut q = QueueConfig::new(7, 1);
    q.weight = 3;
    ShaperConfig {
        pipes: vec![p],
        queues: vec![q],
        pool_slots: 64,
        ..ShaperConfig::default()
    }
}

/// An Ethernet + IPv4/UDP frame from 10.0.1.5 to 10.0.2.9, `payload` bytes.
fn frame(payload: usize) -> VecFrame {
    let mut ip = vec![0u8; 28 + payload];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((28 + payload) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[10, 0, 1, 5]);
    ip[16..20].copy_from_slice(&[10, 0, 2, 9]);
    let c = wire::checksum::checksum(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip[20..22].copy_from_slice(&5000u16.to_be_bytes());
    ip[22..24].copy_from_slice(&53u16.to_be_bytes());
    let mut f = vec![0u8; 14];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[2, 0xaa, 0, 0, 0, 5]);
    f[12..14].copy_from_slice(&EtherType::IPV4.to_be_bytes());
    f.extend_from_slice(&ip);
    VecFrame::new(&f)
}

#[derive(Default)]
struct Out {
    sent: Vec<(PortId, Vec<u8>)>,
    staged: Vec<ShapeRequest<VecFrame>>,
}

impl Output<VecFrame> for Out {
    fn tx(&mut self, port: PortId, frame: VecFrame) {
        self.sent.push((port, frame.data().to_vec()));
    }
    fn alloc(&mut self) -> Option<VecFrame> {
        Some(VecFrame::empty())
    }
    fn learned(&mut self, _ev: NeighborEvent) {}
    fn shape(&mut self, req: ShapeRequest<VecFrame>) {
        self.staged.push(req);
    }
}

struct Rig {
    t: Tables,
    host: ShaperHost<VecFrame>,
    pending: Pending<VecFrame>,
    out: Out,
}

impl Rig {
    fn new(t: Tables) -> Self {
        let mut host = ShaperHost::new(0, 1, HZ);
        stage::sync(&mut host, &t, 0, 0);
        Rig {
            t,
            host,
            pending: Pending::new(8),
            out: Out::default(),
        }
    }

    fn send(&mut self, target: Target, resume: Resume, f: VecFrame, now: u64) {
        let v = self.t.vnets[0].clone();
        divert(&mut self.out, &v, target, f, resume);
        let mut staged = std::mem::take(&mut self.out.staged);
        stage::dispatch(&mut self.host, &mut staged, &self.t, 0, 1, now, |_, r| {
            Some(r)
        });
    }

    fn run_to(&mut self, now: u64) {
        let ctx = PathCtx {
            tables: &self.t,
            worker: 0,
            now,
            hz: HZ,
            now_ms: crate::firewall::now_ms(now, HZ),
        };
        stage::service(&mut self.host, &ctx, &mut self.pending, &mut self.out);
    }
}

fn transmit() -> Resume {
    Resume::Transmit {
        iface: 1,
        neighbor: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 9)),
        l3_off: 14,
        ethertype: EtherType::IPV4,
    }
}

#[test]
fn a_packet_leaves_after_the_delay_and_is_transmitted_rewritten() {
    let mut r = Rig::new(tables(&[spec(1, Some(pipe_cfg(0, 40)))]));
    r.send(Target::Pipe(1), transmit(), frame(100), 0);
    r.run_to(39_999);
    assert!(r.out.sent.is_empty(), "held for 40 ms");
    r.run_to(40_000);
    assert_eq!(r.out.sent.len(), 1);
    let (port, bytes) = &r.out.sent[0];
    assert_eq!(*port, WAN);
    assert_eq!(&bytes[0..6], &GW_MAC, "next hop's MAC");
    assert_eq!(&bytes[6..12], &[2, 0, 0, 0, 0, 2], "egress interface's MAC");
    assert_eq!(r.host.held(), 0);
}

#[test]
fn rate_and_per_pipe_counters() {
    // 1 Mbit/s: 1028-byte IP packets take 8.224 ms each.
    let mut r = Rig::new(tables(&[spec(1, Some(pipe_cfg(1_000_000, 0)))]));
    for _ in 0..5 {
        r.send(Target::Queue(7), transmit(), frame(1000), 0);
    }
    let mut times = Vec::new();
    for t in (0..100_000).step_by(100) {
        let before = r.out.sent.len();
        r.run_to(t);
        if r.out.sent.len() > before {
            times.push(t);
        }
    }
    assert_eq!(times, vec![8_300, 16_500, 24_700, 32_900, 41_200]);
    r.host.publish_stats(&r.t);
    let stats = r.t.vnets[0].fwd.shaper_stats.as_ref().unwrap();
    let c = stats.pipe(1).unwrap().load();
    assert_eq!((c.in_pkts, c.out_pkts, c.out_bytes), (5, 5, 5 * 1028));
    assert_eq!(c.backlog_pkts, 0);
}

#[test]
fn drops_are_counted_per_pipe_and_per_vnet() {
    let mut cfg = pipe_cfg(8_000, 0);
    cfg.pipes[0].queue = shaper::QueueLimit::Slots(2);
    let mut r = Rig::new(tables(&[spec(1, Some(cfg))]));
    for _ in 0..5 {
        r.send(Target::Pipe(1), transmit(), frame(10), 0);
    }
    // One on the link, two queued, two dropped (queue full).
    r.send(Target::Pipe(9), transmit(), frame(10), 0);
    let v = &r.t.vnets[0].fwd;
    let totals = v.counters.totals();
    assert_eq!(totals.dropped[DropReason::Pipe as usize], 2);
    assert_eq!(totals.dropped[DropReason::NoSuchPipe as usize], 1);
    r.host.publish_stats(&r.t);
    let c = v.shaper_stats.as_ref().unwrap().pipe(1).unwrap().load();
    assert_eq!(c.dropped(shaper::DropReason::QueueFull), 2);
    assert_eq!(c.backlog_pkts, 3);
}

#[test]
fn a_packet_diverted_on_input_is_routed_when_it_leaves() {
    let mut r = Rig::new(tables(&[spec(1, Some(pipe_cfg(0, 5)))]));
    let resume = Resume::Route {
        iface: 0,
        l3_off: 14,
    };
    r.send(Target::Pipe(1), resume, frame(64), 0);
    r.run_to(5_000);
    assert_eq!(
        r.out.sent.len(),
        1,
        "routed to 10.0.2.9 via the wan interface"
    );
    let (port, bytes) = &r.out.sent[0];
    assert_eq!(*port, WAN);
    assert_eq!(&bytes[0..6], &GW_MAC);
    assert_eq!(bytes[14 + 8], 63, "TTL decremented by the routing step");
}

#[test]
fn frames_in_pipes_are_freed_when_the_vnet_goes_or_its_pipes_change() {
    let mut r = Rig::new(tables(&[spec(1, Some(pipe_cfg(0, 1000)))]));
    for _ in 0..3 {
        r.send(Target::Pipe(1), transmit(), frame(10), 0);
    }
    assert_eq!(r.host.held(), 3);
    // Same pipes, another route: the set and its packets stay.
    let mut same = spec(1, Some(pipe_cfg(0, 1000)));
    same.routes4.push((
        Ipv4Addr::new(192, 168, 0, 0),
        16,
        Ipv4Addr::new(10, 0, 2, 9),
    ));
    let t2 = tables(&[same]);
    stage::sync(&mut r.host, &t2, 0, 10);
    assert_eq!(r.host.held(), 3);
    // Other pipes: the old packets are flushed and counted.
    let t3 = tables(&[spec(1, Some(pipe_cfg(0, 5)))]);
    stage::sync(&mut r.host, &t3, 0, 20);
    assert_eq!(r.host.held(), 0);
    assert_eq!(
        t3.vnets[0].fwd.counters.totals().dropped[DropReason::PipeFlushed as usize],
        3
    );
    // Vnet removed: its shaper goes with it.
    r.send(Target::Pipe(1), transmit(), frame(10), 30);
    stage::sync(&mut r.host, &t3, 0, 30);
    assert_eq!(r.host.len(), 1);
    stage::sync(&mut r.host, &tables(&[spec(2, None)]), 0, 40);
    assert_eq!((r.host.len(), r.host.held()), (0, 0));
}

#[test]
fn another_workers_vnet_is_handed_over() {
    let t = tables(&[spec(3, Some(pipe_cfg(0, 0)))]);
    // Worker 0 of 2 does not own vnet 3 (3 % 2 == 1).
    let mut host: ShaperHost<VecFrame> = ShaperHost::new(0, 2, HZ);
    stage::sync(&mut host, &t, 0, 0);
    assert!(host.is_empty());
    let mut out = Out::default();
    divert(
        &mut out,
        &t.vnets[0],
        Target::Pipe(1),
        frame(10),
        transmit(),
    );
    let mut handed = Vec::new();
    stage::dispatch(&mut host, &mut out.staged, &t, 0, 2, 0, |o, r| {
        handed.push(o);
        drop(r);
        None
    });
    assert_eq!(handed, vec![1]);
    // The owner accepts it.
    let mut owner: ShaperHost<VecFrame> = ShaperHost::new(1, 2, HZ);
    stage::sync(&mut owner, &t, 1, 0);
    let mut out = Out::default();
    divert(
        &mut out,
        &t.vnets[0],
        Target::Pipe(1),
        frame(10),
        transmit(),
    );
    let req = out.staged.pop().unwrap();
    assert_eq!(req.key.dst_port, 53);
    stage::accept(&mut owner, &t, 1, req, 0);
    assert_eq!(owner.held(), 1);
}

/// FQ-CoDel with `ecn`: a standing queue of ECT(0) packets is marked, not dropped;
/// the marked ones leave with CE set and a correct IPv4 header checksum (updated
/// incrementally), everything else about them unchanged.
#[test]
fn fq_codel_ecn_marks_ce_on_the_wire_with_a_valid_checksum() {
    let mut cfg = pipe_cfg(1_000_000, 0);
    cfg.pipes[0].scheduler = shaper::SchedulerConfig::FqCodel(shaper::FqCodelConfig {
        ecn: true,
        ..shaper::FqCodelConfig::default()
    });
    cfg.pool_slots = 256;
    let mut r = Rig::new(tables(&[spec(1, Some(cfg))]));
    let ect0 = |mut f: VecFrame| {
        let ip = &mut f.data_mut()[14..34];
        ip[1] = 0x02;
        ip[10..12].fill(0);
        let c = wire::checksum::checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f
    };
    // 200 packets of 1028 bytes at once into 1 Mbit/s: ~8 ms each, the last
    // waits 1.6 s; CoDel starts signalling after 100 ms above 5 ms.
    for _ in 0..200 {
        r.send(Target::Pipe(1), transmit(), ect0(frame(1000)), 0);
    }
    for t in (0..2_000_000).step_by(1000) {
        r.run_to(t);
    }
    assert_eq!(r.out.sent.len(), 200, "nothing dropped");
    let mut marked = 0;
    for (_, bytes) in &r.out.sent {
        let ip = wire::Ipv4Packet::new_checked(&bytes[14..]).unwrap();
        assert!(ip.verify_checksum(), "checksum after marking");
        match ip.ecn() {
            3 => marked += 1,
            2 => {}
            e => panic!("ECN {e}"),
        }
    }
    assert!(marked > 0, "CoDel marked nothing");
    let v = &r.t.vnets[0].fwd;
    r.host.publish_stats(&r.t);
    let c = v.shaper_stats.as_ref().unwrap().pipe(1).unwrap().load();
    assert_eq!(c.marked_pkts, marked);
    assert_eq!(c.dropped_total(), 0);
}

/// A masked queue: a burst of requests for two flows goes through the hinted
/// path (flows resolved in passes before the enqueues) into one dynamic queue
/// per flow, and everything leaves.
#[test]
fn a_burst_into_masked_queues_is_enqueued_per_flow() {
    let mut cfg = pipe_cfg(1_000_000, 0);
    cfg.queues[0].mask = shaper::FlowMask::ALL;
    let mut r = Rig::new(tables(&[spec(1, Some(cfg))]));
    let v = r.t.vnets[0].clone();
    for port in [1000u16, 2000, 1000, 2000, 1000] {
        let mut f = frame(100);
        f.data_mut()[34..36].copy_from_slice(&port.to_be_bytes());
        divert(&mut r.out, &v, Target::Queue(7), f, transmit());
    }
    let mut staged = std::mem::take(&mut r.out.staged);
    assert_eq!(staged.len(), 5);
    stage::dispatch(&mut r.host, &mut staged, &r.t, 0, 1, 0, |_, r| Some(r));
    r.host.publish_stats(&r.t);
    let stats = r.t.vnets[0].fwd.shaper_stats.clone().unwrap();
    let c = stats.pipe(1).unwrap().load();
    assert_eq!(c.in_pkts, 5);
    // The first packet went straight onto the idle link; both flows wait.
    assert_eq!(c.queues, 2, "one dynamic queue per flow");
    assert_eq!(c.backlog_pkts, 5);
    r.run_to(1_000_000);
    assert_eq!(r.out.sent.len(), 5);
    assert_eq!(r.host.held(), 0);
}
