//! The `[[applications]]` tables: reading each into a draft (its own keys,
//! inherited `[defaults]`, the module source), then the checks across them
//! (unique names, conflicting routes), default names, and the finished
//! [`AppConfig`]s.

use super::*;

impl Reader<'_> {
    pub(super) fn read_applications(
        &mut self,
        top: &Section<'_, '_>,
        defaults: &Settings,
        stores: &[StoreConfig],
        has_spin_apps: bool,
    ) -> Vec<AppDraft> {
        const KEY: &str = "applications";
        const NONE_MESSAGE: &str =
            "no applications; add at least one [[applications]] or [[spin_apps]] table";
        let Some(value) = top.table.get(KEY) else {
            if !has_spin_apps {
                self.error(0, KEY.to_owned(), NONE_MESSAGE);
            }
            return Vec::new();
        };
        let DeValue::Array(tables) = value.get_ref() else {
            let message = format!(
                "expected [[applications]] tables, got {}",
                value.get_ref().type_str()
            );
            self.error_at(value.span(), KEY.to_owned(), message);
            return Vec::new();
        };
        if tables.is_empty() {
            self.error_at(value.span(), KEY.to_owned(), NONE_MESSAGE);
        }
        let drafts = tables
            .iter()
            .enumerate()
            .map(|(index, table)| self.read_application(index + 1, table, defaults, stores));
        drafts.filter_map(Result::ok).collect()
    }

    fn read_application(
        &mut self,
        number: usize,
        value: &Spanned<DeValue<'_>>,
        defaults: &Settings,
        stores: &[StoreConfig],
    ) -> Result<AppDraft, Reported> {
        let section = self.open_section(value, app_path(number), Scope::Application)?;
        let own = self.deserialize::<RawApp>(&section);
        let settings = self.deserialize::<RawSettings>(&section);
        let (own, settings) = (own?, settings?);
        let line = self.lines.line(section.start());
        let settings = self.read_settings(&settings, &section, defaults);
        let name = self.check_optional(&own.name, section.key("name"), check_name);
        let (file_path, source) = self.read_source(&own, &section);
        let digest = self.check_optional(&own.digest, section.key("digest"), Digest::parse);
        let function = self.check_optional(&own.function, section.key("function"), check_not_empty);
        let methods = self.read_methods(&own.method, &section);
        let route = self.check_required(&own.url_path, &section, "url_path", Route::parse);
        let env = self.read_string_table(&own.env, &section, "env");
        let abi = self.check_optional(&own.abi, section.key("abi"), parse_abi);
        let files = self.read_string_table(&own.files, &section, "files");
        let reuse = self.check_optional(&own.reuse, section.key("reuse"), check_reuse);
        // A `reuse` in error is reported once, not again for this key.
        let in_all = match &reuse {
            Ok(Some(reuse)) => reuse.value,
            Ok(None) => 1,
            Err(_) => u32::MAX,
        };
        let concurrent_reuse = self.check_optional(
            &own.concurrent_reuse,
            section.key("concurrent_reuse"),
            |requests: &u64| check_concurrent_reuse(requests, in_all),
        );
        let grants = self.read_grants(&own.key_value_stores, &section, stores);
        let max_keys = self.check_optional(&own.max_keys, section.key("max_keys"), check_max_keys);
        Ok(AppDraft {
            number,
            line,
            name: name?,
            file_path: file_path?,
            source: source?,
            digest: digest?.map(|digest| digest.value),
            function: present_or(function, DEFAULT_FUNCTION.to_owned()),
            methods: methods?,
            route: route?,
            env: env.unwrap_or_default(),
            abi: abi?.map(|abi| abi.value),
            files: files.unwrap_or_default(),
            reuse: present_or(reuse, 1),
            concurrent_reuse: present_or(concurrent_reuse, 1),
            key_value_stores: grants?,
            max_keys: max_keys?.map(|keys| keys.value),
            settings,
        })
    }

    /// Each key of `raw` that is present overrides `inherited`.
    pub(super) fn read_settings(
        &mut self,
        raw: &RawSettings,
        section: &Section<'_, '_>,
        inherited: &Settings,
    ) -> Settings {
        let timeout =
            self.check_optional(&raw.timeout_ms, section.key("timeout_ms"), check_timeout);
        let memory = self.check_optional(
            &raw.memory_limit_mb,
            section.key("memory_limit_mb"),
            check_memory_limit,
        );
        let body = self.check_optional(
            &raw.max_request_body_bytes,
            section.key("max_request_body_bytes"),
            |bytes: &u64| Ok(*bytes),
        );
        let hosts = self.read_allowed_hosts(&raw.allowed_outbound_hosts, section);
        let admission = self.read_admission(raw, section, &inherited.limits.admission);
        let preload = self.check_optional(&raw.preload, section.key("preload"), |b: &bool| Ok(*b));
        let idle = self.check_optional(
            &raw.idle_release_seconds,
            section.key("idle_release_seconds"),
            |seconds: &u64| Ok((*seconds > 0).then(|| Duration::from_secs(*seconds))),
        );
        let residency = Residency {
            preload: present_or(preload, inherited.residency.preload),
            idle_release: present_or(idle, inherited.residency.idle_release),
        };
        let limits = &inherited.limits;
        Settings {
            residency,
            limits: Limits {
                timeout: present_or(timeout, limits.timeout),
                memory_limit_bytes: present_or(memory, limits.memory_limit_bytes),
                max_request_body_bytes: present_or(body, limits.max_request_body_bytes),
                admission,
            },
            allowed_outbound_hosts: present_or(hosts, inherited.allowed_outbound_hosts.clone()),
        }
    }

    fn read_admission(
        &mut self,
        raw: &RawSettings,
        section: &Section<'_, '_>,
        inherited: &Admission,
    ) -> Admission {
        let concurrency = self.check_optional(
            &raw.max_concurrency,
            section.key("max_concurrency"),
            |n: &u64| match u32::try_from(*n) {
                Ok(n) if n >= 1 => Ok(Some(n)),
                _ => Err(format!("must be 1 to {}", u32::MAX)),
            },
        );
        let queued = self.check_optional(&raw.max_queued, section.key("max_queued"), |n: &u64| {
            u32::try_from(*n).map_err(|_| format!("must be 0 to {}", u32::MAX))
        });
        let timeout = self.check_optional(
            &raw.queue_timeout_ms,
            section.key("queue_timeout_ms"),
            check_timeout,
        );
        Admission {
            max_concurrency: present_or(concurrency, inherited.max_concurrency),
            max_queued: present_or(queued, inherited.max_queued),
            queue_timeout: present_or(timeout, inherited.queue_timeout),
        }
    }

    fn read_allowed_hosts(
        &mut self,
        raw: &Option<Spanned<Vec<Spanned<String>>>>,
        section: &Section<'_, '_>,
    ) -> Result<Option<Located<AllowedHosts>>, Reported> {
        let Some(list) = raw else {
            return Ok(None);
        };
        let key = section.key("allowed_outbound_hosts");
        let entries = list.get_ref().iter().enumerate().map(|(index, entry)| {
            (
                entry.span(),
                indexed_key(&key, index),
                entry.get_ref().as_str(),
            )
        });
        let patterns = self.check_all(entries, str::parse::<HostPattern>)?;
        Ok(Some(Located {
            value: AllowedHosts::only(patterns),
            line: self.lines.line(list.span().start),
        }))
    }

    /// `"*"` alone is any method; otherwise every entry must be a method name.
    fn read_methods(
        &mut self,
        raw: &Option<Spanned<MethodNames>>,
        section: &Section<'_, '_>,
    ) -> Result<Methods, Reported> {
        let key = section.key("method");
        let Some(spec) = raw else {
            return Err(self.missing(section, key));
        };
        let entries: Vec<(Range<usize>, String, &str)> = match spec.get_ref() {
            MethodNames::One(name) => vec![(spec.span(), key.clone(), name.as_str())],
            MethodNames::List(names) => names
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    (
                        name.span(),
                        indexed_key(&key, index),
                        name.get_ref().as_str(),
                    )
                })
                .collect(),
        };
        match entries.as_slice() {
            [] => Err(self.error_at(
                spec.span(),
                key,
                "lists no methods; use \"*\" for any method",
            )),
            [(_, _, ANY_METHOD)] => Ok(Methods::Any),
            _ => {
                let mut methods = self.check_all(entries, parse_method_name)?;
                dedup_keeping_order(&mut methods);
                Ok(Methods::List(methods))
            }
        }
    }

    /// The checks across applications, then naming and path resolution.
    pub(super) fn complete(&mut self, drafts: Vec<AppDraft>) -> Vec<AppConfig> {
        self.check_unique_names(&drafts);
        let names = self.assign_names(&drafts);
        self.check_route_conflicts(&drafts, &names);
        drafts
            .into_iter()
            .zip(names)
            .map(|(draft, name)| self.finish_app(draft, name))
            .collect()
    }

    fn check_unique_names(&mut self, drafts: &[AppDraft]) {
        let mut first_with_name: HashMap<&str, (usize, usize)> = HashMap::new();
        for draft in drafts {
            let Some(name) = &draft.name else { continue };
            match first_with_name.get(name.value.as_str()) {
                Some(&(number, line)) => {
                    let message = format!(
                        "`{}` is already the name of applications[{number}] (line {line})",
                        name.value
                    );
                    self.error(
                        name.line,
                        join_key(&app_path(draft.number), "name"),
                        message,
                    );
                }
                None => {
                    first_with_name.insert(&name.value, (draft.number, name.line));
                }
            }
        }
    }

    /// See [`AppConfig::name`] for the rules.
    fn assign_names(&mut self, drafts: &[AppDraft]) -> Vec<String> {
        let mut names: Vec<Option<String>> = drafts
            .iter()
            .map(|draft| draft.name.as_ref().map(|name| name.value.clone()))
            .collect();
        let mut taken: HashSet<String> = names.iter().flatten().cloned().collect();
        for step in DefaultNameStep::ALL {
            let candidates: Vec<(usize, String)> = (0..drafts.len())
                .filter(|&index| names[index].is_none())
                .map(|index| (index, step.candidate(&drafts[index])))
                .collect();
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for (_, candidate) in &candidates {
                *counts.entry(candidate).or_default() += 1;
            }
            for (index, candidate) in &candidates {
                if counts.get(candidate.as_str()) == Some(&1) && taken.insert(candidate.clone()) {
                    names[*index] = Some(candidate.clone());
                }
            }
        }
        names
            .into_iter()
            .zip(drafts)
            .map(|(name, draft)| name.unwrap_or_else(|| self.last_resort_name(draft, &taken)))
            .collect()
    }

    /// The fullest candidate is left either taken by another name, reported here, or
    /// shared with an unnamed application on the same route and methods: a route
    /// conflict, reported on its own.
    fn last_resort_name(&mut self, draft: &AppDraft, taken: &HashSet<String>) -> String {
        let candidate = DefaultNameStep::WithRoute.candidate(draft);
        if taken.contains(&candidate) {
            let message =
                format!("cannot derive a unique default name (`{candidate}` is taken); set `name`");
            self.error(
                draft.line,
                join_key(&app_path(draft.number), "name"),
                message,
            );
        }
        candidate
    }

    fn check_route_conflicts(&mut self, drafts: &[AppDraft], names: &[String]) {
        for (index, later) in drafts.iter().enumerate() {
            for (earlier, earlier_name) in drafts[..index].iter().zip(names) {
                if earlier.route.value != later.route.value
                    || !earlier.methods.overlaps(&later.methods)
                {
                    continue;
                }
                let message = format!(
                    "{} {} is already routed to app `{earlier_name}` (line {})",
                    shared_methods(&earlier.methods, &later.methods),
                    later.route.value,
                    earlier.line,
                );
                self.error(
                    later.route.line,
                    join_key(&app_path(later.number), "url_path"),
                    message,
                );
            }
        }
    }

    fn finish_app(&mut self, draft: AppDraft, name: String) -> AppConfig {
        let source = match draft.source {
            Some(source) => source,
            None => SourceUrl::File(self.resolve_module_path(&draft.file_path)),
        };
        let files = draft
            .files
            .into_iter()
            .map(|(guest, host)| (guest, self.relative_to_config(&host)))
            .collect();
        if draft.settings.allowed_outbound_hosts.is_unrestricted() {
            self.warnings.push(format!(
                "app `{name}` may connect to any host: set allowed_outbound_hosts to restrict it"
            ));
        }
        let variables = Variables(draft.env.clone());
        AppConfig {
            name,
            source,
            digest: draft.digest,
            function: draft.function,
            methods: draft.methods,
            route: draft.route.value,
            env: draft.env,
            limits: draft.settings.limits,
            residency: draft.settings.residency,
            allowed_outbound_hosts: draft.settings.allowed_outbound_hosts,
            abi: draft.abi,
            files,
            reuse: draft.reuse,
            concurrent_reuse: draft.concurrent_reuse,
            key_value_stores: draft.key_value_stores,
            max_keys: draft.max_keys,
            store_scope: StoreScope::Own,
            static_response: None,
            variables,
            argv: None,
            line: draft.line,
        }
    }

    /// Configs used to be written relative to the working directory; they still load,
    /// with a warning, when that is the only place the module is found.
    fn resolve_module_path(&mut self, file_path: &Located<String>) -> PathBuf {
        let written = Path::new(&file_path.value);
        let config_dir = self.file.parent().unwrap_or(Path::new(""));
        let beside_config = self.relative_to_config(&file_path.value);
        if beside_config.exists() || !written.exists() {
            return beside_config;
        }
        if self.cwd_relative.insert(file_path.value.clone()) {
            self.warnings.push(format!(
                "{}:{}: `{}` is not found relative to the config file's directory `{}`, so it was taken \
                 relative to the working directory; write it relative to the config file",
                self.file.display(),
                file_path.line,
                file_path.value,
                config_dir.display(),
            ));
        }
        written.to_owned()
    }
}

/// The candidates for an unnamed application's name, tried in this order.
#[derive(Debug, Clone, Copy)]
enum DefaultNameStep {
    Stem,
    WithFunction,
    WithRoute,
}

impl DefaultNameStep {
    const ALL: [DefaultNameStep; 3] = [Self::Stem, Self::WithFunction, Self::WithRoute];

    fn candidate(self, draft: &AppDraft) -> String {
        let stem = file_stem(Path::new(&draft.file_path.value));
        match self {
            Self::Stem => stem,
            Self::WithFunction => format!("{stem}:{}", draft.function),
            Self::WithRoute => {
                let methods = draft.methods.to_string().replace(' ', "");
                format!("{stem}:{}:{methods}:{}", draft.function, draft.route.value)
            }
        }
    }
}

/// The methods two overlapping applications both take, for the conflict message.
fn shared_methods(left: &Methods, right: &Methods) -> Methods {
    match (left, right) {
        (Methods::Any, other) | (other, Methods::Any) => other.clone(),
        (Methods::List(left), Methods::List(right)) => Methods::List(
            left.iter()
                .filter(|method| right.contains(method))
                .cloned()
                .collect(),
        ),
    }
}
