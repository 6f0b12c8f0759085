//! Source: where records come from. `discover` turns PATHs into the archive's files in archive
//! order, `input` opens one (plain, zstd, gzip, UTF-16) as a stream of bytes, and `csv` scans
//! those bytes into records and plans how to split a big file among workers.

pub mod csv;
pub mod discover;
pub mod input;
