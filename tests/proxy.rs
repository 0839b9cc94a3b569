//! End-to-end behaviour of the proxy: a real spoonfeed on port 0 in front of the bundled origin
//! or scripted raw-socket backends, driven with raw request bytes.

mod common;

use std::io::{BufReader, Read, Write};
use std::time::Duration;

use common::*;
use spoonfeed_origin::Checksum;

fn proxy_to(origin: &Origin, extra: &str) -> Proxy {
    let port = origin.addr().port();
    Proxy::start(&format!("ProxyPass / http://127.0.0.1:{port}/\n{extra}"))
}

#[test]
fn classic_proxypass_example_works_verbatim() {
    // The chapter's two lines, with the mod_perl server's port: an application mounted at /perl/.
    let origin = Origin::start(OriginConfig {
        mount: "/perl".into(),
        ..OriginConfig::default()
    })
    .unwrap();
    let port = origin.addr().port();
    let proxy = Proxy::start(&format!(
        "ProxyPass        /perl/ http://localhost:{port}/perl/\nProxyPassReverse /perl/ http://localhost:{port}/perl/\n"
    ));
    let r = proxy.get("/perl/bytes/1000");
    assert_eq!((r.status, r.body.len()), (200, 1000));
    let r = proxy.send(b"GET /perl/redirect?to=/perl/dir/ HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("http://www.example.com/perl/dir/")
    );
    assert_eq!(proxy.get("/other/bytes/1").status, 404);
}

#[test]
fn location_from_backend_is_rewritten_to_the_host_and_port_the_client_used() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = Proxy::start(&format!("ProxyPass /perl/ http://localhost:{port}/\nProxyPassReverse /perl/ http://localhost:{port}/\n"));
    let r = proxy.send(
        b"GET /perl/redirect?to=/docs/ HTTP/1.1\r\nHost: alias:8080\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("http://alias:8080/perl/docs/"));
    let r = proxy.send(b"GET /perl/redirect?to=/docs/ HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n");
    assert_eq!(
        r.header("location"),
        Some("http://www.example.com/perl/docs/")
    );
}

#[test]
fn location_of_another_server_is_left_alone() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = Proxy::start(&format!("ProxyPass /perl/ http://localhost:{port}/\nProxyPassReverse /perl/ http://localhost:{port}/\n"));
    let r = proxy.get("/perl/redirect?abs=http://elsewhere.example/x");
    assert_eq!(r.header("location"), Some("http://elsewhere.example/x"));
}

#[test]
fn thousand_keep_alive_requests_share_one_client_and_one_backend_connection() {
    let origin = origin();
    let proxy = proxy_to(&origin, "MaxKeepAliveRequests 0\n");
    let s = proxy.connect();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut backend_conns = std::collections::HashSet::new();
    for i in 0..1000 {
        write!(w, "GET /bytes/{} HTTP/1.1\r\nHost: t\r\n\r\n", i % 97).unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200, "request {i}");
        assert_eq!(resp.body.len(), i % 97);
        backend_conns.insert(resp.header("x-origin-conn").unwrap().to_string());
    }
    assert_eq!(
        backend_conns.len(),
        1,
        "the backend connection is pooled and reused"
    );
    assert_eq!(origin.stats().connections_accepted, 1);
}

#[test]
fn max_keep_alive_requests_closes_after_the_last_allowed() {
    let origin = origin();
    let proxy = proxy_to(&origin, "MaxKeepAliveRequests 3\n");
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/2 HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/3 HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/4 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    for n in 1..=3 {
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.body.len(), n);
        assert_eq!(
            resp.header("connection") == Some("close"),
            n == 3,
            "response {n}: {}",
            resp.head
        );
    }
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the fourth request is not answered");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let mut s = proxy.connect();
    let mut batch = Vec::new();
    for n in [300, 5, 70_000, 0, 12] {
        batch.extend_from_slice(
            format!(
                "GET /bytes/{n}?delay_ms={} HTTP/1.1\r\nHost: t\r\n\r\n",
                if n == 300 { 50 } else { 0 }
            )
            .as_bytes(),
        );
    }
    batch.extend_from_slice(b"GET /bytes/7 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s.write_all(&batch).unwrap();
    let mut r = BufReader::new(s);
    for n in [300, 5, 70_000, 0, 12, 7] {
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!((resp.status, resp.body.len()), (200, n));
    }
}

#[test]
fn http10_client_without_keep_alive_gets_a_close() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/10 HTTP/1.0\r\n\r\n").unwrap();
    let all = read_until_close(&mut s);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
}

#[test]
fn http10_client_with_keep_alive_stays_open() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let s = proxy.connect();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    for _ in 0..3 {
        w.write_all(b"GET /bytes/10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.header("connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("keep-alive")
        );
    }
}

#[test]
fn chunked_response_reaches_http11_client_chunked_and_http10_client_whole() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let r = proxy.get("/bytes/100000?te=chunked&chunk=1000");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.chunked_complete, Some(true));
    assert_eq!(r.body.len(), 100_000);
    assert_eq!(
        format!("{:016x}", checksum(&r.body)),
        r.header("x-checksum").unwrap()
    );

    let r = proxy.send(b"GET /bytes/100000?te=chunked&chunk=777 HTTP/1.0\r\n\r\n");
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.body.len(), 100_000);
    assert_eq!(
        format!("{:016x}", checksum(&r.body)),
        r.header("x-checksum").unwrap()
    );
}

fn checksum(bytes: &[u8]) -> u64 {
    let mut c = Checksum::default();
    c.update(bytes);
    c.finish()
}

#[test]
fn close_delimited_response_is_passed_until_close() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let r = proxy.get("/bytes/50000?te=close");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 50_000);
    assert_eq!(r.header("connection"), Some("close"));
}

#[test]
fn head_response_keeps_content_length_and_has_no_body() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let s = proxy.connect();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(
        b"HEAD /bytes/5000 HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/3 HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    let head = read_response(&mut r, true).unwrap();
    assert_eq!(head.header("content-length"), Some("5000"));
    let next = read_response(&mut r, false).unwrap();
    assert_eq!(
        next.body.len(),
        3,
        "no body bytes of the HEAD response leaked into the next one"
    );
}

#[test]
fn no_content_and_not_modified_have_no_body_and_keep_the_connection() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let s = proxy.connect();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(b"GET /status/204 HTTP/1.1\r\nHost: t\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/2 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 204);
    assert_eq!(read_response(&mut r, false).unwrap().status, 304);
    assert_eq!(read_response(&mut r, false).unwrap().body.len(), 2);
}

#[test]
fn expect_100_continue_gets_continue_before_the_body_is_sent() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let s = proxy.connect();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(
        b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut r, &mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    let mut blank = String::new();
    std::io::BufRead::read_line(&mut r, &mut blank).unwrap();
    w.write_all(b"hello").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.text().starts_with("length=5 "), "{}", resp.text());
}

#[test]
fn hop_by_hop_and_connection_named_headers_do_not_reach_the_backend() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let r = proxy.send(b"GET /inspect HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n");
    let seen = r.text().to_ascii_lowercase();
    for gone in [
        "x-private",
        "keep-alive: timeout",
        "te: trailers",
        "upgrade:",
        "proxy-connection",
    ] {
        assert!(!seen.contains(gone), "{gone} reached the backend:\n{seen}");
    }
    assert!(seen.contains("x-kept: yes"), "{seen}");
}

#[test]
fn forwarded_headers_are_added_and_host_is_the_backends() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = proxy_to(&origin, "ServerName front.example\n");
    let r = proxy.send(b"GET /inspect HTTP/1.1\r\nHost: www.example.com:8080\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n");
    let seen = r.text();
    assert!(
        seen.contains("X-Forwarded-For: 10.1.2.3, 127.0.0.1\r\n"),
        "{seen}"
    );
    assert!(
        seen.contains("X-Forwarded-Host: www.example.com:8080\r\n"),
        "{seen}"
    );
    assert!(
        seen.contains("X-Forwarded-Server: front.example\r\n"),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
        "{seen}"
    );
}

#[test]
fn preserve_host_and_add_headers_off_are_honoured() {
    let origin = origin();
    let proxy = proxy_to(&origin, "ProxyPreserveHost On\nProxyAddHeaders Off\n");
    let r = proxy
        .send(b"GET /inspect HTTP/1.1\r\nHost: www.example.com:8080\r\nConnection: close\r\n\r\n");
    let seen = r.text();
    assert!(seen.contains("Host: www.example.com:8080\r\n"), "{seen}");
    assert!(!seen.contains("X-Forwarded"), "{seen}");
}

#[test]
fn via_is_added_both_ways_with_proxy_via_on() {
    let origin = origin();
    let proxy = proxy_to(&origin, "ProxyVia On\nServerName front\n");
    let r = proxy.get("/inspect");
    assert!(r.text().contains("Via: 1.1 front:"), "{}", r.text());
    assert!(
        r.header("via").is_some_and(|v| v.starts_with("1.1 front:")),
        "{}",
        r.head
    );
}

#[test]
fn query_string_and_percent_encoding_pass_byte_for_byte() {
    let backend = Scripted::start(|_, mut s| {
        let Ok(head) = read_head(&mut s) else { return };
        let line = head.split(|&b| b == b'\r').next().unwrap().to_vec();
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            line.len()
        );
        let _ = s.write_all(&line);
        finish(s);
    });
    let proxy = Proxy::start(&format!("ProxyPass /app/ http://{}/base/\n", backend.addr));
    let r = proxy.get("/app/x/%2e%2Ex/%7e%41%20b;p?q=%41%zz&x=/../&&");
    assert_eq!(
        r.text(),
        "GET /base/x/%2e%2Ex/%7e%41%20b;p?q=%41%zz&x=/../&& HTTP/1.1"
    );
}

#[test]
fn exclusions_and_unrouted_paths_get_404_and_reach_no_backend() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = Proxy::start(&format!(
        "ProxyPass /app/private !\nProxyPass /app/ http://127.0.0.1:{port}/\n"
    ));
    assert_eq!(proxy.get("/app/private/x").status, 404);
    assert_eq!(proxy.get("/other").status, 404);
    assert_eq!(origin.stats().requests, 0);
    assert_eq!(proxy.get("/app/bytes/1").status, 200);
}

#[test]
fn exclusions_cannot_be_bypassed_by_dot_segments_or_encodings() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = Proxy::start(&format!(
        "ProxyPass /app/admin !\nProxyPass /app/ http://127.0.0.1:{port}/\n"
    ));
    assert_eq!(proxy.get("/app/x/../admin/inspect").status, 400);
    assert_eq!(proxy.get("/app/x/%2e%2E/admin/inspect").status, 400);
    assert_eq!(proxy.get("/app/%61dmin/inspect").status, 404);
    assert_eq!(proxy.get("/app//admin/inspect").status, 404);
    assert_eq!(origin.stats().requests, 0);
    let r = proxy.get("/app/%62ytes/3");
    assert_ne!(r.status, 400);
    assert_eq!(
        origin.stats().requests,
        1,
        "an encoded spelling of an allowed path is forwarded"
    );
}

#[test]
fn proxy_pass_match_substitutes_groups() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = Proxy::start(&format!(
        "ProxyPassMatch ^/img/(\\d+)\\.bin$ http://127.0.0.1:{port}/bytes/$1\n"
    ));
    let r = proxy.get("/img/321.bin");
    assert_eq!((r.status, r.body.len()), (200, 321));
    assert_eq!(proxy.get("/img/x.bin").status, 404);
}

#[test]
fn absolute_form_for_a_foreign_host_is_refused_and_never_forwarded() {
    let origin = origin();
    let proxy = proxy_to(&origin, "ServerName front.example\n");
    let r = proxy.send(b"GET http://evil.example/bytes/1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 403);
    let r = proxy.send(b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n");
    assert!((400..500).contains(&r.status), "{}", r.status);
    assert_eq!(origin.stats().requests, 0);
    let r = proxy.send(b"GET http://front.example/bytes/4 HTTP/1.1\r\nHost: front.example\r\nConnection: close\r\n\r\n");
    assert_eq!(
        (r.status, r.body.len()),
        (200, 4),
        "absolute form naming us is ours"
    );
}

#[test]
fn refused_backend_is_502_then_503_while_marked_down() {
    let refusing = RefusingPort::new();
    let port = refusing.port;
    let proxy = Proxy::start(&format!("ProxyPass / http://127.0.0.1:{port}/ retry=60\n"));
    assert_eq!(proxy.get("/x").status, 502);
    let r = proxy.get("/x");
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
}

#[test]
fn refused_backend_with_retry_zero_stays_502() {
    let refusing = RefusingPort::new();
    let port = refusing.port;
    let proxy = Proxy::start(&format!("ProxyPass / http://127.0.0.1:{port}/ retry=0\n"));
    assert_eq!(proxy.get("/x").status, 502);
    assert_eq!(proxy.get("/x").status, 502);
}

#[test]
fn silent_backend_is_504_after_its_timeout() {
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        std::thread::sleep(Duration::from_secs(5));
    });
    let proxy = Proxy::start(&format!("ProxyPass / http://{}/ timeout=1\n", backend.addr));
    assert_eq!(proxy.get("/slow").status, 504);
}

#[test]
fn invalid_response_head_is_502() {
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
        );
        finish(s);
    });
    let proxy = Proxy::start(&format!("ProxyPass / http://{}/\n", backend.addr));
    assert_eq!(proxy.get("/").status, 502);
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        let _ = s.write_all(b"garbage\r\n\r\n");
        finish(s);
    });
    let proxy = Proxy::start(&format!("ProxyPass / http://{}/\n", backend.addr));
    assert_eq!(proxy.get("/").status, 502);
}

#[test]
fn backend_dying_mid_body_never_looks_complete_to_the_client() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let mut s = proxy.connect();
    s.write_all(b"GET /close-after-head HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let err = read_response(&mut r, false).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "the length is never reached: {err}"
    );

    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        let _ = s.flush();
        std::thread::sleep(Duration::from_millis(50));
        drop(s);
    });
    let proxy = Proxy::start(&format!("ProxyPass / http://{}/\n", backend.addr));
    let r = proxy.get("/");
    assert_eq!(
        r.chunked_complete,
        Some(false),
        "the chunked body is not terminated"
    );
}

#[test]
fn pooled_connection_closed_by_backend_is_replaced_for_idempotent_requests() {
    // Connection 0 answers one request keep-alive, then closes on the next without answering
    // (the race of a pooled connection closed just as it is reused); later connections answer.
    let backend = Scripted::start(|n, mut s| loop {
        if read_head(&mut s).is_err() {
            return;
        }
        if n == 0
            && s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .is_ok()
        {
            if read_head(&mut s).is_ok() {
                return; // drop: closed without answering
            }
            return;
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
    });
    let proxy = Proxy::start(&format!("ProxyPass / http://{}/\n", backend.addr));
    assert_eq!(proxy.get("/a").text(), "ok");
    let r = proxy.get("/b");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "fresh"),
        "GET replayed once on a new connection"
    );
}

#[test]
fn pooled_connection_failure_is_502_for_non_idempotent_requests_sent_once() {
    let posts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = posts.clone();
    let backend = Scripted::start(move |n, mut s| loop {
        let Ok(head) = read_head(&mut s) else { return };
        if head.starts_with(b"POST") {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if n == 0 && head.starts_with(b"POST") {
            return; // closes without answering
        }
        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    });
    let proxy = Proxy::start(&format!("ProxyPass / http://{}/\n", backend.addr));
    assert_eq!(proxy.get("/warm").status, 200);
    let r = proxy
        .send(b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 502);
    assert_eq!(
        posts.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a POST is never sent twice"
    );
}

#[test]
fn large_bodies_pass_byte_exact_in_both_directions() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let r = proxy.get(&format!("/bytes/{SIZE}?seed=7"));
    assert_eq!(r.body.len() as u64, SIZE);
    assert_eq!(
        format!("{:016x}", checksum(&r.body)),
        r.header("x-checksum").unwrap()
    );

    let mut s = proxy.connect();
    let body: Vec<u8> = (0..SIZE)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let writer = {
        let mut w = s.try_clone().unwrap();
        let body = body.clone();
        std::thread::spawn(move || {
            write!(w, "PUT /sink HTTP/1.1\r\nHost: t\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n").unwrap();
            w.write_all(&body).unwrap();
        })
    };
    let resp = read_response(&mut BufReader::new(&mut s), false).unwrap();
    writer.join().unwrap();
    assert_eq!(
        resp.text().trim(),
        format!("length={SIZE} checksum={:016x}", checksum(&body))
    );
}

#[test]
fn chunked_upload_is_echoed_back_intact() {
    let origin = origin();
    let proxy = proxy_to(&origin, "");
    let mut s = proxy.connect();
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let piece: Vec<u8> = (0..(i * 37 % 5000 + 1)).map(|j| (i + j) as u8).collect();
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(&piece);
        req.extend_from_slice(b"\r\n");
        sent.extend_from_slice(&piece);
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(&req).unwrap())
    };
    let resp = read_response(&mut BufReader::new(&mut s), false).unwrap();
    writer.join().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, sent);
}

#[test]
fn request_errors_get_their_status_and_a_close() {
    let origin = origin();
    let proxy = proxy_to(
        &origin,
        "LimitRequestLine 100\nLimitRequestFieldSize 200\nLimitRequestBody 10\n",
    );
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(200));
    assert_eq!(proxy.send(long_line.as_bytes()).status, 414);
    let big_field = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(300)
    );
    assert_eq!(proxy.send(big_field.as_bytes()).status, 431);
    assert_eq!(
        proxy.send(b"GET / HTTP/1.1\r\n\r\n").status,
        400,
        "HTTP/1.1 without Host"
    );
    assert_eq!(
        proxy
            .send(b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world")
            .status,
        413
    );
    assert_eq!(proxy.send(b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").status, 400);
    assert_eq!(proxy.send(b"\x01\x02garbage\r\n\r\n").status, 400);
    assert_eq!(
        origin.stats().requests,
        0,
        "nothing bad reached the backend"
    );
}

#[test]
fn error_answer_with_unread_body_arrives_intact_thanks_to_lingering_close() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = Proxy::start(&format!("ProxyPass /app/ http://127.0.0.1:{port}/\n"));
    let mut s = proxy.connect();
    s.write_all(b"POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 4000000\r\n\r\n")
        .unwrap();
    s.write_all(&vec![b'x'; 200_000]).unwrap();
    let resp = read_response(&mut BufReader::new(&mut s), false);
    let _ = resp.as_ref().map(|r| assert_eq!(r.status, 404));
    assert!(
        resp.is_ok(),
        "the answer was not destroyed by a reset: {resp:?}"
    );
}

#[test]
fn max_connections_per_backend_queues_requests_instead_of_failing() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = Proxy::start(&format!("ProxyPass / http://127.0.0.1:{port}/ max=1\n"));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let addr = proxy.addr;
            std::thread::spawn(move || {
                let mut s = connect(addr);
                s.write_all(
                    b"GET /bytes/100?delay_ms=30 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
                read_response(&mut BufReader::new(s), false).unwrap().status
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(
        origin.stats().connections_accepted,
        1,
        "max=1: one backend connection, reused in turn"
    );
}

#[test]
fn disablereuse_opens_a_connection_per_exchange() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{port}/ disablereuse=On\n"
    ));
    for _ in 0..3 {
        assert_eq!(proxy.get("/bytes/1").status, 200);
    }
    assert_eq!(origin.stats().connections_accepted, 3);
}

#[test]
fn access_log_gets_a_line_per_exchange() {
    let origin = origin();
    let dir =
        std::env::temp_dir().join(format!("spoonfeed-test-{}-{}", std::process::id(), line!()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let proxy = proxy_to(&origin, &format!("CustomLog {} common\n", log.display()));
    assert_eq!(proxy.get("/bytes/12").status, 200);
    assert_eq!(proxy.get("/nothing-here-but-404-from-origin").status, 404);
    drop(proxy);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("\"GET /bytes/12 HTTP/1.1\" 200 12"),
        "{text}"
    );
    assert!(lines[1].contains("\" 404 "), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `%X` says whether the connection goes on after the exchange: `+` for a keep-alive one,
/// `-` for the last on its connection (`Connection: close`, or a refused request whose body
/// was not read); `%k` counts the exchanges before it on the connection.
#[test]
fn access_log_says_whether_the_connection_went_on() {
    let origin = origin();
    let dir =
        std::env::temp_dir().join(format!("spoonfeed-test-{}-{}", std::process::id(), line!()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let proxy = proxy_to(
        &origin,
        &format!("CustomLog {} \"%X %k %>s %r\"\n", log.display()),
    );
    let mut s = proxy.connect();
    s.write_all(
        b"GET /bytes/3 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /bytes/4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    read_until_close(&mut s);
    let mut s = proxy.connect();
    s.write_all(b"POST /x/../y HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let answer = String::from_utf8(read_until_close(&mut s)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "a connection that closes says so: {answer}"
    );
    drop(proxy);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "+ 0 200 GET /bytes/3 HTTP/1.1",
            "- 1 200 GET /bytes/4 HTTP/1.1",
            "- 0 400 POST /x/../y HTTP/1.1",
        ],
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn virtual_hosts_route_by_host_name() {
    let a = origin();
    let b = origin();
    let proxy = Proxy::start(&format!(
        "<VirtualHost *>\nServerName a.example\nProxyPass / http://127.0.0.1:{}/\n</VirtualHost>\n<VirtualHost *>\nServerName b.example\nServerAlias *.b.example\nProxyPass / http://127.0.0.1:{}/\n</VirtualHost>\n",
        a.addr().port(),
        b.addr().port()
    ));
    let r =
        proxy.send(b"GET /bytes/1 HTTP/1.1\r\nHost: www.b.example\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!((a.stats().requests, b.stats().requests), (0, 1));
    let r = proxy.send(b"GET /bytes/1 HTTP/1.1\r\nHost: a.example:80\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!((a.stats().requests, b.stats().requests), (1, 1));
}

#[test]
fn reload_switches_routes_for_new_requests() {
    let a = origin();
    let b = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\n",
        a.addr().port()
    ));
    assert_eq!(proxy.get("/bytes/1").status, 200);
    let text = format!(
        "Listen 127.0.0.1:0\nWorkers 1\nProxyPass / http://127.0.0.1:{}/\n",
        b.addr().port()
    );
    let cfg = spoonfeed::config::parse_str(&text, std::path::Path::new("reload.conf"))
        .unwrap()
        .config;
    proxy.server.as_ref().unwrap().reload(&cfg);
    let mut served_by_b = false;
    for _ in 0..200 {
        assert_eq!(proxy.get("/bytes/1").status, 200);
        if b.stats().requests > 0 {
            served_by_b = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(served_by_b, "the new route is used after the reload");
}

#[test]
fn idle_keep_alive_connection_is_closed_after_keep_alive_timeout() {
    let origin = origin();
    let proxy = proxy_to(&origin, "KeepAliveTimeout 200ms\n");
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/3 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let rest = read_until_close(&mut s);
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(
        read_response(&mut BufReader::new(&rest[..]), false)
            .unwrap()
            .body
            .len(),
        3
    );
}

#[test]
fn head_that_never_completes_gets_408_and_a_close() {
    let origin = origin();
    let proxy = proxy_to(&origin, "Timeout 300ms\n");
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/3 HTTP/1.1\r\nHo").unwrap();
    let rest = read_until_close(&mut s);
    let r = read_response(&mut BufReader::new(&rest[..]), false).unwrap();
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(origin.stats().requests, 0);
}

#[test]
fn interim_responses_reach_http11_clients_and_continue_is_not_repeated() {
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        finish(s);
    });
    let proxy = Proxy::start(&format!("ProxyPass / http://{}/\n", backend.addr));
    let mut s = proxy.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let all = String::from_utf8(read_until_close(&mut s)).unwrap();
    assert!(
        all.starts_with(
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"
        ),
        "{all}"
    );
    assert!(!all.contains("100 Continue"), "{all}");
    assert!(all.ends_with("\r\n\r\nok"), "{all}");

    let mut s = proxy.connect();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let all = String::from_utf8(read_until_close(&mut s)).unwrap();
    assert!(
        all.starts_with("HTTP/1.1 200 OK\r\n"),
        "an HTTP/1.0 client gets no interim response: {all}"
    );
}

#[test]
fn content_location_and_uri_are_rewritten_like_location() {
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 201 Created\r\nLocation: http://app.internal:8000/items/7\r\nContent-Location: http://app.internal:8000/items/7?v=1\r\nURI: http://app.internal:8000/items/\r\nContent-Length: 0\r\n\r\n");
        finish(s);
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass /shop/ http://{}/\nProxyPassReverse /shop/ http://app.internal:8000/\n",
        backend.addr
    ));
    let r = proxy.send(b"POST /shop/items HTTP/1.1\r\nHost: Shop.Example:8443\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location"),
        Some("http://Shop.Example:8443/shop/items/7")
    );
    assert_eq!(
        r.header("content-location"),
        Some("http://Shop.Example:8443/shop/items/7?v=1")
    );
    assert_eq!(
        r.header("uri"),
        Some("http://Shop.Example:8443/shop/items/")
    );
}

#[test]
fn http09_simple_requests_get_the_body_alone_only_when_allowed() {
    let backend = origin();
    let text = |extra: &str| {
        format!(
            "{extra}StatusLocation /status\nProxyPass /status !\nProxyPass / http://127.0.0.1:{}/\n",
            backend.addr().port()
        )
    };
    let proxy = Proxy::start(&text("HttpProtocolOptions Strict Allow0.9\n"));
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/1000\r\n").unwrap();
    let body = read_until_close(&mut s);
    assert_eq!(body.len(), 1000, "{:?}", String::from_utf8_lossy(&body));
    assert!(!body.starts_with(b"HTTP/"));
    // The backend was asked in HTTP/1.0.
    let mut s = proxy.connect();
    s.write_all(b"GET /inspect\r\n").unwrap();
    let seen = String::from_utf8(read_until_close(&mut s)).unwrap();
    assert!(seen.starts_with("GET /inspect HTTP/1.0\r\n"), "{seen}");
    // Our own answers lose their head too.
    let mut s = proxy.connect();
    s.write_all(b"GET /status/../x\r\n").unwrap();
    let ours = String::from_utf8(read_until_close(&mut s)).unwrap();
    assert!(ours.starts_with("<!DOCTYPE html>"), "{ours}");
    let r = proxy.get("/status?format=json");
    assert!(r.text().contains("\"http09_requests\":3"), "{}", r.text());
    // Without Allow0.9 (Apache 2.4's default): 400.
    let strict = Proxy::start(&text(""));
    let mut s = strict.connect();
    s.write_all(b"GET /bytes/1000\r\n\r\n").unwrap();
    let answer = String::from_utf8(read_until_close(&mut s)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
}
