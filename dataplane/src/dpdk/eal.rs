//! The Environment Abstraction Layer: initialised once per process.
use super::error::{DpdkError, Result};
use std::ffi::CString;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, Ordering};

static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// Proof that EAL is up. Dropping it runs `rte_eal_cleanup`; drop ports and
/// mempools first (they borrow nothing, so order is the caller's duty: vnetd
/// keeps the Eal in the outermost scope).
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises EAL with `args` (argv[0] included). Fails if EAL was already
    /// started in this process: DPDK cannot be initialised twice.
    pub fn init(args: &[String]) -> Result<Eal> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::new(
                "rte_eal_init (already initialised in this process)",
                libc::EALREADY,
            ));
        }
        let cargs: Vec<CString> = args
            .iter()
            .map(|a| {
                CString::new(a.as_str()).map_err(|_| {
                    DpdkError::new(format!("EAL argument {a:?} contains NUL"), libc::EINVAL)
                })
            })
            .collect::<Result<_>>()?;
        // EAL may permute argv; give it its own array of pointers that outlives the call.
        let mut argv: Vec<*mut c_char> = cargs.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        // SAFETY: argv points to NUL-terminated strings kept alive by `cargs` for the call.
        let ret = unsafe { dpdk_sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if ret < 0 {
            EAL_STARTED.store(false, Ordering::SeqCst);
            return Err(DpdkError::from_rte_errno(format!(
                "rte_eal_init({})",
                args.join(" ")
            )));
        }
        // DPDK keeps pointers into argv for its lifetime (e.g. for telemetry); leak them on purpose.
        std::mem::forget(cargs);
        std::mem::forget(argv);
        // Measure the TSC's rate now (~100 ms), not on a worker's first use.
        super::tsc_hz();
        Ok(Eal { _private: () })
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: all lcores have returned (the caller waits for workers before dropping).
        unsafe { dpdk_sys::rte_eal_cleanup() };
    }
}
