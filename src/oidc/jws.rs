//! JWS compact serialization (RFC 7515): parsing, and verifying a signature with a JWK over
//! an allow-list of asymmetric algorithms (RFC 7518). `none` and the HMAC algorithms are never
//! accepted, so a public key cannot be turned into an HMAC secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

use super::jwks::Jwk;

/// Longest token accepted, in bytes (ID tokens are a few KiB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// A signature algorithm tessera accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
}

impl Algorithm {
    /// The allow-listed algorithm named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "EdDSA" => Self::EdDsa,
            _ => return None,
        })
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The JWK key type this algorithm needs.
    fn key_type(self) -> &'static str {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => {
                "RSA"
            }
            Self::Es256 | Self::Es384 => "EC",
            Self::EdDsa => "OKP",
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// Not three base64url parts, or too long.
    #[error("the token is not a compact JWS (three base64url parts)")]
    Malformed,
    /// The header is not the expected JSON.
    #[error("the token header is not valid JSON")]
    BadHeader,
    /// The payload is not a JSON object.
    #[error("the token payload is not a JSON object")]
    BadPayload,
    /// `alg` is not on the allow-list (`none`, HMAC, unknown).
    #[error("the token is signed with '{0}', which is not allowed (allowed: RS256/384/512, PS256/384/512, ES256, ES384, EdDSA)")]
    AlgorithmNotAllowed(String),
    /// The key's type or curve does not fit the algorithm.
    #[error("key '{kid}' is a {kty} key and cannot verify {alg}")]
    KeyMismatch {
        /// The key id.
        kid: String,
        /// The key's type.
        kty: String,
        /// The token's algorithm.
        alg: &'static str,
    },
    /// The key's parameters are missing or not base64url.
    #[error("key '{0}' has missing or malformed parameters")]
    BadKey(String),
    /// The signature does not verify.
    #[error("the token signature does not verify")]
    BadSignature,
}

/// The protected header fields tessera reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    /// The algorithm.
    pub alg: String,
    /// The key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// A certificate chain (base64 DER, leaf first), for renewal tokens.
    #[serde(default)]
    pub x5c: Option<Vec<String>>,
}

/// A parsed, not yet verified, token.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The header.
    pub header: Header,
    /// The allow-listed algorithm from the header.
    pub algorithm: Algorithm,
    /// The payload as JSON.
    pub payload: serde_json::Map<String, serde_json::Value>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Splits and decodes `token`; the algorithm must be on the allow-list.
pub fn parse(token: &str) -> Result<Parsed, JwsError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwsError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwsError::Malformed)
    };
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| JwsError::BadHeader)?;
    let algorithm = Algorithm::from_name(&header.alg)
        .ok_or_else(|| JwsError::AlgorithmNotAllowed(crate::text::printable(&header.alg, 20)))?;
    let payload = match serde_json::from_slice(&decode(p)?) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err(JwsError::BadPayload),
    };
    Ok(Parsed {
        header,
        algorithm,
        payload,
        signing_input: format!("{h}.{p}"),
        signature: decode(s)?,
    })
}

impl Parsed {
    /// Checks the signature with `key`.
    pub fn verify_with(&self, key: &Jwk) -> Result<(), JwsError> {
        let alg = self.algorithm;
        let kid = key.kid.clone().unwrap_or_default();
        if key.kty != alg.key_type() {
            return Err(JwsError::KeyMismatch {
                kid,
                kty: key.kty.clone(),
                alg: alg.name(),
            });
        }
        let message = self.signing_input.as_bytes();
        let bad_key = || JwsError::BadKey(kid.clone());
        let field = |value: &Option<String>| {
            value
                .as_deref()
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .ok_or_else(bad_key)
        };
        let outcome = match alg {
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => {
                let components = RsaPublicKeyComponents {
                    n: field(&key.n)?,
                    e: field(&key.e)?,
                };
                components.verify(rsa_parameters(alg), message, &self.signature)
            }
            Algorithm::Es256 | Algorithm::Es384 => {
                let (curve, verifier): (_, &'static dyn signature::VerificationAlgorithm) =
                    if alg == Algorithm::Es256 {
                        ("P-256", &signature::ECDSA_P256_SHA256_FIXED)
                    } else {
                        ("P-384", &signature::ECDSA_P384_SHA384_FIXED)
                    };
                if key.crv.as_deref() != Some(curve) {
                    return Err(JwsError::KeyMismatch {
                        kid,
                        kty: format!("{} {}", key.kty, key.crv.as_deref().unwrap_or("")),
                        alg: alg.name(),
                    });
                }
                let mut point = vec![0x04];
                point.extend(field(&key.x)?);
                point.extend(field(&key.y)?);
                UnparsedPublicKey::new(verifier, point).verify(message, &self.signature)
            }
            Algorithm::EdDsa => {
                if key.crv.as_deref() != Some("Ed25519") {
                    return Err(JwsError::KeyMismatch {
                        kid,
                        kty: format!("{} {}", key.kty, key.crv.as_deref().unwrap_or("")),
                        alg: alg.name(),
                    });
                }
                UnparsedPublicKey::new(&signature::ED25519, field(&key.x)?)
                    .verify(message, &self.signature)
            }
        };
        outcome.map_err(|_| JwsError::BadSignature)
    }

    /// Checks the signature with a certificate's public key (the subjectPublicKey bits; a renewal token signed by a
    /// certificate's key).
    pub fn verify_with_public_key(&self, public_key: &[u8], rsa: bool) -> Result<(), JwsError> {
        let message = self.signing_input.as_bytes();
        let verifier: &'static dyn signature::VerificationAlgorithm = match (self.algorithm, rsa) {
            (Algorithm::Rs256, true) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (Algorithm::Es256, false) => &signature::ECDSA_P256_SHA256_FIXED,
            (Algorithm::Es384, false) => &signature::ECDSA_P384_SHA384_FIXED,
            (alg, _) => {
                return Err(JwsError::KeyMismatch {
                    kid: "x5c".into(),
                    kty: if rsa { "RSA" } else { "EC" }.into(),
                    alg: alg.name(),
                })
            }
        };
        UnparsedPublicKey::new(verifier, public_key)
            .verify(message, &self.signature)
            .map_err(|_| JwsError::BadSignature)
    }
}

fn rsa_parameters(alg: Algorithm) -> &'static signature::RsaParameters {
    match alg {
        Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

/// Encodes a token from its header and payload JSON and a signature over `header.payload`
/// made by `sign` (for renewal tokens; the caller picks the algorithm that fits its key).
pub fn encode<E>(
    header: &serde_json::Value,
    payload: &serde_json::Value,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<String, E> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = sign(input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
mod tests;
