//! Every libc call spoonfeed makes, each `unsafe` block with its `// SAFETY:` reasoning.
//!
//! The rest of the crate is `#![deny(unsafe_code)]`; this module exposes safe functions that
//! take and return std types. Nothing here keeps state.
#![allow(unsafe_code)]

use std::io;
use std::mem;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Backlog of each listening socket; the kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: libc::c_int = 4096;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its size is passed exactly; `fd` is an open
    // socket owned by the caller.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Builds the `sockaddr` for `addr` into `storage`, returning its length.
fn sockaddr(addr: &SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr type.
            let sin = unsafe {
                &mut *(storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above.
            let sin6 = unsafe {
                &mut *(storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// A non-blocking listening socket with `SO_REUSEPORT`, so every reactor can own one for the
/// same address and the kernel spreads connections across them. IPv6 sockets are v6-only, so
/// `[::]:80` and `0.0.0.0:80` can both be listened on.
/// `buffers` are `SO_SNDBUF` and `SO_RCVBUF` (0 = the OS default), set before `listen` so that
/// accepted sockets inherit them and the receive window scale offered in the handshake fits.
pub fn reuseport_listener(addr: SocketAddr, buffers: (usize, usize)) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain syscall; the returned descriptor is owned right below.
    let raw = cvt(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    if family == libc::AF_INET6 {
        set_int_opt(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    if buffers.0 > 0 {
        set_socket_buffer(raw, SockBuf::Send, buffers.0)?;
    }
    if buffers.1 > 0 {
        set_socket_buffer(raw, SockBuf::Receive, buffers.1)?;
    }
    // SAFETY: zeroed sockaddr_storage is a valid value of that plain C struct.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = sockaddr(&addr, &mut storage);
    // SAFETY: `storage` holds a sockaddr of `len` bytes for this socket's family.
    cvt(unsafe { libc::bind(raw, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    // SAFETY: plain syscall on a bound socket we own.
    cvt(unsafe { libc::listen(raw, LISTEN_BACKLOG) })?;
    Ok(TcpListener::from(fd))
}

/// The CPUs this process may run on, in ascending order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: zeroed cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    cvt(unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    let max = 8 * mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET only reads the set, and `cpu` is below the set's capacity.
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: zeroed cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: CPU_SET writes inside the set; out-of-range CPUs are ignored by libc's macro.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 names the calling thread.
    cvt(unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set) }).map(drop)
}

/// Signals the command-line server handles itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// `SIGHUP`: reload the configuration.
    Reload,
    /// `SIGTERM` / `SIGINT`: drain and stop.
    Stop,
    /// `SIGQUIT`: stop at once.
    Quit,
}

fn handled_set() -> libc::sigset_t {
    // SAFETY: zeroed sigset_t is then initialised by sigemptyset before any use.
    let mut set: libc::sigset_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signal numbers are valid constants.
    unsafe {
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT, libc::SIGQUIT] {
            libc::sigaddset(&mut set, sig);
        }
    }
    set
}

/// Blocks the handled signals in the calling thread (and so in threads it spawns later), so
/// that `wait_signal` receives them synchronously instead of a handler running anywhere.
pub fn block_signals() -> io::Result<()> {
    let set = handled_set();
    // SAFETY: `set` is initialised; the old mask is not wanted.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(ret))
    }
}

/// Waits for one of the signals blocked by `block_signals`.
pub fn wait_signal() -> io::Result<Signal> {
    let set = handled_set();
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is initialised and `sig` is a valid out-pointer.
    let ret = unsafe { libc::sigwait(&set, &mut sig) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(match sig {
        libc::SIGHUP => Signal::Reload,
        libc::SIGQUIT => Signal::Quit,
        _ => Signal::Stop,
    })
}

/// Which kernel buffer of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockBuf {
    Send,
    Receive,
}

impl SockBuf {
    fn option(self) -> libc::c_int {
        match self {
            SockBuf::Send => libc::SO_SNDBUF,
            SockBuf::Receive => libc::SO_RCVBUF,
        }
    }

    /// The sysctl that caps what `setsockopt` may ask for.
    pub fn sysctl(self) -> &'static str {
        match self {
            SockBuf::Send => "net.core.wmem_max",
            SockBuf::Receive => "net.core.rmem_max",
        }
    }

    /// The sysctl's current value, if it can be read.
    pub fn kernel_max(self) -> Option<usize> {
        let path = format!("/proc/sys/{}", self.sysctl().replace('.', "/"));
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }
}

/// Asks for a kernel buffer of `bytes` on `fd`.
pub fn set_socket_buffer(fd: RawFd, which: SockBuf, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set_int_opt(fd, libc::SOL_SOCKET, which.option(), value)
}

/// The kernel buffer `fd` has, as the size that was granted: Linux reports twice the size
/// it accepted (the other half is its bookkeeping), so the value read back is halved.
pub fn socket_buffer(fd: RawFd, which: SockBuf) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid out-pointers of the size passed; `fd` is an open
    // socket owned by the caller.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            which.option(),
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(usize::try_from(value).unwrap_or(0) / 2)
}

/// What one buffer directive asked for and what a socket got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferGrant {
    pub directive: &'static str,
    pub which: SockBuf,
    pub requested: usize,
    pub granted: usize,
}

impl BufferGrant {
    /// Whether the kernel gave less than was asked.
    pub fn clamped(&self) -> bool {
        self.granted < self.requested
    }
}

/// Applies each non-zero request to a fresh TCP socket and reads back what the kernel
/// granted, so that clamping is known (and reported) before any client connects.
pub fn probe_socket_buffers(
    requests: &[(&'static str, SockBuf, usize)],
) -> io::Result<Vec<BufferGrant>> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&probe);
    let mut out = Vec::new();
    for &(directive, which, requested) in requests {
        if requested == 0 {
            continue;
        }
        set_socket_buffer(fd, which, requested)?;
        out.push(BufferGrant {
            directive,
            which,
            requested,
            granted: socket_buffer(fd, which)?,
        });
    }
    Ok(out)
}

/// Starts a non-blocking connect to `addr` with kernel buffers set first (a receive buffer
/// must be set before the SYN for its window scale to be offered). Zero keeps the default.
pub fn connect_with_buffers(
    addr: SocketAddr,
    send: usize,
    receive: usize,
) -> io::Result<std::net::TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain syscall; the returned descriptor is owned right below.
    let raw = cvt(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if send > 0 {
        set_socket_buffer(raw, SockBuf::Send, send)?;
    }
    if receive > 0 {
        set_socket_buffer(raw, SockBuf::Receive, receive)?;
    }
    // SAFETY: zeroed sockaddr_storage is a valid value of that plain C struct.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = sockaddr(&addr, &mut storage);
    // SAFETY: `storage` holds a sockaddr of `len` bytes for this socket's family.
    let ret =
        unsafe { libc::connect(raw, (&storage as *const libc::sockaddr_storage).cast(), len) };
    if ret == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(std::net::TcpStream::from(fd))
}

/// An unlinked temporary file in `dir` (`O_TMPFILE`: it has no name, so nothing is left
/// behind by a crash). Filesystems without `O_TMPFILE` get a named file unlinked at once.
pub fn temp_file(dir: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let unnamed = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match unnamed {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
            static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.join(format!(".spoonfeed-{}-{n}", std::process::id()));
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            std::fs::remove_file(&path)?;
            Ok(file)
        }
        other => other,
    }
}

/// Sends up to `count` bytes of `file` from `*offset` to the socket `out` with `sendfile(2)`,
/// advancing `*offset`; returns the bytes sent (`WouldBlock` when the socket is full).
pub fn sendfile(out: RawFd, file: RawFd, offset: &mut u64, count: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(*offset).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `off` is a valid in/out pointer for the call; both descriptors are open and
    // owned by the caller.
    let n = unsafe { libc::sendfile(out, file, &mut off, count) };
    if n == -1 {
        return Err(io::Error::last_os_error());
    }
    *offset = u64::try_from(off).unwrap_or(*offset);
    Ok(n as usize)
}

/// Copies up to `count` bytes of `from` at `*offset` to `to` at its file position, inside the
/// kernel (`copy_file_range(2)`: no user-space copy, a shared extent where the file system
/// can), advancing both; returns the bytes copied (0 at the end of `from`).
pub fn copy_file_range(
    from: RawFd,
    offset: &mut u64,
    to: RawFd,
    count: usize,
) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(*offset).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `off` is a valid in/out pointer for the call; a null output offset makes the
    // kernel use and advance `to`'s position; both descriptors are open and owned by the
    // caller.
    let n = unsafe { libc::copy_file_range(from, &mut off, to, std::ptr::null_mut(), count, 0) };
    if n == -1 {
        return Err(io::Error::last_os_error());
    }
    *offset = u64::try_from(off).unwrap_or(*offset);
    Ok(n as usize)
}

/// A non-blocking pipe for splicing, sized to `size` bytes as far as the kernel allows
/// (`/proc/sys/fs/pipe-max-size` for an unprivileged process). Returns the read end, the
/// write end and the capacity granted.
pub fn splice_pipe(size: usize) -> io::Result<(OwnedFd, OwnedFd, usize)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for the call to fill.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors are fresh and owned by nothing else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let want = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: plain fcntl on a pipe we own. A refusal (above the limit) keeps the default.
    let _ = unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, want) };
    // SAFETY: as above; F_GETPIPE_SZ takes no argument.
    let granted = cvt(unsafe { libc::fcntl(fds[1], libc::F_GETPIPE_SZ) })?;
    Ok((r, w, usize::try_from(granted).unwrap_or(0)))
}

/// Moves up to `len` bytes from `from` to `to` (one of them a pipe) with `splice(2)`, without
/// blocking; returns the bytes moved (0: `from` is at its end).
pub fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: null offsets are allowed (both ends are streams); the descriptors are open and
    // owned by the caller.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// The most a pipe may hold for an unprivileged process (`/proc/sys/fs/pipe-max-size`).
pub fn pipe_max_size() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Ignores `SIGPIPE`, as Rust's runtime does for a program's `main` (a write to a closed
/// peer then fails with `EPIPE` instead of killing the process), for hosts that did not run
/// that start-up: fuzzing harnesses.
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no handler to be unsafe in.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Makes closing `fd` send a reset instead of a FIN (`SO_LINGER` on with 0 s): for a response
/// cut off mid-way, so that a client reading until close cannot take it for complete.
pub fn reset_on_close(fd: RawFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` lives across the call and its size is passed exactly; `fd` is an open
    // socket owned by the caller.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Bytes in a socket's kernel send queue not yet acknowledged by the peer (`SIOCOUTQ`).
pub fn send_queue(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SIOCOUTQ is TIOCOUTQ on Linux; the libc crate names only the latter.
    // SAFETY: SIOCOUTQ writes one int through the valid pointer; `fd` is an open socket owned
    // by the caller.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) })?;
    Ok(usize::try_from(n).unwrap_or(0))
}
