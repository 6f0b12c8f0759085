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

use rayon::prelude::*;

use crate::analyze::client::{self, Client, Platform};
use crate::analyze::meetings::{device_label, ConnFilter, Connection, Meeting, Meetings};
use crate::analyze::sites::{network_of, Network, Site, Sites};
use crate::analyze::zone::Zone;
use crate::state::intern::{Interner, Sym};
use crate::timestamp::Ts;

/// The longest timeline written hour by hour, empty hours included: about 11 years.
pub const MAX_HOURS: i64 = 100_000;

/// Counts of one network or client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    pub connections: u64,
    /// Distinct attendee keys among its connections.
    pub attendees: u64,
    /// Distinct meetings among its connections.
    pub meetings: u64,
    pub drops: u64,
    /// The reconnection gaps (seconds) of its drops, where both times are known; sorted.
    gaps: Vec<i64>,
}

impl Stat {
    /// Drops per connection, in percent (0 without connections).
    pub fn rate_percent(&self) -> f64 {
        match self.connections {
            0 => 0.0,
            n => self.drops as f64 * 100.0 / n as f64,
        }
    }

    /// The median reconnection gap in seconds: the middle gap, or the mean of the two middle
    /// ones; `None` when no gap is known.
    pub fn median_gap(&self) -> Option<f64> {
        let n = self.gaps.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.gaps[n / 2] as f64),
            _ => Some((self.gaps[n / 2 - 1] as f64 + self.gaps[n / 2] as f64) / 2.0),
        }
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
    /// When the hour began (UTC seconds).
    pub start: Ts,
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
    /// Connections counted (those the IP filter lets through).
    pub connections: u64,
    /// Drops counted: the reconnections of `disconnections.csv`.
    pub drops: u64,
    /// Drops whose ended connection has no LeaveTime: in no hour of the timeline.
    pub drops_without_leave: u64,
    /// Every counted connection and drop together (its attendees and meetings not counted).
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
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Accumulates one network's or client's counts while the meetings are walked.
#[derive(Default)]
struct Acc {
    stat: Stat,
    /// The last meeting counted, so each meeting counts once.
    last_meeting: Option<usize>,
}

impl Acc {
    fn connection(&mut self, meeting: usize) {
        self.stat.connections += 1;
        if self.last_meeting != Some(meeting) {
            self.last_meeting = Some(meeting);
            self.stat.meetings += 1;
        }
    }
    fn drop(&mut self, gap: Option<i64>) {
        self.stat.drops += 1;
        self.stat.gaps.extend(gap);
    }
}

/// What a connection belongs to: indices into the network and client lists.
#[derive(Clone, Copy)]
struct Place {
    net: u32,
    client: u32,
}

/// Counts the meetings' connections and drops per network, client and hour.
pub fn build<'s>(
    meetings: &Meetings,
    strings: &Interner,
    sites: Option<&'s Sites>,
    filter: &dyn ConnFilter,
    zone: &Zone,
) -> Breakdowns<'s> {
    const UNSEEN: u32 = u32::MAX;
    // Networks and clients are looked up once per distinct address and per distinct
    // (UserAgent, device) pair: a symbol indexes these tables directly.
    let mut net_of_ip: Vec<u32> = vec![UNSEEN; strings.len()];
    let mut kept_ip: Vec<u8> = vec![2; strings.len()];
    let mut net_keys: Vec<(Option<ipnet::IpNet>, Option<&'s Site>)> = Vec::new();
    let mut net_index: hashbrown::HashMap<Option<ipnet::IpNet>, u32> = hashbrown::HashMap::new();
    let mut client_of: hashbrown::HashMap<(Sym, Sym), u32> = hashbrown::HashMap::new();
    let mut client_keys: Vec<(Client, Platform, String)> = Vec::new();
    let mut client_index: hashbrown::HashMap<(Client, Platform, String), u32> =
        hashbrown::HashMap::new();
    let mut nets: Vec<Acc> = Vec::new();
    let mut clients: Vec<Acc> = Vec::new();
    // (network or client, attendee key) pairs, counted distinct at the end.
    let mut net_people: Vec<u64> = Vec::new();
    let mut client_people: Vec<u64> = Vec::new();
    let mut hours = Hours::new(zone);
    let mut places: Vec<Option<Place>> = Vec::new();
    let mut out = Breakdowns::default();

    for (mi, m) in meetings.list.iter().enumerate() {
        places.clear();
        for c in &m.connections {
            let ip = c.conn.client_ip as usize;
            let keep = match kept_ip.get(ip).copied() {
                Some(2) | None => {
                    let k = filter.keeps_all() || filter.keep(strings.get(c.conn.client_ip));
                    if let Some(slot) = kept_ip.get_mut(ip) {
                        *slot = u8::from(k);
                    }
                    k
                }
                Some(k) => k == 1,
            };
            if !keep {
                places.push(None);
                continue;
            }
            let net = match net_of_ip.get(ip).copied() {
                Some(n) if n != UNSEEN => n,
                _ => {
                    let (key, site) = match network_of(sites, strings.get(c.conn.client_ip)) {
                        Network::Site(site) => (Some(site.network), Some(site)),
                        Network::Block(block) => (Some(block), None),
                        Network::Unknown => (None, None),
                    };
                    let n = *net_index.entry(key).or_insert_with(|| {
                        net_keys.push((key, site));
                        nets.push(Acc::default());
                        (net_keys.len() - 1) as u32
                    });
                    if let Some(slot) = net_of_ip.get_mut(ip) {
                        *slot = n;
                    }
                    n
                }
            };
            let cl = *client_of.entry((c.user_agent, c.conn.device)).or_insert_with(|| {
                let (client, platform) = client::classify(strings.get(c.user_agent));
                let key = (client, platform, device_label(strings, c.conn.device).to_string());
                *client_index.entry(key.clone()).or_insert_with(|| {
                    client_keys.push(key);
                    clients.push(Acc::default());
                    (client_keys.len() - 1) as u32
                })
            });
            nets[net as usize].connection(mi);
            clients[cl as usize].connection(mi);
            net_people.push(u64::from(net) << 32 | u64::from(c.conn.key));
            client_people.push(u64::from(cl) << 32 | u64::from(c.conn.key));
            hours.connection(c.conn.join);
            out.connections += 1;
            out.all.connections += 1;
            places.push(Some(Place { net, client: cl }));
        }
        for group in &m.groups {
            for pair in group.members.windows(2) {
                let (ended, next) = (pair[0], pair[1]);
                // Groups only hold connections the filter kept.
                let (Some(Some(place)), Some(c), Some(n)) =
                    (places.get(ended).copied(), m.connections.get(ended), m.connections.get(next))
                else {
                    continue;
                };
                let gap = reconnection_gap(c, n);
                nets[place.net as usize].drop(gap);
                clients[place.client as usize].drop(gap);
                out.drops += 1;
                out.all.drops += 1;
                out.all.gaps.extend(gap);
                if !hours.drop(c.conn.leave) {
                    out.drops_without_leave += 1;
                }
            }
        }
        hours.meeting(m);
    }

    let distinct = |mut pairs: Vec<u64>, accs: &mut [Acc]| {
        pairs.par_sort_unstable();
        pairs.dedup();
        for p in pairs {
            if let Some(acc) = accs.get_mut((p >> 32) as usize) {
                acc.stat.attendees += 1;
            }
        }
    };
    distinct(net_people, &mut nets);
    distinct(client_people, &mut clients);

    out.networks = net_keys
        .into_iter()
        .zip(nets)
        .map(|((network, site), acc)| NetworkRow { network, site, stat: finish(acc) })
        .collect();
    out.networks.sort_by(|a, b| {
        b.stat.drops.cmp(&a.stat.drops).then_with(|| cmp_net(a.network, b.network))
    });
    out.clients = client_keys
        .into_iter()
        .zip(clients)
        .map(|((client, platform, device), acc)| ClientRow {
            client,
            platform,
            device,
            stat: finish(acc),
        })
        .collect();
    out.clients.sort_by(|a, b| {
        b.stat.drops.cmp(&a.stat.drops).then_with(|| {
            (a.client.label(), a.platform.label(), a.device.as_str()).cmp(&(
                b.client.label(),
                b.platform.label(),
                b.device.as_str(),
            ))
        })
    });
    out.timeline = hours.rows();
    out.all.gaps.sort_unstable();
    out
}

fn finish(acc: Acc) -> Stat {
    let mut stat = acc.stat;
    stat.gaps.sort_unstable();
    stat
}

/// Seconds from the ended connection's leave to the next one's join, as `disconnections.csv`
/// writes it; `None` when either time is missing.
fn reconnection_gap(ended: &Connection, next: &Connection) -> Option<i64> {
    Some(next.conn.join? - ended.conn.leave?)
}

/// The timeline: counts per clock hour of the zone, kept by hour index from the first hour
/// seen (hours of one zone start a whole number of hours apart).
struct Hours<'z> {
    zone: &'z Zone,
    /// The start of some hour: indices count hours from it.
    base: Option<Ts>,
    connections: hashbrown::HashMap<i64, u64>,
    drops: hashbrown::HashMap<i64, u64>,
    /// Meetings in progress as +1 at their first hour and -1 after their last.
    spans: Vec<(i64, i64)>,
}

impl<'z> Hours<'z> {
    fn new(zone: &'z Zone) -> Hours<'z> {
        Hours {
            zone,
            base: None,
            connections: hashbrown::HashMap::new(),
            drops: hashbrown::HashMap::new(),
            spans: Vec::new(),
        }
    }

    fn index(&mut self, t: Ts) -> i64 {
        let start = self.zone.hour_start(t);
        let base = *self.base.get_or_insert(start);
        (start - base).div_euclid(3600)
    }

    fn connection(&mut self, join: Option<Ts>) {
        if let Some(t) = join {
            let i = self.index(t);
            *self.connections.entry(i).or_default() += 1;
        }
    }

    /// Counts a drop in the hour of the ended connection's leave; false without one.
    fn drop(&mut self, leave: Option<Ts>) -> bool {
        let Some(t) = leave else { return false };
        let i = self.index(t);
        *self.drops.entry(i).or_default() += 1;
        true
    }

    /// A meeting is in progress from its first join to its last leave (its first join alone
    /// when no leave is known or the leave comes first).
    fn meeting(&mut self, m: &Meeting) {
        let Some(first) = m.first_join else { return };
        let last = m.last_leave.filter(|l| *l >= first).unwrap_or(first);
        let (a, b) = (self.index(first), self.index(last));
        self.spans.push((a, b));
    }

    /// Every hour from the first to the last with a connection started or a drop, empty ones
    /// included, in time order. Meetings in progress are counted within that span only, so a
    /// stray far-off LeaveTime cannot stretch the timeline. A span longer than [`MAX_HOURS`]
    /// (a JoinTime years away from the rest) lists only the hours that have a connection or a
    /// drop, rather than millions of empty rows.
    fn rows(self) -> Vec<HourRow> {
        let Some(base) = self.base else { return Vec::new() };
        let mut hours: Vec<i64> =
            self.connections.keys().chain(self.drops.keys()).copied().collect();
        hours.sort_unstable();
        hours.dedup();
        let (Some(&lo), Some(&hi)) = (hours.first(), hours.last()) else {
            return Vec::new();
        };
        if hi - lo < MAX_HOURS {
            hours = (lo..=hi).collect();
        }
        // Meetings in progress: +1 at a meeting's first hour, -1 after its last, swept in
        // hour order.
        let mut steps: Vec<(i64, i64)> = Vec::with_capacity(self.spans.len() * 2);
        for (a, b) in self.spans {
            steps.push((a, 1));
            steps.push((b.saturating_add(1), -1));
        }
        steps.sort_unstable();
        let (mut next, mut in_progress) = (0, 0i64);
        hours
            .into_iter()
            .map(|i| {
                while let Some(&(_, step)) = steps.get(next).filter(|(at, _)| *at <= i) {
                    in_progress += step;
                    next += 1;
                }
                let start = base + i * 3600;
                HourRow {
                    start,
                    label: self.zone.hour_label(start),
                    connections: self.connections.get(&i).copied().unwrap_or(0),
                    drops: self.drops.get(&i).copied().unwrap_or(0),
                    meetings: in_progress.max(0) as u64,
                }
            })
            .collect()
    }
}
