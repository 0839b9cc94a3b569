//! Applies lexed directives to drafts and resolves them into a [`Config`]: the driver that
//! dispatches through [`super::directives`], checks context and argument counts, and then
//! fills defaults, merges virtual hosts with the main server (as mod_proxy merges them),
//! resolves backends and looks for routes that can never match.
//!
//! Handlers (in `server`, `proxy`, `logs`) only record what a line says; everything that
//! depends on other lines (defaults, inheritance, `ProxyTimeout` as the backends' default)
//! happens in [`Parser::run`] after the whole file is read, so directive order does not
//! matter except where Apache says it does (route order, `LogFormat` before `CustomLog`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::directives::{self, Apply, Context};
use super::lexer::{Line, Node};
use super::model::*;
use super::{buffering, cache, forward, logs, proxy, server, ssl, Loaded};

/// What one virtual host (or the main server) said, before defaults and inheritance.
#[derive(Default)]
pub(super) struct VhostDraft {
    pub(super) addrs: Vec<VhostAddr>,
    pub(super) server_name: Option<String>,
    pub(super) aliases: Vec<String>,
    pub(super) routes: Vec<Route>,
    pub(super) reverse: Vec<ReverseRule>,
    pub(super) preserve_host: Option<bool>,
    pub(super) add_forwarded: Option<bool>,
    pub(super) add_rfc7239: Option<bool>,
    pub(super) proxy_requests: Option<bool>,
    pub(super) proxy_access: Option<ProxyAccess>,
    pub(super) allow_connect: Option<Vec<std::ops::RangeInclusive<u16>>>,
    pub(super) via: Option<ViaSetting>,
    pub(super) access_logs: Vec<AccessLog>,
    pub(super) ssl: ssl::SslDraft,
    /// `None` for the main server.
    pub(super) origin: Option<Origin>,
}

/// Server-wide settings, defaults already in place (later lines overwrite, as in Apache).
pub(super) struct ServerDraft {
    pub(super) listens: Vec<Listen>,
    pub(super) workers: Workers,
    pub(super) limits: Limits,
    pub(super) buffering: Buffering,
    /// The last line that set `ProxyIOBufferSize` or `ProxyBufferPoolSize`, for messages
    /// about the two together.
    pub(super) pool_line: Option<Origin>,
    pub(super) status_path: Option<String>,
    /// `None`: this host only.
    pub(super) status_allow: Option<Vec<AddrRange>>,
    /// `None`: the value of `Timeout`.
    pub(super) proxy_timeout: Option<Duration>,
    pub(super) error_log: LogTarget,
    pub(super) log_level: LogLevel,
    pub(super) cache: cache::CacheDraft,
}

/// The parser's state while reading one file.
pub(super) struct Parser {
    pub(super) file: PathBuf,
    /// Where the directive being applied starts.
    pub(super) origin: Origin,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
    pub(super) server: ServerDraft,
    pub(super) main: VhostDraft,
    pub(super) vhosts: Vec<VhostDraft>,
    /// Index into `vhosts` of the `<VirtualHost>` being read; `None` outside any.
    /// Invariant: `Some(i)` implies `i < vhosts.len()`.
    pub(super) current: Option<usize>,
    pub(super) backends: Vec<proxy::BackendDraft>,
    /// `LogFormat` nicknames seen so far (lowercase, as Apache's lookup is case-insensitive)
    /// and their formats; starts with the predefined ones.
    pub(super) log_formats: HashMap<String, String>,
}

impl Parser {
    pub(super) fn new(file: &Path, errors: Vec<ConfigError>) -> Parser {
        Parser {
            file: file.to_path_buf(),
            origin: Origin {
                file: file.to_path_buf(),
                line: 0,
            },
            errors,
            warnings: Vec::new(),
            server: ServerDraft {
                listens: Vec::new(),
                workers: Workers::Auto,
                limits: server::default_limits(),
                buffering: buffering::default_buffering(),
                pool_line: None,
                status_path: None,
                status_allow: None,
                proxy_timeout: None,
                error_log: LogTarget::Stderr,
                log_level: LogLevel::Warn,
                cache: cache::CacheDraft::default(),
            },
            main: VhostDraft::default(),
            vhosts: Vec::new(),
            current: None,
            backends: Vec::new(),
            log_formats: logs::predefined_formats(),
        }
    }

    /// The main server or the virtual host being read.
    pub(super) fn scope(&mut self) -> &mut VhostDraft {
        match self.current {
            Some(i) => &mut self.vhosts[i],
            None => &mut self.main,
        }
    }

    pub(super) fn at(&self, line: usize) -> Origin {
        Origin {
            file: self.file.clone(),
            line,
        }
    }

    pub(super) fn error(&mut self, origin: Origin, message: String) {
        self.errors.push(ConfigError { origin, message });
    }

    pub(super) fn warn(&mut self, origin: Origin, message: String) {
        self.warnings.push(ConfigWarning { origin, message });
    }

    /// Applies `nodes` to the current scope.
    pub(super) fn apply_all(&mut self, nodes: &[Node]) {
        for node in nodes {
            match node {
                Node::Directive(line) => self.apply(line, None),
                Node::Section { open, body } => self.apply(open, Some(body)),
            }
        }
    }

    /// Looks `line` up in the table, checks where it is and how many arguments it has, and
    /// applies it. `body` is `Some` for a section.
    fn apply(&mut self, line: &Line, body: Option<&[Node]>) {
        self.origin = self.at(line.line);
        let looked_up = match body {
            Some(_) => format!("<{}>", line.name),
            None => line.name.clone(),
        };
        let Some(directive) = directives::find(&looked_up) else {
            let message = match body {
                Some(_) => format!(
                    "<{}> sections are not supported; spoonfeed reads only <VirtualHost> and <Proxy \"*\">",
                    line.name
                ),
                None => directives::unknown_message(&line.name),
            };
            return self.error(self.origin.clone(), message);
        };
        if self.current.is_some() && directive.context == Context::Server {
            let message = format!("{} is not allowed inside <VirtualHost>", directive.name);
            return self.error(self.origin.clone(), message);
        }
        if !(directive.min_args..=directive.max_args).contains(&line.args.len()) {
            let message = format!(
                "wrong number of arguments to {}; usage: {}",
                directive.name, directive.syntax
            );
            return self.error(self.origin.clone(), message);
        }
        match (directive.apply, body) {
            (Apply::Directive(apply), None) => {
                if let Err(message) = apply(self, &line.args) {
                    self.error(self.origin.clone(), message);
                }
            }
            (Apply::Section(apply), Some(body)) => apply(self, line, body),
            // Sections carry brackets in the table, so neither arm below is reached while
            // the table is consistent; a row that breaks that still gets a plain error.
            (Apply::Directive(_), Some(_)) => {
                let message = format!("{} is a directive, not a section", directive.name);
                self.error(self.origin.clone(), message);
            }
            (Apply::Section(_), None) => {
                let message = format!("{} must be written as a section", directive.name);
                self.error(self.origin.clone(), message);
            }
        }
    }

    /// Applies the file and resolves the result.
    pub(super) fn run(mut self, nodes: &[Node]) -> Result<Loaded, Vec<ConfigError>> {
        self.apply_all(nodes);
        let config = self.resolve();
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| e.origin.line);
            return Err(self.errors);
        }
        self.warnings.sort_by_key(|w| w.origin.line);
        Ok(Loaded {
            config,
            warnings: self.warnings,
        })
    }

    /// Fills defaults, merges virtual hosts, resolves backends, checks what no single line can.
    fn resolve(&mut self) -> Config {
        if self.server.listens.is_empty() {
            self.error(
                self.at(0),
                "no Listen directive: give at least one address to accept clients on, as \
                 Listen 80"
                    .to_string(),
            );
        }
        buffering::check(self);
        let proxy_timeout = self
            .server
            .proxy_timeout
            .unwrap_or(self.server.limits.timeout);
        let backends = proxy::resolve_backends(self, proxy_timeout);

        let main = std::mem::take(&mut self.main);
        let main_ssl = main.ssl.clone();
        let main_tls = main_ssl.settle(self, !self.vhosts.is_empty());
        let main = Vhost {
            addrs: Vec::new(),
            server_name: main.server_name.unwrap_or_else(server::default_server_name),
            aliases: main.aliases,
            routes: main.routes,
            reverse: main.reverse,
            preserve_host: main.preserve_host.unwrap_or(false),
            add_forwarded: main.add_forwarded.unwrap_or(true),
            add_rfc7239: main.add_rfc7239.unwrap_or(false),
            via: main.via.unwrap_or(ViaSetting::Off),
            proxy_requests: main.proxy_requests.unwrap_or(false),
            proxy_access: main.proxy_access.unwrap_or_else(|| ProxyAccess {
                everyone: false,
                ranges: buffering::default_status_allow(),
            }),
            allow_connect: main
                .allow_connect
                .unwrap_or_else(forward::default_connect_ports),
            access_logs: main.access_logs,
            tls: main_tls,
            proxy_tls: main_ssl.proxy_engine(),
            origin: None,
        };
        let mut vhosts = vec![main];
        for draft in std::mem::take(&mut self.vhosts) {
            let ssl = draft.ssl.inherit(&main_ssl);
            let tls = ssl.settle(self, false);
            let main = &vhosts[0];
            let vhost = Vhost {
                addrs: draft.addrs,
                server_name: draft
                    .server_name
                    .unwrap_or_else(|| main.server_name.clone()),
                aliases: draft.aliases,
                routes: main.routes.iter().cloned().chain(draft.routes).collect(),
                reverse: main.reverse.iter().cloned().chain(draft.reverse).collect(),
                preserve_host: draft.preserve_host.unwrap_or(main.preserve_host),
                add_forwarded: draft.add_forwarded.unwrap_or(main.add_forwarded),
                add_rfc7239: draft.add_rfc7239.unwrap_or(main.add_rfc7239),
                via: draft.via.unwrap_or(main.via),
                proxy_requests: draft.proxy_requests.unwrap_or(main.proxy_requests),
                proxy_access: draft
                    .proxy_access
                    .unwrap_or_else(|| main.proxy_access.clone()),
                allow_connect: draft
                    .allow_connect
                    .unwrap_or_else(|| main.allow_connect.clone()),
                access_logs: draft.access_logs,
                tls,
                proxy_tls: ssl.proxy_engine(),
                origin: draft.origin,
            };
            vhosts.push(vhost);
        }
        self.warnings.extend(proxy::shadowed_routes(&vhosts));
        let listens = std::mem::take(&mut self.server.listens);
        let tls = ssl::build(self, &listens, &vhosts);
        let proxy_tls = ssl::build_proxy(self, &main_ssl, &vhosts, &backends);
        let mut backends = backends;
        let forward_backend = vhosts.iter().any(|v| v.proxy_requests).then(|| {
            backends.push(proxy::forward_backend(proxy_timeout, &self.file));
            backends.len() - 1
        });
        let (proxy_ca_file, proxy_verify) = main_ssl.proxy_trust();

        Config {
            file: self.file.clone(),
            listens,
            workers: self.server.workers,
            limits: self.server.limits.clone(),
            buffering: self.server.buffering.clone(),
            status: self.server.status_path.clone().map(|path| StatusEndpoint {
                path,
                allow: self
                    .server
                    .status_allow
                    .clone()
                    .unwrap_or_else(buffering::default_status_allow),
            }),
            proxy_timeout,
            vhosts,
            tls,
            backends,
            forward_backend,
            cache: cache::resolve(self),
            proxy_tls,
            proxy_ca_file,
            proxy_verify,
            error_log: self.server.error_log.clone(),
            log_level: self.server.log_level,
        }
    }

    /// Makes a log path absolute against the configuration file's directory (Apache resolves
    /// against ServerRoot, which spoonfeed does not have), so that a reload after `chdir` or
    /// a `-T` dump means the same file.
    pub(super) fn log_path(&self, text: &str) -> PathBuf {
        let path = Path::new(text);
        if path.is_absolute() {
            return path.components().collect();
        }
        let dir = self.file.parent().unwrap_or(Path::new(""));
        let dir = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|cwd| cwd.join(dir))
                .unwrap_or_else(|_| dir.to_path_buf())
        };
        dir.join(path).components().collect()
    }
}
