//! What the fuzzer checks of `config::log_format::LogFormat`: `parse` of `LogFormat` / `CustomLog`
//! strings and `render` of the formats that parse.
//!
//! Shared by the `log_format` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! The input is a format string (bytes as UTF-8, lossily converted when invalid, as the
//! configuration's lexer would have refused them); its text before the first newline and
//! after it are also two formats on their own.
//!
//! Properties:
//! - no panic; a refused format is refused with a message;
//! - a format that parses renders a plain record, a hostile one (CR, LF, quotes, backslashes,
//!   control and non-ASCII bytes in every value, the largest numbers and durations, a time
//!   past year 9999) and an empty one (no backend, no status, no headers, a time before 1970)
//!   without a panic, each as one line ending in `\n`; and no value of a record adds a line
//!   or a byte outside printable ASCII: the three lines hold the same bytes outside it (the
//!   format's own literal text, escapes applied);
//! - a format with no `%` and no `\` renders as itself;
//! - parsing is context-free: when the part before the newline parses and does not end in
//!   `\` (an escape the next character may complete), the whole parses exactly when the rest
//!   does, and renders as the first part's line (its `\n` the newline between the parts)
//!   followed by the rest's line;
//! - a format that wants the client's send queue names `client_send_queue`.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spoonfeed::config::log_format::LogFormat;
use spoonfeed::log::format::{BackendFields, LogRecord};

/// Bytes that no escaped value may add to a line.
const HOSTILE: &[u8] = b"a\r\nb\"c\\d\te\x00\x08\x0b\x1b\x7f\x80\xc3\xa9\xff%{x}i";

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let whole = parsed(&text);
    let Some((first, rest)) = text.split_once('\n') else {
        return;
    };
    let (Some(first), false) = (parsed(first), first.ends_with('\\')) else {
        return;
    };
    let rest = parsed(rest);
    assert_eq!(
        whole.is_some(),
        rest.is_some(),
        "{text:?} parses unlike its part after the newline"
    );
    if let (Some(whole), Some(rest)) = (whole, rest) {
        for rec in records() {
            // The first part's line, its own newline now the newline between the parts.
            let mut expected = line(&first, &rec);
            expected.extend(line(&rest, &rec));
            assert_eq!(
                line(&whole, &rec),
                expected,
                "{text:?} renders unlike its parts"
            );
        }
    }
}

/// `fmt` parsed, and its lines checked, when it parses.
fn parsed(fmt: &str) -> Option<LogFormat> {
    let format = match LogFormat::parse(fmt) {
        Ok(format) => format,
        Err(e) => {
            assert!(!e.is_empty(), "{fmt:?} refused without a message");
            return None;
        }
    };
    let lines: Vec<Vec<u8>> = records().iter().map(|rec| line(&format, rec)).collect();
    let outside = |line: &[u8]| -> Vec<u8> {
        line.iter()
            .copied()
            .filter(|b| !(0x20..=0x7e).contains(b))
            .collect()
    };
    for l in &lines[1..] {
        assert_eq!(
            outside(l),
            outside(&lines[0]),
            "{fmt:?}: a value added a line or an unescaped byte: {:?}",
            String::from_utf8_lossy(l)
        );
    }
    if !fmt.contains(['%', '\\']) {
        assert_eq!(lines[0], [fmt.as_bytes(), b"\n"].concat());
    }
    if format.wants_send_queue() {
        assert!(fmt.to_ascii_lowercase().contains("client_send_queue"));
    }
    Some(format)
}

/// The line `format` renders for `rec`, checked to be one line ending in `\n`.
fn line(format: &LogFormat, rec: &LogRecord<'_>) -> Vec<u8> {
    let mut out = b"kept".to_vec();
    format.render(rec, &mut out);
    assert!(out.starts_with(b"kept"), "render overwrote its buffer");
    assert_eq!(out.last(), Some(&b'\n'), "a line without its newline");
    out.split_off(4)
}

fn plain_header(name: &[u8]) -> Option<&'static [u8]> {
    match name.to_ascii_lowercase().as_slice() {
        b"host" => Some(b"www.example.com:8080"),
        b"referer" => Some(b"http://ref.example/"),
        _ => None,
    }
}

fn hostile_header(name: &[u8]) -> Option<&'static [u8]> {
    if name.eq_ignore_ascii_case(b"host") {
        Some(b"[::1\r\n\xff]:80")
    } else {
        Some(HOSTILE)
    }
}

fn no_header(_: &[u8]) -> Option<&'static [u8]> {
    None
}

/// A plain record, a hostile one and an empty one (see the module documentation).
fn records() -> [LogRecord<'static>; 3] {
    let addr = |s: &str| s.parse::<SocketAddr>().expect("an address");
    let plain = LogRecord {
        client: addr("203.0.113.9:51234"),
        local: addr("192.0.2.1:80"),
        server_name: "www.example.com",
        request_line: b"GET /a?b HTTP/1.1",
        method: b"GET",
        path: b"/a",
        query: b"b",
        protocol: b"HTTP/1.1",
        status: 200,
        body_bytes: 10,
        bytes_sent: 100,
        started: UNIX_EPOCH + Duration::from_secs(1_795_643_016),
        duration: Duration::from_micros(2_345_678),
        request_header: &plain_header,
        response_header: &plain_header,
        backend: Some(BackendFields {
            name: "http://localhost:81",
            addr: Some(addr("127.0.0.1:81")),
            status: Some(200),
            connect: Some(Duration::from_micros(150)),
            first_byte: Some(Duration::from_millis(20)),
            hold: Some(Duration::from_millis(30)),
            last_byte: Some(Duration::from_millis(25)),
            drain: Some(Duration::from_millis(400)),
            saved: Some(Duration::from_millis(390)),
            peak: 4096,
            held_at_release: 1024,
            send_queue: Some(2048),
        }),
        keepalive_count: 2,
        connection_status: b'+',
        cache: Some("hit"),
    };
    let hostile = LogRecord {
        client: addr("[fe80::1%4294967295]:65535"),
        local: addr("[::ffff:192.0.2.1]:0"),
        server_name: "evil\r\n\"name\u{e9}",
        request_line: HOSTILE,
        method: HOSTILE,
        path: HOSTILE,
        query: HOSTILE,
        protocol: HOSTILE,
        status: u16::MAX,
        body_bytes: u64::MAX,
        bytes_sent: u64::MAX,
        // As late as the platform's clock goes, and past year 9999 at the least.
        started: [u64::MAX >> 1, 1 << 40]
            .into_iter()
            .find_map(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
            .expect("a time past year 9999"),
        duration: Duration::MAX,
        request_header: &hostile_header,
        response_header: &hostile_header,
        backend: Some(BackendFields {
            name: "evil\n\u{0}",
            addr: Some(addr("[fe80::1%7]:1")),
            status: Some(u16::MAX),
            connect: Some(Duration::MAX),
            first_byte: Some(Duration::MAX),
            hold: Some(Duration::MAX),
            last_byte: Some(Duration::MAX),
            drain: Some(Duration::MAX),
            saved: Some(Duration::MAX),
            peak: u64::MAX,
            held_at_release: u64::MAX,
            send_queue: Some(u64::MAX),
        }),
        keepalive_count: u32::MAX,
        connection_status: b'\n',
        cache: Some("evil\r\n"),
    };
    let empty = LogRecord {
        client: addr("0.0.0.0:0"),
        local: addr("0.0.0.0:0"),
        server_name: "",
        request_line: b"",
        method: b"",
        path: b"",
        query: b"",
        protocol: b"",
        status: 0,
        body_bytes: 0,
        bytes_sent: 0,
        started: UNIX_EPOCH
            .checked_sub(Duration::from_secs(1))
            .unwrap_or(SystemTime::UNIX_EPOCH),
        duration: Duration::ZERO,
        request_header: &no_header,
        response_header: &no_header,
        backend: None,
        keepalive_count: 0,
        connection_status: b'-',
        cache: None,
    };
    [plain, hostile, empty]
}
