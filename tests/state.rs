//! `--state DIR` (issue "Nightly runs"): a run that reuses the files it read before writes the
//! same reports as a run without it, whatever changed in the archive or the state directory.

use std::path::Path;

use crate::util::{code, report_set, stderr, testdata, TestDir};

/// The reports of `out`, summary.json without the state counts and the new problems (which
/// say how this run went compared with the last, like its timing).
fn reports(t: &TestDir, out: &str) -> std::collections::BTreeMap<String, String> {
    let mut set = report_set(&t.join(out));
    if let Some(summary) = set.get_mut("summary.json") {
        let mut v: serde_json::Value = serde_json::from_str(summary).expect("json");
        if let Some(o) = v.as_object_mut() {
            o.remove("state_files");
            o.remove("new_problems_since_last_run");
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

fn first_export(t: &TestDir) -> std::path::PathBuf {
    let mut names: Vec<_> =
        std::fs::read_dir(t.join("archive")).expect("dir").flatten().map(|e| e.path()).collect();
    names.sort();
    names.remove(0)
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

/// The first cached partial of the state directory.
fn a_cached_partial(t: &TestDir) -> std::path::PathBuf {
    let mut names: Vec<_> = std::fs::read_dir(t.join("state/files"))
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    names.remove(0)
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
        .filter(|n| !["files", "index.json", "problems.json", ".lock"].contains(&n.as_str()))
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
    let disk = t.join("disk");
    std::fs::create_dir(&disk).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&disk)
        .status()
        .expect("mount runs");
    assert!(mounted.success(), "this test needs to mount a small tmpfs (it runs as root)");
    let _guard = crate::reliability::Mount(disk.clone());
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
