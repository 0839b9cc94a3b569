//! Message framing on the wire: a table of malformed and ambiguous requests, each derived from a
//! rule of RFC 9112 (§2–§7, §9.3, §11) or RFC 9110 (§5, §6, §7.2, §8.6, §10.1.1), sent to a live
//! spoonfeed in front of a recording backend.
//!
//! Each case states its verdict: the answers the client gets, in order; the requests the backend
//! receives (method, target and body: never more, fewer or different); and whether spoonfeed
//! must close the connection after its last answer (where the RFC says "and then close", or
//! where the bytes that follow can no longer be framed). A case without a close rule ends with
//! the client's own FIN, after which no further answer may arrive: an extra answer means
//! spoonfeed read a request the verdict does not have.
//!
//! Every case runs against its own spoonfeed and backend, so whatever the backend records
//! belongs to that case alone. The record is read only after spoonfeed stopped and every
//! backend connection ended, so a request forwarded late still counts.
//!
//! The backend parses what reaches it with its own strict parser ([`read_request`]). Spoonfeed
//! re-serializes every forwarded head, so what it sends must be plain HTTP/1.1 with one `Host`
//! and at most one of `Content-Length` and `Transfer-Encoding: chunked`; anything else is
//! recorded as [`Seen::Malformed`] and fails the case.
//!
//! Where spoonfeed had a choice (the RFC says MAY or SHOULD), the case name says what it does,
//! e.g. `collapses_repeated_equal_content_lengths` (RFC 9110 §8.6 allows either answer).

mod common;

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// The name spoonfeed answers to: an absolute-form target naming it is for us
/// (RFC 9112 §3.2.2); any other name is a forward-proxy request, refused with 403.
const SERVER_NAME: &str = "front.example";

/// `LimitRequestLine` of every case: small, so lines just past it stay short.
const LINE_LIMIT: usize = 256;

/// `LimitRequestFieldSize` of every case.
const FIELD_SIZE_LIMIT: usize = 256;

/// `LimitRequestFields` of every case.
const FIELDS_LIMIT: usize = 16;

/// `LimitRequestBody` of every case.
const BODY_LIMIT: usize = 1024;

/// Longest a case waits for one answer, or for the close that ends it. Only failing cases
/// pay it (a proxy still waiting for bytes that never come).
const CASE_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest a case waits for the backend's connections to end after spoonfeed stopped.
const BACKEND_SETTLE: Duration = Duration::from_secs(5);

/// A request hidden in a body or behind a refused message. If spoonfeed ever reads it as a
/// request, the backend records `GET /smuggled` and the case fails.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: front.example\r\n\r\n";

/// A legitimate next request on the same connection.
const NEXT: &str = "GET /next HTTP/1.1\r\nHost: front.example\r\n\r\n";

/// Longest line the recording backend reads; spoonfeed's own limits are far below it.
const BACKEND_MAX_LINE: u64 = 64 * 1024;

/// Largest body the recording backend reads.
const BACKEND_MAX_BODY: usize = 1 << 20;

/// Most field lines the recording backend reads in one head or trailer section.
const BACKEND_MAX_FIELDS: usize = 200;

// ---------------------------------------------------------------------------------------------
// Verdicts
// ---------------------------------------------------------------------------------------------

/// What the recording backend received, one entry per request.
#[derive(Clone, PartialEq, Eq)]
enum Seen {
    /// A well-formed request, its body decoded.
    Request {
        method: String,
        target: String,
        body: Vec<u8>,
    },
    /// Bytes the backend's strict parser refused; the connection was dropped after them.
    Malformed(String),
}

impl fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Request {
                method,
                target,
                body,
            } => write!(f, "{method} {target} body=\"{}\"", show(body)),
            Seen::Malformed(why) => write!(f, "malformed: {why}"),
        }
    }
}

/// The expected outcome of one case.
struct Verdict {
    /// Statuses of the final answers the client gets, in order (1xx are skipped).
    answers: Vec<u16>,
    /// What the backend must receive, in order.
    forwarded: Vec<Seen>,
    /// Spoonfeed must close the connection after the last answer, by itself.
    closes: bool,
    /// The client closes its sending side right after its bytes (a message cut short).
    client_hangs_up: bool,
}

impl Verdict {
    /// This verdict, then `next` on the same connection (pipelining).
    fn then(mut self, next: Verdict) -> Verdict {
        self.answers.extend(next.answers);
        self.forwarded.extend(next.forwarded);
        self.closes = next.closes;
        self.client_hangs_up |= next.client_hangs_up;
        self
    }

    /// This verdict, and spoonfeed closes the connection after it.
    fn and_close(mut self) -> Verdict {
        self.closes = true;
        self
    }
}

/// Forwarded once, exactly as `method target` with this (decoded) body; the client gets the
/// backend's 200.
fn forward(method: &str, target: &str, body: impl AsRef<[u8]>) -> Verdict {
    Verdict {
        answers: vec![200],
        forwarded: vec![Seen::Request {
            method: method.to_owned(),
            target: target.to_owned(),
            body: body.as_ref().to_vec(),
        }],
        closes: false,
        client_hangs_up: false,
    }
}

/// `POST /` forwarded once with this body.
fn forward_post(body: impl AsRef<[u8]>) -> Verdict {
    forward("POST", "/", body)
}

/// `GET /` forwarded once without a body.
fn forward_get() -> Verdict {
    forward("GET", "/", "")
}

/// Answered by spoonfeed itself with `status`; nothing reaches the backend.
fn answer(status: u16) -> Verdict {
    Verdict {
        answers: vec![status],
        forwarded: Vec::new(),
        closes: false,
        client_hangs_up: false,
    }
}

/// Refused with `status`; nothing reaches the backend.
fn reject(status: u16) -> Verdict {
    answer(status)
}

/// Refused with `status`, then the connection is closed; nothing reaches the backend.
fn reject_and_close(status: u16) -> Verdict {
    answer(status).and_close()
}

/// The client sends an incomplete message and closes its side: nothing reaches the backend
/// and there is nothing to answer.
fn hang_up() -> Verdict {
    Verdict {
        answers: Vec::new(),
        forwarded: Vec::new(),
        closes: false,
        client_hangs_up: true,
    }
}

// ---------------------------------------------------------------------------------------------
// Request builders
// ---------------------------------------------------------------------------------------------

/// The bytes of a case's raw request, whatever type spells them.
fn bytes(raw: impl AsRef<[u8]>) -> Vec<u8> {
    raw.as_ref().to_vec()
}

/// `POST /` with `Host`, then `fields` (each line ending in CRLF), the empty line and `rest`.
fn post(fields: &str, rest: &str) -> String {
    format!("POST / HTTP/1.1\r\nHost: {SERVER_NAME}\r\n{fields}\r\n{rest}")
}

/// `GET /` with `Host`, then `fields` (each line ending in CRLF), the empty line and `rest`.
fn get(fields: &str, rest: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: {SERVER_NAME}\r\n{fields}\r\n{rest}")
}

/// `POST /` with `Transfer-Encoding: chunked` and `body` as its (raw) chunked content.
fn chunked(body: &str) -> String {
    post("Transfer-Encoding: chunked\r\n", body)
}

/// `POST /` whose `Transfer-Encoding` value is `value`, with a valid chunked `hello` after it.
fn te(value: &str) -> String {
    post(
        &format!("Transfer-Encoding: {value}\r\n"),
        "5\r\nhello\r\n0\r\n\r\n",
    )
}

/// `POST /` whose `Content-Length` value is `value`, with `hello` after it.
fn cl(value: &str) -> String {
    post(&format!("Content-Length: {value}\r\n"), "hello")
}

/// `POST /` with `Content-Length: len(body)` and `body`.
fn post_body(body: &str) -> String {
    post(&format!("Content-Length: {}\r\n", body.len()), body)
}

/// One chunk carrying `data`.
fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// A target that makes `GET <target> HTTP/1.1` exactly `line_len` bytes long.
fn target_for_line(line_len: usize) -> String {
    format!("/{}", "a".repeat(line_len - "GET / HTTP/1.1".len()))
}

/// A field line `X: vvv…` of exactly `len` bytes (without CRLF), with its CRLF.
fn field_of_len(len: usize) -> String {
    format!("X: {}\r\n", "v".repeat(len - "X: ".len()))
}

/// `n` distinct field lines.
fn many_fields(n: usize) -> String {
    (0..n).map(|i| format!("X-{i}: v\r\n")).collect()
}

/// `body` as chunks of at most 256 bytes.
fn in_chunks(body: &str) -> String {
    let mut out = String::new();
    for piece in body.as_bytes().chunks(256) {
        out.push_str(&chunk(std::str::from_utf8(piece).expect("ASCII body")));
    }
    out.push_str("0\r\n\r\n");
    out
}

// ---------------------------------------------------------------------------------------------
// The run of one case
// ---------------------------------------------------------------------------------------------

/// What actually happened, in the shape of a [`Verdict`] so that the two compare directly.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    answers: Vec<u16>,
    end: End,
    forwarded: Vec<Seen>,
}

/// How the client connection ended after the expected answers.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Closed, with nothing after the expected answers.
    Closed,
    /// Closed, with these bytes after the expected answers (an answer the verdict lacks).
    ClosedAfter(String),
    /// Still open after [`CASE_TIMEOUT`] (with what arrived meanwhile), where the verdict says
    /// spoonfeed closes.
    StillOpen(String),
    /// An expected answer did not arrive whole.
    AnswerMissing(String),
    /// The connection failed (e.g. a reset) after what arrived.
    Failed(String),
}

fn config(backend: SocketAddr) -> String {
    format!(
        "ServerName {SERVER_NAME}\n\
         ProxyPass / http://{backend}/\n\
         LimitRequestLine {LINE_LIMIT}\n\
         LimitRequestFieldSize {FIELD_SIZE_LIMIT}\n\
         LimitRequestFields {FIELDS_LIMIT}\n\
         LimitRequestBody {BODY_LIMIT}\n"
    )
}

/// Runs one case against a fresh spoonfeed and backend and compares what happened with the
/// verdict.
fn run(name: &str, rfc: &str, raw: Vec<u8>, verdict: Verdict) {
    let backend = Recorder::start();
    let proxy = Proxy::start(&config(backend.addr()));
    let client = proxy.connect();
    client.set_read_timeout(Some(CASE_TIMEOUT)).unwrap();

    // A separate writer: spoonfeed may answer (and stop reading) before the last byte is sent.
    let writer = {
        let mut w = client.try_clone().unwrap();
        let raw = raw.clone();
        let hang_up = verdict.client_hangs_up;
        thread::spawn(move || {
            let _ = w.write_all(&raw);
            if hang_up {
                let _ = w.shutdown(Shutdown::Write);
            }
        })
    };
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut answers = Vec::new();
    let mut missing = None;
    for i in 0..verdict.answers.len() {
        let head_only = i == 0 && raw.starts_with(b"HEAD ");
        match read_response(&mut reader, head_only) {
            Ok(response) => answers.push(response.status),
            Err(e) => {
                missing = Some(End::AnswerMissing(e.to_string()));
                break;
            }
        }
    }
    let _ = writer.join();
    let end = missing.unwrap_or_else(|| {
        if !verdict.closes {
            // Our FIN: spoonfeed answers what it already read, then closes.
            let _ = client.shutdown(Shutdown::Write);
        }
        tail(&mut reader)
    });
    drop(reader);
    drop(client);
    drop(proxy);
    let got = Outcome {
        answers,
        end,
        forwarded: backend.finish(),
    };
    let want = Outcome {
        answers: verdict.answers,
        end: End::Closed,
        forwarded: verdict.forwarded,
    };
    assert_eq!(
        got,
        want,
        "\ncase {name} ({rfc})\nsent: \"{}\"\n(left: what happened, right: the verdict)",
        show(&raw)
    );
}

/// Reads what follows the expected answers, up to the close.
fn tail(r: &mut impl Read) -> End {
    let mut rest = Vec::new();
    match r.read_to_end(&mut rest) {
        Ok(_) if rest.is_empty() => End::Closed,
        Ok(_) => End::ClosedAfter(show(&rest)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            End::StillOpen(show(&rest))
        }
        Err(e) => End::Failed(format!("{e} after \"{}\"", show(&rest))),
    }
}

/// Bytes as printable ASCII with escapes, shortened in the middle past 300 bytes.
fn show(bytes: &[u8]) -> String {
    if bytes.len() > 300 {
        return format!(
            "{}…({} bytes)…{}",
            bytes[..200].escape_ascii(),
            bytes.len() - 260,
            bytes[bytes.len() - 60..].escape_ascii()
        );
    }
    bytes.escape_ascii().to_string()
}

// ---------------------------------------------------------------------------------------------
// The recording backend
// ---------------------------------------------------------------------------------------------

/// A backend that parses each request strictly, records it, and answers `200 ok` keep-alive.
struct Recorder {
    backend: Scripted,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections whose script returned.
    ended: Arc<AtomicUsize>,
}

impl Recorder {
    fn start() -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(AtomicUsize::new(0));
        let backend = {
            let seen = Arc::clone(&seen);
            let ended = Arc::clone(&ended);
            Scripted::start(move |_, stream| {
                serve(stream, &seen);
                ended.fetch_add(1, Ordering::SeqCst);
            })
        };
        Recorder {
            backend,
            seen,
            ended,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.backend.addr
    }

    /// Everything recorded, once every accepted connection ended (spoonfeed must be stopped
    /// first, so that it let go of its pooled connections).
    fn finish(self) -> Vec<Seen> {
        let deadline = Instant::now() + BACKEND_SETTLE;
        loop {
            // A pause first: a connection spoonfeed opened last must be accepted before the
            // count means anything.
            thread::sleep(Duration::from_millis(2));
            if self.ended.load(Ordering::SeqCst) == self.backend.accepted() {
                break;
            }
            if Instant::now() > deadline {
                self.seen
                    .lock()
                    .unwrap()
                    .push(Seen::Malformed("a backend connection never ended".into()));
                break;
            }
        }
        let seen = self.seen.lock().unwrap();
        seen.clone()
    }
}

/// Serves one backend connection: a request at a time until EOF or a malformed request.
fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>) {
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    loop {
        match read_request(&mut r) {
            Ok(None) => return,
            Ok(Some(request)) => {
                let head_only =
                    matches!(&request, Seen::Request { method, .. } if method == "HEAD");
                seen.lock().unwrap().push(request);
                let answer: &[u8] = if head_only {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                };
                if w.write_all(answer).is_err() {
                    return;
                }
            }
            Err(why) => {
                seen.lock().unwrap().push(Seen::Malformed(why));
                return;
            }
        }
    }
}

/// Reads one request the way a strict origin would: CRLF lines only, one `Host`, framing by a
/// single `Content-Length` or by `Transfer-Encoding: chunked` (never both). `Ok(None)` at a
/// clean EOF before the request-line.
fn read_request(r: &mut impl BufRead) -> Result<Option<Seen>, String> {
    let Some(line) = read_line(r)? else {
        return Ok(None);
    };
    let parts: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(format!("request-line \"{}\"", show(&line)));
    };
    if method.is_empty()
        || !method.iter().copied().all(is_tchar)
        || target.is_empty()
        || !target.iter().all(|b| (0x21..0x7f).contains(b))
        || version != b"HTTP/1.1"
    {
        return Err(format!("request-line \"{}\"", show(&line)));
    }
    let mut hosts = 0;
    let mut length = None;
    let mut chunked = false;
    for (name, value) in read_fields(r, "head")? {
        match name.to_ascii_lowercase().as_slice() {
            b"host" => hosts += 1,
            b"content-length" => {
                let n = std::str::from_utf8(&value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .ok_or_else(|| format!("Content-Length \"{}\"", show(&value)))?;
                if length.replace(n).is_some() {
                    return Err("two Content-Length fields".into());
                }
            }
            b"transfer-encoding" => {
                if chunked || value != b"chunked" {
                    return Err(format!("Transfer-Encoding \"{}\"", show(&value)));
                }
                chunked = true;
            }
            _ => {}
        }
    }
    if hosts != 1 {
        return Err(format!("{hosts} Host fields"));
    }
    let body = match (length, chunked) {
        (Some(_), true) => return Err("Content-Length and Transfer-Encoding".into()),
        (None, true) => read_chunked(r)?,
        (Some(n), false) if n > BACKEND_MAX_BODY => return Err(format!("body of {n} bytes")),
        (Some(n), false) => {
            let mut body = vec![0; n];
            r.read_exact(&mut body)
                .map_err(|e| format!("body of {n} bytes cut short: {e}"))?;
            body
        }
        (None, false) => Vec::new(),
    };
    Ok(Some(Seen::Request {
        method: String::from_utf8_lossy(method).into_owned(),
        target: String::from_utf8_lossy(target).into_owned(),
        body,
    }))
}

/// One field line: its name as sent, and its value without surrounding whitespace.
type Field = (Vec<u8>, Vec<u8>);

/// Field lines up to the empty line.
fn read_fields(r: &mut impl BufRead, section: &str) -> Result<Vec<Field>, String> {
    let mut fields = Vec::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| format!("EOF in the {section}"))?;
        if line.is_empty() {
            return Ok(fields);
        }
        if fields.len() == BACKEND_MAX_FIELDS {
            return Err(format!(
                "more than {BACKEND_MAX_FIELDS} fields in the {section}"
            ));
        }
        let colon = line.iter().position(|b| *b == b':');
        let valid = colon.is_some_and(|c| {
            c > 0
                && line[..c].iter().copied().all(is_tchar)
                && !line[c + 1..].iter().copied().any(is_ctl)
        });
        let (Some(colon), true) = (colon, valid) else {
            return Err(format!("field line \"{}\" in the {section}", show(&line)));
        };
        let value = line[colon + 1..].trim_ascii();
        fields.push((line[..colon].to_vec(), value.to_vec()));
    }
}

/// A chunked body, decoded; extensions and trailers are checked and dropped.
fn read_chunked(r: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?.ok_or("EOF in a chunk-size line")?;
        let (size, extensions) =
            line.split_at(line.iter().position(|b| *b == b';').unwrap_or(line.len()));
        let size = size.trim_ascii_end();
        let bad_size = || format!("chunk-size line \"{}\"", show(&line));
        if size.is_empty() || extensions.iter().copied().any(is_ctl) {
            return Err(bad_size());
        }
        let size = size.iter().try_fold(0usize, |n, b| {
            let digit = char::from(*b).to_digit(16)?;
            n.checked_mul(16)?.checked_add(digit as usize)
        });
        let size = size.ok_or_else(bad_size)?;
        if size == 0 {
            read_fields(r, "trailer section")?;
            return Ok(body);
        }
        if body.len() + size > BACKEND_MAX_BODY {
            return Err(format!("chunked body past {BACKEND_MAX_BODY} bytes"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])
            .map_err(|e| format!("chunk of {size} bytes cut short: {e}"))?;
        if read_line(r)? != Some(Vec::new()) {
            return Err("chunk data not followed by CRLF".into());
        }
    }
}

/// One line without its CRLF; `Ok(None)` at EOF before any byte. A line not ended by CRLF, or
/// holding another CR or LF, is an error.
fn read_line(r: &mut impl BufRead) -> Result<Option<Vec<u8>>, String> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(BACKEND_MAX_LINE)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("read failed: {e}"))?;
    if n == 0 {
        return Ok(None);
    }
    match line.strip_suffix(b"\r\n") {
        Some(content) if !content.iter().any(|b| matches!(b, b'\r' | b'\n')) => {
            Ok(Some(content.to_vec()))
        }
        _ => Err(format!("line \"{}\" not ended by CRLF", show(&line))),
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A control character other than HTAB (RFC 9110 §5.5 forbids them in field values).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// Declares cases as tests named after their behaviour:
/// `name: "RFC section" raw_bytes => verdict;`, plus `COUNT`, the number of cases declared.
macro_rules! cases {
    ($($name:ident : $rfc:literal $raw:expr => $verdict:expr;)*) => {
        /// Cases in this group.
        pub const COUNT: usize = [$(stringify!($name)),*].len();
        $(
            #[test]
            fn $name() {
                run(stringify!($name), $rfc, bytes($raw), $verdict);
            }
        )*
    };
}

/// The request-line: methods, separators, versions, line endings, its limit
/// (RFC 9112 §2.2, §2.3, §3, §3.1; RFC 9110 §2.5, §9.1).
mod request_line {
    use super::*;

    cases! {
        forwards_a_plain_get: "RFC 9112 §3"
            get("", "") => forward_get();
        forwards_head_and_reads_no_body_back: "RFC 9110 §9.3.2"
            "HEAD / HTTP/1.1\r\nHost: front.example\r\n\r\n" => forward("HEAD", "/", "");
        forwards_head_with_a_body: "RFC 9110 §9.3.2, RFC 9112 §6.3 (framing applies to any method)"
            "HEAD / HTTP/1.1\r\nHost: front.example\r\nContent-Length: 5\r\n\r\nhello"
            => forward("HEAD", "/", "hello");
        forwards_an_unregistered_method: "RFC 9110 §9.1"
            "PROPFIND /dav HTTP/1.1\r\nHost: front.example\r\n\r\n" => forward("PROPFIND", "/dav", "");
        forwards_lowercase_get_as_its_own_method: "RFC 9110 §9.1 (methods are case-sensitive)"
            "get / HTTP/1.1\r\nHost: front.example\r\n\r\n" => forward("get", "/", "");
        forwards_a_method_made_of_every_tchar: "RFC 9112 §3.1, RFC 9110 §5.6.2"
            "!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => forward("!#$%&'*+-.^_`|~09azAZ", "/", "");
        rejects_a_separator_in_the_method: "RFC 9112 §3.1"
            "G(T / HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_non_ascii_in_the_method: "RFC 9112 §3.1"
            b"G\xc3\x89T / HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_whitespace_before_the_method: "RFC 9112 §3"
            " GET / HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_two_spaces_after_the_method: "RFC 9112 §3"
            "GET  / HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_two_spaces_before_the_version_with_400: "RFC 9112 §3"
            "GET /  HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_a_space_after_the_version: "RFC 9112 §3"
            "GET / HTTP/1.1 \r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_a_word_after_the_version: "RFC 9112 §3"
            "GET / HTTP/1.1 extra\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_a_tab_after_the_method: "RFC 9112 §3 (lenient whitespace is a smuggling risk)"
            "GET\t/ HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_a_tab_before_the_version: "RFC 9112 §3"
            "GET /\tHTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_a_missing_version: "RFC 9112 §3 (no HTTP/0.9)"
            "GET /\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_a_missing_target: "RFC 9112 §3"
            "GET HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_nul_in_the_request_line: "RFC 9112 §3"
            "GET /\0 HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_http_2_0_with_505: "RFC 9110 §15.6.6"
            "GET / HTTP/2.0\r\nHost: front.example\r\n\r\n" => reject(505);
        rejects_http_0_9_with_505: "RFC 9110 §15.6.6"
            "GET / HTTP/0.9\r\nHost: front.example\r\n\r\n" => reject(505);
        rejects_the_http2_preface_with_505: "RFC 9113 §3.4, RFC 9110 §15.6.6"
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" => reject(505);
        // RFC 9110 §2.5: "A recipient that receives a message with a major version number that
        // it implements and a minor version number higher than what it implements SHOULD
        // process the message as if it were in the highest minor version within that major
        // version to which the recipient is conformant."
        answers_http_1_2_with_505_not_as_http_1_1: "RFC 9110 §2.5 (a SHOULD spoonfeed does not follow: no client sends 1.2, and httparse knows 1.0 and 1.1 only)"
            "GET / HTTP/1.2\r\nHost: front.example\r\n\r\n" => reject(505);
        rejects_a_lowercase_http_name: "RFC 9112 §2.3 (HTTP-name is case-sensitive)"
            "GET / http/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_a_two_digit_minor_version: "RFC 9112 §2.3 (one DIGIT)"
            "GET / HTTP/1.10\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_a_version_without_minor: "RFC 9112 §2.3"
            "GET / HTTP/1\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_bare_lf_line_endings: "RFC 9112 §2.2 (MAY accept; spoonfeed refuses)"
            "GET / HTTP/1.1\nHost: front.example\n\n" => reject(400);
        rejects_bare_lf_after_the_request_line: "RFC 9112 §2.2"
            "GET / HTTP/1.1\nHost: front.example\r\n\r\n" => reject(400);
        rejects_bare_lf_ending_the_head: "RFC 9112 §2.2"
            "GET / HTTP/1.1\r\nHost: front.example\r\n\n" => reject(400);
        rejects_bare_cr_in_the_request_line: "RFC 9112 §2.2 (bare CR is invalid)"
            "GET / HTTP/1.1\rHost: front.example\r\n\r\n" => reject(400);
        ignores_one_empty_line_before_the_request_line: "RFC 9112 §2.2"
            format!("\r\n{}", get("", "")) => forward_get();
        ignores_ten_empty_lines_before_the_request_line: "RFC 9112 §2.2 (spoonfeed allows 10)"
            format!("{}{}", "\r\n".repeat(10), get("", "")) => forward_get();
        rejects_eleven_empty_lines_before_the_request_line: "RFC 9112 §2.2 (spoonfeed's bound)"
            format!("{}{}", "\r\n".repeat(11), get("", "")) => reject(400);
        rejects_a_bare_lf_empty_line_before_the_request_line: "RFC 9112 §2.2"
            format!("\n{}", get("", "")) => reject(400);
        forwards_a_request_line_of_exactly_the_limit: "RFC 9112 §3 (LimitRequestLine)"
            format!("GET {} HTTP/1.1\r\nHost: front.example\r\n\r\n", target_for_line(LINE_LIMIT))
            => forward("GET", &target_for_line(LINE_LIMIT), "");
        rejects_a_request_line_one_past_the_limit_with_414: "RFC 9112 §3, RFC 9110 §15.5.15"
            format!("GET {} HTTP/1.1\r\nHost: front.example\r\n\r\n", target_for_line(LINE_LIMIT + 1))
            => reject(414);
        rejects_a_100_kib_request_line_with_414: "RFC 9112 §3, RFC 9110 §15.5.15"
            format!("GET {} HTTP/1.1\r\nHost: front.example\r\n\r\n", target_for_line(100 * 1024))
            => reject_and_close(414);
    }
}

/// The request-target and its forms (RFC 9112 §3.2, §3.2.1–§3.2.4; RFC 9110 §4.2, §7.1).
mod target {
    use super::*;

    cases! {
        forwards_origin_form_with_a_query: "RFC 9112 §3.2.1"
            "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => forward("GET", "/a/b?x=1&y=%20", "");
        // The target is valid (an empty first segment); `ProxyPass /` then maps it the way
        // mod_proxy's alias_match does, a run of slashes matching the alias's one slash.
        forwards_a_path_starting_with_two_slashes_as_mapped: "RFC 9112 §3.2.1 (empty segment)"
            "GET //evil.example/x HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => forward("GET", "/evil.example/x", "");
        forwards_an_encoded_crlf_undecoded: "RFC 3986 §2.1, RFC 9112 §11.1 (no splitting)"
            "GET /a%0d%0aX:%20y HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => forward("GET", "/a%0d%0aX:%20y", "");
        forwards_an_encoded_nul_undecoded: "RFC 3986 §2.1"
            "GET /a%00b HTTP/1.1\r\nHost: front.example\r\n\r\n" => forward("GET", "/a%00b", "");
        forwards_absolute_form_naming_us_as_origin_form: "RFC 9112 §3.2.2"
            "GET http://front.example/x?q HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => forward("GET", "/x?q", "");
        absolute_form_overrides_a_host_that_disagrees: "RFC 9112 §3.2.2 (MUST ignore Host)"
            "GET http://front.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n"
            => forward("GET", "/x", "");
        absolute_form_with_an_invalid_host_field_is_400: "RFC 9110 §7.2 (invalid Host: MUST 400)"
            "GET http://front.example/x HTTP/1.1\r\nHost: a b\r\n\r\n" => reject(400);
        absolute_form_for_a_foreign_host_is_403: "RFC 9112 §3.2.2 (ProxyRequests Off)"
            "GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n" => reject(403);
        absolute_form_for_a_foreign_host_wins_over_a_host_naming_us: "RFC 9112 §3.2.2"
            "GET http://evil.example/x HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(403);
        absolute_form_with_an_empty_path_is_forwarded_as_slash: "RFC 9112 §3.2.1, §3.2.2"
            "GET http://front.example HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => forward("GET", "/", "");
        absolute_form_with_only_a_query_gets_a_slash: "RFC 9112 §3.2.1 (origin-form starts with /)"
            "GET http://front.example?q=1 HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => forward("GET", "/?q=1", "");
        absolute_form_scheme_is_case_insensitive: "RFC 9110 §4.2.3, RFC 3986 §3.1"
            "GET HTTP://front.example/x HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => forward("GET", "/x", "");
        absolute_form_with_https_is_ours_too: "RFC 9110 §4.2.2"
            "GET https://front.example/x HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => forward("GET", "/x", "");
        absolute_form_with_another_scheme_is_400: "RFC 9112 §3.2.2"
            "GET ftp://front.example/x HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        absolute_form_with_an_empty_authority_is_400: "RFC 9110 §4.2.1 (empty host is invalid)"
            "GET http:///x HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        absolute_form_with_userinfo_is_400: "RFC 9110 §4.2.4"
            "GET http://user@front.example/x HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => reject(400);
        absolute_form_with_a_non_numeric_port_is_400: "RFC 9110 §4.2.1, RFC 3986 §3.2.3 (port = *DIGIT)"
            "GET http://front.example:abc/x HTTP/1.1\r\nHost: front.example\r\n\r\n"
            => reject(400);
        authority_form_for_get_is_400: "RFC 9112 §3.2.3 (CONNECT only)"
            "GET front.example:80 HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        connect_is_refused_with_403: "RFC 9112 §3.2.3, RFC 9110 §9.3.6 (ProxyRequests Off)"
            "CONNECT front.example:443 HTTP/1.1\r\nHost: front.example:443\r\n\r\n"
            => reject(403);
        connect_with_origin_form_is_400: "RFC 9112 §3.2.3"
            "CONNECT /x HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        connect_without_a_port_is_400: "RFC 9112 §3.2.3 (port is required)"
            "CONNECT front.example HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        asterisk_form_for_get_is_400: "RFC 9112 §3.2.4 (OPTIONS only)"
            "GET * HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        options_asterisk_is_answered_by_spoonfeed: "RFC 9112 §3.2.4, RFC 9110 §9.3.7"
            "OPTIONS * HTTP/1.1\r\nHost: front.example\r\n\r\n" => answer(200);
        options_with_a_path_is_forwarded: "RFC 9110 §9.3.7"
            "OPTIONS /x HTTP/1.1\r\nHost: front.example\r\n\r\n" => forward("OPTIONS", "/x", "");
        a_relative_target_is_400: "RFC 9112 §3.2"
            "GET a/b HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        a_fragment_in_the_target_is_400: "RFC 9112 §3.2 (no fragment in any form)"
            "GET /a#b HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        a_space_in_the_path_is_400: "RFC 9112 §3, §3.2 (invalid request-line: 400)"
            "GET /a b HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        a_space_in_the_query_is_400: "RFC 9112 §3, §3.2"
            "GET /?a=b c HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        non_ascii_in_the_target_is_400: "RFC 9112 §3.2, RFC 3986 §2"
            b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        a_double_quote_in_the_target_is_400: "RFC 9112 §3 (SHOULD 400), RFC 3986 §3.3"
            "GET /a\"b HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        angle_brackets_in_the_target_are_400: "RFC 9112 §3 (SHOULD 400), RFC 3986 §3.3"
            "GET /<x> HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        a_backslash_in_the_target_is_400: "RFC 9112 §3 (SHOULD 400), RFC 3986 §3.3"
            "GET /a\\b HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        a_bad_percent_escape_in_the_target_is_400: "RFC 9112 §3 (SHOULD 400), RFC 3986 §2.1"
            "GET /%zz HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        a_dot_dot_segment_is_400: "RFC 3986 §5.2.4 (spoonfeed refuses, keeps the connection)"
            "GET /a/../b HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
        an_encoded_dot_dot_segment_is_400: "RFC 3986 §2.3, §5.2.4 (spoonfeed refuses)"
            "GET /%2e%2E/b HTTP/1.1\r\nHost: front.example\r\n\r\n" => reject(400);
    }
}

/// Field syntax: names, values, whitespace, folding, controls, the size limits
/// (RFC 9112 §2.2, §5, §5.1, §5.2; RFC 9110 §5.1, §5.5, §5.6.2).
mod fields {
    use super::*;

    cases! {
        forwards_a_value_with_surrounding_whitespace: "RFC 9112 §5.1 (OWS)"
            get("X:  v \t\r\n", "") => forward_get();
        forwards_a_value_without_space_after_the_colon: "RFC 9112 §5.1"
            get("X:v\r\n", "") => forward_get();
        forwards_an_empty_value: "RFC 9110 §5.5"
            get("X:\r\n", "") => forward_get();
        forwards_htab_inside_a_value: "RFC 9110 §5.5"
            get("X: a\tb\r\n", "") => forward_get();
        forwards_obs_text_in_a_value: "RFC 9110 §5.5 (obs-text)"
            b"GET / HTTP/1.1\r\nHost: front.example\r\nX: caf\xe9\r\n\r\n" => forward_get();
        rejects_obs_fold: "RFC 9112 §5.2"
            get("X: a\r\n b\r\n", "") => reject(400);
        rejects_obs_fold_with_a_tab: "RFC 9112 §5.2"
            get("X: a\r\n\tb\r\n", "") => reject(400);
        rejects_a_folded_host: "RFC 9112 §5.2"
            "GET / HTTP/1.1\r\nHost: front\r\n .example\r\n\r\n" => reject(400);
        rejects_whitespace_before_the_first_field: "RFC 9112 §2.2 (reject or ignore; spoonfeed rejects)"
            "GET / HTTP/1.1\r\n X: v\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_a_space_between_name_and_colon: "RFC 9112 §5.1 (MUST 400)"
            get("X : v\r\n", "") => reject(400);
        rejects_a_tab_between_name_and_colon: "RFC 9112 §5.1 (MUST 400)"
            get("X\t: v\r\n", "") => reject(400);
        rejects_an_empty_name: "RFC 9110 §5.1 (field-name = token)"
            get(": v\r\n", "") => reject(400);
        rejects_a_line_without_a_colon: "RFC 9112 §5"
            get("X v\r\n", "") => reject(400);
        rejects_a_space_inside_a_name: "RFC 9110 §5.1"
            get("X Y: v\r\n", "") => reject(400);
        rejects_a_separator_in_a_name: "RFC 9110 §5.6.2"
            get("X@Y: v\r\n", "") => reject(400);
        rejects_non_ascii_in_a_name: "RFC 9110 §5.6.2"
            b"GET / HTTP/1.1\r\nHost: front.example\r\nX\xc3\xa9: v\r\n\r\n" => reject(400);
        rejects_nul_in_a_name: "RFC 9110 §5.1"
            get("X\0Y: v\r\n", "") => reject(400);
        rejects_a_control_character_in_a_name: "RFC 9110 §5.1"
            get("X\x01Y: v\r\n", "") => reject(400);
        rejects_nul_in_a_value: "RFC 9110 §5.5 (MUST reject or replace NUL)"
            get("X: a\0b\r\n", "") => reject(400);
        rejects_a_bare_cr_in_a_value: "RFC 9110 §5.5, RFC 9112 §2.2"
            get("X: a\rb\r\n", "") => reject(400);
        rejects_a_bare_lf_in_a_value: "RFC 9112 §2.2"
            get("X: a\nb: c\r\n", "") => reject(400);
        rejects_soh_in_a_value: "RFC 9110 §5.5"
            get("X: a\x01b\r\n", "") => reject(400);
        rejects_escape_in_a_value: "RFC 9110 §5.5"
            get("X: a\x1bb\r\n", "") => reject(400);
        rejects_del_in_a_value: "RFC 9110 §5.5"
            get("X: a\x7fb\r\n", "") => reject(400);
        rejects_vertical_tab_in_a_value: "RFC 9110 §5.5, §5.6.3 (VT is not OWS)"
            get("X: \x0bv\r\n", "") => reject(400);
        rejects_form_feed_in_a_value: "RFC 9110 §5.5"
            get("X: v\x0c\r\n", "") => reject(400);
        forwards_a_field_line_of_exactly_the_limit: "RFC 9112 §5 (LimitRequestFieldSize)"
            get(&field_of_len(FIELD_SIZE_LIMIT), "") => forward_get();
        rejects_a_field_line_one_past_the_limit_with_431: "RFC 6585 §5 (LimitRequestFieldSize)"
            get(&field_of_len(FIELD_SIZE_LIMIT + 1), "") => reject(431);
        rejects_a_100_kib_field_with_431: "RFC 6585 §5"
            get(&field_of_len(100 * 1024), "") => reject_and_close(431);
        forwards_exactly_the_limit_of_fields: "RFC 9112 §5 (LimitRequestFields counts Host)"
            get(&many_fields(FIELDS_LIMIT - 1), "") => forward_get();
        rejects_one_field_past_the_limit_with_431: "RFC 6585 §5 (LimitRequestFields)"
            get(&many_fields(FIELDS_LIMIT), "") => reject(431);
    }
}

/// `Host` (RFC 9110 §7.2, RFC 9112 §3.2): required once in HTTP/1.1, valid when present.
mod host {
    use super::*;

    cases! {
        rejects_http11_without_host: "RFC 9110 §7.2, RFC 9112 §3.2 (MUST 400)"
            "GET / HTTP/1.1\r\nX: v\r\n\r\n" => reject(400);
        rejects_http11_absolute_form_without_host: "RFC 9112 §3.2 (Host even with absolute-form)"
            "GET http://front.example/ HTTP/1.1\r\n\r\n" => reject(400);
        forwards_http10_without_host: "RFC 9110 §7.2 (HTTP/1.0 may omit Host)"
            "GET / HTTP/1.0\r\n\r\n" => forward_get();
        rejects_two_different_hosts: "RFC 9110 §7.2 (MUST 400)"
            "GET / HTTP/1.1\r\nHost: front.example\r\nHost: evil.example\r\n\r\n" => reject(400);
        rejects_two_identical_hosts: "RFC 9110 §7.2 (more than one Host line: MUST 400)"
            "GET / HTTP/1.1\r\nHost: front.example\r\nHost: front.example\r\n\r\n" => reject(400);
        rejects_two_hosts_whatever_their_case: "RFC 9110 §7.2, §5.1 (names are case-insensitive)"
            "GET / HTTP/1.1\r\nHOST: front.example\r\nhost: evil.example\r\n\r\n" => reject(400);
        rejects_two_hosts_in_http10: "RFC 9110 §7.2 (any request message)"
            "GET / HTTP/1.0\r\nHost: front.example\r\nHost: evil.example\r\n\r\n" => reject(400);
        rejects_a_host_list: "RFC 9110 §7.2 (invalid value: MUST 400)"
            get("", "").replace("Host: front.example", "Host: front.example, evil.example")
            => reject(400);
        rejects_a_host_with_userinfo: "RFC 9110 §7.2, §4.2.4"
            get("", "").replace("Host: front.example", "Host: user@front.example")
            => reject(400);
        rejects_a_host_with_a_path: "RFC 9110 §7.2"
            get("", "").replace("Host: front.example", "Host: front.example/x") => reject(400);
        rejects_a_host_with_a_non_numeric_port: "RFC 9110 §7.2 (uri-host [\":\" port], port = *DIGIT)"
            get("", "").replace("Host: front.example", "Host: front.example:abc")
            => reject(400);
        rejects_a_host_with_two_ports: "RFC 9110 §7.2 (reg-name has no colon)"
            get("", "").replace("Host: front.example", "Host: front.example:80:81")
            => reject(400);
        rejects_an_unclosed_ip_literal_host: "RFC 9110 §7.2, RFC 3986 §3.2.2"
            get("", "").replace("Host: front.example", "Host: [::1") => reject(400);
        rejects_non_ascii_in_host: "RFC 9110 §7.2, RFC 3986 §3.2.2"
            b"GET / HTTP/1.1\r\nHost: fr\xc3\xb6nt.example\r\n\r\n" => reject(400);
        forwards_an_empty_host: "RFC 9110 §7.2 (empty value allowed)"
            "GET / HTTP/1.1\r\nHost:\r\n\r\n" => forward_get();
        forwards_a_host_with_a_port: "RFC 9110 §7.2"
            get("", "").replace("Host: front.example", "Host: front.example:8080")
            => forward_get();
        forwards_an_ip_literal_host: "RFC 9110 §7.2, RFC 3986 §3.2.2"
            get("", "").replace("Host: front.example", "Host: [::1]:80") => forward_get();
    }
}

/// `Content-Length` (RFC 9110 §8.6; RFC 9112 §6.2, §6.3 items 5–6).
mod content_length {
    use super::*;

    cases! {
        forwards_a_body_of_content_length: "RFC 9112 §6.2"
            cl("5") => forward_post("hello");
        forwards_content_length_zero: "RFC 9112 §6.2"
            post("Content-Length: 0\r\n", "") => forward_post("");
        forwards_post_without_framing_as_empty: "RFC 9112 §6.3 item 7"
            post("", "") => forward_post("");
        forwards_content_length_without_space: "RFC 9112 §5.1"
            post("Content-Length:5\r\n", "hello") => forward_post("hello");
        forwards_content_length_with_surrounding_whitespace: "RFC 9112 §5.1 (OWS)"
            post("Content-Length: \t5\t \r\n", "hello") => forward_post("hello");
        forwards_content_length_with_leading_zeros: "RFC 9110 §8.6 (1*DIGIT)"
            cl("005") => forward_post("hello");
        forwards_content_length_in_lowercase: "RFC 9110 §5.1"
            post("content-length: 5\r\n", "hello") => forward_post("hello");
        collapses_repeated_equal_content_lengths: "RFC 9110 §8.6 (MAY collapse; spoonfeed does)"
            post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello") => forward_post("hello");
        collapses_a_list_of_equal_content_lengths: "RFC 9110 §8.6 (MAY collapse; spoonfeed does)"
            cl("5, 5") => forward_post("hello");
        collapses_equal_values_across_lines_and_lists: "RFC 9110 §8.6 (MAY collapse; spoonfeed does)"
            post("Content-Length: 5\r\ncontent-length: 5,5\r\n", "hello") => forward_post("hello");
        collapses_equal_lengths_with_whitespace_around_commas: "RFC 9110 §5.6.1, §8.6"
            cl("5 , 5") => forward_post("hello");
        rejects_two_different_content_lengths: "RFC 9112 §6.3 item 5 (400 and close)"
            post("Content-Length: 5\r\nContent-Length: 6\r\n", &format!("hello{SMUGGLED}"))
            => reject_and_close(400);
        rejects_a_list_of_different_content_lengths: "RFC 9112 §6.3 item 5"
            cl("5, 6") => reject_and_close(400);
        rejects_a_list_with_an_empty_element: "RFC 9110 §8.6 (not 1*DIGIT; spoonfeed refuses)"
            cl("5,,5") => reject_and_close(400);
        rejects_a_list_with_a_trailing_comma: "RFC 9110 §8.6 (spoonfeed refuses)"
            cl("5,") => reject_and_close(400);
        rejects_a_plus_sign: "RFC 9110 §8.6 (1*DIGIT)"
            cl("+5") => reject_and_close(400);
        rejects_a_minus_sign: "RFC 9110 §8.6"
            cl("-5") => reject_and_close(400);
        rejects_a_hex_length: "RFC 9110 §8.6"
            cl("0x5") => reject_and_close(400);
        rejects_a_decimal_point: "RFC 9110 §8.6"
            cl("5.0") => reject_and_close(400);
        rejects_an_exponent: "RFC 9110 §8.6"
            cl("5e0") => reject_and_close(400);
        rejects_a_space_inside_the_number: "RFC 9110 §8.6"
            cl("1 0") => reject_and_close(400);
        rejects_a_quoted_length: "RFC 9110 §8.6"
            cl("\"5\"") => reject_and_close(400);
        rejects_an_empty_content_length: "RFC 9110 §8.6"
            cl("") => reject_and_close(400);
        rejects_a_fullwidth_digit: "RFC 9110 §8.6 (DIGIT is ASCII)"
            b"POST / HTTP/1.1\r\nHost: front.example\r\nContent-Length: \xef\xbc\x95\r\n\r\nhello"
            => reject_and_close(400);
        rejects_a_length_past_u64: "RFC 9110 §8.6 (overflow is invalid, not wrapped)"
            cl("18446744073709551616") => reject_and_close(400);
        rejects_a_length_far_past_u64: "RFC 9110 §8.6"
            cl(&"9".repeat(40)) => reject_and_close(400);
        rejects_u64_max_with_413: "RFC 9110 §15.5.14 (LimitRequestBody)"
            cl("18446744073709551615") => reject_and_close(413);
        forwards_a_body_of_exactly_the_limit: "RFC 9110 §15.5.14 (LimitRequestBody)"
            post_body(&"b".repeat(BODY_LIMIT)) => forward_post("b".repeat(BODY_LIMIT));
        rejects_a_body_one_byte_past_the_limit_with_413: "RFC 9110 §15.5.14; the unread body is never a request"
            post_body(&format!("{SMUGGLED}{}", "b".repeat(BODY_LIMIT + 1 - SMUGGLED.len())))
            => reject_and_close(413);
        rejects_space_before_the_colon_of_content_length: "RFC 9112 §5.1 (MUST 400)"
            post("Content-Length : 5\r\n", "hello") => reject(400);
        rejects_a_folded_content_length: "RFC 9112 §5.2"
            post(&format!("Content-Length:\r\n {}\r\n", SMUGGLED.len()), SMUGGLED) => reject(400);
        forwards_a_body_on_get: "RFC 9110 §9.3.1, RFC 9112 §6.3 (framing applies to any method)"
            get("Content-Length: 5\r\n", "hello") => forward("GET", "/", "hello");
        forwards_a_body_on_http10: "RFC 9112 §6.2"
            "POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello" => forward_post("hello");
        connection_naming_content_length_keeps_the_framing: "RFC 9110 §7.6.1, RFC 9112 §6.3"
            post("Connection: Content-Length\r\nContent-Length: 5\r\n", "hello")
            => forward_post("hello");
    }
}

/// `Transfer-Encoding` (RFC 9112 §6.1, §6.3 items 3–4, §7; RFC 9110 §5.6.1).
mod transfer_encoding {
    use super::*;

    cases! {
        forwards_chunked: "RFC 9112 §6.1"
            te("chunked") => forward_post("hello");
        forwards_chunked_in_capitals: "RFC 9112 §7 (coding names are case-insensitive)"
            te("CHUNKED") => forward_post("hello");
        forwards_chunked_in_mixed_case: "RFC 9112 §7"
            te("cHuNkEd") => forward_post("hello");
        forwards_chunked_after_leading_spaces: "RFC 9112 §5.1 (OWS is not part of the value)"
            te("   chunked") => forward_post("hello");
        forwards_chunked_with_a_trailing_tab: "RFC 9112 §5.1"
            te("chunked\t") => forward_post("hello");
        forwards_chunked_after_a_tab_instead_of_space: "RFC 9112 §5.1"
            post("Transfer-Encoding:\tchunked\r\n", "5\r\nhello\r\n0\r\n\r\n") => forward_post("hello");
        forwards_chunked_after_an_empty_list_element: "RFC 9110 §5.6.1 (empty elements ignored)"
            te(", chunked") => forward_post("hello");
        forwards_chunked_on_get: "RFC 9112 §6.1"
            get("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
            => forward("GET", "/", "hello");
        connection_naming_transfer_encoding_keeps_the_framing: "RFC 9110 §7.6.1, RFC 9112 §6.1"
            post("Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
            => forward_post("hello");
        rejects_chunked_with_content_length: "RFC 9112 §6.3 item 3 (spoonfeed: 400 and close)"
            post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
            => reject_and_close(400);
        rejects_content_length_after_chunked: "RFC 9112 §6.3 item 3"
            post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "5\r\nhello\r\n0\r\n\r\n")
            => reject_and_close(400);
        rejects_chunked_with_content_length_zero: "RFC 9112 §6.3 item 3"
            post("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", "5\r\nhello\r\n0\r\n\r\n")
            => reject_and_close(400);
        rejects_chunked_twice_in_one_field: "RFC 9112 §6.1 (chunked at most once)"
            te("chunked, chunked") => reject_and_close(400);
        rejects_chunked_twice_in_two_fields: "RFC 9112 §6.1, RFC 9110 §5.3 (lines combine)"
            post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
            => reject_and_close(400);
        rejects_chunked_then_gzip: "RFC 9112 §6.3 item 4 (chunked not last: 400 and close)"
            te("chunked, gzip") => reject_and_close(400);
        rejects_chunked_then_gzip_over_two_fields: "RFC 9112 §6.3 item 4, RFC 9110 §5.3"
            post("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", "5\r\nhello\r\n0\r\n\r\n")
            => reject_and_close(400);
        rejects_gzip_alone: "RFC 9112 §6.3 item 4"
            te("gzip") => reject_and_close(400);
        rejects_identity: "RFC 9112 §6.3 item 4 (identity is not a transfer coding)"
            te("identity") => reject_and_close(400);
        rejects_chunked_then_identity: "RFC 9112 §6.3 item 4"
            te("chunked, identity") => reject_and_close(400);
        rejects_an_empty_transfer_encoding: "RFC 9112 §6.3 item 4 (no final coding)"
            te("") => reject_and_close(400);
        rejects_xchunked: "RFC 9112 §6.3 item 4"
            te("xchunked") => reject_and_close(400);
        rejects_a_truncated_chunked: "RFC 9112 §6.3 item 4"
            te("chunk") => reject_and_close(400);
        rejects_quoted_chunked: "RFC 9112 §6.3 item 4 (a token, not a quoted-string)"
            te("\"chunked\"") => reject_and_close(400);
        rejects_chunked_with_a_parameter: "RFC 9112 §7 (chunked takes no parameter; spoonfeed refuses)"
            te("chunked;q=1") => reject_and_close(400);
        rejects_a_unicode_lookalike_of_chunked: "RFC 9112 §6.3 item 4 (KELVIN SIGN is not k)"
            b"POST / HTTP/1.1\r\nHost: front.example\r\nTransfer-Encoding: chun\xe2\x84\xaaed\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            => reject_and_close(400);
        answers_gzip_then_chunked_with_501: "RFC 9112 §6.1 (unknown coding: SHOULD 501)"
            te("gzip, chunked") => reject(501);
        answers_gzip_then_chunked_over_two_fields_with_501: "RFC 9112 §6.1, RFC 9110 §5.3"
            post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
            => reject(501);
        rejects_chunked_on_http10: "RFC 9112 §6.1 (faulty framing: 400 and close)"
            format!("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}")
            => reject_and_close(400);
        rejects_chunked_with_content_length_on_http10: "RFC 9112 §6.1"
            format!("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n{SMUGGLED}")
            => reject_and_close(400);
        rejects_gzip_on_http10: "RFC 9112 §6.1"
            "POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello"
            => reject_and_close(400);
        rejects_space_before_the_colon_of_transfer_encoding: "RFC 9112 §5.1 (MUST 400)"
            post("Transfer-Encoding : chunked\r\n", "5\r\nhello\r\n0\r\n\r\n") => reject(400);
        rejects_a_folded_transfer_encoding: "RFC 9112 §5.2"
            post("Transfer-Encoding:\r\n chunked\r\n", "5\r\nhello\r\n0\r\n\r\n") => reject(400);
        rejects_transfer_encoding_after_a_bare_lf: "RFC 9112 §2.2"
            post("X: y\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n") => reject(400);
        rejects_a_vertical_tab_before_chunked: "RFC 9110 §5.5 (VT is neither OWS nor allowed)"
            te("\x0bchunked") => reject(400);
        rejects_nul_inside_chunked: "RFC 9110 §5.5"
            te("chu\0nked") => reject(400);
        treats_transfer_underscore_encoding_as_an_ordinary_field: "RFC 9110 §5.1 (names are exact tokens)"
            post("Transfer_Encoding: chunked\r\n", "0\r\n\r\n")
            => forward_post("").then(reject(400));
    }
}

/// The chunked coding of a request body (RFC 9112 §7.1, §7.1.1, §7.1.2).
mod chunked_body {
    use super::*;

    cases! {
        forwards_one_chunk: "RFC 9112 §7.1"
            chunked("5\r\nhello\r\n0\r\n\r\n") => forward_post("hello");
        forwards_several_chunks: "RFC 9112 §7.1"
            chunked("2\r\nhe\r\n3\r\nllo\r\n1\r\n!\r\n0\r\n\r\n") => forward_post("hello!");
        forwards_an_empty_chunked_body: "RFC 9112 §7.1"
            chunked("0\r\n\r\n") => forward_post("");
        forwards_an_uppercase_hex_size: "RFC 9112 §7.1 (HEXDIG is case-insensitive)"
            chunked("A\r\n0123456789\r\n0\r\n\r\n") => forward_post("0123456789");
        forwards_a_lowercase_hex_size: "RFC 9112 §7.1"
            chunked("a\r\n0123456789\r\n0\r\n\r\n") => forward_post("0123456789");
        forwards_a_size_with_leading_zeros: "RFC 9112 §7.1 (1*HEXDIG)"
            chunked("0005\r\nhello\r\n000\r\n\r\n") => forward_post("hello");
        forwards_a_size_of_seventeen_digits_that_fits: "RFC 9112 §7.1 (leading zeros do not overflow)"
            chunked("00000000000000005\r\nhello\r\n0\r\n\r\n") => forward_post("hello");
        forwards_a_chunk_extension: "RFC 9112 §7.1.1"
            chunked("5;name=value\r\nhello\r\n0\r\n\r\n") => forward_post("hello");
        forwards_a_quoted_chunk_extension: "RFC 9112 §7.1.1 (quoted-string)"
            chunked("5;n=\"v; x\"\r\nhello\r\n0\r\n\r\n") => forward_post("hello");
        forwards_whitespace_before_an_extension: "RFC 9112 §7.1.1 (BWS before ;)"
            chunked("5 \t;n\r\nhello\r\n0\r\n\r\n") => forward_post("hello");
        forwards_an_extension_on_the_last_chunk: "RFC 9112 §7.1.1"
            chunked("5\r\nhello\r\n0;n=v\r\n\r\n") => forward_post("hello");
        forwards_a_trailer_field: "RFC 9112 §7.1.2"
            chunked("5\r\nhello\r\n0\r\nX-T: v\r\n\r\n") => forward_post("hello");
        forwards_several_trailer_fields: "RFC 9112 §7.1.2"
            chunked("5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n") => forward_post("hello");
        a_content_length_trailer_does_not_frame_anything: "RFC 9110 §6.5.1 (no framing fields in trailers)"
            chunked("5\r\nhello\r\n0\r\nContent-Length: 100\r\n\r\n") => forward_post("hello");
        forwards_a_chunked_body_of_exactly_the_limit: "RFC 9110 §15.5.14 (LimitRequestBody)"
            chunked(&in_chunks(&"b".repeat(BODY_LIMIT))) => forward_post("b".repeat(BODY_LIMIT));
        rejects_a_chunked_body_one_byte_past_the_limit_with_413: "RFC 9110 §15.5.14"
            chunked(&in_chunks(&"b".repeat(BODY_LIMIT + 1))) => reject_and_close(413);
        rejects_a_size_of_u64_max_once_past_the_limit_with_413: "RFC 9112 §7.1, RFC 9110 §15.5.14"
            chunked(&format!("ffffffffffffffff\r\n{}", "b".repeat(2 * BODY_LIMIT)))
            => reject_and_close(413);
        rejects_a_size_past_u64: "RFC 9112 §7.1 (MUST anticipate overflow)"
            chunked("10000000000000000\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_a_size_far_past_u64: "RFC 9112 §7.1"
            chunked(&format!("{}5\r\nhello\r\n0\r\n\r\n", "f".repeat(32))) => reject_and_close(400);
        rejects_a_size_that_wraps_to_a_small_number: "RFC 9112 §7.1, §11.2"
            chunked("100000000000000005\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_an_0x_prefix: "RFC 9112 §7.1 (1*HEXDIG)"
            chunked("0x5\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_a_negative_size: "RFC 9112 §7.1"
            chunked("-5\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_a_plus_sign_in_the_size: "RFC 9112 §7.1"
            chunked("+5\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_leading_whitespace_in_the_size: "RFC 9112 §7.1"
            chunked(" 5\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_trailing_whitespace_without_an_extension: "RFC 9112 §7.1.1 (BWS only before ;)"
            chunked("5 \r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_an_empty_size_line: "RFC 9112 §7.1"
            chunked("\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_a_non_hex_size: "RFC 9112 §7.1"
            chunked("g\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_missing_crlf_after_data: "RFC 9112 §7.1"
            chunked("5\r\nhello0\r\n\r\n") => reject_and_close(400);
        rejects_data_longer_than_its_size: "RFC 9112 §7.1"
            chunked("3\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_data_shorter_than_its_size: "RFC 9112 §7.1"
            chunked("5\r\nhel\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_bare_lf_after_the_size: "RFC 9112 §7.1, §2.2"
            chunked("5\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_bare_lf_after_data: "RFC 9112 §7.1, §2.2"
            chunked("5\r\nhello\n0\r\n\r\n") => reject_and_close(400);
        rejects_bare_lf_after_the_last_chunk: "RFC 9112 §7.1, §2.2"
            chunked("5\r\nhello\r\n0\n\r\n") => reject_and_close(400);
        rejects_bare_lf_ending_the_body: "RFC 9112 §7.1, §2.2"
            chunked("5\r\nhello\r\n0\r\n\n") => reject_and_close(400);
        rejects_bare_lf_after_a_trailer: "RFC 9112 §7.1.2, §2.2"
            chunked("5\r\nhello\r\n0\r\nX: v\n\r\n") => reject_and_close(400);
        rejects_bare_lf_inside_an_extension: "RFC 9112 §7.1.1, §2.2"
            chunked("5;a\nb\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_bare_cr_after_the_size: "RFC 9112 §7.1, §2.2"
            chunked("5\rhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_cr_cr_lf_after_the_size: "RFC 9112 §7.1, §2.2"
            chunked("5\r\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_a_control_character_in_an_extension: "RFC 9112 §7.1.1 (token or quoted-string)"
            chunked("5;a=\x01\r\nhello\r\n0\r\n\r\n") => reject_and_close(400);
        rejects_a_size_line_past_its_limit: "RFC 9112 §7.1.1 (SHOULD limit extensions; 1 KiB)"
            chunked(&format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(2000))) => reject_and_close(400);
        rejects_extensions_past_their_budget_over_many_chunks: "RFC 9112 §7.1.1 (16 KiB per body)"
            chunked(&format!("{}0\r\n\r\n", format!("1;{}\r\nb\r\n", "e".repeat(900)).repeat(20)))
            => reject_and_close(400);
        rejects_a_trailer_section_past_its_limit: "RFC 9112 §7.1.2 (16 KiB)"
            chunked(&format!("5\r\nhello\r\n0\r\nX-T: {}\r\n\r\n", "t".repeat(17 * 1024)))
            => reject_and_close(400);
        rejects_an_obs_folded_trailer: "RFC 9112 §7.1.2, §5.2"
            chunked("5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n") => reject_and_close(400);
        rejects_a_trailer_without_a_colon: "RFC 9112 §7.1.2"
            chunked("5\r\nhello\r\n0\r\nX v\r\n\r\n") => reject_and_close(400);
        rejects_space_before_the_colon_of_a_trailer: "RFC 9112 §7.1.2, §5.1"
            chunked("5\r\nhello\r\n0\r\nX : v\r\n\r\n") => reject_and_close(400);
        rejects_nul_in_a_trailer_value: "RFC 9112 §7.1.2, RFC 9110 §5.5"
            chunked("5\r\nhello\r\n0\r\nX: a\0b\r\n\r\n") => reject_and_close(400);
        forwards_nothing_when_the_client_hangs_up_mid_chunk: "RFC 9112 §8 (incomplete message)"
            chunked("5\r\nhel") => hang_up();
        forwards_nothing_when_the_client_hangs_up_before_the_last_chunk: "RFC 9112 §8"
            chunked("5\r\nhello\r\n") => hang_up();
        forwards_nothing_when_the_client_hangs_up_in_the_trailers: "RFC 9112 §8"
            chunked("5\r\nhello\r\n0\r\nX: v\r\n") => hang_up();
        forwards_nothing_when_the_client_hangs_up_mid_content_length: "RFC 9112 §8"
            cl("10") => hang_up();
        forwards_nothing_when_the_client_hangs_up_mid_head: "RFC 9112 §8"
            "GET / HTTP/1.1\r\nHost: front.example\r\n" => hang_up();
    }
}

/// `Expect` (RFC 9110 §10.1.1).
mod expect {
    use super::*;

    cases! {
        forwards_100_continue_on_http11: "RFC 9110 §10.1.1"
            post("Expect: 100-continue\r\nContent-Length: 5\r\n", "hello") => forward_post("hello");
        forwards_100_continue_in_any_case: "RFC 9110 §10.1.1 (case-insensitive)"
            post("Expect: 100-Continue\r\nContent-Length: 5\r\n", "hello") => forward_post("hello");
        forwards_100_continue_with_a_chunked_body: "RFC 9110 §10.1.1"
            post("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
            => forward_post("hello");
        forwards_100_continue_without_a_body: "RFC 9110 §10.1.1"
            get("Expect: 100-continue\r\n", "") => forward_get();
        ignores_100_continue_on_http10: "RFC 9110 §10.1.1 (MUST ignore on HTTP/1.0)"
            "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
            => forward_post("hello");
        forwards_an_empty_expect: "RFC 9110 §10.1.1, §5.6.1 (an empty list)"
            get("Expect:\r\n", "") => forward_get();
        rejects_an_oversized_body_before_asking_for_it: "RFC 9110 §10.1.1, §15.5.14 (final status instead of 100)"
            post(&format!("Expect: 100-continue\r\nContent-Length: {}\r\n", BODY_LIMIT + 1), "")
            => reject_and_close(413);
        rejects_an_unknown_expectation_with_417: "RFC 9110 §10.1.1"
            post("Expect: x-unknown\r\nContent-Length: 5\r\n", "hello") => reject(417);
        rejects_100_continue_listed_with_another_expectation: "RFC 9110 §10.1.1"
            post("Expect: 100-continue, x-unknown\r\nContent-Length: 5\r\n", "hello") => reject(417);
        rejects_100_continue_with_a_value: "RFC 9110 §10.1.1 (100-continue has no value)"
            post("Expect: 100-continue=1\r\nContent-Length: 5\r\n", "hello") => reject(417);
        rejects_a_second_expect_field_with_another_expectation: "RFC 9110 §10.1.1, §5.3"
            post("Expect: 100-continue\r\nExpect: x-unknown\r\nContent-Length: 5\r\n", "hello")
            => reject(417);
        rejects_an_unknown_expectation_without_a_body: "RFC 9110 §10.1.1"
            get("Expect: x-unknown\r\n", "") => reject(417);
        rejects_an_unknown_expectation_on_http10: "RFC 9110 §10.1.1"
            "GET / HTTP/1.0\r\nExpect: x-unknown\r\n\r\n" => reject(417);
    }
}

/// Several messages on one connection, and the request-smuggling classics (CL.TE, TE.CL,
/// TE.TE, CL.0): each is refused, or forwarded only as the requests spoonfeed itself parsed
/// (RFC 9112 §6.3, §9.3, §9.6, §11.2).
mod smuggling {
    use super::*;

    cases! {
        forwards_two_pipelined_gets: "RFC 9112 §9.3.2"
            format!("{}{NEXT}", get("", "")) => forward_get().then(forward("GET", "/next", ""));
        forwards_a_body_then_the_request_after_it: "RFC 9112 §6.3 item 6, §9.3.2"
            format!("{}{NEXT}", cl("5")) => forward_post("hello").then(forward("GET", "/next", ""));
        forwards_a_chunked_body_then_the_request_after_it: "RFC 9112 §6.3 item 4, §9.3.2"
            format!("{}{NEXT}", te("chunked")) => forward_post("hello").then(forward("GET", "/next", ""));
        post_without_framing_ends_at_its_head: "RFC 9112 §6.3 item 7"
            format!("{}{NEXT}", post("", "")) => forward_post("").then(forward("GET", "/next", ""));
        a_request_inside_a_get_body_stays_body: "RFC 9112 §6.3 item 6 (CL.0 desync)"
            get(&format!("Content-Length: {}\r\n", SMUGGLED.len()), SMUGGLED)
            => forward("GET", "/", SMUGGLED);
        a_request_inside_a_chunk_stays_data: "RFC 9112 §7.1 (TE.CL desync)"
            chunked(&format!("{}0\r\n\r\n", chunk(SMUGGLED))) => forward_post(SMUGGLED);
        excess_body_is_read_as_the_next_request: "RFC 9112 §6.3 item 6"
            cl("3").replace("hello", "abcGARBAGE\r\n\r\n") => forward_post("abc").then(reject(400));
        cl_te_is_refused_before_anything_is_forwarded: "RFC 9112 §6.3 item 3, §11.2 (CL.TE)"
            post(&format!("Content-Length: {}\r\nTransfer-Encoding: chunked\r\n", 5 + SMUGGLED.len()), &format!("0\r\n\r\n{SMUGGLED}"))
            => reject_and_close(400);
        te_cl_is_refused_before_anything_is_forwarded: "RFC 9112 §6.3 item 3, §11.2 (TE.CL)"
            post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", &format!("{}0\r\n\r\n", chunk(SMUGGLED)))
            => reject_and_close(400);
        te_te_xchunked_with_content_length_is_refused: "RFC 9112 §6.3 items 3–4, §11.2 (TE.TE)"
            post(&format!("Transfer-Encoding: xchunked\r\nContent-Length: {}\r\n", SMUGGLED.len()), SMUGGLED)
            => reject_and_close(400);
        te_te_two_fields_with_content_length_is_refused: "RFC 9112 §6.3 items 3–4, §11.2 (TE.TE)"
            post("Transfer-Encoding: chunked\r\nTransfer-encoding: x\r\nContent-Length: 4\r\n", &format!("{}0\r\n\r\n", chunk(SMUGGLED)))
            => reject_and_close(400);
        te_te_tab_with_content_length_is_refused: "RFC 9112 §6.3 item 3, §11.2 (TE.TE)"
            post("Transfer-Encoding:\tchunked\r\nContent-Length: 4\r\n", &format!("{}0\r\n\r\n", chunk(SMUGGLED)))
            => reject_and_close(400);
        te_te_leading_space_with_content_length_is_refused: "RFC 9112 §6.3 item 3, §11.2 (TE.TE)"
            post("Transfer-Encoding:  chunked \r\nContent-Length: 4\r\n", &format!("{}0\r\n\r\n", chunk(SMUGGLED)))
            => reject_and_close(400);
        te_te_space_before_colon_with_content_length_is_refused: "RFC 9112 §5.1, §11.2 (TE.TE)"
            post("Transfer-Encoding : chunked\r\nContent-Length: 4\r\n", &format!("{}0\r\n\r\n", chunk(SMUGGLED)))
            => reject(400);
        te_te_folded_with_content_length_is_refused: "RFC 9112 §5.2, §11.2 (TE.TE)"
            post("Transfer-Encoding:\r\n chunked\r\nContent-Length: 4\r\n", &format!("{}0\r\n\r\n", chunk(SMUGGLED)))
            => reject(400);
        te_te_hidden_behind_whitespace_line_is_refused: "RFC 9112 §2.2, §11.2 (TE.TE)"
            format!("POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: front.example\r\nContent-Length: 4\r\n\r\n{}0\r\n\r\n", chunk(SMUGGLED))
            => reject(400);
        te_te_behind_bare_lf_with_content_length_is_refused: "RFC 9112 §2.2, §11.2 (TE.TE)"
            post("X: y\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n", &format!("{}0\r\n\r\n", chunk(SMUGGLED)))
            => reject(400);
        cl_behind_bare_lf_is_refused: "RFC 9112 §2.2, §11.2"
            post(&format!("X: y\nContent-Length: {}\r\n", SMUGGLED.len()), SMUGGLED) => reject(400);
        cl_cl_with_a_request_in_the_longer_body_is_refused: "RFC 9112 §6.3 item 5, §11.2 (CL.CL)"
            post(&format!("Content-Length: 0\r\nContent-Length: {}\r\n", SMUGGLED.len()), SMUGGLED)
            => reject_and_close(400);
        chunk_size_mismatch_is_refused_not_resynchronised: "RFC 9112 §7.1, §11.2"
            chunked(&format!("5\r\nhel\r\n0\r\n\r\n{SMUGGLED}")) => reject_and_close(400);
        bare_lf_chunk_extension_is_refused_not_resynchronised: "RFC 9112 §7.1.1, §11.2"
            chunked(&format!("2;\nxx\r\n{:x}\r\n0\r\n\r\n{SMUGGLED}\r\n0\r\n\r\n", 7 + SMUGGLED.len()))
            => reject_and_close(400);
        chunked_on_http10_with_a_request_after_it_is_refused: "RFC 9112 §6.1, §11.2"
            format!("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}")
            => reject_and_close(400);
        a_request_after_an_http10_exchange_is_never_read: "RFC 9112 §9.3 (HTTP/1.0 closes by default)"
            format!("GET / HTTP/1.0\r\n\r\n{SMUGGLED}") => forward_get().and_close();
        a_request_after_connection_close_is_never_read: "RFC 9112 §9.6"
            format!("{}{SMUGGLED}", get("Connection: close\r\n", "")) => forward_get().and_close();
        http10_keep_alive_carries_the_next_request: "RFC 9112 §9.3, Appendix C.2.2"
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /next HTTP/1.0\r\n\r\n"
            => forward_get().then(forward("GET", "/next", ""));
        a_403_keeps_the_connection_for_the_next_request: "RFC 9112 §9.3"
            format!("GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n{NEXT}")
            => reject(403).then(forward("GET", "/next", ""));
        a_request_after_a_malformed_one_is_never_read: "RFC 9112 §6.3 item 5, §11.2"
            format!("{}{NEXT}", cl("x")) => reject_and_close(400);
        a_request_after_a_refused_chunked_body_is_never_read: "RFC 9112 §7.1, §11.2"
            format!("{}{NEXT}", chunked("5\r\nhello\r\nzz\r\n\r\n")) => reject_and_close(400);
        a_request_after_a_413_is_never_read: "RFC 9110 §15.5.14, RFC 9112 §11.2"
            format!("{}{NEXT}", cl(&(BODY_LIMIT + 1).to_string())) => reject_and_close(413);
        a_malformed_request_after_a_good_one_is_refused_alone: "RFC 9112 §9.3.2"
            format!("{}GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", get("", ""))
            => forward_get().then(reject(400));
    }
}

#[test]
fn the_table_holds_at_least_150_cases() {
    let total = request_line::COUNT
        + target::COUNT
        + fields::COUNT
        + host::COUNT
        + content_length::COUNT
        + transfer_encoding::COUNT
        + chunked_body::COUNT
        + expect::COUNT
        + smuggling::COUNT;
    assert!(total >= 150, "only {total} cases");
}
