//! What the packet path needs from a packet buffer. Implemented by `Mbuf` on
//! the real dataplane and by `VecFrame` in tests, so forwarding logic is tested
//! on byte fixtures without EAL.

pub trait Frame {
    /// The frame's bytes, from the Ethernet header on.
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the frame at the front by `n` bytes (into headroom); false if no room.
    fn prepend(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the front; false if the frame is shorter.
    fn adj(&mut self, n: usize) -> bool;
    /// Sets the frame length (shrinking, or growing into tailroom); false if no room.
    fn set_len(&mut self, len: usize) -> bool;
    /// Cuts the frame to `len` bytes (its Ethernet padding off); a `len` at or
    /// past its end leaves it as it is. Unlike `set_len` there is nothing to
    /// refuse, so nothing for the caller to check.
    fn shrink(&mut self, len: usize);
    /// The most bytes `set_len` can give from the current start.
    fn capacity(&self) -> usize;
    /// The VLAN ID the NIC stripped into metadata, if it did.
    fn stripped_vlan(&self) -> Option<u16>;
    /// What the NIC found of the IPv4 header checksum, where the port has the
    /// offload (`Port::start` enables it when the device offers it).
    fn rx_ipv4_checksum(&self) -> RxChecksum;
    /// Forgets RX metadata (stripped tag, offload flags) before the frame is reused.
    fn clear_offload_flags(&mut self);
}

/// The NIC's verdict on a received header checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RxChecksum {
    /// Not checked (no offload, or the NIC could not tell): verify in software.
    #[default]
    Unknown,
    Good,
    Bad,
}

/// A heap-backed frame for tests and tools (never used on the packet path).
#[derive(Clone, Debug)]
pub struct VecFrame {
    buf: Vec<u8>,
    start: usize,
    len: usize,
    pub vlan_meta: Option<u16>,
    /// What a NIC with checksum offload would have said of the IPv4 header.
    pub ipv4_checksum: RxChecksum,
}

impl VecFrame {
    pub const HEADROOM: usize = 128;
    pub const BUF_SIZE: usize = 2048 + Self::HEADROOM;

    pub fn new(bytes: &[u8]) -> Self {
        let mut buf = vec![0u8; Self::BUF_SIZE];
        buf[Self::HEADROOM..Self::HEADROOM + bytes.len()].copy_from_slice(bytes);
        VecFrame {
            buf,
            start: Self::HEADROOM,
            len: bytes.len(),
            vlan_meta: None,
            ipv4_checksum: RxChecksum::Unknown,
        }
    }

    pub fn empty() -> Self {
        Self::new(&[])
    }
}

impl Frame for VecFrame {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        self.len += n;
        true
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }
    fn set_len(&mut self, len: usize) -> bool {
        if len > self.capacity() {
            return false;
        }
        self.len = len;
        true
    }
    fn shrink(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
    fn capacity(&self) -> usize {
        self.buf.len() - self.start
    }
    fn stripped_vlan(&self) -> Option<u16> {
        self.vlan_meta
    }
    fn rx_ipv4_checksum(&self) -> RxChecksum {
        self.ipv4_checksum
    }
    fn clear_offload_flags(&mut self) {
        self.vlan_meta = None;
        self.ipv4_checksum = RxChecksum::Unknown;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_adj_and_set_len_respect_bounds() {
        let mut f = VecFrame::new(&[1, 2, 3, 4]);
        assert!(f.prepend(4));
        assert_eq!(f.data(), &[0, 0, 0, 0, 1, 2, 3, 4]);
        assert!(f.adj(6));
        assert_eq!(f.data(), &[3, 4]);
        assert!(!f.adj(3));
        assert!(f.set_len(1));
        assert_eq!(f.data(), &[3]);
        assert!(!f.set_len(f.capacity() + 1));
        assert!(!f.prepend(VecFrame::BUF_SIZE));
    }
}
