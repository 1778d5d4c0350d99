//! `serve`'s consumers, audit log and socket, from flags and the config file.

use anyhow::Context;

use super::ServeArgs;
use crate::audit::AuditLog;
use crate::cli::args::LoadedConfig;
use crate::serve::consumers::Consumers;
use crate::serve::ImdsOptions;

/// The config's `[[consumers]]`, checked against the served profiles; IMDS, when on, needs
/// one that opts the host in once consumers are declared.
pub(super) fn load(
    config: Option<&LoadedConfig>,
    served: &[String],
    imds: Option<&ImdsOptions>,
) -> anyhow::Result<Consumers> {
    let Some(config) = config else {
        return Ok(Consumers::default());
    };
    let names = served.iter().cloned().collect();
    let consumers = Consumers::load(&config.file.consumers, &names)
        .with_context(|| format!("[[consumers]] in {}", config.path.display()))?;
    if let Some(imds) = imds.filter(|_| !consumers.is_empty()) {
        let opted_in = consumers
            .for_imds()
            .is_some_and(|c| c.may_fetch(&imds.profile));
        anyhow::ensure!(
            opted_in,
            "IMDS is on for profile {}, but with [[consumers]] declared it needs one with imds = true that is granted {} (IMDS cannot tell local processes apart)",
            imds.profile,
            imds.profile
        );
    }
    Ok(consumers)
}

/// The audit log: `--audit-log`, else `audit-log` in the config.
pub(super) fn audit_log(
    args: &ServeArgs,
    config: Option<&LoadedConfig>,
) -> anyhow::Result<Option<AuditLog>> {
    let path = args
        .audit_log
        .clone()
        .or_else(|| config.and_then(|c| c.file.audit_log.clone()));
    Ok(path.map(|p| AuditLog::open(&p)).transpose()?)
}

/// `--socket` (with `--socket-group`), bound.
pub(super) fn bind_socket(args: &ServeArgs) -> anyhow::Result<Option<tokio::net::UnixListener>> {
    let Some(path) = &args.socket else {
        return Ok(None);
    };
    let group = match &args.socket_group {
        Some(name) => Some(crate::serve::socket::group_id(name).with_context(|| {
            format!("--socket-group '{name}' is neither a number nor a group in /etc/group")
        })?),
        None => None,
    };
    Ok(Some(crate::serve::socket::bind(path, group)?))
}
