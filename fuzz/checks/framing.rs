//! What the fuzzer checks of message body framing (RFC 9112 §6.3): `http1::response_body` for a
//! parsed response head answering HEAD, GET and CONNECT, and `RequestHead::body` as
//! `http1::parse_request` decides it.
//!
//! Shared by the `framing` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! The input is parsed as a response head and as a request head (real inputs are at most one of
//! them). The framing fields of an accepted head are read here independently of spoonfeed's
//! field code ([`Fields`]), and the decision is compared with what the docs of `response_body`,
//! `ResponseBody`, `RequestBody`, `ResponseError` and `RequestError`, and the RFC text above
//! `response_body` and `request::framing`, promise:
//!
//! - a response to HEAD, a 1xx, 204 or 304, and a 2xx to CONNECT are `Empty` whatever the
//!   fields say, and nothing else is `Empty`;
//! - otherwise, with no `Transfer-Encoding`: a valid `Content-Length` (digits, or a list of
//!   identical values) gives `Length` of that value, an invalid one an error, none `UntilClose`
//!   for a response and `None` for a request;
//! - `Transfer-Encoding` over HTTP/1.0 is an error; with `Content-Length` too, an error
//!   (`ConflictingFraming` over HTTP/1.1);
//! - `Chunked` only when `chunked` is the one coding; a response whose final coding is not
//!   `chunked` runs until close; `chunked` after another coding or twice is an error;
//! - adding one field line to an accepted head moves its framing as the rules above say (a
//!   request error has no head to compare with, so this is how request errors are checked):
//!   `Transfer-Encoding: chunked` next to a `Content-Length` is refused, a repeated
//!   `Content-Length` with the same value changes nothing, one with another value is refused.

use spoonfeed::http1::{
    parse_request, parse_response, response_body, Header, Limits, Method, RequestBody,
    RequestError, ResponseBody, ResponseError, ResponseHead, Version,
};

/// Small limits, so the fuzzer reaches them quickly; field lines are long enough for the
/// largest `Content-Length` this check adds.
const LIMITS: Limits = Limits {
    request_line: 128,
    field_size: 96,
    fields: 12,
    allow_http09: false,
};
const MAX_HEAD: usize = 512;
const MAX_FIELDS: usize = 12;

/// The methods whose answers `response_body` frames differently.
const METHODS: [Method; 3] = [Method::Head, Method::Get, Method::Connect];

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    if let Ok(Some(head)) = parse_response(input, MAX_HEAD, MAX_FIELDS) {
        check_response(input, &head);
        for (line, _) in added_lines(&Fields::of(input, &head.headers)) {
            let longer = with_field_line(input, head.head_len, &line);
            let max_head = MAX_HEAD + line.len() + 2;
            match parse_response(&longer, max_head, MAX_FIELDS + 1) {
                Ok(Some(again)) => {
                    assert_eq!((again.status, again.version), (head.status, head.version));
                    check_response(&longer, &again);
                }
                other => panic!(
                    "{} after adding {:?}: {other:?}",
                    show(&longer),
                    show(&line)
                ),
            }
        }
    }
    if let Ok(Some(head)) = parse_request(input, &LIMITS) {
        let fields = Fields::of(input, &head.headers);
        check_request(&fields, head.version, head.body);
        for (line, added) in added_lines(&fields) {
            let longer = with_field_line(input, head.head_len, &line);
            let limits = Limits {
                fields: LIMITS.fields + 1,
                ..LIMITS
            };
            let again = parse_request(&longer, &limits);
            let expected = expected_request_body(head.version, head.body, added);
            let got = match &again {
                Ok(Some(again)) => {
                    assert_eq!(again.method, head.method);
                    check_request(
                        &Fields::of(&longer, &again.headers),
                        again.version,
                        again.body,
                    );
                    Ok(again.body)
                }
                Ok(None) => panic!("{} is incomplete", show(&longer)),
                Err(error) => Err(*error),
            };
            match (expected, got) {
                (Expected::Body(want), Ok(body)) => assert_eq!(body, want, "{}", show(&longer)),
                (Expected::Error(want), Err(error)) => {
                    assert_eq!(error, want, "{}", show(&longer))
                }
                (Expected::AnyError, Err(error)) => assert_eq!(error.status(), 400),
                (expected, got) => panic!("{}: {got:?}, expected {expected:?}", show(&longer)),
            }
        }
    }
}

/// The framing fields of one head, read without spoonfeed's `fields` module.
struct Fields<'a> {
    /// The non-empty elements of every `Transfer-Encoding` field, in order; `None` without any
    /// such field (an empty one still counts as present).
    codings: Option<Vec<&'a [u8]>>,
    /// `None` without `Content-Length`; `Some(Err(()))` if an element is not `1*DIGIT`, is past
    /// `u64::MAX`, or differs from another.
    content_length: Option<Result<u64, ()>>,
}

impl<'a> Fields<'a> {
    fn of(buf: &'a [u8], headers: &[Header]) -> Fields<'a> {
        let values = |name: &'static [u8]| {
            headers
                .iter()
                .filter(move |h| h.name.of(buf).eq_ignore_ascii_case(name))
                .map(move |h| h.value.of(buf))
        };
        let codings = values(b"transfer-encoding").next().map(|_| {
            values(b"transfer-encoding")
                .flat_map(|v| v.split(|b| *b == b','))
                .map(trim)
                .filter(|c| !c.is_empty())
                .collect()
        });
        let content_length = values(b"content-length").next().map(|_| {
            let mut lengths = values(b"content-length")
                .flat_map(|v| v.split(|b| *b == b','))
                .map(|element| decimal(trim(element)));
            let first = lengths.next().ok_or(())??;
            lengths.try_for_each(|n| (n? == first).then_some(()).ok_or(()))?;
            Ok(first)
        });
        Fields {
            codings,
            content_length,
        }
    }

    /// Whether `chunked` is the final coding.
    fn is_chunked_last(&self) -> bool {
        self.codings
            .as_ref()
            .and_then(|c| c.last())
            .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
    }

    /// Whether `chunked` is the one and only coding.
    fn is_only_chunked(&self) -> bool {
        self.codings.as_ref().is_some_and(|c| c.len() == 1) && self.is_chunked_last()
    }
}

/// `value` without leading and trailing SP / HTAB.
fn trim(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// `1*DIGIT` as a `u64`; `Err` for anything else, or past `u64::MAX`.
fn decimal(digits: &[u8]) -> Result<u64, ()> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(())
    })
}

fn check_response(buf: &[u8], head: &ResponseHead) {
    let fields = Fields::of(buf, &head.headers);
    for method in METHODS {
        let body = response_body(buf, head, method);
        let no_content = head.is_interim()
            || matches!(head.status, 204 | 304)
            || method == Method::Head
            || (method == Method::Connect && (200..300).contains(&head.status));
        let context = || format!("{} answering {method:?}: {body:?}", show(buf));
        assert_eq!(body == Ok(ResponseBody::Empty), no_content, "{}", context());
        if let Err(error) = body {
            assert!(!error.reason().is_empty());
        }
        if no_content {
            continue;
        }
        match (&fields.codings, fields.content_length) {
            (None, None) => assert_eq!(body, Ok(ResponseBody::UntilClose), "{}", context()),
            (None, Some(Ok(n))) => assert_eq!(body, Ok(ResponseBody::Length(n)), "{}", context()),
            (None, Some(Err(()))) => assert_eq!(
                body,
                Err(ResponseError::InvalidContentLength),
                "{}",
                context()
            ),
            (Some(_), _) if head.version == Version::Http10 => assert_eq!(
                body,
                Err(ResponseError::TransferEncodingOnHttp10),
                "{}",
                context()
            ),
            (Some(_), Some(_)) => assert_eq!(
                body,
                Err(ResponseError::ConflictingFraming),
                "{}",
                context()
            ),
            (Some(_), None) if !fields.is_chunked_last() => {
                assert_eq!(body, Ok(ResponseBody::UntilClose), "{}", context())
            }
            (Some(_), None) if fields.is_only_chunked() => {
                assert_eq!(body, Ok(ResponseBody::Chunked), "{}", context())
            }
            (Some(_), None) => assert!(body.is_err(), "{}", context()),
        }
    }
}

/// The framing of an accepted request agrees with its fields.
fn check_request(fields: &Fields<'_>, version: Version, body: RequestBody) {
    let agrees = match body {
        RequestBody::None => fields.codings.is_none() && fields.content_length.is_none(),
        RequestBody::Length(n) => fields.codings.is_none() && fields.content_length == Some(Ok(n)),
        RequestBody::Chunked => {
            version == Version::Http11
                && fields.content_length.is_none()
                && fields.is_only_chunked()
        }
    };
    let codings: Option<Vec<String>> = fields
        .codings
        .as_ref()
        .map(|c| c.iter().copied().map(show).collect());
    assert!(
        agrees,
        "{body:?} over {version:?} with codings {codings:?} and length {:?}",
        fields.content_length
    );
}

/// A field line this check adds to an accepted head.
#[derive(Clone, Copy, Debug)]
enum Added {
    ContentLength(u64),
    ChunkedCoding,
}

/// The field lines to add to a head with these fields, each with what it is: the head's own
/// `Content-Length` again, a different one, and `Transfer-Encoding: chunked`.
fn added_lines(fields: &Fields<'_>) -> Vec<(Vec<u8>, Added)> {
    let own = match fields.content_length {
        Some(Ok(n)) => n,
        Some(Err(())) => return Vec::new(),
        None => 0,
    };
    let other = own.checked_add(1).unwrap_or(u64::MAX - 1);
    let mut added = vec![Added::ChunkedCoding, Added::ContentLength(own)];
    if fields.content_length.is_some() {
        added.push(Added::ContentLength(other));
    }
    added
        .into_iter()
        .map(|a| {
            let line = match a {
                Added::ContentLength(n) => format!("Content-Length: {n}"),
                Added::ChunkedCoding => "Transfer-Encoding: chunked".to_owned(),
            };
            (line.into_bytes(), a)
        })
        .collect()
}

/// What parsing a request again gives once `added` is among its fields.
#[derive(Debug)]
enum Expected {
    Body(RequestBody),
    Error(RequestError),
    /// Refused with 400, for a reason the docs do not single out.
    AnyError,
}

fn expected_request_body(version: Version, body: RequestBody, added: Added) -> Expected {
    match (body, added) {
        (_, Added::ChunkedCoding) if version == Version::Http10 => {
            Expected::Error(RequestError::TransferEncodingOnHttp10)
        }
        (RequestBody::None, Added::ChunkedCoding) => Expected::Body(RequestBody::Chunked),
        (RequestBody::Length(_), Added::ChunkedCoding) => {
            Expected::Error(RequestError::ConflictingFraming)
        }
        (RequestBody::Chunked, Added::ChunkedCoding) => Expected::AnyError,
        (RequestBody::Chunked, Added::ContentLength(_)) => {
            Expected::Error(RequestError::ConflictingFraming)
        }
        (RequestBody::None, Added::ContentLength(n)) => Expected::Body(RequestBody::Length(n)),
        (RequestBody::Length(m), Added::ContentLength(n)) if m == n => {
            Expected::Body(RequestBody::Length(n))
        }
        (RequestBody::Length(_), Added::ContentLength(_)) => {
            Expected::Error(RequestError::InvalidContentLength)
        }
    }
}

/// `buf`'s head (its first `head_len` bytes) with `line` added as the last field line.
fn with_field_line(buf: &[u8], head_len: usize, line: &[u8]) -> Vec<u8> {
    let head = &buf[..head_len];
    // The head ends with an empty line: CRLF, or (responses only) a bare LF.
    let empty_line = if head.ends_with(b"\r\n") { 2 } else { 1 };
    let at = head_len - empty_line;
    [&head[..at], line, b"\r\n", &head[at..]].concat()
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}
