//! Audit records as the Management Activity API delivers them: JSON arrays (content blobs)
//! and NDJSON, plain or compressed, beside CSV exports. The same records give the same
//! meeting reports whichever form they come in; damaged and odd blobs get their statuses.

use std::io::Write;
use std::path::Path;

use crate::util::{code, report_set, stderr, TestDir};

/// The AuditData texts of a CSV export, in row order.
fn audit_data(path: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let header = r.headers().expect("header").clone();
    let col = header
        .iter()
        .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case("AuditData"))
        .expect("AuditData column");
    r.records().map(|row| row.expect("row")[col].to_string()).collect()
}

/// Compact JSON pretty-printed: a line break and indentation after `{`, `[` and `,`, a space
/// after `:`, outside strings.
fn pretty(json: &str) -> String {
    let (mut out, mut in_string, mut escaped, mut depth) = (String::new(), false, false, 0usize);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                depth += 1;
                out.push(c);
                out.push('\n');
                out.push_str(&"  ".repeat(depth));
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                out.push('\n');
                out.push_str(&"  ".repeat(depth));
                out.push(c);
            }
            ',' => {
                out.push_str(",\n");
                out.push_str(&"  ".repeat(depth));
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

/// Every non-ASCII character as a `\uXXXX` escape (a pair outside the BMP), as serializers
/// that write ASCII do. Non-ASCII text only occurs inside strings, where escapes are valid.
fn ascii(json: &str) -> String {
    let mut out = String::new();
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn array(records: &[String]) -> String {
    format!("[{}]", records.join(","))
}

fn ndjson(records: &[String]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd")
}

fn sample() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample");
    let mut files: Vec<_> =
        std::fs::read_dir(dir).expect("sample").flatten().map(|e| e.path()).collect();
    files.sort();
    assert_eq!(files.len(), 6);
    files
}

/// Sample file `i` as a blob: its name with the extension of the form, and its bytes. Every
/// combination of array / NDJSON and plain / gzip / zstd, one array pretty-printed, one
/// NDJSON with every non-ASCII character escaped.
fn blob(i: usize, path: &Path) -> (String, Vec<u8>) {
    let records = audit_data(path);
    let stem = path.file_stem().and_then(|s| s.to_str()).expect("name").to_string();
    let (kind, text) = match i {
        0 | 4 => ("json", array(&records)),
        2 => ("json", array(&records.iter().map(|r| pretty(r)).collect::<Vec<_>>())),
        3 => ("ndjson", ndjson(&records.iter().map(|r| ascii(r)).collect::<Vec<_>>())),
        _ => ("ndjson", ndjson(&records)),
    };
    let (ext, data) = match i {
        0 | 3 => ("", text.into_bytes()),
        1 | 4 => (".gz", gzip(text.as_bytes())),
        _ => (".zst", zstd(text.as_bytes())),
    };
    (format!("{stem}.{kind}{ext}"), data)
}

/// The sample's six files as blobs (see [`blob`]) in `dir` of the test directory.
fn write_blobs(t: &TestDir, dir: &str) {
    std::fs::create_dir_all(t.join(dir)).expect("mkdir");
    for (i, path) in sample().iter().enumerate() {
        let (name, data) = blob(i, path);
        std::fs::write(t.join(dir).join(name), data).expect("write");
    }
}

const MEETING_REPORTS: [&str; 3] = ["organizers.csv", "attendees.csv", "disconnections.csv"];

/// Runs the CSV sample and the archive in `dir` (reports into `DIR-r`), checks that both
/// succeed with byte-identical meeting reports, and returns both summaries.
fn same_meeting_reports_as_the_sample(
    t: &TestDir,
    dir: &str,
) -> (serde_json::Value, serde_json::Value) {
    let csv = t.run_out("csv", &[&format!("{}/testdata/sample", env!("CARGO_MANIFEST_DIR"))]);
    let out = format!("{dir}-r");
    let other = t.run_out(&out, &[dir]);
    assert_eq!((code(&csv), code(&other)), (0, 0), "{}", stderr(&other));
    for report in MEETING_REPORTS {
        let same = t.read(&format!("csv/{report}")) == t.read(&format!("{out}/{report}"));
        assert!(same, "{dir}: {report}");
    }
    (t.summary("csv"), t.summary(&out))
}

#[test]
fn the_same_records_as_blobs_give_the_same_meeting_reports() {
    let t = TestDir::new();
    write_blobs(&t, "blobs");
    let (c, b) = same_meeting_reports_as_the_sample(&t, "blobs");
    for key in ["rows", "duplicates_dropped", "meetings", "attendees", "connections"] {
        assert_eq!(c[key], b[key], "{key}");
    }
    // Pretty-printed or ASCII-escaped, a copy of a record is the same content.
    assert_eq!(b["conflicting_duplicates"], 0);
    let rows: Vec<(String, String, String)> = t
        .read("blobs-r/truncation.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_string(), f[3].to_string(), f[9].to_string())
        })
        .collect();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string(), "complete".to_string());
    // No row cap applies to blobs: 300 rows is no cap.
    assert_eq!(
        rows,
        [
            s("json", "294"),
            s("ndjson+gz", "294"),
            s("json+zst", "215"),
            s("ndjson", "230"),
            s("json+gz", "300"),
            s("ndjson+zst", "272")
        ]
    );
    // show reads them too, one line per record.
    let o = t.cmd().args(["show", "--oneline", "blobs"]).output().expect("show");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines = String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(lines, 294 + 294 + 215 + 230 + 300 + 272);
}

#[test]
fn a_mixed_archive_gives_the_reports_of_the_csv_archive() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.join("mixed")).expect("mkdir");
    // Files 0-2 as CSV exports, 2-5 as blobs: file 2 is in both forms.
    for (i, path) in sample().iter().enumerate() {
        if i <= 2 {
            let name = path.file_name().expect("name");
            std::fs::copy(path, t.join("mixed").join(name)).expect("copy");
        }
        if i >= 2 {
            let (name, data) = blob(i, path);
            std::fs::write(t.join("mixed").join(name), data).expect("write");
        }
    }
    let (c, m) = same_meeting_reports_as_the_sample(&t, "mixed");
    assert_eq!(c["meetings"], m["meetings"]);
    assert_eq!(m["duplicates_dropped"], c["duplicates_dropped"].as_u64().expect("n") + 215);
    assert_eq!(m["conflicting_duplicates"], 0);
}

#[test]
fn damaged_and_odd_blobs_get_their_statuses() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.join("odd")).expect("mkdir");
    let records = audit_data(&sample()[0]);
    let put = |name: &str, data: &[u8]| std::fs::write(t.join("odd").join(name), data).expect("w");
    // An array cut in the middle of its third element.
    let three = array(&records[..3]);
    let cut_at = three.len() - records[2].len() / 2;
    put("a-cut.json", &three.as_bytes()[..cut_at]);
    // An API error: a JSON object that is no audit record.
    put("b-object.json", br#"{"error":{"code":"AF20022","message":"No subscription found"}}"#);
    put("c-empty.json", b"[ ]\n");
    // Bad lines among good ones: numbered by line, blank lines counted as lines.
    let lines = format!("{}\nnot json\n\n[1,2]\n{}\n", records[0], records[1]);
    put("d-bad-lines.ndjson", lines.as_bytes());
    // A compressed blob whose stream stops halfway (big enough that its first blocks can be
    // decoded: a stream cut inside its first block cannot be read at all).
    let all: Vec<String> = sample().iter().flat_map(|p| audit_data(p)).collect();
    let mut z = zstd(array(&all).as_bytes());
    z.truncate(z.len() / 2);
    put("e-truncated.json.zst", &z);
    // A non-object element in an array.
    put("f-element.json", format!("[{},\"x\",{}]", records[3], records[4]).as_bytes());

    let o = t.run_out("r", &["odd"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let rows: Vec<Vec<String>> = t
        .read("r/truncation.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(l.as_bytes());
            let rec = r.records().next().expect("row").expect("row");
            [1, 3, 9, 10].iter().map(|&i| rec[i].to_string()).collect()
        })
        .collect();
    let row = |i: usize| rows[i].iter().map(String::as_str).collect::<Vec<_>>();
    assert_eq!(row(0), ["json", "3", "cut", "ends inside record 3"]);
    assert_eq!(
        row(1),
        // An object where the array belongs is read as NDJSON: one line, one object.
        [
            "ndjson",
            "0",
            "not-an-export",
            "JSON that holds no audit records (no element has an Operation)"
        ]
    );
    assert_eq!(row(2), ["json", "0", "empty", "an empty array"]);
    assert_eq!(row(3), ["ndjson", "4", "complete", ""]);
    assert_eq!(row(4)[..3], ["json+zst", row(4)[1], "cut"]);
    let kept: usize = row(4)[1].parse().expect("rows");
    assert!(kept > 0 && kept < all.len(), "{kept}");
    assert!(row(4)[3].starts_with(&format!("stopped after record {kept}: ")), "{:?}", row(4));
    assert_eq!(row(5), ["json", "3", "complete", ""]);

    let errors = t.read("r/errors.csv");
    let listed: Vec<(&str, &str, &str)> = errors
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.splitn(4, ',');
            (f.next().unwrap_or(""), f.next().unwrap_or(""), f.next().unwrap_or(""))
        })
        .collect();
    assert!(listed.contains(&("odd/a-cut.json", "3", "invalid_json")), "{errors}");
    assert!(listed.contains(&("odd/d-bad-lines.ndjson", "2", "invalid_json")), "{errors}");
    assert!(
        listed.contains(&("odd/d-bad-lines.ndjson", "4", "auditdata_not_an_object")),
        "{errors}"
    );
    assert!(listed.contains(&("odd/f-element.json", "2", "auditdata_not_an_object")), "{errors}");
    assert!(listed.contains(&("odd/b-object.json", "", "not-an-export")), "{errors}");
    let s = t.summary("r");
    assert_eq!(s["files"]["cut"], 2);
    // The meeting records among the good records of every file.
    let meeting = |r: &&String| r.contains(r#""Operation":"MeetingParticipantDetail""#);
    let good = [&records[..2], &records[..2], &all[..kept], &records[3..5]];
    let expected: usize = good.iter().map(|g| g.iter().filter(meeting).count()).sum();
    assert_eq!(s["meeting_records"], expected as u64);
    assert!(expected > kept, "{expected}");
}

/// An element that breaks the bracket grammar (here an object left open) costs that record
/// only: the records after it are read, and the meeting reports are those of the blob without
/// it.
#[test]
fn a_damaged_element_in_a_blob_costs_only_its_record() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.join("damaged")).expect("mkdir");
    std::fs::create_dir_all(t.join("without")).expect("mkdir");
    let records = audit_data(&sample()[0]);
    let mut damaged = records.clone();
    let open = damaged[1].trim_end().strip_suffix('}').expect("an object").to_string();
    damaged[1] = open;
    std::fs::write(t.join("damaged/b.json"), array(&damaged)).expect("write");
    let mut without = records.clone();
    without.remove(1);
    std::fs::write(t.join("without/b.json"), array(&without)).expect("write");
    for dir in ["damaged", "without"] {
        let o = t.run_out(&format!("r-{dir}"), &[dir]);
        assert!(matches!(code(&o), 0 | 1), "{dir}: {}", stderr(&o));
    }
    for report in ["organizers.csv", "attendees.csv", "disconnections.csv"] {
        let (a, b) =
            (t.read(&format!("r-damaged/{report}")), t.read(&format!("r-without/{report}")));
        assert!(a == b, "{report} differs");
    }
    let errors = t.read("r-damaged/errors.csv");
    assert!(errors.contains("damaged/b.json,2,invalid_json,"), "{errors}");
    let s = t.summary("r-damaged");
    assert_eq!(s["rows"], records.len() as u64);
    assert_eq!(s["rows_skipped"]["invalid_json"], 1);
    assert_eq!(s["files"]["cut"], 0);
}

/// A 2 GB NDJSON stream, made as it is read, through standard input: read to its end with
/// memory that does not grow with it.
#[test]
fn a_two_gigabyte_ndjson_stream_is_read_with_bounded_memory() {
    let t = TestDir::new();
    let mut child = t
        .cmd()
        .args(["-q", "--out", "r", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let mut stdin = child.stdin.take().expect("stdin");
    let pad = "x".repeat(900);
    let lines: u64 = 2_000_000;
    let writer = std::thread::spawn(move || {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut stdin);
        for i in 0..lines {
            writeln!(
                w,
                "{{\"CreationTime\":\"2024-03-01T{:02}:{:02}:{:02}\",\"Id\":\"{i:032x}\",\
                 \"Operation\":\"MessageSent\",\"RecordType\":25,\"Pad\":\"{pad}\"}}",
                i / 3600 % 24,
                i / 60 % 60,
                i % 60
            )
            .expect("write");
        }
        w.flush().expect("flush");
    });
    writer.join().expect("writer");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    let s = t.summary("r");
    assert_eq!(s["rows"], lines);
    assert!(s["bytes_csv"].as_u64().expect("bytes") > 2_000_000_000);
    assert_eq!(s["records_by_operation"]["MessageSent"], lines);
    let row = t.read("r/truncation.csv");
    assert!(row.lines().nth(1).is_some_and(|l| l.contains(",ndjson,") && l.contains(",complete,")));
    // Peak memory of the children of this test process, tala-bulk's among them.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    let peak_mb = usage.ru_maxrss / 1024;
    assert!(peak_mb < 1024, "peak RSS {peak_mb} MB for a 2 GB stream");
}

/// A big JSON file with fewer files than `--jobs` is split among the workers at record
/// boundaries, as a big CSV file is. An array, NDJSON (with blank lines) and pretty-printed
/// records, each with bad records, duplicates and a cut end: every output is what one worker
/// reading the file whole makes.
#[test]
fn one_big_json_file_split_among_workers_reads_as_one() {
    let t = TestDir::new();
    let record = |n: u32| {
        if n.is_multiple_of(100) {
            // Invalid, with its braces balanced: a reader that counts braces finds its end.
            return "{\"Id\": not json}".to_string();
        }
        let id = format!("{:08x}-0000-4000-8000-{:012x}", n % 15_000, n % 15_000);
        format!(
            "{{\"CreationTime\":\"2024-03-01T05:{:02}:00\",\"Id\":\"{id}\",\
             \"Operation\":\"MeetingParticipantDetail\",\"MeetingDetailId\":\"meeting-{}\",\
             \"ClientIP\":\"10.0.{}.{}\",\"DeviceInformation\":\"Teams, \\\"desktop\\\" ]}}\",\
             \"JoinTime\":\"2024-03-01T05:00:{:02}\",\"LeaveTime\":\"2024-03-01T05:30:00\",\
             \"Attendees\":[{{\"RecipientType\":\"User\",\"UserObjectId\":\"user-{}\"}}],\
             \"Padding\":\"{}\"}}",
            n % 60,
            n / 7,
            n / 256 % 256,
            n % 256,
            n % 60,
            n % 40,
            "x".repeat(1100),
        )
    };
    // 16,000 records of about 1.3 kB: over the 16 MB at which a file is split.
    let records: Vec<String> = (1..=16_000).map(record).collect();
    let mut array = format!("\u{feff}[{}", records.join(",\n"));
    array.push_str(",{\"Id\":"); // cut inside its last element
    let mut lines = String::new();
    for (i, r) in records.iter().enumerate() {
        lines.push_str(r);
        lines.push_str(if i % 3 == 0 { "\r\n\n" } else { "\n" });
    }
    lines.push_str("{\"Id\":\"cut"); // a last line cut short
    let values: String =
        records.iter().map(|r| format!("{}\n", r.replace(",\"", ",\n  \""))).collect();
    for (name, text) in [("big.json", array), ("big.ndjson", lines), ("pretty.ndjson", values)] {
        std::fs::write(t.join(name), text).expect("write");
        let (one, four) = (
            t.run_out(&format!("{name}-1"), &["--jobs", "1", name]),
            t.run_out(&format!("{name}-4"), &["--jobs", "4", name]),
        );
        assert_eq!((code(&one), code(&four)), (1, 1), "{name}: {}", stderr(&four));
        for report in [
            "organizers.csv",
            "attendees.csv",
            "disconnections.csv",
            "truncation.csv",
            "errors.csv",
        ] {
            let (a, b) =
                (t.read(&format!("{name}-1/{report}")), t.read(&format!("{name}-4/{report}")));
            assert!(a == b, "{name}: {report} differs");
        }
        let errors = t.read(&format!("{name}-4/errors.csv"));
        let summary = t.summary(&format!("{name}-4"));
        match name {
            "big.json" => {
                assert!(errors.contains("big.json,10000,invalid_json,"), "{errors}");
                assert!(errors.contains("big.json,,cut,ends inside record 16001"), "{errors}");
                assert_eq!(summary["rows"], 16_001);
            }
            "big.ndjson" => {
                // Record n is on line n plus the blank lines before it: one per third record.
                assert!(errors.contains("big.ndjson,133,invalid_json,"), "{errors}");
                assert!(errors.contains("big.ndjson,,cut,ends inside line 21335"), "{errors}");
                assert_eq!(summary["rows"], 16_001);
            }
            _ => {
                assert!(t.read(&format!("{name}-4/truncation.csv")).contains(",ndjson,"));
                assert_eq!(summary["rows"], 16_000);
                assert_eq!(summary["rows_skipped"]["invalid_json"], 160);
            }
        }
    }
}

/// JSON files travel through partial states like CSV exports: a split run (plan, map, merge,
/// finalize) and a `--state` run, first and again, write the local run's reports.
#[test]
fn blobs_go_through_split_runs_and_the_state_directory() {
    let t = TestDir::new();
    write_blobs(&t, "archive");
    let local = t.run_out("local", &["archive"]);
    assert_eq!(code(&local), 0, "{}", stderr(&local));
    let split = crate::stages::split_with(&t, &[], &[], "split");
    assert_eq!(code(&split), 0, "{}", stderr(&split));
    assert_eq!(report_set(&t.join("split")), report_set(&t.join("local")));
    for (run, read) in [("s1", 6), ("s2", 0)] {
        let o = t.run_out(run, &["--state", "st", "archive"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
        assert_eq!(t.summary(run)["state_files"]["read"], read, "{run}");
        // summary.json says how the state run went (state_files); every other report is equal.
        let reports = |dir: &str| {
            let mut set = report_set(&t.join(dir));
            set.remove("summary.json");
            set
        };
        assert!(reports(run) == reports("local"), "{run}");
    }
}
