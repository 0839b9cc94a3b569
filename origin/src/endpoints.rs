//! The endpoints: which target does what, and each one's answer.
//!
//! Owns routing and the behaviour listed in the [`origin`](super) documentation. Must not touch
//! framing or connection fields (`response` owns those) nor decide a connection's end beyond
//! returning a [`Persistence`]. A handler either consumes the request body itself
//! ([`Route::consumes_body`]) or runs after the body was drained, so no handler can leave body
//! bytes where the next request head is expected.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;
use std::time::Duration;

use super::body::{BodyReader, Recorder};
use super::content::{fill_body, to_hex, Checksum};
use super::error::{ExchangeError, RequestError};
use super::query::Query;
use super::request::{BodyFraming, Persistence, RequestHead, Version};
use super::response::{
    chunk_size_line, ExchangeIds, PacedWriter, ResponseFraming, ResponseHead, DEFAULT_WRITE_BYTES,
    LAST_CHUNK,
};
use super::{BusyRead, BusySummary, OriginStats, Shared};

/// Paths under this prefix are the origin's own control endpoints (`/_origin/stats`): answered
/// whatever the mount, and left out of the counters and busy times they report.
pub const CONTROL_PREFIX: &str = "/_origin/";

/// Largest write size `/bytes` accepts in `flush=`; the writer gathers that much, so this bounds
/// its memory per exchange. Larger is answered 400.
pub const MAX_FLUSH_BYTES: u64 = 16 * 1024 * 1024;

/// Longest `delay_ms=` and `pause_ms=`; longer is answered 400, so a typo cannot hang a test.
pub const MAX_DELAY_MS: u64 = 60_000;

/// Chunk size of `/bytes?te=chunked` when no `chunk=` is given.
const DEFAULT_CHUNK_BYTES: u64 = 16 * 1024;

/// Bytes of content generated at a time for `/bytes`; bounds its scratch buffer.
const GENERATE_BYTES: usize = 64 * 1024;

/// Largest request body `/inspect` holds, as received (chunk framing included); larger is
/// answered 413 and the connection closed.
pub const MAX_INSPECT_BODY_BYTES: usize = 1024 * 1024;

/// Largest piece of an echoed body passed from the reading side to the writing side.
const ECHO_PIECE_BYTES: usize = 16 * 1024;

/// Most pieces queued between reading a `/echo` body and writing it back: at most 8 MiB. A
/// client may send that much (plus what socket buffers hold) before it reads any of the echo;
/// past it the origin stops reading until the client reads.
pub const ECHO_QUEUE_PIECES: usize = 512;

/// `Content-Length` that `/close-after-head` announces.
const BROKEN_ANNOUNCED_BYTES: u64 = 1000;

/// Body bytes `/close-after-head` actually sends before closing.
const BROKEN_SENT_BYTES: usize = 100;

/// What a request asks for, decided from its method and path alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    Bytes { length: u64 },
    Sink,
    Echo,
    Inspect,
    Redirect,
    Status { code: u16 },
    CloseAfterHead,
    Reset,
    Stats { read: BusyRead },
    MethodNotAllowed { allow: &'static str },
    NotFound,
}

impl Route {
    /// The route for `method` and `path`; a malformed `/bytes/N` or `/status/N` is refused.
    pub(super) fn find(method: &str, path: &str) -> Result<Route, RequestError> {
        let route = if let Some(size) = path.strip_prefix("/bytes/") {
            Route::Bytes {
                length: parse_size(size)?,
            }
        } else if let Some(code) = path.strip_prefix("/status/") {
            Route::Status {
                code: parse_status(code)?,
            }
        } else {
            match path {
                "/sink" => Route::Sink,
                "/echo" => Route::Echo,
                "/inspect" => Route::Inspect,
                "/redirect" => Route::Redirect,
                "/close-after-head" => Route::CloseAfterHead,
                "/reset" => Route::Reset,
                _ => Route::NotFound,
            }
        };
        let allow = match route {
            Route::Bytes { .. } => "GET, HEAD",
            Route::Sink | Route::Echo => "POST, PUT",
            _ => return Ok(route),
        };
        if allow.split(", ").any(|allowed| allowed == method) {
            Ok(route)
        } else {
            Ok(Route::MethodNotAllowed { allow })
        }
    }

    /// The route for a `path` under [`CONTROL_PREFIX`].
    pub(super) fn find_control(method: &str, path: &str) -> Result<Route, RequestError> {
        let (route, allow) = match path {
            "/_origin/stats" => (
                Route::Stats {
                    read: BusyRead::Keep,
                },
                "GET, HEAD",
            ),
            "/_origin/stats/reset" => (
                Route::Stats {
                    read: BusyRead::Reset,
                },
                "POST",
            ),
            _ => return Ok(Route::NotFound),
        };
        if allow.split(", ").any(|allowed| allowed == method) {
            Ok(route)
        } else {
            Ok(Route::MethodNotAllowed { allow })
        }
    }

    /// Whether the handler reads the request body itself; otherwise it is drained first.
    pub(super) fn consumes_body(self) -> bool {
        matches!(self, Route::Sink | Route::Echo | Route::Inspect)
    }
}

/// `N`, `NK`, `NM` or `NG`: a byte count, the suffixes meaning KiB, MiB and GiB.
fn parse_size(text: &str) -> Result<u64, RequestError> {
    let (digits, unit) = match text.as_bytes().last() {
        Some(b'K') => (&text[..text.len() - 1], 1 << 10),
        Some(b'M') => (&text[..text.len() - 1], 1 << 20),
        Some(b'G') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    super::request::parse_decimal(digits.as_bytes())
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| {
            RequestError::BadParameter(format!(
                "{text:?} is not a byte count (digits, then optionally K, M or G)"
            ))
        })
}

/// A final status: three digits from 200 to 599. 1xx answers are not final, so cannot be asked for.
fn parse_status(text: &str) -> Result<u16, RequestError> {
    match text.parse::<u16>() {
        Ok(code) if (200..=599).contains(&code) && text.len() == 3 => Ok(code),
        _ => Err(RequestError::BadParameter(format!(
            "status {text:?} is not from 200 to 599"
        ))),
    }
}

/// Everything a handler needs for one exchange. `'s` is the connection's lifetime.
pub(super) struct Exchange<'a, 's> {
    pub(super) head: &'a RequestHead<'a>,
    /// The request head exactly as received, for `/inspect`.
    pub(super) raw_head: &'a [u8],
    /// The target's query, without `?`.
    pub(super) query: &'a str,
    pub(super) framing: BodyFraming,
    pub(super) body: BodyReader,
    pub(super) src: &'a mut BufReader<&'s TcpStream>,
    pub(super) out: &'s TcpStream,
    pub(super) ids: ExchangeIds,
    pub(super) shared: &'a Shared,
}

impl Exchange<'_, '_> {
    fn is_head(&self) -> bool {
        self.head.method == "HEAD"
    }

    /// A response head for this exchange, keeping the connection as the request allows.
    fn response(&self, status: u16, framing: ResponseFraming) -> ResponseHead {
        let head = self.head;
        ResponseHead::new(status, framing, head.persistence(), head.version, self.ids)
    }

    /// A head for a short text `body`.
    fn text_head(&self, status: u16, body: &str) -> ResponseHead {
        self.response(status, ResponseFraming::Length(body.len() as u64))
            .field("Content-Type", "text/plain; charset=utf-8")
    }

    /// Writes `head` and, unless the request is HEAD, `body`, in one write.
    fn send(&self, head: ResponseHead, body: &[u8]) -> Result<Persistence, ExchangeError> {
        let mut bytes = head.encode();
        if !self.is_head() {
            bytes.extend_from_slice(body);
        }
        let mut out = self.out;
        out.write_all(&bytes)?;
        Ok(head.persistence())
    }
}

/// Answers one exchange whose head has been read, and whose body has been drained unless the
/// route consumes it.
pub(super) fn respond(
    route: Route,
    mut exchange: Exchange<'_, '_>,
) -> Result<Persistence, ExchangeError> {
    let ex = &mut exchange;
    match route {
        Route::Bytes { length } => bytes(ex, length),
        Route::Sink => sink(ex),
        Route::Echo => echo(ex),
        Route::Inspect => inspect(ex),
        Route::Redirect => redirect(ex),
        Route::Status { code } => status(ex, code),
        Route::CloseAfterHead => close_after_head(ex),
        Route::Reset => Ok(Persistence::Close),
        Route::Stats { read } => stats(ex, read),
        Route::MethodNotAllowed { allow } => {
            let body = "method not allowed\n";
            ex.send(
                ex.text_head(405, body).field("Allow", allow),
                body.as_bytes(),
            )
        }
        Route::NotFound => {
            let body = "not found\n";
            ex.send(ex.text_head(404, body), body.as_bytes())
        }
    }
}

/// `/bytes/N`: N generated bytes, framed, delayed and paced as the query asks.
fn bytes(ex: &mut Exchange<'_, '_>, length: u64) -> Result<Persistence, ExchangeError> {
    let query = Query::parse(
        ex.query,
        &["seed", "te", "chunk", "delay_ms", "flush", "pause_ms"],
    )?;
    let seed = query.number("seed", 0, 0..=u64::MAX)?;
    let framing = match query.get("te").unwrap_or("length") {
        "length" => ResponseFraming::Length(length),
        "chunked" if ex.head.version == Version::Http11 => ResponseFraming::Chunked,
        // HTTP/1.0 clients cannot read chunked; the close then ends the body.
        "chunked" | "close" => ResponseFraming::UntilClose,
        other => {
            return Err(RequestError::BadParameter(format!(
                "te={other:?} is not length, chunked or close"
            ))
            .into())
        }
    };
    if query.get("chunk").is_some() && query.get("te") != Some("chunked") {
        return Err(RequestError::BadParameter("chunk= needs te=chunked".to_owned()).into());
    }
    let chunk = query.number("chunk", DEFAULT_CHUNK_BYTES, 1..=u64::MAX)?;
    let delay = Duration::from_millis(query.number("delay_ms", 0, 0..=MAX_DELAY_MS)?);
    let pause = Duration::from_millis(query.number("pause_ms", 0, 0..=MAX_DELAY_MS)?);
    let write_size = query.number("flush", DEFAULT_WRITE_BYTES as u64, 1..=MAX_FLUSH_BYTES)?;

    let sum = ex.shared.body_checksum(seed, length);
    if !delay.is_zero() {
        ex.shared.sleep(delay)?;
    }
    let head = ex
        .response(200, framing)
        .field("Content-Type", "application/octet-stream")
        .field("X-Checksum", to_hex(sum));
    let persistence = head.persistence();
    // Bounded by MAX_FLUSH_BYTES just above, so it fits any usize this code runs on.
    let write_size = usize::try_from(write_size).unwrap_or(usize::MAX);
    let mut out = PacedWriter::new(ex.out, write_size, pause, ex.shared);
    out.write_all(&head.encode())?;
    if !ex.is_head() {
        let chunk = (framing == ResponseFraming::Chunked).then_some(chunk);
        write_generated(&mut out, seed, length, chunk)?;
    }
    out.finish()?;
    Ok(persistence)
}

/// Writes the first `length` content bytes for `seed`, as chunks of `chunk` bytes when given.
fn write_generated(
    out: &mut PacedWriter<'_, &TcpStream>,
    seed: u64,
    length: u64,
    chunk: Option<u64>,
) -> io::Result<()> {
    let mut block = vec![0; GENERATE_BYTES.min(usize::try_from(length).unwrap_or(usize::MAX))];
    let mut offset = 0;
    while offset < length {
        let piece_end = chunk.map_or(length, |chunk| length.min(offset.saturating_add(chunk)));
        if chunk.is_some() {
            out.write_all(chunk_size_line(piece_end - offset).as_bytes())?;
        }
        while offset < piece_end {
            let step = usize::try_from(piece_end - offset)
                .map_or(block.len(), |left| left.min(block.len()));
            fill_body(seed, offset, &mut block[..step]);
            out.write_all(&block[..step])?;
            offset += step as u64;
        }
        if chunk.is_some() {
            out.write_all(b"\r\n")?;
        }
    }
    if chunk.is_some() {
        out.write_all(LAST_CHUNK)?;
    }
    Ok(())
}

/// `/sink`: reads the whole body, answers its length and checksum.
fn sink(ex: &mut Exchange<'_, '_>) -> Result<Persistence, ExchangeError> {
    let mut sum = Checksum::new();
    let mut length = 0u64;
    let mut piece = vec![0; ECHO_PIECE_BYTES];
    loop {
        let n = ex.body.read(ex.src, &mut piece)?;
        if n == 0 {
            break;
        }
        sum.update(&piece[..n]);
        length += n as u64;
    }
    let body = format!("length={length} checksum={}\n", to_hex(sum.finish()));
    ex.send(ex.text_head(200, &body), body.as_bytes())
}

/// One step of an echo, from the side reading the request to the side writing the response.
enum EchoPiece {
    Data(Vec<u8>),
    /// The request body ended properly; a dropped channel without it means it did not.
    End,
}

/// `/echo`: writes the body back as it arrives, framed as it came.
///
/// The head goes out first; then one thread reads pieces of the body while this one's helper
/// writes them, with up to [`ECHO_QUEUE_PIECES`] between them, so a client that sends its whole
/// body before reading does not deadlock against our writes.
fn echo(ex: &mut Exchange<'_, '_>) -> Result<Persistence, ExchangeError> {
    let framing = match ex.framing {
        BodyFraming::Length(length) => ResponseFraming::Length(length),
        BodyFraming::Chunked => ResponseFraming::Chunked,
    };
    let head = ex
        .response(200, framing)
        .field("Content-Type", "application/octet-stream");
    let persistence = head.persistence();
    let mut out = ex.out;
    out.write_all(&head.encode())?;
    if ex.body.is_done() {
        return Ok(persistence);
    }
    let is_chunked = framing == ResponseFraming::Chunked;
    let (body, src) = (&mut ex.body, &mut *ex.src);
    thread::scope(|scope| {
        let (pieces, received) = mpsc::sync_channel(ECHO_QUEUE_PIECES);
        let writer = thread::Builder::new()
            .name("origin-echo".to_owned())
            .spawn_scoped(scope, move || write_echo(out, received, is_chunked))?;
        let read = read_echo(body, src, &pieces);
        drop(pieces);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("echo writer panicked")));
        read.map_err(ExchangeError::after_response_started)?;
        written?;
        Ok(persistence)
    })
}

/// Reads the body into pieces and queues them, ending with [`EchoPiece::End`].
fn read_echo(
    body: &mut BodyReader,
    src: &mut BufReader<&TcpStream>,
    pieces: &SyncSender<EchoPiece>,
) -> Result<(), ExchangeError> {
    let writer_gone = || io::Error::new(io::ErrorKind::BrokenPipe, "echo writer stopped");
    loop {
        let mut piece = vec![0; ECHO_PIECE_BYTES];
        let mut filled = body.read(src, &mut piece)?;
        if filled == 0 {
            break;
        }
        // Top the piece up from bytes already buffered, never waiting for more: the client may
        // be waiting for this echo before it sends the rest.
        while filled < piece.len() {
            match body.read(&mut BufferedOnly(&mut *src), &mut piece[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(ExchangeError::Abort(err)) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(err),
            }
        }
        piece.truncate(filled);
        pieces
            .send(EchoPiece::Data(piece))
            .map_err(|_| writer_gone())?;
    }
    pieces.send(EchoPiece::End).map_err(|_| writer_gone())?;
    Ok(())
}

/// Writes queued pieces, as chunks when `is_chunked`, until [`EchoPiece::End`].
fn write_echo(
    mut out: &TcpStream,
    pieces: Receiver<EchoPiece>,
    is_chunked: bool,
) -> io::Result<()> {
    for piece in pieces {
        match piece {
            EchoPiece::Data(data) if is_chunked => {
                let mut framed = chunk_size_line(data.len() as u64).into_bytes();
                framed.extend_from_slice(&data);
                framed.extend_from_slice(b"\r\n");
                out.write_all(&framed)?;
            }
            EchoPiece::Data(data) => out.write_all(&data)?,
            EchoPiece::End => {
                if is_chunked {
                    out.write_all(LAST_CHUNK)?;
                }
                return Ok(());
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "request body ended before its framing did",
    ))
}

/// The bytes a `BufReader` already holds, without reading more: where it would have to wait,
/// `fill_buf` fails with `WouldBlock` instead.
struct BufferedOnly<'a, R>(&'a mut BufReader<R>);

impl<R: Read> Read for BufferedOnly<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.read(out)?;
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for BufferedOnly<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.0.buffer() {
            [] => Err(io::ErrorKind::WouldBlock.into()),
            held => Ok(held),
        }
    }

    fn consume(&mut self, amount: usize) {
        self.0.consume(amount);
    }
}

/// `/inspect`: answers the request head and body exactly as received.
fn inspect(ex: &mut Exchange<'_, '_>) -> Result<Persistence, ExchangeError> {
    if matches!(ex.framing, BodyFraming::Length(n) if n > MAX_INSPECT_BODY_BYTES as u64) {
        return Err(RequestError::BodyTooLarge.into());
    }
    let mut raw = ex.raw_head.to_vec();
    let mut recorder = Recorder {
        inner: &mut *ex.src,
        record: &mut raw,
    };
    let mut scratch = [0; 8192];
    while ex.body.read(&mut recorder, &mut scratch)? > 0 {
        if recorder.record.len() - ex.raw_head.len() > MAX_INSPECT_BODY_BYTES {
            return Err(RequestError::BodyTooLarge.into());
        }
    }
    let head = ex
        .response(200, ResponseFraming::Length(raw.len() as u64))
        .field("Content-Type", "application/octet-stream");
    ex.send(head, &raw)
}

/// `/redirect`: 302 to `http://<Host><to>` or to `abs` verbatim.
fn redirect(ex: &Exchange<'_, '_>) -> Result<Persistence, ExchangeError> {
    let bad = |why: &str| RequestError::BadParameter(why.to_owned());
    let query = Query::parse(ex.query, &["to", "abs"])?;
    let location = match (query.get("to"), query.get("abs")) {
        (Some(path), None) if path.starts_with('/') => {
            let host = ex
                .head
                .host()
                .ok_or_else(|| bad("to= needs a Host header"))?;
            format!("http://{host}{path}")
        }
        (Some(_), None) => return Err(bad("to= must be a path starting with /").into()),
        (None, Some(url)) => url.to_owned(),
        _ => return Err(bad("give exactly one of to= and abs=").into()),
    };
    if location.is_empty() || !location.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err(bad("the location must be visible ASCII without spaces").into());
    }
    let body = format!("redirecting to {location}\n");
    let head = ex.text_head(302, &body).field("Location", location);
    ex.send(head, body.as_bytes())
}

/// `/status/N`: status N with a short body, or none where the status forbids one.
fn status(ex: &Exchange<'_, '_>, code: u16) -> Result<Persistence, ExchangeError> {
    match code {
        204 | 304 => ex.send(ex.response(code, ResponseFraming::Bodiless), b""),
        // RFC 9110 §15.3.6: a 205 has no content, and says so.
        205 => ex.send(ex.response(code, ResponseFraming::Length(0)), b""),
        _ => {
            let body = format!("status {code}\n");
            ex.send(ex.text_head(code, &body), body.as_bytes())
        }
    }
}

/// `/_origin/stats` and `/_origin/stats/reset`: the counters and busy times as one line of JSON.
fn stats(ex: &Exchange<'_, '_>, read: BusyRead) -> Result<Persistence, ExchangeError> {
    Query::parse(ex.query, &[])?;
    let body = stats_json(&ex.shared.stats(read));
    let head = ex
        .response(200, ResponseFraming::Length(body.len() as u64))
        .field("Content-Type", "application/json")
        .field("Cache-Control", "no-store");
    ex.send(head, body.as_bytes())
}

/// The JSON the stats endpoint answers; the layout is documented on the [`origin`](super) module.
fn stats_json(stats: &OriginStats) -> String {
    let summary = |busy: &BusySummary| {
        let us = |duration: Duration| duration.as_micros();
        format!(
            r#"{{"count":{},"p50":{},"p90":{},"p99":{},"max":{}}}"#,
            busy.count,
            us(busy.p50),
            us(busy.p90),
            us(busy.p99),
            us(busy.max)
        )
    };
    let send_buffer = stats
        .send_buffer
        .map_or_else(String::new, |bytes| format!(r#","send_buffer":{bytes}"#));
    format!(
        r#"{{"requests":{},"connections_accepted":{},"open_connections":{},"busy_us":{},"connection_busy_us":{}{}}}"#,
        stats.requests,
        stats.connections_accepted,
        stats.open_connections,
        summary(&stats.busy),
        summary(&stats.connection_busy),
        send_buffer
    ) + "\n"
}

/// `/close-after-head`: announces [`BROKEN_ANNOUNCED_BYTES`], sends [`BROKEN_SENT_BYTES`] of
/// content (seed 0), then closes: a backend that breaks mid-body. Nothing in the head warns of
/// the close.
fn close_after_head(ex: &Exchange<'_, '_>) -> Result<Persistence, ExchangeError> {
    let head = ex
        .response(200, ResponseFraming::Length(BROKEN_ANNOUNCED_BYTES))
        .field("Content-Type", "application/octet-stream");
    let mut bytes = head.encode();
    if !ex.is_head() {
        let start = bytes.len();
        bytes.resize(start + BROKEN_SENT_BYTES, 0);
        fill_body(0, 0, &mut bytes[start..]);
    }
    let mut out = ex.out;
    out.write_all(&bytes)?;
    Ok(Persistence::Close)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_and_refuses_other_methods_with_405() {
        assert_eq!(
            Route::find("GET", "/bytes/64M"),
            Ok(Route::Bytes { length: 64 << 20 })
        );
        assert_eq!(
            Route::find("HEAD", "/bytes/3K"),
            Ok(Route::Bytes { length: 3 << 10 })
        );
        assert_eq!(
            Route::find("GET", "/bytes/1G"),
            Ok(Route::Bytes { length: 1 << 30 })
        );
        assert_eq!(Route::find("PUT", "/sink"), Ok(Route::Sink));
        assert_eq!(Route::find("DELETE", "/inspect"), Ok(Route::Inspect));
        assert_eq!(
            Route::find("GET", "/status/204"),
            Ok(Route::Status { code: 204 })
        );
        assert_eq!(
            Route::find("POST", "/bytes/1"),
            Ok(Route::MethodNotAllowed { allow: "GET, HEAD" })
        );
        assert_eq!(
            Route::find("GET", "/echo"),
            Ok(Route::MethodNotAllowed { allow: "POST, PUT" })
        );
        assert_eq!(Route::find("GET", "/sink/"), Ok(Route::NotFound));
        assert_eq!(Route::find("GET", "/"), Ok(Route::NotFound));
    }

    #[test]
    fn routes_control_paths_by_exact_path_and_method() {
        let keep = Route::Stats {
            read: BusyRead::Keep,
        };
        assert_eq!(Route::find_control("GET", "/_origin/stats"), Ok(keep));
        assert_eq!(Route::find_control("HEAD", "/_origin/stats"), Ok(keep));
        assert_eq!(
            Route::find_control("POST", "/_origin/stats/reset"),
            Ok(Route::Stats {
                read: BusyRead::Reset
            })
        );
        assert_eq!(
            Route::find_control("GET", "/_origin/stats/reset"),
            Ok(Route::MethodNotAllowed { allow: "POST" })
        );
        assert_eq!(
            Route::find_control("GET", "/_origin/stats/"),
            Ok(Route::NotFound)
        );
    }

    #[test]
    fn stats_json_has_the_documented_layout() {
        let stats = OriginStats {
            requests: 3,
            connections_accepted: 2,
            open_connections: 1,
            busy: BusySummary {
                count: 3,
                p50: Duration::from_micros(10),
                p90: Duration::from_micros(20),
                p99: Duration::from_micros(30),
                max: Duration::from_micros(31),
            },
            ..OriginStats::default()
        };
        assert_eq!(
            stats_json(&stats),
            concat!(
                r#"{"requests":3,"connections_accepted":2,"open_connections":1,"#,
                r#""busy_us":{"count":3,"p50":10,"p90":20,"p99":30,"max":31},"#,
                r#""connection_busy_us":{"count":0,"p50":0,"p90":0,"p99":0,"max":0}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn stats_json_names_the_send_buffer_only_when_one_was_set() {
        let stats = OriginStats {
            send_buffer: Some(131_072),
            ..OriginStats::default()
        };
        let json = stats_json(&stats);
        assert!(
            json.ends_with(concat!(
                r#""connection_busy_us":{"count":0,"p50":0,"p90":0,"p99":0,"max":0},"#,
                r#""send_buffer":131072}"#,
                "\n"
            )),
            "{json}"
        );
        assert!(!stats_json(&OriginStats::default()).contains("send_buffer"));
    }

    #[test]
    fn refuses_malformed_sizes_and_non_final_statuses() {
        for path in [
            "/bytes/",
            "/bytes/K",
            "/bytes/-1",
            "/bytes/1k",
            "/bytes/99999999999999999999",
            "/bytes/17179869184G",
            "/status/100",
            "/status/199",
            "/status/600",
            "/status/0200",
            "/status/20",
        ] {
            let refused = Route::find("GET", path).unwrap_err();
            assert_eq!(refused.status(), 400, "{path}");
        }
    }
}
