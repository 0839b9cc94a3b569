//! Tools bundled with spoonfeed.
//!
//! Owns the load generator ([`loadgen`]), the buffer-size sweep ([`sweep`]: its grid, status
//! parsing, CSV, SVG plot, recommendation and the driver that runs origin, spoonfeed and loadgen
//! for each point), the side-by-side comparison with nginx and HAProxy ([`compare`]), the
//! processes they start ([`process`]), and five binaries: `bufsweep`, `compare`, `origin` (the
//! bundled origin server, `spoonfeed_origin`, as a process), `loadgen` (the load generator,
//! closed or open loop, with slow readers and verified responses) and `slow-client` (clients
//! that read at a fixed rate, for `scripts/slow-clients.sh`). Nothing here depends on the proxy,
//! so the proxy is always tested against an independent implementation of HTTP/1.1; and the
//! proxy does not depend on this crate, so its binary links none of it. No `unsafe` anywhere in
//! this crate.
#![forbid(unsafe_code)]

pub mod compare;
pub mod loadgen;
pub mod process;
pub mod sweep;
