//! Argument groups shared by several subcommands, and their conversion into validated values.
//! Flag names follow `aws_signing_helper`; every flag can also come from a `TESSERA_*` variable.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::clock::Clock;
use crate::http::{build_client, ClientOptions};
use crate::identity::file::{FileIdentity, FileSources, Passphrase};
use crate::rolesanywhere::client::RolesAnywhereClient;
use crate::rolesanywhere::endpoint::{self, EndpointVariant};
use crate::rolesanywhere::model::{SessionParams, DEFAULT_SESSION_SECONDS};
use crate::secret::SecretString;

/// Where the certificate and key come from.
#[derive(Debug, Args)]
pub(super) struct IdentityArgs {
    /// Certificate file: PEM or DER, a full chain (leaf first), a PEM with the key too, or PKCS#12.
    #[arg(long, env = "TESSERA_CERTIFICATE", value_name = "FILE")]
    pub(super) certificate: PathBuf,

    /// Private key file: PKCS#8 (optionally encrypted), PKCS#1, SEC1 or PKCS#12.
    /// Not needed when the certificate file holds the key.
    #[arg(long, env = "TESSERA_PRIVATE_KEY", value_name = "FILE")]
    pub(super) private_key: Option<PathBuf>,

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
    pub pkcs8_password: Option<String>,
}

impl IdentityArgs {
    /// Loads and checks the identity.
    pub(super) fn load(&self, clock: &dyn Clock) -> anyhow::Result<FileIdentity> {
        let sources = FileSources {
            certificate: self.certificate.clone(),
            private_key: self.private_key.clone(),
            intermediates: self.intermediates.clone(),
        };
        Ok(FileIdentity::load(
            &sources,
            &passphrase(&self.pkcs8_password),
            clock.now(),
        )?)
    }
}

/// The passphrase source for an optional flag value.
pub(super) fn passphrase(flag: &Option<String>) -> Passphrase {
    match flag {
        Some(p) => Passphrase::Given(SecretString::new(p.clone())),
        None => Passphrase::PromptIfTerminal,
    }
}

/// What to ask Roles Anywhere for, and how to reach it.
#[derive(Debug, Args)]
pub(super) struct SessionArgs {
    /// Trust anchor ARN.
    #[arg(long, env = "TESSERA_TRUST_ANCHOR_ARN", value_name = "ARN")]
    pub(super) trust_anchor_arn: String,

    /// Profile ARN.
    #[arg(long, env = "TESSERA_PROFILE_ARN", value_name = "ARN")]
    pub(super) profile_arn: String,

    /// Role ARN to assume.
    #[arg(long, env = "TESSERA_ROLE_ARN", value_name = "ARN")]
    pub(super) role_arn: String,

    /// Region (defaults to the trust anchor ARN's region, which it must equal).
    #[arg(long, env = "TESSERA_REGION")]
    pub(super) region: Option<String>,

    /// Endpoint URL override (also AWS_ENDPOINT_URL_ROLESANYWHERE).
    #[arg(long, env = "TESSERA_ENDPOINT", value_name = "URL")]
    pub(super) endpoint: Option<String>,

    /// Session duration in seconds (900–43200).
    #[arg(long, env = "TESSERA_SESSION_DURATION", default_value_t = u64::from(DEFAULT_SESSION_SECONDS), value_name = "SECONDS")]
    pub(super) session_duration: u64,

    /// Role session name (the profile must accept it).
    #[arg(long, env = "TESSERA_ROLE_SESSION_NAME", value_name = "NAME")]
    pub(super) role_session_name: Option<String>,

    /// Do not verify the endpoint's TLS certificate. Dangerous; for debugging only.
    #[arg(long, env = "TESSERA_NO_VERIFY_SSL")]
    pub(super) no_verify_ssl: bool,

    /// PEM bundle of CAs to trust instead of the system roots (also AWS_CA_BUNDLE).
    #[arg(long, env = "TESSERA_CA_BUNDLE", value_name = "FILE")]
    pub(super) ca_bundle: Option<PathBuf>,

    /// Use the FIPS endpoint.
    #[arg(long, env = "TESSERA_USE_FIPS_ENDPOINT")]
    pub(super) use_fips_endpoint: bool,

    /// Use the dual-stack (IPv4 and IPv6) endpoint.
    #[arg(long, env = "TESSERA_USE_DUALSTACK_ENDPOINT")]
    pub(super) use_dualstack_endpoint: bool,

    /// TCP connect timeout in seconds.
    #[arg(
        long,
        env = "TESSERA_CONNECT_TIMEOUT",
        default_value_t = 5.0,
        value_name = "SECONDS"
    )]
    pub(super) connect_timeout: f64,

    /// Overall time limit for obtaining credentials, retries included, in seconds.
    #[arg(
        long,
        env = "TESSERA_TIMEOUT",
        default_value_t = 30.0,
        value_name = "SECONDS"
    )]
    pub(super) timeout: f64,
}

impl SessionArgs {
    /// Validates the parameters.
    pub(super) fn params(&self) -> anyhow::Result<SessionParams> {
        Ok(SessionParams::new(
            &self.trust_anchor_arn,
            &self.profile_arn,
            &self.role_arn,
            self.session_duration,
            self.role_session_name.as_deref(),
        )?)
    }

    /// The endpoint and signing region for these parameters (cheap: no client is built).
    pub(super) fn resolve_endpoint(
        &self,
        params: &SessionParams,
    ) -> anyhow::Result<(http::Uri, String)> {
        let region = params.region(self.region.as_deref())?;
        let from_env = std::env::var("AWS_ENDPOINT_URL_ROLESANYWHERE").ok();
        let explicit = self.endpoint.as_deref().or(from_env.as_deref());
        let variant = EndpointVariant {
            fips: self.use_fips_endpoint,
            dual_stack: self.use_dualstack_endpoint,
        };
        Ok((endpoint::resolve(explicit, &region, variant)?, region))
    }

    /// Builds the client for these parameters.
    pub(super) fn client(
        &self,
        params: &SessionParams,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<RolesAnywhereClient> {
        let (endpoint, region) = self.resolve_endpoint(params)?;
        let ca_bundle = self.ca_bundle.clone().or_else(|| {
            std::env::var_os("AWS_CA_BUNDLE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let options = ClientOptions {
            ca_bundle,
            insecure_skip_verify: self.no_verify_ssl,
            connect_timeout: seconds("--connect-timeout", self.connect_timeout)?,
            needs_tls: endpoint.scheme_str() == Some("https"),
        };
        if self.no_verify_ssl {
            tracing::warn!("--no-verify-ssl: the endpoint's TLS certificate is not verified");
        }
        let http = build_client(&options)?;
        let timeout = seconds("--timeout", self.timeout)?;
        Ok(RolesAnywhereClient::new(
            http, endpoint, region, timeout, clock,
        ))
    }
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} {value} is not a positive number of seconds"))
}
