//! TLS termination with rustls: a client connection's TLS state, and a backend connection's,
//! driven without ever blocking over the reactor's non-blocking socket. The configurations
//! they run on are built in [`setup`] (when the configuration is read, so that `spoonfeed -t`
//! finds a bad certificate); the cipher suites' names are in [`ciphers`]. Neither names the
//! configuration: `config` calls them, never the other way round.
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

pub mod ciphers;
pub mod setup;

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::server::{Acceptor, ServerConfig, ServerConnection};
use rustls::{ClientConfig, ClientConnection};

use crate::buf::{BufPool, Chain, Spill};

/// Most plaintext bytes sealed into records before they are written out: rustls holds at most
/// this much (plus record overhead) per connection, outside the block pool.
pub const SEAL_CHUNK: usize = 64 << 10;

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
