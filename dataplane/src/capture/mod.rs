//! Packet capture of one vnet (`vnetctl -v NAME capture`).
//!
//! Every vnet has a [`Tap`], off by default: the packet path then pays one
//! relaxed load of a flag per frame it receives or sends. A capture session
//! brings its own buffers, allocated when it starts: per worker, a ring of
//! free slots and a ring of filled ones. A worker copies a frame into a free
//! slot (nothing allocates, nothing locks: the rings are lock-free and each has
//! one producer and one consumer); the control plane drains the filled slots
//! into a pcap stream and hands the slots back. When the control plane falls
//! behind, frames are not captured and counted as lost, never delayed: the
//! capture must not change what it observes.
//!
//! The tap lives in the vnet's counters, which survive republication, so a
//! capture goes on across reloads and ends when the vnet is destroyed.
use arc_swap::ArcSwapOption;
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Which way a frame was going, relative to the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Received,
    Sent,
}

/// Where a frame was seen: the vnet interface's (port, VLAN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment {
    pub port: u16,
    pub vlan: Option<u16>,
}

/// One captured frame: its first `len` bytes of `wire_len`, when and where.
pub struct Slot {
    pub tsc: u64,
    pub wire_len: u32,
    pub len: u32,
    pub at: Attachment,
    pub dir: Direction,
    pub data: Box<[u8]>,
}

struct WorkerRing {
    free: ArrayQueue<Box<Slot>>,
    full: ArrayQueue<Box<Slot>>,
    /// Written by this ring's worker only (load + store, as the counters).
    lost: AtomicU64,
}

/// A running capture: its buffers and what it keeps.
pub struct Session {
    rings: Box<[WorkerRing]>,
    snaplen: usize,
    /// Only this interface, or all.
    only: Option<Attachment>,
}

impl Session {
    /// `slots` per worker, each `snaplen` bytes: everything it will ever use.
    pub fn new(
        workers: usize,
        slots: usize,
        snaplen: usize,
        only: Option<Attachment>,
    ) -> Arc<Session> {
        let slots = slots.max(1);
        let rings = (0..workers.max(1))
            .map(|_| {
                let free = ArrayQueue::new(slots);
                for _ in 0..slots {
                    let _ = free.push(Box::new(Slot {
                        tsc: 0,
                        wire_len: 0,
                        len: 0,
                        at: Attachment {
                            port: 0,
                            vlan: None,
                        },
                        dir: Direction::Received,
                        data: vec![0u8; snaplen].into_boxed_slice(),
                    }));
                }
                WorkerRing {
                    free,
                    full: ArrayQueue::new(slots),
                    lost: AtomicU64::new(0),
                }
            })
            .collect();
        Arc::new(Session {
            rings,
            snaplen,
            only,
        })
    }

    /// Called by worker `worker` only.
    fn push(
        &self,
        worker: usize,
        dir: Direction,
        at: Attachment,
        frame: &[u8],
        stripped: Option<u16>,
        tsc: u64,
    ) {
        if self.only.is_some_and(|o| o != at) {
            return;
        }
        let Some(ring) = self.rings.get(worker) else {
            return;
        };
        let Some(mut slot) = ring.free.pop() else {
            let lost = &ring.lost;
            lost.store(lost.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            return;
        };
        let wire_len = copy_frame(&mut slot.data, frame, stripped);
        slot.tsc = tsc;
        slot.wire_len = wire_len as u32;
        slot.len = wire_len.min(self.snaplen) as u32;
        slot.at = at;
        slot.dir = dir;
        // Cannot be full: a slot only leaves `free` to enter `full`.
        let _ = ring.full.push(slot);
    }

    /// Hands every filled slot to `f` (oldest first per worker), then back to
    /// its worker. Returns how many.
    pub fn drain(&self, mut f: impl FnMut(&Slot)) -> usize {
        let mut n = 0;
        for ring in self.rings.iter() {
            while let Some(slot) = ring.full.pop() {
                f(&slot);
                let _ = ring.free.push(slot);
                n += 1;
            }
        }
        n
    }

    /// Frames not captured because the control plane was behind.
    pub fn lost(&self) -> u64 {
        self.rings
            .iter()
            .map(|r| r.lost.load(Ordering::Relaxed))
            .sum()
    }

    pub fn snaplen(&self) -> usize {
        self.snaplen
    }
}

/// Copies `frame` into `dst` (as much as fits), putting back the 802.1Q tag
/// the NIC stripped so that the capture shows the frame as it was on the wire.
/// Returns the frame's length on the wire.
fn copy_frame(dst: &mut [u8], frame: &[u8], vlan: Option<u16>) -> usize {
    match vlan {
        Some(tci) if frame.len() >= 12 => {
            let mut tagged = [0u8; 16];
            tagged[..12].copy_from_slice(&frame[..12]);
            tagged[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            tagged[14..16].copy_from_slice(&tci.to_be_bytes());
            let head = dst.len().min(16);
            dst[..head].copy_from_slice(&tagged[..head]);
            let rest = &frame[12..];
            let n = rest.len().min(dst.len() - head);
            dst[head..head + n].copy_from_slice(&rest[..n]);
            frame.len() + 4
        }
        _ => {
            let n = frame.len().min(dst.len());
            dst[..n].copy_from_slice(&frame[..n]);
            frame.len()
        }
    }
}

/// Taps capturing now, all vnets together. `record` reads this before its own
/// tap: the counter is one line every worker keeps in cache, while the tap is
/// another cold line per frame when a burst spreads over many tenants (most of
/// the time no capture runs anywhere).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// A vnet's capture point.
#[derive(Default)]
pub struct Tap {
    active: AtomicBool,
    session: ArcSwapOption<Session>,
    /// Serializes `start` and `stop` (API threads only; workers never take it):
    /// without it a stop between a start's claim of the session and its raising
    /// of `active` left the tap active with no session and `RUNNING` one high.
    control: Mutex<()>,
}

/// Why a capture could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapBusy;

impl Tap {
    /// On the packet path: nearly free while no capture runs. `stripped` is the
    /// VLAN tag the NIC took off the frame, if it did.
    #[inline(always)]
    pub fn record(
        &self,
        worker: usize,
        dir: Direction,
        at: Attachment,
        frame: &[u8],
        stripped: Option<u16>,
    ) {
        if RUNNING.load(Ordering::Relaxed) != 0 && self.active.load(Ordering::Relaxed) {
            self.record_slow(worker, dir, at, frame, stripped);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_slow(
        &self,
        worker: usize,
        dir: Direction,
        at: Attachment,
        frame: &[u8],
        stripped: Option<u16>,
    ) {
        if let Some(s) = &*self.session.load() {
            s.push(worker, dir, at, frame, stripped, crate::dpdk::tsc());
        }
    }

    /// Starts `s` on this vnet; one capture at a time.
    pub fn start(&self, s: Arc<Session>) -> Result<(), TapBusy> {
        let _one_at_a_time = self.control.lock().unwrap_or_else(|e| e.into_inner());
        let prev = self
            .session
            .compare_and_swap(&None::<Arc<Session>>, Some(s));
        if prev.is_some() {
            return Err(TapBusy);
        }
        RUNNING.fetch_add(1, Ordering::Release);
        self.active.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops the capture running with session `s` (a no-op if another runs now).
    /// Workers may still be writing into `s` for one more burst; its buffers
    /// are freed when the last of them lets go.
    pub fn stop(&self, s: &Arc<Session>) {
        let _one_at_a_time = self.control.lock().unwrap_or_else(|e| e.into_inner());
        let cur = self.session.load_full();
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, s)) {
            if self.active.swap(false, Ordering::AcqRel) {
                RUNNING.fetch_sub(1, Ordering::Release);
            }
            self.session.store(None);
        }
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Whether `record` would record now: what the packet path asks once per
    /// burst before it skips recording for a whole burst.
    #[inline(always)]
    pub fn is_recording(&self) -> bool {
        any_running() && self.active.load(Ordering::Relaxed)
    }
}

/// Whether any tap captures now, anywhere: one line every worker keeps in cache,
/// so a burst over many tenants can tell that none of theirs records without
/// reading each one's tap.
#[inline(always)]
pub fn any_running() -> bool {
    RUNNING.load(Ordering::Relaxed) != 0
}

impl Drop for Tap {
    /// A vnet removed while capturing: its capture no longer counts as running.
    fn drop(&mut self) {
        if *self.active.get_mut() {
            RUNNING.fetch_sub(1, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    fn at(port: u16) -> Attachment {
        Attachment { port, vlan: None }
    }

    #[test]
    fn an_idle_tap_records_nothing() {
        let tap = Tap::default();
        tap.record(0, Direction::Received, at(0), &frame(60), None);
        let s = Session::new(1, 4, 128, None);
        assert_eq!(s.drain(|_| {}), 0);
    }

    #[test]
    fn frames_are_captured_truncated_and_retagged() {
        let tap = Tap::default();
        let s = Session::new(2, 4, 64, None);
        tap.start(s.clone()).unwrap();
        assert_eq!(tap.start(Session::new(1, 1, 64, None)), Err(TapBusy));
        tap.record(1, Direction::Sent, at(3), &frame(100), None);
        tap.record(0, Direction::Received, at(2), &frame(60), Some(10));
        let mut got = Vec::new();
        s.drain(|x| {
            got.push((
                x.at.port,
                x.wire_len,
                x.len,
                x.dir,
                x.data[..x.len as usize].to_vec(),
            ))
        });
        got.sort_by_key(|g| std::cmp::Reverse(g.0));
        assert_eq!(got.len(), 2);
        let (_, wire, len, dir, ref data) = got[0];
        assert_eq!((wire, len, dir), (100, 64, Direction::Sent));
        assert_eq!(data[..], frame(100)[..64]);
        let (_, wire, len, dir, ref data) = got[1];
        assert_eq!((wire, len, dir), (64, 64, Direction::Received));
        assert_eq!(data[..12], frame(60)[..12]);
        assert_eq!(data[12..16], [0x81, 0x00, 0x00, 10]);
        assert_eq!(data[16..64], frame(60)[12..60]);
        tap.stop(&s);
        tap.record(0, Direction::Received, at(2), &frame(60), None);
        assert_eq!(s.drain(|_| {}), 0);
        assert!(!tap.is_active());
    }

    #[test]
    fn a_full_ring_loses_frames_and_counts_them() {
        let tap = Tap::default();
        let s = Session::new(1, 2, 64, Some(at(1)));
        tap.start(s.clone()).unwrap();
        for _ in 0..5 {
            tap.record(0, Direction::Received, at(1), &frame(60), None);
        }
        tap.record(0, Direction::Received, at(0), &frame(60), None); // other interface
        assert_eq!(s.lost(), 3);
        assert_eq!(s.drain(|_| {}), 2);
        tap.record(0, Direction::Received, at(1), &frame(60), None);
        assert_eq!(s.drain(|_| {}), 1);
    }
}
