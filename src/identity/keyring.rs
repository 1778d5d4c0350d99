//! Keys kept in the OS keyring instead of files. `keyring:<service>/<name>` (or `keyring:<name>`,
//! service `tessera`) names what `tessera key import` stored: the key file's bytes under
//! `<name>/key` and, if given, the certificate file's bytes under `<name>/certificate`. Loading
//! goes through the same parsers as files ([`super::file`]), so every key format works,
//! encrypted ones included.
//!
//! The Linux store is the kernel's keyutils store: entries live in kernel memory, never on disk,
//! and are gone after a reboot or once the persistent keyring expires
//! (`/proc/sys/kernel/keys/persistent_keyring_expiry`, 3 days unused by default).

use std::fmt;
use std::sync::Arc;

use keyring_core::api::CredentialStore;
use keyring_core::{Entry, Error as StoreError};
use zeroize::Zeroizing;

use crate::secret::SecretString;

/// The service used when a URI names none.
pub const DEFAULT_SERVICE: &str = "tessera";
/// Entry listing the names imported under a service (keyutils cannot enumerate entries).
const INDEX: &str = ".index";
/// Service of key-file passphrases, each named by the SHA-256 of the key file's absolute path.
const PASSPHRASE_SERVICE: &str = "tessera-passphrase";

/// A `keyring:` key URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringUri {
    /// The keyring service.
    pub service: String,
    /// The imported name.
    pub name: String,
}

/// Which of an imported pair to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The key file's bytes.
    Key,
    /// The certificate file's bytes.
    Certificate,
}

impl Part {
    fn suffix(self) -> &'static str {
        match self {
            Part::Key => "key",
            Part::Certificate => "certificate",
        }
    }
}

/// Whether a `--private-key`/`--certificate` value names a keyring entry.
pub fn is_keyring_uri(value: &str) -> bool {
    value.starts_with("keyring:")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl KeyringUri {
    /// Parses `keyring:<service>/<name>` or `keyring:<name>`.
    pub fn parse(uri: &str) -> Result<Self, KeyringError> {
        let bad = |reason: &str| KeyringError::BadUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = uri
            .strip_prefix("keyring:")
            .ok_or_else(|| bad("it must start with 'keyring:'"))?;
        let (service, name) = rest.split_once('/').unwrap_or((DEFAULT_SERVICE, rest));
        Self::new(service, name).map_err(|_| {
            bad("service and name must be 1-64 letters, digits, '.', '_' or '-', not starting with '.'")
        })
    }

    /// A URI from its parts, validated like [`Self::parse`].
    pub fn new(service: &str, name: &str) -> Result<Self, KeyringError> {
        if valid_name(service) && valid_name(name) {
            Ok(Self {
                service: service.to_owned(),
                name: name.to_owned(),
            })
        } else {
            Err(KeyringError::BadUri {
                uri: format!("keyring:{service}/{name}"),
                reason: "service and name must be 1-64 letters, digits, '.', '_' or '-', not starting with '.'".into(),
            })
        }
    }
}

impl fmt::Display for KeyringUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "keyring:{}/{}", self.service, self.name)
    }
}

/// What went wrong with the keyring.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The URI does not parse.
    #[error("keyring URI {uri}: {reason}")]
    BadUri {
        /// The URI.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// No passphrase is stored for a key file.
    #[error("no passphrase for {} in the OS keyring; store it with `tessera key set-passphrase --for {}`", path.display(), path.display())]
    NoPassphrase {
        /// The key file.
        path: std::path::PathBuf,
    },
    /// The OS keyring cannot be opened or used.
    #[error("the OS keyring is not available ({0}); on Linux, run in a login session or a systemd service (each has a session keyring), or under `keyctl session NAME tessera …`")]
    Unavailable(String),
    /// Nothing was imported under this name.
    #[error("{uri} is not in the OS keyring; import it with `tessera key import --name {name} --service {service} --private-key FILE`, or see `tessera key list`")]
    Missing {
        /// The URI.
        uri: String,
        /// Its service.
        service: String,
        /// Its name.
        name: String,
    },
}

fn store_error(error: StoreError) -> KeyringError {
    KeyringError::Unavailable(error.to_string())
}

/// The entry name of a key file's passphrase: hex SHA-256 of its absolute path.
fn passphrase_entry(path: &std::path::Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        absolute.as_os_str().as_encoded_bytes(),
    ))
}

/// The OS keyring, for keys and certificates.
#[derive(Debug, Clone)]
pub struct KeyStore {
    store: Arc<CredentialStore>,
}

impl KeyStore {
    /// Opens the platform's store.
    pub fn open() -> Result<Self, KeyringError> {
        let store = linux_keyutils_keyring_store::Store::new()
            .map_err(|e| KeyringError::Unavailable(e.to_string()))?;
        Ok(Self { store })
    }

    fn entry(&self, service: &str, name: &str) -> Result<Entry, KeyringError> {
        Entry::new_in_store(&self.store, service, name).map_err(store_error)
    }

    fn get(&self, service: &str, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyringError> {
        match self.entry(service, name)?.get_secret() {
            Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
            Err(StoreError::NoEntry) => Ok(None),
            Err(error) => Err(store_error(error)),
        }
    }

    /// Reads one part; the certificate part falls back to the key's bytes (a combined PEM or
    /// PKCS#12 holds both).
    pub fn read(&self, uri: &KeyringUri, part: Part) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
        let missing = || KeyringError::Missing {
            uri: uri.to_string(),
            service: uri.service.clone(),
            name: uri.name.clone(),
        };
        let wanted = self.get(&uri.service, &format!("{}/{}", uri.name, part.suffix()))?;
        match (wanted, part) {
            (Some(bytes), _) => Ok(bytes),
            (None, Part::Certificate) => self
                .get(
                    &uri.service,
                    &format!("{}/{}", uri.name, Part::Key.suffix()),
                )?
                .ok_or_else(missing),
            (None, Part::Key) => Err(missing()),
        }
    }

    /// Stores a key (and certificate) under `uri`, replacing what was there.
    pub fn import(
        &self,
        uri: &KeyringUri,
        key: &[u8],
        certificate: Option<&[u8]>,
    ) -> Result<(), KeyringError> {
        let set = |part: Part, bytes: &[u8]| {
            self.entry(&uri.service, &format!("{}/{}", uri.name, part.suffix()))?
                .set_secret(bytes)
                .map_err(store_error)
        };
        set(Part::Key, key)?;
        match certificate {
            Some(certificate) => set(Part::Certificate, certificate)?,
            None => self.remove(
                &uri.service,
                &format!("{}/{}", uri.name, Part::Certificate.suffix()),
            )?,
        }
        let mut names = self.names(&uri.service)?;
        if !names.contains(&uri.name) {
            names.push(uri.name.clone());
            self.write_index(&uri.service, &names)?;
        }
        Ok(())
    }

    /// The names imported under `service`, sorted.
    pub fn names(&self, service: &str) -> Result<Vec<String>, KeyringError> {
        let mut names: Vec<String> = match self.get(service, INDEX)? {
            Some(bytes) => String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|n| valid_name(n))
                .map(str::to_owned)
                .collect(),
            None => Vec::new(),
        };
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Whether the certificate part exists.
    pub fn has_certificate(&self, uri: &KeyringUri) -> Result<bool, KeyringError> {
        Ok(self
            .get(
                &uri.service,
                &format!("{}/{}", uri.name, Part::Certificate.suffix()),
            )?
            .is_some())
    }

    /// Deletes both parts; `false` if nothing was there.
    pub fn delete(&self, uri: &KeyringUri) -> Result<bool, KeyringError> {
        let existed = self
            .get(
                &uri.service,
                &format!("{}/{}", uri.name, Part::Key.suffix()),
            )?
            .is_some();
        for part in [Part::Key, Part::Certificate] {
            self.remove(&uri.service, &format!("{}/{}", uri.name, part.suffix()))?;
        }
        let names: Vec<String> = self
            .names(&uri.service)?
            .into_iter()
            .filter(|n| *n != uri.name)
            .collect();
        self.write_index(&uri.service, &names)?;
        Ok(existed)
    }

    /// The passphrase stored for the key file at `path`.
    pub fn passphrase(&self, path: &std::path::Path) -> Result<SecretString, KeyringError> {
        let bytes = self
            .get(PASSPHRASE_SERVICE, &passphrase_entry(path))?
            .ok_or_else(|| KeyringError::NoPassphrase {
                path: path.to_owned(),
            })?;
        Ok(SecretString::new(
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }

    /// Stores the passphrase of the key file at `path`.
    pub fn set_passphrase(
        &self,
        path: &std::path::Path,
        passphrase: &SecretString,
    ) -> Result<(), KeyringError> {
        self.entry(PASSPHRASE_SERVICE, &passphrase_entry(path))?
            .set_secret(passphrase.expose_secret().as_bytes())
            .map_err(store_error)
    }

    fn remove(&self, service: &str, name: &str) -> Result<(), KeyringError> {
        match self.entry(service, name)?.delete_credential() {
            Ok(()) | Err(StoreError::NoEntry) => Ok(()),
            Err(error) => Err(store_error(error)),
        }
    }

    fn write_index(&self, service: &str, names: &[String]) -> Result<(), KeyringError> {
        if names.is_empty() {
            return self.remove(service, INDEX);
        }
        self.entry(service, INDEX)?
            .set_secret(names.join("\n").as_bytes())
            .map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_a_service_and_an_entry() {
        assert_eq!(
            KeyringUri::parse("keyring:ops/build-1").unwrap(),
            KeyringUri {
                service: "ops".into(),
                name: "build-1".into()
            }
        );
        assert_eq!(
            KeyringUri::parse("keyring:dev").unwrap().service,
            DEFAULT_SERVICE
        );
        for bad in [
            "keyring:",
            "keyring:a/.index",
            "keyring:a/b/c",
            "keyring:sp ace",
            "keyring:a/",
        ] {
            assert!(KeyringUri::parse(bad).is_err(), "{bad}");
        }
    }
}
