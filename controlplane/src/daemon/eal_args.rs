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
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        args.push(format!(
            "--lcores={}",
            lcore_map(cfg.dataplane.workers as usize, cpus)
        ));
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

/// Main lcore 0 on CPU 0, worker lcores 1..=workers on CPUs 1, 2, …, wrapping
/// around when there are fewer CPUs than lcores (a small VM can still run the
/// demo; the daemon warns that shared CPUs cost speed).
pub fn lcore_map(workers: usize, cpus: usize) -> String {
    let cpus = cpus.max(1);
    (0..=workers)
        .map(|l| format!("{l}@{}", l % cpus))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcores_spread_over_cpus_and_wrap() {
        assert_eq!(lcore_map(1, 2), "0@0,1@1");
        assert_eq!(lcore_map(2, 2), "0@0,1@1,2@0");
        assert_eq!(lcore_map(3, 8), "0@0,1@1,2@2,3@3");
        assert_eq!(lcore_map(1, 1), "0@0,1@0");
    }

    #[test]
    fn eal_argv_names_every_port_and_respects_operator_flags() {
        let dir = std::env::temp_dir();
        let text = r#"
[dataplane]
workers = 1
eal_args = ["--no-huge", "--file-prefix=mine"]
[[port]]
name = "p0"
device = "net_af_packet0,iface=veth0"
[[port]]
name = "p1"
device = "0000:03:00.0"
"#;
        let cfg = crate::config::parse_str(text, &dir.join("x.toml")).unwrap();
        let a = build(&cfg);
        assert_eq!(a[0], "vnetd");
        assert!(a.contains(&"--vdev=net_af_packet0,iface=veth0".to_string()));
        let i = a.iter().position(|x| x == "-a").unwrap();
        assert_eq!(a[i + 1], "0000:03:00.0");
        assert!(a.iter().any(|x| x.starts_with("--lcores=0@0,1@")));
        // The operator's file prefix is kept, ours is not added.
        assert_eq!(
            a.iter().filter(|x| x.starts_with("--file-prefix")).count(),
            1
        );
        assert!(a.contains(&"--file-prefix=mine".to_string()));
    }
}
