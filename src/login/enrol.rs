//! The enrolment CA's client side: a new key and its CSR, `POST /1.0/sign` with the ID token
//! (step-ca's `{"csr","ott"}` → `{"crt","ca","certChain"}`), and a check that the certificate
//! that came back certifies that key and no other.

use http::Uri;
use rcgen::{CertificateParams, PublicKeyData, SigningKey};
use serde::Deserialize;
use serde_json::json;

use crate::identity::Certificate;
use crate::oidc::{HttpJsonError, OidcHttp};
use crate::secret::SecretString;

/// Why enrolment failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolError {
    /// The CSR could not be made (or signed by the key).
    #[error("cannot make the CSR for the new key: {0}")]
    Generate(String),
    /// The CA refused or could not be reached.
    #[error("the enrolment CA refused the certificate request")]
    Refused(#[source] HttpJsonError),
    /// The CA's answer is not a certificate.
    #[error("the enrolment CA answered with something that is not a PEM certificate")]
    BadCertificate,
    /// The certificate is for another key.
    #[error("the enrolment CA returned a certificate for a different key than the one tessera generated; nothing was stored")]
    KeyMismatch,
}

/// The certificate issued for a new key.
#[derive(Debug)]
pub struct Enrolled {
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// Intermediates the CA sent (PEM, concatenated), if any.
    pub chain_pem: Option<String>,
    /// The certificate, parsed.
    pub certificate: Certificate,
}

#[derive(Deserialize)]
struct SignResponse {
    crt: String,
    #[serde(default, rename = "certChain")]
    cert_chain: Vec<String>,
}

/// Sends `key`'s CSR with `id_token` to `enrol_url/1.0/sign`, and checks the answer.
pub async fn enrol<K: SigningKey>(
    http: &OidcHttp,
    enrol_url: &Uri,
    id_token: &SecretString,
    subject: &str,
    key: &K,
) -> Result<Enrolled, EnrolError> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, subject);
    let csr = params
        .serialize_request(key)
        .and_then(|r| r.pem())
        .map_err(|e| EnrolError::Generate(e.to_string()))?;
    let url: Uri = format!("{}/1.0/sign", enrol_url.to_string().trim_end_matches('/'))
        .parse()
        .map_err(|_| EnrolError::Generate("the enrolment URL does not take a path".into()))?;
    let body = json!({"csr": csr, "ott": id_token.expose_secret()});
    let answer: SignResponse = http
        .post_json(&url, &body, None)
        .await
        .map_err(EnrolError::Refused)?;
    accept(answer, key)
}

/// Checks that the answer's certificate certifies `key`, and keeps the intermediates.
fn accept(answer: SignResponse, key: &impl PublicKeyData) -> Result<Enrolled, EnrolError> {
    let der = pem::parse(&answer.crt).map_err(|_| EnrolError::BadCertificate)?;
    if der.tag() != "CERTIFICATE" {
        return Err(EnrolError::BadCertificate);
    }
    let certificate =
        Certificate::from_der(der.contents()).map_err(|_| EnrolError::BadCertificate)?;
    if certificate.public_key() != key.der_bytes() {
        return Err(EnrolError::KeyMismatch);
    }
    let mut chain = String::new();
    for pem_text in answer.cert_chain.iter().skip(1) {
        let block = pem::parse(pem_text).map_err(|_| EnrolError::BadCertificate)?;
        let parsed =
            Certificate::from_der(block.contents()).map_err(|_| EnrolError::BadCertificate)?;
        // The issuing root is the trust anchor's, never sent along.
        if parsed.subject() != parsed.issuer() {
            chain.push_str(&pem::encode(&block));
        }
    }
    Ok(Enrolled {
        certificate_pem: answer.crt,
        chain_pem: (!chain.is_empty()).then_some(chain),
        certificate,
    })
}
