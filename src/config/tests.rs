//! Unit tests of profile merging, resolution and config files.

use super::*;

#[test]
fn the_packaged_example_config_parses_and_names_its_profile() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/config.example.toml");
    let file = ConfigFile::read(&path).expect("the shipped example is valid");
    let profile = file
        .profile("default", &path)
        .expect("has a default profile");
    assert_eq!(
        profile.certificate.as_deref(),
        Some(Path::new("/run/credentials/tessera.service/tessera.pem"))
    );
    assert!(profile.role_arn.is_some() && profile.profile_arn.is_some());
}

fn sample() -> ProfileSettings {
    toml::from_str::<ConfigFile>(
        r#"
[profiles.dev]
certificate = "leaf.pem"
trust-anchor-arn = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/a"
profile-arn = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/b"
role-arn = "arn:aws:iam::123456789012:role/c"
session-duration = 1800
"#,
    )
    .unwrap()
    .profiles["dev"]
        .clone()
}

#[test]
fn flags_override_the_profile() {
    let flags = ProfileSettings {
        session_duration: Some(900),
        ..ProfileSettings::default()
    };
    let merged = flags.over(sample());
    assert_eq!(merged.session_duration, Some(900));
    assert_eq!(merged.certificate, Some(PathBuf::from("leaf.pem")));
    let resolved =
        ResolvedProfile::resolve(merged, Some("dev"), Passphrase::PromptIfTerminal).unwrap();
    assert_eq!(resolved.params.duration_seconds, 900);
    assert_eq!(
        resolved.endpoint.to_string(),
        "https://rolesanywhere.us-east-1.amazonaws.com/"
    );
}

#[test]
fn a_missing_setting_names_the_flag_env_and_profile() {
    let mut settings = sample();
    settings.role_arn = None;
    let err =
        ResolvedProfile::resolve(settings, Some("dev"), Passphrase::PromptIfTerminal).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no role ARN: pass --role-arn (or set TESSERA_ROLE_ARN), or set `role-arn` in profile 'dev'"
    );
}

#[test]
fn unknown_keys_are_rejected() {
    assert!(toml::from_str::<ConfigFile>("[profiles.x]\ncertficate = \"typo\"\n").is_err());
}
