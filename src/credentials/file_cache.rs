//! The cross-process credential cache behind `credential-process`: one JSON file per request
//! (0600, written atomically) under the user's cache directory, and a lock file beside it so
//! that concurrent cold invocations make exactly one CreateSession.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::cache_key::CacheKey;
use crate::aws_credentials::Credentials;
use crate::files::{self, create_private_dir, write_atomic, FileError};

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
    /// The directory or a file in it could be written by someone else.
    #[error("not using the cache: {} {reason}", path.display())]
    Untrusted {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
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

/// This process's effective uid.
fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Opens `path` without following a final symlink.
fn open_no_follow(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    options
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Refuses a file or directory that this user does not own, or that others may write (or,
/// with `private`, access at all).
fn check_owner(path: &Path, meta: &std::fs::Metadata, private: bool) -> Result<(), CacheError> {
    use std::os::unix::fs::MetadataExt;
    let untrusted = |reason: String| CacheError::Untrusted {
        path: path.to_owned(),
        reason,
    };
    if meta.uid() != euid() {
        return Err(untrusted(format!(
            "is owned by uid {}, not by this user (uid {}); remove it or pass another --cache-dir",
            meta.uid(),
            euid()
        )));
    }
    let open_to_others = meta.mode() & if private { 0o077 } else { 0o022 };
    if open_to_others != 0 {
        return Err(untrusted(format!(
            "has mode {:o}, open to other users; chmod {} it",
            meta.mode() & 0o777,
            if private { "0700" } else { "go-w" }
        )));
    }
    Ok(())
}

impl FileCache {
    /// Opens the cache in `dir`, creating it 0700 if it is missing. Security: an existing
    /// directory is used only if it is a directory (not a symlink) owned by this user with no
    /// group or other access, since anyone who can write it could plant credentials.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let dir = dir.into();
        let meta = match std::fs::symlink_metadata(&dir) {
            // Missing, or a path through a file: creating it says which.
            Err(_) => {
                create_private_dir(&dir)?;
                std::fs::symlink_metadata(&dir)
            }
            other => other,
        }
        .map_err(|source| FileError::Io {
            action: "inspect",
            path: dir.clone(),
            source,
        })?;
        if !meta.file_type().is_dir() {
            return Err(CacheError::Untrusted {
                path: dir,
                reason: "is not a directory (or is a symlink); pass another --cache-dir".into(),
            });
        }
        check_owner(&dir, &meta, true)?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for a key.
    pub fn entry(&self, key: &CacheKey) -> CacheEntry {
        CacheEntry {
            path: self.dir.join(format!("{}.json", key.as_str())),
            lock_path: self.dir.join(format!("{}.lock", key.as_str())),
        }
    }
}

impl CacheEntry {
    /// The cached credentials, `None` if there are none.
    pub fn read(&self) -> Result<Option<Credentials>, CacheError> {
        let opened = open_no_follow(OpenOptions::new().read(true), &self.path).and_then(|file| {
            let meta = file.metadata()?;
            Ok((file, meta))
        });
        let text = match opened {
            Ok((mut file, meta)) => {
                check_owner(&self.path, &meta, true)?;
                let mut text = String::new();
                io::Read::read_to_string(&mut file, &mut text).map_err(|source| FileError::Io {
                    action: "read",
                    path: self.path.clone(),
                    source,
                })?;
                zeroize::Zeroizing::new(text)
            }
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
                detail: detail.to_string(),
            })
    }

    /// Stores credentials (atomically, mode 0600; the rename replaces a planted symlink rather
    /// than following it).
    pub fn write(&self, credentials: &Credentials) -> Result<(), CacheError> {
        Ok(write_atomic(
            &self.path,
            credentials.to_cache_json().as_bytes(),
            0o600,
        )?)
    }

    /// Deletes the entry and its lock file (logout); missing files are fine.
    pub fn remove(&self) -> Result<(), CacheError> {
        files::remove_if_exists(&self.path)?;
        Ok(files::remove_if_exists(&self.lock_path)?)
    }

    /// Takes the entry's exclusive lock, waiting for another process that holds it.
    pub fn lock(&self) -> Result<CacheLock, CacheError> {
        Self::lock_file(&self.lock_path)
    }

    /// Takes an exclusive lock on `path` (created 0600 if missing), waiting for its holder. A
    /// symlink is not followed, and a lock file of another user is refused.
    pub fn lock_file(path: &Path) -> Result<CacheLock, CacheError> {
        let lock_error = |source| CacheError::Lock {
            path: path.to_owned(),
            source,
        };
        let file = open_no_follow(
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600),
            path,
        )
        .map_err(lock_error)?;
        check_owner(path, &file.metadata().map_err(lock_error)?, false)?;
        file.lock().map_err(lock_error)?;
        Ok(CacheLock { _file: file })
    }
}
