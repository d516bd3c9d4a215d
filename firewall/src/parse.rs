//! The ipfw(8) command language: one command per line, `#` comments, blank lines
//! ignored, an optional leading `ipfw` and `-q`/`-f` flags accepted (so an
//! existing `ipfw -q /etc/ipfw.rules` file can be pasted).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::ast::*;
use crate::error::{found, ParseError};
use crate::packet::{Direction, Family};

/// One word of a command line and the column (1-based, in characters) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tok {
    text: String,
    col: usize,
}

/// Splits a line into words the way the shell would hand them to ipfw: quotes
/// and backslashes before `(){}!` removed, `a, b` lists rejoined, `{`/`}` of
/// or-blocks split off. Returns the words and the `// comment`, if any.
fn lex(line: &str) -> (Vec<Tok>, Option<String>) {
    let chars: Vec<char> = line.chars().collect();
    let mut toks: Vec<Tok> = Vec::new();
    let mut comment = None;
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        if chars[i] == '/' && chars.get(i + 1) == Some(&'/') {
            let text: String = chars[i + 2..].iter().collect();
            comment = Some(text.trim().to_string());
            break;
        }
        let start = i;
        let mut text = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => text.push(c),
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c.is_whitespace() => break,
                None if c == '\\' && i + 1 < chars.len() => {
                    i += 1;
                    text.push(chars[i]);
                }
                None => text.push(c),
            }
            i += 1;
        }
        toks.push(Tok {
            text,
            col: start + 1,
        });
    }
    // Split `{`/`(` opening and `}`/`)` closing an or-block off a word, unless the
    // word uses them itself (`table(T)`, `10.0.0.0/24{1,2}`).
    let mut split: Vec<Tok> = Vec::with_capacity(toks.len());
    for t in toks {
        let mut text = t.text.as_str();
        let mut col = t.col;
        while text.len() > 1 && (text.starts_with('{') || text.starts_with('(')) {
            split.push(Tok {
                text: text[..1].to_string(),
                col,
            });
            text = &text[1..];
            col += 1;
        }
        let mut tail = Vec::new();
        while text.len() > 1
            && (text.ends_with('}') && !text.contains('{')
                || text.ends_with(')') && !text.contains('('))
        {
            tail.push(Tok {
                text: text[text.len() - 1..].to_string(),
                col: col + text.chars().count() - 1,
            });
            text = &text[..text.len() - 1];
        }
        split.push(Tok {
            text: text.to_string(),
            col,
        });
        split.extend(tail.into_iter().rev());
    }
    // Rejoin comma lists written with spaces: `22, 80` and `22 ,80`.
    let mut out: Vec<Tok> = Vec::with_capacity(split.len());
    for t in split {
        if let Some(prev) = out.last_mut() {
            if (prev.text.ends_with(',') || t.text.starts_with(','))
                && prev.text != "{"
                && t.text != "}"
            {
                prev.text.push_str(&t.text);
                continue;
            }
        }
        out.push(t);
    }
    (out, comment)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    line: usize,
    /// Column just after the last character of the line (for "end of line" errors).
    eol: usize,
}

type PResult<T> = Result<T, ParseError>;

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(|t| t.text.as_str())
    }

    fn peek_at(&self, k: usize) -> Option<&str> {
        self.toks.get(self.pos + k).map(|t| t.text.as_str())
    }

    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.eol, |t| t.col)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.toks.get(self.pos).map(|t| t.text.clone());
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.peek() == Some(word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn err(&self, expected: impl Into<String>) -> ParseError {
        ParseError::expected(self.line, self.col(), expected, found(self.peek()))
    }

    fn err_at(&self, pos: usize, expected: impl Into<String>) -> ParseError {
        let t = self.toks.get(pos);
        ParseError::expected(
            self.line,
            t.map_or(self.eol, |t| t.col),
            expected,
            found(t.map(|t| t.text.as_str())),
        )
    }

    fn unsupported(&self, pos: usize, what: impl Into<String>, hint: &'static str) -> ParseError {
        let col = self.toks.get(pos).map_or(self.eol, |t| t.col);
        ParseError::unsupported(self.line, col, what, hint)
    }

    fn expect_end(&self) -> PResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.err("end of line")),
        }
    }

    fn number<T: TryFrom<u64>>(&mut self, what: &str, min: u64, max: u64) -> PResult<T> {
        let ok = self
            .peek()
            .and_then(parse_u64)
            .filter(|v| (min..=max).contains(v));
        match ok.and_then(|v| T::try_from(v).ok()) {
            Some(v) => {
                self.pos += 1;
                Ok(v)
            }
            None => Err(self.err(format!("{what} ({min}..{max})"))),
        }
    }

    fn set_number(&mut self) -> PResult<u8> {
        self.number("a set number", 0, 31)
    }

    /// `NUM` or `NUM-NUM` rule numbers until the end of the line.
    fn rule_ranges(&mut self) -> PResult<Vec<Range>> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            let r = parse_range(t, |s| {
                parse_u64(s)
                    .filter(|v| (1..=65535).contains(v))
                    .map(|v| v as u16)
            });
            match r {
                Some(r) => {
                    out.push(r);
                    self.pos += 1;
                }
                None => return Err(self.err("a rule number or range (1..65535)")),
            }
        }
        Ok(out)
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn parse_range(s: &str, one: impl Fn(&str) -> Option<u16>) -> Option<Range> {
    if let Some(v) = one(s) {
        return Some((v, v));
    }
    let (a, b) = s.split_once('-')?;
    let (a, b) = (one(a)?, one(b)?);
    (a <= b).then_some((a, b))
}

/// Well-known service names for port lists (ipfw reads /etc/services; we carry
/// the common ones so that rule files do not depend on the host).
const SERVICES: [(&str, u16); 32] = [
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("dns", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("auth", 113),
    ("ntp", 123),
    ("netbios-ns", 137),
    ("imap", 143),
    ("snmp", 161),
    ("snmptrap", 162),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("syslog", 514),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("openvpn", 1194),
    ("mysql", 3306),
    ("rdp", 3389),
];

fn port_value(s: &str) -> Option<u16> {
    parse_u64(s)
        .filter(|&v| v <= 65535)
        .map(|v| v as u16)
        .or_else(|| SERVICES.iter().find(|(n, _)| *n == s).map(|&(_, p)| p))
}

/// `22,80,1024-65535,http`.
fn port_list(s: &str) -> Option<Vec<Range>> {
    let mut out = Vec::new();
    for item in s.split(',') {
        // A service name may itself contain '-' (ftp-data): try it whole first.
        let r = port_value(item)
            .map(|v| (v, v))
            .or_else(|| parse_range(item, port_value))?;
        out.push(r);
    }
    (!out.is_empty()).then_some(out)
}

/// `1,2,10-20` of u16 values within `max`.
fn value_list(s: &str, max: u16) -> Option<Vec<Range>> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let r = parse_range(item, |x| {
            parse_u64(x).filter(|&v| v <= max as u64).map(|v| v as u16)
        })?;
        out.push(r);
    }
    (!out.is_empty()).then_some(out)
}

fn bitmap_list(s: &str, max: usize) -> Option<Box<[u64; 4]>> {
    let mut bits = Box::new([0u64; 4]);
    for item in s.split(',') {
        let (a, b) = parse_range(item, |x| {
            parse_u64(x)
                .filter(|&v| v as usize <= max)
                .map(|v| v as u16)
        })?;
        for v in a..=b {
            bits[v as usize / 64] |= 1 << (v % 64);
        }
    }
    Some(bits)
}

/// `name,!name,...` against a table of flag names.
fn flag_list(s: &str, names: &[(&str, u8)]) -> Option<(u8, u8)> {
    let (mut set, mut clear) = (0u8, 0u8);
    for item in s.split(',') {
        let (neg, name) = match item.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, item),
        };
        let &(_, b) = names.iter().find(|(n, _)| *n == name)?;
        if neg {
            clear |= b;
        } else {
            set |= b;
        }
    }
    Some((set, clear))
}

fn dscp_value(s: &str) -> Option<u8> {
    DSCP_NAMES
        .iter()
        .find(|(n, _)| *n == s)
        .map(|&(_, v)| v)
        .or_else(|| match s.strip_prefix("cs") {
            Some("0") => Some(0),
            _ => None,
        })
        .or_else(|| parse_u64(s).filter(|&v| v < 64).map(|v| v as u8))
}

fn proto_value(s: &str) -> Option<Cond> {
    use crate::packet::proto as p;
    Some(match s {
        "ip4" | "ipv4" => Cond::Ip4,
        "ip6" | "ipv6" => Cond::Ip6,
        "icmp" => Cond::Proto(p::ICMP),
        "igmp" => Cond::Proto(p::IGMP),
        "tcp" => Cond::Proto(p::TCP),
        "udp" => Cond::Proto(p::UDP),
        "gre" => Cond::Proto(p::GRE),
        "esp" => Cond::Proto(p::ESP),
        "ah" => Cond::Proto(p::AH),
        "ipv6-icmp" | "icmp6" => Cond::Proto(p::ICMP6),
        "ospf" => Cond::Proto(p::OSPF),
        "pim" => Cond::Proto(p::PIM),
        "vrrp" | "carp" => Cond::Proto(p::VRRP),
        "sctp" => Cond::Proto(p::SCTP),
        _ => Cond::Proto(parse_u64(s).filter(|&v| v <= 255)? as u8),
    })
}

fn is_any_proto(s: &str) -> bool {
    matches!(s, "ip" | "all" | "any")
}

/// One address item: `1.2.3.4`, `1.2.3.0/24`, `1.2.3.4:255.255.0.0`,
/// `1.2.3.0/24{1,5-9}`, `2001:db8::/32`, `2001:db8::1/ffff::`.
fn addr_item(s: &str) -> Result<AddrSpec, &'static str> {
    if let Some((base, set)) = s.split_once('{') {
        let set = set.strip_suffix('}').ok_or("a closing '}'")?;
        let (a, len) = match base.split_once('/') {
            Some((a, l)) => (a, l.parse::<u8>().map_err(|_| "a mask length 24..32")?),
            None => (base, 24),
        };
        if !(24..=32).contains(&len) {
            return Err("a mask length 24..32 before an address set");
        }
        let a: Ipv4Addr = a
            .parse()
            .map_err(|_| "an IPv4 address before an address set")?;
        let mut bits = [0u64; 4];
        for item in set.split(',') {
            let (x, y) = parse_range(item.trim(), |v| {
                parse_u64(v).filter(|&n| n <= 255).map(|n| n as u16)
            })
            .ok_or("a list of last-byte values 0..255")?;
            for v in x..=y {
                bits[v as usize / 64] |= 1 << (v % 64);
            }
        }
        return Ok(AddrSpec::Set {
            base: Prefix::new(Family::V4, u32::from(a) as u128, len),
            bits,
        });
    }
    Ok(AddrSpec::List(vec![prefix(s)?]))
}

/// An address or prefix (for lists and tables).
pub fn prefix(s: &str) -> Result<Prefix, &'static str> {
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Ok(Prefix::new(Family::V4, u32::from(a) as u128, 32));
    }
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Ok(Prefix::new(Family::V6, u128::from(a), 128));
    }
    if let Some((a, m)) = s.split_once('/') {
        if let Ok(a) = a.parse::<Ipv4Addr>() {
            let len = m
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= 32)
                .ok_or("a mask length 0..32")?;
            return Ok(Prefix::new(Family::V4, u32::from(a) as u128, len));
        }
        if let Ok(a) = a.parse::<Ipv6Addr>() {
            if let Ok(len) = m.parse::<u8>() {
                if len > 128 {
                    return Err("a mask length 0..128");
                }
                return Ok(Prefix::new(Family::V6, u128::from(a), len));
            }
            let mask: Ipv6Addr = m
                .parse()
                .map_err(|_| "a mask length 0..128 or an IPv6 mask")?;
            let mask = u128::from(mask);
            return Ok(Prefix {
                family: Family::V6,
                addr: u128::from(a) & mask,
                mask,
            });
        }
    }
    if let Some((a, m)) = s.split_once(':') {
        if let (Ok(a), Ok(m)) = (a.parse::<Ipv4Addr>(), m.parse::<Ipv4Addr>()) {
            let mask = u32::from(m) as u128;
            return Ok(Prefix {
                family: Family::V4,
                addr: u32::from(a) as u128 & mask,
                mask,
            });
        }
    }
    if s.chars().any(|c| c.is_ascii_alphabetic()) && !s.contains(':') {
        return Err("an IP address (host names are not resolved)");
    }
    Err("an IP address or prefix")
}

fn table_ref(s: &str) -> Option<Result<AddrSpec, &'static str>> {
    let inner = s.strip_prefix("table(")?.strip_suffix(')');
    let Some(inner) = inner else {
        return Some(Err("table(NAME) or table(NAME,VALUE)"));
    };
    let (name, value) = match inner.split_once(',') {
        Some((n, v)) => match parse_u64(v).filter(|&v| v <= u32::MAX as u64) {
            Some(v) => (n, Some(v as u32)),
            None => return Some(Err("table(NAME,VALUE) with a 32-bit value")),
        },
        None => (inner, None),
    };
    if !valid_table_name(name) {
        return Some(Err("a table name (letters, digits, '_', '-', '.')"));
    }
    Some(Ok(AddrSpec::Table {
        name: name.to_string(),
        value,
    }))
}

fn valid_table_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 63
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn flow_name(s: &str) -> Option<String> {
    let n = s.strip_prefix(':')?;
    (!n.is_empty()
        && n.len() <= 63
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
    .then(|| n.to_string())
}

/// Options that ipfw has and vnetd does not.
const UNSUPPORTED_OPTIONS: [&str; 33] = [
    "layer2",
    "bridged",
    "mac",
    "MAC",
    "mac-type",
    "uid",
    "gid",
    "jail",
    "verrevpath",
    "versrcreach",
    "antispoof",
    "ipoptions",
    "ipopts",
    "tcpoptions",
    "tcpopts",
    "ipid",
    "tcpseq",
    "tcpack",
    "tcpwin",
    "tcpdatalen",
    "tcpmss",
    "fib",
    "lookup",
    "flow",
    "diverted",
    "diverted-loopback",
    "diverted-output",
    "ipsec",
    "ext6hdr",
    "flow-id",
    "sockarg",
    "defer-action",
    "ipprecedence",
];

impl Parser {
    /// `any | me | me6 | table(..) | list | set`, after an optional `not` was taken.
    fn addr_spec(&mut self) -> PResult<AddrSpec> {
        let Some(t) = self.peek() else {
            return Err(self.err("an address"));
        };
        let spec = match t {
            "any" => AddrSpec::Any,
            "me" => AddrSpec::Me,
            "me6" => AddrSpec::Me6,
            _ => {
                if let Some(r) = table_ref(t) {
                    r.map_err(|e| self.err(e))?
                } else if t.contains('{') {
                    addr_item(t).map_err(|e| self.err(e))?
                } else {
                    let mut list = Vec::new();
                    for item in t.split(',') {
                        match addr_item(item).map_err(|e| self.err(e))? {
                            AddrSpec::List(l) => list.extend(l),
                            _ => return Err(self.err("an address list")),
                        }
                    }
                    AddrSpec::List(list)
                }
            }
        };
        self.pos += 1;
        Ok(spec)
    }

    /// The address part of `from`/`to`: `[not] ADDR` or `{ ADDR or not ADDR }`.
    fn addr_term(&mut self, dst: bool) -> PResult<Term> {
        let wrap = |a: AddrSpec| {
            if dst {
                Cond::DstAddr(a)
            } else {
                Cond::SrcAddr(a)
            }
        };
        if self.peek() == Some("{") || self.peek() == Some("(") {
            let close = if self.next().as_deref() == Some("{") {
                "}"
            } else {
                ")"
            };
            let mut alts = Vec::new();
            loop {
                let not = self.eat("not");
                let a = self.addr_spec()?;
                alts.push((not, wrap(a)));
                if self.eat(close) {
                    break;
                }
                if !self.eat("or") {
                    return Err(self.err(format!("\"or\" or \"{close}\"")));
                }
            }
            return Ok(Term { alts });
        }
        let not = self.eat("not");
        match self.addr_spec()? {
            AddrSpec::Any if !not => Ok(Term::any()),
            a => Ok(Term::one(not, wrap(a))),
        }
    }

    /// Optional `[not] PORTS` after an address.
    fn ports_term(&mut self, dst: bool) -> Term {
        let (not, k) = if self.peek() == Some("not") {
            (true, 1)
        } else {
            (false, 0)
        };
        if let Some(list) = self.peek_at(k).and_then(port_list) {
            self.pos += k + 1;
            Term::one(
                not,
                if dst {
                    Cond::DstPort(list)
                } else {
                    Cond::SrcPort(list)
                },
            )
        } else {
            Term::any()
        }
    }

    fn iface(&mut self) -> PResult<IfaceRef> {
        let line = self.line;
        let column = self.col();
        let Some(t) = self.peek() else {
            return Err(self.err("an interface name or \"any\""));
        };
        let spec = if t == "any" {
            IfaceSpec::Any
        } else if t.starts_with("table(") {
            return Err(self.unsupported(self.pos, "an interface table", "name the interface"));
        } else if t.parse::<std::net::IpAddr>().is_ok() {
            return Err(self.unsupported(
                self.pos,
                "an interface given by address",
                "name the interface",
            ));
        } else if let Some(p) = t.strip_suffix('*') {
            IfaceSpec::Glob(p.to_string())
        } else if t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
        {
            IfaceSpec::Name(t.to_string())
        } else {
            return Err(self.err("an interface name or \"any\""));
        };
        self.pos += 1;
        Ok(IfaceRef { spec, line, column })
    }

    /// Takes the argument word of an option.
    fn arg<T>(&mut self, what: &str, f: impl FnOnce(&str) -> Option<T>) -> PResult<T> {
        match self.peek().and_then(f) {
            Some(v) => {
                self.pos += 1;
                Ok(v)
            }
            None => Err(self.err(what)),
        }
    }

    /// One match pattern in option position (not `not`, not an or-block).
    fn option(&mut self) -> PResult<Cond> {
        let at = self.pos;
        let Some(w) = self.next() else {
            return Err(self.err("an option"));
        };
        Ok(match w.as_str() {
            "in" => Cond::Dir(Direction::In),
            "out" => Cond::Dir(Direction::Out),
            "via" => Cond::Via(self.iface()?),
            "recv" => Cond::Recv(self.iface()?),
            "xmit" => Cond::Xmit(self.iface()?),
            "established" => Cond::Established,
            "setup" => Cond::Setup,
            "tcpflags" | "tcpflag" => {
                let (set, clear) = self.arg("TCP flags (fin,syn,rst,psh,ack,urg; ! for clear)", |s| {
                    flag_list(s, &TCP_FLAG_NAMES)
                })?;
                Cond::TcpFlags { set, clear }
            }
            "icmptypes" | "icmptype" => Cond::IcmpTypes(self.arg("ICMP types (0..255, comma-separated)", |s| bitmap_list(s, 255))?),
            "icmp6types" | "icmp6type" => {
                Cond::Icmp6Types(self.arg("ICMPv6 types (0..255, comma-separated)", |s| bitmap_list(s, 255))?)
            }
            "iplen" => Cond::IpLen(self.arg("IP lengths (values or ranges)", |s| value_list(s, 65535))?),
            "ipttl" => Cond::IpTtl(self.arg("TTL values or ranges (0..255)", |s| value_list(s, 255))?),
            "iptos" => {
                let (set, clear) = self.arg(
                    "TOS flags (lowdelay,throughput,reliability,mincost,congestion)",
                    |s| flag_list(s, &TOS_NAMES),
                )?;
                Cond::IpTos { set, clear }
            }
            "dscp" => Cond::Dscp(self.arg("DSCP values (af11, ef, cs1, 0..63, ...)", |s| {
                s.split(',').map(dscp_value).try_fold(0u64, |acc, v| v.map(|v| acc | 1 << v))
            })?),
            "frag" => match self.peek().and_then(|s| flag_list(s, &FRAG_NAMES)) {
                Some(spec) => {
                    self.pos += 1;
                    Cond::Frag(Some(spec))
                }
                None => Cond::Frag(None),
            },
            "tagged" => Cond::Tagged(self.arg("tags (1..65534, values or ranges)", |s| {
                value_list(s, 65534).filter(|l| l.iter().all(|&(a, _)| a >= 1))
            })?),
            "ipversion" | "ipver" => Cond::IpVersion(self.arg("4 or 6", |s| match s {
                "4" => Some(4),
                "6" => Some(6),
                _ => None,
            })?),
            "proto" => self.arg("a protocol", proto_value)?,
            "src-ip" | "src-ip6" | "src-ipv6" => Cond::SrcAddr(self.addr_spec()?),
            "dst-ip" | "dst-ip6" | "dst-ipv6" => Cond::DstAddr(self.addr_spec()?),
            "src-port" => Cond::SrcPort(self.arg("ports (values, ranges or service names)", port_list)?),
            "dst-port" => Cond::DstPort(self.arg("ports (values, ranges or service names)", port_list)?),
            w if UNSUPPORTED_OPTIONS.contains(&w) => {
                return Err(self.unsupported(at, format!("option {w:?}"), ""));
            }
            _ => return Err(self.err_at(at, "an option (in, out, via, recv, xmit, established, setup, tcpflags, icmptypes, iplen, ipttl, iptos, dscp, frag, tagged, src-ip, dst-ip, src-port, dst-port, keep-state, limit, ...)")),
        })
    }

    fn state_option(&mut self, rule: &mut Rule, at: usize) -> PResult<bool> {
        let w = match self.peek() {
            Some(w @ ("keep-state" | "record-state" | "limit" | "set-limit")) => w.to_string(),
            _ => return Ok(false),
        };
        if rule.state.is_some() {
            return Err(ParseError::invalid(
                self.line,
                self.col(),
                "only one of keep-state, record-state, limit, set-limit per rule",
            ));
        }
        if matches!(rule.action, Action::CheckState(_)) {
            return Err(ParseError::invalid(
                self.line,
                self.col(),
                "check-state cannot create states",
            ));
        }
        let _ = at;
        self.pos += 1;
        let flow = |p: &mut Parser| -> Option<String> {
            let f = p.peek().and_then(flow_name);
            if f.is_some() {
                p.pos += 1;
            }
            f.filter(|n| n != "default")
        };
        let opt = match w.as_str() {
            "keep-state" => StateOpt::Keep(flow(self)),
            "record-state" => StateOpt::Record(flow(self)),
            _ => {
                let mut fields = 0u8;
                loop {
                    let b = match self.peek() {
                        Some("src-addr") => limit_fields::SRC_ADDR,
                        Some("src-port") => limit_fields::SRC_PORT,
                        Some("dst-addr") => limit_fields::DST_ADDR,
                        Some("dst-port") => limit_fields::DST_PORT,
                        _ => break,
                    };
                    fields |= b;
                    self.pos += 1;
                }
                if fields == 0 {
                    return Err(self.err("src-addr, src-port, dst-addr or dst-port"));
                }
                let n = self.number("a connection limit", 1, u32::MAX as u64)?;
                StateOpt::Limit {
                    fields,
                    n,
                    flow: flow(self),
                    check: w == "limit",
                }
            }
        };
        rule.state = Some(opt);
        Ok(true)
    }

    /// Options until the end of the line.
    fn options(&mut self, rule: &mut Rule) -> PResult<()> {
        while self.peek().is_some() {
            let at = self.pos;
            if self.state_option(rule, at)? {
                continue;
            }
            let t = self.peek().unwrap_or("");
            if t == "{" || t == "(" {
                let close = if t == "{" { "}" } else { ")" };
                self.pos += 1;
                let mut alts = Vec::new();
                loop {
                    let not = self.eat("not");
                    alts.push((not, self.option()?));
                    if self.eat(close) {
                        break;
                    }
                    if !self.eat("or") {
                        return Err(self.err(format!("\"or\" or \"{close}\"")));
                    }
                }
                rule.options.push(Term { alts });
                continue;
            }
            let not = self.eat("not");
            let c = self.option()?;
            rule.options.push(Term::one(not, c));
        }
        Ok(())
    }

    /// `proto`, `{ proto or proto }`, `not proto`; None if the word is not a protocol.
    fn proto_term(&mut self) -> PResult<Option<Term>> {
        let t = self.peek().unwrap_or("");
        if is_any_proto(t) {
            self.pos += 1;
            return Ok(Some(Term::any()));
        }
        if (t == "{" || t == "(")
            && self
                .peek_at(1)
                .is_some_and(|p| proto_value(p).is_some() || p == "not" || is_any_proto(p))
        {
            let close = if t == "{" { "}" } else { ")" };
            self.pos += 1;
            let mut alts = Vec::new();
            let mut any = false;
            loop {
                let not = self.eat("not");
                let p = self.peek().unwrap_or("");
                if is_any_proto(p) && !not {
                    any = true;
                    self.pos += 1;
                } else {
                    alts.push((not, self.arg("a protocol", proto_value)?));
                }
                if self.eat(close) {
                    break;
                }
                if !self.eat("or") {
                    return Err(self.err(format!("\"or\" or \"{close}\"")));
                }
            }
            return Ok(Some(if any { Term::any() } else { Term { alts } }));
        }
        if t == "not" && self.peek_at(1).and_then(proto_value).is_some() {
            self.pos += 1;
            let c = self.arg("a protocol", proto_value)?;
            return Ok(Some(Term::one(true, c)));
        }
        if let Some(c) = proto_value(t) {
            self.pos += 1;
            return Ok(Some(Term::one(false, c)));
        }
        Ok(None)
    }

    fn tag_arg(&mut self) -> PResult<Arg> {
        if self.eat("tablearg") {
            return Ok(Arg::TableArg);
        }
        Ok(Arg::Num(self.number(
            "a tag (1..65534) or tablearg",
            1,
            65534,
        )?))
    }

    fn num_arg(&mut self, what: &str, min: u64, max: u64) -> PResult<Arg> {
        if self.eat("tablearg") {
            return Ok(Arg::TableArg);
        }
        Ok(Arg::Num(self.number(
            &format!("{what} or tablearg"),
            min,
            max,
        )?))
    }

    /// Parses `[NUM] [set N] [prob P] ACTION ... BODY` (after `add`).
    fn rule(&mut self, comment: Option<String>) -> PResult<Rule> {
        let mut number = 0u16;
        if let Some(n) = self.peek().and_then(parse_u64) {
            if n >= 65535 {
                return Err(self.err("a rule number (1..65534; 65535 is the default rule)"));
            }
            number = n as u16;
            self.pos += 1;
        }
        let mut set = 0u8;
        if self.eat("set") {
            set = self.number("a set number", 0, 31)?;
        }
        let mut prob = None;
        if self.eat("prob") {
            let p = self.arg("a probability (0..1)", |s| {
                s.parse::<f64>().ok().filter(|p| (0.0..=1.0).contains(p))
            })?;
            prob = Some(p);
        }
        let action_at = self.pos;
        let mut refused: Option<ParseError> = None;
        let Some(a) = self.next() else {
            return Err(self.err("an action (allow, deny, reject, unreach, reset, count, skipto, call, return, check-state, pipe, queue, setdscp)"));
        };
        let action = match a.as_str() {
            "allow" | "accept" | "pass" | "permit" => Action::Allow,
            "deny" | "drop" => Action::Deny,
            "reject" => Action::Reject,
            "unreach" => Action::Unreach(self.arg("an ICMP unreachable code (0..255 or net, host, port, ...)", |s| {
                UNREACH_NAMES
                    .iter()
                    .find(|(n, _)| *n == s)
                    .map(|&(_, v)| v)
                    .or_else(|| parse_u64(s).filter(|&v| v <= 255).map(|v| v as u8))
            })?),
            "unreach6" => Action::Unreach6(self.arg("an ICMPv6 unreachable code (0..255 or no-route, admin-prohib, address, port)", |s| {
                UNREACH6_NAMES
                    .iter()
                    .find(|(n, _)| *n == s)
                    .map(|&(_, v)| v)
                    .or_else(|| parse_u64(s).filter(|&v| v <= 255).map(|v| v as u8))
            })?),
            "reset" => Action::Reset,
            "reset6" => Action::Reset6,
            "count" => Action::Count,
            "skipto" => Action::Skipto(self.num_arg("a rule number", 1, 65535)?),
            "call" => Action::Call(self.num_arg("a rule number", 1, 65535)?),
            "return" => Action::Return,
            "check-state" => {
                let sel = match self.peek() {
                    Some(":any") => FlowSel::Any,
                    Some(":default") => FlowSel::Default,
                    Some(p) if p.starts_with(':') => {
                        FlowSel::Named(flow_name(p).ok_or_else(|| self.err("a flow name (:NAME)"))?)
                    }
                    _ => {
                        self.pos -= 1;
                        FlowSel::Default
                    }
                };
                self.pos += 1;
                Action::CheckState(sel)
            }
            "pipe" => Action::Pipe(self.num_arg("a pipe number", 1, 65535)?),
            "queue" => Action::Queue(self.num_arg("a queue number", 1, 65535)?),
            "setdscp" => {
                if self.eat("tablearg") {
                    Action::SetDscp(Arg::TableArg)
                } else {
                    Action::SetDscp(Arg::Num(
                        self.arg("a DSCP (af11, ef, cs1, 0..63, ...)", dscp_value)? as u32,
                    ))
                }
            }
            "nat" | "divert" | "tee" | "netgraph" | "ngtee" | "setfib" => {
                // Parse the argument so that the rest of the rule is checked too,
                // then refuse the rule as a whole.
                if !self.eat("tablearg") && !self.eat("global") {
                    self.number::<u32>(&format!("a {a} number"), 0, u32::MAX as u64)?;
                }
                refused = Some(self.unsupported(action_at, format!("action {a:?}"), "packets cannot leave the vnet's rule set"));
                Action::Deny
            }
            "fwd" | "forward" => {
                if !self.eat("tablearg") {
                    let ok = self.peek().is_some_and(|t| {
                        let host = t.rsplit_once(',').map_or(t, |(h, _)| h);
                        host.parse::<std::net::IpAddr>().is_ok()
                    });
                    if !ok {
                        return Err(self.err("a next-hop address[,port]"));
                    }
                    self.pos += 1;
                }
                refused = Some(self.unsupported(action_at, "action \"fwd\"", "use routes to choose next hops"));
                Action::Deny
            }
            "reass" | "tcp-setmss" | "abort" | "abort6" | "nat64lsn" | "nat64stl" | "nat64clat" | "nptv6" | "eaction" => {
                return Err(self.unsupported(action_at, format!("action {a:?}"), ""));
            }
            _ => return Err(self.err_at(action_at, "an action (allow, deny, reject, unreach, reset, count, skipto, call, return, check-state, pipe, queue, setdscp)")),
        };
        let mut rule = Rule::any(action);
        rule.number = number;
        rule.set = set;
        rule.prob = prob;
        rule.comment = comment;
        rule.line = self.line;
        if self.eat("log") {
            let mut amount = 0;
            if self.eat("logamount") {
                amount = self.number("a log amount", 0, u32::MAX as u64)?;
            }
            rule.log = Some(amount);
        }
        if self.peek() == Some("altq") {
            return Err(self.unsupported(self.pos, "altq", "use pipe or queue"));
        }
        if self.eat("tag") {
            rule.tag = Some((false, self.tag_arg()?));
        } else if self.eat("untag") {
            rule.tag = Some((true, self.tag_arg()?));
        }
        // Body: [proto [from SRC [PORTS] to DST [PORTS]]] [options].
        let proto = self.proto_term()?;
        let classic = self.peek() == Some("from");
        if let Some(p) = proto {
            rule.proto = p;
        }
        if classic {
            self.pos += 1;
            rule.src = self.addr_term(false)?;
            rule.src_ports = self.ports_term(false);
            if !self.eat("to") {
                return Err(self.err("\"to\""));
            }
            rule.dst = self.addr_term(true)?;
            rule.dst_ports = self.ports_term(true);
        }
        self.options(&mut rule)?;
        if let Some(e) = refused {
            return Err(e);
        }
        Ok(rule)
    }

    fn table_cmd(&mut self) -> PResult<Command> {
        let name_at = self.pos;
        let Some(name) = self.next() else {
            return Err(self.err("a table name"));
        };
        let all = name == "all";
        if !all && !valid_table_name(&name) {
            return Err(self.err_at(name_at, "a table name (letters, digits, '_', '-', '.')"));
        }
        let need_name = |p: &Parser| -> PResult<()> {
            if all {
                Err(p.err_at(
                    name_at,
                    "a table name (\"all\" only for flush, destroy, list)",
                ))
            } else {
                Ok(())
            }
        };
        let verb_at = self.pos;
        let verb = self.next();
        let cmd = match verb.as_deref() {
            Some("create") => {
                need_name(self)?;
                while let Some(opt) = self.next() {
                    match opt.as_str() {
                        "type" => match self.next().as_deref() {
                            Some("addr") => {}
                            Some(t) => {
                                return Err(ParseError::unsupported(
                                    self.line,
                                    self.toks[self.pos - 1].col,
                                    format!("table type {t:?}"),
                                    "only \"addr\" tables",
                                ))
                            }
                            None => return Err(self.err("a table type (addr)")),
                        },
                        "valtype" => {
                            if self.next().is_none() {
                                return Err(self.err("a value type"));
                            }
                        }
                        "missing" | "or-flush" => {}
                        _ => {
                            return Err(self
                                .err_at(self.pos - 1, "type addr, valtype, missing or or-flush"))
                        }
                    }
                }
                Command::TableCreate { name }
            }
            Some("add") => {
                need_name(self)?;
                let mut entries = Vec::new();
                while self.peek().is_some() {
                    let key = self.arg("a table key (address or prefix)", |s| prefix(s).ok())?;
                    let mut value = 0;
                    if let Some(v) = self.peek().and_then(parse_u64) {
                        if v > u32::MAX as u64 {
                            return Err(self.err("a 32-bit value"));
                        }
                        value = v as u32;
                        self.pos += 1;
                    } else if self.peek().is_some() && prefix(self.peek().unwrap_or("")).is_err() {
                        return Err(self.err("a numeric table value"));
                    }
                    entries.push((key, value));
                }
                if entries.is_empty() {
                    return Err(self.err("a table key (address or prefix)"));
                }
                Command::TableAdd { name, entries }
            }
            Some("delete") | Some("del") => {
                need_name(self)?;
                let mut keys = Vec::new();
                while self.peek().is_some() {
                    keys.push(self.arg("a table key (address or prefix)", |s| prefix(s).ok())?);
                }
                if keys.is_empty() {
                    return Err(self.err("a table key (address or prefix)"));
                }
                Command::TableDelete { name, keys }
            }
            Some("flush") => Command::TableFlush {
                name: (!all).then_some(name),
            },
            Some("destroy") => Command::TableDestroy {
                name: (!all).then_some(name),
            },
            Some("list") | Some("show") | Some("print") => Command::TableList {
                name: (!all).then_some(name),
            },
            _ => return Err(self.err_at(verb_at, "create, add, delete, flush, destroy or list")),
        };
        self.expect_end()?;
        Ok(cmd)
    }

    fn set_cmd(&mut self) -> PResult<Command> {
        match self.peek() {
            Some("show") => {
                self.pos += 1;
                self.expect_end()?;
                Ok(Command::SetShow)
            }
            Some("swap") => {
                self.pos += 1;
                let a = self.set_number()?;
                let b = self.set_number()?;
                self.expect_end()?;
                Ok(Command::SetSwap(a, b))
            }
            Some("move") => {
                self.pos += 1;
                if self.eat("rule") {
                    let r = self.rule_range_one()?;
                    if !self.eat("to") {
                        return Err(self.err("\"to\""));
                    }
                    let to = self.set_number()?;
                    self.expect_end()?;
                    return Ok(Command::SetMoveRules { rules: r, to });
                }
                let from = self.set_number()?;
                if !self.eat("to") {
                    return Err(self.err("\"to\""));
                }
                let to = self.set_number()?;
                self.expect_end()?;
                Ok(Command::SetMove { from, to })
            }
            Some("enable") | Some("disable") => {
                let (mut disable, mut enable) = (Vec::new(), Vec::new());
                while let Some(w) = self.next() {
                    let list = match w.as_str() {
                        "enable" => &mut enable,
                        "disable" => &mut disable,
                        _ => return Err(self.err_at(self.pos - 1, "enable or disable")),
                    };
                    let before = list.len();
                    while let Some(n) = self.peek().and_then(parse_u64) {
                        if n > 31 {
                            return Err(self.err("a set number (0..31)"));
                        }
                        list.push(n as u8);
                        self.pos += 1;
                    }
                    if list.len() == before {
                        return Err(self.err("a set number (0..31)"));
                    }
                }
                if disable.contains(&31) {
                    return Err(ParseError::invalid(
                        self.line,
                        self.eol,
                        "set 31 cannot be disabled",
                    ));
                }
                Ok(Command::SetEnable { disable, enable })
            }
            Some(n) if parse_u64(n).is_some() => {
                let set = self.set_number()?;
                let verb_at = self.pos;
                match self.next().as_deref() {
                    Some("show") | Some("list") => Ok(Command::Show {
                        set: Some(set),
                        rules: self.rule_ranges()?,
                        opts: ShowOpts {
                            counters: self.toks[verb_at].text == "show",
                            ..ShowOpts::default()
                        },
                    }),
                    Some("delete") => Ok(Command::Delete {
                        set: Some(set),
                        rules: self.rule_ranges()?,
                    }),
                    Some("zero") => Ok(Command::Zero {
                        set: Some(set),
                        rules: self.rule_ranges()?,
                    }),
                    Some("resetlog") => Ok(Command::ResetLog {
                        set: Some(set),
                        rules: self.rule_ranges()?,
                    }),
                    Some("flush") => {
                        self.expect_end()?;
                        Ok(Command::Flush { set: Some(set) })
                    }
                    Some("table") => self.table_cmd(),
                    _ => Err(self.err_at(
                        verb_at,
                        "show, list, delete, zero, resetlog, flush or table",
                    )),
                }
            }
            _ => Err(self.err("show, swap, move, enable, disable or a set number")),
        }
    }

    fn rule_range_one(&mut self) -> PResult<Range> {
        let r = self.peek().and_then(|t| {
            parse_range(t, |s| {
                parse_u64(s)
                    .filter(|v| (1..=65534).contains(v))
                    .map(|v| v as u16)
            })
        });
        match r {
            Some(r) => {
                self.pos += 1;
                Ok(r)
            }
            None => Err(self.err("a rule number or range (1..65534)")),
        }
    }
}

/// Parses one line of rules text (`line_no` is 1-based). `Ok(None)` for blank
/// and comment lines.
pub fn parse_line(text: &str, line_no: usize) -> Result<Option<Command>, ParseError> {
    let (toks, comment) = lex(text);
    let eol = text.chars().count() + 1;
    let mut p = Parser {
        toks,
        pos: 0,
        line: line_no,
        eol,
    };
    if p.toks.is_empty() {
        if comment.is_some() {
            // A comment-only rule: ipfw lists it as `count` with the comment.
            // In a rules file `// text` alone is just a comment.
        }
        return Ok(None);
    }
    p.eat("ipfw");
    let mut opts = ShowOpts::default();
    while let Some(f) = p.peek().filter(|t| t.starts_with('-') && t.len() > 1) {
        for c in f[1..].chars() {
            match c {
                'q' | 'f' | 'n' | 'N' | 'c' => {}
                'a' => opts.counters = true,
                't' | 'T' => opts.timestamps = true,
                'S' => opts.sets = true,
                'd' | 'e' => opts.dynamic = true,
                _ => return Err(p.err("a flag (-q, -f, -a, -t, -T, -S, -d)")),
            }
        }
        p.pos += 1;
    }
    let verb_at = p.pos;
    let Some(verb) = p.next() else {
        return Ok(None);
    };
    let cmd = match verb.as_str() {
        "add" => Command::Add(p.rule(comment)?),
        "delete" | "del" => {
            if p.eat("set") {
                let s = p.set_number()?;
                p.expect_end()?;
                Command::DeleteSet(s)
            } else {
                let rules = p.rule_ranges()?;
                if rules.is_empty() {
                    return Err(p.err("a rule number or range"));
                }
                Command::Delete { set: None, rules }
            }
        }
        "flush" => {
            p.expect_end()?;
            Command::Flush { set: None }
        }
        "zero" => Command::Zero {
            set: None,
            rules: p.rule_ranges()?,
        },
        "resetlog" => Command::ResetLog {
            set: None,
            rules: p.rule_ranges()?,
        },
        "show" | "list" | "l" => {
            if verb == "show" {
                opts.counters = true;
            }
            Command::Show {
                set: None,
                rules: p.rule_ranges()?,
                opts,
            }
        }
        "set" => {
            let c = p.set_cmd()?;
            if let Command::Show { set, rules, opts: o } = c {
                Command::Show {
                    set,
                    rules,
                    opts: ShowOpts {
                        counters: o.counters || opts.counters,
                        ..opts
                    },
                }
            } else {
                c
            }
        }
        "table" => p.table_cmd()?,
        "enable" | "disable" => {
            let on = verb == "enable";
            match p.next().as_deref() {
                Some("one_pass") => {
                    p.expect_end()?;
                    Command::OnePass(on)
                }
                Some("firewall" | "altq" | "debug" | "verbose" | "dyn_keepalive") => {
                    return Err(p.unsupported(p.pos - 1, format!("{verb} {}", p.toks[p.pos - 1].text), "only one_pass can be switched"));
                }
                _ => return Err(p.err_at(p.pos.saturating_sub(1).max(verb_at + 1), "one_pass")),
            }
        }
        "pipe" | "queue" | "sched" => {
            return Err(p.unsupported(verb_at, format!("\"{verb}\" configuration in the rules"), "declare pipes with [[vnet.pipe]]"));
        }
        "nat" | "nat64lsn" | "nat64stl" | "nat64clat" | "nptv6" | "internal" => {
            return Err(p.unsupported(verb_at, format!("{verb:?}"), ""));
        }
        _ => {
            return Err(p.err_at(
                verb_at,
                "a command (add, delete, flush, show, list, zero, resetlog, set, table, enable, disable)",
            ))
        }
    };
    Ok(Some(cmd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{proto as p, tcp};

    fn rule(s: &str) -> Rule {
        match parse_line(s, 1) {
            Ok(Some(Command::Add(r))) => r,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn err(s: &str) -> ParseError {
        match parse_line(s, 1) {
            Err(e) => e,
            other => panic!("{s}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn lexer_words_and_lists() {
        let (t, c) = lex("add allow ip from 10.0.0.0/24, 127.0.0.1/8 to any // hi there");
        let words: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            words,
            [
                "add",
                "allow",
                "ip",
                "from",
                "10.0.0.0/24,127.0.0.1/8",
                "to",
                "any"
            ]
        );
        assert_eq!(c.as_deref(), Some("hi there"));
        assert_eq!(t[4].col, 19);
        let (t, _) = lex("add pipe tablearg ip from 'table(T1)' to any {tcp or udp}");
        let words: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            words,
            [
                "add",
                "pipe",
                "tablearg",
                "ip",
                "from",
                "table(T1)",
                "to",
                "any",
                "{",
                "tcp",
                "or",
                "udp",
                "}"
            ]
        );
        let (t, _) = lex("  # comment only");
        assert!(t.is_empty());
    }

    #[test]
    fn classic_rule() {
        let r = rule("add 100 deny tcp from any to any 23");
        assert_eq!(r.number, 100);
        assert_eq!(r.action, Action::Deny);
        assert_eq!(r.proto, Term::one(false, Cond::Proto(p::TCP)));
        assert!(r.src.is_any() && r.dst.is_any());
        assert_eq!(r.dst_ports, Term::one(false, Cond::DstPort(vec![(23, 23)])));
        assert_eq!(r.to_string(), "deny tcp from any to any 23");
    }

    #[test]
    fn rule_with_everything() {
        let r = rule("ipfw -q add 200 set 3 prob 0.5 count log logamount 10 tag 7 { tcp or udp } from not 10.0.0.0/8,192.168.0.0/16 1024-65535 to me not 22,http in via em0 setup keep-state :web // note");
        assert_eq!((r.number, r.set, r.prob), (200, 3, Some(0.5)));
        assert_eq!(r.log, Some(10));
        assert_eq!(r.tag, Some((false, Arg::Num(7))));
        assert_eq!(r.proto.alts.len(), 2);
        assert!(r.src.alts[0].0);
        assert_eq!(
            r.src_ports,
            Term::one(false, Cond::SrcPort(vec![(1024, 65535)]))
        );
        assert_eq!(r.dst, Term::one(false, Cond::DstAddr(AddrSpec::Me)));
        assert_eq!(
            r.dst_ports,
            Term::one(true, Cond::DstPort(vec![(22, 22), (80, 80)]))
        );
        assert_eq!(r.options.len(), 3);
        assert_eq!(r.state, Some(StateOpt::Keep(Some("web".into()))));
        assert_eq!(r.comment.as_deref(), Some("note"));
        let text = r.to_string();
        assert_eq!(
            text,
            "prob 0.5 count log logamount 10 tag 7 { tcp or udp } from not 10.0.0.0/8,192.168.0.0/16 1024-65535 to me not 22,80 in via em0 setup keep-state :web // note"
        );
        // What `list` prints parses back to the same rule.
        let mut again = rule(&format!("add 200 set 3 {text}"));
        again.comment = r.comment.clone();
        // Equal but for where `em0` was written (an interface keeps its column
        // for "unknown interface" errors).
        let mut r = r;
        for t in again.options.iter_mut().chain(r.options.iter_mut()) {
            for (_, c) in t.alts.iter_mut() {
                if let Cond::Via(i) = c {
                    i.column = 0;
                }
            }
        }
        assert_eq!(again, r);
    }

    #[test]
    fn options_parse() {
        let r = rule("add allow tcp from any to any tcpflags syn,!ack iplen 40-1500 ipttl 1,64 iptos lowdelay,!mincost dscp af11,ef,7 frag mf,!df tagged 1-5 ipversion 4");
        assert_eq!(
            r.options[0],
            Term::one(
                false,
                Cond::TcpFlags {
                    set: tcp::SYN,
                    clear: tcp::ACK
                }
            )
        );
        assert_eq!(
            r.options[4],
            Term::one(false, Cond::Dscp(1 << 10 | 1 << 46 | 1 << 7))
        );
        let r = rule("add deny icmp from any to any icmptypes 0,8 not icmp6types 128");
        assert_eq!(r.options.len(), 2);
        let r = rule("add deny src-ip 10.0.0.0/24, 127.0.0.1/8");
        assert!(r.src.is_any());
        assert_eq!(r.options.len(), 1);
        let r = rule("add 2999 return via any");
        assert_eq!(r.action, Action::Return);
        let r = rule("add check-state :any");
        assert_eq!(r.action, Action::CheckState(FlowSel::Any));
        assert_eq!(r.to_string(), "check-state :any");
        let r = rule("add allow tcp from any to me setup limit src-addr dst-port 4");
        assert_eq!(
            r.state,
            Some(StateOpt::Limit {
                fields: limit_fields::SRC_ADDR | limit_fields::DST_PORT,
                n: 4,
                flow: None,
                check: true
            })
        );
        let r = rule("add allow ip from 10.1.2.0/24{20,35,66,18} to any");
        assert!(matches!(
            &r.src.alts[0].1,
            Cond::SrcAddr(AddrSpec::Set { .. })
        ));
        assert_eq!(
            r.to_string(),
            "allow ip from 10.1.2.0/24{18,20,35,66} to any"
        );
        let r =
            rule("add allow ip from { 10.1.2.0/24{20,35,66,18} or 10.2.3.0/28{6,3,11} } to any");
        assert_eq!(r.src.alts.len(), 2);
        let r = rule("add allow ip from 1.2.3.4:255.0.255.0 to 2001:db8::/32");
        assert_eq!(
            r.to_string(),
            "allow ip from 1.0.3.0:255.0.255.0 to 2001:db8::/32"
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = err("add 100 deny tcp from any to any 23 bogus");
        assert_eq!((e.line, e.column), (1, 37));
        assert!(e.to_string().contains("expected an option"), "{e}");
        assert!(e.to_string().contains("found \"bogus\""), "{e}");
        let e = err("add 100 deny tcp from any");
        assert_eq!(e.to_string(), "1:26: expected \"to\", found end of line");
        let e = err("add 100 frobnicate ip from any to any");
        assert_eq!(e.column, 9);
        let e = err("add 65535 allow ip from any to any");
        assert_eq!(e.column, 5);
        let e = err("add allow ip from 300.1.1.1 to any");
        assert_eq!(e.column, 19);
        let e = err("add allow ip from cracker.evil.org to any");
        assert!(e.to_string().contains("host names are not resolved"), "{e}");
        let e = err("add deny tcp from any to any tcpflags syn,bogus");
        assert_eq!(e.column, 39);
    }

    #[test]
    fn refusals_are_clear() {
        for (line, col, what) in [
            ("add nat 123 all from any to any", 5, "action \"nat\""),
            (
                "add 10 divert 5000 ip from 192.168.2.0/24 to any in",
                8,
                "action \"divert\"",
            ),
            (
                "add fwd 10.0.0.1,8080 tcp from any to any 80",
                5,
                "action \"fwd\"",
            ),
            ("add tee 1 ip from any to any", 5, "action \"tee\""),
            (
                "add deny ip from any to any not verrevpath in",
                33,
                "option \"verrevpath\"",
            ),
            ("pipe 1 config bw 1Mbit/s", 1, "\"pipe\""),
        ] {
            let e = err(line);
            assert_eq!(e.column, col, "{line}: {e}");
            assert!(
                e.to_string().contains(what) && e.to_string().contains("not supported"),
                "{e}"
            );
        }
        // A refused action still has its rule checked.
        let e = err("add nat 1 ip from any to any bogus");
        assert!(e.to_string().contains("expected an option"), "{e}");
    }

    #[test]
    fn commands() {
        assert_eq!(
            parse_line("flush", 1),
            Ok(Some(Command::Flush { set: None }))
        );
        assert_eq!(parse_line("   ", 1), Ok(None));
        assert_eq!(parse_line("# x", 1), Ok(None));
        assert_eq!(
            parse_line("delete set 18", 1),
            Ok(Some(Command::DeleteSet(18)))
        );
        assert_eq!(
            parse_line("delete 100 200-300", 1),
            Ok(Some(Command::Delete {
                set: None,
                rules: vec![(100, 100), (200, 300)]
            }))
        );
        assert_eq!(
            parse_line("set 18 delete 5", 1),
            Ok(Some(Command::Delete {
                set: Some(18),
                rules: vec![(5, 5)]
            }))
        );
        assert_eq!(
            parse_line("set disable 18 enable 1 2", 1),
            Ok(Some(Command::SetEnable {
                disable: vec![18],
                enable: vec![1, 2]
            }))
        );
        assert_eq!(
            parse_line("set swap 1 2", 1),
            Ok(Some(Command::SetSwap(1, 2)))
        );
        assert_eq!(
            parse_line("set move 1 to 2", 1),
            Ok(Some(Command::SetMove { from: 1, to: 2 }))
        );
        assert_eq!(
            parse_line("set move rule 100 to 2", 1),
            Ok(Some(Command::SetMoveRules {
                rules: (100, 100),
                to: 2
            }))
        );
        assert!(matches!(
            parse_line("ipfw -at list", 1),
            Ok(Some(Command::Show {
                opts: ShowOpts {
                    counters: true,
                    timestamps: true,
                    ..
                },
                ..
            }))
        ));
        assert_eq!(
            parse_line("table T1 create type addr", 1),
            Ok(Some(Command::TableCreate { name: "T1".into() }))
        );
        assert!(matches!(
            parse_line("table T1 add 192.168.2.0/24 1", 1),
            Ok(Some(Command::TableAdd { ref entries, .. })) if entries.len() == 1 && entries[0].1 == 1
        ));
        assert_eq!(
            parse_line("disable one_pass", 1),
            Ok(Some(Command::OnePass(false)))
        );
        assert!(parse_line("table T1 create type iface", 1).is_err());
    }
}
