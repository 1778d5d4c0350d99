//! `tessera doctor` as a whole: the identity, the chain to the trust anchor, the profile's ARNs
//! and endpoint and, unless offline, reachability, clock skew and one real CreateSession.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::runtime::Runtime;

use super::{check_chain, check_identity, check_leaf_requirements, create_session_fix, Report};
use crate::clock::Clock;
use crate::config::{ConfigError, ResolvedProfile};
use crate::identity::file::Passphrase;
use crate::identity::key_ref::IdentitySources;
use crate::identity::Signer;
use crate::rolesanywhere::client::RolesAnywhereClient;

/// Largest clock difference to the endpoint that is reported as fine.
pub const MAX_SKEW: time::Duration = time::Duration::minutes(5);

/// What doctor checks.
#[derive(Debug)]
pub struct DoctorInputs {
    /// The identity's inputs and passphrase source; `None` when no certificate was given.
    pub identity: Option<(IdentitySources, Passphrase)>,
    /// The profile, or why it does not resolve.
    pub profile: Result<ResolvedProfile, ConfigError>,
    /// The trust anchor's CA certificates.
    pub trust_anchor_ca: Vec<PathBuf>,
    /// CRLs imported into the trust anchor.
    pub crl: Vec<PathBuf>,
    /// Skip what contacts the endpoint.
    pub offline: bool,
}

/// Runs every check (network ones on `runtime`) and returns the checklist.
pub fn run(inputs: &DoctorInputs, clock: Arc<dyn Clock>, runtime: &Runtime) -> Report {
    let now = clock.now();
    let mut report = Report::default();
    let identity = match &inputs.identity {
        Some((sources, passphrase)) => check_identity(&mut report, sources, passphrase, now),
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
                &inputs.trust_anchor_ca,
                &inputs.crl,
                now,
            );
        }
        None => report.skip(
            "chain to trust anchor",
            "needs a loadable certificate and key",
        ),
    }
    let profile = match &inputs.profile {
        Ok(profile) => profile,
        Err(error) => {
            report.fail(
                "ARNs and duration",
                crate::text::with_causes(error),
                "copy the ARNs from the Roles Anywhere console or CLI",
            );
            return report;
        }
    };
    let params = &profile.params;
    report.pass(
        "ARNs and duration",
        format!(
            "region {}, {} s session",
            params.trust_anchor_arn.region(),
            params.duration_seconds
        ),
    );
    let client = match profile.client(clock.clone()) {
        Ok(client) => client,
        Err(error) => {
            report.fail(
                "endpoint",
                crate::text::with_causes(&error),
                "fix --endpoint / --ca-bundle",
            );
            return report;
        }
    };
    report.pass("endpoint", client.endpoint().to_string());
    if inputs.offline {
        report.skip("reachability", "--offline");
        report.skip("CreateSession", "--offline");
    } else {
        check_online(
            &mut report,
            &client,
            profile,
            identity.as_deref(),
            clock.as_ref(),
            runtime,
        );
    }
    report
}

/// Reachability, clock skew against the endpoint's `Date`, and one CreateSession.
fn check_online(
    report: &mut Report,
    client: &RolesAnywhereClient,
    profile: &ResolvedProfile,
    identity: Option<&dyn Signer>,
    clock: &dyn Clock,
    runtime: &Runtime,
) {
    let date = match runtime.block_on(client.probe()) {
        Ok(date) => date,
        Err(error) => {
            report.fail(
                "reachability",
                error.to_string(),
                "check --endpoint, DNS, the network path and HTTPS_PROXY",
            );
            return;
        }
    };
    report.pass("reachability", format!("{} answers", client.endpoint()));
    match date.map(|remote| remote - clock.now()) {
        Some(skew) if skew.abs() > MAX_SKEW => report.fail(
            "clock skew",
            format!(
                "this machine's clock is {} s off the endpoint's",
                skew.whole_seconds()
            ),
            "synchronise the clock (NTP); requests more than 5 minutes off are refused",
        ),
        Some(skew) => report.pass("clock skew", format!("{} s", skew.whole_seconds().abs())),
        None => report.skip("clock skew", "the endpoint sent no Date header"),
    }
    let Some(identity) = identity else {
        report.skip("CreateSession", "needs a loadable certificate and key");
        return;
    };
    match runtime.block_on(client.create_session(&profile.params, identity)) {
        // Security: only the key id and expiry are shown, never the secrets.
        Ok(credentials) => report.pass(
            "CreateSession",
            format!(
                "credentials {} issued, valid until {}",
                credentials.access_key_id(),
                crate::time_format::rfc3339(credentials.expiration())
            ),
        ),
        Err(error) => report.fail(
            "CreateSession",
            error.to_string(),
            create_session_fix(&error),
        ),
    }
}
