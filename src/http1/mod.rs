//! HTTP/1.x wire format: message heads, body framing and the `chunked` transfer coding.
//!
//! Owns: turning the bytes a peer sent into a [`RequestHead`] or a [`ResponseHead`] made of
//! [`Span`]s into the caller's block, deciding each message's body framing (RFC 9112 §6.3),
//! decoding `chunked` bodies incrementally ([`ChunkedDecoder`]), and reading a body of any
//! framing to its end ([`BodyReader`]).
//!
//! Must not: do I/O, look at clocks, keep borrowed slices of a block, or decide what is forwarded
//! (that is `proxy::forward`). Parsers never panic on peer input; a peer can only make them
//! return an error.
//!
//! Invariants: every [`Span`] a parser returns satisfies `start <= end <= buf.len()` for the
//! buffer it parsed, and stays valid for any longer buffer with the same prefix.
#![forbid(unsafe_code)]

pub mod body;
pub mod chunked;
pub mod date;
mod fields;
pub mod request;
pub mod response;
mod scan;

pub use body::{BodyError, BodyReader, Framing, Step};
pub use chunked::{ChunkedDecoder, ChunkedError, ChunkedLimits, Decoded};
pub use fields::{is_hop_by_hop, list_items};
pub use request::{
    parse_request, parse_request_incremental, Limits, RequestBody, RequestError, RequestHead,
    TargetForm, MAX_LEADING_EMPTY_LINES,
};
pub use response::{
    parse_response, parse_response_incremental, response_body, ResponseBody, ResponseError,
    ResponseHead,
};
pub use scan::HeadProgress;

/// A byte range `start..end` into a buffer owned by someone else.
///
/// Invariant: `start <= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// The span covering `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end, "span {start}..{end} is reversed");
        Span { start, end }
    }

    /// The bytes this span covers in `buf`.
    ///
    /// # Panics
    /// If the span does not lie within `buf`: spans must be applied to the buffer (or a longer
    /// buffer with the same prefix) they were produced from.
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start..self.end]
    }

    /// Number of bytes covered.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no byte.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The same range moved `by` bytes to the right.
    pub fn shift(self, by: usize) -> Span {
        Span::new(self.start + by, self.end + by)
    }
}

/// The HTTP/1.x minor version of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

impl Version {
    /// The version as written in a start-line, e.g. `HTTP/1.1`.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }

    /// The version as written in a `Via` received-protocol, e.g. `1.1` (RFC 9110 §7.6.3).
    pub fn via_protocol(self) -> &'static [u8] {
        match self {
            Version::Http10 => b"1.0",
            Version::Http11 => b"1.1",
        }
    }
}

/// One field line of a head: both spans index the buffer the head was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The field name, as sent (case preserved).
    pub name: Span,
    /// The field value with leading and trailing optional whitespace (SP / HTAB) removed.
    pub value: Span,
}

impl Header {
    /// Whether this field's name equals `name`, ignoring ASCII case.
    pub fn is(&self, buf: &[u8], name: &[u8]) -> bool {
        self.name.of(buf).eq_ignore_ascii_case(name)
    }
}

/// The fields `headers` locates in `buf`, as (name, value) pairs: the form the cache's policy
/// and store take them in.
pub fn field_pairs<'a>(buf: &'a [u8], headers: &[Header]) -> Vec<(&'a [u8], &'a [u8])> {
    headers
        .iter()
        .map(|h| (h.name.of(buf), h.value.of(buf)))
        .collect()
}

/// A request method; methods are case-sensitive (RFC 9110 §9.1), so `get` is [`Method::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `CONNECT`
    Connect,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `PATCH`
    Patch,
    /// Any other token; the request's `method_span` holds its bytes.
    Other,
}

impl Method {
    /// The method named by `token`.
    pub fn from_bytes(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }

    /// Safe methods are read-only by definition (RFC 9110 §9.2.1).
    pub fn is_safe(self) -> bool {
        match self {
            Method::Get | Method::Head | Method::Options | Method::Trace => true,
            Method::Post
            | Method::Put
            | Method::Delete
            | Method::Connect
            | Method::Patch
            | Method::Other => false,
        }
    }

    /// Idempotent methods may be retried automatically after a connection failure
    /// (RFC 9110 §9.2.2): the safe methods plus `PUT` and `DELETE`. Unknown methods are not.
    pub fn is_idempotent(self) -> bool {
        match self {
            Method::Put | Method::Delete => true,
            Method::Get
            | Method::Head
            | Method::Options
            | Method::Trace
            | Method::Post
            | Method::Connect
            | Method::Patch
            | Method::Other => self.is_safe(),
        }
    }

    /// Whether a request with this method is expected to carry content, so that one without any
    /// gets `Content-Length: 0` when forwarded (RFC 9110 §8.6).
    pub fn expects_content(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

/// Most options (tokens) the `Connection` fields of one head may list; a head listing more is
/// refused as malformed (400 from a client, 502 from a backend). Real peers list one to three.
/// The bound keeps `proxy::forward`'s "is this field named by `Connection`?" check, made once
/// per field, cheap.
pub const MAX_CONNECTION_OPTIONS: usize = 16;

/// The connection options of a message: the tokens of all its `Connection` fields that this
/// crate acts on (RFC 9110 §7.6.1). Other tokens name fields to drop when forwarding; see
/// `proxy::forward`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ConnectionOptions {
    /// `close` was listed: the sender closes after this exchange.
    pub close: bool,
    /// `keep-alive` was listed: an HTTP/1.0 sender asks to keep the connection open.
    pub keep_alive: bool,
    /// `upgrade` was listed.
    pub upgrade: bool,
}

impl ConnectionOptions {
    /// Collects the options from every `Connection` field in `headers`; `None` if they list
    /// more than [`MAX_CONNECTION_OPTIONS`] tokens in all.
    pub fn from_headers(buf: &[u8], headers: &[Header]) -> Option<ConnectionOptions> {
        let mut options = ConnectionOptions::default();
        let tokens = fields::values_of(buf, headers, b"connection").flat_map(list_items);
        for (index, token) in tokens.enumerate() {
            if index == MAX_CONNECTION_OPTIONS {
                return None;
            }
            if token.eq_ignore_ascii_case(b"close") {
                options.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                options.keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                options.upgrade = true;
            }
        }
        Some(options)
    }
}

/// Offset of `part` inside `whole`, for turning httparse's borrowed slices into [`Span`]s.
///
/// `part` must be a subslice of `whole` (httparse only hands out subslices of its input).
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    let offset = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    debug_assert!(offset + part.len() <= whole.len(), "not a subslice");
    offset
}

/// The span of `part`, a subslice of `whole`, shifted by `base` (where `whole` starts in the
/// caller's buffer).
fn span_in(whole: &[u8], part: &[u8], base: usize) -> Span {
    let start = offset_in(whole, part) + base;
    Span::new(start, start + part.len())
}

/// Converts httparse's headers into [`Header`]s, with values trimmed of optional whitespace.
fn convert_headers(head: &[u8], raw: &[httparse::Header<'_>], base: usize) -> Vec<Header> {
    raw.iter()
        .map(|h| {
            let value = fields::trim_ows(h.value);
            Header {
                name: span_in(head, h.name.as_bytes(), base),
                value: span_in(head, value, base),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_of_returns_the_covered_bytes() {
        let span = Span::new(2, 5);
        assert_eq!(span.of(b"abcdefg"), b"cde");
        assert_eq!(span.len(), 3);
        assert!(!span.is_empty());
        assert!(Span::default().is_empty());
        assert_eq!(span.shift(1), Span::new(3, 6));
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::from_bytes(b"GET"), Method::Get);
        assert_eq!(Method::from_bytes(b"get"), Method::Other);
        assert_eq!(Method::from_bytes(b"PROPFIND"), Method::Other);
    }

    #[test]
    fn idempotent_methods_follow_rfc_9110() {
        let idempotent = [
            Method::Get,
            Method::Head,
            Method::Put,
            Method::Delete,
            Method::Options,
            Method::Trace,
        ];
        for m in idempotent {
            assert!(m.is_idempotent(), "{m:?}");
        }
        for m in [Method::Post, Method::Patch, Method::Connect, Method::Other] {
            assert!(!m.is_idempotent(), "{m:?}");
            assert!(!m.is_safe(), "{m:?}");
        }
        assert!(!Method::Put.is_safe());
        assert!(!Method::Delete.is_safe());
        assert!(Method::Get.is_safe());
    }

    #[test]
    fn connection_options_collect_tokens_from_every_connection_field() {
        let buf = b"Connection: Keep-Alive, foo\r\nconnection: ,UPGRADE\r\nX: close";
        let headers = [
            Header {
                name: Span::new(0, 10),
                value: Span::new(12, 27),
            },
            Header {
                name: Span::new(29, 39),
                value: Span::new(41, 49),
            },
            Header {
                name: Span::new(51, 52),
                value: Span::new(54, 59),
            },
        ];
        assert_eq!(headers[2].value.of(buf), b"close");
        let options = ConnectionOptions::from_headers(buf, &headers);
        assert_eq!(
            options,
            Some(ConnectionOptions {
                close: false,
                keep_alive: true,
                upgrade: true
            })
        );
    }

    #[test]
    fn connection_options_are_bounded() {
        let value = ["a"; MAX_CONNECTION_OPTIONS].join(",");
        let mut buf = b"Connection: ".to_vec();
        buf.extend_from_slice(value.as_bytes());
        let headers = [Header {
            name: Span::new(0, 10),
            value: Span::new(12, buf.len()),
        }];
        assert!(ConnectionOptions::from_headers(&buf, &headers).is_some());
        buf.extend_from_slice(b",b");
        let headers = [Header {
            name: Span::new(0, 10),
            value: Span::new(12, buf.len()),
        }];
        assert_eq!(ConnectionOptions::from_headers(&buf, &headers), None);
    }
}
