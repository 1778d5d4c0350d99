//! `tessera login` and `tessera logout`: flags and progress lines; the work is in
//! [`crate::login`]. `places.rs` finds the files a profile's login uses; `logout.rs` is
//! `logout` and `login --status`.

mod logout;
mod places;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

pub(super) use self::logout::{logout, LogoutArgs};
use self::places::{existing_profile, places, resolve, LoginTargetArgs};
use crate::clock::{Clock, SystemClock};
use crate::login::new_key::{self, KeyPlace, NewKey};
use crate::login::store::{self, ProfileValues};
use crate::login::{self, LoginSettings, Method, Prompt};
use crate::oidc::OidcHttp;

/// Flags of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    target: LoginTargetArgs,
    /// The identity provider's issuer URL (kept in the profile).
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// The OAuth client id registered for tessera at the identity provider.
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// The enrolment CA's URL (step-ca compatible: /1.0/sign under it).
    #[arg(long, value_name = "URL")]
    enrol_url: Option<String>,
    /// Scopes to ask for (default: "openid email profile groups").
    #[arg(long, value_name = "SCOPES")]
    scopes: Option<String>,
    /// Loopback port for the browser's redirect (default: any free port).
    #[arg(long, value_name = "PORT")]
    redirect_port: Option<u16>,
    /// Trust anchor ARN for the profile.
    #[arg(long, value_name = "ARN")]
    trust_anchor_arn: Option<String>,
    /// Roles Anywhere profile ARN.
    #[arg(long, value_name = "ARN")]
    profile_arn: Option<String>,
    /// Role ARN.
    #[arg(long, value_name = "ARN")]
    role_arn: Option<String>,
    /// Region.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Roles Anywhere endpoint override (e.g. the local anchor).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// CA bundle (PEM) for the identity provider, the enrolment CA and the endpoint.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    /// Sign in with the device flow: print a URL and a code to enter on another device.
    #[arg(long, conflicts_with = "no_browser")]
    device: bool,
    /// Print the sign-in URL instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
    /// How long to wait for the browser to come back, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    browser_timeout: u64,
    /// Where to generate the key: file (default, 0600), keyring:SERVICE/NAME, or
    /// pkcs11:…;object=NAME (generated on the token; PIN from pin-source= or TESSERA_PKCS11_PIN).
    #[arg(long, value_name = "PLACE")]
    key: Option<String>,
    /// PKCS#11 module for a pkcs11: --key without module-path=.
    #[arg(long, value_name = "FILE")]
    pkcs11_lib: Option<PathBuf>,
    /// Show the profile's identity and certificate expiry instead of signing in.
    #[arg(long)]
    status: bool,
}

pub(super) fn run(args: LoginArgs) -> anyhow::Result<()> {
    let places = places(&args.target)?;
    let profile_name = args.target.profile.clone();
    let existing = existing_profile(&places.config, &profile_name)?;
    if args.status {
        return logout::status(&places, &profile_name, &existing);
    }
    let settings = LoginSettings {
        issuer: args.issuer.clone(),
        client_id: args.client_id.clone(),
        enrol_url: args.enrol_url.clone(),
        scopes: args.scopes.clone(),
        redirect_port: args.redirect_port,
        key: args.key.clone(),
    }
    .over(existing.login.clone().unwrap_or_default());
    let target = settings.target(&profile_name)?;
    let place = KeyPlace::parse(settings.key.as_deref())?;
    let pkcs11_lib = args.pkcs11_lib.clone().or(existing.pkcs11_lib.clone());
    let ca_bundle = args
        .ca_bundle
        .clone()
        .or(existing.ca_bundle.clone())
        .or_else(crate::cli::args::aws_ca_bundle);
    let options = crate::http::ClientOptions {
        ca_bundle: ca_bundle.clone(),
        ..crate::cli::args::default_client_options(true)
    };
    let http = OidcHttp::new(crate::http::build_client(&options)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runtime = crate::cli::runtime()?;
    let signed_in = sign_in(&args, &http, &target, &runtime, clock.as_ref())?;
    // The IdP's words reach the terminal: control characters are replaced.
    let who = crate::text::printable(
        signed_in
            .claims
            .string("email")
            .unwrap_or(signed_in.claims.subject()),
        200,
    );
    eprintln!(
        "tessera: signed in as {who}; enrolling a new key at {} …",
        target.enrol_url
    );
    let enrolled = enrol_new_key(
        &http,
        &target,
        &signed_in,
        &who,
        &places,
        &place,
        pkcs11_lib.as_deref(),
        &runtime,
    )?;
    let values = profile_values(&args, ca_bundle, pkcs11_lib, settings, place);
    store::write_profile(
        &places.config,
        &profile_name,
        &places.paths,
        &values,
        enrolled.chain_pem.is_some(),
    )?;
    store::write_credential_process(&places.aws_config, &profile_name, &places.command)?;
    eprintln!("tessera: certificate stored; proving it with CreateSession and GetCallerIdentity …");
    let resolved = resolve(&places.config, &profile_name)?;
    let overridden = existing.endpoint.is_some() || args.endpoint.is_some();
    let sts = login::prove::sts_endpoint(&resolved, overridden);
    let (_, arn) = login::prove::prove(&resolved, &sts, clock, &runtime)?;
    outln!("signed in as {who}")?;
    outln!("role: {arn}")?;
    outln!(
        "certificate expires: {}",
        crate::time_format::rfc3339(enrolled.certificate.not_after())
    )?;
    outln!("profile: {profile_name} (aws --profile {profile_name} …)")?;
    Ok(())
}

/// Generates the key where `place` says, enrols it and stores the certificate; a device key
/// that did not get a certificate is removed again, so no key is left behind.
#[allow(clippy::too_many_arguments)]
fn enrol_new_key(
    http: &OidcHttp,
    target: &login::LoginTarget,
    signed_in: &login::SignedIn,
    who: &str,
    places: &places::Places,
    place: &KeyPlace,
    pkcs11_lib: Option<&std::path::Path>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<login::enrol::Enrolled> {
    let access = crate::cli::secret_args::key_access();
    let key = NewKey::generate(place, &access, pkcs11_lib)?;
    let enrolled = runtime
        .block_on(login::enrol::enrol(
            http,
            &target.enrol_url,
            &signed_in.id_token,
            who,
            &key,
        ))
        .map_err(anyhow::Error::from)
        .and_then(|enrolled| {
            places.paths.save(&enrolled, &key, place)?;
            Ok(enrolled)
        });
    if enrolled.is_err() && matches!(place, KeyPlace::Pkcs11(_) | KeyPlace::Tpm(_)) {
        let _ = new_key::remove(place, &places.paths.key, &access, pkcs11_lib);
    }
    enrolled
}

/// The sign-in at the identity provider, with its prompts on stderr.
fn sign_in(
    args: &LoginArgs,
    http: &OidcHttp,
    target: &login::LoginTarget,
    runtime: &tokio::runtime::Runtime,
    clock: &dyn Clock,
) -> anyhow::Result<login::SignedIn> {
    let method = if args.device {
        Method::Device
    } else {
        Method::Browser(Duration::from_secs(args.browser_timeout))
    };
    let no_browser = args.no_browser;
    eprintln!("tessera: signing in at {} …", target.issuer);
    let mut prompt = |p: Prompt<'_>| show_prompt(p, no_browser);
    Ok(
        runtime.block_on(login::sign_in(http, target, method, &mut prompt, || {
            clock.now()
        }))?,
    )
}

fn show_prompt(prompt: Prompt<'_>, no_browser: bool) {
    match prompt {
        Prompt::OpenUrl(url) => {
            let opened = !no_browser && crate::cli::browser::open(url.expose_secret());
            if !opened {
                eprintln!(
                    "tessera: open this URL in a browser to sign in:\n{}",
                    url.expose_secret()
                );
            }
            eprintln!("tessera: waiting for the browser …");
        }
        Prompt::DeviceCode {
            uri,
            complete,
            code,
        } => {
            eprintln!("tessera: to sign in, open {uri} and enter the code {code}");
            if let Some(complete) = complete {
                eprintln!("tessera: or open {complete}");
            }
            eprintln!("tessera: waiting for the sign-in to be approved …");
        }
    }
}

fn profile_values(
    args: &LoginArgs,
    ca_bundle: Option<PathBuf>,
    pkcs11_lib: Option<PathBuf>,
    mut login: LoginSettings,
    key: KeyPlace,
) -> ProfileValues {
    let mut settings = Vec::new();
    for (name, value) in [
        ("trust-anchor-arn", &args.trust_anchor_arn),
        ("profile-arn", &args.profile_arn),
        ("role-arn", &args.role_arn),
        ("region", &args.region),
        ("endpoint", &args.endpoint),
    ] {
        if let Some(value) = value {
            settings.push((name, value.clone()));
        }
    }
    if let Some(bundle) = ca_bundle.filter(|_| args.ca_bundle.is_some()) {
        settings.push(("ca-bundle", bundle.display().to_string()));
    }
    if let Some(lib) = pkcs11_lib {
        settings.push(("pkcs11-lib", lib.display().to_string()));
    }
    login.key = key.setting();
    ProfileValues {
        settings,
        login,
        key,
    }
}
