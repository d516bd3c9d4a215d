//! The last neighbor lookup of a burst, remembered: most routes of a vnet share a
//! few gateways, so consecutive frames usually ask for the same MAC, and a hash
//! lookup per frame was the largest single cost after the route lookup.
use crate::tables::Vnet;
use std::net::IpAddr;

/// Valid for one burst only: the tables (and so every neighbor table) cannot
/// change within a burst, which is what makes the remembered answer true.
#[derive(Default)]
pub(crate) struct NeighborMemo {
    last: Option<(*const crate::tables::NeighborTable, IpAddr, [u8; 6])>,
}

impl NeighborMemo {
    /// The MAC of `addr` in `vnet`'s neighbor table, if known.
    #[inline(always)]
    pub(crate) fn get(&mut self, vnet: &Vnet, addr: IpAddr) -> Option<[u8; 6]> {
        let table: *const _ = &*vnet.neighbors;
        if let Some((t, a, mac)) = self.last {
            if t == table && a == addr {
                return Some(mac);
            }
        }
        let mac = vnet.neighbors.get(addr)?.mac;
        self.last = Some((table, addr, mac));
        Some(mac)
    }
}
