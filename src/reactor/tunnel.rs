//! A switched-protocol connection (`101 Switching Protocols`, WebSocket and other `Upgrade`s):
//! bytes copied both ways between the client and its backend connection, through blocks, until
//! both sides have closed, with an idle timeout.
//!
//! Each direction ends on its own: the end of one side's input is passed on as a half-close of
//! the other side's output once everything before it is written. The backend connection is
//! never pooled afterwards.

use std::io;
use std::time::Duration;

use super::conn::{Conn, Phase};
use super::Shared;
use crate::buf::{Chain, MAX_READ_BLOCKS};

/// Most bytes held for either direction before the sender is no longer read.
const TUNNEL_BUFFER: usize = 256 * 1024;

/// A tunnel in progress.
#[derive(Debug)]
pub struct Tunnel {
    /// The backend connection (slab index); owned by this client connection.
    backend: usize,
    /// Bytes from the client not yet written to the backend.
    up: Chain,
    /// The client's input ended.
    client_done: bool,
    /// The backend's input ended.
    backend_done: bool,
    /// The backend was told the client's input ended (half-close).
    backend_told: bool,
    /// The client was told the backend's input ended.
    client_told: bool,
    /// Longest time without a byte in either direction.
    idle: Duration,
}

impl Tunnel {
    pub fn new(backend: usize, idle: Duration) -> Tunnel {
        Tunnel {
            backend,
            up: Chain::default(),
            client_done: false,
            backend_done: false,
            backend_told: false,
            client_told: false,
            idle,
        }
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }
}

/// One round of copying; the tunnel ends when both directions have.
pub fn on_tunnel(
    conn: &mut Conn,
    mut t: Box<Tunnel>,
    idx: usize,
    sh: &mut Shared,
) -> (Phase, bool) {
    match round(conn, &mut t, idx, sh) {
        Ok(moved) if t.client_done && t.backend_done && t.backend_told && !conn.owes() => {
            close(&mut t, sh);
            (Phase::Closed, moved)
        }
        Ok(moved) => (Phase::Tunnel(t), moved),
        Err(_) => {
            close(&mut t, sh);
            (Phase::Closed, true)
        }
    }
}

fn round(conn: &mut Conn, t: &mut Tunnel, idx: usize, sh: &mut Shared) -> io::Result<bool> {
    let mut moved = false;
    // Client → backend: what the client sent after its request head, then reads.
    if !conn.cin.is_empty() && t.up.len() < TUNNEL_BUFFER {
        if t.up.push_slice(&mut sh.io.pool, &conn.cin).is_err() {
            conn.starve(idx, sh);
        } else {
            conn.cin.clear();
            moved = true;
        }
    }
    if !t.client_done && conn.cin.is_empty() && t.up.len() < TUNNEL_BUFFER && conn.ready.readable {
        if sh.io.pool.can_fill() {
            match conn.read_client(sh) {
                Ok(0) => {
                    t.client_done = true;
                    moved = true;
                }
                Ok(n) => {
                    sh.obs.metrics.bytes_from_clients.add(n as u64);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.ready.readable = false,
                Err(e) => return Err(e),
            }
        } else {
            conn.starve(idx, sh);
        }
    }
    let bc = &mut sh.backends.conns[t.backend];
    if bc.stream.wants_write() && bc.ready.writable {
        // Sealed bytes of a TLS backend the socket did not take at once.
        match bc.stream.write_pending() {
            Ok(n) => moved |= n > 0,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => bc.ready.writable = false,
            Err(e) => return Err(e),
        }
    }
    if !t.up.is_empty() && bc.ready.writable {
        match t.up.write_to(&mut sh.io.pool, &mut bc.stream) {
            Ok(n) => {
                sh.obs.metrics.bytes_to_backends.add(n as u64);
                moved |= n > 0;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => bc.ready.writable = false,
            Err(e) => return Err(e),
        }
    }
    let backend_has_all = t.up.is_empty() && !bc.stream.wants_write();
    if t.client_done && !t.backend_told && backend_has_all && conn.cin.is_empty() {
        t.backend_told = true;
        let _ = bc.stream.shut_write();
    }
    // Backend → client.
    if !t.backend_done && conn.out.chain.len() < TUNNEL_BUFFER && bc.ready.readable {
        if sh.io.pool.can_fill() {
            let limit = MAX_READ_BLOCKS * sh.io.pool.block_size();
            match conn
                .out
                .chain
                .read_from(&mut sh.io.pool, &mut bc.stream, limit)
            {
                Ok((0, _)) => {
                    t.backend_done = true;
                    moved = true;
                }
                Ok((n, asked)) => {
                    bc.note_read(n, asked);
                    sh.obs.metrics.bytes_from_backends.add(n as u64);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => bc.ready.readable = false,
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => conn.starve(idx, sh),
                Err(e) => return Err(e),
            }
        } else {
            conn.starve(idx, sh);
        }
    }
    moved |= conn.flush(sh)?;
    if t.backend_done && !t.client_told && !conn.owes() {
        t.client_told = true;
        let _ = conn.shut_write();
    }
    Ok(moved)
}

/// Ends the tunnel: the backend connection is closed, the blocks returned.
pub fn close(t: &mut Tunnel, sh: &mut Shared) {
    t.up.clear(&mut sh.io.pool);
    let waiter = sh.backends.close(t.backend, &sh.io.registry);
    if let Some((idx, gen)) = waiter {
        sh.sched.rerun.push_back(super::token::Token::new(
            super::token::Kind::Client,
            idx,
            gen,
        ));
    }
}
