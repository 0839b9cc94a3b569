//! Handlers for mod_ssl's directives (`SSLEngine`, `SSLCertificateFile`,
//! `SSLCertificateKeyFile`, `SSLProtocol`), their inheritance from the main server, and the
//! checks only the whole file allows: every `https` listener has a certificate to offer, and
//! every certificate and key loads (so `spoonfeed -t` reports a bad file at its line).

use std::path::PathBuf;
use std::sync::Arc;

use super::model::*;
use super::parse::Parser;
use super::values;
use crate::tls::ciphers::{self, TlsSuites};
use crate::tls::setup::{self, TlsProtocols};

/// What one scope said about TLS, before inheritance.
#[derive(Clone, Default)]
pub(super) struct SslDraft {
    engine: Option<(bool, Origin)>,
    cert_file: Option<(PathBuf, Origin)>,
    key_file: Option<(PathBuf, Origin)>,
    protocols: Option<TlsProtocols>,
    suites12: Option<Vec<&'static str>>,
    suites13: Option<Vec<&'static str>>,
    honor_order: Option<bool>,
    strict_sni: Option<bool>,
    proxy_engine: Option<bool>,
    /// `SSLProxyCACertificateFile` (main server only).
    proxy_ca_file: Option<(PathBuf, Origin)>,
    /// `SSLProxyVerify` (main server only).
    proxy_verify: Option<bool>,
}

impl SslDraft {
    /// This scope's settings, each taken from `main` where this scope sets none (as mod_ssl
    /// merges a virtual host with the main server).
    pub(super) fn inherit(&self, main: &SslDraft) -> SslDraft {
        SslDraft {
            engine: self.engine.clone().or_else(|| main.engine.clone()),
            cert_file: self.cert_file.clone().or_else(|| main.cert_file.clone()),
            key_file: self.key_file.clone().or_else(|| main.key_file.clone()),
            protocols: self.protocols.or(main.protocols),
            suites12: self.suites12.clone().or_else(|| main.suites12.clone()),
            suites13: self.suites13.clone().or_else(|| main.suites13.clone()),
            honor_order: self.honor_order.or(main.honor_order),
            strict_sni: self.strict_sni.or(main.strict_sni),
            proxy_engine: self.proxy_engine.or(main.proxy_engine),
            proxy_ca_file: None,
            proxy_verify: None,
        }
    }

    /// `SSLProxyEngine`, after inheritance.
    pub(super) fn proxy_engine(&self) -> bool {
        self.proxy_engine.unwrap_or(false)
    }

    /// The main server's `SSLProxyCACertificateFile` and `SSLProxyVerify`.
    pub(super) fn proxy_trust(&self) -> (Option<PathBuf>, bool) {
        (
            self.proxy_ca_file.as_ref().map(|(file, _)| file.clone()),
            self.proxy_verify.unwrap_or(true),
        )
    }

    /// The scope's TLS settings when `SSLEngine On`; an error at the `SSLEngine` line when it
    /// has no certificate to offer, unless `may_lack` (the main server of a file with virtual
    /// hosts, whose `SSLEngine On` may be there only for them to inherit).
    pub(super) fn settle(&self, p: &mut Parser, may_lack: bool) -> Option<VhostTls> {
        let (on, engine_line) = self.engine.clone()?;
        if !on {
            return None;
        }
        let Some((cert_file, cert_line)) = self.cert_file.clone() else {
            if may_lack {
                return None;
            }
            p.error(
                engine_line,
                "SSLEngine On needs SSLCertificateFile (the certificate chain, PEM), here or in \
                 the main server"
                    .into(),
            );
            return None;
        };
        // As mod_ssl: without SSLCertificateKeyFile the key is in the certificate file.
        let key_file = self
            .key_file
            .as_ref()
            .map_or_else(|| cert_file.clone(), |(file, _)| file.clone());
        Some(VhostTls {
            cert_file,
            key_file,
            protocols: self.protocols.unwrap_or_default(),
            suites: TlsSuites {
                tls12: self.suites12.clone(),
                tls13: self.suites13.clone(),
                honor_order: self.honor_order.unwrap_or(false),
            },
            strict_sni: self.strict_sni.unwrap_or(false),
            origin: cert_line,
        })
    }
}

/// `SSLEngine On|Off`.
pub(super) fn ssl_engine(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let on = values::on_off(&args[0]).map_err(|e| format!("SSLEngine: {e}"))?;
    let origin = p.origin.clone();
    p.scope().ssl.engine = Some((on, origin));
    Ok(())
}

/// `SSLCertificateFile FILE`: relative to the configuration file's directory.
pub(super) fn ssl_certificate_file(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let file = p.log_path(&args[0]);
    let origin = p.origin.clone();
    p.scope().ssl.cert_file = Some((file, origin));
    Ok(())
}

/// `SSLCertificateKeyFile FILE`: relative to the configuration file's directory.
pub(super) fn ssl_certificate_key_file(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let file = p.log_path(&args[0]);
    let origin = p.origin.clone();
    p.scope().ssl.key_file = Some((file, origin));
    Ok(())
}

/// `SSLCipherSuite [SSL|TLSv1.3] SPEC`, mod_ssl's syntax: the suites of TLS 1.2 (`SSL`, the
/// default) or of TLS 1.3, as OpenSSL names, IANA names or rustls names, separated by `:`.
pub(super) fn ssl_cipher_suite(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let (tls13, spec) = match args {
        [spec] => (false, spec),
        [protocol, spec] if protocol.eq_ignore_ascii_case("SSL") => (false, spec),
        [protocol, spec] if protocol.eq_ignore_ascii_case("TLSv1.3") => (true, spec),
        [protocol, _] => {
            return Err(format!(
                "SSLCipherSuite: protocol \"{protocol}\" is not SSL (TLS 1.2) or TLSv1.3"
            ))
        }
        _ => unreachable!("the table allows one or two arguments"),
    };
    let (suites, skipped) = ciphers::parse_list(spec, tls13)?;
    if !skipped.is_empty() {
        let origin = p.origin.clone();
        p.warn(
            origin,
            format!(
                "SSLCipherSuite: {} not offered: rustls does not implement {}",
                skipped.join(", "),
                if skipped.len() == 1 { "it" } else { "them" }
            ),
        );
    }
    let ssl = &mut p.scope().ssl;
    if tls13 {
        ssl.suites13 = Some(suites);
    } else {
        ssl.suites12 = Some(suites);
    }
    Ok(())
}

/// `SSLHonorCipherOrder On|Off`.
pub(super) fn ssl_honor_cipher_order(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let on = values::on_off(&args[0]).map_err(|e| format!("SSLHonorCipherOrder: {e}"))?;
    p.scope().ssl.honor_order = Some(on);
    Ok(())
}

/// `SSLStrictSNIVHostCheck On|Off`.
pub(super) fn ssl_strict_sni(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let on = values::on_off(&args[0]).map_err(|e| format!("SSLStrictSNIVHostCheck: {e}"))?;
    p.scope().ssl.strict_sni = Some(on);
    Ok(())
}

/// `SSLProxyEngine On|Off`: TLS to `https://` backends.
pub(super) fn ssl_proxy_engine(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let on = values::on_off(&args[0]).map_err(|e| format!("SSLProxyEngine: {e}"))?;
    p.scope().ssl.proxy_engine = Some(on);
    Ok(())
}

/// `SSLProxyCACertificateFile FILE`: the CAs backends' certificates are checked against.
pub(super) fn ssl_proxy_ca_certificate_file(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let file = p.log_path(&args[0]);
    let origin = p.origin.clone();
    p.scope().ssl.proxy_ca_file = Some((file, origin));
    Ok(())
}

/// `SSLProxyVerify require|none` (mod_ssl's `optional` and `optional_no_ca` are refused: a
/// proxy either checks the backend or says plainly that it does not).
pub(super) fn ssl_proxy_verify(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let verify = match args[0].to_ascii_lowercase().as_str() {
        "require" => true,
        "none" => false,
        other => {
            return Err(format!(
                "SSLProxyVerify: \"{other}\" is not supported; give require (check the \
                 backend's certificate, the default) or none"
            ))
        }
    };
    if !verify {
        let origin = p.origin.clone();
        p.warn(
            origin,
            "SSLProxyVerify none: backends' certificates are not checked; anyone on the path \
             to them can read and change the traffic"
                .into(),
        );
    }
    p.scope().ssl.proxy_verify = Some(verify);
    Ok(())
}

/// Checks that every route to an `https://` backend is in a server with `SSLProxyEngine On`
/// (an error at its ProxyPass line), and builds the TLS configuration for backends when any
/// route needs it (an error at `SSLProxyCACertificateFile`, or at the first such route, when
/// the CAs do not load).
pub(super) fn build_proxy(
    p: &mut Parser,
    main: &SslDraft,
    vhosts: &[Vhost],
    backends: &[Backend],
) -> Option<Arc<rustls::ClientConfig>> {
    let mut first_route: Option<Origin> = None;
    let mut reported = Vec::new();
    for vhost in vhosts {
        for route in &vhost.routes {
            let RouteTarget::Proxy { backend, .. } = route.target else {
                continue;
            };
            if backends[backend].scheme != Scheme::Https {
                continue;
            }
            first_route.get_or_insert_with(|| route.origin.clone());
            if !vhost.proxy_tls && !reported.contains(&route.origin) {
                reported.push(route.origin.clone());
                p.error(
                    route.origin.clone(),
                    format!(
                        "{} is an https backend: it needs SSLProxyEngine On (here or in the \
                         main server)",
                        backends[backend].name
                    ),
                );
            }
        }
    }
    let first_route = first_route?;
    let (ca_file, verify) = main.proxy_trust();
    match setup::client_config(ca_file.as_deref(), verify) {
        Ok(config) => Some(config),
        Err(message) => {
            let at = main
                .proxy_ca_file
                .as_ref()
                .map_or(first_route, |(_, origin)| origin.clone());
            p.error(at, message);
            None
        }
    }
}

/// `SSLProtocol [+|-]PROTOCOL ...`, mod_ssl's syntax: a bare name sets the list, `+` adds,
/// `-` removes. rustls speaks TLSv1.2 and TLSv1.3; asking for an older protocol is an error,
/// removing one is allowed (classic lines such as `all -SSLv3 -TLSv1 -TLSv1.1` work).
pub(super) fn ssl_protocol(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.scope().ssl.protocols = Some(protocols(args)?);
    Ok(())
}

fn protocols(args: &[String]) -> Result<TlsProtocols, String> {
    let mut set = TlsProtocols {
        tls12: false,
        tls13: false,
    };
    for arg in args {
        let (sign, name) = match arg.as_bytes().first() {
            Some(b'+') => (Some(true), &arg[1..]),
            Some(b'-') => (Some(false), &arg[1..]),
            _ => (None, arg.as_str()),
        };
        let named = match name.to_ascii_lowercase().as_str() {
            "all" => TlsProtocols {
                tls12: true,
                tls13: true,
            },
            "tlsv1.2" => TlsProtocols {
                tls12: true,
                tls13: false,
            },
            "tlsv1.3" => TlsProtocols {
                tls12: false,
                tls13: true,
            },
            "sslv2" | "sslv3" | "tlsv1" | "tlsv1.1" => {
                if sign == Some(false) {
                    continue;
                }
                return Err(format!(
                    "SSLProtocol: {name} is not offered (rustls speaks TLSv1.2 and TLSv1.3 only); \
                     write -{name} or leave it out"
                ));
            }
            _ => {
                return Err(format!(
                    "SSLProtocol: unknown protocol \"{name}\"; give all, TLSv1.2 or TLSv1.3, \
                     each with an optional + or -"
                ))
            }
        };
        match sign {
            None => set = named,
            Some(true) => {
                set.tls12 |= named.tls12;
                set.tls13 |= named.tls13;
            }
            Some(false) => {
                set.tls12 &= !named.tls12;
                set.tls13 &= !named.tls13;
            }
        }
    }
    if !set.tls12 && !set.tls13 {
        return Err("SSLProtocol leaves no protocol; give TLSv1.2, TLSv1.3 or all".into());
    }
    Ok(set)
}

/// Loads every virtual host's certificate and key (an error at its `SSLCertificateFile` line
/// when one does not load), and checks that every `https` listener has a host with a
/// certificate that may answer on it. Returns the server configurations by virtual host.
pub(super) fn build(
    p: &mut Parser,
    listens: &[Listen],
    vhosts: &[Vhost],
) -> Vec<Option<Arc<rustls::ServerConfig>>> {
    let configs: Vec<_> = vhosts
        .iter()
        .map(|vhost| {
            let tls = vhost.tls.as_ref()?;
            match setup::server_config(&tls.cert_file, &tls.key_file, tls.protocols, &tls.suites) {
                Ok(config) => Some(config),
                Err(message) => {
                    p.error(tls.origin.clone(), message);
                    None
                }
            }
        })
        .collect();
    for listen in listens.iter().filter(|l| l.scheme == Scheme::Https) {
        let may_answer = |vhost: &Vhost| {
            vhost.addrs.is_empty()
                || vhost.addrs.iter().any(|a| {
                    a.port
                        .is_none_or(|port| port == listen.addr.port() || listen.addr.port() == 0)
                        && a.ip.is_none_or(|ip| {
                            ip.is_unspecified()
                                || listen.addr.ip().is_unspecified()
                                || ip.to_canonical() == listen.addr.ip().to_canonical()
                        })
                })
        };
        let has_certificate = vhosts.iter().any(|v| v.tls.is_some() && may_answer(v));
        if !has_certificate {
            p.error(
                listen.origin.clone(),
                format!(
                    "Listen {} https: no server for this address has SSLEngine On with an \
                     SSLCertificateFile",
                    listen.addr
                ),
            );
        }
    }
    configs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Result<TlsProtocols, String> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        protocols(&args)
    }

    #[test]
    fn ssl_protocol_reads_mod_ssl_lines() {
        let both = TlsProtocols {
            tls12: true,
            tls13: true,
        };
        let only13 = TlsProtocols {
            tls12: false,
            tls13: true,
        };
        assert_eq!(parsed("all"), Ok(both));
        assert_eq!(parsed("all -SSLv3 -TLSv1 -TLSv1.1"), Ok(both));
        assert_eq!(parsed("all -TLSv1.2"), Ok(only13));
        assert_eq!(parsed("TLSv1.3"), Ok(only13));
        assert_eq!(parsed("-all +TLSv1.3"), Ok(only13));
        assert_eq!(parsed("TLSv1.2 +tlsv1.3"), Ok(both));
        assert!(parsed("TLSv1.1")
            .unwrap_err()
            .contains("TLSv1.2 and TLSv1.3 only"));
        assert!(parsed("all +TLSv1").unwrap_err().contains("not offered"));
        assert!(parsed("all -TLSv1.2 -TLSv1.3")
            .unwrap_err()
            .contains("leaves no"));
        assert!(parsed("QUIC").unwrap_err().contains("unknown protocol"));
    }
}
