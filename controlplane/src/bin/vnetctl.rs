//! vnetctl: the command-line client of vnetd's admin API.
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: vnetctl [--socket PATH] [--json] COMMAND

Commands:
  status        ports and vnets of the running vnetd, with their counters

Options:
  --socket PATH   vnetd's admin socket (default /run/vnetd/vnetd.sock)
  --json          print the API's JSON instead of tables";

const DEFAULT_SOCKET: &str = "/run/vnetd/vnetd.sock";

/// One HTTP/1.1 request over the unix socket; returns (status, body).
fn request(socket: &str, method: &str, path: &str) -> Result<(u16, String), String> {
    let mut s = UnixStream::connect(socket).map_err(|e| {
        format!("cannot connect to vnetd at {socket}: {e} (is vnetd running? see --socket)")
    })?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: vnetd\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("reading the reply: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP reply from vnetd")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no HTTP status in vnetd's reply")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    Ok((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    ))
}

/// Decodes a chunked body (tiny_http chunks large replies).
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn print_status(v: &Value) {
    println!(
        "vnetd {}  workers {}  tables generation {}",
        v["version"].as_str().unwrap_or("?"),
        v["workers"],
        v["tables_generation"]
    );
    println!();
    println!(
        "{:<12} {:<40} {:<18} {:>12} {:>12} {:>8}",
        "PORT", "DEVICE", "MAC", "RX", "TX", "MISSED"
    );
    for p in v["ports"].as_array().into_iter().flatten() {
        println!(
            "{:<12} {:<40} {:<18} {:>12} {:>12} {:>8}",
            p["name"].as_str().unwrap_or(""),
            p["device"].as_str().unwrap_or(""),
            p["mac"].as_str().unwrap_or(""),
            p["rx_packets"].as_u64().unwrap_or(0),
            p["tx_packets"].as_u64().unwrap_or(0),
            p["rx_missed"].as_u64().unwrap_or(0)
        );
    }
    println!();
    println!(
        "{:<12} {:<34} {:>7} {:>7} {:>6} {:>10} {:>10} {:>8}",
        "VNET", "INTERFACES", "ROUTES4", "ROUTES6", "NEIGH", "FORWARDED", "LOCAL", "DROPPED"
    );
    for n in v["vnets"].as_array().into_iter().flatten() {
        let ifs: Vec<String> = n["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| match i["vlan"].as_u64() {
                Some(vlan) => format!(
                    "{}@{}.{}",
                    i["name"].as_str().unwrap_or(""),
                    i["port"].as_str().unwrap_or(""),
                    vlan
                ),
                None => format!(
                    "{}@{}",
                    i["name"].as_str().unwrap_or(""),
                    i["port"].as_str().unwrap_or("")
                ),
            })
            .collect();
        println!(
            "{:<12} {:<34} {:>7} {:>7} {:>6} {:>10} {:>10} {:>8}",
            n["name"].as_str().unwrap_or(""),
            ifs.join(","),
            n["routes4"].as_u64().unwrap_or(0),
            n["routes6"].as_u64().unwrap_or(0),
            n["neighbors"].as_u64().unwrap_or(0),
            n["forwarded"].as_u64().unwrap_or(0),
            n["local"].as_u64().unwrap_or(0),
            n["dropped"].as_u64().unwrap_or(0)
        );
    }
}

fn main() -> ExitCode {
    // `vnetctl status | head` must end quietly, like any Unix filter, not panic.
    // SAFETY: restores the default SIGPIPE action before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let mut socket = DEFAULT_SOCKET.to_string();
    let mut json = false;
    let mut command = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--socket" | "-s" => match args.next() {
                Some(s) => socket = s,
                None => {
                    eprintln!("vnetctl: --socket needs a path");
                    return ExitCode::from(2);
                }
            },
            "--json" => json = true,
            "--help" | "-h" | "help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            c if command.is_none() && !c.starts_with('-') => command = Some(c.to_string()),
            other => {
                eprintln!("vnetctl: unexpected argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match command.as_deref() {
        Some("status") => match request(&socket, "GET", "/v1/status") {
            Ok((200, body)) => match serde_json::from_str::<Value>(&body) {
                Ok(v) if json => {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or(body));
                    ExitCode::SUCCESS
                }
                Ok(v) => {
                    print_status(&v);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vnetctl: vnetd sent invalid JSON: {e}");
                    ExitCode::from(1)
                }
            },
            Ok((code, body)) => {
                eprintln!("vnetctl: vnetd answered {code}: {body}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("vnetctl: {e}");
                ExitCode::from(1)
            }
        },
        Some(other) => {
            eprintln!("vnetctl: unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
