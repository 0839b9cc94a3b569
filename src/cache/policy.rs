//! RFC 9111 for a shared cache, as plain functions of messages' fields and times: whether a
//! response may be stored (§3, with §3.5 for `Authorization`), how long it stays fresh (§4.2.1,
//! with the classic mod_proxy heuristic of `CacheLastModifiedFactor`, `CacheMaxExpire` and
//! `CacheDefaultExpire`), its age (§4.2.3), how a request is answered from a stored response
//! (§4, §5.2.1 request directives, RFC 5861's `stale-while-revalidate` and `stale-if-error`),
//! the conditional request that validates it (§4.3.1), what a `304` changes (§4.3.4), whether a
//! client's own conditional request gets a `304` from the cache (RFC 9110 §13), the secondary
//! key `Vary` makes (§4.1), and which requests invalidate (§4.4).
//!
//! Sans-I/O: no sockets, no files, no clock. Times are whole seconds since the Unix epoch,
//! handed in by the caller; fields are `(name, value)` byte pairs as they arrived.

use crate::http1::date::parse_http_date;
use crate::http1::Method;

/// A message's field lines, `(name, value)`, in order.
pub type Fields<'a> = [(&'a [u8], &'a [u8])];

/// The values of every field line named `name` (case-insensitively), in order.
fn values<'a>(fields: &'a Fields<'a>, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    fields
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// The first value of `name`, if any.
fn first<'a>(fields: &'a Fields<'a>, name: &'a [u8]) -> Option<&'a [u8]> {
    values(fields, name).next()
}

/// The comma-separated list elements of every `name` field line, trimmed, empty ones dropped
/// (RFC 9110 §5.6.1), not split inside quoted strings.
fn list<'a>(fields: &'a Fields<'a>, name: &'a [u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    for value in values(fields, name) {
        let mut start = 0;
        let mut quoted = false;
        let mut escaped = false;
        for (i, &b) in value.iter().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    out.push(value[start..i].trim_ascii());
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(value[start..].trim_ascii());
    }
    out.retain(|e| !e.is_empty());
    out
}

/// The `Cache-Control` directives spoonfeed acts on (RFC 9111 §5.2). A directive given twice
/// counts as given once, with its first value; a delta-seconds that is not one counts as 0
/// (so the response is stale, §4.2.1); a delta larger than 2^31 counts as 2^31 (§1.2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheControl {
    pub no_store: bool,
    /// `no-cache`: `Some(empty)` unqualified; `Some(names)` for `no-cache="A, B"`.
    pub no_cache: Option<Vec<String>>,
    /// `private`: likewise.
    pub private: Option<Vec<String>>,
    pub public: bool,
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
    pub must_revalidate: bool,
    pub proxy_revalidate: bool,
    /// `max-stale`: `Some(None)` for any staleness.
    pub max_stale: Option<Option<u64>>,
    pub min_fresh: Option<u64>,
    pub only_if_cached: bool,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
}

/// Largest delta-seconds kept (RFC 9111 §1.2.2): a larger one, however many digits it has,
/// counts as this (public for the `cache_control` fuzz target, which checks the cap).
pub const MAX_DELTA: u64 = 1 << 31;

impl CacheControl {
    /// The directives of every `Cache-Control` line of `fields`.
    pub fn of(fields: &Fields<'_>) -> CacheControl {
        let mut cc = CacheControl::default();
        for element in list(fields, b"cache-control") {
            let (name, arg) = match element.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    element[..eq].trim_ascii(),
                    Some(unquote(&element[eq + 1..])),
                ),
                None => (element, None),
            };
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            let delta = || arg.as_deref().map_or(0, delta_seconds);
            let names = || {
                arg.as_deref()
                    .map(|a| {
                        a.split(|&b| b == b',')
                            .map(|n| String::from_utf8_lossy(n.trim_ascii()).to_ascii_lowercase())
                            .filter(|n| !n.is_empty())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            match name.as_str() {
                "no-store" => cc.no_store = true,
                "no-cache" if cc.no_cache.is_none() => cc.no_cache = Some(names()),
                "private" if cc.private.is_none() => cc.private = Some(names()),
                "public" => cc.public = true,
                "max-age" if cc.max_age.is_none() => cc.max_age = Some(delta()),
                "s-maxage" if cc.s_maxage.is_none() => cc.s_maxage = Some(delta()),
                "must-revalidate" => cc.must_revalidate = true,
                "proxy-revalidate" => cc.proxy_revalidate = true,
                "max-stale" if cc.max_stale.is_none() => {
                    cc.max_stale = Some(arg.as_deref().map(delta_seconds));
                }
                "min-fresh" if cc.min_fresh.is_none() => cc.min_fresh = Some(delta()),
                "only-if-cached" => cc.only_if_cached = true,
                "stale-while-revalidate" if cc.stale_while_revalidate.is_none() => {
                    cc.stale_while_revalidate = Some(delta());
                }
                "stale-if-error" if cc.stale_if_error.is_none() => {
                    cc.stale_if_error = Some(delta());
                }
                _ => {}
            }
        }
        cc
    }
}

/// A directive argument: a quoted-string's content (escapes removed), or the token.
fn unquote(arg: &[u8]) -> Vec<u8> {
    let arg = arg.trim_ascii();
    match arg.strip_prefix(b"\"").and_then(|a| a.strip_suffix(b"\"")) {
        Some(inner) => {
            let mut out = Vec::with_capacity(inner.len());
            let mut escaped = false;
            for &b in inner {
                if b == b'\\' && !escaped {
                    escaped = true;
                } else {
                    out.push(b);
                    escaped = false;
                }
            }
            out
        }
        None => arg.to_vec(),
    }
}

/// delta-seconds: digits only, capped at 2^31; anything else is 0.
fn delta_seconds(arg: &[u8]) -> u64 {
    if arg.is_empty() || !arg.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    arg.iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .map_or(MAX_DELTA, |n| n.min(MAX_DELTA))
}

/// The classic directives' values, in seconds and per mille.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `CacheDefaultExpire`: freshness of a response with neither an expiry nor a
    /// `Last-Modified`, when a heuristic is allowed.
    pub default_expire: u64,
    /// `CacheMaxExpire`: no response is fresh longer than this, whatever it says.
    pub max_expire: u64,
    /// `CacheLastModifiedFactor` × 1000: the heuristic freshness of a response with a
    /// `Last-Modified` is this share of its age at the time it was sent.
    pub lm_factor_per_mille: u64,
    /// Store responses that set cookies (off: a `Set-Cookie` response is not stored).
    pub store_set_cookie: bool,
}

impl Default for Settings {
    /// Apache's defaults: one hour, one day, 0.1.
    fn default() -> Settings {
        Settings {
            default_expire: 3600,
            max_expire: 86_400,
            lm_factor_per_mille: 100,
            store_set_cookie: false,
        }
    }
}

/// Why a response was not stored, for the status endpoint's "why not cached" counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotStored {
    /// Only responses to GET are stored.
    Method,
    /// A status the cache does not store (partial content, interim, or one whose meaning it
    /// does not know without explicit freshness).
    Status,
    /// `no-store` in the request or the response.
    NoStore,
    /// `private`, unqualified.
    Private,
    /// The request carried `Authorization` and the response did not say it may be shared.
    Authorization,
    /// The response sets a cookie (see [`Settings::store_set_cookie`]).
    SetCookie,
    /// `Vary: *`.
    VaryAll,
    /// No explicit freshness, no validator, and no heuristic allowed for its status.
    NoFreshness,
}

impl NotStored {
    /// Its name in the status endpoint's `cache_not_stored` family (`NOT_STORED_REASONS`).
    pub fn as_str(self) -> &'static str {
        match self {
            NotStored::Method => "method",
            NotStored::Status => "status",
            NotStored::NoStore => "no_store",
            NotStored::Private => "private",
            NotStored::Authorization => "authorization",
            NotStored::SetCookie => "set_cookie",
            NotStored::VaryAll => "vary_all",
            NotStored::NoFreshness => "no_freshness",
        }
    }
}

/// Status codes that are heuristically cacheable (RFC 9110 §15.1).
fn heuristically_cacheable(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Whether a shared cache may store the response `status`/`resp` to `method`/`req` (RFC 9111
/// §3 and §3.5).
pub fn storable(
    method: Method,
    req: &Fields<'_>,
    status: u16,
    resp: &Fields<'_>,
    settings: &Settings,
) -> Result<(), NotStored> {
    if method != Method::Get {
        return Err(NotStored::Method);
    }
    // Partial content is not reassembled; interim responses and 304s (answers to conditions,
    // not representations) are never stored.
    if !(200..600).contains(&status) || status == 206 || status == 304 {
        return Err(NotStored::Status);
    }
    let req_cc = CacheControl::of(req);
    let cc = CacheControl::of(resp);
    if req_cc.no_store || cc.no_store {
        return Err(NotStored::NoStore);
    }
    if cc.private.as_ref().is_some_and(Vec::is_empty) {
        return Err(NotStored::Private);
    }
    let shared_ok = cc.public || cc.must_revalidate || cc.s_maxage.is_some();
    if first(req, b"authorization").is_some() && !shared_ok {
        return Err(NotStored::Authorization);
    }
    if first(resp, b"set-cookie").is_some() && !settings.store_set_cookie {
        return Err(NotStored::SetCookie);
    }
    if list(resp, b"vary").iter().any(|v| *v == b"*") {
        return Err(NotStored::VaryAll);
    }
    let explicit =
        cc.max_age.is_some() || cc.s_maxage.is_some() || first(resp, b"expires").is_some();
    let validator = first(resp, b"etag").is_some() || first(resp, b"last-modified").is_some();
    let heuristic = heuristically_cacheable(status) || cc.public;
    if explicit || heuristic || validator && cc.no_cache.is_some() {
        Ok(())
    } else {
        Err(NotStored::NoFreshness)
    }
}

/// How long a response stays fresh (RFC 9111 §4.2.1), in seconds, capped by
/// `CacheMaxExpire`: `s-maxage`, else `max-age`, else `Expires` − `Date` (an invalid
/// `Expires` is already expired), else, for a heuristically cacheable status or a `public`
/// response, `CacheLastModifiedFactor` × (`Date` − `Last-Modified`), else
/// `CacheDefaultExpire`; otherwise 0. `response_time` stands in for a missing or invalid
/// `Date`.
pub fn freshness_lifetime(
    status: u16,
    resp: &Fields<'_>,
    response_time: u64,
    settings: &Settings,
) -> u64 {
    let cc = CacheControl::of(resp);
    let date = first(resp, b"date")
        .and_then(parse_http_date)
        .unwrap_or(response_time);
    let lifetime = if let Some(s) = cc.s_maxage {
        s
    } else if let Some(m) = cc.max_age {
        m
    } else if let Some(expires) = first(resp, b"expires") {
        parse_http_date(expires).map_or(0, |e| e.saturating_sub(date))
    } else if heuristically_cacheable(status) || cc.public {
        match first(resp, b"last-modified").and_then(parse_http_date) {
            Some(lm) if lm <= date => {
                (date - lm).saturating_mul(settings.lm_factor_per_mille) / 1000
            }
            Some(_) => 0,
            None => settings.default_expire,
        }
    } else {
        0
    };
    lifetime.min(settings.max_expire)
}

/// What the cache keeps about a stored response for deciding how to use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// When the request that brought it was sent, and when its head arrived.
    pub request_time: u64,
    pub response_time: u64,
    /// Its `Date` (or `response_time` without a valid one).
    pub date: u64,
    /// Its `Age` when it arrived (0 without a valid one).
    pub age: u64,
    /// [`freshness_lifetime`] when stored (and after each `304`).
    pub lifetime: u64,
    pub cache_control: CacheControl,
    /// `ETag`, as sent.
    pub etag: Option<Vec<u8>>,
    /// `Last-Modified`, parsed.
    pub last_modified: Option<u64>,
    /// `Last-Modified`, as sent (for `If-Modified-Since`).
    pub last_modified_text: Option<Vec<u8>>,
}

impl Stored {
    /// The record of a response stored now: `request_time` and `response_time` as above.
    pub fn new(
        status: u16,
        resp: &Fields<'_>,
        request_time: u64,
        response_time: u64,
        settings: &Settings,
    ) -> Stored {
        let age = first(resp, b"age")
            .map(|a| a.trim_ascii())
            .filter(|a| !a.is_empty() && a.iter().all(u8::is_ascii_digit))
            .map_or(0, delta_seconds);
        let last_modified_text = first(resp, b"last-modified").map(<[u8]>::to_vec);
        Stored {
            request_time,
            response_time,
            date: first(resp, b"date")
                .and_then(parse_http_date)
                .unwrap_or(response_time),
            age,
            lifetime: freshness_lifetime(status, resp, response_time, settings),
            cache_control: CacheControl::of(resp),
            etag: first(resp, b"etag").map(<[u8]>::to_vec),
            last_modified: last_modified_text.as_deref().and_then(parse_http_date),
            last_modified_text,
        }
    }

    /// Its age at `now` (RFC 9111 §4.2.3), for the `Age` header of a response from the cache.
    pub fn current_age(&self, now: u64) -> u64 {
        let apparent_age = self.response_time.saturating_sub(self.date);
        let response_delay = self.response_time.saturating_sub(self.request_time);
        let corrected_age_value = self.age.saturating_add(response_delay);
        let corrected_initial_age = apparent_age.max(corrected_age_value);
        let resident_time = now.saturating_sub(self.response_time);
        corrected_initial_age.saturating_add(resident_time)
    }

    /// Whether a stale copy may never be used without validation: `must-revalidate`,
    /// `proxy-revalidate`, or `s-maxage` (RFC 9111 §5.2.2.10).
    fn revalidate_when_stale(&self) -> bool {
        let cc = &self.cache_control;
        cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.is_some()
    }

    /// The fields a conditional request validating it carries (RFC 9111 §4.3.1): the stored
    /// `ETag` as `If-None-Match`, the stored `Last-Modified` as `If-Modified-Since`.
    pub fn validators(&self) -> Vec<(&'static [u8], Vec<u8>)> {
        let mut out = Vec::new();
        if let Some(etag) = &self.etag {
            out.push((&b"If-None-Match"[..], etag.clone()));
        }
        if let Some(lm) = &self.last_modified_text {
            out.push((&b"If-Modified-Since"[..], lm.clone()));
        }
        out
    }
}

/// How a request is answered given a stored response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Fresh enough for this request: served, with `Age: age`.
    Fresh { age: u64 },
    /// Stale, but the request (`max-stale`) accepts it: served, with `Age: age`.
    Stale { age: u64 },
    /// Stale within `stale-while-revalidate`: served now, and validated in the background.
    StaleWhileRevalidate { age: u64 },
    /// Must be validated with the origin first (conditionally when it has validators).
    Validate,
    /// `only-if-cached` and nothing usable: 504.
    GatewayTimeout,
}

/// How the request with `req` fields is answered from `stored` at `now` (RFC 9111 §4, request
/// directives of §5.2.1, `Pragma: no-cache` of §5.4 when there is no `Cache-Control`).
pub fn decide(req: &Fields<'_>, stored: &Stored, now: u64) -> Use {
    let req_cc = CacheControl::of(req);
    let pragma_no_cache = first(req, b"cache-control").is_none()
        && list(req, b"pragma")
            .iter()
            .any(|p| p.eq_ignore_ascii_case(b"no-cache"));
    let age = stored.current_age(now);
    let must_validate = req_cc.no_cache.is_some()
        || pragma_no_cache
        || stored
            .cache_control
            .no_cache
            .as_ref()
            .is_some_and(Vec::is_empty);
    let validate = if req_cc.only_if_cached {
        Use::GatewayTimeout
    } else {
        Use::Validate
    };
    if must_validate {
        return validate;
    }
    let lifetime = match req_cc.max_age {
        Some(max) => stored.lifetime.min(max),
        None => stored.lifetime,
    };
    let min_fresh = req_cc.min_fresh.unwrap_or(0);
    if age.saturating_add(min_fresh) < lifetime {
        return Use::Fresh { age };
    }
    let staleness = age.saturating_sub(stored.lifetime);
    if stored.revalidate_when_stale() {
        return validate;
    }
    // A stale response served at the request's asking: only past the lifetime it has, and
    // only when the request did not also ask for it to be this fresh.
    let stale_ok = match req_cc.max_stale {
        Some(None) => true,
        Some(Some(max)) => staleness <= max,
        None => false,
    };
    if stale_ok && req_cc.max_age.is_none() && req_cc.min_fresh.is_none() {
        return Use::Stale { age };
    }
    if stored
        .cache_control
        .stale_while_revalidate
        .is_some_and(|window| staleness <= window)
    {
        return Use::StaleWhileRevalidate { age };
    }
    validate
}

/// Whether `stored` may be served stale because the origin failed (an error status, or no
/// answer): within `stale-if-error` of the response or the request (RFC 5861 §4), never when
/// it must be revalidated.
pub fn stale_if_error(req: &Fields<'_>, stored: &Stored, now: u64) -> bool {
    let req_cc = CacheControl::of(req);
    let unvalidated = stored
        .cache_control
        .no_cache
        .as_ref()
        .is_some_and(Vec::is_empty)
        || req_cc.no_cache.is_some();
    if stored.revalidate_when_stale() || unvalidated {
        return false;
    }
    let staleness = stored.current_age(now).saturating_sub(stored.lifetime);
    let window = req_cc
        .stale_if_error
        .or(stored.cache_control.stale_if_error);
    window.is_some_and(|w| staleness <= w)
}

/// The stored fields after a `304` validated them (RFC 9111 §4.3.4 and §3.2): every field of
/// the `304` replaces the stored lines of that name, but `Content-Length`, hop-by-hop fields
/// and those the `Connection` field names, which stay as stored.
pub fn merge_not_modified(
    stored: &Fields<'_>,
    not_modified: &Fields<'_>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let connection: Vec<Vec<u8>> = list(not_modified, b"connection")
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let kept_as_stored = |name: &[u8]| {
        crate::http1::is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"content-length")
            || connection.contains(&name.to_ascii_lowercase())
    };
    let replaced = |name: &[u8]| {
        !kept_as_stored(name)
            && not_modified
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = stored
        .iter()
        .filter(|(n, _)| !replaced(n))
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    out.extend(
        not_modified
            .iter()
            .filter(|(n, _)| !kept_as_stored(n))
            .map(|(n, v)| (n.to_vec(), v.to_vec())),
    );
    out
}

/// Whether a client's conditional GET or HEAD is answered `304` from a stored response with
/// `stored` fields (RFC 9110 §13.2.2): `If-None-Match` by weak comparison of entity-tags (or
/// `*`), else `If-Modified-Since` against `Last-Modified`.
pub fn not_modified(method: Method, req: &Fields<'_>, stored: &Fields<'_>) -> bool {
    if !matches!(method, Method::Get | Method::Head) {
        return false;
    }
    let inm = list(req, b"if-none-match");
    if !inm.is_empty() {
        let Some(etag) = first(stored, b"etag") else {
            return false;
        };
        return inm.iter().any(|tag| *tag == b"*" || weak_eq(tag, etag));
    }
    let since = first(req, b"if-modified-since").and_then(parse_http_date);
    let modified = first(stored, b"last-modified").and_then(parse_http_date);
    matches!((since, modified), (Some(since), Some(modified)) if modified <= since)
}

/// Weak comparison of two entity-tags: equal opaque tags, either or both weak (RFC 9110
/// §8.8.3.2).
fn weak_eq(a: &[u8], b: &[u8]) -> bool {
    let opaque = |t: &[u8]| {
        t.trim_ascii()
            .strip_prefix(b"W/")
            .unwrap_or(t.trim_ascii())
            .to_vec()
    };
    let (a, b) = (opaque(a), opaque(b));
    a.starts_with(b"\"") && a.len() >= 2 && a.ends_with(b"\"") && a == b
}

/// The secondary key of a response that has `Vary` (RFC 9111 §4.1): for each field name it
/// lists (lowercased, in order), the request's values of that field, combined and with
/// whitespace around commas normalized. `None` for `Vary: *` (never matches). Two requests
/// share a stored response when their keys for its `Vary` are equal.
pub fn vary_key(resp: &Fields<'_>, req: &Fields<'_>) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut key = Vec::new();
    for name in list(resp, b"vary") {
        if name == b"*" {
            return None;
        }
        let name = name.to_ascii_lowercase();
        let value = list(req, &name).join(&b", "[..]);
        key.push((name, value));
    }
    Some(key)
}

/// Whether a response `status` to a request with `method` invalidates the stored responses
/// for its target URI (and for its `Location` and `Content-Location` when they share its
/// origin): an unsafe method answered with a non-error status (RFC 9111 §4.4).
pub fn invalidates(method: Method, status: u16) -> bool {
    !matches!(
        method,
        Method::Get | Method::Head | Method::Options | Method::Trace
    ) && (200..400).contains(&status)
}

#[cfg(test)]
mod tests;
