//! Starting and stopping a server: binds every `Listen` address once per reactor with
//! `SO_REUSEPORT`, starts the reactor threads (pinned to a CPU each under `Workers auto`), and
//! carries reload and stop requests to them.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;

use crate::cache::collector::{self, Budget, Collect};
use crate::config::{Config, LogLevel, Workers};
use crate::metrics::ReactorMetrics;
use crate::reactor::{Control, Reactor};
use crate::sys::{self, SockBuf};

/// Most reactor threads, whatever `Workers` says.
pub const MAX_WORKERS: usize = 1024;

#[derive(Debug)]
struct Handle {
    controls: Sender<Control>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// A running server: its reactors and the addresses it listens on.
#[derive(Debug)]
pub struct Server {
    reactors: Vec<Handle>,
    addrs: Vec<SocketAddr>,
    /// Tells the cache's collector thread of reloads; dropped with the reactors' copies, it
    /// ends the thread.
    collector: mpsc::Sender<Collect>,
}

impl Server {
    /// Binds the listeners and starts the reactors. A `Listen` port of 0 is resolved by the
    /// first bind and shared by every reactor's socket.
    pub fn start(cfg: Config) -> io::Result<Server> {
        warn_clamped(&cfg);
        check_temp_path(&cfg)?;
        let cpus = sys::allowed_cpus().unwrap_or_default();
        let (workers, pin) = match cfg.workers {
            Workers::Auto => (cpus.len().max(1), !cpus.is_empty()),
            Workers::Count(n) => (n.clamp(1, MAX_WORKERS), false),
        };
        let mut per_worker: Vec<Vec<(std::net::TcpListener, crate::config::Scheme)>> =
            (0..workers).map(|_| Vec::new()).collect();
        let mut addrs = Vec::new();
        for listen in &cfg.listens {
            let mut addr = listen.addr;
            for sockets in &mut per_worker {
                let buffers = (
                    cfg.buffering.client_send_buffer,
                    cfg.buffering.client_receive_buffer,
                );
                let socket = sys::reuseport_listener(addr, buffers).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("{}: cannot listen on {addr}: {e}", listen.origin),
                    )
                })?;
                if addr.port() == 0 {
                    addr = socket.local_addr()?;
                }
                sockets.push((socket, listen.scheme));
            }
            addrs.push(addr);
        }
        let metrics: Arc<[Arc<ReactorMetrics>]> = (0..workers)
            .map(|_| Arc::new(ReactorMetrics::new()))
            .collect();
        let collector = collector::start(gc_budget(&cfg))?;
        let mut reactors = Vec::new();
        for (i, listeners) in per_worker.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            // Each reactor gets its own copy, so reference counting never bounces a cache line
            // between cores.
            let (reactor, waker) = Reactor::new(
                Arc::new(cfg.clone()),
                listeners,
                rx,
                (i, Arc::clone(&metrics)),
                collector.clone(),
            )?;
            let cpu = pin.then(|| cpus[i % cpus.len()]);
            let thread = std::thread::Builder::new()
                .name(format!("spoonfeed-reactor-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        // Pinning is an optimisation; a reactor that cannot be pinned still serves.
                        let _ = sys::pin_current_thread(cpu);
                    }
                    reactor.run()
                })?;
            reactors.push(Handle {
                controls: tx,
                waker,
                thread: Some(thread),
            });
        }
        Ok(Server {
            reactors,
            addrs,
            collector,
        })
    }

    /// The bound address of each `Listen`, in configuration order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Hands a new configuration to every reactor; exchanges in flight finish on the old one.
    /// Listeners are not changed by a reload.
    pub fn reload(&self, cfg: &Config) {
        warn_clamped(cfg);
        self.send_all(|| Control::Reload(Arc::new(cfg.clone())));
        let _ = self.collector.send(Collect::Budget(gc_budget(cfg)));
    }

    /// Stops accepting, lets exchanges in flight finish for at most `grace`, and returns when
    /// every reactor has exited.
    pub fn drain(mut self, grace: Duration) -> io::Result<()> {
        let deadline = Instant::now() + grace;
        self.send_all(|| Control::Drain(deadline));
        self.join()
    }

    /// Stops every reactor at once.
    pub fn stop(mut self) -> io::Result<()> {
        self.send_all(|| Control::Quit);
        self.join()
    }

    fn send_all(&self, mut msg: impl FnMut() -> Control) {
        for r in &self.reactors {
            // A reactor that already exited has dropped its receiver; nothing to tell it.
            if r.controls.send(msg()).is_ok() {
                let _ = r.waker.wake();
            }
        }
    }

    fn join(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for r in &mut self.reactors {
            if let Some(thread) = r.thread.take() {
                match thread.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => result = Err(e),
                    Err(_) => result = Err(io::Error::other("a reactor thread panicked")),
                }
            }
        }
        result
    }
}

/// What the cache's collector keeps the store within, from the configuration's cache lines.
fn gc_budget(cfg: &Config) -> Option<Budget> {
    cfg.cache.as_ref().map(|c| Budget {
        store: c.store.clone(),
        size_bytes: c.size_bytes,
        gc_interval: c.gc_interval,
    })
}

/// Applies the kernel socket buffer directives that have a value to a probe socket and reads
/// back what Linux granted.
pub(crate) fn socket_buffer_grants(cfg: &Config) -> io::Result<Vec<sys::BufferGrant>> {
    let b = &cfg.buffering;
    sys::probe_socket_buffers(&[
        ("SendBufferSize", SockBuf::Send, b.client_send_buffer),
        (
            "ReceiveBufferSize",
            SockBuf::Receive,
            b.client_receive_buffer,
        ),
        ("ProxySendBufferSize", SockBuf::Send, b.backend_send_buffer),
        (
            "ProxyReceiveBufferSize",
            SockBuf::Receive,
            b.backend_receive_buffer,
        ),
    ])
}

/// The warning for a buffer the kernel clamped: what was asked, what was granted, and the
/// sysctl that would allow it.
pub(crate) fn clamp_warning(g: &sys::BufferGrant) -> String {
    format!(
        "{} {} was clamped by the kernel to {} bytes: raise {} to at least {} (sysctl -w {}={})",
        g.directive,
        g.requested,
        g.granted,
        g.which.sysctl(),
        g.requested,
        g.which.sysctl(),
        g.requested
    )
}

/// The `-T` report: each buffer directive's request and grant, and the kernel's ceilings.
pub(crate) fn socket_buffer_report(cfg: &Config) -> String {
    let mut out =
        String::from("\n# Kernel socket buffers (requested -> granted on this machine):\n");
    match socket_buffer_grants(cfg) {
        Ok(grants) if grants.is_empty() => out.push_str("#   all at the OS default\n"),
        Ok(grants) => {
            for g in &grants {
                let note = if g.clamped() { "  CLAMPED" } else { "" };
                out.push_str(&format!(
                    "#   {} {} -> {}{note}\n",
                    g.directive, g.requested, g.granted
                ));
            }
        }
        Err(e) => out.push_str(&format!("#   cannot probe: {e}\n")),
    }
    for which in [SockBuf::Send, SockBuf::Receive] {
        let max = which
            .kernel_max()
            .map_or("unreadable".to_string(), |m| m.to_string());
        out.push_str(&format!("#   {} = {max}\n", which.sysctl()));
    }
    out
}

/// Creates (and drops) a temporary file in `ProxyTempPath`, so that an unusable directory is
/// an error at start rather than at the first large response.
pub(crate) fn check_temp_path(cfg: &Config) -> io::Result<()> {
    match &cfg.buffering.temp_path {
        Some(dir) => sys::temp_file(dir).map(drop).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "ProxyTempPath {}: cannot create temporary files: {e}",
                    dir.display()
                ),
            )
        }),
        None => Ok(()),
    }
}

/// Logs a warning for every buffer directive the kernel clamps.
fn warn_clamped(cfg: &Config) {
    let Ok(mut log) = crate::log::ErrorLog::open(cfg) else {
        return;
    };
    match socket_buffer_grants(cfg) {
        Ok(grants) => {
            for g in grants.iter().filter(|g| g.clamped()) {
                log.log(LogLevel::Warn, None, format_args!("{}", clamp_warning(g)));
            }
        }
        Err(e) => log.log(
            LogLevel::Warn,
            None,
            format_args!("cannot check the socket buffer sizes: {e}"),
        ),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.send_all(|| Control::Quit);
        let _ = self.join();
    }
}
