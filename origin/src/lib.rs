//! The origin server: a small, strict HTTP/1.1 server for the proxy to forward to, in a crate
//! of its own so that `spoonfeed demo` can run it in-process without the binary linking the
//! load generator and the other tools (`spoonfeed-tools`, which runs it too). No `unsafe`.
//!
//! Owns the listener, the accept thread and one thread per connection, the bound on concurrent
//! connections (a connection holds its thread, like a mod_perl child, until it closes), the
//! socket options of accepted connections, the counters and busy times behind
//! [`Origin::stats`], and shutdown. It must stay independent of the proxy (it is what the proxy
//! is checked against) and must never hold a body whole unless an endpoint below says so.
//!
//! # Endpoints
//!
//! Every response carries `X-Origin-Conn` (serial number of the connection, from 1, in accept
//! order) and `X-Origin-Req` (number of the request on that connection, from 1), so a test can
//! see keep-alive reuse. Endpoints without options ignore the query.
//!
//! | target | methods | answer |
//! |---|---|---|
//! | `/bytes/N` | GET, HEAD | 200 with N bytes of [`fill_body`] content and `X-Checksum` (see below). N may end in `K`, `M` or `G` (KiB, MiB, GiB). |
//! | `/sink` | POST, PUT | reads the body (Content-Length or chunked), 200 with `length=<n> checksum=<16 hex>\n` |
//! | `/echo` | POST, PUT | 200 streaming the body back as it arrives, framed as it came: the same `Content-Length`, or chunked |
//! | `/inspect` | any | 200 whose body is the request head exactly as received, then the body exactly as received (chunk framing included; at most [`MAX_INSPECT_BODY_BYTES`], else 413) |
//! | `/redirect?to=PATH` | any | 302, `Location: http://<Host as received>PATH` |
//! | `/redirect?abs=URL` | any | 302, `Location: URL` verbatim |
//! | `/status/N` | any | status N (200–599) with a short text body; none for 204 and 304, an empty one for 205 |
//! | `/close-after-head` | any | head with `Content-Length: 1000`, then 100 bytes, then the origin closes |
//! | `/reset` | any | reads the request body, then closes without answering: a FIN, not an RST |
//! | `/_origin/stats` | GET, HEAD | 200 with the counters and busy times as JSON (see below); outside the mount; options are answered 400 |
//! | `/_origin/stats/reset` | POST | the same answer, taken just before the busy times are cleared as [`Origin::reset_busy`] does; outside the mount |
//! | anything else | any | 404 |
//!
//! Options of `/bytes/N`, all optional: `seed=S` (content stream, default 0); `te=length`
//! (default: `Content-Length`), `te=chunked` with `chunk=K` (K-byte chunks, default 16 KiB;
//! HTTP/1.0 clients get `te=close` instead) or `te=close` (no length, the close ends the body);
//! `delay_ms=D` (wait before the head, at most [`MAX_DELAY_MS`]); `flush=K` (hand the whole
//! response, head included, to the socket in writes of exactly K bytes, at most
//! [`MAX_FLUSH_BYTES`]; default 64 KiB); `pause_ms=P` (sleep between those writes, at most
//! [`MAX_DELAY_MS`]). Unknown or repeated options are answered 400.
//!
//! # Busy times
//!
//! The origin plays a heavy backend, so it records how long each request held it: from the
//! moment its head was read to the moment the last write of its answer returned (the kernel
//! accepted the last byte), or until the exchange was abandoned (client gone, timeout). Each
//! connection's time is from accept to close, recorded when it closes, so connections still
//! open are not in it; connections that closed without a request are (they held a thread).
//! Requests under `/_origin/`, and connections that only carried such requests, are left out of
//! the busy times and of `requests` and `per_path`, so reading the stats does not change them.
//! [`OriginStats::busy`] and [`OriginStats::connection_busy`] summarise them; the stats endpoint
//! answers, for example:
//!
//! ```json
//! {"requests":50,"connections_accepted":51,"open_connections":1,
//!  "busy_us":{"count":50,"p50":8123,"p90":9001,"p99":9850,"max":9871},
//!  "connection_busy_us":{"count":0,"p50":0,"p90":0,"p99":0,"max":0}}
//! ```
//!
//! on one line, times in microseconds. `open_connections` includes the connection asking.
//! A busy time is recorded just after the last write returns, so a client that has read a whole
//! answer may, for a moment, not see it counted yet: wait for `count` to reach what you expect.
//!
//! With [`OriginConfig::send_buffer`] set, the stats also carry `"send_buffer":N` after
//! `connection_busy_us`: the send buffer the kernel reports for the latest connection, in bytes
//! (see [`OriginStats::send_buffer`]); without it the key is absent.
//!
//! `X-Checksum` is [`to_hex`] of [`checksum`] over the body; computing it costs one pass over the
//! content before the head goes out, remembered per (seed, N) for [`CHECKSUM_MEMO_ENTRIES`] sizes.
//!
//! # Send buffer
//!
//! A real heavy backend stays busy until its peer has accepted its answer: its last write
//! returns once the rest fits in its socket's send buffer. Linux autotunes that buffer up to
//! `net.ipv4.tcp_wmem`'s maximum (4 MiB by default), so by default a write of a body of a few
//! MiB returns at once whoever reads it, and a proxy's buffering makes no difference to the
//! busy times. [`OriginConfig::send_buffer`] (`origin --sndbuf`) fixes `SO_SNDBUF` on every
//! accepted connection before any byte of it is written, which also turns autotuning off for
//! it: its last write then returns only once the rest of the answer fits in that buffer, that
//! is once the peer (the proxy, or the client direct) has taken all but about that much.
//! Linux doubles the value asked for (the other half is for its own bookkeeping) and first
//! caps it at `net.core.wmem_max` (212992 bytes by default) without an error; the value the
//! kernel settled on is in [`OriginStats::send_buffer`].
//!
//! # Protocol
//!
//! Keep-alive follows RFC 9112 §9.3: HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
//! `Connection: keep-alive` (answered with `Connection: keep-alive`). Pipelined requests are
//! answered in order. `Expect: 100-continue` on an HTTP/1.1 request with a body gets
//! `100 Continue` before the body is read. An HTTP/1.1 request without exactly one `Host`, with
//! both `Transfer-Encoding` and `Content-Length`, with differing `Content-Length`s or with bad
//! chunk framing is answered 400; see `request` and `body` for every rule. Every refusal closes
//! the connection; a request body is read (or drained) before any answer except `/echo`'s.
#![forbid(unsafe_code)]

mod body;
mod busy;
mod connection;
mod content;
mod endpoints;
mod error;
mod query;
mod request;
mod response;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use busy::Histogram;
use socket2::SockRef;

pub use busy::BusySummary;
pub use content::{body_byte, body_checksum, checksum, fill_body, to_hex, Checksum};
pub use endpoints::{
    CONTROL_PREFIX, ECHO_QUEUE_PIECES, MAX_DELAY_MS, MAX_FLUSH_BYTES, MAX_INSPECT_BODY_BYTES,
};
pub use request::{MAX_HEADERS, MAX_HEAD_BYTES};

/// Concurrent connections served when [`OriginConfig::max_connections`] is not changed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// Read and write timeout on each connection when [`OriginConfig::io_timeout`] is not changed.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Distinct (seed, length) pairs whose `X-Checksum` is remembered; past it the memory is
/// cleared and refilled. Only bodies of [`CHECKSUM_MEMO_MIN_BYTES`] or more are remembered.
pub const CHECKSUM_MEMO_ENTRIES: usize = 256;

/// Smallest body whose checksum is worth remembering rather than recomputing.
pub const CHECKSUM_MEMO_MIN_BYTES: u64 = 64 * 1024;

/// Distinct paths counted in [`OriginStats::per_path`]; requests for further paths still count
/// in [`OriginStats::requests`] but get no entry of their own.
pub const MAX_COUNTED_PATHS: usize = 4096;

/// Largest [`OriginConfig::send_buffer`]: `SO_SNDBUF` is a C `int`. Larger ones are refused by
/// [`Origin::start`]; the kernel caps far lower anyway (`net.core.wmem_max`).
pub const MAX_SEND_BUFFER: usize = i32::MAX as usize;

/// How long the accept thread waits before retrying after `accept` fails (say, out of file
/// descriptors), so a persistent failure does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// How long shutdown waits to connect to its own listener to wake the accept thread.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// How to run an [`Origin`].
#[derive(Clone, Debug)]
pub struct OriginConfig {
    /// Address to listen on; port 0 picks a free port, which [`Origin::addr`] reports.
    /// Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Most connections served at once: the origin's workers. Each connection holds a thread
    /// until it closes, idle keep-alive included. Past it, new connections wait in the kernel's
    /// listen backlog, unanswered, until one closes. Must be at least 1. Default
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Read and write timeout on each connection: one idle or stalled for longer (between
    /// requests, inside a body, or writing to a client that does not read) is closed. `None`
    /// waits forever; zero is refused. Default [`DEFAULT_IO_TIMEOUT`].
    pub io_timeout: Option<Duration>,
    /// Path prefix the endpoints live under, like an application mounted at `/perl/` (so the
    /// chapter's `ProxyPass /perl/ http://localhost:81/perl/` works verbatim). Requests outside
    /// it get 404. Must be empty or start with `/` and not end with one. Default empty.
    pub mount: String,
    /// `SO_SNDBUF`, in bytes, set on each accepted connection before any byte of it is
    /// written, so the origin stays busy, as a heavy backend does, until its peer has taken
    /// all but about that much of an answer (see the module's "Send buffer"). `None` leaves the
    /// OS default, which Linux autotunes up to `net.ipv4.tcp_wmem`'s maximum (4 MiB by default).
    /// Linux doubles the value and first caps it at `net.core.wmem_max`, silently: the value
    /// it settled on is [`OriginStats::send_buffer`]. A connection whose socket refuses it is
    /// closed unanswered. Must be 1 to [`MAX_SEND_BUFFER`]. Default `None`.
    pub send_buffer: Option<usize>,
}

impl Default for OriginConfig {
    fn default() -> OriginConfig {
        OriginConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            io_timeout: Some(DEFAULT_IO_TIMEOUT),
            mount: String::new(),
            send_buffer: None,
        }
    }
}

/// Counters since the origin started; see [`Origin::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginStats {
    /// Connections accepted; also the serial number of the latest (`X-Origin-Conn`).
    pub connections_accepted: u64,
    /// Connections currently being served.
    pub open_connections: usize,
    /// Request heads received and parsed, including requests later refused for their body
    /// framing or their parameters, but not requests under [`CONTROL_PREFIX`].
    pub requests: u64,
    /// Requests answered with a refusal (400, 413, 431, 501, 505) and a close.
    pub refused: u64,
    /// Requests per path, query excluded (`/bytes/10`, `/sink`), for at most
    /// [`MAX_COUNTED_PATHS`] paths.
    pub per_path: BTreeMap<String, u64>,
    /// How long each request held the origin, head read to last write returned, since the
    /// origin started or [`Origin::reset_busy`]. See the module's "Busy times".
    pub busy: BusySummary,
    /// How long each closed connection was open, accept to close, since the origin started or
    /// [`Origin::reset_busy`].
    pub connection_busy: BusySummary,
    /// The send buffer, in bytes, that the kernel reports (`SO_SNDBUF`) for the latest
    /// connection after setting [`OriginConfig::send_buffer`] on it: on Linux twice the value
    /// asked for, at most twice `net.core.wmem_max`. `None` when `send_buffer` is `None` or no
    /// connection has been accepted yet.
    pub send_buffer: Option<usize>,
}

/// A running origin server. Dropping it shuts it down, as [`Origin::shutdown`] does.
#[derive(Debug)]
pub struct Origin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Invariant: `Some` until the origin is shut down.
    accept_thread: Option<JoinHandle<()>>,
}

impl Origin {
    /// Binds `cfg.listen` and starts accepting on a thread of its own. When this returns, the
    /// listener is bound, so clients may connect at once.
    pub fn start(cfg: OriginConfig) -> io::Result<Origin> {
        if cfg.max_connections == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_connections must be at least 1",
            ));
        }
        if cfg.io_timeout.is_some_and(|timeout| timeout.is_zero()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "io_timeout must not be zero (None waits forever)",
            ));
        }
        if !cfg.mount.is_empty() && (!cfg.mount.starts_with('/') || cfg.mount.ends_with('/')) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "mount must be empty or like /perl (a leading and no trailing slash)",
            ));
        }
        if cfg
            .send_buffer
            .is_some_and(|size| size == 0 || size > MAX_SEND_BUFFER)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "send_buffer must be 1 to MAX_SEND_BUFFER bytes (None leaves the OS default)",
            ));
        }
        let listener = TcpListener::bind(cfg.listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&cfg));
        let accepting = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("origin-accept-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accepting))?;
        Ok(Origin {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address the origin listens on, with the port actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the counters. Counts for a request are updated before any byte of its
    /// answer is written, so a client that has read an answer sees it counted; its busy time is
    /// recorded just after the last write returns, so it may show a moment later.
    pub fn stats(&self) -> OriginStats {
        self.shared.stats(BusyRead::Keep)
    }

    /// Clears the busy times of requests and connections; the counters are kept.
    pub fn reset_busy(&self) {
        lock(&self.shared.busy).clear();
    }

    /// Waits until exactly `count` connections are open, for at most `timeout`; whether they
    /// are. Lets a test see, without sleeping, that a peer closed or opened a connection.
    pub fn wait_for_open_connections(&self, count: usize, timeout: Duration) -> bool {
        let registry = lock(&self.shared.registry);
        let (registry, _) = self
            .shared
            .changed
            .wait_timeout_while(registry, timeout, |registry| registry.open.len() != count)
            .unwrap_or_else(PoisonError::into_inner);
        registry.open.len() == count
    }

    /// Stops accepting, closes every open connection (both directions, mid-answer if need be,
    /// interrupting delays and pauses), and returns once every thread of the origin has ended.
    pub fn shutdown(self) {
        drop(self);
    }

    fn stop(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        self.shared.stop();
        // The accept thread may be blocked in accept(): a connection of our own wakes it.
        let _ = TcpStream::connect_timeout(&wake_addr(self.addr), WAKE_TIMEOUT);
        let _ = accept_thread.join();
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where to connect to reach a listener bound to `addr`, which may be a wildcard address.
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// State shared by the handle, the accept thread and the connection threads.
#[derive(Debug)]
struct Shared {
    max_connections: usize,
    io_timeout: Option<Duration>,
    /// See [`OriginConfig::mount`].
    mount: String,
    /// See [`OriginConfig::send_buffer`].
    send_buffer: Option<usize>,
    /// What the kernel reported after the latest `send_buffer` was set; 0 until then.
    send_buffer_granted: AtomicUsize,
    registry: Mutex<Registry>,
    /// Signalled whenever `registry` changes.
    changed: Condvar,
    connections_accepted: AtomicU64,
    requests: AtomicU64,
    refused: AtomicU64,
    /// Invariant: at most [`MAX_COUNTED_PATHS`] entries.
    per_path: Mutex<BTreeMap<String, u64>>,
    busy: Mutex<BusyTimes>,
    /// (seed, length) → checksum. Invariant: at most [`CHECKSUM_MEMO_ENTRIES`] entries.
    checksums: Mutex<HashMap<(u64, u64), u64>>,
}

/// The busy-time histograms, under one lock so they are read and cleared together.
#[derive(Debug, Default)]
struct BusyTimes {
    requests: Histogram,
    connections: Histogram,
}

impl BusyTimes {
    fn clear(&mut self) {
        self.requests.clear();
        self.connections.clear();
    }
}

/// Whether taking the stats also clears the busy times, as `POST /_origin/stats/reset` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BusyRead {
    Keep,
    Reset,
}

/// Whether a connection's accept-to-close time is recorded: not when it carried only requests
/// under [`CONTROL_PREFIX`], so reading the stats leaves them as they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnectionUse {
    Counted,
    ControlOnly,
}

/// Which connections are open, and whether the origin is stopping.
#[derive(Debug, Default)]
struct Registry {
    is_stopping: bool,
    /// A clone of each open connection's socket by serial number, so shutdown can close it.
    /// Invariant: at most `Shared::max_connections` entries.
    open: HashMap<u64, TcpStream>,
}

impl Shared {
    fn new(cfg: &OriginConfig) -> Shared {
        Shared {
            max_connections: cfg.max_connections,
            io_timeout: cfg.io_timeout,
            mount: cfg.mount.clone(),
            send_buffer: cfg.send_buffer,
            send_buffer_granted: AtomicUsize::new(0),
            registry: Mutex::default(),
            changed: Condvar::new(),
            connections_accepted: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            per_path: Mutex::default(),
            busy: Mutex::default(),
            checksums: Mutex::default(),
        }
    }

    /// A snapshot of the counters and busy times, clearing the busy times when `read` says so.
    fn stats(&self, read: BusyRead) -> OriginStats {
        let (busy, connection_busy) = {
            let mut busy = lock(&self.busy);
            let summaries = (busy.requests.summary(), busy.connections.summary());
            if read == BusyRead::Reset {
                busy.clear();
            }
            summaries
        };
        OriginStats {
            connections_accepted: self.connections_accepted.load(Ordering::Relaxed),
            open_connections: lock(&self.registry).open.len(),
            requests: self.requests.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            per_path: lock(&self.per_path).clone(),
            busy,
            connection_busy,
            send_buffer: match self.send_buffer_granted.load(Ordering::Relaxed) {
                0 => None,
                granted => Some(granted),
            },
        }
    }

    /// Sets [`OriginConfig::send_buffer`], if any, on an accepted connection, and remembers
    /// what the kernel made of it.
    fn apply_send_buffer(&self, stream: &TcpStream) -> io::Result<()> {
        let Some(size) = self.send_buffer else {
            return Ok(());
        };
        let socket = SockRef::from(stream);
        socket.set_send_buffer_size(size)?;
        let granted = socket.send_buffer_size()?;
        self.send_buffer_granted.store(granted, Ordering::Relaxed);
        Ok(())
    }

    /// Records how long one request held the origin.
    fn record_request_busy(&self, held: Duration) {
        lock(&self.busy).requests.record(held);
    }

    /// Records how long one connection was open.
    fn record_connection_busy(&self, held: Duration) {
        lock(&self.busy).connections.record(held);
    }

    /// Sleeps for `duration` unless the origin stops first, which is an error, so the caller
    /// abandons its exchange.
    fn sleep(&self, duration: Duration) -> io::Result<()> {
        let registry = lock(&self.registry);
        let (registry, _) = self
            .changed
            .wait_timeout_while(registry, duration, |registry| !registry.is_stopping)
            .unwrap_or_else(PoisonError::into_inner);
        if registry.is_stopping {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "origin shutting down",
            ));
        }
        Ok(())
    }

    /// Waits until a connection may be admitted; false when the origin stops instead.
    fn wait_for_room(&self) -> bool {
        let registry = lock(&self.registry);
        let registry = self
            .changed
            .wait_while(registry, |registry| {
                !registry.is_stopping && registry.open.len() >= self.max_connections
            })
            .unwrap_or_else(PoisonError::into_inner);
        !registry.is_stopping
    }

    /// Registers an accepted connection and gives its serial number; `None` when the origin is
    /// stopping or the socket cannot be cloned, and the connection should be dropped.
    fn admit(&self, stream: &TcpStream) -> Option<u64> {
        let mut registry = lock(&self.registry);
        if registry.is_stopping {
            return None;
        }
        let clone = stream.try_clone().ok()?;
        let serial = self.connections_accepted.fetch_add(1, Ordering::Relaxed) + 1;
        registry.open.insert(serial, clone);
        self.changed.notify_all();
        Some(serial)
    }

    /// Forgets a connection that has ended.
    fn release(&self, serial: u64) {
        lock(&self.registry).open.remove(&serial);
        self.changed.notify_all();
    }

    /// Marks the origin stopping and closes every open connection in both directions, which
    /// ends every blocked read and write.
    fn stop(&self) {
        let mut registry = lock(&self.registry);
        registry.is_stopping = true;
        for stream in registry.open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        self.changed.notify_all();
    }

    fn count_request(&self, path: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut per_path = lock(&self.per_path);
        if let Some(count) = per_path.get_mut(path) {
            *count += 1;
        } else if per_path.len() < MAX_COUNTED_PATHS {
            per_path.insert(path.to_owned(), 1);
        }
    }

    fn count_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// [`body_checksum`], remembered for large bodies.
    fn body_checksum(&self, seed: u64, length: u64) -> u64 {
        if length < CHECKSUM_MEMO_MIN_BYTES {
            return body_checksum(seed, length);
        }
        if let Some(&sum) = lock(&self.checksums).get(&(seed, length)) {
            return sum;
        }
        // Computed without the lock: two first requests may both compute it, which is harmless.
        let sum = body_checksum(seed, length);
        let mut checksums = lock(&self.checksums);
        if checksums.len() >= CHECKSUM_MEMO_ENTRIES {
            checksums.clear();
        }
        checksums.insert((seed, length), sum);
        sum
    }
}

/// Locks `mutex`, ignoring poisoning: every critical section here leaves its data consistent,
/// so a panic elsewhere must not take the origin down with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts connections and starts a thread for each, until the origin stops; then waits for
/// every connection thread.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut connection_threads: Vec<JoinHandle<()>> = Vec::new();
    while shared.wait_for_room() {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                if shared.sleep(ACCEPT_RETRY).is_err() {
                    break;
                }
                continue;
            }
        };
        let accepted = Instant::now();
        let Some(serial) = shared.admit(&stream) else {
            continue;
        };
        connection_threads.retain(|thread| !thread.is_finished());
        let serving = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("origin-conn-{serial}"))
            .spawn(move || run_connection(stream, serial, accepted, &serving));
        match spawned {
            Ok(thread) => connection_threads.push(thread),
            Err(_) => shared.release(serial),
        }
    }
    for thread in connection_threads {
        let _ = thread.join();
    }
}

/// Serves one admitted connection, releasing it and recording its busy time however serving
/// ends.
fn run_connection(stream: TcpStream, serial: u64, accepted: Instant, shared: &Shared) {
    /// Releases the connection on drop, so a panicking handler still frees its slot. Releasing
    /// closes the registry's copy of the socket, so the time recorded after it runs to the close.
    struct Admitted<'a> {
        shared: &'a Shared,
        serial: u64,
        accepted: Instant,
        usage: ConnectionUse,
    }
    impl Drop for Admitted<'_> {
        fn drop(&mut self) {
            self.shared.release(self.serial);
            if self.usage == ConnectionUse::Counted {
                self.shared.record_connection_busy(self.accepted.elapsed());
            }
        }
    }
    let mut admitted = Admitted {
        shared,
        serial,
        accepted,
        usage: ConnectionUse::Counted,
    };
    let configured = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(shared.io_timeout))
        .and_then(|()| stream.set_write_timeout(shared.io_timeout))
        .and_then(|()| shared.apply_send_buffer(&stream));
    if configured.is_ok() {
        admitted.usage = connection::serve(&stream, serial, shared);
    }
    // Our copy closes first; dropping `admitted` then closes the registry's.
    drop(stream);
}
