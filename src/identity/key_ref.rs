//! [`KeyRef`]: where a certificate or key lives, parsed once from a `--certificate`,
//! `--private-key` or `--intermediates` value (or its config key), and [`IdentitySources`], the
//! inputs of one identity. The loader in `source.rs` dispatches on a `KeyRef` with one `match`;
//! no URI travels as a path.

use std::fmt;
use std::path::{Path, PathBuf};

use super::keyring::{KeyringError, KeyringUri};
use super::pkcs11_uri::Pkcs11Uri;
use crate::secret::SecretString;

/// Where TPM 2.0 keeps persistent objects.
const PERSISTENT_HANDLES: std::ops::RangeInclusive<u32> = 0x8100_0000..=0x81ff_ffff;

/// A value that does not parse as the reference its prefix announces.
#[derive(Debug, thiserror::Error)]
pub enum KeyRefError {
    /// A `pkcs11:` URI that does not parse.
    #[error("PKCS#11 URI {uri}: {reason}")]
    Pkcs11 {
        /// The URI as given, PIN removed.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// A `tpm:` value that is not a persistent handle.
    #[error("TPM key {key}: {reason}")]
    Tpm {
        /// The value as given.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `keyring:` URI that does not parse.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
}

/// Where a certificate or key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A file: PEM, DER, PKCS#12, or a TSS2 (TPM) key file.
    File(PathBuf),
    /// An entry imported into the OS keyring (`keyring:SERVICE/NAME`), read like the file it was.
    Keyring(KeyringUri),
    /// An object on a PKCS#11 token (RFC 7512).
    Pkcs11(Box<Pkcs11Uri>),
    /// A TPM persistent handle (`tpm:handle:0x81000001`).
    TpmHandle(u32),
}

impl KeyRef {
    /// Whether a value is a URI (`pkcs11:`, `keyring:`, `tpm:`) rather than a file path; such
    /// values are never made relative to a config file's directory.
    pub fn is_uri(value: &Path) -> bool {
        value.to_str().is_some_and(|v| {
            ["pkcs11:", "keyring:", "tpm:"]
                .iter()
                .any(|prefix| v.starts_with(prefix))
        })
    }

    /// Parses a flag or config value.
    pub fn parse(value: &Path) -> Result<Self, KeyRefError> {
        let Some(text) = value.to_str().filter(|_| Self::is_uri(value)) else {
            return Ok(Self::File(value.to_owned()));
        };
        if text.starts_with("pkcs11:") {
            return Ok(Self::Pkcs11(Box::new(Pkcs11Uri::parse(text)?)));
        }
        if text.starts_with("keyring:") {
            return Ok(Self::Keyring(KeyringUri::parse(text)?));
        }
        parse_tpm_handle(text).map(Self::TpmHandle)
    }

    /// The file, for a file reference (its changes are watched, its path made absolute).
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            _ => None,
        }
    }

    /// Whether it names a token object (whose certificate can come from the token too).
    pub fn is_token(&self) -> bool {
        matches!(self, Self::Pkcs11(_))
    }

    /// How the reference reads in messages, as a path-like value (a PKCS#11 PIN left out).
    pub fn display_path(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            other => PathBuf::from(other.to_string()),
        }
    }
}

/// Prints the reference as the user wrote it, a PKCS#11 PIN left out.
impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Keyring(uri) => write!(f, "{uri}"),
            Self::Pkcs11(uri) => write!(f, "{uri}"),
            Self::TpmHandle(handle) => write!(f, "tpm:handle:{handle:#010x}"),
        }
    }
}

/// `tpm:handle:0x81000001`: a persistent handle, in the persistent range.
fn parse_tpm_handle(text: &str) -> Result<u32, KeyRefError> {
    let bad = |reason| KeyRefError::Tpm {
        key: text.to_owned(),
        reason,
    };
    let hex = text
        .strip_prefix("tpm:handle:")
        .ok_or_else(|| bad("the form is tpm:handle:0x81000001"))?;
    let handle = u32::from_str_radix(hex.trim_start_matches("0x"), 16)
        .map_err(|_| bad("the handle is not hexadecimal"))?;
    if !PERSISTENT_HANDLES.contains(&handle) {
        return Err(bad("persistent handles are 0x81000000-0x81ffffff"));
    }
    Ok(handle)
}

/// Every input of one identity.
#[derive(Debug, Clone)]
pub struct IdentitySources {
    /// The certificate: a file (PEM/DER, full chain, combined with the key, or PKCS#12), a
    /// keyring entry, or a token object.
    pub certificate: KeyRef,
    /// The private key; `None` when the certificate input holds it (or names the token key).
    pub private_key: Option<KeyRef>,
    /// Extra intermediate certificates.
    pub intermediates: Option<KeyRef>,
    /// PKCS#11 module for token references without `module-path=`.
    pub pkcs11_lib: Option<PathBuf>,
    /// What the environment says about reaching key stores (read by the CLI).
    pub access: KeyAccess,
}

/// Key-store settings that come from the environment: the CLI reads the variables, the
/// library takes the values.
#[derive(Debug, Clone, Default)]
pub struct KeyAccess {
    /// The token PIN (`TESSERA_PKCS11_PIN`), used when a `pkcs11:` URI has none.
    pub pkcs11_pin: Option<SecretString>,
    /// The TPM's TCTI (`TESSERA_TPM_TCTI`, `TPM2TOOLS_TCTI` or `TCTI`); default
    /// `device:/dev/tpmrm0`.
    pub tpm_tcti: Option<String>,
}

impl IdentitySources {
    /// Sources from a certificate and an optional key, both files or URIs, nothing else.
    pub fn new(certificate: &Path, private_key: Option<&Path>) -> Result<Self, KeyRefError> {
        Ok(Self {
            certificate: KeyRef::parse(certificate)?,
            private_key: private_key.map(KeyRef::parse).transpose()?,
            intermediates: None,
            pkcs11_lib: None,
            access: KeyAccess::default(),
        })
    }

    /// The key reference: `--private-key`, else the certificate input (a combined file, a
    /// PKCS#12 bundle, or a token object naming both).
    pub fn key(&self) -> &KeyRef {
        self.private_key.as_ref().unwrap_or(&self.certificate)
    }

    /// Whether the certificate input is the key's own reference (a combined file, a keyring
    /// pair, or a token object whose certificate is looked up by the key's id/label).
    pub fn certificate_is_key(&self) -> bool {
        self.private_key
            .as_ref()
            .is_none_or(|key| *key == self.certificate)
    }

    /// The files among the inputs, whose changes mean the identity must be reloaded.
    pub fn files(&self) -> Vec<PathBuf> {
        std::iter::once(&self.certificate)
            .chain(&self.private_key)
            .chain(&self.intermediates)
            .filter_map(KeyRef::file)
            .map(Path::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_by_prefix() {
        let parse = |v: &str| KeyRef::parse(Path::new(v));
        assert_eq!(parse("leaf.pem").unwrap(), KeyRef::File("leaf.pem".into()));
        assert_eq!(
            parse("tpm:handle:0x81000001").unwrap(),
            KeyRef::TpmHandle(0x8100_0001)
        );
        assert!(
            matches!(parse("keyring:svc/name").unwrap(), KeyRef::Keyring(u) if u.name == "name")
        );
        assert!(
            matches!(parse("pkcs11:token=t;object=o").unwrap(), KeyRef::Pkcs11(u) if u.object.as_deref() == Some("o"))
        );
        for (bad, reason) in [
            ("tpm:handle:zz", "not hexadecimal"),
            ("tpm:handle:0x80000001", "persistent handles are"),
            ("tpm:0x81000001", "the form is"),
            ("pkcs11:bogus=1", "unknown path attribute"),
            ("keyring:", "service and name"),
        ] {
            let error = parse(bad).unwrap_err().to_string();
            assert!(error.contains(reason), "{bad}: {error}");
        }
    }

    #[test]
    fn a_pin_never_reaches_a_message() {
        let error = KeyRef::parse(Path::new("pkcs11:token=t;pin-value=1234")).unwrap_err();
        assert!(!error.to_string().contains("1234"), "{error}");
        let uri = KeyRef::parse(Path::new("pkcs11:token=t?pin-value=1234")).unwrap();
        assert!(!uri.to_string().contains("1234"), "{uri}");
    }

    #[test]
    fn only_files_are_watched() {
        let sources =
            IdentitySources::new(Path::new("c.pem"), Some(Path::new("pkcs11:token=t"))).unwrap();
        assert_eq!(sources.files(), vec![PathBuf::from("c.pem")]);
        assert!(sources.key().is_token());
    }
}
