//! What the fuzzer checks of `parse_response`, `response_body` and `encode_client_response`.
//!
//! Shared by the `response_head` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! Properties: no panic on any input; the outcome is the same whether the bytes arrive whole,
//! split in two, or byte by byte; an accepted head lies within the input and within `MAX_HEAD`;
//! and the head re-encoded for the client is itself a valid response head.

use spoonfeed::http1::{
    parse_response, parse_response_incremental, response_body, HeadProgress, Method, ResponseBody,
    ResponseError, ResponseHead, Version,
};
use spoonfeed::proxy::forward::{encode_client_response, ClientFraming, ClientResponse, ViaMode};

/// Small limits, so the fuzzer reaches them quickly.
const MAX_HEAD: usize = 512;
const MAX_FIELDS: usize = 12;

fn feed(
    input: &[u8],
    cuts: impl Iterator<Item = usize>,
) -> Result<Option<ResponseHead>, ResponseError> {
    let mut progress = HeadProgress::default();
    for cut in cuts.chain([input.len()]) {
        let result = parse_response_incremental(&input[..cut], MAX_HEAD, MAX_FIELDS, &mut progress);
        if result != Ok(None) {
            return result;
        }
    }
    Ok(None)
}

/// Turns every `Location` into a fixed absolute URI, to exercise the rewrite path.
fn rewrite(value: &[u8]) -> Option<Vec<u8>> {
    value
        .starts_with(b"/")
        .then(|| b"https://public.example/".to_vec())
}

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    let whole = parse_response(input, MAX_HEAD, MAX_FIELDS);
    assert_eq!(
        feed(input, [input.len() / 2].into_iter()),
        whole,
        "split in two"
    );
    assert_eq!(feed(input, 1..input.len()), whole, "byte by byte");

    let head = match whole {
        Ok(Some(head)) => head,
        Ok(None) => {
            assert!(input.len() <= MAX_HEAD);
            return;
        }
        Err(error) => {
            assert!(!error.reason().is_empty());
            return;
        }
    };
    assert!(head.head_len <= input.len() && head.head_len <= MAX_HEAD);
    assert!((100..=599).contains(&head.status));
    assert!(head.reason.end <= head.head_len);
    for header in &head.headers {
        assert!(header.name.end <= head.head_len && header.value.end <= head.head_len);
    }

    for method in [Method::Get, Method::Head, Method::Connect] {
        let Ok(body) = response_body(input, &head, method) else {
            continue;
        };
        let (framing, keep_alive) = match body {
            ResponseBody::Empty => (ClientFraming::AsIs, true),
            ResponseBody::Length(n) => (ClientFraming::Length(n), true),
            ResponseBody::Chunked => (ClientFraming::Chunked, true),
            ResponseBody::UntilClose => (ClientFraming::UntilClose, false),
        };
        let resp = ClientResponse {
            extra: b"",
            framing,
            keep_alive,
            upgrade: None,
            client_version: Version::Http11,
            via: ViaMode::On,
            via_by: b"proxy:80",
            rewrite: &rewrite,
        };
        let mut out = Vec::new();
        encode_client_response(input, &head, &resp, &mut out);
        match parse_response(&out, 64 * 1024, 128) {
            Ok(Some(again)) => {
                assert_eq!(again.head_len, out.len());
                assert_eq!(again.status, head.status);
                assert_eq!(again.reason.of(&out), head.reason.of(input));
            }
            other => panic!(
                "re-encoded head {:?} parsed as {other:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}
