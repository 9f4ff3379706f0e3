use std::sync::Arc;

use super::*;

fn open() -> (tempfile::TempDir, Embedded) {
    let dir = tempfile::tempdir().unwrap();
    let store = Embedded::open(dir.path()).unwrap();
    (dir, store)
}

#[tokio::test]
async fn round_trip_keeps_any_bytes() {
    let (_dir, store) = open();
    assert_eq!(store.get("ns", "k").await, Ok(None));
    assert_eq!(store.exists("ns", "k").await, Ok(false));
    let value = vec![0, 255, 10, 0, 13];
    store.set("ns", "k", value.clone(), None).await.unwrap();
    assert_eq!(store.get("ns", "k").await, Ok(Some(value)));
    assert_eq!(store.exists("ns", "k").await, Ok(true));
    store.set("ns", "k", Vec::new(), None).await.unwrap();
    assert_eq!(store.get("ns", "k").await, Ok(Some(Vec::new())));
    assert_eq!(store.delete("ns", "k").await, Ok(true));
    assert_eq!(store.delete("ns", "k").await, Ok(false));
    assert_eq!(store.get("ns", "k").await, Ok(None));
}

#[tokio::test]
async fn namespaces_never_meet() {
    let (_dir, store) = open();
    // Pairs whose concatenations collide under any naive `ns + sep + key`.
    let pairs = [
        ("a", "b:c"),
        ("a:b", "c"),
        ("a\0", "b"),
        ("a", "\0b"),
        ("", "ab"),
    ];
    for (i, (ns, key)) in pairs.iter().enumerate() {
        store.set(ns, key, vec![i as u8], Some(2)).await.unwrap();
    }
    for (i, (ns, key)) in pairs.iter().enumerate() {
        assert_eq!(
            store.get(ns, key).await,
            Ok(Some(vec![i as u8])),
            "{ns:?} {key:?}"
        );
    }
    assert_eq!(
        store.list("a", "", None, 100).await.unwrap(),
        ["\0b", "b:c"]
    );
    assert_eq!(store.list("a:b", "", None, 100).await.unwrap(), ["c"]);
    assert_eq!(store.list("", "", None, 100).await.unwrap(), ["ab"]);
    assert_eq!(
        store.list("b", "", None, 100).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn list_pages_in_key_order() {
    let (_dir, store) = open();
    for i in 0..2500 {
        store
            .set("ns", &format!("k{i:05}"), vec![], None)
            .await
            .unwrap();
    }
    store.set("ns", "other", vec![], None).await.unwrap();
    store.set("ns2", "k0", vec![], None).await.unwrap();
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list("ns", "k", after.as_deref(), 1000).await.unwrap();
        assert!(page.len() <= 1000);
        let Some(last) = page.last() else { break };
        after = Some(last.clone());
        all.extend(page);
    }
    let expected: Vec<String> = (0..2500).map(|i| format!("k{i:05}")).collect();
    assert_eq!(all, expected);
    assert_eq!(
        store.list("ns", "", None, 3).await.unwrap(),
        ["k00000", "k00001", "k00002"]
    );
    assert_eq!(store.list("ns", "o", None, 10).await.unwrap(), ["other"]);
    // An `after` before the prefix starts at the prefix.
    assert_eq!(
        store.list("ns", "o", Some("a"), 10).await.unwrap(),
        ["other"]
    );
    assert_eq!(
        store.list("ns", "zz", None, 10).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn quota_counts_new_keys_only() {
    let (_dir, store) = open();
    let max = Some(2);
    store.set("ns", "a", b"1".to_vec(), max).await.unwrap();
    store.set("ns", "b", b"1".to_vec(), max).await.unwrap();
    let full = Err(KvError::QuotaExceeded(2));
    assert_eq!(store.set("ns", "c", b"1".to_vec(), max).await, full);
    assert_eq!(
        store.increment("ns", "c", 1, max).await,
        full.clone().map(|()| 0)
    );
    assert_eq!(
        store
            .compare_and_swap("ns", "c", None, b"1".to_vec(), max)
            .await,
        full.clone().map(|()| false)
    );
    assert_eq!(store.get("ns", "c").await, Ok(None));
    // Overwrites and other namespaces are not limited.
    store.set("ns", "a", b"2".to_vec(), max).await.unwrap();
    assert_eq!(store.increment("ns", "b", 1, max).await, Ok(2));
    store.set("other", "c", b"1".to_vec(), max).await.unwrap();
    store.delete("ns", "a").await.unwrap();
    store.set("ns", "c", b"1".to_vec(), max).await.unwrap();
    assert_eq!(store.set("ns", "d", b"1".to_vec(), max).await, full);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_all_count() {
    let (_dir, store) = open();
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    store.increment("ns", "n", 1, None).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.get("ns", "n").await, Ok(Some(b"6400".to_vec())));
    assert_eq!(store.increment("ns", "n", -6401, None).await, Ok(-1));
    store
        .set("ns", "text", b"abc".to_vec(), None)
        .await
        .unwrap();
    let not_integer = Err(KvError::NotAnInteger("text".into()));
    assert_eq!(store.increment("ns", "text", 1, None).await, not_integer);
    store
        .set("ns", "big", i64::MAX.to_string().into_bytes(), None)
        .await
        .unwrap();
    assert!(store.increment("ns", "big", 1, None).await.is_err());
    assert_eq!(
        store.get("ns", "big").await,
        Ok(Some(i64::MAX.to_string().into_bytes()))
    );
}

#[tokio::test]
async fn compare_and_swap_checks_the_current_value() {
    let (_dir, store) = open();
    assert_eq!(
        store
            .compare_and_swap("ns", "k", None, b"1".to_vec(), None)
            .await,
        Ok(true)
    );
    assert_eq!(
        store
            .compare_and_swap("ns", "k", None, b"2".to_vec(), None)
            .await,
        Ok(false)
    );
    let wrong = store
        .compare_and_swap("ns", "k", Some(b"0"), b"2".to_vec(), None)
        .await;
    assert_eq!(wrong, Ok(false));
    assert_eq!(store.get("ns", "k").await, Ok(Some(b"1".to_vec())));
    let right = store
        .compare_and_swap("ns", "k", Some(b"1"), b"2".to_vec(), None)
        .await;
    assert_eq!(right, Ok(true));
    assert_eq!(store.get("ns", "k").await, Ok(Some(b"2".to_vec())));
}

#[tokio::test]
async fn acknowledged_writes_outlive_the_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Embedded::open(dir.path()).unwrap();
        store
            .set("ns", "kept", b"yes".to_vec(), Some(5))
            .await
            .unwrap();
        store.increment("ns", "n", 7, Some(5)).await.unwrap();
    }
    let store = Embedded::open(dir.path()).unwrap();
    assert_eq!(store.get("ns", "kept").await, Ok(Some(b"yes".to_vec())));
    assert_eq!(store.get("ns", "n").await, Ok(Some(b"7".to_vec())));
    // The key count came back too.
    for key in ["c", "d", "e"] {
        store.set("ns", key, vec![], Some(5)).await.unwrap();
    }
    assert_eq!(
        store.set("ns", "f", vec![], Some(5)).await,
        Err(KvError::QuotaExceeded(5))
    );
}

#[tokio::test]
async fn a_second_process_cannot_share_the_file() {
    let (dir, _store) = open();
    let error = Embedded::open(dir.path())
        .err()
        .expect("second open must fail");
    let message = error.to_string();
    assert!(
        message.contains(FILE) && message.contains("in use"),
        "{message}"
    );
}

#[test]
fn an_unusable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let error = Embedded::open(&file.join("sub")).err().expect("must fail");
    assert!(error.to_string().contains("data directory"), "{error:#}");
}
