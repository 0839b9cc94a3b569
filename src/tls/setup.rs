//! Building the rustls configurations spoonfeed runs on: a virtual host's, from its
//! certificate and key files, and the one for TLS to backends, from the CA bundle. `config`
//! calls these when it reads the file, so that `spoonfeed -t` reports a file that does not
//! load at the line that names it; nothing here knows the configuration's shape.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ServerConfig;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore};

use super::ciphers::TlsSuites;

/// The TLS protocol versions offered (`SSLProtocol`); rustls speaks 1.2 and 1.3.
/// Invariant: at least one is true.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsProtocols {
    pub tls12: bool,
    pub tls13: bool,
}

impl Default for TlsProtocols {
    fn default() -> TlsProtocols {
        TlsProtocols {
            tls12: true,
            tls13: true,
        }
    }
}

/// Builds the server configuration of one virtual host: the certificate chain and private key
/// read from PEM files (RSA, ECDSA and Ed25519 keys), checked to belong together; the
/// protocol versions and cipher suites chosen; ALPN `http/1.1`; session resumption by tickets
/// and by session IDs.
pub fn server_config(
    cert_file: &Path,
    key_file: &Path,
    protocols: TlsProtocols,
    suites: &TlsSuites,
) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (BEGIN CERTIFICATE)",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("cannot read a private key from {}: {e}", key_file.display()))?;
    let mut versions = Vec::new();
    if protocols.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if protocols.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let mut provider = provider::default_provider();
    if let Some(chosen) = suites.provider_suites() {
        provider.cipher_suites = chosen;
    }
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("cannot offer these protocol versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "{} and {} do not make a usable certificate: {e}",
                cert_file.display(),
                key_file.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = suites.honor_order;
    config.ticketer = provider::Ticketer::new().map_err(|e| format!("no ticket keys: {e}"))?;
    Ok(Arc::new(config))
}

/// Builds the configuration for TLS to backends (`SSLProxyEngine`): certificates verified
/// against `ca_file` (PEM, one or more) or, without one, the system's bundle; or not at all
/// when `verify` is false (`SSLProxyVerify none`: the chain and name are not checked, the
/// handshake's signatures still are). ALPN `http/1.1`; sessions resumed.
pub fn client_config(ca_file: Option<&Path>, verify: bool) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(provider::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot offer TLS 1.2 and 1.3 to backends: {e}"))?;
    let mut config = if verify {
        let mut roots = RootCertStore::empty();
        let file = match ca_file {
            Some(file) => file.to_path_buf(),
            None => SYSTEM_BUNDLES
                .iter()
                .map(Path::new)
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    format!(
                        "no system CA bundle ({}); give SSLProxyCACertificateFile",
                        SYSTEM_BUNDLES.join(", ")
                    )
                })?
                .to_path_buf(),
        };
        let certs = CertificateDer::pem_file_iter(&file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read CA certificates from {}: {e}", file.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!("{} holds no usable CA certificate", file.display()));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Where Linux distributions keep the CA bundle (Debian and Ubuntu, Fedora and RHEL, others).
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// `SSLProxyVerify none`: any certificate is taken; the handshake's signatures are still
/// checked, so the peer holds the key of the certificate it sent.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
