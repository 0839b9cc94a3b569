//! The cache's garbage collector, on a thread of its own (the reactors never walk the store):
//! it keeps the store under `CacheSize` and removes temporary files a crash left behind.
//!
//! It is told what it needs as plain values ([`Budget`]), so it knows nothing of the
//! configuration: the server hands it a new budget on every reload, and each reactor tells it
//! the size of every entry it stores ([`Collect::Stored`]).

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use super::store::Store;

/// How often the collector looks at the cache's size between its `CacheGcInterval` runs.
const COLLECT_CHECK: Duration = Duration::from_secs(60);

/// Temporary files older than this are left over from a crash (a writer finishes in far less)
/// and are removed by a run.
const TEMP_MAX_AGE: Duration = Duration::from_secs(3600);

/// What the collector keeps the store within.
#[derive(Clone, Debug)]
pub struct Budget {
    pub store: Store,
    /// `CacheSize`, in bytes: a run removes least-recently-used entries down to it.
    pub size_bytes: u64,
    /// `CacheGcInterval`: how often a run is due whatever the size; `None`, only when over it.
    pub gc_interval: Option<Duration>,
}

/// What the cache's collector is told.
#[derive(Debug)]
pub enum Collect {
    /// A reload: the budget now in force (`None`: the configuration has no cache).
    Budget(Option<Budget>),
    /// A reactor stored an entry of this many bytes.
    Stored(u64),
}

/// Starts the collector: every `CacheGcInterval`, and whenever the store is found 10% over
/// `CacheSize` (looked at every `COLLECT_CHECK`, and whenever the reactors stored a tenth of
/// `CacheSize` since the last look), it removes least-recently-used entries down to
/// `CacheSize`, and temporary files older than `TEMP_MAX_AGE`. The thread ends when every
/// sender is dropped.
pub fn start(budget: Option<Budget>) -> io::Result<Sender<Collect>> {
    let (tx, rx) = mpsc::channel::<Collect>();
    std::thread::Builder::new()
        .name("spoonfeed-cache-gc".into())
        .spawn(move || {
            let mut budget = budget;
            let mut last_run = Instant::now();
            let mut stored: u64 = 0;
            loop {
                match rx.recv_timeout(COLLECT_CHECK) {
                    Ok(Collect::Budget(update)) => budget = update,
                    Ok(Collect::Stored(bytes)) => {
                        stored = stored.saturating_add(bytes);
                        let tenth = budget.as_ref().map_or(u64::MAX, |b| b.size_bytes / 10);
                        if stored < tenth {
                            continue;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                stored = 0;
                let Some(b) = &budget else { continue };
                let due = b
                    .gc_interval
                    .is_some_and(|every| last_run.elapsed() >= every);
                let over = b
                    .store
                    .usage()
                    .is_ok_and(|u| u.bytes > b.size_bytes + b.size_bytes / 10);
                if due || over {
                    let _ = b
                        .store
                        .collect(b.size_bytes, TEMP_MAX_AGE, SystemTime::now());
                    last_run = Instant::now();
                }
            }
        })?;
    Ok(tx)
}
