//! `compare`: the same workloads against spoonfeed, the backend direct (the limit of the box),
//! and nginx and HAProxy when installed, with rounds interleaved and the proxies pinned, so
//! that an operator can see what spoonfeed costs next to its peers on their own machine.
//!
//! The modules, each free of the others' concerns:
//!
//! - [`args`]: the command line into [`Options`]: workloads (`1k@16`, `slow:1m@32/256k`),
//!   targets, rounds, pinning and output, with every limit and refusal.
//! - [`configs`]: each proxy's configuration text (one worker, keep-alive on both sides).
//! - [`report`](mod@report): medians, min–max, ratios to direct and to the best peer, and the
//!   table, JSON and CSV. Pure.
//! - [`run`]: the origins, a fresh pinned proxy process per run, the check that each target
//!   answers 200 with the expected size, and the measurement.
//!
//! It must not link the spoonfeed crate: spoonfeed is measured as the binary operators run.

pub mod args;
pub mod configs;
pub mod report;
pub mod run;

pub use args::{parse_args, Command, Options, Output, Pin, Target, Workload, USAGE};
pub use report::{best_peer, median, ratio, spread, summarize, Sample, Spread, Summary};
pub use run::{interleave, Run, Runner};
