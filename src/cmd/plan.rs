//! `tala-bulk plan`: the first stage of a split run (SPEC 3). Discovers the archive's files in
//! archive order and shares them out into size-balanced shards, one per map task. The plan is
//! JSON on stdout, deterministic: the same archive and options give the same plan, so a driver
//! that runs it again (a retried job) gets the same tasks.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::escape;
use crate::flags::{Config, Mode, Shards};
use crate::read::file_size;
use crate::source::discover::{self, raw_path, ArchiveFile, Origin, PathText};
use crate::state::partial;
use crate::Outcome;

/// Bumped when the plan's fields change.
pub const PLAN_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub tala_bulk_plan: u32,
    pub tool_version: String,
    /// The options that change results ([`Config::result_options`]); map refuses others.
    pub options: String,
    pub buckets: u32,
    /// Every file, in archive order.
    pub files: Vec<PlanFile>,
    /// Each shard's files as indexes into `files`, ascending.
    pub shards: Vec<Vec<usize>>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PlanFile {
    pub path: PathText,
    pub bytes: u64,
    /// Why a directory walk could not read this entry (dangling link, permission, loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PlanFile {
    /// The archive entry a map task reads.
    pub fn archive_file(&self) -> ArchiveFile {
        let raw = self.path.raw().to_vec();
        let name = escape::bytes(&raw);
        let origin = match &self.error {
            Some(err) => Origin::Broken(err.clone()),
            None => Origin::File(raw_path(&raw).to_path_buf()),
        };
        ArchiveFile::with_key(name, raw, origin)
    }
}

/// Shares files out: biggest first, each to the shard with the fewest bytes so far (the
/// lowest-numbered on a tie), then each shard's files in archive order.
pub fn shard(sizes: &[u64], shards: usize) -> Vec<Vec<usize>> {
    let shards = shards.max(1);
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(sizes[i]), i));
    let mut load = vec![0u64; shards];
    let mut out = vec![Vec::new(); shards];
    for i in order {
        let (s, _) =
            load.iter().enumerate().min_by_key(|(s, bytes)| (**bytes, *s)).unwrap_or((0, &0));
        load[s] += sizes[i].max(1);
        out[s].push(i);
    }
    for files in &mut out {
        files.sort_unstable();
    }
    out
}

/// Builds the plan `config` asks for.
pub fn make(config: &Config) -> Result<Plan> {
    let Mode::Plan { shards, buckets } = config.mode else { bail!("internal error: not plan") };
    let files = discover::discover(&config.inputs, &[]);
    if files.len() >= partial::MAX_FILES {
        bail!("{} input files; at most {} can be planned", files.len(), partial::MAX_FILES - 1);
    }
    let sizes: Vec<u64> = files.iter().map(file_size).collect();
    let total: u64 = sizes.iter().sum();
    let count = match shards {
        Shards::Count(n) => n,
        Shards::Bytes(per) => total.div_ceil(per.max(1)).max(1) as usize,
    };
    let files = files
        .iter()
        .zip(&sizes)
        .map(|(f, &bytes)| PlanFile {
            path: PathText::of(&f.key),
            bytes,
            error: match &f.origin {
                Origin::Broken(err) => Some(err.clone()),
                _ => None,
            },
        })
        .collect();
    Ok(Plan {
        tala_bulk_plan: PLAN_FORMAT,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        options: config.result_options(),
        buckets,
        files,
        shards: shard(&sizes, count),
    })
}

/// `tala-bulk plan`: prints the plan.
pub fn run(config: &Config) -> Result<Outcome> {
    let plan = make(config)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &plan).context("cannot write the plan to stdout")?;
    std::io::Write::write_all(&mut out, b"\n").context("cannot write the plan to stdout")?;
    Ok(Outcome::default())
}

/// Reads a plan file and checks it was made by this version with `config`'s options.
pub fn load(path: &Path, config: &Config) -> Result<Plan> {
    let shown = escape::path(path);
    let text = std::fs::read(path).with_context(|| format!("cannot read plan {shown}"))?;
    let plan: Plan = serde_json::from_slice(&text)
        .with_context(|| format!("{shown} is not a tala-bulk plan"))?;
    if plan.tala_bulk_plan != PLAN_FORMAT {
        bail!("{shown}: plan format {} (this tala-bulk reads {PLAN_FORMAT})", plan.tala_bulk_plan);
    }
    let ours = env!("CARGO_PKG_VERSION");
    if plan.tool_version != ours {
        bail!("{shown}: plan made by tala-bulk {}, not {ours}", escape::text(&plan.tool_version));
    }
    let options = config.result_options();
    if plan.options != options {
        bail!(
            "{shown}: plan made with other options ({}) than this run's ({options}); give \
             every stage the same options",
            escape::text(&plan.options)
        );
    }
    if plan.buckets == 0 || plan.shards.iter().flatten().any(|&i| i >= plan.files.len()) {
        bail!("{shown}: the plan is damaged");
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_balance_bytes_and_keep_archive_order() {
        let sizes = [10, 70, 20, 30, 40, 0];
        let shards = shard(&sizes, 2);
        // 70 → s0; 40 → s1; 30 → s1 (70); 20 → s0 on the tie (90); 10 → s1 (80); the empty
        // file counts as a byte, → s1.
        assert_eq!(shards, vec![vec![1, 2], vec![0, 3, 4, 5]]);
        let load: Vec<u64> = shards.iter().map(|s| s.iter().map(|&i| sizes[i]).sum()).collect();
        assert_eq!(load, [90, 80]);
        assert_eq!(shard(&sizes, 10).iter().filter(|s| s.is_empty()).count(), 4);
    }

    #[test]
    fn paths_that_are_not_utf8_survive_the_json() {
        let raw = b"dir/\xffexport.csv".to_vec();
        let file = PlanFile { path: PathText::of(&raw), bytes: 3, error: None };
        let json = serde_json::to_string(&file).unwrap_or_default();
        let back: PlanFile = serde_json::from_str(&json).unwrap_or(PlanFile {
            path: PathText::Text(String::new()),
            bytes: 0,
            error: None,
        });
        assert_eq!(back.archive_file().key, raw);
        assert_eq!(back.archive_file().name, "dir/\\xffexport.csv");
    }
}
