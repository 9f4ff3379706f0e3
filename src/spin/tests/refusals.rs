//! What a Spin manifest may not say here, and what is only warned about.

use super::{app, app_with_api, error, errors, parse};

#[test]
fn refuses_manifests_of_other_versions_clearly() {
    assert_eq!(
        error("spin_manifest_version = \"1\"\nname = \"old\"\ntrigger = { type = \"http\" }\n"),
        "/apps/shop/spin.toml:1: `spin_manifest_version`: version 1 Spin manifests are not supported; \
         upgrade it to version 2 with `spin doctor`"
    );
    assert!(
        error("spin_version = \"1\"\nname = \"old\"\n")
            .contains("`spin_version`: this is a version 1")
    );
    assert_eq!(
        error("spin_manifest_version = 3\n[application]\nname = \"x\"\n"),
        "/apps/shop/spin.toml:1: `spin_manifest_version`: unsupported manifest version; this host \
         reads `spin_manifest_version = 2`"
    );
    assert!(error("spin_manifest_version = \"2\"\n").contains("unsupported manifest version"));
    assert_eq!(
        error("[application]\nname = \"x\"\n"),
        "/apps/shop/spin.toml: `spin_manifest_version`: missing: a Spin manifest starts with \
         `spin_manifest_version = 2`"
    );
}

#[test]
fn reports_syntax_errors_with_their_line() {
    let error = error("spin_manifest_version = 2\n[application]\nname = \"x\n");
    assert!(error.starts_with("/apps/shop/spin.toml:3: "), "{error}");
}

#[test]
fn refuses_unknown_keys_with_the_nearest_known_one() {
    let all = errors(&app_with_api(
        "verison = \"1\"\n[variables]\nkey = { defualt = \"x\" }",
    ))
    .join("\n");
    assert!(
        all.contains(
            "/apps/shop/spin.toml:4: `application.verison`: unknown key; did you mean `version`?"
        ),
        "{all}"
    );
    assert!(
        all.contains("`variables.key.defualt`: unknown key; did you mean `default`?"),
        "{all}"
    );
    let component = error(&app_with_api("").replace(
        "source = \"api.wasm\"",
        "source = \"api.wasm\"\nallowed_outbound_host = []",
    ));
    assert_eq!(
        component,
        "/apps/shop/spin.toml:11: `component.api.allowed_outbound_host`: unknown key; did you mean \
         `allowed_outbound_hosts`?"
    );
    assert!(
        error(&app_with_api("").replace("route =", "rout = \"/x\"\nroute ="))
            .contains("did you mean `route`?")
    );
    assert!(
        error(&format!(
            "{}\n[components.x]\nsource = \"x\"\n",
            app_with_api("")
        ))
        .contains("`components`: unknown key; did you mean `component`?")
    );
    assert!(
        error(&app_with_api("").replace("route = \"/api/...\"", "route = { privat = true }"))
            .contains("`trigger.http[1].route.privat`: unknown key; did you mean `private`?")
    );
}

#[test]
fn refuses_what_this_host_does_not_implement_naming_the_key() {
    let component = |key: &str| {
        error(&app_with_api("").replace(
            "source = \"api.wasm\"",
            &format!("source = \"api.wasm\"\n{key}"),
        ))
    };
    assert_eq!(
        component("sqlite_databases = [\"default\"]"),
        "/apps/shop/spin.toml:11: `component.api.sqlite_databases`: SQLite databases are not supported \
         by this host"
    );
    assert!(
        component("ai_models = [\"llama2-chat\"]")
            .contains("`component.api.ai_models`: Serverless AI")
    );
    assert!(
        component("dependencies = { \"a:b/c\" = \"1.0.0\" }")
            .contains("`component.api.dependencies`: component dependencies")
    );
    assert!(
        component("dependencies_inherit_configuration = true")
            .contains("`component.api.dependencies_inherit_configuration`")
    );
    assert!(
        component("allowed_http_hosts = [\"example.com\"]")
            .contains("use `allowed_outbound_hosts` with a scheme")
    );
    // Asking for nothing is harmless.
    let empty = "sqlite_databases = []\nai_models = []\ndependencies_inherit_configuration = false\n\
                 allowed_http_hosts = []\ndependencies = {}";
    let manifest = parse(&app_with_api("").replace(
        "source = \"api.wasm\"",
        &format!("source = \"api.wasm\"\n{empty}"),
    ));
    assert!(manifest.warnings.is_empty(), "{:?}", manifest.warnings);
    assert!(
        error(&app_with_api("").replace(
            "source = \"api.wasm\"",
            "source = { registry = \"ttl.sh\", package = \"user:api\", version = \"1.0.0\" }"
        ))
        .contains("`component.api.source`: registry sources ({ registry, package, version }) are not supported")
    );
}

#[test]
fn refuses_other_trigger_types_and_trigger_extras() {
    let redis = "[[trigger.redis]]\nchannel = \"orders\"\ncomponent = \"api\"\n";
    assert_eq!(
        error(&app_with_api(redis)),
        "/apps/shop/spin.toml:4: `trigger.redis`: `redis` triggers are not supported; this host runs \
         HTTP triggers ([[trigger.http]]) only"
    );
    let only_redis = app(&format!("{redis}[component.api]\nsource = \"a.wasm\"\n"));
    let all = errors(&only_redis).join("\n");
    assert!(
        all.contains("`trigger.redis`: `redis` triggers are not supported"),
        "{all}"
    );
    assert!(
        all.contains("`trigger`: no HTTP triggers; add at least one [[trigger.http]]"),
        "{all}"
    );
    assert!(error(&app("")).contains("`trigger`: no HTTP triggers"));
    let extra = |key: &str| {
        error(&app_with_api("").replace(
            "component = \"api\"",
            &format!("component = \"api\"\n{key}"),
        ))
    };
    assert!(
        extra("components = { middleware = \"api\" }")
            .contains("`trigger.http[1].components`: not supported")
    );
    assert!(
        extra("dependencies = { x = [\"a:b/c\"] }")
            .contains("`trigger.http[1].dependencies`: trigger dependencies")
    );
    // Asking for nothing is harmless.
    parse(&app_with_api("").replace(
        "component = \"api\"",
        "component = \"api\"\ndependencies = {}\ncomponents = {}",
    ));
}

#[test]
fn warns_about_what_it_ignores() {
    let manifest = parse(
        &app_with_api(
            "targets = [\"spin-up:3.3\"]\n[application.tool.lint]\nlevel = \"high\"\n\
         [application.trigger.redis]\naddress = \"redis://localhost\"",
        )
        .replace(
            "source = \"api.wasm\"",
            "source = \"api.wasm\"\n[component.api.build]\ncommand = \"cargo build\"\n\
         [component.api.tool.clean]\ncommand = \"cargo clean\"\n\
         [component.api.profile.debug]\nsource = \"debug.wasm\"",
        ),
    );
    let warnings = manifest.warnings.join("\n");
    for expected in [
        "/apps/shop/spin.toml:4: `application.targets`: ignored: this host does not check Spin target environments",
        "/apps/shop/spin.toml:5: `application.tool`: ignored: settings for other tools",
        "/apps/shop/spin.toml:7: `application.trigger.redis`: ignored: settings of a trigger type",
        "`component.api.build`: ignored: this host runs `source` as it is",
        "`component.api.tool`: ignored: settings for other tools",
        "`component.api.profile`: ignored: this host runs the default build profile",
    ] {
        assert!(warnings.contains(expected), "{expected}\nin\n{warnings}");
    }
    assert_eq!(manifest.warnings.len(), 6, "{warnings}");
}

#[test]
fn refuses_triggers_without_a_route_or_a_handler() {
    let trigger = |body: &str| error(&app(&format!("[[trigger.http]]\n{body}\n")));
    assert_eq!(
        trigger("component = { source = \"a.wasm\" }"),
        "/apps/shop/spin.toml:4: `trigger.http[1].route`: required key is missing"
    );
    assert_eq!(
        trigger("route = \"/\""),
        "/apps/shop/spin.toml:4: `trigger.http[1]`: needs a `component` or a `static_response`"
    );
    assert!(
        trigger("route = \"/\"\ncomponent = { source = \"a.wasm\" }\nstatic_response = {}")
            .contains("has both `component` and `static_response`; give one")
    );
    assert!(
        trigger("route = { private = false }\nstatic_response = {}").contains(
            "`trigger.http[1].route.private`: a route is a path, or `{ private = true }`"
        )
    );
    assert!(
        trigger("route = {}\nstatic_response = {}")
            .contains("`trigger.http[1].route.private`: required key")
    );
    assert!(
        trigger("route = 80\nstatic_response = {}")
            .contains("expected a path or `{ private = true }`, got integer")
    );
    assert!(
        trigger("route = \"/a/.../b\"\nstatic_response = {}")
            .contains("`...` may only end a route")
    );
    assert!(
        trigger("route = \"/\"\ncomponent = 7")
            .contains("expected a component id or an inline component table")
    );
    assert!(
        trigger("route = \"/\"\ncomponent = { source = \"a.wasm\", sqlite_databases = [\"x\"] }")
            .contains(
                "`trigger.http[1].component.sqlite_databases`: SQLite databases are not supported"
            )
    );
    let not_tables =
        "spin_manifest_version = 2\ntrigger = { http = 1 }\n[application]\nname = \"x\"\n";
    assert_eq!(
        error(not_tables),
        "/apps/shop/spin.toml:2: `trigger.http`: expected [[trigger.http]] tables, got integer"
    );
}

#[test]
fn refuses_a_missing_application_or_name() {
    let all = errors(
        "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\nstatic_response = {}\n",
    )
    .join("\n");
    assert!(
        all.contains("`application`: missing: a Spin manifest has an [application] table"),
        "{all}"
    );
    assert_eq!(
        error(
            "spin_manifest_version = 2\n[application]\nversion = \"1\"\n[[trigger.http]]\nroute = \"/\"\nstatic_response = {}\n"
        ),
        "/apps/shop/spin.toml:2: `application.name`: required key is missing"
    );
    assert!(
        error(&app_with_api("[application.trigger.http]\nbase = \"shop\""))
            .contains("`shop` must start with `/`")
    );
    assert!(
        error(&app_with_api("[application.trigger.http]\nbsae = \"/\""))
            .contains("did you mean `base`?")
    );
}

#[test]
fn checks_app_variables_as_spin_does() {
    let variables = |body: &str| error(&app_with_api(&format!("[variables]\n{body}")));
    assert_eq!(
        variables("\"bad+name\" = { required = true }"),
        "/apps/shop/spin.toml:5: `variables.\"bad+name\"`: invalid variable name \"bad+name\": '_'-separated \
         words may only contain alphanumeric ASCII; got '+'"
    );
    assert!(
        variables("api-key = { required = true }")
            .contains("words must be separated with '_', not '-'")
    );
    assert!(variables("API_KEY = { required = true }").contains("must be all lowercase"));
    assert!(variables("x__y = { required = true }").contains("words must not be empty"));
    assert!(
        variables("key_1x = { required = true }")
            .contains("must start with an ASCII letter; got '1'")
    );
    assert!(
        variables("key = { required = true, default = \"x\" }")
            .contains("either `required` or has a `default`, not both")
    );
    assert!(
        variables("key = {}").contains("`variables.key`: needs a `default`, or `required = true`")
    );
    assert!(
        variables("key = { default = 3 }")
            .contains("`variables.key.default`: expected a string, got integer")
    );
    assert!(
        variables("key = { required = \"yes\" }").contains("expected true or false, got string")
    );
    assert!(variables("key = \"value\"").contains("`variables.key`: expected a table, got string"));
}
