//! Simulated-clock tests of whole pipes: rate, delay, loss, weights, masks,
//! FQ-CoDel, bounded memory. Deterministic: same seed, same result.

mod common;

use common::{key, run, Source};
use shaper::{
    Bandwidth, Delay, DropReason, FlowMask, FqCodelConfig, PipeConfig, QueueConfig, QueueLimit,
    SchedulerConfig, ShaperConfig, ShaperSet, Target,
};

/// A TSC-like rate that divides nothing evenly.
const HZ: u64 = 2_394_567_891;

fn secs(s: f64) -> u64 {
    (s * HZ as f64) as u64
}

fn one_pipe(p: PipeConfig) -> ShaperConfig {
    ShaperConfig {
        pipes: vec![p],
        ..ShaperConfig::default()
    }
}

/// Offered 2R for 10 s, a pipe at R delivers R within 0.5% for R from 64 kbit/s to
/// 100 Gbit/s; also when the worker only polls every 100 µs.
#[test]
fn rate_is_exact_from_64kbit_to_100gbit() {
    let rates: [u64; 8] = [
        64_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
        10_000_000_000,
        40_000_000_000,
        100_000_000_000,
    ];
    for (n, &rate) in rates.iter().enumerate() {
        // About 20k packets a second whatever the rate (64 B .. 64 KB).
        let len = (rate / 8 / 20_000).clamp(64, 65_000) as u32;
        let mut p = PipeConfig::new(1);
        p.bw = Bandwidth::from_bits_per_sec(rate);
        p.scheduler = SchedulerConfig::Fifo;
        for grid in [0, secs(100e-6)] {
            if grid != 0 && n % 3 != 0 {
                continue;
            }
            let mut set = ShaperSet::new(&one_pipe(p), HZ, 0).unwrap();
            let mut src = [Source::at_rate(
                Target::Pipe(1),
                key(1, 1),
                len,
                2 * rate,
                HZ,
            )];
            let out = run(&mut set, &mut src, secs(10.0), grid);
            let got = out.bytes_of(0) as f64 * 8.0 / 10.0;
            let err = (got - rate as f64) / rate as f64;
            assert!(
                err.abs() <= 0.005,
                "rate {rate} (len {len}, grid {grid}): delivered {got:.0} bit/s, error {:.3}%",
                err * 100.0
            );
            let c = set.counters(1).unwrap();
            assert!(
                c.dropped(DropReason::QueueFull) > 0,
                "offered 2R must overflow"
            );
        }
    }
}

/// Each packet leaves exactly `delay` after it finished serialization: within one
/// tick (< 1 µs) of simulated time, fractional milliseconds included.
#[test]
fn delay_is_met_within_a_microsecond() {
    for (bw, delay_ns) in [(0u64, 40_000_000u64), (10_000_000, 1_500_000), (0, 250_000)] {
        let mut p = PipeConfig::new(1);
        p.bw = Bandwidth::from_bits_per_sec(bw);
        p.delay = Delay::from_nanos(delay_ns);
        p.queue = QueueLimit::Slots(10_000);
        let mut set = ShaperSet::new(&one_pipe(p), HZ, 0).unwrap();
        // Sparse enough that no packet waits behind another (1 Mbit/s of 1000 B).
        let mut src = [Source::at_rate(
            Target::Pipe(1),
            key(1, 1),
            1000,
            1_000_000,
            HZ,
        )];
        let out = run(&mut set, &mut src, secs(2.0), 0);
        assert!(out.released.len() > 200);
        let tx = (1000u128 * 8 * u128::from(HZ)).div_ceil(u128::from(bw.max(1))) as u64;
        let tx = if bw == 0 { 0 } else { tx };
        for &(_, _, sent, rel) in &out.released {
            let want = sent + tx + shaper::clock::nanos_to_ticks(delay_ns, HZ);
            let diff = rel.abs_diff(want);
            let diff_ns = shaper::clock::ticks_to_nanos(diff, HZ);
            assert!(
                diff_ns < 1_000,
                "released {diff_ns} ns off (bw {bw}, delay {delay_ns})"
            );
        }
    }
}

/// `plr p` over 100k packets drops p·n within 4 standard deviations.
#[test]
fn plr_within_four_sigma() {
    for plr in [0.001, 0.01, 0.1, 0.5] {
        let mut p = PipeConfig::new(1);
        p.plr = plr;
        p.queue = QueueLimit::Slots(100_000);
        let mut set = ShaperSet::new(&one_pipe(p), HZ, 0).unwrap();
        let n = 100_000u64;
        let mut lost = 0u64;
        for i in 0..n {
            if let Err((_, why)) = set.enqueue(Target::Pipe(1), &key(1, 1), 100, i, i) {
                assert_eq!(why, DropReason::Loss);
                lost += 1;
            }
            set.poll(i, |_, _, _| {});
        }
        let mean = n as f64 * plr;
        let sigma = (n as f64 * plr * (1.0 - plr)).sqrt();
        assert!(
            (lost as f64 - mean).abs() <= 4.0 * sigma,
            "plr {plr}: lost {lost}, expected {mean} ± {}",
            4.0 * sigma
        );
        assert_eq!(set.counters(1).unwrap().dropped(DropReason::Loss), lost);
    }
}

/// Three queues of weight 1, 2, 7 on one 10 Mbit/s pipe, each offered the whole
/// link: their throughput splits 1:2:7 within 2%, for every weighted scheduler.
#[test]
fn weights_1_2_7_share_the_pipe() {
    for sched in [
        SchedulerConfig::Wf2q,
        SchedulerConfig::Drr { quantum: 1514 },
        SchedulerConfig::Qfq { lmax: 1514 },
    ] {
        let mut p = PipeConfig::new(1);
        p.bw = Bandwidth::from_bits_per_sec(10_000_000);
        p.scheduler = sched;
        let mut cfg = one_pipe(p);
        for (i, w) in [1, 2, 7].into_iter().enumerate() {
            let mut q = QueueConfig::new(10 + i as u32, 1);
            q.weight = w;
            cfg.queues.push(q);
        }
        let mut set = ShaperSet::new(&cfg, HZ, 0).unwrap();
        let mut src: Vec<Source> = (0..3)
            .map(|i| {
                Source::at_rate(
                    Target::Queue(10 + i),
                    key(i as u8, 1),
                    [1500, 700, 1200][i as usize],
                    10_000_000,
                    HZ,
                )
            })
            .collect();
        let out = run(&mut set, &mut src, secs(10.0), 0);
        let b: Vec<f64> = (0..3).map(|i| out.bytes_of(i) as f64).collect();
        let total: f64 = b.iter().sum();
        assert!(
            (total * 8.0 / 10.0 - 10e6).abs() < 10e6 * 0.005,
            "{sched:?}: total {total}"
        );
        for (i, w) in [1.0, 2.0, 7.0].into_iter().enumerate() {
            let share = b[i] / total;
            let want = w / 10.0;
            assert!(
                (share - want).abs() <= want * 0.02,
                "{sched:?}: queue weight {w} got {share:.4}, want {want} ± 2%"
            );
        }
    }
}

/// PRIO: the higher priority queue takes what it needs, the lower one the rest.
#[test]
fn prio_serves_priority_first() {
    let mut p = PipeConfig::new(1);
    p.bw = Bandwidth::from_bits_per_sec(10_000_000);
    p.scheduler = SchedulerConfig::Prio;
    let mut cfg = one_pipe(p);
    let mut hi = QueueConfig::new(1, 1);
    hi.prio = 0;
    let mut lo = QueueConfig::new(2, 1);
    lo.prio = 5;
    cfg.queues = vec![hi, lo];
    let mut set = ShaperSet::new(&cfg, HZ, 0).unwrap();
    let mut src = vec![
        Source::at_rate(Target::Queue(1), key(1, 1), 1000, 4_000_000, HZ),
        Source::at_rate(Target::Queue(2), key(2, 1), 1000, 20_000_000, HZ),
    ];
    let out = run(&mut set, &mut src, secs(5.0), 0);
    let hi_rate = out.bytes_of(0) as f64 * 8.0 / 5.0;
    let lo_rate = out.bytes_of(1) as f64 * 8.0 / 5.0;
    assert_eq!(
        out.dropped[0], 0,
        "priority traffic below the link rate is never dropped"
    );
    assert!((hi_rate - 4e6).abs() < 4e6 * 0.01, "{hi_rate}");
    assert!((lo_rate - 6e6).abs() < 6e6 * 0.01, "{lo_rate}");
}

/// FQ-CoDel: a sparse flow (one small packet every 10 ms) keeps a low delay while
/// an unresponsive bulk flow overloads the pipe by 10%; once CoDel's drop rate has
/// caught up, the bulk queue's delay is held down too. The same traffic through
/// FIFO makes the sparse flow wait behind the whole queue.
#[test]
fn fq_codel_keeps_a_sparse_flow_fast() {
    let mut sparse_delay = Vec::new();
    for sched in [
        SchedulerConfig::FqCodel(FqCodelConfig::default()),
        SchedulerConfig::Fifo,
    ] {
        let mut p = PipeConfig::new(1);
        p.bw = Bandwidth::from_bits_per_sec(10_000_000);
        p.queue = QueueLimit::Slots(1000);
        p.scheduler = sched;
        let mut set = ShaperSet::new(&one_pipe(p), HZ, 0).unwrap();
        let mut src = vec![
            Source::at_rate(Target::Pipe(1), key(1, 1), 1500, 11_000_000, HZ),
            Source::at_rate(Target::Pipe(1), key(2, 2), 100, 80_000, HZ),
        ];
        let out = run(&mut set, &mut src, secs(30.0), 0);
        let mut d: Vec<f64> = out
            .released
            .iter()
            .filter(|r| r.0 == 1 && r.2 > secs(2.0))
            .map(|r| (r.3 - r.2) as f64 / HZ as f64)
            .collect();
        d.sort_by(f64::total_cmp);
        let p99 = d[d.len() * 99 / 100];
        let mut bulk: Vec<f64> = out
            .released
            .iter()
            .filter(|r| r.0 == 0 && r.2 > secs(15.0))
            .map(|r| (r.3 - r.2) as f64 / HZ as f64)
            .collect();
        bulk.sort_by(f64::total_cmp);
        let bulk_median = bulk[bulk.len() / 2];
        if matches!(sched, SchedulerConfig::FqCodel(_)) {
            // One bulk packet ahead at most: 1.2 ms, plus its own 0.08 ms.
            assert!(p99 < 0.002, "sparse flow p99 delay {p99} s");
            eprintln!("fq_codel: sparse p99 {p99} s, bulk median {bulk_median} s");
            assert!(
                bulk_median < 0.05,
                "CoDel holds the bulk queue: median {bulk_median} s"
            );
            assert!(set.counters(1).unwrap().dropped(DropReason::CoDel) > 0);
            assert_eq!(out.dropped[1], 0, "the sparse flow loses nothing");
        }
        sparse_delay.push(p99);
    }
    assert!(
        sparse_delay[1] > 0.5,
        "FIFO: the sparse flow waits behind 1000 packets"
    );
}

/// FQ-CoDel with `ecn`: two unresponsive bulk flows overload a pipe, one
/// ECN-capable (ECT(0)), one not. CoDel marks the first where it drops the second;
/// without `ecn` both lose packets.
#[test]
fn fq_codel_ecn_marks_capable_flows_and_drops_the_others() {
    for ecn in [true, false] {
        let mut p = PipeConfig::new(1);
        p.bw = Bandwidth::from_bits_per_sec(10_000_000);
        p.scheduler = SchedulerConfig::FqCodel(FqCodelConfig {
            ecn,
            ..FqCodelConfig::default()
        });
        let mut set = ShaperSet::new(&one_pipe(p), HZ, 0).unwrap();
        let mut src = vec![
            Source::at_rate(
                Target::Pipe(1),
                key(1, 1).with_ecn(shaper::ecn::ECT0),
                1500,
                6_000_000,
                HZ,
            ),
            Source::at_rate(Target::Pipe(1), key(2, 2), 1500, 6_000_000, HZ),
        ];
        let out = run(&mut set, &mut src, secs(10.0), 0);
        let c = set.counters(1).unwrap();
        eprintln!(
            "ecn {ecn}: marked {:?}, dropped {:?}, counters marked {} codel {}",
            out.marked,
            out.dropped,
            c.marked_pkts,
            c.dropped(DropReason::CoDel)
        );
        assert!(out.dropped[1] > 0, "the not-ECT flow is dropped");
        assert_eq!(out.marked[1], 0, "the not-ECT flow is never marked");
        if ecn {
            assert!(out.marked[0] > 0, "the ECT flow is marked");
            assert_eq!(out.dropped[0], 0, "the ECT flow is not dropped");
            assert_eq!(c.marked_pkts, out.marked[0]);
            assert_eq!(c.dropped(DropReason::CoDel), out.dropped[1]);
        } else {
            assert_eq!(out.marked[0] + c.marked_pkts, 0, "no marks without ecn");
            assert!(out.dropped[0] > 0, "without ecn the ECT flow is dropped");
        }
    }
}

/// `mask src-ip 0xffffffff` on a pipe: each host gets its own pipe at the full rate.
/// A mask on a queue: hosts share the pipe equally, one dynamic queue each.
#[test]
fn masks_make_dynamic_pipes_and_queues() {
    let rate = 1_000_000u64;
    let mut p = PipeConfig::new(1);
    p.bw = Bandwidth::from_bits_per_sec(rate);
    p.mask = FlowMask {
        src_ip: u32::MAX,
        ..FlowMask::NONE
    };
    let mut set = ShaperSet::new(&one_pipe(p), HZ, 0).unwrap();
    let mut src: Vec<Source> = (0..4)
        .map(|h| Source::at_rate(Target::Pipe(1), key(h, 1), 500, 2 * rate, HZ))
        .collect();
    let out = run(&mut set, &mut src, secs(4.0), 0);
    for h in 0..4 {
        let r = out.bytes_of(h) as f64 * 8.0 / 4.0;
        assert!(
            (r - rate as f64).abs() < rate as f64 * 0.01,
            "host {h}: {r}"
        );
    }
    assert_eq!(set.counters(1).unwrap().instances, 4);

    let mut p = PipeConfig::new(1);
    p.bw = Bandwidth::from_bits_per_sec(4 * rate);
    let mut cfg = one_pipe(p);
    let mut q = QueueConfig::new(5, 1);
    q.mask = FlowMask {
        src_ip: u32::MAX,
        ..FlowMask::NONE
    };
    cfg.queues.push(q);
    let mut set = ShaperSet::new(&cfg, HZ, 0).unwrap();
    let mut src: Vec<Source> = (0..4)
        .map(|h| Source::at_rate(Target::Queue(5), key(h, 1), 500, (2 + h as u64) * rate, HZ))
        .collect();
    let out = run(&mut set, &mut src, secs(4.0), 0);
    for h in 0..4 {
        let r = out.bytes_of(h) as f64 * 8.0 / 4.0;
        assert!(
            (r - rate as f64).abs() < rate as f64 * 0.02,
            "host {h}: {r}"
        );
    }
    assert_eq!(set.counters(1).unwrap().queues, 4);
    // When the flows stop, their dynamic queues go away.
    let mut empty: Vec<Source> = Vec::new();
    let _ = run(&mut set, &mut empty, secs(10.0), 0);
    assert_eq!(set.counters(1).unwrap().queues, 0);
}

/// The packet pool is the bound: when it is full, new packets are dropped and
/// counted, the set keeps working, and draining returns every held handle.
#[test]
fn full_pool_drops_by_reason_and_drain_returns_everything() {
    let mut p = PipeConfig::new(1);
    p.bw = Bandwidth::from_bits_per_sec(1_000_000);
    p.delay = Delay::from_millis(100);
    p.queue = QueueLimit::Slots(1000);
    let mut cfg = one_pipe(p);
    cfg.pool_slots = 64;
    let mut set: ShaperSet<u32> = ShaperSet::new(&cfg, HZ, 0).unwrap();
    let mut refused = 0;
    for i in 0..100 {
        if let Err((h, why)) = set.enqueue(Target::Pipe(1), &key(1, 1), 100, i, 0) {
            assert_eq!((h, why), (i, DropReason::PoolExhausted));
            refused += 1;
        }
    }
    assert_eq!(refused, 36);
    assert_eq!(set.held(), 64);
    let c = set.counters(1).unwrap();
    assert_eq!(c.backlog_pkts, 64);
    assert_eq!(c.dropped(DropReason::PoolExhausted), 36);
    assert_eq!(
        set.enqueue(Target::Pipe(9), &key(1, 1), 100, 7, 0),
        Err((7, DropReason::NoSuchPipe))
    );
    let mut back = Vec::new();
    set.drain(|h| back.push(h));
    back.sort();
    assert_eq!(back, (0..64).collect::<Vec<_>>());
    assert_eq!(set.held(), 0);
    assert_eq!(set.next_deadline(), None);
    // Still usable afterwards.
    assert!(set.enqueue(Target::Pipe(1), &key(1, 1), 100, 1, 0).is_ok());
}

/// Counters add up: in = out + dropped + backlog.
#[test]
fn counters_balance() {
    let mut p = PipeConfig::new(1);
    p.bw = Bandwidth::from_bits_per_sec(2_000_000);
    p.delay = Delay::from_millis(30);
    p.plr = 0.05;
    p.scheduler = SchedulerConfig::FqCodel(FqCodelConfig::default());
    let mut set = ShaperSet::new(&one_pipe(p), HZ, 0).unwrap();
    let mut src: Vec<Source> = (0..5)
        .map(|h| Source::at_rate(Target::Pipe(1), key(h, h as u16), 800, 1_000_000, HZ))
        .collect();
    let _ = run(&mut set, &mut src, secs(3.0), 0);
    let c = set.counters(1).unwrap();
    assert!(c.backlog_pkts > 0 && c.out_pkts > 0 && c.dropped_total() > 0);
    assert_eq!(c.in_pkts, c.out_pkts + c.dropped_total() + c.backlog_pkts);
    let dropped_bytes: u64 = c.dropped_bytes.iter().sum();
    assert_eq!(c.in_bytes, c.out_bytes + dropped_bytes + c.backlog_bytes);
    assert_eq!(c.backlog_pkts as usize, set.held());
}

/// A pipe without `bw`, `delay`, `plr` or mask holds packets only until the next
/// poll, in arrival order, counted like any other; its scheduler's and queue's
/// limits still apply (QFQ's `lmax`, a byte limit below a packet's size).
#[test]
fn an_unlimited_pipe_passes_packets_at_the_next_poll() {
    let mut set: ShaperSet<u32> = ShaperSet::new(&one_pipe(PipeConfig::new(1)), HZ, 0).unwrap();
    assert_eq!(set.next_deadline(), None);
    for k in 0..100u32 {
        set.enqueue(Target::Pipe(1), &key(1, k as u16), 100 + k, k, 5)
            .unwrap();
    }
    assert!(set.next_deadline().is_some_and(|d| d <= 5), "due now");
    let mut got = Vec::new();
    set.poll(5, |h, pipe, fate| {
        assert_eq!((pipe, fate), (1, shaper::Fate::Sent));
        got.push(h);
    });
    assert_eq!(got, (0..100).collect::<Vec<u32>>(), "all, in order");
    let c = set.counters(1).unwrap();
    let bytes: u64 = (0..100).map(|k| 100 + k).sum();
    assert_eq!((c.in_pkts, c.out_pkts, c.backlog_pkts), (100, 100, 0));
    assert_eq!(
        (c.in_bytes, c.out_bytes, c.backlog_bytes),
        (bytes, bytes, 0)
    );
    assert_eq!((set.held(), set.next_deadline()), (0, None));

    let mut p = PipeConfig::new(1);
    p.scheduler = SchedulerConfig::Qfq { lmax: 1500 };
    p.queue = QueueLimit::Bytes(1000);
    let mut set: ShaperSet<u32> = ShaperSet::new(&one_pipe(p), HZ, 0).unwrap();
    assert_eq!(
        set.enqueue(Target::Pipe(1), &key(1, 1), 1400, 7, 0),
        Err((7, DropReason::QueueFull))
    );
    assert!(set.enqueue(Target::Pipe(1), &key(1, 1), 900, 8, 0).is_ok());
    let mut p = PipeConfig::new(1);
    p.scheduler = SchedulerConfig::Qfq { lmax: 1500 };
    let mut set: ShaperSet<u32> = ShaperSet::new(&one_pipe(p), HZ, 0).unwrap();
    assert_eq!(
        set.enqueue(Target::Pipe(1), &key(1, 1), 1600, 9, 0),
        Err((9, DropReason::Oversize))
    );
    let c = set.counters(1).unwrap();
    assert_eq!((c.in_pkts, c.dropped(DropReason::Oversize)), (1, 1));
}

/// A backlogged pipe (bursts of arrivals, ~90% load, mixed sizes) releases every
/// packet when a fluid FIFO link says its transmission ends, plus the delay,
/// within a microsecond when the worker polls at `next_deadline`. An arrival
/// into a backlogged pipe skips the serialize and re-arm (`enqueue_hinted`):
/// this fails if that ever leaves the timer late (a packet waiting past its
/// time until some later event).
#[test]
fn backlogged_pipe_releases_each_packet_on_time() {
    for delay_ns in [0, 2_000_000] {
        backlogged_on_time(10_000_000, delay_ns);
    }
}

fn backlogged_on_time(bw: u64, delay_ns: u64) {
    let mut p = PipeConfig::new(1);
    p.bw = Bandwidth::from_bits_per_sec(bw);
    p.delay = Delay::from_nanos(delay_ns);
    p.queue = QueueLimit::Slots(10_000);
    p.scheduler = SchedulerConfig::Fifo;
    let cfg = ShaperConfig {
        pool_slots: 20_000,
        ..one_pipe(p)
    };
    let mut set: ShaperSet<usize> = ShaperSet::new(&cfg, HZ, 0).unwrap();
    // Arrivals: bursts of 1-6 packets of 64-1500 bytes, gaps drawn so the
    // offered load is about 90% of the link.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut arrivals = Vec::new();
    let mut t = 0u64;
    while arrivals.len() < 20_000 {
        let burst = 1 + rnd(6);
        let mut bytes = 0;
        for _ in 0..burst {
            let len = 64 + rnd(1437) as u32;
            bytes += u64::from(len);
            arrivals.push((t, len));
        }
        let busy = bytes * 8 * HZ / bw;
        t += rnd(2 * busy * 10 / 9 + 1);
    }
    // The fluid FIFO link's release times (end of transmission in units of
    // 1/bw tick, exact).
    let d = shaper::clock::nanos_to_ticks(delay_ns, HZ);
    let mut end = 0u128;
    let want: Vec<u64> = arrivals
        .iter()
        .map(|&(a, len)| {
            end = end.max(u128::from(a) * u128::from(bw)) + u128::from(len) * 8 * u128::from(HZ);
            end.div_ceil(u128::from(bw)) as u64 + d
        })
        .collect();
    let mut got = vec![u64::MAX; arrivals.len()];
    let mut next = 0usize;
    loop {
        let arrival = arrivals.get(next).map(|a| a.0);
        let t = match (arrival, set.next_deadline()) {
            (Some(a), Some(dl)) => a.min(dl),
            (Some(a), None) => a,
            (None, Some(dl)) => dl,
            (None, None) => break,
        };
        set.poll(t, |k, _, fate| {
            assert_eq!(fate, shaper::Fate::Sent);
            got[k] = t;
        });
        while next < arrivals.len() && arrivals[next].0 == t {
            let key = key(1, 1);
            assert!(set
                .enqueue(Target::Pipe(1), &key, arrivals[next].1, next, t)
                .is_ok());
            next += 1;
        }
    }
    let tick_us = HZ / 1_000_000;
    let mut queued = 0;
    for (k, (&g, &w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g.abs_diff(w) <= tick_us,
            "delay {delay_ns} ns, packet {k}: released at {g}, due at {w} ({} ticks late)",
            g as i64 - w as i64
        );
        queued += usize::from(w - d > arrivals[k].0 + 2 * 1500 * 8 * HZ / bw);
    }
    // It was backlogged most of the time (what the skip is for).
    assert!(queued > arrivals.len() / 4, "only {queued} packets waited");
}
