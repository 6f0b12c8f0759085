//! Where the drops are (SPEC 4): the meetings' connections and suspected disconnections
//! counted per network, per client and per hour, for `networks.csv`, `clients.csv`,
//! `timeline.csv` and the page.
//!
//! A drop is a reconnection: in a suspected-disconnection group every connection after the
//! first is one, and it belongs to the connection *before* it, the one that ended: to that
//! connection's network, client and device, and to the hour of its LeaveTime. Only the
//! connections the IP filter (`-i`, `--cidr`) lets through are counted, as the disconnection
//! rule only looks at those; `--max-gap` and the meeting window already shaped the groups and
//! the meetings.
//!
//! Every row's key is a string or an address, and rows are sorted by drops then by key, so the
//! result does not depend on symbol numbers, thread count or input order.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use rayon::prelude::*;

use crate::analyze::client::{self, Client, Platform};
use crate::analyze::meetings::{
    device_label, missing_last, reconnection_gap, ConnFilter, Meeting, Meetings,
};
use crate::analyze::sites::{network_of, network_of_ip, Network, Site, Sites};
use crate::analyze::zone::Zone;
use crate::state::addr::{Addr, Kind};
use crate::state::intern::{Interner, Sym};
use crate::timestamp::Ts;

/// The longest timeline written hour by hour, empty hours included: about 11 years.
pub const MAX_HOURS: i64 = 100_000;

/// Counts of one network or client.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stat {
    pub connections: u64,
    /// Distinct attendee keys among its connections.
    pub attendees: u64,
    /// Distinct meetings among its connections.
    pub meetings: u64,
    pub drops: u64,
    /// The median of the reconnection gaps (seconds) of its drops where both times are known:
    /// the middle gap, or the mean of the two middle ones; `None` when no gap is known.
    pub median_gap: Option<f64>,
}

impl Stat {
    /// Drops per connection, in percent (0 without connections).
    pub fn rate_percent(&self) -> f64 {
        match self.connections {
            0 => 0.0,
            n => self.drops as f64 * 100.0 / n as f64,
        }
    }
}

/// The median of sorted gaps.
fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0),
    }
}

/// One row of `networks.csv`.
#[derive(Debug, Clone)]
pub struct NetworkRow<'s> {
    /// The building file's range, the /24 or /48 around the address, or `None` for `?`.
    pub network: Option<ipnet::IpNet>,
    pub site: Option<&'s Site>,
    pub stat: Stat,
}

impl NetworkRow<'_> {
    pub fn cidr(&self) -> String {
        self.network.map_or_else(|| "?".to_string(), |n| n.to_string())
    }
}

/// One row of `clients.csv`: a client category, its platform and the DeviceInformation.
#[derive(Debug, Clone)]
pub struct ClientRow {
    pub client: Client,
    pub platform: Platform,
    /// The device label (`?` when the record had none).
    pub device: String,
    pub stat: Stat,
}

/// One row of `timeline.csv`: a clock hour of the report's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourRow {
    pub label: String,
    pub connections: u64,
    pub drops: u64,
    pub meetings: u64,
}

#[derive(Debug, Default)]
pub struct Breakdowns<'s> {
    pub networks: Vec<NetworkRow<'s>>,
    pub clients: Vec<ClientRow>,
    pub timeline: Vec<HourRow>,
    /// Drops whose ended connection has no LeaveTime: in no hour of the timeline.
    pub drops_without_leave: u64,
    /// Every counted connection (those the IP filter lets through) and drop (the
    /// reconnections of `disconnections.csv`) together; its attendees and meetings are not
    /// counted.
    pub all: Stat,
}

/// Unmatched networks with at least this many connections are listed as missing from the
/// building file (CQD's "missing subnet report").
pub const MISSING_MIN_CONNECTIONS: u64 = 10;

impl Breakdowns<'_> {
    /// With a building file: the networks no range matched that carry at least
    /// [`MISSING_MIN_CONNECTIONS`] connections, most connections first.
    pub fn missing_subnets(&self) -> Vec<&NetworkRow<'_>> {
        let mut missing: Vec<&NetworkRow<'_>> = self
            .networks
            .iter()
            .filter(|r| {
                r.site.is_none()
                    && r.network.is_some()
                    && r.stat.connections >= MISSING_MIN_CONNECTIONS
            })
            .collect();
        missing.sort_by(|a, b| {
            b.stat.connections.cmp(&a.stat.connections).then_with(|| cmp_net(a.network, b.network))
        });
        missing
    }
}

/// Networks in address order (IPv4 first), `?` last.
fn cmp_net(a: Option<ipnet::IpNet>, b: Option<ipnet::IpNet>) -> Ordering {
    missing_last(a, b)
}

/// Marks an address the IP filter leaves out (or no connection uses), in the table of
/// networks by address.
const FILTERED: u32 = u32::MAX;
/// Marks an address in use whose network is not yet known.
const UNRESOLVED: u32 = u32::MAX - 1;

/// Each connection's network, by its number, from `keyed` (every IPv4 connection as
/// `address << 32 | number`, sorted), the distinct addresses in order (`v4`) and their
/// networks (`v4_net`): one walk through both. Connections without an IPv4 address are
/// left [`FILTERED`].
fn ipv4_networks(keyed: &[u64], v4: &[u32], v4_net: &[u32], connections: usize) -> Vec<u32> {
    let mut conn_net: Vec<u32> = vec![FILTERED; connections];
    let mut distinct = 0;
    for &k in keyed {
        let bits = (k >> 32) as u32;
        while v4.get(distinct).is_some_and(|&d| d < bits) {
            distinct += 1;
        }
        let net = v4_net.get(distinct).copied().filter(|_| v4.get(distinct) == Some(&bits));
        if let (Some(slot), Some(net)) = (conn_net.get_mut(k as u32 as usize), net) {
            *slot = net;
        }
    }
    conn_net
}

/// A network (`None`: no address that parses) and its building-file line, if any.
type NetworkKey<'s> = (Option<ipnet::IpNet>, Option<&'s Site>);

/// Each connection's network, by the connection's place in the meetings' order (networks
/// numbered in network order; [`FILTERED`] for one the filter leaves out), and the networks
/// in that order with their building-file lines.
fn networks<'s>(
    meetings: &Meetings,
    strings: &Interner,
    sites: Option<&'s Sites>,
    filter: &dyn ConnFilter,
) -> (Vec<u32>, Vec<NetworkKey<'s>>) {
    // Interned addresses in use are marked in a table by symbol (a pass over the
    // connections), where collecting and sorting the symbols of 1.35 M connections took a
    // tenth of the breakdowns. IPv4 connections are sorted as (address, connection number)
    // integers: the distinct addresses come out in order, and each connection's network can
    // be written to its place in one pass, for the counting to read in order.
    let mut by_sym: Vec<u32> = vec![FILTERED; strings.len()];
    let mut keyed: Vec<u64> = Vec::new();
    // The connections with an interned address, by number: few, so their networks are
    // filled in from this list rather than by another pass over every connection.
    let mut interned: Vec<(usize, Sym)> = Vec::new();
    let mut number = 0u64;
    for c in meetings.list.iter().flat_map(|m| m.connections.iter()) {
        match c.conn.client_ip.kind() {
            // Numbers fit in 32 bits: a run holds far fewer than 4 billion connections.
            Kind::Ipv4(bits) => keyed.push(u64::from(bits) << 32 | number),
            Kind::Interned(sym) => {
                if let Some(slot) = by_sym.get_mut(sym as usize) {
                    *slot = UNRESOLVED;
                }
                interned.push((number as usize, sym));
            }
        }
        number += 1;
    }
    keyed.par_sort_unstable();
    let mut v4: Vec<u32> = keyed.iter().map(|k| (k >> 32) as u32).collect();
    v4.dedup();
    // Each address with its place: its symbol, or its index in `v4`.
    let in_use: Vec<(Addr, u32)> = (by_sym.iter().enumerate())
        .filter(|(_, &slot)| slot == UNRESOLVED)
        .map(|(sym, _)| (Addr::interned(sym as Sym), sym as u32))
        .chain(v4.iter().enumerate().map(|(k, &bits)| (Addr::from_ipv4(bits), k as u32)))
        .collect();
    // (network's sort key, network, site, address and its place) of the addresses the
    // filter keeps.
    type Resolved<'a> = (NetKey, Option<ipnet::IpNet>, Option<&'a Site>, (Addr, u32));
    let mut resolved: Vec<Resolved<'s>> = in_use
        .into_par_iter()
        .filter_map(|(addr, place)| {
            if !(filter.keeps_all() || addr.with_text(strings, |text| filter.keep(text))) {
                return None;
            }
            // An IPv4 address kept as bits is not written out and parsed back.
            let network = match addr.ipv4() {
                Some(bits) => network_of_ip(sites, IpAddr::V4(Ipv4Addr::from(bits))),
                None => addr.with_text(strings, |text| network_of(sites, text)),
            };
            let (network, site) = match network {
                Network::Site(site) => (Some(site.network), Some(site)),
                Network::Block(block) => (Some(block), None),
                Network::Unknown => (None, None),
            };
            Some((net_key(network), network, site, (addr, place)))
        })
        .collect();
    // Sorted by a key of plain integers: comparing the networks themselves (an enum of
    // address structs, the missing one last) took as long as resolving them.
    resolved.par_sort_unstable_by_key(|r| r.0);
    let mut net_keys: Vec<NetworkKey<'s>> = Vec::new();
    by_sym.iter_mut().for_each(|slot| *slot = FILTERED);
    let mut v4_net: Vec<u32> = vec![FILTERED; v4.len()];
    for (_, network, site, (addr, place)) in resolved {
        if net_keys.last().is_none_or(|last| last.0 != network) {
            net_keys.push((network, site));
        }
        let net = (net_keys.len() - 1) as u32;
        let slot = match addr.ipv4() {
            Some(_) => v4_net.get_mut(place as usize),
            None => by_sym.get_mut(place as usize),
        };
        if let Some(slot) = slot {
            *slot = net;
        }
    }
    let mut conn_net = ipv4_networks(&keyed, &v4, &v4_net, number as usize);
    for (number, sym) in interned {
        if let Some(slot) = conn_net.get_mut(number) {
            *slot = by_sym.get(sym as usize).copied().unwrap_or(FILTERED);
        }
    }
    (conn_net, net_keys)
}

/// A network's place in [`cmp_net`]'s order as plain integers: the family (IPv4, IPv6, none
/// last), the address's bits and the prefix length, as `IpNet`'s own order compares them.
type NetKey = (u8, u128, u8);

fn net_key(network: Option<ipnet::IpNet>) -> NetKey {
    match network {
        Some(ipnet::IpNet::V4(n)) => (0, u128::from(n.addr().to_bits()), n.prefix_len()),
        Some(ipnet::IpNet::V6(n)) => (1, n.addr().to_bits(), n.prefix_len()),
        None => (2, 0, 0),
    }
}

/// What one worker counts over its share of the meetings: dense counters per network and per
/// client, and lists that are sorted once everything is together.
struct Part {
    /// connections, drops, meetings per network (and per client), by id.
    nets: Vec<[u64; 3]>,
    clients: Vec<[u64; 3]>,
    /// The last meeting (index + 1) counted for each network and client: a meeting counts once.
    net_last: Vec<u32>,
    client_last: Vec<u32>,
    /// (id, attendee key) of every connection, counted distinct at the end.
    net_people: Vec<u64>,
    client_people: Vec<u64>,
    /// (id, gap) of every drop with a known gap.
    net_gaps: Vec<(u32, i64)>,
    client_gaps: Vec<(u32, i64)>,
    /// The 15-minute UTC slot of each connection's join and of each drop's leave: within one
    /// slot every zone in use has one offset, so slots map onto the zone's clock hours.
    join_slots: Vec<i64>,
    drop_slots: Vec<i64>,
    drops_without_leave: u64,
    /// First join and last leave of each meeting with a join.
    spans: Vec<(Ts, Ts)>,
}

const SLOT: i64 = 900;
const COUNT_CONNECTIONS: usize = 0;
const COUNT_DROPS: usize = 1;
const COUNT_MEETINGS: usize = 2;

/// Counts the meetings' connections and drops per network, client and hour. Networks and
/// clients are resolved once per distinct address and (UserAgent, device) pair, in parallel;
/// then each worker counts a share of the meetings, and the shares are added up.
pub fn build<'s>(
    meetings: &Meetings,
    strings: &Interner,
    sites: Option<&'s Sites>,
    filter: &dyn ConnFilter,
    zone: &Zone,
) -> Breakdowns<'s> {
    let started = std::time::Instant::now();
    let conns = || meetings.list.par_iter().flat_map_iter(|m| m.connections.iter());

    let (conn_net, net_keys) = networks(meetings, strings, sites, filter);
    // Where each meeting's connections start in `conn_net`.
    let mut conn_from: Vec<usize> = Vec::with_capacity(meetings.list.len() + 1);
    conn_from.push(0);
    for m in &meetings.list {
        conn_from.push(conn_from.last().copied().unwrap_or(0) + m.connections.len());
    }

    // The client of every distinct (UserAgent, device) pair.
    let mut pairs: Vec<u64> =
        conns().map(|c| u64::from(c.user_agent) << 32 | u64::from(c.conn.device)).collect();
    pairs.par_sort_unstable();
    pairs.dedup();
    let mut client_keys: Vec<(Client, Platform, String)> = pairs
        .iter()
        .map(|&p| {
            let (client, platform) = client::classify(strings.get((p >> 32) as Sym));
            (client, platform, device_label(strings, p as Sym).to_string())
        })
        .collect();
    let mut sorted_keys = client_keys.clone();
    sorted_keys.sort_by(cmp_client);
    sorted_keys.dedup();
    let client_of: hashbrown::HashMap<u64, u32> = pairs
        .iter()
        .zip(&client_keys)
        .map(|(&p, k)| {
            let id = sorted_keys.binary_search_by(|x| cmp_client(x, k)).unwrap_or_default();
            (p, id as u32)
        })
        .collect();
    client_keys = sorted_keys;
    drop(pairs);

    // Each worker counts a share of the meetings.
    let workers = rayon::current_num_threads().max(1);
    let share = meetings.list.len().div_ceil(workers).max(1);
    let parts: Vec<Part> = meetings
        .list
        .par_chunks(share)
        .enumerate()
        .map(|(k, chunk)| {
            let first = k * share;
            let nets =
                conn_net.get(conn_from[first.min(conn_from.len() - 1)]..).unwrap_or_default();
            count(chunk, first, nets, &client_of, net_keys.len(), client_keys.len())
        })
        .collect();

    // Added up.
    let mut nets = vec![[0u64; 3]; net_keys.len()];
    let mut clients = vec![[0u64; 3]; client_keys.len()];
    let mut out = Breakdowns::default();
    let (mut net_people, mut client_people) = (Vec::new(), Vec::new());
    let (mut net_gaps, mut client_gaps) = (Vec::new(), Vec::new());
    let (mut join_slots, mut drop_slots, mut spans) = (Vec::new(), Vec::new(), Vec::new());
    for part in parts {
        for (total, n) in nets.iter_mut().zip(&part.nets) {
            (0..3).for_each(|k| total[k] += n[k]);
        }
        for (total, n) in clients.iter_mut().zip(&part.clients) {
            (0..3).for_each(|k| total[k] += n[k]);
        }
        out.drops_without_leave += part.drops_without_leave;
        net_people.push(part.net_people);
        client_people.push(part.client_people);
        net_gaps.extend(part.net_gaps);
        client_gaps.extend(part.client_gaps);
        join_slots.push(part.join_slots);
        drop_slots.push(part.drop_slots);
        spans.extend(part.spans);
    }
    let mut all_gaps: Vec<i64> = net_gaps.iter().map(|g| g.1).collect();
    all_gaps.par_sort_unstable();
    out.all = Stat {
        connections: nets.iter().map(|n| n[COUNT_CONNECTIONS]).sum(),
        drops: nets.iter().map(|n| n[COUNT_DROPS]).sum(),
        median_gap: median(&all_gaps),
        ..Stat::default()
    };

    let ((net_stats, client_stats), (joins, drops)) = rayon::join(
        || {
            rayon::join(
                || stats(&nets, net_people, net_gaps),
                || stats(&clients, client_people, client_gaps),
            )
        },
        || rayon::join(|| runs(join_slots), || runs(drop_slots)),
    );
    // Rows by drops, most first, then in key order (the order they are numbered in).
    out.networks = by_drops(&net_keys, &net_stats, |&(network, site), stat| NetworkRow {
        network,
        site,
        stat,
    });
    out.clients = by_drops(&client_keys, &client_stats, |(client, platform, device), stat| {
        ClientRow { client: *client, platform: *platform, device: device.clone(), stat }
    });
    out.timeline = timeline(zone, &joins, &drops, spans);
    // Counted beside the tables, so no lap of the run's own shows it.
    crate::messages::timing(format_args!(
        "drop breakdowns counted in {:.3} s",
        started.elapsed().as_secs_f64()
    ));
    out
}

/// Rows from keys (in key order) and their stats, by drops, most first; equal drops keep key
/// order. The order is found on indices, not by moving rows: a sort of 350k network rows moved
/// their bytes at every merge level (0.15 s of a bench run).
fn by_drops<K: Sync, R: Send>(
    keys: &[K],
    stats: &[Stat],
    row: impl Fn(&K, Stat) -> R + Sync,
) -> Vec<R> {
    let mut order: Vec<u32> = (0..keys.len().min(stats.len()) as u32).collect();
    order.par_sort_unstable_by_key(|&i| (std::cmp::Reverse(stats[i as usize].drops), i));
    order.par_iter().map(|&i| row(&keys[i as usize], stats[i as usize])).collect()
}

/// Client rows in key order: category, platform and device as text.
fn cmp_client(a: &(Client, Platform, String), b: &(Client, Platform, String)) -> Ordering {
    (a.0.label(), a.1.label(), a.2.as_str()).cmp(&(b.0.label(), b.1.label(), b.2.as_str()))
}

/// One worker's counts over `chunk`, whose first meeting is number `first`; `conn_net` holds
/// the networks of its connections in order, from the first.
fn count(
    chunk: &[Meeting],
    first: usize,
    conn_net: &[u32],
    client_of: &hashbrown::HashMap<u64, u32>,
    n_nets: usize,
    n_clients: usize,
) -> Part {
    // The lists of every connection sized once: grown by doubling, they were copied and
    // their fresh pages zeroed again at each step.
    let connections: usize = chunk.iter().map(|m| m.connections.len()).sum();
    let mut p = Part {
        nets: vec![[0; 3]; n_nets],
        clients: vec![[0; 3]; n_clients],
        net_last: vec![0; n_nets],
        client_last: vec![0; n_clients],
        net_people: Vec::with_capacity(connections),
        client_people: Vec::with_capacity(connections),
        net_gaps: Vec::new(),
        client_gaps: Vec::new(),
        join_slots: Vec::with_capacity(connections),
        drop_slots: Vec::new(),
        drops_without_leave: 0,
        spans: Vec::new(),
    };
    // Each connection's (network, client), or None when the filter left it out.
    let mut places: Vec<Option<(u32, u32)>> = Vec::new();
    let mut nets = conn_net.iter();
    for (k, m) in chunk.iter().enumerate() {
        let number = (first + k + 1) as u32;
        places.clear();
        for c in &m.connections {
            let net = nets.next().copied().unwrap_or(FILTERED);
            if net == FILTERED {
                places.push(None);
                continue;
            }
            let pair = u64::from(c.user_agent) << 32 | u64::from(c.conn.device);
            let client = client_of.get(&pair).copied().unwrap_or_default();
            for (counts, last, id) in
                [(&mut p.nets, &mut p.net_last, net), (&mut p.clients, &mut p.client_last, client)]
            {
                let (counts, last) = (&mut counts[id as usize], &mut last[id as usize]);
                counts[COUNT_CONNECTIONS] += 1;
                if *last != number {
                    *last = number;
                    counts[COUNT_MEETINGS] += 1;
                }
            }
            p.net_people.push(u64::from(net) << 32 | u64::from(c.conn.key));
            p.client_people.push(u64::from(client) << 32 | u64::from(c.conn.key));
            p.join_slots.extend(c.conn.join.get().map(|t| t.div_euclid(SLOT)));
            places.push(Some((net, client)));
        }
        for group in &m.groups {
            for pair in group.members.windows(2) {
                let (ended, next) = (pair[0], pair[1]);
                // Groups only hold connections the filter kept.
                let (Some(Some((net, client))), Some(c), Some(n)) =
                    (places.get(ended).copied(), m.connections.get(ended), m.connections.get(next))
                else {
                    continue;
                };
                p.nets[net as usize][COUNT_DROPS] += 1;
                p.clients[client as usize][COUNT_DROPS] += 1;
                if let Some(gap) = reconnection_gap(c, n) {
                    p.net_gaps.push((net, gap));
                    p.client_gaps.push((client, gap));
                }
                match c.conn.leave.get() {
                    Some(t) => p.drop_slots.push(t.div_euclid(SLOT)),
                    None => p.drops_without_leave += 1,
                }
            }
        }
        if let Some(first_join) = m.first_join {
            let last = m.last_leave.filter(|l| *l >= first_join).unwrap_or(first_join);
            p.spans.push((first_join, last));
        }
    }
    // Sorted here, on this worker, so that adding the parts up is a merge.
    for list in [&mut p.net_people, &mut p.client_people] {
        list.sort_unstable();
        list.dedup();
    }
    p.join_slots.sort_unstable();
    p.drop_slots.sort_unstable();
    p
}

/// How many distinct values the sorted lists hold together, per id (a value's high 32 bits):
/// a k-way merge of lists each sorted and without repeats.
fn count_distinct(lists: Vec<Vec<u64>>, stats: &mut [Stat]) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut heap: BinaryHeap<Reverse<(u64, usize, usize)>> = lists
        .iter()
        .enumerate()
        .filter_map(|(k, l)| l.first().map(|&v| Reverse((v, k, 0))))
        .collect();
    let mut last = None;
    while let Some(Reverse((v, k, i))) = heap.pop() {
        if last != Some(v) {
            last = Some(v);
            if let Some(stat) = stats.get_mut((v >> 32) as usize) {
                stat.attendees += 1;
            }
        }
        if let Some(&next) = lists[k].get(i + 1) {
            heap.push(Reverse((next, k, i + 1)));
        }
    }
}

/// (value, count) runs of sorted lists, added up in value order.
fn runs(lists: Vec<Vec<i64>>) -> Vec<(i64, u64)> {
    let mut counts: std::collections::BTreeMap<i64, u64> = std::collections::BTreeMap::new();
    for list in &lists {
        for run in list.chunk_by(|a, b| a == b) {
            *counts.entry(run[0]).or_default() += run.len() as u64;
        }
    }
    counts.into_iter().collect()
}

/// The stats of each id from the summed counters, the (id, attendee) pairs and the (id, gap)
/// pairs.
fn stats(counts: &[[u64; 3]], people: Vec<Vec<u64>>, mut gaps: Vec<(u32, i64)>) -> Vec<Stat> {
    let mut out: Vec<Stat> = counts
        .iter()
        .map(|c| Stat {
            connections: c[COUNT_CONNECTIONS],
            drops: c[COUNT_DROPS],
            meetings: c[COUNT_MEETINGS],
            ..Stat::default()
        })
        .collect();
    count_distinct(people, &mut out);
    gaps.sort_unstable();
    for run in gaps.chunk_by(|a, b| a.0 == b.0) {
        let sorted: Vec<i64> = run.iter().map(|g| g.1).collect();
        if let Some(stat) = out.get_mut(run[0].0 as usize) {
            stat.median_gap = median(&sorted);
        }
    }
    out
}

/// The timeline from the slots of joins and drops and the meetings' spans: every hour from the
/// first to the last with a connection started or a drop, empty ones included, in time order.
/// Meetings in progress are counted within that span only, so a stray far-off LeaveTime
/// cannot stretch the timeline. A span longer than [`MAX_HOURS`] (a JoinTime years away from
/// the rest) lists only the hours that have a connection or a drop, rather than millions of
/// empty rows. Hours are numbered from the first one's start; hours of one zone start a whole
/// number of hours apart.
fn timeline(
    zone: &Zone,
    join_slots: &[(i64, u64)],
    drop_slots: &[(i64, u64)],
    spans: Vec<(Ts, Ts)>,
) -> Vec<HourRow> {
    // (hour start, count) per distinct slot, slots in order.
    let hours_of = |slots: &[(i64, u64)]| -> Vec<(Ts, u64)> {
        let mut out: Vec<(Ts, u64)> = Vec::new();
        for &(slot, n) in slots {
            let start = zone.hour_start(slot.saturating_mul(SLOT));
            match out.last_mut() {
                Some(last) if last.0 == start => last.1 += n,
                _ => out.push((start, n)),
            }
        }
        out
    };
    let (joins, drops) = (hours_of(join_slots), hours_of(drop_slots));
    let Some(base) = joins.iter().chain(&drops).map(|h| h.0).min() else { return Vec::new() };
    let index = |start: Ts| (start - base).div_euclid(3600);
    let mut connections: hashbrown::HashMap<i64, u64> = hashbrown::HashMap::new();
    let mut dropped: hashbrown::HashMap<i64, u64> = hashbrown::HashMap::new();
    for &(start, n) in &joins {
        *connections.entry(index(start)).or_default() += n;
    }
    for &(start, n) in &drops {
        *dropped.entry(index(start)).or_default() += n;
    }
    let mut hours: Vec<i64> = connections.keys().chain(dropped.keys()).copied().collect();
    hours.sort_unstable();
    hours.dedup();
    let (Some(&lo), Some(&hi)) = (hours.first(), hours.last()) else { return Vec::new() };
    if hi - lo < MAX_HOURS {
        hours = (lo..=hi).collect();
    }
    // Meetings in progress: +1 at a meeting's first hour, -1 after its last, swept in order.
    let mut steps: Vec<(i64, i64)> = spans
        .par_iter()
        .flat_map_iter(|&(a, b)| {
            let (a, b) = (index(zone.hour_start(a)), index(zone.hour_start(b)));
            [(a, 1), (b.saturating_add(1), -1)]
        })
        .collect();
    steps.par_sort_unstable();
    let (mut next, mut in_progress) = (0, 0i64);
    hours
        .into_iter()
        .map(|i| {
            while let Some(&(_, step)) = steps.get(next).filter(|(at, _)| *at <= i) {
                in_progress += step;
                next += 1;
            }
            HourRow {
                label: zone.hour_label(base + i * 3600),
                connections: connections.get(&i).copied().unwrap_or(0),
                drops: dropped.get(&i).copied().unwrap_or(0),
                meetings: in_progress.max(0) as u64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Option<ipnet::IpNet> {
        (s != "?").then(|| s.parse().unwrap())
    }

    #[test]
    fn network_keys_sort_as_networks_do() {
        let nets = [
            "?",
            "2a01:db8:12::/48",
            "10.1.2.0/24",
            "10.1.0.0/22",
            "9.255.255.0/24",
            "::/48",
            "10.1.0.0/24",
            "255.255.255.0/24",
            "2a01:db8:12::/64",
        ];
        let mut by_net: Vec<Option<ipnet::IpNet>> = nets.iter().map(|s| net(s)).collect();
        by_net.sort_by(|a, b| cmp_net(*a, *b));
        let shown: Vec<String> =
            by_net.iter().map(|n| n.map_or("?".into(), |n| n.to_string())).collect();
        assert_eq!(
            shown,
            [
                "9.255.255.0/24",
                "10.1.0.0/22",
                "10.1.0.0/24",
                "10.1.2.0/24",
                "255.255.255.0/24",
                "::/48",
                "2a01:db8:12::/48",
                "2a01:db8:12::/64",
                "?"
            ]
        );
        let mut by_key = by_net.clone();
        by_key.reverse();
        by_key.sort_by_key(|n| net_key(*n));
        assert_eq!(by_key, by_net);
    }

    proptest! {
        /// Every IPv4 connection gets its own address's network, however the addresses
        /// cluster (a few /16s, as a company's, or spread, as home networks) or repeat, and
        /// every other connection none.
        #[test]
        fn each_connection_gets_its_addresss_network(
            addrs in proptest::collection::vec(
                proptest::option::of(
                    prop_oneof![any::<u32>(), 0x0a00_0000u32..0x0a00_0040, Just(0), Just(u32::MAX)],
                ),
                0..400),
        ) {
            // Connection k has address addrs[k] (None: not IPv4); an address's network is
            // a number made from it.
            let net_of = |a: u32| a % 1000;
            let mut keyed: Vec<u64> = addrs
                .iter()
                .enumerate()
                .filter_map(|(k, a)| a.map(|a| u64::from(a) << 32 | k as u64))
                .collect();
            keyed.sort_unstable();
            let mut v4: Vec<u32> = keyed.iter().map(|k| (k >> 32) as u32).collect();
            v4.dedup();
            let v4_net: Vec<u32> = v4.iter().map(|&a| net_of(a)).collect();
            let nets = ipv4_networks(&keyed, &v4, &v4_net, addrs.len());
            let expected: Vec<u32> = addrs.iter().map(|a| a.map_or(FILTERED, net_of)).collect();
            prop_assert_eq!(nets, expected);
        }
    }

    proptest! {
        #[test]
        fn network_keys_order_any_two_networks_as_networks_compare(
            a in (0u8..3, any::<u128>(), 0u8..=128),
            b in (0u8..3, any::<u128>(), 0u8..=128),
        ) {
            let make = |(family, bits, len): (u8, u128, u8)| match family {
                0 => ipnet::Ipv4Net::new(std::net::Ipv4Addr::from_bits(bits as u32), len.min(32))
                    .ok()
                    .map(ipnet::IpNet::V4),
                1 => ipnet::Ipv6Net::new(std::net::Ipv6Addr::from_bits(bits), len)
                    .ok()
                    .map(ipnet::IpNet::V6),
                _ => None,
            };
            let (a, b) = (make(a), make(b));
            prop_assert_eq!(net_key(a).cmp(&net_key(b)), cmp_net(a, b));
        }
    }
}
