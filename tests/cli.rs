//! The command line as an operator uses it: the real binary, its output and exit status.

use std::path::Path;
use std::process::{Command, Output};

fn spoonfeed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spoonfeed"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("spoonfeed runs")
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name),
    )
    .unwrap()
}

#[test]
fn config_errors_are_reported_as_file_line_message_with_exit_1() {
    let out = spoonfeed(&["-t", "-f", "tests/golden/errors.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        golden("errors.expected")
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn shadowed_rules_are_warnings_and_the_check_passes() {
    let out = spoonfeed(&["-t", "-f", "tests/golden/warnings.conf"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        golden("warnings.expected")
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "Syntax OK\n");
}

#[test]
fn missing_config_file_is_an_error_naming_it() {
    let out = spoonfeed(&["-t", "-f", "tests/golden/no-such.conf"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("tests/golden/no-such.conf:"), "{err}");
}

#[test]
fn dump_fills_in_every_default_and_parses_again() {
    let out = spoonfeed(&["-T", "-f", "tests/golden/warnings.conf"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for directive in [
        "Timeout 60",
        "KeepAlive On",
        "KeepAliveTimeout 5",
        "MaxKeepAliveRequests 100",
        "LimitRequestBody 1073741824",
        "ProxyVia Off",
    ] {
        assert!(
            text.contains(directive),
            "{directive} missing from:\n{text}"
        );
    }
    let again = spoonfeed::config::parse_str(&text, Path::new("tests/golden/warnings.conf"))
        .expect("the dump parses");
    let dumped = spoonfeed::config::dump(&again.config);
    let report = text
        .strip_prefix(&dumped)
        .expect("the dump, then the buffer report");
    assert!(
        report.starts_with("\n# Kernel socket buffers (requested -> granted on this machine):\n"),
        "{report}"
    );
    assert!(report.contains("#   net.core.rmem_max = "), "{report}");
}

#[test]
fn dump_reports_a_socket_buffer_the_kernel_clamps() {
    let dir = std::env::temp_dir().join(format!("spoonfeed-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clamped.conf");
    std::fs::write(&file, "Listen 127.0.0.1:0\nProxyReceiveBufferSize 1g\n").unwrap();
    let out = spoonfeed(&["-T", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("#   ProxyReceiveBufferSize 1073741824 -> "))
        .unwrap_or_else(|| panic!("no grant line in:\n{text}"));
    assert!(line.ends_with("CLAMPED"), "{line}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn readme_example_configuration_passes_the_check() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## A configuration").unwrap();
    let block = &readme[start..];
    let body = block
        .split("```apache\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("spoonfeed-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("readme.conf");
    std::fs::write(&file, body).unwrap();
    let out = spoonfeed(&["-t", "-f", file.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn version_and_help() {
    let out = spoonfeed(&["--version"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("spoonfeed {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = spoonfeed(&["--help"]);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("spoonfeed -t [-f FILE]"));
    let out = spoonfeed(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn demo_once_proxies_verifies_and_rewrites() {
    let out = spoonfeed(&["demo", "--once"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("checksum ok").count(), 2, "{text}");
    let location = text.lines().find(|l| l.contains("Location:")).unwrap();
    assert!(
        location.contains("-> 302 Location: http://localhost:")
            && location.ends_with("/perl/bytes/10"),
        "{location}"
    );
}
