//! The access-log format language of Apache's mod_log_config (`LogFormat` / `CustomLog`
//! strings such as `%h %l %u %t "%r" %>s %b`), plus spoonfeed's `%{…}x` backend items.
//!
//! [`LogFormat::parse`] compiles a format once, at configuration time, and rejects anything it
//! would not render faithfully (unknown letters, unsupported Apache items, bad arguments), so
//! nothing is silently logged as garbage. [`LogFormat::render`] appends one line for a
//! finished exchange described by a [`LogRecord`]; it does no I/O, reads no clock and needs no
//! allocation beyond the caller's output buffer.
//!
//! Supported items (Apache's meaning unless noted):
//!
//! | item | renders |
//! |---|---|
//! | `%%` | `%` |
//! | `%a`, `%{c}a`, `%h` | client IP (no reverse DNS: `%h` is the IP, as with `HostnameLookups Off`) |
//! | `%A` | local IP |
//! | `%b` / `%B` | response body bytes, `-` / `0` when none |
//! | `%O` | bytes sent to the client, head included |
//! | `%D`, `%{us}T` | duration in microseconds |
//! | `%T`, `%{s}T`, `%{ms}T` | duration in whole seconds / milliseconds |
//! | `%H`, `%m`, `%U`, `%q`, `%r` | protocol, method, path, `?query` (or nothing), request line |
//! | `%l`, `%u` | `-` (no identd, no authentication) |
//! | `%p`, `%{canonical}p`, `%{local}p` / `%{remote}p` | local port / client port |
//! | `%s`, `%>s`, `%<s` | status (no internal redirects, so all three agree) |
//! | `%t` | request start, `[25/Nov/2026:21:43:36 +0000]`, always UTC |
//! | `%v` / `%V` | the virtual host's `ServerName` / the `Host` name (port removed, lowercased), or `ServerName` without one |
//! | `%X`, `%k` | connection status `X` `+` `-`; keep-alive requests before this one |
//! | `%{Name}i`, `%{Name}o` | request / response header, `-` when absent |
//! | `%{backend}x`, `%{backend_addr}x`, `%{backend_status}x` | backend name, address, status |
//! | `%{backend_connect}x`, `%{backend_first_byte}x`, `%{backend_hold}x` | backend timings in µs |
//! | `%{backend_last_byte}x` | from the first request byte written to the last response byte read, µs |
//! | `%{client_drain}x`, `%{time_saved}x` | first response byte read → last byte to the client; release → last byte to the client, µs |
//! | `%{peak_occupancy}x`, `%{held_at_release}x` | most response bytes held at once; bytes still held when the backend was released |
//! | `%{client_send_queue}x` | bytes in the client socket's kernel send queue when the backend was released (`SIOCOUTQ`; read only when a format asks for it) |
//! | `%{cache}x` | what the cache did: `hit`, `miss`, `stale` (a stale entry was there), `revalidated` (a backend `304` refreshed it), `stale-if-error`; `-` outside `CacheEnable` |
//!
//! `%{…}x` items print `-` when the exchange had no backend or the value is unknown.
//!
//! Status conditions are honoured as Apache does: `%400,501{User-agent}i` prints the header
//! only when the status is 400 or 501 and `-` otherwise; `%!200,304{Referer}i` only when it
//! is neither. `<` and `>` are accepted and change nothing.
//!
//! Not supported, rejected at parse time: `%{format}t` (strftime), `%C`, `%e`, `%f`, `%I`,
//! `%L`, `%n`, `%P`, `%R`, `%S`, `%^ti`/`%^to`.
//!
//! Escaping is Apache's `ap_escape_logitem`: in every item taken from the request or response
//! (and names from the configuration), `"` and `\` become `\"` and `\\`; backspace, newline,
//! carriage return, tab and vertical tab become `\b` `\n` `\r` `\t` `\v`; any other byte
//! outside printable ASCII becomes `\xhh`. So a line is always one line and quoted fields stay
//! quoted. In the literal text of the format, `\n`, `\r`, `\t` and `\\` are escapes (as in
//! Apache); other backslashes are kept.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http1::date::civil_from_days;

/// A compiled `LogFormat` string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFormat {
    items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    /// Text copied as is (backslash escapes already applied).
    Literal(Vec<u8>),
    Field {
        field: Field,
        /// `%400,501…` / `%!200…`: print `-` unless the status passes.
        when: Option<StatusFilter>,
    },
}

/// Apache's per-item status condition.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StatusFilter {
    statuses: Vec<u16>,
    /// `!`: the item is printed when the status is *not* listed.
    negated: bool,
}

impl StatusFilter {
    fn allows(&self, status: u16) -> bool {
        self.statuses.contains(&status) != self.negated
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeUnit {
    Seconds,
    Millis,
    Micros,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BackendItem {
    Name,
    Addr,
    Status,
    Connect,
    FirstByte,
    Hold,
    LastByte,
    Drain,
    Saved,
    Peak,
    HeldAtRelease,
    SendQueue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Field {
    ClientIp,
    LocalIp,
    /// `%b`: `-` for no body bytes.
    BodyBytesClf,
    BodyBytes,
    BytesSent,
    Duration(TimeUnit),
    Protocol,
    /// `%l`, `%u`: values spoonfeed never has.
    Dash,
    Method,
    LocalPort,
    ClientPort,
    Query,
    RequestLine,
    Status,
    StartTime,
    Path,
    ServerName,
    HostName,
    ConnectionStatus,
    KeepAlives,
    RequestHeader(Vec<u8>),
    ResponseHeader(Vec<u8>),
    Backend(BackendItem),
    /// `%{cache}x`.
    Cache,
}

/// What the access log knows about one finished exchange. Byte strings are as they were on
/// the wire; [`LogFormat::render`] escapes them.
pub struct LogRecord<'a> {
    pub client: SocketAddr,
    pub local: SocketAddr,
    /// The answering virtual host's `ServerName`.
    pub server_name: &'a str,
    /// The request line without its CRLF.
    pub request_line: &'a [u8],
    pub method: &'a [u8],
    /// The request path without the query.
    pub path: &'a [u8],
    /// The query without its `?`; empty when there is none.
    pub query: &'a [u8],
    pub protocol: &'a [u8],
    /// The status sent to the client; 0 (nothing sent) prints `-`.
    pub status: u16,
    /// Response body bytes sent to the client.
    pub body_bytes: u64,
    /// All bytes sent to the client for this exchange, head included.
    pub bytes_sent: u64,
    /// When the request started (its first byte arrived).
    pub started: SystemTime,
    /// From `started` to the last byte of the response accepted by the client socket.
    pub duration: Duration,
    /// A request header's value by name (as written in the format; look up case-insensitively).
    pub request_header: &'a dyn Fn(&[u8]) -> Option<&'a [u8]>,
    /// A response header's value by name, as sent to the client.
    pub response_header: &'a dyn Fn(&[u8]) -> Option<&'a [u8]>,
    /// `None` when no backend took part (excluded path, error answered by spoonfeed).
    pub backend: Option<BackendFields<'a>>,
    /// Exchanges on this connection before this one (`%k`: 0 for the first).
    pub keepalive_count: u32,
    /// `%X`: `b'X'` aborted before the response completed, `b'+'` may be kept alive,
    /// `b'-'` will be closed.
    pub connection_status: u8,
    /// `%{cache}x`: what the cache did for this request, when it took part.
    pub cache: Option<&'a str>,
}

/// The backend's side of an exchange, for the `%{…}x` items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendFields<'a> {
    /// The backend's canonical `scheme://host:port`.
    pub name: &'a str,
    /// The address actually connected to.
    pub addr: Option<SocketAddr>,
    /// The status the backend answered (before any rewriting).
    pub status: Option<u16>,
    /// Time to establish the connection (zero-ish for a pooled one).
    pub connect: Option<Duration>,
    /// From the first request byte written to the first response byte read.
    pub first_byte: Option<Duration>,
    /// Backend hold: from the first request byte written to the release.
    pub hold: Option<Duration>,
    /// From the first request byte written to the last response byte read.
    pub last_byte: Option<Duration>,
    /// Client drain: from the first response byte read to the last byte to the client.
    pub drain: Option<Duration>,
    /// Backend time saved: from the release to the last byte to the client.
    pub saved: Option<Duration>,
    /// Most bytes of the response held in blocks at once.
    pub peak: u64,
    /// Bytes not yet written to the client when the backend was released.
    pub held_at_release: u64,
    /// Bytes in the client socket's kernel send queue at the release, when read.
    pub send_queue: Option<u64>,
}

/// Letters Apache's mod_log_config (and mod_logio) know that spoonfeed does not render.
const UNSUPPORTED_APACHE_ITEMS: &[(char, &str)] = &[
    ('C', "cookie values"),
    ('e', "environment variables"),
    ('f', "file names"),
    ('I', "bytes received"),
    ('L', "log ids"),
    ('n', "module notes"),
    ('P', "process ids"),
    ('R', "handlers"),
    ('S', "bytes transferred"),
    ('^', "trailers"),
];

/// Largest value a status condition such as `%404{…}i` may list; larger is a typo.
const MAX_STATUS: u32 = 999;

impl LogFormat {
    /// Whether the format prints the client socket's send queue (so that it is worth a system
    /// call to read).
    pub fn wants_send_queue(&self) -> bool {
        self.items.iter().any(|i| {
            matches!(
                i,
                Item::Field {
                    field: Field::Backend(BackendItem::SendQueue),
                    ..
                }
            )
        })
    }

    /// Compiles a format string. The error names the offending item, e.g.
    /// `unknown log format item %Z`.
    pub fn parse(fmt: &str) -> Result<LogFormat, String> {
        let bytes = fmt.as_bytes();
        let mut items = Vec::new();
        let mut literal = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if bytes.get(i + 1) == Some(&b'%') => {
                    literal.push(b'%');
                    i += 2;
                }
                b'%' => {
                    let (item, next) = parse_item(fmt, i)?;
                    if !literal.is_empty() {
                        items.push(Item::Literal(std::mem::take(&mut literal)));
                    }
                    items.push(item);
                    i = next;
                }
                b'\\' => {
                    let escaped = match bytes.get(i + 1) {
                        Some(b'n') => Some(b'\n'),
                        Some(b'r') => Some(b'\r'),
                        Some(b't') => Some(b'\t'),
                        Some(b'\\') => Some(b'\\'),
                        _ => None,
                    };
                    match escaped {
                        Some(c) => {
                            literal.push(c);
                            i += 2;
                        }
                        None => {
                            literal.push(b'\\');
                            i += 1;
                        }
                    }
                }
                c => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        Ok(LogFormat { items })
    }

    /// Appends one line for `rec`, terminated by `\n`, to `out`.
    pub fn render(&self, rec: &LogRecord<'_>, out: &mut Vec<u8>) {
        for item in &self.items {
            match item {
                Item::Literal(text) => out.extend_from_slice(text),
                Item::Field {
                    when: Some(filter), ..
                } if !filter.allows(rec.status) => out.push(b'-'),
                Item::Field { field, .. } => render_field(field, rec, out),
            }
        }
        out.push(b'\n');
    }
}

/// Parses the `%…` item starting at `start` (which holds `%`, not followed by `%`): modifiers
/// (`!`, `<`, `>`, `,`, status numbers, `{argument}`) in any order, then one letter. Returns
/// the item and where the text after it starts.
fn parse_item(fmt: &str, start: usize) -> Result<(Item, usize), String> {
    let bytes = fmt.as_bytes();
    let mut i = start + 1;
    let mut arg: Option<&str> = None;
    let mut statuses = Vec::new();
    let mut negated = false;
    loop {
        let Some(&c) = bytes.get(i) else {
            return Err(format!(
                "log format ends inside the item {:?}",
                &fmt[start..]
            ));
        };
        match c {
            b'!' => {
                negated = !negated;
                i += 1;
            }
            b'<' | b'>' | b',' => i += 1,
            b'{' => {
                let len = fmt[i + 1..].find('}').ok_or_else(|| {
                    format!("unterminated {{ in log format item {:?}", &fmt[start..])
                })?;
                arg = Some(&fmt[i + 1..i + 1 + len]);
                i += len + 2;
            }
            b'0'..=b'9' => {
                let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                let text = &fmt[i..i + digits];
                match text.parse::<u32>() {
                    Ok(n) if n <= MAX_STATUS => statuses.push(n as u16),
                    _ => {
                        return Err(format!(
                            "{text} in log format item {:?} is not a status code",
                            &fmt[start..]
                        ))
                    }
                }
                i += digits;
            }
            _ => {
                // Every byte before `i` is ASCII or ends at an ASCII `}`, so `i` is a char
                // boundary.
                let letter = fmt[i..].chars().next().unwrap_or('%');
                let field = field_for(letter, arg)?;
                let when = if statuses.is_empty() && !negated {
                    None
                } else if statuses.is_empty() {
                    return Err(format!(
                        "log format item {:?} has ! but no status codes",
                        &fmt[start..i + 1]
                    ));
                } else {
                    Some(StatusFilter { statuses, negated })
                };
                return Ok((Item::Field { field, when }, i + letter.len_utf8()));
            }
        }
    }
}

/// The field for `%letter` with its `{argument}`, or why it cannot be logged.
fn field_for(letter: char, arg: Option<&str>) -> Result<Field, String> {
    let plain = |field: Field| match arg {
        None => Ok(field),
        Some(a) => Err(format!(
            "log format item %{letter} takes no argument, got {{{a}}}"
        )),
    };
    let bad_arg = |a: &str, allowed: &str| {
        Err(format!(
            "log format item %{{{a}}}{letter}: the argument must be one of {allowed}"
        ))
    };
    match letter {
        'a' => match arg {
            None | Some("c") => Ok(Field::ClientIp),
            Some(a) => bad_arg(a, "c"),
        },
        'h' => plain(Field::ClientIp),
        'A' => plain(Field::LocalIp),
        'b' => plain(Field::BodyBytesClf),
        'B' => plain(Field::BodyBytes),
        'O' => plain(Field::BytesSent),
        'D' => plain(Field::Duration(TimeUnit::Micros)),
        'T' => match arg.map(str::to_ascii_lowercase).as_deref() {
            None | Some("s") => Ok(Field::Duration(TimeUnit::Seconds)),
            Some("ms") => Ok(Field::Duration(TimeUnit::Millis)),
            Some("us") => Ok(Field::Duration(TimeUnit::Micros)),
            Some(_) => bad_arg(arg.unwrap_or_default(), "s, ms, us"),
        },
        'H' => plain(Field::Protocol),
        'l' | 'u' => plain(Field::Dash),
        'm' => plain(Field::Method),
        'p' => match arg.map(str::to_ascii_lowercase).as_deref() {
            None | Some("canonical") | Some("local") => Ok(Field::LocalPort),
            Some("remote") => Ok(Field::ClientPort),
            Some(_) => bad_arg(arg.unwrap_or_default(), "canonical, local, remote"),
        },
        'q' => plain(Field::Query),
        'r' => plain(Field::RequestLine),
        's' => plain(Field::Status),
        't' => match arg {
            None => Ok(Field::StartTime),
            Some(a) => Err(format!(
                "log format item %{{{a}}}t: time formats are not supported; %t logs [day/Mon/year:hh:mm:ss +0000]"
            )),
        },
        'U' => plain(Field::Path),
        'v' => plain(Field::ServerName),
        'V' => plain(Field::HostName),
        'X' => plain(Field::ConnectionStatus),
        'k' => plain(Field::KeepAlives),
        'i' | 'o' => match arg {
            Some(name) if !name.is_empty() => Ok(if letter == 'i' {
                Field::RequestHeader(name.as_bytes().to_vec())
            } else {
                Field::ResponseHeader(name.as_bytes().to_vec())
            }),
            _ => Err(format!("log format item %{letter} needs a header name: %{{Name}}{letter}")),
        },
        'x' if arg.is_some_and(|a| a.eq_ignore_ascii_case("cache")) => Ok(Field::Cache),
        'x' => {
            let item = match arg.map(str::to_ascii_lowercase).as_deref() {
                Some("backend") => BackendItem::Name,
                Some("backend_addr") => BackendItem::Addr,
                Some("backend_status") => BackendItem::Status,
                Some("backend_connect") => BackendItem::Connect,
                Some("backend_first_byte") => BackendItem::FirstByte,
                Some("backend_hold") => BackendItem::Hold,
                Some("backend_last_byte") => BackendItem::LastByte,
                Some("client_drain") => BackendItem::Drain,
                Some("time_saved") => BackendItem::Saved,
                Some("peak_occupancy") => BackendItem::Peak,
                Some("held_at_release") => BackendItem::HeldAtRelease,
                Some("client_send_queue") => BackendItem::SendQueue,
                _ => {
                    return bad_arg(
                        arg.unwrap_or_default(),
                        "backend, backend_addr, backend_status, backend_connect, backend_first_byte, backend_hold, backend_last_byte, client_drain, time_saved, peak_occupancy, held_at_release, client_send_queue, cache",
                    )
                }
            };
            Ok(Field::Backend(item))
        }

        _ => match UNSUPPORTED_APACHE_ITEMS.iter().find(|(c, _)| *c == letter) {
            Some((_, what)) => Err(format!("log format item %{letter} ({what}) is not supported by spoonfeed")),
            None => Err(format!("unknown log format item %{letter}")),
        },
    }
}

fn render_field(field: &Field, rec: &LogRecord<'_>, out: &mut Vec<u8>) {
    match field {
        Field::ClientIp => push_display(out, rec.client.ip().to_canonical()),
        Field::LocalIp => push_display(out, rec.local.ip().to_canonical()),
        Field::BodyBytesClf if rec.body_bytes == 0 => out.push(b'-'),
        Field::BodyBytesClf | Field::BodyBytes => push_display(out, rec.body_bytes),
        Field::BytesSent => push_display(out, rec.bytes_sent),
        Field::Duration(unit) => push_duration(out, rec.duration, *unit),
        Field::Protocol => push_escaped(out, rec.protocol),
        Field::Dash => out.push(b'-'),
        Field::Method => push_escaped(out, rec.method),
        Field::LocalPort => push_display(out, rec.local.port()),
        Field::ClientPort => push_display(out, rec.client.port()),
        Field::Query if rec.query.is_empty() => {}
        Field::Query => {
            out.push(b'?');
            push_escaped(out, rec.query);
        }
        Field::RequestLine => push_escaped(out, rec.request_line),
        Field::Status if rec.status == 0 => out.push(b'-'),
        Field::Status => push_display(out, rec.status),
        Field::StartTime => push_clf_time(out, rec.started),
        Field::Path => push_escaped(out, rec.path),
        Field::ServerName => push_escaped(out, rec.server_name.as_bytes()),
        Field::HostName => push_host_name(out, rec),
        Field::ConnectionStatus => push_escaped(out, &[rec.connection_status]),
        Field::KeepAlives => push_display(out, rec.keepalive_count),
        Field::RequestHeader(name) => push_optional(out, (rec.request_header)(name)),
        Field::ResponseHeader(name) => push_optional(out, (rec.response_header)(name)),
        Field::Backend(item) => push_backend(out, rec.backend.as_ref(), *item),
        Field::Cache => match rec.cache {
            Some(what) => push_escaped(out, what.as_bytes()),
            None => out.push(b'-'),
        },
    }
}

fn push_backend(out: &mut Vec<u8>, backend: Option<&BackendFields<'_>>, item: BackendItem) {
    let Some(b) = backend else {
        out.push(b'-');
        return;
    };
    match item {
        BackendItem::Name => push_escaped(out, b.name.as_bytes()),
        BackendItem::Addr => match b.addr {
            Some(addr) => push_display(out, addr),
            None => out.push(b'-'),
        },
        BackendItem::Status => match b.status {
            Some(status) => push_display(out, status),
            None => out.push(b'-'),
        },
        BackendItem::Connect => push_optional_micros(out, b.connect),
        BackendItem::FirstByte => push_optional_micros(out, b.first_byte),
        BackendItem::Hold => push_optional_micros(out, b.hold),
        BackendItem::LastByte => push_optional_micros(out, b.last_byte),
        BackendItem::Drain => push_optional_micros(out, b.drain),
        BackendItem::Saved => push_optional_micros(out, b.saved),
        BackendItem::Peak => push_display(out, b.peak),
        BackendItem::HeldAtRelease => push_display(out, b.held_at_release),
        BackendItem::SendQueue => match b.send_queue {
            Some(n) => push_display(out, n),
            None => out.push(b'-'),
        },
    }
}

/// `%V`: the `Host` name as Apache keeps it (port and one trailing dot removed, lowercased),
/// or the `ServerName` when the request had none.
fn push_host_name(out: &mut Vec<u8>, rec: &LogRecord<'_>) {
    let host = (rec.request_header)(b"Host").map(|h| {
        let end = if h.first() == Some(&b'[') {
            h.iter().position(|&b| b == b']').map_or(h.len(), |p| p + 1)
        } else {
            h.iter().position(|&b| b == b':').unwrap_or(h.len())
        };
        let name = &h[..end];
        name.strip_suffix(b".").unwrap_or(name)
    });
    match host {
        Some(name) if !name.is_empty() => {
            for &c in name {
                push_escaped(out, &[c.to_ascii_lowercase()]);
            }
        }
        _ => push_escaped(out, rec.server_name.as_bytes()),
    }
}

fn push_optional(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(v) => push_escaped(out, v),
        None => out.push(b'-'),
    }
}

fn push_optional_micros(out: &mut Vec<u8>, value: Option<Duration>) {
    match value {
        Some(d) => push_duration(out, d, TimeUnit::Micros),
        None => out.push(b'-'),
    }
}

fn push_duration(out: &mut Vec<u8>, d: Duration, unit: TimeUnit) {
    match unit {
        TimeUnit::Seconds => push_display(out, d.as_secs()),
        TimeUnit::Millis => push_display(out, d.as_millis()),
        TimeUnit::Micros => push_display(out, d.as_micros()),
    }
}

/// Numbers and addresses: ASCII by construction, so no escaping.
fn push_display(out: &mut Vec<u8>, value: impl std::fmt::Display) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{value}");
}

/// Apache's `ap_escape_logitem` (see the module documentation).
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &c in bytes {
        match c {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x0b => out.extend_from_slice(b"\\v"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 0xf)],
            ]),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `%t`: `[25/Nov/2026:21:43:36 +0000]`, in UTC. Times before 1970 print as the epoch.
fn push_clf_time(out: &mut Vec<u8>, t: SystemTime) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "[{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000]",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMON: &str = r#"%h %l %u %t "%r" %>s %b"#;
    const COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#;

    /// 2026-11-25 21:43:36 UTC.
    const STARTED: u64 = 1_795_643_016;

    fn request_headers(name: &[u8]) -> Option<&'static [u8]> {
        match name.to_ascii_lowercase().as_slice() {
            b"referer" => Some(b"http://ref.example/start"),
            b"user-agent" => Some(b"Mozilla/5.0 (X11; Linux x86_64)"),
            b"host" => Some(b"WWW.Example.com.:8080"),
            b"x-weird" => Some(b"a\"b\\c\n\td\x01\x7f\xc3\xa9"),
            _ => None,
        }
    }

    fn response_headers(name: &[u8]) -> Option<&'static [u8]> {
        match name.to_ascii_lowercase().as_slice() {
            b"content-type" => Some(b"text/html; charset=utf-8"),
            _ => None,
        }
    }

    fn no_headers(_: &[u8]) -> Option<&'static [u8]> {
        None
    }

    fn record() -> LogRecord<'static> {
        LogRecord {
            client: "203.0.113.9:51234".parse().unwrap(),
            local: "192.0.2.1:80".parse().unwrap(),
            server_name: "www.example.com",
            request_line: b"GET /perl/test.pl?x=1 HTTP/1.1",
            method: b"GET",
            path: b"/perl/test.pl",
            query: b"x=1",
            protocol: b"HTTP/1.1",
            status: 200,
            body_bytes: 2326,
            bytes_sent: 2580,
            started: UNIX_EPOCH + Duration::from_secs(STARTED) + Duration::from_millis(999),
            duration: Duration::from_micros(2_345_678),
            request_header: &request_headers,
            response_header: &response_headers,
            backend: Some(BackendFields {
                name: "http://localhost:81",
                addr: Some("127.0.0.1:81".parse().unwrap()),
                status: Some(200),
                connect: Some(Duration::from_micros(150)),
                first_byte: Some(Duration::from_millis(20)),
                hold: Some(Duration::from_micros(30_001)),
                last_byte: Some(Duration::from_micros(25_000)),
                drain: Some(Duration::from_millis(400)),
                saved: Some(Duration::from_micros(390_000)),
                peak: 1_048_576,
                held_at_release: 1_000_000,
                send_queue: Some(2_626_560),
            }),
            keepalive_count: 2,
            cache: Some("hit"),
            connection_status: b'+',
        }
    }

    fn line(fmt: &str, rec: &LogRecord<'_>) -> String {
        let mut out = Vec::new();
        LogFormat::parse(fmt).unwrap().render(rec, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn item(fmt: &str) -> String {
        let mut s = line(fmt, &record());
        assert_eq!(s.pop(), Some('\n'));
        s
    }

    #[test]
    fn common_log_format_gives_the_exact_line() {
        assert_eq!(
            line(COMMON, &record()),
            "203.0.113.9 - - [25/Nov/2026:21:43:36 +0000] \"GET /perl/test.pl?x=1 HTTP/1.1\" 200 2326\n"
        );
    }

    #[test]
    fn combined_log_format_gives_the_exact_line() {
        assert_eq!(
            line(COMBINED, &record()),
            "203.0.113.9 - - [25/Nov/2026:21:43:36 +0000] \"GET /perl/test.pl?x=1 HTTP/1.1\" 200 2326 \
             \"http://ref.example/start\" \"Mozilla/5.0 (X11; Linux x86_64)\"\n"
        );
    }

    #[test]
    fn combined_without_headers_prints_dashes() {
        let rec = LogRecord {
            request_header: &no_headers,
            body_bytes: 0,
            ..record()
        };
        assert_eq!(
            line(COMBINED, &rec),
            "203.0.113.9 - - [25/Nov/2026:21:43:36 +0000] \"GET /perl/test.pl?x=1 HTTP/1.1\" 200 - \"-\" \"-\"\n"
        );
    }

    #[test]
    fn address_and_port_items() {
        assert_eq!(
            item("%a|%{c}a|%h|%A"),
            "203.0.113.9|203.0.113.9|203.0.113.9|192.0.2.1"
        );
        assert_eq!(
            item("%p|%{canonical}p|%{local}p|%{remote}p|%{REMOTE}p"),
            "80|80|80|51234|51234"
        );
        let v6 = LogRecord {
            client: "[2001:db8::7]:4000".parse().unwrap(),
            local: "[::ffff:192.0.2.1]:443".parse().unwrap(),
            ..record()
        };
        assert_eq!(line("%a %A %p", &v6), "2001:db8::7 192.0.2.1 443\n");
    }

    #[test]
    fn size_items() {
        assert_eq!(item("%b %B %O"), "2326 2326 2580");
        let empty = LogRecord {
            body_bytes: 0,
            ..record()
        };
        assert_eq!(line("%b %B", &empty), "- 0\n");
    }

    #[test]
    fn duration_items() {
        assert_eq!(
            item("%D|%T|%{s}T|%{ms}T|%{us}T|%{MS}T"),
            "2345678|2|2|2345|2345678|2345"
        );
    }

    #[test]
    fn request_items() {
        assert_eq!(
            item("%m|%U|%q|%H|%r"),
            "GET|/perl/test.pl|?x=1|HTTP/1.1|GET /perl/test.pl?x=1 HTTP/1.1"
        );
        let no_query = LogRecord {
            query: b"",
            ..record()
        };
        assert_eq!(line("%U%q", &no_query), "/perl/test.pl\n");
    }

    #[test]
    fn status_items_all_print_the_final_status() {
        assert_eq!(item("%s %>s %<s"), "200 200 200");
        let none = LogRecord {
            status: 0,
            ..record()
        };
        assert_eq!(line("%>s", &none), "-\n");
    }

    #[test]
    fn identity_items_are_dashes() {
        assert_eq!(item("%l %u"), "- -");
    }

    #[test]
    fn server_name_items() {
        assert_eq!(item("%v %V"), "www.example.com www.example.com");
        let no_host = LogRecord {
            request_header: &no_headers,
            server_name: "main.example",
            ..record()
        };
        assert_eq!(line("%V", &no_host), "main.example\n");
    }

    #[test]
    fn connection_items() {
        assert_eq!(item("%X %k"), "+ 2");
        let aborted = LogRecord {
            connection_status: b'X',
            keepalive_count: 0,
            ..record()
        };
        assert_eq!(line("%X %k", &aborted), "X 0\n");
    }

    #[test]
    fn header_items() {
        assert_eq!(
            item("%{Content-Type}o|%{X-Missing}o|%{user-agent}i|%{X-Missing}i"),
            "text/html; charset=utf-8|-|Mozilla/5.0 (X11; Linux x86_64)|-"
        );
    }

    #[test]
    fn backend_items() {
        assert_eq!(
            item("%{backend}x %{backend_addr}x %{backend_status}x %{backend_connect}x %{backend_first_byte}x %{backend_hold}x"),
            "http://localhost:81 127.0.0.1:81 200 150 20000 30001"
        );
        assert_eq!(
            item("%{backend_last_byte}x %{client_drain}x %{time_saved}x %{peak_occupancy}x %{held_at_release}x %{client_send_queue}x"),
            "25000 400000 390000 1048576 1000000 2626560"
        );
        assert!(LogFormat::parse("%h %{client_send_queue}x")
            .unwrap()
            .wants_send_queue());
        assert!(!LogFormat::parse("%h %{held_at_release}x")
            .unwrap()
            .wants_send_queue());
        let partial = LogRecord {
            backend: Some(BackendFields {
                name: "http://[::1]:8080",
                addr: Some("[::1]:8080".parse().unwrap()),
                status: None,
                connect: None,
                first_byte: None,
                hold: None,
                last_byte: None,
                drain: None,
                saved: None,
                peak: 0,
                held_at_release: 0,
                send_queue: None,
            }),
            ..record()
        };
        assert_eq!(
            line("%{backend}x %{backend_addr}x %{backend_status}x %{backend_connect}x %{backend_first_byte}x %{backend_hold}x", &partial),
            "http://[::1]:8080 [::1]:8080 - - - -\n"
        );
        let none = LogRecord {
            backend: None,
            ..record()
        };
        assert_eq!(
            line("%{backend}x %{backend_addr}x %{backend_hold}x", &none),
            "- - -\n"
        );
    }

    #[test]
    fn time_item_is_clf_in_utc() {
        assert_eq!(item("%t"), "[25/Nov/2026:21:43:36 +0000]");
        let at = |secs: u64| LogRecord {
            started: UNIX_EPOCH + Duration::from_secs(secs),
            ..record()
        };
        assert_eq!(line("%t", &at(0)), "[01/Jan/1970:00:00:00 +0000]\n");
        assert_eq!(
            line("%t", &at(951_782_400)),
            "[29/Feb/2000:00:00:00 +0000]\n"
        );
        // 2100 is not a leap year.
        assert_eq!(
            line("%t", &at(4_107_542_399)),
            "[28/Feb/2100:23:59:59 +0000]\n"
        );
        assert_eq!(
            line("%t", &at(4_107_542_400)),
            "[01/Mar/2100:00:00:00 +0000]\n"
        );
        let before_epoch = LogRecord {
            started: UNIX_EPOCH - Duration::from_secs(5),
            ..record()
        };
        assert_eq!(line("%t", &before_epoch), "[01/Jan/1970:00:00:00 +0000]\n");
    }

    #[test]
    fn percent_and_literal_escapes() {
        assert_eq!(item(r"100%% \\ a\tb \q"), "100% \\ a\tb \\q");
        assert_eq!(line(r"x\n", &record()), "x\n\n");
    }

    #[test]
    fn values_are_escaped_as_apache_does() {
        assert_eq!(item("%{X-Weird}i"), r#"a\"b\\c\n\td\x01\x7f\xc3\xa9"#);
        let hostile = LogRecord {
            request_line: b"GET /\"x\r\n\x08\x0b HTTP/1.1",
            path: b"/\xff",
            query: b"a=\"",
            method: b"G\x00T",
            ..record()
        };
        assert_eq!(
            line("%r|%U|%q|%m", &hostile),
            "GET /\\\"x\\r\\n\\b\\v HTTP/1.1|/\\xff|?a=\\\"|G\\x00T\n"
        );
    }

    #[test]
    fn status_conditions_are_honoured() {
        assert_eq!(item("%200,304{Referer}i"), "http://ref.example/start");
        assert_eq!(item("%400,501{Referer}i"), "-");
        assert_eq!(item("%!400,501{Referer}i"), "http://ref.example/start");
        assert_eq!(item("%!200{Referer}i"), "-");
        // Modifiers may come in any order, with the argument before or after them.
        assert_eq!(
            item("%{Referer}200i %>200s %<!404s"),
            "http://ref.example/start 200 200"
        );
        let error = LogRecord {
            status: 501,
            ..record()
        };
        assert_eq!(
            line("%400,501{User-agent}i", &error),
            "Mozilla/5.0 (X11; Linux x86_64)\n"
        );
    }

    #[test]
    fn unknown_letter_is_an_error_naming_it() {
        let err = LogFormat::parse("%h %Z").unwrap_err();
        assert!(err.contains("%Z"), "{err}");
        let err = LogFormat::parse("%é").unwrap_err();
        assert!(err.contains("%é"), "{err}");
    }

    #[test]
    fn unsupported_apache_items_are_errors() {
        for fmt in ["%I", "%{FOO}e", "%P", "%{c}C", "%S", "%^ti"] {
            let err = LogFormat::parse(fmt).unwrap_err();
            assert!(err.contains("not supported"), "{fmt}: {err}");
        }
        let err = LogFormat::parse("%{%Y-%m-%d}t").unwrap_err();
        assert!(err.contains("time formats are not supported"), "{err}");
    }

    #[test]
    fn malformed_items_are_errors() {
        for (fmt, needle) in [
            ("%h %", "ends inside"),
            ("%>", "ends inside"),
            ("%{Referer", "unterminated"),
            ("%{x}h", "takes no argument"),
            ("%i", "needs a header name"),
            ("%{}o", "needs a header name"),
            ("%{bogus}x", "backend_hold"),
            ("%x", "backend,"),
            ("%{z}a", "one of c"),
            ("%{hours}T", "s, ms, us"),
            ("%{port}p", "canonical"),
            ("%1000s", "not a status code"),
            ("%99999999999s", "not a status code"),
            ("%!s", "no status codes"),
        ] {
            let err = LogFormat::parse(fmt).unwrap_err();
            assert!(err.contains(needle), "{fmt}: {err}");
        }
    }

    #[test]
    fn render_appends_to_existing_buffer() {
        let fmt = LogFormat::parse("%s").unwrap();
        let mut out = b"earlier\n".to_vec();
        fmt.render(&record(), &mut out);
        fmt.render(&record(), &mut out);
        assert_eq!(out, b"earlier\n200\n200\n");
    }

    #[test]
    fn empty_format_renders_an_empty_line() {
        assert_eq!(line("", &record()), "\n");
    }
}
