//! Helpers for the integration tests: a spoonfeed on port 0 built from configuration text, the
//! bundled origin, scripted raw-socket backends, and a client that reads whole responses
//! (never trusting one `read()`).
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use spoonfeed::Server;
pub use spoonfeed_origin::{Origin, OriginConfig};

/// The spoonfeed binary running from a configuration file (its first listener's address read
/// from the line it prints at start), killed when dropped.
pub struct Running {
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn(file: &Path) -> Running {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_spoonfeed"))
        .args(["-f", file.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no address in {line:?}"));
    Running { child, addr }
}

/// A loopback port bound but not listening, held while this lives: connects to it are
/// refused, and no other test can take the port meanwhile (a listener bound and dropped would
/// leave it free for one).
pub struct RefusingPort {
    _socket: std::os::fd::OwnedFd,
    pub port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        use std::os::fd::FromRawFd;
        // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let mut addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `addr` is a valid sockaddr_in of the length given, for bind and getsockname.
        unsafe {
            let ptr = &mut addr as *mut libc::sockaddr_in as *mut libc::sockaddr;
            assert_eq!(
                libc::bind(fd, ptr, len),
                0,
                "bind: {}",
                io::Error::last_os_error()
            );
            assert_eq!(libc::getsockname(fd, ptr, &mut len), 0);
        }
        RefusingPort {
            _socket: socket,
            port: u16::from_be(addr.sin_port),
        }
    }
}

/// Longest any test socket operation may block: a hung proxy fails the test instead of
/// hanging the suite.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A running spoonfeed.
pub struct Proxy {
    pub server: Option<Server>,
    pub addr: SocketAddr,
}

impl Proxy {
    /// Starts spoonfeed from configuration text; `Listen 127.0.0.1:0` and `Workers 1` are
    /// prepended unless the text has its own.
    pub fn start(text: &str) -> Proxy {
        let mut full = String::new();
        if !text.to_ascii_lowercase().contains("listen ") {
            full.push_str("Listen 127.0.0.1:0\n");
        }
        if !text.to_ascii_lowercase().contains("workers ") {
            full.push_str("Workers 1\n");
        }
        full.push_str(text);
        let loaded = spoonfeed::config::parse_str(&full, Path::new("test.conf"))
            .unwrap_or_else(|e| panic!("config does not parse: {e:?}\n{full}"));
        let server = Server::start(loaded.config).expect("server starts");
        let addr = server.local_addrs()[0];
        Proxy {
            server: Some(server),
            addr,
        }
    }

    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Sends raw bytes on a new connection and reads one whole response.
    pub fn send(&self, raw: &[u8]) -> Response {
        let mut s = self.connect();
        s.write_all(raw).unwrap();
        read_response(&mut BufReader::new(s), method_of(raw) == "HEAD").expect("a response")
    }

    /// GET `path` with `Connection: close`.
    pub fn get(&self, path: &str) -> Response {
        self.send(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.stop();
        }
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    // Requests are written in one piece by the tests, but a `write!` of several pieces must not
    // wait out a delayed ACK either.
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

pub fn origin() -> Origin {
    Origin::start(OriginConfig::default()).expect("origin starts")
}

fn method_of(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw.split(|&b| b == b' ').next().unwrap_or(&[])).into_owned()
}

/// One response as read off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body was chunked and its terminating chunk arrived.
    pub chunked_complete: Option<bool>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (interim 1xx heads are skipped) with its body by its framing. A body cut
/// short is an error of kind `UnexpectedEof`.
pub fn read_response(r: &mut impl BufRead, head_request: bool) -> io::Result<Response> {
    loop {
        let mut head = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("eof in head: {head:?}"),
                ));
            }
            head.push_str(&line);
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad head {head:?}")))?;
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        if (100..200).contains(&status) {
            continue;
        }
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        let mut chunked_complete = None;
        if head_request || status == 204 || status == 304 {
        } else if get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            chunked_complete = Some(read_chunked(r, &mut body)?);
        } else if let Some(len) = get("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| io::Error::other("bad content-length"))?;
            body.resize(len, 0);
            r.read_exact(&mut body)?;
        } else {
            r.read_to_end(&mut body)?;
        }
        return Ok(Response {
            status,
            head,
            headers,
            body,
            chunked_complete,
        });
    }
}

/// Reads a chunked body into `body`; `Ok(false)` when it ends (a close, or a reset: how
/// spoonfeed cuts a response off) before its last chunk.
fn read_chunked(r: &mut impl BufRead, body: &mut Vec<u8>) -> io::Result<bool> {
    match read_chunks(r, body) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(false),
        other => other,
    }
}

fn read_chunks(r: &mut impl BufRead, body: &mut Vec<u8>) -> io::Result<bool> {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(false);
        }
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 {
                    return Ok(false);
                }
                if line == "\r\n" {
                    return Ok(true);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        if let Err(e) = r.read_exact(&mut body[start..]) {
            body.truncate(start);
            return if e.kind() == io::ErrorKind::UnexpectedEof {
                Ok(false)
            } else {
                Err(e)
            };
        }
        let mut crlf = [0; 2];
        if r.read_exact(&mut crlf).is_err() {
            return Ok(false);
        }
    }
}

/// Whether the peer closed: reads to EOF and returns what arrived before it.
pub fn read_until_close(s: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    rest
}

/// A backend that runs a script per accepted connection and counts connections.
pub struct Scripted {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    _thread: JoinHandle<()>,
}

impl Scripted {
    /// `script(connection number, stream)` runs on its own thread for each connection.
    pub fn start<F>(script: F) -> Scripted
    where
        F: Fn(usize, TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let script = Arc::new(script);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let n = count.fetch_add(1, Ordering::SeqCst);
                let script = Arc::clone(&script);
                std::thread::spawn(move || script(n, stream));
            }
        });
        Scripted {
            addr,
            accepted,
            _thread: thread,
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Reads one request head (up to the empty line) from a raw stream.
pub fn read_head(s: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// Half-closes and drains, so a scripted backend's last bytes are not lost to a reset.
pub fn finish(mut s: TcpStream) {
    let _ = s.shutdown(Shutdown::Write);
    let _ = s.read_to_end(&mut Vec::new());
}
