//! How long does route lookup take with 10 / 100 / 1,000 `ProxyPass` rules, when the first,
//! the middle, the last or no rule matches — is a linear first-match scan good enough?
//!
//! `proxy::route::route` walks the virtual host's rules in order, as mod_proxy does (first
//! match wins, so order is semantics and an index would have to preserve it). This informs
//! whether that scan may stay, or whether large configurations need an index (a prefix trie
//! falling back to the ordered scan): if the last/no-match case at 1,000 rules costs well under
//! the microseconds a request spends in parsing and syscalls, the scan stays.
//!
//! The rules share a realistic leading part (`/api/v1/svc{i}/`), so each failed comparison
//! reads a dozen bytes before it differs, and every request carries a query that must be
//! copied. Each case checks its decision once before it is timed, so a wrong setup cannot
//! measure the wrong path.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use spoonfeed::config::{Origin, Route, RouteMatch, RouteTarget, Vhost, ViaSetting};
use spoonfeed::proxy::route::{route, Decision};

/// Rule counts measured.
const RULE_COUNTS: [usize; 3] = [10, 100, 1_000];

fn vhost_with(rules: usize) -> Vhost {
    let origin = Origin {
        file: PathBuf::from("bench.conf"),
        line: 1,
    };
    Vhost {
        addrs: Vec::new(),
        server_name: "bench.example".to_owned(),
        aliases: Vec::new(),
        routes: (0..rules)
            .map(|i| Route {
                matcher: RouteMatch::Prefix(format!("/api/v1/svc{i}/")),
                target: RouteTarget::Proxy {
                    backend: i % 4,
                    path: format!("/svc{i}/"),
                },
                origin: Origin {
                    line: i + 1,
                    ..origin.clone()
                },
            })
            .collect(),
        reverse: Vec::new(),
        preserve_host: false,
        add_forwarded: true,
        add_rfc7239: false,
        via: ViaSetting::Off,
        proxy_requests: false,
        proxy_access: spoonfeed::config::ProxyAccess::default(),
        allow_connect: Vec::new(),
        access_logs: Vec::new(),
        tls: None,
        proxy_tls: false,
        origin: None,
    }
}

fn request_for(rule: usize) -> Vec<u8> {
    format!("/api/v1/svc{rule}/users/42/orders?page=3&sort=desc").into_bytes()
}

fn route_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    for rules in RULE_COUNTS {
        let vhost = vhost_with(rules);
        let cases = [
            ("first", request_for(0), Some(0)),
            ("middle", request_for(rules / 2), Some(rules / 2)),
            ("last", request_for(rules - 1), Some(rules - 1)),
            ("none", b"/static/css/site.css?v=12".to_vec(), None),
        ];
        for (case, request, expected) in cases {
            let decided = match route(&vhost, &request) {
                Decision::Proxy { route, .. } => Some(route),
                Decision::Excluded { .. } | Decision::NoRoute => None,
            };
            assert_eq!(decided, expected, "{case} with {rules} rules");
            group.bench_with_input(BenchmarkId::new(case, rules), &request, |b, request| {
                b.iter(|| route(black_box(&vhost), black_box(request)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, route_lookup);
criterion_main!(benches);
