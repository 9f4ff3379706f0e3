use std::path::Path;

use crate::config::tests::{FILE, app, assert_error, parse};
use crate::sources::{Digest, SourceUrl};

fn one(text: &str) -> crate::config::AppConfig {
    parse(text).apps.remove(0)
}

#[test]
fn source_is_a_synonym_of_file_path_and_takes_urls() {
    let app = one(
        "[[applications]]\nsource = \"s3://bucket/dir/k.wasm\"\nmethod = \"GET\"\nurl_path = \"/\"\n",
    );
    assert_eq!(
        app.source,
        SourceUrl::S3 {
            bucket: "bucket".into(),
            key: "dir/k.wasm".into()
        }
    );
    assert_eq!(app.name, "k");
    let app = one(
        "[[applications]]\nfile_path = \"https://example.com/m/hello.wasm\"\nmethod = \"GET\"\nurl_path = \"/\"\n",
    );
    assert!(
        matches!(&app.source, SourceUrl::Http(url) if url.as_str() == "https://example.com/m/hello.wasm")
    );
    let app = one("[[applications]]\nsource = \"m.wasm\"\nmethod = \"GET\"\nurl_path = \"/\"\n");
    assert_eq!(
        app.source,
        SourceUrl::File(Path::new(FILE).parent().unwrap().join("m.wasm"))
    );
}

#[test]
fn bad_sources_and_digests_name_the_key() {
    assert_error(
        &app("/", "source = \"b.wasm\"\n"),
        &format!(
            "{FILE}:5: `applications[1].source`: `source` and `file_path` both name the module: give one"
        ),
    );
    let error =
        "[[applications]]\nsource = \"ftp://x/y.wasm\"\nmethod = \"GET\"\nurl_path = \"/\"\n";
    let errors = match crate::config::Config::parse(error, Path::new(FILE)) {
        Err(errors) => errors.to_string(),
        Ok(_) => panic!("ftp:// accepted"),
    };
    assert!(
        errors.contains("`applications[1].source`: unsupported scheme"),
        "{errors}"
    );
    let bad = app("/", "digest = \"sha256:12\"\n");
    let errors = match crate::config::Config::parse(&bad, Path::new(FILE)) {
        Err(errors) => errors.to_string(),
        Ok(_) => panic!("short digest accepted"),
    };
    assert!(
        errors.contains(&format!("{FILE}:5: `applications[1].digest`:")),
        "{errors}"
    );
}

#[test]
fn a_digest_pins_the_module() {
    let hex = "ab".repeat(32);
    let app = one(&app("/", &format!("digest = \"sha256:{hex}\"\n")));
    assert_eq!(
        app.digest,
        Some(Digest::parse(&format!("sha256:{hex}")).unwrap())
    );
}

#[test]
fn poll_seconds_and_s3_endpoint_are_checked() {
    let config = parse(&format!(
        "poll_seconds = 30\ns3_endpoint = \"http://127.0.0.1:9000/\"\n{}",
        app("/", "")
    ));
    assert_eq!(config.poll, Some(std::time::Duration::from_secs(30)));
    assert_eq!(config.s3_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_error(
        &format!("poll_seconds = 0\n{}", app("/", "")),
        &format!("{FILE}:1: `poll_seconds`: must be 1 to 86400 seconds"),
    );
    assert_error(
        &format!("s3_endpoint = \"minio:9000\"\n{}", app("/", "")),
        &format!("{FILE}:1: `s3_endpoint`: \"minio:9000\" is not an http:// or https:// URL"),
    );
}
