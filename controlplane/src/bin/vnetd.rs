//! vnetd: the multi-tenant DPDK router daemon (foreground).
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: vnetd --config FILE [--check]

  --config FILE   the configuration (TOML); see configs/demo.toml
  --check         validate the configuration and exit (touches no NIC)
  --print-eal     print the EAL command line vnetd would use and exit

Runs in the foreground; SIGINT/SIGTERM stop it cleanly.";

fn main() -> ExitCode {
    let mut config: Option<PathBuf> = None;
    let (mut check, mut print_eal) = (false, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-c" => config = args.next().map(PathBuf::from),
            "--check" => check = true,
            "--print-eal" => print_eal = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--version" | "-V" => {
                println!("vnetd {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("vnetd: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = config else {
        eprintln!("vnetd: --config FILE is required\n{USAGE}");
        return ExitCode::from(2);
    };
    let cfg = match controlplane::config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "vnetd: {}: configuration refused; nothing was started",
                path.display()
            );
            return ExitCode::from(1);
        }
    };
    if check {
        println!(
            "{}: ok ({} ports, {} vnets)",
            path.display(),
            cfg.ports.len(),
            cfg.vnets.len()
        );
        return ExitCode::SUCCESS;
    }
    if print_eal {
        println!("{}", controlplane::daemon::eal_argv(&cfg).join(" "));
        return ExitCode::SUCCESS;
    }
    match controlplane::daemon::run(&path, cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vnetd: {e}");
            ExitCode::from(1)
        }
    }
}
