//! Fuzz target `request_head`. Its properties are in `checks/request_head.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/request_head.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
