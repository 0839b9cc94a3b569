//! spoonfeed's status endpoint, JSON form, as `bufsweep` reads it.
//!
//! Owns turning the document `metrics::render_json` writes (`{"counters":{…},"gauges":{…},
//! "routes":[…]}`; README, "The status endpoint") into [`Status`]. Tolerant of what does not
//! change the numbers (whitespace, member order, counters, gauges and histograms it does not
//! know, which later versions may add); strict about the shape of what it reads: a missing
//! `counters`, `gauges` or `routes`, a histogram without one of its six numbers, or a number
//! that is not a whole non-negative one is an error naming the path to it.

use std::collections::BTreeMap;
use std::fmt;

use super::json::{self, Json};

/// One per-route histogram as the endpoint gives it. Percentiles are the upper bounds of the
/// power-of-two buckets that hold them: `p99: 8192` means the 99th percentile is above 4096
/// and at most 8192. Zero everywhere when the histogram is empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hist {
    pub count: u64,
    pub sum: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    /// Upper bound of the highest non-empty bucket; `u64::MAX` for the catch-all.
    pub max_bucket: u64,
}

/// One route's numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteStatus {
    /// ServerName of the route's virtual host.
    pub vhost: String,
    /// The ProxyPass path, or `~` and the regular expression of a ProxyPassMatch.
    pub route: String,
    pub exchanges: u64,
    /// Histograms by key: `backend_hold_us`, `client_drain_us`, `time_saved_us`,
    /// `peak_occupancy_bytes`, `held_at_release_bytes`, and any a later version adds.
    pub hists: BTreeMap<String, Hist>,
}

impl RouteStatus {
    /// The histogram `key`, or an empty one when the route has none by that name.
    pub fn hist(&self, key: &str) -> Hist {
        self.hists.get(key).copied().unwrap_or_default()
    }

    /// Backend hold, µs.
    pub fn backend_hold_us(&self) -> Hist {
        self.hist("backend_hold_us")
    }

    /// Peak occupancy per response, bytes.
    pub fn peak_occupancy_bytes(&self) -> Hist {
        self.hist("peak_occupancy_bytes")
    }
}

/// The whole status document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Counters by JSON key (`proxied`, `aborted`, `responses_5xx`, …).
    pub counters: BTreeMap<String, u64>,
    /// Gauges by JSON key (`blocks_peak`, `pool_bytes`, …).
    pub gauges: BTreeMap<String, u64>,
    /// Routes that have seen exchanges, in the endpoint's order.
    pub routes: Vec<RouteStatus>,
}

impl Status {
    /// The counter `key`, 0 when absent.
    pub fn counter(&self, key: &str) -> u64 {
        self.counters.get(key).copied().unwrap_or(0)
    }

    /// The gauge `key`, 0 when absent.
    pub fn gauge(&self, key: &str) -> u64 {
        self.gauges.get(key).copied().unwrap_or(0)
    }

    /// The route whose ProxyPass path is `route` (first match, any virtual host).
    pub fn route(&self, route: &str) -> Option<&RouteStatus> {
        self.routes.iter().find(|r| r.route == route)
    }

    /// Most bytes of blocks in use at once since start: `blocks_peak` × `io_buffer`.
    pub fn pool_peak_bytes(&self, io_buffer: u64) -> u64 {
        self.gauge("blocks_peak").saturating_mul(io_buffer)
    }

    /// Exchanges spoonfeed could not complete: responses cut off, 5xx answers and refusals
    /// at the pool's cap (a 503 is also in `responses_5xx`, so it is counted once).
    pub fn failures(&self) -> u64 {
        self.counter("aborted")
            .saturating_add(self.counter("responses_5xx"))
    }
}

/// Why a status document could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusError {
    /// Not JSON at all.
    Syntax(json::JsonError),
    /// JSON, but a member is missing or of the wrong kind; `path` says which
    /// (`routes[0].backend_hold_us.p99`).
    Shape {
        path: String,
        expected: &'static str,
    },
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusError::Syntax(e) => write!(f, "status endpoint: {e}"),
            StatusError::Shape { path, expected } => {
                write!(f, "status endpoint: {path} should be {expected}")
            }
        }
    }
}

impl std::error::Error for StatusError {}

/// The six numbers of every histogram.
const HIST_FIELDS: [&str; 6] = ["count", "sum", "p50", "p90", "p99", "max_bucket"];

/// Reads the JSON the status endpoint answers with `?format=json`.
pub fn parse_status_json(text: &str) -> Result<Status, StatusError> {
    let doc = json::parse(text).map_err(StatusError::Syntax)?;
    let shape = |path: String, expected| StatusError::Shape { path, expected };
    let object = |value: Option<&Json>, path: &str| match value {
        Some(Json::Obj(members)) => Ok(members.clone()),
        _ => Err(shape(path.to_string(), "an object")),
    };
    object(Some(&doc), "the document")?;
    let numbers = |members: Vec<(String, Json)>, path: &str| {
        members
            .into_iter()
            .map(|(key, value)| match value.as_u64() {
                Some(n) => Ok((key, n)),
                None => Err(shape(format!("{path}.{key}"), "a whole number")),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
    };
    let counters = numbers(object(doc.get("counters"), "counters")?, "counters")?;
    let gauges = numbers(object(doc.get("gauges"), "gauges")?, "gauges")?;
    let Some(routes) = doc.get("routes").and_then(Json::as_array) else {
        return Err(shape("routes".to_string(), "an array"));
    };
    let routes = routes
        .iter()
        .enumerate()
        .map(|(i, route)| parse_route(route, &format!("routes[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Status {
        counters,
        gauges,
        routes,
    })
}

fn parse_route(route: &Json, path: &str) -> Result<RouteStatus, StatusError> {
    let shape = |key: &str, expected| StatusError::Shape {
        path: format!("{path}.{key}"),
        expected,
    };
    let Json::Obj(members) = route else {
        return Err(StatusError::Shape {
            path: path.to_string(),
            expected: "an object",
        });
    };
    let text = |key: &str| {
        route
            .get(key)
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| shape(key, "a string"))
    };
    let mut status = RouteStatus {
        vhost: text("vhost")?,
        route: text("route")?,
        exchanges: route
            .get("exchanges")
            .and_then(Json::as_u64)
            .ok_or_else(|| shape("exchanges", "a whole number"))?,
        hists: BTreeMap::new(),
    };
    // Every object member is a histogram: that is how render_json lays a route out, and it
    // lets a histogram added later be read without a change here.
    for (key, value) in members {
        if !matches!(value, Json::Obj(_)) {
            continue;
        }
        let mut numbers = [0u64; 6];
        for (slot, field) in numbers.iter_mut().zip(HIST_FIELDS) {
            *slot = value
                .get(field)
                .and_then(Json::as_u64)
                .ok_or_else(|| shape(&format!("{key}.{field}"), "a whole number"))?;
        }
        let [count, sum, p50, p90, p99, max_bucket] = numbers;
        status.hists.insert(
            key.clone(),
            Hist {
                count,
                sum,
                p50,
                p90,
                p99,
                max_bucket,
            },
        );
    }
    Ok(status)
}
