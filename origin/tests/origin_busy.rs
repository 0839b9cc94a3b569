//! Busy times and the stats endpoint over real sockets: how long the origin was held, per request
//! and per connection, as `Origin::stats` and `GET /_origin/stats` report it, and their reset.
//!
//! Each test starts its own origin on 127.0.0.1 port 0. Responses are read whole through a small
//! client of this file's own (Content-Length bodies only, which is all these endpoints send).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use spoonfeed_origin::{Origin, OriginConfig, OriginStats};

/// Longest any single read, or any wait for a busy time to show, may take before a test fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

fn start() -> Origin {
    Origin::start(OriginConfig::default()).expect("origin starts")
}

struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(origin: &Origin) -> Client {
        let stream = TcpStream::connect(origin.addr()).unwrap();
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    /// Sends `method target` and reads the answer: its status and body.
    fn request(&mut self, method: &str, target: &str) -> (u16, Vec<u8>) {
        let request = format!("{method} {target} HTTP/1.1\r\nHost: origin.test\r\n\r\n");
        self.reader.get_ref().write_all(request.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            assert!(line.ends_with("\r\n"), "head cut off at {line:?}");
            if line == "\r\n" {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; if method == "HEAD" { 0 } else { length }];
        self.reader.read_exact(&mut body).unwrap();
        (status, body)
    }

    fn get(&mut self, target: &str) -> (u16, Vec<u8>) {
        self.request("GET", target)
    }

    /// Closes the connection and waits for the origin's side to close too.
    fn close(mut self) {
        self.reader.get_ref().shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "unexpected bytes {rest:?}");
    }
}

/// The stats once `requests` request busy times and `connections` connection busy times are
/// recorded: each is recorded just after its last write returns, which may be a moment after
/// the client has read everything.
fn wait_for_busy(origin: &Origin, requests: u64, connections: u64) -> OriginStats {
    let deadline = Instant::now() + TEST_TIMEOUT;
    loop {
        let stats = origin.stats();
        if stats.busy.count >= requests && stats.connection_busy.count >= connections {
            assert_eq!(stats.busy.count, requests, "{stats:?}");
            assert_eq!(stats.connection_busy.count, connections, "{stats:?}");
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "busy times never showed: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A JSON value, as far as the stats endpoint uses JSON: objects of unsigned integers.
#[derive(Debug, PartialEq)]
enum Json {
    Number(u64),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses `text`, which must be one value and nothing else but whitespace.
    fn parse(text: &str) -> Result<Json, String> {
        let mut rest = text.trim_start();
        let value = Json::value(&mut rest)?;
        if rest.trim().is_empty() {
            Ok(value)
        } else {
            Err(format!("trailing {rest:?}"))
        }
    }

    fn value(rest: &mut &str) -> Result<Json, String> {
        if let Some(after) = rest.strip_prefix('{') {
            *rest = after.trim_start();
            let mut members = Vec::new();
            if let Some(after) = rest.strip_prefix('}') {
                *rest = after;
                return Ok(Json::Object(members));
            }
            loop {
                let key = rest
                    .strip_prefix('"')
                    .and_then(|after| after.split_once('"'))
                    .filter(|(key, _)| !key.contains('\\'))
                    .ok_or_else(|| format!("expected a plain key at {rest:?}"))?;
                *rest = key.1.trim_start();
                *rest = rest
                    .strip_prefix(':')
                    .ok_or_else(|| format!("expected : at {rest:?}"))?
                    .trim_start();
                members.push((key.0.to_owned(), Json::value(rest)?));
                *rest = rest.trim_start();
                if let Some(after) = rest.strip_prefix(',') {
                    *rest = after.trim_start();
                } else if let Some(after) = rest.strip_prefix('}') {
                    *rest = after;
                    return Ok(Json::Object(members));
                } else {
                    return Err(format!("expected , or }} at {rest:?}"));
                }
            }
        }
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let number = rest[..digits]
            .parse()
            .map_err(|_| format!("expected a value at {rest:?}"))?;
        *rest = &rest[digits..];
        Ok(Json::Number(number))
    }

    /// The member at `path`, one key per level.
    fn at(&self, path: &[&str]) -> &Json {
        path.iter().fold(self, |value, key| match value {
            Json::Object(members) => members
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value)
                .unwrap_or_else(|| panic!("no {key:?} in {value:?}")),
            Json::Number(_) => panic!("{key:?} asked of a number"),
        })
    }

    fn number(&self, path: &[&str]) -> u64 {
        match self.at(path) {
            Json::Number(n) => *n,
            other => panic!("{path:?} is {other:?}, not a number"),
        }
    }
}

fn stats_json(client: &mut Client, method: &str, target: &str) -> Json {
    let (status, body) = client.request(method, target);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{text}");
    Json::parse(&text).unwrap_or_else(|why| panic!("{why} in {text:?}"))
}

#[test]
fn json_reader_reads_objects_of_numbers_and_rejects_the_rest() {
    let parsed = Json::parse(r#" {"a": 1, "b": {"c": 20}, "d": {}} "#).unwrap();
    assert_eq!(parsed.number(&["b", "c"]), 20);
    assert_eq!(parsed.at(&["d"]), &Json::Object(Vec::new()));
    for bad in [
        r#"{"a":1"#,
        r#"{"a":-1}"#,
        r#"{"a":1}x"#,
        r#"{a:1}"#,
        "",
        "{,}",
    ] {
        assert!(Json::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn busy_time_of_a_paused_request_is_at_least_its_pauses() {
    let origin = start();
    let mut client = Client::connect(&origin);
    // About 150 bytes of head and 300 of body in 100-byte writes: five writes, four pauses.
    let (status, body) = client.get("/bytes/300?flush=100&pause_ms=40");
    assert_eq!((status, body.len()), (200, 300));
    let stats = wait_for_busy(&origin, 1, 0);
    let pauses = Duration::from_millis(4 * 40);
    assert!(stats.busy.max >= pauses, "{:?}", stats.busy);
    assert!(stats.busy.p50 >= pauses, "{:?}", stats.busy);
    assert_eq!(
        (stats.busy.p50, stats.busy.p99),
        (stats.busy.max, stats.busy.max)
    );
    client.close();
    let stats = wait_for_busy(&origin, 1, 1);
    assert!(stats.connection_busy.max >= stats.busy.max, "{stats:?}");
}

#[test]
fn busy_time_starts_when_the_head_is_read_not_when_the_connection_opened() {
    let origin = start();
    let mut client = Client::connect(&origin);
    // From the moment the origin has accepted: the handshake completes in the kernel, and a
    // busy accept thread may take its time to take the connection, which is not connection time.
    assert!(origin.wait_for_open_connections(1, TEST_TIMEOUT));
    std::thread::sleep(Duration::from_millis(150));
    client.get("/bytes/10");
    let stats = wait_for_busy(&origin, 1, 0);
    assert!(
        stats.busy.max < Duration::from_millis(150),
        "{:?}",
        stats.busy
    );
    client.close();
    let stats = wait_for_busy(&origin, 1, 1);
    assert!(stats.connection_busy.max >= Duration::from_millis(150));
}

#[test]
fn delay_and_refusals_count_as_busy_too() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.get("/bytes/10?delay_ms=60");
    let stats = wait_for_busy(&origin, 1, 0);
    assert!(stats.busy.max >= Duration::from_millis(60));
    // A refused request is answered and closed; it held the origin too.
    assert_eq!(client.get("/bytes/10?nope=1").0, 400);
    wait_for_busy(&origin, 2, 1);
}

#[test]
fn stats_endpoint_answers_json_and_reset_clears_the_busy_times() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.get("/bytes/1000");
    client.get("/bytes/2000?pause_ms=1&flush=500");
    client.close();
    wait_for_busy(&origin, 2, 1);

    let mut control = Client::connect(&origin);
    let json = stats_json(&mut control, "GET", "/_origin/stats");
    assert_eq!(json.number(&["requests"]), 2);
    assert_eq!(json.number(&["connections_accepted"]), 2);
    assert_eq!(json.number(&["open_connections"]), 1, "the one asking");
    assert_eq!(json.number(&["busy_us", "count"]), 2);
    let stats = origin.stats();
    for (key, value) in [
        ("p50", stats.busy.p50),
        ("p90", stats.busy.p90),
        ("p99", stats.busy.p99),
        ("max", stats.busy.max),
    ] {
        assert_eq!(
            json.number(&["busy_us", key]),
            value.as_micros() as u64,
            "{key}"
        );
    }
    assert!(json.number(&["busy_us", "p50"]) <= json.number(&["busy_us", "max"]));
    assert_eq!(json.number(&["connection_busy_us", "count"]), 1);
    assert!(json.number(&["connection_busy_us", "max"]) >= json.number(&["busy_us", "max"]));

    // The reset answers the stats as they were, then clears the busy times only.
    let before_reset = stats_json(&mut control, "POST", "/_origin/stats/reset");
    assert_eq!(before_reset.number(&["busy_us", "count"]), 2);
    let after = stats_json(&mut control, "GET", "/_origin/stats");
    assert_eq!(after.number(&["busy_us", "count"]), 0);
    assert_eq!(after.number(&["busy_us", "max"]), 0);
    assert_eq!(after.number(&["connection_busy_us", "count"]), 0);
    assert_eq!(after.number(&["requests"]), 2, "counters are kept");
    let (status, body) = control.request("HEAD", "/_origin/stats");
    assert_eq!((status, body.len()), (200, 0));

    // The stats requests themselves count nowhere, nor does the connection that only asked.
    control.close();
    std::thread::sleep(Duration::from_millis(50));
    let stats = origin.stats();
    assert_eq!((stats.busy.count, stats.connection_busy.count), (0, 0));
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.per_path.get("/_origin/stats"), None);
}

#[test]
fn stats_endpoint_refuses_options_and_other_methods() {
    let origin = start();
    let mut client = Client::connect(&origin);
    assert_eq!(client.get("/_origin/stats/reset").0, 405);
    assert_eq!(client.request("DELETE", "/_origin/stats").0, 405);
    assert_eq!(client.get("/_origin/nothing").0, 404);
    // An option is refused rather than ignored, so `?reset=1` cannot silently not reset.
    assert_eq!(client.get("/_origin/stats?reset=1").0, 400);
}

#[test]
fn stats_endpoint_lives_outside_the_mount() {
    let origin = Origin::start(OriginConfig {
        mount: "/perl".to_owned(),
        ..OriginConfig::default()
    })
    .unwrap();
    let mut client = Client::connect(&origin);
    assert_eq!(client.get("/perl/bytes/10").0, 200);
    assert_eq!(client.get("/perl/_origin/stats").0, 404);
    let json = stats_json(&mut client, "GET", "/_origin/stats");
    assert_eq!(json.number(&["requests"]), 2);
}

#[test]
fn reset_busy_clears_busy_times_and_keeps_counters() {
    let origin = start();
    let mut client = Client::connect(&origin);
    client.get("/bytes/10");
    wait_for_busy(&origin, 1, 0);
    origin.reset_busy();
    let stats = origin.stats();
    assert_eq!(stats.busy, Default::default());
    assert_eq!(stats.requests, 1);
    client.get("/bytes/10");
    wait_for_busy(&origin, 1, 0);
}
