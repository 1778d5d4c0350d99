//! PKCS#12 bundles: recognising one, bounding its MAC cost, and opening it.

use std::path::Path;

use pkcs8::der::{Decode, Tagged};

use super::{FileRole, IdentityError, Passphrase, MAX_PBKDF2_ITERATIONS};
use crate::identity::cert::Certificate;
use crate::identity::key::PrivateKey;

/// A PKCS#12 PFX is a DER SEQUENCE whose first element is INTEGER 3; certificates and keys
/// never start that way, so this tells them apart without the password.
pub(super) fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    match pkcs8::der::asn1::AnyRef::from_der(bytes) {
        Ok(outer) => {
            outer.tag() == pkcs8::der::Tag::Sequence
                && outer.value().starts_with(&[0x02, 0x01, 0x03])
        }
        Err(_) => false,
    }
}

/// Refuses a PFX whose MAC asks for more iterations than [`MAX_PBKDF2_ITERATIONS`], before
/// any password is tried: each attempt would spend them. A PFX that does not decode is left to
/// the full parser, which says what is wrong with it.
pub(super) fn check_pkcs12_mac_cost(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    use pkcs8::der::Decode;
    let Ok(pfx) = pkcs12::pfx::Pfx::from_der(bytes) else {
        return Ok(());
    };
    match pfx.mac_data {
        Some(mac) if u32::try_from(mac.iterations).unwrap_or(u32::MAX) > MAX_PBKDF2_ITERATIONS => {
            Err(IdentityError::Pkcs12TooCostly {
                path: path.to_owned(),
                iterations: mac.iterations,
            })
        }
        _ => Ok(()),
    }
}

pub(super) fn open_pkcs12(
    path: &Path,
    bytes: &[u8],
    passphrase: &Passphrase,
) -> Result<(Vec<Certificate>, PrivateKey), IdentityError> {
    use p12_keystore::error::Error as P12Error;
    use p12_keystore::{KeyStore, Pkcs12ImportPolicy};

    check_pkcs12_mac_cost(path, bytes)?;
    let open = |password: &str| KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Strict);
    let store = match open("") {
        Ok(store) => store,
        Err(P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_)) => {
            let secret = passphrase.obtain(path)?;
            open(secret.expose_secret()).map_err(|e| match e {
                P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_) => {
                    IdentityError::Pkcs12Password {
                        path: path.to_owned(),
                    }
                }
                other => IdentityError::Pkcs12 {
                    path: path.to_owned(),
                    detail: other.to_string(),
                },
            })?
        }
        Err(other) => {
            return Err(IdentityError::Pkcs12 {
                path: path.to_owned(),
                detail: other.to_string(),
            })
        }
    };
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| IdentityError::NoPrivateKey {
            path: path.to_owned(),
            has_certificate: true,
        })?;
    let key =
        PrivateKey::from_pkcs8_der(chain.key().as_der()).map_err(|reason| IdentityError::Key {
            path: path.to_owned(),
            reason,
        })?;
    let certificates = chain
        .certs()
        .iter()
        .map(|c| {
            Certificate::from_der(c.as_der()).map_err(|e| IdentityError::BadCertificate {
                role: FileRole::Certificate,
                path: path.to_owned(),
                detail: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((certificates, key))
}
