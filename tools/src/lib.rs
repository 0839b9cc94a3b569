//! Tools bundled with spoonfeed.
//!
//! Owns the origin server ([`origin`]) that the proxy's integration tests, `spoonfeed demo` and the
//! benchmark tools send traffic to, the load generator ([`loadgen`]), the buffer-size
//! sweep ([`sweep`]: its grid, status parsing, CSV, SVG plot, recommendation and the driver that
//! runs origin, spoonfeed and loadgen for each point), the side-by-side comparison with nginx
//! and HAProxy ([`compare`]), the processes they start ([`process`]), and five binaries: `bufsweep`, `compare`, `origin`
//! (the server as a process), `loadgen` (the load generator, closed or open loop, with slow
//! readers and verified responses) and `slow-client` (clients that read at a fixed rate, for
//! `scripts/slow-clients.sh`). Nothing here depends on the proxy, so the proxy is always
//! tested against an independent implementation of HTTP/1.1. No `unsafe` anywhere in this crate.
#![forbid(unsafe_code)]

pub mod compare;
pub mod loadgen;
pub mod origin;
pub mod process;
pub mod sweep;
