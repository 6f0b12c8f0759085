//! `report.html` in a real browser: headless Chromium renders the page, and the tests read the
//! DOM it built, its console and a screenshot.
//!
//! Ignored by a plain `cargo test` (it needs Chromium); CI runs
//! `scripts/browser/setup.sh && cargo test --test browser -- --ignored`. Without Chromium the
//! tests fail and say how to install it: a check that skips itself would pass unseen.
//!
//! The helpers ([`chromium`], [`dump_dom`], [`console_errors`], [`screenshot`]) take any page
//! on disk, so a test of the whole tool can check the `report.html` of a run the same way.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tala_bulk::report::html::{self, Bar, FileRow, Headline, Hour, MeetingRow, Page, WindowRow};

/// How long one Chromium run may take (it takes about a second here).
const CHROMIUM_LIMIT: Duration = Duration::from_secs(120);

/// `<target>/browser`: CARGO_TARGET_DIR when set, else `target` in the package.
fn out_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| manifest.join("target"), |t| manifest.join(PathBuf::from(t)));
    let dir = target.join("browser");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// The Chromium binary: `$CHROMIUM`, else `chromium` or `chromium-browser` on the PATH. Panics
/// with the way to install it when there is none.
fn chromium() -> PathBuf {
    if let Some(c) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(c);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let exe = dir.join(name);
            if exe.is_file() {
                return exe;
            }
        }
    }
    panic!(
        "chromium is not on the PATH: the browser tests need it. Install it with \
         scripts/browser/setup.sh (apt-get install chromium), or name it in $CHROMIUM"
    )
}

/// `file://` URL of a page, its path made absolute and the few characters a URL path cannot
/// hold as they are percent-encoded.
fn file_url(page: &Path) -> String {
    let abs = fs::canonicalize(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let mut url = String::from("file://");
    for c in abs.to_string_lossy().chars() {
        match c {
            '%' => url.push_str("%25"),
            ' ' => url.push_str("%20"),
            '#' => url.push_str("%23"),
            '?' => url.push_str("%3F"),
            c => url.push(c),
        }
    }
    url
}

/// What a Chromium run left: its exit status, stdout and stderr.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium on `page` with `args`, in a fresh profile (so that runs in parallel
/// do not share one), killed past [`CHROMIUM_LIMIT`]. `--no-sandbox`: Chromium refuses to
/// start as root with its sandbox, as CI runs.
fn headless(page: &Path, args: &[&str]) -> Run {
    let exe = chromium();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let mut profile = OsString::from("--user-data-dir=");
    profile.push(scratch.path().join("profile"));
    let (out_path, err_path) = (scratch.path().join("stdout"), scratch.path().join("stderr"));
    let create = |p: &Path| File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut child = Command::new(&exe)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .arg(profile)
        .args(args)
        .arg(file_url(page))
        .stdin(Stdio::null())
        .stdout(create(&out_path))
        .stderr(create(&err_path))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > CHROMIUM_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium {args:?} ran past {CHROMIUM_LIMIT:?} on {}", page.display());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("waiting for chromium: {e}"),
        }
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    Run { status, stdout: read(&out_path), stderr: read(&err_path) }
}

/// The DOM Chromium built from the page, serialized.
fn dump_dom(page: &Path) -> String {
    let run = headless(page, &["--dump-dom"]);
    assert!(run.status.success(), "chromium --dump-dom failed: {}\n{}", run.status, run.stderr);
    assert!(run.stdout.contains("</html>"), "chromium printed no DOM:\n{}", run.stderr);
    run.stdout
}

/// Every message the page left on the console. Chromium logs them all as `INFO:CONSOLE`
/// whatever their level, and a page without script has none unless something went wrong: a
/// fetch the Content-Security-Policy refused, a broken resource. So all of them count.
fn console_errors(page: &Path) -> Vec<String> {
    let run = headless(page, &["--enable-logging=stderr", "--v=0", "--dump-dom"]);
    assert!(run.status.success(), "chromium failed: {}\n{}", run.status, run.stderr);
    run.stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect()
}

/// Screenshot of the page at 1280 × `height` into `png`; returns the PNG's bytes after
/// checking they are one of that size.
fn screenshot(page: &Path, png: &Path, height: u32) -> Vec<u8> {
    let _ = fs::remove_file(png);
    let shot = format!("--screenshot={}", png.display());
    let size = format!("--window-size=1280,{height}");
    let run = headless(page, &[&shot, &size, "--hide-scrollbars"]);
    assert!(run.status.success(), "chromium --screenshot failed: {}\n{}", run.status, run.stderr);
    let bytes = fs::read(png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", png.display());
    // IHDR: width and height, big-endian, at bytes 16..24.
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    assert!(bytes.len() > 24 && (be(16), be(20)) == (1280, height), "screenshot size");
    bytes
}

/// The rows of the `<tbody>` of the table `id` in a serialized DOM.
fn tbody_rows(dom: &str, id: &str) -> Vec<String> {
    let at = dom.find(&format!("<table id=\"{id}\"")).unwrap_or_else(|| panic!("no table #{id}"));
    let table = &dom[at..];
    let body =
        &table[table.find("<tbody>").expect("tbody")..table.find("</tbody>").expect("/tbody")];
    body.split("<tr>").skip(1).map(str::to_string).collect()
}

/// The date `day` days after 1 March 2024, for a year and a month.
fn date(day: usize) -> String {
    let lengths = [31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 28, 31];
    let mut d = day;
    for (k, len) in lengths.into_iter().enumerate() {
        if d < len {
            let (year, month) = if k < 10 { (2024, k + 3) } else { (2025, k - 9) };
            return format!("{year}-{month:02}-{:02}", d + 1);
        }
        d -= len;
    }
    panic!("day {day} is past the calendar of this test");
}

/// A page like one from a real archive: 24 networks, 5 clients, `hours` hours from 1 March
/// 2024 with working days, nights and weekends, 20 meetings, a few files and windows.
fn realistic_page(hours: usize) -> Page {
    // A small deterministic generator (an LCG): realistic-looking numbers, same every run.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n.max(1)
    };
    let sites = ["HQ-Floor1", "HQ-Floor2", "HQ-Floor3", "Lab", "Warehouse", "Branch-Oslo"];
    let mut networks: Vec<Bar> = (0..24)
        .map(|i| {
            let connections = 200 + next(9_000);
            let drops = connections * (1 + next(180)) / 1_000;
            let (label, detail) = if i < 12 {
                let site = sites[i % sites.len()];
                (
                    format!("10.{}.{}.0/22 {site}", 1 + i / 4, (i % 4) * 4),
                    "Seattle, US · inside corp".to_string(),
                )
            } else if i < 20 {
                (format!("203.0.{}.0/24", 100 + i), String::new())
            } else {
                (format!("2a01:db8:{:x}::/48", 0x12 + i), "VPN pool · vpn".to_string())
            };
            Bar {
                label,
                detail,
                connections,
                drops,
                rate_percent: drops as f64 * 100.0 / connections as f64,
                median_gap: format!("{} s", 5 + next(120)),
            }
        })
        .collect();
    networks.sort_by(|a, b| b.drops.cmp(&a.drops).then_with(|| a.label.cmp(&b.label)));
    let clients = [
        ("Teams desktop · Windows", "PC"),
        ("Teams desktop · macOS", "Mac"),
        ("Teams mobile · iOS", "iPhone"),
        ("Browser · Windows", "Edge"),
        ("Teams Rooms · Android", "Room system"),
    ]
    .iter()
    .map(|(label, device)| {
        let connections = 500 + next(40_000);
        let drops = connections * (1 + next(90)) / 1_000;
        Bar {
            label: label.to_string(),
            detail: device.to_string(),
            connections,
            drops,
            rate_percent: drops as f64 * 100.0 / connections as f64,
            median_gap: format!("{} s", 5 + next(60)),
        }
    })
    .collect();
    let hours: Vec<Hour> = (0..hours)
        .map(|i| {
            let (day, hour) = (i / 24, i % 24);
            let weekend = day % 7 >= 5;
            let busy = !weekend && (8..18).contains(&hour);
            let meetings = if busy { 40 + next(60) } else { next(6) };
            let connections = meetings * (3 + next(5));
            Hour {
                label: format!("{}T{hour:02}:00", date(day)),
                connections,
                drops: connections * next(40) / 1_000,
                meetings,
            }
        })
        .collect();
    let meetings = (0..20)
        .map(|i| {
            let attendees = 5 + next(200);
            MeetingRow {
                meeting_id: format!("{:08x}-1d2b-4c3d-9e8f-{:012x}", next(u32::MAX as u64), i),
                organizer: format!("organizer{i}@contoso.com"),
                first_join: format!(
                    "{}T{:02}:{:02}:00",
                    date(next(80) as usize),
                    8 + next(9),
                    next(60)
                ),
                attendees,
                attendees_affected: 1 + next(attendees / 3),
                drops: 30 - i,
            }
        })
        .collect();
    let files = vec![
        FileRow {
            path: "exports/2024/03/UAL-20240304000000-20240304060000.csv".to_string(),
            status: "capped".to_string(),
            rows: 50_000,
            first: "2024-03-04T00:00:02".to_string(),
            last: "2024-03-04T03:41:17".to_string(),
        },
        FileRow {
            path: "exports/2024/04/UAL-20240411120000-20240411180000.csv.zst".to_string(),
            status: "cut".to_string(),
            rows: 18_211,
            first: "2024-04-11T12:00:09".to_string(),
            last: "2024-04-11T14:02:51".to_string(),
        },
        FileRow {
            path: "exports/notes.csv".to_string(),
            status: "not an audit export".to_string(),
            rows: 0,
            first: String::new(),
            last: String::new(),
        },
    ];
    let windows = vec![
        WindowRow {
            start: "2024-03-04T03:41:00".to_string(),
            end: "2024-03-04T06:00:00".to_string(),
            reason: "capped".to_string(),
            files: "exports/2024/03/UAL-20240304000000-20240304060000.csv".to_string(),
            estimated_rows: 31_400,
        },
        WindowRow {
            start: "2024-04-11T14:02:00".to_string(),
            end: "2024-04-11T18:00:00".to_string(),
            reason: "cut".to_string(),
            files: "exports/2024/04/UAL-20240411120000-20240411180000.csv.zst".to_string(),
            estimated_rows: 35_900,
        },
    ];
    Page {
        title: "tala-bulk report: 412 files, 2024-03-01 to 2024-05-23".to_string(),
        subtitle: "tala-bulk 0.4.0 · networks from sites.tsv (12 ranges) · times in UTC"
            .to_string(),
        headline: vec![
            Headline {
                label: "Meetings with a suspected drop".to_string(),
                value: "41.2%".to_string(),
                detail: "3,102 of 7,530".to_string(),
            },
            Headline {
                label: "Attendees affected".to_string(),
                value: "6.8%".to_string(),
                detail: "9,944 of 146,210".to_string(),
            },
            Headline {
                label: "Drops".to_string(),
                value: "14,318".to_string(),
                detail: "median gap 38 s".to_string(),
            },
            Headline {
                label: "Files not complete".to_string(),
                value: "3".to_string(),
                detail: "of 412; 2 windows to export again".to_string(),
            },
        ],
        networks,
        networks_note: "3 networks with 50+ connections are not in the building file: \
                        203.0.112.0/24, 203.0.113.0/24, 203.0.114.0/24"
            .to_string(),
        clients,
        hours,
        meetings,
        files,
        files_complete: 409,
        windows,
    }
}

#[test]
#[ignore = "needs chromium: cargo test --test browser -- --ignored"]
fn report_renders_in_chromium() {
    let page = realistic_page(2_000);
    let dir = out_dir();
    let path = dir.join("report.html");
    fs::write(&path, html::render(&page)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    let dom = dump_dom(&path);
    for card in &page.headline {
        assert!(
            dom.contains(&format!("<div class=\"value\">{}</div>", card.value)),
            "{}",
            card.value
        );
    }
    assert_eq!(dom.matches("class=\"value\"").count(), page.headline.len());
    let networks = tbody_rows(&dom, "networks");
    assert_eq!(networks.len(), page.networks.len());
    let first = &page.networks[0].label;
    assert!(
        networks[0].contains(&format!("<td class=\"wrap\">{first}<")),
        "{first}: {}",
        networks[0]
    );
    assert_eq!(tbody_rows(&dom, "clients").len(), page.clients.len());
    assert_eq!(tbody_rows(&dom, "meetings").len(), page.meetings.len());
    assert_eq!(tbody_rows(&dom, "files").len(), page.files.len());
    assert_eq!(tbody_rows(&dom, "windows").len(), page.windows.len());
    assert_eq!(dom.matches("<svg role=\"img\"").count(), 3, "the three charts");

    let errors = console_errors(&path);
    assert!(errors.is_empty(), "console messages:\n{}", errors.join("\n"));

    let png = screenshot(&path, &dir.join("report.png"), 2400);
    assert!(png.len() > 50_000, "the screenshot is only {} bytes: a blank page?", png.len());
}

/// The console check sees what it is there to catch: a fetch the page's policy refuses, and a
/// script's error. Without this, a change in Chromium's log format would pass every page.
#[test]
#[ignore = "needs chromium: cargo test --test browser -- --ignored"]
fn console_errors_are_seen() {
    let path = out_dir().join("console-self-check.html");
    let page = "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
        <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'\">\
        </head><body><img src=\"https://example.invalid/x.png\" alt=\"\">\
        <script>console.error('browser self-check')</script></body></html>";
    fs::write(&path, page).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let errors = console_errors(&path);
    assert!(
        errors.iter().any(|l| l.contains("example.invalid")),
        "refused fetch not seen: {errors:?}"
    );
    assert!(errors.iter().any(|l| l.contains("browser self-check")), "error not seen: {errors:?}");
}

/// The pages at the edges: nothing at all, and a year of hours (drawn as days).
#[test]
#[ignore = "needs chromium: cargo test --test browser -- --ignored"]
fn empty_and_year_long_pages_render_in_chromium() {
    let dir = out_dir();
    let empty = dir.join("report-empty.html");
    fs::write(&empty, html::render(&Page::default())).expect("write report-empty.html");
    let dom = dump_dom(&empty);
    for sentence in ["No networks to show.", "No hours to show.", "No files were read."] {
        assert!(dom.contains(sentence), "{sentence}");
    }
    let errors = console_errors(&empty);
    assert!(errors.is_empty(), "console messages:\n{}", errors.join("\n"));

    let page = realistic_page(8_784);
    let year = dir.join("report-year.html");
    fs::write(&year, html::render(&page)).expect("write report-year.html");
    let dom = dump_dom(&year);
    assert!(dom.contains("The chart shows 366 days: 8,784 hours"), "the days' caption");
    let errors = console_errors(&year);
    assert!(errors.is_empty(), "console messages:\n{}", errors.join("\n"));
    screenshot(&year, &dir.join("report-year.png"), 2400);
}

/// The whole tool on the sample archive with the sample building file, as the README's first
/// command runs it: its report.html in Chromium shows the run's own numbers (from summary.json
/// and networks.csv), logs nothing, and its screenshot is the one the README shows.
#[test]
#[ignore = "needs chromium: cargo test --test browser -- --ignored"]
fn the_sample_runs_report_renders_its_own_numbers() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = out_dir().join("sample-report");
    let run = Command::new(env!("CARGO_BIN_EXE_tala-bulk"))
        .args(["-q", "--row-cap", "300"])
        .arg("--sites")
        .arg(manifest.join("testdata/sites.tsv"))
        .arg("--out")
        .arg(&out)
        .arg(manifest.join("testdata/sample"))
        .output()
        .expect("run tala-bulk");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let page = out.join("report.html");
    let text = fs::read_to_string(&page).expect("report.html");
    for attr in ["src=\"http", "href=\"http", "url(http", "src='http", "href='http"] {
        assert!(!text.contains(attr), "report.html loads something from the network: {attr}");
    }

    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("summary.json");
    let dom = dump_dom(&page);
    let value = |v: String| format!("<div class=\"value\">{v}</div>");
    let affected = format!("{:.1}%", summary["meetings_affected_percent"].as_f64().unwrap());
    let drops = summary["drops"]["drops"].as_u64().unwrap();
    assert!(dom.contains(&value(affected.clone())), "{affected}");
    assert!(dom.contains(&value(drops.to_string())), "{drops}");

    // The networks table holds networks.csv's first 20 rows, in its order.
    let csv = fs::read_to_string(out.join("networks.csv")).expect("networks.csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let first: Vec<csv::StringRecord> = reader.records().take(20).map(|r| r.unwrap()).collect();
    let rows = tbody_rows(&dom, "networks");
    assert_eq!(rows.len(), first.len());
    for (row, rec) in rows.iter().zip(&first) {
        let label = format!("{} {}", &rec[0], &rec[1]);
        assert!(row.contains(label.trim_end()), "{label}: {row}");
        assert!(row.contains(&format!(">{}<", &rec[10])), "drops {}: {row}", &rec[10]);
    }
    assert_eq!(first[0][1].to_string(), "HQ-Floor1");

    let errors = console_errors(&page);
    assert!(errors.is_empty(), "console messages:\n{}", errors.join("\n"));
    let png = screenshot(&page, &out_dir().join("sample-report.png"), 2600);
    assert!(png.len() > 50_000, "the screenshot is only {} bytes: a blank page?", png.len());
}
