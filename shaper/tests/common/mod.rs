//! A discrete-event driver for simulated-clock tests: sources offer packets at
//! exact times, the set is polled exactly at its deadlines (or on a coarse grid,
//! like a busy worker), and every release is recorded with its time.
#![allow(dead_code)]

use shaper::{Fate, FlowKey, ShaperSet, Target};
use std::net::Ipv4Addr;

/// A packet as the tests see it: who sent it and when.
#[derive(Debug, Clone, Copy)]
pub struct Pkt {
    pub source: usize,
    pub len: u32,
    pub sent_at: u64,
}

/// A constant-rate source: `len`-byte packets every `interval_num / interval_den`
/// ticks (exact rational spacing, so offered rates are exact too).
#[derive(Debug, Clone)]
pub struct Source {
    pub target: Target,
    pub key: FlowKey,
    pub len: u32,
    pub interval_num: u128,
    pub interval_den: u128,
    pub start: u64,
    pub sent: u64,
}

impl Source {
    /// Offers `rate` bit/s of `len`-byte packets on a `hz` clock.
    pub fn at_rate(target: Target, key: FlowKey, len: u32, rate: u64, hz: u64) -> Self {
        Source {
            target,
            key,
            len,
            interval_num: u128::from(len) * 8 * u128::from(hz),
            interval_den: u128::from(rate),
            start: 0,
            sent: 0,
        }
    }

    fn next_time(&self) -> u64 {
        self.start + (u128::from(self.sent) * self.interval_num / self.interval_den) as u64
    }
}

pub fn key(host: u8, port: u16) -> FlowKey {
    FlowKey::v4(
        Ipv4Addr::new(10, 0, 0, host),
        Ipv4Addr::new(10, 9, 9, 9),
        17,
        port,
        5001,
    )
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// (source, len, sent_at, released_at)
    pub released: Vec<(usize, u32, u64, u64)>,
    /// Dropped on entry or inside, per source.
    pub dropped: Vec<u64>,
    /// Released marked CE (`Fate::Marked`), per source.
    pub marked: Vec<u64>,
    pub offered: Vec<u64>,
}

impl Outcome {
    pub fn bytes_of(&self, source: usize) -> u64 {
        self.released
            .iter()
            .filter(|r| r.0 == source)
            .map(|r| u64::from(r.1))
            .sum()
    }
}

/// Runs `sources` into `set` until `end` ticks. `grid`: 0 = poll exactly at each
/// deadline; otherwise also only every `grid` ticks (a worker busy elsewhere).
pub fn run(set: &mut ShaperSet<Pkt>, sources: &mut [Source], end: u64, grid: u64) -> Outcome {
    let mut out = Outcome {
        dropped: vec![0; sources.len()],
        marked: vec![0; sources.len()],
        offered: vec![0; sources.len()],
        ..Outcome::default()
    };
    let mut next_poll = 0u64;
    loop {
        let arrival = sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.next_time(), i))
            .min();
        let deadline = set.next_deadline().map(|d| {
            if grid == 0 {
                d
            } else {
                // The worker only looks at grid points.
                d.max(next_poll).div_ceil(grid) * grid
            }
        });
        let t = match (arrival, deadline) {
            (Some((a, _)), Some(d)) => a.min(d),
            (Some((a, _)), None) => a,
            (None, Some(d)) => d,
            (None, None) => break,
        };
        if t > end {
            break;
        }
        if deadline == Some(t) {
            next_poll = t + grid.max(1);
            set.poll(t, |p, _, fate| match fate {
                Fate::Sent => out.released.push((p.source, p.len, p.sent_at, t)),
                Fate::Marked => {
                    out.marked[p.source] += 1;
                    out.released.push((p.source, p.len, p.sent_at, t));
                }
                Fate::Dropped(_) => out.dropped[p.source] += 1,
            });
        }
        if let Some((a, i)) = arrival {
            if a == t {
                let s = &mut sources[i];
                s.sent += 1;
                out.offered[i] += 1;
                let p = Pkt {
                    source: i,
                    len: s.len,
                    sent_at: t,
                };
                if set.enqueue(s.target, &s.key, s.len, p, t).is_err() {
                    out.dropped[i] += 1;
                }
            }
        }
    }
    out
}
