//! The embedded backend: every namespace in one redb file, `kv.redb` in the
//! server's data directory.
//!
//! redb admits one write transaction at a time and each durable commit costs
//! an `fsync`, so writes are not committed one by one: a single writer thread
//! takes every write waiting in its queue (up to [`MAX_BATCH`]), applies them
//! in order in one transaction, commits it with [`Durability::Immediate`], and
//! only then answers each. A write is acknowledged only once it is on disk,
//! and many concurrent writers share one `fsync` (group commit). Reads open
//! their own read transaction and never wait for the writer.
//!
//! Two tables: `values`, keyed by `(namespace, key)` so that a namespace's keys
//! are one sorted range, and `key_counts`, the number of keys per namespace,
//! kept in the same transactions so that quotas cost one lookup.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::Context;
use async_trait::async_trait;
use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition,
};
use tokio::sync::oneshot;

use super::{Backend, KvError};

/// The file in the data directory.
pub const FILE: &str = "kv.redb";

/// The most writes one transaction takes, so that one commit stays short.
const MAX_BATCH: usize = 1024;

const VALUES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("values");
const KEY_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("key_counts");

pub struct Embedded {
    db: std::sync::Arc<Database>,
    path: PathBuf,
    /// Both `None` only while dropping.
    writes: Option<mpsc::Sender<Write>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Embedded {
    /// Lets the writer finish what is queued and waits for it, so that the
    /// file is closed (and unlocked) once this returns.
    fn drop(&mut self) {
        self.writes.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Embedded {
    /// Opens (creating if need be) `data_dir/kv.redb`. Fails if another process
    /// has it open: redb locks the file, and two servers must not share it.
    pub fn open(data_dir: &Path) -> anyhow::Result<Embedded> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let path = data_dir.join(FILE);
        let db = Database::create(&path).map_err(|error| match error {
            DatabaseError::DatabaseAlreadyOpen => anyhow::anyhow!(
                "{} is in use by another process; give each server its own --data-dir",
                path.display()
            ),
            error => anyhow::anyhow!(
                "cannot open the key-value store {}: {error}",
                path.display()
            ),
        })?;
        // Create both tables now, so that reads of a fresh file find them.
        let txn = db.begin_write()?;
        txn.open_table(VALUES)?;
        txn.open_table(KEY_COUNTS)?;
        txn.commit()?;

        let db = std::sync::Arc::new(db);
        let (writes, queue) = mpsc::channel();
        let writer_db = db.clone();
        let writer = std::thread::Builder::new()
            .name("kv-writer".into())
            .spawn(move || write_loop(&writer_db, &queue))
            .context("cannot start the key-value writer thread")?;
        Ok(Embedded {
            db,
            path,
            writes: Some(writes),
            writer: Some(writer),
        })
    }

    /// Queues a write and waits until it is committed.
    async fn write(&self, op: Op) -> Result<Outcome, KvError> {
        let (reply, answer) = oneshot::channel();
        let writes = self.writes.as_ref();
        writes
            .and_then(|writes| writes.send(Write { op, reply }).ok())
            .ok_or_else(|| self.unavailable("its writer thread has stopped"))?;
        answer
            .await
            .map_err(|_| self.unavailable("its writer thread has stopped"))?
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> KvError {
        KvError::Unavailable(format!("{}: {why}", self.path.display()))
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<(&str, &str), &[u8]>) -> Result<T, redb::Error>,
    ) -> Result<T, KvError> {
        let run = || -> Result<T, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(VALUES)?;
            f(&table)
        };
        run().map_err(|error| self.unavailable(error))
    }
}

#[async_trait]
impl Backend for Embedded {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.read(|table| Ok(table.get((namespace, key))?.map(|v| v.value().to_vec())))
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        max_keys: Option<u64>,
    ) -> Result<(), KvError> {
        let op = Op::Set {
            target: Target::new(namespace, key, max_keys),
            value,
        };
        self.write(op).await.map(|_| ())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        let op = Op::Delete(Target::new(namespace, key, None));
        Ok(self.write(op).await?.flag())
    }

    async fn exists(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        self.read(|table| Ok(table.get((namespace, key))?.is_some()))
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError> {
        use std::ops::Bound;
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded((namespace, after)),
            _ => Bound::Included((namespace, prefix)),
        };
        self.read(|table| {
            let mut keys = Vec::new();
            for entry in table.range::<(&str, &str)>((start, Bound::Unbounded))? {
                if keys.len() >= limit {
                    break;
                }
                let (stored, _) = entry?;
                let (ns, key) = stored.value();
                if ns != namespace || !key.starts_with(prefix) {
                    break;
                }
                keys.push(key.to_string());
            }
            Ok(keys)
        })
    }

    async fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        max_keys: Option<u64>,
    ) -> Result<i64, KvError> {
        let op = Op::Increment {
            target: Target::new(namespace, key, max_keys),
            delta,
        };
        match self.write(op).await? {
            Outcome::Number(n) => Ok(n),
            other => Err(self.unavailable(format!("unexpected answer {other:?}"))),
        }
    }

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        max_keys: Option<u64>,
    ) -> Result<bool, KvError> {
        let op = Op::CompareAndSwap {
            target: Target::new(namespace, key, max_keys),
            expected: expected.map(<[u8]>::to_vec),
            new,
        };
        Ok(self.write(op).await?.flag())
    }
}

/// The key a write acts on, and the quota of its namespace.
struct Target {
    namespace: String,
    key: String,
    max_keys: Option<u64>,
}

impl Target {
    fn new(namespace: &str, key: &str, max_keys: Option<u64>) -> Target {
        Target {
            namespace: namespace.to_string(),
            key: key.to_string(),
            max_keys,
        }
    }
}

enum Op {
    Set {
        target: Target,
        value: Vec<u8>,
    },
    Delete(Target),
    Increment {
        target: Target,
        delta: i64,
    },
    CompareAndSwap {
        target: Target,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    },
}

#[derive(Debug)]
enum Outcome {
    Done,
    /// Whether a delete found its key, or a compare-and-swap swapped.
    Flag(bool),
    Number(i64),
}

impl Outcome {
    fn flag(self) -> bool {
        matches!(self, Outcome::Flag(true))
    }
}

struct Write {
    op: Op,
    reply: oneshot::Sender<Result<Outcome, KvError>>,
}

/// The writer thread: one transaction per batch of queued writes, until every
/// sender is gone.
fn write_loop(db: &Database, queue: &mpsc::Receiver<Write>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        match commit(db, &batch) {
            Ok(outcomes) => {
                for (write, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = write.reply.send(outcome);
                }
            }
            Err(error) => {
                tracing::warn!(%error, writes = batch.len(), "key-value commit failed");
                let why = KvError::Unavailable(format!("commit failed: {error}"));
                for write in batch {
                    let _ = write.reply.send(Err(why.clone()));
                }
            }
        }
    }
}

/// Applies `batch` in order in one durable transaction. A write refused for
/// its own reason (a quota, a non-integer) changes nothing and the others go
/// on; a storage error fails the whole batch, of which nothing is then kept.
fn commit(db: &Database, batch: &[Write]) -> Result<Vec<Result<Outcome, KvError>>, redb::Error> {
    let mut txn = db.begin_write()?;
    // The default, said here because the acknowledgement promises it.
    txn.set_durability(Durability::Immediate)?;
    let outcomes = {
        let mut tables = Tables {
            values: txn.open_table(VALUES)?,
            counts: txn.open_table(KEY_COUNTS)?,
        };
        batch
            .iter()
            .map(|write| tables.apply(&write.op))
            .collect::<Result<Vec<_>, _>>()?
    };
    txn.commit()?;
    Ok(outcomes)
}

struct Tables<'txn> {
    values: Table<'txn, (&'static str, &'static str), &'static [u8]>,
    counts: Table<'txn, &'static str, u64>,
}

impl Tables<'_> {
    fn apply(&mut self, op: &Op) -> Result<Result<Outcome, KvError>, redb::Error> {
        match op {
            Op::Set { target, value } => self.put(target, value).map(|r| r.map(|()| Outcome::Done)),
            Op::Delete(target) => {
                let key = (target.namespace.as_str(), target.key.as_str());
                let existed = self.values.remove(key)?.is_some();
                if existed {
                    let count = self.count(&target.namespace)?;
                    self.counts
                        .insert(target.namespace.as_str(), count.saturating_sub(1))?;
                }
                Ok(Ok(Outcome::Flag(existed)))
            }
            Op::Increment { target, delta } => {
                let current = match self.current(target)? {
                    None => 0,
                    Some(text) => match parse_integer(&text) {
                        Some(n) => n,
                        None => return Ok(Err(KvError::NotAnInteger(target.key.clone()))),
                    },
                };
                let Some(next) = current.checked_add(*delta) else {
                    return Ok(Err(KvError::NotAnInteger(target.key.clone())));
                };
                let stored = self.put(target, next.to_string().as_bytes())?;
                Ok(stored.map(|()| Outcome::Number(next)))
            }
            Op::CompareAndSwap {
                target,
                expected,
                new,
            } => {
                if self.current(target)? != *expected {
                    return Ok(Ok(Outcome::Flag(false)));
                }
                let stored = self.put(target, new)?;
                Ok(stored.map(|()| Outcome::Flag(true)))
            }
        }
    }

    fn current(&self, target: &Target) -> Result<Option<Vec<u8>>, redb::Error> {
        let key = (target.namespace.as_str(), target.key.as_str());
        Ok(self.values.get(key)?.map(|v| v.value().to_vec()))
    }

    fn count(&self, namespace: &str) -> Result<u64, redb::Error> {
        Ok(self.counts.get(namespace)?.map_or(0, |c| c.value()))
    }

    /// Stores `value`, counting the key if it is new and refusing it if that
    /// would pass the namespace's quota.
    fn put(&mut self, target: &Target, value: &[u8]) -> Result<Result<(), KvError>, redb::Error> {
        let key = (target.namespace.as_str(), target.key.as_str());
        if self.values.get(key)?.is_none() {
            let count = self.count(&target.namespace)?;
            if let Some(max) = target.max_keys
                && count >= max
            {
                return Ok(Err(KvError::QuotaExceeded(max)));
            }
            self.counts.insert(target.namespace.as_str(), count + 1)?;
        }
        self.values.insert(key, value)?;
        Ok(Ok(()))
    }
}

/// The integer a value holds as decimal text, as `INCRBY` reads it.
fn parse_integer(text: &[u8]) -> Option<i64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
