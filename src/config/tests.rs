//! The config file's checks, one error kind at a time.
use std::fs;
use std::path::Component;

use super::keys::{closest_key, edit_distance};
use super::*;

pub(super) const FILE: &str = "examples/config.toml";

const ORIGINAL_SAMPLE: &str = r#"listen_address = "127.0.0.1:8080"

[[applications]]
file_path = "./samples/testfunc.wasm"
method = "GET"
url_path = "/hello"
function = "hello"            # optional, default "handle"

[[applications]]
file_path = "./samples/testbackend.wasm"
method = "GET"
url_path = "/backend"
env = { "/env/backend" = "127.0.0.1:8181" }
"#;

pub(super) fn parse(text: &str) -> Config {
    Config::parse(text, Path::new(FILE))
        .unwrap_or_else(|errors| panic!("unexpected errors:\n{errors}"))
}

fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, Path::new(FILE)) {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

pub(super) fn assert_error(text: &str, expected: &str) {
    let errors = errors(text);
    assert!(
        errors.iter().any(|error| error == expected),
        "{expected:?} not among {errors:#?}"
    );
}

/// One application, its `[[applications]]` header on line 1, with `extra` lines after.
pub(super) fn app(path: &str, extra: &str) -> String {
    format!(
        "[[applications]]\nfile_path = \"a.wasm\"\nmethod = \"GET\"\nurl_path = \"{path}\"\n{extra}"
    )
}

fn get(names: &[&str]) -> Methods {
    Methods::List(
        names
            .iter()
            .map(|name| parse_method_name(name).expect("test method"))
            .collect(),
    )
}

/// A directory under the system temp dir, unique to one test, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "serverless-wasm-config-{}-{test}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn file(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("create dirs");
        fs::write(&path, contents).expect("write file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn loads_the_original_sample_config() {
    let config = parse(ORIGINAL_SAMPLE);
    assert_eq!(config.file, Path::new(FILE));
    assert_eq!(config.listen_address, "127.0.0.1:8080");
    let [hello, backend] = config.apps.as_slice() else {
        panic!("expected two apps: {:#?}", config.apps);
    };
    assert_eq!(hello.name, "testfunc");
    assert_eq!(
        hello.source,
        SourceUrl::File(Path::new("examples").join("./samples/testfunc.wasm"))
    );
    assert_eq!(hello.function, "hello");
    assert_eq!(hello.methods, get(&["GET"]));
    assert_eq!(hello.route, Route::Exact("/hello".into()));
    assert!(hello.env.is_empty());
    assert_eq!(hello.limits, Limits::default());
    assert!(hello.allowed_outbound_hosts.is_unrestricted());
    assert_eq!(hello.line, 3);
    assert_eq!(backend.name, "testbackend");
    assert_eq!(backend.function, DEFAULT_FUNCTION);
    assert_eq!(
        backend.env,
        [("/env/backend".to_owned(), "127.0.0.1:8181".to_owned())]
    );
    assert_eq!(backend.line, 9);
    assert_eq!(
        config.warnings,
        [
            "app `testfunc` may connect to any host: set allowed_outbound_hosts to restrict it",
            "app `testbackend` may connect to any host: set allowed_outbound_hosts to restrict it",
        ]
    );
}

#[test]
fn builtin_defaults_apply_when_keys_are_absent() {
    let config = parse(&app("/a", ""));
    assert_eq!(config.listen_address, DEFAULT_LISTEN_ADDRESS);
    let limits = config.apps[0].limits;
    assert_eq!(limits.timeout, Duration::from_millis(30_000));
    assert_eq!(limits.memory_limit_bytes, 128 * 1024 * 1024);
    assert_eq!(limits.max_request_body_bytes, 10_485_760);
    assert_eq!(limits, Limits::default());
}

#[test]
fn applications_inherit_defaults_and_may_override_them() {
    let text = format!(
        "[defaults]\ntimeout_ms = 500\nmemory_limit_mb = 64\nmax_request_body_bytes = 1024\n\
         max_concurrency = 8\nmax_queued = 4\nqueue_timeout_ms = 250\n\
         allowed_outbound_hosts = [\"db.local:5432\"]\n{}{}",
        app("/inherits", ""),
        app(
            "/overrides",
            "timeout_ms = 9\nmemory_limit_mb = 4096\nmax_request_body_bytes = 0\nallowed_outbound_hosts = []\nname = \"o\"\n\
             max_queued = 0\n"
        ),
    );
    let config = parse(&text);
    let [inherits, overrides] = config.apps.as_slice() else {
        panic!("two apps")
    };
    assert_eq!(
        inherits.limits,
        Limits {
            timeout: Duration::from_millis(500),
            memory_limit_bytes: 64 * 1024 * 1024,
            max_request_body_bytes: 1024,
            admission: Admission {
                max_concurrency: Some(8),
                max_queued: 4,
                queue_timeout: Duration::from_millis(250),
            },
        }
    );
    assert!(inherits.allowed_outbound_hosts.allows("db.local", 5432));
    assert!(!inherits.allowed_outbound_hosts.allows("db.local", 5433));
    assert_eq!(
        overrides.limits,
        Limits {
            timeout: Duration::from_millis(9),
            memory_limit_bytes: 4096 * 1024 * 1024,
            max_request_body_bytes: 0,
            admission: Admission {
                max_concurrency: Some(8),
                max_queued: 0,
                queue_timeout: Duration::from_millis(250),
            },
        }
    );
    assert_eq!(
        overrides.allowed_outbound_hosts,
        AllowedHosts::only(Vec::new())
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn reads_allowed_outbound_hosts() {
    let config = parse(&app(
        "/a",
        "allowed_outbound_hosts = [\"127.0.0.1:8181\", \"*:443\", \"[::1]:*\"]\n",
    ));
    let allowed = &config.apps[0].allowed_outbound_hosts;
    assert!(allowed.allows("127.0.0.1", 8181));
    assert!(allowed.allows("example.com", 443));
    assert!(allowed.allows("::1", 1));
    assert!(!allowed.allows("example.com", 80));
}

#[test]
fn reads_every_form_of_method() {
    let methods = |value: &str| {
        parse(&format!(
            "[[applications]]\nfile_path = \"a\"\nurl_path = \"/\"\nmethod = {value}\n"
        ))
        .apps[0]
            .methods
            .clone()
    };
    assert_eq!(methods("\"*\""), Methods::Any);
    assert_eq!(methods("[\"*\"]"), Methods::Any);
    assert_eq!(methods("\"get\""), get(&["GET"]));
    assert_eq!(
        methods("[\"post\", \"Get\", \"POST\"]"),
        get(&["POST", "GET"])
    );
    assert_eq!(methods("\"PURGE\""), get(&["PURGE"]));
}

#[test]
fn reads_prefix_routes_and_env_in_file_order() {
    let config = parse(&app(
        "/static/...",
        "[applications.env]\nZED = \"1\"\nalpha = \"2\"\n\"with space\" = \"3\"\n",
    ));
    let static_app = &config.apps[0];
    assert_eq!(static_app.route, Route::Prefix("/static".into()));
    let names: Vec<&str> = static_app
        .env
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(names, ["ZED", "alpha", "with space"]);
}

#[test]
fn explicit_names_are_kept() {
    let config = parse(&app("/a", "name = \"front-end.v2:main/x\"\n"));
    assert_eq!(config.apps[0].name, "front-end.v2:main/x");
}

#[test]
fn default_names_grow_until_unique() {
    let text = [
        "[[applications]]\nfile_path = \"samples/testfunc.wasm\"\nfunction = \"hello\"\nmethod = \"GET\"\nurl_path = \"/hello\"\n",
        "[[applications]]\nfile_path = \"samples/testfunc.wasm\"\nfunction = \"other\"\nmethod = \"GET\"\nurl_path = \"/other\"\n",
        "[[applications]]\nfile_path = \"b/lib.wasm\"\nmethod = [\"GET\", \"POST\"]\nurl_path = \"/x\"\n",
        "[[applications]]\nfile_path = \"c/lib.wasm\"\nmethod = \"GET\"\nurl_path = \"/y/...\"\n",
        "[[applications]]\nfile_path = \"unique.wasm\"\nmethod = \"GET\"\nurl_path = \"/z\"\n",
    ]
    .concat();
    let names: Vec<String> = parse(&text).apps.into_iter().map(|app| app.name).collect();
    assert_eq!(
        names,
        [
            "testfunc:hello",
            "testfunc:other",
            "lib:handle:GET,POST:/x",
            "lib:handle:GET:/y/...",
            "unique"
        ]
    );
}

#[test]
fn default_names_avoid_explicit_names() {
    let text = [
        app("/a", "name = \"a\"\n"),
        app("/b", "name = \"a:handle\"\n"),
        app("/c", ""),
    ]
    .concat();
    let names: Vec<String> = parse(&text).apps.into_iter().map(|app| app.name).collect();
    assert_eq!(names, ["a", "a:handle", "a:handle:GET:/c"]);
}

#[test]
fn default_names_avoid_names_generated_earlier() {
    let text = [
        "[[applications]]\nfile_path = \"x:handle.wasm\"\nmethod = \"GET\"\nurl_path = \"/1\"\n",
        "[[applications]]\nfile_path = \"x.wasm\"\nmethod = \"GET\"\nurl_path = \"/2\"\n",
        "[[applications]]\nfile_path = \"x.wasm\"\nmethod = \"GET\"\nurl_path = \"/3\"\n",
    ]
    .concat();
    let names: Vec<String> = parse(&text).apps.into_iter().map(|app| app.name).collect();
    assert_eq!(names, ["x:handle", "x:handle:GET:/2", "x:handle:GET:/3"]);
}

#[test]
fn error_when_no_default_name_is_free() {
    let text = [
        app("/1", "name = \"a\"\n"),
        app("/2", "name = \"a:handle\"\n"),
        app("/3", "name = \"a:handle:GET:/4\"\n"),
        app("/4", ""),
    ]
    .concat();
    assert_error(
        &text,
        "examples/config.toml:16: `applications[4].name`: cannot derive a unique default name \
         (`a:handle:GET:/4` is taken); set `name`",
    );
}

#[test]
fn reports_syntax_errors_with_their_line() {
    let found = errors("listen_address = \"x:1\"\n\n[[applications]\nfile_path = \"a\"\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("examples/config.toml:3: "),
        "{found:#?}"
    );
}

#[test]
fn reports_syntax_errors_on_several_lines() {
    let found = errors("a = = 1\nb = 2\nc = \"unclosed\n");
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("examples/config.toml:1: "),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("examples/config.toml:3: "),
        "{found:#?}"
    );
}

#[test]
fn unknown_keys_suggest_the_closest_known_key() {
    let text = format!(
        "listen_adress = \"x:1\"\n[defaults]\ntimeout = 5\n{}",
        app("/a", "methdo = \"GET\"\nenvv = {}\n")
    );
    let found = errors(&text);
    assert_eq!(
        found,
        [
            "examples/config.toml:1: `listen_adress`: unknown key; did you mean `listen_address`?",
            "examples/config.toml:3: `defaults.timeout`: unknown key; did you mean `timeout_ms`?",
            "examples/config.toml:8: `applications[1].methdo`: unknown key; did you mean `method`?",
            "examples/config.toml:9: `applications[1].envv`: unknown key; did you mean `env`?",
        ]
    );
}

#[test]
fn unknown_key_without_a_close_match_lists_the_known_keys() {
    assert_error(
        "colour = 1\n",
        "examples/config.toml:1: `colour`: unknown key; expected one of `listen_address`, `data_dir`, `poll_seconds`, `s3_endpoint`, `admin_address`, `admin_token`, `tls_cert`, `tls_key`, `max_connections`, `header_read_timeout_ms`, `max_header_bytes`, `keep_alive_timeout_ms`, `h2_max_concurrent_streams`, `max_instances`, `shutdown_delay_ms`, `key_value_stores`, `defaults`, `applications`, `spin_apps`",
    );
}

#[test]
fn known_keys_in_the_wrong_table_say_where_they_belong() {
    let text = format!(
        "timeout_ms = 5\nurl_path = \"/\"\n[defaults]\nname = \"x\"\n{}",
        app("/a", "")
    );
    let found = errors(&text);
    assert_eq!(
        found,
        [
            "examples/config.toml:1: `timeout_ms`: not allowed here; it belongs in [defaults] or an [[applications]] table",
            "examples/config.toml:2: `url_path`: not allowed here; it belongs in an [[applications]] table",
            "examples/config.toml:4: `defaults.name`: not allowed here; it has no default; set it in each [[applications]] table",
        ]
    );
}

#[test]
fn unknown_keys_in_nested_tables_are_named_by_their_path() {
    assert_error(
        &format!("{}[applications.limits]\ntimeout = 1\n", app("/a", "")),
        "examples/config.toml:5: `applications[1].limits`: unknown key; expected one of `name`, `file_path`, `source`, `digest`, \
         `function`, `method`, `url_path`, `env`, `abi`, `files`, `reuse`, `concurrent_reuse`, `key_value_stores`, `max_keys`, `timeout_ms`, `memory_limit_mb`, `max_request_body_bytes`, `max_concurrency`, `max_queued`, `queue_timeout_ms`, \
         `preload`, `idle_release_seconds`, `allowed_outbound_hosts`",
    );
}

#[test]
fn wrong_types_name_the_key_and_line() {
    assert_error(
        &app("/a", "timeout_ms = \"5\"\n"),
        "examples/config.toml:5: `applications[1].timeout_ms`: invalid type: string \"5\", expected u64",
    );
    assert_error(
        &format!("[defaults]\nmemory_limit_mb = 1.5\n{}", app("/a", "")),
        "examples/config.toml:2: `defaults.memory_limit_mb`: invalid type: floating point `1.5`, expected u64",
    );
    assert_error(
        &format!("listen_address = 8080\n{}", app("/a", "")),
        "examples/config.toml:1: `listen_address`: invalid type: integer `8080`, expected a string",
    );
    assert_error(
        &app("/a", "allowed_outbound_hosts = [\"a:1\",\n  5]\n"),
        "examples/config.toml:6: `applications[1].allowed_outbound_hosts[2]`: invalid type: integer `5`, expected a string",
    );
    assert_error(
        "[[applications]]\nfile_path = \"a\"\nurl_path = \"/\"\nmethod = 1\n",
        "examples/config.toml:4: `applications[1].method`: invalid type: integer `1`, expected a method name or a list of method names",
    );
    assert_error(
        &app("/a", "timeout_ms = -1\n"),
        "examples/config.toml:5: `applications[1].timeout_ms`: invalid value: integer `-1`, expected u64",
    );
}

#[test]
fn reuse_defaults_to_a_fresh_instance_per_request() {
    let config = parse(&[app("/a", ""), app("/b", "reuse = 128\n")].concat());
    let reuse: Vec<u32> = config.apps.iter().map(|app| app.reuse).collect();
    assert_eq!(reuse, [1, 128]);
    for bad in ["0", "4294967296"] {
        assert_error(
            &app("/a", &format!("reuse = {bad}\n")),
            &format!(
                "examples/config.toml:5: `applications[1].reuse`: must be between 1 (a fresh instance for every request) and 4294967295, got {bad}"
            ),
        );
    }
}

#[test]
fn residency_defaults_and_overrides() {
    let config = parse(
        &[
            "[defaults]\nidle_release_seconds = 60\n".to_owned(),
            app("/a", ""),
            app("/b", "preload = true\nidle_release_seconds = 0\n"),
        ]
        .concat(),
    );
    let residency: Vec<Residency> = config.apps.iter().map(|app| app.residency).collect();
    assert_eq!(
        residency,
        [
            Residency {
                preload: false,
                idle_release: Some(Duration::from_secs(60)),
            },
            Residency {
                preload: true,
                idle_release: None,
            },
        ]
    );
    assert_eq!(
        parse(&app("/a", "")).apps[0].residency,
        Residency::default()
    );
    assert_error(
        &app("/a", "preload = 1\n"),
        "examples/config.toml:5: `applications[1].preload`: invalid type: integer `1`, expected a boolean",
    );
}

#[test]
fn a_wrong_type_in_one_application_does_not_hide_the_next() {
    let text = [
        app("/a", "timeout_ms = \"5\"\n"),
        app("/b", "memory_limit_mb = 0\n"),
    ]
    .concat();
    let found = errors(&text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("examples/config.toml:5: `applications[1].timeout_ms`"));
    assert!(found[1].starts_with("examples/config.toml:10: `applications[2].memory_limit_mb`"));
}

#[test]
fn missing_required_keys_are_all_reported_at_the_header() {
    let found = errors("listen_address = \"127.0.0.1:1\"\n\n[[applications]]\nfunction = \"f\"\n");
    assert_eq!(
        found,
        [
            "examples/config.toml:3: `applications[1].file_path`: required key is missing",
            "examples/config.toml:3: `applications[1].method`: required key is missing",
            "examples/config.toml:3: `applications[1].url_path`: required key is missing",
        ]
    );
}

#[test]
fn invalid_methods_name_the_entry() {
    let with_method = |value: &str| {
        format!("[[applications]]\nfile_path = \"a\"\nurl_path = \"/\"\nmethod = {value}\n")
    };
    assert_error(
        &with_method("\"GE T\""),
        "examples/config.toml:4: `applications[1].method`: `GE T` is not a valid HTTP method name",
    );
    assert_error(
        &with_method("[\"GET\", \"P(ST\"]"),
        "examples/config.toml:4: `applications[1].method[2]`: `P(ST` is not a valid HTTP method name",
    );
    assert_error(
        &with_method("\"\""),
        "examples/config.toml:4: `applications[1].method`: `` is not a valid HTTP method name",
    );
    assert_error(
        &with_method("[\"GET\", \"*\"]"),
        "examples/config.toml:4: `applications[1].method[2]`: \"*\" (any method) cannot be listed with other methods",
    );
    assert_error(
        &with_method("[]"),
        "examples/config.toml:4: `applications[1].method`: lists no methods; use \"*\" for any method",
    );
}

#[test]
fn invalid_url_paths_are_reported() {
    assert_error(
        &app("hello", ""),
        "examples/config.toml:4: `applications[1].url_path`: `hello` must start with `/`",
    );
    assert_error(
        &app("/a/.../b", ""),
        "examples/config.toml:4: `applications[1].url_path`: `/a/.../b`: `...` may only end a path, as in `/static/...`",
    );
}

#[test]
fn limits_out_of_range_are_reported() {
    let text = format!(
        "[defaults]\nmemory_limit_mb = 0\ntimeout_ms = 0\n{}",
        app("/a", "memory_limit_mb = 4097\n")
    );
    assert_eq!(
        errors(&text),
        [
            "examples/config.toml:2: `defaults.memory_limit_mb`: must be between 1 and 4096 (MiB), got 0",
            "examples/config.toml:3: `defaults.timeout_ms`: must be greater than 0 (it is a deadline in milliseconds)",
            "examples/config.toml:8: `applications[1].memory_limit_mb`: must be between 1 and 4096 (MiB), got 4097",
        ]
    );
}

#[test]
fn invalid_host_patterns_name_the_entry() {
    let text = app(
        "/a",
        "allowed_outbound_hosts = [\n  \"db:5432\",\n  \"foo\",\n  \"bar:x\",\n]\n",
    );
    assert_eq!(
        errors(&text),
        [
            "examples/config.toml:7: `applications[1].allowed_outbound_hosts[2]`: expected `host:port` \
             (host may be `*`, port a number or `*`), got `foo`",
            "examples/config.toml:8: `applications[1].allowed_outbound_hosts[3]`: expected `host:port` \
             (host may be `*`, port a number or `*`), got `bar:x`",
        ]
    );
}

#[test]
fn invalid_names_and_empty_strings_are_reported() {
    let text = [
        app("/1", "name = \"\"\n"),
        app("/2", "name = \"two words\"\n"),
        app("/3", "function = \"\"\n"),
        "[[applications]]\nfile_path = \"\"\nmethod = \"GET\"\nurl_path = \"/4\"\n".to_owned(),
    ]
    .concat();
    assert_eq!(
        errors(&text),
        [
            "examples/config.toml:5: `applications[1].name`: must not be empty",
            "examples/config.toml:10: `applications[2].name`: \"two words\" must not contain whitespace or control characters",
            "examples/config.toml:15: `applications[3].function`: must not be empty",
            "examples/config.toml:17: `applications[4].file_path`: must not be empty",
        ]
    );
}

#[test]
fn invalid_listen_address_is_reported() {
    assert_error(
        &format!("listen_address = \"8080\"\n{}", app("/a", "")),
        "examples/config.toml:1: `listen_address`: expected `host:port`, e.g. `127.0.0.1:8080`, got `8080`",
    );
    let config = parse(&format!("listen_address = \"[::]:0\"\n{}", app("/a", "")));
    assert_eq!(config.listen_address, "[::]:0");
}

#[test]
fn non_string_env_values_name_the_key() {
    let text = app(
        "/a",
        "env = { \"/env/backend\" = 8181, PLAIN = \"ok\", FLAG = true }\n",
    );
    assert_eq!(
        errors(&text),
        [
            "examples/config.toml:5: `applications[1].env.\"/env/backend\"`: must be a string, not integer",
            "examples/config.toml:5: `applications[1].env.FLAG`: must be a string, not boolean",
        ]
    );
}

#[test]
fn duplicate_names_name_both_lines() {
    let text = [
        app("/a", "name = \"hello\"\n"),
        app("/b", ""),
        app("/c", "name = \"hello\"\n"),
    ]
    .concat();
    assert_eq!(
        errors(&text),
        [
            "examples/config.toml:14: `applications[3].name`: `hello` is already the name of applications[1] (line 5)"
        ]
    );
}

#[test]
fn overlapping_routes_name_both_lines() {
    let text = [
        app("/hello", "name = \"hello\"\n"),
        app("/other", ""),
        "[[applications]]\nfile_path = \"b.wasm\"\nmethod = [\"POST\", \"GET\"]\nurl_path = \"/hello\"\n".to_owned(),
        "[[applications]]\nfile_path = \"c.wasm\"\nmethod = \"*\"\nurl_path = \"/other\"\n".to_owned(),
    ]
    .concat();
    assert_eq!(
        errors(&text),
        [
            "examples/config.toml:13: `applications[3].url_path`: GET /hello is already routed to app `hello` (line 1)",
            "examples/config.toml:17: `applications[4].url_path`: GET /other is already routed to app `a` (line 6)",
        ]
    );
}

#[test]
fn conflicting_unnamed_applications_get_only_the_conflict_error() {
    let text = [app("/same", ""), app("/same", "")].concat();
    assert_eq!(
        errors(&text),
        [
            "examples/config.toml:8: `applications[2].url_path`: GET /same is already routed to app `a:handle:GET:/same` (line 1)"
        ]
    );
}

#[test]
fn routes_may_share_a_path_with_disjoint_methods_or_differ_in_kind() {
    let text = [
        app("/page", "name = \"get\"\n"),
        "[[applications]]\nname = \"head\"\nfile_path = \"a\"\nmethod = \"HEAD\"\nurl_path = \"/page\"\n".to_owned(),
        "[[applications]]\nname = \"post\"\nfile_path = \"a\"\nmethod = \"post\"\nurl_path = \"/page\"\n".to_owned(),
        app("/page/...", "name = \"below\"\n"),
    ]
    .concat();
    assert_eq!(parse(&text).apps.len(), 4);
}

#[test]
fn applications_are_required() {
    assert_error(
        "",
        "examples/config.toml: `applications`: no applications; add at least one [[applications]] or [[spin_apps]] table",
    );
    assert_error(
        "\napplications = []\n",
        "examples/config.toml:2: `applications`: no applications; add at least one [[applications]] or [[spin_apps]] table",
    );
    assert_error(
        "[applications]\nfile_path = \"a\"\n",
        "examples/config.toml:1: `applications`: expected [[applications]] tables, got table",
    );
    assert_error(
        "applications = 5\n",
        "examples/config.toml:1: `applications`: expected [[applications]] tables, got integer",
    );
    assert_error(
        "applications = [\"a\"]\n",
        "examples/config.toml:1: `applications[1]`: expected a table, got string",
    );
    assert_error(
        &format!("defaults = 1\n{}", app("/a", "")),
        "examples/config.toml:1: `defaults`: expected a table, got integer",
    );
}

#[test]
fn inline_application_tables_work_too() {
    let config = parse(
        "applications = [\n  { file_path = \"a\", method = \"GET\", url_path = \"/a\" },\n]\n",
    );
    assert_eq!(config.apps[0].line, 2);
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let text = [
        "listen_address = \"nope\"\n".to_owned(),
        app("/a", "timeout_ms = 0\nmethdo = 1\n"),
        "[[applications]]\nname = \"\"\n".to_owned(),
        app("/a", "memory_limit_mb = 99999\n"),
    ]
    .concat();
    let lines: Vec<usize> = match Config::parse(&text, Path::new(FILE)) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.0.iter().map(|error| error.line).collect(),
    };
    // listen_address; timeout, methdo; three missing keys, empty name; route conflict, memory.
    assert_eq!(lines, [1, 6, 7, 8, 8, 8, 9, 13, 14]);
}

#[test]
fn load_reports_an_unreadable_file_without_a_line() {
    let dir = TempDir::new("unreadable");
    let missing = dir.0.join("missing.toml");
    let errors = match Config::load(&missing) {
        Ok(_) => panic!("loaded a missing file"),
        Err(errors) => errors,
    };
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].line, 0);
    assert_eq!(errors.0[0].key, None);
    let shown = errors.to_string();
    assert!(
        shown.starts_with(&format!(
            "{}: cannot read the config file: ",
            missing.display()
        )),
        "{shown}"
    );
}

#[test]
fn load_resolves_module_paths_against_the_config_directory() {
    let dir = TempDir::new("beside");
    let module = dir.file("conf/modules/m.wasm", "");
    let config_file = dir.file(
        "conf/config.toml",
        &app("/a", "").replace("a.wasm", "modules/m.wasm"),
    );
    let config = Config::load(&config_file).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.apps[0].source, SourceUrl::File(module));
    assert_eq!(
        config.warnings.len(),
        1,
        "only the outbound warning: {:?}",
        config.warnings
    );
}

/// A relative path that reaches `target` from the working directory by climbing to the
/// root, and so reaches it from no directory deeper than the working directory.
fn relative_from_cwd(target: &Path) -> String {
    let cwd = std::env::current_dir().expect("working directory");
    let depth = cwd
        .components()
        .filter(|part| matches!(part, Component::Normal(_)))
        .count();
    let below_root = target.strip_prefix("/").expect("absolute temp dir");
    format!("{}{}", "../".repeat(depth), below_root.display())
}

#[test]
fn module_found_only_relative_to_the_working_directory_is_used_with_one_warning() {
    let dir = TempDir::new("cwd-fallback");
    let module = dir.file("m.wasm", "");
    let written = relative_from_cwd(&module);
    let depth = written.matches("../").count();
    let deep_dir: PathBuf = std::iter::repeat_n("deeper", depth + 1).collect();
    let config_file = dir.0.join(deep_dir).join("config.toml");
    let apps = [app("/a", ""), app("/b", "")]
        .concat()
        .replace("a.wasm", &written);
    let config = Config::parse(&apps, &config_file).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(
        config.apps[0].source,
        SourceUrl::File(Path::new(&written).into())
    );
    assert_eq!(
        config.apps[1].source,
        SourceUrl::File(Path::new(&written).into())
    );
    let fallback_warnings: Vec<&String> = config
        .warnings
        .iter()
        .filter(|warning| warning.contains("working directory"))
        .collect();
    assert_eq!(fallback_warnings.len(), 1, "{:?}", config.warnings);
    assert!(fallback_warnings[0].starts_with(&format!("{}:2: `{written}`", config_file.display())));
}

#[test]
fn module_found_nowhere_keeps_the_config_relative_path() {
    let config = parse(&app("/a", ""));
    assert_eq!(
        config.apps[0].source,
        SourceUrl::File(Path::new("examples/a.wasm").into())
    );
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
}

#[test]
fn for_module_serves_everything_with_defaults() {
    let app = AppConfig::for_module(PathBuf::from("dir/echo.wasm"));
    assert_eq!(app.name, "echo");
    assert_eq!(app.source, SourceUrl::File("dir/echo.wasm".into()));
    assert_eq!(app.function, "handle");
    assert_eq!(app.methods, Methods::Any);
    assert_eq!(app.route.to_string(), "/...");
    assert!(app.env.is_empty());
    assert_eq!(app.limits, Limits::default());
    assert!(app.allowed_outbound_hosts.is_unrestricted());
    assert_eq!(app.line, 0);
    assert_eq!(
        AppConfig::for_module(PathBuf::from("/")).name,
        FALLBACK_NAME
    );
}

#[test]
fn errors_display_only_the_parts_they_have() {
    let error = |file: &str, line, key: Option<&str>| {
        ConfigError {
            file: file.into(),
            line,
            key: key.map(str::to_owned),
            message: "bad".into(),
        }
        .to_string()
    };
    assert_eq!(
        error("c.toml", 7, Some("applications[1].methdo")),
        "c.toml:7: `applications[1].methdo`: bad"
    );
    assert_eq!(
        error("c.toml", 0, Some("applications")),
        "c.toml: `applications`: bad"
    );
    assert_eq!(error("c.toml", 3, None), "c.toml:3: bad");
    assert_eq!(error("", 3, None), "line 3: bad");
    assert_eq!(error("", 0, None), "bad");
    let both = ConfigErrors(vec![
        ConfigError {
            file: "a".into(),
            line: 1,
            key: None,
            message: "x".into(),
        },
        ConfigError {
            file: "a".into(),
            line: 2,
            key: None,
            message: "y".into(),
        },
    ]);
    assert_eq!(both.to_string(), "a:1: x\na:2: y");
}

#[test]
fn known_keys_come_from_the_structs() {
    assert_eq!(
        field_names::<RawTop>(),
        [
            "listen_address",
            "data_dir",
            "poll_seconds",
            "s3_endpoint",
            "admin_address",
            "admin_token",
            "tls_cert",
            "tls_key",
            "max_connections",
            "header_read_timeout_ms",
            "max_header_bytes",
            "keep_alive_timeout_ms",
            "h2_max_concurrent_streams",
            "max_instances",
            "shutdown_delay_ms",
            "key_value_stores",
            "defaults",
            "applications",
            "spin_apps"
        ]
    );
    assert_eq!(
        field_names::<RawSettings>(),
        [
            "timeout_ms",
            "memory_limit_mb",
            "max_request_body_bytes",
            "max_concurrency",
            "max_queued",
            "queue_timeout_ms",
            "preload",
            "idle_release_seconds",
            "allowed_outbound_hosts"
        ]
    );
    assert_eq!(
        field_names::<RawApp>(),
        [
            "name",
            "file_path",
            "source",
            "digest",
            "function",
            "method",
            "url_path",
            "env",
            "abi",
            "files",
            "reuse",
            "concurrent_reuse",
            "key_value_stores",
            "max_keys"
        ]
    );
    assert!(field_names::<String>().is_empty());
}

#[test]
fn suggestions_are_close_keys_only() {
    assert_eq!(edit_distance("methdo", "method"), 2);
    assert_eq!(edit_distance("", "env"), 3);
    assert_eq!(edit_distance("url_paht", "url_path"), 2);
    let known = Scope::Application.known_keys();
    assert_eq!(closest_key("filepath", &known), Some("file_path"));
    assert_eq!(closest_key("urlpath", &known), Some("url_path"));
    assert_eq!(closest_key("nmae", &known), Some("name"));
    assert_eq!(closest_key("memory_limit", &known), Some("memory_limit_mb"));
    assert_eq!(
        closest_key("max_request_body", &known),
        Some("max_request_body_bytes")
    );
    assert_eq!(closest_key("colour", &known), None);
    assert_eq!(closest_key("ma", &known), None);
}

#[test]
fn finds_the_key_path_of_an_offset() {
    let text = "a = 1\n[t]\nb = [1, { c = 2 }]\n[[arr]]\nd = 3\n[[arr]]\n\"e f\" = 4\n";
    let (document, problems) = DeTable::parse_recoverable(text);
    assert!(problems.is_empty());
    let at = |needle: &str| {
        key_path_at(
            document.get_ref(),
            text.find(needle).expect("needle in text"),
        )
    };
    assert_eq!(at("1\n").as_deref(), Some("a"));
    assert_eq!(at("1,").as_deref(), Some("t.b[1]"));
    assert_eq!(at("2 }").as_deref(), Some("t.b[2].c"));
    assert_eq!(at("3").as_deref(), Some("arr[1].d"));
    assert_eq!(at("4").as_deref(), Some("arr[2].\"e f\""));
    assert_eq!(at("[t]").as_deref(), Some("t"));
}

#[test]
fn lines_count_from_one() {
    let lines = LineIndex::new("a\nb\nc");
    assert_eq!(lines.line(0), 1);
    assert_eq!(lines.line(1), 1);
    assert_eq!(lines.line(2), 2);
    assert_eq!(lines.line(4), 3);
    assert_eq!(LineIndex::new("a\nb").line(99), 2);
}

#[test]
fn strange_input_never_panics() {
    for text in [
        "\u{0}",
        "[[applications]]\n[[applications]]",
        "applications = [[]]",
        "= 1",
        "[a.b.c]\nd.e.f = 1",
        "\u{feff}x = 1",
    ] {
        let _ = Config::parse(text, Path::new(""));
    }
}

#[test]
fn server_settings_default_to_the_documented_limits() {
    let config = parse(&app("/a", ""));
    assert_eq!(config.server, ServerSettings::default());
    assert_eq!(config.server.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.server.max_header_bytes, 65_536);
    assert_eq!(config.server.admin_address, None);
    assert_eq!(config.apps[0].limits.admission.max_concurrency, None);
}

#[test]
fn server_settings_are_read_and_tls_files_resolved_beside_the_config() {
    let text = format!(
        "admin_address = \"127.0.0.1:9090\"\nadmin_token = \"0123456789abcdef\"\n\
         tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\nmax_connections = 50\n\
         header_read_timeout_ms = 2000\nmax_header_bytes = 16384\n\
         keep_alive_timeout_ms = 5000\nh2_max_concurrent_streams = 10\n\
         shutdown_delay_ms = 5000\n{}",
        app("/a", "")
    );
    let config = Config::parse(&text, Path::new("/etc/sw/config.toml")).unwrap();
    let server = config.server;
    assert_eq!(server.admin_address.as_deref(), Some("127.0.0.1:9090"));
    assert_eq!(server.admin_token.as_deref(), Some("0123456789abcdef"));
    assert_eq!(
        server.tls,
        Some(TlsFiles {
            cert: PathBuf::from("/etc/sw/cert.pem"),
            key: PathBuf::from("/etc/sw/key.pem"),
        })
    );
    assert_eq!(server.max_connections, 50);
    assert_eq!(server.header_read_timeout, Duration::from_secs(2));
    assert_eq!(server.max_header_bytes, 16384);
    assert_eq!(server.keep_alive_timeout, Duration::from_secs(5));
    assert_eq!(server.h2_max_concurrent_streams, 10);
    assert_eq!(server.shutdown_delay, Duration::from_secs(5));
}

#[test]
fn bad_server_and_admission_settings_name_their_key_and_line() {
    let text = format!(
        "admin_token = \"short\"\ntls_cert = \"cert.pem\"\nmax_header_bytes = 100\n\
         shutdown_delay_ms = 600001\n{}",
        app("/a", "max_concurrency = 0\nqueue_timeout_ms = 0\n")
    );
    let errors = Config::parse(&text, Path::new("c.toml"))
        .unwrap_err()
        .to_string();
    for expected in [
        "c.toml:1: `admin_token`: must be at least 16 characters",
        "c.toml:2: `tls_key`: `tls_cert` needs `tls_key`",
        "c.toml:3: `max_header_bytes`: must be 8192 to",
        "c.toml:4: `shutdown_delay_ms`: must be 0 to 600000 ms",
        "c.toml:9: `applications[1].max_concurrency`: must be 1 to",
        "c.toml:10: `applications[1].queue_timeout_ms`: must be greater than 0",
    ] {
        assert!(errors.contains(expected), "{expected:?} not in:\n{errors}");
    }
}
