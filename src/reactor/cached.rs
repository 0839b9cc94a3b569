//! The reactor's use of the cache: answering a request from a stored response (the head built
//! from the stored fields with `Age` and `Cache-Status`, the body sent from the entry's file),
//! and filling an entry while a response goes to its client.
//!
//! File work here (an open, a read of a small header, page-cache writes) is blocking, as the
//! spill files' is; bodies go out with `sendfile(2)` from the file on plain connections.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::buf::Spill;
use crate::cache::policy::{self, Stored, Use};
use crate::cache::store::{Entry, Meta, OpenError, Writer};
use crate::config::{Cache, Scheme};
use crate::http1::{Method, Version};
use crate::metrics::ReactorMetrics;

use super::token::Token;

/// Files whose bodies were checked against their checksums, by (device, inode, size): a body
/// is read through once per reactor, not on every hit. Entries are only ever written whole
/// under a new name and renamed into place, so a new entry is a new inode; the modification
/// time is left out because hits refresh it (the LRU order). Cleared when it grows past this
/// many.
const MAX_VERIFIED: usize = 65_536;

/// The entries this reactor has verified.
#[derive(Debug, Default)]
pub struct Verified(HashSet<(u64, u64, u64)>);

/// `CacheLock`: the URLs this reactor is fetching to store, since when, and the client
/// connections waiting for them.
#[derive(Debug, Default)]
pub struct Locks {
    held: HashMap<Vec<u8>, Lock>,
    /// The last owner number handed out.
    owners: u64,
}

#[derive(Debug)]
struct Lock {
    since: Instant,
    /// Who holds it: only that holder's release frees it (a lock taken over from a holder
    /// that outlived CacheLockMaxAge is not freed by the old holder).
    owner: u64,
    waiters: Vec<Token>,
}

impl Locks {
    /// Takes the lock of `key` at `now` unless another exchange holds it and took it less
    /// than `max_age` ago (a lock that old is taken over). The owner number when taken.
    pub fn take(&mut self, key: &[u8], now: Instant, max_age: Duration) -> Option<u64> {
        self.owners += 1;
        let owner = self.owners;
        match self.held.get_mut(key) {
            Some(lock) if now.saturating_duration_since(lock.since) < max_age => None,
            Some(lock) => {
                lock.since = now;
                lock.owner = owner;
                Some(owner)
            }
            None => {
                self.held.insert(
                    key.to_vec(),
                    Lock {
                        since: now,
                        owner,
                        waiters: Vec::new(),
                    },
                );
                Some(owner)
            }
        }
    }

    /// Whether `key`'s lock is held.
    pub fn is_held(&self, key: &[u8]) -> bool {
        self.held.contains_key(key)
    }

    /// Adds `token` to the waiters of `key`'s lock (if it is still held), once.
    pub fn wait(&mut self, key: &[u8], token: Token) {
        if let Some(lock) = self.held.get_mut(key) {
            if !lock.waiters.contains(&token) {
                lock.waiters.push(token);
            }
        }
    }

    /// Releases `key`'s lock if `owner` still holds it; returns who waited, to be run again.
    pub fn release(&mut self, key: &[u8], owner: u64) -> Vec<Token> {
        match self.held.get(key) {
            Some(lock) if lock.owner == owner => {
                self.held.remove(key).map(|l| l.waiters).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

/// The primary key of a request (see [`crate::cache::key`]).
pub fn key(scheme: Scheme, host: &[u8], target: &[u8]) -> Vec<u8> {
    crate::cache::key(scheme.as_str(), host, target)
}

/// The key a `Location` or `Content-Location` value names, when it is of the same origin as
/// the request `key` (RFC 9111 §4.4): an absolute URL with the key's scheme and authority, or
/// a path.
pub fn same_origin_key(key: &[u8], location: &[u8]) -> Option<Vec<u8>> {
    let after_scheme = key.windows(3).position(|w| w == b"://")? + 3;
    let path_start = after_scheme + key[after_scheme..].iter().position(|&b| b == b'/')?;
    let origin = &key[..path_start];
    let location = location.trim_ascii();
    if location.starts_with(b"/") && !location.starts_with(b"//") {
        return Some([origin, location].concat());
    }
    let split = location.windows(3).position(|w| w == b"://")? + 3;
    let rest = &location[split..];
    let path_at = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let their_origin: Vec<u8> = location[..split + path_at]
        .iter()
        .map(u8::to_ascii_lowercase)
        .collect();
    if their_origin != origin {
        return None;
    }
    let path = &rest[path_at..];
    Some([origin, if path.is_empty() { b"/" } else { path }].concat())
}

/// Seconds since the Unix epoch.
pub fn unix_now(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What the cache can do for a request.
pub enum Lookup {
    /// Answered from the store: the head to send and, for a GET, the body's file.
    Hit {
        head: Vec<u8>,
        body: Option<Spill>,
        status: u16,
        body_len: u64,
    },
    /// To the backend; `stale` when an entry was there but may not be used as it is.
    Miss { stale: bool },
    /// Stale: to the backend with these conditions (the entry's validators); a `304` is
    /// answered from the entry ([`refresh`]), anything else replaces it.
    Validate {
        validators: Vec<(&'static [u8], Vec<u8>)>,
    },
    /// `only-if-cached` and nothing usable: 504.
    GatewayTimeout,
}

/// How the answer to a hit is framed for its client.
pub struct Framing<'a> {
    pub method: Method,
    pub keep_alive: bool,
    pub client_version: Version,
    /// Another exchange is fetching this URL now (`CacheLock`): a stale entry within its
    /// `stale-while-revalidate` answers instead of waiting for it.
    pub updating: bool,
    /// The request waited on `CacheLock` since this time (Unix seconds): a response stored
    /// since then was fetched on its behalf and answers it, fresh or not (request
    /// collapsing, as nginx's and Varnish's).
    pub collapsed_after: Option<u64>,
    /// `ProxyPassReverse` for `Location` and the other URI fields, as a miss gets it.
    pub rewrite: &'a dyn Fn(&[u8]) -> Option<Vec<u8>>,
}

/// Looks `key` up for a request with fields `req`, at `now`.
pub fn lookup(
    cache: &Cache,
    key: &[u8],
    req: &policy::Fields<'_>,
    framing: &Framing<'_>,
    now: SystemTime,
    verified: &mut Verified,
    metrics: &ReactorMetrics,
) -> Lookup {
    let only_if_cached = policy::CacheControl::of(req).only_if_cached;
    let miss = |stale: bool| {
        if only_if_cached {
            Lookup::GatewayTimeout
        } else {
            Lookup::Miss { stale }
        }
    };
    let entry = match cache.store.get(key) {
        Ok(entry) => entry,
        Err(OpenError::Missing) | Err(OpenError::Io(_)) => return miss(false),
        Err(OpenError::Corrupt(_)) => {
            metrics.cache_corrupt.incr();
            let _ = cache.store.remove(key);
            return miss(false);
        }
    };
    let fields: Vec<(&[u8], &[u8])> = entry
        .meta
        .fields
        .iter()
        .map(|(n, v)| (&n[..], &v[..]))
        .collect();
    if policy::vary_key(&fields, req).as_ref() != Some(&entry.meta.vary) {
        // Stored for another variant: this request's is fetched (and replaces it).
        return miss(false);
    }
    if !is_verified(&entry, verified, cache) {
        metrics.cache_corrupt.incr();
        let _ = cache.store.remove(key);
        return miss(false);
    }
    let stored = Stored::new(
        entry.meta.status,
        &fields,
        entry.meta.request_time,
        entry.meta.response_time,
        &cache.settings,
    );
    drop(fields);
    let unix = unix_now(now);
    if framing
        .collapsed_after
        .is_some_and(|since| entry.meta.response_time >= since)
    {
        let age = stored.current_age(unix);
        return serve(entry, req, age, "hit; detail=collapsed", framing, metrics);
    }
    let age = match policy::decide(req, &stored, unix) {
        Use::Fresh { age } | Use::Stale { age } => age,
        Use::GatewayTimeout => return Lookup::GatewayTimeout,
        // Validated with the backend when the entry has validators and the client sent no
        // conditions of its own (those go to the backend as they are); else fetched again.
        // Within stale-while-revalidate, while another exchange is already updating it (as
        // nginx's "proxy_cache_use_stale updating"), the stale entry answers at once.
        Use::StaleWhileRevalidate { age } if framing.updating => {
            let _ = cache.store.touch(&entry, now);
            metrics.cache_stale_served.incr();
            return serve(
                entry,
                req,
                age,
                "hit; detail=stale-while-revalidate",
                framing,
                metrics,
            );
        }
        Use::Validate | Use::StaleWhileRevalidate { .. } => {
            let validators = stored.validators();
            let own = req.iter().any(|(n, _)| is_condition(n));
            return if validators.is_empty() || own || framing.method != Method::Get {
                miss(true)
            } else {
                Lookup::Validate { validators }
            };
        }
    };
    let _ = cache.store.touch(&entry, now);
    let ttl = i128::from(stored.lifetime) - i128::from(age);
    let status = format!("hit; ttl={ttl}");
    serve(entry, req, age, &status, framing, metrics)
}

/// The answer from `entry`, `age` seconds old, with `Cache-Status: spoonfeed; {status}`: the
/// stored response, or a `304` when the client's conditions say it has it.
fn serve(
    entry: Entry,
    req: &policy::Fields<'_>,
    age: u64,
    cache_status: &str,
    framing: &Framing<'_>,
    metrics: &ReactorMetrics,
) -> Lookup {
    let meta = &entry.meta;
    let fields: Vec<(&[u8], &[u8])> = meta.fields.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let not_modified = policy::not_modified(framing.method, req, &fields);
    let status = if not_modified { 304 } else { meta.status };
    let mut head = Vec::with_capacity(256);
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\n",
        super::reply::reason_phrase(status)
    );
    for (name, value) in &fields {
        if not_modified && !is_304_field(name) {
            continue;
        }
        let rewritten = crate::proxy::forward::is_uri_field(name)
            .then(|| (framing.rewrite)(value))
            .flatten();
        head.extend_from_slice(name);
        head.extend_from_slice(b": ");
        head.extend_from_slice(rewritten.as_deref().unwrap_or(value));
        head.extend_from_slice(b"\r\n");
    }
    let _ = write!(
        head,
        "Age: {age}\r\nCache-Status: spoonfeed; {cache_status}\r\n"
    );
    let body_len = if not_modified { 0 } else { entry.body_len };
    if !not_modified && bodied(meta.status) {
        let _ = write!(head, "Content-Length: {body_len}\r\n");
    }
    match (framing.keep_alive, framing.client_version) {
        (false, _) => head.extend_from_slice(b"Connection: close\r\n"),
        (true, Version::Http10) => head.extend_from_slice(b"Connection: keep-alive\r\n"),
        (true, Version::Http11) => {}
    }
    head.extend_from_slice(b"\r\n");
    let sends_body = !not_modified && framing.method == Method::Get && body_len > 0;
    let body_offset = entry.body_offset;
    metrics.cache_hits.incr();
    if sends_body {
        metrics.cache_bytes_served.add(body_len);
    }
    Lookup::Hit {
        head,
        body: sends_body.then(|| Spill::from_part(entry.file, body_offset, body_len)),
        status,
        body_len: if framing.method == Method::Get {
            body_len
        } else {
            0
        },
    }
}

/// The backend answered our validation of `key` with a `304` carrying `fields`: the entry's
/// stored fields are updated (RFC 9111 §4.3.4) and the client answered from it, as a hit. `None`
/// when the entry went meanwhile (removed, corrupt), or could not be rewritten.
#[allow(clippy::too_many_arguments)] // each is a distinct fact of the exchange
pub fn refresh(
    cache: &Cache,
    key: &[u8],
    fields: &policy::Fields<'_>,
    req: &policy::Fields<'_>,
    request_time: u64,
    response_time: u64,
    framing: &Framing<'_>,
    metrics: &ReactorMetrics,
) -> Option<Lookup> {
    let old = cache.store.get(key).ok()?;
    // Its body is copied into the refreshed entry under a new checksum: it must be sound.
    if !cache.store.verify(&old).unwrap_or(false) {
        metrics.cache_corrupt.incr();
        let _ = cache.store.remove(key);
        return None;
    }
    let stored: Vec<(&[u8], &[u8])> = old
        .meta
        .fields
        .iter()
        .map(|(n, v)| (&n[..], &v[..]))
        .collect();
    // What a shared cache may not keep (cookies, an Age that would be counted twice, the
    // fields private= and no-cache= name) stays out of the merge.
    let cc = policy::CacheControl::of(fields);
    let withheld: Vec<String> = cc
        .private
        .iter()
        .chain(cc.no_cache.iter())
        .flatten()
        .cloned()
        .collect();
    let merged: Vec<(Vec<u8>, Vec<u8>)> = policy::merge_not_modified(&stored, fields)
        .into_iter()
        .filter(|(n, _)| {
            let lower = n.to_ascii_lowercase();
            !n.eq_ignore_ascii_case(b"set-cookie")
                && !n.eq_ignore_ascii_case(b"age")
                && !withheld.iter().any(|w| w.as_bytes() == lower)
        })
        .collect();
    let merged_view: Vec<(&[u8], &[u8])> = merged.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let settings = &cache.settings;
    if policy::storable(Method::Get, req, old.meta.status, &merged_view, settings).is_err() {
        // The 304 says the stored body is current, but no longer that it may be shared: this
        // client gets it, and the entry goes.
        let _ = cache.store.remove(key);
        let mut entry = old;
        entry.meta.fields = merged;
        return Some(serve(
            entry,
            req,
            0,
            "fwd=stale; fwd-status=304",
            framing,
            metrics,
        ));
    }
    drop(merged_view);
    let meta = Meta {
        key: key.to_vec(),
        vary: old.meta.vary.clone(),
        status: old.meta.status,
        request_time,
        response_time,
        fields: merged,
    };
    // The body is the stored one: copied into the new entry, which replaces the old whole.
    let mut writer = cache.store.writer(&meta).ok()?;
    let mut buf = vec![0; 64 << 10];
    let mut at = old.body_offset;
    let end = old.body_offset + old.body_len;
    while at < end {
        let want = buf
            .len()
            .min(usize::try_from(end - at).unwrap_or(usize::MAX));
        let n = std::os::unix::fs::FileExt::read_at(&old.file, &mut buf[..want], at).ok()?;
        if n == 0 {
            return None;
        }
        writer.write_body(&buf[..n]).ok()?;
        at += n as u64;
    }
    writer.commit().ok()?;
    let entry = cache.store.get(key).ok()?;
    metrics.cache_revalidated.incr();
    Some(serve(
        entry,
        req,
        0,
        "fwd=stale; fwd-status=304",
        framing,
        metrics,
    ))
}

/// The backend failed (no answer, or a 500, 502, 503 or 504) for a request whose entry for
/// `key` is stale: the entry answers instead when `stale-if-error` (the response's or the
/// request's, RFC 5861) allows it. `None` otherwise, and the failure stands.
pub fn stale_if_error(
    cache: &Cache,
    key: &[u8],
    req: &policy::Fields<'_>,
    framing: &Framing<'_>,
    now: SystemTime,
    metrics: &ReactorMetrics,
) -> Option<Lookup> {
    let entry = cache.store.get(key).ok()?;
    let fields: Vec<(&[u8], &[u8])> = entry
        .meta
        .fields
        .iter()
        .map(|(n, v)| (&n[..], &v[..]))
        .collect();
    if policy::vary_key(&fields, req).as_ref() != Some(&entry.meta.vary) {
        return None;
    }
    let stored = Stored::new(
        entry.meta.status,
        &fields,
        entry.meta.request_time,
        entry.meta.response_time,
        &cache.settings,
    );
    drop(fields);
    let unix = unix_now(now);
    if !policy::stale_if_error(req, &stored, unix) {
        return None;
    }
    let age = stored.current_age(unix);
    metrics.cache_stale_served.incr();
    Some(serve(
        entry,
        req,
        age,
        "hit; detail=stale-if-error",
        framing,
        metrics,
    ))
}

/// Request fields that make a request conditional (RFC 9110 §13.1).
fn is_condition(name: &[u8]) -> bool {
    [
        &b"if-none-match"[..],
        b"if-modified-since",
        b"if-match",
        b"if-unmodified-since",
        b"if-range",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

/// Answers `PURGE` for `key` from `peer`: the entry removed (200) or not there (404) for an
/// address `CachePurgeAllow` lists, 403 for others. Returns the status and its body.
pub fn purge(
    cache: &Cache,
    key: &[u8],
    peer: std::net::IpAddr,
    metrics: &ReactorMetrics,
) -> (u16, &'static [u8]) {
    if !cache.purge_allow.iter().any(|r| r.contains(peer)) {
        return (403, b"PURGE is not allowed from this address\n");
    }
    match cache.store.remove(key) {
        Ok(true) => {
            metrics.cache_purges.incr();
            (200, b"purged\n")
        }
        Ok(false) => (404, b"not cached\n"),
        Err(_) => (500, b"the entry could not be removed\n"),
    }
}

/// Whether a status carries a body and so a `Content-Length` (not 1xx, 204, 304).
fn bodied(status: u16) -> bool {
    !matches!(status, 100..=199 | 204 | 304)
}

/// The fields a `304` repeats (RFC 9110 §15.4.5).
fn is_304_field(name: &[u8]) -> bool {
    [
        &b"cache-control"[..],
        b"content-location",
        b"date",
        b"etag",
        b"expires",
        b"vary",
        b"last-modified",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

/// Whether the entry's body matches its checksum, read through once per reactor.
fn is_verified(entry: &Entry, verified: &mut Verified, cache: &Cache) -> bool {
    let Ok(stat) = entry.file.metadata() else {
        return false;
    };
    let id = (stat.dev(), stat.ino(), stat.size());
    if verified.0.contains(&id) {
        return true;
    }
    if !cache.store.verify(entry).unwrap_or(false) {
        return false;
    }
    if verified.0.len() >= MAX_VERIFIED {
        verified.0.clear();
    }
    verified.0.insert(id);
    true
}

/// An entry being filled from a response on its way to the client.
#[derive(Debug)]
pub struct Fill {
    writer: Writer,
    /// The `Content-Length`; `None` for a chunked or close-delimited body, known at its end.
    expected: Option<u64>,
    /// `CacheMaxFileSize`: a body of unknown length that grows past it is not stored.
    limit: u64,
    oversize: bool,
}

/// Starts filling `key` from the response `status` with `resp` fields and a body of `length`
/// bytes (`None`: chunked or close-delimited, stored de-chunked with the length it turns out
/// to have), when the policy lets it be stored and it is not too large; `None` otherwise (the
/// reason counted).
#[allow(clippy::too_many_arguments)] // each is a distinct fact of the exchange
pub fn start_fill(
    cache: &Cache,
    key: Vec<u8>,
    req: &policy::Fields<'_>,
    status: u16,
    resp: &policy::Fields<'_>,
    length: Option<u64>,
    request_time: u64,
    response_time: u64,
    metrics: &ReactorMetrics,
) -> Option<Fill> {
    let refused = |why: &str| {
        not_stored(metrics, why);
        None
    };
    if let Err(why) = policy::storable(Method::Get, req, status, resp, &cache.settings) {
        return refused(why.as_str());
    }
    if length.is_some_and(|n| n > cache.max_file_size) {
        return refused("size");
    }
    let vary = policy::vary_key(resp, req)?;
    let cc = policy::CacheControl::of(resp);
    let withheld: Vec<String> = cc
        .private
        .iter()
        .chain(cc.no_cache.iter())
        .flatten()
        .cloned()
        .collect();
    let connection: Vec<Vec<u8>> = resp
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(|t| t.trim_ascii().to_ascii_lowercase())
        .collect();
    let kept = |name: &[u8]| {
        let lower = name.to_ascii_lowercase();
        !crate::proxy::forward::is_hop_by_hop(name)
            && !name.eq_ignore_ascii_case(b"content-length")
            && !name.eq_ignore_ascii_case(b"age")
            && !connection.contains(&lower)
            && !withheld.iter().any(|w| w.as_bytes() == lower)
    };
    let meta = Meta {
        key,
        vary,
        status,
        request_time,
        response_time,
        fields: resp
            .iter()
            .filter(|(n, _)| kept(n))
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect(),
    };
    match cache.store.writer(&meta) {
        Ok(writer) => Some(Fill {
            writer,
            expected: length,
            limit: cache.max_file_size,
            oversize: false,
        }),
        Err(_) => refused("write"),
    }
}

impl Fill {
    /// Body bytes on their way to the client. A write that fails gives the entry up.
    pub fn write(fill: &mut Option<Fill>, bytes: &[u8]) {
        let Some(f) = fill else { return };
        if f.oversize {
            return;
        }
        if f.writer.body_len() + bytes.len() as u64 > f.limit {
            // Grown past CacheMaxFileSize: the rest is not written, and finish() says why.
            f.oversize = true;
            return;
        }
        if f.writer.write_body(bytes).is_err() {
            *fill = None;
        }
    }

    /// The response is complete: the entry goes into place when it has every byte, and the
    /// collector hears of its size.
    pub fn finish(
        self,
        metrics: &ReactorMetrics,
        collector: &std::sync::mpsc::Sender<crate::server::Collect>,
    ) {
        if self.oversize {
            return not_stored(metrics, "size");
        }
        if self.expected.is_some_and(|n| n != self.writer.body_len()) {
            return not_stored(metrics, "write");
        }
        match self.writer.commit() {
            Ok(size) => {
                metrics.cache_stores.incr();
                let _ = collector.send(crate::server::Collect::Stored(size));
            }
            Err(_) => not_stored(metrics, "write"),
        }
    }
}

/// Counts a response not stored, in the total and under `why` (a name of
/// `NOT_STORED_REASONS`, which `policy::NotStored::as_str` names also use).
fn not_stored(metrics: &ReactorMetrics, why: &str) {
    metrics.cache_not_stored.incr();
    let slot = crate::metrics::NOT_STORED_REASONS
        .iter()
        .position(|r| *r == why);
    if let Some(slot) = slot {
        metrics.cache_not_stored_why[slot].incr();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_of_the_same_origin_name_their_keys() {
        let key = b"http://a.example:8080/items/1";
        let same = |loc: &str| same_origin_key(key, loc.as_bytes()).map(String::from_utf8);
        assert_eq!(
            same("/items"),
            Some(Ok("http://a.example:8080/items".to_owned()))
        );
        assert_eq!(
            same("HTTP://A.example:8080/list?x=1"),
            Some(Ok("http://a.example:8080/list?x=1".to_owned()))
        );
        assert_eq!(
            same("http://a.example:8080"),
            Some(Ok("http://a.example:8080/".to_owned()))
        );
        assert_eq!(same("http://b.example:8080/items"), None);
        assert_eq!(same("https://a.example:8080/items"), None);
        assert_eq!(same("//a.example:8080/items"), None);
        assert_eq!(same("items"), None);
    }

    #[test]
    fn keys_lowercase_the_host_and_keep_the_target_as_sent() {
        assert_eq!(
            key(Scheme::Https, b"WWW.Example.com:8443", b"/A?b=C"),
            b"https://www.example.com:8443/A?b=C"
        );
        assert_ne!(
            key(Scheme::Http, b"a", b"/x"),
            key(Scheme::Https, b"a", b"/x")
        );
    }
}
