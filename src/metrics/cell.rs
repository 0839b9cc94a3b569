//! The single-writer cells: [`Counter`], [`Gauge`] and [`Histogram`] with its power-of-two
//! buckets, and [`HistSnapshot`], the plain copy of a histogram that readers merge.
//!
//! What this module must not do: take a lock, allocate or make a syscall on the write path, or
//! use a read-modify-write instruction (`fetch_add` is a `lock`-prefixed instruction on x86, a
//! full barrier paid on every request). Writers do `store(load + n)` with `Relaxed` ordering,
//! which is correct only because every value has exactly one writer (see [`Counter`]).
//!
//! Invariants: a histogram has [`HIST_BUCKETS`] buckets, the last one unbounded. Readers see
//! every value as it was at some recent moment, but not all values at the same moment: a
//! histogram read while its owner records may show a `sum` that already includes a value its
//! buckets do not show yet. A snapshot's count is therefore always derived from the buckets that
//! were read, so that in the Prometheus output `le="+Inf"` always equals `_count`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adds `n` to a value that only the calling thread writes: a plain load and store, no `lock`
/// prefix. Wraps at 2^64 rather than panicking; Prometheus reads a wrap as a counter reset.
fn bump(cell: &AtomicU64, n: u64) {
    cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
}

/// A monotonic count.
///
/// Single writer: only the reactor that owns the enclosing
/// [`ReactorMetrics`](super::ReactorMetrics) may call [`add`](Counter::add) or
/// [`incr`](Counter::incr). Any thread may call [`get`](Counter::get). A second writer would not
/// cause undefined behaviour, but concurrent updates would be lost, because an update is a
/// separate load and store rather than one atomic read-modify-write.
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
    pub(super) fn reset(&self) {
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
pub(super) const LAST_BUCKET: usize = HIST_BUCKETS - 1;

/// The bucket that counts `v`: `ceil(log2(v))` for `v >= 2`, 0 for `v <= 1`, capped at the
/// catch-all. Branch-free: `saturating_sub` maps both 0 and 1 to 0, whose bit length is 0.
fn bucket_of(v: u64) -> usize {
    let bits = u64::BITS - v.saturating_sub(1).leading_zeros();
    (bits as usize).min(LAST_BUCKET)
}

/// Largest value bucket `k` counts; `u64::MAX` stands for the catch-all's +Inf.
pub(super) fn upper_bound(k: usize) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
