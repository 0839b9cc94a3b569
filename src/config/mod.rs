//! The configuration front end: reads an Apache-style file (DESIGN.md §5) and turns it into the
//! validated, defaults-filled [`Config`] the reactors run on, or into every problem found, each
//! located as `file:line: message`.
//!
//! Pipeline: [`lexer`] splits text into directives and sections; [`directives::DIRECTIVES`] is
//! the one table that says which directives exist, where they are allowed and how they are
//! applied; the parser applies them to drafts and then resolves defaults, inheritance and
//! backend addresses; [`dump`] writes a `Config` back out as a file (`spoonfeed -T`).
//!
//! This module must not start threads, open sockets or touch anything but the configuration
//! file, the certificate and key files it names (loaded here through `tls::setup`, so `-t`
//! finds a bad one), the `CacheRoot` directory (checked through `cache::store`, for the same
//! reason), the host name (`/proc/sys/kernel/hostname`), the resolver (backend host names) and
//! the current directory (to make relative paths absolute). Nothing is silently ignored: an
//! unknown directive, key or section is an error.
//!
//! It produces plain data and calls nothing above it: the modules it names (`buf`, `cache`,
//! `tls`) name nothing of it, and the access-log format language is compiled here
//! ([`log_format`]) for `log` to render.

pub mod directives;
pub mod dump;
pub mod lexer;
pub mod log_format;
pub mod model;

mod buffering;
mod cache;
mod forward;
mod logs;
mod parse;
mod proxy;
mod server;
mod ssl;
mod values;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use dump::dump;
pub use model::*;

/// A configuration that passed validation, with the problems that do not stop the server.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Sorted by line.
    pub warnings: Vec<ConfigWarning>,
}

/// Reads and parses the configuration file at `path`. An unreadable file is one error at line 0.
pub fn load(path: &Path) -> Result<Loaded, Vec<ConfigError>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, path),
        Err(e) => Err(vec![ConfigError {
            origin: Origin {
                file: path.to_path_buf(),
                line: 0,
            },
            message: format!("cannot read the configuration file: {e}"),
        }]),
    }
}

/// Parses configuration `text` as if read from `file` (used in messages and to make relative
/// log paths absolute). Returns every error found, sorted by line; problems that concern the
/// file as a whole (no `Listen`) are at line 0.
pub fn parse_str(text: &str, file: &Path) -> Result<Loaded, Vec<ConfigError>> {
    let (nodes, lex_errors) = lexer::lex(text, file);
    parse::Parser::new(file, lex_errors).run(&nodes)
}
