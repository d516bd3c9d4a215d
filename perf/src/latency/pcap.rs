//! Reads the frames of a classic pcap file (what perf/fwd/gen.py writes) into
//! memory once, before anything is timed.

use std::path::Path;

/// Every frame of the capture, in order. Errors name the file and the byte offset.
pub fn load_frames(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&data).map_err(|(off, why)| format!("{}: byte {off}: {why}", path.display()))
}

fn parse(data: &[u8]) -> Result<Vec<Vec<u8>>, (usize, &'static str)> {
    if data.len() < 24 {
        return Err((0, "shorter than a pcap file header"));
    }
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    // Microsecond or nanosecond timestamps, either byte order.
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => return Err((0, "not a pcap file (bad magic)")),
    };
    let u32_at = |o: usize| {
        let b: [u8; 4] = data[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    if u32_at(20) != 1 {
        return Err((20, "link type is not Ethernet"));
    }
    let mut frames = Vec::new();
    let mut off = 24;
    while off < data.len() {
        if data.len() - off < 16 {
            return Err((off, "truncated record header"));
        }
        let caplen = u32_at(off + 8) as usize;
        let start = off + 16;
        if data.len() - start < caplen {
            return Err((off, "truncated frame"));
        }
        frames.push(data[start..start + caplen].to_vec());
        off = start + caplen;
    }
    if frames.is_empty() {
        return Err((24, "no frames"));
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(frames: &[&[u8]]) -> Vec<u8> {
        let mut d = Vec::new();
        for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            d.extend(w.to_le_bytes());
        }
        for (i, f) in frames.iter().enumerate() {
            for w in [i as u32, 0, f.len() as u32, f.len() as u32] {
                d.extend(w.to_le_bytes());
            }
            d.extend(*f);
        }
        d
    }

    #[test]
    fn reads_frames_in_order() {
        let d = file(&[&[1, 2, 3], &[4; 60]]);
        let f = parse(&d).unwrap();
        assert_eq!(f, vec![vec![1, 2, 3], vec![4; 60]]);
    }

    #[test]
    fn says_where_it_is_broken() {
        let d = file(&[&[1, 2, 3]]);
        assert_eq!(parse(&d[..d.len() - 1]), Err((24, "truncated frame")));
        assert_eq!(parse(&d[..30]), Err((24, "truncated record header")));
        assert_eq!(parse(&d[..24]), Err((24, "no frames")));
        let mut bad = d.clone();
        bad[0] = 0;
        assert_eq!(parse(&bad), Err((0, "not a pcap file (bad magic)")));
    }
}
