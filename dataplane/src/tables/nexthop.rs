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
