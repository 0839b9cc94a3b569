//! Handlers for the core server directives: listeners, workers, `<VirtualHost>`, names and
//! connection limits (Apache's core). Each records what its line says in the parser's drafts;
//! defaults live here as named constants that the directive table's `default` column repeats
//! (a test keeps the two equal).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::lexer::{Line, Node};
use super::model::*;
use super::parse::{Parser, VhostDraft};
use super::values;

/// Most reactor threads `Workers` accepts: far more than any machine spoonfeed runs on has
/// cores, and a bound on threads started by a typo.
const MAX_WORKERS: u64 = 1024;

/// Shortest `LimitRequestLine` / `LimitRequestFieldSize`: below this, ordinary requests
/// (a method, a useful path, the version; a `Host` field) no longer fit.
const MIN_HEAD_LINE: u64 = 64;
/// Longest `LimitRequestLine` / `LimitRequestFieldSize`: a head line past 1 MiB is an attack,
/// not a request, and it must fit in the blocks a reactor buffers a head in.
const MAX_HEAD_LINE: u64 = 1 << 20;
/// Most header fields `LimitRequestFields` allows (Apache's ceiling).
const MAX_REQUEST_FIELDS: u64 = 32767;

/// The limits in force when no directive sets them (Apache 2.4's defaults).
pub(super) fn default_limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(60),
        keep_alive: true,
        keep_alive_timeout: Duration::from_secs(5),
        max_keep_alive_requests: 100,
        request_line: 8190,
        request_field_size: 8190,
        request_fields: 100,
        request_body: 1 << 30,
        header_read: Some(ReadTimeout {
            initial: Duration::from_secs(20),
            max: Some(Duration::from_secs(40)),
            min_rate: Some(500),
        }),
        body_read: Some(ReadTimeout {
            initial: Duration::from_secs(20),
            max: None,
            min_rate: Some(500),
        }),
        max_connections: 0,
        allow_http09: false,
    }
}

/// `RequestReadTimeout [header=T[-MAX][,MinRate=R]] [body=T[-MAX][,MinRate=R]]`, Apache's
/// syntax; `header=0` or `body=0` turns that stage off. Stages not named keep their default.
pub(super) fn request_read_timeout(p: &mut Parser, args: &[String]) -> Result<(), String> {
    for arg in args {
        let (stage, spec) = arg
            .split_once('=')
            .ok_or_else(|| format!("RequestReadTimeout: \"{arg}\" is not header=… or body=…"))?;
        let parsed = read_timeout(spec).map_err(|e| format!("RequestReadTimeout {stage}: {e}"))?;
        match stage.to_ascii_lowercase().as_str() {
            "header" => p.server.limits.header_read = parsed,
            "body" => p.server.limits.body_read = parsed,
            "handshake" => {
                return Err(
                    "RequestReadTimeout handshake= is not supported: the header= stage times \
                     the TLS handshake and the request head together"
                        .into(),
                )
            }
            _ => {
                return Err(format!(
                    "RequestReadTimeout: unknown stage \"{stage}\"; give header= or body="
                ))
            }
        }
    }
    Ok(())
}

/// `T[-MAX][,MinRate=R]` in seconds and bytes per second; `0` is off.
fn read_timeout(spec: &str) -> Result<Option<ReadTimeout>, String> {
    let mut parts = spec.split(',');
    let times = parts.next().unwrap_or_default();
    let (initial, max) = match times.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (times, None),
    };
    let secs = |t: &str| values::count(t, "a timeout in seconds", 0, 86_400);
    let initial = secs(initial)?;
    let max = max.map(secs).transpose()?;
    let mut min_rate = None;
    for part in parts {
        match part.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("minrate") => {
                min_rate = Some(values::count(v, "MinRate", 1, u64::from(u32::MAX))?);
            }
            _ => return Err(format!("unknown option \"{part}\"; give MinRate=BYTES")),
        }
    }
    if initial == 0 {
        return Ok(None);
    }
    if max.is_some_and(|m| m < initial) {
        return Err(format!(
            "the maximum {} is below the timeout {initial}",
            max.unwrap_or(0)
        ));
    }
    if max.is_some() && min_rate.is_none() {
        return Err("a maximum needs MinRate (without it the timeout never grows)".into());
    }
    Ok(Some(ReadTimeout {
        initial: Duration::from_secs(initial),
        max: max.map(Duration::from_secs),
        min_rate,
    }))
}

/// Shows a stage the way `request_read_timeout` reads it.
pub(super) fn show_read_timeout(t: Option<ReadTimeout>) -> String {
    match t {
        None => "0".into(),
        Some(t) => {
            let mut out = t.initial.as_secs().to_string();
            if let Some(max) = t.max {
                out.push_str(&format!("-{}", max.as_secs()));
            }
            if let Some(rate) = t.min_rate {
                out.push_str(&format!(",MinRate={rate}"));
            }
            out
        }
    }
}

pub(super) fn max_connections(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = values::count(&args[0], "MaxConnections", 0, 10_000_000)?;
    p.server.limits.max_connections = n as usize;
    Ok(())
}

/// `HttpProtocolOptions [Strict] [LenientMethods] [Allow0.9|Require1.0]`, Apache's syntax.
/// spoonfeed always parses strictly and takes any method token, so `Unsafe` and
/// `RegisteredMethods` are refused rather than silently ignored.
pub(super) fn http_protocol_options(p: &mut Parser, args: &[String]) -> Result<(), String> {
    for arg in args {
        match arg.to_ascii_lowercase().as_str() {
            "strict" | "lenientmethods" => {}
            "allow0.9" => p.server.limits.allow_http09 = true,
            "require1.0" => p.server.limits.allow_http09 = false,
            "unsafe" => {
                return Err(
                    "HttpProtocolOptions Unsafe is not supported: spoonfeed always parses \
                     strictly (RFC 9112)"
                        .into(),
                )
            }
            "registeredmethods" => {
                return Err(
                    "HttpProtocolOptions RegisteredMethods is not supported: any method token \
                     is forwarded"
                        .into(),
                )
            }
            _ => {
                return Err(format!(
                    "HttpProtocolOptions: unknown option \"{arg}\"; give Strict, \
                     LenientMethods, Allow0.9 or Require1.0"
                ))
            }
        }
    }
    Ok(())
}

/// The main server's `ServerName` when none is given: the kernel's host name, else
/// `localhost`.
pub(super) fn default_server_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|name| values::host_name(name.trim(), false))
        .unwrap_or_else(|| "localhost".to_string())
}

/// `Listen [ADDR:]PORT [http|https]`. A bare port means 0.0.0.0:PORT (IPv4 only).
pub(super) fn listen(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let scheme = match args.get(1) {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("http") => Some(Scheme::Http),
        Some(s) if s.eq_ignore_ascii_case("https") => Some(Scheme::Https),
        Some(s) => return Err(format!("unknown protocol \"{s}\"; give http or https")),
    };
    let text = &args[0];
    let (host, port) = values::split_host_port(text).map_err(|e| format!("Listen {e}"))?;
    let addr = match port {
        None => {
            let port = values::port(host, true).map_err(|e| format!("Listen: {e}"))?;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
        }
        Some(port) => {
            let port = values::port(port, true).map_err(|e| format!("Listen: {e}"))?;
            let ip = match values::bracketed_ipv6(host) {
                Some(v6) => IpAddr::V6(v6),
                None => host.parse::<std::net::Ipv4Addr>().map(IpAddr::V4).map_err(|_| {
                    format!("Listen address \"{host}\" is not an IP address (host names are not supported)")
                })?,
            };
            SocketAddr::new(ip, port)
        }
    };
    if addr.port() != 0 {
        if let Some(earlier) = p.server.listens.iter().find(|l| l.addr == addr) {
            return Err(format!(
                "Listen {addr} is given twice (first at line {})",
                earlier.origin.line
            ));
        }
    }
    // As Apache: port 443 speaks https unless told otherwise.
    let scheme = scheme.unwrap_or(if addr.port() == 443 {
        Scheme::Https
    } else {
        Scheme::Http
    });
    p.server.listens.push(Listen {
        addr,
        scheme,
        origin: p.origin.clone(),
    });
    Ok(())
}

/// `Workers N|auto`.
pub(super) fn workers(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.workers = if args[0].eq_ignore_ascii_case("auto") {
        Workers::Auto
    } else {
        let n = values::count(&args[0], "Workers", 1, MAX_WORKERS)
            .map_err(|e| format!("{e} (or auto)"))?;
        Workers::Count(n as usize)
    };
    Ok(())
}

/// `<VirtualHost addr…>`: reads the addresses, then the body into a new virtual host.
pub(super) fn virtual_host(p: &mut Parser, open: &Line, body: &[Node]) {
    let mut addrs = Vec::new();
    for arg in &open.args {
        match vhost_addr(arg) {
            Ok(addr) => addrs.push(addr),
            Err(message) => p.error(p.origin.clone(), message),
        }
    }
    p.vhosts.push(VhostDraft {
        addrs,
        origin: Some(p.origin.clone()),
        ..VhostDraft::default()
    });
    p.current = Some(p.vhosts.len() - 1);
    p.apply_all(body);
    p.current = None;
}

/// One `<VirtualHost>` address: `*`, `_default_`, `IP`, each with an optional `:PORT` or `:*`.
fn vhost_addr(text: &str) -> Result<VhostAddr, String> {
    let invalid = || {
        format!("<VirtualHost> address \"{text}\": give *, *:PORT, IP or IP:PORT (IPv6 in brackets; host names are not supported)")
    };
    let (host, port) = values::split_host_port(text).map_err(|_| invalid())?;
    let port = match port {
        None | Some("*") => None,
        Some(port) => Some(
            values::port(port, false)
                .map_err(|e| format!("<VirtualHost> address \"{text}\": {e}"))?,
        ),
    };
    let ip = if host == "*" || host.eq_ignore_ascii_case("_default_") {
        None
    } else if let Some(v6) = values::bracketed_ipv6(host) {
        Some(IpAddr::V6(v6))
    } else {
        Some(IpAddr::V4(host.parse().map_err(|_| invalid())?))
    };
    Ok(VhostAddr { ip, port })
}

/// `ServerName [scheme://]host[:port]`: keeps the lowercase host (IPv6 with brackets, as it
/// appears in a Host header).
pub(super) fn server_name(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let text = &args[0];
    let rest = match text.split_once("://") {
        None => text.as_str(),
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest
        }
        Some((scheme, _)) => return Err(format!("ServerName: unknown scheme {scheme}://")),
    };
    let (host, port) = values::split_host_port(rest).map_err(|e| format!("ServerName {e}"))?;
    if let Some(port) = port {
        values::port(port, false).map_err(|e| format!("ServerName {text}: {e}"))?;
    }
    let host = if values::bracketed_ipv6(host).is_some() {
        host.to_ascii_lowercase()
    } else {
        values::host_name(host, false)
            .ok_or_else(|| format!("ServerName: invalid host name \"{host}\""))?
    };
    p.scope().server_name = Some(host);
    Ok(())
}

/// `ServerAlias name…`: host name patterns with `*` and `?`, accumulated over lines.
pub(super) fn server_alias(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let mut aliases = Vec::with_capacity(args.len());
    for arg in args {
        let alias = if values::bracketed_ipv6(arg).is_some() {
            arg.to_ascii_lowercase()
        } else {
            values::host_name(arg, true).ok_or_else(|| {
                format!("ServerAlias: invalid name \"{arg}\" (letters, digits, - _ . and the wildcards * ?; no port)")
            })?
        };
        aliases.push(alias);
    }
    p.scope().aliases.extend(aliases);
    Ok(())
}

pub(super) fn timeout(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.limits.timeout =
        values::positive_time(&args[0]).map_err(|e| format!("Timeout: {e}"))?;
    Ok(())
}

pub(super) fn keep_alive(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.limits.keep_alive = values::on_off(&args[0]).map_err(|e| format!("KeepAlive: {e}"))?;
    Ok(())
}

pub(super) fn keep_alive_timeout(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.limits.keep_alive_timeout =
        values::positive_time(&args[0]).map_err(|e| format!("KeepAliveTimeout: {e}"))?;
    Ok(())
}

pub(super) fn max_keep_alive_requests(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = values::count(&args[0], "MaxKeepAliveRequests", 0, u32::MAX.into())?;
    p.server.limits.max_keep_alive_requests = n as u32;
    Ok(())
}

pub(super) fn limit_request_line(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = values::size_within(&args[0], "LimitRequestLine", MIN_HEAD_LINE, MAX_HEAD_LINE)?;
    p.server.limits.request_line = n as usize;
    Ok(())
}

pub(super) fn limit_request_field_size(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = values::size_within(
        &args[0],
        "LimitRequestFieldSize",
        MIN_HEAD_LINE,
        MAX_HEAD_LINE,
    )?;
    p.server.limits.request_field_size = n as usize;
    Ok(())
}

pub(super) fn limit_request_fields(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = values::count(&args[0], "LimitRequestFields", 1, MAX_REQUEST_FIELDS)?;
    p.server.limits.request_fields = n as usize;
    Ok(())
}

pub(super) fn limit_request_body(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.limits.request_body =
        values::size(&args[0]).map_err(|e| format!("LimitRequestBody: {e}"))?;
    Ok(())
}
