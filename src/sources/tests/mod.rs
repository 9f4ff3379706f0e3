//! Tests of module sources: parsing here, each scheme in its own file,
//! against real servers on loopback that the tests start and stop.

mod file;
mod http;
#[path = "../../../tests/support/moto.rs"]
mod moto;
mod s3;
mod server;

use std::path::Path;

use super::{Digest, SourceOptions, SourceUrl, Sources};

/// Bytes that look like a module; `n` makes each distinct.
fn module(n: u8, len: usize) -> Vec<u8> {
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(n)));
    bytes
}

fn sources(data_dir: &Path, options: SourceOptions) -> Sources {
    Sources::new(data_dir, options).expect("Sources::new")
}

fn parse(text: &str) -> Result<SourceUrl, String> {
    SourceUrl::parse(text, Path::new("/etc/app"))
}

#[test]
fn paths_and_urls_parse() {
    assert_eq!(
        parse("m.wasm").unwrap(),
        SourceUrl::File("/etc/app/m.wasm".into())
    );
    assert_eq!(
        parse("../m.wasm").unwrap(),
        SourceUrl::File("/etc/app/../m.wasm".into())
    );
    assert_eq!(parse("/m.wasm").unwrap(), SourceUrl::File("/m.wasm".into()));
    assert_eq!(
        parse("file:///srv/my%20m.wasm").unwrap(),
        SourceUrl::File("/srv/my m.wasm".into())
    );
    assert_eq!(
        parse("file://localhost/m.wasm").unwrap(),
        SourceUrl::File("/m.wasm".into())
    );
    let http = parse("https://example.com/a/m.wasm?v=2").unwrap();
    assert_eq!(http.to_string(), "https://example.com/a/m.wasm?v=2");
    assert_eq!(
        parse("s3://bucket/dir/m.wasm").unwrap(),
        SourceUrl::S3 {
            bucket: "bucket".into(),
            key: "dir/m.wasm".into()
        }
    );
    assert_eq!(parse("S3://bucket/k").unwrap().to_string(), "s3://bucket/k");
}

#[test]
fn bad_sources_are_explained() {
    let error = |text| parse(text).unwrap_err();
    for text in ["s3://bucket", "s3://bucket/", "s3:///key", "s3://"] {
        assert!(
            error(text).contains("s3:// needs a bucket and a key"),
            "{text}: {}",
            error(text)
        );
    }
    let ftp = error("ftp://host/m.wasm");
    assert!(ftp.contains("\"ftp://\""), "{ftp}");
    for scheme in ["file://", "http://", "https://", "s3://"] {
        assert!(ftp.contains(scheme), "{ftp}");
    }
    assert!(error("file://dir/m.wasm").contains("no host"));
    assert!(error("http://").contains("http://"));
    assert!(error("https:///m.wasm").contains("host"));
    assert!(error("").contains("empty"));
    assert!(error("   ").contains("empty"));
    // Odd input is an error, never a panic.
    for text in ["://", "s3://a b/k", "http://[::1", "file://", "\0://x"] {
        let _ = parse(text);
    }
}

#[test]
fn digests_parse_and_print() {
    let digest = Digest::of(b"abc");
    let text = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(digest.to_string(), text);
    assert_eq!(Digest::parse(text).unwrap(), digest);
    assert_eq!(
        Digest::parse(&text.to_uppercase().replace("SHA256", "sha256")).unwrap(),
        digest
    );
    assert_eq!(text.parse::<Digest>().unwrap(), digest);

    let error = |text: &str| Digest::parse(text).unwrap_err();
    assert!(
        error(&text[7..]).contains("sha256:"),
        "{}",
        error(&text[7..])
    );
    assert!(error("md5:abcd").contains("only sha256"));
    assert!(error("sha256:abcd").contains("64 hex digits, this has 4"));
    let not_hex = format!("sha256:{}", "g".repeat(64));
    assert!(error(&not_hex).contains("hex digits"));
    let multibyte = format!("sha256:{}", "é".repeat(32));
    let _ = Digest::parse(&multibyte);
}
