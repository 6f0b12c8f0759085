//! Issue "The workflows tala users already have": users database, IP filters, reports on
//! stdout, --max-gap, `show`, exit codes.

use std::process::Stdio;

use crate::util::{assert_text, code, stderr, testdata, TestDir};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs tala-bulk with `input` on stdin.
fn with_stdin(t: &TestDir, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = t
        .cmd()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input).expect("write");
    child.wait_with_output().expect("wait")
}

#[test]
fn users_database_created_updated_and_left_alone() {
    let t = TestDir::new();
    let dedup = testdata("fixtures/dedup");
    // Created: organizer UserKey → UserId and attendee UserObjectId → UPN, sorted. u-d3 has no
    // UPN, so nothing is learned for it.
    let o = t.run_out("r1", &["-u", "users.csv", &dedup]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_text(
        "new database",
        "okey-1,org@contoso.com\nokey-9,other@contoso.com\nu-d1,d1@contoso.com\nu-d2,d2@contoso.com\n",
        &t.read("users.csv"),
    );

    // Updated: existing lines (a malformed one too) keep their bytes and place; what the file
    // knows fills attendee_email, before the record's UPN.
    let existing = "u-d1,custom@contoso.com\nthis line is not a pair\nU-D3,dee3@contoso.com";
    std::fs::write(t.join("db.csv"), existing).expect("write");
    let o = t.run_out("r2", &["-u", "db.csv", &dedup]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("db.csv: line 2: not UUID,EMAIL; kept as it is"), "{}", stderr(&o));
    assert_text(
        "updated database",
        &format!(
            "{existing}\nokey-1,org@contoso.com\nokey-9,other@contoso.com\nu-d2,d2@contoso.com\n"
        ),
        &t.read("db.csv"),
    );
    let emails: Vec<String> = t
        .read("r2/attendees.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        emails,
        [
            "meet-d,u-d1,custom@contoso.com",
            "meet-d,u-d2,d2@contoso.com",
            "meet-d,u-d3,dee3@contoso.com"
        ]
    );

    // Unchanged: nothing new, so the file is not rewritten (same bytes, same mtime).
    let before = std::fs::metadata(t.join("db.csv")).and_then(|m| m.modified()).expect("mtime");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = t.run_out("r3", &["-u", "db.csv", &dedup]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = std::fs::metadata(t.join("db.csv")).and_then(|m| m.modified()).expect("mtime");
    assert_eq!(before, after);
}

/// The (attendee, connection) pairs of disconnections.csv.
fn flagged(t: &TestDir, out: &str) -> Vec<String> {
    t.read(&format!("{out}/disconnections.csv"))
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{} {} gap={}", f[1], f[6], f[10])
        })
        .collect()
}

#[test]
fn ip_regex_and_cidr_select_connections() {
    let t = TestDir::new();
    let reconnect = testdata("fixtures/reconnect.csv");
    let o = t.run_out("re", &["-i", r"^10\.2\.0\.5$", &reconnect]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(flagged(&t, "re"), ["Zoë Ñúñez 1 gap=", "Zoë Ñúñez 2 gap=-60"]);
    // Percentages stay out of all meetings and all attendees.
    assert!(stderr(&o).ends_with(
        "1 meetings affected out of 1 (100.0%)\n1 attendees affected out of 3 (33.3%)\n"
    ));

    t.run_out("net", &["--cidr", "10.2.0.0/30", &reconnect]);
    assert_eq!(flagged(&t, "net"), ["u-x 1 gap=", "u-x 2 gap=120"]);

    // Both: a connection must pass the regex and be in one of the networks.
    t.run_out(
        "both",
        &["-i", r"\.5$", "--cidr", "10.2.0.0/30", "--cidr", "10.2.0.4/30", &reconnect],
    );
    assert_eq!(flagged(&t, "both"), ["Zoë Ñúñez 1 gap=", "Zoë Ñúñez 2 gap=-60"]);

    // IPv6 and ports: matched on the address.
    let ipv6 = testdata("fixtures/ipv6.csv");
    t.run_out("v6", &["--cidr", "2a01:111::/32", &ipv6]);
    assert_eq!(flagged(&t, "v6"), ["u-v6 1 gap=", "u-v6 2 gap=60"]);
    t.run_out("v4", &["-i", r"^52\.114\.1\.7$", &ipv6]);
    assert_eq!(flagged(&t, "v4"), ["u-v4 1 gap=", "u-v4 2 gap=60"]);
}

#[test]
fn invalid_filters_are_usage_errors() {
    let t = TestDir::new();
    let o = t.run_out("r", &["-i", "(unclosed", &testdata("fixtures/reconnect.csv")]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("invalid --ip regex"), "{}", stderr(&o));
    let o = t.run_out("r", &["--cidr", "10.0.0.0/99", &testdata("fixtures/reconnect.csv")]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("invalid --cidr \"10.0.0.0/99\""), "{}", stderr(&o));
}

#[test]
fn max_gap_includes_and_excludes_pairs() {
    let t = TestDir::new();
    let reconnect = testdata("fixtures/reconnect.csv");
    // Zoë's second connection overlaps the first (gap -60): always in. Xavier came back after
    // 120 s: in with 120, out with 60.
    t.run_out("g60", &["--max-gap", "60", &reconnect]);
    assert_eq!(flagged(&t, "g60"), ["Zoë Ñúñez 1 gap=", "Zoë Ñúñez 2 gap=-60"]);
    t.run_out("g120", &["--max-gap", "120", &reconnect]);
    assert_eq!(
        flagged(&t, "g120"),
        ["Zoë Ñúñez 1 gap=", "Zoë Ñúñez 2 gap=-60", "u-x 1 gap=", "u-x 2 gap=120"]
    );
}

#[test]
fn one_report_on_stdout_from_stdin() {
    let t = TestDir::new();
    let data = std::fs::read(testdata("fixtures/reconnect.csv")).expect("fixture");
    t.run_out("r", &[&testdata("fixtures/reconnect.csv")]);
    let o = with_stdin(&t, &["-o"], &data);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_text("-o", &t.read("r/organizers.csv"), &stdout(&o));
    let o = with_stdin(&t, &["-a"], &data);
    assert_text("-a", &t.read("r/attendees.csv"), &stdout(&o));
    let o = with_stdin(&t, &["-d", "-q"], &data);
    assert_text(
        "-d",
        "\
Meeting meet-r ScheduledMeeting 2024-03-05 14:00:00-14:40:00, 3 attendees
  Zoë Ñúñez (Anonymous)
    14:05:00-14:15:00  10.2.0.5  ?  Microsoft Teams/1.6
    14:14:00-14:30:00  10.2.0.5  ?  Microsoft Teams/1.6
  u-x (User) x@contoso.com, organization tenant-c
    14:00:00-14:10:00  10.2.0.1  Teams desktop  Microsoft Teams/1.6
    14:12:00-14:40:00  10.2.0.2  Teams desktop  Microsoft Teams/1.6

1 meetings affected out of 1 (100.0%)
2 attendees affected out of 3 (66.7%)
",
        &stdout(&o),
    );
    assert!(!t.join("tala-report").exists(), "-o/-a/-d write no report directory");
    // -o with --out contradicts itself.
    let o = t.cmd().args(["-o", "--out", "x", "f.csv"]).output().expect("run");
    assert_eq!(code(&o), 2);
}

#[test]
fn show_and_oneline_on_any_operation() {
    let t = TestDir::new();
    let ops = testdata("fixtures/other-ops.csv");
    let o = t.cmd().args(["show", "--oneline", &ops]).output().expect("run");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_text(
        "--oneline",
        "2024-03-06T08:00:00 ExchangeItemAggregated MailItemsAccessed: user=ann@contoso.com, ip=10.9.9.9
2024-03-06T08:05:00 SharePointFileOperation FileDownloaded: user=admin@contoso.com, ip=10.9.9.10
2024-03-06T08:06:00 9999 FutureThing: user=svc@contoso.com
",
        &stdout(&o),
    );
    let o = t.cmd().args(["show", &ops]).output().expect("run");
    let text = stdout(&o);
    let first: Vec<&str> = text.lines().take(14).collect();
    assert_eq!(
        first,
        [
            &*format!("{ops}: row 1  x  ann@contoso.com  MailItemsAccessed"),
            "    CreationTime: 2024-03-06T08:00:00",
            "    Id: 80000000-0000-0000-0000-000000000001",
            "    Operation: MailItemsAccessed",
            "    RecordType: 50 (ExchangeItemAggregated)",
            "    UserType: 0 (Regular)",
            "    UserId: ann@contoso.com",
            "    ClientIP: 10.9.9.9",
            "    Folders:",
            "      - Path: \\Inbox",
            "        FolderItems:",
            "          - Id: m1",
            "          - Id: m2",
            "",
        ]
    );
    assert!(text.contains("    RecordType: 9999\n    UserType: 77\n"), "{text}");
    // A file that is not an export is skipped with a warning, the rest still shown: exit 1.
    let o = t
        .cmd()
        .args(["show", "--oneline", &testdata("fixtures/not-audit.csv"), &ops])
        .output()
        .expect("run");
    assert_eq!(code(&o), 1);
    assert_eq!(stdout(&o).lines().count(), 3);
    assert!(stderr(&o).contains("not-audit.csv: no AuditData column; skipped"), "{}", stderr(&o));
}

#[test]
fn show_into_head_ends_quietly() {
    let t = TestDir::new();
    let script = format!(
        "'{}' show '{}' | head -1; exit ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_tala-bulk"),
        testdata("sample")
    );
    let o = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(t.path())
        .output()
        .expect("bash");
    assert_eq!(code(&o), 0, "tala-bulk's own exit status: {}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
    assert_eq!(stderr(&o), "", "nothing on stderr");
}

#[test]
fn exit_codes() {
    let t = TestDir::new();
    let ok = t.run_out("a", &[&testdata("fixtures/reconnect.csv")]);
    assert_eq!(code(&ok), tala_bulk::exit::SUCCESS as i32);
    let skipped = t.run_out("b", &[&testdata("fixtures/missing.csv")]);
    assert_eq!(code(&skipped), tala_bulk::exit::INPUT_PROBLEMS as i32);
    let usage = t.run_out("c", &["--max-gap", "-5", "x.csv"]);
    assert_eq!(code(&usage), tala_bulk::exit::USAGE as i32);
    std::fs::create_dir(t.join("dir-not-db")).expect("mkdir");
    let fatal = t.run_out("d", &["-u", "dir-not-db", &testdata("fixtures/reconnect.csv")]);
    assert_eq!(code(&fatal), tala_bulk::exit::FATAL as i32, "{}", stderr(&fatal));
    assert!(!t.join("d/organizers.csv").exists(), "nothing written on a fatal error");
}

#[test]
fn a_users_database_inside_the_archive_is_not_read_as_an_export() {
    let t = TestDir::new();
    std::fs::create_dir(t.join("archive")).expect("mkdir");
    std::fs::copy(testdata("fixtures/reconnect.csv"), t.join("archive/x.csv")).expect("copy");
    for run in ["r1", "r2"] {
        let o = t.run_out(run, &["-u", "archive/users.csv", "archive"]);
        assert_eq!(code(&o), 0, "{run}: {}", stderr(&o));
        assert!(!t.read(&format!("{run}/truncation.csv")).contains("users.csv"), "{run}");
    }
    assert!(t.read("archive/users.csv").contains("u-x,x@contoso.com"));
}
