//! The page's charts, drawn by plotters into SVG strings the page embeds: the horizontal bars
//! of drop rates (networks, clients) and the time chart of drops and meetings in progress. Each
//! returns the SVG, or the reason plotters gave for not drawing it (the page then says so).
//! plotters is built without fonts: it only estimates text widths, and the browser sets the
//! text, so every label the layout depends on is placed here by hand.

use maud::html;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{count, percent, Bar, Hour};

/// Past this many hours the time chart shows days: 2,000 hourly points already put two or more
/// in one pixel column of a 900-pixel chart, and a year of hours (8,784) would make the page
/// heavy for nothing.
pub(super) const MAX_HOURLY_POINTS: usize = 2_000;

/// Up to this many points the time chart draws one bar per point (each at least about two
/// pixels wide); past it, a line.
const MAX_BARS: usize = 360;

/// The charts' width in SVG units; CSS scales them to the column.
const CHART_WIDTH: u32 = 900;

/// Bar labels longer than this are cut in the chart (the table shows them whole).
pub(super) const LABEL_CHARS: usize = 30;

// Colours: muted greys for ink and grid, one accent for drops.
const INK: RGBColor = RGBColor(0x33, 0x41, 0x55);
const MUTED: RGBColor = RGBColor(0x64, 0x74, 0x8b);
const GRID: RGBColor = RGBColor(0xe2, 0xe8, 0xf0);
const TRACK: RGBColor = RGBColor(0xf1, 0xf5, 0xf9);
const ACCENT: RGBColor = RGBColor(0xc2, 0x41, 0x0c);
const MEETINGS: RGBColor = RGBColor(0xdb, 0xe3, 0xec);
const MEETINGS_EDGE: RGBColor = RGBColor(0xa8, 0xb6, 0xc7);

/// Gives plotters' `<svg>` an image role, an accessible name and a `<title>` (a tooltip too).
/// plotters escapes its attribute values, so the first `>` closes its `<svg …>` tag.
pub(super) fn accessible(svg: &str, label: &str) -> String {
    let label = html! { (label) }.into_string();
    match (svg.strip_prefix("<svg "), svg.find('>')) {
        (Some(_), Some(end)) => format!(
            "<svg role=\"img\" aria-label=\"{label}\" {}><title>{label}</title>{}",
            &svg[5..end],
            &svg[end + 1..]
        ),
        // Not the shape plotters writes: leave it as it is rather than guess.
        _ => svg.to_string(),
    }
}

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// The horizontal bar chart of drop rates: one row per bar, the first at the top, its label
/// and detail on the left, its rate, drops and connections after the bar.
pub(super) fn bars(bars: &[Bar]) -> Result<String, String> {
    const ROW: u32 = 36;
    const LEFT: u32 = 250; // the labels' column
    const RIGHT: u32 = 190; // room for "100.0% · 12,345 of 123,456"
    const TOP: u32 = 8;
    const AXIS: u32 = 44;
    let rows = u32::try_from(bars.len()).unwrap_or(u32::MAX);
    let height = ROW.saturating_mul(rows).saturating_add(TOP + AXIS);
    let max_rate = bars.iter().map(|b| rate(b.rate_percent)).fold(0.0, f64::max);
    // Zoom to the largest rate, with some air, but never past 100%.
    let x_max = if max_rate > 0.0 { (max_rate * 1.05).min(100.0) } else { 1.0 };
    let n = bars.len() as f64;
    let mut svg = String::new();
    let drawn: Drawn = (|| {
        let root = SVGBackend::with_string(&mut svg, (CHART_WIDTH, height)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin_top(TOP)
            .margin_right(RIGHT)
            .margin_left(8)
            .x_label_area_size(AXIS)
            .y_label_area_size(LEFT - 8)
            .build_cartesian_2d(0.0..x_max, 0.0..n)?;
        let fine = x_max < 5.0;
        let tick = |x: &f64| if fine { format!("{x:.1}%") } else { format!("{x:.0}%") };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(6)
            .x_label_formatter(&tick)
            .x_desc("drop rate (drops of connections)")
            .label_style(("sans-serif", 15).into_font().color(&MUTED))
            .axis_desc_style(("sans-serif", 15).into_font().color(&MUTED))
            .axis_style(MUTED.stroke_width(1))
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(TRANSPARENT)
            .draw()?;
        // Row k from the top sits between y = n-k-1 and n-k.
        let row_y = |k: usize| n - k as f64 - 0.5;
        chart.draw_series((0..bars.len()).map(|k| {
            let y = row_y(k);
            Rectangle::new([(0.0, y - 0.3), (x_max, y + 0.3)], TRACK.filled())
        }))?;
        chart.draw_series(bars.iter().enumerate().map(|(k, b)| {
            let y = row_y(k);
            Rectangle::new([(0.0, y - 0.3), (rate(b.rate_percent), y + 0.3)], ACCENT.filled())
        }))?;
        let label_style = ("sans-serif", 15).into_font().color(&INK);
        let detail_style = ("sans-serif", 13).into_font().color(&MUTED);
        let value_style = ("sans-serif", 14).into_font().color(&INK);
        let right = Pos::new(HPos::Right, VPos::Center);
        let left = Pos::new(HPos::Left, VPos::Center);
        for (k, b) in bars.iter().enumerate() {
            let (x0, y) = chart.backend_coord(&(0.0, row_y(k)));
            let lx = x0 - 10;
            if b.detail.is_empty() {
                root.draw(&Text::new(clip(&b.label), (lx, y), label_style.pos(right)))?;
            } else {
                root.draw(&Text::new(clip(&b.label), (lx, y - 7), label_style.pos(right)))?;
                root.draw(&Text::new(clip(&b.detail), (lx, y + 9), detail_style.pos(right)))?;
            }
            let (x_end, _) = chart.backend_coord(&(x_max, row_y(k)));
            let value = format!(
                "{} · {} of {}",
                percent(b.rate_percent),
                count(b.drops),
                count(b.connections)
            );
            root.draw(&Text::new(value, (x_end + 10, y), value_style.pos(left)))?;
        }
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| e.to_string())?;
    Ok(svg)
}

/// The time chart's points: the hours, or their days when there are too many hours.
pub(super) struct Series {
    pub(super) labels: Vec<String>,
    pub(super) drops: Vec<u64>,
    pub(super) meetings: Vec<u64>,
    pub(super) by_day: bool,
}

impl Series {
    pub(super) fn of(hours: &[Hour]) -> Series {
        let mut s = Series { labels: vec![], drops: vec![], meetings: vec![], by_day: false };
        if hours.len() <= MAX_HOURLY_POINTS {
            for h in hours {
                s.labels.push(h.label.replacen('T', " ", 1));
                s.drops.push(h.drops);
                s.meetings.push(h.meetings);
            }
            return s;
        }
        // A day is the run of consecutive hours whose labels share the date before the `T`
        // (the report's time zone, so a day may have 23 or 25 hours). Drops add up; meetings in
        // progress do not (one meeting spans hours), so a day shows its busiest hour's.
        s.by_day = true;
        for h in hours {
            let day = h.label.split('T').next().unwrap_or(&h.label);
            match (s.labels.last(), s.drops.last_mut(), s.meetings.last_mut()) {
                (Some(last), Some(d), Some(m)) if last == day => {
                    *d = d.saturating_add(h.drops);
                    *m = (*m).max(h.meetings);
                }
                _ => {
                    s.labels.push(day.to_string());
                    s.drops.push(h.drops);
                    s.meetings.push(h.meetings);
                }
            }
        }
        s
    }

    /// Drops as bars (or a line past [`MAX_BARS`] points) on the left axis, meetings in
    /// progress as a light area behind them on the right axis.
    pub(super) fn chart(&self) -> Result<String, String> {
        const HEIGHT: u32 = 320;
        let n = self.labels.len();
        let nf = n as f64;
        let y_max = axis_max(self.drops.iter().copied().max().unwrap_or(0));
        let m_max = axis_max(self.meetings.iter().copied().max().unwrap_or(0));
        let mut svg = String::new();
        let drawn: Drawn = (|| {
            let root = SVGBackend::with_string(&mut svg, (CHART_WIDTH, HEIGHT)).into_drawing_area();
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .margin_right(20)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .right_y_label_area_size(70)
                .build_cartesian_2d(0.0..nf, 0..y_max)?
                .set_secondary_coord(0.0..nf, 0..m_max);
            let x_label = |x: &f64| {
                let i = x.round();
                if (x - i).abs() < 1e-9 && i >= 0.0 {
                    self.labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            };
            let unit = if self.by_day { "drops per day" } else { "drops per hour" };
            let counts = |v: &u64| count(*v);
            let ticks = self.ticks();
            let mut mesh = chart.configure_mesh();
            mesh.disable_x_mesh()
                .y_labels(5)
                .y_label_formatter(&counts)
                .y_desc(unit)
                .label_style(("sans-serif", 15).into_font().color(&MUTED))
                .axis_desc_style(("sans-serif", 15).into_font().color(&MUTED))
                .axis_style(MUTED.stroke_width(1))
                .bold_line_style(GRID.stroke_width(1))
                .light_line_style(TRANSPARENT);
            if ticks.is_empty() {
                mesh.x_labels(5).x_label_formatter(&x_label);
            } else {
                mesh.x_labels(0);
            }
            mesh.draw()?;
            // The day ticks, drawn here: plotters would put its round numbers of points at
            // odd hours.
            let tick_style =
                ("sans-serif", 15).into_font().color(&MUTED).pos(Pos::new(HPos::Center, VPos::Top));
            for (i, date) in &ticks {
                let x = *i as f64;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0), (x, y_max)],
                    GRID.stroke_width(1),
                )))?;
                let (px, py) = chart.backend_coord(&(x, 0));
                root.draw(&PathElement::new(vec![(px, py), (px, py + 5)], MUTED.stroke_width(1)))?;
                root.draw(&Text::new(date.as_str(), (px, py + 8), tick_style.clone()))?;
            }
            chart
                .configure_secondary_axes()
                .y_labels(5)
                .y_label_formatter(&counts)
                .y_desc("meetings in progress")
                .label_style(("sans-serif", 15).into_font().color(&MUTED))
                .axis_desc_style(("sans-serif", 15).into_font().color(&MUTED))
                .axis_style(MUTED.stroke_width(1))
                .draw()?;
            chart.draw_secondary_series(
                AreaSeries::new(
                    self.meetings.iter().enumerate().map(|(i, &m)| (i as f64 + 0.5, m)),
                    0,
                    MEETINGS.filled(),
                )
                .border_style(MEETINGS_EDGE.stroke_width(1)),
            )?;
            if n <= MAX_BARS {
                chart.draw_series(self.drops.iter().enumerate().filter(|(_, &d)| d > 0).map(
                    |(i, &d)| {
                        let x = i as f64;
                        let mut bar = Rectangle::new([(x, 0), (x + 1.0, d)], ACCENT.filled());
                        // A hairline between neighbours, when the bars are wide enough for one.
                        if n <= 200 {
                            bar.set_margin(0, 0, 1, 1);
                        }
                        bar
                    },
                ))?;
            } else {
                // A line, not a filled area: a fill over the meetings' area would muddy both.
                chart.draw_series(LineSeries::new(
                    self.drops.iter().enumerate().map(|(i, &d)| (i as f64 + 0.5, d)),
                    ACCENT.stroke_width(1),
                ))?;
            }
            root.present()?;
            Ok(())
        })();
        drawn.map_err(|e| e.to_string())?;
        Ok(svg)
    }

    /// Where the time axis has its labels: at the start of days, every day or every so many
    /// days, seven at most, each labelled with its date. Empty for a span under three days of
    /// hours (or labels without `T00:00`): plotters' own ticks then show full hours.
    fn ticks(&self) -> Vec<(usize, String)> {
        let n = self.labels.len();
        let starts: Vec<usize> = if self.by_day {
            (0..n).collect()
        } else if n >= 72 {
            (0..n).filter(|&i| self.labels[i].ends_with(" 00:00")).collect()
        } else {
            vec![]
        };
        if starts.len() < 2 {
            return vec![];
        }
        let step = [1, 2, 3, 7, 14, 28, 56, 91, 182, 364]
            .into_iter()
            .find(|step| starts.len().div_ceil(*step) <= 7)
            .unwrap_or(starts.len());
        starts
            .iter()
            .step_by(step)
            .map(|&i| (i, self.labels[i].split(' ').next().unwrap_or_default().to_string()))
            .collect()
    }
}

/// The top of a count axis: the largest value with a little air, at least 1 (plotters needs a
/// non-empty range).
fn axis_max(max: u64) -> u64 {
    max.saturating_add(max / 10).max(1)
}

/// A rate fit to be a bar's length: not negative, not NaN, at most 100.
fn rate(r: f64) -> f64 {
    if r.is_finite() {
        r.clamp(0.0, 100.0)
    } else {
        0.0
    }
}

/// A label cut to [`LABEL_CHARS`] characters for a chart.
pub(super) fn clip(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(LABEL_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}
