//! Steady state allocates nothing: after a warm-up that reaches the high-water
//! marks (flow queues, instances, scheduler lists), a long run of enqueues and
//! polls through every scheduler, with masks and drops, makes no heap allocation.
//! (Its own test binary: the counting allocator is process-wide.)

use shaper::{
    Bandwidth, Delay, FlowKey, FlowMask, FqCodelConfig, PipeConfig, QueueConfig, QueueLimit,
    SchedulerConfig, ShaperConfig, ShaperSet, Target,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn drive(set: &mut ShaperSet<u64>, from: u64, n: u64, flows: u32) -> u64 {
    let mut t = from;
    let mut out = 0u64;
    for i in 0..n {
        t += 700;
        let f = (i % u64::from(flows)) as u32;
        let key = FlowKey::v4(
            Ipv4Addr::from(0x0a00_0000 + f),
            Ipv4Addr::new(10, 9, 9, 9),
            6,
            (f % 7) as u16,
            80,
        );
        let target = if i % 3 == 0 {
            Target::Pipe(1 + (i % 6) as u32)
        } else {
            Target::Queue(10 + (i % 6) as u32)
        };
        let _ = set.enqueue(target, &key, 64 + (i % 1400) as u32, i, t);
        set.poll(t, |_, _, _| out += 1);
    }
    out
}

#[test]
fn steady_state_does_not_allocate() {
    let scheds = [
        SchedulerConfig::Fifo,
        SchedulerConfig::Wf2q,
        SchedulerConfig::Drr { quantum: 1514 },
        SchedulerConfig::Prio,
        SchedulerConfig::Qfq { lmax: 1514 },
        SchedulerConfig::FqCodel(FqCodelConfig {
            flows: 64,
            ..FqCodelConfig::default()
        }),
    ];
    let mut cfg = ShaperConfig {
        pool_slots: 4096,
        ..ShaperConfig::default()
    };
    for (i, s) in scheds.into_iter().enumerate() {
        let id = 1 + i as u32;
        let mut p = PipeConfig::new(id);
        p.bw = Bandwidth::from_bits_per_sec(200_000_000);
        p.delay = Delay::from_nanos(300_000);
        p.plr = 0.01;
        p.queue = QueueLimit::Slots(20);
        p.scheduler = s;
        if i % 2 == 1 {
            p.mask = FlowMask {
                src_ip: 0xffff_fff0,
                ..FlowMask::NONE
            };
        }
        cfg.pipes.push(p);
        let mut q = QueueConfig::new(10 + i as u32, id);
        q.weight = 1 + i as u32;
        q.mask = FlowMask {
            src_ip: u32::MAX,
            ..FlowMask::NONE
        };
        cfg.queues.push(q);
    }
    let mut set: ShaperSet<u64> = ShaperSet::new(&cfg, 1_000_000_000, 0).unwrap();
    // Warm-up: the same flows, so every table reaches its high-water mark.
    let warm = drive(&mut set, 0, 300_000, 500);
    let before = ALLOCS.load(Ordering::Relaxed);
    let out = drive(&mut set, 300_000 * 700, 1_000_000, 500);
    let after = ALLOCS.load(Ordering::Relaxed);
    assert!(warm > 0 && out > 100_000, "traffic flowed: {warm} {out}");
    assert_eq!(after - before, 0, "allocations in steady state");
}
