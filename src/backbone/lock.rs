//! One process per data directory. Two `nacre serve` on one directory would run two
//! nats-servers on one JetStream store: both acknowledge writes into the same files, and the
//! store loses some of them and corrupts its per-subject state (a projector lease that can never
//! be renewed, view writes refused for ever). `serve`, and the recovery commands when they start
//! a nats-server of their own, hold an exclusive `flock` on `<data-dir>/nacre.lock` for their
//! whole life; a second process is refused at once, told the holder's PID.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "nacre.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another Nacre process (PID {pid}) already uses the data directory {dir}: stop it first, \
         or give this one its own --data-dir. Two processes on one JetStream store lose writes."
    )]
    Held { dir: PathBuf, pid: String },
    #[error("cannot lock the data directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    pub path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock, or says who holds it.
    pub fn acquire(data_dir: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            dir: data_dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a file descriptor this function owns; no memory is involved.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::Held {
                    dir: data_dir.to_owned(),
                    pid: match pid.trim() {
                        "" => "unknown".into(),
                        p => p.to_owned(),
                    },
                });
            }
            return Err(io(error));
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { _file: file, path })
    }

    /// Whether some process holds the lock now (without taking it for long).
    pub fn is_held(data_dir: &Path) -> bool {
        matches!(Self::acquire(data_dir), Err(LockError::Held { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        // flock locks belong to open files, so a second open in this process conflicts too.
        match DataDirLock::acquire(dir.path()) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(DataDirLock::is_held(dir.path()));
        drop(first);
        assert!(!DataDirLock::is_held(dir.path()));
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
