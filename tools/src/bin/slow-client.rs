//! `slow-client`: concurrent HTTP/1.1 GETs that each read their answer at a fixed rate, like
//! clients on slow links, for `tools/scripts/slow-clients.sh`.
//!
//! Owns argument parsing, the pacing and a minimal reading of the answer (status line,
//! `Content-Length`); it must not be mistaken for an HTTP client: no TLS, no redirects, no
//! chunked decoding (a chunked answer counts its framing as body and is reported as such).
//! Prints one line per client when it ends, `STATUS BODY_BYTES SECONDS` as curl's
//! `-w '%{http_code} %{size_download} %{time_total}'` does, `000` for no status.
//!
//! Why not `curl --limit-rate`: curl (7.88) averages its rate over seconds and reads all the
//! kernel holds in one round, so on loopback a 1 MiB answer "at 128k" ends in milliseconds.
//! Here each read takes at most [`READ_BYTES`] and is followed by the sleep that keeps the client
//! at its rate since it started: it can run ahead of the rate by one read, never more.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

/// Most bytes one read takes, and so the most a client gets ahead of its rate.
const READ_BYTES: usize = 4096;

/// Longest response head kept to find the status and `Content-Length`; past it the answer is
/// read and counted but its head is not parsed.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Most clients one process runs, one thread each.
const MAX_CLIENTS: usize = 10_000;

/// Longest a client may take, connect to last byte, when `--timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

const USAGE: &str = "\
usage: slow-client --rate RATE [--clients N] [--timeout SECONDS] http://HOST:PORT/PATH

Runs N clients at once (default 1), each sending one GET with Connection: close and reading the
answer at RATE bytes per second (k, m, g: KiB, MiB, GiB, as curl's --limit-rate), head included.
Prints one line per client as it ends: STATUS BODY_BYTES SECONDS (000 when no status came).
A client is given up after --timeout seconds (default 600). Exit status 0 when every client
got a whole answer (Content-Length bytes, or up to the close without one), 1 otherwise.
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Run(Plan),
}

/// The clients to run.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    /// Bytes per second per client. Invariant: > 0.
    rate: u64,
    /// Invariant: 1..=MAX_CLIENTS.
    clients: usize,
    timeout: Duration,
    /// `HOST:PORT`, as sent in `Host` and connected to.
    authority: String,
    /// Path and query, starting with `/`.
    target: String,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let (mut rate, mut clients, mut timeout, mut url) = (None, 1, DEFAULT_TIMEOUT, None);
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
            "--rate" => {
                let text = value()?;
                rate = Some(
                    parse_rate(&text).ok_or_else(|| format!("--rate {text:?} is not like 128k"))?,
                );
            }
            "--clients" => {
                let text = value()?;
                clients = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_CLIENTS).contains(n))
                    .ok_or_else(|| format!("--clients {text:?} is not from 1 to {MAX_CLIENTS}"))?;
            }
            "--timeout" => {
                let text = value()?;
                timeout = text
                    .parse()
                    .ok()
                    .filter(|&s: &u64| s > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| format!("--timeout {text:?} is not a positive number"))?;
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            _ if url.is_some() => return Err("give one URL".to_owned()),
            _ => url = Some(name),
        }
    }
    let rate = rate.ok_or("--rate is required")?;
    let url = url.ok_or("a URL is required")?;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not http://HOST:PORT/PATH"))?;
    let (authority, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok(Command::Run(Plan {
        rate,
        clients,
        timeout,
        authority,
        target: if target.is_empty() { "/" } else { target }.to_owned(),
    }))
}

/// `N`, `Nk`, `Nm` or `Ng` bytes per second, 1024-based; zero is refused.
fn parse_rate(text: &str) -> Option<u64> {
    spoonfeed_tools::loadgen::args::parse_size(text, u64::MAX)
}

/// How one client ended.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// The answer's status; 0 when none was read.
    status: u16,
    /// Bytes after the head.
    body_bytes: u64,
    /// Whether the whole answer came: `Content-Length` bytes, or up to the close without one.
    is_whole: bool,
}

/// What the head of an answer says, once it is whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    /// Bytes of the head, its empty line included.
    length: usize,
    status: u16,
    content_length: Option<u64>,
}

/// Parses the head at the start of `bytes`; `None` until its empty line has arrived.
fn parse_head(bytes: &[u8]) -> Option<Head> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.strip_prefix("HTTP/1."))
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let content_length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok());
    Some(Head {
        length: end,
        status,
        content_length,
    })
}

/// Fetches `plan`'s URL at its rate; `started` is when the client began, for the pacing.
fn fetch(plan: &Plan, started: Instant) -> io::Result<Outcome> {
    let deadline = started + plan.timeout;
    let addr = plan
        .authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{} resolves to nothing", plan.authority)))?;
    let mut stream = TcpStream::connect_timeout(&addr, plan.timeout)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: spoonfeed-slow-client\r\nConnection: close\r\n\r\n",
        plan.target, plan.authority
    );
    stream.write_all(request.as_bytes())?;
    let mut head_bytes = Vec::new();
    let mut head = None;
    let mut received = 0u64;
    let mut block = [0; READ_BYTES];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "client timed out"))?;
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut block)?;
        if n == 0 {
            break;
        }
        received += n as u64;
        if head.is_none() && head_bytes.len() < MAX_HEAD_BYTES {
            head_bytes.extend_from_slice(&block[..n]);
            head = parse_head(&head_bytes);
        }
        if let Some(Head {
            length,
            content_length: Some(body),
            ..
        }) = head
        {
            if received >= length as u64 + body {
                break;
            }
        }
        // Sleep until the bytes received so far are due at the rate, counting from the start.
        let due = started + Duration::from_secs_f64(received as f64 / plan.rate as f64);
        if let Some(ahead) = due.checked_duration_since(Instant::now()) {
            thread::sleep(ahead.min(left));
        }
    }
    Ok(match head {
        None => Outcome {
            status: 0,
            body_bytes: 0,
            is_whole: false,
        },
        Some(head) => {
            let body_bytes = received - head.length as u64;
            Outcome {
                status: head.status,
                body_bytes,
                is_whole: head.content_length.is_none_or(|want| body_bytes == want),
            }
        }
    })
}

fn main() -> ExitCode {
    let plan = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(plan)) => plan,
        Err(why) => {
            eprintln!("slow-client: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let all_whole = thread::scope(|scope| {
        let clients: Vec<_> = (0..plan.clients)
            .map(|_| {
                let plan = &plan;
                scope.spawn(move || {
                    let started = Instant::now();
                    let outcome = fetch(plan, started).unwrap_or_else(|err| {
                        eprintln!("slow-client: {err}");
                        Outcome {
                            status: 0,
                            body_bytes: 0,
                            is_whole: false,
                        }
                    });
                    println!(
                        "{:03} {} {:.6}",
                        outcome.status,
                        outcome.body_bytes,
                        started.elapsed().as_secs_f64()
                    );
                    outcome.is_whole
                })
            })
            .collect();
        clients
            .into_iter()
            .all(|client| client.join().unwrap_or(false))
    });
    if all_whole {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn rates_are_1024_based_like_curl() {
        assert_eq!(parse_rate("128k"), Some(128 * 1024));
        assert_eq!(parse_rate("1M"), Some(1 << 20));
        assert_eq!(parse_rate("500"), Some(500));
        for bad in [
            "",
            "k",
            "0",
            "0k",
            "1.5k",
            "-1",
            "12x",
            "99999999999999999999g",
        ] {
            assert_eq!(parse_rate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_a_plan_with_defaults_and_the_url_split() {
        let Ok(Command::Run(plan)) = parse(&["--rate=64k", "http://127.0.0.1:8081/bytes/1M?x=1"])
        else {
            panic!("must run");
        };
        assert_eq!(
            plan,
            Plan {
                rate: 64 * 1024,
                clients: 1,
                timeout: DEFAULT_TIMEOUT,
                authority: "127.0.0.1:8081".to_owned(),
                target: "/bytes/1M?x=1".to_owned(),
            }
        );
        let Ok(Command::Run(plan)) =
            parse(&["http://localhost", "--clients", "50", "--rate", "1m"])
        else {
            panic!("must run");
        };
        assert_eq!(
            (plan.clients, plan.authority.as_str(), plan.target.as_str()),
            (50, "localhost:80", "/")
        );
    }

    #[test]
    fn refuses_bad_arguments_with_a_reason() {
        for args in [
            &[][..],
            &["http://a/"],
            &["--rate", "1k"],
            &["--rate", "1k", "https://a/"],
            &["--rate", "1k", "http:///x"],
            &["--rate", "1k", "--clients", "0", "http://a/"],
            &["--rate", "1k", "--timeout", "0", "http://a/"],
            &["--rate", "1k", "http://a/", "http://b/"],
            &["--rate", "1k", "--bogus", "http://a/"],
            &["--rate"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn head_gives_status_length_and_where_the_body_starts() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nX: y\r\n\r\nhello";
        assert_eq!(parse_head(&answer[..20]), None);
        assert_eq!(
            parse_head(answer),
            Some(Head {
                length: answer.len() - 5,
                status: 200,
                content_length: Some(5),
            })
        );
        let no_length = parse_head(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap();
        assert_eq!((no_length.status, no_length.content_length), (404, None));
        assert_eq!(parse_head(b"garbage\r\n\r\n").unwrap().status, 0);
    }
}
