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
//! - what the backends were sent is a sequence of well-formed requests (parsed strictly,
//!   bodies by their framing; one cut short at the end is allowed: a request abandoned
//!   mid-way), each for a path (runs of `/` merged: the route swallows them, as mod_proxy
//!   does) the client asked for in a request head that a strict parse of
//!   the client's bytes accepts, and no more of them than twice those (an idempotent request
//!   is retried once): nothing the client sent inside a body, or after a request the proxy
//!   had to refuse, reaches a backend as a request of its own. Past a request asking for an
//!   `Upgrade` (or a CONNECT), a stream may carry tunnelled bytes and is not checked further.

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
                h.backend_send(backend, &bytes);
            }
            4 => {
                let answer = [RESPONSE, CHUNKED, CACHEABLE, NOT_MODIFIED][usize::from(arg) % 4];
                h.backend_send(backend, answer);
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
    // Finale: the backends' bytes are read to the end, then everyone leaves and time passes.
    drain(&mut h, &mut backend_got);
    h.client_close();
    drain(&mut h, &mut backend_got);
    for i in 0..h.backends() {
        h.backend_shutdown(i, Shutdown::Both);
    }
    h.advance(Duration::from_secs(3600));
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.client_connections(), 0, "a client connection is left");
    assert_eq!(h.backend_connections(), 0, "a backend connection is left");
    assert_eq!(h.blocks_in_use(), 0, "blocks are left in use");
    let temps = std::fs::read_dir(root.0.join("tmp")).map_or(0, Iterator::count);
    assert_eq!(temps, 0, "a cache entry was left half written");
    let asked = accepted_paths(&client_sent);
    let mut forwarded = 0;
    for (i, stream) in backend_got.iter().enumerate() {
        for path in forwarded_paths(stream, i) {
            assert!(
                asked.contains(&path),
                "backend {i} was sent a request for {:?}, which the client never asked for \
                 (it asked for {:?})",
                String::from_utf8_lossy(&path),
                asked
                    .iter()
                    .map(|p| String::from_utf8_lossy(p))
                    .collect::<Vec<_>>()
            );
            forwarded += 1;
        }
    }
    assert!(
        forwarded <= 2 * asked.len(),
        "{forwarded} requests forwarded for {} asked",
        asked.len()
    );
}

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

/// The paths of the requests a strict parse of `bytes` accepts, in order, up to the first it
/// refuses (or cannot finish). Bytes after a request asking to switch protocols are parsed on
/// as requests (the switch may be refused): an upper bound of what may be forwarded.
fn accepted_paths(bytes: &[u8]) -> Vec<Vec<u8>> {
    requests(bytes, false).unwrap_or_else(|(paths, _)| paths)
}

/// The paths of the requests backend `i` was sent; panics on one that is not well formed.
fn forwarded_paths(bytes: &[u8], i: usize) -> Vec<Vec<u8>> {
    match requests(bytes, true) {
        Ok(paths) => paths,
        Err((paths, Some(why))) => panic!(
            "backend {i} was sent bytes that are not a request ({why}) after {} requests: {:?}",
            paths.len(),
            String::from_utf8_lossy(bytes)
        ),
        // Cut short at the end: a request given up mid-way.
        Err((paths, None)) => paths,
    }
}

/// `path` with each run of `/` made one: the route (`ProxyPass / …/`) swallows a run after
/// its prefix's final `/`, as mod_proxy's `alias_match` does, so `//ws` is asked as `/ws`.
fn merge_slashes(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        if !(b == b'/' && out.last() == Some(&b'/')) {
            out.push(b);
        }
    }
    out
}

/// Parses `bytes` as a sequence of requests. `Ok`: all of them, ending cleanly (or, with
/// `stop_at_switch`, at a protocol switch); `Err((paths, None))`: the last one is cut short;
/// `Err((paths, Some(why)))`: refused.
#[allow(clippy::type_complexity)]
fn requests(
    mut bytes: &[u8],
    stop_at_switch: bool,
) -> Result<Vec<Vec<u8>>, (Vec<Vec<u8>>, Option<String>)> {
    let mut paths = Vec::new();
    while !bytes.is_empty() {
        let head = match parse_request(bytes, &Limits::APACHE_DEFAULTS) {
            Ok(Some(head)) => head,
            Ok(None) => return Err((paths, None)),
            Err(e) => return Err((paths, Some(format!("{e:?}")))),
        };
        paths.push(merge_slashes(head.path.of(bytes)));
        let switching =
            stop_at_switch && (head.connection.upgrade || head.method == Method::Connect);
        bytes = &bytes[head.head_len..];
        match head.body {
            RequestBody::None => {}
            RequestBody::Length(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if bytes.len() < n {
                    return Err((paths, None));
                }
                bytes = &bytes[n..];
            }
            RequestBody::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    match decoder.decode(bytes) {
                        Ok(d) if d.done => {
                            bytes = &bytes[d.consumed..];
                            break;
                        }
                        Ok(d) if d.consumed == 0 => return Err((paths, None)),
                        Ok(d) => bytes = &bytes[d.consumed..],
                        Err(e) => return Err((paths, Some(format!("chunked: {e:?}")))),
                    }
                }
            }
        }
        if switching {
            break;
        }
    }
    Ok(paths)
}
