//! An incremental HTTP/1.1 response parser and verifier: bytes in, whole responses out.
//!
//! Owns the framing of responses to GET (RFC 9112 §6.3) and the checks `loadgen` makes of each
//! response; it must not touch sockets or clocks, and it never keeps a body: body bytes go
//! through a [`Checksum`] and are dropped. It stops and resumes at any byte, so a response split
//! anywhere parses as it does whole (the tests feed every split).
//!
//! The message length, as RFC 9112 §6.3 gives it for the answer to a GET:
//! 1. 1xx, 204 and 304 have no body (a 1xx other than 101 is skipped: the real answer follows).
//! 2. `Transfer-Encoding` whose last coding is `chunked`: the chunked framing decides; any
//!    other `Transfer-Encoding`: the body runs to the close. With `Content-Length` too: refused
//!    (a server that sends both is broken, whatever a proxy would make of it).
//! 3. `Content-Length`: that many bytes (several equal values are one; differing ones are
//!    refused).
//! 4. Otherwise the body runs to the close.
//!
//! Invariant: `head` is empty outside [`Phase::Head`]; `body_bytes` counts decoded body bytes of
//! the response being read only.

use super::report::ErrorKind;
use spoonfeed_origin::{to_hex, Checksum};

/// Longest response head kept; a longer head is a parse error (the bundled origin's heads are
/// a few hundred bytes).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Longest chunk-size line (extensions included) or trailer line; past it, a parse error, so a
/// peer cannot make the parser skip bytes forever.
pub const MAX_CHUNK_LINE_BYTES: u64 = 4096;

/// Why a response failed; `kind` decides how it is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub reason: &'static str,
}

fn parse_error(reason: &'static str) -> Failure {
    Failure {
        kind: ErrorKind::Parse,
        reason,
    }
}

/// A whole response, as it was framed and what its body added up to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Decoded body bytes (chunk framing excluded).
    pub body_bytes: u64,
    /// `X-Checksum`, when the response carried one.
    pub expected_checksum: Option<u64>,
    /// FNV-1a of the decoded body.
    pub checksum: u64,
    /// Whether the server closes the connection after this response.
    pub is_close: bool,
}

impl Response {
    /// Whether the response is what was expected: status, then checksum. The length was
    /// checked by the framing already (a body cut short never becomes a `Response`).
    pub fn verify(&self, expect_status: u16) -> Result<(), Failure> {
        if self.status != expect_status {
            return Err(Failure {
                kind: ErrorKind::Status,
                reason: "unexpected status",
            });
        }
        match self.expected_checksum {
            Some(expected) if expected != self.checksum => Err(Failure {
                kind: ErrorKind::Checksum,
                reason: "body does not match X-Checksum",
            }),
            _ => Ok(()),
        }
    }

    /// Whether a checksum was compared.
    pub fn is_checksummed(&self) -> bool {
        self.expected_checksum.is_some()
    }
}

/// How the body of the response being read ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Collecting the head into `head`.
    Head,
    /// `left` bytes of a `Content-Length` body to come.
    Length {
        left: u64,
    },
    /// Hex digits of a chunk size; `digits` seen so far.
    ChunkSize {
        size: u64,
        digits: u32,
    },
    /// After the size, up to the CR: extensions, skipped. `len` bounds them.
    ChunkExt {
        size: u64,
        len: u64,
    },
    /// The LF ending a chunk-size line.
    ChunkSizeLf {
        size: u64,
    },
    ChunkData {
        left: u64,
    },
    ChunkDataCr,
    ChunkDataLf,
    /// A trailer line (or the final empty line) of `len` bytes so far.
    Trailer {
        len: u64,
    },
    TrailerLf {
        len: u64,
    },
    /// The body runs to the close.
    UntilClose,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Head => "head",
            Phase::Length { .. } => "length",
            Phase::ChunkSize { .. } => "chunk-size",
            Phase::ChunkExt { .. } => "chunk-ext",
            Phase::ChunkSizeLf { .. } => "chunk-size-lf",
            Phase::ChunkData { .. } => "chunk-data",
            Phase::ChunkDataCr => "chunk-data-cr",
            Phase::ChunkDataLf => "chunk-data-lf",
            Phase::Trailer { .. } => "trailer",
            Phase::TrailerLf { .. } => "trailer-lf",
            Phase::UntilClose => "until-close",
        }
    }
}

/// What the head said, kept while the body is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Head {
    status: u16,
    expected_checksum: Option<u64>,
    is_close: bool,
}

#[derive(Debug)]
pub struct ResponseParser {
    phase: Phase,
    head: Vec<u8>,
    info: Head,
    checksum: Checksum,
    /// Whether bodies are hashed and compared with `X-Checksum` (`--no-checksum` turns it
    /// off when the hashing, not the server, would bound the rate).
    verifies_checksum: bool,
    body_bytes: u64,
}

impl Default for ResponseParser {
    fn default() -> ResponseParser {
        ResponseParser::new()
    }
}

impl ResponseParser {
    pub fn new() -> ResponseParser {
        ResponseParser::verifying(true)
    }

    /// A parser that checks status and length always, and the body's checksum only when
    /// `verifies_checksum`.
    pub fn verifying(verifies_checksum: bool) -> ResponseParser {
        ResponseParser {
            phase: Phase::Head,
            head: Vec::new(),
            info: Head::default(),
            checksum: Checksum::new(),
            verifies_checksum,
            body_bytes: 0,
        }
    }

    /// Whether bodies are checksummed.
    pub fn verifies_checksum(&self) -> bool {
        self.verifies_checksum
    }

    /// Whether no byte of a response has arrived since the last whole one.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Head && self.head.is_empty()
    }

    /// The phase, for logs and tests.
    pub fn phase_name(&self) -> &'static str {
        self.phase.name()
    }

    /// Reads from `bytes` up to the end of one response at most. Returns how many bytes it used
    /// and the response if it ended there; call again with the rest. After an error the parser
    /// must not be fed again (the connection is closed).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(usize, Option<Response>), Failure> {
        let mut used = 0;
        while used < bytes.len() {
            let rest = &bytes[used..];
            match self.phase {
                Phase::Head => {
                    let (n, done) = self.on_head(rest)?;
                    used += n;
                    if done && self.is_body_empty() {
                        return Ok((used, Some(self.finish())));
                    }
                }
                Phase::Length { left } => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.on_body(&rest[..n]);
                    used += n;
                    let left = left - n as u64;
                    self.phase = Phase::Length { left };
                    if left == 0 {
                        return Ok((used, Some(self.finish())));
                    }
                }
                Phase::ChunkData { left } => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.on_body(&rest[..n]);
                    used += n;
                    let left = left - n as u64;
                    self.phase = if left == 0 {
                        Phase::ChunkDataCr
                    } else {
                        Phase::ChunkData { left }
                    };
                }
                Phase::UntilClose => {
                    self.on_body(rest);
                    used = bytes.len();
                }
                _ => {
                    used += 1;
                    if self.on_chunk_framing(rest[0])? {
                        return Ok((used, Some(self.finish())));
                    }
                }
            }
        }
        Ok((used, None))
    }

    /// The connection was closed by the server: ends a body that runs to the close, or says
    /// what was cut. `Ok(None)` when no response was under way.
    pub fn on_eof(&mut self) -> Result<Option<Response>, Failure> {
        match self.phase {
            Phase::Head if self.head.is_empty() => Ok(None),
            Phase::Head => Err(Failure {
                kind: ErrorKind::Closed,
                reason: "closed in the middle of a head",
            }),
            Phase::UntilClose => Ok(Some(self.finish())),
            _ => Err(Failure {
                kind: ErrorKind::Length,
                reason: "closed before the end of the body",
            }),
        }
    }

    fn is_body_empty(&self) -> bool {
        self.phase == Phase::Length { left: 0 }
    }

    fn on_body(&mut self, bytes: &[u8]) {
        if self.verifies_checksum {
            self.checksum.update(bytes);
        }
        self.body_bytes += bytes.len() as u64;
    }

    /// The response that just ended; the parser is ready for the next one.
    fn finish(&mut self) -> Response {
        let response = Response {
            status: self.info.status,
            body_bytes: self.body_bytes,
            expected_checksum: self
                .info
                .expected_checksum
                .filter(|_| self.verifies_checksum),
            checksum: self.checksum.finish(),
            is_close: self.info.is_close,
        };
        self.phase = Phase::Head;
        self.info = Head::default();
        self.checksum = Checksum::new();
        self.body_bytes = 0;
        response
    }

    /// Takes head bytes from `bytes`; returns how many and whether a (non-1xx) head ended.
    fn on_head(&mut self, bytes: &[u8]) -> Result<(usize, bool), Failure> {
        // The end may straddle what came before: search from 3 bytes back.
        let from = self.head.len().saturating_sub(3);
        let before = self.head.len();
        let room = MAX_HEAD_BYTES - before;
        let take = bytes.len().min(room);
        self.head.extend_from_slice(&bytes[..take]);
        let Some(end) = find_head_end(&self.head[from..]).map(|at| from + at) else {
            if self.head.len() >= MAX_HEAD_BYTES {
                return Err(parse_error("head longer than 64 KiB"));
            }
            return Ok((take, false));
        };
        let used = end - before;
        self.head.truncate(end);
        let (head, framing) = parse_head(&self.head)?;
        self.head.clear();
        match framing {
            Framing::Interim => Ok((used, false)),
            Framing::Length(left) => {
                self.info = head;
                self.phase = Phase::Length { left };
                Ok((used, true))
            }
            Framing::Chunked => {
                self.info = head;
                self.phase = Phase::ChunkSize { size: 0, digits: 0 };
                Ok((used, true))
            }
            Framing::UntilClose => {
                self.info = Head {
                    is_close: true,
                    ..head
                };
                self.phase = Phase::UntilClose;
                Ok((used, true))
            }
        }
    }

    /// One byte of chunk framing; whether the response ended with it.
    fn on_chunk_framing(&mut self, byte: u8) -> Result<bool, Failure> {
        self.phase = match self.phase {
            Phase::ChunkSize { size, digits } => match byte {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits == 15 {
                        return Err(parse_error("chunk size over 15 hex digits"));
                    }
                    let digit = (byte as char).to_digit(16).unwrap_or(0);
                    Phase::ChunkSize {
                        size: size << 4 | u64::from(digit),
                        digits: digits + 1,
                    }
                }
                _ if digits == 0 => return Err(parse_error("chunk size without digits")),
                b'\r' => Phase::ChunkSizeLf { size },
                b';' | b' ' | b'\t' => Phase::ChunkExt { size, len: 1 },
                _ => return Err(parse_error("bad byte in a chunk size")),
            },
            Phase::ChunkExt { size, len } => match byte {
                b'\r' => Phase::ChunkSizeLf { size },
                b'\n' => return Err(parse_error("bare LF in a chunk-size line")),
                _ if len >= MAX_CHUNK_LINE_BYTES => {
                    return Err(parse_error("chunk extensions too long"))
                }
                _ => Phase::ChunkExt { size, len: len + 1 },
            },
            Phase::ChunkSizeLf { size } => match byte {
                b'\n' if size == 0 => Phase::Trailer { len: 0 },
                b'\n' => Phase::ChunkData { left: size },
                _ => return Err(parse_error("CR without LF after a chunk size")),
            },
            Phase::ChunkDataCr => match byte {
                b'\r' => Phase::ChunkDataLf,
                _ => return Err(parse_error("chunk data longer than its size")),
            },
            Phase::ChunkDataLf => match byte {
                b'\n' => Phase::ChunkSize { size: 0, digits: 0 },
                _ => return Err(parse_error("CR without LF after chunk data")),
            },
            Phase::Trailer { len } => match byte {
                b'\r' => Phase::TrailerLf { len },
                b'\n' => return Err(parse_error("bare LF in the trailers")),
                _ if len >= MAX_CHUNK_LINE_BYTES => return Err(parse_error("trailer too long")),
                _ => Phase::Trailer { len: len + 1 },
            },
            Phase::TrailerLf { len } => match byte {
                b'\n' if len == 0 => return Ok(true),
                b'\n' => Phase::Trailer { len: 0 },
                _ => return Err(parse_error("CR without LF in the trailers")),
            },
            Phase::Head | Phase::Length { .. } | Phase::ChunkData { .. } | Phase::UntilClose => {
                unreachable!("not framing: {}", self.phase.name())
            }
        };
        Ok(false)
    }
}

/// Where the head's empty line ends in `bytes`, just past its CRLF CRLF.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

enum Framing {
    /// A 1xx head: another head follows.
    Interim,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Parses a whole head (its empty line included) into what the body needs.
fn parse_head(bytes: &[u8]) -> Result<(Head, Framing), Failure> {
    let text = std::str::from_utf8(bytes).map_err(|_| parse_error("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let (version, rest) = status_line
        .split_once(' ')
        .ok_or_else(|| parse_error("bad status line"))?;
    let is_http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(parse_error("not an HTTP/1.x status line")),
    };
    let code = rest
        .get(..3)
        .filter(|_| rest.len() == 3 || rest.as_bytes()[3] == b' ');
    let status: u16 = code
        .filter(|code| code.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|code| code.parse().ok())
        .filter(|status| (100..=599).contains(status))
        .ok_or_else(|| parse_error("bad status code"))?;
    let mut content_length = None;
    let mut chunked = None;
    let mut head = Head {
        status,
        expected_checksum: None,
        is_close: is_http10,
    };
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .filter(|(name, _)| !name.is_empty() && !name.ends_with([' ', '\t']))
            .ok_or_else(|| parse_error("bad header line"))?;
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            let length: u64 = value
                .parse()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| parse_error("bad Content-Length"))?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(parse_error("differing Content-Lengths"));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.is_close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && is_http10 {
                    head.is_close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("x-checksum") {
            let sum = u64::from_str_radix(value, 16)
                .ok()
                .filter(|sum| value.len() == 16 && to_hex(*sum) == value.to_ascii_lowercase())
                .ok_or_else(|| parse_error("X-Checksum is not 16 hex digits"))?;
            head.expected_checksum = Some(sum);
        }
    }
    let framing = match (status, chunked, content_length) {
        (101, _, _) => return Err(parse_error("101 Switching Protocols to a GET")),
        (100..=199, _, _) => Framing::Interim,
        (204 | 304, _, _) => Framing::Length(0),
        (_, Some(_), Some(_)) => {
            return Err(parse_error("both Transfer-Encoding and Content-Length"))
        }
        (_, Some(true), None) => Framing::Chunked,
        (_, Some(false), None) | (_, None, None) => Framing::UntilClose,
        (_, None, Some(length)) => Framing::Length(length),
    };
    Ok((head, framing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoonfeed_origin::checksum;

    /// Feeds `pieces` in order; returns every response and the error, if one came.
    fn feed_all(pieces: &[&[u8]], eof: bool) -> (Vec<Response>, Option<Failure>) {
        let mut parser = ResponseParser::new();
        let mut responses = Vec::new();
        for piece in pieces {
            let mut at = 0;
            while at < piece.len() {
                match parser.feed(&piece[at..]) {
                    Ok((used, response)) => {
                        assert!(used > 0 || response.is_some(), "no progress");
                        at += used;
                        responses.extend(response);
                    }
                    Err(failure) => return (responses, Some(failure)),
                }
            }
        }
        if eof {
            match parser.on_eof() {
                Ok(response) => responses.extend(response),
                Err(failure) => return (responses, Some(failure)),
            }
        }
        (responses, None)
    }

    /// The same bytes whole, split at every offset, and byte by byte must give the same result.
    fn parse_every_split(wire: &[u8], eof: bool) -> (Vec<Response>, Option<Failure>) {
        let whole = feed_all(&[wire], eof);
        for at in 0..=wire.len() {
            assert_eq!(
                feed_all(&[&wire[..at], &wire[at..]], eof),
                whole,
                "split at {at}"
            );
        }
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(feed_all(&bytes, eof), whole, "byte by byte");
        whole
    }

    fn response(status: u16, body: &[u8], sum: Option<&[u8]>, is_close: bool) -> Response {
        Response {
            status,
            body_bytes: body.len() as u64,
            expected_checksum: sum.map(checksum),
            checksum: checksum(body),
            is_close,
        }
    }

    #[test]
    fn pipelined_responses_of_every_framing_parse_alike_at_every_split() {
        let hello_sum = to_hex(checksum(b"hello world"));
        let wire = format!(
            "HTTP/1.1 100 Continue\r\n\r\n\
             HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Checksum: {}\r\n\r\nhello\
             HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Checksum: {hello_sum}\r\n\r\n\
             5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n\
             HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n\
             HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n\
             HTTP/1.1 200 OK\r\nconnection: Close\r\n\r\nto the end",
            to_hex(checksum(b"hello"))
        );
        let (responses, failure) = parse_every_split(wire.as_bytes(), true);
        assert_eq!(failure, None);
        assert_eq!(
            responses,
            [
                response(200, b"hello", Some(b"hello"), false),
                response(200, b"hello world", Some(b"hello world"), false),
                response(204, b"", None, false),
                response(404, b"", None, false),
                response(200, b"to the end", None, true),
            ]
        );
    }

    #[test]
    fn a_body_cut_short_is_a_length_error_and_a_cut_head_a_close() {
        let (responses, failure) =
            parse_every_split(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", true);
        assert!(responses.is_empty());
        assert_eq!(failure.map(|f| f.kind), Some(ErrorKind::Length));
        let (_, failure) = parse_every_split(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            true,
        );
        assert_eq!(failure.map(|f| f.kind), Some(ErrorKind::Length));
        let (_, failure) = feed_all(&[b"HTTP/1.1 200 OK\r\nContent-"], true);
        assert_eq!(failure.map(|f| f.kind), Some(ErrorKind::Closed));
        assert_eq!(feed_all(&[], true), (vec![], None));
    }

    #[test]
    fn verification_catches_a_wrong_status_or_checksum() {
        let good = response(200, b"abc", Some(b"abc"), false);
        assert_eq!(good.verify(200), Ok(()));
        assert!(good.is_checksummed());
        assert_eq!(good.verify(204).map_err(|f| f.kind), Err(ErrorKind::Status));
        let lying = response(200, b"abc", Some(b"abd"), false);
        assert_eq!(
            lying.verify(200).map_err(|f| f.kind),
            Err(ErrorKind::Checksum)
        );
        assert_eq!(response(200, b"abc", None, false).verify(200), Ok(()));
    }

    #[test]
    fn without_checksums_a_wrong_body_passes_but_a_short_one_does_not() {
        let sum = to_hex(checksum(b"abd"));
        let wire = format!("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Checksum: {sum}\r\n\r\nabc");
        let mut parser = ResponseParser::verifying(false);
        let (used, done) = parser.feed(wire.as_bytes()).expect("well-formed");
        assert_eq!(used, wire.len());
        let done = done.expect("the body is whole");
        assert!(!done.is_checksummed());
        assert_eq!(done.verify(200), Ok(()));
        let mut checking = ResponseParser::new();
        let (_, done) = checking.feed(wire.as_bytes()).expect("well-formed");
        let failure = done.expect("the body is whole").verify(200);
        assert_eq!(failure.map_err(|f| f.kind), Err(ErrorKind::Checksum));
        let mut parser = ResponseParser::verifying(false);
        assert!(parser.feed(&wire.as_bytes()[..wire.len() - 1]).is_ok());
        assert_eq!(parser.on_eof().map_err(|f| f.kind), Err(ErrorKind::Length));
    }

    #[test]
    fn malformed_framing_is_a_parse_error() {
        for wire in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Checksum: 123\r\n\r\n",
            b"HTTP/1.1 101 Switching\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1234567890abcdef0\r\n",
        ] {
            let (_, failure) = parse_every_split(wire, false);
            assert_eq!(
                failure.map(|f| f.kind),
                Some(ErrorKind::Parse),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn an_endless_head_or_chunk_extension_is_refused_not_buffered() {
        let mut parser = ResponseParser::new();
        let junk = vec![b'a'; 1024];
        let failure = loop {
            match parser.feed(&junk) {
                Ok((used, None)) => assert_eq!(used, junk.len()),
                Ok((_, Some(_))) => panic!("no response in junk"),
                Err(failure) => break failure,
            }
        };
        assert_eq!(failure.kind, ErrorKind::Parse);
        let mut parser = ResponseParser::new();
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;";
        assert_eq!(parser.feed(head), Ok((head.len(), None)));
        let ext = vec![b'x'; MAX_CHUNK_LINE_BYTES as usize];
        assert_eq!(parser.feed(&ext).map_err(|f| f.kind), Err(ErrorKind::Parse));
    }
}
