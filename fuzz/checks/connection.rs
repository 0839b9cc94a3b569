//! What the fuzzer checks of one whole connection: the input is a script of events played
//! against a real reactor by `spoonfeed::sim::Harness` (client bytes, backend bytes, reads
//! that make room for writes, half-closes, closes, the clock moving on), with no network.
//!
//! Shared by the `connection` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! The cache is on for `/cached/` (a directory of the run's own), so hits, fills, Vary
//! variants, validations and 304s are in play too.
//!
//! Properties, after the script and a finale that closes every side and lets two hours pass:
//!
//! - nothing panicked;
//! - nothing is left: no client or backend connection open, no block of the pool in use, no
//!   cache entry half written;
//! - every settle came to rest (no loop that keeps the reactor busy for ever);
//! - what each backend was sent is a sequence of well-formed requests (parsed strictly, with
//!   room for the fields the proxy adds; one cut short at the end is allowed: a request
//!   abandoned mid-way), each matching, in the client's order on that connection, a request
//!   a strict parse of the client's bytes accepts: the same method, path (see `path_of`) and
//!   decoded body (a prefix of it for one cut short). Each client request is sent at most
//!   twice if it is idempotent (one retry), once otherwise. So nothing the client sent inside
//!   a body, or after a request the proxy had to refuse, reaches a backend as a request of its
//!   own, and nothing is duplicated or altered. A backend's stream is checked up to a request
//!   asking for a protocol switch only when the script made that backend answer `101`.
//!
//! The reference parse is spoonfeed's own strict parser (`parse_request`, `ChunkedDecoder`):
//! this checks the proxy around the parser, and the `request_head`, `framing` and `chunked`
//! targets check the parser.

use std::net::Shutdown;
use std::time::Duration;

use spoonfeed::http1::{parse_request, ChunkedDecoder, Limits, Method, RequestBody};
use spoonfeed::sim::Harness;

/// The proxy under test: defaults, one route, a short timeout so that time matters, and the
/// cache on under `/cached/` (its `CacheRoot` a directory of the run's own).
const CONFIG: &str =
    "Listen 127.0.0.1:80\nWorkers 1\nLogLevel crit\nTimeout 5\nKeepAliveTimeout 5\n\
    CacheEnable disk /cached/\nProxyPass / http://192.0.2.10:8080/ timeout=5\n";

/// What the client and the backends can be told to send in one step.
const REQUEST: &[u8] = b"GET /a HTTP/1.1\r\nHost: example\r\n\r\n";
const CACHED: &[u8] = b"GET /cached/x HTTP/1.1\r\nHost: example\r\n\r\n";
const POST: &[u8] = b"POST /b HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\n\r\nhello";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
const CACHEABLE: &[u8] =
    b"HTTP/1.1 200 OK\r\nCache-Control: max-age=1, stale-while-revalidate=5\r\n\
    ETag: \"e\"\r\nVary: Accept\r\nContent-Length: 5\r\n\r\nhello";
const NOT_MODIFIED: &[u8] = b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n";

/// Most steps taken from one input.
const MAX_STEPS: usize = 256;

/// Plays `input` and checks the properties above; panics when one does not hold.
pub fn check(input: &[u8]) {
    let root = CacheRoot::new();
    let config = format!("CacheRoot {}\n{CONFIG}", root.0.display());
    let mut h = Harness::start(&config).expect("the configuration is valid");
    let mut client_sent = Vec::new();
    let mut backend_got: Vec<Vec<u8>> = Vec::new();
    // What the script made each backend send (a `101` among it may open a tunnel).
    let mut backend_said: Vec<Vec<u8>> = Vec::new();
    let mut at = 0;
    let mut next = |n: usize| {
        let slice = &input[at.min(input.len())..(at + n).min(input.len())];
        at += n;
        slice
    };
    for _ in 0..MAX_STEPS {
        let Some(&op) = next(1).first() else { break };
        let arg = next(1).first().copied().unwrap_or(0);
        let backend = if h.backends() == 0 {
            0
        } else {
            usize::from(arg) % h.backends()
        };
        match op % 14 {
            0 => {
                let bytes = next(usize::from(arg) + 1).to_vec();
                let sent = h.client_send(&bytes);
                client_sent.extend_from_slice(&bytes[..sent]);
            }
            1 => {
                let sent = h.client_send(REQUEST);
                client_sent.extend_from_slice(&REQUEST[..sent]);
            }
            2 => {
                let sent = h.client_send(POST);
                client_sent.extend_from_slice(&POST[..sent]);
            }
            3 => {
                let len = usize::from(next(1).first().copied().unwrap_or(0)) + 1;
                let bytes = next(len).to_vec();
                let sent = h.backend_send(backend, &bytes);
                record(&mut backend_said, backend, bytes[..sent].to_vec());
            }
            4 => {
                let answer = [RESPONSE, CHUNKED, CACHEABLE, NOT_MODIFIED][usize::from(arg) % 4];
                let sent = h.backend_send(backend, answer);
                record(&mut backend_said, backend, answer[..sent].to_vec());
            }
            5 => {
                h.client_receive((usize::from(arg) + 1) * 256);
            }
            6 => {
                let got = h.backend_receive(backend, (usize::from(arg) + 1) * 256);
                record(&mut backend_got, backend, got);
            }
            7 => h.client_shutdown(),
            8 => h.backend_shutdown(backend, Shutdown::Write),
            9 => h.backend_shutdown(backend, Shutdown::Both),
            10 => h.advance(Duration::from_millis(u64::from(arg) * 50)),
            11 => h.client_close(),
            12 => {
                let sent = h.client_send(CACHED);
                client_sent.extend_from_slice(&CACHED[..sent]);
            }
            _ => h.advance(Duration::from_secs(u64::from(arg))),
        }
    }
    // Finale: the backends' bytes are read to the end, then everyone leaves and time passes,
    // until no new backend connection comes (a retry may make one).
    h.client_close();
    let mut closed = 0;
    loop {
        drain(&mut h, &mut backend_got);
        let made = h.backends();
        for i in closed..made {
            h.backend_shutdown(i, Shutdown::Both);
        }
        closed = made;
        h.advance(Duration::from_secs(3600));
        if h.backends() == made {
            break;
        }
    }
    assert!(h.settled(), "the reactor never stopped turning");
    assert_eq!(h.client_connections(), 0, "a client connection is left");
    assert_eq!(h.backend_connections(), 0, "a backend connection is left");
    assert_eq!(h.blocks_in_use(), 0, "blocks are left in use");
    let temps = std::fs::read_dir(root.0.join("tmp")).map_or(0, Iterator::count);
    assert_eq!(temps, 0, "a cache entry was left half written");
    let (asked, _) = requests(&client_sent, &Limits::APACHE_DEFAULTS, false);
    let mut used = vec![0usize; asked.len()];
    for (i, stream) in backend_got.iter().enumerate() {
        let tunnel = backend_said
            .get(i)
            .is_some_and(|said| said.windows(5).any(|w| w == b" 101 "));
        let (sent, refused) = requests(stream, &BACKEND_LIMITS, tunnel);
        if let Some(why) = refused {
            panic!(
                "backend {i} was sent bytes that are not a request ({why}) after {} requests: {:?}",
                sent.len(),
                String::from_utf8_lossy(stream)
            );
        }
        // In the client's order on each connection; each request at most twice (an
        // idempotent one retried once), others once.
        let mut after = 0;
        for req in &sent {
            let found = (after..asked.len()).find(|&j| {
                let c = &asked[j];
                let allowed = if c.idempotent() { 2 } else { 1 };
                c.method == req.method
                    && c.path == req.path
                    && (c.body == req.body || (!req.complete && c.body.starts_with(&req.body)))
                    && used[j] < allowed
            });
            let Some(j) = found else {
                panic!(
                    "backend {i} was sent {} {:?} ({} body bytes), which the client did not ask                      for in that order (it asked for {:?})",
                    String::from_utf8_lossy(&req.method),
                    String::from_utf8_lossy(&req.path),
                    req.body.len(),
                    asked
                        .iter()
                        .map(|c| String::from_utf8_lossy(&c.path))
                        .collect::<Vec<_>>()
                );
            };
            used[j] += 1;
            after = j + 1;
        }
    }
}

/// Limits for parsing what the backends were sent: the proxy adds fields
/// (`X-Forwarded-*`, `Via`) to requests that were within the client's limits.
const BACKEND_LIMITS: Limits = Limits {
    request_line: 1 << 16,
    field_size: 1 << 16,
    fields: 1000,
    allow_http09: false,
};

/// A `CacheRoot` of the run's own, removed after it.
struct CacheRoot(std::path::PathBuf);

impl CacheRoot {
    fn new() -> CacheRoot {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "spoonfeed-fuzz-cache-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        CacheRoot(dir)
    }
}

impl Drop for CacheRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Adds `got` to what backend `i` was sent.
fn record(streams: &mut Vec<Vec<u8>>, i: usize, got: Vec<u8>) {
    if streams.len() <= i {
        streams.resize(i + 1, Vec::new());
    }
    streams[i].extend_from_slice(&got);
}

/// Reads what every backend has been sent until nothing more comes.
fn drain(h: &mut Harness, streams: &mut Vec<Vec<u8>>) {
    loop {
        let mut any = false;
        for i in 0..h.backends() {
            let got = h.backend_receive(i, 1 << 20);
            any |= !got.is_empty();
            record(streams, i, got);
        }
        if !any {
            break;
        }
    }
}

/// A request as parsed: method, path (see [`path_of`]), decoded body, and whether it was
/// whole.
struct Request {
    method: Vec<u8>,
    path: Vec<u8>,
    body: Vec<u8>,
    complete: bool,
}

impl Request {
    /// Idempotent (RFC 9110 §9.2.2): the proxy may send it twice.
    fn idempotent(&self) -> bool {
        [
            &b"GET"[..],
            b"HEAD",
            b"OPTIONS",
            b"TRACE",
            b"PUT",
            b"DELETE",
        ]
        .contains(&&self.method[..])
    }
}

/// The path a request asks for as a backend is sent it: `/` for an absolute URL without
/// one, and a leading run of `/` made one (the route, `ProxyPass / …/`, swallows the run
/// after its prefix's final `/`, as mod_proxy's `alias_match` does: `//ws` is asked as `/ws`).
fn path_of(path: &[u8]) -> Vec<u8> {
    let rest = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    [&b"/"[..], &path[rest..]].concat()
}

/// Parses `bytes` as a sequence of requests under `limits`, up to the first that is refused
/// (its reason returned) or cut short (the last, not `complete`), and, with
/// `stop_at_switch`, up to one asking to switch protocols (tunnelled bytes may follow).
fn requests(
    mut bytes: &[u8],
    limits: &Limits,
    stop_at_switch: bool,
) -> (Vec<Request>, Option<String>) {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let head = match parse_request(bytes, limits) {
            Ok(Some(head)) => head,
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(format!("{e:?}"))),
        };
        let mut req = Request {
            method: head.method_span.of(bytes).to_vec(),
            path: path_of(head.path.of(bytes)),
            body: Vec::new(),
            complete: false,
        };
        let switching =
            stop_at_switch && (head.connection.upgrade || head.method == Method::Connect);
        bytes = &bytes[head.head_len..];
        match head.body {
            RequestBody::None => {}
            RequestBody::Length(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                let take = n.min(bytes.len());
                req.body = bytes[..take].to_vec();
                bytes = &bytes[take..];
                if take < n {
                    out.push(req);
                    return (out, None);
                }
            }
            RequestBody::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    match decoder.decode(bytes) {
                        Ok(d) => {
                            if let Some(data) = d.data {
                                req.body.extend_from_slice(&bytes[data.start..data.end]);
                            }
                            bytes = &bytes[d.consumed..];
                            if d.done {
                                break;
                            }
                            if d.consumed == 0 {
                                out.push(req);
                                return (out, None);
                            }
                        }
                        Err(e) => {
                            out.push(req);
                            return (out, Some(format!("chunked: {e:?}")));
                        }
                    }
                }
            }
        }
        req.complete = true;
        out.push(req);
        if switching {
            break;
        }
    }
    (out, None)
}
