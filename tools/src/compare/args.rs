//! The command line of `compare`: workloads, targets, rounds, pinning and output, with every
//! limit and refusal.
//!
//! Owns parsing and validation only: nothing here starts a process or opens a socket. Every
//! refusal names the flag and says what to give, so [`Options`]' invariants hold for the runner.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::sweep::units::{directive_size, parse_size};

/// Most connections one workload opens: the in-process origin runs a thread per connection and
/// a proxy opens up to one backend connection per client, so past it the box, not the proxy,
/// is measured.
pub const MAX_CONNECTIONS: usize = 1024;

/// Largest response a workload asks for: the bundled origin generates bodies on the fly, but a
/// run should see many exchanges.
pub const MAX_RESPONSE: u64 = 1 << 30;

/// Slowest and fastest read rate of the slow-client scenario, bytes per second. Below 1 KiB/s
/// one 1 MiB exchange takes a quarter of an hour.
pub const MIN_READ_RATE: u64 = 1 << 10;
pub const MAX_READ_RATE: u64 = 1 << 30;

/// Most `--rounds`.
pub const MAX_ROUNDS: usize = 100;

/// Longest `--duration` and `--warmup`: an hour.
pub const MAX_SECONDS: f64 = 3600.0;

/// Rounds when `--rounds` is not given: the fewest with a median that ignores one outlier.
pub const DEFAULT_ROUNDS: usize = 3;

/// Measured time per run when `--duration` is not given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Unmeasured load before each closed-loop run, so a freshly started proxy has its backend
/// connections open and its memory touched before anything is recorded.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(1);

/// `SO_SNDBUF` of the proxies' client sockets and of the origin's sockets in the slow-client
/// scenario, when `--sndbuf` is not given. Small, as in `bufsweep`, so the kernel does not do
/// the buffering being compared.
pub const DEFAULT_SLOW_SNDBUF: u64 = 64 << 10;

/// `SO_RCVBUF` of the slow clients when `--rcvbuf` is not given.
pub const DEFAULT_SLOW_RCVBUF: u64 = 16 << 10;

/// The slow-client scenario that `slow` alone stands for: 32 clients reading 1 MiB at
/// 256 KiB/s (4 s per exchange).
pub const DEFAULT_SLOW: Workload = Workload::SlowClients {
    size: 1 << 20,
    connections: 32,
    read_rate: 256 << 10,
};

/// The workloads run when `--workloads` is not given.
pub const DEFAULT_WORKLOADS: &str = "0@16,1k@16,64k@16,1m@16,0@256,1k@256,64k@256,1m@256,slow";

pub const USAGE: &str = "\
usage: compare [options]

Runs the same workloads against spoonfeed, the backend direct (the limit of this box), and
nginx and HAProxy when installed, and prints per workload and target the median requests/s
with min-max over the rounds, the p99 latency, and the ratios to direct and to the best peer.

workloads (--workloads LIST, comma-separated; default
    0@16,1k@16,64k@16,1m@16,0@256,1k@256,64k@256,1m@256,slow):
  SIZE@CONNS              closed loop: CONNS keep-alive connections (1 to 1024), each sending
                          its next GET as soon as the last response ended, for responses of
                          SIZE bytes (N, Nk, Nm or Ng, 1024-based; 0 to 1g). Compared on
                          requests/s: higher is better.
  slow[:SIZE@CONNS/RATE]  the slow-client scenario: CONNS connections each reading SIZE-byte
                          responses at RATE bytes per second (1k to 1g), with a small receive
                          buffer (--rcvbuf), several exchanges each (whole rounds filling about
                          --duration, at least one). Reports the backend hold: the origin's busy
                          time per request (head read to last byte accepted by its kernel),
                          p50 and p99. Compared on hold p99: lower is better. `slow` alone is
                          slow:1m@32/256k.

targets:
  --targets LIST          any of spoonfeed, direct, nginx, haproxy (default all four). nginx
                          and haproxy are skipped, with a message, when their binary is not
                          found. Each proxy runs with one worker (spoonfeed Workers 1, nginx
                          worker_processes 1, HAProxy nbthread 1), keep-alive to the clients
                          and to the backend, and a fresh process for every run:
                            spoonfeed  its defaults, MaxKeepAliveRequests 0
                            nginx      proxy_buffering on with the room spoonfeed has by
                                       default (proxy_buffers 64 16k, 1 MiB per response), no
                                       temporary files; upstream keepalive
                            haproxy    mode http, http-reuse always, its default buffers
                          In the slow-client scenario every proxy's client sockets and the
                          origin's sockets get SO_SNDBUF --sndbuf (spoonfeed SendBufferSize,
                          nginx listen sndbuf=, HAProxy tune.sndbuf.client).
  --spoonfeed PATH        the spoonfeed binary. Default: target/release/spoonfeed in the first
                          directory, from the current one upwards, whose Cargo.toml declares a
                          [workspace] ($CARGO_TARGET_DIR/release/spoonfeed when set), else a
                          spoonfeed next to this binary. Build: cargo build --release --workspace --bins
  --nginx PATH            the nginx binary (default: nginx on PATH, /usr/sbin or /usr/local/sbin)
  --haproxy PATH          the haproxy binary (default: found the same way)
  The backend is the bundled origin, run inside this process (GET /bytes/SIZE).

measurement:
  --rounds N              rounds (1 to 100, default 3). Rounds are interleaved: each round
                          runs every workload against every target, the order of targets
                          rotating from round to round, so a drift of the machine spreads
                          over all targets instead of landing on one.
  --duration SECS         measured time per closed-loop run (decimals allowed; default 10, at
                          most 3600); for the slow scenario, the time its whole rounds fill
  --warmup SECS           unmeasured load before each closed-loop run (default 1; 0 for none)
  --sndbuf SIZE           slow scenario: SO_SNDBUF of the proxies' client sockets and of the
                          origin (default 64k, 4k to 64m; Linux doubles it and caps it at
                          net.core.wmem_max)
  --rcvbuf SIZE           slow scenario: SO_RCVBUF of the clients (default 16k, 1k to 64m)
  --no-checksum           verify status and length only, not the bodies' checksums: for
                          1 MiB responses the single-threaded load generator's hashing,
                          not the proxy, would bound the rate
  Every target is checked before each run to answer 200 with a body of the expected size;
  every response of a run is verified (status, length, checksum) and failures are counted.

pinning (fair comparisons on 2 cores):
  --pin PROXY,LOAD        CPU of the proxy under test, and CPU of the rest (default 0,1).
                          compare pins itself to LOAD (taskset -a -p: the in-process origin
                          and load generator then run there) and starts each proxy under
                          taskset -c PROXY, so the proxy has a core of its own and the
                          backend and the clients share the other. Direct runs get both CPUs
                          (compare widens itself to PROXY,LOAD for them): the box without a
                          proxy, which is what the ratios to direct compare with. Without
                          taskset, or when it fails, nothing is pinned and a message says so.
                          Starting compare under taskset changes nothing: it sets its own
                          affinity, and its proxies'.
  --pin off               pin nothing

output (on stdout; a progress line per run on stderr):
  (default)               a table
  --json                  one JSON object: the settings, and per workload and target the
                          summary with every round's requests/s
  --csv                   a header line and one row per workload and target
  --help, -h              print this help

Exit status: 0 when every run completed without a failed exchange, 1 when an exchange
failed, 2 for a usage error or a target that could not be started or answered wrongly.
";

/// One workload: what the clients ask for and how they read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Closed loop, keep-alive, reading as fast as they can; compared on requests/s.
    /// Invariant: `size <= MAX_RESPONSE`, `connections` in `1..=MAX_CONNECTIONS`.
    Closed { size: u64, connections: usize },
    /// Slow readers; compared on the backend hold p99. Invariant: `size` in
    /// `1..=MAX_RESPONSE`, `read_rate` in `MIN_READ_RATE..=MAX_READ_RATE`.
    SlowClients {
        size: u64,
        connections: usize,
        read_rate: u64,
    },
}

impl Workload {
    /// Response body size, bytes.
    pub fn size(self) -> u64 {
        match self {
            Workload::Closed { size, .. } | Workload::SlowClients { size, .. } => size,
        }
    }

    pub fn connections(self) -> usize {
        match self {
            Workload::Closed { connections, .. } | Workload::SlowClients { connections, .. } => {
                connections
            }
        }
    }

    pub fn is_slow(self) -> bool {
        matches!(self, Workload::SlowClients { .. })
    }

    /// The request target on the bundled origin.
    pub fn request_target(self) -> String {
        format!("/bytes/{}", self.size())
    }

    /// Reads `SIZE@CONNS`, `slow` or `slow:SIZE@CONNS/RATE`.
    pub fn parse(text: &str) -> Result<Workload, String> {
        if text == "slow" {
            return Ok(DEFAULT_SLOW);
        }
        let (is_slow, rest) = match text.strip_prefix("slow:") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let shape = if is_slow {
            "slow:SIZE@CONNS/RATE, like slow:1m@32/256k"
        } else {
            "SIZE@CONNS, like 1k@16"
        };
        let bad = |why: String| format!("workload {text:?}: {why} (give {shape})");
        let (size, rest) = rest.split_once('@').ok_or_else(|| bad("no @".to_owned()))?;
        let (connections, rate) = if is_slow {
            let (c, r) = rest
                .split_once('/')
                .ok_or_else(|| bad("no /RATE".to_owned()))?;
            (c, Some(r))
        } else {
            (rest, None)
        };
        let size = parse_size(size).map_err(bad)?;
        if size > MAX_RESPONSE || (is_slow && size == 0) {
            let least = if is_slow { "1" } else { "0" };
            return Err(bad(format!("the size must be from {least} to 1g")));
        }
        let connections = connections
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_CONNECTIONS).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "connections {connections:?} is not a whole number from 1 to {MAX_CONNECTIONS}"
                ))
            })?;
        Ok(match rate {
            None => Workload::Closed { size, connections },
            Some(rate) => {
                let read_rate = parse_size(rate)
                    .ok()
                    .filter(|r| (MIN_READ_RATE..=MAX_READ_RATE).contains(r))
                    .ok_or_else(|| bad(format!("read rate {rate:?} is not from 1k to 1g")))?;
                Workload::SlowClients {
                    size,
                    connections,
                    read_rate,
                }
            }
        })
    }
}

impl fmt::Display for Workload {
    /// As the command line gives it: `1k@16`, `slow:1m@32/256k`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Workload::Closed { size, connections } => {
                write!(f, "{}@{connections}", directive_size(size))
            }
            Workload::SlowClients {
                size,
                connections,
                read_rate,
            } => write!(
                f,
                "slow:{}@{connections}/{}",
                directive_size(size),
                directive_size(read_rate)
            ),
        }
    }
}

/// Who answers the clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Spoonfeed,
    /// The bundled origin itself: the limit of the box.
    Direct,
    Nginx,
    Haproxy,
}

impl Target {
    /// In the order runs and tables list them.
    pub const ALL: [Target; 4] = [
        Target::Direct,
        Target::Spoonfeed,
        Target::Nginx,
        Target::Haproxy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Spoonfeed => "spoonfeed",
            Target::Direct => "direct",
            Target::Nginx => "nginx",
            Target::Haproxy => "haproxy",
        }
    }

    /// Whether it is a proxy, hence a peer of the other proxies.
    pub fn is_proxy(self) -> bool {
        match self {
            Target::Direct => false,
            Target::Spoonfeed | Target::Nginx | Target::Haproxy => true,
        }
    }

    pub fn parse(text: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == text)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which CPUs the proxy and the rest run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin {
    Off,
    /// Invariant: `proxy != load`.
    Cpus {
        proxy: usize,
        load: usize,
    },
}

/// Where the results go and in which form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Csv,
}

/// The command line, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Invariant: non-empty, no repeats.
    pub workloads: Vec<Workload>,
    /// Invariant: non-empty, no repeats, in [`Target::ALL`]'s order.
    pub targets: Vec<Target>,
    /// Invariant: `1..=MAX_ROUNDS`.
    pub rounds: usize,
    /// Invariant: non-zero.
    pub duration: Duration,
    pub warmup: Duration,
    pub slow_sndbuf: u64,
    pub slow_rcvbuf: u64,
    pub pin: Pin,
    pub spoonfeed: Option<PathBuf>,
    pub nginx: Option<PathBuf>,
    pub haproxy: Option<PathBuf>,
    pub output: Output,
    /// Whether bodies are hashed and compared with the origin's checksum (not with
    /// `--no-checksum`).
    pub verifies_checksum: bool,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Help,
    Run(Box<Options>),
}

/// The options, each taking a value but `--json`, `--csv` and `--no-checksum`.
const OPTIONS: [&str; 11] = [
    "--workloads",
    "--targets",
    "--rounds",
    "--duration",
    "--warmup",
    "--sndbuf",
    "--rcvbuf",
    "--pin",
    "--spoonfeed",
    "--nginx",
    "--haproxy",
];

/// Parses `compare`'s arguments (without the program name). `--flag VALUE` and `--flag=VALUE`
/// both work; no option may be given twice; `--help` anywhere wins.
pub fn parse_args<I, S>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help);
    }
    let mut workloads = None;
    let mut targets = None;
    let mut rounds = None;
    let mut duration = None;
    let mut warmup = None;
    let mut sndbuf = None;
    let mut rcvbuf = None;
    let mut pin = None;
    let mut spoonfeed = None;
    let mut nginx = None;
    let mut haproxy = None;
    let mut output = None;
    let mut verifies_checksum = true;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if name == "--json" || name == "--csv" {
            if inline.is_some() {
                return Err(format!("{name} takes no value"));
            }
            let wanted = if name == "--json" {
                Output::Json
            } else {
                Output::Csv
            };
            if output.is_some_and(|given| given != wanted) {
                return Err("give at most one of --json and --csv".to_owned());
            }
            output = Some(wanted);
            continue;
        }
        if name == "--no-checksum" {
            if inline.is_some() {
                return Err(format!("{name} takes no value"));
            }
            verifies_checksum = false;
            continue;
        }
        if !OPTIONS.contains(&name.as_str()) {
            return Err(if name.starts_with('-') {
                format!("unknown option {name:?} (see --help)")
            } else {
                format!("unexpected argument {name:?}: compare takes options only (see --help)")
            });
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("{name} needs a value (see --help)"))?,
        };
        let name = name.as_str();
        match name {
            "--workloads" => once(&mut workloads, name, parse_workloads(&value)?)?,
            "--targets" => once(&mut targets, name, parse_targets(&value)?)?,
            "--rounds" => {
                let n = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_ROUNDS).contains(n))
                    .ok_or_else(|| {
                        format!("--rounds {value:?}: give a whole number from 1 to {MAX_ROUNDS}")
                    })?;
                once(&mut rounds, name, n)?;
            }
            "--duration" => once(&mut duration, name, parse_seconds(name, &value, false)?)?,
            "--warmup" => once(&mut warmup, name, parse_seconds(name, &value, true)?)?,
            "--sndbuf" => once(&mut sndbuf, name, parse_buffer(name, &value, 4 << 10)?)?,
            "--rcvbuf" => once(&mut rcvbuf, name, parse_buffer(name, &value, 1 << 10)?)?,
            "--pin" => once(&mut pin, name, parse_pin(&value)?)?,
            "--spoonfeed" => once(&mut spoonfeed, name, PathBuf::from(&value))?,
            "--nginx" => once(&mut nginx, name, PathBuf::from(&value))?,
            "--haproxy" => once(&mut haproxy, name, PathBuf::from(&value))?,
            _ => unreachable!("{name} is in OPTIONS without a case"),
        }
    }
    let workloads = match workloads {
        Some(w) => w,
        None => parse_workloads(DEFAULT_WORKLOADS)?,
    };
    Ok(Command::Run(Box::new(Options {
        workloads,
        targets: targets.unwrap_or_else(|| Target::ALL.to_vec()),
        rounds: rounds.unwrap_or(DEFAULT_ROUNDS),
        duration: duration.unwrap_or(DEFAULT_DURATION),
        warmup: warmup.unwrap_or(DEFAULT_WARMUP),
        slow_sndbuf: sndbuf.unwrap_or(DEFAULT_SLOW_SNDBUF),
        slow_rcvbuf: rcvbuf.unwrap_or(DEFAULT_SLOW_RCVBUF),
        pin: pin.unwrap_or(Pin::Cpus { proxy: 0, load: 1 }),
        spoonfeed,
        nginx,
        haproxy,
        output: output.unwrap_or(Output::Table),
        verifies_checksum,
    })))
}

fn once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    if slot.replace(value).is_some() {
        return Err(format!("{name} given twice"));
    }
    Ok(())
}

/// A comma-separated list of workloads, no repeats.
pub fn parse_workloads(text: &str) -> Result<Vec<Workload>, String> {
    let mut out: Vec<Workload> = Vec::new();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!("--workloads {text:?}: an empty item"));
        }
        let workload = Workload::parse(item).map_err(|e| format!("--workloads: {e}"))?;
        if out.contains(&workload) {
            return Err(format!("--workloads: {workload} given twice"));
        }
        out.push(workload);
    }
    Ok(out)
}

/// A comma-separated list of targets, no repeats, into [`Target::ALL`]'s order.
fn parse_targets(text: &str) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let target = Target::parse(item).ok_or_else(|| {
            format!("--targets: {item:?} is not one of spoonfeed, direct, nginx, haproxy")
        })?;
        if out.contains(&target) {
            return Err(format!("--targets: {target} given twice"));
        }
        out.push(target);
    }
    out.sort_by_key(|t| Target::ALL.iter().position(|a| a == t));
    Ok(out)
}

fn parse_seconds(name: &str, text: &str, may_be_zero: bool) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s <= MAX_SECONDS && (*s > 0.0 || may_be_zero && *s == 0.0))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            let least = if may_be_zero { "0" } else { "above 0" };
            format!("{name} {text:?}: give a number of seconds from {least} to {MAX_SECONDS}")
        })
}

/// A socket buffer size from `min` to 64 MiB.
fn parse_buffer(name: &str, text: &str, min: u64) -> Result<u64, String> {
    let max = 64 << 20;
    parse_size(text)
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            format!(
                "{name} {text:?}: give a size from {} to 64m",
                directive_size(min)
            )
        })
}

/// `off` or `PROXY,LOAD`, two different CPU numbers.
fn parse_pin(text: &str) -> Result<Pin, String> {
    if text == "off" {
        return Ok(Pin::Off);
    }
    let bad = || format!("--pin {text:?}: give PROXY,LOAD (two different CPU numbers) or off");
    let (proxy, load) = text.split_once(',').ok_or_else(bad)?;
    let cpu = |t: &str| t.parse::<usize>().ok().filter(|n| *n < 4096);
    match (cpu(proxy), cpu(load)) {
        (Some(proxy), Some(load)) if proxy != load => Ok(Pin::Cpus { proxy, load }),
        _ => Err(bad()),
    }
}
