//! Turning [`RequestArgs`] into settings and a [`ResolvedProfile`]: the config file (read
//! once), the profile, flags over file over defaults, and the passphrase source.

use std::path::PathBuf;

use anyhow::Context;

use super::env::{aws_ca_bundle, default_config_path, PassphraseFrom};
use super::{LoadedConfig, RequestArgs};
use crate::config::{ConfigFile, ProfileSettings, ResolvedProfile};

impl RequestArgs {
    /// The config file: `--config`, else the default path.
    pub(in crate::cli) fn config_path(&self) -> anyhow::Result<PathBuf> {
        self.config
            .clone()
            .or_else(default_config_path)
            .context("no config file: pass --config or set HOME")
    }

    /// Flags over the profile over `AWS_*` variables.
    pub(in crate::cli) fn settings(&self) -> anyhow::Result<ProfileSettings> {
        self.settings_for(self.profile.as_deref())
    }

    /// As [`Self::settings`], for the profile `name` of the config file.
    pub(in crate::cli) fn settings_for(
        &self,
        name: Option<&str>,
    ) -> anyhow::Result<ProfileSettings> {
        let file = match name {
            Some(name) => Some(self.config_file(Some(name))?),
            None => None,
        };
        self.settings_in(file.as_ref(), name)
    }

    /// Reads the config file once (`--profile NAME` without one is explained).
    pub(in crate::cli) fn config_file(&self, name: Option<&str>) -> anyhow::Result<LoadedConfig> {
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
    pub(in crate::cli) fn settings_in(
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
            https_proxy: None,
            no_proxy: None,
            login: None,
            source_profile: None,
            assume_role: None,
            chain: None,
            audit_log: std::env::var_os("TESSERA_AUDIT_LOG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        };
        let mut profile = match (name, config) {
            (Some(name), Some(config)) => config.file.chained_profile(name, &config.path)?,
            _ => ProfileSettings::default(),
        };
        profile.audit_log = config.and_then(|c| c.file.audit_log.clone());
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
    pub(in crate::cli) fn resolve(&self) -> anyhow::Result<ResolvedProfile> {
        self.resolve_for(self.profile.as_deref())
    }

    /// The validated profile `name` of the config file (`None`: flags only).
    pub(in crate::cli) fn resolve_for(
        &self,
        name: Option<&str>,
    ) -> anyhow::Result<ResolvedProfile> {
        self.resolve_settings(self.settings_for(name)?, name)
    }

    /// Validates settings already merged by [`Self::settings_for`] (no second file read).
    pub(in crate::cli) fn resolve_settings(
        &self,
        settings: ProfileSettings,
        name: Option<&str>,
    ) -> anyhow::Result<ResolvedProfile> {
        let mut resolved = ResolvedProfile::resolve(settings, name, self.passphrase()?)?;
        resolved.sources.access = crate::cli::secret_args::key_access();
        Ok(resolved)
    }

    /// The passphrase source these flags select; warns about secrets on the command line.
    pub(in crate::cli) fn passphrase(&self) -> anyhow::Result<crate::identity::file::Passphrase> {
        use crate::identity::file::Passphrase;
        for (flag, env, value) in [
            ("--private-key", "TESSERA_PRIVATE_KEY", &self.private_key),
            ("--certificate", "TESSERA_CERTIFICATE", &self.certificate),
        ] {
            crate::cli::secret_args::warn_if_pin_in_argv(flag, env, value.as_deref());
        }
        let given = crate::cli::secret_args::secret_flag(
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
