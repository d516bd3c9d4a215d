//! An owned packet buffer.
use super::mempool::Mempool;
use crate::frame::{Frame, RxChecksum};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The largest burst vnetd asks of a PMD (and the size of its fixed burst arrays).
pub const BURST_MAX: usize = 32;

/// One single-segment mbuf, freed on drop. Not `Clone` (a clone would double-free)
/// and not `Send`: a worker's packets stay on its lcore. Transparent over its
/// pointer, so `Option<Mbuf>` is a nullable `*mut rte_mbuf` (see `RxBurst`).
#[repr(transparent)]
pub struct Mbuf {
    raw: NonNull<dpdk_sys::rte_mbuf>,
    _not_send: PhantomData<*mut u8>,
}

impl Mbuf {
    /// Takes ownership of a raw mbuf handed out by DPDK (rx_burst, alloc).
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nobody else will free.
    #[inline]
    pub unsafe fn from_raw(raw: NonNull<dpdk_sys::rte_mbuf>) -> Mbuf {
        Mbuf {
            raw,
            _not_send: PhantomData,
        }
    }

    /// Gives up ownership (to tx_burst).
    #[inline]
    pub fn into_raw(self) -> *mut dpdk_sys::rte_mbuf {
        let p = self.raw.as_ptr();
        std::mem::forget(self);
        p
    }

    #[inline]
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: returns NULL when the pool is empty.
        let p = unsafe { dpdk_sys::rte_pktmbuf_alloc(pool.as_ptr()) };
        // SAFETY: a fresh mbuf is ours alone.
        NonNull::new(p).map(|raw| unsafe { Mbuf::from_raw(raw) })
    }

    #[inline]
    fn m(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: we own a valid mbuf.
        unsafe { self.raw.as_ref() }
    }

    #[inline]
    fn m_mut(&mut self) -> &mut dpdk_sys::rte_mbuf {
        // SAFETY: we own a valid mbuf, exclusively.
        unsafe { self.raw.as_mut() }
    }

    /// The port the PMD received this on.
    #[inline]
    pub fn rx_port(&self) -> u16 {
        self.m().port
    }

    /// More than one segment: vnetd's packet path handles single-segment frames only.
    #[inline]
    pub fn is_chained(&self) -> bool {
        self.m().nb_segs != 1
    }
}

impl Frame for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: [buf_addr+data_off, +data_len) lies inside the mbuf's buffer.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m_mut();
        // SAFETY: as in data(), and we hold the only reference (refcnt 1, not shared).
        unsafe {
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    // prepend and adj do what rte_pktmbuf_prepend / rte_pktmbuf_adj do for a
    // single-segment mbuf (the only kind on the packet path), without a call into
    // the C shim per frame.
    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        let m = self.m_mut();
        if n > m.data_off as usize {
            return false;
        }
        m.data_off -= n as u16;
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        true
    }

    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        let m = self.m_mut();
        if n > m.data_len as usize {
            return false;
        }
        m.data_off += n as u16;
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        true
    }

    #[inline]
    fn set_len(&mut self, len: usize) -> bool {
        let m = self.m_mut();
        let room = m.buf_len as usize - m.data_off as usize;
        if len > room || m.nb_segs != 1 {
            return false;
        }
        m.data_len = len as u16;
        m.pkt_len = len as u32;
        true
    }

    #[inline(always)]
    fn shrink(&mut self, len: usize) {
        let m = self.m_mut();
        // Padding is rare: a frame without it is one compare. A chained mbuf
        // (whose `pkt_len` counts its other segments) stays whole, as
        // `set_len` leaves it.
        if len < usize::from(m.data_len) && m.nb_segs == 1 {
            m.data_len = len as u16;
            m.pkt_len = len as u32;
        }
    }

    #[inline]
    fn capacity(&self) -> usize {
        let m = self.m();
        m.buf_len as usize - m.data_off as usize
    }

    #[inline]
    fn stripped_vlan(&self) -> Option<u16> {
        let m = self.m();
        if m.ol_flags & dpdk_sys::RTE_MBUF_F_RX_VLAN_STRIPPED as u64 != 0 {
            Some(m.vlan_tci & 0x0fff)
        } else {
            None
        }
    }

    #[inline]
    fn rx_ipv4_checksum(&self) -> RxChecksum {
        let f = self.m().ol_flags & dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_MASK as u64;
        // No offload on the port (every frame in the benchmarks, on virtual
        // devices) is one test; the NIC's verdicts are mapped out of line (as one
        // inlined match the three outcomes became a jump table: ~10 instructions
        // a frame on the no-offload path).
        if f == dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN as u64 {
            RxChecksum::Unknown
        } else {
            nic_checksum_verdict(f)
        }
    }

    #[inline]
    fn clear_offload_flags(&mut self) {
        // Forwarded frames must not carry RX metadata into TX (a PMD could read
        // stale TX flags from the same bits).
        self.m_mut().ol_flags = 0;
    }
}

/// GOOD and BAD are the NIC's verdicts; NONE ("the data is sound but the field
/// was not filled in", from virtual NICs) is not GOOD: a forwarded frame must
/// carry a correct checksum, so software looks at it.
#[inline(never)]
fn nic_checksum_verdict(f: u64) -> RxChecksum {
    if f == dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD as u64 {
        RxChecksum::Good
    } else if f == dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_BAD as u64 {
        RxChecksum::Bad
    } else {
        RxChecksum::Unknown
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; it goes back to its pool.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.raw.as_ptr()) };
    }
}
