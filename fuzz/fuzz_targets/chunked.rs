//! Fuzz target `chunked`. Its properties are in `checks/chunked.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/chunked.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
