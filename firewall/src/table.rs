//! Lookup tables (`table NAME create type addr`, `table NAME add PREFIX VALUE`):
//! longest-prefix match of an address to a 32-bit value (ipfw's `tablearg`).
//!
//! The control plane edits a [`Table`] (an ordered map); publication turns it
//! into a [`TableIndex`]: one hash map per prefix length present, probed from the
//! longest length down. A lookup hashes at most one key per distinct length
//! (few in practice) and never allocates.

use std::collections::{BTreeMap, HashMap};

use crate::ast::{family_bits, len_mask, Prefix};
use crate::packet::Family;

/// An editable table: prefix → value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    entries: BTreeMap<(u8, u8, u128), u32>,
}

impl Table {
    fn key(p: &Prefix) -> Option<(u8, u8, u128)> {
        let len = p.len()?;
        Some((p.family as u8, len, p.addr))
    }

    /// Adds or replaces an entry; `Err` for a non-contiguous mask.
    pub fn insert(&mut self, p: Prefix, value: u32) -> Result<(), &'static str> {
        let k = Self::key(&p).ok_or("table keys must be prefixes (a contiguous mask)")?;
        self.entries.insert(k, value);
        Ok(())
    }

    /// Removes an entry; false if it was not there.
    pub fn remove(&mut self, p: &Prefix) -> bool {
        Self::key(p).is_some_and(|k| self.entries.remove(&k).is_some())
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in order (IPv4 first, then by length and address).
    pub fn entries(&self) -> impl Iterator<Item = (Prefix, u32)> + '_ {
        self.entries.iter().map(|(&(f, len, addr), &v)| {
            let family = if f == Family::V4 as u8 {
                Family::V4
            } else {
                Family::V6
            };
            (Prefix::new(family, addr, len), v)
        })
    }

    pub fn index(&self) -> TableIndex {
        let mut idx = TableIndex::default();
        for (p, v) in self.entries() {
            let len = p.len().unwrap_or(0);
            let per = match p.family {
                Family::V4 => &mut idx.v4,
                Family::V6 => &mut idx.v6,
            };
            match per.iter_mut().find(|(l, _)| *l == len) {
                Some((_, m)) => {
                    m.insert(p.addr, v);
                }
                None => per.push((len, HashMap::from([(p.addr, v)]))),
            }
        }
        idx.v4.sort_by_key(|e| std::cmp::Reverse(e.0));
        idx.v6.sort_by_key(|e| std::cmp::Reverse(e.0));
        idx
    }
}

/// The published form of a table.
#[derive(Debug, Clone, Default)]
pub struct TableIndex {
    /// (length, masked address → value), longest length first.
    v4: Vec<(u8, HashMap<u128, u32>)>,
    v6: Vec<(u8, HashMap<u128, u32>)>,
}

impl TableIndex {
    /// The value of the longest prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, family: Family, addr: u128) -> Option<u32> {
        let per = match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        };
        per.iter()
            .find_map(|(len, m)| m.get(&(addr & len_mask(family, *len))).copied())
    }

    /// Smallest and largest address any entry of `family` covers.
    pub fn hull(&self, family: Family) -> Option<(u128, u128)> {
        let per = match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        };
        let all = len_mask(family, family_bits(family));
        per.iter()
            .flat_map(|(len, m)| {
                m.keys()
                    .map(move |a| (*a, *a | (all & !len_mask(family, *len))))
            })
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }

    pub fn memory_bytes(&self) -> usize {
        self.v4
            .iter()
            .chain(self.v6.iter())
            .map(|(_, m)| m.capacity() * 40)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::prefix;

    #[test]
    fn longest_prefix_wins() {
        let mut t = Table::default();
        t.insert(prefix("10.0.0.0/8").unwrap(), 1).unwrap();
        t.insert(prefix("10.1.0.0/16").unwrap(), 2).unwrap();
        t.insert(prefix("2001:db8::/32").unwrap(), 6).unwrap();
        let i = t.index();
        assert_eq!(i.lookup(Family::V4, 0x0a01_0203), Some(2));
        assert_eq!(i.lookup(Family::V4, 0x0a02_0203), Some(1));
        assert_eq!(i.lookup(Family::V4, 0x0b00_0000), None);
        assert_eq!(i.lookup(Family::V6, 0x2001_0db8 << 96 | 5), Some(6));
        assert_eq!(i.hull(Family::V4), Some((0x0a00_0000, 0x0aff_ffff)));
        assert!(t.remove(&prefix("10.1.0.0/16").unwrap()));
        assert_eq!(t.index().lookup(Family::V4, 0x0a01_0203), Some(1));
        assert!(t
            .insert(prefix("10.0.0.0:255.0.255.0").unwrap(), 1)
            .is_err());
    }
}
