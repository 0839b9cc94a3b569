//! Handlers for forward proxying, as mod_proxy configures it: `ProxyRequests`, the
//! `<Proxy "*">` section with its `Require` lines (who may use the proxy), and `AllowCONNECT`
//! (which ports CONNECT may reach).

use std::ops::RangeInclusive;

use super::buffering;
use super::lexer::{Line, Node};
use super::model::*;
use super::parse::Parser;
use super::values;

/// `AllowCONNECT` when not given: Apache's https and snews ports.
pub(super) fn default_connect_ports() -> Vec<RangeInclusive<u16>> {
    vec![443..=443, 563..=563]
}

/// `ProxyRequests On|Off`.
pub(super) fn proxy_requests(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let on = values::on_off(&args[0]).map_err(|e| format!("ProxyRequests: {e}"))?;
    p.scope().proxy_requests = Some(on);
    Ok(())
}

/// `AllowCONNECT PORT[-PORT] ...`.
pub(super) fn allow_connect(p: &mut Parser, args: &[String]) -> Result<(), String> {
    let mut ranges = Vec::with_capacity(args.len());
    for arg in args {
        let port = |text: &str| {
            values::port(text, false).map_err(|e| format!("AllowCONNECT \"{arg}\": {e}"))
        };
        let range = match arg.split_once('-') {
            Some((low, high)) => port(low)?..=port(high)?,
            None => port(arg)?..=port(arg)?,
        };
        if range.is_empty() {
            return Err(format!("AllowCONNECT \"{arg}\": the range is empty"));
        }
        ranges.push(range);
    }
    p.scope().allow_connect = Some(ranges);
    Ok(())
}

/// `<Proxy "*"> Require ... </Proxy>`: who may use the forward proxy. Only the `*` pattern
/// (every forwarded URL) is read, and only `Require` inside it: `Require ip CIDR ...`,
/// `Require local`, `Require all granted|denied`. Several `Require` lines mean any of them
/// (Apache's implicit `<RequireAny>`).
pub(super) fn proxy_section(p: &mut Parser, open: &Line, body: &[Node]) {
    if open.args.len() != 1 || open.args[0] != "*" {
        let message = format!(
            "<Proxy {}>: only <Proxy \"*\"> (every forwarded URL) is supported",
            open.args.join(" ")
        );
        return p.error(p.origin.clone(), message);
    }
    let mut access = ProxyAccess::default();
    let mut any = false;
    let mut had_error = false;
    for node in body {
        let line = match node {
            Node::Directive(line) => line,
            Node::Section { open, .. } => {
                let message = format!("<{}> is not supported inside <Proxy>", open.name);
                p.error(p.at(open.line), message);
                had_error = true;
                continue;
            }
        };
        if !line.name.eq_ignore_ascii_case("Require") {
            let message = format!(
                "{} is not supported inside <Proxy>; give Require ip|local|all",
                line.name
            );
            p.error(p.at(line.line), message);
            had_error = true;
            continue;
        }
        match require(&line.args) {
            Ok(Require::All(granted)) => access.everyone |= granted,
            Ok(Require::Ranges(ranges)) => access.ranges.extend(ranges),
            Err(message) => {
                p.error(p.at(line.line), message);
                had_error = true;
                continue;
            }
        }
        any = true;
    }
    if !any && !had_error {
        let message = "<Proxy \"*\"> needs a Require line (Require ip CIDR, Require local or \
                       Require all granted)"
            .to_string();
        p.error(p.origin.clone(), message);
    }
    p.scope().proxy_access = Some(access);
}

enum Require {
    All(bool),
    Ranges(Vec<AddrRange>),
}

fn require(args: &[String]) -> Result<Require, String> {
    let kind = args.first().map(|a| a.to_ascii_lowercase());
    match (kind.as_deref(), &args[args.len().min(1)..]) {
        (Some("all"), [what]) if what.eq_ignore_ascii_case("granted") => Ok(Require::All(true)),
        (Some("all"), [what]) if what.eq_ignore_ascii_case("denied") => Ok(Require::All(false)),
        (Some("local"), []) => Ok(Require::Ranges(buffering::default_status_allow())),
        (Some("ip"), ranges) if !ranges.is_empty() => ranges
            .iter()
            .map(|r| buffering::addr_range(r))
            .collect::<Result<Vec<_>, _>>()
            .map(Require::Ranges)
            .map_err(|e| format!("Require ip: {e}")),
        _ => Err(format!(
            "Require {}: give ip CIDR..., local, all granted or all denied",
            args.join(" ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn require_reads_the_forms_apache_uses_in_proxy_sections() {
        assert!(matches!(
            require(&words("all granted")),
            Ok(Require::All(true))
        ));
        assert!(matches!(
            require(&words("all denied")),
            Ok(Require::All(false))
        ));
        assert!(matches!(require(&words("local")), Ok(Require::Ranges(r)) if r.len() == 2));
        let Ok(Require::Ranges(ranges)) = require(&words("ip 10.0.0.0/8 192.168.1.7")) else {
            panic!("ip ranges");
        };
        assert!(ranges[0].contains("10.2.3.4".parse().unwrap()));
        assert!(ranges[1].contains("192.168.1.7".parse().unwrap()));
        assert!(!ranges[1].contains("192.168.1.8".parse().unwrap()));
        for bad in [
            "ip",
            "all",
            "host example.com",
            "ip 10.0.0.1/8",
            "valid-user",
        ] {
            assert!(require(&words(bad)).is_err(), "{bad}");
        }
    }
}
