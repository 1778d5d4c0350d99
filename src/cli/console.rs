//! `tessera console`: flags and output; the work is in [`crate::console`].

use std::sync::Arc;

use clap::Args;

use super::args::RequestArgs;
use crate::clock::{Clock, SystemClock};
use crate::console::{self, Partition};
use crate::credentials::process_cache;
use crate::oidc::OidcHttp;

/// Flags of `console`.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Where the console opens: a console URL, or a service (s3, ec2, iam, lambda, …).
    #[arg(long, value_name = "URL|SERVICE")]
    destination: Option<String>,
    /// Console session length in seconds (SessionDuration; dropped if the endpoint refuses it).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(900..=43_200))]
    duration: Option<u32>,
    /// Print the sign-in URL instead of opening a browser (it holds a bearer token).
    #[arg(long)]
    print: bool,
    /// The federation sign-in endpoint (default: the partition's; the local anchor serves one at /federation).
    #[arg(long, value_name = "URL")]
    federation_endpoint: Option<String>,
    /// Use the region's own sign-in host (REGION.signin.aws.amazon.com).
    #[arg(long)]
    regional_signin: bool,
}

pub(super) fn run(args: ConsoleArgs) -> anyhow::Result<()> {
    let profile = args.request.resolve()?;
    let partition = Partition::of_region(&profile.region);
    let endpoint = console::parse_endpoint(&match &args.federation_endpoint {
        Some(url) => url.clone(),
        None => console::federation_endpoint(partition, &profile.region, args.regional_signin),
    })?;
    let destination =
        console::console_destination(args.destination.as_deref(), &profile.region, partition)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runtime = super::runtime()?;
    let credentials = process_cache::fetch(&profile, clock.clone(), &runtime)?;
    crate::audit::record_profile_handout(&profile, "console", &credentials, clock.now());
    let options = crate::http::ClientOptions {
        needs_tls: endpoint.scheme_str() == Some("https"),
        ..profile.client_options.clone()
    };
    let http = OidcHttp::new(crate::http::build_client(&options)?);
    let token = runtime.block_on(console::signin_token(
        &http,
        &endpoint,
        &credentials,
        args.duration,
        clock.now(),
    ))?;
    let url = console::login_url(&endpoint, &destination, &token);
    if args.print || !super::browser::open(url.expose_secret()) {
        outln!("{}", url.expose_secret())?;
    } else {
        eprintln!("tessera: opened the console in the browser");
    }
    Ok(())
}
