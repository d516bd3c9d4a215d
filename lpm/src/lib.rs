// The measured hot spot needs `unsafe`: the batch lookups compiled for POPCNT and
// AVX-512 after checking the CPU has them (dxr/). Nothing else may.
#![deny(unsafe_code)]
//! Longest-prefix match tables for IPv4 and IPv6.
//!
//! [`Fib4`] and [`Fib6`] map prefixes to caller-chosen next-hop indices
//! ([`NextHop`]). Lookups run on a compact DXR-style structure (see `dxr/mod.rs`):
//! a direct table over the first bits of the address whose slots hold a next hop,
//! a bitmap of the interval starts in the next 8 bits (whose buckets may point
//! deeper), a short sorted run of interval starts, or a deeper direct table. The
//! full IPv4 Internet table takes about 3.5 bytes per prefix, a tenant table of
//! 100 routes a few KiB; the top level grows with the table.
//!
//! Edits rebuild only the slots the edited prefixes overlap. [`Fib4::apply`] takes a
//! batch (a BGP burst) and rebuilds each touched slot once.
//!
//! Tables are plain data (`Send + Sync + Clone`). For live updates with concurrent
//! readers, [`Fib4Writer`] owns the table and publishes read-only [`Lookup4`]
//! snapshots after each batch; [`Fib4Reader`]s on the worker cores never block, never
//! see a half-applied batch, and a snapshot is freed when its last reader lets go
//! (read-copy-update through `arc-swap`).
//!
//! Keys on the packet path are host-order integers: [`Fib4::lookup_u32`],
//! [`Fib4::lookup_batch`] and their IPv6 counterparts.
//!
//! Many small IPv4 tables (one per tenant) looked up in one batch, each key in its
//! own table: [`Fib4::compact`] and [`lookup_each4`] (`compact/mod.rs`).
//!
//! Any `u32` is a valid next hop, [`NO_ROUTE`] included, but `lookup_u32` and
//! `lookup_batch` cannot tell a route to `NO_ROUTE` from a miss (`lookup` can).

mod compact;
mod dxr;
mod key;
mod table;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;

pub use compact::{lookup_each4, Compact4, CompactLeaf, Root16, COMPACT_MAX_INTERVALS};
use dxr::Dxr;
use table::Table;

/// Next-hop index chosen by the caller.
pub type NextHop = u32;

/// What `lookup_u32`/`lookup_u128` return and batch lookups write for a miss.
pub const NO_ROUTE: NextHop = u32::MAX;

/// Why a prefix was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpmError {
    /// The prefix length exceeds the address width (32 or 128).
    PrefixTooLong,
    /// The address has bits set beyond the prefix length.
    HostBitsSet,
}

impl fmt::Display for LpmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LpmError::PrefixTooLong => "prefix length exceeds the address width",
            LpmError::HostBitsSet => "address has bits set beyond the prefix length",
        })
    }
}

impl std::error::Error for LpmError {}

/// One edit of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update<A> {
    /// Add or replace `prefix/len`.
    Insert(A, u8, NextHop),
    /// Remove `prefix/len` (absent: no effect).
    Remove(A, u8),
}

/// An IPv4 edit.
pub type Update4 = Update<Ipv4Addr>;
/// An IPv6 edit.
pub type Update6 = Update<Ipv6Addr>;

macro_rules! family {
    (
        $fib:ident, $lookup:ident, $writer:ident, $reader:ident, $addr:ty, $key:ty,
        $lookup_key:ident, $family:literal
    ) => {
        #[doc = concat!($family, " longest-prefix match table.")]
        #[derive(Clone, Default)]
        pub struct $fib {
            table: Table<$key>,
        }

        impl $fib {
            /// An empty table; holds no heap memory until the first insert.
            pub fn new() -> Self {
                Self::default()
            }

            /// Adds or replaces `prefix/len`; returns the next hop it replaced.
            pub fn insert(
                &mut self,
                prefix: $addr,
                len: u8,
                nh: NextHop,
            ) -> Result<Option<NextHop>, LpmError> {
                self.table.insert(<$key>::from(prefix), len, nh)
            }

            /// Removes `prefix/len`; returns its next hop, `None` when it was absent.
            /// The addresses it covered fall back to the longest remaining covering
            /// prefix.
            pub fn remove(&mut self, prefix: $addr, len: u8) -> Result<Option<NextHop>, LpmError> {
                self.table.remove(<$key>::from(prefix), len)
            }

            /// Applies a batch of edits, in order, rebuilding each touched part of the
            /// lookup structure once. All edits are validated first: on an invalid
            /// prefix nothing is changed.
            pub fn apply(&mut self, updates: &[Update<$addr>]) -> Result<(), LpmError> {
                for u in updates {
                    let (Update::Insert(p, l, _) | Update::Remove(p, l)) = *u;
                    Table::<$key>::check(<$key>::from(p), l)?;
                }
                self.table.apply(updates.iter().map(|u| match *u {
                    Update::Insert(p, l, nh) => (<$key>::from(p), l, Some(nh)),
                    Update::Remove(p, l) => (<$key>::from(p), l, None),
                }));
                Ok(())
            }

            /// The next hop of exactly `prefix/len` (not a longest match): whether
            /// that route is in the table.
            pub fn get(&self, prefix: $addr, len: u8) -> Option<NextHop> {
                self.table.get(<$key>::from(prefix), len)
            }

            /// Next hop of the longest prefix containing `addr`.
            #[inline]
            pub fn lookup(&self, addr: $addr) -> Option<NextHop> {
                self.table.lookup(<$key>::from(addr))
            }

            /// Next hop for a host-order address, [`NO_ROUTE`] on a miss.
            #[inline]
            pub fn $lookup_key(&self, addr_host_order: $key) -> NextHop {
                self.table.lookup_nh(addr_host_order)
            }

            /// `out[i] = self.lookup(addrs[i])` ([`NO_ROUTE`] on a miss), 32 keys in
            /// flight at a time.
            ///
            /// # Panics
            /// When `out` is shorter than `addrs`.
            pub fn lookup_batch(&self, addrs: &[$key], out: &mut [NextHop]) {
                self.table.dxr.lookup_batch(addrs, out)
            }

            /// Number of routes.
            pub fn len(&self) -> usize {
                self.table.len()
            }

            pub fn is_empty(&self) -> bool {
                self.table.len() == 0
            }

            /// Heap bytes held: [`Self::lookup_bytes`] + [`Self::route_set_bytes`].
            pub fn memory_bytes(&self) -> usize {
                self.table.memory_bytes()
            }

            /// Heap bytes of the lookup structure alone (what a published snapshot
            /// holds), counted by capacity.
            pub fn lookup_bytes(&self) -> usize {
                self.table.dxr.memory_bytes()
            }

            /// Estimated heap bytes of the authoritative route set (the writer's
            /// bookkeeping: an ordered map of prefixes).
            pub fn route_set_bytes(&self) -> usize {
                self.table.route_set_bytes()
            }

            /// All routes as `(prefix, len, next hop)`, ordered by prefix, then length.
            pub fn iter(&self) -> impl Iterator<Item = ($addr, u8, NextHop)> + '_ {
                self.table.routes().map(|(k, l, nh)| (<$addr>::from(k), l, nh))
            }

            /// A read-only copy of the lookup structure.
            pub fn snapshot(&self) -> $lookup {
                $lookup {
                    dxr: self.table.dxr.shrunk_clone(),
                }
            }
        }

        impl fmt::Debug for $fib {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($fib))
                    .field("routes", &self.len())
                    .field("lookup_bytes", &self.lookup_bytes())
                    .field("route_set_bytes", &self.route_set_bytes())
                    .finish()
            }
        }

        #[doc = concat!("A read-only ", $family, " lookup structure, as published by [`", stringify!($writer), "`].")]
        #[derive(Clone, Default)]
        pub struct $lookup {
            dxr: Dxr<$key>,
        }

        impl $lookup {
            /// Next hop for a host-order address, [`NO_ROUTE`] on a miss.
            #[inline]
            pub fn $lookup_key(&self, addr_host_order: $key) -> NextHop {
                self.dxr.lookup(addr_host_order)
            }

            /// `out[i] = self.lookup(addrs[i])`, 32 keys in flight at a time.
            ///
            /// # Panics
            /// When `out` is shorter than `addrs`.
            pub fn lookup_batch(&self, addrs: &[$key], out: &mut [NextHop]) {
                self.dxr.lookup_batch(addrs, out)
            }

            /// Heap bytes held.
            pub fn memory_bytes(&self) -> usize {
                self.dxr.memory_bytes()
            }
        }

        impl fmt::Debug for $lookup {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($lookup))
                    .field("memory_bytes", &self.memory_bytes())
                    .finish()
            }
        }

        #[doc = concat!("The single writer of a live ", $family, " table: applies batches and publishes a")]
        /// new snapshot after each, which readers pick up at their next `load`.
        pub struct $writer {
            fib: $fib,
            shared: Arc<ArcSwap<$lookup>>,
        }

        impl $writer {
            /// Takes over `fib` and publishes it.
            pub fn new(fib: $fib) -> Self {
                let shared = Arc::new(ArcSwap::from_pointee(fib.snapshot()));
                Self { fib, shared }
            }

            /// A handle for a reader thread.
            pub fn reader(&self) -> $reader {
                $reader {
                    shared: Arc::clone(&self.shared),
                }
            }

            /// The table as of the last `apply`.
            pub fn fib(&self) -> &$fib {
                &self.fib
            }

            /// Applies a batch (validated first, as by the table's `apply`) and
            /// publishes the result; on error nothing changes and nothing is published.
            pub fn apply(&mut self, updates: &[Update<$addr>]) -> Result<(), LpmError> {
                self.fib.apply(updates)?;
                self.shared.store(Arc::new(self.fib.snapshot()));
                Ok(())
            }
        }

        impl fmt::Debug for $writer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($writer)).field("fib", &self.fib).finish()
            }
        }

        #[doc = concat!("A reader of a live ", $family, " table (one per worker core); never blocks.")]
        #[derive(Clone)]
        pub struct $reader {
            shared: Arc<ArcSwap<$lookup>>,
        }

        impl $reader {
            /// Runs `f` on the current snapshot. Call it once per burst: the snapshot
            /// stays valid (and alive) for the whole call, and the end of the call is
            /// the reader's quiescent point.
            #[inline]
            pub fn with<R>(&self, f: impl FnOnce(&$lookup) -> R) -> R {
                f(&self.shared.load())
            }

            /// The current snapshot, kept alive for as long as the caller holds it.
            pub fn load_full(&self) -> Arc<$lookup> {
                self.shared.load_full()
            }
        }

        impl fmt::Debug for $reader {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($reader)).finish_non_exhaustive()
            }
        }
    };
}

family!(Fib4, Lookup4, Fib4Writer, Fib4Reader, Ipv4Addr, u32, lookup_u32, "IPv4");
family!(
    Fib6,
    Lookup6,
    Fib6Writer,
    Fib6Reader,
    Ipv6Addr,
    u128,
    lookup_u128,
    "IPv6"
);

#[cfg(test)]
mod tests;
