//! `bufsweep`: its command line (every refusal names the flag and says what to give), the
//! pieces of the driver that need no process (rounds per point, VmHWM, finding the binary),
//! and one short end-to-end sweep against the real spoonfeed binary.
//!
//! The end-to-end test needs a spoonfeed binary that this package cannot build: cargo builds
//! the binaries of an integration test's own package only, and spoonfeed-tools must not depend
//! on spoonfeed. So it looks for one already built, in `$CARGO_TARGET_DIR` or `<workspace>/target`,
//! release first, then debug, and when there is none it passes after printing why (run
//! `cargo build --workspace --bins` first; `cargo test --workspace` usually builds it, but
//! does not promise to before this test runs).

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output};
use std::time::Duration;

use spoonfeed_tools::sweep::driver::{
    find_spoonfeed, parse_args, parse_vm_hwm, requests_for, Command, HoldSource, Options,
    RunLength, DEFAULT_CLIENTS, DEFAULT_DURATION, DEFAULT_ORIGIN_SNDBUF, DEFAULT_RCVBUF,
    MAX_CLIENTS, USAGE,
};
use spoonfeed_tools::sweep::{Grid, Mode, Point, CSV_COLUMNS};

fn options(args: &str) -> Options {
    match parse_args(args.split_whitespace()) {
        Ok(Command::Run(options)) => *options,
        other => panic!("{args:?} gave {other:?}"),
    }
}

fn refusal(args: &str) -> String {
    match parse_args(args.split_whitespace()) {
        Err(why) => why,
        other => panic!("{args:?} was accepted: {other:?}"),
    }
}

fn bufsweep(args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_bufsweep"))
        .args(args)
        .output()
        .expect("bufsweep runs")
}

// ---------------------------------------------------------------------------------------------
// Command line

#[test]
fn defaults_are_documented_ones() {
    let o = options("");
    assert_eq!(o.grid, Grid::default());
    assert_eq!(o.clients, DEFAULT_CLIENTS);
    assert_eq!(o.length, RunLength::Duration(DEFAULT_DURATION));
    assert_eq!(o.rcvbuf, DEFAULT_RCVBUF);
    assert_eq!(o.origin_send_buffer, DEFAULT_ORIGIN_SNDBUF);
    assert_eq!(o.hold, HoldSource::Spoonfeed);
    assert_eq!(o.target_hold_us, 10_000);
    assert_eq!(
        (o.csv, o.svg, o.max_size, o.spoonfeed),
        (None, None, None, None)
    );
}

#[test]
fn reads_every_option_in_both_spellings() {
    let o = options(
        "--io 4k,16k --size=64k --clients 8 --duration=2.5 --rcvbuf 8k --origin-sndbuf=32k \
         --hold spoonfeed --csv /tmp/x.csv --svg=/tmp/x.svg --target-ms 2.5 --max-size 1m \
         --spoonfeed ./sf",
    );
    assert_eq!(o.grid.len(), 2);
    assert_eq!(o.clients, 8);
    assert_eq!(o.length, RunLength::Duration(Duration::from_millis(2500)));
    assert_eq!((o.rcvbuf, o.origin_send_buffer), (8 << 10, 32 << 10));
    assert_eq!(o.hold, HoldSource::Spoonfeed);
    assert_eq!(o.csv, Some(PathBuf::from("/tmp/x.csv")));
    assert_eq!(o.svg, Some(PathBuf::from("/tmp/x.svg")));
    assert_eq!(o.target_hold_us, 2500);
    assert_eq!(o.max_size, Some(1 << 20));
    assert_eq!(o.spoonfeed, Some(PathBuf::from("./sf")));
    assert_eq!(options("--requests 64").length, RunLength::Requests(64));
}

#[test]
fn help_wins_wherever_it_is() {
    assert_eq!(parse_args(["--clients", "0", "--help"]), Ok(Command::Help));
    assert_eq!(parse_args(["-h"]), Ok(Command::Help));
}

#[test]
fn refuses_clients_outside_the_pool_it_is_sized_for() {
    for bad in ["0", "257", "-1", "many", "1.5"] {
        let why = refusal(&format!("--clients {bad}"));
        assert!(
            why.contains("--clients") && why.contains("1 to 256"),
            "{why}"
        );
    }
    assert_eq!(options(&format!("--clients {MAX_CLIENTS}")).clients, 256);
}

#[test]
fn refuses_duration_and_requests_together_and_too_few_requests() {
    assert!(refusal("--duration 1 --requests 100").contains("not both"));
    let why = refusal("--clients 8 --requests 4");
    assert!(why.contains("fewer than --clients 8"), "{why}");
    for bad in ["0", "-1", "nan", "inf", "3601", "soon"] {
        let why = refusal(&format!("--duration {bad}"));
        assert!(why.starts_with("--duration"), "{why}");
    }
    assert!(refusal("--requests 0").starts_with("--requests"));
}

#[test]
fn refuses_bad_sizes_naming_the_flag() {
    assert!(refusal("--rcvbuf 0").contains("--rcvbuf 0: must be from 1"));
    assert!(refusal("--rcvbuf 4x").starts_with("--rcvbuf: invalid size"));
    assert!(refusal("--origin-sndbuf 4g").starts_with("--origin-sndbuf 4g"));
    assert!(refusal("--max-size lots").starts_with("--max-size"));
    assert!(refusal("--target-ms 0").starts_with("--target-ms"));
}

#[test]
fn refuses_unknown_repeated_and_valueless_options() {
    assert!(refusal("--verbose").contains("unknown option --verbose"));
    assert!(refusal("--csv a --csv b").contains("--csv given twice"));
    assert!(refusal("--clients").contains("--clients needs a value"));
    assert!(refusal("--hold proxy").contains("give origin or spoonfeed"));
}

#[test]
fn passes_grid_errors_through() {
    assert!(refusal("--io 100").starts_with("--io 100: must be from 512"));
    assert!(refusal("--io 4k --io 8k").contains("--io given twice"));
    assert!(refusal("--mode fast").contains("give copy or splice"));
}

#[test]
fn help_documents_every_flag() {
    let out = bufsweep(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, USAGE);
    for flag in Grid::FLAGS.iter().chain(&[
        "--clients",
        "--duration",
        "--requests",
        "--rcvbuf",
        "--origin-sndbuf",
        "--hold",
        "--spoonfeed",
        "--csv",
        "--svg",
        "--target-ms",
        "--max-size",
    ]) {
        assert!(text.contains(&format!("  {flag} ")), "{flag} undocumented");
    }
}

#[test]
fn binary_exits_2_with_the_reason_on_a_usage_error() {
    let out = bufsweep(&["--clients", "300"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("bufsweep: --clients \"300\""), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn binary_exits_2_when_the_spoonfeed_binary_is_missing() {
    let out = bufsweep(&["--spoonfeed", "/nonexistent/spoonfeed", "--duration", "0.1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("/nonexistent/spoonfeed: no such file"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Driver pieces

fn point(size: u64, rate: u64) -> Point {
    Point {
        io_buffer: 16 << 10,
        response_buffer: 1 << 20,
        send_buffer: 64 << 10,
        response_size: size,
        read_rate: rate,
        mode: Mode::Copy,
    }
}

#[test]
fn a_duration_becomes_whole_rounds_of_exchanges() {
    let secs = |s: u64| RunLength::Duration(Duration::from_secs(s));
    // 1 MiB at 256 KiB/s is 4 s an exchange: 5 s is one round, 8 s two.
    assert_eq!(requests_for(&point(1 << 20, 256 << 10), secs(5), 32), 32);
    assert_eq!(requests_for(&point(1 << 20, 256 << 10), secs(8), 32), 64);
    // An exchange longer than the duration still runs once per connection.
    assert_eq!(requests_for(&point(4 << 20, 128 << 10), secs(1), 16), 16);
    // 64 KiB at 1 MiB/s is about 1/16 s: 1 s is 16 rounds.
    assert_eq!(requests_for(&point(64 << 10, 1 << 20), secs(1), 2), 32);
    assert_eq!(
        requests_for(&point(1 << 20, 1), RunLength::Requests(7), 2),
        7
    );
}

#[test]
fn reads_vm_hwm_in_bytes() {
    let status = "Name:\tspoonfeed\nVmPeak:\t  20000 kB\nVmHWM:\t    6784 kB\nVmRSS:\t 6000 kB\n";
    assert_eq!(parse_vm_hwm(status), Some(6784 * 1024));
    assert_eq!(parse_vm_hwm("VmRSS:\t 6000 kB\n"), None);
    assert_eq!(parse_vm_hwm("VmHWM:\t 6000 MB\n"), None);
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(parse_vm_hwm(&own).unwrap() > 0);
}

#[test]
fn finds_spoonfeed_in_the_workspace_above_the_current_directory() {
    if std::env::var_os("CARGO_TARGET_DIR").is_some() {
        eprintln!("skipped: CARGO_TARGET_DIR is set, so <workspace>/target is not looked at");
        return;
    }
    let root = std::env::temp_dir().join(format!("bufsweep-find-{}", std::process::id()));
    let deep = root.join("tools/src");
    let release = root.join("target/release");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir_all(&release).unwrap();
    std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    let err = find_spoonfeed(None, &deep, None).unwrap_err();
    assert!(
        err.contains("target/release/spoonfeed") && err.contains("cargo build"),
        "{err}"
    );
    std::fs::write(release.join("spoonfeed"), "").unwrap();
    assert_eq!(
        find_spoonfeed(None, &deep, None).unwrap(),
        release.join("spoonfeed")
    );
    // An explicit path wins, and must exist.
    let explicit = root.join("Cargo.toml");
    assert_eq!(
        find_spoonfeed(Some(&explicit), &deep, None).unwrap(),
        explicit
    );
    assert!(find_spoonfeed(Some(&root.join("nope")), &deep, None)
        .unwrap_err()
        .contains("no such file"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn falls_back_to_the_spoonfeed_beside_the_executable() {
    let dir = std::env::temp_dir().join(format!("bufsweep-exe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("spoonfeed"), "").unwrap();
    let found = find_spoonfeed(None, Path::new("/"), Some(&dir.join("bufsweep"))).unwrap();
    assert_eq!(found, dir.join("spoonfeed"));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// End to end

/// An already built spoonfeed binary (see the module documentation), or why there is none.
fn built_spoonfeed() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tools/ is inside the workspace");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let candidates = [
        target.join("release/spoonfeed"),
        target.join("debug/spoonfeed"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "no spoonfeed binary at {} or {}; run cargo build --workspace --bins first",
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

#[test]
fn sweeps_two_points_against_spoonfeed_and_writes_csv_svg_and_a_recommendation() {
    let spoonfeed = match built_spoonfeed() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("bufsweep-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("sweep.csv");
    let svg = dir.join("sweep.svg");
    let out = bufsweep(&[
        "--spoonfeed",
        spoonfeed.to_str().unwrap(),
        "--response-buffer",
        "64k,256k",
        "--size",
        "128k",
        "--read-rate",
        "1m",
        "--clients",
        "2",
        "--requests",
        "4",
        "--csv",
        csv.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("[1/2 ") && stderr.contains("[2/2 "),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("ProxyResponseBufferSize"), "{stdout}");

    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], CSV_COLUMNS.join(","));
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split(',').collect();
        let field = |name: &str| fields[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()];
        let number = |name: &str| field(name).parse::<f64>().unwrap();
        assert_eq!(field("errors"), "0", "{line}");
        assert_eq!(field("response_size_bytes"), "131072");
        for positive in [
            "hold_p99_us",
            "completion_p50_us",
            "completion_p99_us",
            "peak_occupancy_bytes",
            "pool_peak_bytes",
            "rss_bytes",
            "requests_per_sec",
        ] {
            assert!(number(positive) > 0.0, "{positive} in {line}");
        }
        // 128 KiB at 1 MiB/s takes 1/8 s to read; loadgen's token bucket lets a burst of up
        // to 64 KiB through at once, so at least the other 64 KiB take 1/16 s.
        assert!(number("completion_p50_us") >= 60_000.0, "{line}");
        assert!(field("note").contains("origin_hold_p99_us="), "{line}");
    }
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg") && plot.trim_end().ends_with("</svg>"));
    std::fs::remove_dir_all(&dir).unwrap();
}
