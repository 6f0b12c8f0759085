//! redownload.csv against the generator's truth, on an archive made the way an admin's is: a
//! collector's own 2,000-row cap that no flag names, half the exports zstd-compressed, nested
//! by day, one export deleted and one `.zst` cut in half. Every record missing from the
//! archive must lie in a listed window, every listed window must hold missing records, and no
//! record the archive holds may lie inside a listed window away from its rounded edges.

use std::collections::HashMap;
use std::path::Path;

use tala_bulk::timestamp::{parse, Ts};

use crate::util::{code, stderr, TestDir};

/// Rows of a CSV file with a header, as maps from column name to value.
fn table(text: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().expect("header").clone();
    r.records()
        .map(|row| {
            let row = row.expect("row");
            header.iter().zip(row.iter()).map(|(k, v)| (k.to_string(), v.to_string())).collect()
        })
        .collect()
}

fn ts(s: &str) -> Ts {
    parse(s.as_bytes()).unwrap_or_else(|| panic!("time {s}"))
}

fn base(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".zst").unwrap_or(name)
}

#[test]
fn the_list_holds_exactly_the_windows_missing_from_a_generated_archive() {
    let t = TestDir::new();
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen_archive.py");
    let status = std::process::Command::new("python3")
        .arg(&gen)
        .args(["--out", &t.join("gen").to_string_lossy(), "--files", "24", "--row-cap", "2000"])
        .args(["--seed", "3", "--jobs", "1", "--truth", &t.join("truth.csv").to_string_lossy()])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("python3 runs scripts/gen_archive.py");
    assert!(status.success());
    let mut names: Vec<String> = std::fs::read_dir(t.join("gen"))
        .expect("generated")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 24);

    // Windows 4, 9, 14 and 19 are capped; 7 is deleted, 12 compressed and cut in half.
    let (deleted, cut) = (7, 12);
    for (i, name) in names.iter().enumerate() {
        if i == deleted {
            continue;
        }
        let day = t.join(&format!("archive/{}", &name[4..12]));
        std::fs::create_dir_all(&day).expect("mkdir");
        let data = std::fs::read(t.join(&format!("gen/{name}"))).expect("read");
        if i % 2 == 0 || i == cut {
            let mut z = zstd::encode_all(&data[..], 3).expect("zstd");
            if i == cut {
                z.truncate(z.len() / 2);
            }
            std::fs::write(day.join(format!("{name}.zst")), z).expect("write");
        } else {
            std::fs::write(day.join(name), data).expect("write");
        }
    }

    let o = t.run_out("r", &["archive"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("row cap found in the archive: 2000 rows; 4 files"),
        "{}",
        stderr(&o)
    );
    let files = table(&t.read("r/truncation.csv"));
    let status_of = |i: usize| {
        let f = files.iter().find(|f| base(&f["path"]) == names[i]).expect("file reported");
        (f["status"].clone(), f["rows"].parse::<u64>().expect("rows"))
    };
    for capped in [4, 9, 14, 19] {
        assert_eq!(status_of(capped), ("capped".to_string(), 2000), "file {capped}");
    }
    let (status, cut_rows) = status_of(cut);
    assert_eq!(status, "cut");
    assert!(cut_rows > 0 && cut_rows < 2000, "{cut_rows}");

    // What the archive holds: each generated record with a row in a file that is there, and
    // for the cut file, in the rows before the cut.
    let mut when: HashMap<String, Ts> = HashMap::new();
    let mut held: HashMap<String, bool> = HashMap::new();
    for r in table(&t.read("truth.csv")) {
        let row: Option<u64> = r["row"].parse().ok();
        let there = match row {
            None => false,
            Some(_) if r["file"] == names[deleted] => false,
            Some(n) if r["file"] == names[cut] => n <= cut_rows,
            Some(_) => true,
        };
        when.insert(r["id"].clone(), ts(&r["creation_time"]));
        *held.entry(r["id"].clone()).or_default() |= there;
    }
    let missing: Vec<Ts> = held.iter().filter(|(_, h)| !**h).map(|(id, _)| when[id]).collect();
    let kept: Vec<Ts> = held.iter().filter(|(_, h)| **h).map(|(id, _)| when[id]).collect();
    assert!(missing.len() > 1000, "{}", missing.len());

    let list = table(&t.read("r/redownload.csv"));
    let windows: Vec<(Ts, Ts)> = list.iter().map(|w| (ts(&w["start"]), ts(&w["end"]))).collect();
    let outside: Vec<&Ts> =
        missing.iter().filter(|m| !windows.iter().any(|(a, b)| (*a..*b).contains(m))).collect();
    assert!(outside.is_empty(), "{} missing records in no window", outside.len());
    for (w, (a, b)) in list.iter().zip(&windows) {
        assert!(missing.iter().any(|m| (*a..*b).contains(m)), "nothing missing in {w:?}");
    }
    // Held records only at the rounded edges (a minute at each end of a run of windows).
    let mut runs: Vec<(Ts, Ts)> = Vec::new();
    for &(a, b) in &windows {
        match runs.last_mut() {
            Some(run) if a <= run.1 => run.1 = run.1.max(b),
            _ => runs.push((a, b)),
        }
    }
    let inside = kept.iter().filter(|k| runs.iter().any(|(a, b)| (a + 60..b - 60).contains(k)));
    assert_eq!(inside.count(), 0, "held records inside listed windows");

    // Each window says why, and names the files it concerns.
    let reasons: Vec<(String, Vec<&str>)> = list
        .iter()
        .map(|w| (w["reason"].clone(), w["files"].split(';').map(base).collect()))
        .collect();
    let show = |reason: &str, files: &[usize]| {
        (reason.to_string(), files.iter().map(|&i| names[i].as_str()).collect::<Vec<_>>())
    };
    for capped in [4, 9, 14, 19] {
        assert!(reasons.contains(&show("capped", &[capped])), "{reasons:?}");
    }
    assert!(reasons.contains(&show("gap", &[deleted - 1, deleted + 1])), "{reasons:?}");
    assert!(reasons.contains(&show("cut", &[cut])), "{reasons:?}");
    assert_eq!(list.len(), 6, "{reasons:?}");
}
