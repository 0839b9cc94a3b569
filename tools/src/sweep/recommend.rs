//! The plain-English answer to "what should I set?".
//!
//! Owns [`recommend`]: from measured rows, the smallest ProxyResponseBufferSize (and the block
//! size, SendBufferSize and mode it was measured with) that releases 99% of backends within a
//! target time for every measured response size up to a limit, one paragraph per client read
//! rate, with its memory cost; or a plain statement that nothing measured meets the target, and
//! the closest setting.
//!
//! Rules, in order:
//! - Only rows with a response size at most `max_size` count. A setting (block size,
//!   ProxyResponseBufferSize, SendBufferSize, mode) is judged at one read rate only if it was
//!   measured there at every such response size; its hold is the worst p99 over them, its
//!   memory the largest peak occupancy p99.
//! - A setting meets the target when that worst hold is at most the target and no request
//!   failed. Percentiles are bucket bounds (powers of two of µs), so a target between two
//!   bounds is met only by the lower one.
//! - Among settings that meet it: smallest ProxyResponseBufferSize, then least memory, then
//!   lowest worst hold, then most requests/s, then smallest block, then smallest
//!   SendBufferSize, then copy before splice. The order is total, so ties are broken the same
//!   way every time.
//! - With none meeting it: the closest is the one with no failures before one with failures,
//!   then the lowest worst hold, then the same order as above.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::grid::Mode;
use super::row::Row;
use super::units::{directive_size, human_bytes, human_rate, human_us, trim_decimal};

/// Slow clients the memory cost is given for.
const CLIENTS_PER_COST: u64 = 1000;

/// What the operator sets; the key of a setting.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Setting {
    io_buffer: u64,
    response_buffer: u64,
    send_buffer: u64,
    mode: Mode,
}

/// One setting's result at one read rate, over every response size that counts.
struct Judged {
    setting: Setting,
    worst_hold_us: u64,
    memory_bytes: u64,
    requests_per_sec: f64,
    errors: u64,
}

impl Judged {
    fn meets(&self, target_hold_us: u64) -> bool {
        self.errors == 0 && self.worst_hold_us <= target_hold_us
    }

    /// The order among settings that meet the target (see the module's rules).
    fn preference(&self, other: &Judged) -> Ordering {
        (
            self.setting.response_buffer,
            self.memory_bytes,
            self.worst_hold_us,
        )
            .cmp(&(
                other.setting.response_buffer,
                other.memory_bytes,
                other.worst_hold_us,
            ))
            .then_with(|| other.requests_per_sec.total_cmp(&self.requests_per_sec))
            .then_with(|| {
                (
                    self.setting.io_buffer,
                    self.setting.send_buffer,
                    self.setting.mode,
                )
                    .cmp(&(
                        other.setting.io_buffer,
                        other.setting.send_buffer,
                        other.setting.mode,
                    ))
            })
    }

    /// The order among settings when none meets the target.
    fn closeness(&self, other: &Judged) -> Ordering {
        ((self.errors > 0), self.worst_hold_us)
            .cmp(&((other.errors > 0), other.worst_hold_us))
            .then_with(|| self.preference(other))
    }
}

/// The recommendation for releasing 99% of backends within `target_hold_us` for responses up
/// to `max_size` bytes: one paragraph per measured read rate, slowest first.
pub fn recommend(rows: &[Row], target_hold_us: u64, max_size: u64) -> String {
    let counted: Vec<&Row> = rows
        .iter()
        .filter(|r| r.point.response_size <= max_size)
        .collect();
    if counted.is_empty() {
        return match rows.iter().map(|r| r.point.response_size).min() {
            Some(smallest) => format!(
                "Nothing to recommend: no measured response is {} or smaller (the smallest \
                 measured is {}). Sweep smaller --size values, or raise the limit.\n",
                human_bytes(max_size),
                human_bytes(smallest)
            ),
            None => "Nothing to recommend: there are no measurements.\n".to_string(),
        };
    }
    let mut rates: Vec<u64> = counted.iter().map(|r| r.point.read_rate).collect();
    rates.sort_unstable();
    rates.dedup();
    let mut out = String::new();
    for (i, rate) in rates.into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let at_rate: Vec<&Row> = counted
            .iter()
            .copied()
            .filter(|r| r.point.read_rate == rate)
            .collect();
        paragraph(&mut out, &at_rate, rate, target_hold_us, max_size);
    }
    out
}

fn paragraph(out: &mut String, rows: &[&Row], rate: u64, target_hold_us: u64, max_size: u64) {
    let mut sizes: Vec<u64> = rows.iter().map(|r| r.point.response_size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let largest = *sizes.last().unwrap_or(&0);
    let goal = format!(
        "release 99% of backends within {} for responses up to {} with clients reading {}",
        human_us(target_hold_us),
        human_bytes(largest),
        human_rate(rate)
    );
    let judged = judge(rows, &sizes);
    if judged.is_empty() {
        let _ = writeln!(
            out,
            "Cannot say how to {goal}: no setting was measured at every response size up to {} \
             at this rate.",
            human_bytes(largest)
        );
        return;
    }
    let caveat = if largest < max_size {
        format!(
            " ({} is the largest measured size up to {}.)",
            human_bytes(largest),
            human_bytes(max_size)
        )
    } else {
        String::new()
    };
    let meeting: Vec<&Judged> = judged.iter().filter(|j| j.meets(target_hold_us)).collect();
    let failed_but_fast = judged
        .iter()
        .filter(|j| j.errors > 0 && j.worst_hold_us <= target_hold_us)
        .count();
    let failed_note = match failed_but_fast {
        0 => String::new(),
        1 => " One more setting was fast enough but had failed requests, so it is not counted."
            .to_string(),
        n => format!(
            " {n} more settings were fast enough but had failed requests, so they are not counted."
        ),
    };
    if let Some(best) = meeting.iter().copied().min_by(|a, b| a.preference(b)) {
        let s = best.setting;
        let _ = write!(
            out,
            "To {goal}, set ProxyResponseBufferSize {} and ProxyIOBufferSize {} (measured with \
             SendBufferSize {} and ProxySplice {}; backend hold p99 at most {}).{caveat} \
             Memory cost ≈ {} of blocks per {CLIENTS_PER_COST} slow clients (peak occupancy p99 \
             {} per response){}.",
            directive_size(s.response_buffer),
            directive_size(s.io_buffer),
            directive_size(s.send_buffer),
            s.mode.directive(),
            human_us(best.worst_hold_us),
            mebibytes(best.memory_bytes.saturating_mul(CLIENTS_PER_COST)),
            human_bytes(best.memory_bytes),
            kernel_cost(s.send_buffer),
        );
        let others = meeting.len() - 1;
        if others > 0 {
            let _ = write!(
                out,
                " {} of {} settings measured meet the target; this one has the smallest \
                 ProxyResponseBufferSize, then the least memory.",
                meeting.len(),
                judged.len()
            );
        }
        let _ = writeln!(out, "{failed_note}");
        return;
    }
    let closest = judged
        .iter()
        .min_by(|a, b| a.closeness(b))
        .expect("judged is not empty");
    let s = closest.setting;
    let failures = if closest.errors > 0 {
        format!(", and {} failed requests", closest.errors)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "No measured setting can {goal}.{caveat} The closest, ProxyResponseBufferSize {} and \
         ProxyIOBufferSize {} (SendBufferSize {}, ProxySplice {}), held backends up to {} at \
         the 99th percentile{failures}. A response larger than ProxyResponseBufferSize holds its \
         backend for about (size − ProxyResponseBufferSize) / client rate: sweep a larger \
         ProxyResponseBufferSize, or set ProxyTempPath so the rest goes to disk.{failed_note}",
        directive_size(s.response_buffer),
        directive_size(s.io_buffer),
        directive_size(s.send_buffer),
        s.mode.directive(),
        human_us(closest.worst_hold_us),
    );
}

/// Every setting measured at each of `sizes`, with its worst numbers over them.
fn judge(rows: &[&Row], sizes: &[u64]) -> Vec<Judged> {
    let mut by_setting: BTreeMap<Setting, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let p = row.point;
        let setting = Setting {
            io_buffer: p.io_buffer,
            response_buffer: p.response_buffer,
            send_buffer: p.send_buffer,
            mode: p.mode,
        };
        by_setting.entry(setting).or_default().push(row);
    }
    by_setting
        .into_iter()
        .filter(|(_, rows)| {
            sizes
                .iter()
                .all(|s| rows.iter().any(|r| r.point.response_size == *s))
        })
        .map(|(setting, rows)| {
            let rps: Vec<f64> = rows
                .iter()
                .map(|r| r.requests_per_sec)
                .filter(|x| x.is_finite())
                .collect();
            Judged {
                setting,
                worst_hold_us: rows.iter().map(|r| r.hold_p99_us).max().unwrap_or(0),
                memory_bytes: rows
                    .iter()
                    .map(|r| r.peak_occupancy_bytes)
                    .max()
                    .unwrap_or(0),
                requests_per_sec: if rps.is_empty() {
                    0.0
                } else {
                    rps.iter().sum::<f64>() / rps.len() as f64
                },
                errors: rows.iter().map(|r| r.errors).fold(0, u64::saturating_add),
            }
        })
        .collect()
}

/// The kernel's share beside the blocks, for the memory cost.
fn kernel_cost(send_buffer: u64) -> String {
    if send_buffer == 0 {
        ", plus the kernel's send buffers (SendBufferSize 0: autotuned, up to \
         net.ipv4.tcp_wmem's maximum per client)"
            .to_string()
    } else {
        format!(
            ", plus {} of kernel send buffers",
            mebibytes(send_buffer.saturating_mul(CLIENTS_PER_COST))
        )
    }
}

fn mebibytes(bytes: u64) -> String {
    format!("{} MiB", trim_decimal(bytes as f64 / (1u64 << 20) as f64))
}
