//! The policy against RFC 9111, section by section (and RFC 5861, RFC 9110 §13 where the
//! policy uses them), each case a message and the verdict the text gives.

use super::*;

/// Fields from `"Name: value"` lines.
fn f(lines: &[&'static str]) -> Vec<(&'static [u8], &'static [u8])> {
    lines
        .iter()
        .map(|l| {
            let (n, v) = l.split_once(':').expect("name: value");
            (n.as_bytes(), v.trim_start().as_bytes())
        })
        .collect()
}

const S: Settings = Settings {
    default_expire: 3600,
    max_expire: 86_400,
    lm_factor_per_mille: 100,
    store_set_cookie: false,
};

/// 2026-11-25T21:43:36Z and its HTTP-date.
const T0: u64 = 1_795_643_016;
const T0_TEXT: &str = "Date: Wed, 25 Nov 2026 21:43:36 GMT";

fn store(status: u16, resp: &[&'static str]) -> Result<(), NotStored> {
    storable(Method::Get, &[], status, &f(resp), &S)
}

// ---- §5.2 Cache-Control --------------------------------------------------------------------

#[test]
fn cache_control_parses_directives_across_lines_case_insensitively() {
    let cc = CacheControl::of(&f(&[
        "Cache-Control: Public, MAX-AGE=60, s-maxage=\"30\"",
        "cache-control: no-cache=\"Set-Cookie, X-A\", private",
        "Cache-Control: stale-while-revalidate=5,stale-if-error=10 , must-revalidate",
    ]));
    assert!(cc.public && cc.must_revalidate);
    assert_eq!((cc.max_age, cc.s_maxage), (Some(60), Some(30)));
    assert_eq!(
        cc.no_cache,
        Some(vec!["set-cookie".to_owned(), "x-a".to_owned()])
    );
    assert_eq!(cc.private, Some(Vec::new()));
    assert_eq!(
        (cc.stale_while_revalidate, cc.stale_if_error),
        (Some(5), Some(10))
    );
}

#[test]
fn invalid_or_huge_deltas_and_repeats_follow_the_rfc() {
    // Invalid → 0 (stale); larger than 2^31 → 2^31; first of a repeated directive wins.
    let cc = CacheControl::of(&f(&["Cache-Control: max-age=abc, max-age=60"]));
    assert_eq!(cc.max_age, Some(0));
    let cc = CacheControl::of(&f(&["Cache-Control: max-age=99999999999999999999999"]));
    assert_eq!(cc.max_age, Some(1 << 31));
    let cc = CacheControl::of(&f(&["Cache-Control: max-age=60, max-age=0"]));
    assert_eq!(cc.max_age, Some(60));
    let cc = CacheControl::of(&f(&["Cache-Control: max-stale"]));
    assert_eq!(cc.max_stale, Some(None));
    let cc = CacheControl::of(&f(&["Cache-Control: max-stale=30, unknown-ext=\"a,b\""]));
    assert_eq!(cc.max_stale, Some(Some(30)));
}

// ---- §3 Storing responses ------------------------------------------------------------------

#[test]
fn only_get_responses_with_final_non_partial_statuses_are_stored() {
    let resp = f(&["Cache-Control: max-age=60"]);
    for method in [Method::Post, Method::Head, Method::Put, Method::Other] {
        assert_eq!(
            storable(method, &[], 200, &resp, &S),
            Err(NotStored::Method),
            "{method:?}"
        );
    }
    assert_eq!(
        store(206, &["Cache-Control: max-age=60"]),
        Err(NotStored::Status)
    );
    assert_eq!(
        store(100, &["Cache-Control: max-age=60"]),
        Err(NotStored::Status)
    );
    assert_eq!(store(200, &["Cache-Control: max-age=60"]), Ok(()));
}

#[test]
fn no_store_in_either_message_and_private_prevent_storing() {
    assert_eq!(
        store(200, &["Cache-Control: no-store, max-age=60"]),
        Err(NotStored::NoStore)
    );
    let req = f(&["Cache-Control: no-store"]);
    assert_eq!(
        storable(
            Method::Get,
            &req,
            200,
            &f(&["Cache-Control: max-age=60"]),
            &S
        ),
        Err(NotStored::NoStore)
    );
    assert_eq!(
        store(200, &["Cache-Control: private, max-age=60"]),
        Err(NotStored::Private)
    );
    // Qualified private names fields a shared cache must not keep: the response is stored.
    assert_eq!(
        store(200, &["Cache-Control: private=\"X-User\", max-age=60"]),
        Ok(())
    );
}

#[test]
fn authorization_needs_the_response_to_say_it_may_be_shared() {
    let req = f(&["Authorization: Basic dTpw"]);
    let verdict = |resp: &[&'static str]| storable(Method::Get, &req, 200, &f(resp), &S);
    assert_eq!(
        verdict(&["Cache-Control: max-age=60"]),
        Err(NotStored::Authorization)
    );
    assert_eq!(verdict(&["Cache-Control: public"]), Ok(()));
    assert_eq!(
        verdict(&["Cache-Control: must-revalidate, max-age=60"]),
        Ok(())
    );
    assert_eq!(verdict(&["Cache-Control: s-maxage=60"]), Ok(()));
}

#[test]
fn set_cookie_and_vary_star_prevent_storing_unless_configured() {
    let resp = ["Cache-Control: max-age=60", "Set-Cookie: id=1"];
    assert_eq!(store(200, &resp), Err(NotStored::SetCookie));
    let cookies = Settings {
        store_set_cookie: true,
        ..S
    };
    assert_eq!(storable(Method::Get, &[], 200, &f(&resp), &cookies), Ok(()));
    assert_eq!(
        store(200, &["Cache-Control: max-age=60", "Vary: Accept, *"]),
        Err(NotStored::VaryAll)
    );
}

#[test]
fn a_response_needs_freshness_a_heuristic_or_a_validator_to_be_worth_storing() {
    // 200 and 404 are heuristically cacheable; 302, 500 are not.
    assert_eq!(store(200, &[]), Ok(()));
    assert_eq!(store(404, &[]), Ok(()));
    assert_eq!(store(302, &[]), Err(NotStored::NoFreshness));
    assert_eq!(store(500, &[]), Err(NotStored::NoFreshness));
    assert_eq!(store(302, &["Cache-Control: max-age=60"]), Ok(()));
    assert_eq!(
        store(500, &["Expires: Wed, 25 Nov 2026 22:43:36 GMT"]),
        Ok(())
    );
    assert_eq!(store(302, &["Cache-Control: public"]), Ok(()));
    // Stored only to be validated every time.
    assert_eq!(
        store(302, &["Cache-Control: no-cache", "ETag: \"v1\""]),
        Ok(())
    );
}

// ---- §4.2.1 Freshness lifetime -------------------------------------------------------------

#[test]
fn freshness_prefers_s_maxage_then_max_age_then_expires() {
    let life = |resp: &[&'static str]| freshness_lifetime(200, &f(resp), T0, &S);
    assert_eq!(life(&["Cache-Control: max-age=60, s-maxage=30"]), 30);
    assert_eq!(
        life(&[
            "Cache-Control: max-age=60",
            "Expires: Wed, 25 Nov 2026 23:43:36 GMT",
            T0_TEXT
        ]),
        60
    );
    assert_eq!(
        life(&["Expires: Wed, 25 Nov 2026 21:53:36 GMT", T0_TEXT]),
        600
    );
    // Without Date, the response time stands in.
    assert_eq!(life(&["Expires: Wed, 25 Nov 2026 21:44:36 GMT"]), 60);
    // An invalid Expires, or one in the past, is already expired.
    assert_eq!(life(&["Expires: 0", T0_TEXT]), 0);
    assert_eq!(
        life(&["Expires: Wed, 25 Nov 2026 20:00:00 GMT", T0_TEXT]),
        0
    );
}

#[test]
fn the_classic_heuristic_uses_last_modified_factor_capped_by_max_expire() {
    // Modified 10 hours before Date: 10% of that is one hour.
    let resp = [T0_TEXT, "Last-Modified: Wed, 25 Nov 2026 11:43:36 GMT"];
    assert_eq!(freshness_lifetime(200, &f(&resp), T0, &S), 3600);
    // A year old: 36.5 days, capped by CacheMaxExpire's day.
    let old = [T0_TEXT, "Last-Modified: Tue, 25 Nov 2025 21:43:36 GMT"];
    assert_eq!(freshness_lifetime(200, &f(&old), T0, &S), 86_400);
    // No Last-Modified: CacheDefaultExpire.
    assert_eq!(freshness_lifetime(200, &f(&[T0_TEXT]), T0, &S), 3600);
    // A Last-Modified after Date is no basis for a heuristic.
    let future = [T0_TEXT, "Last-Modified: Thu, 26 Nov 2026 21:43:36 GMT"];
    assert_eq!(freshness_lifetime(200, &f(&future), T0, &S), 0);
    // No heuristic for a status that is not heuristically cacheable.
    assert_eq!(freshness_lifetime(302, &f(&resp), T0, &S), 0);
    // Explicit lifetimes are capped too (CacheMaxExpire).
    let long = ["Cache-Control: max-age=999999"];
    assert_eq!(freshness_lifetime(200, &f(&long), T0, &S), 86_400);
}

// ---- §4.2.3 Age ----------------------------------------------------------------------------

#[test]
fn age_is_computed_as_section_4_2_3_says() {
    // Sent at T0, arrived 2 s later with Age: 10 and a Date 5 s before arrival.
    let resp = f(&["Cache-Control: max-age=100", "Age: 10", T0_TEXT]);
    let stored = Stored::new(200, &resp, T0 + 3, T0 + 5, &S);
    // apparent_age = 5; corrected_age_value = 10 + 2 = 12; initial = 12; resident 20.
    assert_eq!(stored.current_age(T0 + 25), 32);
    // A Date in the future does not make the age negative.
    let ahead = f(&["Date: Wed, 25 Nov 2026 21:53:36 GMT"]);
    assert_eq!(Stored::new(200, &ahead, T0, T0, &S).current_age(T0), 0);
    // An invalid Age is ignored.
    let bad = f(&["Age: -3", T0_TEXT]);
    assert_eq!(Stored::new(200, &bad, T0, T0, &S).current_age(T0 + 1), 1);
}

// ---- §4 Constructing responses from caches ---------------------------------------------------

fn stored(resp: &[&'static str]) -> Stored {
    Stored::new(200, &f(resp), T0, T0, &S)
}

#[test]
fn fresh_responses_are_served_with_their_age_and_stale_ones_validated() {
    let st = stored(&["Cache-Control: max-age=60", T0_TEXT]);
    assert_eq!(decide(&[], &st, T0 + 59), Use::Fresh { age: 59 });
    assert_eq!(decide(&[], &st, T0 + 60), Use::Validate);
}

#[test]
fn request_directives_narrow_or_widen_what_is_acceptable() {
    let st = stored(&["Cache-Control: max-age=60", T0_TEXT]);
    let req = |line: &'static str| f(&[line]);
    assert_eq!(
        decide(&req("Cache-Control: max-age=10"), &st, T0 + 20),
        Use::Validate
    );
    assert_eq!(
        decide(&req("Cache-Control: max-age=30"), &st, T0 + 20),
        Use::Fresh { age: 20 }
    );
    assert_eq!(
        decide(&req("Cache-Control: min-fresh=50"), &st, T0 + 20),
        Use::Validate
    );
    assert_eq!(
        decide(&req("Cache-Control: max-stale=30"), &st, T0 + 80),
        Use::Stale { age: 80 }
    );
    assert_eq!(
        decide(&req("Cache-Control: max-stale=10"), &st, T0 + 80),
        Use::Validate
    );
    assert_eq!(
        decide(&req("Cache-Control: max-stale"), &st, T0 + 9999),
        Use::Stale { age: 9999 }
    );
    assert_eq!(
        decide(&req("Cache-Control: no-cache"), &st, T0 + 1),
        Use::Validate
    );
    assert_eq!(decide(&req("Pragma: no-cache"), &st, T0 + 1), Use::Validate);
    // Pragma is ignored when Cache-Control is present (RFC 9111 §5.4).
    assert_eq!(
        decide(
            &f(&["Pragma: no-cache", "Cache-Control: max-age=30"]),
            &st,
            T0 + 1
        ),
        Use::Fresh { age: 1 }
    );
    assert_eq!(
        decide(&req("Cache-Control: only-if-cached"), &st, T0 + 90),
        Use::GatewayTimeout
    );
    assert_eq!(
        decide(&req("Cache-Control: only-if-cached"), &st, T0 + 1),
        Use::Fresh { age: 1 }
    );
}

#[test]
fn must_revalidate_no_cache_and_s_maxage_forbid_serving_stale() {
    let max_stale = f(&["Cache-Control: max-stale"]);
    for resp in [
        "Cache-Control: max-age=60, must-revalidate",
        "Cache-Control: max-age=60, proxy-revalidate",
        "Cache-Control: s-maxage=60",
    ] {
        let st = stored(&[resp, T0_TEXT]);
        assert_eq!(decide(&max_stale, &st, T0 + 90), Use::Validate, "{resp}");
        assert_eq!(
            decide(&max_stale, &st, T0 + 30),
            Use::Fresh { age: 30 },
            "{resp}"
        );
    }
    // no-cache: validated every time, even when fresh.
    let st = stored(&["Cache-Control: max-age=60, no-cache", T0_TEXT]);
    assert_eq!(decide(&[], &st, T0 + 1), Use::Validate);
}

#[test]
fn stale_while_revalidate_and_stale_if_error_give_bounded_grace() {
    let st = stored(&[
        "Cache-Control: max-age=60, stale-while-revalidate=30, stale-if-error=300",
        T0_TEXT,
    ]);
    assert_eq!(
        decide(&[], &st, T0 + 80),
        Use::StaleWhileRevalidate { age: 80 }
    );
    assert_eq!(decide(&[], &st, T0 + 100), Use::Validate);
    assert!(stale_if_error(&[], &st, T0 + 350));
    assert!(!stale_if_error(&[], &st, T0 + 400));
    // The request may set its own window.
    let req = f(&["Cache-Control: stale-if-error=1000"]);
    assert!(stale_if_error(&req, &st, T0 + 900));
    // None at all without the directive, and never past must-revalidate.
    assert!(!stale_if_error(
        &[],
        &stored(&["Cache-Control: max-age=60"]),
        T0 + 61
    ));
    let strict = stored(&["Cache-Control: max-age=60, must-revalidate, stale-if-error=300"]);
    assert!(!stale_if_error(&[], &strict, T0 + 61));
    // Nor when it may never be used unvalidated (RFC 9111 §4.2.4), or the request says so.
    let no_cache = stored(&["Cache-Control: max-age=60, no-cache, stale-if-error=300"]);
    assert!(!stale_if_error(&[], &no_cache, T0 + 61));
    let asks = f(&["Cache-Control: no-cache, stale-if-error=300"]);
    assert!(!stale_if_error(&asks, &st, T0 + 61));
}

// ---- §4.3 Validation -----------------------------------------------------------------------

#[test]
fn validation_asks_with_the_stored_validators() {
    let st = stored(&[
        "ETag: \"v1\"",
        "Last-Modified: Wed, 25 Nov 2026 11:43:36 GMT",
    ]);
    assert_eq!(
        st.validators(),
        vec![
            (&b"If-None-Match"[..], b"\"v1\"".to_vec()),
            (
                &b"If-Modified-Since"[..],
                b"Wed, 25 Nov 2026 11:43:36 GMT".to_vec()
            ),
        ]
    );
    assert!(stored(&["Cache-Control: max-age=1"])
        .validators()
        .is_empty());
}

#[test]
fn a_304_updates_the_stored_fields_but_not_framing_or_hop_by_hop_ones() {
    let old = f(&[
        "Content-Type: text/html",
        "Content-Length: 5",
        "Cache-Control: max-age=60",
        "ETag: \"v1\"",
        "X-A: 1",
        "X-A: 2",
    ]);
    let fresh = f(&[
        "Cache-Control: max-age=600",
        "Content-Length: 0",
        "Connection: close, X-Hop",
        "X-Hop: 1",
        "X-A: 3",
        "Date: Wed, 25 Nov 2026 22:00:00 GMT",
    ]);
    let merged = merge_not_modified(&old, &fresh);
    let text: Vec<String> = merged
        .iter()
        .map(|(n, v)| {
            format!(
                "{}: {}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            )
        })
        .collect();
    assert_eq!(
        text,
        [
            "Content-Type: text/html",
            "Content-Length: 5",
            "ETag: \"v1\"",
            "Cache-Control: max-age=600",
            "X-A: 3",
            "Date: Wed, 25 Nov 2026 22:00:00 GMT",
        ]
    );
}

#[test]
fn client_conditionals_are_answered_304_from_the_cache() {
    let st = f(&[
        "ETag: W/\"v1\"",
        "Last-Modified: Wed, 25 Nov 2026 11:43:36 GMT",
    ]);
    let nm = |req: &[&'static str]| not_modified(Method::Get, &f(req), &st);
    assert!(nm(&["If-None-Match: \"v0\", \"v1\""]));
    assert!(nm(&["If-None-Match: W/\"v1\""]));
    assert!(nm(&["If-None-Match: *"]));
    assert!(!nm(&["If-None-Match: \"v2\""]));
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    assert!(!nm(&[
        "If-None-Match: \"v2\"",
        "If-Modified-Since: Wed, 25 Nov 2026 21:43:36 GMT"
    ]));
    assert!(nm(&["If-Modified-Since: Wed, 25 Nov 2026 11:43:36 GMT"]));
    assert!(!nm(&["If-Modified-Since: Wed, 25 Nov 2026 11:43:35 GMT"]));
    assert!(!nm(&["If-Modified-Since: yesterday"]));
    assert!(!not_modified(Method::Post, &f(&["If-None-Match: *"]), &st));
    // No ETag stored: an If-None-Match cannot match a tag.
    assert!(!not_modified(
        Method::Get,
        &f(&["If-None-Match: \"v1\""]),
        &f(&["Last-Modified: Wed, 25 Nov 2026 11:43:36 GMT"])
    ));
}

// ---- §4.1 Vary -----------------------------------------------------------------------------

#[test]
fn vary_makes_a_secondary_key_from_the_named_request_fields() {
    let resp = f(&["Vary: Accept-Encoding", "vary: accept-language"]);
    let a = vary_key(
        &resp,
        &f(&["Accept-Encoding: gzip,br", "Accept-Language: fr"]),
    )
    .unwrap();
    let b = vary_key(
        &resp,
        &f(&["accept-encoding: gzip, br", "Accept-Language: fr"]),
    )
    .unwrap();
    let c = vary_key(&resp, &f(&["Accept-Encoding: gzip", "Accept-Language: fr"])).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a[0].0, b"accept-encoding");
    // Absent fields are part of the key too.
    let d = vary_key(&resp, &f(&["Accept-Language: fr"])).unwrap();
    assert_ne!(a, d);
    assert_eq!(vary_key(&f(&["Vary: *"]), &[]), None);
    assert_eq!(vary_key(&[], &[]), Some(Vec::new()));
}

// ---- §4.4 Invalidation ---------------------------------------------------------------------

#[test]
fn unsafe_methods_answered_without_error_invalidate() {
    for method in [
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Other,
    ] {
        assert!(invalidates(method, 200), "{method:?}");
        assert!(invalidates(method, 303), "{method:?}");
        assert!(!invalidates(method, 404), "{method:?}");
        assert!(!invalidates(method, 500), "{method:?}");
    }
    for method in [Method::Get, Method::Head, Method::Options, Method::Trace] {
        assert!(!invalidates(method, 200), "{method:?}");
    }
}
