//! THE directive table: which directives exist, their syntax, defaults, units and where they
//! are allowed, and the function that applies each. The parser dispatches only through
//! [`find`], and the README's directive reference is rendered from the table by
//! [`reference_markdown`], so adding a row is the whole of adding a directive.
//!
//! Invariants (tested): names are unique case-insensitively; `min_args <= max_args`; a
//! `default` that is a value (not a description in words) is exactly what the parser assumes
//! when the directive is absent.

use std::fmt::Write as _;

use super::lexer::{Line, Node};
use super::parse::Parser;
use super::{buffering, cache, forward, logs, proxy, server, ssl};

/// Where a directive may appear (Apache's "Context").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Outside any `<VirtualHost>` only.
    Server,
    /// Outside, or inside a `<VirtualHost>`.
    ServerAndVhost,
}

impl Context {
    /// Apache's wording, for the reference.
    pub fn describe(self) -> &'static str {
        match self {
            Context::Server => "server config",
            Context::ServerAndVhost => "server config, virtual host",
        }
    }
}

/// How a directive is applied: a one-line directive gets its arguments (the parser has already
/// checked their number); a section also gets its body.
#[derive(Clone, Copy)]
pub(super) enum Apply {
    Directive(fn(&mut Parser, &[String]) -> Result<(), String>),
    Section(fn(&mut Parser, &Line, &[Node])),
}

/// One supported directive.
pub struct Directive {
    /// Canonical spelling; sections are written with brackets (`<VirtualHost>`).
    pub name: &'static str,
    /// Usage line, as the reference shows it.
    pub syntax: &'static str,
    /// The value assumed when the directive is absent, or a description of it in words.
    pub default: &'static str,
    pub context: Context,
    /// What a bare number means (`"seconds"`, `"bytes"`), or `""` where it does not apply.
    pub unit: &'static str,
    pub description: &'static str,
    /// Fewest arguments accepted.
    pub min_args: usize,
    /// Most arguments accepted; `usize::MAX` for "any number".
    pub max_args: usize,
    pub(super) apply: Apply,
}

const ANY: usize = usize::MAX;

/// Every supported directive, in the order the reference lists them.
pub static DIRECTIVES: &[Directive] = &[
    Directive {
        name: "Listen",
        syntax: "Listen [ADDR:]PORT [http|https]",
        default: "none; at least one is required",
        context: Context::Server,
        unit: "",
        description: "An address and port to accept client connections on; repeat it for \
            more. A bare port listens on 0.0.0.0 (all IPv4 addresses; write `[::]:PORT` for \
            IPv6). Port 0 lets the system pick a free port. Without a protocol, port 443 \
            speaks https and every other port http (as Apache); an https listener terminates \
            TLS with the certificate of the virtual host its client's SNI name selects.",
        min_args: 1,
        max_args: 2,
        apply: Apply::Directive(server::listen),
    },
    Directive {
        name: "Workers",
        syntax: "Workers N|auto",
        default: "auto",
        context: Context::Server,
        unit: "",
        description: "How many reactor threads run, from 1 to 1024; `auto` runs one per CPU \
            this process may use.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::workers),
    },
    Directive {
        name: "<VirtualHost>",
        syntax: "<VirtualHost ADDR[:PORT] ...> ... </VirtualHost>",
        default: "none",
        context: Context::Server,
        unit: "",
        description: "A virtual host answering on the given addresses (`*`, `*:80`, \
            `127.0.0.1:8080`, `[::1]:80`) for the names in its ServerName and ServerAlias. It \
            starts with the main server's ProxyPass, ProxyPassMatch and ProxyPassReverse rules \
            (its own follow), takes the main server's ProxyPreserveHost, ProxyAddHeaders, \
            ProxyAddForwarded, ProxyVia and ServerName where it sets none, and logs to the main server's \
            CustomLog targets when it has none of its own.",
        min_args: 1,
        max_args: ANY,
        apply: Apply::Section(server::virtual_host),
    },
    Directive {
        name: "ServerName",
        syntax: "ServerName [SCHEME://]HOST[:PORT]",
        default: "the machine's host name (from /proc/sys/kernel/hostname, else localhost); \
            in a virtual host, the main server's",
        context: Context::ServerAndVhost,
        unit: "",
        description: "The name of the server, compared with the client's Host header to \
            choose a virtual host. Only the host is used (stored lowercase); a scheme and \
            port are accepted as Apache accepts them.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::server_name),
    },
    Directive {
        name: "ServerAlias",
        syntax: "ServerAlias NAME ...",
        default: "none",
        context: Context::ServerAndVhost,
        unit: "",
        description: "More names for the virtual host; `*` and `?` are wildcards. Repeatable.",
        min_args: 1,
        max_args: ANY,
        apply: Apply::Directive(server::server_alias),
    },
    Directive {
        name: "ProxyPass",
        syntax: "ProxyPass PATH URL [KEY=VALUE ...] | ProxyPass PATH !",
        default: "none",
        context: Context::ServerAndVhost,
        unit: "seconds",
        description: "Forwards requests whose path starts with PATH to URL, the rest of the \
            path appended to URL's path; `!` excludes PATH from proxying (answered 404). The \
            first matching ProxyPass or ProxyPassMatch wins, so list longer paths first. URL \
            is `http://host[:port][/path]`; its host is resolved when the configuration is \
            loaded. Keys set the backend's parameters: `timeout` (default ProxyTimeout), \
            `connectiontimeout` (default the backend's timeout), `max` (connections per \
            reactor; default unlimited), `ttl` (idle pooled connection lifetime; default until \
            the backend closes), `retry` (how long a backend that refused a connection is \
            left alone; default 60, 0 = always retry), `disablereuse` (On/Off; default Off), `buffering` (On/Off; default On: Off forwards \
            each read to the client before reading on, tying the backend to the client, for \
            server-sent events and long polls). The first ProxyPass naming a backend with keys sets them; others must repeat them \
            exactly or give none.",
        min_args: 1,
        max_args: ANY,
        apply: Apply::Directive(proxy::proxy_pass),
    },
    Directive {
        name: "ProxyPassMatch",
        syntax: "ProxyPassMatch REGEX URL [KEY=VALUE ...] | ProxyPassMatch REGEX !",
        default: "none",
        context: Context::ServerAndVhost,
        unit: "seconds",
        description: "As ProxyPass, but the request path (without the query) is searched \
            with a regular expression (byte-oriented, without Unicode classes, as Apache's \
            PCRE). `$0` to `$9` in URL's path are replaced by the match and its groups \
            (`\\$` is a literal `$`); a URL without any `$N` gets the whole request path \
            appended. Unlike ProxyPass, URL may end with a `?query`. Keys as for ProxyPass.",
        min_args: 2,
        max_args: ANY,
        apply: Apply::Directive(proxy::proxy_pass_match),
    },
    Directive {
        name: "ProxyPassReverse",
        syntax: "ProxyPassReverse PATH URL",
        default: "none",
        context: Context::ServerAndVhost,
        unit: "",
        description: "Rewrites `Location`, `Content-Location` and `URI` response headers that \
            start with URL so that they start with PATH on this server, keeping redirects \
            from the backend pointing at the proxy. URL may be `http://` or `https://`, or \
            only a path.",
        min_args: 1,
        max_args: 2,
        apply: Apply::Directive(proxy::proxy_pass_reverse),
    },
    Directive {
        name: "ProxyPreserveHost",
        syntax: "ProxyPreserveHost On|Off",
        default: "Off",
        context: Context::ServerAndVhost,
        unit: "",
        description: "On sends the client's Host header to the backend; Off sends the host \
            and port of the ProxyPass URL.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(proxy::proxy_preserve_host),
    },
    Directive {
        name: "ProxyRequests",
        syntax: "ProxyRequests On|Off",
        default: "Off",
        context: Context::ServerAndVhost,
        unit: "",
        description: "On makes this server a forward proxy as well: absolute-form requests \
            for hosts that are not its own (`GET http://example.com/ HTTP/1.1`) are forwarded \
            to the host they name, with the same buffering, and CONNECT opens a tunnel to a \
            port AllowCONNECT lists. Only clients a <Proxy \"*\"> section's Require lines \
            admit may use it (without one: this host's loopback addresses only, where Apache \
            would admit everyone); others get 403. Host names are resolved per request on a \
            resolver thread, never on the reactor.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(forward::proxy_requests),
    },
    Directive {
        name: "<Proxy>",
        syntax: "<Proxy \"*\"> Require ip CIDR ...|local|all granted|all denied ... </Proxy>",
        default: "Require local",
        context: Context::ServerAndVhost,
        unit: "",
        description: "Who may use the forward proxy (ProxyRequests On). Only the \"*\" \
            pattern is read, and only Require lines inside it; several mean any of them.",
        min_args: 1,
        max_args: ANY,
        apply: Apply::Section(forward::proxy_section),
    },
    Directive {
        name: "AllowCONNECT",
        syntax: "AllowCONNECT PORT[-PORT] ...",
        default: "443 563",
        context: Context::ServerAndVhost,
        unit: "",
        description: "The ports a CONNECT request may open a tunnel to (ProxyRequests On); \
            others get 403.",
        min_args: 1,
        max_args: ANY,
        apply: Apply::Directive(forward::allow_connect),
    },
    Directive {
        name: "ProxyVia",
        syntax: "ProxyVia Off|On|Full|Block",
        default: "Off",
        context: Context::ServerAndVhost,
        unit: "",
        description: "Via headers: Off leaves them alone, On adds a Via line to requests and \
            responses, Full adds the spoonfeed version too, Block removes Via from requests \
            to backends.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(proxy::proxy_via),
    },
    Directive {
        name: "ProxyAddHeaders",
        syntax: "ProxyAddHeaders On|Off",
        default: "On",
        context: Context::ServerAndVhost,
        unit: "",
        description: "Adds X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Server to \
            requests sent to backends (each appended to the client's list), and \
            X-Forwarded-Proto: http or https, the scheme of the listener the request came in \
            on (the client's own X-Forwarded-Proto is dropped, so a plain client cannot claim \
            TLS).",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(proxy::proxy_add_headers),
    },
    Directive {
        name: "ProxyAddForwarded",
        syntax: "ProxyAddForwarded On|Off",
        default: "Off",
        context: Context::ServerAndVhost,
        unit: "",
        description: "On appends an RFC 7239 element to the Forwarded header of requests sent \
            to backends: `for=` the client's address, `host=` its Host, `proto=` http or \
            https (existing Forwarded lines are merged into one, ours last). Independent of \
            ProxyAddHeaders.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(proxy::proxy_add_forwarded),
    },
    Directive {
        name: "ProxyTimeout",
        syntax: "ProxyTimeout TIME",
        default: "the value of Timeout",
        context: Context::Server,
        unit: "seconds",
        description: "Longest wait for a backend to accept or send bytes; the default of the \
            `timeout` key of ProxyPass.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(proxy::proxy_timeout),
    },
    Directive {
        name: "ProxyIOBufferSize",
        syntax: "ProxyIOBufferSize SIZE",
        default: "16384",
        context: Context::Server,
        unit: "bytes",
        description: "Size of the blocks every reactor reads into and writes from, from 512 \
            bytes to 1m. Bytes go out with writev from the block they arrived in; larger \
            blocks mean fewer system calls per response, smaller ones less memory per \
            short response.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::io_buffer_size),
    },
    Directive {
        name: "ProxyResponseBufferSize",
        syntax: "ProxyResponseBufferSize SIZE",
        default: "1048576",
        context: Context::Server,
        unit: "bytes",
        description: "Most bytes of one response held for a client. A response that fits is \
            read from the backend at the backend's speed and the backend connection is \
            released the moment its last byte is in; past it the backend is no longer read \
            until the client catches up (back-pressure, never failure).",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::response_buffer_size),
    },
    Directive {
        name: "ProxyBufferPoolSize",
        syntax: "ProxyBufferPoolSize SIZE",
        default: "268435456",
        context: Context::Server,
        unit: "bytes",
        description: "Most memory in blocks one reactor (one core) holds, at least 16 blocks. \
            Blocks are allocated as needed up to it. At the cap, backends are back-pressured, \
            new connections wait in the listen queue, and a request that cannot start at all \
            is answered 503 with Retry-After; what is in flight completes.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::pool_size),
    },
    Directive {
        name: "ProxyRequestBuffering",
        syntax: "ProxyRequestBuffering On|Off",
        default: "On",
        context: Context::Server,
        unit: "",
        description: "On: a request body is read whole (up to ProxyRequestBufferSize) before \
            the backend is connected, so a slow upload never ties up a backend. Off: the body \
            streams to the backend as it arrives.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::request_buffering),
    },
    Directive {
        name: "ProxyRequestBufferSize",
        syntax: "ProxyRequestBufferSize SIZE",
        default: "1048576",
        context: Context::Server,
        unit: "bytes",
        description: "Most bytes of one request body held under ProxyRequestBuffering On \
            (nginx's client_body_buffer_size); the backend is connected once the body is in \
            or this much of it is, and the rest streams.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::request_buffer_size),
    },
    Directive {
        name: "ProxyTempPath",
        syntax: "ProxyTempPath DIR|none",
        default: "none",
        context: Context::Server,
        unit: "",
        description: "Directory for the part of a response that does not fit in \
            ProxyResponseBufferSize (nginx's proxy_temp_path): it goes to an unlinked \
            temporary file and is sent from there with sendfile, so large responses release \
            the backend early too. Relative paths are relative to the configuration file's \
            directory. none: back-pressure the backend instead.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::temp_path),
    },
    Directive {
        name: "ProxyMaxTempFileSize",
        syntax: "ProxyMaxTempFileSize SIZE",
        default: "1073741824",
        context: Context::Server,
        unit: "bytes",
        description: "Most bytes of one response spilled to ProxyTempPath; past it the backend \
            is back-pressured. 0 disables spilling.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::max_temp_file_size),
    },
    Directive {
        name: "ProxySplice",
        syntax: "ProxySplice Off|On|Auto",
        default: "Auto",
        context: Context::Server,
        unit: "",
        description: "Whether a response body passed on unchanged (a Content-Length body) goes \
            backend socket → pipe → client socket with splice(2), never copied into user space. \
            On: every such body. Auto: those of at least 64 KiB that fit in one pipe (its size \
            is ProxyResponseBufferSize within /proc/sys/fs/pipe-max-size), so that the backend \
            is released as early as with blocks. Pipe bytes count as occupancy; pipes in use \
            hold at most half of ProxyBufferPoolSize.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::splice),
    },
    Directive {
        name: "SendBufferSize",
        syntax: "SendBufferSize SIZE",
        default: "0",
        context: Context::Server,
        unit: "bytes",
        description: "SO_SNDBUF of client sockets; 0 keeps the OS default. The kernel may \
            clamp it to net.core.wmem_max: spoonfeed then warns, naming the value to set.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::client_send_buffer),
    },
    Directive {
        name: "ReceiveBufferSize",
        syntax: "ReceiveBufferSize SIZE",
        default: "0",
        context: Context::Server,
        unit: "bytes",
        description: "SO_RCVBUF of client sockets; 0 keeps the OS default. Clamped by \
            net.core.rmem_max, with a warning.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::client_receive_buffer),
    },
    Directive {
        name: "ProxySendBufferSize",
        syntax: "ProxySendBufferSize SIZE",
        default: "0",
        context: Context::Server,
        unit: "bytes",
        description: "SO_SNDBUF of backend sockets; 0 keeps the OS default. Clamped by \
            net.core.wmem_max, with a warning.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::backend_send_buffer),
    },
    Directive {
        name: "ProxyReceiveBufferSize",
        syntax: "ProxyReceiveBufferSize SIZE",
        default: "0",
        context: Context::Server,
        unit: "bytes",
        description: "SO_RCVBUF of backend sockets (Apache's meaning): at least 512 and a \
            multiple of 512, or 0 for the OS default. Clamped by net.core.rmem_max, with a \
            warning.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::backend_receive_buffer),
    },
    Directive {
        name: "StatusLocation",
        syntax: "StatusLocation PATH",
        default: "none (no status endpoint)",
        context: Context::Server,
        unit: "",
        description: "Serves the status endpoint at PATH on every listener and virtual host: \
            Prometheus text, or JSON with `?format=json` (or `Accept: application/json`). \
            Counters, pool and connection gauges, and per-route histograms of backend hold, \
            client drain, time saved and peak occupancy.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(buffering::status_location),
    },
    Directive {
        name: "StatusAllow",
        syntax: "StatusAllow ADDR[/BITS] ...",
        default: "127.0.0.0/8 ::1/128",
        context: Context::Server,
        unit: "",
        description: "Client addresses that may read the status endpoint; others are \
            answered 403. Replaces the default list; repeatable.",
        min_args: 1,
        max_args: ANY,
        apply: Apply::Directive(buffering::status_allow),
    },
    Directive {
        name: "Timeout",
        syntax: "Timeout TIME",
        default: "60",
        context: Context::Server,
        unit: "seconds",
        description: "Longest wait for a client to send or accept bytes during an exchange.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::timeout),
    },
    Directive {
        name: "KeepAlive",
        syntax: "KeepAlive On|Off",
        default: "On",
        context: Context::Server,
        unit: "",
        description: "Whether a client connection may carry more than one exchange.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::keep_alive),
    },
    Directive {
        name: "KeepAliveTimeout",
        syntax: "KeepAliveTimeout TIME",
        default: "5",
        context: Context::Server,
        unit: "seconds",
        description: "Longest wait for the next request on an idle client connection.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::keep_alive_timeout),
    },
    Directive {
        name: "MaxKeepAliveRequests",
        syntax: "MaxKeepAliveRequests N",
        default: "100",
        context: Context::Server,
        unit: "",
        description: "Most exchanges on one client connection; 0 means unlimited.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::max_keep_alive_requests),
    },
    Directive {
        name: "LimitRequestLine",
        syntax: "LimitRequestLine SIZE",
        default: "8190",
        context: Context::Server,
        unit: "bytes",
        description: "Longest request line, from 64 bytes to 1m; a longer one is answered \
            414.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::limit_request_line),
    },
    Directive {
        name: "LimitRequestFieldSize",
        syntax: "LimitRequestFieldSize SIZE",
        default: "8190",
        context: Context::Server,
        unit: "bytes",
        description: "Longest request header field line, from 64 bytes to 1m; a longer one \
            is answered 431.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::limit_request_field_size),
    },
    Directive {
        name: "LimitRequestFields",
        syntax: "LimitRequestFields N",
        default: "100",
        context: Context::Server,
        unit: "",
        description: "Most header fields in a request, from 1 to 32767; more are answered \
            431.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::limit_request_fields),
    },
    Directive {
        name: "LimitRequestBody",
        syntax: "LimitRequestBody SIZE",
        default: "1073741824",
        context: Context::Server,
        unit: "bytes",
        description: "Largest request body; a larger one is answered 413. 0 means unlimited.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::limit_request_body),
    },
    Directive {
        name: "RequestReadTimeout",
        syntax: "RequestReadTimeout [header=SECS[-MAX][,MinRate=BYTES]] [body=SECS[-MAX][,MinRate=BYTES]]",
        default: "header=20-40,MinRate=500 body=20,MinRate=500",
        context: Context::Server,
        unit: "seconds",
        description: "Apache's mod_reqtimeout: a request head must arrive within SECS, extended \
            by a second per BYTES received, up to MAX; a held request body likewise. A client \
            too slow for it (slowloris) gets 408 and is closed. 0 turns a stage off (Timeout \
            then applies between reads).",
        min_args: 1,
        max_args: 2,
        apply: Apply::Directive(server::request_read_timeout),
    },
    Directive {
        name: "MaxConnections",
        syntax: "MaxConnections N",
        default: "0",
        context: Context::Server,
        unit: "",
        description: "Most client connections held at once, split evenly across the reactors \
            (rounded up); past it new connections wait in the listen queue while those in \
            flight are served. 0: no limit but file descriptors.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(server::max_connections),
    },
    Directive {
        name: "HttpProtocolOptions",
        syntax: "HttpProtocolOptions [Strict] [LenientMethods] [Allow0.9|Require1.0]",
        default: "Strict LenientMethods Require1.0",
        context: Context::Server,
        unit: "",
        description: "Allow0.9 serves HTTP/0.9 simple requests (`GET /path` and a line end, \
            no version, no header fields): the backend is asked in HTTP/1.0 and the client \
            gets the body alone, then the close; each is counted (http09_requests). \
            Require1.0 (the default, as in Apache 2.4) answers them 400. Parsing is always \
            strict and any method token is taken, so Unsafe and RegisteredMethods are \
            refused.",
        min_args: 1,
        max_args: 3,
        apply: Apply::Directive(server::http_protocol_options),
    },
    Directive {
        name: "ErrorLog",
        syntax: "ErrorLog PATH|stderr",
        default: "stderr",
        context: Context::Server,
        unit: "",
        description: "Where diagnostics go: standard error (`stderr` or `/dev/stderr`) or a \
            file, relative paths being relative to the configuration file's directory. \
            `syslog` and piped logs are not supported.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(logs::error_log),
    },
    Directive {
        name: "LogLevel",
        syntax: "LogLevel LEVEL",
        default: "warn",
        context: Context::Server,
        unit: "",
        description: "Least severe diagnostic written: emerg, alert, crit, error, warn, \
            notice, info, debug (trace1 to trace8 read as debug). Per-module levels are not \
            supported.",
        min_args: 1,
        max_args: ANY,
        apply: Apply::Directive(logs::log_level),
    },
    Directive {
        name: "LogFormat",
        syntax: "LogFormat FORMAT NICKNAME",
        default: "common, combined and proxy are predefined",
        context: Context::Server,
        unit: "",
        description: "Names an access log format for CustomLog lines below it. Predefined: \
            `common` is `%h %l %u %t \"%r\" %>s %b`; `combined` adds \
            `\"%{Referer}i\" \"%{User-agent}i\"`; `proxy` adds to common `%D \"%{backend}x\" \
            %{backend_status}x %{backend_connect}x %{backend_first_byte}x %{backend_hold}x`.",
        min_args: 1,
        max_args: 2,
        apply: Apply::Directive(logs::log_format),
    },
    Directive {
        name: "CustomLog",
        syntax: "CustomLog PATH|stderr FORMAT|NICKNAME",
        default: "none",
        context: Context::ServerAndVhost,
        unit: "",
        description: "Writes an access log line per exchange to a file (relative paths are \
            relative to the configuration file's directory) or standard error, in a format \
            given inline or by nickname. Repeatable. A virtual host without CustomLog uses \
            the main server's.",
        min_args: 2,
        max_args: 3,
        apply: Apply::Directive(logs::custom_log),
    },
    Directive {
        name: "CacheRoot",
        syntax: "CacheRoot DIR",
        default: "none (no cache)",
        context: Context::Server,
        unit: "",
        description: "The directory cached responses are kept in (it must exist and be \
            writable by the server; checked at start). One file per response, named by a \
            hash of its URL, written to CacheRoot/tmp and renamed into place, so a crash \
            never leaves an entry that could be served; a file that does not check out is \
            removed, counted and fetched again. Nothing is cached until CacheEnable says \
            which URLs.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_root),
    },
    Directive {
        name: "CacheEnable",
        syntax: "CacheEnable disk URL-PATH",
        default: "none",
        context: Context::Server,
        unit: "",
        description: "Caches responses to GET requests whose path starts with URL-PATH, by \
            RFC 9111 (shared cache): what may be stored, how long it is fresh, and how \
            requests are answered from it, with Age and a Cache-Status header (RFC 9211). \
            Responses up to CacheMaxFileSize are stored (chunked ones de-chunked). Hits go out \
            with sendfile(2) on plain connections, through the blocks on TLS.",
        min_args: 2,
        max_args: 2,
        apply: Apply::Directive(cache::cache_enable),
    },
    Directive {
        name: "CacheDisable",
        syntax: "CacheDisable URL-PATH",
        default: "none",
        context: Context::Server,
        unit: "",
        description: "Not cached under URL-PATH, whatever CacheEnable says.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_disable),
    },
    Directive {
        name: "CacheSize",
        syntax: "CacheSize KB",
        default: "1048576",
        context: Context::Server,
        unit: "KB",
        description: "The space the cache may use, in kilobytes as in mod_proxy \
            (`CacheSize 50000` is 50 MB): the collector removes least-recently-used \
            responses down to it.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_size),
    },
    Directive {
        name: "CacheGcInterval",
        syntax: "CacheGcInterval HOURS",
        default: "none (collect only when CacheSize is exceeded)",
        context: Context::Server,
        unit: "hours",
        description: "How often the collector runs, in hours (decimals allowed), on a thread \
            of its own; besides, it runs whenever the store is found 10% over CacheSize \
            (looked at every minute, and each time a tenth of CacheSize was stored).",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_gc_interval),
    },
    Directive {
        name: "CacheMaxExpire",
        syntax: "CacheMaxExpire HOURS",
        default: "24",
        context: Context::Server,
        unit: "hours",
        description: "No response is fresh longer than this, whatever it says.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_max_expire),
    },
    Directive {
        name: "CacheDefaultExpire",
        syntax: "CacheDefaultExpire HOURS",
        default: "1",
        context: Context::Server,
        unit: "hours",
        description: "Freshness of a response with no expiry and no Last-Modified, when its \
            status may be cached without one (200, 404 and the other heuristically \
            cacheable statuses).",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_default_expire),
    },
    Directive {
        name: "CacheLastModifiedFactor",
        syntax: "CacheLastModifiedFactor FACTOR",
        default: "0.1",
        context: Context::Server,
        unit: "",
        description: "A response with Last-Modified but no expiry is fresh for FACTOR times \
            its age when sent (modified 10 hours before: 1 hour at 0.1), at most \
            CacheMaxExpire.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_last_modified_factor),
    },
    Directive {
        name: "CacheMaxFileSize",
        syntax: "CacheMaxFileSize SIZE",
        default: "1000000",
        context: Context::Server,
        unit: "bytes",
        description: "Larger responses are not stored (mod_cache_disk's default).",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_max_file_size),
    },
    Directive {
        name: "CacheLock",
        syntax: "CacheLock On|Off",
        default: "On",
        context: Context::Server,
        unit: "",
        description: "On: while a URL is being fetched to be stored, other requests for it \
            wait (at most CacheLockMaxAge) and are then answered from the cache, so a burst \
            of requests for a missing or stale entry costs the backend one request (across \
            reactors and processes: a lock file in CacheRoot/locks). A response that turns \
            out not to be storable lets them all go on.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_lock),
    },
    Directive {
        name: "CacheLockMaxAge",
        syntax: "CacheLockMaxAge TIME",
        default: "5",
        context: Context::Server,
        unit: "seconds",
        description: "The longest a request waits on CacheLock before it goes to the backend \
            itself; a lock older than this is taken over.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(cache::cache_lock_max_age),
    },
    Directive {
        name: "CachePurgeAllow",
        syntax: "CachePurgeAllow CIDR ...",
        default: "127.0.0.0/8 ::1",
        context: Context::Server,
        unit: "",
        description: "Who may send `PURGE URL-PATH` to remove a cached response (200 when \
            there was one, 404 when not); everyone else gets 403. `spoonfeed cache purge URL` \
            does the same from the command line.",
        min_args: 1,
        max_args: ANY,
        apply: Apply::Directive(cache::cache_purge_allow),
    },
    Directive {
        name: "SSLEngine",
        syntax: "SSLEngine On|Off",
        default: "Off",
        context: Context::ServerAndVhost,
        unit: "",
        description: "On makes this server offer TLS on https listeners, with its \
            SSLCertificateFile; a virtual host that does not say takes the main server's \
            setting. The client's SNI name selects the virtual host (as Host does), \
            and that host's certificate is sent; a client without SNI gets the first host for \
            the address. A request whose Host names another virtual host than its SNI name \
            is answered 421.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(ssl::ssl_engine),
    },
    Directive {
        name: "SSLCertificateFile",
        syntax: "SSLCertificateFile FILE",
        default: "none; in a virtual host, the main server's",
        context: Context::ServerAndVhost,
        unit: "",
        description: "The server's certificate chain in PEM, leaf first, intermediates after \
            (RSA, ECDSA or Ed25519). Relative to the configuration file's directory. Read at \
            start and at every reload (SIGHUP); a file that does not load is an error at this \
            line.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(ssl::ssl_certificate_file),
    },
    Directive {
        name: "SSLCertificateKeyFile",
        syntax: "SSLCertificateKeyFile FILE",
        default: "the SSLCertificateFile (which then holds the key too)",
        context: Context::ServerAndVhost,
        unit: "",
        description: "The private key of the certificate, PEM (PKCS#8, PKCS#1 or SEC1), not \
            encrypted. It must match the certificate.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(ssl::ssl_certificate_key_file),
    },
    Directive {
        name: "SSLCipherSuite",
        syntax: "SSLCipherSuite [SSL|TLSv1.3] SPEC",
        default: "HIGH",
        context: Context::ServerAndVhost,
        unit: "",
        description: "The cipher suites offered, in order of preference, for TLS 1.2 (SSL, the \
            default) or TLS 1.3: OpenSSL or IANA suite names separated by colons; HIGH, \
            DEFAULT, ALL or SECURE for every suite rustls has; !NAME removes one. rustls has \
            ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2 and the three TLS 1.3 \
            suites; other suite names (DHE, CBC) are skipped with a warning, so lists such \
            as Mozilla's work as given; a list left empty, or a name that is no suite, is an \
            error.",
        min_args: 1,
        max_args: 2,
        apply: Apply::Directive(ssl::ssl_cipher_suite),
    },
    Directive {
        name: "SSLHonorCipherOrder",
        syntax: "SSLHonorCipherOrder On|Off",
        default: "Off",
        context: Context::ServerAndVhost,
        unit: "",
        description: "On: the suite is chosen by SSLCipherSuite's order, not the client's.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(ssl::ssl_honor_cipher_order),
    },
    Directive {
        name: "SSLStrictSNIVHostCheck",
        syntax: "SSLStrictSNIVHostCheck On|Off",
        default: "Off",
        context: Context::ServerAndVhost,
        unit: "",
        description: "On: a client whose SNI name is not this virtual host's ServerName or a \
            ServerAlias (so the host would serve it only as the default for the address), or \
            that sends no SNI, fails the handshake instead of getting the default \
            certificate.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(ssl::ssl_strict_sni),
    },
    Directive {
        name: "SSLProxyEngine",
        syntax: "SSLProxyEngine On|Off",
        default: "Off",
        context: Context::ServerAndVhost,
        unit: "",
        description: "On lets this server's ProxyPass routes lead to https:// backends: TLS \
            1.2 or 1.3 with SNI from the URL's host (an IP address is checked against the \
            certificate's IP entries), ALPN http/1.1, connections pooled like plain ones, \
            sessions resumed. Splice is not used for those responses. A virtual host that \
            does not say takes the main server's setting.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(ssl::ssl_proxy_engine),
    },
    Directive {
        name: "SSLProxyCACertificateFile",
        syntax: "SSLProxyCACertificateFile FILE",
        default: "the system's CA bundle (/etc/ssl/certs/ca-certificates.crt or the distribution's equivalent)",
        context: Context::Server,
        unit: "",
        description: "The CA certificates (PEM, one or more) that backends' certificates must \
            chain to. Relative to the configuration file's directory; read at start and at \
            every reload.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(ssl::ssl_proxy_ca_certificate_file),
    },
    Directive {
        name: "SSLProxyVerify",
        syntax: "SSLProxyVerify require|none",
        default: "require",
        context: Context::Server,
        unit: "",
        description: "require checks each backend's certificate chain and name; none takes \
            any certificate (a warning at start says what that exposes). mod_ssl's default is \
            none; spoonfeed checks unless told not to.",
        min_args: 1,
        max_args: 1,
        apply: Apply::Directive(ssl::ssl_proxy_verify),
    },
    Directive {
        name: "SSLProtocol",
        syntax: "SSLProtocol [+|-]PROTOCOL ...",
        default: "all",
        context: Context::ServerAndVhost,
        unit: "",
        description: "Which TLS versions are offered: all (both), TLSv1.2, TLSv1.3; a bare name sets \
            the list, + adds, - removes. SSLv3, TLSv1 and TLSv1.1 may be removed (so classic \
            lines such as `all -SSLv3 -TLSv1 -TLSv1.1` work) but not asked for: rustls does \
            not implement them.",
        min_args: 1,
        max_args: ANY,
        apply: Apply::Directive(ssl::ssl_protocol),
    },
];

/// The directive named `name` (case-insensitive; sections as `<Name>`).
pub fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Why an unknown directive is unknown, as an error message.
pub(super) fn unknown_message(name: &str) -> String {
    let closest = DIRECTIVES
        .iter()
        .filter(|d| !d.name.starts_with('<'))
        .map(|d| {
            (
                edit_distance(&d.name.to_ascii_lowercase(), &name.to_ascii_lowercase()),
                d.name,
            )
        })
        .min();
    match closest {
        Some((distance, known)) if distance <= 2 && name.len() > 3 => {
            format!("unknown directive {name} (did you mean {known}?)")
        }
        _ => format!("unknown directive {name}"),
    }
}

/// Levenshtein distance, for "did you mean" hints on short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The README's directive reference, rendered from [`DIRECTIVES`].
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "Directive names are case-insensitive; `On`/`Off` values too. A time is a whole \
         number with an optional unit `ms`, `s`, `m` or `h`; a size is a whole number of bytes \
         with an optional suffix `k`, `m` or `g` (1024-based). A bare number is in the unit \
         listed for the directive. Context *server config* means outside any \
         `<VirtualHost>`; *virtual host* means inside one too. An unknown directive, key or \
         section is an error.\n\n",
    );
    for d in DIRECTIVES {
        let _ = write!(
            out,
            "- **{}** `{}`  \n  Default: {}. Context: {}.",
            d.name.trim_start_matches('<').trim_end_matches('>'),
            d.syntax,
            d.default,
            d.context.describe()
        );
        if !d.unit.is_empty() {
            let _ = write!(out, " Bare numbers: {}.", d.unit);
        }
        let _ = writeln!(out, "  \n  {}", d.description);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_argument_counts_consistent() {
        for (i, d) in DIRECTIVES.iter().enumerate() {
            assert!(d.min_args <= d.max_args, "{}", d.name);
            assert!(
                DIRECTIVES[i + 1..]
                    .iter()
                    .all(|e| !e.name.eq_ignore_ascii_case(d.name)),
                "{} twice",
                d.name
            );
            assert!(find(d.name).is_some());
            assert!(find(&d.name.to_ascii_uppercase()).is_some());
        }
    }

    #[test]
    fn reference_mentions_every_directive_with_syntax_and_default() {
        let md = reference_markdown();
        for d in DIRECTIVES {
            assert!(md.contains(d.syntax), "{} syntax missing", d.name);
            assert!(md.contains(d.default), "{} default missing", d.name);
            assert!(md.contains(d.description), "{} description missing", d.name);
        }
    }

    #[test]
    fn suggests_a_close_directive_name() {
        assert_eq!(
            unknown_message("ProxyPas"),
            "unknown directive ProxyPas (did you mean ProxyPass?)"
        );
        assert_eq!(
            unknown_message("Frobnicate"),
            "unknown directive Frobnicate"
        );
    }
}
