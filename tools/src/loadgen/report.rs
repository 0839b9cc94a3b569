//! What a run measured, and its three renderings: a human summary, one JSON object, or a CSV
//! header and row.
//!
//! Owns [`ErrorKind`] (how failed exchanges are counted) and the formats; it must not measure
//! anything itself. The JSON and CSV carry the same fields under the same names; latencies are
//! in microseconds with three decimals (they are recorded in nanoseconds).

use std::fmt::Write as _;
use std::time::Duration;

use super::args::{Load, Plan};
use super::histogram::Histogram;

/// Why an exchange failed. Each kind is counted on its own; the exit status is 1 if any is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection could not be opened (refused, unreachable, reset during the handshake).
    Connect,
    /// Reading or writing failed on an open connection (reset, broken pipe).
    Io,
    /// The server closed with requests unanswered without saying `Connection: close`, or in
    /// the middle of a head.
    Closed,
    /// A malformed head or chunk framing, or bytes that no request asked for.
    Parse,
    /// A status other than `--expect-status`.
    Status,
    /// The body ended (the server closed) before its `Content-Length` or its last chunk.
    Length,
    /// The body does not match its `X-Checksum`.
    Checksum,
    /// The exchange did not end within `--timeout` of its intended send time.
    Timeout,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Connect,
        ErrorKind::Io,
        ErrorKind::Closed,
        ErrorKind::Parse,
        ErrorKind::Status,
        ErrorKind::Length,
        ErrorKind::Checksum,
        ErrorKind::Timeout,
    ];

    /// The name used in every output.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Io => "io",
            ErrorKind::Closed => "closed",
            ErrorKind::Parse => "parse",
            ErrorKind::Status => "status",
            ErrorKind::Length => "length",
            ErrorKind::Checksum => "checksum",
            ErrorKind::Timeout => "timeout",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Failed exchanges by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorCounts([u64; ErrorKind::ALL.len()]);

impl ErrorCounts {
    pub fn add(&mut self, kind: ErrorKind) {
        self.0[kind.index()] += 1;
    }

    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Everything a run measured, after warmup.
#[derive(Clone, Debug)]
pub struct Report {
    pub url: String,
    pub connections: usize,
    pub pipeline: usize,
    /// Requests per second asked for; `None` in closed loop.
    pub rate: Option<f64>,
    pub read_rate: Option<u64>,
    pub rcvbuf: Option<usize>,
    /// From the start of measurement to the end of the run.
    pub elapsed: Duration,
    /// Exchanges that ended with a verified response.
    pub ok: u64,
    pub errors: ErrorCounts,
    /// Responses whose body was compared with their `X-Checksum` (and matched).
    pub checksums_verified: u64,
    /// Exchanges still in flight when `--duration` ran out.
    pub unfinished: u64,
    /// Open loop: requests due but not sent when `--duration` ran out.
    pub unsent: u64,
    /// Bytes read from sockets, heads and framing included.
    pub bytes: u64,
    /// Decoded body bytes of verified responses.
    pub body_bytes: u64,
    /// Latency, in nanoseconds, of exchanges that ended with a verified response.
    pub latency: Histogram,
}

/// The quantiles printed, with their JSON/CSV names.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)];

impl Report {
    /// An empty report for `plan`.
    pub fn new(plan: &Plan) -> Report {
        Report {
            url: plan.url(),
            connections: plan.connections,
            pipeline: plan.pipeline,
            rate: match plan.load {
                Load::Closed => None,
                Load::Open { rate } => Some(rate),
            },
            read_rate: plan.read_rate,
            rcvbuf: plan.rcvbuf,
            elapsed: Duration::ZERO,
            ok: 0,
            errors: ErrorCounts::default(),
            checksums_verified: 0,
            unfinished: 0,
            unsent: 0,
            bytes: 0,
            body_bytes: 0,
            latency: Histogram::new(),
        }
    }

    pub fn mode(&self) -> &'static str {
        if self.rate.is_some() {
            "open"
        } else {
            "closed"
        }
    }

    fn seconds(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Verified responses per second.
    pub fn requests_per_second(&self) -> f64 {
        self.ok as f64 / self.seconds()
    }

    pub fn bytes_per_second(&self) -> f64 {
        self.bytes as f64 / self.seconds()
    }

    /// The fields of the JSON object and the CSV row, in order, as (name, rendered value).
    fn fields(&self) -> Vec<(String, String)> {
        let micros = |nanos: u64| format!("{:.3}", nanos as f64 / 1000.0);
        let optional = |value: Option<String>| value.unwrap_or_default();
        let mut fields = vec![
            ("mode".to_owned(), self.mode().to_owned()),
            ("url".to_owned(), self.url.clone()),
            ("connections".to_owned(), self.connections.to_string()),
            ("pipeline".to_owned(), self.pipeline.to_string()),
            (
                "rate".to_owned(),
                optional(self.rate.map(|r| format!("{r}"))),
            ),
            (
                "read_rate".to_owned(),
                optional(self.read_rate.map(|r| r.to_string())),
            ),
            (
                "rcvbuf".to_owned(),
                optional(self.rcvbuf.map(|r| r.to_string())),
            ),
            (
                "seconds".to_owned(),
                format!("{:.6}", self.elapsed.as_secs_f64()),
            ),
            ("requests".to_owned(), self.ok.to_string()),
            ("errors".to_owned(), self.errors.total().to_string()),
        ];
        for kind in ErrorKind::ALL {
            fields.push((
                format!("errors_{}", kind.name()),
                self.errors.get(kind).to_string(),
            ));
        }
        fields.extend([
            (
                "checksums_verified".to_owned(),
                self.checksums_verified.to_string(),
            ),
            ("unfinished".to_owned(), self.unfinished.to_string()),
            ("unsent".to_owned(), self.unsent.to_string()),
            (
                "requests_per_s".to_owned(),
                format!("{:.3}", self.requests_per_second()),
            ),
            ("bytes".to_owned(), self.bytes.to_string()),
            ("body_bytes".to_owned(), self.body_bytes.to_string()),
            (
                "bytes_per_s".to_owned(),
                format!("{:.3}", self.bytes_per_second()),
            ),
            ("latency_min_us".to_owned(), micros(self.latency.min())),
            (
                "latency_mean_us".to_owned(),
                format!("{:.3}", self.latency.mean() / 1000.0),
            ),
        ]);
        for (name, q) in QUANTILES {
            fields.push((
                format!("latency_{name}_us"),
                micros(self.latency.quantile(q)),
            ));
        }
        fields.push(("latency_max_us".to_owned(), micros(self.latency.max())));
        fields
    }

    /// One JSON object on one line; absent options are `null`, errors are also given as an
    /// object by kind.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (name, value)) in self.fields().into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let is_text = matches!(name.as_str(), "mode" | "url");
            let rendered = if is_text {
                json_string(&value)
            } else if value.is_empty() {
                "null".to_owned()
            } else {
                value
            };
            let _ = write!(out, "{}:{rendered}", json_string(&name));
        }
        out.push_str(",\"errors_by_kind\":{");
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            let _ = write!(out, "{sep}\"{}\":{}", kind.name(), self.errors.get(kind));
        }
        out.push_str("}}");
        out
    }

    /// A header line and one row, comma-separated, each ending in a newline; absent options are
    /// empty cells; a cell with a comma or quote is quoted.
    pub fn to_csv(&self) -> String {
        let fields = self.fields();
        let header: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        let row: Vec<String> = fields.iter().map(|(_, value)| csv_cell(value)).collect();
        format!("{}\n{}\n", header.join(","), row.join(","))
    }

    /// A few lines for people.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        let load = match self.rate {
            None => format!(
                "closed loop, {} connections, pipeline {}",
                self.connections, self.pipeline
            ),
            Some(rate) => format!(
                "open loop at {rate} req/s, {} connections, pipeline {}",
                self.connections, self.pipeline
            ),
        };
        let _ = writeln!(
            out,
            "{} for {:.2} s: {load}",
            self.url,
            self.elapsed.as_secs_f64()
        );
        if let Some(rate) = self.read_rate {
            let _ = writeln!(
                out,
                "  slow readers: {} per connection",
                per_second(rate as f64)
            );
        }
        if let Some(size) = self.rcvbuf {
            let _ = writeln!(out, "  SO_RCVBUF asked: {size} bytes");
        }
        let _ = writeln!(
            out,
            "  requests   {} ok, {} errors, {:.1} req/s ({} checksums verified)",
            self.ok,
            self.errors.total(),
            self.requests_per_second(),
            self.checksums_verified
        );
        let _ = writeln!(
            out,
            "  transfer   {} read ({} of bodies), {}",
            bytes(self.bytes as f64),
            bytes(self.body_bytes as f64),
            per_second(self.bytes_per_second())
        );
        let _ = write!(out, "  latency   ");
        let _ = write!(out, " min {}", millis(self.latency.min()));
        for (name, q) in QUANTILES {
            let _ = write!(
                out,
                "  {} {}",
                name.replace('_', "."),
                millis(self.latency.quantile(q))
            );
        }
        let _ = writeln!(out, "  max {}", millis(self.latency.max()));
        if self.errors.total() > 0 {
            let kinds: Vec<String> = ErrorKind::ALL
                .into_iter()
                .filter(|&kind| self.errors.get(kind) > 0)
                .map(|kind| format!("{} {}", kind.name(), self.errors.get(kind)))
                .collect();
            let _ = writeln!(out, "  errors     {}", kinds.join(", "));
        }
        if self.unfinished > 0 || self.unsent > 0 {
            let _ = writeln!(
                out,
                "  at the end {} in flight (unfinished), {} due but unsent",
                self.unfinished, self.unsent
            );
        }
        out
    }
}

fn millis(nanos: u64) -> String {
    format!("{:.3} ms", nanos as f64 / 1e6)
}

fn bytes(count: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = count;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

fn per_second(rate: f64) -> String {
    format!("{}/s", bytes(rate))
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn csv_cell(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut plan = Plan::for_url("http://127.0.0.1:8081/bytes/1K?a=\"b\",c").unwrap();
        plan.load = Load::Open { rate: 1500.0 };
        let mut report = Report::new(&plan);
        report.elapsed = Duration::from_secs(2);
        report.ok = 3000;
        report.errors.add(ErrorKind::Checksum);
        report.errors.add(ErrorKind::Timeout);
        report.errors.add(ErrorKind::Timeout);
        report.bytes = 4_000_000;
        for nanos in [120_000, 250_000, 9_000_000] {
            report.latency.record(nanos);
        }
        report
    }

    /// A strict little JSON checker: the whole text is one value; returns where it ends.
    fn json_value(text: &[u8], at: usize) -> Result<usize, String> {
        let skip = |mut at: usize| {
            while at < text.len() && text[at].is_ascii_whitespace() {
                at += 1;
            }
            at
        };
        let at = skip(at);
        match text.get(at) {
            Some(b'{') | Some(b'[') => {
                let (close, is_object) = if text[at] == b'{' {
                    (b'}', true)
                } else {
                    (b']', false)
                };
                let mut at = skip(at + 1);
                if text.get(at) == Some(&close) {
                    return Ok(at + 1);
                }
                loop {
                    if is_object {
                        if text.get(at) != Some(&b'"') {
                            return Err(format!("key expected at {at}"));
                        }
                        at = skip(json_value(text, at)?);
                        if text.get(at) != Some(&b':') {
                            return Err(format!(": expected at {at}"));
                        }
                        at += 1;
                    }
                    at = skip(json_value(text, at)?);
                    match text.get(at) {
                        Some(b',') => at += 1,
                        Some(&c) if c == close => return Ok(at + 1),
                        _ => return Err(format!(", or close expected at {at}")),
                    }
                }
            }
            Some(b'"') => {
                let mut at = at + 1;
                while let Some(&c) = text.get(at) {
                    match c {
                        b'"' => return Ok(at + 1),
                        b'\\' => at += 2,
                        c if c < 0x20 => return Err(format!("control byte at {at}")),
                        _ => at += 1,
                    }
                }
                Err("unterminated string".to_owned())
            }
            Some(b'n') if text[at..].starts_with(b"null") => Ok(at + 4),
            Some(b't') if text[at..].starts_with(b"true") => Ok(at + 4),
            Some(b'f') if text[at..].starts_with(b"false") => Ok(at + 5),
            Some(b'-' | b'0'..=b'9') => {
                let end = (at..text.len())
                    .find(|&i| !matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .unwrap_or(text.len());
                std::str::from_utf8(&text[at..end])
                    .ok()
                    .and_then(|n| n.parse::<f64>().ok())
                    .ok_or_else(|| format!("bad number at {at}"))?;
                Ok(end)
            }
            _ => Err(format!("value expected at {at}")),
        }
    }

    #[test]
    fn json_is_one_well_formed_object_on_one_line() {
        for report in [sample(), Report::new(&Plan::for_url("http://a/").unwrap())] {
            let json = report.to_json();
            assert!(!json.contains('\n'), "{json}");
            assert_eq!(json_value(json.as_bytes(), 0), Ok(json.len()), "{json}");
            assert!(json.starts_with("{\"mode\":"), "{json}");
        }
        let json = sample().to_json();
        for part in [
            "\"mode\":\"open\"",
            "\"rate\":1500",
            "\"read_rate\":null",
            "\"requests\":3000",
            "\"errors\":3",
            "\"errors_timeout\":2",
            "\"requests_per_s\":1500.000",
            "\"latency_max_us\":9000.000",
            "\"errors_by_kind\":{\"connect\":0,",
            "\"url\":\"http://127.0.0.1:8081/bytes/1K?a=\\\"b\\\",c\"",
        ] {
            assert!(json.contains(part), "{part} not in {json}");
        }
    }

    #[test]
    fn csv_is_a_header_and_one_row_of_the_same_width() {
        let csv = sample().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(csv.ends_with('\n'));
        /// Splits one CSV line, honouring quotes.
        fn cells(line: &str) -> Vec<String> {
            let (mut cells, mut cell, mut quoted) = (Vec::new(), String::new(), false);
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        chars.next();
                        cell.push('"');
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => cells.push(std::mem::take(&mut cell)),
                    (c, _) => cell.push(c),
                }
            }
            cells.push(cell);
            cells
        }
        let header = cells(lines[0]);
        let row = cells(lines[1]);
        assert_eq!(header.len(), row.len());
        let cell = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
        assert_eq!(cell("url"), "http://127.0.0.1:8081/bytes/1K?a=\"b\",c");
        assert_eq!(cell("errors_checksum"), "1");
        assert_eq!(cell("read_rate"), "");
        let p50: f64 = cell("latency_p50_us").parse().unwrap();
        assert!((250.0..252.5).contains(&p50), "{p50}");
        assert_eq!(
            header.iter().filter(|h| h.starts_with("errors_")).count(),
            ErrorKind::ALL.len()
        );
    }

    #[test]
    fn the_human_summary_names_quantiles_and_errors() {
        let text = sample().to_human();
        for part in [
            "open loop at 1500 req/s",
            "3000 ok, 3 errors",
            "p99.9 9.000 ms",
            "checksum 1, timeout 2",
        ] {
            assert!(text.contains(part), "{part} not in {text}");
        }
    }
}
