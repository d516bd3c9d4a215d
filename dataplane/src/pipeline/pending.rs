//! Frames waiting for their next hop's MAC: a fixed number of slots per worker,
//! allocated once; full means the new frame is dropped and counted.
use crate::frame::Frame;
use std::net::IpAddr;

pub(super) struct Held<F> {
    pub vnet_id: u64,
    pub iface: u16,
    pub neighbor: IpAddr,
    pub frame: F,
    pub l3_off: u16,
    pub ethertype: u16,
    pub since: u64,
}

pub struct Pending<F> {
    slots: Vec<Option<Held<F>>>,
    used: usize,
    /// Last solicitation per slot's neighbor (TSC), to pace retries.
    solicited: Vec<u64>,
}

impl<F: Frame> Pending<F> {
    /// Slots per worker: enough to ride out resolution of a few hosts at once.
    pub const DEFAULT_SLOTS: usize = 256;

    pub fn new(slots: usize) -> Self {
        Pending {
            slots: (0..slots).map(|_| None).collect(),
            used: 0,
            solicited: vec![0; slots],
        }
    }

    pub fn len(&self) -> usize {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Holds a frame; gives it back if every slot is taken.
    pub(super) fn push(&mut self, h: Held<F>) -> Result<usize, Held<F>> {
        match self.slots.iter().position(|s| s.is_none()) {
            Some(i) => {
                self.slots[i] = Some(h);
                self.solicited[i] = 0;
                self.used += 1;
                Ok(i)
            }
            None => Err(h),
        }
    }

    /// When the newest solicitation for (vnet, neighbor) went out, if any is pending.
    pub(super) fn last_solicit(&self, vnet_id: u64, neighbor: IpAddr) -> Option<u64> {
        self.slots
            .iter()
            .zip(&self.solicited)
            .filter_map(|(s, t)| {
                s.as_ref()
                    .filter(|h| h.vnet_id == vnet_id && h.neighbor == neighbor)
                    .map(|_| *t)
            })
            .max()
    }

    pub(super) fn mark_solicited(&mut self, i: usize, tsc: u64) {
        self.solicited[i] = tsc;
    }

    /// Takes every held frame out for the caller to send, keep or drop:
    /// `f` returns the frame back to keep it waiting.
    pub(super) fn retain(&mut self, mut f: impl FnMut(Held<F>, u64) -> Option<(Held<F>, u64)>) {
        for i in 0..self.slots.len() {
            if let Some(h) = self.slots[i].take() {
                match f(h, self.solicited[i]) {
                    Some((h, solicited)) => {
                        self.slots[i] = Some(h);
                        self.solicited[i] = solicited;
                    }
                    None => self.used -= 1,
                }
            }
        }
    }

    /// Frees every held frame (worker shutdown).
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.used = 0;
    }
}
