//! `tessera update`: keep a profile in the shared credentials file fresh. Each write is atomic
//! (temp file + rename, 0600) under a lock file, and changes only the profile's three keys.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::args::RequestArgs;
use crate::clock::{Clock, SystemClock};
use crate::credentials::provider::{CredentialProvider, RolesAnywhereProvider};
use crate::credentials::refresh::CredentialCache;
use crate::credentials::shared_file::{check_target, write_profile};

/// Flags of `update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// The profile (section) to write in the credentials file.
    #[arg(
        long,
        env = "TESSERA_AWS_PROFILE",
        default_value = "default",
        value_name = "NAME"
    )]
    aws_profile: String,
    /// The credentials file (default: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials).
    #[arg(long, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
    /// Write once and exit, instead of refreshing ahead of expiry until stopped.
    #[arg(long)]
    once: bool,
}

impl UpdateArgs {
    /// Whether this is a one-shot run.
    pub(super) fn is_once(&self) -> bool {
        self.once
    }
}

/// `--credentials-file`, else `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
fn credentials_path(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| super::args::env_path("AWS_SHARED_CREDENTIALS_FILE"))
        .or_else(|| super::args::env_path("HOME").map(|home| home.join(".aws/credentials")))
}

/// Where the credentials written are audited.
struct Audit {
    log: Option<PathBuf>,
    profile: String,
    role_arn: String,
    clock: Arc<dyn Clock>,
}

impl Audit {
    fn record(&self, credentials: &crate::aws_credentials::Credentials) {
        crate::audit::record_handout(
            self.log.as_deref(),
            "update",
            Some(&self.profile),
            &self.role_arn,
            credentials,
            self.clock.now(),
        );
    }
}

pub(super) fn run(args: UpdateArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let path = credentials_path(args.credentials_file.clone())
        .context("no credentials file: pass --credentials-file or set HOME")?;
    check_target(&path, &args.aws_profile)?;
    let resolved = args.request.resolve()?;
    let label = resolved
        .name
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let audit = Audit {
        log: resolved.audit_log.clone(),
        profile: label.clone(),
        role_arn: resolved.final_role_arn().to_owned(),
        clock: clock.clone(),
    };
    let provider = Arc::new(RolesAnywhereProvider::new(resolved, clock.clone())?);
    let runtime = super::server_runtime()?;
    if args.once {
        let credentials = runtime.block_on(provider.provide())?;
        write_profile(&path, &args.aws_profile, &credentials)?;
        audit.record(&credentials);
        return Ok(());
    }
    let cache = CredentialCache::new(provider, clock);
    let mut updates = cache.subscribe();
    runtime.block_on(async move {
        let terminated = crate::service::termination();
        tokio::pin!(terminated);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let refresher = tokio::spawn(cache.clone().run(label, stopped));
        let mut written: Option<String> = None;
        loop {
            tokio::select! {
                changed = updates.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let latest = updates.borrow_and_update().credentials.clone();
                    if let Some(credentials) = latest.filter(|c| written.as_deref() != Some(c.access_key_id())) {
                        // A failed write is retried with the next refresh; the loop survives it.
                        match write_profile(&path, &args.aws_profile, &credentials) {
                            Ok(()) => {
                                audit.record(&credentials);
                                written = Some(credentials.access_key_id().to_owned());
                            }
                            Err(error) => {
                                tracing::error!("{}", crate::text::with_causes(&error))
                            }
                        }
                    }
                }
                () = &mut terminated => break,
            }
        }
        let _ = stop.send(true);
        let _ = refresher.await;
        anyhow::Ok(())
    })
}
