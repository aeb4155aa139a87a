//! Reading the files the configuration names (secrets, certificates, CA bundles, the federated
//! token file, the configuration itself) with a size limit enforced while reading: a key pointed
//! at `/dev/zero`, a FIFO or a huge file stops at the limit instead of growing memory.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The most a secret, certificate, CA bundle or federated token file may hold.
pub const CREDENTIAL_FILE_LIMIT: u64 = 1024 * 1024;
/// The most a configuration file may hold.
pub const CONFIG_FILE_LIMIT: u64 = 16 * 1024 * 1024;

/// A configured file that cannot be used.
#[derive(Debug)]
pub struct FileError {
    /// The configuration key that names the file (`tls.ca_file`).
    pub key: String,
    /// What the file is, for the message (`the CA bundle`).
    pub what: &'static str,
    pub path: PathBuf,
    pub problem: FileProblem,
}

#[derive(Debug)]
pub enum FileProblem {
    Unreadable(std::io::Error),
    /// More than `limit` bytes.
    TooLarge {
        limit: u64,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (key, what, path) = (&self.key, self.what, self.path.display());
        match &self.problem {
            FileProblem::Unreadable(error) => {
                write!(formatter, "{key}: cannot read {what} {path}: {error}")
            }
            FileProblem::TooLarge { limit } => write!(
                formatter,
                "{key}: {what} {path} is larger than {}, the most entrastream reads there; point \
                 {key} at the intended file",
                size_text(*limit)
            ),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            FileProblem::Unreadable(error) => Some(error),
            FileProblem::TooLarge { .. } => None,
        }
    }
}

/// `1 MiB (1048576 bytes)`, or the bytes alone when not a whole number of MiB.
pub fn size_text(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB ({bytes} bytes)", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The file at `path`, named by `key` and described as `what` in errors, if it holds at most
/// `limit` bytes. At most `limit + 1` bytes are ever read.
pub fn read_limited(
    key: &str,
    what: &'static str,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, FileError> {
    let error = |problem| FileError {
        key: key.to_owned(),
        what,
        path: path.to_owned(),
        problem,
    };
    let file =
        std::fs::File::open(path).map_err(|source| error(FileProblem::Unreadable(source)))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| error(FileProblem::Unreadable(source)))?;
    if bytes.len() as u64 > limit {
        return Err(error(FileProblem::TooLarge { limit }));
    }
    Ok(bytes)
}

/// [`read_limited`] for a text file (UTF-8).
pub fn read_text_limited(
    key: &str,
    what: &'static str,
    path: &Path,
    limit: u64,
) -> Result<String, FileError> {
    let bytes = read_limited(key, what, path, limit)?;
    String::from_utf8(bytes).map_err(|_| FileError {
        key: key.to_owned(),
        what,
        path: path.to_owned(),
        problem: FileProblem::Unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not UTF-8 text",
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_up_to_its_limit_and_refused_beyond() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("ten");
        std::fs::write(&path, b"0123456789").expect("write");
        assert_eq!(
            read_limited("k", "the file", &path, 10).expect("ten bytes fit"),
            b"0123456789"
        );
        let refused = read_limited("k", "the file", &path, 9).expect_err("too large");
        assert_eq!(
            refused.to_string(),
            format!(
                "k: the file {} is larger than 9 bytes, the most entrastream reads there; point k at \
                 the intended file",
                path.display()
            )
        );
        let endless = read_limited(
            "tls.ca_file",
            "the CA bundle",
            Path::new("/dev/zero"),
            1 << 20,
        )
        .expect_err("endless");
        assert_eq!(
            endless.to_string(),
            "tls.ca_file: the CA bundle /dev/zero is larger than 1 MiB (1048576 bytes), the most \
             entrastream reads there; point tls.ca_file at the intended file"
        );
        let missing = read_text_limited("k", "the file", &directory.path().join("absent"), 10)
            .expect_err("absent");
        assert!(
            missing.to_string().starts_with(&format!(
                "k: cannot read the file {}: ",
                directory.path().join("absent").display()
            )),
            "{missing}"
        );
        std::fs::write(&path, [0xff, 0xfe]).expect("write");
        assert_eq!(
            read_text_limited("k", "the file", &path, 10)
                .expect_err("binary")
                .to_string(),
            format!(
                "k: cannot read the file {}: it is not UTF-8 text",
                path.display()
            )
        );
    }
}
