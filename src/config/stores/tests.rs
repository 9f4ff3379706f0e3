//! `data_dir`, `[key_value_stores.<label>]` and the apps' grants.

use std::path::Path;

use super::super::tests::{FILE, app, assert_error, parse};
use super::*;

#[test]
fn data_dir_defaults_to_beside_the_config_file() {
    let config = parse(&app("/a", ""));
    assert_eq!(config.data_dir, Path::new("examples/.serverless-wasm"));
    assert!(config.key_value_stores.is_empty());
    let config = parse(&format!("data_dir = \"state\"\n{}", app("/a", "")));
    assert_eq!(config.data_dir, Path::new("examples/state"));
    let config = parse(&format!("data_dir = \"/var/lib/sw\"\n{}", app("/a", "")));
    assert_eq!(config.data_dir, Path::new("/var/lib/sw"));
}

#[test]
fn reads_stores_and_grants() {
    let text = format!(
        "[key_value_stores.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\n\n\
         [key_value_stores.sessions]\ntype = \"embedded\"\nmax_value_bytes = 4096\n\n{}",
        app(
            "/a",
            "key_value_stores = [\"sessions\", \"default\", \"sessions\"]\nmax_keys = 10\n"
        )
    );
    let config = parse(&text);
    assert_eq!(
        config.key_value_stores,
        vec![
            StoreConfig {
                label: "default".into(),
                backend: StoreBackend::Redis {
                    url: "redis://127.0.0.1:6379/0".into()
                },
                max_value_bytes: crate::kv::DEFAULT_MAX_VALUE_BYTES,
                line: 1,
            },
            StoreConfig {
                label: "sessions".into(),
                backend: StoreBackend::Embedded,
                max_value_bytes: 4096,
                line: 5,
            },
        ]
    );
    let app = &config.apps[0];
    assert_eq!(app.key_value_stores, vec!["sessions".to_string()]);
    assert_eq!(app.max_keys, Some(10));
}

#[test]
fn an_undeclared_store_is_refused_with_a_suggestion() {
    let declared = "[key_value_stores.sessions]\ntype = \"embedded\"\n";
    assert_error(
        &format!(
            "{declared}{}",
            app("/a", "key_value_stores = [\"sesions\"]\n")
        ),
        &format!(
            "{FILE}:7: `applications[1].key_value_stores[1]`: no key-value store `sesions` is declared; did you mean `sessions`?"
        ),
    );
    assert_error(
        &format!(
            "{declared}{}",
            app("/a", "key_value_stores = [\"carts\"]\n")
        ),
        &format!(
            "{FILE}:7: `applications[1].key_value_stores[1]`: no key-value store `carts` is declared; declared stores: `sessions`"
        ),
    );
    assert_error(
        &app("/a", "key_value_stores = [\"carts\"]\n"),
        &format!(
            "{FILE}:5: `applications[1].key_value_stores[1]`: no key-value store `carts` is declared; declare it in a [key_value_stores.<label>] table"
        ),
    );
}

#[test]
fn store_tables_are_checked_key_by_key() {
    let with = |store: &str| format!("[key_value_stores.s]\n{store}\n{}", app("/a", ""));
    assert_error(
        &with("type = \"memcached\""),
        &format!(
            "{FILE}:2: `key_value_stores.s.type`: unknown store type `memcached`; expected `embedded` or `redis`"
        ),
    );
    assert_error(
        &with("type = \"redis\""),
        &format!("{FILE}:1: `key_value_stores.s.url`: required key is missing"),
    );
    assert_error(
        &with("type = \"redis\"\nurl = \"http://x\""),
        &format!(
            "{FILE}:3: `key_value_stores.s.url`: expected a Redis URL such as `redis://127.0.0.1:6379/0`, got `http://x`"
        ),
    );
    assert_error(
        &with("type = \"embedded\"\nurl = \"redis://x\""),
        &format!(
            "{FILE}:3: `key_value_stores.s.url`: an embedded store has no `url`; it lives in `data_dir`"
        ),
    );
    // `url_env` names the variable holding the URL; its value is never quoted.
    assert_error(
        &with("type = \"redis\"\nurl_env = \"SERVERLESS_WASM_TEST_UNSET\""),
        &format!(
            "{FILE}:3: `key_value_stores.s.url_env`: the environment variable `SERVERLESS_WASM_TEST_UNSET` is not set (or not UTF-8)"
        ),
    );
    assert_error(
        &with("type = \"redis\"\nurl_env = \"PATH\""),
        &format!(
            "{FILE}:3: `key_value_stores.s.url_env`: the environment variable `PATH` does not hold a Redis URL (redis://, rediss://, redis+unix:// or unix://)"
        ),
    );
    assert_error(
        &with("type = \"redis\"\nurl = \"redis://x\"\nurl_env = \"PATH\""),
        &format!("{FILE}:4: `key_value_stores.s.url_env`: give `url` or `url_env`, not both"),
    );
    assert_error(
        &with("type = \"embedded\"\nurl_env = \"PATH\""),
        &format!(
            "{FILE}:3: `key_value_stores.s.url_env`: an embedded store has no `url_env`; it lives in `data_dir`"
        ),
    );
    assert_error(
        &with("type = \"embedded\"\nmax_value_byte = 3"),
        &format!(
            "{FILE}:3: `key_value_stores.s.max_value_byte`: unknown key; did you mean `max_value_bytes`?"
        ),
    );
    assert_error(
        &with("type = \"embedded\"\nmax_value_bytes = 0"),
        &format!(
            "{FILE}:3: `key_value_stores.s.max_value_bytes`: must be between 1 and 67108864 bytes, got 0"
        ),
    );
    assert_error(
        &app("/a", "max_keys = 0\n"),
        &format!(
            "{FILE}:5: `applications[1].max_keys`: must be at least 1 (leave it out for no limit)"
        ),
    );
}
