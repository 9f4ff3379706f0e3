//! Getting every app's module bytes before anything is loaded: one fetch per
//! distinct source (concurrently), each checked against its app's `digest`,
//! WebAssembly text turned into binary, wit-bindgen core modules made
//! components. [`crate::app::Loader`] then compiles from these bytes, so a
//! module fails to fetch, to match its pin or to become a component before
//! any app is replaced.

use std::collections::HashMap;

use crate::config::AppConfig;
use crate::sources::{Digest, Origin, SourceUrl, Sources};

/// A module's bytes, ready to compile, and the SHA-256 of what was fetched.
pub struct ModuleBytes {
    pub wasm: Vec<u8>,
    pub digest: Digest,
}

/// Where a module comes from and the digest it is pinned to.
pub type ModuleKey = (SourceUrl, Option<Digest>);

/// Every distinct module of a config, or why it could not be had.
pub type Modules = HashMap<ModuleKey, Result<ModuleBytes, String>>;

/// The module `config` runs; `None` for a static response, which runs none.
pub fn module_key(config: &AppConfig) -> Option<ModuleKey> {
    if config.static_response.is_some() {
        return None;
    }
    Some((config.source.clone(), config.digest))
}

/// Fetches every module through `sources`: files are read, remote modules
/// downloaded or, when their remote is down, served from the last good copy
/// (with a warning naming the source and the copy's age).
pub async fn fetch_all(configs: &[AppConfig], sources: &Sources) -> Modules {
    let mut keys: Vec<ModuleKey> = configs.iter().filter_map(module_key).collect();
    keys.sort_by_key(|(source, pin)| (source.to_string(), pin.map(|d| d.to_hex())));
    keys.dedup();
    let fetches = keys.into_iter().map(|key| async move {
        let fetched = sources.fetch(&key.0, key.1.as_ref()).await;
        let module = fetched.map_err(|e| e.to_string()).and_then(|fetched| {
            if let Origin::CachedCopyFallback { age, error } = &fetched.origin {
                tracing::warn!(
                    "serving the copy of {} fetched {} ago: {error}",
                    key.0,
                    human_age(age.as_secs())
                );
            }
            to_wasm(&fetched.bytes, fetched.digest)
        });
        (key, module)
    });
    futures_util::future::join_all(fetches)
        .await
        .into_iter()
        .collect()
}

/// Reads every module from its file, without [`Sources`]: for loading apps
/// outside a server (`run`, benchmarks). Remote sources are refused.
pub fn read_local(configs: &[AppConfig]) -> Modules {
    let mut modules = Modules::new();
    for config in configs {
        let Some(key) = module_key(config) else {
            continue;
        };
        modules.entry(key).or_insert_with(|| {
            let SourceUrl::File(path) = &config.source else {
                return Err(format!(
                    "{}: only `serve` and `check` fetch remote modules",
                    config.source
                ));
            };
            let bytes =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let digest = Digest::of(&bytes);
            if let Some(pinned) = config.digest.filter(|pinned| *pinned != digest) {
                return Err(format!(
                    "{} does not match its pinned digest: expected {pinned}, got {digest}",
                    path.display()
                ));
            }
            to_wasm(&bytes, digest)
        });
    }
    modules
}

/// The bytes to compile: text made binary, and a core module carrying
/// wit-bindgen's component type made a component ([`crate::componentize`]).
/// `digest` stays that of the bytes fetched.
fn to_wasm(bytes: &[u8], digest: Digest) -> Result<ModuleBytes, String> {
    let wasm = wat::parse_bytes(bytes)
        .map_err(|e| format!("{e}"))?
        .into_owned();
    let wasm = crate::componentize::componentize_if_typed(wasm)?;
    Ok(ModuleBytes { wasm, digest })
}

/// A duration in seconds as a person says it: `40 s`, `12 min`, `3 h`, `9 days`.
pub fn human_age(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86400),
    }
}
