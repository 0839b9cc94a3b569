//! The request flow: the body from the client to the backend. Held whole first under
//! `ProxyRequestBuffering On` (spilling to `ProxyTempPath` past `ProxyRequestBufferSize`),
//! else streamed with a bound; then written to the backend from blocks or from the file.

use std::io;
use std::os::fd::AsRawFd;

use super::super::reply::Failure;
use super::super::Shared;
use super::link::{backend_failed, note_tls_failure};
use super::stage::Stage;
use super::{Break, Client, Exchange, Resp};
use crate::buf::Spill;
use crate::config::LogLevel;
use crate::http1::{BodyError, BodyReader};

/// Most client reads one `pump_request` call makes (STYLE rule 8: every loop a peer drives
/// has a budget); the connection's step budget then re-queues it.
pub(super) const PUMP_READS: usize = 16;

/// Most request-body bytes queued for a backend that streams them (`ProxyRequestBuffering Off`,
/// or past `ProxyRequestBufferSize`) before the client is no longer read.
pub(super) const REQUEST_STREAM_BUFFER: usize = 256 * 1024;

/// `ProxyRequestBuffering On`: reads the request body before any backend is involved.
/// `Ok(true)` when something moved; `holding` is cleared once the body is in, or as much
/// of it as `ProxyRequestBufferSize` allows.
pub(super) fn hold_request(
    client: &mut impl Client,
    ex: &mut Exchange,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let mut moved = pump_request(client, ex, sh)?;
    moved |= client
        .flush(sh)
        .map_err(|_| Break::Abort("client write failed"))?;
    let b = &ex.cfg.buffering;
    let full = match &ex.bspill {
        Some(spill) => spill.written() >= b.max_temp_file_size,
        None => ex.bout.len() >= b.request_buffer_size && !b.spills(),
    };
    if ex.req_body.is_done() || full {
        ex.stage = Stage::Ready;
        moved = true;
    }
    Ok(moved)
}

/// Where the next request-body bytes go and how many fit: into blocks, or (past
/// `ProxyRequestBufferSize` while holding, and from then on while the file lasts) to the
/// end of a temporary file. `None`: nothing fits now.
pub(super) fn request_room(ex: &mut Exchange) -> Option<(bool, usize)> {
    let b = &ex.cfg.buffering;
    if ex.bspill.as_ref().is_some_and(|s| {
        s.written() >= b.max_temp_file_size && s.pending() == 0 && ex.stage != Stage::Holding
    }) {
        // A full file, sent: the rest streams through blocks.
        ex.bspill = None;
    }
    if let Some(spill) = &ex.bspill {
        let left = usize::try_from(b.max_temp_file_size.saturating_sub(spill.written()))
            .unwrap_or(usize::MAX);
        let room = if ex.stage == Stage::Holding {
            left
        } else {
            let unsent = usize::try_from(spill.pending()).unwrap_or(usize::MAX);
            left.min(REQUEST_STREAM_BUFFER.saturating_sub(unsent))
        };
        return (room > 0).then_some((true, room));
    }
    let held = if ex.stage == Stage::Holding {
        b.request_buffer_size
    } else {
        REQUEST_STREAM_BUFFER
    };
    let room = held.saturating_sub(ex.bout.len());
    if room == 0 && ex.stage == Stage::Holding && b.spills() {
        return Some((true, usize::MAX));
    }
    (room > 0).then_some((false, room))
}

/// Moves request-body bytes from the client to the backend's queue, reading the client when
/// its buffered bytes are used up.
pub(super) fn pump_request(
    client: &mut impl Client,
    ex: &mut Exchange,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let mut moved = false;
    let limit = ex.cfg.limits.request_body;
    let mut reads = 0;
    loop {
        if ex.req_body.is_done() {
            return Ok(moved);
        }
        let Some((to_file, room)) = request_room(ex) else {
            return Ok(moved);
        };
        if client.received().is_empty() && !client.is_readable() {
            return Ok(moved);
        }
        if !to_file && !sh.io.pool.can_fill() {
            if ex.stage == Stage::Holding {
                // Holding must never wait on the pool (held bodies only drain once sent):
                // the backend is asked now and the rest streams.
                ex.stage = Stage::Ready;
                return Ok(true);
            }
            client.starve(sh);
            return Ok(moved);
        }
        let take = client.received().len().min(room);
        let used = ex
            .req_body
            .read_all(&client.received()[..take], |_| {})
            .map_err(|e| match e {
                BodyError::Chunked(e) => Break::Fail(Failure::BadRequestBody(e)),
                BodyError::Truncated => Break::Abort("client closed mid-request-body"),
            })?;
        if limit > 0 && ex.req_body.data_bytes() > limit {
            return Err(Break::Fail(Failure::BodyTooLarge));
        }
        let done = ex.req_body.is_done();
        if used > 0 {
            ex.body_received += used as u64;
            if to_file {
                spill_request(client, ex, used, sh)?;
            } else if ex
                .bout
                .push_slice(&mut sh.io.pool, &client.received()[..used])
                .is_err()
            {
                // The reserve kept by `can_fill` holds `used` (at most one landing read).
                return Err(Break::Fail(Failure::PoolExhausted));
            }
            client.consume(used);
            moved = true;
        }
        if done {
            return Ok(true);
        }
        if !client.received().is_empty() && used > 0 {
            continue;
        }
        if !client.is_readable() {
            return Ok(moved);
        }
        if reads == PUMP_READS {
            // The rest on the next step: a fast uploader must not keep the reactor.
            return Ok(true);
        }
        reads += 1;
        match client.read(sh) {
            Ok(0) => return Err(Break::Abort("client closed mid-request-body")),
            Ok(n) => {
                sh.obs.metrics.bytes_from_clients.add(n as u64);
                moved = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(moved),
            Err(_) => return Err(Break::Abort("client read failed")),
        }
    }
}

/// Appends the first `used` bytes of `cin` to the request's temporary file, made on first use.
pub(super) fn spill_request(
    client: &impl Client,
    ex: &mut Exchange,
    used: usize,
    sh: &mut Shared,
) -> Result<(), Break> {
    if ex.bspill.is_none() {
        let dir = ex.cfg.buffering.temp_path.as_deref().expect("spills");
        let spill = Spill::create(dir).map_err(|e| {
            sh.obs.log.log(
                LogLevel::Error,
                Some(client.peer()),
                format_args!("cannot create a temporary file in {}: {e}", dir.display()),
            );
            Break::Fail(Failure::TempFile)
        })?;
        ex.bspill = Some(spill);
        sh.obs.metrics.spilled_requests.incr();
    }
    sh.obs.metrics.spilled_bytes.add(used as u64);
    let spill = ex.bspill.as_mut().expect("just made");
    spill.append(&client.received()[..used]).map_err(|e| {
        sh.obs.log.log(
            LogLevel::Error,
            Some(client.peer()),
            format_args!("temporary file write failed: {e}"),
        );
        Break::Fail(Failure::TempFile)
    })
}

pub(super) fn send_to_backend(ex: &mut Exchange, sh: &mut Shared) -> Result<bool, Break> {
    let Some(b) = ex.backend else {
        return Ok(false);
    };
    let bc = &mut sh.backends.conns[b];
    if bc.stream.wants_write() && bc.ready.writable {
        // Sealed bytes of a TLS backend the socket did not take at once: the end of the
        // request, or the handshake. A failure shows on the next read.
        match bc.stream.write_pending() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => bc.ready.writable = false,
            Ok(_) | Err(_) => {}
        }
    }
    if !ex.request_unsent() || !bc.ready.writable {
        return Ok(false);
    }
    // A TLS backend's handshake goes first. Its not being done is no sign the socket is
    // full, so the writable flag stays: the read side's progress brings this back.
    let handshake = bc.stream.handshake();
    if let Ok(false) = handshake {
        return Ok(false);
    }
    let written = match handshake {
        Err(e) => Err(e),
        Ok(_) => match ex.bspill.as_mut().filter(|_| ex.bout.is_empty()) {
            Some(spill) if bc.stream.is_tls() => spill.copy_to(&mut bc.stream, &mut sh.io.landing),
            Some(spill) => spill.send_to(bc.stream.as_raw_fd()),
            None => ex.bout.write_to(&mut sh.io.pool, &mut bc.stream),
        },
    };
    if let Err(e) = &written {
        note_tls_failure(e, ex, sh);
    }
    let bc = &mut sh.backends.conns[b];
    match written {
        Ok(n) => {
            ex.t_req.get_or_insert(sh.clock.now);
            sh.obs.metrics.bytes_to_backends.add(n as u64);
            Ok(n > 0)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            bc.ready.writable = false;
            Ok(false)
        }
        Err(_)
            if ex.t_req.is_some() && !ex.req_body.is_done()
                || matches!(ex.resp, Resp::Done { .. })
                || ex.head_sent =>
        {
            // The backend stopped reading the request, as one answering early (413, 401)
            // does before it closes: its answer, read or still to be read, stands. No more
            // of the request goes anywhere, so the client connection closes after it.
            ex.bout.clear(&mut sh.io.pool);
            ex.bspill = None;
            ex.req_body = BodyReader::finished();
            ex.keep_alive = false;
            ex.backend_keeps = false;
            Ok(true)
        }
        Err(_) => Err(backend_failed(ex)),
    }
}
