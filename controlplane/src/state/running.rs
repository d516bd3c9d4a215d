//! The running state and its transactions.
use super::document::Document;
use crate::config::{self, CheckedRoute, Config, ConfigError, RouteKey, RouteText};
use crate::daemon::vnet_specs;
use dataplane::runtime::Dataplane;
use dataplane::tables::AssembleSummary;
use std::collections::HashMap;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A committed change: what it did to the vnets and what it took.
#[derive(Debug, Clone)]
pub struct Applied {
    pub summary: AssembleSummary,
    /// Reading and validating the whole candidate config.
    pub validate: Duration,
    /// Building the changed vnets' tables and publishing them to the workers.
    pub publish: Duration,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        write!(
            f,
            "added {:?}, changed {:?}, removed {:?}, {} unchanged, in {:.1} ms (validate {:.1} ms, publish {:.1} ms)",
            s.added,
            s.changed,
            s.removed,
            s.unchanged,
            (self.validate + self.publish).as_secs_f64() * 1e3,
            self.validate.as_secs_f64() * 1e3,
            self.publish.as_secs_f64() * 1e3,
        )
    }
}

/// Why a change was refused. Nothing changed in any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// The candidate config does not validate (messages name the field / place).
    Invalid(Vec<String>),
    NotFound(String),
    Conflict(String),
    /// Ports, workers, EAL, API or metrics settings: only a restart changes those.
    NeedsRestart(String),
    /// The dataplane could not build the tables (should have been caught by validation).
    Dataplane(String),
}

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeError::Invalid(v) => f.write_str(&v.join("\n")),
            ChangeError::NotFound(m)
            | ChangeError::Conflict(m)
            | ChangeError::NeedsRestart(m)
            | ChangeError::Dataplane(m) => f.write_str(m),
        }
    }
}

pub struct Running {
    path: PathBuf,
    doc: Document,
    cfg: Config,
    /// vnet name → dataplane id; a vnet destroyed and created again gets a new id.
    ids: HashMap<String, u64>,
    next_id: u64,
}

impl Running {
    /// The state vnetd started with (the config file as loaded).
    pub fn start(path: &Path, cfg: Config, dp: &Dataplane) -> Result<Running, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Read again, so parsed here (the file may have changed since `load`).
        let doc = Document::parse(&text)?;
        let mut r = Running {
            path: path.to_path_buf(),
            doc: doc.clone(),
            cfg: cfg.clone(),
            ids: HashMap::new(),
            next_id: 1,
        };
        r.commit(doc, cfg, dp, Instant::now())
            .map_err(|e| e.to_string())?;
        Ok(r)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A vnet's entries of one config array (`pipe`, `queue`), as the config has them.
    pub fn vnet_items(&self, vnet: &str, key: &str) -> Option<Vec<toml::Table>> {
        self.doc.vnet_items(vnet, key)
    }

    /// A valid config file of the running state.
    pub fn dump(&self) -> String {
        format!(
            "# vnetd running configuration (vnetctl config dump)\n{}",
            self.doc.to_text()
        )
    }

    /// Re-reads the config file and makes the running state equal to it.
    /// Errors keep their file:line:column.
    pub fn reload(&mut self, dp: &Dataplane) -> Result<Applied, ChangeError> {
        let t0 = Instant::now();
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            ChangeError::Invalid(vec![format!("{}: cannot read: {e}", self.path.display())])
        })?;
        let cfg =
            config::parse_str(&text, &self.path).map_err(|e| ChangeError::Invalid(located(&e)))?;
        self.commit(Document::validated(text), cfg, dp, t0)
    }

    /// Applies an edit of the config document as one transaction.
    pub fn edit(
        &mut self,
        dp: &Dataplane,
        f: impl FnOnce(&mut Document) -> Result<(), ChangeError>,
    ) -> Result<Applied, ChangeError> {
        let t0 = Instant::now();
        let mut doc = self.doc.clone();
        f(&mut doc)?;
        // The same validation as the file.
        // Named "(running)" so that locations refer to `vnetctl config dump`'s text;
        // same directory, so relative routes_file paths still resolve.
        let running_path = self.path.with_file_name("(running)");
        let cfg = config::parse_str(&doc.to_text(), &running_path)
            .map_err(|e| ChangeError::Invalid(unlocated(&e, &running_path)))?;
        self.commit(doc, cfg, dp, t0)
    }

    /// Adds static routes to one vnet, checked against that vnet alone (the rest of
    /// the config cannot make a route invalid). Without `upsert` a prefix that
    /// exists is refused; with it, it gets the new gateway (a BGP-style update).
    pub fn add_routes(
        &mut self,
        dp: &Dataplane,
        vnet: &str,
        items: &[RouteText],
        upsert: bool,
    ) -> Result<Applied, ChangeError> {
        let t0 = Instant::now();
        let vi = self.vnet_index(vnet)?;
        let v = &self.cfg.vnets[vi];
        let routes = config::check_routes(v, items).map_err(ChangeError::Invalid)?;
        let asked: Vec<RouteKey> = routes.iter().map(CheckedRoute::key).collect();
        let existing = config::existing_keys(v, &asked);
        let in_doc = self.doc.route_keys(vnet);
        let mut conflicts = Vec::new();
        for r in &routes {
            let (k, p) = (r.key(), r.prefix_text());
            match (existing.contains(&k), in_doc.contains(&k), upsert) {
                (true, _, false) => conflicts.push(format!(
                    "vnet {vnet:?}: route {p} exists already (replace it: PUT /v1/vnets/{vnet}/routes, vnetctl route change)"
                )),
                (true, false, true) => conflicts.push(format!(
                    "route {p} comes from vnet {vnet:?}'s routes_file: edit that file and reload"
                )),
                _ => {}
            }
        }
        if !conflicts.is_empty() {
            conflicts.truncate(20);
            return Err(ChangeError::Conflict(conflicts.join("\n")));
        }
        let keys: HashSet<RouteKey> = routes.iter().map(CheckedRoute::key).collect();
        let mut doc = self.doc.clone();
        let mut cfg = self.cfg.clone();
        if upsert {
            doc.remove_routes(vnet, &keys);
            remove_cfg_routes(&mut cfg.vnets[vi], &keys);
        }
        let tables = routes.iter().map(|r| {
            let mut t = toml::Table::new();
            t.insert("prefix".into(), r.prefix_text().into());
            t.insert("via".into(), r.via().to_string().into());
            t
        });
        doc.push_to_vnet(vnet, "route", tables.collect())
            .map_err(ChangeError::NotFound)?;
        let cv = &mut cfg.vnets[vi];
        for r in routes {
            match r {
                CheckedRoute::V4(r) => cv.routes4.push(r),
                CheckedRoute::V6(r) => cv.routes6.push(r),
            }
        }
        self.commit(doc, cfg, dp, t0)
    }

    /// Deletes static routes (`[[vnet.route]]` entries) of one vnet by prefix.
    pub fn delete_routes(
        &mut self,
        dp: &Dataplane,
        vnet: &str,
        prefixes: &[String],
    ) -> Result<Applied, ChangeError> {
        let t0 = Instant::now();
        let vi = self.vnet_index(vnet)?;
        let in_doc = self.doc.route_keys(vnet);
        let mut keys = HashSet::with_capacity(prefixes.len());
        let mut errors = Vec::new();
        for (i, p) in prefixes.iter().enumerate() {
            match config::parse_route_key(p) {
                Ok(k) if in_doc.contains(&k) => {
                    keys.insert(k);
                }
                Ok(k) if prefixes.len() == 1 => {
                    let existing = config::existing_keys(&self.cfg.vnets[vi], &[k]);
                    return Err(if existing.contains(&k) {
                        ChangeError::Conflict(format!(
                            "route {p} comes from vnet {vnet:?}'s routes_file: edit that file and reload"
                        ))
                    } else {
                        ChangeError::NotFound(format!("vnet {vnet:?} has no static route {p}"))
                    })
                }
                Ok(_) => errors.push(format!("route #{}: vnet {vnet:?} has no static route {p} (from the config, not its routes_file)", i + 1)),
                Err(m) => errors.push(format!("route #{}: prefix: {m}", i + 1)),
            }
        }
        if !errors.is_empty() {
            errors.truncate(20);
            return Err(ChangeError::Invalid(errors));
        }
        let mut doc = self.doc.clone();
        let mut cfg = self.cfg.clone();
        doc.remove_routes(vnet, &keys);
        remove_cfg_routes(&mut cfg.vnets[vi], &keys);
        self.commit(doc, cfg, dp, t0)
    }

    fn vnet_index(&self, vnet: &str) -> Result<usize, ChangeError> {
        self.cfg
            .vnets
            .iter()
            .position(|v| v.name == vnet)
            .ok_or_else(|| ChangeError::NotFound(format!("no vnet named {vnet:?}")))
    }

    fn commit(
        &mut self,
        doc: Document,
        cfg: Config,
        dp: &Dataplane,
        t0: Instant,
    ) -> Result<Applied, ChangeError> {
        restart_only_changes(&self.cfg, &cfg)?;
        let mut ids: HashMap<String, u64> = HashMap::new();
        let mut next_id = self.next_id;
        let old = &self.ids;
        let specs = vnet_specs(&cfg, dp, |name| {
            let id = old.get(name).copied().unwrap_or_else(|| {
                next_id += 1;
                next_id - 1
            });
            ids.insert(name.to_string(), id);
            id
        })
        .map_err(ChangeError::Dataplane)?;
        let t1 = Instant::now();
        let summary = dp
            .apply(&specs)
            .map_err(|e| ChangeError::Dataplane(e.to_string()))?;
        self.doc = doc;
        self.cfg = cfg;
        self.ids = ids;
        self.next_id = next_id;
        Ok(Applied {
            summary,
            validate: t1 - t0,
            publish: t1.elapsed(),
        })
    }
}

fn remove_cfg_routes(v: &mut config::VnetConfig, keys: &HashSet<RouteKey>) {
    v.routes4
        .retain(|r| !keys.contains(&RouteKey::V4(u32::from(r.prefix), r.len)));
    v.routes6
        .retain(|r| !keys.contains(&RouteKey::V6(u128::from(r.prefix), r.len)));
}

fn located(e: &ConfigError) -> Vec<String> {
    e.errors.iter().map(|e| e.to_string()).collect()
}

/// An API edit's errors: the messages name the vnet, the item and the field; a
/// line:column in generated text would only confuse, so it goes, and so do
/// references to it inside messages (` (PATH:L:C)`, ` at PATH:L:C`).
fn unlocated(e: &ConfigError, generated: &Path) -> Vec<String> {
    let path = generated.display().to_string();
    e.errors
        .iter()
        .map(|e| strip_locations(&e.message, &path))
        .collect()
}

fn strip_locations(msg: &str, path: &str) -> String {
    let mut m = msg.to_string();
    while let Some(start) = m.find(path) {
        // PATH, then :LINE:COLUMN.
        let mut end = start + path.len();
        for _ in 0..2 {
            let rest = &m[end..];
            let digits = rest
                .strip_prefix(':')
                .map_or(0, |r| r.bytes().take_while(u8::is_ascii_digit).count());
            if digits == 0 {
                break;
            }
            end += 1 + digits;
        }
        let (mut from, mut to) = (start, end);
        if m[..from].ends_with(" (") && m[to..].starts_with(')') {
            from -= 2;
            to += 1;
        } else if m[..from].ends_with(" at ") {
            from -= 4;
        }
        m.replace_range(from..to, "");
    }
    m
}

/// What a running vnetd cannot change without a restart.
fn restart_only_changes(cur: &Config, next: &Config) -> Result<(), ChangeError> {
    let mut what = Vec::new();
    let ports = |c: &Config| {
        c.ports
            .iter()
            .map(|p| (p.name.clone(), p.device.clone()))
            .collect::<Vec<_>>()
    };
    if ports(cur) != ports(next) {
        what.push("[[port]]");
    }
    let dp = |c: &Config| {
        (
            c.dataplane.workers,
            c.dataplane.eal_args.clone(),
            c.dataplane.burst,
            c.dataplane.mbufs,
        )
    };
    if dp(cur) != dp(next) {
        what.push("[dataplane]");
    }
    if (&cur.api.socket, cur.api.listen) != (&next.api.socket, next.api.listen) {
        what.push("[api]");
    }
    if cur.metrics.listen != next.metrics.listen {
        what.push("[metrics]");
    }
    if what.is_empty() {
        Ok(())
    } else {
        Err(ChangeError::NeedsRestart(format!(
            "{} changed: vnetd applies these only at start; restart it (vnets, interfaces, routes and neighbors change live)",
            what.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::strip_locations;

    #[test]
    fn locations_in_generated_text_are_dropped() {
        let p = "/tmp/x/(running)";
        assert_eq!(
            strip_locations("address 10.0.1.1 is already assigned to interface \"lan1\" (/tmp/x/(running):38:14)", p),
            "address 10.0.1.1 is already assigned to interface \"lan1\""
        );
        assert_eq!(
            strip_locations(
                "interface \"lan1\" is already defined at /tmp/x/(running):39:8",
                p
            ),
            "interface \"lan1\" is already defined"
        );
        assert_eq!(
            strip_locations("a (/tmp/x/(running):1:2) and b (/tmp/x/(running):3:4)", p),
            "a and b"
        );
        assert_eq!(strip_locations("nothing to do", p), "nothing to do");
    }
}
