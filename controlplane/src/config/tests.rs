//! One test per validation error, each asserting the exact `file:line:column` and the
//! words of the message; then configurations that must be accepted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Two ports: 6 lines, so text appended after them starts on line 7.
const PORTS: &str = r#"[[port]]
name = "trunk0"
device = "net_af_packet0,iface=veth-trunk"
[[port]]
name = "trunk1"
device = "0000:03:00.0"
"#;

/// Vnet "red" with interface "lan" (lines 7..=13 after PORTS):
/// line 11 `port` value at column 10, line 12 `vlan` value at column 10,
/// line 13 addresses at columns 16 and 31.
const RED: &str = r#"[[vnet]]
name = "red"
  [[vnet.interface]]
  name = "lan"
  port = "trunk0"
  vlan = 100
  addresses = ["10.0.1.1/24", "fd00:1::1/64"]
"#;

fn with_red(rest: &str) -> String {
    format!("{PORTS}{RED}{rest}")
}

/// All error lines for `text`, which must be rejected.
fn errors(text: &str) -> Vec<String> {
    match parse_str(text, Path::new("t.toml")) {
        Ok(_) => panic!("accepted a config that should fail:\n{text}"),
        Err(e) => {
            assert!(!e.errors.is_empty());
            e.errors.iter().map(ToString::to_string).collect()
        }
    }
}

/// Asserts that `text` has exactly one error, at `at` (`t.toml:L:C`), containing `words`.
fn assert_error(text: &str, at: &str, words: &[&str]) {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    assert_has(&errs[0], at, words);
}

fn assert_has(error: &str, at: &str, words: &[&str]) {
    assert!(
        error.starts_with(&format!("{at}: ")),
        "expected an error at {at}, got: {error}"
    );
    for w in words {
        assert!(error.contains(w), "expected {w:?} in: {error}");
    }
}

fn accept(text: &str) -> Config {
    match parse_str(text, Path::new("t.toml")) {
        Ok(c) => c,
        Err(e) => panic!("rejected:\n{e}\n---\n{text}"),
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("vnetd-config-test-{}-{n}", std::process::id()));
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

// ---- TOML level -------------------------------------------------------------------

#[test]
fn toml_syntax_error() {
    assert_error(
        "[dataplane]\nworkers = 1\neal_args = [\"--no-pci\"\n",
        "t.toml:4:1",
        &["expected"],
    );
    assert_error(
        "[dataplane]\nworkers = \n",
        "t.toml:2:11",
        &["invalid string", "expected"],
    );
}

#[test]
fn unknown_key() {
    let text =
        with_red("  [[vnet.neighbor]]\n  adress = \"10.0.1.254\"\n  mac = \"02:00:00:00:01:fe\"\n");
    assert_error(
        &text,
        "t.toml:15:3",
        &["unknown field `adress`", "expected `address` or `mac`"],
    );
}

#[test]
fn wrong_type() {
    assert_error(
        "[dataplane]\nworkers = \"two\"\n",
        "t.toml:2:11",
        &[
            "dataplane: workers: expected at least 1 worker",
            "found the string \"two\"",
        ],
    );
    // A wrong kind of value where a table or array belongs is a shape error from toml.
    assert_error(
        "[dataplane]\neal_args = \"--no-pci\"\n",
        "t.toml:2:12",
        &["invalid type", "expected a sequence"],
    );
    let text = with_red("  [[vnet.route]]\n  prefix = 10\n  via = \"10.0.1.254\"\n");
    assert_error(
        &text,
        "t.toml:15:12",
        &[
            "vnet \"red\" route #1: prefix: expected",
            "found the integer 10",
        ],
    );
}

#[test]
fn missing_required_key() {
    assert_error(
        "[[port]]\nname = \"p\"\n",
        "t.toml:1:1",
        &["port \"p\": missing key \"device\"", "DPDK devargs"],
    );
}

// ---- dataplane, api, metrics, ports -------------------------------------------------

#[test]
fn workers_zero() {
    assert_error(
        "[dataplane]\nworkers = 0\n",
        "t.toml:2:11",
        &["dataplane: workers: expected at least 1 worker (an integer 1..=65535), found the integer 0"],
    );
}

#[test]
fn burst_out_of_range() {
    assert_error(
        "[dataplane]\nburst = 64\n",
        "t.toml:2:9",
        &["burst: expected a burst size 1..=32"],
    );
}

#[test]
fn metrics_listen_not_a_socket_address() {
    assert_error(
        "[metrics]\nlisten = \"localhost:9469\"\n",
        "t.toml:2:10",
        &[
            "metrics: listen: expected a socket address like \"127.0.0.1:9469\"",
            "found \"localhost:9469\"",
        ],
    );
}

#[test]
fn api_listen_not_a_socket_address() {
    assert_error(
        "[api]\nlisten = \"vnetd:9470\"\n",
        "t.toml:2:10",
        &[
            "api: listen: expected a socket address",
            "found \"vnetd:9470\"",
        ],
    );
}

#[test]
fn token_hash_must_be_64_hex_digits() {
    assert_error(
        "[api]\nadmin_token_sha256 = \"s3cret\"\n",
        "t.toml:2:22",
        &[
            "api: admin_token_sha256: expected the SHA-256",
            "never the token itself",
            "found 6 characters",
        ],
    );
    let text = with_red("").replacen(
        "name = \"red\"\n",
        &format!("name = \"red\"\ntoken_sha256 = \"{}\"\n", "z".repeat(64)),
        1,
    );
    assert_error(
        &text,
        "t.toml:9:16",
        &[
            "vnet \"red\": token_sha256: expected the SHA-256",
            "found 64 characters",
        ],
    );
}

#[test]
fn token_hashes_are_accepted() {
    let h = "ab".repeat(32);
    let text = format!(
        "[api]\nlisten = \"127.0.0.1:9470\"\nadmin_token_sha256 = \"{h}\"\n{}",
        with_red("")
    )
    .replacen(
        "name = \"red\"\n",
        &format!("name = \"red\"\ntoken_sha256 = \"{}\"\n", "CD".repeat(32)),
        1,
    );
    let c = accept(&text);
    assert_eq!(c.api.listen, Some("127.0.0.1:9470".parse().unwrap()));
    assert_eq!(c.api.admin_token_sha256, Some([0xab; 32]));
    assert_eq!(c.vnets[0].token_sha256, Some([0xcd; 32]));
}

#[test]
fn device_empty() {
    assert_error(
        "[[port]]\nname = \"p\"\ndevice = \"\"\n",
        "t.toml:3:10",
        &[
            "port \"p\": device: expected DPDK devargs",
            "found an empty string",
        ],
    );
}

#[test]
fn device_malformed_or_shared() {
    assert_error(
        "[[port]]\nname = \"p\"\ndevice = \"eth0\"\n",
        "t.toml:3:10",
        &["PCI address", "found \"eth0\""],
    );
    let text = "[[port]]\nname = \"a\"\ndevice = \"0000:03:00.0\"\n[[port]]\nname = \"b\"\ndevice = \"03:00.0,x=1\"\n";
    assert_error(
        text,
        "t.toml:6:10",
        &["port \"b\": device \"03:00.0,x=1\" is the same device as port \"a\" (t.toml:3:10)"],
    );
}

#[test]
fn duplicate_port_name() {
    let text = "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n[[port]]\nname = \"a\"\ndevice = \"net_null1\"\n";
    assert_error(
        text,
        "t.toml:5:8",
        &["port \"a\" is already defined at t.toml:2:8"],
    );
}

#[test]
fn bad_name() {
    assert_error(
        "[[port]]\nname = \"trunk 0\"\ndevice = \"net_null0\"\n",
        "t.toml:2:8",
        &["port #1: name: expected a name"],
    );
}

// ---- vnets and interfaces -----------------------------------------------------------

#[test]
fn duplicate_vnet_name() {
    let text = format!("{PORTS}[[vnet]]\nname = \"red\"\n[[vnet]]\nname = \"red\"\n");
    assert_error(
        &text,
        "t.toml:10:8",
        &["vnet \"red\" is already defined at t.toml:8:8"],
    );
}

#[test]
fn unknown_port_in_interface() {
    let text = format!("{PORTS}{}", RED.replace("\"trunk0\"", "\"trunk9\""));
    assert_error(
        &text,
        "t.toml:11:10",
        &["vnet \"red\" interface \"lan\": port: unknown port \"trunk9\": expected one of \"trunk0\", \"trunk1\""],
    );
}

#[test]
fn duplicate_interface_name() {
    let text = with_red("  [[vnet.interface]]\n  name = \"lan\"\n  port = \"trunk1\"\n");
    assert_error(
        &text,
        "t.toml:15:10",
        &["vnet \"red\" interface \"lan\" is already defined at t.toml:10:10"],
    );
}

#[test]
fn duplicate_port_vlan_across_vnets() {
    let text = with_red(
        "[[vnet]]\nname = \"blue\"\n  [[vnet.interface]]\n  name = \"lan\"\n  port = \"trunk0\"\n  vlan = 100\n",
    );
    assert_error(
        &text,
        "t.toml:19:10",
        &["vnet \"blue\" interface \"lan\": (port \"trunk0\", vlan 100) is already used by vnet \"red\" interface \"lan\" (t.toml:12:10)"],
    );
}

#[test]
fn duplicate_port_vlan_within_vnet() {
    let text =
        with_red("  [[vnet.interface]]\n  name = \"lan2\"\n  port = \"trunk0\"\n  vlan = 100\n");
    assert_error(
        &text,
        "t.toml:17:10",
        &["interface \"lan2\": (port \"trunk0\", vlan 100) is already used by vnet \"red\" interface \"lan\" (t.toml:12:10)"],
    );
    // Two untagged interfaces on one port: the error points at the port values.
    let text = with_red(
        "  [[vnet.interface]]\n  name = \"a\"\n  port = \"trunk1\"\n  [[vnet.interface]]\n  name = \"b\"\n  port = \"trunk1\"\n",
    );
    assert_error(
        &text,
        "t.toml:19:10",
        &["interface \"b\": (port \"trunk1\", untagged) is already used by vnet \"red\" interface \"a\" (t.toml:16:10)"],
    );
}

#[test]
fn untagged_and_tagged_on_one_port_is_fine() {
    let c = accept(&with_red(
        "[[vnet]]\nname = \"blue\"\n  [[vnet.interface]]\n  name = \"lan\"\n  port = \"trunk0\"\n",
    ));
    assert_eq!(c.vnets[0].interfaces[0].vlan, Some(100));
    assert_eq!(c.vnets[1].interfaces[0].vlan, None);
    assert_eq!(c.vnets[0].interfaces[0].port, c.vnets[1].interfaces[0].port);
}

#[test]
fn vlan_out_of_range() {
    for bad in ["0", "4095", "-1"] {
        let text = format!(
            "{PORTS}{}",
            RED.replace("vlan = 100", &format!("vlan = {bad}"))
        );
        assert_error(
            &text,
            "t.toml:12:10",
            &[
                "interface \"lan\": vlan: expected a VLAN id 1..=4094",
                &format!("found the integer {bad}"),
            ],
        );
    }
}

#[test]
fn bad_interface_address_and_prefix_length() {
    let text = format!(
        "{PORTS}{}",
        RED.replace(
            "[\"10.0.1.1/24\", \"fd00:1::1/64\"]",
            "[\"10.0.1.300/24\", \"fd00:1::1/129\", \"10.0.2.1\"]"
        )
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert_has(
        &errs[0],
        "t.toml:13:16",
        &[
            "addresses: expected an IPv4 or IPv6 address",
            "found \"10.0.1.300/24\"",
        ],
    );
    assert_has(
        &errs[1],
        "t.toml:13:33",
        &[
            "expected a prefix length 1..=128 for IPv6",
            "\"fd00:1::1/129\"",
        ],
    );
    assert_has(
        &errs[2],
        "t.toml:13:50",
        &[
            "expected an address with a prefix length",
            "found \"10.0.2.1\"",
        ],
    );
}

#[test]
fn bad_or_multicast_interface_mac() {
    let text = format!(
        "{PORTS}{}",
        RED.replace(
            "  vlan = 100\n",
            "  vlan = 100\n  mac = \"01:00:5e:00:00:01\"\n"
        )
    );
    assert_error(
        &text,
        "t.toml:13:9",
        &[
            "interface \"lan\": mac: expected a unicast MAC address",
            "multicast",
        ],
    );
}

// ---- routes -------------------------------------------------------------------------

#[test]
fn route_prefix_with_host_bits() {
    let text = with_red("  [[vnet.route]]\n  prefix = \"10.0.1.1/24\"\n  via = \"10.0.1.254\"\n");
    assert_error(
        &text,
        "t.toml:15:12",
        &["vnet \"red\" route #1: prefix 10.0.1.1/24 has host bits set (did you mean 10.0.1.0/24?)"],
    );
}

#[test]
fn route_gateway_not_on_connected_subnet() {
    let text = with_red("  [[vnet.route]]\n  prefix = \"0.0.0.0/0\"\n  via = \"10.0.9.1\"\n");
    assert_error(
        &text,
        "t.toml:16:9",
        &["vnet \"red\" route 0.0.0.0/0: gateway 10.0.9.1 is not on a connected subnet: expected an address within 10.0.1.0/24 (interface \"lan\")"],
    );
    // The router's own address is not a gateway.
    let text = with_red("  [[vnet.route]]\n  prefix = \"0.0.0.0/0\"\n  via = \"10.0.1.1\"\n");
    assert_error(
        &text,
        "t.toml:16:9",
        &["gateway 10.0.1.1 is this vnet's own address on interface \"lan\""],
    );
}

#[test]
fn route_gateway_family_mismatch() {
    let text = with_red("  [[vnet.route]]\n  prefix = \"::/0\"\n  via = \"10.0.1.254\"\n");
    assert_error(
        &text,
        "t.toml:16:9",
        &["vnet \"red\" route ::/0: gateway 10.0.1.254 is IPv4 but prefix ::/0 is IPv6: expected an IPv6 gateway"],
    );
}

#[test]
fn duplicate_route_prefix() {
    let route = "  [[vnet.route]]\n  prefix = \"0.0.0.0/0\"\n  via = \"10.0.1.254\"\n";
    let text = with_red(&format!("{route}{route}"));
    assert_error(
        &text,
        "t.toml:18:12",
        &["vnet \"red\": route 0.0.0.0/0 is already defined at t.toml:15:12"],
    );
}

#[test]
fn routes_file_missing() {
    let dir = TempDir::new();
    let config = dir.0.join("t.toml");
    let text = format!(
        "{PORTS}{}",
        RED.replace(
            "name = \"red\"\n",
            "name = \"red\"\nroutes_file = \"nope.routes\"\n"
        )
    );
    let err = parse_str(&text, &config).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    let at = format!("{}:9:15", config.display());
    let path = dir.0.join("nope.routes");
    assert_has(
        &err.errors[0].to_string(),
        &at,
        &[
            "vnet \"red\": routes_file: cannot read",
            &path.display().to_string(),
        ],
    );
}

#[test]
fn routes_file_bad_lines() {
    let dir = TempDir::new();
    let routes = dir.write(
        "red.routes",
        "# comment\n\
         10.0.0.0/8 10.0.1.254\n\
         \n  \
         192.168.1.1/24 10.0.1.254\n\
         172.16.0.0/12\n\
         10.1.0.0/16 10.0.1.254 extra\n\
         2001:db8::/32 10.0.1.254\n\
         10.2.0.0/16 bogus\n\
         10.3.0.0/16 10.9.9.9 # not connected\n\
         10.0.0.0/8 10.0.1.253\n\
         fd00:2::/48\tfd00:1::fe\r\n",
    );
    let config = dir.write("t.toml", "");
    let text = format!(
        "{PORTS}{}",
        RED.replace(
            "name = \"red\"\n",
            "name = \"red\"\nroutes_file = \"red.routes\"\n"
        )
    );
    let err = parse_str(&text, &config).unwrap_err();
    let errs: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    let r = routes.display().to_string();
    assert_eq!(errs.len(), 7, "{errs:#?}");
    assert_has(
        &errs[0],
        &format!("{r}:4:3"),
        &["vnet \"red\": prefix 192.168.1.1/24 has host bits set (did you mean 192.168.1.0/24?)"],
    );
    assert_has(
        &errs[1],
        &format!("{r}:5:14"),
        &["expected a gateway address after 172.16.0.0/12"],
    );
    assert_has(
        &errs[2],
        &format!("{r}:6:24"),
        &["unexpected \"extra\" after the gateway"],
    );
    assert_has(
        &errs[3],
        &format!("{r}:7:15"),
        &["gateway 10.0.1.254 is IPv4 but prefix 2001:db8::/32 is IPv6"],
    );
    assert_has(
        &errs[4],
        &format!("{r}:8:13"),
        &["expected a gateway IPv4 or IPv6 address, found \"bogus\""],
    );
    assert_has(
        &errs[5],
        &format!("{r}:9:13"),
        &["gateway 10.9.9.9 is not on a connected subnet"],
    );
    assert_has(
        &errs[6],
        &format!("{r}:10:1"),
        &[
            "route 10.0.0.0/8 is already defined at",
            &format!("{r}:2:1"),
        ],
    );
}

#[test]
fn duplicate_route_across_config_and_routes_file() {
    let dir = TempDir::new();
    let routes = dir.write(
        "red.routes",
        "fd00:9::/32 fd00:1::fe\n0.0.0.0/0 10.0.1.253\n",
    );
    let config = dir.0.join("t.toml");
    let text = format!(
        "{PORTS}{}",
        RED.replace(
            "name = \"red\"\n",
            "name = \"red\"\nroutes_file = \"red.routes\"\n"
        )
    ) + "  [[vnet.route]]\n  prefix = \"0.0.0.0/0\"\n  via = \"10.0.1.254\"\n";
    let err = parse_str(&text, &config).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    let first = format!("{}:16:12", config.display());
    assert_has(
        &err.errors[0].to_string(),
        &format!("{}:2:1", routes.display()),
        &[&format!("route 0.0.0.0/0 is already defined at {first}")],
    );
}

#[test]
fn routes_file_errors_are_capped() {
    let dir = TempDir::new();
    let bad: String = (0..250)
        .map(|i| format!("10.{i}.0.1/16 10.0.1.254\n"))
        .collect();
    dir.write("red.routes", &bad);
    let config = dir.0.join("t.toml");
    let text = format!(
        "{PORTS}{}",
        RED.replace(
            "name = \"red\"\n",
            "name = \"red\"\nroutes_file = \"red.routes\"\n"
        )
    );
    let err = parse_str(&text, &config).unwrap_err();
    assert_eq!(err.errors.len(), routes_file::MAX_ERRORS_PER_FILE + 1);
    let summary = err.errors[0].to_string();
    assert_has(
        &summary,
        &format!("{}:9:15", config.display()),
        &["routes_file: 150 more errors in", "not shown"],
    );
}

// ---- neighbors ----------------------------------------------------------------------

#[test]
fn neighbor_not_on_connected_subnet() {
    let text =
        with_red("  [[vnet.neighbor]]\n  address = \"10.0.2.1\"\n  mac = \"02:00:00:00:01:fe\"\n");
    assert_error(
        &text,
        "t.toml:15:13",
        &["vnet \"red\": neighbor 10.0.2.1 is not on a connected subnet: expected an address within 10.0.1.0/24 (interface \"lan\")"],
    );
    let text =
        with_red("  [[vnet.neighbor]]\n  address = \"fd00:2::1\"\n  mac = \"02:00:00:00:01:fe\"\n");
    assert_error(
        &text,
        "t.toml:15:13",
        &[
            "neighbor fd00:2::1 is not on a connected subnet",
            "fd00:1::/64",
        ],
    );
}

#[test]
fn neighbor_bad_or_multicast_mac() {
    let text =
        with_red("  [[vnet.neighbor]]\n  address = \"10.0.1.254\"\n  mac = \"02:00:00:00:01\"\n");
    assert_error(
        &text,
        "t.toml:16:9",
        &["vnet \"red\" neighbor 10.0.1.254: mac: expected a MAC address like \"02:00:00:00:01:fe\", found \"02:00:00:00:01\""],
    );
    let text = with_red(
        "  [[vnet.neighbor]]\n  address = \"10.0.1.254\"\n  mac = \"ff:ff:ff:ff:ff:ff\"\n",
    );
    assert_error(
        &text,
        "t.toml:16:9",
        &["mac: expected a unicast MAC address", "multicast"],
    );
}

#[test]
fn duplicate_neighbor() {
    let n = "  [[vnet.neighbor]]\n  address = \"10.0.1.254\"\n  mac = \"02:00:00:00:01:fe\"\n";
    let text = with_red(&format!("{n}{n}"));
    assert_error(
        &text,
        "t.toml:18:13",
        &["vnet \"red\" neighbor 10.0.1.254 is already defined at t.toml:15:13"],
    );
}

// ---- firewall and pipes -------------------------------------------------------------

#[test]
fn firewall_max_states() {
    let text = with_red("  [vnet.firewall]\n  max_states = 8\n");
    assert_error(
        &text,
        "t.toml:15:16",
        &[
            "vnet \"red\" firewall: max_states: expected a number of states 16..=4194304",
            "found the integer 8",
        ],
    );
    let c = accept(&with_red("  [vnet.firewall]\n  max_states = 65536\n"));
    assert_eq!(c.vnets[0].firewall.max_states, Some(65536));
    assert_eq!(accept(&with_red("")).vnets[0].firewall.max_states, None);
}

#[test]
fn firewall_default_not_allow_or_deny() {
    let text = with_red("  [vnet.firewall]\n  default = \"drop\"\n");
    assert_error(
        &text,
        "t.toml:15:13",
        &["vnet \"red\" firewall: default: expected \"allow\" or \"deny\", found \"drop\""],
    );
}

#[test]
fn pipe_bw_and_delay_unparsable() {
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  bw = \"10Mbps\"\n  delay = \"soon\"\n");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_has(
        &errs[0],
        "t.toml:16:8",
        &[
            "vnet \"red\" pipe 1: bw: expected a bandwidth like \"10Mbit/s\"",
            "unit",
            "found \"10Mbps\"",
        ],
    );
    assert_has(
        &errs[1],
        "t.toml:17:11",
        &[
            "vnet \"red\" pipe 1: delay: expected a delay like \"20ms\"",
            "found \"soon\"",
        ],
    );
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  bw = -5\n");
    assert_error(
        &text,
        "t.toml:16:8",
        &["bw: expected a bandwidth", "found the integer -5"],
    );
}

#[test]
fn pipe_plr_out_of_range() {
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  plr = 1.5\n");
    assert_error(
        &text,
        "t.toml:16:9",
        &["vnet \"red\" pipe 1: plr: expected a loss probability 0..=1, found the float 1.5"],
    );
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  plr = nan\n");
    assert_error(
        &text,
        "t.toml:16:9",
        &["plr: expected a loss probability 0..=1"],
    );
}

#[test]
fn pipes_and_queues_in_full() {
    let text = with_red(
        r#"  [[vnet.pipe]]
  id = 1
  bw = "20Mbit/s"
  delay = "1.5ms"
  queue = "100KBytes"
  burst = 3000
  gred = "0.002/10/30/0.1"
  mask = "src-ip 0xffffff00 dst-port 0xffff"
  buckets = 256
  noerror = true
  scheduler = "qfq"
  lmax = 2048
  [[vnet.pipe]]
  id = 2
  scheduler = "fq_codel"
  target = "2ms"
  interval = 50
  flows = 64
  quantum = 300
  [[vnet.queue]]
  id = 10
  pipe = 1
  weight = 3
  queue = 20
  mask = "all"
  [[vnet.queue]]
  id = 11
  pipe = 2
  prio = 2
"#,
    );
    let c = parse_str(&text, Path::new("t.toml")).unwrap();
    let v = &c.vnets[0];
    let p = &v.pipes[0];
    assert_eq!(
        (p.id, p.bw.bits_per_sec(), p.delay.nanos()),
        (1, 20_000_000, 1_500_000)
    );
    assert_eq!(p.queue, shaper::QueueLimit::Bytes(100 * 1024));
    assert_eq!(p.burst, 3000);
    assert!(p.red.unwrap().gentle);
    assert_eq!((p.mask.src_ip, p.mask.dst_port), (0xffff_ff00, 0xffff));
    assert!(p.noerror);
    assert_eq!(p.scheduler, shaper::SchedulerConfig::Qfq { lmax: 2048 });
    let shaper::SchedulerConfig::FqCodel(fq) = v.pipes[1].scheduler else {
        panic!("{:?}", v.pipes[1].scheduler)
    };
    assert_eq!(
        (fq.target.nanos(), fq.interval.nanos(), fq.flows, fq.quantum),
        (2_000_000, 50_000_000, 64, 300)
    );
    assert_eq!(v.queues.len(), 2);
    let q = &v.queues[0];
    assert_eq!(
        (q.id, q.pipe, q.weight, q.queue),
        (10, 1, 3, shaper::QueueLimit::Slots(20))
    );
    assert_eq!(q.mask, shaper::FlowMask::ALL);
    assert_eq!((v.queues[1].pipe, v.queues[1].prio), (2, 2));
}

#[test]
fn queue_names_a_pipe_of_its_vnet() {
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  [[vnet.queue]]\n  id = 5\n  pipe = 7\n");
    assert_error(
        &text,
        "t.toml:18:10",
        &["vnet \"red\" queue 5: pipe: expected the number of a pipe of this vnet, found 7 (defined: 1)"],
    );
    let text = with_red("  [[vnet.queue]]\n  id = 5\n");
    assert_error(&text, "t.toml:14:3", &["queue 5: missing key \"pipe\""]);
    let text = with_red(
        "  [[vnet.pipe]]\n  id = 1\n  [[vnet.queue]]\n  id = 5\n  pipe = 1\n  weight = 0\n",
    );
    assert_error(
        &text,
        "t.toml:19:12",
        &["queue 5: weight: expected a weight 1..=65536, found the integer 0"],
    );
}

#[test]
fn shaper_values_point_inside_their_strings() {
    // The mask's bad word is at column 25 of line 16: `  mask = "src-ip 0xff00 bogus"`.
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  mask = \"src-ip 0xff00 bogus\"\n");
    assert_error(
        &text,
        "t.toml:16:25",
        &["pipe 1: mask: expected a mask field", "found \"bogus\""],
    );
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  red = \"0.1/2\"\n");
    assert_error(
        &text,
        "t.toml:16:9",
        &["pipe 1: red: expected RED parameters", "found \"0.1/2\""],
    );
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  queue = \"lots\"\n");
    assert_error(
        &text,
        "t.toml:16:11",
        &["pipe 1: queue: expected a queue size"],
    );
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  scheduler = \"cbq\"\n");
    assert_error(
        &text,
        "t.toml:16:15",
        &["scheduler: expected a scheduler", "found \"cbq\""],
    );
    // An option of another scheduler is an error, not silently ignored.
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  scheduler = \"rr\"\n  lmax = 1500\n");
    assert_error(
        &text,
        "t.toml:17:10",
        &["pipe 1: lmax: not an option of the rr scheduler"],
    );
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  red = \"0.002/30/10/0.1\"\n");
    assert_error(
        &text,
        "t.toml:14:3",
        &["pipe 1: pipe/queue 1: expected RED min_th below max_th"],
    );
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  colour = \"red\"\n");
    let errs = errors(&text);
    assert!(errs[0].contains("colour"), "{errs:?}");
}

#[test]
fn duplicate_pipe_id() {
    let text = with_red("  [[vnet.pipe]]\n  id = 1\n  [[vnet.pipe]]\n  id = 1\n");
    assert_error(
        &text,
        "t.toml:17:8",
        &["vnet \"red\" pipe 1 is already defined at t.toml:15:8"],
    );
    let text = with_red("  [[vnet.pipe]]\n  id = 0\n");
    assert_error(
        &text,
        "t.toml:15:8",
        &["pipe #1: id: expected a pipe number 1..=65535, found the integer 0"],
    );
}

// ---- many errors at once ------------------------------------------------------------

#[test]
fn reports_all_errors_in_file_order() {
    let text = format!(
        "[dataplane]\nworkers = 0\n[metrics]\nlisten = \"nowhere\"\n{PORTS}{}  [[vnet.pipe]]\n  id = 1\n  plr = 2\n",
        RED.replace("vlan = 100", "vlan = 5000")
    );
    let err = parse_str(&text, Path::new("t.toml")).unwrap_err();
    let shown = err.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 4, "{shown}");
    assert!(
        lines[0].starts_with("t.toml:2:11: dataplane: workers"),
        "{shown}"
    );
    assert!(
        lines[1].starts_with("t.toml:4:10: metrics: listen"),
        "{shown}"
    );
    assert!(
        lines[2].starts_with("t.toml:16:10: vnet \"red\" interface \"lan\": vlan"),
        "{shown}"
    );
    assert!(
        lines[3].starts_with("t.toml:20:9: vnet \"red\" pipe 1: plr"),
        "{shown}"
    );
}

// ---- accepted configurations --------------------------------------------------------

/// The example from DESIGN.md, "Configuration".
pub(crate) const DESIGN_EXAMPLE: &str = r#"[dataplane]
workers = 1                                  # worker lcores
eal_args = ["--no-pci"]                      # extra EAL arguments

[api]
socket = "/run/vnetd/vnetd.sock"             # admin API, unix socket

[metrics]
listen = "127.0.0.1:9469"                    # GET /metrics, Prometheus text format

[[port]]
name = "trunk0"
device = "net_af_packet0,iface=veth-trunk"   # DPDK devargs; a PCI address on bare metal

[[vnet]]
name = "red"
routes_file = "red.routes"                   # optional bulk static routes: "PREFIX GATEWAY" per line,
                                             # path relative to this file

  [[vnet.interface]]
  name = "lan"
  port = "trunk0"
  vlan = 100                                 # omit for untagged
  addresses = ["10.0.1.1/24", "fd00:1::1/64"]

  [[vnet.route]]
  prefix = "0.0.0.0/0"
  via = "10.0.1.254"

  [[vnet.neighbor]]                          # static neighbor: no ARP/ND for this address
  address = "10.0.1.254"
  mac = "02:00:00:00:01:fe"

  [vnet.firewall]
  default = "allow"                          # what rule 65535 does
  rules = """
  add 100 deny tcp from any to any 23
  add 200 pipe 1 ip from 10.0.1.0/24 to any out
  """

  [[vnet.pipe]]
  id = 1
  bw = "10Mbit/s"
  delay = "20ms"
"#;

#[test]
fn design_example_parses() {
    let dir = TempDir::new();
    dir.write("red.routes", "# bulk routes\n10.10.0.0/16 10.0.1.254\nfd00:99::/48 fd00:1::fe\n\n192.0.2.0/24 10.0.1.2\n");
    let path = dir.write("vnetd.toml", DESIGN_EXAMPLE);
    let c = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.path, path);
    assert_eq!(
        c.dataplane,
        DataplaneConfig {
            workers: 1,
            eal_args: vec!["--no-pci".into()],
            burst: 32,
            mbufs: 8191
        }
    );
    assert_eq!(c.api.socket, PathBuf::from("/run/vnetd/vnetd.sock"));
    assert_eq!(c.metrics.listen, Some("127.0.0.1:9469".parse().unwrap()));
    assert_eq!(
        c.ports,
        vec![PortConfig {
            name: "trunk0".into(),
            device: "net_af_packet0,iface=veth-trunk".into()
        }]
    );
    let red = c.vnet("red").unwrap();
    let lan = red.interface("lan").unwrap();
    assert_eq!((lan.port, lan.vlan, lan.mac), (0, Some(100), None));
    assert_eq!(
        lan.addrs4,
        vec![IfAddr4 {
            addr: "10.0.1.1".parse().unwrap(),
            len: 24
        }]
    );
    assert_eq!(
        lan.addrs6,
        vec![IfAddr6 {
            addr: "fd00:1::1".parse().unwrap(),
            len: 64
        }]
    );
    let r4: Vec<String> = red
        .routes4
        .iter()
        .map(|r| format!("{}/{} {}", r.prefix, r.len, r.via))
        .collect();
    assert_eq!(
        r4,
        [
            "0.0.0.0/0 10.0.1.254",
            "10.10.0.0/16 10.0.1.254",
            "192.0.2.0/24 10.0.1.2"
        ]
    );
    assert_eq!(
        red.routes6,
        vec![Route6 {
            prefix: "fd00:99::".parse().unwrap(),
            len: 48,
            via: "fd00:1::fe".parse().unwrap()
        }]
    );
    assert_eq!(
        red.neighbors,
        vec![NeighborConfig {
            addr: "10.0.1.254".parse().unwrap(),
            mac: [2, 0, 0, 0, 1, 0xfe]
        }]
    );
    assert_eq!(red.firewall.default, firewall::DefaultPolicy::Allow);
    assert!(red
        .firewall
        .rules
        .starts_with("  add 100 deny tcp from any to any 23\n"));
    let at = red.firewall.rules_location.as_ref().unwrap();
    assert_eq!(
        (at.line, at.column),
        (37, 1),
        "the first rule line is the line after the quotes"
    );
    assert_eq!(red.pipes.len(), 1);
    let pipe = red.pipes[0];
    assert_eq!(
        (
            pipe.id,
            pipe.bw.bits_per_sec(),
            pipe.delay.nanos(),
            pipe.plr
        ),
        (1, 10_000_000, 20_000_000, 0.0)
    );
}

#[test]
fn defaults_for_an_empty_file() {
    let c = accept("");
    assert_eq!(c.dataplane, DataplaneConfig::default());
    assert_eq!(c.api.socket, PathBuf::from(DEFAULT_API_SOCKET));
    assert_eq!(c.metrics.listen, None);
    assert!(c.ports.is_empty() && c.vnets.is_empty());
}

#[test]
fn overlapping_address_plans_in_two_vnets_are_fine() {
    let tenant = |name: &str, vlan: u16| {
        format!(
            "[[vnet]]\nname = \"{name}\"\n  [[vnet.interface]]\n  name = \"lan\"\n  port = \"trunk0\"\n  vlan = {vlan}\n  \
             addresses = [\"10.0.0.1/24\"]\n  [[vnet.route]]\n  prefix = \"0.0.0.0/0\"\n  via = \"10.0.0.254\"\n  \
             [[vnet.neighbor]]\n  address = \"10.0.0.254\"\n  mac = \"02:00:00:00:00:fe\"\n  \
             [[vnet.pipe]]\n  id = 1\n  bw = 1000000\n  delay = 5\n  plr = 0\n"
        )
    };
    let c = accept(&format!(
        "{PORTS}{}{}",
        tenant("red", 10),
        tenant("blue", 20)
    ));
    assert_eq!(c.vnets.len(), 2);
    assert_eq!(c.vnets[0].routes4, c.vnets[1].routes4);
    assert_eq!(c.vnets[1].pipes[0].bw.bits_per_sec(), 1_000_000);
    assert_eq!(c.vnets[1].pipes[0].delay.nanos(), 5_000_000);
}

#[test]
fn routes_file_with_50k_lines() {
    let dir = TempDir::new();
    let mut routes = String::with_capacity(50_000 * 28);
    for i in 0..40_000u32 {
        routes.push_str(&format!(
            "{}.{}.{}.0/24 10.0.1.254\n",
            11 + (i >> 16),
            (i >> 8) & 255,
            i & 255
        ));
    }
    for i in 0..10_000u32 {
        routes.push_str(&format!("2001:db8:{i:x}::/48 fd00:1::fe # v6\n"));
    }
    dir.write("red.routes", &routes);
    let text = format!(
        "{PORTS}{}",
        RED.replace(
            "name = \"red\"\n",
            "name = \"red\"\nroutes_file = \"red.routes\"\n"
        )
    );
    let c = parse_str(&text, &dir.0.join("t.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.vnets[0].routes4.len(), 40_000);
    assert_eq!(c.vnets[0].routes6.len(), 10_000);
    assert_eq!(
        c.vnets[0].routes4[40_000 - 1].prefix,
        std::net::Ipv4Addr::new(11, 156, 63, 0)
    );
}

#[test]
fn error_display_is_one_line_per_error() {
    let e = ConfigError {
        errors: vec![
            LocatedError::new(
                Some(Location {
                    file: "a.toml".into(),
                    line: 3,
                    column: 9,
                }),
                "first",
            ),
            LocatedError::new(None, "second"),
        ],
    };
    assert_eq!(e.to_string(), "a.toml:3:9: first\nsecond");
}

#[test]
fn unreadable_config_file() {
    let dir = TempDir::new();
    let err = load(&dir.0.join("missing.toml")).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert!(
        err.to_string()
            .contains("missing.toml: cannot read the config file"),
        "{err}"
    );
}
