//! Setting up a local trust anchor from flags: the local CA (created when missing), the config
//! (a file, or a default generated from the CA), the listener and TLS. Shared by `anchor` and
//! `quickstart`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::anchor::config::{AnchorConfig, AnchorState};
use crate::anchor::enrol::Enrolment;
use crate::anchor::upstream::UpstreamSts;
use crate::anchor::Anchor;
use crate::clock::Clock;
use crate::pki::{InitOptions, IssueOptions, KeyType, LeafKey, LeafPurpose, LocalCa};
use crate::server::tls_acceptor;

/// Default listen address of the anchor.
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:8090";

/// The local CA, created with an intermediate if it does not exist yet.
pub(super) fn ensure_ca(dir: &Path, now: OffsetDateTime) -> anyhow::Result<LocalCa> {
    let ca = LocalCa::new(dir);
    if !ca.exists() {
        let options = InitOptions {
            common_name: "tessera local root".into(),
            intermediate: true,
            key_type: KeyType::P256,
            days: crate::pki::DEFAULT_CA_DAYS,
            force: false,
        };
        ca.init(&options, now)?;
        eprintln!("created a local CA in {}", dir.display());
    }
    Ok(ca)
}

/// The configuration: `config` (its path and parsed contents) if given, else the default for
/// the local CA.
pub(super) fn load_state(
    config: Option<(&Path, AnchorConfig)>,
    ca: &LocalCa,
) -> anyhow::Result<AnchorState> {
    Ok(match config {
        Some((path, config)) => {
            let base = path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_owned);
            config.load(&base)?
        }
        None => {
            let crl = ca.crl_path();
            AnchorConfig::for_local_ca(
                &ca.root_certificate(),
                crl.exists().then_some(crl.as_path()),
            )
            .load(Path::new("."))?
        }
    })
}

/// A TLS acceptor: the given certificate and key, or a server certificate for localhost and
/// 127.0.0.1 issued by the local CA (reissued when missing or within 7 days of expiry).
pub(super) fn tls(
    ca: &LocalCa,
    cert: Option<&Path>,
    key: Option<&Path>,
    now: OffsetDateTime,
) -> anyhow::Result<TlsAcceptor> {
    if let (Some(cert), Some(key)) = (cert, key) {
        return Ok(tls_acceptor(cert, None, key)?);
    }
    refuse_a_post_quantum_ca_for_tls(ca)?;
    let cert = ca.dir().join("anchor-server.pem");
    let key = ca.dir().join("anchor-server.key");
    let fresh = crate::identity::file::load_certificate(&crate::identity::key_ref::KeyRef::File(
        cert.clone(),
    ))
    .map(|c| c.not_after() - now > time::Duration::days(7))
    .unwrap_or(false);
    if !fresh {
        let options = IssueOptions {
            common_name: "localhost".into(),
            name: Some("anchor-server".into()),
            sans: vec![
                "dns:localhost".into(),
                "ip:127.0.0.1".into(),
                "ip:::1".into(),
            ],
            days: crate::pki::DEFAULT_LEAF_DAYS,
            key: LeafKey::Generate(KeyType::P256),
            purpose: LeafPurpose::Server,
            force: true,
        };
        ca.issue(&options, now)?;
    }
    let chain = ca.intermediate_certificate();
    Ok(tls_acceptor(
        &cert,
        chain.exists().then_some(chain.as_path()),
        &key,
    )?)
}

/// TLS clients (rustls on ring, OpenSSL 3.0) cannot verify an ML-DSA signature yet, so a server
/// certificate from an ML-DSA local CA would fail every handshake.
fn refuse_a_post_quantum_ca_for_tls(ca: &LocalCa) -> anyhow::Result<()> {
    let intermediate = ca.intermediate_certificate();
    let issuing = if intermediate.is_file() {
        intermediate
    } else {
        ca.root_certificate()
    };
    let Ok(issuer) =
        crate::identity::file::load_certificate(&crate::identity::key_ref::KeyRef::File(issuing))
    else {
        return Ok(());
    };
    anyhow::ensure!(
        !matches!(issuer.key_kind(), crate::identity::KeyKind::MlDsa(_)),
        "--tls: the local CA in {} is {}, whose signatures TLS clients cannot verify yet; pass --tls-cert and --tls-key from an RSA or ECDSA CA, or serve without --tls",
        ca.dir().display(),
        issuer.key_kind()
    );
    Ok(())
}

/// Binds the listener, refusing non-loopback addresses unless allowed.
pub(super) async fn bind(addr: SocketAddr, allow_remote: bool) -> anyhow::Result<TcpListener> {
    anyhow::ensure!(
        addr.ip().is_loopback() || allow_remote,
        "--listen {addr} is not a loopback address; the local anchor is for testing (pass --insecure-allow-remote to bind it anyway)"
    );
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (pass another --listen)"))
}

/// The anchor for a state, minting locally or through an upstream STS, with an enrolment CA
/// issuing from `ca` when the state configures one.
pub(super) fn anchor(
    state: AnchorState,
    upstream: Option<UpstreamSts>,
    clock: Arc<dyn Clock>,
    ca: &LocalCa,
) -> anyhow::Result<Arc<Anchor>> {
    let enrolment = match &state.enrolment {
        Some(config) => Some(Enrolment::build(config, ca.clone(), clock.clone())?),
        None => None,
    };
    let anchor = Anchor::new(state, upstream, clock);
    Ok(Arc::new(match enrolment {
        Some(enrolment) => anchor.with_enrolment(enrolment),
        None => anchor,
    }))
}
