//! Fuzz target `cache_entry`. Its properties are in `checks/cache_entry.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/cache_entry.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
