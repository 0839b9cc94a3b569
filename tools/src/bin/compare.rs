//! `compare`: spoonfeed, the backend direct, nginx and HAProxy under the same workloads; see
//! `spoonfeed_tools::compare` and `--help`.
//!
//! Owns the command line's effects only: finding the binaries (skipping nginx and HAProxy with
//! a message when absent), pinning this process, the progress line on stderr, printing the
//! results, and the exit status (0 when no exchange failed, 1 when one did, 2 for a usage error
//! or a run that could not be made).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use spoonfeed_tools::compare::report::{json_string, to_csv, to_json, to_table};
use spoonfeed_tools::compare::run::{find_program, pin_self, Programs};
use spoonfeed_tools::compare::{
    interleave, parse_args, summarize, Command, Options, Output, Pin, Runner, Target, USAGE,
};
use spoonfeed_tools::sweep::driver::find_spoonfeed;

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(options)) => options,
        Err(why) => {
            eprintln!("compare: {why}\n\nusage: compare [options] (see compare --help)");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(why) => {
            eprintln!("compare: {why}");
            ExitCode::from(2)
        }
    }
}

/// Runs everything; whether no exchange failed.
fn run(options: &Options) -> Result<bool, String> {
    let (programs, targets) = find_programs(options)?;
    // Pin before the origins start, so that every thread they start inherits it.
    let cpus = match options.pin {
        Pin::Off => None,
        Pin::Cpus { proxy, load } => match pin_self(&load.to_string()) {
            Ok(()) => Some((proxy, load)),
            Err(why) => {
                eprintln!("compare: not pinned, nothing is: {why}");
                None
            }
        },
    };
    let runner = Runner::start(options, programs, cpus)?;
    let runs = interleave(options.rounds, &options.workloads, &targets);
    let is_terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut samples = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let elapsed = started.elapsed().as_secs_f64();
        let eta = if i == 0 {
            String::new()
        } else {
            format!(
                ", about {:.0} s left",
                elapsed / i as f64 * (runs.len() - i) as f64
            )
        };
        let line = format!(
            "[{}/{} {elapsed:.0} s{eta}] round {}/{} {} {}",
            i + 1,
            runs.len(),
            run.round + 1,
            options.rounds,
            run.workload,
            run.target
        );
        let mut stderr = std::io::stderr().lock();
        let _ = if is_terminal {
            write!(stderr, "\r\x1b[K{line}")
        } else {
            writeln!(stderr, "{line}")
        };
        let _ = stderr.flush();
        drop(stderr);
        match runner.run(run) {
            Ok(sample) => samples.push(sample),
            Err(why) => {
                let dir = runner.work_dir().display().to_string();
                runner.shutdown(true);
                return Err(format!("{why} (files kept in {dir})"));
            }
        }
    }
    if is_terminal {
        eprint!("\r\x1b[K");
    }
    runner.shutdown(false);
    let summaries = summarize(&options.workloads, &samples);
    match options.output {
        Output::Table => {
            println!("{}", describe(options, &targets, cpus));
            print!("{}", to_table(&summaries));
        }
        Output::Csv => print!("{}", to_csv(&summaries)),
        Output::Json => println!(
            "{}",
            to_json(&settings_json(options, &targets, cpus), &summaries)
        ),
    }
    Ok(samples.iter().all(|s| s.errors == 0))
}

/// The binaries of the targets asked for, and the targets that will run.
fn find_programs(options: &Options) -> Result<(Programs, Vec<Target>), String> {
    let mut programs = Programs::default();
    let mut targets = Vec::new();
    for &target in &options.targets {
        match target {
            Target::Direct => {}
            Target::Spoonfeed => {
                let cwd =
                    std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
                let exe = std::env::current_exe().ok();
                programs.spoonfeed = Some(find_spoonfeed(
                    options.spoonfeed.as_deref(),
                    &cwd,
                    exe.as_deref(),
                )?);
            }
            Target::Nginx | Target::Haproxy => {
                let (explicit, slot) = if target == Target::Nginx {
                    (options.nginx.as_deref(), &mut programs.nginx)
                } else {
                    (options.haproxy.as_deref(), &mut programs.haproxy)
                };
                match find_program(explicit, target.name()) {
                    Ok(path) => *slot = Some(path),
                    Err(why) if explicit.is_some() => return Err(format!("--{target} {why}")),
                    Err(why) => {
                        eprintln!("compare: {target} skipped: {why}");
                        continue;
                    }
                }
            }
        }
        targets.push(target);
    }
    if targets.is_empty() {
        return Err("no target left to run".to_owned());
    }
    Ok((programs, targets))
}

fn pin_text(cpus: Option<(usize, usize)>) -> String {
    match cpus {
        Some((proxy, load)) => format!(
            "proxies on CPU {proxy}; origin and load generator on CPU {load}; direct on both"
        ),
        None => "not pinned".to_owned(),
    }
}

fn describe(options: &Options, targets: &[Target], cpus: Option<(usize, usize)>) -> String {
    let names: Vec<&str> = targets.iter().map(|t| t.name()).collect();
    format!(
        "compare: targets {}; {} round(s), {:.1} s per run (warmup {:.1} s); {}; slow scenario: \
         SO_SNDBUF {} (proxies' client sockets, origin), clients' SO_RCVBUF {}",
        names.join(","),
        options.rounds,
        options.duration.as_secs_f64(),
        options.warmup.as_secs_f64(),
        pin_text(cpus),
        options.slow_sndbuf,
        options.slow_rcvbuf
    )
}

fn settings_json(options: &Options, targets: &[Target], cpus: Option<(usize, usize)>) -> String {
    let names: Vec<String> = targets.iter().map(|t| json_string(t.name())).collect();
    let workloads: Vec<String> = options
        .workloads
        .iter()
        .map(|w| json_string(&w.to_string()))
        .collect();
    format!(
        "\"targets\":[{}],\"workloads\":[{}],\"rounds\":{},\"duration_s\":{},\"warmup_s\":{},\
         \"slow_sndbuf\":{},\"slow_rcvbuf\":{},\"pinning\":{}",
        names.join(","),
        workloads.join(","),
        options.rounds,
        options.duration.as_secs_f64(),
        options.warmup.as_secs_f64(),
        options.slow_sndbuf,
        options.slow_rcvbuf,
        json_string(&pin_text(cpus))
    )
}
