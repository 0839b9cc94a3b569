//! A reactor run step by step by its caller, with no network: its client connection and its
//! backend connections are in-process socket pairs whose other ends the caller holds, and its
//! clock moves only when the caller says. This is how the `connection` fuzz target drives one
//! connection's whole state machine (client bytes, backend bytes, reads that make room for
//! writes, half-closes, closes, time) and checks what it leaves behind.
//!
//! Everything else is the real reactor: its parser, exchanges, pools, timers and buffers; the
//! pairs are non-blocking stream sockets with small kernel buffers, so writes come back short
//! and back-pressure paths run.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Events;

use super::backend::Dialer;
use super::{Control, Reactor};
use crate::cache::collector::Collect;
use crate::config::{self, Scheme};
use crate::metrics::ReactorMetrics;
use crate::sys::{self, SockBuf};

/// Kernel buffer of each side of a pair: small, so that writes block early.
const PAIR_BUFFER: usize = 4096;

/// Most loop turns [`Harness::settle`] runs: far more than any step needs (a step moves at
/// most a few hundred KiB through 4 KiB socket buffers).
const SETTLE_TURNS: usize = 1024;

/// A connected, non-blocking pair: the end the reactor uses (as a TCP stream: the calls made
/// on it are the same on a Unix stream socket) and the end the caller plays.
pub(super) fn pair() -> io::Result<(std::net::TcpStream, UnixStream)> {
    let (ours, theirs) = UnixStream::pair()?;
    for end in [&ours, &theirs] {
        end.set_nonblocking(true)?;
        for which in [SockBuf::Send, SockBuf::Receive] {
            sys::set_socket_buffer(end.as_raw_fd(), which, PAIR_BUFFER)?;
        }
    }
    Ok((std::net::TcpStream::from(OwnedFd::from(ours)), theirs))
}

/// One reactor with one client connection, driven by the caller.
pub struct Harness {
    reactor: Reactor,
    events: Events,
    now: Instant,
    /// The wall-clock time at `now`: it moves with it.
    wall: std::time::SystemTime,
    client: Option<UnixStream>,
    metrics: Arc<ReactorMetrics>,
    /// A settle ran out of turns: the reactor kept finding work (a loop).
    unsettled: bool,
    /// Kept so that the reactor's control channel and the collector's stay open.
    _controls: Sender<Control>,
    _collected: Receiver<Collect>,
}

impl Harness {
    /// A reactor for the configuration `text` (its `Listen` lines are not opened), with a
    /// client connected from 192.0.2.1 to port 80.
    pub fn start(text: &str) -> Result<Harness, String> {
        sys::ignore_sigpipe();
        let loaded = config::parse_str(text, std::path::Path::new("sim.conf"))
            .map_err(|errors| format!("{errors:?}"))?;
        let cfg = Arc::new(loaded.config);
        let (controls, controls_rx) = channel();
        let (collector, collected) = channel();
        let metrics = Arc::new(ReactorMetrics::new());
        let all: Arc<[Arc<ReactorMetrics>]> = Arc::from(vec![Arc::clone(&metrics)]);
        let (mut reactor, _waker) = Reactor::new(cfg, Vec::new(), controls_rx, (0, all), collector)
            .map_err(|e| e.to_string())?;
        reactor.sh.backends.dialer = Dialer::Pairs(Vec::new());
        let (ours, theirs) = pair().map_err(|e| e.to_string())?;
        let peer = SocketAddr::from(([192, 0, 2, 1], 40000));
        let local = SocketAddr::from(([192, 0, 2, 2], 80));
        let now = Instant::now();
        let wall = std::time::SystemTime::now();
        reactor.sh.clock.now = now;
        reactor.sh.clock.wall = wall;
        reactor.admit_as(
            mio::net::TcpStream::from_std(ours),
            peer,
            local,
            Scheme::Http,
        );
        let mut harness = Harness {
            reactor,
            events: Events::with_capacity(64),
            now,
            wall,
            client: Some(theirs),
            metrics,
            unsettled: false,
            _controls: controls,
            _collected: collected,
        };
        harness.settle();
        Ok(harness)
    }

    /// Runs loop turns (with no waiting) until one finds nothing to do.
    pub fn settle(&mut self) {
        for _ in 0..SETTLE_TURNS {
            let _ = self.reactor.turn(
                &mut self.events,
                Some(Duration::ZERO),
                Some((self.now, self.wall)),
            );
            if self.events.is_empty() && self.reactor.sh.sched.rerun.is_empty() {
                return;
            }
        }
        self.unsettled = true;
    }

    /// Whether every settle so far came to rest.
    pub fn settled(&self) -> bool {
        !self.unsettled
    }

    /// Moves the clock on by `by` and lets what fell due run.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.wall += by;
        self.settle();
    }

    /// The client sends what of `bytes` its socket takes; how much.
    pub fn client_send(&mut self, bytes: &[u8]) -> usize {
        let sent = self.client.as_mut().map_or(0, |c| send(c, bytes));
        self.settle();
        sent
    }

    /// The client reads up to `max` bytes of what it was sent (making room for more).
    pub fn client_receive(&mut self, max: usize) -> Vec<u8> {
        let got = self
            .client
            .as_mut()
            .map_or_else(Vec::new, |c| receive(c, max));
        self.settle();
        got
    }

    /// The client ends what it sends (a half-close).
    pub fn client_shutdown(&mut self) {
        if let Some(c) = &self.client {
            let _ = c.shutdown(Shutdown::Write);
        }
        self.settle();
    }

    /// The client goes away.
    pub fn client_close(&mut self) {
        self.client = None;
        self.settle();
    }

    /// Backend connections made so far (open or not).
    pub fn backends(&self) -> usize {
        self.ends().len()
    }

    /// Backend connection `i` sends what of `bytes` its socket takes; how much.
    pub fn backend_send(&mut self, i: usize, bytes: &[u8]) -> usize {
        let sent = self.ends_mut().get_mut(i).map_or(0, |b| send(b, bytes));
        self.settle();
        sent
    }

    /// Backend connection `i` reads up to `max` bytes of what it was sent.
    pub fn backend_receive(&mut self, i: usize, max: usize) -> Vec<u8> {
        let got = self
            .ends_mut()
            .get_mut(i)
            .map_or_else(Vec::new, |b| receive(b, max));
        self.settle();
        got
    }

    /// Backend connection `i` ends what it sends (`Write`) or goes away (`Both`).
    pub fn backend_shutdown(&mut self, i: usize, how: Shutdown) {
        if let Some(b) = self.ends().get(i) {
            let _ = b.shutdown(how);
        }
        self.settle();
    }

    /// Blocks of the buffer pool in use.
    pub fn blocks_in_use(&self) -> usize {
        self.reactor.sh.io.pool.outstanding()
    }

    /// Client connections open (0 or 1).
    pub fn client_connections(&self) -> usize {
        self.reactor.conns.len()
    }

    /// Backend connections open (in use or idle in the pool).
    pub fn backend_connections(&self) -> usize {
        self.reactor.sh.backends.conns.len()
    }

    /// The reactor's counters.
    pub fn metrics(&self) -> &ReactorMetrics {
        &self.metrics
    }

    fn ends(&self) -> &[UnixStream] {
        match &self.reactor.sh.backends.dialer {
            Dialer::Pairs(ends) => ends,
            Dialer::Tcp { .. } => &[],
        }
    }

    fn ends_mut(&mut self) -> &mut Vec<UnixStream> {
        match &mut self.reactor.sh.backends.dialer {
            Dialer::Pairs(ends) => ends,
            Dialer::Tcp { .. } => unreachable!("a harness's backends are simulated"),
        }
    }
}

/// Writes what `end` takes of `bytes` now.
fn send(end: &mut UnixStream, bytes: &[u8]) -> usize {
    let mut sent = 0;
    while sent < bytes.len() {
        match end.write(&bytes[sent..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
    }
    sent
}

/// Reads what `end` has now, up to `max` bytes.
fn receive(end: &mut UnixStream, max: usize) -> Vec<u8> {
    let mut got = vec![0; max];
    let mut n = 0;
    while n < max {
        match end.read(&mut got[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    got.truncate(n);
    got
}
