//! The backend link of an exchange: getting a connection (pooled, new, or a place in the
//! queue of `max=`), the resolver for forward-proxied names, connecting address after address,
//! replaying on a fresh connection, marking a backend down, and closing or releasing it.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;

use super::super::backend::{connect_result, ConnectResult, Link, Unavailable};
use super::super::reply::Failure;
use super::super::resolve::Resolver;
use super::super::token::{Kind, Token};
use super::super::{Ready, Shared};
use super::stage::{Stage, Wait};
use super::{fail, Break, Client, Exchange, Next};
use crate::config::LogLevel;

/// Gets a backend connection for the exchange: pooled (unless `fresh`), new, or a place in the
/// queue of `max=`.
pub(super) fn acquire(
    client: &mut impl Client,
    mut ex: Box<Exchange>,
    fresh: bool,
    sh: &mut Shared,
) -> Next {
    if !Arc::ptr_eq(&ex.cfg, &sh.cfg) {
        // The configuration was reloaded while this exchange waited or replayed: its backend
        // numbering is not the pool's any more.
        return fail(client, ex, Failure::BackendClosed, sh);
    }
    if mem::take(&mut ex.miss) {
        sh.obs.metrics.cache_misses.incr();
    }
    if let Some(forward) = ex.forward.as_mut().filter(|f| f.addrs.is_empty()) {
        if forward.answered {
            return fail(client, ex, Failure::ResolveFailed, sh);
        }
        sh.resolve.asked += 1;
        let (token, ask) = (client.token(), sh.resolve.asked);
        let asked = match &mut sh.resolve.resolver {
            Some(resolver) => resolver.ask(token, ask, &forward.host, forward.port),
            None => match Resolver::start(Arc::clone(&sh.resolve.waker)) {
                Ok(mut resolver) => {
                    let asked = resolver.ask(token, ask, &forward.host, forward.port);
                    sh.resolve.resolver = Some(resolver);
                    asked
                }
                Err(e) => {
                    sh.obs.log.log(
                        LogLevel::Error,
                        None,
                        format_args!("cannot start the resolver thread: {e}"),
                    );
                    false
                }
            },
        };
        if !asked {
            return fail(client, ex, Failure::ResolveFailed, sh);
        }
        ex.stage = Stage::Waiting(Wait::Resolver(ask));
        return Next::Continue(ex);
    }
    ex.t_connect = sh.clock.now;
    ex.t_connected = None;
    let ask = ex.ask(client.id().0);
    match sh
        .backends
        .acquire(&ask, fresh, sh.clock.now, &mut sh.io.gen, &sh.io.registry)
    {
        Ok(b) => {
            let bc = &sh.backends.conns[b];
            ex.backend = Some(b);
            ex.backend_addr = Some(bc.peer);
            ex.reused = bc.served > 0;
            if ex.reused {
                ex.t_connected = Some(sh.clock.now);
                ex.stage = Stage::Exchanging;
            } else {
                // Only a reused connection's failure may be replayed.
                ex.replay = None;
                ex.stage = Stage::Connecting;
            }
            Next::Continue(ex)
        }
        Err(Unavailable::Full) => {
            sh.backends.wait(ex.backend_id, client.id());
            ex.stage = Stage::Waiting(Wait::Queue);
            Next::Continue(ex)
        }
        Err(Unavailable::Down) => {
            let wait = sh
                .backends
                .down_for(ex.backend_id, sh.clock.now)
                .unwrap_or_default();
            fail(client, ex, Failure::BackendDown(wait), sh)
        }
        Err(Unavailable::Connect(e)) => {
            let name = ex.backend_name();
            sh.obs.log.log(
                LogLevel::Error,
                Some(client.peer()),
                format_args!("connect to {name} failed: {e}"),
            );
            mark_down(&ex, sh);
            fail(client, ex, Failure::ConnectFailed, sh)
        }
    }
}

pub(super) fn mark_down(ex: &Exchange, sh: &mut Shared) {
    if !Arc::ptr_eq(&ex.cfg, &sh.cfg) {
        // Reloaded meanwhile: the pool's backend numbering is not this exchange's.
        return;
    }
    let retry = ex.cfg.backends[ex.backend_id].params.retry;
    if !retry.is_zero() {
        sh.backends.mark_down(ex.backend_id, sh.clock.now + retry);
    }
}

/// Closes the exchange's backend connection (it did not finish cleanly).
pub(super) fn drop_backend(ex: &mut Exchange, sh: &mut Shared) {
    if let Some(b) = ex.backend.take() {
        let waiter = sh.backends.close(b, &sh.io.registry);
        wake(waiter, sh);
    }
}

/// Puts a client connection that waited for a backend connection on the re-run queue.
pub(super) fn wake(waiter: Option<(usize, u32)>, sh: &mut Shared) {
    if let Some((idx, gen)) = waiter {
        sh.sched.rerun.push_back(Token::new(Kind::Client, idx, gen));
    }
}

/// A waiting exchange gives up its place; if a release already woke it, the wake-up goes to
/// the next waiter instead of being lost.
pub(super) fn leave_queue(ex: &Exchange, me: (usize, u32), sh: &mut Shared) {
    if !Arc::ptr_eq(&ex.cfg, &sh.cfg) {
        return;
    }
    if sh.backends.is_waiting(ex.backend_id, me) {
        sh.backends.unwait(ex.backend_id, me);
    } else {
        let next = sh.backends.next_waiter(ex.backend_id);
        wake(next, sh);
    }
}

/// The resolver's answer to question `ask` for a waiting exchange of the client at `peer`:
/// true when the exchange was waiting for that answer and must be driven (an answer to an
/// earlier request's question is dropped).
pub fn on_resolved(
    ex: &mut Exchange,
    peer: SocketAddr,
    ask: u64,
    addrs: io::Result<Vec<SocketAddr>>,
    sh: &mut Shared,
) -> bool {
    if ex.stage != Stage::Waiting(Wait::Resolver(ask)) {
        return false;
    }
    let Some(forward) = ex.forward.as_mut() else {
        return false;
    };
    ex.stage = Stage::Ready;
    forward.answered = true;
    match addrs {
        Ok(addrs) if !addrs.is_empty() => forward.addrs = addrs,
        Ok(_) | Err(_) => {
            let why = addrs
                .err()
                .map_or("no address".to_owned(), |e| e.to_string());
            let name = ex.backend_name();
            sh.obs.log.log(
                LogLevel::Info,
                Some(peer),
                format_args!("cannot resolve {name}: {why}"),
            );
        }
    }
    true
}

/// mio's connect steps after an event; a failed address moves on to the next one.
pub(super) fn finish_connect(
    client: &mut impl Client,
    ex: &mut Exchange,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let b = ex.backend.expect("connecting has a backend");
    let bc = &mut sh.backends.conns[b];
    let Link::Connecting { addr } = bc.link else {
        ex.t_connected = Some(sh.clock.now);
        ex.stage = Stage::Exchanging;
        return Ok(true);
    };
    if !bc.ready.writable && !bc.ready.readable {
        return Ok(false);
    }
    match connect_result(bc.stream.tcp()) {
        ConnectResult::Connected => {
            bc.link = Link::Open;
            ex.t_connected = Some(sh.clock.now);
            ex.stage = Stage::Exchanging;
            Ok(true)
        }
        ConnectResult::Pending => {
            bc.ready = Ready::default();
            Ok(false)
        }
        ConnectResult::Failed(e) => {
            let name = ex.backend_name();
            sh.obs.log.log(
                LogLevel::Error,
                Some(client.peer()),
                format_args!("connect to {name} ({}) failed: {e}", bc.peer),
            );
            drop_backend(ex, sh);
            if !Arc::ptr_eq(&ex.cfg, &sh.cfg) {
                // Reloaded meanwhile: the pool's backend numbering is not this exchange's.
                return Err(Break::Fail(Failure::ConnectFailed));
            }
            let ask = ex.ask(client.id().0);
            let next = (addr + 1..ask.addrs.len()).find_map(|i| {
                let (now, gen, registry) = (sh.clock.now, &mut sh.io.gen, &sh.io.registry);
                let nb = sh
                    .backends
                    .start_connect(&ask, i, now, gen, registry)
                    .ok()?;
                Some((nb, ask.addrs[i]))
            });
            if let Some((nb, peer)) = next {
                ex.backend = Some(nb);
                ex.backend_addr = Some(peer);
                return Ok(true);
            }
            mark_down(ex, sh);
            Err(Break::Fail(Failure::ConnectFailed))
        }
    }
}

/// What a backend I/O failure means at this point of the exchange.
/// Logs why TLS to the backend failed (a certificate that does not verify, an alert): the
/// answer the client gets (502, or a cut-off) does not say.
pub(super) fn note_tls_failure(e: &io::Error, ex: &Exchange, sh: &mut Shared) {
    if e.kind() == io::ErrorKind::InvalidData {
        sh.obs.metrics.backend_tls_errors.incr();
        sh.obs.log.log(
            LogLevel::Error,
            None,
            format_args!("{}: {e}", ex.backend_name()),
        );
    }
}

pub(super) fn backend_failed(ex: &Exchange) -> Break {
    if ex.reused && ex.t_first.is_none() && ex.replay.is_some() {
        Break::Retry("pooled backend connection failed before answering")
    } else if ex.head_sent {
        Break::Abort("backend connection failed mid-response")
    } else {
        Break::Fail(Failure::BackendClosed)
    }
}
