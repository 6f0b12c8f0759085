//! Properties of the merge (issue "Reliability"): partial states merged in any grouping and
//! order, and an archive split into any shards, give byte-identical reports.

use proptest::prelude::*;

use tala_bulk::analyze::meetings::{self, AllConnections};
use tala_bulk::messages::Ui;
use tala_bulk::read::worker::Worker;
use tala_bulk::report::{audit, tables};
use tala_bulk::source::discover::{self, ArchiveFile};
use tala_bulk::state::claims::Claims;
use tala_bulk::state::files::FileReport;
use tala_bulk::state::partial::Partial;
use tala_bulk::Input;

use crate::util::testdata;

fn archive() -> Vec<ArchiveFile> {
    discover::discover(
        &[Input::Path(testdata("sample").into()), Input::Path(testdata("fixtures").into())],
        &[],
    )
}

/// Reads the given archive files (by index) with one worker into one partial state.
fn read(files: &[ArchiveFile], which: &[usize], ui: &Ui, claims: &Claims) -> Partial {
    let mut worker = Worker::new(ui, Some(claims), 50_000, false, false);
    for &i in which {
        worker.process(i, &files[i]);
    }
    worker.partial
}

/// Everything a run writes from a state: the three tables, the truncation audit, errors.csv,
/// and the counts behind summary.json.
fn reports(partial: &mut Partial) -> String {
    let m = meetings::build(partial, &AllConnections, None);
    let mut out = Vec::new();
    let fields = tables::Fields::new(&partial.strings, false);
    tables::write_organizers(&mut out, &fields, &m, None).expect("write");
    tables::write_attendees(&mut out, &fields, None, &m, None).expect("write");
    tables::write_disconnections(&mut out, &fields, None, &m, None).expect("write");
    let files: Vec<FileReport> = partial.reports().cloned().collect();
    audit::write_truncation(&mut out, &files, false).expect("write");
    audit::write_errors(&mut out, partial, false).expect("write");
    let mut text = String::from_utf8(out).expect("UTF-8 reports");
    text.push_str(&format!(
        "{:?}\ndup={} conflicts={} merged={}\n",
        partial.counts(),
        partial.duplicates(),
        partial.conflicts(),
        m.merged_connections()
    ));
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_sharding_grouping_and_order_gives_the_same_reports(
        shard_of in prop::collection::vec(0usize..5, 20),
        picks in prop::collection::vec(any::<usize>(), 8),
        order_seed in any::<u64>(),
        shared_claims in any::<bool>(),
    ) {
        let files = archive();
        let ui = Ui::new(0, 0, false);
        let all: Vec<usize> = (0..files.len()).collect();
        let baseline = reports(&mut read(&files, &all, &ui, &Claims::default()));
        prop_assert!(baseline.contains("not-an-export") && baseline.contains("invalid_json"));

        // Shards: each file goes to one of up to 5 workers (which may read several files).
        let mut shards: Vec<Vec<usize>> = vec![Vec::new(); 5];
        for i in 0..files.len() {
            shards[shard_of[i % shard_of.len()]].push(i);
        }
        // Shards read in a rotated order, with one Id index for all (as the workers of a run
        // share one) or none shared: a later copy may be read first and stored, or an earlier
        // one already claimed, and either way the merge must come out the same.
        let claims = Claims::default();
        let mut shards: Vec<Vec<usize>> = shards.into_iter().filter(|s| !s.is_empty()).collect();
        let len = shards.len();
        shards.rotate_left((order_seed as usize / 7) % len);
        let mut parts: Vec<Partial> = shards
            .iter()
            .map(|s| {
                if shared_claims {
                    read(&files, s, &ui, &claims)
                } else {
                    read(&files, s, &ui, &Claims::default())
                }
            })
            .collect();
        // Any order: rotate by the seed, then merge adjacent pairs chosen by `picks`, which
        // builds an arbitrary merge tree (and both argument orders across cases).
        let len = parts.len();
        parts.rotate_left((order_seed as usize) % len);
        let mut k = 0;
        while parts.len() > 1 {
            let i = picks[k % picks.len()] % (parts.len() - 1);
            k += 1;
            let b = parts.remove(i + 1);
            let a = parts.remove(i);
            let merged = if k % 2 == 0 { a.merge(b) } else { b.merge(a) };
            parts.insert(i, merged);
        }
        let mut merged = parts.pop().expect("one state");
        let got = reports(&mut merged);
        prop_assert!(got == baseline, "reports differ after sharding {:?}:\n{}", shards, first_difference(&baseline, &got));
    }
}

/// The first line where two texts differ, both ways, for a readable failure.
fn first_difference(expected: &str, actual: &str) -> String {
    let pair = expected.lines().zip(actual.lines()).find(|(a, b)| a != b);
    match pair {
        Some((a, b)) => format!("expected: {a}\nactual:   {b}"),
        None => format!("{} lines against {}", expected.lines().count(), actual.lines().count()),
    }
}
