//! What the fuzzer checks of `cache::policy`: `Cache-Control` and `Pragma` parsing
//! (`CacheControl::of`) and the decisions that consume them (`storable`,
//! `freshness_lifetime`, `Stored`, `decide`, `stale_if_error`, `vary_key`, `not_modified`,
//! `merge_not_modified`), fed with arbitrary field values, times and settings.
//!
//! Shared by the `cache_control` fuzz target and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus with it; so it uses only spoonfeed's public API and std.
//!
//! The input is a line of numbers, then up to three blocks of `Name: value` lines separated by
//! empty lines: the response's fields, the request's, and a `304`'s (for the merge):
//!
//! ```text
//! STATUS REQUEST_TIME RESPONSE_TIME NOW [DEFAULT_EXPIRE MAX_EXPIRE LM_FACTOR_PER_MILLE]
//! Cache-Control: max-age=60
//!
//! Cache-Control: max-stale
//! ```
//!
//! A number that is missing or not one takes the value in `DEFAULTS` (Apache's settings, and
//! 2026 for the times); a line without `:` is skipped; values are the bytes after the `:`,
//! without surrounding whitespace, as the HTTP parser hands them over.
//!
//! Properties:
//! - no panic, however large the numbers and whatever the directives;
//! - every delta-seconds kept is at most `MAX_DELTA`, and the parse does not depend on the
//!   case of field names, directive names or their arguments;
//! - a freshness lifetime is at most `CacheMaxExpire` (so no directive value, `Expires`,
//!   `Date` or `Last-Modified` overflows it), and is `s-maxage`, else `max-age`, capped so;
//! - a storable response is one to GET with a final, whole status, no `no-store` on either
//!   side, no unqualified `private`, no `Vary: *`, and shareable when the request carried
//!   `Authorization`; its `Vary` gives a secondary key;
//! - `Stored` keeps the lifetime and directives `freshness_lifetime` and `CacheControl::of`
//!   give; its current age is at least its `Age` and never decreases as time goes on;
//! - a fresh answer has the current age and is younger than the lifetime, and is never given
//!   when the request has `no-cache` (or, without `Cache-Control`, `Pragma: no-cache`) or the
//!   response an unqualified `no-cache`; fresh now means fresh a second earlier; a stale
//!   answer is never given for a response that must be revalidated; a `504` only for
//!   `only-if-cached`; `stale_if_error` likewise never serves what must be revalidated;
//! - a conditional `POST` is never answered `304`; a `304` merged into the stored fields
//!   leaves their `Content-Length` lines as they were.

use spoonfeed::cache::policy::{
    decide, freshness_lifetime, merge_not_modified, not_modified, stale_if_error, storable,
    vary_key, CacheControl, Fields, NotStored, Settings, Stored, Use, MAX_DELTA,
};
use spoonfeed::http1::Method;

/// STATUS, REQUEST_TIME, RESPONSE_TIME, NOW, DEFAULT_EXPIRE, MAX_EXPIRE, LM_FACTOR_PER_MILLE
/// when the input does not give them.
const DEFAULTS: [u64; 7] = [
    200,
    1_795_643_016,
    1_795_643_017,
    1_795_643_077,
    3600,
    86_400,
    100,
];

/// Checks the properties above on one input; panics when one does not hold.
pub fn check(input: &[u8]) {
    let mut blocks = input.split(|b| *b == b'\n');
    let numbers = blocks.next().unwrap_or_default();
    let mut n = DEFAULTS;
    for (slot, word) in n.iter_mut().zip(numbers.split(|b| *b == b' ')) {
        if let Some(v) = std::str::from_utf8(word).ok().and_then(|w| w.parse().ok()) {
            *slot = v;
        }
    }
    let [status, request_time, response_time, now, default_expire, max_expire, lm_factor] = n;
    // Statuses are three digits on the wire; anything larger is kept whole in a u16 here.
    let status = u16::try_from(status).unwrap_or(u16::MAX);
    let settings = Settings {
        default_expire,
        max_expire,
        lm_factor_per_mille: lm_factor,
        store_set_cookie: false,
    };
    let mut sections: [Vec<(&[u8], &[u8])>; 3] = Default::default();
    let mut at = 0;
    for line in blocks {
        if line.is_empty() {
            at += 1;
            continue;
        }
        if let (Some(fields), Some(colon)) =
            (sections.get_mut(at), line.iter().position(|b| *b == b':'))
        {
            fields.push((&line[..colon], line[colon + 1..].trim_ascii()));
        }
    }
    let [resp, req, not_modified_fields] = &sections;
    directives(resp);
    directives(req);
    storing(status, req, resp, &settings);
    let lifetime = lifetime(status, resp, response_time, &settings);
    let stored = Stored::new(status, resp, request_time, response_time, &settings);
    assert_eq!(stored.lifetime, lifetime);
    assert_eq!(stored.cache_control, CacheControl::of(resp));
    assert!(stored.age <= MAX_DELTA, "Age kept as {}", stored.age);
    let age = stored.current_age(now);
    assert!(
        age >= stored.age,
        "current age {age} below Age {}",
        stored.age
    );
    assert!(
        stored.current_age(now.saturating_add(1)) >= age,
        "the age went down as time went on"
    );
    using(req, &stored, now);
    assert!(!not_modified(Method::Post, req, resp));
    let _ = not_modified(Method::Get, req, resp);
    let merged = merge_not_modified(resp, not_modified_fields);
    let lengths = |fields: &mut dyn Iterator<Item = (&[u8], &[u8])>| {
        fields
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
            .map(|(_, v)| v.to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lengths(&mut merged.iter().map(|(n, v)| (&n[..], &v[..]))),
        lengths(&mut resp.iter().copied()),
        "a 304 changed the stored Content-Length"
    );
}

/// The directives of `fields`: deltas capped, and the same whatever the case.
fn directives(fields: &Fields<'_>) -> CacheControl {
    let cc = CacheControl::of(fields);
    let deltas = [
        cc.max_age,
        cc.s_maxage,
        cc.min_fresh,
        cc.stale_while_revalidate,
        cc.stale_if_error,
        cc.max_stale.flatten(),
    ];
    assert!(
        deltas.iter().flatten().all(|&d| d <= MAX_DELTA),
        "a delta past MAX_DELTA: {cc:?}"
    );
    let upper: Vec<(Vec<u8>, Vec<u8>)> = fields
        .iter()
        .map(|(n, v)| (n.to_ascii_uppercase(), v.to_ascii_uppercase()))
        .collect();
    let upper: Vec<(&[u8], &[u8])> = upper.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    assert_eq!(
        CacheControl::of(&upper),
        cc,
        "the case changed the directives"
    );
    cc
}

/// `storable`'s verdict against the rules it states.
fn storing(status: u16, req: &Fields<'_>, resp: &Fields<'_>, settings: &Settings) {
    assert_eq!(
        storable(Method::Head, req, status, resp, settings),
        Err(NotStored::Method)
    );
    if storable(Method::Get, req, status, resp, settings).is_err() {
        return;
    }
    let (req_cc, cc) = (CacheControl::of(req), CacheControl::of(resp));
    assert!(
        (200..600).contains(&status) && status != 206 && status != 304,
        "status {status} stored"
    );
    assert!(!req_cc.no_store && !cc.no_store, "no-store stored");
    assert_ne!(cc.private, Some(Vec::new()), "private stored");
    let has =
        |fields: &Fields<'_>, name: &[u8]| fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    assert!(
        !has(req, b"authorization") || cc.public || cc.must_revalidate || cc.s_maxage.is_some(),
        "an answer to Authorization stored without being shareable"
    );
    assert!(!has(resp, b"set-cookie"), "Set-Cookie stored");
    assert!(vary_key(resp, req).is_some(), "Vary: * stored");
}

/// `freshness_lifetime`, capped, and the explicit directives' value when there is one.
fn lifetime(status: u16, resp: &Fields<'_>, response_time: u64, settings: &Settings) -> u64 {
    let lifetime = freshness_lifetime(status, resp, response_time, settings);
    assert!(
        lifetime <= settings.max_expire,
        "lifetime {lifetime} past CacheMaxExpire"
    );
    let cc = CacheControl::of(resp);
    if let Some(explicit) = cc.s_maxage.or(cc.max_age) {
        assert_eq!(lifetime, explicit.min(settings.max_expire));
    }
    lifetime
}

/// `decide` and `stale_if_error` against the rules they state.
fn using(req: &Fields<'_>, stored: &Stored, now: u64) {
    let req_cc = CacheControl::of(req);
    let age = stored.current_age(now);
    let stored_cc = &stored.cache_control;
    let must_revalidate =
        stored_cc.must_revalidate || stored_cc.proxy_revalidate || stored_cc.s_maxage.is_some();
    // Only where no quoted string can make the policy's list split otherwise.
    let pragma = !req
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(b"cache-control"))
        && req.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case(b"pragma")
                && !v.contains(&b'"')
                && v.split(|b| *b == b',')
                    .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"no-cache"))
        });
    let unqualified_no_cache = stored_cc.no_cache.as_ref().is_some_and(Vec::is_empty);
    match decide(req, stored, now) {
        Use::Fresh { age: a } => {
            assert_eq!(a, age);
            assert!(
                age < stored.lifetime,
                "fresh at {age} of {}",
                stored.lifetime
            );
            assert!(
                req_cc.no_cache.is_none() && !pragma,
                "fresh despite the request's no-cache"
            );
            assert!(
                !unqualified_no_cache,
                "fresh despite the response's no-cache"
            );
            if let Some(earlier) = now.checked_sub(1) {
                assert!(
                    matches!(decide(req, stored, earlier), Use::Fresh { .. }),
                    "fresh at {now} but not at {earlier}"
                );
            }
        }
        Use::Stale { age: a } | Use::StaleWhileRevalidate { age: a } => {
            assert_eq!(a, age);
            assert!(
                !must_revalidate,
                "stale served though it must be revalidated"
            );
            assert!(!unqualified_no_cache && req_cc.no_cache.is_none());
        }
        Use::GatewayTimeout => assert!(req_cc.only_if_cached),
        Use::Validate => assert!(!req_cc.only_if_cached),
    }
    if stale_if_error(req, stored, now) {
        assert!(
            !must_revalidate,
            "stale-if-error though it must be revalidated"
        );
        assert!(!unqualified_no_cache && req_cc.no_cache.is_none());
    }
}
