//! `tessera status`: serve's status page in a terminal, from its admin listener's
//! `/status.json`.

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use crate::oidc::OidcHttp;

/// Flags of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// serve's admin listener.
    #[arg(
        long,
        env = "TESSERA_ADMIN_URL",
        default_value = "http://127.0.0.1:9912"
    )]
    url: String,
}

fn text(value: &Value, name: &str) -> String {
    let raw = value.get(name).and_then(Value::as_str).unwrap_or("–");
    crate::text::printable(raw, 200)
}

fn profile_lines(profile: &Value) -> anyhow::Result<()> {
    let expiry = match profile.get("expires_in_seconds").and_then(Value::as_i64) {
        Some(seconds) => format!(
            "credentials expire {} ({})",
            crate::serve::status_page::countdown(seconds),
            text(profile, "expires_at")
        ),
        None => "no credentials".to_owned(),
    };
    let certificate = match profile
        .get("certificate_expires_in_seconds")
        .and_then(Value::as_i64)
    {
        Some(seconds) => format!(
            "certificate NotAfter {} (expires {}){}",
            text(profile, "certificate_not_after"),
            crate::serve::status_page::countdown(seconds),
            if profile.get("certificate_warning") == Some(&Value::Bool(true)) {
                ", WARNING: renew it"
            } else {
                ""
            }
        ),
        None => "certificate not loaded".to_owned(),
    };
    outln!(
        "profile {}: {}; {expiry}; {certificate}",
        text(profile, "name"),
        text(profile, "health")
    )?;
    let last = profile.get("last_refresh").cloned().unwrap_or(Value::Null);
    outln!(
        "  last refresh {} {}; next {}",
        text(&last, "at"),
        text(&last, "outcome"),
        text(profile, "next_refresh")
    )
}

pub(super) fn run(args: StatusArgs) -> anyhow::Result<()> {
    let url: http::Uri = format!("{}/status.json", args.url.trim_end_matches('/'))
        .parse()
        .with_context(|| format!("--url '{}' is not a URL", args.url))?;
    let options = crate::http::ClientOptions {
        needs_tls: url.scheme_str() == Some("https"),
        ..super::args::default_client_options(false)
    };
    let http = OidcHttp::new(crate::http::build_client(&options)?);
    let report: Value = super::runtime()?
        .block_on(http.get_json(&url))
        .with_context(|| format!("cannot read serve's status at {url}"))?;
    let list = |name: &str| {
        report
            .get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for profile in list("profiles") {
        profile_lines(&profile)?;
    }
    for consumer in list("consumers") {
        let last = consumer.get("last_fetch").cloned().unwrap_or(Value::Null);
        outln!(
            "consumer {}: last fetch {} {} {}",
            text(&consumer, "name"),
            text(&last, "at"),
            text(&last, "profile"),
            text(&last, "outcome")
        )?;
    }
    Ok(())
}
