//! `tessera doctor`: the same flags as `credential-process`, plus the trust anchor's CA; prints
//! a checklist with a fix for each failure and exits 0 only when every check passes. Unless
//! `--offline`, it ends with one real CreateSession, so that what only the service can judge
//! (profile, role, trust policy, enabled flags) is checked too.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::args::RequestArgs;
use crate::clock::{Clock, SystemClock};
use crate::doctor::{
    check_chain, check_identity, check_leaf_requirements, create_session_fix, Report,
};

/// Largest clock difference to the endpoint that is reported as fine.
const MAX_SKEW: time::Duration = time::Duration::minutes(5);

/// Flags of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// The trust anchor's CA certificate(s), PEM (repeatable).
    #[arg(long, value_name = "FILE")]
    trust_anchor_ca: Vec<PathBuf>,
    /// A CRL imported into the trust anchor (repeatable).
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// Skip the checks that contact the endpoint.
    #[arg(long)]
    offline: bool,
}

pub(super) fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let mut report = Report::default();
    let settings = args.request.settings()?;
    let identity = match settings.identity_sources()? {
        Some(mut sources) => {
            sources.pkcs11_pin = super::secret_args::pkcs11_pin();
            check_identity(&mut report, &sources, &args.request.passphrase()?, now)
        }
        None => {
            report.fail(
                "certificate and key",
                "no certificate given",
                "pass --certificate (or a --profile that sets it)",
            );
            None
        }
    };
    match &identity {
        Some(identity) => {
            check_leaf_requirements(&mut report, identity.certificate());
            check_chain(
                &mut report,
                identity.as_ref(),
                &args.trust_anchor_ca,
                &args.crl,
                now,
            );
        }
        None => report.skip(
            "chain to trust anchor",
            "needs a loadable certificate and key",
        ),
    }
    match args
        .request
        .resolve_settings(settings.clone(), args.request.profile.as_deref())
    {
        Ok(profile) => {
            let params = &profile.params;
            report.pass(
                "ARNs and duration",
                format!(
                    "region {}, {} s session",
                    params.trust_anchor_arn.region(),
                    params.duration_seconds
                ),
            );
            match profile.client(clock.clone()) {
                Ok(client) => {
                    report.pass("endpoint", client.endpoint().to_string());
                    if args.offline {
                        report.skip("reachability", "--offline");
                        report.skip("CreateSession", "--offline");
                    } else {
                        let runtime = super::runtime()?;
                        match runtime.block_on(client.probe()) {
                            Ok(date) => {
                                report
                                    .pass("reachability", format!("{} answers", client.endpoint()));
                                match date {
                                    Some(remote) if (remote - clock.now()).abs() > MAX_SKEW => report.fail(
                                        "clock skew",
                                        format!("this machine's clock is {} s off the endpoint's", (remote - clock.now()).whole_seconds()),
                                        "synchronise the clock (NTP); requests more than 5 minutes off are refused",
                                    ),
                                    Some(remote) => report.pass("clock skew", format!("{} s", (remote - clock.now()).whole_seconds().abs())),
                                    None => report.skip("clock skew", "the endpoint sent no Date header"),
                                }
                                match &identity {
                                    Some(identity) => match runtime
                                        .block_on(client.create_session(params, identity.as_ref()))
                                    {
                                        // Security: only the key id and expiry are shown, never the secrets.
                                        Ok(credentials) => report.pass(
                                            "CreateSession",
                                            format!(
                                                "credentials {} issued, valid until {}",
                                                credentials.access_key_id(),
                                                crate::identity::cert::rfc3339(
                                                    credentials.expiration()
                                                )
                                            ),
                                        ),
                                        Err(error) => report.fail(
                                            "CreateSession",
                                            error.to_string(),
                                            create_session_fix(&error),
                                        ),
                                    },
                                    None => report.skip(
                                        "CreateSession",
                                        "needs a loadable certificate and key",
                                    ),
                                }
                            }
                            Err(error) => report.fail(
                                "reachability",
                                error.to_string(),
                                "check --endpoint, DNS, the network path and HTTPS_PROXY",
                            ),
                        }
                    }
                }
                Err(error) => report.fail(
                    "endpoint",
                    format!("{error:#}"),
                    "fix --endpoint / --ca-bundle",
                ),
            }
        }
        Err(error) => report.fail(
            "ARNs and duration",
            format!("{error:#}"),
            "copy the ARNs from the Roles Anywhere console or CLI",
        ),
    }
    outln!("tessera doctor")?;
    for check in &report.checks {
        outln!("{check}")?;
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, crate::doctor::Outcome::Fail { .. }))
        .count();
    anyhow::ensure!(
        report.all_passed(),
        "doctor found {failed} problem(s); see the checklist above"
    );
    outln!("all checks passed")?;
    Ok(())
}
