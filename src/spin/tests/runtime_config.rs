//! Spin's `runtime-config.toml`.

use std::path::PathBuf;

use super::{app_with_api, parse, runtime_config, runtime_errors};
use crate::config::StoreBackend;
use crate::spin::runtime_config::{RuntimeConfig, SpinStore, check_store_labels, store_backend};

#[test]
fn reads_key_value_stores() {
    let config = runtime_config(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\n\n\
         [key_value_store.sessions]\ntype = \"spin\"\n\n\
         [key_value_store.cache]\ntype = \"spin\"\npath = \".spin/cache.db\"\n",
    );
    assert_eq!(config.file, PathBuf::from(super::RUNTIME_FILE));
    assert_eq!(
        config.key_value_stores,
        [
            SpinStore {
                label: "default".to_owned(),
                backend: StoreBackend::Redis {
                    url: "redis://127.0.0.1:6379/0".to_owned(),
                },
                line: 1,
            },
            SpinStore {
                label: "sessions".to_owned(),
                backend: StoreBackend::Embedded,
                line: 5,
            },
            SpinStore {
                label: "cache".to_owned(),
                backend: StoreBackend::Embedded,
                line: 8,
            },
        ]
    );
    assert_eq!(
        config.warnings,
        [
            "/apps/shop/runtime-config.toml:10: `key_value_store.cache.path`: ignored: this host keeps the \
          store in its data directory"
        ]
    );
    assert_eq!(config.max_instance_memory, None);
    assert!(runtime_config("").key_value_stores.is_empty());
}

#[test]
fn refuses_other_store_types_and_bad_stores() {
    let refused = |text: &str| runtime_errors(text).join("\n");
    assert_eq!(
        refused("[key_value_store.data]\ntype = \"azure_cosmos\"\naccount = \"x\"\n"),
        "/apps/shop/runtime-config.toml:2: `key_value_store.data.type`: `azure_cosmos` stores are not \
         supported by this host; use `spin` or `redis`"
    );
    assert!(
        refused("[key_value_store.data]\ntype = \"aws_dynamo\"\n")
            .contains("`aws_dynamo` stores are not supported")
    );
    assert!(
        refused("[key_value_store.data]\ntype = \"memory\"\n")
            .contains("unknown store type `memory`")
    );
    assert!(
        refused("[key_value_store.data]\nurl = \"redis://x\"\n")
            .contains("`key_value_store.data.type`: required key is missing")
    );
    assert!(
        refused("[key_value_store.data]\ntype = \"redis\"\n")
            .contains("`key_value_store.data.url`: required key is missing")
    );
    assert!(
        refused("[key_value_store.data]\ntype = \"redis\"\nurl = \"http://x\"\n")
            .contains("expected a Redis URL")
    );
    assert!(
        refused("[key_value_store.data]\ntype = \"redis\"\nurl = \"redis://x\"\nuri = \"y\"\n")
            .contains("`key_value_store.data.uri`: unknown key; did you mean `url`?")
    );
    assert!(
        refused("[key_value_store.data]\ntype = \"spin\"\npaht = \"x\"\n")
            .contains("did you mean `path`?")
    );
    assert!(
        refused("key_value_store = 1\n")
            .contains("`key_value_store`: expected a table, got integer")
    );
    assert!(
        refused("[key_value_store]\ndata = \"redis\"\n")
            .contains("`key_value_store.data`: expected a table")
    );
}

#[test]
fn refuses_or_warns_about_the_other_tables() {
    let refused = runtime_errors(
        "[[variables_provider]]\ntype = \"vault\"\nurl = \"https://vault\"\n\
         [[config_provider]]\ntype = \"env\"\n\
         [outbound_networking]\nblock_networks = [\"private\"]\n\
         [[client_tls]]\ncomponent_ids = [\"api\"]\n\
         [key_value_stor.x]\ntype = \"spin\"\n",
    );
    let expected = [
        "/apps/shop/runtime-config.toml:1: `variables_provider`: variable providers are not supported; app \
         variables come from SPIN_VARIABLE_<NAME> environment variables, else their defaults",
        "/apps/shop/runtime-config.toml:4: `config_provider`: variable providers are not supported",
        "/apps/shop/runtime-config.toml:6: `outbound_networking`: not supported",
        "/apps/shop/runtime-config.toml:8: `client_tls`: custom TLS client settings are not supported",
        "/apps/shop/runtime-config.toml:10: `key_value_stor`: unknown key; did you mean `key_value_store`?",
    ];
    assert_eq!(refused.len(), expected.len(), "{refused:#?}");
    for (error, expected) in refused.iter().zip(expected) {
        assert!(
            error.starts_with(expected),
            "{error}\nshould start with\n{expected}"
        );
    }
    let warned = runtime_config(
        "state_dir = \".spin\"\nlog_dir = \"logs\"\n\
         [sqlite_database.default]\ntype = \"libsql\"\n\
         [llm_compute]\ntype = \"remote_http\"\n\
         [outbound_http]\nmax_connections = 10\n\
         [outbound_redis]\nmax_connections = 1\n[outbound_pg]\n[outbound_mysql]\n[outbound_mqtt]\n",
    );
    assert_eq!(warned.warnings.len(), 9, "{:#?}", warned.warnings);
    assert!(
        warned.warnings[0].starts_with("/apps/shop/runtime-config.toml:1: `state_dir`: ignored")
    );
    assert!(
        warned.warnings[2]
            .contains("`sqlite_database`: ignored: this host has no SQLite databases")
    );
    assert!(warned.warnings[3].contains("`llm_compute`: ignored: this host has no AI models"));
    assert!(
        warned.warnings[4].contains(
            "`outbound_http`: ignored: this host does not apply Spin's connection limits"
        )
    );
}

#[test]
fn reads_max_instance_memory_in_bytes() {
    assert_eq!(
        runtime_config("max_instance_memory = 33554432\n").max_instance_memory,
        Some(32 << 20)
    );
    let errors = runtime_errors("max_instance_memory = 0\n").join("\n");
    assert!(
        errors.contains("`max_instance_memory`: must be a positive number of bytes, got 0"),
        "{errors}"
    );
    assert!(
        runtime_errors("max_instance_memory = \"1G\"\n")[0]
            .contains("expected an integer, got string")
    );
}

#[test]
fn reports_syntax_errors_and_unreadable_files() {
    let syntax = runtime_errors("[key_value_store.default\ntype = \"spin\"\n");
    assert!(
        syntax[0].starts_with("/apps/shop/runtime-config.toml:1: "),
        "{syntax:?}"
    );
    let missing = PathBuf::from("/nonexistent/runtime-config.toml");
    let error = RuntimeConfig::read(&missing)
        .expect_err("missing")
        .to_string();
    assert!(
        error.starts_with("/nonexistent/runtime-config.toml: cannot read the Spin runtime config"),
        "{error}"
    );
}

#[test]
fn every_store_label_a_component_uses_must_have_a_store() {
    let manifest = parse(&app_with_api("").replace(
        "source = \"api.wasm\"",
        "source = \"api.wasm\"\nkey_value_stores = [\"default\", \"sessions\"]",
    ));
    let error = check_store_labels(&manifest, None).expect_err("sessions is not declared");
    assert_eq!(
        error.to_string(),
        "/apps/shop/spin.toml:9: `component.api.key_value_stores`: component `api` uses key-value store \
         `sessions`, which the runtime config does not declare; a store other than `default` needs a \
         [key_value_store.sessions] table"
    );
    let typo = runtime_config("[key_value_store.session]\ntype = \"spin\"\n");
    let error = check_store_labels(&manifest, Some(&typo))
        .expect_err("typo")
        .to_string();
    assert!(error.contains("did you mean `session`?"), "{error}");
    let declared =
        runtime_config("[key_value_store.sessions]\ntype = \"redis\"\nurl = \"redis://r\"\n");
    check_store_labels(&manifest, Some(&declared)).expect("declared");
    assert_eq!(store_backend(None, "default"), Some(StoreBackend::Embedded));
    assert_eq!(store_backend(None, "sessions"), None);
    assert_eq!(
        store_backend(Some(&declared), "sessions"),
        Some(StoreBackend::Redis {
            url: "redis://r".to_owned(),
        })
    );
    assert_eq!(
        store_backend(Some(&declared), "default"),
        Some(StoreBackend::Embedded)
    );
}
