//! `tessera credential-process`: print credentials in the credential_process JSON format,
//! answered from a cross-process cache when it holds credentials with enough life left.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::args::RequestArgs;
use crate::clock::{Clock, SystemClock};
use crate::credentials::process_cache::{self, Lookup, ProcessCache};
use anyhow::Context;
use clap::{Args, ValueEnum};

/// Where credentials are kept between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum CacheMode {
    /// A 0600 file per request under the user cache directory, shared by concurrent runs.
    File,
    /// The OS keyring (Linux: the kernel keyutils store); lock files stay in the cache directory.
    Keyring,
    /// No cache: every run calls CreateSession (like aws_signing_helper).
    None,
}

/// Flags of `credential-process` (compatible with `aws_signing_helper credential-process`).
#[derive(Debug, Args)]
pub struct CredentialProcessArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Where credentials are cached between runs.
    #[arg(long, value_enum, default_value_t = CacheMode::File, env = "TESSERA_CACHE")]
    cache: CacheMode,
    /// Cache directory (default: $XDG_CACHE_HOME/tessera, else ~/.cache/tessera).
    #[arg(long, env = "TESSERA_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Ask a running `serve --socket SOCKET` for the profile first (default socket:
    /// $XDG_RUNTIME_DIR/tessera/serve.sock); without an agent, or one that does not serve the
    /// profile, obtain the credentials as usual.
    #[arg(long, value_name = "SOCKET", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    agent: Option<PathBuf>,
}

/// The agent socket `--agent` names, or the default one.
fn agent_socket(flag: &std::path::Path) -> Option<PathBuf> {
    if !flag.as_os_str().is_empty() {
        return Some(flag.to_owned());
    }
    super::args::xdg_path(
        "XDG_RUNTIME_DIR",
        "tessera/serve.sock",
        ".cache/tessera/serve.sock",
    )
}

/// The agent's credentials for the profile, if an agent serves it.
fn from_agent(
    args: &CredentialProcessArgs,
) -> anyhow::Result<Option<crate::aws_credentials::Credentials>> {
    use crate::credentials::agent_client::{self, AgentAnswer};
    let Some(socket) = args.agent.as_deref().and_then(agent_socket) else {
        return Ok(None);
    };
    let profile = args.request.profile.as_deref().unwrap_or("default");
    match agent_client::fetch(&socket, profile)? {
        AgentAnswer::Credentials(credentials) => Ok(Some(credentials)),
        AgentAnswer::NotRunning(why) => {
            tracing::debug!(
                "no agent at {} ({why}); obtaining the credentials directly",
                socket.display()
            );
            Ok(None)
        }
        AgentAnswer::NotServed => {
            tracing::debug!(
                "the agent at {} does not serve profile {profile}; obtaining the credentials directly",
                socket.display()
            );
            Ok(None)
        }
    }
}

pub(super) fn run(args: CredentialProcessArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if let Some(credentials) = from_agent(&args)? {
        return print(&credentials);
    }
    let profile = args.request.resolve()?;
    // The async runtime is started only for a network call: a warm run needs none.
    let credentials = match open_cache(&args) {
        Some(cache) => match cache.lookup(&profile, clock.as_ref())? {
            Lookup::Fresh(credentials) => credentials,
            Lookup::Stale(pending) => {
                cache.refresh(pending, &profile, clock.clone(), &super::runtime()?)?
            }
        },
        None => process_cache::fetch(&profile, clock.clone(), &super::runtime()?)?,
    };
    hand_out(&profile, &credentials, clock.now())
}

/// The launcher's run ([`crate::launcher`]): the agent's or the cache's credentials, printed,
/// when that is all it takes: no refresh, no secret to unlock, no network. `None` leaves the
/// run to the full binary, which repeats these steps and reports whatever went wrong.
pub(super) fn answer_warm(args: &CredentialProcessArgs) -> Option<anyhow::Result<()>> {
    if let Some(credentials) = from_agent(args).ok()? {
        return Some(print(&credentials));
    }
    let profile = args.request.resolve().ok()?;
    let clock = SystemClock;
    let credentials = open_cache(args)?.peek(&profile, &clock)?;
    Some(hand_out(&profile, &credentials, clock.now()))
}

/// Audits the hand-out of `profile`'s credentials, then prints them: the one way both binaries
/// hand credentials out.
fn hand_out(
    profile: &crate::config::ResolvedProfile,
    credentials: &crate::aws_credentials::Credentials,
    now: time::OffsetDateTime,
) -> anyhow::Result<()> {
    crate::audit::record_profile_handout(profile, "process", credentials, now);
    print(credentials)
}

/// The cache `--cache` and `--cache-dir` name, if any.
fn open_cache(args: &CredentialProcessArgs) -> Option<ProcessCache> {
    match (args.cache, cache_dir(args.cache_dir.clone())) {
        (CacheMode::None, _) => None,
        (_, None) => {
            tracing::warn!("no cache directory (set TESSERA_CACHE_DIR or HOME); not caching");
            None
        }
        (mode, Some(dir)) => ProcessCache::open(dir, mode == CacheMode::Keyring),
    }
}

/// Writes the credential_process document to stdout.
fn print(credentials: &crate::aws_credentials::Credentials) -> anyhow::Result<()> {
    let json = credentials.to_process_json();
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(json.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .context("cannot write credentials to stdout")
}

/// `$XDG_CACHE_HOME/tessera`, else `$HOME/.cache/tessera`.
fn cache_dir(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(default_cache_dir)
}

/// The cache directory when no flag names one.
pub(super) fn default_cache_dir() -> Option<PathBuf> {
    super::args::xdg_path("XDG_CACHE_HOME", "tessera", ".cache/tessera")
}
