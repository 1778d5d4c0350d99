//! Role chaining in the config: `source-profile` links and `[profiles.NAME.assume-role]`
//! tables, walked into one chain (cycles and unknown profiles refused), and resolved into
//! [`ChainHop`]s with AWS's 1-hour cap on chained sessions.
//!
//! ```toml
//! [profiles.admin]
//! source-profile = "dev"            # dev's certificate and CreateSession start the chain
//! [profiles.admin.assume-role]
//! role-arn = "arn:aws:iam::222233334444:role/admin"
//! external-id = "ops-7f3a"          # when the role's trust policy asks for one
//! duration = 3600                   # at most 3600: AWS caps chained sessions at 1 h
//! role-session-name = "{cn}"        # the default; also {email}, {serial}
//! # source-identity = "{email}"     # only when the session has none yet; it never changes
//! # sts-endpoint = "https://sts.us-east-1.amazonaws.com"
//! ```

use std::path::Path;

use serde::Deserialize;

use super::{ConfigError, ConfigFile, ProfileSettings};
use crate::credentials::attribution::NameTemplate;
use crate::rolesanywhere::model::{parse_role_arn, partition_of_region, Arn};

/// AWS's cap on a session assumed with role credentials.
pub const MAX_CHAINED_SECONDS: u32 = 3600;
/// AssumeRole's shortest session.
const MIN_CHAINED_SECONDS: u64 = 900;

/// `[profiles.NAME.assume-role]`: a role assumed with the credentials before it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AssumeRoleSettings {
    /// The role to assume.
    pub role_arn: String,
    /// `ExternalId`, when the role's trust policy asks for one.
    pub external_id: Option<String>,
    /// Session length, seconds (default and most: 3600).
    pub duration: Option<u64>,
    /// Role session name template (default `{cn}`, else `{serial}`).
    pub role_session_name: Option<String>,
    /// Source identity template, for a chain whose session has none yet.
    pub source_identity: Option<String>,
    /// The STS to call (default: the Roles Anywhere endpoint when it is overridden, which is
    /// where the local anchor serves STS, else the region's STS).
    pub sts_endpoint: Option<String>,
}

/// One link of a chain: the profile that names it and its table.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainLink {
    /// The profile with the `assume-role` table.
    pub profile: String,
    /// The table.
    pub assume_role: AssumeRoleSettings,
}

/// A profile's chain: the profile whose certificate starts it, and the links in call order.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSettings {
    /// The profile with the certificate and Roles Anywhere settings.
    pub root: String,
    /// The roles assumed, first to last.
    pub links: Vec<ChainLink>,
}

impl ConfigFile {
    /// The settings of profile `name` with its chain walked: a profile with `source-profile`
    /// takes its certificate and Roles Anywhere settings from that profile (recursively), and
    /// every `assume-role` table on the way becomes a link.
    pub fn chained_profile(&self, name: &str, path: &Path) -> Result<ProfileSettings, ConfigError> {
        let mut links = Vec::new();
        let mut visited = vec![name.to_owned()];
        let mut current_name = name.to_owned();
        let mut current = self.profile(name, path)?;
        loop {
            let assume_role = current.assume_role.take();
            let source = current.source_profile.take();
            if let Some(assume_role) = assume_role.clone() {
                links.push(ChainLink {
                    profile: current_name.clone(),
                    assume_role,
                });
            }
            let Some(source) = source else { break };
            if assume_role.is_none() || current != ProfileSettings::default() {
                return Err(ConfigError::ChainedProfileSettings {
                    profile: current_name,
                    source_profile: source,
                });
            }
            if visited.contains(&source) {
                visited.push(source);
                return Err(ConfigError::ChainCycle {
                    cycle: visited.join(" → "),
                    path: path.to_owned(),
                });
            }
            visited.push(source.clone());
            current = self.profile(&source, path)?;
            current_name = source;
        }
        if !links.is_empty() {
            links.reverse();
            current.chain = Some(ChainSettings {
                root: current_name,
                links,
            });
        }
        Ok(current)
    }
}

/// One AssumeRole call of a chain, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHop {
    /// The profile whose `assume-role` table this is (for messages).
    pub profile: String,
    /// The role.
    pub role_arn: Arn,
    /// `ExternalId`.
    pub external_id: Option<String>,
    /// Session length (at most [`MAX_CHAINED_SECONDS`]).
    pub duration_seconds: u32,
    /// The role session name (`None`: `{cn}`, else `{serial}`).
    pub session_name: Option<NameTemplate>,
    /// The source identity to set, if any.
    pub source_identity: Option<NameTemplate>,
    /// The STS called.
    pub sts_endpoint: http::Uri,
}

/// The region's STS endpoint, by partition.
fn regional_sts(region: &str) -> String {
    match partition_of_region(region) {
        Some("aws-cn") => format!("https://sts.{region}.amazonaws.com.cn/"),
        _ => format!("https://sts.{region}.amazonaws.com/"),
    }
}

/// Resolves a chain's links. `overridden` is the Roles Anywhere endpoint when it was set
/// explicitly (the local anchor serves STS on the same listener).
pub(super) fn resolve_hops(
    chain: &ChainSettings,
    overridden: Option<&http::Uri>,
    region: &str,
) -> Result<Vec<ChainHop>, ConfigError> {
    chain
        .links
        .iter()
        .map(|link| {
            resolve_hop(link, overridden, region).map_err(|source| ConfigError::Hop {
                profile: link.profile.clone(),
                source: Box::new(source),
            })
        })
        .collect()
}

fn resolve_hop(
    link: &ChainLink,
    overridden: Option<&http::Uri>,
    region: &str,
) -> Result<ChainHop, ConfigError> {
    let settings = &link.assume_role;
    let role_arn = parse_role_arn(&settings.role_arn, "role-arn")?;
    let asked = settings.duration.unwrap_or(u64::from(MAX_CHAINED_SECONDS));
    if asked < MIN_CHAINED_SECONDS {
        return Err(ConfigError::ChainDuration(asked));
    }
    if asked > u64::from(MAX_CHAINED_SECONDS) {
        tracing::warn!(
            "profile {}: assume-role duration {asked} s is over the 1 hour AWS allows a chained session; asking for {MAX_CHAINED_SECONDS} s",
            link.profile
        );
    }
    let sts_endpoint = match (&settings.sts_endpoint, overridden) {
        (Some(url), _) => url
            .parse()
            .map_err(|_| ConfigError::StsEndpoint(url.clone()))?,
        (None, Some(endpoint)) => endpoint.clone(),
        (None, None) => regional_sts(region)
            .parse()
            .map_err(|_| ConfigError::StsEndpoint(regional_sts(region)))?,
    };
    let template = |setting, value: &Option<String>| {
        value
            .as_deref()
            .map(|text| NameTemplate::parse(setting, text))
            .transpose()
    };
    Ok(ChainHop {
        profile: link.profile.clone(),
        role_arn,
        external_id: settings.external_id.clone(),
        duration_seconds: u32::try_from(asked.min(u64::from(MAX_CHAINED_SECONDS)))
            .unwrap_or(MAX_CHAINED_SECONDS),
        session_name: template("role-session-name", &settings.role_session_name)?,
        source_identity: template("source-identity", &settings.source_identity)?,
        sts_endpoint,
    })
}
