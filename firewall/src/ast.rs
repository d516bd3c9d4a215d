//! The parsed form of ipfw commands and rules, as written (names unresolved).
//! `Display` prints a rule the way `ipfw list` does (and the text parses back
//! to the same rule).

use std::fmt;

use crate::packet::{addr_of, proto, tcp, Direction, Family};

/// An address with a (possibly non-contiguous) mask; `addr` is already masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub family: Family,
    pub addr: u128,
    pub mask: u128,
}

impl Prefix {
    pub fn new(family: Family, addr: u128, len: u8) -> Self {
        let mask = len_mask(family, len);
        Prefix {
            family,
            addr: addr & mask,
            mask,
        }
    }

    pub fn contains(&self, family: Family, a: u128) -> bool {
        family == self.family && a & self.mask == self.addr
    }

    /// The prefix length when the mask is contiguous.
    #[allow(clippy::len_without_is_empty)] // a length in bits, not a count
    pub fn len(&self) -> Option<u8> {
        let bits = family_bits(self.family);
        let ones = self.mask.count_ones() as u8;
        (len_mask(self.family, ones) == self.mask && ones <= bits).then_some(ones)
    }

    /// Smallest and largest address covered (a hull for non-contiguous masks).
    pub fn range(&self) -> (u128, u128) {
        let all = full_mask(self.family);
        (self.addr, self.addr | (all & !self.mask))
    }
}

pub(crate) fn family_bits(f: Family) -> u8 {
    match f {
        Family::V4 => 32,
        Family::V6 => 128,
    }
}

pub(crate) fn full_mask(f: Family) -> u128 {
    match f {
        Family::V4 => u32::MAX as u128,
        Family::V6 => u128::MAX,
    }
}

pub(crate) fn len_mask(f: Family, len: u8) -> u128 {
    let bits = family_bits(f) as u32;
    let len = (len as u32).min(bits);
    if len == 0 {
        0
    } else {
        (full_mask(f) >> (bits - len)) << (bits - len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = addr_of(self.family, self.addr);
        match self.len() {
            Some(l) if l == family_bits(self.family) => write!(f, "{a}"),
            Some(l) => write!(f, "{a}/{l}"),
            None => match self.family {
                Family::V4 => write!(f, "{a}:{}", addr_of(Family::V4, self.mask)),
                Family::V6 => write!(f, "{a}/{}", addr_of(Family::V6, self.mask)),
            },
        }
    }
}

/// An inclusive range of 16-bit values (ports, lengths, TTLs, tags).
pub type Range = (u16, u16);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrSpec {
    Any,
    /// Any address of the vnet (IPv4 or IPv6).
    Me,
    /// Any IPv6 address of the vnet.
    Me6,
    /// Comma-separated addresses/prefixes (may mix families).
    List(Vec<Prefix>),
    /// `a.b.c.d/len{x,y-z}`: addresses in the /len whose last byte is in the set.
    Set {
        base: Prefix,
        bits: [u64; 4],
    },
    /// `table(NAME[,VALUE])`.
    Table {
        name: String,
        value: Option<u32>,
    },
}

/// An interface reference in via/recv/xmit, with where it was written so that an
/// unknown name can be reported at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceRef {
    pub spec: IfaceSpec,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfaceSpec {
    /// The packet has some interface on that side.
    Any,
    Name(String),
    /// `em*`: every interface whose name starts with the prefix.
    Glob(String),
}

/// One match pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Proto(u8),
    /// `ip4`/`ipv4`: IPv4 packets.
    Ip4,
    /// `ip6`/`ipv6`: IPv6 packets.
    Ip6,
    SrcAddr(AddrSpec),
    DstAddr(AddrSpec),
    SrcPort(Vec<Range>),
    DstPort(Vec<Range>),
    Dir(Direction),
    Via(IfaceRef),
    Recv(IfaceRef),
    Xmit(IfaceRef),
    Established,
    Setup,
    TcpFlags {
        set: u8,
        clear: u8,
    },
    IcmpTypes(Box<[u64; 4]>),
    Icmp6Types(Box<[u64; 4]>),
    IpLen(Vec<Range>),
    IpTtl(Vec<Range>),
    IpTos {
        set: u8,
        clear: u8,
    },
    Dscp(u64),
    /// `frag` alone (`None`: any non-first fragment, IPv4 or IPv6) or with a
    /// spec of IPv4 flags that must be set / clear.
    Frag(Option<(u8, u8)>),
    Tagged(Vec<Range>),
    IpVersion(u8),
}

/// A conjunct of a rule body: one pattern, or an or-block `{ a or not b }`.
/// An empty term (no alternatives) matches everything (`any`, `ip`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Term {
    pub alts: Vec<(bool, Cond)>,
}

impl Term {
    pub fn any() -> Self {
        Term { alts: Vec::new() }
    }

    pub fn one(not: bool, c: Cond) -> Self {
        Term {
            alts: vec![(not, c)],
        }
    }

    pub fn is_any(&self) -> bool {
        self.alts.is_empty()
    }
}

/// Which flow names a `check-state` looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FlowSel {
    #[default]
    Default,
    Any,
    Named(String),
}

/// A flow name of `keep-state :NAME` (`None`: `:default`).
pub type FlowName = Option<String>;

pub mod limit_fields {
    pub const SRC_ADDR: u8 = 1;
    pub const SRC_PORT: u8 = 2;
    pub const DST_ADDR: u8 = 4;
    pub const DST_PORT: u8 = 8;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateOpt {
    /// `keep-state [:name]`: implicit check-state at this rule, then create.
    Keep(FlowName),
    /// `record-state`: create only.
    Record(FlowName),
    /// `limit FIELDS N [:name]` (or `set-limit`, without the implicit check).
    Limit {
        fields: u8,
        n: u32,
        flow: FlowName,
        check: bool,
    },
}

impl StateOpt {
    /// keep-state and limit probe the state table when the rule is reached.
    pub fn probes(&self) -> bool {
        matches!(
            self,
            StateOpt::Keep(_) | StateOpt::Limit { check: true, .. }
        )
    }

    pub fn flow(&self) -> &FlowName {
        match self {
            StateOpt::Keep(f) | StateOpt::Record(f) | StateOpt::Limit { flow: f, .. } => f,
        }
    }
}

/// A number argument or `tablearg` (the value of the last table lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    Num(u32),
    TableArg,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
    /// `reject`: `unreach host`.
    Reject,
    Unreach(u8),
    Unreach6(u8),
    Reset,
    Reset6,
    Count,
    Skipto(Arg),
    Call(Arg),
    Return,
    CheckState(FlowSel),
    Pipe(Arg),
    Queue(Arg),
    SetDscp(Arg),
}

impl Action {
    /// Whether the search continues after the action.
    pub fn continues(&self) -> bool {
        matches!(
            self,
            Action::Count
                | Action::Skipto(_)
                | Action::Call(_)
                | Action::Return
                | Action::SetDscp(_)
        )
    }
}

/// One static rule: `[NUM] [set N] [prob P] ACTION [log [logamount N]] [tag|untag N] BODY`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// 1..=65534; 0 while not yet numbered (`add` without a number).
    pub number: u16,
    pub set: u8,
    pub prob: Option<f64>,
    pub action: Action,
    /// `log [logamount N]`: Some(N), 0 meaning the default limit.
    pub log: Option<u32>,
    /// `tag N` (false) / `untag N` (true).
    pub tag: Option<(bool, Arg)>,
    /// The `proto from SRC [PORTS] to DST [PORTS]` part; empty terms mean "any".
    pub proto: Term,
    pub src: Term,
    pub src_ports: Term,
    pub dst: Term,
    pub dst_ports: Term,
    /// Further patterns (options), in the order written.
    pub options: Vec<Term>,
    pub state: Option<StateOpt>,
    pub comment: Option<String>,
    /// Line (1-based, in the rules text) where the rule was written; 0 if built.
    pub line: usize,
}

impl Rule {
    /// `allow ip from any to any` (the default rule's shape) with the given action.
    pub fn any(action: Action) -> Self {
        Rule {
            number: 0,
            set: 0,
            prob: None,
            action,
            log: None,
            tag: None,
            proto: Term::any(),
            src: Term::any(),
            src_ports: Term::any(),
            dst: Term::any(),
            dst_ports: Term::any(),
            options: Vec::new(),
            state: None,
            comment: None,
            line: 0,
        }
    }

    /// Every conjunct of the body, the classic part first.
    pub fn terms(&self) -> impl Iterator<Item = &Term> {
        [
            &self.proto,
            &self.src,
            &self.src_ports,
            &self.dst,
            &self.dst_ports,
        ]
        .into_iter()
        .chain(self.options.iter())
    }
}

/// Which counters `show`/`list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShowOpts {
    /// Packet and byte counters (`show`, or `list -a`).
    pub counters: bool,
    /// Last-match time (`-t`/`-T`).
    pub timestamps: bool,
    /// `set N` on each rule, and disabled sets too (`-S`).
    pub sets: bool,
    /// Dynamic states (`-d`).
    pub dynamic: bool,
}

/// One ipfw command (a line of the rules text).
#[allow(clippy::large_enum_variant)] // built once per line by the control plane
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Add(Rule),
    /// `[set N] delete [NUM|NUM-NUM ...]` or `delete set N`.
    Delete {
        set: Option<u8>,
        rules: Vec<Range>,
    },
    DeleteSet(u8),
    /// `[set N] flush`: everything but set 31 (or set N).
    Flush {
        set: Option<u8>,
    },
    Zero {
        set: Option<u8>,
        rules: Vec<Range>,
    },
    ResetLog {
        set: Option<u8>,
        rules: Vec<Range>,
    },
    Show {
        set: Option<u8>,
        rules: Vec<Range>,
        opts: ShowOpts,
    },
    SetEnable {
        disable: Vec<u8>,
        enable: Vec<u8>,
    },
    SetSwap(u8, u8),
    SetMove {
        from: u8,
        to: u8,
    },
    SetMoveRules {
        rules: Range,
        to: u8,
    },
    SetShow,
    TableCreate {
        name: String,
    },
    TableAdd {
        name: String,
        entries: Vec<(Prefix, u32)>,
    },
    TableDelete {
        name: String,
        keys: Vec<Prefix>,
    },
    TableFlush {
        name: Option<String>,
    },
    TableDestroy {
        name: Option<String>,
    },
    TableList {
        name: Option<String>,
    },
    /// `enable one_pass` / `disable one_pass`.
    OnePass(bool),
}

// ---- Display -----------------------------------------------------------------

pub(crate) fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        proto::ICMP => "icmp",
        proto::IGMP => "igmp",
        proto::TCP => "tcp",
        proto::UDP => "udp",
        proto::GRE => "gre",
        proto::ESP => "esp",
        proto::AH => "ah",
        proto::ICMP6 => "ipv6-icmp",
        proto::OSPF => "ospf",
        proto::PIM => "pim",
        proto::VRRP => "vrrp",
        proto::SCTP => "sctp",
        _ => return None,
    })
}

pub(crate) const TCP_FLAG_NAMES: [(&str, u8); 8] = [
    ("fin", tcp::FIN),
    ("syn", tcp::SYN),
    ("rst", tcp::RST),
    ("psh", tcp::PSH),
    ("ack", tcp::ACK),
    ("urg", tcp::URG),
    ("ece", tcp::ECE),
    ("cwr", tcp::CWR),
];

pub(crate) const TOS_NAMES: [(&str, u8); 5] = [
    ("lowdelay", 0x10),
    ("throughput", 0x08),
    ("reliability", 0x04),
    ("mincost", 0x02),
    ("congestion", 0x01),
];

pub(crate) const FRAG_NAMES: [(&str, u8); 4] = [
    ("mf", crate::packet::frag::MF),
    ("df", crate::packet::frag::DF),
    ("rf", crate::packet::frag::RF),
    ("offset", crate::packet::frag::OFFSET),
];

pub(crate) const DSCP_NAMES: [(&str, u8); 22] = [
    ("be", 0),
    ("af11", 10),
    ("af12", 12),
    ("af13", 14),
    ("af21", 18),
    ("af22", 20),
    ("af23", 22),
    ("af31", 26),
    ("af32", 28),
    ("af33", 30),
    ("af41", 34),
    ("af42", 36),
    ("af43", 38),
    ("cs1", 8),
    ("cs2", 16),
    ("cs3", 24),
    ("cs4", 32),
    ("cs5", 40),
    ("cs6", 48),
    ("cs7", 56),
    ("va", 44),
    ("ef", 46),
];

pub(crate) const UNREACH_NAMES: [(&str, u8); 16] = [
    ("net", 0),
    ("host", 1),
    ("protocol", 2),
    ("port", 3),
    ("needfrag", 4),
    ("srcfail", 5),
    ("net-unknown", 6),
    ("host-unknown", 7),
    ("isolated", 8),
    ("net-prohib", 9),
    ("host-prohib", 10),
    ("tosnet", 11),
    ("toshost", 12),
    ("filter-prohib", 13),
    ("host-precedence", 14),
    ("precedence-cutoff", 15),
];

pub(crate) const UNREACH6_NAMES: [(&str, u8); 4] = [
    ("no-route", 0),
    ("admin-prohib", 1),
    ("address", 3),
    ("port", 4),
];

fn write_flags(
    f: &mut fmt::Formatter<'_>,
    names: &[(&str, u8)],
    set: u8,
    clear: u8,
) -> fmt::Result {
    let mut first = true;
    for &(n, b) in names {
        if set & b != 0 || clear & b != 0 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if clear & b != 0 {
                f.write_str("!")?;
            }
            f.write_str(n)?;
        }
    }
    Ok(())
}

fn write_ranges(f: &mut fmt::Formatter<'_>, r: &[Range]) -> fmt::Result {
    for (i, &(a, b)) in r.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        if a == b {
            write!(f, "{a}")?;
        } else {
            write!(f, "{a}-{b}")?;
        }
    }
    Ok(())
}

fn write_bitmap(f: &mut fmt::Formatter<'_>, bits: &[u64]) -> fmt::Result {
    let mut first = true;
    for i in 0..bits.len() * 64 {
        if bits[i / 64] >> (i % 64) & 1 == 1 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{i}")?;
        }
    }
    Ok(())
}

impl fmt::Display for AddrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrSpec::Any => f.write_str("any"),
            AddrSpec::Me => f.write_str("me"),
            AddrSpec::Me6 => f.write_str("me6"),
            AddrSpec::List(l) => {
                for (i, p) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
            AddrSpec::Set { base, bits } => {
                write!(
                    f,
                    "{}/{}{{",
                    addr_of(Family::V4, base.addr),
                    base.len().unwrap_or(24)
                )?;
                let mut first = true;
                for i in 0..256usize {
                    if bits[i / 64] >> (i % 64) & 1 == 1 {
                        // Print runs as ranges.
                        if i > 0 && bits[(i - 1) / 64] >> ((i - 1) % 64) & 1 == 1 {
                            continue;
                        }
                        let mut j = i;
                        while j < 255 && bits[(j + 1) / 64] >> ((j + 1) % 64) & 1 == 1 {
                            j += 1;
                        }
                        if !first {
                            f.write_str(",")?;
                        }
                        first = false;
                        if j == i {
                            write!(f, "{i}")?;
                        } else {
                            write!(f, "{i}-{j}")?;
                        }
                    }
                }
                f.write_str("}")
            }
            AddrSpec::Table { name, value } => match value {
                Some(v) => write!(f, "table({name},{v})"),
                None => write!(f, "table({name})"),
            },
        }
    }
}

impl fmt::Display for IfaceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.spec {
            IfaceSpec::Any => f.write_str("any"),
            IfaceSpec::Name(n) => f.write_str(n),
            IfaceSpec::Glob(p) => write!(f, "{p}*"),
        }
    }
}

/// Prints a pattern in option form (`src-ip 1.2.3.4`, `dst-port 22`, ...).
impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cond::Proto(p) => match proto_name(*p) {
                Some(n) => write!(f, "proto {n}"),
                None => write!(f, "proto {p}"),
            },
            Cond::Ip4 => f.write_str("proto ip4"),
            Cond::Ip6 => f.write_str("proto ip6"),
            Cond::SrcAddr(a) => write!(f, "src-ip {a}"),
            Cond::DstAddr(a) => write!(f, "dst-ip {a}"),
            Cond::SrcPort(r) => {
                f.write_str("src-port ")?;
                write_ranges(f, r)
            }
            Cond::DstPort(r) => {
                f.write_str("dst-port ")?;
                write_ranges(f, r)
            }
            Cond::Dir(Direction::In) => f.write_str("in"),
            Cond::Dir(Direction::Out) => f.write_str("out"),
            Cond::Via(i) => write!(f, "via {i}"),
            Cond::Recv(i) => write!(f, "recv {i}"),
            Cond::Xmit(i) => write!(f, "xmit {i}"),
            Cond::Established => f.write_str("established"),
            Cond::Setup => f.write_str("setup"),
            Cond::TcpFlags { set, clear } => {
                f.write_str("tcpflags ")?;
                write_flags(f, &TCP_FLAG_NAMES, *set, *clear)
            }
            Cond::IcmpTypes(b) => {
                f.write_str("icmptypes ")?;
                write_bitmap(f, &b[..])
            }
            Cond::Icmp6Types(b) => {
                f.write_str("icmp6types ")?;
                write_bitmap(f, &b[..])
            }
            Cond::IpLen(r) => {
                f.write_str("iplen ")?;
                write_ranges(f, r)
            }
            Cond::IpTtl(r) => {
                f.write_str("ipttl ")?;
                write_ranges(f, r)
            }
            Cond::IpTos { set, clear } => {
                f.write_str("iptos ")?;
                write_flags(f, &TOS_NAMES, *set, *clear)
            }
            Cond::Dscp(bits) => {
                f.write_str("dscp ")?;
                let mut first = true;
                for v in 0..64u8 {
                    if bits >> v & 1 == 1 {
                        if !first {
                            f.write_str(",")?;
                        }
                        first = false;
                        match DSCP_NAMES.iter().find(|(_, c)| *c == v) {
                            Some((n, _)) => f.write_str(n)?,
                            None => write!(f, "{v}")?,
                        }
                    }
                }
                Ok(())
            }
            Cond::Frag(None) => f.write_str("frag"),
            Cond::Frag(Some((set, clear))) => {
                f.write_str("frag ")?;
                write_flags(f, &FRAG_NAMES, *set, *clear)
            }
            Cond::Tagged(r) => {
                f.write_str("tagged ")?;
                write_ranges(f, r)
            }
            Cond::IpVersion(v) => write!(f, "ipversion {v}"),
        }
    }
}

/// Prints a classic-position pattern without its keyword.
fn write_bare(f: &mut fmt::Formatter<'_>, c: &Cond) -> fmt::Result {
    match c {
        Cond::Proto(p) => match proto_name(*p) {
            Some(n) => f.write_str(n),
            None => write!(f, "{p}"),
        },
        Cond::Ip4 => f.write_str("ip4"),
        Cond::Ip6 => f.write_str("ip6"),
        Cond::SrcAddr(a) | Cond::DstAddr(a) => write!(f, "{a}"),
        Cond::SrcPort(r) | Cond::DstPort(r) => write_ranges(f, r),
        other => write!(f, "{other}"),
    }
}

fn write_term(f: &mut fmt::Formatter<'_>, t: &Term, bare: bool) -> fmt::Result {
    let one = |f: &mut fmt::Formatter<'_>, not: bool, c: &Cond| -> fmt::Result {
        if not {
            f.write_str("not ")?;
        }
        if bare {
            write_bare(f, c)
        } else {
            write!(f, "{c}")
        }
    };
    match t.alts.as_slice() {
        [] => Ok(()),
        [(not, c)] => one(f, *not, c),
        alts => {
            f.write_str("{ ")?;
            for (i, (not, c)) in alts.iter().enumerate() {
                if i > 0 {
                    f.write_str(" or ")?;
                }
                one(f, *not, c)?;
            }
            f.write_str(" }")
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Num(n) => write!(f, "{n}"),
            Arg::TableArg => f.write_str("tablearg"),
        }
    }
}

fn flow_suffix(f: &mut fmt::Formatter<'_>, flow: &FlowName) -> fmt::Result {
    match flow {
        Some(n) => write!(f, " :{n}"),
        None => Ok(()),
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Allow => f.write_str("allow"),
            Action::Deny => f.write_str("deny"),
            Action::Reject => f.write_str("reject"),
            Action::Unreach(c) => match UNREACH_NAMES.iter().find(|(_, v)| v == c) {
                Some((n, _)) => write!(f, "unreach {n}"),
                None => write!(f, "unreach {c}"),
            },
            Action::Unreach6(c) => match UNREACH6_NAMES.iter().find(|(_, v)| v == c) {
                Some((n, _)) => write!(f, "unreach6 {n}"),
                None => write!(f, "unreach6 {c}"),
            },
            Action::Reset => f.write_str("reset"),
            Action::Reset6 => f.write_str("reset6"),
            Action::Count => f.write_str("count"),
            Action::Skipto(a) => write!(f, "skipto {a}"),
            Action::Call(a) => write!(f, "call {a}"),
            Action::Return => f.write_str("return"),
            Action::CheckState(FlowSel::Default) => f.write_str("check-state"),
            Action::CheckState(FlowSel::Any) => f.write_str("check-state :any"),
            Action::CheckState(FlowSel::Named(n)) => write!(f, "check-state :{n}"),
            Action::Pipe(a) => write!(f, "pipe {a}"),
            Action::Queue(a) => write!(f, "queue {a}"),
            Action::SetDscp(Arg::Num(v)) => {
                match DSCP_NAMES.iter().find(|(_, c)| *c as u32 == *v) {
                    Some((n, _)) => write!(f, "setdscp {n}"),
                    None => write!(f, "setdscp {v}"),
                }
            }
            Action::SetDscp(a) => write!(f, "setdscp {a}"),
        }
    }
}

impl fmt::Display for StateOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateOpt::Keep(flow) => {
                f.write_str("keep-state")?;
                flow_suffix(f, flow)
            }
            StateOpt::Record(flow) => {
                f.write_str("record-state")?;
                flow_suffix(f, flow)
            }
            StateOpt::Limit {
                fields,
                n,
                flow,
                check,
            } => {
                f.write_str(if *check { "limit" } else { "set-limit" })?;
                for (name, b) in [
                    ("src-addr", limit_fields::SRC_ADDR),
                    ("src-port", limit_fields::SRC_PORT),
                    ("dst-addr", limit_fields::DST_ADDR),
                    ("dst-port", limit_fields::DST_PORT),
                ] {
                    if fields & b != 0 {
                        write!(f, " {name}")?;
                    }
                }
                write!(f, " {n}")?;
                flow_suffix(f, flow)
            }
        }
    }
}

/// The rule as `ipfw list` prints it, without number and set.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.prob {
            write!(f, "prob {p} ")?;
        }
        write!(f, "{}", self.action)?;
        if let Some(n) = self.log {
            f.write_str(" log")?;
            if n > 0 {
                write!(f, " logamount {n}")?;
            }
        }
        if let Some((untag, a)) = self.tag {
            write!(f, " {} {a}", if untag { "untag" } else { "tag" })?;
        }
        let classic_any = self.proto.is_any()
            && self.src.is_any()
            && self.dst.is_any()
            && self.src_ports.is_any()
            && self.dst_ports.is_any();
        let only_action = classic_any && self.options.is_empty() && self.state.is_none();
        if !(only_action && matches!(self.action, Action::CheckState(_))) {
            f.write_str(" ")?;
            if self.proto.is_any() {
                f.write_str("ip")?;
            } else {
                write_term(f, &self.proto, true)?;
            }
            f.write_str(" from ")?;
            if self.src.is_any() {
                f.write_str("any")?;
            } else {
                write_term(f, &self.src, true)?;
            }
            if !self.src_ports.is_any() {
                f.write_str(" ")?;
                write_term(f, &self.src_ports, true)?;
            }
            f.write_str(" to ")?;
            if self.dst.is_any() {
                f.write_str("any")?;
            } else {
                write_term(f, &self.dst, true)?;
            }
            if !self.dst_ports.is_any() {
                f.write_str(" ")?;
                write_term(f, &self.dst_ports, true)?;
            }
            for t in &self.options {
                f.write_str(" ")?;
                write_term(f, t, false)?;
            }
        }
        if let Some(s) = &self.state {
            write!(f, " {s}")?;
        }
        if let Some(c) = &self.comment {
            write!(f, " // {c}")?;
        }
        Ok(())
    }
}
