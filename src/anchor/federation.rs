//! The AWS federation sign-in endpoint, emulated at `/federation` so `tessera console` can be
//! tested offline: `Action=getSigninToken` checks the session credentials against the
//! anchor's own STS and hands out a SigninToken (single use, 15 minutes); `Action=login`
//! spends it, sets a session cookie and redirects to a small console page that shows the
//! assumed-role ARN, the source identity, the session's expiry and a sign-out link.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::sts::{IssuedSession, SessionStore};
use crate::oidc::loopback::url_decoded_pairs;
use crate::secret::random_token;
use crate::server::{Incoming, Reply};

/// How long a SigninToken may wait to be used (AWS: 15 minutes).
pub const SIGNIN_TOKEN_SECONDS: i64 = 15 * 60;
/// The console session cookie.
const COOKIE: &str = "tessera_console";
/// Most tokens and console sessions kept at once.
const MAX_ENTRIES: usize = 4096;

/// The session JSON `getSigninToken` takes.
#[derive(Deserialize)]
struct SessionJson {
    #[serde(rename = "sessionId")]
    session_id: String,
    #[serde(rename = "sessionKey")]
    session_key: crate::secret::SecretString,
    #[serde(rename = "sessionToken")]
    session_token: crate::secret::SecretString,
}

#[derive(Debug, Clone)]
struct Pending {
    session: IssuedSession,
    issued: OffsetDateTime,
}

/// Outstanding SigninTokens and signed-in console sessions.
#[derive(Debug, Default)]
pub struct Federation {
    tokens: Mutex<HashMap<String, Pending>>,
    consoles: Mutex<HashMap<String, (IssuedSession, String)>>,
}

fn page(status: u16, title: &str, body: &str) -> Reply {
    Reply::new(
        status,
        "text/html; charset=utf-8",
        format!("<!doctype html><title>{title}</title><h1>{title}</h1>\n{body}\n"),
    )
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Federation {
    /// Answers a `/federation` request.
    pub fn handle(
        &self,
        sessions: &SessionStore,
        request: &Incoming,
        now: OffsetDateTime,
    ) -> Reply {
        let params = url_decoded_pairs(&request.query);
        let param = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        match (request.path.as_str(), param("Action")) {
            ("/federation", Some("getSigninToken")) => {
                self.signin_token(sessions, param("Session"), param("SessionDuration"), now)
            }
            ("/federation", Some("login")) => self.login(
                param("SigninToken"),
                param("Destination").unwrap_or(""),
                now,
            ),
            ("/federation/console", _) => self.console(request, now),
            ("/federation/logout", _) => self.logout(request),
            _ => Reply::json_error(
                400,
                "the federation endpoint takes Action=getSigninToken or Action=login",
            ),
        }
    }

    fn signin_token(
        &self,
        sessions: &SessionStore,
        session: Option<&str>,
        duration: Option<&str>,
        now: OffsetDateTime,
    ) -> Reply {
        let Some(json) = session.and_then(|s| serde_json::from_str::<SessionJson>(s).ok()) else {
            return Reply::json_error(
                400,
                "Session must be the JSON {\"sessionId\",\"sessionKey\",\"sessionToken\"}",
            );
        };
        if let Some(duration) = duration {
            let valid = duration
                .parse::<u32>()
                .is_ok_and(|d| (900..=43_200).contains(&d));
            if !valid {
                return Reply::json_error(400, "SessionDuration must be 900–43200 seconds");
            }
        }
        let session = match sessions.session_with_secret(
            &json.session_id,
            json.session_key.expose_secret(),
            json.session_token.expose_secret(),
            now,
        ) {
            Ok(session) => session,
            Err(error) => return Reply::json_error(400, &error.message),
        };
        if duration.is_some() && session.chained {
            // As AWS: role-chained credentials cannot ask for a console session length.
            return Reply::json_error(
                400,
                "SessionDuration cannot be used with credentials from role chaining",
            );
        }
        let Ok(token) = random_token() else {
            return Reply::json_error(500, "the anchor could not make a sign-in token");
        };
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, p| now - p.issued < Duration::seconds(SIGNIN_TOKEN_SECONDS));
        if tokens.len() >= MAX_ENTRIES {
            return Reply::json_error(503, "too many outstanding sign-in tokens");
        }
        tokens.insert(
            token.expose_secret().to_owned(),
            Pending {
                session,
                issued: now,
            },
        );
        let body = zeroize::Zeroizing::new(
            serde_json::json!({"SigninToken": token.expose_secret()}).to_string(),
        );
        Reply::secret(200, "application/json", body)
    }

    fn login(&self, token: Option<&str>, destination: &str, now: OffsetDateTime) -> Reply {
        let pending = token.and_then(|t| {
            self.tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(t)
        });
        let Some(pending) = pending else {
            return page(
                400,
                "Sign-in failed",
                "<p>This sign-in token is not valid or has already been used.</p>",
            );
        };
        if now - pending.issued >= Duration::seconds(SIGNIN_TOKEN_SECONDS) {
            return page(
                400,
                "Sign-in failed",
                "<p>This sign-in token has expired (15 minutes).</p>",
            );
        }
        if pending.session.credentials.expiration() <= now {
            return page(
                400,
                "Sign-in failed",
                "<p>The session behind this sign-in token has expired.</p>",
            );
        }
        let Ok(id) = random_token() else {
            return page(
                500,
                "Sign-in failed",
                "<p>The anchor could not start a console session.</p>",
            );
        };
        let mut consoles = self.consoles.lock().unwrap_or_else(|e| e.into_inner());
        consoles.retain(|_, (s, _)| s.credentials.expiration() > now);
        if consoles.len() >= MAX_ENTRIES {
            return page(503, "Sign-in failed", "<p>Too many console sessions.</p>");
        }
        consoles.insert(
            id.expose_secret().to_owned(),
            (pending.session, destination.to_owned()),
        );
        Reply {
            status: 302,
            content_type: "text/plain; charset=utf-8",
            headers: vec![
                ("location", "/federation/console".to_owned()),
                (
                    "set-cookie",
                    format!(
                        "{COOKIE}={}; Path=/federation; HttpOnly; SameSite=Lax",
                        id.expose_secret()
                    ),
                ),
            ],
            body: "signed in\n".to_owned().into(),
        }
    }

    fn cookie(request: &Incoming) -> Option<String> {
        request.header("cookie")?.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_owned())
        })
    }

    fn console(&self, request: &Incoming, now: OffsetDateTime) -> Reply {
        let consoles = self.consoles.lock().unwrap_or_else(|e| e.into_inner());
        let Some((session, destination)) =
            Self::cookie(request).and_then(|id| consoles.get(&id).cloned())
        else {
            return page(
                401,
                "Not signed in",
                "<p>Sign in with <code>tessera console</code>.</p>",
            );
        };
        if session.credentials.expiration() <= now {
            return page(
                401,
                "Session expired",
                "<p>Sign in again with <code>tessera console</code>.</p>",
            );
        }
        page(
            200,
            "tessera local console",
            &format!(
                "<dl><dt>Role</dt><dd id=\"arn\">{}</dd><dt>Source identity</dt><dd id=\"source-identity\">{}</dd>\
                 <dt>Session expires</dt><dd id=\"expires\">{}</dd><dt>Destination</dt><dd id=\"destination\">{}</dd></dl>\
                 <p><a id=\"sign-out\" href=\"/federation/logout\">Sign out</a></p>",
                html(&session.assumed_role_arn),
                html(&session.source_identity),
                crate::time_format::rfc3339(session.credentials.expiration()),
                html(&destination),
            ),
        )
    }

    fn logout(&self, request: &Incoming) -> Reply {
        if let Some(id) = Self::cookie(request) {
            self.consoles
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
        let mut reply = page(
            200,
            "Signed out",
            "<p>You have signed out of the local console.</p>",
        );
        reply.headers.push((
            "set-cookie",
            format!("{COOKIE}=; Path=/federation; Max-Age=0"),
        ));
        reply
    }
}
