//! Cursors in files: one JSON file per stream, `{path}/{tenant}/{stream}.json`, replaced
//! atomically (write a temporary file, fsync, rename, fsync the directory) and protected by a
//! SHA-256 of the cursor so that a damaged file is recognised.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{CheckpointError, CheckpointStore, CommitFuture, document};
use crate::graph::cursor::Cursor;
use crate::stream::StreamKind;

#[derive(Clone)]
pub struct FileStore {
    directory: PathBuf,
}

/// A tenant id as a directory name: GUIDs and domains stay as they are.
fn safe_name(tenant: &str) -> String {
    tenant
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || matches!(character, '.' | '-' | '_') {
                character
            } else {
                '_'
            }
        })
        .collect()
}

impl FileStore {
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        FileStore {
            directory: directory.into(),
        }
    }

    pub fn path_of(&self, tenant: &str, stream: StreamKind) -> PathBuf {
        self.directory
            .join(safe_name(tenant))
            .join(format!("{}.json", stream.as_str()))
    }

    /// Writes the cursor: a temporary file, fsync, rename, fsync of the directory.
    pub fn commit_now(
        &self,
        tenant: &str,
        stream: StreamKind,
        cursor: &Cursor,
    ) -> Result<(), CheckpointError> {
        let path = self.path_of(tenant, stream);
        let directory = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| self.directory.clone());
        fs::create_dir_all(&directory).map_err(io_error(&directory, "create the directory of"))?;
        let bytes = document::encode(tenant, stream, cursor, true, &path.display().to_string())?;
        let temporary = path.with_extension("json.tmp");
        {
            let mut file = fs::File::create(&temporary).map_err(io_error(&temporary, "write"))?;
            file.write_all(&bytes)
                .map_err(io_error(&temporary, "write"))?;
            file.sync_all().map_err(io_error(&temporary, "sync"))?;
        }
        fs::rename(&temporary, &path).map_err(io_error(&path, "replace"))?;
        // the rename is durable only once the directory entry is
        fs::File::open(&directory)
            .and_then(|handle| handle.sync_all())
            .map_err(io_error(&directory, "sync the directory of"))?;
        Ok(())
    }
}

fn io_error<'p>(
    path: &'p Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> CheckpointError + 'p {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

impl CheckpointStore for FileStore {
    fn load(&self, tenant: &str, stream: StreamKind) -> Result<Option<Cursor>, CheckpointError> {
        let path = self.path_of(tenant, stream);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error(&path, "read")(error)),
        };
        document::decode(&bytes, tenant, stream, &path.display().to_string()).map(Some)
    }

    fn commit(&self, tenant: &str, stream: StreamKind, cursor: Cursor) -> CommitFuture {
        let store = self.clone();
        let tenant = tenant.to_owned();
        Box::pin(async move {
            let path = store.path_of(&tenant, stream);
            tokio::task::spawn_blocking(move || store.commit_now(&tenant, stream, &cursor))
                .await
                .map_err(|error| CheckpointError::Io {
                    path,
                    action: "commit",
                    source: std::io::Error::other(error.to_string()),
                })?
        })
    }

    fn describe(&self) -> String {
        format!("file store at {}", self.directory.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::graph::cursor::IdHash;

    fn cursor() -> Cursor {
        let mut cursor = Cursor::start(
            Timestamp::from_secs(1_800_000_000),
            Timestamp::from_secs(1_800_003_600),
        );
        cursor
            .seen
            .insert(IdHash::of("a"), Timestamp::from_secs(1_800_000_100));
        cursor
    }

    #[test]
    fn commits_survive_and_round_trip() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        assert!(
            store
                .load("t1", StreamKind::Provisioning)
                .expect("loads")
                .is_none()
        );
        store
            .commit_now("t1", StreamKind::Provisioning, &cursor())
            .expect("commits");
        assert_eq!(
            store.load("t1", StreamKind::Provisioning).expect("loads"),
            Some(cursor())
        );
        assert!(
            !store
                .path_of("t1", StreamKind::Provisioning)
                .with_extension("json.tmp")
                .exists()
        );
    }

    #[test]
    fn corrupt_and_foreign_checkpoints_stop_with_a_clear_error() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        store
            .commit_now("t1", StreamKind::Provisioning, &cursor())
            .expect("commits");
        let path = store.path_of("t1", StreamKind::Provisioning);
        let original = fs::read_to_string(&path).expect("reads");

        fs::write(
            &path,
            original.replace("\"watermark\":\"2027", "\"watermark\":\"2028"),
        )
        .expect("writes");
        let tampered = store
            .load("t1", StreamKind::Provisioning)
            .unwrap_err()
            .to_string();
        assert!(
            tampered.contains("is corrupt (its checksum does not match its content)"),
            "{tampered}"
        );
        assert!(tampered.contains("it is not reset silently"));

        fs::write(&path, &original[..original.len() / 2]).expect("writes");
        let truncated = store
            .load("t1", StreamKind::Provisioning)
            .unwrap_err()
            .to_string();
        assert!(
            truncated.contains("is corrupt (not a checkpoint document"),
            "{truncated}"
        );

        let other = store.path_of("t2", StreamKind::Provisioning);
        fs::create_dir_all(other.parent().expect("parent")).expect("mkdir");
        fs::write(&other, &original).expect("writes");
        let foreign = store
            .load("t2", StreamKind::Provisioning)
            .unwrap_err()
            .to_string();
        assert!(
            foreign.contains(
                "belongs to tenant t1 stream provisioning, not to tenant t2 stream provisioning"
            ),
            "{foreign}"
        );
    }
}
