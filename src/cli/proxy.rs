//! `tessera proxy`: a SigV4 signing reverse proxy with its own admin listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::args::RequestArgs;
use crate::clock::{Clock, SystemClock};
use crate::config::ProxyListenerConfig;
use crate::credentials::provider::RolesAnywhereProvider;
use crate::credentials::refresh::CredentialCache;
use crate::proxy::{
    admin, CredentialSource, Proxy, ProxySettings, SettingsError, Upstreams,
    DEFAULT_MAX_BUFFERED_BODY,
};
use crate::server;
use crate::service::{termination, Service};

/// Where signing credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum CredentialsFrom {
    /// A Roles Anywhere profile, cached and refreshed in the background.
    RolesAnywhere,
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN from the environment.
    Env,
}

/// Flags of `proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Where signing credentials come from.
    #[arg(long, value_enum, default_value_t = CredentialsFrom::RolesAnywhere)]
    credentials: CredentialsFrom,
    /// Append one JSON line per refused request to FILE (0600), as serve's audit log does.
    #[arg(long, env = "TESSERA_AUDIT_LOG", value_name = "FILE")]
    audit_log: Option<std::path::PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "TESSERA_PROXY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the admin endpoint (/healthz, /readyz, /metrics).
    #[arg(
        long,
        env = "TESSERA_PROXY_ADMIN_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    admin_listen: SocketAddr,
    /// Forward everything to this URL (default: to the AWS endpoint the Host header names).
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Service to sign for (default: derived from the endpoint host).
    #[arg(long)]
    service: Option<String>,
    /// Region to sign for (default: derived from the endpoint host).
    #[arg(long = "signing-region", value_name = "REGION")]
    signing_region: Option<String>,
    /// Largest body buffered for services that need the payload hash (bytes).
    #[arg(long, default_value_t = DEFAULT_MAX_BUFFERED_BODY)]
    max_buffered_body: usize,
    /// Remove this header before signing (repeatable).
    #[arg(long, value_name = "NAME")]
    strip_header: Vec<String>,
    /// Add this header ("Name: value") before signing (repeatable).
    #[arg(long, value_name = "HEADER")]
    add_header: Vec<String>,
    /// Sign S3 uploads chunk by chunk (aws-chunked STREAMING-AWS4-HMAC-SHA256-PAYLOAD)
    /// instead of UNSIGNED-PAYLOAD.
    #[arg(long)]
    s3_streaming_signature: bool,
    /// Longest wait for the upstream's response headers, in seconds.
    #[arg(long, default_value_t = 900)]
    upstream_timeout: u64,
    /// Allow non-loopback --listen/--admin-listen addresses (needs --require-token); the admin
    /// endpoints then answer any Host.
    #[arg(long)]
    allow_remote: bool,
    /// IP TTL / IPv6 hop limit of responses; 1 keeps them on this host.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=255))]
    hop_limit: u8,
    /// On SIGTERM, how long requests in flight (uploads included) may take to finish, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    shutdown_timeout: u64,
    /// Require 'Authorization: Bearer TOKEN' from clients (removed before forwarding).
    #[arg(
        long,
        env = "TESSERA_PROXY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    require_token: Option<String>,
    /// Read the token clients must present from FILE (kept out of `ps`).
    #[arg(long, value_name = "FILE", conflicts_with = "require_token")]
    require_token_file: Option<PathBuf>,
}

pub(super) fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // aws-sigv4-proxy's users type --region; here it is the Roles Anywhere region, which plain
    // keys do not use, so it would be ignored without a word.
    if let (CredentialsFrom::Env, Some(region)) = (args.credentials, &args.request.region) {
        anyhow::bail!(
            "--region {region} is the Roles Anywhere region, which --credentials env does not use; the signing region is --signing-region {region}"
        );
    }

    anyhow::ensure!(
        args.admin_listen.ip().is_loopback() || args.allow_remote,
        "--admin-listen {} is not a loopback address; pass --allow-remote",
        args.admin_listen
    );
    let settings = settings(&args)?;
    let client_options = super::args::default_client_options(true);
    super::raise_open_file_limit();
    super::server_runtime()?.block_on(async move {
        let mut service = Service::new(Duration::from_secs(args.shutdown_timeout));
        let (credentials, cache) = match args.credentials {
            CredentialsFrom::Env => (
                CredentialSource::Static(super::secret_args::env_credentials()?),
                None,
            ),
            CredentialsFrom::RolesAnywhere => {
                let resolved = args.request.resolve()?;
                let label = resolved.name.clone().unwrap_or_else(|| "default".into());
                let provider = RolesAnywhereProvider::new(resolved, clock.clone())?;
                let cache = CredentialCache::new(Arc::new(provider), clock.clone());
                tokio::spawn(cache.clone().run(label, service.stopping()));
                (CredentialSource::Cache(cache.clone()), Some(cache))
            }
        };
        let upstreams = Upstreams::build(&client_options)?;
        let audit = match &args.audit_log {
            Some(path) => Some(Arc::new(crate::audit::AuditLog::open(path)?)),
            None => None,
        };
        let proxy = Arc::new(Proxy::new(settings, credentials, upstreams, clock).with_audit(audit));
        let listener = server::bind(args.listen, args.hop_limit)?;
        let admin = server::bind(args.admin_listen, args.hop_limit)?;
        let address = listener.local_addr()?;
        outln!(
            "tessera proxy listening on http://{address}, admin on http://{}",
            admin.local_addr()?
        )?;
        proxy.serve_on(&mut service, listener);
        let loopback_only = !args.allow_remote;
        let listen = address.to_string();
        service.serve(admin, move |incoming| {
            let (proxy, cache, listen) = (proxy.clone(), cache.clone(), listen.clone());
            async move { admin::handle(&proxy, cache.as_deref(), &listen, loopback_only, &incoming) }
        });
        termination().await;
        service.stop().await;
        anyhow::Ok(())
    })
}

/// The proxy's settings from its flags, validated; errors name the flag.
fn settings(args: &ProxyArgs) -> anyhow::Result<ProxySettings> {
    let require_token = super::secret_args::secret_flag(
        "--require-token",
        "TESSERA_PROXY_TOKEN",
        args.require_token.as_deref(),
        args.require_token_file.as_deref(),
    )?;
    ProxySettings::from_config(&ProxyListenerConfig {
        listen: args.listen,
        profile: None,
        upstream: args.upstream.clone(),
        service: args.service.clone(),
        signing_region: args.signing_region.clone(),
        max_buffered_body: args.max_buffered_body,
        s3_streaming_signature: args.s3_streaming_signature,
        upstream_timeout: args.upstream_timeout,
        strip_headers: args.strip_header.clone(),
        add_headers: args.add_header.clone(),
        require_token: require_token.map(|t| t.expose_secret().to_owned()),
        allow_remote: args.allow_remote,
        hop_limit: args.hop_limit,
    })
    .map_err(|error| match error {
        SettingsError::RemoteListen { listen } => anyhow::anyhow!(
            "proxy listen address {listen} is not loopback; serving other hosts needs --allow-remote and --require-token"
        ),
        // The other messages name the setting as its flag is spelt, without the dashes.
        other => anyhow::anyhow!("{other}"),
    })
}
