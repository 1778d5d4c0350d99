//! `tessera quickstart`: the whole flow on a fresh machine. Creates a local CA and a demo
//! certificate if absent, starts the local anchor in-process, obtains credentials with the demo
//! identity, proves them with GetCallerIdentity, and prints what to paste into ~/.aws/config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::local_anchor::{self, DEFAULT_LISTEN};
use crate::clock::{Clock, SystemClock};
use crate::http::build_client;
use crate::identity::file::{FileIdentity, Passphrase};
use crate::identity::key_ref::{IdentitySources, KeyRef};
use crate::pki::{IssueOptions, KeyType, LeafKey, LeafPurpose, DEFAULT_CA_DIR};
use crate::rolesanywhere::client::{RolesAnywhereClient, DEFAULT_TIMEOUT};
use crate::rolesanywhere::model::SessionParams;
use crate::service::Service;
use crate::time_format::rfc3339;

/// Flags of `quickstart`.
#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Local CA directory (created if missing).
    #[arg(long, env = "TESSERA_CA_DIR", default_value = DEFAULT_CA_DIR, value_name = "DIR")]
    ca_dir: PathBuf,
    /// Address the embedded anchor listens on.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Exit after proving the credentials instead of serving until Ctrl-C.
    #[arg(long)]
    once: bool,
}

pub(super) fn run(args: QuickstartArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ca = local_anchor::ensure_ca(&args.ca_dir, clock.now())?;
    let demo = demo_files(&ca, clock.as_ref())?;
    let state = local_anchor::load_state(None, &ca)?;
    let arns = match (state.trust_anchors.first(), state.profiles.first()) {
        (Some(a), Some(p)) => Arns {
            anchor: a.arn.clone(),
            profile: p.arn.clone(),
            role: p.role_arns.first().cloned().unwrap_or_default(),
        },
        _ => anyhow::bail!("the default anchor config has no trust anchor or profile"),
    };
    let region = state.region.clone();

    super::server_runtime()?.block_on(async move {
        let listener = local_anchor::bind(args.listen, false).await?;
        let endpoint: http::Uri = format!("http://{}", listener.local_addr()?).parse()?;
        let anchor = local_anchor::anchor(state, None, clock.clone(), &ca)?;
        let mut service = Service::new(crate::server::DEFAULT_DRAIN_TIMEOUT);
        crate::anchor::server::serve(anchor, &mut service, listener, None, true);
        let sources = IdentitySources {
            certificate: KeyRef::File(demo.certificate.clone()),
            private_key: Some(KeyRef::File(demo.key.clone())),
            intermediates: demo.intermediates.clone().map(KeyRef::File),
            pkcs11_lib: None,
            access: Default::default(),
        };
        let identity = FileIdentity::load(&sources, &Passphrase::PromptIfTerminal, clock.now())?;
        let params = SessionParams::new(&arns.anchor, &arns.profile, &arns.role, 3600, None)?;
        let http = build_client(&super::args::default_client_options(false))?;
        let client = RolesAnywhereClient::new(
            http.clone(),
            endpoint.clone(),
            region.clone(),
            DEFAULT_TIMEOUT,
            clock.clone(),
        );
        let credentials = client
            .create_session(&params, &identity)
            .await
            .context("the local anchor refused the demo identity")?;
        let arn =
            crate::sts::get_caller_identity(&http, &endpoint, &region, &credentials, clock.now())
                .await?;
        outln!("tessera quickstart: the local trust anchor is running at {endpoint}")?;
        outln!(
            "obtained credentials {} valid until {}",
            credentials.access_key_id(),
            rfc3339(credentials.expiration())
        )?;
        outln!("proved them with STS GetCallerIdentity: {arn}")?;
        print_profile(&endpoint, &region, &demo, &arns)?;
        if !args.once {
            outln!()?;
            outln!("The anchor keeps running until Ctrl-C.")?;
            crate::service::termination().await;
        }
        service.stop().await;
        anyhow::Ok(())
    })
}

/// The local anchor's trust anchor, profile and role.
struct Arns {
    anchor: String,
    profile: String,
    role: String,
}

/// The demo identity's files in the CA directory.
struct DemoFiles {
    certificate: PathBuf,
    key: PathBuf,
    intermediates: Option<PathBuf>,
}

/// The demo certificate and key, issued on the first run.
fn demo_files(ca: &crate::pki::LocalCa, clock: &dyn Clock) -> anyhow::Result<DemoFiles> {
    let certificate = ca.dir().join("demo.pem");
    let key = ca.dir().join("demo.key");
    if !certificate.exists() || !key.exists() {
        let options = IssueOptions {
            common_name: "demo".into(),
            name: Some("demo".into()),
            sans: vec!["uri:spiffe://tessera.local/demo".into()],
            days: crate::pki::DEFAULT_LEAF_DAYS,
            key: LeafKey::Generate(KeyType::P256),
            purpose: LeafPurpose::Client,
            force: true,
        };
        ca.issue(&options, clock.now())?;
        eprintln!("issued a demo certificate {}", certificate.display());
    }
    let intermediates = ca.intermediate_certificate();
    Ok(DemoFiles {
        certificate,
        key,
        intermediates: intermediates.exists().then_some(intermediates),
    })
}

/// The `~/.aws/config` profile that uses the demo identity, and a command to try it.
fn print_profile(
    endpoint: &http::Uri,
    region: &str,
    demo: &DemoFiles,
    arns: &Arns,
) -> anyhow::Result<()> {
    let exe = crate::launcher::command_path()
        .map_or_else(|_| "tessera".to_owned(), |p| p.display().to_string());
    let absolute = |p: &PathBuf| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string()
    };
    let chain_flag = demo
        .intermediates
        .as_ref()
        .map(|p| format!(" --intermediates {}", absolute(p)))
        .unwrap_or_default();
    let endpoint = endpoint.to_string();
    let endpoint = endpoint.trim_end_matches('/');
    outln!()?;
    outln!("Paste this into ~/.aws/config:")?;
    outln!()?;
    outln!("[profile tessera-demo]")?;
    outln!("region = {region}")?;
    outln!(
        "credential_process = {exe} credential-process --certificate {} --private-key {}{chain_flag} --trust-anchor-arn {} --profile-arn {} --role-arn {} --endpoint {endpoint}",
        absolute(&demo.certificate),
        absolute(&demo.key),
        arns.anchor,
        arns.profile,
        arns.role,
    )?;
    outln!()?;
    outln!("and try: aws sts get-caller-identity --profile tessera-demo --endpoint-url {endpoint}")
}
