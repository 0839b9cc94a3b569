//! One proxied exchange: a parsed request admitted, the backend connection it runs on, the
//! request flow (client → backend) and the response flow (backend → client), the release of
//! the backend the moment the response's last byte is in, and the timeline it is logged with.
//!
//! The exchange talks to its client side through [`Client`] and tells it what comes next with
//! [`Next`]; it never names the connection that carries it. Its parts:
//!
//! | file | what it owns |
//! |---|---|
//! | `admit` | from a parsed request to a plan (route, backend, forward target) or a refusal |
//! | `link` | the backend connection: acquire, connect, retry, release, and the waits for one |
//! | `request` | the request flow: holding the body, pumping it, spilling it, sending it |
//! | `response` | the response flow: head, rewrite, relay, splice |
//! | `cache` | the cache's part: lookup, collapse, stale, revalidate, store |
//! | `stage` | where the exchange stands, what it waits for, its deadline and what that means |
//! | `timeline` | the request's log record, the exchange's times and its access-log fields |
//!
//! Errors are sorted by when they happen: before the response head went to the client they
//! become an answer of ours (`Failure`, one mapping in `reply`); after it, the client
//! connection is closed without completing the response, so a broken response never looks
//! complete (a chunked response is not terminated, a length is not reached).

mod admit;
mod cache;
mod client;
mod link;
mod request;
mod response;
mod stage;
mod timeline;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::backend::Ask;
use super::cached;
use super::reply::{After, Failure, Source};
use super::tunnel::Tunnel;
use super::Shared;
use crate::buf::{Chain, Spill};
use crate::config::{BackendId, Config, LogLevel, Vhost, ViaSetting};
use crate::http1::request::RequestHead;
use crate::http1::response::ResponseHead;
use crate::http1::BodyReader;
use crate::http1::{HeadProgress, Method, Version};
use crate::proxy::forward::ViaMode;
use crate::proxy::reverse::{self, ClientView};
use admit::Forward;
use cache::{after_lock, poll_remote, release_lock, serve_stale, LockState};
use link::{acquire, drop_backend, finish_connect, leave_queue, mark_down, wake};
use request::{hold_request, pump_request, send_to_backend};
use response::read_backend;
use stage::{Stage, Timeouts, Wait};
use timeline::record_timeline;

pub use admit::{is_strict, start};
pub use client::{Client, Outbox};
pub use link::on_resolved;
pub use response::{MAX_RESPONSE_FIELDS, MAX_RESPONSE_HEAD};
pub use stage::Due;
pub use timeline::{Ending, Logged, ReqLog};

/// What the client side does after a step of the exchange.
#[derive(Debug)]
pub enum Next {
    /// The exchange goes on (its stage says whether it waits for something).
    Continue(Box<Exchange>),
    /// Answer with an answer of ours instead; `close` when the request's body was not read.
    Refuse {
        failure: Failure,
        log: ReqLog,
        vhost: usize,
        close: bool,
    },
    /// An answer of ours already encoded (a cache hit, PURGE): queue it and log it.
    Ours(Ours),
    /// An answer is queued in the outbox (a stale entry standing in for a failed backend):
    /// log it as the exchange's, write it, then `after`.
    Answered { ex: Box<Exchange>, after: After },
    /// The exchange is complete: log it, then the next request or a lingering close.
    Done { ex: Box<Exchange>, keep_alive: bool },
    /// The backend switched protocols: log the exchange, then copy bytes both ways.
    Tunnel {
        ex: Box<Exchange>,
        tunnel: Box<Tunnel>,
    },
    /// Close the connection now: the response was cut off, or cannot be given.
    Close,
}

/// An answer of ours, encoded, for the client side to queue and log.
#[derive(Debug)]
pub struct Ours {
    pub head: Vec<u8>,
    pub status: u16,
    /// Body bytes, for the log.
    pub body_len: u64,
    /// The body, when it follows from a file (a cached entry's).
    pub body: Option<Spill>,
    pub log: ReqLog,
    pub vhost: Option<usize>,
    pub after: After,
}

#[derive(Debug)]
enum Resp {
    /// Waiting for (the rest of) a response head.
    Head,
    /// The body arrives, read by `reader`: passed through as it came (validated), or, with
    /// `dechunk`, its data alone (a chunked body for an HTTP/1.0 client, which is sent the data
    /// until close).
    Body { reader: BodyReader, dechunk: bool },
    /// The last byte is in; `reusable` says whether the backend connection may be pooled.
    Done { reusable: bool },
    /// The backend switched protocols (`101`): the exchange becomes a tunnel.
    Upgraded,
}

/// Why `on_proxy` stops short.
#[derive(Debug)]
enum Break {
    /// Answer with an error of ours (or abort, if the response head already went out).
    Fail(Failure),
    /// Close the client connection without completing the response.
    Abort(&'static str),
    /// The reused backend connection failed before answering: replay on a fresh one.
    Retry(&'static str),
}

/// A proxied exchange.
#[derive(Debug)]
pub struct Exchange {
    /// Where it stands; see `stage`.
    stage: Stage,
    cfg: Arc<Config>,
    vhost: usize,
    backend_id: BackendId,
    /// The backend connection (slab index); `None` before one is had and after release.
    backend: Option<usize>,
    backend_addr: Option<SocketAddr>,
    /// Whether the connection came from the keep-alive pool.
    reused: bool,
    /// The encoded request head, kept while a replay is allowed: an idempotent request
    /// without body on a reused connection, not yet replayed.
    replay: Option<Vec<u8>>,
    method: Method,
    client_version: Version,
    /// Whether the client connection may carry another exchange after this one.
    keep_alive: bool,
    /// The request body as it still flows from the client to the backend (done from the start
    /// for a request without one, and made done when the rest goes nowhere).
    req_body: BodyReader,
    bout: Chain,
    bin: Vec<u8>,
    /// How far the response head at the start of `bin` has been scanned.
    bin_progress: HeadProgress,
    interim: u32,
    resp: Resp,
    resp_head: Option<(Vec<u8>, ResponseHead)>,
    /// Whether the backend allows another exchange on its connection (its response's
    /// `Connection` and version, and no stray bytes after a bodiless response).
    backend_keeps: bool,
    /// Whether the response head was queued for the client (errors after it abort).
    head_sent: bool,
    status: u16,
    body_bytes: u64,
    log: ReqLog,
    t_connect: Instant,
    t_connected: Option<Instant>,
    t_req: Option<Instant>,
    t_first: Option<Instant>,
    t_last: Option<Instant>,
    t_release: Option<Instant>,
    /// Most response bytes held for the client before the backend is no longer read:
    /// `ProxyResponseBufferSize`, or one block when the response streams.
    resp_limit: usize,
    /// The response may spill to `ProxyTempPath` past `resp_limit`.
    spill_ok: bool,
    /// The response has spilled (counted once however many files it took).
    spilled: bool,
    /// Request-body bytes taken from the client so far.
    body_received: u64,
    /// The client asked to switch protocols (`Connection: upgrade` with `Upgrade`).
    upgrade: bool,
    /// The request body past `ProxyRequestBufferSize`, held on disk; sent after `bout`.
    bspill: Option<Spill>,
    /// The route's slot in the metrics.
    route_slot: usize,
    /// Most bytes of this exchange's response held in blocks at once.
    peak: usize,
    /// Bytes not yet written to the client when the backend was released.
    held_at_release: usize,
    /// The client socket's kernel send queue at the release, read when a log wants it.
    send_queue: Option<u64>,
    /// Where a forward-proxied request goes (`ProxyRequests On`); `None` for routed ones.
    forward: Option<Forward>,
    /// A cacheable GET's key: its response may be stored under it.
    cache_key: Option<Vec<u8>>,
    /// The entry being filled from the response.
    fill: Option<cached::Fill>,
    /// An unsafe method's target's key: a non-error response removes its entry.
    invalidate: Option<Vec<u8>>,
    /// `Cache-Status` for the client, on a cacheable request that went to the backend.
    cache_status: Vec<u8>,
    /// The request validates a stale entry: a `304` is answered from it.
    revalidating: bool,
    /// `CacheLock` this exchange holds: it fetches its URL for the others (or, waiting on
    /// another reactor's lock, holds this reactor's for the waiters here).
    lock: LockState,
    /// The stale entry, held open since the lookup: a `304` to its validation is answered
    /// from it, and it may answer if the backend fails (`stale-if-error`).
    stale: Option<crate::cache::store::Entry>,
    /// A cache miss not counted yet: counted when the exchange first goes for a backend
    /// connection.
    miss: bool,
}

impl Exchange {
    /// The backend for logs: its name, or a forward-proxied request's `host:port`.
    fn backend_name(&self) -> String {
        match &self.forward {
            Some(f) if f.host.contains(':') => format!("[{}]:{}", f.host, f.port),
            Some(f) => format!("{}:{}", f.host, f.port),
            None => self.cfg.backends[self.backend_id].name.clone(),
        }
    }

    /// What a backend connection is asked for, on behalf of client connection `owner`: the
    /// addresses are a forward-proxied request's own, or the backend's.
    fn ask(&self, owner: usize) -> Ask<'_> {
        let addrs = match &self.forward {
            Some(f) => &f.addrs[..],
            None => &self.cfg.backends[self.backend_id].addrs[..],
        };
        Ask {
            cfg: &self.cfg,
            backend: self.backend_id,
            addrs,
            owner,
        }
    }

    /// The deadline the exchange lives under from `now` (its last progress), and what its
    /// passing means.
    pub fn deadline(&self, limits: &crate::config::Limits, now: Instant) -> (Instant, Due) {
        let params = &self.cfg.backends[self.backend_id].params;
        let between = now + limits.timeout;
        let body_until = match limits.body_read {
            Some(t) => (self.log.started + t.allowed(self.body_received)).min(between),
            None => between,
        };
        let timeouts = Timeouts {
            client: limits.timeout,
            backend: params.timeout,
            connect: params.connect_timeout,
            lock_max_age: self
                .cfg
                .cache
                .as_ref()
                .and_then(|c| c.lock_max_age)
                .unwrap_or_default(),
            body_until,
        };
        let awaiting_head = matches!(self.resp, Resp::Head);
        self.stage.deadline(awaiting_head, &timeouts, now)
    }

    /// The invariants the stage carries (see `stage::Stage`), checked in debug builds after
    /// each step that goes on.
    fn check_invariants(&self) {
        debug_assert_eq!(
            self.stage.has_backend(),
            self.backend.is_some(),
            "stage {} and backend {:?}",
            self.stage.name(),
            self.backend
        );
    }

    /// What the exchange is doing, for logs.
    pub fn stage_name(&self) -> &'static str {
        self.stage.name()
    }

    /// Whether the response head went to the client (from then on it can only be cut off).
    pub fn response_started(&self) -> bool {
        self.head_sent
    }

    /// Whether request bytes wait to be written to the backend (in blocks or on disk).
    fn request_unsent(&self) -> bool {
        !self.bout.is_empty() || self.bspill.as_ref().is_some_and(|s| s.pending() > 0)
    }

    /// The `Host` (or absolute-form authority) the client sent.
    fn host(&self) -> Option<&[u8]> {
        self.request().authority().map(|s| s.of(&self.log.head))
    }

    fn request(&self) -> &RequestHead {
        self.log
            .parsed
            .as_ref()
            .expect("an exchange has a parsed request")
    }
}

fn via_mode(setting: ViaSetting) -> ViaMode {
    match setting {
        ViaSetting::Off => ViaMode::Off,
        ViaSetting::On => ViaMode::On,
        ViaSetting::Full => ViaMode::Full,
        ViaSetting::Block => ViaMode::Block,
    }
}

/// Answers a request that is not proxied; the connection closes if the request's body was
/// not read.
fn answer(failure: Failure, log: ReqLog, vhost: usize, body_unread: bool) -> Next {
    Next::Refuse {
        failure,
        log,
        vhost,
        close: body_unread,
    }
}

/// Ends the exchange with an answer of ours (or an abort, if the response already started).
fn fail(
    client: &mut impl Client,
    mut ex: Box<Exchange>,
    failure: Failure,
    sh: &mut Shared,
) -> Next {
    drop_backend(&mut ex, sh);
    release_lock(&mut ex, sh);
    let stand_in = failure.source() != Source::Client && !ex.head_sent;
    if stand_in && serve_stale(client, &mut ex, sh) {
        ex.bout.clear(&mut sh.io.pool);
        let after = After::keeping(ex.keep_alive);
        sh.obs.metrics.count_status(ex.status);
        return Next::Answered { ex, after };
    }
    if ex.head_sent {
        sh.obs.log.log(
            LogLevel::Error,
            Some(client.peer()),
            format_args!("aborting response: {}", failure.reason()),
        );
        cut_off(client, sh);
        ex.bout.clear(&mut sh.io.pool);
        return Next::Close;
    }
    let body_unread = !ex.req_body.is_done();
    let vhost = ex.vhost;
    let log = ex.log.take(sh);
    ex.bout.clear(&mut sh.io.pool);
    answer(failure, log, vhost, body_unread)
}

/// The client connection went away or the reactor is closing it: give back what the exchange
/// holds.
pub fn abandon(mut ex: Box<Exchange>, me: (usize, u32), sh: &mut Shared) {
    // Only an exchange waiting for a backend connection has a place in the backend's queue
    // (one waiting for the cache lock or for the resolver has none to give up).
    if ex.stage == Stage::Waiting(Wait::Queue) {
        leave_queue(&ex, me, sh);
    }
    drop_backend(&mut ex, sh);
    release_lock(&mut ex, sh);
    ex.bout.clear(&mut sh.io.pool);
}

/// The exchange's deadline passed, meaning `due` (as it was armed: the stage it was armed in
/// is still the exchange's, since every change of stage is progress and re-arms it).
pub fn on_deadline(
    client: &mut impl Client,
    mut ex: Box<Exchange>,
    due: Due,
    sh: &mut Shared,
) -> Next {
    match due {
        // The client stalled mid-body while no backend was involved yet.
        Due::BodyRead => fail(client, ex, Failure::RequestTimeout, sh),
        Due::Queue => {
            leave_queue(&ex, client.id(), sh);
            fail(client, ex, Failure::BackendBusy, sh)
        }
        Due::Resolver => {
            sh.obs.log.log(
                LogLevel::Info,
                Some(client.peer()),
                format_args!("resolving {} timed out", ex.backend_name()),
            );
            fail(client, ex, Failure::ConnectTimeout, sh)
        }
        // Waited CacheLockMaxAge for another exchange's fetch: this one fetches itself.
        Due::CacheLock => acquire(client, ex, false, sh),
        Due::LockPoll => poll_remote(client, ex, sh),
        Due::Connect => {
            mark_down(&ex, sh);
            fail(client, ex, Failure::ConnectTimeout, sh)
        }
        Due::ResponseHead => fail(client, ex, Failure::ResponseTimeout, sh),
        Due::Backend | Due::Client => {
            sh.obs.log.log(
                LogLevel::Info,
                Some(client.peer()),
                format_args!("exchange timed out mid-response ({}); closing", due.name()),
            );
            drop_backend(&mut ex, sh);
            release_lock(&mut ex, sh);
            ex.bout.clear(&mut sh.io.pool);
            cut_off(client, sh);
            Next::Close
        }
    }
}

/// One step of the exchange, as its stage says: wait on, hold the request body, ask for a
/// backend connection, or a round of the flows (connect completion, request bytes to the
/// backend, response bytes to the client, release, completion).
pub fn on_step(client: &mut impl Client, ex: Box<Exchange>, sh: &mut Shared) -> (Next, bool) {
    let step = step(client, ex, sh);
    if let (Next::Continue(ex), _) = &step {
        ex.check_invariants();
    }
    step
}

fn step(client: &mut impl Client, mut ex: Box<Exchange>, sh: &mut Shared) -> (Next, bool) {
    match &ex.stage {
        Stage::Waiting(_) => return on_wait(client, ex, sh),
        Stage::Ready => return (acquire(client, ex, false, sh), true),
        Stage::Holding => {
            return match hold_request(client, &mut ex, sh) {
                Ok(false) => (Next::Continue(ex), false),
                Ok(true) if ex.stage == Stage::Holding => (Next::Continue(ex), true),
                Ok(true) => (acquire(client, ex, false, sh), true),
                Err(Break::Fail(failure)) => (fail(client, ex, failure, sh), true),
                Err(Break::Abort(why) | Break::Retry(why)) => (abort(client, ex, why, sh), true),
            };
        }
        Stage::Connecting | Stage::Exchanging | Stage::Released => {}
    }
    match proxy_round(client, &mut ex, sh) {
        Ok(moved) => finish_if_done(client, ex, moved, sh),
        Err(Break::Fail(failure)) => (fail(client, ex, failure, sh), true),
        Err(Break::Abort(why)) => (abort(client, ex, why, sh), true),
        Err(Break::Retry(_)) => {
            drop_backend(&mut ex, sh);
            let head = ex.replay.take().expect("retry only with a replayable head");
            ex.bout.clear(&mut sh.io.pool);
            if ex.bout.push_slice(&mut sh.io.pool, &head).is_err() {
                ex.bout.clear(&mut sh.io.pool);
                return (fail(client, ex, Failure::PoolExhausted, sh), true);
            }
            ex.bin.clear();
            ex.bin_progress = HeadProgress::default();
            ex.t_req = None;
            ex.t_first = None;
            sh.obs.log.log(
                LogLevel::Info,
                Some(client.peer()),
                format_args!(
                    "pooled backend connection failed before answering; replaying on a new one"
                ),
            );
            (acquire(client, ex, true, sh), true)
        }
    }
}

/// A waiting exchange runs again: on when what it waits for is still not there.
fn on_wait(client: &mut impl Client, ex: Box<Exchange>, sh: &mut Shared) -> (Next, bool) {
    match &ex.stage {
        Stage::Waiting(Wait::CacheLock(key)) if sh.cache.locks.is_held(key) => {
            // Another exchange took the lock before this one ran: wait for that one.
            sh.cache.locks.wait(key, client.token());
            (Next::Continue(ex), false)
        }
        Stage::Waiting(Wait::CacheLock(_)) => (after_lock(client, ex, sh), true),
        Stage::Waiting(Wait::Queue) if sh.backends.is_waiting(ex.backend_id, client.id()) => {
            (Next::Continue(ex), false)
        }
        // Answered by the resolver (which makes the exchange ready), polled on the timer.
        Stage::Waiting(Wait::Resolver(_) | Wait::RemoteLock(_)) => (Next::Continue(ex), false),
        _ => (acquire(client, ex, false, sh), true),
    }
}

/// Closes the client connection without completing the response.
fn abort(client: &mut impl Client, mut ex: Box<Exchange>, why: &str, sh: &mut Shared) -> Next {
    sh.obs.log.log(
        LogLevel::Info,
        Some(client.peer()),
        format_args!("closing client connection: {why}"),
    );
    drop_backend(&mut ex, sh);
    release_lock(&mut ex, sh);
    ex.bout.clear(&mut sh.io.pool);
    if ex.head_sent {
        cut_off(client, sh);
    }
    Next::Close
}

/// A response that started cannot be completed: the client connection will be reset, not
/// closed, so that not even a response delimited by the close looks complete.
fn cut_off(client: &mut impl Client, sh: &mut Shared) {
    sh.obs.metrics.aborted.incr();
    client.cut_off(sh);
}

fn proxy_round(
    client: &mut impl Client,
    ex: &mut Exchange,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let mut moved = false;
    if ex.stage == Stage::Connecting {
        match finish_connect(client, ex, sh)? {
            true => moved = true,
            false => return Ok(false),
        }
    }
    let tunnels = ex.forward.as_ref().is_some_and(|f| f.tunnel);
    if tunnels && ex.stage == Stage::Exchanging && matches!(ex.resp, Resp::Head) {
        // CONNECT: the connection is open, and so is the tunnel.
        client
            .out()
            .chain
            .push_slice(
                &mut sh.io.pool,
                b"HTTP/1.1 200 Connection Established\r\n\r\n",
            )
            .map_err(|_| Break::Fail(Failure::PoolExhausted))?;
        ex.status = 200;
        ex.head_sent = true;
        ex.resp = Resp::Upgraded;
        sh.obs.metrics.tunnels.incr();
        return Ok(true);
    }
    let handshaking = ex
        .backend
        .is_some_and(|b| sh.backends.conns[b].stream.is_handshaking());
    moved |= pump_request(client, ex, sh)?;
    moved |= send_to_backend(ex, sh)?;
    moved |= read_backend(client, ex, sh)?;
    if matches!(ex.resp, Resp::Done { .. }) {
        // The entry goes into place before the response's last bytes go to the client: a
        // client that has the whole response finds it stored.
        if let Some(fill) = ex.fill.take() {
            fill.finish(&sh.obs.metrics, &sh.cache.collector);
        }
        release_lock(ex, sh);
    }
    // A TLS handshake finished by a read: the request may go now, with no event to say so.
    moved |= handshaking
        && ex
            .backend
            .is_some_and(|b| !sh.backends.conns[b].stream.is_handshaking());
    moved |= client
        .flush(sh)
        .map_err(|_| Break::Abort("client write failed"))?;
    Ok(moved)
}

/// `ProxyPassReverse` as this request's client sees us: `f` gets the rewrite of one header
/// value into the scheme and the host the client used (one client view for every answer:
/// relayed, cached, refreshed, stale).
fn with_rewrite<R>(
    client: &impl Client,
    vhost: &Vhost,
    host: Option<&[u8]>,
    f: impl FnOnce(&dyn Fn(&[u8]) -> Option<Vec<u8>>) -> R,
) -> R {
    let fallback = fallback_name(client, vhost, host.is_some());
    let view = ClientView {
        scheme: client.scheme(),
        host,
        fallback: &fallback,
    };
    f(&|value| reverse::rewrite(&vhost.reverse, value, &view))
}

/// Who we are in `Via` (`ProxyVia On|Full`): the server's name and the local port.
fn via_by(vhost: &Vhost, local: SocketAddr) -> String {
    match vhost.via {
        ViaSetting::Off | ViaSetting::Block => String::new(),
        ViaSetting::On | ViaSetting::Full => format!("{}:{}", vhost.server_name, local.port()),
    }
}

/// The name `ProxyPassReverse` puts in rewritten URIs for a request without `Host`: the
/// server's, with the port unless it is the scheme's; empty when the request has a `Host`.
fn fallback_name(client: &impl Client, vhost: &Vhost, has_host: bool) -> String {
    if has_host {
        String::new()
    } else if client.local().port() == client.scheme().default_port() {
        vhost.server_name.clone()
    } else {
        format!("{}:{}", vhost.server_name, client.local().port())
    }
}

/// Releases the backend once the response is in, and ends the exchange once the client has
/// every byte.
fn finish_if_done(
    client: &mut impl Client,
    mut ex: Box<Exchange>,
    moved: bool,
    sh: &mut Shared,
) -> (Next, bool) {
    if matches!(ex.resp, Resp::Upgraded) {
        return (into_tunnel(ex, sh), true);
    }
    let Resp::Done { reusable } = ex.resp else {
        return (Next::Continue(ex), moved);
    };
    let mut moved = moved;
    ex.t_last.get_or_insert(sh.clock.now);
    ex.stage = Stage::Released;
    if let Some(b) = ex.backend.take() {
        let request_sent = ex.req_body.is_done() && !ex.request_unsent();
        if !request_sent {
            // The backend answered before taking the whole request: the rest goes nowhere,
            // so none of it is read any more, and the connection closes after the answer.
            ex.keep_alive = false;
            ex.bout.clear(&mut sh.io.pool);
            ex.bspill = None;
            ex.req_body = BodyReader::finished();
        }
        ex.t_release = Some(sh.clock.now);
        if sh.obs.access.wants_send_queue(ex.vhost) {
            ex.send_queue = client.send_queue();
        }
        ex.held_at_release = client.outbox().held();
        // A TLS connection's reads never proved its socket empty: it is pooled only when a
        // last read finds nothing after the response.
        let quiet = sh.backends.conns[b].stream.is_quiet();
        let waiter = sh.backends.release(
            b,
            reusable && request_sent && ex.backend_keeps && quiet,
            &ex.cfg,
            sh.clock.now,
            &mut sh.sched.timers,
            &sh.io.registry,
        );
        wake(waiter, sh);
        moved = true;
    }
    if client.owes() {
        return (Next::Continue(ex), moved);
    }
    release_lock(&mut ex, sh);
    client.out().spill = None;
    if let Some(pipe) = client.out().pipe.take() {
        sh.io.pipes.give(pipe);
    }
    record_timeline(&ex, sh);
    let keep_alive = ex.keep_alive && ex.req_body.is_done();
    (Next::Done { ex, keep_alive }, true)
}

/// The exchange switched protocols: it is logged as a `101`, and its backend connection goes
/// on as one end of a tunnel.
fn into_tunnel(mut ex: Box<Exchange>, sh: &mut Shared) -> Next {
    let backend = ex
        .backend
        .take()
        .expect("a switched exchange has its backend");
    ex.bout.clear(&mut sh.io.pool);
    sh.obs.metrics.count_status(ex.status);
    let idle = ex.cfg.backends[ex.backend_id].params.timeout;
    let tunnel = Box::new(Tunnel::new(backend, idle));
    Next::Tunnel { ex, tunnel }
}
