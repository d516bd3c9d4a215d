//! From the raw file to the validated model: types, ranges, names, references.
//!
//! Every check records its error and goes on, so one run reports everything; the
//! model is returned only when no error was found.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::addr::{check_name, parse_device, DeviceId};
use super::location::{ConfigError, LocatedError, Location, Source};
use super::model::{
    ApiConfig, Config, DataplaneConfig, MetricsConfig, PortConfig, DEFAULT_API_SOCKET,
    DEFAULT_BURST, DEFAULT_MBUFS, MAX_BURST,
};
use super::raw::{RawApi, RawConfig, RawDataplane, RawMetrics, RawPort, Value};

/// Validation state: the source for locations, and the errors so far.
pub(crate) struct Checker<'a> {
    pub(crate) src: Source<'a>,
    pub(crate) errors: Vec<LocatedError>,
}

pub(crate) fn validate(raw: RawConfig, src: Source<'_>) -> Result<Config, ConfigError> {
    let mut ck = Checker {
        src,
        errors: Vec::new(),
    };
    let dataplane = ck.dataplane(raw.dataplane.as_ref());
    let api = ck.api(raw.api.as_ref());
    let metrics = ck.metrics(raw.metrics.as_ref());
    let ports = ck.ports(&raw.port);
    let vnets = ck.vnets(&raw.vnet, &ports);
    if !ck.errors.is_empty() {
        return Err(ConfigError::from_errors(ck.errors, ck.src.path));
    }
    Ok(Config {
        path: ck.src.path.to_path_buf(),
        dataplane,
        api,
        metrics,
        ports,
        vnets,
    })
}

/// Describes a value for "found ..." in a message.
pub(crate) fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string \"{s}\""),
        toml::Value::Integer(n) => format!("the integer {n}"),
        toml::Value::Float(x) => format!("the float {x}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(d) => format!("the datetime {d}"),
        toml::Value::Array(_) => "an array".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    }
}

impl<'a> Checker<'a> {
    pub(crate) fn location(&self, span: &Range<usize>) -> Location {
        self.src.location(span)
    }

    pub(crate) fn error(&mut self, span: &Range<usize>, message: String) {
        let location = self.location(span);
        self.errors.push(LocatedError::new(Some(location), message));
    }

    /// The value of a required key, or an error at the table's start.
    pub(crate) fn required<'v>(
        &mut self,
        value: &'v Option<Value>,
        table: &Range<usize>,
        ctx: &str,
        key: &str,
        what: &str,
    ) -> Option<&'v Value> {
        if value.is_none() {
            self.error(
                table,
                format!("{ctx}: missing key \"{key}\" (expected {what})"),
            );
        }
        value.as_ref()
    }

    pub(crate) fn string<'v>(
        &mut self,
        v: &'v Value,
        ctx: &str,
        key: &str,
        what: &str,
    ) -> Option<&'v str> {
        match v.get_ref() {
            toml::Value::String(s) => Some(s),
            other => {
                self.error(
                    &v.span(),
                    format!("{ctx}: {key}: expected {what}, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// An integer in `min..=max`; `what` says what was expected, e.g. "an integer 1..=4094".
    pub(crate) fn int_in(
        &mut self,
        v: &Value,
        ctx: &str,
        key: &str,
        min: i64,
        max: i64,
        what: &str,
    ) -> Option<i64> {
        match v.get_ref() {
            toml::Value::Integer(n) if (min..=max).contains(n) => Some(*n),
            other => {
                self.error(
                    &v.span(),
                    format!("{ctx}: {key}: expected {what}, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// A required name (`[A-Za-z0-9_.-]{1,32}`).
    pub(crate) fn name<'v>(
        &mut self,
        v: &'v Option<Value>,
        table: &Range<usize>,
        ctx: &str,
    ) -> Option<&'v str> {
        let what = "a name like \"red\"";
        let v = self.required(v, table, ctx, "name", what)?;
        let s = self.string(v, ctx, "name", what)?;
        match check_name(s) {
            Ok(()) => Some(s),
            Err(m) => {
                self.error(&v.span(), format!("{ctx}: name: {m}"));
                None
            }
        }
    }

    fn dataplane(&mut self, raw: Option<&Spanned<RawDataplane>>) -> DataplaneConfig {
        let mut dp = DataplaneConfig::default();
        let Some(raw) = raw.map(Spanned::get_ref) else {
            return dp;
        };
        let ctx = "dataplane";
        if let Some(v) = &raw.workers {
            let what = "at least 1 worker (an integer 1..=65535)";
            if let Some(n) = self.int_in(v, ctx, "workers", 1, i64::from(u16::MAX), what) {
                dp.workers = n as u16;
            }
        }
        if let Some(args) = &raw.eal_args {
            for a in args.get_ref() {
                if let Some(s) = self.string(a, ctx, "eal_args", "an EAL argument string") {
                    dp.eal_args.push(s.to_string());
                }
            }
        }
        if let Some(v) = &raw.burst {
            let what = format!("a burst size 1..={MAX_BURST} (default {DEFAULT_BURST})");
            if let Some(n) = self.int_in(v, ctx, "burst", 1, i64::from(MAX_BURST), &what) {
                dp.burst = n as u16;
            }
        }
        if let Some(v) = &raw.mbufs {
            let what = format!("a mempool size 1..={} (default {DEFAULT_MBUFS})", u32::MAX);
            if let Some(n) = self.int_in(v, ctx, "mbufs", 1, i64::from(u32::MAX), &what) {
                dp.mbufs = n as u32;
            }
        }
        dp
    }

    fn api(&mut self, raw: Option<&Spanned<RawApi>>) -> ApiConfig {
        let mut api = ApiConfig::default();
        if let Some(v) = raw.and_then(|r| r.get_ref().socket.as_ref()) {
            let what = format!("a unix socket path like \"{DEFAULT_API_SOCKET}\"");
            match self.string(v, "api", "socket", &what) {
                Some("") => self.error(
                    &v.span(),
                    format!("api: socket: expected {what}, found an empty string"),
                ),
                Some(s) => api.socket = PathBuf::from(s),
                None => {}
            }
        }
        if let Some(v) = raw.and_then(|r| r.get_ref().listen.as_ref()) {
            let what = "a socket address like \"127.0.0.1:9470\"";
            if let Some(s) = self.string(v, "api", "listen", what) {
                match s.parse::<SocketAddr>() {
                    Ok(a) => api.listen = Some(a),
                    Err(_) => self.error(
                        &v.span(),
                        format!("api: listen: expected {what}, found \"{s}\""),
                    ),
                }
            }
        }
        if let Some(v) = raw.and_then(|r| r.get_ref().admin_token_sha256.as_ref()) {
            api.admin_token_sha256 = self.sha256(v, "api", "admin_token_sha256");
        }
        api
    }

    /// A token hash: 64 hex digits (`vnetd --hash-token` prints one).
    pub(crate) fn sha256(
        &mut self,
        v: &super::raw::Value,
        ctx: &str,
        key: &str,
    ) -> Option<[u8; 32]> {
        let what = "the SHA-256 of a token as 64 hex digits (vnetd --hash-token prints it; never the token itself)";
        let s = self.string(v, ctx, key, what)?;
        let bytes = s.as_bytes();
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if bytes.len() == 64 && bytes.iter().all(|c| hex(*c).is_some()) {
            let mut out = [0u8; 32];
            for (i, o) in out.iter_mut().enumerate() {
                *o = hex(bytes[2 * i]).unwrap_or(0) << 4 | hex(bytes[2 * i + 1]).unwrap_or(0);
            }
            Some(out)
        } else {
            self.error(
                &v.span(),
                format!(
                    "{ctx}: {key}: expected {what}, found {} characters",
                    s.len()
                ),
            );
            None
        }
    }

    fn metrics(&mut self, raw: Option<&Spanned<RawMetrics>>) -> MetricsConfig {
        let mut metrics = MetricsConfig::default();
        if let Some(v) = raw.and_then(|r| r.get_ref().listen.as_ref()) {
            let what = "a socket address like \"127.0.0.1:9469\" or \"[::1]:9469\"";
            if let Some(s) = self.string(v, "metrics", "listen", what) {
                match s.parse::<SocketAddr>() {
                    Ok(a) => metrics.listen = Some(a),
                    Err(_) => self.error(
                        &v.span(),
                        format!("metrics: listen: expected {what}, found \"{s}\""),
                    ),
                }
            }
        }
        if let Some(v) = raw.and_then(|r| r.get_ref().firewall_rules.as_ref()) {
            match v.get_ref().as_bool() {
                Some(b) => metrics.firewall_rules = b,
                None => self.error(
                    &v.span(),
                    "metrics: firewall_rules: expected true or false".to_string(),
                ),
            }
        }
        metrics
    }

    fn ports(&mut self, raw: &[Spanned<RawPort>]) -> Vec<PortConfig> {
        let mut ports = Vec::with_capacity(raw.len());
        let mut names: HashMap<&str, Location> = HashMap::new();
        let mut devices: Vec<(DeviceId, &str, Location)> = Vec::new();
        for (i, rp) in raw.iter().enumerate() {
            let table = rp.span();
            let rp = rp.get_ref();
            let numbered = format!("port #{}", i + 1);
            let name = self.name(&rp.name, &table, &numbered);
            let ctx = name.map_or(numbered, |n| format!("port \"{n}\""));
            let mut unique = false;
            if let (Some(n), Some(v)) = (name, &rp.name) {
                if let Some(first) = names.get(n) {
                    self.error(&v.span(), format!("{ctx} is already defined at {first}"));
                } else {
                    names.insert(n, self.location(&v.span()));
                    unique = true;
                }
            }
            let what = "DPDK devargs like \"net_af_packet0,iface=veth0\" or \"0000:03:00.0\"";
            let device = self
                .required(&rp.device, &table, &ctx, "device", what)
                .and_then(|v| self.string(v, &ctx, "device", what).map(|s| (v, s)));
            if let Some((v, s)) = device {
                match parse_device(s) {
                    Ok(id) => {
                        let here = self.location(&v.span());
                        if let Some((_, other, at)) = devices.iter().find(|(d, _, _)| *d == id) {
                            let m = format!("{ctx}: device \"{s}\" is the same device as port \"{other}\" ({at})");
                            self.error(&v.span(), m);
                        } else {
                            devices.push((id, name.unwrap_or("?"), here));
                        }
                    }
                    Err(m) => self.error(&v.span(), format!("{ctx}: device: {m}")),
                }
            }
            // Interfaces find ports by name, so every uniquely named port is kept (a
            // bad device has been reported, and no Config comes out then anyway).
            if let (true, Some(name)) = (unique, name) {
                let device = device.map_or("", |(_, d)| d);
                ports.push(PortConfig {
                    name: name.to_string(),
                    device: device.to_string(),
                });
            }
        }
        ports
    }
}
