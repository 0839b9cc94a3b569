//! spoonfeed: a buffering reverse proxy for HTTP/1.x that reads heavy backends at full speed,
//! releases them at once, and spoon-feeds slow clients from cheap, bounded buffers.
//!
//! Layout (see DESIGN.md): `config` turns Apache-style files into a `Config`; `http1` and
//! `proxy` are protocol logic without sockets or clocks; `reactor` is the event loop that
//! owns every socket; `server` starts and stops reactors; `sys` holds every libc call.
#![deny(unsafe_code)]

pub mod buf;
pub mod cache;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http1;
pub mod log;
pub mod metrics;
pub mod proxy;
mod reactor;
pub mod server;
mod sys;
pub mod tls;

pub use reactor::sim;
pub use server::Server;

/// The version printed by `--version` and sent in `ProxyVia Full`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
