//! Serving routers for real over TCP on `127.0.0.1:0` (as mini-redis' tests do), so
//! services under test can call each other, and ports that refuse connections.

use axum::Router;
use kubestore_common::ServiceContext;
use kubestore_common::server;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A listener on a free local port.
pub async fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Serves `router` on `listener` in the background until the test ends.
pub fn serve(listener: TcpListener, router: Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}

/// Serves `router` on a fresh port and returns its base URL.
pub async fn serve_fresh(router: Router) -> String {
    let listener = local_listener().await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    serve(listener, router);
    url
}

/// A port that refuses connections: bound, then closed.
pub async fn closed_port() -> SocketAddr {
    let listener = local_listener().await;
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// A router served with the service's own shutdown path ([`server::serve_until`]),
/// which a test can stop to see how callers cope with a service going away.
pub struct Stoppable {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Stoppable {
    /// Serves `app` on `listener` (no drain time) until [`Stoppable::stop`].
    pub fn start(listener: TcpListener, app: Router, ctx: ServiceContext) -> Self {
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = server::serve_until(listener, app, &ctx, Duration::ZERO, async {
                let _ = rx.await;
            })
            .await;
        });
        Self {
            addr,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// Its base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits until the port is closed.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }
}
