//! Cursors in files: one JSON file per stream, `{path}/{tenant}/{stream}.json`, replaced
//! atomically (write a temporary file, fsync, rename, fsync the directory) and protected by a
//! SHA-256 of the cursor so that a damaged file is recognised.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{CheckpointError, CheckpointStore};
use crate::graph::cursor::Cursor;
use crate::stream::StreamKind;

const FORMAT: &str = "entrastream-checkpoint/1";

pub struct FileStore {
    directory: PathBuf,
}

#[derive(Serialize)]
struct Document<'a> {
    format: &'a str,
    tenant: &'a str,
    stream: &'a str,
    sha256: String,
    cursor: &'a RawValue,
}

#[derive(Deserialize)]
struct StoredDocument<'a> {
    format: String,
    tenant: String,
    stream: String,
    sha256: String,
    #[serde(borrow)]
    cursor: &'a RawValue,
}

fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
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
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error(&path, "read")(error)),
        };
        let corrupt = |detail: String| CheckpointError::Corrupt {
            path: path.clone(),
            detail,
        };
        let document: StoredDocument = serde_json::from_str(&text)
            .map_err(|error| corrupt(format!("not a checkpoint document: {error}")))?;
        if document.format != FORMAT {
            return Err(corrupt(format!(
                "unknown format {:?}, expected {FORMAT:?}",
                document.format
            )));
        }
        if document.tenant != tenant || document.stream != stream.as_str() {
            return Err(CheckpointError::Foreign {
                path: path.clone(),
                found: format!("tenant {} stream {}", document.tenant, document.stream),
                expected: format!("tenant {tenant} stream {stream}"),
            });
        }
        if sha256_hex(document.cursor.get().as_bytes()) != document.sha256 {
            return Err(corrupt(
                "its checksum does not match its content".to_owned(),
            ));
        }
        let cursor: Cursor = serde_json::from_str(document.cursor.get())
            .map_err(|error| corrupt(format!("unreadable cursor: {error}")))?;
        Ok(Some(cursor))
    }

    fn commit(
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
        let cursor_json =
            serde_json::to_string(cursor).map_err(|error| CheckpointError::Corrupt {
                path: path.clone(),
                detail: format!("cannot serialise the cursor: {error}"),
            })?;
        let cursor_raw =
            RawValue::from_string(cursor_json).map_err(|error| CheckpointError::Corrupt {
                path: path.clone(),
                detail: format!("cannot serialise the cursor: {error}"),
            })?;
        let document = Document {
            format: FORMAT,
            tenant,
            stream: stream.as_str(),
            sha256: sha256_hex(cursor_raw.get().as_bytes()),
            cursor: &cursor_raw,
        };
        let bytes =
            serde_json::to_vec_pretty(&document).map_err(|error| CheckpointError::Corrupt {
                path: path.clone(),
                detail: format!("cannot serialise the checkpoint: {error}"),
            })?;
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
            .commit("t1", StreamKind::Provisioning, &cursor())
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
            .commit("t1", StreamKind::Provisioning, &cursor())
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
