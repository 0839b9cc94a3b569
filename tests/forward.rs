//! Forward proxying (`ProxyRequests On`): absolute-form requests go to the host they name,
//! CONNECT opens tunnels to the ports `AllowCONNECT` lists, and only clients a
//! `<Proxy "*">` section admits may use either.

mod common;

use std::io::{BufReader, Read, Write};

use common::*;

fn forward_proxy(extra: &str) -> Proxy {
    Proxy::start(&format!(
        "ProxyRequests On\nProxyTimeout 5\nStatusLocation /status\nProxyPass /status !\n{extra}"
    ))
}

#[test]
fn absolute_form_requests_go_to_the_host_they_name_with_its_authority_as_host() {
    let origin = origin();
    let port = origin.addr().port();
    let proxy = forward_proxy("<Proxy \"*\">\n  Require ip 127.0.0.0/8\n</Proxy>\n");
    let mut s = proxy.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    // An IP address, then a name (resolved off the reactor), on one keep-alive connection.
    for host in ["127.0.0.1", "localhost"] {
        s.write_all(
            format!(
                "GET http://{host}:{port}/inspect?x=1 HTTP/1.1\r\nHost: ignored.example\r\n\
                 Proxy-Connection: keep-alive\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let r = read_response(&mut reader, false).unwrap();
        assert_eq!(r.status, 200, "{host}: {}", r.head);
        let seen = r.text();
        assert!(
            seen.starts_with("GET /inspect?x=1 HTTP/1.1\r\n"),
            "{host}: {seen}"
        );
        assert!(
            seen.contains(&format!("\r\nHost: {host}:{port}\r\n")),
            "{seen}"
        );
        s.write_all(
            format!("GET http://{host}:{port}/bytes/70000 HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let r = read_response(&mut reader, false).unwrap();
        assert_eq!((r.status, r.body.len()), (200, 70_000));
    }
    // Our own host in absolute form is still routed, not forwarded.
    let r = proxy.send(
        format!(
            "GET http://{}/status?format=json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            proxy.addr
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.text().contains("(forward proxy)"), "{}", r.text());
}

#[test]
fn clients_the_proxy_section_does_not_admit_get_403_and_so_do_refused_targets() {
    let origin = origin();
    let port = origin.addr().port();
    let closed = forward_proxy("<Proxy *>\nRequire ip 10.0.0.0/8\n</Proxy>\n");
    let r = closed.send(
        format!("GET http://127.0.0.1:{port}/bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.head);
    let r = closed.send(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n");
    assert_eq!(r.status, 403, "{}", r.head);
    // Admitted (loopback, the default), but: https:// is for CONNECT, a port not listed,
    // a CONNECT without a port.
    let open = forward_proxy("");
    let r =
        open.send(format!("GET https://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert_eq!(r.status, 501, "{}", r.head);
    let r = open.send(
        format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.head);
    // A name that does not resolve.
    let r = open.send(b"GET http://no-such-host.invalid/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.status == 502 || r.status == 504, "{}", r.head);
    // Nothing reached the origin.
    assert_eq!(origin.stats().requests, 0);
    // ProxyRequests Off: another host is refused whoever asks.
    let off = Proxy::start("ProxyRequests Off\n<Proxy *>\nRequire all granted\n</Proxy>\n");
    let r = off.send(b"GET http://example.com/bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 403, "{}", r.head);
}

#[test]
fn connect_to_an_allowed_port_tunnels_bytes_both_ways() {
    let echo = Scripted::start(|_, mut s| {
        let mut buf = [0; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let port = echo.addr.port();
    let proxy = forward_proxy(&format!("AllowCONNECT 443 {}-{}\n", port, port));
    let mut s = proxy.connect();
    // The first bytes of the tunnel go with the head: they must not be read as a request.
    s.write_all(
        format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\nearly")
            .as_bytes(),
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let head = String::from_utf8(read_head(&mut r).unwrap()).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let mut got = [0; 5];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"early");
    let mut s = r.into_inner();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let writer = {
        let mut s = s.try_clone().unwrap();
        let big = big.clone();
        std::thread::spawn(move || s.write_all(&big).unwrap())
    };
    let mut echoed = vec![0; big.len()];
    s.read_exact(&mut echoed).unwrap();
    writer.join().unwrap();
    assert_eq!(echoed, big);
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_until_close(&mut s).is_empty());
    let status = proxy.get("/status?format=json").text();
    assert!(status.contains("\"tunnels\":1,"), "{status}");
}
