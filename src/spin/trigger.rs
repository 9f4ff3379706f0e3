//! The `[[trigger.http]]` tables of a Spin manifest: each read into a draft,
//! then given the ids Spin gives triggers and inline components without one,
//! checked against the components, and rid of those a later trigger with the
//! same route shadows.

use std::collections::HashSet;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::component::read_component;
use super::manifest::{Component, Executor, Handler, HttpTrigger, Manifest};
use super::reader::{Reader, Rule, Value, check_id, closest, entries, indexed, join};
use crate::config::StaticResponse;
use crate::router::SpinRoute;

const WAGI_DEFAULT_ARGV: &str = "${SCRIPT_NAME} ${ARGS}";
const WAGI_DEFAULT_ENTRYPOINT: &str = "_start";

/// A trigger whose own keys are read, before ids are given and references checked.
pub(super) struct TriggerDraft {
    id: Option<String>,
    /// `None` for a private endpoint.
    route: Option<SpinRoute>,
    target: Target,
    executor: Executor,
    line: usize,
    /// The number of the trigger, for messages: `trigger.http[N]`.
    number: usize,
}

enum Target {
    Reference { id: String, span: Range<usize> },
    Inline(Box<Component>),
    Static(StaticResponse),
}

const TRIGGER_RULES: &[(&str, Rule)] = &[
    ("id", Rule::Read),
    ("component", Rule::Read),
    ("route", Rule::Read),
    ("static_response", Rule::Read),
    ("executor", Rule::Read),
    (
        "components",
        Rule::RefuseIfUsed("not supported: this host runs one component per HTTP trigger"),
    ),
    (
        "dependencies",
        Rule::RefuseIfUsed("trigger dependencies are not supported by this host"),
    ),
];

pub(super) fn read_triggers(
    reader: &mut Reader<'_>,
    root: &DeTable<'_>,
    manifest: &Manifest,
) -> Vec<TriggerDraft> {
    const NONE: &str = "no HTTP triggers; add at least one [[trigger.http]]";
    let Some(value) = root.get("trigger") else {
        reader.error_at_line(0, "trigger", NONE);
        return Vec::new();
    };
    let Some(table) = reader.table(value, "trigger") else {
        return Vec::new();
    };
    let mut drafts = Vec::new();
    for (kind, value) in entries(table) {
        let path = join("trigger", kind.get_ref());
        if kind.get_ref() != "http" {
            let message = format!(
                "`{}` triggers are not supported; this host runs HTTP triggers ([[trigger.http]]) only",
                kind.get_ref()
            );
            reader.error(kind.span(), &path, message);
            continue;
        }
        let DeValue::Array(items) = value.get_ref() else {
            let message = format!(
                "expected [[trigger.http]] tables, got {}",
                value.get_ref().type_str()
            );
            reader.error(value.span(), &path, message);
            continue;
        };
        if items.is_empty() {
            reader.error(value.span(), &path, NONE);
        }
        for (index, item) in items.iter().enumerate() {
            if let Some(draft) = read_trigger(reader, item, index + 1, manifest) {
                drafts.push(draft);
            }
        }
    }
    if !table.contains_key("http") {
        reader.error(value.span(), "trigger", NONE);
    }
    drafts
}

fn read_trigger(
    reader: &mut Reader<'_>,
    value: &Value<'_>,
    number: usize,
    manifest: &Manifest,
) -> Option<TriggerDraft> {
    let path = indexed("trigger.http", number - 1);
    let table = reader.table(value, &path)?;
    let line = reader.line(value.span().start);
    let errors_before = reader.errors.len();
    reader.check_keys(table, &path, TRIGGER_RULES);
    let id = table
        .get("id")
        .and_then(|id| reader.string(id, &join(&path, "id")));
    let route = match table.get("route") {
        Some(route) => read_route(
            reader,
            route,
            &join(&path, "route"),
            &manifest.application.base,
        ),
        None => {
            reader.error_at_line(line, &join(&path, "route"), "required key is missing");
            None
        }
    };
    let executor = match table.get("executor") {
        Some(executor) => read_executor(reader, executor, &join(&path, "executor")),
        None => Some(Executor::Http),
    };
    let target = match (table.get("component"), table.get("static_response")) {
        (Some(component), None) => {
            read_target(reader, component, &join(&path, "component"), manifest)
        }
        (None, Some(response)) => {
            read_static_response(reader, response, &join(&path, "static_response"))
                .map(Target::Static)
        }
        (both, _) => {
            let message = match both {
                Some(_) => "has both `component` and `static_response`; give one",
                None => "needs a `component` or a `static_response`",
            };
            reader.error_at_line(line, &path, message);
            None
        }
    };
    if reader.errors.len() > errors_before {
        return None;
    }
    Some(TriggerDraft {
        id,
        route: route?,
        target: target?,
        executor: executor?,
        line,
        number,
    })
}

/// `Some(None)` for a private endpoint.
fn read_route(
    reader: &mut Reader<'_>,
    value: &Value<'_>,
    key: &str,
    base: &str,
) -> Option<Option<SpinRoute>> {
    match value.get_ref() {
        DeValue::String(route) => {
            let based = if base == "/" {
                route.to_string()
            } else {
                based_route(base, route)
            };
            match SpinRoute::parse(&based) {
                Ok(route) => Some(Some(route)),
                Err(message) => {
                    reader.error(value.span(), key, message);
                    None
                }
            }
        }
        DeValue::Table(table) => {
            reader.check_keys(table, key, &[("private", Rule::Read)]);
            let private_key = join(key, "private");
            match table
                .get("private")
                .map(|flag| (flag, reader.boolean(flag, &private_key)))
            {
                Some((_, Some(true))) => Some(None),
                Some((flag, Some(false))) => {
                    let message = "a route is a path, or `{ private = true }` for a component \
                                   that only other components reach";
                    reader.error(flag.span(), &private_key, message);
                    None
                }
                Some((_, None)) => None,
                // Other keys are already reported as unknown.
                None if !table.is_empty() => None,
                None => {
                    reader.error(value.span(), &private_key, "required key is missing");
                    None
                }
            }
        }
        other => {
            let message = format!(
                "expected a path or `{{ private = true }}`, got {}",
                other.type_str()
            );
            reader.error(value.span(), key, message);
            None
        }
    }
}

/// `base` and `route` joined as Spin joins them.
fn based_route(base: &str, route: &str) -> String {
    let base = base.strip_suffix('/').unwrap_or(base);
    let route = route.strip_suffix('/').unwrap_or(route);
    let separator = if route.starts_with('/') { "" } else { "/" };
    format!("{base}{separator}{route}")
}

fn read_target(
    reader: &mut Reader<'_>,
    value: &Value<'_>,
    key: &str,
    manifest: &Manifest,
) -> Option<Target> {
    match value.get_ref() {
        DeValue::String(id) => match check_id(id, '-', false) {
            Ok(()) => Some(Target::Reference {
                id: id.to_string(),
                span: value.span(),
            }),
            Err(reason) => {
                reader.error(
                    value.span(),
                    key,
                    format!("invalid component id {id:?}: {reason}"),
                );
                None
            }
        },
        DeValue::Table(_) => {
            let line = reader.line(value.span().start);
            let component = read_component(
                reader,
                value,
                key,
                String::new(),
                line,
                &manifest.variables,
                &manifest.dir,
            )?;
            Some(Target::Inline(Box::new(Component {
                inline: true,
                ..component
            })))
        }
        other => {
            let message = format!(
                "expected a component id or an inline component table, got {}",
                other.type_str()
            );
            reader.error(value.span(), key, message);
            None
        }
    }
}

fn read_static_response(
    reader: &mut Reader<'_>,
    value: &Value<'_>,
    key: &str,
) -> Option<StaticResponse> {
    let table = reader.table(value, key)?;
    let rules = [
        ("status_code", Rule::Read),
        ("headers", Rule::Read),
        ("body", Rule::Read),
    ];
    reader.check_keys(table, key, &rules);
    let mut response = StaticResponse {
        status: 200,
        headers: Vec::new(),
        body: Vec::new(),
    };
    if let Some(status) = table.get("status_code") {
        let status_key = join(key, "status_code");
        let code = reader.integer(status, &status_key)?;
        match u16::try_from(code)
            .ok()
            .filter(|code| http::StatusCode::from_u16(*code).is_ok())
        {
            Some(code) => response.status = code,
            None => {
                reader.error(
                    status.span(),
                    &status_key,
                    format!("{code} is not an HTTP status (100 to 999)"),
                );
                return None;
            }
        }
    }
    if let Some(headers) = table.get("headers") {
        let headers_key = join(key, "headers");
        for (name, value) in reader.string_table(headers, &headers_key)? {
            let problem = if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                Some(format!("{name:?} is not a valid header name"))
            } else if http::HeaderValue::from_str(&value).is_err() {
                Some(format!("the value of {name:?} is not a valid header value"))
            } else {
                None
            };
            if let Some(problem) = problem {
                reader.error(headers.span(), &join(&headers_key, &name), problem);
            }
            response.headers.push((name, value));
        }
    }
    if let Some(body) = table.get("body") {
        response.body = reader.string(body, &join(key, "body"))?.into_bytes();
    }
    Some(response)
}

fn read_executor(reader: &mut Reader<'_>, value: &Value<'_>, key: &str) -> Option<Executor> {
    let table = reader.table(value, key)?;
    let rules = [
        ("type", Rule::Read),
        ("argv", Rule::Read),
        ("entrypoint", Rule::Read),
    ];
    reader.check_keys(table, key, &rules);
    let type_key = join(key, "type");
    let Some(kind) = table.get("type") else {
        reader.error(
            value.span(),
            &type_key,
            "required key is missing; `http` or `wagi`",
        );
        return None;
    };
    let setting = |reader: &mut Reader<'_>, name: &str, default: &str| match table.get(name) {
        Some(value) => reader.string(value, &join(key, name)),
        None => Some(default.to_owned()),
    };
    match reader.string(kind, &type_key)?.as_str() {
        "http" | "spin" => {
            for name in ["argv", "entrypoint"] {
                if let Some((name, _)) = table.get_key_value(name) {
                    reader.error(
                        name.span(),
                        &join(key, name.get_ref()),
                        "only a `wagi` executor has this key",
                    );
                }
            }
            Some(Executor::Http)
        }
        "wagi" => {
            let argv = setting(reader, "argv", WAGI_DEFAULT_ARGV)?;
            let entrypoint = setting(reader, "entrypoint", WAGI_DEFAULT_ENTRYPOINT)?;
            if entrypoint != WAGI_DEFAULT_ENTRYPOINT {
                let message = "deprecated: Spin refuses an entrypoint other than `_start`";
                reader.warn(value.span(), &join(key, "entrypoint"), message);
            }
            Some(Executor::Wagi { argv, entrypoint })
        }
        other => {
            let message = format!("unknown executor type `{other}`; expected `http` or `wagi`");
            reader.error(kind.span(), &type_key, message);
            None
        }
    }
}

/// Gives ids as Spin does, moves inline components into `components`, checks
/// references, and drops triggers a later one shadows.
pub(super) fn complete_triggers(
    reader: &mut Reader<'_>,
    drafts: Vec<TriggerDraft>,
    components: &mut Vec<Component>,
) -> Vec<HttpTrigger> {
    let mut taken: HashSet<String> = drafts.iter().filter_map(|draft| draft.id.clone()).collect();
    let mut counter = 1;
    let mut component_ids: HashSet<String> = components.iter().map(|c| c.id.clone()).collect();
    let mut triggers: Vec<(HttpTrigger, usize)> = Vec::new();
    for draft in drafts {
        let id = match (&draft.id, &draft.target) {
            (Some(id), _) => id.clone(),
            (None, Target::Reference { id, .. }) if taken.insert(format!("{id}-http-trigger")) => {
                format!("{id}-http-trigger")
            }
            (None, _) => loop {
                let candidate = format!("http-trigger{counter}");
                counter += 1;
                if taken.insert(candidate.clone()) {
                    break candidate;
                }
            },
        };
        let handler = match draft.target {
            Target::Reference { id, span } => {
                check_reference(reader, &id, span, &component_ids, draft.number);
                Handler::Component(id)
            }
            Target::Inline(component) => {
                let natural = format!("{id}-component");
                let component_id = if check_id(&natural, '-', false).is_ok()
                    && !component_ids.contains(&natural)
                {
                    natural
                } else {
                    (1..)
                        .map(|n| format!("inline-component{n}"))
                        .find(|candidate| !component_ids.contains(candidate))
                        .unwrap_or_default()
                };
                component_ids.insert(component_id.clone());
                components.push(Component {
                    id: component_id.clone(),
                    ..*component
                });
                Handler::Component(component_id)
            }
            Target::Static(response) => Handler::Static(response),
        };
        let trigger = HttpTrigger {
            id,
            route: draft.route,
            handler,
            executor: draft.executor,
            line: draft.line,
        };
        triggers.push((trigger, draft.number));
    }
    drop_shadowed(reader, triggers)
}

fn check_reference(
    reader: &mut Reader<'_>,
    id: &str,
    span: Range<usize>,
    component_ids: &HashSet<String>,
    number: usize,
) {
    if component_ids.contains(id) {
        return;
    }
    let known: Vec<&str> = component_ids.iter().map(String::as_str).collect();
    let hint = match closest(id, &known) {
        Some(close) => format!("; did you mean `{close}`?"),
        None => format!("; define it in a [component.{id}] table"),
    };
    let key = join(&indexed("trigger.http", number - 1), "component");
    reader.error(span, &key, format!("no component `{id}`{hint}"));
}

/// Spin serves the last of the triggers with one route.
fn drop_shadowed(reader: &mut Reader<'_>, triggers: Vec<(HttpTrigger, usize)>) -> Vec<HttpTrigger> {
    let route_of =
        |trigger: &HttpTrigger| trigger.route.as_ref().map(|route| normalized(route.raw()));
    let mut kept = Vec::new();
    for (index, (trigger, number)) in triggers.iter().enumerate() {
        let route = route_of(trigger);
        let later = triggers[index + 1..]
            .iter()
            .find(|(other, _)| route.is_some() && route_of(other) == route);
        match later {
            Some((other, other_number)) => {
                let message = format!(
                    "route `{}` is also the route of trigger.http[{other_number}] (line {}), which Spin \
                     serves; this trigger is never reached",
                    trigger.route.as_ref().map_or("", |route| route.raw()),
                    other.line
                );
                let key = join(&indexed("trigger.http", number - 1), "route");
                let file = reader.file.display();
                reader
                    .warnings
                    .push(format!("{file}:{}: `{key}`: {message}", trigger.line));
            }
            None => kept.push(trigger.clone()),
        }
    }
    kept
}

/// A route as Spin compares routes: with a leading `/`, without a trailing one.
fn normalized(route: &str) -> String {
    let route = route.strip_suffix('/').unwrap_or(route);
    if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    }
}
