//! `ProxyPassReverse`: rewriting the backend's own URLs in response headers (`Location`,
//! `Content-Location`, `URI`) back into the client's view of this server, as mod_proxy's
//! `ap_proxy_location_reverse_map` does.
//!
//! The client keeps the host *and port* it used: the rewritten URL is built from the `Host`
//! header exactly as the client sent it, so DNS aliases of one address stay the name in the
//! browser's location bar, and a backend on another port (`localhost:81`) never leaks. That is
//! the case the mod_perl guide's proxy chapter says Squid could not handle.
//!
//! Sans-I/O and allocation-free unless a rule matches. It does not choose which headers to
//! rewrite (the caller does) and never validates the header value beyond matching it.

use crate::config::{ReverseRule, Scheme};

/// How the client addressed us, for building the URLs it is given back.
#[derive(Clone, Copy, Debug)]
pub struct ClientView<'a> {
    /// The scheme the client connected with.
    pub scheme: Scheme,
    /// The `Host` header exactly as the client sent it, port included; already checked by the
    /// HTTP parser (no CR, LF or other bytes a header value cannot hold).
    pub host: Option<&'a [u8]>,
    /// Used when there is no (or an empty) `Host` (HTTP/1.0): `ServerName`, plus `:port` unless
    /// the port is the scheme's default.
    pub fallback: &'a str,
}

/// Rewrites one header value with the first rule (in order) whose URL it starts with: that
/// prefix is replaced by `scheme://host` (from `view`) followed by the rule's path; the rest
/// of the value is kept byte for byte. `None` means the value is to be left unchanged.
///
/// Matching, as mod_proxy does, with two deliberate corrections:
/// - a rule URL that is only a path (starts with `/`) is compared with the path of an
///   absolute value (from the first `/` after `://`), or with the whole value otherwise;
/// - scheme and authority compare case-insensitively, **the path case-sensitively** (Apache
///   compares the whole URL case-insensitively and marks that as a FIXME: a backend path
///   `/PERL/` is not `/perl/`);
/// - a rule URL not ending in `/` must be followed in the value by the end, `/`, `?` or `#`,
///   so `http://localhost:81` does not rewrite `http://localhost:8123/…` (Apache's plain
///   prefix test would produce `/23/…`), consistently with how `ProxyPass` matches segments.
///
/// When the rule's path ends in `/` and the rest starts with `/`, one of the two is dropped
/// (`ProxyPassReverse / http://b` maps `http://b/x` to `/x`, not `//x`), as Apache does for
/// balancer members.
pub fn rewrite(rules: &[ReverseRule], value: &[u8], view: &ClientView<'_>) -> Option<Vec<u8>> {
    rules.iter().find_map(|rule| {
        let url = rule.url.as_bytes();
        let subject = if url.first() == Some(&b'/') {
            path_of(value)
        } else {
            value
        };
        let rest = strip_url_prefix(subject, url)?;
        Some(client_url(view, rule.path.as_bytes(), rest))
    })
}

/// The path of an absolute URL (from the first `/` after `://`), or the whole value when it
/// has no `://` or no path.
fn path_of(value: &[u8]) -> &[u8] {
    value
        .windows(3)
        .position(|w| w == b"://")
        .and_then(|i| {
            value[i + 3..]
                .iter()
                .position(|&b| b == b'/')
                .map(|j| &value[i + 3 + j..])
        })
        .unwrap_or(value)
}

/// What follows `url` in `subject`, if `subject` starts with it (see [`rewrite`] for the case
/// and boundary rules).
fn strip_url_prefix<'v>(subject: &'v [u8], url: &[u8]) -> Option<&'v [u8]> {
    if url.is_empty() || subject.len() < url.len() {
        return None;
    }
    // Where the path of `url` begins: after `scheme://authority`, or 0 for a bare path (which
    // may itself hold a `://`, as in `/x://y`).
    let scheme_end = if url.starts_with(b"/") {
        None
    } else {
        url.windows(3).position(|w| w == b"://")
    };
    let path_start = match scheme_end {
        Some(i) => url[i + 3..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(url.len(), |j| i + 3 + j),
        None => 0,
    };
    let (head, rest) = subject.split_at(url.len());
    let same = head[..path_start].eq_ignore_ascii_case(&url[..path_start])
        && head[path_start..] == url[path_start..];
    let at_boundary =
        url.ends_with(b"/") || matches!(rest.first(), None | Some(b'/' | b'?' | b'#'));
    (same && at_boundary).then_some(rest)
}

/// `scheme://host` + `path` + `rest`, with the host as the client sent it.
fn client_url(view: &ClientView<'_>, path: &[u8], rest: &[u8]) -> Vec<u8> {
    let host = match view.host {
        Some(h) if !h.is_empty() => h,
        _ => view.fallback.as_bytes(),
    };
    let rest = match rest.strip_prefix(b"/") {
        Some(tail) if path.ends_with(b"/") => tail,
        _ => rest,
    };
    let scheme = view.scheme.as_str().as_bytes();
    let mut out = Vec::with_capacity(scheme.len() + 3 + host.len() + path.len() + rest.len());
    out.extend_from_slice(scheme);
    out.extend_from_slice(b"://");
    out.extend_from_slice(host);
    out.extend_from_slice(path);
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;
    use std::path::PathBuf;

    fn rule(path: &str, url: &str) -> ReverseRule {
        ReverseRule {
            path: path.to_owned(),
            url: url.to_owned(),
            origin: Origin {
                file: PathBuf::from("test.conf"),
                line: 1,
            },
        }
    }

    fn view<'a>(host: Option<&'a str>) -> ClientView<'a> {
        ClientView {
            scheme: Scheme::Http,
            host: host.map(str::as_bytes),
            fallback: "www.example.com",
        }
    }

    fn rewritten(rules: &[ReverseRule], value: &str, view: &ClientView<'_>) -> Option<String> {
        rewrite(rules, value.as_bytes(), view).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn a_path_only_url_holding_a_scheme_separator_compares_with_case() {
        // Found by the reverse fuzz target: `://` inside a bare path was taken for a scheme,
        // and what came before it compared without case.
        let rules = [rule("/p/", "/x://Y")];
        assert_eq!(rewritten(&rules, "/x://y", &view(Some("front"))), None);
        assert_eq!(
            rewritten(&rules, "/x://Y", &view(Some("front"))).as_deref(),
            Some("http://front/p/")
        );
    }

    #[test]
    fn chapter_example_redirect_comes_back_to_the_front_end() {
        // ProxyPassReverse /perl/ http://localhost:81/perl/ ; mod_dir adds the slash.
        let rules = [rule("/perl/", "http://localhost:81/perl/")];
        assert_eq!(
            rewritten(
                &rules,
                "http://localhost:81/perl/dir/",
                &view(Some("www.example.com"))
            )
            .as_deref(),
            Some("http://www.example.com/perl/dir/")
        );
    }

    #[test]
    fn client_keeps_the_alias_and_port_it_used() {
        let rules = [rule("/perl/", "http://localhost:81/perl/")];
        assert_eq!(
            rewritten(
                &rules,
                "http://localhost:81/perl/login?next=%2F",
                &view(Some("alias:8080"))
            )
            .as_deref(),
            Some("http://alias:8080/perl/login?next=%2F")
        );
        // A DNS alias on the default port stays that alias, without a port.
        assert_eq!(
            rewritten(
                &rules,
                "http://localhost:81/perl/x",
                &view(Some("other-alias.example"))
            )
            .as_deref(),
            Some("http://other-alias.example/perl/x")
        );
        // An IPv6 literal Host is used as sent.
        assert_eq!(
            rewritten(
                &rules,
                "http://localhost:81/perl/x",
                &view(Some("[2001:db8::1]:8080"))
            )
            .as_deref(),
            Some("http://[2001:db8::1]:8080/perl/x")
        );
    }

    #[test]
    fn without_host_the_fallback_name_is_used() {
        let rules = [rule("/perl/", "http://localhost:81/perl/")];
        let no_host = ClientView {
            scheme: Scheme::Http,
            host: None,
            fallback: "www.example.com:8080",
        };
        assert_eq!(
            rewritten(&rules, "http://localhost:81/perl/a", &no_host).as_deref(),
            Some("http://www.example.com:8080/perl/a")
        );
        assert_eq!(
            rewritten(&rules, "http://localhost:81/perl/a", &view(Some(""))).as_deref(),
            Some("http://www.example.com/perl/a")
        );
    }

    #[test]
    fn https_view_gives_https_urls() {
        let rules = [rule("/app/", "http://10.0.0.5:8000/")];
        let tls = ClientView {
            scheme: Scheme::Https,
            host: Some(b"shop.example"),
            fallback: "shop.example",
        };
        assert_eq!(
            rewritten(&rules, "http://10.0.0.5:8000/cart", &tls).as_deref(),
            Some("https://shop.example/app/cart")
        );
    }

    #[test]
    fn value_not_starting_with_any_rule_url_is_unchanged() {
        let rules = [rule("/perl/", "http://localhost:81/perl/")];
        let v = view(Some("www.example.com"));
        assert_eq!(
            rewritten(&rules, "http://elsewhere.example/perl/x", &v),
            None
        );
        assert_eq!(rewritten(&rules, "http://localhost:81/other/", &v), None);
        assert_eq!(rewritten(&rules, "http://localhost:81/perl", &v), None);
        assert_eq!(rewritten(&rules, "/perl/relative", &v), None);
        assert_eq!(rewritten(&rules, "", &v), None);
        assert_eq!(rewritten(&[], "http://localhost:81/perl/x", &v), None);
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = [
            rule("/a/", "http://backend:81/"),
            rule("/b/", "http://backend:81/deep/"),
        ];
        assert_eq!(
            rewritten(&rules, "http://backend:81/deep/x", &view(Some("front"))).as_deref(),
            Some("http://front/a/deep/x")
        );
    }

    #[test]
    fn scheme_and_host_match_case_insensitively_but_path_does_not() {
        let rules = [rule("/perl/", "http://localhost:81/perl/")];
        let v = view(Some("front"));
        assert_eq!(
            rewritten(&rules, "HTTP://LocalHost:81/perl/x", &v).as_deref(),
            Some("http://front/perl/x")
        );
        assert_eq!(rewritten(&rules, "http://localhost:81/PERL/x", &v), None);
    }

    #[test]
    fn url_without_trailing_slash_matches_only_at_a_boundary() {
        let rules = [rule("/", "http://localhost:81")];
        let v = view(Some("front"));
        assert_eq!(rewritten(&rules, "http://localhost:8123/x", &v), None);
        assert_eq!(
            rewritten(&rules, "http://localhost:81", &v).as_deref(),
            Some("http://front/")
        );
        assert_eq!(
            rewritten(&rules, "http://localhost:81/x", &v).as_deref(),
            Some("http://front/x")
        );
        assert_eq!(
            rewritten(&rules, "http://localhost:81?q", &v).as_deref(),
            Some("http://front/?q")
        );
    }

    #[test]
    fn path_only_rule_url_matches_the_path_of_the_value() {
        let rules = [rule("/app/", "/internal/")];
        let v = view(Some("front:8080"));
        assert_eq!(
            rewritten(&rules, "http://whatever:9/internal/x", &v).as_deref(),
            Some("http://front:8080/app/x")
        );
        assert_eq!(
            rewritten(&rules, "/internal/y", &v).as_deref(),
            Some("http://front:8080/app/y")
        );
        assert_eq!(rewritten(&rules, "http://whatever:9/public/x", &v), None);
    }

    #[test]
    fn rest_of_value_is_kept_byte_for_byte() {
        let rules = [rule("/perl/", "http://localhost:81/perl/")];
        let value = b"http://localhost:81/perl/a%20b?x=\xff#frag";
        assert_eq!(
            rewrite(&rules, value, &view(Some("front"))),
            Some(b"http://front/perl/a%20b?x=\xff#frag".to_vec())
        );
    }
}
