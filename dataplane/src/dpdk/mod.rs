//! Safe, owned wrappers over the DPDK objects vnetd uses. All `unsafe` FFI of
//! the dataplane lives in this folder; everything above it is safe Rust.
mod eal;
mod error;
mod lcore;
mod mbuf;
mod mempool;
mod port;
mod tsc;

pub use eal::Eal;
pub use error::{DpdkError, Result};
pub use lcore::{launch_worker, wait_all_workers, worker_lcores, LcoreId};
pub use mbuf::{Mbuf, BURST_MAX};
pub use mempool::Mempool;
pub use port::{device_name, is_vdev, Port, PortId, PortStats, QueueId, RxBurst, TxBuffer};
pub use tsc::{tsc, tsc_hz};
