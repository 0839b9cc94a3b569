//! The command line of `loadgen`: every option, its limits, and the refusals, each with a reason.
//!
//! Owns parsing and validation only; nothing here opens a socket or resolves a name (the URL's
//! authority is kept as text for the binary to resolve). Every number is range-checked here so
//! the reactor can rely on a [`Plan`]'s invariants.

use std::time::Duration;

/// Most connections one run opens: each holds a socket and a small state; past it, refused.
pub const MAX_CONNECTIONS: usize = 100_000;

/// Most requests in flight on one connection; past it, refused (a server's pipelining queue is
/// finite and deeper pipelines only measure that queue).
pub const MAX_PIPELINE: usize = 1024;

/// Highest `--rate`, requests per second; past it, refused (the schedule's resolution is a
/// nanosecond, and one reactor does not reach this anyway).
pub const MAX_RATE: f64 = 10_000_000.0;

/// Largest `--rcvbuf`: `SO_RCVBUF` is a C `int`.
pub const MAX_RCVBUF: u64 = i32::MAX as u64;

/// Longest `--duration`, `--warmup` or `--timeout`: a day, so arithmetic on instants cannot
/// overflow.
pub const MAX_SECONDS: f64 = 86_400.0;

/// Run length when neither `--duration` nor `--requests` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Longest an exchange may take, from its intended send time, when `--timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub const USAGE: &str = "\
usage: loadgen [options] http://HOST:PORT/PATH

Sends GET requests over HTTP/1.1 keep-alive connections from one thread, verifies every
response and prints a latency histogram, requests/s and errors by kind.

load:
  --connections N      connections kept open (default 1, at most 100000). A connection the
                       server closes (Connection: close, or an error) is reopened.
  --pipeline D         requests in flight per connection (default 1, at most 1024)
  --rate R             open loop: R requests per second in all, sent on a fixed schedule
                       (decimals allowed). Without it, closed loop: every connection sends its
                       next request as soon as it has room. With --rate, --pipeline is the
                       most requests in flight per connection; a request due while every
                       connection is full waits, and its latency still counts from when it was
                       due, so stalls are not hidden (no coordinated omission).
  --duration SECS      measure for SECS seconds (decimals allowed), then stop at once:
                       exchanges still in flight are reported as unfinished, requests due but
                       not sent as unsent. Default 10 when --requests is not given either.
  --requests N         measure N exchanges, then stop once they have all ended. With
                       --duration too, whichever comes first.
  --warmup SECS        run the same load for SECS seconds first, recording nothing
                       (default 0)
  --timeout SECS       an exchange not ended SECS after its intended send time is an error
                       (timeout) and its connection is reopened (default 10)

slow readers:
  --read-rate SIZE     each connection reads at most SIZE bytes per second (head included):
                       N, Nk, Nm or Ng (KiB, MiB, GiB per second). A token bucket counts the
                       bytes; it holds at most 1/20 s of the rate (at most 64 KiB), so a
                       connection reads in bursts of that size.
  --rcvbuf SIZE        SO_RCVBUF of every connection, set before connect: N, Nk or Nm bytes.
                       Linux doubles it and caps it at net.core.rmem_max.

verification (every response):
  --expect-status N    the status every response must have (default 200)
  --no-checksum        do not hash bodies: for large responses at high rates, where the
                       hashing (about 1 GiB/s on one core) and not the server would bound
                       the rate. Status and length are still checked.
  Also checked: the body's length (Content-Length, or the chunked framing decoded), and,
  when the response carries X-Checksum (as the bundled origin's /bytes/N does) and
  --no-checksum is not given, the body's FNV-1a checksum.

output (on stdout; the exit status is 0 when no exchange failed, 1 otherwise, 2 for usage):
  (default)            a human summary
  --json               one JSON object on one line
  --csv                a header line and one row
  --progress           print a progress line on stderr every second even when stderr is not
                       a terminal (it is printed on a terminal anyway, once the run is past 2 s)
  --help, -h           print this help

errors are counted by kind: connect, io (reset, refused write), closed (the server closed with
requests unanswered and no Connection: close), parse (malformed head or chunk framing, or bytes
nobody asked for), status, length (the body ended early), checksum, timeout.
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Help,
    Run(Plan),
}

/// Where the report goes and in which form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Human,
    Json,
    Csv,
}

/// Closed or open loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Every connection sends as soon as it has room for another request.
    Closed,
    /// Requests per second across all connections, on a fixed schedule. Invariant: in
    /// `(0, MAX_RATE]` and finite.
    Open { rate: f64 },
}

/// A run, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// `HOST:PORT`, as sent in `Host` and connected to.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub target: String,
    /// Invariant: `1..=MAX_CONNECTIONS`.
    pub connections: usize,
    /// Invariant: `1..=MAX_PIPELINE`.
    pub pipeline: usize,
    pub load: Load,
    /// Bytes per second per connection. Invariant: > 0 when `Some`.
    pub read_rate: Option<u64>,
    /// Invariant: `1..=MAX_RCVBUF` when `Some`.
    pub rcvbuf: Option<usize>,
    /// Invariant: `100..=599`.
    pub expect_status: u16,
    /// Whether bodies carrying `X-Checksum` are hashed and compared (not with `--no-checksum`).
    pub verifies_checksum: bool,
    /// Invariant: at least one of `duration` and `requests` is `Some`; both non-zero.
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub warmup: Duration,
    /// Invariant: non-zero.
    pub timeout: Duration,
    pub output: Output,
    /// Whether the progress line is printed even when stderr is not a terminal.
    pub is_progress_forced: bool,
}

impl Plan {
    /// A closed-loop plan for `url` with every default, for tests and embedding; `None` when
    /// the URL is not `http://HOST[:PORT][/PATH]`.
    pub fn for_url(url: &str) -> Option<Plan> {
        match parse_args([url.to_owned()]) {
            Ok(Command::Run(plan)) => Some(plan),
            _ => None,
        }
    }

    /// The request sent, again and again, on every connection.
    pub fn request(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: spoonfeed-loadgen\r\n\r\n",
            self.target, self.authority
        )
        .into_bytes()
    }

    /// The URL, as given back in reports.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.target)
    }
}

/// Parses `loadgen`'s arguments (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut connections = 1;
    let mut pipeline = 1;
    let mut load = Load::Closed;
    let mut read_rate = None;
    let mut rcvbuf = None;
    let mut expect_status = 200;
    let mut verifies_checksum = true;
    let mut duration = None;
    let mut requests = None;
    let mut warmup = Duration::ZERO;
    let mut timeout = DEFAULT_TIMEOUT;
    let mut output = None;
    let mut is_progress_forced = false;
    let mut url = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--connections" => {
                connections = parse_count(&name, &value()?, MAX_CONNECTIONS as u64)? as usize;
            }
            "--pipeline" => pipeline = parse_count(&name, &value()?, MAX_PIPELINE as u64)? as usize,
            "--rate" => {
                let text = value()?;
                let rate = text
                    .parse::<f64>()
                    .ok()
                    .filter(|rate| rate.is_finite() && *rate > 0.0 && *rate <= MAX_RATE)
                    .ok_or_else(|| {
                        format!("--rate {text:?} is not a number of requests per second from above 0 to {MAX_RATE}")
                    })?;
                load = Load::Open { rate };
            }
            "--duration" => duration = Some(parse_seconds(&name, &value()?, false)?),
            "--warmup" => warmup = parse_seconds(&name, &value()?, true)?,
            "--timeout" => timeout = parse_seconds(&name, &value()?, false)?,
            "--requests" => requests = Some(parse_count(&name, &value()?, u64::MAX)?),
            "--read-rate" => {
                let text = value()?;
                read_rate = Some(parse_size(&text, u64::MAX).ok_or_else(|| {
                    format!(
                        "--read-rate {text:?} is not a rate like 64k (bytes per second, above 0)"
                    )
                })?);
            }
            "--rcvbuf" => {
                let text = value()?;
                rcvbuf = Some(parse_size(&text, MAX_RCVBUF).ok_or_else(|| {
                    format!("--rcvbuf {text:?} is not a size like 4k (1 byte to 2 GiB)")
                })? as usize);
            }
            "--expect-status" => {
                let text = value()?;
                expect_status = text
                    .parse()
                    .ok()
                    .filter(|status| (100..=599).contains(status))
                    .ok_or_else(|| {
                        format!("--expect-status {text:?} is not a status from 100 to 599")
                    })?;
            }
            "--json" | "--csv" => {
                let wanted = if name == "--json" {
                    Output::Json
                } else {
                    Output::Csv
                };
                if output.is_some_and(|given| given != wanted) {
                    return Err("give at most one of --json and --csv".to_owned());
                }
                output = Some(wanted);
            }
            "--progress" => is_progress_forced = true,
            "--no-checksum" => verifies_checksum = false,
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other:?} (see --help)"))
            }
            _ if url.is_some() => return Err("give one URL".to_owned()),
            _ => url = Some(name),
        }
    }
    let url = url.ok_or("a URL is required, like http://127.0.0.1:8081/bytes/1K")?;
    let (authority, target) = split_url(&url)?;
    if duration.is_none() && requests.is_none() {
        duration = Some(DEFAULT_DURATION);
    }
    Ok(Command::Run(Plan {
        authority,
        target,
        connections,
        pipeline,
        load,
        read_rate,
        rcvbuf,
        expect_status,
        verifies_checksum,
        duration,
        requests,
        warmup,
        timeout,
        output: output.unwrap_or(Output::Human),
        is_progress_forced,
    }))
}

/// `http://HOST[:PORT][/PATH]` into `HOST:PORT` (port 80 when absent) and the target.
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not http://HOST:PORT/PATH (only http is spoken)"))?;
    let (authority, target) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.is_empty() || authority.starts_with(':') {
        return Err(format!("{url:?} has no host"));
    }
    if target.bytes().any(|byte| byte <= b' ' || byte == 0x7f) {
        return Err(format!("{url:?} has a space or control byte in its path"));
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let authority = if has_port {
        authority.to_owned()
    } else if authority.ends_with(':') || authority.contains(':') && !authority.ends_with(']') {
        return Err(format!("{url:?} has a bad port"));
    } else {
        format!("{authority}:80")
    };
    let target = match target {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    Ok((authority, target))
}

/// A whole number from 1 to `max`.
fn parse_count(name: &str, text: &str, max: u64) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("{name} {text:?} is not a whole number from 1 to {max}"))
}

/// Seconds, decimals allowed, up to [`MAX_SECONDS`]; zero only when `may_be_zero`.
fn parse_seconds(name: &str, text: &str, may_be_zero: bool) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s <= MAX_SECONDS && (*s > 0.0 || may_be_zero && *s == 0.0))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            let least = if may_be_zero { "0" } else { "above 0" };
            format!("{name} {text:?} is not a number of seconds from {least} to {MAX_SECONDS}")
        })
}

/// `N`, `Nk`, `Nm` or `Ng` (1024-based, either case), from 1 to `max`.
pub fn parse_size(text: &str, max: u64) -> Option<u64> {
    let (digits, unit) = match text.as_bytes().last()?.to_ascii_lowercase() {
        b'k' => (&text[..text.len() - 1], 1 << 10),
        b'm' => (&text[..text.len() - 1], 1 << 20),
        b'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()?
        .checked_mul(unit)
        .filter(|&size| size > 0 && size <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    fn plan(args: &[&str]) -> Plan {
        match parse(args) {
            Ok(Command::Run(plan)) => plan,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn defaults_are_one_closed_loop_connection_for_ten_seconds() {
        let plan = plan(&["http://127.0.0.1:8081/bytes/1K"]);
        assert_eq!(plan.authority, "127.0.0.1:8081");
        assert_eq!(plan.target, "/bytes/1K");
        assert_eq!((plan.connections, plan.pipeline), (1, 1));
        assert_eq!(plan.load, Load::Closed);
        assert_eq!(plan.duration, Some(DEFAULT_DURATION));
        assert_eq!(plan.requests, None);
        assert_eq!(plan.expect_status, 200);
        assert!(plan.verifies_checksum);
        assert_eq!(plan.output, Output::Human);
        assert_eq!(
            plan.request(),
            b"GET /bytes/1K HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nUser-Agent: spoonfeed-loadgen\r\n\r\n"
        );
    }

    #[test]
    fn every_option_is_read_in_both_spellings() {
        let plan = plan(&[
            "--connections=16",
            "--pipeline",
            "4",
            "--rate",
            "2500.5",
            "--read-rate=64k",
            "--rcvbuf",
            "4K",
            "--expect-status",
            "204",
            "--duration",
            "1.5",
            "--requests=100",
            "--warmup",
            "0",
            "--timeout=2",
            "--csv",
            "--progress",
            "--no-checksum",
            "http://example.org",
        ]);
        assert_eq!((plan.connections, plan.pipeline), (16, 4));
        assert_eq!(plan.load, Load::Open { rate: 2500.5 });
        assert_eq!(plan.read_rate, Some(64 * 1024));
        assert_eq!(plan.rcvbuf, Some(4096));
        assert_eq!(plan.expect_status, 204);
        assert_eq!(plan.duration, Some(Duration::from_millis(1500)));
        assert_eq!(plan.requests, Some(100));
        assert_eq!(plan.timeout, Duration::from_secs(2));
        assert_eq!(plan.output, Output::Csv);
        assert!(plan.is_progress_forced);
        assert!(!plan.verifies_checksum);
        assert_eq!(
            (plan.authority.as_str(), plan.target.as_str()),
            ("example.org:80", "/")
        );
    }

    #[test]
    fn requests_alone_bound_the_run_without_a_default_duration() {
        let plan = plan(&["--requests", "5", "http://a:1/x?y=1"]);
        assert_eq!((plan.duration, plan.requests), (None, Some(5)));
        assert_eq!(plan.target, "/x?y=1");
        assert_eq!(self::plan(&["http://a:1?q"]).target, "/?q");
    }

    #[test]
    fn refuses_bad_arguments_with_a_reason_naming_the_culprit() {
        for (args, culprit) in [
            (&[][..], "URL is required"),
            (&["--bogus", "http://a/"], "unknown option \"--bogus\""),
            (&["-x", "http://a/"], "unknown option \"-x\""),
            (&["--connections"], "--connections needs a value"),
            (&["--connections", "0", "http://a/"], "--connections \"0\""),
            (
                &["--connections", "many", "http://a/"],
                "--connections \"many\"",
            ),
            (&["--connections", "100001", "http://a/"], "--connections"),
            (&["--pipeline", "1025", "http://a/"], "--pipeline"),
            (&["--rate", "0", "http://a/"], "--rate \"0\""),
            (&["--rate", "-5", "http://a/"], "--rate"),
            (&["--rate", "NaN", "http://a/"], "--rate"),
            (&["--rate", "inf", "http://a/"], "--rate"),
            (&["--read-rate", "0k", "http://a/"], "--read-rate"),
            (&["--read-rate", "1.5k", "http://a/"], "--read-rate"),
            (&["--rcvbuf", "4g", "http://a/"], "--rcvbuf"),
            (&["--expect-status", "99", "http://a/"], "--expect-status"),
            (&["--expect-status", "600", "http://a/"], "--expect-status"),
            (&["--duration", "0", "http://a/"], "--duration \"0\""),
            (&["--duration", "1e9", "http://a/"], "--duration"),
            (&["--warmup", "-1", "http://a/"], "--warmup"),
            (&["--timeout", "0", "http://a/"], "--timeout"),
            (&["--requests", "0", "http://a/"], "--requests"),
            (
                &["--json", "--csv", "http://a/"],
                "at most one of --json and --csv",
            ),
            (&["https://a/"], "only http"),
            (&["http:///x"], "no host"),
            (&["http://a:/x"], "bad port"),
            (&["http://a:b/x"], "bad port"),
            (&["http://a/x y"], "space"),
            (&["http://a/", "http://b/"], "one URL"),
        ] {
            let err = parse(args).expect_err(&format!("{args:?} must be refused"));
            assert!(err.contains(culprit), "{args:?}: {err:?} lacks {culprit:?}");
        }
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        assert_eq!(parse(&["--bogus", "--help"]).map_err(|_| ()), Err(()));
    }

    #[test]
    fn sizes_are_1024_based() {
        assert_eq!(parse_size("128k", u64::MAX), Some(128 * 1024));
        assert_eq!(parse_size("1M", u64::MAX), Some(1 << 20));
        assert_eq!(parse_size("2g", u64::MAX), Some(2 << 30));
        assert_eq!(parse_size("500", u64::MAX), Some(500));
        for bad in ["", "k", "0", "1.5k", "-1", "12x", "99999999999999999999g"] {
            assert_eq!(parse_size(bad, u64::MAX), None, "{bad:?}");
        }
        assert_eq!(parse_size("3g", MAX_RCVBUF), None);
    }

    #[test]
    fn usage_mentions_every_option() {
        for option in [
            "--connections",
            "--pipeline",
            "--rate",
            "--duration",
            "--requests",
            "--warmup",
            "--timeout",
            "--read-rate",
            "--rcvbuf",
            "--expect-status",
            "--json",
            "--csv",
            "--progress",
            "--help",
        ] {
            assert!(USAGE.contains(option), "{option}");
        }
    }
}
