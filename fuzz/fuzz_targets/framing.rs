//! Fuzz target `framing`. Its properties are in `checks/framing.rs`, which
//! `tests/fuzz_corpus.rs` also runs on every committed seed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/framing.rs"]
mod check;

fuzz_target!(|input: &[u8]| check::check(input));
