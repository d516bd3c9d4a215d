//! `vnetctl -v NAME capture`: a vnet's frames as a pcap stream over the API.
//! The dataplane's side (the tap and its buffers) is `dataplane::capture`;
//! here the control plane drains it, filters and writes pcap.
pub mod filter;
pub mod pcap;
mod stream;

pub use stream::{CaptureOptions, CaptureStream};
