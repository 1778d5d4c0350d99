//! `tessera health`: GET a health URL and exit 0 only on a 2xx answer. For container
//! HEALTHCHECKs in images without curl (distroless).

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use http_body_util::Empty;

use crate::http::{build_client_for, ClientOptions};

/// Flags of `health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The URL to check (an admin listener's /healthz or /readyz).
    #[arg(long, default_value = "http://127.0.0.1:9912/healthz")]
    url: http::Uri,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

pub(super) fn run(args: HealthArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        matches!(args.url.scheme_str(), Some("http" | "https")) && args.url.host().is_some(),
        "--url '{}' is not an http:// or https:// URL with a host",
        args.url
    );
    let options = ClientOptions {
        needs_tls: args.url.scheme_str() == Some("https"),
        ..super::args::default_client_options(false)
    };
    let client = build_client_for::<Empty<bytes::Bytes>>(&options)?;
    let url = args.url.clone();
    let status = super::runtime()?
        .block_on(async move {
            let request = http::Request::get(url).body(Empty::new())?;
            let response =
                tokio::time::timeout(Duration::from_secs(args.timeout), client.request(request))
                    .await
                    .with_context(|| format!("no answer within {} s", args.timeout))??;
            anyhow::Ok(response.status())
        })
        .with_context(|| format!("{} is not healthy", args.url))?;
    anyhow::ensure!(status.is_success(), "{} answered {status}", args.url);
    Ok(())
}
