//! The credential cache in the OS keyring: on Linux the kernel's keyutils store, which needs no
//! desktop session or D-Bus and keeps entries in kernel memory only (a cache that vanishes on
//! reboot, never a file on disk). Entries are named `tessera@<cache key>`.

use std::sync::Arc;

use keyring_core::api::CredentialStore;
use keyring_core::{Entry, Error as KeyringError};

use super::cache_key::CacheKey;
use crate::aws_credentials::Credentials;

/// Service name of every tessera entry.
const SERVICE: &str = "tessera";

/// Why the keyring could not be used.
#[derive(Debug, thiserror::Error)]
#[error("OS keyring: {0}")]
pub struct KeyringCacheError(String);

/// A credential cache in the OS keyring.
#[derive(Debug, Clone)]
pub struct KeyringCache {
    store: Arc<CredentialStore>,
}

impl KeyringCache {
    /// Opens the platform's store.
    pub fn open() -> Result<Self, KeyringCacheError> {
        let store = linux_keyutils_keyring_store::Store::new()
            .map_err(|e| KeyringCacheError(e.to_string()))?;
        Ok(Self { store })
    }

    fn entry(&self, key: &CacheKey) -> Result<Entry, KeyringCacheError> {
        Entry::new_in_store(&self.store, SERVICE, key.as_str())
            .map_err(|e| KeyringCacheError(e.to_string()))
    }

    /// The cached credentials, `None` if there are none; a corrupt entry is an error.
    pub fn read(&self, key: &CacheKey) -> Result<Option<Credentials>, KeyringCacheError> {
        match self.entry(key)?.get_password() {
            Ok(text) => {
                let text = zeroize::Zeroizing::new(text);
                Credentials::from_process_json(&text)
                    .map(Some)
                    .map_err(|e| {
                        KeyringCacheError(format!(
                            "entry {SERVICE}@{} is corrupt ({e}); it will be replaced",
                            key.as_str()
                        ))
                    })
            }
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => Err(KeyringCacheError(e.to_string())),
        }
    }

    /// Stores credentials.
    pub fn write(
        &self,
        key: &CacheKey,
        credentials: &Credentials,
    ) -> Result<(), KeyringCacheError> {
        self.entry(key)?
            .set_password(&credentials.to_cache_json())
            .map_err(|e| KeyringCacheError(e.to_string()))
    }
}
