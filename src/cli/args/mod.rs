//! The request flags shared by `credential-process` and `doctor`, merged with a config-file
//! profile and `AWS_*` variables into a [`ResolvedProfile`](crate::config::ResolvedProfile). Flag names follow
//! `aws_signing_helper`; every flag can also come from a `TESSERA_*` variable.

mod env;
mod resolve;

use std::path::PathBuf;

use clap::Args;

use crate::config::ConfigFile;

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

pub(super) use self::env::{
    aws_ca_bundle, default_client_options, default_config_path, env_path, passphrase, xdg_path,
    PassphraseFrom,
};
