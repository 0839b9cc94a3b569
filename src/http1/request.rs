//! Request heads: parsing, validation and body framing of what a client sends.
//!
//! Owns: [`parse_request`], which turns a client's bytes into a [`RequestHead`] of [`Span`]s or
//! a [`RequestError`] that names the 4xx/5xx answer. Every decision about whether a request is
//! acceptable HTTP/1.x is made here, once; routing and forwarding never re-parse the head.
//!
//! Must not: allocate per read (httparse runs once per head, after the line scan found its end), or
//! accept anything whose framing another HTTP implementation could read differently (request
//! smuggling): bare LF, obs-fold, `Content-Length` with `Transfer-Encoding`, lists of differing
//! lengths, and `chunked` not last are all refused.
//!
//! Buffer bound: while [`parse_request`] returns `Ok(None)`, the buffer is shorter than
//! [`Limits::max_head_len`]; a complete head is at most that long. A buffer that holds that
//! many bytes therefore always gets an answer other than `Ok(None)`.

use super::fields::{self, Codings};
use super::scan::{self, HeadProgress, ScanError, ScanLimits};
use super::{ConnectionOptions, Header, Method, Span, Version};

pub use super::scan::MAX_LEADING_EMPTY_LINES;

/// Size limits on a request head, with Apache's semantics and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request-line, excluding CRLF (Apache `LimitRequestLine`, default 8190); a longer
    /// one gets 414.
    pub request_line: usize,
    /// Longest field line (`name: value`), excluding CRLF (Apache `LimitRequestFieldSize`,
    /// default 8190); a longer one gets 431.
    pub field_size: usize,
    /// Most field lines (Apache `LimitRequestFields`, default 100); one more gets 431. Unlike
    /// Apache, 0 means "no field allowed", not "unlimited": every limit here bounds a buffer.
    pub fields: usize,
    /// Take HTTP/0.9 simple requests (`GET /path` and a line end: no version, no fields):
    /// Apache's `HttpProtocolOptions Allow0.9`. Off, such a line is refused (400).
    pub allow_http09: bool,
}

impl Limits {
    /// Apache httpd's defaults.
    pub const APACHE_DEFAULTS: Limits = Limits {
        request_line: 8190,
        field_size: 8190,
        fields: 100,
        allow_http09: false,
    };

    /// The largest buffer [`parse_request`] can need: ignored empty lines, the request-line,
    /// every field line (each with CRLF) and the final CRLF. Any incomplete head that returned
    /// `Ok(None)` is shorter than this, and any complete head is at most this long.
    pub fn max_head_len(&self) -> usize {
        let empty_lines = 2 * MAX_LEADING_EMPTY_LINES;
        let request_line = self.request_line.saturating_add(2);
        let fields = self
            .fields
            .saturating_mul(self.field_size.saturating_add(2));
        empty_lines
            .saturating_add(request_line)
            .saturating_add(fields)
            .saturating_add(2)
    }

    fn scan_limits(&self) -> ScanLimits {
        ScanLimits {
            first_line: self.request_line,
            field_line: self.field_size,
            fields: self.fields,
            total: usize::MAX,
            allow_bare_lf: false,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::APACHE_DEFAULTS
    }
}

/// The form of a request-target (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`
    Origin,
    /// `http://authority/path?query`; the server must use `authority` and ignore `Host`
    /// (RFC 9112 §3.2.2).
    Absolute {
        /// The authority component (`host[:port]`).
        authority: Span,
    },
    /// `host:port`, only with `CONNECT`.
    Authority,
    /// `*`, only with `OPTIONS`.
    Asterisk,
}

/// How the request's content is framed (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestBody {
    /// No content.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked` content follows the head.
    Chunked,
}

/// A parsed request head. Every [`Span`] indexes the buffer given to [`parse_request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The method token as sent.
    pub method_span: Span,
    /// The raw request-target as sent.
    pub target: Span,
    /// The form of `target`.
    pub form: TargetForm,
    /// Path and query to route on. Origin-form: `target`. Absolute-form: what follows the
    /// authority, which may be empty or start with `?`; see [`RequestHead::path_lacks_slash`].
    /// Authority- and asterisk-form: `target`.
    pub path: Span,
    /// The protocol version.
    pub version: Version,
    /// The field lines, in order, with values trimmed of optional whitespace.
    pub headers: Vec<Header>,
    /// Bytes of the head including ignored leading empty lines and the final empty line: the
    /// content (if any) starts here.
    pub head_len: usize,
    /// The content's framing.
    pub body: RequestBody,
    /// The `Host` field value (possibly empty); `None` only for HTTP/1.0 without `Host`.
    pub host: Option<Span>,
    /// Options from the `Connection` fields.
    pub connection: ConnectionOptions,
    /// The client sent `Expect: 100-continue` over HTTP/1.1 and waits for a 100 before sending
    /// content. (Over HTTP/1.0 the expectation is ignored, RFC 9110 §10.1.1.)
    pub expect_continue: bool,
    /// An HTTP/0.9 simple request (taken only under [`Limits::allow_http09`]): `version` is
    /// HTTP/1.0 for everything downstream, and the client wants the body alone, no head.
    pub simple: bool,
}

impl RequestHead {
    /// Whether the client wants the connection kept open after this exchange: HTTP/1.1 unless it
    /// sent `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` (and no `close`).
    pub fn wants_keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.connection.close,
            Version::Http10 => self.connection.keep_alive && !self.connection.close,
        }
    }

    /// The authority the request is for: the target's for absolute-form (RFC 9112 §3.2.2 says
    /// it overrides `Host`), else the `Host` value.
    pub fn authority(&self) -> Option<Span> {
        match self.form {
            TargetForm::Absolute { authority } => Some(authority),
            TargetForm::Origin | TargetForm::Authority | TargetForm::Asterisk => self.host,
        }
    }

    /// Whether `path` needs a `/` in front to become an origin-form target: true for an
    /// absolute-form target with an empty path (`http://host` or `http://host?q`).
    pub fn path_lacks_slash(&self, buf: &[u8]) -> bool {
        matches!(self.form, TargetForm::Absolute { .. }) && !self.path.of(buf).starts_with(b"/")
    }
}

/// Why a request head was refused. [`RequestError::status`] is the answer to send; the
/// connection must be closed after it, since the framing of what follows is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The request-line is longer than [`Limits::request_line`].
    LineTooLong,
    /// A field line is longer than [`Limits::field_size`].
    FieldTooLarge,
    /// More field lines than [`Limits::fields`].
    TooManyFields,
    /// Not HTTP/1.x syntax; the reason names what was wrong, for logs.
    Malformed(&'static str),
    /// An `HTTP/x.y` version other than 1.0 and 1.1.
    UnsupportedVersion,
    /// A `Content-Length` that is not digits, or several that differ.
    InvalidContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`.
    ConflictingFraming,
    /// `Transfer-Encoding` whose final coding is not `chunked`.
    TransferEncodingNotChunked,
    /// A transfer coding before `chunked` (spoonfeed implements only `chunked`).
    UnknownTransferCoding,
    /// `Transfer-Encoding` in an HTTP/1.0 request (RFC 9112 §6.1: the framing is faulty).
    TransferEncodingOnHttp10,
    /// HTTP/1.1 without `Host` (RFC 9112 §3.2).
    MissingHost,
    /// More than one `Host` field.
    MultipleHost,
    /// A request-target that is not valid for its form or its method.
    InvalidTarget,
    /// An `Expect` other than `100-continue`.
    UnsupportedExpectation,
}

impl RequestError {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::LineTooLong => 414,
            RequestError::FieldTooLarge | RequestError::TooManyFields => 431,
            RequestError::Malformed(_)
            | RequestError::InvalidContentLength
            | RequestError::ConflictingFraming
            | RequestError::TransferEncodingNotChunked
            | RequestError::TransferEncodingOnHttp10
            | RequestError::MissingHost
            | RequestError::MultipleHost
            | RequestError::InvalidTarget => 400,
            RequestError::UnknownTransferCoding => 501,
            RequestError::UnsupportedVersion => 505,
            RequestError::UnsupportedExpectation => 417,
        }
    }

    /// A short, stable code for logs, e.g. `cl-and-te`.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::LineTooLong => "request-line-too-long",
            RequestError::FieldTooLarge => "field-too-large",
            RequestError::TooManyFields => "too-many-fields",
            RequestError::Malformed(reason) => reason,
            RequestError::UnsupportedVersion => "unsupported-version",
            RequestError::InvalidContentLength => "invalid-content-length",
            RequestError::ConflictingFraming => "cl-and-te",
            RequestError::TransferEncodingNotChunked => "te-not-chunked",
            RequestError::UnknownTransferCoding => "unknown-transfer-coding",
            RequestError::TransferEncodingOnHttp10 => "te-on-http10",
            RequestError::MissingHost => "missing-host",
            RequestError::MultipleHost => "multiple-host",
            RequestError::InvalidTarget => "invalid-target",
            RequestError::UnsupportedExpectation => "unsupported-expectation",
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for RequestError {}

impl From<ScanError> for RequestError {
    fn from(error: ScanError) -> RequestError {
        match error {
            ScanError::FirstLineTooLong => RequestError::LineTooLong,
            ScanError::FieldTooLarge => RequestError::FieldTooLarge,
            ScanError::TooManyFields => RequestError::TooManyFields,
            // Requests are scanned without a total limit; the per-line limits bound them.
            ScanError::TooLarge => RequestError::FieldTooLarge,
            ScanError::BareLf => RequestError::Malformed("bare-lf"),
            ScanError::ObsFold => RequestError::Malformed("obs-fold"),
            ScanError::TooManyEmptyLines => RequestError::Malformed("leading-empty-lines"),
        }
    }
}

/// Parses the request head at the start of `buf`.
///
/// `Ok(None)`: incomplete, call again once more bytes arrived. An incomplete head that already
/// breaks a limit is refused at once, so the caller never needs more than
/// [`Limits::max_head_len`] bytes of buffer. This rescans `buf` from the start on each call; a
/// caller reading a head piecemeal should use [`parse_request_incremental`].
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, RequestError> {
    parse_request_incremental(buf, limits, &mut HeadProgress::default())
}

/// [`parse_request`] that resumes scanning where the previous call on a shorter prefix of the
/// same buffer stopped, so a head trickling in byte by byte costs linear, not quadratic, time.
/// Start each head with `HeadProgress::default()`.
pub fn parse_request_incremental(
    buf: &[u8],
    limits: &Limits,
    progress: &mut HeadProgress,
) -> Result<Option<RequestHead>, RequestError> {
    if limits.allow_http09 {
        if let Some(head) = simple_request(buf, limits) {
            return Ok(Some(head));
        }
    }
    let Some(end) = scan::scan(buf, &limits.scan_limits(), progress)? else {
        return Ok(None);
    };
    let head = &buf[end.head_start..end.head_len];
    let mut raw = vec![httparse::EMPTY_HEADER; end.fields];
    let mut parsed = httparse::Request::new(&mut raw);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(len)) if len == head.len() => {}
        // The scan found the empty line, so httparse cannot stop elsewhere; refuse if it does.
        Ok(_) => return Err(RequestError::Malformed("head")),
        Err(error) => {
            let request_line = &buf[end.head_start..end.first_line_end];
            return Err(from_httparse(error, request_line));
        }
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(RequestError::Malformed("head"));
    };
    let method_span = super::span_in(head, method.as_bytes(), end.head_start);
    let target_span = super::span_in(head, target.as_bytes(), end.head_start);
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let headers = super::convert_headers(head, parsed.headers, end.head_start);
    let method = Method::from_bytes(method.as_bytes());
    let (form, path) = classify_target(buf, method, target_span)?;
    let host = host(buf, &headers, version)?;
    let body = framing(buf, &headers, version)?;
    let expect_continue = expectation(buf, &headers, version)?;
    let connection = ConnectionOptions::from_headers(buf, &headers)
        .ok_or(RequestError::Malformed("connection-options"))?;
    Ok(Some(RequestHead {
        method,
        method_span,
        target: target_span,
        form,
        path,
        version,
        connection,
        headers,
        head_len: end.head_len,
        body,
        host,
        expect_continue,
        simple: false,
    }))
}

/// An HTTP/0.9 simple request at the start of `buf`: `GET`, one space, an origin-form target
/// of visible ASCII, then CRLF or LF, within the request-line limit. Anything else (a line
/// not ended yet, a version, another method) is left to the HTTP/1 parser, which refuses what
/// is not HTTP/1.
fn simple_request(buf: &[u8], limits: &Limits) -> Option<RequestHead> {
    let window = &buf[..buf.len().min(limits.request_line.saturating_add(2))];
    let lf = memchr::memchr(b'\n', window)?;
    let line = buf[..lf].strip_suffix(b"\r").unwrap_or(&buf[..lf]);
    let target = line.strip_prefix(b"GET ")?;
    let visible = |b: &u8| (0x21..=0x7e).contains(b);
    if !target.starts_with(b"/") || !target.iter().all(visible) {
        return None;
    }
    let target = Span {
        start: 4,
        end: 4 + target.len(),
    };
    Some(RequestHead {
        method: Method::Get,
        method_span: Span { start: 0, end: 3 },
        target,
        form: TargetForm::Origin,
        path: target,
        version: Version::Http10,
        headers: Vec::new(),
        head_len: lf + 1,
        body: RequestBody::None,
        host: None,
        connection: ConnectionOptions::default(),
        expect_continue: false,
        simple: true,
    })
}

/// Maps an httparse error on a head whose lines were already scanned.
fn from_httparse(error: httparse::Error, request_line: &[u8]) -> RequestError {
    match error {
        httparse::Error::Version => {
            // `HTTP/x.y` with other digits is a version we do not speak (505); anything else
            // in that place is not HTTP (400).
            let line = request_line.strip_suffix(b"\r\n").unwrap_or(request_line);
            if line.split(|b| *b == b' ').count() != 3 {
                // A space inside the target, or doubled: the line is not method SP target
                // SP version, whatever its last word (RFC 9112 §3).
                return RequestError::Malformed("request-line");
            }
            let version = line.rsplit(|b| *b == b' ').next().unwrap_or(line);
            match version {
                [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
                    if major.is_ascii_digit() && minor.is_ascii_digit() =>
                {
                    RequestError::UnsupportedVersion
                }
                _ => RequestError::Malformed("version"),
            }
        }
        httparse::Error::Token => RequestError::Malformed("request-line"),
        httparse::Error::HeaderName => RequestError::Malformed("field-name"),
        httparse::Error::HeaderValue => RequestError::Malformed("field-value"),
        httparse::Error::NewLine => RequestError::Malformed("newline"),
        httparse::Error::TooManyHeaders => RequestError::TooManyFields,
        // Only responses have a status.
        httparse::Error::Status => RequestError::Malformed("request-line"),
    }
}

/// Works out the target's form and the path to route on (RFC 9112 §3.2).
fn classify_target(
    buf: &[u8],
    method: Method,
    target: Span,
) -> Result<(TargetForm, Span), RequestError> {
    let bytes = target.of(buf);
    // httparse already refused controls and spaces; a fragment is never part of a target,
    // non-ASCII must be percent-encoded (RFC 3986 §2), and `"`, `<`, `>` and `\` are never
    // valid in a URI (browsers escape them). `{`, `}`, `|`, `^` and `` ` ``, equally invalid,
    // are let through: some browsers send them unescaped in queries. Escapes must be
    // well-formed in the path, which routing decodes; the query is the application's and
    // passes as it came (as Apache and nginx pass it).
    let path = bytes.split(|b| *b == b'?').next().unwrap_or_default();
    if bytes
        .iter()
        .any(|b| matches!(b, b'#' | b'"' | b'<' | b'>' | b'\\') || !b.is_ascii())
        || !fields::has_valid_escapes(path)
    {
        return Err(RequestError::InvalidTarget);
    }
    if method == Method::Connect {
        return if is_host_and_port(bytes) {
            Ok((TargetForm::Authority, target))
        } else {
            Err(RequestError::InvalidTarget)
        };
    }
    if bytes == b"*" {
        return if method == Method::Options {
            Ok((TargetForm::Asterisk, target))
        } else {
            Err(RequestError::InvalidTarget)
        };
    }
    if bytes.starts_with(b"/") {
        return Ok((TargetForm::Origin, target));
    }
    let scheme_len = if starts_with_ignore_case(bytes, b"http://") {
        7
    } else if starts_with_ignore_case(bytes, b"https://") {
        8
    } else {
        return Err(RequestError::InvalidTarget);
    };
    let rest = &bytes[scheme_len..];
    let authority_len = rest
        .iter()
        .position(|b| *b == b'/' || *b == b'?')
        .unwrap_or(rest.len());
    if !fields::is_valid_authority(&rest[..authority_len], false) {
        return Err(RequestError::InvalidTarget);
    }
    let authority_start = target.start + scheme_len;
    let authority = Span::new(authority_start, authority_start + authority_len);
    Ok((
        TargetForm::Absolute { authority },
        Span::new(authority.end, target.end),
    ))
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `host:port` with a non-empty host and a non-empty, all-digit port.
fn is_host_and_port(bytes: &[u8]) -> bool {
    match bytes.iter().rposition(|b| *b == b':') {
        Some(colon) => {
            let (host, port) = (&bytes[..colon], &bytes[colon + 1..]);
            fields::is_valid_authority(host, false)
                && !port.is_empty()
                && port.iter().all(u8::is_ascii_digit)
        }
        None => false,
    }
}

/// The single `Host` value: required in HTTP/1.1, never repeated (RFC 9112 §3.2).
fn host(buf: &[u8], headers: &[Header], version: Version) -> Result<Option<Span>, RequestError> {
    let mut hosts = headers.iter().filter(|h| h.is(buf, b"host"));
    let host = hosts.next().map(|h| h.value);
    if hosts.next().is_some() {
        return Err(RequestError::MultipleHost);
    }
    match (host, version) {
        (None, Version::Http11) => Err(RequestError::MissingHost),
        (Some(value), _) if !fields::is_valid_authority(value.of(buf), true) => {
            Err(RequestError::Malformed("host"))
        }
        (host, _) => Ok(host),
    }
}

// RFC 9112 §6.3, message body length, as it applies to a request:
//
//   1-2. (Responses only: HEAD, 1xx/204/304 and 2xx to CONNECT have no content.)
//   3. If a message is received with both a Transfer-Encoding and a Content-Length header field,
//      the Transfer-Encoding overrides the Content-Length. Such a message might indicate an
//      attempt to perform request smuggling or response splitting and ought to be handled as an
//      error. [We refuse it: 400.]
//   4. If a Transfer-Encoding header field is present and the chunked transfer coding is the
//      final encoding, the message body length is determined by reading and decoding the
//      chunked data until the transfer coding indicates the data is complete.
//      If a Transfer-Encoding header field is present in a request and the chunked transfer
//      coding is not the final encoding, the message body length cannot be determined reliably;
//      the server MUST respond with the 400 (Bad Request) status code and then close the
//      connection.
//      [§6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty: 400. §7: chunked
//      applied twice is forbidden: 400. Another coding before chunked: 501, since we implement
//      only chunked.]
//   5. If a message is received without Transfer-Encoding and with an invalid Content-Length
//      header field, then the message framing is invalid and the recipient MUST treat it as an
//      unrecoverable error; a server MUST respond with 400 and then close the connection.
//      [Several identical values, or a list of identical values, count as one.]
//   6. If a valid Content-Length header field is present without Transfer-Encoding, its decimal
//      value defines the expected message body length in octets.
//   7. If this is a request message and none of the above are true, then the message body
//      length is zero (no message body is present).
fn framing(buf: &[u8], headers: &[Header], version: Version) -> Result<RequestBody, RequestError> {
    let Some(codings) = fields::codings(buf, headers) else {
        let length =
            fields::content_length(buf, headers).map_err(|_| RequestError::InvalidContentLength)?;
        return Ok(length.map_or(RequestBody::None, RequestBody::Length));
    };
    if version == Version::Http10 {
        return Err(RequestError::TransferEncodingOnHttp10);
    }
    if headers.iter().any(|h| h.is(buf, b"content-length")) {
        return Err(RequestError::ConflictingFraming);
    }
    match codings {
        Codings::Chunked => Ok(RequestBody::Chunked),
        Codings::NotChunkedLast => Err(RequestError::TransferEncodingNotChunked),
        Codings::ChunkedTwice => Err(RequestError::Malformed("chunked-twice")),
        Codings::OtherThenChunked => Err(RequestError::UnknownTransferCoding),
    }
}

/// Whether the client waits for `100 Continue`; any expectation other than `100-continue` gets
/// 417 (RFC 9110 §10.1.1).
fn expectation(buf: &[u8], headers: &[Header], version: Version) -> Result<bool, RequestError> {
    let mut expect_continue = false;
    for item in fields::values_of(buf, headers, b"expect").flat_map(fields::list_items) {
        if !item.eq_ignore_ascii_case(b"100-continue") {
            return Err(RequestError::UnsupportedExpectation);
        }
        expect_continue = true;
    }
    // "A server that receives a 100-continue expectation in an HTTP/1.0 request MUST ignore
    // that expectation."
    Ok(expect_continue && version == Version::Http11)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_LIMITS: Limits = Limits {
        allow_http09: false,
        request_line: 64,
        field_size: 48,
        fields: 8,
    };

    /// The first non-`Ok(None)` result of feeding prefixes of `input` ending at `cuts`, then
    /// the whole, to the incremental parser with one progress.
    fn feed(
        input: &[u8],
        limits: &Limits,
        cuts: impl Iterator<Item = usize>,
    ) -> Result<Option<RequestHead>, RequestError> {
        let mut progress = HeadProgress::default();
        for cut in cuts.chain([input.len()]) {
            let result = parse_request_incremental(&input[..cut], limits, &mut progress);
            if result != Ok(None) {
                return result;
            }
        }
        Ok(None)
    }

    /// Parses `input` whole, at every split offset (stateless prefix, then incremental), and
    /// byte by byte; asserts all agree and returns the outcome.
    fn parse_everywhere(
        input: &[u8],
        limits: &Limits,
    ) -> Result<Option<RequestHead>, RequestError> {
        let whole = parse_request(input, limits);
        for split in 0..input.len() {
            let prefix = parse_request(&input[..split], limits);
            if prefix != Ok(None) {
                assert_eq!(prefix, whole, "stateless prefix of {split} bytes");
            }
            assert_eq!(
                feed(input, limits, [split].into_iter()),
                whole,
                "split at {split}"
            );
        }
        assert_eq!(feed(input, limits, 1..input.len()), whole, "byte by byte");
        whole
    }

    #[test]
    fn http09_simple_requests_are_taken_only_when_allowed() {
        let allow = Limits {
            allow_http09: true,
            ..TEST_LIMITS
        };
        for (input, target) in [
            (&b"GET /index.html\r\n"[..], &b"/index.html"[..]),
            (b"GET /\n", b"/"),
            (b"GET /a?b=c\r\nleftover", b"/a?b=c"),
        ] {
            let head = parse_request(input, &allow).unwrap().expect("complete");
            assert!(head.simple);
            assert_eq!((head.method, head.version), (Method::Get, Version::Http10));
            assert_eq!(head.target.of(input), target);
            assert_eq!(head.path.of(input), target);
            assert!(head.headers.is_empty() && head.host.is_none());
            assert_eq!(head.body, RequestBody::None);
            assert!(!head.wants_keep_alive());
            let line_end = input.iter().position(|&b| b == b'\n').unwrap();
            assert_eq!(head.head_len, line_end + 1);
        }
        // Not simple requests: left to the HTTP/1 parser (which refuses or waits).
        assert_eq!(parse_request(b"GET /index.html", &allow), Ok(None));
        assert!(
            !parse_request(b"GET / HTTP/1.0\r\n\r\n", &allow)
                .unwrap()
                .unwrap()
                .simple
        );
        for refused in [
            &b"POST /\r\n\r\n"[..],
            b"GET x\r\n\r\n",
            b"GET /a b\r\n\r\n",
        ] {
            assert!(parse_request(refused, &allow).is_err(), "{refused:?}");
        }
        // Off (the default): a simple request is a malformed head.
        assert!(parse_request(b"GET /index.html\r\n\r\n", &TEST_LIMITS).is_err());
        // Past the request-line limit it is not taken either.
        let long = format!("GET /{}\r\n", "a".repeat(allow.request_line));
        assert!(!matches!(parse_request(long.as_bytes(), &allow), Ok(Some(h)) if h.simple));
    }

    fn parse_ok(input: &[u8]) -> RequestHead {
        match parse_everywhere(input, &TEST_LIMITS) {
            Ok(Some(head)) => head,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn parse_err(input: &[u8]) -> RequestError {
        match parse_everywhere(input, &TEST_LIMITS) {
            Err(error) => error,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    #[test]
    fn parses_a_browser_request() {
        let input = b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept:  text/html \t\r\n\
                      Connection: keep-alive\r\n\r\nNEXT";
        let head = parse_ok(input);
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.method_span.of(input), b"GET");
        assert_eq!(head.target.of(input), b"/a/b?c=d");
        assert_eq!(head.path.of(input), b"/a/b?c=d");
        assert_eq!(head.form, TargetForm::Origin);
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.headers.len(), 3);
        assert_eq!(head.headers[1].name.of(input), b"Accept");
        assert_eq!(head.headers[1].value.of(input), b"text/html");
        assert_eq!(head.host.map(|h| h.of(input)), Some(&b"example.com"[..]));
        assert_eq!(&input[head.head_len..], b"NEXT");
        assert_eq!(head.body, RequestBody::None);
        assert!(head.connection.keep_alive);
        assert!(head.wants_keep_alive());
        assert!(!head.expect_continue);
    }

    #[test]
    fn incomplete_head_asks_for_more() {
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n", &TEST_LIMITS),
            Ok(None)
        );
        assert_eq!(parse_request(b"", &TEST_LIMITS), Ok(None));
        assert_eq!(parse_request(b"\r\n\r\n", &TEST_LIMITS), Ok(None));
    }

    #[test]
    fn ignores_a_bounded_number_of_leading_empty_lines() {
        let mut input = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES);
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let head = parse_ok(&input);
        assert_eq!(head.method_span.start, 2 * MAX_LEADING_EMPTY_LINES);
        assert_eq!(head.head_len, input.len());
        let mut input = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES + 1);
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            parse_err(&input),
            RequestError::Malformed("leading-empty-lines")
        );
    }

    #[test]
    fn keep_alive_defaults_differ_by_version() {
        let head = parse_ok(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(head.version, Version::Http10);
        assert_eq!(head.host, None);
        assert!(!head.wants_keep_alive());
        assert!(parse_ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").wants_keep_alive());
        assert!(
            !parse_ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").wants_keep_alive()
        );
        assert!(parse_ok(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").wants_keep_alive());
    }

    #[test]
    fn frames_content_length_and_chunked_bodies() {
        let head = parse_ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(head.body, RequestBody::Length(12));
        let head = parse_ok(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\ncontent-length: 3\r\n\r\n",
        );
        assert_eq!(head.body, RequestBody::Length(3));
        let head = parse_ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(head.body, RequestBody::Chunked);
    }

    #[test]
    fn absolute_form_routes_on_what_follows_the_authority() {
        let input = b"GET http://Example.com:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n";
        let head = parse_ok(input);
        let TargetForm::Absolute { authority } = head.form else {
            panic!("{:?}", head.form)
        };
        assert_eq!(authority.of(input), b"Example.com:8080");
        assert_eq!(head.path.of(input), b"/x?y");
        assert_eq!(head.authority(), Some(authority));
        assert!(!head.path_lacks_slash(input));
        let input = b"GET HTTPS://example.com?q HTTP/1.1\r\nHost: a\r\n\r\n";
        let head = parse_ok(input);
        assert_eq!(head.path.of(input), b"?q");
        assert!(head.path_lacks_slash(input));
    }

    #[test]
    fn authority_and_asterisk_forms_need_their_methods() {
        let input = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
        let head = parse_ok(input);
        assert_eq!(head.form, TargetForm::Authority);
        assert_eq!(head.path.of(input), b"example.com:443");
        let head = parse_ok(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head.form, TargetForm::Asterisk);
        assert_eq!(head.authority(), head.host);
    }

    #[test]
    fn expect_100_continue_is_flagged_on_http11_and_ignored_on_http10() {
        let head = parse_ok(
            b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
        );
        assert!(head.expect_continue);
        let head = parse_ok(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(!head.expect_continue);
    }

    #[test]
    fn other_methods_keep_their_bytes() {
        let input = b"PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n";
        let head = parse_ok(input);
        assert_eq!(head.method, Method::Other);
        assert_eq!(head.method_span.of(input), b"PROPFIND");
    }

    #[test]
    fn empty_values_and_empty_host_are_kept() {
        let input = b"GET / HTTP/1.1\r\nHost:\r\nX-Empty: \t \r\n\r\n";
        let head = parse_ok(input);
        assert_eq!(head.host.map(|h| h.len()), Some(0));
        assert_eq!(head.headers[1].value.of(input), b"");
    }

    #[test]
    fn max_head_len_bounds_the_largest_accepted_head() {
        let limits = Limits {
            allow_http09: false,
            request_line: 20,
            field_size: 10,
            fields: 2,
        };
        let mut input = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES);
        input.extend_from_slice(b"GET /aaaaaa HTTP/1.1\r\nHost: aaaa\r\nX: 1234567\r\n\r\n");
        assert_eq!(input.len(), limits.max_head_len());
        assert!(parse_everywhere(&input, &limits).unwrap().is_some());
        // Every incomplete prefix that is still accepted fits in the bound too; a longer one
        // is refused before the buffer grows further.
        let mut longer = b"GET / HTTP/1.1\r\nHost: a\r\nX: 1234567\r\nY".to_vec();
        assert_eq!(
            parse_request(&longer, &limits),
            Err(RequestError::TooManyFields)
        );
        longer.truncate(longer.len() - 1);
        assert_eq!(parse_request(&longer, &limits), Ok(None));
        assert_eq!(Limits::default().max_head_len(), 20 + 8192 + 100 * 8192 + 2);
    }

    #[test]
    fn rejects_a_request_line_over_the_limit_with_414() {
        let mut input = b"GET /".to_vec();
        input.extend_from_slice(&[b'a'; 60]);
        input.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        let error = parse_err(&input);
        assert_eq!(error, RequestError::LineTooLong);
        assert_eq!(error.status(), 414);
        // Refused before the line ends.
        assert_eq!(parse_request(&input[..64], &TEST_LIMITS), Ok(None));
        assert_eq!(
            parse_request(&input[..65], &TEST_LIMITS),
            Err(RequestError::LineTooLong)
        );
    }

    #[test]
    fn rejects_a_field_over_the_limit_with_431() {
        let mut input = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        input.extend_from_slice(&[b'v'; 46]);
        input.extend_from_slice(b"\r\n\r\n");
        let error = parse_err(&input);
        assert_eq!(error, RequestError::FieldTooLarge);
        assert_eq!(error.status(), 431);
    }

    #[test]
    fn rejects_too_many_fields_with_431() {
        let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..8 {
            input.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        let error = parse_err(&input);
        assert_eq!(error, RequestError::TooManyFields);
        assert_eq!(error.status(), 431);
    }

    #[test]
    fn rejects_malformed_syntax_with_400() {
        let cases: [(&[u8], &str); 12] = [
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", "bare-lf"),
            (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "obs-fold"),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "field-name"),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
                "field-value",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
                "field-value",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n",
                "field-value",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
                "field-value",
            ),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "request-line"),
            (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "request-line"),
            (b"GET / HTXP/1.1\r\nHost: a\r\n\r\n", "version"),
            (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "host"),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                "chunked-twice",
            ),
        ];
        for (input, reason) in cases {
            let error = parse_err(input);
            assert_eq!(
                error,
                RequestError::Malformed(reason),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(error.status(), 400);
            assert_eq!(error.reason(), reason);
        }
    }

    #[test]
    fn rejects_more_connection_options_than_the_bound() {
        let tokens = ["x"; crate::http1::MAX_CONNECTION_OPTIONS].join(",");
        let input = format!("GET / HTTP/1.1\r\nHost: a\r\nConnection: {tokens}\r\n\r\n");
        assert!(parse_ok(input.as_bytes()).wants_keep_alive());
        let input = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: {tokens}\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            parse_err(input.as_bytes()),
            RequestError::Malformed("connection-options")
        );
    }

    #[test]
    fn rejects_other_http_versions_with_505() {
        for input in [
            &b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let error = parse_err(input);
            assert_eq!(error, RequestError::UnsupportedVersion);
            assert_eq!(error.status(), 505);
        }
    }

    #[test]
    fn rejects_invalid_content_length() {
        for value in ["abc", "1, 2", "-1", "", "99999999999999999999"] {
            let input = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n");
            let error = parse_err(input.as_bytes());
            assert_eq!(error, RequestError::InvalidContentLength, "{value:?}");
            assert_eq!(error.status(), 400);
        }
        let error = parse_err(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        );
        assert_eq!(error, RequestError::InvalidContentLength);
    }

    #[test]
    fn rejects_content_length_with_transfer_encoding() {
        let error = parse_err(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(error, RequestError::ConflictingFraming);
        assert_eq!(error.status(), 400);
        assert_eq!(error.reason(), "cl-and-te");
    }

    #[test]
    fn rejects_transfer_encoding_whose_last_coding_is_not_chunked() {
        for value in ["gzip", "chunked, gzip", "identity", "chunked;x=1"] {
            let input = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {value}\r\n\r\n");
            let error = parse_err(input.as_bytes());
            assert_eq!(error, RequestError::TransferEncodingNotChunked, "{value:?}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn rejects_unknown_transfer_coding_before_chunked_with_501() {
        let error = parse_err(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(error, RequestError::UnknownTransferCoding);
        assert_eq!(error.status(), 501);
    }

    #[test]
    fn rejects_transfer_encoding_on_http10() {
        let error = parse_err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(error, RequestError::TransferEncodingOnHttp10);
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn rejects_http11_without_host() {
        let error = parse_err(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
        assert_eq!(error, RequestError::MissingHost);
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn rejects_multiple_host_fields() {
        let error = parse_err(b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n");
        assert_eq!(error, RequestError::MultipleHost);
        assert_eq!(error.status(), 400);
        assert_eq!(
            parse_err(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
            RequestError::MultipleHost
        );
    }

    #[test]
    fn rejects_invalid_targets() {
        let cases: [&[u8]; 10] = [
            b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET http:///b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET http://user@a/b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n",
            b"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n",
            b"CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n",
        ];
        for input in cases {
            let error = parse_err(input);
            assert_eq!(
                error,
                RequestError::InvalidTarget,
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn rejects_unsupported_expectations_with_417() {
        let error = parse_err(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n");
        assert_eq!(error, RequestError::UnsupportedExpectation);
        assert_eq!(error.status(), 417);
    }

    #[test]
    fn every_error_has_a_distinct_reason() {
        let all = [
            RequestError::LineTooLong,
            RequestError::FieldTooLarge,
            RequestError::TooManyFields,
            RequestError::Malformed("x"),
            RequestError::UnsupportedVersion,
            RequestError::InvalidContentLength,
            RequestError::ConflictingFraming,
            RequestError::TransferEncodingNotChunked,
            RequestError::UnknownTransferCoding,
            RequestError::TransferEncodingOnHttp10,
            RequestError::MissingHost,
            RequestError::MultipleHost,
            RequestError::InvalidTarget,
            RequestError::UnsupportedExpectation,
        ];
        let mut reasons: Vec<&str> = all.iter().map(RequestError::reason).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
        assert_eq!(
            RequestError::ConflictingFraming.to_string(),
            "cl-and-te (400)"
        );
    }
}
