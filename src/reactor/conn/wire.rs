//! A client connection's transport: reading what the client sent (through TLS, answering
//! the handshake on the way), writing what it is owed (blocks, a spliced pipe, a file), ending
//! what we send, and the certificate a ClientHello selects.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;

use super::super::{read_some, Shared};
use super::Conn;
use crate::config::{Config, LogLevel};
use crate::proxy::route;
use crate::reactor::exchange;
use crate::tls::Choice;

impl Conn {
    /// Reads once from the client, appending to `cin` what it sent (the plaintext, on TLS,
    /// answering the handshake on the way); `Ok(0)` when it closed. `ready.readable` stays set
    /// while more may be waiting, in the socket or inside rustls.
    pub fn read_client(&mut self, sh: &mut Shared) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            let asked = sh.io.landing.len();
            let n = read_some(&mut self.client, &mut self.cin, &mut sh.io.landing)?;
            self.ready.note_read(n, asked);
            return Ok(n);
        };
        let was_handshaking = tls.is_handshaking();
        let (cfg, local) = (&sh.cfg, self.local);
        let read = tls.read(
            &mut self.client,
            &mut self.cin,
            &mut sh.io.landing,
            |name| choose_certificate(cfg, local, name),
        );
        if was_handshaking && tls.is_established() {
            sh.obs.metrics.tls_handshakes.incr();
            if tls.is_resumed() {
                sh.obs.metrics.tls_resumed.incr();
            }
        }
        if let Err(e) = &read {
            if e.kind() == io::ErrorKind::InvalidData {
                if was_handshaking {
                    sh.obs.metrics.tls_handshake_failures.incr();
                } else {
                    sh.obs.metrics.tls_errors.incr();
                }
                sh.obs
                    .log
                    .log(LogLevel::Info, Some(self.peer), format_args!("{e}"));
            }
        }
        read
    }

    /// Writes what the client is owed: the blocks, then what was spilled to disk (with
    /// sendfile) or what is in the pipe (with splice); `Ok(true)` when bytes moved.
    pub fn flush(&mut self, sh: &mut Shared) -> io::Result<bool> {
        if !self.owes() || !self.ready.writable {
            return Ok(false);
        }
        if let Some(tls) = &mut self.tls {
            let sent = tls.send(
                &mut self.client,
                &mut self.out.chain,
                &mut sh.io.pool,
                self.out.spill.as_mut(),
                &mut sh.io.landing,
            );
            return match sent {
                Ok((n, wrote)) => {
                    sh.obs.metrics.bytes_to_clients.add(n as u64);
                    Ok(wrote)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.ready.writable = false;
                    Ok(false)
                }
                Err(e) => Err(e),
            };
        }
        let written = if !self.out.chain.is_empty() {
            self.out.chain.write_to(&mut sh.io.pool, &mut self.client)
        } else if let Some(pipe) = self.out.pipe.as_mut().filter(|p| p.held() > 0) {
            pipe.drain_to(self.client.as_raw_fd())
        } else {
            let spill = self.out.spill.as_mut().expect("owed bytes are spilled");
            spill.send_to(self.client.as_raw_fd())
        };
        match written {
            Ok(n) => {
                sh.obs.metrics.bytes_to_clients.add(n as u64);
                Ok(n > 0)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.ready.writable = false;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Ends what we send, after a complete answer: `close_notify` on TLS, then FIN.
    pub fn shut_write(&mut self) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            tls.close_notify(&mut self.client);
        }
        self.client.shutdown(Shutdown::Write)
    }
}

/// The TLS configuration for a ClientHello naming `name` that arrived at `local`: the virtual
/// host the name selects, as a `Host` header would, and its certificate.
fn choose_certificate(cfg: &Config, local: SocketAddr, name: Option<&str>) -> Choice {
    let vhost = route::select_vhost(cfg, local, name.map(str::as_bytes));
    let strict = exchange::is_strict(cfg, vhost);
    if strict && !name.is_some_and(|n| route::is_named(&cfg.vhosts[vhost], n.as_bytes())) {
        return Err(format!(
            "TLS handshake refused (SSLStrictSNIVHostCheck): {} names no virtual host at {local}",
            name.map_or_else(
                || "a client without SNI".to_owned(),
                |n| format!("SNI {n:?}")
            )
        ));
    }
    match cfg.tls.get(vhost).and_then(Option::clone) {
        Some(config) => Ok(config),
        None => Err(format!(
            "TLS handshake refused: the server selected for {} at {local} has no SSLEngine On",
            name.map_or_else(
                || "a client without SNI".to_owned(),
                |n| format!("SNI {n:?}")
            )
        )),
    }
}
