//! What a request path means for routing, so that spelling a path differently cannot route it
//! differently: dot-segments are refused, percent-encoded unreserved bytes are decoded.
//!
//! Routing compares raw bytes (query strings and percent-encodings reach the backend byte for
//! byte), but a backend resolves `/x/../admin` and decodes `/%61dmin` to `/admin`. Without this
//! step either spelling would slip past `ProxyPass /admin !`. Browsers never send dot-segments
//! (RFC 3986 §5.2.4 removes them before a request is made), so refusing them costs nothing;
//! decoding `%41` to `A` for unreserved characters changes nothing a server may distinguish
//! (RFC 3986 §6.2.2.2).

use std::borrow::Cow;

/// The path part (before `?`).
fn path_part(target: &[u8]) -> &[u8] {
    match memchr::memchr(b'?', target) {
        Some(q) => &target[..q],
        None => target,
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Whether the path (the part before `?`) has a `.` or `..` segment, written plainly or
/// percent-encoded (`%2e`).
pub fn has_dot_segment(target: &[u8]) -> bool {
    path_part(target).split(|&b| b == b'/').any(|segment| {
        let decoded = decode_unreserved(segment);
        decoded.as_ref() == b"." || decoded.as_ref() == b".."
    })
}

/// Decodes `%XX` escapes of unreserved characters in the path part; the query is left as it
/// is. Borrows when there is nothing to decode.
pub fn decode_unreserved(target: &[u8]) -> Cow<'_, [u8]> {
    let path = path_part(target);
    let decodable = |i: usize| {
        path.get(i) == Some(&b'%')
            && matches!((path.get(i + 1).copied().and_then(hex), path.get(i + 2).copied().and_then(hex)), (Some(h), Some(l)) if is_unreserved(h << 4 | l))
    };
    let Some(first) = memchr::memchr_iter(b'%', path).find(|&i| decodable(i)) else {
        return Cow::Borrowed(target);
    };
    let mut out = Vec::with_capacity(target.len());
    out.extend_from_slice(&path[..first]);
    let mut i = first;
    while i < path.len() {
        if decodable(i) {
            let (h, l) = (hex(path[i + 1]).unwrap_or(0), hex(path[i + 2]).unwrap_or(0));
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(path[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&target[path.len()..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_plain_or_encoded_are_found_in_the_path_only() {
        for bad in [
            &b"/x/../admin"[..],
            b"/./a",
            b"/a/..",
            b"/a/%2e%2E/b",
            b"/a/%2e/b",
            b"/a/.%2e",
        ] {
            assert!(has_dot_segment(bad), "{}", String::from_utf8_lossy(bad));
        }
        for good in [
            &b"/a/b"[..],
            b"/a/.../b",
            b"/a/..b/",
            b"/.well-known/x",
            b"/a?x=/../",
            b"/%2e%2ex",
        ] {
            assert!(!has_dot_segment(good), "{}", String::from_utf8_lossy(good));
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_kept() {
        assert_eq!(
            decode_unreserved(b"/%61dmin/%7E%2F%20x?q=%61"),
            Cow::<[u8]>::Owned(b"/admin/~%2F%20x?q=%61".to_vec())
        );
        assert!(matches!(
            decode_unreserved(b"/plain/%2F?%61"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            decode_unreserved(b"/bad%zz%4"),
            Cow::<[u8]>::Borrowed(b"/bad%zz%4")
        );
    }
}
