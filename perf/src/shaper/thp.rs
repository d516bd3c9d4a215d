//! The benchmark's heap on transparent huge pages, as vnetd's is: the daemon
//! re-executes itself with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`
//! (`controlplane/src/daemon/heap.rs`), so in production a shaper's queue and
//! slot tables (tens of MB at 100,000 flows) sit on 2 MiB pages, and DPDK's
//! `rte_sched`, measured beside it, runs on hugepages too. On 4 KiB pages every
//! flow's queue is also a TLB miss, which the benchmark would charge to the
//! scheduler although vnetd never pays it. `SHAPER_BENCH_NO_THP=1` keeps 4 KiB
//! pages (to see what they cost).
/// Re-executes the benchmark with THP-backed malloc the way the daemon does
/// (same conditions: the kernel offers THP on request, not done yet).
pub fn reexec_with_huge_heap() {
    controlplane::daemon::reexec_with_huge_heap_unless("SHAPER_BENCH_NO_THP", "shaper_bench");
}

/// How much of this process's anonymous memory is on huge pages (kB), for the
/// report: says whether the tunable took.
pub fn anon_huge_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = s.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
