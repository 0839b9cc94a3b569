//! The cache (mod_proxy's `CacheRoot` grown to RFC 9111): [`policy`] decides, without I/O or a
//! clock, what may be stored, how long it is fresh, and how a request is answered from it;
//! [`store`] keeps the responses on disk, crash-safe, in least-recently-used order. The
//! reactor's use of both comes with the next steps of the cache issue.

pub mod policy;
pub mod store;
