//! S3 sources against moto: fetch, pins, ETag revalidation, and the cached
//! copy once moto is gone.

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore as _, PutOptions};

use super::moto::Moto;
use super::{module, sources};
use crate::sources::{Digest, ErrorKind, Origin, SourceOptions, SourceUrl};

const BUCKET: &str = "modules";

fn options(moto: &Moto) -> SourceOptions {
    SourceOptions {
        s3_endpoint: Some(moto.endpoint.clone()),
        s3_region: Some("us-east-1".into()),
        s3_access_key_id: Some("test".into()),
        s3_secret_access_key: Some("test".into()),
        ..SourceOptions::default()
    }
}

fn store(moto: &Moto) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(&moto.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_bucket_name(BUCKET)
        .build()
        .unwrap()
}

/// Uploads with a content type: moto stores an empty body without one.
async fn upload(store: &AmazonS3, key: &str, bytes: &[u8]) {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/wasm".into());
    let options = PutOptions {
        attributes,
        ..PutOptions::default()
    };
    store
        .put_opts(&ObjectPath::from(key), bytes.to_vec().into(), options)
        .await
        .unwrap();
}

fn s3(key: &str) -> SourceUrl {
    SourceUrl::parse(&format!("s3://{BUCKET}/{key}"), "/".as_ref()).unwrap()
}

#[tokio::test]
async fn s3_modules_are_fetched_revalidated_and_cached() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let store = store(&moto);
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (module(1, 4000), module(2, 4000));
    upload(&store, "app/m.wasm", &v1).await;
    let source = s3("app/m.wasm");
    let sources = sources(dir.path(), options(&moto));

    let first = sources.fetch(&source, None).await.unwrap();
    assert_eq!(&first.bytes[..], &v1[..]);
    assert_eq!(first.digest, Digest::of(&v1));
    assert_eq!(first.origin, Origin::Fresh);
    assert!(first.etag.is_some());

    // A wrong pin names both digests.
    let wrong = Digest::of(b"other");
    let error = sources.fetch(&source, Some(&wrong)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DigestMismatch);
    let expected = format!("expected {wrong}, got {}", first.digest);
    assert!(error.to_string().contains(&expected), "{error}");
    assert!(
        error.to_string().contains("s3://modules/app/m.wasm"),
        "{error}"
    );

    // Unchanged, then changed.
    assert!(sources.revalidate(&source, &first).await.unwrap().is_none());
    upload(&store, "app/m.wasm", &v2).await;
    let second = sources.revalidate(&source, &first).await.unwrap().unwrap();
    assert_eq!(&second.bytes[..], &v2[..]);
    assert_eq!(second.digest, Digest::of(&v2));
    assert_ne!(second.etag, first.etag);
    assert!(
        sources
            .revalidate(&source, &second)
            .await
            .unwrap()
            .is_none()
    );

    // A missing object is an error, not a fallback case.
    let error = sources
        .fetch(&s3("app/missing.wasm"), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert!(
        error.to_string().contains("s3://modules/app/missing.wasm"),
        "{error}"
    );
    let error = sources
        .fetch(
            &SourceUrl::S3 {
                bucket: "nobucket".into(),
                key: "m.wasm".into(),
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");

    // moto stops: a new Sources on the same data directory serves the copy.
    let options = options(&moto);
    moto.stop();
    let restarted = super::sources(dir.path(), options.clone());
    let fallback = restarted.fetch(&source, None).await.unwrap();
    assert_eq!(&fallback.bytes[..], &v2[..]);
    let Origin::CachedCopyFallback { error, .. } = &fallback.origin else {
        panic!("expected a fallback, got {:?}", fallback.origin);
    };
    assert!(
        error.contains("s3://modules/app/m.wasm: unavailable"),
        "{error}"
    );

    // Pinned and in the cache: no request at all (moto is gone).
    let pinned = restarted
        .fetch(&source, Some(&second.digest))
        .await
        .unwrap();
    assert_eq!(pinned.origin, Origin::NotFetchedPinnedInCache);
    assert_eq!(&pinned.bytes[..], &v2[..]);
    // The old version is still in the cache too: a pin selects it.
    let old = restarted.fetch(&source, Some(&first.digest)).await.unwrap();
    assert_eq!(old.origin, Origin::NotFetchedPinnedInCache);
    assert_eq!(&old.bytes[..], &v1[..]);

    // With no copy, the error.
    let empty = tempfile::tempdir().unwrap();
    let error = super::sources(empty.path(), options)
        .fetch(&source, None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
}

/// object_store does not export the status of a failed request, so
/// `store_error` reads it from the message; this pins the format of
/// object_store 0.14 ("... - Server returned non-2xx status code: ...").
#[test]
fn store_errors_are_classified() {
    let generic = |message: &str| object_store::Error::Generic {
        store: "S3",
        source: message.to_owned().into(),
    };
    let kind = |error| crate::sources::s3::store_error("s3://b/k", &error).kind();
    let status = |code: &str| {
        generic(&format!(
            "Error performing GET http://x/b/k in 1ms - Server returned non-2xx status code: {code}: <Error/>"
        ))
    };
    assert_eq!(kind(status("400 Bad Request")), ErrorKind::Other);
    assert_eq!(
        kind(status("429 Too Many Requests")),
        ErrorKind::Unavailable
    );
    assert_eq!(
        kind(status("503 Service Unavailable")),
        ErrorKind::Unavailable
    );
    assert_eq!(
        kind(generic("HTTP error: error sending request")),
        ErrorKind::Unavailable
    );
    let not_found = object_store::Error::NotFound {
        path: "k".into(),
        source: "404".into(),
    };
    assert_eq!(kind(not_found), ErrorKind::NotFound);
    let denied = object_store::Error::PermissionDenied {
        path: "k".into(),
        source: "403".into(),
    };
    assert_eq!(kind(denied), ErrorKind::Denied);
}
