//! The cross-process credential cache behind `credential-process`: one JSON file per request
//! (0600, written atomically) under the user's cache directory, and a lock file beside it so
//! that concurrent cold invocations make exactly one CreateSession.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Credentials;
use crate::files::{create_private_dir, write_atomic, FileError};

/// Why the cache could not be used. Never fatal: callers warn and carry on without it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// A filesystem failure.
    #[error(transparent)]
    File(#[from] FileError),
    /// The entry is not a credentials document.
    #[error("cache entry {} is corrupt ({detail}); it will be replaced", path.display())]
    Corrupt {
        /// The entry.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Locking failed.
    #[error("cannot lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Identifies one cached request: a SHA-256 over everything that changes the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    /// Hashes the parts (certificate fingerprint, ARNs, duration, session name, endpoint, …).
    pub fn new(parts: &[&str]) -> Self {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for part in parts {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        Self(hex::encode(context.finish()))
    }

    /// The key as hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct FileCache {
    dir: PathBuf,
}

/// One entry: the credentials file and its lock file.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    path: PathBuf,
    lock_path: PathBuf,
}

/// Holds the entry's lock until dropped.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

impl FileCache {
    /// A cache in `dir` (created 0700 on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for a key.
    pub fn entry(&self, key: &CacheKey) -> CacheEntry {
        CacheEntry {
            path: self.dir.join(format!("{}.json", key.0)),
            lock_path: self.dir.join(format!("{}.lock", key.0)),
        }
    }
}

impl CacheEntry {
    /// The cached credentials, `None` if there are none.
    pub fn read(&self) -> Result<Option<Credentials>, CacheError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(FileError::Io {
                    action: "read",
                    path: self.path.clone(),
                    source,
                }
                .into())
            }
        };
        Credentials::from_process_json(&text)
            .map(Some)
            .map_err(|detail| CacheError::Corrupt {
                path: self.path.clone(),
                detail,
            })
    }

    /// Stores credentials (atomically, mode 0600).
    pub fn write(&self, credentials: &Credentials) -> Result<(), CacheError> {
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir)?;
        }
        Ok(write_atomic(
            &self.path,
            credentials.to_cache_json().as_bytes(),
            0o600,
        )?)
    }

    /// Takes the entry's exclusive lock, waiting for another process that holds it.
    pub fn lock(&self) -> Result<CacheLock, CacheError> {
        if let Some(dir) = self.lock_path.parent() {
            create_private_dir(dir)?;
        }
        Self::lock_file(&self.lock_path)
    }

    /// Takes an exclusive lock on `path` (created 0600 if missing), waiting for its holder.
    pub fn lock_file(path: &Path) -> Result<CacheLock, CacheError> {
        let lock_error = |source| CacheError::Lock {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(lock_error)?;
        file.lock().map_err(lock_error)?;
        Ok(CacheLock { _file: file })
    }
}
