//! The simulated reactor (`spoonfeed::sim`) that the `connection` fuzz target drives: it must
//! behave as the real one does over sockets, or the fuzzer checks nothing.

use std::net::Shutdown;
use std::time::Duration;

use spoonfeed::sim::Harness;

const CONFIG: &str = "Listen 127.0.0.1:80\nWorkers 1\nTimeout 5\n\
    ProxyPass / http://192.0.2.10:8080/\n";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_request_reaches_the_backend_and_its_answer_the_client() {
    let mut h = Harness::start(CONFIG).unwrap();
    h.client_send(b"GET /a?q=1 HTTP/1.1\r\nHost: example\r\n\r\n");
    assert_eq!(h.backends(), 1);
    let asked = text(&h.backend_receive(0, 4096));
    assert!(asked.starts_with("GET /a?q=1 HTTP/1.1\r\n"), "{asked}");
    assert!(asked.contains("X-Forwarded-For: 192.0.2.1"), "{asked}");
    h.backend_send(0, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    let answer = text(&h.client_receive(4096));
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");
    // The backend was released to the pool; a second request reuses it.
    h.client_send(b"GET /b HTTP/1.1\r\nHost: example\r\n\r\n");
    assert_eq!(h.backends(), 1);
    assert!(text(&h.backend_receive(0, 4096)).starts_with("GET /b "));
    // The client leaves with /b unanswered, and the backend closes as it answers: the GET
    // is retried once on a new connection, which times out.
    h.client_close();
    h.backend_shutdown(0, Shutdown::Both);
    assert_eq!(h.backends(), 2);
    assert!(text(&h.backend_receive(1, 4096)).starts_with("GET /b "));
    h.advance(Duration::from_secs(6));
    assert_eq!((h.client_connections(), h.backend_connections()), (0, 0));
    assert_eq!(h.blocks_in_use(), 0);
}

#[test]
fn a_large_answer_waits_for_a_slow_client_and_the_backend_is_released_first() {
    let mut h = Harness::start(CONFIG).unwrap();
    h.client_send(b"GET /big HTTP/1.1\r\nHost: example\r\n\r\n");
    h.backend_receive(0, 4096);
    let body = vec![b'z'; 60_000];
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut answer = head.into_bytes();
    answer.extend_from_slice(&body);
    let mut sent = 0;
    while sent < answer.len() {
        let n = h.backend_send(0, &answer[sent..]);
        assert!(n > 0, "the proxy stopped reading the backend at {sent}");
        sent += n;
    }
    // All of it is in the proxy's buffers: the backend is idle in the pool already.
    assert!(h.blocks_in_use() > 0);
    let mut got = Vec::new();
    loop {
        let more = h.client_receive(1000);
        if more.is_empty() {
            break;
        }
        got.extend_from_slice(&more);
    }
    assert!(got.ends_with(&body), "{} bytes", got.len());
    assert_eq!(h.blocks_in_use(), 0);
}

#[test]
fn smuggling_is_refused_and_nothing_reaches_the_backend() {
    let mut h = Harness::start(CONFIG).unwrap();
    h.client_send(
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n\
          0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let answer = text(&h.client_receive(4096));
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_eq!(h.backends(), 0);
    // Closed after a lingering while (the client never closes its side).
    h.advance(Duration::from_secs(10));
    assert_eq!(h.client_connections(), 0);
}

#[test]
fn the_clock_is_the_callers() {
    let mut h = Harness::start(CONFIG).unwrap();
    h.client_send(b"GET /slow HTTP/1.1\r\nHost: x\r\n");
    h.advance(Duration::from_secs(1));
    assert!(h.client_receive(4096).is_empty());
    // Past RequestReadTimeout's header budget (20 s at most): 408.
    h.advance(Duration::from_secs(60));
    let answer = text(&h.client_receive(4096));
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    // A backend that never answers: 504 after Timeout.
    let mut h = Harness::start(CONFIG).unwrap();
    h.client_send(b"GET /silent HTTP/1.1\r\nHost: x\r\n\r\n");
    h.advance(Duration::from_secs(4));
    assert!(h.client_receive(4096).is_empty());
    h.advance(Duration::from_secs(2));
    let answer = text(&h.client_receive(4096));
    assert!(answer.starts_with("HTTP/1.1 504 "), "{answer}");
}

#[test]
fn the_cache_answers_in_the_simulation() {
    let root = std::env::temp_dir().join(format!("spoonfeed-sim-cache-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let config = format!("CacheRoot {}\nCacheEnable disk /\n{CONFIG}", root.display());
    let mut h = Harness::start(&config).unwrap();
    let get = b"GET /c HTTP/1.1\r\nHost: example\r\n\r\n";
    h.client_send(get);
    assert!(text(&h.backend_receive(0, 4096)).starts_with("GET /c "));
    h.backend_send(
        0,
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=2\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(text(&h.client_receive(4096)).ends_with("hello"));
    h.client_send(get);
    let hit = text(&h.client_receive(4096));
    assert!(hit.contains("Cache-Status: spoonfeed; hit"), "{hit}");
    assert!(hit.ends_with("hello"), "{hit}");
    assert!(h.backend_receive(0, 4096).is_empty());
    // The entry ages with the harness's clock: stale 3 s on, it is fetched again.
    h.advance(Duration::from_secs(3));
    h.client_send(get);
    assert!(text(&h.backend_receive(0, 4096)).starts_with("GET /c "));
    let _ = std::fs::remove_dir_all(&root);
}
