//! One measured point, and the CSV the sweep writes.
//!
//! Owns [`Row`] and [`to_csv`]. The CSV follows RFC 4180: a header line, CRLF line ends, a
//! field quoted when it holds a comma, a double quote, CR or LF, with quotes doubled inside.
//! Sizes and rates are plain bytes and times whole microseconds, so a spreadsheet or a script
//! needs no unit parsing.

use super::grid::Point;
use super::status::Status;

/// What one point measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub point: Point,
    /// Backend hold (`t_release − t_req`), median and 99th percentile, µs, as spoonfeed's
    /// status endpoint gives them: upper bounds of power-of-two buckets.
    pub hold_p50_us: u64,
    pub hold_p99_us: u64,
    /// Client completion time (request sent to last byte read), median and 99th
    /// percentile, µs, as the load generator measured them.
    pub completion_p50_us: u64,
    pub completion_p99_us: u64,
    /// Peak occupancy of one response (blocks, and pipe bytes when splicing), 99th
    /// percentile, bytes (a bucket bound, as for the hold).
    pub peak_occupancy_bytes: u64,
    /// Most bytes of blocks in use at once in the whole reactor during the point.
    pub pool_peak_bytes: u64,
    /// Resident set size of the spoonfeed process at the end of the point, bytes.
    pub rss_bytes: u64,
    /// Responses completed per second of the point's run.
    pub requests_per_sec: f64,
    /// Requests that failed: errors, bad status, length or checksum, or cut off.
    pub errors: u64,
    /// Anything worth a word (the first error's message, say); empty when all went well.
    pub note: String,
}

impl Row {
    /// A row for `point` with spoonfeed's numbers taken from its status endpoint (route `/`,
    /// the one [`Point::spoonfeed_config`] sets up) and the rest zero, for the driver to fill
    /// in from the load generator and `/proc`. `None` when the route has seen no exchange.
    pub fn from_status(point: Point, status: &Status) -> Option<Row> {
        let route = status.route("/")?;
        let hold = route.backend_hold_us();
        Some(Row {
            point,
            hold_p50_us: hold.p50,
            hold_p99_us: hold.p99,
            completion_p50_us: 0,
            completion_p99_us: 0,
            peak_occupancy_bytes: route.peak_occupancy_bytes().p99,
            pool_peak_bytes: status.pool_peak_bytes(point.io_buffer),
            rss_bytes: 0,
            requests_per_sec: 0.0,
            errors: status.failures(),
            note: String::new(),
        })
    }
}

/// The CSV header, in column order.
pub const CSV_COLUMNS: [&str; 17] = [
    "io_buffer_bytes",
    "response_buffer_bytes",
    "send_buffer_bytes",
    "response_size_bytes",
    "read_rate_bytes_per_sec",
    "mode",
    "hold_p50_us",
    "hold_p99_us",
    "completion_p50_us",
    "completion_p99_us",
    "peak_occupancy_bytes",
    "pool_peak_bytes",
    "rss_bytes",
    "requests_per_sec",
    "errors",
    "note",
    "config",
];

/// The rows as CSV: the header, then one line per row, in the order given.
pub fn to_csv(rows: &[Row]) -> String {
    let mut out = String::new();
    push_line(&mut out, CSV_COLUMNS.iter().map(|c| c.to_string()));
    for row in rows {
        let p = &row.point;
        let rps = if row.requests_per_sec.is_finite() {
            format!("{:.1}", row.requests_per_sec)
        } else {
            String::new()
        };
        push_line(
            &mut out,
            [
                p.io_buffer.to_string(),
                p.response_buffer.to_string(),
                p.send_buffer.to_string(),
                p.response_size.to_string(),
                p.read_rate.to_string(),
                p.mode.name().to_string(),
                row.hold_p50_us.to_string(),
                row.hold_p99_us.to_string(),
                row.completion_p50_us.to_string(),
                row.completion_p99_us.to_string(),
                row.peak_occupancy_bytes.to_string(),
                row.pool_peak_bytes.to_string(),
                row.rss_bytes.to_string(),
                rps,
                row.errors.to_string(),
                row.note.clone(),
                p.to_string(),
            ]
            .into_iter(),
        );
    }
    out
}

fn push_line(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, &field);
    }
    out.push_str("\r\n");
}

/// One field, quoted when RFC 4180 requires it.
fn push_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}
