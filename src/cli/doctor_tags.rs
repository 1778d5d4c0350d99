//! `tessera doctor tags`: flags and output; the work is in [`crate::doctor::tags`].

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::anchor::config::{default_attribute_mappings, AnchorConfig, AttributeMapping};
use crate::config::ConfigFile;

/// Flags of `doctor tags`.
#[derive(Debug, Args)]
pub(super) struct DoctorTagsArgs {
    /// The certificate (PEM or DER; the first certificate of a chain).
    #[arg(long, value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// Take the certificate (and the profile ARN) from this tessera profile.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// tessera's config file for --profile (default: $XDG_CONFIG_HOME/tessera/config.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// An anchor config whose profile's attribute mapping applies (default: the service's).
    #[arg(long, value_name = "FILE")]
    anchor_config: Option<PathBuf>,
    /// Which profile of --anchor-config (default: the tessera profile's, or the only one).
    #[arg(long, value_name = "ARN")]
    profile_arn: Option<String>,
}

pub(super) fn run(args: DoctorTagsArgs) -> anyhow::Result<()> {
    let settings = match &args.profile {
        Some(name) => {
            let path = args
                .config
                .clone()
                .or_else(super::args::default_config_path)
                .context("no config file: pass --config or set HOME")?;
            Some(ConfigFile::read(&path)?.profile(name, &path)?)
        }
        None => None,
    };
    let path = args
        .certificate
        .clone()
        .or_else(|| settings.as_ref().and_then(|s| s.certificate.clone()))
        .context("doctor tags needs --certificate FILE (or --profile NAME with a certificate)")?;
    let name = path.display().to_string();
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read certificate {name}"))?;
    let der = match pem::parse_many(&bytes) {
        Ok(blocks) if !blocks.is_empty() => blocks
            .into_iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .map(|b| b.into_contents())
            .with_context(|| format!("{name} holds no PEM CERTIFICATE block"))?,
        _ => bytes,
    };
    let profile_arn = args
        .profile_arn
        .clone()
        .or_else(|| settings.as_ref().and_then(|s| s.profile_arn.clone()));
    let (mappings, source) = mappings(args.anchor_config.as_deref(), profile_arn.as_deref())?;
    let report = crate::doctor::tags::tag_report(&name, &der, &mappings)?;
    outln!("principal tags ({source}):")?;
    for (key, value) in &report.tags {
        outln!("  {key} = {value}")?;
    }
    outln!("source identity: {}", report.source_identity)?;
    for warning in &report.warnings {
        outln!("warning: {warning}")?;
    }
    outln!("trust policy condition for this identity:")?;
    outln!("{}", serde_json::to_string_pretty(&report.condition)?)?;
    Ok(())
}

/// The attribute mappings in force, and where they come from (for the heading).
fn mappings(
    anchor_config: Option<&std::path::Path>,
    profile_arn: Option<&str>,
) -> anyhow::Result<(Vec<AttributeMapping>, String)> {
    let Some(path) = anchor_config else {
        return Ok((
            default_attribute_mappings(),
            "default attribute mappings".into(),
        ));
    };
    let config = AnchorConfig::read(path)?;
    let profile = match profile_arn {
        Some(arn) => config.profiles.iter().find(|p| p.arn == arn),
        None if config.profiles.len() == 1 => config.profiles.first(),
        None => None,
    }
    .with_context(|| {
        format!(
            "{} has no profile {}; pass --profile-arn with one of: {}",
            path.display(),
            profile_arn.unwrap_or("(none given)"),
            config
                .profiles
                .iter()
                .map(|p| p.arn.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    Ok(match &profile.attribute_mappings {
        Some(mappings) => (
            mappings.clone(),
            format!("the attribute mappings of {}", profile.arn),
        ),
        None => (
            default_attribute_mappings(),
            format!("{} uses the default attribute mappings", profile.arn),
        ),
    })
}
