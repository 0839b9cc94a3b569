//! The sweep's plot: a self-contained SVG of two panels sharing one x axis.
//!
//! Owns [`to_svg`]. The top panel is backend hold p99 against ProxyResponseBufferSize, the
//! bottom one peak occupancy per response against the same x; both with a log x axis, one
//! polyline per series and a marker per point, and one legend for both. A series is one
//! response size, split further by every other axis that has more than one value in the rows
//! (block size, SendBufferSize, read rate, mode), so each polyline varies only the x. Colour
//! tells response sizes apart, dash patterns the rest.
//!
//! Must write only finite coordinates: values that a log axis cannot show (zero) are left
//! out, and every number goes through `num`. No scripts, fonts or links: the file renders
//! the same anywhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::grid::Mode;
use super::row::Row;
use super::units::{directive_size, human_bytes, human_rate, human_us};

/// Whole image width, px.
const WIDTH: f64 = 960.0;
/// Plot area of each panel: left edge, width and height, px.
const PLOT_LEFT: f64 = 90.0;
const PLOT_WIDTH: f64 = 560.0;
const PLOT_HEIGHT: f64 = 250.0;
/// Top edge of each panel's plot area, px.
const PANEL_TOPS: [f64; 2] = [84.0, 414.0];
/// Where the legend starts, and the height of one entry, px.
const LEGEND_LEFT: f64 = 690.0;
const LEGEND_ROW: f64 = 18.0;
/// Height when the legend is short, px.
const MIN_HEIGHT: f64 = 734.0;
/// Most x ticks labelled; past it every other value (then every third …) is labelled.
const MAX_X_LABELS: usize = 10;

/// One colour per response size, in size order (cycling past eight sizes).
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];
/// Dash patterns for the series of one response size, in order (cycling).
const DASHES: [&str; 4] = ["", "7 4", "2 3", "9 3 2 3"];

/// What separates one series from another: every axis but ProxyResponseBufferSize.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    response_size: u64,
    io_buffer: u64,
    send_buffer: u64,
    read_rate: u64,
    mode: Mode,
}

struct Series<'a> {
    key: SeriesKey,
    label: String,
    colour: &'static str,
    dash: &'static str,
    /// Rows in ascending ProxyResponseBufferSize.
    rows: Vec<&'a Row>,
}

/// Which axes other than size vary across the rows; only those go into labels.
struct Varies {
    io_buffer: bool,
    send_buffer: bool,
    read_rate: bool,
    mode: bool,
}

/// The plot of `rows` as a complete SVG document.
pub fn to_svg(rows: &[Row]) -> String {
    let series = series(rows);
    let legend_height = 40.0 + LEGEND_ROW * series.len() as f64;
    let height = MIN_HEIGHT.max(PANEL_TOPS[0] + legend_height);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">",
        w = num(WIDTH),
        h = num(height)
    );
    out.push_str(
        "<title>bufsweep: backend hold and occupancy against ProxyResponseBufferSize</title>\n",
    );
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"white\"/>",
        num(WIDTH),
        num(height)
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">\
         Backend hold and occupancy against ProxyResponseBufferSize</text>",
        num(PLOT_LEFT)
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"44\" fill=\"#555\">{}</text>",
        num(PLOT_LEFT),
        escape(&fixed_axes(rows))
    );

    let xs: Vec<u64> = {
        let mut xs: Vec<u64> = rows
            .iter()
            .map(|r| r.point.response_buffer)
            .filter(|&x| x > 0)
            .collect();
        xs.sort_unstable();
        xs.dedup();
        xs
    };
    let x_axis = LogAxis::new(&xs, 2.0, 0.5);
    let holds: Vec<u64> = rows.iter().map(|r| r.hold_p99_us).collect();
    let hold_axis = LogAxis::decades(&holds);
    let occupancy_max = rows
        .iter()
        .map(|r| r.peak_occupancy_bytes)
        .max()
        .unwrap_or(0);
    let occupancy_axis = LinearAxis::new(occupancy_max);

    let panels = [
        Panel {
            id: "hold",
            title: "Backend hold, 99th percentile (log scale)",
            y_label: "backend hold",
            y_axis: &hold_axis,
            value: |r| r.hold_p99_us,
            describe: human_us,
        },
        Panel {
            id: "occupancy",
            title: "Peak occupancy per response, 99th percentile",
            y_label: "bytes held per response",
            y_axis: &occupancy_axis,
            value: |r| r.peak_occupancy_bytes,
            describe: human_bytes,
        },
    ];
    for (p, top) in panels.iter().zip(PANEL_TOPS) {
        panel(&mut out, p, top, &x_axis, &xs, &series);
    }
    legend(&mut out, &series);
    out.push_str("</svg>\n");
    out
}

fn series(rows: &[Row]) -> Vec<Series<'_>> {
    let key = |r: &Row| SeriesKey {
        response_size: r.point.response_size,
        io_buffer: r.point.io_buffer,
        send_buffer: r.point.send_buffer,
        read_rate: r.point.read_rate,
        mode: r.point.mode,
    };
    let mut groups: BTreeMap<SeriesKey, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        groups.entry(key(row)).or_default().push(row);
    }
    let varies = varies(rows);
    let mut sizes: Vec<u64> = groups.keys().map(|k| k.response_size).collect();
    sizes.dedup();
    let mut out: Vec<Series<'_>> = Vec::with_capacity(groups.len());
    for (key, mut group) in groups {
        group.sort_by_key(|r| r.point.response_buffer);
        let size_index = sizes.binary_search(&key.response_size).unwrap_or(0);
        let within = out
            .iter()
            .filter(|s| s.key.response_size == key.response_size)
            .count();
        let mut label = human_bytes(key.response_size);
        if varies.io_buffer {
            let _ = write!(label, ", io {}", directive_size(key.io_buffer));
        }
        if varies.send_buffer {
            let _ = write!(label, ", sndbuf {}", directive_size(key.send_buffer));
        }
        if varies.read_rate {
            let _ = write!(label, ", {}", human_rate(key.read_rate));
        }
        if varies.mode {
            let _ = write!(label, ", {}", key.mode);
        }
        out.push(Series {
            key,
            label,
            colour: COLOURS[size_index % COLOURS.len()],
            dash: DASHES[within % DASHES.len()],
            rows: group,
        });
    }
    out
}

fn varies(rows: &[Row]) -> Varies {
    let differs = |f: fn(&Row) -> u64| rows.iter().any(|r| f(r) != f(&rows[0]));
    Varies {
        io_buffer: differs(|r| r.point.io_buffer),
        send_buffer: differs(|r| r.point.send_buffer),
        read_rate: differs(|r| r.point.read_rate),
        mode: differs(|r| r.point.mode as u64),
    }
}

/// The axes that have one value across the rows, for the subtitle.
fn fixed_axes(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return "no rows".to_string();
    };
    let v = varies(rows);
    let p = first.point;
    let mut parts = Vec::new();
    if !v.io_buffer {
        parts.push(format!("ProxyIOBufferSize {}", directive_size(p.io_buffer)));
    }
    if !v.send_buffer {
        parts.push(format!("SendBufferSize {}", directive_size(p.send_buffer)));
    }
    if !v.read_rate {
        parts.push(format!("clients reading {}", human_rate(p.read_rate)));
    }
    if !v.mode {
        parts.push(format!("ProxySplice {}", p.mode.directive()));
    }
    parts.join(" · ")
}

trait YAxis {
    /// Pixel offset from the bottom of the plot area, 0..=PLOT_HEIGHT; `None` when the axis
    /// cannot show the value.
    fn offset(&self, value: u64) -> Option<f64>;
    /// Tick values and their labels.
    fn ticks(&self) -> Vec<(u64, String)>;
}

/// A log axis over `lo..=hi` (both positive).
struct LogAxis {
    lo: f64,
    hi: f64,
    base: f64,
}

impl LogAxis {
    /// Spans the values with `pad` steps of `base` on either side (a default span when there
    /// are none).
    fn new(values: &[u64], base: f64, pad: f64) -> LogAxis {
        let (lo, hi) = match (values.first(), values.last()) {
            (Some(&lo), Some(&hi)) => (lo as f64, hi as f64),
            _ => (256.0 * 1024.0, 4.0 * 1024.0 * 1024.0),
        };
        let factor = base.powf(pad);
        LogAxis {
            lo: lo / factor,
            hi: hi * factor,
            base,
        }
    }

    /// Whole decades around the positive values (1 µs to 1 s when there are none).
    fn decades(values: &[u64]) -> LogAxis {
        let positive = values.iter().copied().filter(|&v| v > 0);
        let (lo, hi) = match (positive.clone().min(), positive.max()) {
            (Some(lo), Some(hi)) => (lo as f64, hi as f64),
            _ => (1.0, 1e6),
        };
        let lo = 10f64.powf(lo.log10().floor());
        let mut hi = 10f64.powf(hi.log10().ceil());
        if hi <= lo {
            hi = lo * 10.0;
        }
        LogAxis { lo, hi, base: 10.0 }
    }

    fn fraction(&self, value: f64) -> Option<f64> {
        (value > 0.0).then(|| (value / self.lo).ln() / (self.hi / self.lo).ln())
    }
}

impl YAxis for LogAxis {
    fn offset(&self, value: u64) -> Option<f64> {
        self.fraction(value as f64).map(|f| f * PLOT_HEIGHT)
    }

    fn ticks(&self) -> Vec<(u64, String)> {
        let mut ticks = Vec::new();
        let mut tick = self.lo;
        while tick <= self.hi * 1.0001 {
            ticks.push((tick.round() as u64, human_us(tick.round() as u64)));
            tick *= self.base;
        }
        ticks
    }
}

/// A linear axis from 0 to a rounded-up maximum, ticks at 1, 2 or 5 times a power of 1024
/// times a power of ten of bytes.
struct LinearAxis {
    hi: f64,
    step: u64,
}

impl LinearAxis {
    fn new(max: u64) -> LinearAxis {
        let max = max.max(1024);
        let unit = if max >= 1 << 20 { 1u64 << 20 } else { 1 << 10 };
        let in_units = max as f64 / unit as f64;
        let raw = in_units / 5.0;
        let power = 10f64.powf(raw.log10().floor());
        let nice = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * power)
            .find(|&s| s >= raw)
            .unwrap_or(10.0 * power);
        let step = ((nice * unit as f64).round() as u64).max(1);
        LinearAxis {
            hi: (max as f64 / step as f64).ceil() * step as f64,
            step,
        }
    }
}

impl YAxis for LinearAxis {
    fn offset(&self, value: u64) -> Option<f64> {
        Some(value as f64 / self.hi * PLOT_HEIGHT)
    }

    fn ticks(&self) -> Vec<(u64, String)> {
        (0u64..)
            .map_while(|i| i.checked_mul(self.step))
            .take_while(|&t| t as f64 <= self.hi)
            .map(|t| (t, human_bytes(t)))
            .collect()
    }
}

/// What one panel plots.
struct Panel<'a> {
    /// The `id` of its `<g>`.
    id: &'static str,
    title: &'static str,
    y_label: &'static str,
    y_axis: &'a dyn YAxis,
    /// The number plotted for a row.
    value: fn(&Row) -> u64,
    /// That number for people, in a marker's tooltip.
    describe: fn(u64) -> String,
}

fn panel(
    out: &mut String,
    p: &Panel<'_>,
    top: f64,
    x_axis: &LogAxis,
    xs: &[u64],
    series: &[Series<'_>],
) {
    let Panel {
        id,
        title,
        y_label,
        y_axis,
        value,
        describe,
    } = *p;
    let bottom = top + PLOT_HEIGHT;
    let right = PLOT_LEFT + PLOT_WIDTH;
    let x_of = |x: u64| {
        x_axis
            .fraction(x as f64)
            .map(|f| PLOT_LEFT + f * PLOT_WIDTH)
    };
    let _ = writeln!(out, "<g class=\"panel\" id=\"{id}\">");
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        num(PLOT_LEFT),
        num(top - 10.0),
        escape(title)
    );
    let _ = writeln!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>",
        num(PLOT_LEFT),
        num(top),
        num(PLOT_WIDTH),
        num(PLOT_HEIGHT)
    );
    // y ticks and grid lines
    for (tick, label) in y_axis.ticks() {
        let Some(offset) = y_axis.offset(tick) else {
            continue;
        };
        let y = bottom - offset;
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/>\
             <line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#333\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            num(PLOT_LEFT),
            num(right),
            num(PLOT_LEFT - 5.0),
            num(PLOT_LEFT),
            num(PLOT_LEFT - 8.0),
            num(y + 4.0),
            escape(&label),
            y = num(y)
        );
    }
    // x ticks at every measured ProxyResponseBufferSize
    let every = xs.len().div_ceil(MAX_X_LABELS).max(1);
    for (i, &x) in xs.iter().enumerate() {
        let Some(px) = x_of(x) else { continue };
        let _ = write!(
            out,
            "<line x1=\"{px}\" y1=\"{}\" x2=\"{px}\" y2=\"{}\" stroke=\"#eee\"/>\
             <line x1=\"{px}\" y1=\"{}\" x2=\"{px}\" y2=\"{}\" stroke=\"#333\"/>",
            num(top),
            num(bottom),
            num(bottom),
            num(bottom + 5.0),
            px = num(px)
        );
        if i % every == 0 {
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                num(px),
                num(bottom + 18.0),
                escape(&directive_size(x))
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">ProxyResponseBufferSize (log scale)</text>",
        num(PLOT_LEFT + PLOT_WIDTH / 2.0),
        num(bottom + 36.0)
    );
    let label_x = 18.0;
    let label_y = top + PLOT_HEIGHT / 2.0;
    let _ = writeln!(
        out,
        "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{}</text>",
        y_label,
        x = num(label_x),
        y = num(label_y)
    );
    if series.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">no data</text>",
            num(PLOT_LEFT + PLOT_WIDTH / 2.0),
            num(label_y)
        );
    }
    for s in series {
        let points: Vec<(f64, f64, &Row)> = s
            .rows
            .iter()
            .filter_map(|r| {
                let px = x_of(r.point.response_buffer)?;
                let offset = y_axis.offset(value(r))?;
                Some((px, bottom - offset, *r))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let coords: Vec<String> = points
            .iter()
            .map(|(x, y, _)| format!("{},{}", num(*x), num(*y)))
            .collect();
        let dash = if s.dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{}\"", s.dash)
        };
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
            s.colour,
            coords.join(" ")
        );
        for (x, y, row) in &points {
            let _ = writeln!(
                out,
                "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"><title>{}: {}</title></circle>",
                num(*x),
                num(*y),
                s.colour,
                escape(&row.point.to_string()),
                escape(&describe(value(row)))
            );
        }
    }
    out.push_str("</g>\n");
}

fn legend(out: &mut String, series: &[Series<'_>]) {
    let top = PANEL_TOPS[0];
    out.push_str("<g class=\"legend\">\n");
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" font-weight=\"bold\">Response size</text>",
        num(LEGEND_LEFT),
        num(top)
    );
    for (i, s) in series.iter().enumerate() {
        let y = top + 20.0 + LEGEND_ROW * i as f64;
        let dash = if s.dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{}\"", s.dash)
        };
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"2\"{dash}/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            num(LEGEND_LEFT),
            num(LEGEND_LEFT + 28.0),
            s.colour,
            num(LEGEND_LEFT + 34.0),
            num(y + 4.0),
            escape(&s.label),
            y = num(y)
        );
    }
    out.push_str("</g>\n");
}

/// A coordinate or length with one decimal. Every value reaching here is finite (the axes
/// divide by spans that are never zero and take logs of positive values only); a non-finite
/// one would be a bug, caught in debug builds and drawn at 0 in release ones rather than
/// writing `NaN` into the file.
fn num(x: f64) -> String {
    debug_assert!(x.is_finite(), "non-finite coordinate");
    if x.is_finite() {
        let text = format!("{x:.1}");
        text.strip_suffix(".0").map_or(text.clone(), str::to_string)
    } else {
        "0".to_string()
    }
}

/// Text for an SVG element or attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
