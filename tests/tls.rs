//! TLS termination against real rustls clients: the certificate chosen by SNI among virtual
//! hosts, ALPN, resumption, both protocol versions, bad certificate files refused at their
//! line, a stalled handshake timed out, large bodies byte-exact to a slow reader with the
//! backend released early, and the backend told the scheme (X-Forwarded-Proto, https
//! Locations).

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A test certificate authority and the files of the leaves it signed, in a directory of its
/// own.
struct Pki {
    dir: PathBuf,
    ca: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

impl Pki {
    fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "spoonfeed-tls-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "spoonfeed test CA");
        let key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let ca = ca.der().clone();
        Pki {
            dir,
            ca,
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes a certificate for `names` signed by the CA, and its key, as `stem.crt` and
    /// `stem.key`; returns the paths and the certificate.
    fn leaf(
        &self,
        stem: &str,
        names: &[&str],
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> (PathBuf, PathBuf, CertificateDer<'static>) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate_for(alg).unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let (crt, pem) = (
            self.dir.join(format!("{stem}.crt")),
            self.dir.join(format!("{stem}.key")),
        );
        std::fs::write(&crt, cert.pem()).unwrap();
        std::fs::write(&pem, key.serialize_pem()).unwrap();
        (crt, pem, cert.der().clone())
    }

    fn client(&self) -> Arc<ClientConfig> {
        self.client_with(&[&rustls::version::TLS13, &rustls::version::TLS12])
    }

    fn client_with(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection to `at` naming `sni`; the handshake is completed before it returns.
fn handshake(at: SocketAddr, config: &Arc<ClientConfig>, sni: &str) -> std::io::Result<Tls> {
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let conn = ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut tls = StreamOwned::new(conn, connect(at));
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// Sends `raw` over a new TLS connection to `at` naming `sni` and reads one response.
fn send(at: SocketAddr, config: &Arc<ClientConfig>, sni: &str, raw: &[u8]) -> Response {
    let mut tls = handshake(at, config, sni).expect("handshake");
    tls.write_all(raw).unwrap();
    read_response(&mut BufReader::new(tls), false).expect("a response")
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn sni_selects_each_virtual_host_s_certificate_and_the_backend_learns_the_scheme() {
    let pki = Pki::new();
    let backend = origin();
    let port = backend.addr().port();
    let (a_crt, a_key, a_der) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let (b_crt, b_key, b_der) = pki.leaf("b", &["b.test", "*.b.test"], &rcgen::PKCS_ED25519);
    let (c_crt, c_key, c_der) = pki.leaf("c", &["c.test"], &rcgen::PKCS_ECDSA_P384_SHA384);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\n\
         <VirtualHost *>\nServerName a.test\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{port}/\n</VirtualHost>\n\
         <VirtualHost *>\nServerName b.test\nServerAlias *.b.test\nSSLEngine On\n\
         SSLCertificateFile {}\nSSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{port}/\n\
         </VirtualHost>\n\
         <VirtualHost *>\nServerName c.test\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{port}/\n</VirtualHost>\n",
        path(&a_crt),
        path(&a_key),
        path(&b_crt),
        path(&b_key),
        path(&c_crt),
        path(&c_key),
    ));
    let client = pki.client();
    for (name, der) in [
        ("a.test", &a_der),
        ("b.test", &b_der),
        ("www.b.test", &b_der),
        ("c.test", &c_der),
    ] {
        let mut tls = handshake(proxy.addr, &client, name).expect("handshake");
        assert_eq!(tls.conn.peer_certificates().unwrap()[0], *der, "{name}");
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        let request = format!(
            "GET /inspect HTTP/1.1\r\nHost: {name}\r\nX-Forwarded-Proto: gopher\r\n\
             Connection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes()).unwrap();
        let r = read_response(&mut BufReader::new(tls), false).unwrap();
        assert_eq!(r.status, 200, "{name}: {}", r.head);
        let seen = r.text();
        assert!(seen.contains("X-Forwarded-Proto: https\r\n"), "{seen}");
        assert!(!seen.contains("gopher"), "{seen}");
    }
    // A name no host answers to gets the first host's certificate, as Apache does.
    let unknown = handshake(proxy.addr, &pki.client(), "unknown.test");
    let err = unknown.expect_err("the first host's certificate does not name unknown.test");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[test]
fn a_host_other_than_the_sni_name_is_misdirected() {
    let pki = Pki::new();
    let backend = origin();
    let port = backend.addr().port();
    let (a_crt, a_key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let (b_crt, b_key, _) = pki.leaf("b", &["b.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nProxyPass / http://127.0.0.1:{port}/\n\
         <VirtualHost *>\nServerName a.test\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n\
         </VirtualHost>\n\
         <VirtualHost *>\nServerName b.test\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n\
         </VirtualHost>\n",
        path(&a_crt),
        path(&a_key),
        path(&b_crt),
        path(&b_key),
    ));
    let client = pki.client();
    let r = send(
        proxy.addr,
        &client,
        "a.test",
        b"GET /bytes/10 HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 421, "{}", r.head);
    let r = send(
        proxy.addr,
        &client,
        "a.test",
        b"GET /bytes/10 HTTP/1.1\r\nHost: A.TEST:443\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.head);
}

#[test]
fn both_protocol_versions_resume_and_ssl_protocol_limits_them() {
    let pki = Pki::new();
    let backend = origin();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        backend.addr().port()
    ));
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let client = pki.client_with(&[version]);
        for round in 0..3 {
            let mut tls = handshake(proxy.addr, &client, "a.test").unwrap();
            assert_eq!(tls.conn.protocol_version(), Some(version.version));
            let resumed = tls.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            // TLS 1.3 tickets arrive after the handshake: read the response to get them.
            tls.write_all(b"GET /bytes/100 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
                .unwrap();
            let r = read_response(&mut BufReader::new(&mut tls), false).unwrap();
            assert_eq!((r.status, r.body.len()), (200, 100));
            assert_eq!(resumed, round > 0, "{version:?} round {round}");
        }
    }
    drop(proxy);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLProtocol all -TLSv1.2\n\
         SSLCertificateFile {}\nSSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        backend.addr().port()
    ));
    let old = pki.client_with(&[&rustls::version::TLS12]);
    assert!(handshake(proxy.addr, &old, "a.test").is_err());
    let new = pki.client_with(&[&rustls::version::TLS13]);
    assert!(handshake(proxy.addr, &new, "a.test").is_ok());
}

#[test]
fn keep_alive_requests_and_a_large_body_to_a_slow_reader_are_byte_exact() {
    let pki = Pki::new();
    let backend = origin();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nProxyResponseBufferSize 8m\nStatusLocation /status\n\
         ProxyPass /status !\nProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        backend.addr().port()
    ));
    let mut tls = handshake(proxy.addr, &pki.client(), "a.test").unwrap();
    let mut reader = BufReader::new(&mut tls);
    for size in [0usize, 1, 1000, 16 * 1024, 100_000] {
        reader
            .get_mut()
            .write_all(format!("GET /bytes/{size} HTTP/1.1\r\nHost: a.test\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut reader, false).unwrap();
        assert_eq!((r.status, r.body.len()), (200, size));
        assert_checksum(&r);
    }
    drop(reader);
    // 4 MiB to a reader that takes 64 KiB every 10 ms: the backend is released long before
    // the client has read the body.
    let size = 4 << 20;
    let mut tls = handshake(proxy.addr, &pki.client(), "a.test").unwrap();
    tls.write_all(
        format!("GET /bytes/{size} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let started = Instant::now();
    let mut wire = Vec::new();
    let mut chunk = vec![0; 64 << 10];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => wire.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("{e}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let read_for = started.elapsed();
    let r = read_response(&mut BufReader::new(&wire[..]), false).unwrap();
    assert_eq!((r.status, r.body.len()), (200, size));
    assert_checksum(&r);
    let status = send(
        proxy.addr,
        &pki.client(),
        "a.test",
        b"GET /status?format=json HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    )
    .text();
    let holds = &status[status
        .find("\"backend_hold_us\"")
        .expect("a hold histogram")..];
    let held = json_number(holds, "sum").expect("a hold sum");
    assert!(
        Duration::from_micros(held) < read_for,
        "backends held {held} µs in all, the client read for {read_for:?}: {status}"
    );
    let handshakes = json_number(&status, "tls_handshakes").expect("tls_handshakes in status");
    assert!(handshakes >= 2, "{status}");
}

fn assert_checksum(r: &Response) {
    if let Some(sum) = r.header("X-Checksum") {
        let got = spoonfeed_origin::checksum(&r.body);
        assert_eq!(spoonfeed_origin::to_hex(got), sum);
    }
}

/// The number after `"key":` in a JSON text.
fn json_number(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = json[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn a_client_that_stalls_mid_handshake_is_timed_out() {
    let pki = Pki::new();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nRequestReadTimeout header=1\nProxyPass / http://127.0.0.1:9/\n",
        path(&crt),
        path(&key),
    ));
    // The first bytes of a ClientHello record, then nothing.
    let mut s = proxy.connect();
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
    let started = Instant::now();
    let got = read_until_close(&mut s);
    assert!(got.is_empty(), "{got:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Plain HTTP on the TLS port is a failed handshake, not a request.
    let mut s = proxy.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .unwrap();
    let got = read_until_close(&mut s);
    assert!(!got.starts_with(b"HTTP/"), "{got:?}");
}

#[test]
fn bad_certificate_files_are_errors_at_their_line() {
    let pki = Pki::new();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let (_, other_key, _) = pki.leaf("b", &["b.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let errors = |text: &str| -> Vec<String> {
        match spoonfeed::config::parse_str(text, Path::new("t.conf")) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
        }
    };
    let missing = pki.dir.join("missing.crt");
    for (text, line, says) in [
        (
            format!(
                "Listen 443\nSSLEngine On\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n",
                path(&missing),
                path(&key)
            ),
            3,
            "cannot read certificates",
        ),
        (
            format!(
                "Listen 443\nSSLEngine On\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n",
                path(&garbage),
                path(&key)
            ),
            3,
            "holds no PEM certificate",
        ),
        (
            format!(
                "Listen 443\nSSLEngine On\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n",
                path(&crt),
                path(&other_key)
            ),
            3,
            "do not make a usable certificate",
        ),
        (
            format!(
                "Listen 443\nSSLEngine On\nSSLCertificateFile {}\n",
                path(&crt)
            ),
            3,
            "private key",
        ),
        (
            "Listen 443\nSSLEngine On\n".to_owned(),
            2,
            "needs SSLCertificateFile",
        ),
        (
            "Listen 8443 https\n".to_owned(),
            1,
            "no server for this address has SSLEngine On",
        ),
        (
            "Listen 443\n".to_owned(),
            1,
            "no server for this address has SSLEngine On",
        ),
        (
            "Listen 80\nSSLProtocol TLSv1.1\n".to_owned(),
            2,
            "TLSv1.2 and TLSv1.3 only",
        ),
    ] {
        let found = errors(&text);
        let want = format!("t.conf:{line}: ");
        assert!(
            found
                .iter()
                .any(|e| e.starts_with(&want) && e.contains(says)),
            "{text}: {found:?} lacks {want}…{says}"
        );
    }
    assert!(errors(&format!(
        "Listen 443\nSSLEngine On\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n",
        path(&crt),
        path(&key)
    ))
    .is_empty());
}

#[test]
fn a_reload_brings_new_certificates_to_new_connections() {
    let pki = Pki::new();
    let backend = origin();
    let (old_crt, old_key, old_der) = pki.leaf("old", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let (new_crt, new_key, new_der) = pki.leaf("new", &["a.test"], &rcgen::PKCS_ED25519);
    let text = |crt: &Path, key: &Path| {
        format!(
            "Listen 127.0.0.1:0 https\nWorkers 1\nSSLEngine On\nSSLCertificateFile {}\n\
             SSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{}/\n",
            path(crt),
            path(key),
            backend.addr().port()
        )
    };
    let proxy = Proxy::start(&text(&old_crt, &old_key));
    let client = pki.client();
    let before = handshake(proxy.addr, &client, "a.test").unwrap();
    assert_eq!(before.conn.peer_certificates().unwrap()[0], old_der);
    let cfg = spoonfeed::config::parse_str(&text(&new_crt, &new_key), Path::new("reload.conf"))
        .unwrap()
        .config;
    proxy.server.as_ref().unwrap().reload(&cfg);
    // The reload reaches the reactor through its control queue: new connections see the new
    // certificate once it has been taken, which the first few handshakes may race.
    let seen = (0..200)
        .map(|_| handshake(proxy.addr, &client, "a.test").unwrap())
        .map(|tls| tls.conn.peer_certificates().unwrap()[0].clone())
        .find(|der| *der == new_der);
    assert!(seen.is_some(), "the new certificate never came");
    // The connection made before the reload goes on with its session.
    let mut before = before;
    before
        .write_all(b"GET /bytes/5 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(before), false).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 5));
}

#[test]
fn each_listener_routes_by_its_own_virtual_hosts_and_locations_come_back_https() {
    // Two loopback addresses tell the listeners apart (ports are chosen by the system).
    let pki = Pki::new();
    let secure = origin();
    let plain = origin();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.2:0 https\nListen 127.0.0.1:0\n\
         <VirtualHost 127.0.0.2>\nServerName a.test\nProxyAddForwarded On\nSSLEngine On\n\
         SSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nProxyPass /login http://127.0.0.1:{s}/inspect\n\
         ProxyPass / http://127.0.0.1:{s}/\nProxyPassReverse / http://127.0.0.1:{s}/\n</VirtualHost>\n\
         <VirtualHost 127.0.0.1>\nServerName a.test\nProxyPass /login http://127.0.0.1:{p}/inspect\n\
         ProxyPass / http://127.0.0.1:{p}/\nProxyPassReverse / http://127.0.0.1:{p}/\n</VirtualHost>\n",
        path(&crt),
        path(&key),
        s = secure.addr().port(),
        p = plain.addr().port(),
    ));
    let addrs = proxy.server.as_ref().unwrap().local_addrs().to_vec();
    let secure_at = *addrs
        .iter()
        .find(|a| a.ip().to_string() == "127.0.0.2")
        .unwrap();
    let plain_at = *addrs
        .iter()
        .find(|a| a.ip().to_string() == "127.0.0.1")
        .unwrap();
    let r = send(
        secure_at,
        &pki.client(),
        "a.test",
        b"GET /login HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(
        r.text().contains("X-Forwarded-Proto: https\r\n"),
        "{}",
        r.text()
    );
    assert!(
        r.text()
            .contains("Forwarded: for=127.0.0.1;host=\"a.test\";proto=https\r\n"),
        "{}",
        r.text()
    );
    let r = send(
        secure_at,
        &pki.client(),
        "a.test",
        b"GET /redirect?to=/account HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 302, "{}", r.head);
    assert_eq!(r.header("Location"), Some("https://a.test/account"));
    let mut s = connect(plain_at);
    s.write_all(b"GET /redirect?to=/account HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.header("Location"), Some("http://a.test/account"));
    let mut s = connect(plain_at);
    s.write_all(b"GET /login HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert!(
        r.text().contains("X-Forwarded-Proto: http\r\n"),
        "{}",
        r.text()
    );
    assert!(!r.text().contains("\r\nForwarded:"), "{}", r.text());
    // Each listener's backend saw exactly its own requests.
    assert_eq!(secure.stats().requests, 2);
    assert_eq!(plain.stats().requests, 2);
}

#[test]
fn a_response_spilled_to_disk_is_sealed_from_the_file_byte_exact() {
    let pki = Pki::new();
    let backend = origin();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let temp = pki.dir.join("spill");
    std::fs::create_dir_all(&temp).unwrap();
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nProxyResponseBufferSize 64k\nProxyTempPath {}\n\
         SendBufferSize 65536\nStatusLocation /status\nProxyPass /status !\nProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        path(&temp),
        backend.addr().port()
    ));
    let size = 8 << 20;
    let mut tls = handshake(proxy.addr, &pki.client(), "a.test").unwrap();
    tls.write_all(
        format!("GET /bytes/{size} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    // Not read until the status endpoint says the response went to the file.
    let spilled = (0..500).find_map(|_| {
        let status = send(
            proxy.addr,
            &pki.client(),
            "a.test",
            b"GET /status?format=json HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        )
        .text();
        json_number(&status, "spilled_responses").filter(|n| *n > 0)
    });
    assert_eq!(spilled, Some(1));
    let r = read_response(&mut BufReader::new(tls), false).unwrap();
    assert_eq!((r.status, r.body.len()), (200, size));
    assert_checksum(&r);
}

#[test]
fn a_websocket_upgrade_over_tls_tunnels_both_ways() {
    let pki = Pki::new();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let backend = Scripted::start(|_, mut s| {
        let head = String::from_utf8(read_head(&mut s).unwrap()).unwrap();
        assert!(head.contains("\r\nUpgrade: websocket\r\n"), "{head}");
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .unwrap();
        let mut buf = [0; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        backend.addr.port()
    ));
    let mut tls = handshake(proxy.addr, &pki.client(), "a.test").unwrap();
    tls.write_all(
        b"GET /chat HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(tls);
    let head = String::from_utf8(read_head(&mut r).unwrap()).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut tls = r.into_inner();
    // Frames larger than a TLS record, both ways, byte-exact.
    let frame: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    tls.write_all(&frame).unwrap();
    let mut echoed = vec![0; frame.len()];
    tls.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, frame);
    // Our close_notify reaches the backend as a half-close; its close comes back as ours.
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let mut rest = Vec::new();
    match tls.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{rest:?}"),
        Err(e) => panic!("the tunnel did not end cleanly: {e}"),
    }
}

/// spoonfeed terminating TLS in front of the origin, with a certificate for 127.0.0.1 and
/// `name` signed by `pki`'s CA: an https backend for another spoonfeed.
fn tls_backend(pki: &Pki, origin: &spoonfeed_origin::Origin, names: &[&str]) -> Proxy {
    let (crt, key, _) = pki.leaf("backend", names, &rcgen::PKCS_ECDSA_P256_SHA256);
    Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nStatusLocation /status\nProxyPass /status !\n\
         ProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        origin.addr().port()
    ))
}

#[test]
fn https_backends_are_verified_pooled_and_byte_exact() {
    let pki = Pki::new();
    let origin = origin();
    let backend = tls_backend(&pki, &origin, &["127.0.0.1"]);
    let proxy = Proxy::start(&format!(
        "SSLProxyEngine On\nSSLProxyCACertificateFile {}\nProxyResponseBufferSize 8m\n\
         ProxyPass / https://127.0.0.1:{}/\n",
        path(&pki.dir.join("ca.pem")),
        backend.addr.port()
    ));
    let mut s = proxy.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for size in [0usize, 1, 5000, 70_000, 4 << 20, 3] {
        s.write_all(format!("GET /bytes/{size} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut reader, false).unwrap();
        assert_eq!((r.status, r.body.len()), (200, size), "{}", r.head);
        assert_checksum(&r);
    }
    // A request body goes up through TLS too.
    let body = vec![b'x'; 300_000];
    s.write_all(
        format!(
            "POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let r = read_response(&mut reader, false).unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    // One TLS connection carried all of it: the backend saw one handshake.
    let status = send(
        backend.addr,
        &pki.client(),
        "127.0.0.1",
        b"GET /status?format=json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .text();
    // Ours for the status request, and the proxy's one.
    assert_eq!(json_number(&status, "tls_handshakes"), Some(2), "{status}");
}

#[test]
fn an_https_backend_that_does_not_verify_is_a_502_unless_told_not_to_check() {
    let pki = Pki::new();
    let origin = origin();
    let backend = tls_backend(&pki, &origin, &["other.test"]);
    let ca = path(&pki.dir.join("ca.pem"));
    let port = backend.addr.port();
    // The name in the URL is not the certificate's.
    let proxy = Proxy::start(&format!(
        "SSLProxyEngine On\nSSLProxyCACertificateFile {ca}\nStatusLocation /status\n\
         ProxyPass /status !\nProxyPass / https://127.0.0.1:{port}/\n"
    ));
    assert_eq!(proxy.get("/bytes/10").status, 502);
    let status = proxy.get("/status?format=json").text();
    assert_eq!(
        json_number(&status, "backend_tls_errors"),
        Some(1),
        "{status}"
    );
    // A CA that did not sign it (the system's bundle).
    let other = Pki::new();
    let proxy = Proxy::start(&format!(
        "SSLProxyEngine On\nSSLProxyCACertificateFile {}\nProxyPass / https://127.0.0.1:{port}/\n",
        path(&other.dir.join("ca.pem"))
    ));
    assert_eq!(proxy.get("/bytes/10").status, 502);
    // SSLProxyVerify none takes it.
    let proxy = Proxy::start(&format!(
        "SSLProxyEngine On\nSSLProxyVerify none\nProxyPass / https://127.0.0.1:{port}/\n"
    ));
    let r = proxy.get("/bytes/10");
    assert_eq!((r.status, r.body.len()), (200, 10));
}

#[test]
fn an_https_backend_needs_ssl_proxy_engine() {
    let errors = |text: &str| -> Vec<String> {
        match spoonfeed::config::parse_str(text, Path::new("t.conf")) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
        }
    };
    assert_eq!(
        errors("Listen 80\nProxyPass / https://127.0.0.1:8443/\n"),
        [
            "t.conf:2: https://127.0.0.1:8443 is an https backend: it needs SSLProxyEngine On \
          (here or in the main server)"
        ]
    );
    let missing = "Listen 80\nSSLProxyEngine On\nSSLProxyCACertificateFile /nonexistent/ca.pem\n\
                   ProxyPass / https://127.0.0.1:8443/\n";
    let found = errors(missing);
    assert!(
        found.len() == 1 && found[0].starts_with("t.conf:3: cannot read CA certificates"),
        "{found:?}"
    );
    let pki = Pki::new();
    let in_a_vhost = format!(
        "Listen 80\nSSLProxyCACertificateFile {}\n<VirtualHost *>\nSSLProxyEngine On\n\
         ProxyPass / https://127.0.0.1:8443/\n</VirtualHost>\n",
        path(&pki.dir.join("ca.pem"))
    );
    assert_eq!(errors(&in_a_vhost), Vec::<String>::new());
}

/// `name`'s path when it is installed. Missing, the test that wants it is skipped with a note,
/// unless `SPOONFEED_REQUIRE_TOOLS` is set (as `.ci/run` does, having installed them).
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("SPOONFEED_REQUIRE_TOOLS").is_none(),
            "{name} is required (SPOONFEED_REQUIRE_TOOLS) but not installed"
        );
        eprintln!("note: {name} is not installed; skipped");
    }
    found
}

#[test]
fn curl_and_openssl_clients_verify_and_fetch() {
    let (Some(curl), Some(openssl)) = (tool("curl"), tool("openssl")) else {
        return;
    };
    let pki = Pki::new();
    let backend = origin();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nServerName a.test\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        backend.addr().port()
    ));
    let port = proxy.addr.port();
    let ca = pki.dir.join("ca.pem");
    for version in ["--tlsv1.2", "--tlsv1.3"] {
        let out = std::process::Command::new(&curl)
            .args(["-sS", version, "--http1.1", "--cacert"])
            .arg(&ca)
            .args(["--resolve", &format!("a.test:{port}:127.0.0.1")])
            .args([
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download} %{ssl_verify_result}",
            ])
            .arg(format!("https://a.test:{port}/bytes/123456"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            said,
            "200 123456 0",
            "{version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = std::process::Command::new(&openssl)
        .args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-servername",
            "a.test",
        ])
        .args(["-connect", &format!("127.0.0.1:{port}"), "-CAfile"])
        .arg(&ca)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /bytes/10 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("HTTP/1.1 200 "),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("Content-Length: 10\r\n"), "{said}");
}

#[test]
fn ssl_cipher_suite_limits_and_orders_the_suites() {
    let pki = Pki::new();
    let backend = origin();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nSSLHonorCipherOrder On\n\
         SSLCipherSuite ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256\n\
         SSLCipherSuite TLSv1.3 TLS_AES_128_GCM_SHA256\n\
         ProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        backend.addr().port()
    ));
    use rustls::CipherSuite;
    for (version, want) in [
        (
            &rustls::version::TLS12,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            &rustls::version::TLS13,
            CipherSuite::TLS13_AES_128_GCM_SHA256,
        ),
    ] {
        let tls = handshake(proxy.addr, &pki.client_with(&[version]), "a.test").unwrap();
        let got = tls.conn.negotiated_cipher_suite().unwrap().suite();
        assert_eq!(got, want, "{version:?}");
    }
}

#[test]
fn strict_sni_refuses_names_no_virtual_host_answers_to() {
    let pki = Pki::new();
    let backend = origin();
    let port = backend.addr().port();
    let (a_crt, a_key, _) = pki.leaf(
        "a",
        &["a.test", "127.0.0.1"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let (b_crt, b_key, _) = pki.leaf("b", &["b.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLStrictSNIVHostCheck On\n\
         ProxyPass / http://127.0.0.1:{port}/\n\
         <VirtualHost *>\nServerName a.test\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n\
         </VirtualHost>\n\
         <VirtualHost *>\nServerName b.test\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n\
         </VirtualHost>\n",
        path(&a_crt),
        path(&a_key),
        path(&b_crt),
        path(&b_key),
    ));
    let client = pki.client();
    assert!(handshake(proxy.addr, &client, "a.test").is_ok());
    assert!(handshake(proxy.addr, &client, "b.test").is_ok());
    // A name no host has, and no name at all (an IP address sends no SNI): refused, although
    // a.test's certificate would have been the default and names 127.0.0.1.
    assert!(handshake(proxy.addr, &client, "c.test").is_err());
    assert!(handshake(proxy.addr, &client, "127.0.0.1").is_err());
}

#[test]
fn chains_with_an_intermediate_and_rsa_keys_verify() {
    let pki = Pki::new();
    let backend = origin();
    // Root → intermediate → leaf; the file holds the leaf, then the intermediate.
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "spoonfeed test intermediate");
    let inter_key = KeyPair::generate().unwrap();
    let inter = params.signed_by(&inter_key, &pki.issuer).unwrap();
    let inter_issuer = Issuer::new(params, inter_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["a.test".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &inter_issuer)
        .unwrap();
    let chain = pki.dir.join("chain.crt");
    std::fs::write(&chain, format!("{}{}", leaf.pem(), inter.pem())).unwrap();
    let chain_key = pki.dir.join("chain.key");
    std::fs::write(&chain_key, leaf_key.serialize_pem()).unwrap();
    let config = |crt: &Path, key: &Path| {
        format!(
            "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
             SSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{}/\n",
            path(crt),
            path(key),
            backend.addr().port()
        )
    };
    let proxy = Proxy::start(&config(&chain, &chain_key));
    let tls = handshake(proxy.addr, &pki.client(), "a.test").expect("the chain verifies");
    assert_eq!(tls.conn.peer_certificates().unwrap().len(), 2);
    // An RSA key (made by openssl: the test's crypto library makes no RSA keys), its
    // certificate signed by the test CA.
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let rsa_key = pki.dir.join("rsa.key");
    let made = std::process::Command::new(openssl)
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&rsa_key)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let rsa = KeyPair::from_pem(&std::fs::read_to_string(&rsa_key).unwrap()).unwrap();
    let cert = CertificateParams::new(vec!["a.test".to_owned()])
        .unwrap()
        .signed_by(&rsa, &pki.issuer)
        .unwrap();
    let rsa_crt = pki.dir.join("rsa.crt");
    std::fs::write(&rsa_crt, cert.pem()).unwrap();
    let proxy = Proxy::start(&config(&rsa_crt, &rsa_key));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut tls = handshake(proxy.addr, &pki.client_with(&[version]), "a.test").unwrap();
        tls.write_all(b"GET /bytes/3 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let r = read_response(&mut BufReader::new(tls), false).unwrap();
        assert_eq!((r.status, r.body.len()), (200, 3));
    }
}

#[test]
fn a_client_without_sni_reaches_no_strict_host_by_its_host_header() {
    let pki = Pki::new();
    let backend = origin();
    let port = backend.addr().port();
    let (a_crt, a_key, _) = pki.leaf(
        "a",
        &["a.test", "127.0.0.1"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let (b_crt, b_key, _) = pki.leaf("b", &["b.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nProxyPass / http://127.0.0.1:{port}/\n\
         <VirtualHost *>\nServerName a.test\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n\
         </VirtualHost>\n\
         <VirtualHost *>\nServerName b.test\nSSLStrictSNIVHostCheck On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\n</VirtualHost>\n",
        path(&a_crt),
        path(&a_key),
        path(&b_crt),
        path(&b_key),
    ));
    // No SNI (an IP address): the default host's certificate, but b.test stays out of reach.
    let get = |sni: &str, host: &str| {
        send(
            proxy.addr,
            &pki.client(),
            sni,
            format!("GET /bytes/2 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .status
    };
    assert_eq!(get("127.0.0.1", "a.test"), 200);
    assert_eq!(get("127.0.0.1", "b.test"), 421);
    assert_eq!(get("b.test", "b.test"), 200);
}

#[test]
fn a_tunnel_to_an_https_backend_carries_large_frames_both_ways() {
    let pki = Pki::new();
    let echo = Scripted::start(|_, mut s| {
        let _ = read_head(&mut s).unwrap();
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .unwrap();
        let mut buf = [0; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    // The https backend: a TLS-terminating spoonfeed in front of the echo.
    let (crt, key, _) = pki.leaf("backend", &["127.0.0.1"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let tls_backend = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        echo.addr.port()
    ));
    let proxy = Proxy::start(&format!(
        "SSLProxyEngine On\nSSLProxyCACertificateFile {}\nProxyPass / https://127.0.0.1:{}/\n",
        path(&pki.dir.join("ca.pem")),
        tls_backend.addr.port()
    ));
    let mut s = proxy.connect();
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let head = String::from_utf8(read_head(&mut r).unwrap()).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut s = r.into_inner();
    let frame: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();
    let writer = {
        let mut s = s.try_clone().unwrap();
        let frame = frame.clone();
        std::thread::spawn(move || s.write_all(&frame).unwrap())
    };
    let mut echoed = vec![0; frame.len()];
    s.read_exact(&mut echoed).unwrap();
    writer.join().unwrap();
    assert_eq!(echoed, frame);
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_until_close(&mut s).is_empty());
}

#[test]
fn cache_hits_go_out_through_the_blocks_on_tls() {
    let pki = Pki::new();
    let backend = origin();
    let (crt, key, _) = pki.leaf("a", &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let root = pki.dir.join("cache");
    std::fs::create_dir_all(&root).unwrap();
    let proxy = Proxy::start(&format!(
        "Listen 127.0.0.1:0 https\nSSLEngine On\nSSLCertificateFile {}\n\
         SSLCertificateKeyFile {}\nCacheRoot {}\nCacheEnable disk /\nCacheMaxFileSize 8m\n\
         ProxyPass / http://127.0.0.1:{}/\n",
        path(&crt),
        path(&key),
        path(&root),
        backend.addr().port()
    ));
    let get = || {
        send(
            proxy.addr,
            &pki.client(),
            "a.test",
            b"GET /bytes/3000000 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        )
    };
    let miss = get();
    let hit = get();
    assert!(
        hit.header("Cache-Status").unwrap().contains("hit"),
        "{}",
        hit.head
    );
    assert_eq!(hit.body.len(), 3_000_000);
    assert_eq!(hit.body, miss.body);
    assert_checksum(&hit);
    assert_eq!(backend.stats().requests, 1);
}
