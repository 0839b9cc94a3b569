//! Fuzz target `reverse`. Its properties are in `checks/reverse.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/reverse.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
