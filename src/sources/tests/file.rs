//! Local files: paths, file:// URLs, pins, missing files, revalidation.

use super::{module, sources};
use crate::sources::{Digest, ErrorKind, Origin, SourceOptions, SourceUrl};

#[tokio::test]
async fn relative_paths_and_file_urls_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = module(1, 100);
    std::fs::write(dir.path().join("m.wasm"), &bytes).unwrap();
    let sources = sources(&dir.path().join("data"), SourceOptions::default());

    let relative = SourceUrl::parse("m.wasm", dir.path()).unwrap();
    let fetched = sources.fetch(&relative, None).await.unwrap();
    assert_eq!(&fetched.bytes[..], &bytes[..]);
    assert_eq!(fetched.digest, Digest::of(&bytes));
    assert_eq!(fetched.origin, Origin::Fresh);
    assert_eq!(fetched.etag, None);

    let url = format!("file://{}/m.wasm", dir.path().display());
    let by_url = SourceUrl::parse(&url, "/elsewhere".as_ref()).unwrap();
    assert_eq!(by_url, relative);
    let fetched = sources.fetch(&by_url, None).await.unwrap();
    assert_eq!(&fetched.bytes[..], &bytes[..]);
    // Files are their own copy: nothing is cached.
    let cached = std::fs::read_dir(dir.path().join("data/modules/sha256")).unwrap();
    assert_eq!(cached.count(), 0);
}

#[tokio::test]
async fn pins_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = module(2, 100);
    std::fs::write(dir.path().join("m.wasm"), &bytes).unwrap();
    let sources = sources(dir.path(), SourceOptions::default());
    let source = SourceUrl::parse("m.wasm", dir.path()).unwrap();

    let good = Digest::of(&bytes);
    let fetched = sources.fetch(&source, Some(&good)).await.unwrap();
    assert_eq!(fetched.digest, good);

    let wrong = Digest::of(b"something else");
    let error = sources.fetch(&source, Some(&wrong)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DigestMismatch);
    let message = error.to_string();
    assert!(
        message.contains(&format!("expected {wrong}, got {good}")),
        "{message}"
    );
    assert!(message.contains("m.wasm"), "{message}");
}

#[tokio::test]
async fn missing_and_oversized_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let options = SourceOptions {
        max_bytes: 50,
        ..SourceOptions::default()
    };
    let sources = sources(dir.path(), options);

    let missing = SourceUrl::parse("missing.wasm", dir.path()).unwrap();
    let error = sources.fetch(&missing, None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    let message = error.to_string();
    assert!(
        message.contains(&format!("{}/missing.wasm", dir.path().display())),
        "{message}"
    );

    std::fs::write(dir.path().join("big.wasm"), module(3, 100)).unwrap();
    let big = SourceUrl::parse("big.wasm", dir.path()).unwrap();
    let error = sources.fetch(&big, None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge);
    assert!(error.to_string().contains("max_bytes = 50"), "{error}");

    let directory = SourceUrl::parse(".", dir.path()).unwrap();
    let error = sources.fetch(&directory, None).await.unwrap_err();
    assert!(error.to_string().contains("directory"), "{error}");
}

#[tokio::test]
async fn files_revalidate_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.wasm");
    std::fs::write(&path, module(4, 100)).unwrap();
    let sources = sources(dir.path(), SourceOptions::default());
    let source = SourceUrl::File(path.clone());
    let first = sources.fetch(&source, None).await.unwrap();

    assert!(sources.revalidate(&source, &first).await.unwrap().is_none());
    std::fs::write(&path, module(5, 100)).unwrap();
    let changed = sources.revalidate(&source, &first).await.unwrap().unwrap();
    assert_eq!(changed.digest, Digest::of(&module(5, 100)));
    std::fs::remove_file(&path).unwrap();
    let error = sources.revalidate(&source, &changed).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
}
