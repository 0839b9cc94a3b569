//! The status endpoint's Prometheus view: the text exposition format 0.0.4, one family per
//! counter and gauge of the table, the labelled counter families, and the per-route
//! histograms with cumulative buckets.
//!
//! What this module must not do: write a family or a series twice (Prometheus rejects the whole
//! scrape), or a label value unescaped.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use super::cell::{upper_bound, LAST_BUCKET};
use super::table::{
    route_totals, total, HistInfo, RouteTotals, Unit, COUNTERS, FAMILIES, GAUGES, HISTS,
    ROUTE_EXCHANGES_HELP, ROUTE_EXCHANGES_NAME,
};
use super::{Counter, Gauge, HistSnapshot, ReactorMetrics};

/// A label value escaped for the Prometheus text format: `\` → `\\`, `"` → `\"`, newline → `\n`.
struct PromLabel<'a>(&'a str);

impl fmt::Display for PromLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A recorded value in its Prometheus unit: microseconds as exact decimal seconds
/// (1024 → `0.001024`), bytes as they are.
struct InUnit(u64, Unit);

impl fmt::Display for InUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let InUnit(v, unit) = *self;
        match unit {
            Unit::Bytes => write!(f, "{v}"),
            Unit::Micros => {
                let (secs, mut frac) = (v / 1_000_000, v % 1_000_000);
                if frac == 0 {
                    return write!(f, "{secs}");
                }
                let mut width = 6;
                while frac % 10 == 0 {
                    frac /= 10;
                    width -= 1;
                }
                write!(f, "{secs}.{frac:0width$}")
            }
        }
    }
}

/// Writes the `# HELP` and `# TYPE` lines that open a Prometheus family.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    put!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// A route's labels in the Prometheus text format: `vhost="…",route="…"`, escaped.
struct RouteLabels<'a>(&'a RouteTotals<'a>);

impl fmt::Display for RouteLabels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RouteTotals { vhost, route, .. } = self.0;
        write!(
            f,
            "vhost=\"{}\",route=\"{}\"",
            PromLabel(vhost),
            PromLabel(route)
        )
    }
}

/// Writes one route's series of a histogram family: cumulative buckets up to the highest
/// non-empty bounded one, `+Inf`, `_sum` and `_count`.
fn prom_histogram(out: &mut String, info: &HistInfo, route: &RouteTotals<'_>, snap: &HistSnapshot) {
    let labels = RouteLabels(route);
    let name = info.name;
    let top = snap.buckets[..LAST_BUCKET].iter().rposition(|&n| n > 0);
    let mut cumulative = 0u64;
    for (k, &n) in snap
        .buckets
        .iter()
        .enumerate()
        .take(top.map_or(0, |t| t + 1))
    {
        cumulative = cumulative.wrapping_add(n);
        let le = InUnit(upper_bound(k), info.unit);
        put!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}\n");
    }
    put!(
        out,
        "{name}_bucket{{{labels},le=\"+Inf\"}} {}\n",
        snap.count
    );
    put!(
        out,
        "{name}_sum{{{labels}}} {}\n",
        InUnit(snap.sum, info.unit)
    );
    put!(out, "{name}_count{{{labels}}} {}\n", snap.count);
}

/// Appends the metrics of all `reactors` to `out` in the Prometheus text exposition format
/// 0.0.4. Counters and gauges are summed across reactors. Route slot `i` is labelled
/// `labels[i]` (vhost, route); slots past `labels.len()` are merged and labelled ("", "other").
/// Only routes with data appear, and only their non-empty histograms. Labels must be distinct,
/// or Prometheus will reject the duplicate series.
pub fn render_prometheus(
    reactors: &[Arc<ReactorMetrics>],
    labels: &[(String, String)],
    out: &mut String,
) {
    for c in &COUNTERS {
        family(out, c.name, c.help, "counter");
        put!(
            out,
            "{} {}\n",
            c.name,
            total(reactors, c.field, Counter::get)
        );
    }
    for f in &FAMILIES {
        family(out, f.name, f.help, "counter");
        for (i, value) in f.values.iter().enumerate() {
            let n = f.total(reactors, i);
            put!(
                out,
                "{}{{{}=\"{}\"}} {n}\n",
                f.name,
                f.label,
                PromLabel(value)
            );
        }
    }
    for g in &GAUGES {
        family(out, g.name, g.help, "gauge");
        put!(out, "{} {}\n", g.name, total(reactors, g.field, Gauge::get));
    }
    let routes = route_totals(reactors, labels);
    family(out, ROUTE_EXCHANGES_NAME, ROUTE_EXCHANGES_HELP, "counter");
    for r in &routes {
        put!(
            out,
            "{ROUTE_EXCHANGES_NAME}{{{}}} {}\n",
            RouteLabels(r),
            r.exchanges
        );
    }
    for (i, info) in HISTS.iter().enumerate() {
        family(out, info.name, info.help, "histogram");
        for r in &routes {
            if r.hists[i].count > 0 {
                prom_histogram(out, info, r, &r.hists[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{busy_reactors, labels};
    use crate::metrics::NOT_STORED_REASONS;
    use std::collections::{HashMap, HashSet};

    /// One parsed Prometheus sample line.
    #[derive(Debug)]
    struct Sample {
        name: String,
        labels: Vec<(String, String)>,
        value: f64,
    }

    impl Sample {
        fn label(&self, key: &str) -> Option<&str> {
            self.labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
    }

    fn is_name_char(c: char, first: bool) -> bool {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
    }

    /// Parses `name{labels} value`, unescaping label values; panics on anything else.
    fn parse_sample(line: &str) -> Sample {
        let end = line
            .char_indices()
            .find(|&(i, c)| !is_name_char(c, i == 0))
            .map_or(line.len(), |(i, _)| i);
        assert!(end > 0, "no metric name: {line:?}");
        let name = line[..end].to_string();
        let mut rest = line[end..].chars().peekable();
        let mut labels = Vec::new();
        if rest.peek() == Some(&'{') {
            rest.next();
            loop {
                let mut key = String::new();
                while let Some(&c) = rest.peek() {
                    if !is_name_char(c, key.is_empty()) || c == ':' {
                        break;
                    }
                    key.push(c);
                    rest.next();
                }
                assert!(!key.is_empty(), "no label name: {line:?}");
                assert_eq!(rest.next(), Some('='), "{line:?}");
                assert_eq!(rest.next(), Some('"'), "{line:?}");
                let mut value = String::new();
                loop {
                    match rest
                        .next()
                        .unwrap_or_else(|| panic!("open label: {line:?}"))
                    {
                        '"' => break,
                        '\\' => match rest.next() {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        },
                        '\n' => panic!("raw newline in label: {line:?}"),
                        c => value.push(c),
                    }
                }
                labels.push((key, value));
                match rest.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("expected , or }} but got {other:?}: {line:?}"),
                }
            }
        }
        assert_eq!(rest.next(), Some(' '), "no space before value: {line:?}");
        let value: String = rest.collect();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value {value:?}: {line:?}"));
        assert!(value.is_finite() && value >= 0.0, "{line:?}");
        Sample {
            name,
            labels,
            value,
        }
    }

    /// Checks `text` against the text exposition format and spoonfeed's rules, returning the
    /// samples: every family opens with HELP then TYPE and is not repeated; every sample belongs
    /// to the family opened last; no series repeats; histogram buckets have increasing `le`,
    /// cumulative counts and end in `+Inf` equal to `_count`.
    fn check_prometheus(text: &str) -> Vec<Sample> {
        assert!(text.ends_with('\n'));
        let mut families = HashSet::new();
        let mut current: Option<(String, String)> = None;
        let mut pending_help: Option<String> = None;
        let mut series = HashSet::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP without text");
                assert!(!help.is_empty() && !help.contains('\\'), "{line:?}");
                assert!(pending_help.is_none(), "HELP without TYPE before {line:?}");
                pending_help = Some(name.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE without type");
                assert_eq!(
                    pending_help.take().as_deref(),
                    Some(name),
                    "TYPE without HELP"
                );
                assert!(
                    ["counter", "gauge", "histogram"].contains(&kind),
                    "{line:?}"
                );
                assert!(name.starts_with("spoonfeed_"), "{line:?}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line:?}");
                assert!(families.insert(name.to_string()), "family repeated: {name}");
                current = Some((name.to_string(), kind.to_string()));
                continue;
            }
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            assert!(pending_help.is_none(), "HELP without TYPE before {line:?}");
            let s = parse_sample(line);
            let (family, kind) = current.as_ref().expect("sample before any TYPE");
            let belongs = if kind == "histogram" {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| s.name == format!("{family}{suffix}"))
            } else {
                s.name == *family
            };
            assert!(belongs, "{line:?} outside its family {family}");
            assert!(
                series.insert(format!("{}{:?}", s.name, s.labels)),
                "series repeated: {line:?}"
            );
            samples.push(s);
        }
        assert!(pending_help.is_none());
        check_buckets(&samples);
        samples
    }

    /// The histogram rules of [`check_prometheus`].
    fn check_buckets(samples: &[Sample]) {
        // (base name, labels without le) -> (le, cumulative count) in output order.
        let mut buckets: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        let mut counts: HashMap<String, f64> = HashMap::new();
        for s in samples {
            let others: Vec<_> = s.labels.iter().filter(|(k, _)| k != "le").collect();
            if let Some(base) = s.name.strip_suffix("_bucket") {
                let le = s.label("le").expect("bucket without le");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("bad le")
                };
                let key = format!("{base}{others:?}");
                buckets.entry(key).or_default().push((le, s.value));
            } else if let Some(base) = s.name.strip_suffix("_count") {
                counts.insert(format!("{base}{others:?}"), s.value);
            }
        }
        assert_eq!(buckets.len(), counts.len());
        for (key, list) in &buckets {
            for pair in list.windows(2) {
                assert!(pair[0].0 < pair[1].0, "le not increasing in {key}");
                assert!(pair[0].1 <= pair[1].1, "buckets not cumulative in {key}");
            }
            let &(le, n) = list.last().unwrap();
            assert_eq!(le, f64::INFINITY, "{key} does not end in +Inf");
            assert_eq!(
                Some(&n),
                counts.get(key),
                "+Inf differs from _count in {key}"
            );
        }
    }

    fn prometheus(reactors: &[Arc<ReactorMetrics>], labels: &[(String, String)]) -> Vec<Sample> {
        let mut out = String::new();
        render_prometheus(reactors, labels, &mut out);
        check_prometheus(&out)
    }

    #[test]
    fn prometheus_output_is_well_formed_and_sums_reactors() {
        let reactors = busy_reactors();
        let samples = prometheus(
            &reactors,
            &labels(&[("localhost", "/perl/"), ("localhost", "/")]),
        );
        let value = |name: &str, label: Option<(&str, &str)>| {
            samples
                .iter()
                .find(|s| s.name == name && label.is_none_or(|(k, v)| s.label(k) == Some(v)))
                .unwrap_or_else(|| panic!("no sample {name} {label:?}"))
                .value
        };
        assert_eq!(value("spoonfeed_requests_total", None), 20.0);
        assert_eq!(
            value("spoonfeed_client_bytes_sent_total", None),
            2.0 * 1048576.0
        );
        assert_eq!(
            value("spoonfeed_responses_total", Some(("class", "2xx"))),
            2.0
        );
        assert_eq!(
            value("spoonfeed_responses_total", Some(("class", "5xx"))),
            0.0
        );
        assert_eq!(
            value(
                "spoonfeed_cache_not_stored_total",
                Some(("reason", "no_store"))
            ),
            2.0
        );
        let not_stored: Vec<_> = samples
            .iter()
            .filter(|s| s.name == "spoonfeed_cache_not_stored_total")
            .map(|s| s.label("reason").expect("a reason"))
            .collect();
        assert_eq!(
            not_stored, NOT_STORED_REASONS,
            "one series per reason, no total"
        );
        assert_eq!(value("spoonfeed_connections_open", None), 6.0);
        assert_eq!(
            value("spoonfeed_route_exchanges_total", Some(("route", "/perl/"))),
            5.0
        );
        assert_eq!(
            value("spoonfeed_backend_hold_seconds_count", Some(("route", "/"))),
            5.0
        );
        // 0 + 900 + 1000 + 250000 + 3000000 µs.
        assert_eq!(
            value("spoonfeed_backend_hold_seconds_sum", Some(("route", "/"))),
            3.2519
        );
        assert_eq!(
            value("spoonfeed_peak_occupancy_bytes_sum", Some(("route", "/"))),
            65536.0
        );
        let hold_buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| {
                s.name == "spoonfeed_backend_hold_seconds_bucket"
                    && s.label("route") == Some("/perl/")
            })
            .collect();
        // Buckets 0..=22 (3 s <= 2^22 µs), then +Inf.
        assert_eq!(hold_buckets.len(), 24);
        assert_eq!(hold_buckets[0].label("le"), Some("0.000001"));
        assert_eq!(hold_buckets[0].value, 1.0);
        assert_eq!(hold_buckets[10].label("le"), Some("0.001024"));
        assert_eq!(hold_buckets[10].value, 3.0);
        assert_eq!(hold_buckets[22].label("le"), Some("4.194304"));
        let peak_les: Vec<_> = samples
            .iter()
            .filter(|s| s.name == "spoonfeed_peak_occupancy_bytes_bucket")
            .filter_map(|s| s.label("le"))
            .collect();
        assert_eq!(peak_les.len(), 2 * 18);
        assert_eq!(&peak_les[15..18], ["32768", "65536", "+Inf"]);
    }

    #[test]
    fn prometheus_output_of_idle_reactors_has_every_family_and_no_routes() {
        let samples = prometheus(&[Arc::new(ReactorMetrics::new())], &labels(&[("a", "/")]));
        assert!(samples
            .iter()
            .all(|s| s.value == 0.0 && s.label("route").is_none()));
        let mut out = String::new();
        render_prometheus(&[], &[], &mut out);
        check_prometheus(&out);
        let types = out.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(
            types,
            COUNTERS.len() + FAMILIES.len() + GAUGES.len() + 1 + HISTS.len()
        );
    }

    #[test]
    fn micros_render_as_exact_decimal_seconds() {
        let shown = |v| InUnit(v, Unit::Micros).to_string();
        assert_eq!(shown(0), "0");
        assert_eq!(shown(1), "0.000001");
        assert_eq!(shown(1024), "0.001024");
        assert_eq!(shown(1_000_000), "1");
        assert_eq!(shown(1_500_000), "1.5");
        assert_eq!(shown(1 << 46), "70368744.177664");
        assert_eq!(shown(u64::MAX), "18446744073709.551615");
        assert_eq!(
            InUnit(u64::MAX, Unit::Bytes).to_string(),
            "18446744073709551615"
        );
    }

    #[test]
    fn hostile_label_values_are_escaped() {
        let m = Arc::new(ReactorMetrics::new());
        m.route(0).exchanges.incr();
        m.route(0).peak_bytes.record(1);
        let nasty = "a\"b\\c\nd\re\tf\u{1}g\u{7f}é}{,=";
        let names = labels(&[(nasty, "/\"quoted\"\\")]);
        let mut text = String::new();
        render_prometheus(&[m], &names, &mut text);
        assert!(text.contains(r#"vhost="a\"b\\c\nd"#), "{text}");
        let samples = check_prometheus(&text);
        let routed: Vec<_> = samples
            .iter()
            .filter(|s| s.label("route").is_some())
            .collect();
        assert_eq!(routed.len(), 1 + 4);
        for s in routed {
            assert_eq!(s.label("vhost"), Some(nasty));
            assert_eq!(s.label("route"), Some("/\"quoted\"\\"));
        }
    }
}
