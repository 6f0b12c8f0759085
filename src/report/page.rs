//! What `report.html` shows, gathered from the run: the headline numbers of the summary, the
//! top networks and clients by drops, the timeline, the most affected meetings and the
//! truncation audit, each formatted for reading ([`html::Page`]); [`html`] lays it out.

use crate::analyze::breakdown::{Breakdowns, NetworkRow, Stat};
use crate::analyze::coverage::Window;
use crate::analyze::meetings::Meetings;
use crate::analyze::zone::Zone;
use crate::report::audit::time;
use crate::report::breakdowns::median_gap;
use crate::report::html::{
    count as thousands, Bar, FileRow, Headline, Hour, MeetingRow, Page, WindowRow,
};
use crate::report::summary::{SitesInfo, Summary};
use crate::state::files::{FileReport, FileStatus};
use crate::state::intern::Interner;
use crate::timestamp;

/// Rows in each top list of the page.
pub const TOP: usize = 20;

/// Everything the page needs, borrowed from the run.
pub struct Sources<'a> {
    pub summary: &'a Summary,
    /// The building file, as the summary shows it.
    pub sites: Option<&'a SitesInfo>,
    pub breakdowns: &'a Breakdowns<'a>,
    pub meetings: &'a Meetings,
    pub strings: &'a Interner,
    pub files: &'a [FileReport],
    pub windows: &'a [Window],
    pub zone: &'a Zone,
}

fn gap_text(stat: &Stat) -> String {
    match median_gap(stat) {
        g if g.is_empty() => g,
        g => format!("{g} s"),
    }
}

pub fn build(s: &Sources<'_>) -> Page {
    let sum = s.summary;
    let day =
        |t: &Option<String>| t.as_deref().and_then(|t| t.get(..10)).unwrap_or("?").to_string();
    let files_read = sum.files.get("read").copied().unwrap_or(0);
    let title = format!(
        "tala-bulk report: {} files, {} to {}",
        thousands(files_read),
        day(&sum.earliest_creation_time),
        day(&sum.latest_creation_time)
    );
    let sites = s.sites;
    let networks_from = match sites {
        Some(info) => format!("networks from {} ({} ranges)", info.file, info.ranges),
        None => "networks are the /24 or /48 around each address (no --sites)".to_string(),
    };
    let window = match (&sum.options.since, &sum.options.until) {
        (None, None) => String::new(),
        (a, b) => format!(
            " · meetings first joined {}{}",
            a.as_ref().map(|a| format!("from {a} ")).unwrap_or_default(),
            b.as_ref().map(|b| format!("before {b}")).unwrap_or_default()
        ),
    };
    let subtitle = format!(
        "tala-bulk {} · {networks_from} · hours in {}{window}",
        sum.tala_bulk_version,
        s.zone.name()
    );

    let b = s.breakdowns;
    let incomplete = s.files.iter().filter(|f| f.status != FileStatus::Complete).count() as u64;
    let headline = vec![
        Headline {
            label: "Meetings with a suspected drop".into(),
            value: format!("{:.1}%", sum.meetings_affected_percent),
            detail: format!("{} of {}", thousands(sum.meetings_affected), thousands(sum.meetings)),
        },
        Headline {
            label: "Attendees affected".into(),
            value: format!("{:.1}%", sum.attendees_affected_percent),
            detail: format!(
                "{} of {}",
                thousands(sum.attendees_affected),
                thousands(sum.attendees)
            ),
        },
        Headline {
            label: "Drops".into(),
            value: thousands(b.all.drops),
            detail: match gap_text(&b.all) {
                g if g.is_empty() => format!("{:.1}% of connections", b.all.rate_percent()),
                g => format!("{:.1}% of connections; median gap {g}", b.all.rate_percent()),
            },
        },
        Headline {
            label: "Records".into(),
            value: thousands(sum.meeting_records),
            detail: format!("{} duplicates removed", thousands(sum.duplicates_dropped)),
        },
        Headline {
            label: "Files not complete".into(),
            value: thousands(incomplete),
            detail: format!(
                "of {}; {} windows to export again",
                thousands(files_read),
                thousands(s.windows.len() as u64)
            ),
        },
    ];

    let networks = b.networks.iter().take(TOP).map(|r| network_bar(r, sites.is_some())).collect();
    let missing = b.missing_subnets();
    let networks_note = match sites {
        None => "No building file was given (--sites): each network is the /24 (IPv4) or /48 \
                 (IPv6) around the address."
            .to_string(),
        Some(_) if missing.is_empty() => String::new(),
        Some(_) => {
            let shown: Vec<String> = missing
                .iter()
                .take(10)
                .map(|r| format!("{} ({})", r.cidr(), thousands(r.stat.connections)))
                .collect();
            format!(
                "{} networks with {}+ connections are not in the building file: {}{}.",
                missing.len(),
                crate::analyze::breakdown::MISSING_MIN_CONNECTIONS,
                shown.join(", "),
                if missing.len() > shown.len() { ", …" } else { "" }
            )
        }
    };
    let clients = b
        .clients
        .iter()
        .take(TOP)
        .map(|c| Bar {
            label: format!("{} · {}", c.client.label(), c.platform.label()),
            detail: c.device.clone(),
            connections: c.stat.connections,
            drops: c.stat.drops,
            rate_percent: c.stat.rate_percent(),
            median_gap: gap_text(&c.stat),
        })
        .collect();
    let hours = b
        .timeline
        .iter()
        .map(|h| Hour {
            label: h.label.clone(),
            connections: h.connections,
            drops: h.drops,
            meetings: h.meetings,
        })
        .collect();

    Page {
        title,
        subtitle,
        headline,
        networks,
        networks_note,
        clients,
        hours,
        meetings: most_affected(s),
        files: s
            .files
            .iter()
            .filter(|f| f.status != FileStatus::Complete)
            .map(|f| FileRow {
                path: f.name.clone(),
                status: f.status.name().to_string(),
                rows: f.rows,
                first: time(f.earliest),
                last: time(f.latest),
            })
            .collect(),
        files_complete: s.files.len() as u64 - incomplete,
        windows: s
            .windows
            .iter()
            .map(|w| WindowRow {
                start: timestamp::format(w.start),
                end: timestamp::format(w.end),
                reason: w.reason.name().to_string(),
                files: w.files.join("; "),
                estimated_rows: w.estimated_rows,
            })
            .collect(),
    }
}

fn network_bar(r: &NetworkRow<'_>, have_sites: bool) -> Bar {
    let (label, detail) = match r.site {
        Some(site) => {
            let place: Vec<&str> =
                [site.building.as_str(), site.city.as_str(), site.country.as_str()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
            let mut detail = place.join(", ");
            detail.push_str(if site.inside_corp { " · inside corp" } else { " · outside corp" });
            if site.vpn == Some(true) {
                detail.push_str(" · VPN");
            }
            (format!("{} {}", r.cidr(), site.network_name), detail)
        }
        None if have_sites && r.network.is_some() => {
            (r.cidr(), "not in the building file".to_string())
        }
        None => (r.cidr(), String::new()),
    };
    Bar {
        label,
        detail,
        connections: r.stat.connections,
        drops: r.stat.drops,
        rate_percent: r.stat.rate_percent(),
        median_gap: gap_text(&r.stat),
    }
}

/// The meetings with the most drops (then the most affected attendees, then by id).
fn most_affected(s: &Sources<'_>) -> Vec<MeetingRow> {
    let drops = |m: &crate::analyze::meetings::Meeting| -> u64 {
        m.groups.iter().map(|g| g.members.len().saturating_sub(1) as u64).sum()
    };
    let mut list: Vec<(u64, &crate::analyze::meetings::Meeting)> =
        s.meetings.list.iter().map(|m| (drops(m), m)).filter(|(d, _)| *d > 0).collect();
    let id = |m: &crate::analyze::meetings::Meeting| s.strings.get(m.id);
    list.sort_by(|(da, a), (db, b)| {
        db.cmp(da)
            .then_with(|| b.attendees_affected.cmp(&a.attendees_affected))
            .then_with(|| id(a).cmp(id(b)))
    });
    list.into_iter()
        .take(TOP)
        .map(|(drops, m)| MeetingRow {
            meeting_id: id(m).to_string(),
            organizer: s.strings.get(m.organizer_email).to_string(),
            first_join: time(m.first_join),
            attendees: m.number_attendees,
            attendees_affected: m.attendees_affected,
            drops,
        })
        .collect()
}
