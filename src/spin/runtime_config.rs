//! Spin's `runtime-config.toml`, read into a [`RuntimeConfig`].
//!
//! Read: `[key_value_store.<label>]` with `type = "spin"` (this host's
//! embedded store; a `path` is ignored with a warning, the data lives in the
//! host's data directory) or `type = "redis"` with a `url`; other store types
//! (`azure_cosmos`, `aws_dynamo`) are refused by name. `max_instance_memory`
//! is read as a number of bytes.
//!
//! Refused, because ignoring them would change what the app sees or may
//! reach: `[[variables_provider]]` (and its old name `config_provider`),
//! `[outbound_networking]` (`block_networks`) and `[[client_tls]]`. Warned
//! about and ignored: `state_dir`, `log_dir`, `[sqlite_database.*]` and
//! `[llm_compute]` (the manifest refuses the components that would use them)
//! and the connection limits `[outbound_http]`, `[outbound_redis]`,
//! `[outbound_pg]`, `[outbound_mysql]`, `[outbound_mqtt]`. Unknown keys are
//! refused with the nearest known one.

use std::path::{Path, PathBuf};

use toml::de::DeTable;

use super::manifest::Manifest;
use super::reader::{self, Reader, Rule, Value, closest, entries, join};
use crate::config::{ConfigError, ConfigErrors, StoreBackend};

/// The store every Spin app has without declaring it.
pub const DEFAULT_STORE: &str = "default";

const IGNORED_LIMITS: &str = "ignored: this host does not apply Spin's connection limits";

const TOP_RULES: &[(&str, Rule)] = &[
    ("key_value_store", Rule::Read),
    ("max_instance_memory", Rule::Read),
    (
        "state_dir",
        Rule::Ignore(
            "ignored: this host keeps state in its data directory (`data_dir`, `--data-dir`)",
        ),
    ),
    (
        "log_dir",
        Rule::Ignore("ignored: component output goes to this host's log"),
    ),
    (
        "variables_provider",
        Rule::Refuse(
            "variable providers are not supported; app variables come from SPIN_VARIABLE_<NAME> \
             environment variables, else their defaults",
        ),
    ),
    (
        "config_provider",
        Rule::Refuse(
            "variable providers are not supported; app variables come from SPIN_VARIABLE_<NAME> \
             environment variables, else their defaults",
        ),
    ),
    (
        "sqlite_database",
        Rule::Ignore("ignored: this host has no SQLite databases"),
    ),
    (
        "llm_compute",
        Rule::Ignore("ignored: this host has no AI models"),
    ),
    (
        "outbound_networking",
        Rule::Refuse(
            "not supported (`block_networks`, `max_total_connections`); limit where components \
             connect with their `allowed_outbound_hosts`",
        ),
    ),
    (
        "client_tls",
        Rule::Refuse("custom TLS client settings are not supported by this host"),
    ),
    ("outbound_http", Rule::Ignore(IGNORED_LIMITS)),
    ("outbound_redis", Rule::Ignore(IGNORED_LIMITS)),
    ("outbound_pg", Rule::Ignore(IGNORED_LIMITS)),
    ("outbound_mysql", Rule::Ignore(IGNORED_LIMITS)),
    ("outbound_mqtt", Rule::Ignore(IGNORED_LIMITS)),
];

/// A checked runtime config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// `[key_value_store.<label>]`, in file order.
    pub key_value_stores: Vec<SpinStore>,
    /// `max_instance_memory`: the most memory one instance may have, in bytes.
    pub max_instance_memory: Option<u64>,
    /// Problems that do not stop the app, one line each, for the operator.
    pub warnings: Vec<String>,
}

/// One `[key_value_store.<label>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpinStore {
    pub label: String,
    /// `type = "spin"` is [`StoreBackend::Embedded`].
    pub backend: StoreBackend,
    /// 1-based line of its table.
    pub line: usize,
}

impl RuntimeConfig {
    pub fn read(path: &Path) -> Result<RuntimeConfig, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            reader::file_error(
                path,
                format!("cannot read the Spin runtime config: {error}"),
            )
        })?;
        RuntimeConfig::parse(&text, path)
    }

    pub fn parse(text: &str, file: &Path) -> Result<RuntimeConfig, ConfigErrors> {
        let ((key_value_stores, max_instance_memory), warnings) =
            reader::read_document(text, file, |reader, root| {
                reader.check_keys(root, "", TOP_RULES);
                let memory = root
                    .get("max_instance_memory")
                    .and_then(|value| read_memory(reader, value));
                (read_stores(reader, root), memory)
            })?;
        Ok(RuntimeConfig {
            file: file.to_owned(),
            key_value_stores,
            max_instance_memory,
            warnings,
        })
    }

    /// The store `label` names, if declared.
    pub fn store(&self, label: &str) -> Option<&SpinStore> {
        self.key_value_stores
            .iter()
            .find(|store| store.label == label)
    }
}

/// Where a Spin app's store `label` lives: as declared, else the embedded
/// store for `default` (as Spin gives every app one), else `None`.
pub fn store_backend(runtime_config: Option<&RuntimeConfig>, label: &str) -> Option<StoreBackend> {
    match runtime_config.and_then(|config| config.store(label)) {
        Some(store) => Some(store.backend.clone()),
        None => (label == DEFAULT_STORE).then_some(StoreBackend::Embedded),
    }
}

/// Checks that every store label a component lists has a store, as Spin does
/// at start-up.
pub fn check_store_labels(
    manifest: &Manifest,
    runtime_config: Option<&RuntimeConfig>,
) -> Result<(), ConfigErrors> {
    let declared: Vec<&str> = std::iter::once(DEFAULT_STORE)
        .chain(runtime_config.iter().flat_map(|config| {
            config
                .key_value_stores
                .iter()
                .map(|store| store.label.as_str())
        }))
        .collect();
    let mut errors = Vec::new();
    for component in &manifest.components {
        for label in &component.key_value_stores {
            if declared.contains(&label.as_str()) {
                continue;
            }
            let hint = match closest(label, &declared) {
                Some(close) => format!("did you mean `{close}`? "),
                None => String::new(),
            };
            let key = if component.inline {
                "key_value_stores".to_owned()
            } else {
                join(&join("component", &component.id), "key_value_stores")
            };
            errors.push(ConfigError {
                file: manifest.file.clone(),
                line: component.line,
                key: Some(key),
                message: format!(
                    "component `{}` uses key-value store `{label}`, which the runtime config does not \
                     declare; {hint}a store other than `default` needs a [key_value_store.{label}] table",
                    component.id
                ),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

fn read_memory(reader: &mut Reader<'_>, value: &Value<'_>) -> Option<u64> {
    let bytes = reader.integer(value, "max_instance_memory")?;
    match u64::try_from(bytes) {
        Ok(bytes) if bytes > 0 => Some(bytes),
        _ => {
            let message = format!("must be a positive number of bytes, got {bytes}");
            reader.error(value.span(), "max_instance_memory", message);
            None
        }
    }
}

fn read_stores(reader: &mut Reader<'_>, root: &DeTable<'_>) -> Vec<SpinStore> {
    const KEY: &str = "key_value_store";
    let Some(value) = root.get(KEY) else {
        return Vec::new();
    };
    let Some(table) = reader.table(value, KEY) else {
        return Vec::new();
    };
    let mut stores = Vec::new();
    for (label, value) in entries(table) {
        let key = join(KEY, label.get_ref());
        let line = reader.line(label.span().start);
        if let Some(backend) = read_store(reader, value, &key) {
            stores.push(SpinStore {
                label: label.get_ref().to_string(),
                backend,
                line,
            });
        }
    }
    stores
}

fn read_store(reader: &mut Reader<'_>, value: &Value<'_>, key: &str) -> Option<StoreBackend> {
    let table = reader.table(value, key)?;
    let type_key = join(key, "type");
    let Some(kind) = table.get("type") else {
        reader.error(
            value.span(),
            &type_key,
            "required key is missing; `spin` or `redis`",
        );
        return None;
    };
    match reader.string(kind, &type_key)?.as_str() {
        "spin" => {
            let rules = [
                ("type", Rule::Read),
                (
                    "path",
                    Rule::Ignore("ignored: this host keeps the store in its data directory"),
                ),
            ];
            reader.check_keys(table, key, &rules);
            Some(StoreBackend::Embedded)
        }
        "redis" => {
            reader.check_keys(table, key, &[("type", Rule::Read), ("url", Rule::Read)]);
            let url_key = join(key, "url");
            let Some(url) = table.get("url") else {
                reader.error(value.span(), &url_key, "required key is missing");
                return None;
            };
            let url_text = reader.string(url, &url_key)?;
            let schemes = ["redis://", "rediss://", "redis+unix://", "unix://"];
            if !schemes.iter().any(|scheme| url_text.starts_with(scheme)) {
                let message = format!(
                    "expected a Redis URL such as `redis://127.0.0.1:6379`, got `{url_text}`"
                );
                reader.error(url.span(), &url_key, message);
                return None;
            }
            Some(StoreBackend::Redis { url: url_text })
        }
        other => {
            let message = match other {
                "azure_cosmos" | "aws_dynamo" => {
                    format!(
                        "`{other}` stores are not supported by this host; use `spin` or `redis`"
                    )
                }
                _ => format!("unknown store type `{other}`; expected `spin` or `redis`"),
            };
            reader.error(kind.span(), &type_key, message);
            None
        }
    }
}
