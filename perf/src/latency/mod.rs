//! Pieces of the forwarding latency probe (`src/bin/fwd_latency.rs`) that need no
//! DPDK: the capture it replays, the timestamp it writes into each frame's UDP
//! payload, and the histogram the round trips go into. Nothing here allocates once
//! the frames are loaded: the probe's send and receive loop only copies, stamps and
//! counts.

mod histogram;
mod pcap;
mod stamp;

pub use histogram::Histogram;
pub use pcap::load_frames;
pub use stamp::{read_stamp, stamp_offset, write_stamp, STAMP_LEN};
