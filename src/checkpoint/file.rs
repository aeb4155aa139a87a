//! Cursors in files, per stream under `{path}/{tenant}/`:
//! - `{stream}.json`, the whole cursor, replaced atomically (write a temporary file, fsync,
//!   rename, fsync the directory) and protected by a SHA-256 of the cursor so that a damaged
//!   file is recognised;
//! - `{stream}.journal`, the deltas committed after it: one line each, appended and fsynced,
//!   naming the document they follow by its SHA-256. A commit then writes what it adds, not
//!   every id held within the lateness horizon again; the pipeline sends a whole cursor again
//!   once the journal holds about as many ids as the cursor, which replaces the document and
//!   starts a new, empty journal with it (the document says so).
//!
//! Loading reads the document and replays its journal. A journal left by a crash after its
//! document was replaced names an older document and is dropped; a last line cut short by a
//! crash was never acknowledged and is dropped; any other damaged line, or a journal missing
//! beside a document that was written with one, stops the stream with the corrupt-checkpoint
//! error (never a silent rewind). A journal with entries is folded into a new document at once.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{CheckpointError, CheckpointStore, CommitFuture, CursorCommit, document};
use crate::clock::Timestamp;
use crate::config::TenantId;
use crate::graph::cursor::{Cursor, CursorDelta};
use crate::stream::StreamKind;

#[derive(Clone)]
pub struct FileStore {
    directory: PathBuf,
    /// Per document path, what this process last wrote or read there.
    bases: Arc<Mutex<HashMap<PathBuf, Base>>>,
}

/// The document a stream's journal entries follow.
#[derive(Clone)]
struct Base {
    /// Its `sha256`.
    sha256: String,
    /// Whether its journal file exists (its directory entry synced).
    journal: bool,
}

/// The journal beside a document.
pub fn journal_of(path: &Path) -> PathBuf {
    path.with_extension("journal")
}

impl FileStore {
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        FileStore {
            directory: directory.into(),
            bases: Arc::default(),
        }
    }

    /// A validated id is a GUID or a domain name: a directory name of its own, inside the store's.
    pub fn path_of(&self, tenant: &TenantId, stream: StreamKind) -> PathBuf {
        self.directory
            .join(tenant.as_str())
            .join(format!("{}.json", stream.as_str()))
    }

    /// The store's directory (`checkpoint.path`).
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// When the stream last committed: the later modification time of its document and journal.
    pub fn last_commit(&self, tenant: &TenantId, stream: StreamKind) -> Option<Timestamp> {
        let path = self.path_of(tenant, stream);
        [path.clone(), journal_of(&path)]
            .iter()
            .filter_map(|file| fs::metadata(file).and_then(|meta| meta.modified()).ok())
            .max()
            .map(Timestamp::from_system_time)
    }

    /// The tenants and streams that have a document or a journal in the directory.
    pub fn stored(&self) -> Result<Vec<(String, StreamKind)>, CheckpointError> {
        let mut found = Vec::new();
        let tenants = match fs::read_dir(&self.directory) {
            Ok(tenants) => tenants,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(error) => return Err(io_error(&self.directory, "list")(error)),
        };
        for tenant in tenants.flatten() {
            let Ok(kind) = tenant.file_type() else {
                continue;
            };
            let Some(tenant_name) = tenant.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !kind.is_dir() {
                continue;
            }
            let files = fs::read_dir(tenant.path()).map_err(io_error(&tenant.path(), "list"))?;
            for file in files.flatten() {
                let name = file.file_name();
                let Some(name) = name.to_str() else {
                    continue;
                };
                let stem = name
                    .strip_suffix(".json")
                    .or_else(|| name.strip_suffix(".journal"));
                if let Some(stream) = stem.and_then(|stem| stem.parse::<StreamKind>().ok())
                    && !found.contains(&(tenant_name.clone(), stream))
                {
                    found.push((tenant_name.clone(), stream));
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Removes the stream's document, then its journal (a crash between the two leaves a journal
    /// without its document, which loading refuses, never a silent rewind); whether there was one.
    pub fn remove(&self, tenant: &TenantId, stream: StreamKind) -> Result<bool, CheckpointError> {
        let path = self.path_of(tenant, stream);
        let journal = journal_of(&path);
        let mut removed = false;
        for file in [&path, &journal] {
            match fs::remove_file(file) {
                Ok(()) => removed = true,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io_error(file, "remove")(error)),
            }
        }
        if removed && let Some(directory) = path.parent() {
            sync_directory(directory)?;
        }
        self.bases.lock().remove(&path);
        Ok(removed)
    }

    /// Writes the whole cursor: a temporary file, fsync, rename, fsync of the directory; then
    /// replaces the journal the new document makes obsolete with an empty one.
    pub fn commit_now(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
        cursor: &Cursor,
    ) -> Result<(), CheckpointError> {
        let path = self.path_of(tenant, stream);
        let directory = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| self.directory.clone());
        fs::create_dir_all(&directory).map_err(io_error(&directory, "create the directory of"))?;
        let (bytes, sha256) = document::encode_with_digest(
            tenant,
            stream,
            cursor,
            true,
            true,
            &path.display().to_string(),
        )?;
        let temporary = path.with_extension("json.tmp");
        {
            let mut file = fs::File::create(&temporary).map_err(io_error(&temporary, "write"))?;
            file.write_all(&bytes)
                .map_err(io_error(&temporary, "write"))?;
            file.sync_all().map_err(io_error(&temporary, "sync"))?;
        }
        fs::rename(&temporary, &path).map_err(io_error(&path, "replace"))?;
        // the rename is durable only once the directory entry is
        sync_directory(&directory)?;
        // the document's own journal, empty, replaces the previous one: a journal left behind (a
        // crash before this) names the previous document and is dropped at loading; a document
        // found without its journal lost its deltas
        let journal = journal_of(&path);
        fs::File::create(&journal)
            .and_then(|file| file.sync_all())
            .map_err(io_error(&journal, "create"))?;
        sync_directory(&directory)?;
        self.bases.lock().insert(
            path,
            Base {
                sha256,
                journal: true,
            },
        );
        Ok(())
    }

    /// Appends `delta` to the journal of the document this process last wrote or read, and
    /// fsyncs it. A write that fails is cut off again, so that the journal never holds half a
    /// line before a whole one.
    pub fn append_now(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
        delta: &CursorDelta,
    ) -> Result<(), CheckpointError> {
        let path = self.path_of(tenant, stream);
        let journal = journal_of(&path);
        let Some(base) = self.bases.lock().get(&path).cloned() else {
            return Err(CheckpointError::Unusable(format!(
                "checkpoint {}: a delta was offered before a whole cursor was written or read",
                path.display()
            )));
        };
        let line = document::encode_delta(
            tenant,
            stream,
            &base.sha256,
            delta,
            &journal.display().to_string(),
        )?;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal)
            .map_err(io_error(&journal, "open"))?;
        let length = file.metadata().map_err(io_error(&journal, "read"))?.len();
        let written = file
            .write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(io_error(&journal, "append to"));
        if let Err(error) = written {
            // whatever part of the line got in is removed; if even that fails, the next load
            // finds it as a cut-off last line
            let _ = file.set_len(length).and_then(|()| file.sync_data());
            return Err(error);
        }
        if !base.journal {
            if let Some(directory) = journal.parent() {
                sync_directory(directory)?;
            }
            if let Some(current) = self.bases.lock().get_mut(&path) {
                current.journal = true;
            }
        }
        Ok(())
    }

    /// Replays the journal of the document with `sha256` into `cursor`; `None` when there is no
    /// journal, the number of lines read otherwise.
    fn replay(
        &self,
        journal: &Path,
        sha256: &str,
        tenant: &TenantId,
        stream: StreamKind,
        cursor: &mut Cursor,
    ) -> Result<Option<usize>, CheckpointError> {
        let text = match fs::read(journal) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error(journal, "read")(error)),
        };
        let location = journal.display().to_string();
        let lines: Vec<&[u8]> = text
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
            .collect();
        for (index, line) in lines.iter().enumerate() {
            let number = index + 1;
            match document::decode_delta(line, tenant, stream, &location) {
                Ok((base, _)) if base != sha256 => {
                    if index == 0 {
                        tracing::info!(
                            journal = location.as_str(),
                            "checkpoint journal follows an earlier document (a crash after the document was replaced); dropped"
                        );
                        return Ok(Some(lines.len()));
                    }
                    return Err(CheckpointError::Corrupt {
                        location,
                        detail: format!("line {number} follows another document than line 1"),
                    });
                }
                Ok((_, delta)) => cursor.apply(&delta),
                Err(CheckpointError::Corrupt { detail, .. }) if number == lines.len() => {
                    // a crash while appending: that commit was never acknowledged
                    tracing::warn!(
                        journal = location.as_str(),
                        line = number,
                        detail = detail.as_str(),
                        "the last line of the checkpoint journal is incomplete (a crash while it was written); dropped"
                    );
                }
                Err(CheckpointError::Corrupt { detail, .. }) => {
                    return Err(CheckpointError::Corrupt {
                        location,
                        detail: format!("line {number}: {detail}"),
                    });
                }
                Err(error) => return Err(error),
            }
        }
        Ok(Some(lines.len()))
    }
}

fn sync_directory(directory: &Path) -> Result<(), CheckpointError> {
    fs::File::open(directory)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error(directory, "sync the directory of"))
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

impl FileStore {
    /// The stream's cursor with its journal replayed, checked as [`CheckpointStore::load`] checks
    /// it, writing nothing: safe beside a running instance (`entrastream checkpoints show`).
    pub fn peek(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        Ok(self.read(tenant, stream)?.map(|read| read.cursor))
    }

    fn read(&self, tenant: &TenantId, stream: StreamKind) -> Result<Option<Read>, CheckpointError> {
        let path = self.path_of(tenant, stream);
        let journal = journal_of(&path);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if journal.exists() {
                    return Err(CheckpointError::Corrupt {
                        location: path.display().to_string(),
                        detail: format!(
                            "it is missing while its journal {} exists",
                            journal.display()
                        ),
                    });
                }
                return Ok(None);
            }
            Err(error) => return Err(io_error(&path, "read")(error)),
        };
        let document::Decoded {
            mut cursor,
            sha256,
            journal: journaled,
        } = document::decode_with_digest(&bytes, tenant, stream, &path.display().to_string())?;
        let lines = self.replay(&journal, &sha256, tenant, stream, &mut cursor)?;
        if lines.is_none() && journaled {
            // never a silent rewind to the document's position (often the stream's origin)
            return Err(CheckpointError::Corrupt {
                location: journal.display().to_string(),
                detail: format!(
                    "the journal of {} is missing: the commits since the cursor was written are lost. \
                     Restore the journal, or remove {} as well to start the stream again from \
                     polling.initial_lookback (what it published since is published again)",
                    path.display(),
                    path.display()
                ),
            });
        }
        Ok(Some(Read {
            cursor,
            sha256,
            lines,
        }))
    }
}

/// A document read and its journal replayed.
struct Read {
    cursor: Cursor,
    sha256: String,
    /// The journal's lines; `None` without a journal.
    lines: Option<usize>,
}

impl CheckpointStore for FileStore {
    fn load(
        &self,
        tenant: &TenantId,
        stream: StreamKind,
    ) -> Result<Option<Cursor>, CheckpointError> {
        let path = self.path_of(tenant, stream);
        let Some(Read {
            cursor,
            sha256,
            lines,
        }) = self.read(tenant, stream)?
        else {
            return Ok(None);
        };
        match lines {
            Some(lines) if lines > 0 => {
                // folded into a new document at once: appends never follow a cut-off line
                self.commit_now(tenant, stream, &cursor)?;
            }
            found => {
                self.bases.lock().insert(
                    path,
                    Base {
                        sha256,
                        journal: found.is_some(),
                    },
                );
            }
        }
        Ok(Some(cursor))
    }

    fn commit(&self, tenant: &TenantId, stream: StreamKind, commit: CursorCommit) -> CommitFuture {
        let store = self.clone();
        let tenant = tenant.to_owned();
        Box::pin(async move {
            let path = store.path_of(&tenant, stream);
            tokio::task::spawn_blocking(move || match commit {
                CursorCommit::Full(cursor) => store.commit_now(&tenant, stream, &cursor),
                CursorCommit::Delta(delta) => store.append_now(&tenant, stream, &delta),
            })
            .await
            .map_err(|error| CheckpointError::Io {
                path,
                action: "commit",
                source: std::io::Error::other(error.to_string()),
            })?
        })
    }

    fn incremental(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("file store at {}", self.directory.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::cursor::IdHash;

    const T1: &str = "contoso.onmicrosoft.com";
    const T2: &str = "fabrikam.onmicrosoft.com";

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).expect("a domain name")
    }

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
                .load(&tenant(T1), StreamKind::Provisioning)
                .expect("loads")
                .is_none()
        );
        store
            .commit_now(&tenant(T1), StreamKind::Provisioning, &cursor())
            .expect("commits");
        assert_eq!(
            store
                .load(&tenant(T1), StreamKind::Provisioning)
                .expect("loads"),
            Some(cursor())
        );
        assert!(
            !store
                .path_of(&tenant(T1), StreamKind::Provisioning)
                .with_extension("json.tmp")
                .exists()
        );
    }

    #[test]
    fn corrupt_and_foreign_checkpoints_stop_with_a_clear_error() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        store
            .commit_now(&tenant(T1), StreamKind::Provisioning, &cursor())
            .expect("commits");
        let path = store.path_of(&tenant(T1), StreamKind::Provisioning);
        let original = fs::read_to_string(&path).expect("reads");

        fs::write(
            &path,
            original.replace("\"watermark\":\"2027", "\"watermark\":\"2028"),
        )
        .expect("writes");
        let tampered = store
            .load(&tenant(T1), StreamKind::Provisioning)
            .unwrap_err()
            .to_string();
        assert!(
            tampered.contains("is corrupt (its checksum does not match its content)"),
            "{tampered}"
        );
        assert!(tampered.contains("it is not reset silently"));

        fs::write(&path, &original[..original.len() / 2]).expect("writes");
        let truncated = store
            .load(&tenant(T1), StreamKind::Provisioning)
            .unwrap_err()
            .to_string();
        assert!(
            truncated.contains("is corrupt (not a checkpoint document"),
            "{truncated}"
        );

        let other = store.path_of(&tenant(T2), StreamKind::Provisioning);
        fs::create_dir_all(other.parent().expect("parent")).expect("mkdir");
        fs::write(&other, &original).expect("writes");
        let foreign = store
            .load(&tenant(T2), StreamKind::Provisioning)
            .unwrap_err()
            .to_string();
        assert!(
            foreign.contains(
                "belongs to tenant contoso.onmicrosoft.com stream provisioning, not to tenant fabrikam.onmicrosoft.com stream provisioning"
            ),
            "{foreign}"
        );
    }

    /// A delta that moves the watermark by `step` seconds and adds `count` ids named `prefix-n`.
    fn delta_after(cursor: &Cursor, step: i64, prefix: &str, count: usize) -> CursorDelta {
        let mut added = crate::graph::cursor::SeenIds::default();
        for number in 0..count {
            added.insert(
                IdHash::of(&format!("{prefix}-{number}")),
                Timestamp::from_secs(1_800_000_000 + step),
            );
        }
        CursorDelta {
            watermark: cursor
                .watermark
                .saturating_add(std::time::Duration::from_secs(step as u64)),
            origin: cursor.origin,
            last_reconcile_started: cursor.last_reconcile_started,
            reconcile: None,
            forget_before: cursor.origin,
            added,
            records_per_hour: None,
        }
    }

    /// A whole cursor, then three deltas; returns the cursor they describe.
    fn journal_of_three(store: &FileStore) -> Cursor {
        let mut live = cursor();
        store
            .commit_now(&tenant(T1), StreamKind::DirectoryAudits, &live)
            .expect("commits");
        for (step, prefix) in [(60, "b"), (120, "c"), (180, "d")] {
            let delta = delta_after(&live, step, prefix, 5);
            store
                .append_now(&tenant(T1), StreamKind::DirectoryAudits, &delta)
                .expect("appends");
            live.apply(&delta);
        }
        live
    }

    fn journal_lines(store: &FileStore) -> Vec<String> {
        let journal = journal_of(&store.path_of(&tenant(T1), StreamKind::DirectoryAudits));
        fs::read_to_string(journal)
            .expect("journal")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn deltas_go_to_a_journal_that_loading_replays_and_folds_into_the_document() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        let live = journal_of_three(&store);
        assert_eq!(live.seen.len(), 16);
        let lines = journal_lines(&store);
        assert_eq!(lines.len(), 3, "one line per delta");
        assert!(
            lines[0].starts_with("{\"format\":\"entrastream-checkpoint-delta/1\",\"tenant\":\"contoso.onmicrosoft.com\",\"stream\":\"directory_audits\",\"base\":"),
            "{}",
            lines[0]
        );
        let document_before =
            fs::read(store.path_of(&tenant(T1), StreamKind::DirectoryAudits)).expect("document");

        // a new process: the journal replayed, then folded into a new document
        let restarted = FileStore::new(directory.path());
        let loaded = restarted
            .load(&tenant(T1), StreamKind::DirectoryAudits)
            .expect("loads")
            .expect("a cursor");
        assert_eq!(loaded, live);
        let path = restarted.path_of(&tenant(T1), StreamKind::DirectoryAudits);
        assert_eq!(
            fs::read(journal_of(&path)).expect("journal"),
            b"",
            "folded into the document, whose journal starts empty"
        );
        assert_ne!(fs::read(&path).expect("document"), document_before);
        // appends follow the new document
        let delta = delta_after(&loaded, 240, "e", 2);
        restarted
            .append_now(&tenant(T1), StreamKind::DirectoryAudits, &delta)
            .expect("appends");
        let mut expected = loaded.clone();
        expected.apply(&delta);
        let again = FileStore::new(directory.path())
            .load(&tenant(T1), StreamKind::DirectoryAudits)
            .expect("loads");
        assert_eq!(again, Some(expected));
    }

    #[test]
    fn a_last_line_cut_off_by_a_crash_is_dropped_and_nothing_before_it() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        let live = journal_of_three(&store);
        let journal = journal_of(&store.path_of(&tenant(T1), StreamKind::DirectoryAudits));
        let text = fs::read(&journal).expect("journal");
        let lines = journal_lines(&store);
        let two_lines = lines[0].len() + lines[1].len() + 2;
        // the third line cut at every tenth byte, and with its newline but a damaged checksum
        let mut damaged_third = lines[2].clone().into_bytes();
        let position = damaged_third.len() - 10;
        damaged_third[position] = if damaged_third[position] == b'a' {
            b'b'
        } else {
            b'a'
        };
        damaged_third.push(b'\n');
        let mut variants: Vec<Vec<u8>> = (two_lines + 1..text.len() - 1)
            .step_by(10)
            .map(|cut| text[..cut].to_vec())
            .collect();
        variants.push([&text[..two_lines], &damaged_third[..]].concat());
        assert!(variants.len() > 10);
        // what the first two deltas describe
        let mut first_two = cursor();
        for (step, prefix) in [(60, "b"), (120, "c")] {
            let delta = delta_after(&first_two, step, prefix, 5);
            first_two.apply(&delta);
        }
        assert_ne!(first_two, live);
        for variant in variants {
            store
                .commit_now(&tenant(T1), StreamKind::DirectoryAudits, &cursor())
                .expect("commits");
            // the same document as when the journal was written: same digest
            fs::write(&journal, &variant).expect("writes");
            let loaded = FileStore::new(directory.path())
                .load(&tenant(T1), StreamKind::DirectoryAudits)
                .expect("loads");
            assert_eq!(loaded.as_ref(), Some(&first_two), "{} bytes", variant.len());
        }
    }

    #[test]
    fn a_damaged_line_before_the_last_stops_with_the_corrupt_checkpoint_error() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        journal_of_three(&store);
        let journal = journal_of(&store.path_of(&tenant(T1), StreamKind::DirectoryAudits));
        let lines = journal_lines(&store);
        let damaged = format!(
            "{}\n{}\n{}\n",
            lines[0],
            lines[1].replacen("\"watermark\":\"2027", "\"watermark\":\"2029", 1),
            lines[2]
        );
        assert!(!damaged.contains(&lines[1]), "line 2 was changed");
        fs::write(&journal, &damaged).expect("writes");
        let error = FileStore::new(directory.path())
            .load(&tenant(T1), StreamKind::DirectoryAudits)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!(
                "checkpoint {} is corrupt (line 2: a journal entry's checksum does not match its content)",
                journal.display()
            )),
            "{error}"
        );
        assert!(error.contains("it is not reset silently"), "{error}");

        // a journal copied from another tenant
        fs::write(
            &journal,
            lines.join("\n").replace(
                "\"tenant\":\"contoso.onmicrosoft.com\"",
                "\"tenant\":\"northwind.onmicrosoft.com\"",
            ),
        )
        .expect("writes");
        let foreign = FileStore::new(directory.path())
            .load(&tenant(T1), StreamKind::DirectoryAudits)
            .unwrap_err()
            .to_string();
        assert!(
            foreign.contains(
                "belongs to tenant northwind.onmicrosoft.com stream directory_audits, not to tenant contoso.onmicrosoft.com stream directory_audits"
            ),
            "{foreign}"
        );

        // a journal without its document
        fs::remove_file(store.path_of(&tenant(T1), StreamKind::DirectoryAudits)).expect("removes");
        let orphan = FileStore::new(directory.path())
            .load(&tenant(T1), StreamKind::DirectoryAudits)
            .unwrap_err()
            .to_string();
        assert!(
            orphan.contains("is missing while its journal") && orphan.contains("is corrupt"),
            "{orphan}"
        );
    }

    #[test]
    fn a_journal_left_behind_by_a_newer_document_is_dropped() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        let live = journal_of_three(&store);
        let journal = journal_of(&store.path_of(&tenant(T1), StreamKind::DirectoryAudits));
        let left_behind = fs::read(&journal).expect("journal");
        // the whole cursor replaces the document; a crash before the journal was removed
        let mut newer = live.clone();
        newer.watermark = newer
            .watermark
            .saturating_add(std::time::Duration::from_secs(600));
        store
            .commit_now(&tenant(T1), StreamKind::DirectoryAudits, &newer)
            .expect("commits");
        assert_eq!(
            fs::read(&journal).expect("journal"),
            b"",
            "a new, empty journal"
        );
        fs::write(&journal, &left_behind).expect("writes");
        let loaded = FileStore::new(directory.path())
            .load(&tenant(T1), StreamKind::DirectoryAudits)
            .expect("loads");
        assert_eq!(loaded, Some(newer));
        assert_eq!(fs::read(&journal).expect("journal"), b"", "dropped");
    }

    #[test]
    fn a_missing_journal_stops_with_the_corrupt_checkpoint_error_instead_of_rewinding() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        journal_of_three(&store);
        let path = store.path_of(&tenant(T1), StreamKind::DirectoryAudits);
        fs::remove_file(journal_of(&path)).expect("removes");
        let refused = FileStore::new(directory.path())
            .load(&tenant(T1), StreamKind::DirectoryAudits)
            .expect_err("refused")
            .to_string();
        let path_text = path.display().to_string();
        assert!(
            refused.contains(&format!(
                "the journal of {path_text} is missing: the commits since the cursor was written are lost. \
                 Restore the journal, or remove {path_text} as well to start the stream again from \
                 polling.initial_lookback (what it published since is published again)"
            )),
            "{refused}"
        );
        // and stays refused: nothing was rewritten
        assert!(
            FileStore::new(directory.path())
                .load(&tenant(T1), StreamKind::DirectoryAudits)
                .is_err()
        );
    }

    #[test]
    fn a_document_written_before_journals_came_with_it_loads_without_one() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        let path = store.path_of(&tenant(T1), StreamKind::DirectoryAudits);
        let (bytes, _) = document::encode_with_digest(
            &tenant(T1),
            StreamKind::DirectoryAudits,
            &cursor(),
            true,
            false,
            "test",
        )
        .expect("encodes");
        fs::create_dir_all(path.parent().expect("directory")).expect("directory");
        fs::write(&path, bytes).expect("writes");
        assert_eq!(
            FileStore::new(directory.path())
                .load(&tenant(T1), StreamKind::DirectoryAudits)
                .expect("loads"),
            Some(cursor())
        );
    }

    #[test]
    fn a_delta_needs_a_whole_cursor_first() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(directory.path());
        let error = store
            .append_now(
                &tenant(T1),
                StreamKind::DirectoryAudits,
                &delta_after(&cursor(), 60, "b", 1),
            )
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("a delta was offered before a whole cursor was written or read"),
            "{error}"
        );
    }
}
