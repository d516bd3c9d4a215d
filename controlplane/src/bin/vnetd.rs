//! vnetd: the multi-tenant DPDK router daemon (foreground).
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: vnetd --config FILE [--check]

  --config FILE   the configuration (TOML); see configs/demo.toml
  --check         validate the configuration and exit (touches no NIC)
  --print-eal     print the EAL command line vnetd would use and exit
  --hash-token    read a token from standard input (one line) and print the
                  SHA-256 that [api] admin_token_sha256 or a vnet's
                  token_sha256 expects; the config never holds the token

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
            "--hash-token" => return hash_token(),
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
    if !check && !print_eal {
        // Before the tables are built: see controlplane::daemon::heap.
        controlplane::daemon::reexec_with_huge_heap();
    }
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

/// `vnetd --hash-token`: what goes into the config for a token read from stdin.
fn hash_token() -> ExitCode {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() || line.trim().is_empty() {
        eprintln!("vnetd: --hash-token: give the token on standard input, e.g. `openssl rand -hex 24 | tee token | vnetd --hash-token`");
        return ExitCode::from(2);
    }
    let token = line.trim_end_matches(['\n', '\r']);
    if token.len() < 16 {
        eprintln!("vnetd: --hash-token: a token shorter than 16 characters is too easy to guess");
        return ExitCode::from(2);
    }
    println!(
        "{}",
        controlplane::api::token_hex(&controlplane::api::token_hash(token))
    );
    ExitCode::SUCCESS
}
