//! One reader for every HTTP/1.x message body, whatever its framing (RFC 9112 §6.3), without
//! I/O: given bytes that arrived, a [`BodyReader`] says how many belong to the body, which of
//! them are data, whether the body is complete, and whether the connection may carry another
//! message after it.
//!
//! Owns: counting `Content-Length` bodies, driving a [`ChunkedDecoder`] over `chunked` ones,
//! taking everything of a body that runs until close, telling a body cut short by the peer's
//! close ([`BodyError::Truncated`]) from one that is complete, and remembering whether any byte
//! past the end was offered (such a connection is not reused: the bytes are no message we asked
//! for).
//!
//! Must not: do I/O, buffer or copy bytes (it reports [`Span`]s of the caller's input, or lends
//! the caller slices of it), or consume a byte past the end of the body: what follows is the
//! next message, or stray bytes, and is the caller's to keep or drop. It does not decide what
//! a body too large for a limit means; [`BodyReader::data_bytes`] lets the caller check.
//!
//! Invariants (swept by `check_invariants` in debug builds): bytes past the end are recorded
//! only once the body is done; a failed reader stays failed and reports the same error.
//!
//! # Shape, and why
//!
//! - [`BodyReader::read`] is one step, like [`ChunkedDecoder::decode`]: at most one data span,
//!   relative to the call's input. Callers that must act on each span with an operation that
//!   can fail (queueing de-chunked data for the client) loop over it themselves.
//! - [`BodyReader::read_all`] loops `read` over one contiguous piece and hands each data span
//!   to a callback. It is resumable piece by piece, so bytes that landed across several blocks
//!   of a chain are validated a block at a time. It stops early only when the body ends inside
//!   the piece: `consumed < piece.len()` says so, and [`BodyReader::is_done`] says the body is
//!   complete in any case. Offering it the pieces after the end is harmless (nothing is
//!   consumed) and is how the reader learns that bytes followed the body.
//! - The extra bytes are recorded by the call that sees them, including the call that finishes
//!   the body, so [`BodyReader::reusable`] is right however the caller stops.
//! - A `Content-Length` body can be moved without being seen (spliced through a pipe):
//!   [`BodyReader::remaining`] says how many bytes are due and [`BodyReader::advance`] counts
//!   them afterwards. The splice path then probes the socket: a byte found there is fed to
//!   `read` (it is not consumed, and makes the connection unusable), a close is
//!   [`BodyReader::on_eof`].
//! - [`BodyReader::on_eof`] ends an until-close body; for any other it is an error unless the
//!   body was complete, and either way the connection is no longer reusable.
//!
//! # How the reactor's body paths map onto it
//!
//! One `BodyReader` replaces `ReqBody` (from [`RequestBody`]) and `RespBody` (from
//! [`ResponseBody`]; `Dechunk` stays a separate choice of what to do with the data, not of how
//! to read).
//!
//! - `body_in_tail` (bytes read into the tail of the client's chain, possibly over several
//!   blocks; `Length`, `Chunked` passed through and `UntilClose` alike): for each block of the
//!   tail, `used += reader.read_all(block, |data| fill.write(data))?`, returning `true` from
//!   the `for_tail` callback unless it failed, so blocks after the end are offered too. Then,
//!   if `reader.is_done()`, the last `n - used` bytes are cut off and the response is done
//!   with `reusable: reader.reusable()`.
//! - `body_slice`, `Length`, `Chunked` passed through and `UntilClose`: `used =
//!   reader.read_all(bytes, |data| fill.write(data))?`, then `bytes[..used]` is queued for the
//!   client; done and reusable as above.
//! - `body_slice`, `Dechunk`: a loop of `reader.read(&bytes[used..])?` while `used <
//!   bytes.len()` and not done, queueing each `step.data` for the client (which can fail, hence
//!   `read` and not `read_all`) and adding `step.consumed` to `used`.
//! - the backend's close in `read_backend` and `read_via_landing`: `reader.on_eof()`; `Ok`
//!   ends the response (not reusable), [`BodyError::Truncated`] aborts it.
//! - `splice_backend`: the pipe is filled with at most `reader.remaining()` bytes, then
//!   `reader.advance(n)`; once done, the peek at the socket feeds a byte it finds to
//!   `reader.read` and reports a close (or a failure) with `reader.on_eof()`, and the response
//!   is done with `reusable: reader.reusable()`.
//! - `pump_request` (`Length` and `Chunked`; no body is `Length(0)`, done from the start):
//!   `used = reader.read_all(&cin[..take], |_| {})?`, then `reader.data_bytes() > limit` is
//!   413, and `reader.is_done()` ends the request body. A client's close mid-body is
//!   `reader.on_eof()`'s `Truncated`. Bytes after a request body are the next pipelined
//!   request, not stray bytes, so the request side does not ask `reusable`.

use super::chunked::{ChunkedDecoder, ChunkedError, ChunkedLimits};
use super::request::RequestBody;
use super::response::ResponseBody;
use super::Span;

/// How a message body is delimited (RFC 9112 §6.3), as its head said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (a `Content-Length`, or 0 for a message without content).
    Length(u64),
    /// The `chunked` transfer coding, through its final CRLF.
    Chunked,
    /// Everything until the peer closes (a response only).
    UntilClose,
}

impl From<ResponseBody> for Framing {
    fn from(body: ResponseBody) -> Framing {
        match body {
            ResponseBody::Empty => Framing::Length(0),
            ResponseBody::Length(n) => Framing::Length(n),
            ResponseBody::Chunked => Framing::Chunked,
            ResponseBody::UntilClose => Framing::UntilClose,
        }
    }
}

impl From<RequestBody> for Framing {
    fn from(body: RequestBody) -> Framing {
        match body {
            RequestBody::None => Framing::Length(0),
            RequestBody::Length(n) => Framing::Length(n),
            RequestBody::Chunked => Framing::Chunked,
        }
    }
}

/// What one [`BodyReader::read`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input that belong to the body (framing and data); the caller offers the
    /// rest next time. Never more than the input, never past the end of the body.
    pub consumed: usize,
    /// Where the data of this call lies, relative to its input: never empty, and ends at or
    /// before `consumed`.
    pub data: Option<Span>,
    /// The body is complete (an until-close body only after [`BodyReader::on_eof`]).
    pub done: bool,
}

/// Why a body was refused. A request body's error is the client's (400, or a dropped
/// connection for `Truncated`); a response body's is the backend's (502 before the head went
/// out, a cut-off after).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The `chunked` framing is invalid or past its limits.
    Chunked(ChunkedError),
    /// The peer closed before the end of a body with a length or a `chunked` end.
    Truncated,
}

impl BodyError {
    /// A short, stable code for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            BodyError::Chunked(e) => e.reason(),
            BodyError::Truncated => "body-truncated",
        }
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for BodyError {}

/// How far the body is, by framing.
#[derive(Clone, Debug)]
enum Progress {
    /// A `Content-Length` body with this many bytes still due.
    Length {
        remaining: u64,
    },
    Chunked(ChunkedDecoder),
    /// An until-close body; `done` once the peer closed.
    UntilClose {
        done: bool,
    },
}

/// Reads one message body, fed in pieces of any size.
#[derive(Clone, Debug)]
pub struct BodyReader {
    progress: Progress,
    /// Data bytes seen (or advanced over) so far. For a chunked body, equals the decoder's
    /// `body_bytes`.
    data_bytes: u64,
    /// A byte past the end of the body was offered. Invariant: only once done.
    past_end: bool,
    /// The peer closed ([`BodyReader::on_eof`] was called).
    closed: bool,
    /// The first error; every later call returns it again.
    failed: Option<BodyError>,
}

impl BodyReader {
    /// A reader at the start of a body framed as `framing`; `limits` bound `chunked` framing
    /// (unused by other framings).
    pub fn new(framing: Framing, limits: ChunkedLimits) -> BodyReader {
        let progress = match framing {
            Framing::Length(remaining) => Progress::Length { remaining },
            Framing::Chunked => Progress::Chunked(ChunkedDecoder::new(limits)),
            Framing::UntilClose => Progress::UntilClose { done: false },
        };
        BodyReader {
            progress,
            data_bytes: 0,
            past_end: false,
            closed: false,
            failed: None,
        }
    }

    /// A reader with nothing left to read: for a body whose rest goes nowhere (a request the
    /// backend answered before taking all of it).
    pub fn finished() -> BodyReader {
        BodyReader::new(Framing::Length(0), ChunkedLimits::DEFAULT)
    }

    /// One step over `input`: a `Content-Length` body takes as much as is still due, all of it
    /// data; a chunked body consumes framing and at most one data span ([`ChunkedDecoder`]); an
    /// until-close body takes everything. Once the body is done nothing is consumed, and any
    /// input left over is recorded as bytes past the end. With an empty input nothing happens.
    pub fn read(&mut self, input: &[u8]) -> Result<Step, BodyError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let step = match &mut self.progress {
            Progress::Length { remaining } => {
                // Lossless: the minimum is at most `input.len()`, a usize.
                let take = (*remaining).min(input.len() as u64) as usize;
                *remaining -= take as u64;
                Step {
                    consumed: take,
                    data: (take > 0).then(|| Span::new(0, take)),
                    done: *remaining == 0,
                }
            }
            Progress::Chunked(decoder) => match decoder.decode(input) {
                Ok(decoded) => Step {
                    consumed: decoded.consumed,
                    data: decoded.data,
                    done: decoded.done,
                },
                Err(error) => {
                    let error = BodyError::Chunked(error);
                    self.failed = Some(error);
                    return Err(error);
                }
            },
            Progress::UntilClose { done: true } => Step {
                consumed: 0,
                data: None,
                done: true,
            },
            Progress::UntilClose { done: false } => Step {
                consumed: input.len(),
                data: (!input.is_empty()).then(|| Span::new(0, input.len())),
                done: false,
            },
        };
        if let Some(data) = step.data {
            self.data_bytes = self.data_bytes.saturating_add(data.len() as u64);
        }
        if step.done && step.consumed < input.len() {
            self.past_end = true;
        }
        #[cfg(debug_assertions)]
        self.check_invariants();
        Ok(step)
    }

    /// Reads `input` to its end, or to the end of the body, calling `data` with each data
    /// slice in order; returns the bytes consumed. Fewer than `input.len()` means the body
    /// ended inside `input` (the rest is past the end and was recorded as such). Call it again
    /// with the next piece, contiguous or not.
    pub fn read_all(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<usize, BodyError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            let step = self.read(rest)?;
            if let Some(span) = step.data {
                data(span.of(rest));
            }
            used += step.consumed;
            // Every framing consumes something of a non-empty input until it is done, so the
            // last test only guards against a decoder that stalled.
            debug_assert!(step.consumed > 0 || step.done || rest.is_empty());
            if used == input.len() || step.done || step.consumed == 0 {
                return Ok(used);
            }
        }
    }

    /// The peer closed. An until-close body is now complete; any other must already be, or
    /// this is [`BodyError::Truncated`]. Either way the connection carries nothing more.
    pub fn on_eof(&mut self) -> Result<(), BodyError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        self.closed = true;
        if let Progress::UntilClose { done } = &mut self.progress {
            *done = true;
        }
        let result = if self.is_done() {
            Ok(())
        } else {
            self.failed = Some(BodyError::Truncated);
            Err(BodyError::Truncated)
        };
        #[cfg(debug_assertions)]
        self.check_invariants();
        result
    }

    /// Whether the whole body was read (an until-close body: the peer closed).
    pub fn is_done(&self) -> bool {
        match &self.progress {
            Progress::Length { remaining } => *remaining == 0,
            Progress::Chunked(decoder) => decoder.is_done(),
            Progress::UntilClose { done } => *done,
        }
    }

    /// For a `Content-Length` body, the bytes still due (the splice path moves exactly these
    /// without looking at them, then calls [`BodyReader::advance`]); `None` for other framings.
    pub fn remaining(&self) -> Option<u64> {
        match &self.progress {
            Progress::Length { remaining } => Some(*remaining),
            Progress::Chunked(_) | Progress::UntilClose { .. } => None,
        }
    }

    /// Counts `n` bytes of a `Content-Length` body that went past unseen (through a pipe).
    ///
    /// # Panics
    /// If the body is not framed by length or `n` is more than [`BodyReader::remaining`]:
    /// the caller moved bytes it was not told were due.
    pub fn advance(&mut self, n: u64) {
        let Progress::Length { remaining } = &mut self.progress else {
            panic!("advance on a body without a length");
        };
        assert!(
            n <= *remaining,
            "advance({n}) past the {remaining} bytes due"
        );
        *remaining -= n;
        self.data_bytes += n;
        #[cfg(debug_assertions)]
        self.check_invariants();
    }

    /// Data bytes read (or advanced over) so far, framing excluded: what a body-size limit is
    /// checked against.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Whether the connection may carry another message: the body is complete, delimited by
    /// its own framing (not by a close), no byte past its end was offered, and the peer did
    /// not close.
    pub fn reusable(&self) -> bool {
        self.is_done() && !self.past_end && !self.closed && self.failed.is_none()
    }

    #[cfg(debug_assertions)]
    fn check_invariants(&self) {
        debug_assert!(!self.past_end || self.is_done(), "past the end before it");
        if let Progress::Chunked(decoder) = &self.progress {
            debug_assert_eq!(self.data_bytes, decoder.body_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What feeding an input produced.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        data: Vec<u8>,
        consumed: usize,
        done: bool,
        reusable: bool,
        data_bytes: u64,
    }

    impl Outcome {
        fn of(reader: &BodyReader, data: Vec<u8>, consumed: usize) -> Outcome {
            assert_eq!(reader.data_bytes(), data.len() as u64);
            Outcome {
                data,
                consumed,
                done: reader.is_done(),
                reusable: reader.reusable(),
                data_bytes: reader.data_bytes(),
            }
        }
    }

    /// Feeds `input` as the relay does: bytes become available up to each cut in turn (then
    /// all of them), and `read` is called on the unconsumed available bytes until it has
    /// consumed them all or the body is done.
    fn relay(
        framing: Framing,
        limits: ChunkedLimits,
        input: &[u8],
        cuts: impl Iterator<Item = usize>,
    ) -> Result<Outcome, BodyError> {
        let mut reader = BodyReader::new(framing, limits);
        let mut data = Vec::new();
        let mut consumed = 0;
        for available in cuts.chain([input.len()]) {
            while consumed < available && !reader.is_done() {
                let piece = &input[consumed..available];
                let step = reader.read(piece)?;
                assert!(step.consumed > 0 && step.consumed <= piece.len());
                if let Some(span) = step.data {
                    assert!(!span.is_empty() && span.end <= step.consumed);
                    data.extend_from_slice(span.of(piece));
                }
                assert_eq!(step.done, reader.is_done());
                consumed += step.consumed;
            }
        }
        // The bytes after the end are offered too, as the relay would on its next read.
        if consumed < input.len() {
            let step = reader.read(&input[consumed..])?;
            assert_eq!((step.consumed, step.data), (0, None));
        }
        Ok(Outcome::of(&reader, data, consumed))
    }

    /// Feeds `input` as blocks of a chain: `read_all` gets each piece between cuts in turn,
    /// including the pieces after the end of the body.
    fn blocks(
        framing: Framing,
        limits: ChunkedLimits,
        input: &[u8],
        cuts: impl Iterator<Item = usize>,
    ) -> Result<Outcome, BodyError> {
        let mut reader = BodyReader::new(framing, limits);
        let mut data = Vec::new();
        let mut consumed = 0;
        let mut start = 0;
        for end in cuts.chain([input.len()]) {
            let piece = &input[start..end];
            let used = reader.read_all(piece, |bytes| data.extend_from_slice(bytes))?;
            assert!(used <= piece.len());
            if used < piece.len() {
                assert!(reader.is_done(), "stopped short of a piece before the end");
            }
            if consumed < start {
                assert_eq!(used, 0, "consumed after a gap");
            }
            consumed += used;
            start = end;
        }
        Ok(Outcome::of(&reader, data, consumed))
    }

    /// Reads `input` whole, split at every offset and byte by byte, both as the relay and as
    /// blocks; asserts all agree.
    fn read_everywhere_with(
        framing: Framing,
        limits: ChunkedLimits,
        input: &[u8],
    ) -> Result<Outcome, BodyError> {
        let whole = relay(framing, limits, input, std::iter::empty());
        for split in 0..=input.len() {
            let at = [split].into_iter();
            assert_eq!(
                relay(framing, limits, input, at.clone()),
                whole,
                "split {split}"
            );
            assert_eq!(blocks(framing, limits, input, at), whole, "block {split}");
        }
        let bytes = 1..input.len();
        assert_eq!(
            relay(framing, limits, input, bytes.clone()),
            whole,
            "byte by byte"
        );
        assert_eq!(
            blocks(framing, limits, input, bytes),
            whole,
            "blocks of one byte"
        );
        whole
    }

    fn read_everywhere(framing: Framing, input: &[u8]) -> Result<Outcome, BodyError> {
        read_everywhere_with(framing, ChunkedLimits::DEFAULT, input)
    }

    fn outcome(framing: Framing, input: &[u8]) -> Outcome {
        read_everywhere(framing, input)
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(input)))
    }

    #[test]
    fn length_body_takes_exactly_its_length() {
        let found = outcome(Framing::Length(5), b"hello");
        assert_eq!(
            found,
            Outcome {
                data: b"hello".to_vec(),
                consumed: 5,
                done: true,
                reusable: true,
                data_bytes: 5,
            }
        );
        let short = outcome(Framing::Length(5), b"hel");
        assert_eq!(
            (short.consumed, short.done, short.reusable),
            (3, false, false)
        );
    }

    #[test]
    fn zero_length_body_is_done_before_any_byte() {
        let reader = BodyReader::new(Framing::Length(0), ChunkedLimits::DEFAULT);
        assert!(reader.is_done() && reader.reusable());
        assert_eq!(reader.remaining(), Some(0));
        let found = outcome(Framing::Length(0), b"");
        assert!(found.done && found.reusable && found.consumed == 0);
    }

    #[test]
    fn chunked_body_yields_its_data_and_consumes_its_framing() {
        let input = b"5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nT: v\r\n\r\n";
        let found = outcome(Framing::Chunked, input);
        assert_eq!(
            found,
            Outcome {
                data: b"hello, world".to_vec(),
                consumed: input.len(),
                done: true,
                reusable: true,
                data_bytes: 12,
            }
        );
    }

    #[test]
    fn until_close_body_takes_everything_and_ends_only_at_eof() {
        let found = outcome(Framing::UntilClose, b"all of it\r\n0\r\n\r\n");
        assert_eq!(found.data, b"all of it\r\n0\r\n\r\n");
        assert_eq!(
            (found.consumed, found.done, found.reusable),
            (16, false, false)
        );
        let mut reader = BodyReader::new(Framing::UntilClose, ChunkedLimits::DEFAULT);
        assert_eq!(reader.read_all(b"abc", |_| {}), Ok(3));
        assert_eq!(reader.on_eof(), Ok(()));
        assert!(reader.is_done());
        assert!(!reader.reusable(), "a close delimited it");
        assert_eq!(reader.data_bytes(), 3);
        assert_eq!(reader.remaining(), None);
    }

    #[test]
    fn bytes_after_the_end_are_not_consumed_and_spoil_reuse() {
        let cases: [(Framing, &[u8], usize); 3] = [
            (Framing::Length(3), b"abcGET", 3),
            (Framing::Chunked, b"3\r\nabc\r\n0\r\n\r\nGET", 13),
            (Framing::Length(0), b"X", 0),
        ];
        for (framing, input, body) in cases {
            let found = outcome(framing, input);
            assert_eq!(found.consumed, body, "{framing:?}");
            assert!(found.done && !found.reusable, "{framing:?}");
        }
    }

    #[test]
    fn the_call_that_ends_the_body_records_what_follows() {
        let mut reader = BodyReader::new(Framing::Length(2), ChunkedLimits::DEFAULT);
        let step = reader.read(b"abc").unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 2,
                data: Some(Span::new(0, 2)),
                done: true
            }
        );
        assert!(!reader.reusable());
        let mut reader = BodyReader::new(Framing::Chunked, ChunkedLimits::DEFAULT);
        assert_eq!(reader.read_all(b"0\r\n\r\nX", |_| panic!("no data")), Ok(5));
        assert!(reader.is_done() && !reader.reusable());
    }

    #[test]
    fn an_empty_piece_after_the_end_keeps_reuse() {
        let mut reader = BodyReader::new(Framing::Length(1), ChunkedLimits::DEFAULT);
        assert_eq!(reader.read_all(b"a", |_| {}), Ok(1));
        assert_eq!(reader.read_all(b"", |_| {}), Ok(0));
        assert!(reader.reusable());
    }

    #[test]
    fn eof_before_the_end_is_truncation() {
        for (framing, input) in [
            (Framing::Length(4), &b"abc"[..]),
            (Framing::Chunked, b"3\r\nabc\r\n"),
            (Framing::Chunked, b""),
        ] {
            let mut reader = BodyReader::new(framing, ChunkedLimits::DEFAULT);
            reader.read_all(input, |_| {}).unwrap();
            assert_eq!(reader.on_eof(), Err(BodyError::Truncated), "{framing:?}");
            assert!(!reader.is_done() && !reader.reusable());
            assert_eq!(reader.read(b"c"), Err(BodyError::Truncated), "stays failed");
            assert_eq!(reader.on_eof(), Err(BodyError::Truncated));
        }
    }

    #[test]
    fn eof_after_the_end_is_fine_but_ends_reuse() {
        let mut reader = BodyReader::new(Framing::Length(3), ChunkedLimits::DEFAULT);
        reader.read_all(b"abc", |_| {}).unwrap();
        assert!(reader.reusable());
        assert_eq!(reader.on_eof(), Ok(()));
        assert!(reader.is_done() && !reader.reusable());
    }

    #[test]
    fn chunked_errors_are_reported_and_stick() {
        assert_eq!(
            read_everywhere(Framing::Chunked, b"5\r\nhelloX"),
            Err(BodyError::Chunked(ChunkedError::MissingCrlf))
        );
        let mut reader = BodyReader::new(Framing::Chunked, ChunkedLimits::DEFAULT);
        let error = BodyError::Chunked(ChunkedError::InvalidSize);
        assert_eq!(reader.read(b"x"), Err(error));
        assert_eq!(reader.read(b"0\r\n\r\n"), Err(error));
        assert_eq!(reader.on_eof(), Err(error));
        assert!(!reader.reusable());
        assert_eq!(error.to_string(), "chunk-size");
        assert_eq!(BodyError::Truncated.to_string(), "body-truncated");
    }

    #[test]
    fn chunked_limits_apply() {
        let limits = ChunkedLimits {
            size_line: 4,
            extensions: 3,
            trailers: 6,
        };
        let read = |input: &[u8]| read_everywhere_with(Framing::Chunked, limits, input);
        assert!(read(b"1;ab\r\nx\r\n0\r\nA: 1\r\n\r\n").is_ok());
        assert_eq!(
            read(b"00001\r\n"),
            Err(BodyError::Chunked(ChunkedError::SizeLineTooLong))
        );
        assert_eq!(
            read(b"1;ab\r\nx\r\n0;cd\r\n"),
            Err(BodyError::Chunked(ChunkedError::ExtensionsTooLarge))
        );
        assert_eq!(
            read(b"0\r\nA: 123\r\n\r\n"),
            Err(BodyError::Chunked(ChunkedError::TrailersTooLarge))
        );
    }

    #[test]
    fn data_bytes_count_data_only() {
        let mut reader = BodyReader::new(Framing::Chunked, ChunkedLimits::DEFAULT);
        reader
            .read_all(b"a\r\n0123456789\r\n2\r\nab", |_| {})
            .unwrap();
        assert_eq!(reader.data_bytes(), 12);
    }

    #[test]
    fn huge_content_length_does_not_overflow() {
        let found = outcome(Framing::Length(u64::MAX), b"some bytes");
        assert_eq!((found.consumed, found.done), (10, false));
        let mut reader = BodyReader::new(Framing::Length(u64::MAX), ChunkedLimits::DEFAULT);
        reader.read_all(b"abc", |_| {}).unwrap();
        assert_eq!(reader.remaining(), Some(u64::MAX - 3));
        reader.advance(u64::MAX - 4);
        assert_eq!(reader.remaining(), Some(1));
        assert_eq!(reader.data_bytes(), u64::MAX - 1);
        assert_eq!(reader.read_all(b"zz", |_| {}), Ok(1));
        assert!(reader.is_done() && !reader.reusable());
        assert_eq!(reader.data_bytes(), u64::MAX);
    }

    #[test]
    fn advance_counts_spliced_bytes_and_a_probe_finds_stray_ones() {
        let mut reader = BodyReader::new(Framing::Length(10), ChunkedLimits::DEFAULT);
        assert_eq!(reader.remaining(), Some(10));
        reader.advance(4);
        reader.advance(6);
        assert!(reader.is_done() && reader.reusable());
        assert_eq!(reader.data_bytes(), 10);
        // What a peek at the socket found after the body.
        let step = reader.read(b"H").unwrap();
        assert_eq!((step.consumed, step.done), (0, true));
        assert!(!reader.reusable());
    }

    #[test]
    #[should_panic(expected = "past the 2 bytes due")]
    fn advance_past_the_length_is_a_caller_bug() {
        BodyReader::new(Framing::Length(2), ChunkedLimits::DEFAULT).advance(3);
    }

    #[test]
    #[should_panic(expected = "without a length")]
    fn advance_on_a_chunked_body_is_a_caller_bug() {
        BodyReader::new(Framing::Chunked, ChunkedLimits::DEFAULT).advance(0);
    }

    #[test]
    fn framing_follows_the_head() {
        assert_eq!(Framing::from(ResponseBody::Empty), Framing::Length(0));
        assert_eq!(Framing::from(ResponseBody::Length(7)), Framing::Length(7));
        assert_eq!(Framing::from(ResponseBody::Chunked), Framing::Chunked);
        assert_eq!(Framing::from(ResponseBody::UntilClose), Framing::UntilClose);
        assert_eq!(Framing::from(RequestBody::None), Framing::Length(0));
        assert_eq!(Framing::from(RequestBody::Length(7)), Framing::Length(7));
        assert_eq!(Framing::from(RequestBody::Chunked), Framing::Chunked);
    }
}
