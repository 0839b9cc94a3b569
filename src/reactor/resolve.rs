//! Host-name resolution for forward-proxied requests, off the reactor: a thread of the
//! reactor's own takes names from a queue, resolves them with the system's resolver (which may
//! block for seconds), and hands the addresses back through a queue and the reactor's `Waker`.
//!
//! Nothing here is shared with another reactor. An answer whose asker has gone (timed out,
//! closed) is dropped by the reactor, which checks the connection's token generation.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;

use mio::Waker;

use super::token::Token;

/// Names waiting for the resolver thread at once; past it a request is answered at once
/// (its resolution fails) rather than queued behind a resolver that does not keep up.
const MAX_PENDING: usize = 1024;

/// A name to resolve for the connection `token`, asked as its question number `ask` (a
/// keep-alive connection asks again for its next request; an answer to an older question
/// must not be taken for the newer one's).
struct Job {
    token: Token,
    ask: u64,
    host: String,
    port: u16,
}

/// The addresses of a name, or why there are none, for question `ask` of the connection
/// `token`.
pub struct Answer {
    pub token: Token,
    pub ask: u64,
    pub addrs: io::Result<Vec<SocketAddr>>,
}

/// The reactor's end of its resolver thread.
pub struct Resolver {
    jobs: Sender<Job>,
    answers: Receiver<Answer>,
    pending: usize,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("pending", &self.pending)
            .finish()
    }
}

impl Resolver {
    /// Starts the thread (detached: it ends when this end is dropped and the name it is on,
    /// if any, is resolved; a system resolver may take its time); `waker` wakes the reactor
    /// for each answer.
    pub fn start(waker: Arc<Waker>) -> io::Result<Resolver> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (outbox, answers) = mpsc::channel();
        std::thread::Builder::new()
            .name("spoonfeed-resolver".into())
            .spawn(move || {
                for job in inbox {
                    let addrs = (job.host.as_str(), job.port)
                        .to_socket_addrs()
                        .map(Iterator::collect);
                    let answer = Answer {
                        token: job.token,
                        ask: job.ask,
                        addrs,
                    };
                    if outbox.send(answer).is_err() || waker.wake().is_err() {
                        return;
                    }
                }
            })?;
        Ok(Resolver {
            jobs,
            answers,
            pending: 0,
        })
    }

    /// Queues `host` for question `ask` of the connection `token`; false when the queue is
    /// full or the thread is gone (the caller answers the request at once).
    pub fn ask(&mut self, token: Token, ask: u64, host: &str, port: u16) -> bool {
        if self.pending >= MAX_PENDING {
            return false;
        }
        let job = Job {
            token,
            ask,
            host: host.to_owned(),
            port,
        };
        let sent = self.jobs.send(job).is_ok();
        self.pending += usize::from(sent);
        sent
    }

    /// The next answer that has arrived, if any.
    pub fn next_answer(&mut self) -> Option<Answer> {
        match self.answers.try_recv() {
            Ok(answer) => {
                self.pending -= 1;
                Some(answer)
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => None,
        }
    }
}
