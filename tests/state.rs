//! `--state DIR` (issue "Nightly runs"): a run that reuses the files it read before writes the
//! same reports as a run without it, whatever changed in the archive or the state directory.

use std::path::Path;

use tala_bulk::state::codec::{Header, SectionKind, MAGIC};

use crate::util::{code, report_set, stderr, testdata, TestDir};

/// The reports of `out`, summary.json without the state counts and the new problems (which
/// say how this run went compared with the last, like its timing), and without the users
/// database's path (runs with and without --state here learn into databases of their own).
fn reports(t: &TestDir, out: &str) -> std::collections::BTreeMap<String, String> {
    let mut set = report_set(&t.join(out));
    if let Some(summary) = set.get_mut("summary.json") {
        let mut v: serde_json::Value = serde_json::from_str(summary).expect("json");
        if let Some(o) = v.as_object_mut() {
            o.remove("state_files");
            o.remove("new_problems_since_last_run");
            if let Some(options) = o.get_mut("options").and_then(|v| v.as_object_mut()) {
                options.remove("users_database");
            }
        }
        *summary = v.to_string();
    }
    set
}

const CAP: [&str; 2] = ["--row-cap", "300"];

/// Runs with `--state state` into `out`; returns (read, reused, dropped) and stderr.
fn with_state(t: &TestDir, out: &str, extra: &[&str]) -> ((u64, u64, u64), String) {
    let o = t.run_out(out, &[&CAP[..], extra, &["--state", "state", "archive"]].concat());
    assert!(matches!(code(&o), 0 | 1), "{}", stderr(&o));
    let s = t.summary(out)["state_files"].clone();
    let n = |k: &str| s[k].as_u64().unwrap_or(u64::MAX);
    ((n("read"), n("reused"), n("dropped")), stderr(&o))
}

/// Runs without `--state` into `out` and checks `with` has the same reports.
fn same_as_plain(t: &TestDir, with: &str, extra: &[&str]) {
    let plain = format!("{with}-plain");
    let o = t.run_out(&plain, &[&CAP[..], extra, &["archive"]].concat());
    assert!(matches!(code(&o), 0 | 1), "{}", stderr(&o));
    assert_eq!(reports(t, with), reports(t, &plain), "{with}");
}

fn copy_sample(t: &TestDir) {
    std::fs::create_dir_all(t.join("archive")).expect("mkdir");
    for entry in std::fs::read_dir(testdata("sample")).expect("sample").flatten() {
        std::fs::copy(entry.path(), t.join("archive").join(entry.file_name())).expect("copy");
    }
}

/// The first entry of `dir` by name.
fn first_in(t: &TestDir, dir: &str) -> std::path::PathBuf {
    let mut names: Vec<_> =
        std::fs::read_dir(t.join(dir)).expect("dir").flatten().map(|e| e.path()).collect();
    names.sort();
    names.remove(0)
}

fn first_export(t: &TestDir) -> std::path::PathBuf {
    first_in(t, "archive")
}

#[test]
fn files_added_removed_and_rewritten_give_the_reports_of_a_full_run() {
    let t = TestDir::new();
    copy_sample(&t);
    assert_eq!(with_state(&t, "r1", &[]).0, (6, 0, 0));
    same_as_plain(&t, "r1", &[]);
    assert_eq!(with_state(&t, "r2", &[]).0, (0, 6, 0));
    same_as_plain(&t, "r2", &[]);
    // A new export (one of the fixtures) and one gone.
    std::fs::copy(testdata("fixtures/reconnect.csv"), t.join("archive/zz-new.csv")).expect("copy");
    let gone = first_export(&t);
    std::fs::remove_file(&gone).expect("remove");
    assert_eq!(with_state(&t, "r3", &[]).0, (1, 5, 1));
    same_as_plain(&t, "r3", &[]);
    // Rewritten in place: other content, the same size and modification time.
    let victim = first_export(&t);
    let meta = std::fs::metadata(&victim).expect("meta");
    let mut bytes = std::fs::read(&victim).expect("read");
    let at = bytes.iter().position(|&b| b == b'0').expect("a digit");
    bytes[at] = b'1';
    std::fs::write(&victim, &bytes).expect("write");
    let file = std::fs::File::options().write(true).open(&victim).expect("open");
    file.set_modified(meta.modified().expect("mtime")).expect("set mtime");
    assert_eq!(std::fs::metadata(&victim).expect("meta").len(), meta.len());
    assert_eq!(with_state(&t, "r4", &[]).0, (1, 5, 0));
    same_as_plain(&t, "r4", &[]);
}

/// Changes one digit of `path` at or after its middle (a time or an address, never a quote or
/// a comma): the same size, other content.
fn change_a_digit_past_the_middle(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let half = bytes.len() / 2;
    let at = half + bytes[half..].iter().position(u8::is_ascii_digit).expect("a digit");
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(path, &bytes).expect("write");
}

#[test]
fn the_rows_of_unchanged_meetings_are_copied_from_the_last_reports_only_when_intact() {
    let t = TestDir::new();
    copy_sample(&t);
    let copied = |t: &TestDir| t.summary("r")["state_files"]["meetings_rows_reused"].as_u64();
    let meetings = |t: &TestDir| t.summary("r")["meetings"].as_u64().expect("meetings");
    with_state(&t, "r", &[]);
    assert_eq!(copied(&t), Some(0), "no reports to copy from yet");
    // Nothing changed: every meeting's rows come from the last reports, as the human summary
    // says too.
    let (_, err) = with_state(&t, "r", &[]);
    assert!(meetings(&t) > 10);
    assert_eq!(copied(&t), Some(meetings(&t)));
    let line = format!("the rows of {} meetings copied from the previous reports", meetings(&t));
    assert!(err.contains(&line), "{err}");
    same_as_plain(&t, "r", &[]);
    // A new export and a record changed: the meetings they touch are formatted, the others
    // copied.
    std::fs::copy(testdata("fixtures/reconnect.csv"), t.join("archive/zz-new.csv")).expect("copy");
    change_a_digit_past_the_middle(&first_export(&t));
    with_state(&t, "r", &[]);
    let n = copied(&t).expect("copied");
    assert!(n > 0 && n < meetings(&t), "{n} of {}", meetings(&t));
    same_as_plain(&t, "r", &[]);
    // A report edited since, at the same size: the edited meeting's rows do not hash as
    // recorded, so they are formatted again and only that meeting is not copied.
    with_state(&t, "r", &[]);
    assert_eq!(copied(&t), Some(meetings(&t)));
    change_a_digit_past_the_middle(&t.join("r/attendees.csv"));
    with_state(&t, "r", &[]);
    assert_eq!(copied(&t), Some(meetings(&t) - 1));
    same_as_plain(&t, "r", &[]);
    // A windowed run wrote other reports in between: the rows recorded are not where the
    // record says, and the next run formats what it cannot find.
    with_state(&t, "r", &["--since", "2024-03-02"]);
    assert_eq!(copied(&t), None, "a windowed run copies no rows");
    with_state(&t, "r", &[]);
    same_as_plain(&t, "r", &[]);
    // A damaged record of the rows, and other options: nothing is copied, nothing is wrong.
    let record = t.join("state/rows.bin");
    let bytes = std::fs::read(&record).expect("rows.bin");
    std::fs::write(&record, &bytes[..bytes.len() / 2]).expect("write");
    with_state(&t, "r", &[]);
    assert_eq!(copied(&t), Some(0));
    same_as_plain(&t, "r", &[]);
    with_state(&t, "r", &["--excel-safe"]);
    assert_eq!(copied(&t), Some(0));
    same_as_plain(&t, "r", &["--excel-safe"]);
}

#[test]
fn the_same_archive_by_another_path_is_read_again_and_the_warning_says_why() {
    let t = TestDir::new();
    copy_sample(&t);
    assert_eq!(with_state(&t, "r1", &[]).0, (6, 0, 0));
    // The cron job's command written with an absolute path this time.
    let archive = t.join("archive");
    let args = [&CAP[..], &["--state", "state", archive.to_str().expect("utf-8 path")]].concat();
    let o = t.run_out("r2", &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = t.summary("r2")["state_files"].clone();
    assert_eq!(
        (s["read"].as_u64(), s["reused"].as_u64(), s["dropped"].as_u64()),
        (Some(6), Some(0), Some(6))
    );
    let first = first_export(&t);
    let name = first.file_name().and_then(|n| n.to_str()).expect("name");
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}: no file was given by the path it was cached under ({} was cached as archive/{name})",
            "state",
            first.display()
        )),
        "{err}"
    );
    // Back to the paths as given before: the state (now keyed by the absolute paths) warns
    // again, the other way round; the same paths twice do not.
    let (counts, err) = with_state(&t, "r3", &[]);
    assert_eq!(counts, (6, 0, 6));
    assert!(err.contains(&format!("(archive/{name} was cached as {})", first.display())), "{err}");
    let (counts, err) = with_state(&t, "r4", &[]);
    assert_eq!(counts, (0, 6, 0));
    assert!(!err.contains("cached under"), "{err}");
    same_as_plain(&t, "r4", &[]);
}

/// The first cached partial of the state directory.
fn a_cached_partial(t: &TestDir) -> std::path::PathBuf {
    first_in(t, "state/files")
}

#[test]
fn a_damaged_entry_is_read_again_and_other_options_rebuild() {
    let t = TestDir::new();
    copy_sample(&t);
    with_state(&t, "r1", &[]);
    let partial = a_cached_partial(&t);
    let mut bytes = std::fs::read(&partial).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&partial, bytes).expect("write");
    let ((read, reused, _), err) = with_state(&t, "r2", &[]);
    assert_eq!((read, reused), (1, 5));
    assert!(err.contains("its cached state is unusable") && err.contains("read again"), "{err}");
    same_as_plain(&t, "r2", &[]);
    // The damaged entry was replaced: all reused now.
    assert_eq!(with_state(&t, "r3", &[]).0, (0, 6, 0));
    // Other result options: everything is read again, and the reports are those options'.
    let ((read, reused, _), err) = with_state(&t, "r4", &["--max-gap", "60"]);
    assert_eq!((read, reused), (6, 0));
    assert!(err.contains("state made with other options; every file is read again"), "{err}");
    same_as_plain(&t, "r4", &["--max-gap", "60"]);
    // A damaged index: a warning, everything read again.
    std::fs::write(t.join("state/index.json"), "{ not json").expect("write");
    let ((read, _, _), err) = with_state(&t, "r5", &["--max-gap", "60"]);
    assert_eq!(read, 6);
    assert!(err.contains("index.json is damaged"), "{err}");
    same_as_plain(&t, "r5", &["--max-gap", "60"]);
}

#[test]
fn partials_of_another_format_are_read_again_with_one_warning() {
    let t = TestDir::new();
    copy_sample(&t);
    with_state(&t, "r1", &[]);
    let index = t.join("state/index.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index).expect("index")).expect("json");
    let now = v["partial_format"].as_u64().expect("partial_format");
    // An index of the release before the field was written has none; one of another format
    // names it.
    for older in [None, Some(now - 1)] {
        match older {
            None => v.as_object_mut().expect("object").remove("partial_format"),
            Some(n) => v.as_object_mut().expect("object").insert("partial_format".into(), n.into()),
        };
        std::fs::write(&index, v.to_string()).expect("write");
        let ((read, reused, _), err) = with_state(&t, "r2", &[]);
        assert_eq!((read, reused), (6, 0), "{older:?}");
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(warnings.len(), 1, "{older:?}: {err}");
        assert!(warnings[0].contains("a state of another format; every file is read again"));
        same_as_plain(&t, "r2", &[]);
        // Written in this format again: all reused now.
        assert_eq!(with_state(&t, "r3", &[]).0, (0, 6, 0));
    }
}

#[test]
fn a_run_killed_while_writing_the_state_leaves_one_the_next_run_uses() {
    let t = TestDir::new();
    copy_sample(&t);
    with_state(&t, "r1", &[]);
    std::fs::copy(testdata("fixtures/reconnect.csv"), t.join("archive/zz-new.csv")).expect("copy");
    for point in ["state-files-written", "state-indexed"] {
        let o = t
            .cmd()
            .env("TALA_BULK_CRASH_AT", point)
            .args([&CAP[..], &["--out", "killed", "--state", "state", "archive"]].concat())
            .output()
            .expect("run");
        assert!(o.status.code().is_none(), "{point}: the run was not stopped");
        // Killed before the index: the new file is read again; after it: reused.
        let expected = if point == "state-indexed" { (0, 7, 0) } else { (1, 6, 0) };
        assert_eq!(with_state(&t, &format!("after-{point}"), &[]).0, expected, "{point}");
        same_as_plain(&t, &format!("after-{point}"), &[]);
    }
    // Nothing the killed runs left behind stays.
    let left: Vec<String> = std::fs::read_dir(t.join("state"))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !["files", "index.json", "problems.json", "rows.bin", ".lock"].contains(&n.as_str())
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(std::fs::read_dir(t.join("state/files")).expect("dir").count(), 7);
}

#[test]
fn a_second_run_on_the_same_state_directory_is_refused() {
    let t = TestDir::new();
    copy_sample(&t);
    with_state(&t, "r1", &[]);
    let held = tala_bulk::lock::Lock::try_acquire(&t.join("state/.lock"));
    assert!(held.is_ok(), "the test takes the lock");
    let o = t.run_out("r2", &[&CAP[..], &["--state", "state", "archive"]].concat());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("is in use by another tala-bulk run"), "{}", stderr(&o));
    assert!(!Path::new(&t.join("r2/organizers.csv")).exists());
}

#[test]
fn a_full_disk_under_the_state_directory_fails_the_run_and_keeps_the_reports() {
    let t = TestDir::new();
    copy_sample(&t);
    let o = t.run_out("r", &[&CAP[..], &["archive"]].concat());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let before = report_set(&t.join("r"));
    let _disk = crate::util::Mount::tmpfs(&t.join("disk"), "size=64k");
    // The sample's six partials take about 300 KB.
    let o = t.run_out("r", &[&CAP[..], &["--state", "disk/state", "archive"]].concat());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("No space left on device"), "{}", stderr(&o));
    assert_eq!(report_set(&t.join("r")), before);
}

#[test]
fn the_summary_lists_the_problems_new_since_the_last_run() {
    let t = TestDir::new();
    copy_sample(&t);
    let new = |out: &str| -> Vec<String> {
        t.summary(out)["new_problems_since_last_run"]
            .as_array()
            .expect("a list with --state")
            .iter()
            .map(|p| p.as_str().unwrap_or_default().to_string())
            .collect()
    };
    with_state(&t, "r1", &[]);
    // The first run: everything is new. The sample has one capped file (--row-cap 300).
    let first = new("r1");
    assert!(first.iter().any(|p| p.starts_with("capped: archive/UAL-")), "{first:?}");
    with_state(&t, "r2", &[]);
    assert_eq!(new("r2"), Vec::<String>::new());
    // A file cut in the middle of a row: the cut is new.
    let victim = first_export(&t);
    let bytes = std::fs::read(&victim).expect("read");
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).expect("write");
    let (_, err) = with_state(&t, "r3", &[]);
    let name =
        format!("cut: archive/{}", victim.file_name().and_then(|n| n.to_str()).unwrap_or(""));
    assert!(new("r3").contains(&name), "{:?}", new("r3"));
    assert!(err.contains("new since the last run:") && err.contains(&name), "{err}");
    same_as_plain(&t, "r3", &[]);
    // Without --state there is no such list.
    let o = t.run_out("plain", &[&CAP[..], &["archive"]].concat());
    assert!(matches!(code(&o), 0 | 1));
    assert!(t.summary("plain")["new_problems_since_last_run"].is_null());
}

#[test]
fn state_info_and_prune() {
    let t = TestDir::new();
    copy_sample(&t);
    with_state(&t, "r1", &[]);
    let info = |t: &TestDir| -> serde_json::Value {
        let o = t.cmd().args(["state", "info", "state"]).output().expect("run");
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("JSON")
    };
    let i = info(&t);
    assert_eq!((i["files"].as_u64(), i["partials"].as_u64()), (Some(6), Some(6)));
    assert_eq!(i["last_run"]["read"].as_u64(), Some(6));
    assert!(i["bytes"].as_u64().is_some_and(|b| b > 10_000), "{i}");
    let rows = std::fs::metadata(t.join("state/rows.bin")).expect("rows.bin").len();
    assert!(rows > 0);
    assert_eq!(i["report_rows_bytes"].as_u64(), Some(rows), "{i}");
    std::fs::remove_file(first_export(&t)).expect("remove");
    assert_eq!(info(&t)["files_gone_from_disk"].as_u64(), Some(1));
    let o = t.cmd().args(["state", "prune", "state"]).output().expect("run");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 files no longer on disk forgotten, 1 partials removed"),
        "{}",
        stderr(&o)
    );
    let i = info(&t);
    assert_eq!((i["files"].as_u64(), i["partials"].as_u64()), (Some(5), Some(5)));
    assert_eq!(with_state(&t, "r2", &[]).0, (0, 5, 0));
    let o = t.cmd().args(["state", "info", "archive"]).output().expect("run");
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("is not a tala-bulk state directory"), "{}", stderr(&o));
}

#[test]
fn a_hard_link_or_chmod_is_no_reason_to_read_again_but_other_content_is() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestDir::new();
    copy_sample(&t);
    with_state(&t, "r1", &[]);
    // A hard link elsewhere and a chmod change the files' ctime, not their content.
    let first = first_export(&t);
    std::fs::hard_link(&first, t.join("elsewhere.csv")).expect("link");
    let mut names: Vec<_> =
        std::fs::read_dir(t.join("archive")).expect("dir").flatten().map(|e| e.path()).collect();
    names.sort();
    let second = names[1].clone();
    std::fs::set_permissions(&second, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(with_state(&t, "r2", &[]).0, (0, 6, 0));
    same_as_plain(&t, "r2", &[]);
    // Their new ctime is recorded: the next run takes the fast path again.
    assert_eq!(with_state(&t, "r3", &[]).0, (0, 6, 0));
    // Other content in the middle of a file, at the same size and modification time, with
    // the same first and last 64 KiB: the whole-file hash tells.
    let meta = std::fs::metadata(&second).expect("meta");
    let mut bytes = std::fs::read(&second).expect("read");
    assert!(bytes.len() > 200_000, "the sample files are larger than two 64 KiB ends");
    let middle = bytes.len() / 2;
    let at = middle + bytes[middle..].iter().position(|b| b.is_ascii_digit()).expect("a digit");
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&second, &bytes).expect("write");
    let file = std::fs::File::options().write(true).open(&second).expect("open");
    file.set_modified(meta.modified().expect("mtime")).expect("set mtime");
    assert_eq!(with_state(&t, "r4", &[]).0, (1, 5, 0));
    same_as_plain(&t, "r4", &[]);
}

/// A windowed run with `--state` loads the records of only the files that hold the window's
/// meetings, and writes the reports of a run without `--state`: after files are added (one
/// moves a meeting's first join out of the window, one repeats a record), removed, and when
/// two files keep different content for one Id or a users database learns (then every record
/// is loaded).
#[test]
fn a_windowed_run_loads_only_the_files_of_its_meetings_and_reports_what_a_full_run_does() {
    use crate::window::{export, rec};
    const WINDOW: [&str; 4] = ["--since", "2024-03-05", "--until", "2024-03-06"];
    let t = TestDir::new();
    std::fs::create_dir_all(t.join("archive")).expect("mkdir");
    let put = |name: &str, records: &[String]| {
        std::fs::write(t.join("archive").join(name), export(records)).expect("write")
    };
    let m2 = rec(2, "m2", "u2", "Teams", "2024-03-04T11:00:00", "2024-03-04T11:30:00");
    let m6 = rec(8, "m6", "u7", "Teams", "2024-03-07T09:00:00", "2024-03-07T09:30:00");
    // One file a day, from the 4th to the 7th; the window is the 5th. m3 has a late
    // connection in the 6th's file; d2 repeats d1's record of m2.
    put(
        "d1.csv",
        &[rec(1, "m1", "u1", "Teams", "2024-03-04T09:00:00", "2024-03-04T10:00:00"), m2.clone()],
    );
    put(
        "d2.csv",
        &[
            m2,
            rec(3, "m3", "u3", "Teams", "2024-03-05T10:00:00", "2024-03-05T10:15:00"),
            rec(4, "m3", "u3", "Teams", "2024-03-05T10:20:00", "2024-03-05T11:00:00"),
            rec(5, "m4", "u4", "Edge", "2024-03-05T15:00:00", "2024-03-05T15:30:00"),
        ],
    );
    put(
        "d3.csv",
        &[
            rec(6, "m3", "u5", "Teams", "2024-03-06T00:30:00", "2024-03-06T01:00:00"),
            rec(7, "m5", "u6", "Teams", "2024-03-06T09:00:00", "2024-03-06T09:30:00"),
        ],
    );
    put("d4.csv", std::slice::from_ref(&m6));
    let loaded_from = |out: &str| t.summary(out)["state_files"]["records_loaded_from"].as_u64();
    let meetings = |out: &str| -> Vec<String> {
        let text = t.read(&format!("{out}/organizers.csv"));
        text.lines().skip(1).map(|l| l.split(',').next().unwrap_or("").to_string()).collect()
    };

    assert_eq!(with_state(&t, "w1", &WINDOW).0, (4, 0, 0));
    assert_eq!(loaded_from("w1"), Some(2), "d2 and d3 hold m3 and m4");
    assert_eq!(meetings("w1"), ["m3", "m4"]);
    assert_eq!(t.summary("w1")["duplicates_dropped"].as_u64(), Some(1));
    same_as_plain(&t, "w1", &WINDOW);

    // A new file, first in archive order: m4 was joined the day before, so it leaves the
    // window; it repeats d4's record of m6.
    put("d0.csv", &[rec(9, "m4", "u8", "Teams", "2024-03-04T23:00:00", "2024-03-05T16:00:00"), m6]);
    assert_eq!(with_state(&t, "w2", &WINDOW).0, (1, 4, 0));
    assert_eq!(loaded_from("w2"), Some(2));
    assert_eq!(meetings("w2"), ["m3"]);
    assert_eq!(t.summary("w2")["duplicates_dropped"].as_u64(), Some(2));
    same_as_plain(&t, "w2", &WINDOW);

    // m3's late connection gone with its file.
    std::fs::remove_file(t.join("archive/d3.csv")).expect("remove");
    let (counts, err) = with_state(&t, "w3", &WINDOW);
    assert_eq!((counts, loaded_from("w3")), ((0, 4, 1), Some(1)));
    assert!(err.contains("the window's meetings' records loaded from 1 files"), "{err}");
    // Nothing was read: the speed is that of what was read, and the line says so.
    assert_eq!(t.summary("w3")["state_files"]["csv_bytes_read"].as_u64(), Some(0));
    assert_eq!(t.summary("w3")["mb_per_second"].as_f64(), Some(0.0));
    assert!(err.contains("; 0 of them read, 0.0 MB, in "), "{err}");
    same_as_plain(&t, "w3", &WINDOW);

    // Another file keeps other content for m3's record 3: which copy comes first decides,
    // so every record is loaded.
    put("d5.csv", &[rec(3, "m3", "u3", "Teams", "2024-03-05T10:00:00", "2024-03-05T10:16:00")]);
    assert_eq!(with_state(&t, "w4", &WINDOW).0, (1, 4, 0));
    assert_eq!(loaded_from("w4"), Some(5));
    assert_eq!(t.summary("w4")["conflicting_duplicates"].as_u64(), Some(1));
    same_as_plain(&t, "w4", &WINDOW);

    // A users database learns from every file's catalog, as a full run learns from every
    // record.
    std::fs::remove_file(t.join("archive/d5.csv")).expect("remove");
    assert_eq!(with_state(&t, "w5", &[&WINDOW[..], &["-u", "users-state.csv"]].concat()).0 .2, 1);
    assert_eq!(loaded_from("w5"), Some(1));
    same_as_plain(&t, "w5", &[&WINDOW[..], &["-u", "users-plain.csv"]].concat());
    let learned = t.read("users-state.csv");
    assert_eq!(learned, t.read("users-plain.csv"));
    // The organizer and the attendees of every file, d3's gone: u1-u4, u7, u8.
    assert_eq!(learned.lines().count(), 1 + 6, "{learned}");

    // A catalog that its checksums pass but that cannot be decoded (a partial from a foreign
    // or broken writer): every record is loaded instead, with a warning, and the reports stay.
    let partial = first_in(&t, "state/files");
    let intact = std::fs::read(&partial).expect("partial");
    replace_section(&partial, SectionKind::Catalog, &[0xff; 3]);
    let (counts, err) = with_state(&t, "w6", &WINDOW);
    assert_eq!((counts, loaded_from("w6")), ((0, 4, 0), Some(4)));
    assert!(err.contains("every record is loaded"), "{err}");
    same_as_plain(&t, "w6", &WINDOW);
    // The same for the users' pairs, which only -u reads; the database learns what a run
    // without --state learns.
    std::fs::write(&partial, &intact).expect("restore");
    replace_section(&partial, SectionKind::Users, &[0xff; 3]);
    assert_eq!(with_state(&t, "w7", &WINDOW).0, (0, 4, 0));
    assert_eq!(loaded_from("w7"), Some(1), "without -u the pairs are not read");
    let (_, err) = with_state(&t, "w8", &[&WINDOW[..], &["-u", "users-state2.csv"]].concat());
    assert!(err.contains("every record is loaded"), "{err}");
    assert_eq!(loaded_from("w8"), Some(4));
    same_as_plain(&t, "w8", &[&WINDOW[..], &["-u", "users-plain2.csv"]].concat());
    assert_eq!(t.read("users-state2.csv"), t.read("users-plain2.csv"));
}

/// Rewrites section `kind` of the partial at `path` with the postcard bytes `raw`, its
/// lengths and checksums set as tala-bulk sets them: damage only the section's decoder sees.
fn replace_section(path: &Path, kind: SectionKind, raw: &[u8]) {
    let data = std::fs::read(path).expect("partial");
    let len = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes")) as usize;
    let mut header: Header = postcard::from_bytes(&data[16..16 + len]).expect("header");
    let body = &data[24 + len..];
    let mut sections = Vec::new();
    for s in &mut header.sections {
        let packed = if s.kind == kind {
            s.raw_len = raw.len() as u64;
            zstd::bulk::compress(raw, 1).expect("zstd")
        } else {
            body[s.offset as usize..(s.offset + s.len) as usize].to_vec()
        };
        s.offset = sections.len() as u64;
        s.len = packed.len() as u64;
        s.checksum = xxhash_rust::xxh3::xxh3_64(&packed);
        sections.extend_from_slice(&packed);
    }
    let head = postcard::to_stdvec(&header).expect("header");
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&head).to_le_bytes());
    out.extend_from_slice(&sections);
    std::fs::write(path, out).expect("write partial");
}

/// A record that depends on its Id only (so its copies in several files are the same record),
/// or with `other` a variant of it (another LeaveTime: a conflicting copy). Meetings span the
/// 4th to the 7th.
fn daily_record(id: u32, other: bool) -> String {
    let (day, hour, minute) = (4 + id * 7 % 4, id * 5 % 24, id * 11 % 50);
    let at = |m: u32| format!("2024-03-{day:02}T{hour:02}:{:02}:00", minute + m);
    let who = format!("u{}", id % 5);
    // An attendee's email varies with the record: the users database keeps the first.
    let email = (format!("\"{who}@contoso.com\""), format!("\"{who}.{}@contoso.com\"", id % 3));
    crate::window::rec(
        id,
        &format!("m{}", id % 23),
        &who,
        ["Teams", "Edge"][id as usize % 2],
        &at(0),
        &at(if other { 9 } else { 8 }),
    )
    .replace(&email.0, &email.1)
}

fn windows() -> impl Strategy<Value = Vec<String>> {
    let day = |d: u32| format!("2024-03-{d:02}");
    (3u32..9, 1u32..3, 0u8..3).prop_map(move |(from, days, kind)| {
        let (since, until) = (day(from), day(from + days));
        match kind {
            0 => vec!["--since".into(), since, "--until".into(), until],
            1 => vec!["--since".into(), since],
            _ => vec!["--until".into(), until],
        }
    })
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    /// Whatever the archive, the window and what changed since the state was built, a windowed
    /// run with `--state` writes the reports of a run without it.
    #[test]
    fn any_windowed_run_with_state_gives_the_full_runs_reports(
        files in prop::collection::vec(
            prop::collection::vec((0u32..40, prop::bool::weighted(0.04)), 0..6), 1..8),
        first in 1usize..8,
        gone in prop::option::of(0usize..8),
        window in windows(),
        users in any::<bool>(),
    ) {
        let t = TestDir::new();
        std::fs::create_dir_all(t.join("archive")).expect("mkdir");
        let put = |i: usize| {
            let records: Vec<String> = files[i].iter().map(|&(id, o)| daily_record(id, o)).collect();
            let name = format!("archive/f{i}.csv");
            std::fs::write(t.join(&name), crate::window::export(&records)).expect("write");
        };
        let window: Vec<&str> = window.iter().map(String::as_str).collect();
        // With a users database: one for the runs with --state, one for those without.
        let with_users = |db: &'static str| -> Vec<&str> {
            let mut args = window.clone();
            if users {
                args.extend(["-u", db]);
            }
            args
        };
        let (state_args, plain_args) = (with_users("users-state.csv"), with_users("users-plain.csv"));
        let first = first.min(files.len());
        (0..first).for_each(put);
        with_state(&t, "a", &state_args);
        same_as_plain(&t, "a", &plain_args);
        (first..files.len()).for_each(put);
        if let Some(g) = gone.filter(|g| *g < files.len() && files.len() > 1) {
            std::fs::remove_file(t.join(&format!("archive/f{g}.csv"))).expect("remove");
        }
        with_state(&t, "b", &state_args);
        same_as_plain(&t, "b", &plain_args);
        if users {
            // Missing when nothing was learned.
            let db = |name: &str| std::fs::read_to_string(t.join(name)).ok();
            prop_assert_eq!(db("users-state.csv"), db("users-plain.csv"));
        }
    }
}

/// The benchmark's nightly export comes from `gen_archive.py --from-file`: with the same seed
/// it must write the file a run with one more file writes, byte for byte, and nothing else.
#[test]
fn the_generator_writes_the_next_export_of_an_archive_alone() {
    let t = TestDir::new();
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen_archive.py");
    let run = |out: &str, extra: &[&str]| {
        let status = std::process::Command::new("python3")
            .arg(&gen)
            .args(["--out", &t.join(out).to_string_lossy(), "--row-cap", "200", "--seed", "3"])
            .args(extra)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("python3 runs scripts/gen_archive.py");
        assert!(status.success(), "gen_archive.py {extra:?}");
    };
    run("all", &["--files", "4"]);
    run("next", &["--files", "4", "--from-file", "3"]);
    let names = |dir: &str| -> Vec<std::ffi::OsString> {
        let mut n: Vec<_> =
            std::fs::read_dir(t.join(dir)).expect("dir").flatten().map(|e| e.file_name()).collect();
        n.sort();
        n
    };
    let (all, next) = (names("all"), names("next"));
    assert_eq!((all.len(), next.len()), (4, 1));
    assert_eq!(next[0], all[3]);
    let read = |dir: &str| std::fs::read(t.join(dir).join(&all[3])).expect("export");
    assert_eq!(read("next"), read("all"));
}
