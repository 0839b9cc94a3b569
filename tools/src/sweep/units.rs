//! Sizes, rates and times as `bufsweep` reads and writes them.
//!
//! Owns the size syntax shared with spoonfeed's configuration (a whole number of bytes with an
//! optional `k`, `m` or `g`, 1024-based, case-insensitive) and the two ways of printing a
//! number back: as a directive argument ([`directive_size`], which spoonfeed reads back to the
//! same byte count) and for people ([`human_bytes`], [`human_rate`], [`human_us`]). Pure: no
//! I/O.

/// Parses a size: a whole number of bytes with an optional suffix `k`, `m` or `g` (1024-based,
/// case-insensitive), as spoonfeed's configuration reads it. The message says what was wrong.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "invalid size \"{text}\": give a whole number of bytes with an optional suffix k, m or g"
        )
    };
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(invalid());
    }
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return Err(invalid()),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("size \"{text}\" is too large"))
}

/// A byte count as a directive argument: the largest suffix that divides it exactly, so
/// `1048576` is `1m`, `16384` is `16k` and `1500` stays `1500`.
pub fn directive_size(bytes: u64) -> String {
    for (shift, suffix) in [(30, 'g'), (20, 'm'), (10, 'k')] {
        let unit = 1u64 << shift;
        if bytes >= unit && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// A byte count for people: `1 MiB`, `64 KiB`, `1.5 MiB`, `900 B`.
pub fn human_bytes(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        let size = 1u64 << shift;
        if bytes >= size {
            return format!("{} {unit}", trim_decimal(bytes as f64 / size as f64));
        }
    }
    format!("{bytes} B")
}

/// A read rate in bytes per second for people: `128 KiB/s`.
pub fn human_rate(bytes_per_sec: u64) -> String {
    format!("{}/s", human_bytes(bytes_per_sec))
}

/// A time in microseconds for people: `850 µs`, `10 ms`, `1.25 s`.
pub fn human_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{} s", trim_decimal(us as f64 / 1e6))
    } else if us >= 1000 {
        format!("{} ms", trim_decimal(us as f64 / 1e3))
    } else {
        format!("{us} µs")
    }
}

/// At most two decimals, without trailing zeros: `1`, `1.5`, `1.25`.
pub(crate) fn trim_decimal(x: f64) -> String {
    let text = format!("{x:.2}");
    let text = text.trim_end_matches('0');
    text.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_spoonfeed_reads_them() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        for bad in ["", "k", "1.5m", "-1", "1 k", "1kb", "1t", " 1"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(parse_size("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_size("17179869184g")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn directive_sizes_read_back_to_the_same_bytes() {
        for bytes in [
            0,
            1,
            512,
            1500,
            4096,
            16384,
            65536,
            1 << 20,
            3 << 20,
            1 << 30,
            5 << 30,
        ] {
            assert_eq!(parse_size(&directive_size(bytes)), Ok(bytes), "{bytes}");
        }
        assert_eq!(directive_size(1 << 20), "1m");
        assert_eq!(directive_size(1536), "1536");
    }

    #[test]
    fn people_get_binary_units_and_short_times() {
        assert_eq!(human_bytes(1 << 20), "1 MiB");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
        assert_eq!(human_bytes(900), "900 B");
        assert_eq!(human_rate(128 << 10), "128 KiB/s");
        assert_eq!(human_us(850), "850 µs");
        assert_eq!(human_us(10_000), "10 ms");
        assert_eq!(human_us(1_250_000), "1.25 s");
    }
}
