//! Issue "The bulk pipeline": hand-checked reports for small fixtures, and determinism.

use crate::util::{assert_text, code, reports, stderr, testdata, TestDir};

const ORG_HEADER: &str = "meeting_id,organizer_email,organizer_id,organizer_organization,meeting_type,first_join,last_leave,number_attendees\n";
const ATT_HEADER: &str = "meeting_id,attendee_key,attendee_email,key_type,attendee_organization,join_time,leave_time,client_ip,device,property\n";
const DIS_HEADER: &str = "meeting_id,attendee_key,attendee_email,key_type,attendee_organization,device,connection,connections,join_time,leave_time,gap_seconds,client_ip,property\n";

#[test]
fn every_header_layout() {
    let t = TestDir::new();
    let out = t.run_out("r", &[&testdata("fixtures/layouts")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_report!(
        t,
        "r",
        "organizers.csv",
        &format!(
            "{ORG_HEADER}\
meet-1,org@contoso.com,okey-1,tenant-c,ScheduledMeeting,2024-03-05T09:00:00,2024-03-05T09:30:00,2
meet-2,boss@contoso.com,okey-2,tenant-c,AdHocMeeting,2024-03-05T10:00:00,2024-03-05T11:00:00,2
"
        )
    );
    assert_report!(t, "r", "attendees.csv", &format!("{ATT_HEADER}\
meet-1,\"Guest, One\",,Anonymous,,2024-03-05T09:05:00,2024-03-05T09:20:00,2a01:111:f400::1,Edge browser,Mozilla/5.0
meet-1,u-1,ann@contoso.com,User,tenant-c,2024-03-05T09:00:00,2024-03-05T09:30:00,10.0.0.1,Teams desktop,Microsoft Teams/1.6
meet-2,+1 425 555 0100,,Phone,,2024-03-05T10:00:00,2024-03-05T11:00:00,52.114.1.7:51234,,SkypeSpaces
meet-2,9f1c2d3e-0000-4000-8000-00000000abcd,,Applications,,2024-03-05T10:10:00,2024-03-05T10:30:00,[2a01:111:f400::2]:443,Bot,Some Agent
"));
    assert_report!(t, "r", "disconnections.csv", DIS_HEADER);
    let s = t.summary("r");
    assert_eq!(s["files"]["complete"], 4);
    assert_eq!(s["rows"], 4);
    assert_eq!(s["records_by_operation"]["MeetingParticipantDetail"], 4);
    assert_eq!(s["earliest_creation_time"], "2024-03-05T09:20:00");
    assert_eq!(s["latest_creation_time"], "2024-03-05T11:00:00");
    assert!(stderr(&out)
        .ends_with("0 meetings affected out of 2 (0.0%)\n0 attendees affected out of 4 (0.0%)\n"));
}

#[test]
fn bom_crlf_quoted_newlines_commas_quotes_and_non_ascii() {
    let t = TestDir::new();
    let out = t.run_out("r", &[&testdata("fixtures/quirks.csv")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_report!(t, "r", "organizers.csv", &format!("{ORG_HEADER}\
meet-q,org@contoso.com,okey-1,tenant-c,\"ScheduledMeeting,Complete\",2024-03-05T08:00:00,2024-03-05T08:20:00,2
"));
    assert_report!(t, "r", "attendees.csv", &format!("{ATT_HEADER}\
meet-q,u-q1,jj@fabrikam.com,InternalFederated,tenant-f,2024-03-05T08:00:00,2024-03-05T08:10:00,10.0.0.1,\"Windows 10, \"\"Teams\"\" desktop app\",Microsoft Teams/1.6
meet-q,渡辺 健,,Anonymous,,2024-03-05T08:05:00,2024-03-05T08:20:00,10.0.0.9,\"Mac, Safari\",Mozilla/5.0
"));
}

#[test]
fn same_record_in_two_files_conflicts_and_identical_connections() {
    let t = TestDir::new();
    let out = t.run_out("r", &[&testdata("fixtures/dedup")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The organizer comes from the first record in archive order (a.csv), not from b.csv's
    // record with another organizer; the conflicting copy of record 2 in b.csv is dropped.
    assert_report!(
        t,
        "r",
        "organizers.csv",
        &format!(
            "{ORG_HEADER}\
meet-d,org@contoso.com,okey-1,tenant-c,ScheduledMeeting,2024-03-05T13:00:00,2024-03-05T13:45:00,3
"
        )
    );
    assert_report!(t, "r", "attendees.csv", &format!("{ATT_HEADER}\
meet-d,u-d1,d1@contoso.com,User,tenant-c,2024-03-05T13:00:00,2024-03-05T13:30:00,10.1.1.1,Teams desktop,Microsoft Teams/1.6
meet-d,u-d2,d2@contoso.com,User,tenant-c,2024-03-05T13:00:00,2024-03-05T13:45:00,10.1.1.2,Teams desktop,Microsoft Teams/1.6
meet-d,u-d3,,User,tenant-c,2024-03-05T13:10:00,2024-03-05T13:20:00,10.1.1.3,Teams desktop,Microsoft Teams/1.6
"));
    let s = t.summary("r");
    assert_eq!(s["rows"], 6);
    assert_eq!(s["duplicates_dropped"], 2);
    assert_eq!(s["conflicting_duplicates"], 1);
    assert_eq!(s["identical_connections_merged"], 1);
    assert_eq!(s["connections"], 3);
}

#[test]
fn reconnect_on_one_device_is_flagged_on_two_devices_is_not() {
    let t = TestDir::new();
    let out = t.run_out("r", &[&testdata("fixtures/reconnect.csv")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_report!(t, "r", "disconnections.csv", &format!("{DIS_HEADER}\
meet-r,Zoë Ñúñez,,Anonymous,,?,1,2,2024-03-05T14:05:00,2024-03-05T14:15:00,,10.2.0.5,Microsoft Teams/1.6
meet-r,Zoë Ñúñez,,Anonymous,,?,2,2,2024-03-05T14:14:00,2024-03-05T14:30:00,-60,10.2.0.5,Microsoft Teams/1.6
meet-r,u-x,x@contoso.com,User,tenant-c,Teams desktop,1,2,2024-03-05T14:00:00,2024-03-05T14:10:00,,10.2.0.1,Microsoft Teams/1.6
meet-r,u-x,x@contoso.com,User,tenant-c,Teams desktop,2,2,2024-03-05T14:12:00,2024-03-05T14:40:00,120,10.2.0.2,Microsoft Teams/1.6
"));
    assert_report!(
        t,
        "r",
        "organizers.csv",
        &format!(
            "{ORG_HEADER}\
meet-r,org@contoso.com,okey-1,tenant-c,ScheduledMeeting,2024-03-05T14:00:00,2024-03-05T14:40:00,3
"
        )
    );
    assert_eq!(t.read("r/attendees.csv").lines().count(), 7);
    assert!(stderr(&out).ends_with(
        "1 meetings affected out of 1 (100.0%)\n2 attendees affected out of 3 (66.7%)\n"
    ));
    let s = t.summary("r");
    assert_eq!(s["meetings_affected_percent"], 100.0);
    assert_eq!(s["attendees_affected_percent"], 66.7);
}

#[test]
fn missing_fields_non_meeting_operations_and_bad_json() {
    let t = TestDir::new();
    let out = t.run_out("r", &[&testdata("fixtures/missing.csv")]);
    assert_eq!(code(&out), 1, "rows were skipped: {}", stderr(&out));
    assert_report!(
        t,
        "r",
        "organizers.csv",
        &format!(
            "{ORG_HEADER}\
meet-m,org@contoso.com,okey-1,tenant-c,ScheduledMeeting,2024-03-05T15:00:00,2024-03-05T15:30:00,3
"
        )
    );
    assert_report!(t, "r", "attendees.csv", &format!("{ATT_HEADER}\
meet-m,,,User,,2024-03-05T15:05:00,2024-03-05T15:25:00,10.0.0.1,Teams desktop,Microsoft Teams/1.6
meet-m,u-m1,m1@contoso.com,User,tenant-c,,2024-03-05T15:30:00,10.0.0.1,Teams desktop,Microsoft Teams/1.6
meet-m,u-m2,m2@contoso.com,User,tenant-c,2024-03-05T15:00:00,,10.0.0.1,Teams desktop,Microsoft Teams/1.6
"));
    let s = t.summary("r");
    assert_eq!(s["rows"], 6);
    assert_eq!(s["records_by_operation"]["MeetingParticipantDetail"], 4);
    assert_eq!(s["records_by_operation"]["MemberAdded"], 1);
    assert_eq!(s["rows_skipped"]["missing_meeting_id"], 1);
    assert_eq!(s["rows_skipped"]["invalid_json"], 1);
    assert_eq!(s["row_warnings"]["missing_join_time"], 1);
    assert_eq!(s["row_warnings"]["missing_leave_time"], 1);
    assert_eq!(s["row_warnings"]["empty_attendee_key"], 1);
    let err = stderr(&out);
    assert!(err.contains("missing.csv: row 1: no MeetingDetailId; row skipped"), "{err}");
    assert!(err.contains("missing.csv: row 6: AuditData is not valid JSON; row skipped"), "{err}");
}

#[test]
fn empty_and_non_audit_files_are_reported_and_skipped() {
    let t = TestDir::new();
    let out = t.run_out(
        "r",
        &[
            &testdata("fixtures/empty.csv"),
            &testdata("fixtures/not-audit.csv"),
            &testdata("fixtures/reconnect.csv"),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not-audit.csv: not-an-export: no AuditData column"), "{err}");
    let s = t.summary("r");
    assert_eq!(s["files"]["read"], 3);
    assert_eq!(s["files"]["empty"], 1);
    assert_eq!(s["files"]["not-an-export"], 1);
    assert_eq!(s["files"]["complete"], 1);
    // The good file is still fully reported.
    assert_eq!(t.read("r/disconnections.csv").lines().count(), 5);
}

#[test]
fn identical_for_any_jobs_and_input_order() {
    let t = TestDir::new();
    let mut files: Vec<String> = Vec::new();
    for dir in ["fixtures", "sample"] {
        for entry in walk(&testdata(dir)) {
            files.push(entry);
        }
    }
    assert!(files.len() > 10, "fixtures and sample archive present");
    let args = |jobs: &str, files: &[String]| -> Vec<String> {
        let mut v = vec!["--jobs".to_string(), jobs.to_string()];
        v.extend(files.iter().cloned());
        v
    };
    let run = |out: &str, a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = t.run_out(out, &a);
        assert!(o.status.code() == Some(0) || o.status.code() == Some(1), "{}", stderr(&o));
    };
    run("j1", args("1", &files));
    run("j4", args("4", &files));
    let mut reversed = files.clone();
    reversed.reverse();
    run("rev", args("3", &reversed));
    run("dirs", args("2", &[testdata("sample"), testdata("fixtures")]));
    let base = reports(&t, "j1");
    assert!(base.lines().count() > 100, "the sample archive produces real reports");
    assert_text("--jobs 4", &base, &reports(&t, "j4"));
    assert_text("reversed inputs", &base, &reports(&t, "rev"));
    assert_text("directories", &base, &reports(&t, "dirs"));
}

fn walk(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("testdata dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path.to_string_lossy()));
        } else {
            out.push(path.to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn stdin_is_read_when_no_path_is_given() {
    let t = TestDir::new();
    let data = std::fs::read(testdata("fixtures/reconnect.csv")).expect("fixture");
    let mut child = t
        .cmd()
        .args(["--out", "r"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &data).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let file_run = TestDir::new();
    file_run.run_out("r", &[&testdata("fixtures/reconnect.csv")]);
    assert_text("stdin vs file", &reports(&file_run, "r"), &reports(&t, "r"));
}

#[test]
fn usage_errors_have_their_own_exit_code() {
    let t = TestDir::new();
    for args in
        [&["--jobs", "0", "x"][..], &["--no-such-flag"], &["--row-cap", "abc", "x"], &["-", "-"]]
    {
        let out = t.cmd().args(args).output().expect("run");
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("error") || stderr(&out).contains("tala-bulk:"), "{args:?}");
    }
    let out = t.cmd().arg("--help").output().expect("run");
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Examples:"));
}

#[test]
fn unwritable_output_is_fatal_and_reads_nothing() {
    let t = TestDir::new();
    std::fs::write(t.join("file"), "x").expect("write");
    let out = t.run_out("file/sub", &[&testdata("fixtures/reconnect.csv")]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot create output directory"), "{}", stderr(&out));
}

/// The reports agree row for row with the independent Python implementation of SPEC 2
/// (`scripts/reference_reports.py`) on the generated sample archive.
#[test]
fn agrees_with_the_reference_implementation_on_the_sample() {
    let t = TestDir::new();
    let out = t.run_out("r", &[&testdata("sample")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let script = format!("{}/scripts/reference_reports.py", env!("CARGO_MANIFEST_DIR"));
    let reference = std::process::Command::new("python3")
        .args([&script, "--out", &t.join("ref").to_string_lossy(), &testdata("sample")])
        .output()
        .expect("python3 runs the reference implementation");
    assert!(reference.status.success(), "{}", stderr(&reference));
    for report in ["organizers.csv", "attendees.csv", "disconnections.csv"] {
        assert_text(report, &t.read(&format!("ref/{report}")), &t.read(&format!("r/{report}")));
    }
    // The same two lines tala prints.
    let ours = stderr(&out);
    let theirs = String::from_utf8_lossy(&reference.stdout);
    assert!(ours.ends_with(&*theirs), "ours:\n{ours}\nreference:\n{theirs}");
}

#[test]
fn creation_date_column_is_the_fallback_time_only_when_iso() {
    let t = TestDir::new();
    let row = |date: &str, id: &str| {
        format!(
            "{date},MeetingParticipantDetail,\"{{\"\"Id\"\":\"\"{id}\"\",\"\"MeetingDetailId\"\":\"\"m\"\",\
             \"\"JoinTime\"\":\"\"2024-01-01T00:00:00\"\",\"\"LeaveTime\"\":\"\"2024-01-01T00:10:00\"\",\
             \"\"Attendees\"\":[{{\"\"UserObjectId\"\":\"\"u\"\"}}]}}\"\n"
        )
    };
    let csv = format!(
        "CreationDate,Operation,AuditData\n{}{}",
        row("2024-02-01T10:00:00.0000000Z", "a"),
        row("1/3/2024 9:00:00 AM", "b")
    );
    std::fs::write(t.join("x.csv"), csv).expect("write");
    let out = t.run_out("r", &["x.csv"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s = t.summary("r");
    // The locale-formatted date (day or month first?) is not used.
    assert_eq!(s["earliest_creation_time"], "2024-02-01T10:00:00");
    assert_eq!(s["latest_creation_time"], "2024-02-01T10:00:00");
}

/// A named pipe (or `<(zstd -dc export.csv.zst)`) is read once from its start: the bytes used
/// to recognise the format are not lost.
#[test]
fn named_pipes_are_read_from_their_first_byte() {
    let t = TestDir::new();
    for (name, data) in [
        ("plain.fifo", std::fs::read(testdata("fixtures/reconnect.csv")).expect("fixture")),
        ("zst.fifo", std::fs::read(testdata("compressed/multi-frame.csv.zst")).expect("fixture")),
    ] {
        let fifo = t.join(name);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
        let writer = std::thread::spawn(move || std::fs::write(fifo, data).expect("write fifo"));
        let out_dir = format!("{name}-reports");
        let out = t.run_out(&out_dir, &[name]);
        writer.join().expect("writer");
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let plain = TestDir::new();
        plain.run_out("r", &[&testdata("fixtures/reconnect.csv")]);
        assert_text(name, &reports(&plain, "r"), &reports(&t, &out_dir));
    }
}

/// One big export with fewer files than `--jobs` is split among the workers at record
/// boundaries. Whatever it holds (CRLF endings, quoted newlines, duplicates, more bad rows than
/// errors.csv lists, a cut last row), every output is what one worker reading it whole makes.
#[test]
fn one_big_file_split_among_workers_reads_as_one() {
    let t = TestDir::new();
    let mut text = String::from("\u{feff}CreationDate,UserIds,Operations,AuditData\r\n");
    let mut row = 0u32;
    // 16,000 rows of about 1.2 kB: 19 MB, over the 16 MB at which a file is split.
    while row < 16_000 {
        row += 1;
        let id = format!("{:08x}-0000-4000-8000-{:012x}", row % 15_000, row % 15_000);
        let meeting = format!("meeting-{}", row / 7);
        // Every fifth row has a comma and quotes in a value and a line break between JSON
        // tokens, so its CSV record spans two lines.
        let (device, gap) =
            if row.is_multiple_of(5) { ("Teams, \\\"desktop\\\"", "\n") } else { ("Teams", "") };
        let json = format!(
            "{{\"CreationTime\":\"2024-03-01T05:{:02}:00\",\"Id\":\"{id}\",\
             \"Operation\":\"MeetingParticipantDetail\",\"MeetingDetailId\":\"{meeting}\",\
             \"UserId\":\"org@contoso.com\",\"ClientIP\":\"10.0.{}.{}\",\
             {gap}\"DeviceInformation\":\"{device}\",\"JoinTime\":\"2024-03-01T05:00:{:02}\",\
             \"LeaveTime\":\"2024-03-01T05:30:00\",\"Attendees\":[{{\"RecipientType\":\"User\",\
             \"UserObjectId\":\"user-{}\",\"UPN\":\"u{}@contoso.com\"}}],\"Padding\":\"{}\"}}",
            row % 60,
            row / 256 % 256,
            row % 256,
            row % 60,
            row % 40,
            row % 40,
            "x".repeat(800),
        );
        let json = if row.is_multiple_of(100) { "{not json".to_string() } else { json };
        let quoted = json.replace('"', "\"\"");
        text.push_str(&format!(
            "2024-03-01T05:00:00Z,org@contoso.com,MeetingParticipantDetail,\"{quoted}\"\r\n"
        ));
    }
    // The export was cut inside its last row.
    text.push_str("2024-03-01T05:00:00Z,org@contoso.com,MeetingParticipantDetail,\"{\"\"Id");
    std::fs::write(t.join("big.csv"), &text).expect("write");
    let (one, four) = (
        t.run_out("j1", &["--jobs", "1", "big.csv"]),
        t.run_out("j4", &["--jobs", "4", "big.csv"]),
    );
    assert_eq!((code(&one), code(&four)), (1, 1), "{}", stderr(&four));
    for report in
        ["organizers.csv", "attendees.csv", "disconnections.csv", "truncation.csv", "errors.csv"]
    {
        assert_text(report, &t.read(&format!("j1/{report}")), &t.read(&format!("j4/{report}")));
    }
    let errors = t.read("j4/errors.csv");
    // Every 100th row is bad, and so is the cut last row: 161 bad rows and the cut itself. The
    // first 100 rows are listed by their row numbers in the whole file, the other 61 counted;
    // the cut is listed however many rows were.
    assert!(errors.contains("big.csv,100,invalid_json,"), "{errors}");
    assert!(errors.contains("big.csv,10000,invalid_json,"), "{errors}");
    assert!(!errors.contains("big.csv,10100,"), "{errors}");
    assert!(errors.contains("big.csv,,more,61 more problem rows not listed"), "{errors}");
    assert!(errors.contains("big.csv,,cut,ends inside row 16001"), "{errors}");
    // The whole summary but its timing and the job count, which differ by design.
    let (s1, s4) = (summary_counts(&t, "j1"), summary_counts(&t, "j4"));
    assert_text("summary.json", &s1, &s4);
    assert!(s1.contains("\"invalid_json\": 161"), "{s1}");
    assert_eq!(t.summary("j4")["rows"], 16_001);
    assert!(t.read("j4/truncation.csv").contains(",cut,"));
    // The audit alone reads the parts the same way.
    for (out, jobs) in [("a1", "1"), ("a4", "4")] {
        let audit = t.run_out(out, &["--jobs", jobs, "--audit-only", "big.csv"]);
        assert_eq!(code(&audit), 1, "{}", stderr(&audit));
    }
    assert_text("audit-only", &t.read("a1/truncation.csv"), &t.read("a4/truncation.csv"));
    assert_text("audit-only", &t.read("a1/errors.csv"), &t.read("a4/errors.csv"));
}

/// summary.json without the fields that differ between identical runs (timing, `--jobs`).
pub fn summary_counts(t: &TestDir, out: &str) -> String {
    let mut s = t.summary(out);
    let fields = s.as_object_mut().expect("summary.json is an object");
    for key in ["elapsed_seconds", "mb_per_second", "jobs"] {
        assert!(fields.remove(key).is_some(), "summary.json has {key}");
    }
    serde_json::to_string_pretty(&s).expect("json")
}

/// A connection that a later record repeats (another Id, another UPN) is one row with the
/// UPN of the first record in archive order, and counts as merged, whichever record a worker
/// meets first; the organizer is the first record's too.
#[test]
fn a_repeated_connection_keeps_its_first_records_upn() {
    use crate::window::{export, rec};
    let t = TestDir::new();
    let join = ("2024-03-05T09:00:00", "2024-03-05T09:30:00");
    let first = rec(9, "meet-u", "u1", "Teams", join.0, join.1);
    let later = rec(1, "meet-u", "u1", "Teams", join.0, join.1)
        .replace("u1@contoso.com", "renamed@contoso.com")
        .replace("org@contoso.com", "other-org@contoso.com");
    std::fs::write(t.join("a.csv"), export(&[first])).expect("write");
    std::fs::write(t.join("b.csv"), export(&[later])).expect("write");
    for jobs in ["1", "2"] {
        let out = t.run_out(jobs, &["--jobs", jobs, "b.csv", "a.csv"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_report!(
            t,
            jobs,
            "attendees.csv",
            &format!(
                "{ATT_HEADER}\
meet-u,u1,u1@contoso.com,User,,2024-03-05T09:00:00,2024-03-05T09:30:00,198.51.100.7,Teams,
"
            )
        );
        assert!(t.read(&format!("{jobs}/organizers.csv")).contains("\nmeet-u,org@contoso.com,"));
        assert_eq!(t.summary(jobs)["identical_connections_merged"], 1);
    }
}
