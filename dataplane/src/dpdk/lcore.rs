//! Worker lcores: launching a Rust closure on a DPDK lcore and waiting for it.
use super::error::{check, Result};
use std::os::raw::{c_int, c_void};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LcoreId(pub u32);

/// The lcores EAL started besides the main one, in order.
pub fn worker_lcores() -> Vec<LcoreId> {
    let mut out = Vec::new();
    // SAFETY: iterating lcore ids only reads EAL's configuration.
    let mut id = unsafe { dpdk_sys::rte_get_next_lcore(u32::MAX, 1, 0) };
    while id < dpdk_sys::RTE_MAX_LCORE {
        out.push(LcoreId(id));
        // SAFETY: as above.
        id = unsafe { dpdk_sys::rte_get_next_lcore(id, 1, 0) };
    }
    out
}

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<Job> leaked by launch_worker, consumed exactly once here.
    let job: Box<Job> = unsafe { Box::from_raw(arg as *mut Job) };
    // A panic must not unwind into C.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(-1)
}

/// Runs `f` on worker lcore `lcore`. The closure's return value is the lcore's exit code.
pub fn launch_worker(lcore: LcoreId, f: impl FnOnce() -> i32 + Send + 'static) -> Result<()> {
    let job: Box<Job> = Box::new(Box::new(f));
    let raw = Box::into_raw(job) as *mut c_void;
    // SAFETY: trampoline takes back ownership of `raw`; on failure we reclaim it.
    let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), raw, lcore.0) };
    if ret < 0 {
        // SAFETY: the launch failed, so the trampoline never ran and never freed it.
        drop(unsafe { Box::from_raw(raw as *mut Job) });
    }
    check(ret, || format!("rte_eal_remote_launch(lcore {})", lcore.0)).map(|_| ())
}

/// Blocks until every worker lcore has returned.
pub fn wait_all_workers() {
    // SAFETY: waits on EAL's lcore state; callable from the main lcore.
    unsafe { dpdk_sys::rte_eal_mp_wait_lcore() };
}
