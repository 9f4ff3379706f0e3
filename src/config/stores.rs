//! The key-value parts of the config: `data_dir`, the `[key_value_stores.<label>]`
//! tables, and each application's `key_value_stores` grants and `max_keys`.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use super::keys::closest_key;
use super::{Reader, Reported, Scope, Section, indexed_key, join_key, key_segment};

/// Where the embedded store (and other local state) lives unless `data_dir`
/// or `--data-dir` says otherwise: beside the config file.
pub const DEFAULT_DATA_DIR: &str = ".serverless-wasm";
/// The label whose table sets the backend of every app's private store.
const DEFAULT_LABEL: &str = "default";
const MAX_VALUE_BYTES: RangeInclusive<u64> = 1..=(64 * 1024 * 1024);

/// What [`crate::kv::spin_store_key`] starts with, kept out of native labels.
const SPIN_LABEL_PREFIX: &str = "spin:";

/// Whose stores the labels of an app's `key_value_stores` name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreScope {
    /// A native app: `default` is its own private store, any other label one
    /// of the config's `[key_value_stores.<label>]`.
    #[default]
    Own,
    /// A component of the Spin app of this name: every label, `default` too,
    /// is one of that app's stores, shared by its components.
    SpinApp(String),
}

/// One `[key_value_stores.<label>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The table's name; `default` configures every app's private store.
    pub label: String,
    pub backend: StoreBackend,
    pub max_value_bytes: usize,
    /// 1-based line of the table.
    pub line: usize,
}

/// Where a store's keys live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// The redb database in `data_dir`.
    Embedded,
    Redis {
        url: String,
    },
}

/// The keys of a `[key_value_stores.<label>]` table.
#[derive(Deserialize)]
pub(super) struct RawStore {
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    /// The environment variable holding `url`: a Kubernetes Secret's value
    /// (a Redis password is part of the URL) stays out of the config file.
    url_env: Option<Spanned<String>>,
    max_value_bytes: Option<Spanned<u64>>,
}

impl Reader<'_> {
    /// `data_dir` as written (relative to the config file), or the default.
    pub(super) fn read_data_dir(&mut self, raw: &Option<Spanned<String>>) -> PathBuf {
        let written = self.check_optional(raw, "data_dir".to_owned(), super::check_not_empty);
        let written = super::present_or(written, DEFAULT_DATA_DIR.to_owned());
        self.relative_to_config(&written)
    }

    pub(super) fn read_stores(&mut self, top: &Section<'_, '_>) -> Vec<StoreConfig> {
        const KEY: &str = "key_value_stores";
        let Some(value) = top.table.get(KEY) else {
            return Vec::new();
        };
        let DeValue::Table(tables) = value.get_ref() else {
            let message = format!(
                "expected tables such as [key_value_stores.sessions], got {}",
                value.get_ref().type_str()
            );
            self.error_at(value.span(), KEY.to_owned(), message);
            return Vec::new();
        };
        let mut stores: Vec<(usize, StoreConfig)> = tables
            .iter()
            .filter_map(|(label, table)| {
                let path = join_key(KEY, &key_segment(label.get_ref()));
                let store = self.read_store(label.get_ref(), table, path).ok()?;
                Some((label.span().start, store))
            })
            .collect();
        stores.sort_by_key(|(offset, _)| *offset);
        stores.into_iter().map(|(_, store)| store).collect()
    }

    fn read_store(
        &mut self,
        label: &str,
        value: &Spanned<DeValue<'_>>,
        path: String,
    ) -> Result<StoreConfig, Reported> {
        let section = self.open_section(value, path, Scope::Store)?;
        let raw: RawStore = self.deserialize(&section)?;
        let line = self.lines.line(section.start());
        if let Err(message) = super::check_name(label) {
            return Err(self.error(line, section.path.clone(), format!("store label {message}")));
        }
        if label.starts_with(SPIN_LABEL_PREFIX) {
            let message =
                format!("store labels starting with `{SPIN_LABEL_PREFIX}` are Spin apps' own");
            return Err(self.error(line, section.path.clone(), message));
        }
        let kind = match &raw.kind {
            Some(kind) => self.check(kind, section.key("type"), parse_kind)?.value,
            None => return Err(self.missing(&section, section.key("type"))),
        };
        let backend = match kind {
            Kind::Embedded => {
                for (key, value) in [("url", &raw.url), ("url_env", &raw.url_env)] {
                    if let Some(value) = value {
                        let message =
                            format!("an embedded store has no `{key}`; it lives in `data_dir`");
                        return Err(self.error_at(value.span(), section.key(key), message));
                    }
                }
                StoreBackend::Embedded
            }
            Kind::Redis => match (&raw.url, &raw.url_env) {
                (Some(_), Some(variable)) => {
                    let message = "give `url` or `url_env`, not both";
                    return Err(self.error_at(variable.span(), section.key("url_env"), message));
                }
                (None, Some(variable)) => {
                    let url = self.check(variable, section.key("url_env"), redis_url_from_env)?;
                    StoreBackend::Redis { url: url.value }
                }
                _ => {
                    let url = self.check_required(&raw.url, &section, "url", check_redis_url)?;
                    StoreBackend::Redis { url: url.value }
                }
            },
        };
        let max_value_bytes = self.check_optional(
            &raw.max_value_bytes,
            section.key("max_value_bytes"),
            check_max_value_bytes,
        );
        let max_value_bytes =
            super::present_or(max_value_bytes, crate::kv::DEFAULT_MAX_VALUE_BYTES);
        Ok(StoreConfig {
            label: label.to_owned(),
            backend,
            max_value_bytes,
            line,
        })
    }

    /// An application's `key_value_stores`: each must be a declared shared
    /// store (`default`, every app's own, may be listed too and grants nothing more).
    pub(super) fn read_grants(
        &mut self,
        raw: &Option<Spanned<Vec<Spanned<String>>>>,
        section: &Section<'_, '_>,
        stores: &[StoreConfig],
    ) -> Result<Vec<String>, Reported> {
        let Some(list) = raw else {
            return Ok(Vec::new());
        };
        let key = section.key("key_value_stores");
        let declared: Vec<&str> = stores
            .iter()
            .map(|store| store.label.as_str())
            .filter(|label| *label != DEFAULT_LABEL)
            .collect();
        let entries = list.get_ref().iter().enumerate().map(|(index, label)| {
            (
                label.span(),
                indexed_key(&key, index),
                label.get_ref().as_str(),
            )
        });
        let mut grants = self.check_all(entries, |label| check_grant(label, &declared))?;
        grants.retain(|label| label != DEFAULT_LABEL);
        grants.dedup();
        Ok(grants)
    }
}

enum Kind {
    Embedded,
    Redis,
}

fn parse_kind(kind: &str) -> Result<Kind, String> {
    match kind {
        "embedded" => Ok(Kind::Embedded),
        "redis" => Ok(Kind::Redis),
        other => Err(format!(
            "unknown store type `{other}`; expected `embedded` or `redis`"
        )),
    }
}

fn check_redis_url(url: &str) -> Result<String, String> {
    let scheme_ok = ["redis://", "rediss://", "redis+unix://", "unix://"]
        .iter()
        .any(|scheme| url.starts_with(scheme));
    if scheme_ok {
        Ok(url.to_owned())
    } else {
        Err(format!(
            "expected a Redis URL such as `redis://127.0.0.1:6379/0`, got `{url}`"
        ))
    }
}

/// The Redis URL in the environment variable `name`. The value is never
/// quoted in an error: it may hold a password.
fn redis_url_from_env(name: &str) -> Result<String, String> {
    let url = std::env::var(name)
        .map_err(|_| format!("the environment variable `{name}` is not set (or not UTF-8)"))?;
    check_redis_url(&url).map_err(|_| {
        format!(
            "the environment variable `{name}` does not hold a Redis URL \
             (redis://, rediss://, redis+unix:// or unix://)"
        )
    })
}

fn check_max_value_bytes(bytes: &u64) -> Result<usize, String> {
    if MAX_VALUE_BYTES.contains(bytes) {
        Ok(*bytes as usize)
    } else {
        Err(format!(
            "must be between {} and {} bytes, got {bytes}",
            MAX_VALUE_BYTES.start(),
            MAX_VALUE_BYTES.end()
        ))
    }
}

fn check_grant(label: &str, declared: &[&str]) -> Result<String, String> {
    if label == DEFAULT_LABEL || declared.contains(&label) {
        return Ok(label.to_owned());
    }
    let hint = match closest_key(label, declared) {
        Some(close) => format!("; did you mean `{close}`?"),
        None if declared.is_empty() => {
            "; declare it in a [key_value_stores.<label>] table".to_owned()
        }
        None => {
            let names: Vec<String> = declared.iter().map(|label| format!("`{label}`")).collect();
            format!("; declared stores: {}", names.join(", "))
        }
    };
    Err(format!("no key-value store `{label}` is declared{hint}"))
}

/// `max_keys` of an application: at least 1.
pub(super) fn check_max_keys(keys: &u64) -> Result<u64, String> {
    if *keys == 0 {
        Err("must be at least 1 (leave it out for no limit)".to_owned())
    } else {
        Ok(*keys)
    }
}

#[cfg(test)]
mod tests;
