//! One conversion from DPDK's return codes (negative errno, or -1 with rte_errno
//! set) into `Result`.
use std::ffi::CStr;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkError {
    /// What we were doing, e.g. "rte_eth_dev_configure(port 0)".
    pub op: String,
    /// Positive errno value.
    pub errno: i32,
}

pub type Result<T> = std::result::Result<T, DpdkError>;

impl DpdkError {
    pub fn new(op: impl Into<String>, errno: i32) -> Self {
        Self {
            op: op.into(),
            errno: errno.abs(),
        }
    }

    /// For calls that return NULL or -1 and leave the reason in rte_errno.
    pub fn from_rte_errno(op: impl Into<String>) -> Self {
        // SAFETY: reads this thread's rte_errno through the C shim.
        let e = unsafe { dpdk_sys::vnetd_rte_errno() };
        Self::new(op, e)
    }
}

/// Maps a DPDK return code (`< 0` is `-errno`) to a Result carrying the value.
pub fn check(ret: i32, op: impl FnOnce() -> String) -> Result<i32> {
    if ret < 0 {
        Err(DpdkError::new(op(), ret))
    } else {
        Ok(ret)
    }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: rte_strerror returns a pointer to a static or thread-local string.
        let msg = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(self.errno)) };
        write!(
            f,
            "{} failed: {} (errno {})",
            self.op,
            msg.to_string_lossy(),
            self.errno
        )
    }
}

impl std::error::Error for DpdkError {}
