//! The status page as HTML, rendered here: no scripts, no external assets, every value
//! escaped, and a Content-Security-Policy that allows nothing but its own inline stylesheet
//! (by hash). It reloads itself every 5 s with a meta refresh, which needs no script.

use base64::Engine;

use super::status::{ProfileStatus, StatusReport};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin-bottom:1.5em}\
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.fresh{color:#176117}.degraded{color:#8a6100}\
.failed,.starting{color:#a11}.warn{background:#fff1c2;font-weight:bold}\
.refused{color:#a11}.small{color:#666;font-size:12px}";

/// The page's Content-Security-Policy: its stylesheet only.
pub fn content_security_policy() -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, STYLE.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// "in 2 d 23 h", "in 1 h 2 min", "in 42 s", or "expired".
pub fn countdown(seconds: i64) -> String {
    match seconds {
        s if s <= 0 => "expired".to_owned(),
        s if s >= 86_400 => format!("in {} d {} h", s / 86_400, (s % 86_400) / 3600),
        s if s < 60 => format!("in {s} s"),
        s if s < 3600 => format!("in {} min {} s", s / 60, s % 60),
        s => format!("in {} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn or_dash(value: Option<&str>) -> String {
    escape(value.unwrap_or("–"))
}

fn profile_row(p: &ProfileStatus) -> String {
    let last = p.last_refresh.as_ref().map_or("–".to_owned(), |r| {
        format!("{} ({})", escape(&r.at), r.outcome)
    });
    let expiry = match (&p.expires_at, p.expires_in_seconds) {
        (Some(at), Some(seconds)) => format!(
            "<span class=\"countdown\">{}</span> <span class=\"small\">{}</span>",
            countdown(seconds),
            escape(at)
        ),
        _ => "–".to_owned(),
    };
    let certificate = match (&p.certificate_not_after, p.certificate_expires_in_seconds) {
        (Some(at), Some(seconds)) => format!(
            "<td class=\"certificate{}\">{} (expires {})</td>",
            if p.certificate_warning { " warn" } else { "" },
            escape(at),
            countdown(seconds)
        ),
        _ => "<td>–</td>".to_owned(),
    };
    format!(
        "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{last}</td><td>{}</td><td>{expiry}</td>{certificate}</tr>\n",
        escape(&p.name),
        p.health,
        p.health,
        escape(&p.role_arn),
        or_dash(p.next_refresh.as_deref()),
    )
}

fn history_rows(report: &StatusReport) -> String {
    let mut rows = String::new();
    for profile in &report.profiles {
        for entry in profile.history.iter().rev() {
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>\n",
                escape(&profile.name),
                escape(&entry.at),
                if entry.outcome == "failure" {
                    "refused"
                } else {
                    ""
                },
                entry.outcome,
                or_dash(entry.reason.as_deref().or(entry.access_key_id.as_deref())),
            ));
        }
    }
    rows
}

fn consumer_rows(report: &StatusReport) -> String {
    if report.consumers.is_empty() {
        return "<tr><td colspan=\"3\">none declared: ECS needs each profile's token, and the socket is open to whoever may connect to it</td></tr>\n".to_owned();
    }
    report
        .consumers
        .iter()
        .map(|c| {
            let last = c.last_fetch.as_ref().map_or("never".to_owned(), |f| {
                format!("{} {} ({})", escape(&f.at), escape(&f.profile), f.outcome)
            });
            format!(
                "<tr><td>{}</td><td>{}</td><td>{last}</td></tr>\n",
                escape(&c.name),
                escape(&c.profiles.join(", "))
            )
        })
        .collect()
}

fn audit_rows(report: &StatusReport) -> String {
    if report.audit_tail.is_empty() {
        return "<tr><td colspan=\"6\">no records (serve --audit-log FILE keeps them)</td></tr>\n"
            .to_owned();
    }
    let field = |record: &serde_json::Value, name: &str| {
        or_dash(record.get(name).and_then(serde_json::Value::as_str))
    };
    report
        .audit_tail
        .iter()
        .rev()
        .map(|r| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                field(r, "time"),
                field(r, "event"),
                field(r, "channel"),
                field(r, "consumer"),
                field(r, "profile"),
                field(r, "reason"),
            )
        })
        .collect()
}

/// The page.
pub fn render(report: &StatusReport) -> String {
    let profiles: String = report.profiles.iter().map(profile_row).collect();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
<title>tessera serve: status</title><style>{STYLE}</style></head><body>\n\
<h1>tessera serve</h1><p class=\"small\">as of {}</p>\n\
<h2>Profiles</h2><table><tr><th>profile</th><th>health</th><th>role</th><th>last refresh</th><th>next refresh</th><th>credentials expire</th><th>certificate NotAfter</th></tr>\n{profiles}</table>\n\
<h2>Recent refreshes</h2><table><tr><th>profile</th><th>ended</th><th>outcome</th><th>detail</th></tr>\n{}</table>\n\
<h2>Consumers</h2><table><tr><th>consumer</th><th>profiles</th><th>last fetch</th></tr>\n{}</table>\n\
<h2>Audit log</h2><table><tr><th>time</th><th>event</th><th>channel</th><th>consumer</th><th>profile</th><th>reason</th></tr>\n{}</table>\n\
</body></html>\n",
        escape(&report.now),
        history_rows(report),
        consumer_rows(report),
        audit_rows(report),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_read_naturally() {
        assert_eq!(countdown(-5), "expired");
        assert_eq!(countdown(42), "in 42 s");
        assert_eq!(countdown(2530), "in 42 min 10 s");
        assert_eq!(countdown(3720), "in 1 h 2 min");
        assert_eq!(countdown(3 * 86_400 - 1), "in 2 d 23 h");
    }

    #[test]
    fn values_are_escaped_and_the_policy_names_the_stylesheet() {
        let report = StatusReport {
            now: "<script>".into(),
            profiles: Vec::new(),
            consumers: Vec::new(),
            audit_tail: vec![serde_json::json!({"time": "t", "reason": "<img src=x>"})],
        };
        let page = render(&report);
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"));
        assert!(!page.contains("<img") && page.contains("&lt;img src=x&gt;"));
        let policy = content_security_policy();
        assert!(
            policy.starts_with("default-src 'none'; style-src 'sha256-"),
            "{policy}"
        );
    }
}
