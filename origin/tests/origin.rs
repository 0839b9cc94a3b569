//! The origin server over real sockets: every endpoint, keep-alive, framing, stats and shutdown.
//!
//! Each test starts its own origin on 127.0.0.1 port 0 and speaks raw HTTP/1.1 to it through a
//! deliberately independent little client that reads whole messages (never trusting one read).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use spoonfeed_origin::{
    body_byte, body_checksum, checksum, fill_body, to_hex, Checksum, Origin, OriginConfig,
    MAX_INSPECT_BODY_BYTES,
};

/// Longest any single read may wait before a test fails instead of hanging.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

fn start() -> Origin {
    Origin::start(OriginConfig::default()).expect("origin starts")
}

/// One parsed response; `chunk_sizes` lists the chunk sizes seen on the wire when chunked.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunk_sizes: Vec<u64>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str) -> u64 {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
            .parse()
            .unwrap()
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(origin: &Origin) -> Client {
        let stream = TcpStream::connect(origin.addr()).unwrap();
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TEST_TIMEOUT)).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream().write_all(bytes.as_ref()).unwrap();
    }

    fn get(&mut self, target: &str) -> Response {
        self.send(format!(
            "GET {target} HTTP/1.1\r\nHost: origin.test\r\n\r\n"
        ));
        self.response()
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with("\r\n"), "line {line:?} not ended by CRLF");
        line.truncate(line.len() - 2);
        line
    }

    fn response(&mut self) -> Response {
        self.response_to("GET")
    }

    /// Reads a response to a `method` request, keeping its body.
    fn response_to(&mut self, method: &str) -> Response {
        let mut body = Vec::new();
        let mut response = self.response_streaming(method, |piece| body.extend_from_slice(piece));
        response.body = body;
        response
    }

    /// Reads a response to a `method` request, handing its body to `on_body` piece by piece.
    fn response_streaming(&mut self, method: &str, mut on_body: impl FnMut(&[u8])) -> Response {
        let status_line = self.line();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"))
            .parse()
            .unwrap();
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            chunk_sizes: Vec::new(),
        };
        let is_bodiless = method == "HEAD" || matches!(status, 204 | 304);
        if is_bodiless {
        } else if response.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = u64::from_str_radix(&self.line(), 16).unwrap();
                if size == 0 {
                    assert_eq!(self.line(), "", "trailers are not expected");
                    break;
                }
                response.chunk_sizes.push(size);
                self.copy_body(size, &mut on_body);
                assert_eq!(self.line(), "");
            }
        } else if let Some(length) = response.header("content-length") {
            self.copy_body(length.parse().unwrap(), &mut on_body);
        } else {
            let mut rest = Vec::new();
            self.reader.read_to_end(&mut rest).unwrap();
            on_body(&rest);
        }
        response
    }

    fn copy_body(&mut self, mut length: u64, on_body: &mut impl FnMut(&[u8])) {
        while length > 0 {
            let available = self.reader.fill_buf().unwrap();
            assert!(
                !available.is_empty(),
                "connection closed with {length} body bytes to go"
            );
            let n = available
                .len()
                .min(usize::try_from(length).unwrap_or(usize::MAX));
            on_body(&available[..n]);
            self.reader.consume(n);
            length -= n as u64;
        }
    }

    /// Everything until the origin closes the connection.
    fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).unwrap();
        rest
    }

    fn assert_closed(&mut self) {
        assert_eq!(self.read_to_end(), b"", "expected the origin to close");
    }
}

fn generated(seed: u64, length: usize) -> Vec<u8> {
    let mut body = vec![0; length];
    fill_body(seed, 0, &mut body);
    body
}

#[test]
fn bytes_serves_generated_content_with_its_checksum_and_length() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let response = client.get("/bytes/1000?seed=7");
    assert_eq!(response.status, 200);
    assert_eq!(response.number("content-length"), 1000);
    assert_eq!(response.body, generated(7, 1000));
    assert_eq!(
        response.header("x-checksum"),
        Some(to_hex(checksum(&response.body)).as_str())
    );
    assert_eq!(
        response.header("x-checksum"),
        Some(to_hex(body_checksum(7, 1000)).as_str())
    );
    assert_eq!(response.number("x-origin-conn"), 1);
    assert_eq!(response.number("x-origin-req"), 1);
    let other_seed = client.get("/bytes/1000?seed=8");
    assert_ne!(other_seed.body, response.body);
}

#[test]
fn bytes_with_size_suffix_and_zero_length() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let kib = client.get("/bytes/2K");
    assert_eq!(kib.body, generated(0, 2048));
    let empty = client.get("/bytes/0");
    assert_eq!((empty.status, empty.body.len()), (200, 0));
    assert_eq!(empty.header("x-checksum"), Some("cbf29ce484222325"));
}

#[test]
fn bytes_chunked_uses_the_requested_chunk_size() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let response = client.get("/bytes/1000?te=chunked&chunk=300&seed=2");
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.chunk_sizes, [300, 300, 300, 100]);
    assert_eq!(response.body, generated(2, 1000));
    let next = client.get("/bytes/1");
    assert_eq!(
        next.number("x-origin-req"),
        2,
        "a chunked answer keeps the connection"
    );
}

#[test]
fn bytes_te_close_sends_no_length_and_closes_after_the_body() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let response = client.get("/bytes/5000?te=close");
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(response.body, generated(0, 5000));
}

#[test]
fn bytes_chunked_for_an_http10_client_is_delimited_by_close() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("GET /bytes/10?te=chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let response = client.response();
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(response.body, generated(0, 10));
}

#[test]
fn bytes_refuses_unknown_or_bad_options_with_400_and_closes() {
    let origin = start();
    for target in [
        "/bytes/10?sed=1",
        "/bytes/10?te=gzip",
        "/bytes/10?chunk=5",
        "/bytes/10?te=chunked&chunk=0",
        "/bytes/10?flush=0",
        "/bytes/10?delay_ms=600000",
        "/bytes/ten",
    ] {
        let mut client = Client::connect(&origin);
        let response = client.get(target);
        assert_eq!(response.status, 400, "{target}: {}", response.text());
        assert_eq!(response.header("connection"), Some("close"));
        client.assert_closed();
    }
    assert_eq!(origin.stats().refused, 7);
}

#[test]
fn head_gets_the_get_head_without_a_body() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let get = client.get("/bytes/5000?seed=4");
    client.send("HEAD /bytes/5000?seed=4 HTTP/1.1\r\nHost: a\r\n\r\n");
    let head = client.response_to("HEAD");
    assert_eq!(head.status, 200);
    assert_eq!(head.number("content-length"), 5000);
    assert_eq!(head.header("x-checksum"), get.header("x-checksum"));
    // Had the origin sent a body, this answer would be read from inside it.
    let after = client.get("/status/200");
    assert_eq!((after.status, after.number("x-origin-req")), (200, 3));
}

#[test]
fn large_body_streams_and_matches_the_generator_and_its_checksum() {
    const LENGTH: u64 = 64 << 20;
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("GET /bytes/64M?seed=3 HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut sum = Checksum::new();
    let mut offset = 0u64;
    let mut expected = Vec::new();
    let response = client.response_streaming("GET", |piece| {
        expected.resize(piece.len(), 0);
        fill_body(3, offset, &mut expected);
        assert!(
            piece == expected.as_slice(),
            "body differs from the generator near offset {offset}"
        );
        sum.update(piece);
        offset += piece.len() as u64;
    });
    assert_eq!(offset, LENGTH);
    assert_eq!(response.number("content-length"), LENGTH);
    // The body is the generator's output, so this is the checksum of the generator's output.
    assert_eq!(
        response.header("x-checksum"),
        Some(to_hex(sum.finish()).as_str())
    );
    assert_eq!(body_byte(3, LENGTH - 1), expected[expected.len() - 1]);
}

#[test]
fn keep_alive_reuses_the_connection_and_numbers_requests() {
    let origin = start();
    let mut first = Client::connect(&origin);
    for request in 1..=3 {
        let response = first.get("/bytes/10");
        assert_eq!(response.number("x-origin-conn"), 1);
        assert_eq!(response.number("x-origin-req"), request);
        assert_eq!(response.header("connection"), None);
    }
    let mut second = Client::connect(&origin);
    let response = second.get("/bytes/10");
    assert_eq!(response.number("x-origin-conn"), 2);
    assert_eq!(response.number("x-origin-req"), 1);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send(
        "GET /bytes/3 HTTP/1.1\r\nHost: a\r\n\r\n\
         POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\
         GET /status/202 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(client.response().body, generated(0, 3));
    let sink = client.response();
    assert_eq!(
        sink.text(),
        format!("length=2 checksum={}\n", to_hex(checksum(b"hi")))
    );
    let last = client.response();
    assert_eq!((last.status, last.number("x-origin-req")), (202, 3));
}

#[test]
fn connection_close_is_answered_in_kind_and_honoured() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("GET /bytes/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let response = client.response();
    assert_eq!(response.header("connection"), Some("close"));
    client.assert_closed();
}

#[test]
fn http10_keeps_alive_only_when_asked() {
    let origin = start();
    let mut kept = Client::connect(&origin);
    kept.send("GET /bytes/3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let response = kept.response();
    assert_eq!(response.header("connection"), Some("keep-alive"));
    kept.send("GET /bytes/3 HTTP/1.0\r\n\r\n");
    let second = kept.response();
    assert_eq!(second.number("x-origin-req"), 2);
    assert_eq!(second.header("connection"), Some("close"));
    kept.assert_closed();
}

#[test]
fn sink_reads_a_content_length_body() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let body = generated(5, 100_000);
    client.send(format!(
        "PUT /sink HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    client.send(&body);
    let response = client.response();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.text(),
        format!("length=100000 checksum={}\n", to_hex(checksum(&body)))
    );
}

#[test]
fn sink_decodes_a_chunked_body_with_extensions_and_trailers() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send(
        "POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    let response = client.response();
    assert_eq!(
        response.text(),
        format!("length=11 checksum={}\n", to_hex(checksum(b"hello world")))
    );
    let next = client.get("/bytes/1");
    assert_eq!(
        next.number("x-origin-req"),
        2,
        "the body must end where its framing says"
    );
}

#[test]
fn sink_without_a_body_reports_nothing_received() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("POST /sink HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        client.response().text(),
        "length=0 checksum=cbf29ce484222325\n"
    );
}

#[test]
fn malformed_chunked_body_is_refused_with_400_and_a_close() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    let response = client.response();
    assert_eq!(response.status, 400);
    assert_eq!(response.header("connection"), Some("close"));
    client.assert_closed();
}

#[test]
fn echo_returns_a_content_length_body_with_the_same_length() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let body = generated(9, 50_000);
    client.send(format!(
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    client.send(&body);
    let response = client.response();
    assert_eq!(response.number("content-length"), 50_000);
    assert_eq!(response.body, body);
}

#[test]
fn echo_returns_a_chunked_body_chunked() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    client.send("2\r\nde\r\n0\r\n\r\n");
    let response = client.response();
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.body, b"abcde");
    assert_eq!(client.get("/bytes/1").number("x-origin-req"), 2);
}

#[test]
fn echo_streams_each_piece_before_the_rest_of_the_body_arrives() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello");
    assert_eq!(client.line(), "HTTP/1.1 200 OK");
    while !client.line().is_empty() {}
    let mut first = [0; 5];
    client.reader.read_exact(&mut first).unwrap();
    assert_eq!(
        &first, b"hello",
        "the first half must come back before the second is sent"
    );
    client.send("world");
    let mut second = [0; 5];
    client.reader.read_exact(&mut second).unwrap();
    assert_eq!(&second, b"world");

    client
        .send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nping\r\n");
    while !client.line().is_empty() {}
    assert_eq!(client.line(), "4");
    assert_eq!(
        client.line(),
        "ping",
        "a chunk must come back before the next is sent"
    );
    client.send("0\r\n\r\n");
    assert_eq!(client.line(), "0");
    assert_eq!(client.line(), "");
}

#[test]
fn echo_does_not_deadlock_with_a_client_that_sends_everything_before_reading() {
    let origin = start();
    let body = generated(1, 4 << 20);
    let mut client = Client::connect(&origin);
    client.send(format!(
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    client.send(&body);
    assert_eq!(client.response().body, body);

    let mut chunked =
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(1000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    client.send(&chunked);
    assert_eq!(client.response().body, body);
}

#[test]
fn inspect_returns_the_request_exactly_as_received() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let request = "PATCH /inspect?q=1&q=2 HTTP/1.1\r\nhost:  a.test \r\nX-Odd:\tvalue\r\nContent-Length: 4\r\n\r\nbody";
    client.send(request);
    let response = client.response();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), request);

    let chunked = "POST /inspect HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nab\r\n0\r\nT: 1\r\n\r\n";
    client.send(chunked);
    assert_eq!(
        client.response().text(),
        chunked,
        "chunk framing and trailers are kept"
    );
}

#[test]
fn inspect_refuses_a_body_over_its_limit_with_413() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let length = MAX_INSPECT_BODY_BYTES + 1;
    client.send(format!(
        "POST /inspect HTTP/1.1\r\nHost: a\r\nContent-Length: {length}\r\n\r\n"
    ));
    let response = client.response();
    assert_eq!(response.status, 413);
    client.assert_closed();
}

#[test]
fn redirect_to_a_path_names_the_host_it_received() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("GET /redirect?to=%2Fa%3Fb%3D1 HTTP/1.1\r\nHost: example.test:8080\r\n\r\n");
    let response = client.response();
    assert_eq!(response.status, 302);
    assert_eq!(
        response.header("location"),
        Some("http://example.test:8080/a?b=1")
    );
    assert!(!response.body.is_empty());
    let absolute = client.get("/redirect?abs=https%3A%2F%2Felsewhere.test%2Fx");
    assert_eq!(
        absolute.header("location"),
        Some("https://elsewhere.test/x")
    );
    assert_eq!(client.get("/redirect?to=nopath").status, 400);
}

#[test]
fn status_answers_the_status_asked_for() {
    let origin = start();
    let mut client = Client::connect(&origin);
    for code in [200, 201, 301, 404, 418, 500, 503, 599] {
        let response = client.get(&format!("/status/{code}"));
        assert_eq!(response.status, code);
        assert_eq!(response.text(), format!("status {code}\n"));
    }
}

#[test]
fn status_204_and_304_have_no_body_and_keep_the_connection() {
    let origin = start();
    let mut client = Client::connect(&origin);
    for code in [204, 304] {
        let response = client.get(&format!("/status/{code}"));
        assert_eq!(response.status, code);
        assert_eq!(response.header("content-length"), None);
        assert_eq!(response.header("transfer-encoding"), None);
    }
    let next = client.get("/status/200");
    assert_eq!(
        next.number("x-origin-req"),
        3,
        "nothing must follow a 204 or 304 head"
    );
    assert_eq!(client.get("/status/205").number("content-length"), 0);
}

#[test]
fn status_1xx_is_refused() {
    let origin = start();
    let mut client = Client::connect(&origin);
    assert_eq!(client.get("/status/101").status, 400);
}

#[test]
fn close_after_head_sends_100_of_1000_bytes_then_closes() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("GET /close-after-head HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(client.line(), "HTTP/1.1 200 OK");
    let mut content_length = None;
    loop {
        let line = client.line();
        if line.is_empty() {
            break;
        }
        assert!(
            !line.eq_ignore_ascii_case("connection: close"),
            "the close must come unannounced"
        );
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            content_length = Some(value.to_owned());
        }
    }
    assert_eq!(content_length.as_deref(), Some("1000"));
    assert_eq!(client.read_to_end(), generated(0, 100));
}

#[test]
fn reset_closes_without_answering() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send("GET /reset HTTP/1.1\r\nHost: a\r\n\r\n");
    client.assert_closed();
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let origin = start();
    let mut client = Client::connect(&origin);
    assert_eq!(client.get("/nothing-here").status, 404);
    let wrong = client.get("/sink");
    assert_eq!(
        (wrong.status, wrong.header("allow")),
        (405, Some("POST, PUT"))
    );
    client.send("DELETE /bytes/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(client.response().status, 405);
    assert_eq!(
        client.get("/bytes/1").number("x-origin-req"),
        4,
        "refused bodies are drained"
    );
}

#[test]
fn expect_100_continue_gets_the_interim_answer_before_the_body_is_sent() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.send(
        "POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(client.line(), "HTTP/1.1 100 Continue");
    assert_eq!(client.line(), "");
    client.send("abc");
    assert_eq!(
        client.response().text(),
        format!("length=3 checksum={}\n", to_hex(checksum(b"abc")))
    );
}

#[test]
fn ambiguous_or_hostless_requests_are_refused_with_400_and_a_close() {
    let origin = start();
    for request in [
        "POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "GET /bytes/1 HTTP/1.1\r\n\r\n",
        "GET /bytes/1 HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\n\r\n",
    ] {
        let mut client = Client::connect(&origin);
        client.send(request);
        let response = client.response();
        assert_eq!(response.status, 400, "{request:?}");
        client.assert_closed();
    }
    let stats = origin.stats();
    assert_eq!(stats.refused, 4);
}

#[test]
fn stats_count_connections_requests_and_paths() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.get("/bytes/10?seed=1");
    client.get("/bytes/10?seed=2");
    client.get("/status/204");
    Client::connect(&origin).get("/nope");
    let stats = origin.stats();
    assert_eq!(stats.connections_accepted, 2);
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.refused, 0);
    assert_eq!(stats.per_path.get("/bytes/10"), Some(&2));
    assert_eq!(stats.per_path.get("/status/204"), Some(&1));
    assert_eq!(stats.per_path.get("/nope"), Some(&1));
}

#[test]
fn open_connections_are_tracked_until_the_client_closes() {
    let origin = start();
    let client = Client::connect(&origin);
    assert!(origin.wait_for_open_connections(1, TEST_TIMEOUT));
    client.stream().shutdown(Shutdown::Both).unwrap();
    assert!(origin.wait_for_open_connections(0, TEST_TIMEOUT));
    assert_eq!(origin.stats().open_connections, 0);
}

#[test]
fn delay_ms_holds_the_head_back() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let started = Instant::now();
    let response = client.get("/bytes/10?delay_ms=80");
    assert!(started.elapsed() >= Duration::from_millis(80));
    assert_eq!(response.body, generated(0, 10));
}

#[test]
fn flush_and_pause_trickle_the_response_in_fixed_writes() {
    let origin = start();
    let mut client = Client::connect(&origin);
    let started = Instant::now();
    // About 200 bytes of head and body in 64-byte writes: four writes, three pauses.
    let response = client.get("/bytes/40?flush=64&pause_ms=30&te=chunked&chunk=7");
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.body, generated(0, 40));
    assert_eq!(response.chunk_sizes, [7, 7, 7, 7, 7, 5]);
    let byte_by_byte = client.get("/bytes/300?flush=1&seed=6");
    assert_eq!(byte_by_byte.body, generated(6, 300));
}

#[test]
fn connections_past_the_limit_wait_until_one_closes() {
    let origin = Origin::start(OriginConfig {
        max_connections: 1,
        ..OriginConfig::default()
    })
    .unwrap();
    let mut first = Client::connect(&origin);
    assert_eq!(first.get("/bytes/1").number("x-origin-conn"), 1);
    let mut second = Client::connect(&origin);
    second.send("GET /bytes/1 HTTP/1.1\r\nHost: a\r\n\r\n");
    second
        .stream()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut probe = [0; 1];
    let waited = second.stream().peek(&mut probe).unwrap_err();
    assert!(matches!(
        waited.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    assert_eq!(origin.stats().connections_accepted, 1);
    first.stream().shutdown(Shutdown::Both).unwrap();
    second
        .stream()
        .set_read_timeout(Some(TEST_TIMEOUT))
        .unwrap();
    assert_eq!(second.response().number("x-origin-conn"), 2);
}

#[test]
fn shutdown_closes_open_connections_and_stops_listening() {
    let origin = start();
    let addr = origin.addr();
    let mut idle = Client::connect(&origin);
    idle.get("/bytes/1");
    let mut delayed = Client::connect(&origin);
    delayed.send("GET /bytes/1?delay_ms=60000 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(origin.wait_for_open_connections(2, TEST_TIMEOUT));
    let started = Instant::now();
    origin.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown must interrupt delays"
    );
    idle.assert_closed();
    delayed.assert_closed();
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing may listen after shutdown"
    );
}

#[test]
fn start_refuses_a_zero_connection_limit() {
    let refused = Origin::start(OriginConfig {
        max_connections: 0,
        ..OriginConfig::default()
    });
    assert_eq!(
        refused.unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
}
