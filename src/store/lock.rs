//! One daemon per database: an advisory lock on `DB-lock` beside the database, held for the
//! daemon's life. The operating system drops the lock when the process dies, so a stale lock
//! file never blocks; the file keeps the holder's PID for the error message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Held while the daemon runs; released on drop (or when the process ends, however it ends).
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
    pub path: PathBuf,
}

/// The lock file of the database at `database`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-lock");
    PathBuf::from(name)
}

impl DaemonLock {
    /// Takes the lock of `database`, or says which process holds it.
    pub fn acquire(database: &Path) -> Result<DaemonLock, StoreError> {
        super::check_location(database)?;
        let path = lock_path(database);
        let error = |message: String| StoreError::Open {
            path: database.to_owned(),
            message,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| error(format!("cannot open the lock file {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another gleaner".to_owned()
                } else {
                    format!("another gleaner (PID {holder})")
                };
                return Err(error(format!(
                    "{who} is already running on this database (lock {})",
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(error(format!("cannot lock {}: {e}", path.display())));
            }
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot write the PID into the lock file");
        }
        Ok(DaemonLock { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_pid_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gleaner.db");
        let first = DaemonLock::acquire(&db).unwrap();
        let refused = DaemonLock::acquire(&db).unwrap_err().to_string();
        assert!(
            refused.contains(&format!("PID {}", std::process::id())),
            "{refused}"
        );
        drop(first);
        // The file stays behind, as after a crash: it does not block.
        assert!(lock_path(&db).exists());
        DaemonLock::acquire(&db).unwrap();
    }
}
