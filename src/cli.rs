//! The command line (DESIGN.md §6): argument parsing without I/O (`parse`), and running what
//! was asked (`main`): check, dump, serve with signal handling, or the demo.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config;
use crate::server::Server;
use crate::sys::{self, Signal};

/// How long `SIGTERM`/`SIGINT` lets exchanges in flight finish before the server exits anyway.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// The configuration file used without `-f`.
pub const DEFAULT_CONFIG: &str = "spoonfeed.conf";

pub const USAGE: &str = "\
spoonfeed — a buffering reverse proxy for HTTP

usage:
  spoonfeed [-f FILE]          run with FILE (default ./spoonfeed.conf)
  spoonfeed -t [-f FILE]       check FILE: print problems as file:line: message, exit 0 or 1
  spoonfeed -T [-f FILE]       print the effective configuration with every default filled in
  spoonfeed demo [--once]      start the bundled origin and spoonfeed in front of it, show a few
                               exchanges, and keep serving until Ctrl-C (--once: exit after them)
  spoonfeed cache [-f FILE]    show how much the CacheRoot of FILE holds
  spoonfeed cache clean [-f FILE]
                               remove least-recently-used entries down to CacheSize, and stale
                               temporary files (as htcacheclean; safe while the server runs)
  spoonfeed cache purge URL [-f FILE]
                               remove the entry for URL (scheme://host[:port]/path?query)
  spoonfeed --version | --help

signals: SIGHUP reloads the configuration, SIGTERM/SIGINT drain and stop (30 s grace),
SIGQUIT stops at once.
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(PathBuf),
    Check(PathBuf),
    Dump(PathBuf),
    Demo { once: bool },
    Cache { file: PathBuf, action: CacheAction },
    Version,
    Help,
}

/// What `spoonfeed cache` does.
#[derive(Debug, PartialEq, Eq)]
pub enum CacheAction {
    Usage,
    Clean,
    Purge(String),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut file: Option<PathBuf> = None;
    let mut mode: Option<&str> = None;
    let mut demo = false;
    let mut once = false;
    let mut cache: Option<CacheAction> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-f" => {
                let value = it.next().ok_or("-f needs a file name")?;
                if file.replace(PathBuf::from(value)).is_some() {
                    return Err("-f given twice".into());
                }
            }
            "-t" | "-T" => {
                if mode.replace(arg).is_some_and(|m| m != arg) {
                    return Err("-t and -T cannot be combined".into());
                }
            }
            "demo" => demo = true,
            "cache" if cache.is_none() && !demo => cache = Some(CacheAction::Usage),
            "clean" if cache == Some(CacheAction::Usage) => cache = Some(CacheAction::Clean),
            "purge" if cache == Some(CacheAction::Usage) => {
                let url = it.next().ok_or("cache purge needs a URL")?;
                cache = Some(CacheAction::Purge(url.clone()));
            }
            "--once" if demo => once = true,
            "--version" | "-v" => return Ok(Command::Version),
            "--help" | "-h" => return Ok(Command::Help),
            other => return Err(format!("unknown argument '{other}' (see --help)")),
        }
    }
    if demo {
        if file.is_some() || mode.is_some() {
            return Err("demo takes no -f, -t or -T".into());
        }
        return Ok(Command::Demo { once });
    }
    let file = file.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    if let Some(action) = cache {
        if mode.is_some() {
            return Err("cache takes no -t or -T".into());
        }
        return Ok(Command::Cache { file, action });
    }
    Ok(match mode {
        Some("-t") => Command::Check(file),
        Some(_) => Command::Dump(file),
        None => Command::Run(file),
    })
}

/// Runs the command line; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let command = match parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("spoonfeed: {e}");
            return 2;
        }
    };
    match command {
        Command::Help => {
            print!("{USAGE}");
            0
        }
        Command::Version => {
            println!("spoonfeed {}", crate::VERSION);
            0
        }
        Command::Check(file) => match load(&file) {
            Some(_) => {
                println!("Syntax OK");
                0
            }
            None => 1,
        },
        Command::Dump(file) => match load(&file) {
            Some(cfg) => {
                print!("{}", config::dump(&cfg));
                print!("{}", crate::server::socket_buffer_report(&cfg));
                0
            }
            None => 1,
        },
        Command::Run(file) => run(&file),
        Command::Cache { file, action } => cache(&file, &action),
        Command::Demo { once } => match crate::demo::run(once, &mut std::io::stdout()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("spoonfeed demo: {e}");
                1
            }
        },
    }
}

/// Loads a configuration, printing warnings and errors to stderr.
fn load(file: &Path) -> Option<config::Config> {
    match config::load(file) {
        Ok(loaded) => {
            let mut err = std::io::stderr().lock();
            for w in &loaded.warnings {
                let _ = writeln!(err, "{w}");
            }
            Some(loaded.config)
        }
        Err(errors) => {
            let mut err = std::io::stderr().lock();
            for e in &errors {
                let _ = writeln!(err, "{e}");
            }
            None
        }
    }
}

fn run(file: &Path) -> i32 {
    let Some(cfg) = load(file) else { return 1 };
    // Blocked before the reactors start, so they inherit the mask and only this thread
    // receives the signals.
    if let Err(e) = sys::block_signals() {
        eprintln!("spoonfeed: cannot block signals: {e}");
        return 1;
    }
    let server = match Server::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("spoonfeed: {e}");
            return 1;
        }
    };
    for addr in server.local_addrs() {
        eprintln!("spoonfeed {} listening on {addr}", crate::VERSION);
    }
    loop {
        match sys::wait_signal() {
            Ok(Signal::Reload) => {
                if let Some(cfg) = load(file) {
                    server.reload(&cfg);
                }
            }
            Ok(Signal::Stop) => return exit_status(server.drain(STOP_GRACE)),
            Ok(Signal::Quit) => return exit_status(server.stop()),
            Err(e) => {
                eprintln!("spoonfeed: waiting for signals failed: {e}");
                return exit_status(server.stop());
            }
        }
    }
}

/// `spoonfeed cache`: the store of FILE's CacheRoot, offline or beside a running server.
fn cache(file: &Path, action: &CacheAction) -> i32 {
    let Some(cfg) = load(file) else { return 1 };
    let Some(cache) = cfg.cache else {
        eprintln!("spoonfeed cache: {} sets no CacheRoot", file.display());
        return 1;
    };
    let store = &cache.store;
    let result = match action {
        CacheAction::Usage => store.usage().map(|u| {
            println!(
                "{}: {} entries, {} bytes of {} (CacheSize)",
                cache.root.display(),
                u.entries,
                u.bytes,
                cache.size_bytes
            );
        }),
        CacheAction::Clean => store
            .collect(
                cache.size_bytes,
                Duration::from_secs(3600),
                std::time::SystemTime::now(),
            )
            .map(|done| {
                println!(
                    "removed {} entries ({} bytes) and {} stale temporary files; {} entries, {} bytes left",
                    done.removed, done.freed, done.stale_temps, done.left.entries, done.left.bytes
                );
            }),
        CacheAction::Purge(url) => match cache_key_of(url) {
            Some(key) => store.remove(&key).map(|removed| {
                println!("{url}: {}", if removed { "purged" } else { "not cached" });
            }),
            None => {
                eprintln!("spoonfeed cache purge: {url:?} is not http(s)://host[:port]/path");
                return 2;
            }
        },
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("spoonfeed cache: {}: {e}", cache.root.display());
            1
        }
    }
}

/// The cache key of a URL as an operator writes it: `scheme://host[:port]` lowercased, then the
/// path and query as given (`/` when none).
pub fn cache_key_of(url: &str) -> Option<Vec<u8>> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, target) = rest.split_at(split);
    if host.is_empty() {
        return None;
    }
    let target = match target {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    Some(crate::cache::key(
        &scheme,
        host.as_bytes(),
        target.as_bytes(),
    ))
}

fn exit_status(result: std::io::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("spoonfeed: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_arguments_runs_the_default_file() {
        assert_eq!(
            parse(&[]),
            Ok(Command::Run(PathBuf::from("spoonfeed.conf")))
        );
    }

    #[test]
    fn check_and_dump_take_a_file() {
        assert_eq!(
            parse(&args(&["-t", "-f", "a.conf"])),
            Ok(Command::Check("a.conf".into()))
        );
        assert_eq!(
            parse(&args(&["-f", "a.conf", "-T"])),
            Ok(Command::Dump("a.conf".into()))
        );
    }

    #[test]
    fn demo_accepts_once_and_nothing_else() {
        assert_eq!(
            parse(&args(&["demo", "--once"])),
            Ok(Command::Demo { once: true })
        );
        assert!(parse(&args(&["demo", "-t"])).is_err());
    }

    #[test]
    fn cache_takes_an_action_and_a_file() {
        assert_eq!(
            parse(&args(&["cache", "-f", "a.conf"])),
            Ok(Command::Cache {
                file: "a.conf".into(),
                action: CacheAction::Usage
            })
        );
        assert_eq!(
            parse(&args(&["cache", "clean"])),
            Ok(Command::Cache {
                file: "spoonfeed.conf".into(),
                action: CacheAction::Clean
            })
        );
        assert_eq!(
            parse(&args(&[
                "cache",
                "purge",
                "http://A.example/x",
                "-f",
                "b.conf"
            ])),
            Ok(Command::Cache {
                file: "b.conf".into(),
                action: CacheAction::Purge("http://A.example/x".into())
            })
        );
        assert!(parse(&args(&["cache", "purge"])).is_err());
        assert!(parse(&args(&["clean"])).is_err());
        assert!(parse(&args(&["cache", "-t"])).is_err());
        assert_eq!(
            cache_key_of("HTTP://WWW.Example.com:8080/A?b"),
            Some(b"http://www.example.com:8080/A?b".to_vec())
        );
        assert_eq!(cache_key_of("https://h?q"), Some(b"https://h/?q".to_vec()));
        assert_eq!(cache_key_of("ftp://h/"), None);
        assert_eq!(cache_key_of("http:///x"), None);
    }

    #[test]
    fn bad_arguments_are_refused_with_a_reason() {
        assert_eq!(parse(&args(&["-f"])), Err("-f needs a file name".into()));
        assert_eq!(
            parse(&args(&["-t", "-T"])),
            Err("-t and -T cannot be combined".into())
        );
        assert!(parse(&args(&["--bogus"])).unwrap_err().contains("--bogus"));
    }
}
