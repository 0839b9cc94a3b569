//! One event loop on one thread: its listeners, its client connections, its backend
//! connections and keep-alive pool, its blocks, timers and logs. It shares nothing mutable with
//! other reactors; control messages (reload, stop) arrive through a channel and a `Waker`.
//!
//! Sockets are registered once for both readability and writability, edge-triggered. Events
//! only set readiness flags; handlers drain to `WouldBlock` and clear them. Work that has no
//! kernel event to come (a pipelined request already buffered, a handler out of budget, a
//! waiter whose backend connection was freed) goes on the re-run queue.

mod backend;
mod cached;
mod conn;
mod exchange;
mod refresh;
mod reply;
mod resolve;
mod shared;
pub mod sim;
mod status;
mod timer;
mod token;
mod tunnel;

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Waker};
use slab::Slab;

use crate::buf::{BufPool, PipePool};
use crate::config::{Config, LogLevel, Scheme};
use crate::log::{AccessLogs, ErrorLog};
use crate::metrics::ReactorMetrics;
use crate::sys::{self, SockBuf};
use backend::{BackendPool, Dialer};
use conn::{Conn, Phase, Step};
pub use shared::Shared;
use shared::{CacheState, Clock, Io, Observe, Resolving, Sched};
use std::os::fd::AsRawFd;
use token::{Kind, Token};

/// Connections accepted from one listener per loop turn before others get their turn.
const ACCEPT_BUDGET: usize = 64;

/// Re-run entries handled per loop turn (the rest wait for the next turn, after events).
const RERUN_BUDGET: usize = 1024;

/// Bytes asked of one `read` of a head or a request body.
const READ_CHUNK: usize = 16 * 1024;

/// Events taken from the kernel per `poll`.
const EVENTS_CAPACITY: usize = 1024;

/// Readiness of a socket as last reported and not yet used up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub readable: bool,
    pub writable: bool,
    /// The peer closed its side (or the socket failed): reads will end in EOF or an error,
    /// however short the last one was. Sticky.
    pub read_closed: bool,
}

impl Ready {
    /// A read that returned fewer bytes than asked drained the socket. Under edge-triggered
    /// polling the next arrival raises a new event, so no read is tried until then: this saves
    /// the read that would only say `WouldBlock`. Not so once the peer closed: its FIN may
    /// have come with the data, and no new event would announce it.
    pub fn note_read(&mut self, n: usize, asked: usize) {
        if n < asked && !self.read_closed {
            self.readable = false;
        }
    }

    fn absorb(&mut self, event: &mio::event::Event) {
        // Errors and hang-ups are reported as both: the next read or write sees them.
        let broken = event.is_error() || event.is_read_closed() || event.is_write_closed();
        self.read_closed |= event.is_error() || event.is_read_closed();
        self.readable |= event.is_readable() || broken;
        self.writable |= event.is_writable() || broken;
    }
}

/// Reads once from `src` into `landing` (a buffer initialised once per reactor, so no read
/// pays for zeroing memory) and appends what arrived to `buf`.
pub fn read_some(src: &mut impl Read, buf: &mut Vec<u8>, landing: &mut [u8]) -> io::Result<usize> {
    let n = loop {
        match src.read(landing) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    buf.extend_from_slice(&landing[..n]);
    Ok(n)
}

/// A message from the main thread.
#[derive(Debug)]
pub enum Control {
    /// Use this configuration for new exchanges (listeners stay as they are).
    Reload(Arc<Config>),
    /// Stop accepting, finish what is in flight, and exit by the deadline.
    Drain(Instant),
    /// Exit now.
    Quit,
}

/// One listening socket of this reactor.
#[derive(Debug)]
struct Listener {
    socket: TcpListener,
    scheme: Scheme,
    /// Connections are waiting beyond the accept budget.
    pending: bool,
    /// After an accept failure (out of descriptors, say): not before this.
    retry_at: Option<Instant>,
}

/// How long a listener rests after `accept` failed with something other than `WouldBlock`,
/// so that a persistent failure (EMFILE) does not spin the loop.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// An event loop.
#[derive(Debug)]
pub struct Reactor {
    poll: Poll,
    listeners: Vec<Listener>,
    conns: Slab<Conn>,
    sh: Shared,
    controls: Receiver<Control>,
    drain_deadline: Option<Instant>,
    /// When the gauges were last published.
    published: Instant,
    /// `SendBufferSize` and `ReceiveBufferSize` the listeners were made with.
    listener_buffers: (usize, usize),
}

/// The size of each splice pipe and the most bytes of pipes in use, from the configuration:
/// a pipe holds one response buffer (within `/proc/sys/fs/pipe-max-size`), and pipes take at
/// most half the pool's budget (none when splicing is off).
fn pipe_sizes(cfg: &Config) -> (usize, usize) {
    let b = &cfg.buffering;
    let max = sys::pipe_max_size().unwrap_or(1 << 20);
    let size = b.response_buffer_size.clamp(64 * 1024, max.max(64 * 1024));
    let budget = match b.splice {
        crate::config::SpliceMode::Off => 0,
        crate::config::SpliceMode::On | crate::config::SpliceMode::Auto => b.pool_size / 2,
    };
    (size, budget)
}

fn pipe_pool(cfg: &Config) -> PipePool {
    let mut pipes = PipePool::default();
    let (size, budget) = pipe_sizes(cfg);
    pipes.configure(size, budget);
    pipes
}

/// How often an active reactor publishes its gauges. A reactor about to wait longer than this
/// for events (or without end) publishes first (see `Reactor::publish_before_wait`), so that an
/// idle reactor's gauges are final: the status endpoint reads them from another reactor, and
/// nothing else would refresh them while this one sleeps.
const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

impl Reactor {
    /// A reactor over already-bound listeners (one `SO_REUSEPORT` socket per reactor and
    /// address, made with `cfg`'s client socket buffers). Returns the waker that control
    /// messages must be followed by.
    pub fn new(
        cfg: Arc<Config>,
        listeners: Vec<(std::net::TcpListener, Scheme)>,
        controls: Receiver<Control>,
        metrics: (usize, Arc<[Arc<ReactorMetrics>]>),
        collector: std::sync::mpsc::Sender<crate::cache::collector::Collect>,
    ) -> io::Result<(Reactor, Arc<Waker>)> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Arc::new(Waker::new(&registry, Token::new(Kind::Waker, 0, 0).into())?);
        let mut own = Vec::new();
        for (i, (socket, scheme)) in listeners.into_iter().enumerate() {
            socket.set_nonblocking(true)?;
            let mut socket = TcpListener::from_std(socket);
            registry.register(
                &mut socket,
                Token::new(Kind::Listener, i, 0).into(),
                Interest::READABLE,
            )?;
            own.push(Listener {
                socket,
                scheme,
                pending: false,
                retry_at: None,
            });
        }
        let mut backends = BackendPool::default();
        backends.reset(cfg.backends.len(), 0, &registry);
        backends.dialer = Dialer::Tcp {
            socket_buffers: (
                cfg.buffering.backend_send_buffer,
                cfg.buffering.backend_receive_buffer,
            ),
        };
        let (me, all_metrics) = metrics;
        let pipes = pipe_pool(&cfg);
        let listener_buffers = (
            cfg.buffering.client_send_buffer,
            cfg.buffering.client_receive_buffer,
        );
        let pool = BufPool::new(cfg.buffering.io_buffer_size, cfg.buffering.pool_size);
        let sh = Shared {
            cfg_gen: 0,
            io: Io {
                registry,
                pool,
                pipes,
                landing: vec![0; READ_CHUNK].into_boxed_slice(),
                scratch: Vec::new(),
                gen: 0,
            },
            backends,
            sched: Sched::default(),
            obs: Observe {
                log: ErrorLog::open(&cfg)?,
                access: AccessLogs::open(&cfg)?,
                metrics: Arc::clone(&all_metrics[me]),
                all_metrics,
            },
            clock: Clock {
                now: Instant::now(),
                wall: std::time::SystemTime::now(),
            },
            cache: CacheState {
                locks: cached::Locks::default(),
                verified: cached::Verified::default(),
                collector,
            },
            resolve: Resolving {
                resolver: None,
                asked: 0,
                waker: Arc::clone(&waker),
            },
            cfg,
            draining: false,
            open_conns: 0,
        };
        Ok((
            Reactor {
                poll,
                listeners: own,
                conns: Slab::new(),
                sh,
                controls,
                drain_deadline: None,
                published: Instant::now(),
                listener_buffers,
            },
            waker,
        ))
    }

    /// Runs until told to stop (and, when draining, until the last connection is done).
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout();
            self.publish_before_wait(timeout);
            if self.turn(&mut events, timeout, None)? {
                return Ok(());
            }
        }
    }

    /// Publishes the gauges when the coming wait for events, up to `timeout`, may last longer
    /// than [`PUBLISH_INTERVAL`] and a turn has run since they were last published: a reactor
    /// that has gone idle turns no more, and would otherwise show the values of its last busy
    /// moment (its connections of a burst long over) for as long as it stays idle. A reactor
    /// with work queued or a timer near waits less and publishes in `turn`, at most once per
    /// interval; one whose next timer is far off publishes here after each turn, which is
    /// seven stores and a count of idle backend connections, no syscall or clock read.
    fn publish_before_wait(&mut self, timeout: Option<Duration>) {
        let long = timeout.is_none_or(|t| t > PUBLISH_INTERVAL);
        if long && self.published != self.sh.clock.now {
            self.sh.publish_gauges();
            self.published = self.sh.clock.now;
        }
    }

    /// One loop turn: waits up to `timeout` for events, handles them at `now` and wall-clock
    /// time (the clocks' unless given: `sim` runs on a clock of its own), then what is due.
    /// True when the reactor must exit.
    fn turn(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
        now: Option<(Instant, std::time::SystemTime)>,
    ) -> io::Result<bool> {
        if let Err(e) = self.poll.poll(events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        (self.sh.clock.now, self.sh.clock.wall) =
            now.unwrap_or_else(|| (Instant::now(), std::time::SystemTime::now()));
        for event in events.iter() {
            let token = Token(event.token().0);
            match token.kind() {
                Kind::Listener => {
                    if let Some(l) = self.listeners.get_mut(token.idx()) {
                        l.pending = true;
                    }
                }
                Kind::Client => self.client_event(token, event),
                Kind::Backend => self.backend_event(token, event),
                Kind::Waker => {
                    if self.on_controls() {
                        self.cut_off_in_flight();
                        return Ok(true);
                    }
                    self.on_resolved();
                }
            }
        }
        self.accept_pending();
        self.run_rerun_queue();
        self.fire_timers();
        self.wake_starved();
        self.sh.obs.access.flush();
        if self.sh.clock.now >= self.published + PUBLISH_INTERVAL {
            self.sh.publish_gauges();
            self.published = self.sh.clock.now;
        }
        if self.sh.draining {
            self.close_idle();
            let late = self.drain_deadline.is_some_and(|d| self.sh.clock.now >= d);
            if self.conns.is_empty() || late {
                self.cut_off_in_flight();
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let accepting = self.may_accept()
            && self
                .listeners
                .iter()
                .any(|l| l.pending && l.retry_at.is_none());
        if !self.sh.sched.rerun.is_empty() || accepting {
            return Some(Duration::ZERO);
        }
        let now = Instant::now();
        let retry = self.listeners.iter().filter_map(|l| l.retry_at).min();
        let timer = match (self.sh.sched.timers.next(), retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|t| t.saturating_duration_since(now));
        let drain = self
            .drain_deadline
            .map(|t| t.saturating_duration_since(now));
        match (timer, drain) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn client_event(&mut self, token: Token, event: &mio::event::Event) {
        let idx = token.idx();
        match self.conns.get_mut(idx) {
            Some(conn) if conn.gen == token.gen() => conn.ready.absorb(event),
            _ => return,
        }
        self.drive(idx);
    }

    fn backend_event(&mut self, token: Token, event: &mio::event::Event) {
        let idx = token.idx();
        let owner = match self.sh.backends.conns.get_mut(idx) {
            Some(bc) if bc.gen == token.gen() => {
                bc.ready.absorb(event);
                bc.owner
            }
            _ => return,
        };
        match owner {
            Some(client) => self.drive(client),
            None => {
                // An event on an idle pooled connection: an edge left over from its last
                // response (spurious), or the backend closed it or sent bytes nobody asked for.
                // A read tells which; only the first keeps it usable.
                let mut probe = [0u8; 1];
                let bc = &mut self.sh.backends.conns[idx];
                match bc.stream.read(&mut probe) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        bc.ready.readable = false;
                        return;
                    }
                    Ok(_) | Err(_) => {}
                }
                if self.sh.obs.log.enabled(LogLevel::Debug) {
                    let peer = self.sh.backends.conns[idx].peer;
                    self.sh.obs.log.log(
                        LogLevel::Debug,
                        None,
                        format_args!("pooled connection to {peer} closed by the backend"),
                    );
                }
                let waiter = self.sh.backends.close(idx, &self.sh.io.registry);
                if let Some((c, gen)) = waiter {
                    self.sh
                        .sched
                        .rerun
                        .push_back(Token::new(Kind::Client, c, gen));
                }
            }
        }
    }

    fn drive(&mut self, idx: usize) {
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        if conn.drive(idx, &mut self.sh) == Step::Close {
            self.remove(idx);
        }
    }

    fn remove(&mut self, idx: usize) {
        let conn = self.conns.remove(idx);
        conn.close(idx, &mut self.sh);
        self.sh.open_conns -= 1;
    }

    /// Re-runs the connections that waited for the pool once it lets them go on: requests
    /// waiting to start when new exchanges may start, body reads when bodies may be read.
    fn wake_starved(&mut self) {
        if !self.sh.sched.pool_waiters.is_empty() && self.sh.io.pool.can_start() {
            for token in std::mem::take(&mut self.sh.sched.pool_waiters) {
                if let Some(conn) = self.conn_of(token) {
                    conn.pool_queued = false;
                    self.sh.sched.rerun.push_back(token);
                }
            }
        }
        if !self.sh.sched.starved.is_empty() && self.sh.io.pool.can_fill() {
            for token in std::mem::take(&mut self.sh.sched.starved) {
                if let Some(conn) = self.conn_of(token) {
                    conn.starved = false;
                    self.sh.sched.rerun.push_back(token);
                }
            }
        }
    }

    /// The reactor is exiting: responses under way are cut off with a reset, so that none
    /// ends with a FIN that could make it look complete.
    fn cut_off_in_flight(&mut self) {
        for (_, conn) in &self.conns {
            if matches!(&conn.phase, Phase::Exchange(ex) if ex.response_started()) {
                let _ = sys::reset_on_close(conn.client.as_raw_fd());
            }
        }
    }

    fn conn_of(&mut self, token: Token) -> Option<&mut Conn> {
        self.conns
            .get_mut(token.idx())
            .filter(|c| c.gen == token.gen())
    }

    /// Whether this reactor may take another connection: the pool lets requests start, and
    /// `MaxConnections` (this reactor's share of it) is not reached.
    fn may_accept(&self) -> bool {
        let max = self.sh.cfg.limits.max_connections;
        let share = max.div_ceil(self.sh.obs.all_metrics.len().max(1));
        self.sh.io.pool.can_start() && (max == 0 || self.sh.open_conns < share)
    }

    fn accept_pending(&mut self) {
        if !self.may_accept() {
            // New connections wait in the listen queue until blocks are returned or
            // connections close.
            return;
        }
        for i in 0..self.listeners.len() {
            match self.listeners[i].retry_at {
                Some(at) if at > self.sh.clock.now => continue,
                Some(_) => self.listeners[i].retry_at = None,
                None => {}
            }
            if !self.listeners[i].pending || self.sh.draining {
                continue;
            }
            let mut accepted = 0;
            self.listeners[i].pending = loop {
                if accepted == ACCEPT_BUDGET || !self.may_accept() {
                    break true;
                }
                match self.listeners[i].socket.accept() {
                    Ok((stream, peer)) => {
                        accepted += 1;
                        self.admit(stream, peer, self.listeners[i].scheme);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                    Err(e)
                        if e.kind() == io::ErrorKind::Interrupted
                            || e.kind() == io::ErrorKind::ConnectionAborted =>
                    {
                        continue
                    }
                    Err(e) => {
                        // Out of descriptors or memory: log, and rest rather than spin.
                        self.sh.obs.log.log(
                            LogLevel::Error,
                            None,
                            format_args!("accept failed: {e}; retrying in {ACCEPT_RETRY:?}"),
                        );
                        self.listeners[i].retry_at = Some(self.sh.clock.now + ACCEPT_RETRY);
                        break true;
                    }
                }
            };
        }
    }

    fn admit(&mut self, stream: mio::net::TcpStream, peer: SocketAddr, scheme: Scheme) {
        let _ = stream.set_nodelay(true);
        let b = &self.sh.cfg.buffering;
        let wanted = (b.client_send_buffer, b.client_receive_buffer);
        if wanted != self.listener_buffers {
            // A reload changed them: the listener's, which accepted sockets inherit, are the
            // old ones. The grant was checked (and any clamping reported) when the
            // configuration was loaded; a failure here leaves the default, which works.
            for (which, bytes) in [(SockBuf::Send, wanted.0), (SockBuf::Receive, wanted.1)] {
                if bytes > 0 {
                    let _ = sys::set_socket_buffer(stream.as_raw_fd(), which, bytes);
                }
            }
        }
        let Ok(local) = stream.local_addr() else {
            return;
        };
        self.admit_as(stream, peer, local, scheme);
    }

    /// Takes a connection from `peer` to `local` into the slab and drives it.
    fn admit_as(
        &mut self,
        mut stream: mio::net::TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        scheme: Scheme,
    ) {
        self.sh.io.gen = self.sh.io.gen.wrapping_add(1) & Token::GEN_MASK;
        let entry = self.conns.vacant_entry();
        let idx = entry.key();
        let token = Token::new(Kind::Client, idx, self.sh.io.gen);
        if let Err(e) = self.sh.io.registry.register(
            &mut stream,
            token.into(),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.sh.obs.log.log(
                LogLevel::Error,
                Some(peer),
                format_args!("cannot register connection: {e}"),
            );
            return;
        }
        entry.insert(Conn::new(
            stream,
            idx,
            self.sh.io.gen,
            peer,
            local,
            scheme,
            self.sh.clock.now,
        ));
        self.sh.open_conns += 1;
        self.sh.obs.metrics.connections_accepted.incr();
        self.drive(idx);
    }

    fn run_rerun_queue(&mut self) {
        let n = self.sh.sched.rerun.len().min(RERUN_BUDGET);
        for _ in 0..n {
            let Some(token) = self.sh.sched.rerun.pop_front() else {
                break;
            };
            if self
                .conns
                .get(token.idx())
                .is_some_and(|c| c.gen == token.gen())
            {
                self.drive(token.idx());
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = self.sh.clock.now;
        while let Some((at, raw)) = self.sh.sched.timers.pop_due(now) {
            let token = Token(raw);
            let idx = token.idx();
            match token.kind() {
                Kind::Client => {
                    let Some(conn) = self.conns.get_mut(idx).filter(|c| c.gen == token.gen())
                    else {
                        continue;
                    };
                    if conn.deadline.fire(at, now, &mut self.sh.sched.timers, raw)
                        && conn.on_timeout(idx, &mut self.sh) == Step::Close
                    {
                        self.remove(idx);
                    }
                }
                Kind::Backend => {
                    let Some(bc) = self
                        .sh
                        .backends
                        .conns
                        .get_mut(idx)
                        .filter(|b| b.gen == token.gen())
                    else {
                        continue;
                    };
                    if bc.deadline.fire(at, now, &mut self.sh.sched.timers, raw)
                        && self.sh.backends.is_idle(idx)
                    {
                        let waiter = self.sh.backends.close(idx, &self.sh.io.registry);
                        if let Some((c, gen)) = waiter {
                            self.sh
                                .sched
                                .rerun
                                .push_back(Token::new(Kind::Client, c, gen));
                        }
                    }
                }
                Kind::Listener | Kind::Waker => {}
            }
        }
    }

    /// Hands the resolver's answers to the exchanges that asked (an answer for a connection
    /// that has gone, or moved on, is dropped).
    fn on_resolved(&mut self) {
        while let Some(answer) = self
            .sh
            .resolve
            .resolver
            .as_mut()
            .and_then(|r| r.next_answer())
        {
            let idx = answer.token.idx();
            let Some(conn) = self.conns.get_mut(idx) else {
                continue;
            };
            if conn.gen != answer.token.gen() {
                continue;
            }
            let Phase::Exchange(ex) = &mut conn.phase else {
                continue;
            };
            if exchange::on_resolved(ex, conn.peer, answer.ask, answer.addrs, &mut self.sh) {
                self.drive(idx);
            }
        }
    }

    /// Handles control messages; returns true when the reactor must exit now.
    fn on_controls(&mut self) -> bool {
        loop {
            match self.controls.try_recv() {
                Ok(Control::Reload(cfg)) => self.reload(cfg),
                Ok(Control::Drain(deadline)) => {
                    self.sh.draining = true;
                    self.drain_deadline = Some(deadline);
                    for l in &mut self.listeners {
                        let _ = self.sh.io.registry.deregister(&mut l.socket);
                    }
                    self.listeners.clear();
                }
                Ok(Control::Quit) | Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => return false,
            }
        }
    }

    fn reload(&mut self, cfg: Arc<Config>) {
        match (ErrorLog::open(&cfg), AccessLogs::open(&cfg)) {
            (Ok(log), Ok(access)) => {
                self.sh.obs.access.flush();
                self.sh.obs.log = log;
                self.sh.obs.access = access;
            }
            (Err(e), _) | (_, Err(e)) => {
                self.sh.obs.log.log(
                    LogLevel::Error,
                    None,
                    format_args!("reload: keeping the old logs: {e}"),
                );
            }
        }
        self.sh.cfg_gen += 1;
        let waiters =
            self.sh
                .backends
                .reset(cfg.backends.len(), self.sh.cfg_gen, &self.sh.io.registry);
        for (c, gen) in waiters {
            self.sh
                .sched
                .rerun
                .push_back(Token::new(Kind::Client, c, gen));
        }
        let b = &cfg.buffering;
        if let Dialer::Tcp { socket_buffers } = &mut self.sh.backends.dialer {
            *socket_buffers = (b.backend_send_buffer, b.backend_receive_buffer);
        }
        self.sh.io.pool.configure(b.io_buffer_size, b.pool_size);
        let (size, budget) = pipe_sizes(&cfg);
        self.sh.io.pipes.configure(size, budget);
        // Route slots are renumbered by the new configuration.
        self.sh.obs.metrics.reset_routes();
        self.sh.cfg = cfg;
        self.sh.obs.log.log(
            LogLevel::Notice,
            None,
            format_args!("configuration reloaded"),
        );
    }

    /// While draining, connections with no request in progress close at once.
    fn close_idle(&mut self) {
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_idle())
            .map(|(i, _)| i)
            .collect();
        for idx in idle {
            self.remove(idx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_some_appends_and_keeps_length_on_error() {
        let mut buf = b"ab".to_vec();
        let mut src: &[u8] = b"cdef";
        assert_eq!(read_some(&mut src, &mut buf, &mut [0; 3]).unwrap(), 3);
        assert_eq!(buf, b"abcde");
    }
}
