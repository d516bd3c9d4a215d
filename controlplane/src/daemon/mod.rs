//! The vnetd daemon: config → dataplane → API and metrics → wait for a signal
//! → orderly shutdown (workers stop, every mbuf returns, ports close).
mod eal_args;
mod heap;
mod signals;
mod specs;

pub use eal_args::build as eal_argv;
pub use heap::{reexec_with_huge_heap, reexec_with_huge_heap_unless};
pub use specs::vnet_specs;

use crate::api::ApiServer;
use crate::config::Config;
use crate::metrics::MetricsServer;
use crate::state::Running;
use dataplane::runtime::{Dataplane, DataplaneOptions, PortSpec};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

pub fn run(path: &Path, cfg: Config) -> Result<(), String> {
    warn_about_hugepages(&cfg);
    warn_about_shared_cpus(&cfg);
    signals::install();

    let opts = DataplaneOptions {
        eal_args: eal_args::build(&cfg),
        ports: cfg
            .ports
            .iter()
            .map(|p| PortSpec {
                name: p.name.clone(),
                devargs: p.device.clone(),
            })
            .collect(),
        workers: cfg.dataplane.workers as usize,
        mbufs: cfg.dataplane.mbufs,
    };
    eprintln!("vnetd: EAL {}", opts.eal_args.join(" "));
    let mut dp = Dataplane::start(opts).map_err(|e| format!("starting the dataplane: {e}"))?;
    let running = Running::start(path, cfg.clone(), &dp)?;
    dp.launch().map_err(|e| e.to_string())?;
    let dp = Arc::new(dp);
    let running = Arc::new(Mutex::new(running));

    let metrics = match cfg.metrics.listen {
        Some(addr) => Some(MetricsServer::start(
            addr,
            dp.clone(),
            cfg.metrics.firewall_rules,
        )?),
        None => None,
    };
    let devices = cfg
        .ports
        .iter()
        .map(|p| (p.name.clone(), p.device.clone()))
        .collect();
    let api = ApiServer::start(
        &cfg.api.socket,
        cfg.api.listen,
        dp.clone(),
        running.clone(),
        devices,
    )?;
    eprintln!(
        "vnetd: running: {} ports, {} vnets, {} workers; api {}{}{}",
        cfg.ports.len(),
        cfg.vnets.len(),
        cfg.dataplane.workers,
        cfg.api.socket.display(),
        cfg.api
            .listen
            .map(|a| format!(" and http://{a} (bearer tokens)"))
            .unwrap_or_default(),
        cfg.metrics
            .listen
            .map(|a| format!(", metrics http://{a}/metrics"))
            .unwrap_or_default()
    );

    while !signals::stop_requested() {
        std::thread::sleep(Duration::from_millis(100));
        if signals::take_reload_request() {
            let mut r = running.lock().unwrap_or_else(|e| e.into_inner());
            match r.reload(&dp) {
                Ok(a) => eprintln!("vnetd: SIGHUP: reloaded {}: {a}", path.display()),
                Err(e) => eprintln!("vnetd: SIGHUP: reload refused, nothing changed:\n{e}"),
            }
        }
    }
    eprintln!("vnetd: stopping");
    drop(api);
    drop(metrics);
    drop(running);
    let mut dp = Arc::try_unwrap(dp)
        .map_err(|_| "internal: dataplane still shared at shutdown".to_string())?;
    dp.stop();
    let held = dp.mbufs_in_use();
    drop(dp);
    eprintln!("vnetd: stopped ({held} mbufs still in use at port close)");
    Ok(())
}

/// Poll-mode workers never sleep: two on one CPU take turns at full spin.
fn warn_about_shared_cpus(cfg: &Config) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cfg.dataplane.workers as usize + 1 > cpus
        && !cfg
            .dataplane
            .eal_args
            .iter()
            .any(|a| a.starts_with("-l") || a.starts_with("--lcores") || a == "-c")
    {
        eprintln!(
            "vnetd: warning: {} workers + the main lcore on {cpus} CPUs: lcores share CPUs, which costs forwarding speed",
            cfg.dataplane.workers
        );
    }
}

/// DPDK without hugepages works (`--no-huge`) but is slower; say so once.
fn warn_about_hugepages(cfg: &Config) {
    if cfg.dataplane.eal_args.iter().any(|a| a == "--no-huge") {
        return;
    }
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("HugePages_Total:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    if total == 0 {
        eprintln!(
            "vnetd: warning: no hugepages reserved (echo 1024 > /proc/sys/vm/nr_hugepages), and eal_args has no --no-huge: EAL will likely fail"
        );
    }
}
