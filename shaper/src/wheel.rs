//! A hierarchical timing wheel of timer ids (one per pipe instance, never one per
//! packet).
//!
//! Ten levels of 64 slots; level `l` slots are `64^l` ticks wide, so the wheel spans
//! 2^60 ticks (12 years of a 3 GHz TSC) with a 1-tick resolution at level 0. A
//! timer lives in the level of the highest 6-bit digit in which its deadline differs
//! from the wheel's current time; when time reaches its slot it cascades down, and
//! fires once its exact deadline is due. Each level keeps a 64-bit occupancy map, so
//! finding the next non-empty slot is a rotate and a `trailing_zeros`, whatever the
//! gap. Slots are intrusive doubly linked lists through the entry array: schedule,
//! reschedule and cancel are O(1) and never allocate once the id space is sized.
//!
//! Why not one timer per packet (Carousel's per-packet timestamps)? Within a pipe
//! instance, packets leave the link in order and the delay is constant, so the delay
//! line is a FIFO whose head is the only deadline that matters: one timer per
//! instance, re-armed to min(link free, delay line head).

const BITS: u32 = 6;
const SLOTS: usize = 1 << BITS;
const LEVELS: usize = 10;
const MAX_SPAN: u64 = 1 << (BITS as usize * LEVELS);
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    deadline: u64,
    next: u32,
    prev: u32,
    level: u8,
    slot: u8,
    armed: bool,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            deadline: 0,
            next: NIL,
            prev: NIL,
            level: 0,
            slot: 0,
            armed: false,
        }
    }
}

/// Timer wheel over ids `0..capacity`.
#[derive(Debug, Clone)]
pub struct TimerWheel {
    elapsed: u64,
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    entries: Vec<Entry>,
    armed: usize,
}

impl TimerWheel {
    /// A wheel whose current time is `now`, with room for ids `0..capacity`.
    pub fn new(now: u64, capacity: usize) -> Self {
        TimerWheel {
            elapsed: now,
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            entries: vec![Entry::default(); capacity],
            armed: 0,
        }
    }

    /// Makes room for ids below `n` (allocates only when growing).
    pub fn ensure(&mut self, n: usize) {
        if self.entries.len() < n {
            self.entries.resize(n, Entry::default());
        }
    }

    /// The time the wheel has advanced to.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Armed timers.
    pub fn len(&self) -> usize {
        self.armed
    }

    pub fn is_empty(&self) -> bool {
        self.armed == 0
    }

    /// The exact deadline of `id`, if armed.
    pub fn deadline(&self, id: u32) -> Option<u64> {
        let e = self.entries.get(id as usize)?;
        e.armed.then_some(e.deadline)
    }

    /// Arms `id` for `deadline` (re-arms if armed). A deadline in the past fires on
    /// the next [`advance`](Self::advance).
    pub fn schedule(&mut self, id: u32, deadline: u64) {
        self.ensure(id as usize + 1);
        let e = &self.entries[id as usize];
        if e.armed && e.deadline == deadline {
            // Where it is linked is still right (a slot the wheel has not passed
            // yet, cascading as time reaches it). Every enqueue into a backlogged
            // pipe re-arms it for the same time: nothing to do.
            return;
        }
        if self.entries[id as usize].armed {
            self.unlink(id);
        } else {
            self.armed += 1;
        }
        let e = &mut self.entries[id as usize];
        e.deadline = deadline;
        e.armed = true;
        self.link(id);
    }

    /// Disarms `id` (no-op if not armed).
    pub fn cancel(&mut self, id: u32) {
        if self.entries.get(id as usize).is_some_and(|e| e.armed) {
            self.unlink(id);
            self.entries[id as usize].armed = false;
            self.armed -= 1;
        }
    }

    /// A lower bound on the earliest armed deadline (exact once the timer has
    /// cascaded to level 0); `None` when nothing is armed. Polling at this time is
    /// always safe and makes progress.
    pub fn next_expiration(&self) -> Option<u64> {
        self.next_slot()
            .map(|(_, _, start)| start.max(self.elapsed))
    }

    /// Moves time to `now` (never backwards) and appends every id whose deadline is
    /// `<= now` to `fired`, disarming it.
    pub fn advance(&mut self, now: u64, fired: &mut Vec<u32>) {
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now {
                break;
            }
            self.elapsed = self.elapsed.max(start);
            let mut id = self.heads[level][slot];
            self.heads[level][slot] = NIL;
            self.occupied[level] &= !(1u64 << slot);
            while id != NIL {
                let next = self.entries[id as usize].next;
                let e = &mut self.entries[id as usize];
                e.next = NIL;
                e.prev = NIL;
                if e.deadline <= now {
                    e.armed = false;
                    self.armed -= 1;
                    fired.push(id);
                } else {
                    self.link(id);
                }
                id = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// (level, slot, slot start time) of the earliest non-empty slot.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for level in 0..LEVELS {
            let occ = self.occupied[level];
            if occ == 0 {
                continue;
            }
            let shift = BITS as usize * level;
            let now_slot = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
            let rotated = occ.rotate_right(now_slot as u32);
            let slot = (rotated.trailing_zeros() as usize + now_slot) & (SLOTS - 1);
            let slot_range = 1u64 << shift;
            let level_range = slot_range << BITS;
            let level_start = self.elapsed & !(level_range - 1);
            let mut start = level_start + slot as u64 * slot_range;
            if slot < now_slot {
                // Wrapped into the next turn of this level (only possible at the top).
                start = start.wrapping_add(level_range);
            }
            return Some((level, slot, start));
        }
        None
    }

    fn link(&mut self, id: u32) {
        let deadline = self.entries[id as usize].deadline;
        let place = deadline
            .max(self.elapsed)
            .min(self.elapsed.saturating_add(MAX_SPAN - 1));
        let masked = (self.elapsed ^ place) | (SLOTS as u64 - 1);
        let significant = 63 - masked.leading_zeros() as usize;
        let level = (significant / BITS as usize).min(LEVELS - 1);
        let slot = ((place >> (BITS as usize * level)) as usize) & (SLOTS - 1);
        let head = self.heads[level][slot];
        {
            let e = &mut self.entries[id as usize];
            e.level = level as u8;
            e.slot = slot as u8;
            e.prev = NIL;
            e.next = head;
        }
        if head != NIL {
            self.entries[head as usize].prev = id;
        }
        self.heads[level][slot] = id;
        self.occupied[level] |= 1u64 << slot;
    }

    fn unlink(&mut self, id: u32) {
        let Entry {
            prev,
            next,
            level,
            slot,
            ..
        } = self.entries[id as usize];
        let (level, slot) = (level as usize, slot as usize);
        if prev == NIL {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1u64 << slot);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        let e = &mut self.entries[id as usize];
        e.prev = NIL;
        e.next = NIL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Drives the wheel by `next_expiration` and checks every timer fires exactly at
    /// its deadline, against a naive sorted list.
    #[test]
    fn fires_exactly_at_deadlines_against_reference() {
        let mut rng = Rng::new(7);
        let mut w = TimerWheel::new(1_000, 0);
        let mut expect: Vec<(u64, u32)> = Vec::new();
        for id in 0..500u32 {
            let span = match id % 4 {
                0 => 50,
                1 => 5_000,
                2 => 3_000_000,
                _ => 1 << 40,
            };
            let d = 1_000 + rng.next_u64() % span;
            w.schedule(id, d);
            expect.push((d, id));
        }
        // Re-arm and cancel some.
        for id in (0..500u32).step_by(7) {
            let d = 1_000 + rng.next_u64() % 100_000;
            w.schedule(id, d);
            expect.retain(|&(_, i)| i != id);
            expect.push((d, id));
        }
        for id in (3..500u32).step_by(11) {
            w.cancel(id);
            expect.retain(|&(_, i)| i != id);
        }
        expect.sort();
        let mut fired = Vec::new();
        let mut got: Vec<(u64, u32)> = Vec::new();
        while let Some(t) = w.next_expiration() {
            fired.clear();
            w.advance(t, &mut fired);
            fired.sort();
            for &id in &fired {
                got.push((t, id));
            }
        }
        assert_eq!(got, expect);
        assert!(w.is_empty());
    }

    #[test]
    fn coarse_polling_fires_everything_due() {
        let mut w = TimerWheel::new(0, 4);
        w.schedule(0, 10);
        w.schedule(1, 100_000);
        w.schedule(2, 99_999_999);
        w.schedule(3, 5);
        let mut fired = Vec::new();
        w.advance(100_000, &mut fired);
        fired.sort();
        assert_eq!(fired, vec![0, 1, 3]);
        assert_eq!(w.deadline(2), Some(99_999_999));
        // A deadline in the past fires at the next advance.
        w.schedule(3, 50);
        fired.clear();
        w.advance(100_000, &mut fired);
        assert_eq!(fired, vec![3]);
        fired.clear();
        w.advance(u64::MAX / 2, &mut fired);
        assert_eq!(fired, vec![2]);
    }
}
