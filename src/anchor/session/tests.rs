//! Unit tests of the CreateSession decision: a good request, and each check's refusal.

use std::path::Path;

use super::*;
use crate::anchor::config::AnchorConfig;
use crate::identity::file::load_certificate;
use crate::identity::key_ref::KeyRef;
use crate::identity::Certificate;
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

/// Changes a good request or the state so that one check fails.
type Change = fn(&mut VerifiedRequest, &mut AnchorState);

/// Applies `change` and asserts the refusal's status, its message (the service's) and the
/// check named in the log.
fn assert_refused(name: &str, change: Change, status: u16, message: &str, check: &str) {
    let (mut request, mut state) = (request(now()), state());
    change(&mut request, &mut state);
    let refusal = decide(&request, &state, now()).unwrap_err();
    assert_eq!(refusal.status, status, "{name}: {refusal:?}");
    assert!(refusal.message.contains(message), "{name}: {refusal:?}");
    assert!(refusal.check.contains(check), "{name}: {refusal:?}");
}

#[test]
fn the_signing_time_and_region_are_checked_first() {
    let late: Change = |r, _| r.signed_at += time::Duration::minutes(6);
    assert_refused(
        "ahead",
        late,
        403,
        "Signature expired",
        "clock skew of 360 s",
    );
    let early: Change = |r, _| r.signed_at -= time::Duration::minutes(6);
    assert_refused("behind", early, 403, "Signature expired", "clock skew");
    let region: Change = |r, _| r.region = "eu-west-1".into();
    assert_refused(
        "region",
        region,
        403,
        "scoped to a valid region",
        "scope region",
    );
}

#[test]
fn unknown_or_disabled_resources_and_foreign_roles_are_refused() {
    let anchor: Change = |r, _| r.session.trust_anchor_arn.push('x');
    assert_refused(
        "anchor",
        anchor,
        404,
        "Trust anchor",
        "unknown trust anchor",
    );
    let profile: Change = |r, _| r.session.profile_arn.push('x');
    assert_refused("profile", profile, 404, "Profile", "unknown profile");
    let off: Change = |_, s| s.trust_anchors[0].enabled = false;
    assert_refused(
        "anchor off",
        off,
        403,
        "Trust anchor is disabled",
        "disabled",
    );
    let off: Change = |_, s| s.profiles[0].enabled = false;
    assert_refused("profile off", off, 403, "Profile is disabled", "disabled");
    let role: Change = |r, _| r.session.role_arn.push('x');
    assert_refused(
        "role",
        role,
        403,
        "Unable to assume role",
        "is not in profile",
    );
    let gone: Change = |_, s| s.roles.clear();
    assert_refused(
        "no role",
        gone,
        403,
        "Unable to assume role",
        "is not configured",
    );
}

#[test]
fn the_chain_the_session_name_and_the_duration_are_checked() {
    let chain: Change = |r, _| r.chain.clear();
    assert_refused(
        "chain",
        chain,
        403,
        "Untrusted signing certificate",
        "chain",
    );
    let name: Change = |r, s| {
        r.session.role_session_name = Some("me".into());
        s.profiles[0].accept_role_session_name = false;
    };
    assert_refused(
        "name",
        name,
        403,
        "Not authorized to set roleSessionName",
        "accept",
    );
    let short: Change = |r, _| r.session.duration_seconds = Some(899);
    assert_refused(
        "short",
        short,
        400,
        "failed to satisfy constraint",
        "out of range",
    );
    let long: Change = |r, _| r.session.duration_seconds = Some(43201);
    assert_refused(
        "long",
        long,
        400,
        "failed to satisfy constraint",
        "out of range",
    );
    let max: Change = |_, s| s.roles[0].max_session_duration = 1800;
    assert_refused(
        "max",
        max,
        403,
        "exceeds the MaxSessionDuration",
        "duration 3600",
    );
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
