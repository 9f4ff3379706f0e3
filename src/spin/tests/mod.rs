//! Tests of reading Spin manifests, their variables and outbound hosts, and
//! runtime configs.

use std::path::Path;

use super::manifest::Manifest;
use super::runtime_config::RuntimeConfig;

mod hosts;
mod manifest;
mod refusals;
mod runtime_config;
mod variables;

const FILE: &str = "/apps/shop/spin.toml";
const RUNTIME_FILE: &str = "/apps/shop/runtime-config.toml";

/// A manifest of version 2 with `[application]` (3 lines) and then `body`.
fn app(body: &str) -> String {
    format!("spin_manifest_version = 2\n[application]\nname = \"shop\"\n{body}")
}

/// `app(body)` with one component `api` (at `/api/...`) after `body`.
fn app_with_api(body: &str) -> String {
    app(&format!(
        "{body}\n[[trigger.http]]\nroute = \"/api/...\"\ncomponent = \"api\"\n\n[component.api]\nsource = \"api.wasm\"\n"
    ))
}

fn parse(text: &str) -> Manifest {
    match Manifest::parse(text, Path::new(FILE)) {
        Ok(manifest) => manifest,
        Err(errors) => panic!("the manifest should parse:\n{errors}\n---\n{text}"),
    }
}

/// Every error, as displayed.
fn errors(text: &str) -> Vec<String> {
    match Manifest::parse(text, Path::new(FILE)) {
        Ok(manifest) => panic!("the manifest should be refused:\n{text}\n{manifest:#?}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

/// The one error, as displayed.
fn error(text: &str) -> String {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap_or_default()
}

fn runtime_config(text: &str) -> RuntimeConfig {
    match RuntimeConfig::parse(text, Path::new(RUNTIME_FILE)) {
        Ok(config) => config,
        Err(errors) => panic!("the runtime config should parse:\n{errors}"),
    }
}

fn runtime_errors(text: &str) -> Vec<String> {
    match RuntimeConfig::parse(text, Path::new(RUNTIME_FILE)) {
        Ok(config) => panic!("the runtime config should be refused: {config:#?}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}
