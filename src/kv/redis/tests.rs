//! Against a real `redis-server`, one per test on its own port.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

#[path = "../../../tests/support/debian.rs"]
mod debian;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use redis_server::{RedisServer as Server, free_port};

fn backend(server: &Server) -> Redis {
    Redis::open(&server.url()).expect("open")
}

fn unavailable<T: std::fmt::Debug>(result: Result<T, KvError>) {
    assert!(matches!(result, Err(KvError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn round_trip() {
    let server = Server::start();
    let r = backend(&server);
    assert_eq!(r.kind(), "redis");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    assert_eq!(r.get("ns", "k").await, Ok(None));
    assert_eq!(r.exists("ns", "k").await, Ok(false));
    r.set("ns", "k", bytes.clone(), None).await.unwrap();
    assert_eq!(r.get("ns", "k").await, Ok(Some(bytes)));
    assert_eq!(r.exists("ns", "k").await, Ok(true));
    r.set("ns", "k", vec![0, 0, 1, 0], None).await.unwrap();
    assert_eq!(r.get("ns", "k").await, Ok(Some(vec![0, 0, 1, 0])));
    r.set("ns", "empty", Vec::new(), None).await.unwrap();
    assert_eq!(r.get("ns", "empty").await, Ok(Some(Vec::new())));
    assert_eq!(r.delete("ns", "k").await, Ok(true));
    assert_eq!(r.delete("ns", "k").await, Ok(false));
    assert_eq!(r.get("ns", "k").await, Ok(None));
    assert_eq!(r.list("ns", "", None, 10).await.unwrap(), ["empty"]);
    assert_eq!(r.failures(), 0);
}

#[tokio::test]
async fn namespaces_are_isolated() {
    let server = Server::start();
    let r = backend(&server);
    let pairs = [
        ("a", "b:c"),
        ("a:b", "c"),
        ("", "1:a:b:c"),
        ("1:a", "b:c"),
        ("sw:1:a", "x"),
        ("a", ""),
        ("ä", "k"),
        ("a\u{0}", "k"),
    ];
    for (i, (ns, key)) in pairs.iter().enumerate() {
        r.set(ns, key, vec![i as u8], Some(2)).await.unwrap();
    }
    for (i, (ns, key)) in pairs.iter().enumerate() {
        assert_eq!(
            r.get(ns, key).await,
            Ok(Some(vec![i as u8])),
            "{ns:?} {key:?}"
        );
    }
    assert_eq!(r.list("a", "", None, 10).await.unwrap(), ["", "b:c"]);
    assert_eq!(r.list("a:b", "", None, 10).await.unwrap(), ["c"]);
    assert_eq!(r.list("", "", None, 10).await.unwrap(), ["1:a:b:c"]);
    assert_eq!(r.get("a", "b").await, Ok(None));
    assert_eq!(r.get("a:b", "b:c").await, Ok(None));
    // Each namespace counts only its own keys against its quota.
    let full = Err(KvError::QuotaExceeded(2));
    assert_eq!(r.set("a", "d", vec![], Some(2)).await, full);
    r.set("a:b", "d", vec![], Some(2)).await.unwrap();
    assert_eq!(r.set("a:b", "e", vec![], Some(2)).await, full);
    r.set("a:b:c", "d", vec![], Some(1)).await.unwrap();
    assert_eq!(r.delete("a:b", "c").await, Ok(true));
    assert_eq!(r.get("a", "b:c").await, Ok(Some(vec![0])));
}

#[tokio::test]
async fn list_sorts_filters_and_pages() {
    let server = Server::start();
    let r = backend(&server);
    let mut all = BTreeSet::new();
    for i in 0..2500 {
        let key = format!("item/{:x}", i * 7919 % 10007);
        r.set("ns", &key, vec![], None).await.unwrap();
        all.insert(key);
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = r.list("ns", "item/", after.as_deref(), 1000).await.unwrap();
        assert!(page.len() <= 1000);
        let Some(last) = page.last().cloned() else {
            break;
        };
        seen.extend(page);
        after = Some(last);
    }
    assert_eq!(seen, all.iter().cloned().collect::<Vec<_>>());

    let special = [
        "[",
        "[a",
        "(",
        "(b",
        "-",
        "-x",
        "+",
        "+y",
        "a[",
        "a(",
        "ab",
        "b",
        "é",
        "\u{10FFFF}z",
    ];
    for key in special {
        r.set("sp", key, vec![], None).await.unwrap();
    }
    let keys: BTreeSet<&str> = special.into_iter().collect();
    for prefix in ["", "[", "(", "-", "+", "a", "a[", "é", "\u{10FFFF}", "zz"] {
        for after in [
            None,
            Some(""),
            Some("("),
            Some("[a"),
            Some("a"),
            Some("zzz"),
        ] {
            let want: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|k| k.starts_with(prefix) && after.is_none_or(|a| *k > a))
                .take(3)
                .collect();
            let got = r.list("sp", prefix, after, 3).await.unwrap();
            assert_eq!(got, want, "prefix {prefix:?} after {after:?}");
        }
    }
    assert!(r.list("sp", "", None, 0).await.unwrap().is_empty());
    assert_eq!(
        r.list("sp", "", None, usize::MAX).await.unwrap().len(),
        keys.len()
    );
}

#[tokio::test]
async fn quotas() {
    let server = Server::start();
    let r = backend(&server);
    let q = Some(2);
    r.set("ns", "a", b"1".to_vec(), q).await.unwrap();
    r.set("ns", "b", b"2".to_vec(), q).await.unwrap();
    assert_eq!(
        r.set("ns", "c", vec![], q).await,
        Err(KvError::QuotaExceeded(2))
    );
    assert_eq!(
        r.increment("ns", "c", 1, q).await,
        Err(KvError::QuotaExceeded(2))
    );
    assert_eq!(
        r.compare_and_swap("ns", "c", None, vec![], q).await,
        Err(KvError::QuotaExceeded(2))
    );
    assert_eq!(r.exists("ns", "c").await, Ok(false));
    r.set("ns", "a", b"10".to_vec(), q).await.unwrap();
    assert_eq!(r.increment("ns", "a", 5, q).await, Ok(15));
    assert_eq!(
        r.compare_and_swap("ns", "b", Some(b"2"), b"3".to_vec(), q)
            .await,
        Ok(true)
    );
    // A present key makes the CAS fail, not the quota.
    assert_eq!(
        r.compare_and_swap("ns", "b", None, vec![], q).await,
        Ok(false)
    );
    assert_eq!(r.delete("ns", "b").await, Ok(true));
    r.set("ns", "c", vec![], q).await.unwrap();
    assert_eq!(
        r.set("ns", "d", vec![], Some(0)).await,
        Err(KvError::QuotaExceeded(0))
    );
    r.set("ns", "d", vec![], Some(u64::MAX)).await.unwrap();
    assert_eq!(r.list("ns", "", None, 10).await.unwrap(), ["a", "c", "d"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn increment_is_atomic() {
    let server = Server::start();
    let r = Arc::new(backend(&server));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    r.increment("ns", "n", 1, Some(1)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(r.get("ns", "n").await, Ok(Some(b"6400".to_vec())));
    assert_eq!(r.increment("ns", "n", -6401, None).await, Ok(-1));
    assert_eq!(r.list("ns", "", None, 10).await.unwrap(), ["n"]);

    r.set("ns", "text", b"abc".to_vec(), None).await.unwrap();
    let not_int = Err(KvError::NotAnInteger("text".into()));
    assert_eq!(r.increment("ns", "text", 1, None).await, not_int);
    assert_eq!(r.get("ns", "text").await, Ok(Some(b"abc".to_vec())));
    // Beyond 2^53, where a Lua number would round.
    r.set("ns", "big", b"9007199254740993".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(
        r.increment("ns", "big", 2, None).await,
        Ok(9007199254740995)
    );
    r.set("ns", "max", i64::MAX.to_string().into_bytes(), None)
        .await
        .unwrap();
    let overflow = Err(KvError::NotAnInteger("max".into()));
    assert_eq!(r.increment("ns", "max", 1, None).await, overflow);
    assert_eq!(r.increment("ns", "min", i64::MIN, None).await, Ok(i64::MIN));
    assert_eq!(r.failures(), 0);
}

#[tokio::test]
async fn compare_and_swap() {
    let server = Server::start();
    let r = backend(&server);
    assert_eq!(
        r.compare_and_swap("ns", "k", Some(b"x"), b"y".to_vec(), None)
            .await,
        Ok(false)
    );
    assert_eq!(r.exists("ns", "k").await, Ok(false));
    assert_eq!(
        r.compare_and_swap("ns", "k", None, b"v1\0".to_vec(), None)
            .await,
        Ok(true)
    );
    assert_eq!(
        r.compare_and_swap("ns", "k", None, b"v2".to_vec(), None)
            .await,
        Ok(false)
    );
    assert_eq!(
        r.compare_and_swap("ns", "k", Some(b"v1"), b"v2".to_vec(), None)
            .await,
        Ok(false)
    );
    assert_eq!(r.get("ns", "k").await, Ok(Some(b"v1\0".to_vec())));
    assert_eq!(
        r.compare_and_swap("ns", "k", Some(b"v1\0"), b"v2".to_vec(), None)
            .await,
        Ok(true)
    );
    assert_eq!(r.get("ns", "k").await, Ok(Some(b"v2".to_vec())));
    assert_eq!(
        r.compare_and_swap("ns", "k", Some(b"v2"), Vec::new(), None)
            .await,
        Ok(true)
    );
    assert_eq!(
        r.compare_and_swap("ns", "k", Some(b""), b"v3".to_vec(), None)
            .await,
        Ok(true)
    );
    assert_eq!(r.list("ns", "", None, 10).await.unwrap(), ["k"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_fast_and_recovers() {
    let mut server = Server::start();
    let r = backend(&server);
    r.set("ns", "k", b"v".to_vec(), None).await.unwrap();
    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        unavailable(r.get("ns", "k").await);
        unavailable(r.set("ns", "k", vec![], None).await);
        unavailable(r.list("ns", "", None, 10).await);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(r.failures() >= 9);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match r.set("ns", "k", b"back".to_vec(), Some(5)).await {
            Ok(()) => break,
            Err(KvError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("redis did not come back: {err}"),
        }
    }
    // The restarted server has forgotten the scripts; EVALSHA falls back.
    assert_eq!(r.get("ns", "k").await, Ok(Some(b"back".to_vec())));
    assert_eq!(r.increment("ns", "n", 2, Some(5)).await, Ok(2));
    assert_eq!(
        r.compare_and_swap("ns", "k", Some(b"back"), vec![], None)
            .await,
        Ok(true)
    );
    assert_eq!(r.delete("ns", "n").await, Ok(true));
}

#[tokio::test]
async fn bad_urls_and_absent_servers() {
    for url in [
        "http://x",
        "redis://[::1",
        "",
        "not a url",
        "redis://u:secret@[::1",
        "u:secret@host",
    ] {
        let err = Redis::open(url).err().expect(url).to_string();
        assert!(!err.contains("secret"), "{err}");
    }
    let nobody = Redis::open(&format!("redis://127.0.0.1:{}", free_port())).unwrap();
    let started = Instant::now();
    unavailable(nobody.get("ns", "k").await);
    unavailable(nobody.increment("ns", "k", 1, None).await);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(nobody.failures(), 2);

    // A server that accepts connections but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let _hold = std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(8).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(held);
    });
    let hung = Redis::open(&format!("redis://127.0.0.1:{port}")).unwrap();
    let started = Instant::now();
    unavailable(hung.get("ns", "k").await);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
