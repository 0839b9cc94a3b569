//! Reading a request body off a connection: Content-Length and chunked (RFC 9112 §6.2, §7.1).
//!
//! Owns the chunked decoder. It only ever consumes what `BufRead::fill_buf` offers, so it stops
//! and resumes at any byte. Must not read past the body: the next request's bytes stay in the
//! reader. Chunk extensions are skipped and trailer fields are checked for syntax, then dropped.

use std::cmp;
use std::io::{self, BufRead, Read};

use super::error::{ExchangeError, RequestError};
use super::request::{self, BodyFraming};

/// Longest chunk-size line, extensions included; longer is answered 400. Bounds how many bytes a
/// client can make us scan without delivering body.
pub(super) const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// Most bytes of trailer field lines (CRLFs included, final empty line not) after the last chunk;
/// more is answered 400.
pub(super) const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Where a body reader is; the phase after the data of a chunk depends on how it was framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Inside a Content-Length body. Invariant: `remaining > 0`.
    Length { remaining: u64 },
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Inside the data of a chunk. Invariant: `remaining > 0`.
    ChunkData { remaining: u64 },
    /// Expecting the CRLF that ends a chunk's data.
    ChunkDataEnd,
    /// After the last chunk: trailer lines up to an empty line.
    Trailers,
    /// The whole body has been read.
    Done,
}

/// Hands out the body of one request, decoded, and stops exactly at its end.
#[derive(Debug)]
pub(super) struct BodyReader {
    phase: Phase,
    /// The part of a line read so far in a line phase. Invariant: empty in a data phase.
    line: Vec<u8>,
    /// Bytes of trailer field lines seen so far, CRLFs included. Invariant: `<= MAX_TRAILER_BYTES`.
    trailer_bytes: usize,
}

impl BodyReader {
    pub(super) fn new(framing: BodyFraming) -> BodyReader {
        let phase = match framing {
            BodyFraming::Length(0) => Phase::Done,
            BodyFraming::Length(remaining) => Phase::Length { remaining },
            BodyFraming::Chunked => Phase::ChunkSize,
        };
        BodyReader {
            phase,
            line: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// Whether the whole body has been read.
    pub(super) fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Reads body bytes into `out`, which must not be empty; 0 means the body is complete.
    ///
    /// Returns as soon as some bytes are available rather than filling `out`, so a caller that
    /// writes each piece on streams the body as it arrives. An error from `src` loses nothing:
    /// after a `WouldBlock` the next call continues at the same byte.
    pub(super) fn read(
        &mut self,
        src: &mut impl BufRead,
        out: &mut [u8],
    ) -> Result<usize, ExchangeError> {
        debug_assert!(
            !out.is_empty(),
            "an empty buffer would look like the end of the body"
        );
        loop {
            match self.phase {
                Phase::Done => return Ok(0),
                Phase::Length { remaining } => {
                    let copied = copy_available(src, out, remaining)?;
                    self.phase = match remaining - copied as u64 {
                        0 => Phase::Done,
                        remaining => Phase::Length { remaining },
                    };
                    return Ok(copied);
                }
                Phase::ChunkData { remaining } => {
                    let copied = copy_available(src, out, remaining)?;
                    self.phase = match remaining - copied as u64 {
                        0 => Phase::ChunkDataEnd,
                        remaining => Phase::ChunkData { remaining },
                    };
                    return Ok(copied);
                }
                Phase::ChunkSize => {
                    self.read_line(src, MAX_CHUNK_LINE_BYTES)?;
                    self.phase = match parse_chunk_size(&self.line)? {
                        0 => Phase::Trailers,
                        remaining => Phase::ChunkData { remaining },
                    };
                    self.line.clear();
                }
                Phase::ChunkDataEnd => {
                    self.read_line(src, 0)?;
                    self.phase = Phase::ChunkSize;
                    self.line.clear();
                }
                Phase::Trailers => {
                    let room = MAX_TRAILER_BYTES.saturating_sub(self.trailer_bytes + 2);
                    self.read_line(src, room)?;
                    if self.line.is_empty() {
                        self.phase = Phase::Done;
                    } else {
                        request::check_field_line(&self.line)?;
                        self.trailer_bytes += self.line.len() + 2;
                        self.line.clear();
                    }
                }
            }
        }
    }

    /// Reads and discards the rest of the body.
    pub(super) fn drain(&mut self, src: &mut impl BufRead) -> Result<(), ExchangeError> {
        let mut scratch = [0; 8192];
        while self.read(src, &mut scratch)? > 0 {}
        Ok(())
    }

    /// Completes one CRLF-terminated line of at most `limit` bytes (CRLF excluded) in `self.line`,
    /// without its CRLF; the caller clears it once used. A bare LF, a control character or a
    /// longer line is refused. When `src` fails (say with `WouldBlock`), the part read so far stays
    /// in `self.line` and the next call continues it.
    fn read_line(&mut self, src: &mut impl BufRead, limit: usize) -> Result<(), ExchangeError> {
        loop {
            let available = src.fill_buf()?;
            if available.is_empty() {
                return Err(request::unexpected_eof(
                    "connection closed inside a chunked body",
                ));
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let take = newline.map_or(available.len(), |at| at + 1);
            if self.line.len() + take > limit + 2 {
                return Err(RequestError::Malformed("chunked body line too long").into());
            }
            self.line.extend_from_slice(&available[..take]);
            src.consume(take);
            if newline.is_some() {
                break;
            }
        }
        if self.line.strip_suffix(b"\r\n").is_none() {
            return Err(RequestError::Malformed("chunked body line not ended by CRLF").into());
        }
        self.line.truncate(self.line.len() - 2);
        if self
            .line
            .iter()
            .any(|&b| b != b'\t' && (b < 0x20 || b == 0x7F))
        {
            return Err(RequestError::Malformed("control character in a chunked body line").into());
        }
        Ok(())
    }
}

/// Copies up to `limit` already-available bytes from `src` into `out`, waiting only when none are.
fn copy_available(
    src: &mut impl BufRead,
    out: &mut [u8],
    limit: u64,
) -> Result<usize, ExchangeError> {
    let available = src.fill_buf()?;
    if available.is_empty() {
        return Err(request::unexpected_eof(
            "connection closed inside a request body",
        ));
    }
    let n = cmp::min(available.len(), out.len());
    let n = usize::try_from(limit).map_or(n, |limit| n.min(limit));
    out[..n].copy_from_slice(&available[..n]);
    src.consume(n);
    Ok(n)
}

/// `chunk-size [ chunk-ext ]`: hex digits, then nothing or (after optional whitespace) `;…`.
fn parse_chunk_size(line: &[u8]) -> Result<u64, RequestError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(RequestError::Malformed("chunk size is not hexadecimal"));
    }
    let size = line[..digits]
        .iter()
        .try_fold(0u64, |n, &b| {
            let digit = char::from(b).to_digit(16)?;
            n.checked_mul(16)?.checked_add(u64::from(digit))
        })
        .ok_or(RequestError::Malformed("chunk size overflows"))?;
    let extensions = line[digits..]
        .iter()
        .skip_while(|&&b| b == b' ' || b == b'\t');
    match extensions.clone().next() {
        None | Some(b';') => Ok(size),
        Some(_) => Err(RequestError::Malformed("unexpected bytes after chunk size")),
    }
}

/// A reader that appends every byte its consumer consumes to `record`: the body exactly as it
/// came on the wire, chunk framing and trailers included.
///
/// Relies on `R` returning the same bytes from a second `fill_buf` with no `consume` between, as
/// `BufReader` and `&[u8]` do; it is only used over those.
pub(super) struct Recorder<'a, R> {
    pub(super) inner: &'a mut R,
    pub(super) record: &'a mut Vec<u8>,
}

impl<R: BufRead> Read for Recorder<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Recorder<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(available) = self.inner.fill_buf() {
            self.record
                .extend_from_slice(&available[..amount.min(available.len())]);
        }
        self.inner.consume(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    const CHUNKED: &[u8] = b"5\r\nhello\r\n1;name=value\r\n \r\nA ; x\r\n0123456789\r\n\
        000\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\nNEXT";

    /// The decoded body and the bytes left in `src` after it.
    fn decode(
        mut src: impl BufRead,
        framing: BodyFraming,
        out_len: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), ExchangeError> {
        let mut body = BodyReader::new(framing);
        let mut decoded = Vec::new();
        let mut out = vec![0; out_len];
        loop {
            let n = body.read(&mut src, &mut out)?;
            if n == 0 {
                break;
            }
            decoded.extend_from_slice(&out[..n]);
        }
        assert!(body.is_done());
        let mut rest = Vec::new();
        src.read_to_end(&mut rest).unwrap();
        Ok((decoded, rest))
    }

    #[test]
    fn decodes_chunked_alike_whole_split_anywhere_and_byte_by_byte() {
        let expected = (b"hello 0123456789".to_vec(), b"NEXT".to_vec());
        assert_eq!(decode(CHUNKED, BodyFraming::Chunked, 64).unwrap(), expected);
        for split in 0..=CHUNKED.len() {
            let parts = CHUNKED[..split].chain(&CHUNKED[split..]);
            let src = BufReader::with_capacity(CHUNKED.len(), parts);
            assert_eq!(
                decode(src, BodyFraming::Chunked, 3).unwrap(),
                expected,
                "split at {split}"
            );
        }
        let byte_by_byte = BufReader::with_capacity(1, CHUNKED);
        assert_eq!(
            decode(byte_by_byte, BodyFraming::Chunked, 64).unwrap(),
            expected
        );
    }

    /// A reader that fails with `WouldBlock` before each byte it hands out.
    struct Stuttering<'a> {
        rest: &'a [u8],
        is_ready: bool,
    }

    impl Read for Stuttering<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.fill_buf()?.read(out)?;
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Stuttering<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            if !self.is_ready {
                self.is_ready = true;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(&self.rest[..self.rest.len().min(1)])
        }

        fn consume(&mut self, amount: usize) {
            self.rest = &self.rest[amount..];
            self.is_ready = false;
        }
    }

    #[test]
    fn resumes_after_would_block_at_every_byte() {
        let mut src = Stuttering {
            rest: CHUNKED,
            is_ready: false,
        };
        let mut body = BodyReader::new(BodyFraming::Chunked);
        let mut decoded = Vec::new();
        let mut out = [0; 64];
        let mut would_blocks = 0;
        loop {
            match body.read(&mut src, &mut out) {
                Ok(0) => break,
                Ok(n) => decoded.extend_from_slice(&out[..n]),
                Err(ExchangeError::Abort(err)) if err.kind() == io::ErrorKind::WouldBlock => {
                    would_blocks += 1;
                }
                Err(err) => panic!("{err:?}"),
            }
        }
        assert_eq!(decoded, b"hello 0123456789");
        assert_eq!(src.rest, b"NEXT");
        assert_eq!(
            would_blocks,
            CHUNKED.len() - 4,
            "one before each byte of the body"
        );
    }

    #[test]
    fn reads_exactly_content_length_bytes_and_leaves_the_rest() {
        let decoded = decode(&b"abcdefNEXT"[..], BodyFraming::Length(6), 4).unwrap();
        assert_eq!(decoded, (b"abcdef".to_vec(), b"NEXT".to_vec()));
        let empty = decode(&b"NEXT"[..], BodyFraming::Length(0), 4).unwrap();
        assert_eq!(empty, (Vec::new(), b"NEXT".to_vec()));
    }

    fn refusal(chunked: &[u8]) -> Option<u16> {
        match decode(chunked, BodyFraming::Chunked, 64) {
            Err(ExchangeError::Request(refused)) => Some(refused.status()),
            Err(ExchangeError::Abort(_)) => None,
            Ok(decoded) => panic!("{chunked:?} decoded as {decoded:?}"),
        }
    }

    #[test]
    fn refuses_malformed_chunked_framing_with_400() {
        let long_extension = [
            b"1;".as_slice(),
            &[b'x'; MAX_CHUNK_LINE_BYTES],
            b"\r\nx\r\n0\r\n\r\n",
        ]
        .concat();
        let long_trailer = [
            b"0\r\nX: ".as_slice(),
            &[b'x'; MAX_TRAILER_BYTES],
            b"\r\n\r\n",
        ]
        .concat();
        let cases: [&[u8]; 10] = [
            b"x\r\n",
            b";\r\n",
            b"10000000000000000\r\n",
            b"3 x\r\nabc\r\n0\r\n\r\n",
            b"3\nabc\r\n0\r\n\r\n",
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3\r\nabc\r\n0\r\nBad Trailer: 1\r\n\r\n",
            b"3;a\x01\r\nabc\r\n0\r\n\r\n",
            &long_extension,
            &long_trailer,
        ];
        for chunked in cases {
            assert_eq!(
                refusal(chunked),
                Some(400),
                "{:?}",
                String::from_utf8_lossy(chunked)
            );
        }
    }

    #[test]
    fn largest_allowed_chunk_line_and_trailers_are_accepted() {
        let extension = [
            b"1;".as_slice(),
            &[b'x'; MAX_CHUNK_LINE_BYTES - 2],
            b"\r\nx\r\n0\r\n\r\n",
        ]
        .concat();
        assert_eq!(
            decode(&extension[..], BodyFraming::Chunked, 8).unwrap().0,
            b"x"
        );
        let trailer = [
            b"0\r\nX: ".as_slice(),
            &[b'x'; MAX_TRAILER_BYTES - 5],
            b"\r\n\r\n",
        ]
        .concat();
        assert_eq!(
            decode(&trailer[..], BodyFraming::Chunked, 8).unwrap().0,
            b""
        );
    }

    #[test]
    fn connection_ending_inside_a_body_aborts() {
        assert_eq!(refusal(b"5\r\nhel"), None);
        assert_eq!(refusal(b"5\r\nhello\r\n"), None);
        assert_eq!(refusal(b"0\r\nX: 1\r\n"), None);
        let short = decode(&b"abc"[..], BodyFraming::Length(6), 4);
        assert!(matches!(short, Err(ExchangeError::Abort(_))));
    }

    #[test]
    fn recorder_keeps_the_raw_chunked_body_as_received() {
        let mut src = BufReader::with_capacity(7, CHUNKED);
        let mut raw = Vec::new();
        let mut recorder = Recorder {
            inner: &mut src,
            record: &mut raw,
        };
        BodyReader::new(BodyFraming::Chunked)
            .drain(&mut recorder)
            .unwrap();
        assert_eq!(raw, &CHUNKED[..CHUNKED.len() - 4]);
    }
}
