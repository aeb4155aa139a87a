//! The file store's lock: `run` holds an advisory lock on `{checkpoint.path}/entrastream.lock`
//! for its lifetime, so that a second instance on the same directory, or `entrastream
//! checkpoints rewind|reset` while one runs, is refused instead of interleaving its commits with
//! the running one's. The lock is the operating system's (`flock` on Unix, `LockFileEx` on
//! Windows): it goes with the process, so a killed instance leaves no stale lock behind. The
//! file's text names the holder, for the refusal's message; it is never trusted as the lock.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::CheckpointError;

/// The lock file's name inside `checkpoint.path`.
pub const LOCK_FILE: &str = "entrastream.lock";

/// Held while it lives; dropping it (or the process ending) releases the lock.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes the lock of the file store at `directory` for `holder` (what the process is doing,
    /// as `entrastream run`), creating the directory when needed; refuses when another process
    /// holds it, naming that process and the fix.
    pub fn acquire(directory: &Path, holder: &str) -> Result<StateLock, CheckpointError> {
        fs::create_dir_all(directory).map_err(|source| CheckpointError::Io {
            path: directory.to_owned(),
            action: "create the directory of",
            source,
        })?;
        let path = directory.join(LOCK_FILE);
        let io_error = |action: &'static str| {
            let path = path.clone();
            move |source| CheckpointError::Io {
                path,
                action,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error("open the lock of"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(CheckpointError::Locked(Holder {
                    directory: directory.to_owned(),
                    lock_file: path,
                    holder: text.trim().to_owned(),
                }));
            }
            Err(TryLockError::Error(source)) => {
                return Err(io_error("lock")(source));
            }
        }
        let description = format!(
            "{holder} (pid {}, host {}, since {})",
            std::process::id(),
            super::kafka::host_name(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(description.as_bytes()))
            .and_then(|()| file.write_all(b"\n"))
            .map_err(io_error("write the lock of"))?;
        Ok(StateLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds a file store's lock, as its lock file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub directory: PathBuf,
    pub lock_file: PathBuf,
    /// The holder's own description (`entrastream run (pid 4242, host collector-0, since …)`),
    /// empty when it had not written it yet.
    pub holder: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let holder = if self.holder.is_empty() {
            "another process"
        } else {
            self.holder.as_str()
        };
        write!(
            formatter,
            "checkpoint.path {} is in use by {holder}, which holds {}; stop that instance first (only one \
             entrastream may use a checkpoint directory), or give this one its own checkpoint.path",
            self.directory.display(),
            self.lock_file.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name_until_it_lets_go() {
        let directory = tempfile::tempdir().expect("tempdir");
        let state = directory.path().join("state");
        let first = StateLock::acquire(&state, "entrastream run").expect("locks");
        assert_eq!(first.path(), state.join(LOCK_FILE));
        let refused = StateLock::acquire(&state, "entrastream checkpoints reset").unwrap_err();
        let CheckpointError::Locked(holder) = &refused else {
            panic!("{refused}");
        };
        assert!(
            holder.holder.starts_with(&format!(
                "entrastream run (pid {}, host ",
                std::process::id()
            )),
            "{holder:?}"
        );
        assert!(
            refused.to_string().starts_with(&format!(
                "checkpoint.path {} is in use by entrastream run (pid {}",
                state.display(),
                std::process::id()
            )),
            "{refused}"
        );
        drop(first);
        let second = StateLock::acquire(&state, "entrastream checkpoints reset").expect("locks");
        let text = fs::read_to_string(second.path()).expect("reads");
        assert!(
            text.starts_with("entrastream checkpoints reset (pid "),
            "{text}"
        );
    }
}
