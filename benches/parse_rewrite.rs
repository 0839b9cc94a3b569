//! Question: how long does parsing a typical browser request head and re-encoding it for the
//! backend take?
//!
//! Decision it informs: whether the per-request head work (scan, httparse, validation, field
//! copy, `X-Forwarded-*` and `Via`) matters next to the two or three syscalls each exchange
//! costs anyway (a few microseconds). If it stays well under a microsecond, the per-head
//! allocations (`Vec<Header>`, httparse's scratch headers) are not worth pooling.
//!
//! The fixture is a 600-byte navigation request as a current desktop browser sends it, with
//! client hints and a session cookie; it is parsed whole, as when the head arrives in one read.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spoonfeed::http1::{parse_request, Limits, RequestHead};
use spoonfeed::proxy::forward::{encode_backend_request, BackendRequest, Forwarded, ViaMode};

/// A browser navigation request, 600 bytes including the final CRLF.
const BROWSER_REQUEST: &[u8] = b"GET /articles/2024/11/reverse-proxies?utm_source=news HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"130\", \"Google Chrome\";v=\"130\"\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: none\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Dest: document\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Cookie: session=3f9a1c0e7b2d4a6f8e1c5b9d2\r\n\
\r\n";

fn backend_request(head: &RequestHead) -> BackendRequest<'_> {
    BackendRequest {
        path: head.path.of(BROWSER_REQUEST),
        host: b"app-1.internal:8080",
        body: head.body,
        forwarded: Some(Forwarded {
            client_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 42)),
            host: head.host.map(|h| h.of(BROWSER_REQUEST)),
            server: b"www.example.com",
            proto: b"https",
        }),
        rfc7239: None,
        via: ViaMode::On,
        via_by: b"www.example.com:80",
        http10: false,
        extra: b"",
        keep_alive: true,
        upgrade: None,
    }
}

fn parse_rewrite(c: &mut Criterion) {
    assert_eq!(
        BROWSER_REQUEST.len(),
        600,
        "the fixture is meant to be 600 bytes"
    );
    let limits = Limits::APACHE_DEFAULTS;
    let mut group = c.benchmark_group("browser_request_head");
    group.throughput(Throughput::Bytes(BROWSER_REQUEST.len() as u64));

    group.bench_function("parse", |b| {
        b.iter(|| {
            parse_request(black_box(BROWSER_REQUEST), &limits)
                .unwrap()
                .unwrap()
        })
    });

    let head = parse_request(BROWSER_REQUEST, &limits).unwrap().unwrap();
    let mut out = Vec::with_capacity(1024);
    group.bench_function("encode_backend_request", |b| {
        b.iter(|| {
            out.clear();
            let req = backend_request(&head);
            encode_backend_request(black_box(BROWSER_REQUEST), &head, &req, &mut out);
            black_box(out.len())
        })
    });

    group.bench_function("parse_and_encode", |b| {
        b.iter(|| {
            out.clear();
            let head = parse_request(black_box(BROWSER_REQUEST), &limits)
                .unwrap()
                .unwrap();
            encode_backend_request(BROWSER_REQUEST, &head, &backend_request(&head), &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse_rewrite);
criterion_main!(benches);
