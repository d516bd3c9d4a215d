//! Validation of `[[vnet]]`: interfaces, routes, neighbors, firewall, pipes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use toml::Spanned;

use super::addr::{parse_interface_address, parse_route_prefix, parse_unicast_mac, Prefix};
use super::connected::Connected;
use super::location::{LocatedError, Location};
use super::model::{
    FirewallConfig, IfAddr4, IfAddr6, InterfaceConfig, NeighborConfig, PortConfig, VnetConfig,
};
use super::raw::{RawFirewall, RawInterface, RawNeighbor, RawRoute, RawVnet, Value};
use super::routes_file::{check_duplicates, check_gateway, parse_routes, FileErrors, RouteTables};
use super::validate::describe;
use super::validate::Checker;

/// The (port index, VLAN) pairs in use across all vnets, and who uses each:
/// (vnet name, interface name, where).
type PairMap = HashMap<(usize, Option<u16>), (String, String, Location)>;

/// What one vnet's interfaces are checked against.
struct VnetScope<'s> {
    name: &'s str,
    ctx: &'s str,
    ports: &'s [PortConfig],
    /// Interface names in this vnet, where defined.
    names: HashMap<String, Location>,
    /// Addresses assigned in this vnet: interface name, where.
    addresses: HashMap<IpAddr, (String, Location)>,
    /// False once an interface address failed to parse.
    complete: bool,
}

impl Checker<'_> {
    pub(crate) fn vnets(
        &mut self,
        raw: &[Spanned<RawVnet>],
        ports: &[PortConfig],
    ) -> Vec<VnetConfig> {
        let mut vnets = Vec::with_capacity(raw.len());
        let mut names: HashMap<&str, Location> = HashMap::new();
        let mut pairs = PairMap::new();
        for (i, rv) in raw.iter().enumerate() {
            let table = rv.span();
            let rv = rv.get_ref();
            let numbered = format!("vnet #{}", i + 1);
            let name = self.name(&rv.name, &table, &numbered);
            let ctx = name.map_or(numbered, |n| format!("vnet \"{n}\""));
            if let (Some(n), Some(v)) = (name, &rv.name) {
                if let Some(first) = names.get(n) {
                    self.error(&v.span(), format!("{ctx} is already defined at {first}"));
                } else {
                    names.insert(n, self.location(&v.span()));
                }
            }
            let mut scope = VnetScope {
                name: name.unwrap_or(""),
                ctx: &ctx,
                ports,
                names: HashMap::new(),
                addresses: HashMap::new(),
                complete: true,
            };
            vnets.push(self.vnet(rv, &mut scope, &mut pairs));
        }
        vnets
    }

    fn vnet(&mut self, rv: &RawVnet, scope: &mut VnetScope, pairs: &mut PairMap) -> VnetConfig {
        let ctx = scope.ctx;
        let mut interfaces = Vec::with_capacity(rv.interface.len());
        for (i, ri) in rv.interface.iter().enumerate() {
            interfaces.push(self.interface(ri, i, scope, pairs));
        }
        let connected = Connected::new(&interfaces, scope.complete);

        let mut tables = RouteTables::default();
        for (i, rr) in rv.route.iter().enumerate() {
            self.route(rr, i, ctx, &connected, &mut tables);
        }
        let routes_path = rv
            .routes_file
            .as_ref()
            .and_then(|v| self.routes_file(v, ctx, &connected, &mut tables));
        let mut dups = FileErrors::new(&mut self.errors);
        check_duplicates(
            &tables,
            self.src.path,
            routes_path.as_deref(),
            ctx,
            &mut dups,
        );
        if dups.suppressed > 0 {
            let m = format!("{ctx}: {} more duplicate routes not shown", dups.suppressed);
            self.errors.push(LocatedError::new(None, m));
        }

        let mut neighbors = Vec::with_capacity(rv.neighbor.len());
        let mut seen: HashMap<IpAddr, Location> = HashMap::new();
        for (i, rn) in rv.neighbor.iter().enumerate() {
            if let Some(n) = self.neighbor(rn, i, ctx, &connected, &mut seen) {
                neighbors.push(n);
            }
        }
        let firewall = rv
            .firewall
            .as_ref()
            .map(|f| self.firewall(f.get_ref(), ctx))
            .unwrap_or_default();
        if let Some(e) = super::ipfw::check(&firewall, &interfaces, ctx) {
            self.errors.push(e);
        }
        let pipes = self.pipes(&rv.pipe, ctx);
        let complete = pipes.len() == rv.pipe.len();
        let queues = self.queues(&rv.queue, ctx, &pipes, complete);
        if complete && queues.len() == rv.queue.len() {
            let p: Vec<u32> = pipes.iter().map(|p| p.id).collect();
            let q: Vec<u32> = queues.iter().map(|q| q.id).collect();
            let errs = super::ipfw::check_shaper_refs(&firewall, &p, &q, ctx);
            self.errors.extend(errs);
        }
        let token_sha256 = rv
            .token_sha256
            .as_ref()
            .and_then(|v| self.sha256(v, ctx, "token_sha256"));
        VnetConfig {
            name: scope.name.to_string(),
            token_sha256,
            interfaces,
            routes4: tables.routes4,
            routes6: tables.routes6,
            neighbors,
            firewall,
            pipes,
            queues,
        }
    }

    fn interface(
        &mut self,
        ri: &Spanned<RawInterface>,
        index: usize,
        scope: &mut VnetScope,
        pairs: &mut PairMap,
    ) -> InterfaceConfig {
        let table = ri.span();
        let ri = ri.get_ref();
        let numbered = format!("{} interface #{}", scope.ctx, index + 1);
        let name = self.name(&ri.name, &table, &numbered);
        let ctx = name.map_or(numbered, |n| format!("{} interface \"{n}\"", scope.ctx));
        if let (Some(n), Some(v)) = (name, &ri.name) {
            if let Some(first) = scope.names.get(n) {
                self.error(&v.span(), format!("{ctx} is already defined at {first}"));
            } else {
                scope.names.insert(n.to_string(), self.location(&v.span()));
            }
        }

        let port = self.interface_port(ri, &table, &ctx, scope.ports);
        let vlan = ri.vlan.as_ref().map(|v| {
            let what = "a VLAN id 1..=4094 (omit vlan for untagged)";
            self.int_in(v, &ctx, "vlan", 1, 4094, what)
                .map(|n| n as u16)
        });
        if let (Some(port), Some(n), None | Some(Some(_))) = (port, name, vlan) {
            let vlan = vlan.flatten();
            // Point at the VLAN when there is one, else at the port.
            let at = ri
                .vlan
                .as_ref()
                .or(ri.port.as_ref())
                .map(|v| v.span())
                .unwrap_or(table.clone());
            let here = self.location(&at);
            let pair = match vlan {
                Some(v) => format!("(port \"{}\", vlan {v})", scope.ports[port].name),
                None => format!("(port \"{}\", untagged)", scope.ports[port].name),
            };
            if let Some((vnet, iface, first)) = pairs.get(&(port, vlan)) {
                let m = format!("{ctx}: {pair} is already used by vnet \"{vnet}\" interface \"{iface}\" ({first})");
                self.error(&at, m);
            } else {
                pairs.insert((port, vlan), (scope.name.to_string(), n.to_string(), here));
            }
        }
        let mac = ri.mac.as_ref().and_then(|v| {
            let s = self.string(v, &ctx, "mac", "a MAC address like \"02:00:00:00:01:01\"")?;
            parse_unicast_mac(s)
                .map_err(|m| self.error(&v.span(), format!("{ctx}: mac: {m}")))
                .ok()
        });

        let (mut addrs4, mut addrs6) = (Vec::new(), Vec::new());
        for v in ri.addresses.iter().flat_map(|a| a.get_ref()) {
            let what = "an address with prefix length like \"10.0.1.1/24\"";
            let parsed = self.string(v, &ctx, "addresses", what).and_then(|s| {
                parse_interface_address(s)
                    .map_err(|m| self.error(&v.span(), format!("{ctx}: addresses: {m}")))
                    .ok()
            });
            let Some(p) = parsed else {
                scope.complete = false;
                continue;
            };
            let addr = match p {
                Prefix::V4(a, _) => IpAddr::V4(a),
                Prefix::V6(a, _) => IpAddr::V6(a),
            };
            if let Some((other, first)) = scope.addresses.get(&addr) {
                let m = format!(
                    "{ctx}: address {addr} is already assigned to interface \"{other}\" ({first})"
                );
                self.error(&v.span(), m);
                continue;
            }
            scope.addresses.insert(
                addr,
                (name.unwrap_or("?").to_string(), self.location(&v.span())),
            );
            match p {
                Prefix::V4(addr, len) => addrs4.push(IfAddr4 { addr, len }),
                Prefix::V6(addr, len) => addrs6.push(IfAddr6 { addr, len }),
            }
        }
        // Kept even when something above was wrong (the error rejects the config
        // anyway): its addresses still define connected subnets for the checks below.
        InterfaceConfig {
            name: name.unwrap_or("").to_string(),
            port: port.unwrap_or(usize::MAX),
            vlan: vlan.flatten(),
            mac,
            addrs4,
            addrs6,
        }
    }

    /// The index of the interface's port in `ports`.
    fn interface_port(
        &mut self,
        ri: &RawInterface,
        table: &std::ops::Range<usize>,
        ctx: &str,
        ports: &[PortConfig],
    ) -> Option<usize> {
        let what = "the name of a [[port]]";
        let v = self.required(&ri.port, table, ctx, "port", what)?;
        let s = self.string(v, ctx, "port", what)?;
        let found = ports.iter().position(|p| p.name == s);
        if found.is_none() {
            let known: Vec<String> = ports.iter().map(|p| format!("\"{}\"", p.name)).collect();
            let expected = if known.is_empty() {
                "a [[port]] name, but no [[port]] is defined".to_string()
            } else {
                format!("one of {}", known.join(", "))
            };
            self.error(
                &v.span(),
                format!("{ctx}: port: unknown port \"{s}\": expected {expected}"),
            );
        }
        found
    }

    fn route(
        &mut self,
        rr: &Spanned<RawRoute>,
        index: usize,
        ctx: &str,
        connected: &Connected,
        tables: &mut RouteTables,
    ) {
        let table = rr.span();
        let rr = rr.get_ref();
        let numbered = format!("{ctx} route #{}", index + 1);
        let what = "a prefix like \"10.0.0.0/8\"";
        let prefix = self
            .required(&rr.prefix, &table, &numbered, "prefix", what)
            .and_then(|v| {
                let s = self.string(v, &numbered, "prefix", what)?;
                parse_route_prefix(s)
                    .map_err(|m| self.error(&v.span(), format!("{numbered}: {m}")))
                    .ok()
                    .map(|p| (v, p))
            });
        let rctx = prefix.map_or(numbered, |(_, p)| format!("{ctx} route {p}"));
        let what = "a gateway address like \"10.0.1.254\"";
        let via = self
            .required(&rr.via, &table, &rctx, "via", what)
            .and_then(|v| {
                let s = self.string(v, &rctx, "via", what)?;
                match s.parse::<IpAddr>() {
                    Ok(a) => Some((v, a)),
                    Err(_) => {
                        self.error(
                            &v.span(),
                            format!("{rctx}: via: expected {what}, found \"{s}\""),
                        );
                        None
                    }
                }
            });
        if let (Some((pv, prefix)), Some((vv, via))) = (prefix, via) {
            match check_gateway(prefix, via, connected) {
                Ok(()) => tables.push_config(prefix, via, &self.location(&pv.span())),
                Err(m) => self.error(&vv.span(), format!("{rctx}: {m}")),
            }
        }
    }

    /// Loads the vnet's routes file into `tables`; returns its path when it was read.
    fn routes_file(
        &mut self,
        v: &Value,
        ctx: &str,
        connected: &Connected,
        tables: &mut RouteTables,
    ) -> Option<PathBuf> {
        let what = "a routes file path, relative to this file";
        let name = self.string(v, ctx, "routes_file", what)?;
        if name.is_empty() {
            self.error(
                &v.span(),
                format!("{ctx}: routes_file: expected {what}, found an empty string"),
            );
            return None;
        }
        let dir = self.src.path.parent().unwrap_or(std::path::Path::new(""));
        let path = dir.join(name);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) => {
                let m = format!("{ctx}: routes_file: cannot read {}: {e}", path.display());
                self.error(&v.span(), m);
                return None;
            }
        };
        let mut errors = FileErrors::new(&mut self.errors);
        parse_routes(&text, &path, ctx, connected, tables, &mut errors);
        if errors.suppressed > 0 {
            let m = format!(
                "{ctx}: routes_file: {} more errors in {} not shown",
                errors.suppressed,
                path.display()
            );
            self.error(&v.span(), m);
        }
        Some(path)
    }

    fn neighbor(
        &mut self,
        rn: &Spanned<RawNeighbor>,
        index: usize,
        ctx: &str,
        connected: &Connected,
        seen: &mut HashMap<IpAddr, Location>,
    ) -> Option<NeighborConfig> {
        let table = rn.span();
        let rn = rn.get_ref();
        let numbered = format!("{ctx} neighbor #{}", index + 1);
        let what = "an IPv4 or IPv6 address like \"10.0.1.254\"";
        let addr = self
            .required(&rn.address, &table, &numbered, "address", what)
            .and_then(|v| {
                let s = self.string(v, &numbered, "address", what)?;
                match s.parse::<IpAddr>() {
                    Ok(a) => Some((v, a)),
                    Err(_) => {
                        self.error(
                            &v.span(),
                            format!("{numbered}: address: expected {what}, found \"{s}\""),
                        );
                        None
                    }
                }
            });
        let nctx = addr.map_or(numbered, |(_, a)| format!("{ctx} neighbor {a}"));
        if let Some((v, a)) = addr {
            if let Some(first) = seen.get(&a) {
                self.error(&v.span(), format!("{nctx} is already defined at {first}"));
            } else {
                seen.insert(a, self.location(&v.span()));
                if let Err(m) = connected.check(a, "neighbor") {
                    self.error(&v.span(), format!("{ctx}: {m}"));
                }
            }
        }
        let what = "a unicast MAC address like \"02:00:00:00:01:fe\"";
        let mac = self
            .required(&rn.mac, &table, &nctx, "mac", what)
            .and_then(|v| {
                let s = self.string(v, &nctx, "mac", what)?;
                parse_unicast_mac(s)
                    .map_err(|m| self.error(&v.span(), format!("{nctx}: mac: {m}")))
                    .ok()
            });
        Some(NeighborConfig {
            addr: addr?.1,
            mac: mac?,
        })
    }

    fn firewall(&mut self, rf: &RawFirewall, ctx: &str) -> FirewallConfig {
        let ctx = format!("{ctx} firewall");
        let mut fw = FirewallConfig::default();
        if let Some(v) = &rf.default {
            let what = "\"allow\" or \"deny\"";
            if let Some(s) = self.string(v, &ctx, "default", what) {
                match s.parse() {
                    Ok(p) => fw.default = p,
                    Err(_) => self.error(
                        &v.span(),
                        format!("{ctx}: default: expected {what}, found \"{s}\""),
                    ),
                }
            }
        }
        if let Some(v) = &rf.rules {
            if let Some(s) = self.string(v, &ctx, "rules", "ipfw rules as a string") {
                fw.rules = s.to_string();
                let start = rules_start(self.src.text(), v.span().start);
                fw.rules_location = Some(self.location(&(start..start)));
            }
        }
        if let Some(v) = &rf.max_states {
            // About 280 bytes a state: the cap keeps one vnet under ~1.2 GB.
            let what = "a number of states 16..=4194304 (ipfw's dyn_max; default 8192)";
            match v.get_ref() {
                toml::Value::Integer(n) if (16..=4_194_304).contains(n) => {
                    fw.max_states = Some(*n as usize)
                }
                other => self.error(
                    &v.span(),
                    format!(
                        "{ctx}: max_states: expected {what}, found {}",
                        describe(other)
                    ),
                ),
            }
        }
        fw
    }
}

/// The offset of a string value's first character, given the offset of its opening
/// quote: past `"`/`'`, or past `"""`/`'''` and the newline TOML trims after them.
fn rules_start(text: &str, quote: usize) -> usize {
    let rest = &text[quote.min(text.len())..];
    if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
        let after = &rest[3..];
        let newline = if after.starts_with("\r\n") {
            2
        } else if after.starts_with('\n') {
            1
        } else {
            0
        };
        quote + 3 + newline
    } else if rest.starts_with('"') || rest.starts_with('\'') {
        quote + 1
    } else {
        quote
    }
}
