//! `controlplane::config::load` from disk, as the daemon calls it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use controlplane::config::{load, ConfigError};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("vnetd-config-it-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CONFIG: &str = r#"[dataplane]
workers = 2
eal_args = ["--no-pci", "--in-memory"]

[[port]]
name = "trunk0"
device = "net_af_packet0,iface=veth-trunk"

[[vnet]]
name = "red"
routes_file = "tables/red.routes"

  [[vnet.interface]]
  name = "lan"
  port = "trunk0"
  vlan = 100
  addresses = ["10.0.0.1/16", "fd00:1::1/64"]

  [[vnet.interface]]
  name = "wan"
  port = "trunk0"
  addresses = ["192.0.2.1/24"]

  [[vnet.route]]
  prefix = "0.0.0.0/0"
  via = "192.0.2.254"
"#;

/// `count` distinct routes: IPv4 /24s via a host on 10.0.0.0/16, every tenth IPv6.
fn routes(count: u32) -> String {
    let mut text = String::with_capacity(count as usize * 30);
    text.push_str("# generated\n");
    for i in 0..count {
        if i % 10 == 9 {
            let _ = writeln!(
                text,
                "2001:db8:{:x}:{:x}::/64 fd00:1::fe",
                i >> 16,
                i & 0xffff
            );
        } else {
            let _ = writeln!(
                text,
                "{}.{}.{}.0/24 10.0.{}.{}",
                11 + (i >> 16),
                (i >> 8) & 255,
                i & 255,
                i % 200,
                2 + i % 250
            );
        }
    }
    text
}

fn load_with_routes(
    tag: &str,
    count: u32,
) -> (TempDir, Result<controlplane::config::Config, ConfigError>) {
    let dir = TempDir::new(tag);
    std::fs::create_dir_all(dir.0.join("tables")).unwrap();
    dir.write("tables/red.routes", &routes(count));
    let path = dir.write("vnetd.toml", CONFIG);
    let result = load(&path);
    (dir, result)
}

#[test]
fn loads_a_config_with_a_routes_file_in_a_subdirectory() {
    let (_dir, result) = load_with_routes("small", 1000);
    let config = result.unwrap_or_else(|e| panic!("{e}"));
    let red = config.vnet("red").unwrap();
    assert_eq!(config.dataplane.workers, 2);
    assert_eq!(red.routes4.len(), 1 + 900);
    assert_eq!(red.routes6.len(), 100);
    assert_eq!(red.interfaces[1].vlan, None);
}

#[test]
fn errors_name_the_file_line_and_column() {
    let dir = TempDir::new("errors");
    let path = dir.write(
        "vnetd.toml",
        &CONFIG
            .replace("vlan = 100", "vlan = 4095")
            .replace("192.0.2.254", "198.51.100.1"),
    );
    let err = load(&path).unwrap_err();
    let shown = err.to_string();
    let p = path.display();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    // The routes file's directory does not exist: reported at the routes_file value.
    assert!(
        lines[0].starts_with(&format!(
            "{p}:11:15: vnet \"red\": routes_file: cannot read"
        )),
        "{shown}"
    );
    let vlan =
        format!("{p}:16:10: vnet \"red\" interface \"lan\": vlan: expected a VLAN id 1..=4094");
    assert!(lines[1].starts_with(&vlan), "{shown}");
    let gateway = format!(
        "{p}:26:9: vnet \"red\" route 0.0.0.0/0: gateway 198.51.100.1 is not on a connected subnet"
    );
    assert!(lines[2].starts_with(&gateway), "{shown}");
    assert!(std::error::Error::source(&err).is_none());
}

#[test]
fn a_missing_config_file_is_an_error() {
    let err = load(Path::new("/nonexistent/vnetd.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/vnetd.toml: cannot read the config file"),
        "{err}"
    );
}

/// Informational: `cargo test --release -p controlplane --test config_load -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release"]
fn routes_file_with_500k_lines_timing() {
    let (_dir, result) = {
        let dir = TempDir::new("500k");
        std::fs::create_dir_all(dir.0.join("tables")).unwrap();
        dir.write("tables/red.routes", &routes(500_000));
        let path = dir.write("vnetd.toml", CONFIG);
        let start = Instant::now();
        let result = load(&path);
        eprintln!("load with a 500k-line routes file: {:?}", start.elapsed());
        (dir, result)
    };
    let config = result.unwrap_or_else(|e| panic!("{e}"));
    let red = config.vnet("red").unwrap();
    assert_eq!(red.routes4.len() + red.routes6.len(), 500_001);
}
