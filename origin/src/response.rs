//! Writing responses: the head with its framing and connection fields, and paced body writes.
//!
//! Owns which framing fields a response carries (RFC 9112 §6) and the `Connection` field
//! (§9.3), so no endpoint can get them wrong. Must not decide what a response says: endpoints do.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use super::request::{Persistence, Version};
use super::Shared;

/// The last chunk and the empty trailer section that end a chunked body.
pub(super) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Write size when a request sets no `flush=`; large enough that pacing costs nothing.
pub(super) const DEFAULT_WRITE_BYTES: usize = 64 * 1024;

/// Which exchange a response answers; sent as `X-Origin-Conn` and `X-Origin-Req`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ExchangeIds {
    /// Serial number of the connection, from 1, in accept order.
    pub(super) connection: u64,
    /// Number of the request on its connection, from 1.
    pub(super) request: u64,
}

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ResponseFraming {
    /// `Content-Length`; also what a HEAD answer announces without sending the body.
    Length(u64),
    /// `Transfer-Encoding: chunked`; only for HTTP/1.1 requests.
    Chunked,
    /// Neither field: the body ends when the origin closes the connection.
    UntilClose,
    /// Neither field and no body, as for 204 and 304.
    Bodiless,
}

/// A response head being built; [`ResponseHead::encode`] gives its bytes.
#[derive(Debug)]
pub(super) struct ResponseHead {
    status: u16,
    framing: ResponseFraming,
    /// Invariant: `Close` whenever `framing` is `UntilClose`.
    persistence: Persistence,
    /// The request's version, which decides whether keep-alive must be announced.
    version: Version,
    ids: ExchangeIds,
    fields: Vec<(&'static str, String)>,
}

impl ResponseHead {
    /// A head for `status`. `persistence` is what the request allows; a close-delimited body
    /// overrides it, since the close is what ends that body.
    pub(super) fn new(
        status: u16,
        framing: ResponseFraming,
        persistence: Persistence,
        version: Version,
        ids: ExchangeIds,
    ) -> ResponseHead {
        let persistence = match framing {
            ResponseFraming::UntilClose => Persistence::Close,
            _ => persistence,
        };
        debug_assert!(
            framing != ResponseFraming::Chunked || version == Version::Http11,
            "chunked answer to an HTTP/1.0 request"
        );
        ResponseHead {
            status,
            framing,
            persistence,
            version,
            ids,
            fields: Vec::new(),
        }
    }

    /// Adds a field; the value must be visible ASCII and spaces (callers check anything that
    /// comes from a request).
    pub(super) fn field(mut self, name: &'static str, value: impl Into<String>) -> ResponseHead {
        let value = value.into();
        debug_assert!(
            value.bytes().all(|b| (0x20..0x7F).contains(&b)),
            "{name}: {value:?}"
        );
        self.fields.push((name, value));
        self
    }

    /// Whether the connection stays open after this response.
    pub(super) fn persistence(&self) -> Persistence {
        self.persistence
    }

    /// The head's bytes, ending with the empty line.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut head = String::with_capacity(256);
        // Writing to a String cannot fail.
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nX-Origin-Conn: {}\r\nX-Origin-Req: {}\r\n",
            self.status,
            reason(self.status),
            self.ids.connection,
            self.ids.request
        );
        for (name, value) in &self.fields {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        match self.framing {
            ResponseFraming::Length(length) => {
                let _ = write!(head, "Content-Length: {length}\r\n");
            }
            ResponseFraming::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
            ResponseFraming::UntilClose | ResponseFraming::Bodiless => {}
        }
        match (self.persistence, self.version) {
            (Persistence::Close, _) => head.push_str("Connection: close\r\n"),
            (Persistence::KeepAlive, Version::Http10) => {
                head.push_str("Connection: keep-alive\r\n")
            }
            (Persistence::KeepAlive, Version::Http11) => {}
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// The size line that starts a chunk of `length` bytes.
pub(super) fn chunk_size_line(length: u64) -> String {
    format!("{length:x}\r\n")
}

/// The reason phrase for `status`; clients must ignore it, people read it.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unassigned",
    }
}

/// Hands bytes to the connection in writes of exactly `write_size` bytes (the last may be
/// shorter), sleeping `pause` between writes, so a test can make the origin trickle. Nothing is
/// written until a whole write is gathered or [`PacedWriter::finish`] is called.
pub(super) struct PacedWriter<'a, W> {
    out: W,
    /// Bytes gathered for the next write. Invariant: `pending.len() < write_size` between calls.
    pending: Vec<u8>,
    /// Invariant: `write_size > 0`.
    write_size: usize,
    pause: Duration,
    /// Whether a write has gone out, so the next one waits `pause` first.
    has_written: bool,
    shared: &'a Shared,
}

impl<'a, W: Write> PacedWriter<'a, W> {
    pub(super) fn new(out: W, write_size: usize, pause: Duration, shared: &'a Shared) -> Self {
        let writer = PacedWriter {
            out,
            pending: Vec::with_capacity(write_size.min(DEFAULT_WRITE_BYTES)),
            write_size,
            pause,
            has_written: false,
            shared,
        };
        writer.check_invariants();
        writer
    }

    /// Queues `bytes`, writing every whole `write_size` gathered.
    pub(super) fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.pending.is_empty() && bytes.len() >= self.write_size {
                let (whole, rest) = bytes.split_at(self.write_size);
                self.write_out(whole)?;
                bytes = rest;
                continue;
            }
            let take = (self.write_size - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == self.write_size {
                let pending = std::mem::take(&mut self.pending);
                self.write_out(&pending)?;
                self.pending = pending;
                self.pending.clear();
            }
        }
        self.check_invariants();
        Ok(())
    }

    /// Writes whatever is still gathered.
    pub(super) fn finish(mut self) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            self.write_out(&pending)?;
        }
        self.out.flush()
    }

    /// One write to the connection, after the pause if one came before.
    fn write_out(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.has_written && !self.pause.is_zero() {
            self.shared.sleep(self.pause)?;
        }
        self.has_written = true;
        self.out.write_all(bytes)
    }

    fn check_invariants(&self) {
        debug_assert!(self.write_size > 0);
        debug_assert!(self.pending.len() < self.write_size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OriginConfig;

    fn ids() -> ExchangeIds {
        ExchangeIds {
            connection: 3,
            request: 2,
        }
    }

    fn encoded(framing: ResponseFraming, persistence: Persistence, version: Version) -> String {
        let head = ResponseHead::new(200, framing, persistence, version, ids()).field("X-A", "b");
        String::from_utf8(head.encode()).unwrap()
    }

    #[test]
    fn head_carries_ids_fields_and_framing() {
        let head = encoded(
            ResponseFraming::Length(5),
            Persistence::KeepAlive,
            Version::Http11,
        );
        assert_eq!(
            head,
            "HTTP/1.1 200 OK\r\nX-Origin-Conn: 3\r\nX-Origin-Req: 2\r\nX-A: b\r\nContent-Length: 5\r\n\r\n"
        );
        let chunked = encoded(
            ResponseFraming::Chunked,
            Persistence::KeepAlive,
            Version::Http11,
        );
        assert!(chunked.ends_with("Transfer-Encoding: chunked\r\n\r\n"));
    }

    #[test]
    fn announces_keep_alive_to_http10_and_close_to_anyone() {
        let kept = encoded(
            ResponseFraming::Length(0),
            Persistence::KeepAlive,
            Version::Http10,
        );
        assert!(kept.ends_with("Content-Length: 0\r\nConnection: keep-alive\r\n\r\n"));
        let closed = encoded(
            ResponseFraming::Length(0),
            Persistence::Close,
            Version::Http11,
        );
        assert!(closed.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn close_delimited_body_forces_close_whatever_the_request_allowed() {
        let head = ResponseHead::new(
            200,
            ResponseFraming::UntilClose,
            Persistence::KeepAlive,
            Version::Http11,
            ids(),
        );
        assert_eq!(head.persistence(), Persistence::Close);
        let text = String::from_utf8(head.encode()).unwrap();
        assert!(!text.contains("Content-Length") && text.ends_with("Connection: close\r\n\r\n"));
    }

    /// Records the size of every write it is given.
    #[derive(Default)]
    struct WriteSizes(Vec<usize>, Vec<u8>);

    impl Write for WriteSizes {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.push(bytes.len());
            self.1.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn paced_writer_writes_exact_sizes_whatever_the_pieces_given() {
        let shared = Shared::new(&OriginConfig::default());
        let mut sizes = WriteSizes::default();
        let mut writer = PacedWriter::new(&mut sizes, 4, Duration::ZERO, &shared);
        for piece in [&b"ab"[..], b"cdefghij", b"k", b"lmnop"] {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap();
        assert_eq!(sizes.0, [4, 4, 4, 4]);
        assert_eq!(sizes.1, b"abcdefghijklmnop");
        let mut sizes = WriteSizes::default();
        let mut writer = PacedWriter::new(&mut sizes, 3, Duration::ZERO, &shared);
        writer.write_all(b"abcdefg").unwrap();
        writer.finish().unwrap();
        assert_eq!(sizes.0, [3, 3, 1]);
    }
}
