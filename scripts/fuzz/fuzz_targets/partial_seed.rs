//! Turns partial-state files into the fuzzing form (`partial_raw`):
//! `partial_seed OUT_DIR PARTIAL...`. Used by scripts/fuzz.sh to seed the `partial` target.

#[path = "partial_raw.rs"]
mod partial_raw;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let out = std::path::PathBuf::from(args.next().expect("OUT_DIR"));
    for path in args {
        let data = std::fs::read(&path).expect("read");
        let raw = partial_raw::to_raw(&data).expect("a partial-state file");
        let name = std::path::Path::new(&path).file_name().expect("name");
        std::fs::write(out.join(name), raw).expect("write");
    }
}
