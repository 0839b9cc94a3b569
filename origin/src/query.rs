//! The query options of an endpoint: `key=value` pairs, percent-decoded and strictly checked.
//!
//! Owns option syntax only; what an option means belongs to its endpoint. Unknown and repeated
//! keys are refused rather than ignored, so a typo in a test fails loudly instead of silently
//! testing the default.

use super::error::RequestError;

/// The options of one request, each key at most once and from the endpoint's allowed list.
#[derive(Debug)]
pub(super) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `query` (the target after `?`), accepting only keys in `allowed`. A key without
    /// `=` has the empty value. `+` is kept as is: this is a URL, not a submitted form.
    pub(super) fn parse(query: &str, allowed: &[&str]) -> Result<Query, RequestError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key)?;
            if !allowed.contains(&key.as_str()) {
                let allowed = if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                };
                return Err(bad(format!("unknown option {key:?} (allowed: {allowed})")));
            }
            if pairs.iter().any(|(seen, _)| *seen == key) {
                return Err(bad(format!("option {key:?} given twice")));
            }
            pairs.push((key, percent_decode(value)?));
        }
        Ok(Query { pairs })
    }

    /// The value given for `key`, if any.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(seen, _)| seen == key)
            .map(|(_, value)| value.as_str())
    }

    /// The decimal value of `key`, `default` when absent; refused outside `range`.
    pub(super) fn number(
        &self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, RequestError> {
        let Some(text) = self.get(key) else {
            return Ok(default);
        };
        match text.parse::<u64>() {
            Ok(n) if range.contains(&n) && text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(bad(format!(
                "{key}={text:?} is not a number in {}..={}",
                range.start(),
                range.end()
            ))),
        }
    }
}

/// A refusal naming the offending parameter.
fn bad(why: String) -> RequestError {
    RequestError::BadParameter(why)
}

/// Decodes `%XX` escapes; refuses malformed escapes and results that are not UTF-8.
fn percent_decode(text: &str) -> Result<String, RequestError> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'%' {
            bytes.push(b);
            continue;
        }
        let escape = rest
            .get(..2)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|_| rest[..2].iter().all(u8::is_ascii_hexdigit));
        let Some(decoded) = escape else {
            return Err(bad(format!("bad percent escape in {text:?}")));
        };
        bytes.push(decoded);
        rest = &rest[2..];
    }
    String::from_utf8(bytes).map_err(|_| bad(format!("{text:?} does not decode to UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_in_keys_and_values() {
        let query = Query::parse("to=%2Fa%3Fb%3D1%26c&s%65ed=+", &["to", "seed"]).unwrap();
        assert_eq!(query.get("to"), Some("/a?b=1&c"));
        assert_eq!(query.get("seed"), Some("+"));
    }

    #[test]
    fn key_without_value_is_empty_and_empty_pairs_are_skipped() {
        let query = Query::parse("&te&&", &["te"]).unwrap();
        assert_eq!(query.get("te"), Some(""));
    }

    #[test]
    fn refuses_unknown_repeated_and_badly_escaped_options() {
        for (query, allowed) in [
            ("sed=1", &["seed"][..]),
            ("x", &[][..]),
            ("seed=1&seed=2", &["seed"][..]),
            ("to=%2", &["to"][..]),
            ("to=%+1", &["to"][..]),
            ("to=%zz", &["to"][..]),
            ("to=%ff", &["to"][..]),
        ] {
            let refused = Query::parse(query, allowed).unwrap_err();
            assert_eq!(refused.status(), 400, "{query}");
        }
    }

    #[test]
    fn numbers_default_when_absent_and_are_refused_outside_their_range() {
        let query = Query::parse("a=7&b=70&c=-1&d=%2B1", &["a", "b", "c", "d"]).unwrap();
        assert_eq!(query.number("a", 0, 0..=10).unwrap(), 7);
        assert_eq!(query.number("missing", 3, 0..=10).unwrap(), 3);
        assert!(query.number("b", 0, 0..=10).is_err());
        assert!(query.number("c", 0, 0..=10).is_err());
        assert!(query.number("d", 0, 0..=10).is_err());
    }
}
