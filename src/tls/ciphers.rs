//! The cipher suites spoonfeed offers, by name: the one table of rustls', IANA's and
//! OpenSSL's names ([`CIPHER_SUITES`]), the reading of mod_ssl's `SSLCipherSuite` lists
//! (names, `HIGH`/`DEFAULT` and the other classes, `!X`), and the suites a choice
//! ([`TlsSuites`]) gives rustls. It depends on rustls alone, so both `config` (which reads the
//! lists) and [`super::setup`] (which builds the configurations) may use it.

use rustls::crypto::ring::cipher_suite::*;
use rustls::SupportedCipherSuite;

/// The cipher suites rustls offers, by the name spoonfeed writes (rustls' own, IANA's but
/// for TLS 1.3's `TLS13_` prefix) and OpenSSL's, with whether they are TLS 1.3 suites.
pub const CIPHER_SUITES: [(&str, &str, bool); 9] = [
    ("TLS13_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", true),
    ("TLS13_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", true),
    (
        "TLS13_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        true,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        false,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        false,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        false,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        false,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        false,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
        false,
    ),
];

/// The rustls suite named (first column of [`CIPHER_SUITES`]).
fn suite(name: &str) -> Option<rustls::SupportedCipherSuite> {
    Some(match name {
        "TLS13_AES_256_GCM_SHA384" => TLS13_AES_256_GCM_SHA384,
        "TLS13_AES_128_GCM_SHA256" => TLS13_AES_128_GCM_SHA256,
        "TLS13_CHACHA20_POLY1305_SHA256" => TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// The cipher suites offered (`SSLCipherSuite`, by the names of [`CIPHER_SUITES`], in order
/// of preference), per protocol version; `None`: every suite rustls has for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSuites {
    pub tls12: Option<Vec<&'static str>>,
    pub tls13: Option<Vec<&'static str>>,
    /// `SSLHonorCipherOrder On`: our order, not the client's, picks the suite.
    pub honor_order: bool,
}

impl TlsSuites {
    /// The suites to give rustls, TLS 1.3's first, each version's in order of preference (every
    /// suite of a version the choice does not name); `None` when the choice names neither, so
    /// that rustls' own defaults and order stand.
    pub fn provider_suites(&self) -> Option<Vec<SupportedCipherSuite>> {
        if self.tls12.is_none() && self.tls13.is_none() {
            return None;
        }
        let defaults = |tls13: bool| {
            CIPHER_SUITES
                .iter()
                .filter(move |(_, _, is13)| *is13 == tls13)
                .map(|(name, _, _)| *name)
                .collect::<Vec<_>>()
        };
        let tls13 = self.tls13.clone().unwrap_or_else(|| defaults(true));
        let tls12 = self.tls12.clone().unwrap_or_else(|| defaults(false));
        Some(
            tls13
                .iter()
                .chain(&tls12)
                .filter_map(|n| suite(n))
                .collect(),
        )
    }
}

/// Reads an OpenSSL-style cipher list for one protocol version: suite names (OpenSSL's, IANA's
/// or rustls') in order of preference; `HIGH`, `DEFAULT`, `ALL`, `SECURE` for every suite of
/// that version; `!X` and `-X` remove suite X (and, naming a class of weak ciphers rustls does
/// not have anyway, change nothing); `@…` and `+…` are taken and change nothing. Returns the
/// suites and the names skipped as suites rustls does not implement (a warning, so that lists
/// such as Mozilla's, which name DHE suites too, work as given).
pub fn parse_list(spec: &str, tls13: bool) -> Result<(Vec<&'static str>, Vec<String>), String> {
    let version = |is13: bool| if is13 { "TLSv1.3" } else { "TLS 1.2" };
    let mut suites: Vec<&'static str> = Vec::new();
    let mut skipped = Vec::new();
    for token in spec.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        let find = |name: &str| {
            CIPHER_SUITES
                .iter()
                .find(|(ours, openssl, _)| *ours == name || *openssl == name || iana(ours) == name)
        };
        if let Some(name) = token.strip_prefix(['!', '-']) {
            if let Some((ours, _, _)) = find(name) {
                suites.retain(|s| s != ours);
            }
            continue;
        }
        if token.starts_with(['@', '+']) {
            continue;
        }
        if ["HIGH", "DEFAULT", "ALL", "SECURE"].contains(&token) {
            for (ours, _, is13) in CIPHER_SUITES {
                if is13 == tls13 && !suites.contains(&ours) {
                    suites.push(ours);
                }
            }
            continue;
        }
        match find(token) {
            Some((ours, _, is13)) if *is13 == tls13 => {
                if !suites.contains(ours) {
                    suites.push(ours);
                }
            }
            Some((_, _, is13)) => {
                return Err(format!(
                    "SSLCipherSuite: {token} is a {} suite; give it with{} the TLSv1.3 argument",
                    version(*is13),
                    if *is13 { "" } else { "out" }
                ))
            }
            None if is_openssl_suite_name(token) => skipped.push(token.to_owned()),
            None => {
                return Err(format!(
                    "SSLCipherSuite: unknown cipher or class \"{token}\"; give suite names (as \
                     ECDHE-ECDSA-AES128-GCM-SHA256 or TLS_AES_128_GCM_SHA256), HIGH or \
                     DEFAULT, and !NAME to remove one"
                ))
            }
        }
    }
    if suites.is_empty() {
        return Err(format!(
            "SSLCipherSuite leaves no {} suite rustls implements; these are: {}",
            version(tls13),
            CIPHER_SUITES
                .iter()
                .filter(|(_, _, is13)| *is13 == tls13)
                .map(|(_, openssl, _)| *openssl)
                .collect::<Vec<_>>()
                .join(":")
        ));
    }
    Ok((suites, skipped))
}

/// IANA's name of a suite whose rustls name is `ours` (TLS 1.3's lose the `13`).
fn iana(ours: &str) -> std::borrow::Cow<'_, str> {
    match ours.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}").into(),
        None => ours.into(),
    }
}

/// Whether `token` has the shape of one OpenSSL or IANA suite name (`DHE-RSA-AES128-GCM-SHA256`,
/// `TLS_RSA_WITH_AES_128_CBC_SHA`), as opposed to a class or a combination (`EECDH+AESGCM`).
fn is_openssl_suite_name(token: &str) -> bool {
    let shaped = token
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    shaped && (token.contains('-') || token.starts_with("TLS_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_suite_is_the_rustls_suite_of_that_name() {
        for (ours, _, is13) in CIPHER_SUITES {
            let found = suite(ours).unwrap_or_else(|| panic!("{ours} has no rustls suite"));
            assert_eq!(format!("{:?}", found.suite()), ours);
            assert_eq!(
                matches!(found, SupportedCipherSuite::Tls13(_)),
                is13,
                "{ours}"
            );
        }
    }

    #[test]
    fn a_choice_of_one_version_keeps_every_suite_of_the_other() {
        assert!(TlsSuites::default().provider_suites().is_none());
        let only12 = TlsSuites {
            tls12: Some(vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]),
            ..TlsSuites::default()
        };
        let names: Vec<String> = only12
            .provider_suites()
            .unwrap()
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            names,
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
    }

    #[test]
    fn ssl_cipher_suite_reads_openssl_iana_and_class_names() {
        let mozilla = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
                       ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
                       ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
                       DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
        let (suites, skipped) = parse_list(mozilla, false).unwrap();
        assert_eq!(suites.len(), 6);
        assert_eq!(suites[0], "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(
            skipped,
            ["DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"]
        );
        let (suites, skipped) =
            parse_list("HIGH:!aNULL:!MD5:!ECDHE-RSA-CHACHA20-POLY1305", false).unwrap();
        assert_eq!(suites.len(), 5);
        assert!(!suites.contains(&"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"));
        assert!(skipped.is_empty());
        let (suites, _) = parse_list(
            "TLS_CHACHA20_POLY1305_SHA256:TLS13_AES_128_GCM_SHA256",
            true,
        )
        .unwrap();
        assert_eq!(
            suites,
            ["TLS13_CHACHA20_POLY1305_SHA256", "TLS13_AES_128_GCM_SHA256"]
        );
        assert!(parse_list("TLS_AES_128_GCM_SHA256", false)
            .unwrap_err()
            .contains("with the TLSv1.3 argument"));
        assert!(parse_list("ECDHE-RSA-AES128-GCM-SHA256", true)
            .unwrap_err()
            .contains("without the TLSv1.3 argument"));
        assert!(parse_list("EECDH+AESGCM", false)
            .unwrap_err()
            .contains("unknown cipher or class"));
        assert!(parse_list("RC4-SHA:DES-CBC3-SHA", false)
            .unwrap_err()
            .contains("leaves no TLS 1.2 suite"));
    }
}
