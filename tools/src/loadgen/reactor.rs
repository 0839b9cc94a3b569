//! The event loop of a run: opens the connections, issues requests (closed loop: as room
//! appears; open loop: from a schedule of intended send times), drives connections on kernel
//! events and timers, times exchanges out, counts what finished, and decides when the run ends.
//!
//! Owns every piece of state of a run as plain fields (no sharing, no interior mutability);
//! connections get what they need through a [`Ctx`] of borrows. It must not parse HTTP (that is
//! [`super::response`]) nor format output (that is [`super::report`]).
//!
//! Counting rules, so that every measured exchange is counted once:
//! - An exchange is measured when its intended send time is at or after the end of warmup.
//! - `--requests N` counts measured exchanges issued; an exchange given back by a connection
//!   that closed (after `Connection: close`, or behind a failed one) is issued again: in open
//!   loop with its intended time kept, in closed loop as a new exchange.
//! - A connect that fails with nothing in flight fails the exchange it would have carried: in
//!   open loop the oldest one due, in closed loop a new one (so a run against a closed port
//!   still ends after `--requests`).
//! - In open loop a request that waits for room more than `--timeout` after its intended time is
//!   a timeout without ever being sent.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, IsTerminal, Write};
use std::mem;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use super::args::{Load, Plan};
use super::connection::{Connection, Ctx, Drive, Finished};
use super::report::{ErrorKind, Report};

/// Bytes of the read scratch block shared by every connection: the most read in one call.
const READ_BLOCK: usize = 64 * 1024;

/// How often exchanges and connects are checked against `--timeout`; timeouts fire up to this
/// late.
const SWEEP_EVERY: Duration = Duration::from_millis(20);

/// Kernel events taken per poll.
const EVENTS: usize = 1024;

/// When the progress line starts, and how often it is rewritten.
const PROGRESS_AFTER: Duration = Duration::from_secs(2);
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The open-loop schedule: request `k` is due at `start + k / rate`.
struct Schedule {
    /// Requests per second. Invariant: > 0 and finite.
    rate: f64,
    /// The next `k` to become due.
    next: u64,
    /// Whether no more requests will become due (the end or `--requests` was reached).
    is_done: bool,
    /// Intended send times of requests due but not yet given to a connection, oldest first.
    pending: VecDeque<Instant>,
}

impl Schedule {
    fn next_due(&self, start: Instant) -> Instant {
        start + Duration::from_nanos((self.next as f64 * 1e9 / self.rate) as u64)
    }
}

struct Reactor<'p> {
    plan: &'p Plan,
    addr: SocketAddr,
    request: Vec<u8>,
    poll: Poll,
    conns: Vec<Connection>,
    start: Instant,
    /// The end of warmup: exchanges intended from here on are measured.
    measure_start: Instant,
    /// `measure_start + --duration`: nothing intended from here on is issued, and the run ends.
    end: Option<Instant>,
    /// Measured exchanges issued. Invariant: `<= plan.requests` when it is given.
    issued: u64,
    schedule: Option<Schedule>,
    /// Connections that may have room for a request (stale entries are skipped).
    room: VecDeque<usize>,
    /// Connections whose read budget ran out: driven again after the next poll.
    rerun: VecDeque<usize>,
    /// (when, connection): bucket refills and delayed reopens. Stale entries are harmless.
    wakeups: BinaryHeap<Reverse<(Instant, usize)>>,
    next_sweep: Instant,
    buf: Vec<u8>,
    finished: Vec<Finished>,
    bytes_read: u64,
    /// `bytes_read` at the end of warmup, once it has passed.
    bytes_base: Option<u64>,
    report: Report,
    is_progress: bool,
    is_progress_terminal: bool,
    next_progress: Instant,
    /// `report.ok` and the time at the last progress line, for the rate since then.
    progress_last: (u64, Instant),
}

/// Runs `plan` against `addr` (the resolved authority) and returns what it measured.
pub fn run(plan: &Plan, addr: SocketAddr) -> io::Result<Report> {
    let start = Instant::now();
    let measure_start = start + plan.warmup;
    let is_progress_terminal = io::stderr().is_terminal();
    let reactor = Reactor {
        plan,
        addr,
        request: plan.request(),
        poll: Poll::new()?,
        conns: (0..plan.connections)
            .map(|idx| Connection::new(Token(idx), plan.read_rate, plan.verifies_checksum))
            .collect(),
        start,
        measure_start,
        end: plan.duration.map(|duration| measure_start + duration),
        issued: 0,
        schedule: match plan.load {
            Load::Closed => None,
            Load::Open { rate } => Some(Schedule {
                rate,
                next: 0,
                is_done: false,
                pending: VecDeque::new(),
            }),
        },
        room: VecDeque::new(),
        rerun: VecDeque::new(),
        wakeups: BinaryHeap::new(),
        next_sweep: start + SWEEP_EVERY,
        buf: vec![0; READ_BLOCK],
        finished: Vec::new(),
        bytes_read: 0,
        bytes_base: None,
        report: Report::new(plan),
        is_progress: plan.is_progress_forced || is_progress_terminal,
        is_progress_terminal,
        next_progress: start + PROGRESS_AFTER,
        progress_last: (0, start),
    };
    reactor.run()
}

impl Reactor<'_> {
    fn run(mut self) -> io::Result<Report> {
        let mut events = Events::with_capacity(EVENTS);
        for idx in 0..self.conns.len() {
            self.reopen(idx, self.start);
        }
        loop {
            let now = Instant::now();
            if self.bytes_base.is_none() && now >= self.measure_start {
                self.bytes_base = Some(self.bytes_read);
            }
            if now >= self.next_sweep {
                self.sweep(now);
                self.next_sweep = now + SWEEP_EVERY;
            }
            self.schedule(now);
            self.dispatch(now);
            if let Some(at) = self.finished_at(now) {
                return Ok(self.finish(at));
            }
            self.progress(now);
            let timeout = self.poll_timeout(now);
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            let now = Instant::now();
            for event in events.iter() {
                self.drive(event.token().0, now);
            }
            for idx in mem::take(&mut self.rerun) {
                self.drive(idx, now);
            }
            while let Some(&Reverse((at, idx))) = self.wakeups.peek() {
                if at > now {
                    break;
                }
                self.wakeups.pop();
                if self.conns[idx].is_closed() {
                    self.reopen(idx, now);
                } else {
                    self.drive(idx, now);
                }
            }
        }
    }

    /// Calls `step` on connection `idx` with a [`Ctx`], then acts on what it says.
    fn with_conn(
        &mut self,
        idx: usize,
        now: Instant,
        step: impl FnOnce(&mut Connection, &mut Ctx) -> Drive,
    ) {
        let mut ctx = Ctx {
            now,
            start: self.start,
            registry: self.poll.registry(),
            buf: &mut self.buf,
            finished: &mut self.finished,
            bytes_read: &mut self.bytes_read,
        };
        let drive = step(&mut self.conns[idx], &mut ctx);
        self.count_finished(now);
        if let Some(after) = drive.reopen_after {
            self.give_back(idx);
            if after.is_zero() {
                self.reopen(idx, now);
                return;
            }
            self.wakeups.push(Reverse((now + after, idx)));
        }
        if let Some(at) = drive.wake_at {
            self.wakeups.push(Reverse((at, idx)));
        }
        if drive.is_rerun {
            self.rerun.push_back(idx);
        }
        if self.conns[idx].has_room(self.plan.pipeline) {
            self.room.push_back(idx);
        }
    }

    fn drive(&mut self, idx: usize, now: Instant) {
        if idx < self.conns.len() {
            self.with_conn(idx, now, |conn, ctx| conn.drive(ctx));
        }
    }

    fn reopen(&mut self, idx: usize, now: Instant) {
        if !self.conns[idx].is_closed() {
            return;
        }
        let (addr, rcvbuf) = (self.addr, self.plan.rcvbuf);
        self.with_conn(idx, now, |conn, ctx| conn.open(ctx, addr, rcvbuf));
    }

    /// Takes back the exchanges a closed connection had in flight, to be issued again.
    fn give_back(&mut self, idx: usize) {
        let in_flight = self.conns[idx].take_in_flight();
        match &mut self.schedule {
            None => {
                let measured = in_flight
                    .iter()
                    .filter(|&&t| t >= self.measure_start)
                    .count();
                self.issued -= measured as u64;
            }
            Some(schedule) => {
                for intended in in_flight.into_iter().rev() {
                    schedule.pending.push_front(intended);
                }
            }
        }
    }

    /// Whether an exchange intended at `intended` may be issued, and counts it if so.
    fn issue(&mut self, intended: Instant) -> bool {
        if self.end.is_some_and(|end| intended >= end) {
            return false;
        }
        if intended >= self.measure_start {
            if self.plan.requests.is_some_and(|n| self.issued >= n) {
                return false;
            }
            self.issued += 1;
        }
        true
    }

    /// Counts what connections finished since the last call.
    fn count_finished(&mut self, now: Instant) {
        let mut finished = mem::take(&mut self.finished);
        for outcome in finished.drain(..) {
            match outcome {
                Finished::Response {
                    intended,
                    at,
                    response,
                } => {
                    if intended < self.measure_start {
                        continue;
                    }
                    match response.verify(self.plan.expect_status) {
                        Ok(()) => {
                            self.report.ok += 1;
                            let nanos = at.saturating_duration_since(intended).as_nanos();
                            self.report
                                .latency
                                .record(u64::try_from(nanos).unwrap_or(u64::MAX));
                            self.report.body_bytes += response.body_bytes;
                            if response.is_checksummed() {
                                self.report.checksums_verified += 1;
                            }
                        }
                        Err(failure) => self.report.errors.add(failure.kind),
                    }
                }
                Finished::Failed {
                    intended: Some(intended),
                    kind,
                } => {
                    if intended >= self.measure_start {
                        self.report.errors.add(kind);
                    }
                }
                Finished::Failed {
                    intended: None,
                    kind,
                } => {
                    let carried = match self.schedule.as_mut() {
                        Some(schedule) => schedule.pending.pop_front(),
                        None => self.issue(now).then_some(now),
                    };
                    if carried.is_some_and(|t| t >= self.measure_start) {
                        self.report.errors.add(kind);
                    }
                }
            }
        }
        self.finished = finished;
    }

    /// Open loop: moves requests that became due into `pending`.
    fn schedule(&mut self, now: Instant) {
        let Some(schedule) = &self.schedule else {
            return;
        };
        let mut next = schedule.next_due(self.start);
        while next <= now && !self.schedule.as_ref().is_some_and(|s| s.is_done) {
            let is_issued = self.issue(next);
            let Some(schedule) = &mut self.schedule else {
                return;
            };
            if !is_issued {
                schedule.is_done = true;
                break;
            }
            schedule.pending.push_back(next);
            schedule.next += 1;
            next = schedule.next_due(self.start);
        }
    }

    /// Gives requests to connections with room: in closed loop as many as fit, in open loop the
    /// oldest due, one per connection in turn.
    fn dispatch(&mut self, now: Instant) {
        // A bound on work per pass: a connection given room back while driven waits for the next.
        for _ in 0..self.room.len() {
            let Some(idx) = self.room.pop_front() else {
                break;
            };
            if !self.conns[idx].has_room(self.plan.pipeline) {
                continue;
            }
            let mut pushed = false;
            match &self.schedule {
                None => {
                    // The clock, not `now`: this pass may have taken a while.
                    let queued = Instant::now();
                    while self.conns[idx].has_room(self.plan.pipeline) && self.issue(queued) {
                        self.conns[idx].push_request(queued, &self.request);
                        pushed = true;
                    }
                }
                Some(_) => {
                    let Some(intended) = self.schedule.as_mut().and_then(|s| s.pending.pop_front())
                    else {
                        self.room.push_front(idx);
                        break;
                    };
                    self.conns[idx].push_request(intended, &self.request);
                    pushed = true;
                }
            }
            if pushed {
                self.drive(idx, now);
            }
        }
    }

    /// Times out exchanges and connects older than `--timeout`.
    fn sweep(&mut self, now: Instant) {
        let timeout = self.plan.timeout;
        for idx in 0..self.conns.len() {
            let conn = &self.conns[idx];
            let kind = if conn.oldest_in_flight().is_some_and(|t| now >= t + timeout) {
                ErrorKind::Timeout
            } else if conn.connecting_since().is_some_and(|t| now >= t + timeout) {
                ErrorKind::Connect
            } else {
                continue;
            };
            self.with_conn(idx, now, |conn, ctx| conn.fail(ctx, kind));
        }
        if let Some(schedule) = &mut self.schedule {
            while let Some(&intended) = schedule.pending.front() {
                if now < intended + timeout {
                    break;
                }
                schedule.pending.pop_front();
                if intended >= self.measure_start {
                    self.report.errors.add(ErrorKind::Timeout);
                }
            }
        }
    }

    /// When the run ended, if it has.
    fn finished_at(&self, now: Instant) -> Option<Instant> {
        if self.end.is_some_and(|end| now >= end) {
            return Some(now);
        }
        let n = self.plan.requests?;
        let is_idle = self.conns.iter().all(|conn| conn.in_flight() == 0)
            && self.schedule.as_ref().is_none_or(|s| s.pending.is_empty());
        (self.issued >= n && is_idle).then_some(now)
    }

    fn poll_timeout(&self, now: Instant) -> Duration {
        if !self.rerun.is_empty() {
            return Duration::ZERO;
        }
        let mut next = self.next_sweep;
        if let Some(end) = self.end {
            next = next.min(end);
        }
        if let Some(Reverse((at, _))) = self.wakeups.peek() {
            next = next.min(*at);
        }
        if let Some(schedule) = self.schedule.as_ref().filter(|s| !s.is_done) {
            next = next.min(schedule.next_due(self.start));
        }
        if self.is_progress {
            next = next.min(self.next_progress);
        }
        next.saturating_duration_since(now)
    }

    fn progress(&mut self, now: Instant) {
        if !self.is_progress || now < self.next_progress {
            return;
        }
        let ok = self.report.ok;
        let (last_ok, last_at) = self.progress_last;
        let interval = now
            .saturating_duration_since(last_at)
            .as_secs_f64()
            .max(1e-9);
        let line = format!(
            "loadgen {:6.1} s  {} ok  {:.0} req/s  {} errors",
            now.saturating_duration_since(self.start).as_secs_f64(),
            ok,
            (ok - last_ok) as f64 / interval,
            self.report.errors.total()
        );
        let mut stderr = io::stderr().lock();
        let _ = if self.is_progress_terminal {
            write!(stderr, "\r\x1b[K{line}")
        } else {
            writeln!(stderr, "{line}")
        };
        let _ = stderr.flush();
        self.progress_last = (ok, now);
        self.next_progress = now + PROGRESS_EVERY;
    }

    /// Ends the run at `at`: counts what was left, clears the progress line.
    fn finish(mut self, at: Instant) -> Report {
        let measure_start = self.measure_start;
        for conn in &mut self.conns {
            let left = conn.take_in_flight();
            self.report.unfinished += left.iter().filter(|&&t| t >= measure_start).count() as u64;
        }
        if let Some(schedule) = &self.schedule {
            self.report.unsent += schedule
                .pending
                .iter()
                .filter(|&&t| t >= measure_start)
                .count() as u64;
        }
        self.report.elapsed = at.saturating_duration_since(measure_start);
        self.report.bytes = self.bytes_read - self.bytes_base.unwrap_or(self.bytes_read);
        if self.is_progress && self.is_progress_terminal && at >= self.start + PROGRESS_AFTER {
            eprint!("\r\x1b[K");
        }
        self.report
    }
}
