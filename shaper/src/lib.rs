#![deny(unsafe_code)]
//! dummynet for a poll-mode dataplane: pipes (bandwidth, delay, loss, queue limits,
//! RED/GRED, masks making dynamic per-flow pipes and queues), queues sharing a pipe
//! by weight, and schedulers behind one trait (FIFO, WF2Q+, DRR, PRIO, QFQ,
//! FQ-CoDel). No DPDK and no clock of its own: the caller passes time in ticks, so
//! the dataplane drives it with the TSC and tests with a simulated clock.
//!
//! Entry point: [`ShaperSet`] (one per vnet), built from a [`ShaperConfig`].
//! See `shaper/README.md` for the design (time, memory, cross-core use).

pub mod clock;
pub mod config;
pub mod counters;
pub mod ecn;
pub mod flow;
mod index;
mod link;
mod prefetch;
pub mod queue;
mod red;
mod rng;
pub mod sched;
mod set;
pub mod units;
pub mod wheel;

pub use clock::{Clock, MonotonicClock, SimClock};
pub use config::{
    parse_bytes_text, parse_mask_text, parse_queue_text, parse_red_text, parse_scheduler_name,
    ConfigError, FqCodelConfig, ParseError, PipeConfig, QueueConfig, QueueLimit, RedConfig,
    SchedulerConfig, ShaperConfig,
};
pub use counters::{DropReason, PipeCounters};
pub use flow::{Family, FlowKey, FlowMask};
pub use set::{Fate, Hint, ShaperSet, Target};
pub use units::{Bandwidth, Delay, ParseBandwidthError, ParseDelayError};
