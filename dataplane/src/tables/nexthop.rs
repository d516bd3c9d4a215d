//! What a FIB entry points at.
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// One of the router's own addresses.
    Local,
    /// A connected subnet: the destination itself is the neighbor.
    Connected { iface: u16 },
    /// A static route: send to `via` (on a connected subnet of `iface`).
    Gateway { iface: u16, via: IpAddr },
}

impl NextHop {
    /// Where a packet to `dst` sent by this next hop leaves: the egress interface
    /// and the neighbor it is handed to (the destination itself on a connected
    /// subnet); `None` for the router's own addresses.
    #[inline(always)]
    pub fn egress(&self, dst: IpAddr) -> Option<(u16, IpAddr)> {
        match *self {
            NextHop::Local => None,
            NextHop::Connected { iface } => Some((iface, dst)),
            NextHop::Gateway { iface, via } => Some((iface, via)),
        }
    }
}
