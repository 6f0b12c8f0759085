//! Integration tests: the real binary on real files in `testdata/`.

#[macro_use]
mod util;

mod audit;
mod blobs;
mod breakdowns;
mod hostile;
mod merge_props;
mod pipeline;
mod redownload;
mod reliability;
mod stages;
mod state;
mod window;
mod workflows;
