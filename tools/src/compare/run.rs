//! The part of `compare` that does I/O: finding the proxies, pinning, the origins, starting
//! and stopping a proxy per run, checking each target answers, and measuring one run.
//!
//! Owns [`Runner`]: two bundled origins in-process (one at the OS's socket defaults for the
//! closed-loop workloads, one with `SO_SNDBUF` fixed for the slow-client scenario, so that it
//! stays busy like a heavy backend until its peer has taken all but that much), and
//! [`Runner::run`], which starts the target of a [`Run`] as a fresh process (pinned when asked),
//! waits until it answers, checks that it answers the workload's request with 200 and a body of
//! the expected size, drives the load generator in-process, reads the proxy's peak RSS and the
//! origin's busy times, and stops the proxy. It must not link the spoonfeed crate, must not
//! wait with fixed sleeps (every wait polls a condition with a bound) and must never leave a
//! process behind: each one it starts is owned by a guard that kills it (and, for nginx, its
//! worker) on every path out of a run.
//!
//! No libc: signals go through `kill(1)`, affinity through `taskset(1)`, nginx's worker is
//! found with `pgrep -P`.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::args::{Options, Target, Workload};
use super::configs::{haproxy_config, nginx_config, spoonfeed_config, ProxySetup};
use super::report::Sample;
use crate::loadgen::args::{Load, Output};
use crate::loadgen::{self, Plan};
use crate::process::{children, free_port, output_tail, peak_rss, Managed};
use spoonfeed_origin::{Origin, OriginConfig};

/// How long a proxy has to answer after it is started.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a proxy has to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long, after a slow run, the origin's busy times have to catch up with what the clients
/// saw (a busy time is recorded just after the last write returns).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Interval between two looks at a condition being waited for.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Read and write timeout of one check request.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a closed-loop exchange may take before it is counted as a timeout.
const CLOSED_TIMEOUT: Duration = Duration::from_secs(10);

/// Times a proxy is started before giving up: the free port picked for it may be taken by
/// someone else before it binds it.
const START_ATTEMPTS: usize = 3;

/// Bytes of response head counted on top of the body for the time one slow exchange takes.
const HEAD_ALLOWANCE: u64 = 256;

/// Most exchanges per connection in one slow run.
const MAX_SLOW_ROUNDS: u64 = 10_000;

/// Tries of [`pin_self`] before giving up.
const PIN_ATTEMPTS: usize = 5;

/// Lines of a proxy's output quoted when it fails.
const OUTPUT_TAIL_LINES: usize = 10;

/// One run: a workload against a target in a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub round: usize,
    pub workload: Workload,
    pub target: Target,
}

/// Every run, interleaved: round by round, each round every workload against every target,
/// the targets' order rotated by one from a round to the next.
pub fn interleave(rounds: usize, workloads: &[Workload], targets: &[Target]) -> Vec<Run> {
    let mut runs = Vec::with_capacity(rounds * workloads.len() * targets.len());
    for round in 0..rounds {
        let mut order = targets.to_vec();
        if !order.is_empty() {
            let by = round % order.len();
            order.rotate_left(by);
        }
        for &workload in workloads {
            for &target in &order {
                runs.push(Run {
                    round,
                    workload,
                    target,
                });
            }
        }
    }
    runs
}

/// Exchanges per connection of a slow run: whole rounds filling about `duration` at the
/// workload's read rate, at least one.
pub fn slow_rounds(workload: Workload, duration: Duration) -> u64 {
    match workload {
        Workload::SlowClients {
            size, read_rate, ..
        } => {
            let one = (size + HEAD_ALLOWANCE) as f64 / read_rate as f64;
            ((duration.as_secs_f64() / one).round() as u64).clamp(1, MAX_SLOW_ROUNDS)
        }
        Workload::Closed { .. } => 0,
    }
}

/// A program to run: `explicit` when given (it must be a file), else `name` in `$PATH`, then in
/// `/usr/sbin`, `/usr/local/sbin` and `/sbin` (where nginx and haproxy live, often off a
/// user's `$PATH`).
pub fn find_program(explicit: Option<&Path>, name: &str) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(format!("{}: no such file", path.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name} not found on PATH, /usr/sbin, /usr/local/sbin or /sbin"))
}

/// Pins this process, every thread it has and every thread it will start, to `cpus` (a
/// `taskset -c` list like `1` or `0,1`) with `taskset -a -p`. A thread that ends while
/// taskset walks the list (the origin's connection threads come and go) fails it with "No such
/// process", so it is tried up to [`PIN_ATTEMPTS`] times.
pub fn pin_self(cpus: &str) -> Result<(), String> {
    let mut last_error = String::new();
    for _ in 0..PIN_ATTEMPTS {
        let out = Process::new("taskset")
            .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run taskset: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        last_error = format!(
            "taskset -a -p -c {cpus} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Err(last_error)
}

/// The binaries of the proxies to run; `None` for a target not run.
#[derive(Clone, Debug, Default)]
pub struct Programs {
    pub spoonfeed: Option<PathBuf>,
    pub nginx: Option<PathBuf>,
    pub haproxy: Option<PathBuf>,
}

impl Programs {
    fn of(&self, target: Target) -> Option<&Path> {
        match target {
            Target::Spoonfeed => self.spoonfeed.as_deref(),
            Target::Nginx => self.nginx.as_deref(),
            Target::Haproxy => self.haproxy.as_deref(),
            Target::Direct => None,
        }
    }
}

/// The origins and what every run needs.
pub struct Runner {
    /// Origin of the closed-loop workloads, at the OS's socket defaults.
    fast: Origin,
    /// Origin of the slow-client scenario, `SO_SNDBUF` fixed; `None` without slow workloads.
    heavy: Option<Origin>,
    programs: Programs,
    /// CPU of the proxies and CPU of this process, when pinned.
    cpus: Option<(usize, usize)>,
    duration: Duration,
    warmup: Duration,
    slow_sndbuf: u64,
    slow_rcvbuf: usize,
    verifies_checksum: bool,
    /// Where configurations and proxies' output go: mode 0755, since nginx's worker runs
    /// unprivileged and must reach it. Removed by [`Runner::shutdown`] unless `is_kept`.
    work_dir: PathBuf,
}

impl Runner {
    /// Starts the origins. `cpus` is (proxy CPU, load CPU) when this process has been pinned to
    /// the load CPU already (see [`pin_self`]); proxies are then started on the proxy CPU, and
    /// direct runs widen this process to both (see [`Runner::run`]).
    pub fn start(
        options: &Options,
        programs: Programs,
        cpus: Option<(usize, usize)>,
    ) -> Result<Runner, String> {
        let most = |is_slow: bool| {
            options
                .workloads
                .iter()
                .filter(|w| w.is_slow() == is_slow)
                .map(|w| w.connections())
                .max()
        };
        // Room for every client direct, or every connection a proxy opens plus its idle pool.
        let room = |connections: usize| 2 * connections + 16;
        let fast = Origin::start(OriginConfig {
            max_connections: room(most(false).unwrap_or(1)),
            ..OriginConfig::default()
        })
        .map_err(|e| format!("cannot start the origin: {e}"))?;
        let heavy = match most(true) {
            Some(connections) => Some(
                Origin::start(OriginConfig {
                    max_connections: room(connections),
                    send_buffer: Some(options.slow_sndbuf as usize),
                    ..OriginConfig::default()
                })
                .map_err(|e| format!("cannot start the slow scenario's origin: {e}"))?,
            ),
            None => None,
        };
        let work_dir = std::env::temp_dir().join(format!("compare-{}", std::process::id()));
        fs::create_dir_all(&work_dir)
            .and_then(|()| fs::set_permissions(&work_dir, fs::Permissions::from_mode(0o755)))
            .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;
        Ok(Runner {
            fast,
            heavy,
            programs,
            cpus,
            duration: options.duration,
            warmup: options.warmup,
            slow_sndbuf: options.slow_sndbuf,
            slow_rcvbuf: options.slow_rcvbuf as usize,
            verifies_checksum: options.verifies_checksum,
            work_dir,
        })
    }

    /// Where configurations and output are written.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Runs `run` and measures it. An error means the run could not be made (a proxy did not
    /// start, or answered the check wrongly); failed exchanges are counted in the sample.
    ///
    /// When pinned, a direct run has both CPUs (this process is widened to them for the run and
    /// narrowed back after): a proxied run uses both, one for the proxy and one for the origin
    /// and the clients, so direct on both is the box without a proxy, the baseline the ratios
    /// are taken against. On the load CPU alone, direct would be capped by sharing one core.
    pub fn run(&self, run: &Run) -> Result<Sample, String> {
        let widened = match self.cpus {
            Some((proxy, load)) if run.target == Target::Direct => {
                pin_self(&format!("{proxy},{load}"))?;
                Some(load)
            }
            _ => None,
        };
        let result = self.measure(run);
        if let Some(load) = widened {
            pin_self(&load.to_string())?;
        }
        result
    }

    fn measure(&self, run: &Run) -> Result<Sample, String> {
        let origin = match (run.workload.is_slow(), &self.heavy) {
            (true, Some(heavy)) => heavy,
            (true, None) => return Err("no origin for the slow scenario".to_owned()),
            (false, _) => &self.fast,
        };
        let proxy = match run.target {
            Target::Direct => None,
            target => Some(self.start_proxy(target, run.workload, origin.addr().port())?),
        };
        let addr = proxy.as_ref().map_or(origin.addr(), |p| p.addr);
        let size = run.workload.size();
        probe(addr, &run.workload.request_target(), size)
            .map_err(|e| format!("{}: {e}", run.target))?;
        origin.reset_busy();
        let plan = self.plan(run.workload, addr)?;
        let report = loadgen::run(&plan, addr).map_err(|e| format!("load generator: {e}"))?;
        let rss_bytes = proxy
            .as_ref()
            .and_then(|p| p.rss_pid())
            .and_then(|pid| peak_rss(pid).ok());
        let (hold_us, errors) = if run.workload.is_slow() {
            let busy = settled_busy(origin, report.ok);
            let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
            (
                Some((us(busy.p50), us(busy.p99))),
                report.errors.total() + report.unfinished,
            )
        } else {
            (None, report.errors.total())
        };
        if let Some(proxy) = proxy {
            proxy.stop();
        }
        Ok(Sample {
            workload: run.workload,
            target: run.target,
            round: run.round,
            requests_per_sec: report.requests_per_second(),
            latency_p99_us: report.latency.quantile(0.99) / 1000,
            hold_us,
            errors,
            rss_bytes,
        })
    }

    fn plan(&self, workload: Workload, addr: SocketAddr) -> Result<Plan, String> {
        let url = format!("http://{addr}{}", workload.request_target());
        let mut plan =
            Plan::for_url(&url).ok_or_else(|| format!("load generator refuses {url}"))?;
        plan.connections = workload.connections();
        plan.pipeline = 1;
        plan.load = Load::Closed;
        plan.output = Output::Csv;
        plan.is_progress_forced = false;
        plan.verifies_checksum = self.verifies_checksum;
        match workload {
            Workload::Closed { .. } => {
                plan.duration = Some(self.duration);
                plan.requests = None;
                plan.warmup = self.warmup;
                plan.timeout = CLOSED_TIMEOUT;
            }
            Workload::SlowClients {
                size,
                connections,
                read_rate,
            } => {
                let one = (size + HEAD_ALLOWANCE) as f64 / read_rate as f64;
                plan.duration = None;
                plan.requests = Some(slow_rounds(workload, self.duration) * connections as u64);
                plan.warmup = Duration::ZERO;
                plan.read_rate = Some(read_rate);
                plan.rcvbuf = Some(self.slow_rcvbuf);
                plan.timeout =
                    Duration::from_secs_f64((4.0 * one + 10.0).min(loadgen::args::MAX_SECONDS));
            }
        }
        Ok(plan)
    }

    fn start_proxy(
        &self,
        target: Target,
        workload: Workload,
        backend_port: u16,
    ) -> Result<Proxy, String> {
        let program = self
            .programs
            .of(target)
            .ok_or_else(|| format!("{target}: no binary"))?;
        let dir = self.work_dir.join(target.name());
        fs::create_dir_all(&dir)
            .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let output = dir.join("output");
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            let setup = ProxySetup {
                listen_port: port,
                backend_port,
                connections: workload.connections(),
                client_sndbuf: workload.is_slow().then_some(self.slow_sndbuf),
            };
            let dir_text = dir.display().to_string();
            let (config, text) = match target {
                Target::Spoonfeed => (dir.join("spoonfeed.conf"), spoonfeed_config(&setup)),
                Target::Nginx => (dir.join("nginx.conf"), nginx_config(&setup, &dir_text)),
                Target::Haproxy => (dir.join("haproxy.cfg"), haproxy_config(&setup)),
                Target::Direct => unreachable!("direct has no process"),
            };
            if target == Target::Nginx {
                let temp = dir.join("nginx-temp");
                fs::create_dir_all(&temp)
                    .and_then(|()| fs::set_permissions(&temp, fs::Permissions::from_mode(0o755)))
                    .map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
            }
            fs::write(&config, text)
                .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
            let out = fs::File::create(&output)
                .map_err(|e| format!("cannot create {}: {e}", output.display()))?;
            let err = out
                .try_clone()
                .map_err(|e| format!("cannot share {}: {e}", output.display()))?;
            let mut command = match self.cpus {
                Some((cpu, _)) => {
                    let mut c = Process::new("taskset");
                    c.arg("-c").arg(cpu.to_string()).arg(program);
                    c
                }
                None => Process::new(program),
            };
            match target {
                Target::Spoonfeed => command.arg("-f").arg(&config),
                Target::Nginx => command
                    .arg("-p")
                    .arg(&dir)
                    .arg("-e")
                    .arg(dir.join("nginx-start.err"))
                    .arg("-c")
                    .arg(&config),
                Target::Haproxy => command.arg("-db").arg("-f").arg(&config),
                Target::Direct => unreachable!("direct has no process"),
            };
            let child = command
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
            let mut proxy = Proxy {
                process: Managed::new(child),
                target,
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            };
            match proxy.wait_ready() {
                Ok(()) => return Ok(proxy),
                Err(e) => {
                    last_error = format!(
                        "{target} did not start: {e}{} (configuration in {})",
                        output_tail(&output, "it", OUTPUT_TAIL_LINES),
                        config.display()
                    )
                }
            }
        }
        Err(last_error)
    }

    /// Stops the origins, and removes the work directory unless `is_kept` (after an error,
    /// so the configurations and output can be read).
    pub fn shutdown(self, is_kept: bool) {
        self.fast.shutdown();
        if let Some(heavy) = self.heavy {
            heavy.shutdown();
        }
        if !is_kept {
            let _ = fs::remove_dir_all(&self.work_dir);
        }
    }
}

/// The origin's busy times once it has recorded `requests` (or [`SETTLE_TIMEOUT`] passed).
fn settled_busy(origin: &Origin, requests: u64) -> spoonfeed_origin::BusySummary {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let busy = origin.stats().busy;
        if busy.count >= requests || Instant::now() >= deadline {
            return busy;
        }
        thread::sleep(POLL_EVERY);
    }
}

/// A running proxy (stopped or killed, nginx's worker too, with its guard).
struct Proxy {
    process: Managed,
    target: Target,
    addr: SocketAddr,
}

impl Proxy {
    /// The process that serves: nginx's worker, else the process started.
    fn rss_pid(&self) -> Option<u32> {
        match self.target {
            Target::Nginx => children(self.process.id()).into_iter().next(),
            _ => Some(self.process.id()),
        }
    }

    /// Checks `/bytes/1` until it answers 200, the process exits, or [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(exit) = self.process.exited() {
                return Err(format!("it exited at start ({exit})"));
            }
            let error = match probe(self.addr, "/bytes/1", 1) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "no answer within {} s: {error}",
                    READY_TIMEOUT.as_secs()
                ));
            }
            thread::sleep(POLL_EVERY);
        }
    }

    /// SIGTERM, then up to [`STOP_TIMEOUT`] for it to exit; the guard kills it if it has not.
    fn stop(self) {
        self.process.stop(STOP_TIMEOUT);
    }
}

/// GETs `target` from `addr` on a connection of its own, read to EOF, and checks the answer is
/// a 200 whose body (by `Content-Length`, else to EOF) is `size` bytes.
pub fn probe(addr: SocketAddr, target: &str, size: u64) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let io = |e: io::Error| format!("GET {target}: {e}");
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT)).map_err(io)?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(io)?;
    check_answer(&answer, size).map_err(|e| format!("GET {target} from {addr}: {e}"))
}

/// Whether `answer` (a whole response, read to EOF) is a 200 with a body of `size` bytes.
pub fn check_answer(answer: &[u8], size: u64) -> Result<(), String> {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no end of head")?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let body = (answer.len() - end - 4) as u64;
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split(' ').nth(1) != Some("200") {
        return Err(format!("answered {status_line:?}, not 200"));
    }
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    if header("transfer-encoding").is_some() {
        return Err("answered with Transfer-Encoding, not a Content-Length".to_owned());
    }
    let length = match header("content-length") {
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| format!("Content-Length {text:?} is not a number"))?,
        None => body,
    };
    if length != size || body != size {
        return Err(format!(
            "answered 200 with {body} body bytes (Content-Length {length}), not {size}"
        ));
    }
    Ok(())
}
