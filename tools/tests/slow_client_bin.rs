//! The `slow-client` binary against a real origin: it paces its reads to the rate asked for,
//! which is the whole reason it exists (curl's --limit-rate does not, for short answers).

use std::process::Command;
use std::time::{Duration, Instant};

use spoonfeed_origin::{Origin, OriginConfig};

const SLOW_CLIENT: &str = env!("CARGO_BIN_EXE_slow-client");

#[test]
fn clients_read_at_the_rate_asked_and_report_like_curl() {
    let origin = Origin::start(OriginConfig::default()).unwrap();
    let started = Instant::now();
    let output = Command::new(SLOW_CLIENT)
        .args(["--rate", "64k", "--clients", "3", "--timeout", "30"])
        .arg(format!("http://{}/bytes/32K", origin.addr()))
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    // 32 KiB and a head at 64 KiB/s is half a second; a client may run one 4 KiB read ahead.
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(&fields[..2], ["200", "32768"], "{line}");
        let seconds: f64 = fields[2].parse().unwrap();
        assert!((0.4..10.0).contains(&seconds), "{line}");
    }
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert_eq!(origin.stats().requests, 3);
}

#[test]
fn a_short_answer_and_a_refused_connection_are_reported_as_failures() {
    let origin = Origin::start(OriginConfig::default()).unwrap();
    let cut = Command::new(SLOW_CLIENT)
        .args(["--rate", "1m"])
        .arg(format!("http://{}/close-after-head", origin.addr()))
        .output()
        .unwrap();
    assert_eq!(cut.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&cut.stdout).starts_with("200 100 "));
    let addr = origin.addr();
    origin.shutdown();
    let refused = Command::new(SLOW_CLIENT)
        .args(["--rate", "1m"])
        .arg(format!("http://{addr}/bytes/1"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).starts_with("000 0 "));
}
