//! The buffering engine against real sockets: backends released while slow clients are still
//! being fed, the pool's cap, request buffering, streaming, spilling to disk, the status
//! endpoint, and the socket buffer directives. Orderings are checked, never timings.
//!
//! Client send buffers are set small (`SendBufferSize 64k`) so that the kernel does not hold
//! what the test wants to see in spoonfeed's blocks; not below 64k, which on loopback (MTU
//! 64 KiB) stalls every segment on a delayed ACK.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use spoonfeed_origin::Checksum;

fn checksum(bytes: &[u8]) -> String {
    let mut c = Checksum::default();
    c.update(bytes);
    format!("{:016x}", c.finish())
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("spoonfeed-buffering-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The status endpoint's JSON, read by a client on 127.0.0.1.
fn status_json(proxy: &Proxy) -> String {
    let r = proxy.get("/status?format=json");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.text()
}

/// The number after `"key":` in a JSON text (the first occurrence).
fn json_number(json: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} missing from {json}"));
    json[at + key.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// Reads a response head and then its Content-Length body, the first `slow` bytes of the
/// body at about `rate` bytes per second.
fn read_slowly(s: std::net::TcpStream, slow: usize, rate: usize) -> (String, Vec<u8>) {
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "head cut short: {head}"
        );
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a length")
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    let step = rate / 8;
    let mut got = 0;
    while got < slow.min(length) {
        let end = (got + step).min(length);
        r.read_exact(&mut body[got..end]).unwrap();
        got = end;
        thread::sleep(Duration::from_millis(125));
    }
    r.read_exact(&mut body[got..]).unwrap();
    (head, body)
}

#[test]
fn slow_clients_release_the_backend_before_they_have_half_the_body() {
    const CLIENTS: usize = 50;
    const BODY: usize = 1 << 20;
    let origin = origin();
    let dir = scratch("slow");
    let log = dir.join("access.log");
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nSendBufferSize 64k\nProxyResponseBufferSize 2m\n\
         CustomLog {} \"%>s %B %{{held_at_release}}x %{{peak_occupancy}}x %{{backend_hold}}x %{{client_drain}}x %{{client_send_queue}}x\"\n",
        origin.addr().port(),
        log.display()
    ));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut s = proxy.connect();
            thread::spawn(move || {
                s.write_all(b"GET /bytes/1M HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    .unwrap();
                read_slowly(s, BODY / 2, 128 * 1024)
            })
        })
        .collect();
    for c in clients {
        let (head, body) = c.join().unwrap();
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_eq!(body.len(), BODY);
        assert!(
            head.contains(&format!("X-Checksum: {}", checksum(&body))),
            "{head}"
        );
    }
    drop(proxy);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), CLIENTS, "{text}");
    for line in lines {
        let f: Vec<u64> = line.split(' ').map(|v| v.parse().unwrap()).collect();
        assert_eq!((f[0], f[1]), (200, BODY as u64), "{line}");
        // More than half the body was still in our blocks when the backend was released: the
        // client cannot have had half of it.
        assert!(f[2] > BODY as u64 / 2, "released too late: {line}");
        assert!(f[3] >= f[2], "{line}");
        assert!(
            f[4] < f[5],
            "backend hold is not below client drain: {line}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn blocks_in_use_never_exceed_the_pool_cap_and_every_response_completes() {
    const CLIENTS: usize = 12;
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nSendBufferSize 64k\nProxyIOBufferSize 16k\n\
         ProxyBufferPoolSize 256k\nStatusLocation /status\n",
        origin.addr().port(),
    ));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let mut s = proxy.connect();
            thread::spawn(move || {
                let path = format!("/bytes/{}?seed={i}", 1_000_000 + i);
                write!(
                    s,
                    "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                read_slowly(s, 400_000, 1 << 20)
            })
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        let (head, body) = c.join().unwrap();
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_eq!(body.len(), 1_000_000 + i);
        assert!(
            head.contains(&format!("X-Checksum: {}", checksum(&body))),
            "{head}"
        );
    }
    let json = status_json(&proxy);
    assert!(json_number(&json, "blocks_peak") <= 16, "{json}");
    assert_eq!(json_number(&json, "pool_cap_bytes"), 256 * 1024, "{json}");
    assert!(
        json_number(&json, "pool_exhausted") > 0,
        "the pool never ran short: {json}"
    );
    assert_eq!(json_number(&json, "aborted"), 0, "{json}");
}

#[test]
fn a_request_that_cannot_start_gets_503_with_retry_after() {
    // One backend connection (max=1) that never answers: every further request waits for it
    // holding its encoded head in a block, until the pool's reserve is half gone.
    let (tx, rx) = mpsc::channel();
    let backend = Scripted::start(move |_, mut s| {
        let _ = read_head(&mut s);
        let _ = tx.send(());
        let _ = s.read_to_end(&mut Vec::new());
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/ max=1\nProxyIOBufferSize 16k\nProxyBufferPoolSize 256k\n\
         StatusLocation /status\n",
        backend.addr.port(),
    ));
    // Connections accepted while the pool is empty (a full pool stops accepting): one for
    // status requests, one for the request that will not get a block.
    let mut spare = BufReader::new(proxy.connect());
    let mut last = proxy.connect();
    let mut status = || {
        spare
            .get_mut()
            .write_all(b"GET /status?format=json HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        read_response(&mut spare, false).unwrap().text()
    };
    // The pool has 16 blocks and keeps 8 back from bodies; new requests stop at 12.
    let mut waiting = Vec::new();
    while json_number(&status(), "blocks_in_use") < 12 {
        assert!(
            waiting.len() < 16,
            "requests waiting for max= hold no blocks"
        );
        let mut s = proxy.connect();
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        if waiting.is_empty() {
            rx.recv().unwrap();
        }
        waiting.push(s);
    }
    // This one waits for a block (the status endpoint still answers meanwhile), then is
    // refused.
    last.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    while json_number(&status(), "pool_exhausted") == 0 {}
    let r = read_response(&mut BufReader::new(last), false).unwrap();
    assert_eq!(r.status, 503, "{}", r.head);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(json_number(&status(), "pool_refused") >= 1);
    assert_eq!(backend.accepted(), 1);
}

#[test]
fn request_buffering_holds_the_body_until_its_last_byte() {
    let (tx, rx) = mpsc::channel();
    let backend = Scripted::start(move |_, mut s| {
        let head = read_head(&mut s).unwrap();
        let mut body = vec![0; 10];
        s.read_exact(&mut body).unwrap();
        tx.send((head, body)).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        finish(s);
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nStatusLocation /status\n",
        backend.addr.port()
    ));
    let mut s = proxy.connect();
    let head = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n";
    s.write_all(head).unwrap();
    s.write_all(b"01234").unwrap();
    // Once the proxy has read these bytes (its counter says so), the backend must still have
    // seen nothing: not even a connection. The status requests' own bytes count too.
    let status_request =
        "GET /status?format=json HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    let mut asked = 0;
    loop {
        asked += 1;
        let json = status_json(&proxy);
        if json_number(&json, "bytes_from_clients")
            >= (asked * status_request.len() + head.len() + 5) as u64
        {
            break;
        }
    }
    assert_eq!(
        backend.accepted(),
        0,
        "the backend was connected before the body was in"
    );
    s.write_all(b"56789").unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    let (_, body) = rx.recv().unwrap();
    assert_eq!(body, b"0123456789");
}

#[test]
fn request_buffering_off_streams_the_body() {
    let (tx, rx) = mpsc::channel();
    let backend = Scripted::start(move |_, mut s| {
        let head = read_head(&mut s).unwrap();
        tx.send(head).unwrap();
        let mut body = vec![0; 10];
        s.read_exact(&mut body).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
            .unwrap();
        s.write_all(&body).unwrap();
        finish(s);
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxyRequestBuffering Off\n",
        backend.addr.port()
    ));
    let mut s = proxy.connect();
    s.write_all(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
        .unwrap();
    // The backend gets the head while the client still owes half the body.
    let head = String::from_utf8(rx.recv().unwrap()).unwrap();
    assert!(head.starts_with("POST /up HTTP/1.1\r\n"), "{head}");
    s.write_all(b"56789").unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.body, b"0123456789");
}

#[test]
fn unbuffered_responses_hold_at_most_a_block_or_two() {
    let origin = origin();
    let dir = scratch("unbuffered");
    let log = dir.join("access.log");
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/ buffering=off\nSendBufferSize 64k\n\
         CustomLog {} \"%{{peak_occupancy}}x %{{held_at_release}}x\"\n",
        origin.addr().port(),
        log.display()
    ));
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/1M HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (_, body) = read_slowly(s, 256 * 1024, 4 << 20);
    assert_eq!(body.len(), 1 << 20);
    drop(proxy);
    let text = std::fs::read_to_string(&log).unwrap();
    let f: Vec<u64> = text.trim().split(' ').map(|v| v.parse().unwrap()).collect();
    assert!(
        f[0] <= 2 * 16384,
        "an unbuffered response held {} bytes",
        f[0]
    );
    assert!(f[1] <= 16384, "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn x_accel_buffering_no_streams_and_is_not_passed_on() {
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Accel-Buffering: no\r\n\
              Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        )
        .unwrap();
        finish(s);
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nStatusLocation /status\n",
        backend.addr.port()
    ));
    let r = proxy.get("/events");
    assert_eq!(r.text(), "hello");
    assert_eq!(r.header("x-accel-buffering"), None);
    assert_eq!(json_number(&status_json(&proxy), "streamed"), 1);
}

#[test]
fn status_endpoint_serves_prometheus_and_json_and_refuses_others() {
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass /app/ http://127.0.0.1:{}/\nStatusLocation /status\n",
        origin.addr().port()
    ));
    assert_eq!(proxy.get("/app/bytes/1000").status, 200);
    let r = proxy.get("/status");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    for needle in [
        "# TYPE spoonfeed_requests_total counter",
        "spoonfeed_proxied_total 1",
        "spoonfeed_backend_hold_seconds_count{vhost=",
        "route=\"/app/\"",
        "spoonfeed_blocks_in_use ",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let json = status_json(&proxy);
    assert_eq!(json_number(&json, "proxied"), 1, "{json}");
    assert!(json.contains("\"route\":\"/app/\""), "{json}");

    let refusing = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nStatusLocation /status\nStatusAllow 192.0.2.0/24\n",
        origin.addr().port()
    ));
    assert_eq!(refusing.get("/status").status, 403);
    // Another method on the path is an ordinary request.
    let r = refusing.send(
        b"POST /status HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 404, "routed to the origin, which has no /status");
}

#[test]
fn a_clamped_receive_buffer_is_warned_about_with_the_sysctl_to_raise() {
    let dir = scratch("clamped");
    let errors = dir.join("error.log");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://{}/\nProxyReceiveBufferSize 1g\nErrorLog {}\n",
        listener.local_addr().unwrap(),
        errors.display()
    ));
    drop(proxy);
    let text = std::fs::read_to_string(&errors).unwrap();
    assert!(
        text.contains("[warn]")
            && text.contains("ProxyReceiveBufferSize 1073741824 was clamped by the kernel")
            && text.contains("sysctl -w net.core.rmem_max=1073741824"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn responses_past_the_memory_budget_spill_to_disk_byte_exact() {
    let origin = origin();
    let dir = scratch("spill");
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxyTempPath {}\nProxyResponseBufferSize 64k\n\
         SendBufferSize 64k\nStatusLocation /status\n",
        origin.addr().port(),
        dir.display()
    ));
    let mut sizes = vec![0, 1, 16383, 16384, 16385, 300_000];
    sizes.push(64 << 20);
    for te in ["length", "chunked", "close"] {
        for &n in &sizes {
            for version in ["1.1", "1.0"] {
                let mut s = proxy.connect();
                write!(
                    s,
                    "GET /bytes/{n}?te={te}&seed={n} HTTP/{version}\r\nHost: t\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let r = read_response(&mut BufReader::new(s), false).unwrap();
                assert_eq!(r.status, 200, "{te} {n} HTTP/{version}");
                assert_eq!(r.body.len(), n, "{te} {n} HTTP/{version}");
                assert_eq!(
                    r.header("x-checksum"),
                    Some(checksum(&r.body).as_str()),
                    "{te} {n} HTTP/{version}"
                );
            }
        }
    }
    let json = status_json(&proxy);
    assert!(json_number(&json, "spilled_responses") > 0, "{json}");
    assert_eq!(json_number(&json, "aborted"), 0, "{json}");
    drop(proxy);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "temporary files are unlinked"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_spilled_response_releases_the_backend_before_the_client_reads() {
    let origin = origin();
    let dir = scratch("spill-release");
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxyTempPath {}\nStatusLocation /status\n\
         SendBufferSize 64k\n",
        origin.addr().port(),
        dir.display()
    ));
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/32M HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    // Not a byte is read until the backend connection is back in the pool: 32 MiB do not fit
    // in 1 MiB of blocks and the kernel's buffers, so the rest must be on disk.
    while json_number(&status_json(&proxy), "backend_idle") == 0 {}
    let json = status_json(&proxy);
    assert!(json_number(&json, "spilled_bytes") > 30 << 20, "{json}");
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.body.len(), 32 << 20);
    assert_eq!(r.header("x-checksum"), Some(checksum(&r.body).as_str()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unusable_temp_path_stops_the_start() {
    let file = scratch("not-a-dir").join("file");
    std::fs::write(&file, b"").unwrap();
    let errors = spoonfeed::config::parse_str(
        &format!("Listen 127.0.0.1:0\nProxyTempPath {}\n", file.display()),
        std::path::Path::new("t.conf"),
    )
    .unwrap_err();
    assert!(errors[0].message.contains("not a directory"), "{errors:?}");
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

#[test]
fn spliced_bodies_are_byte_exact_and_only_length_bodies_are_spliced() {
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxySplice On\nStatusLocation /status\n",
        origin.addr().port(),
    ));
    let mut spliced = 0;
    for te in ["length", "chunked", "close"] {
        for n in [0, 1, 16383, 16384, 16385, 300_000, 64 << 20] {
            for version in ["1.1", "1.0"] {
                let mut s = proxy.connect();
                write!(
                    s,
                    "GET /bytes/{n}?te={te}&seed={n} HTTP/{version}\r\nHost: t\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let r = read_response(&mut BufReader::new(s), false).unwrap();
                let case = format!("{te} {n} HTTP/{version}");
                assert_eq!((r.status, r.body.len()), (200, n), "{case}");
                assert_eq!(
                    r.header("x-checksum"),
                    Some(checksum(&r.body).as_str()),
                    "{case}"
                );
                let now = json_number(&status_json(&proxy), "spliced");
                if te != "length" {
                    assert_eq!(now, spliced, "{case} was spliced");
                }
                spliced = now;
            }
        }
    }
    assert!(spliced >= 10, "{spliced} length bodies spliced");
    let json = status_json(&proxy);
    assert_eq!(json_number(&json, "aborted"), 0, "{json}");
}

#[test]
fn bytes_after_a_spliced_body_keep_the_connection_out_of_the_pool() {
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            .unwrap();
        s.write_all(&[b'a'; 100_000]).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nforged")
            .unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxySplice On\n",
        backend.addr.port()
    ));
    let mut c = BufReader::new(proxy.connect());
    for i in 0..2 {
        c.get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let r = read_response(&mut c, false).unwrap();
        assert_eq!((r.status, r.body.len()), (200, 100_000), "response {i}");
    }
    assert_eq!(
        backend.accepted(),
        2,
        "the connection with stray bytes was reused"
    );
}

#[test]
fn a_response_larger_than_memory_and_file_budgets_together_completes() {
    let origin = origin();
    let dir = scratch("spill-cap");
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxyTempPath {}\nProxyResponseBufferSize 64k\n\
         ProxyMaxTempFileSize 256k\nSendBufferSize 64k\nStatusLocation /status\n",
        origin.addr().port(),
        dir.display()
    ));
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/8M HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (head, body) = read_slowly(s, 2 << 20, 16 << 20);
    assert_eq!(body.len(), 8 << 20);
    assert!(
        head.contains(&format!("X-Checksum: {}", checksum(&body))),
        "{head}"
    );
    let json = status_json(&proxy);
    assert_eq!(json_number(&json, "spilled_responses"), 1, "{json}");
    assert!(
        json_number(&json, "spilled_bytes") > 256 << 10,
        "more than one file's budget went to disk: files are let go and made anew: {json}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The origin's answer to a /sink upload of `body`.
fn sink_answer(body: &[u8]) -> String {
    format!("length={} checksum={}\n", body.len(), checksum(body))
}

#[test]
fn a_request_body_past_the_memory_budget_is_held_on_disk_before_the_backend_is_asked() {
    let origin = origin();
    let dir = scratch("request-spill");
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxyTempPath {}\nProxyRequestBufferSize 64k\n\
         StatusLocation /status\n",
        origin.addr().port(),
        dir.display()
    ));
    let body: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut s = proxy.connect();
    let head = format!(
        "POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let (most, last) = body.split_at(body.len() - 10);
    s.write_all(most).unwrap();
    let status_request =
        "GET /status?format=json HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    let mut asked = 0;
    loop {
        asked += 1;
        let json = status_json(&proxy);
        if json_number(&json, "bytes_from_clients")
            >= (asked * status_request.len() + head.len() + most.len()) as u64
        {
            assert_eq!(json_number(&json, "spilled_requests"), 1, "{json}");
            break;
        }
    }
    assert_eq!(
        origin.stats().connections_accepted,
        0,
        "the backend was asked too early"
    );
    s.write_all(last).unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!((r.status, r.text()), (200, sink_answer(&body)));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn request_bodies_past_every_budget_still_arrive_whole() {
    let origin = origin();
    let dir = scratch("request-spill-cap");
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxyTempPath {}\nProxyRequestBufferSize 64k\n\
         ProxyMaxTempFileSize 256k\n",
        origin.addr().port(),
        dir.display()
    ));
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 247) as u8).collect();
    // Content-Length, then chunked in 100 000-byte chunks.
    let r = proxy.send(
        &[
            format!(
                "POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes(),
            body.clone(),
        ]
        .concat(),
    );
    assert_eq!((r.status, r.text()), (200, sink_answer(&body)));
    let mut chunked =
        b"POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for piece in body.chunks(100_000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = proxy.send(&chunked);
    assert_eq!((r.status, r.text()), (200, sink_answer(&body)));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_idle_keep_alive_connection_holds_no_blocks() {
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nStatusLocation /status\n",
        origin.addr().port()
    ));
    let mut idle = BufReader::new(proxy.connect());
    idle.get_mut()
        .write_all(b"GET /bytes/100000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = read_response(&mut idle, false).unwrap();
    assert_eq!(r.body.len(), 100_000);
    // Gauges are read before the status answer takes its own block.
    let json = status_json(&proxy);
    assert_eq!(json_number(&json, "connections_open"), 2, "{json}");
    assert_eq!(json_number(&json, "blocks_in_use"), 0, "{json}");
    assert!(json_number(&json, "blocks_peak") > 0, "{json}");
}

/// Client connections `a_reactor_that_goes_idle_shows_its_final_gauges` holds open at once:
/// enough that each of two reactors gets some of them.
const BURST: usize = 48;

/// How long the status endpoint may take to show a settled state; the wait ends as soon as it
/// does, and a value that never settles fails the test with what was seen last.
const SETTLE: Duration = Duration::from_secs(5);

/// `connections_open` as the status endpoint gives it, asked on `status`, a keep-alive
/// connection of its own.
fn open_connections(status: &mut BufReader<TcpStream>) -> u64 {
    status
        .get_mut()
        .write_all(b"GET /status?format=json HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = read_response(status, false).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    json_number(&r.text(), "connections_open")
}

#[test]
fn a_reactor_that_goes_idle_shows_its_final_gauges() {
    // Two reactors. Every status request goes over one keep-alive connection, so only the
    // reactor holding it answers them, refreshing its own gauges as it does; the other shows
    // what it last published. Once the burst is over it has nothing to do and waits for events
    // without end: unless it published before that wait, the status endpoint would count its
    // share of the burst as open for good.
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "Workers 2\nProxyPass / http://127.0.0.1:{}/\nStatusLocation /status\n\
         KeepAliveTimeout 60\nMaxKeepAliveRequests 0\n",
        origin.addr().port()
    ));
    let mut status = BufReader::new(proxy.connect());
    let mut burst: Vec<_> = (0..BURST)
        .map(|_| BufReader::new(proxy.connect()))
        .collect();
    // Requests on every connection until both reactors have published them all open (the
    // status connection is the one more).
    let deadline = Instant::now() + SETTLE;
    loop {
        for c in &mut burst {
            c.get_mut()
                .write_all(b"GET /bytes/1000 HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            let r = read_response(c, false).unwrap();
            assert_eq!((r.status, r.body.len()), (200, 1000));
        }
        let open = open_connections(&mut status);
        if open == BURST as u64 + 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the burst shows as {open} open");
        thread::sleep(Duration::from_millis(20));
    }
    drop(burst);
    let deadline = Instant::now() + SETTLE;
    loop {
        let open = open_connections(&mut status);
        if open == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections still shown open {SETTLE:?} after the burst closed; only the status one is"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn lingering_close_discards_what_the_client_still_sends_and_counts_it() {
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nLimitRequestBody 10\nStatusLocation /status\n",
        origin.addr().port()
    ));
    let mut s = proxy.connect();
    s.write_all(b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let answer = read_response(&mut r, false).unwrap();
    assert_eq!(answer.status, 413);
    // The client sends its body anyway, then closes: spoonfeed reads and drops it instead
    // of closing at once, which would have reset the connection (and maybe the answer).
    let mut s = r.into_inner();
    s.write_all(&[b'x'; 5000]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_until_close(&mut s).is_empty());
    while json_number(&status_json(&proxy), "linger_resets_avoided") == 0 {}
    let json = status_json(&proxy);
    assert_eq!(json_number(&json, "linger_bytes_discarded"), 5000, "{json}");
    assert!(json_number(&json, "lingered") >= 1, "{json}");
    assert_eq!(origin.stats().requests, 0);
}

#[test]
fn held_uploads_never_deadlock_a_short_pool() {
    // 6 uploads of 400 KB each cannot all be held in a pool whose bodies get 128 KiB: holding
    // gives way (the backends are asked and the bodies stream) instead of every upload
    // waiting for blocks that only a finished upload would return.
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxyIOBufferSize 16k\nProxyBufferPoolSize 256k\n",
        origin.addr().port()
    ));
    let uploads: Vec<_> = (0..6u32)
        .map(|i| {
            let mut s = proxy.connect();
            std::thread::spawn(move || {
                let body: Vec<u8> = (0..400_000u32).map(|j| ((i + j) % 253) as u8).collect();
                write!(
                    s,
                    "POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .unwrap();
                s.write_all(&body).unwrap();
                let r = read_response(&mut BufReader::new(s), false).unwrap();
                (r.status, r.text(), sink_answer(&body))
            })
        })
        .collect();
    for u in uploads {
        let (status, got, want) = u.join().unwrap();
        assert_eq!((status, got), (200, want));
    }
}

#[test]
fn an_early_answer_to_an_upload_leaves_no_blocks_behind() {
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        s.write_all(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 300000\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        s.write_all(&[b'n'; 300_000]).unwrap();
        // Reads the rest of the upload until spoonfeed closes, as a server that answers
        // early must (closing with unread bytes would reset the answer away).
        finish(s);
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxyRequestBuffering Off\nSendBufferSize 64k\n\
         StatusLocation /status\n",
        backend.addr.port()
    ));
    let mut s = proxy.connect();
    let head = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 600000\r\n\r\n";
    s.write_all(head).unwrap();
    s.write_all(&[b'u'; 10_000]).unwrap();
    // The answer is in and the backend let go (closed: Connection: close) ...
    while json_number(&status_json(&proxy), "backend_open") > 0 {}
    // ... while the client, not reading it, goes on uploading: none of this may be read
    // into blocks that nothing will send or free.
    s.write_all(&[b'u'; 300_000]).unwrap();
    // A few loop turns for a (wrong) read to happen; with nothing read there is no signal to
    // wait for, so this stops after 50 status round trips.
    let status_request =
        "GET /status?format=json HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    for asked in 1..=50 {
        let json = status_json(&proxy);
        let read = json_number(&json, "bytes_from_clients") - (asked * status_request.len()) as u64;
        if read >= (head.len() + 310_000) as u64 {
            break;
        }
    }
    let (head, body) = read_slowly(s.try_clone().unwrap(), 0, 1 << 20);
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
    assert_eq!(body.len(), 300_000);
    let _ = s.write_all(&[b'u'; 290_000]);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = read_until_close(&mut s);
    loop {
        let json = status_json(&proxy);
        if json_number(&json, "connections_open") == 1 {
            assert_eq!(json_number(&json, "blocks_in_use"), 0, "{json}");
            break;
        }
    }
}
