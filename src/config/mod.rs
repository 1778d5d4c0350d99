//! Profiles: named sets of request settings in a config file
//! (`$XDG_CONFIG_HOME/tessera/config.toml`, or `--config`), merged with flags and environment
//! variables (flags and `TESSERA_*` > the profile > `AWS_*` > defaults), and resolved into
//! everything needed to obtain credentials.
//!
//! ```toml
//! [profiles.dev]
//! certificate = "/etc/pki/dev.pem"
//! private-key = "/etc/pki/dev.key"
//! trust-anchor-arn = "arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/TA"
//! profile-arn = "arn:aws:rolesanywhere:us-east-1:111122223333:profile/P"
//! role-arn = "arn:aws:iam::111122223333:role/dev"
//! session-duration = 3600
//! ```
//! Keys are the flag names; relative paths are relative to the config file.

pub mod chain;
mod consumer;
mod error;
mod proxy_listener;

pub use self::chain::{AssumeRoleSettings, ChainHop, ChainSettings};
pub use self::consumer::ConsumerConfig;
pub use self::error::ConfigError;
pub use self::proxy_listener::ProxyListenerConfig;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::clock::Clock;
use crate::credentials::attribution::NameTemplate;
use crate::http::{ClientBatch, ClientOptions};
use crate::identity::file::Passphrase;
use crate::identity::key_ref::{IdentitySources, KeyRef};
use crate::rolesanywhere::client::RolesAnywhereClient;
use crate::rolesanywhere::endpoint::{self, EndpointVariant};
use crate::rolesanywhere::model::{SessionParams, DEFAULT_SESSION_SECONDS};

/// Default connect timeout, seconds.
pub const DEFAULT_CONNECT_TIMEOUT_SECONDS: f64 = 5.0;
/// Default overall timeout, seconds.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 30.0;

/// Request settings, each optional so that layers can be merged.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ProfileSettings {
    /// Certificate file.
    pub certificate: Option<PathBuf>,
    /// Private key file, or a `pkcs11:` URI.
    pub private_key: Option<PathBuf>,
    /// Intermediates file.
    pub intermediates: Option<PathBuf>,
    /// PKCS#11 module for `pkcs11:` keys.
    pub pkcs11_lib: Option<PathBuf>,
    /// Trust anchor ARN.
    pub trust_anchor_arn: Option<String>,
    /// Profile ARN.
    pub profile_arn: Option<String>,
    /// Role ARN.
    pub role_arn: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Endpoint override.
    pub endpoint: Option<String>,
    /// Session duration, seconds.
    pub session_duration: Option<u64>,
    /// Role session name.
    pub role_session_name: Option<String>,
    /// CA bundle replacing the system roots.
    pub ca_bundle: Option<PathBuf>,
    /// Skip TLS verification.
    pub no_verify_ssl: Option<bool>,
    /// FIPS endpoint.
    pub use_fips_endpoint: Option<bool>,
    /// Dual-stack endpoint.
    pub use_dualstack_endpoint: Option<bool>,
    /// Connect timeout, seconds.
    pub connect_timeout: Option<f64>,
    /// Overall timeout, seconds.
    pub timeout: Option<f64>,
    /// HTTPS proxy for the endpoints (over `HTTPS_PROXY`; `""` for none); a reload applies it.
    pub https_proxy: Option<String>,
    /// Hosts reached without the proxy (over `NO_PROXY`).
    pub no_proxy: Option<String>,
    /// Where `tessera login` signs the person in and enrols (`[profiles.NAME.login]`).
    pub login: Option<crate::login::LoginSettings>,
    /// The profile whose credentials this one's `assume-role` starts from.
    pub source_profile: Option<String>,
    /// A role assumed with the credentials (`[profiles.NAME.assume-role]`).
    pub assume_role: Option<AssumeRoleSettings>,
    /// The chain walked from `source-profile` and `assume-role` (never in the file).
    #[serde(skip)]
    pub chain: Option<ChainSettings>,
    /// The audit log credentials handed out are written to (the file's `audit-log`, or
    /// `TESSERA_AUDIT_LOG`; never a profile key).
    #[serde(skip)]
    pub audit_log: Option<PathBuf>,
}

macro_rules! overlay_fields {
    ($top:expr, $base:expr, $($field:ident),*) => {
        ProfileSettings { $($field: $top.$field.or($base.$field)),* }
    };
}

impl ProfileSettings {
    /// `self`'s values, falling back to `base`'s.
    pub fn over(self, base: ProfileSettings) -> ProfileSettings {
        overlay_fields!(
            self,
            base,
            certificate,
            private_key,
            intermediates,
            pkcs11_lib,
            trust_anchor_arn,
            profile_arn,
            role_arn,
            region,
            endpoint,
            session_duration,
            role_session_name,
            ca_bundle,
            no_verify_ssl,
            use_fips_endpoint,
            use_dualstack_endpoint,
            connect_timeout,
            timeout,
            https_proxy,
            no_proxy,
            login,
            source_profile,
            assume_role,
            chain,
            audit_log
        )
    }

    /// The identity inputs, parsed; `None` without a certificate. A URI key (a token object,
    /// a keyring pair) is its own certificate when none is given.
    pub fn identity_sources(&self) -> Result<Option<IdentitySources>, ConfigError> {
        let certificate = self
            .certificate
            .as_deref()
            .or_else(|| self.private_key.as_deref().filter(|k| KeyRef::is_uri(k)));
        let Some(certificate) = certificate else {
            return Ok(None);
        };
        let parse = |value: &Option<PathBuf>| value.as_deref().map(KeyRef::parse).transpose();
        Ok(Some(IdentitySources {
            certificate: KeyRef::parse(certificate)?,
            private_key: parse(&self.private_key)?,
            intermediates: parse(&self.intermediates)?,
            pkcs11_lib: self.pkcs11_lib.clone(),
            access: Default::default(),
        }))
    }

    /// Makes relative paths relative to `base`.
    fn rebase(mut self, base: &Path) -> Self {
        for path in [
            &mut self.certificate,
            &mut self.private_key,
            &mut self.intermediates,
            &mut self.ca_bundle,
            &mut self.pkcs11_lib,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() && !KeyRef::is_uri(path) {
                *path = base.join(&*path);
            }
        }
        self
    }
}

/// The config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Named profiles.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileSettings>,
    /// Signing proxy listeners run by `serve`.
    #[serde(default)]
    pub proxies: Vec<ProxyListenerConfig>,
    /// The profile `serve` answers IMDS for; IMDS is off without it (or `--imds`).
    #[serde(default)]
    pub imds: Option<String>,
    /// Who may fetch which profiles from `serve` (none declared: every local client as before).
    #[serde(default)]
    pub consumers: Vec<ConsumerConfig>,
    /// `serve`'s audit log (also `--audit-log`).
    #[serde(default, rename = "audit-log", alias = "audit_log")]
    pub audit_log: Option<PathBuf>,
}

/// What a profile name may be, as said in errors.
pub const PROFILE_NAME_RULE: &str =
    "use 1-64 of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.'";

/// Whether `name` can be a profile name. Security: names become file names (`<token-dir>/NAME.token`)
/// and metrics labels, so `../x` or a quote must never get that far.
pub fn is_valid_profile_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl ConfigFile {
    /// Reads a config file; relative paths in profiles become relative to its directory.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().replace('\n', " "),
        })?;
        let names = file.profiles.keys();
        let referenced = file.proxies.iter().filter_map(|p| p.profile.as_ref());
        if let Some(bad) = names
            .chain(referenced)
            .chain(file.imds.as_ref())
            .find(|n| !is_valid_profile_name(n))
        {
            return Err(ConfigError::InvalidProfileName {
                name: bad.clone(),
                path: path.to_owned(),
            });
        }
        let base = path.parent().unwrap_or(Path::new("."));
        file.profiles = file
            .profiles
            .into_iter()
            .map(|(name, p)| (name, p.rebase(base)))
            .collect();
        for consumer in &mut file.consumers {
            if let Some(path) = consumer.token_file.as_mut().filter(|p| p.is_relative()) {
                *path = base.join(&*path);
            }
        }
        if let Some(path) = file.audit_log.as_mut().filter(|p| p.is_relative()) {
            *path = base.join(&*path);
        }
        Ok(file)
    }

    /// A profile by name.
    pub fn profile(&self, name: &str, path: &Path) -> Result<ProfileSettings, ConfigError> {
        self.profiles
            .get(name)
            .cloned()
            .ok_or_else(|| ConfigError::UnknownProfile {
                name: name.to_owned(),
                path: path.to_owned(),
                known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }
}

/// The renewal of a login profile's certificate: an enrolment URL and a certificate file.
fn renewal_for(
    settings: &ProfileSettings,
    sources: &IdentitySources,
    name: Option<&str>,
) -> Option<crate::login::renew::Renewal> {
    let enrol_url = settings.login.as_ref()?.enrol_url.as_deref()?;
    let root = settings.chain.as_ref().map(|c| c.root.as_str());
    Some(crate::login::renew::Renewal {
        profile: root.or(name).unwrap_or("default").to_owned(),
        enrol_url: crate::oidc::discovery::usable_url(enrol_url.trim_end_matches('/'))?,
        certificate: sources.certificate.file()?.to_owned(),
        chain: sources
            .intermediates
            .as_ref()
            .and_then(KeyRef::file)
            .map(Path::to_owned),
    })
}

/// Everything needed to obtain credentials for one profile, validated.
#[derive(Debug, Clone)]
pub struct ResolvedProfile {
    /// Profile name (`None` for plain flags).
    pub name: Option<String>,
    /// Where the certificate, key and intermediates are.
    pub sources: IdentitySources,
    /// Where a passphrase comes from.
    pub passphrase: Passphrase,
    /// The CreateSession parameters.
    pub params: SessionParams,
    /// The endpoint.
    pub endpoint: http::Uri,
    /// The signing region.
    pub region: String,
    /// How to build the HTTP client.
    pub client_options: ClientOptions,
    /// Overall CreateSession time limit.
    pub timeout: Duration,
    /// How the certificate renews itself, for a profile `tessera login` set up.
    pub renewal: Option<crate::login::renew::Renewal>,
    /// CreateSession's role session name when it is a template (filled per certificate).
    pub session_name_template: Option<NameTemplate>,
    /// The roles assumed after CreateSession, first to last (role chaining).
    pub chain: Vec<ChainHop>,
    /// Where credentials handed out are audited, if anywhere.
    pub audit_log: Option<PathBuf>,
}

/// CreateSession's role session name: a literal (validated with the other parameters) or a
/// template filled from the certificate at each request.
fn split_session_name(
    name: Option<&str>,
) -> Result<(Option<&str>, Option<NameTemplate>), ConfigError> {
    match name {
        Some(text) if text.contains('{') => {
            Ok((None, Some(NameTemplate::parse("role-session-name", text)?)))
        }
        literal => Ok((literal, None)),
    }
}

/// The HTTP client settings of a profile (`ca-bundle`, `no-verify-ssl`, `connect-timeout`,
/// `https-proxy`, `no-proxy`).
fn client_options(
    settings: &ProfileSettings,
    needs_tls: bool,
) -> Result<ClientOptions, ConfigError> {
    let proxy = crate::http::ProxySettings {
        https_proxy: settings.https_proxy.clone(),
        no_proxy: settings.no_proxy.clone(),
    };
    proxy.check().map_err(ConfigError::Proxy)?;
    Ok(ClientOptions {
        ca_bundle: settings.ca_bundle.clone(),
        insecure_skip_verify: settings.no_verify_ssl.unwrap_or(false),
        connect_timeout: seconds(
            "connect-timeout",
            settings
                .connect_timeout
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECONDS),
        )?,
        needs_tls,
        proxy,
    })
}

fn seconds(flag: &'static str, value: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or(ConfigError::Timeout(flag))
}

impl ResolvedProfile {
    /// Validates merged settings. `name` is the profile in use, for messages.
    pub fn resolve(
        settings: ProfileSettings,
        name: Option<&str>,
        passphrase: Passphrase,
    ) -> Result<Self, ConfigError> {
        let missing = |setting, flag, env| ConfigError::Missing {
            setting,
            flag,
            env,
            profile: name.map(str::to_owned),
        };
        let sources = settings
            .identity_sources()?
            .ok_or_else(|| missing("certificate", "certificate", "CERTIFICATE"))?;
        let renewal = renewal_for(&settings, &sources, name);
        let trust_anchor_arn = settings
            .trust_anchor_arn
            .clone()
            .ok_or_else(|| missing("trust anchor ARN", "trust-anchor-arn", "TRUST_ANCHOR_ARN"))?;
        let profile_arn = settings
            .profile_arn
            .clone()
            .ok_or_else(|| missing("profile ARN", "profile-arn", "PROFILE_ARN"))?;
        let role_arn = settings
            .role_arn
            .clone()
            .ok_or_else(|| missing("role ARN", "role-arn", "ROLE_ARN"))?;
        let (literal_name, session_name_template) =
            split_session_name(settings.role_session_name.as_deref())?;
        let params = SessionParams::new(
            &trust_anchor_arn,
            &profile_arn,
            &role_arn,
            settings
                .session_duration
                .unwrap_or(u64::from(DEFAULT_SESSION_SECONDS)),
            literal_name,
        )?;
        let region = params.region(settings.region.as_deref())?;
        let variant = EndpointVariant {
            fips: settings.use_fips_endpoint.unwrap_or(false),
            dual_stack: settings.use_dualstack_endpoint.unwrap_or(false),
        };
        let endpoint = endpoint::resolve(settings.endpoint.as_deref(), &region, variant)?;
        let overridden = settings.endpoint.is_some().then_some(&endpoint);
        let chain = match &settings.chain {
            Some(chain) => chain::resolve_hops(chain, overridden, &region)?,
            None => Vec::new(),
        };
        let needs_tls = endpoint.scheme_str() == Some("https")
            || chain
                .iter()
                .any(|hop| hop.sts_endpoint.scheme_str() == Some("https"));
        let client_options = client_options(&settings, needs_tls)?;
        Ok(Self {
            name: name.map(str::to_owned),
            sources,
            passphrase,
            params,
            endpoint,
            region,
            client_options,
            renewal,
            session_name_template,
            chain,
            audit_log: settings.audit_log,
            timeout: seconds(
                "timeout",
                settings.timeout.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
            )?,
        })
    }

    /// The role whose credentials this profile ends with: the last hop's, else CreateSession's.
    pub fn final_role_arn(&self) -> &str {
        match self.chain.last() {
            Some(hop) => hop.role_arn.as_str(),
            None => self.params.role_arn.as_str(),
        }
    }

    /// Builds the CreateSession client.
    pub fn client(&self, clock: Arc<dyn Clock>) -> Result<RolesAnywhereClient, ConfigError> {
        self.client_in(clock, &mut ClientBatch::default())
    }

    /// Builds the CreateSession client on the HTTPS client `batch` holds for these options.
    pub fn client_in(
        &self,
        clock: Arc<dyn Clock>,
        batch: &mut ClientBatch,
    ) -> Result<RolesAnywhereClient, ConfigError> {
        if self.client_options.insecure_skip_verify {
            tracing::warn!("--no-verify-ssl: the endpoint's TLS certificate is not verified");
        }
        let http = batch.client(&self.client_options)?;
        Ok(RolesAnywhereClient::new(
            http,
            self.endpoint.clone(),
            self.region.clone(),
            self.timeout,
            clock,
        ))
    }
}

#[cfg(test)]
mod tests;
