//! What a reactor's handlers share, split by what they use it for, so that a handler can
//! borrow one part while it holds another (the pool while it writes to a backend, the clock
//! while it fills the cache): I/O, scheduling, observation, the clock, the cache's own state
//! and the resolver. Passed down as `&mut`, never behind a lock; nothing here is shared with
//! another reactor except through the metrics' single-writer cells and the cache's files.

use std::collections::VecDeque;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use mio::{Registry, Waker};

use super::backend::BackendPool;
use super::cached;
use super::resolve::Resolver;
use super::timer::Timers;
use super::token::Token;
use crate::buf::{BufPool, PipePool};
use crate::cache::collector::Collect;
use crate::config::Config;
use crate::log::{AccessLogs, ErrorLog};
use crate::metrics::ReactorMetrics;

/// What handlers share within a reactor.
#[derive(Debug)]
pub struct Shared {
    /// The configuration new exchanges use (an exchange keeps the one it started with).
    pub cfg: Arc<Config>,
    /// How many reloads this reactor has taken.
    pub cfg_gen: u64,
    pub io: Io,
    pub backends: BackendPool,
    pub sched: Sched,
    pub obs: Observe,
    pub clock: Clock,
    pub cache: CacheState,
    pub resolve: Resolving,
    /// Stop accepting, finish what is in flight, close idle connections.
    pub draining: bool,
    /// Client connections open.
    pub open_conns: usize,
}

/// What moving bytes takes: the poll registry, blocks, pipes and reusable buffers.
#[derive(Debug)]
pub struct Io {
    pub registry: Registry,
    pub pool: BufPool,
    /// Pipes for splicing bodies.
    pub pipes: PipePool,
    /// Where reads of heads and request bodies land before being appended to a connection's
    /// buffer; initialised once so that no read pays for zeroing memory.
    pub landing: Box<[u8]>,
    /// A reusable buffer for encoding heads.
    pub scratch: Vec<u8>,
    /// The last generation handed to a slab entry (tokens carry it).
    pub gen: u32,
}

/// What runs when: deadlines, and the connections to run again without a socket event.
#[derive(Debug, Default)]
pub struct Sched {
    pub timers: Timers,
    /// Run again this turn or the next (budgets, pipelined requests, wake-ups).
    pub rerun: VecDeque<Token>,
    /// Client connections waiting for the pool to have blocks to spare.
    pub starved: Vec<Token>,
    /// Client connections whose parsed request waits for the pool to let it start.
    pub pool_waiters: Vec<Token>,
}

/// What the reactor tells the world: its logs and counters.
#[derive(Debug)]
pub struct Observe {
    pub log: ErrorLog,
    pub access: AccessLogs,
    /// This reactor's counters (it is their only writer).
    pub metrics: Arc<ReactorMetrics>,
    /// Every reactor's, for the status endpoint.
    pub all_metrics: Arc<[Arc<ReactorMetrics>]>,
}

/// The time of this loop turn: the only clock handlers read (the simulation moves it).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: Instant,
    /// The wall-clock time (dates, cache ages, log times).
    pub wall: SystemTime,
}

/// The cache's state in this reactor.
#[derive(Debug)]
pub struct CacheState {
    /// URLs being fetched to be stored (`CacheLock`), and who waits for them.
    pub locks: cached::Locks,
    /// Cache entries whose bodies this reactor checked against their checksums.
    pub verified: cached::Verified,
    /// Told of every entry stored, so that it looks at the store's size in time.
    pub collector: Sender<Collect>,
}

/// Forward-proxy names being resolved.
#[derive(Debug)]
pub struct Resolving {
    /// Started with the first name.
    pub resolver: Option<Resolver>,
    /// The number of the last question put to the resolver.
    pub asked: u64,
    /// Wakes this reactor (the resolver's answers use it).
    pub waker: Arc<Waker>,
}

impl Shared {
    /// Stores the gauges (state that is not counted as it changes) into the metrics.
    pub fn publish_gauges(&self) {
        let m = &self.obs.metrics;
        let pool = &self.io.pool;
        m.connections_open.set(self.open_conns as u64);
        m.blocks_in_use.set(pool.outstanding() as u64);
        m.blocks_peak.set(pool.peak() as u64);
        m.pool_bytes.set(pool.allocated_bytes() as u64);
        m.pool_cap_bytes.set(pool.cap_bytes() as u64);
        m.backend_open.set(self.backends.conns.len() as u64);
        m.backend_idle.set(self.backends.idle_count() as u64);
    }
}
