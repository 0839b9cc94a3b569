//! One client connection: its phases (reading a head, proxying an exchange, waiting for a
//! backend connection, writing an answer of our own, lingering before close), the bytes it
//! has read and not consumed, and the bytes it owes the client.
//!
//! Phases are an enum moved by value; each has one handler `on_<phase>` that returns the next
//! phase and whether anything moved. `drive` runs handlers until nothing moves or the step
//! budget is spent (then the connection goes on the re-run queue). Readiness flags are set by
//! events and cleared only by `WouldBlock`, so no edge is ever lost.

mod answer;
mod wire;

use std::io::{self, Read};
use std::mem;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::exchange::{self, Exchange, Outbox, ReqLog};
use super::reply::{After, Failure};
use super::timer::Deadline;
use super::token::{Kind, Token};
use super::tunnel::{self, Tunnel};
use super::{Ready, Shared};
use crate::config::{LogLevel, Scheme};
use crate::http1::request::{parse_request_incremental, RequestError, RequestHead};
use crate::http1::HeadProgress;
use crate::tls::ClientTls;

/// Handler steps per `drive` call before the connection yields to others (STYLE rule 8).
const STEP_BUDGET: usize = 32;

/// How long a closing connection waits for the client to close after our FIN (Apache's
/// lingering close uses 2 s).
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Longest a request waits for the block pool to have room before it is answered 503.
const POOL_WAIT: Duration = Duration::from_secs(1);

/// Most bytes a lingering close discards before it gives up and closes anyway.
const LINGER_BYTES: usize = 1024 * 1024;

/// What a connection's deadline means when it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    /// A request head (or the TLS handshake before it) did not arrive within
    /// `RequestReadTimeout header=` or `Timeout`: 408, or a close when nothing came.
    Head,
    /// An idle keep-alive connection reached `KeepAliveTimeout`: closed.
    KeepAlive,
    /// A parsed request waited [`POOL_WAIT`] for blocks: 503.
    PoolWait,
    /// The client did not take our answer within `Timeout`: closed.
    Reply,
    /// A tunnel idled: closed.
    TunnelIdle,
    /// The lingering close is over.
    Linger,
    /// The exchange's own deadline, with its meaning.
    Exchange(exchange::Due),
}

/// What the reactor does with a connection after driving it.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Keep,
    Close,
}

/// An answer of spoonfeed's own being written.
#[derive(Debug)]
pub struct Reply {
    pub after: After,
}

/// The phases of a client connection.
#[derive(Debug)]
pub enum Phase {
    /// Reading a request head (an idle keep-alive connection is here with no bytes).
    Head,
    /// An exchange is under way (its stage says whether it waits for something).
    Exchange(Box<Exchange>),
    /// An answer of ours is being written.
    Reply(Reply),
    /// The connection switched protocols: bytes are copied both ways with its backend.
    Tunnel(Box<Tunnel>),
    /// Our side is shut for writing; input is read and discarded until the client closes.
    Linger { until: Instant, discarded: usize },
    /// Nothing left to do: the reactor closes the connection.
    Closed,
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Head => "head",
            Phase::Exchange(ex) => ex.stage_name(),
            Phase::Reply(_) => "reply",
            Phase::Tunnel(_) => "tunnel",
            Phase::Linger { .. } => "linger",
            Phase::Closed => "closed",
        }
    }
}

/// A client connection.
#[derive(Debug)]
pub struct Conn {
    pub client: TcpStream,
    /// This connection's slab index.
    pub idx: usize,
    pub gen: u32,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub scheme: Scheme,
    /// The TLS session of a connection that came in on an `https` listener.
    pub tls: Option<ClientTls>,
    pub ready: Ready,
    /// Bytes read from the client and not consumed yet (a head, body, pipelined requests).
    /// Emptied and freed when the connection idles.
    pub cin: Vec<u8>,
    /// How far the head at the start of `cin` has been scanned; reset whenever `cin` loses
    /// its front.
    pub progress: HeadProgress,
    /// Bytes owed to the client.
    pub out: Outbox,
    pub phase: Phase,
    /// Exchanges completed on this connection.
    pub exchanges: u32,
    pub deadline: Deadline,
    /// What `deadline` means when it passes (set with it).
    due: Due,
    /// Has a token on `Shared::starved` (a body read waiting for blocks). Set only with a
    /// token pushed, cleared only when the reactor takes the token off.
    pub starved: bool,
    /// Has a token on `Shared::pool_waiters` (a parsed request waiting for the pool to let
    /// it start); same rule.
    pub pool_queued: bool,
    /// Until when the request at the front of `cin` may wait for the pool (then 503).
    pub pool_wait_until: Option<Instant>,
    /// When the request head being read began (accept, or its first byte), and how many bytes
    /// of it arrived: `RequestReadTimeout header=`.
    head_started: Instant,
    head_bytes: u64,
}

impl Conn {
    pub fn new(
        client: TcpStream,
        idx: usize,
        gen: u32,
        peer: SocketAddr,
        local: SocketAddr,
        scheme: Scheme,
        accepted: Instant,
    ) -> Conn {
        Conn {
            client,
            idx,
            gen,
            peer,
            local,
            scheme,
            tls: (scheme == Scheme::Https).then(ClientTls::new),
            ready: Ready {
                readable: true,
                writable: true,
                read_closed: false,
            },
            cin: Vec::new(),
            progress: HeadProgress::default(),
            out: Outbox::default(),
            phase: Phase::Head,
            exchanges: 0,
            deadline: Deadline::default(),
            due: Due::Head,
            starved: false,
            pool_queued: false,
            pool_wait_until: None,
            head_started: accepted,
            head_bytes: 0,
        }
    }

    pub fn token(&self, idx: usize) -> Token {
        Token::new(Kind::Client, idx, self.gen)
    }

    /// Runs phase handlers until nothing moves or the budget is spent.
    pub fn drive(&mut self, idx: usize, sh: &mut Shared) -> Step {
        let mut moved_any = false;
        let mut budget = STEP_BUDGET;
        loop {
            let (next, moved) = match mem::replace(&mut self.phase, Phase::Closed) {
                Phase::Head => self.on_head(idx, sh),
                Phase::Exchange(ex) => {
                    let (next, moved) = exchange::on_step(self, ex, sh);
                    (self.enter(next, sh), moved)
                }
                Phase::Reply(r) => self.on_reply(r, sh),
                Phase::Tunnel(t) => tunnel::on_tunnel(self, t, idx, sh),
                Phase::Linger { until, discarded } => self.on_linger(until, discarded, sh),
                Phase::Closed => (Phase::Closed, false),
            };
            self.phase = next;
            moved_any |= moved;
            if matches!(self.phase, Phase::Closed) {
                self.out.chain.clear(&mut sh.io.pool);
                return Step::Close;
            }
            if !moved {
                break;
            }
            budget -= 1;
            if budget == 0 {
                sh.sched.rerun.push_back(self.token(idx));
                break;
            }
        }
        if matches!(self.phase, Phase::Head) && self.cin.is_empty() && self.cin.capacity() > 0 {
            // An idle connection holds no buffer.
            self.cin = Vec::new();
        }
        // A connection always lives under a deadline: also one that has not moved yet (a new
        // connection that sends nothing, an answer the client does not read).
        if moved_any || !self.deadline.is_set() {
            self.arm_deadline(idx, sh);
        }
        Step::Keep
    }

    /// Sets the deadline the current phase lives under, from now.
    fn arm_deadline(&mut self, idx: usize, sh: &mut Shared) {
        let limits = &sh.cfg.limits;
        let (at, due) = match &self.phase {
            // Waiting for blocks is bounded by POOL_WAIT from when the wait began.
            Phase::Head if self.pool_wait_until.is_some() => {
                (self.pool_wait_until.expect("checked"), Due::PoolWait)
            }
            Phase::Head if self.cin.is_empty() && self.exchanges > 0 => {
                (sh.clock.now + limits.keep_alive_timeout, Due::KeepAlive)
            }
            // A head must arrive within RequestReadTimeout's budget, and each part of it
            // within Timeout.
            Phase::Head => match limits.header_read {
                Some(t) => {
                    let budget = self.head_started + t.allowed(self.head_bytes);
                    (budget.min(sh.clock.now + limits.timeout), Due::Head)
                }
                None => (sh.clock.now + limits.timeout, Due::Head),
            },
            Phase::Reply(_) => (sh.clock.now + limits.timeout, Due::Reply),
            Phase::Tunnel(t) => (sh.clock.now + t.idle(), Due::TunnelIdle),
            Phase::Exchange(ex) => {
                let (at, due) = ex.deadline(limits, sh.clock.now);
                (at, Due::Exchange(due))
            }
            Phase::Linger { until, .. } => (*until, Due::Linger),
            Phase::Closed => return,
        };
        self.due = due;
        let token = self.token(idx).0;
        self.deadline.set(at, &mut sh.sched.timers, token);
    }

    /// The connection's deadline passed.
    pub fn on_timeout(&mut self, idx: usize, sh: &mut Shared) -> Step {
        if sh.obs.log.enabled(LogLevel::Debug) {
            sh.obs.log.log(
                LogLevel::Debug,
                Some(self.peer),
                format_args!("timeout ({:?}) in phase {}", self.due, self.phase.name()),
            );
        }
        self.phase = match (self.due, mem::replace(&mut self.phase, Phase::Closed)) {
            (Due::Head, Phase::Head)
                if self.tls.as_ref().is_some_and(ClientTls::is_handshaking) =>
            {
                sh.obs.metrics.tls_handshake_failures.incr();
                sh.obs.log.log(
                    LogLevel::Info,
                    Some(self.peer),
                    format_args!("TLS handshake timed out (RequestReadTimeout header=)"),
                );
                Phase::Closed
            }
            (Due::Head | Due::KeepAlive, Phase::Head) if self.cin.is_empty() => Phase::Closed,
            (Due::PoolWait, Phase::Head) => {
                self.pool_wait_until = None;
                if sh.io.pool.can_start() {
                    // Room came while no wake-up reached it: start now.
                    Phase::Head
                } else {
                    // Its request waited POOL_WAIT for blocks: answer it now, from the reserve.
                    match self.parse_head(sh) {
                        Ok(Some(head)) => {
                            sh.obs.metrics.requests.incr();
                            sh.obs.metrics.pool_refused.incr();
                            self.refuse(head, Failure::PoolExhausted, sh)
                        }
                        Ok(None) | Err(_) => Phase::Closed,
                    }
                }
            }
            (Due::Head, Phase::Head) => {
                let log = self.unparsed_log(sh);
                self.reply(Failure::RequestTimeout, Some(log), None, false, sh)
            }
            (Due::Exchange(due), Phase::Exchange(ex)) => {
                let next = exchange::on_deadline(self, ex, due, sh);
                self.enter(next, sh)
            }
            (Due::TunnelIdle, Phase::Tunnel(mut t)) => {
                tunnel::close(&mut t, sh);
                Phase::Closed
            }
            (Due::Reply, Phase::Reply(_)) | (Due::Linger, Phase::Linger { .. }) => Phase::Closed,
            (_, Phase::Closed) => Phase::Closed,
            (_, phase) => {
                // Armed for what the connection was doing before (every change re-arms, so
                // this is a safety net): the deadline of what it does now applies.
                self.phase = phase;
                self.arm_deadline(idx, sh);
                return Step::Keep;
            }
        };
        if matches!(self.phase, Phase::Closed) {
            return Step::Close;
        }
        self.drive(idx, sh)
    }

    /// Releases what the connection holds in the reactor: its backend connection (closed,
    /// since its exchange did not finish), its place in a wait queue, its blocks.
    pub fn close(mut self, idx: usize, sh: &mut Shared) {
        match mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Exchange(ex) => exchange::abandon(ex, (idx, self.gen), sh),
            Phase::Tunnel(mut t) => tunnel::close(&mut t, sh),
            Phase::Head | Phase::Reply(_) | Phase::Linger { .. } | Phase::Closed => {}
        }
        self.out.chain.clear(&mut sh.io.pool);
        if let Some(pipe) = self.out.pipe.take() {
            sh.io.pipes.give(pipe);
        }
        let _ = sh.io.registry.deregister(&mut self.client);
    }

    /// The pool is too short for this connection to read on: it waits for returned blocks
    /// (the reactor re-runs it then; no socket event would).
    pub fn starve(&mut self, idx: usize, sh: &mut Shared) {
        if !self.starved {
            self.starved = true;
            sh.sched.starved.push(self.token(idx));
            sh.obs.metrics.pool_exhausted.incr();
        }
    }

    /// Back to reading heads after an exchange: a pipelined head already in `cin` gets its
    /// `RequestReadTimeout` budget from now.
    pub fn next_head(&mut self, sh: &Shared) -> Phase {
        self.head_started = sh.clock.now;
        self.head_bytes = self.cin.len() as u64;
        Phase::Head
    }

    /// The pool does not let the parsed request start: it waits, at most POOL_WAIT from the
    /// first refusal, to be re-run when the pool lets requests start again.
    fn wait_for_pool(&mut self, idx: usize, sh: &mut Shared) {
        let until = *self.pool_wait_until.get_or_insert(sh.clock.now + POOL_WAIT);
        self.deadline
            .set(until, &mut sh.sched.timers, self.token(idx).0);
        self.due = Due::PoolWait;
        if !self.pool_queued {
            self.pool_queued = true;
            sh.sched.pool_waiters.push(self.token(idx));
            sh.obs.metrics.pool_exhausted.incr();
        }
    }

    fn parse_head(&mut self, sh: &Shared) -> Result<Option<RequestHead>, RequestError> {
        let limits = crate::http1::request::Limits {
            request_line: sh.cfg.limits.request_line,
            field_size: sh.cfg.limits.request_field_size,
            fields: sh.cfg.limits.request_fields,
            allow_http09: sh.cfg.limits.allow_http09,
        };
        parse_request_incremental(&self.cin, &limits, &mut self.progress)
    }

    /// Whether the connection is an idle keep-alive one: between exchanges, holding no byte of
    /// a request. A draining server closes these at once; a fresh connection is given the
    /// chance to send its first request (it is answered with `Connection: close`).
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Head)
            && self.exchanges > 0
            && self.cin.is_empty()
            && !self.owes()
    }

    fn on_head(&mut self, idx: usize, sh: &mut Shared) -> (Phase, bool) {
        if self.tls.as_ref().is_some_and(ClientTls::wants_write) {
            // Handshake messages or session tickets the socket did not take at once.
            match self.flush(sh) {
                Ok(true) => return (Phase::Head, true),
                Ok(false) => {}
                Err(_) => return (Phase::Closed, true),
            }
        }
        if !self.cin.is_empty() {
            match self.parse_head(sh) {
                Ok(Some(head)) => {
                    let is_status = sh.cfg.status.as_ref().is_some_and(|status| {
                        super::status::is_status_request(status, &head, &self.cin)
                    });
                    if !sh.io.pool.can_start() && !is_status {
                        // Blocks are short: the request waits for some to be returned, for
                        // at most POOL_WAIT (then it is answered 503).
                        self.wait_for_pool(idx, sh);
                        return (Phase::Head, false);
                    }
                    self.pool_wait_until = None;
                    sh.obs.metrics.requests.incr();
                    return (self.start(head, is_status, sh), true);
                }
                Ok(None) => {}
                Err(e) => {
                    sh.obs.metrics.requests.incr();
                    let log = self.unparsed_log(sh);
                    return (
                        self.reply(Failure::Request(e), Some(log), None, false, sh),
                        true,
                    );
                }
            }
        }
        if sh.draining && self.cin.is_empty() && self.exchanges > 0 {
            return (Phase::Closed, true);
        }
        if !self.ready.readable {
            return (Phase::Head, false);
        }
        match self.read_client(sh) {
            Ok(0) => {
                if !self.cin.is_empty() {
                    sh.obs.log.log(
                        LogLevel::Info,
                        Some(self.peer),
                        format_args!("client closed the connection mid-head"),
                    );
                }
                (Phase::Closed, true)
            }
            Ok(n) => {
                sh.obs.metrics.bytes_from_clients.add(n as u64);
                if self.cin.len() == n && self.exchanges > 0 {
                    // The first byte of the next request: its head's time starts now.
                    self.head_started = sh.clock.now;
                    self.head_bytes = 0;
                }
                self.head_bytes += n as u64;
                (Phase::Head, true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.ready.readable = false;
                (Phase::Head, false)
            }
            Err(_) => (Phase::Closed, true),
        }
    }

    /// Whether the connection may carry another exchange after this request.
    pub fn may_keep_alive(&self, head: &RequestHead, sh: &Shared) -> bool {
        let limits = &sh.cfg.limits;
        limits.keep_alive
            && head.wants_keep_alive()
            && !sh.draining
            && (limits.max_keep_alive_requests == 0
                || self.exchanges + 1 < limits.max_keep_alive_requests)
    }

    fn on_reply(&mut self, r: Reply, sh: &mut Shared) -> (Phase, bool) {
        match self.flush(sh) {
            Err(_) => (Phase::Closed, true),
            Ok(moved) if self.owes() => (Phase::Reply(r), moved),
            Ok(_) => {
                // A cached body sent from its file: done with it.
                self.out.spill = None;
                self.exchanges += 1;
                match r.after {
                    After::KeepAlive => (self.next_head(sh), true),
                    After::Close => (self.start_linger(sh), true),
                }
            }
        }
    }

    /// Whether bytes are owed to the client (in blocks, or spilled).
    pub fn owes(&self) -> bool {
        self.out.is_owing() || self.tls.as_ref().is_some_and(ClientTls::wants_write)
    }

    /// Sends FIN and reads until the client closes, so that it receives our last response
    /// instead of a reset triggered by its unread bytes.
    pub fn start_linger(&mut self, sh: &mut Shared) -> Phase {
        if self.shut_write().is_err() {
            return Phase::Closed;
        }
        self.cin = Vec::new();
        sh.obs.metrics.lingered.incr();
        Phase::Linger {
            until: sh.clock.now + LINGER_TIME,
            discarded: 0,
        }
    }

    fn on_linger(&mut self, until: Instant, discarded: usize, sh: &mut Shared) -> (Phase, bool) {
        if !self.ready.readable {
            return (Phase::Linger { until, discarded }, false);
        }
        match self.client.read(&mut sh.io.landing) {
            Ok(0) => {
                if discarded > 0 {
                    // Closing with those bytes unread would have reset the connection.
                    sh.obs.metrics.linger_resets_avoided.incr();
                }
                (Phase::Closed, true)
            }
            Ok(n) if discarded + n >= LINGER_BYTES => {
                sh.obs.metrics.linger_bytes_discarded.add(n as u64);
                (Phase::Closed, true)
            }
            Ok(n) => {
                sh.obs.metrics.linger_bytes_discarded.add(n as u64);
                self.ready.note_read(n, sh.io.landing.len());
                let discarded = discarded + n;
                (Phase::Linger { until, discarded }, true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.ready.readable = false;
                (Phase::Linger { until, discarded }, false)
            }
            Err(_) => (Phase::Closed, true),
        }
    }

    /// The log record of a head that could not be parsed: its first line, capped.
    fn unparsed_log(&self, sh: &Shared) -> ReqLog {
        let cap = sh.cfg.limits.request_line.min(self.cin.len());
        let end = memchr::memchr(b'\n', &self.cin[..cap]).map_or(cap, |i| i + 1);
        ReqLog {
            head: self.cin[..end].to_vec(),
            parsed: None,
            started: sh.clock.now,
            wall: sh.clock.wall,
            cache: None,
        }
    }
}
