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
        let io_error = |path: &Path, source| Error::OutcomeLogLock {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        // Named after the file the path resolves to: a symlink to the log and the log itself
        // (or `./a` and `a`) must take the same lock.
        let path = lock_path(&resolved(db));
        // Not truncated on open: the holder's pid must stay readable by whoever is refused.
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path);
        let (mut file, writable) = match opened {
            Ok(file) => (file, true),
            // Left by another user (a one-off `sudo switchyard serve`): a lock needs no write
            // access, only the pid does.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                (File::open(&path).map_err(|_| io_error(&path, e))?, false)
            }
            Err(e) => return Err(io_error(&path, e)),
        };
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
        if !writable {
            return Ok(Some(WriterLock { _file: file }));
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

/// `db` with its folder and, when it exists, the file itself resolved (symlinks, `.`, `..`);
/// as given where that fails.
fn resolved(db: &Path) -> PathBuf {
    if let Ok(path) = std::fs::canonicalize(db) {
        return path;
    }
    match (db.parent(), db.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::canonicalize(dir).map_or_else(|_| db.to_owned(), |d| d.join(name))
        }
        _ => db.to_owned(),
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

    #[test]
    fn a_symlink_to_the_log_takes_the_same_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("outcomes.sqlite");
        std::fs::write(&db, b"").unwrap();
        let link = dir.path().join("link.sqlite");
        std::os::unix::fs::symlink(&db, &link).unwrap();
        let _held = WriterLock::acquire(&db).unwrap().unwrap();
        assert!(matches!(
            WriterLock::acquire(&link),
            Err(Error::OutcomeLogInUse { .. })
        ));
        let relative = dir.path().join(".").join("outcomes.sqlite");
        assert!(matches!(
            WriterLock::acquire(&relative),
            Err(Error::OutcomeLogInUse { .. })
        ));
    }
}
