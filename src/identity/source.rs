//! One entry point for loading an identity from its [`IdentitySources`]: files and `keyring:`
//! entries through the file parsers, `pkcs11:` keys through the token, TPM keys (a persistent
//! handle or a TSS2 key file) through the TPM. Everything that signs (credential-process, serve,
//! update, exec, proxy, doctor) loads through here, so every key source works everywhere.

use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

use super::file::{self, FileIdentity, IdentityError, Passphrase};
use super::key_ref::{IdentitySources, KeyRef};
use super::{Certificate, Signer};

/// Whether a file holds a TSS2 (TPM) key: such a key is used through the TPM.
fn is_tss2_file(path: &Path) -> bool {
    const TSS2: &[u8] = b"-----BEGIN TSS2 PRIVATE KEY-----";
    std::fs::read(path).is_ok_and(|bytes| bytes.windows(TSS2.len()).any(|w| w == TSS2))
}

/// The certificate alone (no key access; for listings and diagnostics).
pub fn load_certificate(sources: &IdentitySources) -> Result<Certificate, IdentityError> {
    match &sources.certificate {
        KeyRef::Pkcs11(uri) => token_certificate(uri, sources),
        other => file::load_certificate(other),
    }
}

/// Loads the identity, dispatching on where the key is. Either way the leaf is checked
/// (validity, key type, key usage) at `now`.
pub fn load(
    sources: &IdentitySources,
    passphrase: &Passphrase,
    now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    match sources.key() {
        KeyRef::Pkcs11(uri) => token_identity(uri, sources, now),
        key @ KeyRef::TpmHandle(_) => tpm_identity(key, sources, passphrase, now),
        KeyRef::File(path) if is_tss2_file(path) => {
            tpm_identity(sources.key(), sources, passphrase, now)
        }
        KeyRef::File(_) | KeyRef::Keyring(_) => {
            Ok(Arc::new(FileIdentity::load(sources, passphrase, now)?))
        }
    }
}

/// The intermediates input, if any.
#[cfg(any(feature = "pkcs11", feature = "tpm"))]
fn intermediates(sources: &IdentitySources) -> Result<Option<Vec<Certificate>>, IdentityError> {
    sources
        .intermediates
        .as_ref()
        .map(file::load_certificates)
        .transpose()
}

#[cfg(feature = "pkcs11")]
fn token_access(sources: &IdentitySources) -> super::pkcs11::TokenAccess<'_> {
    super::pkcs11::TokenAccess {
        module: sources.pkcs11_lib.as_deref(),
        env_pin: sources.access.pkcs11_pin.as_ref(),
    }
}

#[cfg(feature = "pkcs11")]
fn token_certificate(
    uri: &super::pkcs11_uri::Pkcs11Uri,
    sources: &IdentitySources,
) -> Result<Certificate, IdentityError> {
    Ok(super::pkcs11::load_certificate(
        uri,
        sources.pkcs11_lib.as_deref(),
    )?)
}

#[cfg(feature = "pkcs11")]
fn token_identity(
    uri: &super::pkcs11_uri::Pkcs11Uri,
    sources: &IdentitySources,
    now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    // The certificate defaults to the key's URI: the token object with the key's id/label.
    let certificate = if sources.certificate_is_key() {
        None
    } else {
        Some(load_certificate(sources)?)
    };
    let identity = super::pkcs11::Pkcs11Identity::open(
        uri,
        token_access(sources),
        certificate,
        intermediates(sources)?,
    )?;
    file::check_leaf(
        &sources.certificate.display_path(),
        identity.certificate(),
        now,
    )?;
    Ok(Arc::new(identity))
}

#[cfg(not(feature = "pkcs11"))]
fn token_certificate(
    uri: &super::pkcs11_uri::Pkcs11Uri,
    _sources: &IdentitySources,
) -> Result<Certificate, IdentityError> {
    Err(IdentityError::Pkcs11Unsupported {
        uri: uri.to_string(),
    })
}

#[cfg(not(feature = "pkcs11"))]
fn token_identity(
    uri: &super::pkcs11_uri::Pkcs11Uri,
    _sources: &IdentitySources,
    _now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    Err(IdentityError::Pkcs11Unsupported {
        uri: uri.to_string(),
    })
}

#[cfg(feature = "tpm")]
fn tpm_identity(
    key: &KeyRef,
    sources: &IdentitySources,
    passphrase: &Passphrase,
    now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    if sources.certificate_is_key() {
        return Err(super::tpm::TpmError::NoCertificate.into());
    }
    let leaf = load_certificate(sources)?;
    file::check_leaf(&sources.certificate.display_path(), &leaf, now)?;
    let chain = intermediates(sources)?.unwrap_or_default();
    // A TPM key's password: given, or stored in the keyring for this key; never prompted for
    // (a wrong guess counts against the TPM's dictionary-attack lockout).
    let password = match passphrase {
        Passphrase::Given(password) => Some(password.clone()),
        Passphrase::Keyring => {
            Some(super::keyring::KeyStore::open()?.passphrase(&key.display_path())?)
        }
        Passphrase::PromptIfTerminal => None,
    };
    let tcti = sources.access.tpm_tcti.as_deref();
    Ok(Arc::new(super::tpm::TpmIdentity::open(
        key, leaf, chain, password, tcti,
    )?))
}

#[cfg(not(feature = "tpm"))]
fn tpm_identity(
    key: &KeyRef,
    _sources: &IdentitySources,
    _passphrase: &Passphrase,
    _now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    Err(IdentityError::TpmUnsupported {
        key: key.to_string(),
    })
}
