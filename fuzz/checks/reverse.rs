//! What the fuzzer checks of `proxy::reverse::rewrite` (`ProxyPassReverse`).
//!
//! Shared by the `reverse` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! The input is settings, one per line, then an empty line, then the header value (any bytes, to
//! the end of the input; without an empty line the value is empty):
//!
//! ```text
//! https               the client connected with https (else http)
//! host VALUE          the client's Host field (absent: none; VALUE may be empty)
//! fallback VALUE      ServerName[:port], used without a Host (default: fallback.example)
//! rule PATH URL       ProxyPassReverse PATH URL, in order (at most MAX_RULES)
//! ```
//!
//! Other lines are ignored, and non-UTF-8 in `fallback` and `rule` is lossily converted. The
//! rules are not validated as `config` would: `rewrite` must not panic whatever they hold.
//!
//! Properties, each promised by `rewrite`'s docs:
//! - no panic;
//! - the first rule (in order) that rewrites the value on its own is the one that rewrites it
//!   among all the rules, and a value no rule rewrites is left unchanged (`None`);
//! - a rewritten value is `scheme://host` of the client's view, the rule's path, then the rest
//!   of the value byte for byte, where the value began with the rule's URL (compared without
//!   case in the scheme and authority, exactly in the path; for a URL that is a path, the
//!   value's path began with it), followed by the end, `/`, `?` or `#` unless the URL ends in
//!   `/`; a `/` starting the rest is dropped when the path ends in `/`;
//! - so a rewritten value holds CR, LF or NUL only if the value, the host used or the rule's
//!   path did (the caller vouches for the last two: the HTTP parser and `config` refuse them);
//! - a value made of a rule's URL, with its scheme and authority in any case, followed by `/x`,
//!   is rewritten by that rule (for a URL that is a path: when the value holds no `://`).
//!
//! Rewriting twice is not idempotent (`ProxyPassReverse /a/ /` maps `/x` to `…/a/x`, then to
//! `…/a/a/x`), and nothing promises it is: the proxy rewrites each header once. The output is
//! checked again as a value, with the same properties.

use std::path::PathBuf;

use spoonfeed::config::{Origin, ReverseRule, Scheme};
use spoonfeed::proxy::reverse::{rewrite, ClientView};

/// Most rules read from one input; more add little but cost quadratic time.
const MAX_RULES: usize = 8;

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    let (settings, value) = match input.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&input[..at], &input[at + 2..]),
        None => (input, &[][..]),
    };
    let mut scheme = Scheme::Http;
    let mut host = None;
    let mut fallback = "fallback.example".to_owned();
    let mut rules = Vec::new();
    for line in settings.split(|b| *b == b'\n') {
        let (word, rest) = match line.iter().position(|b| *b == b' ') {
            Some(at) => (&line[..at], &line[at + 1..]),
            None => (line, &[][..]),
        };
        match word {
            b"https" => scheme = Scheme::Https,
            b"host" => host = Some(rest),
            b"fallback" => fallback = String::from_utf8_lossy(rest).into_owned(),
            b"rule" if rules.len() < MAX_RULES => {
                let (path, url) = match rest.iter().position(|b| *b == b' ') {
                    Some(at) => (&rest[..at], &rest[at + 1..]),
                    None => (rest, &[][..]),
                };
                rules.push(ReverseRule {
                    path: String::from_utf8_lossy(path).into_owned(),
                    url: String::from_utf8_lossy(url).into_owned(),
                    origin: Origin {
                        file: PathBuf::from("fuzz.conf"),
                        line: rules.len() + 1,
                    },
                });
            }
            _ => {}
        }
    }
    let view = ClientView {
        scheme,
        host,
        fallback: &fallback,
    };
    if let Some(out) = check_value(&rules, value, &view) {
        check_value(&rules, &out, &view);
    }
    for rule in &rules {
        check_probes(rule, &view);
    }
}

/// Checks one value against `rules`, rule by rule and all together; returns the rewrite.
fn check_value(rules: &[ReverseRule], value: &[u8], view: &ClientView<'_>) -> Option<Vec<u8>> {
    let each: Vec<Option<Vec<u8>>> = rules
        .iter()
        .map(|rule| {
            let out = rewrite(std::slice::from_ref(rule), value, view);
            if let Some(out) = &out {
                check_rewritten(rule, value, view, out);
            }
            out
        })
        .collect();
    let all = rewrite(rules, value, view);
    let first = each.into_iter().flatten().next();
    assert_eq!(all, first, "{}: not the first rule's rewrite", show(value));
    all
}

/// The host a rewritten value names: the client's `Host`, or the fallback without one.
fn host_used<'a>(view: &ClientView<'a>) -> &'a [u8] {
    match view.host {
        Some(host) if !host.is_empty() => host,
        _ => view.fallback.as_bytes(),
    }
}

/// Checks that `out`, the rewrite of `value` by `rule` alone, is built as promised.
fn check_rewritten(rule: &ReverseRule, value: &[u8], view: &ClientView<'_>, out: &[u8]) {
    let (url, path) = (rule.url.as_bytes(), rule.path.as_bytes());
    let context = || format!("{} by {rule:?} gave {}", show(value), show(out));
    let prefix = [
        view.scheme.as_str().as_bytes(),
        b"://",
        host_used(view),
        path,
    ]
    .concat();
    assert!(out.starts_with(&prefix), "{}", context());
    let tail = &out[prefix.len()..];
    assert!(value.ends_with(tail), "{}: rest not kept", context());
    // `value` is `matched` (ending with the URL), then the rest; a `/` starting the rest is
    // dropped from the output when the path ends in `/`.
    let matched = &value[..value.len() - tail.len()];
    let matched = match matched.strip_suffix(b"/") {
        Some(shorter) if path.ends_with(b"/") && url_ends(value, shorter, url) => shorter,
        _ => {
            assert!(
                !(path.ends_with(b"/") && tail.starts_with(b"/")),
                "{}: two slashes kept",
                context()
            );
            matched
        }
    };
    assert!(
        url_ends(value, matched, url),
        "{}: URL not matched",
        context()
    );
    if !url.ends_with(b"/") {
        let next = value.get(matched.len()).copied();
        assert!(
            matches!(next, None | Some(b'/' | b'?' | b'#')),
            "{}: no boundary after the URL",
            context()
        );
    }
    let is_control = |b: &u8| matches!(b, b'\r' | b'\n' | 0);
    if out.iter().any(is_control) {
        assert!(
            [value, host_used(view), path]
                .iter()
                .any(|part| part.iter().any(is_control)),
            "{}: CR, LF or NUL from nowhere",
            context()
        );
    }
}

/// Whether `matched`, a prefix of `value`, ends with a match of `url`: `matched` is the URL,
/// its scheme and authority compared without case; or, for a URL that is a path, `matched`
/// ends with it exactly where the path of `value` begins (at its first `/` after `://`, or at 0
/// when it has none).
fn url_ends(value: &[u8], matched: &[u8], url: &[u8]) -> bool {
    if url.starts_with(b"/") {
        let path_start = match value.windows(3).position(|w| w == b"://") {
            Some(at) => value[at + 3..]
                .iter()
                .position(|b| *b == b'/')
                .map_or(0, |slash| at + 3 + slash),
            None => 0,
        };
        matched.len() == path_start + url.len() && matched[path_start..] == *url
    } else {
        let end = authority_end(url);
        matched.len() == url.len()
            && matched[..end].eq_ignore_ascii_case(&url[..end])
            && matched[end..] == url[end..]
    }
}

/// Where the scheme and authority of `url` end: at the first `/` after `://` (`config` refuses
/// `?` and `#` in these URLs), at its end without a `/`, or at 0 without `://`.
fn authority_end(url: &[u8]) -> usize {
    match url.windows(3).position(|w| w == b"://") {
        Some(at) => url[at + 3..]
            .iter()
            .position(|b| *b == b'/')
            .map_or(url.len(), |slash| at + 3 + slash),
        None => 0,
    }
}

/// A value made of `rule`'s URL and `/x` is rewritten by it, whatever the case of the URL's
/// scheme and authority. Skipped for an empty URL (which `rewrite` never matches and `config`
/// refuses) and for a value holding `://` after a URL that is a path, since the path of
/// such a value starts elsewhere.
fn check_probes(rule: &ReverseRule, view: &ClientView<'_>) {
    let url = rule.url.as_bytes();
    let probe = [url, b"/x"].concat();
    if url.is_empty() || (url.starts_with(b"/") && probe.windows(3).any(|w| w == b"://")) {
        return;
    }
    let rule = std::slice::from_ref(rule);
    let out = rewrite(rule, &probe, view);
    assert!(out.is_some(), "{} not rewritten by {rule:?}", show(&probe));
    let end = authority_end(url);
    let mut shouted = probe.clone();
    shouted[..end].make_ascii_uppercase();
    let mut whispered = probe.clone();
    whispered[..end].make_ascii_lowercase();
    for probe in [shouted, whispered] {
        assert_eq!(rewrite(rule, &probe, view), out, "{}", show(&probe));
    }
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}
