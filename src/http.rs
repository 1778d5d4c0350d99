//! The one outbound HTTP stack: hyper 1 + hyper-util's pooled client + rustls (ring), with
//! system roots or a CA bundle, an opt-in "no verification" mode, HTTPS_PROXY/NO_PROXY
//! tunnelling and a connect timeout.

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;

/// How long a TCP connect may take unless told otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a pooled connection may stay unused before it is closed (hyper's default is 90 s).
/// Refreshes minutes apart then each open a new connection, with a new DNS lookup, so an
/// address that moved or a network path that died (a laptop that changed networks) costs no
/// failed request; calls close together still share one.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Error type of the connector chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The shared HTTPS client type.
pub type HttpsClient = Client<HttpsConnector<ProxyConnector>, Full<Bytes>>;

/// How to build the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// PEM bundle that replaces the system roots (`--ca-bundle`, `AWS_CA_BUNDLE`).
    pub ca_bundle: Option<PathBuf>,
    /// Skip server certificate verification (`--no-verify-ssl`). Dangerous.
    pub insecure_skip_verify: bool,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Whether TLS will be used at all (an `http://` endpoint needs no roots).
    pub needs_tls: bool,
    /// The configuration's proxy settings (a reload that changes them builds a new client).
    pub proxy: ProxySettings,
}

/// The proxy settings of a configuration file; each one set overrides its environment
/// variables, and one left out falls back to them.
#[derive(Clone, Default, PartialEq)]
pub struct ProxySettings {
    /// `https-proxy`: the proxy for HTTPS requests, `""` for none (over `HTTPS_PROXY` and
    /// `ALL_PROXY`).
    pub https_proxy: Option<String>,
    /// `no-proxy`: hosts reached directly (over `NO_PROXY`).
    pub no_proxy: Option<String>,
}

impl std::fmt::Debug for ProxySettings {
    // A proxy URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("https_proxy", &self.https_proxy.as_ref().map(|_| "<set>"))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxySettings {
    /// Checks that `https-proxy`, when set to anything but `""`, is an `http://HOST[:PORT]` URL.
    /// The message does not repeat the value: it may hold a password.
    pub fn check(&self) -> Result<(), &'static str> {
        match self.https_proxy.as_deref() {
            None | Some("") => Ok(()),
            Some(url) => match url.parse::<Uri>() {
                Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => Ok(()),
                _ => Err("https-proxy is not an http:// proxy URL: write it as http://HOST:PORT, or \"\" for no proxy"),
            },
        }
    }

    /// The matcher these settings and the environment make.
    fn matcher(&self) -> Matcher {
        if *self == ProxySettings::default() {
            return Matcher::from_env();
        }
        let env = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
                .unwrap_or_default()
        };
        let https = self
            .https_proxy
            .clone()
            .unwrap_or_else(|| env(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]));
        let no = self
            .no_proxy
            .clone()
            .unwrap_or_else(|| env(&["NO_PROXY", "no_proxy"]));
        Matcher::builder().https(https).no(no).build()
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpSetupError {
    /// The CA bundle could not be read.
    #[error("cannot read CA bundle {}", path.display())]
    CaBundleRead {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA bundle holds no usable certificate.
    #[error("CA bundle {} contains no PEM certificates; pass a PEM file to --ca-bundle", path.display())]
    CaBundleEmpty {
        /// The path.
        path: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("TLS setup failed")]
    Tls(#[source] rustls::Error),
    /// No roots anywhere.
    #[error("no trusted root certificates found on this system; install ca-certificates or pass --ca-bundle")]
    NoRoots,
}

/// Builds the HTTPS client (buffered request bodies).
pub fn build_client(options: &ClientOptions) -> Result<HttpsClient, HttpSetupError> {
    build_client_for(options)
}

/// The clients built for one batch of profiles (one start or reload of `serve`): profiles with
/// the same options share one client, its roots and its connection pool, instead of each
/// parsing the system's roots again. A new batch builds anew, so a CA bundle that changed on
/// disk is read again.
#[derive(Debug, Default)]
pub struct ClientBatch {
    built: Vec<(ClientOptions, HttpsClient)>,
}

impl ClientBatch {
    /// The client for `options`: one built earlier in this batch, or a new one.
    pub fn client(&mut self, options: &ClientOptions) -> Result<HttpsClient, HttpSetupError> {
        if let Some((_, client)) = self.built.iter().find(|(o, _)| o == options) {
            return Ok(client.clone());
        }
        let client = build_client(options)?;
        self.built.push((options.clone(), client.clone()));
        Ok(client)
    }
}

/// Builds an HTTPS client for any request body type (the proxy streams bodies).
pub fn build_client_for<B>(
    options: &ClientOptions,
) -> Result<Client<HttpsConnector<ProxyConnector>, B>, HttpSetupError>
where
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    build_client_over(options, plain_connector(options))
}

/// The TCP side of every client: a connect timeout, no Nagle delay, and HTTPS destinations
/// through the configured proxy.
pub fn plain_connector(options: &ClientOptions) -> ProxyConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(options.connect_timeout));
    http.set_nodelay(true);
    ProxyConnector {
        direct: http,
        proxies: Arc::new(options.proxy.matcher()),
    }
}

/// Builds a client over `connector` (from [`plain_connector`]) with TLS by `options`.
pub fn build_client_over<B>(
    options: &ClientOptions,
    connector: ProxyConnector,
) -> Result<Client<HttpsConnector<ProxyConnector>, B>, HttpSetupError>
where
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(HttpSetupError::Tls)?;
    let tls = if options.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(danger::NoServerVerification(provider)))
            .with_no_client_auth()
    } else {
        let roots = if options.needs_tls {
            root_store(options.ca_bundle.as_deref())?
        } else {
            rustls::RootCertStore::empty()
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(connector);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(https))
}

fn root_store(bundle: Option<&Path>) -> Result<rustls::RootCertStore, HttpSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    match bundle {
        Some(path) => {
            let pem = fs::read(path).map_err(|source| HttpSetupError::CaBundleRead {
                path: path.to_owned(),
                source,
            })?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .collect();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(HttpSetupError::CaBundleEmpty {
                    path: path.to_owned(),
                });
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(HttpSetupError::NoRoots);
            }
        }
    }
    Ok(roots)
}

/// Connects directly, or through an HTTP CONNECT tunnel when `HTTPS_PROXY` applies to the
/// destination (and `NO_PROXY` does not exclude it). Plain-http destinations connect directly.
#[derive(Clone, Debug)]
pub struct ProxyConnector {
    direct: HttpConnector,
    proxies: Arc<Matcher>,
}

impl tower_service::Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let intercept = (destination.scheme_str() == Some("https"))
            .then(|| self.proxies.intercept(&destination))
            .flatten();
        match intercept {
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.direct.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Box::pin(async move { tunnel.call(destination).await.map_err(Into::into) })
            }
            None => {
                let connecting = self.direct.call(destination);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
        }
    }
}

/// Certificate verification that accepts any server certificate (still checking handshake
/// signatures). Only reachable through `--no-verify-ssl`.
mod danger {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, Error, SignatureScheme};

    #[derive(Debug)]
    pub(super) struct NoServerVerification(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for NoServerVerification {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(https_proxy: Option<&str>, no_proxy: Option<&str>) -> ProxySettings {
        ProxySettings {
            https_proxy: https_proxy.map(str::to_owned),
            no_proxy: no_proxy.map(str::to_owned),
        }
    }

    #[test]
    fn a_configured_proxy_is_checked_and_used_unless_no_proxy_names_the_host() {
        for good in [None, Some(""), Some("http://proxy.example:3128")] {
            assert!(settings(good, None).check().is_ok(), "{good:?}");
        }
        for bad in ["socks5://user:secret@proxy", "proxy:3128", "http://"] {
            let error = settings(Some(bad), None).check().unwrap_err();
            assert!(!error.contains("secret"), "{error}");
        }
        let destination: Uri = "https://rolesanywhere.example/sessions".parse().unwrap();
        let through = settings(Some("http://proxy.example:3128"), None).matcher();
        let intercept = through.intercept(&destination).unwrap();
        assert_eq!(intercept.uri().host(), Some("proxy.example"));
        let excluded = settings(
            Some("http://proxy.example:3128"),
            Some("rolesanywhere.example"),
        );
        assert!(excluded.matcher().intercept(&destination).is_none());
        assert!(settings(Some(""), Some(""))
            .matcher()
            .intercept(&destination)
            .is_none());
        assert!(format!("{:?}", settings(Some("http://u:pw@p:1"), None)).contains("<set>"));
    }
}
