//! The shipped example configs, and unknown fields.

use super::*;

#[test]
fn the_example_config_parses() {
    let example: AnchorConfig =
        toml::from_str(include_str!("../../../packaging/anchor.example.toml")).unwrap();
    assert_eq!(example.trust_anchors.len(), 1);
    assert_eq!(
        example.profiles[0].attribute_mappings.as_deref(),
        Some(default_attribute_mappings().as_slice())
    );
    assert_eq!(
        example.roles[0].conditions[0].test,
        ConditionTest::ArnEquals
    );
    let chained = &example.roles[1];
    assert_eq!(chained.trusted_principals, [example.roles[0].arn.clone()]);
    assert_eq!(chained.assume_role_conditions[0].key, "sts:ExternalId");
    validate_role(chained).unwrap();
}

#[test]
fn the_login_example_config_parses_and_validates() {
    let example: AnchorConfig =
        toml::from_str(include_str!("../../../packaging/anchor.login.example.toml")).unwrap();
    let enrolment = example.enrolment.as_ref().unwrap();
    enrolment.validate().unwrap();
    assert_eq!(enrolment.audiences, ["tessera"]);
    assert_eq!(enrolment.uri_sans, ["{iss}/{sub}"]);
}

#[test]
fn unknown_fields_are_rejected() {
    let err = toml::from_str::<AnchorConfig>(
        "accountId = \"123456789012\"\nregion = \"us-east-1\"\ntrustAnchor = []\n",
    );
    assert!(err.is_err());
}
