//! `bufsweep`: the buffer-size sweep as a process; see `spoonfeed_tools::sweep::driver` and
//! `--help`.
//!
//! Owns the command line's effects only: finding the spoonfeed binary, creating the output
//! files before the first point (so a bad path fails at once), the progress lines on stderr,
//! writing the CSV and SVG, printing the recommendation, and the exit status (0 when no
//! exchange failed, 1 when one did, 2 for a usage error or a point that could not be run).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use spoonfeed_tools::sweep::driver::{
    find_spoonfeed, parse_args, requests_for, run_point, Command, Options, Settings, USAGE,
};
use spoonfeed_tools::sweep::units::{human_bytes, human_us};
use spoonfeed_tools::sweep::{recommend, to_csv, to_svg, Row};

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(options)) => options,
        Err(why) => {
            eprintln!("bufsweep: {why}\n\nusage: bufsweep [options] (see bufsweep --help)");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(rows) if rows.iter().all(|r| r.errors == 0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(why) => {
            eprintln!("bufsweep: {why}");
            ExitCode::from(2)
        }
    }
}

fn run(options: &Options) -> Result<Vec<Row>, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    let exe = std::env::current_exe().ok();
    let spoonfeed = find_spoonfeed(options.spoonfeed.as_deref(), &cwd, exe.as_deref())?;
    let csv = options.csv.as_deref().map(create).transpose()?;
    let svg = options.svg.as_deref().map(create).transpose()?;
    let settings = Settings::new(options, spoonfeed);
    let total = options.grid.len();
    eprintln!(
        "bufsweep: {total} point(s) with {}, {} clients each",
        settings.spoonfeed.display(),
        settings.clients
    );
    let started = Instant::now();
    let mut rows = Vec::with_capacity(total);
    for (i, point) in options.grid.points().enumerate() {
        let elapsed = started.elapsed().as_secs_f64();
        let eta = if i == 0 {
            String::new()
        } else {
            format!(
                ", about {:.0} s left",
                elapsed / i as f64 * (total - i) as f64
            )
        };
        eprintln!(
            "[{}/{total} {elapsed:.1} s{eta}] {point}: {} exchanges",
            i + 1,
            requests_for(&point, settings.length, settings.clients)
        );
        let row = match run_point(&settings, &point, i) {
            Ok(row) => row,
            Err(why) => {
                // Keep what was measured: an hour of sweep should not be lost to its last point.
                if !rows.is_empty() {
                    write_outputs(csv, svg, &rows)?;
                    eprintln!("bufsweep: the {} point(s) measured are written", rows.len());
                }
                return Err(why);
            }
        };
        eprintln!(
            "    backend hold p50 {} p99 {}, completion p99 {}, peak occupancy p99 {}, \
             rss {}, {:.1} req/s, {} errors",
            human_us(row.hold_p50_us),
            human_us(row.hold_p99_us),
            human_us(row.completion_p99_us),
            human_bytes(row.peak_occupancy_bytes),
            human_bytes(row.rss_bytes),
            row.requests_per_sec,
            row.errors
        );
        rows.push(row);
    }
    eprintln!(
        "bufsweep: {total} point(s) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    write_outputs(csv, svg, &rows)?;
    let largest = options.grid.points().map(|p| p.response_size).max();
    let max_size = options.max_size.or(largest).unwrap_or(u64::MAX);
    print!("{}", recommend(&rows, options.target_hold_us, max_size));
    Ok(rows)
}

type Output = Option<(PathBuf, File)>;

fn write_outputs(csv: Output, svg: Output, rows: &[Row]) -> Result<(), String> {
    if let Some((path, file)) = csv {
        write(&path, file, &to_csv(rows))?;
    }
    if let Some((path, file)) = svg {
        write(&path, file, &to_svg(rows))?;
    }
    Ok(())
}

fn create(path: &Path) -> Result<(PathBuf, File), String> {
    File::create(path)
        .map(|file| (path.to_path_buf(), file))
        .map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn write(path: &Path, mut file: File, text: &str) -> Result<(), String> {
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
