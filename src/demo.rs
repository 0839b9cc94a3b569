//! `spoonfeed demo`: the bundled origin on a free loopback port, spoonfeed in front of it with
//! the classic `ProxyPass` / `ProxyPassReverse` pair, a few exchanges through it, and then what
//! buffering buys: a heavy origin with a few workers serving slow clients through spoonfeed
//! with buffering and without, side by side.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use spoonfeed_origin::{Checksum, Origin, OriginConfig};

use crate::config;
use crate::server::Server;

/// Size of the large body the demo fetches.
const LARGE_BODY: u64 = 8 * 1024 * 1024;

/// Longest a demo request may take before it is reported as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The configuration the demo runs: the chapter's two lines, pointed at the origin.
pub fn config_text(origin: SocketAddr) -> String {
    let port = origin.port();
    format!(
        "# spoonfeed demo: the classic mod_proxy front end\n\
         Listen 127.0.0.1:0\n\
         Workers auto\n\
         ServerName localhost\n\
         ProxyPass        /perl/ http://localhost:{port}/perl/\n\
         ProxyPassReverse /perl/ http://localhost:{port}/perl/\n"
    )
}

/// A response as the demo client saw it.
#[derive(Debug)]
struct Fetched {
    status: u16,
    headers: Vec<(String, String)>,
    body_len: u64,
    checksum: u64,
    elapsed: Duration,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// GETs `path` with `Host: host`, reading a Content-Length body (all the origin sends here).
fn fetch(addr: SocketAddr, host: &str, path: &str) -> io::Result<Fetched> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut checksum = Checksum::default();
    let mut body_len = 0u64;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        checksum.update(&buf[..n]);
        body_len += n as u64;
    }
    Ok(Fetched {
        status,
        headers,
        body_len,
        checksum: checksum.finish(),
        elapsed: started.elapsed(),
    })
}

/// Runs the demo, writing its report to `out`.
pub fn run(once: bool, out: &mut impl Write) -> io::Result<()> {
    if !once {
        // Before any thread starts, so that Ctrl-C reaches `wait_signal` below.
        crate::sys::block_signals()?;
    }
    // The heavy application mounted at /perl/, like the chapter's mod_perl server.
    let origin = Origin::start(OriginConfig {
        mount: "/perl".into(),
        ..OriginConfig::default()
    })?;
    let text = config_text(origin.addr());
    let loaded = config::parse_str(&text, Path::new("demo.conf")).map_err(|errors| {
        io::Error::other(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let server = Server::start(loaded.config)?;
    let proxy = server.local_addrs()[0];
    let host = format!("localhost:{}", proxy.port());
    writeln!(out, "spoonfeed {} demo", crate::VERSION)?;
    writeln!(
        out,
        "  origin (the heavy backend):  http://{}/",
        origin.addr()
    )?;
    writeln!(out, "  spoonfeed in front of it:    http://{proxy}/perl/")?;
    writeln!(out, "  configuration:")?;
    for line in text.lines() {
        writeln!(out, "    {line}")?;
    }
    writeln!(out)?;

    let page = fetch(proxy, &host, "/perl/bytes/2048")?;
    writeln!(
        out,
        "GET /perl/bytes/2048         -> {} {} bytes in {:.1} ms, checksum {}",
        page.status,
        page.body_len,
        page.elapsed.as_secs_f64() * 1e3,
        verdict(&page)
    )?;

    let large = fetch(proxy, &host, &format!("/perl/bytes/{LARGE_BODY}"))?;
    let mib = large.body_len as f64 / (1024.0 * 1024.0);
    writeln!(
        out,
        "GET /perl/bytes/{LARGE_BODY}      -> {} {:.1} MiB in {:.1} ms ({:.0} MiB/s), checksum {}",
        large.status,
        mib,
        large.elapsed.as_secs_f64() * 1e3,
        mib / large.elapsed.as_secs_f64().max(1e-9),
        verdict(&large)
    )?;

    let redirect = fetch(proxy, &host, "/perl/redirect?to=/perl/bytes/10")?;
    let location = redirect.header("location").unwrap_or("(none)");
    writeln!(
        out,
        "GET /perl/redirect?to=...   -> {} Location: {location}",
        redirect.status
    )?;
    writeln!(
        out,
        "    the origin said http://localhost:{}/perl/bytes/10; ProxyPassReverse gave the client its own view",
        origin.addr().port()
    )?;
    writeln!(out)?;
    server.stop()?;
    origin.shutdown();

    what_buffering_buys(out)?;

    if once {
        return Ok(());
    }
    let origin = Origin::start(OriginConfig {
        mount: "/perl".into(),
        ..OriginConfig::default()
    })?;
    let loaded = config::parse_str(&config_text(origin.addr()), Path::new("demo.conf"))
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    let server = Server::start(loaded.config)?;
    let proxy = server.local_addrs()[0];
    writeln!(out, "serving on http://{proxy}/perl/ (try: curl -i http://{proxy}/perl/bytes/100) — Ctrl-C to stop")?;
    out.flush()?;
    while crate::sys::wait_signal()? == crate::sys::Signal::Reload {}
    server.stop()?;
    origin.shutdown();
    Ok(())
}

fn verdict(f: &Fetched) -> &'static str {
    let expected = f
        .header("x-checksum")
        .and_then(|v| u64::from_str_radix(v, 16).ok());
    match expected {
        Some(sum) if sum == f.checksum => "ok",
        Some(_) => "MISMATCH",
        None => "not sent",
    }
}

/// Workers of the heavy origin (mod_perl children: a worker held by a slow client is a request
/// nobody else can be served on).
const HEAVY_WORKERS: usize = 4;

/// Slow clients in each run, and what each fetches and how fast it reads.
const SLOW_CLIENTS: usize = 8;
const SLOW_BODY: usize = 512 * 1024;
const SLOW_RATE: usize = 256 * 1024;

/// One run's figures.
struct RunFigures {
    hold_ms: Vec<f64>,
    client_s: Vec<f64>,
    peak_kib: Vec<f64>,
    pool_peak_kib: f64,
    /// Responses whose body went through a pipe (ProxySplice Auto): held in kernel memory.
    spliced: u64,
    wall_s: f64,
    failures: usize,
}

/// Runs the slow clients through spoonfeed with and without buffering and prints the table.
fn what_buffering_buys(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "What buffering buys: a heavy origin with {HEAVY_WORKERS} workers, {SLOW_CLIENTS} clients \
         each reading {} KiB at {} KiB/s",
        SLOW_BODY / 1024,
        SLOW_RATE / 1024
    )?;
    writeln!(
        out,
        "(max={HEAVY_WORKERS} keeps spoonfeed's connections within the workers; client sockets get \
         SendBufferSize 64k,\n so that the kernel does not do the buffering for us)"
    )?;
    out.flush()?;
    let on = slow_run(true)?;
    let off = slow_run(false)?;
    writeln!(
        out,
        "  {:<34} {:>14} {:>14}",
        "", "buffering on", "buffering=off"
    )?;
    let row = |out: &mut dyn Write, name: &str, a: String, b: String| {
        writeln!(out, "  {name:<34} {a:>14} {b:>14}")
    };
    let p = |v: &[f64], q: f64| percentile(v, q);
    row(
        out,
        "backend hold p50 / p99 (ms)",
        format!("{:.1} / {:.1}", p(&on.hold_ms, 0.5), p(&on.hold_ms, 0.99)),
        format!("{:.0} / {:.0}", p(&off.hold_ms, 0.5), p(&off.hold_ms, 0.99)),
    )?;
    row(
        out,
        "client time p50 / p99 (s)",
        format!("{:.2} / {:.2}", p(&on.client_s, 0.5), p(&on.client_s, 0.99)),
        format!(
            "{:.2} / {:.2}",
            p(&off.client_s, 0.5),
            p(&off.client_s, 0.99)
        ),
    )?;
    row(
        out,
        "all clients served in (s)",
        format!("{:.2}", on.wall_s),
        format!("{:.2}", off.wall_s),
    )?;
    row(
        out,
        "peak occupancy per response (KiB)",
        format!("{:.0}", p(&on.peak_kib, 1.0)),
        format!("{:.0}", p(&off.peak_kib, 1.0)),
    )?;
    row(
        out,
        "peak block pool memory (KiB)",
        format!("{:.0}", on.pool_peak_kib),
        format!("{:.0}", off.pool_peak_kib),
    )?;
    row(
        out,
        "bodies spliced (held in pipes)",
        on.spliced.to_string(),
        off.spliced.to_string(),
    )?;
    row(
        out,
        "failed or corrupt responses",
        on.failures.to_string(),
        off.failures.to_string(),
    )?;
    writeln!(
        out,
        "  With buffering each worker is free again as soon as its response is in spoonfeed's \
         blocks\n  (or, for bodies of 64 KiB and more, in a splice pipe: kernel memory, counted as \
         occupancy);\n  without it a worker is held until its slow client has read everything, and \
         the other\n  clients queue for the {HEAVY_WORKERS} workers.\n"
    )?;
    Ok(())
}

/// The `q` quantile (nearest rank) of `values`; 0 when empty.
fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n => v[((q * n as f64).ceil() as usize).clamp(1, n) - 1],
    }
}

/// One run: a fresh heavy origin and spoonfeed, the slow clients, and the figures from
/// spoonfeed's access log and status endpoint.
fn slow_run(buffering: bool) -> io::Result<RunFigures> {
    let origin = Origin::start(OriginConfig {
        mount: "/perl".into(),
        max_connections: HEAVY_WORKERS,
        ..OriginConfig::default()
    })?;
    let dir = std::env::temp_dir().join(format!(
        "spoonfeed-demo-{}-{}",
        std::process::id(),
        buffering
    ));
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("access.log");
    let key = if buffering { "" } else { " buffering=off" };
    let text = format!(
        "Listen 127.0.0.1:0\nWorkers 1\nSendBufferSize 64k\nStatusLocation /spoonfeed-status\n\
         ProxyPass /perl/ http://127.0.0.1:{}/perl/ max={HEAVY_WORKERS}{key}\n\
         CustomLog {} \"%{{backend_hold}}x %{{peak_occupancy}}x\"\n",
        origin.addr().port(),
        log.display()
    );
    let loaded = config::parse_str(&text, Path::new("demo.conf"))
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    let server = Server::start(loaded.config)?;
    let proxy = server.local_addrs()[0];
    let started = Instant::now();
    let clients: Vec<_> = (0..SLOW_CLIENTS)
        .map(|i| {
            std::thread::spawn(move || {
                slow_fetch(proxy, &format!("/perl/bytes/{SLOW_BODY}?seed={i}"))
            })
        })
        .collect();
    let mut client_s = Vec::new();
    let mut failures = 0;
    for c in clients {
        match c.join() {
            Ok(Ok((true, t))) => client_s.push(t.as_secs_f64()),
            _ => failures += 1,
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let status = get_text(proxy, "/spoonfeed-status?format=json")?;
    server.stop()?;
    origin.shutdown();
    let lines = std::fs::read_to_string(&log)?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut hold_ms = Vec::new();
    let mut peak_kib = Vec::new();
    for line in lines.lines() {
        let mut f = line.split(' ').map(|v| v.parse::<f64>().unwrap_or(0.0));
        hold_ms.push(f.next().unwrap_or(0.0) / 1e3);
        peak_kib.push(f.next().unwrap_or(0.0) / 1024.0);
    }
    let block_kib = 16.0; // ProxyIOBufferSize's default, which the run does not change
    let pool_peak_kib = json_number(&status, "blocks_peak").unwrap_or(0) as f64 * block_kib;
    Ok(RunFigures {
        hold_ms,
        client_s,
        peak_kib,
        pool_peak_kib,
        spliced: json_number(&status, "spliced").unwrap_or(0),
        wall_s,
        failures,
    })
}

/// The number after `"key":` in a JSON text.
fn json_number(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    json[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Reads a response head; returns its lines.
fn read_head(reader: &mut impl BufRead) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

/// GETs `path` and returns the body (read until close) as text.
fn get_text(addr: SocketAddr, path: &str) -> io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    read_head(&mut reader)?;
    let mut body = String::new();
    reader.read_to_string(&mut body)?;
    Ok(body)
}

/// GETs `path` reading the body at `SLOW_RATE`; returns whether it arrived whole with the
/// right checksum, and how long the client took.
fn slow_fetch(addr: SocketAddr, path: &str) -> io::Result<(bool, Duration)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    let field = |name: &str| {
        head.iter()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.trim().to_string())
    };
    let length: usize = field("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::other("no Content-Length"))?;
    let mut checksum = Checksum::default();
    let mut buf = vec![0; SLOW_RATE / 8];
    let mut left = length;
    while left > 0 {
        let n = left.min(buf.len());
        reader.read_exact(&mut buf[..n])?;
        checksum.update(&buf[..n]);
        left -= n;
        if left > 0 {
            std::thread::sleep(Duration::from_millis(125));
        }
    }
    let ok = field("x-checksum") == Some(format!("{:016x}", checksum.finish()));
    Ok((ok, started.elapsed()))
}
