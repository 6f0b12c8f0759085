//! Meetings: turns the merged, deduplicated records into what the reports print — one meeting
//! per MeetingDetailId with its distinct connections in report order, and the suspected
//! disconnections (SPEC 2). Everything here sorts by strings and times, never by symbol numbers
//! or hash order, so the result is the same for any thread count or input order. Previous
//! stage: `state`; next: `report`.

use std::cmp::Ordering;

use hashbrown::HashMap;
use rayon::prelude::*;

use crate::state::addr::Addr;
use crate::state::intern::{Interner, Sym};
use crate::state::partial::{file_and_offset, Entry, Partial, Pos, Rec};
use crate::timestamp::{MaybeTs, Ts};

/// One distinct connection (SPEC 2 "Connection").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conn {
    pub key: Sym,
    pub key_type: Sym,
    pub organization: Sym,
    pub join: MaybeTs,
    pub leave: MaybeTs,
    pub client_ip: Addr,
    pub device: Sym,
    pub property: Sym,
}

/// A connection as reported: with the UPN and the whole UserAgent of the first record that
/// carried it (neither tells connections apart: SPEC 2).
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    pub conn: Conn,
    pub upn: Sym,
    pub user_agent: Sym,
}

/// Seconds from a connection's leave to the next one's join (negative when they overlap): a
/// reconnection's gap, as `disconnections.csv` writes it; `None` when either time is missing.
pub fn reconnection_gap(ended: &Connection, next: &Connection) -> Option<i64> {
    Some(next.conn.join.get()? - ended.conn.leave.get()?)
}

/// A group of 2+ connections of one attendee from one device: a suspected disconnection.
#[derive(Debug, Clone)]
pub struct Group {
    /// Indices into the meeting's `connections`, in join order.
    pub members: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Meeting {
    pub id: Sym,
    pub organizer_email: Sym,
    pub organizer_id: Sym,
    pub organizer_organization: Sym,
    pub meeting_type: Sym,
    pub first_join: Option<Ts>,
    pub last_leave: Option<Ts>,
    pub number_attendees: u64,
    /// Sorted for the attendees report.
    pub connections: Vec<Connection>,
    /// Sorted for the disconnections report.
    pub groups: Vec<Group>,
    /// Distinct attendee keys with at least one group.
    pub attendees_affected: u64,
    /// Connections the IP filter (`-i`, `--cidr`) let through to the disconnection rule.
    pub connections_matching: u64,
    /// Records of this meeting that only repeated a connection already seen (SPEC 2: counted
    /// as merged).
    pub merged: u64,
    /// What its report rows are made of: a hash of its records' contents (each kept copy's
    /// AuditData hash) with where they lie (file path and row offset) in archive order, which
    /// is all that orders them. With the same options, two runs that give a meeting the same
    /// fingerprint write the same rows for it (`report::reuse`).
    pub fingerprint: u128,
}

/// Which connections the disconnection rule looks at (the `-i` / `--cidr` filters of tala).
pub trait ConnFilter: Sync {
    fn keep(&self, client_ip: &str) -> bool;
    /// Keeps every connection: no client IP needs to be looked at.
    fn keeps_all(&self) -> bool {
        false
    }
}

/// Keeps every connection.
pub struct AllConnections;
impl ConnFilter for AllConnections {
    fn keep(&self, _: &str) -> bool {
        true
    }
    fn keeps_all(&self) -> bool {
        true
    }
}

#[derive(Default)]
pub struct Meetings {
    /// In report order: first_join (missing last), then meeting id.
    pub list: Vec<Meeting>,
}

impl Meetings {
    /// Records that only repeated a connection already seen (SPEC 2: counted as merged).
    pub fn merged_connections(&self) -> u64 {
        self.list.iter().map(|m| m.merged).sum()
    }

    /// Keeps the meetings whose first join is at or after `since` and before `until`
    /// (`--since`, `--until`); with either, a meeting without any join time is left out.
    /// Deduplication and "first in archive order" already saw the whole archive.
    pub fn keep_window(&mut self, since: Option<Ts>, until: Option<Ts>) {
        if since.is_none() && until.is_none() {
            return;
        }
        self.list.retain(|m| m.first_join.is_some_and(|t| in_window(t, since, until)));
    }

    pub fn connections(&self) -> u64 {
        self.list.iter().map(|m| m.connections.len() as u64).sum()
    }
    pub fn attendees(&self) -> u64 {
        self.list.iter().map(|m| m.number_attendees).sum()
    }
    pub fn meetings_affected(&self) -> u64 {
        self.list.iter().filter(|m| !m.groups.is_empty()).count() as u64
    }
    pub fn attendees_affected(&self) -> u64 {
        self.list.iter().map(|m| m.attendees_affected).sum()
    }
    /// Connections the disconnection rule looked at (all of them without an IP filter).
    pub fn connections_matching(&self) -> u64 {
        self.list.iter().map(|m| m.connections_matching).sum()
    }
}

/// At or after `since` and before `until` (`--since`, `--until`).
pub fn in_window(t: Ts, since: Option<Ts>, until: Option<Ts>) -> bool {
    since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
}

/// Missing values (times, networks) sort after present ones.
pub fn missing_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// An attendee's connection as a record gave it: with the record's position, the attendee's
/// UPN and the record's UserAgent.
type Seen = (Conn, Pos, Sym, Sym);

/// Meetings are spread over this many shards by a hash of their id, so shards can be built in
/// parallel without sharing anything: every record of a meeting lands in the same shard.
const SHARDS: usize = 64;

/// Builds the meetings from the merged partial state.
/// `max_gap`: with `--max-gap`, only connections that follow the previous one's leave within
/// that many seconds (or overlap it) form a suspected disconnection.
pub fn build(partial: &Partial, filter: &dyn ConnFilter, max_gap: Option<i64>) -> Meetings {
    build_in(partial, filter, max_gap, None, None)
}

/// [`build`], for only the meetings first joined in [since, until) (`--since`, `--until`):
/// a first pass finds each meeting's first join, so only those in the window are built. A
/// meeting's first join is its connections' earliest, and every attendee of a record is a
/// connection joined at the record's JoinTime: the earliest JoinTime of its records that have
/// attendees.
pub fn build_in(
    partial: &Partial,
    filter: &dyn ConnFilter,
    max_gap: Option<i64>,
    since: Option<Ts>,
    until: Option<Ts>,
) -> Meetings {
    let strings = &partial.strings;
    let selected: Option<hashbrown::HashSet<Sym>> =
        (since.is_some() || until.is_some()).then(|| {
            let mut first: HashMap<Sym, Ts> = HashMap::new();
            for entry in partial.entries() {
                if let Some(join) = entry.rec.first_join() {
                    let t = first.entry(entry.rec.meeting).or_insert(join);
                    *t = (*t).min(join);
                }
            }
            first.into_iter().filter(|(_, t)| in_window(*t, since, until)).map(|(m, _)| m).collect()
        });
    let mut shards: Vec<Vec<&Entry>> = vec![Vec::new(); SHARDS];
    for entry in partial.entries() {
        if selected.as_ref().is_some_and(|s| !s.contains(&entry.rec.meeting)) {
            continue;
        }
        // Fibonacci hashing of the symbol: cheap and spreads consecutive symbols.
        let h = (u64::from(entry.rec.meeting).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        shards[h % SHARDS].push(entry);
    }
    // Each file's path, hashed, by its index: a record's place for the fingerprints, which must
    // not change when a file that sorts before it joins or leaves the archive.
    let mut file_ids = vec![0u64; partial.files.keys().next_back().map_or(0, |i| i + 1)];
    for (&i, file) in &partial.files {
        file_ids[i] = xxhash_rust::xxh3::xxh3_64(&file.path);
    }
    let built: Vec<Vec<Meeting>> = shards
        .into_par_iter()
        .map(|mut entries| build_shard(strings, filter, max_gap, &file_ids, &mut entries))
        .collect();
    let mut list: Vec<Meeting> = built.into_iter().flatten().collect();
    list.par_sort_unstable_by(|a, b| {
        missing_last(a.first_join, b.first_join)
            .then_with(|| strings.get(a.id).as_bytes().cmp(strings.get(b.id).as_bytes()))
    });
    let mut meetings = Meetings { list };
    meetings.keep_window(since, until);
    meetings
}

/// The meetings of one shard. Sorting does what hash maps did (measured: a map per meeting
/// for its connections was most of the time spent building meetings): the entries by meeting
/// and archive position, so each meeting is one run whose first entry is its first record;
/// then each meeting's connections in report order and, among equal ones, by position, so
/// each distinct connection is one run whose first element is its first record's.
fn build_shard(
    strings: &Interner,
    filter: &dyn ConnFilter,
    max_gap: Option<i64>,
    file_ids: &[u64],
    entries: &mut [&Entry],
) -> Vec<Meeting> {
    entries.sort_unstable_by_key(|e| (e.rec.meeting, e.pos));
    let mut meetings = Vec::new();
    // One buffer for every meeting of the shard: (connection, position, UPN, UserAgent) per
    // attendee, with the text of its key. Each key's text is looked up once here, not at each
    // comparison of the sort: the keys are spread over the interner, so a lookup is a cache
    // miss or two, and the connection sort was a third of building the meetings.
    let mut seen: Vec<(&str, Seen)> = Vec::new();
    // What the fingerprint hashes: (file, offset, content hash) of each record.
    let mut places: Vec<u8> = Vec::new();
    for run in entries.chunk_by(|a, b| a.rec.meeting == b.rec.meeting) {
        let Some(first) = run.first() else { continue };
        seen.clear();
        places.clear();
        for entry in run {
            let (file, offset) = file_and_offset(entry.pos);
            places.extend_from_slice(&file_ids.get(file).copied().unwrap_or(0).to_le_bytes());
            places.extend_from_slice(&offset.to_le_bytes());
            places.extend_from_slice(&entry.hash.to_le_bytes());
            let r = &entry.rec;
            seen.extend(r.attendees.iter().map(|a| {
                let conn = Conn {
                    key: a.key,
                    key_type: a.key_type,
                    organization: a.organization,
                    join: r.join,
                    leave: r.leave,
                    client_ip: r.client_ip,
                    device: r.device,
                    property: r.property,
                };
                (strings.get(a.key), (conn, entry.pos, a.upn, r.user_agent))
            }));
        }
        let fingerprint = xxhash_rust::xxh3::xxh3_128(&places);
        meetings.push(meeting(strings, filter, max_gap, &first.rec, &mut seen, fingerprint));
    }
    meetings
}

/// Report order of connections within a meeting (README "Row order"): every field takes
/// part, compared as strings, so the order is total and the same whatever the symbols are.
/// The attendee key comes first; this compares the fields after it.
fn cmp_conn_after_key(strings: &Interner, x: &Conn, y: &Conn) -> Ordering {
    // Equal symbols are equal strings: most fields of an attendee's connections are.
    let s = |a: Sym, b: Sym| {
        if a == b {
            Ordering::Equal
        } else {
            strings.get(a).as_bytes().cmp(strings.get(b).as_bytes())
        }
    };
    missing_last(x.join.get(), y.join.get())
        .then_with(|| missing_last(x.leave.get(), y.leave.get()))
        .then_with(|| s(x.key_type, y.key_type))
        .then_with(|| s(x.organization, y.organization))
        .then_with(|| x.client_ip.cmp_text(y.client_ip, strings))
        .then_with(|| s(x.device, y.device))
        .then_with(|| s(x.property, y.property))
}

/// One meeting from its first record (the organizer's fields) and every attendee of its
/// records (`seen`, reordered here), with the fingerprint of its records.
fn meeting(
    strings: &Interner,
    filter: &dyn ConnFilter,
    max_gap: Option<i64>,
    first: &Rec,
    seen: &mut [(&str, Seen)],
    fingerprint: u128,
) -> Meeting {
    seen.sort_unstable_by(|a, b| {
        let key = || a.0.as_bytes().cmp(b.0.as_bytes());
        key().then_with(|| cmp_conn_after_key(strings, &a.1 .0, &b.1 .0)).then(a.1 .1.cmp(&b.1 .1))
    });
    // A connection met again repeats one already seen (counted as merged); the UPN is its
    // first record's.
    // Sized once (the few repeats leave little room unused): grown by doubling, the bench
    // archive's 1.5 M connections held 15-35 MB more at the peak of a run.
    let mut connections: Vec<Connection> = Vec::with_capacity(seen.len());
    let mut merged = 0u64;
    for &(_, (conn, _, upn, user_agent)) in seen.iter() {
        if connections.last().is_some_and(|c| c.conn == conn) {
            merged += 1;
        } else {
            connections.push(Connection { conn, upn, user_agent });
        }
    }
    let first_join = connections.iter().filter_map(|c| c.conn.join.get()).min();
    let last_leave = connections.iter().filter_map(|c| c.conn.leave.get()).max();
    let mut number_attendees = 0u64;
    let mut groups = Vec::new();
    let mut attendees_affected = 0u64;
    let mut connections_matching = 0u64;
    // Connections are sorted by key first, so each attendee is one run.
    let mut start = 0;
    while start < connections.len() {
        let key = connections[start].conn.key;
        let end = start + connections[start..].iter().take_while(|c| c.conn.key == key).count();
        number_attendees += 1;
        let before = groups.len();
        connections_matching +=
            attendee_groups(strings, filter, max_gap, &connections, start..end, &mut groups);
        if groups.len() > before {
            attendees_affected += 1;
        }
        start = end;
    }
    Meeting {
        id: first.meeting,
        organizer_email: first.organizer_email,
        organizer_id: first.organizer_id,
        organizer_organization: first.organizer_organization,
        meeting_type: first.meeting_type,
        first_join,
        last_leave,
        number_attendees,
        connections,
        groups,
        attendees_affected,
        connections_matching,
        merged,
        fingerprint,
    }
}

/// The device a connection is grouped by: an absent device counts as the device `?`.
/// The device label of a connection without DeviceInformation.
pub const NO_DEVICE: &str = "?";

pub fn device_label(strings: &Interner, device: Sym) -> &str {
    match strings.get(device) {
        "" => NO_DEVICE,
        d => d,
    }
}

/// Appends the suspicious groups of one attendee (connections `range`, same key); returns how
/// many of its connections passed the filter.
fn attendee_groups(
    strings: &Interner,
    filter: &dyn ConnFilter,
    max_gap: Option<i64>,
    connections: &[Connection],
    range: std::ops::Range<usize>,
    groups: &mut Vec<Group>,
) -> u64 {
    // Without a filter the addresses are not looked at: each is a string elsewhere in memory.
    let mut members: Vec<usize> = match filter.keeps_all() {
        true => range.collect(),
        false => {
            let keep =
                |i: &usize| connections[*i].conn.client_ip.with_text(strings, |ip| filter.keep(ip));
            range.filter(keep).collect()
        }
    };
    let matching = members.len() as u64;
    if members.len() < 2 {
        return matching;
    }
    // `members` are already in connection order (join, leave, then the other fields); a stable
    // sort by device keeps that order within each device's group.
    // Equal symbols are the same device, without looking at the strings.
    let device = |k: usize| connections[k].conn.device;
    let label = |k: usize| device_label(strings, device(k)).as_bytes();
    members.sort_by(|&i, &j| match device(i) == device(j) {
        true => Ordering::Equal,
        false => label(i).cmp(label(j)),
    });
    let same_device = |i: &usize, j: &usize| device(*i) == device(*j) || label(*i) == label(*j);
    // With --max-gap a device's connections chain only while each join follows the previous
    // leave closely enough; an unknown gap breaks the chain.
    let close_enough = |i: &usize, j: &usize| match max_gap {
        None => true,
        Some(max) => match (connections[*i].conn.leave.get(), connections[*j].conn.join.get()) {
            (Some(leave), Some(join)) => join - leave <= max,
            _ => false,
        },
    };
    for run in members.chunk_by(|i, j| same_device(i, j) && close_enough(i, j)) {
        if run.len() >= 2 {
            groups.push(Group { members: run.to_vec() });
        }
    }
    matching
}
