//! Fuzz target `http_date`. Its properties are in `checks/http_date.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/http_date.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
