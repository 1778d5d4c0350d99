//! AssumeRole's decision, refusal by refusal.

use time::macros::datetime;

use super::*;
use crate::anchor::config::{Condition, ConditionTest};
use crate::anchor::sts::SessionStore;

const DEV: &str = "arn:aws:iam::123456789012:role/dev";
const ADMIN: &str = "arn:aws:iam::222233334444:role/admin";

fn caller(source_identity: &str) -> IssuedSession {
    let store = SessionStore::default();
    let request = MintRequest {
        role_arn: DEV,
        session_name: "alice",
        source_identity,
        duration_seconds: 3600,
        chained: false,
    };
    store
        .mint(request, datetime!(2026-06-01 12:00 UTC))
        .unwrap()
}

fn admin_role() -> RoleConfig {
    RoleConfig {
        arn: ADMIN.into(),
        max_session_duration: 3600,
        conditions: Vec::new(),
        trusted_principals: vec!["arn:aws:iam::123456789012:role/*".into()],
        assume_role_conditions: vec![Condition {
            test: ConditionTest::StringEquals,
            key: "sts:ExternalId".into(),
            values: vec!["ops-7f3a".into()],
        }],
    }
}

fn params(pairs: &[(&str, &str)]) -> Result<AssumeRoleParams, Refused> {
    let mut all = vec![("RoleArn", ADMIN), ("RoleSessionName", "alice")];
    all.extend_from_slice(pairs);
    AssumeRoleParams::parse(&StsCall::for_test(caller("CN=alice"), &all))
}

fn decided(caller_identity: &str, pairs: &[(&str, &str)]) -> Result<Chained, Refused> {
    decide(&caller(caller_identity), &params(pairs)?, &[admin_role()])
}

#[test]
fn a_trusted_caller_with_the_external_id_gets_the_role_and_keeps_its_source_identity() {
    let chained = decided("CN=alice", &[("ExternalId", "ops-7f3a")]).unwrap();
    assert_eq!(chained.role_arn, ADMIN);
    assert_eq!(chained.source_identity, "CN=alice");
    assert_eq!(chained.duration_seconds, 3600);
    let minted = SessionStore::default()
        .mint(chained.mint_request(), datetime!(2026-06-01 12:00 UTC))
        .unwrap();
    assert_eq!(
        minted.assumed_role_arn,
        "arn:aws:sts::222233334444:assumed-role/admin/alice"
    );
    assert_eq!(minted.account, "222233334444");
    let xml = response_xml(&minted, "r");
    assert!(
        xml.contains("<SourceIdentity>CN=alice</SourceIdentity>"),
        "{}",
        *xml
    );
}

#[test]
fn a_wrong_or_missing_external_id_is_access_denied_with_awss_message() {
    for pairs in [&[("ExternalId", "guess")][..], &[]] {
        let (error, reason) = decided("CN=alice", pairs).unwrap_err();
        assert_eq!((error.status, error.code), (403, "AccessDenied"));
        assert_eq!(
            error.message,
            format!("User: arn:aws:sts::123456789012:assumed-role/dev/alice is not authorized to perform: sts:AssumeRole on resource: {ADMIN}")
        );
        assert!(reason.contains("sts:ExternalId"), "{reason}");
    }
}

#[test]
fn an_untrusted_caller_or_an_unknown_role_is_access_denied() {
    let mut role = admin_role();
    role.trusted_principals = vec!["arn:aws:iam::123456789012:role/ops".into()];
    let p = params(&[("ExternalId", "ops-7f3a")]).unwrap();
    let (error, reason) = decide(&caller("CN=alice"), &p, &[role]).unwrap_err();
    assert_eq!(error.code, "AccessDenied");
    assert!(reason.contains("trustedPrincipals"), "{reason}");
    let (error, _) = decide(&caller("CN=alice"), &p, &[]).unwrap_err();
    assert_eq!(error.code, "AccessDenied");
}

#[test]
fn a_chained_session_over_one_hour_is_refused_as_aws_does() {
    let (error, _) = decided(
        "CN=alice",
        &[("ExternalId", "ops-7f3a"), ("DurationSeconds", "7200")],
    )
    .unwrap_err();
    assert_eq!((error.status, error.code), (400, "ValidationError"));
    assert_eq!(
        error.message,
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    );
    let (error, _) = params(&[("DurationSeconds", "60")]).unwrap_err();
    assert!(
        error.message.contains("greater than or equal to 900"),
        "{}",
        error.message
    );
}

#[test]
fn the_source_identity_may_be_repeated_or_set_once_but_never_changed() {
    let same = decided(
        "CN=alice",
        &[("ExternalId", "ops-7f3a"), ("SourceIdentity", "CN=alice")],
    );
    assert_eq!(same.unwrap().source_identity, "CN=alice");
    let first = decided("", &[("ExternalId", "ops-7f3a"), ("SourceIdentity", "bob")]);
    assert_eq!(first.unwrap().source_identity, "bob");
    let (error, _) = decided(
        "CN=alice",
        &[("ExternalId", "ops-7f3a"), ("SourceIdentity", "mallory")],
    )
    .unwrap_err();
    assert_eq!(error.code, "AccessDenied");
    assert!(
        error.message.contains("cannot be changed"),
        "{}",
        error.message
    );
}

#[test]
fn malformed_parameters_get_stss_validation_errors() {
    let call = StsCall::for_test(caller(""), &[("RoleArn", ADMIN)]);
    let (error, _) = AssumeRoleParams::parse(&call).unwrap_err();
    assert!(
        error.message.contains("Value null at 'roleSessionName'"),
        "{}",
        error.message
    );
    let (error, _) = params(&[("SourceIdentity", "a b")]).unwrap_err();
    assert!(
        error.message.contains("'sourceIdentity'"),
        "{}",
        error.message
    );
    let call = StsCall::for_test(
        caller(""),
        &[("RoleArn", ADMIN), ("RoleSessionName", "a b")],
    );
    let (error, _) = AssumeRoleParams::parse(&call).unwrap_err();
    assert_eq!(error.code, "ValidationError");
}
