//! `tessera credential-process`: print credentials in the credential_process JSON format,
//! answered from a cross-process cache when it holds credentials with enough life left.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::args::RequestArgs;
use crate::clock::{Clock, SystemClock};
use crate::credentials::process_cache::{self, ProcessCache};
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
}

pub(super) fn run(args: CredentialProcessArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let profile = args.request.resolve()?;
    let runtime = super::runtime()?;
    let cache = match (args.cache, cache_dir(args.cache_dir.clone())) {
        (CacheMode::None, _) => None,
        (_, None) => {
            tracing::warn!("no cache directory (set TESSERA_CACHE_DIR or HOME); not caching");
            None
        }
        (mode, Some(dir)) => ProcessCache::open(dir, mode == CacheMode::Keyring),
    };
    let credentials = match cache {
        Some(cache) => cache.credentials(&profile, clock, &runtime)?,
        None => process_cache::fetch(&profile, clock, &runtime)?,
    };
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
