//! A Spin component's table, `[component.<id>]` or inline in a trigger, read
//! into a [`Component`].

use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::files::FileMount;
use super::hosts::{self, HostEntry};
use super::manifest::Component;
use super::reader::{Reader, Rule, Value, check_id, closest, entries, indexed, join};
use super::variables::{self, Template, Variable};
use crate::sources::{Digest, SourceUrl};

const COMPONENT_RULES: &[(&str, Rule)] = &[
    ("source", Rule::Read),
    ("description", Rule::Read),
    ("variables", Rule::Read),
    ("environment", Rule::Read),
    ("files", Rule::Read),
    ("exclude_files", Rule::Read),
    ("allowed_outbound_hosts", Rule::Read),
    ("key_value_stores", Rule::Read),
    (
        "sqlite_databases",
        Rule::RefuseIfUsed("SQLite databases are not supported by this host"),
    ),
    (
        "ai_models",
        Rule::RefuseIfUsed("Serverless AI models are not supported by this host"),
    ),
    (
        "dependencies",
        Rule::RefuseIfUsed(
            "component dependencies (composing other components into this one) are not \
             supported by this host",
        ),
    ),
    (
        "dependencies_inherit_configuration",
        Rule::RefuseIfUsed("component dependencies are not supported by this host"),
    ),
    (
        "allowed_http_hosts",
        Rule::RefuseIfUsed(
            "deprecated and not supported; use `allowed_outbound_hosts` with a scheme, \
             such as [\"https://example.com\"]",
        ),
    ),
    (
        "build",
        Rule::Ignore("ignored: this host runs `source` as it is; build it first (`spin build`)"),
    ),
    ("tool", Rule::Ignore("ignored: settings for other tools")),
    (
        "targets",
        Rule::Ignore("ignored: this host does not check Spin target environments"),
    ),
    (
        "profile",
        Rule::Ignore("ignored: this host runs the default build profile"),
    ),
];

/// `[component.<id>]`, in file order.
pub(super) fn read_components(
    reader: &mut Reader<'_>,
    root: &DeTable<'_>,
    variables: &[Variable],
    dir: &Path,
) -> Vec<Component> {
    let Some(value) = root.get("component") else {
        return Vec::new();
    };
    let Some(table) = reader.table(value, "component") else {
        return Vec::new();
    };
    let mut components = Vec::new();
    for (id, value) in entries(table) {
        let key = join("component", id.get_ref());
        if let Err(reason) = check_id(id.get_ref(), '-', false) {
            let message = format!("invalid component id {:?}: {reason}", id.get_ref());
            reader.error(id.span(), &key, message);
            continue;
        }
        let line = reader.line(id.span().start);
        let id = id.get_ref().to_string();
        if let Some(component) = read_component(reader, value, &key, id, line, variables, dir) {
            components.push(component);
        }
    }
    components
}

/// One component's table at `key`; `None` when it is not a table. Problems are
/// reported to `reader`, which then fails the whole manifest.
pub(super) fn read_component(
    reader: &mut Reader<'_>,
    value: &Value<'_>,
    key: &str,
    id: String,
    line: usize,
    variables: &[Variable],
    dir: &Path,
) -> Option<Component> {
    let table = reader.table(value, key)?;
    reader.check_keys(table, key, COMPONENT_RULES);
    let source = match table.get("source") {
        Some(source) => read_source(reader, source, &join(key, "source"), dir),
        None => {
            reader.error_at_line(line, &join(key, "source"), "required key is missing");
            None
        }
    };
    let mut component = Component {
        id,
        source: SourceUrl::File(dir.to_owned()),
        digest: None,
        description: None,
        files: Vec::new(),
        exclude_files: Vec::new(),
        environment: Vec::new(),
        variables: Vec::new(),
        key_value_stores: Vec::new(),
        allowed_outbound_hosts: Vec::new(),
        inline: false,
        line,
    };
    if let Some((url, digest)) = source {
        (component.source, component.digest) = (url, digest);
    }
    let field = |name: &str| table.get(name).map(|value| (value, join(key, name)));
    if let Some((value, key)) = field("description") {
        component.description = reader.string(value, &key);
    }
    if let Some((value, key)) = field("environment") {
        component.environment = reader.string_table(value, &key).unwrap_or_default();
    }
    if let Some((value, key)) = field("variables") {
        component.variables = read_component_variables(reader, value, &key, variables);
    }
    if let Some((value, key)) = field("files") {
        component.files = read_files(reader, value, &key);
    }
    if let Some((value, key)) = field("exclude_files") {
        component.exclude_files = read_exclude_files(reader, value, &key);
    }
    if let Some((value, key)) = field("key_value_stores") {
        component.key_value_stores = read_store_labels(reader, value, &key);
    }
    if let Some((value, key)) = field("allowed_outbound_hosts") {
        component.allowed_outbound_hosts = read_allowed_hosts(reader, value, &key, variables);
    }
    // Even with errors, so that triggers using it are not also reported.
    Some(component)
}

/// A path relative to the manifest, or `{ url, digest }`.
fn read_source(
    reader: &mut Reader<'_>,
    value: &Value<'_>,
    key: &str,
    dir: &Path,
) -> Option<(SourceUrl, Option<Digest>)> {
    match value.get_ref() {
        DeValue::String(path) => {
            let problem = if path.contains("://") {
                "a string `source` is a path relative to spin.toml; for a URL write \
                 `source = { url = \"https://...\", digest = \"sha256:...\" }`"
            } else if path.trim().is_empty() {
                "must not be empty"
            } else {
                return Some((SourceUrl::File(dir.join(path.as_ref())), None));
            };
            reader.error(value.span(), key, problem);
            None
        }
        DeValue::Table(table) => {
            if ["registry", "package", "version"]
                .iter()
                .any(|name| table.contains_key(*name))
            {
                let message = "registry sources ({ registry, package, version }) are not supported \
                               by this host; use a path or { url, digest }";
                reader.error(value.span(), key, message);
                return None;
            }
            reader.check_keys(table, key, &[("url", Rule::Read), ("digest", Rule::Read)]);
            let mut required = |name: &str| match table.get(name) {
                Some(value) => Some((reader.string(value, &join(key, name))?, value.span())),
                None => {
                    reader.error(value.span(), &join(key, name), "required key is missing");
                    None
                }
            };
            let (url, digest) = (required("url"), required("digest"));
            let (url, url_span) = url?;
            let (digest, digest_span) = digest?;
            let source = match SourceUrl::parse(&url, dir) {
                Ok(SourceUrl::File(_)) if !url.contains("://") => Err(format!(
                    "`{url}` is not a URL; a path is written `source = \"{url}\"`"
                )),
                other => other,
            };
            let digest = Digest::parse(&digest);
            if let Err(message) = &source {
                reader.error(url_span, &join(key, "url"), message.clone());
            }
            if let Err(message) = &digest {
                reader.error(digest_span, &join(key, "digest"), message.clone());
            }
            Some((source.ok()?, Some(digest.ok()?)))
        }
        other => {
            let message = format!(
                "expected a path or {{ url, digest }}, got {}",
                other.type_str()
            );
            reader.error(value.span(), key, message);
            None
        }
    }
}

/// `{ name = "template" }`: names checked, templates using declared variables.
fn read_component_variables(
    reader: &mut Reader<'_>,
    value: &Value<'_>,
    key: &str,
    variables: &[Variable],
) -> Vec<(String, Template)> {
    let Some(table) = reader.table(value, key) else {
        return Vec::new();
    };
    let mut read = Vec::new();
    for (name, value) in entries(table) {
        let entry_key = join(key, name.get_ref());
        if let Err(message) = variables::check_name(name.get_ref()) {
            reader.error(name.span(), &entry_key, message);
            continue;
        }
        let Some(text) = reader.string(value, &entry_key) else {
            continue;
        };
        if let Some(template) = read_template(reader, &text, value, &entry_key, variables) {
            read.push((name.get_ref().to_string(), template));
        }
    }
    read
}

/// A template whose expressions all name declared app variables.
fn read_template(
    reader: &mut Reader<'_>,
    text: &str,
    value: &Value<'_>,
    key: &str,
    variables: &[Variable],
) -> Option<Template> {
    let template = match Template::parse(text) {
        Ok(template) => template,
        Err(message) => {
            reader.error(value.span(), key, message);
            return None;
        }
    };
    let declared: Vec<&str> = variables
        .iter()
        .map(|variable| variable.name.as_str())
        .collect();
    let mut known = true;
    for name in template.variables() {
        if declared.contains(&name) {
            continue;
        }
        let hint = match closest(name, &declared) {
            Some(close) => format!("; did you mean `{close}`?"),
            None => "; declare it in [variables]".to_owned(),
        };
        reader.error(
            value.span(),
            key,
            format!("unknown app variable `{name}`{hint}"),
        );
        known = false;
    }
    known.then_some(template)
}

/// Glob patterns (strings) and `{ source, destination }` tables.
fn read_files(reader: &mut Reader<'_>, value: &Value<'_>, key: &str) -> Vec<FileMount> {
    let DeValue::Array(items) = value.get_ref() else {
        let message = format!("expected an array, got {}", value.get_ref().type_str());
        reader.error(value.span(), key, message);
        return Vec::new();
    };
    let mut mounts = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_key = indexed(key, index);
        match item.get_ref() {
            DeValue::String(pattern) => mounts.push(FileMount::Pattern(pattern.to_string())),
            DeValue::Table(table) => {
                let rules = [("source", Rule::Read), ("destination", Rule::Read)];
                reader.check_keys(table, &item_key, &rules);
                let mut required = |name: &str| match table.get(name) {
                    Some(value) => reader.string(value, &join(&item_key, name)),
                    None => {
                        reader.error(
                            item.span(),
                            &join(&item_key, name),
                            "required key is missing",
                        );
                        None
                    }
                };
                if let (Some(source), Some(destination)) =
                    (required("source"), required("destination"))
                {
                    mounts.push(FileMount::Placement {
                        source,
                        destination,
                    });
                }
            }
            other => {
                let message = format!(
                    "expected a glob pattern or {{ source, destination }}, got {}",
                    other.type_str()
                );
                reader.error(item.span(), &item_key, message);
            }
        }
    }
    mounts
}

fn read_exclude_files(reader: &mut Reader<'_>, value: &Value<'_>, key: &str) -> Vec<String> {
    let patterns = reader.strings(value, key).unwrap_or_default();
    let mut read = Vec::new();
    for (index, pattern) in patterns.into_iter().enumerate() {
        match glob::Pattern::new(pattern.get_ref()) {
            Ok(_) => read.push(pattern.into_inner()),
            Err(error) => {
                let message = format!("invalid glob pattern {:?}: {error}", pattern.get_ref());
                reader.error(pattern.span(), &indexed(key, index), message);
            }
        }
    }
    read
}

/// Labels in kebab-case or snake_case, as Spin requires, without repeats.
fn read_store_labels(reader: &mut Reader<'_>, value: &Value<'_>, key: &str) -> Vec<String> {
    let labels = reader.strings(value, key).unwrap_or_default();
    let mut read: Vec<String> = Vec::new();
    for (index, label) in labels.into_iter().enumerate() {
        let text = label.get_ref();
        if check_id(text, '-', false).is_err() && check_id(text, '_', false).is_err() {
            let message =
                format!("invalid store label {text:?}: expected kebab-case or snake_case");
            reader.error(label.span(), &indexed(key, index), message);
        } else if !read.contains(text) {
            read.push(label.into_inner());
        }
    }
    read
}

fn read_allowed_hosts(
    reader: &mut Reader<'_>,
    value: &Value<'_>,
    key: &str,
    variables: &[Variable],
) -> Vec<HostEntry> {
    let DeValue::Array(items) = value.get_ref() else {
        let message = format!(
            "expected an array of strings, got {}",
            value.get_ref().type_str()
        );
        reader.error(value.span(), key, message);
        return Vec::new();
    };
    let mut entries_read = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_key = indexed(key, index);
        let Some(text) = reader.string(item, &item_key) else {
            continue;
        };
        let Some(template) = read_template(reader, &text, item, &item_key, variables) else {
            continue;
        };
        if template.is_literal()
            && let Err(message) = hosts::parse(&text)
        {
            reader.error(item.span(), &item_key, message);
            continue;
        }
        entries_read.push(HostEntry {
            template,
            line: reader.line(item.span().start),
            key: item_key,
        });
    }
    entries_read
}
