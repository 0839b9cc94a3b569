//! The cache (mod_proxy's `CacheRoot` grown to RFC 9111): [`policy`] decides, without I/O or a
//! clock, what may be stored, how long it is fresh, and how a request is answered from it.
//! The disk store and the reactor's use of both come with later steps of the cache issue.

pub mod policy;
