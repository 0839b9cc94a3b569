//! Busy times: how long each exchange and each connection held the origin, as bounded histograms.
//!
//! Owns the histogram and the summaries [`Origin::stats`](super::Origin::stats) and
//! `GET /_origin/stats` report. Must not measure anything itself: the connection code decides
//! when an exchange starts and ends and hands the duration in. Memory is fixed at start
//! ([`BUCKETS`] counters per histogram) whatever is recorded, so a long benchmark cannot grow it.
//!
//! The histogram is log-linear, like HdrHistogram with two significant digits: values below
//! [`EXACT_BELOW`] microseconds have a bucket each; above, every power of two is cut into
//! [`SUB_BUCKETS`] equal buckets, so a bucket is never wider than 1/128 of its lowest value.
//! A quantile is reported as the highest value of its bucket (capped at the exact maximum), so it
//! is never below the true quantile and at most 0.8% above it.

use std::time::Duration;

/// Log2 of [`SUB_BUCKETS`].
const SUB_BITS: u32 = 7;

/// Equal buckets per power of two above [`EXACT_BELOW`]; sets the precision to 1/128.
const SUB_BUCKETS: u64 = 1 << SUB_BITS;

/// Values (µs) below this have a bucket of their own, so short times are exact.
const EXACT_BELOW: u64 = 2 * SUB_BUCKETS;

/// Values from `2^TOP_BIT` µs (about 12.7 days) on share the top bucket; [`BusySummary::max`]
/// still reports them exactly.
const TOP_BIT: u32 = 40;

/// Counters per histogram: the exact ones, then [`SUB_BUCKETS`] for each power of two from
/// `EXACT_BELOW` up to `2^TOP_BIT`. 4,352 counters, 34 KiB.
const BUCKETS: usize = (EXACT_BELOW + (TOP_BIT - SUB_BITS - 1) as u64 * SUB_BUCKETS) as usize;

/// What one histogram holds, as [`OriginStats`](super::OriginStats) reports it. All zero when
/// nothing was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusySummary {
    /// Durations recorded.
    pub count: u64,
    /// Median, to within 1% (never below the true value).
    pub p50: Duration,
    /// 90th percentile, to within 1%.
    pub p90: Duration,
    /// 99th percentile, to within 1%.
    pub p99: Duration,
    /// Longest, exact to the microsecond.
    pub max: Duration,
}

/// A fixed-size histogram of durations with microsecond resolution.
#[derive(Clone, Debug)]
pub(super) struct Histogram {
    /// Invariant: `counts.len() == BUCKETS` and the counts add up to `count`.
    counts: Box<[u64]>,
    count: u64,
    /// Largest value recorded, in µs; 0 when `count == 0`.
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    pub(super) fn record(&mut self, duration: Duration) {
        let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
        self.check_invariants();
    }

    pub(super) fn clear(&mut self) {
        self.counts.fill(0);
        self.count = 0;
        self.max_us = 0;
        self.check_invariants();
    }

    pub(super) fn summary(&self) -> BusySummary {
        BusySummary {
            count: self.count,
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p99: self.quantile(0.99),
            max: Duration::from_micros(self.max_us),
        }
    }

    /// The smallest value (to bucket precision) that at least `q` of the recorded values are at
    /// most; zero when nothing was recorded.
    fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        // The rank of the value sought, from 1; q * count is small enough to be exact in f64
        // for any count a test or benchmark reaches.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_micros(highest_in(bucket).min(self.max_us));
            }
        }
        Duration::from_micros(self.max_us)
    }

    fn check_invariants(&self) {
        #[cfg(debug_assertions)]
        {
            debug_assert_eq!(self.counts.len(), BUCKETS);
            debug_assert_eq!(self.counts.iter().sum::<u64>(), self.count);
            debug_assert!(self.count > 0 || self.max_us == 0);
        }
    }
}

/// The bucket counting `us`.
fn bucket_of(us: u64) -> usize {
    let us = us.min((1 << TOP_BIT) - 1);
    if us < EXACT_BELOW {
        return us as usize;
    }
    // The highest set bit is from SUB_BITS + 1 to TOP_BIT - 1; dropping the bits below the top
    // SUB_BITS + 1 leaves a sub-bucket from SUB_BUCKETS to 2 * SUB_BUCKETS - 1.
    let top = u64::from(63 - us.leading_zeros());
    let shift = top - u64::from(SUB_BITS);
    let sub = us >> shift;
    (EXACT_BELOW + (shift - 1) * SUB_BUCKETS + (sub - SUB_BUCKETS)) as usize
}

/// The highest value, in µs, that [`bucket_of`] puts in `bucket`.
fn highest_in(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < EXACT_BELOW {
        return bucket;
    }
    let above = bucket - EXACT_BELOW;
    let shift = above / SUB_BUCKETS + 1;
    let sub = above % SUB_BUCKETS + SUB_BUCKETS;
    ((sub + 1) << shift) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn short_values_have_exact_buckets_and_buckets_cover_every_value_once() {
        for value in 0..EXACT_BELOW {
            assert_eq!(bucket_of(value), value as usize);
        }
        // Bucket boundaries are contiguous: the value after each bucket's highest opens the next.
        for bucket in 0..BUCKETS - 1 {
            let highest = highest_in(bucket);
            assert_eq!(bucket_of(highest), bucket, "bucket {bucket}");
            assert_eq!(bucket_of(highest + 1), bucket + 1, "bucket {bucket}");
        }
        assert_eq!(highest_in(BUCKETS - 1), (1 << TOP_BIT) - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn a_bucket_is_never_wider_than_one_128th_of_its_values() {
        for value in (EXACT_BELOW..1 << 24)
            .step_by(997)
            .chain([1 << 30, (1 << 39) + 12345])
        {
            let highest = highest_in(bucket_of(value));
            assert!(highest >= value);
            assert!((highest - value) * 128 <= value, "{value} -> {highest}");
        }
    }

    #[test]
    fn quantiles_are_within_one_percent_and_never_below() {
        let mut histogram = Histogram::default();
        for value in (1..=10_000).rev() {
            histogram.record(us(value * 100));
        }
        let summary = histogram.summary();
        assert_eq!(summary.count, 10_000);
        assert_eq!(summary.max, us(1_000_000));
        for (got, exact) in [
            (summary.p50, 500_000),
            (summary.p90, 900_000),
            (summary.p99, 990_000),
        ] {
            let got = got.as_micros() as u64;
            assert!(
                got >= exact && got - exact <= exact / 100,
                "{got} vs {exact}"
            );
        }
    }

    #[test]
    fn one_value_is_every_quantile_exactly() {
        let mut histogram = Histogram::default();
        histogram.record(Duration::from_millis(300));
        let summary = histogram.summary();
        let exact = Duration::from_millis(300);
        assert_eq!(
            (summary.p50, summary.p90, summary.p99, summary.max),
            (exact, exact, exact, exact)
        );
    }

    #[test]
    fn empty_and_cleared_histograms_summarise_to_zero() {
        let mut histogram = Histogram::default();
        assert_eq!(histogram.summary(), BusySummary::default());
        histogram.record(Duration::from_secs(3));
        histogram.record(Duration::from_secs(100 * 86_400));
        assert_eq!(histogram.summary().max, Duration::from_secs(100 * 86_400));
        histogram.clear();
        assert_eq!(histogram.summary(), BusySummary::default());
    }
}
