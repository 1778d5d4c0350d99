//! Where `tessera login` puts the new key: a 0600 file (the default), the OS keyring
//! (`keyring:SERVICE/NAME`), a PKCS#11 token (`pkcs11:…;object=NAME`) or a TPM
//! (`tpm:handle:0x81…`); in the last two the key is generated in the device and never leaves it. Each signs its own CSR, and logout removes it.

use std::path::Path;

use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};
use zeroize::Zeroizing;

use crate::identity::key_ref::{KeyAccess, KeyRef, KeyRefError};
use crate::identity::keyring::{KeyStore, KeyringError, KeyringUri};

/// Why the key could not be made, stored or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NewKeyError {
    /// The `key` setting is not a place a key can be generated.
    #[error("--key '{0}' must be 'file', keyring:SERVICE/NAME, pkcs11:…;object=NAME or tpm:handle:0x81…")]
    BadPlace(String),
    /// The reference did not parse.
    #[error(transparent)]
    Reference(#[from] KeyRefError),
    /// Generation failed in memory.
    #[error("cannot generate the new key: {0}")]
    Generate(String),
    /// The keyring failed.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// The token failed.
    #[cfg(feature = "pkcs11")]
    #[error(transparent)]
    Token(#[from] crate::identity::pkcs11::Pkcs11Error),
    /// The TPM failed.
    #[cfg(feature = "tpm")]
    #[error(transparent)]
    Tpm(#[from] crate::identity::tpm::TpmError),
    /// This build has no TPM support.
    #[error("this tessera was built without TPM support (feature tpm); use --key file, keyring:… or pkcs11:…")]
    NoTpm,
    /// This build has no PKCS#11 support.
    #[error("this tessera was built without PKCS#11 support; use --key file or keyring:…")]
    NoPkcs11,
    /// The key file could not be written.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
}

/// Where the key goes.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyPlace {
    /// A PKCS#8 PEM file (0600) beside the certificate.
    File,
    /// An entry in the OS keyring.
    Keyring(KeyringUri),
    /// An object on a PKCS#11 token.
    Pkcs11(Box<crate::identity::pkcs11_uri::Pkcs11Uri>),
    /// A persistent handle in the TPM.
    Tpm(u32),
}

impl KeyPlace {
    /// Parses the `key` setting (`None`: a file).
    pub fn parse(value: Option<&str>) -> Result<Self, NewKeyError> {
        let Some(value) = value.filter(|v| *v != "file") else {
            return Ok(Self::File);
        };
        match KeyRef::parse(Path::new(value))? {
            KeyRef::Keyring(uri) => Ok(Self::Keyring(uri)),
            KeyRef::Pkcs11(uri) if uri.object.is_some() => Ok(Self::Pkcs11(uri)),
            KeyRef::TpmHandle(handle) => Ok(Self::Tpm(handle)),
            _ => Err(NewKeyError::BadPlace(crate::text::printable(value, 200))),
        }
    }

    /// What the profile's `private-key` says for this place (no PIN).
    pub fn reference(&self, file: &Path) -> String {
        match self {
            Self::File => file.display().to_string(),
            Self::Keyring(uri) => uri.to_string(),
            Self::Pkcs11(uri) => uri.to_string(),
            Self::Tpm(handle) => KeyRef::TpmHandle(*handle).to_string(),
        }
    }

    /// The `key` setting that names this place again.
    pub fn setting(&self) -> Option<String> {
        match self {
            Self::File => None,
            other => Some(other.reference(Path::new(""))),
        }
    }
}

/// A freshly generated key that can sign its CSR.
#[derive(Debug)]
pub enum NewKey {
    /// In memory, to be written to a file or the keyring.
    Memory(Box<KeyPair>),
    /// On a token.
    #[cfg(feature = "pkcs11")]
    Token(crate::identity::pkcs11::generate::TokenKey),
    /// In the TPM.
    #[cfg(feature = "tpm")]
    Tpm(crate::identity::tpm::generate::TpmKey),
}

impl NewKey {
    /// Generates a P-256 key at `place`.
    pub fn generate(
        place: &KeyPlace,
        access: &KeyAccess,
        pkcs11_lib: Option<&Path>,
    ) -> Result<Self, NewKeyError> {
        match place {
            KeyPlace::File | KeyPlace::Keyring(_) => {
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                    .map(|pair| Self::Memory(Box::new(pair)))
                    .map_err(|e| NewKeyError::Generate(e.to_string()))
            }
            #[cfg(feature = "pkcs11")]
            KeyPlace::Pkcs11(uri) => {
                let token = crate::identity::pkcs11::TokenAccess {
                    module: pkcs11_lib,
                    env_pin: access.pkcs11_pin.as_ref(),
                };
                Ok(Self::Token(
                    crate::identity::pkcs11::generate::generate_p256(uri, token)?,
                ))
            }
            #[cfg(not(feature = "pkcs11"))]
            KeyPlace::Pkcs11(_) => {
                let _ = (access, pkcs11_lib);
                Err(NewKeyError::NoPkcs11)
            }
            #[cfg(feature = "tpm")]
            KeyPlace::Tpm(handle) => Ok(Self::Tpm(crate::identity::tpm::generate::generate_p256(
                *handle,
                access.tpm_tcti.as_deref(),
            )?)),
            #[cfg(not(feature = "tpm"))]
            KeyPlace::Tpm(_) => Err(NewKeyError::NoTpm),
        }
    }

    /// Stores a memory key where `place` says (`file` for a file); a token key is stored already.
    pub fn store(&self, place: &KeyPlace, file: &Path) -> Result<(), NewKeyError> {
        let pair = match self {
            Self::Memory(pair) => pair,
            #[cfg(feature = "pkcs11")]
            Self::Token(_) => return Ok(()),
            #[cfg(feature = "tpm")]
            Self::Tpm(_) => return Ok(()),
        };
        let pem = Zeroizing::new(pair.serialize_pem());
        match place {
            KeyPlace::Keyring(uri) => Ok(KeyStore::open()?.import(uri, pem.as_bytes(), None)?),
            _ => Ok(crate::files::write_atomic(file, pem.as_bytes(), 0o600)?),
        }
    }
}

/// Removes the key at `place` (logout); returns what was removed, for the listing.
pub fn remove(
    place: &KeyPlace,
    file: &Path,
    access: &KeyAccess,
    pkcs11_lib: Option<&Path>,
) -> Result<Option<String>, NewKeyError> {
    match place {
        KeyPlace::File => {
            let existed = file.exists();
            crate::files::remove_if_exists(file)?;
            Ok(existed.then(|| file.display().to_string()))
        }
        KeyPlace::Keyring(uri) => Ok(KeyStore::open()?.delete(uri)?.then(|| uri.to_string())),
        #[cfg(feature = "pkcs11")]
        KeyPlace::Pkcs11(uri) => {
            let token = crate::identity::pkcs11::TokenAccess {
                module: pkcs11_lib,
                env_pin: access.pkcs11_pin.as_ref(),
            };
            let removed = crate::identity::pkcs11::generate::delete_key(uri, token)?;
            Ok((removed > 0).then(|| uri.to_string()))
        }
        #[cfg(not(feature = "pkcs11"))]
        KeyPlace::Pkcs11(_) => {
            let _ = (access, pkcs11_lib);
            Err(NewKeyError::NoPkcs11)
        }
        #[cfg(feature = "tpm")]
        KeyPlace::Tpm(handle) => Ok(crate::identity::tpm::generate::delete_key(
            *handle,
            access.tpm_tcti.as_deref(),
        )?
        .then(|| KeyRef::TpmHandle(*handle).to_string())),
        #[cfg(not(feature = "tpm"))]
        KeyPlace::Tpm(_) => Err(NewKeyError::NoTpm),
    }
}

impl PublicKeyData for NewKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            Self::Memory(pair) => pair.der_bytes(),
            #[cfg(feature = "pkcs11")]
            Self::Token(key) => key.public_point(),
            #[cfg(feature = "tpm")]
            Self::Tpm(key) => key.public_point(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for NewKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            Self::Memory(pair) => pair.sign(message),
            #[cfg(feature = "pkcs11")]
            Self::Token(key) => key
                .sign_p256_sha256(message)
                .map_err(|_| rcgen::Error::RemoteKeyError),
            #[cfg(feature = "tpm")]
            Self::Tpm(key) => key
                .sign_p256_sha256(message)
                .map_err(|_| rcgen::Error::RemoteKeyError),
        }
    }
}
