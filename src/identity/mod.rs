//! Where a workload's key and certificate come from, behind one [`Signer`] trait.
//!
//! A `Signer` owns a certificate (and chain) and can sign bytes with the matching private key.
//! It never exposes key bytes, and signing is fallible, so keys held in a PKCS#11 token, a TPM
//! or the OS keyring implement the same trait as [`file::FileIdentity`].

pub mod cert;
pub mod file;
pub mod key;
pub mod key_ref;
pub mod keyring;
pub mod mldsa;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod pkcs11_uri;
pub mod source;
#[cfg(feature = "tpm")]
pub mod tpm;

use std::fmt::Debug;

pub use cert::{Certificate, KeyKind};

/// The digest a signature is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Digest {
    /// SHA-256: what Roles Anywhere request signatures always use.
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Digest {
    /// Hashes `message` with this digest.
    pub fn hash(self, message: &[u8]) -> Vec<u8> {
        let algorithm = match self {
            Digest::Sha256 => &ring::digest::SHA256,
            Digest::Sha384 => &ring::digest::SHA384,
            Digest::Sha512 => &ring::digest::SHA512,
        };
        ring::digest::digest(algorithm, message).as_ref().to_vec()
    }
}

/// The signature family, which names the Roles Anywhere algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFamily {
    /// RSASSA-PKCS1-v1_5.
    Rsa,
    /// ECDSA with an ASN.1 DER signature.
    Ecdsa,
    /// ML-DSA (FIPS 204) over the message itself, with an empty context.
    MlDsa,
}

impl SignatureFamily {
    /// The algorithm name in the Authorization header and string to sign.
    pub fn request_algorithm(self) -> &'static str {
        match self {
            SignatureFamily::Rsa => "AWS4-X509-RSA-SHA256",
            SignatureFamily::Ecdsa => "AWS4-X509-ECDSA-SHA256",
            SignatureFamily::MlDsa => "AWS4-X509-MLDSA",
        }
    }
}

/// Why a signature could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key rejected the operation (wrong digest for the key, internal failure).
    #[error("the {key} key could not sign: {reason}")]
    Failed {
        /// Which key, in words.
        key: String,
        /// What the crypto backend said.
        reason: String,
    },
}

/// A certificate plus the ability to sign with its private key.
pub trait Signer: Send + Sync + Debug {
    /// The end-entity certificate, sent as `X-Amz-X509`.
    fn certificate(&self) -> &Certificate;
    /// Intermediate certificates, sent as `X-Amz-X509-Chain` (leaf excluded).
    fn chain(&self) -> &[Certificate];
    /// The signature family of the key.
    fn family(&self) -> SignatureFamily;
    /// Signs `message` (hashed with `digest`; ML-DSA signs it whole); ECDSA signatures are
    /// ASN.1 DER.
    fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, SignError>;
}
