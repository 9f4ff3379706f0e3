//! Module sources through the real server: a module served over HTTP by the
//! test, pinned by digest, refused when it does not match, is not there or
//! arrives truncated,
//! and served from the module cache when its server is gone at start-up;
//! the same from a real S3 (moto); and `poll_seconds` picking up new versions.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::harness::TestServer;
use crate::moto::Moto;
use crate::reload::greeting;
use crate::spin_manifests::sdk7_component;

/// A module as served: its bytes, and the Content-Length announced for them
/// (more than there are, for a truncated download).
#[derive(Clone)]
struct Served {
    body: Vec<u8>,
    announced: usize,
}

/// A small HTTP server of modules, by path; stopped (its port closed) on drop.
struct ModuleServer {
    addr: SocketAddr,
    files: Arc<Mutex<HashMap<String, Served>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ModuleServer {
    fn start() -> ModuleServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let files = Arc::new(Mutex::new(HashMap::<String, Served>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (served, stopping) = (files.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // The rest of the head, up to the blank line.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                let file = served.lock().unwrap().get(&path).cloned();
                let _ = match file {
                    Some(Served { body, announced }) => {
                        let etag = format!("{:x}", Sha256::digest(&body));
                        write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\nETag: \"{etag}\"\r\nConnection: close\r\n\r\n",
                        )
                        .and_then(|()| stream.write_all(&body))
                    }
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            }
        });
        ModuleServer {
            addr,
            files,
            stop,
            thread: Some(thread),
        }
    }

    fn put(&self, path: &str, body: &str) {
        self.put_announcing(path, body, body.len());
    }

    /// Serves `body` under a Content-Length of `announced`.
    fn put_announcing(&self, path: &str, body: &str, announced: usize) {
        let body = body.as_bytes().to_vec();
        let served = Served { body, announced };
        self.files.lock().unwrap().insert(path.into(), served);
    }

    fn put_bytes(&self, path: &str, body: Vec<u8>) {
        let announced = body.len();
        let served = Served { body, announced };
        self.files.lock().unwrap().insert(path.into(), served);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for ModuleServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the flag and closes the port.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn config(data_dir: &std::path::Path, source: &str, extra: &str) -> String {
    format!(
        "data_dir = \"{}\"\n[[applications]]\nname = \"hello\"\nsource = \"{source}\"\n\
         method = \"GET\"\nurl_path = \"/\"\n{extra}",
        data_dir.display()
    )
}

fn sha256(text: &str) -> String {
    format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
}

#[test]
fn an_http_module_is_served_and_pinned() {
    let modules = ModuleServer::start();
    let module = greeting("from http");
    modules.put("/m/hello.wat", &module);
    let data = tempfile::tempdir().expect("temp dir");
    let url = modules.url("/m/hello.wat");

    let pinned = format!("digest = \"{}\"\n", sha256(&module));
    let server = TestServer::start(&config(data.path(), &url, &pinned));
    assert_eq!(server.get("/").text(), "from http");
    drop(server);

    let wrong = format!("digest = \"{}\"\n", sha256("something else"));
    let log = TestServer::try_start(&config(data.path(), &url, &wrong))
        .err()
        .expect("refused");
    assert!(
        log.contains(&format!(
            "expected {}, got {}",
            sha256("something else"),
            sha256(&module)
        )),
        "{log}"
    );

    let log = TestServer::try_start(&config(data.path(), &modules.url("/nope.wat"), ""))
        .err()
        .expect("refused");
    assert!(log.contains("HTTP 404 from"), "{log}");

    modules.put_announcing("/short.wat", &module, module.len() + 1000);
    let log = TestServer::try_start(&config(data.path(), &modules.url("/short.wat"), ""))
        .err()
        .expect("refused");
    assert!(log.contains("is truncated"), "{log}");
}

#[test]
fn with_its_server_down_a_module_comes_from_the_cache() {
    let modules = ModuleServer::start();
    modules.put("/hello.wat", &greeting("cached"));
    let url = modules.url("/hello.wat");
    let data = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&config(data.path(), &url, ""));
    assert_eq!(server.get("/").text(), "cached");
    drop(server);
    drop(modules);

    let server = TestServer::start(&config(data.path(), &url, ""));
    assert_eq!(server.get("/").text(), "cached");
    let log = server.wait_for_log("serving the copy of");
    assert!(
        log.contains(&format!("serving the copy of {url} fetched")),
        "{log}"
    );
    drop(server);

    // Without a copy there is nothing to serve: the app is refused.
    let empty = tempfile::tempdir().expect("temp dir");
    let log = TestServer::try_start(&config(empty.path(), &url, ""))
        .err()
        .expect("refused");
    assert!(log.contains(&url), "{log}");
}

#[test]
fn poll_seconds_picks_up_a_new_version() {
    let modules = ModuleServer::start();
    modules.put("/hello.wat", &greeting("first"));
    let data = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "poll_seconds = 1\n{}",
        config(data.path(), &modules.url("/hello.wat"), "")
    );
    let server = TestServer::start(&config);
    assert_eq!(server.get("/").text(), "first");
    modules.put("/hello.wat", &greeting("second"));
    let changed = Instant::now();
    while server.get("/").text() != "second" {
        assert!(
            changed.elapsed() < Duration::from_secs(3),
            "{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.log().contains("changed) in"), "{}", server.log());
}

/// Uploads `body` to moto as `bucket/key`, with the content type moto needs.
async fn upload(moto: &Moto, bucket: &str, key: &str, body: &str) {
    use object_store::{Attribute, Attributes, ObjectStore as _, PutOptions};
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&moto.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_bucket_name(bucket)
        .build()
        .expect("an S3 client");
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/wasm".into());
    let options = PutOptions {
        attributes,
        ..PutOptions::default()
    };
    let path = object_store::path::Path::from(key);
    store
        .put_opts(&path, body.as_bytes().to_vec().into(), options)
        .await
        .expect("upload");
}

#[test]
fn an_s3_module_is_served_polled_and_cached() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let moto = runtime.block_on(Moto::start());
    runtime.block_on(moto.create_bucket("modules"));
    runtime.block_on(upload(
        &moto,
        "modules",
        "app/hello.wat",
        &greeting("s3 one"),
    ));
    let data = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "poll_seconds = 1\ns3_endpoint = \"{}\"\n{}",
        moto.endpoint,
        config(data.path(), "s3://modules/app/hello.wat", "")
    );
    let credentials = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let server = TestServer::start_with_env(&config, &credentials);
    assert_eq!(server.get("/").text(), "s3 one");

    runtime.block_on(upload(
        &moto,
        "modules",
        "app/hello.wat",
        &greeting("s3 two"),
    ));
    let uploaded = Instant::now();
    while server.get("/").text() != "s3 two" {
        assert!(
            uploaded.elapsed() < Duration::from_secs(3),
            "{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server);

    // S3 gone: a restart serves the copy, saying so.
    moto.stop();
    let server = TestServer::start_with_env(&config, &credentials);
    assert_eq!(server.get("/").text(), "s3 two");
    let log = server.wait_for_log("serving the copy of");
    assert!(
        log.contains("serving the copy of s3://modules/app/hello.wat fetched"),
        "{log}"
    );
}

#[test]
fn a_spin_components_url_source_is_fetched_and_pinned() {
    let modules = ModuleServer::start();
    let wasm = std::fs::read(sdk7_component("greeter")).expect("the greeter component");
    let digest = format!("sha256:{:x}", Sha256::digest(&wasm));
    modules.put_bytes("/greeter.wasm", wasm);
    let manifest = |digest: &str| {
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"remote\"\n[[trigger.http]]\n\
             route = \"/hello/:name\"\ncomponent = \"greeter\"\n[component.greeter]\n\
             source = {{ url = \"{}\", digest = \"{digest}\" }}\n",
            modules.url("/greeter.wasm")
        )
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest(&digest)).expect("write spin.toml");
    let server =
        TestServer::try_serve_file_with_env(&path, &[], &[]).unwrap_or_else(|log| panic!("{log}"));
    let response = server.get("/hello/remote");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("x-echo-spin-path-match-name"),
        Some("remote")
    );
    drop(server);

    std::fs::write(&path, manifest(&sha256("something else"))).expect("write spin.toml");
    let log = TestServer::try_serve_file_with_env(&path, &[], &[])
        .err()
        .expect("a wrong digest was served");
    assert!(log.contains(&sha256("something else")), "{log}");
}
