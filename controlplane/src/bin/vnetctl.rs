//! vnetctl: the command-line client of vnetd's admin API (see `vnetctl --help`).
use std::process::ExitCode;

fn main() -> ExitCode {
    // `vnetctl status | head` must end quietly, like any Unix filter, not panic.
    // SAFETY: restores the default SIGPIPE action before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    controlplane::cli::run(std::env::args().skip(1).collect())
}
