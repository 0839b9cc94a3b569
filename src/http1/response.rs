//! Response heads: parsing, validation and body framing of what a backend sends.
//!
//! Owns: [`parse_response`] and [`response_body`], which turn a backend's bytes into a
//! [`ResponseHead`] of [`Span`]s and a [`ResponseBody`] framing, or a [`ResponseError`]. Every
//! `ResponseError` is the backend's fault and becomes a 502 for the client; the backend
//! connection is not reused after one.
//!
//! Must not: trust the backend more than a client. The same smuggling defences apply (no
//! obs-fold, no `Content-Length` with `Transfer-Encoding`, no differing lengths), with one
//! leniency RFC 9112 §2.2 allows: a line may end in a bare LF.
//!
//! Buffer bound: while [`parse_response`] returns `Ok(None)`, the buffer holds at most
//! `max_head` bytes; one byte more and it has returned [`ResponseError::TooLarge`].

use super::fields::{self, Codings};
use super::scan::{self, HeadProgress, ScanError, ScanLimits};
use super::{ConnectionOptions, Header, Method, Span, Version};

/// How a response's content is framed (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    /// No content, whatever the fields say (HEAD, 1xx, 204, 304, 2xx to CONNECT).
    Empty,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `chunked` content follows the head.
    Chunked,
    /// The content runs until the backend closes the connection.
    UntilClose,
}

/// A parsed response head. Every [`Span`] indexes the buffer given to [`parse_response`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The protocol version the backend spoke.
    pub version: Version,
    /// The status code, `100..=599`.
    pub status: u16,
    /// The reason phrase as received (possibly empty; may hold obs-text).
    pub reason: Span,
    /// The field lines, in order, with values trimmed of optional whitespace.
    pub headers: Vec<Header>,
    /// Bytes of the head including the final empty line: the content (if any) starts here.
    pub head_len: usize,
    /// Options from the `Connection` fields.
    pub connection: ConnectionOptions,
}

impl ResponseHead {
    /// Whether the backend keeps the connection open after this response: HTTP/1.1 unless it
    /// sent `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`. Framing that
    /// runs until close ([`ResponseBody::UntilClose`]) overrides this.
    pub fn is_keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.connection.close,
            Version::Http10 => self.connection.keep_alive && !self.connection.close,
        }
    }

    /// Whether this is an interim (1xx) response, which another head follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Why a backend's response head was refused; the client gets 502.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// The head is longer than `max_head`.
    TooLarge,
    /// More field lines than `max_fields`.
    TooManyFields,
    /// Not HTTP/1.x syntax; the reason names what was wrong, for logs.
    Malformed(&'static str),
    /// A `Content-Length` that is not digits, or several that differ.
    InvalidContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`.
    ConflictingFraming,
    /// `Transfer-Encoding` in an HTTP/1.0 response (RFC 9112 §6.1: the framing is faulty).
    TransferEncodingOnHttp10,
    /// A transfer coding before `chunked`: spoonfeed implements only `chunked`, and never offers
    /// others (it drops the client's `TE`).
    UnsupportedTransferCoding,
}

impl ResponseError {
    /// A short, stable code for logs, e.g. `backend-cl-and-te`.
    pub fn reason(&self) -> &'static str {
        match self {
            ResponseError::TooLarge => "backend-head-too-large",
            ResponseError::TooManyFields => "backend-too-many-fields",
            ResponseError::Malformed(reason) => reason,
            ResponseError::InvalidContentLength => "backend-invalid-content-length",
            ResponseError::ConflictingFraming => "backend-cl-and-te",
            ResponseError::TransferEncodingOnHttp10 => "backend-te-on-http10",
            ResponseError::UnsupportedTransferCoding => "backend-unsupported-transfer-coding",
        }
    }
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ResponseError {}

impl From<ScanError> for ResponseError {
    fn from(error: ScanError) -> ResponseError {
        match error {
            // Responses have one size limit: every line counts against `max_head`.
            ScanError::FirstLineTooLong | ScanError::FieldTooLarge | ScanError::TooLarge => {
                ResponseError::TooLarge
            }
            ScanError::TooManyFields => ResponseError::TooManyFields,
            ScanError::BareLf => ResponseError::Malformed("backend-bare-lf"),
            ScanError::ObsFold => ResponseError::Malformed("backend-obs-fold"),
            ScanError::TooManyEmptyLines => ResponseError::Malformed("backend-leading-empty-lines"),
        }
    }
}

/// Parses the response head at the start of `buf`.
///
/// `max_head` bounds the whole head (bytes up to and including the empty line); `max_fields`
/// bounds the field lines. `Ok(None)`: incomplete, call again once more bytes arrived; an
/// incomplete head longer than `max_head` is refused at once. This rescans `buf` from the
/// start on each call; see [`parse_response_incremental`].
pub fn parse_response(
    buf: &[u8],
    max_head: usize,
    max_fields: usize,
) -> Result<Option<ResponseHead>, ResponseError> {
    parse_response_incremental(buf, max_head, max_fields, &mut HeadProgress::default())
}

/// [`parse_response`] that resumes scanning where the previous call on a shorter prefix of the
/// same buffer stopped. Start each head with `HeadProgress::default()`.
pub fn parse_response_incremental(
    buf: &[u8],
    max_head: usize,
    max_fields: usize,
    progress: &mut HeadProgress,
) -> Result<Option<ResponseHead>, ResponseError> {
    let limits = ScanLimits {
        first_line: max_head,
        field_line: max_head,
        fields: max_fields,
        total: max_head,
        allow_bare_lf: true,
    };
    let Some(end) = scan::scan(buf, &limits, progress)? else {
        return Ok(None);
    };
    let head = &buf[end.head_start..end.head_len];
    let mut raw = vec![httparse::EMPTY_HEADER; end.fields];
    let mut parsed = httparse::Response::new(&mut raw);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(len)) if len == head.len() => {}
        Ok(_) => return Err(ResponseError::Malformed("backend-head")),
        Err(error) => return Err(from_httparse(error)),
    }
    let (Some(minor), Some(status)) = (parsed.version, parsed.code) else {
        return Err(ResponseError::Malformed("backend-head"));
    };
    if !(100..=599).contains(&status) {
        return Err(ResponseError::Malformed("backend-status"));
    }
    let headers = super::convert_headers(head, parsed.headers, end.head_start);
    let connection = ConnectionOptions::from_headers(buf, &headers)
        .ok_or(ResponseError::Malformed("backend-connection-options"))?;
    Ok(Some(ResponseHead {
        version: if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        },
        status,
        reason: reason_span(buf, end.head_start, end.first_line_end),
        connection,
        headers,
        head_len: end.head_len,
    }))
}

/// The reason phrase of a status line httparse accepted, which is exactly
/// `HTTP/1.x SP 3DIGIT [ SP reason ] (CRLF | LF)`. httparse hides a reason holding obs-text, so
/// it is located here.
fn reason_span(buf: &[u8], line_start: usize, line_end: usize) -> Span {
    let line = &buf[line_start..line_end];
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    /// Length of `HTTP/1.x NNN`.
    const BEFORE_REASON: usize = 12;
    debug_assert!(
        line.len() >= BEFORE_REASON,
        "httparse accepted a short status line"
    );
    Span::new(
        line_start + (BEFORE_REASON + 1).min(line.len()),
        line_start + line.len(),
    )
}

fn from_httparse(error: httparse::Error) -> ResponseError {
    match error {
        httparse::Error::Version => ResponseError::Malformed("backend-version"),
        httparse::Error::Status => ResponseError::Malformed("backend-status"),
        httparse::Error::HeaderName => ResponseError::Malformed("backend-field-name"),
        httparse::Error::HeaderValue => ResponseError::Malformed("backend-field-value"),
        httparse::Error::NewLine => ResponseError::Malformed("backend-newline"),
        httparse::Error::Token => ResponseError::Malformed("backend-status"),
        httparse::Error::TooManyHeaders => ResponseError::TooManyFields,
    }
}

// RFC 9112 §6.3, message body length, as it applies to a response:
//
//   1. Any response to a HEAD request and any response with a 1xx (Informational), 204 (No
//      Content), or 304 (Not Modified) status code is always terminated by the first empty line
//      after the header fields, regardless of the header fields present in the message, and
//      thus cannot contain a message body or trailer section.
//   2. Any 2xx (Successful) response to a CONNECT request implies that the connection will
//      become a tunnel immediately after the empty line that concludes the header fields.
//      [No content: `Empty`. spoonfeed does not tunnel; the caller refuses CONNECT earlier.]
//   3. If a message is received with both a Transfer-Encoding and a Content-Length header field,
//      the Transfer-Encoding overrides the Content-Length. Such a message might indicate an
//      attempt to perform request smuggling or response splitting and ought to be handled as an
//      error. [We refuse it: 502.]
//   4. If a Transfer-Encoding header field is present and the chunked transfer coding is the
//      final encoding, the message body length is determined by reading and decoding the
//      chunked data until the transfer coding indicates the data is complete.
//      If a Transfer-Encoding header field is present in a response and the chunked transfer
//      coding is not the final encoding, the message body length is determined by reading the
//      connection until it is closed by the server.
//      [§6.1: Transfer-Encoding in HTTP/1.0 means faulty framing: 502. §7: chunked twice is
//      forbidden: 502. Another coding before chunked: 502, since we only implement chunked.]
//   5. If a message is received without Transfer-Encoding and with an invalid Content-Length
//      header field, then the message framing is invalid and the recipient MUST treat it as an
//      unrecoverable error. [502. Several identical values count as one.]
//   6. If a valid Content-Length header field is present without Transfer-Encoding, its decimal
//      value defines the expected message body length in octets.
//   7. (Requests only.)
//   8. Otherwise, this is a response message without a declared message body length, so the
//      message body length is determined by the number of octets received prior to the server
//      closing the connection.
/// Decides how the content of `head` (parsed from `buf`), the answer to a `request_method`
/// request, is framed.
pub fn response_body(
    buf: &[u8],
    head: &ResponseHead,
    request_method: Method,
) -> Result<ResponseBody, ResponseError> {
    let no_content = matches!(head.status, 100..=199 | 204 | 304)
        || request_method == Method::Head
        || (request_method == Method::Connect && (200..300).contains(&head.status));
    if no_content {
        return Ok(ResponseBody::Empty);
    }
    let Some(codings) = fields::codings(buf, &head.headers) else {
        let length = fields::content_length(buf, &head.headers)
            .map_err(|_| ResponseError::InvalidContentLength)?;
        return Ok(length.map_or(ResponseBody::UntilClose, ResponseBody::Length));
    };
    if head.version == Version::Http10 {
        return Err(ResponseError::TransferEncodingOnHttp10);
    }
    if head.headers.iter().any(|h| h.is(buf, b"content-length")) {
        return Err(ResponseError::ConflictingFraming);
    }
    match codings {
        Codings::Chunked => Ok(ResponseBody::Chunked),
        Codings::NotChunkedLast => Ok(ResponseBody::UntilClose),
        Codings::ChunkedTwice => Err(ResponseError::Malformed("backend-chunked-twice")),
        Codings::OtherThenChunked => Err(ResponseError::UnsupportedTransferCoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_HEAD: usize = 128;
    const MAX_FIELDS: usize = 4;

    fn feed(
        input: &[u8],
        cuts: impl Iterator<Item = usize>,
    ) -> Result<Option<ResponseHead>, ResponseError> {
        let mut progress = HeadProgress::default();
        for cut in cuts.chain([input.len()]) {
            let result =
                parse_response_incremental(&input[..cut], MAX_HEAD, MAX_FIELDS, &mut progress);
            if result != Ok(None) {
                return result;
            }
        }
        Ok(None)
    }

    /// Parses `input` whole, at every split offset, and byte by byte; asserts all agree.
    fn parse_everywhere(input: &[u8]) -> Result<Option<ResponseHead>, ResponseError> {
        let whole = parse_response(input, MAX_HEAD, MAX_FIELDS);
        for split in 0..input.len() {
            let prefix = parse_response(&input[..split], MAX_HEAD, MAX_FIELDS);
            if prefix != Ok(None) {
                assert_eq!(prefix, whole, "stateless prefix of {split} bytes");
            }
            assert_eq!(feed(input, [split].into_iter()), whole, "split at {split}");
        }
        assert_eq!(feed(input, 1..input.len()), whole, "byte by byte");
        whole
    }

    fn parse_ok(input: &[u8]) -> ResponseHead {
        match parse_everywhere(input) {
            Ok(Some(head)) => head,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn parse_err(input: &[u8]) -> ResponseError {
        match parse_everywhere(input) {
            Err(error) => error,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    #[test]
    fn refuses_a_line_starting_at_max_head_however_split() {
        // Found by the response_head fuzz target: a lone CR at the limit once skipped the
        // field count that the whole line gets.
        let mut input = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: ".to_vec();
        input.resize(MAX_HEAD - 2, b'x');
        input.extend_from_slice(b"\r\n\rX");
        assert_eq!(parse_err(&input), ResponseError::TooLarge);
    }

    fn body(input: &[u8], method: Method) -> Result<ResponseBody, ResponseError> {
        response_body(input, &parse_ok(input), method)
    }

    #[test]
    fn parses_a_typical_response() {
        let input = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX: y \r\n\r\nabc";
        let head = parse_ok(input);
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.status, 404);
        assert_eq!(head.reason.of(input), b"Not Found");
        assert_eq!(head.headers.len(), 2);
        assert_eq!(head.headers[1].value.of(input), b"y");
        assert_eq!(&input[head.head_len..], b"abc");
        assert!(head.is_keep_alive());
        assert!(!head.is_interim());
        assert_eq!(
            response_body(input, &head, Method::Get),
            Ok(ResponseBody::Length(3))
        );
    }

    #[test]
    fn keeps_reason_bytes_as_received() {
        let input = b"HTTP/1.1 200 Ok \xe9t\xe9\r\n\r\n";
        assert_eq!(parse_ok(input).reason.of(input), b"Ok \xe9t\xe9");
        let input = b"HTTP/1.1 200\r\n\r\n";
        assert_eq!(parse_ok(input).reason, Span::new(12, 12));
        let input = b"HTTP/1.1 200 \r\n\r\n";
        assert_eq!(parse_ok(input).reason, Span::new(13, 13));
    }

    #[test]
    fn accepts_bare_lf_from_backends() {
        let input = b"HTTP/1.0 200 OK\nConnection: keep-alive\n\nbody";
        let head = parse_ok(input);
        assert_eq!(head.reason.of(input), b"OK");
        assert_eq!(&input[head.head_len..], b"body");
        assert!(head.is_keep_alive());
        assert!(!parse_ok(b"HTTP/1.0 200 OK\r\n\r\n").is_keep_alive());
        assert!(!parse_ok(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").is_keep_alive());
    }

    #[test]
    fn incomplete_head_asks_for_more() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n", MAX_HEAD, MAX_FIELDS),
            Ok(None)
        );
    }

    #[test]
    fn refuses_a_head_over_max_head_before_it_ends() {
        let mut input = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        input.extend_from_slice(&[b'a'; MAX_HEAD]);
        input.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_err(&input), ResponseError::TooLarge);
        assert_eq!(
            parse_response(&input[..MAX_HEAD], MAX_HEAD, MAX_FIELDS),
            Ok(None)
        );
        assert_eq!(
            parse_response(&input[..MAX_HEAD + 1], MAX_HEAD, MAX_FIELDS),
            Err(ResponseError::TooLarge)
        );
    }

    #[test]
    fn refuses_too_many_fields() {
        let input = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
        assert_eq!(parse_err(input), ResponseError::TooManyFields);
    }

    #[test]
    fn refuses_malformed_heads() {
        let cases: [(&[u8], &str); 7] = [
            (
                b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n",
                "backend-obs-fold",
            ),
            (b"HTTP/2 200 OK\r\n\r\n", "backend-version"),
            (b"HTTP/1.1 20 OK\r\n\r\n", "backend-status"),
            (b"HTTP/1.1 099 OK\r\n\r\n", "backend-status"),
            (b"HTTP/1.1 600 OK\r\n\r\n", "backend-status"),
            (b"HTTP/1.1 200 OK\r\nA : 1\r\n\r\n", "backend-field-name"),
            (
                b"HTTP/1.1 200 OK\r\nA: \x001\r\n\r\n",
                "backend-field-value",
            ),
        ];
        for (input, reason) in cases {
            let error = parse_err(input);
            assert_eq!(
                error,
                ResponseError::Malformed(reason),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(error.reason(), reason);
        }
    }

    #[test]
    fn responses_without_content_are_empty_whatever_the_fields() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(body(ok, Method::Head), Ok(ResponseBody::Empty));
        assert_eq!(body(ok, Method::Connect), Ok(ResponseBody::Empty));
        for status in [
            "100 Continue",
            "103 Early Hints",
            "204 No Content",
            "304 Not Modified",
        ] {
            let input = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
            assert_eq!(
                body(input.as_bytes(), Method::Get),
                Ok(ResponseBody::Empty),
                "{status}"
            );
        }
        let refused = b"HTTP/1.1 407 No\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(body(refused, Method::Connect), Ok(ResponseBody::Length(2)));
    }

    #[test]
    fn chunked_last_means_chunked_and_other_last_means_until_close() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(body(input, Method::Get), Ok(ResponseBody::Chunked));
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n";
        assert_eq!(body(input, Method::Get), Ok(ResponseBody::UntilClose));
        let input = b"HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(body(input, Method::Get), Ok(ResponseBody::UntilClose));
    }

    #[test]
    fn refuses_bad_framing() {
        let cases: [(&[u8], ResponseError); 6] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", ResponseError::ConflictingFraming),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", ResponseError::InvalidContentLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", ResponseError::InvalidContentLength),
            (b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ResponseError::TransferEncodingOnHttp10),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ResponseError::UnsupportedTransferCoding),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ResponseError::Malformed("backend-chunked-twice")),
        ];
        for (input, expected) in cases {
            assert_eq!(
                body(input, Method::Get),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn every_error_has_a_distinct_reason() {
        let all = [
            ResponseError::TooLarge,
            ResponseError::TooManyFields,
            ResponseError::Malformed("x"),
            ResponseError::InvalidContentLength,
            ResponseError::ConflictingFraming,
            ResponseError::TransferEncodingOnHttp10,
            ResponseError::UnsupportedTransferCoding,
        ];
        let mut reasons: Vec<&str> = all.iter().map(ResponseError::reason).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
    }
}
