//! Checks of single values (names, addresses, limits, methods) and the key
//! paths and line numbers every config error is reported with.

use super::*;

/// Keeps the value where it was set, or the inherited one where it is absent (or wrong,
/// which is already reported).
pub(super) fn present_or<T>(checked: Result<Option<Located<T>>, Reported>, inherited: T) -> T {
    checked
        .ok()
        .flatten()
        .map_or(inherited, |located| located.value)
}

pub(super) fn parse_abi(name: &str) -> Result<AbiKind, String> {
    AbiKind::from_name(name).ok_or_else(|| {
        format!("unknown ABI `{name}`; expected one of `classic`, `wasi-http`, `wagi`")
    })
}

pub(super) fn check_listen_address(address: &str) -> Result<String, String> {
    match outbound::split_host_port(address) {
        Some(_) => Ok(address.to_owned()),
        None => Err(format!(
            "expected `host:port`, e.g. `{DEFAULT_LISTEN_ADDRESS}`, got `{address}`"
        )),
    }
}

pub(super) fn check_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{name:?} must not contain whitespace or control characters"
        ));
    }
    Ok(name.to_owned())
}

pub(super) fn check_not_empty(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(text.to_owned())
    }
}

pub(super) fn check_timeout(milliseconds: &u64) -> Result<Duration, String> {
    if *milliseconds == 0 {
        Err("must be greater than 0 (it is a deadline in milliseconds)".to_owned())
    } else {
        Ok(Duration::from_millis(*milliseconds))
    }
}

pub(super) fn check_reuse(requests: &u64) -> Result<u32, String> {
    match u32::try_from(*requests) {
        Ok(requests) if requests >= 1 => Ok(requests),
        _ => Err(format!(
            "must be between 1 (a fresh instance for every request) and {}, got {requests}",
            u32::MAX
        )),
    }
}

/// `concurrent_reuse`, which cannot exceed `reuse`, the requests an
/// instance serves in all.
pub(super) fn check_concurrent_reuse(requests: &u64, reuse: u32) -> Result<u32, String> {
    match u32::try_from(*requests) {
        Ok(requests) if requests > reuse => Err(format!(
            "{requests} requests at once need `reuse` (the requests one instance serves in \
             all) of at least {requests}, not {reuse}; `wasmtime serve` serves WASI 0.3 \
             components with 16 at once and 128 in all"
        )),
        Ok(requests) if requests >= 1 => Ok(requests),
        _ => Err(format!(
            "must be between 1 (one request at a time) and {}, got {requests}",
            u32::MAX
        )),
    }
}

pub(super) fn check_memory_limit(megabytes: &u64) -> Result<u64, String> {
    if MEMORY_LIMIT_MB.contains(megabytes) {
        Ok(megabytes * BYTES_PER_MB)
    } else {
        Err(format!(
            "must be between {} and {} (MiB), got {megabytes}",
            MEMORY_LIMIT_MB.start(),
            MEMORY_LIMIT_MB.end()
        ))
    }
}

/// Method names are case-insensitive in the config and upper case on the wire.
pub(super) fn parse_method_name(name: &str) -> Result<Method, String> {
    if name == ANY_METHOD {
        return Err("\"*\" (any method) cannot be listed with other methods".to_owned());
    }
    Method::from_bytes(name.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{name}` is not a valid HTTP method name"))
}

pub(super) fn dedup_keeping_order(methods: &mut Vec<Method>) {
    let mut seen = Vec::with_capacity(methods.len());
    methods.retain(|method| {
        let first = !seen.contains(method);
        if first {
            seen.push(method.clone());
        }
        first
    });
}

pub(super) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .filter(|stem| !stem.is_empty())
        .unwrap_or_else(|| FALLBACK_NAME.to_owned())
}

pub(super) fn app_path(number: usize) -> String {
    format!("applications[{number}]")
}

pub(super) fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `index` counts from 0, the key from 1, as people count.
pub(super) fn indexed_key(key: &str, index: usize) -> String {
    format!("{key}[{}]", index + 1)
}

/// A key as written in TOML: bare when it can be, quoted otherwise.
pub(super) fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// The key path, relative to `table`, of the innermost value whose text holds `offset`.
/// `[[array]]` tables span only their header, so every table and array is searched,
/// not just those whose span holds the offset.
pub(super) fn key_path_at(table: &DeTable<'_>, offset: usize) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let key = key_segment(key.get_ref());
        match path_within(value, offset) {
            Some(inner) => Some(format!("{key}{inner}")),
            None => value.span().contains(&offset).then_some(key),
        }
    })
}

fn path_within(value: &Spanned<DeValue<'_>>, offset: usize) -> Option<String> {
    match value.get_ref() {
        DeValue::Table(table) => key_path_at(table, offset).map(|path| format!(".{path}")),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            let inner = path_within(item, offset);
            let here = inner.is_some() || item.span().contains(&offset);
            here.then(|| format!("{}{}", indexed_key("", index), inner.unwrap_or_default()))
        }),
        _ => None,
    }
}

/// Where each line of a text starts, to turn byte offsets into 1-based line
/// numbers by binary search: a config of 10,000 apps asks for one per key,
/// and counting newlines from the top each time made reading it quadratic.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        let after_newlines = text.match_indices('\n').map(|(at, _)| at + 1);
        LineIndex {
            starts: std::iter::once(0).chain(after_newlines).collect(),
        }
    }

    /// The line `offset` is on; past the end, the last line.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }
}
