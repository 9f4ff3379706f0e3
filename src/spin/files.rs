//! A component's `files`, as Spin places them: glob patterns and paths
//! relative to the app's directory keep their relative path in the guest's
//! filesystem; `{ source, destination }` puts a file or a directory's files at
//! `destination`; `exclude_files` patterns (relative to the app's directory)
//! leave files out. The chosen files are copied into one directory, named by
//! the SHA-256 of their paths and contents, which the guest sees read-only as
//! `/`: a reload with the same files finds the same directory, and a file
//! edited after loading does not change what running guests see.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// One entry of a component's `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMount {
    /// A glob pattern, a file or a directory, relative to the app's directory.
    Pattern(String),
    /// A file or directory of the app put at `destination` in the guest.
    Placement { source: String, destination: String },
}

/// Copies the files `mounts` choose from `app_root` into a directory under
/// `staging_root` and returns it; `None` when there are no mounts.
pub fn stage(
    app_root: &Path,
    mounts: &[FileMount],
    exclude_files: &[String],
    staging_root: &Path,
) -> Result<Option<PathBuf>, String> {
    if mounts.is_empty() {
        return Ok(None);
    }
    let excluded = exclude_files
        .iter()
        .map(|pattern| {
            glob::Pattern::new(pattern)
                .map_err(|e| format!("`exclude_files`: invalid pattern {pattern:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut chosen = Chosen {
        app_root,
        excluded,
        files: Vec::new(),
    };
    for mount in mounts {
        match mount {
            FileMount::Pattern(pattern) => chosen.pattern(pattern)?,
            FileMount::Placement {
                source,
                destination,
            } => chosen.placement(source, destination)?,
        }
    }
    chosen.files.sort();
    chosen.files.dedup_by(|later, earlier| later.0 == earlier.0);
    copy_addressed(&chosen.files, staging_root).map(Some)
}

/// The files chosen so far: where each goes (relative, `/`-separated) and
/// where it comes from.
struct Chosen<'a> {
    app_root: &'a Path,
    excluded: Vec<glob::Pattern>,
    files: Vec<(String, PathBuf)>,
}

impl Chosen<'_> {
    fn pattern(&mut self, pattern: &str) -> Result<(), String> {
        let trimmed = pattern.trim_end_matches('/');
        let last = trimmed.rsplit('/').next();
        if matches!(last, Some("." | "..")) {
            return Err(format!(
                "`files`: {pattern:?} ends in `.` or `..`; to include a directory use \
                 `{{ source = \"dir\", destination = \"/dir\" }}` or a pattern ending in `/**/*`"
            ));
        }
        let path = self.app_root.join(pattern);
        let relative = pattern.trim_start_matches("./").trim_start_matches('/');
        if path.is_dir() {
            self.directory(&path, relative)
        } else if path.is_file() {
            self.file(&path, relative.to_owned())
        } else if glob::Pattern::escape(pattern) != pattern {
            self.glob(&path)
        } else {
            Err(format!(
                "`files`: {pattern:?} does not exist and is not a glob pattern"
            ))
        }
    }

    fn placement(&mut self, source: &str, destination: &str) -> Result<(), String> {
        let path = self.app_root.join(source);
        let destination = destination.trim_start_matches('/');
        if path.is_dir() {
            self.directory(&path, destination)
        } else if path.is_file() {
            self.file(&path, destination.to_owned())
        } else {
            Err(format!(
                "`files`: source {source:?} is neither a file nor a directory of the app"
            ))
        }
    }

    /// Every file below `directory`, at `destination` plus its path below it.
    fn directory(&mut self, directory: &Path, destination: &str) -> Result<(), String> {
        let pattern = directory.join("**").join("*");
        for path in glob_files(&pattern)? {
            let below = relative_text(&path, directory)?;
            let to = if destination.is_empty() {
                below
            } else {
                format!("{}/{below}", destination.trim_end_matches('/'))
            };
            self.file(&path, to)?;
        }
        Ok(())
    }

    /// Every file `pattern` matches, at its path relative to the app.
    fn glob(&mut self, pattern: &Path) -> Result<(), String> {
        for path in glob_files(pattern)? {
            let relative = relative_text(&path, self.app_root)?;
            self.file(&path, relative)?;
        }
        Ok(())
    }

    fn file(&mut self, path: &Path, destination: String) -> Result<(), String> {
        let relative = path
            .strip_prefix(self.app_root)
            .map_err(|_| format!("`files`: {} is outside the app's directory", path.display()))?;
        if self.excluded.iter().any(|p| p.matches_path(relative)) {
            return Ok(());
        }
        let canonical_root = self.app_root.canonicalize().map_err(|e| e.to_string())?;
        let canonical = path
            .canonicalize()
            .map_err(|e| format!("`files`: {}: {e}", path.display()))?;
        if !canonical.starts_with(&canonical_root) {
            return Err(format!(
                "`files`: {} leads outside the app's directory",
                relative.display()
            ));
        }
        if Path::new(&destination)
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(format!(
                "`files`: destination {destination:?} is not a plain path"
            ));
        }
        self.files.push((destination, path.to_owned()));
        Ok(())
    }
}

fn glob_files(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let text = pattern
        .to_str()
        .ok_or_else(|| format!("`files`: {} is not UTF-8", pattern.display()))?;
    let paths = glob::glob(text).map_err(|e| format!("`files`: invalid pattern {text:?}: {e}"))?;
    let mut files = Vec::new();
    for path in paths {
        let path = path.map_err(|e| format!("`files`: {e}"))?;
        if path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

fn relative_text(path: &Path, base: &Path) -> Result<String, String> {
    let relative = path
        .strip_prefix(base)
        .map_err(|_| format!("`files`: {} is outside {}", path.display(), base.display()))?;
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    parts
        .map(|parts| parts.join("/"))
        .ok_or_else(|| format!("`files`: {} is not UTF-8", relative.display()))
}

/// Copies `files` into `staging_root/<sha256 of paths and contents>`, unless
/// that directory is already there.
fn copy_addressed(files: &[(String, PathBuf)], staging_root: &Path) -> Result<PathBuf, String> {
    let mut hasher = Sha256::new();
    let mut contents = Vec::with_capacity(files.len());
    for (destination, source) in files {
        let bytes =
            std::fs::read(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        hasher.update((destination.len() as u64).to_le_bytes());
        hasher.update(destination.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
        contents.push(bytes);
    }
    let target = staging_root.join(hex::encode(hasher.finalize()));
    if target.is_dir() {
        return Ok(target);
    }
    let cannot =
        |e: std::io::Error| format!("cannot stage files in {}: {e}", staging_root.display());
    std::fs::create_dir_all(staging_root).map_err(cannot)?;
    let scratch = tempfile::tempdir_in(staging_root).map_err(cannot)?;
    for ((destination, _), bytes) in files.iter().zip(contents) {
        let path = scratch.path().join(destination);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(cannot)?;
        }
        std::fs::write(&path, bytes).map_err(cannot)?;
    }
    let scratch = scratch.keep();
    match std::fs::rename(&scratch, &target) {
        Ok(()) => Ok(target),
        // Another load staged the same files first.
        Err(_) if target.is_dir() => {
            let _ = std::fs::remove_dir_all(&scratch);
            Ok(target)
        }
        Err(e) => Err(cannot(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("static/index.html", "<h1>hi</h1>"),
            ("static/css/site.css", "body{}"),
            ("static/secret.key", "k"),
            ("data/a.txt", "a"),
            ("readme.md", "r"),
        ] {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn listing(root: &Path) -> Vec<String> {
        let mut found: Vec<String> = glob_files(&root.join("**").join("*"))
            .unwrap()
            .iter()
            .map(|path| relative_text(path, root).unwrap())
            .collect();
        found.sort();
        found
    }

    #[test]
    fn places_globs_paths_and_placements_as_spin_does() {
        let app = app();
        let staging = tempfile::tempdir().unwrap();
        let mounts = [
            FileMount::Pattern("static/**/*".into()),
            FileMount::Pattern("readme.md".into()),
            FileMount::Placement {
                source: "data".into(),
                destination: "/srv/data".into(),
            },
        ];
        let excluded = ["**/*.key".to_owned()];
        let root = stage(app.path(), &mounts, &excluded, staging.path())
            .unwrap()
            .unwrap();
        assert_eq!(
            listing(&root),
            [
                "readme.md",
                "srv/data/a.txt",
                "static/css/site.css",
                "static/index.html"
            ]
        );
        let again = stage(app.path(), &mounts, &excluded, staging.path()).unwrap();
        assert_eq!(again, Some(root.clone()));
        std::fs::write(app.path().join("readme.md"), "changed").unwrap();
        let changed = stage(app.path(), &mounts, &excluded, staging.path()).unwrap();
        assert_ne!(changed, Some(root));
    }

    #[test]
    fn refuses_what_spin_refuses() {
        let app = app();
        let staging = tempfile::tempdir().unwrap();
        for (pattern, why) in [
            ("..", "ends in `.` or `..`"),
            ("static/.", "ends in `.` or `..`"),
            ("missing.txt", "does not exist"),
        ] {
            let mounts = [FileMount::Pattern(pattern.into())];
            let error = stage(app.path(), &mounts, &[], staging.path()).unwrap_err();
            assert!(error.contains(why), "{pattern}: {error}");
        }
        let mounts = [FileMount::Placement {
            source: "nowhere".into(),
            destination: "/x".into(),
        }];
        assert!(stage(app.path(), &mounts, &[], staging.path()).is_err());
        assert_eq!(stage(app.path(), &[], &[], staging.path()), Ok(None));
    }
}
