//! Keys held in a PKCS#11 token (smart card, YubiKey, HSM, SoftHSM), named by RFC 7512 URIs.
//!
//! The module is loaded at run time (`module-path=` in the URI, `--pkcs11-lib`, else the
//! p11-kit proxy). One session per identity is opened, logged in and reused for every signature;
//! if the token goes away (removed, session closed) the next signature reopens it and retries once.
//! RSA signs with `CKM_SHA256_RSA_PKCS` (or hashes in software and signs a DigestInfo with
//! `CKM_RSA_PKCS` when the token lacks it); ECDSA hashes in software, signs with `CKM_ECDSA` and
//! DER-encodes r‖s. Keys with `CKA_ALWAYS_AUTHENTICATE` log in again for each signature.

mod ffi;

mod error;
pub mod generate;
mod module;
mod objects;
mod session;

use std::path::Path;
use std::sync::Mutex;

use cryptoki::object::{Attribute, AttributeType, KeyType};

pub use self::error::Pkcs11Error;
use self::module::load_module;
pub use self::module::module_path;
pub use self::objects::{list_objects, load_certificate, TokenObject};
use self::objects::{token_certificate, token_chain};
use self::session::{session_lost, token_error, Connection};
use super::pkcs11_uri::Pkcs11Uri;
use super::{Certificate, Digest, KeyKind, SignError, SignatureFamily, Signer};
use crate::secret::SecretString;

/// How to reach a token: the `--pkcs11-lib` module (for URIs without `module-path=`) and the
/// PIN from the environment (for URIs without a PIN).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenAccess<'a> {
    /// `--pkcs11-lib`.
    pub module: Option<&'a Path>,
    /// `TESSERA_PKCS11_PIN`, read by the CLI.
    pub env_pin: Option<&'a SecretString>,
}

/// A DigestInfo for `CKM_RSA_PKCS`, which pads but does not hash.
fn digest_info(digest: Digest, hash: &[u8]) -> Vec<u8> {
    [super::key::digest_info_prefix(digest), hash].concat()
}

/// A certificate whose private key stays in a PKCS#11 token.
#[derive(Debug)]
pub struct Pkcs11Identity {
    leaf: Certificate,
    chain: Vec<Certificate>,
    family: SignatureFamily,
    description: String,
    connection: Mutex<Connection>,
}

impl Pkcs11Identity {
    /// Opens the token holding the key `uri` names. The certificate comes from `certificate` (already
    /// loaded from a file or another URI) or, when `None`, from the token object with the key's
    /// id or label; `intermediates` come from a file, else from token certificates that issue
    /// the leaf. The key is checked against the certificate with a test signature.
    pub fn open(
        uri: &Pkcs11Uri,
        access: TokenAccess<'_>,
        certificate: Option<Certificate>,
        intermediates: Option<Vec<Certificate>>,
    ) -> Result<Self, Pkcs11Error> {
        let module = module_path(uri, access.module)?;
        let context = load_module(&module)?;
        let connection = Connection::connect(context, module, uri.clone(), None, access.env_pin)?;
        let session = &connection.session;
        let key_type = session
            .get_attributes(connection.key, &[AttributeType::KeyType])
            .map_err(|e| token_error("C_GetAttributeValue", &connection.token.label, &e))?;
        let family = match key_type.as_slice() {
            [Attribute::KeyType(KeyType::RSA)] => SignatureFamily::Rsa,
            [Attribute::KeyType(KeyType::EC)] => SignatureFamily::Ecdsa,
            other => {
                return Err(Pkcs11Error::UnsupportedKey {
                    token: connection.token.label.clone(),
                    kind: format!("{other:?}"),
                })
            }
        };
        let leaf = match certificate {
            Some(leaf) => leaf,
            None => token_certificate(session, &connection.token, uri)?,
        };
        match leaf.key_kind() {
            KeyKind::Unsupported(kind) => {
                return Err(Pkcs11Error::UnsupportedKey {
                    token: connection.token.label.clone(),
                    kind: kind.to_owned(),
                })
            }
            KeyKind::MlDsa(level) => {
                return Err(Pkcs11Error::UnsupportedKey {
                    token: connection.token.label.clone(),
                    kind: format!("{level}, which tessera cannot sign with through PKCS#11 (keep an ML-DSA key in a PKCS#8 file)"),
                })
            }
            _ => {}
        }
        let chain = match intermediates {
            Some(chain) => chain,
            None => token_chain(session, &connection.token, &leaf)?,
        };
        let description = format!("PKCS#11 {uri}");
        let identity = Self {
            leaf,
            chain,
            family,
            description,
            connection: Mutex::new(connection),
        };
        let probe = b"tessera: does this token key belong to the certificate?";
        let signature = identity
            .sign(probe, Digest::Sha256)
            .map_err(|e| Pkcs11Error::Token {
                operation: "C_Sign",
                token: uri.token.clone().unwrap_or_default(),
                reason: e.to_string(),
            })?;
        if !identity
            .leaf
            .verifies_request_signature(family, probe, &signature)
        {
            return Err(Pkcs11Error::KeyMismatch {
                uri: uri.to_string(),
            });
        }
        Ok(identity)
    }
}

impl Signer for Pkcs11Identity {
    fn certificate(&self) -> &Certificate {
        &self.leaf
    }

    fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    fn family(&self) -> SignatureFamily {
        self.family
    }

    fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, SignError> {
        let failed = |reason: String| SignError::Failed {
            key: self.description.clone(),
            reason,
        };
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let raw = match connection.sign_once(self.family, message, digest) {
            Ok(signature) => signature,
            Err(error) if session_lost(&error) => {
                tracing::warn!(token = %connection.token.label, "PKCS#11 session lost ({error}); reopening");
                connection.reconnect().map_err(|e| failed(e.to_string()))?;
                connection
                    .sign_once(self.family, message, digest)
                    .map_err(|e| failed(e.to_string()))?
            }
            Err(error) => return Err(failed(error.to_string())),
        };
        match self.family {
            SignatureFamily::Rsa | SignatureFamily::MlDsa => Ok(raw),
            SignatureFamily::Ecdsa => super::key::ecdsa_der_from_raw(&raw).ok_or_else(|| {
                failed(format!(
                    "the token returned a {}-byte ECDSA signature",
                    raw.len()
                ))
            }),
        }
    }
}
