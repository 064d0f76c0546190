//! One gateway per SQLite outcome log: an advisory lock on a file beside the log
//! (`outcomes.sqlite.serve.lock`), taken when the log opens for writing and held until its
//! writer stops.
//!
//! Two gateways on one file would each keep their own in-process key budgets and rate
//! windows, and each prune and size-account the same file, so spend and retention would go
//! wrong without a word. The second is refused at start-up instead. Only the gateway takes
//! the lock: the CLI's readers (`log`, `spend`, `keys list`) and `keys create`/`revoke` open
//! the database directly and keep working while it runs. PostgreSQL logs take none: that is
//! how several replicas share one log.
//!
//! The lock is `flock`, which the OS drops when its holder exits, even on a crash or SIGKILL:
//! a lock file left behind by a dead process never blocks, only a lock held does. The file is
//! never deleted (deleting it could let two processes each lock a different inode of it); it
//! holds the holder's pid, for the refusal's message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) struct WriterLock {
    /// The locked file: the lock lives as long as this descriptor.
    _file: File,
}

/// The lock file of the SQLite log at `db`: its name plus `.serve.lock`, in its folder.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or(db.as_os_str()).to_owned();
    name.push(".serve.lock");
    db.with_file_name(name)
}

impl WriterLock {
    /// Takes the lock of the log at `db` without waiting: [`Error::OutcomeLogInUse`] when
    /// another process (or another log handle in this one) holds it. A file system that
    /// cannot lock is warned about and serves unlocked, as before the lock existed.
    pub(crate) fn acquire(db: &Path) -> Result<Option<WriterLock>, Error> {
        let path = lock_path(db);
        let io_error = |source| Error::OutcomeLogLock {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_error)?;
        }
        // Not truncated on open: the holder's pid must stay readable by whoever is refused.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::OutcomeLogInUse {
                    path: db.to_owned(),
                    lock: path.clone(),
                    pid: holder_pid(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => {
                tracing::warn!(
                    lock = %path.display(),
                    error = %e,
                    "Cannot lock the outcome log's lock file (no locks on this file system?): nothing stops a second gateway on this SQLite file."
                );
                return Ok(None);
            }
        }
        // The pid is for the message only: failing to write it is no reason not to serve.
        let pid = format!("{}\n", std::process::id());
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(lock = %path.display(), error = %e, "Cannot write the pid into the outcome log's lock file.");
        }
        Ok(Some(WriterLock { _file: file }))
    }
}

/// The pid the holder wrote, when it has written one yet.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_pid_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub").join("outcomes.sqlite");
        let first = WriterLock::acquire(&db).unwrap().unwrap();
        assert_eq!(
            lock_path(&db),
            dir.path().join("sub").join("outcomes.sqlite.serve.lock")
        );
        match WriterLock::acquire(&db) {
            Err(Error::OutcomeLogInUse { pid, path, .. }) => {
                assert_eq!(pid, Some(std::process::id()));
                assert_eq!(path, db);
            }
            other => panic!("expected OutcomeLogInUse, got {other:?}"),
        }
        drop(first);
        // The file is still there (as after a crash): only a held lock counts.
        assert!(lock_path(&db).exists());
        let _again = WriterLock::acquire(&db).unwrap().unwrap();
    }
}
