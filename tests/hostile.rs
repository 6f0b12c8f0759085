//! Issue "Hostile inputs and a messy nightly job": the holes a hostile tester found, each with
//! the test that closes it. Data loss first (nothing read, the users database, the report set),
//! then crashes and unbounded memory, then wrong or unclear output.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::util::{bin, code, report_set, stderr, testdata, Mount, TestDir};

fn good() -> String {
    testdata("fixtures/reconnect.csv")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Names beside `out` in its parent that a run of tala-bulk left (`.NAME.tala-bulk-…`).
fn leftovers(t: &TestDir, out: &str) -> Vec<String> {
    let prefix = format!(".{out}.tala-bulk-");
    std::fs::read_dir(t.path())
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// An export of the given AuditData objects, one row each (`Operation,AuditData`).
fn export(records: &[serde_json::Value]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["Operation", "AuditData"]).expect("csv");
    for r in records {
        w.write_record(["MeetingParticipantDetail", &r.to_string()]).expect("csv");
    }
    String::from_utf8(w.into_inner().expect("csv")).expect("utf-8")
}

/// A meeting record with one attendee; `extra` overrides or adds keys.
fn record(id: u32, attendee: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let mut r = serde_json::json!({
        "Id": format!("50000000-0000-0000-0000-{id:012}"),
        "CreationTime": "2024-03-05T10:00:00",
        "Operation": "MeetingParticipantDetail",
        "MeetingDetailId": "meet-h",
        "UserId": "org@contoso.com",
        "UserKey": "okey-h",
        "ItemName": "ScheduledMeeting",
        "ClientIP": "10.0.0.1",
        "DeviceInformation": "Teams desktop",
        "JoinTime": "2024-03-05T09:00:00",
        "LeaveTime": "2024-03-05T09:30:00",
        "Attendees": [attendee],
    });
    if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            r.insert(k.clone(), v.clone());
        }
    }
    r
}

/// A run in the background, killed if the test fails before waiting for it (it would otherwise
/// wait on its FIFO forever).
struct Background(Option<std::process::Child>);

impl Background {
    fn spawn(cmd: &mut Command) -> Background {
        Background(Some(cmd.stderr(Stdio::piped()).spawn().expect("spawn")))
    }
    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, |c| c.id())
    }
    fn wait(mut self) -> Output {
        self.0.take().expect("running").wait_with_output().expect("wait")
    }

    /// Waits at most `secs` seconds; `None` if the run is still going (it is then killed).
    fn wait_at_most(mut self, secs: u64) -> Option<Output> {
        let child = self.0.as_mut().expect("running");
        for _ in 0..secs * 100 {
            if child.try_wait().expect("try_wait").is_some() {
                return Some(self.wait());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(made.success());
}

/// Waits (up to 10 s) until `path` exists: a run started in the background got that far.
fn wait_for(path: &Path) {
    for _ in 0..1000 {
        if path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} did not appear", path.display());
}

// ---- Data loss: nothing read, reports wiped ----

#[test]
fn a_path_that_does_not_exist_is_a_usage_error_and_the_reports_stay() {
    let t = TestDir::new();
    assert_eq!(code(&t.run_out("r", &[&good()])), 0);
    let before = report_set(&t.join("r"));
    std::os::unix::fs::symlink("nowhere.csv", t.join("gone.csv")).expect("link");
    for (args, message) in [
        (vec!["typo/"], "typo/: no such file or directory"),
        (vec![good().as_str(), "missing.csv"], "missing.csv: no such file or directory"),
        (vec!["gone.csv"], "gone.csv: a symbolic link to something that does not exist"),
    ] {
        let o = t.run_out("r", &args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert_eq!(report_set(&t.join("r")), before, "{args:?}");
    }
}

#[test]
fn a_run_that_finds_no_export_keeps_the_previous_reports() {
    let t = TestDir::new();
    assert_eq!(code(&t.run_out("r", &[&good()])), 0);
    let before = report_set(&t.join("r"));
    std::fs::create_dir_all(t.join("empty/sub")).expect("mkdir");
    std::fs::create_dir(t.join("foreign")).expect("mkdir");
    std::fs::copy(testdata("fixtures/not-audit.csv"), t.join("foreign/a.csv")).expect("copy");
    std::fs::copy(testdata("bad/pdf-renamed.csv"), t.join("foreign/b.csv")).expect("copy");
    for (dir, message) in [
        ("empty", "nothing to report: no file was found in the named paths"),
        ("foreign", "nothing to report: none of the 2 files found is an audit export"),
    ] {
        let o = t.run_out("r", &[dir]);
        assert_eq!(code(&o), 4, "{dir}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{dir}: {}", stderr(&o));
        assert!(stderr(&o).contains("were left as they were"), "{dir}: {}", stderr(&o));
        assert_eq!(report_set(&t.join("r")), before, "{dir}");
    }
    // An empty pipe on stdin (cron with an unset variable and `cat $FILE |`).
    let mut child = t
        .cmd()
        .args(["--out", "r", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdin.take());
    let o = child.wait_with_output().expect("wait");
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("standard input held no audit export"), "{}", stderr(&o));
    assert_eq!(report_set(&t.join("r")), before);
    // A report on stdout prints nothing.
    let o = t.cmd().args(["-o", "empty"]).output().expect("run");
    assert_eq!((code(&o), stdout(&o).as_str()), (4, ""), "{}", stderr(&o));
}

#[test]
fn stdin_is_read_only_from_a_pipe_or_a_file() {
    let t = TestDir::new();
    // `tala-bulk --out r $ARCHIVE` from cron, with ARCHIVE empty and stdin /dev/null.
    for args in [&["--out", "r"][..], &["--out", "r", "-"]] {
        let o = t.cmd().args(args).output().expect("run");
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("standard input is a device such as /dev/null"), "{args:?}");
        assert!(!t.join("r").exists(), "{args:?}: nothing written");
    }
    // A file on stdin is read.
    let o = t
        .cmd()
        .args(["--out", "r"])
        .stdin(std::fs::File::open(good()).expect("open"))
        .output()
        .expect("run");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(t.read("r/disconnections.csv").lines().count(), 5);
}

#[test]
fn contradictory_flags_are_usage_errors() {
    let t = TestDir::new();
    let o = t.cmd().args(["--audit-only", "-o", &good()]).output().expect("run");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    let o = t.cmd().args(["-q", "show", &good()]).output().expect("run");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("'show' is a subcommand and must come first"), "{}", stderr(&o));
    assert!(!t.join("tala-report").exists());
}

// ---- Data loss: the users database ----

#[test]
fn the_users_database_is_written_through_links_keeping_mode_and_owner() {
    let t = TestDir::new();
    std::fs::create_dir(t.join("real")).expect("mkdir");
    let real = t.join("real/users.csv");
    std::fs::write(&real, "u-d1,custom@contoso.com\n").expect("write");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::chown(&real, Some(4321), Some(4322)).expect("chown (tests run as root)");
    std::os::unix::fs::symlink("real/users.csv", t.join("db.csv")).expect("link");
    let o = t.run_out("r", &["-u", "db.csv", &testdata("fixtures/dedup")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let link = std::fs::symlink_metadata(t.join("db.csv")).expect("link");
    assert!(link.file_type().is_symlink(), "the link is still a link");
    assert_eq!(
        t.read("real/users.csv"),
        "u-d1,custom@contoso.com\nokey-1,org@contoso.com\nokey-9,other@contoso.com\n\
         u-d2,d2@contoso.com\n"
    );
    let meta = std::fs::metadata(&real).expect("db");
    assert_eq!(meta.mode() & 0o777, 0o600, "mode kept");
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322), "owner kept");
}

#[test]
fn the_users_database_refuses_devices_and_exports_before_reading() {
    let t = TestDir::new();
    // A device node of our own (the null device's numbers), not the system's /dev/null.
    let made = Command::new("mknod").arg(t.join("dev")).args(["c", "1", "3"]).status();
    assert!(made.expect("mknod").success());
    let o = t.run_out("r", &["-u", "dev", &testdata("fixtures/dedup")]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("users database dev is a device"), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(t.join("dev")).expect("dev").file_type().is_char_device());
    assert!(!t.join("r/organizers.csv").exists());

    let export = std::fs::read(good()).expect("fixture");
    std::fs::write(t.join("export.csv"), &export).expect("write");
    let o = t.run_out("r", &["-u", "export.csv", &testdata("fixtures/dedup")]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("looks like an audit export"), "{}", stderr(&o));
    assert_eq!(std::fs::read(t.join("export.csv")).expect("export"), export, "export untouched");
}

#[test]
fn values_that_would_break_a_line_never_reach_the_users_database() {
    let t = TestDir::new();
    let user = |id: &str, upn: &str| serde_json::json!({"UserObjectId": id, "UPN": upn});
    let none = serde_json::json!({});
    let csv = export(&[
        record(1, user("u-ok", "ok@contoso.com"), none.clone()),
        record(2, user("u-nl", "a@contoso.com\nu-forged,forged@contoso.com"), none.clone()),
        record(3, user("u-comma", "b,c@contoso.com"), none.clone()),
        record(4, user("u-cr\r", "cr@contoso.com"), none.clone()),
        record(5, user("u,key", "key@contoso.com"), none.clone()),
        record(6, user("u-quote", "q\"@contoso.com"), serde_json::json!({"UserKey": "okey\n2"})),
    ]);
    std::fs::write(t.join("x.csv"), csv).expect("write");
    // A byte-order mark before the first UUID: that UUID is still known.
    std::fs::write(t.join("users.csv"), "\u{feff}okey-h,boss@contoso.com\n").expect("write");
    let o = t.run_out("r", &["-u", "users.csv", "x.csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(t.read("users.csv"), "\u{feff}okey-h,boss@contoso.com\nu-ok,ok@contoso.com\n");
}

#[test]
fn a_users_database_of_malformed_lines_names_ten_and_counts_the_rest() {
    let t = TestDir::new();
    let junk: String = (0..5_000).map(|i| format!("junk line {i}\n")).collect();
    std::fs::write(t.join("users.csv"), &junk).expect("write");
    let o = t.run_out("r", &["-u", "users.csv", &testdata("fixtures/dedup")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.matches("not UUID,EMAIL; kept as it is").count(), 10, "{err}");
    assert!(err.contains("users.csv: 4990 more lines that are not UUID,EMAIL; kept"), "{err}");
    assert!(t.read("users.csv").starts_with(&junk), "the lines stay as they were");
}

#[test]
fn a_bom_in_the_users_database_does_not_hide_the_first_uuid() {
    let t = TestDir::new();
    std::fs::write(t.join("users.csv"), "\u{feff}U-D1,custom@contoso.com\n").expect("write");
    let o = t.run_out("r", &["-u", "users.csv", &testdata("fixtures/dedup")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(t.read("r/attendees.csv").contains("\nmeet-d,u-d1,custom@contoso.com,"));
}

#[test]
fn stdout_reports_save_what_they_learned_before_writing() {
    let t = TestDir::new();
    let dedup = testdata("fixtures/dedup");
    // A pipe whose reader is gone, as after `| head` exits.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let o = t.cmd().args(["-a", "-u", "a.csv", &dedup]).stdout(writer).output().expect("run");
    assert_eq!(code(&o), 0, "a closed pipe ends the run quietly: {}", stderr(&o));
    assert!(t.read("a.csv").contains("u-d2,d2@contoso.com"), "learned before writing");
    // A failed write: the error names standard output.
    let full = std::fs::File::create("/dev/full").expect("/dev/full");
    let o = t.cmd().args(["-o", "-u", "b.csv", &dedup]).stdout(full).output().expect("run");
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot write the report to standard output"), "{}", stderr(&o));
    assert!(t.read("b.csv").contains("u-d2,d2@contoso.com"), "learned before writing");
}

#[test]
fn two_runs_sharing_a_users_database_both_add_what_they_learned() {
    let t = TestDir::new();
    let fifo = t.join("slow.fifo");
    mkfifo(&fifo);
    // The first run has loaded the database and waits for its input ...
    let first = Background::spawn(t.cmd().args(["--out", "a", "-u", "users.csv", "slow.fifo"]));
    wait_for(&t.join(".a.tala-bulk-lock"));
    // It loads the database right after taking that lock, then blocks opening the FIFO; give
    // it ample time to get there.
    std::thread::sleep(std::time::Duration::from_millis(300));
    // ... while a second run learns from other exports and saves.
    let o = t.run_out("b", &["-u", "users.csv", &testdata("fixtures/dedup")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::write(&fifo, std::fs::read(good()).expect("fixture")).expect("feed the fifo");
    let o = first.wait();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        t.read("users.csv"),
        "okey-1,org@contoso.com\nokey-9,other@contoso.com\nu-d1,d1@contoso.com\n\
         u-d2,d2@contoso.com\nu-x,x@contoso.com\nu-y,y@contoso.com\n"
    );
}

#[test]
fn temporary_users_database_files_of_killed_runs_are_removed() {
    let t = TestDir::new();
    let o = Command::new(bin())
        .current_dir(t.path())
        .args(["--out", "r", "-u", "users.csv", &testdata("fixtures/dedup")])
        .env("TALA_BULK_CRASH_AT", "users-staged")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), None, "killed at the crash point");
    assert!(!t.join("users.csv").exists(), "the database is written whole or not at all");
    let temporaries = |t: &TestDir| {
        std::fs::read_dir(t.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count()
    };
    assert_eq!(temporaries(&t), 1, "the killed run left its temporary file");
    let o = t.run_out("r", &["-u", "users.csv", &good()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(temporaries(&t), 0);
}

// ---- Data loss: the report set ----

#[test]
fn the_report_set_is_replaced_in_one_step_and_a_crash_leaves_old_or_new() {
    let t = TestDir::new();
    let (old_input, new_input) = (testdata("fixtures/dedup"), good());
    assert_eq!(code(&t.run_out("new", &[&new_input])), 0);
    let new = report_set(&t.join("new"));
    for (point, forced) in [
        ("reports-staged", ""),
        ("before-swap", ""),
        ("after-swap", ""),
        ("before-swap", "no-swap"),
        ("between-renames", "no-swap"),
        ("after-swap", "no-swap"),
    ] {
        assert_eq!(code(&t.run_out("r", &[&old_input])), 0);
        let old = report_set(&t.join("r"));
        assert_ne!(old, new);
        let o = t
            .cmd()
            .args(["--out", "r", &new_input])
            .env("TALA_BULK_CRASH_AT", point)
            .env("TALA_BULK_TEST_FORCE", forced)
            .output()
            .expect("run");
        assert_eq!(o.status.code(), None, "{point} {forced}: killed");
        if t.join("r").exists() {
            let now = report_set(&t.join("r"));
            assert!(now == old || now == new, "{point} {forced}: a mix of two runs");
        } else {
            assert_eq!(point, "between-renames", "only between the two renames is --out missing");
        }
        // The next run puts everything right and leaves nothing beside --out.
        let o = t.run_out("r", &[&new_input]);
        assert_eq!(code(&o), 0, "{point} {forced}: {}", stderr(&o));
        assert_eq!(report_set(&t.join("r")), new, "{point} {forced}");
        assert_eq!(leftovers(&t, "r"), Vec::<String>::new(), "{point} {forced}");
    }
}

#[test]
fn a_second_run_on_the_same_out_is_refused_while_the_first_runs() {
    let t = TestDir::new();
    let fifo = t.join("slow.fifo");
    mkfifo(&fifo);
    let first = Background::spawn(t.cmd().args(["--out", "r", "slow.fifo"]));
    wait_for(&t.join(".r.tala-bulk-lock"));
    let o = t.run_out("r", &[&good()]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let pid = first.id();
    assert!(
        stderr(&o).contains(&format!("another tala-bulk run (process {pid}) is writing reports")),
        "{}",
        stderr(&o)
    );
    std::fs::write(&fifo, std::fs::read(good()).expect("fixture")).expect("feed the fifo");
    let o = first.wait();
    assert_eq!(code(&o), 0, "the first run was not disturbed: {}", stderr(&o));
    assert_eq!(t.read("r/disconnections.csv").lines().count(), 5);
    assert_eq!(leftovers(&t, "r"), Vec::<String>::new());
}

#[test]
fn files_kept_in_out_stay_and_a_directory_in_it_is_refused() {
    let t = TestDir::new();
    assert_eq!(code(&t.run_out("r", &[&good()])), 0);
    std::fs::write(t.join("r/notes.txt"), "mine").expect("write");
    std::os::unix::fs::symlink("notes.txt", t.join("r/link")).expect("link");
    // What versions before 0.4 wrote in place of redownload.csv: not carried, so it cannot
    // stay behind as if it were this run's.
    std::fs::write(t.join("r/coverage.csv"), "kind,start,end\n").expect("write");
    let o = t.run_out("r", &["-u", "r/users.csv", &good()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!t.join("r/coverage.csv").exists());
    let o = t.run_out("r", &["--audit-only", &good()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(t.read("r/notes.txt"), "mine");
    assert_eq!(std::fs::read_link(t.join("r/link")).expect("link"), Path::new("notes.txt"));
    assert!(t.read("r/users.csv").contains("u-x,x@contoso.com"));
    // The full run's reports stay beside the audit-only run's.
    assert_eq!(t.read("r/disconnections.csv").lines().count(), 5);
    std::fs::create_dir(t.join("r/sub")).expect("mkdir");
    let before = report_set(&t.join("r"));
    let o = t.run_out("r", &[&good()]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("holds sub, which tala-bulk did not write"), "{}", stderr(&o));
    assert_eq!(report_set(&t.join("r")), before);
}

// ---- Crashes, hangs and unbounded memory ----

/// (status, detail) of each row of truncation.csv, by path.
fn statuses(t: &TestDir, out: &str) -> Vec<(String, String, String)> {
    let text = t.read(&format!("{out}/truncation.csv"));
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    rdr.records()
        .map(|r| {
            let r = r.expect("csv");
            (r[0].to_string(), r[9].to_string(), r[10].to_string())
        })
        .collect()
}

#[test]
fn a_row_without_a_line_end_is_bounded_and_the_archive_goes_on() {
    let t = TestDir::new();
    // A gigabyte of zero bytes (sparse, so it costs no disk) and /dev/zero itself.
    let zeros = std::fs::File::create(t.join("zeros.csv")).expect("create");
    zeros.set_len(1 << 30).expect("sparse file");
    let o = t.run_out("r", &["zeros.csv", "/dev/zero", &good()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let why = "unreadable|read error: the header row is longer than 256 MiB (no line end?); the \
               rest of the file is not read";
    let got: Vec<String> =
        statuses(&t, "r").into_iter().map(|(p, s, d)| format!("{p}|{s}|{d}")).collect();
    // Reports list files in path order; where the checkout lives decides where the good file
    // sorts, so the expectation is sorted the same way.
    let mut want =
        [format!("/dev/zero|{why}"), format!("{}|complete|", good()), format!("zeros.csv|{why}")];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(t.read("r/disconnections.csv").lines().count(), 5, "the good file is reported");
}

/// An export of `rows` copies of reconnect.csv's rows: big enough that a run takes a while.
fn big_export(path: &Path, copies: usize) {
    let text = std::fs::read_to_string(good()).expect("fixture");
    let (header, rows) = text.split_once('\n').expect("header");
    let mut out = String::with_capacity(text.len() * copies);
    out.push_str(header);
    out.push('\n');
    for _ in 0..copies {
        out.push_str(rows);
    }
    std::fs::write(path, out).expect("write");
}

/// Waits (up to 10 s) until process `pid` has `path` open.
fn wait_until_open(pid: u32, path: &Path) {
    for _ in 0..10_000 {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten();
        if fds.filter_map(|fd| std::fs::read_link(fd.path()).ok()).any(|p| p == path) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("the run never opened {}", path.display());
}

#[test]
fn a_file_that_shrinks_while_it_is_read_is_cut_not_a_crash() {
    let t = TestDir::new();
    for jobs in ["1", "4"] {
        // 60 MB: split into parts with --jobs 4, read whole with --jobs 1.
        big_export(&t.join("big.csv"), 12_000);
        let child = Background::spawn(t.cmd().args(["--out", "r", "--jobs", jobs, "big.csv"]));
        // Truncated as soon as the run has it open: reading 60 MB takes it far longer.
        wait_until_open(child.id(), &t.join("big.csv"));
        let file = std::fs::OpenOptions::new().write(true).open(t.join("big.csv"));
        file.expect("open").set_len(1 << 20).expect("truncate");
        let o = child.wait();
        assert!(o.status.code().is_some(), "--jobs {jobs}: killed by a signal: {:?}", o.status);
        let (_, status, detail) = statuses(&t, "r").pop().expect("one file");
        assert_eq!(status, "cut", "--jobs {jobs}: {detail}");
        // Truncated after the run took the file's size, it shrank while read; truncated
        // between the open and the size (a busy machine), it is a shorter file that ends
        // inside a row. Either way it is cut. (The shrinking itself is checked without a
        // race by source::input's a_file_that_shrinks_while_read_is_an_error.)
        assert!(
            detail.contains("the file shrank while it was read")
                || detail.contains("ends inside row"),
            "--jobs {jobs}: {detail}"
        );
    }
}

#[test]
fn a_window_in_a_file_name_cannot_make_the_redownload_list_grow() {
    let t = TestDir::new();
    let at = |s: &str| serde_json::json!({"CreationTime": s});
    let who = serde_json::json!({"UserObjectId": "u-1"});
    let csv = export(&[
        record(1, who.clone(), at("2024-03-01T00:00:00")),
        record(2, who, at("2024-03-01T00:00:01")),
    ]);
    // Two rows a second apart, capped (--row-cap 2), in a file claiming a whole year.
    std::fs::write(t.join("UAL-20240101000000-20241231235959.csv"), csv).expect("write");
    let o = t.run_out("r", &["--row-cap", "2", "UAL-20240101000000-20241231235959.csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The year before the first record and the year after the last are asked for, in at most
    // 1,000 pieces.
    let list = t.read("r/redownload.csv");
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 1000, "{}", &list[..500]);
    assert!(rows[0].starts_with("2024-01-01T00:00:00,"), "{}", rows[0]);
    assert!(rows[999].starts_with("2024-12-31T"), "{}", rows[999]);
    assert!(rows[999].contains(",2025-01-01T00:00:00,capped,"), "{}", rows[999]);
}

#[test]
fn show_survives_deep_nesting_and_escapes_what_it_prints() {
    let t = TestDir::new();
    let depth = 100_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let json = format!(
        r#"{{"Id":"x","Operation":"Op\u001b[2J","UserId":"eve\n2024-01-01T00:00:00 Forged: user=x","Deep":{deep},"Name":"a\u009bb"}}"#
    );
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["Operation", "AuditData"]).expect("csv");
    w.write_record(["", &json]).expect("csv");
    std::fs::write(t.join("x.csv"), w.into_inner().expect("csv")).expect("write");
    let o = t.cmd().args(["show", "x.csv"]).output().expect("run");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.len() < 4_000, "output bounded by the shown depth: {} bytes", text.len());
    assert!(text.contains("… (nested deeper than 16 levels; not shown)"), "{text}");
    assert!(text.contains("    Operation: Op\\x1b[2J\n"), "{text}");
    assert!(text.contains("    Name: a\\u{9b}b\n"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{9b}'));
    let o = t.cmd().args(["show", "--oneline", "x.csv"]).output().expect("run");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "? ? Op\\x1b[2J: user=eve\\n2024-01-01T00:00:00 Forged: user=x\n");
}

#[test]
fn a_very_deep_directory_tree_is_walked() {
    let t = TestDir::new();
    // 1,500 levels: each entry's path is 3,000 bytes. Canonicalizing every entry (as the
    // walk did) made this take a minute; comparing inodes takes a fraction of a second.
    let mut dir = t.join("deep");
    for _ in 0..1_500 {
        dir.push("d");
    }
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(good(), dir.join("x.csv")).expect("copy");
    let o = t.run_out("r", &["deep"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(t.read("r/disconnections.csv").lines().count(), 5);
}

#[test]
fn a_read_only_out_or_users_directory_is_found_before_reading() {
    let t = TestDir::new();
    let _ro = Mount::tmpfs(&t.join("ro"), "ro,size=64k");
    // The input is a pipe nobody writes: a run that started reading would wait forever.
    mkfifo(&t.join("never.fifo"));
    for (args, message) in [
        (vec!["--out", "ro/r"], "cannot write in"),
        (vec!["--out", "r", "-u", "ro/users.csv"], "its directory"),
    ] {
        let run = Background::spawn(t.cmd().args(&args).arg("never.fifo"));
        let o = run.wait_at_most(20).unwrap_or_else(|| panic!("{args:?}: it went on to read"));
        assert_eq!(code(&o), 3, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("Read-only file system"), "{args:?}: {}", stderr(&o));
    }
}

// ---- Wrong or unclear output ----

#[test]
fn fifos_sockets_and_devices_met_in_a_walk_are_listed_not_read() {
    let t = TestDir::new();
    std::fs::create_dir(t.join("a")).expect("mkdir");
    std::fs::copy(good(), t.join("a/good.csv")).expect("copy");
    mkfifo(&t.join("a/pipe.csv"));
    let _socket = std::os::unix::net::UnixListener::bind(t.join("a/sock.csv")).expect("socket");
    let made = Command::new("mknod").arg(t.join("a/dev.csv")).args(["c", "1", "3"]).status();
    assert!(made.expect("mknod").success());
    let o = t.run_out("r", &["a"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let tail = "not read in a directory walk (name it on the command line to read it)";
    assert_eq!(
        statuses(&t, "r"),
        [
            ("a/dev.csv".into(), "unreadable".into(), format!("a device, {tail}")),
            ("a/good.csv".into(), "complete".into(), String::new()),
            ("a/pipe.csv".into(), "unreadable".into(), format!("a named pipe (FIFO), {tail}")),
            ("a/sock.csv".into(), "unreadable".into(), format!("a socket, {tail}")),
        ]
    );
}

#[test]
fn utf16_exports_are_read_and_named_so() {
    let t = TestDir::new();
    let o = t.run_out("r", &[&testdata("bad/utf16.csv")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let row = t.read("r/truncation.csv").lines().nth(1).map(str::to_string).unwrap_or_default();
    assert!(row.contains("utf16.csv,csv+utf16,"), "{row}");
    assert!(t.read("r/attendees.csv").contains(",good-utf16,"));
}

#[test]
fn stdout_reports_keep_the_summary_on_stderr() {
    let t = TestDir::new();
    let o = t.cmd().args(["-o", &good()]).output().expect("run");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("organizers.csv printed to standard output"), "{err}");
    assert!(err.ends_with("2 attendees affected out of 3 (66.7%)\n"), "{err}");
    let o = t.cmd().args(["-o", "-q", &good()]).output().expect("run");
    assert_eq!(stderr(&o), "");
}

#[test]
fn an_ip_filter_that_matches_nothing_warns_and_summary_json_records_the_options() {
    let t = TestDir::new();
    let args =
        ["--cidr", "192.168.0.0/16", "-i", "^192", "--max-gap", "300", "--row-cap", "7", &good()];
    let o = t.run_out("r", &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the IP filter (-i/--cidr) matched none of the 6 connections"),
        "{}",
        stderr(&o)
    );
    let s = t.summary("r");
    assert_eq!(
        s["options"],
        serde_json::json!({
            "row_cap": 7, "audit_only": false, "ip_regex": "^192", "cidr": ["192.168.0.0/16"],
            "max_gap_seconds": 300, "since": null, "until": null, "users_database": null,
            "excel_safe": false, "sites": null, "time_zone": "UTC"
        })
    );
    assert_eq!(s["connections_matching_ip_filter"], 0);
    // A filter that matches is not warned about.
    let o = t.run_out("r2", &["--cidr", "10.2.0.0/16", &good()]);
    assert!(!stderr(&o).contains("matched none"), "{}", stderr(&o));
    assert_eq!(t.summary("r2")["connections_matching_ip_filter"], 6);
}

#[test]
fn excel_safe_quotes_cells_a_spreadsheet_would_run() {
    let t = TestDir::new();
    let csv = export(&[record(
        1,
        serde_json::json!({"DisplayName": "=HYPERLINK(\"http://x\",\"click\")"}),
        serde_json::json!({"DeviceInformation": "+cmd|' /C calc'!A0", "ItemName": "@SUM(1)"}),
    )]);
    std::fs::write(t.join("x.csv"), csv).expect("write");
    let o = t.run_out("safe", &["--excel-safe", "x.csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let attendees = t.read("safe/attendees.csv");
    assert!(
        attendees.contains(
            "meet-h,\"'=HYPERLINK(\"\"http://x\"\",\"\"click\"\")\",,?,,\
             2024-03-05T09:00:00,2024-03-05T09:30:00,10.0.0.1,'+cmd|' /C calc'!A0,\n"
        ),
        "{attendees}"
    );
    assert!(t.read("safe/organizers.csv").contains(",'@SUM(1),"));
    // Without the option the values are reported as they are.
    t.run_out("plain", &["x.csv"]);
    assert!(t.read("plain/organizers.csv").contains(",@SUM(1),"));
    assert!(t.summary("safe")["options"]["excel_safe"].as_bool().unwrap_or(false));
}

#[test]
fn untrusted_text_cannot_forge_lines_of_the_disconnection_report() {
    let t = TestDir::new();
    let forged = "Eve\n\n1 meetings affected out of 1 (100.0%)\n\u{1b}[2J\u{0}";
    let who = serde_json::json!({"DisplayName": forged});
    let second =
        serde_json::json!({"JoinTime": "2024-03-05T09:40:00", "LeaveTime": "2024-03-05T09:50:00"});
    let csv = export(&[record(1, who.clone(), serde_json::json!({})), record(2, who, second)]);
    std::fs::write(t.join("x.csv"), csv).expect("write");
    let o = t.cmd().args(["-d", "-q", "x.csv"]).output().expect("run");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("  Eve\\n\\n1 meetings affected out of 1 (100.0%)\\n\\x1b[2J\\x00 (?)\n"),
        "{text}"
    );
    assert_eq!(text.lines().filter(|l| l.contains("affected out of")).count(), 3, "{text}");
    assert!(text.ends_with(
        "1 meetings affected out of 1 (100.0%)\n1 attendees affected out of 1 (100.0%)\n"
    ));
    assert!(!text.contains('\u{1b}') && !text.contains('\u{0}'));
}

#[test]
fn control_characters_in_file_names_and_non_utf8_names_stay_apart() {
    use std::os::unix::ffi::OsStrExt;
    let t = TestDir::new();
    std::fs::create_dir(t.join("a")).expect("mkdir");
    let data = std::fs::read(good()).expect("fixture");
    // Two names whose lossy UTF-8 forms are equal, and one with a line break.
    for name in [&b"x\xff.csv"[..], b"x\xfe.csv", b"y\nz.csv"] {
        let path = t.join("a").join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(path, &data).expect("write");
    }
    let o = t.run_out("r1", &["a/x\u{fffd}.csv", "a"]);
    assert_eq!(code(&o), 2, "a lossy name is not a real path: {}", stderr(&o));
    let o = t.run_out("r", &["a"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let names: Vec<String> = t
        .read("r/truncation.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["a/x\\xfe.csv", "a/x\\xff.csv", "a/y\\nz.csv"]);
}

#[test]
fn audit_only_reads_every_row_as_a_full_run_does() {
    let t = TestDir::new();
    let rows = [
        // A nested CreationTime (earlier) beside the record's own.
        r#"{"Id":"a1","Operation":"MeetingParticipantDetail","MeetingDetailId":"m","CreationTime":"2024-03-05T10:00:00","Attendees":[{"CreationTime":"2024-03-01T00:00:00","Operation":"Nested"}]}"#,
        // A repeated key: the last one counts.
        r#"{"Id":"a2","Operation":"Other","MeetingDetailId":"m","Operation":"MeetingParticipantDetail","CreationTime":"2024-03-05T11:00:00"}"#,
        // Escaped keys and values.
        r#"{"Id":"a3","Operation":"MeetingParticipantDetail","MeetingDetailId":"m","CreationTime":"2024-03-09T00:00:00"}"#,
        // A meeting record without MeetingDetailId, and one whose id is null.
        r#"{"Id":"a4","Operation":"MeetingParticipantDetail","CreationTime":"2024-03-05T12:00:00"}"#,
        r#"{"Id":"a5","Operation":"MeetingParticipantDetail","MeetingDetailId":"m","MeetingDetailId":null}"#,
        // Not JSON, though it closes with a brace; and a JSON array.
        r#"{"Id":"a6","Operation":"MeetingParticipantDetail","MeetingDetailId":"m","x":tru}"#,
        r#"[{"Operation":"MeetingParticipantDetail"}]"#,
        // Pretty-printed: the full parser reads it.
        "{\n  \"Id\": \"a7\",\n  \"Operation\": \"MeetingParticipantDetail\",\n  \"MeetingDetailId\": \"m\",\n  \"CreationTime\": \"2024-03-04T00:00:00\"\n}",
    ];
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["Operation", "AuditData"]).expect("csv");
    for row in rows {
        w.write_record(["", row]).expect("csv");
    }
    std::fs::write(t.join("keys.csv"), w.into_inner().expect("csv")).expect("write");
    let inputs =
        ["keys.csv".to_string(), testdata("bad"), testdata("sample"), testdata("fixtures")];
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let full = t.run_out("full", &inputs);
    let fast = t.run_out("fast", &[&["--audit-only"][..], &inputs].concat());
    assert_eq!(code(&full), code(&fast), "{}", stderr(&fast));
    for report in ["truncation.csv", "redownload.csv", "redownload.ps1", "errors.csv"] {
        crate::util::assert_text(
            report,
            &t.read(&format!("full/{report}")),
            &t.read(&format!("fast/{report}")),
        );
    }
    let row = t
        .read("fast/truncation.csv")
        .lines()
        .find(|l| l.starts_with("keys.csv"))
        .map(str::to_string);
    assert_eq!(
        row.as_deref(),
        Some("keys.csv,csv,1025,8,6,2024-03-04T00:00:00,2024-03-09T00:00:00,,,complete,")
    );
}
