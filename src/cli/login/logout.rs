//! `tessera logout` and `tessera login --status`.

use anyhow::Context;
use clap::Args;

use super::places::{places, resolve, LoginTargetArgs, Places};
use crate::clock::{Clock, SystemClock};
use crate::config::ProfileSettings;
use crate::login::store;

/// Flags of `logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    #[command(flatten)]
    target: LoginTargetArgs,
}

pub(super) fn status(
    places: &Places,
    name: &str,
    existing: &ProfileSettings,
) -> anyhow::Result<()> {
    let login = existing.login.as_ref().with_context(|| {
        format!("profile '{name}' has no login; run 'tessera login --profile {name}'")
    })?;
    let pem_text = std::fs::read_to_string(&places.paths.certificate).with_context(|| {
        format!(
            "profile '{name}' has no certificate at {}; run 'tessera login --profile {name}'",
            places.paths.certificate.display()
        )
    })?;
    let block = pem::parse(pem_text)
        .context("the login certificate is not PEM; run 'tessera login' again")?;
    let certificate = crate::identity::Certificate::from_der(block.contents())?;
    let now = SystemClock.now();
    outln!("profile: {name}")?;
    outln!("identity: {}", certificate.subject())?;
    outln!("issuer: {}", login.issuer.as_deref().unwrap_or("(none)"))?;
    let state = if certificate.not_after() <= now {
        "expired"
    } else {
        "valid"
    };
    outln!(
        "certificate expires: {} ({state})",
        crate::time_format::rfc3339(certificate.not_after())
    )?;
    Ok(())
}

pub(in crate::cli) fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let places = places(&args.target)?;
    let name = &args.target.profile;
    if places.paths.certificate.exists() {
        if let Ok(resolved) = resolve(&places.config, name) {
            if let Some(dir) = crate::cli::credential_process::default_cache_dir() {
                if let Some(cache) =
                    crate::credentials::process_cache::ProcessCache::open(dir, false)
                {
                    cache.forget(&resolved, &SystemClock)?;
                }
            }
        }
    }
    let removed = places.paths.remove()?;
    let profile = store::remove_profile(&places.config, name)?;
    let line = store::remove_credential_process(&places.aws_config, name, &places.command)?;
    for path in &removed {
        outln!("removed {}", path.display())?;
    }
    if profile {
        outln!("removed profile '{name}' from {}", places.config.display())?;
    }
    if line {
        outln!(
            "removed credential_process for '{name}' from {}",
            places.aws_config.display()
        )?;
    }
    if removed.is_empty() && !profile && !line {
        outln!("profile '{name}' has no login to remove")?;
    }
    Ok(())
}
