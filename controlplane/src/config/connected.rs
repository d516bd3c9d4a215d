//! A vnet's connected subnets: where gateways and static neighbors must be.
//!
//! A vnet has a handful of interface addresses, so a linear scan per lookup is the
//! fastest structure there is; it allocates only to describe an error.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::model::{IfAddr4, IfAddr6, InterfaceConfig};

pub(crate) struct Connected<'a> {
    v4: Vec<(IfAddr4, &'a str)>,
    v6: Vec<(IfAddr6, &'a str)>,
    /// False when an interface address failed to parse: then nothing is checked, so
    /// one bad address does not cascade into an error for every route.
    complete: bool,
}

impl<'a> Connected<'a> {
    pub(crate) fn new(interfaces: &'a [InterfaceConfig], complete: bool) -> Self {
        let mut c = Connected {
            v4: Vec::new(),
            v6: Vec::new(),
            complete,
        };
        for i in interfaces {
            c.v4.extend(i.addrs4.iter().map(|a| (*a, i.name.as_str())));
            c.v6.extend(i.addrs6.iter().map(|a| (*a, i.name.as_str())));
        }
        c
    }

    pub(crate) fn check4(&self, addr: Ipv4Addr, role: &str) -> Result<(), String> {
        if !self.complete {
            return Ok(());
        }
        for (a, name) in &self.v4 {
            if a.contains(addr) {
                return own_address(a.addr == addr, addr.into(), role, name);
            }
        }
        Err(self.not_connected(addr.into(), role))
    }

    pub(crate) fn check6(&self, addr: Ipv6Addr, role: &str) -> Result<(), String> {
        if !self.complete {
            return Ok(());
        }
        for (a, name) in &self.v6 {
            if a.contains(addr) {
                return own_address(a.addr == addr, addr.into(), role, name);
            }
        }
        Err(self.not_connected(addr.into(), role))
    }

    pub(crate) fn check(&self, addr: IpAddr, role: &str) -> Result<(), String> {
        match addr {
            IpAddr::V4(a) => self.check4(a, role),
            IpAddr::V6(a) => self.check6(a, role),
        }
    }

    fn not_connected(&self, addr: IpAddr, role: &str) -> String {
        let mut subnets = String::new();
        let mut add = |net: &dyn std::fmt::Display, len: u8, name: &str| {
            let sep = if subnets.is_empty() { "" } else { ", " };
            let _ = write!(subnets, "{sep}{net}/{len} (interface \"{name}\")");
        };
        match addr {
            IpAddr::V4(_) => self
                .v4
                .iter()
                .for_each(|(a, n)| add(&a.network(), a.len, n)),
            IpAddr::V6(_) => self
                .v6
                .iter()
                .for_each(|(a, n)| add(&a.network(), a.len, n)),
        }
        if subnets.is_empty() {
            let family = super::addr::family(addr);
            format!("{role} {addr} is not on a connected subnet: no interface of this vnet has an {family} address")
        } else {
            format!(
                "{role} {addr} is not on a connected subnet: expected an address within {subnets}"
            )
        }
    }
}

fn own_address(own: bool, addr: IpAddr, role: &str, name: &str) -> Result<(), String> {
    if own {
        Err(format!(
            "{role} {addr} is this vnet's own address on interface \"{name}\": expected another host on that subnet"
        ))
    } else {
        Ok(())
    }
}
