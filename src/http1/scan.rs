//! Finding where a message head ends, incrementally, while enforcing line and count limits.
//!
//! Owns: the line-by-line walk that runs before httparse sees a head, so that httparse runs
//! once per head (not once per read) and so that an incomplete head that already breaks a limit
//! is refused at once. Must not: interpret field names or values.
//!
//! Ordering rule that keeps results independent of how the bytes were split: every check that
//! can fire on an unterminated line ([`check_line`], then the total size) also runs, first and
//! in the same order, on a terminated line; checks that need the terminator (bare LF, obs-fold)
//! run after them.

use memchr::memchr;

/// How many empty lines before the start-line are ignored (RFC 9112 §2.2 says "at least one";
/// Apache allows 10). One more is refused as malformed, so a peer cannot keep a connection busy
/// sending nothing but CRLFs.
pub const MAX_LEADING_EMPTY_LINES: usize = 10;

/// Where an earlier call stopped scanning an incomplete head, so the next call on the grown
/// buffer resumes there instead of rescanning from the start.
///
/// Use a fresh value (`HeadProgress::default()`) for each head, and pass a buffer that extends
/// the previous one (same prefix). If the buffer shrank, the progress is discarded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadProgress {
    /// Bytes examined so far. Invariant: `line_start <= scanned`, and `buf[line_start..scanned]`
    /// holds no `\n`.
    scanned: usize,
    /// Start of the line not yet terminated. Invariant: `head_start <= line_start`.
    line_start: usize,
    /// Where the start-line begins, after ignored empty lines.
    head_start: usize,
    /// Empty lines ignored before the start-line. Invariant: `<= MAX_LEADING_EMPTY_LINES`.
    empty_lines: usize,
    /// Terminated lines of the head: 0 until the start-line ends, then 1 + field lines.
    lines: usize,
    /// Offset just past the start-line's terminator; 0 until it is seen.
    first_line_end: usize,
}

impl HeadProgress {
    #[cfg(debug_assertions)]
    fn check_invariants(&self) {
        debug_assert!(self.head_start <= self.line_start);
        debug_assert!(self.line_start <= self.scanned);
        debug_assert!(self.empty_lines <= MAX_LEADING_EMPTY_LINES);
        debug_assert!(self.lines == 0 || self.first_line_end > self.head_start);
    }
}

/// Limits a head is scanned under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScanLimits {
    /// Longest start-line, excluding its terminator.
    pub first_line: usize,
    /// Longest field line, excluding its terminator.
    pub field_line: usize,
    /// Most field lines.
    pub fields: usize,
    /// Most bytes from the start of the buffer to the end of the head, terminators and
    /// ignored empty lines included.
    pub total: usize,
    /// Whether a line may end in a bare LF (RFC 9112 §2.2 lets a recipient accept it).
    pub allow_bare_lf: bool,
}

/// Why a head was refused while scanning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanError {
    FirstLineTooLong,
    FieldTooLarge,
    TooManyFields,
    TooLarge,
    BareLf,
    ObsFold,
    TooManyEmptyLines,
}

/// Where the parts of a complete head lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeadEnd {
    /// Start of the start-line.
    pub head_start: usize,
    /// Offset just past the start-line's terminator.
    pub first_line_end: usize,
    /// Offset just past the empty line ending the head.
    pub head_len: usize,
    /// Number of field lines.
    pub fields: usize,
}

/// Scans `buf` from where `progress` stopped. `Ok(None)`: the head is not complete yet and
/// breaks no limit so far.
pub(crate) fn scan(
    buf: &[u8],
    limits: &ScanLimits,
    progress: &mut HeadProgress,
) -> Result<Option<HeadEnd>, ScanError> {
    if progress.scanned > buf.len() {
        *progress = HeadProgress::default();
    }
    let result = scan_lines(buf, limits, progress);
    #[cfg(debug_assertions)]
    progress.check_invariants();
    result
}

fn scan_lines(
    buf: &[u8],
    limits: &ScanLimits,
    p: &mut HeadProgress,
) -> Result<Option<HeadEnd>, ScanError> {
    loop {
        if p.line_start >= limits.total && buf.len() > p.line_start {
            // A line starting at the limit is too large however it arrives; deciding this
            // first keeps the verdict independent of where the bytes were split (a lone CR
            // would otherwise skip the field checks that a whole line gets).
            return Err(ScanError::TooLarge);
        }
        let Some(lf) = memchr(b'\n', &buf[p.scanned..]).map(|i| p.scanned + i) else {
            p.scanned = buf.len();
            let partial = &buf[p.line_start..];
            // A trailing CR may be the first half of the terminator.
            let content = partial.strip_suffix(b"\r").unwrap_or(partial);
            if !content.is_empty() {
                check_line(limits, p.lines, content.len())?;
            }
            if buf.len() > limits.total {
                return Err(ScanError::TooLarge);
            }
            return Ok(None);
        };
        let line = &buf[p.line_start..lf];
        let (content, bare_lf) = match line.strip_suffix(b"\r") {
            Some(content) => (content, false),
            None => (line, true),
        };
        let next = lf + 1;
        if content.is_empty() {
            if next > limits.total {
                return Err(ScanError::TooLarge);
            }
            if bare_lf && !limits.allow_bare_lf {
                return Err(ScanError::BareLf);
            }
            if p.lines > 0 {
                return Ok(Some(HeadEnd {
                    head_start: p.head_start,
                    first_line_end: p.first_line_end,
                    head_len: next,
                    fields: p.lines - 1,
                }));
            }
            if p.empty_lines == MAX_LEADING_EMPTY_LINES {
                return Err(ScanError::TooManyEmptyLines);
            }
            p.empty_lines += 1;
            p.head_start = next;
        } else {
            check_line(limits, p.lines, content.len())?;
            if next > limits.total {
                return Err(ScanError::TooLarge);
            }
            if bare_lf && !limits.allow_bare_lf {
                return Err(ScanError::BareLf);
            }
            if p.lines > 0 && matches!(content[0], b' ' | b'\t') {
                return Err(ScanError::ObsFold);
            }
            if p.lines == 0 {
                p.first_line_end = next;
            }
            p.lines += 1;
        }
        p.line_start = next;
        p.scanned = next;
    }
}

/// Checks a non-empty line (terminated or not) of `len` bytes, excluding its terminator, that
/// follows `lines` terminated lines of the head.
fn check_line(limits: &ScanLimits, lines: usize, len: usize) -> Result<(), ScanError> {
    if lines == 0 {
        if len > limits.first_line {
            return Err(ScanError::FirstLineTooLong);
        }
    } else {
        // This line would be field number `lines`.
        if lines > limits.fields {
            return Err(ScanError::TooManyFields);
        }
        if len > limits.field_line {
            return Err(ScanError::FieldTooLarge);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ScanLimits = ScanLimits {
        first_line: 16,
        field_line: 8,
        fields: 2,
        total: usize::MAX,
        allow_bare_lf: false,
    };

    /// The first non-`Ok(None)` result of feeding `input` in pieces ending at `cuts`.
    fn feed(input: &[u8], cuts: impl Iterator<Item = usize>) -> Result<Option<HeadEnd>, ScanError> {
        let mut progress = HeadProgress::default();
        for cut in cuts.chain([input.len()]) {
            let result = scan(&input[..cut], &LIMITS, &mut progress);
            if result != Ok(None) {
                return result;
            }
        }
        Ok(None)
    }

    /// Scans `input` whole, split at every offset (both halves), and byte by byte, asserting the
    /// same outcome each time.
    fn scan_everywhere(input: &[u8]) -> Result<Option<HeadEnd>, ScanError> {
        let whole = feed(input, std::iter::empty());
        for split in 0..input.len() {
            assert_eq!(feed(input, [split].into_iter()), whole, "split at {split}");
            // Fresh progress per call: a stateless caller gets the same answer.
            let stateless = scan(&input[..split], &LIMITS, &mut HeadProgress::default());
            if stateless != Ok(None) {
                assert_eq!(stateless, whole, "stateless prefix {split}");
            }
        }
        assert_eq!(feed(input, 1..input.len()), whole, "byte by byte");
        whole
    }

    #[test]
    fn finds_the_end_of_a_head() {
        let input = b"\r\nGET / HTTP/1.1\r\nA: b\r\n\r\nbody";
        let end = scan_everywhere(input).unwrap().unwrap();
        assert_eq!(
            end,
            HeadEnd {
                head_start: 2,
                first_line_end: 18,
                head_len: 26,
                fields: 1
            }
        );
    }

    #[test]
    fn refuses_each_limit_as_soon_as_it_is_broken() {
        assert_eq!(
            scan_everywhere(b"GET /aaaaaaaaaaaa HTTP/1.1\r\n\r\n"),
            Err(ScanError::FirstLineTooLong)
        );
        assert_eq!(
            scan_everywhere(b"GET / HTTP/1.1\r\nA: bcdefgh\r\n\r\n"),
            Err(ScanError::FieldTooLarge)
        );
        assert_eq!(
            scan_everywhere(b"GET / HTTP/1.1\r\nA: b\r\nC: d\r\nE: f\r\n\r\n"),
            Err(ScanError::TooManyFields)
        );
        assert_eq!(
            scan(
                b"GET / HTTP/1.1\r\nA: b\r\nC: d\r\nE",
                &LIMITS,
                &mut HeadProgress::default()
            ),
            Err(ScanError::TooManyFields)
        );
        assert_eq!(
            scan(
                b"GET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r",
                &LIMITS,
                &mut HeadProgress::default()
            ),
            Ok(None)
        );
    }

    #[test]
    fn refuses_bare_lf_and_obs_fold() {
        assert_eq!(
            scan_everywhere(b"GET / HTTP/1.1\nA: b\r\n\r\n"),
            Err(ScanError::BareLf)
        );
        assert_eq!(
            scan_everywhere(b"GET / HTTP/1.1\r\nA: b\r\n\n"),
            Err(ScanError::BareLf)
        );
        assert_eq!(
            scan_everywhere(b"\nGET / HTTP/1.1\r\n\r\n"),
            Err(ScanError::BareLf)
        );
        assert_eq!(
            scan_everywhere(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"),
            Err(ScanError::ObsFold)
        );
    }

    #[test]
    fn accepts_bare_lf_when_allowed() {
        let limits = ScanLimits {
            allow_bare_lf: true,
            ..LIMITS
        };
        let end = scan(
            b"HTTP/1.1 200 OK\nA: b\n\n",
            &limits,
            &mut HeadProgress::default(),
        );
        assert_eq!(
            end,
            Ok(Some(HeadEnd {
                head_start: 0,
                first_line_end: 16,
                head_len: 22,
                fields: 1
            }))
        );
    }

    #[test]
    fn bounds_leading_empty_lines() {
        let mut input = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES);
        input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert!(scan_everywhere(&input).unwrap().is_some());
        let mut input = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES + 1);
        input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(scan_everywhere(&input), Err(ScanError::TooManyEmptyLines));
    }

    #[test]
    fn total_limit_counts_from_the_buffer_start() {
        let limits = ScanLimits {
            total: 20,
            ..LIMITS
        };
        let fits = b"GET / HTTP/1.1\r\n\r\n";
        assert!(scan(fits, &limits, &mut HeadProgress::default())
            .unwrap()
            .is_some());
        let over = b"GET / HTTP/1.1\r\nA: b\r\n\r\n";
        assert_eq!(
            scan(over, &limits, &mut HeadProgress::default()),
            Err(ScanError::TooLarge)
        );
        assert_eq!(
            scan(&over[..21], &limits, &mut HeadProgress::default()),
            Err(ScanError::TooLarge)
        );
    }

    #[test]
    fn progress_is_discarded_when_the_buffer_shrinks() {
        let mut progress = HeadProgress::default();
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nA: b\r\n", &LIMITS, &mut progress),
            Ok(None)
        );
        let end = scan(b"GET / HTTP/1.1\r\n\r\n", &LIMITS, &mut progress)
            .unwrap()
            .unwrap();
        assert_eq!(end.head_len, 18);
    }
}
