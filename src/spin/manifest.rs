//! A Spin app's `spin.toml` (manifest version 2), read into a [`Manifest`].
//!
//! What this host runs is read: `[application]`, `[variables]`,
//! `[[trigger.http]]` (routes, private endpoints, inline components, static
//! responses, the `http` and `wagi` executors) and `[component.<id>]`. What it
//! does not implement is refused by name (other trigger types, SQLite, AI
//! models, component dependencies, registry sources); what it can safely
//! ignore (`build`, `tool`, `targets`, `profile`) is accepted with a warning.
//! Unknown keys are refused with the nearest known one, and every problem
//! names the file, the line and the key, like the native config's.
//!
//! Triggers and inline components without an id get the ids Spin gives them
//! (`<component>-http-trigger`, `http-trigger<N>`, `<trigger>-component`,
//! `inline-component<N>`). As in Spin, when two triggers have the same route
//! the later one is served: the earlier is dropped with a warning.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::component::read_components;
use super::files::FileMount;
use super::hosts::HostEntry;
use super::reader::{self, Reader, Rule, Value, entries, join};
use super::trigger::{complete_triggers, read_triggers};
use super::variables::{self, Template, Variable};
use crate::config::{ConfigErrors, StaticResponse};
use crate::router::SpinRoute;
use crate::sources::{Digest, SourceUrl};

/// The manifest version this host reads.
const VERSION: i64 = 2;
const VERSION_KEY: &str = "spin_manifest_version";
/// The key version 1 manifests may use instead.
const OLD_VERSION_KEY: &str = "spin_version";

/// A checked Spin manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file it was read from.
    pub file: PathBuf,
    /// The file's directory: relative `source` and `files` paths start there.
    pub dir: PathBuf,
    pub application: Application,
    /// `[variables]`, in file order.
    pub variables: Vec<Variable>,
    /// `[[trigger.http]]`, in file order, without those a later one shadows.
    pub triggers: Vec<HttpTrigger>,
    /// `[component.<id>]` in file order, then the inline components of the
    /// triggers, in trigger order.
    pub components: Vec<Component>,
    /// Problems that do not stop the app, one line each, for the operator.
    pub warnings: Vec<String>,
}

/// `[application]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Application {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub authors: Vec<String>,
    /// `[application.trigger.http] base`, `/` by default; already put in front
    /// of every route.
    pub base: String,
}

/// One `[[trigger.http]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTrigger {
    /// As written, or as Spin names a trigger without one.
    pub id: String,
    /// `None`: a private endpoint (`route = { private = true }`), which no
    /// request from outside reaches.
    pub route: Option<SpinRoute>,
    pub handler: Handler,
    pub executor: Executor,
    /// 1-based line of its `[[trigger.http]]` header.
    pub line: usize,
}

/// What answers a trigger's requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    /// The id of one of [`Manifest::components`].
    Component(String),
    /// `static_response`: served without a component.
    Static(StaticResponse),
}

/// How a component is called (`executor`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Executor {
    /// `{ type = "http" }`, the default: a Spin or `wasi:http` handler.
    #[default]
    Http,
    /// `{ type = "wagi" }`: a WASI command run CGI style.
    Wagi {
        /// The command line, space-separated; `${SCRIPT_NAME}` and `${ARGS}`
        /// (the query's `name=value` pairs) are substituted.
        argv: String,
        /// The export to call; Spin only allows `_start`.
        entrypoint: String,
    },
}

/// One `[component.<id>]`, or a component written inline in a trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub id: String,
    /// A path relative to the manifest, made absolute, or `{ url }`.
    pub source: SourceUrl,
    /// `{ url, digest }`'s digest; Spin requires one for a URL.
    pub digest: Option<Digest>,
    pub description: Option<String>,
    /// `files`, in order; paths are relative to [`Manifest::dir`].
    pub files: Vec<FileMount>,
    /// Glob patterns relative to [`Manifest::dir`].
    pub exclude_files: Vec<String>,
    /// `environment`, in file order.
    pub environment: Vec<(String, String)>,
    /// `variables`, in file order; their names are checked, their templates
    /// use only declared app variables.
    pub variables: Vec<(String, Template)>,
    /// The key-value store labels it may open, without repeats.
    pub key_value_stores: Vec<String>,
    /// Checked: literal entries parse, templates use declared variables. An
    /// empty list (also when the key is absent) allows nothing.
    pub allowed_outbound_hosts: Vec<HostEntry>,
    /// Whether it was written inline in a trigger.
    pub inline: bool,
    /// 1-based line of its table (or of the trigger's `component` key).
    pub line: usize,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            reader::file_error(path, format!("cannot read the Spin manifest: {error}"))
        })?;
        Manifest::parse(&text, path)
    }

    /// Relative paths resolve against `file`'s directory.
    pub fn parse(text: &str, file: &Path) -> Result<Manifest, ConfigErrors> {
        let dir = file.parent().unwrap_or(Path::new("")).to_owned();
        let (manifest, warnings) =
            reader::read_document(text, file, |reader, root| read_manifest(reader, root, &dir))?;
        Ok(Manifest {
            file: file.to_owned(),
            dir,
            warnings,
            ..manifest
        })
    }

    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|component| component.id == id)
    }

    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|variable| variable.name == name)
    }
}

/// Reads the Spin manifest at `path`; see [`Manifest::parse`].
pub fn read(path: &Path) -> Result<Manifest, ConfigErrors> {
    Manifest::read(path)
}

/// Reads a Spin manifest's text; see [`Manifest::parse`].
pub fn parse(text: &str, path: &Path) -> Result<Manifest, ConfigErrors> {
    Manifest::parse(text, path)
}

/// Whether `text` is a Spin manifest rather than a native config: whether it
/// sets `spin_manifest_version` (or version 1's `spin_version`) at the top
/// level. Looks at the text only, so a manifest with syntax errors still is one.
pub fn is_spin_manifest(text: &str) -> bool {
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('[') {
            return false;
        }
        let key = line
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches(['"', '\'']);
        if line.contains('=') && (key == VERSION_KEY || key == OLD_VERSION_KEY) {
            return true;
        }
    }
    false
}

const TOP_RULES: &[(&str, Rule)] = &[
    (VERSION_KEY, Rule::Read),
    ("application", Rule::Read),
    ("variables", Rule::Read),
    ("trigger", Rule::Read),
    ("component", Rule::Read),
];

fn read_manifest(reader: &mut Reader<'_>, root: &DeTable<'_>, dir: &Path) -> Manifest {
    let mut manifest = Manifest {
        file: PathBuf::new(),
        dir: dir.to_owned(),
        application: Application::default(),
        variables: Vec::new(),
        triggers: Vec::new(),
        components: Vec::new(),
        warnings: Vec::new(),
    };
    if !check_version(reader, root) {
        return manifest;
    }
    reader.check_keys(root, "", TOP_RULES);
    manifest.application = read_application(reader, root);
    manifest.variables = read_variables(reader, root);
    manifest.components = read_components(reader, root, &manifest.variables, dir);
    let drafts = read_triggers(reader, root, &manifest);
    manifest.triggers = complete_triggers(reader, drafts, &mut manifest.components);
    for component in &manifest.components {
        let used = manifest.triggers.iter().any(
            |trigger| matches!(&trigger.handler, Handler::Component(id) if *id == component.id),
        );
        if !used {
            let line = component.line;
            let warning = format!("component `{}` is not used by any trigger", component.id);
            reader
                .warnings
                .push(format!("{}:{line}: {warning}", reader.file.display()));
        }
    }
    manifest
}

/// Only version 2 is read; anything else stops here, before its keys would
/// each be reported as unknown.
fn check_version(reader: &mut Reader<'_>, root: &DeTable<'_>) -> bool {
    const UPGRADE: &str = "upgrade it to version 2 with `spin doctor`";
    let Some((key, value)) = root.get_key_value(VERSION_KEY) else {
        match root.get_key_value(OLD_VERSION_KEY) {
            Some((key, _)) => reader.error(
                key.span(),
                OLD_VERSION_KEY,
                format!(
                    "this is a version 1 Spin manifest, which this host does not read; {UPGRADE}"
                ),
            ),
            None => reader.error_at_line(
                0,
                VERSION_KEY,
                "missing: a Spin manifest starts with `spin_manifest_version = 2`",
            ),
        }
        return false;
    };
    let version = match value.get_ref() {
        DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix()).ok(),
        DeValue::String(text) => text.parse::<i64>().ok().filter(|version| *version == 1),
        _ => None,
    };
    match version {
        Some(VERSION) => true,
        Some(1) => {
            let message = format!("version 1 Spin manifests are not supported; {UPGRADE}");
            reader.error(key.span(), VERSION_KEY, message);
            false
        }
        _ => {
            let message =
                format!("unsupported manifest version; this host reads `{VERSION_KEY} = 2`");
            reader.error(value.span(), VERSION_KEY, message);
            false
        }
    }
}

const APPLICATION_RULES: &[(&str, Rule)] = &[
    ("name", Rule::Read),
    ("version", Rule::Read),
    ("description", Rule::Read),
    ("authors", Rule::Read),
    ("trigger", Rule::Read),
    ("tool", Rule::Ignore("ignored: settings for other tools")),
    (
        "targets",
        Rule::Ignore("ignored: this host does not check Spin target environments"),
    ),
];

fn read_application(reader: &mut Reader<'_>, root: &DeTable<'_>) -> Application {
    const KEY: &str = "application";
    let mut application = Application {
        base: "/".to_owned(),
        ..Application::default()
    };
    let Some((key, value)) = root.get_key_value(KEY) else {
        reader.error_at_line(
            0,
            KEY,
            "missing: a Spin manifest has an [application] table",
        );
        return application;
    };
    let Some(table) = reader.table(value, KEY) else {
        return application;
    };
    reader.check_keys(table, KEY, APPLICATION_RULES);
    match table.get("name") {
        Some(name) => {
            application.name = reader.string(name, "application.name").unwrap_or_default()
        }
        None => reader.error(key.span(), "application.name", "required key is missing"),
    }
    let mut optional = |name: &str| {
        let value = table.get(name)?;
        reader.string(value, &join(KEY, name))
    };
    application.version = optional("version");
    application.description = optional("description");
    if let Some(authors) = table.get("authors") {
        let authors = reader
            .strings(authors, "application.authors")
            .unwrap_or_default();
        application.authors = authors
            .into_iter()
            .map(|author| author.into_inner())
            .collect();
    }
    if let Some(triggers) = table.get("trigger") {
        application.base = read_trigger_settings(reader, triggers).unwrap_or(application.base);
    }
    application
}

/// `[application.trigger.<type>]`: `base` for `http`; other types are ignored.
fn read_trigger_settings(reader: &mut Reader<'_>, value: &Value<'_>) -> Option<String> {
    const KEY: &str = "application.trigger";
    let table = reader.table(value, KEY)?;
    let mut base = None;
    for (kind, settings) in entries(table) {
        let path = join(KEY, kind.get_ref());
        if kind.get_ref() != "http" {
            let message = "ignored: settings of a trigger type this host does not run";
            reader.warn(kind.span(), &path, message);
            continue;
        }
        let Some(settings) = reader.table(settings, &path) else {
            continue;
        };
        reader.check_keys(settings, &path, &[("base", Rule::Read)]);
        let Some(value) = settings.get("base") else {
            continue;
        };
        let key = join(&path, "base");
        let written = reader.string(value, &key)?;
        if !written.starts_with('/') {
            reader.error(
                value.span(),
                &key,
                format!("`{written}` must start with `/`"),
            );
        } else if written != "/" {
            let message =
                "deprecated in Spin, which now refuses it; here it is put in front of every route";
            reader.warn(value.span(), &key, message);
        }
        base = Some(written);
    }
    base
}

const VARIABLE_RULES: &[(&str, Rule)] = &[
    ("default", Rule::Read),
    ("required", Rule::Read),
    ("secret", Rule::Read),
    ("description", Rule::Read),
];

fn read_variables(reader: &mut Reader<'_>, root: &DeTable<'_>) -> Vec<Variable> {
    let Some(value) = root.get("variables") else {
        return Vec::new();
    };
    let Some(table) = reader.table(value, "variables") else {
        return Vec::new();
    };
    let mut variables = Vec::new();
    for (name, value) in entries(table) {
        let key = join("variables", name.get_ref());
        if let Err(message) = variables::check_name(name.get_ref()) {
            reader.error(name.span(), &key, message);
            continue;
        }
        let Some(table) = reader.table(value, &key) else {
            continue;
        };
        reader.check_keys(table, &key, VARIABLE_RULES);
        let errors_before = reader.errors.len();
        let flag = |reader: &mut Reader<'_>, name: &str| {
            table
                .get(name)
                .and_then(|value| reader.boolean(value, &join(&key, name)))
                .unwrap_or(false)
        };
        let (required, secret) = (flag(reader, "required"), flag(reader, "secret"));
        let default = table
            .get("default")
            .and_then(|value| reader.string(value, &join(&key, "default")));
        let description = table
            .get("description")
            .and_then(|value| reader.string(value, &join(&key, "description")));
        // Checked only when its keys are each right.
        if reader.errors.len() == errors_before && required == default.is_some() {
            let message = if required {
                "a variable is either `required` or has a `default`, not both"
            } else {
                "needs a `default`, or `required = true`"
            };
            reader.error(name.span(), &key, message);
        }
        variables.push(Variable {
            name: name.get_ref().to_string(),
            default: default.map(|text| variables::Value::new(text, secret)),
            required,
            secret,
            description,
            line: reader.line(name.span().start),
        });
    }
    variables
}
