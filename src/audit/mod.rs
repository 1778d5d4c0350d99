//! The audit log: one JSON line per credential handed out (by serve, credential-process, exec,
//! update and console), per refusal and per refresh, appended (O_APPEND) to a 0600 file that
//! rotates by size. It never holds a secret: only names, ARNs, access key ids, times and
//! reasons. `query.rs` reads it back.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

pub mod journal;
pub mod query;

/// Size at which the file is rotated to `FILE.1` (the previous `FILE.1` is dropped).
pub const ROTATE_BYTES: u64 = 16 * 1024 * 1024;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// Credentials were handed out.
    Credentials,
    /// A request was refused.
    Refused,
    /// A profile's credentials were refreshed (or failed to be).
    Refresh,
}

/// One line of the audit log.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// RFC 3339.
    pub time: String,
    /// What happened.
    pub event: Option<Event>,
    /// `ecs`, `imds`, `socket` (or `refresh`).
    pub channel: &'static str,
    /// The consumer's name, when one was matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// A socket peer's uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// A socket peer's pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// A socket peer's executable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    /// A TCP client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// The profile asked for (as sent, made printable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The credentials' access key id (not a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// When they expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// The certificate serial, hex (refreshes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// CreateSession's request id (refreshes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `success` or `failure` (refreshes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// Why a request was refused, or a refresh failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AuditRecord {
    /// A record of a request on `channel` from `caller`, at `now`.
    pub fn request(
        now: time::OffsetDateTime,
        event: Event,
        channel: &'static str,
        caller: &crate::serve::consumers::Caller,
    ) -> Self {
        let mut record = Self {
            time: crate::time_format::rfc3339(now),
            event: Some(event),
            channel,
            ..Self::default()
        };
        match caller.peer {
            crate::server::Peer::Tcp(address) => record.remote = Some(address.to_string()),
            crate::server::Peer::Unix(peer) => {
                record.uid = Some(peer.uid);
                record.pid = peer.pid;
                record.executable = caller
                    .executable
                    .as_ref()
                    .map(|p| crate::text::printable(&p.to_string_lossy(), 256));
            }
        }
        record
    }
}

impl AuditRecord {
    /// A record of credentials this very process hands out (credential-process, exec, update,
    /// console): its uid, pid and executable, named as the `tessera` command users run whichever
    /// of the two binaries answered ([`crate::launcher::command_path`]).
    pub fn this_process(now: time::OffsetDateTime, channel: &'static str) -> Self {
        Self {
            time: crate::time_format::rfc3339(now),
            event: Some(Event::Credentials),
            channel,
            uid: Some(rustix::process::getuid().as_raw()),
            pid: i32::try_from(std::process::id()).ok(),
            executable: crate::launcher::command_path()
                .ok()
                .map(|p| crate::text::printable(&p.to_string_lossy(), 256)),
            ..Self::default()
        }
    }

    /// `self` as a handout of `credentials` for `role_arn`.
    pub fn handout(
        self,
        consumer: Option<String>,
        role_arn: &str,
        credentials: &crate::aws_credentials::Credentials,
    ) -> Self {
        Self {
            event: Some(Event::Credentials),
            consumer,
            role_arn: Some(role_arn.to_owned()),
            access_key_id: Some(credentials.access_key_id().to_owned()),
            expiration: Some(crate::time_format::rfc3339(credentials.expiration())),
            ..self
        }
    }
}

/// Appends one record of credentials handed out by this process for `profile` to `log`, if
/// there is one; a log that cannot be opened is a warning, never a failure.
pub fn record_handout(
    log: Option<&Path>,
    channel: &'static str,
    profile: Option<&str>,
    role_arn: &str,
    credentials: &crate::aws_credentials::Credentials,
    now: time::OffsetDateTime,
) {
    let Some(path) = log else { return };
    match AuditLog::open(path) {
        Ok(log) => {
            let mut record =
                AuditRecord::this_process(now, channel).handout(None, role_arn, credentials);
            record.profile = Some(profile.unwrap_or("default").to_owned());
            log.write(&record);
        }
        Err(error) => tracing::warn!("{}", crate::text::with_causes(&error)),
    }
}

/// [`record_handout`] for a resolved profile.
pub fn record_profile_handout(
    profile: &crate::config::ResolvedProfile,
    channel: &'static str,
    credentials: &crate::aws_credentials::Credentials,
    now: time::OffsetDateTime,
) {
    record_handout(
        profile.audit_log.as_deref(),
        channel,
        profile.name.as_deref(),
        profile.final_role_arn(),
        credentials,
        now,
    );
}

/// Why the log cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit log {}", path.display())]
pub struct AuditOpenError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The open log: a file, or the journal (`journal` as the path).
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    // A sync mutex: held for one append (and a rare rotation), never across an await.
    file: Option<Mutex<File>>,
    journal: Option<journal::Journal>,
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        // Security: never written through a symlink someone planted in its place.
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

impl AuditLog {
    /// Opens (creating 0600) the log at `path`; `journal` means the systemd journal.
    pub fn open(path: &Path) -> Result<Self, AuditOpenError> {
        let failed = |source| AuditOpenError {
            path: path.to_owned(),
            source,
        };
        if path == Path::new("journal") {
            let journal =
                journal::Journal::connect(Path::new(journal::JOURNAL_SOCKET)).map_err(failed)?;
            return Ok(Self {
                path: path.to_owned(),
                file: None,
                journal: Some(journal),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            file: Some(Mutex::new(open(path).map_err(failed)?)),
            journal: None,
        })
    }

    /// The last `n` records (as written; each is JSON without secrets), from the file's last
    /// 64 KiB.
    pub fn tail(&self, n: usize) -> Vec<serde_json::Value> {
        use std::io::{Read, Seek, SeekFrom};
        if self.journal.is_some() {
            return Vec::new();
        }
        let Ok(mut file) = File::open(&self.path) else {
            return Vec::new();
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or_default();
        let start = length.saturating_sub(64 * 1024);
        let mut text = String::new();
        if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_string(&mut text).is_err() {
            return Vec::new();
        }
        let lines: Vec<&str> = text.lines().skip(usize::from(start > 0)).collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Appends one record as a line; rotates first when the file has grown past
    /// [`ROTATE_BYTES`]. A failed write is logged, never fatal.
    pub fn write(&self, record: &AuditRecord) {
        if let Some(journal) = &self.journal {
            return journal.send(record);
        }
        let Some(file) = &self.file else { return };
        let Ok(mut line) = serde_json::to_string(record) else {
            return;
        };
        line.push('\n');
        let mut file = file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if file.metadata().is_ok_and(|m| m.len() >= ROTATE_BYTES) {
            let rotated = self.path.with_extension(match self.path.extension() {
                Some(ext) => format!("{}.1", ext.to_string_lossy()),
                None => "1".to_owned(),
            });
            match std::fs::rename(&self.path, &rotated).and_then(|()| open(&self.path)) {
                Ok(fresh) => *file = fresh,
                Err(error) => tracing::warn!("cannot rotate the audit log: {error}"),
            }
        }
        if let Err(error) = file.write_all(line.as_bytes()) {
            tracing::warn!(
                "cannot write the audit log {}: {error}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn records_are_json_lines_in_a_0600_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.write(&AuditRecord {
            time: "2026-12-01T00:00:00Z".into(),
            event: Some(Event::Refused),
            channel: "socket",
            uid: Some(1001),
            profile: Some("b".into()),
            reason: Some("not granted".into()),
            ..AuditRecord::default()
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"time\":\"2026-12-01T00:00:00Z\",\"event\":\"refused\",\"channel\":\"socket\",\"uid\":1001,\"profile\":\"b\",\"reason\":\"not granted\"}\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_symlink_in_place_of_the_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
        assert!(AuditLog::open(&path).is_err());
    }
}
