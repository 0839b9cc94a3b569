//! `compare`: its command line (every refusal names the flag and says what to give), the report
//! math (median, min–max, ratios, best peer) as pure functions, the order of runs, the proxies'
//! configurations, the check of an answer, and one short end-to-end run against spoonfeed and
//! direct.
//!
//! The end-to-end test needs a spoonfeed binary this package cannot build (see
//! `tests/bufsweep.rs`): it looks for one already built, release first, then debug, and passes
//! after printing why when there is none.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use spoonfeed_tools::compare::args::{
    parse_workloads, DEFAULT_DURATION, DEFAULT_ROUNDS, DEFAULT_SLOW, DEFAULT_SLOW_RCVBUF,
    DEFAULT_SLOW_SNDBUF, DEFAULT_WARMUP,
};
use spoonfeed_tools::compare::configs::{
    haproxy_config, nginx_config, spoonfeed_config, ProxySetup,
};
use spoonfeed_tools::compare::report::{to_csv, to_json, to_table, CSV_COLUMNS};
use spoonfeed_tools::compare::run::{check_answer, slow_rounds};
use spoonfeed_tools::compare::{
    best_peer, interleave, median, parse_args, ratio, spread, summarize, Command, Options, Output,
    Pin, Run, Sample, Target, Workload, USAGE,
};

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

const K1_16: Workload = Workload::Closed {
    size: 1024,
    connections: 16,
};

// ---------------------------------------------------------------------------------------------
// Command line

#[test]
fn defaults_are_the_issue_s_workloads_on_every_target_pinned_0_and_1() {
    let o = options("");
    let names: Vec<String> = o.workloads.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        names,
        [
            "0@16",
            "1k@16",
            "64k@16",
            "1m@16",
            "0@256",
            "1k@256",
            "64k@256",
            "1m@256",
            "slow:1m@32/256k"
        ]
    );
    assert_eq!(o.workloads[8], DEFAULT_SLOW);
    assert_eq!(o.targets, Target::ALL);
    assert_eq!(o.rounds, DEFAULT_ROUNDS);
    assert_eq!((o.duration, o.warmup), (DEFAULT_DURATION, DEFAULT_WARMUP));
    assert_eq!(
        (o.slow_sndbuf, o.slow_rcvbuf),
        (DEFAULT_SLOW_SNDBUF, DEFAULT_SLOW_RCVBUF)
    );
    assert_eq!(o.pin, Pin::Cpus { proxy: 0, load: 1 });
    assert_eq!(o.output, Output::Table);
    assert_eq!((o.spoonfeed, o.nginx, o.haproxy), (None, None, None));
    assert!(o.verifies_checksum);
}

#[test]
fn reads_every_option_in_both_spellings() {
    let o = options(
        "--workloads=1k@16,slow:64k@4/1m --targets haproxy,direct --rounds 5 --duration=2.5 \
         --warmup 0 --sndbuf 128k --rcvbuf=8k --pin 1,0 --spoonfeed ./sf --nginx=/x/nginx \
         --haproxy /y/haproxy --csv --no-checksum",
    );
    assert_eq!(
        o.workloads,
        [
            K1_16,
            Workload::SlowClients {
                size: 64 << 10,
                connections: 4,
                read_rate: 1 << 20
            }
        ]
    );
    // Targets come out in the table's order whatever the order given.
    assert_eq!(o.targets, [Target::Direct, Target::Haproxy]);
    assert_eq!(o.rounds, 5);
    assert_eq!(o.duration, Duration::from_millis(2500));
    assert_eq!(o.warmup, Duration::ZERO);
    assert_eq!((o.slow_sndbuf, o.slow_rcvbuf), (128 << 10, 8 << 10));
    assert_eq!(o.pin, Pin::Cpus { proxy: 1, load: 0 });
    assert_eq!(o.spoonfeed, Some(PathBuf::from("./sf")));
    assert_eq!(o.nginx, Some(PathBuf::from("/x/nginx")));
    assert_eq!(o.haproxy, Some(PathBuf::from("/y/haproxy")));
    assert_eq!(o.output, Output::Csv);
    assert!(!o.verifies_checksum);
    assert_eq!(options("--pin off --json").pin, Pin::Off);
    assert_eq!(options("--json").output, Output::Json);
}

#[test]
fn refuses_bad_arguments_with_a_reason_naming_the_flag() {
    for (args, culprit) in [
        ("--bogus", "unknown option \"--bogus\""),
        ("stray", "unexpected argument \"stray\""),
        ("--rounds", "--rounds needs a value"),
        ("--rounds 0", "--rounds \"0\""),
        ("--rounds 101", "--rounds"),
        ("--rounds 2 --rounds 3", "--rounds given twice"),
        ("--duration 0", "--duration \"0\""),
        ("--duration -1", "--duration"),
        ("--duration 3601", "--duration"),
        ("--duration nan", "--duration"),
        ("--warmup -1", "--warmup"),
        ("--workloads 1k", "no @"),
        ("--workloads 1k@0", "connections \"0\""),
        ("--workloads 1k@1025", "connections"),
        ("--workloads 2g@16", "from 0 to 1g"),
        ("--workloads 1x@16", "invalid size"),
        ("--workloads 1k@16,,0@16", "an empty item"),
        ("--workloads 1k@16,1024@16", "1k@16 given twice"),
        ("--workloads slow:1m@32", "no /RATE"),
        ("--workloads slow:0@32/1m", "from 1 to 1g"),
        ("--workloads slow:1m@32/100", "read rate \"100\""),
        ("--workloads slow:1m@32/2g", "read rate"),
        ("--targets squid", "\"squid\" is not one of"),
        ("--targets nginx,nginx", "nginx given twice"),
        ("--sndbuf 1k", "--sndbuf \"1k\""),
        ("--rcvbuf 128m", "--rcvbuf"),
        ("--pin 0", "--pin \"0\""),
        ("--pin 1,1", "two different CPU numbers"),
        ("--pin a,b", "--pin"),
        ("--json --csv", "at most one of --json and --csv"),
        ("--json=1", "--json takes no value"),
        ("--no-checksum=yes", "--no-checksum takes no value"),
    ] {
        let err = refusal(args);
        assert!(err.contains(culprit), "{args:?}: {err:?} lacks {culprit:?}");
    }
    assert_eq!(parse_args(["--bogus", "-h"]), Ok(Command::Help));
}

#[test]
fn workloads_print_as_they_are_given() {
    for text in [
        "0@16",
        "1k@256",
        "1m@16",
        "1500@3",
        "slow:1m@32/256k",
        "slow:3k@1/1g",
    ] {
        let workloads = parse_workloads(text).unwrap();
        assert_eq!(workloads[0].to_string(), text);
    }
    assert_eq!(parse_workloads("slow").unwrap(), [DEFAULT_SLOW]);
    assert_eq!(K1_16.request_target(), "/bytes/1024");
}

#[test]
fn usage_documents_every_option_and_the_pinning() {
    for word in [
        "--workloads",
        "--targets",
        "--rounds",
        "--duration",
        "--warmup",
        "--sndbuf",
        "--rcvbuf",
        "--pin",
        "--spoonfeed",
        "--nginx",
        "--haproxy",
        "--json",
        "--csv",
        "--help",
        "taskset",
        "CPU",
        "proxy_buffering on",
        "http-reuse always",
        "Workers 1",
    ] {
        assert!(USAGE.contains(word), "{word}");
    }
}

// ---------------------------------------------------------------------------------------------
// Report math

#[test]
fn median_is_the_middle_or_the_mean_of_the_two_middles() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[7.0]), Some(7.0));
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    let s = spread(&[30.0, 10.0, 20.0]).unwrap();
    assert_eq!((s.median, s.min, s.max), (20.0, 10.0, 30.0));
    assert_eq!(spread(&[]), None);
}

#[test]
fn ratio_refuses_division_by_zero() {
    assert_eq!(ratio(50.0, 100.0), Some(0.5));
    assert_eq!(ratio(1.0, 0.0), None);
    assert_eq!(ratio(0.0, 0.0), None);
}

#[test]
fn best_peer_is_the_highest_rate_or_the_lowest_hold() {
    let peers = [(Target::Nginx, 10.0), (Target::Haproxy, 20.0)];
    assert_eq!(best_peer(&peers, false), Some((Target::Haproxy, 20.0)));
    assert_eq!(best_peer(&peers, true), Some((Target::Nginx, 10.0)));
    assert_eq!(best_peer(&[], false), None);
    // A tie goes to the first.
    let tie = [(Target::Nginx, 5.0), (Target::Haproxy, 5.0)];
    assert_eq!(best_peer(&tie, false), Some((Target::Nginx, 5.0)));
}

fn sample(workload: Workload, target: Target, round: usize, rps: f64) -> Sample {
    Sample {
        workload,
        target,
        round,
        requests_per_sec: rps,
        latency_p99_us: 1000 * (round as u64 + 1),
        hold_us: None,
        errors: 0,
        rss_bytes: target.is_proxy().then_some(4 << 20),
    }
}

#[test]
fn summaries_take_medians_over_rounds_and_ratios_against_direct_and_the_best_other_proxy() {
    let mut samples = Vec::new();
    for (round, (direct, spoon, nginx, haproxy)) in [
        (100.0, 60.0, 50.0, 40.0),
        (120.0, 80.0, 30.0, 45.0),
        (110.0, 70.0, 40.0, 50.0),
    ]
    .into_iter()
    .enumerate()
    {
        samples.push(sample(K1_16, Target::Direct, round, direct));
        samples.push(sample(K1_16, Target::Spoonfeed, round, spoon));
        samples.push(sample(K1_16, Target::Nginx, round, nginx));
        samples.push(sample(K1_16, Target::Haproxy, round, haproxy));
    }
    samples[1].errors = 2;
    let s = summarize(&[K1_16], &samples);
    let targets: Vec<Target> = s.iter().map(|s| s.target).collect();
    assert_eq!(targets, Target::ALL);
    let (direct, spoon, nginx, haproxy) = (&s[0], &s[1], &s[2], &s[3]);
    assert_eq!(
        (direct.rps.median, direct.rps.min, direct.rps.max),
        (110.0, 100.0, 120.0)
    );
    assert_eq!((direct.vs_direct, direct.vs_best_peer), (None, None));
    assert_eq!(spoon.rounds_rps, [60.0, 80.0, 70.0]);
    assert_eq!(spoon.vs_direct, Some(70.0 / 110.0));
    // haproxy's median (45) beats nginx's (40).
    assert_eq!(spoon.vs_best_peer, Some((Target::Haproxy, 70.0 / 45.0)));
    assert_eq!(nginx.vs_best_peer, Some((Target::Spoonfeed, 40.0 / 70.0)));
    assert_eq!(haproxy.vs_best_peer, Some((Target::Spoonfeed, 45.0 / 70.0)));
    assert_eq!(spoon.errors, 2);
    assert_eq!(spoon.latency_p99_us, 2000.0);
    assert_eq!(spoon.rss_bytes, Some(4 << 20));
    assert_eq!(direct.rss_bytes, None);
}

#[test]
fn slow_workloads_are_compared_on_hold_p99_where_lower_is_better() {
    let slow = DEFAULT_SLOW;
    let mut samples = Vec::new();
    for (target, p99) in [
        (Target::Direct, 4_000_000),
        (Target::Spoonfeed, 2_000),
        (Target::Nginx, 4_000),
        (Target::Haproxy, 1_000_000),
    ] {
        let mut s = sample(slow, target, 0, 8.0);
        s.hold_us = Some((p99 / 2, p99));
        samples.push(s);
    }
    let s = summarize(&[slow], &samples);
    assert_eq!(s[1].hold_us, Some((1000.0, 2000.0)));
    assert_eq!(s[1].vs_direct, Some(2_000.0 / 4_000_000.0));
    assert_eq!(s[1].vs_best_peer, Some((Target::Nginx, 0.5)));
    assert_eq!(s[3].vs_best_peer, Some((Target::Spoonfeed, 500.0)));
}

#[test]
fn a_target_without_direct_or_peers_gets_no_ratio() {
    let s = summarize(&[K1_16], &[sample(K1_16, Target::Spoonfeed, 0, 5.0)]);
    assert_eq!((s[0].vs_direct, s[0].vs_best_peer), (None, None));
    assert!(summarize(&[DEFAULT_SLOW], &[]).is_empty());
}

#[test]
fn table_csv_and_json_carry_every_summary() {
    let samples = [
        sample(K1_16, Target::Direct, 0, 100.0),
        sample(K1_16, Target::Spoonfeed, 0, 50.0),
    ];
    let s = summarize(&[K1_16], &samples);
    let table = to_table(&s);
    assert!(table.contains("1k@16") && table.contains("spoonfeed") && table.contains("0.50"));
    let csv = to_csv(&s);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], CSV_COLUMNS.join(","));
    assert_eq!(lines.len(), 3);
    assert!(lines[2].starts_with("1k@16,spoonfeed,1,50.0,50.0,50.0,1000,,,0.5000,,,"));
    let json = to_json("\"rounds\":1", &s);
    assert!(json.starts_with("{\"settings\":{\"rounds\":1},\"results\":[{"));
    assert!(json.contains("\"vs_direct\":0.5000") && json.contains("\"best_peer\":null"));
}

// ---------------------------------------------------------------------------------------------
// Runs, configurations, answers

#[test]
fn rounds_are_interleaved_with_the_target_order_rotating() {
    let targets = [Target::Direct, Target::Spoonfeed, Target::Nginx];
    let runs = interleave(2, &[K1_16, DEFAULT_SLOW], &targets);
    assert_eq!(runs.len(), 12);
    let order =
        |from: usize| -> Vec<Target> { runs[from..from + 3].iter().map(|r| r.target).collect() };
    assert_eq!(order(0), targets);
    assert_eq!(order(3), targets);
    assert_eq!(order(6), [Target::Spoonfeed, Target::Nginx, Target::Direct]);
    assert_eq!(
        runs[6],
        Run {
            round: 1,
            workload: K1_16,
            target: Target::Spoonfeed
        }
    );
    assert!(runs[..6].iter().all(|r| r.round == 0));
}

#[test]
fn slow_runs_fill_the_duration_with_whole_exchanges() {
    // 1 MiB at 256 KiB/s: about 4 s an exchange.
    assert_eq!(slow_rounds(DEFAULT_SLOW, Duration::from_secs(10)), 2);
    assert_eq!(slow_rounds(DEFAULT_SLOW, Duration::from_secs(1)), 1);
    assert_eq!(slow_rounds(DEFAULT_SLOW, Duration::from_secs(40)), 10);
}

#[test]
fn proxies_get_one_worker_keep_alive_and_the_slow_send_buffer() {
    let setup = ProxySetup {
        listen_port: 1000,
        backend_port: 2000,
        connections: 16,
        client_sndbuf: None,
    };
    let spoon = spoonfeed_config(&setup);
    for line in [
        "Listen 127.0.0.1:1000",
        "Workers 1",
        "MaxKeepAliveRequests 0",
        "ProxyPass / http://127.0.0.1:2000/",
    ] {
        assert!(spoon.contains(line), "{line}");
    }
    assert!(!spoon.contains("SendBufferSize"));
    let nginx = nginx_config(&setup, "/tmp/w");
    for part in [
        "daemon off;",
        "worker_processes 1;",
        "server 127.0.0.1:2000; keepalive 16;",
        "listen 127.0.0.1:1000;",
        "proxy_buffering on;",
        "proxy_http_version 1.1;",
        "proxy_set_header Connection \"\";",
        "proxy_max_temp_file_size 0;",
        "pid /tmp/w/nginx.pid;",
    ] {
        assert!(nginx.contains(part), "{part}");
    }
    let haproxy = haproxy_config(&setup);
    for part in [
        "nbthread 1",
        "mode http",
        "http-reuse always",
        "bind 127.0.0.1:1000",
    ] {
        assert!(haproxy.contains(part), "{part}");
    }
    let slow = ProxySetup {
        client_sndbuf: Some(65536),
        ..setup
    };
    assert!(spoonfeed_config(&slow).contains("SendBufferSize 65536"));
    assert!(nginx_config(&slow, "/w").contains("listen 127.0.0.1:1000 sndbuf=65536;"));
    assert!(haproxy_config(&slow).contains("tune.sndbuf.client 65536"));
}

#[test]
fn an_answer_counts_only_as_a_200_with_the_expected_body_size() {
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(check_answer(ok, 3), Ok(()));
    assert!(check_answer(ok, 4).unwrap_err().contains("not 4"));
    let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    assert!(check_answer(not_found, 0).unwrap_err().contains("not 200"));
    let short = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc";
    assert!(check_answer(short, 5).unwrap_err().contains("3 body bytes"));
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert!(check_answer(chunked, 3)
        .unwrap_err()
        .contains("Transfer-Encoding"));
    assert!(check_answer(b"HTTP/1.1 200 OK\r\n", 0).is_err());
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
fn compares_spoonfeed_with_direct_on_a_small_and_a_slow_workload() {
    let spoonfeed = match built_spoonfeed() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let out = Process::new(env!("CARGO_BIN_EXE_compare"))
        .args([
            "--spoonfeed",
            spoonfeed.to_str().unwrap(),
            "--targets",
            "spoonfeed,direct",
            "--workloads",
            "1k@4,slow:64k@2/1m",
            "--rounds",
            "1",
            "--duration",
            "0.4",
            "--warmup",
            "0.1",
            "--pin",
            "off",
            "--csv",
        ])
        .output()
        .expect("compare runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("[1/4 ") && stderr.contains("[4/4 "),
        "{stderr}"
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 4, "{csv}");
    let keys: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        keys,
        [
            ("1k@4", "direct"),
            ("1k@4", "spoonfeed"),
            ("slow:64k@2/1m", "direct"),
            ("slow:64k@2/1m", "spoonfeed")
        ]
    );
    for row in &rows {
        let rps: f64 = row[3].parse().unwrap();
        assert!(rps > 0.0, "{row:?}");
        assert_eq!(row[13], "0", "errors in {row:?}");
    }
    // spoonfeed's rows have a ratio to direct and a peak RSS; the slow rows a hold.
    assert!(rows[1][9].parse::<f64>().unwrap() > 0.0, "{:?}", rows[1]);
    assert!(rows[1][12].parse::<u64>().unwrap() > 0, "{:?}", rows[1]);
    assert!(rows[3][8].parse::<u64>().is_ok(), "{:?}", rows[3]);
}
