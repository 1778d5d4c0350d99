//! `tessera serve`: refresh credentials for one or many profiles in the background and serve
//! them on an IMDSv2-compatible and an ECS endpoint (one listener), with an admin listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use self::announce::announce;
use self::profiles::{default_token_dir, imds_options, load_config, profile_specs, served_labels};
use super::args::{LoadedConfig, RequestArgs};
use super::systemd::{notify_systemd, notify_when_ready};
use crate::clock::{Clock, SystemClock};
use crate::serve::supervisor::{Supervisor, Tokens};
use crate::serve::{proxies, Agent, ServeOptions};
use crate::server;
use crate::service::{termination, Service};

mod announce;
mod consumers;
mod profiles;

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Serve every profile in the config file (instead of one from --profile or flags).
    #[arg(long)]
    all_profiles: bool,
    /// Address of the IMDS and ECS endpoints.
    #[arg(long, env = "TESSERA_SERVE_LISTEN", default_value = "127.0.0.1:9911")]
    listen: SocketAddr,
    /// Address of the admin endpoint (/healthz, /readyz, /metrics).
    #[arg(long, env = "TESSERA_ADMIN_LISTEN", default_value = "127.0.0.1:9912")]
    admin_listen: SocketAddr,
    /// Also serve IMDSv2 at /latest/ for PROFILE (default: the first served profile), as does
    /// `imds = "PROFILE"` in the config file. IMDS has no client authentication: every local
    /// process, of every user, gets that profile's credentials. Off by default.
    #[arg(long, value_name = "PROFILE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    imds: Option<String>,
    /// Also answer IMDSv1 (token-less) requests. Needs IMDS; not allowed with --allow-remote.
    #[arg(long)]
    imds_v1: bool,
    /// With --allow-remote, serve IMDS to every host that reaches --listen anyway.
    #[arg(long)]
    insecure_remote_imds: bool,
    /// IP TTL / hop limit of responses; 1 keeps them on this host.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=255))]
    hop_limit: u8,
    /// Allow non-loopback --listen/--admin-listen addresses. ECS always requires its token; IMDS
    /// is refused (it cannot authenticate clients) unless --insecure-remote-imds; the admin
    /// endpoints hold no credentials and answer whoever reaches them.
    #[arg(long)]
    allow_remote: bool,
    /// On SIGTERM, how long requests in flight (proxy uploads included) may take to finish, in
    /// seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    shutdown_timeout: u64,
    /// Where each profile's ECS token is written as <profile>.token (0600).
    #[arg(long, env = "TESSERA_TOKEN_DIR", value_name = "DIR")]
    token_dir: Option<PathBuf>,
    /// Read each profile's ECS token from DIR/<profile>.token (for example a mounted Kubernetes
    /// Secret) instead of generating one. Re-read when a profile is reloaded.
    #[arg(long, env = "TESSERA_TOKENS_FROM", value_name = "DIR")]
    tokens_from: Option<PathBuf>,
    /// Also serve the ECS-style API (/v1/credentials/<profile>) on this Unix socket (0600, or
    /// 0660 with --socket-group). With [[consumers]], callers are told apart by uid.
    #[arg(long, env = "TESSERA_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The group (name or gid) that may connect to --socket (mode 0660).
    #[arg(long, value_name = "GROUP", requires = "socket")]
    socket_group: Option<String>,
    /// Append one JSON line per credential handed out, refusal and refresh to FILE (0600,
    /// rotated at 16 MiB), as does `audit-log` in the config file.
    #[arg(long, env = "TESSERA_AUDIT_LOG", value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

pub(super) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    check_addresses(&args)?;
    // Checked before any key is loaded, so the error is the first thing printed.
    let config = load_config(&args)?;
    let imds = imds_options(&args, config.as_ref())?;
    let consumers = consumers::load(
        config.as_ref(),
        &served_labels(&args, config.as_ref())?,
        imds.as_ref(),
    )?;
    let audit = consumers::audit_log(&args, config.as_ref())?;
    let token_dir = args
        .token_dir
        .clone()
        .or_else(default_token_dir)
        .context("no token directory: pass --token-dir")?;

    super::raise_open_file_limit();
    super::server_runtime()?.block_on(async move {
        let terminated = termination();
        // Registered before the addresses are printed: a SIGHUP sent as soon as serve announces
        // itself must reload it, not kill it (the default action).
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::pin!(terminated);
        let mut service = Service::new(Duration::from_secs(args.shutdown_timeout));
        let tokens = match &args.tokens_from {
            Some(dir) => Tokens::ReadFrom(dir.clone()),
            None => Tokens::Generate(token_dir.clone()),
        };
        let mut supervisor = Supervisor::new(tokens, clock.clone(), service.stopping());
        supervisor.apply(profile_specs(&args, config.as_ref())?)?;
        let served = supervisor.served();
        let extra_hosts = if args.allow_remote {
            vec![args.listen.ip().to_string()]
        } else {
            Vec::new()
        };
        let agent = Arc::new(
            Agent::new(
                served.clone(),
                ServeOptions { imds, extra_hosts },
                clock.clone(),
            )
            .with_consumers(consumers, audit),
        );
        watch_refreshes(&agent, &served, &service);
        let listener = server::bind(args.listen, args.hop_limit)?;
        let admin_listener = server::bind(args.admin_listen, args.hop_limit)?;
        let socket = consumers::bind_socket(&args)?;
        announce(
            &agent,
            listener.local_addr()?,
            admin_listener.local_addr()?,
            &token_dir,
            args.socket.as_deref(),
        )?;
        if let Some(socket) = socket {
            crate::serve::listen_socket(&agent, &mut service, socket);
        }
        start_proxies(config.as_ref(), &served, &agent, &clock, &mut service)?;
        crate::serve::listen(
            &agent,
            &mut service,
            listener,
            admin_listener,
            !args.allow_remote,
        );
        tokio::spawn(notify_when_ready(served.values().cloned().collect()));
        loop {
            tokio::select! {
                () = &mut terminated => break,
                _ = hangups.recv() => reload(&args, &mut supervisor, &agent, &service),
            }
        }
        tracing::info!("shutting down");
        notify_systemd(&[sd_notify::NotifyState::Stopping]);
        service.stop().await;
        anyhow::Ok(())
    })
}

/// Non-loopback listeners only with --allow-remote.
fn check_addresses(args: &ServeArgs) -> anyhow::Result<()> {
    for addr in [args.listen, args.admin_listen] {
        anyhow::ensure!(
            addr.ip().is_loopback() || args.allow_remote,
            "--listen/--admin-listen {addr} is not a loopback address; pass --allow-remote to serve other hosts (ECS then needs its token from them, and IMDS stays off)"
        );
    }
    Ok(())
}

/// Starts the config file's `[[proxies]]` and prints where each listens.
fn start_proxies(
    config: Option<&LoadedConfig>,
    served: &std::collections::BTreeMap<String, Arc<crate::serve::ServedProfile>>,
    agent: &Agent,
    clock: &Arc<dyn Clock>,
    service: &mut Service,
) -> anyhow::Result<()> {
    let Some(LoadedConfig { path, file }) = config else {
        return Ok(());
    };
    let options = super::args::default_client_options(true);
    for proxy in proxies::start(&file.proxies, path, served, agent, &options, clock, service)? {
        outln!(
            "proxy listening on http://{} (profile {})",
            proxy.address,
            proxy.profile
        )?;
    }
    Ok(())
}

/// Records (and audits) the refreshes of `served`'s profiles; each watcher ends with its cache.
fn watch_refreshes(
    agent: &Arc<Agent>,
    served: &std::collections::BTreeMap<String, Arc<crate::serve::ServedProfile>>,
    service: &Service,
) {
    for (name, profile) in served {
        crate::serve::history::watch_refreshes(
            agent.clone(),
            name.clone(),
            profile.cache.subscribe(),
            service.stopping(),
        );
    }
}

/// SIGHUP: reads the config file again and applies it (profiles and consumers); a bad
/// configuration is refused and the running one stays in force.
fn reload(args: &ServeArgs, supervisor: &mut Supervisor, agent: &Arc<Agent>, service: &Service) {
    notify_systemd(&[sd_notify::NotifyState::Reloading]);
    let before = supervisor.served();
    let reloaded = load_config(args).and_then(|config| {
        let imds = agent.options.imds.as_ref();
        let labels = served_labels(args, config.as_ref())?;
        let consumers = consumers::load(config.as_ref(), &labels, imds)?;
        supervisor.apply(profile_specs(args, config.as_ref())?)?;
        Ok(consumers)
    });
    match reloaded {
        Ok(consumers) => {
            let served = supervisor.served();
            tracing::info!(profiles = ?served.keys().collect::<Vec<_>>(), "configuration reloaded");
            let changed = served
                .iter()
                .filter(|(name, p)| !before.get(*name).is_some_and(|old| Arc::ptr_eq(old, p)))
                .map(|(name, p)| (name.clone(), p.clone()))
                .collect();
            watch_refreshes(agent, &changed, service);
            agent.set_profiles(served);
            agent.set_consumers(consumers);
        }
        Err(error) => tracing::error!(
            "configuration reload failed ({error:#}); keeping the running configuration"
        ),
    }
    notify_systemd(&[sd_notify::NotifyState::Ready]);
}
