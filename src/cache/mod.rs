//! The cache (mod_proxy's `CacheRoot` grown to RFC 9111): [`policy`] decides, without I/O or a
//! clock, what may be stored, how long it is fresh, and how a request is answered from it;
//! [`store`] keeps the responses on disk, crash-safe, in least-recently-used order, and the
//! locks that let one fetch of a URL fill it for every reactor; [`collector`] keeps the store
//! under `CacheSize` from a thread of its own. The reactor uses the first two in
//! `reactor::cached`.
//!
//! Nothing here names the configuration (or anything else above `http1` and `sys`): the
//! collector is handed the cache lines as plain values ([`collector::Budget`]). So the cache
//! sits below `config`, which checks `CacheRoot` with [`store::Store::open`] when it reads the
//! file (so that `spoonfeed -t` reports a bad one at its line) and keeps the store and the
//! [`policy::Settings`] as plain data.

pub mod collector;
pub mod policy;
pub mod store;

/// The primary key of a request: `scheme://host` (the host lowercased) and the target as sent
/// (path and query). The reactor and `spoonfeed cache purge` both make keys with it.
pub fn key(scheme: &str, host: &[u8], target: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(scheme.len() + 3 + host.len() + target.len());
    key.extend_from_slice(scheme.as_bytes());
    key.extend_from_slice(b"://");
    key.extend(host.iter().map(u8::to_ascii_lowercase));
    key.extend_from_slice(target);
    key
}
