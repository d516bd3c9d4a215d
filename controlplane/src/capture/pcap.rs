//! The classic pcap file format with nanosecond timestamps (tcpdump, Wireshark
//! and libpcap read it).

/// Magic number of a nanosecond-resolution pcap file, written in our byte order.
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;

/// The file header.
pub fn header(snaplen: usize) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&MAGIC_NS.to_ne_bytes());
    h[4..6].copy_from_slice(&2u16.to_ne_bytes());
    h[6..8].copy_from_slice(&4u16.to_ne_bytes());
    // thiszone, sigfigs: 0.
    h[16..20].copy_from_slice(&(snaplen as u32).to_ne_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
    h
}

/// Appends one record: `data` is the captured part of a `wire_len`-byte frame.
pub fn record(out: &mut Vec<u8>, unix_ns: u128, data: &[u8], wire_len: usize) {
    let secs = (unix_ns / 1_000_000_000) as u32;
    let ns = (unix_ns % 1_000_000_000) as u32;
    out.extend_from_slice(&secs.to_ne_bytes());
    out.extend_from_slice(&ns.to_ne_bytes());
    out.extend_from_slice(&(data.len() as u32).to_ne_bytes());
    out.extend_from_slice(&(wire_len as u32).to_ne_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_follow_the_header_layout() {
        let h = header(2048);
        assert_eq!(u32::from_ne_bytes(h[0..4].try_into().unwrap()), MAGIC_NS);
        assert_eq!(u32::from_ne_bytes(h[16..20].try_into().unwrap()), 2048);
        let mut out = Vec::new();
        record(&mut out, 1_700_000_000_123_456_789, &[1, 2, 3], 60);
        assert_eq!(out.len(), 16 + 3);
        assert_eq!(
            u32::from_ne_bytes(out[0..4].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(
            u32::from_ne_bytes(out[4..8].try_into().unwrap()),
            123_456_789
        );
        assert_eq!(u32::from_ne_bytes(out[8..12].try_into().unwrap()), 3);
        assert_eq!(u32::from_ne_bytes(out[12..16].try_into().unwrap()), 60);
    }
}
