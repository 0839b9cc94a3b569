//! A log-linear histogram of latencies in nanoseconds, as HdrHistogram lays it out: exact below
//! `2 * SUB_BUCKETS`, then for each power of two `SUB_BUCKETS` equal buckets, so a bucket is
//! never wider than `1 / SUB_BUCKETS` of the values in it.
//!
//! Owns recording and quantiles; it must not allocate per record. Why not the `hdrhistogram`
//! crate: this is the hundred lines of it we use, without its serialisation dependencies, and
//! its accuracy is tested here against a sorted reference.
//!
//! Invariant: `count` is the sum of `counts`, `min <= max` when `count > 0`.

/// Buckets per power of two: 128 keeps a bucket under 0.79% of its values.
const SUB_BUCKET_BITS: u32 = 7;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;

/// Buckets needed for every `u64`: the exact range, then one row per remaining power of two.
const BUCKETS: usize = ((64 - SUB_BUCKET_BITS as usize) + 1) * SUB_BUCKETS as usize;

#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

/// The bucket `value` falls in.
fn index_of(value: u64) -> usize {
    if value < 2 * SUB_BUCKETS {
        return value as usize;
    }
    // `value >> shift` is in [SUB_BUCKETS, 2 * SUB_BUCKETS).
    let shift = 63 - value.leading_zeros() - SUB_BUCKET_BITS;
    ((u64::from(shift) + 1) * SUB_BUCKETS + ((value >> shift) - SUB_BUCKETS)) as usize
}

/// The largest value that falls in bucket `index`.
fn highest_in(index: usize) -> u64 {
    let index = index as u64;
    if index < 2 * SUB_BUCKETS {
        return index;
    }
    let shift = index / SUB_BUCKETS - 1;
    let mantissa = index % SUB_BUCKETS + SUB_BUCKETS;
    let highest = (u128::from(mantissa + 1) << shift) - 1;
    u64::try_from(highest).unwrap_or(u64::MAX)
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    pub fn record(&mut self, value: u64) {
        self.counts[index_of(value)] += 1;
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += u128::from(value);
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest value recorded, 0 when none was.
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// The largest value recorded, exactly; 0 when none was.
    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at quantile `q` (0 to 1): the smallest recorded value with at least
    /// `ceil(q * count)` values at or below it, given as the top of its bucket (clamped to the
    /// exact min and max), so within 0.79% above the exact answer. 0 when nothing was recorded.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return highest_in(index).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic test data without a dependency.
    fn random(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn every_value_falls_in_a_bucket_that_holds_it() {
        let mut state = 7;
        let mut values: Vec<u64> = (0..10_000)
            .map(|_| random(&mut state) >> (random(&mut state) % 64))
            .collect();
        values.extend([
            0,
            1,
            255,
            256,
            257,
            511,
            512,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
        ]);
        for value in values {
            let index = index_of(value);
            assert!(index < BUCKETS, "{value}");
            assert!(highest_in(index) >= value, "{value}");
            if index > 0 {
                assert!(highest_in(index - 1) < value, "{value}");
            }
            let width = highest_in(index) - value;
            assert!(width as f64 <= value as f64 / SUB_BUCKETS as f64, "{value}");
        }
    }

    #[test]
    fn quantiles_are_within_one_percent_of_a_sorted_reference() {
        let mut state = 0x5eed;
        for spread in [10u32, 20, 30, 40] {
            let mut histogram = Histogram::new();
            // Log-uniform latencies from 1 ns up to 2^spread ns, like real tails.
            let mut values: Vec<u64> = (0..50_000)
                .map(|_| {
                    let bits = random(&mut state) % u64::from(spread);
                    (random(&mut state) >> (63 - bits)).max(1)
                })
                .collect();
            for &value in &values {
                histogram.record(value);
            }
            values.sort_unstable();
            for q in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
                let rank = ((q * values.len() as f64).ceil() as usize).max(1);
                let exact = values[rank - 1];
                let got = histogram.quantile(q);
                assert!(got >= exact, "q {q}: {got} < {exact}");
                assert!(
                    (got - exact) as f64 <= exact as f64 * 0.01,
                    "q {q}: {got} vs {exact}"
                );
            }
            assert_eq!(histogram.max(), *values.last().unwrap());
            assert_eq!(histogram.min(), values[0]);
            assert_eq!(histogram.count(), values.len() as u64);
            let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
            assert!((histogram.mean() - mean).abs() <= mean * 1e-9);
        }
    }

    #[test]
    fn merging_is_recording_both() {
        let (mut a, mut b, mut both) = (Histogram::new(), Histogram::new(), Histogram::new());
        for value in 0..1000u64 {
            let value = value * value * 37;
            if value % 3 == 0 {
                a.record(value)
            } else {
                b.record(value)
            }
            both.record(value);
        }
        a.merge(&b);
        for q in [0.1, 0.5, 0.99, 1.0] {
            assert_eq!(a.quantile(q), both.quantile(q));
        }
        assert_eq!(
            (a.count(), a.min(), a.max()),
            (both.count(), both.min(), both.max())
        );
    }

    #[test]
    fn an_empty_histogram_answers_zero() {
        let histogram = Histogram::new();
        assert_eq!(
            (histogram.quantile(0.5), histogram.min(), histogram.max()),
            (0, 0, 0)
        );
        assert_eq!(histogram.mean(), 0.0);
    }
}
