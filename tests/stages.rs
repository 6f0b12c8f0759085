//! The stages of a split run (issue "Scale out", SPEC 3): plan → map → merge → finalize, run
//! as separate processes over partial-state files, give the local run's reports byte for byte,
//! and partial states that do not belong are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use proptest::prelude::*;

use crate::util::{code, report_set, stderr, TestDir};

/// One generated row: which record Id (from a small pool, so files overlap), which meeting
/// (so an Id met twice may name two meetings: a conflict across buckets), and what varies.
#[derive(Debug, Clone)]
struct Row {
    id: u8,
    meeting: u8,
    attendee: u8,
    device: u8,
    ip: u8,
    minute: u16,
    bad: bool,
}

/// One generated export: its window's start hour, rows, and whether it is cut mid-row or
/// compressed.
#[derive(Debug, Clone)]
struct FileSpec {
    hour: u8,
    rows: Vec<Row>,
    cut: bool,
    zstd: bool,
}

fn row() -> impl Strategy<Value = Row> {
    (0u8..40, 0u8..6, 0u8..8, 0u8..3, 0u8..4, 0u16..600, prop::bool::weighted(0.05)).prop_map(
        |(id, meeting, attendee, device, ip, minute, bad)| Row {
            id,
            meeting,
            attendee,
            device,
            ip,
            minute,
            bad,
        },
    )
}

fn file_spec() -> impl Strategy<Value = FileSpec> {
    (0u8..12, prop::collection::vec(row(), 0..14), prop::bool::weighted(0.15), any::<bool>())
        .prop_map(|(hour, rows, cut, zstd)| FileSpec { hour, rows, cut, zstd })
}

fn audit_data(r: &Row, hour: u8) -> String {
    let t = |m: u32| {
        let m = u32::from(hour) * 60 + m;
        format!("2024-03-01T{:02}:{:02}:{:02}", (m / 60) % 24, m % 60, (m * 7) % 60)
    };
    let join = u32::from(r.minute) % 300;
    let device = ["Teams desktop", "Edge", "iPhone"][r.device as usize % 3];
    let mut record = serde_json::json!({
        "Id": format!("70000000-0000-0000-0000-{:012}", r.id),
        "CreationTime": t(join),
        "Operation": "MeetingParticipantDetail",
        "MeetingDetailId": format!("meeting-{}", r.meeting),
        "UserId": format!("organizer{}@contoso.com", r.meeting % 3),
        "UserKey": format!("okey-{}", r.meeting % 3),
        "ItemName": "ScheduledMeeting",
        "ClientIP": format!("203.0.113.{}:5{}", r.ip, r.ip),
        "DeviceInformation": device,
        "UserAgent": "Mozilla/5.0 (Windows NT 10.0) Teams/1.6",
        "JoinTime": t(join),
        "LeaveTime": t(join + 1 + u32::from(r.minute) % 40),
        "Attendees": [{
            "UserObjectId": format!("a0000000-0000-0000-0000-{:012}", r.attendee),
            "Type": 0,
            "RecipientType": "User",
            "OrganizationId": "org-1",
            "UPN": format!("user{}@contoso.com", r.attendee),
        }],
    });
    // Some records without Id: kept, never deduplicated.
    if r.id >= 38 {
        if let Some(o) = record.as_object_mut() {
            o.remove("Id");
        }
    }
    record.to_string()
}

/// Writes the archive into `dir/archive`, one file per spec, windows named in the file names.
fn write_archive(dir: &Path, specs: &[FileSpec]) {
    let archive = dir.join("archive");
    std::fs::create_dir_all(archive.join("sub")).expect("mkdir");
    for (i, spec) in specs.iter().enumerate() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["CreationDate", "Operation", "AuditData"]).expect("csv");
        for r in &spec.rows {
            let data = if r.bad { "{\"Id\": broken".to_string() } else { audit_data(r, spec.hour) };
            w.write_record(["2024-03-01", "MeetingParticipantDetail", &data]).expect("csv");
        }
        let mut bytes = w.into_inner().expect("csv");
        if spec.cut && bytes.len() > 80 {
            bytes.truncate(bytes.len() - 30);
        }
        let (start, end) = (u32::from(spec.hour), u32::from(spec.hour) + 6);
        let name = format!(
            "{}UAL-202403{:02}{:02}0000-202403{:02}{:02}0000.csv",
            if i % 3 == 2 { "sub/" } else { "" },
            1 + start / 24,
            start % 24,
            1 + end / 24,
            end % 24
        );
        // Two specs may share a window: the index keeps their names apart.
        let name = name.replace(".csv", &format!("-{i}.csv"));
        let path = archive.join(name);
        if spec.zstd {
            let packed = zstd::encode_all(&bytes[..], 1).expect("zstd");
            std::fs::write(path.with_extension("csv.zst"), packed).expect("write");
        } else {
            std::fs::write(path, bytes).expect("write");
        }
    }
}

fn run(t: &TestDir, args: &[&str]) -> Output {
    t.cmd().args(args).output().expect("run tala-bulk")
}

/// Runs a stage that prints the path of the partial it wrote.
fn stage(t: &TestDir, args: &[&str]) -> String {
    let o = run(t, args);
    assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).expect("utf-8").trim().to_string()
}

/// How the merges are arranged.
#[derive(Debug, Clone, Copy)]
enum Tree {
    /// finalize reads the map partials directly.
    None,
    /// One merge per bucket over every map partial.
    PerBucket,
    /// Per bucket, the maps merged in pairs, then the pairs merged.
    Pairs,
    /// One merge of everything, then finalize.
    Whole,
}

/// The options of every stage in these tests: a small row cap so files get capped.
const OPTIONS: [&str; 2] = ["--row-cap", "6"];

/// Plan, map every shard, merge as `tree` says, finalize into `out`. `order` permutes the
/// partials handed to each merge; `twice` lists the first of them a second time.
fn split_run(
    t: &TestDir,
    shards: u32,
    buckets: u32,
    tree: Tree,
    order: u64,
    twice: bool,
    out: &str,
) -> Output {
    let plan = run(
        t,
        &[
            &["plan", "--shards", &shards.to_string(), "--buckets", &buckets.to_string()][..],
            &OPTIONS,
            &["archive"],
        ]
        .concat(),
    );
    assert_eq!(code(&plan), 0, "plan: {}", stderr(&plan));
    std::fs::write(t.join("plan.json"), &plan.stdout).expect("plan");
    let mut maps: Vec<String> = (0..shards)
        .map(|i| {
            let jobs = (1 + i % 3).to_string();
            stage(
                t,
                &[
                    &[
                        "map",
                        "--plan",
                        "plan.json",
                        "--shard",
                        &i.to_string(),
                        "--out",
                        "work/map",
                        "--jobs",
                        &jobs,
                        "-q",
                    ][..],
                    &OPTIONS,
                ]
                .concat(),
            )
        })
        .collect();
    let permute = |list: &mut Vec<String>| {
        let n = list.len();
        if n > 1 {
            list.rotate_left(order as usize % n);
            if order % 2 == 1 {
                list.reverse();
            }
        }
        if twice {
            let first = list[0].clone();
            list.push(first);
        }
    };
    permute(&mut maps);
    let merge = |bucket: Option<u32>, inputs: &[String]| -> String {
        let b = bucket.map(|b| b.to_string());
        let mut args: Vec<&str> = vec!["merge", "--out", "work/merge"];
        if let Some(b) = &b {
            args.extend(["--bucket", b]);
        }
        args.extend(OPTIONS);
        args.extend(inputs.iter().map(String::as_str));
        stage(t, &args)
    };
    let mut finals: Vec<String> = match tree {
        Tree::None => maps.clone(),
        Tree::Whole => vec![merge(None, &maps)],
        Tree::PerBucket => (0..buckets).map(|b| merge(Some(b), &maps)).collect(),
        Tree::Pairs => (0..buckets)
            .map(|b| {
                let pairs: Vec<String> = maps.chunks(2).map(|c| merge(Some(b), c)).collect();
                merge(Some(b), &pairs)
            })
            .collect(),
    };
    permute(&mut finals);
    let mut args: Vec<&str> = vec!["finalize", "--out", out, "--jobs", "2", "-q"];
    args.extend(OPTIONS);
    args.extend(finals.iter().map(String::as_str));
    run(t, &args)
}

fn local_run(t: &TestDir, out: &str) -> Output {
    run(t, &[&["--out", out, "--jobs", "2", "-q"][..], &OPTIONS, &["archive"]].concat())
}

fn tree() -> impl Strategy<Value = Tree> {
    prop_oneof![Just(Tree::None), Just(Tree::PerBucket), Just(Tree::Pairs), Just(Tree::Whole)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_local_runs_reports(
        specs in prop::collection::vec(file_spec(), 1..9),
        shards in 1u32..5,
        buckets in 1u32..5,
        tree in tree(),
        order in 0u64..8,
        twice in any::<bool>(),
    ) {
        let t = TestDir::new();
        write_archive(t.path(), &specs);
        let local = local_run(&t, "local");
        prop_assert!(matches!(code(&local), 0 | 1), "local: {}", stderr(&local));
        let split = split_run(&t, shards, buckets, tree, order, twice, "split");
        prop_assert_eq!(code(&split), code(&local), "finalize: {}", stderr(&split));
        let (want, got) = (report_set(&t.join("local")), report_set(&t.join("split")));
        prop_assert_eq!(want.keys().collect::<Vec<_>>(), got.keys().collect::<Vec<_>>());
        for (name, text) in &want {
            prop_assert!(got[name] == *text, "{name} differs:\n--- local ---\n{text}\n--- split ---\n{}", got[name]);
        }
    }
}

/// A fixed archive with duplicates, a conflict across meetings, a capped and a cut file.
fn fixed_archive(t: &TestDir) {
    let r = |id, meeting, minute| Row {
        id,
        meeting,
        attendee: id % 5,
        device: 0,
        ip: 1,
        minute,
        bad: false,
    };
    let mut specs = vec![
        FileSpec {
            hour: 0,
            rows: (0..6).map(|i| r(i, i % 2, 10 * u16::from(i))).collect(),
            cut: false,
            zstd: false,
        },
        FileSpec {
            hour: 4,
            rows: (3..9).map(|i| r(i, i % 3, 5 * u16::from(i))).collect(),
            cut: true,
            zstd: true,
        },
        FileSpec { hour: 8, rows: vec![r(1, 5, 30), r(20, 1, 40)], cut: false, zstd: false },
    ];
    specs[2].rows.push(Row { bad: true, ..r(21, 1, 50) });
    write_archive(t.path(), &specs);
}

#[test]
fn a_retried_map_writes_the_same_bytes_whatever_its_threads() {
    let t = TestDir::new();
    fixed_archive(&t);
    let plan = run(&t, &[&["plan", "--shards", "1"][..], &OPTIONS, &["archive"]].concat());
    std::fs::write(t.join("plan.json"), &plan.stdout).expect("plan");
    let map = |dir: &str, jobs: &str| {
        stage(
            &t,
            &[
                &["map", "--plan", "plan.json", "--shard", "0", "--out", dir, "--jobs", jobs, "-q"]
                    [..],
                &OPTIONS,
            ]
            .concat(),
        )
    };
    let (one, four) = (map("a", "1"), map("b", "4"));
    let name = |p: &str| Path::new(p).file_name().map(|n| n.to_owned());
    assert_eq!(name(&one), name(&four), "named by content");
    assert_eq!(std::fs::read(t.join(&one)).expect("a"), std::fs::read(t.join(&four)).expect("b"));
    // The same task again, into the same directory: the same file, nothing else.
    assert_eq!(map("a", "2"), one);
    assert_eq!(std::fs::read_dir(t.join("a")).expect("dir").count(), 1);
}

/// The map partial of the fixed archive, with 2 buckets.
fn one_partial(t: &TestDir, options: &[&str]) -> PathBuf {
    let plan =
        run(t, &[&["plan", "--shards", "1", "--buckets", "2"][..], options, &["archive"]].concat());
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    std::fs::write(t.join("plan.json"), &plan.stdout).expect("plan");
    let p = stage(
        t,
        &[&["map", "--plan", "plan.json", "--shard", "0", "--out", "work", "-q"][..], options]
            .concat(),
    );
    t.join(&p)
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| {
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read"))
        })
        .collect()
}

#[test]
fn damaged_truncated_and_foreign_partials_are_refused_and_change_no_report() {
    let t = TestDir::new();
    fixed_archive(&t);
    let good = one_partial(&t, &OPTIONS);
    let o = local_run(&t, "r");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let before = snapshot(&t.join("r"));
    let bytes = std::fs::read(&good).expect("partial");
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    let mut flipped = bytes.clone();
    let at = bytes.len() - 10;
    flipped[at] ^= 0x40;
    cases.push(("flipped.tbp", flipped, "checksum mismatch"));
    cases.push(("short.tbp", bytes[..bytes.len() - 100].to_vec(), "truncated"));
    cases.push(("header.tbp", bytes[..40].to_vec(), "truncated or damaged"));
    cases.push((
        "export.tbp",
        std::fs::read(
            t.join("archive/sub").read_dir().expect("sub").flatten().next().expect("a file").path(),
        )
        .expect("read"),
        "not a tala-bulk partial state",
    ));
    let mut header = bytes.clone();
    header[30] ^= 1;
    cases.push(("headerbit.tbp", header, "header checksum mismatch"));
    for (name, content, why) in cases {
        let path = t.join(name);
        std::fs::write(&path, content).expect("write");
        let o = run(
            &t,
            &[
                &["finalize", "--out", "r", "-q"][..],
                &OPTIONS,
                &[good.to_str().expect("utf-8"), path.to_str().expect("utf-8")],
            ]
            .concat(),
        );
        assert_eq!(code(&o), 3, "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(path.to_str().expect("utf-8")) && err.contains(why), "{name}: {err}");
        assert_eq!(snapshot(&t.join("r")), before, "{name}: the reports changed");
    }
    // Made with other options: refused by finalize, and by merge.
    let other = TestDir::new();
    fixed_archive(&other);
    let foreign = one_partial(&other, &["--row-cap", "7"]);
    for args in [vec!["finalize", "--out", "r", "-q"], vec!["merge", "--out", "m"]] {
        let o = run(
            &t,
            &[
                &args[..],
                &OPTIONS,
                &[good.to_str().expect("utf-8"), foreign.to_str().expect("utf-8")],
            ]
            .concat(),
        );
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("other options")
                && stderr(&o).contains(foreign.to_str().expect("utf-8")),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(snapshot(&t.join("r")), before);
}

#[test]
fn partials_that_do_not_cover_every_bucket_and_file_are_refused() {
    let t = TestDir::new();
    fixed_archive(&t);
    let plan = run(
        &t,
        &[&["plan", "--shards", "2", "--buckets", "2"][..], &OPTIONS, &["archive"]].concat(),
    );
    std::fs::write(t.join("plan.json"), &plan.stdout).expect("plan");
    let map = |i: &str| {
        stage(
            &t,
            &[&["map", "--plan", "plan.json", "--shard", i, "--out", "w", "-q"][..], &OPTIONS]
                .concat(),
        )
    };
    let (m0, m1) = (map("0"), map("1"));
    let merge = |b: &str, inputs: &[&str]| {
        stage(&t, &[&["merge", "--bucket", b, "--out", "w"][..], &OPTIONS, inputs].concat())
    };
    let b0 = merge("0", &[&m0, &m1]);
    // Bucket 1 merged from one map only: its records of the other shard's files are missing.
    let b1_short = merge("1", &[&m0]);
    let o = run(&t, &[&["finalize", "--out", "r", "-q"][..], &OPTIONS, &[&b0, &b1_short]].concat());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("bucket 1 lacks the records of"), "{}", stderr(&o));
    // Bucket 1 left out altogether.
    let o = run(&t, &[&["finalize", "--out", "r", "-q"][..], &OPTIONS, &[&b0]].concat());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("hold no bucket 1"), "{}", stderr(&o));
    // A merge of bucket 1 handed a partial that holds only bucket 0.
    let o =
        run(&t, &[&["merge", "--bucket", "1", "--out", "w"][..], &OPTIONS, &[&m0, &b0]].concat());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("holds no bucket 1"), "{}", stderr(&o));
    assert!(!t.join("r/organizers.csv").exists(), "no report was written");
    // A shard that does not exist.
    let o = run(
        &t,
        &[&["map", "--plan", "plan.json", "--shard", "2", "--out", "w"][..], &OPTIONS].concat(),
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("shard 2 does not exist: the plan has 2 shards"), "{}", stderr(&o));
}

#[test]
fn partial_dump_prints_header_files_and_records() {
    let t = TestDir::new();
    fixed_archive(&t);
    let p = one_partial(&t, &OPTIONS);
    let o = run(&t, &["partial", "dump", p.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let header = &lines[0]["header"];
    assert_eq!(header["buckets"], 2);
    assert_eq!(header["files"], 3);
    assert_eq!(header["tool_version"], env!("CARGO_PKG_VERSION"));
    let files: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("file").is_some()).collect();
    let statuses: Vec<&str> =
        files.iter().map(|f| f["state"]["status"].as_str().unwrap_or("")).collect();
    // Archive order: the two files at the top, then sub/; 6 rows reach --row-cap 6.
    assert_eq!(statuses, ["capped", "cut", "complete"]);
    let records: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("record").is_some()).collect();
    // Ids 0-8 and 20 (21 is a bad row); the cut file loses its last row (Id 8).
    assert_eq!(records.len(), 9, "{records:?}");
    let id1 =
        records.iter().find(|r| r["key"] == "70000000000000000000000000000001").expect("Id 1");
    // Id 1 was met twice: in the first file (meeting-1, held) and the third (meeting-5).
    assert_eq!(id1["copies"].as_array().map(Vec::len), Some(2));
    assert_eq!(id1["record"]["meeting"], "meeting-1");
}

#[test]
fn plan_sizes_shards_by_bytes_and_is_deterministic() {
    let t = TestDir::new();
    fixed_archive(&t);
    let total: u64 = ["archive", "archive/sub"]
        .iter()
        .flat_map(|d| std::fs::read_dir(t.join(d)).expect("dir").flatten())
        .filter(|e| e.path().is_file())
        .map(|e| e.metadata().expect("meta").len())
        .sum();
    let plan = |args: &[&str]| {
        let o = run(&t, &[&["plan"][..], args, &["archive"]].concat());
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).expect("plan JSON")
    };
    let per = (total / 2 + 1).to_string();
    let by_bytes = plan(&["--shard-bytes", &per]);
    let shards = by_bytes["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), 2, "{by_bytes}");
    // Every file in exactly one shard, and the same plan again.
    let mut all: Vec<u64> = shards
        .iter()
        .flat_map(|s| s.as_array().expect("list"))
        .filter_map(|i| i.as_u64())
        .collect();
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2]);
    assert_eq!(plan(&["--shard-bytes", &per]), by_bytes);
    assert_eq!(plan(&[])["shards"].as_array().map(Vec::len), Some(1), "1 GiB a shard by default");
}

/// A split run with `--options` through plan → map (2 shards) → merge per bucket → finalize.
pub(crate) fn split_with(
    t: &TestDir,
    options: &[&str],
    finalize_extra: &[&str],
    out: &str,
) -> Output {
    let plan =
        run(t, &[&["plan", "--shards", "2", "--buckets", "3"][..], options, &["archive"]].concat());
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    std::fs::write(t.join("plan.json"), &plan.stdout).expect("plan");
    let maps: Vec<String> = ["0", "1"]
        .iter()
        .map(|i| {
            stage(
                t,
                &[&["map", "--plan", "plan.json", "--shard", i, "--out", "w", "-q"][..], options]
                    .concat(),
            )
        })
        .collect();
    let maps: Vec<&str> = maps.iter().map(String::as_str).collect();
    let merged: Vec<String> = ["0", "1", "2"]
        .iter()
        .map(|b| stage(t, &[&["merge", "--bucket", b, "--out", "w"][..], options, &maps].concat()))
        .collect();
    let merged: Vec<&str> = merged.iter().map(String::as_str).collect();
    run(t, &[&["finalize", "--out", out, "-q"][..], finalize_extra, options, &merged].concat())
}

#[test]
fn the_users_database_filters_and_audit_only_work_through_a_split_run() {
    let t = TestDir::new();
    fixed_archive(&t);
    // The users database learns the same pairs; the IP filter, --max-gap and --excel-safe give
    // the same reports.
    let options =
        ["--row-cap", "6", "--cidr", "203.0.113.0/24", "--max-gap", "600", "--excel-safe"];
    // The same database file for both (summary.json names it): reset between the runs.
    let db = "a0000000-0000-0000-0000-000000000001,known@contoso.com\n";
    std::fs::write(t.join("users.csv"), db).expect("db");
    let local = run(
        &t,
        &[&["--out", "local", "-q", "-u", "users.csv"][..], &options, &["archive"]].concat(),
    );
    assert_eq!(code(&local), 1, "{}", stderr(&local));
    let learned = t.read("users.csv");
    std::fs::write(t.join("users.csv"), db).expect("db");
    let split = split_with(&t, &options, &["-u", "users.csv"], "split");
    assert_eq!(code(&split), 1, "{}", stderr(&split));
    assert_eq!(report_set(&t.join("split")), report_set(&t.join("local")));
    assert_eq!(t.read("users.csv"), learned);
    assert!(
        learned.lines().count() > 3 && learned.contains("okey-0,organizer0@contoso.com"),
        "{learned}"
    );
    // --audit-only: partials without records, the same audit reports.
    let audit = ["--row-cap", "6", "--audit-only"];
    let local = run(&t, &[&["--out", "a-local", "-q"][..], &audit, &["archive"]].concat());
    let split = split_with(&t, &audit, &[], "a-split");
    assert_eq!((code(&local), code(&split)), (1, 1), "{}", stderr(&split));
    let set = report_set(&t.join("a-split"));
    assert_eq!(
        set.keys().collect::<Vec<_>>(),
        ["errors.csv", "redownload.csv", "redownload.ps1", "truncation.csv"]
    );
    assert_eq!(set, report_set(&t.join("a-local")));
}
