//! TLS termination with rustls: a virtual host's server configuration built from its
//! certificate and key files, and a client connection's TLS state, driven without ever blocking
//! over the reactor's non-blocking socket.
//!
//! The certificate follows the virtual hosts. The ClientHello is read first (rustls'
//! `Acceptor`); the caller turns its SNI name into a virtual host exactly as it would a `Host`
//! header, and that host's configuration completes the handshake. The name is kept, so a
//! request whose `Host` selects another host can be refused (421).
//!
//! Reads hand out plaintext; writes take plaintext from the reactor's blocks (or a spill file),
//! seal it into at most [`SEAL_CHUNK`] bytes of records at a time and write them at once, so the
//! bytes rustls holds for one connection stay small and are not counted twice. Everything here is
//! generic over `Read + Write`, so tests drive it over in-memory streams.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{Acceptor, ServerConfig, ServerConnection};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};

use crate::buf::{BufPool, Chain, Spill};
use crate::config::{TlsProtocols, TlsSuites};

/// Most plaintext bytes sealed into records before they are written out: rustls holds at most
/// this much (plus record overhead) per connection, outside the block pool.
pub const SEAL_CHUNK: usize = 64 << 10;

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
    use provider::cipher_suite::*;
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
    if suites.tls12.is_some() || suites.tls13.is_some() {
        let defaults = |tls13: bool| {
            CIPHER_SUITES
                .iter()
                .filter(move |(_, _, is13)| *is13 == tls13)
                .map(|(name, _, _)| *name)
                .collect::<Vec<_>>()
        };
        let tls13 = suites.tls13.clone().unwrap_or_else(|| defaults(true));
        let tls12 = suites.tls12.clone().unwrap_or_else(|| defaults(false));
        provider.cipher_suites = tls13
            .iter()
            .chain(&tls12)
            .filter_map(|n| suite(n))
            .collect();
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

/// What the caller makes of a ClientHello's SNI name: the configuration of the virtual host
/// it chose, or why the handshake must fail.
pub type Choice = Result<Arc<ServerConfig>, String>;

/// A client connection's TLS state.
pub struct ClientTls {
    state: State,
    /// The SNI name the client sent (kept as a name, not as the virtual host it chose: a
    /// reload may number the hosts anew).
    sni_name: Option<String>,
}

enum State {
    /// Reading the ClientHello.
    Accepting(Box<Acceptor>),
    Open(Box<ServerConnection>),
    /// The handshake or a record failed; the alert, if any, was written.
    Failed,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Accepting(_) => "accepting",
            State::Open(conn) if conn.is_handshaking() => "handshaking",
            State::Open(_) => "open",
            State::Failed => "failed",
        };
        f.debug_struct("ClientTls")
            .field("state", &state)
            .field("sni_name", &self.sni_name)
            .finish()
    }
}

impl Default for ClientTls {
    fn default() -> ClientTls {
        ClientTls::new()
    }
}

impl ClientTls {
    pub fn new() -> ClientTls {
        ClientTls {
            state: State::Accepting(Box::default()),
            sni_name: None,
        }
    }

    /// Whether the handshake has not completed yet.
    pub fn is_handshaking(&self) -> bool {
        match &self.state {
            State::Accepting(_) => true,
            State::Open(conn) => conn.is_handshaking(),
            State::Failed => false,
        }
    }

    /// Whether the handshake completed and the session is usable.
    pub fn is_established(&self) -> bool {
        matches!(&self.state, State::Open(conn) if !conn.is_handshaking())
    }

    /// Whether a completed handshake resumed an earlier session.
    pub fn is_resumed(&self) -> bool {
        matches!(&self.state, State::Open(conn)
            if conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
    }

    /// The SNI name the client sent, if any.
    pub fn sni_name(&self) -> Option<&str> {
        self.sni_name.as_deref()
    }

    /// Whether sealed bytes wait to be written.
    pub fn wants_write(&self) -> bool {
        matches!(&self.state, State::Open(conn) if conn.wants_write())
    }

    /// Reads once: plaintext the client sent is appended to `cin` and counted (`Ok(0)`: the
    /// client closed with `close_notify`; `UnexpectedEof`: it closed without). Handshake messages are answered on the way; `choose`
    /// is asked once, with the SNI name, for the configuration to finish the handshake with.
    /// `WouldBlock` means rustls holds no plaintext and the socket has nothing more, so the
    /// caller may wait for the next readable event.
    pub fn read<S: Read + Write>(
        &mut self,
        sock: &mut S,
        cin: &mut Vec<u8>,
        landing: &mut [u8],
        choose: impl FnOnce(Option<&str>) -> Choice,
    ) -> io::Result<usize> {
        let mut choose = Some(choose);
        loop {
            match &mut self.state {
                State::Failed => return Err(failed("the TLS session failed earlier")),
                State::Accepting(acceptor) => {
                    if read_tls(sock, |s| acceptor.read_tls(s))? == 0 {
                        return Ok(0);
                    }
                    let accepted = match acceptor.accept() {
                        Ok(None) => continue,
                        Ok(Some(accepted)) => accepted,
                        Err((e, mut alert)) => {
                            let _ = alert.write_all(sock);
                            self.state = State::Failed;
                            return Err(failed(&format!("TLS handshake failed: {e}")));
                        }
                    };
                    let hello = accepted.client_hello();
                    let name = hello.server_name().map(str::to_owned);
                    let choice = choose.take().expect("one ClientHello")(name.as_deref());
                    let config = match choice {
                        Ok(config) => config,
                        Err(why) => {
                            self.state = State::Failed;
                            return Err(failed(&why));
                        }
                    };
                    match accepted.into_connection(config) {
                        Ok(conn) => {
                            self.sni_name = name;
                            self.state = State::Open(Box::new(conn));
                        }
                        Err((e, mut alert)) => {
                            let _ = alert.write_all(sock);
                            self.state = State::Failed;
                            return Err(failed(&format!("TLS handshake failed: {e}")));
                        }
                    }
                }
                State::Open(conn) => {
                    match conn.reader().read(landing) {
                        Ok(n) => {
                            cin.extend_from_slice(&landing[..n]);
                            return Ok(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        // A close without close_notify stays an error: a tunnel must not pass
                        // it on as a clean end.
                        Err(e) => return Err(e),
                    }
                    read_tls(sock, |s| conn.read_tls(s))?;
                    if let Err(e) = conn.process_new_packets() {
                        // The alert rustls queued for the error goes out if the socket takes it.
                        let _ = conn.write_tls(sock);
                        self.state = State::Failed;
                        return Err(failed(&format!("TLS error: {e}")));
                    }
                }
            }
            // Answers to the handshake, session tickets, alerts: out now if the socket takes
            // them, else with the next write.
            match self.write_pending(sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes sealed bytes rustls holds until none are left (`Ok`) or the socket would block
    /// (`WouldBlock` when nothing was written).
    pub fn write_pending<S: Write>(&mut self, sock: &mut S) -> io::Result<usize> {
        let State::Open(conn) = &mut self.state else {
            return Ok(0);
        };
        drain(conn, sock)
    }

    /// Seals and writes what the client is owed: first what rustls holds, then `chain`, then
    /// what `spill` holds (read into `landing` a piece at a time). Returns the plaintext bytes
    /// taken and whether anything at all was written; stops at `WouldBlock`, returned only when
    /// nothing was.
    pub fn send<S: Write>(
        &mut self,
        sock: &mut S,
        chain: &mut Chain,
        pool: &mut BufPool,
        spill: Option<&mut Spill>,
        landing: &mut [u8],
    ) -> io::Result<(usize, bool)> {
        let State::Open(conn) = &mut self.state else {
            return Err(failed("no TLS session to write to"));
        };
        let mut wrote = false;
        match drain(conn, sock) {
            Ok(n) => wrote |= n > 0,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
            Err(e) => return Err(e),
        }
        let mut sealer = Sealer { conn, sock };
        let mut taken = match chain.write_to(pool, &mut sealer) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((0, wrote)),
            Err(e) => return Err(e),
        };
        if let Some(spill) = spill.filter(|_| chain.is_empty()) {
            let want = landing.len().min(SEAL_CHUNK);
            match spill.copy_to(&mut sealer, &mut landing[..want]) {
                Ok(n) => taken += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok((taken, wrote || taken > 0))
    }

    /// Tells the client that no more data follows (`close_notify`), as far as the socket takes
    /// it now. Only for answers that are complete: a cut-off response must not look finished.
    pub fn close_notify<S: Write>(&mut self, sock: &mut S) {
        if let State::Open(conn) = &mut self.state {
            conn.send_close_notify();
            let _ = drain(conn, sock);
        }
    }
}

/// One `read_tls` into rustls, retried on `EINTR`.
fn read_tls<S: Read>(
    sock: &mut S,
    mut read: impl FnMut(&mut dyn Read) -> io::Result<usize>,
) -> io::Result<usize> {
    loop {
        match read(sock) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Writes what `conn` holds sealed until it holds none or the socket would block.
fn drain<S: Write, D>(conn: &mut rustls::ConnectionCommon<D>, sock: &mut S) -> io::Result<usize> {
    let mut total = 0;
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && total > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// A `Write` that seals plaintext into records and writes them to the socket: it takes bytes
/// only once everything sealed earlier is out, so rustls never holds more than one
/// [`SEAL_CHUNK`].
struct Sealer<'a, S, D> {
    conn: &'a mut rustls::ConnectionCommon<D>,
    sock: &'a mut S,
}

impl<S: Write, D> Write for Sealer<'_, S, D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.conn.wants_write() {
            drain(self.conn, self.sock)?;
            if self.conn.wants_write() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        let n = self
            .conn
            .writer()
            .write(&buf[..buf.len().min(SEAL_CHUNK)])?;
        match drain(self.conn, self.sock) {
            Ok(_) => Ok(n),
            // Sealed and taken: the rest goes out with the next write.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn failed(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
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

/// A TLS connection to a backend over `S`, read and written as plaintext. Reads answer the
/// handshake on the way; the caller moves it on with [`ClientSession::handshake`] before
/// writing, so that a request never waits inside rustls; writes seal at most [`SEAL_CHUNK`]
/// at a time.
/// A close without `close_notify` reads as `UnexpectedEof`, never as the end of a body.
pub struct ClientSession<S> {
    pub sock: S,
    conn: ClientConnection,
}

impl<S> std::fmt::Debug for ClientSession<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("handshaking", &self.conn.is_handshaking())
            .finish()
    }
}

impl<S: Read + Write> ClientSession<S> {
    /// A session to `host` (SNI when it is a name; an IP address is checked against the
    /// certificate's IP entries) over the connected `sock`.
    pub fn new(sock: S, config: &Arc<ClientConfig>, host: &str) -> Result<Self, String> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("{host:?} is not a name TLS can check: {e}"))?;
        let conn = ClientConnection::new(Arc::clone(config), name)
            .map_err(|e| format!("cannot start TLS to {host}: {e}"))?;
        Ok(ClientSession { sock, conn })
    }

    /// Whether sealed bytes wait to be written.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Moves the handshake on as far as the socket allows: what rustls has to send goes out,
    /// and what the socket holds is read and processed, until it would block. `Ok(true)` once
    /// the handshake is done. A socket that would block is not an error here: its readiness
    /// events (kept by the caller) bring the rest.
    pub fn handshake(&mut self) -> io::Result<bool> {
        while self.conn.is_handshaking() {
            match drain(&mut self.conn, &mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.advance() {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(!self.conn.is_handshaking())
    }

    /// Writes what rustls holds sealed until none is left or the socket would block.
    pub fn write_pending(&mut self) -> io::Result<usize> {
        drain(&mut self.conn, &mut self.sock)
    }

    /// Sends `close_notify` as far as the socket takes it now.
    pub fn close_notify(&mut self) {
        self.conn.send_close_notify();
        let _ = drain(&mut self.conn, &mut self.sock);
    }

    /// Reads and processes what the socket has; `Ok(0)` at its end.
    fn advance(&mut self) -> io::Result<usize> {
        let got = read_tls(&mut self.sock, |s| self.conn.read_tls(s))?;
        if let Err(e) = self.conn.process_new_packets() {
            let _ = self.conn.write_tls(&mut self.sock);
            return Err(failed(&format!("TLS error from the backend: {e}")));
        }
        match drain(&mut self.conn, &mut self.sock) {
            Ok(_) => Ok(got),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(got),
            Err(e) => Err(e),
        }
    }
}

impl<S: Read + Write> Read for ClientSession<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            self.advance()?;
        }
    }
}

impl<S: Read + Write> Write for ClientSession<S> {
    /// Seals and writes plaintext; callers move the handshake on with
    /// [`ClientSession::handshake`] first (until then this says `WouldBlock`).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.conn.is_handshaking() && !self.handshake()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut sealer = Sealer {
            conn: &mut self.conn,
            sock: &mut self.sock,
        };
        sealer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
