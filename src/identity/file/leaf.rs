//! The load-time checks of a leaf certificate: a key type Roles Anywhere accepts, and validity.

use std::path::Path;

use time::OffsetDateTime;

use super::{IdentityError, EXPIRY_WARNING_DAYS};
use crate::identity::cert::{Certificate, KeyKind};
use crate::time_format::rfc3339;

pub(crate) fn check_leaf(
    path: &Path,
    leaf: &Certificate,
    now: OffsetDateTime,
) -> Result<(), IdentityError> {
    if let KeyKind::Unsupported(_) = leaf.key_kind() {
        return Err(IdentityError::UnsupportedCertificateKey {
            path: path.to_owned(),
            kind: leaf.key_kind(),
        });
    }
    check_validity(path, leaf, now)?;
    let left = leaf.not_after() - now;
    // A short-lived certificate (a login's, hours long) is only worth a warning in the last
    // third of its life, when renewal should already have replaced it.
    let lifetime = leaf.not_after() - leaf.not_before();
    let threshold = time::Duration::days(EXPIRY_WARNING_DAYS).min(lifetime / 3);
    if left < threshold {
        tracing::warn!(
            certificate = %path.display(),
            "certificate expires on {}, in {} hours; renew it soon",
            rfc3339(leaf.not_after()),
            left.whole_hours()
        );
    }
    Ok(())
}

/// Whether `leaf` (loaded from `path`) is within its validity period at `now`. A long-running
/// agent checks this before every signature, since a certificate can expire after loading.
pub(crate) fn check_validity(
    path: &Path,
    leaf: &Certificate,
    now: OffsetDateTime,
) -> Result<(), IdentityError> {
    let not_before = rfc3339(leaf.not_before());
    let not_after = rfc3339(leaf.not_after());
    if now > leaf.not_after() {
        return Err(IdentityError::Expired {
            path: path.to_owned(),
            not_before,
            not_after,
        });
    }
    if now < leaf.not_before() {
        return Err(IdentityError::NotYetValid {
            path: path.to_owned(),
            not_before,
            not_after,
        });
    }
    Ok(())
}
