//! The one-shot loopback redirect listener of the authorization-code flow (RFC 8252 §7.3):
//! `http://127.0.0.1:PORT/callback` on an ephemeral port unless one is configured. It takes
//! the first redirect that carries a `code` or an `error`, answers the browser with a short
//! page, and stops.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::server::{Incoming, Reply};
use crate::service::Service;

/// The redirect path.
pub const CALLBACK_PATH: &str = "/callback";

/// What the identity provider sent back.
#[derive(Debug)]
pub struct Redirect {
    /// The query's parameters, decoded.
    pub params: Vec<(String, String)>,
}

impl Redirect {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no redirect arrived.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoopbackError {
    /// The port is in use (or not allowed).
    #[error("cannot listen on 127.0.0.1:{port} for the sign-in redirect ({source}); free the port or set a different login_redirect_port")]
    Bind {
        /// The port.
        port: u16,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The browser did not come back in time.
    #[error("the browser did not return to tessera within {} s; run 'tessera login' again (use --device on a machine without a browser)", .0.as_secs())]
    Timeout(Duration),
}

/// A bound listener waiting for one redirect.
#[derive(Debug)]
pub struct RedirectListener {
    listener: TcpListener,
    port: u16,
}

impl RedirectListener {
    /// Binds 127.0.0.1:`port` (0 for an ephemeral port).
    pub async fn bind(port: u16) -> Result<Self, LoopbackError> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await
            .map_err(|source| LoopbackError::Bind { port, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| LoopbackError::Bind { port, source })?
            .port();
        Ok(Self { listener, port })
    }

    /// The redirect URI to register with the sign-in request.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Waits up to `timeout` for the redirect.
    pub async fn wait(self, timeout: Duration) -> Result<Redirect, LoopbackError> {
        let (sender, receiver) = oneshot::channel();
        let sender = Arc::new(Mutex::new(Some(sender)));
        let mut service = Service::new(Duration::from_secs(2));
        service.serve(self.listener, move |incoming| {
            let sender = sender.clone();
            async move { answer(&incoming, &sender) }
        });
        let outcome = tokio::time::timeout(timeout, receiver).await;
        service.stop().await;
        match outcome {
            Ok(Ok(redirect)) => Ok(redirect),
            _ => Err(LoopbackError::Timeout(timeout)),
        }
    }
}

type Slot = Arc<Mutex<Option<oneshot::Sender<Redirect>>>>;

fn answer(incoming: &Incoming, slot: &Slot) -> Reply {
    if incoming.method != http::Method::GET || incoming.path != CALLBACK_PATH {
        return Reply::new(404, "text/plain; charset=utf-8", "not found\n");
    }
    let params: Vec<(String, String)> = url_decoded_pairs(&incoming.query);
    let has = |name: &str| params.iter().any(|(n, _)| n == name);
    if !has("code") && !has("error") {
        return Reply::new(
            400,
            "text/plain; charset=utf-8",
            "no code or error in the redirect\n",
        );
    }
    let failed = has("error");
    let Some(sender) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return Reply::new(
            409,
            "text/plain; charset=utf-8",
            "this sign-in is already finished\n",
        );
    };
    let _ = sender.send(Redirect { params });
    let words = if failed {
        "Sign-in did not complete. Return to the terminal for the reason."
    } else {
        "Signed in. You can close this tab and return to the terminal."
    };
    Reply::new(
        200,
        "text/html; charset=utf-8",
        format!("<!doctype html><title>tessera login</title><p>{words}</p>\n"),
    )
}

/// Decodes `a=b&c=d` (form encoding: `+` is a space).
pub fn url_decoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

fn form_decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}
