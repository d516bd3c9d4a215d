//! Forwarding latency probe for perf/fwd (issue 7): sends the frames of a capture
//! into a router over one memif and takes them back from a second one, with the
//! TSC written into each frame's UDP payload at send and read at receive, so every
//! frame's time through the router (and both memif hops) is measured end to end.
//! The same probe serves vnetd and DPDK's l3fwd, which makes them comparable.
//!
//! The probe is the memif *server* on both sockets (it must start first); the router
//! under test connects as client: `net_memif0,role=client,socket=IN` for its
//! ingress port and the same with OUT for its egress port.
//!
//! Phases, one after the other on the same connection: first as fast as the probe
//! can send (the rate the router delivers is the "max"), then paced at each
//! `--fractions` of that max. Each phase: warm-up, a measured window (frames
//! stamped in it are the sample: all of them), then a short drain with nothing
//! sent. One JSON line per phase on stdout: offered and delivered rates, loss, and
//! the p50/p99/p99.9/max latency in microseconds. Pacing is by the TSC, in bursts
//! of whatever is due (one frame at a time at low rates, at most 32); if the probe
//! was descheduled it does not catch up in a burst but skips the lost time, so the
//! offered rate is what was actually sent.
//!
//! Nothing allocates in the send/receive loop: frames come from the mempool, the
//! stamps go into fixed arrays, the latencies into a fixed histogram.
//!
//!   fwd_latency --pcap v4.pcap --in /tmp/lat-in.sock --out /tmp/lat-out.sock \
//!       [--fractions 0.5,0.9] [--warmup 1] [--window 3] [--lcore 0] [--link-timeout 300]

use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::path::PathBuf;
use std::ptr;

use dpdk_sys as sys;
use perf::latency::{load_frames, read_stamp, stamp_offset, write_stamp, Histogram};

const BURST: usize = 32;
const RING: u16 = 1024;
const MBUFS: u32 = 16383;

struct Args {
    pcap: PathBuf,
    sock_in: String,
    sock_out: String,
    fractions: Vec<f64>,
    warmup: f64,
    window: f64,
    drain: f64,
    lcore: u32,
    link_timeout: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        pcap: PathBuf::new(),
        sock_in: String::new(),
        sock_out: String::new(),
        fractions: vec![0.5, 0.9],
        warmup: 1.0,
        window: 3.0,
        drain: 0.2,
        lcore: 0,
        link_timeout: 300.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k}: missing value"));
        let num = |s: String| s.parse::<f64>().map_err(|e| format!("{k} {s}: {e}"));
        match k.as_str() {
            "--pcap" => a.pcap = v()?.into(),
            "--in" => a.sock_in = v()?,
            "--out" => a.sock_out = v()?,
            "--fractions" => {
                a.fractions = v()?
                    .split(',')
                    .map(|s| match s.parse::<f64>() {
                        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
                        _ => Err(format!("--fractions: {s} is not in (0, 1]")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--warmup" => a.warmup = num(v()?)?,
            "--window" => a.window = num(v()?)?,
            "--drain" => a.drain = num(v()?)?,
            "--link-timeout" => a.link_timeout = num(v()?)?,
            "--lcore" => a.lcore = v()?.parse().map_err(|e| format!("--lcore: {e}"))?,
            _ => {
                return Err(format!(
                    "unknown argument {k} (see the top of fwd_latency.rs)"
                ))
            }
        }
    }
    if a.pcap.as_os_str().is_empty() || a.sock_in.is_empty() || a.sock_out.is_empty() {
        return Err("--pcap, --in and --out are required".into());
    }
    if a.window <= 0.0 {
        return Err("--window must be > 0".into());
    }
    Ok(a)
}

fn eal_init(a: &Args) -> Result<(), String> {
    let free_huge: u64 =
        std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
    let mut args: Vec<String> = [
        "fwd_latency",
        "--no-pci",
        "--log-level=lib.eal:error",
        "--in-memory",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("-l{}", a.lcore));
    // 64 MiB is plenty (16k mbufs); memif's own rings live in memfd regions.
    if free_huge >= 64 {
        args.extend(["-m".into(), "128".into()]);
    } else {
        args.extend(["--no-huge".into(), "-m".into(), "256".into()]);
    }
    for (i, s) in [&a.sock_in, &a.sock_out].iter().enumerate() {
        args.push(format!(
            "--vdev=net_memif{i},role=server,socket={s},socket-abstract=no"
        ));
    }
    eprintln!("fwd_latency: EAL {}", args.join(" "));
    let cargs: Vec<CString> = args
        .iter()
        .map(|s| CString::new(s.as_str()).unwrap())
        .collect();
    let mut argv: Vec<*mut c_char> = cargs.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    // SAFETY: argv holds NUL-terminated strings that outlive the call; once per process.
    let rc = unsafe { sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
    if rc < 0 {
        return Err(format!("rte_eal_init failed ({rc})"));
    }
    Ok(())
}

fn port_by_name(name: &str) -> Result<u16, String> {
    let c = CString::new(name).unwrap();
    let mut id = 0u16;
    // SAFETY: valid C string and out-pointer.
    let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    if rc != 0 {
        return Err(format!("no port {name} ({rc})"));
    }
    Ok(id)
}

fn port_start(port: u16, pool: *mut sys::rte_mempool) -> Result<(), String> {
    let conf = sys::rte_eth_conf::default();
    // SAFETY: port exists; conf and pool are valid for the calls.
    unsafe {
        let rc = sys::rte_eth_dev_configure(port, 1, 1, &conf);
        if rc != 0 {
            return Err(format!("port {port}: configure failed ({rc})"));
        }
        let rc = sys::rte_eth_rx_queue_setup(port, 0, RING, 0, ptr::null(), pool);
        if rc != 0 {
            return Err(format!("port {port}: RX queue setup failed ({rc})"));
        }
        let rc = sys::rte_eth_tx_queue_setup(port, 0, RING, 0, ptr::null());
        if rc != 0 {
            return Err(format!("port {port}: TX queue setup failed ({rc})"));
        }
        let rc = sys::rte_eth_dev_start(port);
        if rc != 0 {
            return Err(format!("port {port}: start failed ({rc})"));
        }
    }
    Ok(())
}

fn link_up(port: u16) -> bool {
    let mut link = sys::rte_eth_link::default();
    // SAFETY: valid out-pointer.
    unsafe { sys::rte_eth_link_get_nowait(port, &mut link) };
    link.link_status() == 1
}

fn tsc() -> u64 {
    // SAFETY: reads the TSC.
    unsafe { sys::rte_rdtsc() }
}

/// Frames to send: the capture's, each with the offset of its stamp.
struct Frames {
    data: Vec<Vec<u8>>,
    offsets: Vec<usize>,
    next: usize,
}

struct Probe {
    tx_port: u16,
    rx_port: u16,
    pool: *mut sys::rte_mempool,
    hz: u64,
    frames: Frames,
    hist: Histogram,
}

/// What one phase measured.
struct Phase {
    sent: u64,
    refused: u64,
    skipped: u64,
    received: u64,
    /// Probe frames stamped outside the window (warm-up, drain).
    outside: u64,
    /// Frames that are not the probe's (or came back on the ingress port).
    foreign: u64,
    window_s: f64,
}

impl Probe {
    /// Builds up to `n` stamped frames and offers them to the TX queue. Returns
    /// (sent, refused: the TX ring was full, freed here).
    fn send(&mut self, n: usize) -> (u64, u64) {
        let mut bufs = [ptr::null_mut::<sys::rte_mbuf>(); BURST];
        let mut at = [(ptr::null_mut::<u8>(), 0usize, 0usize); BURST];
        // SAFETY: bufs has room for n <= BURST mbufs.
        if unsafe { sys::rte_pktmbuf_alloc_bulk(self.pool, bufs.as_mut_ptr(), n as u32) } != 0 {
            return (0, 0); // pool empty for now: the router holds our frames
        }
        for (i, &m) in bufs[..n].iter().enumerate() {
            let f = &self.frames;
            let src = &f.data[f.next];
            // SAFETY: a fresh mbuf with 2 KiB of room; the frames are <= 1514 bytes.
            let dst = unsafe { sys::rte_pktmbuf_append(m, src.len() as u16) } as *mut u8;
            // SAFETY: dst has src.len() bytes (append succeeded for a fresh mbuf).
            unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
            at[i] = (dst, src.len(), f.offsets[f.next]);
            self.frames.next = (f.next + 1) % f.data.len();
        }
        // The stamp is the last thing written before the frames are handed over.
        let now = tsc();
        for &(dst, len, off) in &at[..n] {
            // SAFETY: dst points at len bytes of this frame's mbuf.
            let frame = unsafe { std::slice::from_raw_parts_mut(dst, len) };
            write_stamp(frame, off, now);
        }
        // SAFETY: n valid mbufs; the ones not taken stay ours.
        let sent =
            unsafe { sys::rte_eth_tx_burst(self.tx_port, 0, bufs.as_mut_ptr(), n as u16) } as usize;
        if sent < n {
            // SAFETY: bufs[sent..n] were not taken by the driver.
            unsafe { sys::rte_pktmbuf_free_bulk(bufs[sent..].as_mut_ptr(), (n - sent) as u32) };
        }
        (sent as u64, (n - sent) as u64)
    }

    /// Receives what came back; records the latency of frames stamped in
    /// [from, to). Returns (of the window, probe frames outside it, foreign).
    fn receive(&mut self, from: u64, to: u64) -> (u64, u64, u64) {
        let mut bufs = [ptr::null_mut::<sys::rte_mbuf>(); BURST];
        let (mut ours, mut outside, mut other) = (0, 0, 0);
        for port in [self.rx_port, self.tx_port] {
            // SAFETY: bufs has room for BURST mbufs.
            let n =
                unsafe { sys::rte_eth_rx_burst(port, 0, bufs.as_mut_ptr(), BURST as u16) } as usize;
            if n == 0 {
                continue;
            }
            let now = tsc();
            for &m in &bufs[..n] {
                // SAFETY: a received single-segment mbuf: data_len bytes at data_off.
                let frame = unsafe {
                    let m = &*m;
                    std::slice::from_raw_parts(
                        (m.buf_addr as *const u8).add(m.data_off as usize),
                        m.data_len as usize,
                    )
                };
                match read_stamp(frame) {
                    Some(t) if port == self.rx_port && t >= from && t < to => {
                        self.hist.record(now.saturating_sub(t));
                        ours += 1;
                    }
                    Some(_) if port == self.rx_port => outside += 1,
                    _ => other += 1,
                }
            }
            // SAFETY: n mbufs received above, freed once.
            unsafe { sys::rte_pktmbuf_free_bulk(bufs.as_mut_ptr(), n as u32) };
        }
        (ours, outside, other)
    }

    /// One phase at `rate` frames/s (None: as fast as the TX ring takes them).
    fn run(&mut self, rate: Option<f64>, a: &Args) -> Phase {
        self.hist.clear();
        let hz = self.hz as f64;
        let t0 = tsc();
        let start = t0 + (a.warmup * hz) as u64;
        let end = start + (a.window * hz) as u64;
        let drained = end + (a.drain * hz) as u64;
        let mut p = Phase {
            sent: 0,
            refused: 0,
            skipped: 0,
            received: 0,
            outside: 0,
            foreign: 0,
            window_s: a.window,
        };
        // Frames due since t0 at `rate`, and how many of them were handled.
        let mut handled: u64 = 0;
        let per_cycle = rate.map(|r| r / hz);
        // Falling behind by more than 1 ms of frames (descheduled) skips them.
        let max_lag = rate.map_or(0, |r| (r / 1000.0) as u64 + BURST as u64);
        loop {
            let now = tsc();
            if now >= drained {
                break;
            }
            if now < end {
                let n = match per_cycle {
                    None => BURST,
                    Some(pc) => {
                        let due = ((now - t0) as f64 * pc) as u64;
                        if due > handled + max_lag {
                            if now >= start {
                                p.skipped += due - handled - BURST as u64;
                            }
                            handled = due - BURST as u64;
                        }
                        (due - handled.min(due)).min(BURST as u64) as usize
                    }
                };
                if n > 0 {
                    let (sent, refused) = self.send(n);
                    handled += sent + refused;
                    if now >= start {
                        p.sent += sent;
                        p.refused += refused;
                    }
                }
            }
            let (ours, outside, other) = self.receive(start, end);
            p.received += ours;
            p.outside += outside;
            p.foreign += other;
        }
        p
    }
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fwd_latency: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&a) {
        eprintln!("fwd_latency: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> Result<(), String> {
    let data = load_frames(&a.pcap)?;
    // One mbuf each (2 KiB of room): rte_pktmbuf_append cannot fail in the loop.
    if let Some(i) = data.iter().position(|f| f.len() > 2048) {
        return Err(format!(
            "{}: frame {} is {} bytes, more than an mbuf holds (2048)",
            a.pcap.display(),
            i + 1,
            data[i].len()
        ));
    }
    let offsets = data
        .iter()
        .enumerate()
        .map(|(i, f)| {
            stamp_offset(f).map_err(|e| format!("{}: frame {}: {e}", a.pcap.display(), i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    eal_init(a)?;
    let name = CString::new("fwd_latency").unwrap();
    // SAFETY: EAL is up; the name is a valid C string.
    let pool =
        unsafe { sys::rte_pktmbuf_pool_create(name.as_ptr(), MBUFS, 256, 0, 2048 + 128, -1) };
    if pool.is_null() {
        return Err("rte_pktmbuf_pool_create failed".into());
    }
    let tx_port = port_by_name("net_memif0")?;
    let rx_port = port_by_name("net_memif1")?;
    port_start(tx_port, pool)?;
    port_start(rx_port, pool)?;
    eprintln!(
        "fwd_latency: {} frames from {}; waiting for the router on {} and {}",
        data.len(),
        a.pcap.display(),
        a.sock_in,
        a.sock_out
    );
    let waited = std::time::Instant::now();
    while !(link_up(tx_port) && link_up(rx_port)) {
        if waited.elapsed().as_secs_f64() > a.link_timeout {
            return Err(format!("no router connected after {} s", a.link_timeout));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!(
        "fwd_latency: both links up after {:.1} s",
        waited.elapsed().as_secs_f64()
    );
    // SAFETY: plain query.
    let hz = unsafe { sys::rte_get_tsc_hz() };
    let mut probe = Probe {
        tx_port,
        rx_port,
        pool,
        hz,
        frames: Frames {
            data,
            offsets,
            next: 0,
        },
        hist: Histogram::new(),
    };
    // Nothing may flow yet while the router finishes starting: wait until a
    // frame makes the round trip (up to link_timeout), then measure.
    let ready = std::time::Instant::now();
    loop {
        probe.send(1);
        std::thread::sleep(std::time::Duration::from_millis(10));
        let (ours, _, _) = probe.receive(0, u64::MAX);
        if ours > 0 {
            break;
        }
        if ready.elapsed().as_secs_f64() > a.link_timeout {
            return Err("no frame came back through the router".into());
        }
    }
    eprintln!("fwd_latency: frames come back; measuring");
    // Tells the harness the phases start (it samples the router's CPU time here).
    println!("{{\"ready\": true}}");
    let max = probe.run(None, a);
    let max_pps = max.received as f64 / max.window_s;
    report(&probe, "max", None, &max);
    for &f in &a.fractions {
        let p = probe.run(Some(max_pps * f), a);
        report(&probe, &format!("{f}"), Some(max_pps * f), &p);
    }
    // SAFETY: EAL cleanup at exit; nothing uses DPDK afterwards.
    unsafe {
        sys::rte_eth_dev_stop(tx_port);
        sys::rte_eth_dev_stop(rx_port);
        sys::rte_eal_cleanup();
    }
    Ok(())
}

fn report(probe: &Probe, phase: &str, target_pps: Option<f64>, p: &Phase) {
    let us = |c: Option<u64>| match c {
        Some(c) => format!("{:.3}", c as f64 * 1e6 / probe.hz as f64),
        None => "null".into(),
    };
    let h = &probe.hist;
    let line = format!(
        "{{\"phase\": \"{phase}\", \"target_mpps\": {}, \"sent_mpps\": {:.4}, \"rx_mpps\": {:.4}, \
         \"sent\": {}, \"received\": {}, \"lost\": {}, \"tx_refused\": {}, \"skipped\": {}, \
         \"outside\": {}, \"foreign\": {}, \"p50_us\": {}, \"p99_us\": {}, \"p999_us\": {}, \"min_us\": {}, \
         \"max_us\": {}, \"tsc_hz\": {}}}",
        target_pps.map_or("null".into(), |t| format!("{:.4}", t / 1e6)),
        p.sent as f64 / p.window_s / 1e6,
        p.received as f64 / p.window_s / 1e6,
        p.sent,
        p.received,
        p.sent.saturating_sub(p.received),
        p.refused,
        p.skipped,
        p.outside,
        p.foreign,
        us(h.quantile(0.5)),
        us(h.quantile(0.99)),
        us(h.quantile(0.999)),
        us(h.min()),
        us(h.max()),
        probe.hz,
    );
    println!("{line}");
    eprintln!("fwd_latency: {line}");
}
