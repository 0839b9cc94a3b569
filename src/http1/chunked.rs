//! An incremental decoder for the `chunked` transfer coding (RFC 9112 §7.1) that stops and
//! resumes at any byte boundary.
//!
//! Owns: validating chunked framing, strictly, and locating the data in it. The proxy uses one
//! [`ChunkedDecoder`] per chunked body, both to check a body it forwards unchanged (it forwards
//! exactly the bytes each call consumed) and to de-chunk a body for an HTTP/1.0 client (it
//! copies the data spans).
//!
//! Must not: buffer or copy data (it only reports where data lies in the caller's input),
//! accept anything another implementation could frame differently (bare LF, missing CRLF after
//! data, whitespace not followed by `;`, size overflow), or let a peer spend unbounded work on
//! framing: the size line, the extensions of the whole body and the trailer section each have a
//! limit ([`ChunkedLimits`]).
//!
//! Invariant: while in `State::Data`, `remaining > 0`. After an error the decoder is spent:
//! the caller must drop the body's connection.

use super::Span;

/// Default for [`ChunkedLimits::size_line`]: a size line (hex digits, whitespace and
/// extensions, without CRLF) longer than 1 KiB is refused. Real clients send at most 16 digits
/// and no extensions.
pub const MAX_SIZE_LINE: usize = 1024;

/// Default for [`ChunkedLimits::extensions`]: more than 16 KiB of chunk extensions in one body
/// are refused, so tiny chunks with large extensions cannot amplify framing work (hyper uses the
/// same budget).
pub const MAX_EXTENSIONS: u64 = 16 * 1024;

/// Default for [`ChunkedLimits::trailers`]: a trailer section (field lines with their CRLFs,
/// not the final empty line) longer than 16 KiB is refused.
pub const MAX_TRAILERS: usize = 16 * 1024;

/// Bounds on the framing of one chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedLimits {
    /// Longest chunk-size line, without CRLF; longer gets [`ChunkedError::SizeLineTooLong`].
    pub size_line: usize,
    /// Most extension bytes (from the first whitespace or `;` after the size to the CR) summed
    /// over the body; more gets [`ChunkedError::ExtensionsTooLarge`].
    pub extensions: u64,
    /// Most trailer-section bytes; more gets [`ChunkedError::TrailersTooLarge`].
    pub trailers: usize,
}

impl ChunkedLimits {
    /// [`MAX_SIZE_LINE`], [`MAX_EXTENSIONS`] and [`MAX_TRAILERS`].
    pub const DEFAULT: ChunkedLimits = ChunkedLimits {
        size_line: MAX_SIZE_LINE,
        extensions: MAX_EXTENSIONS,
        trailers: MAX_TRAILERS,
    };
}

impl Default for ChunkedLimits {
    fn default() -> ChunkedLimits {
        ChunkedLimits::DEFAULT
    }
}

/// What one [`ChunkedDecoder::decode`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input used (framing and data); the caller passes the rest next time.
    pub consumed: usize,
    /// Where the data decoded by this call lies, relative to the input of this call. It ends
    /// at `consumed` when present.
    pub data: Option<Span>,
    /// The body is complete: `consumed` ends right after the CRLF closing the trailer section,
    /// and nothing after it was consumed.
    pub done: bool,
}

/// Why a chunked body was refused. A request body's error is the client's (400); a response
/// body's is the backend's (502).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkedError {
    /// A size line that does not start with a hex digit, or holds a byte not allowed there
    /// (including whitespace not followed by `;`).
    InvalidSize,
    /// A chunk size past `u64::MAX`.
    SizeOverflow,
    /// A size line longer than [`ChunkedLimits::size_line`].
    SizeLineTooLong,
    /// More extension bytes than [`ChunkedLimits::extensions`].
    ExtensionsTooLarge,
    /// A control character in a chunk extension.
    InvalidExtension,
    /// A line ended by LF alone.
    BareLf,
    /// A CR not followed by LF, or chunk data not followed by CRLF.
    MissingCrlf,
    /// A trailer section longer than [`ChunkedLimits::trailers`].
    TrailersTooLarge,
    /// A trailer line that is not `name: value` (including obs-fold).
    InvalidTrailer,
}

impl ChunkedError {
    /// A short, stable code for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            ChunkedError::InvalidSize => "chunk-size",
            ChunkedError::SizeOverflow => "chunk-size-overflow",
            ChunkedError::SizeLineTooLong => "chunk-size-line-too-long",
            ChunkedError::ExtensionsTooLarge => "chunk-extensions-too-large",
            ChunkedError::InvalidExtension => "chunk-extension",
            ChunkedError::BareLf => "chunk-bare-lf",
            ChunkedError::MissingCrlf => "chunk-missing-crlf",
            ChunkedError::TrailersTooLarge => "trailers-too-large",
            ChunkedError::InvalidTrailer => "trailer",
        }
    }
}

impl std::fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ChunkedError {}

/// Where the decoder is in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading framing, one byte at a time.
    Framing(Frame),
    /// Inside chunk data. Invariant: `remaining > 0`.
    Data { remaining: u64 },
    /// The final CRLF was consumed.
    Done,
}

/// The framing positions, in the order they occur.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    /// Hex digits of a size; `line` bytes of the size line seen, `size` their value.
    Size { size: u64, line: usize },
    /// Whitespace after the digits, which must lead to `;`.
    SizeWhitespace { size: u64, line: usize },
    /// After a `;`, up to the CR.
    Extension { size: u64, line: usize },
    /// The CR ending the size line was seen.
    SizeLf { size: u64 },
    /// After a chunk's data.
    DataCr,
    /// After the CR following a chunk's data.
    DataLf,
    /// At the start of a trailer line or of the final empty line.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// The CR ending a trailer line was seen.
    TrailerLf,
    /// The CR of the final empty line was seen.
    EndLf,
}

/// Decodes one chunked body, fed in pieces of any size.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    limits: ChunkedLimits,
    state: State,
    /// Extension bytes seen in this body. Invariant: `<= limits.extensions`.
    extension_bytes: u64,
    /// Trailer-section bytes seen. Invariant: `<= limits.trailers`.
    trailer_bytes: usize,
    /// Data bytes reported so far.
    body_bytes: u64,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new(limits: ChunkedLimits) -> ChunkedDecoder {
        ChunkedDecoder {
            limits,
            state: State::Framing(Frame::Size { size: 0, line: 0 }),
            extension_bytes: 0,
            trailer_bytes: 0,
            body_bytes: 0,
        }
    }

    /// Consumes framing bytes of `input` and at most one contiguous data span, stopping after
    /// that span, at the end of `input`, or when the body is complete. Call again with the
    /// unconsumed rest while `consumed < input.len()` and not `done`; with an empty input
    /// (or once done) nothing is consumed.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, ChunkedError> {
        let mut pos = 0;
        let result = loop {
            match self.state {
                State::Done => {
                    break Ok(Decoded {
                        consumed: pos,
                        data: None,
                        done: true,
                    })
                }
                State::Data { remaining } => {
                    let available = input.len() - pos;
                    if available == 0 {
                        break Ok(Decoded {
                            consumed: pos,
                            data: None,
                            done: false,
                        });
                    }
                    // Lossless: the minimum is at most `available`, a usize.
                    let take = remaining.min(available as u64) as usize;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::Framing(Frame::DataCr)
                    } else {
                        State::Data { remaining: left }
                    };
                    self.body_bytes = self.body_bytes.saturating_add(take as u64);
                    let data = Span::new(pos, pos + take);
                    break Ok(Decoded {
                        consumed: pos + take,
                        data: Some(data),
                        done: false,
                    });
                }
                State::Framing(frame) => {
                    let Some(&byte) = input.get(pos) else {
                        break Ok(Decoded {
                            consumed: pos,
                            data: None,
                            done: false,
                        });
                    };
                    match self.step(frame, byte) {
                        Ok(next) => self.state = next,
                        Err(error) => break Err(error),
                    }
                    pos += 1;
                }
            }
        };
        #[cfg(debug_assertions)]
        self.check_invariants();
        result
    }

    /// Whether the whole body, trailer section included, was consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Data bytes decoded so far (framing excluded).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    #[cfg(debug_assertions)]
    fn check_invariants(&self) {
        debug_assert!(!matches!(self.state, State::Data { remaining: 0 }));
        debug_assert!(self.extension_bytes <= self.limits.extensions);
        debug_assert!(self.trailer_bytes <= self.limits.trailers);
    }

    /// The state after `byte` is read at framing position `frame`.
    fn step(&mut self, frame: Frame, byte: u8) -> Result<State, ChunkedError> {
        let next = match frame {
            Frame::Size { size, line } => match byte {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let digit = hex_value(byte);
                    let size = size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(digit))
                        .ok_or(ChunkedError::SizeOverflow)?;
                    Frame::Size {
                        size,
                        line: self.grow_line(line)?,
                    }
                }
                _ if line == 0 => return Err(ChunkedError::InvalidSize),
                b';' => {
                    self.count_extension()?;
                    Frame::Extension {
                        size,
                        line: self.grow_line(line)?,
                    }
                }
                b' ' | b'\t' => {
                    self.count_extension()?;
                    Frame::SizeWhitespace {
                        size,
                        line: self.grow_line(line)?,
                    }
                }
                b'\r' => Frame::SizeLf { size },
                b'\n' => return Err(ChunkedError::BareLf),
                _ => return Err(ChunkedError::InvalidSize),
            },
            // RFC 9112 §7.1.1: BWS is allowed only before `;`.
            Frame::SizeWhitespace { size, line } => match byte {
                b' ' | b'\t' => {
                    self.count_extension()?;
                    Frame::SizeWhitespace {
                        size,
                        line: self.grow_line(line)?,
                    }
                }
                b';' => {
                    self.count_extension()?;
                    Frame::Extension {
                        size,
                        line: self.grow_line(line)?,
                    }
                }
                b'\n' => return Err(ChunkedError::BareLf),
                _ => return Err(ChunkedError::InvalidSize),
            },
            Frame::Extension { size, line } => match byte {
                b'\r' => Frame::SizeLf { size },
                b'\n' => return Err(ChunkedError::BareLf),
                b'\t' | b' '..=b'~' | 0x80..=0xff => {
                    self.count_extension()?;
                    Frame::Extension {
                        size,
                        line: self.grow_line(line)?,
                    }
                }
                _ => return Err(ChunkedError::InvalidExtension),
            },
            Frame::SizeLf { size } => match byte {
                b'\n' if size == 0 => Frame::TrailerStart,
                b'\n' => return Ok(State::Data { remaining: size }),
                _ => return Err(ChunkedError::MissingCrlf),
            },
            Frame::DataCr => match byte {
                b'\r' => Frame::DataLf,
                b'\n' => return Err(ChunkedError::BareLf),
                _ => return Err(ChunkedError::MissingCrlf),
            },
            Frame::DataLf => match byte {
                b'\n' => Frame::Size { size: 0, line: 0 },
                _ => return Err(ChunkedError::MissingCrlf),
            },
            Frame::TrailerStart => match byte {
                b'\r' => Frame::EndLf,
                b'\n' => return Err(ChunkedError::BareLf),
                _ if is_token(byte) => {
                    self.count_trailer()?;
                    Frame::TrailerName
                }
                // Includes obs-fold (a line starting with whitespace).
                _ => return Err(ChunkedError::InvalidTrailer),
            },
            Frame::TrailerName => {
                self.count_trailer()?;
                match byte {
                    b':' => Frame::TrailerValue,
                    _ if is_token(byte) => Frame::TrailerName,
                    _ => return Err(ChunkedError::InvalidTrailer),
                }
            }
            Frame::TrailerValue => {
                self.count_trailer()?;
                match byte {
                    b'\r' => Frame::TrailerLf,
                    b'\n' => return Err(ChunkedError::BareLf),
                    b'\t' | b' '..=b'~' | 0x80..=0xff => Frame::TrailerValue,
                    _ => return Err(ChunkedError::InvalidTrailer),
                }
            }
            Frame::TrailerLf => {
                self.count_trailer()?;
                match byte {
                    b'\n' => Frame::TrailerStart,
                    _ => return Err(ChunkedError::MissingCrlf),
                }
            }
            Frame::EndLf => match byte {
                b'\n' => return Ok(State::Done),
                _ => return Err(ChunkedError::MissingCrlf),
            },
        };
        Ok(State::Framing(next))
    }

    /// One more byte on the size line, within [`ChunkedLimits::size_line`].
    fn grow_line(&self, line: usize) -> Result<usize, ChunkedError> {
        if line >= self.limits.size_line {
            return Err(ChunkedError::SizeLineTooLong);
        }
        Ok(line + 1)
    }

    /// One more extension byte, within [`ChunkedLimits::extensions`].
    fn count_extension(&mut self) -> Result<(), ChunkedError> {
        if self.extension_bytes >= self.limits.extensions {
            return Err(ChunkedError::ExtensionsTooLarge);
        }
        self.extension_bytes += 1;
        Ok(())
    }

    /// One more trailer byte, within [`ChunkedLimits::trailers`].
    fn count_trailer(&mut self) -> Result<(), ChunkedError> {
        if self.trailer_bytes >= self.limits.trailers {
            return Err(ChunkedError::TrailersTooLarge);
        }
        self.trailer_bytes += 1;
        Ok(())
    }
}

impl Default for ChunkedDecoder {
    fn default() -> ChunkedDecoder {
        ChunkedDecoder::new(ChunkedLimits::DEFAULT)
    }
}

/// The value of an ASCII hex digit (caller checked it is one).
fn hex_value(byte: u8) -> u64 {
    let value = match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    };
    u64::from(value)
}

/// Whether `byte` may appear in a field name (RFC 9110 §5.6.2 `tchar`).
fn is_token(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What feeding a whole input produced.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        data: Vec<u8>,
        consumed: usize,
        done: bool,
        body_bytes: u64,
    }

    /// Feeds `input` as a proxy would: bytes become available up to each cut in turn (then all
    /// of them), and the decoder is called on the unconsumed available bytes until it has
    /// consumed them all or is done.
    fn feed(
        input: &[u8],
        limits: ChunkedLimits,
        cuts: impl Iterator<Item = usize>,
    ) -> Result<Outcome, ChunkedError> {
        let mut decoder = ChunkedDecoder::new(limits);
        let mut data = Vec::new();
        let mut consumed = 0;
        for available in cuts.chain([input.len()]) {
            while consumed < available && !decoder.is_done() {
                let piece = &input[consumed..available];
                let step = decoder.decode(piece)?;
                assert!(step.consumed > 0, "no progress on {piece:?}");
                assert!(step.consumed <= piece.len());
                if let Some(span) = step.data {
                    assert_eq!(span.end, step.consumed, "data ends the call");
                    data.extend_from_slice(span.of(piece));
                }
                assert_eq!(step.done, decoder.is_done());
                consumed += step.consumed;
            }
        }
        Ok(Outcome {
            data,
            consumed,
            done: decoder.is_done(),
            body_bytes: decoder.body_bytes(),
        })
    }

    /// Decodes `input` whole, split at every offset, and byte by byte; asserts all agree.
    fn decode_everywhere_with(
        input: &[u8],
        limits: ChunkedLimits,
    ) -> Result<Outcome, ChunkedError> {
        let whole = feed(input, limits, std::iter::empty());
        for split in 0..input.len() {
            assert_eq!(
                feed(input, limits, [split].into_iter()),
                whole,
                "split at {split}"
            );
        }
        assert_eq!(feed(input, limits, 1..input.len()), whole, "byte by byte");
        whole
    }

    fn decode_everywhere(input: &[u8]) -> Result<Outcome, ChunkedError> {
        decode_everywhere_with(input, ChunkedLimits::DEFAULT)
    }

    fn decoded(input: &[u8]) -> Outcome {
        decode_everywhere(input)
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(input)))
    }

    #[test]
    fn decodes_chunks_and_stops_after_the_final_crlf() {
        let input = b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
        let outcome = decoded(input);
        assert_eq!(outcome.data, b"hello, world");
        assert_eq!(outcome.consumed, input.len());
        assert!(outcome.done);
        assert_eq!(outcome.body_bytes, 12);
    }

    #[test]
    fn leaves_bytes_after_the_terminator_unconsumed() {
        let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let outcome = decoded(input);
        assert!(outcome.done);
        assert_eq!(&input[outcome.consumed..], b"GET / HTTP/1.1\r\n");
        let mut decoder = ChunkedDecoder::default();
        let step = decoder.decode(b"0\r\n\r\nX").unwrap();
        assert_eq!(
            step,
            Decoded {
                consumed: 5,
                data: None,
                done: true
            }
        );
        assert_eq!(
            decoder.decode(b"X").unwrap(),
            Decoded {
                consumed: 0,
                data: None,
                done: true
            }
        );
    }

    #[test]
    fn reads_hex_sizes_in_either_case() {
        let mut input = b"a\r\n0123456789\r\nA\r\nabcdefghij\r\n1F\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 31]);
        input.extend_from_slice(b"\r\n0000000000000000000000000000000\r\n\r\n");
        let outcome = decoded(&input);
        assert_eq!(outcome.body_bytes, 51);
        assert!(outcome.done);
    }

    #[test]
    fn data_spans_are_relative_to_the_call_input() {
        let mut decoder = ChunkedDecoder::default();
        let step = decoder.decode(b"4\r\nabcd\r\n0\r\n\r\n").unwrap();
        assert_eq!(
            step,
            Decoded {
                consumed: 7,
                data: Some(Span::new(3, 7)),
                done: false
            }
        );
        let step = decoder.decode(b"\r\n0\r\n\r\n").unwrap();
        assert_eq!(
            step,
            Decoded {
                consumed: 7,
                data: None,
                done: true
            }
        );
    }

    #[test]
    fn a_partial_chunk_is_reported_as_it_arrives() {
        let mut decoder = ChunkedDecoder::default();
        let step = decoder.decode(b"8\r\nabc").unwrap();
        assert_eq!(
            step,
            Decoded {
                consumed: 6,
                data: Some(Span::new(3, 6)),
                done: false
            }
        );
        let step = decoder.decode(b"defgh\r\n").unwrap();
        assert_eq!(
            step,
            Decoded {
                consumed: 5,
                data: Some(Span::new(0, 5)),
                done: false
            }
        );
        assert_eq!(decoder.body_bytes(), 8);
        assert_eq!(
            decoder.decode(b"").unwrap(),
            Decoded {
                consumed: 0,
                data: None,
                done: false
            }
        );
    }

    #[test]
    fn accepts_extensions() {
        let input = b"5;name=value;q=\"quoted; str\"\r\nhello\r\n5 \t;x\r\nworld\r\n0;last\r\n\r\n";
        let outcome = decoded(input);
        assert_eq!(outcome.data, b"helloworld");
        assert!(outcome.done);
    }

    #[test]
    fn accepts_trailers() {
        let input = b"1\r\nx\r\n0\r\nX-Checksum: abc\r\nEmpty:\r\nY: \t v \xff\r\n\r\nrest";
        let outcome = decoded(input);
        assert!(outcome.done);
        assert_eq!(&input[outcome.consumed..], b"rest");
    }

    #[test]
    fn rejects_size_overflow() {
        assert_eq!(
            decode_everywhere(b"10000000000000000\r\n"),
            Err(ChunkedError::SizeOverflow)
        );
        let mut decoder = ChunkedDecoder::default();
        let step = decoder.decode(b"FFFFFFFFFFFFFFFF\r\nab").unwrap();
        assert_eq!(step.data, Some(Span::new(18, 20)));
    }

    #[test]
    fn rejects_bare_lf_everywhere() {
        let cases: [&[u8]; 7] = [
            b"5\nhello\r\n0\r\n\r\n",
            b"5;x\nhello\r\n0\r\n\r\n",
            b"5 \nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"0\r\n\n",
            b"0\r\nA: b\n\r\n",
            b"0\n\r\n",
        ];
        for input in cases {
            assert_eq!(
                decode_everywhere(input),
                Err(ChunkedError::BareLf),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn rejects_missing_crlf() {
        let cases: [&[u8]; 5] = [
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\rX",
            b"5\rX",
            b"0\r\n\rX",
            b"0\r\nA: b\rX",
        ];
        for input in cases {
            assert_eq!(
                decode_everywhere(input),
                Err(ChunkedError::MissingCrlf),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn rejects_invalid_sizes() {
        let cases: [&[u8]; 7] = [
            b"\r\n", b"g\r\n", b"-5\r\n", b"+5\r\n", b"0x5\r\n", b"5 \r\n", b" 5\r\n",
        ];
        for input in cases {
            assert_eq!(
                decode_everywhere(input),
                Err(ChunkedError::InvalidSize),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn rejects_control_characters_in_extensions() {
        assert_eq!(
            decode_everywhere(b"5;a\x00\r\n"),
            Err(ChunkedError::InvalidExtension)
        );
        assert_eq!(
            decode_everywhere(b"5;a\x7f\r\n"),
            Err(ChunkedError::InvalidExtension)
        );
    }

    #[test]
    fn bounds_the_size_line() {
        let limits = ChunkedLimits {
            size_line: 8,
            ..ChunkedLimits::DEFAULT
        };
        assert!(decode_everywhere_with(b"00000005;abc\r\nhello\r\n0\r\n\r\n", limits).is_err());
        assert!(decode_everywhere_with(b"5;abcdef\r\nhello\r\n0\r\n\r\n", limits).is_ok());
        assert_eq!(
            decode_everywhere_with(b"5;abcdefg\r\nhello\r\n0\r\n\r\n", limits),
            Err(ChunkedError::SizeLineTooLong)
        );
        assert_eq!(
            decode_everywhere_with(b"000000000", limits),
            Err(ChunkedError::SizeLineTooLong)
        );
    }

    #[test]
    fn bounds_extensions_over_the_whole_body() {
        let limits = ChunkedLimits {
            extensions: 5,
            ..ChunkedLimits::DEFAULT
        };
        assert!(decode_everywhere_with(b"1;ab\r\nx\r\n0;c\r\n\r\n", limits).is_ok());
        assert_eq!(
            decode_everywhere_with(b"1;ab\r\nx\r\n1;ab\r\nx\r\n0\r\n\r\n", limits),
            Err(ChunkedError::ExtensionsTooLarge)
        );
    }

    #[test]
    fn bounds_the_trailer_section() {
        let limits = ChunkedLimits {
            trailers: 8,
            ..ChunkedLimits::DEFAULT
        };
        assert!(decode_everywhere_with(b"0\r\nA: 123\r\n\r\n", limits).is_ok());
        assert_eq!(
            decode_everywhere_with(b"0\r\nA: 1234\r\n\r\n", limits),
            Err(ChunkedError::TrailersTooLarge)
        );
    }

    #[test]
    fn rejects_invalid_trailers() {
        let cases: [&[u8]; 6] = [
            b"0\r\nNoColon\r\n\r\n",
            b"0\r\nA : b\r\n\r\n",
            b"0\r\n: b\r\n\r\n",
            b"0\r\nA: b\r\n folded\r\n\r\n",
            b"0\r\nA: b\x00\r\n\r\n",
            b"0\r\nA(: b\r\n\r\n",
        ];
        for input in cases {
            assert_eq!(
                decode_everywhere(input),
                Err(ChunkedError::InvalidTrailer),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn every_error_has_a_distinct_reason() {
        let all = [
            ChunkedError::InvalidSize,
            ChunkedError::SizeOverflow,
            ChunkedError::SizeLineTooLong,
            ChunkedError::ExtensionsTooLarge,
            ChunkedError::InvalidExtension,
            ChunkedError::BareLf,
            ChunkedError::MissingCrlf,
            ChunkedError::TrailersTooLarge,
            ChunkedError::InvalidTrailer,
        ];
        let mut reasons: Vec<&str> = all.iter().map(ChunkedError::reason).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
    }
}
