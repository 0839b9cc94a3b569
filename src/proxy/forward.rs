//! What the backend and the client see: re-encoding parsed heads for the other side.
//!
//! Owns: [`encode_backend_request`] (client head → backend head) and
//! [`encode_client_response`] (backend head → client head): which fields are dropped (hop-by-hop
//! ones, RFC 9110 §7.6.1), which are added (`Host`, framing, `X-Forwarded-*`, `Via`,
//! `Connection`), and which are rewritten (`Location` and friends, Apache `ProxyPassReverse`).
//!
//! Must not: parse or validate (heads come from `http1`, already checked), route, do I/O, or
//! decide framing (the caller passes the framing it will actually send).
//!
//! Invariants: end-to-end field lines are copied in order, name and value byte for byte (values
//! are written without the optional whitespace the parser trimmed); every line written ends in
//! CRLF; the output always ends with the empty line.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::net::IpAddr;

use crate::http1::{
    is_hop_by_hop, list_items, Header, RequestBody, RequestHead, ResponseHead, Version,
    MAX_CONNECTION_OPTIONS,
};

/// The software token `ViaMode::Full` adds, like Apache's `(Apache/2.4)`.
const SOFTWARE: &str = concat!("spoonfeed/", env!("CARGO_PKG_VERSION"));

/// The field names a head's `Connection` fields list, which makes those fields hop-by-hop for
/// that message (RFC 9110 §7.6.1). Collected once per head, so checking each field costs at
/// most [`MAX_CONNECTION_OPTIONS`] comparisons whatever the peer sent.
struct ConnectionNames<'b> {
    /// Invariant: only the first `len` entries are meaningful.
    names: [&'b [u8]; MAX_CONNECTION_OPTIONS],
    /// Invariant: `len <= MAX_CONNECTION_OPTIONS`.
    len: usize,
}

impl<'b> ConnectionNames<'b> {
    /// The names listed in `headers` (parsed from `buf`). Heads from `http1` list at most
    /// [`MAX_CONNECTION_OPTIONS`]; any further ones are ignored.
    fn of(buf: &'b [u8], headers: &[Header]) -> ConnectionNames<'b> {
        let mut names = ConnectionNames {
            names: [&[]; MAX_CONNECTION_OPTIONS],
            len: 0,
        };
        let listed = headers
            .iter()
            .filter(|h| h.is(buf, b"connection"))
            .flat_map(|h| list_items(h.value.of(buf)));
        for name in listed.take(MAX_CONNECTION_OPTIONS) {
            names.names[names.len] = name;
            names.len += 1;
        }
        names
    }

    /// Whether `name` is listed (ASCII case-insensitive).
    fn contains(&self, name: &[u8]) -> bool {
        self.names[..self.len]
            .iter()
            .any(|listed| listed.eq_ignore_ascii_case(name))
    }
}

/// What to do with `Via`, with Apache's `ProxyVia` semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViaMode {
    /// Pass existing `Via` fields through, add none.
    Off,
    /// Add `Via: <protocol> <via_by>`.
    On,
    /// Add `Via: <protocol> <via_by> (spoonfeed/VERSION)`.
    Full,
    /// Remove every `Via` field, add none.
    Block,
}

/// The client facts the backend is told about (Apache `mod_proxy`'s `X-Forwarded-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forwarded<'a> {
    /// The client's address, appended to `X-Forwarded-For`.
    pub client_ip: IpAddr,
    /// The client's `Host` value, appended to `X-Forwarded-Host` (none added when `None`).
    pub host: Option<&'a [u8]>,
    /// Our server name, appended to `X-Forwarded-Server`.
    pub server: &'a [u8],
    /// The scheme the client connected with (`http` or `https`), sent as
    /// `X-Forwarded-Proto`. Not a list: whatever the client sent in that field is dropped,
    /// so a plain-HTTP client cannot pass itself off as a TLS one.
    pub proto: &'a [u8],
}

/// How to re-encode a client's request for the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendRequest<'a> {
    /// Path and query for the request-line, already rewritten by routing; empty means `/`.
    /// Must not hold SP, CR or LF.
    pub path: &'a [u8],
    /// The `Host` value to send. Must not hold CR or LF.
    pub host: &'a [u8],
    /// The framing the proxy will send the content with: `Length(n)` → `Content-Length: n`,
    /// `Chunked` → `Transfer-Encoding: chunked`, `None` → nothing, except `Content-Length: 0`
    /// for POST, PUT and PATCH (RFC 9110 §8.6).
    pub body: RequestBody,
    /// `Some`: existing `X-Forwarded-For`/`-Host`/`-Server` fields are merged into one line
    /// each, with our value appended. `None`: they pass through untouched.
    pub forwarded: Option<Forwarded<'a>>,
    /// `Some`: an RFC 7239 `Forwarded` element (`for`, `host`, `proto`; `server` is not used)
    /// is appended to the client's `Forwarded` list, merged into one line. `None`: `Forwarded`
    /// passes through untouched.
    pub rfc7239: Option<Forwarded<'a>>,
    /// What to do with `Via`.
    pub via: ViaMode,
    /// Our name in `Via`, e.g. `proxy.example:80`.
    pub via_by: &'a [u8],
    /// Ask in HTTP/1.0 (for an HTTP/0.9 client) instead of HTTP/1.1.
    pub http10: bool,
    /// Field lines of our own to add (each ending in CRLF): the cache's validators.
    pub extra: &'a [u8],
    /// `false` → `Connection: close`.
    pub keep_alive: bool,
    /// `Some(protocols)`: the client asked to switch protocols; `Upgrade: protocols` and
    /// `Connection: upgrade` are sent (in place of `Connection: close`).
    pub upgrade: Option<&'a [u8]>,
}

/// Writes the head to send the backend for `head` (parsed from `buf`) into `out`.
///
/// HTTP/1.1 (HTTP/1.0 under `req.http10`). The request-line is the client's method, `req.path`, the version; then
/// `Host`; then the client's end-to-end fields in order, minus hop-by-hop fields, fields named
/// by `Connection`, `Host`, `Content-Length`, `Transfer-Encoding`, `Expect` (the proxy answers
/// `100-continue` itself), `Via` under [`ViaMode::Block`], and `X-Forwarded-*` when they are
/// merged; then framing, `X-Forwarded-*`, `Via` and `Connection` as `req` says.
pub fn encode_backend_request(
    buf: &[u8],
    head: &RequestHead,
    req: &BackendRequest<'_>,
    out: &mut Vec<u8>,
) {
    debug_assert!(
        !req.path.iter().any(|b| matches!(b, b' ' | b'\r' | b'\n')),
        "path breaks the line"
    );
    debug_assert!(
        !req.host.iter().any(|b| matches!(b, b'\r' | b'\n')),
        "host breaks the line"
    );
    out.reserve(head.head_len + 256);
    out.extend_from_slice(head.method_span.of(buf));
    out.push(b' ');
    out.extend_from_slice(if req.path.is_empty() { b"/" } else { req.path });
    out.extend_from_slice(if req.http10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    push_field(out, b"Host", req.host);

    let merges_forwarded = req.forwarded.is_some();
    let connection_names = ConnectionNames::of(buf, &head.headers);
    for header in &head.headers {
        let name = header.name.of(buf);
        let dropped = is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"host")
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"expect")
            || (req.via == ViaMode::Block && name.eq_ignore_ascii_case(b"via"))
            || (merges_forwarded && is_x_forwarded(name))
            || (req.rfc7239.is_some() && name.eq_ignore_ascii_case(b"forwarded"))
            || connection_names.contains(name);
        if !dropped {
            push_field(out, name, header.value.of(buf));
        }
    }

    out.extend_from_slice(req.extra);
    match req.body {
        RequestBody::Length(n) => push_content_length(out, n),
        RequestBody::Chunked => push_field(out, b"Transfer-Encoding", b"chunked"),
        RequestBody::None if head.method.expects_content() => push_content_length(out, 0),
        RequestBody::None => {}
    }
    if let Some(forwarded) = &req.forwarded {
        let mut ip = Vec::with_capacity(39);
        write!(ip, "{}", forwarded.client_ip).expect("writing to a Vec cannot fail");
        push_merged(
            out,
            buf,
            &head.headers,
            &connection_names,
            b"X-Forwarded-For",
            Some(&ip),
        );
        push_merged(
            out,
            buf,
            &head.headers,
            &connection_names,
            b"X-Forwarded-Host",
            forwarded.host,
        );
        push_merged(
            out,
            buf,
            &head.headers,
            &connection_names,
            b"X-Forwarded-Server",
            Some(forwarded.server),
        );
        push_field(out, b"X-Forwarded-Proto", forwarded.proto);
    }
    if let Some(facts) = &req.rfc7239 {
        let mut element = Vec::with_capacity(64);
        forwarded_element(facts, &mut element);
        push_merged(
            out,
            buf,
            &head.headers,
            &connection_names,
            b"Forwarded",
            Some(&element),
        );
    }
    push_via(out, req.via, head.version, req.via_by);
    if let Some(protocols) = req.upgrade {
        push_field(out, b"Upgrade", protocols);
        push_field(out, b"Connection", b"upgrade");
    } else if !req.keep_alive {
        push_field(out, b"Connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// The framing the proxy sends a response's content with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFraming {
    /// Keep the backend's `Content-Length` field(s) verbatim and add no `Transfer-Encoding`:
    /// for responses without content (HEAD, 1xx, 204, 304), whose `Content-Length` describes
    /// the representation, not this message.
    AsIs,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`; HTTP/1.1 clients only.
    Chunked,
    /// No framing field: the content ends when the proxy closes the connection, so
    /// `keep_alive` must be false.
    UntilClose,
}

/// How to re-encode a backend's response for the client.
pub struct ClientResponse<'a> {
    /// The framing the proxy will send the content with.
    pub framing: ClientFraming,
    /// `false` → `Connection: close`; `true` with an HTTP/1.0 client → `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Some(protocols)` for a `101 Switching Protocols`: `Upgrade: protocols` and
    /// `Connection: upgrade` are sent instead.
    pub upgrade: Option<&'a [u8]>,
    /// The version the client spoke.
    pub client_version: Version,
    /// What to do with `Via`.
    pub via: ViaMode,
    /// Our name in `Via`, e.g. `proxy.example:80`.
    pub via_by: &'a [u8],
    /// Applied to `Location`, `Content-Location` and `URI` values (Apache `ProxyPassReverse`):
    /// `Some(value)` replaces the value, `None` keeps it. A replacement must not hold CR or LF.
    pub rewrite: &'a dyn Fn(&[u8]) -> Option<Vec<u8>>,
    /// Field lines of our own to add (each ending in CRLF), such as `Cache-Status`.
    pub extra: &'a [u8],
}

/// Writes the head to send the client for `head` (parsed from `buf`) into `out`.
///
/// The status-line is always `HTTP/1.1 <status> <reason as received>`. The backend's fields
/// follow in order, minus hop-by-hop fields, fields named by `Connection`, `Content-Length`
/// (unless [`ClientFraming::AsIs`]) and `Via` under [`ViaMode::Block`]; `Location`,
/// `Content-Location` and `URI` go through `resp.rewrite`. Then framing, `Via` and
/// `Connection` as `resp` says.
pub fn encode_client_response(
    buf: &[u8],
    head: &ResponseHead,
    resp: &ClientResponse<'_>,
    out: &mut Vec<u8>,
) {
    debug_assert!(
        resp.framing != ClientFraming::Chunked || resp.client_version == Version::Http11,
        "chunked to an HTTP/1.0 client"
    );
    debug_assert!(
        resp.framing != ClientFraming::UntilClose || !resp.keep_alive,
        "content until close on a kept-alive connection"
    );
    debug_assert!((100..=999).contains(&head.status), "status is three digits");
    out.reserve(head.head_len + 128);
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(head.status));
    out.push(b' ');
    out.extend_from_slice(head.reason.of(buf));
    out.extend_from_slice(b"\r\n");

    let connection_names = ConnectionNames::of(buf, &head.headers);
    for header in &head.headers {
        let name = header.name.of(buf);
        let dropped = is_hop_by_hop(name)
            || (resp.framing != ClientFraming::AsIs
                && name.eq_ignore_ascii_case(b"content-length"))
            || (resp.via == ViaMode::Block && name.eq_ignore_ascii_case(b"via"))
            // An instruction to this proxy (as nginx's X-Accel-*), not for the client.
            || name.eq_ignore_ascii_case(b"x-accel-buffering")
            || connection_names.contains(name);
        if dropped {
            continue;
        }
        let value = header.value.of(buf);
        let rewritten = if is_uri_field(name) {
            (resp.rewrite)(value)
        } else {
            None
        };
        match rewritten {
            Some(new_value) => {
                debug_assert!(!new_value.iter().any(|b| matches!(b, b'\r' | b'\n')));
                push_field(out, name, &new_value);
            }
            None => push_field(out, name, value),
        }
    }

    match resp.framing {
        ClientFraming::Length(n) => push_content_length(out, n),
        ClientFraming::Chunked => push_field(out, b"Transfer-Encoding", b"chunked"),
        ClientFraming::AsIs | ClientFraming::UntilClose => {}
    }
    push_via(out, resp.via, head.version, resp.via_by);
    out.extend_from_slice(resp.extra);
    if let Some(protocols) = resp.upgrade {
        push_field(out, b"Upgrade", protocols);
        push_field(out, b"Connection", b"upgrade");
    } else if !resp.keep_alive {
        push_field(out, b"Connection", b"close");
    } else if resp.client_version == Version::Http10 {
        push_field(out, b"Connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
}

/// One RFC 7239 forwarded-element: `for=` the client (IPv6 in brackets, quoted), `host=` its
/// `Host` (quoted: a port's `:` is not a token character; the parser let no `"` or `\` into
/// it), `proto=` the scheme.
fn forwarded_element(facts: &Forwarded<'_>, out: &mut Vec<u8>) {
    match facts.client_ip {
        IpAddr::V4(ip) => write!(out, "for={ip}"),
        IpAddr::V6(ip) => write!(out, "for=\"[{ip}]\""),
    }
    .expect("writing to a Vec cannot fail");
    if let Some(host) = facts.host {
        out.extend_from_slice(b";host=\"");
        out.extend_from_slice(host);
        out.push(b'"');
    }
    out.extend_from_slice(b";proto=");
    out.extend_from_slice(facts.proto);
}

/// `X-Forwarded-For`, `X-Forwarded-Host`, `X-Forwarded-Server` or `X-Forwarded-Proto`.
fn is_x_forwarded(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"x-forwarded-for")
        || name.eq_ignore_ascii_case(b"x-forwarded-host")
        || name.eq_ignore_ascii_case(b"x-forwarded-server")
        || name.eq_ignore_ascii_case(b"x-forwarded-proto")
}

/// Fields holding a URI that `ProxyPassReverse` rewrites.
pub fn is_uri_field(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"location")
        || name.eq_ignore_ascii_case(b"content-location")
        || name.eq_ignore_ascii_case(b"uri")
}

/// Writes `name: value` CRLF.
fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn push_content_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Writes `n` in decimal without going through `fmt`.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // Lossless: a remainder of 10 fits in a u8.
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Writes one `name` line holding the values of every existing `name` field (skipping any that
/// `Connection` names) followed by `ours`, comma-separated, as Apache's `apr_table_mergen`
/// does. Empty values are skipped; nothing is written if nothing is left.
fn push_merged(
    out: &mut Vec<u8>,
    buf: &[u8],
    headers: &[Header],
    connection_names: &ConnectionNames<'_>,
    name: &[u8],
    ours: Option<&[u8]>,
) {
    let named_by_connection = connection_names.contains(name);
    let existing = headers
        .iter()
        .filter(|h| !named_by_connection && h.is(buf, name))
        .map(|h| h.value.of(buf))
        .filter(|value| !value.is_empty());
    let mut wrote_any = false;
    for value in existing.chain(ours.filter(|ours| !ours.is_empty())) {
        if wrote_any {
            out.extend_from_slice(b", ");
        } else {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            wrote_any = true;
        }
        out.extend_from_slice(value);
    }
    if wrote_any {
        out.extend_from_slice(b"\r\n");
    }
}

/// Adds our `Via` entry; `received` is the protocol of the message we received
/// (RFC 9110 §7.6.3).
fn push_via(out: &mut Vec<u8>, mode: ViaMode, received: Version, via_by: &[u8]) {
    let software = match mode {
        ViaMode::Off | ViaMode::Block => return,
        ViaMode::On => None,
        ViaMode::Full => Some(SOFTWARE),
    };
    out.extend_from_slice(b"Via: ");
    out.extend_from_slice(received.via_protocol());
    out.push(b' ');
    out.extend_from_slice(via_by);
    if let Some(software) = software {
        out.extend_from_slice(b" (");
        out.extend_from_slice(software.as_bytes());
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::{parse_request, parse_response, Limits};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

    fn request(raw: &[u8]) -> RequestHead {
        parse_request(raw, &Limits::default()).unwrap().unwrap()
    }

    fn response(raw: &[u8]) -> ResponseHead {
        parse_response(raw, 8192, 100).unwrap().unwrap()
    }

    fn backend(raw: &[u8], req: &BackendRequest<'_>) -> String {
        let head = request(raw);
        let mut out = Vec::new();
        encode_backend_request(raw, &head, req, &mut out);
        // What we send must itself be a valid request head.
        let reparsed = parse_request(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(reparsed.head_len, out.len());
        String::from_utf8(out).unwrap()
    }

    fn plain<'a>() -> BackendRequest<'a> {
        BackendRequest {
            path: b"/",
            host: b"backend:8080",
            body: RequestBody::None,
            forwarded: None,
            rfc7239: None,
            via: ViaMode::Off,
            via_by: b"proxy.example:80",
            http10: false,
            extra: b"",
            keep_alive: true,
            upgrade: None,
        }
    }

    fn keep(_: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn client<'a>(framing: ClientFraming) -> ClientResponse<'a> {
        ClientResponse {
            extra: b"",
            framing,
            keep_alive: true,
            upgrade: None,
            client_version: Version::Http11,
            via: ViaMode::Off,
            via_by: b"proxy.example:80",
            rewrite: &keep,
        }
    }

    fn to_client(raw: &[u8], resp: &ClientResponse<'_>) -> String {
        let head = response(raw);
        let mut out = Vec::new();
        encode_client_response(raw, &head, resp, &mut out);
        let reparsed = parse_response(&out, 8192, 100).unwrap().unwrap();
        assert_eq!(reparsed.head_len, out.len());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn backend_request_is_http11_with_our_host_first_and_fields_in_order() {
        let raw = b"PROPFIND /dav/x HTTP/1.0\r\nHost: public.example\r\nAccept:  */* \r\nX-B: 2\r\nX-A: 1\r\n\r\n";
        let req = BackendRequest {
            path: b"/internal/x?y",
            ..plain()
        };
        assert_eq!(
            backend(raw, &req),
            "PROPFIND /internal/x?y HTTP/1.1\r\nHost: backend:8080\r\nAccept: */*\r\nX-B: 2\r\nX-A: 1\r\n\r\n"
        );
    }

    #[test]
    fn backend_request_drops_hop_by_hop_and_connection_named_fields() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, Upgrade\r\n\
                    Keep-Alive: 300\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\n\
                    x-secret: 1\r\nX-Public: 2\r\nExpect: 100-continue\r\n\r\n";
        assert_eq!(
            backend(raw, &plain()),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nX-Public: 2\r\n\r\n"
        );
    }

    #[test]
    fn backend_request_re_emits_framing() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
        let req = BackendRequest {
            body: RequestBody::Length(5),
            ..plain()
        };
        assert_eq!(
            backend(raw, &req),
            "POST / HTTP/1.1\r\nHost: backend:8080\r\nContent-Length: 5\r\n\r\n"
        );
        let raw = b"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        let req = BackendRequest {
            body: RequestBody::Chunked,
            ..plain()
        };
        assert_eq!(
            backend(raw, &req),
            "PUT / HTTP/1.1\r\nHost: backend:8080\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn bodiless_post_put_and_patch_get_content_length_zero() {
        for method in ["POST", "PUT", "PATCH"] {
            let raw = format!("{method} / HTTP/1.1\r\nHost: a\r\n\r\n");
            let out = backend(raw.as_bytes(), &plain());
            assert!(out.contains("\r\nContent-Length: 0\r\n"), "{out}");
        }
        for method in ["GET", "DELETE", "OPTIONS"] {
            let raw = format!("{method} / HTTP/1.1\r\nHost: a\r\n\r\n");
            assert!(!backend(raw.as_bytes(), &plain()).contains("Content-Length"));
        }
    }

    #[test]
    fn x_forwarded_for_is_appended_to_merged_existing_values() {
        let raw = b"GET / HTTP/1.1\r\nHost: public.example\r\nX-Forwarded-For: 10.0.0.1\r\nX-Other: o\r\n\
                    x-forwarded-for: 10.0.0.2, 10.0.0.3\r\nX-Forwarded-For:\r\nX-Forwarded-Host: first.example\r\n\r\n";
        let req = BackendRequest {
            forwarded: Some(Forwarded {
                client_ip: CLIENT_IP,
                host: Some(b"public.example"),
                server: b"proxy.example",
                proto: b"https",
            }),
            ..plain()
        };
        assert_eq!(
            backend(raw, &req),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nX-Other: o\r\n\
             X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\r\n\
             X-Forwarded-Host: first.example, public.example\r\nX-Forwarded-Server: proxy.example\r\n\
             X-Forwarded-Proto: https\r\n\r\n"
        );
    }

    #[test]
    fn rfc7239_forwarded_appends_an_element_to_the_client_s_list() {
        let raw = b"GET / HTTP/1.1\r\nHost: a:8443\r\nForwarded: for=10.0.0.1\r\nX-A: 1\r\n\
                    forwarded: for=\"_hidden\", for=10.0.0.2\r\n\r\n";
        let facts = Forwarded {
            client_ip: CLIENT_IP,
            host: Some(b"a:8443"),
            server: b"p",
            proto: b"https",
        };
        let req = BackendRequest {
            rfc7239: Some(facts),
            ..plain()
        };
        assert_eq!(
            backend(raw, &req),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nX-A: 1\r\nForwarded: for=10.0.0.1, \
             for=\"_hidden\", for=10.0.0.2, for=192.0.2.7;host=\"a:8443\";proto=https\r\n\r\n"
        );
        let v6 = Forwarded {
            client_ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x17)),
            host: None,
            ..facts
        };
        let req = BackendRequest {
            rfc7239: Some(v6),
            ..plain()
        };
        assert_eq!(
            backend(b"GET / HTTP/1.0\r\n\r\n", &req),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nForwarded: for=\"[2001:db8::17]\";proto=https\r\n\r\n"
        );
        // Off: the client's field passes as it came.
        assert!(backend(raw, &plain()).contains("\r\nForwarded: for=10.0.0.1\r\n"));
    }

    #[test]
    fn x_forwarded_proto_is_ours_whatever_the_client_sent() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nx-forwarded-proto: https\r\n\r\n";
        let req = BackendRequest {
            forwarded: Some(Forwarded {
                client_ip: CLIENT_IP,
                host: None,
                server: b"p",
                proto: b"http",
            }),
            ..plain()
        };
        assert_eq!(
            backend(raw, &req),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nX-Forwarded-For: 192.0.2.7\r\n\
             X-Forwarded-Server: p\r\nX-Forwarded-Proto: http\r\n\r\n"
        );
    }

    #[test]
    fn x_forwarded_for_starts_a_list_for_ipv6_clients() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let client_ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let req = BackendRequest {
            forwarded: Some(Forwarded {
                client_ip,
                host: None,
                server: b"p",
                proto: b"http",
            }),
            ..plain()
        };
        assert_eq!(
            backend(raw, &req),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nX-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Server: p\r\n\
             X-Forwarded-Proto: http\r\n\r\n"
        );
    }

    #[test]
    fn x_forwarded_fields_pass_through_when_not_forwarding() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n";
        assert_eq!(
            backend(raw, &plain()),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n"
        );
    }

    #[test]
    fn connection_named_x_forwarded_for_is_not_merged() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n";
        let req = BackendRequest {
            forwarded: Some(Forwarded {
                client_ip: CLIENT_IP,
                host: None,
                server: b"p",
                proto: b"http",
            }),
            ..plain()
        };
        assert!(backend(raw, &req).contains("\r\nX-Forwarded-For: 192.0.2.7\r\n"));
    }

    #[test]
    fn via_modes_follow_apache_proxy_via() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 edge\r\n\r\n";
        let with = |via| backend(raw, &BackendRequest { via, ..plain() });
        assert_eq!(
            with(ViaMode::Off),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nVia: 1.1 edge\r\n\r\n"
        );
        assert_eq!(
            with(ViaMode::On),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nVia: 1.1 edge\r\nVia: 1.1 proxy.example:80\r\n\r\n"
        );
        assert_eq!(
            with(ViaMode::Full),
            format!("GET / HTTP/1.1\r\nHost: backend:8080\r\nVia: 1.1 edge\r\nVia: 1.1 proxy.example:80 ({SOFTWARE})\r\n\r\n")
        );
        assert_eq!(
            with(ViaMode::Block),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\n\r\n"
        );
        let http10 = backend(
            b"GET / HTTP/1.0\r\n\r\n",
            &BackendRequest {
                via: ViaMode::On,
                ..plain()
            },
        );
        assert!(
            http10.contains("\r\nVia: 1.0 proxy.example:80\r\n"),
            "{http10}"
        );
    }

    #[test]
    fn backend_request_asks_to_close_when_not_kept_alive() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        let req = BackendRequest {
            keep_alive: false,
            upgrade: None,
            ..plain()
        };
        assert_eq!(
            backend(raw, &req),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            backend(raw, &BackendRequest { path: b"", ..req }),
            "GET / HTTP/1.1\r\nHost: backend:8080\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn client_response_is_http11_with_reason_as_received() {
        let raw = b"HTTP/1.0 200 Tr\xe8s bien\r\nServer: app\r\nContent-Length: 3\r\n\r\n";
        let head = response(raw);
        let mut out = Vec::new();
        encode_client_response(raw, &head, &client(ClientFraming::Length(3)), &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 Tr\xe8s bien\r\nServer: app\r\nContent-Length: 3\r\n\r\n"
        );
        let raw = b"HTTP/1.1 204\r\n\r\n";
        assert_eq!(
            to_client(raw, &client(ClientFraming::AsIs)),
            "HTTP/1.1 204 \r\n\r\n"
        );
    }

    #[test]
    fn client_response_drops_hop_by_hop_and_connection_named_fields() {
        let raw = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nKeep-Alive: timeout=5\r\n\
                    X-Internal: secret\r\nTransfer-Encoding: chunked\r\nUpgrade: h2\r\nETag: \"x\"\r\n\r\n";
        assert_eq!(
            to_client(raw, &client(ClientFraming::Chunked)),
            "HTTP/1.1 200 OK\r\nETag: \"x\"\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn client_framing_replaces_or_keeps_content_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\ncontent-length: 10\r\nX: y\r\n\r\n";
        assert_eq!(
            to_client(raw, &client(ClientFraming::AsIs)),
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\ncontent-length: 10\r\nX: y\r\n\r\n"
        );
        assert_eq!(
            to_client(raw, &client(ClientFraming::Length(10))),
            "HTTP/1.1 200 OK\r\nX: y\r\nContent-Length: 10\r\n\r\n"
        );
        let until_close = ClientResponse {
            keep_alive: false,
            upgrade: None,
            ..client(ClientFraming::UntilClose)
        };
        assert_eq!(
            to_client(raw, &until_close),
            "HTTP/1.1 200 OK\r\nX: y\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn http10_clients_kept_alive_are_told_so() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let resp = ClientResponse {
            client_version: Version::Http10,
            ..client(ClientFraming::Length(0))
        };
        assert_eq!(
            to_client(raw, &resp),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn location_fields_are_rewritten_by_the_closure() {
        let raw = b"HTTP/1.1 302 Found\r\nLocation: http://backend:8080/app/x\r\nContent-Location: /elsewhere\r\n\
                    URI: http://backend:8080/u\r\nLink: <http://backend:8080/l>\r\n\r\n";
        let rewrite = |value: &[u8]| {
            value
                .strip_prefix(b"http://backend:8080/app/")
                .or_else(|| value.strip_prefix(b"http://backend:8080/"))
                .map(|rest| [&b"https://public.example/"[..], rest].concat())
        };
        let resp = ClientResponse {
            rewrite: &rewrite,
            ..client(ClientFraming::Length(0))
        };
        assert_eq!(
            to_client(raw, &resp),
            "HTTP/1.1 302 Found\r\nLocation: https://public.example/x\r\nContent-Location: /elsewhere\r\n\
             URI: https://public.example/u\r\nLink: <http://backend:8080/l>\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn client_via_uses_the_backend_protocol() {
        let raw = b"HTTP/1.0 200 OK\r\nVia: 1.1 cache\r\n\r\n";
        let with = |via| {
            to_client(
                raw,
                &ClientResponse {
                    via,
                    keep_alive: false,
                    upgrade: None,
                    ..client(ClientFraming::UntilClose)
                },
            )
        };
        assert_eq!(
            with(ViaMode::Off),
            "HTTP/1.1 200 OK\r\nVia: 1.1 cache\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(with(ViaMode::On), "HTTP/1.1 200 OK\r\nVia: 1.1 cache\r\nVia: 1.0 proxy.example:80\r\nConnection: close\r\n\r\n");
        assert!(
            with(ViaMode::Full).contains(&format!("Via: 1.0 proxy.example:80 ({SOFTWARE})\r\n"))
        );
        assert_eq!(
            with(ViaMode::Block),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn decimal_encoding_covers_the_u64_range() {
        for n in [0, 9, 10, 1234567890, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
