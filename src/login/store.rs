//! Where a login's results live, and the profile lines that point at them: the key (0600),
//! certificate and chain under `$XDG_DATA_HOME/tessera/login/<profile>/`, the profile in
//! tessera's config file (edited with toml_edit, so comments and other profiles stay), and
//! the `credential_process` line in `~/.aws/config` (byte-preserving). Logout removes exactly
//! these.

use std::path::{Path, PathBuf};

use toml_edit::{value, DocumentMut, Item, Table};

use super::enrol::Enrolled;
use super::new_key::{KeyPlace, NewKey, NewKeyError};
use super::LoginSettings;
use crate::credentials::aws_config;
use crate::files::{self, FileError};

/// Why the login's files could not be written or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The key could not be stored.
    #[error(transparent)]
    Key(#[from] NewKeyError),
    /// The tessera config is not TOML.
    #[error("cannot update {}: it is not valid TOML ({detail}); fix or move it and run login again", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        detail: String,
    },
    /// The profile name cannot be written.
    #[error("profile name '{0}' must be letters, digits, '-', '_' or '.'")]
    ProfileName(String),
}

/// The files of one profile's login.
#[derive(Debug, Clone)]
pub struct LoginPaths {
    /// The directory (0700).
    pub dir: PathBuf,
    /// The private key (PKCS#8 PEM, 0600).
    pub key: PathBuf,
    /// The certificate (PEM).
    pub certificate: PathBuf,
    /// The intermediates (PEM), when the CA sent any.
    pub chain: PathBuf,
}

impl LoginPaths {
    /// The paths for `profile` under `data_dir` (`$XDG_DATA_HOME/tessera`).
    pub fn new(data_dir: &Path, profile: &str) -> Result<Self, StoreError> {
        check_profile_name(profile)?;
        let dir = data_dir.join("login").join(profile);
        Ok(Self {
            key: dir.join("key.pem"),
            certificate: dir.join("certificate.pem"),
            chain: dir.join("chain.pem"),
            dir,
        })
    }

    /// Writes the new key, certificate and chain. The certificate is staged first and moved
    /// into place last, so a failure leaves the previous pair or nothing, never a mismatch.
    pub fn save(
        &self,
        enrolled: &Enrolled,
        key: &NewKey,
        place: &KeyPlace,
    ) -> Result<(), StoreError> {
        files::create_private_dir(&self.dir)?;
        let staged = self.dir.join(".certificate.pem.new");
        files::write_atomic(&staged, enrolled.certificate_pem.as_bytes(), 0o644)?;
        match &enrolled.chain_pem {
            Some(chain) => files::write_atomic(&self.chain, chain.as_bytes(), 0o644)?,
            None => files::remove_if_exists(&self.chain)?,
        }
        key.store(place, &self.key)?;
        std::fs::rename(&staged, &self.certificate).map_err(|source| FileError::Io {
            action: "rename",
            path: self.certificate.clone(),
            source,
        })?;
        Ok(())
    }

    /// Removes every file and the directory; returns the paths that existed.
    pub fn remove(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut removed = Vec::new();
        for path in [
            &self.key,
            &self.certificate,
            &self.chain,
            &self.dir.join(".certificate.pem.new"),
        ] {
            if path.exists() {
                files::remove_if_exists(path)?;
                removed.push(path.clone());
            }
        }
        if self.dir.exists() {
            std::fs::remove_dir(&self.dir).map_err(|source| FileError::Io {
                action: "remove",
                path: self.dir.clone(),
                source,
            })?;
            removed.push(self.dir.clone());
        }
        Ok(removed)
    }
}

fn check_profile_name(profile: &str) -> Result<(), StoreError> {
    let ok = !profile.is_empty()
        && !profile.starts_with('.')
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StoreError::ProfileName(crate::text::printable(profile, 64)))
    }
}

/// What login writes into the profile, beside the paths of its files.
#[derive(Debug, Clone)]
pub struct ProfileValues {
    /// `(key, value)` string settings (ARNs, region, endpoint, ca-bundle), in order.
    pub settings: Vec<(&'static str, String)>,
    /// The login table.
    pub login: LoginSettings,
    /// Where the key is.
    pub key: KeyPlace,
}

/// Writes `profile` into the tessera config at `path` (created when missing): its identity
/// paths, `values.settings` and the `login` table. Everything else in the file stays.
pub fn write_profile(
    path: &Path,
    profile: &str,
    paths: &LoginPaths,
    values: &ProfileValues,
    chain: bool,
) -> Result<(), StoreError> {
    let mut document = read_document(path)?;
    let profiles = document
        .entry("profiles")
        .or_insert_with(|| Item::Table(implicit_table()))
        .as_table_mut()
        .ok_or_else(|| not_a_table(path))?;
    let table = profiles
        .entry(profile)
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_mut()
        .ok_or_else(|| not_a_table(path))?;
    table["certificate"] = value(paths.certificate.display().to_string());
    table["private-key"] = value(values.key.reference(&paths.key));
    if chain {
        table["intermediates"] = value(paths.chain.display().to_string());
    } else {
        table.remove("intermediates");
    }
    for (key, setting) in &values.settings {
        table[*key] = value(setting.as_str());
    }
    let mut login = Table::new();
    let login_values = &values.login;
    for (key, setting) in [
        ("issuer", &login_values.issuer),
        ("client-id", &login_values.client_id),
        ("enrol-url", &login_values.enrol_url),
        ("scopes", &login_values.scopes),
        ("key", &login_values.key),
    ] {
        if let Some(setting) = setting {
            login[key] = value(setting.as_str());
        }
    }
    if let Some(port) = login_values.redirect_port {
        login["redirect-port"] = value(i64::from(port));
    }
    table["login"] = Item::Table(login);
    write_document(path, &document)
}

/// Removes `profile` from the tessera config when login wrote it (it has a `login` table);
/// true when it was removed.
pub fn remove_profile(path: &Path, profile: &str) -> Result<bool, StoreError> {
    if !path.exists() {
        return Ok(false);
    }
    let mut document = read_document(path)?;
    let Some(profiles) = document.get_mut("profiles").and_then(Item::as_table_mut) else {
        return Ok(false);
    };
    let ours = profiles
        .get(profile)
        .and_then(Item::as_table)
        .is_some_and(|t| t.contains_key("login"));
    if !ours {
        return Ok(false);
    }
    profiles.remove(profile);
    write_document(path, &document)?;
    Ok(true)
}

fn implicit_table() -> Table {
    let mut table = Table::new();
    table.set_implicit(true);
    table
}

fn not_a_table(path: &Path) -> StoreError {
    StoreError::Config {
        path: path.to_owned(),
        detail: "'profiles' or the profile is not a table".into(),
    }
}

fn read_document(path: &Path) -> Result<DocumentMut, StoreError> {
    read_text_or_empty(path)?
        .parse()
        .map_err(|e: toml_edit::TomlError| StoreError::Config {
            path: path.to_owned(),
            detail: e.message().replace('\n', " "),
        })
}

fn write_document(path: &Path, document: &DocumentMut) -> Result<(), StoreError> {
    write_keeping_mode(path, document.to_string().as_bytes())
}

/// Writes `bytes` atomically, creating a missing parent (0700) and keeping the file's mode
/// (0600 for a new file).
fn write_keeping_mode(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if let Some(parent) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        files::create_private_dir(parent)?;
    }
    Ok(files::write_atomic(
        path,
        bytes,
        existing_mode(path, 0o600),
    )?)
}

fn existing_mode(path: &Path, default: u32) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(default)
}

/// Sets `credential_process = command` for `profile` in the AWS config file at `path`.
pub fn write_credential_process(
    path: &Path,
    profile: &str,
    command: &str,
) -> Result<(), StoreError> {
    let text = read_text_or_empty(path)?;
    let updated = aws_config::set_key(
        &text,
        &aws_config::section_for(profile),
        "credential_process",
        command,
    );
    write_keeping_mode(path, updated.as_bytes())
}

/// Removes `profile`'s `credential_process` line from the AWS config file when it runs
/// `command`; true when it was removed.
pub fn remove_credential_process(
    path: &Path,
    profile: &str,
    command: &str,
) -> Result<bool, StoreError> {
    let text = read_text_or_empty(path)?;
    let section = aws_config::section_for(profile);
    if aws_config::get_key(&text, &section, "credential_process").as_deref() != Some(command) {
        return Ok(false);
    }
    let updated = aws_config::remove_key(&text, &section, "credential_process");
    write_keeping_mode(path, updated.as_bytes())?;
    Ok(true)
}

fn read_text_or_empty(path: &Path) -> Result<String, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(FileError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        }
        .into()),
    }
}
