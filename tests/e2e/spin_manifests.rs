//! Spin manifests written by the tests: Spin's route precedence, refusals of
//! what this host does not implement, Spin apps mounted in a native config
//! (and a route claimed twice across them), and a runtime config putting an
//! app's store on Redis.

use std::path::PathBuf;

use crate::harness::{TestServer, guest, repo_path, run_binary};
use crate::redis_server::RedisServer;
use crate::reload::reload;
use crate::spin_apps::{sdk7_manifest, serve};
use crate::standard_guests::{http_backend, rust_component};

/// A built SDK 7 component of examples/spin/rust-sdk7.
pub fn sdk7_component(name: &str) -> String {
    let dir = sdk7_manifest().parent().expect("a directory").to_owned();
    dir.join(format!("target/wasm32-wasip2/release/{name}.wasm"))
        .display()
        .to_string()
}

/// Writes `manifest` as `spin.toml` in a new directory.
fn write_app(manifest: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest).expect("write spin.toml");
    (dir, path)
}

/// A one-component app whose greeter serves each of `routes`.
fn greeter_app(name: &str, routes: &[&str]) -> String {
    let mut manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"{name}\"\n\n[variables]\n\
         greeting = {{ default = \"Hi\" }}\n"
    );
    for route in routes {
        manifest.push_str(&format!(
            "[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"greeter\"\n"
        ));
    }
    manifest.push_str(&format!(
        "[component.greeter]\nsource = \"{}\"\n[component.greeter.variables]\n\
         greeting = \"{{{{ greeting }}}}\"\n",
        sdk7_component("greeter")
    ));
    manifest
}

fn matched_route(server: &TestServer, path: &str) -> String {
    let response = server.get(path);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    response
        .header("x-echo-spin-raw-component-route")
        .unwrap_or_else(|| panic!("{path}: no route header"))
        .to_owned()
}

#[test]
fn literal_beats_param_beats_wildcard_and_the_longest_wins() {
    let routes = [
        "/...",
        "/users/...",
        "/users/:id",
        "/users/me",
        "/users/:id/...",
        "/users/:id/posts/...",
    ];
    let (_dir, path) = write_app(&greeter_app("routes", &routes));
    let server = serve(&path, &[]);
    for (request, route) in [
        ("/users/me", "/users/me"),
        ("/users/7", "/users/:id"),
        ("/users/7/", "/users/:id"),
        ("/users/7/posts/1", "/users/:id/posts/..."),
        ("/users/7/likes", "/users/:id/..."),
        ("/users", "/users/..."),
        ("/elsewhere", "/..."),
        ("/", "/..."),
    ] {
        assert_eq!(matched_route(&server, request), route, "{request}");
    }
    let response = server.request("DELETE", "/users/7", &[], b"");
    assert_eq!(response.status, 200, "Spin's routes take every method");
    let info = server.get("/users/7/posts/1/x");
    assert_eq!(info.header("x-echo-spin-path-info"), Some("/1/x"));
    assert_eq!(info.header("x-echo-spin-path-match-id"), Some("7"));
}

#[test]
fn unsupported_keys_are_refused_with_file_line_and_key() {
    let manifest = greeter_app("refused", &["/..."]).replace(
        "[component.greeter]\n",
        "[component.greeter]\nsqlite_databases = [\"default\"]\n",
    );
    let (_dir, path) = write_app(&manifest);
    let output = run_binary(&["check", path.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("spin.toml:"), "{stderr}");
    assert!(
        stderr.contains("component.greeter.sqlite_databases"),
        "{stderr}"
    );
}

#[test]
fn a_store_label_without_a_store_is_refused() {
    let manifest = greeter_app("labels", &["/..."]).replace(
        "[component.greeter]\n",
        "[component.greeter]\nkey_value_stores = [\"cache\"]\n",
    );
    let (_dir, path) = write_app(&manifest);
    let output = run_binary(&["check", path.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("cache"), "{stderr}");
    assert!(stderr.contains("key_value_stores"), "{stderr}");
}

#[test]
fn spin_apps_mount_beside_native_apps() {
    let (_shop_dir, shop) = write_app(&greeter_app("shop", &["/shop/..."]));
    let (_blog_dir, blog) = write_app(&greeter_app("blog", &["/blog/:slug"]));
    let config = format!(
        "listen_address = \"127.0.0.1:0\"\n\n[[applications]]\nfile_path = \"{}\"\n\
         method = \"GET\"\nurl_path = \"/hello\"\n\n[[spin_apps]]\nmanifest = \"{}\"\n\n\
         [[spin_apps]]\nmanifest = \"{}\"\n",
        repo_path("examples/hello.wat").display(),
        shop.display(),
        blog.display()
    );
    let server = TestServer::start(&config);
    assert_eq!(server.get("/hello").status, 200);
    assert_eq!(matched_route(&server, "/shop/cart"), "/shop/...");
    assert_eq!(matched_route(&server, "/blog/first"), "/blog/:slug");
    let info = server.get("/.well-known/spin/info");
    assert_eq!(info.status, 200, "{}", info.text());
}

#[test]
fn a_route_claimed_twice_across_apps_is_refused_naming_both() {
    let (_shop_dir, shop) = write_app(&greeter_app("shop", &["/hello"]));
    let config = format!(
        "listen_address = \"127.0.0.1:0\"\n\n[[applications]]\nfile_path = \"{}\"\n\
         method = \"GET\"\nurl_path = \"/hello\"\n\n[[spin_apps]]\nmanifest = \"{}\"\n",
        repo_path("examples/hello.wat").display(),
        shop.display()
    );
    let log = TestServer::try_start(&config)
        .err()
        .expect("a route claimed twice was served");
    assert!(log.contains("spin.toml:"), "{log}");
    assert!(log.contains("route /hello of app `shop/greeter`"), "{log}");
    assert!(log.contains("config.toml:3"), "{log}");

    let (_other_dir, other) = write_app(&greeter_app("other", &["/items/:id"]));
    let (_third_dir, third) = write_app(&greeter_app("third", &["/items/:name"]));
    let config = format!(
        "listen_address = \"127.0.0.1:0\"\n\n[[spin_apps]]\nmanifest = \"{}\"\n\n\
         [[spin_apps]]\nmanifest = \"{}\"\n",
        other.display(),
        third.display()
    );
    let log = TestServer::try_start(&config)
        .err()
        .expect("two apps on the same route pattern were served");
    assert!(log.contains("app `other/greeter`"), "{log}");
}

#[test]
fn a_runtime_config_puts_an_apps_store_on_redis() {
    let redis = RedisServer::start();
    let manifest = sdk7_manifest();
    let runtime = tempfile::tempdir().expect("temp dir");
    let runtime_config = runtime.path().join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .expect("write runtime config");
    let args = [
        "--runtime-config-file",
        runtime_config.to_str().expect("utf-8"),
    ];
    let token = [("SPIN_VARIABLE_API_TOKEN", "t")];
    let first = TestServer::try_serve_file_with_env(&manifest, &args, &token)
        .unwrap_or_else(|log| panic!("{log}"));
    assert_eq!(first.get("/counter").text().trim(), "1");
    // A second node with its own data directory shares the count through Redis.
    let second = TestServer::try_serve_file_with_env(&manifest, &args, &token)
        .unwrap_or_else(|log| panic!("{log}"));
    assert_eq!(second.get("/counter").text().trim(), "2");
    assert_eq!(first.get("/counter").text().trim(), "3");
}

#[test]
fn a_secret_variable_never_reaches_the_log_or_errors() {
    let manifest = greeter_app("secrets", &["/..."])
        .replace(
            "greeting = { default = \"Hi\" }",
            "greeting = { default = \"Hi\" }\npassword = { required = true, secret = true }",
        )
        .replace(
            "[component.greeter]\n",
            "[component.greeter]\nallowed_outbound_hosts = [\"https://{{ password }}.example.com\"]\n",
        );
    let (_dir, path) = write_app(&manifest);
    let secret = "hunter2-secret";
    let server =
        TestServer::try_serve_file_with_env(&path, &[], &[("SPIN_VARIABLE_PASSWORD", secret)])
            .unwrap_or_else(|log| panic!("{log}"));
    assert_eq!(server.get("/x").status, 200);
    assert!(!server.log().contains(secret), "{}", server.log());
}

#[test]
fn outbound_http_obeys_spins_allowed_hosts_with_their_scheme() {
    let backend = http_backend("from the backend");
    let port = backend.port();
    let outbound = rust_component("outbound");
    let component = |id: &str, allowed: &str| {
        format!(
            "[[trigger.http]]\nroute = \"/{id}\"\ncomponent = \"{id}\"\n\
             [component.{id}]\nsource = \"{outbound}\"\nallowed_outbound_hosts = {allowed}\n\
             environment = {{ BACKEND_URL = \"http://{backend}/path\" }}\n"
        )
    };
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"outbound\"\n[variables]\n\
         backend_port = {{ default = \"{port}\" }}\n{}{}{}{}{}",
        component("exact", &format!("[\"http://127.0.0.1:{port}\"]")),
        component("templated", "[\"http://127.0.0.1:{{ backend_port }}\"]"),
        component("wildcard", "[\"*://127.0.0.1:*\"]"),
        component("other-scheme", &format!("[\"https://127.0.0.1:{port}\"]")),
        component("none", "[]"),
    );
    let (_dir, path) = write_app(&manifest);
    let server = serve(&path, &[]);
    for allowed in ["/exact", "/templated", "/wildcard"] {
        let response = server.get(allowed);
        assert_eq!(response.status, 200, "{allowed}: {}", response.text());
        assert_eq!(response.text(), "from the backend");
    }
    for refused in ["/other-scheme", "/none"] {
        let response = server.get(refused);
        assert_eq!(response.status, 502, "{refused}: {}", response.text());
        assert!(
            response.text().contains("HttpRequestDenied"),
            "{}",
            response.text()
        );
    }
}

#[test]
fn a_prerelease_wasi_http_0_3_component_is_refused_naming_what_is_served() {
    let (_dir, path) = write_app(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"rc\"\n[[trigger.http]]\n\
         route = \"/...\"\ncomponent = \"rc\"\n[component.rc]\nsource = \"{}\"\n",
        guest("wasi_http_0_3_rc.wat")
    ));
    let output = run_binary(&["check", path.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("`wasi:http/handler@0.3.0-rc-2026-03-15`"),
        "{stderr}"
    );
    assert!(stderr.contains("`wasi:http/handler@0.3.0`"), "{stderr}");
    assert!(
        stderr.contains("`wasi:http/incoming-handler@0.2.x`"),
        "{stderr}"
    );
}

/// An app of two components of the SDK 7 counter, `writer` on `/kv/...` and
/// `counter` on `/counter`, both granted `default`.
fn two_component_app(name: &str) -> String {
    let counter = sdk7_component("counter");
    format!(
        "spin_manifest_version = 2\n[application]\nname = \"{name}\"\n\
         [[trigger.http]]\nroute = \"/kv/...\"\ncomponent = \"writer\"\n\
         [[trigger.http]]\nroute = \"/counter\"\ncomponent = \"counter\"\n\
         [component.writer]\nsource = \"{counter}\"\nkey_value_stores = [\"default\"]\n\
         [component.counter]\nsource = \"{counter}\"\nkey_value_stores = [\"default\"]\n"
    )
}

#[test]
fn an_apps_default_store_is_shared_by_its_components_and_nothing_else() {
    let data = tempfile::tempdir().expect("temp dir");
    let (_one_dir, one) = write_app(&two_component_app("one"));
    let server =
        TestServer::try_serve_file_in(&one, data.path(), &[]).unwrap_or_else(|log| panic!("{log}"));
    assert_eq!(server.get("/counter").text().trim(), "1");
    // The other component of the same app sees what `counter` wrote.
    let read = server.get("/kv/counter");
    assert_eq!((read.status, read.text().as_str()), (200, "1"));
    drop(server);

    // Another app on the same data directory has a `default` of its own.
    let (_two_dir, two) = write_app(&two_component_app("two"));
    let server =
        TestServer::try_serve_file_in(&two, data.path(), &[]).unwrap_or_else(|log| panic!("{log}"));
    assert_eq!(server.get("/kv/counter").status, 404);
    assert_eq!(server.get("/counter").text().trim(), "1");
}

#[test]
fn mounted_spin_apps_run_within_the_configs_defaults() {
    let (_dir, app) = write_app(&two_component_app("limited"));
    let config = format!(
        "listen_address = \"127.0.0.1:0\"\n[defaults]\nmax_request_body_bytes = 16\n\n\
         [[spin_apps]]\nmanifest = \"{}\"\n",
        app.display()
    );
    let server = TestServer::start(&config);
    let small = server.request("PUT", "/kv/k", &[], b"small");
    assert_eq!(small.status, 200, "{}", small.text());
    let large = server.request("PUT", "/kv/k", &[], &[b'x'; 100]);
    assert_eq!(large.status, 413, "{}", large.text());
}

#[test]
fn variables_are_read_from_a_dotenv_file_beside_the_manifest() {
    let (dir, path) = write_app(&greeter_app("dotenv", &["/..."]));
    std::fs::write(
        dir.path().join(".env"),
        "# as Spin reads it\nSPIN_VARIABLE_GREETING=\"Hello from .env\"\n",
    )
    .expect("write .env");
    let server = serve(&path, &[]);
    let response = server.get("/x");
    assert_eq!(response.header("x-greeting"), Some("Hello from .env"));
    drop(server);
    // The environment comes first.
    let server = serve(&path, &[("SPIN_VARIABLE_GREETING", "from the environment")]);
    assert_eq!(
        server.get("/x").header("x-greeting"),
        Some("from the environment")
    );
}

#[test]
fn an_edited_spin_toml_is_reloaded_on_sighup() {
    let static_app = |body: &str| {
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"edited\"\n[[trigger.http]]\n\
             route = \"/page\"\nstatic_response = {{ body = \"{body}\" }}\n"
        )
    };
    let (_dir, path) = write_app(&static_app("first"));
    let server = serve(&path, &[]);
    assert_eq!(server.get("/page").text(), "first");
    std::fs::write(&path, static_app("second")).expect("rewrite spin.toml");
    let outcome = reload(&server);
    assert!(outcome.contains("reloaded (SIGHUP)"), "{outcome}");
    assert_eq!(server.get("/page").text(), "second");
    // A broken edit keeps the app being served.
    std::fs::write(&path, "spin_manifest_version = 2\n[application]\n").expect("rewrite");
    assert!(reload(&server).contains("failed"));
    assert_eq!(server.get("/page").text(), "second");
}
