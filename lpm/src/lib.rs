#![forbid(unsafe_code)]
//! Longest-prefix match tables for IPv4 and IPv6.
//!
//! [`Fib4`] and [`Fib6`] map prefixes to caller-chosen next-hop indices
//! ([`NextHop`]). Both are a multibit trie with stride 8 (IPv4: at most 4 reads,
//! IPv6: at most 16) built by controlled prefix expansion; see `trie.rs` for the
//! layout. They are plain data (`Send + Sync + Clone`): the control plane clones a
//! table, edits the clone and publishes it behind an `Arc`, workers only read.
//!
//! Keys on the packet path are host-order integers: [`Fib4::lookup_u32`],
//! [`Fib4::lookup_batch`] and their IPv6 counterparts.
//!
//! Any `u32` is a valid next hop, [`NO_ROUTE`] included, but `lookup_u32` and
//! `lookup_batch` cannot tell a route to `NO_ROUTE` from a miss (`lookup` can).

mod trie;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use trie::Trie;

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

/// IPv4 longest-prefix match table.
#[derive(Clone, Default)]
pub struct Fib4 {
    trie: Trie<u32>,
}

impl Fib4 {
    /// An empty table; holds no heap memory until the first insert.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `prefix/len`; returns the next hop it replaced.
    pub fn insert(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        nh: NextHop,
    ) -> Result<Option<NextHop>, LpmError> {
        self.trie.insert(u32::from(prefix), len, nh)
    }

    /// Removes `prefix/len`; returns its next hop, `None` when it was absent. The
    /// addresses it covered fall back to the longest remaining covering prefix.
    pub fn remove(&mut self, prefix: Ipv4Addr, len: u8) -> Result<Option<NextHop>, LpmError> {
        self.trie.remove(u32::from(prefix), len)
    }

    /// Next hop of the longest prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<NextHop> {
        self.trie.lookup(u32::from(addr))
    }

    /// Next hop for a host-order address, [`NO_ROUTE`] on a miss.
    #[inline]
    pub fn lookup_u32(&self, addr_host_order: u32) -> NextHop {
        self.trie.lookup_nh(addr_host_order)
    }

    /// `out[i] = self.lookup_u32(addrs[i])`, several keys in flight at a time.
    ///
    /// # Panics
    /// When `out` is shorter than `addrs`.
    pub fn lookup_batch(&self, addrs: &[u32], out: &mut [NextHop]) {
        self.trie.lookup_batch(addrs, out)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.trie.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trie.len() == 0
    }

    /// Heap bytes held (trie, route set, next-hop table), counted by capacity.
    pub fn memory_bytes(&self) -> usize {
        self.trie.memory_bytes()
    }

    /// All routes as `(prefix, len, next hop)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, u8, NextHop)> + '_ {
        self.trie
            .routes()
            .map(|(k, l, nh)| (Ipv4Addr::from(k), l, nh))
    }
}

impl fmt::Debug for Fib4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fib4")
            .field("routes", &self.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

/// IPv6 longest-prefix match table.
#[derive(Clone, Default)]
pub struct Fib6 {
    trie: Trie<u128>,
}

impl Fib6 {
    /// An empty table; holds no heap memory until the first insert.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `prefix/len`; returns the next hop it replaced.
    pub fn insert(
        &mut self,
        prefix: Ipv6Addr,
        len: u8,
        nh: NextHop,
    ) -> Result<Option<NextHop>, LpmError> {
        self.trie.insert(u128::from(prefix), len, nh)
    }

    /// Removes `prefix/len`; returns its next hop, `None` when it was absent. The
    /// addresses it covered fall back to the longest remaining covering prefix.
    pub fn remove(&mut self, prefix: Ipv6Addr, len: u8) -> Result<Option<NextHop>, LpmError> {
        self.trie.remove(u128::from(prefix), len)
    }

    /// Next hop of the longest prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: Ipv6Addr) -> Option<NextHop> {
        self.trie.lookup(u128::from(addr))
    }

    /// Next hop for a host-order address, [`NO_ROUTE`] on a miss.
    #[inline]
    pub fn lookup_u128(&self, addr_host_order: u128) -> NextHop {
        self.trie.lookup_nh(addr_host_order)
    }

    /// `out[i] = self.lookup_u128(addrs[i])`, several keys in flight at a time.
    ///
    /// # Panics
    /// When `out` is shorter than `addrs`.
    pub fn lookup_batch(&self, addrs: &[u128], out: &mut [NextHop]) {
        self.trie.lookup_batch(addrs, out)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.trie.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trie.len() == 0
    }

    /// Heap bytes held (trie, route set, next-hop table), counted by capacity.
    pub fn memory_bytes(&self) -> usize {
        self.trie.memory_bytes()
    }

    /// All routes as `(prefix, len, next hop)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv6Addr, u8, NextHop)> + '_ {
        self.trie
            .routes()
            .map(|(k, l, nh)| (Ipv6Addr::from(k), l, nh))
    }
}

impl fmt::Debug for Fib6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fib6")
            .field("routes", &self.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests;
