//! What the fuzzer checks of `ChunkedDecoder`.
//!
//! Shared by the `chunked` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! Properties: no panic on any input; every call makes progress or stops for a reason (end of
//! input, done); a data span lies within the call's input and ends the call; and the decoded
//! data, the bytes consumed, completion and any error are the same whether the body arrives
//! whole, split in two, or byte by byte.

use spoonfeed::http1::{ChunkedDecoder, ChunkedError, ChunkedLimits};

/// Small limits, so the fuzzer reaches them quickly.
const LIMITS: ChunkedLimits = ChunkedLimits {
    size_line: 24,
    extensions: 64,
    trailers: 64,
};

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    data: Vec<u8>,
    consumed: usize,
    done: bool,
    body_bytes: u64,
}

/// Makes bytes available up to each cut in turn (then all), decoding the unconsumed ones.
fn feed(input: &[u8], cuts: impl Iterator<Item = usize>) -> Result<Outcome, ChunkedError> {
    let mut decoder = ChunkedDecoder::new(LIMITS);
    let mut data = Vec::new();
    let mut consumed = 0;
    for available in cuts.chain([input.len()]) {
        while consumed < available && !decoder.is_done() {
            let piece = &input[consumed..available];
            let step = decoder.decode(piece)?;
            assert!(step.consumed > 0 && step.consumed <= piece.len());
            if let Some(span) = step.data {
                assert!(span.start < span.end && span.end == step.consumed);
                data.extend_from_slice(span.of(piece));
            }
            assert_eq!(step.done, decoder.is_done());
            consumed += step.consumed;
        }
    }
    assert_eq!(decoder.body_bytes(), data.len() as u64);
    Ok(Outcome {
        data,
        consumed,
        done: decoder.is_done(),
        body_bytes: decoder.body_bytes(),
    })
}

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    let whole = feed(input, std::iter::empty());
    assert_eq!(
        feed(input, [input.len() / 2].into_iter()),
        whole,
        "split in two"
    );
    assert_eq!(feed(input, 1..input.len()), whole, "byte by byte");
    match whole {
        Ok(outcome) => assert!(outcome.done || outcome.consumed == input.len()),
        Err(error) => assert!(!error.reason().is_empty()),
    }
}
