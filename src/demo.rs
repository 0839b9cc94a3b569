//! `spoonfeed demo`: the bundled origin on a free loopback port, spoonfeed in front of it with
//! the classic `ProxyPass` / `ProxyPassReverse` pair, a few exchanges through it, and a report of
//! what happened.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use spoonfeed_tools::origin::{Checksum, Origin, OriginConfig};

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

    if once {
        server.stop()?;
        origin.shutdown();
        return Ok(());
    }
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
