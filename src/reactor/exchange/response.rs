//! The response flow: the backend's response head parsed (interim ones passed on, a `101`
//! into a tunnel) and rewritten for the client, then its body read as fast as the backend
//! sends it: into the client's blocks, to a spill file past the memory budget, de-chunked for
//! an HTTP/1.0 client, or spliced through a pipe, always within `ProxyResponseBufferSize`
//! ahead of the client.

use std::io::{self, Read};
use std::mem;
use std::os::fd::AsRawFd;

use super::super::cached;
use super::super::reply::Failure;
use super::super::{read_some, Shared};
use super::cache::{cache_response, revalidated, serve_stale};
use super::link::{backend_failed, note_tls_failure};
use super::stage::Stage;
use super::{via_by, via_mode, with_rewrite, Break, Client, Exchange, Resp};
use crate::buf::{Exhausted, Spill, MAX_READ_BLOCKS};
use crate::config::{LogLevel, SpliceMode};
use crate::http1::chunked::ChunkedLimits;
use crate::http1::response::{
    parse_response_incremental, response_body, ResponseBody, ResponseHead,
};
use crate::http1::{BodyError, BodyReader};
use crate::http1::{HeadProgress, Version};
use crate::proxy::forward::{encode_client_response, ClientFraming, ClientResponse};

/// Largest backend response head; a larger one is a 502.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Most header fields in a backend response head; more is a 502.
pub const MAX_RESPONSE_FIELDS: usize = 256;

/// Interim (1xx) responses accepted before the final one; more is a 502.
pub(super) const MAX_INTERIM_RESPONSES: u32 = 16;

/// Reads the backend: the response head into `bin`, then the body straight into the client's
/// blocks, as long as fewer than `resp_limit` bytes wait for the client and the pool has
/// blocks to spare (else the backend waits: back-pressure).
pub(super) fn read_backend(
    client: &mut impl Client,
    ex: &mut Exchange,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let Some(b) = ex.backend else {
        return Ok(false);
    };
    if !sh.backends.conns[b].ready.readable
        || matches!(ex.resp, Resp::Done { .. } | Resp::Upgraded)
        || ex.stage == Stage::Connecting
    {
        return Ok(false);
    }
    if client.out().pipe.is_some() && !matches!(ex.resp, Resp::Head) {
        return splice_backend(client, ex, b, sh);
    }
    // A full temporary file, once sent, is let go: the response goes on through blocks, and
    // may spill again.
    let max_spill = ex.cfg.buffering.max_temp_file_size;
    if client
        .outbox()
        .spill
        .as_ref()
        .is_some_and(|s| s.written() >= max_spill && s.pending() == 0)
    {
        client.out().spill = None;
    }
    // Past the memory budget the rest of the response spills to disk, where that is allowed;
    // otherwise (and past the spill budget) the backend waits.
    if client.out().spill.is_none() && client.out().chain.len() >= ex.resp_limit {
        if !ex.spill_ok || matches!(ex.resp, Resp::Head) {
            return Ok(false);
        }
        let dir = ex.cfg.buffering.temp_path.as_deref().expect("spill_ok");
        match Spill::create(dir) {
            Ok(spill) => {
                client.out().spill = Some(spill);
                if !ex.spilled {
                    ex.spilled = true;
                    sh.obs.metrics.spilled_responses.incr();
                }
            }
            Err(e) => {
                sh.obs.log.log(
                    LogLevel::Error,
                    Some(client.peer()),
                    format_args!(
                        "cannot create a temporary file in {}: {e}; holding the backend instead",
                        dir.display()
                    ),
                );
                ex.spill_ok = false;
                return Ok(false);
            }
        }
    }
    if let Some(spill) = &client.out().spill {
        if spill.written() >= max_spill {
            return Ok(false);
        }
    } else if !sh.io.pool.can_fill() {
        client.starve(sh);
        return Ok(false);
    }
    if matches!(ex.resp, Resp::Head) {
        let bc = &mut sh.backends.conns[b];
        let asked = sh.io.landing.len();
        return match read_some(&mut bc.stream, &mut ex.bin, &mut sh.io.landing) {
            Ok(0) if ex.bin.is_empty() => Err(backend_failed(ex)),
            Ok(0) => Err(Break::Fail(Failure::BadResponse(
                "connection closed inside the response head",
            ))),
            Ok(n) => {
                bc.note_read(n, asked);
                sh.obs.metrics.bytes_from_backends.add(n as u64);
                ex.t_first.get_or_insert(sh.clock.now);
                parse_head(client, ex, sh)?;
                ex.peak = ex.peak.max(client.out().chain.len());
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                bc.ready.readable = false;
                Ok(false)
            }
            Err(e) => {
                note_tls_failure(&e, ex, sh);
                Err(backend_failed(ex))
            }
        };
    }
    if client.out().spill.is_some() || matches!(ex.resp, Resp::Body { dechunk: true, .. }) {
        return read_via_landing(client, ex, b, sh);
    }
    let bc = &mut sh.backends.conns[b];
    let block = sh.io.pool.block_size();
    // Bodies of every kind are read up to several blocks at a time (never just the bytes
    // still due), so that a short read tells the socket is drained; bytes past the end of a
    // body are cut off and make the connection unusable. A streamed response reads a block.
    let room = ex
        .resp_limit
        .saturating_sub(client.out().chain.len())
        .max(block);
    let limit = room.min(MAX_READ_BLOCKS * block);
    let result = client
        .out()
        .chain
        .read_from(&mut sh.io.pool, &mut bc.stream, limit);
    match result {
        Ok((0, _)) => backend_closed(ex),
        Ok((n, asked)) => {
            sh.backends.conns[b].note_read(n, asked);
            sh.obs.metrics.bytes_from_backends.add(n as u64);
            ex.body_bytes += n as u64;
            body_in_tail(client, ex, n, sh)?;
            ex.peak = ex.peak.max(client.out().chain.len());
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            sh.backends.conns[b].ready.readable = false;
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
            client.starve(sh);
            Ok(false)
        }
        Err(_) => Err(Break::Abort("backend read failed mid-response")),
    }
}

/// Reads body bytes into the landing buffer and passes them through `body_slice`: for
/// de-chunking, and for responses spilling to disk.
pub(super) fn read_via_landing(
    client: &mut impl Client,
    ex: &mut Exchange,
    b: usize,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let bc = &mut sh.backends.conns[b];
    let mut landing = mem::take(&mut sh.io.landing);
    // A spill file takes no more than its budget has left.
    let room = client.out().spill.as_ref().map_or(usize::MAX, |s| {
        usize::try_from(
            ex.cfg
                .buffering
                .max_temp_file_size
                .saturating_sub(s.written()),
        )
        .unwrap_or(usize::MAX)
    });
    let asked = landing.len().min(room);
    let r = bc.stream.read(&mut landing[..asked]);
    if let Ok(n) = r {
        bc.note_read(n, asked);
    }
    let passed = match r {
        Ok(n) if n > 0 => {
            sh.obs.metrics.bytes_from_backends.add(n as u64);
            body_slice(client, ex, &landing[..n], sh)
        }
        _ => Ok(()),
    };
    ex.peak = ex.peak.max(client.out().chain.len());
    sh.io.landing = landing;
    passed?;
    match r {
        Ok(0) => backend_closed(ex),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            sh.backends.conns[b].ready.readable = false;
            Ok(false)
        }
        Err(_) => Err(Break::Abort("backend read failed mid-response")),
    }
}

/// Queues body bytes for the client: in blocks, or, once the response has spilled, at the
/// end of its temporary file (bytes keep their order: the blocks are written first).
pub(super) fn put(client: &mut impl Client, bytes: &[u8], sh: &mut Shared) -> Result<(), Break> {
    match &mut client.out().spill {
        Some(spill) => {
            sh.obs.metrics.spilled_bytes.add(bytes.len() as u64);
            spill
                .append(bytes)
                .map_err(|_| Break::Abort("temporary file write failed"))
        }
        None => client
            .out()
            .chain
            .push_slice(&mut sh.io.pool, bytes)
            .map_err(exhausted),
    }
}

/// Blocks ran out mid-response (the reserve is sized so that this does not happen).
pub(super) fn exhausted(_: Exhausted) -> Break {
    Break::Abort("buffer pool exhausted mid-response")
}

/// The backend closed its connection mid-body: the end of a body delimited by the close, or
/// a response cut short.
fn backend_closed(ex: &mut Exchange) -> Result<bool, Break> {
    let Resp::Body { reader, .. } = &mut ex.resp else {
        return Err(Break::Abort("backend closed mid-response"));
    };
    reader
        .on_eof()
        .map_err(|_| Break::Abort("backend closed before the end of the response body"))?;
    ex.resp = Resp::Done { reusable: false };
    Ok(true)
}

/// The response body's framing from the backend was invalid.
fn bad_framing(_: BodyError) -> Break {
    Break::Abort("invalid chunked framing from backend")
}

/// Accounts for `n` body bytes just read into the tail of the client's chain: the reader
/// takes them a block at a time (the cache fill gets their data), and bytes past the end of
/// the body are cut off again.
pub(super) fn body_in_tail(
    client: &mut impl Client,
    ex: &mut Exchange,
    n: usize,
    sh: &mut Shared,
) -> Result<(), Break> {
    let Resp::Body {
        reader,
        dechunk: false,
    } = &mut ex.resp
    else {
        unreachable!("bytes are read into the tail only for a body passed through")
    };
    let fill = &mut ex.fill;
    let mut used = 0;
    let mut failed = None;
    client.out().chain.for_tail(n, |bytes| {
        match reader.read_all(bytes, |data| cached::Fill::write(fill, data)) {
            Ok(took) => used += took,
            Err(e) => failed = Some(e),
        }
        failed.is_none()
    });
    if let Some(e) = failed {
        return Err(bad_framing(e));
    }
    if reader.is_done() {
        let reusable = reader.reusable();
        let extra = n - used;
        client.out().chain.truncate_tail(&mut sh.io.pool, extra);
        ex.body_bytes -= extra as u64;
        ex.resp = Resp::Done { reusable };
    }
    Ok(())
}

/// Accounts for body bytes that arrived in a separate buffer (after the head, or for
/// de-chunking): queues for the client what belongs to the body, or only its data when the
/// body is de-chunked.
pub(super) fn body_slice(
    client: &mut impl Client,
    ex: &mut Exchange,
    bytes: &[u8],
    sh: &mut Shared,
) -> Result<(), Break> {
    let Resp::Body { reader, dechunk } = &mut ex.resp else {
        return Ok(());
    };
    if *dechunk {
        let mut used = 0;
        while used < bytes.len() && !reader.is_done() {
            let step = reader.read(&bytes[used..]).map_err(bad_framing)?;
            if let Some(data) = step.data {
                let piece = data.of(&bytes[used..]);
                cached::Fill::write(&mut ex.fill, piece);
                put(client, piece, sh)?;
                ex.body_bytes += piece.len() as u64;
            }
            if step.consumed == 0 {
                break;
            }
            used += step.consumed;
        }
    } else {
        let fill = &mut ex.fill;
        let used = reader
            .read_all(bytes, |data| cached::Fill::write(fill, data))
            .map_err(bad_framing)?;
        put(client, &bytes[..used], sh)?;
        ex.body_bytes += used as u64;
    }
    if reader.is_done() {
        ex.resp = Resp::Done {
            reusable: reader.reusable(),
        };
    }
    Ok(())
}

/// Parses response heads in `bin`: interim (1xx) ones are passed on or dropped, the final one
/// is rewritten for the client and the bytes after it start the body.
pub(super) fn parse_head(
    client: &mut impl Client,
    ex: &mut Exchange,
    sh: &mut Shared,
) -> Result<(), Break> {
    loop {
        let head = match parse_response_incremental(
            &ex.bin,
            MAX_RESPONSE_HEAD,
            MAX_RESPONSE_FIELDS,
            &mut ex.bin_progress,
        ) {
            Ok(Some(head)) => head,
            Ok(None) if ex.bin.len() >= MAX_RESPONSE_HEAD => {
                return Err(Break::Fail(Failure::BadResponse("response head too large")))
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(Break::Fail(Failure::BadResponse(e.reason()))),
        };
        if head.status == 101 {
            if !ex.upgrade {
                return Err(Break::Fail(Failure::BadResponse(
                    "101 Switching Protocols without an upgrade request",
                )));
            }
            return switch_protocols(client, ex, head, sh);
        }
        if (100..200).contains(&head.status) {
            ex.interim += 1;
            if ex.interim > MAX_INTERIM_RESPONSES {
                return Err(Break::Fail(Failure::BadResponse(
                    "too many interim responses",
                )));
            }
            // 100 Continue was ours to send; other interim responses go to HTTP/1.1 clients.
            if head.status != 100 && ex.client_version == Version::Http11 {
                encode_for_client(client, ex, &head, ClientFraming::AsIs, true, None, sh)?;
            }
            ex.bin.drain(..head.head_len);
            ex.bin_progress = HeadProgress::default();
            continue;
        }
        let body = response_body(&ex.bin, &head, ex.method)
            .map_err(|e| Break::Fail(Failure::BadResponse(e.reason())))?;
        let client_11 = ex.client_version == Version::Http11;
        // An HTTP/1.0 client is sent a chunked body's data alone, until the close.
        let (framing, dechunk) = match body {
            ResponseBody::Empty => (ClientFraming::AsIs, false),
            ResponseBody::Length(n) => (ClientFraming::Length(n), false),
            ResponseBody::Chunked if client_11 => (ClientFraming::Chunked, false),
            ResponseBody::Chunked => (ClientFraming::UntilClose, true),
            ResponseBody::UntilClose => (ClientFraming::UntilClose, false),
        };
        let delimited = framing != ClientFraming::UntilClose;
        let resp = match body {
            ResponseBody::Empty | ResponseBody::Length(0) => Resp::Done { reusable: true },
            _ => Resp::Body {
                reader: BodyReader::new(body.into(), ChunkedLimits::DEFAULT),
                dechunk,
            },
        };
        let backend_keeps = head.is_keep_alive();
        let resp = match resp {
            Resp::Done { .. } => Resp::Done {
                reusable: backend_keeps,
            },
            other => other,
        };
        ex.keep_alive &= delimited && !sh.draining;
        ex.status = head.status;
        let keep_alive = ex.keep_alive;
        let streaming = !ex.cfg.backends[ex.backend_id].params.buffering || streams(&ex.bin, &head);
        if streaming {
            ex.resp_limit = sh.io.pool.block_size();
            ex.spill_ok = false;
            sh.obs.metrics.streamed.incr();
        }
        // A failing backend (RFC 5861's errors) and a stale entry that stale-if-error lets
        // answer: the entry answers; the error's body is not read, so its connection closes.
        if matches!(head.status, 500 | 502 | 503 | 504)
            && ex.stale.is_some()
            && serve_stale(client, ex, sh)
        {
            ex.resp = Resp::Done { reusable: false };
            ex.backend_keeps = false;
            let mut bytes = mem::take(&mut ex.bin);
            bytes.truncate(head.head_len);
            ex.resp_head = Some((bytes, head));
            return Ok(());
        }
        if ex.revalidating && head.status == 304 {
            revalidated(client, ex, &head, sh)?;
            ex.resp = resp;
            let mut bytes = mem::take(&mut ex.bin);
            let stray = bytes.len() > head.head_len;
            bytes.truncate(head.head_len);
            ex.backend_keeps = backend_keeps && !stray;
            ex.resp_head = Some((bytes, head));
            return Ok(());
        }
        cache_response(ex, &head, &body, streaming, sh);
        encode_for_client(client, ex, &head, framing, keep_alive, None, sh)?;
        ex.head_sent = true;
        // The bytes after the head start the body; they are passed on from where they are,
        // and the buffer then keeps only the head (its spans serve the access log).
        let mut bytes = mem::take(&mut ex.bin);
        let rest_len = bytes.len() - head.head_len;
        let stray = matches!(resp, Resp::Done { .. }) && rest_len > 0;
        ex.resp = resp;
        let sliced = if rest_len > 0 {
            body_slice(client, ex, &bytes[head.head_len..], sh)
        } else {
            Ok(())
        };
        bytes.truncate(head.head_len);
        ex.resp_head = Some((bytes, head));
        sliced?;
        ex.backend_keeps = backend_keeps && !stray;
        if !streaming {
            choose_splice(client, ex, sh);
        }
        return Ok(());
    }
}

/// Smallest body `ProxySplice Auto` splices: below it a pipe's two extra system calls per
/// round cost more than the copy through a block they save (see the README's measurements).
pub(super) const SPLICE_MIN: u64 = 64 * 1024;

/// Puts the rest of a `Content-Length` body on a pipe when `ProxySplice` says so: it goes
/// backend → pipe → client with splice(2), never copied into user space. Never on TLS, on
/// either side: the bytes must be opened or sealed in user space.
pub(super) fn choose_splice(client: &mut impl Client, ex: &Exchange, sh: &mut Shared) {
    let Some(rem) = (match &ex.resp {
        Resp::Body { reader, .. } => reader.remaining(),
        _ => None,
    }) else {
        return;
    };
    let backend_tls = ex
        .backend
        .is_some_and(|b| sh.backends.conns[b].stream.is_tls());
    // A body being stored in the cache must pass through user space too.
    if !client.may_splice() || backend_tls || ex.fill.is_some() {
        return;
    }
    let wanted = match ex.cfg.buffering.splice {
        SpliceMode::Off => false,
        SpliceMode::On => true,
        SpliceMode::Auto => rem >= SPLICE_MIN && rem <= sh.io.pipes.capacity() as u64,
    };
    if wanted {
        if let Some(pipe) = sh.io.pipes.take() {
            client.out().pipe = Some(pipe);
            sh.obs.metrics.spliced.incr();
        }
    }
}

/// Splices body bytes from the backend into the exchange's pipe.
pub(super) fn splice_backend(
    client: &mut impl Client,
    ex: &mut Exchange,
    b: usize,
    sh: &mut Shared,
) -> Result<bool, Break> {
    let out = client.out();
    let pipe = out.pipe.as_mut().expect("splicing");
    let Resp::Body { reader, .. } = &mut ex.resp else {
        unreachable!("only bodies under way are spliced")
    };
    let rem = reader
        .remaining()
        .expect("only Content-Length bodies are spliced");
    if pipe.room() == 0 {
        return Ok(false);
    }
    let bc = &mut sh.backends.conns[b];
    let want = usize::try_from(rem).unwrap_or(usize::MAX);
    // No short-read rule here: a pipe may run out of slots before bytes, so a short splice
    // does not say the socket is drained. Only EAGAIN into an empty pipe does.
    match pipe.fill_from(bc.stream.as_raw_fd(), want) {
        Ok((0, _)) => Err(Break::Abort(
            "backend closed before the end of the response body",
        )),
        Ok((n, _)) => {
            reader.advance(n as u64);
            ex.body_bytes += n as u64;
            sh.obs.metrics.bytes_from_backends.add(n as u64);
            ex.peak = ex.peak.max(out.chain.len() + pipe.held());
            if reader.is_done() {
                // A connection to be reused must hold nothing past the body; splicing reads
                // exactly the body, so a peek tells the reader what follows it.
                let mut probe = [0u8; 1];
                match bc.stream.tcp().peek(&mut probe) {
                    Ok(n) if n > 0 => {
                        let _ = reader.read(&probe[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Ok(_) | Err(_) => {
                        let _ = reader.on_eof();
                    }
                }
                ex.resp = Resp::Done {
                    reusable: reader.reusable(),
                };
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            if pipe.held() == 0 {
                bc.ready.readable = false;
            }
            Ok(false)
        }
        Err(_) => Err(Break::Abort("backend read failed mid-response")),
    }
}

/// Whether the backend asked for its response not to be buffered (`X-Accel-Buffering: no`,
/// nginx's convention for server-sent events and long polls).
pub(super) fn streams(buf: &[u8], head: &ResponseHead) -> bool {
    head.headers.iter().any(|h| {
        h.name.of(buf).eq_ignore_ascii_case(b"x-accel-buffering")
            && h.value.of(buf).trim_ascii().eq_ignore_ascii_case(b"no")
    })
}

/// The backend agreed to switch protocols: its `101` goes to the client, the bytes after it
/// start the tunnel, and the exchange ends as one (the connection is not kept for HTTP).
pub(super) fn switch_protocols(
    client: &mut impl Client,
    ex: &mut Exchange,
    head: ResponseHead,
    sh: &mut Shared,
) -> Result<(), Break> {
    let protocols = head
        .headers
        .iter()
        .find(|h| h.is(&ex.bin, b"upgrade"))
        .map(|h| h.value.of(&ex.bin).to_vec())
        .ok_or(Break::Fail(Failure::BadResponse("101 without Upgrade")))?;
    ex.status = 101;
    ex.keep_alive = false;
    encode_for_client(
        client,
        ex,
        &head,
        ClientFraming::AsIs,
        false,
        Some(&protocols),
        sh,
    )?;
    ex.head_sent = true;
    let rest = ex.bin.split_off(head.head_len);
    client
        .out()
        .chain
        .push_slice(&mut sh.io.pool, &rest)
        .map_err(exhausted)?;
    ex.resp_head = Some((mem::take(&mut ex.bin), head));
    ex.resp = Resp::Upgraded;
    sh.obs.metrics.tunnels.incr();
    Ok(())
}

/// Queues a response head for the client, with `ProxyPassReverse` applied.
pub(super) fn encode_for_client(
    client: &mut impl Client,
    ex: &Exchange,
    head: &ResponseHead,
    framing: ClientFraming,
    keep_alive: bool,
    upgrade: Option<&[u8]>,
    sh: &mut Shared,
) -> Result<(), Break> {
    if ex.request().simple {
        // HTTP/0.9: the body alone, ended by the close.
        return Ok(());
    }
    let vhost = &ex.cfg.vhosts[ex.vhost];
    let via_by = via_by(vhost, client.local());
    let mut extra = Vec::new();
    if !ex.cache_status.is_empty() {
        extra.extend_from_slice(&ex.cache_status);
        extra.extend_from_slice(b"\r\n");
    }
    let mut out = mem::take(&mut sh.io.scratch);
    out.clear();
    with_rewrite(client, vhost, ex.host(), |rewrite| {
        let response = ClientResponse {
            extra: &extra,
            framing,
            keep_alive,
            upgrade,
            client_version: ex.client_version,
            via: via_mode(vhost.via),
            via_by: via_by.as_bytes(),
            rewrite,
        };
        encode_client_response(&ex.bin, head, &response, &mut out);
    });
    let before = client.out().chain.len();
    let pushed = client.out().chain.push_slice(&mut sh.io.pool, &out);
    sh.io.scratch = out;
    pushed.map_err(|Exhausted| {
        // Not a byte of this head was written yet (the client is written after the round):
        // the part that fitted is taken back, and the whole answer is still ours to give.
        client.out().chain.truncate(&mut sh.io.pool, before);
        Break::Fail(Failure::PoolExhausted)
    })
}
