//! Which cached files a run with `--state` and a meeting window (`--since`, `--until`) has to
//! load records from: a night's run over a year of exports should read the night's files and
//! the records of the night's meetings, not every record of the year.
//!
//! Every one-file partial of a state directory carries a catalog (`codec::WireCatalog`): its
//! records' keys with the content hash of the copy it keeps, and its meetings with their first
//! join in that file. From the catalogs of all files:
//! - a meeting's first join is the earliest of its files' first joins, so the window's
//!   meetings are known, and the files that hold any of their records;
//! - the duplicates are every copy but one per key, and the conflicting duplicates the copies
//!   whose content differs from the kept one.
//!
//! This holds when every file kept the same content for a key. Then a record's kept copy,
//! whichever file it is in, is the same record, so each file's first joins are those of the
//! records the whole archive keeps, and a record's copies all belong to one meeting: loading
//! the files of a window's meetings loads every copy of their records, and the reports are
//! those of a run that loads everything. When two files kept different content for one Id,
//! which copy wins decides a record's meeting, and the caller loads everything.

use hashbrown::{HashMap, HashSet};

use crate::analyze::meetings::in_window;
use crate::state::codec::WireCatalog;
use crate::state::partial::Subset;
use crate::timestamp::Ts;

/// The files to load records from, and what the state then stands for.
#[derive(Debug)]
pub struct Selection {
    /// Per catalog: whether its file holds a record of a window's meeting.
    pub files: Vec<bool>,
    pub subset: Subset,
}

/// The selection for the window [since, until), or `None` when two files kept different
/// content for one record Id (then only loading every record gives the reports).
pub fn select(catalogs: &[WireCatalog], since: Option<Ts>, until: Option<Ts>) -> Option<Selection> {
    let (duplicates, conflicts) = dedup(catalogs)?;
    let mut first: HashMap<u128, Option<Ts>> = HashMap::new();
    for catalog in catalogs {
        for m in catalog.meetings() {
            let slot = first.entry(m.key).or_insert(None);
            *slot = match (*slot, m.first_join) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    let meetings: HashSet<u128> = first
        .into_iter()
        .filter(|(_, t)| t.is_some_and(|t| in_window(t, since, until)))
        .map(|(key, _)| key)
        .collect();
    let files = catalogs.iter().map(|c| c.meetings().any(|m| meetings.contains(&m.key))).collect();
    Some(Selection { files, subset: Subset { meetings, duplicates, conflicts, users: Vec::new() } })
}

/// Top bits of a key that pick its range: the ranges are counted on their own, in parallel.
const RANGE_BITS: u32 = 8;

/// The archive's duplicates and conflicting duplicates, or `None` when files disagree on a
/// key's kept content. Keys are random bits (UUIDs, or hashes of other Ids), so cutting the
/// key space by its top bits spreads them evenly; each range takes its slice of every
/// (sorted) catalog.
fn dedup(catalogs: &[WireCatalog]) -> Option<(u64, u64)> {
    use rayon::prelude::*;
    // A catalog out of order (it passed its checksum, so written so by a bug) would hide
    // duplicates from the ranges: counted the slow way instead.
    if !catalogs.iter().all(|c| (0..c.records()).map(|i| c.record(i).key).is_sorted()) {
        return None;
    }
    let copies: u64 = catalogs.iter().map(|c| c.copies).sum();
    let conflicts: u64 = catalogs.iter().map(|c| c.conflicts).sum();
    let start = |range: u128| range << (128 - RANGE_BITS);
    let distinct = (0..1u128 << RANGE_BITS)
        .into_par_iter()
        .map(|range| {
            let mut keys: Vec<(u128, u64)> = Vec::new();
            for catalog in catalogs {
                let from = catalog.first_record_from(start(range));
                let to = match range + 1 {
                    next if next >> RANGE_BITS == 1 => catalog.records(),
                    next => catalog.first_record_from(start(next)),
                };
                keys.extend(
                    (from..to.max(from)).map(|i| catalog.record(i)).map(|r| (r.key, r.hash)),
                );
            }
            // Each catalog's slice is sorted already: a stable sort merges such runs.
            keys.sort();
            let mut distinct = 0u64;
            for group in keys.chunk_by(|a, b| a.0 == b.0) {
                if group.iter().any(|r| r.1 != group[0].1) {
                    return None;
                }
                distinct += 1;
            }
            Some(distinct)
        })
        .sum::<Option<u64>>()?;
    Some((copies.saturating_sub(distinct), conflicts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::codec::{WireKept, WireMeetingKey};

    fn catalog(records: &[(u128, u64)], meetings: &[(u128, Option<Ts>)]) -> WireCatalog {
        let records: Vec<WireKept> =
            records.iter().map(|&(key, hash)| WireKept { key, hash }).collect();
        let meetings: Vec<WireMeetingKey> =
            meetings.iter().map(|&(key, first_join)| WireMeetingKey { key, first_join }).collect();
        WireCatalog::new(&records, records.len() as u64, 0, &meetings)
    }

    #[test]
    fn a_meetings_first_join_is_its_earliest_in_any_file() {
        let (a, b, c) = (1u128 << 127, 2, 3);
        let files = [
            catalog(&[(5, 50)], &[(a, Some(100)), (c, None)]),
            catalog(&[(5, 50), (u128::MAX, 7)], &[(a, Some(50)), (b, Some(120))]),
            catalog(&[], &[(c, None)]),
        ];
        // a first joined at 50: out of [60, 200), in [40, 60) with both its files.
        let s = select(&files, Some(60), Some(200)).expect("no disagreement");
        assert_eq!(s.subset.meetings, [b].into_iter().collect());
        assert_eq!(s.files, [false, true, false]);
        let s = select(&files, Some(40), Some(60)).expect("no disagreement");
        assert_eq!(s.subset.meetings, [a].into_iter().collect());
        assert_eq!(s.files, [true, true, false]);
        // A meeting without any join is in no window; record 5 is one duplicate.
        let s = select(&files, None, None).expect("no disagreement");
        assert_eq!(s.subset.meetings, [a, b].into_iter().collect());
        assert_eq!((s.subset.duplicates, s.subset.conflicts), (1, 0));
    }

    #[test]
    fn files_that_keep_other_content_for_one_id_are_refused() {
        let files = [catalog(&[(5, 50)], &[]), catalog(&[(5, 51)], &[])];
        assert!(select(&files, Some(0), None).is_none());
        let unsorted = [catalog(&[(9, 1), (5, 1)], &[])];
        assert!(select(&unsorted, Some(0), None).is_none());
    }
}
