//! Reading an input (bounded, or from the keyring) and sorting its PEM blocks or DER object
//! into certificates and keys, not yet decoded.

use std::fs;
use std::io;
use std::path::Path;

use pkcs8::der::Decode;

use super::{FileRole, IdentityError, MAX_FILE_BYTES};
use crate::identity::cert::Certificate;
use crate::identity::key_ref::KeyRef;
use crate::identity::keyring::{KeyStore, KeyringUri, Part};
use crate::secret::SecretBytes;

/// A key found in a file, not yet decoded.
pub(super) enum KeyBlob {
    Pkcs8(SecretBytes),
    EncryptedPkcs8(Vec<u8>),
    Pkcs1(SecretBytes),
    Sec1(SecretBytes),
    LegacyEncryptedPem,
}

/// What a file contains.
#[derive(Default)]
pub(super) struct Contents {
    pub(super) certificates: Vec<Certificate>,
    pub(super) keys: Vec<KeyBlob>,
}

/// Reads an entry imported into the OS keyring, as if it were the file.
fn read_keyring(role: FileRole, uri: &KeyringUri) -> Result<Vec<u8>, IdentityError> {
    let part = match role {
        FileRole::PrivateKey => Part::Key,
        FileRole::Certificate | FileRole::Intermediates => Part::Certificate,
    };
    Ok(KeyStore::open()?.read(uri, part)?.to_vec())
}

/// The bytes of one identity input (a file, or a `keyring:` entry), read with the same checks
/// and size cap as loading it; for cache keys.
pub fn read_input(role: FileRole, input: &KeyRef) -> Result<Vec<u8>, IdentityError> {
    read_bounded(role, input)
}

/// An input's bytes: a file (bounded, not a directory, not empty) or a keyring entry.
pub(super) fn read_bounded(role: FileRole, input: &KeyRef) -> Result<Vec<u8>, IdentityError> {
    let path = match input {
        KeyRef::File(path) => path,
        KeyRef::Keyring(uri) => return read_keyring(role, uri),
        KeyRef::Pkcs11(_) | KeyRef::TpmHandle(_) => {
            return Err(IdentityError::NotReadable {
                role,
                input: input.to_string(),
            })
        }
    };
    let owned = || path.to_owned();
    let meta = fs::metadata(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => IdentityError::NotFound {
            role,
            path: owned(),
        },
        _ => IdentityError::Read {
            role,
            path: owned(),
            source,
        },
    })?;
    if meta.is_dir() {
        return Err(IdentityError::IsDirectory {
            role,
            path: owned(),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(IdentityError::TooLarge {
            role,
            path: owned(),
            size: meta.len(),
        });
    }
    let bytes = fs::read(path).map_err(|source| IdentityError::Read {
        role,
        path: owned(),
        source,
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IdentityError::Empty {
            role,
            path: owned(),
        });
    }
    Ok(bytes)
}

/// Sorts a file's PEM blocks or DER object into certificates and keys.
pub(super) fn classify(
    role: FileRole,
    path: &Path,
    bytes: &[u8],
) -> Result<Contents, IdentityError> {
    if memchr_subslice(bytes, b"-----BEGIN ") {
        classify_pem(role, path, bytes)
    } else {
        classify_der(role, path, bytes)
    }
}

pub(super) fn classify_pem(
    role: FileRole,
    path: &Path,
    bytes: &[u8],
) -> Result<Contents, IdentityError> {
    let malformed = |detail: String| IdentityError::MalformedPem {
        role,
        path: path.to_owned(),
        detail,
    };
    let blocks = pem::parse_many(bytes).map_err(|e| malformed(e.to_string()))?;
    let begins = count_subslices(bytes, b"-----BEGIN ");
    if blocks.len() != begins {
        return Err(malformed(format!(
            "{begins} BEGIN line(s) but {} complete block(s)",
            blocks.len()
        )));
    }
    let mut contents = Contents::default();
    for block in blocks {
        let data = block.contents();
        match block.tag() {
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                let cert =
                    Certificate::from_der(data).map_err(|e| IdentityError::BadCertificate {
                        role,
                        path: path.to_owned(),
                        detail: e.to_string(),
                    })?;
                contents.certificates.push(cert);
            }
            "PRIVATE KEY" => contents
                .keys
                .push(KeyBlob::Pkcs8(SecretBytes::new(data.to_vec()))),
            "ENCRYPTED PRIVATE KEY" => contents.keys.push(KeyBlob::EncryptedPkcs8(data.to_vec())),
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" if block.headers().get("Proc-Type").is_some() => {
                contents.keys.push(KeyBlob::LegacyEncryptedPem)
            }
            "RSA PRIVATE KEY" => contents
                .keys
                .push(KeyBlob::Pkcs1(SecretBytes::new(data.to_vec()))),
            "EC PRIVATE KEY" => contents
                .keys
                .push(KeyBlob::Sec1(SecretBytes::new(data.to_vec()))),
            // Curve parameters precede SEC1 keys in `openssl ecparam -genkey` output.
            "EC PARAMETERS" => {}
            other => {
                return Err(IdentityError::Unrecognized {
                    role,
                    path: path.to_owned(),
                    detail: format!("unexpected PEM block '{other}'"),
                })
            }
        }
    }
    Ok(contents)
}

pub(super) fn classify_der(
    role: FileRole,
    path: &Path,
    bytes: &[u8],
) -> Result<Contents, IdentityError> {
    let mut contents = Contents::default();
    if let Ok(cert) = Certificate::from_der(bytes) {
        contents.certificates.push(cert);
    } else if pkcs8::PrivateKeyInfoRef::from_der(bytes).is_ok() {
        contents
            .keys
            .push(KeyBlob::Pkcs8(SecretBytes::new(bytes.to_vec())));
    } else if pkcs8::EncryptedPrivateKeyInfoRef::from_der(bytes).is_ok() {
        contents.keys.push(KeyBlob::EncryptedPkcs8(bytes.to_vec()));
    } else if rsa::pkcs1::RsaPrivateKey::<pkcs8::der::asn1::UintRef<'_>>::from_der(bytes).is_ok() {
        contents
            .keys
            .push(KeyBlob::Pkcs1(SecretBytes::new(bytes.to_vec())));
    } else if sec1::EcPrivateKey::from_der(bytes).is_ok() {
        contents
            .keys
            .push(KeyBlob::Sec1(SecretBytes::new(bytes.to_vec())));
    } else {
        let detail = if bytes.first() == Some(&0x30) {
            "an ASN.1 structure that is not a certificate or key; truncated?".to_owned()
        } else {
            "no PEM header and not DER".to_owned()
        };
        return Err(IdentityError::Unrecognized {
            role,
            path: path.to_owned(),
            detail,
        });
    }
    Ok(contents)
}

pub(super) fn memchr_subslice(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub(super) fn count_subslices(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
