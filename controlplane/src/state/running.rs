//! The running state and its transactions.
use super::document::Document;
use crate::config::{self, Config, ConfigError};
use crate::daemon::{refuse_unenforced, vnet_specs};
use dataplane::runtime::Dataplane;
use dataplane::tables::AssembleSummary;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

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
        let doc = Document::parse(&text)?;
        let mut r = Running {
            path: path.to_path_buf(),
            doc,
            cfg: cfg.clone(),
            ids: HashMap::new(),
            next_id: 1,
        };
        r.commit(Document::parse(&text)?, cfg, dp)
            .map_err(|e| e.to_string())?;
        Ok(r)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
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
    pub fn reload(&mut self, dp: &Dataplane) -> Result<AssembleSummary, ChangeError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            ChangeError::Invalid(vec![format!("{}: cannot read: {e}", self.path.display())])
        })?;
        let cfg =
            config::parse_str(&text, &self.path).map_err(|e| ChangeError::Invalid(located(&e)))?;
        let doc = Document::parse(&text).map_err(|e| ChangeError::Invalid(vec![e]))?;
        self.commit(doc, cfg, dp)
    }

    /// Applies an edit of the config document as one transaction.
    pub fn edit(
        &mut self,
        dp: &Dataplane,
        f: impl FnOnce(&mut Document) -> Result<(), ChangeError>,
    ) -> Result<AssembleSummary, ChangeError> {
        let mut doc = self.doc.clone();
        f(&mut doc)?;
        // The same validation as the file.
        // Named "(running)" so that locations refer to `vnetctl config dump`'s text;
        // same directory, so relative routes_file paths still resolve.
        let running_path = self.path.with_file_name("(running)");
        let cfg = config::parse_str(&doc.to_text(), &running_path)
            .map_err(|e| ChangeError::Invalid(unlocated(&e, &running_path)))?;
        self.commit(doc, cfg, dp)
    }

    fn commit(
        &mut self,
        doc: Document,
        cfg: Config,
        dp: &Dataplane,
    ) -> Result<AssembleSummary, ChangeError> {
        restart_only_changes(&self.cfg, &cfg)?;
        refuse_unenforced(&cfg).map_err(|e| ChangeError::Invalid(vec![e]))?;
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
        let summary = dp
            .apply(&specs)
            .map_err(|e| ChangeError::Dataplane(e.to_string()))?;
        self.doc = doc;
        self.cfg = cfg;
        self.ids = ids;
        self.next_id = next_id;
        Ok(summary)
    }
}

fn located(e: &ConfigError) -> Vec<String> {
    e.errors.iter().map(|e| e.to_string()).collect()
}

/// An API edit's errors: the messages name the vnet, the item and the field; a
/// line:column in generated text would only confuse, so it goes, and so do
/// references to it inside messages (" (PATH:L:C)").
fn unlocated(e: &ConfigError, generated: &Path) -> Vec<String> {
    let marker = format!(" ({}:", generated.display());
    e.errors
        .iter()
        .map(|e| {
            let mut m = e.message.clone();
            while let Some(start) = m.find(&marker) {
                match m[start..].find(')') {
                    Some(end) => m.replace_range(start..start + end + 1, ""),
                    None => break,
                }
            }
            m
        })
        .collect()
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
