//! One proxied exchange: routing a parsed request, the backend connection it runs on, the
//! request flow (client → backend) and the response flow (backend → client), the release of
//! the backend the moment the response's last byte is in, and the timeline it is logged with.
//!
//! Errors are sorted by when they happen: before the response head went to the client they
//! become an answer of ours (`Failure`, one mapping in `reply`); after it, the client
//! connection is closed without completing the response, so a broken response never looks
//! complete (a chunked response is not terminated, a length is not reached).

use std::io::{self, Read};
use std::mem;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backend::{connect_result, ConnectResult, Link, Unavailable};
use super::cached::{self, Lookup};
use super::conn::{read_some, Conn, Phase, ReqLog};
use super::refresh;
use super::reply::{After, Failure};
use super::token::{Kind, Token};
use super::tunnel::Tunnel;
use super::{Ready, Shared};
use crate::buf::{Chain, Exhausted, Spill, MAX_READ_BLOCKS};
use crate::cache::policy;
use crate::cache::store::FileLock;
use crate::config::{BackendId, Config, LogLevel, SpliceMode, ViaSetting};
use crate::http1::chunked::ChunkedDecoder;
use crate::http1::request::{RequestBody, RequestHead, TargetForm};
use crate::http1::response::{
    parse_response_incremental, response_body, ResponseBody, ResponseHead,
};
use crate::http1::{HeadProgress, Method, Version};
use crate::log::format::BackendFields;
use crate::proxy::forward::{
    encode_backend_request, encode_client_response, BackendRequest, ClientFraming, ClientResponse,
    Forwarded, ViaMode,
};
use crate::proxy::path;
use crate::proxy::reverse::{self, ClientView};
use crate::proxy::route::{self, Decision};

/// Most client reads one `pump_request` call makes (STYLE rule 8: every loop a peer drives
/// has a budget); the connection's step budget then re-queues it.
const PUMP_READS: usize = 16;

/// Most request-body bytes queued for a backend that streams them (`ProxyRequestBuffering Off`,
/// or past `ProxyRequestBufferSize`) before the client is no longer read.
const REQUEST_STREAM_BUFFER: usize = 256 * 1024;

/// Largest backend response head; a larger one is a 502.
pub(super) const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Most header fields in a backend response head; more is a 502.
pub(super) const MAX_RESPONSE_FIELDS: usize = 256;

/// Interim (1xx) responses accepted before the final one; more is a 502.
const MAX_INTERIM_RESPONSES: u32 = 16;

/// How the request body still flows from the client to the backend.
#[derive(Debug)]
enum ReqBody {
    Done,
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// How the response body arrives from the backend.
#[derive(Debug)]
enum RespBody {
    Length(u64),
    /// Validated and passed through as it is.
    Chunked(ChunkedDecoder),
    /// Decoded for an HTTP/1.0 client, which is sent the data until close.
    Dechunk(ChunkedDecoder),
    UntilClose,
}

#[derive(Debug)]
enum Resp {
    /// Waiting for (the rest of) a response head.
    Head,
    Body(RespBody),
    /// The last byte is in; `reusable` says whether the backend connection may be pooled.
    Done {
        reusable: bool,
    },
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
    req_body: ReqBody,
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
    /// The request body is being read whole before a backend is connected.
    holding: bool,
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
    /// `CacheLock`: this exchange fetches its URL for the others, or waits for one that does.
    lock: LockState,
    /// The stale entry, held open since the lookup: a `304` to its validation is answered
    /// from it, and it may answer if the backend fails (`stale-if-error`).
    stale: Option<crate::cache::store::Entry>,
    /// A cache miss not counted yet: counted when the exchange first goes for a backend
    /// connection.
    miss: bool,
}

/// Where an exchange stands with `CacheLock`.
#[derive(Debug, Default)]
enum LockState {
    #[default]
    None,
    /// It fetches the URL (this key) for the cache, as this owner; others wait for it: in this
    /// reactor on its lock, in other reactors and processes on the lock file (when it got it).
    Held(Vec<u8>, u64, Option<FileLock>),
    /// Another exchange of this reactor fetches it (this key): this one waits, then tries the
    /// cache again.
    Waiting(Vec<u8>),
    /// Another reactor or process fetches it (its lock file is there): this exchange holds
    /// this reactor's lock (as this owner) for the waiters here, and polls the file every
    /// [`LOCK_POLL`] until it goes or `CacheLockMaxAge` has passed since the time given.
    Remote(Vec<u8>, u64, Instant),
}

/// How often a lock held in another reactor or process is looked at: about the time a small
/// fetch takes, so a collapsed request waits little longer than the fetch itself.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// The target of a forward-proxied request: an absolute-form URL's host, or CONNECT's.
#[derive(Debug)]
struct Forward {
    host: String,
    port: u16,
    /// Its addresses: at once for an IP address, else once the resolver answers.
    addrs: Vec<SocketAddr>,
    resolve: Resolve,
    /// The number of the question put to the resolver for it.
    ask: u64,
    /// CONNECT: the connection becomes a tunnel once connected.
    tunnel: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Resolve {
    /// Not asked yet (or an IP address, with nothing to ask).
    Unasked,
    Asked,
    /// The answer came; no addresses means the name did not resolve.
    Answered,
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

    /// The addresses a new connection is tried on: a forward-proxied request's own, or `None`
    /// for the backend's.
    fn forward_addrs(&self) -> Option<&[SocketAddr]> {
        self.forward.as_ref().map(|f| &f.addrs[..])
    }

    /// How long the exchange may go without progress in its current state, once a backend is
    /// involved (a held body lives under [`Exchange::hold_deadline`]).
    pub fn timeout(&self, client_timeout: Duration) -> Duration {
        match self.lock {
            LockState::Waiting(_) => {
                let cache = self.cfg.cache.as_ref();
                return cache.and_then(|c| c.lock_max_age).unwrap_or_default();
            }
            LockState::Remote(..) => return LOCK_POLL,
            LockState::None | LockState::Held(..) => {}
        }
        let params = &self.cfg.backends[self.backend_id].params;
        match (&self.resp, self.backend_link_connecting()) {
            (_, true) => params.connect_timeout,
            (Resp::Done { .. } | Resp::Upgraded, false) => client_timeout,
            (Resp::Head | Resp::Body(_), false) => params.timeout,
        }
    }

    /// Whether the request body is being held before a backend is asked.
    pub fn holding(&self) -> bool {
        self.holding
    }

    /// While the body is held: the deadline `RequestReadTimeout body=` gives it (each part
    /// also within `Timeout`).
    pub fn hold_deadline(&self, limits: &crate::config::Limits, now: Instant) -> Instant {
        let between = now + limits.timeout;
        match limits.body_read {
            Some(t) => (self.log.started + t.allowed(self.body_received)).min(between),
            None => between,
        }
    }

    /// Whether the response head went to the client (from then on it can only be cut off).
    pub fn response_started(&self) -> bool {
        self.head_sent
    }

    /// Whether request bytes wait to be written to the backend (in blocks or on disk).
    fn request_unsent(&self) -> bool {
        !self.bout.is_empty() || self.bspill.as_ref().is_some_and(|s| s.pending() > 0)
    }

    fn backend_link_connecting(&self) -> bool {
        self.backend.is_some() && self.t_connected.is_none()
    }

    fn request(&self) -> &RequestHead {
        self.log
            .parsed
            .as_ref()
            .expect("an exchange has a parsed request")
    }
}

/// The backend side of an exchange, for the access log.
#[derive(Debug)]
pub struct BackendLog<'a> {
    name: &'a str,
    addr: Option<SocketAddr>,
    status: Option<u16>,
    connect: Option<Duration>,
    first_byte: Option<Duration>,
    hold: Option<Duration>,
    last_byte: Option<Duration>,
    drain: Option<Duration>,
    saved: Option<Duration>,
    peak: u64,
    held_at_release: u64,
    send_queue: Option<u64>,
    head: Option<&'a (Vec<u8>, ResponseHead)>,
}

impl<'a> BackendLog<'a> {
    pub fn fields(&self) -> BackendFields<'a> {
        BackendFields {
            name: self.name,
            addr: self.addr,
            status: self.status,
            connect: self.connect,
            first_byte: self.first_byte,
            hold: self.hold,
            last_byte: self.last_byte,
            drain: self.drain,
            saved: self.saved,
            peak: self.peak,
            held_at_release: self.held_at_release,
            send_queue: self.send_queue,
        }
    }

    pub fn response_header(&self, name: &[u8]) -> Option<&'a [u8]> {
        let (buf, head) = self.head?;
        head.headers
            .iter()
            .find(|h| h.name.of(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.of(buf))
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

/// Starts the exchange of a parsed request: routes it, encodes the backend request, and gets a
/// backend connection. Answers by itself when the request cannot be proxied.
pub fn start(conn: &mut Conn, head: RequestHead, idx: usize, sh: &mut Shared) -> Phase {
    let cfg = Arc::clone(&sh.cfg);
    let mut log = take_head(conn, head, sh);
    let head = log.parsed.as_ref().expect("just set");
    if head.simple {
        sh.metrics.http09_requests.incr();
    }
    let buf = &log.head;
    if let Some(status) = &cfg.status {
        if super::status::is_status_request(status, head, buf) {
            return super::status::serve(conn, status, log, sh);
        }
    }
    let host = head.authority().map(|s| s.of(buf));
    // CONNECT's server is its target, whatever its Host says (so a client cannot pick the
    // virtual host whose forward-proxy rules suit it).
    let host_for_vhost = match head.form {
        TargetForm::Authority => Some(head.target.of(buf)),
        _ => host,
    };
    let vhost_idx = route::select_vhost(&cfg, conn.local, host_for_vhost);
    let vhost = &cfg.vhosts[vhost_idx];
    let body_unread = !matches!(head.body, RequestBody::None | RequestBody::Length(0));

    let refused = match head.form {
        TargetForm::Absolute { authority } => {
            let authority = authority.of(buf);
            let is_https = head
                .target
                .of(buf)
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"https://"));
            let default_port = if is_https { 443 } else { 80 };
            !route::is_local_authority(&cfg, conn.local, authority)
                || vhost.proxy_requests
                    && !route::names_port(authority, default_port, conn.local.port())
        }
        TargetForm::Authority => true,
        TargetForm::Origin | TargetForm::Asterisk => false,
    };
    let forwarding = refused || head.method == Method::Connect;
    // On TLS, the host the request names must be the one the handshake's SNI name chose (the
    // certificate the client checked is that host's); under SSLStrictSNIVHostCheck, a client
    // without SNI reaches no strict host either.
    let misdirected = conn.tls.as_ref().is_some_and(|tls| {
        let sni = tls
            .sni_name()
            .map(|name| route::select_vhost(&cfg, conn.local, Some(name.as_bytes())));
        match sni {
            Some(sni) => sni != vhost_idx,
            None => super::conn::is_strict(&cfg, vhost_idx),
        }
    });
    let early = if misdirected {
        Some(Failure::Misdirected)
    } else if forwarding && !vhost.proxy_requests {
        Some(Failure::ForwardProxyRefused)
    } else if forwarding && !vhost.proxy_access.allows(conn.peer.ip()) {
        Some(Failure::ForwardProxyDenied)
    } else if matches!(head.form, TargetForm::Asterisk) {
        Some(Failure::ServerOptions)
    } else if matches!(head.body, RequestBody::Length(n) if cfg.limits.request_body > 0 && n > cfg.limits.request_body)
    {
        Some(Failure::BodyTooLarge)
    } else {
        None
    };
    if let Some(failure) = early {
        return answer(conn, failure, log, vhost_idx, body_unread, sh);
    }
    // `http://host` and `http://host?q` mean the path `/` (RFC 9112 §3.2.2).
    let slashed;
    let target = if head.path_lacks_slash(buf) {
        slashed = [b"/", head.path.of(buf)].concat();
        &slashed[..]
    } else {
        head.path.of(buf)
    };
    let (backend_id, path, route_slot, forward) = if forwarding {
        match forward_target(&cfg, vhost, head, buf, target) {
            Ok((backend, path, forward)) => (backend, path, forward_slot(&cfg), Some(forward)),
            Err(failure) => return answer(conn, failure, log, vhost_idx, body_unread, sh),
        }
    } else {
        if path::has_dot_segment(target) {
            return answer(conn, Failure::DotSegment, log, vhost_idx, body_unread, sh);
        }
        match route_canonically(vhost, target) {
            Decision::Proxy {
                backend,
                path,
                route,
            } => (backend, path, route_base(&cfg, vhost_idx) + route, None),
            Decision::Excluded { .. } => {
                return answer(conn, Failure::Excluded, log, vhost_idx, body_unread, sh)
            }
            Decision::NoRoute => {
                return answer(conn, Failure::NoRoute, log, vhost_idx, body_unread, sh)
            }
        }
    };
    // The cache: a cacheable request may be answered from it; an unsafe one invalidates.
    let mut cache_key = None;
    let mut invalidate = None;
    let mut cache_status = Vec::new();
    let mut conditions = Vec::new();
    let mut lock = LockState::None;
    let mut stale = None;
    let mut background = None;
    // Counted as a miss once it goes to the backend (one that waits on CacheLock may be
    // answered from the cache instead; one refused before, as by a backend marked down, never
    // reached it).
    let mut missed = false;
    if let Some(cache) = cfg
        .cache
        .as_ref()
        .filter(|c| forward.is_none() && !head.simple && c.covers(&path::decode_unreserved(target)))
    {
        let name = host.unwrap_or(vhost.server_name.as_bytes());
        let key = cached::key(conn.scheme, name, target);
        let asks_upgrade = head.connection.upgrade;
        if head.method == Method::Other && head.method_span.of(buf) == b"PURGE" {
            let (status, body) = cached::purge(cache, &key, conn.peer.ip(), &sh.metrics);
            let after = if conn.may_keep_alive(head, sh) && !body_unread {
                After::KeepAlive
            } else {
                After::Close
            };
            let framing = super::reply::Framing {
                after,
                head_only: false,
                http10: head.version == Version::Http10,
                simple: false,
            };
            let mut out = mem::take(&mut sh.scratch);
            out.clear();
            let sent = super::reply::encode_response(
                status,
                b"Content-Type: text/plain; charset=utf-8\r\n",
                body,
                framing,
                sh.wall,
                &mut out,
            );
            return conn.send_ours(out, status, sent, Some(log), Some(vhost_idx), after, sh);
        }
        if matches!(head.method, Method::Get | Method::Head) && !body_unread && !asks_upgrade {
            let req: Vec<(&[u8], &[u8])> = head
                .headers
                .iter()
                .map(|h| (h.name.of(buf), h.value.of(buf)))
                .collect();
            let fallback = fallback_name(conn, vhost, host.is_some());
            let view = ClientView {
                scheme: conn.scheme,
                host,
                fallback: &fallback,
            };
            let rewrite = |value: &[u8]| reverse::rewrite(&vhost.reverse, value, &view);
            let locks = &sh.cache_locks;
            let updating = || {
                cache.lock_max_age.is_some_and(|max_age| {
                    let now = sh.wall;
                    locks.is_held(&key) || cache.store.is_locked(&key, max_age, now)
                })
            };
            let framing = cached::Framing {
                method: head.method,
                keep_alive: conn.may_keep_alive(head, sh),
                client_version: head.version,
                updating: &updating,
                collapsed_after: None,
                rewrite: &rewrite,
            };
            let now = sh.wall;
            let verified = &mut sh.cache_verified;
            match cached::lookup(cache, &key, &req, &framing, now, verified, &sh.metrics) {
                Lookup::Hit(cached::Hit {
                    head: out,
                    body,
                    status,
                    body_len,
                }) => {
                    let after = if framing.keep_alive {
                        After::KeepAlive
                    } else {
                        After::Close
                    };
                    conn.spill = body;
                    log.cache = Some("hit");
                    return conn.send_ours(
                        out,
                        status,
                        body_len,
                        Some(log),
                        Some(vhost_idx),
                        after,
                        sh,
                    );
                }
                Lookup::GatewayTimeout => {
                    return answer(conn, Failure::NotCached, log, vhost_idx, body_unread, sh)
                }
                Lookup::Background {
                    hit,
                    validators,
                    stale: entry,
                } => {
                    for (name, value) in validators {
                        conditions.extend_from_slice(name);
                        conditions.extend_from_slice(b": ");
                        conditions.extend_from_slice(&value);
                        conditions.extend_from_slice(b"\r\n");
                    }
                    // One update at a time: with the lock taken by another, this request
                    // only gets the stale answer.
                    let max_age = cache.lock_max_age.unwrap_or(BACKGROUND_LOCK_AGE);
                    let lock = cache.store.lock(&key, max_age, now).ok().flatten();
                    background = Some(Background {
                        hit,
                        stale: entry,
                        lock,
                        lock_age: max_age,
                        key,
                    });
                }
                Lookup::Validate {
                    validators,
                    stale: entry,
                } => {
                    missed = true;
                    log.cache = Some("stale");
                    stale = Some(entry);
                    cache_status = b"Cache-Status: spoonfeed; fwd=stale".to_vec();
                    for (name, value) in validators {
                        conditions.extend_from_slice(name);
                        conditions.extend_from_slice(b": ");
                        conditions.extend_from_slice(&value);
                        conditions.extend_from_slice(b"\r\n");
                    }
                    cache_key = Some(key);
                }
                Lookup::Miss { stale: entry } => {
                    missed = true;
                    let was_stale = entry.is_some();
                    log.cache = Some(if was_stale { "stale" } else { "miss" });
                    if head.method == Method::Get {
                        stale = entry;
                    }
                    let fwd = if was_stale { "stale" } else { "uri-miss" };
                    cache_status = format!("Cache-Status: spoonfeed; fwd={fwd}").into_bytes();
                    cache_key = (head.method == Method::Get).then_some(key);
                }
            }
        } else if policy::invalidates(head.method, 200) {
            invalidate = Some(key);
        }
        if let (Some(max_age), Some(key)) = (cache.lock_max_age, &cache_key) {
            lock = match sh.cache_locks.take(key, sh.now, max_age) {
                Some(owner) => match cache.store.lock(key, max_age, sh.wall) {
                    Ok(None) => LockState::Remote(key.clone(), owner, sh.now),
                    Ok(file) => LockState::Held(key.clone(), owner, file),
                    // The lock directory is unusable: this reactor's lock alone.
                    Err(_) => LockState::Held(key.clone(), owner, None),
                },
                None => LockState::Waiting(key.clone()),
            };
        }
    }
    if let Some(wait) = sh.backends.down_for(backend_id, sh.now) {
        // (After the cache: a fresh entry answers even while its backend is down, and so does
        // one within stale-while-revalidate, without an update.)
        if let Some(bg) = background {
            let keep_alive = conn.may_keep_alive(head, sh);
            return serve_background(conn, bg.hit, None, log, vhost_idx, keep_alive, sh);
        }
        release_lock_of(&mut lock, sh);
        return answer(
            conn,
            Failure::BackendDown(wait),
            log,
            vhost_idx,
            body_unread,
            sh,
        );
    }
    let backend = &cfg.backends[backend_id];
    // A protocol switch (WebSocket and others) is asked for over HTTP/1.1 without a body; the
    // client's bytes after the head then wait, unread as requests, for the backend's answer.
    let upgrade = (head.version == Version::Http11 && head.connection.upgrade && !body_unread)
        .then(|| {
            head.headers
                .iter()
                .find(|h| h.is(buf, b"upgrade"))
                .map(|h| h.value.of(buf).to_vec())
        })
        .flatten();
    let via_by = match vhost.via {
        ViaSetting::Off | ViaSetting::Block => String::new(),
        ViaSetting::On | ViaSetting::Full => format!("{}:{}", vhost.server_name, conn.local.port()),
    };
    let facts = Forwarded {
        client_ip: conn.peer.ip(),
        host,
        server: vhost.server_name.as_bytes(),
        proto: conn.scheme.as_str().as_bytes(),
    };
    let request = BackendRequest {
        path: &path,
        host: match (vhost.preserve_host || forward.is_some(), host) {
            (true, Some(h)) => h,
            _ => backend.authority.as_bytes(),
        },
        body: head.body,
        forwarded: vhost.add_forwarded.then_some(facts),
        rfc7239: vhost.add_rfc7239.then_some(facts),
        via: via_mode(vhost.via),
        via_by: via_by.as_bytes(),
        // An HTTP/0.9 request is asked in HTTP/1.0, on a connection closed after it.
        http10: head.simple,
        extra: &conditions,
        keep_alive: !backend.params.disable_reuse && !head.simple && background.is_none(),
        upgrade: upgrade.as_deref(),
    };
    let mut out = mem::take(&mut sh.scratch);
    out.clear();
    // CONNECT sends the backend nothing of its own: the tunnel starts at the connect.
    if head.method != Method::Connect {
        encode_backend_request(buf, head, &request, &mut out);
    }
    if let Some(bg) = background {
        // (A simulated reactor's backends exist only in its harness: no thread can reach them,
        // so it starts no update.)
        let lock = bg.lock.filter(|_| sh.backends.sim.is_none());
        let job = lock.map(|lock| refresh::Job {
            cfg: Arc::clone(&cfg),
            backend: backend_id,
            request: out.clone(),
            key: bg.key,
            req: head
                .headers
                .iter()
                .map(|h| (h.name.of(buf).to_vec(), h.value.of(buf).to_vec()))
                .collect(),
            stale: bg.stale,
            lock,
            deadline: Instant::now() + bg.lock_age,
            request_time: cached::unix_now(sh.wall),
            collector: sh.collector.clone(),
        });
        sh.scratch = out;
        let keep_alive = conn.may_keep_alive(head, sh);
        return serve_background(conn, bg.hit, job, log, vhost_idx, keep_alive, sh);
    }
    let mut bout = Chain::default();
    let mut pushed = bout.push_slice(&mut sh.pool, &out);
    let replay =
        (head.method.is_idempotent() && !body_unread && forward.is_none()).then(|| out.clone());
    sh.scratch = out;
    if head.expect_continue && body_unread && head.version == Version::Http11 && conn.cin.is_empty()
    {
        pushed = pushed.and(
            conn.cout
                .push_slice(&mut sh.pool, b"HTTP/1.1 100 Continue\r\n\r\n"),
        );
    }
    if pushed.is_err() {
        bout.clear(&mut sh.pool);
        sh.metrics.pool_refused.incr();
        release_lock_of(&mut lock, sh);
        return answer(
            conn,
            Failure::PoolExhausted,
            log,
            vhost_idx,
            body_unread,
            sh,
        );
    }
    let buffering = &cfg.buffering;
    let resp_limit = if backend.params.buffering {
        buffering.response_buffer_size.max(sh.pool.block_size())
    } else {
        sh.pool.block_size()
    };
    let holding = buffering.request_buffering && body_unread;
    let spill_ok = backend.params.buffering && buffering.spills();
    let req_body = match head.body {
        RequestBody::None | RequestBody::Length(0) => ReqBody::Done,
        RequestBody::Length(n) => ReqBody::Length(n),
        RequestBody::Chunked => ReqBody::Chunked(ChunkedDecoder::default()),
    };
    let ex = Box::new(Exchange {
        keep_alive: conn.may_keep_alive(head, sh),
        method: head.method,
        client_version: head.version,
        cfg,
        vhost: vhost_idx,
        backend_id,
        backend: None,
        backend_addr: None,
        reused: false,
        replay,
        req_body,
        bout,
        bin: Vec::new(),
        bin_progress: HeadProgress::default(),
        interim: 0,
        resp: Resp::Head,
        resp_head: None,
        backend_keeps: true,
        head_sent: false,
        status: 0,
        body_bytes: 0,
        log,
        t_connect: sh.now,
        t_connected: None,
        t_req: None,
        t_first: None,
        t_last: None,
        t_release: None,
        resp_limit,
        holding,
        spill_ok,
        spilled: false,
        body_received: 0,
        upgrade: upgrade.is_some(),
        bspill: None,
        route_slot,
        peak: 0,
        held_at_release: 0,
        send_queue: None,
        forward,
        cache_key,
        fill: None,
        invalidate,
        cache_status,
        revalidating: !conditions.is_empty(),
        lock,
        stale,
        miss: missed,
    });
    match &ex.lock {
        LockState::Waiting(key) => {
            sh.cache_locks.wait(key, conn.token(idx));
            return Phase::Wait(ex);
        }
        LockState::Remote(..) => return Phase::Wait(ex),
        LockState::None | LockState::Held(..) => {}
    }
    if holding {
        return Phase::Proxy(ex);
    }
    acquire(conn, ex, idx, false, sh)
}

/// A stale entry within `stale-while-revalidate` that answers at once, and what its
/// background validation needs.
struct Background {
    hit: cached::Hit,
    /// Another handle on the entry, for the validation.
    stale: crate::cache::store::Entry,
    /// The key's lock file: `None` when another update holds it (no second one starts).
    lock: Option<FileLock>,
    /// How long the lock keeps others out.
    lock_age: Duration,
    key: Vec<u8>,
}

/// How long a background validation's lock keeps others from starting one with `CacheLock
/// Off` (with it on, `CacheLockMaxAge`).
const BACKGROUND_LOCK_AGE: Duration = Duration::from_secs(5);

/// Answers with a stale entry's `hit` at once (`stale-while-revalidate`), and starts `job`,
/// its validation in the background, when there is one.
fn serve_background(
    conn: &mut Conn,
    hit: cached::Hit,
    job: Option<refresh::Job>,
    mut log: ReqLog,
    vhost_idx: usize,
    keep_alive: bool,
    sh: &mut Shared,
) -> Phase {
    if job.is_some_and(refresh::spawn) {
        sh.metrics.cache_background.incr();
    }
    let after = if keep_alive {
        After::KeepAlive
    } else {
        After::Close
    };
    conn.spill = hit.body;
    log.cache = Some("hit");
    conn.send_ours(
        hit.head,
        hit.status,
        hit.body_len,
        Some(log),
        Some(vhost_idx),
        after,
        sh,
    )
}

/// Answers from the stale entry the exchange keeps in reserve, when `stale-if-error` allows
/// (the head queued, the body to follow from the entry's file); false when it does not.
fn serve_stale(conn: &mut Conn, ex: &mut Exchange, sh: &mut Shared) -> bool {
    let Some(entry) = ex.stale.take() else {
        return false;
    };
    let cfg = Arc::clone(&ex.cfg);
    let Some(cache) = cfg.cache.as_ref() else {
        return false;
    };
    let req = ex.request();
    let fields: Vec<(&[u8], &[u8])> = req
        .headers
        .iter()
        .map(|h| (h.name.of(&ex.log.head), h.value.of(&ex.log.head)))
        .collect();
    let vhost = &cfg.vhosts[ex.vhost];
    let host = req.authority().map(|s| s.of(&ex.log.head));
    let fallback = fallback_name(conn, vhost, host.is_some());
    let view = ClientView {
        scheme: conn.scheme,
        host,
        fallback: &fallback,
    };
    let rewrite = |value: &[u8]| reverse::rewrite(&vhost.reverse, value, &view);
    let framing = cached::Framing {
        method: ex.method,
        keep_alive: ex.keep_alive,
        client_version: ex.client_version,
        updating: &|| false,
        collapsed_after: None,
        rewrite: &rewrite,
    };
    let now = sh.wall;
    let Some(cached::Hit {
        head: out,
        body,
        status,
        body_len,
    }) = cached::stale_if_error(cache, entry, &fields, &framing, now, &sh.metrics)
    else {
        return false;
    };
    if conn.cout.push_slice(&mut sh.pool, &out).is_err() {
        return false;
    }
    conn.spill = body;
    ex.status = status;
    ex.body_bytes = body_len;
    ex.head_sent = true;
    ex.log.cache = Some("stale-if-error");
    true
}

/// Releases the `CacheLock` an exchange holds: the requests that waited for its URL run again
/// (and find it stored, or fetch it themselves).
fn release_lock(ex: &mut Exchange, sh: &mut Shared) {
    release_lock_of(&mut ex.lock, sh);
}

/// [`release_lock`] for a lock not in an exchange yet.
fn release_lock_of(lock: &mut LockState, sh: &mut Shared) {
    let (key, owner) = match mem::take(lock) {
        LockState::Held(key, owner, file) => {
            // The other reactors' waiters see the lock file go (a dropped FileLock removes it).
            drop(file);
            (key, owner)
        }
        LockState::Remote(key, owner, _) => (key, owner),
        LockState::None | LockState::Waiting(_) => return,
    };
    for token in sh.cache_locks.release(&key, owner) {
        sh.rerun.push_back(token);
    }
}

/// A request that waited on `CacheLock` runs again: answered from the cache when its URL is
/// stored now, else sent to the backend (without the lock, so that the waiters of a URL that
/// turned out not to be storable all go at once).
fn after_lock(conn: &mut Conn, mut ex: Box<Exchange>, idx: usize, sh: &mut Shared) -> Phase {
    let LockState::Waiting(key) = mem::take(&mut ex.lock) else {
        return acquire(conn, ex, idx, false, sh);
    };
    match collapsed(conn, &ex, &key, sh) {
        Some(hit) => serve_collapsed(conn, ex, hit, sh),
        None => acquire(conn, ex, idx, false, sh),
    }
}

/// `CacheLock` held in another reactor or process ([`LockState::Remote`]), looked at again.
/// While its file is there (and `CacheLockMaxAge` has not passed) the exchange waits on. Then
/// the URL is looked up again: answered from the cache when the other fetch stored it, else
/// fetched by this exchange without the lock (with the waiters of this reactor), as waiters
/// in the holder's reactor do.
fn poll_remote(conn: &mut Conn, mut ex: Box<Exchange>, idx: usize, sh: &mut Shared) -> Phase {
    let LockState::Remote(key, owner, since) = mem::take(&mut ex.lock) else {
        return acquire(conn, ex, idx, false, sh);
    };
    let cfg = Arc::clone(&ex.cfg);
    let Some(cache) = cfg.cache.as_ref() else {
        return acquire(conn, ex, idx, false, sh);
    };
    let max_age = cache.lock_max_age.unwrap_or_default();
    let waited_out = sh.now.saturating_duration_since(since) >= max_age;
    let now = sh.wall;
    if !waited_out && cache.store.is_locked(&key, max_age, now) {
        ex.lock = LockState::Remote(key, owner, since);
        return Phase::Wait(ex);
    }
    ex.lock = LockState::Held(key.clone(), owner, None);
    let hit = collapsed(conn, &ex, &key, sh);
    // Either way the lock goes: this reactor's waiters find the entry too, or (the fetch
    // waited for stored nothing) they go to the backend at once, as this exchange does,
    // rather than one reactor after another.
    release_lock(&mut ex, sh);
    match hit {
        Some(hit) => serve_collapsed(conn, ex, hit, sh),
        None => acquire(conn, ex, idx, false, sh),
    }
}

/// The cache's answer to a request that waited on `CacheLock` for `key`: a response stored
/// since it came answers it, fresh or not (request collapsing).
fn collapsed(conn: &Conn, ex: &Exchange, key: &[u8], sh: &mut Shared) -> Option<cached::Hit> {
    let cache = ex.cfg.cache.as_ref()?;
    let req = ex.request();
    let fields: Vec<(&[u8], &[u8])> = req
        .headers
        .iter()
        .map(|h| (h.name.of(&ex.log.head), h.value.of(&ex.log.head)))
        .collect();
    let vhost = &ex.cfg.vhosts[ex.vhost];
    let host = req.authority().map(|s| s.of(&ex.log.head));
    let fallback = fallback_name(conn, vhost, host.is_some());
    let view = ClientView {
        scheme: conn.scheme,
        host,
        fallback: &fallback,
    };
    let rewrite = |value: &[u8]| reverse::rewrite(&vhost.reverse, value, &view);
    let framing = cached::Framing {
        method: ex.method,
        keep_alive: ex.keep_alive,
        client_version: ex.client_version,
        updating: &|| false,
        collapsed_after: Some(cached::unix_now(ex.log.wall)),
        rewrite: &rewrite,
    };
    let now = sh.wall;
    let verified = &mut sh.cache_verified;
    match cached::lookup(cache, key, &fields, &framing, now, verified, &sh.metrics) {
        // (Within stale-while-revalidate, no update is started from here: the fetch waited
        // for just failed to store the URL.)
        Lookup::Hit(hit) | Lookup::Background { hit, .. } => Some(hit),
        Lookup::Miss { .. } | Lookup::Validate { .. } | Lookup::GatewayTimeout => None,
    }
}

/// Sends `hit` for an exchange that waited on `CacheLock`: the request prepared for the
/// backend is not needed.
fn serve_collapsed(
    conn: &mut Conn,
    mut ex: Box<Exchange>,
    hit: cached::Hit,
    sh: &mut Shared,
) -> Phase {
    ex.bout.clear(&mut sh.pool);
    let after = if ex.keep_alive {
        After::KeepAlive
    } else {
        After::Close
    };
    let mut log = mem::replace(
        &mut ex.log,
        ReqLog {
            head: Vec::new(),
            parsed: None,
            started: sh.now,
            wall: sh.wall,
            cache: None,
        },
    );
    log.cache = Some("hit");
    conn.spill = hit.body;
    conn.send_ours(
        hit.head,
        hit.status,
        hit.body_len,
        Some(log),
        Some(ex.vhost),
        after,
        sh,
    )
}

/// Where a forward-proxied request goes: CONNECT's `host:port` (a port `AllowCONNECT` lists),
/// or an absolute-form `http://` URL's host (port 80 unless given) and origin-form `path`.
/// Returns the forward backend entry, the path to send, and the target.
fn forward_target(
    cfg: &Config,
    vhost: &crate::config::Vhost,
    head: &RequestHead,
    buf: &[u8],
    path: &[u8],
) -> Result<(BackendId, Vec<u8>, Forward), Failure> {
    let backend = cfg
        .forward_backend
        .expect("ProxyRequests On comes with a forward backend");
    let tunnel = head.method == Method::Connect;
    let (authority, default_port) = if tunnel {
        (head.target.of(buf), None)
    } else {
        let url = head.target.of(buf);
        if !url
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"http://"))
        {
            return Err(Failure::ForwardScheme);
        }
        let authority = head.authority().expect("absolute-form has an authority");
        (authority.of(buf), Some(80))
    };
    let (host, port) = split_authority(authority, default_port).ok_or(Failure::ForwardTarget)?;
    if tunnel
        && !vhost
            .allow_connect
            .iter()
            .any(|ports| ports.contains(&port))
    {
        return Err(Failure::ConnectPortRefused);
    }
    let addrs = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => Vec::new(),
    };
    let forward = Forward {
        host,
        port,
        addrs,
        resolve: Resolve::Unasked,
        ask: 0,
        tunnel,
    };
    let path = if tunnel { Vec::new() } else { path.to_vec() };
    Ok((backend, path, forward))
}

/// `host[:port]` or `[v6]:port` (already checked by the request parser) into the host
/// (without brackets, lowercased) and the port; `None` without a port and no default, or
/// with a port of 0.
fn split_authority(authority: &[u8], default_port: Option<u16>) -> Option<(String, u16)> {
    let text = std::str::from_utf8(authority).ok()?;
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        None => default_port?,
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

/// The metrics slot of forward-proxied exchanges: after every route's.
pub fn forward_slot(cfg: &Config) -> usize {
    route_base(cfg, cfg.vhosts.len())
}

/// The metrics slot of the first route of virtual host `vhost`: routes are numbered across
/// virtual hosts in configuration order.
pub fn route_base(cfg: &Config, vhost: usize) -> usize {
    cfg.vhosts[..vhost].iter().map(|v| v.routes.len()).sum()
}

/// Moves a parsed request head out of the connection's buffer into its log record.
fn take_head(conn: &mut Conn, head: RequestHead, sh: &Shared) -> ReqLog {
    let head_len = head.head_len;
    let log = ReqLog {
        head: conn.cin[..head_len].to_vec(),
        parsed: Some(head),
        started: sh.now,
        wall: sh.wall,
        cache: None,
    };
    conn.cin.drain(..head_len);
    conn.progress = HeadProgress::default();
    log
}

/// Answers a parsed request with an answer of ours instead of starting its exchange.
pub fn refuse(conn: &mut Conn, head: RequestHead, failure: Failure, sh: &mut Shared) -> Phase {
    let log = take_head(conn, head, sh);
    let parsed = log.parsed.as_ref().expect("just set");
    let body_unread = !matches!(parsed.body, RequestBody::None | RequestBody::Length(0));
    let vhost = route::select_vhost(
        &sh.cfg,
        conn.local,
        parsed.authority().map(|s| s.of(&log.head)),
    );
    answer(conn, failure, log, vhost, body_unread, sh)
}

/// Routes the request as its canonical spelling decides, forwarding the raw bytes when the
/// raw spelling takes the same route (the normal case), the decoded ones otherwise: a
/// percent-encoded spelling can never route around a rule.
fn route_canonically(vhost: &crate::config::Vhost, target: &[u8]) -> Decision {
    let raw = route::route(vhost, target);
    match path::decode_unreserved(target) {
        std::borrow::Cow::Borrowed(_) => raw,
        std::borrow::Cow::Owned(decoded) => {
            let canonical = route::route(vhost, &decoded);
            let same = match (&raw, &canonical) {
                (Decision::Proxy { route: a, .. }, Decision::Proxy { route: b, .. }) => a == b,
                _ => false,
            };
            if same {
                raw
            } else {
                canonical
            }
        }
    }
}

/// Answers a request that is not proxied; the connection closes if the request's body was
/// not read.
fn answer(
    conn: &mut Conn,
    failure: Failure,
    log: ReqLog,
    vhost: usize,
    body_unread: bool,
    sh: &mut Shared,
) -> Phase {
    match conn.reply(failure, Some(log), Some(vhost), sh) {
        Phase::Reply(mut r) if body_unread => {
            r.after = After::Close;
            Phase::Reply(r)
        }
        other => other,
    }
}

/// Gets a backend connection for the exchange: pooled (unless `fresh`), new, or a place in the
/// queue of `max=`.
fn acquire(
    conn: &mut Conn,
    mut ex: Box<Exchange>,
    idx: usize,
    fresh: bool,
    sh: &mut Shared,
) -> Phase {
    if !Arc::ptr_eq(&ex.cfg, &sh.cfg) {
        // The configuration was reloaded while this exchange waited or replayed: its backend
        // numbering is not the pool's any more.
        return fail(conn, ex, Failure::BackendClosed, sh);
    }
    if mem::take(&mut ex.miss) {
        sh.metrics.cache_misses.incr();
    }
    if let Some(forward) = ex.forward.as_mut().filter(|f| f.addrs.is_empty()) {
        if forward.resolve == Resolve::Answered {
            return fail(conn, ex, Failure::ResolveFailed, sh);
        }
        sh.resolve_asked += 1;
        forward.ask = sh.resolve_asked;
        let (token, ask) = (conn.token(idx), forward.ask);
        let asked = match &mut sh.resolver {
            Some(resolver) => resolver.ask(token, ask, &forward.host, forward.port),
            None => match super::resolve::Resolver::start(Arc::clone(&sh.waker)) {
                Ok(mut resolver) => {
                    let asked = resolver.ask(token, ask, &forward.host, forward.port);
                    sh.resolver = Some(resolver);
                    asked
                }
                Err(e) => {
                    sh.log.log(
                        LogLevel::Error,
                        None,
                        format_args!("cannot start the resolver thread: {e}"),
                    );
                    false
                }
            },
        };
        if !asked {
            return fail(conn, ex, Failure::ResolveFailed, sh);
        }
        forward.resolve = Resolve::Asked;
        return Phase::Wait(ex);
    }
    ex.t_connect = sh.now;
    ex.t_connected = None;
    let addrs = ex.forward_addrs().map(<[SocketAddr]>::to_vec);
    match sh.backends.acquire(
        &ex.cfg,
        ex.backend_id,
        addrs.as_deref(),
        idx,
        fresh,
        &mut sh.gen,
        sh.now,
        &sh.registry,
    ) {
        Ok(b) => {
            let bc = &sh.backends.conns[b];
            ex.backend = Some(b);
            ex.backend_addr = Some(bc.peer);
            ex.reused = bc.served > 0;
            if ex.reused {
                ex.t_connected = Some(sh.now);
            } else {
                // Only a reused connection's failure may be replayed.
                ex.replay = None;
            }
            Phase::Proxy(ex)
        }
        Err(Unavailable::Full) => {
            sh.backends.wait(ex.backend_id, (idx, conn.gen));
            Phase::Wait(ex)
        }
        Err(Unavailable::Down) => {
            let wait = sh
                .backends
                .down_for(ex.backend_id, sh.now)
                .unwrap_or_default();
            fail(conn, ex, Failure::BackendDown(wait), sh)
        }
        Err(Unavailable::Connect(e)) => {
            let name = ex.backend_name();
            sh.log.log(
                LogLevel::Error,
                Some(conn.peer),
                format_args!("connect to {name} failed: {e}"),
            );
            mark_down(&ex, sh);
            fail(conn, ex, Failure::ConnectFailed, sh)
        }
    }
}

fn mark_down(ex: &Exchange, sh: &mut Shared) {
    if !Arc::ptr_eq(&ex.cfg, &sh.cfg) {
        // Reloaded meanwhile: the pool's backend numbering is not this exchange's.
        return;
    }
    let retry = ex.cfg.backends[ex.backend_id].params.retry;
    if !retry.is_zero() {
        sh.backends.mark_down(ex.backend_id, sh.now + retry);
    }
}

/// Ends the exchange with an answer of ours (or an abort, if the response already started).
fn fail(conn: &mut Conn, mut ex: Box<Exchange>, failure: Failure, sh: &mut Shared) -> Phase {
    drop_backend(&mut ex, sh);
    release_lock(&mut ex, sh);
    if failure.is_backend_side() && !ex.head_sent && serve_stale(conn, &mut ex, sh) {
        ex.bout.clear(&mut sh.pool);
        let after = if ex.keep_alive {
            After::KeepAlive
        } else {
            After::Close
        };
        let log = mem::replace(
            &mut ex.log,
            ReqLog {
                head: Vec::new(),
                parsed: None,
                started: sh.now,
                wall: sh.wall,
                cache: None,
            },
        );
        sh.metrics.count_status(ex.status);
        let vhost = ex.vhost;
        conn.log_exchange(&log, vhost, ex.status, ex.body_bytes, None, sh);
        return Phase::Reply(super::conn::Reply { after });
    }
    if ex.head_sent {
        sh.log.log(
            LogLevel::Error,
            Some(conn.peer),
            format_args!("aborting response: {}", failure.reason()),
        );
        cut_off(conn, sh);
        ex.bout.clear(&mut sh.pool);
        return Phase::Closed;
    }
    let body_unread = !matches!(ex.req_body, ReqBody::Done);
    let vhost = ex.vhost;
    let log = mem::replace(
        &mut ex.log,
        ReqLog {
            head: Vec::new(),
            parsed: None,
            started: sh.now,
            wall: sh.wall,
            cache: None,
        },
    );
    ex.bout.clear(&mut sh.pool);
    answer(conn, failure, log, vhost, body_unread, sh)
}

/// Closes the exchange's backend connection (it did not finish cleanly).
fn drop_backend(ex: &mut Exchange, sh: &mut Shared) {
    if let Some(b) = ex.backend.take() {
        let waiter = sh.backends.close(b, &sh.registry);
        wake(waiter, sh);
    }
}

/// Puts a client connection that waited for a backend connection on the re-run queue.
fn wake(waiter: Option<(usize, u32)>, sh: &mut Shared) {
    if let Some((idx, gen)) = waiter {
        sh.rerun.push_back(Token::new(Kind::Client, idx, gen));
    }
}

/// The client connection went away or the reactor is closing it: give back what the exchange
/// holds.
pub fn abandon(mut ex: Box<Exchange>, me: (usize, u32), waiting: bool, sh: &mut Shared) {
    // Only an exchange waiting for a backend connection has a place in the backend's queue
    // (one waiting for the cache lock or for the resolver has none to give up).
    let lock_waiting = matches!(ex.lock, LockState::Waiting(_) | LockState::Remote(..));
    let resolving = ex
        .forward
        .as_ref()
        .is_some_and(|f| f.resolve == Resolve::Asked);
    if waiting && !lock_waiting && !resolving {
        leave_queue(&ex, me, sh);
    }
    drop_backend(&mut ex, sh);
    release_lock(&mut ex, sh);
    ex.bout.clear(&mut sh.pool);
}

/// A waiting exchange gives up its place; if a release already woke it, the wake-up goes to
/// the next waiter instead of being lost.
fn leave_queue(ex: &Exchange, me: (usize, u32), sh: &mut Shared) {
    if !Arc::ptr_eq(&ex.cfg, &sh.cfg) {
        return;
    }
    if sh.backends.is_waiting(ex.backend_id, me) {
        sh.backends.unwait(ex.backend_id, me);
    } else {
        let next = sh.backends.next_waiter(ex.backend_id);
        wake(next, sh);
    }
}

/// Waiting for a connection under `max=`: try again once a release woke us.
pub fn on_wait(conn: &mut Conn, ex: Box<Exchange>, idx: usize, sh: &mut Shared) -> (Phase, bool) {
    if ex
        .forward
        .as_ref()
        .is_some_and(|f| f.resolve == Resolve::Asked)
    {
        return (Phase::Wait(ex), false);
    }
    match &ex.lock {
        LockState::Waiting(key) if sh.cache_locks.is_held(key) => {
            // Another exchange took the lock before this one ran: wait for that one.
            sh.cache_locks.wait(key, conn.token(idx));
            return (Phase::Wait(ex), false);
        }
        LockState::Waiting(_) => return (after_lock(conn, ex, idx, sh), true),
        // Polled on its timer.
        LockState::Remote(..) => return (Phase::Wait(ex), false),
        LockState::None | LockState::Held(..) => {}
    }
    if sh.backends.is_waiting(ex.backend_id, (idx, conn.gen)) {
        return (Phase::Wait(ex), false);
    }
    (acquire(conn, ex, idx, false, sh), true)
}

/// The resolver's answer to question `ask` of `conn`: true when its exchange was waiting for
/// that answer and must be driven (an answer to an earlier request's question is dropped).
pub fn on_resolved(
    conn: &mut Conn,
    ask: u64,
    addrs: std::io::Result<Vec<SocketAddr>>,
    sh: &mut Shared,
) -> bool {
    let Phase::Wait(ex) = &mut conn.phase else {
        return false;
    };
    let waiting = |f: &&mut Forward| f.resolve == Resolve::Asked && f.ask == ask;
    let Some(forward) = ex.forward.as_mut().filter(waiting) else {
        return false;
    };
    forward.resolve = Resolve::Answered;
    match addrs {
        Ok(addrs) if !addrs.is_empty() => forward.addrs = addrs,
        Ok(_) | Err(_) => {
            let why = addrs
                .err()
                .map_or("no address".to_owned(), |e| e.to_string());
            let name = ex.backend_name();
            sh.log.log(
                LogLevel::Info,
                Some(conn.peer),
                format_args!("cannot resolve {name}: {why}"),
            );
        }
    }
    true
}

pub fn on_wait_timeout(
    conn: &mut Conn,
    mut ex: Box<Exchange>,
    idx: usize,
    sh: &mut Shared,
) -> Phase {
    match ex.lock {
        LockState::Waiting(_) => {
            // Waited CacheLockMaxAge for another exchange's fetch: this one fetches itself.
            ex.lock = LockState::None;
            return acquire(conn, ex, idx, false, sh);
        }
        LockState::Remote(..) => return poll_remote(conn, ex, idx, sh),
        LockState::None | LockState::Held(..) => {}
    }
    if ex
        .forward
        .as_ref()
        .is_some_and(|f| f.resolve == Resolve::Asked)
    {
        sh.log.log(
            LogLevel::Info,
            Some(conn.peer),
            format_args!("resolving {} timed out", ex.backend_name()),
        );
        return fail(conn, ex, Failure::ConnectTimeout, sh);
    }
    leave_queue(&ex, (idx, conn.gen), sh);
    fail(conn, ex, Failure::BackendBusy, sh)
}

pub fn on_proxy_timeout(conn: &mut Conn, mut ex: Box<Exchange>, sh: &mut Shared) -> Phase {
    if ex.holding {
        // The client stalled mid-body while no backend was involved yet.
        return fail(conn, ex, Failure::RequestTimeout, sh);
    }
    if ex.backend_link_connecting() {
        mark_down(&ex, sh);
        return fail(conn, ex, Failure::ConnectTimeout, sh);
    }
    match ex.resp {
        Resp::Head => fail(conn, ex, Failure::ResponseTimeout, sh),
        Resp::Body(_) | Resp::Done { .. } | Resp::Upgraded => {
            sh.log.log(
                LogLevel::Info,
                Some(conn.peer),
                format_args!("exchange timed out mid-response; closing"),
            );
            drop_backend(&mut ex, sh);
            release_lock(&mut ex, sh);
            ex.bout.clear(&mut sh.pool);
            cut_off(conn, sh);
            Phase::Closed
        }
    }
}

/// One round of the exchange: connect completion, request bytes to the backend, response
/// bytes to the client, release, completion.
pub fn on_proxy(
    conn: &mut Conn,
    mut ex: Box<Exchange>,
    idx: usize,
    sh: &mut Shared,
) -> (Phase, bool) {
    if ex.holding {
        return match hold_request(conn, &mut ex, idx, sh) {
            Ok(false) => (Phase::Proxy(ex), false),
            Ok(true) if ex.holding => (Phase::Proxy(ex), true),
            Ok(true) => (acquire(conn, ex, idx, false, sh), true),
            Err(Break::Fail(failure)) => (fail(conn, ex, failure, sh), true),
            Err(Break::Abort(why) | Break::Retry(why)) => (abort(conn, ex, why, sh), true),
        };
    }
    match proxy_round(conn, &mut ex, idx, sh) {
        Ok(moved) => finish_if_done(conn, ex, moved, sh),
        Err(Break::Fail(failure)) => (fail(conn, ex, failure, sh), true),
        Err(Break::Abort(why)) => (abort(conn, ex, why, sh), true),
        Err(Break::Retry(_)) => {
            drop_backend(&mut ex, sh);
            let head = ex.replay.take().expect("retry only with a replayable head");
            ex.bout.clear(&mut sh.pool);
            if ex.bout.push_slice(&mut sh.pool, &head).is_err() {
                ex.bout.clear(&mut sh.pool);
                return (fail(conn, ex, Failure::PoolExhausted, sh), true);
            }
            ex.bin.clear();
            ex.bin_progress = HeadProgress::default();
            ex.t_req = None;
            ex.t_first = None;
            sh.log.log(
                LogLevel::Info,
                Some(conn.peer),
                format_args!(
                    "pooled backend connection failed before answering; replaying on a new one"
                ),
            );
            (acquire(conn, ex, idx, true, sh), true)
        }
    }
}

/// Closes the client connection without completing the response.
fn abort(conn: &mut Conn, mut ex: Box<Exchange>, why: &str, sh: &mut Shared) -> Phase {
    sh.log.log(
        LogLevel::Info,
        Some(conn.peer),
        format_args!("closing client connection: {why}"),
    );
    drop_backend(&mut ex, sh);
    release_lock(&mut ex, sh);
    ex.bout.clear(&mut sh.pool);
    if ex.head_sent {
        cut_off(conn, sh);
    }
    Phase::Closed
}

/// A response that started cannot be completed: the client connection will be reset, not
/// closed, so that not even a response delimited by the close looks complete.
fn cut_off(conn: &mut Conn, sh: &mut Shared) {
    sh.metrics.aborted.incr();
    let _ = crate::sys::reset_on_close(conn.client.as_raw_fd());
}

/// `ProxyRequestBuffering On`: reads the request body before any backend is involved.
/// `Ok(true)` when something moved; `holding` is cleared once the body is in, or as much
/// of it as `ProxyRequestBufferSize` allows.
fn hold_request(
    conn: &mut Conn,
    ex: &mut Exchange,
    idx: usize,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let mut moved = pump_request(conn, ex, idx, sh)?;
    moved |= conn
        .flush(sh)
        .map_err(|_| Break::Abort("client write failed"))?;
    let b = &ex.cfg.buffering;
    let full = match &ex.bspill {
        Some(spill) => spill.written() >= b.max_temp_file_size,
        None => ex.bout.len() >= b.request_buffer_size && !b.spills(),
    };
    if matches!(ex.req_body, ReqBody::Done) || full {
        ex.holding = false;
        moved = true;
    }
    Ok(moved)
}

/// Where the next request-body bytes go and how many fit: into blocks, or (past
/// `ProxyRequestBufferSize` while holding, and from then on while the file lasts) to the
/// end of a temporary file. `None`: nothing fits now.
fn request_room(ex: &mut Exchange) -> Option<(bool, usize)> {
    let b = &ex.cfg.buffering;
    if ex
        .bspill
        .as_ref()
        .is_some_and(|s| s.written() >= b.max_temp_file_size && s.pending() == 0 && !ex.holding)
    {
        // A full file, sent: the rest streams through blocks.
        ex.bspill = None;
    }
    if let Some(spill) = &ex.bspill {
        let left = usize::try_from(b.max_temp_file_size.saturating_sub(spill.written()))
            .unwrap_or(usize::MAX);
        let room = if ex.holding {
            left
        } else {
            let unsent = usize::try_from(spill.pending()).unwrap_or(usize::MAX);
            left.min(REQUEST_STREAM_BUFFER.saturating_sub(unsent))
        };
        return (room > 0).then_some((true, room));
    }
    let held = if ex.holding {
        b.request_buffer_size
    } else {
        REQUEST_STREAM_BUFFER
    };
    let room = held.saturating_sub(ex.bout.len());
    if room == 0 && ex.holding && b.spills() {
        return Some((true, usize::MAX));
    }
    (room > 0).then_some((false, room))
}

fn proxy_round(
    conn: &mut Conn,
    ex: &mut Exchange,
    idx: usize,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let mut moved = false;
    if ex.backend_link_connecting() {
        match finish_connect(conn, ex, idx, sh)? {
            true => moved = true,
            false => return Ok(false),
        }
    }
    let tunnels = ex.forward.as_ref().is_some_and(|f| f.tunnel);
    if tunnels && ex.t_connected.is_some() && matches!(ex.resp, Resp::Head) {
        // CONNECT: the connection is open, and so is the tunnel.
        conn.cout
            .push_slice(&mut sh.pool, b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .map_err(|_| Break::Fail(Failure::PoolExhausted))?;
        ex.status = 200;
        ex.head_sent = true;
        ex.resp = Resp::Upgraded;
        sh.metrics.tunnels.incr();
        return Ok(true);
    }
    let handshaking = ex
        .backend
        .is_some_and(|b| sh.backends.conns[b].stream.is_handshaking());
    moved |= pump_request(conn, ex, idx, sh)?;
    moved |= send_to_backend(ex, sh)?;
    moved |= read_backend(conn, ex, idx, sh)?;
    if matches!(ex.resp, Resp::Done { .. }) {
        // The entry goes into place before the response's last bytes go to the client: a
        // client that has the whole response finds it stored.
        if let Some(fill) = ex.fill.take() {
            fill.finish(&sh.metrics, &sh.collector);
        }
        release_lock(ex, sh);
    }
    // A TLS handshake finished by a read: the request may go now, with no event to say so.
    moved |= handshaking
        && ex
            .backend
            .is_some_and(|b| !sh.backends.conns[b].stream.is_handshaking());
    moved |= conn
        .flush(sh)
        .map_err(|_| Break::Abort("client write failed"))?;
    Ok(moved)
}

/// mio's connect steps after an event; a failed address moves on to the next one.
fn finish_connect(
    conn: &mut Conn,
    ex: &mut Exchange,
    idx: usize,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let b = ex.backend.expect("connecting has a backend");
    let bc = &mut sh.backends.conns[b];
    let Link::Connecting { addr } = bc.link else {
        ex.t_connected = Some(sh.now);
        return Ok(true);
    };
    if !bc.ready.writable && !bc.ready.readable {
        return Ok(false);
    }
    match connect_result(bc.stream.tcp()) {
        ConnectResult::Connected => {
            bc.link = Link::Open;
            ex.t_connected = Some(sh.now);
            Ok(true)
        }
        ConnectResult::Pending => {
            bc.ready = Ready::default();
            Ok(false)
        }
        ConnectResult::Failed(e) => {
            let name = ex.backend_name();
            sh.log.log(
                LogLevel::Error,
                Some(conn.peer),
                format_args!("connect to {name} ({}) failed: {e}", bc.peer),
            );
            drop_backend(ex, sh);
            if !Arc::ptr_eq(&ex.cfg, &sh.cfg) {
                // Reloaded meanwhile: the pool's backend numbering is not this exchange's.
                return Err(Break::Fail(Failure::ConnectFailed));
            }
            let addrs = ex
                .forward_addrs()
                .unwrap_or(&ex.cfg.backends[ex.backend_id].addrs)
                .to_vec();
            for (i, a) in addrs.iter().enumerate().skip(addr + 1) {
                if let Ok(nb) = sh.backends.start_connect(
                    &ex.cfg,
                    ex.backend_id,
                    i,
                    *a,
                    idx,
                    &mut sh.gen,
                    &sh.registry,
                ) {
                    ex.backend = Some(nb);
                    ex.backend_addr = Some(*a);
                    return Ok(true);
                }
            }
            mark_down(ex, sh);
            Err(Break::Fail(Failure::ConnectFailed))
        }
    }
}

/// Moves request-body bytes from the client to the backend's queue, reading the client when
/// its buffered bytes are used up.
fn pump_request(
    conn: &mut Conn,
    ex: &mut Exchange,
    idx: usize,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let mut moved = false;
    let limit = ex.cfg.limits.request_body;
    let mut reads = 0;
    loop {
        if matches!(ex.req_body, ReqBody::Done) {
            return Ok(moved);
        }
        let Some((to_file, room)) = request_room(ex) else {
            return Ok(moved);
        };
        if conn.cin.is_empty() && !conn.ready.readable {
            return Ok(moved);
        }
        if !to_file && !sh.pool.can_fill() {
            if ex.holding {
                // Holding must never wait on the pool (held bodies only drain once sent):
                // the backend is asked now and the rest streams.
                ex.holding = false;
                return Ok(true);
            }
            conn.starve(idx, sh);
            return Ok(moved);
        }
        let take = conn.cin.len().min(room);
        let (used, done) = match &mut ex.req_body {
            ReqBody::Done => return Ok(moved),
            ReqBody::Length(rem) => {
                let n = take.min(usize::try_from(*rem).unwrap_or(usize::MAX));
                *rem -= n as u64;
                (n, *rem == 0)
            }
            ReqBody::Chunked(dec) => {
                let mut used = 0;
                while used < take && !dec.is_done() {
                    let d = dec
                        .decode(&conn.cin[used..take])
                        .map_err(|e| Break::Fail(Failure::BadRequestBody(e)))?;
                    if d.consumed == 0 {
                        break;
                    }
                    used += d.consumed;
                }
                if limit > 0 && dec.body_bytes() > limit {
                    return Err(Break::Fail(Failure::BodyTooLarge));
                }
                (used, dec.is_done())
            }
        };
        if used > 0 {
            ex.body_received += used as u64;
            if to_file {
                spill_request(conn, ex, used, sh)?;
            } else if ex.bout.push_slice(&mut sh.pool, &conn.cin[..used]).is_err() {
                // The reserve kept by `can_fill` holds `used` (at most one landing read).
                return Err(Break::Fail(Failure::PoolExhausted));
            }
            conn.cin.drain(..used);
            moved = true;
        }
        if done {
            ex.req_body = ReqBody::Done;
            return Ok(true);
        }
        if !conn.cin.is_empty() && used > 0 {
            continue;
        }
        if !conn.ready.readable {
            return Ok(moved);
        }
        if reads == PUMP_READS {
            // The rest on the next step: a fast uploader must not keep the reactor.
            return Ok(true);
        }
        reads += 1;
        match conn.read_client(sh) {
            Ok(0) => return Err(Break::Abort("client closed mid-request-body")),
            Ok(n) => {
                sh.metrics.bytes_from_clients.add(n as u64);
                moved = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.ready.readable = false;
                return Ok(moved);
            }
            Err(_) => return Err(Break::Abort("client read failed")),
        }
    }
}

/// Appends the first `used` bytes of `cin` to the request's temporary file, made on first use.
fn spill_request(
    conn: &Conn,
    ex: &mut Exchange,
    used: usize,
    sh: &mut Shared,
) -> Result<(), Break> {
    if ex.bspill.is_none() {
        let dir = ex.cfg.buffering.temp_path.as_deref().expect("spills");
        let spill = Spill::create(dir).map_err(|e| {
            sh.log.log(
                LogLevel::Error,
                Some(conn.peer),
                format_args!("cannot create a temporary file in {}: {e}", dir.display()),
            );
            Break::Fail(Failure::TempFile)
        })?;
        ex.bspill = Some(spill);
        sh.metrics.spilled_requests.incr();
    }
    sh.metrics.spilled_bytes.add(used as u64);
    let spill = ex.bspill.as_mut().expect("just made");
    spill.append(&conn.cin[..used]).map_err(|e| {
        sh.log.log(
            LogLevel::Error,
            Some(conn.peer),
            format_args!("temporary file write failed: {e}"),
        );
        Break::Fail(Failure::TempFile)
    })
}

/// What a backend I/O failure means at this point of the exchange.
/// Logs why TLS to the backend failed (a certificate that does not verify, an alert): the
/// answer the client gets (502, or a cut-off) does not say.
fn note_tls_failure(e: &io::Error, ex: &Exchange, sh: &mut Shared) {
    if e.kind() == io::ErrorKind::InvalidData {
        sh.metrics.backend_tls_errors.incr();
        sh.log.log(
            LogLevel::Error,
            None,
            format_args!("{}: {e}", ex.backend_name()),
        );
    }
}

fn backend_failed(ex: &Exchange) -> Break {
    if ex.reused && ex.t_first.is_none() && ex.replay.is_some() {
        Break::Retry("pooled backend connection failed before answering")
    } else if ex.head_sent {
        Break::Abort("backend connection failed mid-response")
    } else {
        Break::Fail(Failure::BackendClosed)
    }
}

fn send_to_backend(ex: &mut Exchange, sh: &mut Shared) -> Result<bool, Break> {
    let Some(b) = ex.backend else {
        return Ok(false);
    };
    let bc = &mut sh.backends.conns[b];
    if bc.stream.wants_write() && bc.ready.writable {
        // Sealed bytes of a TLS backend the socket did not take at once: the end of the
        // request, or the handshake. A failure shows on the next read.
        match bc.stream.write_pending() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => bc.ready.writable = false,
            Ok(_) | Err(_) => {}
        }
    }
    if !ex.request_unsent() || !bc.ready.writable {
        return Ok(false);
    }
    // A TLS backend's handshake goes first. Its not being done is no sign the socket is
    // full, so the writable flag stays: the read side's progress brings this back.
    let handshake = bc.stream.handshake();
    if let Ok(false) = handshake {
        return Ok(false);
    }
    let written = match handshake {
        Err(e) => Err(e),
        Ok(_) => match ex.bspill.as_mut().filter(|_| ex.bout.is_empty()) {
            Some(spill) if bc.stream.is_tls() => spill.copy_to(&mut bc.stream, &mut sh.landing),
            Some(spill) => spill.send_to(bc.stream.as_raw_fd()),
            None => ex.bout.write_to(&mut sh.pool, &mut bc.stream),
        },
    };
    if let Err(e) = &written {
        note_tls_failure(e, ex, sh);
    }
    let bc = &mut sh.backends.conns[b];
    match written {
        Ok(n) => {
            ex.t_req.get_or_insert(sh.now);
            sh.metrics.bytes_to_backends.add(n as u64);
            Ok(n > 0)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            bc.ready.writable = false;
            Ok(false)
        }
        Err(_)
            if ex.t_req.is_some() && !matches!(ex.req_body, ReqBody::Done)
                || matches!(ex.resp, Resp::Done { .. })
                || ex.head_sent =>
        {
            // The backend stopped reading the request, as one answering early (413, 401)
            // does before it closes: its answer, read or still to be read, stands. No more
            // of the request goes anywhere, so the client connection closes after it.
            ex.bout.clear(&mut sh.pool);
            ex.bspill = None;
            ex.req_body = ReqBody::Done;
            ex.keep_alive = false;
            ex.backend_keeps = false;
            Ok(true)
        }
        Err(_) => Err(backend_failed(ex)),
    }
}

/// Reads the backend: the response head into `bin`, then the body straight into the client's
/// blocks, as long as fewer than `resp_limit` bytes wait for the client and the pool has
/// blocks to spare (else the backend waits: back-pressure).
fn read_backend(
    conn: &mut Conn,
    ex: &mut Exchange,
    idx: usize,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let Some(b) = ex.backend else {
        return Ok(false);
    };
    if !sh.backends.conns[b].ready.readable
        || matches!(ex.resp, Resp::Done { .. } | Resp::Upgraded)
        || ex.backend_link_connecting()
    {
        return Ok(false);
    }
    if conn.pipe.is_some() && !matches!(ex.resp, Resp::Head) {
        return splice_backend(conn, ex, b, sh);
    }
    // A full temporary file, once sent, is let go: the response goes on through blocks, and
    // may spill again.
    let max_spill = ex.cfg.buffering.max_temp_file_size;
    if conn
        .spill
        .as_ref()
        .is_some_and(|s| s.written() >= max_spill && s.pending() == 0)
    {
        conn.spill = None;
    }
    // Past the memory budget the rest of the response spills to disk, where that is allowed;
    // otherwise (and past the spill budget) the backend waits.
    if conn.spill.is_none() && conn.cout.len() >= ex.resp_limit {
        if !ex.spill_ok || matches!(ex.resp, Resp::Head) {
            return Ok(false);
        }
        let dir = ex.cfg.buffering.temp_path.as_deref().expect("spill_ok");
        match Spill::create(dir) {
            Ok(spill) => {
                conn.spill = Some(spill);
                if !ex.spilled {
                    ex.spilled = true;
                    sh.metrics.spilled_responses.incr();
                }
            }
            Err(e) => {
                sh.log.log(
                    LogLevel::Error,
                    Some(conn.peer),
                    format_args!(
                        "cannot create a temporary file in {}: {e}; holding the backend instead",
                        dir.display()
                    ),
                );
                ex.spill_ok = false;
                return Ok(false);
            }
        }
    }
    if let Some(spill) = &conn.spill {
        if spill.written() >= max_spill {
            return Ok(false);
        }
    } else if !sh.pool.can_fill() {
        conn.starve(idx, sh);
        return Ok(false);
    }
    if matches!(ex.resp, Resp::Head) {
        let bc = &mut sh.backends.conns[b];
        let asked = sh.landing.len();
        return match read_some(&mut bc.stream, &mut ex.bin, &mut sh.landing) {
            Ok(0) if ex.bin.is_empty() => Err(backend_failed(ex)),
            Ok(0) => Err(Break::Fail(Failure::BadResponse(
                "connection closed inside the response head",
            ))),
            Ok(n) => {
                bc.note_read(n, asked);
                sh.metrics.bytes_from_backends.add(n as u64);
                ex.t_first.get_or_insert(sh.now);
                parse_head(conn, ex, sh)?;
                ex.peak = ex.peak.max(conn.cout.len());
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                bc.ready.readable = false;
                Ok(false)
            }
            Err(e) => {
                note_tls_failure(&e, ex, sh);
                Err(backend_failed(ex))
            }
        };
    }
    if conn.spill.is_some() || matches!(ex.resp, Resp::Body(RespBody::Dechunk(_))) {
        return read_via_landing(conn, ex, b, sh);
    }
    let bc = &mut sh.backends.conns[b];
    let block = sh.pool.block_size();
    // Bodies of every kind are read up to several blocks at a time (never just the bytes
    // still due), so that a short read tells the socket is drained; bytes past the end of a
    // body are cut off and make the connection unusable. A streamed response reads a block.
    let room = ex.resp_limit.saturating_sub(conn.cout.len()).max(block);
    let limit = room.min(MAX_READ_BLOCKS * block);
    let result = conn.cout.read_from(&mut sh.pool, &mut bc.stream, limit);
    match result {
        Ok((0, _)) => match ex.resp {
            Resp::Body(RespBody::UntilClose) => {
                ex.resp = Resp::Done { reusable: false };
                Ok(true)
            }
            _ => Err(Break::Abort(
                "backend closed before the end of the response body",
            )),
        },
        Ok((n, asked)) => {
            sh.backends.conns[b].note_read(n, asked);
            sh.metrics.bytes_from_backends.add(n as u64);
            ex.body_bytes += n as u64;
            body_in_tail(conn, ex, n, sh)?;
            ex.peak = ex.peak.max(conn.cout.len());
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            sh.backends.conns[b].ready.readable = false;
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
            conn.starve(idx, sh);
            Ok(false)
        }
        Err(_) => Err(Break::Abort("backend read failed mid-response")),
    }
}

/// Reads body bytes into the landing buffer and passes them through `body_slice`: for
/// de-chunking, and for responses spilling to disk.
fn read_via_landing(
    conn: &mut Conn,
    ex: &mut Exchange,
    b: usize,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let bc = &mut sh.backends.conns[b];
    let mut landing = mem::take(&mut sh.landing);
    // A spill file takes no more than its budget has left.
    let room = conn.spill.as_ref().map_or(usize::MAX, |s| {
        usize::try_from(
            ex.cfg
                .buffering
                .max_temp_file_size
                .saturating_sub(s.written()),
        )
        .unwrap_or(usize::MAX)
    });
    let asked = landing.len().min(room);
    let r = bc.stream.read(&mut landing[..asked]);
    if let Ok(n) = r {
        bc.note_read(n, asked);
    }
    let passed = match r {
        Ok(n) if n > 0 => {
            sh.metrics.bytes_from_backends.add(n as u64);
            body_slice(conn, ex, &landing[..n], sh)
        }
        _ => Ok(()),
    };
    ex.peak = ex.peak.max(conn.cout.len());
    sh.landing = landing;
    passed?;
    match r {
        Ok(0) => match ex.resp {
            Resp::Body(RespBody::UntilClose) => {
                ex.resp = Resp::Done { reusable: false };
                Ok(true)
            }
            _ => Err(Break::Abort(
                "backend closed before the end of the response body",
            )),
        },
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            sh.backends.conns[b].ready.readable = false;
            Ok(false)
        }
        Err(_) => Err(Break::Abort("backend read failed mid-response")),
    }
}

/// Queues body bytes for the client: in blocks, or, once the response has spilled, at the
/// end of its temporary file (bytes keep their order: the blocks are written first).
fn put(conn: &mut Conn, bytes: &[u8], sh: &mut Shared) -> Result<(), Break> {
    match &mut conn.spill {
        Some(spill) => {
            sh.metrics.spilled_bytes.add(bytes.len() as u64);
            spill
                .append(bytes)
                .map_err(|_| Break::Abort("temporary file write failed"))
        }
        None => conn.cout.push_slice(&mut sh.pool, bytes).map_err(exhausted),
    }
}

/// Blocks ran out mid-response (the reserve is sized so that this does not happen).
fn exhausted(_: Exhausted) -> Break {
    Break::Abort("buffer pool exhausted mid-response")
}

/// Accounts for `n` body bytes just read into the tail of the client's chain.
fn body_in_tail(
    conn: &mut Conn,
    ex: &mut Exchange,
    n: usize,
    sh: &mut Shared,
) -> Result<(), Break> {
    match &mut ex.resp {
        Resp::Body(RespBody::Length(rem)) => {
            let used = n.min(usize::try_from(*rem).unwrap_or(usize::MAX));
            if ex.fill.is_some() {
                let mut left = used;
                conn.cout.for_tail(n, |bytes| {
                    let here = bytes.len().min(left);
                    cached::Fill::write(&mut ex.fill, &bytes[..here]);
                    left -= here;
                    left > 0
                });
            }
            *rem -= used as u64;
            if *rem == 0 {
                let extra = n - used;
                conn.cout.truncate_tail(&mut sh.pool, extra);
                ex.body_bytes -= extra as u64;
                ex.resp = Resp::Done {
                    reusable: extra == 0,
                };
            }
        }
        Resp::Body(RespBody::Chunked(dec)) => {
            // The bytes just read may span blocks: they are validated a block at a time.
            let mut used = 0;
            let mut bad = false;
            conn.cout.for_tail(n, |bytes| {
                let mut off = 0;
                while off < bytes.len() && !dec.is_done() {
                    match dec.decode(&bytes[off..]) {
                        Ok(d) if d.consumed > 0 => {
                            if let Some(data) = d.data {
                                cached::Fill::write(
                                    &mut ex.fill,
                                    &bytes[off..][data.start..data.end],
                                );
                            }
                            off += d.consumed;
                        }
                        Ok(_) => break,
                        Err(_) => {
                            bad = true;
                            break;
                        }
                    }
                }
                used += off;
                !bad && !dec.is_done() && off == bytes.len()
            });
            if bad {
                return Err(Break::Abort("invalid chunked framing from backend"));
            }
            if dec.is_done() {
                let extra = n - used;
                conn.cout.truncate_tail(&mut sh.pool, extra);
                ex.body_bytes -= extra as u64;
                ex.resp = Resp::Done {
                    reusable: extra == 0,
                };
            }
        }
        Resp::Body(RespBody::UntilClose) => {
            if ex.fill.is_some() {
                conn.cout.for_tail(n, |bytes| {
                    cached::Fill::write(&mut ex.fill, bytes);
                    true
                });
            }
        }
        Resp::Body(RespBody::Dechunk(_)) | Resp::Head | Resp::Done { .. } | Resp::Upgraded => {
            unreachable!("bytes read into the tail only for these")
        }
    }
    Ok(())
}

/// Accounts for body bytes that arrived in a separate buffer (after the head, or for
/// de-chunking): copies what belongs to the body into the client's chain.
fn body_slice(
    conn: &mut Conn,
    ex: &mut Exchange,
    bytes: &[u8],
    sh: &mut Shared,
) -> Result<(), Break> {
    match &mut ex.resp {
        Resp::Body(RespBody::Length(rem)) => {
            let n = bytes.len().min(usize::try_from(*rem).unwrap_or(usize::MAX));
            cached::Fill::write(&mut ex.fill, &bytes[..n]);
            put(conn, &bytes[..n], sh)?;
            ex.body_bytes += n as u64;
            *rem -= n as u64;
            if *rem == 0 {
                ex.resp = Resp::Done {
                    reusable: n == bytes.len(),
                };
            }
        }
        Resp::Body(RespBody::Chunked(dec)) => {
            let mut used = 0;
            while used < bytes.len() && !dec.is_done() {
                let d = dec
                    .decode(&bytes[used..])
                    .map_err(|_| Break::Abort("invalid chunked framing from backend"))?;
                if let Some(data) = d.data {
                    cached::Fill::write(&mut ex.fill, &bytes[used..][data.start..data.end]);
                }
                if d.consumed == 0 {
                    break;
                }
                used += d.consumed;
            }
            put(conn, &bytes[..used], sh)?;
            ex.body_bytes += used as u64;
            if dec.is_done() {
                ex.resp = Resp::Done {
                    reusable: used == bytes.len(),
                };
            }
        }
        Resp::Body(RespBody::Dechunk(dec)) => {
            let mut used = 0;
            while used < bytes.len() && !dec.is_done() {
                let d = dec
                    .decode(&bytes[used..])
                    .map_err(|_| Break::Abort("invalid chunked framing from backend"))?;
                if let Some(data) = d.data {
                    let piece = &bytes[used..][data.start..data.end];
                    cached::Fill::write(&mut ex.fill, piece);
                    put(conn, piece, sh)?;
                    ex.body_bytes += piece.len() as u64;
                }
                if d.consumed == 0 {
                    break;
                }
                used += d.consumed;
            }
            if dec.is_done() {
                ex.resp = Resp::Done {
                    reusable: used == bytes.len(),
                };
            }
        }
        Resp::Body(RespBody::UntilClose) => {
            cached::Fill::write(&mut ex.fill, bytes);
            put(conn, bytes, sh)?;
            ex.body_bytes += bytes.len() as u64;
        }
        Resp::Head | Resp::Done { .. } | Resp::Upgraded => {}
    }
    Ok(())
}

/// Parses response heads in `bin`: interim (1xx) ones are passed on or dropped, the final one
/// is rewritten for the client and the bytes after it start the body.
fn parse_head(conn: &mut Conn, ex: &mut Exchange, sh: &mut Shared) -> Result<(), Break> {
    loop {
        let head = match parse_response_incremental(
            &ex.bin,
            MAX_RESPONSE_HEAD,
            MAX_RESPONSE_FIELDS,
            &mut ex.bin_progress,
        ) {
            Ok(Some(head)) => head,
            Ok(None) if ex.bin.len() >= MAX_RESPONSE_HEAD => {
                return Err(Break::Fail(Failure::BadResponse("response head too large")))
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(Break::Fail(Failure::BadResponse(e.reason()))),
        };
        if head.status == 101 {
            if !ex.upgrade {
                return Err(Break::Fail(Failure::BadResponse(
                    "101 Switching Protocols without an upgrade request",
                )));
            }
            return switch_protocols(conn, ex, head, sh);
        }
        if (100..200).contains(&head.status) {
            ex.interim += 1;
            if ex.interim > MAX_INTERIM_RESPONSES {
                return Err(Break::Fail(Failure::BadResponse(
                    "too many interim responses",
                )));
            }
            // 100 Continue was ours to send; other interim responses go to HTTP/1.1 clients.
            if head.status != 100 && ex.client_version == Version::Http11 {
                encode_for_client(conn, ex, &head, ClientFraming::AsIs, true, None, sh)?;
            }
            ex.bin.drain(..head.head_len);
            ex.bin_progress = HeadProgress::default();
            continue;
        }
        let body = response_body(&ex.bin, &head, ex.method)
            .map_err(|e| Break::Fail(Failure::BadResponse(e.reason())))?;
        let client_11 = ex.client_version == Version::Http11;
        let (framing, resp, delimited) = match body {
            ResponseBody::Empty => (ClientFraming::AsIs, Resp::Done { reusable: true }, true),
            ResponseBody::Length(0) => (
                ClientFraming::Length(0),
                Resp::Done { reusable: true },
                true,
            ),
            ResponseBody::Length(n) => (
                ClientFraming::Length(n),
                Resp::Body(RespBody::Length(n)),
                true,
            ),
            ResponseBody::Chunked if client_11 => (
                ClientFraming::Chunked,
                Resp::Body(RespBody::Chunked(ChunkedDecoder::default())),
                true,
            ),
            ResponseBody::Chunked => (
                ClientFraming::UntilClose,
                Resp::Body(RespBody::Dechunk(ChunkedDecoder::default())),
                false,
            ),
            ResponseBody::UntilClose => (
                ClientFraming::UntilClose,
                Resp::Body(RespBody::UntilClose),
                false,
            ),
        };
        let backend_keeps = head.is_keep_alive();
        let resp = match resp {
            Resp::Done { .. } => Resp::Done {
                reusable: backend_keeps,
            },
            other => other,
        };
        ex.keep_alive &= delimited && !sh.draining;
        ex.status = head.status;
        let keep_alive = ex.keep_alive;
        let streaming = !ex.cfg.backends[ex.backend_id].params.buffering || streams(&ex.bin, &head);
        if streaming {
            ex.resp_limit = sh.pool.block_size();
            ex.spill_ok = false;
            sh.metrics.streamed.incr();
        }
        // A failing backend (RFC 5861's errors) and a stale entry that stale-if-error lets
        // answer: the entry answers; the error's body is not read, so its connection closes.
        if matches!(head.status, 500 | 502 | 503 | 504)
            && ex.stale.is_some()
            && serve_stale(conn, ex, sh)
        {
            ex.resp = Resp::Done { reusable: false };
            ex.backend_keeps = false;
            let mut bytes = mem::take(&mut ex.bin);
            bytes.truncate(head.head_len);
            ex.resp_head = Some((bytes, head));
            return Ok(());
        }
        if ex.revalidating && head.status == 304 {
            revalidated(conn, ex, &head, sh)?;
            ex.resp = resp;
            let mut bytes = mem::take(&mut ex.bin);
            let stray = bytes.len() > head.head_len;
            bytes.truncate(head.head_len);
            ex.backend_keeps = backend_keeps && !stray;
            ex.resp_head = Some((bytes, head));
            return Ok(());
        }
        cache_response(ex, &head, &body, streaming, sh);
        encode_for_client(conn, ex, &head, framing, keep_alive, None, sh)?;
        ex.head_sent = true;
        // The bytes after the head start the body; they are passed on from where they are,
        // and the buffer then keeps only the head (its spans serve the access log).
        let mut bytes = mem::take(&mut ex.bin);
        let rest_len = bytes.len() - head.head_len;
        let stray = matches!(resp, Resp::Done { .. }) && rest_len > 0;
        ex.resp = resp;
        let sliced = if rest_len > 0 {
            body_slice(conn, ex, &bytes[head.head_len..], sh)
        } else {
            Ok(())
        };
        bytes.truncate(head.head_len);
        ex.resp_head = Some((bytes, head));
        sliced?;
        ex.backend_keeps = backend_keeps && !stray;
        if !streaming {
            choose_splice(conn, ex, sh);
        }
        return Ok(());
    }
}

/// The backend answered our validation of a stale entry with a `304`: the entry is refreshed
/// and the client answered from it, the head queued and the body to follow from its file.
fn revalidated(
    conn: &mut Conn,
    ex: &mut Exchange,
    head: &ResponseHead,
    sh: &mut Shared,
) -> Result<(), Break> {
    let cache = ex.cfg.cache.as_ref().expect("revalidating with a cache");
    let stale = ex
        .stale
        .take()
        .expect("a revalidated request holds its entry");
    ex.cache_key = None;
    let fields: Vec<(&[u8], &[u8])> = head
        .headers
        .iter()
        .map(|h| (h.name.of(&ex.bin), h.value.of(&ex.bin)))
        .collect();
    let req = ex.request();
    let req_fields: Vec<(&[u8], &[u8])> = req
        .headers
        .iter()
        .map(|h| (h.name.of(&ex.log.head), h.value.of(&ex.log.head)))
        .collect();
    let vhost = &ex.cfg.vhosts[ex.vhost];
    let host = req.authority().map(|s| s.of(&ex.log.head));
    let fallback = fallback_name(conn, vhost, host.is_some());
    let view = ClientView {
        scheme: conn.scheme,
        host,
        fallback: &fallback,
    };
    let rewrite = |value: &[u8]| reverse::rewrite(&vhost.reverse, value, &view);
    let framing = cached::Framing {
        method: ex.method,
        keep_alive: ex.keep_alive,
        client_version: ex.client_version,
        updating: &|| false,
        collapsed_after: None,
        rewrite: &rewrite,
    };
    let cached::Hit {
        head: out,
        body,
        status,
        body_len,
    } = cached::refresh(
        cache,
        stale,
        &fields,
        &req_fields,
        cached::unix_now(ex.log.wall),
        cached::unix_now(sh.wall),
        &framing,
        &sh.metrics,
    );
    conn.cout
        .push_slice(&mut sh.pool, &out)
        .map_err(|_| Break::Fail(Failure::PoolExhausted))?;
    conn.spill = body;
    ex.status = status;
    ex.body_bytes = body_len;
    ex.head_sent = true;
    ex.log.cache = Some("revalidated");
    Ok(())
}

/// What the cache makes of a response head: an unsafe method's non-error answer removes the
/// entry of its target (RFC 9111 §4.4); a cacheable GET's answer starts filling an entry when
/// the policy allows and its length is known; `Cache-Status` says which.
fn cache_response(
    ex: &mut Exchange,
    head: &ResponseHead,
    body: &ResponseBody,
    streaming: bool,
    sh: &mut Shared,
) {
    let Some(cache) = ex.cfg.cache.as_ref() else {
        return;
    };
    // A response came that is not a 304 nor served stale instead: the stale entry is no
    // longer needed (its file, if replaced meanwhile, is freed).
    ex.stale = None;
    if let Some(key) = ex.invalidate.take() {
        if policy::invalidates(ex.method, head.status) {
            // The target, and what Location and Content-Location name on the same origin.
            let named = head
                .headers
                .iter()
                .filter(|h| h.is(&ex.bin, b"location") || h.is(&ex.bin, b"content-location"))
                .filter_map(|h| cached::same_origin_key(&key, h.value.of(&ex.bin)));
            for key in std::iter::once(key.clone()).chain(named) {
                if cache.store.remove(&key).unwrap_or(false) {
                    sh.metrics.cache_invalidations.incr();
                }
            }
        }
    }
    let Some(key) = ex.cache_key.take() else {
        return;
    };
    let length = match body {
        ResponseBody::Empty => Some(0),
        ResponseBody::Length(n) => Some(*n),
        ResponseBody::Chunked | ResponseBody::UntilClose => None,
    };
    let req: Vec<(&[u8], &[u8])> = ex
        .request()
        .headers
        .iter()
        .map(|h| (h.name.of(&ex.log.head), h.value.of(&ex.log.head)))
        .collect();
    let resp: Vec<(&[u8], &[u8])> = head
        .headers
        .iter()
        .map(|h| (h.name.of(&ex.bin), h.value.of(&ex.bin)))
        .collect();
    let request_time = cached::unix_now(ex.log.wall);
    let response_time = cached::unix_now(sh.wall);
    if streaming {
        sh.metrics.cache_not_stored.incr();
        let slot = crate::metrics::NOT_STORED_REASONS
            .iter()
            .position(|r| *r == "streaming");
        if let Some(slot) = slot {
            sh.metrics.cache_not_stored_why[slot].incr();
        }
        release_lock(ex, sh);
        return;
    }
    let fill = cached::start_fill(
        cache,
        key,
        &req,
        head.status,
        &resp,
        length,
        request_time,
        response_time,
        &sh.metrics,
    );
    if fill.is_some() {
        // A body of unknown length may still grow past CacheMaxFileSize: "stored" is said
        // only of one that cannot.
        if length.is_some() {
            ex.cache_status.extend_from_slice(b"; stored");
        }
    } else {
        // Nothing will be stored: those waiting for it go on now.
        release_lock(ex, sh);
    }
    ex.fill = fill;
}

/// Smallest body `ProxySplice Auto` splices: below it a pipe's two extra system calls per
/// round cost more than the copy through a block they save (see the README's measurements).
const SPLICE_MIN: u64 = 64 * 1024;

/// Puts the rest of a `Content-Length` body on a pipe when `ProxySplice` says so: it goes
/// backend → pipe → client with splice(2), never copied into user space. Never on TLS, on
/// either side: the bytes must be opened or sealed in user space.
fn choose_splice(conn: &mut Conn, ex: &Exchange, sh: &mut Shared) {
    let Resp::Body(RespBody::Length(rem)) = ex.resp else {
        return;
    };
    let backend_tls = ex
        .backend
        .is_some_and(|b| sh.backends.conns[b].stream.is_tls());
    // A body being stored in the cache must pass through user space too.
    if conn.tls.is_some() || backend_tls || ex.fill.is_some() {
        return;
    }
    let wanted = match ex.cfg.buffering.splice {
        SpliceMode::Off => false,
        SpliceMode::On => true,
        SpliceMode::Auto => rem >= SPLICE_MIN && rem <= sh.pipes.capacity() as u64,
    };
    if wanted {
        if let Some(pipe) = sh.pipes.take() {
            conn.pipe = Some(pipe);
            sh.metrics.spliced.incr();
        }
    }
}

/// Splices body bytes from the backend into the exchange's pipe.
fn splice_backend(
    conn: &mut Conn,
    ex: &mut Exchange,
    b: usize,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let pipe = conn.pipe.as_mut().expect("splicing");
    let Resp::Body(RespBody::Length(rem)) = &mut ex.resp else {
        unreachable!("only Content-Length bodies are spliced")
    };
    if pipe.room() == 0 {
        return Ok(false);
    }
    let bc = &mut sh.backends.conns[b];
    let want = usize::try_from(*rem).unwrap_or(usize::MAX);
    // No short-read rule here: a pipe may run out of slots before bytes, so a short splice
    // does not say the socket is drained. Only EAGAIN into an empty pipe does.
    match pipe.fill_from(bc.stream.as_raw_fd(), want) {
        Ok((0, _)) => Err(Break::Abort(
            "backend closed before the end of the response body",
        )),
        Ok((n, _)) => {
            *rem -= n as u64;
            ex.body_bytes += n as u64;
            sh.metrics.bytes_from_backends.add(n as u64);
            ex.peak = ex.peak.max(conn.cout.len() + pipe.held());
            if *rem == 0 {
                // A connection to be reused must hold nothing past the body; splicing reads
                // exactly the body, so a peek tells.
                let mut probe = [0u8; 1];
                let clean = matches!(bc.stream.tcp().peek(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
                ex.resp = Resp::Done { reusable: clean };
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            if pipe.held() == 0 {
                bc.ready.readable = false;
            }
            Ok(false)
        }
        Err(_) => Err(Break::Abort("backend read failed mid-response")),
    }
}

/// Whether the backend asked for its response not to be buffered (`X-Accel-Buffering: no`,
/// nginx's convention for server-sent events and long polls).
fn streams(buf: &[u8], head: &ResponseHead) -> bool {
    head.headers.iter().any(|h| {
        h.name.of(buf).eq_ignore_ascii_case(b"x-accel-buffering")
            && h.value.of(buf).trim_ascii().eq_ignore_ascii_case(b"no")
    })
}

/// The backend agreed to switch protocols: its `101` goes to the client, the bytes after it
/// start the tunnel, and the exchange ends as one (the connection is not kept for HTTP).
fn switch_protocols(
    conn: &mut Conn,
    ex: &mut Exchange,
    head: ResponseHead,
    sh: &mut Shared,
) -> Result<(), Break> {
    let protocols = head
        .headers
        .iter()
        .find(|h| h.is(&ex.bin, b"upgrade"))
        .map(|h| h.value.of(&ex.bin).to_vec())
        .ok_or(Break::Fail(Failure::BadResponse("101 without Upgrade")))?;
    ex.status = 101;
    ex.keep_alive = false;
    encode_for_client(
        conn,
        ex,
        &head,
        ClientFraming::AsIs,
        false,
        Some(&protocols),
        sh,
    )?;
    ex.head_sent = true;
    let rest = ex.bin.split_off(head.head_len);
    conn.cout
        .push_slice(&mut sh.pool, &rest)
        .map_err(exhausted)?;
    ex.resp_head = Some((mem::take(&mut ex.bin), head));
    ex.resp = Resp::Upgraded;
    sh.metrics.tunnels.incr();
    Ok(())
}

/// The name `ProxyPassReverse` puts in rewritten URIs for a request without `Host`: the
/// server's, with the port unless it is the scheme's; empty when the request has a `Host`.
fn fallback_name(conn: &Conn, vhost: &crate::config::Vhost, has_host: bool) -> String {
    if has_host {
        String::new()
    } else if conn.local.port() == conn.scheme.default_port() {
        vhost.server_name.clone()
    } else {
        format!("{}:{}", vhost.server_name, conn.local.port())
    }
}

/// Queues a response head for the client, with `ProxyPassReverse` applied.
fn encode_for_client(
    conn: &mut Conn,
    ex: &Exchange,
    head: &ResponseHead,
    framing: ClientFraming,
    keep_alive: bool,
    upgrade: Option<&[u8]>,
    sh: &mut Shared,
) -> Result<(), Break> {
    if ex.request().simple {
        // HTTP/0.9: the body alone, ended by the close.
        return Ok(());
    }
    let vhost = &ex.cfg.vhosts[ex.vhost];
    let req = ex.request();
    let host = req.authority().map(|s| s.of(&ex.log.head));
    let fallback = fallback_name(conn, vhost, host.is_some());
    let view = ClientView {
        scheme: conn.scheme,
        host,
        fallback: &fallback,
    };
    let rewrite = |value: &[u8]| reverse::rewrite(&vhost.reverse, value, &view);
    let via_by = match vhost.via {
        ViaSetting::Off | ViaSetting::Block => String::new(),
        ViaSetting::On | ViaSetting::Full => format!("{}:{}", vhost.server_name, conn.local.port()),
    };
    let mut extra = Vec::new();
    if !ex.cache_status.is_empty() {
        extra.extend_from_slice(&ex.cache_status);
        extra.extend_from_slice(b"\r\n");
    }
    let client = ClientResponse {
        extra: &extra,
        framing,
        keep_alive,
        upgrade,
        client_version: ex.client_version,
        via: via_mode(vhost.via),
        via_by: via_by.as_bytes(),
        rewrite: &rewrite,
    };
    let mut out = mem::take(&mut sh.scratch);
    out.clear();
    encode_client_response(&ex.bin, head, &client, &mut out);
    let before = conn.cout.len();
    let pushed = conn.cout.push_slice(&mut sh.pool, &out);
    sh.scratch = out;
    pushed.map_err(|Exhausted| {
        // Not a byte of this head was written yet (the client is written after the round):
        // the part that fitted is taken back, and the whole answer is still ours to give.
        conn.cout.truncate(&mut sh.pool, before);
        Break::Fail(Failure::PoolExhausted)
    })
}

/// Releases the backend once the response is in, and ends the exchange once the client has
/// every byte.
fn finish_if_done(
    conn: &mut Conn,
    mut ex: Box<Exchange>,
    moved: bool,
    sh: &mut Shared,
) -> (Phase, bool) {
    if matches!(ex.resp, Resp::Upgraded) {
        return (into_tunnel(conn, ex, sh), true);
    }
    let Resp::Done { reusable } = ex.resp else {
        return (Phase::Proxy(ex), moved);
    };
    let mut moved = moved;
    ex.t_last.get_or_insert(sh.now);
    if let Some(b) = ex.backend.take() {
        let request_sent = matches!(ex.req_body, ReqBody::Done) && !ex.request_unsent();
        if !request_sent {
            // The backend answered before taking the whole request: the rest goes nowhere,
            // so none of it is read any more, and the connection closes after the answer.
            ex.keep_alive = false;
            ex.bout.clear(&mut sh.pool);
            ex.bspill = None;
            ex.req_body = ReqBody::Done;
        }
        ex.t_release = Some(sh.now);
        if sh.access.wants_send_queue(ex.vhost) {
            ex.send_queue = crate::sys::send_queue(conn.client.as_raw_fd())
                .ok()
                .map(|n| n as u64);
        }
        ex.held_at_release = conn.cout.len()
            + conn.pipe.as_ref().map_or(0, |p| p.held())
            + conn
                .spill
                .as_ref()
                .map_or(0, |s| usize::try_from(s.pending()).unwrap_or(usize::MAX));
        // A TLS connection's reads never proved its socket empty: it is pooled only when a
        // last read finds nothing after the response.
        let quiet = sh.backends.conns[b].stream.is_quiet();
        let waiter = sh.backends.release(
            b,
            reusable && request_sent && ex.backend_keeps && quiet,
            &ex.cfg,
            sh.now,
            &mut sh.timers,
            &sh.registry,
        );
        wake(waiter, sh);
        moved = true;
    }
    if conn.owes() {
        return (Phase::Proxy(ex), moved);
    }
    release_lock(&mut ex, sh);
    conn.spill = None;
    if let Some(pipe) = conn.pipe.take() {
        sh.pipes.give(pipe);
    }
    let backend = backend_log(&ex, Some(sh.now));
    record_timeline(&ex, sh);
    let next_keep = ex.keep_alive && matches!(ex.req_body, ReqBody::Done);
    conn.exchanges += 1;
    conn.log_exchange(
        &ex.log,
        ex.vhost,
        ex.status,
        ex.body_bytes,
        Some(backend),
        sh,
    );
    if next_keep {
        (conn.next_head(sh), true)
    } else {
        (conn.start_linger(sh), true)
    }
}

/// The backend's side of the exchange for the access log; `done` is when the client took the
/// last byte (`None` for a switch to a tunnel, which has no such moment).
fn backend_log(ex: &Exchange, done: Option<Instant>) -> BackendLog<'_> {
    let t = |at: Option<Instant>, from: Option<Instant>| Some(at?.saturating_duration_since(from?));
    BackendLog {
        name: &ex.cfg.backends[ex.backend_id].name,
        addr: ex.backend_addr,
        status: (ex.status != 0).then_some(ex.status),
        connect: t(ex.t_connected, Some(ex.t_connect)),
        first_byte: t(ex.t_first, ex.t_req),
        hold: t(ex.t_release, ex.t_req),
        last_byte: t(ex.t_last, ex.t_req),
        drain: t(done, ex.t_first),
        saved: t(done, ex.t_release),
        peak: ex.peak as u64,
        held_at_release: ex.held_at_release as u64,
        send_queue: ex.send_queue,
        head: ex.resp_head.as_ref(),
    }
}

/// The exchange switched protocols: it is logged as a `101`, and its backend connection goes
/// on as one end of a tunnel.
fn into_tunnel(conn: &mut Conn, mut ex: Box<Exchange>, sh: &mut Shared) -> Phase {
    let backend = ex
        .backend
        .take()
        .expect("a switched exchange has its backend");
    ex.bout.clear(&mut sh.pool);
    sh.metrics.count_status(ex.status);
    let log = backend_log(&ex, None);
    conn.exchanges += 1;
    conn.log_exchange(&ex.log, ex.vhost, ex.status, 0, Some(log), sh);
    let idle = ex.cfg.backends[ex.backend_id].params.timeout;
    Phase::Tunnel(Box::new(Tunnel::new(backend, idle)))
}

/// Adds a completed exchange's timeline (DESIGN.md §4) to its route's histograms; `t_done` is
/// now, the last byte having just been accepted by the client socket.
fn record_timeline(ex: &Exchange, sh: &mut Shared) {
    let m = &sh.metrics;
    m.proxied.incr();
    m.count_status(ex.status);
    if !Arc::ptr_eq(&ex.cfg, &sh.cfg) {
        // Route slots are numbered by the configuration now in force.
        return;
    }
    let route = m.route(ex.route_slot);
    let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let since =
        |from: Option<Instant>, to: Instant| from.map(|f| us(to.saturating_duration_since(f)));
    route.exchanges.incr();
    if let (Some(req), Some(release)) = (ex.t_req, ex.t_release) {
        route
            .hold_us
            .record(us(release.saturating_duration_since(req)));
        route
            .saved_us
            .record(us(sh.now.saturating_duration_since(release)));
    }
    if let Some(drain) = since(ex.t_first, sh.now) {
        route.drain_us.record(drain);
    }
    route.peak_bytes.record(ex.peak as u64);
    route
        .held_at_release_bytes
        .record(ex.held_at_release as u64);
}
