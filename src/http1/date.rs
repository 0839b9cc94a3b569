//! HTTP-dates (RFC 9110 §5.6.7): parsing the preferred IMF-fixdate and the two obsolete forms
//! a recipient must still accept (RFC 850 and asctime) into seconds since the Unix epoch, and
//! formatting such a time as an IMF-fixdate (the `Date` of spoonfeed's own answers).
//!
//! Sans-I/O and clock-free. An invalid date is `None`; RFC 9111 then says what it means in
//! each place (an invalid `Expires` is "already expired", for instance), which is the
//! caller's business. Every date the formatter writes parses back to the instant it was given
//! (the fuzz target `http_date` checks it), up to [`LAST_DATE`].

use std::io::Write;

/// 9999-12-31T23:59:59Z, the last instant an IMF-fixdate can express (its year has four
/// digits). Later instants are formatted as this one.
pub const LAST_DATE: u64 = 253_402_300_799;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since 1970-01-01T00:00:00Z of an HTTP-date, or `None` when `text` is not one.
/// Leading and trailing ASCII whitespace is ignored (an HTTP-date is ASCII, and so is the
/// whitespace around a field value: a Unicode space such as U+00A0 is not some); days of the week are checked for shape only
/// (a sender's wrong weekday does not make its date unusable). RFC 850's two-digit years are
/// taken as the nearest year not more than 50 years ahead (RFC 9110 §5.6.7), relative to 2000
/// here so that parsing does not depend on the clock.
pub fn parse_http_date(text: &[u8]) -> Option<u64> {
    let text = text.trim_ascii();
    if !text.is_ascii() {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    let (weekday, rest) = text.split_once([',', ' '])?;
    if !weekday.bytes().all(|b| b.is_ascii_alphabetic()) || weekday.len() < 3 {
        return None;
    }
    let rest = rest.trim_ascii_start();
    let mut parts = rest.split(' ').filter(|p| !p.is_empty());
    let (day, month, year, time) = if text.as_bytes().get(weekday.len()) == Some(&b',') {
        let first = parts.next()?;
        if first.contains('-') {
            // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`.
            let mut dmy = first.split('-');
            let day = dmy.next()?;
            let month = dmy.next()?;
            let year = two_digit_year(dmy.next()?)?;
            if dmy.next().is_some() {
                return None;
            }
            (number(day, 2)?, month, year, parts.next()?)
        } else {
            // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
            let month = parts.next()?;
            let year = number(parts.next()?, 4)?;
            (number(first, 2)?, month, year, parts.next()?)
        }
    } else {
        // asctime: `Sun Nov  6 08:49:37 1994` (no zone).
        let month = parts.next()?;
        // Space-padded: one digit, or two.
        let day = parts.next()?;
        let day = number(day, 1).or_else(|| number(day, 2))?;
        let time = parts.next()?;
        let year = number(parts.next()?, 4)?;
        if parts.next().is_some() {
            return None;
        }
        return at(year, month, day, time);
    };
    if parts.next() != Some("GMT") || parts.next().is_some() {
        return None;
    }
    at(year, month, day, time)
}

/// Appends the IMF-fixdate of `secs` seconds since the Unix epoch
/// (`Wed, 25 Nov 2026 21:43:36 GMT`), or of [`LAST_DATE`] when `secs` is later.
pub fn format_http_date(secs: u64, out: &mut Vec<u8>) {
    // 1970-01-01 was a Thursday.
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let secs = secs.min(LAST_DATE);
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

fn at(year: u64, month: &str, day: u64, time: &str) -> Option<u64> {
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let mut hms = time.split(':');
    let hour = number(hms.next()?, 2)?;
    let minute = number(hms.next()?, 2)?;
    let second = number(hms.next()?, 2)?;
    if hms.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if year < 1970 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // A leap second on the last day an IMF-fixdate can express is past it: refused, so that
    // every date that parses formats back to itself.
    Some(days * 86_400 + hour * 3600 + minute * 60 + second).filter(|&t| t <= LAST_DATE)
}

/// Exactly `digits` ASCII digits.
fn number(text: &str, digits: usize) -> Option<u64> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn two_digit_year(text: &str) -> Option<u64> {
    let yy = number(text, 2)?;
    // Nearest year not more than 50 years after 2000.
    Some(if yy <= 50 { 2000 + yy } else { 1900 + yy })
}

fn is_leap(year: u64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date on or after it (Howard Hinnant's days_from_civil).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (Howard Hinnant's
/// civil_from_days, the inverse of [`days_from_civil`]), for non-negative day counts.
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1994-11-06T08:49:37Z, RFC 9110's example.
    const EXAMPLE: u64 = 784_111_777;

    #[test]
    fn reads_the_three_forms_of_rfc_9110() {
        assert_eq!(
            parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(EXAMPLE)
        );
        assert_eq!(
            parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(EXAMPLE)
        );
        assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), Some(EXAMPLE));
        assert_eq!(
            parse_http_date(b"  Sun, 06 Nov 1994 08:49:37 GMT "),
            Some(EXAMPLE)
        );
    }

    #[test]
    fn agrees_with_the_formatter_across_the_calendar() {
        // Leap days, year ends, and the date spoonfeed's own formatter was checked against.
        for (text, secs) in [
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Thu, 29 Feb 2024 12:00:00 GMT", 1_709_208_000),
            ("Fri, 31 Dec 1999 23:59:59 GMT", 946_684_799),
            ("Wed, 25 Nov 2026 21:43:36 GMT", 1_795_643_016),
            ("Wed, 01 Mar 2100 00:00:00 GMT", 4_107_542_400),
        ] {
            assert_eq!(parse_http_date(text.as_bytes()), Some(secs), "{text}");
        }
        assert_eq!(
            parse_http_date(b"Tuesday, 01-Jan-36 00:00:00 GMT"),
            Some(2_082_758_400)
        );
        assert_eq!(
            parse_http_date(b"Thursday, 01-Jan-70 00:00:00 GMT"),
            Some(0)
        );
    }

    #[test]
    fn formats_imf_fixdate_and_reads_it_back() {
        for (secs, text) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (EXAMPLE, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (1_795_643_016, "Wed, 25 Nov 2026 21:43:36 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (LAST_DATE, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            let mut out = Vec::new();
            format_http_date(secs, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), text);
            assert_eq!(parse_http_date(&out), Some(secs), "{text}");
        }
    }

    #[test]
    fn formats_instants_past_year_9999_as_the_last_date() {
        for secs in [LAST_DATE + 1, u64::MAX] {
            let mut out = Vec::new();
            format_http_date(secs, &mut out);
            assert_eq!(out, b"Fri, 31 Dec 9999 23:59:59 GMT");
        }
    }

    #[test]
    fn refuses_a_leap_second_past_the_last_date() {
        // Found by the http_date fuzz target: it parsed to LAST_DATE + 1, which the
        // formatter cannot write.
        assert_eq!(parse_http_date(b"Fri, 31 Dec 9999 23:59:60 GMT"), None);
        assert_eq!(
            parse_http_date(b"Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(LAST_DATE)
        );
        assert_eq!(
            parse_http_date(b"Sat, 31 Dec 2016 23:59:60 GMT"),
            Some(1_483_228_800)
        );
    }

    #[test]
    fn refuses_dates_with_unicode_spaces() {
        // Found by the http_date fuzz target: str::trim took U+00A0 (bytes C2 A0) for
        // whitespace around a field value, where only SP and HTAB are.
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 GMT\u{a0}",
            "\u{2003}Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun,\u{a0}06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(
            parse_http_date(b"\tSun,\t06 Nov 1994 08:49:37 GMT \t"),
            Some(EXAMPLE)
        );
    }

    #[test]
    fn refuses_what_is_not_an_http_date() {
        for bad in [
            "",
            "0",
            "-1",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "1994-11-06T08:49:37Z",
            "Sun Nov 6 08:49:37 1994 GMT",
        ] {
            assert_eq!(parse_http_date(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
