//! `tessera logout` and `tessera login --status`.

use anyhow::Context;
use clap::Args;

use super::places::{existing_profile, places, resolve, LoginTargetArgs, Places};
use crate::clock::{Clock, SystemClock};
use crate::config::ProfileSettings;
use crate::login::new_key::{self, KeyPlace};
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
    let existing = existing_profile(&places.config, name)?;
    forget_cached_credentials(&places, name);
    // A key in a keyring or on a token goes too; a file key goes with the directory.
    let place = KeyPlace::parse(existing.login.as_ref().and_then(|l| l.key.as_deref()))?;
    let mut removed: Vec<String> = Vec::new();
    if place != KeyPlace::File && existing.login.is_some() {
        let access = crate::cli::secret_args::key_access();
        removed.extend(new_key::remove(
            &place,
            &places.paths.key,
            &access,
            existing.pkcs11_lib.as_deref(),
        )?);
    }
    removed.extend(
        places
            .paths
            .remove()?
            .iter()
            .map(|p| p.display().to_string()),
    );
    let profile = store::remove_profile(&places.config, name)?;
    let line = store::remove_credential_process(&places.aws_config, name, &places.command)?;
    for what in &removed {
        outln!("removed {what}")?;
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

/// Deletes credential-process's cache entry for the profile; its key is computed from the
/// identity, so this runs while the key and certificate still exist.
fn forget_cached_credentials(places: &Places, name: &str) {
    if !places.paths.certificate.exists() {
        return;
    }
    let Ok(resolved) = resolve(&places.config, name) else {
        return;
    };
    let cache = crate::cli::credential_process::default_cache_dir()
        .and_then(|dir| crate::credentials::process_cache::ProcessCache::open(dir, false));
    if let Some(cache) = cache {
        if let Err(error) = cache.forget(&resolved, &SystemClock) {
            tracing::warn!("cannot remove the cached credentials: {error}");
        }
    }
}
