//! A client connection as the client side of its exchanges: requests taken out of its buffer
//! and started, what an exchange's step leads to (`Next`) mapped onto the connection's phases,
//! answers of ours, the access-log lines, and the [`Client`] the exchange talks to.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use super::super::exchange::{self, Client, Ending, Logged, Next, Ours, Outbox, ReqLog};
use super::super::reply::{self, After, Failure, Source};
use super::super::Shared;
use super::{Conn, Phase, Reply};
use crate::config::{Config, LogLevel, Scheme};
use crate::http1::request::{RequestBody, RequestHead};
use crate::http1::{HeadProgress, Method, Version};
use crate::log::format::LogRecord;
use crate::proxy::route;
use crate::tls::ClientTls;

impl Conn {
    /// Starts writing an answer of our own; logs it. `log` is the request it answers; `close`:
    /// the connection closes after it whatever the failure allows (the request's body was not
    /// read, so what follows is no request).
    pub fn reply(
        &mut self,
        failure: Failure,
        log: Option<ReqLog>,
        vhost: Option<usize>,
        close: bool,
        sh: &mut Shared,
    ) -> Phase {
        let (status, mut after) = failure.answer();
        let head_only = log
            .as_ref()
            .and_then(|l| l.parsed.as_ref())
            .is_some_and(|h| h.method == Method::Head);
        let keep = log
            .as_ref()
            .and_then(|l| l.parsed.as_ref())
            .is_some_and(|h| self.may_keep_alive(h, sh));
        if !keep || close {
            after = After::Close;
        }
        let level = match failure.source() {
            Source::Backend => {
                sh.obs.metrics.backend_errors.incr();
                LogLevel::Error
            }
            Source::Ours => LogLevel::Error,
            Source::Client => LogLevel::Info,
        };
        if sh.obs.log.enabled(level) && status >= 400 {
            let line = log
                .as_ref()
                .map(|l| String::from_utf8_lossy(l.request_line()).into_owned())
                .unwrap_or_default();
            sh.obs.log.log(
                level,
                Some(self.peer),
                format_args!("{status} {}: \"{}\"", failure.reason(), line.escape_debug()),
            );
        }
        let framing = reply::Framing {
            after,
            head_only,
            http10: log
                .as_ref()
                .and_then(|l| l.parsed.as_ref())
                .is_some_and(|h| h.version == Version::Http10),
            simple: log
                .as_ref()
                .and_then(|l| l.parsed.as_ref())
                .is_some_and(|h| h.simple),
        };
        let mut out = mem::take(&mut sh.io.scratch);
        out.clear();
        let body = reply::encode(&failure, framing, sh.clock.wall, &mut out);
        self.send_ours(out, status, body, log, vhost, after, sh)
    }

    /// Queues an answer of ours encoded in `out` (which goes back to the scratch buffer) and
    /// logs it. A pool too short for even this closes the connection.
    #[allow(clippy::too_many_arguments)]
    pub fn send_ours(
        &mut self,
        out: Vec<u8>,
        status: u16,
        body: u64,
        log: Option<ReqLog>,
        vhost: Option<usize>,
        after: After,
        sh: &mut Shared,
    ) -> Phase {
        let pushed = self.out.chain.push_slice(&mut sh.io.pool, &out);
        sh.io.scratch = out;
        if pushed.is_err() {
            sh.obs.log.log(
                LogLevel::Error,
                Some(self.peer),
                format_args!("buffer pool exhausted; closing the connection unanswered"),
            );
            sh.obs.metrics.pool_refused.incr();
            return Phase::Closed;
        }
        sh.obs.metrics.count_status(status);
        if let Some(log) = log {
            let logged = Logged {
                req: &log,
                vhost: vhost.unwrap_or(0),
                status,
                body_bytes: body,
                backend: None,
            };
            self.log_exchange(logged, after == After::KeepAlive, sh);
        }
        Phase::Reply(Reply { after })
    }

    /// Takes a parsed request out of `cin` into its log record and starts it: the status
    /// endpoint answers its own requests; others become exchanges.
    pub(super) fn start(&mut self, head: RequestHead, is_status: bool, sh: &mut Shared) -> Phase {
        let log = self.take_head(head, sh);
        let parsed = log.parsed.as_ref().expect("just set");
        if parsed.simple {
            sh.obs.metrics.http09_requests.incr();
        }
        if is_status {
            let cfg = Arc::clone(&sh.cfg);
            let status = cfg
                .status
                .as_ref()
                .expect("a status request has an endpoint");
            return super::super::status::serve(self, status, log, sh);
        }
        let next = exchange::start(self, log, sh);
        self.enter(next, sh)
    }

    /// Answers a parsed request with an answer of ours instead of starting its exchange.
    pub(super) fn refuse(&mut self, head: RequestHead, failure: Failure, sh: &mut Shared) -> Phase {
        let log = self.take_head(head, sh);
        let parsed = log.parsed.as_ref().expect("just set");
        let close = !matches!(parsed.body, RequestBody::None | RequestBody::Length(0));
        let vhost = route::select_vhost(
            &sh.cfg,
            self.local,
            parsed.authority().map(|s| s.of(&log.head)),
        );
        self.enter(
            Next::Refuse {
                failure,
                log,
                vhost,
                close,
            },
            sh,
        )
    }

    /// Moves a parsed request head out of `cin` into its log record.
    fn take_head(&mut self, head: RequestHead, sh: &Shared) -> ReqLog {
        let head_len = head.head_len;
        let log = ReqLog {
            head: self.cin[..head_len].to_vec(),
            parsed: Some(head),
            started: sh.clock.now,
            wall: sh.clock.wall,
            cache: None,
        };
        self.cin.drain(..head_len);
        self.progress = HeadProgress::default();
        log
    }

    /// The phase an exchange's step leads to.
    pub(super) fn enter(&mut self, next: Next, sh: &mut Shared) -> Phase {
        match next {
            Next::Continue(ex) => Phase::Exchange(ex),
            Next::Refuse {
                failure,
                log,
                vhost,
                close,
            } => self.reply(failure, Some(log), Some(vhost), close, sh),
            Next::Ours(Ours {
                head,
                status,
                body_len,
                body,
                log,
                vhost,
                after,
            }) => {
                self.out.spill = body;
                self.send_ours(head, status, body_len, Some(log), vhost, after, sh)
            }
            Next::Answered { ex, after } => {
                self.log_exchange(ex.logged(Ending::StoodIn), after == After::KeepAlive, sh);
                Phase::Reply(Reply { after })
            }
            Next::Done { ex, keep_alive } => {
                // (`%k` counts the exchanges before this one, as for answers of ours.)
                self.log_exchange(ex.logged(Ending::Completed(sh.clock.now)), keep_alive, sh);
                self.exchanges += 1;
                if keep_alive {
                    self.next_head(sh)
                } else {
                    self.start_linger(sh)
                }
            }
            Next::Tunnel { ex, tunnel } => {
                // (The connection goes on as a tunnel, never as HTTP again.)
                self.log_exchange(ex.logged(Ending::Switched), false, sh);
                self.exchanges += 1;
                Phase::Tunnel(tunnel)
            }
            Next::Close => Phase::Closed,
        }
    }

    /// Writes the access-log line of one exchange; `keep_alive`: the connection goes on after
    /// it (`%X`).
    pub fn log_exchange(&self, logged: Logged<'_>, keep_alive: bool, sh: &mut Shared) {
        let Logged {
            req: log,
            vhost,
            status,
            body_bytes,
            backend,
        } = logged;
        if !sh.obs.access.wants(vhost) {
            return;
        }
        let cfg: Arc<Config> = Arc::clone(&sh.cfg);
        let (method, path, query, protocol) = split_request_line(log.request_line());
        let req_header = |name: &[u8]| log.header(name);
        let resp_header = |name: &[u8]| backend.as_ref().and_then(|b| b.response_header(name));
        let rec = LogRecord {
            client: self.peer,
            local: self.local,
            server_name: cfg.vhosts.get(vhost).map_or("", |v| v.server_name.as_str()),
            request_line: log.request_line(),
            method,
            path,
            query,
            protocol,
            status,
            body_bytes,
            bytes_sent: body_bytes,
            started: log.wall,
            duration: sh.clock.now.saturating_duration_since(log.started),
            request_header: &req_header,
            response_header: &resp_header,
            backend: backend.as_ref().map(|b| b.fields()),
            keepalive_count: self.exchanges,
            cache: log.cache,
            connection_status: if keep_alive { b'+' } else { b'-' },
        };
        sh.obs.access.log(vhost, &rec);
    }
}

impl Client for Conn {
    fn id(&self) -> (usize, u32) {
        (self.idx, self.gen)
    }

    fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn local(&self) -> SocketAddr {
        self.local
    }

    fn scheme(&self) -> Scheme {
        self.scheme
    }

    fn tls_sni(&self) -> Option<Option<&str>> {
        self.tls.as_ref().map(ClientTls::sni_name)
    }

    fn may_keep_alive(&self, head: &RequestHead, sh: &Shared) -> bool {
        Conn::may_keep_alive(self, head, sh)
    }

    fn received(&self) -> &[u8] {
        &self.cin
    }

    fn consume(&mut self, n: usize) {
        self.cin.drain(..n);
    }

    fn is_readable(&self) -> bool {
        self.ready.readable
    }

    fn read(&mut self, sh: &mut Shared) -> io::Result<usize> {
        let read = self.read_client(sh);
        if matches!(&read, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.ready.readable = false;
        }
        read
    }

    fn starve(&mut self, sh: &mut Shared) {
        Conn::starve(self, self.idx, sh);
    }

    fn outbox(&self) -> &Outbox {
        &self.out
    }

    fn out(&mut self) -> &mut Outbox {
        &mut self.out
    }

    fn owes(&self) -> bool {
        Conn::owes(self)
    }

    fn flush(&mut self, sh: &mut Shared) -> io::Result<bool> {
        Conn::flush(self, sh)
    }

    fn may_splice(&self) -> bool {
        self.tls.is_none()
    }

    fn cut_off(&mut self, sh: &mut Shared) {
        sh.obs.metrics.aborted.incr();
        let _ = crate::sys::reset_on_close(self.client.as_raw_fd());
    }

    fn send_queue(&self) -> Option<u64> {
        crate::sys::send_queue(self.client.as_raw_fd())
            .ok()
            .map(|n| n as u64)
    }
}

/// Splits `METHOD target PROTOCOL` into method, path, `?query` part and protocol.
fn split_request_line(line: &[u8]) -> (&[u8], &[u8], &[u8], &[u8]) {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or(&[]);
    let target = parts.next().unwrap_or(&[]);
    let protocol = parts.next().unwrap_or(&[]);
    let (path, query) = match memchr::memchr(b'?', target) {
        Some(q) => (&target[..q], &target[q..]),
        None => (target, &target[target.len()..]),
    };
    (method, path, query, protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_splits_into_log_fields() {
        let (m, p, q, v) = split_request_line(b"GET /a/b?x=1&y HTTP/1.1");
        assert_eq!(
            (m, p, q, v),
            (&b"GET"[..], &b"/a/b"[..], &b"?x=1&y"[..], &b"HTTP/1.1"[..])
        );
        let (m, p, q, v) = split_request_line(b"garbage");
        assert_eq!(
            (m, p, q, v),
            (&b"garbage"[..], &b""[..], &b""[..], &b""[..])
        );
    }
}
