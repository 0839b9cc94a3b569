//! Counters and histograms each reactor writes (single writer, relaxed atomics, no allocation or
//! syscall per request) and their rendering as Prometheus text and JSON for the status endpoint.
//!
//! The server creates one [`ReactorMetrics`] per reactor, behind an `Arc`, before the reactors
//! start. Only the reactor it was made for writes it; the status endpoint, served by whichever
//! reactor gets the request, reads all of them and sums or merges them while rendering.
//!
//! What this module must not do: take a lock, allocate or make a syscall on the write path, or
//! use a read-modify-write instruction (`fetch_add` is a `lock`-prefixed instruction on x86, a
//! full barrier paid on every request). Writers do `store(load + n)` with `Relaxed` ordering,
//! which is correct only because every value has exactly one writer (see [`Counter`]).
//!
//! Invariants: a histogram has [`HIST_BUCKETS`] buckets, the last one unbounded;
//! `ReactorMetrics::routes` has [`ROUTE_SLOTS`] entries. Readers see every value as it was at some
//! recent moment, but not all values at the same moment: a histogram read while its owner records
//! may show a `sum` that already includes a value its buckets do not show yet. A histogram's count
//! is therefore always derived from the buckets that were read, so that in the Prometheus output
//! `le="+Inf"` always equals `_count`.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Appends formatted text to a `String`. Writing to a `String` cannot fail, so the
/// `fmt::Result` is dropped here once instead of at every call.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        let _ = write!($out, $($arg)*);
    };
}

/// Adds `n` to a value that only the calling thread writes: a plain load and store, no `lock`
/// prefix. Wraps at 2^64 rather than panicking; Prometheus reads a wrap as a counter reset.
fn bump(cell: &AtomicU64, n: u64) {
    cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
}

/// A monotonic count.
///
/// Single writer: only the reactor that owns the enclosing [`ReactorMetrics`] may call
/// [`add`](Counter::add) or [`incr`](Counter::incr). Any thread may call [`get`](Counter::get).
/// A second writer would not cause undefined behaviour, but concurrent updates would be lost,
/// because an update is a separate load and store rather than one atomic read-modify-write.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n` (owning reactor only). Wraps at 2^64.
    pub fn add(&self, n: u64) {
        bump(&self.0, n);
    }

    /// Adds one (owning reactor only).
    pub fn incr(&self) {
        self.add(1);
    }

    /// The current value, from any thread.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// Sets the value back to zero (owning reactor only).
    fn reset(&self) {
        self.0.store(0, Relaxed);
    }
}

/// A value that goes up and down, stored whole by its owner (typically once per loop turn).
///
/// Single writer, like [`Counter`]: only the owning reactor calls [`set`](Gauge::set).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Stores `v` (owning reactor only).
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    /// The current value, from any thread.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Buckets in a histogram. Bucket `k` counts values `v` with `2^(k-1) < v <= 2^k` (bucket 0:
/// `v <= 1`), except the last, which counts every `v > 2^(HIST_BUCKETS - 2)`. With 48 buckets
/// the last bounded one ends at 2^46: 2.2 years in microseconds, 64 TiB in bytes.
pub const HIST_BUCKETS: usize = 48;

/// Index of the unbounded catch-all bucket.
const LAST_BUCKET: usize = HIST_BUCKETS - 1;

/// The bucket that counts `v`: `ceil(log2(v))` for `v >= 2`, 0 for `v <= 1`, capped at the
/// catch-all. Branch-free: `saturating_sub` maps both 0 and 1 to 0, whose bit length is 0.
fn bucket_of(v: u64) -> usize {
    let bits = u64::BITS - v.saturating_sub(1).leading_zeros();
    (bits as usize).min(LAST_BUCKET)
}

/// Largest value bucket `k` counts; `u64::MAX` stands for the catch-all's +Inf.
fn upper_bound(k: usize) -> u64 {
    if k >= LAST_BUCKET {
        u64::MAX
    } else {
        1 << k
    }
}

/// A distribution of `u64` values in power-of-two buckets, plus their sum.
///
/// Single writer, like [`Counter`]: only the owning reactor calls [`record`](Histogram::record)
/// and [`reset`](Histogram::reset). Recording is two plain load/store pairs: no allocation, no
/// lock, no branch on the value beyond a `min`.
#[derive(Debug)]
pub struct Histogram {
    /// Invariant: bucket `k` counts values in `(upper_bound(k - 1), upper_bound(k)]`.
    buckets: [AtomicU64; HIST_BUCKETS],
    /// Sum of the values recorded, wrapping at 2^64.
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; HIST_BUCKETS],
            sum: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Counts `v` (owning reactor only).
    pub fn record(&self, v: u64) {
        bump(&self.buckets[bucket_of(v)], 1);
        bump(&self.sum, v);
    }

    /// Values recorded since creation or the last reset.
    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .fold(0, |n, b| n.wrapping_add(b.load(Relaxed)))
    }

    /// Sum of the values recorded, wrapping at 2^64.
    pub fn sum(&self) -> u64 {
        self.sum.load(Relaxed)
    }

    /// Upper bound of the bucket holding the `q`-quantile (`q` in `0.0..=1.0`, clamped), 0 when
    /// empty, `u64::MAX` when it falls in the catch-all bucket. See [`HistSnapshot::quantile`].
    pub fn quantile(&self, q: f64) -> u64 {
        self.snapshot().quantile(q)
    }

    /// Empties every bucket and the sum (owning reactor only).
    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
        self.sum.store(0, Relaxed);
    }

    /// A copy of the buckets and sum, with `count` set to the sum of the buckets copied.
    pub fn snapshot(&self) -> HistSnapshot {
        let buckets: [u64; HIST_BUCKETS] = std::array::from_fn(|k| self.buckets[k].load(Relaxed));
        HistSnapshot {
            buckets,
            count: buckets.iter().fold(0, |n, &b| n.wrapping_add(b)),
            sum: self.sum.load(Relaxed),
        }
    }
}

/// A plain copy of a [`Histogram`], for merging the same histogram across reactors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistSnapshot {
    /// Values per bucket, with the bounds of [`HIST_BUCKETS`].
    pub buckets: [u64; HIST_BUCKETS],
    /// Values in all buckets. Invariant (for snapshots made here): the sum of `buckets`.
    pub count: u64,
    /// Sum of the values, wrapping at 2^64.
    pub sum: u64,
}

impl Default for HistSnapshot {
    fn default() -> HistSnapshot {
        HistSnapshot {
            buckets: [0; HIST_BUCKETS],
            count: 0,
            sum: 0,
        }
    }
}

impl HistSnapshot {
    /// Adds `other`'s buckets, count and sum to this one's.
    pub fn merge(&mut self, other: &HistSnapshot) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine = mine.wrapping_add(*theirs);
        }
        self.count = self.count.wrapping_add(other.count);
        self.sum = self.sum.wrapping_add(other.sum);
    }

    /// Upper bound of the bucket holding the `q`-quantile, 0 when empty, `u64::MAX` when it
    /// falls in the catch-all bucket.
    ///
    /// The `q`-quantile is the value of rank `ceil(q * n)` among the `n` values in `buckets`
    /// (rank at least 1), so `quantile(1.0)` is the bound of the highest non-empty bucket and
    /// `quantile(0.0)` that of the lowest. `q` is clamped to `0.0..=1.0`; NaN counts as 0.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.buckets.iter().fold(0u64, |n, &b| n.wrapping_add(b));
        if n == 0 {
            return 0;
        }
        // Float-to-int `as` saturates and maps NaN to 0; the clamp then makes the rank valid.
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for (k, &b) in self.buckets.iter().enumerate() {
            seen = seen.wrapping_add(b);
            if seen >= rank {
                return upper_bound(k);
            }
        }
        // Unreachable: `seen` ends at `n >= rank`.
        upper_bound(LAST_BUCKET)
    }
}

/// Per-route histograms. Times in microseconds, sizes in bytes (DESIGN.md section 4 defines
/// each from the exchange timeline). Single writer, like [`Counter`].
#[derive(Debug, Default)]
pub struct RouteMetrics {
    /// Exchanges routed here.
    pub exchanges: Counter,
    /// Backend hold: `t_release - t_req`.
    pub hold_us: Histogram,
    /// Client drain: `t_done - t_first`.
    pub drain_us: Histogram,
    /// Backend time saved: `t_done - t_release` (0 when unbuffered).
    pub saved_us: Histogram,
    /// Most bytes of the response held in blocks (plus pipe bytes when splicing) at any moment.
    pub peak_bytes: Histogram,
    /// Bytes not yet delivered to the client at `t_release`.
    pub held_at_release_bytes: Histogram,
}

impl RouteMetrics {
    /// Sets the exchange count and every histogram back to zero (owning reactor only), for a
    /// slot that is given to another route.
    pub fn reset(&self) {
        self.exchanges.reset();
        for h in HISTS {
            (h.field)(self).reset();
        }
    }
}

/// Most routes with histograms of their own; exchanges on further routes are counted in the last
/// slot, labelled "other". 64 slots cost about 125 KiB per reactor.
pub const ROUTE_SLOTS: usize = 64;

/// Why responses to cacheable requests were not stored, as the status endpoint names them.
pub const NOT_STORED_REASONS: [&str; 11] = [
    "method",
    "status",
    "no_store",
    "private",
    "authorization",
    "set_cookie",
    "vary_all",
    "no_freshness",
    "streaming",
    "size",
    "write",
];

/// Everything one reactor counts. Single writer: only that reactor updates it (see
/// [`Counter`]); the status endpoint reads every reactor's copy from any thread.
#[derive(Debug)]
pub struct ReactorMetrics {
    /// Client connections accepted.
    pub connections_accepted: Counter,
    /// Request heads parsed, whether proxied or answered by us.
    pub requests: Counter,
    /// Final responses with a 1xx status sent to clients.
    pub responses_1xx: Counter,
    /// Final responses with a 2xx status sent to clients.
    pub responses_2xx: Counter,
    /// Final responses with a 3xx status sent to clients.
    pub responses_3xx: Counter,
    /// Final responses with a 4xx status sent to clients.
    pub responses_4xx: Counter,
    /// Final responses with a 5xx status sent to clients.
    pub responses_5xx: Counter,
    /// Exchanges completed with a backend (the last byte to the client).
    pub proxied: Counter,
    /// Responses cut off mid-way: the client connection closed before they were complete.
    pub aborted: Counter,
    /// Responses 502, 503 and 504 of our own making.
    pub backend_errors: Counter,
    /// Times a read was held back because the block pool was at its cap.
    pub pool_exhausted: Counter,
    /// Requests answered 503 because no block could be had.
    pub pool_refused: Counter,
    /// Bytes read from clients.
    pub bytes_from_clients: Counter,
    /// Bytes written to clients.
    pub bytes_to_clients: Counter,
    /// Bytes read from backends.
    pub bytes_from_backends: Counter,
    /// Bytes written to backends.
    pub bytes_to_backends: Counter,
    /// Client connections closed by lingering (write side shut, input drained before close).
    pub lingered: Counter,
    /// Bytes read from clients and discarded while lingering.
    pub linger_bytes_discarded: Counter,
    /// Lingering closes that discarded input which, closed at once, would have made the kernel
    /// reset the connection.
    pub linger_resets_avoided: Counter,
    /// Exchanges forwarded unbuffered (`X-Accel-Buffering: no`, buffering off).
    pub streamed: Counter,
    /// Response bodies spliced through a pipe (`ProxySplice`).
    pub spliced: Counter,
    /// Connections switched to another protocol (`101`) and tunnelled.
    pub tunnels: Counter,
    /// TLS handshakes completed.
    pub tls_handshakes: Counter,
    /// TLS handshakes that resumed an earlier session (ticket or session ID).
    pub tls_resumed: Counter,
    /// TLS handshakes that failed (bad ClientHello, no common protocol or suite, no
    /// certificate for the name, an alert from the client).
    pub tls_handshake_failures: Counter,
    /// TLS sessions broken after the handshake (a bad record, an alert).
    pub tls_errors: Counter,
    /// TLS to backends that failed (a certificate that does not verify, an alert).
    pub backend_tls_errors: Counter,
    /// HTTP/0.9 simple requests served (`HttpProtocolOptions Allow0.9`, a relaxation).
    pub http09_requests: Counter,
    /// Requests answered from the cache (including 304s to conditional requests).
    pub cache_hits: Counter,
    /// Cacheable requests sent to the backend (nothing stored, or not usable as stored).
    pub cache_misses: Counter,
    /// Responses stored.
    pub cache_stores: Counter,
    /// Responses to cacheable requests not stored (the policy, the size, a failed write).
    pub cache_not_stored: Counter,
    /// The same, by reason, in the order of [`NOT_STORED_REASONS`].
    pub cache_not_stored_why: [Counter; NOT_STORED_REASONS.len()],
    /// Entries removed by unsafe methods (RFC 9111 §4.4).
    pub cache_invalidations: Counter,
    /// Stale entries validated with the backend and found current (a `304`).
    pub cache_revalidated: Counter,
    /// Entries removed by `PURGE`.
    pub cache_purges: Counter,
    /// Stale entries served: the backend failed (`stale-if-error`), or within
    /// `stale-while-revalidate` (another request was updating them, or one was started).
    pub cache_stale_served: Counter,
    /// Background revalidations started (`stale-while-revalidate`).
    pub cache_background: Counter,
    /// Entries found corrupt (cut short, or failing their checksum), removed and refetched.
    pub cache_corrupt: Counter,
    /// Body bytes served from the cache (not asked of a backend).
    pub cache_bytes_served: Counter,
    /// Responses that spilled to a temporary file in `ProxyTempPath`.
    pub spilled_responses: Counter,
    /// Request bodies held partly in a temporary file.
    pub spilled_requests: Counter,
    /// Bytes written to temporary files.
    pub spilled_bytes: Counter,
    /// Client connections open; stored once per loop turn.
    pub connections_open: Gauge,
    /// Blocks owned by a flow or a cache object; stored once per loop turn.
    pub blocks_in_use: Gauge,
    /// Most blocks owned at once since the reactor started (summed across reactors it is
    /// an upper bound of the machine's peak); stored once per loop turn.
    pub blocks_peak: Gauge,
    /// Bytes of blocks allocated, in use or free; stored once per loop turn.
    pub pool_bytes: Gauge,
    /// Most bytes of blocks the pool may allocate; stored once per loop turn.
    pub pool_cap_bytes: Gauge,
    /// Backend connections open; stored once per loop turn.
    pub backend_open: Gauge,
    /// Backend connections idle in the keep-alive pool; stored once per loop turn.
    pub backend_idle: Gauge,
    /// Per-route metrics. Invariant: `ROUTE_SLOTS` entries, allocated once in `new`; the last
    /// slot also counts every route past it.
    pub routes: Box<[RouteMetrics]>,
}

impl Default for ReactorMetrics {
    fn default() -> ReactorMetrics {
        ReactorMetrics::new()
    }
}

impl ReactorMetrics {
    /// All zero, with [`ROUTE_SLOTS`] route slots. The only allocation this module makes
    /// outside rendering.
    pub fn new() -> ReactorMetrics {
        ReactorMetrics {
            connections_accepted: Counter::default(),
            requests: Counter::default(),
            responses_1xx: Counter::default(),
            responses_2xx: Counter::default(),
            responses_3xx: Counter::default(),
            responses_4xx: Counter::default(),
            responses_5xx: Counter::default(),
            proxied: Counter::default(),
            aborted: Counter::default(),
            backend_errors: Counter::default(),
            pool_exhausted: Counter::default(),
            pool_refused: Counter::default(),
            bytes_from_clients: Counter::default(),
            bytes_to_clients: Counter::default(),
            bytes_from_backends: Counter::default(),
            bytes_to_backends: Counter::default(),
            lingered: Counter::default(),
            linger_bytes_discarded: Counter::default(),
            linger_resets_avoided: Counter::default(),
            streamed: Counter::default(),
            spliced: Counter::default(),
            tunnels: Counter::default(),
            tls_handshakes: Counter::default(),
            tls_resumed: Counter::default(),
            tls_handshake_failures: Counter::default(),
            tls_errors: Counter::default(),
            backend_tls_errors: Counter::default(),
            http09_requests: Counter::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_stores: Counter::default(),
            cache_not_stored: Counter::default(),
            cache_not_stored_why: Default::default(),
            cache_invalidations: Counter::default(),
            cache_revalidated: Counter::default(),
            cache_background: Counter::default(),
            cache_purges: Counter::default(),
            cache_stale_served: Counter::default(),
            cache_corrupt: Counter::default(),
            cache_bytes_served: Counter::default(),
            spilled_responses: Counter::default(),
            spilled_requests: Counter::default(),
            spilled_bytes: Counter::default(),
            connections_open: Gauge::default(),
            blocks_in_use: Gauge::default(),
            blocks_peak: Gauge::default(),
            pool_bytes: Gauge::default(),
            pool_cap_bytes: Gauge::default(),
            backend_open: Gauge::default(),
            backend_idle: Gauge::default(),
            routes: (0..ROUTE_SLOTS).map(|_| RouteMetrics::default()).collect(),
        }
    }

    /// The metrics of route slot `slot`; slots past the last share the last ("other").
    pub fn route(&self, slot: usize) -> &RouteMetrics {
        &self.routes[slot.min(self.routes.len() - 1)]
    }

    /// Resets every route slot (owning reactor only), when a new configuration assigns slots
    /// afresh. Prometheus sees the per-route counters drop, which it treats as a counter reset.
    pub fn reset_routes(&self) {
        for r in &self.routes {
            r.reset();
        }
    }

    /// Counts a final response sent to a client in the counter of its status class (owning
    /// reactor only). Codes outside 100..=599 are invalid (RFC 9110 section 15) and count in no
    /// class.
    pub fn count_status(&self, status: u16) {
        let class = match status {
            100..=199 => &self.responses_1xx,
            200..=299 => &self.responses_2xx,
            300..=399 => &self.responses_3xx,
            400..=499 => &self.responses_4xx,
            500..=599 => &self.responses_5xx,
            _ => return,
        };
        class.incr();
    }
}

/// Reads one counter or gauge out of a [`ReactorMetrics`].
type Field<T> = fn(&ReactorMetrics) -> &T;

/// How one counter or gauge is rendered: its JSON key (the field name), its Prometheus name and
/// help text, and the field it reads.
struct Scalar<T: 'static> {
    key: &'static str,
    name: &'static str,
    help: &'static str,
    field: Field<T>,
}

/// Counters rendered as families of their own, in output order.
const COUNTERS: [Scalar<Counter>; 48] = [
    Scalar {
        key: "connections_accepted",
        name: "spoonfeed_connections_accepted_total",
        help: "Client connections accepted.",
        field: |m| &m.connections_accepted,
    },
    Scalar {
        key: "requests",
        name: "spoonfeed_requests_total",
        help: "Request heads parsed, whether proxied or answered by spoonfeed.",
        field: |m| &m.requests,
    },
    Scalar {
        key: "proxied",
        name: "spoonfeed_proxied_total",
        help: "Exchanges completed with a backend (the last byte to the client).",
        field: |m| &m.proxied,
    },
    Scalar {
        key: "aborted",
        name: "spoonfeed_aborted_total",
        help: "Responses cut off because the client connection closed before they were complete.",
        field: |m| &m.aborted,
    },
    Scalar {
        key: "backend_errors",
        name: "spoonfeed_backend_errors_total",
        help: "Responses 502, 503 and 504 made by spoonfeed.",
        field: |m| &m.backend_errors,
    },
    Scalar {
        key: "pool_exhausted",
        name: "spoonfeed_pool_exhausted_total",
        help: "Times a read was held back because the block pool was at its cap.",
        field: |m| &m.pool_exhausted,
    },
    Scalar {
        key: "pool_refused",
        name: "spoonfeed_pool_refused_total",
        help: "Requests answered 503 because no block could be had.",
        field: |m| &m.pool_refused,
    },
    Scalar {
        key: "bytes_from_clients",
        name: "spoonfeed_client_bytes_received_total",
        help: "Bytes read from clients.",
        field: |m| &m.bytes_from_clients,
    },
    Scalar {
        key: "bytes_to_clients",
        name: "spoonfeed_client_bytes_sent_total",
        help: "Bytes written to clients.",
        field: |m| &m.bytes_to_clients,
    },
    Scalar {
        key: "bytes_from_backends",
        name: "spoonfeed_backend_bytes_received_total",
        help: "Bytes read from backends.",
        field: |m| &m.bytes_from_backends,
    },
    Scalar {
        key: "bytes_to_backends",
        name: "spoonfeed_backend_bytes_sent_total",
        help: "Bytes written to backends.",
        field: |m| &m.bytes_to_backends,
    },
    Scalar {
        key: "lingered",
        name: "spoonfeed_lingered_total",
        help:
            "Client connections closed by lingering: write side shut, input drained before close.",
        field: |m| &m.lingered,
    },
    Scalar {
        key: "linger_bytes_discarded",
        name: "spoonfeed_linger_bytes_discarded_total",
        help: "Bytes read from clients and discarded while lingering.",
        field: |m| &m.linger_bytes_discarded,
    },
    Scalar {
        key: "linger_resets_avoided",
        name: "spoonfeed_linger_resets_avoided_total",
        help:
            "Lingering closes that discarded input which would otherwise have reset the connection.",
        field: |m| &m.linger_resets_avoided,
    },
    Scalar {
        key: "streamed",
        name: "spoonfeed_streamed_total",
        help: "Exchanges forwarded unbuffered (X-Accel-Buffering: no, or buffering off).",
        field: |m| &m.streamed,
    },
    Scalar {
        key: "tunnels",
        name: "spoonfeed_tunnels_total",
        help: "Connections switched to another protocol (101, WebSocket) and tunnelled.",
        field: |m| &m.tunnels,
    },
    Scalar {
        key: "tls_handshakes",
        name: "spoonfeed_tls_handshakes_total",
        help: "TLS handshakes completed.",
        field: |m| &m.tls_handshakes,
    },
    Scalar {
        key: "tls_resumed",
        name: "spoonfeed_tls_resumed_total",
        help: "TLS handshakes that resumed an earlier session.",
        field: |m| &m.tls_resumed,
    },
    Scalar {
        key: "tls_handshake_failures",
        name: "spoonfeed_tls_handshake_failures_total",
        help: "TLS handshakes that failed (logged with the alert at level info).",
        field: |m| &m.tls_handshake_failures,
    },
    Scalar {
        key: "tls_errors",
        name: "spoonfeed_tls_errors_total",
        help: "TLS sessions broken after the handshake (a bad record or an alert).",
        field: |m| &m.tls_errors,
    },
    Scalar {
        key: "backend_tls_errors",
        name: "spoonfeed_backend_tls_errors_total",
        help: "TLS connections to backends that failed (logged with the reason).",
        field: |m| &m.backend_tls_errors,
    },
    Scalar {
        key: "http09_requests",
        name: "spoonfeed_http09_requests_total",
        help: "HTTP/0.9 simple requests served (HttpProtocolOptions Allow0.9).",
        field: |m| &m.http09_requests,
    },
    Scalar {
        key: "cache_hits",
        name: "spoonfeed_cache_hits_total",
        help: "Requests answered from the cache (304s to conditional requests included).",
        field: |m| &m.cache_hits,
    },
    Scalar {
        key: "cache_misses",
        name: "spoonfeed_cache_misses_total",
        help: "Cacheable requests sent to the backend.",
        field: |m| &m.cache_misses,
    },
    Scalar {
        key: "cache_stores",
        name: "spoonfeed_cache_stores_total",
        help: "Responses stored in the cache.",
        field: |m| &m.cache_stores,
    },
    Scalar {
        key: "cache_not_stored",
        name: "spoonfeed_cache_not_stored_total",
        help: "Responses to cacheable requests not stored (policy, size, write failure).",
        field: |m| &m.cache_not_stored,
    },
    Scalar {
        key: "cache_not_stored_method",
        name: "spoonfeed_cache_not_stored_method_total",
        help: "Responses not stored: the request's method is not GET.",
        field: |m| &m.cache_not_stored_why[0],
    },
    Scalar {
        key: "cache_not_stored_status",
        name: "spoonfeed_cache_not_stored_status_total",
        help: "Responses not stored: a status not stored (206, 304, 1xx, or one needing explicit freshness).",
        field: |m| &m.cache_not_stored_why[1],
    },
    Scalar {
        key: "cache_not_stored_no_store",
        name: "spoonfeed_cache_not_stored_no_store_total",
        help: "Responses not stored: no-store in the request or the response.",
        field: |m| &m.cache_not_stored_why[2],
    },
    Scalar {
        key: "cache_not_stored_private",
        name: "spoonfeed_cache_not_stored_private_total",
        help: "Responses not stored: Cache-Control: private.",
        field: |m| &m.cache_not_stored_why[3],
    },
    Scalar {
        key: "cache_not_stored_authorization",
        name: "spoonfeed_cache_not_stored_authorization_total",
        help: "Responses not stored: a request with Authorization and a response not marked shareable.",
        field: |m| &m.cache_not_stored_why[4],
    },
    Scalar {
        key: "cache_not_stored_set_cookie",
        name: "spoonfeed_cache_not_stored_set_cookie_total",
        help: "Responses not stored: a response that sets a cookie.",
        field: |m| &m.cache_not_stored_why[5],
    },
    Scalar {
        key: "cache_not_stored_vary_all",
        name: "spoonfeed_cache_not_stored_vary_all_total",
        help: "Responses not stored: Vary: *.",
        field: |m| &m.cache_not_stored_why[6],
    },
    Scalar {
        key: "cache_not_stored_no_freshness",
        name: "spoonfeed_cache_not_stored_no_freshness_total",
        help: "Responses not stored: no freshness, validator or heuristic.",
        field: |m| &m.cache_not_stored_why[7],
    },
    Scalar {
        key: "cache_not_stored_streaming",
        name: "spoonfeed_cache_not_stored_streaming_total",
        help: "Responses not stored: streamed (X-Accel-Buffering: no, buffering=off).",
        field: |m| &m.cache_not_stored_why[8],
    },
    Scalar {
        key: "cache_not_stored_size",
        name: "spoonfeed_cache_not_stored_size_total",
        help: "Responses not stored: larger than CacheMaxFileSize.",
        field: |m| &m.cache_not_stored_why[9],
    },
    Scalar {
        key: "cache_not_stored_write",
        name: "spoonfeed_cache_not_stored_write_total",
        help: "Responses not stored: the entry could not be written.",
        field: |m| &m.cache_not_stored_why[10],
    },
    Scalar {
        key: "cache_invalidations",
        name: "spoonfeed_cache_invalidations_total",
        help: "Cache entries removed by unsafe methods.",
        field: |m| &m.cache_invalidations,
    },
    Scalar {
        key: "cache_revalidated",
        name: "spoonfeed_cache_revalidated_total",
        help: "Stale cache entries validated with the backend and found current (304).",
        field: |m| &m.cache_revalidated,
    },
    Scalar {
        key: "cache_purges",
        name: "spoonfeed_cache_purges_total",
        help: "Cache entries removed by PURGE.",
        field: |m| &m.cache_purges,
    },
    Scalar {
        key: "cache_stale_served",
        name: "spoonfeed_cache_stale_served_total",
        help: "Stale cache entries served (stale-if-error, or within stale-while-revalidate).",
        field: |m| &m.cache_stale_served,
    },
    Scalar {
        key: "cache_background",
        name: "spoonfeed_cache_background_total",
        help: "Background revalidations started for entries within stale-while-revalidate.",
        field: |m| &m.cache_background,
    },
    Scalar {
        key: "cache_corrupt",
        name: "spoonfeed_cache_corrupt_total",
        help: "Cache entries found corrupt, removed and fetched again.",
        field: |m| &m.cache_corrupt,
    },
    Scalar {
        key: "cache_bytes_served",
        name: "spoonfeed_cache_bytes_served_total",
        help: "Body bytes served from the cache instead of a backend.",
        field: |m| &m.cache_bytes_served,
    },
    Scalar {
        key: "spliced",
        name: "spoonfeed_spliced_total",
        help: "Response bodies spliced backend to client through a pipe (ProxySplice).",
        field: |m| &m.spliced,
    },
    Scalar {
        key: "spilled_responses",
        name: "spoonfeed_spilled_responses_total",
        help: "Responses that spilled past ProxyResponseBufferSize to a temporary file.",
        field: |m| &m.spilled_responses,
    },
    Scalar {
        key: "spilled_requests",
        name: "spoonfeed_spilled_requests_total",
        help: "Request bodies held past ProxyRequestBufferSize in a temporary file.",
        field: |m| &m.spilled_requests,
    },
    Scalar {
        key: "spilled_bytes",
        name: "spoonfeed_spilled_bytes_total",
        help: "Bytes written to temporary files in ProxyTempPath.",
        field: |m| &m.spilled_bytes,
    },
];

/// Prometheus family of the five response counters, told apart by a `class` label.
const RESPONSES_NAME: &str = "spoonfeed_responses_total";
/// Help text of [`RESPONSES_NAME`].
const RESPONSES_HELP: &str = "Final responses sent to clients, by status class.";

/// The response counters: JSON key, `class` label value in [`RESPONSES_NAME`], and field.
const RESPONSE_CLASSES: [(&str, &str, Field<Counter>); 5] = [
    ("responses_1xx", "1xx", |m| &m.responses_1xx),
    ("responses_2xx", "2xx", |m| &m.responses_2xx),
    ("responses_3xx", "3xx", |m| &m.responses_3xx),
    ("responses_4xx", "4xx", |m| &m.responses_4xx),
    ("responses_5xx", "5xx", |m| &m.responses_5xx),
];

/// Gauges, summed across reactors, in output order.
const GAUGES: [Scalar<Gauge>; 7] = [
    Scalar {
        key: "connections_open",
        name: "spoonfeed_connections_open",
        help: "Client connections open.",
        field: |m| &m.connections_open,
    },
    Scalar {
        key: "blocks_in_use",
        name: "spoonfeed_blocks_in_use",
        help: "Blocks owned by a flow or a cache object.",
        field: |m| &m.blocks_in_use,
    },
    Scalar {
        key: "blocks_peak",
        name: "spoonfeed_blocks_peak",
        help: "Most blocks owned at once since start, summed over reactors.",
        field: |m| &m.blocks_peak,
    },
    Scalar {
        key: "pool_bytes",
        name: "spoonfeed_pool_bytes",
        help: "Bytes of blocks allocated, in use or free.",
        field: |m| &m.pool_bytes,
    },
    Scalar {
        key: "pool_cap_bytes",
        name: "spoonfeed_pool_cap_bytes",
        help: "Most bytes of blocks the pools may allocate.",
        field: |m| &m.pool_cap_bytes,
    },
    Scalar {
        key: "backend_open",
        name: "spoonfeed_backend_connections_open",
        help: "Backend connections open.",
        field: |m| &m.backend_open,
    },
    Scalar {
        key: "backend_idle",
        name: "spoonfeed_backend_connections_idle",
        help: "Backend connections idle in the keep-alive pool.",
        field: |m| &m.backend_idle,
    },
];

/// Prometheus family of the per-route exchange counters.
const ROUTE_EXCHANGES_NAME: &str = "spoonfeed_route_exchanges_total";
/// Help text of [`ROUTE_EXCHANGES_NAME`].
const ROUTE_EXCHANGES_HELP: &str = "Exchanges per route.";

/// What a histogram's values measure, which decides how Prometheus shows them.
#[derive(Clone, Copy)]
enum Unit {
    /// Recorded in microseconds, shown in seconds (the Prometheus base unit).
    Micros,
    /// Recorded and shown in bytes.
    Bytes,
}

/// How one per-route histogram is rendered: JSON key, Prometheus name and help, unit, field.
struct HistInfo {
    key: &'static str,
    name: &'static str,
    help: &'static str,
    unit: Unit,
    field: fn(&RouteMetrics) -> &Histogram,
}

/// The per-route histograms, in output order.
const HISTS: [HistInfo; 5] = [
    HistInfo {
        key: "backend_hold_us",
        name: "spoonfeed_backend_hold_seconds",
        help: "Time from the first request byte written to the backend until the backend connection was released.",
        unit: Unit::Micros,
        field: |r| &r.hold_us,
    },
    HistInfo {
        key: "client_drain_us",
        name: "spoonfeed_client_drain_seconds",
        help: "Time from the first response byte read from the backend until the client socket accepted the last.",
        unit: Unit::Micros,
        field: |r| &r.drain_us,
    },
    HistInfo {
        key: "time_saved_us",
        name: "spoonfeed_time_saved_seconds",
        help: "Time from the backend's release until the client socket accepted the last byte (0 when unbuffered).",
        unit: Unit::Micros,
        field: |r| &r.saved_us,
    },
    HistInfo {
        key: "peak_occupancy_bytes",
        name: "spoonfeed_peak_occupancy_bytes",
        help: "Most bytes of one response held in blocks (and pipes, when splicing) at any moment.",
        unit: Unit::Bytes,
        field: |r| &r.peak_bytes,
    },
    HistInfo {
        key: "held_at_release_bytes",
        name: "spoonfeed_held_at_release_bytes",
        help: "Bytes of a response not yet delivered to the client when the backend was released.",
        unit: Unit::Bytes,
        field: |r| &r.held_at_release_bytes,
    },
];

/// JSON keys and quantiles of the percentiles reported per histogram.
const PERCENTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];

/// A counter or gauge summed across reactors.
fn total<T>(reactors: &[Arc<ReactorMetrics>], field: Field<T>, get: fn(&T) -> u64) -> u64 {
    reactors
        .iter()
        .fold(0, |n, r| n.wrapping_add(get(field(r))))
}

/// One route's metrics merged across reactors, with the labels it is rendered under.
struct RouteTotals<'a> {
    vhost: &'a str,
    route: &'a str,
    exchanges: u64,
    /// Indexed like [`HISTS`].
    hists: [HistSnapshot; HISTS.len()],
}

impl RouteTotals<'_> {
    fn is_active(&self) -> bool {
        self.exchanges > 0 || self.hists.iter().any(|h| h.count > 0)
    }
}

/// Merges every reactor's route slots: slot `i < labels.len()` under `labels[i]`, every slot past
/// the labels into one entry labelled ("", "other"), so that no two entries share labels.
/// Returns the entries with data, in slot order.
fn route_totals<'a>(
    reactors: &[Arc<ReactorMetrics>],
    labels: &'a [(String, String)],
) -> Vec<RouteTotals<'a>> {
    let entry = |vhost, route| RouteTotals {
        vhost,
        route,
        exchanges: 0,
        hists: [HistSnapshot::default(); HISTS.len()],
    };
    let mut totals: Vec<RouteTotals<'a>> = labels
        .iter()
        .map(|(vhost, route)| entry(vhost.as_str(), route.as_str()))
        .chain(std::iter::once(entry("", "other")))
        .collect();
    for reactor in reactors {
        for (slot, metrics) in reactor.routes.iter().enumerate() {
            let t = &mut totals[slot.min(labels.len())];
            t.exchanges = t.exchanges.wrapping_add(metrics.exchanges.get());
            for (snap, info) in t.hists.iter_mut().zip(&HISTS) {
                snap.merge(&(info.field)(metrics).snapshot());
            }
        }
    }
    totals.retain(RouteTotals::is_active);
    totals
}

/// A label value escaped for the Prometheus text format: `\` → `\\`, `"` → `\"`, newline → `\n`.
struct PromLabel<'a>(&'a str);

impl fmt::Display for PromLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A recorded value in its Prometheus unit: microseconds as exact decimal seconds
/// (1024 → `0.001024`), bytes as they are.
struct InUnit(u64, Unit);

impl fmt::Display for InUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let InUnit(v, unit) = *self;
        match unit {
            Unit::Bytes => write!(f, "{v}"),
            Unit::Micros => {
                let (secs, mut frac) = (v / 1_000_000, v % 1_000_000);
                if frac == 0 {
                    return write!(f, "{secs}");
                }
                let mut width = 6;
                while frac % 10 == 0 {
                    frac /= 10;
                    width -= 1;
                }
                write!(f, "{secs}.{frac:0width$}")
            }
        }
    }
}

/// Writes the `# HELP` and `# TYPE` lines that open a Prometheus family.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    put!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// A route's labels in the Prometheus text format: `vhost="…",route="…"`, escaped.
struct RouteLabels<'a>(&'a RouteTotals<'a>);

impl fmt::Display for RouteLabels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RouteTotals { vhost, route, .. } = self.0;
        write!(
            f,
            "vhost=\"{}\",route=\"{}\"",
            PromLabel(vhost),
            PromLabel(route)
        )
    }
}

/// Writes one route's series of a histogram family: cumulative buckets up to the highest
/// non-empty bounded one, `+Inf`, `_sum` and `_count`.
fn prom_histogram(out: &mut String, info: &HistInfo, route: &RouteTotals<'_>, snap: &HistSnapshot) {
    let labels = RouteLabels(route);
    let name = info.name;
    let top = snap.buckets[..LAST_BUCKET].iter().rposition(|&n| n > 0);
    let mut cumulative = 0u64;
    for (k, &n) in snap
        .buckets
        .iter()
        .enumerate()
        .take(top.map_or(0, |t| t + 1))
    {
        cumulative = cumulative.wrapping_add(n);
        let le = InUnit(upper_bound(k), info.unit);
        put!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}\n");
    }
    put!(
        out,
        "{name}_bucket{{{labels},le=\"+Inf\"}} {}\n",
        snap.count
    );
    put!(
        out,
        "{name}_sum{{{labels}}} {}\n",
        InUnit(snap.sum, info.unit)
    );
    put!(out, "{name}_count{{{labels}}} {}\n", snap.count);
}

/// Appends the metrics of all `reactors` to `out` in the Prometheus text exposition format
/// 0.0.4. Counters and gauges are summed across reactors. Route slot `i` is labelled
/// `labels[i]` (vhost, route); slots past `labels.len()` are merged and labelled ("", "other").
/// Only routes with data appear, and only their non-empty histograms. Labels must be distinct,
/// or Prometheus will reject the duplicate series.
pub fn render_prometheus(
    reactors: &[Arc<ReactorMetrics>],
    labels: &[(String, String)],
    out: &mut String,
) {
    for c in &COUNTERS {
        family(out, c.name, c.help, "counter");
        put!(
            out,
            "{} {}\n",
            c.name,
            total(reactors, c.field, Counter::get)
        );
    }
    family(out, RESPONSES_NAME, RESPONSES_HELP, "counter");
    for (_, class, field) in RESPONSE_CLASSES {
        let n = total(reactors, field, Counter::get);
        put!(out, "{RESPONSES_NAME}{{class=\"{class}\"}} {n}\n");
    }
    for g in &GAUGES {
        family(out, g.name, g.help, "gauge");
        put!(out, "{} {}\n", g.name, total(reactors, g.field, Gauge::get));
    }
    let routes = route_totals(reactors, labels);
    family(out, ROUTE_EXCHANGES_NAME, ROUTE_EXCHANGES_HELP, "counter");
    for r in &routes {
        put!(
            out,
            "{ROUTE_EXCHANGES_NAME}{{{}}} {}\n",
            RouteLabels(r),
            r.exchanges
        );
    }
    for (i, info) in HISTS.iter().enumerate() {
        family(out, info.name, info.help, "histogram");
        for r in &routes {
            if r.hists[i].count > 0 {
                prom_histogram(out, info, r, &r.hists[i]);
            }
        }
    }
}

/// A string as a JSON string literal: quoted, with `"`, `\` and control characters escaped.
struct JsonStr<'a>(&'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c < ' ' => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Appends the metrics of all `reactors` to `out` as one JSON object, no trailing newline:
/// `{"counters":{…},"gauges":{…},"routes":[…]}`. Counters (keyed by field name, the response
/// classes as `responses_1xx` …) and gauges are summed across reactors. Routes are labelled and
/// merged as in [`render_prometheus`] and listed when they have data; each has `vhost`, `route`,
/// `exchanges` and one object per histogram with `count`, `sum`, `p50`, `p90`, `p99` and
/// `max_bucket` (bucket upper bounds, as [`HistSnapshot::quantile`] returns them).
pub fn render_json(
    reactors: &[Arc<ReactorMetrics>],
    labels: &[(String, String)],
    out: &mut String,
) {
    out.push_str("{\"counters\":{");
    for (i, c) in COUNTERS.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        put!(
            out,
            "{comma}\"{}\":{}",
            c.key,
            total(reactors, c.field, Counter::get)
        );
    }
    for (key, _, field) in RESPONSE_CLASSES {
        put!(out, ",\"{key}\":{}", total(reactors, field, Counter::get));
    }
    out.push_str("},\"gauges\":{");
    for (i, g) in GAUGES.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        put!(
            out,
            "{comma}\"{}\":{}",
            g.key,
            total(reactors, g.field, Gauge::get)
        );
    }
    out.push_str("},\"routes\":[");
    for (i, r) in route_totals(reactors, labels).iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        put!(
            out,
            "{comma}{{\"vhost\":{},\"route\":{},\"exchanges\":{}",
            JsonStr(r.vhost),
            JsonStr(r.route),
            r.exchanges
        );
        for (info, snap) in HISTS.iter().zip(&r.hists) {
            put!(
                out,
                ",\"{}\":{{\"count\":{},\"sum\":{}",
                info.key,
                snap.count,
                snap.sum
            );
            for (key, q) in PERCENTILES {
                put!(out, ",\"{key}\":{}", snap.quantile(q));
            }
            put!(out, ",\"max_bucket\":{}}}", snap.quantile(1.0));
        }
        out.push('}');
    }
    out.push_str("]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    /// One parsed Prometheus sample line.
    #[derive(Debug)]
    struct Sample {
        name: String,
        labels: Vec<(String, String)>,
        value: f64,
    }

    impl Sample {
        fn label(&self, key: &str) -> Option<&str> {
            self.labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
    }

    fn is_name_char(c: char, first: bool) -> bool {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
    }

    /// Parses `name{labels} value`, unescaping label values; panics on anything else.
    fn parse_sample(line: &str) -> Sample {
        let end = line
            .char_indices()
            .find(|&(i, c)| !is_name_char(c, i == 0))
            .map_or(line.len(), |(i, _)| i);
        assert!(end > 0, "no metric name: {line:?}");
        let name = line[..end].to_string();
        let mut rest = line[end..].chars().peekable();
        let mut labels = Vec::new();
        if rest.peek() == Some(&'{') {
            rest.next();
            loop {
                let mut key = String::new();
                while let Some(&c) = rest.peek() {
                    if !is_name_char(c, key.is_empty()) || c == ':' {
                        break;
                    }
                    key.push(c);
                    rest.next();
                }
                assert!(!key.is_empty(), "no label name: {line:?}");
                assert_eq!(rest.next(), Some('='), "{line:?}");
                assert_eq!(rest.next(), Some('"'), "{line:?}");
                let mut value = String::new();
                loop {
                    match rest
                        .next()
                        .unwrap_or_else(|| panic!("open label: {line:?}"))
                    {
                        '"' => break,
                        '\\' => match rest.next() {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        },
                        '\n' => panic!("raw newline in label: {line:?}"),
                        c => value.push(c),
                    }
                }
                labels.push((key, value));
                match rest.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("expected , or }} but got {other:?}: {line:?}"),
                }
            }
        }
        assert_eq!(rest.next(), Some(' '), "no space before value: {line:?}");
        let value: String = rest.collect();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value {value:?}: {line:?}"));
        assert!(value.is_finite() && value >= 0.0, "{line:?}");
        Sample {
            name,
            labels,
            value,
        }
    }

    /// Checks `text` against the text exposition format and spoonfeed's rules, returning the
    /// samples: every family opens with HELP then TYPE and is not repeated; every sample belongs
    /// to the family opened last; no series repeats; histogram buckets have increasing `le`,
    /// cumulative counts and end in `+Inf` equal to `_count`.
    fn check_prometheus(text: &str) -> Vec<Sample> {
        assert!(text.ends_with('\n'));
        let mut families = HashSet::new();
        let mut current: Option<(String, String)> = None;
        let mut pending_help: Option<String> = None;
        let mut series = HashSet::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP without text");
                assert!(!help.is_empty() && !help.contains('\\'), "{line:?}");
                assert!(pending_help.is_none(), "HELP without TYPE before {line:?}");
                pending_help = Some(name.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE without type");
                assert_eq!(
                    pending_help.take().as_deref(),
                    Some(name),
                    "TYPE without HELP"
                );
                assert!(
                    ["counter", "gauge", "histogram"].contains(&kind),
                    "{line:?}"
                );
                assert!(name.starts_with("spoonfeed_"), "{line:?}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line:?}");
                assert!(families.insert(name.to_string()), "family repeated: {name}");
                current = Some((name.to_string(), kind.to_string()));
                continue;
            }
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            assert!(pending_help.is_none(), "HELP without TYPE before {line:?}");
            let s = parse_sample(line);
            let (family, kind) = current.as_ref().expect("sample before any TYPE");
            let belongs = if kind == "histogram" {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| s.name == format!("{family}{suffix}"))
            } else {
                s.name == *family
            };
            assert!(belongs, "{line:?} outside its family {family}");
            assert!(
                series.insert(format!("{}{:?}", s.name, s.labels)),
                "series repeated: {line:?}"
            );
            samples.push(s);
        }
        assert!(pending_help.is_none());
        check_buckets(&samples);
        samples
    }

    /// The histogram rules of [`check_prometheus`].
    fn check_buckets(samples: &[Sample]) {
        // (base name, labels without le) -> (le, cumulative count) in output order.
        let mut buckets: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        let mut counts: HashMap<String, f64> = HashMap::new();
        for s in samples {
            let others: Vec<_> = s.labels.iter().filter(|(k, _)| k != "le").collect();
            if let Some(base) = s.name.strip_suffix("_bucket") {
                let le = s.label("le").expect("bucket without le");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("bad le")
                };
                let key = format!("{base}{others:?}");
                buckets.entry(key).or_default().push((le, s.value));
            } else if let Some(base) = s.name.strip_suffix("_count") {
                counts.insert(format!("{base}{others:?}"), s.value);
            }
        }
        assert_eq!(buckets.len(), counts.len());
        for (key, list) in &buckets {
            for pair in list.windows(2) {
                assert!(pair[0].0 < pair[1].0, "le not increasing in {key}");
                assert!(pair[0].1 <= pair[1].1, "buckets not cumulative in {key}");
            }
            let &(le, n) = list.last().unwrap();
            assert_eq!(le, f64::INFINITY, "{key} does not end in +Inf");
            assert_eq!(
                Some(&n),
                counts.get(key),
                "+Inf differs from _count in {key}"
            );
        }
    }

    /// A parsed JSON value; numbers are kept as the unsigned integers spoonfeed writes.
    #[derive(Debug, PartialEq)]
    enum Json {
        Num(u64),
        Str(String),
        Arr(Vec<Json>),
        Obj(Vec<(String, Json)>),
    }

    impl Json {
        fn get(&self, key: &str) -> &Json {
            match self {
                Json::Obj(fields) => {
                    &fields
                        .iter()
                        .find(|(k, _)| k == key)
                        .unwrap_or_else(|| panic!("no key {key}"))
                        .1
                }
                other => panic!("{other:?} is not an object"),
            }
        }

        fn num(&self) -> u64 {
            match self {
                Json::Num(n) => *n,
                other => panic!("{other:?} is not a number"),
            }
        }

        fn str(&self) -> &str {
            match self {
                Json::Str(s) => s,
                other => panic!("{other:?} is not a string"),
            }
        }

        fn arr(&self) -> &[Json] {
            match self {
                Json::Arr(items) => items,
                other => panic!("{other:?} is not an array"),
            }
        }
    }

    /// A strict parser for the subset of JSON spoonfeed writes (objects, arrays, strings,
    /// unsigned integers, no whitespace). Rejects duplicate keys and raw control characters.
    struct JsonParser<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl JsonParser<'_> {
        fn parse(text: &str) -> Json {
            let mut p = JsonParser {
                bytes: text.as_bytes(),
                at: 0,
            };
            let value = p.value();
            assert_eq!(p.at, p.bytes.len(), "trailing bytes after the value");
            value
        }

        fn next(&mut self) -> u8 {
            let b = *self.bytes.get(self.at).expect("unexpected end of JSON");
            self.at += 1;
            b
        }

        fn expect(&mut self, want: u8) {
            let got = self.next();
            assert_eq!(got as char, want as char, "at byte {}", self.at - 1);
        }

        fn value(&mut self) -> Json {
            match self
                .bytes
                .get(self.at)
                .copied()
                .expect("unexpected end of JSON")
            {
                b'{' => {
                    self.at += 1;
                    let mut fields: Vec<(String, Json)> = Vec::new();
                    if self.bytes[self.at] == b'}' {
                        self.at += 1;
                        return Json::Obj(fields);
                    }
                    loop {
                        let key = self.string();
                        assert!(fields.iter().all(|(k, _)| *k != key), "duplicate {key}");
                        self.expect(b':');
                        fields.push((key, self.value()));
                        match self.next() {
                            b',' => continue,
                            b'}' => return Json::Obj(fields),
                            b => panic!("expected , or }} at {}, got {:?}", self.at, b as char),
                        }
                    }
                }
                b'[' => {
                    self.at += 1;
                    let mut items = Vec::new();
                    if self.bytes[self.at] == b']' {
                        self.at += 1;
                        return Json::Arr(items);
                    }
                    loop {
                        items.push(self.value());
                        match self.next() {
                            b',' => continue,
                            b']' => return Json::Arr(items),
                            b => panic!("expected , or ] at {}, got {:?}", self.at, b as char),
                        }
                    }
                }
                b'"' => Json::Str(self.string()),
                b'0'..=b'9' => {
                    let start = self.at;
                    while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
                        self.at += 1;
                    }
                    let digits = std::str::from_utf8(&self.bytes[start..self.at]).unwrap();
                    assert!(digits == "0" || !digits.starts_with('0'), "leading zero");
                    Json::Num(digits.parse().expect("number out of range"))
                }
                b => panic!("unexpected {:?} at {}", b as char, self.at),
            }
        }

        fn string(&mut self) -> String {
            self.expect(b'"');
            let mut bytes = Vec::new();
            loop {
                match self.next() {
                    b'"' => return String::from_utf8(bytes).expect("string is not UTF-8"),
                    b'\\' => match self.next() {
                        b'"' => bytes.push(b'"'),
                        b'\\' => bytes.push(b'\\'),
                        b'/' => bytes.push(b'/'),
                        b'b' => bytes.push(8),
                        b'f' => bytes.push(12),
                        b'n' => bytes.push(b'\n'),
                        b'r' => bytes.push(b'\r'),
                        b't' => bytes.push(b'\t'),
                        b'u' => {
                            let hex = std::str::from_utf8(&self.bytes[self.at..self.at + 4]);
                            let code = u32::from_str_radix(hex.unwrap(), 16).expect("bad \\u");
                            self.at += 4;
                            let c = char::from_u32(code).expect("surrogate in \\u");
                            bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        b => panic!("bad escape \\{}", b as char),
                    },
                    b if b < 0x20 => panic!("raw control byte {b:#x} in a string"),
                    b => bytes.push(b),
                }
            }
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(v, r)| (v.to_string(), r.to_string()))
            .collect()
    }

    fn prometheus(reactors: &[Arc<ReactorMetrics>], labels: &[(String, String)]) -> Vec<Sample> {
        let mut out = String::new();
        render_prometheus(reactors, labels, &mut out);
        check_prometheus(&out)
    }

    fn json(reactors: &[Arc<ReactorMetrics>], labels: &[(String, String)]) -> Json {
        let mut out = String::new();
        render_json(reactors, labels, &mut out);
        JsonParser::parse(&out)
    }

    /// Two reactors with some traffic on routes 0 and 1.
    fn busy_reactors() -> Vec<Arc<ReactorMetrics>> {
        let reactors: Vec<_> = (0..2).map(|_| Arc::new(ReactorMetrics::new())).collect();
        for (i, m) in reactors.iter().enumerate() {
            m.requests.add(10);
            m.count_status(200);
            m.count_status(404);
            m.bytes_to_clients.add(1 << 20);
            m.connections_open.set(3);
            let route = m.route(i);
            route.exchanges.add(5);
            for v in [0, 900, 1000, 250_000, 3_000_000] {
                route.hold_us.record(v);
                route.drain_us.record(v * 2);
                route.saved_us.record(v);
            }
            route.peak_bytes.record(64 * 1024);
            route.held_at_release_bytes.record(10_000);
        }
        reactors
    }

    #[test]
    fn values_land_in_the_bucket_whose_bound_is_the_next_power_of_two() {
        let cases = [
            (0, 0),
            (1, 0),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 3),
            (1 << 46, 46),
            ((1 << 46) + 1, LAST_BUCKET),
            (1 << 47, LAST_BUCKET),
            (u64::MAX, LAST_BUCKET),
        ];
        for (v, k) in cases {
            assert_eq!(bucket_of(v), k, "value {v}");
            let h = Histogram::default();
            h.record(v);
            let snap = h.snapshot();
            assert_eq!(snap.buckets[k], 1, "value {v}");
            assert_eq!((snap.count, snap.sum, h.count(), h.sum()), (1, v, 1, v));
        }
        for k in 1..LAST_BUCKET {
            let bound = upper_bound(k);
            assert_eq!(bucket_of(bound), k);
            assert_eq!(bucket_of(bound + 1), k + 1);
            assert_eq!(bucket_of(upper_bound(k - 1) + 1), k);
        }
    }

    #[test]
    fn quantile_is_the_bound_of_the_bucket_holding_that_rank() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0, "empty");
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.sum(), 5050);
        assert_eq!(h.quantile(0.0), 1);
        assert_eq!(h.quantile(0.01), 1);
        assert_eq!(h.quantile(0.02), 2);
        assert_eq!(h.quantile(0.5), 64);
        assert_eq!(h.quantile(0.64), 64);
        assert_eq!(h.quantile(0.65), 128);
        assert_eq!(h.quantile(0.99), 128);
        assert_eq!(h.quantile(1.0), 128);
        assert_eq!(h.quantile(7.0), 128, "clamped");
        assert_eq!(h.quantile(-1.0), 1, "clamped");
        assert_eq!(h.quantile(f64::NAN), 1);
        h.record(u64::MAX);
        assert_eq!(h.quantile(1.0), u64::MAX, "catch-all");
        h.reset();
        assert_eq!((h.count(), h.sum(), h.quantile(1.0)), (0, 0, 0));
    }

    #[test]
    fn merged_snapshots_equal_one_histogram_that_saw_everything() {
        let (a, b, both) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for v in [0, 1, 7, 1000, 1 << 40] {
            a.record(v);
            both.record(v);
        }
        for v in [3, 7, 65_536, u64::MAX / 2] {
            b.record(v);
            both.record(v);
        }
        let mut merged = a.snapshot();
        merged.merge(&b.snapshot());
        assert_eq!(merged, both.snapshot());
        assert_eq!(merged.count, 9);
        assert_eq!(merged.quantile(0.5), 8);
        let mut empty = HistSnapshot::default();
        empty.merge(&HistSnapshot::default());
        assert_eq!((empty.count, empty.quantile(0.5)), (0, 0));
    }

    #[test]
    fn status_codes_count_in_their_class_and_invalid_ones_nowhere() {
        let m = ReactorMetrics::new();
        for status in [
            100, 101, 200, 204, 299, 301, 304, 400, 404, 431, 500, 502, 599, 0, 99, 600, 999,
        ] {
            m.count_status(status);
        }
        let classes = [
            &m.responses_1xx,
            &m.responses_2xx,
            &m.responses_3xx,
            &m.responses_4xx,
            &m.responses_5xx,
        ];
        let counts: Vec<u64> = classes.iter().map(|c| c.get()).collect();
        assert_eq!(counts, [2, 3, 2, 3, 3]);
    }

    #[test]
    fn routes_past_the_last_slot_share_it_and_reset_clears_them() {
        let m = ReactorMetrics::new();
        assert_eq!(m.routes.len(), ROUTE_SLOTS);
        m.route(0).exchanges.incr();
        m.route(ROUTE_SLOTS - 1).exchanges.incr();
        m.route(ROUTE_SLOTS).exchanges.incr();
        m.route(usize::MAX).hold_us.record(5);
        assert_eq!(m.route(0).exchanges.get(), 1);
        assert_eq!(m.route(ROUTE_SLOTS - 1).exchanges.get(), 2);
        assert_eq!(m.routes[ROUTE_SLOTS - 1].hold_us.count(), 1);
        m.reset_routes();
        assert!(m.routes.iter().all(|r| r.exchanges.get() == 0
            && HISTS
                .iter()
                .all(|h| (h.field)(r).count() == 0 && (h.field)(r).sum() == 0)));
    }

    #[test]
    fn counters_and_gauges_wrap_instead_of_panicking() {
        let c = Counter::default();
        c.add(u64::MAX);
        c.incr();
        assert_eq!(c.get(), 0);
        let g = Gauge::default();
        g.set(42);
        g.set(7);
        assert_eq!(g.get(), 7);
    }

    #[test]
    fn prometheus_output_is_well_formed_and_sums_reactors() {
        let reactors = busy_reactors();
        let samples = prometheus(
            &reactors,
            &labels(&[("localhost", "/perl/"), ("localhost", "/")]),
        );
        let value = |name: &str, label: Option<(&str, &str)>| {
            samples
                .iter()
                .find(|s| s.name == name && label.is_none_or(|(k, v)| s.label(k) == Some(v)))
                .unwrap_or_else(|| panic!("no sample {name} {label:?}"))
                .value
        };
        assert_eq!(value("spoonfeed_requests_total", None), 20.0);
        assert_eq!(
            value("spoonfeed_client_bytes_sent_total", None),
            2.0 * 1048576.0
        );
        assert_eq!(
            value("spoonfeed_responses_total", Some(("class", "2xx"))),
            2.0
        );
        assert_eq!(
            value("spoonfeed_responses_total", Some(("class", "5xx"))),
            0.0
        );
        assert_eq!(value("spoonfeed_connections_open", None), 6.0);
        assert_eq!(
            value("spoonfeed_route_exchanges_total", Some(("route", "/perl/"))),
            5.0
        );
        assert_eq!(
            value("spoonfeed_backend_hold_seconds_count", Some(("route", "/"))),
            5.0
        );
        // 0 + 900 + 1000 + 250000 + 3000000 µs.
        assert_eq!(
            value("spoonfeed_backend_hold_seconds_sum", Some(("route", "/"))),
            3.2519
        );
        assert_eq!(
            value("spoonfeed_peak_occupancy_bytes_sum", Some(("route", "/"))),
            65536.0
        );
        let hold_buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| {
                s.name == "spoonfeed_backend_hold_seconds_bucket"
                    && s.label("route") == Some("/perl/")
            })
            .collect();
        // Buckets 0..=22 (3 s <= 2^22 µs), then +Inf.
        assert_eq!(hold_buckets.len(), 24);
        assert_eq!(hold_buckets[0].label("le"), Some("0.000001"));
        assert_eq!(hold_buckets[0].value, 1.0);
        assert_eq!(hold_buckets[10].label("le"), Some("0.001024"));
        assert_eq!(hold_buckets[10].value, 3.0);
        assert_eq!(hold_buckets[22].label("le"), Some("4.194304"));
        let peak_les: Vec<_> = samples
            .iter()
            .filter(|s| s.name == "spoonfeed_peak_occupancy_bytes_bucket")
            .filter_map(|s| s.label("le"))
            .collect();
        assert_eq!(peak_les.len(), 2 * 18);
        assert_eq!(&peak_les[15..18], ["32768", "65536", "+Inf"]);
    }

    #[test]
    fn prometheus_output_of_idle_reactors_has_every_family_and_no_routes() {
        let samples = prometheus(&[Arc::new(ReactorMetrics::new())], &labels(&[("a", "/")]));
        assert!(samples
            .iter()
            .all(|s| s.value == 0.0 && s.label("route").is_none()));
        let mut out = String::new();
        render_prometheus(&[], &[], &mut out);
        check_prometheus(&out);
        let types = out.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(types, COUNTERS.len() + 1 + GAUGES.len() + 1 + HISTS.len());
    }

    #[test]
    fn slots_past_the_labels_merge_into_one_other_route() {
        let m = Arc::new(ReactorMetrics::new());
        for slot in [1, 2, 5, ROUTE_SLOTS + 3] {
            m.route(slot).exchanges.incr();
            m.route(slot).hold_us.record(10);
        }
        let samples = prometheus(std::slice::from_ref(&m), &labels(&[("h", "/a")]));
        let exchanges: Vec<_> = samples
            .iter()
            .filter(|s| s.name == ROUTE_EXCHANGES_NAME)
            .map(|s| {
                (
                    s.label("vhost").unwrap(),
                    s.label("route").unwrap(),
                    s.value,
                )
            })
            .collect();
        assert_eq!(exchanges, [("", "other", 4.0)]);
        let doc = json(&[m], &labels(&[("h", "/a")]));
        let routes = doc.get("routes").arr();
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].get("route").str(), "other");
        assert_eq!(routes[0].get("backend_hold_us").get("count").num(), 4);
    }

    #[test]
    fn hostile_label_values_are_escaped_in_both_formats() {
        let m = Arc::new(ReactorMetrics::new());
        m.route(0).exchanges.incr();
        m.route(0).peak_bytes.record(1);
        let nasty = "a\"b\\c\nd\re\tf\u{1}g\u{7f}é}{,=";
        let names = labels(&[(nasty, "/\"quoted\"\\")]);
        let mut text = String::new();
        render_prometheus(std::slice::from_ref(&m), &names, &mut text);
        assert!(text.contains(r#"vhost="a\"b\\c\nd"#), "{text}");
        let samples = check_prometheus(&text);
        let routed: Vec<_> = samples
            .iter()
            .filter(|s| s.label("route").is_some())
            .collect();
        assert_eq!(routed.len(), 1 + 4);
        for s in routed {
            assert_eq!(s.label("vhost"), Some(nasty));
            assert_eq!(s.label("route"), Some("/\"quoted\"\\"));
        }
        let mut text = String::new();
        render_json(std::slice::from_ref(&m), &names, &mut text);
        assert!(text.contains(r#""a\"b\\c\nd\re\tf\u0001g"#), "{text}");
        let doc = JsonParser::parse(&text);
        let route = &doc.get("routes").arr()[0];
        assert_eq!(route.get("vhost").str(), nasty);
        assert_eq!(route.get("route").str(), "/\"quoted\"\\");
    }

    #[test]
    fn json_output_is_well_formed_and_sums_reactors() {
        let reactors = busy_reactors();
        let doc = json(&reactors, &labels(&[("localhost", "/perl/")]));
        let Json::Obj(top) = &doc else {
            panic!("not an object")
        };
        let keys: Vec<_> = top.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["counters", "gauges", "routes"]);
        let counters = doc.get("counters");
        assert_eq!(counters.get("requests").num(), 20);
        assert_eq!(counters.get("responses_4xx").num(), 2);
        assert_eq!(counters.get("bytes_to_clients").num(), 2 << 20);
        let Json::Obj(all) = counters else {
            panic!("counters not an object")
        };
        assert_eq!(all.len(), COUNTERS.len() + RESPONSE_CLASSES.len());
        assert_eq!(doc.get("gauges").get("connections_open").num(), 6);
        let routes = doc.get("routes").arr();
        assert_eq!(routes.len(), 2);
        assert_eq!(
            (routes[0].get("vhost").str(), routes[0].get("route").str()),
            ("localhost", "/perl/")
        );
        assert_eq!(
            (routes[1].get("vhost").str(), routes[1].get("route").str()),
            ("", "other")
        );
        let hold = routes[0].get("backend_hold_us");
        assert_eq!(hold.get("count").num(), 5);
        assert_eq!(hold.get("sum").num(), 3_251_900);
        assert_eq!(hold.get("p50").num(), 1024);
        assert_eq!(hold.get("p90").num(), 1 << 22);
        assert_eq!(hold.get("p99").num(), 1 << 22);
        assert_eq!(hold.get("max_bucket").num(), 1 << 22);
        for info in &HISTS {
            assert!(
                routes[1].get(info.key).get("count").num() > 0,
                "{}",
                info.key
            );
        }
        let empty = json(&[], &[]);
        assert_eq!(empty.get("routes").arr(), &[]);
        assert_eq!(empty.get("counters").get("aborted").num(), 0);
    }

    #[test]
    fn micros_render_as_exact_decimal_seconds() {
        let shown = |v| InUnit(v, Unit::Micros).to_string();
        assert_eq!(shown(0), "0");
        assert_eq!(shown(1), "0.000001");
        assert_eq!(shown(1024), "0.001024");
        assert_eq!(shown(1_000_000), "1");
        assert_eq!(shown(1_500_000), "1.5");
        assert_eq!(shown(1 << 46), "70368744.177664");
        assert_eq!(shown(u64::MAX), "18446744073709.551615");
        assert_eq!(
            InUnit(u64::MAX, Unit::Bytes).to_string(),
            "18446744073709551615"
        );
    }

    #[test]
    fn a_reader_thread_sees_the_single_writer_s_counts_grow_to_the_total() {
        const N: u64 = 200_000;
        let m = Arc::new(ReactorMetrics::new());
        let writer = {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                for i in 0..N {
                    m.requests.incr();
                    m.bytes_to_clients.add(3);
                    m.route(0).hold_us.record(i);
                }
            })
        };
        let mut last = 0;
        while !writer.is_finished() {
            let now = m.requests.get();
            assert!(now >= last, "a counter went backwards: {last} then {now}");
            assert!(m.route(0).hold_us.count() <= N);
            last = now;
        }
        writer.join().unwrap();
        assert_eq!(m.requests.get(), N);
        assert_eq!(m.bytes_to_clients.get(), 3 * N);
        let hold = m.route(0).hold_us.snapshot();
        assert_eq!((hold.count, hold.sum), (N, N * (N - 1) / 2));
        let doc = json(&[m], &[]);
        assert_eq!(doc.get("counters").get("requests").num(), N);
    }
}
