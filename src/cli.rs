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
    Version,
    Help,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut file: Option<PathBuf> = None;
    let mut mode: Option<&str> = None;
    let mut demo = false;
    let mut once = false;
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
    fn bad_arguments_are_refused_with_a_reason() {
        assert_eq!(parse(&args(&["-f"])), Err("-f needs a file name".into()));
        assert_eq!(
            parse(&args(&["-t", "-T"])),
            Err("-t and -T cannot be combined".into())
        );
        assert!(parse(&args(&["--bogus"])).unwrap_err().contains("--bogus"));
    }
}
