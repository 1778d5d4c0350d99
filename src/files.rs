//! Writing files that may hold secrets: atomically (temp file + rename), with the right mode,
//! and never over an existing key unless asked.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Refused to overwrite a key.
    #[error("{} already exists; pass --force to overwrite it", path.display())]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// I/O failure.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |source| FileError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Writes a secret (mode 0600); refuses to replace an existing file unless `force`.
pub fn write_secret(path: &Path, contents: &[u8], force: bool) -> Result<(), FileError> {
    if path.exists() && !force {
        return Err(FileError::Exists {
            path: path.to_owned(),
        });
    }
    write_atomic(path, contents, 0o600)
}

/// Writes a public file (mode 0644); `replace` allows overwriting.
pub fn write_new(path: &Path, contents: &[u8], replace: bool) -> Result<(), FileError> {
    if path.exists() && !replace {
        return Err(FileError::Exists {
            path: path.to_owned(),
        });
    }
    write_atomic(path, contents, 0o644)
}

/// Writes `contents` to a temporary file beside `path` with `mode`, syncs it, and renames it
/// into place, so readers never see a partial file. Errors name `path`, not the temporary file,
/// which is removed on failure.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), FileError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Private files get private parents.
    create_dir_with_mode(dir, if mode & 0o077 == 0 { 0o700 } else { 0o755 })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(io_error("write", path))?;
        file.write_all(contents).map_err(io_error("write", path))?;
        file.sync_all().map_err(io_error("write", path))?;
        fs::rename(&temp, path).map_err(io_error("replace", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Creates a directory (and parents) readable only by the owner, for files with secrets.
pub fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    create_dir_with_mode(dir, 0o700)
}

/// Creates a directory and any missing parents with an explicit mode, rather than 0777 less the
/// umask (which may be 000).
fn create_dir_with_mode(dir: &Path, mode: u32) -> Result<(), FileError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(io_error("create directory", dir))
}

/// Reads a UTF-8 file.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    fs::read_to_string(path).map_err(io_error("read", path))
}

/// Removes a file if it exists.
pub fn remove_if_exists(path: &Path) -> Result<(), FileError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("remove", path)(e)),
        _ => Ok(()),
    }
}
