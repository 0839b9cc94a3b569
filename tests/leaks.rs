//! Nothing is left behind by exchanges that end badly: the spoonfeed binary, run as its own
//! process, holds the same file descriptors (counted in /proc) and no blocks after clients
//! leave mid-response and mid-upload, responses and uploads spilled to temporary files are
//! abandoned, and backends cut responses short.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// A keep-alive connection to the status endpoint: open all along, so that counting the
/// process's descriptors never races with its own close.
struct Poll(BufReader<TcpStream>);

impl Poll {
    fn status(&mut self) -> String {
        self.0
            .get_mut()
            .write_all(b"GET /status?format=json HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        read_response(&mut self.0, false).unwrap().text()
    }
}

fn number(json: &str, key: &str) -> u64 {
    let at = json.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    json[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Descriptors the process holds once nothing is in flight, not counting idle pooled backend
/// connections (a pool may keep one or drop it): polled through the status endpoint until the
/// only client connection is the poll's own and no block is held.
fn settled_fds(running: &Running, poll: &mut Poll) -> usize {
    for _ in 0..500 {
        let json = poll.status();
        let quiet = number(&json, "connections_open") == 1
            && number(&json, "blocks_in_use") == 0
            && number(&json, "backend_open") == number(&json, "backend_idle");
        if quiet {
            let fds = open_fds(running.child.id());
            let idle = number(&json, "backend_idle") as usize;
            return fds - idle;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never settled: {}", poll.status());
}

/// Polls until `key` has grown past `before`.
fn wait_for(poll: &mut Poll, key: &str, before: u64) {
    for _ in 0..1000 {
        if number(&poll.status(), key) > before {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{key} stayed at {before}");
}

#[test]
fn abandoned_exchanges_leave_no_descriptor_temp_file_or_block() {
    let origin = origin();
    let dir = std::env::temp_dir().join(format!("spoonfeed-leaks-{}", std::process::id()));
    let spill = dir.join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let file = dir.join("spoonfeed.conf");
    std::fs::write(
        &file,
        format!(
            "Listen 127.0.0.1:0\nWorkers 1\nMaxKeepAliveRequests 0\nSendBufferSize 64k\n\
             ProxyResponseBufferSize 64k\n\
             ProxyRequestBufferSize 64k\nProxyTempPath {}\nStatusLocation /status\n\
             ProxyPass /status !\nProxyPass / http://127.0.0.1:{}/\n",
            spill.display(),
            origin.addr().port()
        ),
    )
    .unwrap();
    let running = spawn(&file);
    let addr = running.addr;
    // Warm: one whole exchange, so lazily made things (the pool, a pooled connection) exist.
    let mut s = connect(addr);
    s.write_all(b"GET /bytes/100 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let _ = read_until_close(&mut s);
    let mut poll = Poll(BufReader::new(connect(addr)));
    // The baseline, measured twice the same way: the count must be stable to compare.
    let baseline = settled_fds(&running, &mut poll);
    assert_eq!(settled_fds(&running, &mut poll), baseline);
    for round in 0..4 {
        // Mid-response, the response spilling to a temporary file: 8 MiB asked, 4 KiB read,
        // gone once the file is there.
        let mut s = connect(addr);
        s.write_all(b"GET /bytes/8M HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut some = [0; 4096];
        s.read_exact(&mut some).unwrap();
        wait_for(&mut poll, "spilled_responses", round);
        drop(s);
        // Mid-upload, the body held in a temporary file: 300 KB of 1 MB, then gone.
        let mut s = connect(addr);
        s.write_all(b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
            .unwrap();
        s.write_all(&[b'u'; 300_000]).unwrap();
        drop(s);
        // The backend cuts its response short.
        let mut s = connect(addr);
        s.write_all(b"GET /close-after-head HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let _ = read_until_close(&mut s);
    }
    assert_eq!(settled_fds(&running, &mut poll), baseline);
    // Temporary files are unnamed (O_TMPFILE) or unlinked at once: none is left in the
    // directory either.
    let left: Vec<_> = std::fs::read_dir(&spill).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let json = poll.status();
    assert_eq!(number(&json, "spilled_responses"), 4, "{json}");
    assert_eq!(number(&json, "spilled_requests"), 4, "{json}");
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}
