//! Fuzz target `body`. Its properties are in `checks/body.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/body.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
