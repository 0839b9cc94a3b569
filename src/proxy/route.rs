//! Request routing, as mod_proxy does it: which virtual host answers a connection and `Host`
//! ([`select_vhost`]), which `ProxyPass` / `ProxyPassMatch` rule takes a request path and what
//! path the backend is sent ([`route`]), and whether an absolute-form request names this server
//! ([`is_local_authority`]).
//!
//! Sans-I/O: plain functions of the configuration and request bytes; no sockets, no clocks, no
//! logging. They must not decode or normalise the request target: the backend gets the client's
//! bytes (after the matched prefix) exactly as they arrived.
//!
//! Cost: one linear first-match scan over the virtual host's rules (as mod_proxy does), no
//! allocation except the one `Vec` holding the backend path of a [`Decision::Proxy`] (and the
//! capture slots of a `ProxyPassMatch` whose URL uses `$N`, only once it has matched).

use std::net::{IpAddr, SocketAddr};

use regex::bytes::{Captures, Regex};

use crate::config::{BackendId, Config, RouteMatch, RouteTarget, Vhost, VhostAddr};

/// Which virtual host answers, by Apache's rules (httpd's "In-Depth Discussion of Virtual Host
/// Matching"):
///
/// 1. Only virtual hosts with an address matching the connection's local address are
///    candidates, and only those at the *most specific* level that matches any: an explicit IP
///    and port beat an explicit IP with any port, which beats `*:port`, which beats `*:*`
///    (`ip: None`, an unspecified IP such as `0.0.0.0`, and `port: None` are wildcards).
///    IPv4-mapped IPv6 local addresses compare as IPv4.
/// 2. Among the candidates, in configuration order, the first whose `ServerName` (exactly) or
///    one of whose `ServerAlias` patterns (`*`, `?` wildcards) matches the `Host` name wins.
///    The name is compared case-insensitively with its port, IPv6 brackets and one trailing
///    dot removed.
/// 3. Otherwise (no `Host`, or no name matches) the first candidate.
/// 4. With no candidate at all, the main server (index 0).
pub fn select_vhost(cfg: &Config, local: SocketAddr, host: Option<&[u8]>) -> usize {
    let ip = local.ip().to_canonical();
    let port = local.port();
    let rank = |v: &Vhost| v.addrs.iter().filter_map(|a| addr_rank(a, ip, port)).max();
    let Some(best) = cfg.vhosts.iter().filter_map(rank).max() else {
        return 0;
    };
    let mut candidates = cfg
        .vhosts
        .iter()
        .enumerate()
        .filter(|(_, v)| v.addrs.iter().any(|a| addr_rank(a, ip, port) == Some(best)));
    let name = host.map(host_part).unwrap_or_default();
    if !name.is_empty() {
        if let Some((i, _)) = candidates.clone().find(|(_, v)| answers_to(v, name)) {
            return i;
        }
    }
    candidates.next().map_or(0, |(i, _)| i)
}

/// Whether `name` (a `Host` value or a TLS SNI name) is virtual host `vhost`'s `ServerName` or
/// matches one of its `ServerAlias` patterns; `SSLStrictSNIVHostCheck` refuses handshakes for
/// names no host answers to.
pub fn is_named(vhost: &Vhost, name: &[u8]) -> bool {
    answers_to(vhost, host_part(name))
}

/// How specifically `addr` matches the local address: 3 = IP and port, 2 = IP (any port),
/// 1 = port (any IP), 0 = `*:*`; `None` when it does not match.
fn addr_rank(addr: &VhostAddr, ip: IpAddr, port: u16) -> Option<u8> {
    let ip_rank = match addr.ip.map(|a| a.to_canonical()) {
        None => 0,
        Some(a) if a.is_unspecified() => 0,
        Some(a) if a == ip => 2,
        Some(_) => return None,
    };
    let port_rank = match addr.port {
        None => 0,
        Some(p) if p == port => 1,
        Some(_) => return None,
    };
    Some(ip_rank + port_rank)
}

/// Whether `name` (already reduced by [`host_part`]) is this virtual host's `ServerName` or
/// matches one of its `ServerAlias` patterns.
fn answers_to(vhost: &Vhost, name: &[u8]) -> bool {
    let server_name = config_host(&vhost.server_name);
    (!server_name.is_empty() && server_name.eq_ignore_ascii_case(name))
        || vhost
            .aliases
            .iter()
            .any(|alias| wildcard_match(config_host(alias), name))
}

/// The host of a `Host` value or an authority: `[v6]` brackets, `:port` and one trailing dot
/// removed. A malformed value is returned mostly as is; it then matches no name.
fn host_part(authority: &[u8]) -> &[u8] {
    let host = match authority.strip_prefix(b"[") {
        Some(rest) => rest.split(|&b| b == b']').next().unwrap_or(rest),
        // More than one `:` is a bare IPv6 address (no port can be told apart).
        None if authority.iter().filter(|&&b| b == b':').count() > 1 => authority,
        None => authority.split(|&b| b == b':').next().unwrap_or(authority),
    };
    host.strip_suffix(b".").unwrap_or(host)
}

/// The host of a configured `ServerName` / `ServerAlias`, which Apache lets carry a
/// `scheme://` and a `:port`.
fn config_host(name: &str) -> &[u8] {
    let bytes = name.as_bytes();
    let without_scheme = match name.find("://") {
        Some(i) => &bytes[i + 3..],
        None => bytes,
    };
    host_part(without_scheme)
}

/// Case-insensitive glob match with `*` (any run, including dots) and `?` (one byte), as
/// Apache's `ap_strcasecmp_match` does for `ServerAlias`. Linear backtracking on the last `*`,
/// so a pattern cannot make it exponential.
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name position it is currently taken to end at.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    p = sp + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// What [`route`] decided for a request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forward to `backend` with this origin-form target (path and query, always starting
    /// with `/`); `route` indexes `Vhost::routes`.
    Proxy {
        backend: BackendId,
        path: Vec<u8>,
        route: usize,
    },
    /// A `ProxyPass PATH !` (or `ProxyPassMatch REGEX !`) matched first: not proxied.
    Excluded { route: usize },
    /// No rule matched.
    NoRoute,
}

/// The first of the virtual host's rules, in order, that matches decides (mod_proxy's
/// `proxy_trans`); a matching `!` rule stops the search.
///
/// - `ProxyPass PATH URL` matches as mod_proxy's `alias_match` does, on the raw bytes of the
///   path (without the query): byte for byte, except that a run of `/` in PATH matches a run
///   of one or more `/` in the request; and when PATH does not end in `/`, the request path
///   must end or continue with `/` right after it (`/app` matches `/app` and `/app/x`, not
///   `/application`). The backend path is the URL's path followed by everything after the
///   matched bytes, query included, byte for byte.
/// - `ProxyPassMatch REGEX URL` searches (unanchored, as PCRE does) the raw path without the
///   query. In the URL's path `$0`..`$9` become the groups (empty when unmatched) and `\c`
///   becomes `c` (Apache's `ap_pregsub`). If that leaves the URL's path unchanged — it had no
///   `$N` — the whole request path is appended, as mod_proxy does, so
///   `ProxyPassMatch \.gif$ http://b` sends `/x.gif` to `http://b/x.gif`. The request's
///   query (`?…`) is appended as is; if the URL already holds a `?`, it is joined with `&`
///   instead (spoonfeed's choice, so the backend gets one query string).
/// - A target that is not origin-form (`*`, or not starting with `/`) matches nothing, as in
///   mod_proxy.
///
/// The backend path is made to start with `/` when the configured URL path is empty.
///
/// Unlike mod_proxy, which matches the *decoded*, dot-segment-free path, nothing is decoded
/// here: `/%61dmin` and `/x/../admin` do not match `ProxyPass /admin !`, while a backend may
/// well read them as `/admin`. The caller therefore refuses dot-segments and decodes
/// unreserved escapes first (`super::path`).
pub fn route(vhost: &Vhost, path_and_query: &[u8]) -> Decision {
    if path_and_query.first() != Some(&b'/') {
        return Decision::NoRoute;
    }
    let path_len = path_and_query
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(path_and_query.len());
    let path = &path_and_query[..path_len];
    for (i, rule) in vhost.routes.iter().enumerate() {
        let decision = match &rule.matcher {
            RouteMatch::Prefix(prefix) => {
                alias_match(path, prefix.as_bytes()).map(|matched| match &rule.target {
                    RouteTarget::Exclude => Decision::Excluded { route: i },
                    RouteTarget::Proxy {
                        backend,
                        path: base,
                    } => Decision::Proxy {
                        backend: *backend,
                        path: join_prefix(base.as_bytes(), &path_and_query[matched..]),
                        route: i,
                    },
                })
            }
            RouteMatch::Regex(re) => {
                // `is_match` needs no allocation; capture slots are made only for the rule
                // that matched and only when its URL uses them.
                re.is_match(path).then(|| match &rule.target {
                    RouteTarget::Exclude => Decision::Excluded { route: i },
                    RouteTarget::Proxy {
                        backend,
                        path: template,
                    } => Decision::Proxy {
                        backend: *backend,
                        path: substitute(
                            re,
                            template.as_bytes(),
                            path,
                            &path_and_query[path_len..],
                        ),
                        route: i,
                    },
                })
            }
        };
        if let Some(decision) = decision {
            return decision;
        }
    }
    Decision::NoRoute
}

/// mod_proxy's `alias_match` on raw bytes: how many bytes of `path` the `alias` (a
/// `ProxyPass` PATH) matched, or `None`. See [`route`] for the rules.
///
/// The common prefix is compared a word at a time; Apache's byte loop ([`alias_match_runs`])
/// runs only when a run of `/` could make the two sides differ in length, i.e. they first
/// differ right after a `/` and one of them has another `/` there.
fn alias_match(path: &[u8], alias: &[u8]) -> Option<usize> {
    let same = common_prefix_len(path, alias);
    if same == alias.len() {
        let last = *alias.last()?;
        let mut matched = same;
        if last == b'/' {
            // The alias's final `/` also swallows any further `/` of the request.
            while path.get(matched) == Some(&b'/') {
                matched += 1;
            }
        } else if matched < path.len() && path[matched] != b'/' {
            // The alias's last segment must match a whole segment of the path.
            return None;
        }
        return Some(matched);
    }
    let after_slash = same > 0 && alias[same - 1] == b'/';
    if after_slash && (alias[same] == b'/' || path.get(same) == Some(&b'/')) {
        return alias_match_runs(path, alias);
    }
    None
}

/// Apache's `alias_match` loop, byte by byte: a run of `/` in the alias matches a run of one
/// or more `/` in the path.
fn alias_match_runs(path: &[u8], alias: &[u8]) -> Option<usize> {
    let (mut a, mut u) = (0, 0);
    while a < alias.len() && u < path.len() {
        if alias[a] == b'/' {
            if path[u] != b'/' {
                return None;
            }
            while alias.get(a) == Some(&b'/') {
                a += 1;
            }
            while path.get(u) == Some(&b'/') {
                u += 1;
            }
        } else {
            if path[u] != alias[a] {
                return None;
            }
            a += 1;
            u += 1;
        }
    }
    // The path ran out before the alias did (also rejects an empty alias).
    if a < alias.len() || a == 0 {
        return None;
    }
    // The alias's last segment must have matched a whole segment of the path.
    if alias[a - 1] != b'/' && u < path.len() && path[u] != b'/' {
        return None;
    }
    Some(u)
}

/// How many leading bytes `a` and `b` share, compared eight at a time.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let mut same = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let (mut wx, mut wy) = ([0; 8], [0; 8]);
        wx.copy_from_slice(x);
        wy.copy_from_slice(y);
        let diff = u64::from_le_bytes(wx) ^ u64::from_le_bytes(wy);
        if diff != 0 {
            return same + (diff.trailing_zeros() / 8) as usize;
        }
        same += 8;
    }
    same + a[same..]
        .iter()
        .zip(&b[same..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The backend target of a prefix route: the URL's path, then the rest of the request.
fn join_prefix(base: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(base.len() + rest.len() + 1);
    if base.is_empty() && rest.first() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(base);
    out.extend_from_slice(rest);
    out
}

/// The backend target of a `ProxyPassMatch` that matched `path`; `query` is `""` or `?…`.
fn substitute(re: &Regex, template: &[u8], path: &[u8], query: &[u8]) -> Vec<u8> {
    let uses_groups = template
        .windows(2)
        .any(|w| w[0] == b'$' && w[1].is_ascii_digit());
    let caps = if uses_groups { re.captures(path) } else { None };
    let mut out = Vec::with_capacity(1 + template.len() + path.len() + query.len());
    pregsub(template, caps.as_ref(), &mut out);
    if out == template {
        out.extend_from_slice(path);
    }
    if let Some(rest) = query.strip_prefix(b"?") {
        let joiner = if out.contains(&b'?') { b'&' } else { b'?' };
        out.push(joiner);
        out.extend_from_slice(rest);
    }
    if out.first() != Some(&b'/') {
        // Origin-form needs the leading `/` that an empty or relative URL path lacks.
        out.insert(0, b'/');
    }
    out
}

/// Apache's `ap_pregsub`: `$0`..`$9` become the groups (empty if unmatched or absent),
/// `\c` becomes `c`, everything else is copied.
fn pregsub(template: &[u8], caps: Option<&Captures<'_>>, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < template.len() {
        match (template[i], template.get(i + 1)) {
            (b'$', Some(&d)) if d.is_ascii_digit() => {
                let group = caps.and_then(|c| c.get(usize::from(d - b'0')));
                out.extend_from_slice(group.map_or(&[][..], |m| m.as_bytes()));
                i += 2;
            }
            (b'\\', Some(&c)) => {
                out.push(c);
                i += 2;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// Whether an absolute-form request's authority (`[userinfo@]host[:port]`) names this server:
/// any virtual host's `ServerName` or `ServerAlias` (the main server's included), or the
/// local IP address of the connection. Used to refuse forward-proxy requests while
/// `ProxyRequests` is Off.
///
/// The port is not compared: behind NAT or a load balancer the port a client names need not
/// be the one we listen on, and a request treated as local is only ever routed by our own
/// `ProxyPass` rules, never to the named port, so ignoring it cannot make an open proxy.
pub fn is_local_authority(cfg: &Config, local: SocketAddr, authority: &[u8]) -> bool {
    let host_port = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let name = host_part(host_port);
    if name.is_empty() {
        return false;
    }
    let is_local_ip = std::str::from_utf8(name)
        .ok()
        .and_then(|s| s.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.to_canonical() == local.ip().to_canonical());
    is_local_ip || cfg.vhosts.iter().any(|v| answers_to(v, name))
}

/// Whether `authority` names the port `local_port` (`default_port` when it names none). With
/// `ProxyRequests On`, an absolute-form URL for one of our names but another port is for
/// another service on this host, to be forwarded; the port decides.
pub fn names_port(authority: &[u8], default_port: u16, local_port: u16) -> bool {
    let host_port = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let after_host = match host_port.strip_prefix(b"[") {
        Some(rest) => rest
            .iter()
            .position(|&b| b == b']')
            .map_or(&[][..], |end| &rest[end + 1..]),
        None if host_port.iter().filter(|&&b| b == b':').count() > 1 => &[][..],
        None => host_port
            .iter()
            .position(|&b| b == b':')
            .map_or(&[][..], |colon| &host_port[colon..]),
    };
    let port = match after_host.strip_prefix(b":") {
        Some(digits) if !digits.is_empty() => std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u16>().ok()),
        _ => Some(default_port),
    };
    port == Some(local_port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        Buffering, Limits, LogLevel, LogTarget, Origin, Route, ViaSetting, Workers,
    };
    use std::path::PathBuf;
    use std::time::Duration;

    fn origin() -> Origin {
        Origin {
            file: PathBuf::from("test.conf"),
            line: 1,
        }
    }

    fn prefix(path: &str, backend: BackendId, url_path: &str) -> Route {
        Route {
            matcher: RouteMatch::Prefix(path.to_owned()),
            target: RouteTarget::Proxy {
                backend,
                path: url_path.to_owned(),
            },
            origin: origin(),
        }
    }

    fn exclude(path: &str) -> Route {
        Route {
            matcher: RouteMatch::Prefix(path.to_owned()),
            target: RouteTarget::Exclude,
            origin: origin(),
        }
    }

    fn regex(re: &str, backend: BackendId, url_path: &str) -> Route {
        Route {
            matcher: RouteMatch::Regex(Regex::new(re).unwrap()),
            target: RouteTarget::Proxy {
                backend,
                path: url_path.to_owned(),
            },
            origin: origin(),
        }
    }

    fn vhost(
        addrs: &[(Option<&str>, Option<u16>)],
        name: &str,
        aliases: &[&str],
        routes: Vec<Route>,
    ) -> Vhost {
        Vhost {
            addrs: addrs
                .iter()
                .map(|&(ip, port)| VhostAddr {
                    ip: ip.map(|s| s.parse().unwrap()),
                    port,
                })
                .collect(),
            server_name: name.to_owned(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            routes,
            reverse: Vec::new(),
            preserve_host: false,
            add_forwarded: true,
            add_rfc7239: false,
            via: ViaSetting::Off,
            proxy_requests: false,
            proxy_access: crate::config::ProxyAccess::default(),
            allow_connect: Vec::new(),
            access_logs: Vec::new(),
            tls: None,
            proxy_tls: false,
            origin: None,
        }
    }

    fn config(vhosts: Vec<Vhost>) -> Config {
        Config {
            file: PathBuf::from("test.conf"),
            listens: Vec::new(),
            workers: Workers::Count(1),
            limits: Limits {
                timeout: Duration::from_secs(60),
                keep_alive: true,
                keep_alive_timeout: Duration::from_secs(5),
                max_keep_alive_requests: 100,
                request_line: 8190,
                request_field_size: 8190,
                request_fields: 100,
                request_body: 0,
                header_read: None,
                body_read: None,
                max_connections: 0,
                allow_http09: false,
            },
            buffering: Buffering {
                io_buffer_size: 16384,
                response_buffer_size: 1 << 20,
                pool_size: 1 << 28,
                request_buffering: true,
                request_buffer_size: 1 << 20,
                temp_path: None,
                max_temp_file_size: 1 << 30,
                splice: crate::config::SpliceMode::Auto,
                client_send_buffer: 0,
                client_receive_buffer: 0,
                backend_send_buffer: 0,
                backend_receive_buffer: 0,
            },
            status: None,
            proxy_timeout: Duration::from_secs(60),
            tls: vec![None; vhosts.len()],
            forward_backend: None,
            cache: None,
            proxy_tls: None,
            proxy_ca_file: None,
            proxy_verify: true,
            vhosts,
            backends: Vec::new(),
            error_log: LogTarget::Stderr,
            log_level: LogLevel::Warn,
        }
    }

    fn proxied(backend: BackendId, path: &str, route: usize) -> Decision {
        Decision::Proxy {
            backend,
            path: path.as_bytes().to_vec(),
            route,
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    // --- route ---

    #[test]
    fn chapter_example_maps_perl_prefix_to_backend_path() {
        // ProxyPass /perl/ http://localhost:81/perl/
        let v = vhost(
            &[],
            "www.example.com",
            &[],
            vec![prefix("/perl/", 0, "/perl/")],
        );
        assert_eq!(route(&v, b"/perl/test.pl"), proxied(0, "/perl/test.pl", 0));
        assert_eq!(route(&v, b"/perl/"), proxied(0, "/perl/", 0));
        assert_eq!(route(&v, b"/index.html"), Decision::NoRoute);
    }

    #[test]
    fn prefix_with_trailing_slash_does_not_match_path_without_it() {
        let v = vhost(&[], "", &[], vec![prefix("/perl/", 0, "/perl/")]);
        assert_eq!(route(&v, b"/perl"), Decision::NoRoute);
    }

    #[test]
    fn prefix_without_trailing_slash_matches_whole_segments_only() {
        let v = vhost(&[], "", &[], vec![prefix("/app", 0, "/backend")]);
        assert_eq!(route(&v, b"/app"), proxied(0, "/backend", 0));
        assert_eq!(route(&v, b"/app/x"), proxied(0, "/backend/x", 0));
        assert_eq!(route(&v, b"/app?q=1"), proxied(0, "/backend?q=1", 0));
        assert_eq!(route(&v, b"/application"), Decision::NoRoute);
    }

    #[test]
    fn root_prefix_matches_everything_and_keeps_the_rest() {
        let v = vhost(&[], "", &[], vec![prefix("/", 2, "/")]);
        assert_eq!(route(&v, b"/"), proxied(2, "/", 0));
        assert_eq!(route(&v, b"/a/b?c"), proxied(2, "/a/b?c", 0));
    }

    #[test]
    fn runs_of_slashes_in_the_request_match_one_slash_of_the_prefix() {
        let v = vhost(&[], "", &[], vec![exclude("/admin/"), prefix("/", 0, "/")]);
        assert_eq!(route(&v, b"//admin//x"), Decision::Excluded { route: 0 });
        assert_eq!(route(&v, b"/admin/x"), Decision::Excluded { route: 0 });
    }

    #[test]
    fn exclusion_before_broader_rule_wins() {
        let v = vhost(
            &[],
            "",
            &[],
            vec![exclude("/perl/static/"), prefix("/perl/", 0, "/perl/")],
        );
        assert_eq!(
            route(&v, b"/perl/static/logo.png"),
            Decision::Excluded { route: 0 }
        );
        assert_eq!(route(&v, b"/perl/app"), proxied(0, "/perl/app", 1));
    }

    #[test]
    fn exclusion_after_broader_rule_is_never_reached() {
        let v = vhost(
            &[],
            "",
            &[],
            vec![prefix("/perl/", 0, "/perl/"), exclude("/perl/static/")],
        );
        assert_eq!(
            route(&v, b"/perl/static/logo.png"),
            proxied(0, "/perl/static/logo.png", 0)
        );
    }

    #[test]
    fn first_matching_rule_wins_not_the_longest() {
        let v = vhost(
            &[],
            "",
            &[],
            vec![prefix("/a/", 0, "/one/"), prefix("/a/b/", 1, "/two/")],
        );
        assert_eq!(route(&v, b"/a/b/c"), proxied(0, "/one/b/c", 0));
    }

    #[test]
    fn query_and_percent_encoding_pass_through_byte_for_byte() {
        let v = vhost(&[], "", &[], vec![prefix("/perl/", 0, "/mod/")]);
        assert_eq!(
            route(&v, b"/perl/a%2Fb%20c/%7e?x=%41&y=a+b&&z"),
            proxied(0, "/mod/a%2Fb%20c/%7e?x=%41&y=a+b&&z", 0)
        );
        // Not decoded for matching either: the prefix is compared with the raw bytes.
        assert_eq!(route(&v, b"/%70erl/x"), Decision::NoRoute);
        // Bytes that are not UTF-8 are carried as they are.
        assert_eq!(
            route(&v, b"/perl/\xff\xfe?\x80"),
            Decision::Proxy {
                backend: 0,
                path: b"/mod/\xff\xfe?\x80".to_vec(),
                route: 0
            }
        );
    }

    #[test]
    fn query_does_not_take_part_in_prefix_matching() {
        let v = vhost(&[], "", &[], vec![prefix("/a/b", 0, "/x")]);
        assert_eq!(route(&v, b"/a?/b"), Decision::NoRoute);
    }

    #[test]
    fn regex_groups_are_substituted_and_query_appended() {
        let v = vhost(
            &[],
            "",
            &[],
            vec![regex(r"^/user/(\d+)/(.*)$", 1, "/u/$2/id/$1")],
        );
        assert_eq!(
            route(&v, b"/user/42/profile?tab=1"),
            proxied(1, "/u/profile/id/42?tab=1", 0)
        );
        assert_eq!(route(&v, b"/user/x/profile"), Decision::NoRoute);
    }

    #[test]
    fn regex_group_zero_is_the_whole_match_and_missing_groups_are_empty() {
        let v = vhost(&[], "", &[], vec![regex(r"/img/(a)?b", 0, "/s$0/$1/$7")]);
        assert_eq!(route(&v, b"/x/img/b.png"), proxied(0, "/s/img/b//", 0));
    }

    #[test]
    fn regex_url_without_dollar_gets_the_whole_path_appended() {
        // ProxyPassMatch \.gif$ http://b  and  ProxyPassMatch ^(/.*\.gif)$ http://b$1 agree.
        let implied = vhost(&[], "", &[], vec![regex(r"\.gif$", 0, "")]);
        let explicit = vhost(&[], "", &[], vec![regex(r"^(/.*\.gif)$", 0, "$1")]);
        assert_eq!(
            route(&implied, b"/a/b.gif?v=2"),
            proxied(0, "/a/b.gif?v=2", 0)
        );
        assert_eq!(
            route(&explicit, b"/a/b.gif?v=2"),
            proxied(0, "/a/b.gif?v=2", 0)
        );
        let with_path = vhost(&[], "", &[], vec![regex(r"\.gif$", 0, "/static")]);
        assert_eq!(
            route(&with_path, b"/a/b.gif"),
            proxied(0, "/static/a/b.gif", 0)
        );
    }

    #[test]
    fn regex_backslash_escapes_a_dollar() {
        let v = vhost(&[], "", &[], vec![regex(r"^/p/(.*)$", 0, r"/q/\$1/$1")]);
        assert_eq!(route(&v, b"/p/z"), proxied(0, "/q/$1/z", 0));
    }

    #[test]
    fn regex_url_with_its_own_query_joins_the_request_query_with_ampersand() {
        let v = vhost(
            &[],
            "",
            &[],
            vec![regex(r"^/item/(\d+)$", 0, "/show?id=$1")],
        );
        assert_eq!(
            route(&v, b"/item/7?lang=fr"),
            proxied(0, "/show?id=7&lang=fr", 0)
        );
        assert_eq!(route(&v, b"/item/7"), proxied(0, "/show?id=7", 0));
    }

    #[test]
    fn regex_matches_path_without_query() {
        let v = vhost(&[], "", &[], vec![regex(r"\.php$", 0, "")]);
        assert_eq!(
            route(&v, b"/index.php?a=b.php"),
            proxied(0, "/index.php?a=b.php", 0)
        );
        assert_eq!(route(&v, b"/x?y.php"), Decision::NoRoute);
    }

    #[test]
    fn regex_exclusion_stops_the_search() {
        let v = vhost(
            &[],
            "",
            &[],
            vec![
                Route {
                    matcher: RouteMatch::Regex(Regex::new(r"\.png$").unwrap()),
                    target: RouteTarget::Exclude,
                    origin: origin(),
                },
                prefix("/", 0, "/"),
            ],
        );
        assert_eq!(route(&v, b"/a.png"), Decision::Excluded { route: 0 });
        assert_eq!(route(&v, b"/a.html"), proxied(0, "/a.html", 1));
    }

    #[test]
    fn empty_url_path_still_yields_origin_form() {
        let v = vhost(&[], "", &[], vec![prefix("/app", 0, "")]);
        assert_eq!(route(&v, b"/app"), proxied(0, "/", 0));
        assert_eq!(route(&v, b"/app?x"), proxied(0, "/?x", 0));
        assert_eq!(route(&v, b"/app/y"), proxied(0, "/y", 0));
    }

    #[test]
    fn asterisk_and_non_origin_targets_match_nothing() {
        let v = vhost(&[], "", &[], vec![regex(".*", 0, ""), prefix("/", 0, "/")]);
        assert_eq!(route(&v, b"*"), Decision::NoRoute);
        assert_eq!(route(&v, b""), Decision::NoRoute);
    }

    #[test]
    fn no_rules_means_no_route() {
        let v = vhost(&[], "", &[], Vec::new());
        assert_eq!(route(&v, b"/"), Decision::NoRoute);
    }

    /// Every path and alias over `/`, `a`, `b` up to five bytes, behind common prefixes that
    /// put the difference on either side of the eight-byte word boundaries.
    #[test]
    fn fast_alias_match_agrees_with_apache_loop_exhaustively() {
        fn strings(max: usize) -> Vec<Vec<u8>> {
            let mut all = vec![Vec::new()];
            let mut last = vec![Vec::new()];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|s: &Vec<u8>| {
                        b"/ab".iter().map(move |&c| [s.as_slice(), &[c]].concat())
                    })
                    .collect();
                all.extend(last.iter().cloned());
            }
            all
        }
        let tails = strings(5);
        for head in [&b""[..], b"/x", b"/api/v1", b"/api/v1/svc12/"] {
            for path_tail in &tails {
                let path = [head, path_tail].concat();
                for alias_tail in &tails {
                    let alias = [head, alias_tail].concat();
                    assert_eq!(
                        alias_match(&path, &alias),
                        alias_match_runs(&path, &alias),
                        "path {:?} alias {:?}",
                        String::from_utf8_lossy(&path),
                        String::from_utf8_lossy(&alias)
                    );
                }
            }
        }
    }

    #[test]
    fn common_prefix_len_counts_across_words() {
        assert_eq!(common_prefix_len(b"", b"abc"), 0);
        assert_eq!(common_prefix_len(b"abcdefgh", b"abcdefgh"), 8);
        assert_eq!(common_prefix_len(b"abcdefghij", b"abcdefghiX"), 9);
        assert_eq!(common_prefix_len(b"abcdefgXij", b"abcdefghij"), 7);
        assert_eq!(
            common_prefix_len(b"abcdefghijklmnopq", b"abcdefghijklmnop"),
            16
        );
        assert_eq!(common_prefix_len(b"Xbc", b"abc"), 0);
    }

    // --- select_vhost ---

    fn name_based() -> Config {
        config(vec![
            vhost(&[], "main.example", &[], Vec::new()),
            vhost(
                &[(None, Some(80))],
                "www.example.com",
                &["example.com"],
                Vec::new(),
            ),
            vhost(
                &[(None, Some(80))],
                "shop.example.com",
                &["*.shop.example.com", "shop-?.example.org"],
                Vec::new(),
            ),
            vhost(&[(None, Some(8080))], "admin.example.com", &[], Vec::new()),
        ])
    }

    #[test]
    fn selects_vhost_by_server_name_among_address_matches() {
        let cfg = name_based();
        let local = addr("192.0.2.1:80");
        assert_eq!(select_vhost(&cfg, local, Some(b"www.example.com")), 1);
        assert_eq!(select_vhost(&cfg, local, Some(b"shop.example.com")), 2);
        assert_eq!(select_vhost(&cfg, local, Some(b"example.com")), 1);
    }

    #[test]
    fn host_matching_ignores_case_port_and_trailing_dot() {
        let cfg = name_based();
        let local = addr("192.0.2.1:80");
        assert_eq!(select_vhost(&cfg, local, Some(b"SHOP.Example.COM:80")), 2);
        assert_eq!(select_vhost(&cfg, local, Some(b"shop.example.com.")), 2);
        assert_eq!(
            select_vhost(&cfg, local, Some(b"shop.example.com.:8080")),
            2
        );
    }

    #[test]
    fn server_alias_wildcards_match() {
        let cfg = name_based();
        let local = addr("192.0.2.1:80");
        assert_eq!(select_vhost(&cfg, local, Some(b"eu.shop.example.com")), 2);
        assert_eq!(select_vhost(&cfg, local, Some(b"a.b.shop.example.com")), 2);
        assert_eq!(select_vhost(&cfg, local, Some(b"shop-1.example.org")), 2);
        // `?` is exactly one character; `*` needs the literal suffix.
        assert_eq!(select_vhost(&cfg, local, Some(b"shop-12.example.org")), 1);
        assert_eq!(select_vhost(&cfg, local, Some(b"shop.example.com.evil")), 1);
    }

    #[test]
    fn unknown_or_missing_host_gets_first_vhost_for_the_address() {
        let cfg = name_based();
        let local = addr("192.0.2.1:80");
        assert_eq!(select_vhost(&cfg, local, Some(b"nobody.example")), 1);
        assert_eq!(select_vhost(&cfg, local, None), 1);
        assert_eq!(select_vhost(&cfg, local, Some(b"")), 1);
    }

    #[test]
    fn name_of_a_vhost_on_another_port_is_not_matched() {
        let cfg = name_based();
        assert_eq!(
            select_vhost(&cfg, addr("192.0.2.1:80"), Some(b"admin.example.com")),
            1
        );
        assert_eq!(
            select_vhost(&cfg, addr("192.0.2.1:8080"), Some(b"www.example.com")),
            3
        );
    }

    #[test]
    fn address_without_any_vhost_gets_the_main_server() {
        let cfg = name_based();
        assert_eq!(
            select_vhost(&cfg, addr("192.0.2.1:9000"), Some(b"www.example.com")),
            0
        );
        let only_main = config(vec![vhost(&[], "main", &[], Vec::new())]);
        assert_eq!(
            select_vhost(&only_main, addr("127.0.0.1:80"), Some(b"main")),
            0
        );
    }

    #[test]
    fn explicit_ip_vhost_beats_wildcard_vhost() {
        let cfg = config(vec![
            vhost(&[], "main", &[], Vec::new()),
            vhost(&[(None, Some(80))], "star.example", &[], Vec::new()),
            vhost(
                &[(Some("192.0.2.7"), None)],
                "ip-anyport.example",
                &[],
                Vec::new(),
            ),
            vhost(
                &[(Some("192.0.2.7"), Some(80))],
                "ip-port.example",
                &[],
                Vec::new(),
            ),
        ]);
        // Names are only compared within the most specific address match.
        assert_eq!(
            select_vhost(&cfg, addr("192.0.2.7:80"), Some(b"star.example")),
            3
        );
        assert_eq!(
            select_vhost(&cfg, addr("192.0.2.7:81"), Some(b"star.example")),
            2
        );
        assert_eq!(
            select_vhost(&cfg, addr("192.0.2.8:80"), Some(b"ip-port.example")),
            1
        );
        assert_eq!(select_vhost(&cfg, addr("192.0.2.8:81"), None), 0);
    }

    #[test]
    fn ip_based_vhosts_are_told_apart_by_local_address() {
        let cfg = config(vec![
            vhost(&[], "main", &[], Vec::new()),
            vhost(
                &[(Some("10.0.0.1"), Some(80))],
                "a.example",
                &[],
                Vec::new(),
            ),
            vhost(
                &[(Some("10.0.0.2"), Some(80))],
                "b.example",
                &[],
                Vec::new(),
            ),
            vhost(
                &[(Some("2001:db8::1"), Some(80))],
                "v6.example",
                &[],
                Vec::new(),
            ),
        ]);
        assert_eq!(
            select_vhost(&cfg, addr("10.0.0.2:80"), Some(b"a.example")),
            2
        );
        assert_eq!(select_vhost(&cfg, addr("10.0.0.1:80"), None), 1);
        assert_eq!(select_vhost(&cfg, addr("[2001:db8::1]:80"), None), 3);
        // A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6.
        assert_eq!(select_vhost(&cfg, addr("[::ffff:10.0.0.2]:80"), None), 2);
    }

    #[test]
    fn ipv6_literal_host_with_port_matches_server_name() {
        let cfg = config(vec![
            vhost(&[], "main", &[], Vec::new()),
            vhost(&[(None, None)], "default.example", &[], Vec::new()),
            vhost(&[(None, None)], "[2001:db8::5]", &[], Vec::new()),
            vhost(&[(None, None)], "other.example", &["::1"], Vec::new()),
        ]);
        let local = addr("[2001:db8::5]:8443");
        assert_eq!(select_vhost(&cfg, local, Some(b"[2001:db8::5]:8443")), 2);
        assert_eq!(select_vhost(&cfg, local, Some(b"[2001:DB8::5]")), 2);
        assert_eq!(select_vhost(&cfg, local, Some(b"[::1]:80")), 3);
    }

    #[test]
    fn unspecified_vhost_ip_is_a_wildcard() {
        let cfg = config(vec![
            vhost(&[], "main", &[], Vec::new()),
            vhost(
                &[(Some("0.0.0.0"), Some(80))],
                "any.example",
                &[],
                Vec::new(),
            ),
        ]);
        assert_eq!(select_vhost(&cfg, addr("198.51.100.3:80"), None), 1);
    }

    #[test]
    fn server_name_with_scheme_and_port_still_matches_its_host() {
        let cfg = config(vec![
            vhost(&[], "main", &[], Vec::new()),
            vhost(&[(None, None)], "first.example", &[], Vec::new()),
            vhost(
                &[(None, None)],
                "https://secure.example:443",
                &[],
                Vec::new(),
            ),
        ]);
        assert_eq!(
            select_vhost(&cfg, addr("127.0.0.1:443"), Some(b"secure.example")),
            2
        );
    }

    #[test]
    fn wildcard_matching_edge_cases() {
        assert!(wildcard_match(b"*", b"anything.at.all"));
        assert!(wildcard_match(b"a*b*c", b"aXXbYYbZc"));
        assert!(!wildcard_match(b"a*b*c", b"aXXbYY"));
        assert!(wildcard_match(b"**x", b"x"));
        assert!(!wildcard_match(b"", b"x"));
        assert!(!wildcard_match(b"?", b""));
        assert!(wildcard_match(b"*.EXAMPLE.com", b"www.example.COM"));
    }

    #[test]
    fn names_port_reads_the_port_or_takes_the_default() {
        assert!(names_port(b"example.com", 80, 80));
        assert!(names_port(b"example.com:", 80, 80));
        assert!(names_port(b"example.com:8080", 80, 8080));
        assert!(!names_port(b"example.com:8080", 80, 80));
        assert!(names_port(b"[::1]:443", 80, 443));
        assert!(names_port(b"[::1]", 443, 443));
        assert!(!names_port(b"user:pw@h:81", 80, 80));
        assert!(!names_port(b"h:99999", 80, 80));
    }

    // --- is_local_authority ---

    #[test]
    fn authority_naming_any_vhost_or_local_ip_is_local() {
        let cfg = name_based();
        let local = addr("192.0.2.1:80");
        assert!(is_local_authority(&cfg, local, b"www.example.com"));
        assert!(is_local_authority(&cfg, local, b"WWW.example.com.:80"));
        assert!(is_local_authority(&cfg, local, b"admin.example.com:8080"));
        assert!(is_local_authority(&cfg, local, b"x.shop.example.com"));
        assert!(is_local_authority(&cfg, local, b"main.example"));
        assert!(is_local_authority(&cfg, local, b"192.0.2.1:80"));
        assert!(is_local_authority(&cfg, local, b"user:pw@www.example.com"));
    }

    #[test]
    fn authority_naming_another_host_is_not_local() {
        let cfg = name_based();
        let local = addr("192.0.2.1:80");
        assert!(!is_local_authority(&cfg, local, b"evil.example.net"));
        assert!(!is_local_authority(&cfg, local, b"192.0.2.2"));
        assert!(!is_local_authority(&cfg, local, b""));
        assert!(!is_local_authority(&cfg, local, b":80"));
        assert!(!is_local_authority(
            &cfg,
            local,
            b"www.example.com@evil.example.net"
        ));
    }

    #[test]
    fn ipv6_authority_is_compared_as_an_address() {
        let cfg = name_based();
        let local = addr("[2001:db8::1]:80");
        assert!(is_local_authority(&cfg, local, b"[2001:DB8:0::1]:80"));
        assert!(!is_local_authority(&cfg, local, b"[2001:db8::2]"));
        let mapped = addr("[::ffff:192.0.2.1]:80");
        assert!(is_local_authority(&cfg, mapped, b"192.0.2.1"));
    }
}
