//! `tessera anchor`: run the local trust anchor.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::local_anchor::{self, DEFAULT_LISTEN};
use crate::clock::{Clock, SystemClock};
use crate::pki::DEFAULT_CA_DIR;

/// Flags of `anchor`.
#[derive(Debug, Args)]
pub struct AnchorArgs {
    /// Anchor config (TOML). Without it, a default is generated from the local CA.
    #[arg(long, env = "TESSERA_ANCHOR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
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
}

pub(super) fn run(args: AnchorArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let ca = local_anchor::ensure_ca(&args.ca_dir, now)?;
    let state = local_anchor::load_state(args.config.as_deref(), &ca)?;
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
    super::server_runtime()?.block_on(async move {
        let listener = local_anchor::bind(args.listen, args.insecure_allow_remote).await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let address = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "tessera anchor listening on {scheme}://{address}")?;
            for anchor in &state.trust_anchors {
                writeln!(out, "trust anchor: {}", anchor.arn)?;
            }
            for profile in &state.profiles {
                writeln!(
                    out,
                    "profile: {} (roles: {})",
                    profile.arn,
                    profile.role_arns.join(", ")
                )?;
            }
            out.flush()?;
        }
        let anchor = local_anchor::anchor(state, clock);
        crate::anchor::server::serve(anchor, listener, tls, local_anchor::shutdown_signal()).await;
        anyhow::Ok(())
    })
}
