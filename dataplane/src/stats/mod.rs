//! Packet counters: written by one worker each, summed when scraped.
//!
//! Every counter slot belongs to exactly one worker, so increments are a plain
//! load + store of an `AtomicU64` (no read-modify-write, no lock prefix); the
//! atomic type only makes the scraper's concurrent reads well-defined.
mod counters;
mod drop_reason;
pub mod sent;
pub mod stage_cycles;

pub use counters::{
    bump, sent_index, PortCounters, PortWorkerCounters, VnetCounters, VnetSlots, VnetTotals,
    VnetWorkerCounters,
};
pub use drop_reason::{DropReason, PortDropReason};
