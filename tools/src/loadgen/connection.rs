//! One client connection: its phases, its socket I/O, and the exchanges in flight on it.
//!
//! Owns the non-blocking connect (mio's six steps: register writable, wait, `take_error()`,
//! `peer_addr()`, then use), writing queued requests, reading paced by the
//! [`TokenBucket`](super::bucket::TokenBucket) of `--read-rate`, and feeding the
//! [`ResponseParser`]. It does not verify responses, count anything or decide when to send:
//! whole responses and failures go to the caller's [`Finished`] list, and the reactor decides.
//!
//! Invariants: `registered` is `Some` exactly when the phase holds a stream; `written <=
//! out.len()`; every exchange in `in_flight` has its request in `out` or already written.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::mem;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::bucket::{capacity_for, TokenBucket};
use super::report::ErrorKind;
use super::response::{Response, ResponseParser};

/// Most bytes read from one connection per wake-up; past it the connection goes on the re-run
/// queue so one fast connection cannot starve the others.
pub const READ_BUDGET: usize = 256 * 1024;

/// `errno` of a non-blocking connect under way. std has no stable `ErrorKind` for it and this
/// crate takes no `libc` for one constant: 115 on Linux, 36 on the BSDs and macOS.
#[cfg(target_os = "linux")]
const EINPROGRESS: i32 = 115;
#[cfg(not(target_os = "linux"))]
const EINPROGRESS: i32 = 36;

/// How an exchange ended, for the reactor to count.
#[derive(Debug)]
pub enum Finished {
    /// A whole response arrived (not yet verified) at `at`: read from the clock when its last
    /// byte was read, not the `now` of the call, which may predate the request's own write.
    Response {
        intended: Instant,
        at: Instant,
        response: Response,
    },
    /// The exchange (or, with `intended: None`, a connection with none in flight) failed.
    Failed {
        intended: Option<Instant>,
        kind: ErrorKind,
    },
}

/// What the reactor lends a connection for one call.
pub struct Ctx<'a> {
    pub now: Instant,
    /// The start of the run, the origin of the token bucket's time.
    pub start: Instant,
    pub registry: &'a Registry,
    /// Scratch space for reads; nothing is kept in it between calls.
    pub buf: &'a mut [u8],
    pub finished: &'a mut Vec<Finished>,
    /// Bytes read from the socket, added to.
    pub bytes_read: &'a mut u64,
}

/// What the reactor must do after a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drive {
    /// The connection closed; its exchanges in flight wait in [`Connection::take_in_flight`].
    /// Reopen it after this long.
    pub reopen_after: Option<Duration>,
    /// Call again at this time, with no kernel event (the token bucket refills).
    pub wake_at: Option<Instant>,
    /// Call again soon: the read budget ran out with bytes maybe left.
    pub is_rerun: bool,
}

/// How long a connection whose connect failed waits before trying again.
pub const CONNECT_RETRY: Duration = Duration::from_millis(50);

enum Phase {
    /// No socket: before the first connect, or between a close and the reopen.
    Closed,
    Connecting {
        stream: TcpStream,
        since: Instant,
    },
    Open {
        stream: TcpStream,
    },
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Connecting { .. } => "connecting",
            Phase::Open { .. } => "open",
        }
    }
}

pub struct Connection {
    token: Token,
    phase: Phase,
    /// Requests queued; the first `written` bytes are on the wire already.
    out: Vec<u8>,
    written: usize,
    /// Intended send times of the exchanges in flight, oldest first.
    in_flight: VecDeque<Instant>,
    parser: ResponseParser,
    /// `--read-rate`'s bucket, kept across reopens (the link is as slow after a close).
    bucket: Option<TokenBucket>,
    registered: Option<Interest>,
}

impl Connection {
    pub fn new(token: Token, read_rate: Option<u64>, verifies_checksum: bool) -> Connection {
        Connection {
            token,
            phase: Phase::Closed,
            out: Vec::new(),
            written: 0,
            in_flight: VecDeque::new(),
            parser: ResponseParser::verifying(verifies_checksum),
            bucket: read_rate
                .map(|rate| TokenBucket::new(rate, capacity_for(rate), Duration::ZERO)),
            registered: None,
        }
    }

    pub fn phase_name(&self) -> &'static str {
        self.phase.name()
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether another request may be queued: the connection is (being) opened and has fewer
    /// than `pipeline` in flight.
    pub fn has_room(&self, pipeline: usize) -> bool {
        !self.is_closed() && self.in_flight.len() < pipeline
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// When the oldest exchange in flight was meant to be sent.
    pub fn oldest_in_flight(&self) -> Option<Instant> {
        self.in_flight.front().copied()
    }

    /// When a connect under way began.
    pub fn connecting_since(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connecting { since, .. } => Some(since),
            _ => None,
        }
    }

    /// The exchanges that were in flight when the connection closed, oldest first.
    pub fn take_in_flight(&mut self) -> VecDeque<Instant> {
        mem::take(&mut self.in_flight)
    }

    /// Starts a non-blocking connect to `addr`, with `SO_RCVBUF` set first when asked.
    /// Invariant on entry: the connection is closed.
    pub fn open(&mut self, ctx: &mut Ctx, addr: SocketAddr, rcvbuf: Option<usize>) -> Drive {
        debug_assert!(self.is_closed(), "open while {}", self.phase_name());
        match connect(addr, rcvbuf) {
            Ok(stream) => {
                self.phase = Phase::Connecting {
                    stream,
                    since: ctx.now,
                };
                match self.update_interest(ctx.registry) {
                    Ok(()) => Drive::default(),
                    Err(_) => self.fail(ctx, ErrorKind::Connect),
                }
            }
            Err(_) => {
                ctx.finished.push(Finished::Failed {
                    intended: None,
                    kind: ErrorKind::Connect,
                });
                Drive {
                    reopen_after: Some(CONNECT_RETRY),
                    ..Drive::default()
                }
            }
        }
    }

    /// Queues one request meant to be sent at `intended`; the caller checked
    /// [`Connection::has_room`] and calls [`Connection::drive`] next.
    pub fn push_request(&mut self, intended: Instant, request: &[u8]) {
        debug_assert!(!self.is_closed());
        self.out.extend_from_slice(request);
        self.in_flight.push_back(intended);
    }

    /// Does all the connection can do now: finish a connect, write, read within the bucket and
    /// the budget, and derive its interest. Spurious calls are harmless.
    pub fn drive(&mut self, ctx: &mut Ctx) -> Drive {
        if let Phase::Connecting { stream, .. } = &self.phase {
            match connect_state(stream) {
                ConnectState::Done => {}
                ConnectState::Pending => return Drive::default(),
                ConnectState::Failed => return self.fail(ctx, ErrorKind::Connect),
            }
            self.phase = match mem::replace(&mut self.phase, Phase::Closed) {
                Phase::Connecting { stream, .. } => Phase::Open { stream },
                other => other,
            };
        }
        let Phase::Open { stream } = &mut self.phase else {
            return Drive::default();
        };
        if let Err(err) = write_out(stream, &mut self.out, &mut self.written) {
            let kind = if err.kind() == io::ErrorKind::WriteZero {
                ErrorKind::Closed
            } else {
                ErrorKind::Io
            };
            return self.fail(ctx, kind);
        }
        let mut drive = match self.on_readable(ctx) {
            Ok(drive) => drive,
            Err(kind) => return self.fail(ctx, kind),
        };
        if drive.reopen_after.is_none() {
            if self.update_interest(ctx.registry).is_err() {
                return self.fail(ctx, ErrorKind::Io);
            }
        } else {
            drive.wake_at = None;
        }
        drive
    }

    /// Reads what the bucket and the budget allow; closes on EOF or a response saying so.
    fn on_readable(&mut self, ctx: &mut Ctx) -> Result<Drive, ErrorKind> {
        let mut budget = READ_BUDGET;
        let mut drive = Drive::default();
        loop {
            let mut allowed = ctx.buf.len().min(budget);
            if let Some(bucket) = &mut self.bucket {
                let now = ctx.now.saturating_duration_since(ctx.start);
                let available = bucket.available(now);
                // Read only a full bucket's worth at once: fewer, larger reads at the same rate.
                if available < bucket.capacity() {
                    drive.wake_at = Some(ctx.now + bucket.wait_for(bucket.capacity()));
                    return Ok(drive);
                }
                allowed = allowed.min(usize::try_from(available).unwrap_or(usize::MAX));
            }
            if allowed == 0 {
                drive.is_rerun = true;
                return Ok(drive);
            }
            let Phase::Open { stream } = &mut self.phase else {
                return Ok(drive);
            };
            let n = match stream.read(&mut ctx.buf[..allowed]) {
                Ok(0) => return self.on_eof(ctx),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(drive),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(ErrorKind::Io),
            };
            if let Some(bucket) = &mut self.bucket {
                bucket.take(n as u64);
            }
            budget -= n;
            *ctx.bytes_read += n as u64;
            if self.on_bytes(ctx, n)? {
                self.close(ctx.registry);
                drive.reopen_after = Some(Duration::ZERO);
                return Ok(drive);
            }
        }
    }

    /// Parses `ctx.buf[..n]`; whether a response asked for the connection to close.
    fn on_bytes(&mut self, ctx: &mut Ctx, n: usize) -> Result<bool, ErrorKind> {
        let mut at = 0;
        while at < n {
            let Some(&intended) = self.in_flight.front() else {
                return Err(ErrorKind::Parse);
            };
            let (used, response) = self.parser.feed(&ctx.buf[at..n]).map_err(|f| f.kind)?;
            at += used;
            if let Some(response) = response {
                self.in_flight.pop_front();
                let is_close = response.is_close;
                ctx.finished.push(Finished::Response {
                    intended,
                    at: Instant::now(),
                    response,
                });
                if is_close {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The server closed: a body running to the close ends here; anything else unanswered is
    /// an error of the oldest exchange.
    fn on_eof(&mut self, ctx: &mut Ctx) -> Result<Drive, ErrorKind> {
        match self.parser.on_eof() {
            Ok(Some(response)) => {
                let intended = self.in_flight.pop_front().unwrap_or(ctx.now);
                ctx.finished.push(Finished::Response {
                    intended,
                    at: Instant::now(),
                    response,
                });
            }
            Ok(None) if self.in_flight.is_empty() => {}
            Ok(None) => return Err(ErrorKind::Closed),
            Err(failure) => return Err(failure.kind),
        }
        self.close(ctx.registry);
        Ok(Drive {
            reopen_after: Some(Duration::ZERO),
            ..Drive::default()
        })
    }

    /// Fails the oldest exchange in flight (or the connection, when none is) with `kind` and
    /// closes; the rest stay in flight for [`Connection::take_in_flight`].
    pub fn fail(&mut self, ctx: &mut Ctx, kind: ErrorKind) -> Drive {
        ctx.finished.push(Finished::Failed {
            intended: self.in_flight.pop_front(),
            kind,
        });
        self.close(ctx.registry);
        Drive {
            reopen_after: Some(if kind == ErrorKind::Connect {
                CONNECT_RETRY
            } else {
                Duration::ZERO
            }),
            ..Drive::default()
        }
    }

    /// Deregisters and drops the socket; queued bytes and a partial response are forgotten.
    fn close(&mut self, registry: &Registry) {
        if let Phase::Connecting { stream, .. } | Phase::Open { stream } = &mut self.phase {
            // Deregister before drop; failing to is harmless, the close removes it anyway.
            let _ = registry.deregister(stream);
        }
        self.phase = Phase::Closed;
        self.registered = None;
        self.out.clear();
        self.written = 0;
        self.parser = ResponseParser::verifying(self.parser.verifies_checksum());
    }

    /// Registers or reregisters for what the phase needs, only when that changed.
    fn update_interest(&mut self, registry: &Registry) -> io::Result<()> {
        let (stream, wanted) = match &mut self.phase {
            Phase::Closed => return Ok(()),
            Phase::Connecting { stream, .. } => (stream, Interest::WRITABLE),
            Phase::Open { stream } if self.written < self.out.len() => {
                (stream, Interest::READABLE | Interest::WRITABLE)
            }
            Phase::Open { stream } => (stream, Interest::READABLE),
        };
        match self.registered {
            Some(current) if current == wanted => return Ok(()),
            Some(_) => registry.reregister(stream, self.token, wanted)?,
            None => registry.register(stream, self.token, wanted)?,
        }
        self.registered = Some(wanted);
        Ok(())
    }
}

/// Where a non-blocking connect stands after a writable event (which may be spurious).
enum ConnectState {
    Done,
    Pending,
    Failed,
}

fn connect_state(stream: &TcpStream) -> ConnectState {
    match stream.take_error() {
        Ok(None) => {}
        Ok(Some(_)) | Err(_) => return ConnectState::Failed,
    }
    match stream.peer_addr() {
        Ok(_) => ConnectState::Done,
        Err(err) if err.kind() == io::ErrorKind::NotConnected => ConnectState::Pending,
        Err(_) => ConnectState::Failed,
    }
}

/// Writes `out[*written..]` until done or `WouldBlock`; empties `out` once all is written.
fn write_out(stream: &mut TcpStream, out: &mut Vec<u8>, written: &mut usize) -> io::Result<()> {
    while *written < out.len() {
        match stream.write(&out[*written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    out.clear();
    *written = 0;
    Ok(())
}

/// A non-blocking socket with `SO_RCVBUF` set (before connect, so the window scale the
/// handshake agrees on fits it) and `TCP_NODELAY`, connecting to `addr`.
fn connect(addr: SocketAddr, rcvbuf: Option<usize>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(EINPROGRESS) => {}
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
        Err(err) => return Err(err),
    }
    Ok(TcpStream::from_std(socket.into()))
}
