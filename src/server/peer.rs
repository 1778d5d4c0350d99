//! Where connections come from: a TCP listener or a Unix socket, and who the peer is (its
//! address, or the uid, gid and pid the kernel reports for a Unix socket, SO_PEERCRED).

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

/// The other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A TCP client.
    Tcp(SocketAddr),
    /// A process on a Unix socket, as the kernel reports it.
    Unix(UnixPeer),
}

/// A Unix-socket peer's credentials (SO_PEERCRED: taken when it connected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnixPeer {
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
    /// Process id, when the kernel gives one.
    pub pid: Option<i32>,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(address) => write!(f, "{address}"),
            Peer::Unix(peer) => match peer.pid {
                Some(pid) => write!(f, "uid {} pid {pid}", peer.uid),
                None => write!(f, "uid {}", peer.uid),
            },
        }
    }
}

/// A listening socket the server accepts connections from.
pub trait Listener: Send + 'static {
    /// A connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection and its peer.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Peer)>> + Send;
}

impl Listener for TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, Peer)> {
        let (stream, address) = TcpListener::accept(self).await?;
        // Responses go out in more than one write (head, body, TLS records); without this,
        // Nagle holds the last one back until the peer's delayed ACK, adding ~40 ms per exchange.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%address, "cannot set TCP_NODELAY: {error}");
        }
        Ok((stream, Peer::Tcp(address)))
    }
}

impl Listener for UnixListener {
    type Stream = tokio::net::UnixStream;

    async fn accept(&self) -> io::Result<(Self::Stream, Peer)> {
        let (stream, _) = UnixListener::accept(self).await?;
        let credentials = stream.peer_cred()?;
        Ok((
            stream,
            Peer::Unix(UnixPeer {
                uid: credentials.uid(),
                gid: credentials.gid(),
                pid: credentials.pid(),
            }),
        ))
    }
}
