//! Deadlines: one per connection, kept in a min-heap with lazy deletion.
//!
//! A connection's deadline moves on every bit of progress, almost always later. Pushing a heap
//! entry per move would grow the heap with the request rate, so an owner pushes only when its
//! deadline moves *earlier* than the entry it already has (`Deadline::armed`); when that entry
//! pops and the real deadline has moved later, it is pushed again. The heap so holds about one
//! entry per connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// The reactor's heap of (when, token) entries.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl Timers {
    /// When the earliest entry falls due.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pops one entry that is due at `now`: `(when it was armed for, token)`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    fn push(&mut self, at: Instant, token: usize) {
        self.heap.push(Reverse((at, token)));
    }
}

/// One owner's deadline.
/// Invariant: when `at` is set, `armed` is set and `armed <= at`: an entry exists that pops
/// no later than the deadline.
#[derive(Debug, Default)]
pub struct Deadline {
    at: Option<Instant>,
    armed: Option<Instant>,
}

impl Deadline {
    /// Sets the deadline, pushing a heap entry only when it moves earlier than the armed one.
    pub fn set(&mut self, at: Instant, timers: &mut Timers, token: usize) {
        self.at = Some(at);
        if self.armed.is_none_or(|armed| at < armed) {
            timers.push(at, token);
            self.armed = Some(at);
        }
    }

    /// Whether a deadline is set.
    pub fn is_set(&self) -> bool {
        self.at.is_some()
    }

    /// No deadline (entries already in the heap become stale).
    pub fn clear(&mut self) {
        self.at = None;
    }

    /// Handles a popped entry armed for `entry`: returns whether the deadline has passed, re-arming
    /// it when it had moved later. A stale entry returns false.
    pub fn fire(
        &mut self,
        entry: Instant,
        now: Instant,
        timers: &mut Timers,
        token: usize,
    ) -> bool {
        if self.armed != Some(entry) {
            return false;
        }
        self.armed = None;
        match self.at {
            None => false,
            Some(at) if at <= now => {
                self.at = None;
                true
            }
            Some(at) => {
                timers.push(at, token);
                self.armed = Some(at);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadline_moved_later_fires_at_the_later_time_only() {
        let mut timers = Timers::default();
        let mut d = Deadline::default();
        let t0 = Instant::now();
        d.set(t0 + Duration::from_secs(1), &mut timers, 7);
        d.set(t0 + Duration::from_secs(5), &mut timers, 7);
        assert_eq!(timers.heap.len(), 1, "moving later pushes nothing");
        let (at, tok) = timers.pop_due(t0 + Duration::from_secs(2)).unwrap();
        assert_eq!(tok, 7);
        assert!(!d.fire(at, t0 + Duration::from_secs(2), &mut timers, 7));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(5)));
        let (at, _) = timers.pop_due(t0 + Duration::from_secs(5)).unwrap();
        assert!(d.fire(at, t0 + Duration::from_secs(5), &mut timers, 7));
    }

    #[test]
    fn deadline_moved_earlier_fires_early_and_old_entry_is_stale() {
        let mut timers = Timers::default();
        let mut d = Deadline::default();
        let t0 = Instant::now();
        d.set(t0 + Duration::from_secs(5), &mut timers, 1);
        d.set(t0 + Duration::from_secs(1), &mut timers, 1);
        let (at, _) = timers.pop_due(t0 + Duration::from_secs(1)).unwrap();
        assert!(d.fire(at, t0 + Duration::from_secs(1), &mut timers, 1));
        let (at, _) = timers.pop_due(t0 + Duration::from_secs(5)).unwrap();
        assert!(!d.fire(at, t0 + Duration::from_secs(5), &mut timers, 1));
    }

    #[test]
    fn cleared_deadline_never_fires() {
        let mut timers = Timers::default();
        let mut d = Deadline::default();
        let t0 = Instant::now();
        d.set(t0, &mut timers, 3);
        d.clear();
        let (at, _) = timers.pop_due(t0).unwrap();
        assert!(!d.fire(at, t0, &mut timers, 3));
        assert!(timers.next().is_none());
    }
}
