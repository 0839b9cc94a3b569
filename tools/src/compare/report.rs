//! What `compare` makes of its runs: the median and min–max over rounds, the ratios to direct
//! and to the best peer, and the table, JSON and CSV.
//!
//! Pure: no I/O, no clock. A workload is compared on the number that matters for it
//! ([`Workload::is_slow`]): requests/s for closed-loop workloads (higher is better) and the
//! backend hold p99 for the slow-client scenario (lower is better). A ratio is always "this
//! target's number divided by the other's", so for hold a ratio below 1 is the better one.

use std::fmt::Write as _;

use super::args::{Target, Workload};

/// One run: one workload against one target in one round.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub workload: Workload,
    pub target: Target,
    /// From 0.
    pub round: usize,
    pub requests_per_sec: f64,
    /// Client latency p99 (closed loop: request to last byte; slow: the whole exchange), µs.
    pub latency_p99_us: u64,
    /// The origin's busy time per request, p50 and p99, µs; slow workloads only.
    pub hold_us: Option<(u64, u64)>,
    /// Exchanges that failed (status, length, checksum, I/O, timeout; unfinished ones of a
    /// slow run too).
    pub errors: u64,
    /// Peak resident size of the proxy process (nginx: its worker) over the run; `None` for
    /// direct.
    pub rss_bytes: Option<u64>,
}

/// Median and range of some numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// The rounds of one workload against one target, put together.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub workload: Workload,
    pub target: Target,
    /// Every round's requests/s, in round order.
    pub rounds_rps: Vec<f64>,
    pub rps: Spread,
    /// Median over rounds.
    pub latency_p99_us: f64,
    /// Medians over rounds of the hold p50 and p99; slow workloads only.
    pub hold_us: Option<(f64, f64)>,
    /// Summed over rounds.
    pub errors: u64,
    /// Largest over rounds.
    pub rss_bytes: Option<u64>,
    /// [`Summary::score`] over direct's; `None` without a direct summary or for direct itself.
    pub vs_direct: Option<f64>,
    /// [`Summary::score`] over the best other proxy's, and which one that is.
    pub vs_best_peer: Option<(Target, f64)>,
}

impl Summary {
    /// The number the workload is compared on: median requests/s, or median hold p99 (µs).
    pub fn score(&self) -> f64 {
        match self.hold_us {
            Some((_, p99)) if self.workload.is_slow() => p99,
            _ => self.rps.median,
        }
    }
}

/// The median: the middle value, or the mean of the two middle ones; `None` for none.
/// NaNs sort last and so are ignored unless most values are NaN.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Median, min and max; `None` for none.
pub fn spread(values: &[f64]) -> Option<Spread> {
    Some(Spread {
        median: median(values)?,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// `a / b`, when that is a finite number.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    let r = a / b;
    (b != 0.0 && r.is_finite()).then_some(r)
}

/// The best of `peers` (target and score) for a workload, `is_lower_better` for hold. Ties go
/// to the first.
pub fn best_peer(peers: &[(Target, f64)], is_lower_better: bool) -> Option<(Target, f64)> {
    peers.iter().copied().reduce(|best, next| {
        let is_better = if is_lower_better {
            next.1 < best.1
        } else {
            next.1 > best.1
        };
        if is_better {
            next
        } else {
            best
        }
    })
}

/// Puts `samples` together per workload and target, workloads in the order of `workloads`
/// and targets in [`Target::ALL`]'s, and works out the ratios.
pub fn summarize(workloads: &[Workload], samples: &[Sample]) -> Vec<Summary> {
    let mut out = Vec::new();
    for &workload in workloads {
        let mut group: Vec<Summary> = Target::ALL
            .into_iter()
            .filter_map(|target| {
                let mine: Vec<&Sample> = samples
                    .iter()
                    .filter(|s| s.workload == workload && s.target == target)
                    .collect();
                summary_of(workload, target, &mine)
            })
            .collect();
        let direct = group
            .iter()
            .find(|s| s.target == Target::Direct)
            .map(Summary::score);
        let scores: Vec<(Target, f64)> = group
            .iter()
            .filter(|s| s.target.is_proxy())
            .map(|s| (s.target, s.score()))
            .collect();
        for summary in &mut group {
            if summary.target == Target::Direct {
                continue;
            }
            let score = summary.score();
            summary.vs_direct = direct.and_then(|d| ratio(score, d));
            let peers: Vec<(Target, f64)> = scores
                .iter()
                .copied()
                .filter(|(t, _)| *t != summary.target)
                .collect();
            summary.vs_best_peer = best_peer(&peers, workload.is_slow())
                .and_then(|(peer, best)| Some((peer, ratio(score, best)?)));
        }
        out.extend(group);
    }
    out
}

fn summary_of(workload: Workload, target: Target, samples: &[&Sample]) -> Option<Summary> {
    let rounds_rps: Vec<f64> = samples.iter().map(|s| s.requests_per_sec).collect();
    let rps = spread(&rounds_rps)?;
    let latency: Vec<f64> = samples.iter().map(|s| s.latency_p99_us as f64).collect();
    let holds: Vec<(u64, u64)> = samples.iter().filter_map(|s| s.hold_us).collect();
    let hold_us = if holds.is_empty() {
        None
    } else {
        let p50: Vec<f64> = holds.iter().map(|h| h.0 as f64).collect();
        let p99: Vec<f64> = holds.iter().map(|h| h.1 as f64).collect();
        Some((median(&p50)?, median(&p99)?))
    };
    Some(Summary {
        workload,
        target,
        rps,
        latency_p99_us: median(&latency)?,
        hold_us,
        errors: samples.iter().map(|s| s.errors).sum(),
        rss_bytes: samples.iter().filter_map(|s| s.rss_bytes).max(),
        rounds_rps,
        vs_direct: None,
        vs_best_peer: None,
    })
}

/// The table for people.
pub fn to_table(summaries: &[Summary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<10} {:>10} {:>21} {:>9} {:>9} {:>9} {:>9} {:>18} {:>8} {:>6}",
        "workload",
        "target",
        "req/s",
        "min-max",
        "p99 ms",
        "hold p50",
        "hold p99",
        "vs direct",
        "vs best peer",
        "RSS MiB",
        "errors"
    );
    let mut last = None;
    for s in summaries {
        let workload = if last == Some(s.workload) {
            String::new()
        } else {
            s.workload.to_string()
        };
        last = Some(s.workload);
        let (hold_p50, hold_p99) = match s.hold_us {
            Some((p50, p99)) => (ms(p50), ms(p99)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let peer = match s.vs_best_peer {
            Some((peer, r)) => format!("{r:.2} ({peer})"),
            None => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<18} {:<10} {:>10.0} {:>21} {:>9} {:>9} {:>9} {:>9} {:>18} {:>8} {:>6}",
            workload,
            s.target.name(),
            s.rps.median,
            format!("{:.0}-{:.0}", s.rps.min, s.rps.max),
            ms(s.latency_p99_us),
            hold_p50,
            hold_p99,
            s.vs_direct.map_or("-".to_owned(), |r| format!("{r:.2}")),
            peer,
            s.rss_bytes
                .map_or("-".to_owned(), |b| format!("{:.1}", b as f64 / 1048576.0)),
            s.errors
        );
    }
    out.push_str(
        "ratios: closed-loop workloads compare median req/s (higher is better); slow ones \
         compare median backend hold p99 (lower is better). hold: the origin's busy time per \
         request, ms.\n",
    );
    out
}

fn ms(us: f64) -> String {
    format!("{:.2}", us / 1000.0)
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 15] = [
    "workload",
    "target",
    "rounds",
    "rps_median",
    "rps_min",
    "rps_max",
    "latency_p99_us",
    "hold_p50_us",
    "hold_p99_us",
    "vs_direct",
    "vs_best_peer",
    "best_peer",
    "rss_bytes",
    "errors",
    "rps_rounds",
];

/// A header line and one row per summary (RFC 4180; every field is free of commas and quotes
/// but `rps_rounds`, which is quoted).
pub fn to_csv(summaries: &[Summary]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    for s in summaries {
        let _ = writeln!(
            out,
            "{},{},{},{:.1},{:.1},{:.1},{:.0},{},{},{},{},{},{},{},\"{}\"",
            s.workload,
            s.target,
            s.rounds_rps.len(),
            s.rps.median,
            s.rps.min,
            s.rps.max,
            s.latency_p99_us,
            s.hold_us.map_or(String::new(), |h| format!("{:.0}", h.0)),
            s.hold_us.map_or(String::new(), |h| format!("{:.0}", h.1)),
            opt(s.vs_direct),
            opt(s.vs_best_peer.map(|p| p.1)),
            s.vs_best_peer.map_or("", |p| p.0.name()),
            s.rss_bytes.map_or(String::new(), |b| b.to_string()),
            s.errors,
            rounds_list(&s.rounds_rps, ",")
        );
    }
    out
}

fn rounds_list(values: &[f64], separator: &str) -> String {
    values
        .iter()
        .map(|v| format!("{v:.1}"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// One JSON object on one line: `settings` (given as already-encoded JSON members) and
/// `results`, one object per summary; absent numbers are `null`.
pub fn to_json(settings: &str, summaries: &[Summary]) -> String {
    let num = |v: Option<f64>| v.map_or("null".to_owned(), |v| format!("{v:.4}"));
    let results: Vec<String> = summaries
        .iter()
        .map(|s| {
            format!(
                "{{\"workload\":\"{}\",\"target\":\"{}\",\"rps_median\":{:.1},\"rps_min\":{:.1},\
                 \"rps_max\":{:.1},\"rps_rounds\":[{}],\"latency_p99_us\":{:.0},\
                 \"hold_p50_us\":{},\"hold_p99_us\":{},\"vs_direct\":{},\"vs_best_peer\":{},\
                 \"best_peer\":{},\"rss_bytes\":{},\"errors\":{}}}",
                s.workload,
                s.target,
                s.rps.median,
                s.rps.min,
                s.rps.max,
                rounds_list(&s.rounds_rps, ","),
                s.latency_p99_us,
                num(s.hold_us.map(|h| h.0)),
                num(s.hold_us.map(|h| h.1)),
                num(s.vs_direct),
                num(s.vs_best_peer.map(|p| p.1)),
                s.vs_best_peer
                    .map_or("null".to_owned(), |p| format!("\"{}\"", p.0)),
                s.rss_bytes.map_or("null".to_owned(), |b| b.to_string()),
                s.errors
            )
        })
        .collect();
    format!(
        "{{\"settings\":{{{settings}}},\"results\":[{}]}}",
        results.join(",")
    )
}

/// `text` as a JSON string, quotes included.
pub fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
