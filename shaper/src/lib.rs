#![forbid(unsafe_code)]
//! dummynet-style shaper (pipes, queues, schedulers). See issue 5.

pub mod units;

pub use units::{Bandwidth, Delay, ParseBandwidthError, ParseDelayError};
