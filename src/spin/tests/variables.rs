//! `{{ name }}` templates and the values of app variables.

use std::collections::HashMap;
use std::env::VarError;
use std::ffi::OsString;

use super::{app_with_api, error, parse};
use crate::spin::manifest::Manifest;
use crate::spin::variables::{Template, Value, Values, env_name};

/// A manifest with these `[variables]` lines and `api`'s `variables` table.
fn manifest(variables: &str, component_variables: &str) -> Manifest {
    parse(&app_with_api(&format!("[variables]\n{variables}")).replace(
        "source = \"api.wasm\"",
        &format!("source = \"api.wasm\"\nvariables = {{ {component_variables} }}"),
    ))
}

/// An environment holding `pairs`.
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Result<String, VarError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned().ok_or(VarError::NotPresent)
}

fn exposed(values: &[(String, Value)]) -> Vec<(&str, &str)> {
    values
        .iter()
        .map(|(name, value)| (name.as_str(), value.expose()))
        .collect()
}

#[test]
fn parses_templates_as_spin_does() {
    let parts = |text: &str| {
        let template = Template::parse(text).expect("parses");
        (
            template.variables().map(str::to_owned).collect::<Vec<_>>(),
            template.is_literal(),
        )
    };
    assert_eq!(parts(""), (vec![], true));
    assert_eq!(parts("plain text"), (vec![], true));
    assert_eq!(parts("a-{{ expr }}-b"), (vec!["expr".to_owned()], false));
    assert_eq!(
        parts("{{x}}{{  y\t}}"),
        (vec!["x".to_owned(), "y".to_owned()], false)
    );
    // A lone `}}` is text; there is no escape for `{{`.
    assert_eq!(parts("a }} b"), (vec![], true));
    assert_eq!(parts("{{{{ x }}}}"), (vec!["{{ x".to_owned()], false));
    let unclosed = Template::parse("{{ matched }} {{ unmatched").expect_err("unclosed");
    assert!(unclosed.starts_with("unmatched `{{`"), "{unclosed}");
    assert_eq!(
        Template::parse("x {{ y }}").expect("parses").source(),
        "x {{ y }}"
    );
}

#[test]
fn names_environment_variables_as_spin_does() {
    assert_eq!(env_name("api_key"), "SPIN_VARIABLE_API_KEY");
    assert_eq!(env_name("db2"), "SPIN_VARIABLE_DB2");
}

#[test]
fn takes_values_from_the_environment_then_the_default() {
    let manifest = manifest(
        "host = { default = \"example.com\" }\nport = { default = \"80\" }\ntoken = { required = true }",
        "url = \"https://{{ host }}:{{port}}/v1\", token = \"{{ token }}\", fixed = \"x\"",
    );
    let values = Values::resolve(
        &manifest,
        env(&[
            ("SPIN_VARIABLE_PORT", "8443"),
            ("SPIN_VARIABLE_TOKEN", "t0k"),
            ("SPIN_VARIABLE_host", "no"),
        ]),
    )
    .expect("resolves");
    assert_eq!(values.get("host").map(Value::expose), Some("example.com"));
    assert_eq!(values.get("port").map(Value::expose), Some("8443"));
    let component = manifest.component("api").expect("api");
    assert_eq!(
        exposed(&values.component_variables(component)),
        [
            ("url", "https://example.com:8443/v1"),
            ("token", "t0k"),
            ("fixed", "x")
        ]
    );
    // An empty value is a value.
    let empty = Values::resolve(
        &manifest,
        env(&[("SPIN_VARIABLE_TOKEN", ""), ("SPIN_VARIABLE_HOST", "")]),
    )
    .expect("resolves");
    assert_eq!(empty.get("host").map(Value::expose), Some(""));
}

#[test]
fn refuses_a_required_variable_without_a_value_naming_it() {
    let manifest = manifest(
        "token = { required = true, secret = true }\nregion = { required = true }",
        "",
    );
    let error =
        Values::resolve(&manifest, env(&[("SPIN_VARIABLE_REGION", "eu")])).expect_err("missing");
    assert_eq!(
        error.to_string(),
        "/apps/shop/spin.toml:5: `variables.token`: app variable `token` is required and has no value: \
         set SPIN_VARIABLE_TOKEN"
    );
    let both = Values::resolve(&manifest, env(&[]))
        .expect_err("missing")
        .to_string();
    assert_eq!(both.lines().count(), 2, "{both}");
    let not_unicode = Values::resolve(&manifest, |_: &str| {
        Err(VarError::NotUnicode(OsString::from("x")))
    })
    .expect_err("not unicode")
    .to_string();
    assert!(
        not_unicode.contains("SPIN_VARIABLE_TOKEN is set but not valid UTF-8"),
        "{not_unicode}"
    );
}

#[test]
fn keeps_secrets_out_of_debug_output() {
    let manifest = manifest(
        "password = { default = \"hunter2\", secret = true }\nuser = { default = \"ada\" }",
        "dsn = \"{{ user }}:{{ password }}@db\", name = \"{{ user }}\"",
    );
    let debug = format!("{manifest:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("<secret>"), "{debug}");
    let values =
        Values::resolve(&manifest, env(&[("SPIN_VARIABLE_PASSWORD", "s3cr3t")])).expect("resolves");
    assert!(!format!("{values:?}").contains("s3cr3t"));
    let variables = values.component_variables(manifest.component("api").expect("api"));
    assert_eq!(
        exposed(&variables),
        [("dsn", "ada:s3cr3t@db"), ("name", "ada")]
    );
    assert!(variables[0].1.is_secret(), "built from a secret");
    assert!(!variables[1].1.is_secret());
    assert!(!format!("{variables:?}").contains("s3cr3t"));
    assert_eq!(format!("{:?}", Value::new("open", false)), "\"open\"");
    assert!(
        Template::parse("{{ password }}")
            .expect("parses")
            .uses_secret(&manifest)
    );
}

#[test]
fn refuses_component_variables_that_use_undeclared_app_variables() {
    let refused = |variables: &str, component: &str| {
        error(&app_with_api(&format!("[variables]\n{variables}")).replace(
            "source = \"api.wasm\"",
            &format!("source = \"api.wasm\"\nvariables = {{ {component} }}"),
        ))
    };
    assert_eq!(
        refused(
            "api_host = { default = \"x\" }",
            "url = \"https://{{ api_hots }}\""
        ),
        "/apps/shop/spin.toml:12: `component.api.variables.url`: unknown app variable `api_hots`; did \
         you mean `api_host`?"
    );
    assert!(
        refused("a = { default = \"x\" }", "url = \"{{ nothing_like_it }}\"")
            .contains("declare it in [variables]")
    );
    assert!(refused("a = { default = \"x\" }", "url = \"{{ a\"").contains("unmatched `{{`"));
    assert!(
        refused("a = { default = \"x\" }", "URL = \"{{ a }}\"")
            .contains("invalid variable name \"URL\"")
    );
    assert!(
        refused("a = { default = \"x\" }", "url = 1").contains("expected a string, got integer")
    );
}

#[test]
fn resolves_a_whole_manifest() {
    let text = app_with_api("[variables]\nhost = { default = \"api.example.com\" }").replace(
        "source = \"api.wasm\"",
        "source = \"api.wasm\"\nvariables = { endpoint = \"https://{{ host }}\" }\n\
         allowed_outbound_hosts = [\"https://{{ host }}\", \"http://self\"]",
    );
    let with_hosts = parse(&text);
    let resolved = with_hosts
        .resolve(env(&[("SPIN_VARIABLE_HOST", "other.example.com")]))
        .expect("resolves");
    let [api] = resolved.components.as_slice() else {
        panic!("one component: {resolved:?}");
    };
    assert_eq!(api.id, "api");
    assert_eq!(
        exposed(&api.variables),
        [("endpoint", "https://other.example.com")]
    );
    assert!(api.outbound.self_requests);
    assert!(
        api.outbound
            .hosts
            .allows_scheme("https", "other.example.com", 443)
    );
    assert!(
        !api.outbound
            .hosts
            .allows_scheme("https", "api.example.com", 443)
    );
    let defaults = with_hosts.resolve(env(&[])).expect("resolves");
    assert!(
        defaults.components[0]
            .outbound
            .hosts
            .allows_scheme("https", "api.example.com", 443)
    );
}
