//! The `origin` binary as benchmark tools run it: flags, the address line on stdout, serving.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use spoonfeed_origin::{body_checksum, to_hex};

const ORIGIN: &str = env!("CARGO_BIN_EXE_origin");

#[test]
fn prints_the_bound_address_and_serves_on_it() {
    let mut child = Command::new(ORIGIN)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let served = (|| {
        let addr = line.trim_end().parse::<std::net::SocketAddr>().ok()?;
        let mut stream = TcpStream::connect(addr).ok()?;
        stream
            .write_all(b"GET /bytes/100 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).ok()?;
        Some(String::from_utf8_lossy(&response).into_owned())
    })();
    child.kill().unwrap();
    child.wait().unwrap();
    let response = served.unwrap_or_else(|| panic!("nothing served at {line:?}"));
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response:?}");
    let checksum = format!("X-Checksum: {}\r\n", to_hex(body_checksum(0, 100)));
    assert!(response.contains(&checksum), "{response:?}");
}

#[test]
fn sndbuf_is_set_on_the_connections_it_serves() {
    let mut child = Command::new(ORIGIN)
        .args(["--listen", "127.0.0.1:0", "--sndbuf", "64k"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let stats = (|| {
        let addr = line.trim_end().parse::<std::net::SocketAddr>().ok()?;
        let mut stream = TcpStream::connect(addr).ok()?;
        stream
            .write_all(b"GET /_origin/stats HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).ok()?;
        Some(String::from_utf8_lossy(&response).into_owned())
    })();
    child.kill().unwrap();
    child.wait().unwrap();
    let stats = stats.unwrap_or_else(|| panic!("nothing served at {line:?}"));
    // The connection asking is the latest one: it has the send buffer too.
    let granted: usize = stats
        .split_once(r#""send_buffer":"#)
        .and_then(|(_, rest)| rest.split_once('}'))
        .and_then(|(number, _)| number.parse().ok())
        .unwrap_or_else(|| panic!("no send_buffer in {stats:?}"));
    assert!(granted >= 64 << 10, "{granted}");
}

#[test]
fn help_prints_usage_and_succeeds() {
    let output = Command::new(ORIGIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let usage = String::from_utf8_lossy(&output.stdout);
    assert!(usage.starts_with("usage: origin"));
    for documented in [
        "--listen",
        "--workers",
        "--max-connections",
        "--sndbuf",
        "net.core.wmem_max",
        "/_origin/stats",
    ] {
        assert!(
            usage.contains(documented),
            "{documented} missing from {usage}"
        );
    }
}

#[test]
fn bad_arguments_exit_2_with_the_reason_on_stderr() {
    let output = Command::new(ORIGIN)
        .args(["--listen", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--listen \"nowhere\" is not ADDR:PORT"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
