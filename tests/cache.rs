//! The cache in front of real backends that count what reaches them: hits served without the
//! backend (byte-exact, with sendfile on plain connections and through the blocks on TLS),
//! what the policy keeps out, conditional requests answered from the cache, Vary, invalidation
//! by unsafe methods, and corrupt entries refetched.

mod common;

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;

/// A directory for `CacheRoot`, removed on drop.
struct Root(PathBuf);

static ROOTS: AtomicUsize = AtomicUsize::new(0);

impl Root {
    fn new() -> Root {
        let dir = std::env::temp_dir().join(format!(
            "spoonfeed-cache-{}-{}",
            std::process::id(),
            ROOTS.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Root(dir)
    }

    /// Entry files (not temporary ones) under the root.
    fn entries(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for a in std::fs::read_dir(&self.0).unwrap().flatten() {
            // The hash levels (two hex digits), not tmp or locks.
            if a.file_name().len() != 2 || !a.path().is_dir() {
                continue;
            }
            for b in std::fs::read_dir(a.path()).unwrap().flatten() {
                out.extend(
                    std::fs::read_dir(b.path())
                        .unwrap()
                        .flatten()
                        .map(|e| e.path()),
                );
            }
        }
        out
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cached_proxy(root: &Root, backend: std::net::SocketAddr, extra: &str) -> Proxy {
    Proxy::start(&format!(
        "CacheRoot {}\nCacheEnable disk /\nCacheDisable /status\nStatusLocation /status\n\
         ProxyPass /status !\n{extra}ProxyPass / http://{backend}/\n",
        root.0.display()
    ))
}

fn status_number(proxy: &Proxy, key: &str) -> u64 {
    let json = proxy.get("/status?format=json").text();
    let at = json.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    json[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Responses not stored, under every reason: the `cache_not_stored` family's members summed,
/// as `sum(spoonfeed_cache_not_stored_total)` gives it in Prometheus.
fn not_stored_total(proxy: &Proxy) -> u64 {
    let text = proxy.get("/status").text();
    let family = "spoonfeed_cache_not_stored_total{reason=\"";
    text.lines()
        .filter(|l| l.starts_with(family))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

fn assert_checksum(r: &Response) {
    let sum = r.header("X-Checksum").expect("the origin's checksum");
    let got = spoonfeed_origin::checksum(&r.body);
    assert_eq!(spoonfeed_origin::to_hex(got), sum);
}

/// A backend answering every request with `head_fields` and `body`, counting requests.
fn counting(head_fields: &'static str, body: &'static str) -> (Scripted, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let backend = Scripted::start(move |_, mut s| {
        while read_head(&mut s).is_ok() {
            seen.fetch_add(1, Ordering::SeqCst);
            let answer = format!(
                "HTTP/1.1 200 OK\r\n{head_fields}Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if s.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    (backend, count)
}

#[test]
fn a_second_get_is_served_from_the_cache_byte_exact_with_age_and_cache_status() {
    let root = Root::new();
    let origin = origin();
    let proxy = cached_proxy(&root, origin.addr(), "");
    let first = proxy.get("/bytes/5000");
    assert_eq!((first.status, first.body.len()), (200, 5000));
    assert_eq!(
        first.header("Cache-Status"),
        Some("spoonfeed; fwd=uri-miss; stored")
    );
    // On one keep-alive connection: a hit, a HEAD hit, and a hit again.
    let mut s = proxy.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    s.write_all(b"GET /bytes/5000 HTTP/1.1\r\nHost: test\r\n\r\nHEAD /bytes/5000 HTTP/1.1\r\nHost: test\r\n\r\nGET /bytes/5000 HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    for head_only in [false, true, false] {
        let r = read_response(&mut reader, head_only).unwrap();
        assert_eq!(r.status, 200, "{}", r.head);
        assert!(
            r.header("Cache-Status")
                .unwrap()
                .starts_with("spoonfeed; hit; ttl="),
            "{}",
            r.head
        );
        assert!(r.header("Age").is_some(), "{}", r.head);
        assert_eq!(r.header("Content-Length"), Some("5000"));
        if !head_only {
            assert_eq!(r.body, first.body);
            assert_checksum(&r);
        }
    }
    assert_eq!(origin.stats().requests, 1);
    assert_eq!(status_number(&proxy, "cache_hits"), 3);
    assert_eq!(status_number(&proxy, "cache_stores"), 1);
    assert_eq!(root.entries().len(), 1);
}

#[test]
fn large_hits_go_out_byte_exact_from_the_file() {
    let root = Root::new();
    let origin = origin();
    let proxy = cached_proxy(&root, origin.addr(), "CacheMaxFileSize 64m\n");
    for size in [0usize, 1, 70_000, 64 << 20] {
        let path = format!("/bytes/{size}");
        let miss = proxy.get(&path);
        let hit = proxy.get(&path);
        assert_eq!((hit.status, hit.body.len()), (200, size), "{}", hit.head);
        assert!(
            hit.header("Cache-Status").unwrap().contains("hit"),
            "{}",
            hit.head
        );
        assert_eq!(hit.body, miss.body);
        assert_checksum(&hit);
    }
    assert_eq!(origin.stats().requests, 4);
    // Past CacheMaxFileSize: fetched every time.
    let small = cached_proxy(&root, origin.addr(), "CacheMaxFileSize 1k\n");
    small.get("/bytes/2000");
    let again = small.get("/bytes/2000");
    assert_eq!(
        again.header("Cache-Status"),
        Some("spoonfeed; fwd=uri-miss")
    );
}

#[test]
fn what_the_policy_keeps_out_reaches_the_backend_every_time() {
    for (fields, why) in [
        ("Cache-Control: no-store\r\n", "no_store"),
        ("Cache-Control: private\r\n", "private"),
        (
            "Set-Cookie: id=1\r\nCache-Control: max-age=60\r\n",
            "set_cookie",
        ),
        ("Vary: *\r\nCache-Control: max-age=60\r\n", "vary_all"),
    ] {
        let root = Root::new();
        let (backend, count) = counting(fields, "hello");
        let proxy = cached_proxy(&root, backend.addr, "");
        for _ in 0..2 {
            let r = proxy.get("/x");
            assert_eq!((r.status, r.text().as_str()), (200, "hello"));
            assert_eq!(
                r.header("Cache-Status"),
                Some("spoonfeed; fwd=uri-miss"),
                "{fields}"
            );
        }
        assert_eq!(count.load(Ordering::SeqCst), 2, "{fields}");
        assert!(root.entries().is_empty(), "{fields}");
        let key = format!("cache_not_stored_{why}");
        assert_eq!(status_number(&proxy, &key), 2, "{fields}");
        assert_eq!(
            not_stored_total(&proxy),
            2,
            "under no other reason: {fields}"
        );
    }
    // A request's own no-store, and a stale (max-age=0) response, are fetched again too.
    let root = Root::new();
    let (backend, count) = counting("Cache-Control: max-age=0\r\n", "stale");
    let proxy = cached_proxy(&root, backend.addr, "");
    proxy.get("/x");
    let again = proxy.get("/x");
    assert_eq!(
        again.header("Cache-Status"),
        Some("spoonfeed; fwd=stale; stored")
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn conditional_requests_vary_and_invalidation() {
    let root = Root::new();
    let (backend, count) = counting(
        "Cache-Control: max-age=600\r\nETag: \"v1\"\r\nVary: Accept-Language\r\n",
        "bonjour",
    );
    let proxy = cached_proxy(&root, backend.addr, "");
    let fr = |extra: &str| {
        proxy.send(
            format!("GET /x HTTP/1.1\r\nHost: t\r\nAccept-Language: fr\r\n{extra}Connection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    assert_eq!(fr("").text(), "bonjour");
    assert_eq!(
        fr("").header("Cache-Status").map(|s| s.contains("hit")),
        Some(true)
    );
    // The client's own validator: a 304 from the cache.
    let r = fr("If-None-Match: \"v1\"\r\n");
    assert_eq!(r.status, 304, "{}", r.head);
    assert_eq!(r.header("ETag"), Some("\"v1\""));
    assert!(r.body.is_empty());
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Another variant: to the backend.
    let de = proxy
        .send(b"GET /x HTTP/1.1\r\nHost: t\r\nAccept-Language: de\r\nConnection: close\r\n\r\n");
    assert_eq!(
        de.header("Cache-Status"),
        Some("spoonfeed; fwd=uri-miss; stored")
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
    // An unsafe method on the URL removes its entry.
    let r = proxy
        .send(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(status_number(&proxy, "cache_invalidations"), 1);
    assert!(fr("")
        .header("Cache-Status")
        .unwrap()
        .contains("fwd=uri-miss"));
    // only-if-cached with nothing cached: 504 without asking the backend.
    let before = count.load(Ordering::SeqCst);
    let r = proxy.send(b"GET /other HTTP/1.1\r\nHost: t\r\nCache-Control: only-if-cached\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 504, "{}", r.head);
    assert_eq!(count.load(Ordering::SeqCst), before);
}

#[test]
fn variants_are_stored_side_by_side_and_invalidated_together() {
    let root = Root::new();
    // Each answer names the language asked for and how many requests came before it.
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let backend = Scripted::start(move |_, mut s| {
        while let Ok(head) = read_head(&mut s) {
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let lang = head
                .lines()
                .find_map(|l| l.strip_prefix("accept-language:"))
                .map_or("", str::trim);
            let body = format!("{lang}#{n}");
            let answer = format!(
                "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nVary: Accept-Language\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if s.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    let proxy = cached_proxy(&root, backend.addr, "");
    let get = |lang: &str| {
        let field = if lang.is_empty() {
            String::new()
        } else {
            format!("Accept-Language: {lang}\r\n")
        };
        let r = proxy.send(
            format!("GET /v HTTP/1.1\r\nHost: t\r\n{field}Connection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.head);
        let hit = r.header("Cache-Status").unwrap().contains("; hit");
        (r.text(), hit)
    };
    assert_eq!(get("fr"), ("fr#1".to_owned(), false));
    assert_eq!(get("de"), ("de#2".to_owned(), false));
    assert_eq!(get(""), ("#3".to_owned(), false));
    // Each variant answers its own requests: one does not replace another.
    assert_eq!(get("fr"), ("fr#1".to_owned(), true));
    assert_eq!(get("de"), ("de#2".to_owned(), true));
    assert_eq!(get(""), ("#3".to_owned(), true));
    assert_eq!(count.load(Ordering::SeqCst), 3);
    // The index and three variants.
    assert_eq!(root.entries().len(), 4);
    // An unsafe method removes them all: a variant stored afterwards does not bring the
    // older ones back.
    let r = proxy
        .send(b"POST /v HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(get("de"), ("de#5".to_owned(), false));
    assert_eq!(get("fr"), ("fr#6".to_owned(), false));
    assert_eq!(get("fr"), ("fr#6".to_owned(), true));
    assert_eq!(get("de"), ("de#5".to_owned(), true));
    // So does a purge.
    let r = proxy.send(b"PURGE /v HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(get("de"), ("de#7".to_owned(), false));
}

#[test]
fn a_corrupt_entry_is_removed_counted_and_fetched_again() {
    let root = Root::new();
    let origin = origin();
    let proxy = cached_proxy(&root, origin.addr(), "");
    proxy.get("/bytes/3000");
    let entries = root.entries();
    assert_eq!(entries.len(), 1);
    // A flipped body byte (the last byte of the file is the body's).
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    *bytes.last_mut().unwrap() ^= 0x55;
    std::fs::write(&entries[0], &bytes).unwrap();
    let r = proxy.get("/bytes/3000");
    assert_checksum(&r);
    assert_eq!(
        r.header("Cache-Status"),
        Some("spoonfeed; fwd=uri-miss; stored")
    );
    assert_eq!(status_number(&proxy, "cache_corrupt"), 1);
    assert_eq!(origin.stats().requests, 2);
    // Cut short: refused on open.
    let entries = root.entries();
    let whole = std::fs::read(&entries[0]).unwrap();
    std::fs::write(&entries[0], &whole[..whole.len() - 10]).unwrap();
    let r = proxy.get("/bytes/3000");
    assert_checksum(&r);
    assert_eq!(status_number(&proxy, "cache_corrupt"), 2);
    assert_eq!(origin.stats().requests, 3);
}

#[test]
fn a_304_answers_from_the_entry_held_open_even_if_it_was_purged_meanwhile() {
    use std::sync::mpsc;
    use std::sync::Mutex;
    let root = Root::new();
    // The validation is answered only once the test says so; the purge comes in between.
    let (asked, asked_rx) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let signals = Mutex::new((asked, go_rx));
    let backend = Scripted::start(move |_, mut s| {
        while let Ok(head) = read_head(&mut s) {
            let answer: &[u8] = if String::from_utf8_lossy(&head).contains("If-None-Match") {
                let signals = signals.lock().unwrap();
                signals.0.send(()).unwrap();
                signals.1.recv().unwrap();
                b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: no-cache\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nCache-Control: no-cache\r\nContent-Length: 5\r\n\r\nhello"
            };
            if s.write_all(answer).is_err() {
                return;
            }
        }
    });
    let proxy = cached_proxy(&root, backend.addr, "");
    assert_eq!(proxy.get("/p").text(), "hello");
    let validating = std::thread::scope(|scope| {
        let client = scope.spawn(|| proxy.get("/p"));
        asked_rx.recv().unwrap();
        let r = proxy.send(b"PURGE /p HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        assert_eq!(r.status, 200, "{}", r.head);
        assert!(root.entries().is_empty());
        go.send(()).unwrap();
        client.join().unwrap()
    });
    assert_eq!(validating.status, 200, "{}", validating.head);
    assert_eq!(validating.text(), "hello");
    assert_eq!(
        validating.header("Cache-Status"),
        Some("spoonfeed; fwd=stale; fwd-status=304")
    );
}

#[test]
fn hits_get_proxy_pass_reverse_as_misses_do() {
    let root = Root::new();
    let (backend, count) = counting(
        "Cache-Control: max-age=60\r\nLocation: http://backend.internal/next\r\n",
        "moved",
    );
    let proxy = cached_proxy(
        &root,
        backend.addr,
        "ProxyPassReverse / http://backend.internal/\n",
    );
    let miss = proxy.get("/x");
    let hit = proxy.get("/x");
    assert!(
        hit.header("Cache-Status").unwrap().contains("hit"),
        "{}",
        hit.head
    );
    assert_eq!(miss.header("Location"), Some("http://test/next"));
    assert_eq!(hit.header("Location"), Some("http://test/next"));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn stale_entries_are_validated_and_a_304_refreshes_them() {
    let root = Root::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let conditional = Arc::new(AtomicUsize::new(0));
    let (a, c) = (Arc::clone(&asked), Arc::clone(&conditional));
    let backend = Scripted::start(move |_, mut s| {
        while let Ok(head) = read_head(&mut s) {
            let n = a.fetch_add(1, Ordering::SeqCst) + 1;
            let head = String::from_utf8(head).unwrap();
            let answer = if head.contains("\r\nIf-None-Match: \"v1\"\r\n") {
                c.fetch_add(1, Ordering::SeqCst);
                // A cookie (for whoever asked) and an Age ride on the 304: neither may go into
                // the shared entry.
                format!("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nX-Seen: {n}\r\nCache-Control: max-age=0\r\nSet-Cookie: SESSION=alice\r\nAge: 5\r\n\r\n")
            } else {
                format!("HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nX-Seen: {n}\r\nCache-Control: max-age=0\r\nContent-Length: 7\r\n\r\npayload")
            };
            if s.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    let proxy = cached_proxy(&root, backend.addr, "");
    let first = proxy.get("/x");
    assert_eq!(first.header("X-Seen"), Some("1"));
    for round in 2..4 {
        let r = proxy.get("/x");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "payload"),
            "{}",
            r.head
        );
        assert_eq!(
            r.header("Cache-Status"),
            Some("spoonfeed; fwd=stale; fwd-status=304"),
            "{}",
            r.head
        );
        // The 304's fields replace the stored ones, but for the cookie and its Age.
        assert_eq!(r.header("X-Seen"), Some(round.to_string().as_str()));
        assert_eq!(r.header("Set-Cookie"), None, "{}", r.head);
        assert_eq!(r.headers_named("Age").len(), 1, "{}", r.head);
        assert_eq!(r.header("Content-Length"), Some("7"));
    }
    assert_eq!(asked.load(Ordering::SeqCst), 3);
    assert_eq!(conditional.load(Ordering::SeqCst), 2);
    assert_eq!(status_number(&proxy, "cache_revalidated"), 2);
    // A client's own conditions go to the backend as they are: its 304 is the client's.
    let r = proxy
        .send(b"GET /x HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 304, "{}", r.head);
}

#[test]
fn purge_removes_an_entry_for_allowed_addresses_and_so_does_the_command() {
    let root = Root::new();
    let origin = origin();
    let proxy = cached_proxy(&root, origin.addr(), "");
    proxy.get("/bytes/100");
    let purge = |proxy: &Proxy| {
        proxy.send(b"PURGE /bytes/100 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    };
    assert_eq!(purge(&proxy).status, 200);
    assert_eq!(purge(&proxy).status, 404);
    assert_eq!(status_number(&proxy, "cache_purges"), 1);
    let r = proxy.get("/bytes/100");
    assert!(r.header("Cache-Status").unwrap().contains("fwd=uri-miss"));
    // Not from addresses CachePurgeAllow does not list.
    let strict = cached_proxy(&root, origin.addr(), "CachePurgeAllow 10.0.0.0/8\n");
    assert_eq!(purge(&strict).status, 403);
    assert!(strict
        .get("/bytes/100")
        .header("Cache-Status")
        .unwrap()
        .contains("hit"));

    // The command line: usage, purge, clean.
    let conf = root.0.join("spoonfeed.conf");
    std::fs::write(
        &conf,
        format!(
            "Listen 127.0.0.1:0\nCacheRoot {}\nCacheEnable disk /\nCacheSize 1\n\
             ProxyPass / http://{}/\n",
            root.0.display(),
            origin.addr()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_spoonfeed"))
            .args(args)
            .arg("-f")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(
        run(&["cache"]).contains(": 1 entries, "),
        "{}",
        run(&["cache"])
    );
    let key_url = "http://TEST/bytes/100";
    assert!(run(&["cache", "purge", key_url]).contains("purged"));
    assert!(run(&["cache", "purge", key_url]).contains("not cached"));
    proxy.get("/bytes/2000");
    proxy.get("/bytes/3000");
    // CacheSize 1 (KB): clean removes every entry larger than that.
    let cleaned = run(&["cache", "clean"]);
    assert!(cleaned.contains("removed 2 entries"), "{cleaned}");
    assert!(root.entries().is_empty());
}

#[test]
fn a_killed_server_leaves_no_entry_that_would_be_served_wrong() {
    let root = Root::new();
    let origin = origin();
    let conf = root.0.join("spoonfeed.conf");
    std::fs::write(
        &conf,
        format!(
            "Listen 127.0.0.1:0\nWorkers 2\nCacheRoot {}\nCacheEnable disk /\n\
             CacheMaxFileSize 1m\nStatusLocation /status\nProxyPass /status !\n\
             ProxyPass / http://{}/\n",
            root.0.display(),
            origin.addr()
        ),
    )
    .unwrap();
    let urls: Vec<String> = (0..200)
        .map(|i| format!("/bytes/{}?seed={i}", 100_000 + i * 1000))
        .collect();
    let running = spawn(&conf);
    let addr = running.addr;
    // Four clients storing entries as fast as they can; the server is killed under them.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let urls = urls.clone();
            std::thread::spawn(move || {
                for url in urls.iter().skip(w).step_by(4) {
                    let mut s = match std::net::TcpStream::connect(addr) {
                        Ok(s) => s,
                        Err(_) => return,
                    };
                    let request =
                        format!("GET {url} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                    if s.write_all(request.as_bytes()).is_err() {
                        return;
                    }
                    if read_response(&mut BufReader::new(s), false).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    // Killed once some entries are in place and more are being written.
    while root.entries().len() < 20 {
        std::thread::yield_now();
    }
    let mut running = running;
    running.child.kill().unwrap();
    running.child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    // Restarted on the same store: whatever it serves from the cache is byte-exact.
    let restarted = spawn(&conf);
    let mut served = 0;
    for url in &urls {
        let mut s = connect(restarted.addr);
        let request = format!(
            "GET {url} HTTP/1.1\r\nHost: t\r\nCache-Control: only-if-cached\r\nConnection: close\r\n\r\n"
        );
        s.write_all(request.as_bytes()).unwrap();
        let r = read_response(&mut BufReader::new(s), false).unwrap();
        match r.status {
            200 => {
                assert_checksum(&r);
                served += 1;
            }
            504 => {}
            other => panic!("{url}: {other}\n{}", r.head),
        }
    }
    assert!(served >= 20, "only {served} entries survived");
}

/// A backend that answers each request after `delay`, with `fields`, counting requests.
fn slow_counting(fields: &'static str, delay: std::time::Duration) -> (Scripted, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let backend = Scripted::start(move |_, mut s| {
        while read_head(&mut s).is_ok() {
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(delay);
            let answer = format!("HTTP/1.1 200 OK\r\n{fields}Content-Length: 7\r\n\r\npayload");
            if s.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    (backend, count)
}

/// `clients` concurrent GETs of `path`; every answer must be 200 "payload".
fn burst(proxy: &Proxy, clients: usize, path: &str) {
    let addr = proxy.addr;
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
            std::thread::spawn(move || {
                let mut s = connect(addr);
                s.write_all(request.as_bytes()).unwrap();
                read_response(&mut BufReader::new(s), false).unwrap()
            })
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "payload"),
            "{}",
            r.head
        );
    }
}

#[test]
fn a_burst_for_a_missing_entry_costs_the_backend_one_request() {
    let root = Root::new();
    let delay = std::time::Duration::from_millis(300);
    let (backend, count) = slow_counting("Cache-Control: max-age=60\r\n", delay);
    let proxy = cached_proxy(&root, backend.addr, "");
    burst(&proxy, 100, "/popular");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(status_number(&proxy, "cache_hits") >= 99);
    // The waiters answered from the cache are hits only, not misses too.
    assert_eq!(status_number(&proxy, "cache_misses"), 1);
    // Waiters get the response fetched on their behalf even when it is stale at once.
    let (backend, count) = slow_counting("Cache-Control: max-age=0\r\n", delay);
    let proxy = cached_proxy(&root, backend.addr, "");
    burst(&proxy, 30, "/instant");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // A response that turns out not to be storable lets every waiter go at once.
    let (backend, count) = slow_counting("Cache-Control: no-store\r\n", delay);
    let proxy = cached_proxy(&root, backend.addr, "");
    burst(&proxy, 20, "/private");
    assert_eq!(count.load(Ordering::SeqCst), 20);
    // CacheLock Off: every request goes.
    let (backend, count) = slow_counting("Cache-Control: max-age=60\r\n", delay);
    let proxy = cached_proxy(&root, backend.addr, "CacheLock Off\n");
    burst(&proxy, 10, "/unlocked");
    assert_eq!(count.load(Ordering::SeqCst), 10);
}

#[test]
fn the_lock_holds_across_reactors() {
    let root = Root::new();
    let delay = std::time::Duration::from_millis(300);
    let (backend, count) = slow_counting("Cache-Control: max-age=60\r\n", delay);
    let proxy = cached_proxy(&root, backend.addr, "Workers 2\n");
    // Each reactor has its own listener: a hundred connections reach both of them.
    burst(&proxy, 100, "/shared");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(status_number(&proxy, "cache_hits") >= 99);
    assert_eq!(status_number(&proxy, "cache_misses"), 1);
    // Nothing is left locked.
    assert_eq!(std::fs::read_dir(root.0.join("locks")).unwrap().count(), 0);
}

#[test]
fn stale_if_error_answers_from_the_entry_when_the_backend_fails() {
    let root = Root::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&asked);
    let backend = Scripted::start(move |_, mut s| {
        while read_head(&mut s).is_ok() {
            let answer = match a.fetch_add(1, Ordering::SeqCst) {
                0 => {
                    "HTTP/1.1 200 OK\r\nCache-Control: max-age=0, stale-if-error=600\r\n\
                      Content-Length: 7\r\n\r\npayload"
                }
                1 => "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy",
                // Then it fails outright: the connection closes with no answer.
                _ => return,
            };
            if s.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    let proxy = cached_proxy(&root, backend.addr, "CacheLock Off\n");
    assert_eq!(proxy.get("/x").text(), "payload");
    for round in 0..2 {
        let r = proxy.get("/x");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "payload"),
            "round {round}: {}",
            r.head
        );
        assert_eq!(
            r.header("Cache-Status"),
            Some("spoonfeed; hit; detail=stale-if-error"),
            "{}",
            r.head
        );
    }
    assert_eq!(status_number(&proxy, "cache_stale_served"), 2);
    // Without stale-if-error the failure is the client's answer.
    let root = Root::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&asked);
    let backend = Scripted::start(move |_, mut s| {
        while read_head(&mut s).is_ok() {
            let answer = match a.fetch_add(1, Ordering::SeqCst) {
                0 => "HTTP/1.1 200 OK\r\nCache-Control: max-age=0\r\nContent-Length: 7\r\n\r\npayload",
                _ => "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy",
            };
            if s.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    let proxy = cached_proxy(&root, backend.addr, "");
    proxy.get("/x");
    assert_eq!(proxy.get("/x").status, 503);
}

#[test]
fn while_one_request_updates_a_stale_entry_the_others_get_it_at_once() {
    let root = Root::new();
    let delay = std::time::Duration::from_millis(300);
    let (backend, count) = slow_counting(
        "Cache-Control: max-age=0, stale-while-revalidate=600\r\n",
        delay,
    );
    let proxy = cached_proxy(&root, backend.addr, "Workers 2\n");
    proxy.get("/x");
    burst(&proxy, 20, "/x");
    // Every request of the burst was answered from the stale entry, and one update (in the
    // background, whichever reactor started it) fetched it again.
    assert_eq!(status_number(&proxy, "cache_stale_served"), 20);
    eventually("the update", || count.load(Ordering::SeqCst) == 2);
    eventually("the lock released", || {
        std::fs::read_dir(root.0.join("locks")).unwrap().count() == 0
    });
    assert_eq!(status_number(&proxy, "cache_background"), 1);
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

/// Waits (a bounded while) until `done` holds: for work the server does in the background.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < until, "{what}: not within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn within_stale_while_revalidate_the_update_runs_in_the_background() {
    use std::sync::mpsc;
    use std::sync::Mutex;
    let root = Root::new();
    // Stale on arrival (Age past max-age) and usable for ten minutes while it is updated.
    // /a is validated (a 304 that makes it fresh); /b comes back changed, chunked. The
    // validations are answered only once the test says so.
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let backend = Scripted::start(move |_, mut s| {
        while let Ok(head) = read_head(&mut s) {
            seen.fetch_add(1, Ordering::SeqCst);
            let head = String::from_utf8_lossy(&head).into_owned();
            let answer: &[u8] = if !head.contains("If-None-Match") {
                b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60, stale-while-revalidate=600\r\n\
                  Age: 100\r\nETag: \"v1\"\r\nContent-Length: 2\r\n\r\nv1"
            } else {
                go_rx.lock().unwrap().recv().unwrap();
                if head.starts_with("GET /a ") {
                    b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=600\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nETag: \"v2\"\r\n\
                      Transfer-Encoding: chunked\r\n\r\n3\r\nv2!\r\n4\r\n new\r\n0\r\n\r\n"
                }
            };
            if s.write_all(answer).is_err() {
                return;
            }
        }
    });
    let proxy = cached_proxy(&root, backend.addr, "");
    for path in ["/a", "/b"] {
        assert_eq!(proxy.get(path).text(), "v1");
    }
    for path in ["/a", "/b"] {
        let before = count.load(Ordering::SeqCst);
        // Answered while the backend has not answered the update yet.
        let r = proxy.get(path);
        assert_eq!(r.text(), "v1");
        assert_eq!(
            r.header("Cache-Status"),
            Some("spoonfeed; hit; detail=stale-while-revalidate")
        );
        // Only one update per entry: a second request gets the stale answer too.
        assert_eq!(proxy.get(path).text(), "v1");
        eventually("the background request", || {
            count.load(Ordering::SeqCst) == before + 1
        });
        go.send(()).unwrap();
        eventually("the update", || {
            std::fs::read_dir(root.0.join("locks")).unwrap().count() == 0
        });
        let before_hit = count.load(Ordering::SeqCst);
        let r = proxy.get(path);
        assert!(
            r.header("Cache-Status")
                .unwrap()
                .starts_with("spoonfeed; hit; ttl="),
            "{}",
            r.head
        );
        assert_eq!(r.text(), if path == "/a" { "v1" } else { "v2! new" });
        assert_eq!(count.load(Ordering::SeqCst), before_hit);
    }
    assert_eq!(status_number(&proxy, "cache_background"), 2);
    // A range asked for within the window does not start an update (its answer would be a
    // part): it goes to the backend itself.
    assert_eq!(proxy.get("/c").text(), "v1");
    let r = proxy
        .send(b"GET /c HTTP/1.1\r\nHost: test\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        r.header("Cache-Status"),
        Some("spoonfeed; fwd=stale; stored")
    );
    assert_eq!(status_number(&proxy, "cache_background"), 2);
}

#[test]
fn the_store_is_held_near_cache_size_under_ten_times_as_much() {
    let root = Root::new();
    let origin = origin();
    // CacheSize 100 KB; 100 different responses of 10 KB go through: ten times as much.
    let proxy = cached_proxy(
        &root,
        origin.addr(),
        "CacheSize 100\nCacheMaxFileSize 20k\n",
    );
    for i in 0..100 {
        let r = proxy.get(&format!("/bytes/10000?seed={i}"));
        assert_eq!(r.body.len(), 10_000);
    }
    let bound = 100 * 1024 + 100 * 1024 / 10;
    let size = |root: &Root| -> u64 {
        root.entries()
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    };
    // The collector runs on its own thread: it is given time to catch up with the last
    // stores, then the store must be within 10% of CacheSize.
    let settled = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        size(&root) <= bound
    });
    assert!(settled, "the store holds {} bytes", size(&root));
    assert!(status_number(&proxy, "cache_stores") == 100);
    // The most recent entries are the ones kept.
    let last = proxy.get("/bytes/10000?seed=99");
    assert!(
        last.header("Cache-Status").unwrap().contains("hit"),
        "{}",
        last.head
    );
}

#[test]
fn a_post_invalidates_what_its_location_names_and_authorization_needs_consent() {
    let root = Root::new();
    // GET /list is cacheable; POST /items answers 201 with Location: /list.
    let backend = Scripted::start(|_, mut s| {
        while let Ok(head) = read_head(&mut s) {
            let head = String::from_utf8(head).unwrap();
            let answer = if head.starts_with("POST ") {
                "HTTP/1.1 201 Created\r\nLocation: http://test/list\r\nContent-Length: 0\r\n\r\n"
            } else if head.contains("\r\nAuthorization:") && head.starts_with("GET /shared") {
                "HTTP/1.1 200 OK\r\nCache-Control: public, max-age=60\r\nContent-Length: 6\r\n\r\nshared"
            } else if head.contains("\r\nAuthorization:") {
                "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 6\r\n\r\nsecret"
            } else {
                "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 4\r\n\r\nlist"
            };
            if s.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    let proxy = cached_proxy(&root, backend.addr, "");
    proxy.get("/list");
    assert!(proxy
        .get("/list")
        .header("Cache-Status")
        .unwrap()
        .contains("hit"));
    let r = proxy.send(
        b"POST /items HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 201);
    assert!(proxy
        .get("/list")
        .header("Cache-Status")
        .unwrap()
        .contains("fwd=uri-miss"));
    // With Authorization: stored only when the response says it may be shared.
    let with_auth = |path: &str| {
        proxy.send(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Basic dTpw\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    with_auth("/secret");
    assert_eq!(
        with_auth("/secret").header("Cache-Status"),
        Some("spoonfeed; fwd=uri-miss")
    );
    with_auth("/shared");
    assert!(with_auth("/shared")
        .header("Cache-Status")
        .unwrap()
        .contains("hit"));
}

#[test]
fn an_age_from_upstream_counts_and_is_not_sent_twice() {
    let root = Root::new();
    // Already 50 s old with 60 s to live: fresh for 10 s more, and answered with an Age of
    // at least 50.
    let (backend, count) = counting("Cache-Control: max-age=60\r\nAge: 50\r\n", "aged");
    let proxy = cached_proxy(&root, backend.addr, "");
    proxy.get("/young");
    let hit = proxy.get("/young");
    assert!(
        hit.header("Cache-Status").unwrap().contains("hit"),
        "{}",
        hit.head
    );
    assert_eq!(hit.head.matches("Age:").count(), 1, "{}", hit.head);
    let age: u64 = hit.header("Age").unwrap().parse().unwrap();
    assert!((50..60).contains(&age), "{}", hit.head);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Older than its lifetime when it arrives: stale at once, so fetched again.
    let (backend, count) = counting("Cache-Control: max-age=60\r\nAge: 100\r\n", "old");
    let proxy = cached_proxy(&root, backend.addr, "");
    proxy.get("/old");
    let again = proxy.get("/old");
    assert!(
        !again.header("Cache-Status").unwrap().contains("hit"),
        "{}",
        again.head
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn the_last_modified_heuristic_uses_the_classic_factor() {
    let root = Root::new();
    // Modified long ago, no expiry: fresh for CacheLastModifiedFactor of its age, at most
    // CacheMaxExpire. With a factor of 0, it is stale at once.
    let (backend, count) = counting("Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n", "old");
    let proxy = cached_proxy(&root, backend.addr, "CacheLastModifiedFactor 0.1\n");
    proxy.get("/doc");
    assert!(proxy
        .get("/doc")
        .header("Cache-Status")
        .unwrap()
        .contains("hit"));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let root = Root::new();
    let (backend, count) = counting("Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n", "old");
    let proxy = cached_proxy(&root, backend.addr, "CacheLastModifiedFactor 0\n");
    proxy.get("/doc");
    assert!(proxy
        .get("/doc")
        .header("Cache-Status")
        .unwrap()
        .contains("fwd=stale"));
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn chunked_and_close_delimited_responses_are_stored_de_chunked() {
    let root = Root::new();
    let origin = origin();
    let proxy = cached_proxy(&root, origin.addr(), "CacheMaxFileSize 100k\n");
    for path in [
        "/bytes/50000?te=chunked&chunk=1000",
        "/bytes/50000?te=close",
    ] {
        let miss = proxy.get(path);
        assert_eq!(miss.body.len(), 50_000, "{path}");
        // Its length unknown when the head went out: "stored" is not promised.
        assert_eq!(
            miss.header("Cache-Status"),
            Some("spoonfeed; fwd=uri-miss"),
            "{path}"
        );
        let hit = proxy.get(path);
        assert!(
            hit.header("Cache-Status").unwrap().contains("hit"),
            "{path}"
        );
        assert_eq!(hit.header("Content-Length"), Some("50000"), "{path}");
        assert_eq!(hit.header("Transfer-Encoding"), None, "{path}");
        assert_eq!(hit.body, miss.body, "{path}");
        assert_checksum(&hit);
    }
    assert_eq!(origin.stats().requests, 2);
    // Growing past CacheMaxFileSize: passed on whole, not stored.
    let big = proxy.get("/bytes/200000?te=chunked&chunk=4096");
    assert_eq!(big.body.len(), 200_000);
    assert_checksum(&big);
    assert!(proxy
        .get("/bytes/200000?te=chunked&chunk=4096")
        .header("Cache-Status")
        .unwrap()
        .contains("fwd=uri-miss"));
    assert_eq!(status_number(&proxy, "cache_not_stored_size"), 2);
}

#[test]
fn the_access_log_says_what_the_cache_did() {
    let root = Root::new();
    let origin = origin();
    let log = root.0.join("access.log");
    let proxy = cached_proxy(
        &root,
        origin.addr(),
        &format!("CustomLog {} \"%{{cache}}x %>s %U\"\n", log.display()),
    );
    proxy.get("/bytes/10");
    proxy.get("/bytes/10");
    proxy.get("/status?format=json");
    let want = "miss 200 /bytes/10\nhit 200 /bytes/10\n- 200 /status\n";
    let written = (0..500).find_map(|_| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 3 {
            return Some(text);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        None
    });
    assert_eq!(written.as_deref(), Some(want));
}

#[test]
fn an_encoded_path_does_not_get_around_cache_disable() {
    let root = Root::new();
    let (backend, count) = counting("Cache-Control: max-age=60\r\n", "private page");
    let proxy = cached_proxy(&root, backend.addr, "CacheDisable /account\n");
    for path in ["/account", "/%61ccount", "/%61ccount"] {
        let r = proxy.get(path);
        assert_eq!(r.header("Cache-Status"), None, "{path}: {}", r.head);
    }
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(root.entries().is_empty());
}
