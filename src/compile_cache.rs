//! The on-disk cache of compiled code. A module or component is compiled
//! once and stored under a key made of its bytes' SHA-256 and the engine's
//! compatibility hash (compiler settings, enabled features and the wasmtime
//! version); later start-ups deserialize it instead of compiling it.
//!
//! An entry is `MAGIC`, the SHA-256 of the payload, then the payload that
//! wasmtime serialized. Loading native code is only sound for bytes wasmtime
//! wrote itself, so an entry whose checksum does not match is never handed to
//! wasmtime: it is recompiled and rewritten, as is one wasmtime refuses (an
//! entry from another version or configuration).
//!
//! The cache stays within a size ([`prune`]): each load marks its entry as
//! used, and each write removes the least recently used beyond the limit.

pub mod prune;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::Module;
use wasmtime::component::Component;

/// The first bytes of every entry; bump the digit when the layout changes.
const MAGIC: &[u8; 8] = b"swcache1";
const CHECKSUM_LEN: usize = 32;

/// Where compiled code is kept, or nowhere, and how much of it.
#[derive(Debug, Clone, Default)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    max_bytes: u64,
}

/// How a compiled artifact was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read from the cache.
    Cached,
    /// Compiled now (and stored, when there is a cache).
    Compiled,
}

impl CompileCache {
    /// No cache: every load compiles.
    pub fn disabled() -> Self {
        Self {
            dir: None,
            max_bytes: 0,
        }
    }

    /// A cache in `dir`, created when the first entry is written.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
            max_bytes: prune::DEFAULT_MAX_BYTES,
        }
    }

    /// The same cache, kept within `max_bytes`.
    pub fn with_max_bytes(self, max_bytes: u64) -> Self {
        Self { max_bytes, ..self }
    }

    /// Its directory, unless it is disabled.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// `$XDG_CACHE_HOME/serverless-wasm`, else `$HOME/.cache/serverless-wasm`.
    pub fn default_dir() -> Option<PathBuf> {
        let non_empty = |name| std::env::var_os(name).filter(|value| !value.is_empty());
        non_empty("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .map(|base| base.join("serverless-wasm"))
    }

    /// Compiles a core module, or loads it from the cache.
    pub fn module(&self, engine: &Engine, wasm: &[u8]) -> anyhow::Result<(Module, Source)> {
        self.load_or_compile(engine, wasm)
    }

    /// Compiles a component, or loads it from the cache.
    pub fn component(&self, engine: &Engine, wasm: &[u8]) -> anyhow::Result<(Component, Source)> {
        self.load_or_compile(engine, wasm)
    }

    fn load_or_compile<A: Artifact>(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> anyhow::Result<(A, Source)> {
        let Some(dir) = &self.dir else {
            return Ok((A::compile(engine, wasm)?, Source::Compiled));
        };
        let path = dir.join(entry_name::<A>(engine, wasm));
        match read_entry(&path) {
            Ok(Some(payload)) => {
                // SAFETY: the payload is exactly what `A::serialize` wrote
                // (its checksum matched), and wasmtime itself refuses code
                // from another version or engine configuration.
                match unsafe { A::deserialize(engine, &payload) } {
                    Ok(artifact) => {
                        prune::touch(&path);
                        return Ok((artifact, Source::Cached));
                    }
                    Err(error) => tracing::warn!(
                        "compile cache entry {} is stale, recompiling: {error:#}",
                        path.display()
                    ),
                }
            }
            Ok(None) => {}
            Err(problem) => tracing::warn!(
                "compile cache entry {} {problem}, recompiling",
                path.display()
            ),
        }
        let artifact = A::compile(engine, wasm)?;
        // A cache that cannot be written only costs the next start-up time.
        if let Err(error) = artifact.serialize().and_then(|p| write_entry(&path, &p)) {
            tracing::warn!(
                "cannot write compile cache entry {}: {error:#}",
                path.display()
            );
        } else if let Err(error) = prune::prune(dir, self.max_bytes) {
            tracing::warn!("cannot prune the compile cache {}: {error}", dir.display());
        }
        Ok((artifact, Source::Compiled))
    }
}

/// What can be compiled, serialized and loaded back: modules and components.
trait Artifact: Sized {
    const KIND: &'static str;
    fn compile(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Self>;
    fn serialize(&self) -> anyhow::Result<Vec<u8>>;
    /// # Safety
    /// `bytes` must come from [`Artifact::serialize`] of the same kind.
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> anyhow::Result<Self>;
}

impl Artifact for Module {
    const KIND: &'static str = "module";
    fn compile(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Self> {
        Ok(Module::new(engine, wasm)?)
    }
    fn serialize(&self) -> anyhow::Result<Vec<u8>> {
        Ok(Module::serialize(self)?)
    }
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> anyhow::Result<Self> {
        // SAFETY: forwarded to the caller.
        Ok(unsafe { Module::deserialize(engine, bytes) }?)
    }
}

impl Artifact for Component {
    const KIND: &'static str = "component";
    fn compile(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Self> {
        Ok(Component::new(engine, wasm)?)
    }
    fn serialize(&self) -> anyhow::Result<Vec<u8>> {
        Ok(Component::serialize(self)?)
    }
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> anyhow::Result<Self> {
        // SAFETY: forwarded to the caller.
        Ok(unsafe { Component::deserialize(engine, bytes) }?)
    }
}

/// `<sha256 of the wasm>-<engine hash>.<kind>`: a changed module, compiler
/// setting or wasmtime version each give a new name.
fn entry_name<A: Artifact>(engine: &Engine, wasm: &[u8]) -> String {
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    format!(
        "{}-{:016x}.{}",
        hex(&Sha256::digest(wasm)),
        engine_hash.finish(),
        A::KIND
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The payload of the entry at `path`; `None` when there is no entry, an
/// error saying what is wrong with one that cannot be trusted.
fn read_entry(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let mut bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot be read ({error})")),
    };
    let header = MAGIC.len() + CHECKSUM_LEN;
    if bytes.len() < header || !bytes.starts_with(MAGIC) {
        return Err("is not a cache entry".into());
    }
    let checksum = &bytes[MAGIC.len()..header];
    if Sha256::digest(&bytes[header..]).as_slice() != checksum {
        return Err("is corrupt (checksum mismatch)".into());
    }
    bytes.drain(..header);
    Ok(Some(bytes))
}

/// Writes an entry under a temporary name and renames it into place, so a
/// reader (another server starting at the same time) never sees half of one.
fn write_entry(path: &Path, payload: &[u8]) -> anyhow::Result<()> {
    static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(MAGIC)?;
        file.write_all(&Sha256::digest(payload))?;
        file.write_all(payload)?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    Ok(written?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(module (func (export "handle")))"#;

    fn engine() -> Engine {
        Engine::default()
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        entries.sort();
        entries
    }

    #[test]
    fn second_load_comes_from_the_cache() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let cache = CompileCache::at(dir.path().join("nested"));
        let wasm = wat::parse_str(WAT)?;
        let (_, first) = cache.module(&engine(), &wasm)?;
        let (module, second) = cache.module(&engine(), &wasm)?;
        assert_eq!((first, second), (Source::Compiled, Source::Cached));
        assert!(module.get_export("handle").is_some());
        assert_eq!(entries(&dir.path().join("nested")).len(), 1);
        Ok(())
    }

    #[test]
    fn a_corrupt_entry_is_rebuilt_not_loaded() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let cache = CompileCache::at(dir.path());
        let wasm = wat::parse_str(WAT)?;
        cache.module(&engine(), &wasm)?;
        let [entry] = entries(dir.path())
            .try_into()
            .map_err(|_| anyhow::anyhow!("one entry"))?;
        let mut bytes = std::fs::read(&entry)?;
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&entry, &bytes)?;

        let (_, source) = cache.module(&engine(), &wasm)?;
        assert_eq!(source, Source::Compiled);
        let (_, source) = cache.module(&engine(), &wasm)?;
        assert_eq!(
            source,
            Source::Cached,
            "the rebuilt entry is used next time"
        );
        Ok(())
    }

    #[test]
    fn a_truncated_or_foreign_file_is_rebuilt() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let cache = CompileCache::at(dir.path());
        let wasm = wat::parse_str(WAT)?;
        let path = dir.path().join(entry_name::<Module>(&engine(), &wasm));
        for junk in [
            &b""[..],
            b"swcache1",
            b"not a cache entry at all, but long enough",
        ] {
            std::fs::write(&path, junk)?;
            let (_, source) = cache.module(&engine(), &wasm)?;
            assert_eq!(source, Source::Compiled);
        }
        Ok(())
    }

    #[test]
    fn another_engine_configuration_gets_its_own_entry() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let cache = CompileCache::at(dir.path());
        let wasm = wat::parse_str(WAT)?;
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config)?;
        cache.module(&engine(), &wasm)?;
        let (_, source) = cache.module(&other, &wasm)?;
        assert_eq!(source, Source::Compiled);
        assert_eq!(entries(dir.path()).len(), 2);
        Ok(())
    }

    #[test]
    fn a_stale_entry_under_the_right_name_is_rebuilt() -> anyhow::Result<()> {
        // Code serialized by a differently configured engine, stored under
        // this engine's name (as an older wasmtime's entry would be, were
        // its hash to collide): wasmtime refuses it and it is recompiled.
        let dir = tempfile::tempdir()?;
        let wasm = wat::parse_str(WAT)?;
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config)?;
        let foreign = Module::new(&other, &wasm)?.serialize()?;
        write_entry(
            &dir.path().join(entry_name::<Module>(&engine(), &wasm)),
            &foreign,
        )?;
        let (_, source) = CompileCache::at(dir.path()).module(&engine(), &wasm)?;
        assert_eq!(source, Source::Compiled);
        Ok(())
    }

    #[test]
    fn an_unwritable_cache_still_compiles() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("a-file");
        std::fs::write(&file, "")?;
        let cache = CompileCache::at(file.join("below-a-file"));
        let (_, source) = cache.module(&engine(), &wat::parse_str(WAT)?)?;
        assert_eq!(source, Source::Compiled);
        Ok(())
    }
}
