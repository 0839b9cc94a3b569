//! Tools bundled with spoonfeed.
//!
//! Owns the origin server ([`origin`]) that the proxy's integration tests, `spoonfeed demo` and the
//! benchmark tools send traffic to, and two binaries: `origin` (the server as a process) and
//! `slow-client` (clients that read at a fixed rate, for `scripts/slow-clients.sh`). Nothing here depends on the proxy, so the proxy is always
//! tested against an independent implementation of HTTP/1.1. No `unsafe` anywhere in this crate.
#![forbid(unsafe_code)]

pub mod origin;
