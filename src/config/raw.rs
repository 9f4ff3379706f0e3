//! The file's shape, as serde reads it. Every key is optional here so that a
//! missing one is reported with its name and line rather than as serde's
//! first "missing field". Unknown keys are found by comparing each table
//! against these structs' field names (`field_names`), per [`Scope`].

use super::*;

/// The top-level keys. `[defaults]` and `[[applications]]` are read table by table, so
/// that one broken application does not hide the problems of the next; here they
/// only contribute their names.
#[derive(Deserialize)]
pub(super) struct RawTop {
    pub(super) listen_address: Option<Spanned<String>>,
    pub(super) data_dir: Option<Spanned<String>>,
    pub(super) poll_seconds: Option<Spanned<u64>>,
    pub(super) s3_endpoint: Option<Spanned<String>>,
    pub(super) admin_address: Option<Spanned<String>>,
    pub(super) admin_token: Option<Spanned<String>>,
    pub(super) tls_cert: Option<Spanned<String>>,
    pub(super) tls_key: Option<Spanned<String>>,
    pub(super) max_connections: Option<Spanned<u64>>,
    pub(super) header_read_timeout_ms: Option<Spanned<u64>>,
    pub(super) max_header_bytes: Option<Spanned<u64>>,
    pub(super) keep_alive_timeout_ms: Option<Spanned<u64>>,
    pub(super) h2_max_concurrent_streams: Option<Spanned<u64>>,
    pub(super) max_instances: Option<Spanned<u64>>,
    pub(super) shutdown_delay_ms: Option<Spanned<u64>>,
    #[serde(rename = "key_value_stores")]
    _key_value_stores: Option<IgnoredAny>,
    #[serde(rename = "defaults")]
    _defaults: Option<IgnoredAny>,
    #[serde(rename = "applications")]
    _applications: Option<IgnoredAny>,
    #[serde(rename = "spin_apps")]
    _spin_apps: Option<IgnoredAny>,
}

/// The keys only an `[[applications]]` table may have.
#[derive(Deserialize)]
pub(super) struct RawApp {
    pub(super) name: Option<Spanned<String>>,
    pub(super) file_path: Option<Spanned<String>>,
    pub(super) source: Option<Spanned<String>>,
    pub(super) digest: Option<Spanned<String>>,
    pub(super) function: Option<Spanned<String>>,
    pub(super) method: Option<Spanned<MethodNames>>,
    pub(super) url_path: Option<Spanned<String>>,
    pub(super) env: Option<Spanned<StringTable>>,
    pub(super) abi: Option<Spanned<String>>,
    pub(super) files: Option<Spanned<StringTable>>,
    pub(super) reuse: Option<Spanned<u64>>,
    pub(super) concurrent_reuse: Option<Spanned<u64>>,
    pub(super) key_value_stores: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) max_keys: Option<Spanned<u64>>,
}

/// A TOML table whose values must all be strings (`env`, `files`).
pub(super) type StringTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// The keys of an application that `[defaults]` may also set for all of them.
#[derive(Deserialize)]
pub(super) struct RawSettings {
    pub(super) timeout_ms: Option<Spanned<u64>>,
    pub(super) memory_limit_mb: Option<Spanned<u64>>,
    pub(super) max_request_body_bytes: Option<Spanned<u64>>,
    pub(super) max_concurrency: Option<Spanned<u64>>,
    pub(super) max_queued: Option<Spanned<u64>>,
    pub(super) queue_timeout_ms: Option<Spanned<u64>>,
    pub(super) preload: Option<Spanned<bool>>,
    pub(super) idle_release_seconds: Option<Spanned<u64>>,
    pub(super) allowed_outbound_hosts: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `method = "GET"` or `method = ["GET", "POST"]`.
pub(super) enum MethodNames {
    One(String),
    List(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for MethodNames {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MethodNamesVisitor)
    }
}

pub(super) struct MethodNamesVisitor;

impl<'de> serde::de::Visitor<'de> for MethodNamesVisitor {
    type Value = MethodNames;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a method name or a list of method names")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<MethodNames, E> {
        Ok(MethodNames::One(name.to_owned()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<MethodNames, A::Error> {
        let mut names = Vec::new();
        while let Some(name) = seq.next_element()? {
            names.push(name);
        }
        Ok(MethodNames::List(names))
    }
}

/// Which table a key is in, and so which keys it may have.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope {
    Top,
    Defaults,
    Application,
    /// A `[key_value_stores.<label>]` table.
    Store,
    /// A `[[spin_apps]]` table.
    SpinApp,
}

impl Scope {
    pub(super) fn known_keys(self) -> Vec<&'static str> {
        match self {
            Scope::Top => field_names::<RawTop>().to_vec(),
            Scope::Defaults => field_names::<RawSettings>().to_vec(),
            Scope::Application => [field_names::<RawApp>(), field_names::<RawSettings>()].concat(),
            Scope::Store => field_names::<RawStore>().to_vec(),
            Scope::SpinApp => field_names::<RawSpinApp>().to_vec(),
        }
    }

    /// Where a key that is known, but not in this table, belongs.
    pub(super) fn misplaced_hint(self, key: &str) -> Option<&'static str> {
        let app_only = field_names::<RawApp>().contains(&key);
        let setting = field_names::<RawSettings>().contains(&key);
        match self {
            Scope::Top if setting => Some("it belongs in [defaults] or an [[applications]] table"),
            Scope::Top if app_only => Some("it belongs in an [[applications]] table"),
            Scope::Defaults if app_only => {
                Some("it has no default; set it in each [[applications]] table")
            }
            _ => None,
        }
    }
}
