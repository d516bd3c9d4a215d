//! A running capture as a `Read`: pcap bytes until the count or the duration is
//! reached, the vnet is destroyed, or the client goes away (then the HTTP
//! server drops the stream and the capture stops).
use super::filter::Filter;
use super::pcap;
use dataplane::capture::{Attachment, Session, Tap};
use dataplane::runtime::Dataplane;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Slots per worker: at 2 KiB each, 4 MiB per worker while a capture runs.
const SLOTS_PER_WORKER: usize = 2048;
/// How often an idle stream looks for frames (and whether its vnet still exists).
const POLL: Duration = Duration::from_millis(2);

/// What the client asked for.
#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Bytes kept of each frame (64..=9216; default 2048).
    pub snaplen: Option<usize>,
    /// Only this interface of the vnet.
    pub interface: Option<String>,
    /// tcpdump's filter language.
    pub filter: Option<String>,
}

pub struct CaptureStream {
    dp: Arc<Dataplane>,
    vnet: String,
    vnet_id: u64,
    tap: Arc<Tap>,
    session: Arc<Session>,
    filter: Option<Filter>,
    left: Option<u64>,
    deadline: Option<Instant>,
    /// TSC and wall clock at the start, and the TSC's rate: frame times.
    tsc0: u64,
    wall0_ns: u128,
    hz: u64,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
    written: u64,
    batch: Vec<(u64, Vec<u8>, usize)>,
}

impl CaptureStream {
    /// Validates everything, then starts the capture. Errors are (HTTP status, message).
    pub fn start(
        dp: Arc<Dataplane>,
        vnet: &str,
        o: &CaptureOptions,
    ) -> Result<CaptureStream, (u16, String)> {
        let snaplen = o.snaplen.unwrap_or(2048);
        if !(64..=9216).contains(&snaplen) {
            return Err((
                400,
                format!("snaplen: expected 64..=9216 bytes, found {snaplen}"),
            ));
        }
        if o.count == Some(0) {
            return Err((400, "count: expected at least 1".into()));
        }
        let filter = match o.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(Filter::compile(f, snaplen).map_err(|e| (400, e))?),
            None => None,
        };
        let tables = dp.tables();
        let v = tables
            .vnets
            .iter()
            .find(|v| v.fwd.name == vnet)
            .ok_or_else(|| (404, format!("no vnet named {vnet:?}")))?;
        let only = match &o.interface {
            None => None,
            Some(name) => {
                let i = v.fwd.interfaces.iter().find(|i| &i.name == name).ok_or_else(|| {
                    let names: Vec<_> = v.fwd.interfaces.iter().map(|i| i.name.as_str()).collect();
                    (400, format!("interface: vnet {vnet:?} has no interface {name:?}: expected one of {names:?}"))
                })?;
                Some(Attachment {
                    port: i.port.0,
                    vlan: i.vlan,
                })
            }
        };
        let session = Session::new(dp.workers(), SLOTS_PER_WORKER, snaplen, only);
        let tap = v.fwd.counters.tap().clone();
        tap.start(session.clone()).map_err(|_| {
            (
                409,
                format!("a capture of vnet {vnet:?} is running already"),
            )
        })?;
        let wall0_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut buf = Vec::with_capacity(64 << 10);
        buf.extend_from_slice(&pcap::header(snaplen));
        eprintln!("vnetd: capture of vnet {vnet:?} started ({o:?})");
        Ok(CaptureStream {
            vnet: vnet.to_string(),
            vnet_id: v.fwd.id,
            tap,
            session,
            filter,
            left: o.count,
            deadline: o.duration.map(|d| Instant::now() + d),
            tsc0: dataplane::dpdk::tsc(),
            wall0_ns,
            hz: dataplane::dpdk::tsc_hz().max(1),
            buf,
            pos: 0,
            done: false,
            written: 0,
            batch: Vec::new(),
            dp,
        })
    }

    /// Moves what the workers captured into `buf`, oldest first.
    fn collect(&mut self) {
        let filter = &self.filter;
        let batch = &mut self.batch;
        self.session.drain(|s| {
            let data = &s.data[..s.len as usize];
            if filter
                .as_ref()
                .is_none_or(|f| f.matches(data, s.wire_len as usize))
            {
                batch.push((s.tsc, data.to_vec(), s.wire_len as usize));
            }
        });
        // Workers' rings interleave: order by time as one interface would.
        self.batch.sort_by_key(|b| b.0);
        for (tsc, data, wire_len) in self.batch.drain(..) {
            if self.left == Some(0) {
                break;
            }
            let dt = tsc as i128 - self.tsc0 as i128;
            let ns = (self.wall0_ns as i128 + dt * 1_000_000_000 / self.hz as i128).max(0) as u128;
            pcap::record(&mut self.buf, ns, &data, wire_len);
            self.written += 1;
            if let Some(l) = &mut self.left {
                *l -= 1;
            }
        }
        if self.left == Some(0) {
            self.done = true;
        }
    }

    fn vnet_gone(&self) -> bool {
        !self
            .dp
            .tables()
            .vnets
            .iter()
            .any(|v| v.fwd.id == self.vnet_id)
    }
}

impl Read for CaptureStream {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut polls = 0u32;
        loop {
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            self.buf.clear();
            self.pos = 0;
            if self.done {
                return Ok(0);
            }
            self.collect();
            if !self.buf.is_empty() {
                continue;
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.done = true;
                continue;
            }
            polls += 1;
            if polls.is_multiple_of(100) && self.vnet_gone() {
                eprintln!(
                    "vnetd: capture of vnet {:?}: the vnet was destroyed",
                    self.vnet
                );
                self.done = true;
                continue;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for CaptureStream {
    fn drop(&mut self) {
        self.tap.stop(&self.session);
        eprintln!(
            "vnetd: capture of vnet {:?} ended: {} frames written, {} lost (the reader was behind)",
            self.vnet,
            self.written,
            self.session.lost()
        );
    }
}
