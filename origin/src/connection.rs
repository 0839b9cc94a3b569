//! One client connection: its requests one after another, each handed to its endpoint.
//!
//! Owns the order of an exchange (head, `100 Continue`, body, answer), how a connection ends,
//! and when an exchange's busy time starts and stops (the histograms are `busy`'s).
//! Holds one exchange's state at a time; pipelined requests wait, unread, in the read buffer.
//! There is no budget of requests per connection on purpose: each connection has a thread of its
//! own, so a busy client cannot starve another; the idle and stall bound is the I/O timeout.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::body::BodyReader;
use super::endpoints::{self, Exchange, Route, CONTROL_PREFIX};
use super::error::{ExchangeError, RequestError};
use super::request::{self, HeadRead, Persistence, RequestHead, Version};
use super::response::{ExchangeIds, ResponseFraming, ResponseHead};
use super::{ConnectionUse, Shared};

/// Read buffer per connection: the most body bytes one read hands on.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// How long, at most, the rest of a refused request is read and dropped after the refusal, so
/// that closing with unread bytes does not reset the connection before the client has read the
/// refusal.
const LINGER: Duration = Duration::from_millis(200);

/// Most bytes read and dropped while lingering.
const LINGER_BYTES: usize = 1024 * 1024;

/// The interim answer to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Whether an exchange's busy time is to be recorded when it ends, and from when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timing {
    /// No request counted yet: the connection closed between requests, the head was cut off or
    /// too large, or it did not parse. Such exchanges are not requests in the stats either.
    Unstarted,
    /// A counted request whose head was read at this moment.
    Since(Instant),
    /// A request under `CONTROL_PREFIX`, left out of the stats.
    Control,
}

/// Serves requests on `stream` until the client closes, an answer closes, or an error does;
/// whether the connection's busy time counts.
pub(super) fn serve(stream: &TcpStream, connection: u64, shared: &Shared) -> ConnectionUse {
    let mut src = BufReader::with_capacity(READ_BUFFER_BYTES, stream);
    let mut head = Vec::new();
    let mut request = 0;
    // Counted unless every request on it was a control request (and there was one).
    let mut usage = ConnectionUse::Counted;
    loop {
        request += 1;
        let ids = ExchangeIds {
            connection,
            request,
        };
        let mut timing = Timing::Unstarted;
        let outcome = exchange(&mut src, stream, &mut head, ids, shared, &mut timing);
        usage = match (timing, request) {
            (Timing::Control, 1) => ConnectionUse::ControlOnly,
            (Timing::Since(_), _) => ConnectionUse::Counted,
            (Timing::Control | Timing::Unstarted, _) => usage,
        };
        match outcome {
            Ok(Persistence::KeepAlive) => record(shared, timing),
            Ok(Persistence::Close) => {
                record(shared, timing);
                let _ = stream.shutdown(Shutdown::Write);
                return usage;
            }
            Err(ExchangeError::Request(refused)) => {
                shared.count_refusal();
                refuse(stream, &refused, ids);
                record(shared, timing);
                linger(&mut src);
                return usage;
            }
            Err(ExchangeError::Abort(_)) => {
                record(shared, timing);
                return usage;
            }
        }
    }
}

/// Records an ended exchange's busy time, if it is a counted request.
fn record(shared: &Shared, timing: Timing) {
    if let Timing::Since(head_read) = timing {
        shared.record_request_busy(head_read.elapsed());
    }
}

/// Reads one request and answers it, setting `timing` once the request is counted.
fn exchange<'s>(
    src: &mut BufReader<&'s TcpStream>,
    out: &'s TcpStream,
    raw_head: &mut Vec<u8>,
    ids: ExchangeIds,
    shared: &Shared,
    timing: &mut Timing,
) -> Result<Persistence, ExchangeError> {
    if request::read_head(src, raw_head)? == HeadRead::Closed {
        return Ok(Persistence::Close);
    }
    let head_read = Instant::now();
    let head = RequestHead::parse(raw_head)?;
    let (path, query) = head.path_and_query();
    // Control paths are matched before the mount, so they answer whatever the mount is.
    let route = if path.starts_with(CONTROL_PREFIX) {
        *timing = Timing::Control;
        Route::find_control(head.method, path)
    } else {
        *timing = Timing::Since(head_read);
        shared.count_request(path);
        match path.strip_prefix(shared.mount.as_str()) {
            Some(inner) if inner.starts_with('/') => Route::find(head.method, inner),
            _ => Ok(Route::NotFound),
        }
    };
    let framing = head.body_framing()?;
    let route = route?;
    let mut body = BodyReader::new(framing);
    if head.expects_continue() && !body.is_done() {
        let mut out = out;
        out.write_all(CONTINUE)?;
    }
    if !route.consumes_body() {
        body.drain(src)?;
    }
    let exchange = Exchange {
        head: &head,
        raw_head,
        query,
        framing,
        body,
        src,
        out,
        ids,
        shared,
    };
    endpoints::respond(route, exchange)
}

/// Answers a refused request with its status and closes our side. Write errors are moot: the
/// connection is closing either way.
fn refuse(mut out: &TcpStream, refused: &RequestError, ids: ExchangeIds) {
    let body = format!("{refused}\n");
    let head = ResponseHead::new(
        refused.status(),
        ResponseFraming::Length(body.len() as u64),
        Persistence::Close,
        Version::Http11,
        ids,
    )
    .field("Content-Type", "text/plain; charset=utf-8");
    let mut bytes = head.encode();
    bytes.extend_from_slice(body.as_bytes());
    let _ = out.write_all(&bytes);
    let _ = out.shutdown(Shutdown::Write);
}

/// Reads and drops what the client still sends, for at most [`LINGER`] and [`LINGER_BYTES`].
fn linger(src: &mut BufReader<&TcpStream>) {
    let deadline = Instant::now() + LINGER;
    let mut scratch = [0; 8192];
    let mut dropped = 0;
    while dropped < LINGER_BYTES {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        else {
            return;
        };
        if src.get_ref().set_read_timeout(Some(left)).is_err() {
            return;
        }
        match src.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => dropped += n,
        }
    }
}
