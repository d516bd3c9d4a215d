//! Safe, owned wrappers over the DPDK objects vnetd uses. All `unsafe` FFI of
//! the dataplane lives in this folder; everything above it is safe Rust.
mod eal;
mod error;
mod lcore;
mod mbuf;
mod mempool;
mod port;

pub use eal::Eal;
pub use error::{DpdkError, Result};
pub use lcore::{launch_worker, wait_all_workers, worker_lcores, LcoreId};
pub use mbuf::{Mbuf, BURST_MAX};
pub use mempool::Mempool;
pub use port::{device_name, is_vdev, Port, PortId, PortStats, QueueId, RxBurst, TxBuffer};

/// TSC cycles since an arbitrary origin (cheap, monotonic on invariant-TSC CPUs).
#[inline]
pub fn tsc() -> u64 {
    // SAFETY: reads the time stamp counter; no memory is touched.
    unsafe { dpdk_sys::rte_rdtsc() }
}

/// TSC ticks per second, as measured by EAL at start-up.
pub fn tsc_hz() -> u64 {
    // SAFETY: plain getter; EAL falls back to a measured value before init.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}
