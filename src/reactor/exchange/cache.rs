//! The cache's part in an exchange: the lookup before a backend is asked (a hit, PURGE, a
//! validation, a miss that fills), `CacheLock` (collapsing requests for one URL), stale
//! entries (while revalidating, if an error), the `304` that refreshes an entry, and storing
//! the response. The policy is `cache::policy`'s and the store `cache::store`'s; this part
//! only decides what the exchange does with them.

use std::mem;
use std::sync::Arc;
use std::time::Duration;

use super::super::cached::{self, Lookup};
use super::super::refresh;
use super::super::reply::{self, After, Failure};
use super::super::Shared;
use super::stage::{Stage, Wait};
use super::{acquire, with_rewrite, Break, Client, Exchange, Next, Ours, ReqLog};
use crate::cache::policy;
use crate::cache::store::{Entry, FileLock};
use crate::config::Config;
use crate::http1::request::RequestHead;
use crate::http1::response::{ResponseBody, ResponseHead};
use crate::http1::{field_pairs, Method, Version};

/// The cache settles a request before any backend is asked.
pub(super) enum Settled {
    /// A hit answers.
    Hit(cached::Hit),
    /// PURGE's answer, encoded.
    Purged {
        head: Vec<u8>,
        status: u16,
        body_len: u64,
        after: After,
    },
    /// It refuses: `only-if-cached` with nothing stored.
    Refuse(Failure),
}

/// The cache's part in a request that goes to the backend.
#[derive(Default)]
pub(super) struct Part {
    /// The key its response may be stored under.
    pub key: Option<Vec<u8>>,
    /// An unsafe method's target: a non-error response removes its entry.
    pub invalidate: Option<Vec<u8>>,
    /// `Cache-Status` for the client.
    pub status: Vec<u8>,
    /// Validators of a stale entry, as request fields (the request validates it).
    pub conditions: Vec<u8>,
    pub lock: LockState,
    /// What the request waits for before it goes to the backend: another exchange's fetch.
    pub wait: Option<Wait>,
    /// The stale entry, held open: a `304` answers from it, and so may `stale-if-error`.
    pub stale: Option<Entry>,
    /// A stale entry that answers at once while it is validated in the background.
    pub background: Option<Background>,
    /// A miss, counted once the request goes for a backend connection.
    pub missed: bool,
    /// What the access log says the cache did (`%{cache}x`).
    pub note: Option<&'static str>,
}

/// Consults the cache for a request routed to a backend (`forwarded`: a forward-proxied one,
/// which the cache never takes part in): it settles the request, or takes this part in its
/// exchange.
#[allow(clippy::too_many_arguments)]
pub(super) fn consult(
    client: &impl Client,
    cfg: &Config,
    vhost_idx: usize,
    forwarded: bool,
    head: &RequestHead,
    buf: &[u8],
    keep_alive: bool,
    sh: &mut Shared,
) -> Result<Part, Settled> {
    let mut part = Part::default();
    let target = super::admit::origin_target(head, buf);
    let Some(cache) = cfg.cache.as_ref().filter(|c| {
        !forwarded && !head.simple && c.covers(&crate::proxy::path::decode_unreserved(&target))
    }) else {
        return Ok(part);
    };
    let vhost = &cfg.vhosts[vhost_idx];
    let body_unread = super::admit::body_unread(head);
    let host = head.authority().map(|s| s.of(buf));
    let name = host.unwrap_or(vhost.server_name.as_bytes());
    let key = cached::key(client.scheme(), name, &target);
    if head.method == Method::Other && head.method_span.of(buf) == b"PURGE" {
        let (status, body) = cached::purge(cache, &key, client.peer().ip(), &sh.obs.metrics);
        let after = After::keeping(keep_alive && !body_unread);
        let framing = reply::Framing {
            after,
            head_only: false,
            http10: head.version == Version::Http10,
            simple: false,
        };
        let mut head = Vec::new();
        let body_len = reply::encode_response(
            status,
            b"Content-Type: text/plain; charset=utf-8\r\n",
            body,
            framing,
            sh.clock.wall,
            &mut head,
        );
        return Err(Settled::Purged {
            head,
            status,
            body_len,
            after,
        });
    }
    if matches!(head.method, Method::Get | Method::Head) && !body_unread && !head.connection.upgrade
    {
        let req = field_pairs(buf, &head.headers);
        let locks = &sh.cache.locks;
        let wall = sh.clock.wall;
        let updating = || {
            cache.lock_max_age.is_some_and(|max_age| {
                locks.is_held(&key) || cache.store.is_locked(&key, max_age, wall)
            })
        };
        let verified = &mut sh.cache.verified;
        let metrics = &sh.obs.metrics;
        let found = with_rewrite(client, vhost, host, |rewrite| {
            let framing = cached::Framing {
                method: head.method,
                keep_alive,
                client_version: head.version,
                updating: &updating,
                collapsed_after: None,
                rewrite,
            };
            cached::lookup(cache, &key, &req, &framing, wall, verified, metrics)
        });
        match found {
            Lookup::Hit(hit) => return Err(Settled::Hit(hit)),
            Lookup::GatewayTimeout => return Err(Settled::Refuse(Failure::NotCached)),
            Lookup::Background {
                hit,
                validators,
                stale: entry,
            } => {
                add_conditions(&mut part.conditions, validators);
                // One update at a time: with the lock taken by another, this request only
                // gets the stale answer.
                let max_age = cache.lock_max_age.unwrap_or(BACKGROUND_LOCK_AGE);
                let lock = cache.store.lock(&key, max_age, wall).ok().flatten();
                part.background = Some(Background {
                    hit,
                    stale: entry,
                    lock,
                    lock_age: max_age,
                    key,
                });
            }
            Lookup::Validate {
                validators,
                stale: entry,
            } => {
                part.missed = true;
                part.note = Some("stale");
                part.stale = Some(entry);
                part.status = b"Cache-Status: spoonfeed; fwd=stale".to_vec();
                add_conditions(&mut part.conditions, validators);
                part.key = Some(key);
            }
            Lookup::Miss { stale: entry } => {
                part.missed = true;
                let was_stale = entry.is_some();
                part.note = Some(if was_stale { "stale" } else { "miss" });
                if head.method == Method::Get {
                    part.stale = entry;
                }
                let fwd = if was_stale { "stale" } else { "uri-miss" };
                part.status = format!("Cache-Status: spoonfeed; fwd={fwd}").into_bytes();
                part.key = (head.method == Method::Get).then_some(key);
            }
        }
    } else if policy::invalidates(head.method, 200) {
        part.invalidate = Some(key);
    }
    if let (Some(max_age), Some(key)) = (cache.lock_max_age, &part.key) {
        match sh.cache.locks.take(key, sh.clock.now, max_age) {
            Some(owner) => {
                let file = match cache.store.lock(key, max_age, sh.clock.wall) {
                    Ok(None) => {
                        part.wait = Some(Wait::RemoteLock(sh.clock.now));
                        None
                    }
                    Ok(file) => file,
                    // The lock directory is unusable: this reactor's lock alone.
                    Err(_) => None,
                };
                part.lock = LockState::Held(key.clone(), owner, file);
            }
            None => part.wait = Some(Wait::CacheLock(key.clone())),
        }
    }
    Ok(part)
}

/// Appends a stale entry's validators to a request as conditional fields.
fn add_conditions(conditions: &mut Vec<u8>, validators: Vec<(&'static [u8], Vec<u8>)>) {
    for (name, value) in validators {
        conditions.extend_from_slice(name);
        conditions.extend_from_slice(b": ");
        conditions.extend_from_slice(&value);
        conditions.extend_from_slice(b"\r\n");
    }
}

/// The `CacheLock` an exchange holds.
#[derive(Debug, Default)]
pub(super) enum LockState {
    #[default]
    None,
    /// It fetches the URL (this key) for the cache, as this owner; others wait for it: in this
    /// reactor on its lock, in other reactors and processes on the lock file (when it got it;
    /// without it, another reactor or process fetches, and this exchange waits for that one
    /// in [`Wait::RemoteLock`] while it holds this reactor's lock for the waiters here).
    Held(Vec<u8>, u64, Option<FileLock>),
}

/// A stale entry within `stale-while-revalidate` that answers at once, and what its
/// background validation needs.
pub(super) struct Background {
    pub(super) hit: cached::Hit,
    /// Another handle on the entry, for the validation.
    pub(super) stale: Entry,
    /// The key's lock file: `None` when another update holds it (no second one starts).
    pub(super) lock: Option<FileLock>,
    /// How long the lock keeps others out.
    pub(super) lock_age: Duration,
    pub(super) key: Vec<u8>,
}

/// How long a background validation's lock keeps others from starting one with `CacheLock
/// Off` (with it on, `CacheLockMaxAge`).
pub(super) const BACKGROUND_LOCK_AGE: Duration = Duration::from_secs(5);

/// Answers with a stale entry's `hit` at once (`stale-while-revalidate`), and starts `job`,
/// its validation in the background, when there is one.
pub(super) fn serve_background(
    hit: cached::Hit,
    job: Option<refresh::Job>,
    log: ReqLog,
    vhost_idx: usize,
    keep_alive: bool,
    sh: &mut Shared,
) -> Next {
    if job.is_some_and(refresh::spawn) {
        sh.obs.metrics.cache_background.incr();
    }
    answer_hit(hit, log, vhost_idx, keep_alive)
}

/// A hit as the answer to the request `log` records, logged as one (`%{cache}x`).
pub(super) fn answer_hit(
    hit: cached::Hit,
    mut log: ReqLog,
    vhost: usize,
    keep_alive: bool,
) -> Next {
    log.cache = Some("hit");
    Next::Ours(Ours {
        head: hit.head,
        status: hit.status,
        body_len: hit.body_len,
        body: hit.body,
        log,
        vhost: Some(vhost),
        after: After::keeping(keep_alive),
    })
}

/// Answers from the stale entry the exchange keeps in reserve, when `stale-if-error` allows
/// (the head queued, the body to follow from the entry's file); false when it does not.
pub(super) fn serve_stale(client: &mut impl Client, ex: &mut Exchange, sh: &mut Shared) -> bool {
    let Some(entry) = ex.stale.take() else {
        return false;
    };
    let cfg = Arc::clone(&ex.cfg);
    let Some(cache) = cfg.cache.as_ref() else {
        return false;
    };
    let fields = ex.log.fields();
    let vhost = &cfg.vhosts[ex.vhost];
    let now = sh.clock.wall;
    let served = with_rewrite(client, vhost, ex.host(), |rewrite| {
        let framing = cached::Framing {
            method: ex.method,
            keep_alive: ex.keep_alive,
            client_version: ex.client_version,
            updating: &|| false,
            collapsed_after: None,
            rewrite,
        };
        cached::stale_if_error(cache, entry, &fields, &framing, now, &sh.obs.metrics)
    });
    let Some(cached::Hit {
        head: out,
        body,
        status,
        body_len,
    }) = served
    else {
        return false;
    };
    if client
        .out()
        .chain
        .push_slice(&mut sh.io.pool, &out)
        .is_err()
    {
        return false;
    }
    client.out().spill = body;
    ex.status = status;
    ex.body_bytes = body_len;
    ex.head_sent = true;
    ex.log.cache = Some("stale-if-error");
    true
}

/// Releases the `CacheLock` an exchange holds: the requests that waited for its URL run again
/// (and find it stored, or fetch it themselves).
pub(super) fn release_lock(ex: &mut Exchange, sh: &mut Shared) {
    release_lock_of(&mut ex.lock, sh);
}

/// [`release_lock`] for a lock not in an exchange yet.
pub(super) fn release_lock_of(lock: &mut LockState, sh: &mut Shared) {
    let (key, owner) = match mem::take(lock) {
        LockState::Held(key, owner, file) => {
            // The other reactors' waiters see the lock file go (a dropped FileLock removes it).
            drop(file);
            (key, owner)
        }
        LockState::None => return,
    };
    for token in sh.cache.locks.release(&key, owner) {
        sh.sched.rerun.push_back(token);
    }
}

/// A request that waited on `CacheLock` runs again: answered from the cache when its URL is
/// stored now, else sent to the backend (without the lock, so that the waiters of a URL that
/// turned out not to be storable all go at once).
pub(super) fn after_lock(client: &mut impl Client, mut ex: Box<Exchange>, sh: &mut Shared) -> Next {
    let Stage::Waiting(Wait::CacheLock(key)) = mem::replace(&mut ex.stage, Stage::Ready) else {
        return acquire(client, ex, false, sh);
    };
    match collapsed(client, &ex, &key, sh) {
        Some(hit) => serve_collapsed(ex, hit, sh),
        None => acquire(client, ex, false, sh),
    }
}

/// `CacheLock` held in another reactor or process ([`Wait::RemoteLock`]), looked at again.
/// While its file is there (and `CacheLockMaxAge` has not passed) the exchange waits on. Then
/// the URL is looked up again: answered from the cache when the other fetch stored it, else
/// fetched by this exchange without the lock (with the waiters of this reactor), as waiters
/// in the holder's reactor do.
pub(super) fn poll_remote(
    client: &mut impl Client,
    mut ex: Box<Exchange>,
    sh: &mut Shared,
) -> Next {
    let (Stage::Waiting(Wait::RemoteLock(since)), LockState::Held(key, ..)) = (&ex.stage, &ex.lock)
    else {
        return acquire(client, ex, false, sh);
    };
    let cfg = Arc::clone(&ex.cfg);
    let Some(cache) = cfg.cache.as_ref() else {
        return acquire(client, ex, false, sh);
    };
    let max_age = cache.lock_max_age.unwrap_or_default();
    let waited_out = sh.clock.now.saturating_duration_since(*since) >= max_age;
    if !waited_out && cache.store.is_locked(key, max_age, sh.clock.wall) {
        return Next::Continue(ex);
    }
    let key = key.clone();
    ex.stage = Stage::Ready;
    let hit = collapsed(client, &ex, &key, sh);
    // Either way the lock goes: this reactor's waiters find the entry too, or (the fetch
    // waited for stored nothing) they go to the backend at once, as this exchange does,
    // rather than one reactor after another.
    release_lock(&mut ex, sh);
    match hit {
        Some(hit) => serve_collapsed(ex, hit, sh),
        None => acquire(client, ex, false, sh),
    }
}

/// The cache's answer to a request that waited on `CacheLock` for `key`: a response stored
/// since it came answers it, fresh or not (request collapsing).
pub(super) fn collapsed(
    client: &impl Client,
    ex: &Exchange,
    key: &[u8],
    sh: &mut Shared,
) -> Option<cached::Hit> {
    let cache = ex.cfg.cache.as_ref()?;
    let fields = ex.log.fields();
    let vhost = &ex.cfg.vhosts[ex.vhost];
    let now = sh.clock.wall;
    let verified = &mut sh.cache.verified;
    let metrics = &sh.obs.metrics;
    let found = with_rewrite(client, vhost, ex.host(), |rewrite| {
        let framing = cached::Framing {
            method: ex.method,
            keep_alive: ex.keep_alive,
            client_version: ex.client_version,
            updating: &|| false,
            collapsed_after: Some(cached::unix_now(ex.log.wall)),
            rewrite,
        };
        cached::lookup(cache, key, &fields, &framing, now, verified, metrics)
    });
    match found {
        // (Within stale-while-revalidate, no update is started from here: the fetch waited
        // for just failed to store the URL.)
        Lookup::Hit(hit) | Lookup::Background { hit, .. } => Some(hit),
        Lookup::Miss { .. } | Lookup::Validate { .. } | Lookup::GatewayTimeout => None,
    }
}

/// Sends `hit` for an exchange that waited on `CacheLock`: the request prepared for the
/// backend is not needed.
pub(super) fn serve_collapsed(mut ex: Box<Exchange>, hit: cached::Hit, sh: &mut Shared) -> Next {
    ex.bout.clear(&mut sh.io.pool);
    let log = ex.log.take(sh);
    answer_hit(hit, log, ex.vhost, ex.keep_alive)
}

/// The backend answered our validation of a stale entry with a `304`: the entry is refreshed
/// and the client answered from it, the head queued and the body to follow from its file.
pub(super) fn revalidated(
    client: &mut impl Client,
    ex: &mut Exchange,
    head: &ResponseHead,
    sh: &mut Shared,
) -> Result<(), Break> {
    let cache = ex.cfg.cache.as_ref().expect("revalidating with a cache");
    let stale = ex
        .stale
        .take()
        .expect("a revalidated request holds its entry");
    ex.cache_key = None;
    let fields = field_pairs(&ex.bin, &head.headers);
    let req_fields = ex.log.fields();
    let vhost = &ex.cfg.vhosts[ex.vhost];
    let times = (
        cached::unix_now(ex.log.wall),
        cached::unix_now(sh.clock.wall),
    );
    let metrics = &sh.obs.metrics;
    let cached::Hit {
        head: out,
        body,
        status,
        body_len,
    } = with_rewrite(client, vhost, ex.host(), |rewrite| {
        let framing = cached::Framing {
            method: ex.method,
            keep_alive: ex.keep_alive,
            client_version: ex.client_version,
            updating: &|| false,
            collapsed_after: None,
            rewrite,
        };
        cached::refresh(
            cache,
            stale,
            &fields,
            &req_fields,
            times.0,
            times.1,
            &framing,
            metrics,
        )
    });
    client
        .out()
        .chain
        .push_slice(&mut sh.io.pool, &out)
        .map_err(|_| Break::Fail(Failure::PoolExhausted))?;
    client.out().spill = body;
    ex.status = status;
    ex.body_bytes = body_len;
    ex.head_sent = true;
    ex.log.cache = Some("revalidated");
    Ok(())
}

/// What the cache makes of a response head: an unsafe method's non-error answer removes the
/// entry of its target (RFC 9111 §4.4); a cacheable GET's answer starts filling an entry when
/// the policy allows and its length is known; `Cache-Status` says which.
pub(super) fn cache_response(
    ex: &mut Exchange,
    head: &ResponseHead,
    body: &ResponseBody,
    streaming: bool,
    sh: &mut Shared,
) {
    let Some(cache) = ex.cfg.cache.as_ref() else {
        return;
    };
    // A response came that is not a 304 nor served stale instead: the stale entry is no
    // longer needed (its file, if replaced meanwhile, is freed).
    ex.stale = None;
    if let Some(key) = ex.invalidate.take() {
        if policy::invalidates(ex.method, head.status) {
            // The target, and what Location and Content-Location name on the same origin.
            let named = head
                .headers
                .iter()
                .filter(|h| h.is(&ex.bin, b"location") || h.is(&ex.bin, b"content-location"))
                .filter_map(|h| cached::same_origin_key(&key, h.value.of(&ex.bin)));
            for key in std::iter::once(key.clone()).chain(named) {
                if cache.store.remove(&key).unwrap_or(false) {
                    sh.obs.metrics.cache_invalidations.incr();
                }
            }
        }
    }
    let Some(key) = ex.cache_key.take() else {
        return;
    };
    let length = match body {
        ResponseBody::Empty => Some(0),
        ResponseBody::Length(n) => Some(*n),
        ResponseBody::Chunked | ResponseBody::UntilClose => None,
    };
    let req = ex.log.fields();
    let resp = field_pairs(&ex.bin, &head.headers);
    let request_time = cached::unix_now(ex.log.wall);
    let response_time = cached::unix_now(sh.clock.wall);
    if streaming {
        sh.obs.metrics.count_not_stored("streaming");
        release_lock(ex, sh);
        return;
    }
    let fill = cached::start_fill(
        cache,
        key,
        &req,
        head.status,
        &resp,
        length,
        request_time,
        response_time,
        &sh.obs.metrics,
    );
    if fill.is_some() {
        // A body of unknown length may still grow past CacheMaxFileSize: "stored" is said
        // only of one that cannot.
        if length.is_some() {
            ex.cache_status.extend_from_slice(b"; stored");
        }
    } else {
        // Nothing will be stored: those waiting for it go on now.
        release_lock(ex, sh);
    }
    ex.fill = fill;
}
