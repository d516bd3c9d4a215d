//! The validated configuration: plain data the dataplane builder consumes.
//!
//! Everything here has been checked: names are unique, references resolve
//! (`InterfaceConfig::port` indexes `Config::ports`), prefixes have no host bits,
//! gateways and neighbors are on connected subnets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use super::location::Location;

/// Default `[api] socket`.
pub const DEFAULT_API_SOCKET: &str = "/run/vnetd/vnetd.sock";
/// Default and largest `[dataplane] burst`: the RX/TX burst arrays hold 32 frames.
pub const DEFAULT_BURST: u16 = 32;
pub const MAX_BURST: u16 = 32;
/// Default `[dataplane] mbufs` (a power of two minus one suits DPDK's mempool ring).
pub const DEFAULT_MBUFS: u32 = 8191;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was loaded from, as given.
    pub path: PathBuf,
    pub dataplane: DataplaneConfig,
    pub api: ApiConfig,
    pub metrics: MetricsConfig,
    pub ports: Vec<PortConfig>,
    pub vnets: Vec<VnetConfig>,
}

impl Config {
    pub fn port(&self, name: &str) -> Option<&PortConfig> {
        self.ports.iter().find(|p| p.name == name)
    }

    pub fn vnet(&self, name: &str) -> Option<&VnetConfig> {
        self.vnets.iter().find(|v| v.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// Worker lcores, at least 1.
    pub workers: u16,
    /// Extra EAL arguments, passed as given.
    pub eal_args: Vec<String>,
    /// RX/TX burst size, 1..=MAX_BURST.
    pub burst: u16,
    /// Mbufs in the packet mempool.
    pub mbufs: u32,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            workers: 1,
            eal_args: Vec::new(),
            burst: DEFAULT_BURST,
            mbufs: DEFAULT_MBUFS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// The admin API's unix socket.
    pub socket: PathBuf,
    /// Optional TCP listener; every request on it needs a bearer token.
    pub listen: Option<SocketAddr>,
    /// SHA-256 of the admin token (the token itself is never stored).
    pub admin_token_sha256: Option<[u8; 32]>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            socket: PathBuf::from(DEFAULT_API_SOCKET),
            listen: None,
            admin_token_sha256: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsConfig {
    /// Where to serve `GET /metrics`; `None` = no metrics server.
    pub listen: Option<SocketAddr>,
    /// Per-rule firewall counters in /metrics (off: one series per rule).
    pub firewall_rules: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    pub name: String,
    /// DPDK devargs: a virtual device (`net_af_packet0,iface=veth0`) or a PCI address
    /// (`0000:03:00.0`), optionally followed by `,args`.
    pub device: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VnetConfig {
    pub name: String,
    /// SHA-256 of the tenant's token: it manages this vnet only (`[api] listen`).
    pub token_sha256: Option<[u8; 32]>,
    pub interfaces: Vec<InterfaceConfig>,
    /// `[[vnet.route]]` entries then the `routes_file` lines, IPv4 ones, in order.
    pub routes4: Vec<Route4>,
    pub routes6: Vec<Route6>,
    pub neighbors: Vec<NeighborConfig>,
    pub firewall: FirewallConfig,
    /// `[[vnet.pipe]]`, validated (ids unique).
    pub pipes: Vec<shaper::PipeConfig>,
    /// `[[vnet.queue]]`, validated (each names a pipe of this vnet).
    pub queues: Vec<shaper::QueueConfig>,
}

impl VnetConfig {
    pub fn interface(&self, name: &str) -> Option<&InterfaceConfig> {
        self.interfaces.iter().find(|i| i.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    pub name: String,
    /// Index into `Config::ports`.
    pub port: usize,
    /// 802.1Q VLAN id 1..=4094; `None` = untagged.
    pub vlan: Option<u16>,
    /// `None` = the port's own MAC.
    pub mac: Option<[u8; 6]>,
    pub addrs4: Vec<IfAddr4>,
    pub addrs6: Vec<IfAddr6>,
}

/// An interface address and the length of its connected subnet's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr4 {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl IfAddr4 {
    /// The connected subnet's network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & mask4(self.len))
    }

    /// Whether `addr` is on the connected subnet.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        (u32::from(addr) ^ u32::from(self.addr)) & mask4(self.len) == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr6 {
    pub addr: Ipv6Addr,
    pub len: u8,
}

impl IfAddr6 {
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & mask6(self.len))
    }

    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        (u128::from(addr) ^ u128::from(self.addr)) & mask6(self.len) == 0
    }
}

/// A static IPv4 route: `prefix/len` via the gateway `via`; `prefix` has no host bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route4 {
    pub prefix: Ipv4Addr,
    pub len: u8,
    pub via: Ipv4Addr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route6 {
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub via: Ipv6Addr,
}

/// A static neighbor: no ARP/ND for this address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborConfig {
    pub addr: IpAddr,
    pub mac: [u8; 6],
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirewallConfig {
    /// What rule 65535 does.
    pub default: firewall::DefaultPolicy,
    /// ipfw rule text, exactly as written.
    pub rules: String,
    /// Where the first character of `rules` is in the config file (for a `"""` string,
    /// the line after the quotes), so rule compile errors can point into the file:
    /// line N of `rules` is at line `rules_location.line + N - 1`. `None` without rules.
    pub rules_location: Option<Location>,
    /// Dynamic-state table size (ipfw's net.inet.ip.fw.dyn_max); None: 8,192.
    pub max_states: Option<usize>,
}

/// The netmask of an IPv4 prefix length (0..=32).
pub(crate) fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// The netmask of an IPv6 prefix length (0..=128).
pub(crate) fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask4(0), 0);
        assert_eq!(mask4(24), 0xffff_ff00);
        assert_eq!(mask4(32), u32::MAX);
        assert_eq!(mask6(0), 0);
        assert_eq!(mask6(128), u128::MAX);
        assert_eq!(mask6(64), u128::MAX << 64);
    }

    #[test]
    fn connected_subnet() {
        let a = IfAddr4 {
            addr: Ipv4Addr::new(10, 0, 1, 1),
            len: 24,
        };
        assert_eq!(a.network(), Ipv4Addr::new(10, 0, 1, 0));
        assert!(a.contains(Ipv4Addr::new(10, 0, 1, 254)));
        assert!(!a.contains(Ipv4Addr::new(10, 0, 2, 1)));
        let b = IfAddr6 {
            addr: "fd00:1::1".parse().unwrap(),
            len: 64,
        };
        assert_eq!(b.network(), "fd00:1::".parse::<Ipv6Addr>().unwrap());
        assert!(b.contains("fd00:1::ff".parse().unwrap()));
    }
}
