//! The one list of what the status endpoint shows: every counter and gauge with its JSON key,
//! Prometheus name and help, and the field it reads; the counter families told apart by a label
//! (responses by status class, responses not stored by reason);
//! the per-route histograms with their unit. Both renderers walk these tables in order, so a
//! value added here appears in both, and nowhere else needs to know it.
//!
//! Also the reading side shared by the renderers: values summed across reactors, and route
//! slots merged under their labels.

use std::sync::Arc;

use super::{
    Counter, Gauge, HistSnapshot, Histogram, ReactorMetrics, RouteMetrics, NOT_STORED_REASONS,
    STATUS_CLASSES,
};

/// Reads one counter or gauge out of a [`ReactorMetrics`].
pub(super) type Field<T> = fn(&ReactorMetrics) -> &T;

/// How one counter or gauge is rendered: its JSON key (the field name), its Prometheus name and
/// help text, and the field it reads.
pub(super) struct Scalar<T: 'static> {
    pub(super) key: &'static str,
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) field: Field<T>,
}

/// Counters rendered as families of their own, in output order (before the [`FAMILIES`]).
pub(super) const COUNTERS: [Scalar<Counter>; 36] = [
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
        help:
            "Answers of ours (502, 503, 504) for a backend that failed, or is marked down or busy.",
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

/// A counter family whose members are told apart by one label. Prometheus shows one series per
/// member, `name{label="value"}`, under one HELP and TYPE, and no series for the total: that is
/// `sum(name)`, and a series of its own would be counted twice by it. JSON, which has no labels,
/// shows each member as a counter of its own keyed `key_value`, and no total either.
pub(super) struct Family {
    pub(super) key: &'static str,
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) label: &'static str,
    /// The label's values, one per cell, in the order of the cells.
    pub(super) values: &'static [&'static str],
    /// Invariant: as many cells as `values`.
    pub(super) cells: fn(&ReactorMetrics) -> &[Counter],
}

impl Family {
    /// Member `i` (the cell of `values[i]`) summed across reactors.
    pub(super) fn total(&self, reactors: &[Arc<ReactorMetrics>], i: usize) -> u64 {
        reactors
            .iter()
            .fold(0, |n, r| n.wrapping_add((self.cells)(r)[i].get()))
    }
}

/// Labelled counter families, in output order (after the [`COUNTERS`]).
pub(super) const FAMILIES: [Family; 2] = [
    Family {
        key: "responses",
        name: "spoonfeed_responses_total",
        help: "Final responses sent to clients, by status class.",
        label: "class",
        values: &STATUS_CLASSES,
        cells: |m| &m.responses,
    },
    Family {
        key: "cache_not_stored",
        name: "spoonfeed_cache_not_stored_total",
        help: "Responses to cacheable requests not stored, by reason.",
        label: "reason",
        values: &NOT_STORED_REASONS,
        cells: |m| &m.cache_not_stored_why,
    },
];

/// Gauges, summed across reactors, in output order.
pub(super) const GAUGES: [Scalar<Gauge>; 7] = [
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
pub(super) const ROUTE_EXCHANGES_NAME: &str = "spoonfeed_route_exchanges_total";
/// Help text of [`ROUTE_EXCHANGES_NAME`].
pub(super) const ROUTE_EXCHANGES_HELP: &str = "Exchanges per route.";

/// What a histogram's values measure, which decides how Prometheus shows them.
#[derive(Clone, Copy)]
pub(super) enum Unit {
    /// Recorded in microseconds, shown in seconds (the Prometheus base unit).
    Micros,
    /// Recorded and shown in bytes.
    Bytes,
}

/// How one per-route histogram is rendered: JSON key, Prometheus name and help, unit, field.
pub(super) struct HistInfo {
    pub(super) key: &'static str,
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) unit: Unit,
    pub(super) field: fn(&RouteMetrics) -> &Histogram,
}

/// The per-route histograms, in output order.
pub(super) const HISTS: [HistInfo; 5] = [
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
pub(super) const PERCENTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];

/// A counter or gauge summed across reactors.
pub(super) fn total<T>(
    reactors: &[Arc<ReactorMetrics>],
    field: Field<T>,
    get: fn(&T) -> u64,
) -> u64 {
    reactors
        .iter()
        .fold(0, |n, r| n.wrapping_add(get(field(r))))
}

/// One route's metrics merged across reactors, with the labels it is rendered under.
pub(super) struct RouteTotals<'a> {
    pub(super) vhost: &'a str,
    pub(super) route: &'a str,
    pub(super) exchanges: u64,
    /// Indexed like [`HISTS`].
    pub(super) hists: [HistSnapshot; HISTS.len()],
}

impl RouteTotals<'_> {
    fn is_active(&self) -> bool {
        self.exchanges > 0 || self.hists.iter().any(|h| h.count > 0)
    }
}

/// Merges every reactor's route slots: slot `i < labels.len()` under `labels[i]`, every slot past
/// the labels into one entry labelled ("", "other"), so that no two entries share labels.
/// Returns the entries with data, in slot order.
pub(super) fn route_totals<'a>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::labels;
    use crate::metrics::ROUTE_SLOTS;

    #[test]
    fn every_family_has_a_cell_for_each_label_value_and_sums_it_over_reactors() {
        let reactors = [
            Arc::new(ReactorMetrics::new()),
            Arc::new(ReactorMetrics::new()),
        ];
        for f in &FAMILIES {
            assert_eq!(f.values.len(), (f.cells)(&reactors[0]).len(), "{}", f.name);
            for (i, r) in reactors.iter().enumerate() {
                (f.cells)(r)[f.values.len() - 1].add(i as u64 + 1);
            }
            assert_eq!(f.total(&reactors, 0), 0, "{}", f.name);
            assert_eq!(f.total(&reactors, f.values.len() - 1), 3, "{}", f.name);
        }
    }

    #[test]
    fn slots_past_the_labels_merge_into_one_other_route() {
        let m = Arc::new(ReactorMetrics::new());
        for slot in [1, 2, 5, ROUTE_SLOTS + 3] {
            m.route(slot).exchanges.incr();
            m.route(slot).hold_us.record(10);
        }
        let names = labels(&[("h", "/a")]);
        let merged: Vec<_> = route_totals(&[m], &names)
            .iter()
            .map(|t| (t.vhost, t.route, t.exchanges, t.hists[0].count))
            .collect();
        assert_eq!(merged, [("", "other", 4, 4)]);
    }
}
