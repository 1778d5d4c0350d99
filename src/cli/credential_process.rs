//! `tessera credential-process`: obtain credentials and print the credential_process JSON.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::args::{IdentityArgs, SessionArgs};
use crate::clock::{Clock, SystemClock};

/// Flags of `credential-process` (compatible with `aws_signing_helper credential-process`).
#[derive(Debug, Args)]
pub struct CredentialProcessArgs {
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    session: SessionArgs,
}

pub(super) fn run(args: CredentialProcessArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let params = args.session.params()?;
    let identity = args.identity.load(clock.as_ref())?;
    let client = args.session.client(&params, clock)?;
    let credentials = super::runtime()?.block_on(client.create_session(&params, &identity))?;
    tracing::debug!(
        access_key_id = credentials.access_key_id(),
        "obtained credentials valid until {}",
        crate::identity::cert::rfc3339(credentials.expiration())
    );
    let json = credentials.to_process_json();
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(json.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .context("cannot write credentials to stdout")
}
