//! Writing a profile into the AWS shared credentials file while preserving every other byte:
//! comments, other profiles, their order, unknown keys and the file's line endings; the whole
//! rewrite happens under `<file>.lock`, so concurrent writers lose nothing.

use std::path::{Path, PathBuf};

use super::file_cache::{CacheEntry, CacheError};
use crate::aws_credentials::Credentials;
use crate::files::FileError;

/// Why the credentials file cannot be updated.
#[derive(Debug, thiserror::Error)]
pub enum SharedFileError {
    /// A profile name the file format cannot hold.
    #[error("--aws-profile {profile:?} cannot be a section name in {}; use letters, digits and '-', '_' or '.'", path.display())]
    ProfileName {
        /// The name.
        profile: String,
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read as text.
    #[error("cannot read the credentials file {} (--credentials-file): {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (in the message, so not also a source).
        error: std::io::Error,
    },
    /// The lock could not be taken.
    #[error(transparent)]
    Lock(#[from] CacheError),
    /// The directory or the new file could not be written.
    #[error(transparent)]
    File(#[from] FileError),
    /// A value would change the file's structure.
    #[error("cannot update {}: {error}", path.display())]
    Unsafe {
        /// The file.
        path: PathBuf,
        /// The refused key.
        error: UnsafeValue,
    },
}

/// Refuses, before any CreateSession, a profile name the file format cannot hold and a
/// credentials file that cannot be updated (a directory, unreadable, not UTF-8).
pub fn check_target(path: &Path, profile: &str) -> Result<(), SharedFileError> {
    if profile.is_empty() || profile.trim() != profile || profile.contains(['[', ']', '\n', '\r']) {
        return Err(SharedFileError::ProfileName {
            profile: profile.to_owned(),
            path: path.to_owned(),
        });
    }
    read_existing(path).map(drop)
}

/// The file's text; empty when it does not exist yet.
fn read_existing(path: &Path) -> Result<String, SharedFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(SharedFileError::Read {
            path: path.to_owned(),
            error,
        }),
    }
}

/// Rewrites `profile` in `path` under `<path>.lock`, atomically and 0600, creating the
/// directory (a fresh machine has no `~/.aws`) first.
pub fn write_profile(
    path: &Path,
    profile: &str,
    credentials: &Credentials,
) -> Result<(), SharedFileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir)?;
    }
    let lock_target = PathBuf::from(format!("{}.lock", path.display()));
    let _lock = CacheEntry::lock_file(&lock_target)?;
    let text = read_existing(path)?;
    let updated =
        zeroize::Zeroizing::new(set_profile(&text, profile, credentials).map_err(|error| {
            SharedFileError::Unsafe {
                path: path.to_owned(),
                error,
            }
        })?);
    crate::files::write_atomic(path, updated.as_bytes(), 0o600)?;
    tracing::info!(
        file = %path.display(),
        profile,
        access_key_id = credentials.access_key_id(),
        "credentials written, valid until {}",
        crate::time_format::rfc3339(credentials.expiration())
    );
    Ok(())
}

/// The keys `update` owns in its profile.
const KEYS: [&str; 3] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];

pub(super) fn section_name(line: &str) -> Option<&str> {
    let trimmed = line.trim();
    trimmed.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

pub(super) fn key_of(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with(['#', ';'])).then(|| key.to_ascii_lowercase())
}

/// A value that would change the file's structure if written (a second line of defence behind
/// [`crate::aws_credentials::check_fields`]).
#[derive(Debug, thiserror::Error)]
#[error("refusing to write {key}: the value holds a line break or a bracket, which would add lines or sections to the credentials file")]
pub struct UnsafeValue {
    /// The key whose value was refused (never the value).
    pub key: &'static str,
}

/// Returns `text` with `profile`'s three credential keys set to `credentials`, or refuses a
/// value holding CR, LF, `[` or `]`.
pub fn set_profile(
    text: &str,
    profile: &str,
    credentials: &Credentials,
) -> Result<String, UnsafeValue> {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let values = [
        credentials.access_key_id().to_owned(),
        credentials.secret_access_key().expose_secret().to_owned(),
        credentials.session_token().expose_secret().to_owned(),
    ];
    // Security: a line break here would let the endpoint write any profile, for example a
    // `credential_process` that botocore runs.
    if let Some(index) = values
        .iter()
        .position(|v| v.contains(['\r', '\n', '[', ']']))
    {
        return Err(UnsafeValue { key: KEYS[index] });
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len() + 256);
    let mut in_target = false;
    let mut found_section = false;
    let mut written = [false; 3];
    let flush_missing = |out: &mut String, written: &mut [bool; 3]| {
        for (i, key) in KEYS.iter().enumerate() {
            if !written[i] {
                out.push_str(&format!("{key} = {}{newline}", values[i]));
                written[i] = true;
            }
        }
    };
    for line in &lines {
        if let Some(name) = section_name(line) {
            if in_target {
                flush_missing(&mut out, &mut written);
            }
            in_target = name == profile;
            found_section |= in_target;
        } else if in_target {
            if let Some(index) =
                key_of(line).and_then(|k| KEYS.iter().position(|owned| *owned == k))
            {
                let ending = if line.ends_with("\r\n") {
                    "\r\n"
                } else if line.ends_with('\n') {
                    "\n"
                } else {
                    ""
                };
                out.push_str(&format!("{} = {}{ending}", KEYS[index], values[index]));
                written[index] = true;
                continue;
            }
        }
        out.push_str(line);
    }
    if in_target {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(newline);
        }
        flush_missing(&mut out, &mut written);
    }
    if !found_section {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(newline);
        }
        if !out.is_empty() {
            out.push_str(newline);
        }
        out.push_str(&format!("[{profile}]{newline}"));
        flush_missing(&mut out, &mut written);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;

    fn creds() -> Credentials {
        Credentials::new(
            "ASIANEW".into(),
            SecretString::new("new-secret".into()),
            SecretString::new("new-token".into()),
            time::macros::datetime!(2030-01-01 00:00:00 UTC),
        )
    }

    #[test]
    fn only_the_target_profiles_keys_change() {
        let before = "# top comment\r\n[a]\r\naws_access_key_id = A\r\n\r\n[ra]\r\n; keep me\r\naws_access_key_id=OLD\r\nregion = eu-west-1\r\naws_session_token = OLDT\r\n[b]\r\nx = 1\r\n";
        let after = set_profile(before, "ra", &creds()).unwrap();
        assert_eq!(
            after,
            "# top comment\r\n[a]\r\naws_access_key_id = A\r\n\r\n[ra]\r\n; keep me\r\naws_access_key_id = ASIANEW\r\nregion = eu-west-1\r\naws_session_token = new-token\r\naws_secret_access_key = new-secret\r\n[b]\r\nx = 1\r\n"
        );
    }

    #[test]
    fn a_missing_profile_is_appended() {
        assert_eq!(
            set_profile("[a]\nk = v", "ra", &creds()).unwrap(),
            "[a]\nk = v\n\n[ra]\naws_access_key_id = ASIANEW\naws_secret_access_key = new-secret\naws_session_token = new-token\n"
        );
        assert_eq!(
            set_profile("", "ra", &creds()).unwrap(),
            "[ra]\naws_access_key_id = ASIANEW\naws_secret_access_key = new-secret\naws_session_token = new-token\n"
        );
    }

    #[test]
    fn values_that_would_add_lines_or_sections_are_refused() {
        for token in ["t\n[prod]", "t\r", "t[", "t]"] {
            let injected = Credentials::new(
                "ASIANEW".into(),
                SecretString::new("s".into()),
                SecretString::new(token.into()),
                time::macros::datetime!(2030-01-01 00:00:00 UTC),
            );
            let error = set_profile("", "ra", &injected).unwrap_err();
            assert_eq!(error.key, "aws_session_token");
            assert!(!error.to_string().contains("prod"));
        }
    }

    #[test]
    fn a_target_section_at_the_end_gets_its_keys() {
        assert_eq!(
            set_profile("[ra]\nregion = x\n", "ra", &creds()).unwrap(),
            "[ra]\nregion = x\naws_access_key_id = ASIANEW\naws_secret_access_key = new-secret\naws_session_token = new-token\n"
        );
    }
}
