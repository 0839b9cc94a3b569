//! Field-value grammar shared by requests and responses: lists, `Content-Length`,
//! `Transfer-Encoding`, authority syntax, and which field names are hop-by-hop.
//!
//! Owns: reading field values into framing facts. Must not: decide status codes (each caller
//! maps the facts to its own error type) or store borrowed slices.

use super::Header;

/// `value` without leading and trailing optional whitespace (SP / HTAB, RFC 9110 §5.6.3).
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// Whether `name` is a hop-by-hop field, one that never crosses a proxy (RFC 9110 §7.6.1):
/// `Connection`, `Proxy-Connection`, `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`. What a
/// proxy does with them is `proxy::forward`'s (and the cache's) to decide; the list is the RFC's.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP_BY_HOP: [&[u8]; 6] = [
        b"connection",
        b"proxy-connection",
        b"keep-alive",
        b"te",
        b"transfer-encoding",
        b"upgrade",
    ];
    HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop))
}

/// The non-empty elements of a comma-separated list value, trimmed of optional whitespace
/// (RFC 9110 §5.6.1: recipients ignore empty elements). Quoted strings are not special: none of
/// the lists this crate reads may contain them.
pub fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| *b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// The values of every field named `name` (ASCII case-insensitive), in order.
pub(crate) fn values_of<'b>(
    buf: &'b [u8],
    headers: &'b [Header],
    name: &'b [u8],
) -> impl Iterator<Item = &'b [u8]> {
    headers
        .iter()
        .filter(move |h| h.is(buf, name))
        .map(move |h| h.value.of(buf))
}

/// Why a set of `Content-Length` fields does not give one length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadContentLength;

/// The message's `Content-Length`, if any field carries one.
///
/// Each value must be `1*DIGIT`, or a comma-separated list of such; every element of every
/// field must be the same number (RFC 9110 §8.6 allows collapsing identical values). Empty
/// elements, signs, whitespace inside numbers and values past `u64::MAX` are refused.
pub(crate) fn content_length(
    buf: &[u8],
    headers: &[Header],
) -> Result<Option<u64>, BadContentLength> {
    let mut length = None;
    for value in values_of(buf, headers, b"content-length") {
        for element in value.split(|b| *b == b',').map(trim_ows) {
            let n = parse_decimal(element).ok_or(BadContentLength)?;
            if length.is_some_and(|seen| seen != n) {
                return Err(BadContentLength);
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// `1*DIGIT` as a `u64`, refusing empty input, any other byte and overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// What the `Transfer-Encoding` fields of a message say, read as one list in field order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codings {
    /// Exactly `chunked` and nothing else.
    Chunked,
    /// The final coding is `chunked`, but `chunked` also appears earlier: forbidden by
    /// RFC 9112 §7 ("MUST NOT apply chunked more than once").
    ChunkedTwice,
    /// The final coding is `chunked`, after some other coding (e.g. `gzip, chunked`). The only
    /// coding spoonfeed implements is `chunked`, and re-emitting the list is not supported.
    OtherThenChunked,
    /// A field is present but the final coding is not `chunked` (or there is none at all).
    NotChunkedLast,
}

/// Classifies the `Transfer-Encoding` fields of a head; `None` if there is none.
pub(crate) fn codings(buf: &[u8], headers: &[Header]) -> Option<Codings> {
    let mut present = false;
    let mut chunked = 0usize;
    let mut other = 0usize;
    let mut last_is_chunked = false;
    for value in values_of(buf, headers, b"transfer-encoding") {
        present = true;
        for coding in list_items(value) {
            last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if last_is_chunked {
                chunked += 1;
            } else {
                other += 1;
            }
        }
    }
    if !present {
        return None;
    }
    Some(if !last_is_chunked {
        Codings::NotChunkedLast
    } else if chunked > 1 {
        Codings::ChunkedTwice
    } else if other > 0 {
        Codings::OtherThenChunked
    } else {
        Codings::Chunked
    })
}

/// Whether `authority` is `host [ ":" port ]` (RFC 3986 §3.2.2, §3.2.3): an IP literal in
/// brackets or a non-empty reg-name (with well-formed percent-escapes), and a port of digits
/// only. Empty only if `allow_empty`. Userinfo (`@`) is refused (RFC 9110 §4.2.4).
pub(crate) fn is_valid_authority(authority: &[u8], allow_empty: bool) -> bool {
    if authority.is_empty() {
        return allow_empty;
    }
    let (host_ok, rest) = if let Some(inner) = authority.strip_prefix(b"[") {
        match inner.iter().position(|&b| b == b']') {
            Some(close) => {
                let literal = &inner[..close];
                let ok = !literal.is_empty()
                    && literal
                        .iter()
                        .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
                (ok, &inner[close + 1..])
            }
            None => return false,
        }
    } else {
        let end = authority
            .iter()
            .position(|&b| b == b':')
            .unwrap_or(authority.len());
        let host = &authority[..end];
        (!host.is_empty() && is_reg_name(host), &authority[end..])
    };
    let port_ok = match rest.split_first() {
        None => true,
        Some((b':', port)) => port.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    host_ok && port_ok
}

/// RFC 3986 §3.2.2 reg-name: unreserved, sub-delims and percent-escapes of two hex digits.
fn is_reg_name(host: &[u8]) -> bool {
    has_valid_escapes(host)
        && host.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        })
}

/// Whether every `%` in `bytes` starts an escape of two hex digits (RFC 3986 §2.1).
pub(crate) fn has_valid_escapes(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::Span;

    /// Builds `buf` and headers from `(name, value)` pairs, one `name: value\r\n` line each.
    fn fields(pairs: &[(&str, &str)]) -> (Vec<u8>, Vec<Header>) {
        let mut buf = Vec::new();
        let mut headers = Vec::new();
        for (name, value) in pairs {
            let name_start = buf.len();
            buf.extend_from_slice(name.as_bytes());
            let name = Span::new(name_start, buf.len());
            buf.extend_from_slice(b": ");
            let value_start = buf.len();
            buf.extend_from_slice(value.as_bytes());
            headers.push(Header {
                name,
                value: Span::new(value_start, buf.len()),
            });
            buf.extend_from_slice(b"\r\n");
        }
        (buf, headers)
    }

    #[test]
    fn hop_by_hop_names_are_matched_case_insensitively() {
        for name in [
            "Connection",
            "PROXY-CONNECTION",
            "keep-alive",
            "TE",
            "Transfer-Encoding",
            "upgrade",
        ] {
            assert!(is_hop_by_hop(name.as_bytes()), "{name}");
        }
        for name in ["Trailer", "Host", "Content-Length", "Tea", "X-Connection"] {
            assert!(!is_hop_by_hop(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn trim_ows_strips_spaces_and_tabs_only() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"\r x"), b"\r x");
    }

    #[test]
    fn list_items_skip_empty_elements() {
        let items: Vec<&[u8]> = list_items(b" a, ,b ,,\tc ").collect();
        assert_eq!(items, [&b"a"[..], b"b", b"c"]);
        assert_eq!(list_items(b" , ").count(), 0);
    }

    #[test]
    fn content_length_collapses_identical_values() {
        let (buf, h) = fields(&[("Content-Length", "42"), ("content-length", "42, 42")]);
        assert_eq!(content_length(&buf, &h), Ok(Some(42)));
        let (buf, h) = fields(&[("Content-Length", "007")]);
        assert_eq!(content_length(&buf, &h), Ok(Some(7)));
        let (buf, h) = fields(&[("Accept", "*/*")]);
        assert_eq!(content_length(&buf, &h), Ok(None));
    }

    #[test]
    fn content_length_rejects_differing_or_malformed_values() {
        for bad in [
            "1, 2",
            "+1",
            "-1",
            "1 2",
            "",
            "1,",
            "0x10",
            "18446744073709551616",
            "１",
        ] {
            let (buf, h) = fields(&[("Content-Length", bad)]);
            assert_eq!(content_length(&buf, &h), Err(BadContentLength), "{bad:?}");
        }
        let (buf, h) = fields(&[("Content-Length", "5"), ("Content-Length", "6")]);
        assert_eq!(content_length(&buf, &h), Err(BadContentLength));
        let (buf, h) = fields(&[("Content-Length", "18446744073709551615")]);
        assert_eq!(content_length(&buf, &h), Ok(Some(u64::MAX)));
    }

    #[test]
    fn codings_classify_the_final_coding() {
        let cases = [
            (&["chunked"][..], Codings::Chunked),
            (&["Chunked"][..], Codings::Chunked),
            (&["", "chunked"][..], Codings::Chunked),
            (&["gzip, chunked"][..], Codings::OtherThenChunked),
            (&["gzip", "chunked"][..], Codings::OtherThenChunked),
            (&["chunked, chunked"][..], Codings::ChunkedTwice),
            (&["chunked", "gzip"][..], Codings::NotChunkedLast),
            (&["identity"][..], Codings::NotChunkedLast),
            (&[""][..], Codings::NotChunkedLast),
            (&["chunked;q=1"][..], Codings::NotChunkedLast),
        ];
        for (values, expected) in cases {
            let pairs: Vec<(&str, &str)> =
                values.iter().map(|v| ("Transfer-Encoding", *v)).collect();
            let (buf, h) = fields(&pairs);
            assert_eq!(codings(&buf, &h), Some(expected), "{values:?}");
        }
        assert_eq!(codings(b"", &[]), None);
    }

    #[test]
    fn authority_syntax_refuses_userinfo_and_separators() {
        assert!(is_valid_authority(b"example.com:8080", false));
        assert!(is_valid_authority(b"[::1]:80", false));
        assert!(
            is_valid_authority(b"example.com:", false),
            "an empty port is allowed"
        );
        assert!(is_valid_authority(b"ex%41mple.com", false));
        assert!(is_valid_authority(b"", true));
        assert!(!is_valid_authority(b"", false));
        for bad in [
            &b"user@host"[..],
            b"a b",
            b"host/x",
            b"host?q",
            b"h\"",
            b"h\x80",
            b"host:abc",
            b"host:80:81",
            b"[::1",
            b"[::1]x",
            b"[]",
            b":80",
            b"ho%zzst",
            b"ho%4",
        ] {
            assert!(!is_valid_authority(bad, true), "{bad:?}");
        }
    }
}
