//! The CreateSession decision: every check the real service makes, in its order, each failure
//! answered with the service's status, code and message (see ROLESANYWHERE-SERVICE.md), plus
//! a precise reason for the anchor's log. Where the service's message is unknown, the message
//! here is ours, in the same style.

mod certificate;

use time::OffsetDateTime;

use self::certificate::{check_chain, check_leaf};
use super::config::{
    default_attribute_mappings, AnchorState, ProfileConfig, RoleConfig, TrustAnchor,
    MAX_DURATION_SECONDS,
};
use super::tags::{condition_holds, invalid_tags, session_tags, source_identity, Tag};
use crate::rolesanywhere::verify::{VerifiedRequest, VerifyError};

/// How far X-Amz-Date may be from the anchor's clock.
pub const MAX_CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// A refusal, shaped like the service's error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// `X-Amzn-ErrorType`.
    pub code: &'static str,
    /// The JSON `message`.
    pub message: String,
    /// Which check failed, for the anchor's log (never sent).
    pub check: String,
}

fn access_denied(message: impl Into<String>, check: impl Into<String>) -> Refusal {
    Refusal {
        status: 403,
        code: "AccessDeniedException",
        message: message.into(),
        check: check.into(),
    }
}

fn validation(message: impl Into<String>, check: impl Into<String>) -> Refusal {
    Refusal {
        status: 400,
        code: "ValidationException",
        message: message.into(),
        check: check.into(),
    }
}

fn not_found(message: impl Into<String>, check: impl Into<String>) -> Refusal {
    Refusal {
        status: 404,
        code: "ResourceNotFoundException",
        message: message.into(),
        check: check.into(),
    }
}

/// A signature failure as the service reports it.
pub fn refusal_for_verify_error(error: &VerifyError) -> Refusal {
    match error {
        VerifyError::MalformedBody(_)
        | VerifyError::MissingParameter(_)
        | VerifyError::ConflictingParameter(_) => {
            validation(error.to_string(), format!("request: {error}"))
        }
        _ => access_denied("Invalid signature", format!("signature: {error}")),
    }
}

/// What the anchor grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The trust anchor used.
    pub trust_anchor_arn: String,
    /// The role assumed.
    pub role_arn: String,
    /// The role session name.
    pub session_name: String,
    /// The source identity.
    pub source_identity: String,
    /// Session length.
    pub duration_seconds: u32,
    /// Session tags.
    pub tags: Vec<Tag>,
}

impl Grant {
    /// The session to mint for this grant.
    pub fn mint_request(&self) -> super::sts::MintRequest<'_> {
        super::sts::MintRequest {
            role_arn: &self.role_arn,
            session_name: &self.session_name,
            source_identity: &self.source_identity,
            duration_seconds: self.duration_seconds,
            chained: false,
        }
    }
}

/// Decides a verified CreateSession request at time `now`, check by check in the service's
/// order: the signature's time and region, the resources, the certificate and chain, the
/// session name, the session tags and role conditions, the duration.
pub fn decide(
    request: &VerifiedRequest,
    state: &AnchorState,
    now: OffsetDateTime,
) -> Result<Grant, Refusal> {
    check_time_and_region(request, state, now)?;
    let Resources {
        anchor,
        profile,
        role,
        unable,
    } = find_resources(request, state)?;
    check_leaf(&request.leaf, now)?;
    check_chain(request, anchor, now)?;
    let session = &request.session;
    if session.role_session_name.is_some() && !profile.accept_role_session_name {
        return Err(access_denied(
            "Not authorized to set roleSessionName",
            "profile does not accept roleSessionName",
        ));
    }
    let tags = mapped_tags(request, profile, &unable)?;
    let common_name = tags
        .iter()
        .find(|(k, _)| k == "x509Subject/CN")
        .map(|(_, v)| v.as_str());
    let source_identity = source_identity(common_name, &request.leaf.serial_hex());
    let account = state.account_id.as_str();
    for condition in &role.conditions {
        let value_of =
            |key: &str| request_value(key, &tags, &source_identity, &anchor.arn, account);
        if !condition_holds(condition, value_of) {
            return Err(access_denied(
                unable,
                format!(
                    "role condition {:?} {} {:?} does not hold",
                    condition.test, condition.key, condition.values
                ),
            ));
        }
    }
    let duration_seconds =
        granted_duration(session.duration_seconds, state, profile, role, &unable)?;
    Ok(Grant {
        trust_anchor_arn: anchor.arn.clone(),
        role_arn: role.arn.clone(),
        session_name: session
            .role_session_name
            .clone()
            .unwrap_or_else(|| request.leaf.serial_hex()),
        source_identity,
        duration_seconds,
        tags,
    })
}

/// X-Amz-Date within [`MAX_CLOCK_SKEW`] of `now`, and the scope's region the anchor's.
fn check_time_and_region(
    request: &VerifiedRequest,
    state: &AnchorState,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    // Messages marked "ours" are not documented for the real service (ROLESANYWHERE-SERVICE.md
    // lists them as unknown); the others are the service's own.
    let skew = (now - request.signed_at).abs();
    if skew > MAX_CLOCK_SKEW {
        return Err(access_denied(
            format!(
                "Signature expired: X-Amz-Date {} is more than 5 minutes from the server time",
                crate::time_format::amz_date(request.signed_at)
            ),
            format!("clock skew of {} s", skew.whole_seconds()),
        ));
    }
    if request.region != state.region {
        // Ours (SigV4 style).
        return Err(access_denied(
            format!(
                "Credential should be scoped to a valid region, not '{}'",
                request.region
            ),
            format!(
                "scope region {} is not the anchor's {}",
                request.region, state.region
            ),
        ));
    }
    Ok(())
}

/// The resources a request names, found and enabled, and the role in the profile.
struct Resources<'a> {
    anchor: &'a TrustAnchor,
    profile: &'a ProfileConfig,
    role: &'a RoleConfig,
    /// The service's "Unable to assume role" message for this request.
    unable: String,
}

fn find_resources<'a>(
    request: &VerifiedRequest,
    state: &'a AnchorState,
) -> Result<Resources<'a>, Refusal> {
    let session = &request.session;
    // Ours: unknown ARNs, disabled resources.
    let anchor = state
        .trust_anchors
        .iter()
        .find(|a| a.arn == session.trust_anchor_arn)
        .ok_or_else(|| {
            not_found(
                format!("Trust anchor {} not found", session.trust_anchor_arn),
                "unknown trust anchor ARN",
            )
        })?;
    let profile = state
        .profiles
        .iter()
        .find(|p| p.arn == session.profile_arn)
        .ok_or_else(|| {
            not_found(
                format!("Profile {} not found", session.profile_arn),
                "unknown profile ARN",
            )
        })?;
    if !anchor.enabled {
        return Err(access_denied(
            "Trust anchor is disabled",
            format!("trust anchor {} is disabled", anchor.arn),
        ));
    }
    if !profile.enabled {
        return Err(access_denied(
            "Profile is disabled",
            format!("profile {} is disabled", profile.arn),
        ));
    }
    let unable = format!("Unable to assume role for {}.", session.role_arn);
    if !profile.role_arns.contains(&session.role_arn) {
        return Err(access_denied(
            unable,
            format!(
                "role {} is not in profile {}",
                session.role_arn, profile.arn
            ),
        ));
    }
    let role = state
        .roles
        .iter()
        .find(|r| r.arn == session.role_arn)
        .ok_or_else(|| {
            access_denied(
                unable.clone(),
                format!("role {} is not configured", session.role_arn),
            )
        })?;
    Ok(Resources {
        anchor,
        profile,
        role,
        unable,
    })
}

/// The session tags the profile's attribute mappings make of the leaf; refused when STS would
/// refuse them.
fn mapped_tags(
    request: &VerifiedRequest,
    profile: &ProfileConfig,
    unable: &str,
) -> Result<Vec<Tag>, Refusal> {
    let mappings = profile
        .attribute_mappings
        .clone()
        .unwrap_or_else(default_attribute_mappings);
    let tags = session_tags(request.leaf.der(), &mappings);
    let bad = invalid_tags(&tags);
    if !bad.is_empty() {
        return Err(access_denied(
            format!(
                "{unable} Some attributes failed to be mapped into session tags: {}",
                bad.join(", ")
            ),
            "session tags invalid for STS",
        ));
    }
    Ok(tags)
}

/// The session length: the request's, within the service's bounds, capped by the profile, and
/// refused above the role's MaxSessionDuration.
fn granted_duration(
    requested: Option<i64>,
    state: &AnchorState,
    profile: &ProfileConfig,
    role: &RoleConfig,
    unable: &str,
) -> Result<u32, Refusal> {
    if let Some(d) = requested {
        if d < i64::from(state.min_duration_seconds) || d > i64::from(MAX_DURATION_SECONDS) {
            return Err(validation(
                format!(
                    "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value between {} and {MAX_DURATION_SECONDS}",
                    state.min_duration_seconds
                ),
                "durationSeconds out of range",
            ));
        }
    }
    let duration = requested
        .and_then(|d| u32::try_from(d).ok())
        .map_or(profile.duration_seconds, |d| {
            d.min(profile.duration_seconds)
        });
    if duration > role.max_session_duration {
        return Err(access_denied(
            format!("{unable} The requested DurationSeconds exceeds the MaxSessionDuration set for this role."),
            format!("duration {duration} > MaxSessionDuration {}", role.max_session_duration),
        ));
    }
    Ok(duration)
}

/// The value a CreateSession request has for a trust-policy condition key.
fn request_value<'a>(
    key: &str,
    tags: &'a [Tag],
    source_identity: &'a str,
    source_arn: &'a str,
    account: &'a str,
) -> Option<&'a str> {
    if let Some(tag) = key.strip_prefix("aws:PrincipalTag/") {
        return tags.iter().find(|(k, _)| k == tag).map(|(_, v)| v.as_str());
    }
    match key {
        "sts:SourceIdentity" => Some(source_identity),
        "aws:SourceArn" => Some(source_arn),
        "aws:SourceAccount" => Some(account),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
