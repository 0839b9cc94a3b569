//! What the fuzzer checks of `http1::date`: `parse_http_date` (the `Date`, `Expires`,
//! `Last-Modified` and `If-Modified-Since` of the cache) and `format_http_date` (the `Date` of
//! spoonfeed's own answers).
//!
//! Shared by the `http_date` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! The input is a field value, parsed as it is; its first 8 bytes (zero-padded, little-endian)
//! are also an instant to format.
//!
//! Properties:
//! - no panic;
//! - a date that parses is ASCII (the only whitespace trimmed is SP and HTAB's kin, never a
//!   Unicode space a backend's bytes happen to spell) and no later than `LAST_DATE`;
//! - whatever parses formats to an IMF-fixdate that parses to the same instant, and that
//!   instant written in the two obsolete forms parses to it too (asctime always; RFC 850 for
//!   the years its two digits reach, 1970 to 2050);
//! - an input that is itself an IMF-fixdate formats back to itself but for the day of the
//!   week (which the parser checks for shape only) and a leap second (`:60`, which is the next
//!   minute's `:00`);
//! - any instant formats to 29 bytes that parse back to it, or, past `LAST_DATE`, to
//!   `LAST_DATE`.

use spoonfeed::http1::date::{format_http_date, parse_http_date, LAST_DATE};

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    if let Some(secs) = parse_http_date(input) {
        assert!(input.is_ascii(), "a non-ASCII date parsed: {input:?}");
        assert!(secs <= LAST_DATE, "{input:?} parsed past LAST_DATE: {secs}");
        let formatted = round_trip(secs);
        obsolete_forms(&formatted, secs);
        let text = input.trim_ascii();
        if is_fixdate_shape(text) && &text[23..25] != b"60" {
            assert_eq!(
                &formatted[3..],
                &text[3..],
                "{input:?} parsed to {secs}, which formats otherwise"
            );
        }
    }
    let mut bytes = [0u8; 8];
    let n = input.len().min(8);
    bytes[..n].copy_from_slice(&input[..n]);
    let instant = u64::from_le_bytes(bytes);
    round_trip(instant);
    round_trip(instant % (LAST_DATE + 1));
}

/// Formats `secs`, checks that it parses back (to `LAST_DATE` when later), and returns it.
fn round_trip(secs: u64) -> Vec<u8> {
    let mut out = Vec::new();
    format_http_date(secs, &mut out);
    assert_eq!(out.len(), 29, "{secs} formats to {out:?}");
    assert!(is_fixdate_shape(&out), "{secs} formats to {out:?}");
    assert_eq!(
        parse_http_date(&out),
        Some(secs.min(LAST_DATE)),
        "{secs} formats to {:?}, which does not parse back",
        String::from_utf8_lossy(&out)
    );
    out
}

/// `Www, DD Mon YYYY HH:MM:SS GMT` with letters and digits where they belong.
fn is_fixdate_shape(text: &[u8]) -> bool {
    const SHAPE: &[u8; 29] = b"Aaa, 00 Aaa 0000 00:00:00 GMT";
    text.len() == SHAPE.len()
        && text.iter().zip(SHAPE).all(|(&t, &s)| match s {
            b'A' => t.is_ascii_uppercase(),
            b'a' => t.is_ascii_lowercase(),
            b'0' => t.is_ascii_digit(),
            _ => t == s,
        })
}

/// The instant of the IMF-fixdate `fixdate` in RFC 850 form (`Sunday, 06-Nov-94 08:49:37
/// GMT`, a full day name) and asctime form (`Sun Nov  6 08:49:37 1994`) parses to `secs`.
fn obsolete_forms(fixdate: &[u8], secs: u64) {
    let text = std::str::from_utf8(fixdate).expect("the formatter writes ASCII");
    let (weekday, day, month, year, time) = (
        &text[..3],
        &text[5..7],
        &text[8..11],
        &text[12..16],
        &text[17..25],
    );
    let full_day = match weekday {
        "Mon" => "Monday",
        "Tue" => "Tuesday",
        "Wed" => "Wednesday",
        "Thu" => "Thursday",
        "Fri" => "Friday",
        "Sat" => "Saturday",
        _ => "Sunday",
    };
    let asctime = format!(
        "{weekday} {month} {:>2} {time} {year}",
        day.trim_start_matches('0')
    );
    assert_eq!(
        parse_http_date(asctime.as_bytes()),
        Some(secs),
        "{asctime:?} is {text:?} in asctime form"
    );
    let rfc850 = format!("{full_day}, {day}-{month}-{} {time} GMT", &year[2..]);
    let reached = (1970..=2050).contains(&year.parse::<u32>().expect("four digits"));
    // Outside those years it names another year (or one before 1970, refused).
    assert_eq!(
        parse_http_date(rfc850.as_bytes()) == Some(secs),
        reached,
        "{rfc850:?} is {text:?} in RFC 850 form"
    );
}
