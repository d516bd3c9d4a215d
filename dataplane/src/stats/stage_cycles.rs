//! Cycles per packet per stage of the packet path, for profiling (perf/README.md).
//!
//! Built only with the `stage-cycles` feature: each worker then reads the TSC at
//! the stage boundaries of every burst (about 25 cycles a read, 6 reads a burst,
//! so ~5 cycles per packet at full bursts) and prints its totals when it stops.
//! Without the feature every call here is empty and compiles to nothing.
//!
//! Two figures per stage: the mean over the run (TSC ticks, so time the worker was
//! preempted counts too), and the median over bursts of each burst's ticks per
//! packet, which a preemption only moves by one burst: on a machine shared with
//! other work the median is the figure to compare between builds.

/// The stages, in the order a burst passes them.
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    /// rx_burst calls (empty polls of idle queues included).
    Rx = 0,
    /// The express lane (one tenant, no firewall): checks, lookup, rewrite, into
    /// the TX buffer.
    Express = 1,
    /// L2 parse, demux, counters, header checks; ARP/ND/echo answered here.
    Demux = 2,
    /// The batched route lookups.
    Lookup = 3,
    /// TTL, neighbor, L2 rewrite, into the TX buffer.
    Finish = 4,
    /// Due shaper pipes served, then tx_burst of what is left in the TX buffers.
    Tx = 5,
    /// The rest of the poll loop (table refresh, pending queue service, shaper hand-offs).
    Loop = 6,
}

const STAGES: usize = 7;
const NAMES: [&str; STAGES] = ["rx", "express", "demux", "lookup", "finish", "tx", "loop"];

#[cfg(feature = "stage-cycles")]
mod imp {
    use super::*;
    use std::cell::{Cell, RefCell};

    /// Per-burst ticks per packet are counted in buckets of one tick up to this.
    pub const BUCKETS: usize = 4096;

    /// The ticks since the last burst began, per stage, and that burst's size.
    struct Current {
        ticks: [u64; STAGES],
        packets: u64,
    }

    thread_local! {
        static CYCLES: [Cell<u64>; STAGES] = const { [const { Cell::new(0) }; STAGES] };
        static PACKETS: Cell<u64> = const { Cell::new(0) };
        static CURRENT: RefCell<Current> = const {
            RefCell::new(Current { ticks: [0; STAGES], packets: 0 })
        };
        /// One histogram per stage and one of the total (last row).
        static PER_BURST: RefCell<Vec<[u32; BUCKETS]>> = const { RefCell::new(Vec::new()) };
    }

    #[inline(always)]
    pub fn now() -> u64 {
        // SAFETY: reads the time stamp counter; no memory is touched.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
        #[cfg(not(target_arch = "x86_64"))]
        0
    }

    #[inline(always)]
    pub fn add(stage: Stage, cycles: u64) {
        CYCLES.with(|c| {
            let c = &c[stage as usize];
            c.set(c.get().wrapping_add(cycles));
        });
        CURRENT.with(|c| c.borrow_mut().ticks[stage as usize] += cycles);
    }

    /// A burst of `n` arrived: what was charged since the previous one (its
    /// stages, then the polls up to this one) goes into the histograms.
    #[inline(always)]
    pub fn packets(n: usize) {
        PACKETS.with(|p| p.set(p.get() + n as u64));
        let done = CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            let done = (c.packets > 0).then_some((c.ticks, c.packets));
            c.ticks = [0; STAGES];
            c.packets = n as u64;
            done
        });
        if let Some((ticks, packets)) = done {
            PER_BURST.with(|h| {
                let mut h = h.borrow_mut();
                if h.is_empty() {
                    h.resize(STAGES + 1, [0; BUCKETS]);
                }
                let bucket = |t: u64| ((t / packets) as usize).min(BUCKETS - 1);
                for (row, t) in h.iter_mut().zip(ticks) {
                    row[bucket(t)] += 1;
                }
                h[STAGES][bucket(ticks.iter().sum())] += 1;
            });
        }
    }

    pub fn totals() -> Option<([u64; STAGES], u64)> {
        let cycles = CYCLES.with(|c| std::array::from_fn(|i| c[i].get()));
        Some((cycles, PACKETS.with(Cell::get)))
    }

    /// Medians over bursts of ticks per packet: each stage, then the total.
    pub fn medians() -> Option<[u64; STAGES + 1]> {
        PER_BURST.with(|h| {
            let h = h.borrow();
            if h.is_empty() {
                return None;
            }
            Some(std::array::from_fn(|i| median(&h[i])))
        })
    }

    fn median(row: &[u32; BUCKETS]) -> u64 {
        let n: u64 = row.iter().map(|&c| u64::from(c)).sum();
        let mut seen = 0;
        for (b, &c) in row.iter().enumerate() {
            seen += u64::from(c);
            if seen * 2 >= n {
                return b as u64;
            }
        }
        0
    }
}

#[cfg(not(feature = "stage-cycles"))]
mod imp {
    use super::*;
    #[inline(always)]
    pub fn now() -> u64 {
        0
    }
    #[inline(always)]
    pub fn add(_: Stage, _: u64) {}
    #[inline(always)]
    pub fn packets(_: usize) {}
    pub fn totals() -> Option<([u64; STAGES], u64)> {
        None
    }
    pub fn medians() -> Option<[u64; STAGES + 1]> {
        None
    }
}

/// Times consecutive stages on this thread: each `lap` charges the cycles since the
/// previous one to a stage.
pub struct StageClock {
    last: u64,
}

impl StageClock {
    #[inline(always)]
    pub fn start() -> Self {
        StageClock { last: imp::now() }
    }

    #[inline(always)]
    pub fn lap(&mut self, stage: Stage) {
        let t = imp::now();
        imp::add(stage, t.wrapping_sub(self.last));
        self.last = t;
    }
}

/// Counts frames received on this thread (the denominator of the report).
#[inline(always)]
pub fn count_packets(n: usize) {
    imp::packets(n)
}

/// "cycles/packet over N packets: rx 12.0, demux 40.1, …; total …" for this thread,
/// then the same as medians over bursts; None without the feature or before any packet.
pub fn report() -> Option<String> {
    let (cycles, packets) = imp::totals()?;
    if packets == 0 {
        return None;
    }
    let total: u64 = cycles.iter().sum();
    let parts: Vec<String> = NAMES
        .iter()
        .zip(cycles)
        .map(|(n, c)| format!("{n} {:.1}", c as f64 / packets as f64))
        .collect();
    let mut r = format!(
        "cycles/packet over {packets} packets: {}; total {:.1}",
        parts.join(", "),
        total as f64 / packets as f64
    );
    if let Some(m) = imp::medians() {
        let parts: Vec<String> = NAMES
            .iter()
            .zip(m)
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        r += &format!(
            "; median per burst: {}; total {}",
            parts.join(", "),
            m[STAGES]
        );
    }
    Some(r)
}

#[cfg(all(test, feature = "stage-cycles"))]
mod tests {
    use super::*;

    #[test]
    fn laps_are_charged_to_their_stage_and_divided_by_packets() {
        count_packets(10);
        let mut clock = StageClock::start();
        std::hint::black_box((0..10_000u64).sum::<u64>());
        clock.lap(Stage::Lookup);
        let (cycles, packets) = imp::totals().unwrap();
        assert_eq!(packets, 10);
        assert!(cycles[Stage::Lookup as usize] > 0);
        assert_eq!(cycles[Stage::Rx as usize], 0);
        assert!(report().unwrap().contains("lookup "));
        // No burst is complete yet: no medians.
        assert!(imp::medians().is_none());
        // The next burst closes this one: its ticks per packet go to the medians.
        count_packets(5);
        let m = imp::medians().unwrap();
        let lookup = m[Stage::Lookup as usize];
        assert_eq!(
            lookup,
            (cycles[Stage::Lookup as usize] / 10).min(imp::BUCKETS as u64 - 1)
        );
        assert_eq!(m[Stage::Rx as usize], 0);
        assert_eq!(m[STAGES], lookup);
        assert!(report().unwrap().contains("median per burst: rx 0"));
    }
}
