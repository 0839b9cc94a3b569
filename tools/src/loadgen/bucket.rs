//! The token bucket behind `--read-rate`: how many bytes a connection may read by a given time.
//!
//! Owns the arithmetic only; time is an argument (a [`Duration`] since any fixed start), so the
//! bucket is tested without clocks. Tokens are counted in bytes scaled by 10^9 (one nanosecond
//! of a rate of one byte per second), so refills are exact integers and a reader that takes
//! everything it is allowed, often enough that the bucket never overflows, gets exactly
//! `capacity + rate * t` bytes by time `t`, whatever the sizes and times of its reads: the rate
//! is measured in bytes, never in sleeps per read.
//!
//! Invariant: `scaled <= capacity * SCALE`; `last` never goes backwards.

use std::time::Duration;

/// Tokens per byte: a byte per second accrues one token per nanosecond.
const SCALE: u128 = 1_000_000_000;

/// Largest bucket: the most one connection reads in one burst, whatever its rate.
pub const MAX_CAPACITY: u64 = 64 * 1024;

/// The bucket of a connection reading at `rate` bytes per second: 1/20 s of the rate, from 1
/// byte to [`MAX_CAPACITY`]. Smaller bursts cost more wake-ups for nothing; larger ones make a
/// slow reader look faster than it is over short intervals.
pub fn capacity_for(rate: u64) -> u64 {
    (rate / 20).clamp(1, MAX_CAPACITY)
}

/// Bytes a reader of a bucket created full at time zero may have read by `elapsed` if it read
/// everything it was allowed (and never let the bucket overflow).
pub fn bytes_allowed(rate: u64, capacity: u64, elapsed: Duration) -> u64 {
    let accrued = u128::from(rate) * elapsed.as_nanos() / SCALE;
    u64::try_from(accrued + u128::from(capacity)).unwrap_or(u64::MAX)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// Bytes per second. Invariant: > 0.
    rate: u64,
    /// Invariant: > 0.
    capacity: u64,
    /// Bytes allowed now, times [`SCALE`].
    scaled: u128,
    /// When `scaled` was last brought up to date.
    last: Duration,
}

impl TokenBucket {
    /// A full bucket at time `now`. `rate` and `capacity` of 0 are taken as 1.
    pub fn new(rate: u64, capacity: u64, now: Duration) -> TokenBucket {
        let capacity = capacity.max(1);
        TokenBucket {
            rate: rate.max(1),
            capacity,
            scaled: u128::from(capacity) * SCALE,
            last: now,
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes that may be read at `now`; a `now` before the last one counts as the last one.
    pub fn available(&mut self, now: Duration) -> u64 {
        if now > self.last {
            let accrued = u128::from(self.rate) * (now - self.last).as_nanos();
            self.scaled = (self.scaled + accrued).min(u128::from(self.capacity) * SCALE);
            self.last = now;
        }
        (self.scaled / SCALE) as u64
    }

    /// Spends `bytes` that were read; more than [`TokenBucket::available`] is a bug, clamped.
    pub fn take(&mut self, bytes: u64) {
        debug_assert!(
            u128::from(bytes) * SCALE <= self.scaled,
            "read past the bucket"
        );
        self.scaled = self.scaled.saturating_sub(u128::from(bytes) * SCALE);
    }

    /// How long after the last [`TokenBucket::available`] `bytes` (at most the capacity) are
    /// available.
    pub fn wait_for(&self, bytes: u64) -> Duration {
        let wanted = u128::from(bytes.min(self.capacity)) * SCALE;
        let missing = wanted.saturating_sub(self.scaled);
        let nanos = missing.div_ceil(u128::from(self.rate));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A greedy reader polled every `step`: reads all it may, up to `kernel` bytes each time.
    fn greedy(rate: u64, capacity: u64, step: Duration, until: Duration, kernel: u64) -> u64 {
        let mut bucket = TokenBucket::new(rate, capacity, Duration::ZERO);
        let (mut now, mut read) = (Duration::ZERO, 0);
        while now <= until {
            let n = bucket.available(now).min(kernel);
            bucket.take(n);
            read += n;
            now += step;
        }
        read
    }

    #[test]
    fn a_greedy_reader_gets_exactly_the_burst_plus_the_rate_times_the_time() {
        for (rate, step) in [
            (64 * 1024, Duration::from_millis(1)),
            (1000, Duration::from_micros(333)),
            (20, Duration::from_millis(50)),
            (10 << 20, Duration::from_micros(100)),
        ] {
            let capacity = capacity_for(rate);
            let until = Duration::from_secs(10);
            let steps = until.as_nanos() / step.as_nanos();
            let last = step * steps as u32;
            assert_eq!(
                greedy(rate, capacity, step, until, u64::MAX),
                bytes_allowed(rate, capacity, last),
                "rate {rate}"
            );
        }
        assert_eq!(bytes_allowed(1000, 50, Duration::from_secs(3)), 3050);
        assert_eq!(bytes_allowed(3, 1, Duration::from_millis(500)), 2);
    }

    #[test]
    fn the_rate_does_not_depend_on_how_often_or_how_much_is_read() {
        let rate = 100_000;
        let until = Duration::from_secs(5);
        let allowed = bytes_allowed(rate, capacity_for(rate), until);
        for (step, kernel) in [(1, u64::MAX), (7, u64::MAX), (3, 500), (49, 4096)] {
            let read = greedy(
                rate,
                capacity_for(rate),
                Duration::from_millis(step),
                until,
                kernel,
            );
            // Reading less than allowed at each poll loses what overflows; never more.
            assert!(read <= allowed, "{step} ms, {kernel}: {read} > {allowed}");
            if kernel == u64::MAX {
                assert!(
                    allowed - read <= rate * step / 1000,
                    "{step} ms: {read} vs {allowed}"
                );
            }
        }
    }

    #[test]
    fn an_idle_bucket_holds_at_most_its_capacity() {
        let mut bucket = TokenBucket::new(4 << 20, capacity_for(4 << 20), Duration::ZERO);
        assert_eq!(bucket.available(Duration::ZERO), MAX_CAPACITY);
        bucket.take(MAX_CAPACITY);
        assert_eq!(bucket.available(Duration::from_secs(3600)), MAX_CAPACITY);
        // Time going backwards adds nothing.
        bucket.take(10);
        assert_eq!(bucket.available(Duration::from_secs(1)), MAX_CAPACITY - 10);
    }

    #[test]
    fn wait_for_says_when_the_bytes_are_there() {
        let mut bucket = TokenBucket::new(1000, 50, Duration::ZERO);
        let full = bucket.available(Duration::ZERO);
        bucket.take(full);
        let wait = bucket.wait_for(50);
        assert_eq!(wait, Duration::from_millis(50));
        assert_eq!(bucket.available(wait - Duration::from_nanos(1)), 49);
        assert_eq!(bucket.available(wait), 50);
        assert_eq!(bucket.wait_for(50), Duration::ZERO);
        assert_eq!(
            bucket.wait_for(1_000_000),
            Duration::ZERO,
            "clamped to the capacity"
        );
    }

    #[test]
    fn capacity_is_a_twentieth_of_a_second_within_bounds() {
        assert_eq!(capacity_for(1), 1);
        assert_eq!(capacity_for(20_000), 1000);
        assert_eq!(capacity_for(1 << 30), MAX_CAPACITY);
    }
}
