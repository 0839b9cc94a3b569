//! Why an exchange ended early, and the one place that decides its wire answer.
//!
//! Every error closes the connection: after a framing error the rest of the byte stream cannot be
//! trusted, and the origin is a test fixture, so it prefers being obviously strict to being clever.
//! Errors that arise after the response head went out can no longer be answered; they become
//! [`ExchangeError::Abort`] and the connection is closed mid-response.

use std::fmt;
use std::io;

/// A request the origin refuses. Only the client (or a proxy in front of us) causes these.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RequestError {
    /// The head or the body framing breaks HTTP/1.1 syntax; says which rule.
    Malformed(&'static str),
    /// The head is longer than `request::MAX_HEAD_BYTES`.
    HeadTooLarge,
    /// The head has more fields than `request::MAX_HEADERS`.
    TooManyHeaders,
    /// The request line names an HTTP version other than 1.0 or 1.1.
    UnsupportedVersion,
    /// `Transfer-Encoding` names a coding other than `chunked`.
    UnsupportedTransferCoding,
    /// A path parameter or query option of an endpoint is unknown, repeated or out of range;
    /// says which.
    BadParameter(String),
    /// The body is longer than the endpoint will hold in memory.
    BodyTooLarge,
}

impl RequestError {
    /// The status answering this error. No wildcard arm: a new kind must choose its status.
    pub(super) fn status(&self) -> u16 {
        match self {
            RequestError::Malformed(_) | RequestError::BadParameter(_) => 400,
            RequestError::BodyTooLarge => 413,
            RequestError::HeadTooLarge | RequestError::TooManyHeaders => 431,
            RequestError::UnsupportedTransferCoding => 501,
            RequestError::UnsupportedVersion => 505,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(rule) => write!(f, "malformed request: {rule}"),
            RequestError::HeadTooLarge => f.write_str("request head too large"),
            RequestError::TooManyHeaders => f.write_str("too many header fields"),
            RequestError::UnsupportedVersion => f.write_str("HTTP version not supported"),
            RequestError::UnsupportedTransferCoding => {
                f.write_str("transfer coding not supported (only chunked)")
            }
            RequestError::BadParameter(why) => write!(f, "bad parameter: {why}"),
            RequestError::BodyTooLarge => f.write_str("request body too large"),
        }
    }
}

/// How an exchange failed, which decides whether anything more is written.
#[derive(Debug)]
pub(super) enum ExchangeError {
    /// The request is refused and no response byte has been written: answer, then close.
    Request(RequestError),
    /// The connection failed, timed out or is being shut down, or the request turned out bad after
    /// the response started: close without writing anything more.
    Abort(io::Error),
}

impl ExchangeError {
    /// The same failure seen after the response head was written, when it can only abort.
    pub(super) fn after_response_started(self) -> ExchangeError {
        match self {
            ExchangeError::Request(refused) => ExchangeError::Abort(io::Error::new(
                io::ErrorKind::InvalidData,
                refused.to_string(),
            )),
            ExchangeError::Abort(err) => ExchangeError::Abort(err),
        }
    }
}

impl From<io::Error> for ExchangeError {
    fn from(err: io::Error) -> ExchangeError {
        ExchangeError::Abort(err)
    }
}

impl From<RequestError> for ExchangeError {
    fn from(refused: RequestError) -> ExchangeError {
        ExchangeError::Request(refused)
    }
}
