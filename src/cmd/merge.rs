//! `tala-bulk merge` and `tala-bulk finalize`: the last stages of a split run (SPEC 3). Merge
//! combines partial states (map outputs, or merges: a tree of merges works) into one, for one
//! bucket or all; finalize combines partials that hold every bucket between them and writes
//! exactly the reports a local run writes, through the same code ([`reports::finish`]).

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::cmd::reports::{self, Targets, Timings};
use crate::flags::{Config, Mode};
use crate::messages::Ui;
use crate::state::codec::{self, Loaded, PartialFile};
use crate::Outcome;

/// Opens every partial, checking each against this run's options, and merges them.
fn load(config: &Config, paths: &[std::path::PathBuf], bucket: Option<u32>) -> Result<Loaded> {
    let options = config.result_options();
    let files =
        paths.iter().map(|p| PartialFile::open(p, Some(&options))).collect::<Result<Vec<_>>>()?;
    codec::load(&files, bucket)
}

pub fn merge(config: &Config) -> Result<Outcome> {
    let Mode::Merge { bucket, partials } = &config.mode else { bail!("internal error: not merge") };
    let pool = reports::pool(config.jobs)?;
    let mut timings = Timings::new(Instant::now());
    let loaded = pool.install(|| load(config, partials, *bucket))?;
    timings.lap("load partial states");
    let bytes =
        pool.install(|| codec::encode(&loaded.partial, &loaded.meta, Some(&loaded.buckets)))?;
    timings.lap("encode");
    let stem = match bucket {
        Some(b) => format!("bucket-{b}"),
        None => "merge".to_string(),
    };
    let path = codec::write_named(&config.out_dir, &stem, &bytes)?;
    timings.lap("write");
    timings.print(&Ui::new(0, 0, false));
    println!("{}", crate::escape::path(&path));
    Ok(Outcome::default())
}

pub fn finalize(config: &Config) -> Result<Outcome> {
    let Mode::Finalize { partials } = &config.mode else { bail!("internal error: not finalize") };
    let started = Instant::now();
    // Like a local run: --out and the users database are checked before anything is read,
    // and a partial refused leaves the previous reports as they were.
    let targets = Targets::prepare(config)?;
    let pool = reports::pool(config.jobs)?;
    let loaded = pool.install(|| load(config, partials, None))?;
    let all: BTreeSet<u32> = (0..loaded.meta.buckets).collect();
    if let Some(missing) = all.difference(&loaded.buckets).next() {
        bail!(
            "the partial states hold no bucket {missing} (of {}): finalize needs every bucket",
            loaded.meta.buckets
        );
    }
    let ui = Ui::new(0, 0, false);
    let mut timings = Timings::new(started);
    timings.lap("load partial states");
    reports::finish(config, targets, loaded.partial, &pool, &ui, timings, None)
}
