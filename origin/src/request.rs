//! Reading one request head off a connection, and interpreting it.
//!
//! Owns the head syntax (RFC 9112 §2–§5), the request message-length algorithm (§6.3) and the
//! persistence rules (§9.3). Must not read past the head: the body stays in the reader for
//! `body::BodyReader`. [`RequestHead`] borrows from the connection's own head buffer, which is
//! never pooled or shared, and lives for one exchange.

use std::io::{self, BufRead};
use std::str;

use super::error::{ExchangeError, RequestError};

/// Largest request head we buffer, request line and final empty line included; a longer head is
/// answered 431 and the connection closed.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Most header fields in one head; more are answered 431 and the connection closed.
pub const MAX_HEADERS: usize = 128;

/// Most CR and LF bytes skipped before a request line (RFC 9112 §2.2 lets a server ignore empty
/// lines there, which some clients send after a body); more are answered 400.
const MAX_LEADING_EMPTY_LINE_BYTES: usize = 16;

/// What [`read_head`] found on the connection.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HeadRead {
    /// A whole head, ending with its empty line, is in the buffer.
    Complete,
    /// The client closed the connection between requests.
    Closed,
}

/// Reads one request head into `head`, leaving everything after its empty line in `src`.
///
/// Empty lines before the request line are skipped and are not part of `head`. A connection that
/// ends inside a head is an [`ExchangeError::Abort`]: there is nobody left to answer.
pub(super) fn read_head(
    src: &mut impl BufRead,
    head: &mut Vec<u8>,
) -> Result<HeadRead, ExchangeError> {
    head.clear();
    if !skip_leading_empty_lines(src)? {
        return Ok(HeadRead::Closed);
    }
    loop {
        let available = src.fill_buf()?;
        if available.is_empty() {
            return Err(unexpected_eof("connection closed inside a request head"));
        }
        let before = head.len();
        let take = available.len().min(MAX_HEAD_BYTES + 1 - before);
        head.extend_from_slice(&available[..take]);
        // The empty line may straddle two reads: rescan the last three bytes already held.
        let scan_from = before.saturating_sub(3);
        if let Some(at) = find(&head[scan_from..], b"\r\n\r\n") {
            let end = scan_from + at + 4;
            src.consume(end - before);
            head.truncate(end);
            if end > MAX_HEAD_BYTES {
                return Err(RequestError::HeadTooLarge.into());
            }
            return Ok(HeadRead::Complete);
        }
        src.consume(take);
        if head.len() > MAX_HEAD_BYTES {
            return Err(RequestError::HeadTooLarge.into());
        }
    }
}

/// Consumes CR and LF bytes before a request line; false when the connection closed first.
fn skip_leading_empty_lines(src: &mut impl BufRead) -> Result<bool, ExchangeError> {
    let mut skipped = 0;
    loop {
        let available = src.fill_buf()?;
        if available.is_empty() {
            return Ok(false);
        }
        let line_ends = available
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if line_ends == 0 {
            return Ok(true);
        }
        src.consume(line_ends);
        skipped += line_ends;
        if skipped > MAX_LEADING_EMPTY_LINE_BYTES {
            return Err(
                RequestError::Malformed("too many empty lines before the request line").into(),
            );
        }
    }
}

/// An I/O error for a connection that ended where more bytes were required.
pub(super) fn unexpected_eof(what: &'static str) -> ExchangeError {
    ExchangeError::Abort(io::Error::new(io::ErrorKind::UnexpectedEof, what))
}

/// Position of the first `needle` in `haystack`.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The protocol version a request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Version {
    Http10,
    Http11,
}

/// Whether the connection carries another exchange after this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Persistence {
    KeepAlive,
    Close,
}

/// How the request body is delimited; a request without a body is `Length(0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyFraming {
    Length(u64),
    Chunked,
}

/// One header field line, split at its colon; `value` is trimmed of surrounding whitespace.
#[derive(Debug)]
struct Field<'h> {
    name: &'h str,
    value: &'h [u8],
}

/// A parsed request head: views into the bytes given to [`RequestHead::parse`].
#[derive(Debug)]
pub(super) struct RequestHead<'h> {
    pub(super) method: &'h str,
    pub(super) target: &'h str,
    pub(super) version: Version,
    /// Invariant: at most [`MAX_HEADERS`] entries, in the order received.
    fields: Vec<Field<'h>>,
}

impl<'h> RequestHead<'h> {
    /// Parses a head as returned by [`read_head`]: lines ending in CRLF, then an empty line.
    ///
    /// Strict on purpose, since the client is usually the proxy under test: no obsolete line
    /// folding, no whitespace before a colon, no control characters, and an HTTP/1.1 request must
    /// carry exactly one `Host` (RFC 9112 §3.2).
    pub(super) fn parse(head: &'h [u8]) -> Result<RequestHead<'h>, RequestError> {
        let Some(lines) = head.strip_suffix(b"\r\n\r\n") else {
            return Err(RequestError::Malformed("head must end with an empty line"));
        };
        let mut lines = CrlfLines { rest: Some(lines) };
        let request_line = lines.next().unwrap_or_default();
        let (method, target, version) = parse_request_line(request_line)?;
        let mut fields = Vec::new();
        for line in lines {
            if fields.len() == MAX_HEADERS {
                return Err(RequestError::TooManyHeaders);
            }
            fields.push(parse_field(line)?);
        }
        let parsed = RequestHead {
            method,
            target,
            version,
            fields,
        };
        if parsed.version == Version::Http11 && parsed.values("host").count() != 1 {
            return Err(RequestError::Malformed(
                "HTTP/1.1 request needs exactly one Host",
            ));
        }
        if parsed.host().is_none() && parsed.values("host").next().is_some() {
            return Err(RequestError::Malformed("Host must be visible ASCII"));
        }
        Ok(parsed)
    }

    /// Values of every field called `name` (compared case-insensitively), in order.
    pub(super) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'h [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value)
    }

    /// Whether any `name` field lists `token` among its comma-separated elements.
    pub(super) fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .flat_map(list_elements)
            .any(|element| element.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// The `Host` field, when present and valid. [`RequestHead::parse`] guarantees one for HTTP/1.1.
    pub(super) fn host(&self) -> Option<&'h str> {
        let value = self.values("host").next()?;
        let visible = !value.is_empty() && value.iter().all(|b| (0x21..=0x7E).contains(b));
        visible.then(|| str::from_utf8(value).ok()).flatten()
    }

    /// How the body is delimited: RFC 9112 §6.3, the rules that apply to requests.
    ///
    /// 1. `Transfer-Encoding` present: in HTTP/1.0 the framing is faulty (§6.1) → 400. Together
    ///    with `Content-Length` it is a request-smuggling vector, which §6.3 lets a server reject
    ///    → 400. `chunked` must be the final coding, once → else 400 (§6.3 item 4). Any other
    ///    coding is one this origin does not implement → 501.
    /// 2. `Content-Length` present: every value, across lines and lists, must be the same
    ///    decimal number → else 400 (§6.3 item 5).
    /// 3. Neither: the request has no body.
    pub(super) fn body_framing(&self) -> Result<BodyFraming, RequestError> {
        let mut lengths = self
            .values("content-length")
            .flat_map(list_elements)
            .peekable();
        if self.values("transfer-encoding").next().is_some() {
            if self.version == Version::Http10 {
                return Err(RequestError::Malformed(
                    "Transfer-Encoding in an HTTP/1.0 request",
                ));
            }
            if lengths.peek().is_some() {
                return Err(RequestError::Malformed(
                    "both Transfer-Encoding and Content-Length",
                ));
            }
            let codings: Vec<&[u8]> = self
                .values("transfer-encoding")
                .flat_map(list_elements)
                .collect();
            let is_chunked = |coding: &[u8]| coding.eq_ignore_ascii_case(b"chunked");
            if !codings.last().is_some_and(|last| is_chunked(last)) {
                return Err(RequestError::Malformed(
                    "chunked is not the final transfer coding",
                ));
            }
            if codings.iter().filter(|coding| is_chunked(coding)).count() > 1 {
                return Err(RequestError::Malformed("chunked applied more than once"));
            }
            if codings.len() > 1 {
                return Err(RequestError::UnsupportedTransferCoding);
            }
            return Ok(BodyFraming::Chunked);
        }
        let Some(first) = lengths.next() else {
            return Ok(BodyFraming::Length(0));
        };
        let length = parse_decimal(first).ok_or(RequestError::Malformed(
            "Content-Length is not a decimal number",
        ))?;
        if lengths.any(|other| other != first) {
            return Err(RequestError::Malformed("Content-Length values differ"));
        }
        Ok(BodyFraming::Length(length))
    }

    /// Whether the client allows another request on this connection (RFC 9112 §9.3): HTTP/1.1
    /// unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub(super) fn persistence(&self) -> Persistence {
        let persists = match self.version {
            _ if self.has_token("connection", "close") => false,
            Version::Http11 => true,
            Version::Http10 => self.has_token("connection", "keep-alive"),
        };
        if persists {
            Persistence::KeepAlive
        } else {
            Persistence::Close
        }
    }

    /// Whether the client waits for `100 Continue` before sending its body (RFC 9110 §10.1.1);
    /// the expectation is ignored in HTTP/1.0 requests, as that section requires.
    pub(super) fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self
                .values("expect")
                .any(|value| value.eq_ignore_ascii_case(b"100-continue"))
    }

    /// The target's path and query (query without its `?`, empty when absent). An absolute-form
    /// target (`http://host/path`) is reduced to its path, as RFC 9112 §3.2.2 asks of servers.
    pub(super) fn path_and_query(&self) -> (&'h str, &'h str) {
        let target = self.target;
        let origin_form = ["http://", "https://"]
            .iter()
            .find(|scheme| {
                target
                    .get(..scheme.len())
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
            })
            .map_or(target, |scheme| {
                let after_scheme = &target[scheme.len()..];
                after_scheme
                    .find(['/', '?'])
                    .map_or("/", |at| &after_scheme[at..])
            });
        let (path, query) = origin_form.split_once('?').unwrap_or((origin_form, ""));
        (if path.is_empty() { "/" } else { path }, query)
    }
}

/// Splits `method SP target SP version`, allowing nothing else (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(&str, &str, Version), RequestError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed(
            "request line is not method, target, version",
        ));
    };
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
        return Err(RequestError::Malformed("method is not a token"));
    }
    if target.is_empty() || !target.iter().all(|b| (0x21..=0x7E).contains(b)) {
        return Err(RequestError::Malformed(
            "request target is not visible ASCII",
        ));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', number @ ..]
            if !number.is_empty() && number.iter().all(|&b| b.is_ascii_digit() || b == b'.') =>
        {
            return Err(RequestError::UnsupportedVersion)
        }
        _ => return Err(RequestError::Malformed("request line has no HTTP version")),
    };
    Ok((ascii(method)?, ascii(target)?, version))
}

/// Checks one trailer field line of a chunked body with the same rules as a header line.
pub(super) fn check_field_line(line: &[u8]) -> Result<(), RequestError> {
    parse_field(line).map(drop)
}

/// Splits `name ":" OWS value OWS` (RFC 9112 §5).
fn parse_field(line: &[u8]) -> Result<Field<'_>, RequestError> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(RequestError::Malformed("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(RequestError::Malformed("header line without a colon"))?;
    let (name, value) = (&line[..colon], trim_whitespace(&line[colon + 1..]));
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        return Err(RequestError::Malformed("header name is not a token"));
    }
    if !value.iter().all(|&b| b == b'\t' || b >= 0x20 && b != 0x7F) {
        return Err(RequestError::Malformed(
            "control character in a header value",
        ));
    }
    Ok(Field {
        name: ascii(name)?,
        value,
    })
}

/// Bytes already checked to be ASCII, as text.
fn ascii(bytes: &[u8]) -> Result<&str, RequestError> {
    str::from_utf8(bytes).map_err(|_| RequestError::Malformed("not ASCII"))
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `value` without leading and trailing spaces and tabs.
fn trim_whitespace(value: &[u8]) -> &[u8] {
    let is_whitespace = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value
        .iter()
        .position(|b| !is_whitespace(b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_whitespace(b))
        .map_or(start, |at| at + 1);
    &value[start..end]
}

/// The non-empty elements of a comma-separated field value (RFC 9110 §5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_whitespace)
        .filter(|element| !element.is_empty())
}

/// `1*DIGIT` as a number; `None` for anything else, including overflow.
pub(super) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = char::from(b).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// The lines of a head between its CRLFs.
struct CrlfLines<'h> {
    rest: Option<&'h [u8]>,
}

impl<'h> Iterator for CrlfLines<'h> {
    type Item = &'h [u8];

    fn next(&mut self) -> Option<&'h [u8]> {
        let rest = self.rest?;
        match find(rest, b"\r\n") {
            Some(at) => {
                self.rest = Some(&rest[at + 2..]);
                Some(&rest[..at])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};

    const PIPELINED: &[u8] = b"\r\nPOST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
        GET /bytes/1 HTTP/1.1\r\nHost: a\r\n\r\n";

    /// Reads every head from `src`, recording each head and what followed it up to the next head.
    fn heads_and_bodies(mut src: impl BufRead, body_lengths: &[usize]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let mut head = Vec::new();
        for &length in body_lengths {
            assert_eq!(read_head(&mut src, &mut head).unwrap(), HeadRead::Complete);
            let mut body = vec![0; length];
            src.read_exact(&mut body).unwrap();
            out.push((head.clone(), body));
        }
        assert_eq!(read_head(&mut src, &mut head).unwrap(), HeadRead::Closed);
        out
    }

    #[test]
    fn reads_pipelined_heads_alike_whole_split_anywhere_and_byte_by_byte() {
        let whole = heads_and_bodies(PIPELINED, &[3, 0]);
        assert_eq!(
            whole[0].0,
            b"POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"
        );
        assert_eq!(whole[0].1, b"abc");
        assert!(whole[1].0.starts_with(b"GET /bytes/1"));
        for split in 0..=PIPELINED.len() {
            let parts = PIPELINED[..split].chain(&PIPELINED[split..]);
            let src = BufReader::with_capacity(PIPELINED.len(), parts);
            assert_eq!(heads_and_bodies(src, &[3, 0]), whole, "split at {split}");
        }
        let byte_by_byte = BufReader::with_capacity(1, PIPELINED);
        assert_eq!(heads_and_bodies(byte_by_byte, &[3, 0]), whole);
    }

    #[test]
    fn connection_ending_inside_a_head_aborts() {
        let mut head = Vec::new();
        let result = read_head(&mut &b"GET / HTTP/1.1\r\nHost: a\r\n"[..], &mut head);
        assert!(matches!(result, Err(ExchangeError::Abort(_))));
    }

    #[test]
    fn head_of_exactly_the_limit_is_read_and_one_byte_more_is_431() {
        let filler = |total: usize| {
            let start = b"GET / HTTP/1.1\r\nHost: a\r\nX: ";
            let mut head = start.to_vec();
            head.resize(total - 4, b'x');
            head.extend_from_slice(b"\r\n\r\n");
            head
        };
        let mut head = Vec::new();
        let at_limit = filler(MAX_HEAD_BYTES);
        assert_eq!(
            read_head(&mut &at_limit[..], &mut head).unwrap(),
            HeadRead::Complete
        );
        assert_eq!(head.len(), MAX_HEAD_BYTES);
        let over = filler(MAX_HEAD_BYTES + 1);
        let result = read_head(&mut &over[..], &mut head);
        assert!(matches!(
            result,
            Err(ExchangeError::Request(RequestError::HeadTooLarge))
        ));
        let endless = vec![b'x'; MAX_HEAD_BYTES * 2];
        let result = read_head(&mut BufReader::with_capacity(1000, &endless[..]), &mut head);
        assert!(matches!(
            result,
            Err(ExchangeError::Request(RequestError::HeadTooLarge))
        ));
    }

    #[test]
    fn too_many_empty_lines_before_a_request_are_refused() {
        let mut head = Vec::new();
        let result = read_head(
            &mut &[b'\n'; MAX_LEADING_EMPTY_LINE_BYTES + 1][..],
            &mut head,
        );
        assert!(matches!(
            result,
            Err(ExchangeError::Request(RequestError::Malformed(_)))
        ));
    }

    fn status_of(head: &str) -> u16 {
        let parsed = RequestHead::parse(head.as_bytes()).and_then(|h| h.body_framing().map(|_| ()));
        parsed.map_or_else(|refused| refused.status(), |()| 200)
    }

    #[test]
    fn refuses_heads_that_break_the_syntax_with_the_matching_status() {
        let cases = [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            ("GET / HTTP/1.0\r\n\r\n", 200),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
            ("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\n", 400),
        ];
        for (head, status) in cases {
            assert_eq!(status_of(head), status, "{head:?}");
        }
    }

    #[test]
    fn more_header_fields_than_the_limit_are_431() {
        let head = |fields: usize| {
            let mut head = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
            for i in 1..fields {
                head.push_str(&format!("X-{i}: v\r\n"));
            }
            head + "\r\n"
        };
        assert_eq!(status_of(&head(MAX_HEADERS)), 200);
        assert_eq!(status_of(&head(MAX_HEADERS + 1)), 431);
    }

    fn framing(fields: &str, version: &str) -> Result<BodyFraming, u16> {
        let head = format!("POST / {version}\r\nHost: a\r\n{fields}\r\n");
        let parsed = RequestHead::parse(head.as_bytes()).map_err(|e| e.status())?;
        parsed.body_framing().map_err(|e| e.status())
    }

    #[test]
    fn decides_body_length_by_the_request_rules_of_rfc_9112() {
        let v11 = "HTTP/1.1";
        assert_eq!(framing("", v11), Ok(BodyFraming::Length(0)));
        assert_eq!(
            framing("Content-Length: 12\r\n", v11),
            Ok(BodyFraming::Length(12))
        );
        assert_eq!(
            framing("Content-Length: 5, 5\r\nContent-Length: 5\r\n", v11),
            Ok(BodyFraming::Length(5))
        );
        assert_eq!(
            framing("Content-Length: 5\r\nContent-Length: 6\r\n", v11),
            Err(400)
        );
        assert_eq!(framing("Content-Length: +5\r\n", v11), Err(400));
        assert_eq!(
            framing("Content-Length: 99999999999999999999\r\n", v11),
            Err(400)
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n", v11),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: CHUNKED\r\n", v11),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: gzip, chunked\r\n", v11),
            Err(501)
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked, gzip\r\n", v11),
            Err(400)
        );
        assert_eq!(
            framing(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                v11
            ),
            Err(400)
        );
        assert_eq!(framing("Transfer-Encoding: \r\n", v11), Err(400));
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", v11),
            Err(400)
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n", "HTTP/1.0"),
            Err(400)
        );
    }

    fn head_of(fields: &str, version: &str) -> Vec<u8> {
        format!("GET /x HTTP/{version}\r\nHost: a\r\n{fields}\r\n").into_bytes()
    }

    #[test]
    fn keeps_http11_alive_unless_close_and_http10_only_with_keep_alive() {
        let persistence = |fields: &str, version: &str| {
            RequestHead::parse(&head_of(fields, version))
                .unwrap()
                .persistence()
        };
        assert_eq!(persistence("", "1.1"), Persistence::KeepAlive);
        assert_eq!(
            persistence("Connection: Close\r\n", "1.1"),
            Persistence::Close
        );
        assert_eq!(
            persistence("Connection: te, close\r\n", "1.1"),
            Persistence::Close
        );
        assert_eq!(persistence("", "1.0"), Persistence::Close);
        assert_eq!(
            persistence("Connection: Keep-Alive\r\n", "1.0"),
            Persistence::KeepAlive
        );
        assert_eq!(
            persistence("Connection: keep-alive, close\r\n", "1.0"),
            Persistence::Close
        );
    }

    #[test]
    fn honours_100_continue_only_in_http11() {
        let expects = |version: &str| {
            RequestHead::parse(&head_of("Expect: 100-Continue\r\n", version))
                .unwrap()
                .expects_continue()
        };
        assert!(expects("1.1"));
        assert!(!expects("1.0"));
    }

    #[test]
    fn splits_origin_and_absolute_form_targets_into_path_and_query() {
        let split = |target: &str| {
            let head = format!("GET {target} HTTP/1.0\r\n\r\n");
            let parsed = RequestHead::parse(head.as_bytes()).unwrap();
            let (path, query) = parsed.path_and_query();
            (path.to_owned(), query.to_owned())
        };
        let pair = |path: &str, query: &str| (path.to_owned(), query.to_owned());
        assert_eq!(split("/bytes/5?seed=1"), pair("/bytes/5", "seed=1"));
        assert_eq!(split("/sink"), pair("/sink", ""));
        assert_eq!(split("HTTP://example.com:80/echo?a"), pair("/echo", "a"));
        assert_eq!(split("http://example.com"), pair("/", ""));
        assert_eq!(split("http://example.com?q"), pair("/", "q"));
        assert_eq!(split("*"), pair("*", ""));
    }
}
