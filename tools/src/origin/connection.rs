//! One client connection: its requests one after another, each handed to its endpoint.
//!
//! Owns the order of an exchange (head, `100 Continue`, body, answer) and how a connection ends.
//! Holds one exchange's state at a time; pipelined requests wait, unread, in the read buffer.
//! There is no budget of requests per connection on purpose: each connection has a thread of its
//! own, so a busy client cannot starve another; the idle and stall bound is the I/O timeout.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::body::BodyReader;
use super::endpoints::{self, Exchange, Route};
use super::error::{ExchangeError, RequestError};
use super::request::{self, HeadRead, Persistence, RequestHead, Version};
use super::response::{ExchangeIds, ResponseFraming, ResponseHead};
use super::Shared;

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

/// Serves requests on `stream` until the client closes, an answer closes, or an error does.
pub(super) fn serve(stream: &TcpStream, connection: u64, shared: &Shared) {
    let mut src = BufReader::with_capacity(READ_BUFFER_BYTES, stream);
    let mut head = Vec::new();
    let mut request = 0;
    loop {
        request += 1;
        let ids = ExchangeIds {
            connection,
            request,
        };
        match exchange(&mut src, stream, &mut head, ids, shared) {
            Ok(Persistence::KeepAlive) => {}
            Ok(Persistence::Close) => {
                let _ = stream.shutdown(Shutdown::Write);
                return;
            }
            Err(ExchangeError::Request(refused)) => {
                shared.count_refusal();
                refuse(stream, &refused, ids);
                linger(&mut src);
                return;
            }
            Err(ExchangeError::Abort(_)) => return,
        }
    }
}

/// Reads one request and answers it.
fn exchange<'s>(
    src: &mut BufReader<&'s TcpStream>,
    out: &'s TcpStream,
    raw_head: &mut Vec<u8>,
    ids: ExchangeIds,
    shared: &Shared,
) -> Result<Persistence, ExchangeError> {
    if request::read_head(src, raw_head)? == HeadRead::Closed {
        return Ok(Persistence::Close);
    }
    let head = RequestHead::parse(raw_head)?;
    let (path, query) = head.path_and_query();
    shared.count_request(path);
    let framing = head.body_framing()?;
    let route = match path.strip_prefix(shared.mount.as_str()) {
        Some(inner) if inner.starts_with('/') => Route::find(head.method, inner)?,
        _ => Route::NotFound,
    };
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
