//! A reactor's backend connections: the ones in use, the keep-alive pool of idle ones, the
//! per-backend connection counts that `max=` bounds, the down marks that `retry=` sets, and the
//! queue of exchanges waiting for a connection.
//!
//! Every backend connection lives in one slab whatever its state, so its mio token never
//! changes between use and idleness (no re-registration on release or reuse). An idle
//! connection is registered for readability: any event on it means the backend closed it or
//! sent bytes nobody asked for, and it is dropped.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token as MioToken};
use slab::Slab;

use super::timer::{Deadline, Timers};
use super::token::{Kind, Token};
use super::Ready;
use crate::config::{BackendId, Config, Scheme};
use crate::tls::ClientSession;

/// Idle connections kept per backend and reactor when the backend sets no `max=`.
pub const DEFAULT_IDLE_CAP: usize = 256;

/// Whether a backend connection is still connecting or usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Non-blocking connect in progress to `addrs[addr]`.
    Connecting {
        addr: usize,
    },
    Open,
}

/// The socket to a backend: plain, or TLS (`https://` backends under `SSLProxyEngine On`),
/// read and written as plaintext either way.
#[derive(Debug)]
pub enum BackendStream {
    Plain(TcpStream),
    Tls(Box<ClientSession<TcpStream>>),
}

impl BackendStream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            BackendStream::Plain(tcp) => tcp,
            BackendStream::Tls(tls) => &tls.sock,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, BackendStream::Tls(_))
    }

    /// Moves a TLS handshake on (see [`ClientSession::handshake`]); `Ok(true)` once it is
    /// done, at once for a plain connection.
    pub fn handshake(&mut self) -> io::Result<bool> {
        match self {
            BackendStream::Plain(_) => Ok(true),
            BackendStream::Tls(tls) => tls.handshake(),
        }
    }

    pub fn is_handshaking(&self) -> bool {
        matches!(self, BackendStream::Tls(tls) if tls.is_handshaking())
    }

    /// Whether a TLS connection has nothing more to say: no plaintext left in rustls and the
    /// socket empty. A plain connection's emptiness is known from its reads already.
    pub fn is_quiet(&mut self) -> bool {
        match self {
            BackendStream::Plain(_) => true,
            BackendStream::Tls(tls) => {
                let mut probe = [0u8; 1];
                matches!(tls.read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Whether sealed bytes wait to be written (TLS only).
    pub fn wants_write(&self) -> bool {
        matches!(self, BackendStream::Tls(tls) if tls.wants_write())
    }

    /// Writes sealed bytes rustls holds, as far as the socket takes them.
    pub fn write_pending(&mut self) -> io::Result<usize> {
        match self {
            BackendStream::Plain(_) => Ok(0),
            BackendStream::Tls(tls) => tls.write_pending(),
        }
    }

    /// Ends what we send: `close_notify` on TLS, then FIN.
    pub fn shut_write(&mut self) -> io::Result<()> {
        if let BackendStream::Tls(tls) = self {
            tls.close_notify();
        }
        self.tcp().shutdown(Shutdown::Write)
    }
}

impl Read for BackendStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BackendStream::Plain(tcp) => tcp.read(buf),
            BackendStream::Tls(tls) => tls.read(buf),
        }
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            BackendStream::Plain(tcp) => tcp.read_vectored(bufs),
            BackendStream::Tls(tls) => tls.read_vectored(bufs),
        }
    }
}

impl Write for BackendStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            BackendStream::Plain(tcp) => tcp.write(buf),
            BackendStream::Tls(tls) => tls.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            BackendStream::Plain(tcp) => tcp.write_vectored(bufs),
            BackendStream::Tls(tls) => tls.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for BackendStream {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }
}

impl Source for BackendStream {
    fn register(&mut self, r: &Registry, t: MioToken, i: Interest) -> io::Result<()> {
        self.tcp_mut().register(r, t, i)
    }

    fn reregister(&mut self, r: &Registry, t: MioToken, i: Interest) -> io::Result<()> {
        self.tcp_mut().reregister(r, t, i)
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        self.tcp_mut().deregister(r)
    }
}

impl BackendStream {
    fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            BackendStream::Plain(tcp) => tcp,
            BackendStream::Tls(tls) => &mut tls.sock,
        }
    }
}

/// One connection to a backend.
#[derive(Debug)]
pub struct BackendConn {
    pub stream: BackendStream,
    pub gen: u32,
    pub backend: BackendId,
    pub peer: SocketAddr,
    pub link: Link,
    pub ready: Ready,
    /// The client connection (slab index) using it; `None` while idle in the pool.
    pub owner: Option<usize>,
    /// Exchanges completed on it; > 0 means a new exchange reuses it.
    pub served: u32,
    pub idle_since: Instant,
    pub deadline: Deadline,
    /// Which configuration generation it belongs to; a connection of an older one is closed
    /// instead of pooled.
    cfg_gen: u64,
}

impl BackendConn {
    pub fn token(&self, idx: usize) -> Token {
        Token::new(Kind::Backend, idx, self.gen)
    }

    /// A read of `n` bytes when `asked` were wanted: a short one means the socket is drained,
    /// except on TLS, where plaintext counts say nothing of what the socket holds.
    pub fn note_read(&mut self, n: usize, asked: usize) {
        if !self.stream.is_tls() {
            self.ready.note_read(n, asked);
        }
    }
}

/// Why no connection could be had right now.
#[derive(Debug)]
pub enum Unavailable {
    /// `retry=` marked the backend down after a failed connect.
    Down,
    /// `max=` connections are open; the caller waits in the queue.
    Full,
    /// No connect could even be started (all addresses failed at once).
    Connect(io::Error),
}

/// Per-backend bookkeeping, indexed by `BackendId` of the current configuration.
#[derive(Debug, Default)]
struct PerBackend {
    /// Idle connections, most recently used last (LIFO keeps warm connections warm).
    idle: Vec<usize>,
    /// Open connections (connecting, in use or idle).
    open: usize,
    down_until: Option<Instant>,
    /// Client connections waiting for a connection: (slab index, generation).
    waiters: VecDeque<(usize, u32)>,
}

/// The reactor's backend connections.
#[derive(Debug, Default)]
pub struct BackendPool {
    pub conns: Slab<BackendConn>,
    per: Vec<PerBackend>,
    cfg_gen: u64,
    /// How new connections are made.
    pub dialer: Dialer,
}

/// How backend connections are made: the seam the simulation plays its backends through.
#[derive(Debug)]
pub enum Dialer {
    /// TCP, with `ProxySendBufferSize` and `ProxyReceiveBufferSize` (0 = the default).
    Tcp { socket_buffers: (usize, usize) },
    /// In-process socket pairs ([`super::sim`]), connected at once; their other ends are kept
    /// here in the order made, for the simulation to play the backends.
    Pairs(Vec<std::os::unix::net::UnixStream>),
}

impl Default for Dialer {
    fn default() -> Dialer {
        Dialer::Tcp {
            socket_buffers: (0, 0),
        }
    }
}

impl Dialer {
    /// A new connection to `addr`, and whether it is open at once (a pair is; TCP connects).
    fn dial(&mut self, addr: SocketAddr) -> io::Result<(TcpStream, bool)> {
        match self {
            Dialer::Pairs(ends) => {
                let (ours, theirs) = super::sim::pair()?;
                ends.push(theirs);
                Ok((TcpStream::from_std(ours), true))
            }
            Dialer::Tcp { socket_buffers } => {
                let tcp = match *socket_buffers {
                    (0, 0) => TcpStream::connect(addr)?,
                    (send, receive) => {
                        TcpStream::from_std(crate::sys::connect_with_buffers(addr, send, receive)?)
                    }
                };
                tcp.set_nodelay(true)?;
                Ok((tcp, false))
            }
        }
    }

    /// Whether the backends are on the network, where a thread of its own can reach them too
    /// (a background cache update); the simulation's exist only in its harness.
    pub fn reaches_network(&self) -> bool {
        matches!(self, Dialer::Tcp { .. })
    }
}

/// What a backend connection is asked for.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The configuration the exchange runs on (its backend numbering is the pool's).
    pub cfg: &'a Config,
    pub backend: BackendId,
    /// The addresses to try in order: a forward-proxied request's, resolved for it, or the
    /// backend's own.
    pub addrs: &'a [SocketAddr],
    /// The client connection it is for (slab index).
    pub owner: usize,
}

impl BackendPool {
    /// Starts over for a new configuration: idle connections are closed, counts reset.
    /// Connections in use finish their exchange and are then closed. Returns the client
    /// connections that were waiting, to be woken (their exchanges end: the backend they
    /// waited for is numbered by the old configuration).
    pub fn reset(
        &mut self,
        backends: usize,
        cfg_gen: u64,
        registry: &Registry,
    ) -> Vec<(usize, u32)> {
        let mut waiters = Vec::new();
        for per in std::mem::take(&mut self.per) {
            for idx in per.idle {
                let mut conn = self.conns.remove(idx);
                let _ = registry.deregister(&mut conn.stream);
            }
            waiters.extend(per.waiters);
        }
        self.per = (0..backends).map(|_| PerBackend::default()).collect();
        self.cfg_gen = cfg_gen;
        waiters
    }

    /// How much longer `retry=` keeps the backend marked down, if it is down at `now`.
    pub fn down_for(&self, backend: BackendId, now: Instant) -> Option<Duration> {
        self.per[backend]
            .down_until
            .filter(|until| now < *until)
            .map(|until| until - now)
    }

    pub fn mark_down(&mut self, backend: BackendId, until: Instant) {
        self.per[backend].down_until = Some(until);
    }

    /// Hands out a connection for `ask`: an idle one (unless `fresh`), else a new connect to
    /// its addresses, the first that can be started. `gen` is the generation the new slab
    /// entry gets.
    pub fn acquire(
        &mut self,
        ask: &Ask<'_>,
        fresh: bool,
        now: Instant,
        gen: &mut u32,
        registry: &Registry,
    ) -> Result<usize, Unavailable> {
        let (backend, owner) = (ask.backend, ask.owner);
        let def = &ask.cfg.backends[backend];
        if self.down_for(backend, now).is_some() {
            return Err(Unavailable::Down);
        }
        if !fresh {
            while let Some(idx) = self.per[backend].idle.pop() {
                let expired = def
                    .params
                    .ttl
                    .is_some_and(|ttl| now.duration_since(self.conns[idx].idle_since) >= ttl);
                if expired {
                    self.close(idx, registry);
                    continue;
                }
                let conn = &mut self.conns[idx];
                conn.owner = Some(owner);
                conn.deadline.clear();
                return Ok(idx);
            }
        }
        if def
            .params
            .max
            .is_some_and(|max| self.per[backend].open >= max)
        {
            return Err(Unavailable::Full);
        }
        let mut last_err =
            io::Error::new(io::ErrorKind::AddrNotAvailable, "backend has no address");
        for i in 0..ask.addrs.len() {
            match self.start_connect(ask, i, now, gen, registry) {
                Ok(idx) => return Ok(idx),
                Err(e) => last_err = e,
            }
        }
        Err(Unavailable::Connect(last_err))
    }

    /// Starts a non-blocking connect to the `addr_index`th of `ask`'s addresses (mio's steps:
    /// connect, register writable, wait for the event, then `take_error` and `peer_addr`; see
    /// `connect_result`).
    pub fn start_connect(
        &mut self,
        ask: &Ask<'_>,
        addr_index: usize,
        now: Instant,
        gen: &mut u32,
        registry: &Registry,
    ) -> io::Result<usize> {
        let (cfg, backend, owner) = (ask.cfg, ask.backend, ask.owner);
        let addr = ask.addrs[addr_index];
        let (tcp, open) = self.dialer.dial(addr)?;
        let def = &cfg.backends[backend];
        let stream = match (&cfg.proxy_tls, def.scheme) {
            (Some(config), Scheme::Https) => BackendStream::Tls(Box::new(
                ClientSession::new(tcp, config, &def.host)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            )),
            _ => BackendStream::Plain(tcp),
        };
        *gen = gen.wrapping_add(1) & Token::GEN_MASK;
        let entry = self.conns.vacant_entry();
        let idx = entry.key();
        let mut conn = BackendConn {
            stream,
            gen: *gen,
            backend,
            peer: addr,
            link: if open {
                Link::Open
            } else {
                Link::Connecting { addr: addr_index }
            },
            ready: Ready::default(),
            owner: Some(owner),
            served: 0,
            idle_since: now,
            deadline: Deadline::default(),
            cfg_gen: self.cfg_gen,
        };
        let token = conn.token(idx);
        registry.register(
            &mut conn.stream,
            token.into(),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(conn);
        self.per[backend].open += 1;
        Ok(idx)
    }

    /// Gives a connection back after an exchange: pooled when `reusable` and there is room,
    /// else closed. Returns a waiter to wake, if any.
    pub fn release(
        &mut self,
        idx: usize,
        reusable: bool,
        cfg: &Config,
        now: Instant,
        timers: &mut Timers,
        registry: &Registry,
    ) -> Option<(usize, u32)> {
        let conn = &mut self.conns[idx];
        let backend = conn.backend;
        let current = conn.cfg_gen == self.cfg_gen;
        if reusable && current && !conn.ready.read_closed {
            let params = &cfg.backends[backend].params;
            let cap = params.max.unwrap_or(DEFAULT_IDLE_CAP);
            if self.per[backend].idle.len() < cap && !params.disable_reuse {
                conn.owner = None;
                conn.served += 1;
                conn.idle_since = now;
                if let Some(ttl) = params.ttl {
                    let token = conn.token(idx).0;
                    conn.deadline.set(now + ttl, timers, token);
                }
                self.per[backend].idle.push(idx);
                return self.per[backend].waiters.pop_front();
            }
        }
        self.close(idx, registry)
    }

    /// Closes a connection (in use or idle). Returns a waiter to wake, if any.
    pub fn close(&mut self, idx: usize, registry: &Registry) -> Option<(usize, u32)> {
        let mut conn = self.conns.remove(idx);
        let _ = registry.deregister(&mut conn.stream);
        if conn.cfg_gen != self.cfg_gen {
            return None;
        }
        let per = &mut self.per[conn.backend];
        per.open -= 1;
        if let Some(pos) = per.idle.iter().position(|&i| i == idx) {
            per.idle.swap_remove(pos);
        }
        per.waiters.pop_front()
    }

    /// Queues a client connection until a connection to `backend` frees up.
    pub fn wait(&mut self, backend: BackendId, waiter: (usize, u32)) {
        self.per[backend].waiters.push_back(waiter);
    }

    /// Removes a client connection from a wait queue (it timed out or went away).
    pub fn unwait(&mut self, backend: BackendId, waiter: (usize, u32)) {
        if let Some(per) = self.per.get_mut(backend) {
            per.waiters.retain(|w| *w != waiter);
        }
    }

    /// The next waiter for `backend`, taken off its queue: a woken waiter that can no longer
    /// use the wake-up passes it on with this, so that a freed connection is never left idle
    /// while others wait.
    pub fn next_waiter(&mut self, backend: BackendId) -> Option<(usize, u32)> {
        self.per.get_mut(backend)?.waiters.pop_front()
    }

    /// Whether a client connection is still queued for `backend`.
    pub fn is_waiting(&self, backend: BackendId, waiter: (usize, u32)) -> bool {
        self.per
            .get(backend)
            .is_some_and(|p| p.waiters.contains(&waiter))
    }

    /// Connections idle in the keep-alive pool.
    pub fn idle_count(&self) -> usize {
        self.per.iter().map(|p| p.idle.len()).sum()
    }

    /// Whether the connection is idle in the pool.
    pub fn is_idle(&self, idx: usize) -> bool {
        self.conns[idx].owner.is_none()
    }
}

/// The outcome of a connect once its socket reported readiness.
#[derive(Debug)]
pub enum ConnectResult {
    Connected,
    /// Spurious wake-up: keep waiting.
    Pending,
    Failed(io::Error),
}

/// mio's steps after a writable event on a connecting socket: `take_error`, then `peer_addr`
/// (`NotConnected` means the connect is still in progress).
pub fn connect_result(stream: &TcpStream) -> ConnectResult {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return ConnectResult::Failed(e),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => ConnectResult::Connected,
        Err(e)
            if e.kind() == io::ErrorKind::NotConnected
                || e.raw_os_error() == Some(libc::EINPROGRESS) =>
        {
            ConnectResult::Pending
        }
        Err(e) => ConnectResult::Failed(e),
    }
}
