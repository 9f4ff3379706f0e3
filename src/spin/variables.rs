//! Spin's app variables and the `{{ name }}` templates that use them.
//!
//! A template is text with expressions in double braces, as Spin's
//! `spin-expressions` reads them: `{{` opens an expression that the next `}}`
//! closes, whitespace inside is trimmed, and what remains names an app
//! variable. There is no escape: a `{{` always opens an expression (a lone
//! `}}` is plain text), and an unclosed `{{` is an error. Templates appear in
//! a component's `variables` and `allowed_outbound_hosts`.
//!
//! An app variable's value comes from the environment variable Spin's
//! environment provider reads, `SPIN_VARIABLE_` and the name upper-cased
//! ([`env_name`]), else from its `default`; a `required` one with neither
//! refuses the app. Spin's other providers (Vault, Azure Key Vault, a `.env`
//! file) are not read. Values of `secret` variables, and of anything built
//! from one, are [`Value`]s that keep themselves out of `Debug` output, and
//! no error message shows them.

use std::collections::BTreeMap;
use std::env::VarError;
use std::fmt;

use super::hosts::{self, Outbound};
use super::manifest::{Component, Manifest};
use crate::config::{ConfigError, ConfigErrors};

/// The prefix Spin's environment provider puts before an upper-cased name.
pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";
/// The file of `NAME=value` lines beside a manifest that variables are also
/// read from, after the environment.
const DOTENV: &str = ".env";
const OPEN: &str = "{{";
const CLOSE: &str = "}}";

/// The environment variable that sets app variable `name`: `api_key` is
/// `SPIN_VARIABLE_API_KEY`.
pub fn env_name(name: &str) -> String {
    format!("{ENV_PREFIX}{}", name.to_ascii_uppercase())
}

/// An app variable, as the manifest's `[variables]` declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Lower `snake_case`, as Spin requires.
    pub name: String,
    /// Secret when the variable is.
    pub default: Option<Value>,
    /// Spin requires exactly one of `required = true` and a `default`.
    pub required: bool,
    pub secret: bool,
    pub description: Option<String>,
    /// 1-based line of its name.
    pub line: usize,
}

/// A string that may be a secret: `Debug` shows a secret one as `<secret>`,
/// and there is no `Display`, so that it is not formatted by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Value {
    text: String,
    secret: bool,
}

impl Value {
    pub fn new(text: impl Into<String>, secret: bool) -> Value {
        Value {
            text: text.into(),
            secret,
        }
    }

    /// The text itself, secret or not: for the guest, never for a message.
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn into_exposed(self) -> String {
        self.text
    }

    pub fn is_secret(&self) -> bool {
        self.secret
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("<secret>")
        } else {
            fmt::Debug::fmt(&self.text, f)
        }
    }
}

/// Text with `{{ name }}` expressions; see the module's documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// As written.
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// The expression, trimmed: an app variable's name.
    Variable(String),
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after_open) = rest.strip_prefix(OPEN) {
                let Some((expression, after)) = after_open.split_once(CLOSE) else {
                    return Err(format!(
                        "unmatched `{OPEN}` in {text:?}; a template has `{OPEN} name {CLOSE}`"
                    ));
                };
                parts.push(Part::Variable(expression.trim().to_owned()));
                rest = after;
            } else {
                let end = rest.find(OPEN).unwrap_or(rest.len());
                parts.push(Part::Literal(rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
        Ok(Template {
            source: text.to_owned(),
            parts,
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether it has no expression.
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|part| matches!(part, Part::Literal(_)))
    }

    /// The names of the variables it uses, in order, repeats included.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Whether it uses a secret variable of `manifest`.
    pub fn uses_secret(&self, manifest: &Manifest) -> bool {
        self.variables().any(|name| {
            manifest
                .variable(name)
                .is_some_and(|variable| variable.secret)
        })
    }
}

/// The value of every app variable of one manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(BTreeMap<String, Value>);

impl Values {
    /// Values from the process's environment, else the defaults.
    pub fn from_env(manifest: &Manifest) -> Result<Values, ConfigErrors> {
        Values::resolve(manifest, |name| std::env::var(name))
    }

    /// Values from `env` (looked up by [`env_name`]), else the defaults. Every
    /// required variable without a value is an error naming it.
    pub fn resolve(
        manifest: &Manifest,
        env: impl Fn(&str) -> Result<String, VarError>,
    ) -> Result<Values, ConfigErrors> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for variable in &manifest.variables {
            let env_name = env_name(&variable.name);
            let problem = match env(&env_name) {
                Ok(text) => {
                    values.insert(variable.name.clone(), Value::new(text, variable.secret));
                    continue;
                }
                Err(VarError::NotUnicode(_)) => format!("{env_name} is set but not valid UTF-8"),
                Err(VarError::NotPresent) => match &variable.default {
                    Some(default) => {
                        values.insert(variable.name.clone(), default.clone());
                        continue;
                    }
                    None => format!(
                        "app variable `{}` is required and has no value: set {env_name}",
                        variable.name
                    ),
                },
            };
            errors.push(ConfigError {
                file: manifest.file.clone(),
                line: variable.line,
                key: Some(format!("variables.{}", variable.name)),
                message: problem,
            });
        }
        if errors.is_empty() {
            Ok(Values(values))
        } else {
            Err(ConfigErrors(errors))
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// `template` with its expressions replaced by their values: secret when
    /// any of them is. A name without a value (none when the template was
    /// checked against the same manifest) becomes empty text.
    pub fn render(&self, template: &Template) -> Value {
        let mut text = String::new();
        let mut secret = false;
        for part in &template.parts {
            match part {
                Part::Literal(literal) => text.push_str(literal),
                Part::Variable(name) => {
                    if let Some(value) = self.0.get(name) {
                        text.push_str(value.expose());
                        secret |= value.is_secret();
                    }
                }
            }
        }
        Value::new(text, secret)
    }

    /// A component's `variables`, rendered, in file order.
    pub fn component_variables(&self, component: &Component) -> Vec<(String, Value)> {
        component
            .variables
            .iter()
            .map(|(name, template)| (name.clone(), self.render(template)))
            .collect()
    }
}

/// A manifest's components with everything that depends on variable values
/// worked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub values: Values,
    /// In the order of [`Manifest::components`].
    pub components: Vec<ResolvedComponent>,
}

/// One component's variables and outbound destinations, values filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedComponent {
    pub id: String,
    /// Its `variables`, in file order, for the guest to read.
    pub variables: Vec<(String, Value)>,
    /// Its `allowed_outbound_hosts`.
    pub outbound: Outbound,
}

impl Manifest {
    /// Resolves the app's variables from the process's environment, then a
    /// `.env` file beside the manifest (as Spin's environment provider reads
    /// `.env` in the app's directory); see [`Manifest::resolve`].
    pub fn resolve_from_env(&self) -> Result<Resolved, ConfigErrors> {
        let dotenv = self.dotenv()?;
        self.resolve(|name| match std::env::var(name) {
            Err(VarError::NotPresent) => dotenv.get(name).cloned().ok_or(VarError::NotPresent),
            found => found,
        })
    }

    /// The `NAME=value` lines of `.env` beside the manifest, if there is one.
    fn dotenv(&self) -> Result<BTreeMap<String, String>, ConfigErrors> {
        let path = self.dir.join(DOTENV);
        if !path.is_file() {
            return Ok(BTreeMap::new());
        }
        let refuse = |message: String| {
            ConfigErrors(vec![ConfigError {
                file: path.clone(),
                line: 0,
                key: None,
                message,
            }])
        };
        let entries = dotenvy::from_path_iter(&path).map_err(|e| refuse(e.to_string()))?;
        entries
            .map(|entry| entry.map_err(|e| refuse(format!("cannot read it: {e}"))))
            .collect()
    }

    /// Every app variable's value (from `env`, else its default), then each
    /// component's variables and `allowed_outbound_hosts` with them.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Result<String, VarError>,
    ) -> Result<Resolved, ConfigErrors> {
        let values = Values::resolve(self, env)?;
        let mut components = Vec::new();
        let mut errors = Vec::new();
        for component in &self.components {
            match hosts::resolve(self, component, &values) {
                Ok(outbound) => components.push(ResolvedComponent {
                    id: component.id.clone(),
                    variables: values.component_variables(component),
                    outbound,
                }),
                Err(ConfigErrors(more)) => errors.extend(more),
            }
        }
        if errors.is_empty() {
            Ok(Resolved { values, components })
        } else {
            errors.sort_by_key(|error| error.line);
            Err(ConfigErrors(errors))
        }
    }
}

/// Checks an app or component variable name as Spin does: lower `snake_case`
/// words that each start with a letter.
pub fn check_name(name: &str) -> Result<(), String> {
    super::reader::check_id(name, '_', true)
        .map_err(|reason| format!("invalid variable name {name:?}: {reason}"))
}
