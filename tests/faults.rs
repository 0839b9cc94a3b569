//! Faults end cleanly: a response cut off is never presented as complete, waiting exchanges
//! are not stranded by a reload, absolute-form requests are for the host they name.

mod common;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::sync::mpsc;

use common::*;

#[test]
fn a_response_cut_off_mid_body_resets_a_client_reading_until_close() {
    // Bad chunk framing mid-body, to an HTTP/1.0 client: spoonfeed de-chunks for it, so the
    // client's body ends at the close. A FIN would make the cut-off body look complete.
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n")
            .unwrap();
        finish(s);
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\n",
        backend.addr.port()
    ));
    let mut s = proxy.connect();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let err = s
        .read_to_end(&mut got)
        .expect_err("the cut-off response ended cleanly");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn a_reload_wakes_exchanges_waiting_for_a_backend_connection() {
    let (tx, rx) = mpsc::channel();
    let backend = Scripted::start(move |_, mut s| {
        let _ = read_head(&mut s);
        let _ = tx.send(());
        let _ = s.read_to_end(&mut Vec::new());
    });
    let text = format!(
        "Listen 127.0.0.1:0\nWorkers 1\nProxyTimeout 60\nProxyPass /local !\n\
         ProxyPass / http://127.0.0.1:{}/ max=1\n",
        backend.addr.port()
    );
    let proxy = Proxy::start(&text);
    let mut first = proxy.connect();
    first
        .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    rx.recv().unwrap();
    let mut second = proxy.connect();
    second
        .write_all(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // The second waits for the first's connection (max=1). A third connection's answer (from
    // spoonfeed itself) comes after the second's request was read: one reactor, and the
    // kernel reports the second's bytes first.
    let r = proxy.send(b"GET /local HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 404);
    let cfg = spoonfeed::config::parse_str(&text, std::path::Path::new("reload.conf"))
        .unwrap()
        .config;
    proxy.server.as_ref().unwrap().reload(&cfg);
    // Without the wake-up it would wait out the 60 s timeout (and this read fails first).
    let r = read_response(&mut BufReader::new(second), false).unwrap();
    assert!(r.status >= 500, "{}", r.head);
    assert_eq!(backend.accepted(), 1);
}

#[test]
fn an_absolute_form_request_is_for_the_host_it_names() {
    let a = origin();
    let b = origin();
    let proxy = Proxy::start(&format!(
        "<VirtualHost *>\nServerName a.example\nProxyPass / http://127.0.0.1:{}/\n</VirtualHost>\n\
         <VirtualHost *>\nServerName b.example\nProxyPass / http://127.0.0.1:{}/\n</VirtualHost>\n",
        a.addr().port(),
        b.addr().port()
    ));
    let r = proxy.send(
        b"GET http://b.example/bytes/3 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.body.len()), (200, 3));
    assert_eq!((a.stats().requests, b.stats().requests), (0, 1));
}

#[test]
fn a_slow_request_head_gets_408_within_request_read_timeout() {
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nTimeout 60\nRequestReadTimeout header=1-2,MinRate=500 body=1\n",
        origin.addr().port()
    ));
    // Timeout alone would wait 60 s for the rest of this head (longer than this test's reads
    // wait): the header budget of 1 s answers first.
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/1 HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 408);
    // And a held body that stalls.
    let mut s = proxy.connect();
    s.write_all(b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        .unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 408);
    assert_eq!(origin.stats().requests, 0);
}

#[test]
fn max_connections_keeps_further_clients_in_the_listen_queue_until_one_closes() {
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nMaxConnections 2\nStatusLocation /status\n",
        origin.addr().port()
    ));
    let mut first = BufReader::new(proxy.connect());
    let get = |c: &mut BufReader<std::net::TcpStream>, path: &str| {
        write!(c.get_mut(), "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        read_response(c, false).unwrap()
    };
    assert_eq!(get(&mut first, "/bytes/1").status, 200);
    let mut second = BufReader::new(proxy.connect());
    assert_eq!(get(&mut second, "/bytes/1").status, 200);
    let mut third = proxy.connect();
    third
        .write_all(b"GET /bytes/3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    // The third waits unaccepted while two are open (its connect went to the kernel's queue).
    let status = get(&mut first, "/status?format=json").text();
    assert!(status.contains("\"connections_accepted\":2,"), "{status}");
    drop(second);
    let r = read_response(&mut BufReader::new(third), false).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 3));
}

/// The status endpoint's JSON over a fresh connection.
fn status(proxy: &Proxy) -> String {
    proxy.get("/status?format=json").text()
}

fn number(json: &str, key: &str) -> u64 {
    let at = json.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    json[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_client_leaving_mid_response_or_mid_upload_leaves_nothing_behind() {
    let origin = origin();
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxyRequestBuffering Off\nSendBufferSize 64k\n\
         StatusLocation /status\n",
        origin.addr().port()
    ));
    // Mid-response: 8 MiB asked, a few KiB read, then gone.
    let mut s = proxy.connect();
    s.write_all(b"GET /bytes/8M HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut some = [0; 4096];
    s.read_exact(&mut some).unwrap();
    drop(s);
    // Mid-upload, streamed to the backend: half of the body, then gone.
    let mut s = proxy.connect();
    s.write_all(b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    s.write_all(&[b'u'; 50_000]).unwrap();
    drop(s);
    // Both backend connections are closed, not pooled half-used ...
    assert!(
        origin.wait_for_open_connections(0, IO_TIMEOUT),
        "{:?}",
        origin.stats()
    );
    // ... and nothing is held for the clients that left.
    loop {
        let json = status(&proxy);
        if number(&json, "connections_open") == 1 {
            assert_eq!(number(&json, "blocks_in_use"), 0, "{json}");
            assert_eq!(number(&json, "backend_open"), 0, "{json}");
            break;
        }
    }
    // The backend is still fine for the next client.
    assert_eq!(proxy.get("/bytes/5").body.len(), 5);
}

#[test]
fn an_upgrade_answered_101_becomes_a_tunnel_both_ways() {
    let backend = Scripted::start(|_, mut s| {
        let head = String::from_utf8(read_head(&mut s).unwrap()).unwrap();
        assert!(head.contains("\r\nUpgrade: websocket\r\n"), "{head}");
        assert!(head.contains("\r\nConnection: upgrade\r\n"), "{head}");
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello",
        )
        .unwrap();
        // Echo until the client's half-close reaches us, then close.
        let mut buf = [0; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nStatusLocation /status\n",
        backend.addr.port()
    ));
    let mut s = proxy.connect();
    // The first frame goes with the head: it must not be taken for a second request.
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let head = read_head(&mut r).unwrap();
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("\r\nUpgrade: websocket\r\n"), "{head}");
    let mut got = [0; 10];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"helloearly");
    let mut s = r.into_inner();
    s.write_all(b"ping").unwrap();
    let mut got = [0; 4];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(
        read_until_close(&mut s).is_empty(),
        "the backend's close comes through"
    );
    assert_eq!(number(&status(&proxy), "tunnels"), 1);
}

#[test]
fn an_upgrade_answered_without_101_stays_http() {
    let backend = Scripted::start(|_, mut s| loop {
        if read_head(&mut s).is_err() {
            return;
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")
            .unwrap();
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\n",
        backend.addr.port()
    ));
    let mut s = proxy.connect();
    // A pipelined request after the upgrade request is read only once the answer is known.
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\
          GET /next HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r, false).unwrap().text(), "no");
    assert_eq!(read_response(&mut r, false).unwrap().text(), "no");
}

#[test]
fn an_endless_response_head_is_a_502_and_its_connection_is_dropped() {
    let backend = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
        for _ in 0..20_000 {
            if s.write_all(b"X-Filler: yyyyyyyyyy\r\n").is_err() {
                return;
            }
        }
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\n",
        backend.addr.port()
    ));
    assert_eq!(proxy.get("/").status, 502);
    assert_eq!(proxy.get("/").status, 502);
    assert_eq!(
        backend.accepted(),
        2,
        "the connection with half a head was not reused"
    );
}

#[test]
fn bytes_past_a_content_length_never_reach_the_next_client() {
    // Connection 0 sends 5 bytes more than its Content-Length (a forged second response);
    // every later connection answers honestly.
    let backend = Scripted::start(|n, mut s| loop {
        if read_head(&mut s).is_err() {
            return;
        }
        let answer: &[u8] = if n == 0 {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhonest"
        };
        if s.write_all(answer).is_err() {
            return;
        }
    });
    let proxy = Proxy::start(&format!(
        "ProxyPass / http://127.0.0.1:{}/\nProxySplice Off\n",
        backend.addr.port()
    ));
    assert_eq!(proxy.get("/a").text(), "hello");
    assert_eq!(proxy.get("/b").text(), "honest");
    assert_eq!(backend.accepted(), 2);
}
