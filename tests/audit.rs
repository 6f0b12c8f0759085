//! Issue "Compressed archives and the truncation / coverage audit".

use crate::util::{assert_text, code, reports, stderr, testdata, TestDir};

/// Copies `src` (a file or directory tree) to `dst`, compressing each file with `compress`
/// and appending `suffix` to its name.
fn compressed_copy(
    src: &std::path::Path,
    dst: &std::path::Path,
    suffix: &str,
    compress: &dyn Fn(&[u8]) -> Vec<u8>,
) {
    if src.is_dir() {
        std::fs::create_dir_all(dst).expect("mkdir");
        for entry in std::fs::read_dir(src).expect("read dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name").to_owned();
            compressed_copy(&path, &dst.join(name), suffix, compress);
        }
    } else {
        let data = std::fs::read(src).expect("read");
        let mut name = dst.as_os_str().to_owned();
        name.push(suffix);
        std::fs::write(name, compress(&data)).expect("write");
    }
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

#[test]
fn zstd_and_gzip_archives_give_byte_identical_reports() {
    let t = TestDir::new();
    let plain = [testdata("sample"), testdata("fixtures/dedup"), testdata("fixtures/quirks.csv")];
    for (i, p) in plain.iter().enumerate() {
        let src = std::path::Path::new(p);
        compressed_copy(src, &t.join(&format!("zst/{i}")), ".zst", &zstd);
        compressed_copy(src, &t.join(&format!("gz/{i}")), ".gz", &gzip);
        let link = t.join(&format!("plain/{i}"));
        std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(src, &link).expect("symlink");
    }
    for (out, dir) in [("p", "plain"), ("z", "zst"), ("g", "gz")] {
        let o = t.run_out(out, &["--jobs", "2", dir]);
        assert_eq!(code(&o), 0, "{dir}: {}", stderr(&o));
    }
    let base = reports(&t, "p");
    assert!(base.lines().count() > 1000);
    assert_text("zstd archive", &base, &reports(&t, "z"));
    assert_text("gzip archive", &base, &reports(&t, "g"));
    let audit = t.read("z/truncation.csv");
    assert!(audit.lines().skip(1).all(|l| l.contains(",zst,")), "{audit}");
}

#[test]
fn multi_frame_zstd_multi_member_gzip_and_gzip_named_csv() {
    let t = TestDir::new();
    for (out, compressed, plain) in [
        ("a", "compressed/multi-frame.csv.zst", "fixtures/reconnect.csv"),
        ("b", "compressed/multi-member.csv.gz", "fixtures/quirks.csv"),
        ("c", "compressed/gzip-named.csv", "fixtures/layouts/1-old.csv"),
    ] {
        let o = t.run_out(out, &[&testdata(compressed)]);
        assert_eq!(code(&o), 0, "{compressed}: {}", stderr(&o));
        let p = format!("{out}-plain");
        t.run_out(&p, &[&testdata(plain)]);
        assert_text(compressed, &reports(&t, &p), &reports(&t, out));
    }
    assert!(t.read("c/truncation.csv").contains("gzip-named.csv,gz,456,1,1,"));
}

#[test]
fn truncated_streams_keep_every_record_before_the_cut() {
    let t = TestDir::new();
    let o = t.run_out(
        "r",
        &[&testdata("compressed/truncated.csv.zst"), &testdata("compressed/truncated.csv.gz")],
    );
    assert_eq!(code(&o), 1, "a cut file is an input problem: {}", stderr(&o));
    let audit = t.read("r/truncation.csv");
    let rows: Vec<&str> = audit.lines().collect();
    // Complete rows in the decompressible prefix, counted independently with Python's csv
    // module: 172 of the gzip copy and 117 of the zstd copy; one is another operation.
    assert!(
        rows[1].ends_with(
            "truncated.csv.gz,gz,20247,172,171,2024-03-01T01:42:21,2024-03-01T05:56:01,,,cut,\
         stopped after row 172: incomplete deflate stream"
        ),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].ends_with(
            "truncated.csv.zst,zst,15126,117,116,2024-03-01T03:21:24,2024-03-01T05:56:01,,,cut,\
         stopped after row 117: incomplete frame"
        ),
        "{}",
        rows[2]
    );
    let s = t.summary("r");
    assert_eq!(s["files"]["cut"], 2);
    assert_eq!(s["records_by_operation"]["MeetingParticipantDetail"], 171 + 116);
}

const AUDIT_TRUNCATION: &str = "\
path,format,bytes,rows,meeting_records,earliest_utc,latest_utc,window_start_utc,window_end_utc,status,detail
audit/UAL-20240301000000-20240301010000.csv,csv,1728,2,2,2024-03-01T00:10:00,2024-03-01T00:50:00,2024-03-01T00:00:00,2024-03-01T01:00:00,complete,
audit/UAL-20240301030000-20240301040000.csv,csv,1728,2,2,2024-03-01T03:05:00,2024-03-01T04:30:00,2024-03-01T03:00:00,2024-03-01T04:00:00,complete,1 records outside the window in the file name
audit/capped.csv,csv,2572,3,3,2024-03-01T03:00:00,2024-03-01T03:40:00,,,capped,exactly the row cap (3 rows): the export probably stopped there; no window in its name: redownload.csv asks for what no other file holds of the span of its records
audit/cut-mid-record.csv,csv,1528,2,1,2024-03-01T00:20:00,2024-03-01T00:20:00,,,cut,ends inside row 2
";

/// Gaps: 01:00:01-02:59:59 between the two named windows, in two pieces (at the named files'
/// rate of 2 rows an hour, ~4 rows, more than 80% of the cap of 3), and 04:00:01-04:30:00 where
/// only a record outside its file's window lies, rounded out to whole minutes. capped.csv
/// (03:00-03:40, no window in its name) lies inside the second named window, which holds it
/// completely: nothing of it is asked for.
const AUDIT_REDOWNLOAD: &str = "\
start,end,reason,files,estimated_rows
2024-03-01T01:00:00,2024-03-01T02:00:00,gap,audit/UAL-20240301000000-20240301010000.csv;audit/UAL-20240301030000-20240301040000.csv,2
2024-03-01T02:00:00,2024-03-01T03:00:00,gap,audit/UAL-20240301000000-20240301010000.csv;audit/UAL-20240301030000-20240301040000.csv,2
2024-03-01T04:00:00,2024-03-01T04:31:00,gap,audit/UAL-20240301030000-20240301040000.csv,1
";

fn audit_run(extra: &[&str]) -> (TestDir, std::process::Output) {
    let t = TestDir::new();
    let mut args = vec!["--row-cap", "3"];
    args.extend_from_slice(extra);
    args.push("audit");
    let o = t
        .cmd()
        .current_dir(format!("{}/testdata", env!("CARGO_MANIFEST_DIR")))
        .args(&args)
        .arg("--out")
        .arg(t.join("r"))
        .output()
        .expect("run");
    (t, o)
}

#[test]
fn truncation_audit_and_redownload() {
    let (t, o) = audit_run(&[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_text("truncation.csv", AUDIT_TRUNCATION, &t.read("r/truncation.csv"));
    assert_text("redownload.csv", AUDIT_REDOWNLOAD, &t.read("r/redownload.csv"));
    let err = stderr(&o);
    assert!(err.contains("files: 2 complete, 1 capped, 1 cut, 0 empty, 0 unreadable"), "{err}");
    assert!(err.contains("re-download: 3 windows (0 capped, 3 gaps, 0 after cut files)"), "{err}");
    let s = t.summary("r");
    assert_eq!(s["redownload"], serde_json::json!({"capped": 0, "gap": 3, "cut": 0}));
    // redownload.ps1: a comment and an Export-Window line per window, the two pieces of the
    // first gap one after the other.
    let script = t.read("r/redownload.ps1");
    let (a, b) = (
        "audit/UAL-20240301000000-20240301010000.csv",
        "audit/UAL-20240301030000-20240301040000.csv",
    );
    assert!(
        script.ends_with(&format!(
            "\n# gap: {a}; {b} (about 2 rows)\n\
             Export-Window '2024-03-01T01:00:00' '2024-03-01T02:00:00'\n\
             \n# gap: {a}; {b} (about 2 rows)\n\
             Export-Window '2024-03-01T02:00:00' '2024-03-01T03:00:00'\n\
             \n# gap: {b} (about 1 row)\n\
             Export-Window '2024-03-01T04:00:00' '2024-03-01T04:31:00'\n"
        )),
        "{script}"
    );
    assert!(script.starts_with("# redownload.ps1, by tala-bulk "), "{script}");
    assert!(script.contains("-RecordType MicrosoftTeams -Operations MeetingParticipantDetail"));
    // The good rows of the cut file are still reported: 8 attendees in all.
    assert_eq!(s["attendees"], 8);
}

#[test]
fn audit_only_writes_the_same_audit_and_nothing_else() {
    let (t, o) = audit_run(&["--audit-only"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_text("truncation.csv", AUDIT_TRUNCATION, &t.read("r/truncation.csv"));
    assert_text("redownload.csv", AUDIT_REDOWNLOAD, &t.read("r/redownload.csv"));
    assert!(t
        .read("r/redownload.ps1")
        .contains("Export-Window '2024-03-01T04:00:00' '2024-03-01T04:31:00'"));
    for absent in ["organizers.csv", "attendees.csv", "disconnections.csv", "summary.json"] {
        assert!(!t.join(&format!("r/{absent}")).exists(), "{absent} written by --audit-only");
    }
    assert!(stderr(&o).contains("tala-bulk: audit of 4 files"), "{}", stderr(&o));
}

/// A collector's own cap (100 rows here), which `--row-cap` was not told: three exports of
/// exactly 100 rows; two of them hold only the last hours of their 6-hour windows (the export
/// kept the newest records), and are found capped; the third fills its window and stays
/// complete, as does an export of another size. The windows to export again are sized for 100
/// rows.
/// `--row-cap` given turns the inference off.
#[test]
fn a_cap_shared_by_late_starting_exports_is_found_without_row_cap() {
    use crate::window::{export, rec};
    let t = TestDir::new();
    std::fs::create_dir_all(t.join("archive")).expect("mkdir");
    // `rows` records of the 6-hour window from `hour`, evenly from `from` minutes in.
    let put = |hour: u32, rows: u32, from: u32| {
        let records: Vec<String> = (0..rows)
            .map(|i| {
                let minute = from + (360 - from) * i / rows;
                let at = format!("2024-03-01T{:02}:{:02}:00", hour + minute / 60, minute % 60);
                rec(hour * 1000 + i, &format!("m{hour}-{i}"), "u1", "Teams", &at, &at)
            })
            .collect();
        let end = match hour + 6 {
            24 => "20240302000000".to_string(),
            h => format!("20240301{h:02}0000"),
        };
        let name = format!("UAL-20240301{hour:02}0000-{end}.csv");
        std::fs::write(t.join("archive").join(name), export(&records)).expect("write");
    };
    put(0, 100, 240);
    put(6, 100, 200);
    put(12, 100, 0);
    put(18, 57, 240);
    let out = t.run_out("r", &["archive"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let statuses: Vec<String> = t
        .read("r/truncation.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.splitn(11, ',').collect();
            format!("{} {}", &f[0][f[0].len() - 10..], f[9])
        })
        .collect();
    assert_eq!(
        statuses,
        ["060000.csv capped", "120000.csv capped", "180000.csv complete", "000000.csv complete"]
    );
    let truncation = t.read("r/truncation.csv");
    assert!(
        truncation.contains(
            ",capped,\"inferred cap: 100 rows, as in 3 files of the archive, and its records \
             start 4 h 00 min after its window's start: the export probably kept the newest \
             records up to a cap; its records fill only the later part of its window (the \
             export kept the newest): redownload.csv asks for the part before its first record \
             that no other file holds\""
        ),
        "{truncation}"
    );
    assert_eq!(t.summary("r")["inferred_row_caps"], serde_json::json!([{"rows": 100, "files": 2}]));
    assert!(
        stderr(&out).contains("row cap found in the archive: 100 rows; 2 files"),
        "{}",
        stderr(&out)
    );
    // Only the part of each window before its first record is asked for, in pieces of 80
    // rows at most at the file's own rate (100 rows in the last ~2 h): 4 h, ~205 rows, in
    // three pieces; 3 h 20 min, ~127 rows, in two.
    let (a, b) = (
        "archive/UAL-20240301000000-20240301060000.csv",
        "archive/UAL-20240301060000-20240301120000.csv",
    );
    assert_eq!(
        t.read("r/redownload.csv"),
        format!(
            "start,end,reason,files,estimated_rows\n\
             2024-03-01T00:00:00,2024-03-01T01:20:00,capped,{a},68\n\
             2024-03-01T01:20:00,2024-03-01T02:40:00,capped,{a},68\n\
             2024-03-01T02:40:00,2024-03-01T04:01:00,capped,{a},68\n\
             2024-03-01T06:00:00,2024-03-01T07:40:00,capped,{b},63\n\
             2024-03-01T07:40:00,2024-03-01T09:21:00,capped,{b},64\n"
        )
    );

    let given = t.run_out("given", &["--row-cap", "1000", "archive"]);
    assert_eq!(code(&given), 0, "{}", stderr(&given));
    assert!(!t.read("given/truncation.csv").contains("capped"));
    assert_eq!(t.summary("given")["inferred_row_caps"], serde_json::json!([]));
}
