//! The `[[spin_apps]]` tables: Spin apps mounted beside the config's own
//! applications, each a `spin.toml` and, optionally, its runtime config.
//! Only where they are is read here; the manifests themselves are read by
//! [`crate::spin`].

use super::*;

/// One `[[spin_apps]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpinMount {
    /// The `spin.toml`, relative to the config file.
    pub manifest: PathBuf,
    /// Spin's `runtime-config.toml` for it, if any.
    pub runtime_config: Option<PathBuf>,
    /// 1-based line of its `[[spin_apps]]` header.
    pub line: usize,
}

/// The keys of a `[[spin_apps]]` table.
#[derive(Deserialize)]
pub(super) struct RawSpinApp {
    manifest: Option<Spanned<String>>,
    runtime_config: Option<Spanned<String>>,
}

pub(super) const KEY: &str = "spin_apps";

impl Reader<'_> {
    pub(super) fn read_spin_apps(&mut self, top: &Section<'_, '_>) -> Vec<SpinMount> {
        let Some(value) = top.table.get(KEY) else {
            return Vec::new();
        };
        let DeValue::Array(tables) = value.get_ref() else {
            let message = format!(
                "expected [[spin_apps]] tables, got {}",
                value.get_ref().type_str()
            );
            self.error_at(value.span(), KEY.to_owned(), message);
            return Vec::new();
        };
        let mounts = tables
            .iter()
            .enumerate()
            .map(|(index, table)| self.read_spin_app(index + 1, table));
        mounts.filter_map(Result::ok).collect()
    }

    fn read_spin_app(
        &mut self,
        number: usize,
        value: &Spanned<DeValue<'_>>,
    ) -> Result<SpinMount, Reported> {
        let section = self.open_section(value, format!("{KEY}[{number}]"), Scope::SpinApp)?;
        let raw: RawSpinApp = self.deserialize(&section)?;
        let manifest = self.check_required(&raw.manifest, &section, "manifest", check_not_empty)?;
        let runtime_config = self.check_optional(
            &raw.runtime_config,
            section.key("runtime_config"),
            check_not_empty,
        )?;
        Ok(SpinMount {
            manifest: self.relative_to_config(&manifest.value),
            runtime_config: runtime_config.map(|path| self.relative_to_config(&path.value)),
            line: self.lines.line(section.start()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("dir/config.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn spin_apps_are_read_relative_to_the_config() {
        let config = parse(
            "[[spin_apps]]\nmanifest = \"shop/spin.toml\"\n\n\
             [[spin_apps]]\nmanifest = \"blog/spin.toml\"\nruntime_config = \"blog/rc.toml\"\n",
        )
        .expect("a valid config");
        assert!(config.apps.is_empty());
        assert_eq!(
            config.spin_apps,
            [
                SpinMount {
                    manifest: "dir/shop/spin.toml".into(),
                    runtime_config: None,
                    line: 1,
                },
                SpinMount {
                    manifest: "dir/blog/spin.toml".into(),
                    runtime_config: Some("dir/blog/rc.toml".into()),
                    line: 4,
                },
            ]
        );
    }

    #[test]
    fn a_spin_app_without_a_manifest_or_with_a_typo_is_refused() {
        let error = parse("[[spin_apps]]\nruntime_config = \"rc.toml\"\n").unwrap_err();
        assert!(
            error.contains("dir/config.toml:1: `spin_apps[1].manifest`"),
            "{error}"
        );
        let error = parse("[[spin_apps]]\nmanifest = \"a\"\nmanfest = \"b\"\n").unwrap_err();
        assert!(
            error.contains("`spin_apps[1].manfest`: unknown key; did you mean `manifest`?"),
            "{error}"
        );
    }
}
