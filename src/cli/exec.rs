//! `tessera exec -- CMD ARGS…`: run a command with a profile's credentials, either in its
//! environment or (`--ecs`) through a private ECS endpoint with a one-off token, which keeps
//! long-running commands supplied with refreshed credentials.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::args::RequestArgs;
use crate::clock::{Clock, SystemClock};
use crate::credentials::provider::{CredentialProvider, RolesAnywhereProvider};
use crate::credentials::refresh::CredentialCache;
use crate::serve::{Agent, ServeOptions, ServedProfile};
use crate::server;
use crate::service::Service;
use crate::time_format::rfc3339;

/// Variables that could make the child use other credentials than the ones given.
const CLEARED: [&str; 9] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// Flags of `exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Serve the credentials on a private ECS endpoint (refreshed) instead of the environment.
    #[arg(long)]
    ecs: bool,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

pub(super) fn run(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (program, rest) = args
        .command
        .split_first()
        .context("no command given after --")?;
    // A mistyped command is reported before credentials are fetched for it.
    which::which(program).with_context(|| {
        format!(
            "cannot run {}: not found or not executable (looked in PATH)",
            program.to_string_lossy()
        )
    })?;
    let resolved = args.request.resolve()?;
    let region = resolved.region.clone();
    let role_arn = resolved.final_role_arn().to_owned();
    let audit_log = resolved.audit_log.clone();
    let profile_name = resolved.name.clone();
    let provider = Arc::new(RolesAnywhereProvider::new(resolved, clock.clone())?);
    let mut child = child_command(program, rest, &region);
    super::server_runtime()?.block_on(async move {
        let status = if args.ecs {
            let served = ServedProfile {
                cache: CredentialCache::new(provider, clock.clone()),
                role_arn,
                ecs_token: crate::secret::random_token()?,
                region,
                documents: Default::default(),
            };
            with_private_endpoint(&mut child, served, clock).await?
        } else {
            let credentials = provider.provide().await?;
            crate::audit::record_handout(
                audit_log.as_deref(),
                "exec",
                profile_name.as_deref(),
                &role_arn,
                &credentials,
                clock.now(),
            );
            child
                .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
                .env(
                    "AWS_SECRET_ACCESS_KEY",
                    credentials.secret_access_key().expose_secret(),
                )
                .env(
                    "AWS_SESSION_TOKEN",
                    credentials.session_token().expose_secret(),
                )
                .env(
                    "AWS_CREDENTIAL_EXPIRATION",
                    rfc3339(credentials.expiration()),
                );
            child.status().await.with_context(|| cannot_run(program))?
        };
        // A signal-killed child has no code; 128 + signal is the shell convention.
        let code = status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        });
        Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
    })
}

fn cannot_run(program: &std::ffi::OsStr) -> String {
    format!("cannot run {}", program.to_string_lossy())
}

/// The child: no AWS settings of tessera's environment that would override the credentials,
/// none of tessera's own secrets, and the profile's region where the SDKs look for one.
fn child_command(
    program: &std::ffi::OsStr,
    rest: &[OsString],
    region: &str,
) -> tokio::process::Command {
    let mut child = tokio::process::Command::new(program);
    child.args(rest);
    for name in CLEARED {
        child.env_remove(name);
    }
    // Security: the child gets AWS credentials, never tessera's own secrets.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(crate::secret::is_secret_env) {
            child.env_remove(name);
        }
    }
    // The JS and Rust SDKs read AWS_REGION, botocore AWS_DEFAULT_REGION; set whichever is unset.
    for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if std::env::var_os(name).is_none() {
            child.env(name, region);
        }
    }
    child
}

/// `exec --ecs`: a private ECS endpoint on an ephemeral loopback port, refreshed for as long
/// as the child runs; only the child holds its token.
async fn with_private_endpoint(
    child: &mut tokio::process::Command,
    served: ServedProfile,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<std::process::ExitStatus> {
    let mut service = Service::new(Duration::ZERO);
    tokio::spawn(served.cache.clone().run("exec".into(), service.stopping()));
    let mut updates = served.cache.subscribe();
    // The first refresh either succeeds or fails; the child starts only with credentials.
    let _ = updates
        .wait_for(|s| s.credentials.is_some() || s.failures > 0)
        .await;
    served
        .cache
        .current()
        .map_err(|e| anyhow::anyhow!("cannot obtain credentials: {e}"))?;
    let token = served.ecs_token.clone();
    // Security: no IMDS. Its token is free to anyone, and this port is visible to every local
    // user; only the child holds the ECS token.
    let options = ServeOptions {
        imds: None,
        extra_hosts: Vec::new(),
    };
    let agent = Arc::new(Agent::new(
        BTreeMap::from([("exec".to_owned(), Arc::new(served))]),
        options,
        clock,
    ));
    let listener = server::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), 1)?;
    let address = listener.local_addr()?;
    service.serve(listener, move |incoming| {
        let agent = agent.clone();
        async move { agent.handle(&incoming) }
    });
    child
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://{address}/v1/credentials/exec"),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.expose_secret());
    let program = child.as_std().get_program().to_owned();
    let status = child.status().await.with_context(|| cannot_run(&program));
    service.stop().await;
    status
}
