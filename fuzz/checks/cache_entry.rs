//! What the fuzzer checks of `cache::store`'s file format, as read from disk: `Header::decode`
//! (magic, version, lengths) and `decode_meta` (the key, status, times, `Vary` pairs and
//! fields), which `Store::get` applies to the bytes it reads, and then what the reactor does
//! with the metadata (`policy::Stored::new`, `vary_key`, `decide`, `not_modified`).
//!
//! Shared by the `cache_entry` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! The input is used twice:
//! - as a whole entry file (header, metadata, body), and as metadata alone;
//! - as the makings of an entry: its pieces between NUL bytes are the key, then name and value
//!   pairs (the first one also a `Vary` pair), the last piece also the body; status and times
//!   come from the input's length, so that they vary too.
//!
//! Properties:
//! - no panic, and (run with `-malloc_limit_mb`) no allocation larger than the input calls for,
//!   whatever its lengths and counts say;
//! - a header is accepted only with our magic and version, metadata within `MAX_META`, and
//!   lengths that add up to the file's size; it encodes back to the same bytes;
//! - metadata decodes only from exactly one encoding: what decodes encodes back to the same
//!   bytes (so a file is read one way only);
//! - an encoded entry decodes to itself, and no cut of it does (neither the file, at the size
//!   it would then have, nor its metadata);
//! - decoded metadata, however odd its fields and times, goes through the policy as the
//!   reactor puts it (`Stored::new`, `vary_key`, `decide`, `not_modified`) without a panic.

use spoonfeed::cache::policy::{self, Settings, Stored};
use spoonfeed::cache::store::{decode_meta, encode_meta, Header, Meta, HEADER, MAX_META};
use spoonfeed::http1::Method;

/// Cuts of an encoded entry tried per input; every one would make a run quadratic.
const CUTS: usize = 64;

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    as_file(input);
    if let Some(meta) = decode_meta(input) {
        assert_eq!(
            encode_meta(&meta),
            input,
            "metadata decoded from another encoding"
        );
        through_policy(&meta);
    }
    round_trip(
        &made_of(input),
        input.rsplit(|b| *b == 0).next().unwrap_or_default(),
    );
}

/// `bytes` as an entry file of its own length.
fn as_file(bytes: &[u8]) {
    let Ok(header) = Header::decode(bytes, bytes.len() as u64) else {
        return;
    };
    assert_eq!(
        header.encode(),
        bytes[..HEADER],
        "the header encodes otherwise"
    );
    assert!(header.meta_len <= MAX_META);
    let meta_end = HEADER + header.meta_len as usize;
    assert_eq!(
        (meta_end as u64).checked_add(header.body_len),
        Some(bytes.len() as u64),
        "lengths accepted that do not add up"
    );
    if let Some(meta) = decode_meta(&bytes[HEADER..meta_end]) {
        assert_eq!(encode_meta(&meta), bytes[HEADER..meta_end]);
        through_policy(&meta);
    }
}

/// An entry's metadata made of `input` (see the module documentation).
fn made_of(input: &[u8]) -> Meta {
    let mut pieces = input.split(|b| *b == 0);
    let key = pieces.next().unwrap_or_default().to_vec();
    let mut fields = Vec::new();
    while let (Some(name), Some(value)) = (pieces.next(), pieces.next()) {
        fields.push((name.to_vec(), value.to_vec()));
    }
    let len = input.len() as u64;
    Meta {
        key,
        vary: fields.first().cloned().into_iter().collect(),
        status: len as u16,
        request_time: len.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        response_time: u64::MAX - len,
        fields,
    }
}

/// `meta` and `body` written as the store writes them, read back; and cut short, refused.
fn round_trip(meta: &Meta, body: &[u8]) {
    let encoded = encode_meta(meta);
    assert_eq!(
        decode_meta(&encoded).as_ref(),
        Some(meta),
        "metadata did not round-trip"
    );
    let header = Header {
        meta_len: u32::try_from(encoded.len()).expect("the input is not 4 GiB"),
        body_len: body.len() as u64,
        checksum: body.len() as u64 ^ 0x5bd1_e995,
    };
    let file = [&header.encode()[..], &encoded, body].concat();
    if encoded.len() as u64 > u64::from(MAX_META) {
        assert!(Header::decode(&file, file.len() as u64).is_err());
        return;
    }
    assert_eq!(Header::decode(&file, file.len() as u64), Ok(header));
    let step = (file.len() / CUTS).max(1);
    for cut in (0..file.len()).step_by(step) {
        assert!(
            Header::decode(&file[..cut], cut as u64).is_err(),
            "a file cut to {cut} of {} bytes was accepted",
            file.len()
        );
    }
    let step = (encoded.len() / CUTS).max(1);
    for cut in (0..encoded.len()).step_by(step) {
        assert_eq!(
            decode_meta(&encoded[..cut]),
            None,
            "metadata cut at {cut} decoded"
        );
    }
}

/// What the reactor does with an entry's metadata when it opens one.
fn through_policy(meta: &Meta) {
    let fields: Vec<(&[u8], &[u8])> = meta.fields.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let settings = Settings::default();
    let stored = Stored::new(
        meta.status,
        &fields,
        meta.request_time,
        meta.response_time,
        &settings,
    );
    let _ = policy::vary_key(&fields, &[]);
    for now in [0, meta.response_time, u64::MAX] {
        let _ = policy::decide(&[], &stored, now);
        let _ = policy::stale_if_error(&[], &stored, now);
    }
    let _ = policy::not_modified(Method::Get, &fields, &fields);
    let _ = stored.validators();
}
