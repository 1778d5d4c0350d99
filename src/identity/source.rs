//! One entry point for loading an identity from `--certificate`/`--private-key` values: a file
//! path, a `keyring:` URI (read through the file parsers), a `pkcs11:` URI, or a TPM key
//! (`tpm:handle:0x81…` or a TSS2 key file). Everything that signs (credential-process, serve,
//! update, exec, proxy, doctor) loads through here, so every key source works everywhere.

use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

use super::file::{
    load_certificate as load_certificate_file, FileIdentity, FileSources, IdentityError, Passphrase,
};
use super::{Certificate, Signer};

/// Whether a `--certificate`/`--private-key` value is a URI (a token object or a keyring entry)
/// rather than a file path.
pub fn is_uri(value: &Path) -> bool {
    is_pkcs11(value)
        || value
            .to_str()
            .is_some_and(|v| super::keyring::is_keyring_uri(v) || v.starts_with("tpm:"))
}

/// Whether the key is in a TPM: a `tpm:` URI, or a file holding a TSS2 key.
fn is_tpm_key(value: &Path) -> bool {
    const TSS2: &[u8] = b"-----BEGIN TSS2 PRIVATE KEY-----";
    value.to_str().is_some_and(|v| v.starts_with("tpm:"))
        || (!is_uri(value)
            && std::fs::read(value).is_ok_and(|bytes| bytes.windows(TSS2.len()).any(|w| w == TSS2)))
}

fn is_pkcs11(value: &Path) -> bool {
    value.to_str().is_some_and(|v| v.starts_with("pkcs11:"))
}

/// The certificate alone (no key access; for cache keys and listings).
pub fn load_certificate(sources: &FileSources) -> Result<Certificate, IdentityError> {
    if is_pkcs11(&sources.certificate) {
        return token_certificate(&sources.certificate, sources.pkcs11_lib.as_deref());
    }
    load_certificate_file(&sources.certificate)
}

/// Loads the identity: files through [`FileIdentity`], a `pkcs11:` key through the token.
/// Either way the leaf is checked (validity, key type, key usage) at `now`.
pub fn load(
    sources: &FileSources,
    passphrase: &Passphrase,
    now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    // A `pkcs11:` certificate without --private-key names the token key as well.
    let key = sources
        .private_key
        .as_deref()
        .or_else(|| is_pkcs11(&sources.certificate).then_some(sources.certificate.as_path()));
    match key {
        Some(key) if is_pkcs11(key) => token_identity(key, sources, now),
        Some(key) if is_tpm_key(key) => tpm_identity(key, sources, passphrase, now),
        _ => Ok(Arc::new(FileIdentity::load(sources, passphrase, now)?)),
    }
}

#[cfg(feature = "pkcs11")]
fn token_certificate(uri: &Path, module: Option<&Path>) -> Result<Certificate, IdentityError> {
    Ok(super::pkcs11::load_certificate(
        &uri.to_string_lossy(),
        module,
    )?)
}

#[cfg(feature = "pkcs11")]
fn token_identity(
    key: &Path,
    sources: &FileSources,
    now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    let module = sources.pkcs11_lib.as_deref();
    // The certificate defaults to the key's URI: the token object with the key's id/label.
    let certificate = if sources.certificate == key {
        None
    } else {
        Some(load_certificate(sources)?)
    };
    let intermediates = match &sources.intermediates {
        Some(path) => Some(super::file::load_certificates(path)?),
        None => None,
    };
    let identity = super::pkcs11::Pkcs11Identity::open(
        &key.to_string_lossy(),
        module,
        certificate,
        intermediates,
    )?;
    super::file::check_leaf(&sources.certificate, identity.certificate(), now)?;
    Ok(Arc::new(identity))
}

#[cfg(not(feature = "pkcs11"))]
fn token_certificate(uri: &Path, _module: Option<&Path>) -> Result<Certificate, IdentityError> {
    Err(IdentityError::Pkcs11Unsupported {
        uri: uri.display().to_string(),
    })
}

#[cfg(not(feature = "pkcs11"))]
fn token_identity(
    key: &Path,
    _sources: &FileSources,
    _now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    Err(IdentityError::Pkcs11Unsupported {
        uri: key.display().to_string(),
    })
}

#[cfg(feature = "tpm")]
fn tpm_identity(
    key: &Path,
    sources: &FileSources,
    passphrase: &Passphrase,
    now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    if sources.certificate == key {
        return Err(super::tpm::TpmError::NoCertificate.into());
    }
    let leaf = load_certificate(sources)?;
    super::file::check_leaf(&sources.certificate, &leaf, now)?;
    let chain = match &sources.intermediates {
        Some(path) => super::file::load_certificates(path)?,
        None => Vec::new(),
    };
    // A TPM key's password: given, or stored in the keyring for this key; never prompted for
    // (a wrong guess counts against the TPM's dictionary-attack lockout).
    let password = match passphrase {
        Passphrase::Given(password) => Some(password.clone()),
        Passphrase::Keyring => Some(super::keyring::KeyStore::open()?.passphrase(key)?),
        Passphrase::PromptIfTerminal => None,
    };
    Ok(Arc::new(super::tpm::TpmIdentity::open(
        key, leaf, chain, password,
    )?))
}

#[cfg(not(feature = "tpm"))]
fn tpm_identity(
    key: &Path,
    _sources: &FileSources,
    _passphrase: &Passphrase,
    _now: OffsetDateTime,
) -> Result<Arc<dyn Signer>, IdentityError> {
    Err(IdentityError::TpmUnsupported {
        key: key.display().to_string(),
    })
}
