//! What the express lane counts of the frames of a burst over many tenants that
//! it sent: per worker, one dense array of 32-byte entries indexed by a small
//! number each vnet's counters hold (`SentIndex`) and its (port, VLAN) demux
//! slots copy.
//!
//! Why not the vnet's own counter slot: with 10,000 tenants in a burst each
//! frame's slot is another cache line (128 bytes a vnet and worker, 1.25 MiB
//! for a worker), so counting cost a miss a frame. Dense, the same counts of
//! 10,000 vnets take 320 KiB a worker, which stays in L2 between two frames of
//! one tenant where the padded slots did not.
//!
//! A sent frame counts one packet received, forwarded and sent, its bytes as
//! received and as sent: three numbers (and a fourth for the rare frame with
//! no room for its new header). The scrape adds them to the vnet's
//! totals (`VnetCounters::totals`). An index is handed out again only after
//! the counters that held it were dropped, which happens after every worker let
//! go of the tables naming it (`publish`): it is zeroed then, so a vnet that
//! gets a reused index starts from zero and no count of the old one reaches it.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

/// One vnet's counts on one worker; two a cache line, never straddling one.
#[derive(Default)]
#[repr(C, align(32))]
pub struct SentCounts {
    /// Frames sent: each one received, forwarded and sent.
    pub packets: AtomicU64,
    /// Bytes as received, of those and of `no_buffer`'s.
    pub rx_bytes: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// Frames forwarded but dropped for want of headroom for a longer header
    /// (`DropReason::NoBuffer`), as the general path counts them.
    pub no_buffer: AtomicU64,
}

/// Entries a worker's array has; indices are below this (index 0 is none).
pub const SENT_SLOTS: usize = 1 << 20;

/// One worker's entries.
pub type SentArray = [SentCounts; SENT_SLOTS];

/// Workers that have an array; a worker above counts nothing here (the express
/// lane then leaves its bursts over many tenants to the general path).
const MAX_WORKERS: usize = 256;

/// The arrays, made on first use and never freed (32 MiB of address space
/// each, of which only the pages of the indices in use are touched).
static ARRAYS: [OnceLock<&'static SentArray>; MAX_WORKERS] =
    [const { OnceLock::new() }; MAX_WORKERS];

/// Indices never handed out start at `next`; freed ones wait in `free`.
struct Indices {
    next: u32,
    free: Vec<u32>,
}

static INDICES: Mutex<Indices> = Mutex::new(Indices {
    next: 1,
    free: Vec::new(),
});

/// Worker `w`'s array, `None` when it has none (no counters made for it yet,
/// or above `MAX_WORKERS`).
#[inline(always)]
pub fn worker(w: usize) -> Option<&'static SentArray> {
    ARRAYS.get(w).and_then(|a| a.get().copied())
}

/// A zeroed array made without writing it: `calloc` of fresh pages. (The
/// allocator zeroes by writing for alignments above 16, so the array is
/// aligned by hand in a block 32 bytes longer.)
fn new_array() -> &'static SentArray {
    use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};
    let size = std::mem::size_of::<SentArray>() + 32;
    let layout = Layout::from_size_align(size, 16).expect("a valid layout");
    // SAFETY: `layout` has a non-zero size. The block is never freed, so the
    // reference is 'static; all-zero bytes are valid `AtomicU64`s; the offset
    // keeps it inside the block (at most 16 bytes of the 32 spare are skipped).
    unsafe {
        let p = alloc_zeroed(layout);
        if p.is_null() {
            handle_alloc_error(layout);
        }
        let p = p.add(p.align_offset(32));
        &*p.cast::<SentArray>()
    }
}

/// `SentCounts` summed over workers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SentTotals {
    pub packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub no_buffer: u64,
}

/// A vnet's index in every worker's array, for as long as it lives: returned
/// (zeroed) when dropped. `get` is 0 when none was left (the express lane
/// leaves such a vnet's bursts over many tenants to the general path), and
/// for the `Default` one, which holds none.
#[derive(Debug, Default)]
pub struct SentIndex(u32);

impl SentIndex {
    /// An index with the arrays of workers `0..workers` made.
    pub fn new(workers: usize) -> SentIndex {
        for a in ARRAYS.iter().take(workers) {
            a.get_or_init(new_array);
        }
        let mut ix = INDICES.lock().unwrap_or_else(|e| e.into_inner());
        let i = match ix.free.pop() {
            Some(i) => i,
            None if (ix.next as usize) < SENT_SLOTS => {
                ix.next += 1;
                ix.next - 1
            }
            None => 0,
        };
        SentIndex(i)
    }

    #[inline(always)]
    pub fn get(&self) -> u32 {
        self.0
    }

    /// The sums over workers `0..workers`.
    pub fn totals(&self, workers: usize) -> SentTotals {
        let i = self.0 as usize;
        let mut t = SentTotals::default();
        if i == 0 {
            return t;
        }
        for a in (0..workers).filter_map(worker) {
            let c = &a[i];
            t.packets += c.packets.load(Relaxed);
            t.rx_bytes += c.rx_bytes.load(Relaxed);
            t.tx_bytes += c.tx_bytes.load(Relaxed);
            t.no_buffer += c.no_buffer.load(Relaxed);
        }
        t
    }
}

impl Drop for SentIndex {
    fn drop(&mut self) {
        let i = self.0 as usize;
        if i == 0 {
            return;
        }
        // No worker writes the entry any more (the tables that named it are
        // gone): zero it for the next owner.
        for a in ARRAYS.iter().filter_map(OnceLock::get) {
            let c = &a[i];
            c.packets.store(0, Relaxed);
            c.rx_bytes.store(0, Relaxed);
            c.tx_bytes.store(0, Relaxed);
            c.no_buffer.store(0, Relaxed);
        }
        INDICES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .free
            .push(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::bump;

    #[test]
    fn entries_are_aligned_and_an_index_is_per_owner() {
        let (a, b) = (SentIndex::new(2), SentIndex::new(2));
        assert_ne!(a.get(), 0);
        assert_ne!(a.get(), b.get());
        let w1 = worker(1).unwrap();
        assert_eq!(w1.as_ptr() as usize % 32, 0);
        assert_eq!(std::mem::size_of::<SentCounts>(), 32);
        bump(&worker(0).unwrap()[a.get() as usize].packets, 2);
        bump(&w1[a.get() as usize].packets, 3);
        bump(&w1[a.get() as usize].tx_bytes, 60);
        bump(&w1[a.get() as usize].no_buffer, 1);
        let t = |packets, tx_bytes, no_buffer| SentTotals {
            packets,
            rx_bytes: 0,
            tx_bytes,
            no_buffer,
        };
        assert_eq!(a.totals(2), t(5, 60, 1));
        assert_eq!(a.totals(1), t(2, 0, 0));
        assert_eq!(b.totals(2), t(0, 0, 0));
    }

    #[test]
    fn a_reused_index_starts_from_zero() {
        // Other tests take indices concurrently: hold several so that one of
        // them comes back.
        let mut held = Vec::new();
        for _ in 0..4 {
            let s = SentIndex::new(1);
            let e = &worker(0).unwrap()[s.get() as usize];
            bump(&e.rx_bytes, 7);
            bump(&e.no_buffer, 1);
            held.push(s.get());
            drop(s);
            let again = SentIndex::new(1);
            // Whichever index it got, it reads zero.
            assert_eq!(again.totals(1), SentTotals::default());
            if held.contains(&again.get()) {
                return;
            }
        }
        panic!("no index was reused: {held:?}");
    }
}
