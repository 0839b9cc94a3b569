//! TLS termination with rustls: a virtual host's server configuration built from its
//! certificate and key files, and a client connection's TLS state, driven without ever blocking
//! over the reactor's non-blocking socket.
//!
//! The certificate follows the virtual hosts. The ClientHello is read first (rustls'
//! `Acceptor`); the caller turns its SNI name into a virtual host exactly as it would a `Host`
//! header, and that host's configuration completes the handshake. The chosen host is kept, so
//! a request whose `Host` names another host can be refused (421).
//!
//! Reads hand out plaintext; writes take plaintext from the reactor's blocks (or a spill file),
//! seal it into at most [`SEAL_CHUNK`] bytes of records at a time and write them at once, so the
//! bytes rustls holds for one connection stay small and are not counted twice. Everything here is
//! generic over `Read + Write`, so tests drive it over in-memory streams.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{Acceptor, ServerConfig, ServerConnection};

use crate::buf::{BufPool, Chain, Spill};
use crate::config::TlsProtocols;

/// Most plaintext bytes sealed into records before they are written out: rustls holds at most
/// this much (plus record overhead) per connection, outside the block pool.
pub const SEAL_CHUNK: usize = 64 << 10;

/// Most records' worth of plaintext one [`ClientTls::send`] seals: a fast client must not keep
/// the reactor to itself.
const SEND_BUDGET: usize = 16;

/// Builds the server configuration of one virtual host: the certificate chain and private key
/// read from PEM files (RSA, ECDSA and Ed25519 keys), checked to belong together; ALPN
/// `http/1.1`; session resumption by tickets and by session IDs.
pub fn server_config(
    cert_file: &Path,
    key_file: &Path,
    protocols: TlsProtocols,
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
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
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
    config.ticketer = provider::Ticketer::new().map_err(|e| format!("no ticket keys: {e}"))?;
    Ok(Arc::new(config))
}

/// What the caller makes of a ClientHello's SNI name: the virtual host it chose and that host's
/// configuration, or why the handshake must fail.
pub type Choice = Result<(usize, Arc<ServerConfig>), String>;

/// A client connection's TLS state.
pub struct ClientTls {
    state: State,
    /// The virtual host the SNI name chose; `None` until the handshake starts, or when the
    /// client sent no name.
    sni_vhost: Option<usize>,
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
            .field("sni_vhost", &self.sni_vhost)
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
            sni_vhost: None,
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

    /// The virtual host the client's SNI name chose, when it sent one.
    pub fn sni_vhost(&self) -> Option<usize> {
        self.sni_vhost
    }

    /// Whether sealed bytes wait to be written.
    pub fn wants_write(&self) -> bool {
        matches!(&self.state, State::Open(conn) if conn.wants_write())
    }

    /// Reads once: plaintext the client sent is appended to `cin` and counted (`Ok(0)`: the
    /// client closed, cleanly or not). Handshake messages are answered on the way; `choose`
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
                    let name = hello.server_name();
                    let has_name = name.is_some();
                    let choice = choose.take().expect("one ClientHello")(name);
                    let (vhost, config) = match choice {
                        Ok(choice) => choice,
                        Err(why) => {
                            self.state = State::Failed;
                            return Err(failed(&why));
                        }
                    };
                    match accepted.into_connection(config) {
                        Ok(conn) => {
                            self.sni_vhost = has_name.then_some(vhost);
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
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
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
            for _ in 0..SEND_BUDGET {
                if spill.pending() == 0 {
                    break;
                }
                let want = landing.len().min(SEAL_CHUNK);
                let n = spill.peek(&mut landing[..want])?;
                match sealer.write(&landing[..n]) {
                    Ok(took) => {
                        spill.advance(took);
                        taken += took;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
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
fn drain<S: Write>(conn: &mut ServerConnection, sock: &mut S) -> io::Result<usize> {
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
struct Sealer<'a, S> {
    conn: &'a mut ServerConnection,
    sock: &'a mut S,
}

impl<S: Write> Write for Sealer<'_, S> {
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
