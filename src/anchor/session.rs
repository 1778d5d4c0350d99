//! The CreateSession decision: every check the real service makes, in its order, each failure
//! answered with the service's status, code and message (see ROLESANYWHERE-SERVICE.md), plus
//! a precise reason for the anchor's log. Where the service's message is unknown, the message
//! here is ours, in the same style.

use time::OffsetDateTime;

use super::config::{
    default_attribute_mappings, AnchorState, Condition, ConditionTest, ProfileConfig, RoleConfig,
    TrustAnchor, MAX_DURATION_SECONDS,
};
use super::tags::{glob_match, invalid_tags, session_tags, source_identity, Tag};
use crate::identity::{Certificate, KeyKind};
use crate::pki::chain::{is_weak_signature_algorithm, verify_chain, ChainError};
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
        if !condition_holds(condition, &tags, &source_identity, &anchor.arn, account) {
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
                crate::rolesanywhere::sign::amz_date(request.signed_at)
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

fn check_leaf(leaf: &Certificate, now: OffsetDateTime) -> Result<(), Refusal> {
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
            crate::identity::cert::rfc3339(leaf.not_before()),
            crate::identity::cert::rfc3339(leaf.not_after())
        )));
    }
    Ok(())
}

fn check_chain(
    request: &VerifiedRequest,
    anchor: &super::config::TrustAnchor,
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

fn condition_holds(
    condition: &Condition,
    tags: &[Tag],
    source_identity: &str,
    source_arn: &str,
    account: &str,
) -> bool {
    let value: Option<&str> = if let Some(tag) = condition.key.strip_prefix("aws:PrincipalTag/") {
        tags.iter().find(|(k, _)| k == tag).map(|(_, v)| v.as_str())
    } else {
        match condition.key.as_str() {
            "sts:SourceIdentity" => Some(source_identity),
            "aws:SourceArn" => Some(source_arn),
            "aws:SourceAccount" => Some(account),
            _ => None,
        }
    };
    match (condition.test, value) {
        (ConditionTest::StringNotEquals, None) => true,
        (_, None) => false,
        (ConditionTest::StringEquals | ConditionTest::ArnEquals, Some(v)) => {
            condition.values.iter().any(|c| c == v)
        }
        (ConditionTest::StringNotEquals, Some(v)) => !condition.values.iter().any(|c| c == v),
        (ConditionTest::StringLike | ConditionTest::ArnLike, Some(v)) => {
            condition.values.iter().any(|c| glob_match(c, v))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::anchor::config::AnchorConfig;
    use crate::identity::file::load_certificate;
    use crate::identity::key_ref::KeyRef;
    use crate::rolesanywhere::verify::RequestedSession;

    fn fixture(name: &str) -> Certificate {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certs/test")
            .join(name);
        load_certificate(&KeyRef::File(path)).unwrap()
    }

    fn state() -> AnchorState {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/test/root.pem");
        AnchorConfig::for_local_ca(&root, None)
            .load(Path::new("/"))
            .unwrap()
    }

    /// A request from the p256 leaf, signed at `at`, for the local CA's anchor, profile and
    /// role.
    fn request(at: OffsetDateTime) -> VerifiedRequest {
        let state = state();
        VerifiedRequest {
            leaf: fixture("leaf-p256.pem"),
            chain: vec![fixture("intermediate.pem")],
            algorithm: "AWS4-X509-ECDSA-SHA256".into(),
            signed_at: at,
            region: "us-east-1".into(),
            signed_headers: vec!["content-type".into(), "host".into(), "x-amz-date".into()],
            session: RequestedSession {
                trust_anchor_arn: state.trust_anchors[0].arn.clone(),
                profile_arn: state.profiles[0].arn.clone(),
                role_arn: state.roles[0].arn.clone(),
                duration_seconds: None,
                role_session_name: None,
            },
        }
    }

    /// A time the fixtures are valid at.
    fn now() -> OffsetDateTime {
        fixture("leaf-p256.pem").not_before() + time::Duration::days(1)
    }

    #[test]
    fn a_good_request_is_granted_with_the_profile_duration_and_the_serial_as_session_name() {
        let grant = decide(&request(now()), &state(), now()).unwrap();
        assert_eq!(grant.duration_seconds, 3600);
        assert_eq!(grant.session_name, fixture("leaf-p256.pem").serial_hex());
        assert!(grant.tags.iter().any(|(k, _)| k == "x509Subject/CN"));
    }

    #[test]
    fn each_check_refuses_with_the_services_answer() {
        type Change = fn(&mut VerifiedRequest, &mut AnchorState);
        let cases: Vec<(&str, Change, u16, &str, &str)> = vec![
            (
                "skew ahead",
                |r, _| r.signed_at += time::Duration::minutes(6),
                403,
                "Signature expired",
                "clock skew of 360 s",
            ),
            (
                "skew behind",
                |r, _| r.signed_at -= time::Duration::minutes(6),
                403,
                "Signature expired",
                "clock skew",
            ),
            (
                "region",
                |r, _| r.region = "eu-west-1".into(),
                403,
                "scoped to a valid region",
                "scope region",
            ),
            (
                "anchor",
                |r, _| r.session.trust_anchor_arn.push('x'),
                404,
                "Trust anchor",
                "unknown trust anchor",
            ),
            (
                "profile",
                |r, _| r.session.profile_arn.push('x'),
                404,
                "Profile",
                "unknown profile",
            ),
            (
                "anchor disabled",
                |_, s| s.trust_anchors[0].enabled = false,
                403,
                "Trust anchor is disabled",
                "disabled",
            ),
            (
                "profile disabled",
                |_, s| s.profiles[0].enabled = false,
                403,
                "Profile is disabled",
                "disabled",
            ),
            (
                "role not in profile",
                |r, _| r.session.role_arn.push('x'),
                403,
                "Unable to assume role",
                "is not in profile",
            ),
            (
                "role not configured",
                |_, s| s.roles.clear(),
                403,
                "Unable to assume role",
                "is not configured",
            ),
            (
                "no chain",
                |r, _| r.chain.clear(),
                403,
                "Untrusted signing certificate",
                "chain",
            ),
            (
                "session name",
                |r, s| {
                    r.session.role_session_name = Some("me".into());
                    s.profiles[0].accept_role_session_name = false;
                },
                403,
                "Not authorized to set roleSessionName",
                "does not accept",
            ),
            (
                "duration too short",
                |r, _| r.session.duration_seconds = Some(899),
                400,
                "failed to satisfy constraint",
                "out of range",
            ),
            (
                "duration too long",
                |r, _| r.session.duration_seconds = Some(43201),
                400,
                "failed to satisfy constraint",
                "out of range",
            ),
            (
                "over MaxSessionDuration",
                |_, s| s.roles[0].max_session_duration = 1800,
                403,
                "exceeds the MaxSessionDuration",
                "duration 3600",
            ),
        ];
        for (name, change, status, message, check) in cases {
            let (mut request, mut state) = (request(now()), state());
            change(&mut request, &mut state);
            let refusal = decide(&request, &state, now()).unwrap_err();
            assert_eq!(refusal.status, status, "{name}: {refusal:?}");
            assert!(refusal.message.contains(message), "{name}: {refusal:?}");
            assert!(refusal.check.contains(check), "{name}: {refusal:?}");
        }
    }

    #[test]
    fn the_skew_limit_is_inclusive_and_a_shorter_duration_is_granted() {
        let mut request = request(now() - MAX_CLOCK_SKEW);
        request.session.duration_seconds = Some(900);
        let grant = decide(&request, &state(), now()).unwrap();
        assert_eq!(grant.duration_seconds, 900);
    }

    #[test]
    fn an_expired_leaf_is_refused_at_the_time_given() {
        let later = fixture("leaf-p256.pem").not_after() + time::Duration::seconds(1);
        let refusal = decide(&request(later), &state(), later).unwrap_err();
        assert_eq!(refusal.message, "Untrusted signing certificate");
    }
}
