//! Keys in a TPM 2.0 (feature `tpm`, through tss-esapi): a persistent handle
//! (`--private-key tpm:handle:0x81000001`) or a TSS2 key file (`-----BEGIN TSS2 PRIVATE KEY-----`,
//! as `tpm2_encodeobject` and the OpenSSL TPM2 provider write them), loaded under the owner
//! hierarchy's standard ECC P-256 primary. The TPM is chosen by `TESSERA_TPM_TCTI`, then
//! `TPM2TOOLS_TCTI`, then `TCTI` (e.g. `device:/dev/tpmrm0`, `swtpm:host=127.0.0.1,port=2321`),
//! else `device:/dev/tpmrm0`. Transient objects are flushed after each signature.

use std::str::FromStr;
use std::sync::Mutex;

use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::constants::tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK};
use tss_esapi::handles::{KeyHandle, ObjectHandle, PersistentTpmHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{
    Auth, Digest as TpmDigest, EccPoint, HashScheme, HashcheckTicket, Public, PublicBuilder,
    PublicEccParametersBuilder, Signature, SignatureScheme, SymmetricDefinitionObject,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::tss2_esys::{TPM2B_DIGEST, TPMT_TK_HASHCHECK};
use tss_esapi::Context;

pub mod generate;
mod key_file;

use self::key_file::{parse_key_file, KeySource};

use super::key_ref::KeyRef;
use super::{Certificate, Digest, SignError, SignatureFamily, Signer};
use crate::secret::SecretString;

/// The PEM label of a TSS2 key file.
pub const TSS2_PEM_LABEL: &str = "TSS2 PRIVATE KEY";
/// What went wrong with a TPM key, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum TpmError {
    /// The key URI or file is malformed.
    #[error("TPM key {key}: {reason}")]
    BadKey {
        /// The URI or file.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The TPM cannot be reached.
    #[error("cannot open the TPM at '{tcti}' ({reason}); set TESSERA_TPM_TCTI (or TPM2TOOLS_TCTI), e.g. device:/dev/tpmrm0 or swtpm:host=127.0.0.1,port=2321")]
    Unreachable {
        /// The TCTI configuration tried.
        tcti: String,
        /// Why.
        reason: String,
    },
    /// No object at a persistent handle.
    #[error("no key at TPM handle 0x{handle:08x} ({reason}); list them with `tpm2_getcap handles-persistent`")]
    NoObject {
        /// The handle.
        handle: u32,
        /// The TPM's answer.
        reason: String,
    },
    /// The key's password was refused.
    #[error("the TPM refused the password of {key}; pass the key's password with --pkcs8-password or TESSERA_KEY_PASSPHRASE")]
    BadAuth {
        /// The key.
        key: String,
    },
    /// The key does not belong to the certificate.
    #[error("the TPM key {key} does not match the certificate (a test signature did not verify); point --certificate at this key's certificate")]
    KeyMismatch {
        /// The key.
        key: String,
    },
    /// A TPM key needs its certificate from a file.
    #[error("a TPM key needs --certificate (the TPM holds no certificate)")]
    NoCertificate,
    /// Another TPM failure.
    #[error("TPM {operation} failed for {key}: {reason}")]
    Tpm {
        /// What was being done.
        operation: &'static str,
        /// The key.
        key: String,
        /// The TPM's answer.
        reason: String,
    },
}

/// The standard storage primary (TCG provisioning guidance): ECC P-256, AES-128-CFB,
/// restricted decryption, no DA, empty unique.
pub(super) fn storage_primary_template() -> Result<Public, tss_esapi::Error> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_restricted(true)
        .with_decrypt(true)
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new_restricted_decryption_key(
                SymmetricDefinitionObject::AES_128_CFB,
                EccCurve::NistP256,
            )
            .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
}

/// The TCTI used when none is configured.
pub const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";

fn is_auth_failure(error: &tss_esapi::Error) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    text.contains("authorization") || text.contains("auth_fail") || text.contains("bad_auth")
}

/// A certificate whose private key stays in a TPM.
#[derive(Debug)]
pub struct TpmIdentity {
    leaf: Certificate,
    chain: Vec<Certificate>,
    family: SignatureFamily,
    key: KeySource,
    auth: Option<SecretString>,
    description: String,
    context: Mutex<Context>,
}

impl TpmIdentity {
    /// Opens the TPM for a persistent handle or a TSS2 key file, with the certificate (and
    /// chain) from files. The key is checked against the certificate with a test signature.
    pub fn open(
        key: &KeyRef,
        leaf: Certificate,
        chain: Vec<Certificate>,
        password: Option<SecretString>,
        tcti: Option<&str>,
    ) -> Result<Self, TpmError> {
        let text = key.to_string();
        let source = match key {
            KeyRef::TpmHandle(handle) => KeySource::Persistent(*handle),
            KeyRef::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| TpmError::BadKey {
                    key: text.clone(),
                    reason: e.to_string(),
                })?;
                parse_key_file(path, &bytes)?
            }
            KeyRef::Keyring(_) | KeyRef::Pkcs11(_) => {
                return Err(TpmError::BadKey {
                    key: text,
                    reason: "it is not a TPM key".to_owned(),
                })
            }
        };
        let family = match leaf.key_kind() {
            super::KeyKind::Rsa { .. } => SignatureFamily::Rsa,
            super::KeyKind::EcP256 | super::KeyKind::EcP384 => SignatureFamily::Ecdsa,
            super::KeyKind::MlDsa(level) => {
                return Err(TpmError::BadKey {
                    key: text,
                    reason: format!("its certificate holds an {level} key, which a TPM cannot sign with; keep an ML-DSA key in a PKCS#8 file"),
                })
            }
            super::KeyKind::Unsupported(kind) => {
                return Err(TpmError::BadKey {
                    key: text,
                    reason: format!("its certificate holds a {kind} key; Roles Anywhere needs RSA or ECDSA P-256/P-384"),
                })
            }
        };
        let tcti = tcti.unwrap_or(DEFAULT_TCTI).to_owned();
        let unreachable = |reason: String| TpmError::Unreachable {
            tcti: tcti.clone(),
            reason,
        };
        let name = TctiNameConf::from_str(&tcti).map_err(|e| unreachable(e.to_string()))?;
        let context = Context::new(name).map_err(|e| unreachable(e.to_string()))?;
        let identity = Self {
            leaf,
            chain,
            family,
            key: source,
            auth: password,
            description: format!("TPM {text}"),
            context: Mutex::new(context),
        };
        let probe = b"tessera: does this TPM key belong to the certificate?";
        let signature = match identity.sign_digest(&Digest::Sha256.hash(probe), Digest::Sha256) {
            Ok(signature) => signature,
            // TPM_RC_SCHEME: an RSA scheme for an ECC key or the reverse, so not this certificate's key.
            Err(TpmError::Tpm { reason, .. }) if reason.contains("scheme") => {
                return Err(TpmError::KeyMismatch { key: text })
            }
            Err(error) => return Err(error),
        };
        if !identity
            .leaf
            .verifies_request_signature(family, probe, &signature)
        {
            return Err(TpmError::KeyMismatch { key: text });
        }
        Ok(identity)
    }

    /// Loads the key (a transient copy for key files), signs, and flushes what it loaded.
    fn sign_digest(&self, hash: &[u8], digest: Digest) -> Result<Vec<u8>, TpmError> {
        let failed = |operation: &'static str| {
            let key = self.description.clone();
            move |error: tss_esapi::Error| {
                if is_auth_failure(&error) {
                    TpmError::BadAuth { key: key.clone() }
                } else {
                    TpmError::Tpm {
                        operation,
                        key: key.clone(),
                        reason: error.to_string(),
                    }
                }
            }
        };
        let mut context = self
            .context
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (key, transient): (KeyHandle, bool) = match &self.key {
            KeySource::Persistent(handle) => {
                let tpm_handle = PersistentTpmHandle::new(*handle)
                    .map(TpmHandle::Persistent)
                    .map_err(failed("handle"))?;
                let object = context
                    .execute_without_session(|ctx| ctx.tr_from_tpm_public(tpm_handle))
                    .map_err(|e| TpmError::NoObject {
                        handle: *handle,
                        reason: e.to_string(),
                    })?;
                (object.into(), false)
            }
            KeySource::File { public, private } => {
                let template = storage_primary_template().map_err(failed("CreatePrimary"))?;
                let primary = context
                    .execute_with_nullauth_session(|ctx| {
                        ctx.create_primary(Hierarchy::Owner, template, None, None, None, None)
                    })
                    .map_err(failed("CreatePrimary"))?
                    .key_handle;
                let loaded = context.execute_with_nullauth_session(|ctx| {
                    ctx.load(primary, private.clone(), public.clone())
                });
                let _ = context.flush_context(ObjectHandle::from(primary));
                (loaded.map_err(failed("Load"))?, true)
            }
        };
        let result = self.sign_loaded(&mut context, key, hash, digest);
        if transient {
            let _ = context.flush_context(ObjectHandle::from(key));
        } else {
            let _ = context.tr_close(&mut ObjectHandle::from(key));
        }
        signature_bytes(&self.description, result.map_err(failed("Sign"))?)
    }

    fn sign_loaded(
        &self,
        context: &mut Context,
        key: KeyHandle,
        hash: &[u8],
        digest: Digest,
    ) -> Result<Signature, tss_esapi::Error> {
        let hashing = match digest {
            Digest::Sha256 => HashingAlgorithm::Sha256,
            Digest::Sha384 => HashingAlgorithm::Sha384,
            Digest::Sha512 => HashingAlgorithm::Sha512,
        };
        let scheme = match self.family {
            SignatureFamily::Rsa => SignatureScheme::RsaSsa {
                hash_scheme: HashScheme::new(hashing),
            },
            SignatureFamily::Ecdsa => SignatureScheme::EcDsa {
                hash_scheme: HashScheme::new(hashing),
            },
            // Never opened: a TPM key's certificate is RSA or EC (checked when it is loaded).
            SignatureFamily::MlDsa => SignatureScheme::Null,
        };
        sign_digest_with(context, key, hash, scheme, self.auth.as_ref())
    }
}

/// ECDSA P-256 with SHA-256 by `key` over `hash` (a new login key's CSR).
pub(super) fn sign_with(
    context: &mut Context,
    key: KeyHandle,
    hash: &[u8],
    auth: Option<&SecretString>,
) -> Result<Signature, tss_esapi::Error> {
    let scheme = SignatureScheme::EcDsa {
        hash_scheme: HashScheme::new(HashingAlgorithm::Sha256),
    };
    sign_digest_with(context, key, hash, scheme, auth)
}

/// Signs a digest computed outside the TPM with `key` (authorised by `auth`, else empty).
fn sign_digest_with(
    context: &mut Context,
    key: KeyHandle,
    hash: &[u8],
    scheme: SignatureScheme,
    auth: Option<&SecretString>,
) -> Result<Signature, tss_esapi::Error> {
    let auth = match auth {
        Some(password) => Auth::try_from(password.expose_secret().as_bytes().to_vec())?,
        None => Auth::default(),
    };
    context.tr_set_auth(ObjectHandle::from(key), auth)?;
    // A null ticket: the digest was computed outside the TPM, which an unrestricted signing
    // key accepts.
    let validation = HashcheckTicket::try_from(TPMT_TK_HASHCHECK {
        tag: TPM2_ST_HASHCHECK,
        hierarchy: TPM2_RH_NULL,
        digest: TPM2B_DIGEST::default(),
    })?;
    context.execute_with_session(Some(AuthSession::Password), |ctx| {
        ctx.sign(key, TpmDigest::try_from(hash.to_vec())?, scheme, validation)
    })
}

/// The signature bytes the Signer trait promises (RSA as is, ECDSA as DER), or an error for a
/// signature that cannot be converted: an empty or malformed signature is never passed on.
pub(super) fn signature_bytes(key: &str, signature: Signature) -> Result<Vec<u8>, TpmError> {
    let unusable = |reason: &str| TpmError::Tpm {
        operation: "Sign",
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    match signature {
        Signature::RsaSsa(rsa) => Ok(rsa.signature().value().to_vec()),
        Signature::EcDsa(ecc) => {
            let (r, s) = (ecc.signature_r().value(), ecc.signature_s().value());
            let width = if r.len().max(s.len()) > 32 { 48 } else { 32 };
            if r.len().max(s.len()) > width {
                return Err(unusable("the ECDSA signature is longer than P-384's"));
            }
            let mut raw = vec![0u8; 2 * width];
            raw[width - r.len()..width].copy_from_slice(r);
            raw[2 * width - s.len()..].copy_from_slice(s);
            super::key::ecdsa_der_from_raw(&raw)
                .ok_or_else(|| unusable("the ECDSA signature is not a valid (r, s) pair"))
        }
        _ => Err(unusable(
            "the TPM answered with a signature of another kind",
        )),
    }
}

impl Signer for TpmIdentity {
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
        let signature = self
            .sign_digest(&digest.hash(message), digest)
            .map_err(|e| SignError::Failed {
                key: self.description.clone(),
                reason: e.to_string(),
            })?;
        if signature.is_empty() {
            return Err(SignError::Failed {
                key: self.description.clone(),
                reason: "the TPM returned an unexpected signature type".into(),
            });
        }
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tss_esapi::structures::{EccParameter, EccSignature};

    fn ecdsa(r: Vec<u8>, s: Vec<u8>) -> Signature {
        Signature::EcDsa(
            EccSignature::create(
                HashingAlgorithm::Sha256,
                EccParameter::try_from(r).unwrap(),
                EccParameter::try_from(s).unwrap(),
            )
            .unwrap(),
        )
    }

    #[test]
    fn an_ecdsa_signature_that_cannot_be_converted_is_an_error_not_an_empty_signature() {
        // Regression (issue 15, bug 4): this used to become an empty signature.
        let error =
            signature_bytes("tpm:handle:0x81000001", ecdsa(vec![0; 32], vec![0; 32])).unwrap_err();
        assert!(
            error.to_string().contains("not a valid (r, s) pair"),
            "{error}"
        );
        let good = signature_bytes("k", ecdsa(vec![1; 32], vec![2; 31])).unwrap();
        assert_eq!(good[0], 0x30, "DER SEQUENCE");
    }
}
