//! Handlers for the cache directives, with the classic mod_proxy units that make the old
//! examples work verbatim (`CacheSize` in KB, `CacheMaxExpire`, `CacheDefaultExpire` and
//! `CacheGcInterval` in hours), and the check that `CacheRoot` is a writable directory.

use std::path::PathBuf;
use std::time::Duration;

use super::model::*;
use super::parse::Parser;
use super::values;
use crate::cache::policy::Settings;
use crate::cache::store::Store;

/// What the cache lines said, before the whole file is read.
#[derive(Default)]
pub(super) struct CacheDraft {
    root: Option<(PathBuf, Origin)>,
    enable: Vec<String>,
    disable: Vec<String>,
    size_kb: Option<u64>,
    gc_hours: Option<f64>,
    max_expire: Option<u64>,
    default_expire: Option<u64>,
    lm_factor_per_mille: Option<u64>,
    max_file_size: Option<u64>,
    purge_allow: Option<Vec<AddrRange>>,
    lock: Option<bool>,
    lock_max_age: Option<Duration>,
}

/// `CacheSize` when not given, in KB: a gigabyte.
pub(super) const DEFAULT_SIZE_KB: u64 = 1 << 20;
/// `CacheMaxFileSize` when not given (mod_cache_disk's): bytes.
pub(super) const DEFAULT_MAX_FILE_SIZE: u64 = 1_000_000;

pub(super) fn cache_root(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let dir = p.log_path(&args[0]);
    let origin = p.origin.clone();
    p.server.cache.root = Some((dir, origin));
    Ok(())
}

/// `CacheEnable disk URL-PATH`: only the disk store exists (mod_cache's `mem` and `socache`
/// do not).
pub(super) fn cache_enable(p: &mut Parser, args: &[String]) -> Result<(), String> {
    if !args[0].eq_ignore_ascii_case("disk") {
        return Err(format!(
            "CacheEnable: cache type \"{}\" is not supported; give disk",
            args[0]
        ));
    }
    p.server.cache.enable.push(url_path(&args[1])?);
    Ok(())
}

pub(super) fn cache_disable(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.cache.disable.push(url_path(&args[0])?);
    Ok(())
}

fn url_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err(format!("\"{text}\" is not a URL path starting with /"));
    }
    Ok(text.to_owned())
}

pub(super) fn cache_size(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.cache.size_kb = Some(values::count(&args[0], "CacheSize (KB)", 1, 1 << 40)?);
    Ok(())
}

pub(super) fn cache_gc_interval(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let hours: f64 = args[0]
        .parse()
        .ok()
        .filter(|h: &f64| h.is_finite() && *h > 0.0 && *h <= 24.0 * 365.0)
        .ok_or_else(|| {
            format!(
                "CacheGcInterval \"{}\" is not a number of hours above 0 (decimals allowed)",
                args[0]
            )
        })?;
    p.server.cache.gc_hours = Some(hours);
    Ok(())
}

pub(super) fn cache_max_expire(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.cache.max_expire = Some(hours(&args[0], "CacheMaxExpire")?);
    Ok(())
}

pub(super) fn cache_default_expire(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.cache.default_expire = Some(hours(&args[0], "CacheDefaultExpire")?);
    Ok(())
}

/// A time whose bare number is hours (the classic unit), in seconds.
fn hours(text: &str, name: &str) -> Result<u64, String> {
    if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        return Ok(values::count(text, name, 0, 24 * 365 * 100)? * 3600);
    }
    values::time(text)
        .map(|t| t.as_secs())
        .map_err(|e| format!("{name}: {e}"))
}

pub(super) fn cache_last_modified_factor(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let factor: f64 = args[0]
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite() && (0.0..=10.0).contains(f))
        .ok_or_else(|| {
            format!(
                "CacheLastModifiedFactor \"{}\" is not a number from 0 to 10",
                args[0]
            )
        })?;
    p.server.cache.lm_factor_per_mille = Some((factor * 1000.0).round() as u64);
    Ok(())
}

pub(super) fn cache_max_file_size(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.cache.max_file_size = Some(values::size_within(
        &args[0],
        "CacheMaxFileSize",
        0,
        1 << 40,
    )?);
    Ok(())
}

/// `CacheLock On|Off`.
pub(super) fn cache_lock(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.cache.lock = Some(values::on_off(&args[0]).map_err(|e| format!("CacheLock: {e}"))?);
    Ok(())
}

/// `CacheLockMaxAge SECONDS` (a bare number is seconds, as in mod_cache).
pub(super) fn cache_lock_max_age(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let age = values::time(&args[0]).map_err(|e| format!("CacheLockMaxAge: {e}"))?;
    if age.is_zero() {
        return Err("CacheLockMaxAge must be above 0 (CacheLock Off turns locking off)".into());
    }
    p.server.cache.lock_max_age = Some(age);
    Ok(())
}

/// `CachePurgeAllow CIDR ...`: who may send `PURGE`.
pub(super) fn cache_purge_allow(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let ranges = args
        .iter()
        .map(|a| super::buffering::addr_range(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CachePurgeAllow: {e}"))?;
    p.server
        .cache
        .purge_allow
        .get_or_insert_with(Vec::new)
        .extend(ranges);
    Ok(())
}

/// The cache the lines describe, when `CacheRoot` is given: the directory checked (it must
/// exist and be writable; an error at its line otherwise), every value defaulted. `CacheEnable`
/// without `CacheRoot` is an error at line 0 (there is nowhere to store).
pub(super) fn resolve(p: &mut Parser) -> Option<Cache> {
    let draft = std::mem::take(&mut p.server.cache);
    let Some((root, origin)) = draft.root else {
        if !draft.enable.is_empty() {
            let message = "CacheEnable needs CacheRoot (the directory to keep responses in)";
            p.error(p.at(0), message.into());
        }
        return None;
    };
    let store = match Store::open(&root) {
        Ok(store) => store,
        Err(e) => {
            p.error(
                origin,
                format!(
                    "CacheRoot {}: {e} (it must be a directory the server may write)",
                    root.display()
                ),
            );
            return None;
        }
    };
    let defaults = Settings::default();
    Some(Cache {
        root,
        store,
        enable: draft.enable,
        disable: draft.disable,
        size_bytes: draft
            .size_kb
            .unwrap_or(DEFAULT_SIZE_KB)
            .saturating_mul(1024),
        gc_interval: draft.gc_hours.map(|h| Duration::from_secs_f64(h * 3600.0)),
        max_file_size: draft.max_file_size.unwrap_or(DEFAULT_MAX_FILE_SIZE),
        purge_allow: draft
            .purge_allow
            .unwrap_or_else(super::buffering::default_status_allow),
        lock_max_age: draft
            .lock
            .unwrap_or(true)
            .then(|| draft.lock_max_age.unwrap_or(Duration::from_secs(5))),
        settings: Settings {
            default_expire: draft.default_expire.unwrap_or(defaults.default_expire),
            max_expire: draft.max_expire.unwrap_or(defaults.max_expire),
            lm_factor_per_mille: draft
                .lm_factor_per_mille
                .unwrap_or(defaults.lm_factor_per_mille),
            store_set_cookie: false,
        },
    })
}
