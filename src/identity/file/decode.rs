//! Decoding a key found in a file: PKCS#8 (plain or encrypted, with a bounded KDF cost),
//! PKCS#1 and SEC1.

use std::path::Path;

use pkcs8::der::Decode;

use super::sniff::KeyBlob;
use super::{IdentityError, Passphrase, MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_BYTES};
use crate::identity::key::{KeyError, PrivateKey};

pub(super) fn decode_key(
    path: &Path,
    blob: KeyBlob,
    passphrase: &Passphrase,
) -> Result<PrivateKey, IdentityError> {
    let key_error = |reason| IdentityError::Key {
        path: path.to_owned(),
        reason,
    };
    match blob {
        KeyBlob::Pkcs8(der) => PrivateKey::from_pkcs8_der(der.expose_secret()).map_err(key_error),
        KeyBlob::Pkcs1(der) => PrivateKey::from_pkcs1_der(der.expose_secret()).map_err(key_error),
        KeyBlob::Sec1(der) => PrivateKey::from_sec1_der(der.expose_secret()).map_err(key_error),
        KeyBlob::LegacyEncryptedPem => Err(IdentityError::LegacyPemEncryption {
            path: path.to_owned(),
        }),
        KeyBlob::EncryptedPkcs8(der) => {
            let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der).map_err(|_| {
                key_error(KeyError::Malformed {
                    format: "encrypted PKCS#8",
                })
            })?;
            check_kdf_cost(path, &info.encryption_algorithm)?;
            let secret = passphrase.obtain(path)?;
            let document = info
                .decrypt(secret.expose_secret().as_bytes())
                .map_err(|_| IdentityError::WrongPassphrase {
                    path: path.to_owned(),
                })?;
            PrivateKey::from_pkcs8_der(document.as_bytes()).map_err(key_error)
        }
    }
}

/// Refuses key-derivation parameters that would take minutes or gigabytes.
pub(super) fn check_kdf_cost(
    path: &Path,
    scheme: &pkcs8::pkcs5::EncryptionScheme,
) -> Result<(), IdentityError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    let too_costly = |cost: String| IdentityError::KdfTooCostly {
        path: path.to_owned(),
        cost,
    };
    let pkcs8::pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(());
    };
    match &params.kdf {
        Kdf::Pbkdf2(pbkdf2) if pbkdf2.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(too_costly(format!(
                "{} PBKDF2 iterations (limit {MAX_PBKDF2_ITERATIONS})",
                pbkdf2.iteration_count
            )))
        }
        Kdf::Scrypt(scrypt) => {
            let bytes = 128u64
                .saturating_mul(u64::from(scrypt.block_size))
                .saturating_mul(scrypt.cost_parameter)
                .saturating_mul(u64::from(scrypt.parallelization.max(1)));
            if bytes > MAX_SCRYPT_BYTES {
                Err(too_costly(format!(
                    "{} MiB of scrypt memory (limit {} MiB)",
                    bytes / (1024 * 1024),
                    MAX_SCRYPT_BYTES / (1024 * 1024)
                )))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}
