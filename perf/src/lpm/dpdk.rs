//! Owners of DPDK's LPM structures, for the benchmark only: create, add, bulk
//! lookup, free in `Drop`. EAL must be up first ([`init_eal`]).

use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::ptr::NonNull;

use dpdk_sys as sys;

/// Starts EAL once for this process. With `try_hugepages`, reserves 2 MiB hugepages
/// (as root) and uses them when the kernel gave some; otherwise runs on ordinary
/// memory (`--no-huge`). Returns a line saying which.
pub fn init_eal(try_hugepages: bool) -> Result<String, String> {
    let free_huge = || -> u64 {
        std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    if try_hugepages && free_huge() < 512 {
        // Best effort: needs root; harmless when refused.
        let _ = std::fs::write("/proc/sys/vm/nr_hugepages", "1024");
    }
    let huge = try_hugepages && free_huge() >= 512;
    let prefix = format!("--file-prefix=lpmbench{}", std::process::id());
    let mut args = vec![
        "lpm_bench",
        "--no-pci",
        "-l",
        "0",
        "--log-level=lib.eal:error",
    ];
    args.push(&prefix);
    // rte_fib's AVX-512 bulk lookup is only chosen with this (their best case).
    args.push("--force-max-simd-bitwidth=512");
    if huge {
        args.extend(["--in-memory", "-m", "1024"]);
    } else {
        args.extend(["--no-huge", "-m", "2048"]);
    }
    let cargs: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut argv: Vec<*mut c_char> = cargs.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    // SAFETY: argv points at NUL-terminated strings that outlive the call; EAL is
    // initialised once per process (this function's callers call it once).
    let rc = unsafe { sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
    if rc < 0 {
        return Err(format!("rte_eal_init({}) failed: {rc}", args.join(" ")));
    }
    Ok(if huge {
        format!("DPDK on 2 MiB hugepages (`{}`)", args[1..].join(" "))
    } else {
        format!(
            "DPDK on ordinary 4 KiB pages, hugepages unavailable (`{}`)",
            args[1..].join(" ")
        )
    })
}

/// Bytes allocated on DPDK's heap of socket 0 (to measure what a table takes).
pub fn heap_allocated() -> usize {
    let mut stats = sys::rte_malloc_socket_stats::default();
    // SAFETY: stats is a valid out-pointer.
    let rc = unsafe { sys::rte_malloc_get_socket_stats(0, &mut stats) };
    if rc < 0 {
        0
    } else {
        stats.heap_allocsz_bytes
    }
}

fn name(kind: &str) -> CString {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    CString::new(format!("{kind}{}", N.fetch_add(1, Ordering::Relaxed))).unwrap()
}

/// rte_lpm (DIR-24-8), bulk lookup.
pub struct Lpm4(NonNull<sys::rte_lpm>);

impl Lpm4 {
    pub fn new(max_rules: u32, tbl8s: u32) -> Option<Self> {
        let conf = sys::rte_lpm_config {
            max_rules,
            number_tbl8s: tbl8s,
            flags: 0,
        };
        // SAFETY: name and conf are valid for the call.
        NonNull::new(unsafe { sys::rte_lpm_create(name("lpm").as_ptr(), 0, &conf) }).map(Lpm4)
    }

    pub fn add(&mut self, ip: u32, len: u8, nh: u32) -> Result<(), c_int> {
        // SAFETY: self.0 is a live rte_lpm.
        let rc = unsafe { sys::rte_lpm_add(self.0.as_ptr(), ip, len, nh) };
        if rc < 0 {
            Err(rc)
        } else {
            Ok(())
        }
    }

    /// Next hops with `RTE_LPM_LOOKUP_SUCCESS` set on a hit.
    #[inline]
    pub fn lookup_bulk(&self, ips: &[u32], out: &mut [u32]) {
        assert!(out.len() >= ips.len());
        // SAFETY: both slices hold ips.len() elements; the table is live.
        unsafe {
            sys::rte_lpm_lookup_bulk_func(
                self.0.as_ptr(),
                ips.as_ptr(),
                out.as_mut_ptr(),
                ips.len() as u32,
            )
        };
    }
}

impl Drop for Lpm4 {
    fn drop(&mut self) {
        // SAFETY: created by rte_lpm_create, freed once.
        unsafe { sys::rte_lpm_free(self.0.as_ptr()) }
    }
}

/// What rte_fib/rte_fib6 answer on a miss: with 4-byte next hops their top bit is
/// an internal flag, so the largest next hop (and default) they accept is 2^31 - 1.
pub const FIB_MISS: u64 = (1 << 31) - 1;

/// rte_fib with the DIR-24-8 algorithm and 4-byte next hops.
pub struct Fib4(NonNull<sys::rte_fib>);

impl Fib4 {
    pub fn new(max_routes: i32, tbl8s: u32) -> Option<Self> {
        let mut conf = sys::rte_fib_conf {
            type_: sys::rte_fib_type_RTE_FIB_DIR24_8,
            default_nh: FIB_MISS,
            max_routes,
            ..Default::default()
        };
        conf.__bindgen_anon_1.dir24_8 = sys::rte_fib_conf__bindgen_ty_1__bindgen_ty_1 {
            nh_sz: sys::rte_fib_dir24_8_nh_sz_RTE_FIB_DIR24_8_4B,
            num_tbl8: tbl8s,
        };
        // SAFETY: name and conf are valid for the call.
        NonNull::new(unsafe { sys::rte_fib_create(name("fib").as_ptr(), 0, &mut conf) }).map(Fib4)
    }

    pub fn add(&mut self, ip: u32, len: u8, nh: u32) -> Result<(), c_int> {
        // SAFETY: self.0 is a live rte_fib.
        let rc = unsafe { sys::rte_fib_add(self.0.as_ptr(), ip, len, u64::from(nh)) };
        if rc < 0 {
            Err(rc)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn lookup_bulk(&self, ips: &mut [u32], out: &mut [u64]) {
        assert!(out.len() >= ips.len());
        // SAFETY: both slices hold ips.len() elements; the table is live (rte_fib
        // takes `ips` mutably but only reads it).
        unsafe {
            sys::rte_fib_lookup_bulk(
                self.0.as_ptr(),
                ips.as_mut_ptr(),
                out.as_mut_ptr(),
                ips.len() as i32,
            )
        };
    }
}

impl Drop for Fib4 {
    fn drop(&mut self) {
        // SAFETY: created by rte_fib_create, freed once.
        unsafe { sys::rte_fib_free(self.0.as_ptr()) }
    }
}

/// rte_fib6 with the trie algorithm and 4-byte next hops.
pub struct Fib6(NonNull<sys::rte_fib6>);

impl Fib6 {
    pub fn new(max_routes: i32, tbl8s: u32) -> Option<Self> {
        let mut conf = sys::rte_fib6_conf {
            type_: sys::rte_fib6_type_RTE_FIB6_TRIE,
            default_nh: FIB_MISS,
            max_routes,
            ..Default::default()
        };
        conf.__bindgen_anon_1.trie = sys::rte_fib6_conf__bindgen_ty_1__bindgen_ty_1 {
            nh_sz: sys::rte_fib_trie_nh_sz_RTE_FIB6_TRIE_4B,
            num_tbl8: tbl8s,
        };
        // SAFETY: name and conf are valid for the call.
        NonNull::new(unsafe { sys::rte_fib6_create(name("fib6").as_ptr(), 0, &mut conf) }).map(Fib6)
    }

    pub fn add(&mut self, ip: u128, len: u8, nh: u32) -> Result<(), c_int> {
        let bytes = ip.to_be_bytes();
        // SAFETY: bytes is 16 bytes; self.0 is a live rte_fib6.
        let rc = unsafe { sys::rte_fib6_add(self.0.as_ptr(), bytes.as_ptr(), len, u64::from(nh)) };
        if rc < 0 {
            Err(rc)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn lookup_bulk(&self, ips: &mut [[u8; 16]], out: &mut [u64]) {
        assert!(out.len() >= ips.len());
        // SAFETY: both slices hold ips.len() elements; the table is live.
        unsafe {
            sys::rte_fib6_lookup_bulk(
                self.0.as_ptr(),
                ips.as_mut_ptr(),
                out.as_mut_ptr(),
                ips.len() as i32,
            )
        };
    }
}

impl Drop for Fib6 {
    fn drop(&mut self) {
        // SAFETY: created by rte_fib6_create, freed once.
        unsafe { sys::rte_fib6_free(self.0.as_ptr()) }
    }
}

/// rte_lpm6, bulk lookup.
pub struct Lpm6(NonNull<sys::rte_lpm6>);

impl Lpm6 {
    pub fn new(max_rules: u32, tbl8s: u32) -> Option<Self> {
        let conf = sys::rte_lpm6_config {
            max_rules,
            number_tbl8s: tbl8s,
            flags: 0,
        };
        // SAFETY: name and conf are valid for the call.
        NonNull::new(unsafe { sys::rte_lpm6_create(name("lpm6").as_ptr(), 0, &conf) }).map(Lpm6)
    }

    pub fn add(&mut self, ip: u128, len: u8, nh: u32) -> Result<(), c_int> {
        let bytes = ip.to_be_bytes();
        // SAFETY: bytes is 16 bytes; self.0 is a live rte_lpm6.
        let rc = unsafe { sys::rte_lpm6_add(self.0.as_ptr(), bytes.as_ptr(), len, nh) };
        if rc < 0 {
            Err(rc)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn lookup_bulk(&self, ips: &mut [[u8; 16]], out: &mut [i32]) {
        assert!(out.len() >= ips.len());
        // SAFETY: both slices hold ips.len() elements; the table is live.
        unsafe {
            sys::rte_lpm6_lookup_bulk_func(
                self.0.as_ptr(),
                ips.as_mut_ptr(),
                out.as_mut_ptr(),
                ips.len() as u32,
            )
        };
    }
}

impl Drop for Lpm6 {
    fn drop(&mut self) {
        // SAFETY: created by rte_lpm6_create, freed once.
        unsafe { sys::rte_lpm6_free(self.0.as_ptr()) }
    }
}
