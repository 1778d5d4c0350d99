//! Chain validation shared by the anchor and `doctor`: does a leaf (with the intermediates
//! it sends) chain to one of a trust anchor's CA certificates at a given time, and is it
//! revoked by the anchor's CRLs? PKIX path building by rustls-webpki.

use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
    UnixTime,
};
use time::OffsetDateTime;

use crate::identity::mldsa::{self, MlDsaLevel};
use crate::identity::Certificate;

/// ML-DSA for webpki, whose ring backend has none: certificates and CRLs signed by an ML-DSA
/// CA, at any place in a chain that mixes it with RSA and ECDSA.
#[derive(Debug)]
struct MlDsaVerification(MlDsaLevel);

static ML_DSA_44: MlDsaVerification = MlDsaVerification(MlDsaLevel::Ml44);
static ML_DSA_65: MlDsaVerification = MlDsaVerification(MlDsaLevel::Ml65);
static ML_DSA_87: MlDsaVerification = MlDsaVerification(MlDsaLevel::Ml87);

impl SignatureVerificationAlgorithm for MlDsaVerification {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        mldsa::verify(self.0, public_key, message, signature)
            .then_some(())
            .ok_or(InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        match self.0 {
            MlDsaLevel::Ml44 => alg_id::ML_DSA_44,
            MlDsaLevel::Ml65 => alg_id::ML_DSA_65,
            MlDsaLevel::Ml87 => alg_id::ML_DSA_87,
        }
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.public_key_alg_id()
    }
}

/// Every signature algorithm a chain may use: webpki's, then ML-DSA.
fn verification_algorithms() -> Vec<&'static dyn SignatureVerificationAlgorithm> {
    let mut algorithms = webpki::ALL_VERIFICATION_ALGS.to_vec();
    algorithms.extend([
        &ML_DSA_44 as &'static dyn SignatureVerificationAlgorithm,
        &ML_DSA_65,
        &ML_DSA_87,
    ]);
    algorithms
}

/// Why a chain is not acceptable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// The leaf is on a CRL.
    #[error("the certificate is revoked by the trust anchor's CRL")]
    Revoked,
    /// A certificate in the path is outside its validity period.
    #[error("a certificate in the chain is outside its validity period ({0})")]
    Expired(String),
    /// No path to the anchor.
    #[error("no valid chain to the trust anchor's CA ({0})")]
    Untrusted(String),
}

/// Verifies `leaf` + `intermediates` against `ca_certificates` (DER) and `crls` (DER) at `now`.
pub fn verify_chain(
    leaf: &Certificate,
    intermediates: &[Certificate],
    ca_certificates: &[Vec<u8>],
    crls: &[Vec<u8>],
    now: OffsetDateTime,
) -> Result<(), ChainError> {
    let anchors = ca_certificates
        .iter()
        .filter_map(|der| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                .ok()
                .map(|a| a.to_owned())
        })
        .collect::<Vec<_>>();
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.der()))
        .collect();
    let leaf_der = CertificateDer::from(leaf.der());
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| ChainError::Untrusted(format!("leaf: {e}")))?;
    let crls = crls
        .iter()
        .filter_map(|der| {
            webpki::OwnedCertRevocationList::from_der(der)
                .ok()
                .map(webpki::CertRevocationList::from)
        })
        .collect::<Vec<_>>();
    let crl_refs: Vec<&webpki::CertRevocationList<'_>> = crls.iter().collect();
    let revocation = if crl_refs.is_empty() {
        None
    } else {
        webpki::RevocationOptionsBuilder::new(&crl_refs)
            .ok()
            .map(|builder| {
                builder
                    .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                    .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
                    .build()
            })
    };
    let seconds = u64::try_from(now.unix_timestamp()).unwrap_or_default();
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds));
    end_entity
        .verify_for_usage(
            &verification_algorithms(),
            &anchors,
            &intermediates,
            time,
            webpki::KeyUsage::client_auth(),
            revocation,
            None,
        )
        .map(|_| ())
        .map_err(|e| match e {
            webpki::Error::CertRevoked => ChainError::Revoked,
            webpki::Error::CertExpired { not_after, .. } => {
                ChainError::Expired(format!("one expired on {}", unix_text(not_after)))
            }
            webpki::Error::CertNotValidYet { not_before, .. } => {
                ChainError::Expired(format!("one is not valid until {}", unix_text(not_before)))
            }
            other => ChainError::Untrusted(format!("{other:?}")),
        })
}

fn unix_text(t: UnixTime) -> String {
    let seconds = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(seconds)
        .map_or_else(|_| seconds.to_string(), crate::time_format::rfc3339)
}

/// Signature algorithms Roles Anywhere rejects (MD5, SHA-1), by OID.
pub fn is_weak_signature_algorithm(oid: &str) -> bool {
    matches!(
        oid,
        "1.2.840.113549.1.1.4"
            | "1.2.840.113549.1.1.5"
            | "1.2.840.10045.4.1"
            | "1.2.840.10040.4.3"
            | "1.3.14.3.2.29"
    )
}
