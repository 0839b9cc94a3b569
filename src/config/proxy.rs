//! Handlers for the mod_proxy directives (`ProxyPass`, `ProxyPassMatch`, `ProxyPassReverse`
//! and the `Proxy*` switches), the backend registry they feed, and the checks that need the
//! whole file: backend parameters that disagree, backend host resolution, and routes that can
//! never match.
//!
//! Backends are deduplicated by canonical `scheme://host:port`. Their parameters are resolved
//! only after the whole file is read, because their default `timeout` is `ProxyTimeout`, which
//! may come later in the file.

use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use regex::bytes::RegexBuilder;

use super::model::*;
use super::parse::Parser;
use super::values::{self, Url};

/// `retry=` when not given (Apache's default).
const DEFAULT_RETRY: Duration = Duration::from_secs(60);

/// The `ProxyPass` keys spoonfeed knows, for messages.
const VALID_KEYS: &str = "timeout, connectiontimeout, max, ttl, retry, disablereuse, buffering";

/// The keys one `ProxyPass` line gave; `None` where it gave none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Keys {
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    max: Option<usize>,
    ttl: Option<Duration>,
    retry: Option<Duration>,
    disable_reuse: Option<bool>,
    buffering: Option<bool>,
}

impl Keys {
    fn is_empty(&self) -> bool {
        *self == Keys::default()
    }

    /// The backend parameters these keys give, defaults filled in.
    fn resolve(&self, proxy_timeout: Duration) -> BackendParams {
        let timeout = self.timeout.unwrap_or(proxy_timeout);
        BackendParams {
            timeout,
            connect_timeout: self.connect_timeout.unwrap_or(timeout),
            max: self.max,
            ttl: self.ttl,
            retry: self.retry.unwrap_or(DEFAULT_RETRY),
            disable_reuse: self.disable_reuse.unwrap_or(false),
            buffering: self.buffering.unwrap_or(true),
        }
    }
}

/// A backend as the handlers see it, before its parameters and addresses are resolved.
pub(super) struct BackendDraft {
    url: Url,
    /// The first line naming this backend.
    origin: Origin,
    /// The keys that define the parameters and where they were given: the first line naming
    /// this backend with any key.
    defined: Option<(Keys, Origin)>,
    /// Later lines naming it with keys; each must agree with `defined`.
    repeated: Vec<(Keys, Origin)>,
}

/// Reads `key=value` arguments of `ProxyPass` / `ProxyPassMatch`; a key given twice on one
/// line takes the later value.
fn parse_keys(directive: &str, args: &[String]) -> Result<Keys, String> {
    let mut keys = Keys::default();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(format!(
                "{directive}: \"{arg}\" is not a key=value parameter; valid keys: {VALID_KEYS}"
            ));
        };
        let bad = |e: String| format!("{directive} {key}={value}: {e}");
        match key.to_ascii_lowercase().as_str() {
            "timeout" => keys.timeout = Some(values::positive_time(value).map_err(bad)?),
            "connectiontimeout" => {
                keys.connect_timeout = Some(values::positive_time(value).map_err(bad)?)
            }
            "max" => {
                let max = values::count(value, "max", 1, u32::MAX.into()).map_err(bad)?;
                keys.max = Some(max as usize);
            }
            "ttl" => keys.ttl = Some(values::positive_time(value).map_err(bad)?),
            "retry" => keys.retry = Some(values::time(value).map_err(bad)?),
            "disablereuse" => keys.disable_reuse = Some(values::on_off(value).map_err(bad)?),
            "buffering" => keys.buffering = Some(values::on_off(value).map_err(bad)?),
            _ => {
                return Err(format!(
                    "unknown {directive} key \"{key}\"; valid keys: {VALID_KEYS}"
                ))
            }
        }
    }
    Ok(keys)
}

/// Parses a backend URL, `http://` or `https://` (which needs `SSLProxyEngine On`, checked
/// once the file is read); a query only for `ProxyPassMatch`, whose URL is a template rather
/// than a prefix.
fn backend_url(directive: &str, text: &str) -> Result<Url, String> {
    let allows_query = directive == "ProxyPassMatch";
    values::url(text, allows_query).map_err(|e| format!("{directive}: {e}"))
}

/// Finds or adds the backend `url` names, recording `keys` if there are any.
fn register_backend(p: &mut Parser, url: &Url, keys: Keys) -> BackendId {
    let name = url.canonical_name();
    let id = match p
        .backends
        .iter()
        .position(|b| b.url.canonical_name() == name)
    {
        Some(id) => id,
        None => {
            p.backends.push(BackendDraft {
                url: url.clone(),
                origin: p.origin.clone(),
                defined: None,
                repeated: Vec::new(),
            });
            p.backends.len() - 1
        }
    };
    if !keys.is_empty() {
        let backend = &mut p.backends[id];
        match backend.defined {
            None => backend.defined = Some((keys, p.origin.clone())),
            Some(_) => backend.repeated.push((keys, p.origin.clone())),
        }
    }
    id
}

/// Checks a path given to `ProxyPass` / `ProxyPassReverse`.
fn check_path(directive: &str, path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "{directive}: the path \"{path}\" must start with \"/\""
        ));
    }
    if path.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        return Err(format!(
            "{directive}: the path \"{path}\" must be visible ASCII; percent-encode anything else"
        ));
    }
    Ok(())
}

/// `ProxyPass PATH URL [key=value…]` or `ProxyPass PATH !`.
pub(super) fn proxy_pass(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let [path, target, keys @ ..] = args else {
        return Err(
            "ProxyPass with one argument is the form used inside <Location>, which spoonfeed does not support; write ProxyPass PATH URL"
                .into(),
        );
    };
    check_path("ProxyPass", path)?;
    let target = if target == "!" {
        if !keys.is_empty() {
            return Err(format!("ProxyPass {path} ! takes no keys"));
        }
        RouteTarget::Exclude
    } else {
        let url = backend_url("ProxyPass", target)?;
        let keys = parse_keys("ProxyPass", keys)?;
        if path.ends_with('/') != url.path.ends_with('/') {
            let (has, lacks) = match path.ends_with('/') {
                true => ("path", "URL"),
                false => ("URL", "path"),
            };
            p.warn(
                p.origin.clone(),
                format!(
                    "ProxyPass {path} {target}: the {has} ends with \"/\" but the {lacks} does not; Apache's documentation advises giving both a trailing slash or neither"
                ),
            );
        }
        let backend = register_backend(p, &url, keys);
        RouteTarget::Proxy {
            backend,
            path: url.path,
        }
    };
    let route = Route {
        matcher: RouteMatch::Prefix(path.clone()),
        target,
        origin: p.origin.clone(),
    };
    p.scope().routes.push(route);
    Ok(())
}

/// `ProxyPassMatch REGEX URL [key=value…]` or `ProxyPassMatch REGEX !`.
pub(super) fn proxy_pass_match(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let (pattern, target, keys) = (&args[0], &args[1], &args[2..]);
    // Byte-oriented like Apache's PCRE (no UTF mode): `.` matches any byte but `\n`, so a
    // path that is not UTF-8 can still match.
    let regex = RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .map_err(|e| {
            // The regex crate draws a caret under the pattern over several lines; a config
            // diagnostic is one line, so keep its final "error: …" line.
            let text = e.to_string();
            let why = text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(&text);
            format!("ProxyPassMatch: invalid regex \"{pattern}\": {why}")
        })?;
    let target = if target == "!" {
        if !keys.is_empty() {
            return Err(format!("ProxyPassMatch {pattern} ! takes no keys"));
        }
        RouteTarget::Exclude
    } else {
        let authority = target
            .split_once("://")
            .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
        if authority.contains('$') {
            return Err(format!(
                "ProxyPassMatch {target}: $N substitutions are supported in the URL's path only, because backends are resolved when the configuration is loaded"
            ));
        }
        let url = backend_url("ProxyPassMatch", target)?;
        let groups = regex.captures_len() - 1;
        if let Some(n) = substitutions(&url.path).find(|&n| n > groups) {
            return Err(format!(
                "ProxyPassMatch {target}: ${n} refers to a group the regex \"{pattern}\" does not have (it has {groups})"
            ));
        }
        let keys = parse_keys("ProxyPassMatch", keys)?;
        let backend = register_backend(p, &url, keys);
        RouteTarget::Proxy {
            backend,
            path: url.path,
        }
    };
    let route = Route {
        matcher: RouteMatch::Regex(regex),
        target,
        origin: p.origin.clone(),
    };
    p.scope().routes.push(route);
    Ok(())
}

/// The group numbers of `$N` substitutions in `path` (a backslash makes the next byte
/// literal, as in Apache's `ap_pregsub`).
fn substitutions(path: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = path.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i + 1 < bytes.len() {
            let (b, next) = (bytes[i], bytes[i + 1]);
            i += 1;
            if b == b'\\' {
                i += 1;
            } else if b == b'$' && next.is_ascii_digit() {
                i += 1;
                return Some(usize::from(next - b'0'));
            }
        }
        None
    })
}

/// `ProxyPassReverse PATH URL`: the URL is kept as written. It must be an http(s) URL (https
/// is fine: nothing connects to it) or, as Apache allows, only a path, which is then compared
/// with the path of the backend's URLs.
pub(super) fn proxy_pass_reverse(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let [path, url] = args else {
        return Err(
            "ProxyPassReverse with one argument is the form used inside <Location>, which spoonfeed does not support; write ProxyPassReverse PATH URL"
                .into(),
        );
    };
    check_path("ProxyPassReverse", path)?;
    if url.starts_with('/') {
        check_path("ProxyPassReverse", url)?;
    } else {
        values::url(url, false).map_err(|e| format!("ProxyPassReverse: {e}"))?;
    }
    let rule = ReverseRule {
        path: path.clone(),
        url: url.clone(),
        origin: p.origin.clone(),
    };
    p.scope().reverse.push(rule);
    Ok(())
}

pub(super) fn proxy_preserve_host(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let on = values::on_off(&args[0]).map_err(|e| format!("ProxyPreserveHost: {e}"))?;
    p.scope().preserve_host = Some(on);
    Ok(())
}

pub(super) fn proxy_add_forwarded(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let on = values::on_off(&args[0]).map_err(|e| format!("ProxyAddForwarded: {e}"))?;
    p.scope().add_rfc7239 = Some(on);
    Ok(())
}

pub(super) fn proxy_add_headers(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let on = values::on_off(&args[0]).map_err(|e| format!("ProxyAddHeaders: {e}"))?;
    p.scope().add_forwarded = Some(on);
    Ok(())
}

/// `ProxyVia Off|On|Full|Block`.
pub(super) fn proxy_via(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let via = match args[0].to_ascii_lowercase().as_str() {
        "off" => ViaSetting::Off,
        "on" => ViaSetting::On,
        "full" => ViaSetting::Full,
        "block" => ViaSetting::Block,
        _ => {
            return Err(format!(
                "ProxyVia: \"{}\" is not one of Off, On, Full, Block",
                args[0]
            ))
        }
    };
    p.scope().via = Some(via);
    Ok(())
}

pub(super) fn proxy_timeout(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let timeout = values::positive_time(&args[0]).map_err(|e| format!("ProxyTimeout: {e}"))?;
    p.server.proxy_timeout = Some(timeout);
    Ok(())
}

/// Resolves every backend: parameters (defaults filled, agreement between lines checked) and
/// addresses (IPv4 first, duplicates dropped). Problems go to the parser's errors.
pub(super) fn resolve_backends(p: &mut Parser, proxy_timeout: Duration) -> Vec<Backend> {
    let drafts = std::mem::take(&mut p.backends);
    let mut backends = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let name = draft.url.canonical_name();
        let params = match &draft.defined {
            Some((keys, _)) => keys.resolve(proxy_timeout),
            None => Keys::default().resolve(proxy_timeout),
        };
        if let Some((_, defined_at)) = &draft.defined {
            for (keys, origin) in &draft.repeated {
                let other = keys.resolve(proxy_timeout);
                if other != params {
                    let message = format!(
                        "ProxyPass gives backend {name} different parameters than line {} ({}); the first ProxyPass with keys for a backend sets them, later ones must repeat them exactly or give none",
                        defined_at.line,
                        differences(&other, &params, defined_at.line)
                    );
                    p.error(origin.clone(), message);
                }
            }
        }
        let addrs = match resolve_addrs(&draft.url) {
            Ok(addrs) => addrs,
            Err(message) => {
                p.error(draft.origin.clone(), message);
                Vec::new()
            }
        };
        backends.push(Backend {
            name,
            scheme: draft.url.scheme,
            host: draft.url.host,
            port: draft.url.port,
            authority: draft.url.authority,
            addrs,
            params,
            origin: draft.origin,
        });
    }
    backends
}

/// The backend entry of forward-proxied requests: no addresses of its own (each request's
/// are resolved then), `ProxyTimeout` for its timeouts, never pooled (its connections go to
/// many hosts) and never marked down (one dead host says nothing of the others).
pub(super) fn forward_backend(proxy_timeout: Duration, file: &std::path::Path) -> Backend {
    Backend {
        name: "forward proxy".into(),
        scheme: Scheme::Http,
        host: String::new(),
        port: 0,
        authority: String::new(),
        addrs: Vec::new(),
        params: BackendParams {
            disable_reuse: true,
            retry: Duration::ZERO,
            ..Keys::default().resolve(proxy_timeout)
        },
        origin: Origin {
            file: file.to_path_buf(),
            line: 0,
        },
    }
}

/// "timeout 10s here, 5s at line 3; …" for the parameters that differ.
fn differences(here: &BackendParams, there: &BackendParams, line: usize) -> String {
    let time = |t: Duration| values::show_time(t);
    let opt_time = |t: Option<Duration>| t.map_or("unset".to_string(), values::show_time);
    let fields = [
        ("timeout", time(here.timeout), time(there.timeout)),
        (
            "connectiontimeout",
            time(here.connect_timeout),
            time(there.connect_timeout),
        ),
        (
            "max",
            here.max.map_or("unset".into(), |m| m.to_string()),
            there.max.map_or("unset".into(), |m| m.to_string()),
        ),
        ("ttl", opt_time(here.ttl), opt_time(there.ttl)),
        ("retry", time(here.retry), time(there.retry)),
        (
            "disablereuse",
            on_off(here.disable_reuse).into(),
            on_off(there.disable_reuse).into(),
        ),
        (
            "buffering",
            on_off(here.buffering).into(),
            on_off(there.buffering).into(),
        ),
    ];
    fields
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(key, a, b)| format!("{key} {a} here, {b} at line {line}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn on_off(on: bool) -> &'static str {
    if on {
        "On"
    } else {
        "Off"
    }
}

/// Resolves a backend's host with the system resolver: every address, IPv4 first.
fn resolve_addrs(url: &Url) -> Result<Vec<SocketAddr>, String> {
    let found = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve backend host \"{}\": {e}", url.host))?;
    let mut seen = HashSet::new();
    let mut addrs: Vec<SocketAddr> = found.filter(|a| seen.insert(*a)).collect();
    addrs.sort_by_key(SocketAddr::is_ipv6);
    if addrs.is_empty() {
        return Err(format!(
            "backend host \"{}\" resolves to no address",
            url.host
        ));
    }
    Ok(addrs)
}

/// How a route is written, for messages.
pub(super) fn describe(route: &Route) -> String {
    match &route.matcher {
        RouteMatch::Prefix(path) => format!("ProxyPass {path}"),
        RouteMatch::Regex(regex) => format!("ProxyPassMatch {}", regex.as_str()),
    }
}

/// Whether every request `later` matches is matched by `earlier` first. Conservative: a
/// prefix shadows only at a path-segment boundary, so the answer holds both for plain
/// byte-prefix matching and for Apache's segment-wise matching.
fn shadows(earlier: &RouteMatch, later: &RouteMatch) -> bool {
    match (earlier, later) {
        (RouteMatch::Prefix(a), RouteMatch::Prefix(b)) => {
            b.starts_with(a.as_str())
                && (a.ends_with('/') || b.len() == a.len() || b.as_bytes()[a.len()] == b'/')
        }
        (RouteMatch::Regex(a), RouteMatch::Regex(b)) => a.as_str() == b.as_str(),
        (RouteMatch::Prefix(_), RouteMatch::Regex(_))
        | (RouteMatch::Regex(_), RouteMatch::Prefix(_)) => false,
    }
}

/// Warnings for routes that can never match because an earlier route in the same effective
/// list (the main server's, then the virtual host's own) always matches first. The main
/// server's routes are checked once, not once per virtual host that inherits them.
pub(super) fn shadowed_routes(vhosts: &[Vhost]) -> Vec<ConfigWarning> {
    let inherited = vhosts.first().map_or(0, |main| main.routes.len());
    let mut warnings = Vec::new();
    for (index, vhost) in vhosts.iter().enumerate() {
        let own = if index == 0 { 0 } else { inherited };
        for (i, later) in vhost.routes.iter().enumerate().skip(own) {
            let earlier = vhost.routes[..i]
                .iter()
                .find(|e| shadows(&e.matcher, &later.matcher));
            if let Some(earlier) = earlier {
                warnings.push(ConfigWarning {
                    origin: later.origin.clone(),
                    message: format!(
                        "{} can never match: {} at line {} matches first",
                        describe(later),
                        describe(earlier),
                        earlier.origin.line
                    ),
                });
            }
        }
    }
    warnings
}
