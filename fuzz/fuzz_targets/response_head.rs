//! Fuzz target `response_head`. Its properties are in `checks/response_head.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/response_head.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
