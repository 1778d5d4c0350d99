//! Keys and certificates from files: PEM or DER certificates and chains; PKCS#1, SEC1, PKCS#8
//! and encrypted PKCS#8 keys; combined cert+key PEM files; PKCS#12 bundles.
//!
//! Loading checks everything that can be checked offline: the key matches the certificate, the
//! certificate is valid now and carries a key Roles Anywhere accepts, the chain is not too long.

use std::fs;
use std::path::Path;

use time::OffsetDateTime;

use self::decode::decode_key;
use self::pfx::{looks_like_pkcs12, open_pkcs12};
use self::sniff::{classify, read_bounded};
use super::cert::Certificate;
use super::key::PrivateKey;
use super::key_ref::{IdentitySources, KeyRef};
use super::{Digest, SignError, SignatureFamily, Signer};

/// Largest certificate or key file read; real ones are a few KiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most certificates `X-Amz-X509-Chain` may carry (a service limit).
pub const MAX_CHAIN_CERTIFICATES: usize = 5;
/// Most PBKDF2 iterations an encrypted key may ask for (OpenSSL writes 2,048; OWASP suggests
/// 600,000). A crafted file must not make tessera spin for hours.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Most memory scrypt may need to decrypt a key (128 · r · N bytes).
pub const MAX_SCRYPT_BYTES: u64 = 256 * 1024 * 1024;
/// A certificate expiring sooner than this gets a warning at load.
pub const EXPIRY_WARNING_DAYS: i64 = 7;

mod decode;
mod error;
mod leaf;
mod passphrase;
mod pfx;
mod sniff;

pub use error::{FileRole, IdentityError};
pub(crate) use leaf::{check_leaf, check_validity};
pub use passphrase::Passphrase;
pub use sniff::read_input;

/// A certificate, its chain and its private key, all loaded from files.
#[derive(Debug)]
pub struct FileIdentity {
    leaf: Certificate,
    chain: Vec<Certificate>,
    key: PrivateKey,
}

impl Signer for FileIdentity {
    fn certificate(&self) -> &Certificate {
        &self.leaf
    }

    fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    fn family(&self) -> SignatureFamily {
        self.key.family()
    }

    fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, SignError> {
        self.key.sign(message, digest)
    }
}

impl FileIdentity {
    /// Loads and checks an identity. `now` is the time validity is judged at.
    pub fn load(
        sources: &IdentitySources,
        passphrase: &Passphrase,
        now: OffsetDateTime,
    ) -> Result<Self, IdentityError> {
        let cert_path = &sources.certificate.display_path();
        let cert_bytes = read_bounded(FileRole::Certificate, &sources.certificate)?;
        let (mut certificates, mut key) = if looks_like_pkcs12(&cert_bytes) {
            let (certs, key) = open_pkcs12(cert_path, &cert_bytes, passphrase)?;
            (certs, Some((cert_path.clone(), key)))
        } else {
            let contents = classify(FileRole::Certificate, cert_path, &cert_bytes)?;
            if contents.certificates.is_empty() {
                return Err(IdentityError::NoCertificate {
                    role: FileRole::Certificate,
                    path: cert_path.clone(),
                    has_key: !contents.keys.is_empty(),
                });
            }
            let key = match contents.keys.into_iter().next() {
                Some(blob) if sources.private_key.is_none() => {
                    Some((cert_path.clone(), decode_key(cert_path, blob, passphrase)?))
                }
                _ => None,
            };
            (contents.certificates, key)
        };

        if let Some(key_input) = &sources.private_key {
            let key_path = &key_input.display_path();
            let key_bytes = read_bounded(FileRole::PrivateKey, key_input)?;
            let parsed = if looks_like_pkcs12(&key_bytes) {
                open_pkcs12(key_path, &key_bytes, passphrase)?.1
            } else {
                let contents = classify(FileRole::PrivateKey, key_path, &key_bytes)?;
                let blob = contents.keys.into_iter().next().ok_or_else(|| {
                    IdentityError::NoPrivateKey {
                        path: key_path.clone(),
                        has_certificate: !contents.certificates.is_empty(),
                    }
                })?;
                decode_key(key_path, blob, passphrase)?
            };
            key = Some((key_path.clone(), parsed));
        }
        let (key_path, key) = key.ok_or(IdentityError::MissingPrivateKey)?;
        if let Some(file) = sources.key().file() {
            warn_if_readable_by_others(file);
        }

        // The leaf is the certificate whose public key is the private key's; a PKCS#12 bag or a
        // full-chain PEM need not list it first.
        let public_key = key.public_key();
        let leaf_index = certificates
            .iter()
            .position(|c| c.public_key() == public_key.as_slice())
            .ok_or_else(|| IdentityError::KeyMismatch {
                key: key_path.clone(),
                certificate: cert_path.clone(),
                difference: match certificates.first().map(Certificate::key_kind) {
                    Some(kind) if kind != key.kind() => {
                        format!("the key is {}, the certificate holds {kind}", key.kind())
                    }
                    _ => "their public keys differ".into(),
                },
            })?;
        let leaf = certificates.remove(leaf_index);
        let mut chain = certificates;
        if let Some(path) = &sources.intermediates {
            chain.extend(load_certificates(path)?);
        }
        if chain.len() > MAX_CHAIN_CERTIFICATES {
            return Err(IdentityError::ChainTooLong { count: chain.len() });
        }
        check_leaf(cert_path, &leaf, now)?;
        Ok(Self { leaf, chain, key })
    }
}

/// Reads a certificate input on its own (for `read-certificate-data`): the first certificate.
pub fn load_certificate(input: &KeyRef) -> Result<Certificate, IdentityError> {
    let bytes = read_bounded(FileRole::Certificate, input)?;
    let path = &input.display_path();
    let contents = classify(FileRole::Certificate, path, &bytes)?;
    let has_key = !contents.keys.is_empty();
    contents
        .certificates
        .into_iter()
        .next()
        .ok_or_else(|| IdentityError::NoCertificate {
            role: FileRole::Certificate,
            path: path.to_owned(),
            has_key,
        })
}

/// Parses bytes the way `--certificate`/`--private-key` file contents are parsed (PEM, DER,
/// PKCS#1/SEC1/PKCS#8, encrypted PKCS#8, PKCS#12), without the filesystem: the certificates
/// found and the first key, if any. The fuzz targets drive the parsers through this.
pub fn parse_identity_bytes(
    bytes: &[u8],
    passphrase: &Passphrase,
) -> Result<(Vec<Certificate>, Option<PrivateKey>), IdentityError> {
    let origin = Path::new("input");
    if looks_like_pkcs12(bytes) {
        let (certificates, key) = open_pkcs12(origin, bytes, passphrase)?;
        return Ok((certificates, Some(key)));
    }
    let contents = classify(FileRole::Certificate, origin, bytes)?;
    let key = match contents.keys.into_iter().next() {
        Some(blob) => Some(decode_key(origin, blob, passphrase)?),
        None => None,
    };
    Ok((contents.certificates, key))
}

/// Reads an intermediates input: one or more certificates.
pub fn load_certificates(input: &KeyRef) -> Result<Vec<Certificate>, IdentityError> {
    let bytes = read_bounded(FileRole::Intermediates, input)?;
    let path = &input.display_path();
    let contents = classify(FileRole::Intermediates, path, &bytes)?;
    if contents.certificates.is_empty() {
        return Err(IdentityError::NoCertificate {
            role: FileRole::Intermediates,
            path: path.to_owned(),
            has_key: !contents.keys.is_empty(),
        });
    }
    Ok(contents.certificates)
}

/// Reads a private key input on its own (for `sign-string`).
pub fn load_private_key(
    input: &KeyRef,
    passphrase: &Passphrase,
) -> Result<PrivateKey, IdentityError> {
    let bytes = read_bounded(FileRole::PrivateKey, input)?;
    let path = &input.display_path();
    if looks_like_pkcs12(&bytes) {
        return Ok(open_pkcs12(path, &bytes, passphrase)?.1);
    }
    let contents = classify(FileRole::PrivateKey, path, &bytes)?;
    let blob = contents
        .keys
        .into_iter()
        .next()
        .ok_or_else(|| IdentityError::NoPrivateKey {
            path: path.to_owned(),
            has_certificate: !contents.certificates.is_empty(),
        })?;
    decode_key(path, blob, passphrase)
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o044 != 0 {
            tracing::warn!(
                "private key {} is readable by group or others (mode {:o}); run 'chmod 600 {}'",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
}
