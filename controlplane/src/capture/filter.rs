//! Capture filters in tcpdump's language, compiled and run by libpcap (the
//! library tcpdump itself uses), on the control plane's copy of each frame:
//! the packet path never runs a filter.
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut c_void,
}

#[repr(C)]
struct PcapPkthdr {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

const DLT_EN10MB: c_int = 1;
const PCAP_NETMASK_UNKNOWN: u32 = 0xffff_ffff;

#[link(name = "pcap")]
extern "C" {
    fn pcap_open_dead(linktype: c_int, snaplen: c_int) -> *mut c_void;
    fn pcap_close(p: *mut c_void);
    fn pcap_compile(
        p: *mut c_void,
        fp: *mut BpfProgram,
        s: *const c_char,
        optimize: c_int,
        netmask: u32,
    ) -> c_int;
    fn pcap_geterr(p: *mut c_void) -> *mut c_char;
    fn pcap_freecode(fp: *mut BpfProgram);
    fn pcap_offline_filter(fp: *const BpfProgram, h: *const PcapPkthdr, pkt: *const u8) -> c_int;
}

/// A compiled filter for Ethernet frames.
pub struct Filter {
    prog: BpfProgram,
}

// The program is plain memory owned by this value; libpcap's filter function
// only reads it.
unsafe impl Send for Filter {}

impl Filter {
    /// Compiles `expr` (e.g. "icmp or tcp port 80"); the error is libpcap's.
    pub fn compile(expr: &str, snaplen: usize) -> Result<Filter, String> {
        let c = CString::new(expr).map_err(|_| "filter: contains a NUL byte".to_string())?;
        // SAFETY: pcap_open_dead returns a handle or null; it is closed below on every path.
        let p = unsafe { pcap_open_dead(DLT_EN10MB, snaplen as c_int) };
        if p.is_null() {
            return Err("filter: libpcap could not open a handle".into());
        }
        let mut prog = BpfProgram {
            bf_len: 0,
            bf_insns: std::ptr::null_mut(),
        };
        // SAFETY: p is a live handle, prog a valid out-parameter, c a NUL-terminated string.
        let rc = unsafe { pcap_compile(p, &mut prog, c.as_ptr(), 1, PCAP_NETMASK_UNKNOWN) };
        let result = if rc == 0 {
            Ok(Filter { prog })
        } else {
            // SAFETY: pcap_geterr returns a NUL-terminated string owned by p, read before closing it.
            let msg = unsafe { CStr::from_ptr(pcap_geterr(p)) }
                .to_string_lossy()
                .into_owned();
            Err(format!("filter {expr:?}: {msg}"))
        };
        // SAFETY: p came from pcap_open_dead and is not used after this.
        unsafe { pcap_close(p) };
        result
    }

    /// Whether the frame (its first `data.len()` of `wire_len` bytes) matches.
    pub fn matches(&self, data: &[u8], wire_len: usize) -> bool {
        let h = PcapPkthdr {
            ts: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            caplen: data.len() as u32,
            len: wire_len as u32,
        };
        // SAFETY: the program is compiled and owned by self; h and data are valid for
        // the call, and caplen tells libpcap how far it may read.
        unsafe { pcap_offline_filter(&self.prog, &h, data.as_ptr()) != 0 }
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        // SAFETY: the program was filled by pcap_compile and is freed once.
        unsafe { pcap_freecode(&mut self.prog) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + ICMP echo request header, 42 bytes.
    fn icmp_frame(vlan: Option<u16>) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        if let Some(v) = vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&v.to_be_bytes());
        }
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 1, 10, 10, 0, 2, 10,
        ]);
        f.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0]);
        f
    }

    #[test]
    fn filters_match_as_tcpdump_does() {
        let f = icmp_frame(None);
        assert!(Filter::compile("icmp", 2048).unwrap().matches(&f, f.len()));
        assert!(Filter::compile("host 10.0.2.10", 2048)
            .unwrap()
            .matches(&f, f.len()));
        assert!(!Filter::compile("tcp port 80", 2048)
            .unwrap()
            .matches(&f, f.len()));
        let t = icmp_frame(Some(10));
        assert!(Filter::compile("vlan 10 and icmp", 2048)
            .unwrap()
            .matches(&t, t.len()));
        assert!(!Filter::compile("vlan 20", 2048)
            .unwrap()
            .matches(&t, t.len()));
    }

    #[test]
    fn a_bad_filter_gets_libpcaps_message() {
        let e = Filter::compile("icmp and port", 2048)
            .err()
            .expect("refused");
        assert!(e.starts_with("filter \"icmp and port\": "), "{e}");
    }
}
