//! Renewal without a browser: the client proves possession of its current key with a short
//! JWT signed by it, carrying the certificate in `x5c` (step-ca's renewal token). The CA
//! checks the certificate is its own, unexpired and within its login's lifetime, then issues
//! the same subject for the same key.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{seconds, EnrolRefusal, Enrolment};
use crate::identity::{Certificate, KeyKind};
use crate::oidc::jws;
use crate::pki::chain::{verify_chain, ChainError};
use crate::pki::login_leaf::{login_deadline, LoginLeaf, SignedLeaf};

/// The path a renewal token's audience must end with.
pub const RENEW_PATH: &str = "/1.0/renew";
/// Longest a renewal token may live.
const MAX_TOKEN_SECONDS: i64 = 10 * 60;

/// Token ids already used, until they expire (against replay).
#[derive(Debug, Default)]
pub(super) struct RenewalIds(Mutex<HashMap<String, i64>>);

impl RenewalIds {
    /// Records `id`; false when it was seen before.
    fn first_use(&self, id: &str, expires: i64, now: i64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, exp| *exp >= now);
        seen.insert(id.to_owned(), expires).is_none()
    }
}

fn refused(status: u16, message: impl Into<String>) -> EnrolRefusal {
    EnrolRefusal::new(status, message)
}

/// Checks the renewal token and issues the renewed certificate.
pub(super) fn renew(
    enrolment: &Enrolment,
    authorization: Option<&str>,
    host: Option<&str>,
    now: OffsetDateTime,
) -> Result<(String, SignedLeaf), EnrolRefusal> {
    let token = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .ok_or_else(|| {
            refused(
                401,
                "renewal needs 'Authorization: Bearer <token signed by the certificate's key>'",
            )
        })?;
    let parsed = jws::parse(token).map_err(|e| refused(401, e.to_string()))?;
    let der = parsed
        .header
        .x5c
        .as_ref()
        .and_then(|chain| chain.first())
        .and_then(|leaf| STANDARD.decode(leaf).ok())
        .ok_or_else(|| {
            refused(
                401,
                "the renewal token has no certificate in its x5c header",
            )
        })?;
    let leaf = Certificate::from_der(&der).map_err(|e| refused(401, e.to_string()))?;
    check_issued_here(enrolment, &leaf, now)?;
    let deadline = login_deadline(leaf_serial(&der).as_slice()).ok_or_else(|| {
        refused(
            403,
            "the certificate was not issued by a login; sign in with 'tessera login'",
        )
    })?;
    if now >= deadline {
        return Err(refused(
            403,
            format!(
                "the login ended at {} (maxLoginSeconds); sign in again with 'tessera login'",
                crate::time_format::rfc3339(deadline)
            ),
        ));
    }
    parsed
        .verify_with_public_key(
            leaf.public_key(),
            matches!(leaf.key_kind(), KeyKind::Rsa { .. }),
        )
        .map_err(|e| refused(401, format!("the renewal token: {e}")))?;
    check_token_claims(enrolment, &parsed, host, now)?;
    let (common_name, organizational_units, uri_sans, spki) = subject_of(&der)?;
    let public_key = rcgen::SubjectPublicKeyInfo::from_der(&spki)
        .map_err(|_| refused(400, "the certificate's public key cannot be read"))?;
    let renewed = LoginLeaf {
        common_name,
        organizational_units,
        uri_sans,
        not_after: now + seconds(enrolment.config.certificate_seconds),
        login_deadline: deadline,
    };
    let signed = enrolment
        .ca
        .issue_login_leaf(&public_key, &renewed, now)
        .map_err(|e| refused(500, format!("the CA could not issue: {e}")))?;
    Ok((renewed.common_name, signed))
}

/// The certificate chains to this CA and is valid now.
fn check_issued_here(
    enrolment: &Enrolment,
    leaf: &Certificate,
    now: OffsetDateTime,
) -> Result<(), EnrolRefusal> {
    let (roots, intermediates) = enrolment
        .ca
        .issuing_chain()
        .map_err(|e| refused(500, format!("the CA cannot read its certificates: {e}")))?;
    verify_chain(leaf, &intermediates, &roots, &[], now).map_err(|e| match e {
        ChainError::Expired(_) => refused(403, format!(
            "the certificate expired at {}; a certificate cannot be renewed after it expires: sign in again with 'tessera login'",
            crate::time_format::rfc3339(leaf.not_after())
        )),
        other => refused(403, format!("the certificate was not issued by this CA ({other})")),
    })
}

fn check_token_claims(
    enrolment: &Enrolment,
    parsed: &jws::Parsed,
    host: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), EnrolRefusal> {
    let claims = crate::oidc::id_token::Claims(parsed.payload.clone());
    let audience = claims.strings("aud");
    let ours = audience.iter().any(|aud| {
        aud.parse::<http::Uri>().is_ok_and(|uri| {
            uri.path() == RENEW_PATH
                && host.is_some_and(|h| {
                    uri.authority()
                        .is_some_and(|a| a.as_str().eq_ignore_ascii_case(h))
                })
        })
    });
    if !ours {
        return Err(refused(
            401,
            format!("the renewal token's audience must be this CA's {RENEW_PATH} URL"),
        ));
    }
    let now_s = now.unix_timestamp();
    let (Some(iat), Some(exp)) = (claims.seconds("iat"), claims.seconds("exp")) else {
        return Err(refused(401, "the renewal token needs iat and exp"));
    };
    if exp < now_s || iat > now_s + 60 || exp - iat > MAX_TOKEN_SECONDS {
        return Err(refused(
            401,
            "the renewal token is expired, from the future, or lives longer than 10 minutes",
        ));
    }
    let id = claims.string("jti").unwrap_or_default();
    if id.is_empty() || !enrolment.renewal_ids.first_use(id, exp, now_s) {
        return Err(refused(
            401,
            "the renewal token has no jti or was used before",
        ));
    }
    Ok(())
}

fn leaf_serial(der: &[u8]) -> Vec<u8> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert.raw_serial().to_vec())
        .unwrap_or_default()
}

type Subject = (String, Vec<String>, Vec<String>, Vec<u8>);

/// CN, OUs, URI SANs and the SubjectPublicKeyInfo of a certificate.
fn subject_of(der: &[u8]) -> Result<Subject, EnrolRefusal> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| refused(400, "the certificate cannot be read"))?;
    let text =
        |attr: &x509_parser::x509::AttributeTypeAndValue<'_>| attr.as_str().ok().map(str::to_owned);
    let cn = cert
        .subject()
        .iter_common_name()
        .find_map(text)
        .unwrap_or_default();
    let units = cert
        .subject()
        .iter_organizational_unit()
        .filter_map(text)
        .collect();
    let uris = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(uri) => Some((*uri).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((cn, units, uris, cert.public_key().raw.to_vec()))
}
