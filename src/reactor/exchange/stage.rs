//! Where an exchange stands in its life, what it waits for, and the deadline each stage lives
//! under with what its passing means. Pure: the stage is data, the deadline a function of it,
//! the timeouts and `now`.
//!
//! ```text
//! admitted ─┬─> Holding ──────────────┐
//!           ├─> Waiting(CacheLock) ───┤ (collapsed: answered from the cache)
//!           ├─> Waiting(RemoteLock) ──┤
//!           └─────────────────────────┴─> Ready ─> acquire ─┬─> Waiting(Resolver) ─> Ready
//!                                                           ├─> Waiting(Queue) ──> Ready
//!                                                           ├─> Connecting ─> Exchanging
//!                                                           └─> Exchanging (a pooled connection)
//! Exchanging ─> Released (the backend went back at the response's last byte) ─> done
//! ```

use std::time::{Duration, Instant};

/// How often a lock held in another reactor or process is looked at: about the time a small
/// fetch takes, so a collapsed request waits little longer than the fetch itself.
pub const LOCK_POLL: Duration = Duration::from_millis(20);

/// Where an exchange stands. Invariant: a backend connection is held exactly in
/// `Connecting` and `Exchanging`; the client side is read for the body only in `Holding`,
/// `Connecting` and `Exchanging`.
#[derive(Debug, PartialEq, Eq)]
pub enum Stage {
    /// `ProxyRequestBuffering On`: the request body is read whole (or up to its budget)
    /// before a backend is asked.
    Holding,
    /// Nothing is waited for: the next step asks for a backend connection.
    Ready,
    /// Waiting for one named thing; nothing else moves meanwhile.
    Waiting(Wait),
    /// A new backend connection is opening.
    Connecting,
    /// Request and response flow between the client and the backend.
    Exchanging,
    /// The response's last byte is in and the backend released; the client is still owed
    /// bytes.
    Released,
}

/// What a waiting exchange waits for.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// A connection to its backend, in the queue of `max=`: a release wakes it.
    Queue,
    /// The resolver's answer to this question (a forward-proxied name).
    Resolver(u64),
    /// `CacheLock`: another exchange of this reactor fetches this key's URL; its release wakes
    /// this one, which then looks in the cache again.
    CacheLock(Vec<u8>),
    /// `CacheLock` held in another reactor or process (its lock file is there) since this
    /// time: the file is looked at every [`LOCK_POLL`] until it goes or `CacheLockMaxAge` has
    /// passed. Meanwhile this exchange holds this reactor's lock for the waiters here.
    RemoteLock(Instant),
}

/// What an exchange's deadline means when it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// The held request body did not arrive in time (`RequestReadTimeout body=`, `Timeout`):
    /// 408.
    BodyRead,
    /// No connection under `max=` came within the backend's timeout: 503.
    Queue,
    /// The resolver did not answer within the backend's timeout: 504.
    Resolver,
    /// Another exchange's fetch took `CacheLockMaxAge`: this one fetches itself.
    CacheLock,
    /// Time to look at another reactor's lock file again.
    LockPoll,
    /// The connect did not complete within `connectiontimeout=`: the backend is marked down,
    /// 504.
    Connect,
    /// No response head within the backend's timeout: 504.
    ResponseHead,
    /// The backend stalled mid-response: the client connection is cut off.
    Backend,
    /// The client stopped taking the rest of the response: cut off.
    Client,
}

impl Due {
    pub fn name(self) -> &'static str {
        match self {
            Due::BodyRead => "request body",
            Due::Queue => "backend queue (max=)",
            Due::Resolver => "resolver",
            Due::CacheLock => "CacheLock",
            Due::LockPoll => "CacheLock poll",
            Due::Connect => "backend connect",
            Due::ResponseHead => "response head",
            Due::Backend => "backend mid-response",
            Due::Client => "client mid-response",
        }
    }
}

/// The timeouts an exchange's deadlines are made of.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// `Timeout`: the client's.
    pub client: Duration,
    /// The backend's `timeout=` (or `ProxyTimeout`).
    pub backend: Duration,
    /// The backend's `connectiontimeout=`.
    pub connect: Duration,
    /// `CacheLockMaxAge` (zero without `CacheLock`).
    pub lock_max_age: Duration,
    /// While the body is held: when it must be in (`RequestReadTimeout body=`, each part
    /// within `Timeout`).
    pub body_until: Instant,
}

impl Stage {
    /// The deadline this stage lives under, counted from `now` (its last progress), and what
    /// its passing means. `awaiting_head`: no response head has come yet.
    pub fn deadline(&self, awaiting_head: bool, t: &Timeouts, now: Instant) -> (Instant, Due) {
        match self {
            Stage::Holding => (t.body_until, Due::BodyRead),
            // (Ready never outlives a step: it asks for a connection at once.)
            Stage::Ready | Stage::Waiting(Wait::Queue) => (now + t.backend, Due::Queue),
            Stage::Waiting(Wait::Resolver(_)) => (now + t.backend, Due::Resolver),
            Stage::Waiting(Wait::CacheLock(_)) => (now + t.lock_max_age, Due::CacheLock),
            Stage::Waiting(Wait::RemoteLock(_)) => (now + LOCK_POLL, Due::LockPoll),
            Stage::Connecting => (now + t.connect, Due::Connect),
            Stage::Exchanging if awaiting_head => (now + t.backend, Due::ResponseHead),
            Stage::Exchanging => (now + t.backend, Due::Backend),
            Stage::Released => (now + t.client, Due::Client),
        }
    }

    /// Whether the stage holds a backend connection.
    pub fn has_backend(&self) -> bool {
        matches!(self, Stage::Connecting | Stage::Exchanging)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Stage::Holding => "holding",
            Stage::Ready => "ready",
            Stage::Waiting(Wait::Queue) => "waiting for a backend connection",
            Stage::Waiting(Wait::Resolver(_)) => "waiting for the resolver",
            Stage::Waiting(Wait::CacheLock(_)) => "waiting for CacheLock",
            Stage::Waiting(Wait::RemoteLock(_)) => "waiting for another process's CacheLock",
            Stage::Connecting => "connecting",
            Stage::Exchanging => "exchanging",
            Stage::Released => "released",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts(now: Instant) -> Timeouts {
        Timeouts {
            client: Duration::from_secs(60),
            backend: Duration::from_secs(30),
            connect: Duration::from_secs(5),
            lock_max_age: Duration::from_secs(7),
            body_until: now + Duration::from_secs(11),
        }
    }

    #[test]
    fn every_stage_lives_under_its_own_named_deadline() {
        let now = Instant::now();
        let t = timeouts(now);
        let s = Duration::from_secs;
        let table: [(Stage, bool, Instant, Due); 11] = [
            (Stage::Holding, true, now + s(11), Due::BodyRead),
            (Stage::Ready, true, now + s(30), Due::Queue),
            (Stage::Waiting(Wait::Queue), true, now + s(30), Due::Queue),
            (
                Stage::Waiting(Wait::Resolver(3)),
                true,
                now + s(30),
                Due::Resolver,
            ),
            (
                Stage::Waiting(Wait::CacheLock(b"k".to_vec())),
                true,
                now + s(7),
                Due::CacheLock,
            ),
            (
                Stage::Waiting(Wait::RemoteLock(now)),
                true,
                now + LOCK_POLL,
                Due::LockPoll,
            ),
            (Stage::Connecting, true, now + s(5), Due::Connect),
            (Stage::Exchanging, true, now + s(30), Due::ResponseHead),
            (Stage::Exchanging, false, now + s(30), Due::Backend),
            (Stage::Released, false, now + s(60), Due::Client),
            (Stage::Released, true, now + s(60), Due::Client),
        ];
        for (stage, awaiting_head, at, due) in table {
            assert_eq!(
                stage.deadline(awaiting_head, &t, now),
                (at, due),
                "{}",
                stage.name()
            );
        }
    }

    #[test]
    fn only_connecting_and_exchanging_hold_a_backend() {
        let now = Instant::now();
        let holding = [Stage::Connecting, Stage::Exchanging];
        let not = [
            Stage::Holding,
            Stage::Ready,
            Stage::Waiting(Wait::Queue),
            Stage::Waiting(Wait::Resolver(1)),
            Stage::Waiting(Wait::CacheLock(Vec::new())),
            Stage::Waiting(Wait::RemoteLock(now)),
            Stage::Released,
        ];
        assert!(holding.iter().all(Stage::has_backend));
        assert!(!not.iter().any(Stage::has_backend));
    }
}
