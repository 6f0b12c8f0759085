//! Where the drops are, as CSV (SPEC 4): `networks.csv`, `clients.csv` and `timeline.csv`,
//! from [`Breakdowns`]. Small reports (a row per network, client or hour), so they go through
//! the `csv` crate's writer rather than the big tables' batched one.

use std::io::Write;

use anyhow::Result;

use crate::analyze::breakdown::{Breakdowns, Stat};
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
    match stat.median_gap {
        None => String::new(),
        Some(g) if g.fract() == 0.0 => format!("{g:.0}"),
        Some(g) => format!("{g:.1}"),
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

pub fn write_networks(out: impl Write, b: &Breakdowns<'_>, excel_safe: bool) -> Result<()> {
    let cell = |s: &str| escape::excel_cell(s, excel_safe).into_owned();
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(NETWORKS_HEADER)?;
    for row in &b.networks {
        let site: [String; 6] = match row.site {
            Some(s) => [
                cell(&s.network_name),
                cell(&s.building),
                cell(&s.city),
                cell(&s.country),
                flag(s.inside_corp).to_string(),
                s.vpn.map(flag).unwrap_or_default().to_string(),
            ],
            None => Default::default(),
        };
        let mut record = vec![row.cidr()];
        record.extend(site);
        record.extend(counts(&row.stat));
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
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
