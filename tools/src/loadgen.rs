//! `loadgen`: an HTTP/1.1 load generator on one mio reactor, built to see what buffering does
//! for slow clients rather than to read as fast as possible.
//!
//! Owns the modes of load (closed loop: N keep-alive connections each keeping `--pipeline`
//! requests in flight; open loop: a fixed schedule of intended send times), slow readers
//! (a per-connection read rate paced by a byte-counting [`bucket::TokenBucket`], and a small
//! `SO_RCVBUF` set before connect), the verification of every response (status, length,
//! `X-Checksum`) and the report. It must not depend on the proxy, and it never holds a body:
//! bodies are checksummed as they arrive and dropped.
//!
//! The modules, each free of the others' concerns:
//!
//! - [`args`]: the command line into a [`args::Plan`], with every limit and refusal.
//! - [`histogram`]: a log-linear latency histogram, exact to under 1%.
//! - [`bucket`]: the token bucket behind `--read-rate`, with time as an argument.
//! - [`response`]: an incremental response parser and verifier, free of sockets and clocks.
//! - [`connection`]: one connection's phases, socket I/O and in-flight exchanges.
//! - [`reactor`]: the event loop, the open-loop schedule, timeouts and the end of the run.
//! - [`report`]: the summary, as text, JSON or CSV.
//!
//! # Latency
//!
//! An exchange's latency runs from its *intended* send time to the arrival of the last byte of
//! its response. In closed loop the intended time is when the connection had room for it (so
//! it is when the request was queued for writing). In open loop it is the schedule's
//! `start + k / rate`, whatever happened since: a request that waits because every connection
//! is busy is charged for the wait, so a stall of the server shows in the percentiles instead of
//! silently lowering the rate (coordinated omission).

pub mod args;
pub mod bucket;
pub mod connection;
pub mod histogram;
pub mod reactor;
pub mod report;
pub mod response;

pub use args::{parse_args, Command, Plan, USAGE};
pub use reactor::run;
pub use report::{ErrorKind, Report};
