//! What each reactor counts, and the status endpoint's two views of it.
//!
//! The server creates one [`ReactorMetrics`] per reactor, behind an `Arc`, before the reactors
//! start. Only the reactor it was made for writes it (relaxed atomics, no allocation or syscall
//! per request: see `cell`); the status endpoint, served by whichever reactor gets the
//! request, reads all of them and sums or merges them while rendering.
//!
//! The parts: `cell` holds the single-writer [`Counter`], [`Gauge`] and [`Histogram`]; this file
//! holds the structs made of them ([`ReactorMetrics`], [`RouteMetrics`]); `table` is the one
//! list of what is shown (names, help, JSON keys, the field each reads, and the counter families
//! told apart by a label), which drives both renderers: `prometheus` (text exposition format
//! 0.0.4) and `json`.
//!
//! Invariant: `ReactorMetrics::routes` has [`ROUTE_SLOTS`] entries.

/// Appends formatted text to a `String` (the caller imports `std::fmt::Write`). Writing to a
/// `String` cannot fail, so the `fmt::Result` is dropped here once instead of at every call.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        let _ = write!($out, $($arg)*);
    };
}

mod cell;
mod json;
mod prometheus;
mod table;

pub use cell::{Counter, Gauge, HistSnapshot, Histogram, HIST_BUCKETS};
pub use json::render_json;
pub use prometheus::render_prometheus;

use table::HISTS;

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

/// The status classes final responses are counted in, as the `class` label of
/// `spoonfeed_responses_total` names them, in the order of [`ReactorMetrics::responses`].
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Why responses to cacheable requests were not stored, as the `reason` label of
/// `spoonfeed_cache_not_stored_total` names them (`policy::NotStored::as_str` gives the first
/// eight), in the order of [`ReactorMetrics::cache_not_stored_why`]:
/// `method` (not a GET), `status` (206, 304, 1xx, or a status that needs explicit freshness),
/// `no_store` (in the request or the response), `private`, `authorization` (a request with
/// Authorization and a response not marked shareable), `set_cookie`, `vary_all` (`Vary: *`),
/// `no_freshness` (no freshness, validator or heuristic), `streaming` (`X-Accel-Buffering: no`,
/// `buffering=off`), `size` (past CacheMaxFileSize), `write` (the entry could not be written).
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
    /// Final responses sent to clients, by status class, in the order of [`STATUS_CLASSES`]
    /// (counted by [`count_status`](Self::count_status)).
    pub responses: [Counter; STATUS_CLASSES.len()],
    /// Exchanges completed with a backend (the last byte to the client).
    pub proxied: Counter,
    /// Responses cut off mid-way: the client connection closed before they were complete.
    pub aborted: Counter,
    /// Answers of ours (502, 503, 504) whose cause is the backend (`Failure::source`); a
    /// pool too short on our side is `pool_refused`.
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
    /// Responses to cacheable requests not stored, by reason, in the order of
    /// [`NOT_STORED_REASONS`] (counted by [`count_not_stored`](Self::count_not_stored)).
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
            responses: Default::default(),
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
        if let 100..=599 = status {
            self.responses[usize::from(status / 100 - 1)].incr();
        }
    }

    /// Counts a response to a cacheable request not stored, under `why`, a name of
    /// [`NOT_STORED_REASONS`] (owning reactor only). A name not in the list is a bug in the
    /// caller: debug builds panic on it, release builds do not count it.
    pub fn count_not_stored(&self, why: &str) {
        let slot = NOT_STORED_REASONS.iter().position(|r| *r == why);
        debug_assert!(slot.is_some(), "{why:?} is not in NOT_STORED_REASONS");
        if let Some(slot) = slot {
            self.cache_not_stored_why[slot].incr();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    pub(super) fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(v, r)| (v.to_string(), r.to_string()))
            .collect()
    }

    /// Two reactors with some traffic on routes 0 and 1.
    pub(super) fn busy_reactors() -> Vec<Arc<ReactorMetrics>> {
        let reactors: Vec<_> = (0..2).map(|_| Arc::new(ReactorMetrics::new())).collect();
        for (i, m) in reactors.iter().enumerate() {
            m.requests.add(10);
            m.count_status(200);
            m.count_status(404);
            m.count_not_stored("no_store");
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
    fn status_codes_count_in_their_class_and_invalid_ones_nowhere() {
        let m = ReactorMetrics::new();
        for status in [
            100, 101, 200, 204, 299, 301, 304, 400, 404, 431, 500, 502, 599, 0, 99, 600, 999,
        ] {
            m.count_status(status);
        }
        let counts: Vec<u64> = m.responses.iter().map(Counter::get).collect();
        assert_eq!(counts, [2, 3, 2, 3, 3]);
    }

    #[test]
    fn responses_not_stored_count_under_their_reason() {
        let m = ReactorMetrics::new();
        for why in ["no_store", "size", "no_store", "write"] {
            m.count_not_stored(why);
        }
        let by_reason: Vec<(&str, u64)> = NOT_STORED_REASONS
            .iter()
            .zip(&m.cache_not_stored_why)
            .map(|(&why, c)| (why, c.get()))
            .filter(|&(_, n)| n > 0)
            .collect();
        assert_eq!(by_reason, [("no_store", 2), ("size", 1), ("write", 1)]);
    }

    #[test]
    #[should_panic(expected = "\"framing\" is not in NOT_STORED_REASONS")]
    #[cfg(debug_assertions)]
    fn a_reason_not_in_the_list_is_caught_in_debug_builds() {
        ReactorMetrics::new().count_not_stored("framing");
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
        let mut doc = String::new();
        render_json(&[m], &[], &mut doc);
        assert!(doc.contains(&format!("\"requests\":{N},")), "{doc}");
    }
}
