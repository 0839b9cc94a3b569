//! Handlers for the log directives: `ErrorLog`, `LogLevel` (Apache's core) and `LogFormat`,
//! `CustomLog` (mod_log_config). Formats are kept as strings in Apache's `%` syntax, and each
//! `CustomLog` also gets its format compiled by [`super::log_format`]; this module resolves
//! nicknames and never interprets `%` directives itself.

use std::collections::HashMap;

use super::log_format::LogFormat;
use super::model::*;
use super::parse::Parser;

/// Apache's `common` format.
const COMMON: &str = "%h %l %u %t \"%r\" %>s %b";

/// The nicknames every configuration starts with, lowercase: `common`, `combined` (common with
/// referrer and user agent) and `proxy` (common with spoonfeed's backend timings).
pub(super) fn predefined_formats() -> HashMap<String, String> {
    HashMap::from([
        ("common".to_string(), COMMON.to_string()),
        (
            "combined".to_string(),
            format!("{COMMON} \"%{{Referer}}i\" \"%{{User-agent}}i\""),
        ),
        (
            "proxy".to_string(),
            format!(
                "{COMMON} %D \"%{{backend}}x\" %{{backend_status}}x %{{backend_connect}}x \
                 %{{backend_first_byte}}x %{{backend_hold}}x"
            ),
        ),
    ])
}

/// A log destination: `stderr` / `/dev/stderr`, or a file. Syslog and pipes are refused.
fn target(p: &Parser, directive: &str, text: &str) -> Result<LogTarget, String> {
    if text.eq_ignore_ascii_case("stderr") || text == "/dev/stderr" {
        return Ok(LogTarget::Stderr);
    }
    if text.starts_with('|') {
        return Err(format!(
            "{directive}: piped logs (|command) are not supported; give a file path or stderr"
        ));
    }
    if text.eq_ignore_ascii_case("syslog") || text.to_ascii_lowercase().starts_with("syslog:") {
        return Err(format!(
            "{directive} {text}: syslog is not supported; give a file path or stderr"
        ));
    }
    if text.is_empty() {
        return Err(format!("{directive}: empty path"));
    }
    Ok(LogTarget::File(p.log_path(text)))
}

/// `ErrorLog PATH|stderr`.
pub(super) fn error_log(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.error_log = target(p, "ErrorLog", &args[0])?;
    Ok(())
}

/// `LogLevel LEVEL`: Apache's names; `trace1`..`trace8` read as `debug`.
pub(super) fn log_level(p: &mut Parser, args: &[String]) -> Result<(), String> {
    if args.len() > 1 || args[0].contains(':') {
        return Err(
            "per-module log levels (module:level) are not supported; give one LogLevel for the whole server"
                .into(),
        );
    }
    let level = match args[0].to_ascii_lowercase().as_str() {
        "emerg" => LogLevel::Emerg,
        "alert" => LogLevel::Alert,
        "crit" => LogLevel::Crit,
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "notice" => LogLevel::Notice,
        "info" => LogLevel::Info,
        "debug" | "trace1" | "trace2" | "trace3" | "trace4" | "trace5" | "trace6" | "trace7"
        | "trace8" => LogLevel::Debug,
        other => {
            return Err(format!(
                "unknown LogLevel \"{other}\"; give emerg, alert, crit, error, warn, notice, info, debug or trace1..trace8"
            ))
        }
    };
    p.server.log_level = level;
    Ok(())
}

/// Compiles a format string, with the checks only this module needs: a format must say
/// something, and a trailing lone backslash could not be written back in quotes by
/// `spoonfeed -T`.
fn compile(directive: &str, format: &str) -> Result<LogFormat, String> {
    if format.trim().is_empty() {
        return Err(format!("{directive}: empty log format"));
    }
    if format.ends_with('\\') {
        return Err(format!(
            "{directive}: a log format cannot end with a backslash"
        ));
    }
    LogFormat::parse(format).map_err(|e| format!("{directive}: {e}"))
}

/// `LogFormat FORMAT NICKNAME`. Without a nickname Apache sets TransferLog's format, which
/// spoonfeed does not have.
pub(super) fn log_format(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let [format, nickname] = args else {
        return Err(
            "LogFormat without a nickname sets TransferLog's format, which spoonfeed does not have; write LogFormat FORMAT NICKNAME"
                .into(),
        );
    };
    compile("LogFormat", format)?;
    p.log_formats
        .insert(nickname.to_ascii_lowercase(), format.clone());
    Ok(())
}

/// `CustomLog PATH|stderr FORMAT|NICKNAME`. A nickname defined by a `LogFormat` above wins;
/// otherwise an argument holding `%` is a format; otherwise it is an unknown nickname.
pub(super) fn custom_log(p: &mut Parser, args: &[String]) -> Result<(), String> {
    if let Some(condition) = args.get(2) {
        return Err(format!(
            "CustomLog: conditional logging ({condition}) is not supported"
        ));
    }
    let target = target(p, "CustomLog", &args[0])?;
    let format = match p.log_formats.get(&args[1].to_ascii_lowercase()) {
        Some(format) => format.clone(),
        None if args[1].contains('%') => args[1].clone(),
        None => {
            let mut known: Vec<&str> = p.log_formats.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(format!(
                "CustomLog: unknown log format nickname \"{}\" (known here: {}; a LogFormat must come before the CustomLog that uses it)",
                args[1],
                known.join(", ")
            ));
        }
    };
    let log = AccessLog {
        target,
        compiled: compile("CustomLog", &format)?,
        format,
        origin: p.origin.clone(),
    };
    p.scope().access_logs.push(log);
    Ok(())
}
