//! What a Spin manifest may say, read into a `Manifest`.

use std::path::PathBuf;

use super::{app, app_with_api, error, errors, parse};
use crate::config::StaticResponse;
use crate::sources::{Digest, SourceUrl};
use crate::spin::files::FileMount;
use crate::spin::is_spin_manifest;
use crate::spin::manifest::{Executor, Handler};

const DIGEST: &str = "sha256:6503d3aad3a0a6b6a0a8b71b1d0e5fb0d52e5f1b4a6e7f9f2b3c4d5e6f708192";

#[test]
fn reads_a_minimal_app() {
    let manifest = parse(&app_with_api(""));
    assert_eq!(manifest.file, PathBuf::from(super::FILE));
    assert_eq!(manifest.dir, PathBuf::from("/apps/shop"));
    assert_eq!(manifest.application.name, "shop");
    assert_eq!(manifest.application.base, "/");
    assert!(manifest.warnings.is_empty(), "{:?}", manifest.warnings);
    let [trigger] = manifest.triggers.as_slice() else {
        panic!("one trigger: {:?}", manifest.triggers);
    };
    assert_eq!(trigger.id, "api-http-trigger");
    assert_eq!(
        trigger.route.as_ref().map(|route| route.raw()),
        Some("/api/...")
    );
    assert_eq!(trigger.handler, Handler::Component("api".to_owned()));
    assert_eq!(trigger.executor, Executor::Http);
    assert_eq!(trigger.line, 5);
    let api = manifest.component("api").expect("component api");
    assert_eq!(
        api.source,
        SourceUrl::File(PathBuf::from("/apps/shop/api.wasm"))
    );
    assert_eq!(api.digest, None);
    assert!(api.allowed_outbound_hosts.is_empty());
    assert!(!api.inline);
    assert_eq!(api.line, 9);
}

#[test]
fn reads_application_details() {
    let manifest = parse(&app_with_api(
        "version = \"1.2.0\"\ndescription = \"A shop\"\nauthors = [\"Ada <ada@example.com>\", \"Bob\"]",
    ));
    let application = &manifest.application;
    assert_eq!(application.version.as_deref(), Some("1.2.0"));
    assert_eq!(application.description.as_deref(), Some("A shop"));
    assert_eq!(application.authors, ["Ada <ada@example.com>", "Bob"]);
}

#[test]
fn reads_every_route_form() {
    let routes = [
        ("/", "/", Some(vec![])),
        ("/exact", "/exact", Some(vec![])),
        ("/users/:id", "/users/7", Some(vec![("id", "7")])),
        (
            "/users/:id/orders/:order",
            "/users/7/orders/9",
            Some(vec![("id", "7"), ("order", "9")]),
        ),
        ("/static/...", "/static/css/site.css", Some(vec![])),
        ("/...", "/anything/at/all", Some(vec![])),
        ("hello", "/hello", Some(vec![])),
        ("/exact", "/exact/more", None),
    ];
    for (route, path, expected) in routes {
        let manifest = parse(&app(&format!(
            "[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n"
        )));
        let parsed = manifest.triggers[0].route.clone().expect("a public route");
        assert_eq!(parsed.raw(), route);
        let captures = parsed.captures(path).map(|captures| captures.params);
        assert_eq!(captures, expected, "{route} on {path}");
    }
}

#[test]
fn reads_private_routes() {
    let manifest = parse(&app(
        "[[trigger.http]]\nroute = { private = true }\ncomponent = \"internal\"\n\
         [component.internal]\nsource = \"internal.wasm\"\n",
    ));
    assert_eq!(manifest.triggers[0].route, None);
    assert_eq!(manifest.triggers[0].id, "internal-http-trigger");
}

#[test]
fn puts_the_base_in_front_of_every_route_with_a_warning() {
    let manifest = parse(&app_with_api(
        "[application.trigger.http]\nbase = \"/shop/\"",
    ));
    let route = manifest.triggers[0].route.clone().expect("route");
    assert!(route.captures("/shop/api/items").is_some());
    assert!(route.captures("/api/items").is_none());
    assert_eq!(manifest.application.base, "/shop/");
    assert_eq!(
        manifest.warnings,
        [
            "/apps/shop/spin.toml:5: `application.trigger.http.base`: deprecated in Spin, which now \
          refuses it; here it is put in front of every route"
        ]
    );
    let root = parse(&app_with_api("[application.trigger.http]\nbase = \"/\""));
    assert!(root.warnings.is_empty());
}

#[test]
fn names_triggers_and_inline_components_as_spin_does() {
    let manifest = parse(&app(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"hello\"\n\
         [[trigger.http]]\nid = \"admin-handler\"\nroute = \"/admin\"\ncomponent = { source = \"admin.wasm\" }\n\
         [[trigger.http]]\nroute = \"/other\"\ncomponent = { source = \"other.wasm\" }\n\
         [[trigger.http]]\nid = \"not_kebab\"\nroute = \"/odd\"\ncomponent = { source = \"odd.wasm\" }\n\
         [component.hello]\nsource = \"hello.wasm\"\n",
    ));
    let ids: Vec<(&str, &Handler)> = manifest
        .triggers
        .iter()
        .map(|trigger| (trigger.id.as_str(), &trigger.handler))
        .collect();
    let component = |id: &str| Handler::Component(id.to_owned());
    assert_eq!(
        ids,
        [
            ("hello-http-trigger", &component("hello")),
            ("admin-handler", &component("admin-handler-component")),
            ("http-trigger1", &component("http-trigger1-component")),
            ("not_kebab", &component("inline-component1")),
        ]
    );
    let components: Vec<(&str, bool)> = manifest
        .components
        .iter()
        .map(|component| (component.id.as_str(), component.inline))
        .collect();
    assert_eq!(
        components,
        [
            ("hello", false),
            ("admin-handler-component", true),
            ("http-trigger1-component", true),
            ("inline-component1", true),
        ]
    );
    let admin = manifest
        .component("admin-handler-component")
        .expect("inline");
    assert_eq!(
        admin.source,
        SourceUrl::File(PathBuf::from("/apps/shop/admin.wasm"))
    );
}

#[test]
fn inline_components_take_every_component_key() {
    let manifest = parse(&app(
        "[variables]\nhost = { default = \"api.example.com\" }\n\
         [[trigger.http]]\nroute = \"/...\"\n\
         component = { source = \"a.wasm\", environment = { MODE = \"prod\" }, \
         variables = { endpoint = \"https://{{ host }}\" }, allowed_outbound_hosts = [\"https://{{ host }}\"], \
         key_value_stores = [\"default\"] }\n",
    ));
    let component = &manifest.components[0];
    assert!(component.inline);
    assert_eq!(
        component.environment,
        [("MODE".to_owned(), "prod".to_owned())]
    );
    assert_eq!(component.variables[0].0, "endpoint");
    assert_eq!(component.allowed_outbound_hosts.len(), 1);
    assert_eq!(component.key_value_stores, ["default"]);
}

#[test]
fn reads_static_responses() {
    let manifest = parse(&app("[[trigger.http]]\nroute = \"/health\"\n\
         static_response = { status_code = 203, headers = { content-type = \"text/plain\", x-app = \"shop\" }, body = \"ok\" }\n\
         [[trigger.http]]\nroute = \"/empty\"\nstatic_response = {}\n"));
    assert_eq!(
        manifest.triggers[0].handler,
        Handler::Static(StaticResponse {
            status: 203,
            headers: vec![
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("x-app".to_owned(), "shop".to_owned()),
            ],
            body: b"ok".to_vec(),
        })
    );
    assert_eq!(manifest.triggers[0].id, "http-trigger1");
    assert_eq!(
        manifest.triggers[1].handler,
        Handler::Static(StaticResponse {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        })
    );
}

#[test]
fn refuses_bad_static_responses() {
    let wrong = |response: &str| {
        error(&app(&format!(
            "[[trigger.http]]\nroute = \"/\"\nstatic_response = {response}\n"
        )))
    };
    assert_eq!(
        wrong("{ status_code = 1000 }"),
        "/apps/shop/spin.toml:6: `trigger.http[1].static_response.status_code`: 1000 is not an HTTP \
         status (100 to 999)"
    );
    assert!(
        wrong("{ headers = { \"bad header\" = \"x\" } }").contains("is not a valid header name")
    );
    assert!(wrong("{ headers = { x = \"a\\nb\" } }").contains("not a valid header value"));
    assert!(wrong("{ status = 404 }").contains("did you mean `status_code`?"));
    assert!(wrong("{ body = 3 }").contains("expected a string, got integer"));
}

#[test]
fn reads_executors() {
    let executor = |executor: &str| {
        let manifest = parse(&app(&format!(
            "[[trigger.http]]\nroute = \"/\"\ncomponent = {{ source = \"w.wasm\" }}\nexecutor = {executor}\n"
        )));
        (manifest.triggers[0].executor.clone(), manifest.warnings)
    };
    assert_eq!(executor("{ type = \"http\" }").0, Executor::Http);
    assert_eq!(executor("{ type = \"spin\" }").0, Executor::Http);
    assert_eq!(
        executor("{ type = \"wagi\" }").0,
        Executor::Wagi {
            argv: "${SCRIPT_NAME} ${ARGS}".to_owned(),
            entrypoint: "_start".to_owned(),
        }
    );
    let (custom, warnings) =
        executor("{ type = \"wagi\", argv = \"x ${ARGS}\", entrypoint = \"main\" }");
    assert_eq!(
        custom,
        Executor::Wagi {
            argv: "x ${ARGS}".to_owned(),
            entrypoint: "main".to_owned(),
        }
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("`trigger.http[1].executor.entrypoint`: deprecated"));
}

#[test]
fn refuses_bad_executors() {
    let wrong = |executor: &str| {
        error(&app(&format!(
            "[[trigger.http]]\nroute = \"/\"\ncomponent = {{ source = \"w.wasm\" }}\nexecutor = {executor}\n"
        )))
    };
    assert_eq!(
        wrong("{ type = \"cgi\" }"),
        "/apps/shop/spin.toml:7: `trigger.http[1].executor.type`: unknown executor type `cgi`; \
         expected `http` or `wagi`"
    );
    assert!(
        wrong("{ argv = \"x\" }")
            .contains("`trigger.http[1].executor.type`: required key is missing")
    );
    assert!(
        wrong("{ type = \"http\", argv = \"x\" }").contains("only a `wagi` executor has this key")
    );
    assert!(wrong("{ type = \"wagi\", args = \"x\" }").contains("did you mean `argv`?"));
}

#[test]
fn reads_sources_files_and_the_rest_of_a_component() {
    let manifest = parse(&app(&format!(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"web\"\n\
         [component.web]\n\
         source = {{ url = \"https://example.com/web.wasm\", digest = \"{DIGEST}\" }}\n\
         description = \"The site\"\n\
         files = [\"static/**/*\", \"index.html\", {{ source = \"assets\", destination = \"/assets\" }}]\n\
         exclude_files = [\"**/*.bak\"]\n\
         environment = {{ RUST_LOG = \"info\", MODE = \"prod\" }}\n\
         key_value_stores = [\"default\", \"sessions\", \"default\", \"user_data\"]\n\
         [component.local]\nsource = \"/opt/wasm/local.wasm\"\n"
    )));
    let web = manifest.component("web").expect("web");
    let url = url::Url::parse("https://example.com/web.wasm").expect("url");
    assert_eq!(web.source, SourceUrl::Http(url));
    assert_eq!(web.digest, Some(Digest::parse(DIGEST).expect("digest")));
    assert_eq!(web.description.as_deref(), Some("The site"));
    assert_eq!(
        web.files,
        [
            FileMount::Pattern("static/**/*".to_owned()),
            FileMount::Pattern("index.html".to_owned()),
            FileMount::Placement {
                source: "assets".to_owned(),
                destination: "/assets".to_owned(),
            },
        ]
    );
    assert_eq!(web.exclude_files, ["**/*.bak"]);
    let environment =
        [("RUST_LOG", "info"), ("MODE", "prod")].map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(web.environment, environment);
    assert_eq!(web.key_value_stores, ["default", "sessions", "user_data"]);
    let local = manifest.component("local").expect("local");
    assert_eq!(
        local.source,
        SourceUrl::File(PathBuf::from("/opt/wasm/local.wasm"))
    );
    assert_eq!(
        manifest.warnings,
        ["/apps/shop/spin.toml:14: component `local` is not used by any trigger"]
    );
}

#[test]
fn refuses_bad_sources_and_files() {
    let component = |body: &str| {
        errors(&app(&format!(
            "[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\n{body}\n"
        )))
        .join("\n")
    };
    assert!(
        component("source = \"https://example.com/c.wasm\"")
            .contains("a string `source` is a path")
    );
    assert!(
        component("source = { url = \"https://example.com/c.wasm\" }")
            .contains("`component.c.source.digest`: required key is missing")
    );
    assert!(
        component("source = { url = \"c.wasm\", digest = \"sha256:00\" }")
            .contains("`c.wasm` is not a URL")
    );
    assert!(
        component(&format!(
            "source = {{ url = \"https://x/c.wasm\", digest = \"{}\" }}",
            &DIGEST[..20]
        ))
        .contains("`component.c.source.digest`: invalid digest")
    );
    assert!(
        component("")
            .contains("/apps/shop/spin.toml:7: `component.c.source`: required key is missing")
    );
    assert!(
        component("source = \"c.wasm\"\nfiles = [1]")
            .contains("`component.c.files[1]`: expected a glob")
    );
    assert!(
        component("source = \"c.wasm\"\nfiles = [{ source = \"a\" }]")
            .contains("`component.c.files[1].destination`: required key is missing")
    );
    assert!(
        component(
            "source = \"c.wasm\"\nfiles = [{ source = \"a\", destination = \"/\", mode = 1 }]"
        )
        .contains("`component.c.files[1].mode`: unknown key")
    );
    assert!(
        component("source = \"c.wasm\"\nexclude_files = [\"[\"]")
            .contains("`component.c.exclude_files[1]`: invalid glob pattern")
    );
    assert!(
        component("source = \"c.wasm\"\nenvironment = { A = 1 }")
            .contains("`component.c.environment.A`: expected a string, got integer")
    );
    assert!(
        component("source = \"c.wasm\"\nkey_value_stores = [\"my store\"]")
            .contains("invalid store label \"my store\"")
    );
}

#[test]
fn validates_component_ids_and_references_as_spin_does() {
    assert_eq!(
        error(&app("[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.bad_id]\nsource = \"c.wasm\"\n")
            .replace("component = \"c\"", "component = \"ok\"\n[component.ok]\nsource = \"o.wasm\"")),
        "/apps/shop/spin.toml:9: `component.bad_id`: invalid component id \"bad_id\": words must be \
         separated with '-', not '_'"
    );
    let reference = |id: &str| {
        error(&app(&format!(
            "[[trigger.http]]\nroute = \"/\"\ncomponent = \"{id}\"\n[component.cart-api]\nsource = \"c.wasm\"\n"
        )))
    };
    assert_eq!(
        reference("cart-apx"),
        "/apps/shop/spin.toml:6: `trigger.http[1].component`: no component `cart-apx`; did you mean `cart-api`?"
    );
    assert!(reference("checkout").contains("define it in a [component.checkout] table"));
    assert!(reference("Cart").contains("must be all lowercase or all UPPERCASE"));
    assert!(reference("cart-9").contains("must start with an ASCII letter"));
    // All-upper-case words are allowed, as in Spin.
    let upper = app(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"API-v2\"\n[component.API-v2]\nsource = \"c.wasm\"\n",
    );
    assert_eq!(parse(&upper).components[0].id, "API-v2");
}

#[test]
fn a_later_trigger_on_the_same_route_shadows_an_earlier_one() {
    let manifest = parse(&app(
        "[[trigger.http]]\nroute = \"/items\"\ncomponent = { source = \"old.wasm\" }\n\
         [[trigger.http]]\nroute = \"/items/\"\ncomponent = { source = \"new.wasm\" }\n\
         [[trigger.http]]\nroute = { private = true }\ncomponent = { source = \"p1.wasm\" }\n\
         [[trigger.http]]\nroute = { private = true }\ncomponent = { source = \"p2.wasm\" }\n",
    ));
    let ids: Vec<&str> = manifest
        .triggers
        .iter()
        .map(|trigger| trigger.id.as_str())
        .collect();
    assert_eq!(ids, ["http-trigger2", "http-trigger3", "http-trigger4"]);
    assert_eq!(
        manifest.warnings[0],
        "/apps/shop/spin.toml:4: `trigger.http[1].route`: route `/items` is also the route of \
         trigger.http[2] (line 7), which Spin serves; this trigger is never reached"
    );
    assert!(manifest.warnings[1].contains("component `http-trigger1-component` is not used"));
}

#[test]
fn detects_spin_manifests_by_their_version_key() {
    assert!(is_spin_manifest(
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n"
    ));
    assert!(is_spin_manifest(
        "# A Spin app\n\n  spin_manifest_version=2\n"
    ));
    assert!(is_spin_manifest("\"spin_manifest_version\" = 2\n"));
    assert!(is_spin_manifest("spin_version = \"1\"\nname = \"old\"\n"));
    assert!(is_spin_manifest(
        "spin_manifest_version = 2\n[application\nbroken"
    ));
    assert!(!is_spin_manifest(
        "listen_address = \"127.0.0.1:8080\"\n[[applications]]\n"
    ));
    assert!(!is_spin_manifest(
        "[application]\nspin_manifest_version = 2\n"
    ));
    assert!(!is_spin_manifest("spin_manifest_version_x = 2\n"));
    assert!(!is_spin_manifest(""));
}

#[test]
fn reads_the_file_and_reports_one_that_cannot_be_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, app_with_api("")).expect("write");
    let manifest = crate::spin::manifest::read(&path).expect("reads");
    assert_eq!(manifest.dir, dir.path());
    let missing = dir.path().join("missing.toml");
    let error = crate::spin::manifest::read(&missing)
        .expect_err("missing")
        .to_string();
    assert!(
        error.starts_with(&format!(
            "{}: cannot read the Spin manifest:",
            missing.display()
        )),
        "{error}"
    );
}
