//! A reactor's logs: the error log (leveled, written at once) and the access logs (`CustomLog`,
//! rendered into a buffer per file and written once per event-loop turn).
//!
//! Each reactor opens its own descriptors in append mode, so no lock is shared: a line is
//! written with one `write` and appends are atomic for lines this short.

pub mod format;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::log_format::LogFormat;
use crate::config::{Config, LogLevel, LogTarget};
use format::LogRecord;

/// Access-log bytes buffered before a write even within one loop turn.
const ACCESS_FLUSH_BYTES: usize = 64 * 1024;

#[derive(Debug)]
enum Out {
    Stderr,
    File(File),
}

impl Out {
    fn open(target: &LogTarget) -> io::Result<Out> {
        match target {
            LogTarget::Stderr => Ok(Out::Stderr),
            LogTarget::File(path) => open_append(path).map(Out::File),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Out::Stderr => io::stderr().lock().write_all(bytes),
            Out::File(f) => f.write_all(bytes),
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The name Apache prints for a level.
pub fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Emerg => "emerg",
        LogLevel::Alert => "alert",
        LogLevel::Crit => "crit",
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Notice => "notice",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    }
}

/// `ErrorLog` at `LogLevel`.
#[derive(Debug)]
pub struct ErrorLog {
    level: LogLevel,
    out: Out,
    line: Vec<u8>,
}

impl ErrorLog {
    pub fn open(cfg: &Config) -> io::Result<ErrorLog> {
        Ok(ErrorLog {
            level: cfg.log_level,
            out: Out::open(&cfg.error_log)?,
            line: Vec::new(),
        })
    }

    pub fn enabled(&self, level: LogLevel) -> bool {
        level <= self.level
    }

    /// Writes one line: `[2026-11-25 21:49:12.123456] [level] [pid N] [client ADDR] message`.
    pub fn log(&mut self, level: LogLevel, client: Option<SocketAddr>, msg: fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        self.line.clear();
        let t = UtcTime::from(SystemTime::now());
        let _ = write!(
            self.line,
            "[{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}] [{}] [pid {}] ",
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
            t.micros,
            level_name(level),
            std::process::id()
        );
        if let Some(addr) = client {
            let _ = write!(self.line, "[client {addr}] ");
        }
        let _ = self.line.write_fmt(msg);
        self.line.push(b'\n');
        // A failing error log has nowhere to report to; the server goes on.
        let _ = self.out.write_all(&self.line);
    }
}

/// A calendar time in UTC, computed without any time-zone database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

impl From<SystemTime> for UtcTime {
    fn from(t: SystemTime) -> UtcTime {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        UtcTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            micros: d.subsec_micros(),
        }
    }
}

#[derive(Debug)]
struct Sink {
    target: LogTarget,
    out: Out,
    buf: Vec<u8>,
}

/// The `CustomLog` files of a reactor, with each virtual host's compiled formats.
#[derive(Debug, Default)]
pub struct AccessLogs {
    sinks: Vec<Sink>,
    /// Per virtual host: (sink index, format). A virtual host without `CustomLog` uses the
    /// main server's.
    per_vhost: Vec<Vec<(usize, LogFormat)>>,
}

impl AccessLogs {
    pub fn open(cfg: &Config) -> io::Result<AccessLogs> {
        let mut logs = AccessLogs::default();
        for vhost in &cfg.vhosts {
            let mut mine = Vec::new();
            for log in &vhost.access_logs {
                let sink = match logs.sinks.iter().position(|s| s.target == log.target) {
                    Some(i) => i,
                    None => {
                        let out = Out::open(&log.target)?;
                        logs.sinks.push(Sink {
                            target: log.target.clone(),
                            out,
                            buf: Vec::new(),
                        });
                        logs.sinks.len() - 1
                    }
                };
                mine.push((sink, log.compiled.clone()));
            }
            logs.per_vhost.push(mine);
        }
        Ok(logs)
    }

    fn formats(&self, vhost: usize) -> &[(usize, LogFormat)] {
        match self.per_vhost.get(vhost) {
            Some(own) if !own.is_empty() => own,
            _ => self.per_vhost.first().map_or(&[], Vec::as_slice),
        }
    }

    /// Whether a format of this virtual host prints the client's kernel send queue.
    pub fn wants_send_queue(&self, vhost: usize) -> bool {
        self.formats(vhost)
            .iter()
            .any(|(_, f)| f.wants_send_queue())
    }

    /// Whether any access log would take a line for this virtual host.
    pub fn wants(&self, vhost: usize) -> bool {
        !self.formats(vhost).is_empty()
    }

    pub fn log(&mut self, vhost: usize, rec: &LogRecord<'_>) {
        let n = self.formats(vhost).len();
        for i in 0..n {
            let (sink, _) = self.formats(vhost)[i];
            let mut buf = std::mem::take(&mut self.sinks[sink].buf);
            self.formats(vhost)[i].1.render(rec, &mut buf);
            self.sinks[sink].buf = buf;
            if self.sinks[sink].buf.len() >= ACCESS_FLUSH_BYTES {
                Self::flush_sink(&mut self.sinks[sink]);
            }
        }
    }

    /// Writes what is buffered; called once per event-loop turn.
    pub fn flush(&mut self) {
        for sink in &mut self.sinks {
            Self::flush_sink(sink);
        }
    }

    fn flush_sink(sink: &mut Sink) {
        if !sink.buf.is_empty() {
            // Nothing to report a failing access log to but the error log, which the caller
            // does not hold here; the line is dropped rather than blocking the reactor.
            let _ = sink.out.write_all(&sink.buf);
            sink.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_time_of_known_instants() {
        let t = UtcTime::from(UNIX_EPOCH);
        assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
        // 2026-11-25 21:43:36 UTC
        let t = UtcTime::from(UNIX_EPOCH + Duration::from_secs(1_795_643_016));
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2026, 11, 25, 21, 43, 36)
        );
        // 2000-02-29 (leap day of a century leap year)
        let t = UtcTime::from(UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
    }
}
