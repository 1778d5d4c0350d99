//! `tessera anchor`: run the local trust anchor.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::local_anchor::{self, DEFAULT_LISTEN};
use crate::anchor::config::AnchorConfig;
use crate::anchor::upstream::UpstreamSts;
use crate::clock::{Clock, OffsetClock, SystemClock};
use crate::http::build_client;
use crate::pki::DEFAULT_CA_DIR;
use crate::service::{termination, Service};

/// Flags of `anchor`.
#[derive(Debug, Args)]
pub struct AnchorArgs {
    /// Anchor config (TOML). Without it, a default is generated from the local CA.
    #[arg(long, env = "TESSERA_ANCHOR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run the anchor's clock this many seconds ahead (negative: behind) of this machine's, to
    /// see how clients cope with an endpoint whose clock is off.
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true, default_value_t = 0,
          value_parser = clap::value_parser!(i64).range(-86_400..=86_400))]
    clock_offset: i64,
    /// Local CA directory (created if missing) for the default config and the TLS certificate.
    #[arg(long, env = "TESSERA_CA_DIR", default_value = DEFAULT_CA_DIR, value_name = "DIR")]
    ca_dir: PathBuf,
    /// Address to listen on (loopback only unless --insecure-allow-remote).
    #[arg(long, env = "TESSERA_ANCHOR_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Serve HTTPS (with a certificate from the local CA unless --tls-cert/--tls-key are given).
    #[arg(long, env = "TESSERA_ANCHOR_TLS")]
    tls: bool,
    /// TLS certificate (PEM, with chain) to serve instead of one from the local CA.
    #[arg(long, requires_all = ["tls", "tls_key"], value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS private key for --tls-cert.
    #[arg(long, requires_all = ["tls", "tls_cert"], value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Allow a non-loopback --listen address.
    #[arg(long)]
    insecure_allow_remote: bool,
    /// On SIGTERM, how long requests in flight may take to finish, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    shutdown_timeout: u64,
    /// Mint credentials with AssumeRole at this STS endpoint (e.g. a moto server) instead of locally.
    #[arg(
        long,
        env = "TESSERA_ANCHOR_STS_ENDPOINT",
        value_name = "URL",
        requires = "sts_access_key_id"
    )]
    sts_endpoint: Option<String>,
    /// Access key id the anchor calls the upstream STS with.
    #[arg(long, env = "TESSERA_ANCHOR_STS_ACCESS_KEY_ID", value_name = "ID")]
    sts_access_key_id: Option<String>,
    /// Secret access key for --sts-access-key-id.
    #[arg(
        long,
        env = "TESSERA_ANCHOR_STS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    sts_secret_access_key: Option<String>,
    /// Read the secret access key for --sts-access-key-id from FILE (kept out of `ps`).
    #[arg(long, value_name = "FILE", conflicts_with = "sts_secret_access_key")]
    sts_secret_access_key_file: Option<PathBuf>,
}

pub(super) fn run(args: AnchorArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = match args.clock_offset {
        0 => Arc::new(SystemClock),
        seconds => Arc::new(OffsetClock(time::Duration::seconds(seconds))),
    };
    let now = clock.now();
    // A broken config is reported before anything is created on disk.
    let config = match args.config.as_deref() {
        Some(path) => Some((path, AnchorConfig::read(path)?)),
        None => None,
    };
    let ca = local_anchor::ensure_ca(&args.ca_dir, now)?;
    let state = local_anchor::load_state(config, &ca)?;
    let tls = if args.tls {
        Some(local_anchor::tls(
            &ca,
            args.tls_cert.as_deref(),
            args.tls_key.as_deref(),
            now,
        )?)
    } else {
        None
    };
    let upstream = upstream_sts(&args, &state.region, &clock)?;
    super::raise_open_file_limit();
    super::server_runtime()?.block_on(async move {
        let listener = local_anchor::bind(args.listen, args.insecure_allow_remote).await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let address = listener.local_addr()?;
        announce(&format!("{scheme}://{address}"), &state)?;
        let anchor = local_anchor::anchor(state, upstream, clock, &ca)?;
        let mut service = Service::new(std::time::Duration::from_secs(args.shutdown_timeout));
        crate::anchor::server::serve(
            anchor,
            &mut service,
            listener,
            tls,
            !args.insecure_allow_remote,
        );
        termination().await;
        service.stop().await;
        anyhow::Ok(())
    })
}

/// `--sts-endpoint` with its key: the real STS the anchor's AssumeRole calls go to.
fn upstream_sts(
    args: &AnchorArgs,
    region: &str,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<Option<UpstreamSts>> {
    let sts_secret = super::secret_args::secret_flag(
        "--sts-secret-access-key",
        "TESSERA_ANCHOR_STS_SECRET_ACCESS_KEY",
        args.sts_secret_access_key.as_deref(),
        args.sts_secret_access_key_file.as_deref(),
    )?;
    Ok(match (&args.sts_endpoint, &args.sts_access_key_id, sts_secret) {
        (Some(endpoint), Some(access_key_id), Some(secret)) => {
            let endpoint: http::Uri = endpoint
                .parse()
                .with_context(|| format!("--sts-endpoint '{endpoint}' is not a URL"))?;
            let http = build_client(&super::args::default_client_options(
                endpoint.scheme_str() == Some("https"),
            ))?;
            Some(UpstreamSts {
                http,
                endpoint,
                region: region.to_owned(),
                access_key_id: access_key_id.clone(),
                secret_access_key: secret,
                clock: clock.clone(),
            })
        }
        (Some(_), _, None) => anyhow::bail!(
            "--sts-endpoint needs --sts-secret-access-key-file FILE (or TESSERA_ANCHOR_STS_SECRET_ACCESS_KEY)"
        ),
        _ => None,
    })
}

/// The startup lines: where the anchor listens, and its trust anchors and profiles.
fn announce(url: &str, state: &crate::anchor::config::AnchorState) -> anyhow::Result<()> {
    outln!("tessera anchor listening on {url}")?;
    for anchor in &state.trust_anchors {
        outln!("trust anchor: {}", anchor.arn)?;
    }
    for profile in &state.profiles {
        outln!(
            "profile: {} (roles: {})",
            profile.arn,
            profile.role_arns.join(", ")
        )?;
    }
    Ok(())
}
