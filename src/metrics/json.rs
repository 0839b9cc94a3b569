//! The status endpoint's JSON view: one object, `{"counters":{…},"gauges":{…},"routes":[…]}`,
//! with the table's JSON keys; `tools/src/sweep/status.rs` reads it, and the README documents it.
//!
//! What this module must not do: write anything but a whole number as a value under `counters`
//! or `gauges` (readers take every member there as a number), or a string unescaped.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use super::table::{route_totals, total, COUNTERS, FAMILIES, GAUGES, HISTS, PERCENTILES};
use super::{Counter, Gauge, ReactorMetrics};

/// A string as a JSON string literal: quoted, with `"`, `\` and control characters escaped.
struct JsonStr<'a>(&'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c < ' ' => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Appends the metrics of all `reactors` to `out` as one JSON object, no trailing newline:
/// `{"counters":{…},"gauges":{…},"routes":[…]}`. Counters (keyed by field name, a labelled
/// family's members by its key and label value: `responses_1xx`, `cache_not_stored_size` …) and
/// gauges are summed across reactors. Routes are labelled and
/// merged as in [`render_prometheus`](super::render_prometheus) and listed when they have data;
/// each has `vhost`, `route`, `exchanges` and one object per histogram with `count`, `sum`,
/// `p50`, `p90`, `p99` and `max_bucket` (bucket upper bounds, as
/// [`HistSnapshot::quantile`](super::HistSnapshot::quantile) returns them).
pub fn render_json(
    reactors: &[Arc<ReactorMetrics>],
    labels: &[(String, String)],
    out: &mut String,
) {
    out.push_str("{\"counters\":{");
    for (i, c) in COUNTERS.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        put!(
            out,
            "{comma}\"{}\":{}",
            c.key,
            total(reactors, c.field, Counter::get)
        );
    }
    for f in &FAMILIES {
        for (i, value) in f.values.iter().enumerate() {
            put!(out, ",\"{}_{value}\":{}", f.key, f.total(reactors, i));
        }
    }
    out.push_str("},\"gauges\":{");
    for (i, g) in GAUGES.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        put!(
            out,
            "{comma}\"{}\":{}",
            g.key,
            total(reactors, g.field, Gauge::get)
        );
    }
    out.push_str("},\"routes\":[");
    for (i, r) in route_totals(reactors, labels).iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        put!(
            out,
            "{comma}{{\"vhost\":{},\"route\":{},\"exchanges\":{}",
            JsonStr(r.vhost),
            JsonStr(r.route),
            r.exchanges
        );
        for (info, snap) in HISTS.iter().zip(&r.hists) {
            put!(
                out,
                ",\"{}\":{{\"count\":{},\"sum\":{}",
                info.key,
                snap.count,
                snap.sum
            );
            for (key, q) in PERCENTILES {
                put!(out, ",\"{key}\":{}", snap.quantile(q));
            }
            put!(out, ",\"max_bucket\":{}}}", snap.quantile(1.0));
        }
        out.push('}');
    }
    out.push_str("]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{busy_reactors, labels};

    /// A parsed JSON value; numbers are kept as the unsigned integers spoonfeed writes.
    #[derive(Debug, PartialEq)]
    enum Json {
        Num(u64),
        Str(String),
        Arr(Vec<Json>),
        Obj(Vec<(String, Json)>),
    }

    impl Json {
        fn get(&self, key: &str) -> &Json {
            match self {
                Json::Obj(fields) => {
                    &fields
                        .iter()
                        .find(|(k, _)| k == key)
                        .unwrap_or_else(|| panic!("no key {key}"))
                        .1
                }
                other => panic!("{other:?} is not an object"),
            }
        }

        fn num(&self) -> u64 {
            match self {
                Json::Num(n) => *n,
                other => panic!("{other:?} is not a number"),
            }
        }

        fn str(&self) -> &str {
            match self {
                Json::Str(s) => s,
                other => panic!("{other:?} is not a string"),
            }
        }

        fn arr(&self) -> &[Json] {
            match self {
                Json::Arr(items) => items,
                other => panic!("{other:?} is not an array"),
            }
        }
    }

    /// A strict parser for the subset of JSON spoonfeed writes (objects, arrays, strings,
    /// unsigned integers, no whitespace). Rejects duplicate keys and raw control characters.
    struct JsonParser<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl JsonParser<'_> {
        fn parse(text: &str) -> Json {
            let mut p = JsonParser {
                bytes: text.as_bytes(),
                at: 0,
            };
            let value = p.value();
            assert_eq!(p.at, p.bytes.len(), "trailing bytes after the value");
            value
        }

        fn next(&mut self) -> u8 {
            let b = *self.bytes.get(self.at).expect("unexpected end of JSON");
            self.at += 1;
            b
        }

        fn expect(&mut self, want: u8) {
            let got = self.next();
            assert_eq!(got as char, want as char, "at byte {}", self.at - 1);
        }

        fn value(&mut self) -> Json {
            match self
                .bytes
                .get(self.at)
                .copied()
                .expect("unexpected end of JSON")
            {
                b'{' => {
                    self.at += 1;
                    let mut fields: Vec<(String, Json)> = Vec::new();
                    if self.bytes[self.at] == b'}' {
                        self.at += 1;
                        return Json::Obj(fields);
                    }
                    loop {
                        let key = self.string();
                        assert!(fields.iter().all(|(k, _)| *k != key), "duplicate {key}");
                        self.expect(b':');
                        fields.push((key, self.value()));
                        match self.next() {
                            b',' => continue,
                            b'}' => return Json::Obj(fields),
                            b => panic!("expected , or }} at {}, got {:?}", self.at, b as char),
                        }
                    }
                }
                b'[' => {
                    self.at += 1;
                    let mut items = Vec::new();
                    if self.bytes[self.at] == b']' {
                        self.at += 1;
                        return Json::Arr(items);
                    }
                    loop {
                        items.push(self.value());
                        match self.next() {
                            b',' => continue,
                            b']' => return Json::Arr(items),
                            b => panic!("expected , or ] at {}, got {:?}", self.at, b as char),
                        }
                    }
                }
                b'"' => Json::Str(self.string()),
                b'0'..=b'9' => {
                    let start = self.at;
                    while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
                        self.at += 1;
                    }
                    let digits = std::str::from_utf8(&self.bytes[start..self.at]).unwrap();
                    assert!(digits == "0" || !digits.starts_with('0'), "leading zero");
                    Json::Num(digits.parse().expect("number out of range"))
                }
                b => panic!("unexpected {:?} at {}", b as char, self.at),
            }
        }

        fn string(&mut self) -> String {
            self.expect(b'"');
            let mut bytes = Vec::new();
            loop {
                match self.next() {
                    b'"' => return String::from_utf8(bytes).expect("string is not UTF-8"),
                    b'\\' => match self.next() {
                        b'"' => bytes.push(b'"'),
                        b'\\' => bytes.push(b'\\'),
                        b'/' => bytes.push(b'/'),
                        b'b' => bytes.push(8),
                        b'f' => bytes.push(12),
                        b'n' => bytes.push(b'\n'),
                        b'r' => bytes.push(b'\r'),
                        b't' => bytes.push(b'\t'),
                        b'u' => {
                            let hex = std::str::from_utf8(&self.bytes[self.at..self.at + 4]);
                            let code = u32::from_str_radix(hex.unwrap(), 16).expect("bad \\u");
                            self.at += 4;
                            let c = char::from_u32(code).expect("surrogate in \\u");
                            bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        b => panic!("bad escape \\{}", b as char),
                    },
                    b if b < 0x20 => panic!("raw control byte {b:#x} in a string"),
                    b => bytes.push(b),
                }
            }
        }
    }

    fn json(reactors: &[Arc<ReactorMetrics>], labels: &[(String, String)]) -> Json {
        let mut out = String::new();
        render_json(reactors, labels, &mut out);
        JsonParser::parse(&out)
    }

    #[test]
    fn json_output_is_well_formed_and_sums_reactors() {
        let reactors = busy_reactors();
        let doc = json(&reactors, &labels(&[("localhost", "/perl/")]));
        let Json::Obj(top) = &doc else {
            panic!("not an object")
        };
        let keys: Vec<_> = top.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["counters", "gauges", "routes"]);
        let counters = doc.get("counters");
        assert_eq!(counters.get("requests").num(), 20);
        assert_eq!(counters.get("responses_4xx").num(), 2);
        assert_eq!(counters.get("bytes_to_clients").num(), 2 << 20);
        let Json::Obj(all) = counters else {
            panic!("counters not an object")
        };
        let members: usize = FAMILIES.iter().map(|f| f.values.len()).sum();
        assert_eq!(all.len(), COUNTERS.len() + members);
        assert_eq!(counters.get("cache_not_stored_no_store").num(), 2);
        assert_eq!(counters.get("cache_not_stored_write").num(), 0);
        assert!(
            all.iter().all(|(k, _)| k != "cache_not_stored"),
            "no total beside the family"
        );
        assert_eq!(doc.get("gauges").get("connections_open").num(), 6);
        let routes = doc.get("routes").arr();
        assert_eq!(routes.len(), 2);
        assert_eq!(
            (routes[0].get("vhost").str(), routes[0].get("route").str()),
            ("localhost", "/perl/")
        );
        assert_eq!(
            (routes[1].get("vhost").str(), routes[1].get("route").str()),
            ("", "other")
        );
        let hold = routes[0].get("backend_hold_us");
        assert_eq!(hold.get("count").num(), 5);
        assert_eq!(hold.get("sum").num(), 3_251_900);
        assert_eq!(hold.get("p50").num(), 1024);
        assert_eq!(hold.get("p90").num(), 1 << 22);
        assert_eq!(hold.get("p99").num(), 1 << 22);
        assert_eq!(hold.get("max_bucket").num(), 1 << 22);
        for info in &HISTS {
            assert!(
                routes[1].get(info.key).get("count").num() > 0,
                "{}",
                info.key
            );
        }
        let empty = json(&[], &[]);
        assert_eq!(empty.get("routes").arr(), &[]);
        assert_eq!(empty.get("counters").get("aborted").num(), 0);
    }

    #[test]
    fn hostile_label_values_are_escaped() {
        let m = Arc::new(ReactorMetrics::new());
        m.route(0).exchanges.incr();
        let nasty = "a\"b\\c\nd\re\tf\u{1}g\u{7f}é}{,=";
        let names = labels(&[(nasty, "/\"quoted\"\\")]);
        let mut text = String::new();
        render_json(&[m], &names, &mut text);
        assert!(text.contains(r#""a\"b\\c\nd\re\tf\u0001g"#), "{text}");
        let doc = JsonParser::parse(&text);
        let route = &doc.get("routes").arr()[0];
        assert_eq!(route.get("vhost").str(), nasty);
        assert_eq!(route.get("route").str(), "/\"quoted\"\\");
    }
}
