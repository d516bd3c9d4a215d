//! Ethernet ports: found by device name, configured with one TX queue per
//! worker (lock-free TX) and some RX queues, started, stopped and closed in Drop.
use super::error::{check, DpdkError, Result};
use super::mbuf::{Mbuf, BURST_MAX};
use super::mempool::Mempool;
use std::ffi::CString;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u16);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u16);

/// DPDK's own per-port counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_missed: u64,
    pub rx_nombuf: u64,
}

/// A started port; stopped and closed on drop.
pub struct Port {
    id: PortId,
    name: String,
    mac: [u8; 6],
    rx_queues: u16,
    tx_queues: u16,
    /// The NIC verifies IPv4 header checksums (`Frame::rx_ipv4_checksum`).
    ipv4_checksum: bool,
}

/// `RTE_ETH_RX_OFFLOAD_IPV4_CKSUM` (a macro over RTE_BIT64 that bindgen does not see).
const RX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;

const RX_DESC: u16 = 1024;
const TX_DESC: u16 = 1024;

/// The DPDK device name of a devargs string: what precedes the first ','.
/// PCI addresses without a domain get the default one, as EAL names them.
pub fn device_name(devargs: &str) -> String {
    let name = devargs.split(',').next().unwrap_or("").trim();
    let is_short_pci = name.len() == 7 && name.as_bytes()[2] == b':' && name.as_bytes()[5] == b'.';
    if is_short_pci {
        format!("0000:{name}")
    } else {
        name.to_string()
    }
}

/// True for a DPDK virtual device (`net_tap0`, `net_af_packet1,iface=...`).
pub fn is_vdev(devargs: &str) -> bool {
    devargs.trim_start().starts_with("net_") || devargs.trim_start().starts_with("eth_")
}

impl Port {
    /// Configures and starts the already-probed device named by `devargs`
    /// (vnetd hands every port to EAL as `--vdev`/`-a` at init). Uses up to
    /// `rx_wanted` RX queues (as many as the device has, at least one: a
    /// device that spreads frames over queues must have all of them polled)
    /// and exactly `tx_queues` TX queues.
    pub fn start(devargs: &str, rx_wanted: u16, tx_queues: u16, pool: &Mempool) -> Result<Port> {
        let name = device_name(devargs);
        let cname =
            CString::new(name.clone()).map_err(|_| DpdkError::new("device name", libc::EINVAL))?;
        let mut id = 0u16;
        // SAFETY: looks up a port by name; writes `id` on success.
        check(
            unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) },
            || {
                format!("finding DPDK port {name:?} (was it probed? check the devargs and EAL's log above)")
            },
        )?;
        let op = |what: &str| format!("{what}(port {id} {name})");

        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: fills `info` for a valid port id.
        check(
            unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) },
            || op("rte_eth_dev_info_get"),
        )?;
        let rx_queues = rx_wanted.clamp(1, info.max_rx_queues.max(1));
        if tx_queues > info.max_tx_queues {
            return Err(DpdkError::new(
                format!(
                    "port {name}: {rx_queues} RX / {tx_queues} TX queues wanted (one TX queue per worker), device supports {} / {} \
                     (for net_af_packet add qpairs=N to the devargs)",
                    info.max_rx_queues, info.max_tx_queues
                ),
                libc::EINVAL,
            ));
        }
        let mut conf = dpdk_sys::rte_eth_conf::default();
        // One RX offload: the IPv4 header checksum, where the NIC checks it for free
        // (the software check is ~30 instructions a frame; frames the NIC marks bad
        // are dropped and counted as if software had found them). VLAN tags are
        // parsed in software (a stripped tag is honoured if a PMD strips anyway).
        let ipv4_checksum = info.rx_offload_capa & RX_OFFLOAD_IPV4_CKSUM != 0;
        conf.rxmode.offloads = if ipv4_checksum {
            RX_OFFLOAD_IPV4_CKSUM
        } else {
            0
        };
        conf.txmode.offloads = 0;
        // SAFETY: valid port id and a fully initialised conf.
        check(
            unsafe { dpdk_sys::rte_eth_dev_configure(id, rx_queues, tx_queues, &conf) },
            || op("rte_eth_dev_configure"),
        )?;
        let (mut nb_rx, mut nb_tx) = (RX_DESC, TX_DESC);
        // SAFETY: clamps the descriptor counts to the device's limits.
        check(
            unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nb_rx, &mut nb_tx) },
            || op("rte_eth_dev_adjust_nb_rx_tx_desc"),
        )?;
        // SAFETY: plain getter.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) }.max(0) as u32;
        for q in 0..rx_queues {
            // SAFETY: queue index < configured count; NULL rxconf = device defaults.
            check(
                unsafe {
                    dpdk_sys::rte_eth_rx_queue_setup(
                        id,
                        q,
                        nb_rx,
                        socket,
                        std::ptr::null(),
                        pool.as_ptr(),
                    )
                },
                || op(&format!("rte_eth_rx_queue_setup[q{q}]")),
            )?;
        }
        for q in 0..tx_queues {
            // SAFETY: as above.
            check(
                unsafe { dpdk_sys::rte_eth_tx_queue_setup(id, q, nb_tx, socket, std::ptr::null()) },
                || op(&format!("rte_eth_tx_queue_setup[q{q}]")),
            )?;
        }
        // SAFETY: configured port.
        check(unsafe { dpdk_sys::rte_eth_dev_start(id) }, || {
            op("rte_eth_dev_start")
        })?;
        // Interfaces may carry their own MACs (one per VLAN): accept every unicast frame.
        // Some virtual PMDs have no promiscuous switch; that is fine.
        // SAFETY: started port.
        let _ = unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
        let mut mac = dpdk_sys::rte_ether_addr::default();
        // SAFETY: writes the port's MAC into `mac`.
        check(
            unsafe { dpdk_sys::rte_eth_macaddr_get(id, &mut mac) },
            || op("rte_eth_macaddr_get"),
        )?;
        Ok(Port {
            id: PortId(id),
            name,
            mac: mac.addr_bytes,
            rx_queues,
            tx_queues,
            ipv4_checksum,
        })
    }

    pub fn id(&self) -> PortId {
        self.id
    }
    pub fn device(&self) -> &str {
        &self.name
    }
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
    pub fn rx_queues(&self) -> u16 {
        self.rx_queues
    }
    pub fn tx_queues(&self) -> u16 {
        self.tx_queues
    }
    /// Whether the NIC verifies received IPv4 header checksums.
    pub fn ipv4_checksum_offload(&self) -> bool {
        self.ipv4_checksum
    }

    pub fn stats(&self) -> Result<PortStats> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: fills `s` for a valid port; safe to call from a non-worker thread.
        check(
            unsafe { dpdk_sys::rte_eth_stats_get(self.id.0, &mut s) },
            || format!("rte_eth_stats_get(port {})", self.id.0),
        )?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_missed: s.imissed,
            rx_nombuf: s.rx_nombuf,
        })
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: workers have stopped polling before ports are dropped.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id.0);
            dpdk_sys::rte_eth_dev_close(self.id.0);
        }
    }
}

/// A received burst: a fixed array the worker owns and reuses; frames not taken
/// out are freed when it is refilled or dropped.
pub struct RxBurst {
    /// `Option<Mbuf>` is a nullable mbuf pointer (Mbuf is a transparent NonNull), so
    /// rx_burst writes straight into this array and the packet path takes the frames
    /// out of it; whatever is left in it is freed by drop.
    frames: [Option<Mbuf>; BURST_MAX],
    len: usize,
}

// RxBurst hands its array to rx_burst as `*mut *mut rte_mbuf`.
const _: () =
    assert!(std::mem::size_of::<Option<Mbuf>>() == std::mem::size_of::<*mut dpdk_sys::rte_mbuf>());

impl Default for RxBurst {
    fn default() -> Self {
        RxBurst {
            frames: [const { None }; BURST_MAX],
            len: 0,
        }
    }
}

impl RxBurst {
    /// Polls one RX queue; returns how many frames arrived. Frames of the previous
    /// burst still in the array are freed first.
    #[inline]
    pub fn poll(&mut self, port: PortId, queue: QueueId) -> usize {
        for f in &mut self.frames[..self.len] {
            f.take();
        }
        // SAFETY: the array holds BURST_MAX slots of pointer layout, all None (null)
        // now; rx_burst fills the first n with mbufs it hands over to us; this worker
        // owns the queue.
        let n = unsafe {
            dpdk_sys::rte_eth_rx_burst(
                port.0,
                queue.0,
                self.frames.as_mut_ptr().cast::<*mut dpdk_sys::rte_mbuf>(),
                BURST_MAX as u16,
            )
        };
        self.len = (n as usize).min(BURST_MAX);
        self.len
    }

    /// The frames of the last poll; the packet path takes them out.
    #[inline]
    pub fn frames(&mut self) -> &mut [Option<Mbuf>] {
        &mut self.frames[..self.len]
    }
}

/// Frames waiting for one TX queue of one port (owned by one worker).
pub struct TxBuffer {
    port: PortId,
    queue: QueueId,
    ptrs: [*mut dpdk_sys::rte_mbuf; BURST_MAX],
    len: usize,
}

impl TxBuffer {
    pub fn new(port: PortId, queue: QueueId) -> Self {
        TxBuffer {
            port,
            queue,
            ptrs: [std::ptr::null_mut(); BURST_MAX],
            len: 0,
        }
    }

    /// Queues a frame; sends the buffer when it is full. Returns the number of
    /// frames the NIC refused (freed here). Inlined into every send; the send of
    /// the full buffer (once per 32 frames) is a call.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> u32 {
        // `len` read once into a register: written as `self.ptrs[self.len] = ..;
        // self.len += 1` the compiler reloaded `len` after the pointer store (it
        // cannot tell the store does not overlap it), a store-forwarding wait per
        // frame on a chain through every frame of the burst.
        // Below BURST_MAX (a full buffer is flushed at once): the mask spares
        // the bounds check.
        let n = self.len & (BURST_MAX - 1);
        self.ptrs[n] = m.into_raw();
        self.len = n + 1;
        if n + 1 == BURST_MAX {
            self.flush()
        } else {
            0
        }
    }

    /// Sends what is queued; frees and counts what TX refused.
    #[inline(never)]
    pub fn flush(&mut self) -> u32 {
        if self.len == 0 {
            return 0;
        }
        // SAFETY: the first `len` pointers are mbufs we own; tx_burst takes those it accepts.
        let sent = unsafe {
            dpdk_sys::rte_eth_tx_burst(
                self.port.0,
                self.queue.0,
                self.ptrs.as_mut_ptr(),
                self.len as u16,
            )
        } as usize;
        let refused = self.len - sent;
        for p in &self.ptrs[sent..self.len] {
            // SAFETY: not accepted by the PMD, still ours.
            unsafe { dpdk_sys::rte_pktmbuf_free(*p) };
        }
        self.len = 0;
        refused as u32
    }

    pub fn port(&self) -> PortId {
        self.port
    }
}

impl Drop for TxBuffer {
    fn drop(&mut self) {
        for p in &self.ptrs[..self.len] {
            // SAFETY: queued mbufs never sent are still ours.
            unsafe { dpdk_sys::rte_pktmbuf_free(*p) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_from_devargs() {
        assert_eq!(device_name("net_af_packet0,iface=veth0"), "net_af_packet0");
        assert_eq!(device_name("0000:01:00.0"), "0000:01:00.0");
        assert_eq!(device_name("01:00.1,rxq=2"), "0000:01:00.1");
        assert!(is_vdev("net_null0"));
        assert!(!is_vdev("0000:01:00.0"));
    }
}
