//! Rendering the access log: [`LogFormat::render`] appends one line, in a format compiled by
//! `config::log_format`, for a finished exchange described by a [`LogRecord`]; it does no I/O,
//! reads no clock and needs no allocation beyond the caller's output buffer. The items and
//! what each prints are listed in `config::log_format`.
//!
//! Escaping is Apache's `ap_escape_logitem`: in every item taken from the request or response
//! (and names from the configuration), `"` and `\` become `\"` and `\\`; backspace, newline,
//! carriage return, tab and vertical tab become `\b` `\n` `\r` `\t` `\v`; any other byte
//! outside printable ASCII becomes `\xhh`. So a line is always one line and quoted fields stay
//! quoted.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::log_format::{BackendItem, Field, Item, LogFormat, TimeUnit};
use crate::http1::date::civil_from_days;

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

impl LogFormat {
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
