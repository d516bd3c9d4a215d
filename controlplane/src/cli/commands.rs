//! Argument parsing and the commands.
use super::client::Client;
use super::{render, USAGE};

#[path = "ipfw.rs"]
mod ipfw;
use serde_json::{json, Value};
use std::process::ExitCode;

const DEFAULT_SOCKET: &str = "/run/vnetd/vnetd.sock";

struct Cli {
    client: Client,
    json: bool,
    vnet: Option<String>,
}

/// A command's failure: exit code 2 for usage errors, 1 for refusals and I/O.
enum Fail {
    Usage(String),
    Other(String),
}

type Res = Result<(), Fail>;

fn usage(msg: impl Into<String>) -> Fail {
    Fail::Usage(msg.into())
}

pub fn run(args: Vec<String>) -> ExitCode {
    let mut socket = DEFAULT_SOCKET.to_string();
    let (mut url, mut token) = (None, std::env::var("VNETCTL_TOKEN").ok());
    let (mut json, mut vnet) = (false, None);
    let mut words = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--socket" | "-s" => match it.next() {
                Some(s) => socket = s,
                None => return fail(usage("--socket needs a path")),
            },
            "--url" | "-u" => match it.next() {
                Some(u) => url = Some(u),
                None => return fail(usage("--url needs http://HOST:PORT")),
            },
            "--token" => match it.next() {
                Some(t) => token = Some(t),
                None => return fail(usage("--token needs a token")),
            },
            "--token-file" => match it.next().map(std::fs::read_to_string) {
                Some(Ok(t)) => token = Some(t.trim().to_string()),
                Some(Err(e)) => return fail(Fail::Other(format!("--token-file: {e}"))),
                None => return fail(usage("--token-file needs a path")),
            },
            "--json" => json = true,
            "-v" | "--vnet" => match it.next() {
                Some(v) => vnet = Some(v),
                None => return fail(usage("-v needs a vnet name")),
            },
            "--help" | "-h" if words.is_empty() => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => words.push(a),
        }
    }
    let client = match (url, token) {
        (None, _) => Client::Socket(socket),
        (Some(u), Some(t)) => match Client::tcp(&u, t) {
            Ok(c) => c,
            Err(e) => return fail(usage(e)),
        },
        (Some(_), None) => {
            return fail(usage(
                "--url needs a token: --token T, --token-file FILE or $VNETCTL_TOKEN",
            ))
        }
    };
    let cli = Cli { client, json, vnet };
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match cli.dispatch(&w) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(f),
    }
}

fn fail(f: Fail) -> ExitCode {
    match f {
        Fail::Usage(m) => {
            eprintln!("vnetctl: {m}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Fail::Other(m) => {
            eprintln!("vnetctl: {m}");
            ExitCode::from(1)
        }
    }
}

impl Cli {
    fn dispatch(&self, w: &[&str]) -> Res {
        match w {
            ["help"] => {
                println!("{USAGE}");
                Ok(())
            }
            ["status"] | ["stats"] => self.show("GET", "/v1/status", render::status),
            ["vnet", "list"] | ["vnet"] => self.show("GET", "/v1/vnets", render::vnets),
            ["vnet", "create", name] => {
                self.change("POST", "/v1/vnets", Some(json!({ "name": name })))
            }
            ["vnet", "destroy", name] => self.change("DELETE", &format!("/v1/vnets/{name}"), None),
            ["reload"] => self.change("POST", "/v1/reload", None),
            ["config", "dump"] => self.text("/v1/config"),
            ["completions", "bash"] => {
                println!("{}", BASH_COMPLETION);
                Ok(())
            }
            _ => self.per_vnet(w),
        }
    }

    fn per_vnet(&self, w: &[&str]) -> Res {
        let Some(v) = self.vnet.as_deref() else {
            return Err(usage(format!(
                "unknown command {:?} (per-vnet commands need -v VNET)",
                w.join(" ")
            )));
        };
        let base = format!("/v1/vnets/{v}");
        match w {
            ["ifconfig"] => self.show("GET", &format!("{base}/interfaces"), render::interfaces),
            ["ifconfig", ifname, "destroy"] => {
                self.change("DELETE", &format!("{base}/interfaces/{ifname}"), None)
            }
            ["ifconfig", ifname, "vnet", to] => self.change(
                "POST",
                &format!("{base}/interfaces/{ifname}/move"),
                Some(json!({ "to": to })),
            ),
            ["ifconfig", ifname, fam @ ("inet" | "inet6"), addr, how @ ..] => {
                self.set_address(&base, ifname, fam, addr, how)
            }
            ["ifconfig", ifname, "create", rest @ ..] => self.change(
                "POST",
                &format!("{base}/interfaces"),
                Some(ifconfig_body(ifname, rest)?),
            ),
            ["route", "add" | "change", "-f", file] => {
                let method = if w[1] == "add" { "POST" } else { "PUT" };
                self.change(
                    method,
                    &format!("{base}/routes"),
                    Some(routes_from_file(file)?),
                )
            }
            ["route", "delete" | "del", "-f", file] => {
                let routes = routes_from_file(file)?;
                let prefixes: Vec<Value> = routes
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| r["prefix"].clone())
                    .collect();
                self.change(
                    "DELETE",
                    &format!("{base}/routes"),
                    Some(Value::Array(prefixes)),
                )
            }
            ["route", "add", prefix, via] | ["route", "add", prefix, "via", via] => self.change(
                "POST",
                &format!("{base}/routes"),
                Some(json!({ "prefix": prefix, "via": via })),
            ),
            ["capture", args @ ..] => self.capture(&base, args),
            [kind @ ("pipe" | "queue"), n, "config", rest @ ..] => self.change(
                "PUT",
                &format!("{base}/{kind}s/{n}"),
                Some(super::pipe::config_body(kind, rest).map_err(usage)?),
            ),
            [kind @ ("pipe" | "queue"), n, "delete"] => {
                self.change("DELETE", &format!("{base}/{kind}s/{n}"), None)
            }
            [kind @ ("pipe" | "queue"), "show" | "list"] => {
                self.show("GET", &format!("{base}/{kind}s"), render::shaping)
            }
            [kind @ ("pipe" | "queue"), n, "show" | "list"] => {
                let all = self.call("GET", &format!("{base}/{kind}s"), None)?;
                let one: Vec<Value> = all
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["id"].as_u64().is_some_and(|id| n.parse() == Ok(id)))
                    .cloned()
                    .collect();
                if one.is_empty() {
                    return Err(Fail::Other(format!("no {kind} {n} in this vnet")));
                }
                let v = Value::Array(one);
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                } else {
                    render::shaping(&v);
                }
                Ok(())
            }
            ["ipfw", args @ ..] => self.ipfw(&base, args),
            ["route", "change", prefix, via] | ["route", "change", prefix, "via", via] => self
                .change(
                    "PUT",
                    &format!("{base}/routes/{prefix}"),
                    Some(json!({ "via": via })),
                ),
            ["route", "delete", prefix] | ["route", "del", prefix] => {
                self.change("DELETE", &format!("{base}/routes/{prefix}"), None)
            }
            ["route", "get", addr] => self.show(
                "GET",
                &format!("{base}/lookup?address={addr}"),
                render::route_get,
            ),
            ["route", "show"] | ["netstat", "-r"] | ["netstat", "-rn"] => {
                self.show("GET", &format!("{base}/routes"), render::routes)
            }
            ["netstat", "-i"] => self.show("GET", &base, render::counters),
            ["arp"] | ["ndp"] | ["arp", "-a"] | ["ndp", "-a"] | ["neighbor", "show"] => {
                self.show("GET", &format!("{base}/neighbors"), render::neighbors)
            }
            ["arp" | "ndp" | "neighbor", "add", addr, mac] => self.change(
                "POST",
                &format!("{base}/neighbors"),
                Some(json!({ "address": addr, "mac": mac })),
            ),
            ["arp" | "ndp" | "neighbor", "delete" | "del", addr] => {
                self.change("DELETE", &format!("{base}/neighbors/{addr}"), None)
            }
            _ => Err(usage(format!("unknown command {:?}", w.join(" ")))),
        }
    }

    /// `ifconfig IF inet|inet6 ADDR/LEN [alias | -alias]`, as FreeBSD's: without
    /// `alias` the address replaces the interface's others of that family.
    fn set_address(&self, base: &str, ifname: &str, fam: &str, addr: &str, how: &[&str]) -> Res {
        let list = self.call("GET", &format!("{base}/interfaces"), None)?;
        let iface = list
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["name"] == ifname)
            .ok_or_else(|| Fail::Other(format!("no interface {ifname:?} in this vnet")))?;
        let v6 = fam == "inet6";
        let cur: Vec<String> = iface["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        let host = |a: &str| a.split('/').next().unwrap_or("").to_string();
        let new: Vec<String> = match how {
            [] => cur
                .into_iter()
                .filter(|a| a.contains(':') != v6)
                .chain([addr.to_string()])
                .collect(),
            ["alias"] | ["add"] => cur.into_iter().chain([addr.to_string()]).collect(),
            ["-alias"] | ["delete"] => {
                let keep: Vec<String> = cur
                    .iter()
                    .filter(|a| host(a) != host(addr))
                    .cloned()
                    .collect();
                if keep.len() == cur.len() {
                    return Err(Fail::Other(format!("{ifname} has no address {addr}")));
                }
                keep
            }
            _ => return Err(usage("ifconfig IF inet|inet6 ADDR/LEN [alias | -alias]")),
        };
        self.change(
            "PUT",
            &format!("{base}/interfaces/{ifname}"),
            Some(json!({ "addresses": new })),
        )
    }

    /// `capture -w FILE [-c N] [-d SECONDS] [-i IF] [-s SNAPLEN] [FILTER...]`
    fn capture(&self, base: &str, args: &[&str]) -> Res {
        let (mut file, mut query, mut filter) = (None, Vec::new(), Vec::new());
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = |what: &str| {
                it.next()
                    .map(|v| v.to_string())
                    .ok_or_else(|| usage(format!("capture {a} needs {what}")))
            };
            match *a {
                "-w" => file = Some(val("a file name (- for stdout)")?),
                "-c" => query.push(format!("count={}", val("a number of frames")?)),
                "-d" => query.push(format!("duration={}", val("seconds")?)),
                "-i" => query.push(format!(
                    "interface={}",
                    percent_encode(&val("an interface")?)
                )),
                "-s" => query.push(format!("snaplen={}", val("a number of bytes")?)),
                f => filter.push(f),
            }
        }
        let Some(file) = file else {
            return Err(usage("capture needs -w FILE (- for standard output)"));
        };
        if !filter.is_empty() {
            query.push(format!("filter={}", percent_encode(&filter.join(" "))));
        }
        let path = format!("{base}/capture?{}", query.join("&"));
        let bytes = if file == "-" {
            self.client.stream(&path, &mut std::io::stdout().lock())
        } else {
            let mut f =
                std::fs::File::create(&file).map_err(|e| Fail::Other(format!("{file}: {e}")))?;
            self.client.stream(&path, &mut f)
        }
        .map_err(Fail::Other)?;
        if file != "-" {
            eprintln!("vnetctl: {bytes} bytes of pcap written to {file}");
        }
        Ok(())
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Fail> {
        let body = body.map(|b| b.to_string());
        let (status, text) = self
            .client
            .call(method, path, body.as_deref())
            .map_err(Fail::Other)?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        if status >= 400 {
            let msg = v["error"].as_str().map(str::to_string).unwrap_or(text);
            return Err(Fail::Other(format!("refused ({status}): {msg}")));
        }
        Ok(v)
    }

    fn show(&self, method: &str, path: &str, human: fn(&Value)) -> Res {
        let v = self.call(method, path, None)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            human(&v);
        }
        Ok(())
    }

    fn change(&self, method: &str, path: &str, body: Option<Value>) -> Res {
        let v = self.call(method, path, body)?;
        if self.json {
            println!("{v}");
        } else {
            render::applied(&v);
        }
        Ok(())
    }

    fn text(&self, path: &str) -> Res {
        let (status, text) = self.client.call("GET", path, None).map_err(Fail::Other)?;
        if status >= 400 {
            return Err(Fail::Other(format!("refused ({status}): {text}")));
        }
        print!("{text}");
        Ok(())
    }
}

/// `port P [vlan N] [inet A/L]... [inet6 A/L]... [ether MAC]` → an interface object.
fn ifconfig_body(name: &str, rest: &[&str]) -> Result<Value, Fail> {
    let mut body = json!({ "name": name });
    let mut addrs = Vec::new();
    let mut it = rest.iter();
    while let Some(k) = it.next() {
        let val = it
            .next()
            .ok_or_else(|| usage(format!("ifconfig: {k} needs a value")))?;
        match *k {
            "port" => body["port"] = json!(val),
            "vlan" => {
                body["vlan"] = json!(val
                    .parse::<u64>()
                    .map_err(|_| usage(format!("ifconfig: vlan {val:?} is not a number")))?)
            }
            "inet" | "inet6" => addrs.push(json!(val)),
            "ether" | "mac" => body["mac"] = json!(val),
            other => {
                return Err(usage(format!(
                "ifconfig: unknown keyword {other:?} (expected port, vlan, inet, inet6 or ether)"
            )))
            }
        }
    }
    if body.get("port").is_none() {
        return Err(usage("ifconfig IF create: `port PORT` is required"));
    }
    if !addrs.is_empty() {
        body["addresses"] = Value::Array(addrs);
    }
    Ok(body)
}

/// Everything but unreserved characters as `%XX` (query values).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `PREFIX GATEWAY` per line (the routes_file format; `#` comments, blank lines),
/// or `PREFIX` alone for deletions.
fn routes_from_file(path: &str) -> Result<Value, Fail> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| Fail::Other(format!("{path}: {e}")))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut f = line.split_whitespace();
        match (f.next(), f.next(), f.next()) {
            (None, ..) => {}
            (Some(p), None, None) => out.push(json!({ "prefix": p })),
            (Some(p), Some(via), None) => out.push(json!({ "prefix": p, "via": via })),
            _ => {
                return Err(Fail::Other(format!(
                    "{path}:{}: expected PREFIX GATEWAY, found {line:?}",
                    n + 1
                )))
            }
        }
    }
    Ok(Value::Array(out))
}

const BASH_COMPLETION: &str = r#"_vnetctl() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --socket|--token-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -v|--vnet) COMPREPLY=($(compgen -W "$(vnetctl --json vnet list 2>/dev/null | sed -n 's/.*"name": "\([^"]*\)".*/\1/p' | sort -u)" -- "$cur")); return ;;
        vnet) COMPREPLY=($(compgen -W "list create destroy" -- "$cur")); return ;;
        route) COMPREPLY=($(compgen -W "add change delete get show" -- "$cur")); return ;;
        config) COMPREPLY=($(compgen -W "dump" -- "$cur")); return ;;
        netstat) COMPREPLY=($(compgen -W "-r -i" -- "$cur")); return ;;
    esac
    COMPREPLY=($(compgen -W "status stats vnet reload config ifconfig route netstat arp ndp capture pipe queue --socket --url --token-file --json -v help" -- "$cur"))
}
complete -F _vnetctl vnetctl"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifconfig_words_become_an_interface_object() {
        let v = ifconfig_body(
            "lan",
            &[
                "port",
                "trunk0",
                "vlan",
                "30",
                "inet",
                "10.0.3.1/24",
                "inet6",
                "fd00:3::1/64",
            ],
        )
        .ok()
        .unwrap();
        assert_eq!(
            v,
            json!({"name": "lan", "port": "trunk0", "vlan": 30, "addresses": ["10.0.3.1/24", "fd00:3::1/64"]})
        );
        assert!(ifconfig_body("lan", &["vlan", "30"]).is_err());
        assert!(ifconfig_body("lan", &["port", "p", "vlan", "x"]).is_err());
        assert!(ifconfig_body("lan", &["port", "p", "mtu", "9000"]).is_err());
    }
}
