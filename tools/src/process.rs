//! The processes the tools start and stop (spoonfeed, nginx, HAProxy): a guard that stops one
//! gently or kills and reaps it with its children, signals and child lookups through `kill(1)`
//! and `pgrep(1)` (this crate makes no libc calls), free ports, peak RSS, and the tail of a
//! process's output for error messages.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Interval between two looks at a process being waited for.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// A started process. Killed and reaped when dropped, its children first (nginx's worker
/// outlives a killed master), so no path out of a run leaves one behind; [`Managed::stop`]
/// stops it gently first.
#[derive(Debug)]
pub struct Managed {
    child: Child,
}

impl Managed {
    pub fn new(child: Child) -> Managed {
        Managed { child }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// How the process exited, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then up to `grace` for it to exit; the drop kills it if it has not.
    pub fn stop(mut self, grace: Duration) {
        if signal("-TERM", self.child.id()) {
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if self.exited().is_some() {
                    return;
                }
                thread::sleep(POLL_EVERY);
            }
        }
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            for pid in children(self.child.id()) {
                signal("-KILL", pid);
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Sends a signal with `kill(1)`; whether it was sent.
pub fn signal(which: &str, pid: u32) -> bool {
    Command::new("kill")
        .args([which, &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The child processes of `pid` (`pgrep -P`); none when pgrep is missing.
pub fn children(pid: u32) -> Vec<u32> {
    Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A port free on 127.0.0.1 a moment ago: the system picks it, and it is released for the
/// process to bind (which may lose a race; callers retry).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// The peak resident set size of process `pid`: `VmHWM` from `/proc/PID/status`, in bytes.
pub fn peak_rss(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_vm_hwm(&text).ok_or_else(|| format!("{path} has no VmHWM line"))
}

/// The `VmHWM:   1234 kB` line of a `/proc/PID/status` text, in bytes.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => kib.checked_mul(1024),
        _ => None,
    }
}

/// The last `lines` lines of the output in `path`, indented after "; `who` said:", for an
/// error message; empty when there is none.
pub fn output_tail(path: &Path, who: &str, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    let mut out = String::new();
    if !tail.is_empty() {
        out.push_str(&format!("; {who} said:"));
        for line in tail {
            out.push_str("\n    ");
            out.push_str(line);
        }
    }
    out
}
