//! The binary's signal handling: SIGHUP reloads the file, SIGTERM drains and exits 0.

mod common;

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command};

use common::*;

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn get(addr: SocketAddr, path: &str) -> Response {
    let mut s = connect(addr);
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    read_response(&mut BufReader::new(s), false).unwrap()
}

fn config(dir: &std::path::Path, backend: SocketAddr) -> std::path::PathBuf {
    let file = dir.join("spoonfeed.conf");
    std::fs::write(
        &file,
        format!("Listen 127.0.0.1:0\nWorkers 2\nProxyPass / http://{backend}/\n"),
    )
    .unwrap();
    file
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spoonfeed-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sighup_reloads_the_file_and_sigterm_drains_and_exits_cleanly() {
    let (a, b) = (origin(), origin());
    let dir = temp_dir("signals");
    let file = config(&dir, a.addr());
    let mut running = spawn(&file);
    assert_eq!(get(running.addr, "/bytes/5").status, 200);
    assert_eq!(a.stats().requests, 1);

    config(&dir, b.addr());
    signal(&running.child, "HUP");
    let mut moved = false;
    for _ in 0..400 {
        assert_eq!(get(running.addr, "/bytes/5").status, 200);
        if b.stats().requests > 0 {
            moved = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(moved, "after SIGHUP, requests go to the new backend");

    // A slow exchange in flight when SIGTERM arrives still completes.
    let before = b.stats().requests;
    let mut s = connect(running.addr);
    s.write_all(b"GET /bytes/1000?delay_ms=300 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    for _ in 0..1000 {
        if b.stats().requests > before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    signal(&running.child, "TERM");
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 1000));
    let status = running.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}
