//! Tests of the configuration front end as a whole: text in, `Config` or `file:line: message`
//! out. Lexer and value parsers have their own tests beside them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::directives::DIRECTIVES;
use super::*;

const FILE: &str = "spoonfeed.conf";

fn parse(text: &str) -> Loaded {
    match parse_str(text, Path::new(FILE)) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("unexpected errors: {errors:#?}"),
    }
}

fn config(text: &str) -> Config {
    parse(text).config
}

fn errors(text: &str) -> Vec<String> {
    match parse_str(text, Path::new(FILE)) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// The single error `text` (after a valid `Listen 80` on line 1) gives.
fn error(text: &str) -> String {
    let errors = errors(&format!("Listen 80\n{text}"));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap_or_default()
}

fn warnings(text: &str) -> Vec<String> {
    parse(text)
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn main_server(cfg: &Config) -> &Vhost {
    &cfg.vhosts[0]
}

// ---- the classic examples ----

#[test]
fn classic_chapter_example_parses_verbatim() {
    let loaded = parse(
        "Listen 80\n\
         ProxyPass        /perl/ http://localhost:81/perl/\n\
         ProxyPassReverse /perl/ http://localhost:81/perl/\n",
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let cfg = loaded.config;
    let main = main_server(&cfg);
    assert_eq!(main.routes.len(), 1);
    let route = &main.routes[0];
    assert_eq!(route.matcher, RouteMatch::Prefix("/perl/".into()));
    assert_eq!(
        route.target,
        RouteTarget::Proxy {
            backend: 0,
            path: "/perl/".into()
        }
    );
    assert_eq!(route.origin.line, 2);
    let backend = &cfg.backends[0];
    assert_eq!(backend.name, "http://localhost:81");
    assert_eq!(backend.host, "localhost");
    assert_eq!(backend.port, 81);
    assert_eq!(backend.authority, "localhost:81");
    assert!(backend
        .addrs
        .contains(&SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 81)));
    assert_eq!(
        main.reverse,
        vec![ReverseRule {
            path: "/perl/".into(),
            url: "http://localhost:81/perl/".into(),
            origin: Origin {
                file: FILE.into(),
                line: 3
            },
        }]
    );
}

#[test]
fn chapter_proxy_requests_off_is_accepted() {
    assert!(!main_server(&config("Listen 80\nProxyRequests Off\n")).proxy_requests);
}

#[test]
fn chapter_one_argument_proxy_pass_is_explained() {
    assert_eq!(
        error("ProxyPass   /perl/"),
        "spoonfeed.conf:2: ProxyPass with one argument is the form used inside <Location>, which spoonfeed does not support; write ProxyPass PATH URL"
    );
}

#[test]
fn chapter_receive_buffer_line_works_verbatim() {
    let cfg = config("Listen 80\nProxyReceiveBufferSize 16384\n");
    assert_eq!(cfg.buffering.backend_receive_buffer, 16384);
    assert_eq!(
        error("ProxyReceiveBufferSize 1000"),
        "spoonfeed.conf:2: ProxyReceiveBufferSize must be 0 (the OS default) or a multiple of 512 of at least 512, not 1000"
    );
}

#[test]
fn buffering_directives_take_sizes_and_check_each_other() {
    let cfg = config(
        "Listen 80\nProxyIOBufferSize 4k\nProxyResponseBufferSize 2m\nProxyBufferPoolSize 256k\n\
         ProxyRequestBuffering off\nSendBufferSize 64k\nStatusLocation /status\nStatusAllow 10.0.0.0/8 ::1\n\
         ProxyPass /a/ http://127.0.0.1:81/ buffering=off\n",
    );
    let b = &cfg.buffering;
    assert_eq!(
        (b.io_buffer_size, b.response_buffer_size, b.pool_size),
        (4096, 2 << 20, 256 << 10)
    );
    assert!(!b.request_buffering);
    assert_eq!(b.client_send_buffer, 65536);
    assert!(!cfg.backends[0].params.buffering);
    let status = cfg.status.as_ref().unwrap();
    assert_eq!(status.path, "/status");
    assert_eq!(status.allow.len(), 2);
    assert_eq!(
        errors("Listen 80\nProxyIOBufferSize 16k\nProxyBufferPoolSize 64k\n"),
        vec!["spoonfeed.conf:3: ProxyBufferPoolSize 65536 holds 4 blocks of ProxyIOBufferSize 16384; give at least 262144 (16 blocks, and 262144 bytes)"]
    );
    assert_eq!(
        error("ProxyIOBufferSize 100"),
        "spoonfeed.conf:2: ProxyIOBufferSize must be from 512 to 1048576 bytes, not 100"
    );
    assert_eq!(
        error("StatusAllow 10.0.0.1/8"),
        "spoonfeed.conf:2: \"10.0.0.1/8\" has host bits set; give the network address, as 10.0.0.0/8"
    );
    assert_eq!(
        warnings("Listen 80\nStatusAllow 127.0.0.1\n"),
        vec!["spoonfeed.conf:0: warning: StatusAllow without StatusLocation: there is no status endpoint"]
    );
}

#[test]
fn chapter_cache_directives_work_verbatim_in_their_classic_units() {
    let dir = std::env::temp_dir().join(format!("spoonfeed-cache-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = config(&format!(
        "Listen 80\n\
         CacheRoot {}\n\
         CacheSize 50000   # 50 MB\n\
         CacheGcInterval 1\n\
         CacheMaxExpire 72\n\
         CacheLastModifiedFactor 0.1\n\
         CacheDefaultExpire 24\n\
         CacheEnable disk /\n\
         CacheDisable /private/\n",
        dir.display()
    ));
    let cache = cfg.cache.expect("a cache");
    assert_eq!(cache.size_bytes, 50_000 * 1024);
    assert_eq!(cache.gc_interval, Some(Duration::from_secs(3600)));
    assert_eq!(cache.settings.max_expire, 72 * 3600);
    assert_eq!(cache.settings.default_expire, 24 * 3600);
    assert_eq!(cache.settings.lm_factor_per_mille, 100);
    assert_eq!(cache.lock_max_age, Some(Duration::from_secs(5)));
    assert!(cache.covers(b"/index.html"));
    assert!(!cache.covers(b"/private/x"));
    assert_eq!(
        errors("Listen 80\nCacheRoot /nonexistent/cache\nCacheEnable disk /\n"),
        vec![
            "spoonfeed.conf:2: CacheRoot /nonexistent/cache: No such file or directory (os error 2) \
             (it must be a directory the server may write)"
        ]
    );
    assert_eq!(
        errors("Listen 80\nCacheEnable disk /\n"),
        vec!["spoonfeed.conf:0: CacheEnable needs CacheRoot (the directory to keep responses in)"]
    );
    assert_eq!(
        error("CacheEnable mem /"),
        "spoonfeed.conf:2: CacheEnable: cache type \"mem\" is not supported; give disk"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- defaults ----

#[test]
fn fills_every_default() {
    let cfg = config("Listen 80\n");
    assert_eq!(cfg.file, PathBuf::from(FILE));
    assert_eq!(cfg.workers, Workers::Auto);
    assert_eq!(
        cfg.limits,
        Limits {
            timeout: Duration::from_secs(60),
            keep_alive: true,
            keep_alive_timeout: Duration::from_secs(5),
            max_keep_alive_requests: 100,
            request_line: 8190,
            request_field_size: 8190,
            request_fields: 100,
            request_body: 1_073_741_824,
            header_read: Some(ReadTimeout {
                initial: Duration::from_secs(20),
                max: Some(Duration::from_secs(40)),
                min_rate: Some(500),
            }),
            body_read: Some(ReadTimeout {
                initial: Duration::from_secs(20),
                max: None,
                min_rate: Some(500),
            }),
            max_connections: 0,
            allow_http09: false,
        }
    );
    assert_eq!(cfg.proxy_timeout, Duration::from_secs(60));
    assert_eq!(cfg.error_log, LogTarget::Stderr);
    assert_eq!(cfg.log_level, LogLevel::Warn);
    assert!(cfg.backends.is_empty());
    assert_eq!(cfg.vhosts.len(), 1);
    let main = main_server(&cfg);
    assert_eq!(main.server_name, server::default_server_name());
    assert!(!main.server_name.is_empty());
    assert!(main.addrs.is_empty() && main.aliases.is_empty());
    assert!(main.routes.is_empty() && main.reverse.is_empty());
    assert!(!main.preserve_host);
    assert!(main.add_forwarded);
    assert_eq!(main.via, ViaSetting::Off);
    assert!(!main.proxy_requests);
    assert!(main.access_logs.is_empty());
    assert_eq!(main.origin, None);
}

/// Directives whose `default` column is a description in words, not a value to parse.
const DESCRIBED_DEFAULTS: &[&str] = &[
    "Listen",
    "StatusLocation",
    "<VirtualHost>",
    "ServerName",
    "ServerAlias",
    "ProxyPass",
    "ProxyPassMatch",
    "ProxyPassReverse",
    "ProxyTimeout",
    "LogFormat",
    "CustomLog",
    "SSLCertificateFile",
    "SSLCertificateKeyFile",
    "SSLProxyCACertificateFile",
    "<Proxy>",
    "CacheRoot",
    "CacheGcInterval",
    "CacheEnable",
    "CacheDisable",
];

#[test]
fn table_defaults_are_what_the_parser_assumes() {
    let baseline = dump(&config("Listen 80\n"));
    for directive in DIRECTIVES {
        if DESCRIBED_DEFAULTS.contains(&directive.name) {
            continue;
        }
        let text = format!("Listen 80\n{} {}\n", directive.name, directive.default);
        assert_eq!(dump(&config(&text)), baseline, "{}", directive.name);
    }
}

#[test]
fn request_read_timeout_reads_apaches_syntax() {
    let cfg = config("Listen 80\nRequestReadTimeout header=10-30,MinRate=1000 body=0\n");
    let header = cfg.limits.header_read.unwrap();
    assert_eq!(header.allowed(0), Duration::from_secs(10));
    assert_eq!(header.allowed(5_000), Duration::from_secs(15));
    assert_eq!(header.allowed(1 << 30), Duration::from_secs(30));
    assert_eq!(cfg.limits.body_read, None);
    assert_eq!(
        error("RequestReadTimeout header=10-30"),
        "spoonfeed.conf:2: RequestReadTimeout header: a maximum needs MinRate (without it the timeout never grows)"
    );
    assert_eq!(
        error("RequestReadTimeout trailer=5"),
        "spoonfeed.conf:2: RequestReadTimeout: unknown stage \"trailer\"; give header= or body="
    );
}

#[test]
fn proxy_timeout_defaults_to_timeout_wherever_timeout_is_set() {
    let cfg = config("Listen 80\nProxyPass / http://127.0.0.1:81/\nTimeout 30\n");
    assert_eq!(cfg.proxy_timeout, Duration::from_secs(30));
    assert_eq!(cfg.backends[0].params.timeout, Duration::from_secs(30));
}

// ---- directive names, contexts, arguments ----

#[test]
fn unknown_directive_is_an_error_with_file_and_line() {
    assert_eq!(
        error("\n  Frobnicate on"),
        "spoonfeed.conf:3: unknown directive Frobnicate"
    );
}

#[test]
fn directive_names_are_case_insensitive() {
    let cfg = config("listen 80\nPROXYPASS /a/ http://127.0.0.1:81/a/\nkeepalive off\n");
    assert_eq!(main_server(&cfg).routes.len(), 1);
    assert!(!cfg.limits.keep_alive);
}

#[test]
fn wrong_argument_count_shows_the_usage() {
    assert_eq!(
        error("ProxyPreserveHost"),
        "spoonfeed.conf:2: wrong number of arguments to ProxyPreserveHost; usage: ProxyPreserveHost On|Off"
    );
    assert_eq!(
        error("Timeout 1 2"),
        "spoonfeed.conf:2: wrong number of arguments to Timeout; usage: Timeout TIME"
    );
}

#[test]
fn server_only_directives_are_refused_inside_a_virtual_host() {
    let all = errors(
        "Listen 80\n<VirtualHost *>\nTimeout 5\nListen 81\nLogFormat \"%h\" x\n</VirtualHost>\n",
    );
    assert_eq!(
        all,
        vec![
            "spoonfeed.conf:3: Timeout is not allowed inside <VirtualHost>",
            "spoonfeed.conf:4: Listen is not allowed inside <VirtualHost>",
            "spoonfeed.conf:5: LogFormat is not allowed inside <VirtualHost>",
        ]
    );
}

#[test]
fn a_later_directive_wins_without_error() {
    let cfg = config("Listen 80\nTimeout 10\nTimeout 20\nProxyVia On\nProxyVia Block\n");
    assert_eq!(cfg.limits.timeout, Duration::from_secs(20));
    assert_eq!(main_server(&cfg).via, ViaSetting::Block);
}

#[test]
fn collects_every_error_sorted_by_line() {
    assert_eq!(
        errors("Timeout x\n<Location />\nProxyPass / h\n</Location>\nKeepAlive maybe\nX \"y\n"),
        vec![
            "spoonfeed.conf:0: no Listen directive: give at least one address to accept clients on, as Listen 80",
            "spoonfeed.conf:1: Timeout: invalid time \"x\": give a whole number with an optional unit ms, s, m or h (a bare number is seconds)",
            "spoonfeed.conf:2: <Location> sections are not supported; spoonfeed reads only <VirtualHost> and <Proxy \"*\">",
            "spoonfeed.conf:5: KeepAlive: \"maybe\" is neither On nor Off",
            "spoonfeed.conf:6: unterminated \"quoted\" argument",
        ]
    );
}

// ---- Listen, Workers ----

#[test]
fn listen_accepts_ports_and_ip_addresses() {
    let cfg = config(
        "Listen 80\nListen 127.0.0.1:0\nListen [::1]:8080 http\nListen 10.0.0.1:80 HTTP\nListen [::]:80\n",
    );
    let addrs: Vec<SocketAddr> = cfg.listens.iter().map(|l| l.addr).collect();
    assert_eq!(
        addrs,
        vec![
            "0.0.0.0:80".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            "[::1]:8080".parse().unwrap(),
            "10.0.0.1:80".parse().unwrap(),
            "[::]:80".parse().unwrap(),
        ]
    );
    assert!(cfg.listens.iter().all(|l| l.scheme == Scheme::Http));
    assert_eq!(cfg.listens[2].origin.line, 3);
}

#[test]
fn listen_port_zero_may_repeat_but_others_may_not() {
    assert_eq!(
        config("Listen 127.0.0.1:0\nListen 127.0.0.1:0\n")
            .listens
            .len(),
        2
    );
    assert_eq!(
        error("Listen 0.0.0.0:80"),
        "spoonfeed.conf:2: Listen 0.0.0.0:80 is given twice (first at line 1)"
    );
}

#[test]
fn listen_refuses_https_host_names_and_bad_ports() {
    assert_eq!(
        error("Listen 8443 https"),
        "spoonfeed.conf:2: Listen 0.0.0.0:8443 https: no server for this address has SSLEngine \
         On with an SSLCertificateFile"
    );
    assert_eq!(
        error("Listen 81 gopher"),
        "spoonfeed.conf:2: unknown protocol \"gopher\"; give http or https"
    );
    // As Apache: port 443 speaks https unless told otherwise.
    assert_eq!(
        error("Listen 443"),
        "spoonfeed.conf:2: Listen 0.0.0.0:443 https: no server for this address has SSLEngine \
         On with an SSLCertificateFile"
    );
    let plain = config("Listen 80\nListen 443 http\n");
    assert!(plain.listens.iter().all(|l| l.scheme == Scheme::Http));
    assert_eq!(
        error("Listen localhost:81"),
        "spoonfeed.conf:2: Listen address \"localhost\" is not an IP address (host names are not supported)"
    );
    assert_eq!(
        error("Listen 65536"),
        "spoonfeed.conf:2: Listen: invalid port \"65536\""
    );
    assert_eq!(
        error("Listen ::1:80"),
        "spoonfeed.conf:2: Listen \"::1:80\": write an IPv6 address in brackets, as [::1]:80"
    );
}

#[test]
fn missing_listen_is_an_error_at_line_zero() {
    assert_eq!(
        errors("# nothing\n"),
        vec!["spoonfeed.conf:0: no Listen directive: give at least one address to accept clients on, as Listen 80"]
    );
}

#[test]
fn workers_takes_a_count_or_auto() {
    assert_eq!(config("Listen 80\nWorkers 4").workers, Workers::Count(4));
    assert_eq!(config("Listen 80\nWorkers AUTO").workers, Workers::Auto);
    assert_eq!(
        error("Workers 0"),
        "spoonfeed.conf:2: Workers must be a whole number from 1 to 1024, not \"0\" (or auto)"
    );
    assert_eq!(
        error("Workers 1025"),
        "spoonfeed.conf:2: Workers must be a whole number from 1 to 1024, not \"1025\" (or auto)"
    );
}

// ---- virtual hosts and names ----

#[test]
fn virtual_host_reads_its_addresses() {
    let cfg = config(
        "Listen 80\n<VirtualHost * *:80 127.0.0.1:8080 [::1]:80 [::1] _default_:443 *:*>\n</VirtualHost>\n",
    );
    let vhost = &cfg.vhosts[1];
    let v4 = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let v6 = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(
        vhost.addrs,
        vec![
            VhostAddr {
                ip: None,
                port: None
            },
            VhostAddr {
                ip: None,
                port: Some(80)
            },
            VhostAddr {
                ip: v4,
                port: Some(8080)
            },
            VhostAddr {
                ip: v6,
                port: Some(80)
            },
            VhostAddr { ip: v6, port: None },
            VhostAddr {
                ip: None,
                port: Some(443)
            },
            VhostAddr {
                ip: None,
                port: None
            },
        ]
    );
    assert_eq!(vhost.origin.as_ref().map(|o| o.line), Some(2));
}

#[test]
fn virtual_host_refuses_host_names_and_bad_ports() {
    assert_eq!(
        error("<VirtualHost www.example.com:80>\n</VirtualHost>"),
        "spoonfeed.conf:2: <VirtualHost> address \"www.example.com:80\": give *, *:PORT, IP or IP:PORT (IPv6 in brackets; host names are not supported)"
    );
    assert_eq!(
        error("<VirtualHost *:0>\n</VirtualHost>"),
        "spoonfeed.conf:2: <VirtualHost> address \"*:0\": port 0 is not allowed here"
    );
    assert_eq!(
        error("<VirtualHost>\n</VirtualHost>"),
        "spoonfeed.conf:2: wrong number of arguments to <VirtualHost>; usage: <VirtualHost ADDR[:PORT] ...> ... </VirtualHost>"
    );
}

#[test]
fn virtual_hosts_do_not_nest() {
    assert_eq!(
        error("<VirtualHost *>\n<VirtualHost *:81>\nServerName a\n</VirtualHost>\n</VirtualHost>"),
        "spoonfeed.conf:3: <VirtualHost> is not allowed inside <VirtualHost>"
    );
}

#[test]
fn unknown_sections_are_refused_and_their_bodies_skipped() {
    assert_eq!(
        error("<IfModule mod_proxy.c>\nNoSuchThing 1\n</IfModule>"),
        "spoonfeed.conf:2: <IfModule> sections are not supported; spoonfeed reads only <VirtualHost> and <Proxy \"*\">"
    );
}

#[test]
fn server_name_keeps_the_lowercase_host() {
    for (written, stored) in [
        ("www.Example.COM", "www.example.com"),
        ("www.example.com:8080", "www.example.com"),
        ("https://www.example.com:443", "www.example.com"),
        ("[::1]:80", "[::1]"),
        ("10.0.0.1", "10.0.0.1"),
    ] {
        let cfg = config(&format!("Listen 80\nServerName {written}\n"));
        assert_eq!(main_server(&cfg).server_name, stored, "{written}");
    }
}

#[test]
fn server_name_refuses_malformed_names() {
    assert_eq!(
        error("ServerName ftp://x"),
        "spoonfeed.conf:2: ServerName: unknown scheme ftp://"
    );
    assert_eq!(
        error("ServerName a/b"),
        "spoonfeed.conf:2: ServerName: invalid host name \"a/b\""
    );
    assert_eq!(
        error("ServerName a:99999"),
        "spoonfeed.conf:2: ServerName a:99999: invalid port \"99999\""
    );
}

#[test]
fn server_alias_accumulates_lowercase_patterns() {
    let cfg = config(
        "Listen 80\n<VirtualHost *>\nServerAlias Www.Example.com *.example.com\nServerAlias ex?mple.org\n</VirtualHost>\n",
    );
    assert_eq!(
        cfg.vhosts[1].aliases,
        vec!["www.example.com", "*.example.com", "ex?mple.org"]
    );
    assert_eq!(
        error("ServerAlias example.com:80"),
        "spoonfeed.conf:2: ServerAlias: invalid name \"example.com:80\" (letters, digits, - _ . and the wildcards * ?; no port)"
    );
}

#[test]
fn virtual_host_inherits_the_main_server() {
    let cfg = config(
        "Listen 80\n\
         ServerName main.example\n\
         <VirtualHost *:80>\n\
         ProxyPass /own/ http://127.0.0.1:82/own/\n\
         ProxyPassReverse /own/ http://127.0.0.1:82/own/\n\
         </VirtualHost>\n\
         <VirtualHost *:80>\n\
         ServerName second.example\n\
         ProxyPreserveHost On\n\
         ProxyAddHeaders On\n\
         ProxyVia Full\n\
         CustomLog /tmp/x common\n\
         </VirtualHost>\n\
         ProxyPass /main/ http://127.0.0.1:81/main/\n\
         ProxyPassReverse /main/ http://127.0.0.1:81/main/\n\
         ProxyAddHeaders Off\n\
         ProxyVia On\n",
    );
    let (main, first, second) = (&cfg.vhosts[0], &cfg.vhosts[1], &cfg.vhosts[2]);
    assert_eq!(main.routes.len(), 1);
    let lines: Vec<usize> = first.routes.iter().map(|r| r.origin.line).collect();
    assert_eq!(lines, vec![14, 4], "the main server's routes come first");
    let lines: Vec<usize> = first.reverse.iter().map(|r| r.origin.line).collect();
    assert_eq!(lines, vec![15, 5]);
    assert_eq!(first.server_name, "main.example");
    assert!(!first.preserve_host);
    assert!(!first.add_forwarded);
    assert_eq!(first.via, ViaSetting::On);
    assert!(first.access_logs.is_empty());
    assert_eq!(second.server_name, "second.example");
    assert!(second.preserve_host && second.add_forwarded);
    assert_eq!(second.via, ViaSetting::Full);
    assert_eq!(second.access_logs.len(), 1);
    assert_eq!(second.routes.len(), 1);
}

// ---- ProxyPass ----

#[test]
fn proxy_pass_reads_keys_with_units() {
    let cfg = config(
        "Listen 80\nProxyPass /a/ http://127.0.0.1:81/ TIMEOUT=5 connectiontimeout=250ms max=20 ttl=2m retry=0 disablereuse=on\n",
    );
    assert_eq!(
        cfg.backends[0].params,
        BackendParams {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_millis(250),
            max: Some(20),
            ttl: Some(Duration::from_secs(120)),
            retry: Duration::ZERO,
            disable_reuse: true,
            buffering: true,
        }
    );
}

#[test]
fn proxy_pass_keys_default_from_proxy_timeout() {
    let cfg = config(
        "Listen 80\nProxyPass /a/ http://127.0.0.1:81/ timeout=7\nProxyPass /b/ http://127.0.0.1:82/\nProxyTimeout 9\n",
    );
    let a = &cfg.backends[0].params;
    assert_eq!(
        (a.timeout, a.connect_timeout),
        (Duration::from_secs(7), Duration::from_secs(7))
    );
    assert_eq!(
        cfg.backends[1].params,
        BackendParams {
            timeout: Duration::from_secs(9),
            connect_timeout: Duration::from_secs(9),
            max: None,
            ttl: None,
            retry: Duration::from_secs(60),
            disable_reuse: false,
            buffering: true,
        }
    );
}

#[test]
fn proxy_pass_unknown_key_names_it_and_lists_the_valid_ones() {
    assert_eq!(
        error("ProxyPass /a/ http://127.0.0.1:81/ keepalive=On"),
        "spoonfeed.conf:2: unknown ProxyPass key \"keepalive\"; valid keys: timeout, connectiontimeout, max, ttl, retry, disablereuse, buffering"
    );
    assert_eq!(
        error("ProxyPass /a/ http://127.0.0.1:81/ nocanon"),
        "spoonfeed.conf:2: ProxyPass: \"nocanon\" is not a key=value parameter; valid keys: timeout, connectiontimeout, max, ttl, retry, disablereuse, buffering"
    );
}

#[test]
fn proxy_pass_refuses_bad_key_values() {
    assert_eq!(
        error("ProxyPass /a/ http://127.0.0.1:81/ timeout=0"),
        "spoonfeed.conf:2: ProxyPass timeout=0: time \"0\" must be greater than zero"
    );
    assert_eq!(
        error("ProxyPass /a/ http://127.0.0.1:81/ max=0"),
        "spoonfeed.conf:2: ProxyPass max=0: max must be a whole number from 1 to 4294967295, not \"0\""
    );
    assert_eq!(
        error("ProxyPass /a/ http://127.0.0.1:81/ disablereuse=yes"),
        "spoonfeed.conf:2: ProxyPass disablereuse=yes: \"yes\" is neither On nor Off"
    );
    assert_eq!(
        error("ProxyPass /a/ http://127.0.0.1:81/ retry=1d"),
        "spoonfeed.conf:2: ProxyPass retry=1d: invalid time \"1d\": give a whole number with an optional unit ms, s, m or h (a bare number is seconds)"
    );
}

#[test]
fn proxy_pass_refuses_https_without_ssl_proxy_engine_and_malformed_urls() {
    assert_eq!(
        error("ProxyPass /a/ https://127.0.0.1/"),
        "spoonfeed.conf:2: https://127.0.0.1:443 is an https backend: it needs SSLProxyEngine \
         On (here or in the main server)"
    );
    // (Not verifying: this machine's CA bundle is not the test's business.)
    let cfg = config(
        "Listen 80\nSSLProxyEngine On\nSSLProxyVerify none\nProxyPass /a/ https://127.0.0.1/\n",
    );
    assert_eq!(cfg.backends[0].scheme, Scheme::Https);
    assert!(cfg.proxy_tls.is_some() && !cfg.proxy_verify);
    assert_eq!(
        error("ProxyPass /a/ http://user:pw@127.0.0.1/"),
        "spoonfeed.conf:2: ProxyPass: URL \"http://user:pw@127.0.0.1/\": user names and passwords (user@host) are not allowed"
    );
    assert_eq!(
        error("ProxyPass /a/ http://127.0.0.1/#top"),
        "spoonfeed.conf:2: ProxyPass: URL \"http://127.0.0.1/#top\": a fragment (#…) is not allowed"
    );
    assert_eq!(
        error("ProxyPass /a/ balancer://cluster/"),
        "spoonfeed.conf:2: ProxyPass: URL \"balancer://cluster/\": scheme balancer:// is not supported; give http:// or https://"
    );
    assert_eq!(
        error("ProxyPass a/ http://127.0.0.1/"),
        "spoonfeed.conf:2: ProxyPass: the path \"a/\" must start with \"/\""
    );
}

#[test]
fn proxy_pass_exclusion_takes_no_keys() {
    let cfg = config("Listen 80\nProxyPass /static/ !\n");
    assert_eq!(main_server(&cfg).routes[0].target, RouteTarget::Exclude);
    assert!(cfg.backends.is_empty());
    assert_eq!(
        error("ProxyPass /static/ ! timeout=5"),
        "spoonfeed.conf:2: ProxyPass /static/ ! takes no keys"
    );
}

#[test]
fn backends_are_deduplicated_by_canonical_name() {
    let cfg = config(
        "Listen 80\n\
         ProxyPass /a/ http://LOCALHOST:81/a/\n\
         ProxyPass /b/ http://localhost:81/b/\n\
         ProxyPass /c/ http://127.0.0.1/c/\n\
         ProxyPass /d/ http://127.0.0.1:80/d/\n",
    );
    let names: Vec<&str> = cfg.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, vec!["http://localhost:81", "http://127.0.0.1:80"]);
    assert_eq!(cfg.backends[0].authority, "LOCALHOST:81");
    assert_eq!(cfg.backends[1].authority, "127.0.0.1");
    assert_eq!(cfg.backends[1].origin.line, 4);
    let targets: Vec<&RouteTarget> = main_server(&cfg).routes.iter().map(|r| &r.target).collect();
    assert_eq!(
        targets[3],
        &RouteTarget::Proxy {
            backend: 1,
            path: "/d/".into()
        }
    );
}

#[test]
fn ipv6_backend_is_named_with_brackets_and_connects_to_its_address() {
    let cfg = config("Listen 80\nProxyPass / http://[::1]:81/\n");
    let backend = &cfg.backends[0];
    assert_eq!(backend.name, "http://[::1]:81");
    assert_eq!(backend.host, "::1");
    assert_eq!(
        backend.addrs,
        vec!["[::1]:81".parse::<SocketAddr>().unwrap()]
    );
}

#[test]
fn first_proxy_pass_with_keys_defines_backend_parameters() {
    let cfg = config(
        "Listen 80\n\
         ProxyPass /a/ http://127.0.0.1:81/a/\n\
         ProxyPass /b/ http://127.0.0.1:81/b/ timeout=5 max=3\n\
         ProxyPass /c/ http://127.0.0.1:81/c/\n\
         ProxyPass /d/ http://127.0.0.1:81/d/ max=3 timeout=5s\n",
    );
    assert_eq!(cfg.backends.len(), 1);
    assert_eq!(cfg.backends[0].origin.line, 2);
    assert_eq!(cfg.backends[0].params.max, Some(3));
    assert_eq!(cfg.backends[0].params.timeout, Duration::from_secs(5));
}

#[test]
fn conflicting_backend_parameters_point_at_both_lines() {
    assert_eq!(
        errors(
            "Listen 80\n\
             ProxyPass /a/ http://127.0.0.1:81/a/ timeout=5 max=3\n\
             ProxyPass /b/ http://127.0.0.1:81/b/ timeout=10\n"
        ),
        vec!["spoonfeed.conf:3: ProxyPass gives backend http://127.0.0.1:81 different parameters than line 2 (timeout 10s here, 5s at line 2; connectiontimeout 10s here, 5s at line 2; max unset here, 3 at line 2); the first ProxyPass with keys for a backend sets them, later ones must repeat them exactly or give none"]
    );
}

#[test]
fn unresolvable_backend_host_is_an_error_at_its_first_line() {
    assert_eq!(
        errors("Listen 80\nProxyPass /a/ http://no-such-host.invalid/a/\nProxyPass /b/ http://no-such-host.invalid/b/\n").len(),
        1
    );
    let message = error("ProxyPass /a/ http://no-such-host.invalid/a/");
    assert!(
        message.starts_with(
            "spoonfeed.conf:2: cannot resolve backend host \"no-such-host.invalid\": "
        ),
        "{message}"
    );
}

#[test]
fn proxy_pass_inside_location_form_is_explained() {
    assert_eq!(
        error("ProxyPassReverse http://127.0.0.1/"),
        "spoonfeed.conf:2: ProxyPassReverse with one argument is the form used inside <Location>, which spoonfeed does not support; write ProxyPassReverse PATH URL"
    );
}

// ---- ProxyPassMatch ----

#[test]
fn proxy_pass_match_compiles_a_byte_regex_and_keeps_substitutions() {
    let cfg = config(
        "Listen 80\nProxyPassMatch ^/(.*\\.gif)$ http://127.0.0.1:81/images/$1 timeout=3\nProxyPassMatch ^/private !\n",
    );
    let routes = &main_server(&cfg).routes;
    let RouteMatch::Regex(regex) = &routes[0].matcher else {
        panic!("not a regex route")
    };
    assert_eq!(regex.as_str(), "^/(.*\\.gif)$");
    assert!(
        regex.is_match(b"/a\xff.gif"),
        "matches bytes that are not UTF-8"
    );
    assert_eq!(
        routes[0].target,
        RouteTarget::Proxy {
            backend: 0,
            path: "/images/$1".into()
        }
    );
    assert_eq!(cfg.backends[0].params.timeout, Duration::from_secs(3));
    assert_eq!(routes[1].target, RouteTarget::Exclude);
}

#[test]
fn only_proxy_pass_match_urls_may_hold_a_query() {
    let cfg = config("Listen 80\nProxyPassMatch ^/item/(\\d+)$ http://127.0.0.1:81/show?id=$1\n");
    assert_eq!(
        main_server(&cfg).routes[0].target,
        RouteTarget::Proxy {
            backend: 0,
            path: "/show?id=$1".into()
        }
    );
    assert_eq!(
        error("ProxyPass /item/ http://127.0.0.1:81/show?id=1"),
        "spoonfeed.conf:2: ProxyPass: URL \"http://127.0.0.1:81/show?id=1\": a query string (?…) is allowed only in a ProxyPassMatch URL"
    );
}

#[test]
fn proxy_pass_match_shows_the_regex_error() {
    let message = error("ProxyPassMatch ^/(a http://127.0.0.1/");
    assert_eq!(
        message,
        "spoonfeed.conf:2: ProxyPassMatch: invalid regex \"^/(a\": unclosed group"
    );
}

#[test]
fn proxy_pass_match_checks_substitutions() {
    assert_eq!(
        error("ProxyPassMatch ^/(a)/(b) http://127.0.0.1/$3"),
        "spoonfeed.conf:2: ProxyPassMatch http://127.0.0.1/$3: $3 refers to a group the regex \"^/(a)/(b)\" does not have (it has 2)"
    );
    assert_eq!(
        error("ProxyPassMatch ^/(.*)$ http://$1/"),
        "spoonfeed.conf:2: ProxyPassMatch http://$1/: $N substitutions are supported in the URL's path only, because backends are resolved when the configuration is loaded"
    );
    let cfg = config("Listen 80\nProxyPassMatch ^/a http://127.0.0.1/x\\$9/$0\n");
    assert_eq!(main_server(&cfg).routes.len(), 1);
}

// ---- ProxyPassReverse and the switches ----

#[test]
fn proxy_pass_reverse_keeps_the_url_as_written_and_accepts_https() {
    let cfg = config("Listen 80\nProxyPassReverse / HTTPS://Backend.Example/\n");
    assert_eq!(main_server(&cfg).reverse[0].url, "HTTPS://Backend.Example/");
    let cfg = config("Listen 80\nProxyPassReverse /perl/ /perl/\n");
    assert_eq!(main_server(&cfg).reverse[0].url, "/perl/");
    assert_eq!(
        error("ProxyPassReverse / localhost:81"),
        "spoonfeed.conf:2: ProxyPassReverse: \"localhost:81\" is not a URL; write http://host[:port][/path]"
    );
}

#[test]
fn proxy_switches_take_their_values() {
    let cfg = config("Listen 80\nProxyPreserveHost on\nProxyAddHeaders OFF\nProxyVia full\n");
    let main = main_server(&cfg);
    assert!(main.preserve_host);
    assert!(!main.add_forwarded);
    assert_eq!(main.via, ViaSetting::Full);
    assert_eq!(
        error("ProxyVia sometimes"),
        "spoonfeed.conf:2: ProxyVia: \"sometimes\" is not one of Off, On, Full, Block"
    );
    assert_eq!(
        error("ProxyPreserveHost 1"),
        "spoonfeed.conf:2: ProxyPreserveHost: \"1\" is neither On nor Off"
    );
}

#[test]
fn forward_proxying_reads_proxy_requests_proxy_sections_and_allow_connect() {
    let cfg = config(
        "Listen 80\nProxyRequests On\n<Proxy \"*\">\n  Require ip 10.0.0.0/8\n  Require local\n\
         </Proxy>\nAllowCONNECT 443 8000-8010\n<VirtualHost *>\nServerName v\nProxyRequests Off\n\
         </VirtualHost>\n",
    );
    let main = main_server(&cfg);
    assert!(main.proxy_requests);
    assert!(main.proxy_access.allows("10.1.2.3".parse().unwrap()));
    assert!(main.proxy_access.allows("127.0.0.1".parse().unwrap()));
    assert!(!main.proxy_access.allows("192.0.2.1".parse().unwrap()));
    assert_eq!(main.allow_connect, vec![443..=443, 8000..=8010]);
    assert!(!cfg.vhosts[1].proxy_requests);
    assert_eq!(cfg.vhosts[1].allow_connect, main.allow_connect);
    let forward = &cfg.backends[cfg.forward_backend.expect("a forward backend")];
    assert!(forward.params.disable_reuse);
    // Without <Proxy "*">: loopback only. Without AllowCONNECT: 443 and 563.
    let plain = config("Listen 80\nProxyRequests On\n");
    let main = main_server(&plain);
    assert!(main.proxy_access.allows("::1".parse().unwrap()));
    assert!(!main.proxy_access.allows("10.1.2.3".parse().unwrap()));
    assert_eq!(main.allow_connect, vec![443..=443, 563..=563]);
    assert_eq!(config("Listen 80\n").forward_backend, None);
    for (text, message) in [
        (
            "<Proxy /app>\nRequire all granted\n</Proxy>",
            "only <Proxy \"*\">",
        ),
        (
            "<Proxy *>\nProxyPass / http://x/\n</Proxy>",
            "not supported inside <Proxy>",
        ),
        ("<Proxy *>\n</Proxy>", "needs a Require line"),
        (
            "<Proxy *>\nRequire host example.com\n</Proxy>",
            "give ip CIDR..., local",
        ),
        ("AllowCONNECT 0", "AllowCONNECT"),
        ("AllowCONNECT 90-80", "the range is empty"),
    ] {
        let found = error(text);
        assert!(found.contains(message), "{text}: {found}");
    }
}

#[test]
fn refuses_invalid_values_of_the_remaining_directives() {
    for (line, message) in [
        ("ProxyAddHeaders maybe", "ProxyAddHeaders: \"maybe\" is neither On nor Off"),
        ("ProxyTimeout 0", "ProxyTimeout: time \"0\" must be greater than zero"),
        ("Timeout 2d", "Timeout: invalid time \"2d\": give a whole number with an optional unit ms, s, m or h (a bare number is seconds)"),
        ("Timeout 400d", "Timeout: invalid time \"400d\": give a whole number with an optional unit ms, s, m or h (a bare number is seconds)"),
        ("Timeout 9000h", "Timeout: time \"9000h\" is longer than the limit of one year"),
        ("LogFormat \" \" blank", "LogFormat: empty log format"),
        ("CustomLog /l/a %h\\ # a backslash ends the format", "CustomLog: a log format cannot end with a backslash"),
        ("CustomLog \"|cat\" common", "CustomLog: piped logs (|command) are not supported; give a file path or stderr"),
        ("ServerAlias a b/c", "ServerAlias: invalid name \"b/c\" (letters, digits, - _ . and the wildcards * ?; no port)"),
        ("ProxyPassReverse /a/ ftp://b/", "ProxyPassReverse: URL \"ftp://b/\": scheme ftp:// is not supported; give http:// or https://"),
    ] {
        assert_eq!(error(line), format!("spoonfeed.conf:2: {message}"), "{line}");
    }
}

// ---- connection limits ----

#[test]
fn times_take_units_and_bare_seconds() {
    let cfg = config("Listen 80\nTimeout 90\nKeepAliveTimeout 1500ms\nProxyTimeout 2m\n");
    assert_eq!(cfg.limits.timeout, Duration::from_secs(90));
    assert_eq!(cfg.limits.keep_alive_timeout, Duration::from_millis(1500));
    assert_eq!(cfg.proxy_timeout, Duration::from_secs(120));
    assert_eq!(
        error("KeepAliveTimeout 0"),
        "spoonfeed.conf:2: KeepAliveTimeout: time \"0\" must be greater than zero"
    );
}

#[test]
fn limits_take_sizes_and_counts_within_their_ranges() {
    let cfg = config(
        "Listen 80\nLimitRequestLine 16k\nLimitRequestFieldSize 64\nLimitRequestFields 32767\nLimitRequestBody 0\nMaxKeepAliveRequests 0\n",
    );
    assert_eq!(cfg.limits.request_line, 16384);
    assert_eq!(cfg.limits.request_field_size, 64);
    assert_eq!(cfg.limits.request_fields, 32767);
    assert_eq!(cfg.limits.request_body, 0);
    assert_eq!(cfg.limits.max_keep_alive_requests, 0);
    assert_eq!(
        config("Listen 80\nLimitRequestBody 2g").limits.request_body,
        2 << 30
    );
    assert_eq!(
        error("LimitRequestLine 63"),
        "spoonfeed.conf:2: LimitRequestLine must be from 64 to 1048576 bytes, not 63"
    );
    assert_eq!(
        error("LimitRequestFieldSize 2m"),
        "spoonfeed.conf:2: LimitRequestFieldSize must be from 64 to 1048576 bytes, not 2m"
    );
    assert_eq!(
        error("LimitRequestFields 0"),
        "spoonfeed.conf:2: LimitRequestFields must be a whole number from 1 to 32767, not \"0\""
    );
    assert_eq!(
        error("MaxKeepAliveRequests -1"),
        "spoonfeed.conf:2: MaxKeepAliveRequests must be a whole number from 0 to 4294967295, not \"-1\""
    );
    assert_eq!(
        error("LimitRequestBody 1t"),
        "spoonfeed.conf:2: LimitRequestBody: invalid size \"1t\": give a whole number of bytes with an optional suffix k, m or g"
    );
}

// ---- logs ----

#[test]
fn error_log_is_stderr_or_a_file_relative_to_the_configuration() {
    let file = Path::new("/etc/spoonfeed/spoonfeed.conf");
    let parse_at = |text: &str| parse_str(text, file).map(|l| l.config.error_log);
    assert_eq!(
        parse_at("Listen 80\nErrorLog /dev/stderr"),
        Ok(LogTarget::Stderr)
    );
    assert_eq!(
        parse_at("Listen 80\nErrorLog stderr"),
        Ok(LogTarget::Stderr)
    );
    assert_eq!(
        parse_at("Listen 80\nErrorLog logs/./error_log"),
        Ok(LogTarget::File("/etc/spoonfeed/logs/error_log".into()))
    );
    assert_eq!(
        parse_at("Listen 80\nErrorLog /var/log/sf.log"),
        Ok(LogTarget::File("/var/log/sf.log".into()))
    );
}

#[test]
fn relative_log_paths_are_made_absolute_for_a_relative_configuration_path() {
    let LogTarget::File(path) = config("Listen 80\nErrorLog err.log").error_log else {
        panic!("not a file")
    };
    assert!(path.is_absolute(), "{}", path.display());
    assert!(path.ends_with("err.log"));
}

#[test]
fn error_log_refuses_syslog_and_pipes() {
    assert_eq!(
        error("ErrorLog syslog:local7"),
        "spoonfeed.conf:2: ErrorLog syslog:local7: syslog is not supported; give a file path or stderr"
    );
    assert_eq!(
        error("ErrorLog \"|/usr/bin/rotatelogs x 86400\""),
        "spoonfeed.conf:2: ErrorLog: piped logs (|command) are not supported; give a file path or stderr"
    );
}

#[test]
fn log_level_reads_apache_names() {
    for (name, level) in [
        ("emerg", LogLevel::Emerg),
        ("ALERT", LogLevel::Alert),
        ("crit", LogLevel::Crit),
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("notice", LogLevel::Notice),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("trace5", LogLevel::Debug),
    ] {
        assert_eq!(
            config(&format!("Listen 80\nLogLevel {name}")).log_level,
            level
        );
    }
    assert_eq!(
        error("LogLevel info ssl:warn"),
        "spoonfeed.conf:2: per-module log levels (module:level) are not supported; give one LogLevel for the whole server"
    );
    assert_eq!(
        error("LogLevel loud"),
        "spoonfeed.conf:2: unknown LogLevel \"loud\"; give emerg, alert, crit, error, warn, notice, info, debug or trace1..trace8"
    );
}

#[test]
fn custom_log_resolves_predefined_nicknames() {
    let cfg = config(
        "Listen 80\nCustomLog /l/a common\nCustomLog /l/b COMBINED\nCustomLog stderr proxy\n",
    );
    let formats: Vec<&str> = main_server(&cfg)
        .access_logs
        .iter()
        .map(|l| l.format.as_str())
        .collect();
    assert_eq!(
        formats,
        vec![
            "%h %l %u %t \"%r\" %>s %b",
            "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"",
            "%h %l %u %t \"%r\" %>s %b %D \"%{backend}x\" %{backend_status}x %{backend_connect}x %{backend_first_byte}x %{backend_hold}x",
        ]
    );
    assert_eq!(main_server(&cfg).access_logs[2].target, LogTarget::Stderr);
}

#[test]
fn custom_log_uses_log_format_lines_above_it_as_apache_writes_them() {
    let cfg = config(
        "Listen 80\n\
         LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\"\" combined\n\
         LogFormat \"%h %D\" short\n\
         CustomLog /l/a combined\n\
         <VirtualHost *>\n\
         CustomLog /l/b short\n\
         CustomLog /l/c \"%h %>s\"\n\
         </VirtualHost>\n",
    );
    assert_eq!(
        main_server(&cfg).access_logs[0].format,
        "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""
    );
    let vhost_formats: Vec<&str> = cfg.vhosts[1]
        .access_logs
        .iter()
        .map(|l| l.format.as_str())
        .collect();
    assert_eq!(vhost_formats, vec!["%h %D", "%h %>s"]);
}

#[test]
fn custom_log_refuses_unknown_nicknames_and_conditions() {
    assert_eq!(
        errors("Listen 80\nCustomLog /l/a mine\nLogFormat \"%h\" mine\n"),
        vec!["spoonfeed.conf:2: CustomLog: unknown log format nickname \"mine\" (known here: combined, common, proxy; a LogFormat must come before the CustomLog that uses it)"]
    );
    assert_eq!(
        error("CustomLog /l/a common env=!dontlog"),
        "spoonfeed.conf:2: CustomLog: conditional logging (env=!dontlog) is not supported"
    );
    assert_eq!(
        error("LogFormat \"%h\""),
        "spoonfeed.conf:2: LogFormat without a nickname sets TransferLog's format, which spoonfeed does not have; write LogFormat FORMAT NICKNAME"
    );
}

// ---- warnings ----

#[test]
fn warns_about_a_prefix_route_shadowed_by_an_earlier_one() {
    assert_eq!(
        warnings(
            "Listen 80\n\
             # perl\n\
             ProxyPass /perl/ http://127.0.0.1:81/perl/\n\
             ProxyPass /perlx/ http://127.0.0.1:81/perlx/\n\
             ProxyPass /perl http://127.0.0.1:81/perl\n\
             \n\
             ProxyPass /perl/x/ http://127.0.0.1:81/x/\n\
             ProxyPass /perl/ !\n"
        ),
        vec![
            "spoonfeed.conf:7: warning: ProxyPass /perl/x/ can never match: ProxyPass /perl/ at line 3 matches first",
            "spoonfeed.conf:8: warning: ProxyPass /perl/ can never match: ProxyPass /perl/ at line 3 matches first",
        ]
    );
}

#[test]
fn does_not_warn_when_a_shorter_prefix_ends_mid_segment() {
    assert!(warnings(
        "Listen 80\nProxyPass /perl http://127.0.0.1:81/perl\nProxyPass /perlx http://127.0.0.1:81/perlx\n"
    )
    .is_empty());
}

#[test]
fn warns_about_identical_regexes() {
    assert_eq!(
        warnings("Listen 80\nProxyPassMatch ^/a !\nProxyPassMatch ^/a http://127.0.0.1/\n"),
        vec!["spoonfeed.conf:3: warning: ProxyPassMatch ^/a can never match: ProxyPassMatch ^/a at line 2 matches first"]
    );
}

#[test]
fn warns_once_per_virtual_host_route_shadowed_by_the_main_server() {
    assert_eq!(
        warnings(
            "Listen 80\n\
             <VirtualHost *>\n\
             ProxyPass /app/api/ http://127.0.0.1:82/api/\n\
             </VirtualHost>\n\
             <VirtualHost *:81>\n\
             </VirtualHost>\n\
             ProxyPass /app/ http://127.0.0.1:81/\n\
             ProxyPass /app/ !\n"
        ),
        vec![
            "spoonfeed.conf:3: warning: ProxyPass /app/api/ can never match: ProxyPass /app/ at line 7 matches first",
            "spoonfeed.conf:8: warning: ProxyPass /app/ can never match: ProxyPass /app/ at line 7 matches first",
        ]
    );
}

#[test]
fn warns_about_mismatched_trailing_slashes() {
    assert_eq!(
        warnings(
            "Listen 80\nProxyPass /perl/ http://127.0.0.1:81/perl\nProxyPass /app http://127.0.0.1:81/app/\nProxyPass / http://127.0.0.1:82\n"
        ),
        vec![
            "spoonfeed.conf:2: warning: ProxyPass /perl/ http://127.0.0.1:81/perl: the path ends with \"/\" but the URL does not; Apache's documentation advises giving both a trailing slash or neither",
            "spoonfeed.conf:3: warning: ProxyPass /app http://127.0.0.1:81/app/: the URL ends with \"/\" but the path does not; Apache's documentation advises giving both a trailing slash or neither",
            "spoonfeed.conf:4: warning: ProxyPass / http://127.0.0.1:82: the path ends with \"/\" but the URL does not; Apache's documentation advises giving both a trailing slash or neither",
        ]
    );
}

// ---- dump ----

const RICH: &str = r#"
Listen 80
Listen [::1]:8080
Workers 3
Timeout 30
KeepAlive Off
KeepAliveTimeout 1500ms
MaxKeepAliveRequests 0
LimitRequestLine 4k
LimitRequestBody 0
ErrorLog /var/log/spoonfeed/error.log
LogLevel trace2
LogFormat "%h \"%r\" '%{User-Agent}i'" quoted
ServerName Main.Example
ProxyPass /perl/ http://localhost:81/perl/ max=5 ttl=30
ProxyPassReverse /perl/ http://localhost:81/perl/
ProxyPass /static/ !
ProxyPassMatch "^/(img|css)/(.*) x$" http://[::1]:82/$1/$2 retry=0
CustomLog "/var/log/spoonfeed/access log" quoted
<VirtualHost *:80 [::1]:8080>
    ServerName shop.example
    ServerAlias *.shop.example
    ProxyPreserveHost On
    ProxyVia Block
    ProxyPass /cart/ http://localhost:81/cart/
    ProxyPass "/#odd/" http://127.0.0.1:83/
</VirtualHost>
<VirtualHost 127.0.0.1>
    CustomLog stderr combined
</VirtualHost>
"#;

#[test]
fn dump_round_trips_to_identical_text() {
    let first = dump(&config(RICH));
    let second = dump(&config(&first));
    assert_eq!(first, second);
    let third = dump(&config(&second));
    assert_eq!(second, third);
}

#[test]
fn dump_reads_back_to_an_equal_configuration() {
    let original = config(RICH);
    let again = config(&dump(&original));
    assert_eq!(again.listens.len(), original.listens.len());
    assert_eq!(again.workers, original.workers);
    assert_eq!(again.limits, original.limits);
    assert_eq!(again.proxy_timeout, original.proxy_timeout);
    assert_eq!(again.error_log, original.error_log);
    assert_eq!(again.log_level, original.log_level);
    let strip = |b: &Backend| {
        (
            b.name.clone(),
            b.authority.clone(),
            b.addrs.clone(),
            b.params.clone(),
        )
    };
    assert_eq!(
        again.backends.iter().map(strip).collect::<Vec<_>>(),
        original.backends.iter().map(strip).collect::<Vec<_>>()
    );
    assert_eq!(again.vhosts.len(), original.vhosts.len());
    for (a, b) in again.vhosts.iter().zip(&original.vhosts) {
        assert_eq!(a.addrs, b.addrs);
        assert_eq!(a.server_name, b.server_name);
        assert_eq!(a.aliases, b.aliases);
        assert_eq!(
            (a.preserve_host, a.add_forwarded, a.via),
            (b.preserve_host, b.add_forwarded, b.via)
        );
        let routes = |v: &Vhost| {
            v.routes
                .iter()
                .map(|r| (r.matcher.clone(), r.target.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(routes(a), routes(b));
        let reverse = |v: &Vhost| {
            v.reverse
                .iter()
                .map(|r| (r.path.clone(), r.url.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(reverse(a), reverse(b));
        let logs = |v: &Vhost| {
            v.access_logs
                .iter()
                .map(|l| (l.target.clone(), l.format.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(logs(a), logs(b));
    }
}

#[test]
fn dump_spells_out_every_default_and_the_resolved_addresses() {
    let text = dump(&config("Listen 80\nProxyPass / http://127.0.0.1:81/\n"));
    for directive in DIRECTIVES {
        let name = directive.name;
        if [
            "<VirtualHost>",
            "ServerAlias",
            "ProxyPassMatch",
            "ProxyPassReverse",
            "LogFormat",
            "CustomLog",
            "StatusLocation",
            "StatusAllow",
            "SSLCertificateFile",
            "SSLCertificateKeyFile",
            "SSLProtocol",
            "SSLProxyCACertificateFile",
            "<Proxy>",
            "SSLCipherSuite",
            "SSLHonorCipherOrder",
            "SSLStrictSNIVHostCheck",
            "CacheRoot",
            "CacheEnable",
            "CacheDisable",
            "CacheSize",
            "CacheGcInterval",
            "CacheMaxExpire",
            "CacheDefaultExpire",
            "CacheLastModifiedFactor",
            "CacheMaxFileSize",
            "CachePurgeAllow",
            "CacheLock",
            "CacheLockMaxAge",
        ]
        .contains(&name)
        {
            continue;
        }
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing from:\n{text}"
        );
    }
    assert!(
        text.contains(
            "#   http://127.0.0.1:81 -> 127.0.0.1:81 (max unlimited, ttl until the backend closes)"
        ),
        "{text}"
    );
    assert!(text.contains(
        "ProxyPass / http://127.0.0.1:81/ timeout=60s connectiontimeout=60s retry=60s disablereuse=Off"
    ), "{text}");
}

// ---- load ----

#[test]
fn load_reports_an_unreadable_file_at_line_zero() {
    let path = Path::new("/nonexistent/spoonfeed.conf");
    let errors = load(path).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].origin.line, 0);
    assert!(
        errors[0]
            .to_string()
            .starts_with("/nonexistent/spoonfeed.conf:0: cannot read the configuration file: "),
        "{}",
        errors[0]
    );
}

#[test]
fn load_reads_a_file_and_names_it_in_messages() {
    let path =
        std::env::temp_dir().join(format!("spoonfeed-config-test-{}.conf", std::process::id()));
    std::fs::write(&path, "Listen 127.0.0.1:0\nBogus 1\n").unwrap();
    let errors = load(&path).unwrap_err();
    std::fs::write(&path, "Listen 127.0.0.1:0\n").unwrap();
    let loaded = load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        errors[0].to_string(),
        format!("{}:2: unknown directive Bogus", path.display())
    );
    assert_eq!(loaded.unwrap().config.file, path);
}

#[test]
fn never_panics_on_any_prefix_of_a_configuration() {
    let text =
        format!("{RICH}<VirtualHost [::1]:9>\nProxyPass \"/q\\\" x\" 'y' \\\n</VirtualHost>\n");
    for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
        let _ = parse_str(&text[..end], Path::new(FILE));
    }
}
