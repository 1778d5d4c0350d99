//! `tessera audit`: prints serve's audit log, filtered; the reading is [`crate::audit::query`].

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use time::OffsetDateTime;

use crate::audit::query::{self, AuditFilter};
use crate::clock::{Clock, SystemClock};

/// Flags of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The audit log (default: `audit-log` in the config file).
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// The config file whose `audit-log` to read.
    #[arg(long, env = "TESSERA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Only records since T: an RFC 3339 time, or an age such as 30m, 12h, 7d.
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Only this profile's records.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Only this consumer's records.
    #[arg(long, value_name = "NAME")]
    consumer: Option<String>,
    /// Print the records as JSON lines instead of columns.
    #[arg(long)]
    json: bool,
}

/// `30m`, `12h`, `7d` before `now`, or an RFC 3339 time.
fn since(text: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let unit = |suffix: char, seconds: i64| {
        text.strip_suffix(suffix)
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(|n| now - time::Duration::seconds(n.saturating_mul(seconds)))
    };
    unit('s', 1)
        .or_else(|| unit('m', 60))
        .or_else(|| unit('h', 3600))
        .or_else(|| unit('d', 86_400))
        .with_context(|| {
            format!(
                "--since '{text}' is neither an RFC 3339 time nor an age such as 30m, 12h or 7d"
            )
        })
}

pub(super) fn run(args: AuditArgs) -> anyhow::Result<()> {
    let path = match &args.file {
        Some(path) => path.clone(),
        None => {
            let config = args
                .config
                .clone()
                .or_else(super::args::default_config_path)
                .context("no audit log: pass --file")?;
            crate::config::ConfigFile::read(&config)?
                .audit_log
                .with_context(|| format!("{} has no audit-log; pass --file", config.display()))?
        }
    };
    let filter = AuditFilter {
        since: args
            .since
            .as_deref()
            .map(|t| since(t, SystemClock.now()))
            .transpose()?,
        profile: args.profile,
        consumer: args.consumer,
    };
    for record in query::read(&path, &filter)? {
        if args.json {
            outln!("{record}")?;
            continue;
        }
        let field = |name: &str| {
            let text = record.get(name).and_then(|v| v.as_str()).unwrap_or("-");
            crate::text::printable(text, 200)
        };
        let who = record
            .get("uid")
            .map(|uid| format!("uid {uid}"))
            .unwrap_or_else(|| field("remote"));
        let detail = match field("event").as_str() {
            "refused" => field("reason"),
            _ => format!("{} until {}", field("access_key_id"), field("expiration")),
        };
        outln!(
            "{}  {:<11} {:<7} {:<16} {:<22} {:<16} {detail}",
            field("time"),
            field("event"),
            field("channel"),
            field("consumer"),
            who,
            field("profile"),
        )?;
    }
    Ok(())
}
