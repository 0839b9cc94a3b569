//! Fuzz target `config`. Its properties are in `checks/config.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/config.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
