//! Answers spoonfeed writes itself: the one exhaustive mapping from what went wrong to the
//! status code and whether the client connection must close, and the bytes of such a response.

use std::io::Write;
use std::time::{Duration, SystemTime};

use crate::http1::chunked::ChunkedError;
use crate::http1::date::format_http_date;
use crate::http1::request::RequestError;

/// Why an exchange is answered by spoonfeed instead of a backend. Who caused it decides the
/// class: the client (4xx), the backend (502/503/504), or spoonfeed itself (500).
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The client's request head is unacceptable.
    Request(RequestError),
    /// The request head did not arrive within `Timeout`.
    RequestTimeout,
    /// The request body is larger than `LimitRequestBody`.
    BodyTooLarge,
    /// The chunked request body is malformed.
    BadRequestBody(ChunkedError),
    /// An absolute-form request for a host that is not ours, or a CONNECT, with
    /// `ProxyRequests Off`.
    ForwardProxyRefused,
    /// The path has a `.` or `..` segment, which could route around an exclusion.
    DotSegment,
    /// No `ProxyPass` route matches (spoonfeed serves no files of its own).
    NoRoute,
    /// A `ProxyPass PATH !` exclusion matched.
    Excluded,
    /// `OPTIONS *`: answered by spoonfeed itself.
    ServerOptions,
    /// `retry=` has the backend marked down after a failed connect; retry after this long.
    BackendDown(Duration),
    /// `max=` connections to the backend stayed busy for the whole timeout.
    BackendBusy,
    /// Every address of the backend refused or failed the connect.
    ConnectFailed,
    /// The connect did not complete within `connectiontimeout`.
    ConnectTimeout,
    /// No complete response head within the backend's `timeout`.
    ResponseTimeout,
    /// The backend's response head is invalid or its framing ambiguous.
    BadResponse(&'static str),
    /// The backend closed or reset the connection before a complete response head.
    BackendClosed,
    /// The reactor's block pool is at its cap (`ProxyBufferPoolSize`): the request cannot
    /// start now; the client may retry in a second.
    PoolExhausted,
    /// The status endpoint was asked for by an address outside `StatusAllow`.
    StatusForbidden,
    /// A temporary file for a request body could not be made or written.
    TempFile,
    /// On TLS, `Host` selects another virtual host than the SNI name did (the certificate
    /// the client checked is not that host's).
    Misdirected,
    /// `ProxyRequests On`, but no `Require` line of `<Proxy "*">` admits the client.
    ForwardProxyDenied,
    /// A forward-proxy request for a scheme other than `http://` (https goes by CONNECT).
    ForwardScheme,
    /// A forward-proxy target without a usable host or port (CONNECT without a port, port 0).
    ForwardTarget,
    /// CONNECT to a port `AllowCONNECT` does not list.
    ConnectPortRefused,
    /// The forward-proxy target's name did not resolve (or the resolver could not be asked).
    ResolveFailed,
    /// `Cache-Control: only-if-cached`, and the cache has nothing it may use.
    NotCached,
}

/// Whether the client connection may carry another exchange after the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    KeepAlive,
    Close,
}

impl After {
    /// `KeepAlive` when the connection may go on, else `Close`.
    pub fn keeping(alive: bool) -> After {
        if alive {
            After::KeepAlive
        } else {
            After::Close
        }
    }
}

impl Failure {
    /// The wire answer. No wildcard arm: a new kind must decide its own status.
    pub fn answer(&self) -> (u16, After) {
        match self {
            Failure::Request(e) => (e.status(), After::Close),
            Failure::RequestTimeout => (408, After::Close),
            Failure::BodyTooLarge => (413, After::Close),
            Failure::BadRequestBody(_) => (400, After::Close),
            Failure::ForwardProxyRefused | Failure::StatusForbidden => (403, After::KeepAlive),
            Failure::DotSegment => (400, After::KeepAlive),
            Failure::NoRoute | Failure::Excluded => (404, After::KeepAlive),
            Failure::ServerOptions => (200, After::KeepAlive),
            Failure::BackendDown(_) | Failure::BackendBusy | Failure::PoolExhausted => {
                (503, After::KeepAlive)
            }
            Failure::ConnectFailed | Failure::BadResponse(_) | Failure::BackendClosed => {
                (502, After::KeepAlive)
            }
            Failure::ConnectTimeout | Failure::ResponseTimeout => (504, After::KeepAlive),
            Failure::TempFile => (500, After::Close),
            Failure::Misdirected => (421, After::KeepAlive),
            Failure::ForwardProxyDenied | Failure::ConnectPortRefused => (403, After::KeepAlive),
            Failure::ForwardScheme => (501, After::KeepAlive),
            Failure::ForwardTarget => (400, After::KeepAlive),
            Failure::ResolveFailed => (502, After::KeepAlive),
            Failure::NotCached => (504, After::KeepAlive),
        }
    }

    /// A short reason for the error log.
    pub fn reason(&self) -> String {
        match self {
            Failure::Request(e) => format!("bad request: {}", e.reason()),
            Failure::RequestTimeout => "request head timed out".into(),
            Failure::BodyTooLarge => "request body exceeds LimitRequestBody".into(),
            Failure::BadRequestBody(e) => format!("bad chunked request body: {}", e.reason()),
            Failure::ForwardProxyRefused => {
                "forward proxy request refused (ProxyRequests Off)".into()
            }
            Failure::DotSegment => "dot-segment in the request path".into(),
            Failure::NoRoute => "no ProxyPass route matches".into(),
            Failure::Excluded => "excluded by ProxyPass !".into(),
            Failure::ServerOptions => "OPTIONS *".into(),
            Failure::BackendDown(_) => "backend marked down (retry=)".into(),
            Failure::BackendBusy => "backend at max= connections for the whole timeout".into(),
            Failure::ConnectFailed => "backend connect failed".into(),
            Failure::ConnectTimeout => "backend connect timed out".into(),
            Failure::ResponseTimeout => "backend response head timed out".into(),
            Failure::BadResponse(why) => format!("invalid backend response: {why}"),
            Failure::BackendClosed => "backend closed the connection before a response".into(),
            Failure::PoolExhausted => "buffer pool exhausted (ProxyBufferPoolSize)".into(),
            Failure::StatusForbidden => "status endpoint refused (StatusAllow)".into(),
            Failure::TempFile => "temporary file for the request body failed".into(),
            Failure::Misdirected => "Host names another virtual host than the TLS SNI name".into(),
            Failure::ForwardProxyDenied => {
                "forward proxy request from a client <Proxy \"*\"> does not admit".into()
            }
            Failure::ForwardScheme => {
                "forward proxy request for a scheme other than http:// (use CONNECT)".into()
            }
            Failure::ForwardTarget => "forward proxy target without a usable host or port".into(),
            Failure::ConnectPortRefused => "CONNECT to a port AllowCONNECT does not list".into(),
            Failure::ResolveFailed => "the forward proxy target's name did not resolve".into(),
            Failure::NotCached => "only-if-cached, and nothing usable in the cache".into(),
        }
    }

    /// Who caused it. No wildcard arm: a new kind must say.
    pub fn source(&self) -> Source {
        match self {
            Failure::BackendDown(_)
            | Failure::BackendBusy
            | Failure::ConnectFailed
            | Failure::ConnectTimeout
            | Failure::ResponseTimeout
            | Failure::BadResponse(_)
            | Failure::BackendClosed => Source::Backend,
            Failure::PoolExhausted | Failure::TempFile => Source::Ours,
            Failure::Request(_)
            | Failure::StatusForbidden
            | Failure::RequestTimeout
            | Failure::BodyTooLarge
            | Failure::BadRequestBody(_)
            | Failure::ForwardProxyRefused
            | Failure::DotSegment
            | Failure::NoRoute
            | Failure::Excluded
            | Failure::ServerOptions
            | Failure::Misdirected
            | Failure::ForwardProxyDenied
            | Failure::ForwardScheme
            | Failure::ForwardTarget
            | Failure::ConnectPortRefused
            // (A forward-proxied name that does not resolve is the one the client asked for.)
            | Failure::ResolveFailed
            | Failure::NotCached => Source::Client,
        }
    }
}

/// Who caused a failure: the client (its request), the backend (it failed, or is marked down
/// or busy), or spoonfeed itself (its buffer pool or temporary files). It decides the error
/// log's level (a client's noise goes to `info`), what counts as a backend error, and whether
/// a stale cache entry may stand in (`stale-if-error`: not for a client's own mistake).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Client,
    Backend,
    Ours,
}

/// The reason phrase for the statuses spoonfeed generates.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        500 => "Internal Server Error",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// How an answer of ours is framed for the client that asked.
#[derive(Clone, Copy, Debug)]
pub struct Framing {
    pub after: After,
    /// A HEAD request: the head says how long the body would be, and no body follows.
    pub head_only: bool,
    /// An HTTP/1.0 client, which must be told `Connection: keep-alive` to keep the connection.
    pub http10: bool,
    /// An HTTP/0.9 simple request: the body alone, no head.
    pub simple: bool,
}

/// Encodes a complete response of spoonfeed's own: status line, `Date`, `Server`, framing,
/// `Connection`, and a small HTML body (none for HEAD). Returns the body length.
pub fn encode(failure: &Failure, framing: Framing, now: SystemTime, out: &mut Vec<u8>) -> u64 {
    let (status, _) = failure.answer();
    let phrase = reason_phrase(status);
    let body = if status == 200 {
        String::new()
    } else {
        format!("<!DOCTYPE html>\n<html><head><title>{status} {phrase}</title></head><body><h1>{phrase}</h1></body></html>\n")
    };
    let mut extra = Vec::new();
    match failure {
        Failure::BackendDown(wait) => {
            let _ = write!(extra, "Retry-After: {}\r\n", wait.as_secs().max(1));
        }
        Failure::PoolExhausted => extra.extend_from_slice(b"Retry-After: 1\r\n"),
        Failure::ServerOptions => {
            extra.extend_from_slice(b"Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n")
        }
        _ => {}
    }
    if !body.is_empty() {
        extra.extend_from_slice(b"Content-Type: text/html; charset=utf-8\r\n");
    }
    encode_response(status, &extra, body.as_bytes(), framing, now, out)
}

/// Encodes a response of ours with `extra` header lines (each ending in CRLF) and `body`.
/// Returns the body length sent.
pub fn encode_response(
    status: u16,
    extra: &[u8],
    body: &[u8],
    framing: Framing,
    now: SystemTime,
    out: &mut Vec<u8>,
) -> u64 {
    if framing.simple {
        out.extend_from_slice(body);
        return body.len() as u64;
    }
    let _ = write!(out, "HTTP/1.1 {status} {}\r\nDate: ", reason_phrase(status));
    let unix = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format_http_date(unix.as_secs(), out);
    out.extend_from_slice(b"\r\nServer: spoonfeed\r\n");
    out.extend_from_slice(extra);
    let _ = write!(out, "Content-Length: {}\r\n", body.len());
    match framing.after {
        After::Close => out.extend_from_slice(b"Connection: close\r\n"),
        After::KeepAlive if framing.http10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        After::KeepAlive => {}
    }
    out.extend_from_slice(b"\r\n");
    if framing.head_only {
        return 0;
    }
    out.extend_from_slice(body);
    body.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn backend_down_answer_carries_retry_after() {
        let mut out = Vec::new();
        let f = Failure::BackendDown(Duration::from_secs(42));
        let (status, after) = f.answer();
        assert_eq!((status, after), (503, After::KeepAlive));
        let framing = Framing {
            after,
            head_only: false,
            http10: false,
            simple: false,
        };
        encode(&f, framing, UNIX_EPOCH, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nRetry-After: 42\r\n"), "{text}");
        assert!(!text.contains("Connection: close"), "{text}");
    }

    #[test]
    fn head_only_answer_keeps_length_but_sends_no_body() {
        let mut out = Vec::new();
        let framing = Framing {
            after: After::Close,
            head_only: true,
            http10: false,
            simple: false,
        };
        let n = encode(&Failure::NoRoute, framing, UNIX_EPOCH, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(n, 0);
        assert!(text.ends_with("Connection: close\r\n\r\n"), "{text}");
        assert!(text.contains("Content-Length: "), "{text}");
    }

    #[test]
    fn http10_keep_alive_answers_say_so() {
        let mut out = Vec::new();
        let framing = Framing {
            after: After::KeepAlive,
            head_only: false,
            http10: true,
            simple: false,
        };
        encode(&Failure::PoolExhausted, framing, UNIX_EPOCH, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(text.contains("\r\nRetry-After: 1\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: keep-alive\r\n"), "{text}");
    }
}
