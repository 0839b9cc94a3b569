//! Parsers for the value types directives share: On/Off, times, sizes, counts, host names and
//! `http://` URLs. Pure functions of their input; each error message names the offending text
//! and what would have been accepted, so handlers can return it as it is.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::model::Scheme;

/// Longest time any directive accepts (one year): far beyond any sane timeout, and small enough
/// that `Instant + time` can never overflow.
pub(super) const MAX_TIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// Writes a time the way [`time`] reads it back: whole seconds as `Ns`, anything finer as
/// `Nms` (times are only ever parsed to whole milliseconds).
pub(super) fn show_time(time: Duration) -> String {
    let millis = time.as_millis();
    let (secs, rest) = (millis / 1000, millis % 1000);
    if rest == 0 {
        format!("{secs}s")
    } else {
        format!("{millis}ms")
    }
}

/// `On` or `Off`, case-insensitive.
pub(super) fn on_off(text: &str) -> Result<bool, String> {
    if text.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(format!("\"{text}\" is neither On nor Off"))
    }
}

/// Splits `123abc` into the digits and the unit that follows.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number = text[..digits].parse().ok()?;
    Some((number, &text[digits..]))
}

/// A time: a whole number with an optional unit `ms`, `s`, `m` or `h` (case-insensitive); a
/// bare number is seconds, the classic unit of every time directive spoonfeed has.
pub(super) fn time(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!("invalid time \"{text}\": give a whole number with an optional unit ms, s, m or h (a bare number is seconds)")
    };
    let (number, unit) = number_and_unit(text).ok_or_else(invalid)?;
    let millis_per_unit: u64 = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(invalid()),
    };
    let time = number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .filter(|t| *t <= MAX_TIME)
        .ok_or_else(|| format!("time \"{text}\" is longer than the limit of one year"))?;
    Ok(time)
}

/// A time that must not be zero (a zero timeout would fail every exchange at once).
pub(super) fn positive_time(text: &str) -> Result<Duration, String> {
    let time = time(text)?;
    if time.is_zero() {
        return Err(format!("time \"{text}\" must be greater than zero"));
    }
    Ok(time)
}

/// A size in bytes: a whole number with an optional suffix `k`, `m` or `g` (1024-based,
/// case-insensitive).
pub(super) fn size(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!("invalid size \"{text}\": give a whole number of bytes with an optional suffix k, m or g")
    };
    let (number, unit) = number_and_unit(text).ok_or_else(invalid)?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return Err(invalid()),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("size \"{text}\" is too large"))
}

/// A whole number within `min..=max`; `what` names it in the message.
pub(super) fn count(text: &str, what: &str, min: u64, max: u64) -> Result<u64, String> {
    let is_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(n) if is_digits && (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{what} must be a whole number from {min} to {max}, not \"{text}\""
        )),
    }
}

/// Checks that a size is within `min..=max` bytes.
pub(super) fn size_within(text: &str, what: &str, min: u64, max: u64) -> Result<u64, String> {
    let bytes = size(text)?;
    if !(min..=max).contains(&bytes) {
        return Err(format!(
            "{what} must be from {min} to {max} bytes, not {text}"
        ));
    }
    Ok(bytes)
}

/// A port number; `allow_zero` for listeners, where 0 means "pick a free port".
pub(super) fn port(text: &str, allow_zero: bool) -> Result<u16, String> {
    let invalid = || format!("invalid port \"{text}\"");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match text.parse::<u16>() {
        Ok(0) if !allow_zero => Err("port 0 is not allowed here".to_string()),
        Ok(port) => Ok(port),
        Err(_) => Err(invalid()),
    }
}

/// A DNS name (letters, digits, `-`, `_`, `.`; `*` and `?` too when `is_pattern`), lowercased.
pub(super) fn host_name(text: &str, is_pattern: bool) -> Option<String> {
    let is_allowed = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.')
            || (is_pattern && matches!(b, b'*' | b'?'))
    };
    if text.is_empty() || !text.bytes().all(is_allowed) {
        return None;
    }
    Some(text.to_ascii_lowercase())
}

/// Splits `host[:port]` / `[v6][:port]` into the host as written (brackets kept) and the port
/// text, if any.
pub(super) fn split_host_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if text.starts_with('[') {
        let close = text
            .find(']')
            .ok_or_else(|| format!("\"{text}\": missing \"]\" after an IPv6 address"))?;
        let (host, rest) = text.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("\"{text}\": unexpected text after \"]\"")),
            },
        };
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => Ok((host, Some(port))),
        Some(_) => Err(format!(
            "\"{text}\": write an IPv6 address in brackets, as [::1]:80"
        )),
        None => Ok((text, None)),
    }
}

/// Parses `[v6]` (brackets required) into the address.
pub(super) fn bracketed_ipv6(host: &str) -> Option<Ipv6Addr> {
    host.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// A parsed `http://host[:port][/path]` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Url {
    pub(super) scheme: Scheme,
    /// Lowercase, without brackets for IPv6.
    pub(super) host: String,
    pub(super) port: u16,
    /// The authority as written: host (with brackets for IPv6) and the port if written.
    pub(super) authority: String,
    /// Everything after the authority; empty or starting with `/`.
    pub(super) path: String,
}

impl Url {
    /// `scheme://host:port` with lowercase host and the port always given: a backend's identity.
    pub(super) fn canonical_name(&self) -> String {
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]", self.host),
            _ => self.host.clone(),
        };
        format!("{}://{}:{}", self.scheme.as_str(), host, self.port)
    }
}

/// Parses an `http://` or `https://` URL with no userinfo or fragment, and no query unless
/// `allows_query` (then the query is kept in `path`). The path may hold any visible ASCII
/// except `#`.
pub(super) fn url(text: &str, allows_query: bool) -> Result<Url, String> {
    let (scheme, rest) = match text.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("http") => (Scheme::Http, rest),
        Some((s, rest)) if s.eq_ignore_ascii_case("https") => (Scheme::Https, rest),
        Some((s, _)) => {
            return Err(format!(
                "URL \"{text}\": scheme {s}:// is not supported; give http:// or https://"
            ))
        }
        None => {
            return Err(format!(
                "\"{text}\" is not a URL; write http://host[:port][/path]"
            ))
        }
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if path.starts_with('?') {
        return Err(format!(
            "URL \"{text}\": write a path before the query, as http://host/?query"
        ));
    }
    if authority.contains('@') {
        return Err(format!(
            "URL \"{text}\": user names and passwords (user@host) are not allowed"
        ));
    }
    if let Some(b) = path.bytes().find(|&b| !(0x21..0x7f).contains(&b)) {
        return Err(format!(
            "URL \"{text}\": byte 0x{b:02x} in the path must be percent-encoded"
        ));
    }
    if text.contains('#') {
        return Err(format!("URL \"{text}\": a fragment (#…) is not allowed"));
    }
    if text.contains('?') && !allows_query {
        return Err(format!(
            "URL \"{text}\": a query string (?…) is allowed only in a ProxyPassMatch URL"
        ));
    }
    let (host_text, port_text) = split_host_port(authority).map_err(|e| format!("URL {e}"))?;
    let host = if host_text.starts_with('[') {
        bracketed_ipv6(host_text)
            .ok_or_else(|| format!("URL \"{text}\": invalid IPv6 address {host_text}"))?
            .to_string()
    } else {
        host_name(host_text, false)
            .ok_or_else(|| format!("URL \"{text}\": invalid host name \"{host_text}\""))?
    };
    let port = match port_text {
        Some(p) => port(p, false).map_err(|e| format!("URL \"{text}\": {e}"))?,
        None => scheme.default_port(),
    };
    Ok(Url {
        scheme,
        host,
        port,
        authority: authority.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_times_with_units_and_bare_seconds() {
        assert_eq!(time("60"), Ok(Duration::from_secs(60)));
        assert_eq!(time("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(time("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(time("250MS"), Ok(Duration::from_millis(250)));
        assert_eq!(time("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(time("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(time("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_malformed_and_huge_times() {
        let hint =
            "give a whole number with an optional unit ms, s, m or h (a bare number is seconds)";
        assert_eq!(time("1.5"), Err(format!("invalid time \"1.5\": {hint}")));
        assert_eq!(time("-1"), Err(format!("invalid time \"-1\": {hint}")));
        assert_eq!(time("5d"), Err(format!("invalid time \"5d\": {hint}")));
        assert_eq!(time(""), Err(format!("invalid time \"\": {hint}")));
        assert_eq!(
            time("9000h"),
            Err("time \"9000h\" is longer than the limit of one year".into())
        );
        assert!(time("99999999999999999999").is_err());
        assert_eq!(
            positive_time("0ms"),
            Err("time \"0ms\" must be greater than zero".into())
        );
    }

    #[test]
    fn shows_times_in_a_form_time_reads_back() {
        for text in ["60s", "1500ms", "0s", "3600s"] {
            assert_eq!(show_time(time(text).unwrap()), text);
        }
    }

    #[test]
    fn reads_sizes_with_1024_based_suffixes() {
        assert_eq!(size("8190"), Ok(8190));
        assert_eq!(size("8k"), Ok(8192));
        assert_eq!(size("8K"), Ok(8192));
        assert_eq!(size("1m"), Ok(1 << 20));
        assert_eq!(size("1g"), Ok(1 << 30));
        assert!(size("1kb").is_err());
        assert!(size("k").is_err());
        assert_eq!(
            size("99999999999g"),
            Err("size \"99999999999g\" is too large".into())
        );
    }

    #[test]
    fn reads_on_off_in_any_case() {
        assert_eq!(on_off("ON"), Ok(true));
        assert_eq!(on_off("off"), Ok(false));
        assert_eq!(on_off("yes"), Err("\"yes\" is neither On nor Off".into()));
    }

    #[test]
    fn parses_http_urls_into_host_port_authority_and_path() {
        let u = url("HTTP://LocalHost:81/perl/", false).unwrap();
        assert_eq!(u.scheme, Scheme::Http);
        assert_eq!(u.host, "localhost");
        assert_eq!(u.port, 81);
        assert_eq!(u.authority, "LocalHost:81");
        assert_eq!(u.path, "/perl/");
        assert_eq!(u.canonical_name(), "http://localhost:81");

        let u = url("http://[::1]/x", false).unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 80, "/x")
        );
        assert_eq!(u.canonical_name(), "http://[::1]:80");

        let u = url("http://10.0.0.1", false).unwrap();
        assert_eq!((u.authority.as_str(), u.path.as_str()), ("10.0.0.1", ""));
    }

    #[test]
    fn rejects_urls_with_userinfo_fragment_query_or_bad_parts() {
        assert_eq!(
            url("http://u:p@h/", false).unwrap_err(),
            "URL \"http://u:p@h/\": user names and passwords (user@host) are not allowed"
        );
        assert_eq!(
            url("http://h/#x", false).unwrap_err(),
            "URL \"http://h/#x\": a fragment (#…) is not allowed"
        );
        assert_eq!(
            url("http://h/?x", false).unwrap_err(),
            "URL \"http://h/?x\": a query string (?…) is allowed only in a ProxyPassMatch URL"
        );
        assert_eq!(url("http://h/s?id=$1", true).unwrap().path, "/s?id=$1");
        assert_eq!(
            url("http://h?x", true).unwrap_err(),
            "URL \"http://h?x\": write a path before the query, as http://host/?query"
        );
        assert_eq!(
            url("ftp://h/", false).unwrap_err(),
            "URL \"ftp://h/\": scheme ftp:// is not supported; give http:// or https://"
        );
        assert_eq!(
            url("localhost:81", false).unwrap_err(),
            "\"localhost:81\" is not a URL; write http://host[:port][/path]"
        );
        assert_eq!(
            url("http://h:0/", false).unwrap_err(),
            "URL \"http://h:0/\": port 0 is not allowed here"
        );
        assert_eq!(
            url("http://h:x/", false).unwrap_err(),
            "URL \"http://h:x/\": invalid port \"x\""
        );
        assert_eq!(
            url("http:///x", false).unwrap_err(),
            "URL \"http:///x\": invalid host name \"\""
        );
        assert_eq!(
            url("http://[zz]/", false).unwrap_err(),
            "URL \"http://[zz]/\": invalid IPv6 address [zz]"
        );
        assert_eq!(
            url("http://::1/", false).unwrap_err(),
            "URL \"::1\": write an IPv6 address in brackets, as [::1]:80"
        );
    }
}
