//! Paths and defaults from the environment (XDG directories, `AWS_CA_BUNDLE`) and the small
//! passphrase helpers the subcommands share.

use std::path::PathBuf;

use crate::secret::SecretString;

/// A path from an environment variable, when it is set and not empty.
pub(in crate::cli) fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$<xdg_var>/<under_xdg>`, else `$HOME/<under_home>` (the XDG base-directory convention).
pub(in crate::cli) fn xdg_path(
    xdg_var: &str,
    under_xdg: &str,
    under_home: &str,
) -> Option<PathBuf> {
    env_path(xdg_var)
        .map(|dir| dir.join(under_xdg))
        .or_else(|| env_path("HOME").map(|home| home.join(under_home)))
}

/// `$XDG_CONFIG_HOME/tessera/config.toml`, else `~/.config/tessera/config.toml`.
pub(in crate::cli) fn default_config_path() -> Option<PathBuf> {
    xdg_path(
        "XDG_CONFIG_HOME",
        "tessera/config.toml",
        ".config/tessera/config.toml",
    )
}

/// `AWS_CA_BUNDLE`, when set: the CA bundle every AWS SDK honours.
pub(in crate::cli) fn aws_ca_bundle() -> Option<PathBuf> {
    env_path("AWS_CA_BUNDLE")
}

/// Client options for outbound calls configured by no profile (upstream STS, proxy upstreams):
/// system roots or `AWS_CA_BUNDLE`, default connect timeout.
pub(in crate::cli) fn default_client_options(needs_tls: bool) -> crate::http::ClientOptions {
    crate::http::ClientOptions {
        ca_bundle: aws_ca_bundle(),
        insecure_skip_verify: false,
        connect_timeout: crate::http::DEFAULT_CONNECT_TIMEOUT,
        needs_tls,
        proxy: crate::http::ProxySettings::default(),
    }
}

/// Where a key passphrase comes from (`--passphrase-from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(in crate::cli) enum PassphraseFrom {
    /// Ask on the terminal (never when stdin is not one).
    Prompt,
    /// The OS keyring.
    Keyring,
}

/// The passphrase source for an optional flag value.
pub(in crate::cli) fn passphrase(flag: &Option<String>) -> crate::identity::file::Passphrase {
    match flag {
        Some(p) => crate::identity::file::Passphrase::Given(SecretString::new(p.clone())),
        None => crate::identity::file::Passphrase::PromptIfTerminal,
    }
}
