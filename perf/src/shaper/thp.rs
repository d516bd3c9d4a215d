//! The benchmark's heap on transparent huge pages, as vnetd's is: the daemon
//! re-executes itself with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`
//! (`controlplane/src/daemon/heap.rs`), so in production a shaper's queue and
//! slot tables (tens of MB at 100,000 flows) sit on 2 MiB pages, and DPDK's
//! `rte_sched`, measured beside it, runs on hugepages too. On 4 KiB pages every
//! flow's queue is also a TLB miss, which the benchmark would charge to the
//! scheduler although vnetd never pays it. `SHAPER_BENCH_NO_THP=1` keeps 4 KiB
//! pages (to see what they cost).
use std::ffi::OsString;
use std::os::unix::process::CommandExt;

const TUNABLE: &str = "glibc.malloc.hugetlb=1";

/// Re-executes the benchmark with THP-backed malloc when the kernel offers THP on
/// request (`madvise` mode) and it has not been done; returns when it is not done.
pub fn reexec_with_huge_heap() {
    if std::env::var_os("SHAPER_BENCH_NO_THP").is_some() || !cfg!(target_env = "gnu") {
        return;
    }
    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if current.contains("glibc.malloc.hugetlb") {
        return;
    }
    match std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled") {
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
    eprintln!("shaper_bench: re-executing with {TUNABLE} failed: {err}; 4 KiB pages");
}

/// How much of this process's anonymous memory is on huge pages (kB), for the
/// report: says whether the tunable took.
pub fn anon_huge_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = s.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
