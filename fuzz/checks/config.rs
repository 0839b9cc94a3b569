//! What the fuzzer checks of `config::parse_str` and `config::dump`.
//!
//! Shared by the `config` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! Properties: no panic on any input (UTF-8 as is, anything else lossily converted); and a
//! configuration that loads dumps to a file that loads again and dumps to the same text, as
//! `dump` promises (`dump(parse(dump(c))) == dump(c)`).
//!
//! Backend host names are resolved while parsing, and a fuzzer must not send queries to the
//! resolver: inputs whose URLs name a host other than an IP literal are skipped. The check runs
//! on the lexer's arguments rather than on the raw text, because a `\` continuation can join
//! `http:/` and `/host` into one URL, and a host name may start with a digit.

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::path::Path;

use spoonfeed::config::lexer::{lex, Node};
use spoonfeed::config::{dump, parse_str};

const FILE: &str = "fuzz.conf";

/// Whether `word` is free of URLs whose host would go to the resolver: after each `://` the
/// host, up to `/`, `?` or `:`, is an IPv4 literal or starts with `[` (an IPv6 literal, or an
/// error). Stricter than `values::url`, which splits at the first `://` only.
fn names_no_host(word: &str) -> bool {
    word.match_indices("://").all(|(at, sep)| {
        let rest = &word[at + sep.len()..];
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        let host = authority.split(':').next().unwrap_or("");
        authority.starts_with('[') || host.parse::<Ipv4Addr>().is_ok()
    })
}

/// Whether every directive and section in `nodes` passes [`names_no_host`].
fn resolves_nothing(nodes: &[Node]) -> bool {
    nodes.iter().all(|node| {
        let (line, body) = match node {
            Node::Directive(line) => (line, &[][..]),
            Node::Section { open, body } => (open, &body[..]),
        };
        names_no_host(&line.name)
            && line.args.iter().all(|arg| names_no_host(arg))
            && resolves_nothing(body)
    })
}

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    let text: Cow<str> = String::from_utf8_lossy(input);
    let file = Path::new(FILE);
    if text.contains("://") && !resolves_nothing(&lex(&text, file).0) {
        return;
    }
    let Ok(loaded) = parse_str(&text, file) else {
        return;
    };
    let first = dump(&loaded.config);
    let again = match parse_str(&first, file) {
        Ok(again) => again,
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!(
                "dump does not load again:\n{}\n--- dump ---\n{first}",
                errors.join("\n")
            )
        }
    };
    let second = dump(&again.config);
    assert_eq!(first, second, "dump of the reloaded dump differs");
}
