//! Reading `serve`'s audit log back (`tessera audit`): the rotated file first, then the
//! current one, filtered by time, profile and consumer.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Which records to keep.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only records at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only this profile's.
    pub profile: Option<String>,
    /// Only this consumer's.
    pub consumer: Option<String>,
}

/// Why the log cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditReadError {
    /// A file cannot be read.
    #[error("cannot read the audit log {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A line that is not a record.
    #[error("{}:{line}: not an audit record (a JSON object with a time); is this the audit log?", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
    },
}

impl AuditFilter {
    fn keeps(&self, record: &Value, time: OffsetDateTime) -> bool {
        let field = |name: &str| record.get(name).and_then(Value::as_str);
        self.since.is_none_or(|since| time >= since)
            && self
                .profile
                .as_deref()
                .is_none_or(|p| field("profile") == Some(p))
            && self
                .consumer
                .as_deref()
                .is_none_or(|c| field("consumer") == Some(c))
    }
}

/// The records of `path` (its `.1` rotation first) that `filter` keeps, in order.
pub fn read(path: &Path, filter: &AuditFilter) -> Result<Vec<Value>, AuditReadError> {
    let mut rotated = path.as_os_str().to_owned();
    rotated.push(".1");
    let mut records = Vec::new();
    for file in [PathBuf::from(rotated), path.to_owned()] {
        if file != path && !file.exists() {
            continue;
        }
        let opened = std::fs::File::open(&file).map_err(|source| AuditReadError::Read {
            path: file.clone(),
            source,
        })?;
        for (index, line) in std::io::BufReader::new(opened).lines().enumerate() {
            let line = line.map_err(|source| AuditReadError::Read {
                path: file.clone(),
                source,
            })?;
            let malformed = || AuditReadError::Malformed {
                path: file.clone(),
                line: index + 1,
            };
            let record: Value = serde_json::from_str(&line).map_err(|_| malformed())?;
            let time = record
                .get("time")
                .and_then(Value::as_str)
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .ok_or_else(malformed)?;
            if filter.keeps(&record, time) {
                records.push(record);
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rotation_comes_first_and_filters_apply() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(
            dir.path().join("audit.log.1"),
            "{\"time\":\"2026-12-01T00:00:00Z\",\"profile\":\"a\",\"consumer\":\"x\"}\n",
        )
        .unwrap();
        std::fs::write(
            &path,
            "{\"time\":\"2026-12-01T01:00:00Z\",\"profile\":\"b\",\"consumer\":\"x\"}\n{\"time\":\"2026-12-01T02:00:00Z\",\"profile\":\"a\",\"consumer\":\"y\"}\n",
        )
        .unwrap();
        let all = read(&path, &AuditFilter::default()).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0]["profile"], "a");
        let filter = AuditFilter {
            since: Some(time::macros::datetime!(2026-12-01 00:30 UTC)),
            profile: Some("a".into()),
            ..AuditFilter::default()
        };
        let kept = read(&path, &filter).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0]["consumer"], "y");
        std::fs::write(&path, "not json\n").unwrap();
        let error = read(&path, &AuditFilter::default())
            .unwrap_err()
            .to_string();
        assert!(error.ends_with("audit.log:1: not an audit record (a JSON object with a time); is this the audit log?"), "{error}");
    }
}
