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

const CHAINS: &str = r#"
[profiles.dev]
certificate = "leaf.pem"
trust-anchor-arn = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/a"
profile-arn = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/b"
role-arn = "arn:aws:iam::123456789012:role/dev"
[profiles.admin]
source-profile = "dev"
[profiles.admin.assume-role]
role-arn = "arn:aws:iam::222233334444:role/admin"
external-id = "ops-7f3a"
duration = 7200
[profiles.audit]
source-profile = "admin"
[profiles.audit.assume-role]
role-arn = "arn:aws:iam::333344445555:role/audit"
role-session-name = "{cn}-audit"
[profiles.loop-a]
source-profile = "loop-b"
assume-role = { role-arn = "arn:aws:iam::123456789012:role/a" }
[profiles.loop-b]
source-profile = "loop-a"
assume-role = { role-arn = "arn:aws:iam::123456789012:role/b" }
[profiles.orphan]
source-profile = "nowhere"
assume-role = { role-arn = "arn:aws:iam::123456789012:role/a" }
[profiles.mixed]
source-profile = "dev"
region = "us-east-1"
assume-role = { role-arn = "arn:aws:iam::123456789012:role/a" }
[profiles.bad-template]
source-profile = "dev"
assume-role = { role-arn = "arn:aws:iam::123456789012:role/a", role-session-name = "{user}" }
"#;

fn chained(name: &str) -> Result<ResolvedProfile, ConfigError> {
    let file: ConfigFile = toml::from_str(CHAINS).unwrap();
    let settings = file.chained_profile(name, Path::new("config.toml"))?;
    ResolvedProfile::resolve(settings, Some(name), Passphrase::PromptIfTerminal)
}

#[test]
fn a_chain_of_two_hops_resolves_root_first_with_the_one_hour_cap() {
    let audit = chained("audit").unwrap();
    assert_eq!(
        audit.params.role_arn.as_str(),
        "arn:aws:iam::123456789012:role/dev"
    );
    let roles: Vec<&str> = audit.chain.iter().map(|h| h.role_arn.as_str()).collect();
    assert_eq!(
        roles,
        [
            "arn:aws:iam::222233334444:role/admin",
            "arn:aws:iam::333344445555:role/audit"
        ]
    );
    assert_eq!(audit.chain[0].duration_seconds, 3600);
    assert_eq!(audit.chain[0].external_id.as_deref(), Some("ops-7f3a"));
    assert_eq!(
        audit.chain[1].sts_endpoint.to_string(),
        "https://sts.us-east-1.amazonaws.com/"
    );
    assert!(chained("dev").unwrap().chain.is_empty());
}

#[test]
fn cycles_unknown_sources_and_mixed_profiles_are_refused_by_name() {
    let cycle = chained("loop-a").unwrap_err().to_string();
    assert!(cycle.contains("loop-a → loop-b → loop-a"), "{cycle}");
    let orphan = chained("orphan").unwrap_err();
    assert!(
        matches!(orphan, ConfigError::UnknownProfile { ref name, .. } if name == "nowhere"),
        "{orphan}"
    );
    let mixed = chained("mixed").unwrap_err().to_string();
    assert!(
        mixed.starts_with("profile 'mixed' names source-profile 'dev'"),
        "{mixed}"
    );
    let template = chained("bad-template").unwrap_err();
    let line = crate::text::with_causes(&template);
    assert!(line.contains("unknown variable '{user}'"), "{line}");
}
