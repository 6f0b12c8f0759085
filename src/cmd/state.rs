//! `tala-bulk state info DIR` and `tala-bulk state prune DIR`: the `--state` directory seen
//! and tidied from outside a run.

use anyhow::{bail, Context, Result};

use crate::flags::{Config, Mode};
use crate::messages::Ui;
use crate::read::cache;
use crate::Outcome;

pub fn run(config: &Config) -> Result<Outcome> {
    match &config.mode {
        Mode::StateInfo { dir } => {
            let info = cache::info(dir)?;
            let text = serde_json::to_string_pretty(&info)?;
            let mut out = std::io::stdout().lock();
            std::io::Write::write_all(&mut out, format!("{text}\n").as_bytes())
                .context("cannot write to standard output")?;
        }
        Mode::StatePrune { dir } => {
            let ui = Ui::new(0, 0, false);
            let (forgotten, removed) = cache::prune(dir, &ui)?;
            ui.say(format_args!(
                "tala-bulk: state {}: {forgotten} files no longer on disk forgotten, {removed} \
                 partials removed",
                crate::escape::path(dir)
            ));
        }
        _ => bail!("internal error: not a state command"),
    }
    Ok(Outcome::default())
}
