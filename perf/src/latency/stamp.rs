//! The probe's timestamp inside a frame: a magic word and the TSC at send time, at
//! the start of the UDP payload of an Ethernet (optionally 802.1Q) / IPv4 / UDP
//! frame. A router rewrites the L2 header, the TTL and the IP checksum but never
//! the payload, so the stamp comes back as written. Writing it changes the payload,
//! so the UDP checksum is zeroed (IPv4 allows "no checksum").

/// "vLAT": tells the probe's frames from anything else on the port.
const MAGIC: u32 = 0x764c_4154;
/// Bytes of payload the stamp takes (magic + TSC).
pub const STAMP_LEN: usize = 12;

/// Where the stamp goes in `frame` (the UDP payload), or why it cannot: the
/// probe checks every template once at load time.
pub fn stamp_offset(frame: &[u8]) -> Result<usize, &'static str> {
    let mut l2 = 14;
    let get16 = |o: usize| {
        frame
            .get(o..o + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let mut ethertype = get16(12).ok_or("shorter than an Ethernet header")?;
    if ethertype == 0x8100 {
        ethertype = get16(16).ok_or("shorter than an 802.1Q header")?;
        l2 = 18;
    }
    if ethertype != 0x0800 {
        return Err("not IPv4");
    }
    let vihl = *frame.get(l2).ok_or("no IPv4 header")?;
    if vihl >> 4 != 4 {
        return Err("IP version is not 4");
    }
    if *frame.get(l2 + 9).ok_or("no IPv4 header")? != 17 {
        return Err("not UDP");
    }
    let off = l2 + usize::from(vihl & 0x0f) * 4 + 8;
    if frame.len() < off + STAMP_LEN {
        return Err("UDP payload shorter than the 12-byte stamp");
    }
    Ok(off)
}

/// Writes the stamp at `off` (from [`stamp_offset`]) and zeroes the UDP checksum.
#[inline]
pub fn write_stamp(frame: &mut [u8], off: usize, tsc: u64) {
    frame[off..off + 4].copy_from_slice(&MAGIC.to_ne_bytes());
    frame[off + 4..off + 12].copy_from_slice(&tsc.to_ne_bytes());
    frame[off - 2..off].fill(0);
}

/// The TSC a probe frame was sent at; None for a frame that is not one.
#[inline]
pub fn read_stamp(frame: &[u8]) -> Option<u64> {
    let off = stamp_offset(frame).ok()?;
    let magic = u32::from_ne_bytes(frame[off..off + 4].try_into().ok()?);
    (magic == MAGIC).then(|| u64::from_ne_bytes(frame[off + 4..off + 12].try_into().unwrap()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 60-byte Ethernet/IPv4/UDP frame as perf/fwd/gen.py writes them.
    fn udp4(vlan: bool) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        if vlan {
            f.extend([0x81, 0x00, 0x00, 0x07]);
        }
        f.extend([0x08, 0x00]);
        f.extend([0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        f.extend([198, 51, 100, 2, 10, 1, 2, 3]);
        f.extend([0x04, 0x00, 0x00, 0x09, 0, 26, 0xab, 0xcd]);
        f.resize(f.len() + 18, 0);
        f
    }

    #[test]
    fn round_trip_plain_and_tagged() {
        for vlan in [false, true] {
            let mut f = udp4(vlan);
            let off = stamp_offset(&f).unwrap();
            assert_eq!(off, if vlan { 46 } else { 42 });
            assert_eq!(read_stamp(&f), None);
            write_stamp(&mut f, off, 0x0123_4567_89ab_cdef);
            assert_eq!(read_stamp(&f), Some(0x0123_4567_89ab_cdef));
            assert_eq!(&f[off - 2..off], &[0, 0], "UDP checksum zeroed");
        }
    }

    #[test]
    fn refuses_what_it_cannot_stamp() {
        let mut f = udp4(false);
        f[23] = 6;
        assert_eq!(stamp_offset(&f), Err("not UDP"));
        let mut f = udp4(false);
        f[12] = 0x86;
        f[13] = 0xdd;
        assert_eq!(stamp_offset(&f), Err("not IPv4"));
        let f = udp4(false);
        assert!(stamp_offset(&f[..50]).is_err());
        assert!(stamp_offset(&f[..10]).is_err());
    }
}
