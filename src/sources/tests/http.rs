//! HTTP sources against the test server: ETags, errors, limits, and the
//! cached copy when the server is gone.

use std::time::Duration;

use super::server::{Reply, Server};
use super::{module, sources};
use crate::sources::{Digest, ErrorKind, Origin, SourceOptions, SourceUrl};

fn url(server: &Server, path: &str) -> SourceUrl {
    SourceUrl::parse(&server.url(path), "/".as_ref()).unwrap()
}

fn serve(server: &Server, path: &str, body: &[u8], etag: &str) {
    server.set(
        path,
        Reply::Module {
            body: body.to_vec(),
            etag: etag.to_owned(),
        },
    );
}

#[tokio::test]
async fn etags_revalidate() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (module(1, 300), module(2, 300));
    serve(&server, "/m.wasm", &v1, "\"v1\"");
    let source = url(&server, "/m.wasm");
    let sources = sources(dir.path(), SourceOptions::default());

    let first = sources.fetch(&source, None).await.unwrap();
    assert_eq!(&first.bytes[..], &v1[..]);
    assert_eq!(first.digest, Digest::of(&v1));
    assert_eq!(first.etag.as_deref(), Some("\"v1\""));
    assert_eq!(first.origin, Origin::Fresh);
    assert_eq!(server.requests()[0].if_none_match, None);

    // Unchanged: the server answers 304.
    assert!(sources.revalidate(&source, &first).await.unwrap().is_none());
    assert_eq!(
        server.requests()[1].if_none_match.as_deref(),
        Some("\"v1\"")
    );

    // Changed: the new content and its digest.
    serve(&server, "/m.wasm", &v2, "\"v2\"");
    let second = sources.revalidate(&source, &first).await.unwrap().unwrap();
    assert_eq!(&second.bytes[..], &v2[..]);
    assert_eq!(second.digest, Digest::of(&v2));
    assert_eq!(second.etag.as_deref(), Some("\"v2\""));

    // A restarted server (a new Sources on the same data directory) asks
    // with the cached copy's ETag instead of downloading it again.
    let restarted = super::sources(dir.path(), SourceOptions::default());
    let again = restarted.fetch(&source, None).await.unwrap();
    assert_eq!(again.origin, Origin::Fresh);
    assert_eq!(&again.bytes[..], &v2[..]);
    let last = server.requests().last().unwrap().clone();
    assert_eq!(last.if_none_match.as_deref(), Some("\"v2\""));
    assert!(server.requests().iter().all(|r| r.path == "/m.wasm"));
    server.stop().await;
}

#[tokio::test]
async fn http_errors_are_clear() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = SourceOptions {
        max_bytes: 1024,
        ..SourceOptions::default()
    };
    let sources = sources(dir.path(), options);
    let fetch_error = async |path: &str| {
        let source = url(&server, path);
        sources.fetch(&source, None).await.unwrap_err()
    };

    let error = fetch_error("/missing.wasm").await;
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_eq!(
        error.to_string(),
        format!("HTTP 404 from {}", server.url("/missing.wasm"))
    );

    server.set("/forbidden", Reply::Status(403));
    assert_eq!(fetch_error("/forbidden").await.kind(), ErrorKind::Denied);

    server.set(
        "/short",
        Reply::Truncated {
            announced: 1000,
            body: module(3, 2),
        },
    );
    let error = fetch_error("/short").await;
    assert_eq!(error.kind(), ErrorKind::Truncated);
    assert!(
        error.to_string().contains("after 10 of the 1000 bytes"),
        "{error}"
    );
    assert!(error.to_string().contains(&server.url("/short")), "{error}");

    server.set(
        "/big",
        Reply::Module {
            body: module(4, 2000),
            etag: "\"b\"".into(),
        },
    );
    let error = fetch_error("/big").await;
    assert_eq!(error.kind(), ErrorKind::TooLarge);
    assert!(error.to_string().contains("limit of 1 KiB"), "{error}");

    // Without a Content-Length the limit stops the stream.
    server.set("/big-unsized", Reply::Unsized(module(5, 2000)));
    let error = fetch_error("/big-unsized").await;
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    server.set("/small-unsized", Reply::Unsized(module(5, 20)));
    let fetched = sources
        .fetch(&url(&server, "/small-unsized"), None)
        .await
        .unwrap();
    assert_eq!(&fetched.bytes[..], &module(5, 20)[..]);

    // Redirects are followed, five at most.
    server.set("/r1", Reply::Redirect("/r2".into()));
    server.set("/r2", Reply::Redirect(server.url("/small-unsized")));
    let fetched = sources.fetch(&url(&server, "/r1"), None).await.unwrap();
    assert_eq!(&fetched.bytes[..], &module(5, 20)[..]);
    server.set("/loop", Reply::Redirect("/loop".into()));
    let error = fetch_error("/loop").await;
    assert!(
        error.to_string().contains("more than 5 redirects"),
        "{error}"
    );

    // A wrong pin: both digests, nothing cached.
    serve(&server, "/m.wasm", &module(6, 100), "\"m\"");
    let wrong = Digest::of(b"other");
    let error = sources
        .fetch(&url(&server, "/m.wasm"), Some(&wrong))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DigestMismatch);
    let expected = format!("expected {wrong}, got {}", Digest::of(&module(6, 100)));
    assert!(error.to_string().contains(&expected), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = SourceOptions {
        http_timeout: Duration::from_millis(300),
        ..SourceOptions::default()
    };
    server.set("/slow", Reply::Hang);
    let error = sources(dir.path(), options)
        .fetch(&url(&server, "/slow"), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(
        error.to_string().contains("timed out after 300ms"),
        "{error}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_served_from_the_cache() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = module(7, 500);
    serve(&server, "/m.wasm", &bytes, "\"7\"");
    let source = url(&server, "/m.wasm");
    let sources = sources(dir.path(), SourceOptions::default());
    let good = sources.fetch(&source, None).await.unwrap();

    // A failing server (5xx) falls back...
    server.set("/m.wasm", Reply::Status(503));
    let fallback = sources.fetch(&source, None).await.unwrap();
    assert_eq!(&fallback.bytes[..], &bytes[..]);
    match &fallback.origin {
        Origin::CachedCopyFallback { age, error } => {
            assert!(*age < Duration::from_secs(60), "{age:?}");
            assert_eq!(error, &format!("HTTP 503 from {}", server.url("/m.wasm")));
        }
        origin => panic!("expected a fallback, got {origin:?}"),
    }
    // ...but a removed module (404) does not.
    server.set("/m.wasm", Reply::Status(404));
    let error = sources.fetch(&source, None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);

    // A stopped server: the same Sources, and a new one on the same data
    // directory (a restarted node), both serve the copy.
    let port = server.port;
    server.stop().await;
    for sources in [
        &sources,
        &super::sources(dir.path(), SourceOptions::default()),
    ] {
        let fetched = sources.fetch(&source, None).await.unwrap();
        assert_eq!(fetched.digest, good.digest);
        let Origin::CachedCopyFallback { error, .. } = &fetched.origin else {
            panic!("expected a fallback, got {:?}", fetched.origin);
        };
        assert!(
            error.contains(&format!("cannot fetch http://127.0.0.1:{port}/m.wasm")),
            "{error}"
        );
    }
    // Revalidation reports the failure; the caller keeps what it has.
    let error = sources.revalidate(&source, &good).await.unwrap_err();
    assert!(error.is_transient(), "{error}");

    // With no copy, the error.
    let empty = tempfile::tempdir().unwrap();
    let error = super::sources(empty.path(), SourceOptions::default())
        .fetch(&source, None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.to_string().contains("m.wasm"), "{error}");
}

#[tokio::test]
async fn a_pinned_module_in_the_cache_is_not_fetched() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = module(8, 500);
    serve(&server, "/m.wasm", &bytes, "\"8\"");
    let source = url(&server, "/m.wasm");
    let pin = Digest::of(&bytes);
    let sources = sources(dir.path(), SourceOptions::default());

    let first = sources.fetch(&source, Some(&pin)).await.unwrap();
    assert_eq!(first.origin, Origin::Fresh);
    let second = sources.fetch(&source, Some(&pin)).await.unwrap();
    assert_eq!(second.origin, Origin::NotFetchedPinnedInCache);
    assert_eq!(&second.bytes[..], &bytes[..]);
    assert_eq!(second.etag.as_deref(), Some("\"8\""));
    assert_eq!(server.requests().len(), 1);

    // A corrupt blob is deleted and the module fetched again.
    let blob = dir.path().join("modules/sha256").join(pin.to_hex());
    std::fs::write(&blob, b"corrupt").unwrap();
    let third = sources.fetch(&source, Some(&pin)).await.unwrap();
    assert_eq!(third.origin, Origin::Fresh);
    assert_eq!(server.requests().len(), 2);
    assert_eq!(std::fs::read(&blob).unwrap(), bytes);
    server.stop().await;
}
