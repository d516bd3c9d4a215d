//! Transparent huge pages for the heap. The per-vnet tables (FIBs, neighbor maps,
//! counters) live on the Rust heap, not in DPDK's hugepage memory; with 4 KiB pages
//! every frame that touches another tenant's tables also misses the TLB. Measured
//! with 10,000 vnets (perf/README.md): 0.3 → 1.5 Mpps from this alone.
//!
//! glibc backs malloc with THP only when told before the process starts
//! (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`), so the daemon re-executes itself once
//! with that tunable added, when the kernel offers THP on request (`madvise` mode).
//! `VNETD_NO_THP=1` turns this off.
use std::ffi::OsString;
use std::os::unix::process::CommandExt;

const TUNABLE: &str = "glibc.malloc.hugetlb=1";
const THP_MODE: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// Re-executes the running binary with THP-backed malloc, if that helps and has not
/// been done; returns only when it is not done (or the exec failed, said on stderr).
pub fn reexec_with_huge_heap() {
    reexec_with_huge_heap_unless("VNETD_NO_THP", "vnetd");
}

/// `reexec_with_huge_heap` for another program (the benchmarks that measure
/// vnetd's parts on the heap vnetd has): `opt_out` is its environment variable
/// to keep 4 KiB pages, `program` names it in the warning.
pub fn reexec_with_huge_heap_unless(opt_out: &str, program: &str) {
    if std::env::var_os(opt_out).is_some() || !cfg!(target_env = "gnu") {
        return;
    }
    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if current.contains("glibc.malloc.hugetlb") {
        return; // already done, or the operator chose
    }
    // "always": every large mapping gets huge pages anyway; "never": none to get.
    match std::fs::read_to_string(THP_MODE) {
        Ok(mode) if mode.contains("[madvise]") => {}
        _ => return,
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let tunables = if current.is_empty() {
        TUNABLE.to_string()
    } else {
        format!("{current}:{TUNABLE}")
    };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let err = std::process::Command::new(&exe)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .exec();
    eprintln!(
        "{program}: warning: re-executing {} with {TUNABLE} failed: {err}; the heap stays on 4 KiB pages",
        exe.display()
    );
}
