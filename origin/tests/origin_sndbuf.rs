//! `OriginConfig::send_buffer` over real sockets: that it reaches each accepted connection, that
//! it keeps the origin busy, as a heavy backend, while its peer does not read, and that the
//! answer still arrives whole once the peer does.
//!
//! Each test starts its own origins on 127.0.0.1 port 0. Clients write raw HTTP/1.1 with
//! `Connection: close` and read to EOF (never trusting one read).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use spoonfeed_origin::{
    body_checksum, checksum, fill_body, to_hex, Origin, OriginConfig, OriginStats, MAX_SEND_BUFFER,
};

/// Longest any read, or any wait for a busy time to show, may take before a test fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The small send buffer under test, as `slow-clients.sh --sndbuf 64k` gives the origin.
const SMALL_SEND_BUFFER: usize = 64 << 10;

/// The body asked for: far more than the small send buffer and the client's receive buffer
/// hold together, far less than an autotuned send buffer grows to (4 MiB by default).
const BODY_BYTES: usize = 1 << 20;

/// The client's receive buffer (`SO_RCVBUF`), fixed so that what a client that reads nothing
/// can absorb does not depend on the host's `net.ipv4.tcp_rmem`.
const CLIENT_RECEIVE_BUFFER: usize = 64 << 10;

fn start(send_buffer: Option<usize>) -> Origin {
    Origin::start(OriginConfig {
        send_buffer,
        ..OriginConfig::default()
    })
    .expect("origin starts")
}

/// Connects to `addr` with [`CLIENT_RECEIVE_BUFFER`], set before the handshake, and sends a GET
/// of `target` with `Connection: close`; reads nothing.
fn send_get(addr: SocketAddr, target: &str) -> TcpStream {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.set_recv_buffer_size(CLIENT_RECEIVE_BUFFER).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TEST_TIMEOUT)).unwrap();
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

/// Reads `stream` to EOF and splits the answer into its head (status line and fields, without
/// the blank line) and its body.
fn read_answer(mut stream: TcpStream) -> (String, Vec<u8>) {
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let end = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {} bytes", answer.len()));
    let head = String::from_utf8(answer[..end].to_vec()).unwrap();
    (head, answer.split_off(end + 4))
}

/// The value of the field `name` in `head`.
fn field<'a>(head: &'a str, name: &str) -> &'a str {
    head.split("\r\n")
        .skip(1)
        .find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then(|| value.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {head:?}"))
}

/// Sends one small request and reads its answer whole, so the connection has been accepted and
/// configured.
fn one_exchange(origin: &Origin) {
    let (head, body) = read_answer(send_get(origin.addr(), "/bytes/10"));
    assert!(head.starts_with("HTTP/1.1 200 "), "{head:?}");
    assert_eq!(body.len(), 10);
}

/// The stats once `count` request busy times are recorded (each is recorded just after its
/// last write returns, which may be a moment after the client has read everything).
fn wait_for_busy(origin: &Origin, count: u64) -> OriginStats {
    let deadline = Instant::now() + TEST_TIMEOUT;
    loop {
        let stats = origin.stats();
        if stats.busy.count >= count {
            assert_eq!(stats.busy.count, count, "{stats:?}");
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "{count} busy times never showed: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until `count` request heads have been read (they are counted before any byte of the
/// answer is written).
fn wait_for_requests(origin: &Origin, count: u64) {
    let deadline = Instant::now() + TEST_TIMEOUT;
    while origin.stats().requests < count {
        assert!(
            Instant::now() < deadline,
            "{count} requests never showed: {:?}",
            origin.stats()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What Linux makes of `SO_SNDBUF = size`: twice `size`, after capping it at
/// `net.core.wmem_max`.
#[cfg(target_os = "linux")]
fn linux_send_buffer(size: usize) -> usize {
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    2 * size.min(wmem_max)
}

#[test]
fn refuses_a_zero_or_oversized_send_buffer() {
    for size in [0, MAX_SEND_BUFFER + 1, usize::MAX] {
        let refused = Origin::start(OriginConfig {
            send_buffer: Some(size),
            ..OriginConfig::default()
        })
        .unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput, "{size}");
    }
}

#[test]
fn send_buffer_is_set_on_each_accepted_connection_and_reported() {
    let origin = start(Some(SMALL_SEND_BUFFER));
    assert_eq!(origin.stats().send_buffer, None, "no connection yet");
    one_exchange(&origin);
    let granted = origin.stats().send_buffer.expect("set on the connection");
    #[cfg(target_os = "linux")]
    assert_eq!(granted, linux_send_buffer(SMALL_SEND_BUFFER));
    assert!(granted >= SMALL_SEND_BUFFER, "{granted}");

    let (head, json) = read_answer(send_get(origin.addr(), "/_origin/stats"));
    assert!(head.starts_with("HTTP/1.1 200 "), "{head:?}");
    let json = String::from_utf8(json).unwrap();
    assert!(
        json.ends_with(&format!(",\"send_buffer\":{granted}}}\n")),
        "{json:?}"
    );
}

#[test]
fn without_send_buffer_the_os_default_is_left_and_not_reported() {
    let origin = start(None);
    one_exchange(&origin);
    assert_eq!(origin.stats().send_buffer, None);
    let (_, json) = read_answer(send_get(origin.addr(), "/_origin/stats"));
    assert!(
        !String::from_utf8(json).unwrap().contains("send_buffer"),
        "the key is absent"
    );
}

/// The behaviour `slow-clients.sh --sndbuf` relies on. Two origins answer the same 1 MiB, each
/// to a client that reads nothing. The one with the OS default send buffer finishes writing at
/// once (autotuning grows its buffer past the body); that it has is the moment to look at the
/// other, whose last write cannot return while at most its send buffer and the client's
/// receive buffer, a few hundred KiB, are out. No sleep decides anything: the order does. Then
/// the client reads everything: the body arrives whole and byte-exact, and only then is the
/// busy time recorded.
#[test]
fn a_small_send_buffer_holds_the_origin_busy_until_a_late_reader_takes_the_body_whole() {
    let autotuned = start(None);
    let small = start(Some(SMALL_SEND_BUFFER));
    let target = format!("/bytes/{BODY_BYTES}");
    // The small one first: once its head is read, it has had at least as long to write as
    // the autotuned one takes from its request to its last write.
    let small_client = send_get(small.addr(), &target);
    wait_for_requests(&small, 1);
    let autotuned_client = send_get(autotuned.addr(), &target);
    wait_for_busy(&autotuned, 1);
    let stats = small.stats();
    assert_eq!(
        (stats.requests, stats.busy.count),
        (1, 0),
        "the request is in, its last write must not have returned: {stats:?}"
    );

    let mut expected = vec![0; BODY_BYTES];
    fill_body(0, 0, &mut expected);
    for (origin, client) in [(&small, small_client), (&autotuned, autotuned_client)] {
        let (head, body) = read_answer(client);
        assert!(head.starts_with("HTTP/1.1 200 "), "{head:?}");
        assert_eq!(field(&head, "content-length"), BODY_BYTES.to_string());
        assert_eq!(body.len(), BODY_BYTES);
        assert!(body == expected, "the body differs from the generator");
        assert_eq!(field(&head, "x-checksum"), to_hex(checksum(&body)));
        assert_eq!(
            field(&head, "x-checksum"),
            to_hex(body_checksum(0, BODY_BYTES as u64))
        );
        wait_for_busy(origin, 1);
    }
}
