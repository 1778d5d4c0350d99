//! Private keys held in memory: parsing PKCS#1, SEC1 and PKCS#8 DER, and signing.
//!
//! ring signs RSA up to 4096 bits; larger RSA keys (up to 8192) use the `rsa` crate. ECDSA uses
//! the RustCrypto `p256`/`p384` crates because ring cannot sign P-384 with SHA-256, which
//! Roles Anywhere requires.

use std::fmt;

use p256::ecdsa::signature::hazmat::PrehashSigner;
use pkcs8::der::Decode;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;

use super::cert::KeyKind;
use super::mldsa::{MlDsaKey, MlDsaLevel};
use super::{Digest, SignError, SignatureFamily};

/// OID of rsaEncryption.
const OID_RSA: &str = "1.2.840.113549.1.1.1";
/// OID of id-ecPublicKey.
const OID_EC: &str = "1.2.840.10045.2.1";
/// OID of Ed25519.
const OID_ED25519: &str = "1.3.101.112";
/// OID of RSASSA-PSS keys.
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
/// Curve OIDs.
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

/// Largest RSA modulus ring can sign with.
const RING_RSA_MAX_BITS: usize = 4096;
/// Supported RSA modulus sizes.
pub const RSA_MIN_BITS: usize = 2048;
/// Supported RSA modulus sizes.
pub const RSA_MAX_BITS: usize = 8192;

/// Why key bytes could not become a signing key.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a key in the expected encoding.
    #[error("not a valid {format} private key")]
    Malformed {
        /// The encoding tried.
        format: &'static str,
    },
    /// A key type Roles Anywhere (or tessera) cannot sign with.
    #[error("{kind} keys are not supported; use RSA (2048–8192 bits), ECDSA P-256/P-384 or ML-DSA-44/65/87")]
    UnsupportedType {
        /// What the key is.
        kind: String,
    },
    /// An algorithm in the ML-DSA arc that is none of the three levels.
    #[error("the key's algorithm {oid} is not ML-DSA-44, 65 or 87 (2.16.840.1.101.3.4.3.17–19)")]
    UnknownMlDsa {
        /// The OID.
        oid: String,
    },
    /// A key of a supported type whose contents are not a usable key.
    #[error("not a usable {kind} private key: {detail}")]
    Invalid {
        /// The key type.
        kind: &'static str,
        /// What is wrong.
        detail: &'static str,
    },
    /// An RSA key of an unsupported size.
    #[error("RSA keys of {bits} bits are not supported; use 2048–8192 bits")]
    UnsupportedRsaSize {
        /// The modulus size.
        bits: usize,
    },
}

/// A private key in memory. Key material is zeroized on drop by the underlying crates
/// (ring, `rsa`, `p256`/`p384` all zeroize their secret scalars).
pub enum PrivateKey {
    /// RSA up to 4096 bits, signed by ring.
    RingRsa(ring::signature::RsaKeyPair),
    /// RSA above 4096 bits, signed by the `rsa` crate (with blinding).
    LargeRsa(Box<rsa::PrivateKey>),
    /// ECDSA P-256.
    P256(p256::ecdsa::SigningKey),
    /// ECDSA P-384.
    P384(p384::ecdsa::SigningKey),
    /// ML-DSA-44, 65 or 87.
    MlDsa(MlDsaKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Security: only the key's kind is printed, never its material.
        write!(f, "PrivateKey({})", self.kind())
    }
}

impl PrivateKey {
    /// Parses a PKCS#8 `PrivateKeyInfo` (unencrypted) DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = pkcs8::PrivateKeyInfoRef::from_der(der)
            .map_err(|_| KeyError::Malformed { format: "PKCS#8" })?;
        let oid = info.algorithm.oid.to_string();
        match oid.as_str() {
            OID_RSA => Self::from_pkcs1_der(info.private_key.as_bytes()),
            OID_EC => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| KeyError::Malformed {
                        format: "PKCS#8 EC",
                    })?
                    .to_string();
                Self::from_sec1_der_on_curve(info.private_key.as_bytes(), &curve)
            }
            OID_ED25519 => Err(KeyError::UnsupportedType {
                kind: "Ed25519".into(),
            }),
            OID_RSA_PSS => Err(KeyError::UnsupportedType {
                kind: "RSASSA-PSS".into(),
            }),
            oid if MlDsaLevel::from_oid(oid).is_some() => {
                let level =
                    MlDsaLevel::from_oid(oid).ok_or(KeyError::Malformed { format: "PKCS#8" })?;
                if info.algorithm.parameters.is_some() {
                    return Err(KeyError::Malformed {
                        format: level.name(),
                    });
                }
                MlDsaKey::from_pkcs8_private_key(level, info.private_key.as_bytes())
                    .map(Self::MlDsa)
            }
            oid if MlDsaLevel::is_unknown_sibling(oid) => Err(KeyError::UnknownMlDsa {
                oid: oid.to_owned(),
            }),
            other => Err(KeyError::UnsupportedType {
                kind: format!("algorithm {other}"),
            }),
        }
    }

    /// Parses a PKCS#1 `RSAPrivateKey` DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let parsed = rsa::PrivateKey::from_pkcs1_der(der).map_err(|_| KeyError::Malformed {
            format: "PKCS#1 RSA",
        })?;
        let bits = parsed.size() * 8;
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(KeyError::UnsupportedRsaSize { bits });
        }
        if bits <= RING_RSA_MAX_BITS {
            let pair =
                ring::signature::RsaKeyPair::from_der(der).map_err(|_| KeyError::Malformed {
                    format: "PKCS#1 RSA",
                })?;
            Ok(Self::RingRsa(pair))
        } else {
            Ok(Self::LargeRsa(Box::new(parsed)))
        }
    }

    /// Parses a SEC1 `ECPrivateKey` DER that names its curve.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = sec1::EcPrivateKey::from_der(der)
            .map_err(|_| KeyError::Malformed { format: "SEC1 EC" })?;
        let curve = key
            .parameters
            .and_then(|p| p.named_curve())
            .map(|oid| oid.to_string())
            .ok_or(KeyError::Malformed {
                format: "SEC1 EC (no named curve)",
            })?;
        Self::from_sec1_der_on_curve(der, &curve)
    }

    fn from_sec1_der_on_curve(der: &[u8], curve: &str) -> Result<Self, KeyError> {
        match curve {
            OID_P256 => p256::SecretKey::from_sec1_der(der)
                .map(|k| Self::P256(k.into()))
                .map_err(|_| KeyError::Malformed { format: "P-256" }),
            OID_P384 => p384::SecretKey::from_sec1_der(der)
                .map(|k| Self::P384(k.into()))
                .map_err(|_| KeyError::Malformed { format: "P-384" }),
            OID_P521 => Err(KeyError::UnsupportedType {
                kind: "ECDSA P-521".into(),
            }),
            other => Err(KeyError::UnsupportedType {
                kind: format!("ECDSA on curve {other}"),
            }),
        }
    }

    /// The key's kind (type and size).
    pub fn kind(&self) -> KeyKind {
        match self {
            PrivateKey::RingRsa(k) => KeyKind::Rsa {
                bits: k.public().modulus_len() * 8,
            },
            PrivateKey::LargeRsa(k) => KeyKind::Rsa { bits: k.size() * 8 },
            PrivateKey::P256(_) => KeyKind::EcP256,
            PrivateKey::P384(_) => KeyKind::EcP384,
            PrivateKey::MlDsa(k) => KeyKind::MlDsa(k.level()),
        }
    }

    /// The signature family.
    pub fn family(&self) -> SignatureFamily {
        match self {
            PrivateKey::RingRsa(_) | PrivateKey::LargeRsa(_) => SignatureFamily::Rsa,
            PrivateKey::P256(_) | PrivateKey::P384(_) => SignatureFamily::Ecdsa,
            PrivateKey::MlDsa(_) => SignatureFamily::MlDsa,
        }
    }

    /// The public key in certificate form: an RSAPublicKey DER, an uncompressed EC point or an
    /// encoded ML-DSA key.
    pub fn public_key(&self) -> Vec<u8> {
        match self {
            PrivateKey::RingRsa(k) => {
                use ring::signature::KeyPair;
                k.public_key().as_ref().to_vec()
            }
            PrivateKey::LargeRsa(k) => {
                use rsa::pkcs1::EncodeRsaPublicKey;
                k.to_public_key()
                    .to_pkcs1_der()
                    .map(|d| d.as_bytes().to_vec())
                    .unwrap_or_default()
            }
            PrivateKey::P256(k) => k.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
            PrivateKey::P384(k) => k.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
            PrivateKey::MlDsa(k) => k.public_key().to_vec(),
        }
    }

    /// Signs `message` hashed with `digest`. ECDSA output is ASN.1 DER.
    pub fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, SignError> {
        let failed = |reason: String| SignError::Failed {
            key: self.kind().to_string(),
            reason,
        };
        match self {
            PrivateKey::RingRsa(k) => {
                let padding = match digest {
                    Digest::Sha256 => &ring::signature::RSA_PKCS1_SHA256,
                    Digest::Sha384 => &ring::signature::RSA_PKCS1_SHA384,
                    Digest::Sha512 => &ring::signature::RSA_PKCS1_SHA512,
                };
                let mut signature = vec![0; k.public().modulus_len()];
                k.sign(
                    padding,
                    &ring::rand::SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| failed("ring refused to sign".into()))?;
                Ok(signature)
            }
            PrivateKey::LargeRsa(k) => {
                let scheme = rsa::pkcs1v15::Pkcs1v15Sign {
                    hash_len: Some(digest_len(digest)),
                    prefix: digest_info_prefix(digest).into(),
                };
                k.sign_with_rng(&mut rsa_rng(), scheme, &digest.hash(message))
                    .map_err(|e| failed(e.to_string()))
            }
            PrivateKey::P256(k) => {
                let signature: p256::ecdsa::DerSignature = k
                    .sign_prehash(&digest.hash(message))
                    .map_err(|e| failed(e.to_string()))?;
                Ok(signature.as_bytes().to_vec())
            }
            PrivateKey::P384(k) => {
                let signature: p384::ecdsa::DerSignature = k
                    .sign_prehash(&digest.hash(message))
                    .map_err(|e| failed(e.to_string()))?;
                Ok(signature.as_bytes().to_vec())
            }
            PrivateKey::MlDsa(k) => k.sign(message).map_err(failed),
        }
    }
}

fn digest_len(digest: Digest) -> usize {
    match digest {
        Digest::Sha256 => 32,
        Digest::Sha384 => 48,
        Digest::Sha512 => 64,
    }
}

/// ASN.1 DER of an ECDSA signature from a token's or TPM's raw r‖s (P-256 or P-384).
#[cfg(any(feature = "pkcs11", feature = "tpm"))]
pub(crate) fn ecdsa_der_from_raw(raw: &[u8]) -> Option<Vec<u8>> {
    match raw.len() {
        64 => p256::ecdsa::Signature::from_slice(raw)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec()),
        96 => p384::ecdsa::Signature::from_slice(raw)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec()),
        _ => None,
    }
}

/// The DER DigestInfo prefix for PKCS#1 v1.5 signatures (RFC 8017 §9.2, note 1).
pub(crate) fn digest_info_prefix(digest: Digest) -> &'static [u8] {
    match digest {
        Digest::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        Digest::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        Digest::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

/// The operating system's CSPRNG, for RSA blinding in the `rsa` crate.
fn rsa_rng() -> getrandom::SysRng {
    getrandom::SysRng
}
