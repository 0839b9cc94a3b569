//! The part of `bufsweep` that does I/O: its command line, finding the spoonfeed binary, and
//! running one point of the grid with real sockets and a real spoonfeed process.
//!
//! Owns [`parse_args`] (every option, its limits and its refusals, each naming the flag),
//! [`find_spoonfeed`], and [`run_point`]: start the bundled [`Origin`] in-process, write the
//! point's configuration ([`Point::spoonfeed_config`]) to a temporary file, run the spoonfeed
//! binary on it, wait for its status endpoint, drive the load generator ([`loadgen::run`])
//! in-process, read spoonfeed's status, the origin's busy times and spoonfeed's peak resident
//! size, stop spoonfeed, and give back a [`Row`]. It must not link the spoonfeed crate (the
//! proxy is measured as the binary operators run), must not wait with fixed sleeps (every wait
//! polls a condition with a bound), and must never leave a spoonfeed process behind: the child
//! is owned by a guard that kills it on every path out of [`run_point`], panics included.
//!
//! # Why every exchange runs to its end
//!
//! A load generator stopped by the clock drops the exchanges it has in flight. spoonfeed counts
//! each as `aborted` and the load generator as `unfinished`: with slow clients that is almost one
//! per connection, which would mark every point as failing. So a point runs a whole number of
//! rounds instead: each of the `--clients` connections makes the same number of exchanges, and
//! the load generator stops once the last one has ended. `--duration` chooses that number, as
//! `--duration` divided by the time one exchange takes at the point's read rate
//! (`(size + head) / read rate`), at least one round; `--requests` gives the total directly.
//!
//! # Which backend hold is recorded
//!
//! Two views exist, and [`Row::hold_p50_us`] and [`Row::hold_p99_us`] hold the one `--hold`
//! picks ([`HoldSource`]); the other goes into the row's note (`spoonfeed_hold_p50_us=…
//! spoonfeed_hold_p99_us=…` or `origin_hold_…`), so the two can be compared:
//!
//! - [`HoldSource::Origin`]: the origin's busy time, head read to last write
//!   accepted by its kernel, exact to 1%: the backend's own view. It ends while up to the
//!   origin's send buffer plus spoonfeed's receive buffer on the backend socket (hundreds of
//!   KiB) is still in the kernels, so it is shorter than the time the backend *connection* is
//!   held, and blind to responses smaller than those buffers.
//! - [`HoldSource::Spoonfeed`]: spoonfeed's `backend_hold_us` (`t_release − t_req`: until the
//!   connection is given back), as the upper bound of a power-of-two bucket. For a backend
//!   whose workers are pinned to connections (the origin's "heavy" model, mod_perl) this is
//!   the hold that costs a worker, hence the default.
//!
//! # Sockets
//!
//! The origin runs with `SO_SNDBUF` fixed (`--origin-sndbuf`, default 64 KiB) so that, like a
//! heavy backend, it stays busy until its peer (spoonfeed) has accepted all but that much of an
//! answer; without it Linux autotunes the buffer to megabytes and every hold would look short.
//! The clients run with a small `SO_RCVBUF` (`--rcvbuf`, default 16 KiB) so that the client's
//! kernel does not absorb the response: what the slow reader has not read yet stays in
//! spoonfeed, which is what the sweep measures.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

pub use crate::process::{free_port, parse_vm_hwm, peak_rss};
use crate::process::{output_tail, Managed};
use std::thread;
use std::time::{Duration, Instant};

use super::grid::{Grid, Point, POOL_CLIENTS};
use super::row::Row;
use super::status::{parse_status_json, Status};
use super::units::{directive_size, parse_size};
use crate::loadgen::args::{Load, Output, MAX_RCVBUF};
use crate::loadgen::{self, Plan, Report};
use spoonfeed_origin::{Origin, OriginConfig, OriginStats, MAX_SEND_BUFFER};

/// Connections per point when `--clients` is not given.
pub const DEFAULT_CLIENTS: usize = 32;

/// Most `--clients`: the pool each point's configuration is sized for
/// ([`POOL_CLIENTS`]); past it the pool's cap, not the buffer sizes, would shape the results.
pub const MAX_CLIENTS: usize = POOL_CLIENTS as usize;

/// How long each point runs when neither `--duration` nor `--requests` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(5);

/// Longest `--duration`: an hour per point is already a day for a 24-point grid.
pub const MAX_DURATION_SECS: f64 = 3600.0;

/// Most exchanges one point may run (`--requests`, or what `--duration` works out to); past it,
/// refused for `--requests` and capped for `--duration`.
pub const MAX_REQUESTS: u64 = 10_000_000;

/// The clients' `SO_RCVBUF` when `--rcvbuf` is not given (see the module's "Sockets").
pub const DEFAULT_RCVBUF: usize = 16 << 10;

/// The origin's `SO_SNDBUF` when `--origin-sndbuf` is not given (see the module's "Sockets").
pub const DEFAULT_ORIGIN_SNDBUF: usize = 64 << 10;

/// The backend hold the recommendation aims at when `--target-ms` is not given.
pub const DEFAULT_TARGET_MS: f64 = 10.0;

/// Largest `--target-ms`: an hour.
pub const MAX_TARGET_MS: f64 = 3_600_000.0;

/// Bytes of response head counted on top of the body when working out how long one exchange
/// takes at a read rate; the origin's head is about this long.
const HEAD_ALLOWANCE: u64 = 256;

/// How long spoonfeed has to answer its status endpoint after it is started, before the point
/// fails (with the tail of its output).
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long, after the load ends, the counters of spoonfeed and the origin have to catch up
/// with what the clients saw (both record an exchange just after its last byte is written).
/// Past it the numbers are read as they are and the note says so.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long spoonfeed has to exit after SIGTERM (its drain has nothing left to drain once the
/// load has ended) before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Interval between two looks at a condition being waited for.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Read and write timeout of one request to the status endpoint.
const STATUS_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Times spoonfeed is started for one point before giving up: a free port picked for it may be
/// taken by someone else before it binds it.
const START_ATTEMPTS: usize = 3;

/// The path of the status endpoint in [`Point::spoonfeed_config`].
const STATUS_PATH: &str = "/status?format=json";

/// Lines of spoonfeed's output quoted when it fails.
const OUTPUT_TAIL_LINES: usize = 20;

pub const USAGE: &str = "\
usage: bufsweep [options] [grid options]

For each point of a grid of buffer sizes and workloads, starts the bundled origin and a
spoonfeed process configured for the point, drives slow keep-alive clients through it, and
records backend hold, client completion, buffer occupancy, memory and requests/s. Writes a
CSV and an SVG plot, and prints a recommendation on stdout.

grid (each a comma-separated list; sizes are N, Nk, Nm or Ng, 1024-based; the grid is every
combination, at most 10000 points):
  --io LIST               ProxyIOBufferSize, 512 to 1m (default 16k)
  --response-buffer LIST  ProxyResponseBufferSize (default 1m)
  --sndbuf LIST           SendBufferSize of spoonfeed's client sockets, 0 for the OS default
                          (default 64k, so the kernel does not do the buffering measured)
  --size LIST             response body size (default 1m)
  --read-rate LIST        bytes per second each client reads (default 256k)
  --mode LIST             copy (ProxySplice Off) or splice (ProxySplice On) (default copy)

load, per point:
  --clients N             keep-alive connections, closed loop, one request in flight each
                          (default 32, at most 256: the pool each point is configured with is
                          sized for 256 slow clients)
  --duration SECS         about how long each point runs (decimals allowed; default 5, at most
                          3600). Every exchange runs to its end, so a point runs whole rounds:
                          each connection makes max(1, SECS / ((size + 256) / read rate))
                          exchanges, and a point whose one exchange takes longer than SECS
                          takes that long.
  --requests N            run exactly N exchanges per point instead (at least --clients, at
                          most 10000000); not with --duration
  --rcvbuf SIZE           SO_RCVBUF of the clients, set before connect (default 16k): small,
                          so that the client's kernel does not absorb the response and the slow
                          reader's backlog stays in spoonfeed. Linux doubles it.
  --origin-sndbuf SIZE    SO_SNDBUF of the origin's connections (default 64k): the origin stays
                          busy, like a heavy backend, until spoonfeed has taken all but about
                          this much of an answer. Linux doubles it and caps it at
                          net.core.wmem_max.

measurement:
  --hold SOURCE           whose backend hold goes into the hold columns (the other's goes into
                          the note column):
                            origin     the origin's busy time per request, head read to last
                                       write accepted by its kernel. It ends while
                                       the origin's send buffer and spoonfeed's receive buffer
                                       still hold up to a few hundred KiB, so it is shorter
                                       than the connection's hold.
                            spoonfeed  spoonfeed's backend_hold_us: until the backend
                                       connection is given back (a power-of-two bucket bound);
                                       the hold that pins a worker of a mod_perl-style backend
                                       (default).

spoonfeed:
  --spoonfeed PATH        the spoonfeed binary to run. Default: target/release/spoonfeed in
                          the first directory, from the current one upwards, whose Cargo.toml
                          declares a [workspace] (CARGO_TARGET_DIR, when set, replaces
                          <workspace>/target); else a spoonfeed next to this bufsweep binary.
                          Build it with: cargo build --release --workspace --bins

output:
  --csv FILE              write one row per point (RFC 4180; bytes, µs)
  --svg FILE              write the plot: backend hold against ProxyResponseBufferSize, one
                          curve per response size; peak occupancy on a second panel
  --target-ms MS          the backend hold (99th percentile) the recommendation aims at
                          (default 10; decimals allowed)
  --max-size SIZE         the largest response the recommendation must cover (default: the
                          largest --size)
  --help, -h              print this help

Both files are created before the first point runs, so a bad path fails at once. A progress
line per point goes to stderr. rss_bytes is spoonfeed's peak resident size (VmHWM) over the point.
Exit status: 0 when every point ran without a failed exchange, 1 when one failed, 2 for a
usage error or a point that could not be run.
";

/// Whose measurement of backend hold goes into [`Row`]'s hold columns (see the module's "Which
/// backend hold is recorded").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldSource {
    /// The origin's busy time per request.
    Origin,
    /// spoonfeed's `backend_hold_us` histogram of route `/`.
    Spoonfeed,
}

impl HoldSource {
    /// The name used on the command line and in notes.
    pub fn name(self) -> &'static str {
        match self {
            HoldSource::Origin => "origin",
            HoldSource::Spoonfeed => "spoonfeed",
        }
    }

    /// Reads `origin` or `spoonfeed`.
    pub fn parse(text: &str) -> Option<HoldSource> {
        match text {
            "origin" => Some(HoldSource::Origin),
            "spoonfeed" => Some(HoldSource::Spoonfeed),
            _ => None,
        }
    }
}

/// The options besides the grid's, each taking a value.
const OPTIONS: [&str; 11] = [
    "--spoonfeed",
    "--clients",
    "--duration",
    "--requests",
    "--rcvbuf",
    "--origin-sndbuf",
    "--hold",
    "--csv",
    "--svg",
    "--target-ms",
    "--max-size",
];

/// How long each point runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RunLength {
    /// About this long, in whole rounds (see the module's "Why every exchange runs to its end").
    Duration(Duration),
    /// Exactly this many exchanges. Invariant: at least the number of clients.
    Requests(u64),
}

/// The command line, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub grid: Grid,
    /// `--spoonfeed`, when given; see [`find_spoonfeed`] otherwise.
    pub spoonfeed: Option<PathBuf>,
    /// Invariant: `1..=MAX_CLIENTS`.
    pub clients: usize,
    pub length: RunLength,
    /// Invariant: `1..=MAX_RCVBUF`.
    pub rcvbuf: usize,
    /// Invariant: `1..=MAX_SEND_BUFFER`.
    pub origin_send_buffer: usize,
    pub hold: HoldSource,
    pub csv: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    /// Invariant: at least 1.
    pub target_hold_us: u64,
    /// `None`: the largest response size of the grid.
    pub max_size: Option<u64>,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Help,
    Run(Box<Options>),
}

/// Parses `bufsweep`'s arguments (without the program name). `--flag VALUE` and
/// `--flag=VALUE` both work; no option may be given twice; `--help` anywhere wins.
pub fn parse_args<I, S>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut grid = Grid::default();
    let mut spoonfeed = None;
    let mut clients = None;
    let mut duration = None;
    let mut requests = None;
    let mut rcvbuf = None;
    let mut origin_send_buffer = None;
    let mut hold = None;
    let mut csv = None;
    let mut svg = None;
    let mut target_ms = None;
    let mut max_size = None;
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help);
    }
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_string(), Some(value.to_string()))
            }
            _ => (arg, None),
        };
        if !Grid::FLAGS.contains(&name.as_str()) && !OPTIONS.contains(&name.as_str()) {
            return Err(format!("unknown option {name} (see --help)"));
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("{name} needs a value (see --help)"))?,
        };
        if Grid::FLAGS.contains(&name.as_str()) {
            grid.set(&name, &value).map_err(|e| e.to_string())?;
            continue;
        }
        let name = name.as_str();
        match name {
            "--spoonfeed" => once(&mut spoonfeed, name, PathBuf::from(&value))?,
            "--clients" => {
                let n = parse_count(name, &value, 1, MAX_CLIENTS as u64)?;
                once(&mut clients, name, n as usize)?;
            }
            "--duration" => {
                let secs = parse_decimal(name, &value, MAX_DURATION_SECS)?;
                once(&mut duration, name, Duration::from_secs_f64(secs))?;
            }
            "--requests" => once(
                &mut requests,
                name,
                parse_count(name, &value, 1, MAX_REQUESTS)?,
            )?,
            "--rcvbuf" => {
                let n = parse_byte_size(name, &value, 1, MAX_RCVBUF)?;
                once(&mut rcvbuf, name, n as usize)?;
            }
            "--origin-sndbuf" => {
                let n = parse_byte_size(name, &value, 1, MAX_SEND_BUFFER as u64)?;
                once(&mut origin_send_buffer, name, n as usize)?;
            }
            "--hold" => {
                let source = HoldSource::parse(&value)
                    .ok_or_else(|| format!("{name} {value:?}: give origin or spoonfeed"))?;
                once(&mut hold, name, source)?;
            }
            "--csv" => once(&mut csv, name, PathBuf::from(&value))?,
            "--svg" => once(&mut svg, name, PathBuf::from(&value))?,
            "--target-ms" => once(
                &mut target_ms,
                name,
                parse_decimal(name, &value, MAX_TARGET_MS)?,
            )?,
            "--max-size" => {
                let n = parse_byte_size(name, &value, 1, u64::MAX)?;
                once(&mut max_size, name, n)?;
            }
            _ => unreachable!("{name} is in OPTIONS without a case"),
        }
    }
    let clients = clients.unwrap_or(DEFAULT_CLIENTS);
    let length = match (duration, requests) {
        (Some(_), Some(_)) => {
            return Err(
                "give --duration or --requests, not both: a point runs whole exchanges, \
                 so one of them decides its length"
                    .to_string(),
            )
        }
        (_, Some(n)) if n < clients as u64 => {
            return Err(format!(
                "--requests {n} is fewer than --clients {clients}: every connection needs at \
                 least one exchange"
            ))
        }
        (_, Some(n)) => RunLength::Requests(n),
        (Some(d), None) => RunLength::Duration(d),
        (None, None) => RunLength::Duration(DEFAULT_DURATION),
    };
    let target_ms = target_ms.unwrap_or(DEFAULT_TARGET_MS);
    Ok(Command::Run(Box::new(Options {
        grid,
        spoonfeed,
        clients,
        length,
        rcvbuf: rcvbuf.unwrap_or(DEFAULT_RCVBUF),
        origin_send_buffer: origin_send_buffer.unwrap_or(DEFAULT_ORIGIN_SNDBUF),
        hold: hold.unwrap_or(HoldSource::Spoonfeed),
        csv,
        svg,
        target_hold_us: ((target_ms * 1000.0).round() as u64).max(1),
        max_size,
    })))
}

fn once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    if slot.replace(value).is_some() {
        return Err(format!("{name} given twice"));
    }
    Ok(())
}

fn parse_count(name: &str, text: &str, min: u64, max: u64) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{name} {text:?}: give a whole number from {min} to {max}"))
}

fn parse_decimal(name: &str, text: &str, max: f64) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0 && *x <= max)
        .ok_or_else(|| format!("{name} {text:?}: give a number above 0 and at most {max}"))
}

fn parse_byte_size(name: &str, text: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = parse_size(text).map_err(|e| format!("{name}: {e}"))?;
    if !(min..=max).contains(&n) {
        return Err(format!(
            "{name} {text}: must be from {} to {} bytes",
            directive_size(min),
            directive_size(max)
        ));
    }
    Ok(n)
}

/// The spoonfeed binary to run: `explicit` when given (it must be a file); else
/// `target/release/spoonfeed` under the first directory from `cwd` upwards whose `Cargo.toml`
/// declares a `[workspace]` (`$CARGO_TARGET_DIR/release/spoonfeed` when that is set); else a
/// `spoonfeed` in the directory of `exe` (this bufsweep binary, built with it). The error lists
/// every place looked at.
pub fn find_spoonfeed(
    explicit: Option<&Path>,
    cwd: &Path,
    exe: Option<&Path>,
) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(format!(
                "--spoonfeed {}: no such file (build it with cargo build --release --workspace --bins)",
                path.display()
            ))
        };
    }
    let mut tried = Vec::new();
    if let Some(root) = cwd.ancestors().find(|dir| is_workspace_root(dir)) {
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        tried.push(target.join("release").join("spoonfeed"));
    }
    if let Some(dir) = exe.and_then(Path::parent) {
        tried.push(dir.join("spoonfeed"));
    }
    if let Some(found) = tried.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let places: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "no spoonfeed binary found (looked for {}); build it with \
         cargo build --release --workspace --bins, or give --spoonfeed PATH",
        if places.is_empty() {
            "none: no Cargo workspace above the current directory".to_string()
        } else {
            places.join(" and ")
        }
    ))
}

fn is_workspace_root(dir: &Path) -> bool {
    fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|text| text.lines().any(|line| line.trim() == "[workspace]"))
}

/// What [`run_point`] needs besides the point.
#[derive(Clone, Debug)]
pub struct Settings {
    pub spoonfeed: PathBuf,
    /// Invariant: `1..=MAX_CLIENTS`.
    pub clients: usize,
    pub length: RunLength,
    pub rcvbuf: usize,
    pub origin_send_buffer: usize,
    pub hold: HoldSource,
    /// Where each point's configuration and spoonfeed's output go, in a directory of its own
    /// that is removed when the point succeeds and kept (and named in the error) when not.
    pub work_dir: PathBuf,
}

impl Settings {
    /// The settings of `options`, with `spoonfeed` already found.
    pub fn new(options: &Options, spoonfeed: PathBuf) -> Settings {
        Settings {
            spoonfeed,
            clients: options.clients,
            length: options.length,
            rcvbuf: options.rcvbuf,
            origin_send_buffer: options.origin_send_buffer,
            hold: options.hold,
            work_dir: std::env::temp_dir().join(format!("bufsweep-{}", std::process::id())),
        }
    }
}

/// How long one exchange of `point` takes, at least, for a client reading at its rate.
pub fn exchange_time(point: &Point) -> Duration {
    Duration::from_secs_f64((point.response_size + HEAD_ALLOWANCE) as f64 / point.read_rate as f64)
}

/// Exchanges one point runs with `clients` connections: whole rounds for a duration (see the
/// module's "Why every exchange runs to its end"), capped at [`MAX_REQUESTS`].
pub fn requests_for(point: &Point, length: RunLength, clients: usize) -> u64 {
    match length {
        RunLength::Requests(n) => n,
        RunLength::Duration(d) => {
            let rounds = (d.as_secs_f64() / exchange_time(point).as_secs_f64()).round();
            let rounds = (rounds as u64).clamp(1, MAX_REQUESTS / clients as u64);
            rounds * clients as u64
        }
    }
}

/// The load generator's timeout for one exchange of `point`: generous (four times the time it
/// should take, plus 10 s), since a timeout is counted as a failure of the point.
fn exchange_timeout(point: &Point) -> Duration {
    let secs = 4.0 * exchange_time(point).as_secs_f64() + 10.0;
    Duration::from_secs_f64(secs.min(loadgen::args::MAX_SECONDS))
}

/// Runs `point` (the `index`th of the sweep, for file names) and measures it. An error means
/// the point could not be run at all (spoonfeed did not start, say); failed exchanges are not
/// errors but are counted in [`Row::errors`] and described in [`Row::note`].
pub fn run_point(settings: &Settings, point: &Point, index: usize) -> Result<Row, String> {
    let dir = settings.work_dir.join(format!("point-{index}"));
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let result = measure(settings, point, &dir);
    if result.is_ok() {
        let _ = fs::remove_dir_all(&dir);
        // Succeeds only once no point's directory is left in it.
        let _ = fs::remove_dir(&settings.work_dir);
    }
    result.map_err(|e| {
        format!(
            "{point}: {e} (configuration and output kept in {})",
            dir.display()
        )
    })
}

fn measure(settings: &Settings, point: &Point, dir: &Path) -> Result<Row, String> {
    let origin = Origin::start(OriginConfig {
        send_buffer: Some(settings.origin_send_buffer),
        // Room for every connection spoonfeed may open (one per client in flight, plus idle
        // ones in its pool), so no request waits in the origin's backlog.
        max_connections: 2 * settings.clients + 16,
        ..OriginConfig::default()
    })
    .map_err(|e| format!("cannot start the origin: {e}"))?;
    let proxy = start_spoonfeed(settings, point, origin.addr().port(), dir)?;
    origin.reset_busy();

    let expected = requests_for(point, settings.length, settings.clients);
    let plan = plan_for(settings, point, proxy.addr, expected)?;
    let report = loadgen::run(&plan, proxy.addr).map_err(|e| format!("load generator: {e}"))?;

    let mut notes = Vec::new();
    let (status, is_settled) = settled_status(proxy.addr, report.ok)?;
    if !is_settled {
        notes.push("spoonfeed's counters had not caught up with the clients".to_string());
    }
    let (origin_stats, is_settled) = settled_origin(&origin, report.ok);
    if !is_settled {
        notes.push("the origin's busy times had not caught up with the clients".to_string());
    }
    let rss_bytes = peak_rss(proxy.process.id()).unwrap_or_else(|e| {
        notes.push(format!("no VmHWM: {e}"));
        0
    });
    proxy.process.stop(STOP_TIMEOUT);
    origin.shutdown();
    Ok(row(
        point,
        settings.hold,
        &status,
        &origin_stats,
        &report,
        rss_bytes,
        notes,
    ))
}

fn plan_for(
    settings: &Settings,
    point: &Point,
    addr: SocketAddr,
    requests: u64,
) -> Result<Plan, String> {
    let url = format!("http://{addr}{}", point.request_target());
    let mut plan = Plan::for_url(&url).ok_or_else(|| format!("load generator refuses {url}"))?;
    plan.connections = settings.clients;
    plan.pipeline = 1;
    plan.load = Load::Closed;
    plan.read_rate = Some(point.read_rate);
    plan.rcvbuf = Some(settings.rcvbuf);
    plan.duration = None;
    plan.requests = Some(requests);
    plan.warmup = Duration::ZERO;
    plan.timeout = exchange_timeout(point);
    plan.output = Output::Csv;
    plan.is_progress_forced = false;
    Ok(plan)
}

/// Puts the measurements together. See the module's "Which backend hold is recorded".
fn row(
    point: &Point,
    hold: HoldSource,
    status: &Status,
    origin: &OriginStats,
    report: &Report,
    rss_bytes: u64,
    mut notes: Vec<String>,
) -> Row {
    let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let route = status.route("/");
    let spoonfeed_hold = route.map(|r| r.backend_hold_us()).unwrap_or_default();
    let origin_hold = (us(origin.busy.p50), us(origin.busy.p99));
    let (recorded, other, (other_p50, other_p99)) = match hold {
        HoldSource::Origin => (
            origin_hold,
            HoldSource::Spoonfeed,
            (spoonfeed_hold.p50, spoonfeed_hold.p99),
        ),
        HoldSource::Spoonfeed => (
            (spoonfeed_hold.p50, spoonfeed_hold.p99),
            HoldSource::Origin,
            origin_hold,
        ),
    };
    let other = other.name();
    notes.insert(
        0,
        format!("{other}_hold_p50_us={other_p50} {other}_hold_p99_us={other_p99}"),
    );
    let client_failed = report.errors.total() + report.unfinished;
    let proxy_failed = status.failures();
    if client_failed > 0 {
        let kinds: Vec<String> = loadgen::ErrorKind::ALL
            .iter()
            .filter(|k| report.errors.get(**k) > 0)
            .map(|k| format!("{}={}", k.name(), report.errors.get(*k)))
            .chain((report.unfinished > 0).then(|| format!("unfinished={}", report.unfinished)))
            .collect();
        notes.push(format!("client errors: {}", kinds.join(" ")));
    }
    if proxy_failed > 0 {
        notes.push(format!(
            "spoonfeed: aborted={} responses_5xx={}",
            status.counter("aborted"),
            status.counter("responses_5xx")
        ));
    }
    Row {
        point: *point,
        hold_p50_us: recorded.0,
        hold_p99_us: recorded.1,
        completion_p50_us: report.latency.quantile(0.5) / 1000,
        completion_p99_us: report.latency.quantile(0.99) / 1000,
        peak_occupancy_bytes: route.map(|r| r.peak_occupancy_bytes().p99).unwrap_or(0),
        pool_peak_bytes: status.pool_peak_bytes(point.io_buffer),
        rss_bytes,
        requests_per_sec: report.requests_per_second(),
        // A 502 counts at both ends: the larger view, not the sum.
        errors: client_failed.max(proxy_failed),
        note: notes.join("; "),
    }
}

/// A running spoonfeed (stopped or killed with its guard).
struct Spoonfeed {
    process: Managed,
    addr: SocketAddr,
}

fn start_spoonfeed(
    settings: &Settings,
    point: &Point,
    origin_port: u16,
    dir: &Path,
) -> Result<Spoonfeed, String> {
    let config = dir.join("spoonfeed.conf");
    let output = dir.join("spoonfeed.out");
    let mut last_error = String::new();
    for _ in 0..START_ATTEMPTS {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        fs::write(&config, point.spoonfeed_config(origin_port, port))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let out = fs::File::create(&output)
            .map_err(|e| format!("cannot create {}: {e}", output.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot share {}: {e}", output.display()))?;
        let child = Process::new(&settings.spoonfeed)
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", settings.spoonfeed.display()))?;
        let mut proxy = Spoonfeed {
            process: Managed::new(child),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        };
        match wait_ready(&mut proxy) {
            Ok(()) => return Ok(proxy),
            Err(e) => {
                last_error = format!(
                    "{e}{}",
                    output_tail(&output, "spoonfeed", OUTPUT_TAIL_LINES)
                )
            }
        }
    }
    Err(last_error)
}

/// Polls the status endpoint until it answers, spoonfeed exits, or [`READY_TIMEOUT`] passes.
fn wait_ready(proxy: &mut Spoonfeed) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(exit) = proxy.process.exited() {
            return Err(format!("spoonfeed exited at start ({exit})"));
        }
        let error = match get_status(proxy.addr) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "spoonfeed's status endpoint did not answer within {} s: {error}",
                READY_TIMEOUT.as_secs()
            ));
        }
        thread::sleep(POLL_EVERY);
    }
}

/// GETs the status endpoint's JSON over a connection of its own, read to EOF.
fn get_status(addr: SocketAddr) -> Result<Status, String> {
    let mut stream = TcpStream::connect_timeout(&addr, STATUS_IO_TIMEOUT)
        .map_err(|e| format!("connect: {e}"))?;
    let io = |e: io::Error| format!("status request: {e}");
    stream
        .set_read_timeout(Some(STATUS_IO_TIMEOUT))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(STATUS_IO_TIMEOUT))
        .map_err(io)?;
    write!(
        stream,
        "GET {STATUS_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(io)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("status answer without an end of head")?;
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split(' ').nth(1) != Some("200") {
        return Err(format!("status endpoint answered {status_line:?}"));
    }
    parse_status_json(body).map_err(|e| e.to_string())
}

/// spoonfeed's status once route `/` has counted `exchanges` (or [`SETTLE_TIMEOUT`] passed);
/// whether it had.
fn settled_status(addr: SocketAddr, exchanges: u64) -> Result<(Status, bool), String> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let status = get_status(addr)?;
        let seen = status.route("/").map_or(0, |r| r.exchanges);
        if seen >= exchanges {
            return Ok((status, true));
        }
        if Instant::now() >= deadline {
            return Ok((status, false));
        }
        thread::sleep(POLL_EVERY);
    }
}

/// The origin's stats once it has recorded `requests` busy times (or [`SETTLE_TIMEOUT`]
/// passed); whether it had.
fn settled_origin(origin: &Origin, requests: u64) -> (OriginStats, bool) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let stats = origin.stats();
        if stats.busy.count >= requests {
            return (stats, true);
        }
        if Instant::now() >= deadline {
            return (stats, false);
        }
        thread::sleep(POLL_EVERY);
    }
}
