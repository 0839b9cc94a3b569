//! Background revalidation for `stale-while-revalidate` (RFC 5861 §3): a stale entry answers
//! its client at once, and a thread of its own asks the backend (with the entry's validators)
//! and stores what comes back, so that no client waits for the update.
//!
//! A job holds the key's lock file for as long as it runs: the reactors see the entry as
//! being updated (their requests within the window get it stale, at once) and start no second
//! job for it. It uses blocking sockets under the backend's `connectiontimeout=` and
//! `timeout=`, on a thread that is not a reactor's; at most [`MAX_JOBS`] run at a time.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::cache::collector::Collect;
use crate::cache::store::{Entry, FileLock};
use crate::config::{BackendId, Config, Scheme};
use crate::http1::chunked::ChunkedLimits;
use crate::http1::response::{parse_response, response_body, ResponseBody};
use crate::http1::BodyReader;
use crate::http1::{field_pairs, Method};
use crate::tls::ClientSession;

use super::cached;
use super::exchange::{MAX_RESPONSE_FIELDS, MAX_RESPONSE_HEAD};

/// Most background revalidations running at once (in the process). Past it, a stale entry
/// within its window still answers at once; the next request for it starts the update.
pub const MAX_JOBS: usize = 16;

/// Jobs running now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// One background revalidation.
pub struct Job {
    pub cfg: Arc<Config>,
    pub backend: BackendId,
    /// The request for the backend, with the entry's validators and `Connection: close`.
    pub request: Vec<u8>,
    /// The primary key, and the client request's fields (for the policy and `Vary`).
    pub key: Vec<u8>,
    pub req: Vec<(Vec<u8>, Vec<u8>)>,
    /// The stale entry, open: a `304` refreshes it.
    pub stale: Entry,
    /// The key's lock, released when the job ends.
    pub lock: FileLock,
    /// When the lock stops keeping others out: the job gives up by then, so that no second
    /// job for the key overlaps it.
    pub deadline: Instant,
    /// When the request is sent, in Unix seconds.
    pub request_time: u64,
    pub collector: Sender<Collect>,
}

/// What a job did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A `304`: the entry's fields and times were refreshed.
    Refreshed,
    /// A full response, stored in place of the entry.
    Replaced,
    /// A full response that may not be stored: the entry it supersedes was removed.
    Removed,
    /// The stale entry stays: a server error (it may serve `stale-if-error`), a response
    /// too large to store, or an entry that went meanwhile.
    Kept,
}

/// Starts `job` on a thread of its own; false (nothing started, the lock released) when
/// [`MAX_JOBS`] are running or no thread could be made.
pub fn spawn(job: Job) -> bool {
    if RUNNING.fetch_add(1, Ordering::AcqRel) >= MAX_JOBS {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
        return false;
    }
    /// Gives the job's place back however it ends (a panic included).
    struct Slot;
    impl Drop for Slot {
        fn drop(&mut self) {
            RUNNING.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let slot = Slot;
    std::thread::Builder::new()
        .name("spoonfeed-refresh".into())
        .spawn(move || {
            let _slot = slot;
            // The outcome shows in the store (and in the entry's Cache-Status on later hits).
            let _ = run(job);
        })
        .is_ok()
}

/// A socket or TLS session to the backend.
trait Stream: Read + Write {}

impl<T: Read + Write> Stream for T {}

/// Runs `job` to its end (blocking), then releases the key's lock: requests waiting on it
/// find the updated entry.
pub fn run(job: Job) -> Result<Outcome, String> {
    let outcome = update(&job);
    drop(job.lock);
    outcome
}

/// Asks the backend and updates the store.
fn update(job: &Job) -> Result<Outcome, String> {
    let def = &job.cfg.backends[job.backend];
    let cache = job.cfg.cache.as_ref().ok_or("no cache")?;
    let left = |what: std::time::Duration| {
        what.min(job.deadline.saturating_duration_since(Instant::now()))
            .max(std::time::Duration::from_millis(1))
    };
    let tcp = connect(&def.addrs, left(def.params.connect_timeout))
        .map_err(|e| format!("cannot connect to {}: {e}", def.name))?;
    tcp.set_read_timeout(Some(left(def.params.timeout)))
        .and_then(|()| tcp.set_write_timeout(Some(left(def.params.timeout))))
        .and_then(|()| tcp.set_nodelay(true))
        .map_err(|e| e.to_string())?;
    let mut stream: Box<dyn Stream> = match (&job.cfg.proxy_tls, def.scheme) {
        (Some(config), Scheme::Https) => Box::new(ClientSession::new(tcp, config, &def.host)?),
        _ => Box::new(tcp),
    };
    stream
        .write_all(&job.request)
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let head = loop {
        match parse_response(&buf, MAX_RESPONSE_HEAD, MAX_RESPONSE_FIELDS) {
            Ok(Some(head)) if head.is_interim() => {
                buf.drain(..head.head_len);
            }
            Ok(Some(head)) => break head,
            Ok(None) if buf.len() >= MAX_RESPONSE_HEAD => return Err("head too large".into()),
            Ok(None) => {
                if read_more(&mut stream, &mut buf, job.deadline)? == 0 {
                    return Err("closed before a response head".into());
                }
            }
            Err(e) => return Err(e.reason().into()),
        }
    };
    let fields = field_pairs(&buf, &head.headers);
    let req = cached::borrowed(&job.req);
    let response_time = cached::unix_now(SystemTime::now());
    if head.status == 304 {
        let times = (job.request_time, response_time);
        let refreshed = cached::refreshed(cache, &job.stale, &fields, &req, times.0, times.1);
        if !refreshed.storable {
            cache.store.remove_entry(&job.stale);
            return Ok(Outcome::Removed);
        }
        // (Not stored when the entry went meanwhile: a purge or an invalidation stands.)
        return match cached::rewrite(cache, &job.stale, &refreshed.meta) {
            Ok(true) => Ok(Outcome::Refreshed),
            Ok(false) => Ok(Outcome::Kept),
            Err(e) => Err(e.to_string()),
        };
    }
    if head.status >= 500 {
        return Ok(Outcome::Kept);
    }
    let framing = response_body(&buf, &head, Method::Get).map_err(|e| e.reason())?;
    let length = match framing {
        ResponseBody::Empty => Some(0),
        ResponseBody::Length(n) => Some(n),
        ResponseBody::Chunked | ResponseBody::UntilClose => None,
    };
    let times = (job.request_time, response_time);
    let key = job.key.clone();
    let fill = match cached::begin_fill(cache, key, &req, head.status, &fields, length, times) {
        Ok(fill) => fill,
        // Too large to store, or the disk refused: the entry stays as it is.
        Err("size" | "write") => return Ok(Outcome::Kept),
        // The response that supersedes it may not be stored: it goes.
        Err(_) => {
            cache.store.remove_entry(&job.stale);
            return Ok(Outcome::Removed);
        }
    };
    drop(fields);
    let rest = buf.split_off(head.head_len);
    let fill = read_body(
        &mut stream,
        rest,
        framing,
        fill,
        cache.max_file_size,
        job.deadline,
    )?;
    // Past the lock's age another job may have started: this one's response stays out.
    if Instant::now() >= job.deadline {
        return Err("past its deadline (its lock's age)".into());
    }
    fill.commit(&job.collector).map_err(str::to_owned)?;
    Ok(Outcome::Replaced)
}

/// Connects to the first of `addrs` that answers within `timeout`.
fn connect(addrs: &[SocketAddr], timeout: std::time::Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Reads what the stream has onto the end of `buf`; the count (0 at its end). Past
/// `deadline`, an error.
fn read_more(
    stream: &mut dyn Stream,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<usize, String> {
    if Instant::now() >= deadline {
        return Err("past its deadline (its lock's age)".into());
    }
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Reads the body framed as `framing` (its first bytes in `rest`) into `fill`, de-chunked;
/// more than `limit` bytes, a cut or a framing error gives it up.
fn read_body(
    stream: &mut dyn Stream,
    mut rest: Vec<u8>,
    framing: ResponseBody,
    fill: cached::Fill,
    limit: u64,
    deadline: Instant,
) -> Result<cached::Fill, String> {
    let mut fill = Some(fill);
    let mut written: u64 = 0;
    let mut write = |fill: &mut Option<cached::Fill>, bytes: &[u8]| {
        written += bytes.len() as u64;
        if written > limit {
            return Err("larger than CacheMaxFileSize".to_owned());
        }
        cached::Fill::write(fill, bytes);
        Ok(())
    };
    let mut reader = BodyReader::new(framing.into(), ChunkedLimits::DEFAULT);
    while !reader.is_done() {
        let mut failed = None;
        let used = reader
            .read_all(&rest, |data| {
                if failed.is_none() {
                    failed = write(&mut fill, data).err();
                }
            })
            .map_err(|e| e.reason().to_owned())?;
        if let Some(e) = failed {
            return Err(e);
        }
        rest.drain(..used);
        if reader.is_done() {
            break;
        }
        if read_more(stream, &mut rest, deadline)? == 0 {
            reader
                .on_eof()
                .map_err(|_| "the body was cut short".to_owned())?;
        }
    }
    fill.ok_or_else(|| "the entry could not be written".to_owned())
}
