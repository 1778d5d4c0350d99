//! The audit log as journal entries (`audit-log = "journal"`): each record is one datagram to
//! systemd-journald's native socket, its fields as `TESSERA_*` journal fields plus `MESSAGE`,
//! `PRIORITY` and `SYSLOG_IDENTIFIER`, every value in the protocol's length-prefixed form so
//! no value can add a field.

use std::os::unix::net::UnixDatagram;
use std::path::Path;

use super::AuditRecord;

/// journald's native protocol socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// A connection to the journal.
#[derive(Debug)]
pub struct Journal {
    socket: UnixDatagram,
}

/// One field in the binary-safe form: `NAME\n`, the value's length (u64, little endian), the
/// value, `\n`.
fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// The datagram for one record.
fn entry(record: &AuditRecord) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(record) else {
        return out;
    };
    let text = |name: &str| fields.get(name).and_then(|v| v.as_str()).unwrap_or("-");
    let message = format!(
        "audit: {} {} profile {}",
        text("event"),
        text("channel"),
        text("profile")
    );
    field(&mut out, "MESSAGE", &message);
    field(&mut out, "PRIORITY", "6");
    field(&mut out, "SYSLOG_IDENTIFIER", "tessera");
    for (name, value) in &fields {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        field(
            &mut out,
            &format!("TESSERA_{}", name.to_ascii_uppercase()),
            &value,
        );
    }
    out
}

impl Journal {
    /// Connects to the journal at `socket`.
    pub fn connect(socket: &Path) -> std::io::Result<Self> {
        let datagram = UnixDatagram::unbound()?;
        datagram.connect(socket)?;
        Ok(Self { socket: datagram })
    }

    /// Sends one record; a failure is logged, never fatal.
    pub fn send(&self, record: &AuditRecord) {
        if let Err(error) = self.socket.send(&entry(record)) {
            tracing::warn!("cannot write the audit record to the journal: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed_so_a_value_cannot_add_a_field() {
        let record = AuditRecord {
            time: "t".into(),
            channel: "ecs",
            reason: Some("bad\nPRIORITY=0".into()),
            ..AuditRecord::default()
        };
        let datagram = entry(&record);
        let reason = b"TESSERA_REASON\n\x0e\0\0\0\0\0\0\0bad\nPRIORITY=0\n";
        assert!(datagram.windows(reason.len()).any(|w| w == reason));
        assert!(datagram.starts_with(b"MESSAGE\n"));
    }
}
