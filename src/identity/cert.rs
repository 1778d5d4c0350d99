//! A parsed X.509 certificate: the fields tessera needs, extracted once at load time.

use std::fmt;

use ring::digest;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// OID of id-ecPublicKey's named curve P-256 (prime256v1).
const OID_P256: &str = "1.2.840.10045.3.1.7";
/// OID of the named curve P-384 (secp384r1).
const OID_P384: &str = "1.3.132.0.34";
/// OID of the named curve P-521 (secp521r1).
const OID_P521: &str = "1.3.132.0.35";

/// The kind of public key a certificate carries, as far as Roles Anywhere is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with a modulus of the given size in bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// ML-DSA at one of its three levels.
    MlDsa(super::mldsa::MlDsaLevel),
    /// Anything else (Ed25519, P-521, DSA, …), described for error messages.
    Unsupported(&'static str),
}

impl KeyKind {
    /// The short family name used by `read-certificate-data` (`RSA` or `EC`).
    pub fn family(&self) -> &'static str {
        match self {
            KeyKind::Rsa { .. } => "RSA",
            KeyKind::EcP256 | KeyKind::EcP384 => "EC",
            KeyKind::MlDsa(_) => "ML-DSA",
            KeyKind::Unsupported(name) => name,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyKind::EcP256 => f.write_str("ECDSA P-256"),
            KeyKind::EcP384 => f.write_str("ECDSA P-384"),
            KeyKind::MlDsa(level) => f.write_str(level.name()),
            KeyKind::Unsupported(name) => f.write_str(name),
        }
    }
}

/// Why bytes could not be read as a certificate.
#[derive(Debug, thiserror::Error)]
#[error("not a valid DER X.509 certificate ({reason})")]
pub struct CertificateParseError {
    reason: String,
}

/// A certificate with the fields tessera uses, plus its DER encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    serial_bytes: Vec<u8>,
    serial_decimal: String,
    subject: String,
    issuer: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    key_kind: KeyKind,
    /// The SubjectPublicKeyInfo's BIT STRING contents: an RSAPublicKey DER or an EC point.
    public_key: Vec<u8>,
    is_ca: bool,
    /// `None` when the certificate has no keyUsage extension.
    digital_signature: Option<bool>,
    signature_algorithm_oid: String,
}

/// The kind of a key that is neither RSA, EC nor DSA: ML-DSA when its OID and size say so.
fn mldsa_kind(oid: &str, public_key_len: usize) -> KeyKind {
    use super::mldsa::MlDsaLevel;
    match MlDsaLevel::from_oid(oid) {
        Some(level) if level.public_key_len() == public_key_len => KeyKind::MlDsa(level),
        Some(_) => KeyKind::Unsupported("an ML-DSA key of the wrong size for its level"),
        None if MlDsaLevel::is_unknown_sibling(oid) => {
            KeyKind::Unsupported("an unknown ML-DSA parameter set")
        }
        None if oid == "1.3.101.112" => KeyKind::Unsupported("Ed25519"),
        None => KeyKind::Unsupported("an unknown key type"),
    }
}

impl Certificate {
    /// Parses one DER certificate; trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateParseError> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| CertificateParseError {
            reason: e.to_string(),
        })?;
        if !rest.is_empty() {
            return Err(CertificateParseError {
                reason: format!("{} unexpected bytes after the certificate", rest.len()),
            });
        }
        let spki = cert.public_key();
        let key_kind = match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => KeyKind::Rsa {
                bits: rsa.key_size(),
            },
            Ok(PublicKey::EC(_)) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|oid| oid.to_id_string());
                match curve.as_deref() {
                    Some(OID_P256) => KeyKind::EcP256,
                    Some(OID_P384) => KeyKind::EcP384,
                    Some(OID_P521) => KeyKind::Unsupported("ECDSA P-521"),
                    _ => KeyKind::Unsupported("ECDSA on an unknown curve"),
                }
            }
            Ok(PublicKey::DSA(_)) => KeyKind::Unsupported("DSA"),
            _ => mldsa_kind(
                &spki.algorithm.algorithm.to_id_string(),
                spki.subject_public_key.data.len(),
            ),
        };
        let digital_signature = match cert.key_usage() {
            Ok(Some(ku)) => Some(ku.value.digital_signature()),
            _ => None,
        };
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        Ok(Self {
            der: der.to_vec(),
            serial_bytes: cert.raw_serial().to_vec(),
            serial_decimal: cert.tbs_certificate.serial.to_string(),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            key_kind,
            public_key: spki.subject_public_key.data.to_vec(),
            is_ca,
            digital_signature,
            signature_algorithm_oid: cert.signature_algorithm.algorithm.to_id_string(),
        })
    }

    /// The ring algorithm that checks a Roles Anywhere request signature (SHA-256) of
    /// `family` by this certificate's key; `None` when the family does not fit the key.
    pub fn request_verification(
        &self,
        family: super::SignatureFamily,
    ) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
        use ring::signature;
        match (family, &self.key_kind) {
            (super::SignatureFamily::Rsa, KeyKind::Rsa { .. }) => {
                Some(&signature::RSA_PKCS1_2048_8192_SHA256)
            }
            (super::SignatureFamily::Ecdsa, KeyKind::EcP256) => {
                Some(&signature::ECDSA_P256_SHA256_ASN1)
            }
            (super::SignatureFamily::Ecdsa, KeyKind::EcP384) => {
                Some(&signature::ECDSA_P384_SHA256_ASN1)
            }
            _ => None,
        }
    }

    /// Whether `family` can be verified with this certificate's key.
    pub fn fits_family(&self, family: super::SignatureFamily) -> bool {
        matches!(
            (family, &self.key_kind),
            (super::SignatureFamily::MlDsa, KeyKind::MlDsa(_))
        ) || self.request_verification(family).is_some()
    }

    /// Whether `signature` over `message` (SHA-256, `family`; ML-DSA: the message itself) was
    /// made by this certificate's key.
    pub fn verifies_request_signature(
        &self,
        family: super::SignatureFamily,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        if let (super::SignatureFamily::MlDsa, KeyKind::MlDsa(level)) = (family, &self.key_kind) {
            return super::mldsa::verify(*level, &self.public_key, message, signature);
        }
        self.request_verification(family).is_some_and(|algorithm| {
            ring::signature::UnparsedPublicKey::new(algorithm, &self.public_key)
                .verify(message, signature)
                .is_ok()
        })
    }

    /// Whether `issuer`'s key signed this certificate.
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        match (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) {
            (Ok((_, cert)), Ok((_, issuing))) => match issuer.key_kind {
                KeyKind::MlDsa(level) => {
                    cert.signature_algorithm.algorithm.to_id_string() == level.oid()
                        && super::mldsa::verify(
                            level,
                            &issuer.public_key,
                            cert.tbs_certificate.as_ref(),
                            &cert.signature_value.data,
                        )
                }
                _ => cert.verify_signature(Some(issuing.public_key())).is_ok(),
            },
            _ => false,
        }
    }

    /// The DER encoding, as sent in `X-Amz-X509`.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The serial number in decimal, as used in the Authorization `Credential=`.
    pub fn serial_decimal(&self) -> &str {
        &self.serial_decimal
    }

    /// The serial number in lowercase hex without leading zero bytes, as the service uses for
    /// the default role session name.
    pub fn serial_hex(&self) -> String {
        let trimmed: &[u8] = match self.serial_bytes.iter().position(|b| *b != 0) {
            Some(i) => &self.serial_bytes[i..],
            None => &[0],
        };
        hex::encode(trimmed)
    }

    /// The subject distinguished name (RFC 4514 style).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer distinguished name (RFC 4514 style).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of the validity period.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The public key's kind.
    pub fn key_kind(&self) -> KeyKind {
        self.key_kind
    }

    /// The raw public key: an RSAPublicKey DER for RSA, an uncompressed point for EC.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// True when basicConstraints says CA:TRUE.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// Whether keyUsage allows digitalSignature (`None`: no keyUsage extension).
    pub fn allows_digital_signature(&self) -> Option<bool> {
        self.digital_signature
    }

    /// The dotted OID of the algorithm the issuer signed this certificate with.
    pub fn signature_algorithm_oid(&self) -> &str {
        &self.signature_algorithm_oid
    }

    /// SHA-256 of the DER encoding, lowercase hex.
    pub fn fingerprint_sha256(&self) -> String {
        hex::encode(digest::digest(&digest::SHA256, &self.der))
    }

    /// Whether `at` lies inside the validity period (inclusive).
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("serial", &self.serial_decimal)
            .field("key", &self.key_kind)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}
