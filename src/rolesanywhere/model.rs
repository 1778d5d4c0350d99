//! Validated request parameters (ARNs, region, duration, session name) and the CreateSession
//! response body.

use std::fmt;

use serde::Deserialize;

/// Shortest session the service grants.
pub const MIN_SESSION_SECONDS: u32 = 900;
/// Longest session the service grants.
pub const MAX_SESSION_SECONDS: u32 = 43_200;
/// Session length when none is asked for (also the service's profile default).
pub const DEFAULT_SESSION_SECONDS: u32 = 3600;

/// Why a request parameter is invalid. Each names the flag and shows the expected form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamError {
    /// An ARN is malformed or of the wrong resource type.
    #[error("{flag} '{value}' is not a valid {kind} ARN ({reason}); expected {example}")]
    Arn {
        /// The flag it came from.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What kind of ARN was expected.
        kind: &'static str,
        /// What is wrong.
        reason: String,
        /// An example of the right form.
        example: &'static str,
    },
    /// The trust anchor and profile are in different regions.
    #[error("trust anchor ARN region {anchor} differs from profile ARN region {profile}; both must be in the same region")]
    RegionMismatch {
        /// Region of the trust anchor.
        anchor: String,
        /// Region of the profile.
        profile: String,
    },
    /// `--region` disagrees with the trust anchor.
    #[error("--region {given} differs from the trust anchor ARN's region {anchor}; drop --region or fix the ARN")]
    RegionFlagMismatch {
        /// The flag value.
        given: String,
        /// Region of the trust anchor.
        anchor: String,
    },
    /// A region name that cannot be right.
    #[error("--region '{0}' is not a valid AWS region name (like us-east-1)")]
    Region(String),
    /// Duration out of range.
    #[error(
        "--session-duration {0} is outside {MIN_SESSION_SECONDS}–{MAX_SESSION_SECONDS} seconds"
    )]
    Duration(u64),
    /// Session name does not fit STS's rules.
    #[error("--role-session-name '{0}' is invalid: use 2–64 characters from letters, digits and +=,.@_-")]
    SessionName(String),
}

/// A parsed ARN: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    raw: String,
    partition: String,
    region: String,
    account: String,
    resource: String,
}

impl Arn {
    /// The ARN as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`, …).
    pub fn partition(&self) -> &str {
        &self.partition
    }
    /// The region (empty for IAM).
    pub fn region(&self) -> &str {
        &self.region
    }
    /// The 12-digit account id.
    pub fn account(&self) -> &str {
        &self.account
    }
    /// The resource part (`trust-anchor/ID`, `role/NAME`, …).
    pub fn resource(&self) -> &str {
        &self.resource
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// What an ARN must look like for one flag.
struct ArnShape {
    flag: &'static str,
    kind: &'static str,
    service: &'static str,
    regional: bool,
    resource_prefix: &'static str,
    example: &'static str,
}

const TRUST_ANCHOR: ArnShape = ArnShape {
    flag: "--trust-anchor-arn",
    kind: "trust anchor",
    service: "rolesanywhere",
    regional: true,
    resource_prefix: "trust-anchor/",
    example: "arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID",
};
const PROFILE: ArnShape = ArnShape {
    flag: "--profile-arn",
    kind: "profile",
    service: "rolesanywhere",
    regional: true,
    resource_prefix: "profile/",
    example: "arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID",
};
const ROLE: ArnShape = ArnShape {
    flag: "--role-arn",
    kind: "IAM role",
    service: "iam",
    regional: false,
    resource_prefix: "role/",
    example: "arn:aws:iam::ACCOUNT:role/NAME",
};

/// An IAM role ARN given by `setting` (named in the error).
pub fn parse_role_arn(value: &str, setting: &'static str) -> Result<Arn, ParamError> {
    parse_arn(
        value,
        &ArnShape {
            flag: setting,
            ..ROLE
        },
    )
}

fn parse_arn(value: &str, shape: &ArnShape) -> Result<Arn, ParamError> {
    let fail = |reason: String| ParamError::Arn {
        flag: shape.flag,
        value: value.to_owned(),
        kind: shape.kind,
        reason,
        example: shape.example,
    };
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Err(fail("it needs six ':'-separated parts".into()));
    };
    if prefix != "arn" {
        return Err(fail("it must start with 'arn:'".into()));
    }
    if partition_of_region(region).is_some_and(|p| p != partition) || !partition.starts_with("aws")
    {
        return Err(fail(format!(
            "partition '{partition}' does not fit region '{region}'"
        )));
    }
    if service != shape.service {
        return Err(fail(format!(
            "service is '{service}', not '{}'",
            shape.service
        )));
    }
    if shape.regional && !is_region(region) {
        return Err(fail(format!("'{region}' is not a region")));
    }
    if !shape.regional && !region.is_empty() {
        return Err(fail("IAM ARNs have no region".into()));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail(format!("account '{account}' is not 12 digits")));
    }
    match resource.strip_prefix(shape.resource_prefix) {
        Some(id) if !id.is_empty() && !id.chars().any(char::is_whitespace) => {}
        _ => {
            return Err(fail(format!(
                "resource must be '{}' followed by an id",
                shape.resource_prefix
            )))
        }
    }
    Ok(Arn {
        raw: value.to_owned(),
        partition: partition.to_owned(),
        region: region.to_owned(),
        account: account.to_owned(),
        resource: resource.to_owned(),
    })
}

/// The partition a region belongs to, if the region is well-formed.
pub fn partition_of_region(region: &str) -> Option<&'static str> {
    if !is_region(region) {
        return None;
    }
    Some(if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-isof-") {
        "aws-iso-f"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("eu-isoe-") {
        "aws-iso-e"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    })
}

/// Whether `s` looks like a region name: lowercase words joined by '-', ending in a number.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// Validated parameters of one CreateSession call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParams {
    /// The trust anchor.
    pub trust_anchor_arn: Arn,
    /// The profile.
    pub profile_arn: Arn,
    /// The role to assume.
    pub role_arn: Arn,
    /// Requested session length in seconds (900–43200).
    pub duration_seconds: u32,
    /// Requested role session name, if any.
    pub role_session_name: Option<String>,
}

impl SessionParams {
    /// Validates raw values; `region` is the `--region` flag, if given.
    pub fn new(
        trust_anchor_arn: &str,
        profile_arn: &str,
        role_arn: &str,
        duration_seconds: u64,
        role_session_name: Option<&str>,
    ) -> Result<Self, ParamError> {
        let trust_anchor_arn = parse_arn(trust_anchor_arn, &TRUST_ANCHOR)?;
        let profile_arn = parse_arn(profile_arn, &PROFILE)?;
        let role_arn = parse_arn(role_arn, &ROLE)?;
        if trust_anchor_arn.region() != profile_arn.region() {
            return Err(ParamError::RegionMismatch {
                anchor: trust_anchor_arn.region().to_owned(),
                profile: profile_arn.region().to_owned(),
            });
        }
        let duration_seconds = u32::try_from(duration_seconds)
            .ok()
            .filter(|d| (MIN_SESSION_SECONDS..=MAX_SESSION_SECONDS).contains(d))
            .ok_or(ParamError::Duration(duration_seconds))?;
        if let Some(name) = role_session_name {
            let valid_chars = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if !(2..=64).contains(&name.len()) || !valid_chars {
                return Err(ParamError::SessionName(name.to_owned()));
            }
        }
        Ok(Self {
            trust_anchor_arn,
            profile_arn,
            role_arn,
            duration_seconds,
            role_session_name: role_session_name.map(str::to_owned),
        })
    }

    /// The region requests are signed for and sent to: the trust anchor's, which `--region`
    /// may repeat but not contradict.
    pub fn region(&self, flag: Option<&str>) -> Result<String, ParamError> {
        let anchor = self.trust_anchor_arn.region();
        match flag {
            Some(given) if !is_region(given) => Err(ParamError::Region(given.to_owned())),
            Some(given) if given != anchor => Err(ParamError::RegionFlagMismatch {
                given: given.to_owned(),
                anchor: anchor.to_owned(),
            }),
            _ => Ok(anchor.to_owned()),
        }
    }
}

/// The CreateSession 201 body (only what tessera reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionResponse {
    /// One entry per role session (the service returns exactly one).
    #[serde(default)]
    pub credential_set: Vec<CredentialSetEntry>,
}

/// One element of `credentialSet`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSetEntry {
    /// The credentials.
    pub credentials: RawCredentials,
}

/// Credentials as the service sends them. Security: `Debug` is implemented by hand to redact.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawCredentials {
    /// Access key id (not secret).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token.
    pub session_token: String,
    /// ISO 8601 expiration.
    pub expiration: Option<String>,
}

impl fmt::Debug for RawCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANCHOR: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/abc";
    const PROFILE_ARN: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/def";
    const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/app";

    #[test]
    fn valid_parameters_are_accepted() {
        let p = SessionParams::new(ANCHOR, PROFILE_ARN, ROLE_ARN, 3600, Some("job-1")).unwrap();
        assert_eq!(p.region(None).unwrap(), "us-east-1");
        assert_eq!(p.region(Some("us-east-1")).unwrap(), "us-east-1");
    }

    #[test]
    fn malformed_arns_name_the_flag() {
        for (anchor, profile, role, flag) in [
            ("nonsense", PROFILE_ARN, ROLE_ARN, "--trust-anchor-arn"),
            (PROFILE_ARN, PROFILE_ARN, ROLE_ARN, "--trust-anchor-arn"),
            (
                ANCHOR,
                "arn:aws:rolesanywhere:us-east-1:12345:profile/x",
                ROLE_ARN,
                "--profile-arn",
            ),
            (
                ANCHOR,
                PROFILE_ARN,
                "arn:aws:iam:us-east-1:123456789012:role/x",
                "--role-arn",
            ),
            (
                ANCHOR,
                PROFILE_ARN,
                "arn:aws:iam::123456789012:user/x",
                "--role-arn",
            ),
            (
                "arn:aws:rolesanywhere:cn-north-1:123456789012:trust-anchor/a",
                PROFILE_ARN,
                ROLE_ARN,
                "--trust-anchor-arn",
            ),
        ] {
            let err = SessionParams::new(anchor, profile, role, 3600, None).unwrap_err();
            assert!(err.to_string().starts_with(flag), "{err}");
        }
    }

    #[test]
    fn china_partition_arns_are_accepted() {
        let p = SessionParams::new(
            "arn:aws-cn:rolesanywhere:cn-north-1:123456789012:trust-anchor/a",
            "arn:aws-cn:rolesanywhere:cn-north-1:123456789012:profile/b",
            "arn:aws-cn:iam::123456789012:role/r",
            900,
            None,
        )
        .unwrap();
        assert_eq!(p.trust_anchor_arn.partition(), "aws-cn");
    }

    #[test]
    fn region_mismatch_between_anchor_and_profile_is_an_error() {
        let profile = "arn:aws:rolesanywhere:eu-west-1:123456789012:profile/def";
        let err = SessionParams::new(ANCHOR, profile, ROLE_ARN, 3600, None).unwrap_err();
        assert!(matches!(err, ParamError::RegionMismatch { .. }));
        let ok = SessionParams::new(ANCHOR, PROFILE_ARN, ROLE_ARN, 3600, None).unwrap();
        assert!(matches!(
            ok.region(Some("eu-west-1")),
            Err(ParamError::RegionFlagMismatch { .. })
        ));
        assert!(matches!(
            ok.region(Some("Mars")),
            Err(ParamError::Region(_))
        ));
    }

    #[test]
    fn durations_outside_the_service_range_are_rejected() {
        for d in [0, 899, 43_201, u64::MAX] {
            assert_eq!(
                SessionParams::new(ANCHOR, PROFILE_ARN, ROLE_ARN, d, None).unwrap_err(),
                ParamError::Duration(d)
            );
        }
        for d in [900, 43_200] {
            assert!(SessionParams::new(ANCHOR, PROFILE_ARN, ROLE_ARN, d, None).is_ok());
        }
    }

    #[test]
    fn session_names_follow_sts_rules() {
        for bad in ["a", "has space", "slash/no", &"x".repeat(65)] {
            assert!(SessionParams::new(ANCHOR, PROFILE_ARN, ROLE_ARN, 3600, Some(bad)).is_err());
        }
    }
}
