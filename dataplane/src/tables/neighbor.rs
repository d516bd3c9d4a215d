//! Neighbor (ARP / ND) tables. Workers read a published snapshot; they report
//! what they learn as `NeighborEvent`s and the control thread, the only writer,
//! folds them in and republishes (see `crate::neighbor_manager`).
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborEntry {
    pub mac: [u8; 6],
    /// Configured: never aged out, never overwritten by ARP/ND.
    pub is_static: bool,
    /// TSC of the last confirmation (ARP/NA from the neighbor).
    pub confirmed_tsc: u64,
}

/// A MAC learned (or confirmed) for an address in one vnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborEvent {
    pub vnet_id: u64,
    pub addr: IpAddr,
    pub mac: [u8; 6],
    pub tsc: u64,
}

/// Multiplicative hashing for integer keys: the keys are addresses, not
/// attacker-chosen strings we must resist collisions on (the table is bounded
/// by what the control thread accepts).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
}

pub type FastHash = BuildHasherDefault<FastHasher>;

#[derive(Default, Clone)]
pub struct NeighborTable {
    pub v4: HashMap<u32, NeighborEntry, FastHash>,
    pub v6: HashMap<u128, NeighborEntry, FastHash>,
}

impl NeighborTable {
    #[inline]
    pub fn get4(&self, a: Ipv4Addr) -> Option<&NeighborEntry> {
        self.v4.get(&u32::from(a))
    }
    #[inline]
    pub fn get6(&self, a: Ipv6Addr) -> Option<&NeighborEntry> {
        self.v6.get(&u128::from(a))
    }
    #[inline]
    pub fn get(&self, a: IpAddr) -> Option<&NeighborEntry> {
        match a {
            IpAddr::V4(a) => self.get4(a),
            IpAddr::V6(a) => self.get6(a),
        }
    }

    /// Records a learned MAC; static entries win. Returns true if anything changed
    /// that a reader would see (new entry, new MAC or a refreshed timestamp).
    pub fn learn(&mut self, addr: IpAddr, mac: [u8; 6], tsc: u64) -> bool {
        let e = NeighborEntry {
            mac,
            is_static: false,
            confirmed_tsc: tsc,
        };
        let slot = match addr {
            IpAddr::V4(a) => self.v4.entry(u32::from(a)),
            IpAddr::V6(a) => return learn_in(self.v6.entry(u128::from(a)), e),
        };
        learn_in(slot, e)
    }

    pub fn insert_static(&mut self, addr: IpAddr, mac: [u8; 6]) {
        let e = NeighborEntry {
            mac,
            is_static: true,
            confirmed_tsc: 0,
        };
        match addr {
            IpAddr::V4(a) => self.v4.insert(u32::from(a), e),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), e),
        };
    }

    /// Drops dynamic entries not confirmed since `oldest_tsc`. Returns how many went.
    pub fn expire(&mut self, oldest_tsc: u64) -> usize {
        let before = self.len();
        self.v4
            .retain(|_, e| e.is_static || e.confirmed_tsc >= oldest_tsc);
        self.v6
            .retain(|_, e| e.is_static || e.confirmed_tsc >= oldest_tsc);
        before - self.len()
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn learn_in<K>(
    slot: std::collections::hash_map::Entry<'_, K, NeighborEntry>,
    e: NeighborEntry,
) -> bool {
    use std::collections::hash_map::Entry;
    match slot {
        Entry::Vacant(v) => {
            v.insert(e);
            true
        }
        Entry::Occupied(mut o) => {
            let cur = o.get_mut();
            if cur.is_static {
                return false;
            }
            let changed = cur.mac != e.mac || cur.confirmed_tsc != e.confirmed_tsc;
            *cur = e;
            changed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learn_refresh_static_and_expiry() {
        let mut t = NeighborTable::default();
        let a: IpAddr = "10.0.1.10".parse().unwrap();
        let b: IpAddr = "fd00:1::10".parse().unwrap();
        let s: IpAddr = "10.0.1.254".parse().unwrap();
        assert!(t.learn(a, [2, 0, 0, 0, 0, 1], 100));
        assert!(t.learn(b, [2, 0, 0, 0, 0, 2], 100));
        t.insert_static(s, [2, 0, 0, 0, 0, 0xfe]);
        // ARP cannot overwrite a static entry.
        assert!(!t.learn(s, [6, 6, 6, 6, 6, 6], 500));
        assert_eq!(t.get(s).unwrap().mac, [2, 0, 0, 0, 0, 0xfe]);
        // A new MAC replaces the old one.
        assert!(t.learn(a, [2, 0, 0, 0, 0, 9], 300));
        assert_eq!(t.get(a).unwrap().mac, [2, 0, 0, 0, 0, 9]);
        // Expiry keeps the static entry and the refreshed one.
        assert_eq!(t.expire(200), 1);
        assert!(t.get(b).is_none());
        assert!(t.get(a).is_some() && t.get(s).is_some());
    }
}
