//! Admission: from the configuration, the facts of the connection a request came on and its
//! parsed head to a plan (virtual host, route, backend, forward target) or a refusal. `admit`
//! is a pure function of those, tested by a table; `start` acts on its plan: the cache, the
//! backend request, the exchange.

use std::borrow::Cow;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::super::reply::Failure;
use super::cache::{self, Settled};
use super::stage::{Stage, Wait};
use super::{
    acquire, answer, via_by, via_mode, Client, Exchange, Next, Ours, ReqLog, Resp, Shared,
};
use crate::buf::Chain;
use crate::config::{BackendId, Config};
use crate::http1::chunked::ChunkedLimits;
use crate::http1::request::{RequestBody, RequestHead, TargetForm};
use crate::http1::BodyReader;
use crate::http1::{HeadProgress, Method, Version};
use crate::proxy::forward::{encode_backend_request, BackendRequest, Forwarded};
use crate::proxy::path;
use crate::proxy::route::{self, Decision};

/// The target of a forward-proxied request: an absolute-form URL's host, or CONNECT's.
#[derive(Debug, PartialEq, Eq)]
pub struct Forward {
    pub(super) host: String,
    pub(super) port: u16,
    /// Its addresses: at once for an IP address, else once the resolver answers.
    pub(super) addrs: Vec<SocketAddr>,
    /// The resolver answered (no addresses then means the name did not resolve).
    pub(super) answered: bool,
    /// CONNECT: the connection becomes a tunnel once connected.
    pub(super) tunnel: bool,
}

/// What admission knows of the connection a request came on.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    pub local: SocketAddr,
    pub peer: IpAddr,
    /// `None` on a plain connection; on TLS, the SNI name the client sent, if any.
    pub tls_sni: Option<Option<&'a str>>,
}

/// Where an admitted request goes.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub vhost: usize,
    pub backend: BackendId,
    /// The path (and query) to ask the backend for.
    pub path: Vec<u8>,
    /// The route's slot in the metrics.
    pub route_slot: usize,
    /// Where a forward-proxied request goes; `None` for a routed one.
    pub forward: Option<Forward>,
}

/// A request admission turned away, with the virtual host it is answered (and logged) for.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub failure: Failure,
    pub vhost: usize,
}

/// Decides where a parsed request goes, or why it goes nowhere: the virtual host (by the local
/// address and `Host`, CONNECT's by its target), the SNI check, the forward-proxy rules, the
/// body limit, dot segments, then the routes. No I/O, no clock.
pub fn admit(
    cfg: &Config,
    facts: &Facts<'_>,
    head: &RequestHead,
    buf: &[u8],
) -> Result<Plan, Refusal> {
    let host = head.authority().map(|s| s.of(buf));
    // CONNECT's server is its target, whatever its Host says (so a client cannot pick the
    // virtual host whose forward-proxy rules suit it).
    let host_for_vhost = match head.form {
        TargetForm::Authority => Some(head.target.of(buf)),
        _ => host,
    };
    let vhost_idx = route::select_vhost(cfg, facts.local, host_for_vhost);
    let vhost = &cfg.vhosts[vhost_idx];
    let refuse = |failure| Refusal {
        failure,
        vhost: vhost_idx,
    };
    let refused = match head.form {
        TargetForm::Absolute { authority } => {
            let authority = authority.of(buf);
            let is_https = head
                .target
                .of(buf)
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"https://"));
            let default_port = if is_https { 443 } else { 80 };
            !route::is_local_authority(cfg, facts.local, authority)
                || vhost.proxy_requests
                    && !route::names_port(authority, default_port, facts.local.port())
        }
        TargetForm::Authority => true,
        TargetForm::Origin | TargetForm::Asterisk => false,
    };
    let forwarding = refused || head.method == Method::Connect;
    // On TLS, the host the request names must be the one the handshake's SNI name chose (the
    // certificate the client checked is that host's); under SSLStrictSNIVHostCheck, a client
    // without SNI reaches no strict host either.
    let misdirected = facts.tls_sni.is_some_and(|sni| {
        match sni.map(|name| route::select_vhost(cfg, facts.local, Some(name.as_bytes()))) {
            Some(sni) => sni != vhost_idx,
            None => is_strict(cfg, vhost_idx),
        }
    });
    if misdirected {
        return Err(refuse(Failure::Misdirected));
    } else if forwarding && !vhost.proxy_requests {
        return Err(refuse(Failure::ForwardProxyRefused));
    } else if forwarding && !vhost.proxy_access.allows(facts.peer) {
        return Err(refuse(Failure::ForwardProxyDenied));
    } else if matches!(head.form, TargetForm::Asterisk) {
        return Err(refuse(Failure::ServerOptions));
    } else if matches!(head.body, RequestBody::Length(n) if cfg.limits.request_body > 0 && n > cfg.limits.request_body)
    {
        return Err(refuse(Failure::BodyTooLarge));
    }
    let target = origin_target(head, buf);
    if forwarding {
        let (backend, path, forward) =
            forward_target(cfg, vhost, head, buf, &target).map_err(refuse)?;
        return Ok(Plan {
            vhost: vhost_idx,
            backend,
            path,
            route_slot: forward_slot(cfg),
            forward: Some(forward),
        });
    }
    if path::has_dot_segment(&target) {
        return Err(refuse(Failure::DotSegment));
    }
    match route_canonically(vhost, &target) {
        Decision::Proxy {
            backend,
            path,
            route,
        } => Ok(Plan {
            vhost: vhost_idx,
            backend,
            path,
            route_slot: route_base(cfg, vhost_idx) + route,
            forward: None,
        }),
        Decision::Excluded { .. } => Err(refuse(Failure::Excluded)),
        Decision::NoRoute => Err(refuse(Failure::NoRoute)),
    }
}

/// The request's path and query as a path that starts with `/`: `http://host` and
/// `http://host?q` mean the path `/` (RFC 9112 §3.2.2).
pub(super) fn origin_target<'a>(head: &RequestHead, buf: &'a [u8]) -> Cow<'a, [u8]> {
    if head.path_lacks_slash(buf) {
        Cow::Owned([b"/", head.path.of(buf)].concat())
    } else {
        Cow::Borrowed(head.path.of(buf))
    }
}

/// Whether virtual host `vhost` has `SSLStrictSNIVHostCheck On`.
pub fn is_strict(cfg: &Config, vhost: usize) -> bool {
    cfg.vhosts[vhost].tls.as_ref().is_some_and(|t| t.strict_sni)
}

/// Whether a request's body is still to be read after its head.
pub(super) fn body_unread(head: &RequestHead) -> bool {
    !matches!(head.body, RequestBody::None | RequestBody::Length(0))
}

/// Starts the exchange of a parsed request: admits it, lets the cache answer or take part,
/// encodes the backend request, and gets a backend connection. Answers by itself when the
/// request cannot be proxied.
pub fn start(client: &mut impl Client, mut log: ReqLog, sh: &mut Shared) -> Next {
    let cfg = Arc::clone(&sh.cfg);
    let head = log.parsed.as_ref().expect("a started request is parsed");
    let buf = &log.head;
    let body_unread = body_unread(head);
    let facts = Facts {
        local: client.local(),
        peer: client.peer().ip(),
        tls_sni: client.tls_sni(),
    };
    let plan = match admit(&cfg, &facts, head, buf) {
        Ok(plan) => plan,
        Err(Refusal { failure, vhost }) => return answer(failure, log, vhost, body_unread),
    };
    let Plan {
        vhost: vhost_idx,
        backend: backend_id,
        path,
        route_slot,
        forward,
    } = plan;
    let vhost = &cfg.vhosts[vhost_idx];
    let host = head.authority().map(|s| s.of(buf));
    let keep_alive = client.may_keep_alive(head, sh);
    // The cache: a cacheable request may be answered from it; an unsafe one invalidates.
    let part = match cache::consult(
        client,
        &cfg,
        vhost_idx,
        forward.is_some(),
        head,
        buf,
        keep_alive,
        sh,
    ) {
        Err(Settled::Hit(hit)) => return cache::answer_hit(hit, log, vhost_idx, keep_alive),
        Err(Settled::Purged {
            head,
            status,
            body_len,
            after,
        }) => {
            return Next::Ours(Ours {
                head,
                status,
                body_len,
                body: None,
                log,
                vhost: Some(vhost_idx),
                after,
            })
        }
        Err(Settled::Refuse(failure)) => return answer(failure, log, vhost_idx, body_unread),
        Ok(part) => part,
    };
    log.cache = part.note;
    let cache::Part {
        key: cache_key,
        invalidate,
        status: cache_status,
        conditions,
        mut lock,
        wait,
        stale,
        background,
        missed,
        note: _,
    } = part;
    if let Some(wait) = sh.backends.down_for(backend_id, sh.clock.now) {
        // (After the cache: a fresh entry answers even while its backend is down, and so does
        // one within stale-while-revalidate, without an update.)
        if let Some(bg) = background {
            let keep_alive = client.may_keep_alive(head, sh);
            return cache::serve_background(bg.hit, None, log, vhost_idx, keep_alive, sh);
        }
        cache::release_lock_of(&mut lock, sh);
        return answer(Failure::BackendDown(wait), log, vhost_idx, body_unread);
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
    let via_by = via_by(vhost, client.local());
    let facts = Forwarded {
        client_ip: client.peer().ip(),
        host,
        server: vhost.server_name.as_bytes(),
        proto: client.scheme().as_str().as_bytes(),
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
    let mut out = mem::take(&mut sh.io.scratch);
    out.clear();
    // CONNECT sends the backend nothing of its own: the tunnel starts at the connect.
    if head.method != Method::Connect {
        encode_backend_request(buf, head, &request, &mut out);
    }
    if let Some(bg) = background {
        // (A simulated reactor's backends exist only in its harness: no thread can reach them,
        // so it starts no update.)
        let lock = bg.lock.filter(|_| sh.backends.dialer.reaches_network());
        let job = lock.map(|lock| super::super::refresh::Job {
            cfg: Arc::clone(&cfg),
            backend: backend_id,
            request: out.clone(),
            key: bg.key,
            req: log
                .fields()
                .into_iter()
                .map(|(name, value)| (name.to_vec(), value.to_vec()))
                .collect(),
            stale: bg.stale,
            lock,
            deadline: sh.clock.now + bg.lock_age,
            request_time: super::super::cached::unix_now(sh.clock.wall),
            collector: sh.cache.collector.clone(),
        });
        sh.io.scratch = out;
        let keep_alive = client.may_keep_alive(head, sh);
        return cache::serve_background(bg.hit, job, log, vhost_idx, keep_alive, sh);
    }
    let mut bout = Chain::default();
    let mut pushed = bout.push_slice(&mut sh.io.pool, &out);
    let replay =
        (head.method.is_idempotent() && !body_unread && forward.is_none()).then(|| out.clone());
    sh.io.scratch = out;
    if head.expect_continue
        && body_unread
        && head.version == Version::Http11
        && client.received().is_empty()
    {
        pushed = pushed.and(
            client
                .out()
                .chain
                .push_slice(&mut sh.io.pool, b"HTTP/1.1 100 Continue\r\n\r\n"),
        );
    }
    if pushed.is_err() {
        bout.clear(&mut sh.io.pool);
        sh.obs.metrics.pool_refused.incr();
        cache::release_lock_of(&mut lock, sh);
        return answer(Failure::PoolExhausted, log, vhost_idx, body_unread);
    }
    let buffering = &cfg.buffering;
    let resp_limit = if backend.params.buffering {
        buffering.response_buffer_size.max(sh.io.pool.block_size())
    } else {
        sh.io.pool.block_size()
    };
    let spill_ok = backend.params.buffering && buffering.spills();
    let req_body = BodyReader::new(head.body.into(), ChunkedLimits::DEFAULT);
    let stage = match wait {
        Some(wait) => Stage::Waiting(wait),
        None if buffering.request_buffering && body_unread => Stage::Holding,
        None => Stage::Ready,
    };
    let ex = Box::new(Exchange {
        stage,
        keep_alive: client.may_keep_alive(head, sh),
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
        t_connect: sh.clock.now,
        t_connected: None,
        t_req: None,
        t_first: None,
        t_last: None,
        t_release: None,
        resp_limit,
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
    match &ex.stage {
        Stage::Waiting(Wait::CacheLock(key)) => {
            sh.cache.locks.wait(key, client.token());
            Next::Continue(ex)
        }
        Stage::Ready => acquire(client, ex, false, sh),
        _ => Next::Continue(ex),
    }
}

/// Where a forward-proxied request goes: CONNECT's `host:port` (a port `AllowCONNECT` lists),
/// or an absolute-form `http://` URL's host (port 80 unless given) and origin-form `path`.
/// Returns the forward backend entry, the path to send, and the target.
pub(super) fn forward_target(
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
        answered: false,
        tunnel,
    };
    let path = if tunnel { Vec::new() } else { path.to_vec() };
    Ok((backend, path, forward))
}

/// `host[:port]` or `[v6]:port` (already checked by the request parser) into the host
/// (without brackets, lowercased) and the port; `None` without a port and no default, or
/// with a port of 0.
pub(super) fn split_authority(
    authority: &[u8],
    default_port: Option<u16>,
) -> Option<(String, u16)> {
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
fn forward_slot(cfg: &Config) -> usize {
    route_base(cfg, cfg.vhosts.len())
}

/// The metrics slot of the first route of virtual host `vhost`: routes are numbered across
/// virtual hosts in configuration order.
fn route_base(cfg: &Config, vhost: usize) -> usize {
    cfg.vhosts[..vhost].iter().map(|v| v.routes.len()).sum()
}

/// Routes the request as its canonical spelling decides, forwarding the raw bytes when the
/// raw spelling takes the same route (the normal case), the decoded ones otherwise: a
/// percent-encoded spelling can never route around a rule.
pub(super) fn route_canonically(vhost: &crate::config::Vhost, target: &[u8]) -> Decision {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::request::{parse_request, Limits};

    /// The main server on 127.0.0.1 with two routes and an exclusion; on 127.0.0.2 a forward
    /// proxy (the default host there) and a named host with a route of its own.
    const CONF: &str = "\
Listen 127.0.0.1:8080
Listen 127.0.0.2:8080
ServerName www.example.com
LimitRequestBody 1000
ProxyPass /static/ !
ProxyPass /app/ http://127.0.0.1:9000/app/
<VirtualHost 127.0.0.2:8080>
    ServerName proxy.example.com
    ProxyRequests On
    AllowCONNECT 443
</VirtualHost>
<VirtualHost 127.0.0.2:8080>
    ServerName api.example.com
    ProxyPass /v1/ http://127.0.0.1:9001/
</VirtualHost>
";

    const MAIN: &str = "127.0.0.1:8080";
    const HOSTS: &str = "127.0.0.2:8080";

    /// What a row expects: a plan to this backend port with this path (and a forward target
    /// `host:port`, tunnel or not), or a refusal.
    #[derive(Debug)]
    enum Want {
        Routed(usize, u16, &'static str),
        Forwarded(usize, &'static str, u16, bool),
        Refused(Failure, usize),
    }

    /// One row of the table: local address, peer, TLS SNI, the request, what it gets.
    type Row<'a> = (&'a str, &'a str, Option<Option<&'a str>>, &'a str, Want);

    fn admit_text(
        cfg: &Config,
        local: &str,
        peer: &str,
        sni: Option<Option<&str>>,
        req: &str,
    ) -> Result<Plan, Refusal> {
        let buf = req.as_bytes();
        let head = parse_request(buf, &Limits::APACHE_DEFAULTS)
            .expect("a valid request")
            .expect("a whole request");
        let facts = Facts {
            local: local.parse().unwrap(),
            peer: peer.parse().unwrap(),
            tls_sni: sni,
        };
        admit(cfg, &facts, &head, buf)
    }

    #[test]
    fn admission_table() {
        let cfg = crate::config::parse_str(CONF, std::path::Path::new("admit.conf"))
            .expect("the table's configuration parses")
            .config;
        use Want::*;
        let rows: &[Row<'_>] = &[
            (
                MAIN,
                "127.0.0.1",
                None,
                "GET /app/x?y HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
                Routed(0, 9000, "/app/x?y"),
            ),
            // A percent-encoded spelling routes as its decoded one, and is forwarded decoded.
            (
                MAIN,
                "127.0.0.1",
                None,
                "GET /%61pp/x HTTP/1.1\r\nHost: a\r\n\r\n",
                Routed(0, 9000, "/app/x"),
            ),
            (
                MAIN,
                "127.0.0.1",
                None,
                "GET /static/a HTTP/1.1\r\nHost: a\r\n\r\n",
                Refused(Failure::Excluded, 0),
            ),
            (
                MAIN,
                "127.0.0.1",
                None,
                "GET /elsewhere HTTP/1.1\r\nHost: a\r\n\r\n",
                Refused(Failure::NoRoute, 0),
            ),
            (
                MAIN,
                "127.0.0.1",
                None,
                "GET /app/../etc HTTP/1.1\r\nHost: a\r\n\r\n",
                Refused(Failure::DotSegment, 0),
            ),
            (
                MAIN,
                "127.0.0.1",
                None,
                "POST /app/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n",
                Refused(Failure::BodyTooLarge, 0),
            ),
            (
                MAIN,
                "127.0.0.1",
                None,
                "POST /app/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n",
                Routed(0, 9000, "/app/x"),
            ),
            (
                MAIN,
                "127.0.0.1",
                None,
                "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
                Refused(Failure::ServerOptions, 0),
            ),
            // Not ours, and this host is no forward proxy.
            (
                MAIN,
                "127.0.0.1",
                None,
                "GET http://elsewhere.test/ HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n",
                Refused(Failure::ForwardProxyRefused, 0),
            ),
            (
                MAIN,
                "127.0.0.1",
                None,
                "CONNECT elsewhere.test:443 HTTP/1.1\r\nHost: elsewhere.test:443\r\n\r\n",
                Refused(Failure::ForwardProxyRefused, 0),
            ),
            // Name-based hosts: a name, its routes (after the main server's).
            (
                HOSTS,
                "127.0.0.1",
                None,
                "GET /v1/users HTTP/1.1\r\nHost: API.example.com.\r\n\r\n",
                Routed(2, 9001, "/users"),
            ),
            (
                HOSTS,
                "127.0.0.1",
                None,
                "GET /app/z HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
                Routed(2, 9000, "/app/z"),
            ),
            // An absolute-form URL naming one of our hosts is routed, not forwarded.
            (
                HOSTS,
                "127.0.0.1",
                None,
                "GET http://api.example.com/v1/a HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
                Routed(2, 9001, "/a"),
            ),
            // The forward proxy: absolute-form http:// URLs, CONNECT to AllowCONNECT's ports.
            (
                HOSTS,
                "127.0.0.1",
                None,
                "GET http://example.org:8081/p?q HTTP/1.1\r\nHost: example.org:8081\r\n\r\n",
                Forwarded(1, "example.org", 8081, false),
            ),
            (
                HOSTS,
                "127.0.0.1",
                None,
                "GET http://EXAMPLE.org HTTP/1.1\r\nHost: example.org\r\n\r\n",
                Forwarded(1, "example.org", 80, false),
            ),
            (
                HOSTS,
                "127.0.0.1",
                None,
                "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n",
                Forwarded(1, "example.org", 443, true),
            ),
            // CONNECT's host is its target, whatever its Host says.
            (
                HOSTS,
                "127.0.0.1",
                None,
                "CONNECT example.org:443 HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
                Forwarded(1, "example.org", 443, true),
            ),
            (
                HOSTS,
                "127.0.0.1",
                None,
                "CONNECT example.org:22 HTTP/1.1\r\nHost: example.org:22\r\n\r\n",
                Refused(Failure::ConnectPortRefused, 1),
            ),
            (
                HOSTS,
                "127.0.0.1",
                None,
                "GET https://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n",
                Refused(Failure::ForwardScheme, 1),
            ),
            // Without a <Proxy "*"> section, only loopback may use the forward proxy.
            (
                HOSTS,
                "192.0.2.9",
                None,
                "GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n",
                Refused(Failure::ForwardProxyDenied, 1),
            ),
            // TLS: the Host must select the host the SNI name selected.
            (
                HOSTS,
                "127.0.0.1",
                Some(Some("api.example.com")),
                "GET /v1/a HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
                Routed(2, 9001, "/a"),
            ),
            (
                HOSTS,
                "127.0.0.1",
                Some(Some("api.example.com")),
                "GET /v1/a HTTP/1.1\r\nHost: proxy.example.com\r\n\r\n",
                Refused(Failure::Misdirected, 1),
            ),
            (
                HOSTS,
                "127.0.0.1",
                Some(None),
                "GET /v1/a HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
                Routed(2, 9001, "/a"),
            ),
        ];
        for (local, peer, sni, req, want) in rows {
            let got = admit_text(&cfg, local, peer, *sni, req);
            let line = req.lines().next().unwrap_or_default();
            match (want, got) {
                (Routed(vhost, port, path), Ok(plan)) => {
                    assert_eq!(plan.vhost, *vhost, "{line}");
                    assert_eq!(
                        cfg.backends[plan.backend].authority,
                        format!("127.0.0.1:{port}"),
                        "{line}"
                    );
                    assert_eq!(plan.path, path.as_bytes(), "{line}");
                    assert_eq!(plan.forward, None, "{line}");
                    let base: usize = cfg.vhosts[..*vhost].iter().map(|v| v.routes.len()).sum();
                    assert!(
                        (base..base + cfg.vhosts[*vhost].routes.len()).contains(&plan.route_slot),
                        "{line}"
                    );
                }
                (Forwarded(vhost, host, port, tunnel), Ok(plan)) => {
                    assert_eq!(plan.vhost, *vhost, "{line}");
                    assert_eq!(Some(plan.backend), cfg.forward_backend, "{line}");
                    assert_eq!(plan.route_slot, forward_slot(&cfg), "{line}");
                    let forward = plan.forward.expect("a forward target");
                    assert_eq!(
                        (forward.host.as_str(), forward.port, forward.tunnel),
                        (*host, *port, *tunnel),
                        "{line}"
                    );
                    assert!(
                        forward.addrs.is_empty() && !forward.answered,
                        "a name is resolved later: {line}"
                    );
                }
                (Refused(failure, vhost), Err(refusal)) => {
                    assert_eq!(&refusal.failure, failure, "{line}");
                    assert_eq!(refusal.vhost, *vhost, "{line}");
                }
                (want, got) => panic!("{line}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_forwarded_ip_literal_needs_no_resolver() {
        let cfg = crate::config::parse_str(CONF, std::path::Path::new("admit.conf"))
            .unwrap()
            .config;
        let req = "GET http://192.0.2.7/x HTTP/1.1\r\nHost: 192.0.2.7\r\n\r\n";
        let plan = admit_text(&cfg, HOSTS, "127.0.0.1", None, req).expect("forwarded");
        let forward = plan.forward.expect("a forward target");
        assert_eq!(forward.addrs, ["192.0.2.7:80".parse().unwrap()]);
        assert_eq!(plan.path, b"/x");
    }
}
