//! The validated configuration that reactors run on: plain data, built once by the parser,
//! shared read-only behind an `Arc`, never mutated after parsing.
//!
//! Every field has its default filled in; `Duration`s and byte counts are already converted
//! from the directive's units. Nothing here does I/O.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use regex::bytes::Regex;

use crate::tls::ciphers::TlsSuites;
use crate::tls::setup::TlsProtocols;

/// Where a directive came from, for `file:line: message` diagnostics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// The scheme a listener speaks to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// One `Listen [ADDR:]PORT [scheme]` line. A bare port is `0.0.0.0:PORT` (IPv4 only); port 0
/// asks the system for a free port and may appear more than once. Only `Http` until TLS lands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    pub scheme: Scheme,
    pub origin: Origin,
}

/// `Workers N|auto`: how many reactor threads run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    /// One reactor per CPU this process may run on.
    Auto,
    Count(usize),
}

/// `ProxyVia Off|On|Full|Block`, with Apache's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViaSetting {
    /// Leave `Via` headers alone.
    Off,
    /// Add a `Via` line to requests and responses.
    On,
    /// As `On`, with spoonfeed's version as a comment.
    Full,
    /// Remove `Via` from requests sent to backends; add nothing.
    Block,
}

/// `LogLevel`: Apache's names; `trace1`..`trace8` read as `Debug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

/// Where a log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
}

/// One `CustomLog target format` line, the format already resolved from a nickname
/// (`common`, `combined`, `proxy`, or one defined by `LogFormat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLog {
    pub target: LogTarget,
    /// The format string in Apache's `%` syntax, as written (for `spoonfeed -T`).
    pub format: String,
    /// `format` compiled (see [`super::log_format`]), for the access log to render.
    pub compiled: super::log_format::LogFormat,
    pub origin: Origin,
}

/// Connection-level settings of the server (Apache's core and mod_reqtimeout-like limits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `Timeout`: longest wait for the client to send or accept bytes mid-exchange.
    pub timeout: Duration,
    /// `KeepAlive`: whether a client connection may carry more than one exchange.
    pub keep_alive: bool,
    /// `KeepAliveTimeout`: longest wait for the next request on an idle connection.
    pub keep_alive_timeout: Duration,
    /// `MaxKeepAliveRequests`: exchanges per client connection; 0 = unlimited.
    pub max_keep_alive_requests: u32,
    /// `LimitRequestLine`: longest request line in bytes; longer gets 414.
    pub request_line: usize,
    /// `LimitRequestFieldSize`: longest header field line in bytes; longer gets 431.
    pub request_field_size: usize,
    /// `LimitRequestFields`: most header fields in a request; more gets 431.
    pub request_fields: usize,
    /// `LimitRequestBody`: largest request body in bytes; larger gets 413. 0 = unlimited.
    pub request_body: u64,
    /// `RequestReadTimeout header=…`: how long a request head may take; `None` = only
    /// `Timeout` between reads.
    pub header_read: Option<ReadTimeout>,
    /// `RequestReadTimeout body=…`: how long a request body held before the backend is asked
    /// may take.
    pub body_read: Option<ReadTimeout>,
    /// `MaxConnections`: most client connections at once (split across reactors); 0 = no
    /// limit but the file descriptors.
    pub max_connections: usize,
    /// `HttpProtocolOptions Allow0.9`: HTTP/0.9 simple requests are served (body alone back).
    pub allow_http09: bool,
}

/// One stage of `RequestReadTimeout` (Apache's mod_reqtimeout): `initial` seconds, extended by
/// one second per `min_rate` bytes received, up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadTimeout {
    pub initial: Duration,
    pub max: Option<Duration>,
    /// Bytes per second; `None`: no extension.
    pub min_rate: Option<u64>,
}

impl ReadTimeout {
    /// How long the stage may last once `received` bytes arrived.
    pub fn allowed(&self, received: u64) -> Duration {
        let extra = match self.min_rate {
            Some(rate) if rate > 0 => Duration::from_secs(received / rate),
            _ => Duration::ZERO,
        };
        let allowed = self.initial + extra;
        match self.max {
            Some(max) => allowed.min(max),
            None => allowed,
        }
    }
}

/// How bytes are held on their way through (the buffering directives, DESIGN.md §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buffering {
    /// `ProxyIOBufferSize`: bytes in one block of the reactor's pool.
    pub io_buffer_size: usize,
    /// `ProxyResponseBufferSize`: most bytes of one response held for a client before the
    /// backend is no longer read (back-pressure).
    pub response_buffer_size: usize,
    /// `ProxyBufferPoolSize`: most bytes of blocks one reactor holds.
    pub pool_size: usize,
    /// `ProxyRequestBuffering`: whether a request body is held before the backend is connected.
    pub request_buffering: bool,
    /// `ProxyRequestBufferSize`: most request-body bytes held; a larger body is streamed.
    pub request_buffer_size: usize,
    /// `ProxyTempPath`: where responses larger than `ProxyResponseBufferSize` spill to
    /// unlinked temporary files; `None` = no spilling (back-pressure instead).
    pub temp_path: Option<std::path::PathBuf>,
    /// `ProxyMaxTempFileSize`: most bytes of one response spilled to disk.
    pub max_temp_file_size: u64,
    /// `ProxySplice`: when bodies go backend → pipe → client with `splice(2)`.
    pub splice: SpliceMode,
    /// `SendBufferSize` / `ReceiveBufferSize`: client sockets' `SO_SNDBUF` / `SO_RCVBUF`;
    /// 0 = the OS default.
    pub client_send_buffer: usize,
    pub client_receive_buffer: usize,
    /// `ProxySendBufferSize` / `ProxyReceiveBufferSize`: backend sockets' buffers; 0 = OS default.
    pub backend_send_buffer: usize,
    pub backend_receive_buffer: usize,
}

impl Buffering {
    /// Whether bytes past the memory budgets may go to `ProxyTempPath`.
    pub fn spills(&self) -> bool {
        self.temp_path.is_some() && self.max_temp_file_size > 0
    }
}

/// `ProxySplice Off|On|Auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpliceMode {
    /// Every body goes through blocks.
    Off,
    /// Every body that can be (a `Content-Length` body passed unchanged) is spliced.
    On,
    /// Such bodies are spliced when they are large enough to gain and fit in one pipe.
    Auto,
}

/// An address range in CIDR notation (`10.0.0.0/8`, `::1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrRange {
    pub net: std::net::IpAddr,
    pub bits: u8,
}

impl AddrRange {
    /// Whether `ip` is inside the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for AddrRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

/// The cache (`CacheRoot` and the lines that go with it).
#[derive(Clone, Debug)]
pub struct Cache {
    pub root: PathBuf,
    /// The store at `root`, checked to be a writable directory when the file was read.
    pub store: crate::cache::store::Store,
    /// `CacheEnable disk PATH` prefixes, and `CacheDisable PATH` ones (which win).
    pub enable: Vec<String>,
    pub disable: Vec<String>,
    /// `CacheSize`, in bytes: garbage collection keeps the store under it.
    pub size_bytes: u64,
    /// `CacheGcInterval`: how often the collector runs; `None`, only when over the size.
    pub gc_interval: Option<std::time::Duration>,
    /// `CacheMaxFileSize`: larger responses are not stored.
    pub max_file_size: u64,
    /// `CachePurgeAllow`: who may send `PURGE` (default: this host's loopback addresses).
    pub purge_allow: Vec<AddrRange>,
    /// `CacheLock On` (the default) with `CacheLockMaxAge`: how long requests for a URL being
    /// fetched wait for it; `None` with `CacheLock Off`.
    pub lock_max_age: Option<std::time::Duration>,
    /// `CacheMaxExpire`, `CacheDefaultExpire`, `CacheLastModifiedFactor`.
    pub settings: crate::cache::policy::Settings,
}

impl Cache {
    /// Whether requests for `path` are cached: under a `CacheEnable` prefix and no
    /// `CacheDisable` one.
    pub fn covers(&self, path: &[u8]) -> bool {
        let under = |prefix: &String| path.starts_with(prefix.as_bytes());
        self.enable.iter().any(under) && !self.disable.iter().any(under)
    }
}

/// Who may use the forward proxy: `<Proxy "*">` with its `Require` lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyAccess {
    /// `Require all granted`.
    pub everyone: bool,
    /// `Require ip …` and `Require local`.
    pub ranges: Vec<AddrRange>,
}

impl ProxyAccess {
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        self.everyone || self.ranges.iter().any(|r| r.contains(ip))
    }
}

/// The status endpoint: where it answers and who may read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEndpoint {
    /// `StatusLocation`: the request path it answers on (any virtual host).
    pub path: String,
    /// `StatusAllow`: client addresses allowed; everyone else gets 403.
    pub allow: Vec<AddrRange>,
}

/// `http` or `https` backend (https under `SSLProxyEngine On`).
pub type BackendScheme = Scheme;

/// Index into `Config::backends`.
pub type BackendId = usize;

/// Per-backend settings from `ProxyPass` keys (mod_proxy "worker" parameters). The first
/// `ProxyPass` naming a backend URL defines them; later ones must agree or set none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendParams {
    /// `timeout=`: longest wait for backend bytes; default `ProxyTimeout`.
    pub timeout: Duration,
    /// `connectiontimeout=`: longest wait for a connect; default the backend's `timeout`.
    pub connect_timeout: Duration,
    /// `max=`: most connections to this backend per reactor (active + idle); `None` = unlimited.
    pub max: Option<usize>,
    /// `ttl=`: longest time an idle pooled connection is kept; `None` = until the backend closes it.
    pub ttl: Option<Duration>,
    /// `retry=`: how long a backend whose connect failed is considered down (503) before trying again.
    pub retry: Duration,
    /// `disablereuse=On`: one connection per exchange, never pooled.
    pub disable_reuse: bool,
    /// `buffering=Off`: responses are not held for slow clients; each read is forwarded
    /// before the next (the backend is tied to the client, as without spoonfeed).
    pub buffering: bool,
}

/// A backend ("worker" in mod_proxy): one scheme://host:port that routes point at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// Canonical `scheme://host:port` (lowercase host), the identity of the backend.
    pub name: String,
    pub scheme: BackendScheme,
    /// Host as written in the URL (lowercased), without brackets for IPv6.
    pub host: String,
    pub port: u16,
    /// `Host` header value to send unless `ProxyPreserveHost On`: the authority as written in
    /// the URL (the port only when it was written).
    pub authority: String,
    /// Addresses resolved at configuration time, tried in order on connect failure.
    pub addrs: Vec<SocketAddr>,
    pub params: BackendParams,
    pub origin: Origin,
}

/// What a route's path test is.
#[derive(Clone, Debug)]
pub enum RouteMatch {
    /// `ProxyPass PATH …`: the request path starts with these bytes.
    Prefix(String),
    /// `ProxyPassMatch REGEX …`: the raw request path (without query) matches; bytes, since a
    /// path need not be UTF-8.
    Regex(Regex),
}

impl PartialEq for RouteMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RouteMatch::Prefix(a), RouteMatch::Prefix(b)) => a == b,
            (RouteMatch::Regex(a), RouteMatch::Regex(b)) => a.as_str() == b.as_str(),
            (RouteMatch::Prefix(_), RouteMatch::Regex(_))
            | (RouteMatch::Regex(_), RouteMatch::Prefix(_)) => false,
        }
    }
}

/// What a matched route does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    /// `ProxyPass PATH !`: not proxied (answered 404 by spoonfeed, which serves no files).
    Exclude,
    /// Forward to `backend`, with the URL's path part: for a prefix route the request path's
    /// rest is appended to it; for a regex route `$N` are substituted (and if it holds no `$`,
    /// the whole request path is appended, as mod_proxy does). Empty or starting with `/`;
    /// only a regex route's may hold a `?query`, and the parser has checked that each `$N`
    /// (`$0`..`$9`) names a group of the regex.
    Proxy { backend: BackendId, path: String },
}

/// One `ProxyPass` / `ProxyPassMatch` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub matcher: RouteMatch,
    pub target: RouteTarget,
    pub origin: Origin,
}

/// One `ProxyPassReverse PATH URL` line: response headers starting with `url` have it
/// replaced by the client's view of `path`. `url` is as written: an `http://` or `https://`
/// URL, or (as Apache allows) only a path starting with `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReverseRule {
    pub path: String,
    pub url: String,
    pub origin: Origin,
}

/// One address a `<VirtualHost>` answers on; `None` parts are `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VhostAddr {
    pub ip: Option<std::net::IpAddr>,
    pub port: Option<u16>,
}

/// A virtual host, or (index 0 of `Config::vhosts`) the main server: the directives outside any
/// `<VirtualHost>`. A virtual host's `routes` and `reverse` start with the main server's (as
/// mod_proxy merges them), followed by its own.
#[derive(Clone, Debug, PartialEq)]
pub struct Vhost {
    /// Empty for the main server.
    pub addrs: Vec<VhostAddr>,
    /// `ServerName`, lowercase host only (no scheme or port; IPv6 in brackets); default for the
    /// main server is the machine's host name, for a virtual host the main server's.
    pub server_name: String,
    /// `ServerAlias` patterns (`*` and `?` wildcards), lowercase.
    pub aliases: Vec<String>,
    pub routes: Vec<Route>,
    pub reverse: Vec<ReverseRule>,
    /// `ProxyPreserveHost`: send the client's `Host` to the backend.
    pub preserve_host: bool,
    /// `ProxyAddHeaders`: add `X-Forwarded-For/-Host/-Server/-Proto`.
    pub add_forwarded: bool,
    /// `ProxyAddForwarded`: append an RFC 7239 `Forwarded` element.
    pub add_rfc7239: bool,
    /// `ProxyVia`.
    pub via: ViaSetting,
    /// `ProxyRequests`: forward proxying (absolute-form to foreign hosts, CONNECT).
    pub proxy_requests: bool,
    /// Who may use the forward proxy (`<Proxy "*">`); without one, this host's own addresses
    /// (loopback) only.
    pub proxy_access: ProxyAccess,
    /// `AllowCONNECT`: the ports CONNECT may reach.
    pub allow_connect: Vec<std::ops::RangeInclusive<u16>>,
    /// `CustomLog` lines; a virtual host without any uses the main server's.
    pub access_logs: Vec<AccessLog>,
    /// `SSLEngine On` and its certificate (own or the main server's); `None` when off.
    pub tls: Option<VhostTls>,
    /// `SSLProxyEngine`: its routes may lead to `https://` backends.
    pub proxy_tls: bool,
    pub origin: Option<Origin>,
}

/// A virtual host's TLS settings: what `SSLEngine On` offers on `https` listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VhostTls {
    /// `SSLCertificateFile`: the certificate chain (PEM), leaf first.
    pub cert_file: PathBuf,
    /// `SSLCertificateKeyFile`; the certificate file when not given (as mod_ssl).
    pub key_file: PathBuf,
    /// `SSLProtocol`.
    pub protocols: TlsProtocols,
    /// `SSLCipherSuite` and `SSLHonorCipherOrder`.
    pub suites: TlsSuites,
    /// `SSLStrictSNIVHostCheck On`: a client whose SNI name (or lack of one) selects this
    /// host only as the default for its address fails the handshake.
    pub strict_sni: bool,
    /// The `SSLCertificateFile` line, for messages about the files.
    pub origin: Origin,
}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from (for messages and reloads).
    pub file: PathBuf,
    pub listens: Vec<Listen>,
    pub workers: Workers,
    pub limits: Limits,
    pub buffering: Buffering,
    /// `None` unless `StatusLocation` is given.
    pub status: Option<StatusEndpoint>,
    /// `ProxyTimeout`: default backend timeout; default `Timeout`.
    pub proxy_timeout: Duration,
    /// Index 0 is the main server.
    pub vhosts: Vec<Vhost>,
    /// Each virtual host's TLS server configuration (certificate loaded), by index into
    /// `vhosts`; `None` for hosts without `SSLEngine On`.
    pub tls: Vec<Option<std::sync::Arc<rustls::ServerConfig>>>,
    pub backends: Vec<Backend>,
    /// The backend entry forward-proxied requests use (`ProxyRequests On` anywhere): its
    /// parameters (timeouts; never pooled, never marked down), with the addresses resolved per
    /// request.
    pub forward_backend: Option<BackendId>,
    /// `CacheRoot` and the rest; `None` without `CacheRoot`.
    pub cache: Option<Cache>,
    /// TLS to `https://` backends (`SSLProxyEngine`); `Some` when any route leads to one.
    pub proxy_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// `SSLProxyCACertificateFile`; `None`: the system's CA bundle.
    pub proxy_ca_file: Option<PathBuf>,
    /// `SSLProxyVerify require` (true, the default) or `none`.
    pub proxy_verify: bool,
    pub error_log: LogTarget,
    pub log_level: LogLevel,
}

/// Something wrong with the configuration, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A problem that does not stop the server (a route that can never match, a value the OS
/// will clamp), located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: {}", self.origin, self.message)
    }
}
