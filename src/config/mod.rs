//! The TOML config file: reading it, checking every key down to the line it is on, and
//! turning it into the applications the server routes to. The parts have files of their
//! own: `apps` (the `[[applications]]` tables), `modules` (module sources and digests),
//! `stores` (key-value stores), `spin_apps` (the `[[spin_apps]]` tables), `raw` (the
//! file's shape as serde reads it), `values` (checks of single values, key paths and
//! lines), `keys` (known keys and suggestions).

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

mod apps;
pub(crate) mod keys;
mod modules;
mod raw;
mod server;
mod spin_apps;
mod stores;
mod values;

use keys::{field_names, unknown_key_message};
use raw::{MethodNames, RawApp, RawSettings, RawTop, Scope, StringTable};
pub use server::{ServerSettings, TlsFiles};
use spin_apps::RawSpinApp;
pub use spin_apps::SpinMount;
pub use stores::{DEFAULT_DATA_DIR, StoreBackend, StoreConfig, StoreScope};
use stores::{RawStore, check_max_keys};
pub(crate) use values::LineIndex;
use values::{
    app_path, check_concurrent_reuse, check_listen_address, check_memory_limit, check_name,
    check_not_empty, check_reuse, check_timeout, dedup_keeping_order, file_stem, indexed_key,
    join_key, key_path_at, key_segment, parse_abi, parse_method_name, present_or,
};

use crate::abi::AbiKind;
use crate::outbound::{self, AllowedHosts, HostPattern};
use crate::router::{Methods, Route};
use crate::sources::{Digest, SourceUrl};

pub const DEFAULT_LISTEN_ADDRESS: &str = "127.0.0.1:8080";
pub const DEFAULT_FUNCTION: &str = "handle";
/// How long an app's guest stays loaded without a request.
pub const DEFAULT_IDLE_RELEASE: Duration = Duration::from_secs(300);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MEMORY_LIMIT_MB: u64 = 128;
const MEMORY_LIMIT_MB: RangeInclusive<u64> = 1..=4096;
const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 10 * BYTES_PER_MB;
const DEFAULT_MAX_QUEUED: u32 = 100;
const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
const BYTES_PER_MB: u64 = 1024 * 1024;
const ANY_METHOD: &str = "*";
/// Used when `file_path` has no file stem to name an application after.
const FALLBACK_NAME: &str = "app";

/// A checked config file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// Where the server listens: "host:port".
    pub listen_address: String,
    /// In file order: a router built from their routes yields indexes into this.
    pub apps: Vec<AppConfig>,
    /// Where the embedded key-value store lives: `data_dir`, relative to the
    /// config file, or `.serverless-wasm` beside it.
    pub data_dir: PathBuf,
    /// The `[key_value_stores.<label>]` tables, in file order.
    pub key_value_stores: Vec<StoreConfig>,
    /// How often remote module sources are revalidated (`poll_seconds`).
    pub poll: Option<Duration>,
    /// The S3 endpoint for `s3://` sources (`s3_endpoint`), else `AWS_ENDPOINT_URL`.
    pub s3_endpoint: Option<String>,
    /// The `[[spin_apps]]` mounted beside `apps`, not yet read.
    pub spin_apps: Vec<SpinMount>,
    /// `[defaults]`' limits: what Spin apps, which have no such keys, run with.
    pub default_limits: Limits,
    /// `[defaults]`' residency, which Spin apps take too.
    pub default_residency: Residency,
    /// The listeners: admin, TLS, connection limits, HTTP hardening.
    pub server: ServerSettings,
    /// Problems that do not stop the server, one line each, for the operator.
    pub warnings: Vec<String>,
}

/// One `[[applications]]` table, checked and completed from `[defaults]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// The `name` key, or else derived from `file_path`: its file stem; where several
    /// unnamed applications share a stem, `stem:function`; where that still collides
    /// (with another unnamed application or any name already taken),
    /// `stem:function:METHODS:url_path`, methods joined by ',' (e.g.
    /// `testfunc:hello:GET,POST:/hello`).
    pub name: String,
    /// `file_path` resolved against the config file's directory, or against the working
    /// directory when only found there (with a warning).
    pub source: SourceUrl,
    /// The SHA-256 the module must have (`digest = "sha256:<hex>"`).
    pub digest: Option<Digest>,
    pub function: String,
    pub methods: Methods,
    pub route: Route,
    /// In file order.
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    pub residency: Residency,
    pub allowed_outbound_hosts: AllowedHosts,
    /// The guest ABI the config insists on; `None`: detected from the binary.
    pub abi: Option<AbiKind>,
    /// Host directories the guest may read, by the path it sees them at.
    pub files: Vec<(String, PathBuf)>,
    /// How many requests one instance may serve, one after another; 1 (the
    /// default) gives every request a fresh instance. wasi:http only.
    pub reuse: u32,
    /// How many requests one instance may serve at once, at most `reuse`;
    /// 1 (the default): one at a time. WASI 0.3 components only.
    pub concurrent_reuse: u32,
    /// The shared key-value stores this app may open besides its own `default`.
    pub key_value_stores: Vec<String>,
    /// The most keys the app's own `default` store may hold; `None`: no limit.
    pub max_keys: Option<u64>,
    /// Whose stores the labels in `key_value_stores` are.
    pub store_scope: StoreScope,
    /// A fixed answer served instead of running a module (Spin's
    /// `static_response`); `source` then only names where it was written.
    pub static_response: Option<StaticResponse>,
    /// What the guest reads through `wasi:config` and Spin's variables: a
    /// Spin component's resolved `variables`, a native app's `env`.
    pub variables: Variables,
    /// A WAGI guest's command line, Spin's `argv` (`${SCRIPT_NAME}` and
    /// `${ARGS}` substituted per request); `None`: the app's name alone.
    pub argv: Option<String>,
    /// 1-based line of the app's `[[applications]]` header (0 when not from a file).
    pub line: usize,
}

/// Names and values a guest may read; `Debug` shows the names only, since
/// a Spin app's secrets are among the values.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Variables(pub Vec<(String, String)>);

impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

/// A response served as it is, without a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// When an app's guest is loaded and for how long it stays: by default it
/// is compiled and linked on the app's first request and released after
/// [`DEFAULT_IDLE_RELEASE`] without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Residency {
    /// Load it in the background as soon as the server is up (`preload`).
    pub preload: bool,
    /// Release it after this long without a request (`idle_release_seconds`);
    /// `None` (`0`): keep it for the server's life.
    pub idle_release: Option<Duration>,
}

impl Default for Residency {
    fn default() -> Self {
        Residency {
            preload: false,
            idle_release: Some(DEFAULT_IDLE_RELEASE),
        }
    }
}

/// What one request of an application may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline for a whole request.
    pub timeout: Duration,
    /// Per instance.
    pub memory_limit_bytes: u64,
    pub max_request_body_bytes: u64,
    /// How many requests may run at once, and wait beyond those.
    pub admission: Admission,
}

/// An app's share of the server: requests beyond `max_concurrency` wait in
/// a FIFO queue of `max_queued`, each for at most `queue_timeout`; beyond
/// that they are answered 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// `None`: a fair share of the instance pool, decided when the apps are
    /// loaded (the pool divided by the number of apps).
    pub max_concurrency: Option<u32>,
    pub max_queued: u32,
    pub queue_timeout: Duration,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            max_concurrency: None,
            max_queued: DEFAULT_MAX_QUEUED,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT_MB * BYTES_PER_MB,
            max_request_body_bytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
            admission: Admission::default(),
        }
    }
}

impl AppConfig {
    /// An application serving every method and path from `handle` in one module, as the
    /// `run` command line wants: no config file, so default limits, unrestricted outbound.
    pub fn for_module(module_path: PathBuf) -> AppConfig {
        AppConfig {
            name: file_stem(&module_path),
            source: SourceUrl::File(module_path),
            digest: None,
            function: DEFAULT_FUNCTION.to_owned(),
            methods: Methods::Any,
            route: Route::Prefix(String::new()),
            env: Vec::new(),
            limits: Limits::default(),
            residency: Residency::default(),
            allowed_outbound_hosts: AllowedHosts::unrestricted(),
            abi: None,
            files: Vec::new(),
            reuse: 1,
            concurrent_reuse: 1,
            key_value_stores: Vec::new(),
            max_keys: None,
            store_scope: StoreScope::Own,
            static_response: None,
            variables: Variables::default(),
            argv: None,
            line: 0,
        }
    }
}

impl Config {
    /// A config of no apps read from `file`, its defaults otherwise, keeping
    /// its embedded store in `data_dir`.
    pub fn empty(file: &Path, data_dir: &Path) -> Config {
        Config {
            file: file.to_owned(),
            listen_address: DEFAULT_LISTEN_ADDRESS.to_owned(),
            apps: Vec::new(),
            data_dir: data_dir.to_owned(),
            key_value_stores: Vec::new(),
            poll: None,
            s3_endpoint: None,
            spin_apps: Vec::new(),
            default_limits: Limits::default(),
            default_residency: Residency::default(),
            server: ServerSettings::default(),
            warnings: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigErrors(vec![ConfigError {
                file: path.to_owned(),
                line: 0,
                key: None,
                message: format!("cannot read the config file: {error}"),
            }])
        })?;
        Config::parse(&text, path)
    }

    /// Relative `file_path`s resolve against `file`'s directory.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
        let (document, syntax_errors) = DeTable::parse_recoverable(text);
        let mut reader = Reader::new(text, file);
        if !syntax_errors.is_empty() {
            reader.report_syntax_errors(&syntax_errors);
            return Err(reader.into_errors());
        }
        let root = Spanned::new(document.span(), DeValue::Table(document.into_inner()));
        let config = reader.read_document(&root);
        if reader.errors.is_empty() {
            Ok(config)
        } else {
            Err(reader.into_errors())
        }
    }
}

/// Everything wrong with a config file, in line order.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// One problem, displayed as `{file}:{line}: `{key}`: {message}`, leaving out what is absent.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no line (an unreadable file, a missing table).
    pub line: usize,
    /// Such as `listen_address`, `defaults.timeout_ms` or `applications[2].method`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        match (self.file.as_os_str().is_empty(), self.line) {
            (true, 0) => {}
            (true, line) => write!(f, "line {line}: ")?,
            (false, 0) => write!(f, "{file}: ")?,
            (false, line) => write!(f, "{file}:{line}: ")?,
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The resolved `[defaults]` keys, also what each application inherits.
#[derive(Debug, Clone, Default)]
struct Settings {
    limits: Limits,
    residency: Residency,
    allowed_outbound_hosts: AllowedHosts,
}

/// An application whose own keys passed their checks, before the checks across
/// applications and before naming.
struct AppDraft {
    number: usize,
    line: usize,
    name: Option<Located<String>>,
    /// The module source as written (`file_path` or `source`).
    file_path: Located<String>,
    /// The source when it is a URL; a plain path is resolved later.
    source: Option<SourceUrl>,
    digest: Option<Digest>,
    function: String,
    methods: Methods,
    route: Located<Route>,
    env: Vec<(String, String)>,
    abi: Option<AbiKind>,
    files: Vec<(String, String)>,
    reuse: u32,
    concurrent_reuse: u32,
    key_value_stores: Vec<String>,
    max_keys: Option<u64>,
    settings: Settings,
}

/// A checked value and the line it is written on.
struct Located<T> {
    value: T,
    line: usize,
}

/// Stands for a problem already recorded in `Reader::errors`.
struct Reported;

/// One table of the document, known by its key path.
struct Section<'t, 'i> {
    value: &'t Spanned<DeValue<'i>>,
    table: &'t DeTable<'i>,
    /// "", "defaults" or "applications[N]".
    path: String,
    scope: Scope,
}

impl Section<'_, '_> {
    fn key(&self, key: &str) -> String {
        join_key(&self.path, key)
    }

    fn start(&self) -> usize {
        self.value.span().start
    }
}

/// Reads one file, collecting every problem instead of stopping at the first.
struct Reader<'a> {
    lines: LineIndex,
    file: &'a Path,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
    /// Paths already warned about being found only relative to the working directory.
    cwd_relative: HashSet<String>,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str, file: &'a Path) -> Self {
        Reader {
            lines: LineIndex::new(text),
            file,
            errors: Vec::new(),
            warnings: Vec::new(),
            cwd_relative: HashSet::new(),
        }
    }

    fn into_errors(mut self) -> ConfigErrors {
        self.errors.sort_by_key(|error| error.line);
        ConfigErrors(self.errors)
    }

    /// An empty `key` stands for none.
    fn error(&mut self, line: usize, key: String, message: impl Into<String>) -> Reported {
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line,
            key: Some(key).filter(|key| !key.is_empty()),
            message: message.into(),
        });
        Reported
    }

    fn error_at(
        &mut self,
        span: Range<usize>,
        key: String,
        message: impl Into<String>,
    ) -> Reported {
        self.error(self.lines.line(span.start), key, message)
    }

    /// One error per line: the parser's later errors on a line mostly follow from its first.
    fn report_syntax_errors(&mut self, errors: &[toml::de::Error]) {
        let mut located: Vec<(usize, &str)> = errors
            .iter()
            .map(|error| (error.span().map_or(0, |span| span.start), error.message()))
            .collect();
        located.sort_by_key(|&(offset, _)| offset);
        located.dedup_by_key(|(offset, _)| self.lines.line(*offset));
        for (offset, message) in located {
            self.error_at(offset..offset, String::new(), message);
        }
    }

    fn read_document(&mut self, root: &Spanned<DeValue<'_>>) -> Config {
        let mut config = Config::empty(self.file, &self.relative_to_config(DEFAULT_DATA_DIR));
        let Ok(top) = self.open_section(root, String::new(), Scope::Top) else {
            return config;
        };
        if let Ok(raw) = self.deserialize::<RawTop>(&top) {
            config.listen_address = self.read_listen_address(&raw, &top);
            config.data_dir = self.read_data_dir(&raw.data_dir);
            (config.poll, config.s3_endpoint) = self.read_source_settings(&raw);
            config.server = self.read_server_settings(&raw, &top);
        }
        config.key_value_stores = self.read_stores(&top);
        config.spin_apps = self.read_spin_apps(&top);
        let defaults = self.read_defaults(&top);
        config.default_limits = defaults.limits;
        config.default_residency = defaults.residency;
        let drafts = self.read_applications(
            &top,
            &defaults,
            &config.key_value_stores,
            !config.spin_apps.is_empty(),
        );
        config.apps = self.complete(drafts);
        config.warnings = std::mem::take(&mut self.warnings);
        config
    }

    fn read_listen_address(&mut self, raw: &RawTop, top: &Section<'_, '_>) -> String {
        let default = || DEFAULT_LISTEN_ADDRESS.to_owned();
        let Some(address) = &raw.listen_address else {
            return default();
        };
        self.check(address, top.key("listen_address"), check_listen_address)
            .map_or_else(|Reported| default(), |address| address.value)
    }

    /// `value` as a table whose keys are all known for `scope`.
    fn open_section<'t, 'i>(
        &mut self,
        value: &'t Spanned<DeValue<'i>>,
        path: String,
        scope: Scope,
    ) -> Result<Section<'t, 'i>, Reported> {
        let DeValue::Table(table) = value.get_ref() else {
            let message = format!("expected a table, got {}", value.get_ref().type_str());
            return Err(self.error_at(value.span(), path, message));
        };
        let section = Section {
            value,
            table,
            path,
            scope,
        };
        self.check_keys(&section);
        Ok(section)
    }

    fn check_keys(&mut self, section: &Section<'_, '_>) {
        let known = section.scope.known_keys();
        for key in section.table.keys() {
            let name: &str = key.get_ref();
            if !known.contains(&name) {
                let message = unknown_key_message(name, &known, section.scope.misplaced_hint(name));
                self.error_at(key.span(), section.key(&key_segment(name)), message);
            }
        }
    }

    /// Serde stops at a table's first wrong type; the error then names the key it is in.
    fn deserialize<T: DeserializeOwned>(
        &mut self,
        section: &Section<'_, '_>,
    ) -> Result<T, Reported> {
        T::deserialize(ValueDeserializer::from(section.value.clone())).map_err(|error| {
            let span = error.span().unwrap_or_else(|| section.value.span());
            let key = key_path_at(section.table, span.start)
                .map_or_else(|| section.path.clone(), |path| section.key(&path));
            self.error_at(span, key, error.message())
        })
    }

    fn read_defaults(&mut self, top: &Section<'_, '_>) -> Settings {
        let builtin = Settings::default();
        let Some(value) = top.table.get("defaults") else {
            return builtin;
        };
        let Ok(section) = self.open_section(value, "defaults".to_owned(), Scope::Defaults) else {
            return builtin;
        };
        match self.deserialize(&section) {
            Ok(raw) => self.read_settings(&raw, &section, &builtin),
            Err(Reported) => builtin,
        }
    }

    /// The entries of table `name` in file order; every value must be a string.
    fn read_string_table(
        &mut self,
        raw: &Option<Spanned<StringTable>>,
        section: &Section<'_, '_>,
        name: &str,
    ) -> Result<Vec<(String, String)>, Reported> {
        let Some(table) = raw else {
            return Ok(Vec::new());
        };
        let mut variables: Vec<_> = table.get_ref().iter().collect();
        variables.sort_by_key(|(name, _)| name.span().start);
        let key = section.key(name);
        let entries = variables.into_iter().map(|(name, value)| {
            let entry_key = join_key(&key, &key_segment(name.get_ref()));
            (value.span(), entry_key, (name.get_ref(), value.get_ref()))
        });
        self.check_all(entries, |(name, value)| match value.as_str() {
            Some(text) => Ok((name.clone(), text.to_owned())),
            None => Err(format!("must be a string, not {}", value.type_str())),
        })
    }

    fn check<T, B, U>(
        &mut self,
        value: &Spanned<T>,
        key: String,
        check: impl FnOnce(&B) -> Result<U, String>,
    ) -> Result<Located<U>, Reported>
    where
        T: Borrow<B>,
        B: ?Sized,
    {
        match check(value.get_ref().borrow()) {
            Ok(checked) => Ok(Located {
                value: checked,
                line: self.lines.line(value.span().start),
            }),
            Err(message) => Err(self.error_at(value.span(), key, message)),
        }
    }

    fn check_optional<T, B, U>(
        &mut self,
        value: &Option<Spanned<T>>,
        key: String,
        check: impl FnOnce(&B) -> Result<U, String>,
    ) -> Result<Option<Located<U>>, Reported>
    where
        T: Borrow<B>,
        B: ?Sized,
    {
        value
            .as_ref()
            .map(|value| self.check(value, key, check))
            .transpose()
    }

    fn check_required<T, B, U>(
        &mut self,
        value: &Option<Spanned<T>>,
        section: &Section<'_, '_>,
        name: &str,
        check: impl FnOnce(&B) -> Result<U, String>,
    ) -> Result<Located<U>, Reported>
    where
        T: Borrow<B>,
        B: ?Sized,
    {
        match value {
            Some(value) => self.check(value, section.key(name), check),
            None => Err(self.missing(section, section.key(name))),
        }
    }

    fn missing(&mut self, section: &Section<'_, '_>, key: String) -> Reported {
        self.error(
            self.lines.line(section.start()),
            key,
            "required key is missing",
        )
    }

    /// Checks every entry and reports each failure; the result is usable only when all passed.
    fn check_all<T, U>(
        &mut self,
        entries: impl IntoIterator<Item = (Range<usize>, String, T)>,
        check: impl Fn(T) -> Result<U, String>,
    ) -> Result<Vec<U>, Reported> {
        let mut checked = Vec::new();
        let mut failed = false;
        for (span, key, entry) in entries {
            match check(entry) {
                Ok(value) => checked.push(value),
                Err(message) => {
                    self.error_at(span, key, message);
                    failed = true;
                }
            }
        }
        if failed { Err(Reported) } else { Ok(checked) }
    }

    /// A path as written in the file, taken relative to the file's directory.
    fn relative_to_config(&self, written: &str) -> PathBuf {
        self.file.parent().unwrap_or(Path::new("")).join(written)
    }
}

#[cfg(test)]
mod tests;
