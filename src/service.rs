//! One way to run a long-lived command (serve, proxy, anchor, quickstart, exec --ecs): a stop
//! switch shared by its listeners and refresh tasks, listeners that drain within one deadline,
//! the termination signals, and an orderly stop that waits for every listener.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http::Response;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::server::{self, Incoming, ListenOptions, Reply};

/// A running service's listeners and its stop switch.
#[derive(Debug)]
pub struct Service {
    stop: watch::Sender<bool>,
    options: ListenOptions,
    listeners: Vec<JoinHandle<()>>,
}

impl Service {
    /// A service whose listeners let requests in flight finish within `drain_timeout` at stop.
    pub fn new(drain_timeout: Duration) -> Self {
        Self {
            stop: watch::channel(false).0,
            options: ListenOptions {
                tls: None,
                drain_timeout,
            },
            listeners: Vec::new(),
        }
    }

    /// Turns true at stop: refresh tasks and other loops watch it.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// A future that completes at stop.
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopping = self.stopping();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    }

    /// Serves a handler of whole requests on `listener` until stop.
    pub fn serve<L, H, F>(&mut self, listener: L, handler: H)
    where
        L: server::Listener,
        H: Fn(Incoming) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Reply> + Send + 'static,
    {
        self.serve_tls(listener, None, handler);
    }

    /// As [`Service::serve`], over TLS when `tls` is given.
    pub fn serve_tls<L, H, F>(&mut self, listener: L, tls: Option<TlsAcceptor>, handler: H)
    where
        L: server::Listener,
        H: Fn(Incoming) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Reply> + Send + 'static,
    {
        let options = ListenOptions {
            tls,
            ..self.options.clone()
        };
        let task = server::serve(listener, options, handler, self.stopped());
        self.listeners.push(tokio::spawn(task));
    }

    /// Serves streaming handlers (the proxy's), one made by `connection` for each accepted
    /// connection, on `listener` until stop.
    pub fn serve_streaming<C, H, F, B>(&mut self, listener: TcpListener, connection: C)
    where
        C: Fn(server::Peer) -> H + Send + 'static,
        H: Fn(http::Request<hyper::body::Incoming>) -> F + Send + 'static,
        F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let task =
            server::serve_streaming(listener, self.options.clone(), connection, self.stopped());
        self.listeners.push(tokio::spawn(task));
    }

    /// Stops: the listeners close and drain, the watchers of [`Service::stopping`] stop; returns
    /// when every listener has finished.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for listener in self.listeners {
            let _ = listener.await;
        }
    }
}

/// Completes on SIGTERM or SIGINT. The handlers are registered when this is called, not at the
/// first poll, so a signal that arrives before the caller awaits (during a reload, say) is not
/// lost; create it once and keep it across loop turns.
pub fn termination() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = signal(SignalKind::terminate()).ok();
    let interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(terminate) => {},
            () = wait(interrupt) => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_closes_the_listeners_and_tells_the_watchers() {
        let mut service = Service::new(Duration::from_secs(1));
        let listener = server::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), 1).unwrap();
        let address = listener.local_addr().unwrap();
        service.serve(listener, |_incoming| async {
            Reply::new(200, "text/plain", "ok\n")
        });
        let mut watcher = service.stopping();
        assert!(tokio::net::TcpStream::connect(address).await.is_ok());
        service.stop().await;
        assert!(*watcher.borrow_and_update());
        assert!(tokio::net::TcpStream::connect(address).await.is_err());
    }
}
