//! Cycles per packet per stage of the packet path, for profiling (perf/README.md).
//!
//! Built only with the `stage-cycles` feature: each worker then reads the TSC at
//! the stage boundaries of every burst (about 25 cycles a read, 6 reads a burst,
//! so ~5 cycles per packet at full bursts) and prints its totals when it stops.
//! Without the feature every call here is empty and compiles to nothing.

/// The stages, in the order a burst passes them.
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    /// rx_burst calls (empty polls of idle queues included).
    Rx = 0,
    /// L2 parse, demux, counters, header checks; ARP/ND/echo answered here.
    Demux = 1,
    /// The batched route lookups.
    Lookup = 2,
    /// TTL, neighbor, L2 rewrite, into the TX buffer.
    Finish = 3,
    /// Due shaper pipes served, then tx_burst of what is left in the TX buffers.
    Tx = 4,
    /// The rest of the poll loop (table refresh, pending queue service, shaper hand-offs).
    Loop = 5,
}

const STAGES: usize = 6;
const NAMES: [&str; STAGES] = ["rx", "demux", "lookup", "finish", "tx", "loop"];

#[cfg(feature = "stage-cycles")]
mod imp {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static CYCLES: [Cell<u64>; STAGES] = const { [const { Cell::new(0) }; STAGES] };
        static PACKETS: Cell<u64> = const { Cell::new(0) };
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
    }

    #[inline(always)]
    pub fn packets(n: usize) {
        PACKETS.with(|p| p.set(p.get() + n as u64));
    }

    pub fn totals() -> Option<([u64; STAGES], u64)> {
        let cycles = CYCLES.with(|c| std::array::from_fn(|i| c[i].get()));
        Some((cycles, PACKETS.with(Cell::get)))
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

/// "cycles/packet: rx 12.0, demux 40.1, …" for this thread; None without the feature
/// or before any packet.
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
    Some(format!(
        "cycles/packet over {packets} packets: {}; total {:.1}",
        parts.join(", "),
        total as f64 / packets as f64
    ))
}

#[cfg(all(test, feature = "stage-cycles"))]
mod tests {
    use super::*;

    #[test]
    fn laps_are_charged_to_their_stage_and_divided_by_packets() {
        let mut clock = StageClock::start();
        std::hint::black_box((0..10_000u64).sum::<u64>());
        clock.lap(Stage::Lookup);
        count_packets(10);
        let (cycles, packets) = imp::totals().unwrap();
        assert_eq!(packets, 10);
        assert!(cycles[Stage::Lookup as usize] > 0);
        assert_eq!(cycles[Stage::Rx as usize], 0);
        assert!(report().unwrap().contains("lookup "));
    }
}
