//! Zero-copy packet header views and packet builders.
//!
//! A header is a view over a byte buffer (`Ipv4Packet<T: AsRef<[u8]>>`). Its
//! `new_checked` validates lengths once, so no accessor can panic afterwards; setters
//! live in a second impl bounded on `AsMut<[u8]>`, so a shared buffer cannot be written
//! through. Builders (`emit_*`) write into caller-owned buffers and return the length
//! written. Nothing here allocates: this code runs for every packet.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;

use core::fmt;

pub use arp::{ArpPacket, Operation as ArpOperation};
pub use ethernet::{emit_ethernet, parse_l2, EtherType, EthernetFrame, L2Info, MacAddr};
pub use icmpv4::Icmpv4Packet;
pub use icmpv6::{Icmpv6Packet, NeighborAdvert, NeighborSolicit};
pub use ipv4::{IpProtocol, Ipv4Packet};
pub use ipv6::Ipv6Packet;

/// Why a buffer was not accepted. `Copy` and allocation-free: the packet path counts
/// these per vnet, it never formats them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends before the header, or before the length the header announces.
    Truncated,
    /// A field holds a value the protocol forbids (IHL below 5, zero option length, ...).
    Malformed,
    /// A checksum does not verify.
    BadChecksum,
    /// The IP version nibble is not the one expected.
    BadVersion,
    /// Well-formed, but not something we handle (double VLAN tags, non-Ethernet ARP, ...).
    Unsupported,
    /// The caller's output buffer is too small for the packet being built.
    BufferTooSmall,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::BadChecksum => "bad checksum",
            Error::BadVersion => "bad IP version",
            Error::Unsupported => "unsupported packet",
            Error::BufferTooSmall => "output buffer too small",
        })
    }
}

impl std::error::Error for Error {}

/// Result of parsing or building on the wire path.
pub type Result<T> = core::result::Result<T, Error>;

/// Big-endian u16 at `at`. Callers have checked the length (via `new_checked`).
#[inline]
pub(crate) fn get_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

#[inline]
pub(crate) fn put_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}
