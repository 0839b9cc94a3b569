//! The configuration each proxy runs with, as text. Pure: the runner writes them to files.
//!
//! Each proxy gets one worker (thread), keep-alive on both sides and nothing else beyond what
//! it needs to be comparable (see `compare --help`): spoonfeed runs with its defaults; nginx
//! buffers with the room spoonfeed has by default (1 MiB per response, in 16 KiB blocks) and
//! no temporary files, since spoonfeed never spills to disk; HAProxy runs with its defaults.

/// What a proxy's configuration depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxySetup {
    /// Port the proxy listens on, on 127.0.0.1.
    pub listen_port: u16,
    /// Port of the backend, on 127.0.0.1.
    pub backend_port: u16,
    /// Client connections of the workload: the idle backend connections nginx may keep.
    pub connections: usize,
    /// `SO_SNDBUF` of the proxy's client sockets; `None` leaves the OS default.
    pub client_sndbuf: Option<u64>,
}

/// Requests per connection, both sides, for the proxies that cap them by default: high
/// enough that no run reopens a connection for it.
const KEEPALIVE_REQUESTS: u64 = 1_000_000_000;

pub fn spoonfeed_config(setup: &ProxySetup) -> String {
    let mut text = format!(
        "# compare: one reactor, unlimited keep-alive, its defaults otherwise\n\
         Listen 127.0.0.1:{}\n\
         Workers 1\n\
         MaxKeepAliveRequests 0\n\
         ProxyPass / http://127.0.0.1:{}/\n",
        setup.listen_port, setup.backend_port
    );
    if let Some(size) = setup.client_sndbuf {
        text.push_str(&format!("SendBufferSize {size}\n"));
    }
    text
}

/// nginx in the foreground (`daemon off`, so the process started is its master), everything it
/// writes under `dir`, which must be readable by its unprivileged worker.
pub fn nginx_config(setup: &ProxySetup, dir: &str) -> String {
    let sndbuf = setup
        .client_sndbuf
        .map_or(String::new(), |size| format!(" sndbuf={size}"));
    format!(
        "# compare: one worker, proxy_buffering on with 1 MiB per response, upstream keep-alive\n\
         daemon off; master_process on; worker_processes 1;\n\
         pid {dir}/nginx.pid; error_log {dir}/nginx.err;\n\
         events {{ worker_connections 4096; }}\n\
         http {{ access_log off; keepalive_requests {KEEPALIVE_REQUESTS};\n\
         \x20 client_body_temp_path {dir}/nginx-temp; proxy_temp_path {dir}/nginx-temp;\n\
         \x20 fastcgi_temp_path {dir}/nginx-temp; uwsgi_temp_path {dir}/nginx-temp; scgi_temp_path {dir}/nginx-temp;\n\
         \x20 upstream backend {{ server 127.0.0.1:{backend}; keepalive {idle}; keepalive_requests {KEEPALIVE_REQUESTS}; }}\n\
         \x20 server {{ listen 127.0.0.1:{listen}{sndbuf};\n\
         \x20   location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";\n\
         \x20     proxy_buffering on; proxy_buffer_size 16k; proxy_buffers 64 16k; proxy_busy_buffers_size 32k;\n\
         \x20     proxy_max_temp_file_size 0; proxy_read_timeout 300s; proxy_send_timeout 300s; }} }} }}\n",
        backend = setup.backend_port,
        idle = setup.connections,
        listen = setup.listen_port,
    )
}

/// HAProxy, to be run with `-db` (foreground, one process).
pub fn haproxy_config(setup: &ProxySetup) -> String {
    let sndbuf = setup.client_sndbuf.map_or(String::new(), |size| {
        format!("  tune.sndbuf.client {size}\n")
    });
    format!(
        "# compare: one thread, mode http, http-reuse always, default buffers\n\
         global\n\
         \x20 nbthread 1\n\
         \x20 maxconn 4096\n\
         {sndbuf}\
         defaults\n\
         \x20 mode http\n\
         \x20 timeout connect 5s\n\
         \x20 timeout client 300s\n\
         \x20 timeout server 300s\n\
         \x20 http-reuse always\n\
         frontend clients\n\
         \x20 bind 127.0.0.1:{}\n\
         \x20 default_backend origin\n\
         backend origin\n\
         \x20 server origin 127.0.0.1:{}\n",
        setup.listen_port, setup.backend_port
    )
}
