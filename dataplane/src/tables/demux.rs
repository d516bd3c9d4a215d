//! (port, VLAN) → (vnet, interface): one direct-indexed array per port.

use crate::dpdk::PortId;

/// A packed (vnet index, interface index); `NONE` when the slot is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemuxEntry(u32);

impl DemuxEntry {
    pub const NONE: DemuxEntry = DemuxEntry(u32::MAX);
    const IFACE_BITS: u32 = 12;
    /// vnet indices must stay below this (2^20 vnets).
    pub const MAX_VNETS: usize = 1 << (32 - Self::IFACE_BITS);
    /// interface indices per vnet must stay below this.
    pub const MAX_IFACES: usize = 1 << Self::IFACE_BITS;

    pub fn new(vnet: usize, iface: usize) -> DemuxEntry {
        assert!(vnet < Self::MAX_VNETS - 1 && iface < Self::MAX_IFACES);
        DemuxEntry(((vnet as u32) << Self::IFACE_BITS) | iface as u32)
    }
    #[inline(always)]
    pub fn is_none(self) -> bool {
        self == Self::NONE
    }
    #[inline(always)]
    pub fn vnet(self) -> usize {
        (self.0 >> Self::IFACE_BITS) as usize
    }
    #[inline(always)]
    pub fn iface(self) -> usize {
        (self.0 & ((1 << Self::IFACE_BITS) - 1)) as usize
    }
}

/// Slot 0 of each port's array is "untagged" (VID 0, priority-tagged frames, are untagged too).
#[derive(Default, Clone)]
pub struct Demux {
    ports: Vec<Box<[DemuxEntry]>>,
}

const SLOTS: usize = 4096;

/// The VLAN slots of one port (`None`: no vnet is attached to it).
#[derive(Clone, Copy)]
pub struct PortDemux<'a>(Option<&'a [DemuxEntry; SLOTS]>);

impl PortDemux<'_> {
    /// The owner of `vlan` on this port (`None`: untagged).
    #[inline(always)]
    pub fn lookup(self, vlan: Option<u16>) -> DemuxEntry {
        match self.0 {
            // The mask keeps the index in the array: no bounds check per frame.
            Some(slots) => slots[vlan.unwrap_or(0) as usize & (SLOTS - 1)],
            None => DemuxEntry::NONE,
        }
    }
}

impl Demux {
    /// Claims (port, vlan). Returns the entry already there if the slot was taken.
    pub fn insert(
        &mut self,
        port: PortId,
        vlan: Option<u16>,
        e: DemuxEntry,
    ) -> Result<(), DemuxEntry> {
        let p = port.0 as usize;
        while self.ports.len() <= p {
            self.ports
                .push(vec![DemuxEntry::NONE; SLOTS].into_boxed_slice());
        }
        let slot = &mut self.ports[p][vlan.unwrap_or(0) as usize & (SLOTS - 1)];
        if !slot.is_none() {
            return Err(*slot);
        }
        *slot = e;
        Ok(())
    }

    /// The owner of (port, vlan) — `vlan` being the VID from the tag or the NIC's metadata.
    #[inline(always)]
    pub fn lookup(&self, port: PortId, vlan: Option<u16>) -> DemuxEntry {
        self.port(port).lookup(vlan)
    }

    /// One port's owners: a burst's frames all came in on one port, so the packet
    /// path finds the port's slots once per burst, not once per frame.
    #[inline(always)]
    pub fn port(&self, port: PortId) -> PortDemux<'_> {
        PortDemux(
            self.ports
                .get(port.0 as usize)
                .and_then(|s| <&[DemuxEntry; SLOTS]>::try_from(&s[..]).ok()),
        )
    }

    pub fn memory_bytes(&self) -> usize {
        self.ports.len() * SLOTS * std::mem::size_of::<DemuxEntry>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_maps_each_port_vlan_pair_to_one_owner() {
        let mut d = Demux::default();
        d.insert(PortId(0), Some(10), DemuxEntry::new(0, 0))
            .unwrap();
        d.insert(PortId(0), Some(20), DemuxEntry::new(1, 0))
            .unwrap();
        d.insert(PortId(0), None, DemuxEntry::new(1, 1)).unwrap();
        d.insert(PortId(2), None, DemuxEntry::new(0, 3)).unwrap();
        assert_eq!(d.lookup(PortId(0), Some(10)), DemuxEntry::new(0, 0));
        assert_eq!(d.lookup(PortId(0), Some(20)).vnet(), 1);
        assert_eq!(d.lookup(PortId(0), None).iface(), 1);
        // VID 0 (priority tag) is untagged.
        assert_eq!(d.lookup(PortId(0), Some(0)), DemuxEntry::new(1, 1));
        assert_eq!(d.lookup(PortId(2), None).iface(), 3);
        assert!(d.lookup(PortId(0), Some(30)).is_none());
        assert!(d.lookup(PortId(1), None).is_none());
        assert!(d.lookup(PortId(9), Some(10)).is_none());
        // A second claim on the same pair is refused and names the owner.
        assert_eq!(
            d.insert(PortId(0), Some(10), DemuxEntry::new(5, 5)),
            Err(DemuxEntry::new(0, 0))
        );
    }

    #[test]
    fn entry_packs_large_indices() {
        let e = DemuxEntry::new(DemuxEntry::MAX_VNETS - 2, DemuxEntry::MAX_IFACES - 1);
        assert_eq!(e.vnet(), DemuxEntry::MAX_VNETS - 2);
        assert_eq!(e.iface(), DemuxEntry::MAX_IFACES - 1);
        assert!(!e.is_none());
    }
}
