//! Assembling certificates and CRLs with RustCrypto's `x509-cert`, signed by tessera's own keys
//! ([`PrivateKey`]: RSA, ECDSA or ML-DSA), with the extensions the rcgen-made ones carry.

use std::time::Duration as StdDuration;

use ml_dsa::signature::{Error as SignatureError, Keypair, Signer};
use pkcs8::der::asn1::{BitString, Ia5String, OctetString};
use pkcs8::der::{Decode, Encode, EncodePem};
use pkcs8::spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef,
};
use time::OffsetDateTime;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::identity::key::PrivateKey;
use crate::identity::{Digest, KeyKind};
use crate::pki::PkiError;

/// What a certificate is for.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    /// A self-signed root CA.
    Root,
    /// An intermediate CA under the root (path length 0).
    Intermediate,
    /// A leaf: client (or server) authentication, with these subject alternative names.
    Leaf {
        /// clientAuth when true, serverAuth otherwise.
        client: bool,
        /// `dns:`, `uri:`, `email:` or `ip:` names.
        sans: Vec<rcgen::SanType>,
    },
}

/// What to certify: subject, serial and validity.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// The subject's common name (under `O=tessera local CA`).
    pub common_name: String,
    /// Serial number bytes.
    pub serial: [u8; 16],
    /// NotBefore.
    pub not_before: OffsetDateTime,
    /// NotAfter.
    pub not_after: OffsetDateTime,
    /// What it is.
    pub role: Role,
}

/// A CA key that signs: the key, its SubjectPublicKeyInfo and the signature algorithm.
pub(crate) struct CaSigner {
    key: PrivateKey,
    spki: Vec<u8>,
    algorithm: AlgorithmIdentifierOwned,
    digest: Digest,
}

/// The DER of a SubjectPublicKeyInfo, as x509-cert's builder wants a verifying key.
#[derive(Clone)]
pub(crate) struct SpkiDer(Vec<u8>);

impl EncodePublicKey for SpkiDer {
    fn to_public_key_der(&self) -> pkcs8::spki::Result<pkcs8::Document> {
        pkcs8::Document::try_from(self.0.as_slice()).map_err(Into::into)
    }
}

/// A signature as the key made it (PKCS#1, DER ECDSA or ML-DSA bytes).
pub(crate) struct RawSignature(Vec<u8>);

impl SignatureBitStringEncoding for RawSignature {
    fn to_bitstring(&self) -> pkcs8::der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

impl Keypair for CaSigner {
    type VerifyingKey = SpkiDer;
    fn verifying_key(&self) -> SpkiDer {
        SpkiDer(self.spki.clone())
    }
}

impl DynSignatureAlgorithmIdentifier for CaSigner {
    fn signature_algorithm_identifier(&self) -> pkcs8::spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.algorithm.clone())
    }
}

impl Signer<RawSignature> for CaSigner {
    fn try_sign(&self, message: &[u8]) -> Result<RawSignature, SignatureError> {
        self.key
            .sign(message, self.digest)
            .map(RawSignature)
            .map_err(|_| SignatureError::new())
    }
}

impl CaSigner {
    /// The signer for `key`, whose SubjectPublicKeyInfo is `spki` (DER).
    pub(crate) fn new(key: PrivateKey, spki: Vec<u8>) -> Result<Self, PkiError> {
        let (oid, digest, null_parameters) = match key.kind() {
            KeyKind::Rsa { .. } => ("1.2.840.113549.1.1.11", Digest::Sha256, true),
            KeyKind::EcP256 => ("1.2.840.10045.4.3.2", Digest::Sha256, false),
            KeyKind::EcP384 => ("1.2.840.10045.4.3.3", Digest::Sha384, false),
            KeyKind::MlDsa(level) => (level.oid(), Digest::Sha256, false),
            KeyKind::Unsupported(kind) => return Err(PkiError::KeyGeneration(kind.into())),
        };
        let algorithm = AlgorithmIdentifierOwned {
            oid: oid
                .parse()
                .map_err(|_| PkiError::KeyGeneration(oid.into()))?,
            parameters: null_parameters.then(|| pkcs8::der::asn1::Null.into()),
        };
        Ok(Self {
            key,
            spki,
            algorithm,
            digest,
        })
    }

    /// The SubjectPublicKeyInfo of a key generated here (for a self-signed root).
    pub(crate) fn spki_of(key: &PrivateKey) -> Result<Vec<u8>, PkiError> {
        let KeyKind::MlDsa(level) = key.kind() else {
            return Err(PkiError::KeyGeneration(
                "only an ML-DSA root is built here".into(),
            ));
        };
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: level.oid().parse().map_err(der_error)?,
                parameters: None,
            },
            subject_public_key: BitString::from_bytes(&key.public_key()).map_err(der_error)?,
        };
        spki.to_der().map_err(der_error)
    }
}

pub(crate) fn der_error(error: impl std::fmt::Display) -> PkiError {
    PkiError::KeyGeneration(format!("certificate encoding failed: {error}"))
}

/// The extensions of `role`, as rcgen writes them for the other key types.
struct LocalProfile {
    subject: Name,
    issuer: Option<Name>,
    role: Role,
}

impl BuilderProfile for LocalProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut extensions: Vec<Extension> = Vec::new();
        let subject = tbs.subject();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let issuer_ski = SubjectKeyIdentifier::try_from(issuer_spk)?;
        let (ca, path_len, usage) = match &self.role {
            Role::Root => (true, None, KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            Role::Intermediate => (true, Some(0), KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            Role::Leaf { .. } => (false, None, KeyUsages::DigitalSignature.into()),
        };
        extensions.push(
            BasicConstraints {
                ca,
                path_len_constraint: path_len,
            }
            .to_extension(subject, &extensions)?,
        );
        extensions.push(KeyUsage(usage).to_extension(subject, &extensions)?);
        if let Role::Leaf { client, sans } = &self.role {
            // id-kp-clientAuth and id-kp-serverAuth (RFC 5280 4.2.1.12).
            let purpose = if *client {
                pkcs8::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2")
            } else {
                pkcs8::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1")
            };
            extensions.push(ExtendedKeyUsage(vec![purpose]).to_extension(subject, &extensions)?);
            if !sans.is_empty() {
                let names = sans
                    .iter()
                    .map(general_name)
                    .collect::<Result<Vec<_>, _>>()?;
                extensions.push(SubjectAltName(names).to_extension(subject, &extensions)?);
            }
        }
        extensions.push(ski.to_extension(subject, &extensions)?);
        if !matches!(self.role, Role::Root) {
            extensions.push(
                AuthorityKeyIdentifier {
                    key_identifier: Some(issuer_ski.0),
                    ..Default::default()
                }
                .to_extension(subject, &extensions)?,
            );
        }
        Ok(extensions)
    }
}

fn general_name(san: &rcgen::SanType) -> pkcs8::der::Result<GeneralName> {
    Ok(match san {
        rcgen::SanType::DnsName(name) => GeneralName::DnsName(Ia5String::new(name.as_str())?),
        rcgen::SanType::URI(uri) => {
            GeneralName::UniformResourceIdentifier(Ia5String::new(uri.as_str())?)
        }
        rcgen::SanType::Rfc822Name(email) => {
            GeneralName::Rfc822Name(Ia5String::new(email.as_str())?)
        }
        rcgen::SanType::IpAddress(ip) => GeneralName::IpAddress(OctetString::new(match ip {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
        })?),
        _ => return Err(pkcs8::der::Tag::Ia5String.value_error().into()),
    })
}

/// `O=tessera local CA, CN=<common name>`, as the rcgen-made certificates are named.
fn name(common_name: &str) -> Result<Name, PkiError> {
    let escaped: String = common_name
        .chars()
        .flat_map(|c| {
            let escape = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | '#');
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect();
    // RFC 4514 lists the most significant RDN last.
    format!("CN={escaped},O=tessera local CA")
        .parse()
        .map_err(der_error)
}

fn time(at: OffsetDateTime) -> Result<Time, PkiError> {
    let seconds = u64::try_from(at.unix_timestamp()).map_err(der_error)?;
    Time::try_from(std::time::UNIX_EPOCH + StdDuration::from_secs(seconds)).map_err(der_error)
}

/// Builds and signs the certificate of `subject_spki` (DER) described by `spec`, issued by
/// `signer` whose certificate is `issuer` (`None`: self-signed). Returns the DER.
pub(crate) fn certificate(
    spec: &Spec,
    subject_spki: &[u8],
    signer: &CaSigner,
    issuer: Option<&[u8]>,
) -> Result<Vec<u8>, PkiError> {
    let issuer_name = issuer
        .map(|der| Certificate::from_der(der).map(|c| c.tbs_certificate().subject().clone()))
        .transpose()
        .map_err(der_error)?;
    let profile = LocalProfile {
        subject: name(&spec.common_name)?,
        issuer: issuer_name,
        role: spec.role.clone(),
    };
    let validity = Validity::new(time(spec.not_before)?, time(spec.not_after)?);
    let serial = SerialNumber::new(&spec.serial).map_err(der_error)?;
    let spki = SubjectPublicKeyInfoOwned::from_der(subject_spki)
        .map_err(|e| PkiError::BadPublicKey(e.to_string()))?;
    let builder = CertificateBuilder::new(profile, serial, validity, spki).map_err(der_error)?;
    let certificate = builder
        .build::<_, RawSignature>(signer)
        .map_err(der_error)?;
    certificate.to_der().map_err(der_error)
}

/// A CRL of `revoked` serials (bytes), signed by `signer` whose certificate is `issuer` (DER).
/// Returns the PEM.
pub(crate) fn crl(
    issuer: &[u8],
    signer: &CaSigner,
    revoked: &[Vec<u8>],
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<String, PkiError> {
    use x509_cert::builder::CrlBuilder;
    use x509_cert::crl::RevokedCert;
    use x509_cert::ext::pkix::CrlNumber;
    let issuer = Certificate::from_der(issuer).map_err(der_error)?;
    let number = u64::try_from(this_update.unix_timestamp()).map_err(der_error)?;
    let entries = revoked
        .iter()
        .map(|serial| {
            Ok(RevokedCert {
                serial_number: SerialNumber::<x509_cert::certificate::Rfc5280>::new(serial)
                    .map_err(der_error)?,
                revocation_date: time(this_update)?,
                crl_entry_extensions: None,
            })
        })
        .collect::<Result<Vec<_>, PkiError>>()?;
    let list = CrlBuilder::new_with_this_update(
        &issuer,
        CrlNumber::try_from(number).map_err(der_error)?,
        time(this_update)?,
    )
    .map_err(der_error)?
    .with_next_update(Some(time(next_update)?))
    .with_certificates(entries.into_iter())
    .build::<_, RawSignature>(signer)
    .map_err(der_error)?;
    list.to_pem(pkcs8::der::pem::LineEnding::LF)
        .map_err(der_error)
}

/// A new ML-DSA key: its PKCS#8 PEM (seed form) and the key itself.
pub(crate) fn generate(
    level: crate::identity::mldsa::MlDsaLevel,
) -> Result<(zeroize::Zeroizing<String>, PrivateKey), PkiError> {
    use crate::identity::mldsa::MlDsaLevel;
    use ml_dsa::pkcs8::EncodePrivateKey;
    let mut seed = zeroize::Zeroizing::new([0_u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
    let seed = ml_dsa::Seed::from(*seed);
    let der = match level {
        MlDsaLevel::Ml44 => ml_dsa::SigningKey::<ml_dsa::MlDsa44>::from_seed(&seed).to_pkcs8_der(),
        MlDsaLevel::Ml65 => ml_dsa::SigningKey::<ml_dsa::MlDsa65>::from_seed(&seed).to_pkcs8_der(),
        MlDsaLevel::Ml87 => ml_dsa::SigningKey::<ml_dsa::MlDsa87>::from_seed(&seed).to_pkcs8_der(),
    }
    .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
    let key = PrivateKey::from_pkcs8_der(der.as_bytes())
        .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
    let pem = der
        .to_pem("PRIVATE KEY", pkcs8::der::pem::LineEnding::LF)
        .map_err(der_error)?;
    Ok((pem, key))
}
