//! The status endpoint (`StatusLocation`, `StatusAllow`): answers a GET or HEAD on its path,
//! from an allowed address, with every reactor's metrics as Prometheus text or JSON.

use std::mem;

use super::conn::{Conn, Phase};
use super::exchange::ReqLog;
use super::reply::{self, After, Failure, Framing};
use super::Shared;
use crate::config::{Config, RouteMatch, StatusEndpoint};
use crate::http1::request::{RequestBody, RequestHead};
use crate::http1::{Method, Version};
use crate::metrics;

/// Whether `head` asks for the status endpoint: a GET or HEAD of exactly its path (any query).
pub fn is_status_request(status: &StatusEndpoint, head: &RequestHead, buf: &[u8]) -> bool {
    let target = head.path.of(buf);
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    matches!(head.method, Method::Get | Method::Head) && path == status.path.as_bytes()
}

/// Answers a status request (403 outside `StatusAllow`).
pub fn serve(conn: &mut Conn, status: &StatusEndpoint, log: ReqLog, sh: &mut Shared) -> Phase {
    let head = log.parsed.as_ref().expect("a status request is parsed");
    if !status.allow.iter().any(|r| r.contains(conn.peer.ip())) {
        return conn.reply(Failure::StatusForbidden, Some(log), None, false, sh);
    }
    let buf = &log.head;
    let json = head.path.of(buf).windows(11).any(|w| w == b"format=json")
        || log
            .header(b"Accept")
            .is_some_and(|a| a.windows(16).any(|w| w == b"application/json"));
    sh.publish_gauges();
    let labels = route_labels(&sh.cfg);
    let mut body = String::new();
    if json {
        metrics::render_json(&sh.obs.all_metrics, &labels, &mut body);
    } else {
        metrics::render_prometheus(&sh.obs.all_metrics, &labels, &mut body);
    }
    let content_type: &[u8] = if json {
        b"Content-Type: application/json\r\nCache-Control: no-store\r\n"
    } else {
        b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\nCache-Control: no-store\r\n"
    };
    let body_unread = !matches!(head.body, RequestBody::None | RequestBody::Length(0));
    let after = After::keeping(conn.may_keep_alive(head, sh) && !body_unread);
    let framing = Framing {
        after,
        head_only: head.method == Method::Head,
        http10: head.version == Version::Http10,
        simple: head.simple,
    };
    let mut out = mem::take(&mut sh.io.scratch);
    out.clear();
    let sent = reply::encode_response(
        200,
        content_type,
        body.as_bytes(),
        framing,
        sh.clock.wall,
        &mut out,
    );
    conn.send_ours(out, 200, sent, Some(log), None, after, sh)
}

/// The (virtual host, route) label of each metrics slot, in slot order; forward-proxied
/// exchanges (`ProxyRequests On`) have the slot after every route's.
pub fn route_labels(cfg: &Config) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = cfg
        .vhosts
        .iter()
        .flat_map(|v| {
            v.routes.iter().map(|r| {
                let route = match &r.matcher {
                    RouteMatch::Prefix(p) => p.clone(),
                    RouteMatch::Regex(re) => format!("~{}", re.as_str()),
                };
                (v.server_name.clone(), route)
            })
        })
        .collect();
    if cfg.forward_backend.is_some() {
        labels.push((cfg.vhosts[0].server_name.clone(), "(forward proxy)".into()));
    }
    labels
}
