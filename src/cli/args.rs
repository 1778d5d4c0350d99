//! The request flags shared by `credential-process` and `doctor`, merged with a config-file
//! profile and `AWS_*` variables into a [`ResolvedProfile`]. Flag names follow
//! `aws_signing_helper`; every flag can also come from a `TESSERA_*` variable.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::{ConfigFile, ProfileSettings, ResolvedProfile};
use crate::secret::SecretString;

/// A `--profile` value, checked as config files check their names.
fn profile_name(value: &str) -> Result<String, String> {
    if crate::config::is_valid_profile_name(value) {
        Ok(value.to_owned())
    } else {
        Err(crate::config::PROFILE_NAME_RULE.to_owned())
    }
}

/// A config file as read once, with its path (for messages).
#[derive(Debug)]
pub(super) struct LoadedConfig {
    /// Where it was read from.
    pub(super) path: PathBuf,
    /// Its contents.
    pub(super) file: ConfigFile,
}

/// What to ask Roles Anywhere for, with which identity, and how to reach it.
#[derive(Debug, Args)]
pub(super) struct RequestArgs {
    /// Profile to read from the config file.
    #[arg(long, env = "TESSERA_PROFILE", value_name = "NAME", value_parser = profile_name)]
    pub(super) profile: Option<String>,

    /// Config file with profiles (default: $XDG_CONFIG_HOME/tessera/config.toml).
    #[arg(long, env = "TESSERA_CONFIG", value_name = "FILE")]
    pub(super) config: Option<PathBuf>,

    /// Certificate file: PEM or DER, a full chain (leaf first), a PEM with the key too, or PKCS#12;
    /// or a `pkcs11:` URI (default for a token key: the token's certificate with the key's id/label).
    #[arg(long, env = "TESSERA_CERTIFICATE", value_name = "FILE|URI")]
    pub(super) certificate: Option<PathBuf>,

    /// Private key file: PKCS#8 (optionally encrypted), PKCS#1, SEC1 or PKCS#12; or a key in a
    /// token: `pkcs11:token=…;object=…` (RFC 7512; PIN from pin-source=, pin-value= or
    /// TESSERA_PKCS11_PIN). Not needed when the certificate file holds the key.
    #[arg(long, env = "TESSERA_PRIVATE_KEY", value_name = "FILE|URI")]
    pub(super) private_key: Option<PathBuf>,

    /// PKCS#11 module for `pkcs11:` URIs without module-path= (default: the p11-kit proxy).
    #[arg(long, env = "TESSERA_PKCS11_LIB", value_name = "FILE")]
    pub(super) pkcs11_lib: Option<PathBuf>,

    /// Intermediate CA certificates (PEM bundle) sent as the chain.
    #[arg(long, env = "TESSERA_INTERMEDIATES", value_name = "FILE")]
    pub(super) intermediates: Option<PathBuf>,

    /// Passphrase of an encrypted PKCS#8 key or PKCS#12 file (prompted for on a terminal if absent).
    #[arg(
        long,
        env = "TESSERA_KEY_PASSPHRASE",
        hide_env_values = true,
        value_name = "PASSPHRASE"
    )]
    pub(super) pkcs8_password: Option<String>,

    /// Read the key's passphrase from FILE (kept out of `ps`, unlike --pkcs8-password).
    #[arg(long, value_name = "FILE", conflicts_with = "pkcs8_password")]
    pub(super) pkcs8_password_file: Option<PathBuf>,

    /// Where an encrypted key's passphrase comes from when --pkcs8-password is absent: a prompt on
    /// a terminal, or the OS keyring (stored with `tessera key set-passphrase --for FILE`).
    #[arg(long, value_enum, env = "TESSERA_PASSPHRASE_FROM", default_value_t = PassphraseFrom::Prompt)]
    pub(super) passphrase_from: PassphraseFrom,

    /// Trust anchor ARN.
    #[arg(long, env = "TESSERA_TRUST_ANCHOR_ARN", value_name = "ARN")]
    trust_anchor_arn: Option<String>,

    /// Profile ARN.
    #[arg(long, env = "TESSERA_PROFILE_ARN", value_name = "ARN")]
    profile_arn: Option<String>,

    /// Role ARN to assume.
    #[arg(long, env = "TESSERA_ROLE_ARN", value_name = "ARN")]
    role_arn: Option<String>,

    /// Region (defaults to the trust anchor ARN's region, which it must equal).
    #[arg(long, env = "TESSERA_REGION")]
    pub(super) region: Option<String>,

    /// Endpoint URL override (also AWS_ENDPOINT_URL_ROLESANYWHERE).
    #[arg(long, env = "TESSERA_ENDPOINT", value_name = "URL")]
    endpoint: Option<String>,

    /// Session duration in seconds, 900–43200 [default: 3600].
    #[arg(long, env = "TESSERA_SESSION_DURATION", value_name = "SECONDS")]
    session_duration: Option<u64>,

    /// Role session name (the profile must accept it).
    #[arg(long, env = "TESSERA_ROLE_SESSION_NAME", value_name = "NAME")]
    role_session_name: Option<String>,

    /// Do not verify the endpoint's TLS certificate. Dangerous; for debugging only.
    #[arg(long, env = "TESSERA_NO_VERIFY_SSL")]
    no_verify_ssl: bool,

    /// PEM bundle of CAs to trust instead of the system roots (also AWS_CA_BUNDLE).
    #[arg(long, env = "TESSERA_CA_BUNDLE", value_name = "FILE")]
    ca_bundle: Option<PathBuf>,

    /// Use the FIPS endpoint.
    #[arg(long, env = "TESSERA_USE_FIPS_ENDPOINT")]
    use_fips_endpoint: bool,

    /// Use the dual-stack (IPv4 and IPv6) endpoint.
    #[arg(long, env = "TESSERA_USE_DUALSTACK_ENDPOINT")]
    use_dualstack_endpoint: bool,

    /// TCP connect timeout in seconds [default: 5].
    #[arg(long, env = "TESSERA_CONNECT_TIMEOUT", value_name = "SECONDS")]
    connect_timeout: Option<f64>,

    /// Overall time limit for obtaining credentials, retries included, in seconds [default: 30].
    #[arg(long, env = "TESSERA_TIMEOUT", value_name = "SECONDS")]
    timeout: Option<f64>,
}

/// A path from an environment variable, when it is set and not empty.
pub(super) fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$<xdg_var>/<under_xdg>`, else `$HOME/<under_home>` (the XDG base-directory convention).
pub(super) fn xdg_path(xdg_var: &str, under_xdg: &str, under_home: &str) -> Option<PathBuf> {
    env_path(xdg_var)
        .map(|dir| dir.join(under_xdg))
        .or_else(|| env_path("HOME").map(|home| home.join(under_home)))
}

/// `$XDG_CONFIG_HOME/tessera/config.toml`, else `~/.config/tessera/config.toml`.
fn default_config_path() -> Option<PathBuf> {
    xdg_path(
        "XDG_CONFIG_HOME",
        "tessera/config.toml",
        ".config/tessera/config.toml",
    )
}

impl RequestArgs {
    /// The config file: `--config`, else the default path.
    pub(super) fn config_path(&self) -> anyhow::Result<PathBuf> {
        self.config
            .clone()
            .or_else(default_config_path)
            .context("no config file: pass --config or set HOME")
    }

    /// Flags over the profile over `AWS_*` variables.
    pub(super) fn settings(&self) -> anyhow::Result<ProfileSettings> {
        self.settings_for(self.profile.as_deref())
    }

    /// As [`Self::settings`], for the profile `name` of the config file.
    pub(super) fn settings_for(&self, name: Option<&str>) -> anyhow::Result<ProfileSettings> {
        let file = match name {
            Some(name) => Some(self.config_file(Some(name))?),
            None => None,
        };
        self.settings_in(file.as_ref(), name)
    }

    /// Reads the config file once (`--profile NAME` without one is explained).
    pub(super) fn config_file(&self, name: Option<&str>) -> anyhow::Result<LoadedConfig> {
        let path = self.config_path()?;
        if let (Some(name), None, false) = (name, &self.config, path.exists()) {
            anyhow::bail!(
                "--profile {name}: there is no config file at {}; create it or pass --config",
                path.display()
            );
        }
        let file = ConfigFile::read(&path)?;
        Ok(LoadedConfig { path, file })
    }

    /// As [`Self::settings_for`], from a config file already read (`None`: flags only).
    pub(super) fn settings_in(
        &self,
        config: Option<&LoadedConfig>,
        name: Option<&str>,
    ) -> anyhow::Result<ProfileSettings> {
        let flags = ProfileSettings {
            certificate: self.certificate.clone(),
            private_key: self.private_key.clone(),
            intermediates: self.intermediates.clone(),
            pkcs11_lib: self.pkcs11_lib.clone(),
            trust_anchor_arn: self.trust_anchor_arn.clone(),
            profile_arn: self.profile_arn.clone(),
            role_arn: self.role_arn.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            session_duration: self.session_duration,
            role_session_name: self.role_session_name.clone(),
            ca_bundle: self.ca_bundle.clone(),
            no_verify_ssl: self.no_verify_ssl.then_some(true),
            use_fips_endpoint: self.use_fips_endpoint.then_some(true),
            use_dualstack_endpoint: self.use_dualstack_endpoint.then_some(true),
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
        };
        let profile = match (name, config) {
            (Some(name), Some(config)) => config.file.profile(name, &config.path)?,
            _ => ProfileSettings::default(),
        };
        let aws_env = ProfileSettings {
            endpoint: std::env::var("AWS_ENDPOINT_URL_ROLESANYWHERE")
                .ok()
                .filter(|v| !v.is_empty()),
            ca_bundle: aws_ca_bundle(),
            ..ProfileSettings::default()
        };
        Ok(flags.over(profile).over(aws_env))
    }

    /// The validated profile.
    pub(super) fn resolve(&self) -> anyhow::Result<ResolvedProfile> {
        self.resolve_for(self.profile.as_deref())
    }

    /// The validated profile `name` of the config file (`None`: flags only).
    pub(super) fn resolve_for(&self, name: Option<&str>) -> anyhow::Result<ResolvedProfile> {
        self.resolve_settings(self.settings_for(name)?, name)
    }

    /// Validates settings already merged by [`Self::settings_for`] (no second file read).
    pub(super) fn resolve_settings(
        &self,
        settings: ProfileSettings,
        name: Option<&str>,
    ) -> anyhow::Result<ResolvedProfile> {
        let mut resolved = ResolvedProfile::resolve(settings, name, self.passphrase()?)?;
        resolved.sources.pkcs11_pin = super::secret_args::pkcs11_pin();
        Ok(resolved)
    }

    /// The passphrase source these flags select; warns about secrets on the command line.
    pub(super) fn passphrase(&self) -> anyhow::Result<crate::identity::file::Passphrase> {
        use crate::identity::file::Passphrase;
        for (flag, env, value) in [
            ("--private-key", "TESSERA_PRIVATE_KEY", &self.private_key),
            ("--certificate", "TESSERA_CERTIFICATE", &self.certificate),
        ] {
            super::secret_args::warn_if_pin_in_argv(flag, env, value.as_deref());
        }
        let given = super::secret_args::secret_flag(
            "--pkcs8-password",
            "TESSERA_KEY_PASSPHRASE",
            self.pkcs8_password.as_deref(),
            self.pkcs8_password_file.as_deref(),
        )?;
        Ok(match (given, self.passphrase_from) {
            (Some(given), _) => Passphrase::Given(given),
            (None, PassphraseFrom::Prompt) => Passphrase::PromptIfTerminal,
            (None, PassphraseFrom::Keyring) => Passphrase::Keyring,
        })
    }
}

/// `AWS_CA_BUNDLE`, when set: the CA bundle every AWS SDK honours.
pub(super) fn aws_ca_bundle() -> Option<PathBuf> {
    env_path("AWS_CA_BUNDLE")
}

/// Client options for outbound calls configured by no profile (upstream STS, proxy upstreams):
/// system roots or `AWS_CA_BUNDLE`, default connect timeout.
pub(super) fn default_client_options(needs_tls: bool) -> crate::http::ClientOptions {
    crate::http::ClientOptions {
        ca_bundle: aws_ca_bundle(),
        insecure_skip_verify: false,
        connect_timeout: crate::http::DEFAULT_CONNECT_TIMEOUT,
        needs_tls,
    }
}

/// Where a key passphrase comes from (`--passphrase-from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum PassphraseFrom {
    /// Ask on the terminal (never when stdin is not one).
    Prompt,
    /// The OS keyring.
    Keyring,
}

/// The passphrase source for an optional flag value.
pub(super) fn passphrase(flag: &Option<String>) -> crate::identity::file::Passphrase {
    match flag {
        Some(p) => crate::identity::file::Passphrase::Given(SecretString::new(p.clone())),
        None => crate::identity::file::Passphrase::PromptIfTerminal,
    }
}
