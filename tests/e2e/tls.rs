//! HTTPS on the public listener: certificates made at test time with
//! rcgen, h2 and http/1.1 chosen by ALPN (reqwest and curl as clients), the
//! certificate reloaded on SIGHUP without dropping open connections, and
//! bad certificate files as clear errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{TestServer, repo_path, run_binary, single_app};

/// A self-signed certificate for `localhost` and 127.0.0.1, its subject
/// and serial set apart by `name` and `serial`.
struct Cert {
    pem: String,
    der: Vec<u8>,
    key_pem: String,
}

fn make_cert(name: &str, serial: u64) -> Cert {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.serial_number = Some(rcgen::SerialNumber::from(serial));
    let key = rcgen::KeyPair::generate().expect("key pair");
    let cert = params.self_signed(&key).expect("self-signed certificate");
    Cert {
        pem: cert.pem(),
        der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
    }
}

/// Where a test keeps its certificate files, and the config that serves
/// examples/hello.wat over HTTPS with them.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(cert: &Cert) -> Files {
        let files = Files {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        files.install(cert);
        files
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// Replaces the files, each with one rename, as a certificate renewal
    /// tool would, so that no reader sees half a file.
    fn install(&self, cert: &Cert) {
        write_atomically(&self.cert(), &cert.pem);
        write_atomically(&self.key(), &cert.key_pem);
    }

    fn config(&self) -> String {
        let hello = repo_path("examples/hello.wat").display().to_string();
        format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n{}",
            self.cert().display(),
            self.key().display(),
            single_app(&hello, "")
        )
    }
}

fn write_atomically(path: &Path, text: &str) {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// An HTTPS client that trusts `cert` only and reaches `localhost` at
/// `addr`; `http1` keeps it to http/1.1, else it offers h2 first.
fn client(cert: &Cert, addr: SocketAddr, http1: bool) -> reqwest::Client {
    // reqwest is built without a crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = reqwest::Certificate::from_pem(cert.pem.as_bytes()).expect("root certificate");
    let builder = reqwest::Client::builder()
        .tls_certs_only([root])
        .tls_info(true)
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(20));
    let builder = if http1 { builder.http1_only() } else { builder };
    builder.build().expect("client")
}

struct Answer {
    status: u16,
    version: reqwest::Version,
    peer_certificate: Vec<u8>,
    body: String,
}

async fn get(client: &reqwest::Client, addr: SocketAddr) -> reqwest::Result<Answer> {
    get_padded(client, addr, 0).await
}

/// A GET with an `x-pad` header of `pad` bytes, if `pad` is not 0.
async fn get_padded(
    client: &reqwest::Client,
    addr: SocketAddr,
    pad: usize,
) -> reqwest::Result<Answer> {
    let mut request = client.get(format!("https://localhost:{}/", addr.port()));
    if pad > 0 {
        request = request.header("x-pad", "a".repeat(pad));
    }
    let response = request.send().await?;
    let peer_certificate = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("TLS info")
        .to_vec();
    Ok(Answer {
        status: response.status().as_u16(),
        version: response.version(),
        peer_certificate,
        body: response.text().await?,
    })
}

#[test]
fn https_serves_h2_and_http1_by_alpn() {
    let cert = make_cert("first", 1);
    let files = Files::new(&cert);
    let server = TestServer::start(&files.config());
    assert!(server.log().contains("listening on https://"));
    let addr = server.addr;
    runtime().block_on(async {
        let h2 = get(&client(&cert, addr, false), addr).await.expect("h2");
        assert_eq!(h2.status, 200);
        assert_eq!(h2.version, reqwest::Version::HTTP_2);
        assert_eq!(h2.body, "Hello from serverless-wasm!\n");
        assert_eq!(h2.peer_certificate, cert.der);
        let http1 = get(&client(&cert, addr, true), addr)
            .await
            .expect("http/1.1");
        assert_eq!(http1.status, 200);
        assert_eq!(http1.version, reqwest::Version::HTTP_11);
    });
}

/// h2 reads the header block up to `max_header_bytes` too (its
/// SETTINGS_MAX_HEADER_LIST_SIZE) and answers a larger one 431.
#[test]
fn h2_header_over_the_limit_is_431() {
    let cert = make_cert("h2 limit", 4);
    let files = Files::new(&cert);
    let server = TestServer::start(&format!("max_header_bytes = 16384\n{}", files.config()));
    let addr = server.addr;
    runtime().block_on(async {
        let client = client(&cert, addr, false);
        let over = get_padded(&client, addr, 20_000).await.expect("over");
        assert_eq!((over.version, over.status), (reqwest::Version::HTTP_2, 431));
        let under = get_padded(&client, addr, 15_000).await.expect("under");
        assert_eq!(
            (under.version, under.status),
            (reqwest::Version::HTTP_2, 200)
        );
    });
}

#[test]
fn curl_speaks_h2_with_the_certificate() {
    let cert = make_cert("curl", 2);
    let files = Files::new(&cert);
    let server = TestServer::start(&files.config());
    let port = server.addr.port();
    let output = Command::new("curl")
        .args(["-sS", "--http2", "--max-time", "20", "-o", "/dev/null"])
        .args(["-w", "%{http_version} %{http_code}"])
        .arg("--cacert")
        .arg(files.cert())
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}/"))
        .output()
        .expect("run curl");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "2 200",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_open_connections() {
    let old = make_cert("old", 10);
    let new = make_cert("new", 11);
    let files = Files::new(&old);
    let server = TestServer::start(&files.config());
    let addr = server.addr;
    runtime().block_on(async {
        // One HTTP/2 connection, opened before the reload and kept by the
        // client's pool; the client trusts the old certificate only.
        let before = client(&old, addr, false);
        assert_eq!(get(&before, addr).await.expect("before").status, 200);

        files.install(&new);
        server.hangup();
        server.wait_for_log("reloaded the TLS certificate");

        // A new connection is shown the new certificate...
        let answer = get(&client(&new, addr, false), addr)
            .await
            .expect("new connection, new certificate");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.peer_certificate, new.der);
        assert!(
            get(&client(&old, addr, false), addr).await.is_err(),
            "a new connection still shown the old certificate"
        );
        // ...while the connection opened before goes on with the old one.
        let answer = get(&before, addr).await.expect("old connection");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.peer_certificate, old.der);

        // A reload that fails keeps the certificate in use.
        std::fs::write(files.cert(), "not a certificate\n").expect("write");
        server.hangup();
        let log = server.wait_for_log("TLS certificate not reloaded");
        assert!(
            log.lines()
                .any(|line| line.contains("TLS certificate not reloaded")
                    && line.contains(&files.cert().display().to_string())),
            "the warning names the file:\n{log}"
        );
        let answer = get(&client(&new, addr, true), addr)
            .await
            .expect("still the new certificate");
        assert_eq!(answer.peer_certificate, new.der);
    });
}

#[test]
fn bad_certificate_files_stop_the_start_naming_the_file() {
    let cert = make_cert("bad", 3);
    let files = Files::new(&cert);
    let config = files.dir.path().join("config.toml");
    let serve = |config: &Path| {
        let output = run_binary(&[
            "serve",
            config.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };

    std::fs::write(files.cert(), "-----BEGIN CERTIFICATE-----\ngarbage\n").expect("write");
    std::fs::write(&config, files.config()).expect("write config");
    let stderr = serve(&config);
    assert!(
        stderr.contains(&files.cert().display().to_string()),
        "{stderr}"
    );

    files.install(&cert);
    std::fs::remove_file(files.key()).expect("remove key");
    let stderr = serve(&config);
    assert!(
        stderr.contains(&files.key().display().to_string()),
        "{stderr}"
    );
}
