//! Listening sockets: binding with the hop limit set, and TLS acceptors.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::MAX_CONNECTIONS;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot use TLS certificate {cert} / key {key}: {reason}")]
pub struct TlsSetupError {
    cert: String,
    key: String,
    reason: String,
}

/// A TLS acceptor for a PEM certificate (plus an optional PEM chain file) and key.
pub fn tls_acceptor(
    cert: &Path,
    chain: Option<&Path>,
    key: &Path,
) -> Result<TlsAcceptor, TlsSetupError> {
    let fail = |reason: String| TlsSetupError {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        reason,
    };
    let mut certs = Vec::new();
    for path in std::iter::once(cert).chain(chain) {
        let found = CertificateDer::pem_file_iter(path)
            .map_err(|e| fail(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(e.to_string()))?;
        certs.extend(found);
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| fail(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| fail(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Why a listener could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The socket could not be created, bound or put to listening.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The hop limit could not be set: answers could leave the host, so this is fatal.
    #[error("cannot set hop limit {hop_limit} on {addr}")]
    HopLimit {
        /// The address.
        addr: SocketAddr,
        /// The hop limit asked for.
        hop_limit: u8,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Opens a listener on `addr` whose replies carry `hop_limit`. It is set on the listening
/// socket before it listens, so every packet of every connection (the SYN-ACK included) carries
/// it: `IP_TTL`, and for IPv6 also `IPV6_UNICAST_HOPS` (a dual-stack socket answers in both).
pub fn bind(addr: SocketAddr, hop_limit: u8) -> Result<TcpListener, BindError> {
    let listen_error = |source| BindError::Listen { addr, source };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(listen_error)?;
    socket.set_reuseaddr(true).map_err(listen_error)?;
    let hop_error = |source: rustix::io::Errno| BindError::HopLimit {
        addr,
        hop_limit,
        source: source.into(),
    };
    if addr.is_ipv6() {
        rustix::net::sockopt::set_ipv6_unicast_hops(&socket, Some(hop_limit)).map_err(hop_error)?;
    }
    // On an IPv6 socket this covers IPv4-mapped peers (Linux).
    rustix::net::sockopt::set_ip_ttl(&socket, u32::from(hop_limit)).map_err(hop_error)?;
    socket.bind(addr).map_err(listen_error)?;
    socket
        .listen(u32::try_from(MAX_CONNECTIONS).unwrap_or(1024))
        .map_err(listen_error)
}
