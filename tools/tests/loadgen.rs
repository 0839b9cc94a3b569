//! `loadgen` over real sockets: against the bundled origin it verifies every response and
//! reports zero errors in closed and open loop, paces slow readers in bytes, and against servers
//! that lie it counts the lie by kind.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::thread;
use std::time::Duration;

use spoonfeed_origin::{Origin, OriginConfig};
use spoonfeed_tools::loadgen::args::{Load, Plan};
use spoonfeed_tools::loadgen::{run, ErrorKind, Report};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

fn plan(addr: SocketAddr, target: &str) -> Plan {
    let mut plan = Plan::for_url(&format!("http://{addr}{target}")).unwrap();
    plan.timeout = Duration::from_secs(5);
    plan
}

fn assert_clean(report: &Report) {
    assert_eq!(report.errors.total(), 0, "{}", report.to_human());
    assert_eq!(
        (report.unfinished, report.unsent),
        (0, 0),
        "{}",
        report.to_human()
    );
}

#[test]
fn closed_loop_pipelined_run_verifies_every_checksum() {
    let origin = Origin::start(OriginConfig::default()).unwrap();
    let mut plan = plan(origin.addr(), "/bytes/1K");
    (plan.connections, plan.pipeline) = (8, 4);
    (plan.duration, plan.requests) = (Some(Duration::from_secs(5)), Some(2000));
    let report = run(&plan, origin.addr()).unwrap();
    assert_clean(&report);
    assert_eq!(report.ok, 2000);
    assert_eq!(report.checksums_verified, 2000);
    assert_eq!(report.body_bytes, 2000 * 1024);
    assert_eq!(report.latency.count(), 2000);
    assert!(report.bytes > report.body_bytes);
    assert_eq!(origin.stats().requests, 2000, "no exchange issued twice");
}

#[test]
fn open_loop_run_sends_at_the_rate_and_verifies_every_checksum() {
    let origin = Origin::start(OriginConfig::default()).unwrap();
    let mut plan = plan(origin.addr(), "/bytes/4K?te=chunked&chunk=1000");
    plan.connections = 4;
    plan.load = Load::Open { rate: 1000.0 };
    plan.duration = Some(Duration::from_millis(800));
    let report = run(&plan, origin.addr()).unwrap();
    assert_eq!(report.errors.total(), 0, "{}", report.to_human());
    // 800 due in 0.8 s; the last few may still be in flight when the time is up.
    let ended = report.ok + report.unfinished + report.unsent;
    assert!((795..=801).contains(&ended), "{}", report.to_human());
    assert!(report.ok >= 780, "{}", report.to_human());
    assert_eq!(report.checksums_verified, report.ok);
    assert_eq!(report.body_bytes, report.ok * 4096);
}

#[test]
fn connections_the_server_closes_are_reopened_without_errors() {
    let origin = Origin::start(OriginConfig::default()).unwrap();
    let mut plan = plan(origin.addr(), "/bytes/3000?te=close");
    (plan.connections, plan.pipeline) = (4, 2);
    (plan.duration, plan.requests) = (None, Some(200));
    let report = run(&plan, origin.addr()).unwrap();
    assert_clean(&report);
    assert_eq!((report.ok, report.checksums_verified), (200, 200));
    assert!(origin.stats().connections_accepted >= 200);
}

#[test]
fn slow_readers_read_at_their_rate_in_bytes() {
    let origin = Origin::start(OriginConfig::default()).unwrap();
    let mut plan = plan(origin.addr(), "/bytes/64K");
    plan.connections = 2;
    plan.read_rate = Some(512 * 1024);
    plan.rcvbuf = Some(4096);
    (plan.duration, plan.requests) = (None, Some(8));
    let report = run(&plan, origin.addr()).unwrap();
    assert_clean(&report);
    assert_eq!(report.ok, 8);
    // Each connection reads 4 × 64 KiB and heads at 512 KiB/s after a first burst of 1/20 s:
    // at least (256 KiB - 25.6 KiB) / 512 KiB/s = 0.45 s.
    let seconds = report.elapsed.as_secs_f64();
    assert!(
        (0.44..2.0).contains(&seconds),
        "{seconds} s\n{}",
        report.to_human()
    );
    let per_connection = report.bytes as f64 / 2.0;
    assert!(
        per_connection <= 512.0 * 1024.0 * seconds + 26_000.0,
        "{}",
        report.to_human()
    );
}

/// A server that answers every request on a connection with `answer`, then closes if `is_close`.
fn lying_server(answer: &'static [u8], is_close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                let mut seen = Vec::new();
                let mut block = [0; 4096];
                while let Ok(n) = stream.read(&mut block) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&block[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        if stream.write_all(answer).is_err() || is_close {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn lie(answer: &'static [u8], is_close: bool, requests: u64) -> Report {
    let addr = lying_server(answer, is_close);
    let mut plan = plan(addr, "/");
    plan.connections = 2;
    (plan.duration, plan.requests) = (Some(Duration::from_secs(2)), Some(requests));
    run(&plan, addr).unwrap()
}

#[test]
fn a_wrong_checksum_is_counted_for_every_response() {
    let report = lie(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Checksum: 0123456789abcdef\r\n\r\nhello",
        false,
        20,
    );
    assert_eq!(
        report.errors.get(ErrorKind::Checksum),
        20,
        "{}",
        report.to_human()
    );
    assert_eq!((report.ok, report.errors.total()), (0, 20));
}

#[test]
fn a_short_body_is_a_length_error_and_a_wrong_status_a_status_error() {
    let report = lie(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
        true,
        10,
    );
    assert_eq!(
        report.errors.get(ErrorKind::Length),
        10,
        "{}",
        report.to_human()
    );
    assert_eq!(report.ok, 0);
    let report = lie(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", false, 10);
    assert_eq!(
        report.errors.get(ErrorKind::Status),
        10,
        "{}",
        report.to_human()
    );
}

#[test]
fn a_closed_port_ends_a_bounded_run_with_connect_errors() {
    // A port bound but not listening: connects are refused, and no other test can take the
    // port meanwhile (a listener bound and dropped would leave it free for one).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut plan = plan(addr, "/");
    (plan.duration, plan.requests) = (Some(Duration::from_secs(2)), Some(3));
    let report = run(&plan, addr).unwrap();
    assert_eq!(
        report.errors.get(ErrorKind::Connect),
        3,
        "{}",
        report.to_human()
    );
}

#[test]
fn the_binary_prints_json_and_csv_and_refuses_bad_arguments() {
    let origin = Origin::start(OriginConfig::default()).unwrap();
    let url = format!("http://{}/bytes/100", origin.addr());
    let output = Command::new(LOADGEN)
        .args(["--connections", "2", "--requests", "50", "--json", &url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json = String::from_utf8(output.stdout).unwrap();
    assert_eq!(json.lines().count(), 1, "{json}");
    assert!(json.contains("\"requests\":50,\"errors\":0,"), "{json}");
    assert!(json.contains("\"checksums_verified\":50,"), "{json}");
    let output = Command::new(LOADGEN)
        .args(["--requests", "5", "--csv", &url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let csv = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert_eq!(
        lines[0].split(',').count(),
        lines[1].split(',').count(),
        "{csv}"
    );
    let output = Command::new(LOADGEN)
        .args(["--pipeline", "0", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--pipeline \"0\""));
    let help = Command::new(LOADGEN).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--read-rate"));
}
