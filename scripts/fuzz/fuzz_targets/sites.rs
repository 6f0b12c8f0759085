//! The building file (`--sites`) and the UserAgent rules on any bytes: no panic; every site's
//! range holds its own network address and finds a site at least as long; bad lines name lines
//! that exist; and each line as a client IP or UserAgent gives a network and a client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tala_bulk::analyze::client::classify;
use tala_bulk::analyze::sites::{network_of, parse_client_ip, Sites};

fuzz_target!(|data: &[u8]| {
    let (sites, bad) = Sites::parse(data);
    // UTF-16 halves the bytes per line, so count lines of the widest reading.
    let lines = data.split(|b| *b == b'\n').count() as u64;
    for line in &bad {
        assert!(line.line >= 1 && line.line <= lines, "bad line {} of {lines}", line.line);
    }
    for site in sites.sites() {
        let found = sites.lookup(site.network.network()).expect("a site's own address matches");
        assert!(found.network.prefix_len() >= site.network.prefix_len());
        assert!(found.network.contains(&site.network.network()));
    }
    for line in String::from_utf8_lossy(data).lines() {
        let _ = classify(line);
        if let Some(ip) = parse_client_ip(line) {
            if let Some(site) = sites.lookup(ip) {
                assert!(site.network.contains(&ip));
            }
        }
        let _ = network_of(Some(&sites), line).cidr();
        let _ = network_of(None, line).cidr();
    }
});
