//! Handlers for the buffering directives (block size, per-response and per-reactor ceilings,
//! request buffering, kernel socket buffers) and the status endpoint's location and ACL.
//! Defaults live here as named constants that the directive table's `default` column repeats.

use std::net::IpAddr;

use super::model::*;
use super::parse::Parser;
use super::values;

/// Smallest and largest `ProxyIOBufferSize` (Apache's floor is 512 bytes).
const MIN_IO_BUFFER: u64 = 512;
const MAX_IO_BUFFER: u64 = 1 << 20;

/// Fewest blocks a pool may hold: room for the heads of a few exchanges beside their bodies.
pub(super) const MIN_POOL_BLOCKS: usize = 16;

/// Fewest bytes a pool may hold: twice the reserve kept back from bodies
/// (`crate::buf::MIN_RESERVE_BYTES`), so that bodies get at least half.
const MIN_POOL_BYTES: usize = 2 * crate::buf::MIN_RESERVE_BYTES;

/// Largest socket buffer asked for; the kernel's own ceiling is far lower by default.
const MAX_SOCKET_BUFFER: u64 = 1 << 30;

/// The buffering in force when no directive sets it.
pub(super) fn default_buffering() -> Buffering {
    Buffering {
        io_buffer_size: 16 * 1024,
        response_buffer_size: 1 << 20,
        pool_size: 256 << 20,
        request_buffering: true,
        request_buffer_size: 1 << 20,
        temp_path: None,
        max_temp_file_size: 1 << 30,
        splice: SpliceMode::Auto,
        client_send_buffer: 0,
        client_receive_buffer: 0,
        backend_send_buffer: 0,
        backend_receive_buffer: 0,
    }
}

/// Who may read the status endpoint when `StatusAllow` is not given: this host only.
pub(super) fn default_status_allow() -> Vec<AddrRange> {
    vec![
        AddrRange {
            net: IpAddr::from([127, 0, 0, 0]),
            bits: 8,
        },
        AddrRange {
            net: IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            bits: 128,
        },
    ]
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

pub(super) fn io_buffer_size(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = values::size_within(&args[0], "ProxyIOBufferSize", MIN_IO_BUFFER, MAX_IO_BUFFER)?;
    p.server.buffering.io_buffer_size = to_usize(n);
    p.server.pool_line = Some(p.origin.clone());
    Ok(())
}

pub(super) fn response_buffer_size(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = values::size_within(&args[0], "ProxyResponseBufferSize", 0, 1 << 40)?;
    p.server.buffering.response_buffer_size = to_usize(n);
    Ok(())
}

pub(super) fn pool_size(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = values::size_within(&args[0], "ProxyBufferPoolSize", MIN_IO_BUFFER, 1 << 40)?;
    p.server.buffering.pool_size = to_usize(n);
    p.server.pool_line = Some(p.origin.clone());
    Ok(())
}

pub(super) fn request_buffering(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.buffering.request_buffering = values::on_off(&args[0])?;
    Ok(())
}

pub(super) fn request_buffer_size(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = values::size_within(&args[0], "ProxyRequestBufferSize", 0, 1 << 40)?;
    p.server.buffering.request_buffer_size = to_usize(n);
    Ok(())
}

/// `ProxyTempPath DIR|none`: the directory must exist (whether it takes temporary files is
/// checked when the server starts, which creates one).
pub(super) fn temp_path(p: &mut Parser, args: &[String]) -> Result<(), String> {
    if args[0].eq_ignore_ascii_case("none") {
        p.server.buffering.temp_path = None;
        return Ok(());
    }
    let path = p.log_path(&args[0]);
    if !path.is_dir() {
        return Err(format!(
            "ProxyTempPath {}: not a directory (create it, writable by the server)",
            path.display()
        ));
    }
    p.server.buffering.temp_path = Some(path);
    Ok(())
}

pub(super) fn max_temp_file_size(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.buffering.max_temp_file_size = values::size(&args[0])?;
    Ok(())
}

pub(super) fn splice(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.buffering.splice = match args[0].to_ascii_lowercase().as_str() {
        "off" => SpliceMode::Off,
        "on" => SpliceMode::On,
        "auto" => SpliceMode::Auto,
        _ => {
            return Err(format!(
                "ProxySplice takes Off, On or Auto, not \"{}\"",
                args[0]
            ))
        }
    };
    Ok(())
}

fn socket_buffer(text: &str, what: &str) -> Result<usize, String> {
    values::size_within(text, what, 0, MAX_SOCKET_BUFFER).map(to_usize)
}

pub(super) fn client_send_buffer(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.buffering.client_send_buffer = socket_buffer(&args[0], "SendBufferSize")?;
    Ok(())
}

pub(super) fn client_receive_buffer(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.buffering.client_receive_buffer = socket_buffer(&args[0], "ReceiveBufferSize")?;
    Ok(())
}

pub(super) fn backend_send_buffer(p: &mut Parser, args: &[String]) -> Result<(), String> {
    p.server.buffering.backend_send_buffer = socket_buffer(&args[0], "ProxySendBufferSize")?;
    Ok(())
}

/// Apache's rule: at least 512 and a multiple of 512, or 0 for the OS default.
pub(super) fn backend_receive_buffer(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let n = socket_buffer(&args[0], "ProxyReceiveBufferSize")?;
    if n != 0 && (n < 512 || n % 512 != 0) {
        return Err(format!(
            "ProxyReceiveBufferSize must be 0 (the OS default) or a multiple of 512 of at \
             least 512, not {}",
            args[0]
        ));
    }
    p.server.buffering.backend_receive_buffer = n;
    Ok(())
}

pub(super) fn status_location(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let path = &args[0];
    if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
        return Err(format!(
            "StatusLocation must be a path such as /spoonfeed-status, not \"{path}\""
        ));
    }
    p.server.status_path = Some(path.clone());
    Ok(())
}

pub(super) fn status_allow(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let mut ranges = Vec::with_capacity(args.len());
    for arg in args {
        ranges.push(addr_range(arg)?);
    }
    p.server
        .status_allow
        .get_or_insert_with(Vec::new)
        .extend(ranges);
    Ok(())
}

/// `ADDR` or `ADDR/BITS`; a bare address is the one host. Host bits must be zero.
pub(super) fn addr_range(text: &str) -> Result<AddrRange, String> {
    let invalid = || format!("invalid address range \"{text}\": give ADDR or ADDR/BITS");
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let net: IpAddr = addr.parse().map_err(|_| invalid())?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => values::count(b, "the prefix length", 0, max)
            .map_err(|e| format!("\"{text}\": {e}"))? as u8,
        None => max as u8,
    };
    let range = AddrRange { net, bits };
    if !range.contains(net) || canonical_net(range) != net {
        return Err(format!(
            "\"{text}\" has host bits set; give the network address, as {}",
            AddrRange {
                net: canonical_net(range),
                bits
            }
        ));
    }
    Ok(range)
}

/// The network address of `range` (its address with the host bits cleared).
fn canonical_net(range: AddrRange) -> IpAddr {
    match range.net {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(range.bits))
                .unwrap_or(0);
            IpAddr::from((u32::from(a) & mask).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(range.bits))
                .unwrap_or(0);
            IpAddr::from((u128::from(a) & mask).to_be_bytes())
        }
    }
}

/// Checks what needs several buffering lines together.
pub(super) fn check(p: &mut Parser) {
    let b = &p.server.buffering;
    let blocks = b.pool_size / b.io_buffer_size;
    if blocks < MIN_POOL_BLOCKS || b.pool_size < MIN_POOL_BYTES {
        let need = (MIN_POOL_BLOCKS * b.io_buffer_size).max(MIN_POOL_BYTES);
        let origin = p.server.pool_line.clone().unwrap_or_else(|| p.at(0));
        p.error(
            origin,
            format!(
                "ProxyBufferPoolSize {} holds {blocks} blocks of ProxyIOBufferSize {}; give at \
                 least {need} ({MIN_POOL_BLOCKS} blocks, and {MIN_POOL_BYTES} bytes)",
                b.pool_size, b.io_buffer_size
            ),
        );
    }
    if p.server.status_allow.is_some() && p.server.status_path.is_none() {
        let origin = p.at(0);
        p.warn(
            origin,
            "StatusAllow without StatusLocation: there is no status endpoint".to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_ranges_parse_and_match() {
        let r = addr_range("10.1.0.0/16").unwrap();
        assert!(r.contains("10.1.2.3".parse().unwrap()));
        assert!(!r.contains("10.2.0.1".parse().unwrap()));
        assert!(r.contains("::ffff:10.1.9.9".parse().unwrap()));
        let all = addr_range("0.0.0.0/0").unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let one = addr_range("::1").unwrap();
        assert_eq!(one.bits, 128);
        assert!(one.contains("::1".parse().unwrap()));
        assert!(addr_range("10.1.2.3/16")
            .unwrap_err()
            .contains("10.1.0.0/16"));
        assert!(addr_range("10.0.0.0/33").is_err());
        assert!(addr_range("example.com").is_err());
    }
}
