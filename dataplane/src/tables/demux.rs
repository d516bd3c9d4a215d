//! (port, VLAN) → (vnet, interface): one direct-indexed array per port.

use crate::dpdk::PortId;
use crate::stats::{VnetCounters, VnetSlots, VnetWorkerCounters};

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

/// One (port, VLAN) slot: its owner, the owning interface's MAC (the one thing
/// the demux checks of the interface: that a unicast frame is addressed to it),
/// and the owner's index in the express lane's per-worker arrays of sent frames
/// (`stats::sent`). With the MAC here, a frame's first tenant line is its
/// `Vnet`: the interface's own line (a miss per frame with many tenants in a
/// burst) is not read on the forwarding path.
///
/// 16 bytes, `align(16)`: four a line, so the slots of 10,000 VLANs (160 KiB)
/// stay in L2 between two frames of one VLAN. The owner's counter slots, which
/// other frames than the express lane's count into, are in an array beside this
/// one (`PortDemux::counters`, by `vid`).
#[derive(Clone)]
#[repr(C, align(16))]
pub struct DemuxSlot {
    pub owner: DemuxEntry,
    pub mac: [u8; 6],
    /// This slot's index in its port's arrays (the VID, 0 untagged).
    vid: u16,
    /// `VnetCounters::sent_index` of the owner; 0 for none (a free slot).
    pub sent: u32,
}

const _: () = assert!(std::mem::size_of::<DemuxSlot>() == 16);

impl DemuxSlot {
    pub const NONE: DemuxSlot = DemuxSlot {
        owner: DemuxEntry::NONE,
        mac: [0; 6],
        vid: 0,
        sent: 0,
    };
}

static NO_SLOT: DemuxSlot = DemuxSlot::NONE;

/// Slot 0 of each port's array is "untagged" (VID 0, priority-tagged frames, are untagged too).
#[derive(Default, Clone)]
pub struct Demux {
    ports: Vec<PortSlots>,
}

/// One port's slots and, beside them, their owners' counter slots (the same
/// `Arc` as the owner's `VnetCounters`; `None` when free).
#[derive(Clone)]
struct PortSlots {
    slots: Box<[DemuxSlot]>,
    counters: Box<[Option<VnetSlots>]>,
}

const SLOTS: usize = 4096;

/// The VLAN slots of one port (`None`: no vnet is attached to it).
#[derive(Clone, Copy)]
pub struct PortDemux<'a>(Option<(&'a [DemuxSlot; SLOTS], &'a [Option<VnetSlots>; SLOTS])>);

impl<'a> PortDemux<'a> {
    /// The slot of `vlan` on this port (`None`: untagged); its owner is
    /// `DemuxEntry::NONE` when nobody has it.
    #[inline(always)]
    pub fn lookup(self, vlan: Option<u16>) -> &'a DemuxSlot {
        match self.0 {
            // The mask keeps the index in the array: no bounds check per frame.
            Some((slots, _)) => &slots[vlan.unwrap_or(0) as usize & (SLOTS - 1)],
            None => &NO_SLOT,
        }
    }

    /// Worker `w`'s counters of the owner of `slot` (one of this port's);
    /// `None` for a free slot (or a worker the owner has no slot for, which no
    /// worker is). The address needs no load of the counters themselves.
    #[inline(always)]
    pub fn counters(self, slot: &DemuxSlot, w: usize) -> Option<&'a VnetWorkerCounters> {
        let (_, counters) = self.0?;
        counters[usize::from(slot.vid) & (SLOTS - 1)]
            .as_ref()
            .and_then(|c| c.get(w))
            .map(|c| &**c)
    }
}

impl Demux {
    /// Claims (port, vlan) for `e`, whose interface has MAC `mac` and whose vnet
    /// counts into `counters`. Returns the entry already there if the slot was
    /// taken.
    pub fn insert(
        &mut self,
        port: PortId,
        vlan: Option<u16>,
        e: DemuxEntry,
        mac: [u8; 6],
        counters: &VnetCounters,
    ) -> Result<(), DemuxEntry> {
        let p = port.0 as usize;
        while self.ports.len() <= p {
            // Each slot knows its index, free or not: a free one finds the
            // `None` beside it.
            self.ports.push(PortSlots {
                slots: (0..SLOTS as u16)
                    .map(|vid| DemuxSlot {
                        vid,
                        ..DemuxSlot::NONE
                    })
                    .collect(),
                counters: vec![None; SLOTS].into_boxed_slice(),
            });
        }
        let vid = vlan.unwrap_or(0) as usize & (SLOTS - 1);
        let port = &mut self.ports[p];
        let slot = &mut port.slots[vid];
        if !slot.owner.is_none() {
            return Err(slot.owner);
        }
        *slot = DemuxSlot {
            owner: e,
            mac,
            vid: vid as u16,
            sent: counters.sent_index(),
        };
        port.counters[vid] = Some(counters.slots());
        Ok(())
    }

    /// The owner of (port, vlan) — `vlan` being the VID from the tag or the NIC's metadata.
    #[inline(always)]
    pub fn lookup(&self, port: PortId, vlan: Option<u16>) -> DemuxEntry {
        self.port(port).lookup(vlan).owner
    }

    /// One port's owners: a burst's frames all came in on one port, so the packet
    /// path finds the port's slots once per burst, not once per frame.
    #[inline(always)]
    pub fn port(&self, port: PortId) -> PortDemux<'_> {
        PortDemux(self.ports.get(port.0 as usize).and_then(|p| {
            Some((
                <&[DemuxSlot; SLOTS]>::try_from(&p.slots[..]).ok()?,
                <&[Option<VnetSlots>; SLOTS]>::try_from(&p.counters[..]).ok()?,
            ))
        }))
    }

    pub fn memory_bytes(&self) -> usize {
        self.ports.len()
            * SLOTS
            * (std::mem::size_of::<DemuxSlot>() + std::mem::size_of::<Option<VnetSlots>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_maps_each_port_vlan_pair_to_one_owner() {
        let mut d = Demux::default();
        let mac = [2, 0, 0, 0, 0, 1];
        let (c0, c1) = (VnetCounters::new(2), VnetCounters::new(2));
        d.insert(PortId(0), Some(10), DemuxEntry::new(0, 0), mac, &c0)
            .unwrap();
        d.insert(
            PortId(0),
            Some(20),
            DemuxEntry::new(1, 0),
            [2, 0, 0, 0, 0, 2],
            &c1,
        )
        .unwrap();
        d.insert(PortId(0), None, DemuxEntry::new(1, 1), mac, &c1)
            .unwrap();
        d.insert(PortId(2), None, DemuxEntry::new(0, 3), mac, &c0)
            .unwrap();
        assert_eq!(d.lookup(PortId(0), Some(10)), DemuxEntry::new(0, 0));
        assert_eq!(d.lookup(PortId(0), Some(20)).vnet(), 1);
        assert_eq!(d.lookup(PortId(0), None).iface(), 1);
        // VID 0 (priority tag) is untagged.
        assert_eq!(d.lookup(PortId(0), Some(0)), DemuxEntry::new(1, 1));
        assert_eq!(d.lookup(PortId(2), None).iface(), 3);
        assert!(d.lookup(PortId(0), Some(30)).is_none());
        assert!(d.lookup(PortId(1), None).is_none());
        assert!(d.lookup(PortId(9), Some(10)).is_none());
        // A slot carries its interface's MAC, its vnet's index for the
        // express lane, and its vnet's counters beside it, each worker's own.
        let (p0, p1, p2) = (d.port(PortId(0)), d.port(PortId(1)), d.port(PortId(2)));
        let s20 = p0.lookup(Some(20));
        assert_eq!(s20.mac, [2, 0, 0, 0, 0, 2]);
        assert_eq!(s20.sent, c1.sent_index());
        assert_eq!(p2.lookup(None).sent, c0.sent_index());
        assert_ne!(c0.sent_index(), c1.sent_index());
        for w in 0..2 {
            assert!(std::ptr::eq(p0.counters(s20, w).unwrap(), c1.worker(w)));
            let s = p2.lookup(None);
            assert!(std::ptr::eq(p2.counters(s, w).unwrap(), c0.worker(w)));
        }
        assert!(p0.counters(s20, 2).is_none());
        assert!(p1.lookup(None).owner.is_none());
        assert!(p1.counters(p1.lookup(None), 0).is_none());
        assert!(p0.counters(p0.lookup(Some(30)), 0).is_none());
        assert_eq!(p0.lookup(Some(30)).sent, 0);
        // A second claim on the same pair is refused, names the owner and
        // leaves the slot as it was.
        assert_eq!(
            d.insert(PortId(0), Some(10), DemuxEntry::new(5, 5), [9; 6], &c1),
            Err(DemuxEntry::new(0, 0))
        );
        let p0 = d.port(PortId(0));
        let s10 = p0.lookup(Some(10));
        assert_eq!((s10.owner, s10.mac), (DemuxEntry::new(0, 0), mac));
        assert!(std::ptr::eq(p0.counters(s10, 1).unwrap(), c0.worker(1)));
    }

    #[test]
    fn entry_packs_large_indices() {
        let e = DemuxEntry::new(DemuxEntry::MAX_VNETS - 2, DemuxEntry::MAX_IFACES - 1);
        assert_eq!(e.vnet(), DemuxEntry::MAX_VNETS - 2);
        assert_eq!(e.iface(), DemuxEntry::MAX_IFACES - 1);
        assert!(!e.is_none());
    }
}
