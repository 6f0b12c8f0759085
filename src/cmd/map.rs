//! `tala-bulk map`: the second stage of a split run (SPEC 3). Reads one shard of a plan on
//! `--jobs` threads, exactly as a local run reads its files, and writes the partial state into
//! `--out` under a name made from its content (so a retried task writes the same file), then
//! prints its path for the driver.

use std::time::Instant;

use anyhow::{bail, Result};

use crate::cmd::plan;
use crate::cmd::reports::{self, Timings};
use crate::flags::{Config, Mode};
use crate::messages::Ui;
use crate::read::{self, file_size};
use crate::source::discover::ArchiveFile;
use crate::state::codec::{self, Meta};
use crate::Outcome;

pub fn run(config: &Config) -> Result<Outcome> {
    let Mode::Map { plan: plan_path, shard } = &config.mode else {
        bail!("internal error: not map")
    };
    let started = Instant::now();
    let plan = plan::load(plan_path, config)?;
    let Some(indexes) = plan.shards.get(*shard) else {
        bail!(
            "shard {shard} does not exist: the plan has {} shards (0 to {})",
            plan.shards.len(),
            plan.shards.len().saturating_sub(1)
        )
    };
    // The shard's files in archive order, numbered from 0: positions are local to this
    // partial, and renumbered when partials meet.
    let files: Vec<ArchiveFile> = indexes.iter().map(|&i| plan.files[i].archive_file()).collect();
    let sizes: Vec<u64> = files.iter().map(file_size).collect();
    let ui = Ui::new(sizes.iter().sum(), files.len() as u64, config.progress);
    let pool = reports::pool(config.jobs)?;
    let mut timings = Timings::new(started);
    let partial = read::read_archive(&pool, &files, &sizes, config, &ui);
    ui.finish();
    timings.lap("read and merge");
    let meta = Meta { options: config.result_options(), buckets: plan.buckets };
    let bytes = pool.install(|| codec::encode(&partial, &meta, None))?;
    timings.lap("encode");
    drop(partial);
    let path = codec::write_named(&config.out_dir, &format!("map-{shard}"), &bytes)?;
    timings.lap("write");
    timings.print(&ui);
    if !config.quiet {
        ui.say(format_args!(
            "tala-bulk: map: shard {shard}: {} files, {:.1} MB read, partial of {:.1} MB in {:.2} s",
            files.len(),
            sizes.iter().sum::<u64>() as f64 / 1e6,
            bytes.len() as f64 / 1e6,
            started.elapsed().as_secs_f64()
        ));
    }
    println!("{}", crate::escape::path(&path));
    Ok(Outcome::default())
}
