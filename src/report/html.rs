//! `report.html`: the run's findings as one self-contained page a person opens — the headline
//! numbers, where the drops happen (networks, clients, hours), the most affected meetings and
//! the truncation audit.
//!
//! The page is data laid out, not logic (STYLE 15): the caller computes and formats every value
//! into a [`Page`] and cuts the lists to their top N, so the page stays light for an archive of
//! 150,000 meetings; this module only lays them out. `maud` writes the HTML and escapes every
//! string; `plotters` draws the charts as inline SVG (in `chart`). The page loads nothing: the
//! CSS is inline, there is no script, and a Content-Security-Policy of `default-src 'none'`
//! makes a browser refuse (and log) anything that would try. The same `Page` always gives the
//! same bytes: nothing of the moment of rendering goes in.
//!
//! Neighbours: the caller in `report` builds the `Page` from `analyze`'s results.

/// The page's file name in `--out`.
pub const REPORT_HTML: &str = "report.html";

use std::fmt::Write as _;

use maud::{html, Markup, PreEscaped, DOCTYPE};

mod chart;

use chart::Series;

/// Everything the page shows, top to bottom. Every string is already formatted for display;
/// every list is already sorted and cut to the length the page should show.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The heading, e.g. "tala-bulk report: 6 files, 2024-03-01 to 2024-03-02".
    pub title: String,
    /// The line under it, e.g. "tala-bulk 0.4.0 · networks from sites.tsv (12 ranges) · times in UTC".
    pub subtitle: String,
    /// The headline numbers, shown as cards in this order.
    pub headline: Vec<Headline>,
    /// Drop rate by building or network, the top 20 by drops, already sorted.
    pub networks: Vec<Bar>,
    /// A remark shown under the networks, e.g. "3 networks with 50+ connections are not in the
    /// building file: ..."; nothing is shown when empty.
    pub networks_note: String,
    /// Drop rate by client category and device, the top 20, already sorted.
    pub clients: Vec<Bar>,
    /// Drops per hour across the archive's span, in time order, every hour (zeros included).
    pub hours: Vec<Hour>,
    /// The most affected meetings, the top 20.
    pub meetings: Vec<MeetingRow>,
    /// The truncation audit: the files that are not complete (capped, cut, empty, unreadable,
    /// not an export).
    pub files: Vec<FileRow>,
    /// How many files were complete (they are not listed).
    pub files_complete: u64,
    /// The time windows to export again.
    pub windows: Vec<WindowRow>,
}

/// One headline number, e.g. ("Meetings with a suspected drop", "41.2%", "3,102 of 7,530").
#[derive(Debug, Clone, Default)]
pub struct Headline {
    pub label: String,
    pub value: String,
    pub detail: String,
}

/// One network or client: a bar in its chart and a row in its table.
#[derive(Debug, Clone, Default)]
pub struct Bar {
    /// What the bar is, e.g. "10.1.0.0/22 HQ-Floor1".
    pub label: String,
    /// A second line, e.g. "Seattle, US · inside corp" (may be empty).
    pub detail: String,
    pub connections: u64,
    pub drops: u64,
    /// drops ÷ connections in percent; the bar's length.
    pub rate_percent: f64,
    /// The median reconnection gap, formatted (may be empty).
    pub median_gap: String,
}

/// One hour of the archive's span.
#[derive(Debug, Clone, Default)]
pub struct Hour {
    /// The hour, e.g. "2024-03-01T09:00".
    pub label: String,
    /// Connections started in the hour.
    pub connections: u64,
    /// Drops whose ended connection left in the hour.
    pub drops: u64,
    /// Meetings in progress at any moment of the hour.
    pub meetings: u64,
}

/// One of the most affected meetings.
#[derive(Debug, Clone, Default)]
pub struct MeetingRow {
    pub meeting_id: String,
    pub organizer: String,
    pub first_join: String,
    pub attendees: u64,
    pub attendees_affected: u64,
    pub drops: u64,
}

/// One file of the truncation audit that is not complete.
#[derive(Debug, Clone, Default)]
pub struct FileRow {
    pub path: String,
    pub status: String,
    pub rows: u64,
    pub first: String,
    pub last: String,
}

/// One time window to export again (`redownload.csv`'s row).
#[derive(Debug, Clone, Default)]
pub struct WindowRow {
    pub start: String,
    pub end: String,
    pub reason: String,
    pub files: String,
    pub estimated_rows: u64,
}

/// Kept small on purpose: system fonts, one column, tables that scroll sideways on a narrow
/// screen, and a print layout without backgrounds that keeps charts and cards whole.
const CSS: &str = r#"
:root { --ink: #1e293b; --muted: #64748b; --line: #e2e8f0; --soft: #f8fafc; --accent: #c2410c; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; line-height: 1.25; }
h2 { font-size: 1.2rem; margin: 40px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 24px 0 8px; }
p { margin: 8px 0; }
.subtitle, .note, figcaption, .legend { color: var(--muted); }
.note, figcaption, .legend { font-size: 0.9rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; margin-top: 20px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: var(--soft); }
.card .label { font-size: 0.85rem; color: var(--muted); }
.card .value { font-size: 1.7rem; font-weight: 600; line-height: 1.3; font-variant-numeric: tabular-nums; }
.card .detail { font-size: 0.85rem; color: var(--muted); }
figure { margin: 12px 0; }
figure svg { display: block; width: 100%; height: auto; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px 0 12px; vertical-align: baseline; }
.swatch.drops { background: var(--accent); }
.swatch.meetings { background: #dbe3ec; border: 1px solid #a8b6c7; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-weight: 600; color: var(--muted); border-bottom-color: #cbd5e1; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.time { white-space: nowrap; }
td.wrap { overflow-wrap: anywhere; }
td .detail { display: block; color: var(--muted); font-size: 0.85rem; }
tbody tr:nth-child(even) { background: var(--soft); }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  .card, tbody tr:nth-child(even) { background: none; }
  figure, .card, tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  .scroll { overflow: visible; }
}
"#;

/// Refuses every fetch: the page needs none, and a browser logs whatever tries.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// The page, as bytes ready to write.
pub fn render(page: &Page) -> String {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page.title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    header {
                        h1 { (page.title) }
                        @if !page.subtitle.is_empty() {
                            p.subtitle { (page.subtitle) }
                        }
                    }
                    (headline(&page.headline))
                    section {
                        h2 { "Where drops happen: networks" }
                        (bars_section(&page.networks, "networks", "Network", "No networks to show."))
                        @if !page.networks_note.is_empty() {
                            p.note { (page.networks_note) }
                        }
                    }
                    section {
                        h2 { "By client" }
                        (bars_section(&page.clients, "clients", "Client and device", "No clients to show."))
                    }
                    section {
                        h2 { "Drops per hour" }
                        (hours_section(&page.hours))
                    }
                    section {
                        h2 { "Most affected meetings" }
                        (meetings_table(&page.meetings))
                    }
                    section {
                        h2 { "Truncation audit" }
                        (audit_section(page))
                    }
                }
            }
        }
    };
    markup.into_string()
}

fn headline(cards: &[Headline]) -> Markup {
    html! {
        section #headline .cards aria-label="Headline numbers" {
            @for card in cards {
                div.card {
                    div.label { (card.label) }
                    div.value { (card.value) }
                    @if !card.detail.is_empty() {
                        div.detail { (card.detail) }
                    }
                }
            }
            @if cards.is_empty() {
                p.note { "No headline numbers." }
            }
        }
    }
}

/// A chart of drop rates and the same rows as a table with `id`.
fn bars_section(bars: &[Bar], id: &str, what: &str, none: &str) -> Markup {
    if bars.is_empty() {
        return html! { p.note #(id) { (none) } };
    }
    let chart = if bars.iter().all(|b| b.drops == 0) {
        html! { p.note { "No drops found." } }
    } else {
        let label = format!("Drop rate by {}: drops of connections", what.to_lowercase());
        figure(chart::bars(bars), &label)
    };
    html! {
        (chart)
        div.scroll {
            table #(id) {
                thead {
                    tr {
                        th { (what) }
                        th.num { "Connections" }
                        th.num { "Drops" }
                        th.num { "Drop rate" }
                        th.num { "Median gap" }
                    }
                }
                tbody {
                    @for bar in bars {
                        tr {
                            td.wrap {
                                (bar.label)
                                @if !bar.detail.is_empty() {
                                    span.detail { (bar.detail) }
                                }
                            }
                            td.num { (count(bar.connections)) }
                            td.num { (count(bar.drops)) }
                            td.num { (percent(bar.rate_percent)) }
                            td.num { (bar.median_gap) }
                        }
                    }
                }
            }
        }
    }
}

fn hours_section(hours: &[Hour]) -> Markup {
    let (Some(first), Some(last)) = (hours.first(), hours.last()) else {
        return html! { p.note { "No hours to show." } };
    };
    let series = Series::of(hours);
    let total = hours.iter().fold(0u64, |sum, h| sum.saturating_add(h.drops));
    let unit = if series.by_day { "day" } else { "hour" };
    let label = format!(
        "Drops per {unit} from {} to {} (in the accent colour), \
         with meetings in progress (grey, right axis)",
        first.label, last.label
    );
    // The busiest hour comes from the hours themselves, not from the chart's days; ties go to
    // the earliest.
    let busiest = hours.iter().fold(first, |best, h| if h.drops > best.drops { h } else { best });
    let mut caption = format!(
        "{} drops over {} hours, {} to {}.",
        count(total),
        count(hours.len() as u64),
        first.label,
        last.label
    );
    if total == 0 {
        caption = format!("No drops found in these {} hours.", count(hours.len() as u64));
    } else {
        let _ = write!(caption, " Busiest hour: {}, {} drops", busiest.label, count(busiest.drops));
        if busiest.connections > 0 {
            let rate = busiest.drops as f64 * 100.0 / busiest.connections as f64;
            let _ = write!(
                caption,
                " ({} of {} connections started)",
                percent(rate),
                count(busiest.connections)
            );
        }
        let _ = write!(caption, ", {} meetings in progress.", count(busiest.meetings));
    }
    if series.by_day {
        let _ = write!(
            caption,
            " The chart shows {} days: {} hours are too many to draw one by one. A day's point \
             is its drops; its meetings are those of its busiest hour.",
            count(series.labels.len() as u64),
            count(hours.len() as u64)
        );
    }
    html! {
        figure {
            (chart_or_note(series.chart(), &label))
            figcaption {
                span.swatch.drops {}
                "drops per " (unit)
                span.swatch.meetings {}
                "meetings in progress" @if series.by_day { " (busiest hour of the day)" }
            }
        }
        p.note { (caption) }
    }
}

fn meetings_table(meetings: &[MeetingRow]) -> Markup {
    if meetings.is_empty() {
        return html! { p.note #meetings { "No meeting had a suspected drop." } };
    }
    html! {
        div.scroll {
            table #meetings {
                thead {
                    tr {
                        th { "Meeting" }
                        th { "Organizer" }
                        th { "First join" }
                        th.num { "Attendees" }
                        th.num { "Affected" }
                        th.num { "Drops" }
                    }
                }
                tbody {
                    @for m in meetings {
                        tr {
                            td.wrap { (m.meeting_id) }
                            td.wrap { (m.organizer) }
                            td.time { (m.first_join) }
                            td.num { (count(m.attendees)) }
                            td.num { (count(m.attendees_affected)) }
                            td.num { (count(m.drops)) }
                        }
                    }
                }
            }
        }
    }
}

fn audit_section(page: &Page) -> Markup {
    let complete = match (page.files.is_empty(), page.files_complete) {
        (true, 0) => "No files were read.".to_string(),
        (true, 1) => "The one file read is complete.".to_string(),
        (true, n) => format!("All {} files are complete.", count(n)),
        (false, 1) => "1 other file is complete.".to_string(),
        (false, n) => format!("{} other files are complete.", count(n)),
    };
    html! {
        h3 { "Files that are not complete" }
        @if !page.files.is_empty() {
            div.scroll {
                table #files {
                    thead {
                        tr {
                            th { "File" }
                            th { "Status" }
                            th.num { "Rows" }
                            th { "First" }
                            th { "Last" }
                        }
                    }
                    tbody {
                        @for f in &page.files {
                            tr {
                                td.wrap { (f.path) }
                                td { (f.status) }
                                td.num { (count(f.rows)) }
                                td.time { (f.first) }
                                td.time { (f.last) }
                            }
                        }
                    }
                }
            }
        }
        p.note { (complete) }
        h3 { "Time windows to export again" }
        @if page.windows.is_empty() {
            p.note #windows { "Nothing to export again." }
        } @else {
            div.scroll {
                table #windows {
                    thead {
                        tr {
                            th { "Start" }
                            th { "End" }
                            th { "Reason" }
                            th { "Files" }
                            th.num { "Estimated rows" }
                        }
                    }
                    tbody {
                        @for w in &page.windows {
                            tr {
                                td.time { (w.start) }
                                td.time { (w.end) }
                                td { (w.reason) }
                                td.wrap { (w.files) }
                                td.num { (count(w.estimated_rows)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A chart in a `<figure>`, or a note saying why it is missing.
fn figure(svg: Result<String, String>, label: &str) -> Markup {
    html! { figure { (chart_or_note(svg, label)) } }
}

fn chart_or_note(svg: Result<String, String>, label: &str) -> Markup {
    match svg {
        Ok(svg) => PreEscaped(chart::accessible(&svg, label)),
        Err(e) => html! { p.note { "The chart could not be drawn: " (e) } },
    }
}

/// `12.3%`, or `–` for a rate that is not a number.
fn percent(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.1}%")
    } else {
        "–".to_string()
    }
}

/// `1234567` → `1,234,567`: how the page and its caller write counts.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chart::{clip, Series, LABEL_CHARS, MAX_HOURLY_POINTS};
    use super::*;

    fn bar(label: &str, connections: u64, drops: u64) -> Bar {
        Bar {
            label: label.to_string(),
            detail: "Seattle, US · inside corp".to_string(),
            connections,
            drops,
            rate_percent: drops as f64 * 100.0 / connections as f64,
            median_gap: "42 s".to_string(),
        }
    }

    fn hours(n: usize) -> Vec<Hour> {
        (0..n)
            .map(|i| Hour {
                label: format!("2024-03-{:02}T{:02}:00", 1 + i / 24, i % 24),
                connections: 100 + (i as u64 % 7) * 10,
                drops: (i as u64 * 7919) % 13,
                meetings: 20 + (i as u64 % 24),
            })
            .collect()
    }

    fn page() -> Page {
        Page {
            title: "tala-bulk report: 6 files, 2024-03-01 to 2024-03-02".to_string(),
            subtitle: "tala-bulk 0.4.0 · times in UTC".to_string(),
            headline: vec![
                Headline {
                    label: "Meetings with a suspected drop".to_string(),
                    value: "41.2%".to_string(),
                    detail: "3,102 of 7,530".to_string(),
                },
                Headline {
                    label: "Drops".to_string(),
                    value: "9,876".to_string(),
                    detail: String::new(),
                },
            ],
            networks: vec![
                bar("10.1.0.0/22 HQ-Floor1", 1200, 96),
                bar("<script>alert(1)</script>", 300, 12),
                bar("2a01:db8:12::/48", 80, 1),
            ],
            networks_note: "3 networks with 50+ connections are not in the building file".into(),
            clients: vec![bar("Teams desktop · Windows", 5000, 150), bar("Browser · macOS", 40, 0)],
            hours: hours(48),
            meetings: vec![MeetingRow {
                meeting_id: "0f6c2a4e-1d2b-4c3d-9e8f-1234567890ab".to_string(),
                organizer: "alice@contoso.com".to_string(),
                first_join: "2024-03-01T09:00:12".to_string(),
                attendees: 12,
                attendees_affected: 3,
                drops: 7,
            }],
            files: vec![FileRow {
                path: "2024/03/UAL-20240301000000-20240301060000.csv".to_string(),
                status: "capped".to_string(),
                rows: 50_000,
                first: "2024-03-01T00:00:03".to_string(),
                last: "2024-03-01T04:12:55".to_string(),
            }],
            files_complete: 5,
            windows: vec![WindowRow {
                start: "2024-03-01T04:12:00".to_string(),
                end: "2024-03-01T06:00:00".to_string(),
                reason: "capped".to_string(),
                files: "2024/03/UAL-20240301000000-20240301060000.csv".to_string(),
                estimated_rows: 21_000,
            }],
        }
    }

    /// The `<tbody>` of the table with `id`, or a panic naming it.
    fn tbody<'a>(html: &'a str, id: &str) -> &'a str {
        let table = &html[html.find(&format!("<table id=\"{id}\"")).unwrap_or_else(|| {
            panic!("no table #{id}");
        })..];
        let start = table.find("<tbody>").expect("a tbody");
        let end = table.find("</tbody>").expect("the end of the tbody");
        &table[start..end]
    }

    #[test]
    fn ids_and_rows() {
        let p = page();
        let html = render(&p);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("id=\"headline\""));
        assert_eq!(html.matches("class=\"value\"").count(), 2);
        assert!(html.contains("<div class=\"value\">41.2%</div>"));
        for (id, rows) in
            [("networks", 3), ("clients", 2), ("meetings", 1), ("files", 1), ("windows", 1)]
        {
            assert_eq!(tbody(&html, id).matches("<tr>").count(), rows, "rows of #{id}");
        }
        assert!(html.contains("3 networks with 50+ connections"));
        assert!(html.contains("5 other files are complete."));
        assert!(tbody(&html, "networks").contains("<td class=\"num\">1,200</td>"));
        assert_eq!(html.matches("<svg ").count(), 3, "networks, clients, hours");
        assert_eq!(html.matches("<svg role=\"img\" aria-label=").count(), 3);
        assert!(!html.contains("could not be drawn"));
    }

    #[test]
    fn labels_are_escaped() {
        let html = render(&page());
        assert!(!html.contains("<script"), "a label's <script> reached the page");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn empty_page() {
        let html = render(&Page::default());
        assert!(html.contains("id=\"headline\""));
        assert!(html.contains("No networks to show."));
        assert!(html.contains("No clients to show."));
        assert!(html.contains("No hours to show."));
        assert!(html.contains("No meeting had a suspected drop."));
        assert!(html.contains("No files were read."));
        assert!(html.contains("Nothing to export again."));
        assert!(!html.contains("<svg"));
        assert!(!html.contains("<table"));
    }

    #[test]
    fn lists_without_drops() {
        let mut p = page();
        p.files.clear();
        p.windows.clear();
        for b in p.networks.iter_mut().chain(&mut p.clients) {
            b.drops = 0;
            b.rate_percent = 0.0;
        }
        for h in &mut p.hours {
            h.drops = 0;
        }
        p.networks[0].rate_percent = f64::NAN;
        let html = render(&p);
        assert!(html.contains("No drops found."));
        assert!(html.contains("No drops found in these 48 hours."));
        assert!(html.contains("All 5 files are complete."));
        assert!(html.contains("Nothing to export again."));
        assert_eq!(tbody(&html, "networks").matches("<tr>").count(), 3);
        assert!(tbody(&html, "networks").contains("–"), "a NaN rate shows as a dash");
    }

    #[test]
    fn deterministic() {
        let mut p = page();
        p.hours = hours(8_784);
        assert_eq!(render(&p), render(&p.clone()));
    }

    #[test]
    fn self_contained() {
        let html = render(&page());
        for link in ["src=", "href=", "url("] {
            for (at, _) in html.match_indices(link) {
                let rest = &html[at..(at + 80).min(html.len())];
                assert!(!rest.contains("http://") && !rest.contains("https://"), "{rest}");
            }
        }
        assert!(!html.contains("<script"));
        assert!(!html.contains("<link"));
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn a_year_of_hours_is_drawn_as_days() {
        let mut p = page();
        p.hours = hours(8_784);
        let html = render(&p);
        assert!(html.contains("The chart shows 366 days: 8,784 hours"));
        assert!(html.len() < 300_000, "the page weighs {} bytes", html.len());
        let two_thousand = Series::of(&hours(MAX_HOURLY_POINTS));
        assert!(!two_thousand.by_day);
        assert_eq!(two_thousand.labels.len(), MAX_HOURLY_POINTS);
    }

    #[test]
    fn days_add_drops_and_keep_the_busiest_hour() {
        let s = Series::of(&hours(MAX_HOURLY_POINTS + 24));
        assert!(s.by_day);
        assert_eq!(s.labels[0], "2024-03-01");
        let day: Vec<Hour> = hours(24);
        assert_eq!(s.drops[0], day.iter().map(|h| h.drops).sum::<u64>());
        assert_eq!(s.meetings[0], 43);
    }

    #[test]
    fn busiest_hour() {
        let mut p = page();
        p.hours[30].drops = 500;
        p.hours[31].drops = 500;
        let html = render(&p);
        assert!(html.contains("Busiest hour: 2024-03-02T06:00, 500 drops"), "{html}");
    }

    #[test]
    fn extreme_values() {
        let mut p = page();
        p.hours.truncate(1);
        p.hours.push(Hour {
            label: "x".into(),
            connections: 0,
            drops: u64::MAX,
            meetings: u64::MAX,
        });
        p.hours[0].drops = u64::MAX;
        p.networks[0].rate_percent = f64::INFINITY;
        p.networks[1].rate_percent = -3.0;
        p.networks[2].connections = 0;
        p.clients[0].drops = u64::MAX;
        p.clients[0].rate_percent = 250.0;
        let html = render(&p);
        assert_eq!(tbody(&html, "networks").matches("<tr>").count(), 3);
        assert!(html.contains("18,446,744,073,709,551,615 drops over 2 hours"));
        let mut many = p.clone();
        many.hours = (0..MAX_HOURLY_POINTS + 1)
            .map(|i| Hour { label: format!("h{i}"), drops: u64::MAX, ..Hour::default() })
            .collect();
        assert!(render(&many).contains("The chart shows 2,001 days"));
    }

    #[test]
    fn counts() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(clip("short"), "short");
        assert_eq!(clip(&"é".repeat(40)).chars().count(), LABEL_CHARS);
    }
}
