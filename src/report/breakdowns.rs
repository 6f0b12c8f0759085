//! Where the drops are, as CSV (SPEC 4): `networks.csv`, `clients.csv` and `timeline.csv`,
//! from [`Breakdowns`]. Small reports (a row per network, client or hour), so they go through
//! the `csv` crate's writer rather than the big tables' batched one.

use std::io::Write;

use anyhow::Result;

use crate::analyze::breakdown::{Breakdowns, NetworkRow, Stat};
use crate::escape;

pub const NETWORKS: &str = "networks.csv";
pub const CLIENTS: &str = "clients.csv";
pub const TIMELINE: &str = "timeline.csv";

pub const NETWORKS_HEADER: [&str; 13] = [
    "network",
    "network_name",
    "building",
    "city",
    "country",
    "inside_corp",
    "vpn",
    "connections",
    "attendees",
    "meetings",
    "drops",
    "drop_rate_percent",
    "median_gap_seconds",
];

pub const CLIENTS_HEADER: [&str; 9] = [
    "client",
    "platform",
    "device",
    "connections",
    "attendees",
    "meetings",
    "drops",
    "drop_rate_percent",
    "median_gap_seconds",
];

pub const TIMELINE_HEADER: [&str; 4] = ["hour", "connections", "drops", "meetings"];

/// A rate in percent to one decimal.
pub fn rate(stat: &Stat) -> String {
    format!("{:.1}", stat.rate_percent())
}

/// The median gap: whole seconds, or a half where it falls between two gaps; empty when no gap
/// is known.
pub fn median_gap(stat: &Stat) -> String {
    MedianGap(stat.median_gap).to_string()
}

/// [`median_gap`] written where it goes, without a string of its own.
struct MedianGap(Option<f64>);

impl std::fmt::Display for MedianGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => Ok(()),
            Some(g) if g.fract() == 0.0 => write!(f, "{g:.0}"),
            Some(g) => write!(f, "{g:.1}"),
        }
    }
}

fn counts(stat: &Stat) -> [String; 6] {
    [
        stat.connections.to_string(),
        stat.attendees.to_string(),
        stat.meetings.to_string(),
        stat.drops.to_string(),
        rate(stat),
        median_gap(stat),
    ]
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// Rows of `networks.csv` formatted per parallel task, and tasks per batch written in order.
/// A real archive has a row per /24 or /48 its clients came from: 358,000 on the bench archive,
/// whose 13 MB took a quarter of a second on one worker with a string allocated per field.
const NETWORK_ROWS_PER_TASK: usize = 4_096;
const NETWORK_TASKS_PER_BATCH: usize = 16;

pub fn write_networks(mut out: impl Write, b: &Breakdowns<'_>, excel_safe: bool) -> Result<()> {
    use rayon::prelude::*;
    let mut head = csv::WriterBuilder::new().from_writer(Vec::new());
    head.write_record(NETWORKS_HEADER)?;
    out.write_all(&head.into_inner().map_err(|e| e.into_error())?)?;
    // Each task formats its rows into bytes of its own: a row's bytes do not depend on the
    // rows before it. Text goes through csv-core as the csv crate's writer would quote it;
    // the rest (addresses, flags, numbers) never needs quoting.
    for batch in b.networks.chunks(NETWORK_ROWS_PER_TASK * NETWORK_TASKS_PER_BATCH) {
        let chunks: Vec<Vec<u8>> = batch
            .par_chunks(NETWORK_ROWS_PER_TASK)
            .map(|rows| {
                let mut bytes = Vec::with_capacity(rows.len() * 48);
                let mut writer = csv_core::Writer::new();
                for row in rows {
                    network_row(&mut bytes, &mut writer, row, excel_safe);
                }
                bytes
            })
            .collect();
        for chunk in chunks {
            out.write_all(&chunk)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One row of `networks.csv`, appended to `out`.
fn network_row(
    out: &mut Vec<u8>,
    writer: &mut csv_core::Writer,
    row: &NetworkRow<'_>,
    excel_safe: bool,
) {
    use std::io::Write as _;
    match row.network {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.push(b'?'),
    }
    match row.site {
        Some(s) => {
            for cell in [&s.network_name, &s.building, &s.city, &s.country] {
                out.push(b',');
                let cell = escape::excel_cell(cell, excel_safe);
                crate::report::tables::escape_into(writer, cell.as_bytes(), out);
            }
            out.push(b',');
            out.extend_from_slice(flag(s.inside_corp).as_bytes());
            out.push(b',');
            out.extend_from_slice(s.vpn.map(flag).unwrap_or_default().as_bytes());
        }
        None => out.extend_from_slice(b",,,,,,"),
    }
    let stat = &row.stat;
    let mut digits = itoa::Buffer::new();
    for n in [stat.connections, stat.attendees, stat.meetings, stat.drops] {
        out.push(b',');
        out.extend_from_slice(digits.format(n).as_bytes());
    }
    let _ = writeln!(out, ",{:.1},{}", stat.rate_percent(), MedianGap(stat.median_gap));
}

pub fn write_clients(out: impl Write, b: &Breakdowns<'_>, excel_safe: bool) -> Result<()> {
    let cell = |s: &str| escape::excel_cell(s, excel_safe).into_owned();
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(CLIENTS_HEADER)?;
    for row in &b.clients {
        let mut record = vec![
            row.client.label().to_string(),
            row.platform.label().to_string(),
            cell(&row.device),
        ];
        record.extend(counts(&row.stat));
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}

pub fn write_timeline(out: impl Write, b: &Breakdowns<'_>) -> Result<()> {
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(TIMELINE_HEADER)?;
    for h in &b.timeline {
        w.write_record([
            h.label.clone(),
            h.connections.to_string(),
            h.drops.to_string(),
            h.meetings.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
