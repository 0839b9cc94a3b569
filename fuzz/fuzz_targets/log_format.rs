//! Fuzz target `log_format`. Its properties are in `checks/log_format.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/log_format.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
