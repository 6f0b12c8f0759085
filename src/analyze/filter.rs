//! Which connections the disconnection rule looks at: tala's `-i REGEX` on the client IP, and
//! `--cidr NET` (repeatable, IPv4 and IPv6). Both look at the address only, without a port
//! (`1.2.3.4:5678`, `[2a01::1]:443`). Given together, a connection must pass both.

use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use crate::analyze::meetings::ConnFilter;

#[derive(Debug, Clone, Default)]
pub struct IpFilter {
    pub regex: Option<Regex>,
    pub nets: Vec<IpNet>,
}

impl IpFilter {
    pub fn is_empty(&self) -> bool {
        self.regex.is_none() && self.nets.is_empty()
    }
}

/// The address part of a ClientIP: `[v6]:port` and `v4:port` lose the port and brackets.
pub fn address(client_ip: &str) -> &str {
    let ip = client_ip.trim();
    if let Some(rest) = ip.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match ip.split_once(':') {
        // One colon: IPv4 with a port. More: a bare IPv6 address.
        Some((v4, port)) if !port.contains(':') => v4,
        _ => ip,
    }
}

impl ConnFilter for IpFilter {
    fn keep(&self, client_ip: &str) -> bool {
        let addr = address(client_ip);
        if self.regex.as_ref().is_some_and(|re| !re.is_match(addr)) {
            return false;
        }
        if self.nets.is_empty() {
            return true;
        }
        // An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) is also its IPv4 address, as the
        // networks report counts it: an IPv4 range takes it as well as an IPv6 one.
        addr.parse::<IpAddr>().is_ok_and(|ip| {
            let v4 = ip.to_canonical();
            self.nets.iter().any(|net| net.contains(&ip) || net.contains(&v4))
        })
    }

    fn keeps_all(&self) -> bool {
        self.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_their_port() {
        assert_eq!(address("1.2.3.4:5678"), "1.2.3.4");
        assert_eq!(address("[2a01::1]:443"), "2a01::1");
        assert_eq!(address("2a01:111:f400::1"), "2a01:111:f400::1");
        assert_eq!(address("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn regex_and_cidr_together() {
        let f = IpFilter {
            regex: Some(Regex::new(r"^10\.").unwrap()),
            nets: vec!["10.57.0.0/16".parse().unwrap(), "2a01::/16".parse().unwrap()],
        };
        assert!(f.keep("10.57.3.4:1234"));
        assert!(!f.keep("10.58.3.4"));
        assert!(!f.keep("[2a01::1]:443"), "the regex rules it out");
        let v6 = IpFilter { regex: None, nets: vec!["2a01::/16".parse().unwrap()] };
        assert!(v6.keep("[2a01::1]:443"));
        assert!(!v6.keep("not an ip"));
    }

    #[test]
    fn an_ipv4_mapped_address_is_in_the_ipv4_range_of_its_address() {
        let v4 = IpFilter { regex: None, nets: vec!["10.57.0.0/16".parse().unwrap()] };
        assert!(v4.keep("::ffff:10.57.3.4"));
        assert!(v4.keep("[::ffff:10.57.3.4]:443"));
        assert!(!v4.keep("::ffff:10.58.3.4"));
        assert!(!v4.keep("::10.57.3.4"), "IPv4-compatible, not mapped: an IPv6 address");
        let mapped = IpFilter { regex: None, nets: vec!["::ffff:0:0/96".parse().unwrap()] };
        assert!(mapped.keep("::ffff:10.57.3.4"), "an IPv6 range still takes it as written");
        assert!(!mapped.keep("10.57.3.4"));
    }
}
