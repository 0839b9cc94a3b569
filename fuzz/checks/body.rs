//! What the fuzzer checks of `BodyReader`.
//!
//! Shared by the `body` fuzz target and by `tests/fuzz_corpus.rs`, which replays the committed
//! corpus with it; so it uses only spoonfeed's public API and std.
//!
//! Input: byte 0 picks the framing (`& 3`: 0 `Length(byte 1)`, 1 `Chunked`, 2 `UntilClose`,
//! 3 `Length(u64::MAX - byte 1)`) and whether the peer closes after the body (`& 4`); byte 2
//! seeds the split; the rest is what the peer sent. Missing bytes count as 0.
//!
//! Properties: no panic; every step consumes at most its input, and its data span is non-empty
//! and lies within the bytes it consumed; `read_all` stops short of a piece only when the body
//! is done, and consumes nothing after a piece it stopped short of; the data, the bytes
//! consumed, completion, reuse, the data count, any error and the close's outcome are the same
//! whether the bytes are read whole, split in two, byte by byte, in blocks of sizes derived
//! from the input, or (for a length) partly spliced unseen. For a length `n` the data is
//! `min(n, input)` bytes and the connection is reusable only when exactly `n` arrived; an
//! until-close body takes everything and is never reusable; a reusable connection had every
//! byte consumed; a close is fine only for a complete body or an until-close one.

use spoonfeed::http1::{BodyError, BodyReader, ChunkedLimits, Framing};

/// Small limits, so the fuzzer reaches them quickly.
const LIMITS: ChunkedLimits = ChunkedLimits {
    size_line: 24,
    extensions: 64,
    trailers: 64,
};

/// Largest block the split derived from the input cuts; small, so blocks are many.
const MAX_BLOCK: usize = 13;

/// What reading the body produced, before any close.
#[derive(Debug, PartialEq, Eq)]
struct Read {
    /// The data, or `None` where some of it went past unseen (spliced).
    data: Option<Vec<u8>>,
    data_bytes: u64,
    consumed: usize,
    done: bool,
    reusable: bool,
}

/// The reading (or the error that ended it: how much was consumed before an error depends on
/// the split) and, when the peer closed after it, what the close returned.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    read: Result<Read, BodyError>,
    eof: Option<Result<(), BodyError>>,
}

/// How the bytes reach the reader.
#[derive(Clone, Copy, Debug)]
enum Feed<'a> {
    /// As the relay does: bytes become available up to each cut in turn (then all), and
    /// `read` is called on the unconsumed ones until they are used up or the body is done;
    /// then the rest is offered once more.
    Relay(&'a [usize]),
    /// As blocks of a chain: `read_all` gets each piece between cuts, the last ones too.
    Blocks(&'a [usize]),
    /// As the splice path does: the first `usize` bytes (at most the length) go past unseen,
    /// then the rest is read whole.
    Splice(usize),
}

fn read(framing: Framing, body: &[u8], feed: Feed<'_>, eof: bool) -> Outcome {
    let mut reader = BodyReader::new(framing, LIMITS);
    let mut data = Some(Vec::new());
    let mut consumed = 0;
    let result = match feed {
        Feed::Relay(cuts) => relay(&mut reader, body, cuts, &mut data, &mut consumed),
        Feed::Blocks(cuts) => blocks(&mut reader, body, cuts, &mut data, &mut consumed),
        Feed::Splice(unseen) => {
            let due = reader.remaining().expect("a length");
            let unseen = (unseen as u64).min(due).min(body.len() as u64);
            reader.advance(unseen);
            data = None;
            // Lossless: at most `body.len()`.
            consumed = unseen as usize;
            blocks(&mut reader, body, &[consumed], &mut None, &mut consumed)
        }
    };
    assert!(consumed <= body.len());
    let read = result.map(|()| {
        if let Some(data) = &data {
            assert_eq!(reader.data_bytes(), data.len() as u64);
        }
        Read {
            data,
            data_bytes: reader.data_bytes(),
            consumed,
            done: reader.is_done(),
            reusable: reader.reusable(),
        }
    });
    let eof = eof.then(|| {
        let closed = reader.on_eof();
        assert!(!reader.reusable(), "reusable after a close");
        assert_eq!(closed.is_ok(), reader.is_done());
        closed
    });
    Outcome { read, eof }
}

fn relay(
    reader: &mut BodyReader,
    body: &[u8],
    cuts: &[usize],
    data: &mut Option<Vec<u8>>,
    consumed: &mut usize,
) -> Result<(), BodyError> {
    for &available in cuts.iter().chain([&body.len()]) {
        while *consumed < available && !reader.is_done() {
            let piece = &body[*consumed..available];
            let step = reader.read(piece)?;
            assert!(step.consumed > 0 && step.consumed <= piece.len());
            if let Some(span) = step.data {
                assert!(span.start < span.end && span.end <= step.consumed);
                if let Some(data) = data {
                    data.extend_from_slice(span.of(piece));
                }
            }
            assert_eq!(step.done, reader.is_done());
            *consumed += step.consumed;
        }
    }
    // The bytes after the end, offered once more as the next read would.
    let step = reader.read(&body[*consumed..])?;
    assert_eq!((step.consumed, step.data), (0, None));
    Ok(())
}

fn blocks(
    reader: &mut BodyReader,
    body: &[u8],
    cuts: &[usize],
    data: &mut Option<Vec<u8>>,
    consumed: &mut usize,
) -> Result<(), BodyError> {
    let mut start = *consumed;
    for &end in cuts.iter().chain([&body.len()]) {
        let piece = &body[start..end];
        let used = reader.read_all(piece, |bytes| {
            assert!(!bytes.is_empty());
            if let Some(data) = data {
                data.extend_from_slice(bytes);
            }
        })?;
        assert!(used <= piece.len());
        assert!(used == piece.len() || reader.is_done(), "stopped short");
        assert!(used == 0 || *consumed == start, "consumed after a gap");
        *consumed += used;
        start = end;
    }
    Ok(())
}

/// Cuts into blocks of 1 to `MAX_BLOCK` bytes, sized by the seed and the bytes themselves.
fn derived_cuts(body: &[u8], seed: u8) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut at = 0;
    let mut state = usize::from(seed);
    while at < body.len() {
        state = state
            .wrapping_mul(31)
            .wrapping_add(usize::from(body[at]) + 7);
        at += 1 + state % MAX_BLOCK;
        cuts.push(at.min(body.len()));
    }
    cuts
}

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    let byte = |i: usize| input.get(i).copied().unwrap_or(0);
    let framing = match byte(0) & 3 {
        0 => Framing::Length(u64::from(byte(1))),
        1 => Framing::Chunked,
        2 => Framing::UntilClose,
        _ => Framing::Length(u64::MAX - u64::from(byte(1))),
    };
    let eof = byte(0) & 4 != 0;
    let body = input.get(3..).unwrap_or_default();

    let whole = read(framing, body, Feed::Relay(&[]), eof);
    let half = [body.len() / 2];
    let each: Vec<usize> = (1..body.len()).collect();
    let derived = derived_cuts(body, byte(2));
    for (name, feed) in [
        ("split in two", Feed::Relay(&half)),
        ("byte by byte", Feed::Relay(&each)),
        ("derived split", Feed::Relay(&derived)),
        ("blocks whole", Feed::Blocks(&[])),
        ("blocks split in two", Feed::Blocks(&half)),
        ("blocks of one byte", Feed::Blocks(&each)),
        ("derived blocks", Feed::Blocks(&derived)),
    ] {
        assert_eq!(read(framing, body, feed, eof), whole, "{name}");
    }

    if let Framing::Length(_) = framing {
        for unseen in [0, usize::from(byte(2)), body.len()] {
            let mut spliced = read(framing, body, Feed::Splice(unseen), eof);
            if let (Ok(spliced), Ok(whole)) = (&mut spliced.read, &whole.read) {
                spliced.data.clone_from(&whole.data);
            }
            assert_eq!(spliced, whole, "spliced {unseen}");
        }
    }
    match (&whole.read, framing) {
        (Ok(read), Framing::Length(n)) => {
            let len = body.len() as u64;
            assert_eq!(read.data_bytes, n.min(len));
            assert_eq!(read.consumed as u64, n.min(len));
            assert_eq!(read.done, len >= n);
            assert_eq!(read.reusable, len == n);
        }
        (Ok(read), Framing::UntilClose) => {
            assert_eq!(read.data.as_deref(), Some(body));
            assert!(!read.done && !read.reusable);
        }
        (Ok(read), Framing::Chunked) => {
            assert!(read.consumed == body.len() || read.done);
        }
        (Err(error), Framing::Chunked) => assert!(!error.reason().is_empty()),
        (Err(error), Framing::Length(_) | Framing::UntilClose) => {
            panic!("{framing:?} refused: {error}")
        }
    }
    if let Ok(read) = &whole.read {
        if read.reusable {
            assert!(read.done && read.consumed == body.len());
        }
    }
    match (&whole.read, whole.eof) {
        (_, None) => {}
        (Ok(read), Some(closed)) => {
            let complete = read.done || framing == Framing::UntilClose;
            assert_eq!(
                closed,
                if complete {
                    Ok(())
                } else {
                    Err(BodyError::Truncated)
                }
            );
        }
        (Err(error), Some(closed)) => assert_eq!(closed, Err(*error), "the error sticks"),
    }
}
