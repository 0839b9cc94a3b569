//! The pure core of `bufsweep`: the grid read from command-line lists, the spoonfeed
//! configuration of a point, the status endpoint's JSON, and the CSV, SVG and recommendation
//! made from rows. Nothing here opens a socket or starts a process.
//!
//! Set `SWEEP_EXAMPLE_SVG=/some/path.svg` to have
//! `writes_the_example_plot_when_asked` write the plot of the synthetic sweep there.

use std::collections::BTreeMap;

use spoonfeed_tools::sweep::grid::{
    IO_BUFFER_RANGE, MAX_POINTS, MAX_VALUES_PER_AXIS, POOL_CLIENTS,
};
use spoonfeed_tools::sweep::units::parse_size;
use spoonfeed_tools::sweep::{
    parse_status_json, recommend, to_csv, to_svg, Grid, GridError, Mode, Point, Row, StatusError,
    CSV_COLUMNS,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

fn grid(args: &str) -> Result<Grid, GridError> {
    Grid::from_args(args.split_whitespace())
}

// ---------------------------------------------------------------------------------------------
// Grid

#[test]
fn grid_reads_every_axis_and_counts_the_product() {
    let g = grid(
        "--io 4k,16k,64k --response-buffer 256k,1m,4m --sndbuf 64k --size 64k,1m \
         --read-rate 128k,1m --mode copy,splice",
    )
    .unwrap();
    assert_eq!(g.len(), 3 * 3 * 2 * 2 * 2);
    assert_eq!(g.points().count(), g.len());
    assert_eq!(
        g.point(0),
        Some(Point {
            io_buffer: 4 * KIB,
            response_buffer: 256 * KIB,
            send_buffer: 64 * KIB,
            response_size: 64 * KIB,
            read_rate: 128 * KIB,
            mode: Mode::Copy,
        })
    );
    assert_eq!(
        g.point(g.len() - 1),
        Some(Point {
            io_buffer: 64 * KIB,
            response_buffer: 4 * MIB,
            send_buffer: 64 * KIB,
            response_size: MIB,
            read_rate: MIB,
            mode: Mode::Splice,
        })
    );
    assert_eq!(g.point(g.len()), None);
}

#[test]
fn grid_visits_points_first_axis_slowest_each_axis_ascending() {
    let g = grid("--io 64k,4k --response-buffer 4m,256k --size 1m,64k --read-rate 1m,128k --mode splice,copy")
        .unwrap();
    let mut expected = Vec::new();
    for io in [4 * KIB, 64 * KIB] {
        for rb in [256 * KIB, 4 * MIB] {
            for size in [64 * KIB, MIB] {
                for rate in [128 * KIB, MIB] {
                    for mode in [Mode::Copy, Mode::Splice] {
                        expected.push(Point {
                            io_buffer: io,
                            response_buffer: rb,
                            send_buffer: 64 * KIB,
                            response_size: size,
                            read_rate: rate,
                            mode,
                        });
                    }
                }
            }
        }
    }
    assert_eq!(g.points().collect::<Vec<_>>(), expected);
    let same = grid("--mode copy,splice --read-rate 128k,1m --size 64k,1m --response-buffer 256k,4m --io 4k,64k")
        .unwrap();
    assert_eq!(
        same.points().collect::<Vec<_>>(),
        expected,
        "flag and item order do not matter"
    );
}

#[test]
fn grid_defaults_are_one_point_and_equals_form_is_accepted() {
    let g = Grid::from_args(Vec::<String>::new()).unwrap();
    assert_eq!(g.len(), 1);
    let p = g.point(0).unwrap();
    assert_eq!(
        (p.io_buffer, p.response_buffer, p.send_buffer),
        (16 * KIB, MIB, 64 * KIB)
    );
    assert_eq!(p.mode, Mode::Copy);
    let g = grid("--io=4k,16k --mode=SPLICE --sndbuf=0").unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g.point(1).unwrap().io_buffer, 16 * KIB);
    assert_eq!(g.point(0).unwrap().mode, Mode::Splice);
    assert_eq!(g.point(0).unwrap().send_buffer, 0, "0 is the OS default");
}

/// The error for `args`, and its message.
fn error(args: &str) -> (GridError, String) {
    let e = grid(args).expect_err(args);
    let message = e.to_string();
    (e, message)
}

#[test]
fn grid_refuses_bad_lists_naming_the_flag_and_item() {
    let (e, m) = error("--iobuf 4k");
    assert_eq!(e, GridError::UnknownFlag("--iobuf".into()));
    assert!(
        m.contains("--iobuf") && m.contains("--response-buffer"),
        "{m}"
    );

    let (e, m) = error("--size");
    assert_eq!(e, GridError::MissingValue("--size"));
    assert!(m.contains("--size 64k,1m"), "{m}");

    let (e, m) = error("--io 4k --io 16k");
    assert_eq!(e, GridError::RepeatedFlag("--io"));
    assert!(m.contains("given twice"), "{m}");

    for list in ["4k,,16k", "4k,", ",4k", ""] {
        let (e, _) = error(&format!("--io={list}"));
        assert_eq!(e, GridError::EmptyItem("--io"), "{list:?}");
    }

    let (e, m) = error("--size 64k,1.5m");
    assert!(matches!(e, GridError::Invalid { flag: "--size", ref item, .. } if item == "1.5m"));
    assert!(m.starts_with("--size 1.5m: invalid size"), "{m}");

    let (e, m) = error("--mode copy,zero-copy");
    assert!(
        matches!(e, GridError::Invalid { flag: "--mode", ref item, .. } if item == "zero-copy")
    );
    assert!(m.contains("copy or splice"), "{m}");

    let (e, m) = error("--io 256");
    assert_eq!(
        e,
        GridError::OutOfRange {
            flag: "--io",
            item: "256".into(),
            min: IO_BUFFER_RANGE.0,
            max: IO_BUFFER_RANGE.1
        }
    );
    assert_eq!(m, "--io 256: must be from 512 to 1m bytes");
    assert!(matches!(error("--io 2m").0, GridError::OutOfRange { .. }));
    assert!(matches!(
        error("--read-rate 0").0,
        GridError::OutOfRange { .. }
    ));
    assert!(matches!(
        error("--response-buffer 0").0,
        GridError::OutOfRange { .. }
    ));
    assert!(matches!(error("--size 2g").0, GridError::OutOfRange { .. }));

    let (e, m) = error("--response-buffer 1m,256k,1024k");
    assert_eq!(
        e,
        GridError::Duplicate {
            flag: "--response-buffer",
            item: "1024k".into()
        }
    );
    assert!(m.contains("1024k") && m.contains("twice"), "{m}");
    assert_eq!(
        error("--mode copy,Copy").0,
        GridError::Duplicate {
            flag: "--mode",
            item: "Copy".into()
        }
    );
}

#[test]
fn grid_refuses_more_points_than_one_sweep_may_run() {
    let ten: Vec<String> = (1..=10).map(|k| format!("{k}k")).collect();
    let list = ten.join(",");
    let (e, m) = error(&format!(
        "--io {} --response-buffer {list} --sndbuf {list} --size {list} --read-rate {list}",
        (1..=10)
            .map(|k| format!("{}", 512 * k))
            .collect::<Vec<_>>()
            .join(",")
    ));
    assert_eq!(e, GridError::TooManyPoints(100_000));
    assert!(m.contains(&MAX_POINTS.to_string()), "{m}");

    let many: Vec<String> = (1..=MAX_VALUES_PER_AXIS as u64 + 1)
        .map(|k| k.to_string())
        .collect();
    assert_eq!(
        error(&format!("--size {}", many.join(","))).0,
        GridError::TooManyValues("--size")
    );
}

#[test]
fn grid_set_leaves_the_grid_unchanged_on_error() {
    let mut g = grid("--io 4k,16k").unwrap();
    let before = g.clone();
    assert!(matches!(
        g.set("--duration", "5s"),
        Err(GridError::UnknownFlag(_))
    ));
    assert!(g.set("--size", "1m,bogus").is_err());
    assert!(g.set("--io", "64k").is_err(), "repeated");
    assert_eq!(g, before);
    g.set("--size", "1m,64k").unwrap();
    assert_eq!(g.len(), 4);
}

// ---------------------------------------------------------------------------------------------
// Configuration text

/// The configuration's directives, name → arguments; panics on a repeated directive, a
/// line that is not `Name args`, or a non-comment line with a `#` in it.
fn directives(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        assert!(!line.contains('#'), "{line:?}");
        let mut words = line.split_whitespace().map(str::to_string);
        let name = words.next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphabetic()), "{line:?}");
        assert!(
            out.insert(name.clone(), words.collect()).is_none(),
            "{name} repeated"
        );
    }
    out
}

#[test]
fn config_sets_the_point_and_a_pool_that_never_limits_it() {
    let point = Point {
        io_buffer: 16 * KIB,
        response_buffer: 4 * MIB,
        send_buffer: 64 * KIB,
        response_size: MIB,
        read_rate: 128 * KIB,
        mode: Mode::Splice,
    };
    let text = point.spoonfeed_config(38_001, 0);
    assert!(text.ends_with('\n'));
    let d = directives(&text);
    let one = |name: &str| -> String {
        let args = d
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"));
        assert_eq!(args.len(), 1, "{name}: {args:?}");
        args[0].clone()
    };
    assert_eq!(one("Listen"), "127.0.0.1:0");
    assert_eq!(one("Workers"), "1");
    assert_eq!(d["ProxyPass"], ["/", "http://127.0.0.1:38001/"]);
    assert_eq!(parse_size(&one("ProxyIOBufferSize")), Ok(16 * KIB));
    assert_eq!(parse_size(&one("ProxyResponseBufferSize")), Ok(4 * MIB));
    assert_eq!(parse_size(&one("SendBufferSize")), Ok(64 * KIB));
    assert_eq!(one("ProxySplice"), "On");
    assert_eq!(one("StatusLocation"), "/status");
    let pool = parse_size(&one("ProxyBufferPoolSize")).unwrap();
    assert_eq!(pool, point.pool_size());
    assert_eq!(pool % point.io_buffer, 0, "whole blocks");
    assert!(pool >= 2 * POOL_CLIENTS * (point.response_buffer + 2 * point.io_buffer));
    assert_eq!(d.len(), 9, "{text}");
    assert_eq!(point.request_target(), "/bytes/1048576");

    let copy = Point {
        mode: Mode::Copy,
        response_buffer: 256 * KIB,
        io_buffer: 512,
        send_buffer: 0,
        ..point
    };
    let d = directives(&copy.spoonfeed_config(1, 8080));
    assert_eq!(d["ProxySplice"], ["Off"]);
    assert_eq!(d["Listen"], ["127.0.0.1:8080"]);
    assert_eq!(d["SendBufferSize"], ["0"]);
    let pool = parse_size(&d["ProxyBufferPoolSize"][0]).unwrap();
    assert_eq!(pool, 256 * MIB, "never below spoonfeed's default");
}

#[test]
fn config_of_every_grid_point_names_its_point() {
    let g = grid("--io 4k,64k --response-buffer 256k,4m --mode copy,splice").unwrap();
    for p in g.points() {
        let text = p.spoonfeed_config(9, 10);
        assert!(
            text.starts_with(&format!("# bufsweep point: {p}\n")),
            "{text}"
        );
        let d = directives(&text);
        assert_eq!(parse_size(&d["ProxyIOBufferSize"][0]), Ok(p.io_buffer));
        assert_eq!(
            parse_size(&d["ProxyResponseBufferSize"][0]),
            Ok(p.response_buffer)
        );
        assert_eq!(d["ProxySplice"][0], p.mode.directive());
    }
}

// ---------------------------------------------------------------------------------------------
// Status endpoint JSON

/// What `metrics::render_json` writes for one route, byte for byte: counters in the order of
/// its COUNTERS table then the response classes, gauges in GAUGES order, and per route
/// `vhost`, `route`, `exchanges` and the five histograms in HISTS order, each
/// `count,sum,p50,p90,p99,max_bucket`; one line, no spaces.
const STATUS_SAMPLE: &str = concat!(
    r#"{"counters":{"connections_accepted":9,"requests":9,"proxied":8,"aborted":0,"#,
    r#""backend_errors":0,"pool_exhausted":0,"pool_refused":0,"bytes_from_clients":712,"#,
    r#""bytes_to_clients":8390531,"bytes_from_backends":8390128,"bytes_to_backends":1206,"#,
    r#""lingered":0,"linger_bytes_discarded":0,"linger_resets_avoided":0,"streamed":0,"#,
    r#""tunnels":0,"spliced":8,"spilled_responses":0,"spilled_requests":0,"spilled_bytes":0,"#,
    r#""responses_1xx":0,"responses_2xx":8,"responses_3xx":0,"responses_4xx":0,"responses_5xx":1},"#,
    r#""gauges":{"connections_open":1,"blocks_in_use":1,"blocks_peak":70,"pool_bytes":1146880,"#,
    r#""pool_cap_bytes":536870912,"backend_open":1,"backend_idle":1},"#,
    r#""routes":[{"vhost":"bufsweep \"host\"","route":"/","exchanges":8,"#,
    r#""backend_hold_us":{"count":8,"sum":19711,"p50":2048,"p90":4096,"p99":4096,"max_bucket":4096},"#,
    r#""client_drain_us":{"count":8,"sum":7990411,"p50":1048576,"p90":1048576,"p99":1048576,"max_bucket":1048576},"#,
    r#""time_saved_us":{"count":8,"sum":7970700,"p50":1048576,"p90":1048576,"p99":1048576,"max_bucket":1048576},"#,
    r#""peak_occupancy_bytes":{"count":8,"sum":7864320,"p50":1048576,"p90":1048576,"p99":1048576,"max_bucket":1048576},"#,
    r#""held_at_release_bytes":{"count":8,"sum":7811072,"p50":1048576,"p90":1048576,"p99":1048576,"max_bucket":18446744073709551615}}]}"#,
);

#[test]
fn status_json_as_spoonfeed_writes_it_gives_every_number() {
    let s = parse_status_json(STATUS_SAMPLE).unwrap();
    assert_eq!(s.counters.len(), 25);
    assert_eq!(s.counter("proxied"), 8);
    assert_eq!(s.counter("spliced"), 8);
    assert_eq!(s.counter("no_such_counter"), 0);
    assert_eq!(s.gauges.len(), 7);
    assert_eq!(s.gauge("blocks_peak"), 70);
    assert_eq!(s.pool_peak_bytes(16 * KIB), 70 * 16 * KIB);
    assert_eq!(s.failures(), 1);
    assert_eq!(s.routes.len(), 1);
    let r = s.route("/").unwrap();
    assert_eq!(r.vhost, "bufsweep \"host\"");
    assert_eq!(r.exchanges, 8);
    assert_eq!(r.hists.len(), 5);
    let hold = r.backend_hold_us();
    assert_eq!(
        (hold.count, hold.sum, hold.p50, hold.p90, hold.p99),
        (8, 19711, 2048, 4096, 4096)
    );
    assert_eq!(hold.max_bucket, 4096);
    assert_eq!(r.peak_occupancy_bytes().p99, MIB);
    assert_eq!(r.hist("held_at_release_bytes").max_bucket, u64::MAX);
    assert!(s.route("/perl/").is_none());

    let p = Point {
        io_buffer: 16 * KIB,
        response_buffer: 4 * MIB,
        send_buffer: 64 * KIB,
        response_size: MIB,
        read_rate: MIB,
        mode: Mode::Splice,
    };
    let row = Row::from_status(p, &s).unwrap();
    assert_eq!((row.hold_p50_us, row.hold_p99_us), (2048, 4096));
    assert_eq!(row.peak_occupancy_bytes, MIB);
    assert_eq!(row.pool_peak_bytes, 70 * 16 * KIB);
    assert_eq!(row.errors, 1);
}

#[test]
fn status_json_is_read_whatever_the_layout_and_extra_members() {
    let pretty = r#"
    { "routes" : [ ],
      "gauges" : { "blocks_peak" : 3 },
      "counters" : { "proxied" : 0, "a_counter_from_the_future" : 5 },
      "build" : { "version" : "9.9", "features" : [ "tls", null, true ] } }
    "#;
    let s = parse_status_json(pretty).unwrap();
    assert!(s.routes.is_empty());
    assert_eq!(s.counter("a_counter_from_the_future"), 5);
    assert_eq!(s.gauge("blocks_peak"), 3);
    let p = Grid::default().point(0).unwrap();
    assert!(Row::from_status(p, &s).is_none(), "no exchanges on /");
}

#[test]
fn status_json_errors_name_what_is_wrong() {
    match parse_status_json("{\"counters\":{},\"gauges\":{},\"routes\":[}") {
        Err(StatusError::Syntax(e)) => assert_eq!(e.offset, 37, "at the '}}' after '['"),
        other => panic!("{other:?}"),
    }
    let missing = STATUS_SAMPLE.replace(r#""p99":4096,"#, "");
    let e = parse_status_json(&missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        "status endpoint: routes[0].backend_hold_us.p99 should be a whole number"
    );
    let e =
        parse_status_json(r#"{"counters":{"proxied":-1},"gauges":{},"routes":[]}"#).unwrap_err();
    assert!(e.to_string().contains("counters.proxied"), "{e}");
    let e = parse_status_json(r#"{"counters":{},"gauges":{}}"#).unwrap_err();
    assert!(e.to_string().contains("routes should be an array"), "{e}");
    let e = parse_status_json("[]").unwrap_err();
    assert!(
        e.to_string().contains("the document should be an object"),
        "{e}"
    );
    let e =
        parse_status_json(r#"{"counters":{},"gauges":{},"routes":[{"route":"/","exchanges":1}]}"#)
            .unwrap_err();
    assert!(e.to_string().contains("routes[0].vhost"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Synthetic rows

/// What spoonfeed's status reports for a value: the upper bound of its power-of-two bucket.
fn bucket(v: u64) -> u64 {
    v.max(1).next_power_of_two()
}

/// A row from a crude model of the proxy: a response that fits in ProxyResponseBufferSize
/// plus the client's send buffer releases its backend at loopback speed (~1 GiB/s plus 300 µs);
/// a larger one holds it while the client reads the excess.
fn model(p: Point) -> Row {
    let fits = p.response_buffer + p.send_buffer;
    let fast_us = 300 + p.response_size * 1_000_000 / (1 << 30);
    let hold_us = if p.response_size <= fits {
        fast_us
    } else {
        fast_us + (p.response_size - fits) * 1_000_000 / p.read_rate
    };
    let held = p.response_size.min(p.response_buffer + p.io_buffer);
    let occupancy = held.saturating_sub(p.send_buffer / 2).max(p.io_buffer);
    let client_us = p.response_size * 1_000_000 / p.read_rate;
    Row {
        point: p,
        hold_p50_us: bucket(hold_us * 3 / 4),
        hold_p99_us: bucket(hold_us),
        completion_p50_us: client_us,
        completion_p99_us: client_us + 1500,
        peak_occupancy_bytes: bucket(occupancy),
        pool_peak_bytes: 32 * bucket(occupancy),
        rss_bytes: 8 * MIB + 32 * occupancy,
        requests_per_sec: 32.0 * 1e6 / client_us as f64,
        errors: 0,
        note: String::new(),
    }
}

fn rows(args: &str) -> Vec<Row> {
    grid(args).unwrap().points().map(model).collect()
}

const EXAMPLE: &str = "--io 16k --response-buffer 64k,128k,256k,512k,1m,2m,4m,8m --sndbuf 64k \
                       --size 64k,256k,1m,4m --read-rate 256k --mode copy";

// ---------------------------------------------------------------------------------------------
// CSV

/// A strict RFC 4180 reader: records end in CRLF, fields are bare (no `"`, CR or LF) or
/// quoted with inner quotes doubled. Panics on anything else.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next().expect("unterminated quoted field") {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c == '\r' {
                    break;
                }
                assert!(c != '"' && c != '\n', "bare field with {c:?}");
                field.push(c);
                chars.next();
            }
        }
        record.push(field);
        match chars.next() {
            Some(',') => continue,
            Some('\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                records.push(std::mem::take(&mut record));
                if chars.peek().is_none() {
                    return records;
                }
            }
            other => panic!("after a field: {other:?}"),
        }
    }
}

#[test]
fn csv_has_a_header_and_one_well_formed_record_per_row() {
    let mut rows = rows(EXAMPLE);
    rows[1].note = "3 failed: \"checksum\" mismatch, then reset".into();
    rows[2].note = "line one\r\nline two\nline three".into();
    rows[3].requests_per_sec = f64::NAN;
    let text = to_csv(&rows);
    let records = read_csv(&text);
    assert_eq!(records.len(), rows.len() + 1);
    assert_eq!(records[0], CSV_COLUMNS);
    for record in &records {
        assert_eq!(record.len(), CSV_COLUMNS.len());
    }
    let column = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    assert_eq!(
        records[2][column("note")],
        rows[1].note,
        "quotes and commas round-trip"
    );
    assert_eq!(
        records[3][column("note")],
        rows[2].note,
        "line breaks round-trip"
    );
    assert_eq!(
        records[4][column("requests_per_sec")],
        "",
        "NaN is left empty"
    );
    for (record, row) in records[1..].iter().zip(&rows) {
        assert_eq!(
            record[column("response_buffer_bytes")],
            row.point.response_buffer.to_string()
        );
        assert_eq!(record[column("hold_p99_us")], row.hold_p99_us.to_string());
        assert_eq!(record[column("mode")], "copy");
        assert_eq!(record[column("config")], row.point.to_string());
    }
    assert_eq!(
        read_csv(&to_csv(&[])),
        vec![CSV_COLUMNS.map(String::from).to_vec()]
    );
}

// ---------------------------------------------------------------------------------------------
// SVG

/// Checks the document is well-formed as far as this plot needs: tags balanced and properly
/// nested, attributes quoted, no stray `<` or `&`. Returns the element names in document order.
fn check_xml(text: &str) -> Vec<String> {
    let mut open: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt]);
        rest = &rest[lt + 1..];
        let gt = tag_end(rest);
        let tag = &rest[..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let top = open
                .pop()
                .unwrap_or_else(|| panic!("</{name}> with nothing open"));
            assert_eq!(top, name.trim(), "mis-nested tags");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad element name {name:?}"
        );
        check_attributes(&tag[name_end..]);
        names.push(name.to_string());
        if !self_closing {
            open.push(name.to_string());
        }
        if open.is_empty() {
            assert!(rest.trim().is_empty(), "content after the root: {rest:?}");
        }
    }
    check_text(rest);
    assert!(open.is_empty(), "unclosed: {open:?}");
    names
}

/// Where a tag ends: the first `>` outside a quoted attribute value.
fn tag_end(tag: &str) -> usize {
    let mut quoted = false;
    for (i, c) in tag.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '>' if !quoted => return i,
            '<' if !quoted => panic!("'<' inside a tag"),
            _ => {}
        }
    }
    panic!("unterminated tag");
}

fn check_attributes(mut attrs: &str) {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return;
        }
        let eq = attrs.find('=').expect("attribute without a value");
        let name = &attrs[..eq];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "{name:?}"
        );
        attrs = attrs[eq + 1..]
            .strip_prefix('"')
            .expect("unquoted attribute");
        let close = attrs.find('"').unwrap();
        check_text(&attrs[..close]);
        attrs = &attrs[close + 1..];
    }
}

fn check_text(text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        rest = &rest[amp + 1..];
        let semi = rest.find(';').expect("bare &");
        assert!(
            matches!(&rest[..semi], "amp" | "lt" | "gt" | "quot"),
            "entity {}",
            &rest[..semi]
        );
    }
}

/// Every number in coordinate attributes, which must all be finite.
fn coordinates(svg: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for attr in [
        " x=\"",
        " y=\"",
        " x1=\"",
        " y1=\"",
        " x2=\"",
        " y2=\"",
        " cx=\"",
        " cy=\"",
        " points=\"",
    ] {
        for piece in svg.split(attr).skip(1) {
            let value = &piece[..piece.find('"').unwrap()];
            for number in value.split([' ', ',']) {
                let n: f64 = number.parse().unwrap_or_else(|_| panic!("{attr}{value}"));
                assert!(n.is_finite());
                out.push(n);
            }
        }
    }
    out
}

/// The text of each `<g class="panel"` element.
fn panels(svg: &str) -> Vec<&str> {
    svg.split("<g class=\"panel\"")
        .skip(1)
        .map(|p| &p[..p.find("</g>").unwrap()])
        .collect()
}

#[test]
fn svg_has_two_panels_with_one_polyline_per_response_size() {
    let rows = rows(EXAMPLE);
    let svg = to_svg(&rows);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let names = check_xml(&svg);
    assert_eq!(names[0], "svg");
    let lower = svg.to_ascii_lowercase();
    assert!(!lower.contains("nan") && !lower.contains("inf"));
    assert!(!coordinates(&svg).is_empty());
    let panels = panels(&svg);
    assert_eq!(panels.len(), 2);
    for panel in &panels {
        assert_eq!(panel.matches("<polyline").count(), 4, "one per size");
        assert_eq!(
            panel.matches("<circle").count(),
            rows.len(),
            "one marker per row"
        );
        assert!(panel.contains("ProxyResponseBufferSize (log scale)"));
        for tick in ["64k", "1m", "8m"] {
            assert!(panel.contains(&format!(">{tick}</text>")), "x tick {tick}");
        }
    }
    assert!(panels[0].contains("Backend hold"));
    assert!(
        panels[0].contains(">1 ms</text>"),
        "decade ticks on the hold axis"
    );
    assert!(panels[1].contains("Peak occupancy"));
    for size in ["64 KiB", "256 KiB", "1 MiB", "4 MiB"] {
        assert!(
            svg.contains(&format!(">{size}</text>")),
            "legend entry {size}"
        );
    }
    assert!(
        svg.contains("ProxyIOBufferSize 16k · SendBufferSize 64k"),
        "fixed axes named"
    );
}

#[test]
fn svg_stays_well_formed_at_the_edges() {
    // No rows at all.
    let svg = to_svg(&[]);
    check_xml(&svg);
    assert_eq!(panels(&svg).len(), 2);
    assert!(svg.contains("no data"));
    // One point; zero holds (a failed point); huge values; many series.
    let mut rows = rows(
        "--io 4k,16k --response-buffer 1m --sndbuf 0,64k --size 0,1g --read-rate 1,1g --mode copy,splice",
    );
    rows[0].hold_p99_us = 0;
    rows[1].peak_occupancy_bytes = 0;
    rows[2].hold_p99_us = u64::MAX;
    rows[3].peak_occupancy_bytes = u64::MAX;
    rows[4].requests_per_sec = f64::INFINITY;
    rows[5].note = "<script>&</script>".into();
    let svg = to_svg(&rows);
    check_xml(&svg);
    coordinates(&svg);
    let lower = svg.to_ascii_lowercase();
    assert!(!lower.contains("nan") && !lower.contains("inf"));
    let panels = panels(&svg);
    assert_eq!(panels.len(), 2);
    assert_eq!(
        panels[1].matches("<polyline").count(),
        32,
        "every series has a line"
    );
    assert!(
        svg.contains("io 16k, sndbuf 64k, 1 GiB/s, splice"),
        "labels name what varies"
    );
    // The legend grows the image instead of running off it.
    let height: f64 = svg
        .split("height=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(height >= 84.0 + 40.0 + 18.0 * 32.0);
}

#[test]
fn writes_the_example_plot_when_asked() {
    let Some(path) = std::env::var_os("SWEEP_EXAMPLE_SVG") else {
        return;
    };
    let rows = rows(EXAMPLE);
    std::fs::write(&path, to_svg(&rows)).unwrap();
    std::fs::write(
        std::path::Path::new(&path).with_extension("csv"),
        to_csv(&rows),
    )
    .unwrap();
    std::fs::write(
        std::path::Path::new(&path).with_extension("txt"),
        recommend(&rows, 10_000, MIB),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Recommendation

#[test]
fn recommends_the_smallest_response_buffer_meeting_the_target() {
    let rows = rows(EXAMPLE);
    let text = recommend(&rows, 10_000, MIB);
    assert_eq!(text.lines().count(), 1, "{text}");
    // A 1 MiB response with a 64k send buffer fits in 1m (not 512k: it would be held for
    // (1m − 512k − 64k) / 256k/s ≈ 1.75 s).
    assert!(
        text.starts_with(
            "To release 99% of backends within 10 ms for responses up to 1 MiB with clients \
             reading 256 KiB/s, set ProxyResponseBufferSize 1m and ProxyIOBufferSize 16k \
             (measured with SendBufferSize 64k and ProxySplice Off; backend hold p99 at most"
        ),
        "{text}"
    );
    assert!(
        text.contains("Memory cost ≈ 1000 MiB of blocks per 1000 slow clients"),
        "{text}"
    );
    assert!(
        text.contains("plus 62.5 MiB of kernel send buffers"),
        "{text}"
    );
    assert!(
        text.contains("4 of 8 settings measured meet the target"),
        "{text}"
    );
    // A size limit between measured sizes counts the sizes below it and says so.
    let text = recommend(&rows, 10_000, 2 * MIB);
    assert!(
        text.contains("(1 MiB is the largest measured size up to 2 MiB.)"),
        "{text}"
    );
}

#[test]
fn says_plainly_when_no_setting_meets_the_target() {
    let rows = rows(
        "--io 16k --response-buffer 64k,256k,1m --sndbuf 64k --size 64k,1m,2m --read-rate 256k",
    );
    let text = recommend(&rows, 10_000, 2 * MIB);
    assert!(
        text.starts_with(
            "No measured setting can release 99% of backends within 10 ms for responses up to \
             2 MiB with clients reading 256 KiB/s. The closest, ProxyResponseBufferSize 1m and \
             ProxyIOBufferSize 16k (SendBufferSize 64k, ProxySplice Off), held backends up to \
             4.19 s at the 99th percentile."
        ),
        "{text}"
    );
    assert!(text.contains("ProxyTempPath"), "{text}");
    let text = recommend(&rows, 10, MIB);
    assert!(
        text.starts_with("No measured setting"),
        "a target below any hold: {text}"
    );
    let text = recommend(&rows, 10_000, 32 * KIB);
    assert!(
        text.starts_with("Nothing to recommend: no measured response is 32 KiB or smaller"),
        "{text}"
    );
    assert!(recommend(&[], 10_000, MIB).starts_with("Nothing to recommend"));
}

#[test]
fn failed_requests_disqualify_a_setting() {
    let mut rows = rows(EXAMPLE);
    for row in rows.iter_mut() {
        if row.point.response_buffer == MIB && row.point.response_size == 64 * KIB {
            row.errors = 2;
        }
    }
    let text = recommend(&rows, 10_000, MIB);
    assert!(text.contains("set ProxyResponseBufferSize 2m"), "{text}");
    assert!(
        text.contains("One more setting was fast enough but had failed requests"),
        "{text}"
    );
}

#[test]
fn ties_go_to_less_memory_then_the_smaller_block_then_copy() {
    // Same ProxyResponseBufferSize, both meet: the one holding less per response wins.
    let base =
        rows("--io 4k,16k --response-buffer 1m --size 1m --read-rate 256k --mode copy,splice");
    let mut by_memory = base.clone();
    for row in by_memory.iter_mut() {
        row.peak_occupancy_bytes =
            if row.point.io_buffer == 16 * KIB && row.point.mode == Mode::Splice {
                512 * KIB
            } else {
                MIB
            };
    }
    let text = recommend(&by_memory, 10_000, MIB);
    assert!(
        text.contains("ProxyIOBufferSize 16k (measured with SendBufferSize 64k and ProxySplice On"),
        "{text}"
    );
    assert!(text.contains("500 MiB of blocks"), "{text}");
    // Everything equal: the smaller block, then copy.
    let mut equal = base.clone();
    for row in equal.iter_mut() {
        row.peak_occupancy_bytes = MIB;
        row.hold_p99_us = 4096;
        row.requests_per_sec = 100.0;
    }
    let text = recommend(&equal, 10_000, MIB);
    assert!(
        text.contains("ProxyIOBufferSize 4k (measured with SendBufferSize 64k and ProxySplice Off"),
        "{text}"
    );
    assert!(text.contains("4 of 4 settings"), "{text}");
    // The same again, in reverse order: the answer does not depend on the row order.
    let mut reversed = equal.clone();
    reversed.reverse();
    assert_eq!(recommend(&reversed, 10_000, MIB), text);
    // A hold exactly at the target meets it.
    let at_target = recommend(&equal, 4096, MIB);
    assert!(
        at_target.starts_with("To release 99% of backends within 4.1 ms"),
        "{at_target}"
    );
}

#[test]
fn one_paragraph_per_read_rate_slowest_first() {
    let rows = rows(
        "--io 16k --response-buffer 256k,1m,4m --size 64k,1m,2m --read-rate 128k,1m --mode copy",
    );
    let text = recommend(&rows, 10_000, 2 * MIB);
    let paragraphs: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(paragraphs.len(), 2, "{text}");
    assert!(paragraphs[0].contains("reading 128 KiB/s"), "{text}");
    assert!(paragraphs[1].contains("reading 1 MiB/s"), "{text}");
    assert!(
        paragraphs[0].contains("set ProxyResponseBufferSize 4m"),
        "{text}"
    );
}

#[test]
fn a_setting_not_measured_at_every_size_is_not_judged() {
    let mut rows = rows("--io 16k --response-buffer 1m,4m --size 64k,1m --read-rate 256k");
    // The 1m setting lost its 1 MiB point (the driver could not run it).
    rows.retain(|r| !(r.point.response_buffer == MIB && r.point.response_size == MIB));
    let text = recommend(&rows, 10_000, MIB);
    assert!(text.contains("set ProxyResponseBufferSize 4m"), "{text}");
    rows.retain(|r| r.point.response_size != MIB || r.point.response_buffer != 4 * MIB);
    let text = recommend(&rows, 10_000, MIB);
    assert!(
        text.contains("set ProxyResponseBufferSize 1m"),
        "only 64k measured now: {text}"
    );
    let mut split = rows.clone();
    split[0].point.response_size = MIB;
    split.truncate(2);
    split[1].point.response_buffer = 2 * MIB;
    let text = recommend(&split, 10_000, MIB);
    assert!(text.starts_with("Cannot say how to"), "{text}");
}
