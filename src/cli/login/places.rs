//! Where a profile's login lives: tessera's config, the AWS config, the key and certificate
//! files, and the `credential_process` command that points back at tessera.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::config::{ConfigFile, ProfileSettings, ResolvedProfile};
use crate::identity::file::Passphrase;
use crate::login::store::LoginPaths;

/// The profile and files `login` and `logout` work on.
#[derive(Debug, Args)]
pub(super) struct LoginTargetArgs {
    /// The tessera profile to sign in to.
    #[arg(
        long,
        env = "TESSERA_PROFILE",
        default_value = "default",
        value_name = "NAME"
    )]
    pub(super) profile: String,
    /// tessera's config file (default: $XDG_CONFIG_HOME/tessera/config.toml).
    #[arg(long, env = "TESSERA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The AWS config file that gets the credential_process line (default: AWS_CONFIG_FILE, else ~/.aws/config).
    #[arg(long, value_name = "FILE")]
    aws_config_file: Option<PathBuf>,
}

pub(super) struct Places {
    pub(super) config: PathBuf,
    pub(super) aws_config: PathBuf,
    pub(super) paths: LoginPaths,
    pub(super) command: String,
}

pub(super) fn places(target: &LoginTargetArgs) -> anyhow::Result<Places> {
    let config = target
        .config
        .clone()
        .or_else(crate::cli::args::default_config_path)
        .context("no config file: pass --config or set HOME")?;
    let aws_config = target
        .aws_config_file
        .clone()
        .or_else(|| crate::cli::args::env_path("AWS_CONFIG_FILE"))
        .or_else(|| crate::cli::args::env_path("HOME").map(|h| h.join(".aws/config")))
        .context("no AWS config file: pass --aws-config-file or set HOME")?;
    let data = crate::cli::args::xdg_path("XDG_DATA_HOME", "tessera", ".local/share/tessera")
        .context("no data directory: set XDG_DATA_HOME or HOME")?;
    let exe = crate::launcher::command_path().context("cannot find the tessera binary's path")?;
    let command = format!(
        "{} credential-process --profile {} --config {}",
        shell_word(&exe.display().to_string()),
        target.profile,
        shell_word(&config.display().to_string())
    );
    // Security: a line break would add lines (another profile's credential_process) to the INI.
    anyhow::ensure!(
        !command.contains(['\r', '\n']),
        "the tessera or config path holds a line break, which cannot go into {}; move the file",
        aws_config.display()
    );
    Ok(Places {
        paths: LoginPaths::new(&data, &target.profile)?,
        config,
        aws_config,
        command,
    })
}

/// A word quoted for the shell-like split botocore and the SDKs apply.
fn shell_word(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

pub(super) fn existing_profile(config: &Path, name: &str) -> anyhow::Result<ProfileSettings> {
    if !config.exists() {
        return Ok(ProfileSettings::default());
    }
    let file = ConfigFile::read(config)?;
    let existing = file.profiles.get(name).cloned().unwrap_or_default();
    if let Some(source) = &existing.source_profile {
        anyhow::bail!(
            "profile '{name}' takes its credentials from '{source}' (source-profile), so it has no certificate of its own; use --profile {source}"
        );
    }
    Ok(existing)
}

pub(super) fn resolve(config: &Path, name: &str) -> anyhow::Result<ResolvedProfile> {
    let file = ConfigFile::read(config)?;
    let settings = file.profile(name, config)?;
    let mut resolved =
        ResolvedProfile::resolve(settings, Some(name), Passphrase::PromptIfTerminal)?;
    resolved.sources.access = crate::cli::secret_args::key_access();
    Ok(resolved)
}
