//! The access-log format language of Apache's mod_log_config (`LogFormat` / `CustomLog`
//! strings such as `%h %l %u %t "%r" %>s %b`), plus spoonfeed's `%{…}x` backend items:
//! [`LogFormat::parse`] compiles a format into plain data once, when the configuration is read,
//! and rejects anything `log::format` would not render faithfully (unknown letters,
//! unsupported Apache items, bad arguments), so nothing is silently logged as garbage and
//! `spoonfeed -t` reports a bad format at its line. Rendering is `log::format`'s: it matches on
//! the items compiled here.
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
//! In the literal text of the format, `\n`, `\r`, `\t` and `\\` are escapes (as in Apache);
//! other backslashes are kept. Values are escaped when they are rendered (`log::format`).

/// A compiled `LogFormat` string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFormat {
    pub(crate) items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
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
pub(crate) struct StatusFilter {
    pub(crate) statuses: Vec<u16>,
    /// `!`: the item is printed when the status is *not* listed.
    pub(crate) negated: bool,
}

impl StatusFilter {
    pub(crate) fn allows(&self, status: u16) -> bool {
        self.statuses.contains(&status) != self.negated
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeUnit {
    Seconds,
    Millis,
    Micros,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BackendItem {
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
pub(crate) enum Field {
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
