//! Keeping the compile cache within its size: entries are marked when used
//! (their modification time), and the least recently used go first.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The cache's size unless `--cache-max-mb` says otherwise: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// A temporary file this old was left by a process that died mid-write.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// One entry of the cache.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub bytes: u64,
    /// When it was last written or loaded.
    pub used: SystemTime,
}

/// What [`prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub entries: usize,
    pub bytes: u64,
}

/// The entries in `dir`, most recently used first; none if there is no `dir`.
pub fn entries(dir: &Path) -> io::Result<Vec<Entry>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut entries = Vec::new();
    for item in listing {
        let item = item?;
        let name = item.file_name().to_string_lossy().into_owned();
        if !is_entry(&name) {
            continue;
        }
        // Gone since the listing (another server pruning): not an error.
        let Ok(metadata) = item.metadata() else {
            continue;
        };
        entries.push(Entry {
            name,
            bytes: metadata.len(),
            used: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
    entries.sort_by(|a, b| b.used.cmp(&a.used).then_with(|| a.name.cmp(&b.name)));
    Ok(entries)
}

/// Removes the least recently used entries of `dir` until the rest take at
/// most `max_bytes`, and temporary files left by writers that died.
pub fn prune(dir: &Path, max_bytes: u64) -> io::Result<Pruned> {
    remove_stale_temporaries(dir);
    let mut kept = 0u64;
    let mut pruned = Pruned::default();
    for entry in entries(dir)? {
        if kept + entry.bytes <= max_bytes {
            kept += entry.bytes;
            continue;
        }
        match std::fs::remove_file(dir.join(&entry.name)) {
            Ok(()) => {
                pruned.entries += 1;
                pruned.bytes += entry.bytes;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(pruned)
}

/// Marks the entry at `path` as just used. Best effort: a cache that cannot
/// be marked only evicts less well.
pub fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Names of entries: `<sha256>-<engine hash>.module` or `.component`.
fn is_entry(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".module") || name.ends_with(".component"))
}

fn remove_stale_temporaries(dir: &Path) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for item in listing.flatten() {
        let stale = item
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > STALE_TEMP));
        if item.file_name().to_string_lossy().starts_with(".tmp-") && stale {
            let _ = std::fs::remove_file(item.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: &Path, name: &str, bytes: usize, age_secs: u64) {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        let file = std::fs::File::options().append(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age_secs))
            .unwrap();
    }

    #[test]
    fn the_least_recently_used_go_first() {
        let dir = tempfile::tempdir().unwrap();
        entry(dir.path(), "a-1.module", 100, 30);
        entry(dir.path(), "b-1.component", 100, 20);
        entry(dir.path(), "c-1.module", 100, 10);
        entry(dir.path(), "notes.txt", 1000, 40);
        touch(&dir.path().join("a-1.module"));
        let pruned = prune(dir.path(), 250).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                entries: 1,
                bytes: 100
            }
        );
        let names: Vec<String> = entries(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["a-1.module", "c-1.module"]);
        assert!(
            dir.path().join("notes.txt").exists(),
            "only entries are pruned"
        );
        assert_eq!(prune(dir.path(), 0).unwrap().entries, 2);
        assert!(entries(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_missing_directory_is_an_empty_cache() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent");
        assert!(entries(&absent).unwrap().is_empty());
        assert_eq!(prune(&absent, 0).unwrap(), Pruned::default());
    }
}
