//! The certificate checks of a CreateSession: the leaf's own properties, and its chain to the
//! trust anchor (with revocation).

use time::OffsetDateTime;

use super::{access_denied, Refusal};
use crate::anchor::config::TrustAnchor;
use crate::identity::{Certificate, KeyKind};
use crate::pki::chain::{is_weak_signature_algorithm, verify_chain, ChainError};
use crate::rolesanywhere::verify::VerifiedRequest;

pub(super) fn check_leaf(leaf: &Certificate, now: OffsetDateTime) -> Result<(), Refusal> {
    let untrusted = |check: String| access_denied("Untrusted signing certificate", check);
    if leaf.is_ca() {
        return Err(untrusted(
            "a CA certificate (basicConstraints CA:TRUE) was used as the signing certificate"
                .into(),
        ));
    }
    if leaf.allows_digital_signature() != Some(true) {
        return Err(access_denied(
            "Untrusted certificate. Insufficient certificate",
            "leaf keyUsage lacks digitalSignature",
        ));
    }
    if is_weak_signature_algorithm(leaf.signature_algorithm_oid()) {
        return Err(untrusted("leaf is signed with MD5 or SHA-1".into()));
    }
    if leaf.subject().is_empty() {
        return Err(untrusted("leaf subject is empty".into()));
    }
    if let KeyKind::Unsupported(kind) = leaf.key_kind() {
        return Err(untrusted(format!("leaf key type {kind} is not supported")));
    }
    if !leaf.is_valid_at(now) {
        return Err(untrusted(format!(
            "leaf is outside its validity period ({} to {})",
            crate::time_format::rfc3339(leaf.not_before()),
            crate::time_format::rfc3339(leaf.not_after())
        )));
    }
    Ok(())
}

pub(super) fn check_chain(
    request: &VerifiedRequest,
    anchor: &TrustAnchor,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    verify_chain(
        &request.leaf,
        &request.chain,
        &anchor.certificates,
        &anchor.crls,
        now,
    )
    .map_err(|e| match e {
        ChainError::Revoked => {
            access_denied("Certificate revoked", "leaf is on the trust anchor's CRL")
        }
        other => access_denied(
            "Untrusted signing certificate",
            format!("trust anchor {}: {other}", anchor.arn),
        ),
    })
}
