//! `origin`: runs the bundled origin server as a process, for benchmarks and manual testing.
//!
//! Owns command-line parsing only; the server is `spoonfeed_origin`. Prints the bound
//! address, alone on one line, on stdout once it accepts connections, then runs until killed.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;

use spoonfeed_origin::{Origin, OriginConfig, DEFAULT_MAX_CONNECTIONS, MAX_SEND_BUFFER};

/// Listen address when `--listen` is not given.
const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

const USAGE: &str = "\
usage: origin [--listen ADDR:PORT] [--workers N] [--sndbuf SIZE]

Runs the spoonfeed test origin server until killed. Prints the bound address on stdout.

options:
  --listen ADDR:PORT     address to listen on (default 127.0.0.1:8081; port 0 picks one)
  --workers N            connections served at once, one thread each, like mod_perl children:
                         a connection holds its worker until it closes (idle keep-alive too),
                         and more wait unanswered in the listen backlog (default 256).
                         A heavy backend with 4 workers is `origin --workers 4`.
  --max-connections N    the same as --workers
  --sndbuf SIZE          SO_SNDBUF of every accepted connection, set before any byte is
                         written: N, Nk or Nm bytes (default: the OS's, which Linux autotunes
                         up to 4 MiB, so a write of a body of a few MiB returns at once
                         whoever reads it). A heavy backend that stays busy until its peer
                         has taken its answer is `origin --sndbuf 64k`. Linux doubles SIZE and
                         first caps it at net.core.wmem_max, silently (a warning is printed
                         if SIZE is above it); GET /_origin/stats shows the result as
                         \"send_buffer\".
  --help, -h             print this help

Endpoints are documented in spoonfeed_origin: /bytes/N, /sink, /echo, /inspect,
/redirect, /status/N, /close-after-head, /reset. Outside them:
  GET  /_origin/stats        counters and busy times (head read to last write, and accept to
                             close, in microseconds: count, p50, p90, p99, max) as JSON
  POST /_origin/stats/reset  the same answer, then the busy times are cleared
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Serve {
        listen: SocketAddr,
        max_connections: usize,
        send_buffer: Option<usize>,
    },
}

/// Bytes in `value`, written N, Nk or Nm (KiB, MiB; either case), from 1 to
/// [`MAX_SEND_BUFFER`].
fn parse_size(value: &str) -> Option<usize> {
    spoonfeed_tools::loadgen::args::parse_size(value, MAX_SEND_BUFFER as u64).map(|n| n as usize)
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut listen = None;
    let mut max_connections = None;
    let mut send_buffer = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--listen" | "--workers" | "--max-connections" | "--sndbuf" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))?;
                if name == "--listen" {
                    let addr = value.parse().map_err(|_| {
                        format!("--listen {value:?} is not ADDR:PORT, like 127.0.0.1:8081")
                    })?;
                    listen = Some(addr);
                } else if name == "--sndbuf" {
                    let size = parse_size(&value).ok_or_else(|| {
                        format!(
                            "--sndbuf {value:?} is not N, Nk or Nm bytes \
                             from 1 to {MAX_SEND_BUFFER}, like 64k"
                        )
                    })?;
                    send_buffer = Some(size);
                } else {
                    let n = value
                        .parse()
                        .ok()
                        .filter(|&n: &usize| n > 0)
                        .ok_or_else(|| format!("{name} {value:?} is not a positive number"))?;
                    max_connections = Some(n);
                }
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Serve {
        listen: listen
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("the default address parses")),
        max_connections: max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        send_buffer,
    })
}

/// `net.core.wmem_max`, where the kernel caps SO_SNDBUF; `None` if unknown (not Linux).
fn wmem_max() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn main() -> ExitCode {
    let (listen, max_connections, send_buffer) = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve {
            listen,
            max_connections,
            send_buffer,
        }) => (listen, max_connections, send_buffer),
        Err(why) => {
            eprintln!("origin: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let (Some(size), Some(max)) = (send_buffer, wmem_max()) {
        if size > max {
            eprintln!(
                "origin: --sndbuf {size} is above net.core.wmem_max ({max}): Linux caps it there \
                 (sysctl -w net.core.wmem_max={size} to allow it)"
            );
        }
    }
    let cfg = OriginConfig {
        listen,
        max_connections,
        send_buffer,
        ..OriginConfig::default()
    };
    let origin = match Origin::start(cfg) {
        Ok(origin) => origin,
        Err(err) => {
            eprintln!("origin: cannot listen on {listen}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", origin.addr());
    loop {
        thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn defaults_to_port_8081_on_loopback() {
        let Ok(Command::Serve {
            listen,
            max_connections,
            send_buffer,
        }) = parse(&[])
        else {
            panic!("no arguments must serve");
        };
        assert_eq!(listen.to_string(), "127.0.0.1:8081");
        assert_eq!(max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(send_buffer, None, "the OS default");
    }

    #[test]
    fn accepts_options_as_separate_or_joined_values() {
        let expected = Command::Serve {
            listen: "0.0.0.0:0".parse().unwrap(),
            max_connections: 9,
            send_buffer: Some(65536),
        };
        assert_eq!(
            parse(&[
                "--listen",
                "0.0.0.0:0",
                "--max-connections",
                "9",
                "--sndbuf",
                "64k"
            ]),
            Ok(expected)
        );
        assert_eq!(parse(&["--listen=[::1]:80"]).map(|_| ()), Ok(()));
        assert_eq!(parse(&["--max-connections=3", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn workers_is_max_connections_by_another_name() {
        let four = Command::Serve {
            listen: DEFAULT_LISTEN.parse().unwrap(),
            max_connections: 4,
            send_buffer: None,
        };
        assert_eq!(parse(&["--workers", "4"]), Ok(four));
        assert_eq!(parse(&["--workers=4"]), parse(&["--max-connections", "4"]));
        assert_eq!(
            parse(&["--workers", "0"]),
            Err("--workers \"0\" is not a positive number".to_owned())
        );
    }

    fn send_buffer(args: &[&str]) -> Result<Option<usize>, String> {
        match parse(args)? {
            Command::Serve { send_buffer, .. } => Ok(send_buffer),
            Command::Help => panic!("{args:?} is not a help request"),
        }
    }

    #[test]
    fn sndbuf_takes_bytes_kib_or_mib() {
        assert_eq!(send_buffer(&["--sndbuf", "65536"]), Ok(Some(65536)));
        assert_eq!(send_buffer(&["--sndbuf", "64k"]), Ok(Some(64 << 10)));
        assert_eq!(send_buffer(&["--sndbuf=64K"]), Ok(Some(64 << 10)));
        assert_eq!(send_buffer(&["--sndbuf", "1m"]), Ok(Some(1 << 20)));
        assert_eq!(send_buffer(&["--sndbuf=2M"]), Ok(Some(2 << 20)));
        assert_eq!(send_buffer(&["--sndbuf", "1"]), Ok(Some(1)));
        assert_eq!(
            send_buffer(&["--sndbuf", "2047m"]),
            Ok(Some(2047 << 20)),
            "just under MAX_SEND_BUFFER"
        );
    }

    #[test]
    fn sndbuf_refuses_zero_units_it_does_not_know_and_sizes_past_a_c_int() {
        for value in [
            "0",
            "0k",
            "k",
            "",
            "-1",
            "+64k",
            "64kb",
            "64 k",
            "64g",
            "1.5m",
            "0x10",
            "2048m",
            "2147483648",
            "99999999999999999999k",
        ] {
            let why = send_buffer(&["--sndbuf", value]).unwrap_err();
            assert!(
                why.starts_with(&format!("--sndbuf {value:?} is not N, Nk or Nm bytes")),
                "{value:?}: {why}"
            );
        }
        assert_eq!(
            send_buffer(&["--sndbuf"]),
            Err("--sndbuf needs a value".to_owned())
        );
    }

    #[test]
    fn refuses_bad_arguments_with_a_reason() {
        for args in [
            &["--listen"][..],
            &["--listen", "localhost"],
            &["--listen", "1.2.3.4"],
            &["--max-connections", "0"],
            &["--max-connections", "x"],
            &["--workers"],
            &["--workers", "-1"],
            &["--port", "1"],
            &["8081"],
        ] {
            let why = parse(args).unwrap_err();
            assert!(!why.is_empty(), "{args:?}");
        }
    }
}
