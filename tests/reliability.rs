//! Issue "Reliability: hostile and broken inputs, killed runs": every case of the bad-input
//! corpus with its outcome, generated hostile inputs, killed runs and a full disk.

use std::collections::BTreeMap;
use std::process::Stdio;

use crate::util::{code, stderr, testdata, Mount, TestDir};

/// One row of truncation.csv as (status, detail).
fn audit_row(t: &TestDir, out: &str, file_suffix: &str) -> (String, String) {
    let text = t.read(&format!("{out}/truncation.csv"));
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    for rec in rdr.records() {
        let rec = rec.expect("csv");
        if rec[0].ends_with(file_suffix) {
            return (rec[9].to_string(), rec[10].to_string());
        }
    }
    panic!("{file_suffix} not in truncation.csv:\n{text}");
}

/// Non-zero counters of a summary.json object, e.g. rows_skipped.
fn nonzero(s: &serde_json::Value, key: &str) -> BTreeMap<String, u64> {
    s[key]
        .as_object()
        .expect("object")
        .iter()
        .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
        .collect()
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

struct Case {
    file: &'static str,
    status: &'static str,
    detail: &'static str,
    skipped: &'static [(&'static str, u64)],
    warnings: &'static [(&'static str, u64)],
    warning_text: &'static str,
    exit: i32,
    /// Attendee keys that must be in attendees.csv.
    reported: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        file: "empty.csv",
        status: "empty",
        detail: "no bytes",
        skipped: &[],
        warnings: &[],
        warning_text: "",
        exit: 0,
        reported: &[],
    },
    Case {
        file: "header-only.csv",
        status: "empty",
        detail: "header only",
        skipped: &[],
        warnings: &[],
        warning_text: "",
        exit: 0,
        reported: &[],
    },
    Case {
        file: "no-auditdata.csv",
        status: "not-an-export",
        detail: "no AuditData column in the first row",
        skipped: &[],
        warnings: &[],
        warning_text: "no-auditdata.csv: not-an-export",
        exit: 1,
        reported: &[],
    },
    Case {
        file: "garbage.csv",
        status: "not-an-export",
        detail: "no AuditData column in the first row",
        skipped: &[],
        warnings: &[],
        warning_text: "garbage.csv: not-an-export",
        exit: 1,
        reported: &[],
    },
    Case {
        file: "pdf-renamed.csv",
        status: "not-an-export",
        detail: "no AuditData column in the first row",
        skipped: &[],
        warnings: &[],
        warning_text: "pdf-renamed.csv: not-an-export",
        exit: 1,
        reported: &[],
    },
    Case {
        file: "invalid-utf8.csv",
        status: "complete",
        detail: "",
        skipped: &[],
        warnings: &[("invalid_utf8_replaced", 1)],
        warning_text: "row 1: invalid UTF-8 replaced by U+FFFD",
        exit: 0,
        reported: &["u-utf8"],
    },
    Case {
        file: "unterminated-quote.csv",
        status: "cut",
        detail: "ends inside row 2",
        skipped: &[("invalid_json", 1)],
        warnings: &[],
        warning_text: "unterminated-quote.csv: cut: ends inside row 2",
        exit: 1,
        reported: &["good-unterminated"],
    },
    Case {
        file: "field-counts.csv",
        status: "complete",
        detail: "",
        skipped: &[("too_few_fields", 1)],
        warnings: &[],
        warning_text: "row 1: too few fields for the AuditData column; row skipped",
        exit: 1,
        reported: &["good-fields"],
    },
    Case {
        file: "json-shapes.csv",
        status: "complete",
        detail: "",
        skipped: &[("auditdata_not_an_object", 1), ("invalid_json", 1)],
        warnings: &[("invalid_join_time", 1), ("join_after_leave", 1)],
        warning_text: "row 2: AuditData is not a JSON object; row skipped",
        exit: 1,
        reported: &["good-shapes", "u-object", "u-shape2", "u-shape3", "u-shape4"],
    },
    Case {
        file: "header-again.csv",
        status: "complete",
        detail: "",
        skipped: &[],
        warnings: &[("repeated_header_row", 1)],
        warning_text: "row 2: the header row again; ignored",
        exit: 0,
        reported: &["good-again"],
    },
    Case {
        file: "nul-bytes.csv",
        status: "complete",
        detail: "",
        skipped: &[("invalid_json", 1)],
        warnings: &[],
        warning_text: "row 1: AuditData is not valid JSON; row skipped",
        exit: 1,
        reported: &["good-nul"],
    },
    Case {
        file: "corrupt.csv.zst",
        status: "cut",
        detail: "stopped after row 235: Restored data doesn't match checksum",
        skipped: &[],
        warnings: &[],
        warning_text: "corrupt.csv.zst: cut:",
        exit: 1,
        reported: &[],
    },
    Case {
        file: "corrupt.csv.gz",
        status: "cut",
        detail: "stopped after row 294: corrupt gzip stream does not have a matching checksum",
        skipped: &[("invalid_json", 153)],
        warnings: &[],
        warning_text: "corrupt.csv.gz: cut:",
        exit: 1,
        reported: &[],
    },
    Case {
        file: "utf16.csv",
        status: "complete",
        detail: "",
        skipped: &[],
        warnings: &[],
        warning_text: "",
        exit: 0,
        reported: &["good-utf16"],
    },
    Case {
        file: "utf16-no-bom.csv",
        status: "not-an-export",
        detail: "no AuditData column in the first row: the text looks like UTF-16 without a \
                 byte-order mark; convert it to UTF-8 (iconv -f UTF-16LE -t UTF-8)",
        skipped: &[],
        warnings: &[],
        warning_text: "utf16-no-bom.csv: not-an-export",
        exit: 1,
        reported: &[],
    },
    Case {
        file: "pzstd.csv.zst",
        status: "complete",
        detail: "",
        skipped: &[],
        warnings: &[],
        warning_text: "",
        exit: 0,
        reported: &["good-pzstd"],
    },
    Case {
        file: "padded.csv.gz",
        status: "complete",
        detail: "",
        skipped: &[],
        warnings: &[],
        warning_text: "",
        exit: 0,
        reported: &["good-padded"],
    },
    Case {
        file: "no-line-end.csv.zst",
        status: "cut",
        detail: "stopped after row 1: row 2 is longer than 256 MiB (no line end?); the rest of \
                 the file is not read",
        skipped: &[],
        warnings: &[],
        warning_text: "no-line-end.csv.zst: cut: stopped after row 1",
        exit: 1,
        reported: &["good-nolineend"],
    },
];

#[test]
fn every_bad_input_has_its_outcome() {
    let t = TestDir::new();
    // Each bad file beside a good one: a run that finds no export at all writes nothing (see
    // `nothing_read_keeps_the_previous_reports`).
    let good = testdata("fixtures/reconnect.csv");
    for (i, case) in CASES.iter().enumerate() {
        let out = format!("r{i}");
        let o = t.run_out(&out, &[&testdata(&format!("bad/{}", case.file)), &good]);
        let err = stderr(&o);
        assert_eq!(code(&o), case.exit, "{}: {err}", case.file);
        assert_eq!(
            audit_row(&t, &out, case.file),
            (case.status.into(), case.detail.into()),
            "{}",
            case.file
        );
        let s = t.summary(&out);
        assert_eq!(nonzero(&s, "rows_skipped"), map(case.skipped), "{}", case.file);
        if !case.file.starts_with("corrupt") {
            assert_eq!(nonzero(&s, "row_warnings"), map(case.warnings), "{}", case.file);
        }
        assert!(err.contains(case.warning_text), "{}: {err}", case.file);
        let attendees = t.read(&format!("{out}/attendees.csv"));
        for key in case.reported {
            assert!(
                attendees.lines().any(|l| l.split(',').nth(1) == Some(key)),
                "{}: {key} missing",
                case.file
            );
        }
        // errors.csv lists each skipped row (the corrupt gzip stream: 100, then a count).
        let errors = t.read(&format!("{out}/errors.csv"));
        let skipped: u64 = case.skipped.iter().map(|(_, n)| n).sum();
        let listed = errors
            .lines()
            .filter(|l| l.contains(&format!("{},", case.file)) && !l.contains(",,"))
            .count() as u64;
        assert_eq!(listed, skipped.min(100), "{}: {errors}", case.file);
    }
}

#[test]
fn the_whole_corpus_in_one_run_still_reports_every_good_record() {
    let t = TestDir::new();
    let o = t.run_out("r", &["--jobs", "3", &testdata("bad")]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let attendees = t.read("r/attendees.csv");
    for key in CASES.iter().flat_map(|c| c.reported.iter()) {
        assert!(attendees.lines().any(|l| l.split(',').nth(1) == Some(key)), "{key} missing");
    }
    let errors = t.read("r/errors.csv");
    assert!(errors.starts_with("file,row,reason,excerpt\n"));
    // 153 skipped rows: 100 listed, 53 counted; and the cut itself, listed whatever the count.
    assert!(errors.contains("corrupt.csv.gz,,more,53 more problem rows not listed"), "{errors}");
    assert!(
        errors.contains("corrupt.csv.gz,,cut,stopped after row 294: corrupt gzip stream"),
        "{errors}"
    );
    assert!(errors.contains("json-shapes.csv,1,invalid_json,\"x,org@contoso.com,MeetingParticipantDetail,this is not JSON\""), "{errors}");
}

/// A skipped row's excerpt in errors.csv shows its AuditData as the file has it, though the
/// parser unescapes strings in place: here simd-json reads the row (no layout is known yet),
/// and the row lacks a MeetingDetailId. The next row, with no AuditData field, shows only its
/// own fields, not the text the parser kept from the row before.
#[test]
fn a_skipped_rows_excerpt_shows_auditdata_as_written() {
    let t = TestDir::new();
    let audit =
        r#"{"Id":"0e\u0041","Operation":"MeetingParticipantDetail","UserId":"a\"b@contoso.com"}"#;
    let quoted = audit.replace('"', "\"\"");
    let csv = format!(
        "CreationDate,UserIds,Operations,AuditData\n2024-01-01T00:00:00Z,x,MeetingParticipantDetail,\"{quoted}\"\n2024-01-01T00:00:01Z,y,MeetingParticipantDetail\n"
    );
    std::fs::write(t.join("one.csv"), csv).unwrap();
    let o = t.run_out("r", &[&t.join("one.csv").display().to_string()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let errors = t.read("r/errors.csv");
    let mut rows = csv::Reader::from_reader(errors.as_bytes());
    let mut rows = rows.records().map(|r| r.expect("csv"));
    let row = rows.next().expect("a listed row");
    assert_eq!(&row[2], "missing_meeting_id", "{errors}");
    assert_eq!(&row[3], format!("2024-01-01T00:00:00Z,x,MeetingParticipantDetail,{audit}"));
    let row = rows.next().expect("a second listed row");
    assert_eq!(&row[2], "too_few_fields", "{errors}");
    assert_eq!(&row[3], "2024-01-01T00:00:01Z,y,MeetingParticipantDetail");
}

#[test]
fn a_100_mb_row_is_read() {
    let t = TestDir::new();
    let name = "N".repeat(100 << 20);
    let json = format!(
        r#"{{"Id":"a","Operation":"MeetingParticipantDetail","MeetingDetailId":"m","JoinTime":"2024-01-01T00:00:00","LeaveTime":"2024-01-01T00:01:00","Attendees":[{{"DisplayName":"{name}"}}]}}"#
    );
    let csv = format!(
        "Operation,AuditData\nMeetingParticipantDetail,\"{}\"\n",
        json.replace('"', "\"\"")
    );
    std::fs::write(t.join("big.csv"), csv).expect("write");
    let o = t.run_out("r", &["big.csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = t.summary("r");
    assert_eq!(s["attendees"], 1);
    assert!(std::fs::metadata(t.join("r/attendees.csv")).expect("report").len() > 100 << 20);
}

#[test]
fn unreadable_files_dangling_links_and_link_loops() {
    let t = TestDir::new();
    let dir = t.join("archive");
    std::fs::create_dir_all(dir.join("loop")).expect("mkdir");
    std::fs::copy(testdata("fixtures/reconnect.csv"), dir.join("good.csv")).expect("copy");
    // Reading this /proc file fails even for root (EINVAL): a file that cannot be read.
    std::os::unix::fs::symlink("/proc/self/clear_refs", dir.join("unreadable.csv")).expect("link");
    std::os::unix::fs::symlink(dir.join("nowhere.csv"), dir.join("dangling.csv")).expect("link");
    std::os::unix::fs::symlink(dir.join("loop"), dir.join("loop/again")).expect("link");
    let o = t.run_out("r", &["archive"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    for f in ["unreadable.csv", "dangling.csv", "loop/again"] {
        assert_eq!(audit_row(&t, "r", f).0, "unreadable", "{f}");
        assert!(t.read("r/errors.csv").contains(&format!("{f},,unreadable,")), "{f}");
    }
    assert_eq!(audit_row(&t, "r", "good.csv").0, "complete");
    assert_eq!(t.read("r/disconnections.csv").lines().count(), 5, "the good file is reported");
}

#[test]
fn ten_thousand_tiny_files() {
    let t = TestDir::new();
    let dir = t.join("many");
    std::fs::create_dir(&dir).expect("mkdir");
    for i in 0..10_000 {
        let csv = format!(
            "Operation,AuditData\nMeetingParticipantDetail,\"{{\"\"Id\"\":\"\"id-{i}\"\",\"\"MeetingDetailId\"\":\"\"m{}\"\",\
             \"\"JoinTime\"\":\"\"2024-01-01T00:00:00\"\",\"\"LeaveTime\"\":\"\"2024-01-01T00:10:00\"\",\
             \"\"Attendees\"\":[{{\"\"UserObjectId\"\":\"\"u{i}\"\"}}]}}\"\n",
            i % 100
        );
        std::fs::write(dir.join(format!("{i:05}.csv")), csv).expect("write");
    }
    let o = t.run_out("r", &["--jobs", "2", "many"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = t.summary("r");
    assert_eq!(s["files"]["complete"], 10_000);
    assert_eq!(s["meetings"], 100);
    assert_eq!(s["attendees"], 10_000);
    assert_eq!(t.read("r/truncation.csv").lines().count(), 10_001);
}

/// The three CSV reports and the summary's counts, byte for byte (summary.json minus timing).
fn snapshot(t: &TestDir, out: &str) -> Vec<Vec<u8>> {
    ["organizers.csv", "attendees.csv", "disconnections.csv", "truncation.csv"]
        .iter()
        .map(|f| std::fs::read(t.join(&format!("{out}/{f}"))).expect("report"))
        .collect()
}

#[test]
fn a_killed_run_leaves_the_previous_reports_and_users_database_intact() {
    let t = TestDir::new();
    let sample = testdata("sample");
    // The killed runs read another archive than the one the reports are from, so a mix of
    // old and new reports would show.
    let o = t.run_out("r", &[&testdata("fixtures/dedup")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let before = snapshot(&t, "r");
    let o = t.run_out("whole", &[&sample]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = snapshot(&t, "whole");
    let db_before = "only,one@contoso.com\n";
    // Kill runs at many points; each run would rewrite every report and learn users.
    for delay_ms in [0u64, 2, 5, 10, 15, 20, 30, 45, 60, 80] {
        std::fs::write(t.join("users.csv"), db_before).expect("write db");
        let mut child = t
            .cmd()
            .args([
                "--out",
                &t.join("r").to_string_lossy(),
                "-u",
                "users.csv",
                "--jobs",
                "2",
                &sample,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = snapshot(&t, "r");
        assert!(now == before || now == after, "reports after a kill at {delay_ms} ms: a mix");
        let db = t.read("users.csv");
        assert!(
            db == db_before || (db.starts_with(db_before) && db.lines().count() > 100),
            "users database after a kill at {delay_ms} ms: {} lines",
            db.lines().count()
        );
    }
    // The next run cleans up what killed runs left behind, in --out and beside it, and beside
    // the users database.
    let o = t.run_out("r", &["-u", "users.csv", &sample]);
    assert_eq!(code(&o), 0);
    let mut leftovers: Vec<String> = Vec::new();
    for dir in [t.join("r"), t.path().to_path_buf()] {
        leftovers.extend(
            std::fs::read_dir(dir)
                .expect("dir")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp") || n.contains(".tala-bulk-")),
        );
    }
    assert_eq!(leftovers, Vec::<String>::new());
}

#[test]
fn a_full_disk_is_a_clear_fatal_error_and_keeps_the_previous_reports() {
    let t = TestDir::new();
    let _disk = Mount::tmpfs(&t.join("disk"), "size=256k");
    // Small reports fit; the sample archive's (about 450 KB) do not.
    let o = t.run_out("disk/r", &[&testdata("fixtures/reconnect.csv")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let before = snapshot(&t, "disk/r");
    let o = t.run_out("disk/r", &[&testdata("sample")]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.starts_with("tala-bulk: cannot write") || err.contains("\ntala-bulk: cannot write"),
        "{err}"
    );
    assert_eq!(snapshot(&t, "disk/r"), before);
    // A report to a full stdout is the same kind of failure.
    let o = t
        .cmd()
        .args(["-a", &testdata("sample")])
        .stdout(std::fs::File::create("/dev/full").expect("/dev/full"))
        .output()
        .expect("run");
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("No space left on device"), "{}", stderr(&o));
}
