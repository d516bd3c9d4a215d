//! The EAL command line vnetd builds from the config.
use crate::config::Config;
use dataplane::dpdk::is_vdev;

/// argv for `rte_eal_init`: the operator's `eal_args`, plus what vnetd needs
/// unless the operator already said it: lcores (main + one per worker), a
/// per-process `--file-prefix` (several vnetd may run on one host), and every
/// port's device (`--vdev` for virtual devices, `-a` for PCI).
pub fn build(cfg: &Config) -> Vec<String> {
    let user = &cfg.dataplane.eal_args;
    let has = |flags: &[&str]| {
        user.iter().any(|a| {
            flags
                .iter()
                .any(|f| a == f || a.starts_with(&format!("{f}=")))
        })
    };
    let mut args = vec!["vnetd".to_string()];
    if !has(&["-l", "-c", "--lcores"]) {
        args.push("-l".into());
        args.push(format!("0-{}", cfg.dataplane.workers));
    }
    if !has(&["--file-prefix"]) && !has(&["--in-memory"]) {
        args.push(format!("--file-prefix=vnetd-{}", std::process::id()));
    }
    args.extend(user.iter().cloned());
    for p in &cfg.ports {
        if is_vdev(&p.device) {
            args.push(format!("--vdev={}", p.device));
        } else {
            args.push("-a".into());
            args.push(p.device.clone());
        }
    }
    // Quieter EAL unless the operator asked for something else.
    if !has(&["--log-level"]) {
        args.push("--log-level=lib.eal:notice".into());
    }
    args
}
