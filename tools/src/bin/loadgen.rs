//! `loadgen`: the load generator as a process; see `spoonfeed_tools::loadgen` and `--help`.
//!
//! Owns the command line's effects only: resolving the URL's authority, printing the report in
//! the form asked for, and the exit status (0 when no exchange failed, 1 when one did, 2 for a
//! usage error or a run that could not start).

use std::net::ToSocketAddrs;
use std::process::ExitCode;

use spoonfeed_tools::loadgen::args::Output;
use spoonfeed_tools::loadgen::{parse_args, run, Command, USAGE};

fn main() -> ExitCode {
    let plan = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(plan)) => plan,
        Err(why) => {
            eprintln!("loadgen: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let addr = match plan
        .authority
        .to_socket_addrs()
        .map(|mut addrs| addrs.next())
    {
        Ok(Some(addr)) => addr,
        Ok(None) => {
            eprintln!("loadgen: {} resolves to no address", plan.authority);
            return ExitCode::from(2);
        }
        Err(err) => {
            eprintln!("loadgen: cannot resolve {}: {err}", plan.authority);
            return ExitCode::from(2);
        }
    };
    let report = match run(&plan, addr) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("loadgen: {err}");
            return ExitCode::from(2);
        }
    };
    match plan.output {
        Output::Human => print!("{}", report.to_human()),
        Output::Json => println!("{}", report.to_json()),
        Output::Csv => print!("{}", report.to_csv()),
    }
    if report.errors.total() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
