//! Where the proxy's signed requests are sent. A plain-HTTP upstream (`--upstream http://…`, a
//! local S3-compatible store) gets one HTTP/1.1 connection per client connection, which that
//! client's requests use in turn: no pool lock and no task per request. Requests to HTTPS
//! upstreams, and a request that finds its client connection's upstream busy (an HTTP/2 client
//! with several streams at once), go through the shared pool, which keeps TLS sessions and
//! multiplexes HTTP/2.

use std::sync::Mutex;

use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use tower_service::Service;

use super::{ProxyBody, ProxyClient};
use crate::http::{
    build_client_over, plain_connector, BoxError, ClientOptions, HttpSetupError, ProxyConnector,
};

/// The shared pool and the connector that dials a client connection's own upstream.
#[derive(Debug)]
pub struct Upstreams {
    pool: ProxyClient,
    dial: ProxyConnector,
}

/// A client connection's own upstream connection, if it has one.
#[derive(Debug, Default)]
pub struct OwnUpstream(Mutex<Slot>);

#[derive(Debug, Default)]
enum Slot {
    /// No connection yet, or the last one failed.
    #[default]
    Empty,
    /// A request of this client connection is using it.
    Busy,
    /// Open and unused.
    Idle(http1::SendRequest<ProxyBody>),
}

/// Why an upstream gave no response.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// From the shared pool.
    #[error("{0}")]
    Pool(#[from] hyper_util::client::legacy::Error),
    /// A client connection's own upstream could not be opened.
    #[error("cannot connect: {0}")]
    Connect(BoxError),
    /// A client connection's own upstream failed the request.
    #[error("{0}")]
    Send(#[from] hyper::Error),
}

impl OwnUpstream {
    /// The slot as it was; it is now `Busy` (and stays so if it already was).
    fn take(&self) -> Slot {
        match self.0.lock() {
            Ok(mut slot) => std::mem::replace(&mut *slot, Slot::Busy),
            Err(_) => Slot::Busy,
        }
    }

    /// Keeps `sender` for the next request, or frees the slot.
    fn put(&self, sender: Option<http1::SendRequest<ProxyBody>>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = sender.map_or(Slot::Empty, Slot::Idle);
        }
    }
}

impl Upstreams {
    /// The pool and the connector for `options` (TLS roots, proxy, connect timeout).
    pub fn build(options: &ClientOptions) -> Result<Self, HttpSetupError> {
        let dial = plain_connector(options);
        let pool = build_client_over(options, dial.clone())?;
        Ok(Self { pool, dial })
    }

    /// Sends `request` (its URI absolute), on `own` when the upstream is plain HTTP and `own`
    /// is free, else through the pool.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
        own: &OwnUpstream,
    ) -> Result<Response<Incoming>, UpstreamError> {
        if request.uri().scheme() != Some(&Scheme::HTTP) {
            return Ok(self.pool.request(request).await?);
        }
        let kept = match own.take() {
            Slot::Busy => return Ok(self.pool.request(request).await?),
            Slot::Idle(sender) => Some(sender),
            Slot::Empty => None,
        };
        match self.send_own(request, kept).await {
            Ok((response, sender)) => {
                own.put(Some(sender));
                Ok(response)
            }
            Err(error) => {
                own.put(None);
                Err(error)
            }
        }
    }

    /// Sends on the kept connection if it is open and idle, else (or when it closed before
    /// taking the request) on a new one. A kept connection still busy with the last request's
    /// body (an upstream that answered before reading it all) is left to finish alone.
    async fn send_own(
        &self,
        mut request: Request<ProxyBody>,
        kept: Option<http1::SendRequest<ProxyBody>>,
    ) -> Result<(Response<Incoming>, http1::SendRequest<ProxyBody>), UpstreamError> {
        let origin = origin_form(request.uri());
        let target = std::mem::replace(request.uri_mut(), origin);
        if let Some(mut sender) = kept {
            if !sender.is_ready() {
                // The connection's task may not have seen the last response end yet.
                tokio::task::yield_now().await;
            }
            if sender.is_ready() {
                match sender.try_send_request(request).await {
                    Ok(response) => return Ok((response, sender)),
                    // The upstream closed an idle connection as the request went out.
                    Err(mut unsent) => match unsent.take_message() {
                        Some(returned) => request = returned,
                        None => return Err(unsent.into_error().into()),
                    },
                }
            }
        }
        // Boxed: dialling is rare (once per client connection); unboxed, its state would be
        // part of every request's future, which is moved and initialised on every request.
        let mut sender = Box::pin(self.dial(target)).await?;
        let response = sender.send_request(request).await?;
        Ok((response, sender))
    }

    /// Opens an HTTP/1.1 connection to `target`'s authority.
    async fn dial(&self, target: Uri) -> Result<http1::SendRequest<ProxyBody>, UpstreamError> {
        let stream = self
            .dial
            .clone()
            .call(target)
            .await
            .map_err(UpstreamError::Connect)?;
        let (sender, connection) = http1::handshake(stream).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("upstream connection ended: {error}");
            }
        });
        Ok(sender)
    }
}

/// The request target an HTTP/1.1 origin server expects: the path and query only.
fn origin_form(uri: &Uri) -> Uri {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::from(path)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use http_body_util::{BodyExt, Empty};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// How a test upstream ends each response.
    #[derive(Clone, Copy)]
    enum Ending {
        KeepAlive,
        ConnectionClose,
        SilentClose,
    }

    /// An upstream answering `ok` to each request; returns its address and how many
    /// connections it accepted.
    async fn upstream(ending: Ending) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let address = listener.local_addr().expect("an address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    while let Ok(n) = stream.read(&mut buffer).await {
                        if n == 0 {
                            return;
                        }
                        let close = match ending {
                            Ending::ConnectionClose => "Connection: close\r\n",
                            _ => "",
                        };
                        let reply =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{close}\r\nok");
                        if stream.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                        if !matches!(ending, Ending::KeepAlive) {
                            return;
                        }
                    }
                });
            }
        });
        (address, accepted)
    }

    fn upstreams() -> Upstreams {
        Upstreams::build(&ClientOptions {
            ca_bundle: None,
            insecure_skip_verify: false,
            connect_timeout: Duration::from_secs(2),
            needs_tls: false,
            proxy: Default::default(),
        })
        .expect("builds")
    }

    async fn get(
        upstreams: &Upstreams,
        own: &OwnUpstream,
        address: std::net::SocketAddr,
    ) -> String {
        let mut request = Request::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
        *request.uri_mut() = format!("http://{address}/object").parse().expect("a URI");
        request.headers_mut().insert(
            http::header::HOST,
            address.to_string().parse().expect("a host"),
        );
        let response = upstreams.send(request, own).await.expect("answered");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test]
    async fn a_client_connections_requests_share_one_upstream_connection() {
        let (address, accepted) = upstream(Ending::KeepAlive).await;
        let (upstreams, own) = (upstreams(), OwnUpstream::default());
        for _ in 0..5 {
            assert_eq!(get(&upstreams, &own, address).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        let other = OwnUpstream::default();
        assert_eq!(get(&upstreams, &other, address).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_upstream_that_closes_gets_a_new_connection_and_no_request_fails() {
        for ending in [Ending::ConnectionClose, Ending::SilentClose] {
            let (address, accepted) = upstream(ending).await;
            let (upstreams, own) = (upstreams(), OwnUpstream::default());
            for _ in 0..5 {
                assert_eq!(get(&upstreams, &own, address).await, "ok");
                // Give the closed connection's task time to notice, as between real requests.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 5);
        }
    }

    #[tokio::test]
    async fn a_busy_client_connection_sends_through_the_pool() {
        let (address, accepted) = upstream(Ending::KeepAlive).await;
        let (upstreams, own) = (upstreams(), OwnUpstream::default());
        assert_eq!(get(&upstreams, &own, address).await, "ok");
        let Slot::Idle(kept) = own.take() else {
            panic!("the connection is kept");
        };
        // `own` is busy now: the request goes through the pool, on a connection of its own.
        assert_eq!(get(&upstreams, &own, address).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        own.put(Some(kept));
        assert_eq!(get(&upstreams, &own, address).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}
