//! Configuration of pipes, queues and schedulers, and parsers for dummynet's text
//! (`pipe N config ...`, `queue N config ...`). The TOML loader maps its tables into
//! these types; everything is validated here once, before a set is built.

use std::fmt;
use std::str::FromStr;

use crate::flow::FlowMask;
use crate::units::{Bandwidth, Delay};

/// dummynet's default queue size: 50 slots.
pub const DEFAULT_QUEUE_SLOTS: u32 = 50;
/// Default hash table size hint for dynamic queues/pipes.
pub const DEFAULT_BUCKETS: u32 = 64;
/// Default bound on dynamic queues (or pipe instances) per mask.
pub const DEFAULT_MAX_FLOWS: u32 = 65_536;

/// A queue's capacity: packets (`queue 50`) or bytes (`queue 100KBytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueLimit {
    Slots(u32),
    Bytes(u64),
}

impl Default for QueueLimit {
    fn default() -> Self {
        QueueLimit::Slots(DEFAULT_QUEUE_SLOTS)
    }
}

/// RED (`red w_q/min_th/max_th/max_p`) or gentle RED (`gred ...`). Thresholds are in
/// packets, or in bytes when the queue limit is in bytes (as in dummynet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RedConfig {
    pub w_q: f64,
    pub min_th: u64,
    pub max_th: u64,
    pub max_p: f64,
    pub gentle: bool,
}

/// FQ-CoDel's parameters (defaults as RFC 8290 / FreeBSD's dn_sched_fq_codel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FqCodelConfig {
    pub target: Delay,
    pub interval: Delay,
    pub quantum: u32,
    /// Total packets held by one scheduler instance.
    pub limit: u32,
    /// Hashed sub-queues.
    pub flows: u32,
    /// Mark ECN-capable packets (set CE) where CoDel would drop them (RFC 8290);
    /// packets that are not ECN-capable are still dropped.
    pub ecn: bool,
}

impl Default for FqCodelConfig {
    fn default() -> Self {
        FqCodelConfig {
            target: Delay::from_millis(5),
            interval: Delay::from_millis(100),
            quantum: 1514,
            limit: 10_240,
            flows: 1024,
            ecn: false,
        }
    }
}

/// Which scheduler shares a pipe among its queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchedulerConfig {
    /// One arrival-order queue; weights ignored.
    Fifo,
    /// WF2Q+ (dummynet's default).
    #[default]
    Wf2q,
    /// Deficit round robin (`rr`): a queue may send `quantum * weight` bytes a round.
    Drr {
        quantum: u32,
    },
    /// Strict priority by the queue's `prio` (0 first), round robin within a level.
    Prio,
    /// QFQ; `lmax` is the largest packet (bytes) it accepts.
    Qfq {
        lmax: u32,
    },
    FqCodel(FqCodelConfig),
}

impl SchedulerConfig {
    pub fn name(&self) -> &'static str {
        match self {
            SchedulerConfig::Fifo => "fifo",
            SchedulerConfig::Wf2q => "wf2q+",
            SchedulerConfig::Drr { .. } => "rr",
            SchedulerConfig::Prio => "prio",
            SchedulerConfig::Qfq { .. } => "qfq",
            SchedulerConfig::FqCodel(_) => "fq_codel",
        }
    }
}

/// `pipe N config ...`: the link (bandwidth, delay, loss) plus the pipe's own queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipeConfig {
    pub id: u32,
    /// 0 = unlimited.
    pub bw: Bandwidth,
    pub delay: Delay,
    /// Random loss probability on entry, for every packet sent to the pipe or to one
    /// of its queues (a link property here; dummynet applies it per flowset).
    pub plr: f64,
    /// Limit of the pipe's own queue (`pipe N` in a rule).
    pub queue: QueueLimit,
    /// Bytes that may leave back to back after the pipe was idle.
    pub burst: u64,
    pub red: Option<RedConfig>,
    /// Non-empty: one dynamic pipe (own bandwidth, delay line) per masked flow.
    pub mask: FlowMask,
    /// Hash table size hint for dynamic pipes.
    pub buckets: u32,
    /// Bound on dynamic pipes.
    pub max_flows: u32,
    /// ipfw's `noerror`: a drop is not reported to the sender (kept for the
    /// dataplane; a router never reports local drops anyway).
    pub noerror: bool,
    pub scheduler: SchedulerConfig,
}

impl PipeConfig {
    pub fn new(id: u32) -> Self {
        PipeConfig {
            id,
            bw: Bandwidth::UNLIMITED,
            delay: Delay::ZERO,
            plr: 0.0,
            queue: QueueLimit::default(),
            burst: 0,
            red: None,
            mask: FlowMask::NONE,
            buckets: DEFAULT_BUCKETS,
            max_flows: DEFAULT_MAX_FLOWS,
            noerror: false,
            scheduler: SchedulerConfig::default(),
        }
    }
}

/// `queue N config pipe P weight W ...`: a flowset sharing pipe P.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueConfig {
    pub id: u32,
    pub pipe: u32,
    /// 1..=65536.
    pub weight: u32,
    /// For the PRIO scheduler: 0 (served first) ..= 15.
    pub prio: u8,
    pub queue: QueueLimit,
    pub plr: f64,
    pub red: Option<RedConfig>,
    /// Non-empty: one dynamic queue per masked flow, each with this weight.
    pub mask: FlowMask,
    pub buckets: u32,
    pub max_flows: u32,
}

impl QueueConfig {
    pub fn new(id: u32, pipe: u32) -> Self {
        QueueConfig {
            id,
            pipe,
            weight: 1,
            prio: 0,
            queue: QueueLimit::default(),
            plr: 0.0,
            red: None,
            mask: FlowMask::NONE,
            buckets: DEFAULT_BUCKETS,
            max_flows: DEFAULT_MAX_FLOWS,
        }
    }
}

/// Everything one [`ShaperSet`](crate::ShaperSet) holds (one vnet's pipes).
#[derive(Debug, Clone, PartialEq)]
pub struct ShaperConfig {
    pub pipes: Vec<PipeConfig>,
    pub queues: Vec<QueueConfig>,
    /// Packet slots preallocated for the whole set (queued + in delay lines).
    pub pool_slots: u32,
    /// Seed for loss, RED and hash perturbation.
    pub seed: u64,
}

impl Default for ShaperConfig {
    fn default() -> Self {
        ShaperConfig {
            pipes: Vec::new(),
            queues: Vec::new(),
            pool_slots: 65_536,
            seed: 0x5eed,
        }
    }
}

/// Why a configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    DuplicatePipe(u32),
    DuplicateQueue(u32),
    /// Queue `.0` names pipe `.1`, which does not exist.
    UnknownPipe(u32, u32),
    /// Pipe or queue `.0`: a parameter out of range, with what was expected.
    Invalid(u32, &'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::DuplicatePipe(p) => write!(f, "pipe {p} is defined twice"),
            ConfigError::DuplicateQueue(q) => write!(f, "queue {q} is defined twice"),
            ConfigError::UnknownPipe(q, p) => {
                write!(f, "queue {q} refers to pipe {p}, which is not defined")
            }
            ConfigError::Invalid(id, what) => write!(f, "pipe/queue {id}: expected {what}"),
        }
    }
}

impl std::error::Error for ConfigError {}

fn check_red(id: u32, red: &Option<RedConfig>) -> Result<(), ConfigError> {
    if let Some(r) = red {
        if !(r.w_q > 0.0 && r.w_q <= 1.0) {
            return Err(ConfigError::Invalid(id, "RED w_q in (0, 1]"));
        }
        if !(r.max_p > 0.0 && r.max_p <= 1.0) {
            return Err(ConfigError::Invalid(id, "RED max_p in (0, 1]"));
        }
        if r.min_th >= r.max_th {
            return Err(ConfigError::Invalid(id, "RED min_th below max_th"));
        }
    }
    Ok(())
}

fn check_common(
    id: u32,
    plr: f64,
    queue: QueueLimit,
    red: &Option<RedConfig>,
    buckets: u32,
    max_flows: u32,
) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&plr) {
        return Err(ConfigError::Invalid(id, "plr between 0 and 1"));
    }
    match queue {
        QueueLimit::Slots(0) | QueueLimit::Bytes(0) => {
            return Err(ConfigError::Invalid(id, "a queue size above 0"))
        }
        _ => {}
    }
    if buckets == 0 || buckets > 1 << 24 {
        return Err(ConfigError::Invalid(id, "buckets between 1 and 16777216"));
    }
    if max_flows == 0 {
        return Err(ConfigError::Invalid(id, "max_flows above 0"));
    }
    check_red(id, red)
}

impl PipeConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_common(
            self.id,
            self.plr,
            self.queue,
            &self.red,
            self.buckets,
            self.max_flows,
        )?;
        if self.bw.bits_per_sec() > crate::link::MAX_BW {
            return Err(ConfigError::Invalid(self.id, "a bandwidth up to 72 Pbit/s"));
        }
        match self.scheduler {
            SchedulerConfig::Drr { quantum: 0 } => {
                Err(ConfigError::Invalid(self.id, "a DRR quantum above 0"))
            }
            SchedulerConfig::Qfq { lmax } if lmax == 0 || lmax > 65_536 => Err(
                ConfigError::Invalid(self.id, "QFQ lmax between 1 and 65536"),
            ),
            SchedulerConfig::FqCodel(c)
                if c.quantum == 0
                    || c.limit == 0
                    || c.flows == 0
                    || c.flows > 65_536
                    || c.interval.is_zero() =>
            {
                Err(ConfigError::Invalid(
                    self.id,
                    "FQ-CoDel quantum, limit and interval above 0, flows 1..=65536",
                ))
            }
            _ => Ok(()),
        }
    }
}

impl QueueConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_common(
            self.id,
            self.plr,
            self.queue,
            &self.red,
            self.buckets,
            self.max_flows,
        )?;
        if !(1..=65_536).contains(&self.weight) {
            return Err(ConfigError::Invalid(self.id, "weight between 1 and 65536"));
        }
        if self.prio > 15 {
            return Err(ConfigError::Invalid(self.id, "prio between 0 and 15"));
        }
        Ok(())
    }
}

impl ShaperConfig {
    /// A packet pool that holds what the pipes can hold: every queue full (bytes
    /// limits counted in 64-byte packets; masked queues and pipes for up to 16
    /// flows) plus each pipe's delay line at full rate (bw × delay in 512-byte
    /// packets), within 256..=65536 slots. Beyond it packets are dropped as
    /// `pool_exhausted`, never allocated.
    pub fn suggested_pool(&self) -> u32 {
        let slots = |q: QueueLimit| match q {
            QueueLimit::Slots(n) => u64::from(n),
            QueueLimit::Bytes(b) => b.div_ceil(64),
        };
        let flows = |m: &FlowMask| if m.is_none() { 1 } else { 16 };
        let mut total = 64u64;
        for p in &self.pipes {
            let inst = flows(&p.mask);
            let line = (u128::from(p.bw.bits_per_sec()) * u128::from(p.delay.nanos()))
                .div_ceil(8 * 512 * 1_000_000_000) as u64;
            total += inst * (slots(p.queue) + line);
            if let SchedulerConfig::FqCodel(c) = p.scheduler {
                total += inst * u64::from(c.limit);
            }
        }
        for q in &self.queues {
            total += flows(&q.mask) * slots(q.queue);
        }
        total.clamp(256, 65_536) as u32
    }

    /// Checks ids, references and ranges; a set is built only from a valid config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut ids = std::collections::HashSet::new();
        for p in &self.pipes {
            if !ids.insert(p.id) {
                return Err(ConfigError::DuplicatePipe(p.id));
            }
            p.validate()?;
        }
        let mut qids = std::collections::HashSet::new();
        for q in &self.queues {
            if !qids.insert(q.id) {
                return Err(ConfigError::DuplicateQueue(q.id));
            }
            if !ids.contains(&q.pipe) {
                return Err(ConfigError::UnknownPipe(q.id, q.pipe));
            }
            q.validate()?;
        }
        if self.pool_slots == 0 || self.pool_slots == u32::MAX {
            return Err(ConfigError::Invalid(0, "pool_slots between 1 and 2^32-2"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// Text parsers.

/// Parses a mask specification (`src-ip 0xffffff00 dst-port 0xffff`, `all`); the
/// error's column is within `text`.
pub fn parse_mask_text(text: &str) -> Result<FlowMask, ParseError> {
    let mut t = Tokens::new(text);
    let m = parse_mask(&mut t)?;
    if t.peek().is_some() {
        return Err(t.err(
            "a mask field: all, src-ip, dst-ip, src-ip6, dst-ip6, src-port, dst-port or proto",
        ));
    }
    Ok(m)
}

/// Parses RED parameters `w_q/min_th/max_th/max_p` (`gentle` for `gred`).
pub fn parse_red_text(text: &str, gentle: bool) -> Option<RedConfig> {
    parse_red(text.trim(), gentle)
}

/// Parses a queue size: slots (`50`) or bytes (`100KBytes`).
pub fn parse_queue_text(text: &str) -> Option<QueueLimit> {
    parse_queue(text.trim())
}

/// Parses a byte count with an optional K/M/G unit (`3000`, `64KBytes`).
pub fn parse_bytes_text(text: &str) -> Option<u64> {
    parse_bytes(text.trim())
}

/// A scheduler by name (`fifo`, `wf2q+`, `rr`/`drr`, `prio`, `qfq`, `fq_codel`) with
/// its default options.
pub fn parse_scheduler_name(name: &str) -> Option<SchedulerConfig> {
    parse_sched_type(name)
}

/// A parse error in `pipe`/`queue` text: where (1-based column, in bytes), what was
/// expected, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub column: usize,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.found.is_empty() {
            write!(
                f,
                "column {}: expected {}, found end of line",
                self.column, self.expected
            )
        } else {
            write!(
                f,
                "column {}: expected {}, found \"{}\"",
                self.column, self.expected, self.found
            )
        }
    }
}

impl std::error::Error for ParseError {}

struct Tokens<'a> {
    text: &'a str,
    toks: Vec<(usize, &'a str)>,
    pos: usize,
}

const KEYWORDS: &[&str] = &[
    "bw",
    "bandwidth",
    "delay",
    "plr",
    "queue",
    "burst",
    "red",
    "gred",
    "droptail",
    "mask",
    "buckets",
    "noerror",
    "type",
    "sched",
    "weight",
    "pipe",
    "prio",
    "pri",
    "quantum",
    "lmax",
    "target",
    "interval",
    "limit",
    "flows",
    "ecn",
    "noecn",
    "max_flows",
    "all",
    "src-ip",
    "dst-ip",
    "src-ip6",
    "dst-ip6",
    "src-port",
    "dst-port",
    "proto",
];

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        let mut toks = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            if c.is_whitespace() || c == ',' {
                if let Some(s) = start.take() {
                    toks.push((s, &text[s..i]));
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            toks.push((s, &text[s..]));
        }
        Tokens { text, toks, pos: 0 }
    }

    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.pos).map(|t| t.1)
    }

    fn column(&self) -> usize {
        self.toks
            .get(self.pos)
            .map_or(self.text.len() + 1, |t| t.0 + 1)
    }

    fn err(&self, expected: impl Into<String>) -> ParseError {
        ParseError {
            column: self.column(),
            expected: expected.into(),
            found: self.peek().unwrap_or("").to_string(),
        }
    }

    fn next(&mut self, expected: &str) -> Result<&'a str, ParseError> {
        match self.peek() {
            Some(t) => {
                self.pos += 1;
                Ok(t)
            }
            None => Err(self.err(expected)),
        }
    }

    /// A value that may be written with its unit as a separate word (`10 Mbit/s`).
    fn value_with_unit(&mut self, expected: &str) -> Result<(usize, String), ParseError> {
        let col = self.column();
        let v = self.next(expected)?;
        let mut s = v.to_string();
        if let Some(unit) = self.peek() {
            let starts_alpha = unit.chars().next().is_some_and(|c| c.is_alphabetic());
            let ends_digit = v.chars().last().is_some_and(|c| c.is_ascii_digit());
            if starts_alpha && ends_digit && !KEYWORDS.contains(&unit) {
                s.push_str(unit);
                self.pos += 1;
            }
        }
        Ok((col, s))
    }

    fn number<T: FromStr>(&mut self, expected: &str) -> Result<T, ParseError> {
        let t = self.peek().ok_or_else(|| self.err(expected))?;
        let v = t.parse().map_err(|_| self.err(expected))?;
        self.pos += 1;
        Ok(v)
    }
}

fn at(col: usize, expected: impl Into<String>, found: &str) -> ParseError {
    ParseError {
        column: col,
        expected: expected.into(),
        found: found.to_string(),
    }
}

fn parse_u64_any(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn parse_u128_any(s: &str) -> Option<u128> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u128::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Bytes with an optional K/M/G prefix and `B`/`Byte(s)` unit: `1500`, `64KBytes`.
fn parse_bytes(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..end].parse().ok()?;
    let unit = s[end..].to_ascii_lowercase();
    let mult = match unit.as_str() {
        "" | "b" | "byte" | "bytes" => 1,
        "k" | "kb" | "kbyte" | "kbytes" => 1024,
        "m" | "mb" | "mbyte" | "mbytes" => 1024 * 1024,
        "g" | "gb" | "gbyte" | "gbytes" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn parse_queue(s: &str) -> Option<QueueLimit> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok().map(QueueLimit::Slots);
    }
    parse_bytes(s).map(QueueLimit::Bytes)
}

fn parse_red(s: &str, gentle: bool) -> Option<RedConfig> {
    let mut it = s.split('/');
    let w_q: f64 = it.next()?.parse().ok()?;
    let min_th = parse_bytes(it.next()?)?;
    let max_th = parse_bytes(it.next()?)?;
    let max_p: f64 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some(RedConfig {
        w_q,
        min_th,
        max_th,
        max_p,
        gentle,
    })
}

fn parse_v4_mask(s: &str) -> Option<u32> {
    if let Ok(a) = s.parse::<std::net::Ipv4Addr>() {
        return Some(a.into());
    }
    if let Some(len) = s.strip_prefix('/') {
        let len: u32 = len.parse().ok()?;
        return (len <= 32).then(|| u32::MAX.checked_shl(32 - len).unwrap_or(0));
    }
    parse_u64_any(s).and_then(|v| u32::try_from(v).ok())
}

fn parse_v6_mask(s: &str) -> Option<u128> {
    if let Ok(a) = s.parse::<std::net::Ipv6Addr>() {
        return Some(a.into());
    }
    if let Some(len) = s.strip_prefix('/') {
        let len: u32 = len.parse().ok()?;
        return (len <= 128).then(|| u128::MAX.checked_shl(128 - len).unwrap_or(0));
    }
    parse_u128_any(s)
}

/// Parses `mask` specifiers until a word that is not one.
fn parse_mask(t: &mut Tokens<'_>) -> Result<FlowMask, ParseError> {
    let mut m = FlowMask::NONE;
    let mut any = false;
    const WHAT: &str =
        "a mask field: all, src-ip, dst-ip, src-ip6, dst-ip6, src-port, dst-port or proto";
    while let Some(field) = t.peek() {
        match field {
            "all" => {
                t.pos += 1;
                m = FlowMask::ALL;
            }
            "src-ip" | "dst-ip" => {
                t.pos += 1;
                let vcol = t.column();
                let v = t.next("an IPv4 mask like 0xffffff00 or /24")?;
                let v = parse_v4_mask(v)
                    .ok_or_else(|| at(vcol, "an IPv4 mask like 0xffffff00 or /24", v))?;
                if field == "src-ip" {
                    m.src_ip = v;
                } else {
                    m.dst_ip = v;
                }
            }
            "src-ip6" | "dst-ip6" => {
                t.pos += 1;
                let vcol = t.column();
                let v = t.next("an IPv6 mask like /64 or ffff:ffff::")?;
                let v = parse_v6_mask(v)
                    .ok_or_else(|| at(vcol, "an IPv6 mask like /64 or ffff:ffff::", v))?;
                if field == "src-ip6" {
                    m.src_ip6 = v;
                } else {
                    m.dst_ip6 = v;
                }
            }
            "src-port" | "dst-port" => {
                t.pos += 1;
                let vcol = t.column();
                let v = t.next("a port mask like 0xffff")?;
                let v = parse_u64_any(v)
                    .and_then(|v| u16::try_from(v).ok())
                    .ok_or_else(|| at(vcol, "a port mask like 0xffff", v))?;
                if field == "src-port" {
                    m.src_port = v;
                } else {
                    m.dst_port = v;
                }
            }
            "proto" => {
                t.pos += 1;
                let vcol = t.column();
                let v = t.next("a protocol mask like 0xff")?;
                m.proto = parse_u64_any(v)
                    .and_then(|v| u8::try_from(v).ok())
                    .ok_or_else(|| at(vcol, "a protocol mask like 0xff", v))?;
            }
            _ => break,
        }
        any = true;
    }
    if !any {
        return Err(t.err(WHAT));
    }
    Ok(m)
}

fn parse_sched_type(s: &str) -> Option<SchedulerConfig> {
    Some(match s.to_ascii_lowercase().as_str() {
        "fifo" => SchedulerConfig::Fifo,
        "wf2q+" | "wf2q" | "wf2qp" => SchedulerConfig::Wf2q,
        "rr" | "drr" => SchedulerConfig::Drr { quantum: 1514 },
        "prio" => SchedulerConfig::Prio,
        "qfq" => SchedulerConfig::Qfq { lmax: 9216 },
        "fq_codel" | "fq-codel" | "fqcodel" => SchedulerConfig::FqCodel(FqCodelConfig::default()),
        _ => return None,
    })
}

/// Parameters both `pipe` and `queue` accept. Returns false when `word` is not one.
#[allow(clippy::too_many_arguments)] // one out-parameter per shared field
fn common_param(
    word: &str,
    t: &mut Tokens<'_>,
    plr: &mut f64,
    queue: &mut QueueLimit,
    red: &mut Option<RedConfig>,
    mask: &mut FlowMask,
    buckets: &mut u32,
    max_flows: &mut u32,
) -> Result<bool, ParseError> {
    match word {
        "plr" => {
            let col = t.column();
            let v: f64 = t.number("a loss probability between 0 and 1")?;
            if !(0.0..=1.0).contains(&v) {
                return Err(at(
                    col,
                    "a loss probability between 0 and 1",
                    &v.to_string(),
                ));
            }
            *plr = v;
        }
        "queue" => {
            let (col, v) = t.value_with_unit("a queue size in slots (50) or bytes (100KBytes)")?;
            *queue = parse_queue(&v)
                .filter(|q| !matches!(q, QueueLimit::Slots(0) | QueueLimit::Bytes(0)))
                .ok_or_else(|| at(col, "a queue size in slots (50) or bytes (100KBytes)", &v))?;
        }
        "red" | "gred" => {
            let col = t.column();
            let v = t.next("RED parameters w_q/min_th/max_th/max_p")?;
            *red = Some(
                parse_red(v, word == "gred")
                    .ok_or_else(|| at(col, "RED parameters w_q/min_th/max_th/max_p", v))?,
            );
        }
        "droptail" => *red = None,
        "mask" => *mask = parse_mask(t)?,
        "buckets" => *buckets = t.number("a bucket count")?,
        "max_flows" => *max_flows = t.number("a maximum number of dynamic flows")?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Parses the scheduler options that may follow `type X`.
fn sched_param(
    word: &str,
    t: &mut Tokens<'_>,
    s: &mut SchedulerConfig,
) -> Result<bool, ParseError> {
    match (word, s) {
        ("quantum", SchedulerConfig::Drr { quantum }) => {
            *quantum = t.number("a quantum in bytes")?
        }
        ("quantum", SchedulerConfig::FqCodel(c)) => c.quantum = t.number("a quantum in bytes")?,
        ("lmax", SchedulerConfig::Qfq { lmax }) => {
            *lmax = t.number("a maximum packet size in bytes")?
        }
        ("limit", SchedulerConfig::FqCodel(c)) => c.limit = t.number("a packet limit")?,
        ("flows", SchedulerConfig::FqCodel(c)) => c.flows = t.number("a number of flows")?,
        ("ecn", SchedulerConfig::FqCodel(c)) => c.ecn = true,
        ("noecn", SchedulerConfig::FqCodel(c)) => c.ecn = false,
        ("target" | "interval", SchedulerConfig::FqCodel(c)) => {
            let (col, v) = t.value_with_unit("a time like 5ms")?;
            let d: Delay = v.parse().map_err(|_| at(col, "a time like 5ms", &v))?;
            if word == "target" {
                c.target = d;
            } else {
                c.interval = d;
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Parses `<kind> N config` and returns N.
fn header(t: &mut Tokens<'_>, kind: &str) -> Result<u32, ParseError> {
    if t.peek() != Some(kind) {
        return Err(t.err(format!("\"{kind}\"")));
    }
    t.pos += 1;
    let id = t.number(&format!("a {kind} number"))?;
    if t.peek() != Some("config") {
        return Err(t.err("\"config\""));
    }
    t.pos += 1;
    Ok(id)
}

impl PipeConfig {
    /// Parses the parameters after `pipe N config` (dummynet syntax).
    pub fn parse_params(id: u32, text: &str) -> Result<Self, ParseError> {
        let mut t = Tokens::new(text);
        let mut p = PipeConfig::new(id);
        Self::params(&mut t, &mut p)?;
        Ok(p)
    }

    fn params(t: &mut Tokens<'_>, p: &mut PipeConfig) -> Result<(), ParseError> {
        while let Some(word) = t.peek() {
            let col = t.column();
            t.pos += 1;
            if common_param(
                word,
                t,
                &mut p.plr,
                &mut p.queue,
                &mut p.red,
                &mut p.mask,
                &mut p.buckets,
                &mut p.max_flows,
            )? || sched_param(word, t, &mut p.scheduler)?
            {
                continue;
            }
            match word {
                "bw" | "bandwidth" => {
                    let (col, v) = t.value_with_unit("a bandwidth like 10Mbit/s")?;
                    p.bw = v.parse().map_err(|e: crate::ParseBandwidthError| {
                        at(col, e.to_string().trim_start_matches("expected "), &v)
                    })?;
                }
                "delay" => {
                    let (col, v) = t.value_with_unit("a delay like 20ms")?;
                    p.delay = v.parse().map_err(|e: crate::ParseDelayError| {
                        at(col, e.to_string().trim_start_matches("expected "), &v)
                    })?;
                }
                "burst" => {
                    let (col, v) = t.value_with_unit("a burst size in bytes")?;
                    p.burst =
                        parse_bytes(&v).ok_or_else(|| at(col, "a burst size in bytes", &v))?;
                }
                "noerror" => p.noerror = true,
                "type" | "sched" => {
                    let col = t.column();
                    let v = t.next("a scheduler: fifo, wf2q+, rr, prio, qfq or fq_codel")?;
                    p.scheduler = parse_sched_type(v).ok_or_else(|| {
                        at(
                            col,
                            "a scheduler: fifo, wf2q+, rr, prio, qfq or fq_codel",
                            v,
                        )
                    })?;
                }
                _ => {
                    return Err(at(
                        col,
                        "a pipe parameter: bw, delay, plr, queue, burst, red, gred, droptail, \
                         mask, buckets, noerror or type",
                        word,
                    ))
                }
            }
        }
        Ok(())
    }
}

impl FromStr for PipeConfig {
    type Err = ParseError;

    /// `pipe 1 config bw 10Mbit/s delay 20ms plr 0.01 queue 100 mask src-ip 0xffffffff`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut t = Tokens::new(s);
        let id = header(&mut t, "pipe")?;
        let mut p = PipeConfig::new(id);
        Self::params(&mut t, &mut p)?;
        Ok(p)
    }
}

impl QueueConfig {
    /// Parses the parameters after `queue N config` (dummynet syntax); `pipe P` is
    /// required.
    pub fn parse_params(id: u32, text: &str) -> Result<Self, ParseError> {
        let mut t = Tokens::new(text);
        Self::params(id, &mut t)
    }

    fn params(id: u32, t: &mut Tokens<'_>) -> Result<Self, ParseError> {
        let mut q = QueueConfig::new(id, 0);
        let mut pipe = None;
        while let Some(word) = t.peek() {
            let col = t.column();
            t.pos += 1;
            if common_param(
                word,
                t,
                &mut q.plr,
                &mut q.queue,
                &mut q.red,
                &mut q.mask,
                &mut q.buckets,
                &mut q.max_flows,
            )? {
                continue;
            }
            match word {
                "pipe" | "sched" => pipe = Some(t.number("a pipe number")?),
                "weight" => {
                    let col = t.column();
                    let w: u32 = t.number("a weight between 1 and 65536")?;
                    if !(1..=65_536).contains(&w) {
                        return Err(at(col, "a weight between 1 and 65536", &w.to_string()));
                    }
                    q.weight = w;
                }
                "prio" | "pri" => {
                    let col = t.column();
                    let p: u8 = t.number("a priority between 0 and 15")?;
                    if p > 15 {
                        return Err(at(col, "a priority between 0 and 15", &p.to_string()));
                    }
                    q.prio = p;
                }
                _ => {
                    return Err(at(
                        col,
                        "a queue parameter: pipe, weight, prio, plr, queue, red, gred, droptail, \
                         mask or buckets",
                        word,
                    ))
                }
            }
        }
        q.pipe = pipe.ok_or_else(|| t.err("\"pipe N\" (the pipe this queue shares)"))?;
        Ok(q)
    }
}

impl FromStr for QueueConfig {
    type Err = ParseError;

    /// `queue 2 config pipe 1 weight 7 mask dst-ip 0xffffffff`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut t = Tokens::new(s);
        let id = header(&mut t, "queue")?;
        Self::params(id, &mut t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_pipe() {
        let p: PipeConfig = "pipe 3 config bw 10 Mbit/s delay 1.5ms plr 0.01 queue 100KBytes \
             burst 3000 gred 0.002/10/30/0.1 mask src-ip 0xffffff00 dst-port 0xffff \
             src-ip6 /64 buckets 256 noerror type qfq lmax 2048"
            .parse()
            .unwrap();
        assert_eq!(p.id, 3);
        assert_eq!(p.bw.bits_per_sec(), 10_000_000);
        assert_eq!(p.delay.nanos(), 1_500_000);
        assert_eq!(p.plr, 0.01);
        assert_eq!(p.queue, QueueLimit::Bytes(100 * 1024));
        assert_eq!(p.burst, 3000);
        let red = p.red.unwrap();
        assert!(red.gentle && red.min_th == 10 && red.max_th == 30);
        assert_eq!(p.mask.src_ip, 0xffff_ff00);
        assert_eq!(p.mask.dst_port, 0xffff);
        assert_eq!(p.mask.src_ip6, u128::MAX << 64);
        assert_eq!(p.buckets, 256);
        assert!(p.noerror);
        assert_eq!(p.scheduler, SchedulerConfig::Qfq { lmax: 2048 });
        p.validate().unwrap();
    }

    #[test]
    fn parses_queues_and_fq_codel() {
        let q: QueueConfig = "queue 7 config pipe 3 weight 7 mask all queue 20"
            .parse()
            .unwrap();
        assert_eq!((q.id, q.pipe, q.weight), (7, 3, 7));
        assert_eq!(q.mask, FlowMask::ALL);
        assert_eq!(q.queue, QueueLimit::Slots(20));
        let p = PipeConfig::parse_params(
            1,
            "bw 1Mbit/s type fq_codel target 2ms interval 50 ms quantum 300 flows 64",
        )
        .unwrap();
        let SchedulerConfig::FqCodel(c) = p.scheduler else {
            panic!("{p:?}")
        };
        assert_eq!(c.target.nanos(), 2_000_000);
        assert_eq!(c.interval.nanos(), 50_000_000);
        assert_eq!((c.quantum, c.flows), (300, 64));
    }

    #[test]
    fn errors_say_what_was_expected() {
        let e = "pipe 1 config bw fast".parse::<PipeConfig>().unwrap_err();
        assert_eq!(e.column, 18);
        assert!(e.to_string().contains("bandwidth"), "{e}");
        let e = "pipe 1 config colour red"
            .parse::<PipeConfig>()
            .unwrap_err();
        assert_eq!((e.column, e.found.as_str()), (15, "colour"));
        assert!(e.expected.contains("bw, delay"), "{e}");
        let e = "pipe x config".parse::<PipeConfig>().unwrap_err();
        assert!(e.to_string().contains("a pipe number"), "{e}");
        let e = "queue 1 config weight 3"
            .parse::<QueueConfig>()
            .unwrap_err();
        assert!(e.expected.contains("pipe N"), "{e}");
        let e = "queue 1 config pipe 1 weight 0"
            .parse::<QueueConfig>()
            .unwrap_err();
        assert!(e.expected.contains("weight"), "{e}");
        let e = "pipe 1 config mask src-ip zz"
            .parse::<PipeConfig>()
            .unwrap_err();
        assert!(e.expected.contains("IPv4 mask"), "{e}");
        let e = "pipe 1 config red 0.1/2".parse::<PipeConfig>().unwrap_err();
        assert!(e.expected.contains("w_q/min_th"), "{e}");
        let e = "pipe 1 config type cbq".parse::<PipeConfig>().unwrap_err();
        assert!(e.expected.contains("fq_codel"), "{e}");
        let e = "pipe 1 config plr 2".parse::<PipeConfig>().unwrap_err();
        assert!(e.expected.contains("probability"), "{e}");
    }

    #[test]
    fn pool_follows_the_pipes() {
        let mut c = ShaperConfig::default();
        assert_eq!(c.suggested_pool(), 256, "at least 256");
        let mut p = PipeConfig::new(1);
        p.bw = crate::Bandwidth::from_bits_per_sec(1_000_000_000);
        p.delay = crate::Delay::from_millis(40);
        c.pipes.push(p);
        // 50 queued + 1 Gbit/s x 40 ms / 512 B = 9766 in the delay line, + 64.
        assert_eq!(c.suggested_pool(), 64 + 50 + 9766);
        c.pipes[0].bw = crate::Bandwidth::from_bits_per_sec(100_000_000_000);
        assert_eq!(c.suggested_pool(), 65_536, "capped");
    }

    #[test]
    fn validation() {
        let mut c = ShaperConfig::default();
        c.pipes.push(PipeConfig::new(1));
        c.queues.push(QueueConfig::new(1, 2));
        assert_eq!(c.validate(), Err(ConfigError::UnknownPipe(1, 2)));
        c.queues[0].pipe = 1;
        c.validate().unwrap();
        c.pipes.push(PipeConfig::new(1));
        assert_eq!(c.validate(), Err(ConfigError::DuplicatePipe(1)));
    }
}
