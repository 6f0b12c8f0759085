//! Test helpers: a temporary directory per test, the built binary, and comparisons that show
//! expected and actual side by side.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch directory with helpers to run `tala-bulk` in it.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `tala-bulk` with the working directory set to this test's directory.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(self.path()).stdin(Stdio::null());
        cmd
    }

    /// Runs `tala-bulk --out OUT args...` and returns its output.
    pub fn run_out(&self, out: &str, args: &[&str]) -> Output {
        let out_dir = self.join(out);
        self.cmd().arg("--out").arg(&out_dir).args(args).output().expect("run tala-bulk")
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn summary(&self, out: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(&format!("{out}/summary.json"))).expect("summary.json")
    }
}

/// The binary under test: this build's, or the one `TALA_BULK_BIN` names (to show that a new
/// regression test fails on an older build).
pub fn bin() -> PathBuf {
    std::env::var_os("TALA_BULK_BIN")
        .map_or_else(|| env!("CARGO_BIN_EXE_tala-bulk").into(), PathBuf::from)
}

/// Absolute path of a file under `testdata/`.
pub fn testdata(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel).to_string_lossy().into_owned()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The three meeting reports of a run, concatenated, for byte-for-byte comparison between runs.
pub fn reports(t: &TestDir, out: &str) -> String {
    ["organizers.csv", "attendees.csv", "disconnections.csv"]
        .iter()
        .map(|f| t.read(&format!("{out}/{f}")))
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts two texts are equal, printing both in full, line-numbered, when they are not.
#[track_caller]
pub fn assert_text(what: &str, expected: &str, actual: &str) {
    if expected != actual {
        let show = |s: &str| {
            s.lines().enumerate().map(|(i, l)| format!("{:>3} | {l}\n", i + 1)).collect::<String>()
        };
        panic!(
            "{what} differs\n--- expected ---\n{}--- actual ---\n{}----------------",
            show(expected),
            show(actual)
        );
    }
}

/// Compares a report in `out` with the expected text (a header line plus rows).
macro_rules! assert_report {
    ($t:expr, $out:expr, $name:expr, $expected:expr) => {
        $crate::util::assert_text($name, $expected, &$t.read(&format!("{}/{}", $out, $name)))
    };
}

/// Every file of a report directory with its text: the report set as a reader finds it.
/// summary.json loses its timing, the one thing two runs over the same input differ in.
pub fn report_set(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut all = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("report dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut text =
            String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap_or_default()).into_owned();
        if name == "summary.json" {
            let mut s: serde_json::Value = serde_json::from_str(&text).expect("summary.json");
            if let Some(fields) = s.as_object_mut() {
                fields.remove("elapsed_seconds");
                fields.remove("mb_per_second");
            }
            text = s.to_string();
        }
        all.insert(name, text);
    }
    all
}

/// A scratch tmpfs mounted on a new directory (tests run as root), unmounted when dropped, even
/// when an assertion fails. `options`: mount options such as `size=64k` or `ro,size=64k`.
pub struct Mount(PathBuf);

impl Mount {
    pub fn tmpfs(dir: &Path, options: &str) -> Mount {
        std::fs::create_dir(dir).expect("mkdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(mounted.success(), "this test needs to mount a small tmpfs (it runs as root)");
        Mount(dir.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
