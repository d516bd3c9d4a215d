//! A cache prefetch hint. With 100,000 flow queues the tables do not fit in the
//! caches, and each packet's lookup is a chain of dependent misses (hash bucket →
//! queue → its tail slot). Hinting the lines of a whole burst first lets those
//! misses overlap instead of being paid one after the other (measured in
//! `perf/results/shaper.md`). The only `unsafe` in the crate.

/// Hints that `x`'s cache line will be read soon. Never faults, never changes
/// anything: a no-op where the target has no prefetch instruction.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 only hints the cache; it cannot fault or write, and `x` is
    // a valid reference anyway. SSE is part of the x86-64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Hints the element at `i` of `v`, if there is one.
#[inline(always)]
pub(crate) fn prefetch_at<T>(v: &[T], i: usize) {
    if let Some(x) = v.get(i) {
        prefetch(x);
    }
}
