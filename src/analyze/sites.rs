//! Where a connection comes from (SPEC 4): the Call Quality Dashboard "building file" that admins
//! keep, parsed into a longest-prefix table, and the network a client IP belongs to: the building
//! file's range when one contains it, else the /24 (IPv4) or /48 (IPv6) around it, else `?`.
//! Pure: bytes in, sites out; reading the file and the reports that use it live elsewhere.
//!
//! ## The building file
//! No header; one network per line, comma- or tab-separated (tab when the first non-blank line
//! holds a tab), fields optionally quoted with `"`, 15 columns:
//!
//! | #  | column             | #  | column       |
//! |----|--------------------|----|--------------|
//! | 1  | NetworkIP          | 9  | ZipCode      |
//! | 2  | NetworkName        | 10 | Country      |
//! | 3  | NetworkRange       | 11 | State        |
//! | 4  | BuildingName       | 12 | Region       |
//! | 5  | OwnershipType      | 13 | InsideCorp   |
//! | 6  | BuildingType       | 14 | ExpressRoute |
//! | 7  | BuildingOfficeType | 15 | VPN (may be left out) |
//! | 8  | City               |    |              |
//!
//! NetworkIP is an IPv4 or IPv6 address, NetworkRange its prefix length; an address with host
//! bits set is accepted and truncated (10.1.2.3 with 22 is 10.1.0.0/22), as CQD does. The
//! booleans are `0`/`1` (`true`/`false` in any case also pass); an empty VPN is "not said".
//! Fields are trimmed. What a line cannot be made into a site is returned with its line number
//! and skipped: one bad row of a hand-kept file should not lose the other thousand.
//!
//! Encoding: UTF-8 (a BOM is dropped) or UTF-16 with a BOM (Excel's "Unicode text", which is also
//! tab-separated). A file that is neither is read as Windows-1252: that is what Excel's plain
//! "CSV" save writes on a Western Windows, and the building names would otherwise lose their
//! accents to replacement characters.
//!
//! ## Lookup
//! It runs once per distinct client IP (about 700k in a big run), so it is a few hash probes:
//! per address family, one map per prefix length present (masked address → site), probed from
//! the longest length down; the first hit is the longest match.

use std::borrow::Cow;
use std::hash::Hash;
use std::net::IpAddr;

use hashbrown::HashMap;
use ipnet::IpNet;

/// One line of the building file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// NetworkIP/NetworkRange, truncated to the network address.
    pub network: IpNet,
    pub network_name: String,
    pub building: String,
    pub ownership_type: String,
    pub building_type: String,
    pub office_type: String,
    pub city: String,
    pub zip: String,
    pub country: String,
    pub state: String,
    pub region: String,
    pub inside_corp: bool,
    pub express_route: bool,
    /// `None` when the column is absent (14-column files) or empty.
    pub vpn: Option<bool>,
}

/// A line of the building file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based; for a record with a quoted line break, the line it starts on.
    pub line: u64,
    pub reason: String,
}

/// The sites of a building file, indexed for longest-prefix lookup.
#[derive(Debug, Clone, Default)]
pub struct Sites {
    /// In file order: the index is also the tie-break between equal ranges.
    sites: Vec<Site>,
    v4: Table<u32>,
    v6: Table<u128>,
    overlapping: usize,
}

impl Sites {
    /// Parses a building file's bytes. Malformed lines are returned (with their line numbers)
    /// and skipped; never fails on content.
    pub fn parse(bytes: &[u8]) -> (Sites, Vec<BadLine>) {
        let text = decode(bytes);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter(&text))
            .from_reader(text.as_bytes());
        let mut sites = Vec::new();
        let mut bad = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    // Cannot happen on a `&str` with `flexible`: no I/O, valid UTF-8, any
                    // width. Should it, the reader cannot be trusted to move on.
                    let line = e.position().map_or(0, |p| p.line());
                    bad.push(BadLine { line, reason: format!("unreadable: {e}") });
                    break;
                }
            }
            let line = record.position().map_or(0, |p| p.line());
            match site(&record) {
                Ok(Some(site)) => sites.push(site),
                Ok(None) => {}
                Err(reason) => bad.push(BadLine { line, reason }),
            }
        }
        (Sites::from_sites(sites), bad)
    }

    /// Indexes sites given in file order.
    fn from_sites(sites: Vec<Site>) -> Sites {
        let mut v4 = Table::default();
        let mut v6 = Table::default();
        let mut duplicates = 0;
        for (i, site) in sites.iter().enumerate() {
            let first = match site.network {
                IpNet::V4(net) => v4.insert(u32::from(net.network()), net.prefix_len(), i),
                IpNet::V6(net) => v6.insert(u128::from(net.network()), net.prefix_len(), i),
            };
            if !first {
                duplicates += 1;
            }
        }
        v4.finish();
        v6.finish();
        let overlapping = duplicates + v4.nested() + v6.nested();
        Sites { sites, v4, v6, overlapping }
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// The sites in file order (the ones `lookup` never returns, hidden by an equal earlier
    /// range, included).
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// How many ranges lie inside another (nested or equal ranges): longest prefix wins; for
    /// two equal ranges the earlier line wins and the later is counted here too.
    pub fn overlapping(&self) -> usize {
        self.overlapping
    }

    /// The longest-prefix match for an address. An IPv4-mapped IPv6 address is looked up as
    /// the IPv4 address it maps.
    pub fn lookup(&self, ip: IpAddr) -> Option<&Site> {
        let i = match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.lookup(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.lookup(u128::from(v6)),
        }?;
        self.sites.get(i)
    }
}

/// An address family's bits, maskable to a prefix.
trait Bits: Copy + Eq + Hash {
    fn masked(self, len: u8) -> Self;
}

impl Bits for u32 {
    fn masked(self, len: u8) -> u32 {
        // `checked_shl` covers len 0 (a shift by the full width), the /0 that contains all.
        self & u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0)
    }
}

impl Bits for u128 {
    fn masked(self, len: u8) -> u128 {
        self & u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0)
    }
}

/// One family's ranges: per prefix length present, network address → index of its site.
#[derive(Debug, Clone)]
struct Table<K> {
    /// Longest prefix first once `finish`ed.
    by_len: Vec<(u8, HashMap<K, usize>)>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table { by_len: Vec::new() }
    }
}

impl<K: Bits> Table<K> {
    /// Records site `i` for `network/len`; false when an earlier site holds the same range
    /// (which keeps it: the earlier line wins).
    fn insert(&mut self, network: K, len: u8, i: usize) -> bool {
        let slot = match self.by_len.iter().position(|(l, _)| *l == len) {
            Some(slot) => slot,
            None => {
                self.by_len.push((len, HashMap::new()));
                self.by_len.len() - 1
            }
        };
        let Some((_, map)) = self.by_len.get_mut(slot) else { return false };
        match map.entry(network.masked(len)) {
            hashbrown::hash_map::Entry::Vacant(e) => {
                e.insert(i);
                true
            }
            hashbrown::hash_map::Entry::Occupied(_) => false,
        }
    }

    fn finish(&mut self) {
        self.by_len.sort_unstable_by_key(|(len, _)| std::cmp::Reverse(*len));
    }

    fn lookup(&self, addr: K) -> Option<usize> {
        self.by_len.iter().find_map(|(len, map)| map.get(&addr.masked(*len)).copied())
    }

    /// How many of the ranges kept lie inside a shorter one.
    fn nested(&self) -> usize {
        let mut count = 0;
        for (at, (len, map)) in self.by_len.iter().enumerate() {
            // `by_len` is longest first: the shorter lengths come after `at`.
            let shorter = self.by_len.get(at + 1..).unwrap_or_default();
            count += map
                .keys()
                .filter(|net| {
                    shorter.iter().any(|(l, m)| *l < *len && m.contains_key(&net.masked(*l)))
                })
                .count();
        }
        count
    }
}

/// The text of a building file (see the module doc for the encodings).
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let rest = bytes.get(bom..).unwrap_or_default();
        return encoding.decode_without_bom_handling(rest).0;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}

/// Tab when the first non-blank line holds one, else comma.
fn delimiter(text: &str) -> u8 {
    let first = text.lines().find(|line| !line.trim().is_empty()).unwrap_or_default();
    if first.contains('\t') {
        b'\t'
    } else {
        b','
    }
}

/// A line's site; `Ok(None)` for a blank line. A line of empty fields counts as blank: Excel
/// writes such rows (`,,,,,,,,,,,,,,`) below the data when cells there were ever touched.
fn site(record: &csv::StringRecord) -> Result<Option<Site>, String> {
    let mut f: Vec<&str> = record.iter().map(str::trim).collect();
    if f.iter().all(|s| s.is_empty()) {
        return Ok(None);
    }
    // Excel also pads every row to its widest one: empty cells past the 15th are not columns.
    while f.len() > 15 && f.last().is_some_and(|s| s.is_empty()) {
        f.pop();
    }
    if f.first().is_some_and(|s| s.eq_ignore_ascii_case("NetworkIP")) {
        return Err("a header line (a building file has none)".to_string());
    }
    let [ip, name, range, building, ownership, btype, office, city, zip, country, state, region, inside, express, rest @ ..] =
        f.as_slice()
    else {
        return Err(columns(f.len()));
    };
    let vpn = match rest {
        [] | [""] => None,
        [vpn] => Some(boolean("VPN", vpn)?),
        _ => return Err(columns(f.len())),
    };
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| format!("NetworkIP {:?} is not an IPv4 or IPv6 address", shown(ip)))?;
    let network = network(addr, range)?;
    Ok(Some(Site {
        network,
        network_name: name.to_string(),
        building: building.to_string(),
        ownership_type: ownership.to_string(),
        building_type: btype.to_string(),
        office_type: office.to_string(),
        city: city.to_string(),
        zip: zip.to_string(),
        country: country.to_string(),
        state: state.to_string(),
        region: region.to_string(),
        inside_corp: boolean("InsideCorp", inside)?,
        express_route: boolean("ExpressRoute", express)?,
        vpn,
    }))
}

fn columns(n: usize) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} column{s}, expected 14 or 15")
}

/// `addr/range`, truncated to its network address.
fn network(addr: IpAddr, range: &str) -> Result<IpNet, String> {
    if range.is_empty() {
        return Err("NetworkRange is empty".to_string());
    }
    if !range.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("NetworkRange {:?} is not a number", shown(range)));
    }
    let (max, family) = if addr.is_ipv4() { (32, "IPv4") } else { (128, "IPv6") };
    // Digits only: a parse failure is an overflow, which is too long as well.
    let len = range.parse::<u8>().ok().filter(|&len| len <= max).ok_or_else(|| {
        format!("NetworkRange {} is more than {max} for an {family} address", shown(range))
    })?;
    IpNet::new(addr, len)
        .map(|net| net.trunc())
        .map_err(|_| format!("NetworkRange {len} is more than {max} for an {family} address"))
}

fn boolean(column: &str, s: &str) -> Result<bool, String> {
    match s {
        "1" => Ok(true),
        "0" => Ok(false),
        _ if s.eq_ignore_ascii_case("true") => Ok(true),
        _ if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!("{column} {:?} is not 0, 1, true or false", shown(s))),
    }
}

/// A field as quoted in a reason: a binary file's "field" can be kilobytes long.
fn shown(s: &str) -> Cow<'_, str> {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => Cow::Owned(format!("{}…", s.get(..end).unwrap_or_default())),
        None => Cow::Borrowed(s),
    }
}

/// A client IP as audit records write it: `1.2.3.4`, `1.2.3.4:443`, `2a01:db8::1`,
/// `[2a01:db8::1]:443`, maybe with surrounding spaces; an IPv4-mapped IPv6 (`::ffff:1.2.3.4`)
/// counts as the IPv4 address. `None` when unparsable or empty.
pub fn parse_client_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let ip = if let Some(rest) = s.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        addr.parse().ok()?
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else {
        // One colon: IPv4 with a port (a bare IPv6 address parsed above).
        let (addr, port) = s.split_once(':')?;
        if !is_port(port) {
            return None;
        }
        IpAddr::V4(addr.parse().ok()?)
    };
    Some(ip.to_canonical())
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The network a connection belongs to (SPEC 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network<'a> {
    /// The longest building-file range containing the address.
    Site(&'a Site),
    /// No range matched (or no building file): the /24 around an IPv4 address, the /48 around
    /// an IPv6 one.
    Block(IpNet),
    /// No address, or not one that parses: shown as `?`.
    Unknown,
}

/// The network of `client_ip` as the audit record writes it (see [`parse_client_ip`]).
pub fn network_of<'a>(sites: Option<&'a Sites>, client_ip: &str) -> Network<'a> {
    parse_client_ip(client_ip).map_or(Network::Unknown, |ip| network_of_ip(sites, ip))
}

/// The network of an address already parsed (see [`parse_client_ip`]).
pub fn network_of_ip(sites: Option<&Sites>, ip: IpAddr) -> Network<'_> {
    if let Some(site) = sites.and_then(|sites| sites.lookup(ip)) {
        return Network::Site(site);
    }
    let len = if ip.is_ipv4() { 24 } else { 48 };
    IpNet::new(ip, len).map_or(Network::Unknown, |net| Network::Block(net.trunc()))
}

impl<'a> Network<'a> {
    /// CIDR text: `10.1.0.0/22`, `2a01:db8:12::/48`, or `?`.
    pub fn cidr(&self) -> String {
        match self {
            Network::Site(site) => site.network.to_string(),
            Network::Block(net) => net.to_string(),
            Network::Unknown => "?".to_string(),
        }
    }

    /// The building-file line behind the network, if any.
    pub fn site(&self) -> Option<&'a Site> {
        match self {
            Network::Site(site) => Some(site),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A full 15-column line with the descriptive columns filled in.
    fn row(ip: &str, name: &str, range: &str) -> String {
        format!("{ip},{name},{range},HQ,Owned,Office,Open plan,Oslo,0150,Norway,Oslo,EMEA,1,0,0\n")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn name_at(sites: &Sites, addr: &str) -> Option<String> {
        sites.lookup(ip(addr)).map(|site| site.network_name.clone())
    }

    fn parse_ok(text: &str) -> Sites {
        let (sites, bad) = Sites::parse(text.as_bytes());
        assert_eq!(bad, vec![]);
        sites
    }

    #[test]
    fn a_csv_file() {
        let sites = parse_ok(
            "10.1.0.0,Oslo HQ,22,Head Office,Owned,Office,Open plan,Oslo,0150,Norway,Oslo,EMEA,1,0,1\n",
        );
        assert_eq!(sites.len(), 1);
        assert_eq!(
            sites.sites()[0],
            Site {
                network: "10.1.0.0/22".parse().unwrap(),
                network_name: "Oslo HQ".into(),
                building: "Head Office".into(),
                ownership_type: "Owned".into(),
                building_type: "Office".into(),
                office_type: "Open plan".into(),
                city: "Oslo".into(),
                zip: "0150".into(),
                country: "Norway".into(),
                state: "Oslo".into(),
                region: "EMEA".into(),
                inside_corp: true,
                express_route: false,
                vpn: Some(true),
            }
        );
        assert_eq!(name_at(&sites, "10.1.3.255").as_deref(), Some("Oslo HQ"));
        assert_eq!(name_at(&sites, "10.1.4.0"), None);
        assert_eq!(name_at(&sites, "10.0.255.255"), None);
    }

    #[test]
    fn a_tsv_file_with_bom_crlf_spaces_and_14_columns() {
        let text = "\u{feff}\r\n 10.2.3.4 \t Lab \t 16\tB2\tLeased\tLab\t\tBergen\t5003\tNorway\t\tEMEA\tTRUE\tfalse\r\n\
                    10.3.0.0\tLab, annex\t16\tB3\tLeased\tLab\t\tBergen\t5003\tNorway\t\tEMEA\t0\t1\t\r\n";
        let sites = parse_ok(text);
        assert_eq!(sites.len(), 2);
        let lab = sites.lookup(ip("10.2.200.1")).unwrap();
        // The host bits of 10.2.3.4 are dropped.
        assert_eq!(lab.network.to_string(), "10.2.0.0/16");
        assert_eq!((lab.network_name.as_str(), lab.building.as_str()), ("Lab", "B2"));
        assert_eq!((lab.office_type.as_str(), lab.state.as_str()), ("", ""));
        assert_eq!((lab.inside_corp, lab.express_route, lab.vpn), (true, false, None));
        // A comma is no delimiter in a tab-separated file; an empty VPN is not said.
        let annex = sites.lookup(ip("10.3.0.1")).unwrap();
        assert_eq!(annex.network_name, "Lab, annex");
        assert_eq!((annex.inside_corp, annex.express_route, annex.vpn), (false, true, None));
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_line_breaks() {
        let text = "\"10.2.0.0\",\"Lab, 2nd floor\",16,\"Building \"\"B\"\"\",Owned,Office,,Oslo,,Norway,,EMEA,1,0,0\n\
                    10.4.0.0,\"two\nlines\",16,B,Owned,Office,,Oslo,,Norway,,EMEA,1,0,0\n\
                    10.5.0.0,after,99,B,Owned,Office,,Oslo,,Norway,,EMEA,1,0,0\n";
        let (sites, bad) = Sites::parse(text.as_bytes());
        assert_eq!(sites.len(), 2);
        let lab = sites.lookup(ip("10.2.0.1")).unwrap();
        assert_eq!(lab.network_name, "Lab, 2nd floor");
        assert_eq!(lab.building, "Building \"B\"");
        assert_eq!(name_at(&sites, "10.4.0.1").as_deref(), Some("two\nlines"));
        // The record with a line break took lines 2 and 3: the bad one is on line 4.
        assert_eq!(
            bad,
            vec![BadLine {
                line: 4,
                reason: "NetworkRange 99 is more than 32 for an IPv4 address".into()
            }]
        );
    }

    #[test]
    fn nested_ipv4_ranges_longest_prefix_wins() {
        let text = row("10.0.0.0", "campus", "16")
            + &row("10.0.1.0", "floor 1", "24")
            + &row("10.0.1.16", "rooms", "28")
            + &row("10.0.1.17", "one host", "32");
        let sites = parse_ok(&text);
        assert_eq!(name_at(&sites, "10.0.2.5").as_deref(), Some("campus"));
        assert_eq!(name_at(&sites, "10.0.255.255").as_deref(), Some("campus"));
        assert_eq!(name_at(&sites, "10.0.1.5").as_deref(), Some("floor 1"));
        assert_eq!(name_at(&sites, "10.0.1.32").as_deref(), Some("floor 1"));
        assert_eq!(name_at(&sites, "10.0.1.15").as_deref(), Some("floor 1"));
        assert_eq!(name_at(&sites, "10.0.1.16").as_deref(), Some("rooms"));
        assert_eq!(name_at(&sites, "10.0.1.31").as_deref(), Some("rooms"));
        assert_eq!(name_at(&sites, "10.0.1.17").as_deref(), Some("one host"));
        assert_eq!(name_at(&sites, "10.1.0.0"), None);
        // An IPv4-mapped IPv6 address is the IPv4 address.
        assert_eq!(name_at(&sites, "::ffff:10.0.1.20").as_deref(), Some("rooms"));
        // floor 1, rooms and the host each lie inside another range; the campus does not.
        assert_eq!(sites.overlapping(), 3);
    }

    #[test]
    fn nested_ipv6_ranges_longest_prefix_wins() {
        let text = row("2a01:db8::", "corp", "32")
            + &row("2a01:db8:12::", "site 12", "48")
            + &row("2a01:db8:12:3400::", "floor", "56")
            + &row("2a01:db8:12:3456::1", "host", "128")
            + &row("10.0.0.0", "v4", "8")
            + &row("::", "everything v6", "0");
        let sites = parse_ok(&text);
        assert_eq!(name_at(&sites, "2a01:db8:1::1").as_deref(), Some("corp"));
        assert_eq!(name_at(&sites, "2a01:db8:12:ff00::1").as_deref(), Some("site 12"));
        assert_eq!(name_at(&sites, "2a01:db8:12:34ab::1").as_deref(), Some("floor"));
        assert_eq!(name_at(&sites, "2a01:db8:12:3456::1").as_deref(), Some("host"));
        assert_eq!(name_at(&sites, "2a01:db8:12:3456::2").as_deref(), Some("floor"));
        assert_eq!(name_at(&sites, "2a01:db9::1").as_deref(), Some("everything v6"));
        // The v6 /0 does not hold IPv4 addresses, mapped ones included.
        assert_eq!(name_at(&sites, "11.0.0.1"), None);
        assert_eq!(name_at(&sites, "::ffff:11.0.0.1"), None);
        assert_eq!(name_at(&sites, "10.9.9.9").as_deref(), Some("v4"));
        assert_eq!(
            sites.lookup(ip("2a01:db8:12:34ab::1")).map(|s| s.network.to_string()).as_deref(),
            Some("2a01:db8:12:3400::/56")
        );
        // corp, site 12, floor and host all lie in ::/0.
        assert_eq!(sites.overlapping(), 4);
    }

    #[test]
    fn equal_ranges_the_earlier_line_wins() {
        let text = row("10.0.0.0", "first", "24")
            + &row("10.0.0.7", "second", "24")
            + &row("10.0.0.0", "third", "24")
            + &row("10.9.0.0", "apart", "24");
        let sites = parse_ok(&text);
        assert_eq!(sites.len(), 4);
        assert_eq!(name_at(&sites, "10.0.0.200").as_deref(), Some("first"));
        assert_eq!(sites.overlapping(), 2);
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let text = [
            row("10.0.0.0", "good 1", "16"),
            row("10.0.0.300", "bad ip", "16"),
            "\n".to_string(),
            row("10.1.0.0", "good 2", "16"),
            row("10.2.0.0", "too long", "40"),
            row("10.3.0.0", "words", "x16"),
            "10.4.0.0,short,16,HQ,Owned,Office,Open plan,Oslo,0150,Norway,Oslo,EMEA\n".to_string(),
            "10.5.0.0,bool,16,HQ,Owned,Office,,Oslo,,Norway,,EMEA,yes,0,0\n".to_string(),
            row("2a01:db8::", "v6 too long", "129"),
            row("10.6.0.0", "no range", ""),
            "10.7.0.0,vpn,16,HQ,Owned,Office,,Oslo,,Norway,,EMEA,1,0,2\n".to_string(),
            "10.8.0.0,wide,16,HQ,Owned,Office,,Oslo,,Norway,,EMEA,1,0,0,x\n".to_string(),
            "10.9.0.0,express,16,HQ,Owned,Office,,Oslo,,Norway,,EMEA,1,,0\n".to_string(),
            row("2a01:db8::", "good 3", "32"),
            "one field\n".to_string(),
        ]
        .concat();
        let (sites, bad) = Sites::parse(text.as_bytes());
        let want = [
            (2, "NetworkIP \"10.0.0.300\" is not an IPv4 or IPv6 address"),
            (5, "NetworkRange 40 is more than 32 for an IPv4 address"),
            (6, "NetworkRange \"x16\" is not a number"),
            (7, "12 columns, expected 14 or 15"),
            (8, "InsideCorp \"yes\" is not 0, 1, true or false"),
            (9, "NetworkRange 129 is more than 128 for an IPv6 address"),
            (10, "NetworkRange is empty"),
            (11, "VPN \"2\" is not 0, 1, true or false"),
            (12, "16 columns, expected 14 or 15"),
            (13, "ExpressRoute \"\" is not 0, 1, true or false"),
            (15, "1 column, expected 14 or 15"),
        ]
        .map(|(line, reason)| BadLine { line, reason: reason.into() });
        assert_eq!(bad, want);
        assert_eq!(sites.len(), 3);
        assert_eq!(name_at(&sites, "10.0.9.9").as_deref(), Some("good 1"));
        assert_eq!(name_at(&sites, "10.1.9.9").as_deref(), Some("good 2"));
        assert_eq!(name_at(&sites, "2a01:db8::5").as_deref(), Some("good 3"));
        assert_eq!(name_at(&sites, "10.2.0.1"), None);
    }

    #[test]
    fn excel_leftovers_a_header_and_odd_encodings() {
        // Rows of empty cells, and every row padded with empty cells to the widest one.
        let text = "NetworkIP,NetworkName,NetworkRange,BuildingName,OwnershipType,BuildingType,BuildingOfficeType,City,ZipCode,Country,State,Region,InsideCorp,ExpressRoute,VPN\n\
                    10.0.0.0,padded,16,HQ,Owned,Office,,Oslo,,Norway,,EMEA,1,0,0,,,\n\
                    ,,,,,,,,,,,,,,,,,\n";
        let (sites, bad) = Sites::parse(text.as_bytes());
        assert_eq!(
            bad,
            vec![BadLine { line: 1, reason: "a header line (a building file has none)".into() }]
        );
        assert_eq!(name_at(&sites, "10.0.0.1").as_deref(), Some("padded"));

        // Excel's "Unicode text": UTF-16LE with a BOM, tab-separated.
        let line = "10.0.0.0\tZürich\t16\tHQ\tOwned\tOffice\t\tZürich\t8000\tSwitzerland\t\tEMEA\t1\t0\t0\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(line.encode_utf16().flat_map(u16::to_le_bytes));
        let (sites, bad) = Sites::parse(&utf16);
        assert_eq!(bad, vec![]);
        assert_eq!(sites.lookup(ip("10.0.0.1")).map(|s| s.city.as_str()), Some("Zürich"));

        // Excel's plain "CSV" on a Western Windows: Windows-1252.
        let cp1252 =
            b"10.0.0.0,Z\xfcrich,16,HQ,Owned,Office,,Z\xfcrich,8000,Switzerland,,EMEA,1,0,0\n";
        let (sites, bad) = Sites::parse(cp1252);
        assert_eq!(bad, vec![]);
        assert_eq!(sites.lookup(ip("10.0.0.1")).map(|s| s.city.as_str()), Some("Zürich"));
    }

    #[test]
    fn empty_files() {
        for text in ["", "\u{feff}", "\n\n  \n", "\t\n"] {
            let (sites, bad) = Sites::parse(text.as_bytes());
            assert!(sites.is_empty() && bad.is_empty(), "{text:?}");
            assert_eq!(sites.lookup(ip("10.0.0.1")), None);
            assert_eq!(sites.overlapping(), 0);
        }
    }

    #[test]
    fn client_ips_with_and_without_ports() {
        let v4 = Some(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)));
        let v6 = Some(IpAddr::V6(Ipv6Addr::new(0x2a01, 0xdb8, 0, 0, 0, 0, 0, 1)));
        assert_eq!(parse_client_ip("1.2.3.4"), v4);
        assert_eq!(parse_client_ip("1.2.3.4:443"), v4);
        assert_eq!(parse_client_ip("  1.2.3.4:50000 "), v4);
        assert_eq!(parse_client_ip("::ffff:1.2.3.4"), v4);
        assert_eq!(parse_client_ip("[::ffff:1.2.3.4]:443"), v4);
        assert_eq!(parse_client_ip("2a01:db8::1"), v6);
        assert_eq!(parse_client_ip("[2a01:db8::1]:443"), v6);
        assert_eq!(parse_client_ip(" [2a01:db8::1] "), v6);
        for bad in [
            "",
            "  ",
            "garbage",
            "999.1.1.1",
            "1.2.3",
            "1.2.3.4:",
            "1.2.3.4:https",
            "1.2.3.4:443:1",
            "[1.2.3.4]x",
            "[2a01:db8::1",
            "[2a01:db8::1]443",
            "[2a01:db8::1]:",
            "[]:443",
            "2a01:db8::1:443:x",
        ] {
            assert_eq!(parse_client_ip(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn network_of_falls_back_to_blocks_then_unknown() {
        let sites = parse_ok(&(row("10.1.2.3", "hq", "22") + &row("2a01:db8:12::", "v6", "48")));
        let with = Some(&sites);
        let net = network_of(with, "10.1.3.4:5000");
        assert_eq!(net.cidr(), "10.1.0.0/22");
        assert_eq!(net.site().map(|s| s.network_name.as_str()), Some("hq"));
        assert_eq!(network_of(with, "[2a01:db8:12:ff::1]:443").cidr(), "2a01:db8:12::/48");
        assert_eq!(network_of(with, "192.168.7.9:443").cidr(), "192.168.7.0/24");
        assert_eq!(network_of(with, "192.168.7.9:443").site(), None);
        assert_eq!(network_of(with, "::ffff:192.168.7.9").cidr(), "192.168.7.0/24");
        assert_eq!(network_of(with, "2a01:db8:99:1234::1").cidr(), "2a01:db8:99::/48");
        assert_eq!(network_of(None, "10.1.3.4").cidr(), "10.1.3.0/24");
        assert_eq!(network_of(None, "[2a01:db8:12:ff::1]:443").cidr(), "2a01:db8:12::/48");
        for bad in ["", "garbage", "999.1.1.1"] {
            assert_eq!(network_of(with, bad), Network::Unknown);
            assert_eq!(network_of(with, bad).cidr(), "?");
        }
    }

    proptest::proptest! {
        /// Lookup agrees with a scan of every site for the longest range holding the address
        /// (the earliest line among equal ones), and `overlapping` with a pairwise count.
        /// Addresses come from 10.0.0-4.0-63, so ranges nest, repeat and match.
        #[test]
        fn lookup_agrees_with_a_scan(
            ranges in proptest::collection::vec(
                (0u8..4, 0u8..64, proptest::prop_oneof![
                    proptest::strategy::Just(0u8),
                    proptest::strategy::Just(8u8),
                    proptest::strategy::Just(16u8),
                    20u8..=32,
                ]),
                0..40,
            ),
            queries in proptest::collection::vec((0u8..5, 0u8..64), 1..60),
        ) {
            let text: String = ranges
                .iter()
                .enumerate()
                .map(|(i, (c, d, len))| row(&format!("10.0.{c}.{d}"), &format!("n{i}"), &len.to_string()))
                .collect();
            let (sites, bad) = Sites::parse(text.as_bytes());
            proptest::prop_assert!(bad.is_empty());
            let nets: Vec<IpNet> = ranges
                .iter()
                .map(|&(c, d, len)| IpNet::new(IpAddr::V4(Ipv4Addr::new(10, 0, c, d)), len).unwrap().trunc())
                .collect();
            for (c, d) in queries {
                let addr = IpAddr::V4(Ipv4Addr::new(10, 0, c, d));
                let want = nets
                    .iter()
                    .enumerate()
                    .filter(|(_, net)| net.contains(&addr))
                    .max_by(|(i, a), (j, b)| a.prefix_len().cmp(&b.prefix_len()).then(j.cmp(i)))
                    .map(|(i, _)| format!("n{i}"));
                proptest::prop_assert_eq!(sites.lookup(addr).map(|s| s.network_name.clone()), want);
            }
            let nested = (0..nets.len())
                .filter(|&i| {
                    (0..nets.len()).any(|j| {
                        (nets[j].prefix_len() < nets[i].prefix_len() && nets[j].contains(&nets[i]))
                            || (nets[j] == nets[i] && j < i)
                    })
                })
                .count();
            proptest::prop_assert_eq!(sites.overlapping(), nested);
        }

        /// Any bytes at all: lines come back as sites or as bad lines, never as a panic.
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let (sites, bad) = Sites::parse(&bytes);
            proptest::prop_assert!(sites.len() + bad.len() <= bytes.len() + 1);
        }

        #[test]
        fn parse_client_ip_never_panics(s in "\\PC{0,40}") {
            let _ = network_of(None, &s);
        }
    }
}
