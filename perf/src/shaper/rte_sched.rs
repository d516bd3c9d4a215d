//! DPDK's `rte_sched` (the hierarchical scheduler of DPDK's QoS framework) driven
//! the way the shaper benchmark drives vnetd's shaper: one subport, `pipes` pipes
//! (one per flow), every packet in traffic class 0, bursts of enqueue + dequeue on
//! real mbufs that are recycled (no allocation in the timed loop). EAL must be up.

use std::ffi::CString;
use std::ptr::{null_mut, NonNull};

use dpdk_sys as sys;

/// A pool of mbufs with a length set (rte_sched charges `pkt_len`).
pub struct MbufPool {
    pool: NonNull<sys::rte_mempool>,
}

impl MbufPool {
    pub fn new(n: u32) -> Result<Self, String> {
        let name = CString::new(format!("shbench{n}")).unwrap();
        // SAFETY: valid name; EAL is up.
        let p = unsafe { sys::rte_pktmbuf_pool_create(name.as_ptr(), n, 256, 0, 1536 + 128, 0) };
        NonNull::new(p)
            .map(|pool| MbufPool { pool })
            .ok_or_else(|| format!("rte_pktmbuf_pool_create({n} mbufs) failed"))
    }

    /// `n` mbufs whose lengths cycle through `lens`.
    pub fn take(&self, n: usize, lens: &[u16]) -> Result<Vec<*mut sys::rte_mbuf>, String> {
        (0..n)
            .map(|i| {
                // SAFETY: the pool is valid; a fresh mbuf has room for 2048 bytes.
                unsafe {
                    let m = sys::rte_pktmbuf_alloc(self.pool.as_ptr());
                    if m.is_null() || sys::rte_pktmbuf_append(m, lens[i % lens.len()]).is_null() {
                        return Err("out of mbufs".to_string());
                    }
                    Ok(m)
                }
            })
            .collect()
    }
}

pub struct Sched {
    port: NonNull<sys::rte_sched_port>,
    pipes: u32,
}

impl Sched {
    /// A port at `rate` bytes/s with `pipes` pipes (rounded up to a power of two
    /// for the subport, `pipes` of them enabled), each allowed the full rate.
    pub fn new(pipes: u32, rate: u64, qsize: u16) -> Result<Self, String> {
        let tc = |r: u64| [r; 13];
        let mut pipe_profile = sys::rte_sched_pipe_params {
            tb_rate: rate,
            tb_size: 1 << 20,
            tc_rate: tc(rate),
            tc_period: 10,
            tc_ov_weight: 1,
            wrr_weights: [1; 4],
        };
        let mut subport_profile = sys::rte_sched_subport_profile_params {
            tb_rate: rate,
            tb_size: 1 << 20,
            tc_rate: tc(rate),
            tc_period: 10,
        };
        let name = CString::new(format!("shbench_port{pipes}")).unwrap();
        let mut port_params = sys::rte_sched_port_params {
            name: name.as_ptr(),
            socket: 0,
            rate,
            mtu: 1522,
            frame_overhead: 24,
            n_subports_per_port: 1,
            subport_profiles: &mut subport_profile,
            n_subport_profiles: 1,
            n_max_subport_profiles: 1,
            n_pipes_per_subport: pipes.next_power_of_two(),
        };
        // SAFETY: every pointer in the params outlives the call.
        let port = unsafe { sys::rte_sched_port_config(&mut port_params) };
        let port = NonNull::new(port).ok_or("rte_sched_port_config failed")?;
        let s = Sched { port, pipes };
        // rte_sched wants a power of two here too: the spare pipes stay unused.
        let enabled = pipes.next_power_of_two();
        let mut sub = sys::rte_sched_subport_params {
            n_pipes_per_subport_enabled: enabled,
            qsize: [qsize; 13],
            pipe_profiles: &mut pipe_profile,
            n_pipe_profiles: 1,
            n_max_pipe_profiles: 1,
            cman_params: null_mut(),
        };
        // SAFETY: valid port and params.
        let rc = unsafe { sys::rte_sched_subport_config(port.as_ptr(), 0, &mut sub, 0) };
        if rc != 0 {
            return Err(format!("rte_sched_subport_config: {rc}"));
        }
        for p in 0..enabled {
            // SAFETY: valid port; pipe below the enabled count; profile 0 exists.
            let rc = unsafe { sys::rte_sched_pipe_config(port.as_ptr(), 0, p, 0) };
            if rc != 0 {
                return Err(format!("rte_sched_pipe_config({p}): {rc}"));
            }
        }
        Ok(s)
    }

    /// Classifies `m` into pipe `flow % pipes`, traffic class 0.
    ///
    /// # Safety
    /// `m` must be a valid mbuf the caller owns.
    #[inline]
    pub unsafe fn classify(&self, m: *mut sys::rte_mbuf, flow: u32) {
        // SAFETY: the caller guarantees m.
        unsafe {
            sys::rte_sched_port_pkt_write(
                self.port.as_ptr(),
                m,
                0,
                flow % self.pipes,
                0,
                0,
                sys::rte_color_RTE_COLOR_GREEN,
            )
        }
    }

    #[inline]
    pub fn enqueue(&mut self, pkts: &mut [*mut sys::rte_mbuf]) -> usize {
        // SAFETY: pkts are valid mbufs; the port takes or frees each of them.
        unsafe {
            sys::rte_sched_port_enqueue(self.port.as_ptr(), pkts.as_mut_ptr(), pkts.len() as u32)
                as usize
        }
    }

    #[inline]
    pub fn dequeue(&mut self, out: &mut [*mut sys::rte_mbuf]) -> usize {
        // SAFETY: out has room for out.len() pointers.
        unsafe {
            sys::rte_sched_port_dequeue(self.port.as_ptr(), out.as_mut_ptr(), out.len() as u32)
                as usize
        }
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        // SAFETY: the port was created by rte_sched_port_config and is freed once.
        unsafe { sys::rte_sched_port_free(self.port.as_ptr()) }
    }
}
