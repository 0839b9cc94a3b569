//! Replays every committed fuzz seed as a regular test, so `cargo test` (and CI) checks each
//! fuzz target's properties on its corpus without nightly or cargo-fuzz.
//!
//! Each target's properties live in one file, `fuzz/checks/<target>.rs`, included both here and
//! by the fuzz target `fuzz/fuzz_targets/<target>.rs`; the fuzz crate is its own workspace, so
//! `cargo test --workspace` would not otherwise see them. For each target this runs `check` on
//! every file of `fuzz/corpus/<target>/` and, when a local fuzzing run left any,
//! `fuzz/artifacts/<target>/` (crashes not yet turned into named seeds). See `fuzz/README.md`.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

#[path = "../fuzz/checks/body.rs"]
mod body;
#[path = "../fuzz/checks/cache_control.rs"]
mod cache_control;
#[path = "../fuzz/checks/cache_entry.rs"]
mod cache_entry;
#[path = "../fuzz/checks/chunked.rs"]
mod chunked;
#[path = "../fuzz/checks/config.rs"]
mod config;
#[path = "../fuzz/checks/connection.rs"]
mod connection;
#[path = "../fuzz/checks/framing.rs"]
mod framing;
#[path = "../fuzz/checks/http_date.rs"]
mod http_date;
#[path = "../fuzz/checks/log_format.rs"]
mod log_format;
#[path = "../fuzz/checks/request_head.rs"]
mod request_head;
#[path = "../fuzz/checks/response_head.rs"]
mod response_head;
#[path = "../fuzz/checks/reverse.rs"]
mod reverse;

/// The files under `fuzz/<dir>/<target>/`, sorted; none if the directory does not exist. Names
/// starting with `.` are skipped: git ignores them there, so CI never sees them either.
fn files(dir: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.is_file())
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs `check` on every seed of `target` (and every artifact a local run left), then fails
/// naming each input whose check panicked; the panic messages are printed as they happen.
fn replay(target: &str, check: fn(&[u8])) {
    let corpus = files("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ holds no seed: every target keeps named seeds"
    );
    let failed: Vec<String> = corpus
        .iter()
        .chain(&files("artifacts", target))
        .filter(|path| {
            let input = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            panic::catch_unwind(|| check(&input)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: the check panicked on {}",
        failed.join(", ")
    );
}

/// Every fuzz target, each with a test below.
const TARGETS: [&str; 12] = [
    "body",
    "cache_control",
    "cache_entry",
    "chunked",
    "config",
    "connection",
    "framing",
    "http_date",
    "log_format",
    "request_head",
    "response_head",
    "reverse",
];

#[test]
fn every_fuzz_target_is_replayed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    let mut found: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("fuzz/fuzz_targets entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .filter_map(|path| Some(path.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    found.sort();
    assert_eq!(
        found, TARGETS,
        "add the new target to TARGETS and a test below"
    );
}

#[test]
fn body_corpus_passes_its_check() {
    replay("body", body::check);
}

#[test]
fn chunked_corpus_passes_its_check() {
    replay("chunked", chunked::check);
}

#[test]
fn config_corpus_passes_its_check() {
    replay("config", config::check);
}

#[test]
fn connection_corpus_passes_its_check() {
    replay("connection", connection::check);
}

#[test]
fn framing_corpus_passes_its_check() {
    replay("framing", framing::check);
}

#[test]
fn request_head_corpus_passes_its_check() {
    replay("request_head", request_head::check);
}

#[test]
fn response_head_corpus_passes_its_check() {
    replay("response_head", response_head::check);
}

#[test]
fn reverse_corpus_passes_its_check() {
    replay("reverse", reverse::check);
}

#[test]
fn http_date_corpus_passes_its_check() {
    replay("http_date", http_date::check);
}

#[test]
fn cache_control_corpus_passes_its_check() {
    replay("cache_control", cache_control::check);
}

#[test]
fn cache_entry_corpus_passes_its_check() {
    replay("cache_entry", cache_entry::check);
}

#[test]
fn log_format_corpus_passes_its_check() {
    replay("log_format", log_format::check);
}
