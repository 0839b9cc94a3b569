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

/// The status of a variant index: the entry at a primary key whose responses carry `Vary`
/// (no response has status 0). Its fields are the responses' `Vary` fields and [`EPOCH`]; each
/// variant is an entry of its own under [`variant_key`]. An invalidation or a purge removes
/// the index, and with it every variant's way in: the next index has a new epoch, so
/// variants stored before it are never found again (the collector removes them in time).
const INDEX: u16 = 0;

/// The index field holding its epoch.
const EPOCH: &[u8] = b"spoonfeed-epoch";

/// The key of the variant of primary `key` under index `epoch` that a request with the
/// secondary key `selected` (see `policy::vary_key`) selects.
fn variant_key(key: &[u8], epoch: &[u8], selected: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = [key, b"\0", epoch].concat();
    for (name, value) in selected {
        out.push(0);
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(value);
    }
    out
}

/// Owned (name, value) pairs, as stored, lent in the form the policy takes.
pub fn borrowed(fields: &[(Vec<u8>, Vec<u8>)]) -> Vec<(&[u8], &[u8])> {
    fields.iter().map(|(n, v)| (&n[..], &v[..])).collect()
}

/// An epoch no index has had, in this process or an earlier one on the same `CacheRoot`. (The
/// clock is read here for uniqueness, not for time: the turn's wall clock is the same for
/// every entry a turn stores.)
fn new_epoch() -> Vec<u8> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}.{:x}.{n:x}", std::process::id()).into_bytes()
}

/// Opens the entry that answers `req` under the primary `key`: the one stored there, or the
/// variant the request selects when a variant index is stored there (the index marked used
/// at `now` too). On failure, the error and the path of the file it concerns.
fn open(
    cache: &Cache,
    key: &[u8],
    req: &policy::Fields<'_>,
    now: SystemTime,
) -> Result<Entry, (OpenError, std::path::PathBuf)> {
    let entry = cache
        .store
        .get(key)
        .map_err(|e| (e, cache.store.path_of(key)))?;
    if entry.meta.status != INDEX {
        return Ok(entry);
    }
    let _ = cache.store.touch(&entry, now);
    let fields = borrowed(&entry.meta.fields);
    let epoch = fields
        .iter()
        .find(|(n, _)| *n == EPOCH)
        .map(|(_, v)| *v)
        .unwrap_or_default();
    let selected = policy::vary_key(&fields, req).unwrap_or_default();
    let variant = variant_key(key, epoch, &selected);
    cache
        .store
        .get(&variant)
        .map_err(|e| (e, cache.store.path_of(&variant)))
}

/// The key a response with `Vary` (selecting `selected` for this request) is stored under: a
/// variant of the index at `key`, which is kept when it names the same fields, and written
/// anew (a new epoch) when it is missing or names others. `None` when the index cannot be
/// written.
fn variant_for_fill(
    cache: &Cache,
    key: &[u8],
    resp: &policy::Fields<'_>,
    selected: &[(Vec<u8>, Vec<u8>)],
    now: u64,
) -> Option<Vec<u8>> {
    let names = |fields: &policy::Fields<'_>| policy::vary_key(fields, &[]);
    if let Ok(index) = cache.store.get(key) {
        let fields = borrowed(&index.meta.fields);
        let epoch = fields.iter().find(|(n, _)| *n == EPOCH).map(|(_, v)| *v);
        if let (INDEX, Some(epoch)) = (index.meta.status, epoch) {
            if names(&fields) == names(resp) {
                // Used as its variants are: not collected before them.
                let _ = cache
                    .store
                    .touch(&index, UNIX_EPOCH + Duration::from_secs(now));
                return Some(variant_key(key, epoch, selected));
            }
        }
    }
    let epoch = new_epoch();
    let mut fields: Vec<(Vec<u8>, Vec<u8>)> = resp
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"vary"))
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    fields.push((EPOCH.to_vec(), epoch.clone()));
    let index = Meta {
        key: key.to_vec(),
        vary: Vec::new(),
        status: INDEX,
        request_time: now,
        response_time: now,
        fields,
    };
    cache.store.put(&index, b"").ok()?;
    Some(variant_key(key, &epoch, selected))
}

/// Seconds since the Unix epoch.
pub fn unix_now(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What the cache can do for a request.
pub enum Lookup {
    /// Answered from the store.
    Hit(Hit),
    /// To the backend; `stale` holds an entry that was there but may not be used as it is
    /// (kept open for [`stale_if_error`]).
    Miss { stale: Option<Entry> },
    /// Stale: to the backend with these conditions (the entry's validators); a `304` is
    /// answered from the entry, held open meanwhile ([`refresh`]), anything else replaces it.
    Validate {
        validators: Vec<(&'static [u8], Vec<u8>)>,
        stale: Entry,
    },
    /// Stale within `stale-while-revalidate` and nobody updating it: answered from the store at
    /// once, while the caller has the entry (another handle on it) validated in the background
    /// with these conditions (none: fetched again).
    Background {
        hit: Hit,
        validators: Vec<(&'static [u8], Vec<u8>)>,
        stale: Entry,
    },
    /// `only-if-cached` and nothing usable: 504.
    GatewayTimeout,
}

/// An answer from the store: the head to send and, for a GET, the body's file.
pub struct Hit {
    pub head: Vec<u8>,
    pub body: Option<Spill>,
    pub status: u16,
    pub body_len: u64,
}

/// How the answer to a hit is framed for its client.
pub struct Framing<'a> {
    pub method: Method,
    pub keep_alive: bool,
    pub client_version: Version,
    /// Another exchange is fetching this URL now (`CacheLock`): a stale entry within its
    /// `stale-while-revalidate` answers instead of waiting for it.
    pub updating: &'a dyn Fn() -> bool,
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
    let miss = |stale: Option<Entry>| {
        if only_if_cached {
            Lookup::GatewayTimeout
        } else {
            Lookup::Miss { stale }
        }
    };
    let entry = match open(cache, key, req, now) {
        Ok(entry) => entry,
        Err((OpenError::Missing | OpenError::Io(_), _)) => return miss(None),
        Err((OpenError::Corrupt(_), path)) => {
            metrics.cache_corrupt.incr();
            let _ = std::fs::remove_file(path);
            return miss(None);
        }
    };
    let fields = borrowed(&entry.meta.fields);
    if policy::vary_key(&fields, req).as_ref() != Some(&entry.meta.vary) {
        // Stored for another variant (an entry of an older version, kept at the primary
        // key): this request's is fetched, and stored as a variant.
        return miss(None);
    }
    if !is_verified(&entry, verified, cache) {
        metrics.cache_corrupt.incr();
        cache.store.remove_entry(&entry);
        return miss(None);
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
        return Lookup::Hit(serve(
            entry,
            req,
            age,
            "hit; detail=collapsed",
            framing,
            metrics,
        ));
    }
    let age = match policy::decide(req, &stored, unix) {
        Use::Fresh { age } | Use::Stale { age } => age,
        Use::GatewayTimeout => return Lookup::GatewayTimeout,
        // Validated with the backend when the entry has validators and the client sent no
        // conditions of its own (those go to the backend as they are); else fetched again.
        // Within stale-while-revalidate, while another exchange is already updating it (as
        // nginx's "proxy_cache_use_stale updating"), the stale entry answers at once.
        Use::StaleWhileRevalidate { age } if (framing.updating)() => {
            let _ = cache.store.touch(&entry, now);
            metrics.cache_stale_served.incr();
            return Lookup::Hit(serve(
                entry,
                req,
                age,
                "hit; detail=stale-while-revalidate",
                framing,
                metrics,
            ));
        }
        Use::StaleWhileRevalidate { age } => {
            let validators = stored.validators();
            // (A range asked for is answered with a part, which does not update the entry.)
            let own = req
                .iter()
                .any(|(n, _)| is_condition(n) || n.eq_ignore_ascii_case(b"range"));
            // The background request is this one (with the entry's conditions): a GET
            // without conditions of its own.
            let handle = (framing.method == Method::Get && !own)
                .then(|| entry.try_clone().ok())
                .flatten();
            let Some(stale) = handle else {
                return if validators.is_empty() || own || framing.method != Method::Get {
                    miss(Some(entry))
                } else {
                    Lookup::Validate {
                        validators,
                        stale: entry,
                    }
                };
            };
            let _ = cache.store.touch(&entry, now);
            metrics.cache_stale_served.incr();
            let hit = serve(
                entry,
                req,
                age,
                "hit; detail=stale-while-revalidate",
                framing,
                metrics,
            );
            return Lookup::Background {
                hit,
                validators,
                stale,
            };
        }
        Use::Validate => {
            let validators = stored.validators();
            let own = req.iter().any(|(n, _)| is_condition(n));
            return if validators.is_empty() || own || framing.method != Method::Get {
                miss(Some(entry))
            } else {
                Lookup::Validate {
                    validators,
                    stale: entry,
                }
            };
        }
    };
    let _ = cache.store.touch(&entry, now);
    let ttl = i128::from(stored.lifetime) - i128::from(age);
    let status = format!("hit; ttl={ttl}");
    Lookup::Hit(serve(entry, req, age, &status, framing, metrics))
}

/// The answer from `entry`, `age` seconds old, with `Cache-Status: spoonfeed; {status}`: the
/// stored response, or a `304` when the client's conditions say it has it.
fn serve(
    mut entry: Entry,
    req: &policy::Fields<'_>,
    age: u64,
    cache_status: &str,
    framing: &Framing<'_>,
    metrics: &ReactorMetrics,
) -> Hit {
    let meta = &entry.meta;
    let fields = borrowed(&meta.fields);
    let not_modified = policy::not_modified(framing.method, req, &fields);
    let status = if not_modified { 304 } else { meta.status };
    let mut head = Vec::with_capacity(256);
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\n",
        super::reply::reason_phrase(status)
    );
    for (name, value) in &fields {
        // The stored Age counts in the age computed for this answer, sent below.
        if (not_modified && !is_304_field(name)) || name.eq_ignore_ascii_case(b"age") {
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
    metrics.cache_hits.incr();
    if sends_body {
        metrics.cache_bytes_served.add(body_len);
    }
    // A small body read with the entry goes out with the head; a larger one from the file.
    let body = match (sends_body, entry.take_body()) {
        (false, _) => None,
        (true, Some(bytes)) => {
            head.extend_from_slice(&bytes);
            None
        }
        (true, None) => Some(Spill::from_part(
            entry.file,
            entry.body_offset,
            entry.body_len,
        )),
    };
    Hit {
        head,
        body,
        status,
        body_len: if framing.method == Method::Get {
            body_len
        } else {
            0
        },
    }
}

/// The backend answered our validation of the stale entry `old` with a `304` carrying
/// `fields`: the entry's stored fields are updated (RFC 9111 §4.3.4) and the client answered
/// from it, as a hit. The entry was held open since the lookup, so it answers even when it was
/// removed meanwhile (a purge, a collection, another variant); it is stored again only where
/// it still may be.
#[allow(clippy::too_many_arguments)] // each is a distinct fact of the exchange
pub fn refresh(
    cache: &Cache,
    old: Entry,
    fields: &policy::Fields<'_>,
    req: &policy::Fields<'_>,
    request_time: u64,
    response_time: u64,
    framing: &Framing<'_>,
    metrics: &ReactorMetrics,
) -> Hit {
    let status = "fwd=stale; fwd-status=304";
    let meta = refreshed(cache, &old, fields, req, request_time, response_time);
    // Its age as the 304 says (an Age it carried counts).
    let view = borrowed(&meta.meta.fields);
    let age = Stored::new(
        meta.meta.status,
        &view,
        request_time,
        response_time,
        &cache.settings,
    )
    .current_age(response_time);
    drop(view);
    let mut entry = old;
    if !meta.storable {
        // The 304 says the stored body is current, but no longer that it may be shared: this
        // client gets it, and the entry goes.
        cache.store.remove_entry(&entry);
        entry.meta = meta.meta;
        return serve(entry, req, age, status, framing, metrics);
    }
    metrics.cache_revalidated.incr();
    // Not stored again when the disk refused, or the entry went meanwhile (a purge, an
    // invalidation, a newer response): this client is answered all the same.
    if !matches!(rewrite(cache, &entry, &meta.meta), Ok(true)) {
        metrics.count_not_stored("write");
    }
    entry.meta = meta.meta;
    serve(entry, req, age, status, framing, metrics)
}

/// What a `304` (with `fields`) to the validation of `old` makes of it.
pub struct Refreshed {
    /// The stored fields updated (RFC 9111 §4.3.4), with the new times.
    pub meta: Meta,
    /// Whether the updated response may still be stored.
    pub storable: bool,
}

/// The stored response `old` updated by a `304` carrying `fields`.
pub fn refreshed(
    cache: &Cache,
    old: &Entry,
    fields: &policy::Fields<'_>,
    req: &policy::Fields<'_>,
    request_time: u64,
    response_time: u64,
) -> Refreshed {
    let stored = borrowed(&old.meta.fields);
    // What a shared cache may not keep (cookies, the fields private= and no-cache= name)
    // stays out of the merge. The stored response's Age goes: its times are the 304's now, and
    // so is the Age (when the 304 has one).
    let cc = policy::CacheControl::of(fields);
    let withheld: Vec<String> = cc
        .private
        .iter()
        .chain(cc.no_cache.iter())
        .flatten()
        .cloned()
        .collect();
    let mut merged: Vec<(Vec<u8>, Vec<u8>)> = policy::merge_not_modified(&stored, fields)
        .into_iter()
        .filter(|(n, _)| {
            let lower = n.to_ascii_lowercase();
            !n.eq_ignore_ascii_case(b"set-cookie")
                && !n.eq_ignore_ascii_case(b"age")
                && !withheld.iter().any(|w| w.as_bytes() == lower)
        })
        .collect();
    merged.extend(
        fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"age"))
            .map(|(n, v)| (n.to_vec(), v.to_vec())),
    );
    let merged_view = borrowed(&merged);
    let storable = policy::storable(
        Method::Get,
        req,
        old.meta.status,
        &merged_view,
        &cache.settings,
    )
    .is_ok();
    drop(merged_view);
    Refreshed {
        meta: Meta {
            key: old.meta.key.clone(),
            vary: old.meta.vary.clone(),
            status: old.meta.status,
            request_time,
            response_time,
            fields: merged,
        },
        storable,
    }
}

/// Stores `old`'s body (verified when it was looked up; entry files never change once in
/// place; copied inside the kernel) under `meta`, replacing the entry whole: only while `old` is still the entry in
/// place (false otherwise: it was removed or replaced meanwhile, and stays so).
pub fn rewrite(cache: &Cache, old: &Entry, meta: &Meta) -> std::io::Result<bool> {
    let mut writer = cache.store.writer(meta)?;
    writer.copy_body(old)?;
    Ok(writer.commit_replacing(old)?.is_some())
}

/// The backend failed (no answer, or a 500, 502, 503 or 504) for a request whose stale
/// `entry` was held open since the lookup: it answers instead when `stale-if-error` (the
/// response's or the request's, RFC 5861) allows it. `None` otherwise, and the failure
/// stands.
pub fn stale_if_error(
    cache: &Cache,
    entry: Entry,
    req: &policy::Fields<'_>,
    framing: &Framing<'_>,
    now: SystemTime,
    metrics: &ReactorMetrics,
) -> Option<Hit> {
    let fields = borrowed(&entry.meta.fields);
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
    let stat = entry.stat();
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
    let times = (request_time, response_time);
    begin_fill(cache, key, req, status, resp, length, times)
        .map_err(|why| metrics.count_not_stored(why))
        .ok()
}

/// [`start_fill`] without counting: `Err` names why the response is not stored (a name of
/// `NOT_STORED_REASONS`). `times` are the request's and the response's, in Unix seconds.
pub fn begin_fill(
    cache: &Cache,
    key: Vec<u8>,
    req: &policy::Fields<'_>,
    status: u16,
    resp: &policy::Fields<'_>,
    length: Option<u64>,
    (request_time, response_time): (u64, u64),
) -> Result<Fill, &'static str> {
    policy::storable(Method::Get, req, status, resp, &cache.settings).map_err(|w| w.as_str())?;
    if length.is_some_and(|n| n > cache.max_file_size) {
        return Err("size");
    }
    // (Vary: * is refused as not storable above.)
    let vary = policy::vary_key(resp, req).unwrap_or_default();
    let key = if vary.is_empty() {
        key
    } else {
        variant_for_fill(cache, &key, resp, &vary, response_time).ok_or("write")?
    };
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
        !crate::http1::is_hop_by_hop(name)
            && !name.eq_ignore_ascii_case(b"content-length")
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
        Ok(writer) => Ok(Fill {
            writer,
            expected: length,
            limit: cache.max_file_size,
            oversize: false,
        }),
        Err(_) => Err("write"),
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
        collector: &std::sync::mpsc::Sender<crate::cache::collector::Collect>,
    ) {
        match self.commit(collector) {
            Ok(()) => metrics.cache_stores.incr(),
            Err(why) => metrics.count_not_stored(why),
        }
    }

    /// [`Fill::finish`] without counting: `Err` names why nothing was stored.
    pub fn commit(
        self,
        collector: &std::sync::mpsc::Sender<crate::cache::collector::Collect>,
    ) -> Result<(), &'static str> {
        if self.oversize {
            return Err("size");
        }
        if self.expected.is_some_and(|n| n != self.writer.body_len()) {
            return Err("write");
        }
        let size = self.writer.commit().map_err(|_| "write")?;
        let _ = collector.send(crate::cache::collector::Collect::Stored(size));
        Ok(())
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
