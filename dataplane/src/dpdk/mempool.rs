//! Packet buffer pools.
use super::error::{DpdkError, Result};
use std::ffi::CString;
use std::ptr::NonNull;

/// An mbuf pool, freed on drop (all its mbufs must have been returned by then).
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; per-lcore caches
// are indexed by the calling lcore, not by the handle.
unsafe impl Send for Mempool {}
// SAFETY: as above.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// `n` mbufs (best as 2^k - 1), each with room for a 1500-byte frame plus headroom.
    pub fn new(name: &str, n: u32, cache: u32, socket: i32) -> Result<Mempool> {
        let cname = CString::new(name).map_err(|_| DpdkError::new("mempool name", libc::EINVAL))?;
        let data_room = dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;
        // SAFETY: plain constructor; returns NULL and sets rte_errno on failure.
        let p = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, socket)
        };
        NonNull::new(p).map(|raw| Mempool { raw }).ok_or_else(|| {
            DpdkError::from_rte_errno(format!("rte_pktmbuf_pool_create({name}, {n} mbufs)"))
        })
    }

    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }

    /// Mbufs currently available (in the ring and the caches).
    pub fn available(&self) -> u32 {
        // SAFETY: read-only statistic.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs currently handed out.
    pub fn in_use(&self) -> u32 {
        // SAFETY: read-only statistic.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: we own the pool; nothing references it after the ports are closed.
        unsafe { dpdk_sys::rte_mempool_free(self.raw.as_ptr()) };
    }
}
