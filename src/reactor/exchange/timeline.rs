//! The record an exchange leaves: the request's log record (its head as the client sent it),
//! the exchange's times (DESIGN.md §4) added to its route's histograms, and its fields for the
//! access log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::super::Shared;
use super::Exchange;
use crate::http1::field_pairs;
use crate::http1::request::RequestHead;
use crate::http1::response::ResponseHead;
use crate::log::format::BackendFields;

/// A request's head kept for the access log, with when it began.
#[derive(Debug)]
pub struct ReqLog {
    /// The head bytes as the client sent them (or the start of an unparsable one).
    pub head: Vec<u8>,
    pub parsed: Option<RequestHead>,
    pub started: Instant,
    pub wall: SystemTime,
    /// What the cache did for the request (`%{cache}x`), when it took part.
    pub cache: Option<&'static str>,
}

impl ReqLog {
    pub fn request_line(&self) -> &[u8] {
        let line = self.head.split(|&b| b == b'\n').next().unwrap_or(&[]);
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        let parsed = self.parsed.as_ref()?;
        parsed
            .headers
            .iter()
            .find(|h| h.name.of(&self.head).eq_ignore_ascii_case(name))
            .map(|h| h.value.of(&self.head))
    }

    /// The request's header fields as (name, value) pairs.
    pub fn fields(&self) -> Vec<(&[u8], &[u8])> {
        self.parsed
            .as_ref()
            .map_or_else(Vec::new, |p| field_pairs(&self.head, &p.headers))
    }

    /// Takes the record out, leaving an empty one (for an exchange whose answer is logged by
    /// the client side).
    pub fn take(&mut self, sh: &Shared) -> ReqLog {
        std::mem::replace(
            self,
            ReqLog {
                head: Vec::new(),
                parsed: None,
                started: sh.clock.now,
                wall: sh.clock.wall,
                cache: None,
            },
        )
    }
}

/// How an exchange ended, for its access-log line.
#[derive(Clone, Copy, Debug)]
pub enum Ending {
    /// The client took the last byte at this time.
    Completed(Instant),
    /// The backend switched protocols: the exchange goes on as a tunnel.
    Switched,
    /// A stale entry answered instead of the failed backend.
    StoodIn,
}

/// What the access log says of one exchange.
#[derive(Debug)]
pub struct Logged<'a> {
    pub req: &'a ReqLog,
    pub vhost: usize,
    pub status: u16,
    pub body_bytes: u64,
    pub backend: Option<BackendLog<'a>>,
}

impl Exchange {
    /// The exchange's access-log line, as it ended.
    pub fn logged(&self, ending: Ending) -> Logged<'_> {
        let backend = match ending {
            Ending::Completed(done) => Some(backend_log(self, Some(done))),
            Ending::Switched => Some(backend_log(self, None)),
            Ending::StoodIn => None,
        };
        Logged {
            req: &self.log,
            vhost: self.vhost,
            status: self.status,
            body_bytes: self.body_bytes,
            backend,
        }
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

/// The backend's side of the exchange for the access log; `done` is when the client took the
/// last byte (`None` for a switch to a tunnel, which has no such moment).
pub(super) fn backend_log(ex: &Exchange, done: Option<Instant>) -> BackendLog<'_> {
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

/// Adds a completed exchange's timeline (DESIGN.md §4) to its route's histograms; `t_done` is
/// now, the last byte having just been accepted by the client socket.
pub(super) fn record_timeline(ex: &Exchange, sh: &mut Shared) {
    let m = &sh.obs.metrics;
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
            .record(us(sh.clock.now.saturating_duration_since(release)));
    }
    if let Some(drain) = since(ex.t_first, sh.clock.now) {
        route.drain_us.record(drain);
    }
    route.peak_bytes.record(ex.peak as u64);
    route
        .held_at_release_bytes
        .record(ex.held_at_release as u64);
}
