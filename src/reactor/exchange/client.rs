//! The client side of an exchange: what the exchange reads its request body from and hands its
//! response to. The exchange never names the connection that carries it; an HTTP/1 connection
//! implements [`Client`] now, and an HTTP/2 stream can implement it too.
//!
//! What is owed to the client is an [`Outbox`]: blocks, then what spilled to a file, then what
//! is in a splice pipe. The exchange fills it; the client side writes it out in that order.

use std::io;
use std::net::SocketAddr;

use super::super::token::{Kind, Token};
use super::super::Shared;
use crate::buf::{Chain, Pipe, Spill};
use crate::config::Scheme;
use crate::http1::request::RequestHead;

/// The bytes a response owes its client, in the order they go out.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Bytes in blocks: heads, and bodies read from the backend.
    pub chain: Chain,
    /// The spilled part of the response (or a cached body read from its file), owed after the
    /// blocks.
    pub spill: Option<Spill>,
    /// The pipe the response's body is spliced through, owed after the blocks.
    pub pipe: Option<Pipe>,
}

impl Outbox {
    /// Bytes owed and not yet written: in blocks, in the pipe, and spilled.
    pub fn held(&self) -> usize {
        self.chain.len()
            + self.pipe.as_ref().map_or(0, Pipe::held)
            + self
                .spill
                .as_ref()
                .map_or(0, |s| usize::try_from(s.pending()).unwrap_or(usize::MAX))
    }

    /// Whether any byte is owed.
    pub fn is_owing(&self) -> bool {
        !self.chain.is_empty()
            || self.spill.as_ref().is_some_and(|s| s.pending() > 0)
            || self.pipe.as_ref().is_some_and(|p| p.held() > 0)
    }
}

/// Where an exchange's request comes from and its response goes.
pub trait Client {
    /// The connection's slab index and generation: names it in wait queues and as the owner of
    /// a backend connection.
    fn id(&self) -> (usize, u32);

    /// The token the reactor re-runs the client side by.
    fn token(&self) -> Token {
        let (idx, gen) = self.id();
        Token::new(Kind::Client, idx, gen)
    }

    fn peer(&self) -> SocketAddr;

    fn local(&self) -> SocketAddr;

    fn scheme(&self) -> Scheme;

    /// `None` on a plain connection; on TLS, the SNI name the client sent, if it sent one.
    fn tls_sni(&self) -> Option<Option<&str>>;

    /// Whether the connection may carry another exchange after this request.
    fn may_keep_alive(&self, head: &RequestHead, sh: &Shared) -> bool;

    /// Request bytes received and not consumed yet (the body's, and what follows it).
    fn received(&self) -> &[u8];

    /// The first `n` bytes of [`Client::received`] were taken.
    fn consume(&mut self, n: usize);

    /// Whether a read may find more bytes (none is tried otherwise).
    fn is_readable(&self) -> bool;

    /// Reads once, appending to [`Client::received`]; `Ok(0)` when the client closed.
    fn read(&mut self, sh: &mut Shared) -> io::Result<usize>;

    /// The pool is too short to read on: the client side waits for returned blocks.
    fn starve(&mut self, sh: &mut Shared);

    fn outbox(&self) -> &Outbox;

    fn out(&mut self) -> &mut Outbox;

    /// Whether anything is owed to the client (in the outbox, or in the transport).
    fn owes(&self) -> bool;

    /// Writes what is owed; `Ok(true)` when bytes moved.
    fn flush(&mut self, sh: &mut Shared) -> io::Result<bool>;

    /// Whether body bytes may go to the client with splice(2) (a plain socket).
    fn may_splice(&self) -> bool;

    /// A response that started cannot be completed: the client must see it broken, never
    /// complete (a reset, not a FIN).
    fn cut_off(&mut self, sh: &mut Shared);

    /// The kernel's send queue towards the client, when it can be read.
    fn send_queue(&self) -> Option<u64>;
}
