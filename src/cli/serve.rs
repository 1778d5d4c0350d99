//! `tessera serve`: refresh credentials for one or many profiles in the background and serve
//! them on an IMDSv2-compatible and an ECS endpoint (one listener), with an admin listener.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::args::{LoadedConfig, RequestArgs};
use crate::clock::{Clock, SystemClock};
use crate::http::build_client_for;
use crate::proxy::{CredentialSource, Proxy, ProxyBody, ProxySettings};
use crate::serve::supervisor::{token_file, ProfileSpec, Supervisor, Tokens};
use crate::serve::{admin, Agent, ImdsOptions, ServeOptions, ServedProfile};
use crate::server::{self, ListenOptions};

/// The name of a profile defined by flags alone.
const FLAGS_PROFILE: &str = "default";

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
}

/// Tells systemd (Type=notify) about a state change; a no-op when not run by systemd.
fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::warn!("cannot notify systemd: {error}");
    }
}

/// Waits until every profile holds credentials, then tells systemd the service is ready.
async fn notify_when_ready(profiles: Vec<Arc<ServedProfile>>) {
    for profile in &profiles {
        let mut updates = profile.cache.subscribe();
        if updates.wait_for(|s| s.credentials.is_some()).await.is_err() {
            return;
        }
    }
    let status = format!("serving {} profile(s)", profiles.len());
    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
}

/// `$XDG_RUNTIME_DIR/tessera`, else `~/.cache/tessera/tokens`.
fn default_token_dir() -> Option<PathBuf> {
    super::args::xdg_path("XDG_RUNTIME_DIR", "tessera", ".cache/tessera/tokens")
}

/// The config file serve runs from, read once per start and once per reload (so one run never
/// sees two versions of it); `None` when only flags define the profile.
fn load_config(args: &ServeArgs) -> anyhow::Result<Option<LoadedConfig>> {
    if !(args.all_profiles || args.request.profile.is_some()) {
        return Ok(None);
    }
    Ok(Some(
        args.request.config_file(args.request.profile.as_deref())?,
    ))
}

/// The profile names to serve: every profile of the file, or the one from --profile / flags.
fn profile_names(
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

/// The profiles to serve, resolved from the config file (read once) and flags.
fn profile_specs(
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

/// A started `[[proxies]]` listener: its address, its profile, and its server task (awaited at
/// shutdown, so its requests drain).
type StartedProxy = (std::net::SocketAddr, String, tokio::task::JoinHandle<()>);

/// Starts the config file's `[[proxies]]`, each signing with its profile's cache (so every
/// listener shares that profile's one refresh loop).
async fn start_proxies(
    args: &ServeArgs,
    config: Option<&LoadedConfig>,
    agent: &Agent,
    running: &BTreeMap<String, Arc<ServedProfile>>,
    clock: &Arc<dyn Clock>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<StartedProxy>> {
    let Some(LoadedConfig { path, file }) = config else {
        return Ok(Vec::new());
    };
    let mut started = Vec::new();
    for config in file.proxies.clone() {
        let name = match &config.profile {
            Some(name) => name.clone(),
            None if running.len() == 1 => running.keys().next().cloned().unwrap_or_default(),
            None => anyhow::bail!(
                "a proxy in {} needs `profile` (several profiles are served)",
                path.display()
            ),
        };
        let cache = running
            .get(&name)
            .map(|r| r.cache.clone())
            .with_context(|| format!("proxy profile '{name}' is not one of the served profiles"))?;
        let settings = ProxySettings::from_config(&config)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let client = build_client_for::<ProxyBody>(&super::args::default_client_options(true))?;
        let proxy = Arc::new(Proxy::new(
            settings,
            CredentialSource::Cache(cache),
            client,
            clock.clone(),
        ));
        let listener = server::bind(config.listen, config.hop_limit)?;
        let address = listener.local_addr()?;
        agent.add_proxy(address.to_string(), proxy.clone());
        let mut stopped = stop.clone();
        let options = ListenOptions {
            tls: None,
            drain_timeout: Duration::from_secs(args.shutdown_timeout),
        };
        let task = tokio::spawn(server::serve_streaming(
            listener,
            options,
            move |request, _peer| {
                let proxy = proxy.clone();
                async move { Ok::<_, std::convert::Infallible>(proxy.handle(request).await) }
            },
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        started.push((address, name, task));
    }
    Ok(started)
}

/// The profile IMDS serves, if any: `--imds[=PROFILE]`, else the config file's `imds`; checked
/// against the served profiles and the remote-access rules.
fn imds_profile(args: &ServeArgs, config: Option<&LoadedConfig>) -> anyhow::Result<Option<String>> {
    let labels: Vec<String> = profile_names(args, config)?
        .into_iter()
        .map(|n| n.unwrap_or_else(|| FLAGS_PROFILE.to_owned()))
        .collect();
    let chosen = match args.imds.as_deref() {
        Some("") => labels.first().cloned(),
        Some(name) => Some(name.to_owned()),
        None => config.and_then(|c| c.file.imds.clone()),
    };
    let Some(name) = chosen else {
        anyhow::ensure!(
            !args.imds_v1,
            "--imds-v1 needs IMDS: pass --imds[=PROFILE] as well"
        );
        return Ok(None);
    };
    anyhow::ensure!(
        labels.contains(&name),
        "IMDS profile {name} is not one of the served profiles ({})",
        labels.join(", ")
    );
    anyhow::ensure!(
        !(args.imds_v1 && args.allow_remote),
        "--imds-v1 cannot be combined with --allow-remote: remote clients must use tokens"
    );
    anyhow::ensure!(
        !args.allow_remote || args.insecure_remote_imds,
        "IMDS cannot authenticate its clients, so with --allow-remote every host that reaches {} would get the credentials of profile {name}; serve ECS with tokens instead, or pass --insecure-remote-imds to accept that",
        args.listen
    );
    Ok(Some(name))
}

pub(super) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    for addr in [args.listen, args.admin_listen] {
        anyhow::ensure!(
            addr.ip().is_loopback() || args.allow_remote,
            "--listen/--admin-listen {addr} is not a loopback address; pass --allow-remote to serve other hosts (ECS then needs its token from them, and IMDS stays off)"
        );
    }
    // Checked before any key is loaded, so the error is the first thing printed.
    let config = load_config(&args)?;
    let imds_profile = imds_profile(&args, config.as_ref())?;
    let token_dir = args
        .token_dir
        .clone()
        .or_else(default_token_dir)
        .context("no token directory: pass --token-dir")?;

    super::raise_open_file_limit();
    super::server_runtime()?.block_on(async move {
        let terminated = super::local_anchor::shutdown_signal();
        // Registered before the addresses are printed: a SIGHUP sent as soon as serve announces
        // itself must reload it, not kill it (the default action).
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::pin!(terminated);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let tokens = match &args.tokens_from {
            Some(dir) => Tokens::ReadFrom(dir.clone()),
            None => Tokens::Generate(token_dir.clone()),
        };
        let mut supervisor = Supervisor::new(tokens, clock.clone(), stopped.clone());
        supervisor.apply(profile_specs(&args, config.as_ref())?)?;
        let running = supervisor.served();
        let imds = imds_profile.map(|profile| ImdsOptions { profile, v1: args.imds_v1 });
        let extra_hosts = if args.allow_remote { vec![args.listen.ip().to_string()] } else { Vec::new() };
        let options = ServeOptions { imds, extra_hosts };
        let agent = Arc::new(Agent::new(running.clone(), options, clock.clone()));

        let listener = server::bind(args.listen, args.hop_limit)?;
        let admin_listener = server::bind(args.admin_listen, args.hop_limit)?;
        let (address, admin_address) = (listener.local_addr()?, admin_listener.local_addr()?);
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "tessera serve listening on http://{address} (IMDS and ECS), admin on http://{admin_address}")?;
            match &agent.options.imds {
                Some(imds) => writeln!(out, "IMDS: AWS_EC2_METADATA_SERVICE_ENDPOINT=http://{address} (profile {}; every local process can read it)", imds.profile)?,
                None => writeln!(out, "IMDS: off (--imds[=PROFILE] serves it to every local process)")?,
            }
            for name in running.keys() {
                writeln!(
                    out,
                    "ECS profile {name}: AWS_CONTAINER_CREDENTIALS_FULL_URI=http://{address}/v1/credentials/{name} AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
                    token_file(&token_dir, name).display()
                )?;
            }
            out.flush()?;
        }
        let proxies = start_proxies(&args, config.as_ref(), &agent, &running, &clock, &stopped).await?;
        {
            let mut out = std::io::stdout().lock();
            for (address, profile, _) in &proxies {
                writeln!(out, "proxy listening on http://{address} (profile {profile})")?;
            }
            out.flush()?;
        }
        let listen_options = ListenOptions { tls: None, drain_timeout: Duration::from_secs(args.shutdown_timeout) };
        let shutdown = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let credentials_agent = agent.clone();
        let credentials = tokio::spawn(server::serve(
            listener,
            listen_options.clone(),
            move |incoming| {
                let agent = credentials_agent.clone();
                async move { agent.handle(&incoming) }
            },
            shutdown(stopped.clone()),
        ));
        let admin_agent = agent.clone();
        let allow_remote = args.allow_remote;
        let admin_server = tokio::spawn(server::serve(
            admin_listener,
            listen_options,
            move |incoming| {
                let agent = admin_agent.clone();
                async move { admin::handle(&agent, &incoming, !allow_remote) }
            },
            shutdown(stopped.clone()),
        ));
        tokio::spawn(notify_when_ready(running.values().cloned().collect()));
        loop {
            tokio::select! {
                () = &mut terminated => break,
                _ = hangups.recv() => {
                    notify_systemd(&[sd_notify::NotifyState::Reloading]);
                    // A bad configuration is refused; the running one stays in force.
                    let reloaded = load_config(&args)
                        .and_then(|config| profile_specs(&args, config.as_ref()))
                        .and_then(|specs| Ok(supervisor.apply(specs)?));
                    match reloaded {
                        Ok(()) => {
                            let served = supervisor.served();
                            tracing::info!(profiles = ?served.keys().collect::<Vec<_>>(), "configuration reloaded");
                            agent.set_profiles(served);
                        }
                        Err(error) => tracing::error!("configuration reload failed ({error:#}); keeping the running configuration"),
                    }
                    notify_systemd(&[sd_notify::NotifyState::Ready]);
                }
            }
        }
        tracing::info!("shutting down");
        notify_systemd(&[sd_notify::NotifyState::Stopping]);
        let _ = stop.send(true);
        let _ = credentials.await;
        let _ = admin_server.await;
        for (_, _, task) in proxies {
            let _ = task.await;
        }
        anyhow::Ok(())
    })
}
