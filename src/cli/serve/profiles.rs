//! Which profiles `serve` serves: the config file (read once per start and per reload), the
//! profile names, their resolved settings, and the IMDS choice.

use std::path::PathBuf;

use super::ServeArgs;
use crate::cli::args::LoadedConfig;
use crate::serve::imds_choice::{self, ImdsRequest};
use crate::serve::supervisor::ProfileSpec;
use crate::serve::ImdsOptions;

/// The name of a profile defined by flags alone.
const FLAGS_PROFILE: &str = "default";

/// `$XDG_RUNTIME_DIR/tessera`, else `~/.cache/tessera/tokens`.
pub(super) fn default_token_dir() -> Option<PathBuf> {
    crate::cli::args::xdg_path("XDG_RUNTIME_DIR", "tessera", ".cache/tessera/tokens")
}

/// The config file serve runs from, read once per start and once per reload (so one run never
/// sees two versions of it); `None` when only flags define the profile.
pub(super) fn load_config(args: &ServeArgs) -> anyhow::Result<Option<LoadedConfig>> {
    if !(args.all_profiles || args.request.profile.is_some()) {
        return Ok(None);
    }
    Ok(Some(
        args.request.config_file(args.request.profile.as_deref())?,
    ))
}

/// The profile names to serve: every profile of the file, or the one from --profile / flags.
pub(super) fn profile_names(
    args: &ServeArgs,
    config: Option<&LoadedConfig>,
) -> anyhow::Result<Vec<Option<String>>> {
    let (true, Some(config)) = (args.all_profiles, config) else {
        return Ok(vec![args.request.profile.clone()]);
    };
    anyhow::ensure!(
        !config.file.profiles.is_empty(),
        "--all-profiles: {} defines no profiles",
        config.path.display()
    );
    Ok(config.file.profiles.keys().cloned().map(Some).collect())
}

/// The names the served profiles go by (a flags-only profile is `default`).
pub(super) fn served_labels(
    args: &ServeArgs,
    config: Option<&LoadedConfig>,
) -> anyhow::Result<Vec<String>> {
    Ok(profile_names(args, config)?
        .into_iter()
        .map(|n| n.unwrap_or_else(|| FLAGS_PROFILE.to_owned()))
        .collect())
}

/// The profiles to serve, resolved from the config file (read once) and flags.
pub(super) fn profile_specs(
    args: &ServeArgs,
    config: Option<&LoadedConfig>,
) -> anyhow::Result<Vec<ProfileSpec>> {
    profile_names(args, config)?
        .into_iter()
        .map(|name| {
            let settings = args.request.settings_in(config, name.as_deref())?;
            let resolved = args
                .request
                .resolve_settings(settings.clone(), name.as_deref())?;
            let label = name.unwrap_or_else(|| FLAGS_PROFILE.to_owned());
            Ok(ProfileSpec {
                label,
                settings,
                resolved,
            })
        })
        .collect()
}

/// The profile IMDS serves, if any (see `serve::imds_choice`).
pub(super) fn imds_options(
    args: &ServeArgs,
    config: Option<&LoadedConfig>,
) -> anyhow::Result<Option<ImdsOptions>> {
    let served = served_labels(args, config)?;
    let request = ImdsRequest {
        flag: args.imds.as_deref(),
        config: config.and_then(|c| c.file.imds.as_deref()),
        v1: args.imds_v1,
        allow_remote: args.allow_remote,
        insecure_remote: args.insecure_remote_imds,
        listen: Some(args.listen),
    };
    Ok(imds_choice::choose(&request, &served)?)
}
