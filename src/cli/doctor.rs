//! `tessera doctor`: the same flags as `credential-process`, plus the trust anchor's CA; prints
//! a checklist with a fix for each failure and exits 0 only when every check passes. Unless
//! `--offline`, it ends with one real CreateSession, so that what only the service can judge
//! (profile, role, trust policy, enabled flags) is checked too.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::args::RequestArgs;
use crate::clock::{Clock, SystemClock};
use crate::config::ResolvedProfile;
use crate::doctor::run::DoctorInputs;

/// Flags of `doctor`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DoctorArgs {
    /// A focused check instead of the checklist.
    #[command(subcommand)]
    command: Option<DoctorCommand>,
    #[command(flatten)]
    request: RequestArgs,
    /// The trust anchor's CA certificate(s), PEM (repeatable).
    #[arg(long, value_name = "FILE")]
    trust_anchor_ca: Vec<PathBuf>,
    /// A CRL imported into the trust anchor (repeatable).
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// Skip the checks that contact the endpoint.
    #[arg(long)]
    offline: bool,
}

/// `doctor`'s focused checks.
#[derive(Debug, clap::Subcommand)]
pub(super) enum DoctorCommand {
    /// Print the principal tags Roles Anywhere derives from a certificate, with pitfalls and a
    /// trust-policy condition.
    Tags(super::doctor_tags::DoctorTagsArgs),
}

pub(super) fn run(args: DoctorArgs) -> anyhow::Result<()> {
    if let Some(DoctorCommand::Tags(tags)) = args.command {
        return super::doctor_tags::run(tags);
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let settings = args.request.settings()?;
    let passphrase = args.request.passphrase()?;
    let access = super::secret_args::key_access();
    let identity = settings.identity_sources()?.map(|mut sources| {
        sources.access = access.clone();
        (sources, passphrase.clone())
    });
    let profile = ResolvedProfile::resolve(settings, args.request.profile.as_deref(), passphrase)
        .map(|mut profile| {
            profile.sources.access = access;
            profile
        });
    let inputs = DoctorInputs {
        identity,
        profile,
        trust_anchor_ca: args.trust_anchor_ca,
        crl: args.crl,
        offline: args.offline,
    };
    let report = crate::doctor::run::run(&inputs, clock, &super::runtime()?);
    outln!("tessera doctor")?;
    for check in &report.checks {
        outln!("{check}")?;
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, crate::doctor::Outcome::Fail { .. }))
        .count();
    anyhow::ensure!(
        report.all_passed(),
        "doctor found {failed} problem(s); see the checklist above"
    );
    outln!("all checks passed")?;
    Ok(())
}
