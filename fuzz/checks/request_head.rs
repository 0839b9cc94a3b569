//! What the fuzzer checks of `parse_request` and `encode_backend_request`.
//!
//! Shared by the `request_head` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! Properties: no panic on any input; the outcome is the same whether the bytes arrive whole,
//! split in two, or byte by byte; an accepted head lies within the input and every span indexes
//! it; an input still incomplete is shorter than `Limits::max_head_len`; and the head re-encoded
//! for the backend is itself a valid request head.

use std::net::{IpAddr, Ipv4Addr};

use spoonfeed::http1::{
    parse_request, parse_request_incremental, HeadProgress, Limits, RequestBody, RequestError,
    RequestHead, TargetForm,
};
use spoonfeed::proxy::forward::{encode_backend_request, BackendRequest, Forwarded, ViaMode};

/// Small limits, so the fuzzer reaches every limit quickly; HTTP/0.9 simple requests taken,
/// so that path is fuzzed too.
const LIMITS: Limits = Limits {
    request_line: 128,
    field_size: 96,
    fields: 12,
    allow_http09: true,
};

/// Feeds `input` in prefixes ending at `cuts`, then whole; the first answer that is not
/// "incomplete" wins.
fn feed(
    input: &[u8],
    cuts: impl Iterator<Item = usize>,
) -> Result<Option<RequestHead>, RequestError> {
    let mut progress = HeadProgress::default();
    for cut in cuts.chain([input.len()]) {
        let result = parse_request_incremental(&input[..cut], &LIMITS, &mut progress);
        if result != Ok(None) {
            return result;
        }
    }
    Ok(None)
}

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    let whole = parse_request(input, &LIMITS);
    assert_eq!(
        feed(input, [input.len() / 2].into_iter()),
        whole,
        "split in two"
    );
    assert_eq!(feed(input, 1..input.len()), whole, "byte by byte");

    let head = match whole {
        Ok(Some(head)) => head,
        Ok(None) => {
            assert!(input.len() < LIMITS.max_head_len());
            return;
        }
        Err(error) => {
            assert!((400..=505).contains(&error.status()));
            assert!(!error.reason().is_empty());
            return;
        }
    };
    assert!(head.head_len <= input.len() && head.head_len <= LIMITS.max_head_len());
    let mut spans = vec![head.method_span, head.target, head.path];
    spans.extend(head.host);
    if let TargetForm::Absolute { authority } = head.form {
        spans.push(authority);
    }
    for header in &head.headers {
        spans.extend([header.name, header.value]);
    }
    for span in spans {
        assert!(
            span.start <= span.end && span.end <= head.head_len,
            "{span:?}"
        );
    }

    let mut path = Vec::new();
    if head.path_lacks_slash(input) {
        path.push(b'/');
    }
    path.extend_from_slice(head.path.of(input));
    let facts = Forwarded {
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        host: head.host.map(|h| h.of(input)),
        server: b"proxy",
        proto: b"https",
    };
    let req = BackendRequest {
        path: &path,
        host: b"backend:8080",
        body: head.body,
        forwarded: Some(facts),
        rfc7239: Some(facts),
        via: ViaMode::Full,
        via_by: b"proxy:80",
        http10: head.simple,
        extra: b"",
        keep_alive: head.wants_keep_alive(),
        upgrade: None,
    };
    let mut out = Vec::new();
    encode_backend_request(input, &head, &req, &mut out);
    let again = parse_request(&out, &Limits::APACHE_DEFAULTS);
    match again {
        Ok(Some(again)) => {
            assert_eq!(again.head_len, out.len());
            assert_eq!(again.method, head.method);
            let sent_body = match head.body {
                RequestBody::None if head.method.expects_content() => RequestBody::Length(0),
                body => body,
            };
            assert_eq!(again.body, sent_body);
            assert!(!again.expect_continue);
        }
        other => panic!(
            "re-encoded head {:?} parsed as {other:?}",
            String::from_utf8_lossy(&out)
        ),
    }
}
